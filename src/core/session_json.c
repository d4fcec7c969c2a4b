/*
 * session_json.c - the session JSON codec (jansson), strict and bounded.
 *
 * Wire form (compact, members in this order):
 *   {"v":1,"user_id":"..","session_id":"..","created_at":ms,"updated_at":ms,"expires_at":ms,
 *    "idle_expires_at":ms,"last_seen_at":ms,
 *    "refresh":{"current":"<b64url>","previous":"<b64url>","sealed":"<b64url>",
 *               "older":"<b64url of 8 x 16 bytes>","rotated_at":ms,"generation":n,"confirmed":bool},
 *    "metadata":{...},"client_ip":"..","user_agent":".."}
 * client_ip and user_agent (the device, docs/devices.md) are written only when known and are
 * optional on decoding, so the JSON of sessions from before they existed still decodes.
 * Decoding rejects duplicate members, unknown members, missing members, wrong types, negative
 * times, metadata that is not an object or is too deep or too large.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/session_blob.h"
#include "jwtsession/b64url.h"
#include "jwtsession/buf.h"
#include "jwtsession/error.h"
#include "jwtsession/session.h"

#define DEFAULT_MAX_BYTES (64 * 1024)
#define DEFAULT_MAX_DEPTH 16
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17) | JSON_ENCODE_ANY)

static jwts_codec_limits limits_or_defaults(const jwts_codec_limits *in)
{
    jwts_codec_limits l = in ? *in : (jwts_codec_limits){0};
    if (!l.max_bytes) l.max_bytes = DEFAULT_MAX_BYTES;
    if (!l.max_depth) l.max_depth = DEFAULT_MAX_DEPTH;
    if (!l.max_metadata) l.max_metadata = JWTS_METADATA_MAX;
    return l;
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* ,"name":v */
static void put_int(jwts_buf *b, const char *name, int64_t v)
{
    jwts_buf_puts(b, ",\"");
    jwts_buf_puts(b, name);
    jwts_buf_puts(b, "\":");
    jwts_buf_i64(b, v);
}

/* An id as a JSON string (ids are validated: UTF-8, no control characters). */
static void put_id(jwts_buf *b, const char *s)
{
    jwts_buf_json_str(b, s, strlen(s), JWTS_BUF_JSON_STRICT | JWTS_BUF_JSON_QUOTE);
}

/* "name":"<base64url of n bytes>" */
static void put_bytes(jwts_buf *b, const char *name, const void *bytes, size_t n)
{
    jwts_buf_putc(b, '"');
    jwts_buf_puts(b, name);
    jwts_buf_puts(b, "\":\"");
    jwts_buf_b64url(b, bytes, n);
    jwts_buf_putc(b, '"');
}

jwts_err jwts_session_to_json(const jwts_session *s, char **out, size_t *out_len)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "session_to_json: NULL output");
    jwts_err rc = jwts_session_validate(s);
    if (rc) return rc;
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"v\":1,\"user_id\":");
    put_id(&b, s->user_id);
    jwts_buf_puts(&b, ",\"session_id\":");
    put_id(&b, s->session_id);
    put_int(&b, "created_at", s->created_at_ms);
    put_int(&b, "updated_at", s->updated_at_ms);
    put_int(&b, "expires_at", s->expires_at_ms);
    put_int(&b, "idle_expires_at", s->idle_expires_at_ms);
    put_int(&b, "last_seen_at", s->last_seen_ms);
    jwts_buf_puts(&b, ",\"refresh\":{");
    put_bytes(&b, "current", s->refresh.current_hash, JWTS_REFRESH_HASH_LEN);
    jwts_buf_putc(&b, ',');
    put_bytes(&b, "previous", s->refresh.previous_hash, JWTS_REFRESH_HASH_LEN);
    jwts_buf_putc(&b, ',');
    put_bytes(&b, "sealed", s->refresh.sealed_next, JWTS_REFRESH_HASH_LEN);
    jwts_buf_putc(&b, ',');
    put_bytes(&b, "older", s->refresh.older, sizeof s->refresh.older);
    put_int(&b, "rotated_at", s->refresh.rotated_at_ms);
    put_int(&b, "generation", (int64_t)s->refresh.generation);
    jwts_buf_puts(&b, s->refresh.confirmed ? ",\"confirmed\":true" : ",\"confirmed\":false");
    jwts_buf_puts(&b, "},\"metadata\":");
    jwts_buf_puts(&b, s->metadata ? s->metadata : "{}");
    if (s->client_ip) {
        jwts_buf_puts(&b, ",\"client_ip\":");
        put_id(&b, s->client_ip);
    }
    if (s->user_agent) {
        jwts_buf_puts(&b, ",\"user_agent\":");
        put_id(&b, s->user_agent);
    }
    jwts_buf_putc(&b, '}');
    if (b.err) {
        jwts_buf_free(&b);
        return jwts_fail(JWTS_E_NO_MEMORY, "session_to_json: out of memory");
    }
    *out = b.data;
    if (out_len) *out_len = b.len;
    return JWTS_OK;
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* Depth of nested arrays/objects in v (a scalar is 0), stopping once past limit. */
static size_t json_depth(const json_t *v, size_t limit)
{
    size_t deepest = 0;
    if (limit == 0) return 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child)
        {
            size_t d = json_depth(child, limit - 1);
            if (d > deepest) deepest = d;
            if (deepest >= limit) break;
        }
        return deepest + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            size_t d = json_depth(child, limit - 1);
            if (d > deepest) deepest = d;
            if (deepest >= limit) break;
        }
        return deepest + 1;
    }
    return 0;
}

/* Check a parsed metadata value and dump it in canonical form. */
static jwts_err metadata_dump(const json_t *v, const jwts_codec_limits *l, char **out)
{
    if (!json_is_object(v)) return jwts_fail(JWTS_E_MALFORMED, "metadata: must be a JSON object");
    if (json_depth(v, l->max_depth + 1) > l->max_depth)
        return jwts_fail(JWTS_E_MALFORMED, "metadata: nested deeper than %zu", l->max_depth);
    char *text = json_dumps(v, DUMP_FLAGS);
    if (!text) return jwts_fail(JWTS_E_NO_MEMORY, "metadata: cannot serialize");
    if (strlen(text) > l->max_metadata) {
        free(text);
        return jwts_fail(JWTS_E_MALFORMED, "metadata: larger than %zu bytes", l->max_metadata);
    }
    *out = text;
    return JWTS_OK;
}

static jwts_err parse(const char *json, size_t len, const jwts_codec_limits *l, json_t **out)
{
    if (!json) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "JSON input is NULL");
    if (len > l->max_bytes) return jwts_fail(JWTS_E_MALFORMED, "JSON is %zu bytes (max %zu)", len, l->max_bytes);
    json_error_t e;
    *out = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    if (!*out) return jwts_fail(JWTS_E_MALFORMED, "JSON: %s at offset %d", e.text, e.position);
    return JWTS_OK;
}

jwts_err jwts_metadata_canonicalize(const char *json, size_t len, const jwts_codec_limits *limits, char **out)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metadata: NULL output");
    jwts_codec_limits l = limits_or_defaults(limits);
    if (l.max_bytes > l.max_metadata) l.max_bytes = l.max_metadata;
    json_t *v;
    jwts_err rc = parse(json, len, &l, &v);
    if (rc) return jwts_fail_wrap(rc, "metadata");
    rc = metadata_dump(v, &l, out);
    json_decref(v);
    return rc;
}

static jwts_err get_time(json_t *obj, const char *name, int64_t *out)
{
    json_t *v = json_object_get(obj, name);
    if (!v) return jwts_fail(JWTS_E_MALFORMED, "%s: missing", name);
    if (!json_is_integer(v)) return jwts_fail(JWTS_E_MALFORMED, "%s: must be an integer", name);
    json_int_t n = json_integer_value(v);
    if (n < 0) return jwts_fail(JWTS_E_MALFORMED, "%s: must not be negative", name);
    *out = (int64_t)n;
    return JWTS_OK;
}

static jwts_err get_string(json_t *obj, const char *name, const char **out)
{
    json_t *v = json_object_get(obj, name);
    if (!v) return jwts_fail(JWTS_E_MALFORMED, "%s: missing", name);
    if (!json_is_string(v)) return jwts_fail(JWTS_E_MALFORMED, "%s: must be a string", name);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return jwts_fail(JWTS_E_MALFORMED, "%s: contains a NUL character", name);
    *out = json_string_value(v);
    return JWTS_OK;
}

/* obj.name: exactly n bytes in base64url. */
static jwts_err get_bytes(json_t *obj, const char *name, void *out, size_t n)
{
    const char *text = NULL;
    jwts_err rc = get_string(obj, name, &text);
    if (rc) return jwts_fail_wrap(rc, "refresh");
    size_t got = 0, len = strlen(text);
    if (len != jwts_b64url_encoded_len(n) || jwts_b64url_decode(text, len, out, n, &got) || got != n)
        return jwts_fail(JWTS_E_MALFORMED, "refresh.%s: must be %zu bytes in base64url", name, n);
    return JWTS_OK;
}

static jwts_err get_bool(json_t *obj, const char *name, bool *out)
{
    json_t *v = json_object_get(obj, name);
    if (!v) return jwts_fail(JWTS_E_MALFORMED, "%s: missing", name);
    if (!json_is_boolean(v)) return jwts_fail(JWTS_E_MALFORMED, "%s: must be true or false", name);
    *out = json_is_true(v);
    return JWTS_OK;
}

/* Reject members of obj not named in allowed (a NULL-terminated list). */
static jwts_err only_known(json_t *obj, const char *const *allowed, const char *where)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++) known = strcmp(*a, k) == 0;
        if (!known) return jwts_fail(JWTS_E_MALFORMED, "%s: unknown member \"%.64s\"", where, k);
    }
    return JWTS_OK;
}

static const char *const TOP_MEMBERS[] = {"v",          "user_id",         "session_id",   "created_at",
                                          "updated_at", "expires_at",      "idle_expires_at", "last_seen_at",
                                          "refresh",    "metadata",        "client_ip",    "user_agent", NULL};
static const char *const REFRESH_MEMBERS[] = {"current",    "previous",   "sealed",    "older",
                                              "rotated_at", "generation", "confirmed", NULL};

static jwts_err decode_refresh(json_t *root, jwts_refresh_state *r)
{
    json_t *obj = json_object_get(root, "refresh");
    if (!obj) return jwts_fail(JWTS_E_MALFORMED, "refresh: missing");
    if (!json_is_object(obj)) return jwts_fail(JWTS_E_MALFORMED, "refresh: must be an object");
    jwts_err rc = only_known(obj, REFRESH_MEMBERS, "refresh");
    if (!rc) rc = get_bytes(obj, "current", r->current_hash, JWTS_REFRESH_HASH_LEN);
    if (!rc) rc = get_bytes(obj, "previous", r->previous_hash, JWTS_REFRESH_HASH_LEN);
    if (!rc) rc = get_bytes(obj, "sealed", r->sealed_next, JWTS_REFRESH_HASH_LEN);
    if (!rc) rc = get_bytes(obj, "older", r->older, sizeof r->older);
    if (!rc) rc = get_time(obj, "rotated_at", &r->rotated_at_ms);
    int64_t gen = 0;
    if (!rc) rc = get_time(obj, "generation", &gen);
    if (!rc) rc = get_bool(obj, "confirmed", &r->confirmed);
    if (rc) return jwts_fail_wrap(rc, "refresh");
    r->generation = (uint64_t)gen;
    return JWTS_OK;
}

static jwts_err decode_root(json_t *root, const jwts_codec_limits *l, jwts_session *s, char **metadata)
{
    if (!json_is_object(root)) return jwts_fail(JWTS_E_MALFORMED, "session: must be a JSON object");
    jwts_err rc = only_known(root, TOP_MEMBERS, "session");
    if (rc) return rc;
    json_t *v = json_object_get(root, "v");
    if (!v || !json_is_integer(v) || json_integer_value(v) != 1)
        return jwts_fail(JWTS_E_MALFORMED, "v: must be the integer 1");
    if ((rc = get_string(root, "user_id", &s->user_id))) return rc;
    if ((rc = get_string(root, "session_id", &s->session_id))) return rc;
    if ((rc = get_time(root, "created_at", &s->created_at_ms))) return rc;
    if ((rc = get_time(root, "updated_at", &s->updated_at_ms))) return rc;
    if ((rc = get_time(root, "expires_at", &s->expires_at_ms))) return rc;
    if ((rc = get_time(root, "idle_expires_at", &s->idle_expires_at_ms))) return rc;
    if ((rc = get_time(root, "last_seen_at", &s->last_seen_ms))) return rc;
    if ((rc = decode_refresh(root, &s->refresh))) return rc;
    json_t *meta = json_object_get(root, "metadata");
    if (!meta) return jwts_fail(JWTS_E_MALFORMED, "metadata: missing");
    if ((rc = metadata_dump(meta, l, metadata))) return rc;
    s->metadata = *metadata;
    if (json_object_get(root, "client_ip") && (rc = get_string(root, "client_ip", &s->client_ip))) return rc;
    if (json_object_get(root, "user_agent") && (rc = get_string(root, "user_agent", &s->user_agent))) return rc;
    rc = jwts_session_validate(s);
    if (rc) return jwts_fail_wrap(JWTS_E_MALFORMED, "session");
    return JWTS_OK;
}

jwts_err jwts_session_from_json(const char *json, size_t len, const jwts_codec_limits *limits, jwts_session **out)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "session_from_json: NULL output");
    *out = NULL;
    jwts_codec_limits l = limits_or_defaults(limits);
    json_t *root;
    jwts_err rc = parse(json, len, &l, &root);
    if (rc) return rc;
    jwts_session s = {0};
    char *metadata = NULL;
    rc = decode_root(root, &l, &s, &metadata);
    if (rc == JWTS_OK) rc = jwts_session_clone(&s, out);
    free(metadata);
    json_decref(root);
    return rc;
}
