/*
 * test_redis_resp.c - our RESP writer (redis_resp.c) against hiredis's own formatter, byte for
 * byte: empty and binary arguments, lengths across each digit boundary, many arguments, several
 * commands in one buffer.
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

/* hiredis's encoding of cmds[0..n), concatenated, in *out (malloc'd); its length. */
static size_t hiredis_encoding(const redis_cmd *cmds, size_t n, char **out)
{
    size_t len = 0;
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        char *one = NULL;
        int k = redisFormatCommandArgv(&one, cmds[i].argc, (const char **)cmds[i].argv, cmds[i].argvlen);
        assert_true(k > 0);
        *out = realloc(*out, len + (size_t)k);
        assert_non_null(*out);
        memcpy(*out + len, one, (size_t)k);
        len += (size_t)k;
        free(one);
    }
    return len;
}

static void assert_same_as_hiredis(const redis_cmd *cmds, size_t n)
{
    char *want = NULL;
    size_t want_len = hiredis_encoding(cmds, n, &want);
    assert_int_equal(jwts_redis_resp_len(cmds, n), want_len);
    char *got = malloc(want_len + 1);
    assert_non_null(got);
    got[want_len] = 'X'; /* nothing is written past the length */
    jwts_redis_resp_write(cmds, n, got);
    assert_memory_equal(got, want, want_len);
    assert_int_equal(got[want_len], 'X');
    free(got);
    free(want);
}

static void one_command(void **state)
{
    (void)state;
    const char *argv[] = {"GET", "jwts:{abc}:s:xyz"};
    size_t lens[] = {3, 16};
    redis_cmd c = {2, argv, lens};
    assert_same_as_hiredis(&c, 1);
    char buf[64];
    jwts_redis_resp_write(&c, 1, buf);
    const char want[] = "*2\r\n$3\r\nGET\r\n$16\r\njwts:{abc}:s:xyz\r\n";
    assert_int_equal(jwts_redis_resp_len(&c, 1), sizeof want - 1);
    assert_memory_equal(buf, want, sizeof want - 1);
}

static void empty_and_binary_arguments(void **state)
{
    (void)state;
    const char bin[] = {'a', '\r', '\n', '\0', '$', '*', 'z'};
    const char *argv[] = {"SET", "", bin};
    size_t lens[] = {3, 0, sizeof bin};
    redis_cmd c = {3, argv, lens};
    assert_same_as_hiredis(&c, 1);
}

static void lengths_across_digit_boundaries(void **state)
{
    (void)state;
    static char big[100001];
    memset(big, 'v', sizeof big);
    size_t sizes[] = {1, 9, 10, 11, 99, 100, 101, 999, 1000, 9999, 10000, 99999, 100000, 100001};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        const char *argv[] = {"SET", "k", big};
        size_t lens[] = {3, 1, sizes[i]};
        redis_cmd c = {3, argv, lens};
        assert_same_as_hiredis(&c, 1);
    }
}

static void many_arguments_and_commands(void **state)
{
    (void)state;
    enum { ARGS = 120 };
    const char *argv[ARGS];
    size_t lens[ARGS];
    char words[ARGS][8];
    for (int i = 0; i < ARGS; i++) {
        int n = snprintf(words[i], sizeof words[i], "w%d", i);
        argv[i] = words[i], lens[i] = (size_t)n;
    }
    redis_cmd cmds[] = {{ARGS, argv, lens}, {1, argv, lens}, {10, argv, lens}, {ARGS, argv, lens}};
    assert_same_as_hiredis(cmds, 4);
    assert_int_equal(jwts_redis_resp_len(cmds, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_command),
        cmocka_unit_test(empty_and_binary_arguments),
        cmocka_unit_test(lengths_across_digit_boundaries),
        cmocka_unit_test(many_arguments_and_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
