/*
 * test_session_json.c - the session JSON codec: round trips, exact metadata, and every rejection
 * (missing, wrong type, duplicate, unknown, too deep, too large) with the field in the detail.
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

static const char *GOOD =
    "{\"v\":1,\"user_id\":\"al\\\"ice\",\"session_id\":\"abcDEF-_12\",\"created_at\":1000,\"updated_at\":2000,"
    "\"expires_at\":9000,\"idle_expires_at\":5000,\"last_seen_at\":2500,"
    "\"refresh\":{\"current\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\","
    "\"previous\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
    "\"sealed\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\",\"older\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
    "\"rotated_at\":0,\"generation\":3,\"confirmed\":false},"
    "\"metadata\":{\"ua\":\"curl\",\"n\":[1,2.5]}}";

static void decodes_and_encodes_back_exactly(void **state)
{
    jwts_session *s = NULL;
    assert_int_equal(jwts_session_from_json(GOOD, strlen(GOOD), NULL, &s), JWTS_OK);
    assert_string_equal(s->user_id, "al\"ice");
    assert_string_equal(s->session_id, "abcDEF-_12");
    assert_int_equal(s->created_at_ms, 1000);
    assert_int_equal(s->idle_expires_at_ms, 5000);
    assert_int_equal(s->last_seen_ms, 2500);
    assert_int_equal(s->refresh.generation, 3);
    assert_int_equal(s->refresh.current_hash[31], 31);
    assert_int_equal(s->refresh.sealed_next[0], 1);
    assert_string_equal(s->metadata, "{\"ua\":\"curl\",\"n\":[1,2.5]}");
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(jwts_session_to_json(s, &json, &len), JWTS_OK);
    assert_int_equal(len, strlen(GOOD));
    assert_string_equal(json, GOOD);
    jwts_session *again = NULL;
    assert_int_equal(jwts_session_from_json(json, len, NULL, &again), JWTS_OK);
    assert_true(jwts_session_equal(s, again));
    free(json);
    jwts_session_free(again);
    jwts_session_free(s);
}

static void canonical_metadata_is_a_fixed_point(void **state)
{
    const char *inputs[] = {"{}", "{ \"b\" : 1 , \"a\" : 2 }", "{\"r\":0.1,\"e\":1e300,\"neg\":-0.0}",
                            "{\"s\":\"\\u00e9\\n\\t\\\"\",\"u\":\"\xe2\x82\xac\"}", "{\"x\":{\"y\":[[],{}]}}"};
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        char *once = NULL, *twice = NULL;
        assert_int_equal(jwts_metadata_canonicalize(inputs[i], strlen(inputs[i]), NULL, &once), JWTS_OK);
        assert_int_equal(jwts_metadata_canonicalize(once, strlen(once), NULL, &twice), JWTS_OK);
        assert_string_equal(once, twice);
        free(once);
        free(twice);
    }
    char *c = NULL;
    assert_int_equal(jwts_metadata_canonicalize("{ \"b\" : 1 , \"a\" : 2 }", 21, NULL, &c), JWTS_OK);
    assert_string_equal(c, "{\"b\":1,\"a\":2}"); /* member order kept */
    free(c);
}

static void metadata_rules(void **state)
{
    char *out = NULL;
    assert_int_equal(jwts_metadata_canonicalize("[1]", 3, NULL, &out), JWTS_E_MALFORMED);
    assert_non_null(strstr(jwts_errdetail(), "metadata"));
    assert_int_equal(jwts_metadata_canonicalize("\"s\"", 3, NULL, &out), JWTS_E_MALFORMED);
    assert_int_equal(jwts_metadata_canonicalize("{\"a\":1,\"a\":2}", 13, NULL, &out), JWTS_E_MALFORMED);
    assert_int_equal(jwts_metadata_canonicalize("{\"a\":1", 6, NULL, &out), JWTS_E_MALFORMED);
    assert_int_equal(jwts_metadata_canonicalize("{} x", 4, NULL, &out), JWTS_E_MALFORMED);
    assert_int_equal(jwts_metadata_canonicalize("{\"a\":99999999999999999999}", 26, NULL, &out), JWTS_E_MALFORMED);
    /* depth: 16 levels allowed by default, 17 refused */
    char deep[128] = "";
    for (int i = 0; i < 17; i++) strcat(deep, "{\"a\":");
    strcat(deep, "1");
    for (int i = 0; i < 17; i++) strcat(deep, "}");
    assert_int_equal(jwts_metadata_canonicalize(deep, strlen(deep), NULL, &out), JWTS_E_MALFORMED);
    assert_non_null(strstr(jwts_errdetail(), "deeper"));
    const char *inner = deep + 5; /* 16 levels */
    assert_int_equal(jwts_metadata_canonicalize(inner, strlen(inner) - 1, NULL, &out), JWTS_OK);
    free(out);
    /* size */
    jwts_codec_limits small = {.max_metadata = 10};
    assert_int_equal(jwts_metadata_canonicalize("{\"abc\":\"defghij\"}", 17, &small, &out), JWTS_E_MALFORMED);
    assert_int_equal(jwts_metadata_canonicalize(NULL, 0, NULL, &out), JWTS_E_INVALID_ARGUMENT);
}

/* Replace the first occurrence of from in GOOD by to and expect a MALFORMED naming field. */
static void expect_rejected(const char *from, const char *to, const char *field)
{
    char doc[1024];
    const char *at = strstr(GOOD, from);
    assert_non_null(at);
    snprintf(doc, sizeof doc, "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from));
    jwts_session *s = (jwts_session *)1;
    assert_int_equal(jwts_session_from_json(doc, strlen(doc), NULL, &s), JWTS_E_MALFORMED);
    assert_null(s);
    if (!strstr(jwts_errdetail(), field)) fail_msg("detail \"%s\" does not name %s", jwts_errdetail(), field);
}

static void rejects_bad_documents(void **state)
{
    expect_rejected("\"v\":1", "\"v\":2", "v");
    expect_rejected("\"created_at\":1000", "\"created_at\":\"1000\"", "created_at");
    expect_rejected("\"created_at\":1000", "\"created_at\":1000.5", "created_at");
    expect_rejected("\"updated_at\":2000,", "", "updated_at");
    expect_rejected("\"expires_at\":9000", "\"expires_at\":-9", "expires_at");
    expect_rejected("\"expires_at\":9000", "\"expires_at\":500", "expires_at"); /* before created_at */
    expect_rejected("\"user_id\":\"al\\\"ice\"", "\"user_id\":5", "user_id");
    expect_rejected("\"user_id\":\"al\\\"ice\"", "\"user_id\":\"a{b}\"", "user_id");
    expect_rejected("\"user_id\":\"al\\\"ice\"", "\"user_id\":\"a\\u0000b\"", "not allowed");
    /* issue #12 item 4: ids with white space at an end or a line separator are not ids */
    expect_rejected("\"user_id\":\"al\\\"ice\"", "\"user_id\":\" bob\"", "user_id");
    expect_rejected("\"user_id\":\"al\\\"ice\"", "\"user_id\":\"bob \"", "user_id");
    expect_rejected("\"user_id\":\"al\\\"ice\"", "\"user_id\":\" \"", "user_id");
    expect_rejected("\"user_id\":\"al\\\"ice\"", "\"user_id\":\"a\\u2028b\"", "user_id");
    expect_rejected("\"user_id\":\"al\\\"ice\"", "\"user_id\":\"bob\\u00a0\"", "user_id");
    expect_rejected("\"session_id\":\"abcDEF-_12\"", "\"session_id\":\"a b\"", "session_id");
    expect_rejected("\"last_seen_at\":2500", "\"last_seen_at\":2500,\"extra\":1", "extra");
    expect_rejected("\"last_seen_at\":2500", "\"last_seen_at\":2500,\"last_seen_at\":2600", "duplicate");
    expect_rejected("\"generation\":3", "\"generation\":3,\"x\":1", "x");
    expect_rejected("\"confirmed\":false", "\"confirmed\":0", "confirmed");
    expect_rejected("\"older\":\"AAAA", "\"older\":\"AAA", "older");
    expect_rejected("\"rotated_at\":0", "\"rotated_at\":null", "rotated_at");
    expect_rejected("\"current\":\"AAEC", "\"current\":\"AAE=", "current");
    expect_rejected("Hh8\"", "Hh8A\"", "current");
    /* refresh of the wrong type */
    char doc[1024];
    const char *r = strstr(GOOD, "\"refresh\":"), *meta = strstr(GOOD, ",\"metadata\"");
    snprintf(doc, sizeof doc, "%.*s\"refresh\":[]%s", (int)(r - GOOD), GOOD, meta);
    jwts_session *s = NULL;
    assert_int_equal(jwts_session_from_json(doc, strlen(doc), NULL, &s), JWTS_E_MALFORMED);
    assert_non_null(strstr(jwts_errdetail(), "refresh"));
    expect_rejected("\"metadata\":{\"ua\":\"curl\",\"n\":[1,2.5]}", "\"metadata\":[1]", "metadata");
}

static void rejects_oversize_and_garbage(void **state)
{
    jwts_session *s = NULL;
    jwts_codec_limits tiny = {.max_bytes = 100};
    assert_int_equal(jwts_session_from_json(GOOD, strlen(GOOD), &tiny, &s), JWTS_E_MALFORMED);
    assert_non_null(strstr(jwts_errdetail(), "max"));
    assert_int_equal(jwts_session_from_json("", 0, NULL, &s), JWTS_E_MALFORMED);
    assert_int_equal(jwts_session_from_json("[]", 2, NULL, &s), JWTS_E_MALFORMED);
    assert_int_equal(jwts_session_from_json("{\"v\":1", 6, NULL, &s), JWTS_E_MALFORMED);
    assert_int_equal(jwts_session_from_json(GOOD, strlen(GOOD) - 1, NULL, &s), JWTS_E_MALFORMED);
    assert_int_equal(jwts_session_from_json(NULL, 0, NULL, &s), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_session_from_json(GOOD, strlen(GOOD), NULL, NULL), JWTS_E_INVALID_ARGUMENT);
}

static void encode_refuses_invalid_sessions(void **state)
{
    jwts_session s = {.user_id = "u", .session_id = "bad id", .expires_at_ms = 1};
    char *json = NULL;
    assert_int_equal(jwts_session_to_json(&s, &json, NULL), JWTS_E_INVALID_ARGUMENT);
    assert_null(json);
    s.session_id = "ok";
    s.metadata = "not json";
    assert_int_equal(jwts_session_to_json(&s, &json, NULL), JWTS_E_INVALID_ARGUMENT);
    s.metadata = NULL;
    assert_int_equal(jwts_session_to_json(&s, &json, NULL), JWTS_OK);
    assert_non_null(strstr(json, "\"metadata\":{}"));
    free(json);
}

static void clone_is_one_independent_block(void **state)
{
    char user[] = "carol", sid[] = "sid1", meta[] = "{\"a\":1}";
    jwts_session s = {.user_id = user, .session_id = sid, .expires_at_ms = 5, .metadata = meta};
    jwts_session *c = NULL;
    assert_int_equal(jwts_session_clone(&s, &c), JWTS_OK);
    user[0] = 'X';
    meta[2] = 'b';
    assert_string_equal(c->user_id, "carol");
    assert_string_equal(c->metadata, "{\"a\":1}");
    assert_false(jwts_session_equal(c, &s));
    jwts_session_free(c);
}

/* GOOD with members inserted before its closing brace. */
static char *good_with(const char *members)
{
    size_t n = strlen(GOOD), m = strlen(members);
    char *out = malloc(n + m + 1);
    memcpy(out, GOOD, n - 1);
    memcpy(out + n - 1, members, m);
    strcpy(out + n - 1 + m, "}");
    return out;
}

/* The device fields: written after metadata when known, optional on decoding (GOOD, as sessions
 * of earlier versions, has none and decodes with both NULL). */
static void device_round_trips_and_is_optional(void **state)
{
    jwts_session *old = NULL, *s = NULL, *again = NULL, *copy = NULL;
    assert_int_equal(jwts_session_from_json(GOOD, strlen(GOOD), NULL, &old), JWTS_OK);
    assert_null(old->client_ip);
    assert_null(old->user_agent);
    char *doc = good_with(",\"client_ip\":\"2001:db8::7\",\"user_agent\":\"Mozilla/5.0 (X11) \u00e9\\\"q\"");
    assert_int_equal(jwts_session_from_json(doc, strlen(doc), NULL, &s), JWTS_OK);
    assert_string_equal(s->client_ip, "2001:db8::7");
    assert_string_equal(s->user_agent, "Mozilla/5.0 (X11) \xc3\xa9\"q");
    assert_string_equal(s->metadata, old->metadata); /* the metadata stays the caller's own */
    assert_false(jwts_session_equal(s, old));
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(jwts_session_to_json(s, &json, &len), JWTS_OK);
    assert_non_null(strstr(json, "\"client_ip\":\"2001:db8::7\""));
    assert_int_equal(jwts_session_from_json(json, len, NULL, &again), JWTS_OK);
    assert_true(jwts_session_equal(s, again));
    assert_int_equal(jwts_session_clone(s, &copy), JWTS_OK);
    assert_true(jwts_session_equal(s, copy));
    assert_ptr_not_equal(copy->user_agent, s->user_agent);
    /* one field alone */
    free(doc);
    doc = good_with(",\"user_agent\":\"curl/8\"");
    jwts_session_free(again);
    assert_int_equal(jwts_session_from_json(doc, strlen(doc), NULL, &again), JWTS_OK);
    assert_null(again->client_ip);
    assert_string_equal(again->user_agent, "curl/8");
    free(doc);
    free(json);
    jwts_session_free(copy);
    jwts_session_free(again);
    jwts_session_free(s);
    jwts_session_free(old);
}

static void device_rules(void **state)
{
    const char *good_ips[] = {"127.0.0.1", "0.0.0.0", "::1", "2001:db8::1", "::ffff:192.0.2.1",
                              "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"};
    for (size_t i = 0; i < sizeof good_ips / sizeof *good_ips; i++) assert_true(jwts_client_ip_valid(good_ips[i]));
    const char *bad_ips[] = {"", "1.2.3", "1.2.3.4 ", " 1.2.3.4", "256.1.1.1", "[::1]", "::1%eth0", "localhost",
                             "1.2.3.4:80", "::g", "0x7f.1.1.1"};
    for (size_t i = 0; i < sizeof bad_ips / sizeof *bad_ips; i++) assert_false(jwts_client_ip_valid(bad_ips[i]));
    assert_false(jwts_client_ip_valid(NULL));
    char ua[JWTS_USER_AGENT_MAX + 2];
    memset(ua, 'a', sizeof ua);
    ua[JWTS_USER_AGENT_MAX] = '\0';
    assert_true(jwts_user_agent_valid(ua));
    ua[JWTS_USER_AGENT_MAX] = 'a', ua[JWTS_USER_AGENT_MAX + 1] = '\0';
    assert_false(jwts_user_agent_valid(ua)); /* 513 bytes */
    const char *bad_uas[] = {"", "a\tb", "a\nb", "a\x7f", "a\xc2\x85", "\xff", "a\xc3", "\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof bad_uas / sizeof *bad_uas; i++) assert_false(jwts_user_agent_valid(bad_uas[i]));
    assert_true(jwts_user_agent_valid("Mozilla/5.0 \xe2\x82\xac"));
    /* decoding refuses what the rules refuse: a stored record is a boundary */
    const char *bad_members[] = {",\"client_ip\":\"not-an-ip\"", ",\"client_ip\":7", ",\"user_agent\":\"a\\u0001\"",
                                 ",\"user_agent\":\"\"", ",\"client_ip\":\"::1\",\"client_ip\":\"::2\""};
    for (size_t i = 0; i < sizeof bad_members / sizeof *bad_members; i++) {
        char *doc = good_with(bad_members[i]);
        jwts_session *s = NULL;
        assert_int_equal(jwts_session_from_json(doc, strlen(doc), NULL, &s), JWTS_E_MALFORMED);
        assert_null(s);
        free(doc);
    }
    /* encoding refuses a session with a bad device */
    jwts_session *s = NULL;
    assert_int_equal(jwts_session_from_json(GOOD, strlen(GOOD), NULL, &s), JWTS_OK);
    jwts_session bad = *s;
    bad.client_ip = "1.2.3.4.5";
    char *json = NULL;
    assert_int_equal(jwts_session_to_json(&bad, &json, NULL), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "client_ip"));
    bad.client_ip = NULL, bad.user_agent = ua;
    assert_int_equal(jwts_session_to_json(&bad, &json, NULL), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "user_agent"));
    jwts_session_free(s);
}

static void user_agent_clean_makes_a_valid_one(void **state)
{
    char out[JWTS_USER_AGENT_MAX + 1];
    const char *raw = "  curl/8\t(x)\x01 ";
    assert_int_equal(jwts_user_agent_clean(raw, strlen(raw), out), 10);
    assert_string_equal(out, "curl/8 (x)");
    assert_int_equal(jwts_user_agent_clean("\t \x7f", 3, out), 0);
    assert_string_equal(out, "");
    assert_int_equal(jwts_user_agent_clean("a\xff\xc3\xa9", 4, out), 4);
    assert_string_equal(out, "a \xc3\xa9");
    /* cut at a character boundary: 511 'a' then a 2-byte character leaves 511 bytes */
    char in[600];
    memset(in, 'a', 511);
    memcpy(in + 511, "\xc3\xa9zz", 4);
    size_t n = jwts_user_agent_clean(in, 515, out);
    assert_int_equal(n, 511);
    assert_true(jwts_user_agent_valid(out));
    memset(in, 'b', sizeof in);
    assert_int_equal(jwts_user_agent_clean(in, sizeof in, out), JWTS_USER_AGENT_MAX);
    assert_true(jwts_user_agent_valid(out));
    assert_int_equal(jwts_user_agent_clean(NULL, 5, out), 0);
}

/* The public view: units in the names, null for what is not known, strings escaped, no refresh state. */
static void view_shows_public_members_only(void **state)
{
    (void)state;
    jwts_session s = {.user_id = "al\"ice", .session_id = "AAAAAAAAAAAAAAAAAAAAAA", .created_at_ms = 1000,
                      .updated_at_ms = 2000, .expires_at_ms = 9000, .last_seen_ms = 1500,
                      .user_agent = "Mozilla/5.0 \"x\"", .metadata = "{\"k\":1}"};
    memset(s.refresh.current_hash, 0xab, sizeof s.refresh.current_hash);
    jwts_buf b = {0};
    jwts_buf_putc(&b, '{');
    jwts_session_view(&s, &b);
    jwts_buf_putc(&b, '}');
    assert_int_equal(b.err, JWTS_OK);
    assert_string_equal(b.data, "{\"user_id\":\"al\\\"ice\",\"session_id\":\"AAAAAAAAAAAAAAAAAAAAAA\","
                                "\"created_at_ms\":1000,\"updated_at_ms\":2000,\"last_seen_at_ms\":1500,"
                                "\"expires_at_ms\":9000,\"idle_expires_at_ms\":null,\"client_ip\":null,"
                                "\"user_agent\":\"Mozilla/5.0 \\\"x\\\"\",\"metadata\":{\"k\":1}}");
    jwts_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(view_shows_public_members_only),
        cmocka_unit_test(device_round_trips_and_is_optional),
        cmocka_unit_test(device_rules),
        cmocka_unit_test(user_agent_clean_makes_a_valid_one),
        cmocka_unit_test(decodes_and_encodes_back_exactly),
        cmocka_unit_test(canonical_metadata_is_a_fixed_point),
        cmocka_unit_test(metadata_rules),
        cmocka_unit_test(rejects_bad_documents),
        cmocka_unit_test(rejects_oversize_and_garbage),
        cmocka_unit_test(encode_refuses_invalid_sessions),
        cmocka_unit_test(clone_is_one_independent_block),
    };
    return cmocka_run_group_tests_name("session codec", tests, NULL, NULL);
}
