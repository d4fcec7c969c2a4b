/*
 * store_conformance.c - the conformance suite every jwts_store backend must pass.
 *
 * It exercises every store operation through the public jwts_store_* API: round trips, TTL
 * expiry, overwrite, not-found, the per-user index, refresh rotation and its races, batches,
 * close semantics and bad arguments. Each test opens a fresh handle and uses user ids unique to
 * the run, so a shared server needs no flushing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>

#include "jwtsession/jwtsession.h"
#include "store_conformance.h"

static const jwts_conformance_target *target;
static char run_tag[16]; /* random, makes user ids unique to this run */

/* ---- helpers ----------------------------------------------------------------------------- */

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* Monotonic milliseconds: the time the test itself measures around store calls. */
static int64_t mono_ms(void) { return jwts_monotonic_ns() / 1000000; }

/* TTL tests run on real time (Redis expires keys on its own clock). A store call made within
 * SHORT_TTL_MS of setting a key must find it, and the key must be gone once SHORT_TTL_MS has
 * passed; on a stalled machine the first half cannot be asserted (the test says so and retries
 * or moves on), but nothing ever fails because the machine was slow. */
#define SHORT_TTL_MS 1000
#define EXPIRY_WAIT_MS 15000 /* how long an expired key may take to be reported gone */

/* A user id unique to this run and test. */
static void user_name(char *out, size_t cap, const char *base)
{
    snprintf(out, cap, "%s-%s", base, run_tag);
}

/* A session for user with a fresh id, given metadata, valid for an hour. ids buffer is kept by caller. */
static jwts_session make_session(const char *user, char id[JWTS_SESSION_ID_LEN + 1], const char *metadata)
{
    assert_int_equal(jwts_session_id_new(user, id), JWTS_OK);
    int64_t now = jwts_now_ms();
    jwts_session s = {
        .user_id = user,
        .session_id = id,
        .created_at_ms = now,
        .updated_at_ms = now,
        .expires_at_ms = now + 3600 * 1000,
        .idle_expires_at_ms = now + 600 * 1000,
        .last_seen_ms = now,
        .metadata = metadata,
    };
    assert_int_equal(jwts_random_bytes(s.refresh.current_hash, JWTS_REFRESH_HASH_LEN), JWTS_OK);
    return s;
}

static jwts_session_key key_of(const jwts_session *s) { return (jwts_session_key){s->user_id, s->session_id}; }

static void assert_stored(jwts_store *st, const jwts_session *want)
{
    jwts_session *got = NULL;
    jwts_session_key k = key_of(want);
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_OK);
    assert_non_null(got);
    assert_true(jwts_session_equal(got, want));
    jwts_session_free(got);
}

static void assert_absent(jwts_store *st, const char *user, const char *sid)
{
    jwts_session *got = (jwts_session *)1;
    jwts_session_key k = {user, sid};
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_NOT_FOUND);
    assert_null(got);
    assert_true(strlen(jwts_errdetail()) > 0);
}

static int open_store(void **state)
{
    jwts_store *st = NULL;
    jwts_err rc = target->open(target->arg, &st);
    if (rc != JWTS_OK) {
        fprintf(stderr, "cannot open %s store: %s: %s\n", target->name, jwts_errname(rc), jwts_errdetail());
        return -1;
    }
    *state = st;
    return 0;
}

static int free_store(void **state)
{
    jwts_store_free(*state);
    return 0;
}

/* ---- basic operations -------------------------------------------------------------------- */

static void set_then_get_round_trips(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "roundtrip");
    jwts_session s = make_session(user, id, "{\"device\":\"laptop\",\"n\":[1,2.5,true,null],\"x\":{\"y\":\"\\u00e9\"}}");
    s.refresh.generation = 7;
    s.refresh.rotated_at_ms = s.created_at_ms - 5;
    assert_int_equal(jwts_random_bytes(s.refresh.previous_hash, JWTS_REFRESH_HASH_LEN), JWTS_OK);
    assert_int_equal(jwts_random_bytes(s.refresh.older, sizeof s.refresh.older), JWTS_OK);
    s.refresh.confirmed = true;
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    assert_stored(st, &s);
    /* the longest TTL keeps the session (an expiry time computed with overflow would be past) */
    assert_int_equal(jwts_store_set(st, NULL, &s, JWTS_TTL_MAX_MS), JWTS_OK);
    assert_stored(st, &s);
    jwts_session_key k = key_of(&s);
    assert_int_equal(jwts_store_touch(st, NULL, &k, s.last_seen_ms, 0, JWTS_TTL_MAX_MS), JWTS_OK);
    jwts_session *got = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_OK);
    jwts_session_free(got);
}

static void metadata_round_trips_exactly(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32], *canon = NULL;
    user_name(user, sizeof user, "metadata");
    const char *raw = "{ \"z\": 1, \"a\": [ 1.5, -2, 1e3, \"caf\\u00e9 \\\"q\\\" \\\\ /\" ], \"m\": { \"deep\": { \"er\": {} } },"
                      " \"big\": 9007199254740993, \"u\": \"\xe2\x9c\x93\" }";
    assert_int_equal(jwts_metadata_canonicalize(raw, strlen(raw), NULL, &canon), JWTS_OK);
    jwts_session s = make_session(user, id, canon);
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    jwts_session *got = NULL;
    jwts_session_key k = key_of(&s);
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_OK);
    assert_string_equal(got->metadata, canon);
    jwts_session_free(got);
    free(canon);

    /* no metadata at all comes back as none or as the empty object */
    char id2[32];
    jwts_session bare = make_session(user, id2, NULL);
    assert_int_equal(jwts_store_set(st, NULL, &bare, 60000), JWTS_OK);
    k = key_of(&bare);
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_OK);
    assert_true(got->metadata == NULL || strcmp(got->metadata, "{}") == 0);
    jwts_session_free(got);
}

static void get_missing_is_not_found(void **state)
{
    char user[64];
    user_name(user, sizeof user, "missing");
    assert_absent(*state, user, "AAAAAAAAAAAAAAAAAAAAAA");
}

static void set_overwrites(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "overwrite");
    jwts_session s = make_session(user, id, "{\"v\":1}");
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    s.metadata = "{\"v\":2}";
    s.updated_at_ms += 10;
    s.last_seen_ms += 10;
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    assert_stored(st, &s);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0]->metadata, "{\"v\":2}");
    jwts_session_list_free(&list);
}

static void delete_removes(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32], other_id[32];
    user_name(user, sizeof user, "delete");
    jwts_session s = make_session(user, id, NULL), other = make_session(user, other_id, NULL);
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    assert_int_equal(jwts_store_set(st, NULL, &other, 60000), JWTS_OK);
    jwts_session_key k = key_of(&s);
    assert_int_equal(jwts_store_delete(st, NULL, &k), JWTS_OK);
    assert_absent(st, user, id);
    assert_int_equal(jwts_store_delete(st, NULL, &k), JWTS_E_NOT_FOUND);
    assert_stored(st, &other);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0]->session_id, other_id);
    jwts_session_list_free(&list);
}

/* ---- time to live ------------------------------------------------------------------------ */

static void ttl_expires(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32], keep_id[32];
    user_name(user, sizeof user, "ttl");
    jwts_session s = make_session(user, id, NULL), keep = make_session(user, keep_id, NULL);
    keep.created_at_ms += 1;
    int64_t before_set = mono_ms();
    assert_int_equal(jwts_store_set(st, NULL, &s, SHORT_TTL_MS), JWTS_OK);
    int64_t set_done = mono_ms();
    assert_int_equal(jwts_store_set(st, NULL, &keep, 60000), JWTS_OK);
    jwts_session *got = NULL;
    jwts_session_key k = key_of(&s);
    jwts_err rc = jwts_store_get(st, NULL, &k, &got);
    if (mono_ms() - before_set < SHORT_TTL_MS) { /* read within the TTL: it must be there */
        assert_int_equal(rc, JWTS_OK);
        assert_true(jwts_session_equal(got, &s));
    } else {
        fprintf(stderr, "note: the machine stalled past the TTL; the before-expiry read is not checked\n");
    }
    jwts_session_free(got);
    /* Gone once the TTL has passed: never before it, and reported within EXPIRY_WAIT_MS after. */
    for (;;) {
        int64_t asked = mono_ms();
        got = NULL;
        rc = jwts_store_get(st, NULL, &k, &got);
        jwts_session_free(got);
        if (rc == JWTS_E_NOT_FOUND) { /* the server read after its set plus the TTL: */
            assert_true(mono_ms() - before_set >= SHORT_TTL_MS - 5); /* 5 ms: ms rounding */
            break;
        }
        assert_int_equal(rc, JWTS_OK);
        assert_true(asked - before_set < SHORT_TTL_MS + EXPIRY_WAIT_MS);
        sleep_ms(asked - set_done < SHORT_TTL_MS ? SHORT_TTL_MS - (asked - set_done) : 20);
    }
    assert_absent(st, user, id);
    assert_int_equal(jwts_store_touch(st, NULL, &k, 1, 0, 1000), JWTS_E_NOT_FOUND);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1); /* the index forgets expired sessions */
    assert_string_equal(list.items[0]->session_id, keep_id);
    jwts_session_list_free(&list);
    size_t removed = 99;
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    assert_true(removed <= 1);
    assert_stored(st, &keep);
}

static void touch_extends_and_records(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "touch");
    jwts_session s;
    jwts_session_key k;
    int64_t seen = 0, idle = 0, ttl = SHORT_TTL_MS, set_done = 0;
    /* Set with a short TTL and touch it before that TTL ends, with a long one. On a machine that
     * stalls past the short TTL before the touch lands, try again with a fresh session and twice
     * the TTL: a slow machine makes the test slower, never wrong. */
    for (int attempt = 0;; attempt++, ttl *= 2) {
        s = make_session(user, id, "{\"a\":1}");
        int64_t before_set = mono_ms();
        assert_int_equal(jwts_store_set(st, NULL, &s, ttl), JWTS_OK);
        set_done = mono_ms();
        k = key_of(&s);
        seen = s.last_seen_ms + 150, idle = seen + 600000;
        jwts_err rc = jwts_store_touch(st, NULL, &k, seen, idle, 60000);
        if (mono_ms() - before_set < ttl) {
            assert_int_equal(rc, JWTS_OK);
            break;
        }
        fprintf(stderr, "note: the machine stalled past the %lld ms TTL before the touch; again\n", (long long)ttl);
        assert_true(attempt < 5);
    }
    /* Past the first TTL (measured from when the set returned), within the extended one. */
    int64_t wait = set_done + ttl + 100 - mono_ms();
    if (wait > 0) sleep_ms(wait);
    s.last_seen_ms = seen;
    s.idle_expires_at_ms = idle;
    assert_stored(st, &s);
    char other[32];
    assert_int_equal(jwts_session_id_new(user, other), JWTS_OK);
    k.session_id = other;
    assert_int_equal(jwts_store_touch(st, NULL, &k, seen, idle, 5000), JWTS_E_NOT_FOUND);
}

/* ---- the per-user index ------------------------------------------------------------------ */

static void list_user_returns_each_users_sessions(void **state)
{
    jwts_store *st = *state;
    char alice[64], bob[64], carol[64], ids[4][32];
    user_name(alice, sizeof alice, "alice");
    user_name(bob, sizeof bob, "bob");
    user_name(carol, sizeof carol, "carol");
    jwts_session a[3];
    int64_t base = jwts_now_ms();
    for (int i = 2; i >= 0; i--) { /* inserted newest first; listed oldest first */
        a[i] = make_session(alice, ids[i], "{\"device\":\"x\"}");
        a[i].created_at_ms = base + i;
        assert_int_equal(jwts_store_set(st, NULL, &a[i], 60000), JWTS_OK);
    }
    jwts_session b = make_session(bob, ids[3], NULL);
    assert_int_equal(jwts_store_set(st, NULL, &b, 60000), JWTS_OK);

    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, alice, &list), JWTS_OK);
    assert_int_equal(list.count, 3);
    for (int i = 0; i < 3; i++) assert_true(jwts_session_equal(list.items[i], &a[i]));
    jwts_session_list_free(&list);
    assert_int_equal(list.count, 0);

    assert_int_equal(jwts_store_list_user(st, NULL, bob, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    assert_true(jwts_session_equal(list.items[0], &b));
    jwts_session_list_free(&list);

    assert_int_equal(jwts_store_list_user(st, NULL, carol, &list), JWTS_OK);
    assert_int_equal(list.count, 0);
    assert_null(list.items);
}

static void delete_user_removes_only_that_user(void **state)
{
    jwts_store *st = *state;
    char dave[64], erin[64], ids[5][32];
    user_name(dave, sizeof dave, "dave");
    user_name(erin, sizeof erin, "erin");
    for (int i = 0; i < 4; i++) {
        jwts_session s = make_session(dave, ids[i], NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    }
    jwts_session e = make_session(erin, ids[4], NULL);
    assert_int_equal(jwts_store_set(st, NULL, &e, 60000), JWTS_OK);
    size_t deleted = 0;
    assert_int_equal(jwts_store_delete_user(st, NULL, dave, &deleted), JWTS_OK);
    assert_int_equal(deleted, 4);
    for (int i = 0; i < 4; i++) assert_absent(st, dave, ids[i]);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, dave, &list), JWTS_OK);
    assert_int_equal(list.count, 0);
    assert_stored(st, &e);
    assert_int_equal(jwts_store_delete_user(st, NULL, dave, &deleted), JWTS_OK);
    assert_int_equal(deleted, 0);
}

/* "Sign out everywhere else": every session of the user goes but the kept one; a kept session
 * that is not there deletes nothing. */
static void delete_user_except_keeps_exactly_one(void **state)
{
    jwts_store *st = *state;
    char fay[64], gus[64], ids[6][32];
    user_name(fay, sizeof fay, "fay");
    user_name(gus, sizeof gus, "gus");
    jwts_session f[5];
    for (int i = 0; i < 5; i++) {
        f[i] = make_session(fay, ids[i], NULL);
        assert_int_equal(jwts_store_set(st, NULL, &f[i], 60000), JWTS_OK);
    }
    jwts_session g = make_session(gus, ids[5], NULL);
    assert_int_equal(jwts_store_set(st, NULL, &g, 60000), JWTS_OK);
    size_t deleted = 99;
    char missing[32];
    assert_int_equal(jwts_session_id_new(fay, missing), JWTS_OK);
    assert_int_equal(jwts_store_delete_user_except(st, NULL, fay, missing, &deleted), JWTS_E_NOT_FOUND);
    assert_int_equal(deleted, 99);
    /* gus's session is no kept session of fay's */
    assert_int_equal(jwts_store_delete_user_except(st, NULL, fay, ids[5], &deleted), JWTS_E_NOT_FOUND);
    for (int i = 0; i < 5; i++) assert_stored(st, &f[i]);
    assert_int_equal(jwts_store_delete_user_except(st, NULL, fay, "bad id!", &deleted), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_delete_user_except(st, NULL, fay, ids[2], &deleted), JWTS_OK);
    assert_int_equal(deleted, 4);
    assert_stored(st, &f[2]);
    for (int i = 0; i < 5; i++)
        if (i != 2) assert_absent(st, fay, ids[i]);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, fay, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0]->session_id, ids[2]);
    jwts_session_list_free(&list);
    assert_stored(st, &g);
    assert_int_equal(jwts_store_delete_user_except(st, NULL, fay, ids[2], NULL), JWTS_OK);
    assert_stored(st, &f[2]);
    /* the kept session is first or last in the store's order too */
    for (int i = 0; i < 2; i++) {
        f[i] = make_session(fay, ids[i], NULL);
        assert_int_equal(jwts_store_set(st, NULL, &f[i], 60000), JWTS_OK);
    }
    assert_int_equal(jwts_store_delete_user_except(st, NULL, fay, ids[1], &deleted), JWTS_OK);
    assert_int_equal(deleted, 2);
    assert_stored(st, &f[1]);
    assert_absent(st, fay, ids[0]);
    assert_absent(st, fay, ids[2]);
}

static jwts_refresh_state next_state(const jwts_session *s, int64_t at);

/* The device (client IP, user agent) is kept beside the metadata, at its largest too; touch and
 * rotate keep it, replace changes it, and a session without one reads back without one. */
static void device_round_trips(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32], id2[32], ua[JWTS_USER_AGENT_MAX + 1];
    user_name(user, sizeof user, "device");
    memset(ua, 'u', JWTS_USER_AGENT_MAX);
    memcpy(ua, "Mozilla/5.0 \xc3\xa9", 14);
    ua[JWTS_USER_AGENT_MAX] = '\0';
    jwts_session s = make_session(user, id, "{\"k\":\"v\"}");
    s.client_ip = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"; /* JWTS_CLIENT_IP_MAX characters */
    s.user_agent = ua;
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    assert_stored(st, &s);
    jwts_session plain = make_session(user, id2, NULL);
    assert_int_equal(jwts_store_set(st, NULL, &plain, 60000), JWTS_OK);
    assert_stored(st, &plain);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 2);
    for (size_t i = 0; i < 2; i++) {
        bool dev = !strcmp(list.items[i]->session_id, id);
        assert_true(jwts_session_equal(list.items[i], dev ? &s : &plain));
    }
    jwts_session_list_free(&list);
    jwts_session_key k = key_of(&s);
    jwts_refresh_state next = next_state(&s, s.created_at_ms + 1000);
    assert_int_equal(jwts_store_rotate(st, NULL, &k, s.refresh.current_hash, &next, 60000, NULL), JWTS_OK);
    s.refresh = next, s.updated_at_ms = next.rotated_at_ms;
    assert_stored(st, &s);
    jwts_session n = s;
    n.client_ip = "127.0.0.5", n.user_agent = "curl/8.1";
    assert_int_equal(jwts_store_replace(st, NULL, &n, s.refresh.current_hash, 60000), JWTS_OK);
    assert_stored(st, &n);
    /* a touch keeps it (compared alone: a near cache may write the touch later) */
    assert_int_equal(jwts_store_touch(st, NULL, &k, n.last_seen_ms + 5, n.idle_expires_at_ms + 5, 60000), JWTS_OK);
    jwts_session *got = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_OK);
    assert_string_equal(got->client_ip, "127.0.0.5");
    assert_string_equal(got->user_agent, "curl/8.1");
    jwts_session_free(got);
    /* a replace may drop it as well */
    jwts_session p = make_session(user, id, NULL);
    jwts_session_key pk = key_of(&p);
    assert_int_equal(jwts_store_set(st, NULL, &p, 60000), JWTS_OK);
    p.client_ip = "10.0.0.1";
    assert_int_equal(jwts_store_replace(st, NULL, &p, p.refresh.current_hash, 60000), JWTS_OK);
    assert_stored(st, &p);
    p.client_ip = NULL;
    assert_int_equal(jwts_store_replace(st, NULL, &p, p.refresh.current_hash, 60000), JWTS_OK);
    assert_int_equal(jwts_store_get(st, NULL, &pk, &got), JWTS_OK);
    assert_null(got->client_ip);
    assert_null(got->user_agent);
    jwts_session_free(got);
    /* a bad device is refused and nothing written */
    char id3[32];
    jwts_session bad = make_session(user, id3, NULL);
    bad.client_ip = "300.1.1.1";
    assert_int_equal(jwts_store_set(st, NULL, &bad, 60000), JWTS_E_INVALID_ARGUMENT);
    bad.client_ip = NULL, bad.user_agent = "tab\there";
    assert_int_equal(jwts_store_set(st, NULL, &bad, 60000), JWTS_E_INVALID_ARGUMENT);
    assert_absent(st, user, id3);
    assert_stored(st, &plain);
}

static void similar_user_ids_stay_apart(void **state)
{
    jwts_store *st = *state;
    char base[64], names[5][96], ids[5][32];
    user_name(base, sizeof base, "u");
    const char *suffixes[] = {"", ":s", ":idx", " with space", "\xc3\xa9\"q\\"};
    jwts_session s[5];
    for (int i = 0; i < 5; i++) {
        snprintf(names[i], sizeof names[i], "%s%s", base, suffixes[i]);
        s[i] = make_session(names[i], ids[i], NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s[i], 60000), JWTS_OK);
    }
    for (int i = 0; i < 5; i++) {
        assert_stored(st, &s[i]);
        jwts_session_list list;
        assert_int_equal(jwts_store_list_user(st, NULL, names[i], &list), JWTS_OK);
        assert_int_equal(list.count, 1);
        assert_string_equal(list.items[0]->user_id, names[i]);
        jwts_session_list_free(&list);
    }
    size_t deleted;
    assert_int_equal(jwts_store_delete_user(st, NULL, names[0], &deleted), JWTS_OK);
    assert_int_equal(deleted, 1);
    for (int i = 1; i < 5; i++) assert_stored(st, &s[i]);
}

/* ---- by session id alone ------------------------------------------------------------------ */

/* Two user ids of one routing tag ("rP9B4r"), found once by a birthday search over SHA-256. Fixed,
 * so the sessions they hold are made unique to the run by their random ids instead. */
#define TAGMATE_A "tagmate-34254"
#define TAGMATE_B "tagmate-171706"

static void assert_by_id(jwts_store *st, const char *sid, const jwts_session *want)
{
    jwts_session *got = (jwts_session *)1;
    jwts_err rc = jwts_store_get_by_id(st, NULL, sid, &got);
    if (!want) {
        assert_int_equal(rc, JWTS_E_NOT_FOUND);
        assert_null(got);
        return;
    }
    if (rc) fail_msg("get_by_id %s: %s: %s", sid, jwts_errname(rc), jwts_errdetail());
    assert_non_null(got);
    assert_true(jwts_session_equal(got, want));
    jwts_session_free(got);
}

/* A generated id finds its session without its user, in one lookup; gone once deleted. */
static void get_by_id_finds_a_session_from_its_id(void **state)
{
    jwts_store *st = *state;
    char ann[64], ben[64], a_id[32], b_id[32], missing[32];
    user_name(ann, sizeof ann, "byid-ann");
    user_name(ben, sizeof ben, "byid-ben");
    jwts_session a = make_session(ann, a_id, "{\"who\":\"ann\"}"), b = make_session(ben, b_id, NULL);
    assert_int_equal(jwts_store_set(st, NULL, &a, 60000), JWTS_OK);
    assert_int_equal(jwts_store_set(st, NULL, &b, 60000), JWTS_OK);
    assert_by_id(st, a_id, &a);
    assert_by_id(st, b_id, &b);
    assert_int_equal(jwts_session_id_new(ann, missing), JWTS_OK);
    assert_by_id(st, missing, NULL);
    jwts_session_key k = key_of(&a);
    assert_int_equal(jwts_store_delete(st, NULL, &k), JWTS_OK);
    assert_by_id(st, a_id, NULL);
    assert_by_id(st, b_id, &b);
    jwts_session *got = (jwts_session *)1;
    assert_int_equal(jwts_store_get_by_id(st, NULL, "not base64url!", &got), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_get_by_id(st, NULL, b_id, NULL), JWTS_E_INVALID_ARGUMENT);
}

/* An id a caller chose carries no tag (or not its user's): it is found with its user only. */
static void untagged_id_needs_its_user(void **state)
{
    jwts_store *st = *state;
    char user[64], other[64], custom[32], foreign[32], unused[32];
    user_name(user, sizeof user, "custom");
    user_name(other, sizeof other, "custom-other");
    snprintf(custom, sizeof custom, "web-%s", run_tag);
    jwts_session s = make_session(user, unused, "{\"c\":1}");
    s.session_id = custom;
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    assert_by_id(st, custom, NULL);
    assert_stored(st, &s);
    /* the generated length, but another user's tag */
    assert_int_equal(jwts_session_id_new(other, foreign), JWTS_OK);
    jwts_session t = make_session(user, unused, NULL);
    t.session_id = foreign;
    assert_int_equal(jwts_store_set(st, NULL, &t, 60000), JWTS_OK);
    assert_by_id(st, foreign, NULL);
    assert_stored(st, &t);
    jwts_session_key k = key_of(&t);
    assert_int_equal(jwts_store_delete(st, NULL, &k), JWTS_OK);
    k = key_of(&s);
    assert_int_equal(jwts_store_delete(st, NULL, &k), JWTS_OK);
}

/* Every (user, session id) operation on another user's session id finds nothing and changes
 * nothing, for a user of another tag and for one of the same tag (whose keys share a slot and, in
 * Redis, the record's key): a set over it is a conflict, never an overwrite. */
static void another_users_id_is_neither_found_nor_touched(void **state)
{
    jwts_store *st = *state;
    char ann[64], ben[64], a_id[32], unused[32];
    user_name(ann, sizeof ann, "owner-ann");
    user_name(ben, sizeof ben, "owner-ben");
    const char *pairs[2][2] = {{ann, ben}, {TAGMATE_A, TAGMATE_B}};
    for (int p = 0; p < 2; p++) {
        const char *owner = pairs[p][0], *intruder = pairs[p][1];
        jwts_session a = make_session(owner, a_id, "{\"mine\":true}");
        assert_int_equal(jwts_store_set(st, NULL, &a, 60000), JWTS_OK);
        jwts_session b = make_session(intruder, unused, "{\"mine\":false}");
        b.session_id = a_id;
        jwts_session_key bk = key_of(&b);
        jwts_session *got = (jwts_session *)1;
        assert_int_equal(jwts_store_get(st, NULL, &bk, &got), JWTS_E_NOT_FOUND);
        assert_null(got);
        assert_int_equal(jwts_store_get_many(st, NULL, &bk, 1, &got), JWTS_OK);
        assert_null(got);
        assert_int_equal(jwts_store_touch(st, NULL, &bk, a.last_seen_ms + 5, 0, 60000), JWTS_E_NOT_FOUND);
        jwts_refresh_state next = next_state(&a, a.created_at_ms + 1);
        assert_int_equal(jwts_store_rotate(st, NULL, &bk, a.refresh.current_hash, &next, 60000, NULL),
                         JWTS_E_NOT_FOUND);
        memcpy(b.refresh.current_hash, a.refresh.current_hash, JWTS_REFRESH_HASH_LEN);
        assert_int_equal(jwts_store_replace(st, NULL, &b, a.refresh.current_hash, 60000), JWTS_E_NOT_FOUND);
        size_t n = 99;
        assert_int_equal(jwts_store_delete_user_except(st, NULL, intruder, a_id, &n), JWTS_E_NOT_FOUND);
        assert_int_equal(jwts_store_delete(st, NULL, &bk), JWTS_E_NOT_FOUND);
        assert_int_equal(jwts_store_delete_many(st, NULL, &bk, 1, &n), JWTS_OK);
        assert_int_equal(n, 0);
        if (p == 1) /* one record key for both in Redis: every store refuses the second holder */
            assert_int_equal(jwts_store_set(st, NULL, &b, 60000), JWTS_E_CONFLICT);
        else
            assert_int_equal(jwts_store_set(st, NULL, &b, 60000), JWTS_OK);
        jwts_session_list list;
        assert_int_equal(jwts_store_list_user(st, NULL, intruder, &list), JWTS_OK);
        for (size_t i = 0; i < list.count; i++)
            assert_true(strcmp(list.items[i]->user_id, intruder) == 0);
        jwts_session_list_free(&list);
        assert_stored(st, &a);
        assert_by_id(st, a_id, &a);
        if (p == 0) assert_int_equal(jwts_store_delete(st, NULL, &bk), JWTS_OK); /* ben's own, now */
        jwts_session_key ak = key_of(&a);
        assert_int_equal(jwts_store_delete(st, NULL, &ak), JWTS_OK);
        if (p == 1) { /* once the holder is gone, the id is free */
            assert_int_equal(jwts_store_set(st, NULL, &b, 60000), JWTS_OK);
            assert_by_id(st, a_id, &b);
            assert_int_equal(jwts_store_delete(st, NULL, &bk), JWTS_OK);
        }
    }
}

/* ---- refresh rotation -------------------------------------------------------------------- */

static jwts_refresh_state next_state(const jwts_session *s, int64_t at)
{
    jwts_refresh_state next = {0};
    assert_int_equal(jwts_random_bytes(next.current_hash, JWTS_REFRESH_HASH_LEN), JWTS_OK);
    memcpy(next.previous_hash, s->refresh.current_hash, JWTS_REFRESH_HASH_LEN);
    assert_int_equal(jwts_random_bytes(next.sealed_next, JWTS_REFRESH_HASH_LEN), JWTS_OK);
    next.rotated_at_ms = at;
    next.generation = s->refresh.generation + 1;
    return next;
}

static void rotate_swaps_when_expected(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "rotate");
    jwts_session s = make_session(user, id, "{\"k\":\"v\"}");
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    jwts_refresh_state next = next_state(&s, s.created_at_ms + 1000);
    jwts_session *cur = NULL;
    jwts_session_key k = key_of(&s);
    assert_int_equal(jwts_store_rotate(st, NULL, &k, s.refresh.current_hash, &next, 60000, &cur), JWTS_OK);
    s.refresh = next;
    s.updated_at_ms = next.rotated_at_ms;
    assert_non_null(cur);
    assert_true(jwts_session_equal(cur, &s));
    jwts_session_free(cur);
    assert_stored(st, &s);
    /* the current pointer is optional */
    jwts_refresh_state again = next_state(&s, s.updated_at_ms + 1);
    assert_int_equal(jwts_store_rotate(st, NULL, &k, s.refresh.current_hash, &again, 60000, NULL), JWTS_OK);
}

static void rotate_conflicts_when_not_expected(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "conflict");
    jwts_session s = make_session(user, id, NULL);
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    uint8_t wrong[JWTS_REFRESH_HASH_LEN];
    memcpy(wrong, s.refresh.current_hash, sizeof wrong);
    wrong[31] ^= 1;
    jwts_refresh_state next = next_state(&s, s.created_at_ms + 1);
    jwts_session *cur = NULL;
    jwts_session_key k = key_of(&s);
    assert_int_equal(jwts_store_rotate(st, NULL, &k, wrong, &next, 60000, &cur), JWTS_E_CONFLICT);
    assert_non_null(cur);
    assert_true(jwts_session_equal(cur, &s)); /* unchanged, and shown as it is */
    jwts_session_free(cur);
    assert_stored(st, &s);

    char missing[32];
    assert_int_equal(jwts_session_id_new(user, missing), JWTS_OK);
    k.session_id = missing;
    cur = (jwts_session *)1;
    assert_int_equal(jwts_store_rotate(st, NULL, &k, wrong, &next, 60000, &cur), JWTS_E_NOT_FOUND);
    assert_null(cur);
}

static void replace_swaps_whole_session_when_expected(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "replace");
    jwts_session s = make_session(user, id, "{\"v\":1}");
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    jwts_session changed = s;
    changed.metadata = "{\"v\":2,\"label\":\"work laptop\"}";
    changed.updated_at_ms += 5;
    uint8_t wrong[JWTS_REFRESH_HASH_LEN];
    memcpy(wrong, s.refresh.current_hash, sizeof wrong);
    wrong[0] ^= 0x80;
    assert_int_equal(jwts_store_replace(st, NULL, &changed, wrong, 60000), JWTS_E_CONFLICT);
    assert_stored(st, &s); /* a refused replace changes nothing */
    assert_int_equal(jwts_store_replace(st, NULL, &changed, s.refresh.current_hash, 60000), JWTS_OK);
    assert_stored(st, &changed);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    assert_true(jwts_session_equal(list.items[0], &changed));
    jwts_session_list_free(&list);
    char missing[32];
    jwts_session absent = make_session(user, missing, NULL);
    assert_int_equal(jwts_store_replace(st, NULL, &absent, absent.refresh.current_hash, 60000), JWTS_E_NOT_FOUND);
    assert_absent(st, user, missing); /* replace never creates */
}

/* A rotate dated before the last update leaves updated_at; a replace with the same current hash
 * keeps a confirmed refresh state confirmed (it never undoes a concurrent confirmation). */
static void rotate_and_replace_keep_newer_state(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "confirm");
    jwts_session s = make_session(user, id, "{\"v\":1}");
    s.refresh.rotated_at_ms = s.created_at_ms;
    s.updated_at_ms = s.created_at_ms + 5000;
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    jwts_refresh_state confirmed = s.refresh;
    confirmed.confirmed = true;
    jwts_session_key k = key_of(&s);
    assert_int_equal(jwts_store_rotate(st, NULL, &k, s.refresh.current_hash, &confirmed, 60000, NULL), JWTS_OK);
    jwts_session expected = s;
    expected.refresh = confirmed;
    assert_stored(st, &expected); /* updated_at did not move back to rotated_at */

    jwts_session stale = s; /* read before the confirmation: confirmed is false */
    stale.metadata = "{\"v\":2}";
    assert_int_equal(jwts_store_replace(st, NULL, &stale, s.refresh.current_hash, 60000), JWTS_OK);
    expected.metadata = stale.metadata;
    assert_stored(st, &expected);

    jwts_session moved = expected; /* a rotation to a new secret starts unconfirmed */
    assert_int_equal(jwts_random_bytes(moved.refresh.current_hash, JWTS_REFRESH_HASH_LEN), JWTS_OK);
    moved.refresh.confirmed = false;
    assert_int_equal(jwts_store_replace(st, NULL, &moved, s.refresh.current_hash, 60000), JWTS_OK);
    assert_stored(st, &moved);
}

#define RACERS 16

typedef struct racer {
    jwts_store *st;
    const jwts_session *s;
    jwts_refresh_state next;
    jwts_err rc;
    pthread_barrier_t *start;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    jwts_session_key k = key_of(r->s);
    pthread_barrier_wait(r->start);
    r->rc = jwts_store_rotate(r->st, NULL, &k, r->s->refresh.current_hash, &r->next, 60000, NULL);
    return NULL;
}

static void rotate_race_has_one_winner(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "race");
    jwts_session s = make_session(user, id, NULL);
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    racer racers[RACERS];
    pthread_t threads[RACERS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (racer){.st = st, .s = &s, .next = next_state(&s, s.created_at_ms + 1 + i), .start = &start};
        assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
    }
    int winners = 0, winner = -1;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        if (racers[i].rc == JWTS_OK) winners++, winner = i;
        else assert_int_equal(racers[i].rc, JWTS_E_CONFLICT);
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(winners, 1);
    s.refresh = racers[winner].next;
    s.updated_at_ms = racers[winner].next.rotated_at_ms;
    assert_stored(st, &s);
}

/* ---- batches ----------------------------------------------------------------------------- */

#define BATCH 10

static void batches_work(void **state)
{
    jwts_store *st = *state;
    char user[64], ids[BATCH + 2][32];
    user_name(user, sizeof user, "batch");
    jwts_session s[BATCH];
    const jwts_session *ptrs[BATCH];
    jwts_session_key keys[BATCH + 2];
    for (int i = 0; i < BATCH; i++) {
        s[i] = make_session(user, ids[i], "{\"i\":1}");
        ptrs[i] = &s[i];
        keys[i] = key_of(&s[i]);
    }
    for (int i = BATCH; i < BATCH + 2; i++) {
        assert_int_equal(jwts_session_id_new(user, ids[i]), JWTS_OK);
        keys[i] = (jwts_session_key){user, ids[i]};
    }
    assert_int_equal(jwts_store_set_many(st, NULL, ptrs, BATCH, 60000), JWTS_OK);
    jwts_session *got[BATCH + 2];
    assert_int_equal(jwts_store_get_many(st, NULL, keys, BATCH + 2, got), JWTS_OK);
    for (int i = 0; i < BATCH; i++) {
        assert_non_null(got[i]);
        assert_true(jwts_session_equal(got[i], &s[i]));
        jwts_session_free(got[i]);
    }
    assert_null(got[BATCH]);
    assert_null(got[BATCH + 1]);
    size_t deleted = 0;
    assert_int_equal(jwts_store_delete_many(st, NULL, keys, BATCH + 2, &deleted), JWTS_OK);
    assert_int_equal(deleted, BATCH);
    for (int i = 0; i < BATCH; i++) assert_absent(st, user, ids[i]);
    assert_int_equal(jwts_store_get_many(st, NULL, keys, 0, NULL), JWTS_OK);
}

/* ---- concurrency ------------------------------------------------------------------------- */

#define WORKERS 4
#define PER_WORKER 200

typedef struct worker {
    jwts_store *st;
    int index;
    int mismatches;
    pthread_barrier_t *start; /* the workers start together, so their calls overlap */
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    char user[64], id[32], meta[64];
    snprintf(user, sizeof user, "worker%d-%s", w->index, run_tag);
    for (int i = 0; i < PER_WORKER; i++) {
        jwts_session s = {0};
        if (jwts_session_id_new(user, id)) w->mismatches++;
        snprintf(meta, sizeof meta, "{\"i\":%d}", i);
        int64_t now = jwts_now_ms();
        s = (jwts_session){.user_id = user, .session_id = id, .created_at_ms = now, .updated_at_ms = now,
                           .expires_at_ms = now + 60000, .last_seen_ms = now, .metadata = meta};
        s.refresh.generation = (uint64_t)i;
        jwts_session *got = NULL;
        jwts_session_key k = key_of(&s);
        if (jwts_store_set(w->st, NULL, &s, 60000) != JWTS_OK || jwts_store_get(w->st, NULL, &k, &got) != JWTS_OK ||
            !jwts_session_equal(got, &s))
            w->mismatches++;
        jwts_session_free(got);
        if (i % 2 && jwts_store_delete(w->st, NULL, &k) != JWTS_OK) w->mismatches++;
    }
    jwts_session_list list = {0};
    if (jwts_store_list_user(w->st, NULL, user, &list) != JWTS_OK || list.count != PER_WORKER / 2) w->mismatches++;
    jwts_session_list_free(&list);
    return NULL;
}

static void concurrent_clients_see_their_writes(void **state)
{
    worker workers[WORKERS];
    pthread_t threads[WORKERS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, WORKERS);
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = (worker){.st = *state, .index = i, .start = &start};
        assert_int_equal(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < WORKERS; i++) assert_int_equal(workers[i].mismatches, 0);
}

/* ---- bad arguments and close ------------------------------------------------------------- */

static void bad_arguments_are_rejected(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "badargs");
    jwts_session s = make_session(user, id, "{\"keep\":true}");
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);

    char too_long[JWTS_USER_ID_MAX + 2];
    memset(too_long, 'u', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    const char *bad_users[] = {"", "a{b", "a}b", "tab\there", "nl\n", too_long};
    for (size_t i = 0; i < sizeof bad_users / sizeof *bad_users; i++) {
        jwts_session bad = s;
        bad.user_id = bad_users[i];
        assert_int_equal(jwts_store_set(st, NULL, &bad, 60000), JWTS_E_INVALID_ARGUMENT);
        assert_true(strlen(jwts_errdetail()) > 0);
        jwts_session_list list;
        assert_int_equal(jwts_store_list_user(st, NULL, bad_users[i], &list), JWTS_E_INVALID_ARGUMENT);
        assert_int_equal(jwts_store_delete_user(st, NULL, bad_users[i], NULL), JWTS_E_INVALID_ARGUMENT);
    }
    const char *bad_ids[] = {"", "has space", "plus+", "slash/", "dot.", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        jwts_session bad = s;
        bad.session_id = bad_ids[i];
        assert_int_equal(jwts_store_set(st, NULL, &bad, 60000), JWTS_E_INVALID_ARGUMENT);
        jwts_session *got = NULL;
        jwts_session_key k = {user, bad_ids[i]};
        assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_INVALID_ARGUMENT);
        assert_int_equal(jwts_store_delete(st, NULL, &k), JWTS_E_INVALID_ARGUMENT);
    }
    jwts_session bad = s;
    bad.metadata = "[1,2]";
    assert_int_equal(jwts_store_set(st, NULL, &bad, 60000), JWTS_E_INVALID_ARGUMENT);
    bad = s;
    bad.expires_at_ms = bad.created_at_ms - 1;
    assert_int_equal(jwts_store_set(st, NULL, &bad, 60000), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_set(st, NULL, &s, 0), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_set(st, NULL, &s, -5), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_set(st, NULL, &s, JWTS_TTL_MAX_MS + 1), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_set(st, NULL, &s, INT64_MAX), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_set(st, NULL, NULL, 1000), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_set(NULL, NULL, &s, 1000), JWTS_E_INVALID_ARGUMENT);
    jwts_session_key k = key_of(&s);
    assert_int_equal(jwts_store_get(st, NULL, &k, NULL), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_get(st, NULL, NULL, NULL), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_touch(st, NULL, &k, 1, 1, 0), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_rotate(st, NULL, &k, NULL, NULL, 1000, NULL), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_list_user(st, NULL, user, NULL), JWTS_E_INVALID_ARGUMENT);
    /* nothing above changed the stored session */
    assert_stored(st, &s);
}

static void close_makes_calls_fail(void **state)
{
    jwts_store *st = *state;
    char user[64], id[32];
    user_name(user, sizeof user, "close");
    jwts_session s = make_session(user, id, NULL);
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    jwts_store_close(st);
    jwts_store_close(st); /* idempotent */
    jwts_session *got = NULL;
    jwts_session_key k = key_of(&s);
    jwts_session_list list;
    size_t n;
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_CLOSED);
    assert_null(got);
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_E_CLOSED);
    assert_int_equal(jwts_store_delete(st, NULL, &k), JWTS_E_CLOSED);
    assert_int_equal(jwts_store_touch(st, NULL, &k, 1, 1, 1000), JWTS_E_CLOSED);
    assert_int_equal(jwts_store_list_user(st, NULL, user, &list), JWTS_E_CLOSED);
    assert_int_equal(jwts_store_delete_user(st, NULL, user, &n), JWTS_E_CLOSED);
    assert_int_equal(jwts_store_rotate(st, NULL, &k, s.refresh.current_hash, &s.refresh, 1000, NULL), JWTS_E_CLOSED);
    assert_int_equal(jwts_store_replace(st, NULL, &s, s.refresh.current_hash, 1000), JWTS_E_CLOSED);
    assert_int_equal(jwts_store_get_many(st, NULL, &k, 1, &got), JWTS_E_CLOSED);
    assert_int_equal(jwts_store_cleanup(st, NULL, &n), JWTS_E_CLOSED);
    assert_string_equal(jwts_errname(jwts_store_set(st, NULL, &s, 60000)), "JWTS_E_CLOSED");
}

static void errors_have_names_and_details(void **state)
{
    (void)state;
    for (int c = 0; c < JWTS_E__COUNT; c++) {
        assert_true(strncmp(jwts_errname((jwts_err)c), "JWTS_", 5) == 0);
        assert_true(strlen(jwts_strerror((jwts_err)c)) > 0);
    }
    assert_string_equal(jwts_errname(JWTS_E_NOT_FOUND), "JWTS_E_NOT_FOUND");
    assert_string_equal(jwts_errname((jwts_err)999), "JWTS_E_UNKNOWN");
}

int jwts_store_conformance_run(const jwts_conformance_target *t)
{
    target = t;
    uint8_t raw[6];
    if (jwts_random_bytes(raw, sizeof raw) || jwts_b64url_encode(raw, sizeof raw, run_tag, sizeof run_tag, NULL))
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, open_store, free_store)
    const struct CMUnitTest tests[] = {
        T(set_then_get_round_trips),
        T(metadata_round_trips_exactly),
        T(get_missing_is_not_found),
        T(set_overwrites),
        T(delete_removes),
        T(ttl_expires),
        T(touch_extends_and_records),
        T(list_user_returns_each_users_sessions),
        T(delete_user_removes_only_that_user),
        T(delete_user_except_keeps_exactly_one),
        T(device_round_trips),
        T(similar_user_ids_stay_apart),
        T(get_by_id_finds_a_session_from_its_id),
        T(untagged_id_needs_its_user),
        T(another_users_id_is_neither_found_nor_touched),
        T(rotate_swaps_when_expected),
        T(rotate_conflicts_when_not_expected),
        T(rotate_race_has_one_winner),
        T(replace_swaps_whole_session_when_expected),
        T(rotate_and_replace_keep_newer_state),
        T(batches_work),
        T(concurrent_clients_see_their_writes),
        T(bad_arguments_are_rejected),
        T(close_makes_calls_fail),
        cmocka_unit_test(errors_have_names_and_details),
    };
#undef T
    char name[96];
    snprintf(name, sizeof name, "store conformance: %s", t->name);
    return _cmocka_run_group_tests(name, tests, sizeof tests / sizeof *tests, NULL, NULL);
}
