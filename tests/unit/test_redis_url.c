/*
 * test_redis_url.c - the Redis URL parser (redis:// and unix:// forms) and its refusals.
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
    assert_int_equal(jwts_redis_url_parse("rediss://host", &a), JWTS_E_UNSUPPORTED);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_tcp_form),     cmocka_unit_test(short_tcp_forms),
        cmocka_unit_test(unix_forms),        cmocka_unit_test(bad_urls_are_refused),
        cmocka_unit_test(options_are_checked),
    };
    return cmocka_run_group_tests_name("redis url", tests, NULL, NULL);
}
