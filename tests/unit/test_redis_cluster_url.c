/*
 * test_redis_cluster_url.c - the host lists of redis-cluster:// and redis-sentinel:// URLs, the
 * cluster key slot function (CRC16-XMODEM with hash tags) and the slot of a command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/jwtsession.h"
#include "store/redis.h"

static void cluster_host_list(void **state)
{
    (void)state;
    redis_addr *a = NULL;
    size_t n = 0;
    char *path = NULL;
    assert_int_equal(jwts_redis_seeds_parse("redis-cluster://bob:s%40c@10.0.0.1:7000,[::1]:7001,node3:7002",
                                            "redis-cluster", &a, &n, &path),
                     JWTS_OK);
    assert_int_equal(n, 3);
    assert_string_equal(a[0].host, "10.0.0.1");
    assert_int_equal(a[0].port, 7000);
    assert_string_equal(a[1].host, "::1");
    assert_int_equal(a[1].port, 7001);
    assert_string_equal(a[2].host, "node3");
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(a[i].username, "bob");
        assert_string_equal(a[i].password, "s@c");
    }
    assert_string_equal(path, "");
    jwts_redis_seeds_free(a, n);
    free(path);
}

static void sentinel_path(void **state)
{
    (void)state;
    redis_addr *a = NULL;
    size_t n = 0;
    char *path = NULL;
    assert_int_equal(jwts_redis_seeds_parse("redis-sentinel://s1:26379,s2/mymaster/2", "redis-sentinel", &a, &n, &path),
                     JWTS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(a[1].port, 6379); /* no port: the default */
    assert_null(a[0].password);
    assert_string_equal(path, "mymaster/2");
    jwts_redis_seeds_free(a, n);
    free(path);
}

static void bad_urls_are_refused(void **state)
{
    (void)state;
    static const char *const CLUSTER[] = {
        "redis-cluster://", "redis-cluster://a:1,,b:2", "redis-cluster://a:99999", "redis-cluster://a:1/0",
        "redis://a:1",      "redis-cluster://a:1,b:x",
    };
    for (size_t i = 0; i < sizeof CLUSTER / sizeof *CLUSTER; i++) {
        jwts_redis_cluster_options o = {.url = CLUSTER[i]};
        jwts_store *st = (jwts_store *)&o;
        assert_int_equal(jwts_store_redis_cluster_new(&o, &st), JWTS_E_INVALID_ARGUMENT);
        assert_null(st);
    }
    static const char *const SENTINEL[] = {"redis-sentinel://a:1", "redis-sentinel://a:1/", "redis-sentinel://a:1/m/x"};
    for (size_t i = 0; i < sizeof SENTINEL / sizeof *SENTINEL; i++) {
        jwts_redis_sentinel_options o = {.url = SENTINEL[i]};
        jwts_store *st = NULL;
        assert_int_equal(jwts_store_redis_sentinel_new(&o, &st), JWTS_E_INVALID_ARGUMENT);
    }
    jwts_redis_cluster_options big = {.url = "redis-cluster://a:1", .pool_size = 5000};
    jwts_store *st = NULL;
    assert_int_equal(jwts_store_redis_cluster_new(&big, &st), JWTS_E_INVALID_ARGUMENT);
    jwts_redis_sentinel_options neg = {.url = "redis-sentinel://a:1/m", .wait_replicas = -1};
    assert_int_equal(jwts_store_redis_sentinel_new(&neg, &st), JWTS_E_INVALID_ARGUMENT);
}

static void stores_open_lazily(void **state)
{
    (void)state;
    jwts_store *st = NULL;
    assert_int_equal(jwts_store_open_url("redis-cluster://127.0.0.1:1,127.0.0.1:2", &st), JWTS_OK);
    assert_string_equal(jwts_store_name(st), "redis-cluster");
    jwts_store_free(st);
    assert_int_equal(jwts_store_open_url("redis-sentinel://127.0.0.1:1/mymaster", &st), JWTS_OK);
    assert_string_equal(jwts_store_name(st), "redis-sentinel");
    jwts_store_free(st);
}

static void key_slots(void **state)
{
    (void)state;
    assert_int_equal(jwts_redis_key_slot("123456789", 9), 12739); /* the specification's vector */
    assert_int_equal(jwts_redis_key_slot("jwts:{alice}:s:x", 16), jwts_redis_key_slot("alice", 5));
    assert_int_equal(jwts_redis_key_slot("{}alice", 7), jwts_redis_key_slot("{}alice", 7));
    assert_int_not_equal(jwts_redis_key_slot("{}alice", 7), jwts_redis_key_slot("alice", 5)); /* empty tag: whole key */
    assert_int_equal(jwts_redis_key_slot("a{b}{c}", 7), jwts_redis_key_slot("b", 1));         /* first tag only */
    const char *get[] = {"GET", "jwts:{bob}:s:1"}, *eval[] = {"EVALSHA", "sha", "2", "jwts:{bob}:idx", "k2"},
               *nokeys[] = {"EVALSHA", "sha", "0"}, *ping[] = {"PING", "x"};
    size_t get_len[] = {3, 14}, eval_len[] = {7, 3, 1, 14, 2}, nokeys_len[] = {7, 3, 1}, ping_len[] = {4, 1};
    redis_cmd c1 = {2, get, get_len}, c2 = {5, eval, eval_len}, c3 = {3, nokeys, nokeys_len}, c4 = {2, ping, ping_len};
    assert_int_equal(jwts_redis_cmd_slot(&c1), (int)jwts_redis_key_slot("bob", 3));
    assert_int_equal(jwts_redis_cmd_slot(&c2), (int)jwts_redis_key_slot("bob", 3));
    assert_int_equal(jwts_redis_cmd_slot(&c3), -1);
    assert_int_equal(jwts_redis_cmd_slot(&c4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cluster_host_list),  cmocka_unit_test(sentinel_path), cmocka_unit_test(bad_urls_are_refused),
        cmocka_unit_test(stores_open_lazily), cmocka_unit_test(key_slots),
    };
    return cmocka_run_group_tests_name("redis cluster and sentinel urls", tests, NULL, NULL);
}
