/*
 * test_redis_async.c - jwts_store_get_async and jwts_manager_validate_async on a real
 * redis-server this test starts (and pauses with SIGSTOP): many gets in flight from one thread
 * each answered once with its own session, a deadline that passes while Redis is paused, a store
 * closed with gets in flight, the runners that have no asynchronous path, and the manager's
 * asynchronous validate with every way it ends (valid, revoked, a bad token, a write that is due).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "jwtsession/jwtsession.h"
#include "redis_server.h"

#define IN_FLIGHT 2000

static redis_server server;
static jwts_keyset *keys;

/* One completion's record: how many times it ran, with what. */
typedef struct got {
    atomic_int calls;
    jwts_err rc;
    char user[64], sid[JWTS_SESSION_ID_MAX + 1];
    char detail[256];
} got;

static void on_got(void *arg, jwts_err rc, jwts_session *s)
{
    got *g = arg;
    g->rc = rc;
    if (s) {
        snprintf(g->user, sizeof g->user, "%s", s->user_id);
        snprintf(g->sid, sizeof g->sid, "%s", s->session_id);
    }
    if (rc) snprintf(g->detail, sizeof g->detail, "%s", jwts_errdetail());
    jwts_session_free(s);
    atomic_fetch_add(&g->calls, 1);
}

/* Wait (up to 10 s) until every one of n records has its completion. */
static void wait_all(got *g, size_t n)
{
    for (int i = 0; i < 10000; i++) {
        size_t done = 0;
        for (size_t k = 0; k < n; k++) done += atomic_load(&g[k].calls) > 0;
        if (done == n) break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    for (size_t k = 0; k < n; k++) assert_int_equal(atomic_load(&g[k].calls), 1);
}

static jwts_store *open_store(const char *query)
{
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d%s", server.port, query);
    jwts_store *st = NULL;
    assert_int_equal(jwts_store_open_url(url, &st), JWTS_OK);
    return st;
}

/* A stored session's ids. */
typedef struct rec {
    char user[32], sid[JWTS_SESSION_ID_LEN + 1];
} rec;

/* Store a new session of user on st into *r. */
static void store_session(jwts_store *st, const char *user, rec *r)
{
    snprintf(r->user, sizeof r->user, "%s", user);
    assert_int_equal(jwts_session_id_new(user, r->sid), JWTS_OK);
    int64_t now = jwts_now_ms();
    jwts_session s = {.user_id = r->user, .session_id = r->sid, .created_at_ms = now, .updated_at_ms = now,
                      .last_seen_ms = now, .expires_at_ms = now + 600000, .metadata = "{}"};
    assert_int_equal(jwts_store_set(st, NULL, &s, 600000), JWTS_OK);
}

static int setup(void **state)
{
    (void)state;
    if (!redis_server_start(&server, NULL)) return -1;
    jwts_key *k = NULL;
    if (jwts_keyset_new(&keys) || jwts_key_generate(JWTS_ALG_HS256, NULL, &k) || jwts_keyset_add(keys, k, 1)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    jwts_keyset_free(keys);
    redis_server_destroy(&server);
    return 0;
}

/* ---- the store --------------------------------------------------------------------------- */

static void many_gets_in_flight_each_get_their_own(void **state)
{
    (void)state;
    jwts_store *st = open_store("?pipeline=true");
    static rec recs[IN_FLIGHT];
    static got g[IN_FLIGHT + 1];
    memset(g, 0, sizeof g);
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        char user[32];
        snprintf(user, sizeof user, "async-%zu", i % 97);
        store_session(st, user, &recs[i]);
    }
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        jwts_session_key key = {recs[i].user, recs[i].sid};
        assert_int_equal(jwts_store_get_async(st, NULL, &key, on_got, &g[i]), JWTS_OK);
    }
    jwts_session_key absent = {"async-0", "AAAAAAAAAAAAAAAAAAAAAA"};
    assert_int_equal(jwts_store_get_async(st, NULL, &absent, on_got, &g[IN_FLIGHT]), JWTS_OK);
    wait_all(g, IN_FLIGHT + 1);
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        assert_int_equal(g[i].rc, JWTS_OK);
        assert_string_equal(g[i].user, recs[i].user);
        assert_string_equal(g[i].sid, recs[i].sid);
    }
    assert_int_equal(g[IN_FLIGHT].rc, JWTS_E_NOT_FOUND);
    /* bad arguments never call done */
    assert_int_equal(jwts_store_get_async(st, NULL, &absent, NULL, NULL), JWTS_E_INVALID_ARGUMENT);
    jwts_session_key bad = {"", "x"};
    got none = {0};
    assert_int_equal(jwts_store_get_async(st, NULL, &bad, on_got, &none), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(atomic_load(&none.calls), 0);
    jwts_store_free(st);
}

static void a_paused_server_ends_gets_by_their_deadline(void **state)
{
    (void)state;
    jwts_store *st = open_store("?pipeline=true&command_timeout=10s");
    rec r;
    store_session(st, "paused-user", &r);
    jwts_session_key key = {r.user, r.sid};
    got g[8];
    memset(g, 0, sizeof g);
    kill(server.pid, SIGSTOP);
    for (size_t i = 0; i < 8; i++) {
        jwts_ctx ctx = jwts_ctx_with_timeout(200 + 50 * (int64_t)i);
        assert_int_equal(jwts_store_get_async(st, &ctx, &key, on_got, &g[i]), JWTS_OK);
    }
    wait_all(g, 8); /* by their own deadlines, not the 10 s command timeout */
    kill(server.pid, SIGCONT);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(g[i].rc, JWTS_E_TIMEOUT);
        assert_non_null(strstr(g[i].detail, "deadline"));
    }
    /* the late replies are absorbed in order: the next get gets its own answer */
    got after = {0};
    assert_int_equal(jwts_store_get_async(st, NULL, &key, on_got, &after), JWTS_OK);
    wait_all(&after, 1);
    assert_int_equal(after.rc, JWTS_OK);
    assert_string_equal(after.sid, r.sid);
    jwts_store_free(st);
}

static void closing_ends_gets_in_flight_once(void **state)
{
    (void)state;
    jwts_store *st = open_store("?pipeline=true");
    jwts_session_key key = {"closing-user", "AAAAAAAAAAAAAAAAAAAAAA"};
    static got g[64];
    memset(g, 0, sizeof g);
    kill(server.pid, SIGSTOP);
    for (size_t i = 0; i < 64; i++) assert_int_equal(jwts_store_get_async(st, NULL, &key, on_got, &g[i]), JWTS_OK);
    jwts_store_close(st);
    kill(server.pid, SIGCONT);
    wait_all(g, 64);
    for (size_t i = 0; i < 64; i++) assert_int_equal(g[i].rc, JWTS_E_CLOSED);
    got late = {0};
    assert_int_equal(jwts_store_get_async(st, NULL, &key, on_got, &late), JWTS_E_CLOSED);
    assert_int_equal(atomic_load(&late.calls), 0);
    jwts_store_free(st);
}

static void runners_without_an_async_path_say_so(void **state)
{
    (void)state;
    jwts_store *pool = open_store("?pool_size=2");
    jwts_session_key key = {"u", "AAAAAAAAAAAAAAAAAAAAAA"};
    got g = {0};
    assert_int_equal(jwts_store_get_async(pool, NULL, &key, on_got, &g), JWTS_E_UNSUPPORTED);
    assert_int_equal(atomic_load(&g.calls), 0);
    /* a local-only ctx is answered at once, whatever the runner */
    jwts_ctx local = {.flags = JWTS_CTX_LOCAL_ONLY};
    assert_int_equal(jwts_store_get_async(pool, &local, &key, on_got, &g), JWTS_OK);
    assert_int_equal(atomic_load(&g.calls), 1);
    assert_int_equal(g.rc, JWTS_E_WOULD_BLOCK);
    jwts_store_free(pool);
    /* the memory store answers within the call */
    jwts_store *mem = NULL;
    assert_int_equal(jwts_store_memory_new(NULL, &mem), JWTS_OK);
    got m = {0};
    assert_int_equal(jwts_store_get_async(mem, NULL, &key, on_got, &m), JWTS_OK);
    assert_int_equal(atomic_load(&m.calls), 1);
    assert_int_equal(m.rc, JWTS_E_NOT_FOUND);
    jwts_store_free(mem);
}

/* ---- the manager ------------------------------------------------------------------------- */

typedef struct checked {
    atomic_int calls;
    jwts_err rc;
    jwts_validation v;
} checked;

static void on_checked(void *arg, jwts_err rc, const jwts_validation *v)
{
    checked *c = arg;
    c->rc = rc;
    if (v) c->v = *v;
    atomic_fetch_add(&c->calls, 1);
}

static jwts_err validate_async(jwts_manager *m, const char *token)
{
    checked c = {0};
    jwts_err rc = jwts_manager_validate_async(m, NULL, token, strlen(token), on_checked, &c);
    if (rc) return rc;
    for (int i = 0; i < 10000 && !atomic_load(&c.calls); i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    assert_int_equal(atomic_load(&c.calls), 1);
    return c.rc;
}

static void validate_async_ends_every_way(void **state)
{
    (void)state;
    jwts_store *st = open_store("?pipeline=true");
    jwts_manager *m = NULL;
    jwts_manager_options mo = {.store = st, .keyset = keys, .issuer = "https://t.example", .touch_interval_ms = 60000};
    assert_int_equal(jwts_manager_new(&mo, &m), JWTS_OK);
    jwts_tokens t, t2;
    assert_int_equal(jwts_manager_create(m, NULL, "async-user", NULL, &t), JWTS_OK);

    /* created just now: no touch due, the first pair needs no confirmation */
    checked c = {0};
    assert_int_equal(jwts_manager_validate_async(m, NULL, t.access_token, strlen(t.access_token), on_checked, &c),
                     JWTS_OK);
    for (int i = 0; i < 10000 && !atomic_load(&c.calls); i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    assert_int_equal(c.rc, JWTS_OK);
    assert_string_equal(c.v.user_id, "async-user");
    assert_string_equal(c.v.session_id, t.session_id);

    /* a bad token ends within the call, with its own error */
    assert_int_equal(validate_async(m, "not.a.token"), JWTS_E_MALFORMED);

    /* a rotated pair's first use is a write: WOULD_BLOCK, then the waiting validate confirms it */
    assert_int_equal(jwts_manager_refresh(m, NULL, t.refresh_token, &t2), JWTS_OK);
    assert_int_equal(validate_async(m, t2.access_token), JWTS_E_WOULD_BLOCK);
    assert_int_equal(jwts_manager_validate(m, NULL, t2.access_token, strlen(t2.access_token), NULL, NULL), JWTS_OK);
    assert_int_equal(validate_async(m, t2.access_token), JWTS_OK);

    /* revoked */
    assert_int_equal(jwts_manager_revoke(m, NULL, "async-user", t.session_id), JWTS_OK);
    assert_int_equal(validate_async(m, t2.access_token), JWTS_E_REVOKED);
    jwts_tokens_clear(&t), jwts_tokens_clear(&t2);
    jwts_manager_free(m);

    /* a touch that is due cannot be written from the I/O thread without the near cache */
    jwts_manager_options always = mo;
    always.touch_interval_ms = 1; /* (0 is the default interval) */
    assert_int_equal(jwts_manager_new(&always, &m), JWTS_OK);
    assert_int_equal(jwts_manager_create(m, NULL, "async-toucher", NULL, &t), JWTS_OK);
    struct timespec ten_ms = {0, 10000000};
    nanosleep(&ten_ms, NULL);
    assert_int_equal(validate_async(m, t.access_token), JWTS_E_WOULD_BLOCK);
    jwts_tokens_clear(&t);
    jwts_manager_free(m);
    jwts_store_free(st);

    /* a pooled store: not started, done never called */
    st = open_store("");
    mo.store = st;
    assert_int_equal(jwts_manager_new(&mo, &m), JWTS_OK);
    assert_int_equal(jwts_manager_create(m, NULL, "async-pooled", NULL, &t), JWTS_OK);
    checked none = {0};
    assert_int_equal(jwts_manager_validate_async(m, NULL, t.access_token, strlen(t.access_token), on_checked, &none),
                     JWTS_E_UNSUPPORTED);
    assert_int_equal(atomic_load(&none.calls), 0);
    jwts_tokens_clear(&t);
    jwts_manager_free(m);
    jwts_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_gets_in_flight_each_get_their_own),
        cmocka_unit_test(a_paused_server_ends_gets_by_their_deadline),
        cmocka_unit_test(closing_ends_gets_in_flight_once),
        cmocka_unit_test(runners_without_an_async_path_say_so),
        cmocka_unit_test(validate_async_ends_every_way),
    };
    return cmocka_run_group_tests_name("asynchronous get and validate", tests, setup, teardown);
}
