/*
 * test_store_memory.c - the memory store: the shared conformance suite, plus what only it has
 * (max_sessions, the background sweep, an injected clock, table growth).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "jwtsession/jwtsession.h"
#include "store_conformance.h"

static jwts_err open_memory(void *arg, jwts_store **out)
{
    jwts_memory_options o = {.sweep_interval_ms = 50};
    return jwts_store_memory_new(&o, out);
}

/* A clock the test moves by hand. */
static int64_t fake_now = 1700000000000;
static int64_t fake_clock(void *arg) { return __atomic_load_n((int64_t *)arg, __ATOMIC_SEQ_CST); }
static const jwts_clock FAKE = {fake_clock, &fake_now};

static jwts_session session_at(const char *user, char id[JWTS_SESSION_ID_LEN + 1], int64_t now)
{
    assert_int_equal(jwts_session_id_new(user, id), JWTS_OK);
    return (jwts_session){.user_id = user, .session_id = id, .created_at_ms = now, .updated_at_ms = now,
                          .expires_at_ms = now + 3600000, .last_seen_ms = now};
}

static void max_sessions_gives_limit(void **state)
{
    jwts_memory_options o = {.max_sessions = 10, .shards = 4, .sweep_interval_ms = -1, .clock = &FAKE};
    jwts_store *st;
    assert_int_equal(jwts_store_memory_new(&o, &st), JWTS_OK);
    char ids[12][JWTS_SESSION_ID_LEN + 1];
    jwts_session s[12];
    for (int i = 0; i < 10; i++) {
        s[i] = session_at("limit", ids[i], fake_now);
        assert_int_equal(jwts_store_set(st, NULL, &s[i], 1000), JWTS_OK);
    }
    s[10] = session_at("limit", ids[10], fake_now);
    assert_int_equal(jwts_store_set(st, NULL, &s[10], 1000), JWTS_E_LIMIT);
    assert_non_null(strstr(jwts_errdetail(), "max_sessions"));
    /* overwriting an existing session needs no new room */
    assert_int_equal(jwts_store_set(st, NULL, &s[3], 5000), JWTS_OK);
    size_t n = 0;
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, 10);
    /* once the others expire, their room is reused */
    __atomic_add_fetch(&fake_now, 2000, __ATOMIC_SEQ_CST);
    assert_int_equal(jwts_store_set(st, NULL, &s[10], 1000), JWTS_OK);
    jwts_session *got;
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"limit", ids[3]}, &got), JWTS_OK);
    jwts_session_free(got);
    jwts_store_free(st);
}

static void cleanup_removes_expired(void **state)
{
    jwts_memory_options o = {.shards = 2, .sweep_interval_ms = -1, .clock = &FAKE};
    jwts_store *st;
    assert_int_equal(jwts_store_memory_new(&o, &st), JWTS_OK);
    char ids[100][JWTS_SESSION_ID_LEN + 1];
    for (int i = 0; i < 100; i++) {
        jwts_session s = session_at(i % 2 ? "odd" : "even", ids[i], fake_now);
        assert_int_equal(jwts_store_set(st, NULL, &s, i < 60 ? 100 : 100000), JWTS_OK);
    }
    __atomic_add_fetch(&fake_now, 101, __ATOMIC_SEQ_CST);
    size_t removed = 0, n = 0;
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 60);
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, 40);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, "odd", &list), JWTS_OK);
    assert_int_equal(list.count, 20);
    jwts_session_list_free(&list);
    jwts_store_free(st);
}

static void background_sweep_removes_expired(void **state)
{
    jwts_memory_options o = {.shards = 4, .sweep_interval_ms = 10, .sweep_batch = 4, .clock = &FAKE};
    jwts_store *st;
    assert_int_equal(jwts_store_memory_new(&o, &st), JWTS_OK);
    char ids[200][JWTS_SESSION_ID_LEN + 1];
    for (int i = 0; i < 200; i++) {
        jwts_session s = session_at("sweep", ids[i], fake_now);
        assert_int_equal(jwts_store_set(st, NULL, &s, 50), JWTS_OK);
    }
    __atomic_add_fetch(&fake_now, 100, __ATOMIC_SEQ_CST);
    size_t n = 200;
    for (int waited = 0; waited < 5000 && n > 0; waited += 10) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
        assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    }
    assert_int_equal(n, 0); /* nobody read them: the sweep alone removed them */
    jwts_store_free(st);
}

static void tables_grow_and_keep_everything(void **state)
{
    jwts_memory_options o = {.shards = 1, .sweep_interval_ms = -1};
    jwts_store *st;
    assert_int_equal(jwts_store_memory_new(&o, &st), JWTS_OK);
    enum { N = 5000 };
    static char ids[N][JWTS_SESSION_ID_LEN + 1];
    char user[32];
    int64_t now = jwts_now_ms();
    for (int i = 0; i < N; i++) {
        snprintf(user, sizeof user, "grow%d", i % 37);
        jwts_session s = session_at(user, ids[i], now);
        assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    }
    for (int i = 0; i < N; i++) {
        snprintf(user, sizeof user, "grow%d", i % 37);
        jwts_session *got;
        assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){user, ids[i]}, &got), JWTS_OK);
        assert_string_equal(got->session_id, ids[i]);
        jwts_session_free(got);
    }
    size_t total = 0;
    for (int u = 0; u < 37; u++) {
        snprintf(user, sizeof user, "grow%d", u);
        jwts_session_list list;
        assert_int_equal(jwts_store_list_user(st, NULL, user, &list), JWTS_OK);
        total += list.count;
        jwts_session_list_free(&list);
    }
    assert_int_equal(total, N);
    jwts_store_free(st);
}

static void bad_options_are_rejected(void **state)
{
    jwts_store *st = NULL;
    jwts_memory_options o = {.shards = 1 << 20};
    assert_int_equal(jwts_store_memory_new(&o, &st), JWTS_E_INVALID_ARGUMENT);
    assert_null(st);
    assert_int_equal(jwts_store_memory_new(NULL, NULL), JWTS_E_INVALID_ARGUMENT);
    assert_string_equal(jwts_store_name(NULL), "none");
    assert_int_equal(jwts_store_memory_new(NULL, &st), JWTS_OK);
    assert_string_equal(jwts_store_name(st), "memory");
    jwts_store_free(st);
}

int main(void)
{
    jwts_conformance_target t = {.name = "memory", .open = open_memory, .lazy_expiry_only = true};
    int failed = jwts_store_conformance_run(&t);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(max_sessions_gives_limit),
        cmocka_unit_test(cleanup_removes_expired),
        cmocka_unit_test(background_sweep_removes_expired),
        cmocka_unit_test(tables_grow_and_keep_everything),
        cmocka_unit_test(bad_options_are_rejected),
    };
    return failed + cmocka_run_group_tests_name("memory store", tests, NULL, NULL);
}
