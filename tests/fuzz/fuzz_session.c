/*
 * fuzz_session.c - libFuzzer target for the core parsers: the session JSON codec, metadata
 * canonicalisation, base64url and the refresh token form.
 *
 * Invariants: a decoded session encodes and decodes again to an equal session; canonical metadata
 * is a fixed point; base64url decode then encode gives back the input; a refresh token that parses
 * names a valid user and session; a cleaned user agent is valid (or empty) and cleaning it again
 * changes nothing; the client IP check never reads past its string.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_session: %s (%s)\n", what, jwts_errdetail());
    abort();
}

static void session_round_trip(const char *text, size_t len)
{
    jwts_session *s = NULL, *again = NULL;
    if (jwts_session_from_json(text, len, NULL, &s) != JWTS_OK) return;
    char *json = NULL;
    size_t n = 0;
    if (jwts_session_to_json(s, &json, &n)) die("a decoded session does not encode");
    if (jwts_session_from_json(json, n, NULL, &again)) die("an encoded session does not decode");
    if (!jwts_session_equal(s, again)) die("round trip changed the session");
    free(json);
    jwts_session_free(again);
    jwts_session_free(s);
}

static void device_rules(const char *text, size_t len)
{
    char out[JWTS_USER_AGENT_MAX + 1], again[JWTS_USER_AGENT_MAX + 1];
    size_t n = jwts_user_agent_clean(text, len, out);
    if (n != strlen(out) || n > JWTS_USER_AGENT_MAX) die("a cleaned user agent has the wrong length");
    if (n && !jwts_user_agent_valid(out)) die("a cleaned user agent is not valid");
    if (jwts_user_agent_clean(out, n, again) != n || memcmp(out, again, n) != 0) die("cleaning is not idempotent");
    if (jwts_user_agent_valid(text) && len == strlen(text) && (n != len || memcmp(out, text, n) != 0) &&
        text[0] != ' ' && text[len - 1] != ' ')
        die("cleaning changed a valid user agent");
    (void)jwts_client_ip_valid(text);
}

static void metadata_fixed_point(const char *text, size_t len)
{
    char *once = NULL, *twice = NULL;
    if (jwts_metadata_canonicalize(text, len, NULL, &once) != JWTS_OK) return;
    if (jwts_metadata_canonicalize(once, strlen(once), NULL, &twice)) die("canonical metadata rejected");
    if (strcmp(once, twice) != 0) die("canonical form is not a fixed point");
    free(once);
    free(twice);
}

static void b64url_round_trip(const char *text, size_t len)
{
    static uint8_t raw[4096];
    static char back[8192];
    size_t n = 0, m = 0;
    if (len > 4096 || jwts_b64url_decode(text, len, raw, sizeof raw, &n) != JWTS_OK) return;
    if (jwts_b64url_encode(raw, n, back, sizeof back, &m)) die("encode failed");
    if (m != len || memcmp(back, text, len) != 0) die("base64url accepted a non-canonical input");
}

static void refresh_token(const char *text)
{
    char user[JWTS_USER_ID_MAX + 1], sid[JWTS_SESSION_ID_MAX + 1];
    if (jwts_refresh_token_parse(text, user, sid) != JWTS_OK) return;
    if (!jwts_user_id_valid(user) || !jwts_session_id_valid(sid)) die("a parsed refresh token has bad ids");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    session_round_trip(text, size);
    metadata_fixed_point(text, size);
    b64url_round_trip(text, size);
    refresh_token(text);
    device_rules(text, size);
    free(text);
    return 0;
}
