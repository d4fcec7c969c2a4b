/*
 * json.c - JSON in and out for the API.
 *
 * Out: responses are written with the library's jwts_buf, so they can embed a session's metadata
 * text exactly as stored. In: request bodies are checked with jansson (one object, no
 * duplicate members, only known names), and a member's raw text is cut out of the body so
 * metadata reaches the manager byte for byte (jansson would re-print numbers such as 1.1).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* ---- input ------------------------------------------------------------------------------------- */

struct jwtsd_body {
    json_t *root;
    const char *text;
    size_t len;
};

jwts_err jwtsd_body_parse(const char *body, size_t len, const char *const *allowed, jwtsd_body **out, char *msg,
                          size_t msglen)
{
    *out = NULL;
    if (memchr(body, '\0', len)) { /* jansson skips one between tokens; the texts cut out below would end there */
        snprintf(msg, msglen, "request body contains a NUL byte");
        return JWTS_E_MALFORMED;
    }
    json_error_t jerr;
    /* Integers as reals: any size is accepted here; metadata is passed on as raw text anyway. */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root) {
        snprintf(msg, msglen, "request body is not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                 jerr.column);
        return JWTS_E_MALFORMED;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(msg, msglen, "request body must be a JSON object");
        return JWTS_E_MALFORMED;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++) known = known || !strcmp(allowed[i], key);
        if (!known) {
            snprintf(msg, msglen, "unknown member \"%.64s\" in request body", key);
            json_decref(root);
            return JWTS_E_INVALID_ARGUMENT;
        }
    }
    jwtsd_body *b = malloc(sizeof(*b));
    if (!b) {
        json_decref(root);
        snprintf(msg, msglen, "out of memory");
        return JWTS_E_NO_MEMORY;
    }
    *b = (jwtsd_body){.root = root, .text = body, .len = len};
    *out = b;
    return JWTS_OK;
}

void jwtsd_body_free(jwtsd_body *b)
{
    if (!b) return;
    json_decref(b->root);
    free(b);
}

jwts_err jwtsd_body_string(const jwtsd_body *b, const char *name, const char **out, char *msg, size_t msglen)
{
    json_t *v = json_object_get(b->root, name);
    *out = NULL;
    if (!v) return JWTS_OK;
    if (!json_is_string(v)) {
        snprintf(msg, msglen, "\"%s\" must be a string", name);
        return JWTS_E_INVALID_ARGUMENT;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, msglen, "\"%s\" must not contain NUL characters", name);
        return JWTS_E_INVALID_ARGUMENT;
    }
    *out = json_string_value(v);
    return JWTS_OK;
}

jwts_err jwtsd_body_device(const jwtsd_body *b, bool *present, const char **ip, const char **user_agent, char *msg,
                           size_t msglen)
{
    json_t *d = json_object_get(b->root, "device");
    *present = d != NULL, *ip = NULL, *user_agent = NULL;
    if (!d) return JWTS_OK;
    if (!json_is_object(d)) {
        snprintf(msg, msglen, "\"device\" must be an object {\"ip\":..., \"user_agent\":...}");
        return JWTS_E_INVALID_ARGUMENT;
    }
    const char *key;
    json_t *v;
    json_object_foreach(d, key, v)
    {
        bool is_ip = !strcmp(key, "ip");
        if (!is_ip && strcmp(key, "user_agent")) {
            snprintf(msg, msglen, "unknown member \"%.64s\" in \"device\" (ip, user_agent)", key);
            return JWTS_E_INVALID_ARGUMENT;
        }
        if (json_is_null(v)) continue;
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(msg, msglen, "\"device.%s\" must be a string without NUL characters, or null", key);
            return JWTS_E_INVALID_ARGUMENT;
        }
        *(is_ip ? ip : user_agent) = json_string_value(v);
    }
    return JWTS_OK;
}

/* Skip JSON whitespace. */
static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* s[i] is '"': the index after the closing quote. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* The end of the value starting at s[i] (already valid JSON, checked by jansson). */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (s[i] == '"') return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, n);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0) return i + 1;
            }
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' &&
           s[i] != '\r')
        i++;
    return i;
}

/* Find the raw text of top-level member name in a body jansson already accepted as an object.
 * Keys are compared after decoding with jansson, so escaped spellings match too. */
static bool find_member(const char *s, size_t n, const char *name, size_t *start, size_t *end)
{
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{') return false;
    i = skip_ws(s, i + 1, n);
    while (i < n && s[i] == '"') {
        size_t kstart = i;
        i = skip_string(s, i, n);
        size_t kend = i;
        bool match = false;
        json_t *k = json_loadb(s + kstart, kend - kstart, JSON_DECODE_ANY, NULL);
        if (k && json_is_string(k)) match = !strcmp(json_string_value(k), name);
        json_decref(k);
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != ':') return false;
        i = skip_ws(s, i + 1, n);
        size_t vstart = i;
        i = skip_value(s, i, n);
        if (match) {
            *start = vstart;
            *end = i;
            return true;
        }
        i = skip_ws(s, i, n);
        if (i < n && s[i] == ',') i = skip_ws(s, i + 1, n);
    }
    return false;
}

jwts_err jwtsd_body_object_text(const jwtsd_body *b, const char *name, char **out, char *msg, size_t msglen)
{
    *out = NULL;
    json_t *v = json_object_get(b->root, name);
    if (!v) return JWTS_OK;
    if (!json_is_object(v)) {
        snprintf(msg, msglen, "\"%s\" must be a JSON object", name);
        return JWTS_E_INVALID_ARGUMENT;
    }
    size_t start, end;
    if (find_member(b->text, b->len, name, &start, &end)) {
        *out = strndup(b->text + start, end - start);
    } else {
        *out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    if (!*out) {
        snprintf(msg, msglen, "out of memory");
        return JWTS_E_NO_MEMORY;
    }
    return JWTS_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool jwtsd_percent_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n) return false;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap) return false;
        out[o++] = c;
    }
    if (o >= cap) return false;
    out[o] = '\0';
    return true;
}
