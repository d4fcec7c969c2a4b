/*
 * test_manager_keyswap.c - jwts_manager_set_keyset under load: threads validate and create while
 * the main thread swaps the key set back and forth and frees each previous set at once (a use
 * after free or a data race shows under ASan/TSan; the unit label runs under both). Tokens whose
 * key is in every set always validate; a token of a key taken out is refused
 * JWTS_E_KEY_NOT_FOUND, and the key-miss hook hears of it.
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
#include <stdatomic.h>

#include "jwtsession/manager.h"

#define SWAPS 400
#define THREADS 3

static char *jwks_of(const char *const *kids, size_t n, const char *active)
{
    /* fixed HS256 secrets per kid, so each set holds its own copies of the same keys */
    char *out = malloc(4096);
    size_t o = (size_t)snprintf(out, 4096, "{\"keys\":[");
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            if ((pass == 0) != (strcmp(kids[i], active) == 0)) continue; /* the active key first */
            o += (size_t)snprintf(out + o, 4096 - o, "%s{\"kty\":\"oct\",\"alg\":\"HS256\",\"kid\":\"%s\",\"k\":\"%s%s\"}",
                                  o > 9 ? "," : "", kids[i], kids[i], "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        }
    snprintf(out + o, 4096 - o, "]}");
    return out;
}

static jwts_keyset *set_of(const char *const *kids, size_t n, const char *active)
{
    char *text = jwks_of(kids, n, active);
    jwts_keyset *ks = NULL;
    assert_int_equal(jwts_keyset_parse(text, strlen(text), JWTS_ALG_UNSET, &ks), JWTS_OK);
    free(text);
    assert_string_equal(jwts_key_kid(jwts_keyset_active(ks)), active);
    return ks;
}

typedef struct shared {
    jwts_manager *m;
    char *tokens[2]; /* signed by key "A" and by key "B" */
    atomic_bool stop;
    atomic_long ok, failed, created;
} shared;

static void *validator(void *arg)
{
    shared *sh = arg;
    unsigned i = 0;
    while (!atomic_load(&sh->stop)) {
        const char *tok = sh->tokens[i++ & 1];
        jwts_err rc = jwts_manager_validate(sh->m, NULL, tok, strlen(tok), NULL, NULL);
        atomic_fetch_add(rc == JWTS_OK ? &sh->ok : &sh->failed, 1);
        if ((i & 63) == 0) { /* let the swapping thread in (valgrind's lock is not fair) */
            struct timespec nap = {0, 1000};
            nanosleep(&nap, NULL);
        }
        if ((i & 15) == 0) { /* signing under the swap too */
            jwts_tokens t;
            if (jwts_manager_create(sh->m, NULL, "bob", NULL, &t) == JWTS_OK) atomic_fetch_add(&sh->created, 1);
            jwts_tokens_clear(&t);
        }
    }
    return NULL;
}

static atomic_int misses;
static void on_miss(void *arg)
{
    (void)arg;
    atomic_fetch_add(&misses, 1);
}

static void test_swap_under_validation(void **s)
{
    (void)s;
    static const char *const AB[] = {"A", "B"}, *const ABC[] = {"A", "B", "C"}, *const BC[] = {"B", "C"};
    jwts_store *store;
    assert_int_equal(jwts_store_memory_new(NULL, &store), JWTS_OK);
    jwts_keyset *first = set_of(AB, 2, "A");
    jwts_manager_options mo = {.store = store, .keyset = first, .access_ttl_ms = 3600 * 1000};
    shared sh = {0};
    assert_int_equal(jwts_manager_new(&mo, &sh.m), JWTS_OK);
    jwts_manager_set_key_miss_hook(sh.m, on_miss, NULL);
    jwts_tokens ta, tb;
    assert_int_equal(jwts_manager_create(sh.m, NULL, "alice", NULL, &ta), JWTS_OK);
    jwts_keyset *second = set_of(ABC, 3, "B");
    const jwts_keyset *prev = NULL;
    assert_int_equal(jwts_manager_set_keyset(sh.m, second, &prev), JWTS_OK);
    assert_ptr_equal(prev, first);
    jwts_keyset_free(first);
    assert_int_equal(jwts_manager_create(sh.m, NULL, "alice", NULL, &tb), JWTS_OK);
    sh.tokens[0] = ta.access_token;
    sh.tokens[1] = tb.access_token;

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, validator, &sh), 0);
    /* swap between sets that all hold A and B, each a fresh copy; free the previous one at once.
     * Each swap waits for a validation after the one before (valgrind runs one thread at a time:
     * without that the swaps could all happen while no validator runs). */
    struct timespec nap = {0, 50 * 1000};
    for (int i = 0; i < SWAPS; i++) {
        long seen = atomic_load(&sh.ok);
        jwts_keyset *next = i & 1 ? set_of(AB, 2, "A") : set_of(ABC, 3, i & 2 ? "C" : "B");
        assert_int_equal(jwts_manager_set_keyset(sh.m, next, &prev), JWTS_OK);
        jwts_keyset_free((jwts_keyset *)prev);
        while (atomic_load(&sh.ok) == seen && atomic_load(&sh.failed) == 0) nanosleep(&nap, NULL);
    }
    atomic_store(&sh.stop, true);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&sh.failed), 0);
    assert_true(atomic_load(&sh.ok) > 0);
    assert_true(atomic_load(&sh.created) > 0);
    assert_int_equal(atomic_load(&misses), 0);

    /* a set without a signing key is refused; the set in service stays */
    jwts_keyset *empty;
    assert_int_equal(jwts_keyset_new(&empty), JWTS_OK);
    assert_int_equal(jwts_manager_set_keyset(sh.m, empty, &prev), JWTS_E_BAD_KEY);
    jwts_keyset_free(empty);
    assert_int_equal(jwts_manager_validate(sh.m, NULL, ta.access_token, strlen(ta.access_token), NULL, NULL), JWTS_OK);

    /* A retired: its token is refused with KEY_NOT_FOUND, the hook is told */
    assert_int_equal(jwts_manager_set_keyset(sh.m, set_of(BC, 2, "B"), &prev), JWTS_OK);
    jwts_keyset_free((jwts_keyset *)prev);
    assert_int_equal(jwts_manager_validate(sh.m, NULL, ta.access_token, strlen(ta.access_token), NULL, NULL),
                     JWTS_E_KEY_NOT_FOUND);
    assert_int_equal(atomic_load(&misses), 1);
    assert_int_equal(jwts_manager_validate(sh.m, NULL, tb.access_token, strlen(tb.access_token), NULL, NULL), JWTS_OK);

    jwts_keyset_free((jwts_keyset *)jwts_manager_options_get(sh.m)->keyset);
    jwts_tokens_clear(&ta);
    jwts_tokens_clear(&tb);
    jwts_manager_free(sh.m);
    jwts_store_free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_under_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
