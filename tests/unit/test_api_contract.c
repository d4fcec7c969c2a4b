/*
 * test_api_contract.c - the library's calling conventions a C developer relies on (issue #16):
 * out parameters are safe to free after any failure and reusing one never leaks (item 2);
 * jwts_keyset_add takes its key in every case, and a duplicate kid's error reads as one (item 3);
 * jwts_errdetail() follows its one documented rule (item 5).
 * Leaks are caught by valgrind and ASan on this suite (make test-valgrind, test-asan) and, in a
 * plain run, by the main arena's in-use bytes staying flat over many in-place refreshes.
 */
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/error.h"
#include "jwtsession/jwtsession.h"

typedef struct fixture {
    jwts_store *store;
    jwts_keyset *keys;
    jwts_manager *m;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    jwts_key *k = NULL;
    assert_int_equal(jwts_store_memory_new(NULL, &f->store), JWTS_OK);
    assert_int_equal(jwts_keyset_new(&f->keys), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_HS256, NULL, &k), JWTS_OK);
    assert_int_equal(jwts_keyset_add(f->keys, k, 1), JWTS_OK);
    assert_int_equal(jwts_manager_new(&(jwts_manager_options){.store = f->store, .keyset = f->keys}, &f->m), JWTS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    jwts_manager_free(f->m);
    jwts_store_free(f->store);
    jwts_keyset_free(f->keys);
    free(f);
    return 0;
}

/* jwts_manager_refresh(m, ctx, t.refresh_token, &t), again and again: each call rotates, the new
 * pair works, and the old pair is released (no growth of the heap in use). */
static void refresh_into_the_same_struct(void **state)
{
    fixture *f = *state;
    jwts_tokens t;
    assert_int_equal(jwts_manager_create(f->m, NULL, "alice", NULL, &t), JWTS_OK);
    char before[JWTS_REFRESH_TOKEN_MAX + 1];
    for (int i = 0; i < 2; i++) {
        strcpy(before, t.refresh_token);
        assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &t), JWTS_OK);
        assert_string_not_equal(t.refresh_token, before);
        assert_int_equal(jwts_manager_validate(f->m, NULL, t.access_token, strlen(t.access_token), NULL, NULL),
                         JWTS_OK);
    }
    size_t used = mallinfo2().uordblks;
    for (int i = 0; i < 300; i++) assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &t), JWTS_OK);
    size_t grown = mallinfo2().uordblks - used;
    /* a leaked pair is ~480 B a call (~144 KB here); allow the store's own churn */
    assert_true(mallinfo2().uordblks < used || grown < 16 * 1024);
    jwts_tokens_clear(&t);
    assert_null(t.access_token);
    assert_int_equal(t.refresh_token[0], '\0');
}

/* A failed in-place refresh leaves the caller's pair as it was (and still safe to clear). */
static void failed_refresh_in_place_keeps_the_pair(void **state)
{
    fixture *f = *state;
    jwts_tokens t;
    assert_int_equal(jwts_manager_create(f->m, NULL, "bob", NULL, &t), JWTS_OK);
    char rt[JWTS_REFRESH_TOKEN_MAX + 1], at[8192];
    strcpy(rt, t.refresh_token);
    snprintf(at, sizeof at, "%s", t.access_token);
    assert_int_equal(jwts_manager_revoke(f->m, NULL, "bob", t.session_id), JWTS_OK);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &t), JWTS_E_NOT_FOUND);
    assert_string_equal(t.refresh_token, rt);
    assert_string_equal(t.access_token, at);
    jwts_tokens_clear(&t);
}

/* After a failure an out is empty whatever it held before (here: garbage), so freeing it is safe. */
static void failure_leaves_outs_empty(void **state)
{
    fixture *f = *state;
    jwts_tokens t;
    memset(&t, 0xA5, sizeof t);
    assert_int_equal(jwts_manager_create(f->m, NULL, "", NULL, &t), JWTS_E_INVALID_ARGUMENT);
    assert_null(t.access_token);
    assert_int_equal(t.refresh_token[0], '\0');
    jwts_tokens_clear(&t);

    memset(&t, 0xA5, sizeof t);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, "not-a-token", &t), JWTS_E_MALFORMED);
    assert_null(t.access_token);
    jwts_tokens_clear(&t);

    jwts_session_list list;
    memset(&list, 0xA5, sizeof list);
    assert_int_equal(jwts_manager_list(f->m, NULL, NULL, &list), JWTS_E_INVALID_ARGUMENT);
    assert_null(list.items);
    assert_int_equal(list.count, 0);
    jwts_session_list_free(&list);

    memset(&list, 0xA5, sizeof list);
    assert_int_equal(jwts_manager_list(NULL, NULL, "alice", &list), JWTS_E_INVALID_ARGUMENT);
    assert_null(list.items);
    jwts_session_list_free(&list);

    memset(&list, 0xA5, sizeof list);
    assert_int_equal(jwts_store_list_user(f->store, NULL, "", &list), JWTS_E_INVALID_ARGUMENT);
    assert_null(list.items);
    jwts_session_list_free(&list);
}

/* The README's call with its result ignored: a duplicate kid must not leak the key (valgrind and
 * ASan run this suite), and the error reads as a duplicate, naming the kid. */
static void keyset_add_takes_the_key(void **state)
{
    jwts_keyset *ks;
    jwts_key *a, *b, *c;
    assert_int_equal(jwts_keyset_new(&ks), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_ES256, "k1", &a), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_ES256, "k1", &b), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, a, 1), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, b, 1), JWTS_E_CONFLICT); /* b is freed */
    assert_non_null(strstr(jwts_strerror(JWTS_E_CONFLICT), "duplicate"));
    assert_non_null(strstr(jwts_errdetail(), "\"k1\""));
    assert_int_equal(jwts_keyset_count(ks), 1);
    assert_ptr_equal(jwts_keyset_active(ks), a);
    assert_int_equal(jwts_key_generate(JWTS_ALG_ES256, "k2", &c), JWTS_OK);
    assert_int_equal(jwts_keyset_add(NULL, c, 0), JWTS_E_INVALID_ARGUMENT); /* c is freed */
    assert_int_equal(jwts_keyset_add(ks, NULL, 0), JWTS_E_INVALID_ARGUMENT);
    jwts_keyset_free(ks);
}

/* ---- jwts_errdetail (error.h): every failing call sets this thread's detail (never leaving an
 * earlier one); a successful call leaves it as it was; the pointer is a per-thread buffer, valid
 * while the thread lives; other threads' failures do not touch it. */

#define SENTINEL "sentinel detail of an earlier failure"

typedef struct failing_call {
    const char *name;
    jwts_err (*run)(void);
} failing_call;

static jwts_err fail_b64(void)
{
    uint8_t out[8];
    size_t n;
    return jwts_b64url_decode("!!!!", 4, out, sizeof out, &n);
}
static jwts_err fail_duration(void)
{
    int64_t ms;
    return jwts_duration_parse_ms("12 parsecs", &ms);
}
static jwts_err fail_jwk(void)
{
    jwts_key *k = NULL;
    return jwts_key_from_jwk("{\"kty\":\"nope\"}", 14, JWTS_ALG_UNSET, &k);
}
static jwts_err fail_keyset_parse(void)
{
    jwts_keyset *ks = NULL;
    return jwts_keyset_parse("not a key", 9, JWTS_ALG_UNSET, &ks);
}
static jwts_err fail_verify(void)
{
    jwts_keyset *ks = NULL;
    jwts_key *k = NULL;
    jwts_err rc = jwts_keyset_new(&ks);
    if (!rc) rc = jwts_key_generate(JWTS_ALG_HS256, NULL, &k);
    if (!rc) rc = jwts_keyset_add(ks, k, 1);
    if (!rc) rc = jwts_fail(JWTS_E_INTERNAL, SENTINEL); /* the setup succeeded: restore the sentinel */
    rc = jwts_jwt_verify(ks, "a.b.c", 5, NULL, NULL, NULL);
    jwts_keyset_free(ks);
    return rc;
}
static jwts_err fail_session_json(void)
{
    jwts_session *s = NULL;
    return jwts_session_from_json("{}", 2, NULL, &s);
}
static jwts_err fail_store_url(void)
{
    jwts_store *st = NULL;
    return jwts_store_open_url("gopher://nowhere", &st);
}
static jwts_err fail_traceparent(void)
{
    jwts_trace_parent p;
    return jwts_traceparent_parse("00-zz", &p);
}
static jwts_err fail_manager_new(void)
{
    jwts_manager *m = NULL;
    return jwts_manager_new(&(jwts_manager_options){0}, &m);
}
static jwts_err fail_list(void)
{
    jwts_session_list list;
    return jwts_manager_list(NULL, NULL, "u", &list);
}

static void errdetail_every_failure_sets_it(void **state)
{
    static const failing_call CALLS[] = {
        {"b64url_decode", fail_b64},         {"duration_parse_ms", fail_duration},
        {"key_from_jwk", fail_jwk},          {"keyset_parse", fail_keyset_parse},
        {"jwt_verify", fail_verify},         {"session_from_json", fail_session_json},
        {"store_open_url", fail_store_url},  {"traceparent_parse", fail_traceparent},
        {"manager_new", fail_manager_new},   {"manager_list", fail_list},
    };
    for (size_t i = 0; i < sizeof CALLS / sizeof *CALLS; i++) {
        jwts_fail(JWTS_E_INTERNAL, SENTINEL);
        jwts_err rc = CALLS[i].run();
        if (rc == JWTS_OK) fail_msg("%s: expected a failure", CALLS[i].name);
        const char *d = jwts_errdetail();
        if (!*d || strstr(d, SENTINEL))
            fail_msg("%s failed (%s) without setting its own detail: \"%s\"", CALLS[i].name, jwts_errname(rc), d);
    }
}

static void *fail_on_another_thread(void *arg)
{
    const char **seen = arg;
    seen[0] = jwts_errdetail();
    seen[1] = strdup(seen[0]); /* a new thread starts with "" */
    jwts_fail(JWTS_E_INTERNAL, "the other thread's failure");
    return NULL;
}

static void errdetail_success_keeps_it_and_threads_are_apart(void **state)
{
    const char *p = jwts_errdetail();
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(NULL, NULL, "u", &list), JWTS_E_INVALID_ARGUMENT);
    char first[256];
    snprintf(first, sizeof first, "%s", jwts_errdetail());
    assert_true(first[0] != '\0');
    assert_ptr_equal(jwts_errdetail(), p); /* one buffer per thread */
    jwts_keyset *ks;
    assert_int_equal(jwts_keyset_new(&ks), JWTS_OK); /* a success leaves the detail alone */
    int64_t ms;
    assert_int_equal(jwts_duration_parse_ms("15m", &ms), JWTS_OK);
    assert_string_equal(jwts_errdetail(), first);
    const char *seen[2] = {0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fail_on_another_thread, seen), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_string_equal(seen[1], "");
    free((void *)seen[1]);
    assert_string_equal(jwts_errdetail(), first); /* untouched by the other thread */
    jwts_keyset_free(ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(refresh_into_the_same_struct, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_refresh_in_place_keeps_the_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_leaves_outs_empty, setup, teardown),
        cmocka_unit_test(keyset_add_takes_the_key),
        cmocka_unit_test(errdetail_every_failure_sets_it),
        cmocka_unit_test(errdetail_success_keeps_it_and_threads_are_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
