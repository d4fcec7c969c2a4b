/*
 * test_redis_url.c - the Redis URL parser (redis://, rediss://, unix://), the query options of
 * every Redis URL form, the one store opener, and their refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/jwtsession.h"
#include "store/redis.h"

static redis_addr parse_ok(const char *url)
{
    redis_addr a = {.port = 6379};
    assert_int_equal(jwts_redis_url_parse(url, &a), JWTS_OK);
    return a;
}

static void full_tcp_form(void **state)
{
    redis_addr a = parse_ok("redis://alice:p%40ss%3Aw@cache.example:6380/3");
    assert_string_equal(a.host, "cache.example");
    assert_int_equal(a.port, 6380);
    assert_string_equal(a.username, "alice");
    assert_string_equal(a.password, "p@ss:w");
    assert_int_equal(a.db, 3);
    assert_null(a.unix_path);
    jwts_redis_addr_clear(&a);
    assert_null(a.password);
}

static void short_tcp_forms(void **state)
{
    redis_addr a = parse_ok("redis://localhost");
    assert_string_equal(a.host, "localhost");
    assert_int_equal(a.port, 6379); /* kept default */
    assert_null(a.password);
    assert_int_equal(a.db, 0);
    jwts_redis_addr_clear(&a);
    a = parse_ok("redis://:only-pw@10.0.0.1:7000?db=5");
    assert_null(a.username);
    assert_string_equal(a.password, "only-pw");
    assert_int_equal(a.port, 7000);
    assert_int_equal(a.db, 5);
    jwts_redis_addr_clear(&a);
    a = parse_ok("redis://[::1]:6390/");
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 6390);
    jwts_redis_addr_clear(&a);
}

static void unix_forms(void **state)
{
    redis_addr a = parse_ok("unix:///run/redis/redis.sock?db=2");
    assert_string_equal(a.unix_path, "/run/redis/redis.sock");
    assert_null(a.host);
    assert_int_equal(a.db, 2);
    jwts_redis_addr_clear(&a);
    a = parse_ok("unix://bob:pw@/tmp/r%20s.sock");
    assert_string_equal(a.unix_path, "/tmp/r s.sock");
    assert_string_equal(a.username, "bob");
    assert_string_equal(a.password, "pw");
    jwts_redis_addr_clear(&a);
}

static void bad_urls_are_refused(void **state)
{
    const char *bad[] = {"http://x", "redis://", "redis://host:0", "redis://host:65536", "redis://host:12ab",
                         "redis://host/notadb", "redis://host?foo=1", "redis://[::1", "redis://a b",
                         "unix://relative.sock", "unix://", "redis://u:%zz@host", "redis://u:%00@host", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        redis_addr a = {0};
        assert_int_equal(jwts_redis_url_parse(bad[i], &a), JWTS_E_INVALID_ARGUMENT);
        assert_true(strlen(jwts_errdetail()) > 0);
        jwts_redis_addr_clear(&a);
    }
    redis_addr a = {0};
    assert_int_equal(jwts_redis_url_parse("rediss://host:6380/2", &a), JWTS_OK); /* TLS form: same address */
    assert_string_equal(a.host, "host");
    assert_int_equal(a.db, 2);
    assert_int_equal(jwts_redis_url_parse("redis://u:hunter2@host:99999", &a), JWTS_E_INVALID_ARGUMENT);
    assert_null(strstr(jwts_errdetail(), "hunter2")); /* never the password */
    jwts_redis_addr_clear(&a);
}

static void options_are_checked(void **state)
{
    jwts_store *st = NULL;
    jwts_redis_options o = {.key_prefix = "bad{prefix"};
    assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_E_INVALID_ARGUMENT);
    o = (jwts_redis_options){.url = "ftp://x"};
    assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_E_INVALID_ARGUMENT);
    o = (jwts_redis_options){.pool_size = 100000};
    assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_E_INVALID_ARGUMENT);
    assert_null(st);
    assert_int_equal(jwts_store_redis_new(NULL, &st), JWTS_OK); /* defaults; lazy, so no server needed */
    assert_string_equal(jwts_store_name(st), "redis");
    jwts_store_free(st);
}

static redis_query query_ok(const char *url)
{
    redis_query q;
    assert_int_equal(jwts_redis_query_parse(url, &q), JWTS_OK);
    return q;
}

static void query_options_are_parsed(void **state)
{
    redis_query q = query_ok("rediss://h/1?connect_timeout=250ms&command_timeout=3&pool_size=16&key_prefix=app%3A"
                             "&pipeline=yes&pipeline_connections=2&db=4&tls_ca=%2Fetc%2Fca.pem&tls_cert=/c.pem"
                             "&tls_key=/k.pem&tls_server_name=redis.internal&tls_insecure=false&tls_ca_dir=/etc/ssl&spin_us=50");
    assert_int_equal(q.connect_timeout_ms, 250);
    assert_int_equal(q.command_timeout_ms, 3000); /* a bare number is seconds, as the programs take it */
    assert_int_equal(q.pool_size, 16);
    assert_string_equal(q.key_prefix, "app:");
    assert_int_equal(q.pipeline, 1);
    assert_int_equal(q.pipeline_connections, 2);
    assert_int_equal(q.spin_us, 50);
    assert_int_equal(q.db, 4);
    assert_string_equal(q.tls_ca, "/etc/ca.pem");
    assert_string_equal(q.tls_server_name, "redis.internal");
    assert_int_equal(q.tls_insecure, 0);
    jwts_redis_query_clear(&q);
    q = query_ok("rediss-sentinel://s1:26379,s2:26379/mymaster?wait_replicas=1&wait_timeout=200ms&sentinel_user=mon"
                 "&sentinel_password=s3cr%26t&tls_ca=/ca.pem");
    assert_int_equal(q.wait_replicas, 1);
    assert_int_equal(q.wait_timeout_ms, 200);
    assert_string_equal(q.sentinel_username, "mon");
    assert_string_equal(q.sentinel_password, "s3cr&t");
    jwts_redis_query_clear(&q);
    assert_null(q.sentinel_password);
    q = query_ok("redis-cluster://a:1,b:2?wait_replicas=2");
    assert_int_equal(q.wait_replicas, 2);
    assert_int_equal(q.pool_size, -1); /* not given */
    jwts_redis_query_clear(&q);
    /* the url parser takes db from the query, over the path */
    redis_addr a = {0};
    assert_int_equal(jwts_redis_url_parse("redis://h/1?db=7&pool_size=2", &a), JWTS_OK);
    assert_int_equal(a.db, 7);
    jwts_redis_addr_clear(&a);
}

/* url must fail with INVALID_ARGUMENT and a detail containing want. */
static void refused(const char *url, const char *want)
{
    redis_query q;
    assert_int_equal(jwts_redis_query_parse(url, &q), JWTS_E_INVALID_ARGUMENT);
    if (!strstr(jwts_errdetail(), want)) fail_msg("%s: detail \"%s\" lacks \"%s\"", url, jwts_errdetail(), want);
    assert_null(strstr(jwts_errdetail(), "hunter2"));
}

static void bad_query_options_are_named(void **state)
{
    refused("redis://h?bogus=1", "unknown option \"bogus\"");
    refused("redis://h?db=1&tls_ca=/x", "tls_ca needs a TLS URL");
    refused("redis://h?wait_replicas=1", "wait_replicas does not apply to redis:// URLs");
    refused("redis-cluster://h:1?db=2", "db does not apply to redis-cluster:// URLs");
    refused("redis-cluster://h:1?pipeline=true", "pipeline does not apply");
    refused("redis://h?sentinel_password=hunter2", "sentinel_password does not apply");
    refused("redis-sentinel://h:1/m?sentinel_password=hunter2&sentinel_password=hunter2", "given twice");
    refused("redis://h?pool_size=0", "pool_size");
    refused("redis://h?pool_size=5000", "pool_size");
    refused("redis://h?spin_us=1001", "spin_us");
    refused("redis-cluster://h:1?spin_us=10", "spin_us does not apply");
    refused("redis://h?connect_timeout=soon", "connect_timeout");
    refused("redis://h?pipeline=maybe", "pipeline");
    refused("redis://h?key_prefix=", "key_prefix: empty");
    refused("redis://h?db", "db has no value");
    refused("redis://h?&db=1", "empty option");
    refused("rediss://h?tls_ca=%zz", "bad percent escape");
    refused("redis://h?pass=hunter2", "unknown option \"pass\"");
    /* through the stores' own constructors too */
    jwts_store *st = NULL;
    jwts_redis_options o = {.url = "redis://h?colour=blue"};
    assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "colour"));
    assert_int_equal(jwts_store_open_url("redis-cluster://h:1?colour=blue", &st), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "colour"));
    assert_int_equal(jwts_store_open_url("rediss-sentinel://h:1/m?colour=blue", &st), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "colour"));
    assert_null(st);
}

static void one_opener_for_every_form(void **state)
{
    const struct {
        const char *url, *name;
    } forms[] = {
        {"memory", "memory"},
        {"redis://127.0.0.1:1?pool_size=2&command_timeout=1s", "redis"},
        {"unix:///tmp/nowhere.sock?pipeline=true", "redis"},
        {"rediss://127.0.0.1:1?tls_insecure=true", "redis"},
        {"redis-cluster://127.0.0.1:1,127.0.0.1:2?wait_replicas=1&wait_timeout=100ms", "redis-cluster"},
        {"rediss-cluster://127.0.0.1:1?tls_insecure=true", "redis-cluster"},
        {"redis-sentinel://127.0.0.1:1/mymaster?wait_replicas=1&sentinel_password=x", "redis-sentinel"},
        {"rediss-sentinel://127.0.0.1:1/mymaster/2?tls_insecure=true", "redis-sentinel"},
    };
    jwts_store_open_options oo = {.command_timeout_ms = 1500, .memory_max_sessions = 10};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        jwts_store *st = NULL;
        if (jwts_store_open(forms[i].url, &oo, &st) != JWTS_OK) fail_msg("%s: %s", forms[i].url, jwts_errdetail());
        assert_string_equal(jwts_store_name(st), forms[i].name);
        jwts_store_free(st);
    }
    jwts_store *st = NULL;
    assert_int_equal(jwts_store_open("http://x", NULL, &st), JWTS_E_UNSUPPORTED);
    assert_non_null(strstr(jwts_errdetail(), "rediss-cluster://"));
    /* TLS files are loaded when the store is made: a missing one is named at once */
    assert_int_equal(jwts_store_open("rediss://127.0.0.1:1?tls_ca=/nonexistent/ca.pem", NULL, &st),
                     JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "/nonexistent/ca.pem"));
    assert_int_equal(jwts_store_open("rediss://127.0.0.1:1?tls_cert=/c.pem", NULL, &st), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "go together"));
    jwts_redis_options o = {.unix_path = "/tmp/x.sock", .tls = {.enabled = true, .insecure = true}};
    assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_E_INVALID_ARGUMENT);
    assert_null(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_tcp_form),     cmocka_unit_test(short_tcp_forms),
        cmocka_unit_test(unix_forms),        cmocka_unit_test(bad_urls_are_refused),
        cmocka_unit_test(options_are_checked), cmocka_unit_test(query_options_are_parsed),
        cmocka_unit_test(bad_query_options_are_named), cmocka_unit_test(one_opener_for_every_form),
    };
    return cmocka_run_group_tests_name("redis url", tests, NULL, NULL);
}
