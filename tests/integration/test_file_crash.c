/*
 * test_file_crash.c - kill -9 of a process writing to the file store under load, five rounds on
 * one directory (sync=full and sync=group alternating): after each, every session the child
 * acknowledged is there, every delete it acknowledged stayed deleted, and the file is consistent
 * (each session has exactly its expiry index entry and nothing else is indexed). In rounds 2 and
 * 4 this process keeps the store open while the child writes and dies, then writes itself: LMDB's
 * robust writer mutex must recover from a holder killed mid-transaction.
 *
 * The child runs two writer threads (sets, and deletes of its own earlier sessions) and reports
 * on a pipe, after each call returned JWTS_OK, what was acknowledged (one 64-byte record a write,
 * atomic on a pipe). The parent kills it at a random moment 150..450 ms in, reads what reached
 * the pipe, and checks. A write the child had not acknowledged may or may not be there.
 */
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jwtsession/jwtsession.h"

#define ROUNDS 5
#define WRITERS 2
#define USERS 40

typedef struct rec {
    char op; /* 'S' set acknowledged, 'd' delete about to start, 'D' delete acknowledged */
    char user[16];
    char sid[JWTS_SESSION_ID_LEN + 1];
    char pad[64 - 1 - 16 - JWTS_SESSION_ID_LEN - 1];
} rec;

static int failures;
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

/* ---- the child ----------------------------------------------------------------------------- */

typedef struct writer {
    jwts_store *st;
    int fd, n;
} writer;

static void report(int fd, char op, const char *user, const char *sid)
{
    rec r = {.op = op};
    snprintf(r.user, sizeof r.user, "%s", user);
    snprintf(r.sid, sizeof r.sid, "%s", sid);
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) _exit(3);
}

static void *write_loop(void *arg)
{
    writer *w = arg;
    char mine[64][JWTS_SESSION_ID_LEN + 1], users[64][16];
    size_t kept = 0;
    for (unsigned i = 0;; i++) {
        if (i % 5 == 4 && kept) { /* delete the oldest of ours still kept */
            kept--;
            report(w->fd, 'd', users[kept], mine[kept]);
            jwts_err rc = jwts_store_delete(w->st, NULL, &(jwts_session_key){users[kept], mine[kept]});
            if (rc) _exit(4);
            report(w->fd, 'D', users[kept], mine[kept]);
            continue;
        }
        char user[16], sid[JWTS_SESSION_ID_LEN + 1];
        snprintf(user, sizeof user, "crash-%u", (i * 7 + (unsigned)w->n) % USERS);
        if (jwts_session_id_new(user, sid)) _exit(5);
        int64_t now = jwts_now_ms();
        jwts_session s = {.user_id = user,
                          .session_id = sid,
                          .created_at_ms = now,
                          .updated_at_ms = now,
                          .expires_at_ms = now + 3600000,
                          .last_seen_ms = now,
                          .metadata = "{\"device\":\"crash-test\",\"pad\":\"0123456789abcdef0123456789abcdef\"}"};
        jwts_err rc = jwts_store_set(w->st, NULL, &s, 3600000);
        if (rc) {
            fprintf(stderr, "child: set: %s: %s\n", jwts_errname(rc), jwts_errdetail());
            _exit(6);
        }
        report(w->fd, 'S', user, sid);
        if (kept < 64 && i % 3 == 0) {
            memcpy(mine[kept], sid, sizeof sid);
            memcpy(users[kept], user, sizeof user);
            kept++;
        }
    }
    return NULL;
}

static void child_main(const char *url, int fd)
{
    jwts_store *st;
    jwts_err rc = jwts_store_open(url, NULL, &st);
    if (rc) {
        fprintf(stderr, "child: open: %s: %s\n", jwts_errname(rc), jwts_errdetail());
        _exit(2);
    }
    pthread_t t[WRITERS];
    writer w[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){st, fd, i};
        pthread_create(&t[i], NULL, write_loop, &w[i]);
    }
    for (;;) pause(); /* until SIGKILL */
}

/* ---- the parent ---------------------------------------------------------------------------- */

typedef struct log {
    rec *r;
    size_t n, cap;
} log_t;

static void log_add(log_t *l, const rec *r)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->r = realloc(l->r, l->cap * sizeof *l->r);
        if (!l->r) abort();
    }
    l->r[l->n++] = *r;
}

static int by_sid(const void *a, const void *b)
{
    return strcmp(((const rec *)a)->sid, ((const rec *)b)->sid);
}

static int64_t mono_ms(void)
{
    return jwts_monotonic_ns() / 1000000;
}

/* Run one child on url for kill_after_ms, kill -9 it, and add what it acknowledged to the logs. */
static void run_round(const char *url, int kill_after_ms, log_t *sets, log_t *dels, log_t *intents)
{
    int p[2];
    if (pipe(p) != 0) abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) { /* a fresh process image: LMDB must not be used across fork() */
        close(p[0]);
        char fd[16];
        snprintf(fd, sizeof fd, "%d", p[1]);
        execl("/proc/self/exe", "test_file_crash", "--child", url, fd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    int64_t kill_at = mono_ms() + kill_after_ms;
    bool killed = false;
    size_t got = 0;
    rec r;
    for (;;) {
        int64_t left = kill_at - mono_ms();
        if (!killed && left <= 0) {
            kill(pid, SIGKILL);
            killed = true;
        }
        struct pollfd pf = {p[0], POLLIN, 0};
        if (poll(&pf, 1, killed ? 1000 : (int)left) == 0) continue;
        ssize_t n = read(p[0], (char *)&r + got, sizeof r - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* EOF: the child is gone */
        got += (size_t)n;
        if (got < sizeof r) continue;
        got = 0;
        log_add(r.op == 'S' ? sets : r.op == 'D' ? dels : intents, &r);
    }
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child ended on its own (status %d)", status);
}

/* Every sessions entry has its expiry entry (same deadline) and the index holds nothing else. */
static void check_consistent(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi sessions, expiry;
    CHECK(mdb_env_create(&env) == 0, "env");
    mdb_env_set_maxdbs(env, 4);
    int rc = mdb_env_open(env, dir, MDB_RDONLY, 0600);
    CHECK(rc == 0, "raw open: %s", mdb_strerror(rc));
    if (rc) {
        mdb_env_close(env);
        return;
    }
    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    CHECK(mdb_dbi_open(txn, "sessions", 0, &sessions) == 0 && mdb_dbi_open(txn, "expiry", 0, &expiry) == 0, "tables");
    MDB_stat ss, es;
    mdb_stat(txn, sessions, &ss);
    mdb_stat(txn, expiry, &es);
    CHECK(ss.ms_entries == es.ms_entries, "%zu sessions but %zu expiry entries", ss.ms_entries, es.ms_entries);
    MDB_cursor *cur;
    mdb_cursor_open(txn, sessions, &cur);
    MDB_val k, v;
    size_t bad = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        unsigned char ek[400];
        if (v.mv_size < 16 || k.mv_size > sizeof ek - 8) {
            bad++;
            continue;
        }
        int64_t deadline; /* native order at offset 8 of the value, big-endian in the index key */
        memcpy(&deadline, (const char *)v.mv_data + 8, 8);
        for (int i = 7; i >= 0; i--, deadline = (int64_t)((uint64_t)deadline >> 8)) ek[i] = (unsigned char)deadline;
        memcpy(ek + 8, k.mv_data, k.mv_size);
        MDB_val key = {8 + k.mv_size, ek}, ev;
        bad += mdb_get(txn, expiry, &key, &ev) != 0;
    }
    CHECK(bad == 0, "%zu sessions without their expiry entry", bad);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

/* After a round: every acknowledged set not deleted since is there; acknowledged deletes stay.
 * held: the parent's handle that stayed open beside the child (NULL: reopen, as after a restart);
 * the parent then also writes, which needs the writer lock the killed child may have held. */
static void check_round(jwts_store *held, const char *url, const char *dir, log_t *sets, log_t *dels, log_t *intents,
                        int round)
{
    jwts_store *st = held;
    jwts_err rc = JWTS_OK;
    if (held) {
        rec r = {.op = 'S', .user = "beside"};
        int64_t now = jwts_now_ms();
        CHECK(jwts_session_id_new(r.user, r.sid) == JWTS_OK, "session id");
        jwts_session s = {.user_id = r.user,
                          .session_id = r.sid,
                          .created_at_ms = now,
                          .updated_at_ms = now,
                          .expires_at_ms = now + 3600000,
                          .last_seen_ms = now};
        rc = jwts_store_set(held, NULL, &s, 3600000);
        CHECK(rc == JWTS_OK, "round %d: a write beside the killed child: %s: %s", round, jwts_errname(rc),
              jwts_errdetail());
        if (!rc) log_add(sets, &r);
    } else {
        rc = jwts_store_open(url, NULL, &st);
        CHECK(rc == JWTS_OK, "reopen after round %d: %s: %s", round, jwts_errname(rc), jwts_errdetail());
        if (rc) return;
    }
    qsort(dels->r, dels->n, sizeof *dels->r, by_sid);
    qsort(intents->r, intents->n, sizeof *intents->r, by_sid);
    size_t present = 0, lost = 0, resurrected = 0, maybe = 0;
    for (size_t i = 0; i < sets->n; i++) {
        const rec *s = &sets->r[i];
        bool deleted = bsearch(s, dels->r, dels->n, sizeof *s, by_sid) != NULL;
        bool deleting = !deleted && bsearch(s, intents->r, intents->n, sizeof *s, by_sid) != NULL;
        jwts_session *got = NULL;
        rc = jwts_store_get(st, NULL, &(jwts_session_key){s->user, s->sid}, &got);
        jwts_session_free(got);
        CHECK(rc == JWTS_OK || rc == JWTS_E_NOT_FOUND, "get: %s: %s", jwts_errname(rc), jwts_errdetail());
        if (deleting)
            maybe++;
        else if (deleted)
            resurrected += rc == JWTS_OK;
        else
            lost += rc != JWTS_OK;
        present += rc == JWTS_OK;
    }
    size_t count = 0;
    CHECK(jwts_store_count(st, &count) == JWTS_OK, "count");
    size_t live = sets->n - dels->n;
    CHECK(lost == 0, "round %d: %zu acknowledged sessions lost", round, lost);
    CHECK(resurrected == 0, "round %d: %zu acknowledged deletes undone", round, resurrected);
    /* beyond the acknowledged: at most one unacknowledged set per writer per round */
    CHECK(count + maybe >= live && count <= live + (size_t)WRITERS * (size_t)(round + 1),
          "round %d: %zu sessions stored, %zu acknowledged live", round, count, live);
    printf("round %d (%s): %zu sets and %zu deletes acknowledged so far, %zu sessions stored, all present\n", round,
           held ? "store open beside the child" : "reopened", sets->n, dels->n, count);
    /* a delete started but not acknowledged: whatever happened is now known */
    for (size_t i = 0; i < intents->n; i++) {
        if (bsearch(&intents->r[i], dels->r, dels->n, sizeof *dels->r, by_sid)) continue;
        jwts_session *got = NULL;
        jwts_session_key k = {intents->r[i].user, intents->r[i].sid};
        if (jwts_store_get(st, NULL, &k, &got) == JWTS_E_NOT_FOUND) {
            rec r = intents->r[i];
            r.op = 'D';
            log_add(dels, &r);
        }
        jwts_session_free(got);
    }
    jwts_store_free(st);
    check_consistent(dir);
    intents->n = 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child") == 0) child_main(argv[2], atoi(argv[3]));
    char dir[] = "/tmp/jwts-file-crash-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char store_dir[128];
    snprintf(store_dir, sizeof store_dir, "%s/store", dir);
    log_t sets = {0}, dels = {0}, intents = {0};
    unsigned seed = (unsigned)jwts_monotonic_ns();
    for (int round = 0; round < ROUNDS && !failures; round++) {
        char url[256];
        snprintf(url, sizeof url, "file://%s?%s", store_dir, round % 2 ? "sync=group&sync_window_ms=50" : "sync=full");
        /* rounds 2 and 4: this process keeps the store open while the child writes and dies (the
         * CLI killed beside a running daemon); no threads of ours run when the child is forked */
        jwts_store *held = NULL;
        if (round == 2 || round == 4) {
            char mine[256];
            snprintf(mine, sizeof mine, "file://%s?sweep_interval_ms=off", store_dir);
            jwts_err rc = jwts_store_open(mine, NULL, &held);
            CHECK(rc == JWTS_OK, "open beside: %s: %s", jwts_errname(rc), jwts_errdetail());
        }
        run_round(url, 150 + (int)(rand_r(&seed) % 300), &sets, &dels, &intents);
        check_round(held, url, store_dir, &sets, &dels, &intents, round);
    }
    CHECK(sets.n > 0, "the child acknowledged nothing");
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(sets.r), free(dels.r), free(intents.r);
    if (failures)
        fprintf(stderr, "test_file_crash: %d check(s) failed\n", failures);
    else
        printf("test_file_crash: %d rounds of kill -9, nothing acknowledged lost, file consistent\n", ROUNDS);
    return failures != 0;
}
