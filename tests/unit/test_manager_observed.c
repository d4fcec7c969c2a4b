/*
 * test_manager_observed.c - the manager's operation boundary in metrics: exact counters and
 * refresh outcomes after a known sequence of operations, and nothing identifying in any label.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/jwtsession.h"

/* The rendered Prometheus text must hold this exact sample line. */
static void expect_line(const char *text, const char *line)
{
    char want[256];
    snprintf(want, sizeof want, "\n%s\n", line);
    if (!strstr(text, want)) fail_msg("missing sample: %s", line);
}

static void counts_every_operation(void **state)
{
    jwts_metrics *metrics;
    assert_int_equal(jwts_metrics_new(NULL, &metrics), JWTS_OK);
    jwts_store *inner, *store;
    assert_int_equal(jwts_store_memory_new(NULL, &inner), JWTS_OK);
    assert_int_equal(jwts_store_observe_new(inner, metrics, NULL, &store), JWTS_OK);
    jwts_keyset *ks;
    jwts_key *k, *old;
    assert_int_equal(jwts_keyset_new(&ks), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_HS256, "new", &k), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_HS256, "old", &old), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, k, 1), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, old, 0), JWTS_OK);
    jwts_manager_options o = {.store = store, .keyset = ks, .metrics = metrics, .refresh_grace_ms = -1};
    jwts_manager *m;
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_OK);

    jwts_tokens a, b, r, dummy;
    assert_int_equal(jwts_manager_create(m, NULL, "secret-user@example.com", "{\"ip\":\"192.0.2.7\"}", &a), JWTS_OK);
    assert_int_equal(jwts_manager_create(m, NULL, "secret-user@example.com", NULL, &b), JWTS_OK);
    assert_int_equal(jwts_manager_validate(m, NULL, a.access_token, strlen(a.access_token), NULL, NULL), JWTS_OK);
    assert_int_equal(jwts_manager_validate(m, NULL, b.access_token, strlen(b.access_token), NULL, NULL), JWTS_OK);
    assert_int_equal(jwts_manager_validate(m, NULL, "x.y.z", 5, NULL, NULL), JWTS_E_MALFORMED);
    assert_int_equal(jwts_manager_refresh(m, NULL, a.refresh_token, &r), JWTS_OK);
    assert_int_equal(jwts_manager_validate(m, NULL, r.access_token, strlen(r.access_token), NULL, NULL), JWTS_OK);
    assert_int_equal(jwts_manager_refresh(m, NULL, a.refresh_token, &dummy), JWTS_E_REFRESH_REUSED); /* no grace */
    assert_int_equal(jwts_manager_revoke(m, NULL, "secret-user@example.com", b.session_id), JWTS_OK);
    assert_int_equal(jwts_manager_validate(m, NULL, b.access_token, strlen(b.access_token), NULL, NULL),
                     JWTS_E_REVOKED);
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(m, NULL, "secret-user@example.com", &list), JWTS_OK);
    assert_int_equal(list.count, 0);
    size_t n;
    assert_int_equal(jwts_manager_revoke_user(m, NULL, "secret-user@example.com", &n), JWTS_OK);
    assert_int_equal(jwts_manager_cleanup(m, NULL, &n), JWTS_OK);

    char *text;
    size_t len;
    assert_int_equal(jwts_metrics_render(metrics, JWTS_METRICS_PROMETHEUS, &text, &len), JWTS_OK);
    expect_line(text, "jwtsession_operations_total{op=\"create\",result=\"ok\"} 2");
    expect_line(text, "jwtsession_operations_total{op=\"validate\",result=\"ok\"} 3");
    expect_line(text, "jwtsession_operations_total{op=\"validate\",result=\"JWTS_E_MALFORMED\"} 1");
    expect_line(text, "jwtsession_operations_total{op=\"validate\",result=\"JWTS_E_REVOKED\"} 1");
    expect_line(text, "jwtsession_operations_total{op=\"refresh\",result=\"ok\"} 1");
    expect_line(text, "jwtsession_operations_total{op=\"refresh\",result=\"JWTS_E_REFRESH_REUSED\"} 1");
    expect_line(text, "jwtsession_operations_total{op=\"revoke\",result=\"ok\"} 1");
    expect_line(text, "jwtsession_operations_total{op=\"revoke_user\",result=\"ok\"} 1");
    expect_line(text, "jwtsession_operations_total{op=\"list\",result=\"ok\"} 1");
    expect_line(text, "jwtsession_operations_total{op=\"cleanup\",result=\"ok\"} 1");
    expect_line(text, "jwtsession_refresh_total{outcome=\"rotated\"} 1");
    expect_line(text, "jwtsession_refresh_total{outcome=\"reused\"} 1");
    expect_line(text, "jwtsession_operation_duration_seconds_count{op=\"validate\"} 5");
    expect_line(text, "jwtsession_keyset_keys{state=\"active\"} 1");
    expect_line(text, "jwtsession_keyset_keys{state=\"verify_only\"} 1");
    /* the store calls went through the observed store: e.g. one get per validate that verified */
    expect_line(text, "jwtsession_store_operations_total{backend=\"memory\",op=\"get\",result=\"ok\"} 5");
    /* the first use of the rotated pair confirmed it: one rotate of the refresh state */
    expect_line(text, "jwtsession_store_operations_total{backend=\"memory\",op=\"rotate\",result=\"ok\"} 1");
    /* nothing identifying anywhere */
    assert_null(strstr(text, "secret-user"));
    assert_null(strstr(text, a.session_id));
    assert_null(strstr(text, "192.0.2.7"));
    free(text);

    jwts_tokens_clear(&a);
    jwts_tokens_clear(&b);
    jwts_tokens_clear(&r);
    jwts_manager_free(m);
    jwts_store_free(store);
    jwts_keyset_free(ks);
    jwts_metrics_free(metrics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(counts_every_operation)};
    return cmocka_run_group_tests_name("manager observed", tests, NULL, NULL);
}
