/*
 * test_core.c - core: error names and details, strict base64url, random ids, ctx deadlines, clocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/error.h"
#include "jwtsession/jwtsession.h"

static void error_names_are_stable(void **state)
{
    assert_string_equal(jwts_errname(JWTS_OK), "JWTS_OK");
    assert_string_equal(jwts_errname(JWTS_E_EXPIRED), "JWTS_E_EXPIRED");
    assert_string_equal(jwts_errname(JWTS_E_REFRESH_REUSED), "JWTS_E_REFRESH_REUSED");
    assert_string_equal(jwts_errname(JWTS_E_INTERNAL), "JWTS_E_INTERNAL");
    assert_string_equal(jwts_errname(JWTS_E_WOULD_BLOCK), "JWTS_E_WOULD_BLOCK");
    assert_string_equal(jwts_errname((jwts_err)-1), "JWTS_E_UNKNOWN");
    assert_string_equal(jwts_strerror(JWTS_E_TIMEOUT), "deadline exceeded");
    assert_string_equal(jwts_strerror((jwts_err)1000), "unknown error");
}

static void details_are_set_and_wrapped(void **state)
{
    assert_int_equal(jwts_fail(JWTS_E_MALFORMED, "field %s", "exp"), JWTS_E_MALFORMED);
    assert_string_equal(jwts_errdetail(), "field exp");
    assert_int_equal(jwts_fail_wrap(JWTS_E_MALFORMED, "claims"), JWTS_E_MALFORMED);
    assert_string_equal(jwts_errdetail(), "claims: field exp");
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    jwts_fail(JWTS_E_LIMIT, "%s", big);
    assert_int_equal(strlen(jwts_errdetail()), JWTS_DETAIL_MAX - 1); /* bounded, NUL-terminated */
    jwts_fail_wrap(JWTS_E_LIMIT, "prefix");
    assert_true(strlen(jwts_errdetail()) < JWTS_DETAIL_MAX);
}

/* RFC 4648 section 10 vectors, in base64url without padding. */
static void b64url_vectors(void **state)
{
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char out[16];
        size_t n = 99;
        assert_int_equal(jwts_b64url_encode(plain[i], strlen(plain[i]), out, sizeof out, &n), JWTS_OK);
        assert_int_equal(n, strlen(coded[i]));
        assert_string_equal(out, coded[i]);
        assert_int_equal(jwts_b64url_encoded_len(strlen(plain[i])), n);
        uint8_t back[16];
        assert_int_equal(jwts_b64url_decode(coded[i], strlen(coded[i]), back, sizeof back, &n), JWTS_OK);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(back, plain[i], n);
    }
    /* the two URL-safe characters */
    const uint8_t raw[] = {0xfb, 0xff, 0xbf};
    char out[8];
    assert_int_equal(jwts_b64url_encode(raw, 3, out, sizeof out, NULL), JWTS_OK);
    assert_string_equal(out, "-_-_");
}

static void b64url_rejects_non_canonical(void **state)
{
    const char *bad[] = {"Zg==", "Zm8=", "Zm+v", "Zm/v", "Zm9 v", "Zm9\nv", "Z", "Zh", "Zm9", "Zm8\x80", "Zm\0v"};
    const size_t len[] = {4, 4, 4, 4, 5, 5, 1, 2, 3, 4, 4};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t out[16];
        size_t n;
        /* "Zh" and "Zm9" have non-zero unused trailing bits ("fo" is "Zm8") */
        assert_int_equal(jwts_b64url_decode(bad[i], len[i], out, sizeof out, &n), JWTS_E_MALFORMED);
        assert_true(strlen(jwts_errdetail()) > 0);
    }
    uint8_t small[2];
    assert_int_equal(jwts_b64url_decode("Zm9v", 4, small, sizeof small, NULL), JWTS_E_LIMIT);
    char tiny[3];
    assert_int_equal(jwts_b64url_encode("foo", 3, tiny, sizeof tiny, NULL), JWTS_E_LIMIT);
}

static void b64url_round_trips_every_length(void **state)
{
    uint8_t in[64], back[64];
    char enc[100];
    for (size_t n = 0; n <= sizeof in; n++) {
        assert_int_equal(jwts_random_bytes(in, n), JWTS_OK);
        size_t elen, dlen;
        assert_int_equal(jwts_b64url_encode(in, n, enc, sizeof enc, &elen), JWTS_OK);
        assert_int_equal(jwts_b64url_decode(enc, elen, back, sizeof back, &dlen), JWTS_OK);
        assert_int_equal(dlen, n);
        assert_memory_equal(back, in, n);
        assert_true(jwts_b64url_decoded_max(elen) >= n);
    }
}

/* A user's tag is the first 36 bits of SHA-256 of the id, as base64url (the same value anywhere:
 * Redis keys carry it); an id carries its user's tag only when it has the generated length. */
static void session_ids_carry_their_users_tag(void **state)
{
    (void)state;
    char t[JWTS_SESSION_TAG_LEN + 1];
    assert_true(jwts_user_tag("alice", t));
    assert_string_equal(t, "K9gGyX");
    assert_true(jwts_user_tag("bob", t));
    assert_string_equal(t, "gbY32P");
    assert_false(jwts_user_tag("", t));
    assert_false(jwts_user_tag("{x}", t));
    char id[JWTS_SESSION_ID_LEN + 1];
    assert_int_equal(jwts_session_id_new("bob", id), JWTS_OK);
    assert_true(jwts_session_id_tag(id, t));
    assert_string_equal(t, "gbY32P");
    assert_false(jwts_session_id_tag("web-1", t));                          /* a caller's own id */
    assert_false(jwts_session_id_tag("AAAAAAAAAAAAAAAAAAAAAAAAAAAAA", t));  /* 29 characters */
    assert_false(jwts_session_id_tag("AAAAAAAAAAAAAAAAAAAAAAAAAA.A", t));   /* not base64url */
    assert_false(jwts_session_id_tag(NULL, t));
}

static void random_ids_have_the_promised_shape(void **state)
{
    char a[JWTS_SESSION_ID_LEN + 1], b[JWTS_SESSION_ID_LEN + 1];
    assert_int_equal(jwts_session_id_new("alice", a), JWTS_OK);
    assert_int_equal(jwts_session_id_new("alice", b), JWTS_OK);
    assert_int_equal(strlen(a), 28);
    assert_string_not_equal(a, b);
    assert_true(jwts_session_id_valid(a));
    uint8_t raw[32];
    size_t n;
    assert_int_equal(jwts_b64url_decode(a, 22, raw, sizeof raw, &n), JWTS_OK); /* the random part */
    assert_int_equal(n, 16);
    assert_string_equal(a + 22, "K9gGyX"); /* then alice's tag */
    assert_int_equal(jwts_session_id_new("bad\nuser", a), JWTS_E_INVALID_ARGUMENT);
    char r[JWTS_REFRESH_SECRET_LEN + 1];
    assert_int_equal(jwts_refresh_secret_new(r), JWTS_OK);
    assert_int_equal(strlen(r), 43);
    assert_int_equal(jwts_b64url_decode(r, strlen(r), raw, sizeof raw, &n), JWTS_OK);
    assert_int_equal(n, 32);
}

static void ctx_deadlines(void **state)
{
    assert_int_equal(jwts_ctx_remaining_ms(NULL), -1);
    assert_false(jwts_ctx_expired(NULL));
    jwts_ctx none = jwts_ctx_with_timeout(0);
    assert_int_equal(jwts_ctx_remaining_ms(&none), -1);
    jwts_ctx later = jwts_ctx_with_timeout(60000);
    assert_true(jwts_ctx_remaining_ms(&later) > 59000);
    assert_false(jwts_ctx_expired(&later));
    jwts_ctx past = {.deadline_ns = jwts_monotonic_ns() - 1};
    assert_int_equal(jwts_ctx_remaining_ms(&past), 0);
    assert_true(jwts_ctx_expired(&past));
}

static int64_t fixed(void *arg)
{
    return *(int64_t *)arg;
}

static void clocks(void **state)
{
    int64_t t = 42;
    jwts_clock c = {fixed, &t};
    assert_int_equal(jwts_clock_now_ms(&c), 42);
    int64_t real = jwts_clock_now_ms(NULL);
    assert_true(real > 1600000000000LL);
    int64_t a = jwts_monotonic_ns(), b = jwts_monotonic_ns();
    assert_true(b >= a);
}

/* The clock conversions saturate instead of overflowing, and round waits up. */
static void clock_conversions(void **state)
{
    (void)state;
    assert_int_equal(jwts_ms_to_ns(3), 3000000);
    assert_int_equal(jwts_ms_to_ns(-5), 0);
    assert_true(jwts_ms_to_ns(INT64_MAX) == INT64_MAX);
    assert_int_equal(jwts_ns_to_ms_ceil(0), 0);
    assert_int_equal(jwts_ns_to_ms_ceil(-7), 0);
    assert_int_equal(jwts_ns_to_ms_ceil(1), 1);
    assert_int_equal(jwts_ns_to_ms_ceil(JWTS_NS_PER_MS), 1);
    assert_int_equal(jwts_ns_to_ms_ceil(JWTS_NS_PER_MS + 1), 2);
    assert_true(jwts_deadline_in_ms(INT64_MAX) == INT64_MAX);
    assert_int_equal(jwts_ms_after(1000, 500), 1500);
    assert_int_equal(jwts_ms_after(1000, -5), 1000);
    assert_true(jwts_ms_after(1700000000000LL, INT64_MAX) == INT64_MAX);
    int64_t before = jwts_monotonic_ns(), d = jwts_deadline_in_ms(50), after = jwts_monotonic_ns();
    assert_true(d >= before + 50 * JWTS_NS_PER_MS && d <= after + 50 * JWTS_NS_PER_MS);
    struct timespec ts = jwts_timespec_of_ns(1500000001);
    assert_int_equal(ts.tv_sec, 1);
    assert_int_equal(ts.tv_nsec, 500000001);
    /* a timeout too large for nanoseconds used to overflow into the past */
    jwts_ctx far = jwts_ctx_with_timeout(INT64_MAX / 1000);
    assert_false(jwts_ctx_expired(&far));
    assert_true(far.deadline_ns > jwts_monotonic_ns());
}

static void durations(void **state)
{
    int64_t ms = -1;
    assert_int_equal(jwts_duration_parse_ms("90", &ms), JWTS_OK);
    assert_int_equal(ms, 90000);
    assert_int_equal(jwts_duration_parse_ms("500ms", &ms), JWTS_OK);
    assert_int_equal(ms, 500);
    assert_int_equal(jwts_duration_parse_ms("15m", &ms), JWTS_OK);
    assert_int_equal(ms, 900000);
    assert_int_equal(jwts_duration_parse_ms("30d", &ms), JWTS_OK);
    assert_int_equal(ms, 2592000000LL);
    assert_int_equal(jwts_duration_parse_ms("0", &ms), JWTS_OK);
    assert_int_equal(ms, 0);
    const char *bad[] = {"", "-5", "5x", "m", " 5", "5 s", "1.5h", "99999999999999999999", "999999999999999999d"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ms = 7;
        assert_int_equal(jwts_duration_parse_ms(bad[i], &ms), JWTS_E_INVALID_ARGUMENT);
        assert_int_equal(ms, 7);
    }
    assert_int_equal(jwts_duration_parse_ms(NULL, &ms), JWTS_E_INVALID_ARGUMENT);
}

static void id_rules(void **state)
{
    assert_true(jwts_user_id_valid("alice@example.com"));
    assert_true(jwts_user_id_valid("\xc3\xa9l\xc3\xa8ve 42"));
    assert_false(jwts_user_id_valid(""));
    assert_false(jwts_user_id_valid(NULL));
    assert_false(jwts_user_id_valid("a{b}"));
    assert_false(jwts_user_id_valid("del\x7f"));
    assert_false(jwts_user_id_valid("bad\xff"));             /* not UTF-8: it travels in JSON and JWTs */
    assert_false(jwts_user_id_valid("\xc3"));                /* truncated sequence */
    assert_false(jwts_user_id_valid("\xc0\xaf"));            /* overlong '/' */
    assert_false(jwts_user_id_valid("\xed\xa0\x80"));        /* a UTF-16 surrogate */
    assert_true(jwts_user_id_valid("\xf0\x9f\x94\x91 key")); /* U+1F511 */
    assert_true(jwts_user_id_valid("a"));
    assert_true(jwts_session_id_valid("abc-_XYZ09"));
    assert_false(jwts_session_id_valid("abc="));
    assert_false(jwts_session_id_valid(NULL));
}

/* Issue #12 item 4: ids a proxy would change on the way to the application are refused. */
static void user_id_grammar(void **state)
{
    (void)state;
    /* inner spaces (even several) survive nginx and are kept; so do printable ASCII and UTF-8 */
    const char *good[] = {"bob smith",
                          "bob  smith",
                          "x y z",
                          "100%",
                          "a\"b'c,d;e=f",
                          "~!@#$%^&*()[]<>?/\\|",
                          "caf\xc3\xa9",
                          "\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e", /* U+5C71... */
                          "x\xc2\xa0y" /* NBSP inside */,
                          "\xc2\xa9 2024"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!jwts_user_id_valid(good[i])) fail_msg("\"%s\" should be a valid user id", good[i]);
    const char *bad[] = {
        " bob",
        "bob ",
        " ",
        "  ",
        " bob ",
        "bob\t",
        "\tbob",
        "a\tb",
        "a\nb",
        "a\rb",
        "\x1b[31m",
        "\xc2\x80x",
        "x\xc2\x85y",
        "x\xc2\x9f", /* C1 controls, NEL among them */
        "a\xe2\x80\xa8"
        "b",
        "a\xe2\x80\xa9"
        "b", /* line and paragraph separators, anywhere */
        "\xc2\xa0"
        "bob",
        "bob\xc2\xa0", /* no-break space at an end */
        "\xe3\x80\x80"
        "bob",
        "bob\xe3\x80\x80", /* ideographic space */
        "\xe2\x80\x83"
        "bob",
        "bob\xe2\x80\x8a",
        "bob\xe2\x80\xaf",
        "\xe2\x81\x9f"
        "bob",
        "\xe1\x9a\x80"
        "bob",
        "\xef\xbb\xbf"
        "bob",
        "bob\xe2\x80\x8b",
        "\xe1\xa0\x8e"
        "bob", /* BOM, zero-width space, U+180E */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (jwts_user_id_valid(bad[i])) fail_msg("bad user id #%zu should be refused", i);
    /* the length bound is in bytes, spaces inside count */
    char id[JWTS_USER_ID_MAX + 2];
    memset(id, 'a', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    assert_false(jwts_user_id_valid(id));
    id[JWTS_USER_ID_MAX] = '\0';
    id[100] = ' ';
    assert_true(jwts_user_id_valid(id));
    id[JWTS_USER_ID_MAX - 1] = ' ';
    assert_false(jwts_user_id_valid(id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_names_are_stable),
        cmocka_unit_test(details_are_set_and_wrapped),
        cmocka_unit_test(b64url_vectors),
        cmocka_unit_test(b64url_rejects_non_canonical),
        cmocka_unit_test(b64url_round_trips_every_length),
        cmocka_unit_test(random_ids_have_the_promised_shape),
        cmocka_unit_test(session_ids_carry_their_users_tag),
        cmocka_unit_test(ctx_deadlines),
        cmocka_unit_test(clocks),
        cmocka_unit_test(id_rules),
        cmocka_unit_test(user_id_grammar),
        cmocka_unit_test(durations),
        cmocka_unit_test(clock_conversions),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
