/*
 * trace_context.c - W3C trace-context (traceparent, tracestate) and Jaeger uber-trace-id.
 *
 * Parsers are strict where the W3C Recommendation says a receiver must ignore a header: version
 * ff, all-zero ids, non-lowercase-hex characters, wrong lengths. uber-trace-id is Jaeger's
 * legacy propagation, read so that older clients keep their traces.
 */
#include <string.h>

#include "jwtsession/error.h"
#include "jwtsession/trace.h"

#define TRACESTATE_MEMBERS 32

static int hexval(char c, bool upper_ok)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (upper_ok && c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode 2*n lowercase hex characters of s into out[n]. */
static bool hex_decode(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i], false), lo = hexval(s[2 * i + 1], false);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

jwts_err jwts_traceparent_parse(const char *header, jwts_trace_parent *out)
{
    if (!header || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "traceparent: NULL argument");
    memset(out, 0, sizeof *out);
    size_t n = strlen(header);
    trim(&header, &n);
    uint8_t version;
    if (n < JWTS_TRACEPARENT_LEN || !hex_decode(header, &version, 1))
        return jwts_fail(JWTS_E_MALFORMED, "traceparent: too short or bad version");
    if (version == 0xff) return jwts_fail(JWTS_E_MALFORMED, "traceparent: version ff is invalid");
    if (version == 0 && n != JWTS_TRACEPARENT_LEN) return jwts_fail(JWTS_E_MALFORMED, "traceparent: wrong length");
    if (n > JWTS_TRACEPARENT_LEN && header[JWTS_TRACEPARENT_LEN] != '-')
        return jwts_fail(JWTS_E_MALFORMED, "traceparent: wrong length");
    if (header[2] != '-' || header[35] != '-' || header[52] != '-')
        return jwts_fail(JWTS_E_MALFORMED, "traceparent: misplaced separator");
    jwts_trace_parent p = {0};
    if (!hex_decode(header + 3, p.trace_id, 16) || !hex_decode(header + 36, p.span_id, 8) ||
        !hex_decode(header + 53, &p.flags, 1))
        return jwts_fail(JWTS_E_MALFORMED, "traceparent: bad hex");
    if (all_zero(p.trace_id, 16)) return jwts_fail(JWTS_E_MALFORMED, "traceparent: all-zero trace id");
    if (all_zero(p.span_id, 8)) return jwts_fail(JWTS_E_MALFORMED, "traceparent: all-zero parent id");
    p.valid = true;
    *out = p;
    return JWTS_OK;
}

jwts_err jwts_traceparent_format(const jwts_trace_parent *p, char out[JWTS_TRACEPARENT_LEN + 1])
{
    static const char HEX[] = "0123456789abcdef";
    if (!p || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "traceparent: NULL argument");
    if (!p->valid || all_zero(p->trace_id, 16) || all_zero(p->span_id, 8))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "traceparent: no valid parent to format");
    char *o = out;
    *o++ = '0', *o++ = '0', *o++ = '-';
    for (int i = 0; i < 16; i++) *o++ = HEX[p->trace_id[i] >> 4], *o++ = HEX[p->trace_id[i] & 15];
    *o++ = '-';
    for (int i = 0; i < 8; i++) *o++ = HEX[p->span_id[i] >> 4], *o++ = HEX[p->span_id[i] & 15];
    *o++ = '-';
    *o++ = HEX[p->flags >> 4], *o++ = HEX[p->flags & 15];
    *o = 0;
    return JWTS_OK;
}

static bool lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}
static bool keychar(char c)
{
    return lcalpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
}

/* A tracestate key: simple-key or tenant-id@system-id. */
static bool ts_key_ok(const char *k, size_t n)
{
    const char *at = memchr(k, '@', n);
    if (!at) {
        if (n < 1 || n > 256 || !lcalpha(k[0])) return false;
        for (size_t i = 1; i < n; i++)
            if (!keychar(k[i])) return false;
        return true;
    }
    size_t tn = (size_t)(at - k), sn = n - tn - 1;
    if (tn < 1 || tn > 241 || sn < 1 || sn > 14) return false;
    if (!(lcalpha(k[0]) || (k[0] >= '0' && k[0] <= '9')) || !lcalpha(at[1])) return false;
    for (size_t i = 1; i < tn; i++)
        if (!keychar(k[i])) return false;
    for (size_t i = 1; i < sn; i++)
        if (!keychar(at[1 + i])) return false;
    return true;
}

static bool ts_value_ok(const char *v, size_t n)
{
    if (n < 1 || n > 256 || v[n - 1] == ' ') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
    }
    return true;
}

jwts_err jwts_tracestate_check(const char *header)
{
    if (!header) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "tracestate: NULL");
    size_t total = strlen(header);
    if (total > JWTS_TRACESTATE_MAX)
        return jwts_fail(JWTS_E_MALFORMED, "tracestate: longer than %d bytes", JWTS_TRACESTATE_MAX);
    const char *keys[TRACESTATE_MEMBERS];
    size_t key_lens[TRACESTATE_MEMBERS], members = 0;
    const char *p = header, *end = header + total;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *m = p;
        size_t n = (size_t)(stop - p);
        trim(&m, &n);
        if (n) {
            const char *eq = memchr(m, '=', n);
            if (!eq) return jwts_fail(JWTS_E_MALFORMED, "tracestate: member without '='");
            size_t kn = (size_t)(eq - m);
            if (!ts_key_ok(m, kn) || !ts_value_ok(eq + 1, n - kn - 1))
                return jwts_fail(JWTS_E_MALFORMED, "tracestate: bad member %zu", members + 1);
            if (members == TRACESTATE_MEMBERS)
                return jwts_fail(JWTS_E_MALFORMED, "tracestate: more than %d members", TRACESTATE_MEMBERS);
            for (size_t i = 0; i < members; i++)
                if (key_lens[i] == kn && !memcmp(keys[i], m, kn))
                    return jwts_fail(JWTS_E_MALFORMED, "tracestate: duplicate key");
            keys[members] = m;
            key_lens[members++] = kn;
        }
        if (!comma) break;
        p = comma + 1;
    }
    return JWTS_OK;
}

/* Parse up to max hex digits (either case) of s[0..n) into a big-endian id of out_len bytes,
 * zero-padded on the left. */
static bool hex_id(const char *s, size_t n, size_t max, uint8_t *out, size_t out_len)
{
    if (n < 1 || n > max) return false;
    memset(out, 0, out_len);
    for (size_t i = 0; i < n; i++) {
        int v = hexval(s[n - 1 - i], true);
        if (v < 0) return false;
        out[out_len - 1 - i / 2] |= (uint8_t)(i % 2 ? v << 4 : v);
    }
    return true;
}

jwts_err jwts_uber_trace_id_parse(const char *header, jwts_trace_parent *out)
{
    if (!header || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "uber-trace-id: NULL argument");
    memset(out, 0, sizeof *out);
    char buf[128];
    size_t n = 0;
    for (const char *p = header; *p; p++) { /* decode %3A */
        if (n + 1 >= sizeof buf) return jwts_fail(JWTS_E_MALFORMED, "uber-trace-id: too long");
        if (p[0] == '%' && p[1] == '3' && (p[2] == 'A' || p[2] == 'a')) {
            buf[n++] = ':';
            p += 2;
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = 0;
    const char *f[4];
    size_t len[4], k = 0;
    const char *s = buf;
    for (; k < 4; k++) {
        const char *colon = strchr(s, ':');
        f[k] = s;
        len[k] = colon ? (size_t)(colon - s) : strlen(s);
        if (!colon) {
            k++;
            break;
        }
        s = colon + 1;
    }
    if (k != 4 || strchr(f[3], ':')) return jwts_fail(JWTS_E_MALFORMED, "uber-trace-id: needs four fields");
    jwts_trace_parent p = {0};
    uint8_t parent[8], flags[1];
    if (!hex_id(f[0], len[0], 32, p.trace_id, 16) || !hex_id(f[1], len[1], 16, p.span_id, 8) ||
        !hex_id(f[2], len[2], 16, parent, 8) || !hex_id(f[3], len[3], 2, flags, 1))
        return jwts_fail(JWTS_E_MALFORMED, "uber-trace-id: bad hex field");
    if (all_zero(p.trace_id, 16) || all_zero(p.span_id, 8))
        return jwts_fail(JWTS_E_MALFORMED, "uber-trace-id: zero id");
    p.flags = flags[0] & 1;
    p.valid = true;
    *out = p;
    return JWTS_OK;
}

jwts_err jwts_trace_parent_extract(const char *traceparent, const char *uber_trace_id, jwts_trace_parent *out)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "trace_parent_extract: out is NULL");
    if (traceparent && jwts_traceparent_parse(traceparent, out) == JWTS_OK) return JWTS_OK;
    if (uber_trace_id && jwts_uber_trace_id_parse(uber_trace_id, out) == JWTS_OK) return JWTS_OK;
    memset(out, 0, sizeof *out);
    return jwts_fail(JWTS_E_NOT_FOUND, "no valid traceparent or uber-trace-id");
}
