/*
 * test_buf.c - the library's string buffer: growth, fixed storage and its limit, the latched
 * error, numbers, hex, base64url, and both JSON string modes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/buf.h"

static void grows_and_finishes(void **state)
{
    jwts_buf b = {0};
    for (int i = 0; i < 1000; i++) jwts_buf_puts(&b, "abc");
    jwts_buf_putc(&b, '!');
    assert_int_equal(b.len, 3001);
    assert_int_equal(b.err, JWTS_OK);
    char *out = NULL;
    assert_int_equal(jwts_buf_finish(&b, &out), JWTS_OK);
    assert_int_equal(strlen(out), 3001);
    assert_memory_equal(out + 2997, "abc!", 4);
    free(out);
    jwts_buf empty = JWTS_BUF_SECRET;
    assert_int_equal(jwts_buf_finish(&empty, &out), JWTS_OK);
    assert_string_equal(out, "");
    free(out);
}

static void fixed_buffer_latches_limit(void **state)
{
    char arr[8];
    jwts_buf b = JWTS_BUF_FIXED(arr, sizeof arr);
    jwts_buf_puts(&b, "1234567");
    assert_int_equal(b.err, JWTS_OK);
    assert_string_equal(arr, "1234567");
    jwts_buf_putc(&b, '8'); /* no room for it and the NUL */
    assert_int_equal(b.err, JWTS_E_LIMIT);
    jwts_buf_puts(&b, "more");
    assert_int_equal(b.len, 7); /* nothing after the first failure */
    char *out = NULL;
    assert_int_equal(jwts_buf_finish(&b, &out), JWTS_E_LIMIT);
    assert_null(out);
}

static void numbers_hex_and_base64url(void **state)
{
    jwts_buf b = {0};
    jwts_buf_u64(&b, 18446744073709551615ULL);
    jwts_buf_putc(&b, ' ');
    jwts_buf_i64(&b, INT64_MIN);
    jwts_buf_putc(&b, ' ');
    jwts_buf_double(&b, 0.1);
    jwts_buf_putc(&b, ' ');
    jwts_buf_double(&b, INFINITY);
    jwts_buf_putc(&b, ' ');
    jwts_buf_hex(&b, (const uint8_t *)"\x00\xff\x10", 3);
    jwts_buf_putc(&b, ' ');
    jwts_buf_b64url(&b, "\xfb\xff\xbf", 3);
    jwts_buf_printf(&b, " %s=%d", "n", 42);
    assert_string_equal(b.data, "18446744073709551615 -9223372036854775808 0.1 +Inf 00ff10 -_-_ n=42");
    jwts_buf_free(&b);
    assert_null(b.data);
}

static void json_strings_strict_and_lenient(void **state)
{
    jwts_buf b = {0};
    const char in[] = "a\"b\\c\n\x01\xc3\xa9";
    jwts_buf_json_str(&b, in, sizeof in - 1, JWTS_BUF_JSON_STRICT | JWTS_BUF_JSON_QUOTE);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
    jwts_buf_reset(&b);
    jwts_buf_json_str(&b, "x\xffy\n", 4, 0); /* lenient: U+FFFD, every control as \u00XX */
    assert_string_equal(b.data, "x\\ufffdy\\u000a");
    jwts_buf_reset(&b);
    jwts_buf_json_str(&b, "x\xffy", 3, JWTS_BUF_JSON_STRICT);
    assert_int_equal(b.err, JWTS_E_MALFORMED);
    char *out = (char *)1;
    assert_int_equal(jwts_buf_finish(&b, &out), JWTS_E_MALFORMED);
    assert_ptr_equal(out, (char *)1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grows_and_finishes),
        cmocka_unit_test(fixed_buffer_latches_limit),
        cmocka_unit_test(numbers_hex_and_base64url),
        cmocka_unit_test(json_strings_strict_and_lenient),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
