/*
 * test_file_store.c - the file store (LMDB) on real directories: the shared store conformance
 * suite (sync=full and sync=group) and the manager lifecycle suite, then what only it has:
 * sessions survive reopening, max_sessions, the expiry sweep and its reports (each expired session
 * told once, after its commit), URL options, one handle per
 * directory per process, a full map and a full disk (a small tmpfs when mounting is allowed)
 * failing clearly without losing what was acknowledged, and corrupt, truncated, foreign and
 * newer-format files refused with a clear error.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "jwtsession/jwtsession.h"
#include "manager_suite.h"
#include "store/file.h" /* jwts_file_sweep: one bounded sweep, as the sweep thread runs it */
#include "store_conformance.h"

static char base_dir[256]; /* a fresh temp directory for this run */
static int dir_counter;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new directory path (not created) under base_dir. */
static void fresh_dir(char *out, size_t cap)
{
    snprintf(out, cap, "%s/s%d", base_dir, __atomic_fetch_add(&dir_counter, 1, __ATOMIC_SEQ_CST));
}

static jwts_err open_fresh(void *arg, jwts_store **out)
{
    char dir[300], url[400];
    fresh_dir(dir, sizeof dir);
    snprintf(url, sizeof url, "file://%s?sweep_interval_ms=50%s", dir, arg ? "&sync=group&sync_window_ms=20" : "");
    return jwts_store_open(url, NULL, out);
}

/* A clock the test moves by hand. */
static int64_t fake_now = 1700000000000;
static int64_t fake_clock(void *arg)
{
    return __atomic_load_n((int64_t *)arg, __ATOMIC_SEQ_CST);
}
static const jwts_clock FAKE = {fake_clock, &fake_now};

static jwts_session session_at(const char *user, char id[JWTS_SESSION_ID_LEN + 1], int64_t now, const char *meta)
{
    assert_int_equal(jwts_session_id_new(user, id), JWTS_OK);
    jwts_session s = {.user_id = user,
                      .session_id = id,
                      .created_at_ms = now,
                      .updated_at_ms = now,
                      .expires_at_ms = now + 3600000,
                      .last_seen_ms = now,
                      .metadata = meta};
    assert_int_equal(jwts_random_bytes(s.refresh.current_hash, JWTS_REFRESH_HASH_LEN), JWTS_OK);
    return s;
}

static void assert_has(jwts_store *st, const jwts_session *want)
{
    jwts_session *got = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){want->user_id, want->session_id}, &got), JWTS_OK);
    assert_true(jwts_session_equal(got, want));
    jwts_session_free(got);
}

static jwts_store *open_dir(const char *dir, const char *query)
{
    char url[600];
    snprintf(url, sizeof url, "file://%s%s", dir, query ? query : "");
    jwts_store *st = NULL;
    jwts_err rc = jwts_store_open(url, NULL, &st);
    if (rc) fprintf(stderr, "open %s: %s: %s\n", url, jwts_errname(rc), jwts_errdetail());
    assert_int_equal(rc, JWTS_OK);
    return st;
}

/* ---- persistence ------------------------------------------------------------------------ */

static void sessions_survive_reopening(void **state)
{
    char dir[300], ids[20][JWTS_SESSION_ID_LEN + 1];
    fresh_dir(dir, sizeof dir);
    jwts_session s[20];
    jwts_store *st = open_dir(dir, NULL);
    int64_t now = jwts_now_ms();
    for (int i = 0; i < 20; i++) {
        s[i] = session_at(i % 2 ? "reopen-a" : "reopen-b", ids[i], now + i, i % 3 ? "{\"device\":\"phone\"}" : NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s[i], 3600000), JWTS_OK);
    }
    assert_int_equal(jwts_store_delete(st, NULL, &(jwts_session_key){"reopen-a", ids[1]}), JWTS_OK);
    jwts_store_free(st);

    st = open_dir(dir, "?sync=group"); /* another mode on the same file */
    for (int i = 0; i < 20; i++) {
        if (i == 1) continue;
        assert_has(st, &s[i]);
    }
    jwts_session *gone = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"reopen-a", ids[1]}, &gone), JWTS_E_NOT_FOUND);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, "reopen-b", &list), JWTS_OK);
    assert_int_equal(list.count, 10);
    for (size_t i = 1; i < list.count; i++)
        assert_true(list.items[i - 1]->created_at_ms <= list.items[i]->created_at_ms);
    jwts_session_list_free(&list);
    size_t n = 0;
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, 19);
    assert_string_equal(jwts_store_name(st), "file");
    jwts_store_free(st);
}

static void max_sessions_gives_limit(void **state)
{
    char dir[300], ids[12][JWTS_SESSION_ID_LEN + 1];
    fresh_dir(dir, sizeof dir);
    jwts_file_options o = {.path = dir, .max_sessions = 10, .sweep_interval_ms = -1, .clock = &FAKE};
    jwts_store *st;
    assert_int_equal(jwts_store_file_new(&o, &st), JWTS_OK);
    jwts_session s[12];
    for (int i = 0; i < 10; i++) {
        s[i] = session_at("limit", ids[i], fake_now, NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s[i], 1000), JWTS_OK);
    }
    s[10] = session_at("limit", ids[10], fake_now, NULL);
    assert_int_equal(jwts_store_set(st, NULL, &s[10], 1000), JWTS_E_LIMIT);
    assert_non_null(strstr(jwts_errdetail(), "max_sessions"));
    /* a batch that would pass the limit fails whole */
    const jwts_session *batch[2] = {&s[3], &s[10]};
    assert_int_equal(jwts_store_set_many(st, NULL, batch, 2, 1000), JWTS_E_LIMIT);
    assert_int_equal(jwts_store_set(st, NULL, &s[3], 5000), JWTS_OK); /* an overwrite needs no room */
    size_t n = 0;
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, 10);
    __atomic_add_fetch(&fake_now, 2000, __ATOMIC_SEQ_CST); /* the others expire: their room is reused */
    assert_int_equal(jwts_store_set(st, NULL, &s[10], 1000), JWTS_OK);
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, 2);
    assert_has(st, &s[3]);
    jwts_store_free(st);
}

static void expiry_index_removes_only_the_expired(void **state)
{
    char dir[300], ids[30][JWTS_SESSION_ID_LEN + 1];
    fresh_dir(dir, sizeof dir);
    jwts_file_options o = {.path = dir, .sweep_interval_ms = -1, .clock = &FAKE};
    jwts_store *st;
    assert_int_equal(jwts_store_file_new(&o, &st), JWTS_OK);
    jwts_session s[30];
    for (int i = 0; i < 30; i++) {
        s[i] = session_at("sweep", ids[i], fake_now, NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s[i], i < 20 ? 1000 + i : 100000), JWTS_OK);
    }
    /* extending a TTL moves the session's index entry: touch one that would have expired */
    assert_int_equal(jwts_store_touch(st, NULL, &(jwts_session_key){"sweep", ids[0]}, fake_now, 0, 100000), JWTS_OK);
    __atomic_add_fetch(&fake_now, 5000, __ATOMIC_SEQ_CST);
    jwts_session *got = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"sweep", ids[5]}, &got), JWTS_E_NOT_FOUND);
    size_t n = 0, removed = 0;
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, 30); /* expired, unseen, not yet removed */
    /* one background sweep removes at most its batch, from the front of the expiry index */
    assert_int_equal(jwts_file_sweep((file_store *)st, 7, &removed), JWTS_OK);
    assert_int_equal(removed, 7);
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, 23);
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 12);
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, 11);
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 0);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, "sweep", &list), JWTS_OK);
    assert_int_equal(list.count, 11);
    jwts_session_list_free(&list);
    jwts_store_free(st);
}

/* ---- expiry reporting --------------------------------------------------------------------- */

typedef struct told {
    char ids[40][JWTS_SESSION_ID_LEN + 1];
    size_t n;
} told;

static void tell(void *arg, const jwts_session *s, int64_t now_ms)
{
    told *t = arg;
    assert_true(t->n < 40);
    assert_int_equal(now_ms, fake_now);
    snprintf(t->ids[t->n++], sizeof t->ids[0], "%s", s->session_id);
}

static bool was_told(const told *t, const char *id)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) k += strcmp(t->ids[i], id) == 0;
    assert_true(k <= 1); /* never twice */
    return k == 1;
}

/* Every session dropped at its end is told once, after its transaction committed, whichever path
 * dropped it (a sweep, cleanup, making room at max_sessions, a delete or a change that found it
 * expired); a live delete or an unexpired session is never told; no hook, nothing told. */
static void expiry_is_told_once(void **state)
{
    (void)state;
    char dir[300], ids[14][JWTS_SESSION_ID_LEN + 1];
    fresh_dir(dir, sizeof dir);
    jwts_file_options o = {.path = dir, .max_sessions = 12, .sweep_interval_ms = -1, .clock = &FAKE};
    jwts_store *st;
    assert_int_equal(jwts_store_file_new(&o, &st), JWTS_OK);
    told t = {0};
    assert_int_equal(jwts_store_on_expired(st, tell, &t), JWTS_OK);
    jwts_session s[14];
    for (int i = 0; i < 12; i++) {
        s[i] = session_at("told", ids[i], fake_now, NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s[i], i < 10 ? 1000 : 100000), JWTS_OK);
    }
    assert_int_equal(jwts_store_delete(st, NULL, &(jwts_session_key){"told", ids[11]}), JWTS_OK); /* live */
    __atomic_add_fetch(&fake_now, 5000, __ATOMIC_SEQ_CST);
    size_t removed = 0;
    assert_int_equal(jwts_file_sweep((file_store *)st, 3, &removed), JWTS_OK); /* the sweep: 3 */
    assert_int_equal(t.n, 3);
    int a = -1, b = -1; /* two the sweep left (it took the first 3 of the index) */
    for (int i = 0; i < 10 && b < 0; i++)
        if (!was_told(&t, ids[i])) *(a < 0 ? &a : &b) = i;
    assert_int_equal(jwts_store_delete(st, NULL, &(jwts_session_key){"told", ids[a]}), JWTS_E_NOT_FOUND);
    assert_int_equal(jwts_store_touch(st, NULL, &(jwts_session_key){"told", ids[b]}, fake_now, 0, 1000),
                     JWTS_E_NOT_FOUND);
    assert_int_equal(t.n, 5); /* found expired on the way, and dropped */
    assert_true(was_told(&t, ids[a]) && was_told(&t, ids[b]));
    s[12] = session_at("told", ids[12], fake_now, NULL); /* under max_sessions: no room made */
    assert_int_equal(jwts_store_set(st, NULL, &s[12], 100000), JWTS_OK);
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 5);
    assert_int_equal(t.n, 10);
    for (int i = 0; i < 10; i++) assert_true(was_told(&t, ids[i]));
    assert_false(was_told(&t, ids[10]) || was_told(&t, ids[11]) || was_told(&t, ids[12]));
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(t.n, 10);
    /* making room at max_sessions tells what it drops; without a hook, nothing is told */
    for (int i = 0; i < 10; i++) {
        s[i] = session_at("told", ids[i], fake_now, NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s[i], 1000), JWTS_OK);
    }
    __atomic_add_fetch(&fake_now, 5000, __ATOMIC_SEQ_CST);
    s[13] = session_at("told", ids[13], fake_now, NULL);
    assert_int_equal(jwts_store_set(st, NULL, &s[13], 100000), JWTS_OK);
    assert_true(t.n > 10 && t.n <= 20);
    size_t before = t.n;
    assert_int_equal(jwts_store_on_expired(st, NULL, NULL), JWTS_OK);
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 20 - before);
    assert_int_equal(t.n, before);
    jwts_store_free(st);
}

static void background_sweep_removes_expired(void **state)
{
    char dir[300], ids[10][JWTS_SESSION_ID_LEN + 1];
    fresh_dir(dir, sizeof dir);
    jwts_file_options o = {.path = dir, .sweep_interval_ms = 10, .sweep_batch = 3, .clock = &FAKE};
    jwts_store *st;
    assert_int_equal(jwts_store_file_new(&o, &st), JWTS_OK);
    for (int i = 0; i < 10; i++) {
        jwts_session s = session_at("bg", ids[i], fake_now, NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s, i < 7 ? 1000 : 1000000), JWTS_OK);
    }
    __atomic_add_fetch(&fake_now, 2000, __ATOMIC_SEQ_CST);
    size_t n = 10;
    for (int tries = 0; tries < 1000 && n != 3; tries++) {
        usleep(10000);
        assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    }
    assert_int_equal(n, 3);
    jwts_store_free(st);
}

/* ---- options ------------------------------------------------------------------------------- */

static void bad_urls_are_refused(void **state)
{
    char dir[300], url[600];
    fresh_dir(dir, sizeof dir);
    static const struct {
        const char *query, *detail;
    } cases[] = {
        {"?sync_windw_ms=5", "unknown option \"sync_windw_ms\""},
        {"?sync=sometimes", "sync"},
        {"?map_size_mb=0", "map_size_mb"},
        {"?max_sessions=-1", "max_sessions"},
        {"?sync=full&sync=group", "given twice"},
        {"?sweep_batch", "no value"},
        {"?&", "empty option"},
        {"%zz", "percent"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(url, sizeof url, "file://%s%s", dir, cases[i].query);
        jwts_store *st = (jwts_store *)1;
        assert_int_equal(jwts_store_open(url, NULL, &st), JWTS_E_INVALID_ARGUMENT);
        assert_null(st);
        if (!strstr(jwts_errdetail(), cases[i].detail)) fail_msg("%s: %s", cases[i].query, jwts_errdetail());
    }
    jwts_store *st = NULL;
    assert_int_equal(jwts_store_open("file://relative/dir", NULL, &st), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_open("file:///", NULL, &st), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_open("file:///dev/null", NULL, &st), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "not a directory"));
    struct stat sb;
    assert_int_not_equal(stat(dir, &sb), 0); /* nothing was created by a refused URL */
    /* every option at once is accepted */
    snprintf(url, sizeof url,
             "file://%s?sync=group&sync_window_ms=5&map_size_mb=64&max_sessions=100&"
             "sweep_interval_ms=off&sweep_batch=7",
             dir);
    assert_int_equal(jwts_store_open(url, NULL, &st), JWTS_OK);
    jwts_store_free(st);
}

static void one_handle_per_directory_per_process(void **state)
{
    char dir[300];
    fresh_dir(dir, sizeof dir);
    jwts_store *a = open_dir(dir, NULL), *b = NULL;
    char url[600];
    snprintf(url, sizeof url, "file://%s/", dir); /* the same directory, spelled differently */
    assert_int_equal(jwts_store_open(url, NULL, &b), JWTS_E_UNAVAILABLE);
    assert_non_null(strstr(jwts_errdetail(), "already open in this process"));
    char id[JWTS_SESSION_ID_LEN + 1];
    jwts_session s = session_at("twice", id, jwts_now_ms(), NULL);
    assert_int_equal(jwts_store_set(a, NULL, &s, 60000), JWTS_OK); /* the first handle still works */
    jwts_store_free(a);
    b = open_dir(dir, NULL);
    assert_has(b, &s);
    jwts_store_free(b);
}

/* ---- full map, full disk ------------------------------------------------------------------- */

/* Fill st with big sessions of user until a set fails; returns that failure. ids[0..*acked) were
 * acknowledged. */
static jwts_err fill_until_full(jwts_store *st, const char *user, char (*ids)[JWTS_SESSION_ID_LEN + 1], size_t cap,
                                size_t *acked, const char *meta)
{
    *acked = 0;
    int64_t now = jwts_now_ms();
    for (size_t i = 0; i < cap; i++) {
        jwts_session s = session_at(user, ids[i], now + (int64_t)i, meta);
        jwts_err rc = jwts_store_set(st, NULL, &s, 3600000);
        if (rc) return rc;
        (*acked)++;
    }
    return JWTS_OK;
}

static char *big_metadata(size_t n)
{
    char *m = malloc(n + 16);
    assert_non_null(m);
    strcpy(m, "{\"pad\":\"");
    memset(m + 8, 'x', n);
    strcpy(m + 8 + n, "\"}");
    return m;
}

/* Every acknowledged session is there (after a reopen), and the store takes writes again once
 * room is made. */
static void check_acked(const char *dir, const char *user, char (*ids)[JWTS_SESSION_ID_LEN + 1], size_t acked)
{
    jwts_store *st = open_dir(dir, NULL);
    for (size_t i = 0; i < acked; i++) {
        jwts_session *got = NULL;
        jwts_err rc = jwts_store_get(st, NULL, &(jwts_session_key){user, ids[i]}, &got);
        if (rc) fail_msg("acknowledged session %zu of %zu lost: %s: %s", i, acked, jwts_errname(rc), jwts_errdetail());
        jwts_session_free(got);
    }
    size_t n = 0;
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, acked);
    size_t deleted = 0;
    assert_int_equal(jwts_store_delete_user(st, NULL, user, &deleted), JWTS_OK);
    assert_int_equal(deleted, acked);
    char id[JWTS_SESSION_ID_LEN + 1];
    jwts_session s = session_at(user, id, jwts_now_ms(), NULL);
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    jwts_store_free(st);
}

static void full_map_gives_limit_and_loses_nothing(void **state)
{
    char dir[300];
    fresh_dir(dir, sizeof dir);
    char *meta = big_metadata(8000);
    char(*ids)[JWTS_SESSION_ID_LEN + 1] = calloc(2000, sizeof *ids);
    jwts_store *st = open_dir(dir, "?map_size_mb=1");
    size_t acked = 0;
    jwts_err rc = fill_until_full(st, "mapfull", ids, 2000, &acked, meta);
    assert_int_equal(rc, JWTS_E_LIMIT);
    assert_non_null(strstr(jwts_errdetail(), "map_size_mb"));
    assert_non_null(strstr(jwts_errdetail(), "not applied"));
    assert_true(acked > 10);
    jwts_store_free(st);
    check_acked(dir, "mapfull", ids, acked);
    free(ids);
    free(meta);
}

static void full_disk_gives_unavailable_and_loses_nothing(void **state)
{
    char dir[320], mnt[300];
    snprintf(mnt, sizeof mnt, "%s/tmpfs", base_dir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=400k") != 0) {
        fprintf(stderr, "note: cannot mount a tmpfs here (%s): the full disk is covered by the full map test only\n",
                strerror(errno));
        rmdir(mnt);
        skip();
    }
    snprintf(dir, sizeof dir, "%s/store", mnt);
    char *meta = big_metadata(6000);
    char(*ids)[JWTS_SESSION_ID_LEN + 1] = calloc(2000, sizeof *ids);
    jwts_store *st = open_dir(dir, "?map_size_mb=64");
    size_t acked = 0;
    jwts_err rc = fill_until_full(st, "diskfull", ids, 2000, &acked, meta);
    if (rc != JWTS_E_UNAVAILABLE)
        fail_msg("expected JWTS_E_UNAVAILABLE, got %s: %s", jwts_errname(rc), jwts_errdetail());
    if (!strstr(jwts_errdetail(), "no space left")) fail_msg("detail: %s", jwts_errdetail());
    assert_true(acked > 10);
    /* it keeps failing cleanly, and reads still work */
    jwts_session more[1];
    char id[JWTS_SESSION_ID_LEN + 1];
    more[0] = session_at("diskfull", id, jwts_now_ms(), meta);
    assert_int_not_equal(jwts_store_set(st, NULL, &more[0], 60000), JWTS_OK);
    jwts_session *got = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"diskfull", ids[0]}, &got), JWTS_OK);
    jwts_session_free(got);
    jwts_store_free(st);
    check_acked(dir, "diskfull", ids, acked);
    free(ids);
    free(meta);
    rm_tree(dir);
    assert_int_equal(umount(mnt), 0);
    rmdir(mnt);
}

/* ---- damaged and foreign files ------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void assert_refused(const char *dir, jwts_err want, const char *detail)
{
    char url[600];
    snprintf(url, sizeof url, "file://%s", dir);
    jwts_store *st = (jwts_store *)1;
    jwts_err rc = jwts_store_open(url, NULL, &st);
    if (rc != want)
        fail_msg("%s: expected %s, got %s: %s", dir, jwts_errname(want), jwts_errname(rc), jwts_errdetail());
    assert_null(st);
    if (!strstr(jwts_errdetail(), detail)) fail_msg("detail \"%s\" lacks \"%s\"", jwts_errdetail(), detail);
}

static void garbage_file_is_refused(void **state)
{
    char dir[300], path[400];
    fresh_dir(dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unsigned char junk[16384];
    assert_int_equal(jwts_random_bytes(junk, sizeof junk), JWTS_OK);
    write_file(path, junk, sizeof junk);
    assert_refused(dir, JWTS_E_MALFORMED, "not an LMDB data file");
    const char text[] = "# this is somebody's notes, not a database\n";
    write_file(path, text, sizeof text - 1);
    assert_refused(dir, JWTS_E_MALFORMED, "data.mdb");
}

static void truncated_file_is_refused(void **state)
{
    char dir[300], path[400], ids[300][JWTS_SESSION_ID_LEN + 1];
    fresh_dir(dir, sizeof dir);
    jwts_store *st = open_dir(dir, NULL);
    char *meta = big_metadata(2000);
    const jwts_session *batch[300];
    jwts_session s[300];
    for (int i = 0; i < 300; i++) {
        s[i] = session_at("trunc", ids[i], jwts_now_ms(), meta);
        batch[i] = &s[i];
    }
    assert_int_equal(jwts_store_set_many(st, NULL, batch, 300, 3600000), JWTS_OK);
    jwts_store_free(st);
    free(meta);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size / 2), 0);
    assert_refused(dir, JWTS_E_MALFORMED, "truncated");
}

/* An LMDB environment of another program, with one plain key in its main table. */
static void make_foreign_env(const char *dir, const char *table, const char *key, const char *value)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, table, table ? MDB_CREATE : 0, &dbi), 0);
    MDB_val k = {strlen(key), (void *)key}, v = {strlen(value), (void *)value};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* The value at key in dir's table (NULL: main), as a string into out. */
static void read_raw(const char *dir, const char *table, const char *key, char *out, size_t cap)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, table, 0, &dbi), 0);
    MDB_val k = {strlen(key), (void *)key}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    snprintf(out, cap, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void foreign_database_is_refused_and_untouched(void **state)
{
    char dir[300], value[64];
    fresh_dir(dir, sizeof dir);
    make_foreign_env(dir, NULL, "config", "theirs");
    assert_refused(dir, JWTS_E_MALFORMED, "not a jwtsession file store");
    read_raw(dir, NULL, "config", value, sizeof value);
    assert_string_equal(value, "theirs");
    fresh_dir(dir, sizeof dir); /* one with a "meta" table of its own */
    make_foreign_env(dir, "meta", "format", "somebody else's format");
    assert_refused(dir, JWTS_E_MALFORMED, "not a jwtsession one");
    read_raw(dir, "meta", "format", value, sizeof value);
    assert_string_equal(value, "somebody else's format");
}

/* Put value under key of table in the store at dir, behind the store's back. */
static void write_raw(const char *dir, const char *table, const void *key, size_t klen, const void *val, size_t vlen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, table, 0, &dbi), 0);
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void newer_format_is_refused(void **state)
{
    char dir[300];
    fresh_dir(dir, sizeof dir);
    jwts_store_free(open_dir(dir, NULL));
    const char newer[] = "jwtsession file store 3";
    write_raw(dir, "meta", "format", 6, newer, sizeof newer - 1);
    assert_refused(dir, JWTS_E_UNSUPPORTED, "this build reads");
}

/* A directory of the format before session ids carried their user's tag (no "ids" table) is
 * refused, saying what to do, rather than opened with sessions get_by_id would never find. */
static void earlier_format_is_refused_with_advice(void **state)
{
    char dir[300];
    fresh_dir(dir, sizeof dir);
    jwts_store_free(open_dir(dir, NULL));
    const char older[] = "jwtsession file store 1";
    write_raw(dir, "meta", "format", 6, older, sizeof older - 1);
    assert_refused(dir, JWTS_E_UNSUPPORTED, "written by an earlier jwtsession");
}

static void damaged_record_is_malformed_not_a_crash(void **state)
{
    char dir[300], id[JWTS_SESSION_ID_LEN + 1], keep_id[JWTS_SESSION_ID_LEN + 1];
    fresh_dir(dir, sizeof dir);
    jwts_store *st = open_dir(dir, NULL);
    jwts_session s = session_at("damaged", id, jwts_now_ms(), NULL),
                 keep = session_at("intact", keep_id, jwts_now_ms(), NULL);
    assert_int_equal(jwts_store_set(st, NULL, &s, 3600000), JWTS_OK);
    assert_int_equal(jwts_store_set(st, NULL, &keep, 3600000), JWTS_OK);
    jwts_store_free(st);
    char key[64];
    size_t klen = (size_t)snprintf(key, sizeof key, "damaged%c%s", 0, id);
    unsigned char junk[400];
    memset(junk, 0x7f, sizeof junk); /* a far-future deadline, then no record */
    write_raw(dir, "sessions", key, klen, junk, sizeof junk);
    st = open_dir(dir, NULL);
    jwts_session *got = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"damaged", id}, &got), JWTS_E_MALFORMED);
    assert_non_null(strstr(jwts_errdetail(), "damaged"));
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, "damaged", &list), JWTS_E_MALFORMED);
    assert_has(st, &keep);
    /* it can be deleted and written over */
    assert_int_equal(jwts_store_delete(st, NULL, &(jwts_session_key){"damaged", id}), JWTS_OK);
    assert_int_equal(jwts_store_set(st, NULL, &s, 3600000), JWTS_OK);
    assert_has(st, &s);
    jwts_store_free(st);
}

/* A value laid out by hand as the file store wrote it before sessions had a device (native
 * byte order): magic, flags, deadline, seven times, three hashes, older, lengths, strings. */
static size_t old_value(const jwts_session *s, int64_t deadline, unsigned char *out)
{
    uint32_t magic = 0x31667773u, flags = 2u; /* has metadata */
    int64_t t[7] = {s->created_at_ms, s->updated_at_ms, s->expires_at_ms, s->idle_expires_at_ms,
                    s->last_seen_ms, 0, 0};
    uint16_t u = (uint16_t)strlen(s->user_id), i = (uint16_t)strlen(s->session_id);
    uint32_t m = (uint32_t)strlen(s->metadata);
    memset(out, 0, 304);
    memcpy(out, &magic, 4), memcpy(out + 4, &flags, 4), memcpy(out + 8, &deadline, 8), memcpy(out + 16, t, 56);
    memcpy(out + 72, s->refresh.current_hash, 32);
    memcpy(out + 296, &u, 2), memcpy(out + 298, &i, 2), memcpy(out + 300, &m, 4);
    memcpy(out + 304, s->user_id, u), memcpy(out + 304 + u, s->session_id, i);
    memcpy(out + 304 + u + i, s->metadata, m);
    return 304 + u + i + m;
}

/* Sessions on disk from before devices existed read as sessions without one, take a device on
 * their next write, and "sign out everywhere else" may keep one; a device trailer whose lengths
 * do not add up is damage, not a crash. */
static void record_without_device_still_reads(void **state)
{
    char dir[300], id[JWTS_SESSION_ID_LEN + 1], other[JWTS_SESSION_ID_LEN + 1];
    fresh_dir(dir, sizeof dir);
    jwts_store *st = open_dir(dir, NULL);
    int64_t now = jwts_now_ms();
    jwts_session s = session_at("olduser", id, now, "{\"device\":\"from metadata\"}"),
                 o = session_at("olduser", other, now + 1, "{}");
    assert_int_equal(jwts_store_set(st, NULL, &o, 3600000), JWTS_OK);
    jwts_store_free(st);
    unsigned char val[512];
    char key[64];
    size_t klen = (size_t)snprintf(key, sizeof key, "olduser%c%s", 0, id);
    write_raw(dir, "sessions", key, klen, val, old_value(&s, now + 3600000, val));
    st = open_dir(dir, NULL);
    jwts_session *got = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"olduser", id}, &got), JWTS_OK);
    assert_true(jwts_session_equal(got, &s));
    assert_null(got->client_ip);
    assert_null(got->user_agent);
    assert_string_equal(got->metadata, "{\"device\":\"from metadata\"}");
    jwts_session_free(got);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, "olduser", &list), JWTS_OK);
    assert_int_equal(list.count, 2);
    jwts_session_list_free(&list);
    /* the next write adds the device */
    s.client_ip = "192.0.2.7", s.user_agent = "Firefox/130";
    assert_int_equal(jwts_store_replace(st, NULL, &s, s.refresh.current_hash, 3600000), JWTS_OK);
    assert_has(st, &s);
    size_t n = 0;
    assert_int_equal(jwts_store_delete_user_except(st, NULL, "olduser", id, &n), JWTS_OK);
    assert_int_equal(n, 1);
    assert_has(st, &s);
    jwts_store_free(st);
    /* a device trailer that does not add up */
    size_t len = old_value(&s, now + 3600000, val);
    uint32_t flags = 2u | 4u;
    memcpy(val + 4, &flags, 4);
    const unsigned char bad_trailers[][3] = {{0, 0, 0}, {200, 0, 0}, {3, 0, 0}};
    for (size_t i = 0; i < sizeof bad_trailers / sizeof *bad_trailers; i++) {
        memcpy(val + len, bad_trailers[i], 3);
        write_raw(dir, "sessions", key, klen, val, len + 3 + (i == 2 ? 2 : 0));
        st = open_dir(dir, NULL);
        got = NULL;
        assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"olduser", id}, &got), JWTS_E_MALFORMED);
        assert_null(got);
        jwts_store_free(st);
    }
}

static void longest_ttl_keeps_session(void **state)
{
    jwts_store *st;
    assert_int_equal(open_fresh(NULL, &st), JWTS_OK);
    char id[JWTS_SESSION_ID_LEN + 1];
    jwts_session s = session_at("forever", id, jwts_now_ms(), NULL);
    assert_int_equal(jwts_store_set(st, NULL, &s, INT64_MAX), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_set(st, NULL, &s, JWTS_TTL_MAX_MS), JWTS_OK);
    assert_int_equal(jwts_store_touch(st, NULL, &(jwts_session_key){"forever", id}, 1, 0, JWTS_TTL_MAX_MS), JWTS_OK);
    s.last_seen_ms = 1;
    assert_has(st, &s);
    jwts_store_free(st);
}

static void closed_store_refuses_calls(void **state)
{
    jwts_store *st;
    assert_int_equal(open_fresh(NULL, &st), JWTS_OK);
    jwts_store_close(st);
    jwts_store_close(st);
    jwts_session *got;
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"a", "b"}, &got), JWTS_E_CLOSED);
    size_t n;
    assert_int_equal(jwts_store_count(st, &n), JWTS_E_CLOSED);
    jwts_store_free(st);
}

int main(void)
{
    char tmpl[] = "/tmp/jwts-file-test-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    snprintf(base_dir, sizeof base_dir, "%s", tmpl);
    int failed = 0;
    jwts_conformance_target full = {.name = "file sync=full", .open = open_fresh, .lazy_expiry_only = true};
    jwts_conformance_target group = {
        .name = "file sync=group", .open = open_fresh, .arg = (void *)1, .lazy_expiry_only = true};
    failed += jwts_store_conformance_run(&full);
    failed += jwts_store_conformance_run(&group);
    jwts_manager_target m = {.name = "file", .open = open_fresh};
    failed += jwts_manager_suite_run(&m);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sessions_survive_reopening),
        cmocka_unit_test(max_sessions_gives_limit),
        cmocka_unit_test(expiry_index_removes_only_the_expired),
        cmocka_unit_test(background_sweep_removes_expired),
        cmocka_unit_test(expiry_is_told_once),
        cmocka_unit_test(bad_urls_are_refused),
        cmocka_unit_test(one_handle_per_directory_per_process),
        cmocka_unit_test(full_map_gives_limit_and_loses_nothing),
        cmocka_unit_test(full_disk_gives_unavailable_and_loses_nothing),
        cmocka_unit_test(garbage_file_is_refused),
        cmocka_unit_test(truncated_file_is_refused),
        cmocka_unit_test(foreign_database_is_refused_and_untouched),
        cmocka_unit_test(newer_format_is_refused),
        cmocka_unit_test(earlier_format_is_refused_with_advice),
        cmocka_unit_test(damaged_record_is_malformed_not_a_crash),
        cmocka_unit_test(record_without_device_still_reads),
        cmocka_unit_test(longest_ttl_keeps_session),
        cmocka_unit_test(closed_store_refuses_calls),
    };
    failed += cmocka_run_group_tests_name("file store", tests, NULL, NULL);
    char mnt[300];
    snprintf(mnt, sizeof mnt, "%s/tmpfs", base_dir);
    umount2(mnt, MNT_DETACH); /* when the full disk test failed half way */
    rm_tree(base_dir);
    return failed != 0;
}
