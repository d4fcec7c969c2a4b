/*
 * json_scan.c - strict, bounded, allocation-free JSON validation and top-level member scanning
 * (see json_scan.h). Recursion depth is bounded by max_depth; duplicate detection keeps a small
 * hash per open member name in the scanner, so the work stays linear for honest input and
 * bounded (JWTS_JSON_MAX_MEMBERS) for hostile input.
 */
#include <string.h>

#include "jose/json_scan.h"
#include "jwtsession/error.h"

#define HARD_MAX_DEPTH 64

typedef struct keyrec {
    const char *p;
    uint32_t n;
    uint32_t hash;
    int esc;
} keyrec;

typedef struct scanner {
    const char *s;
    size_t n, i;
    unsigned max_depth;
    jwts_jmember_fn fn;
    void *arg;
    size_t nkeys;
    keyrec keys[JWTS_JSON_MAX_MEMBERS];
} scanner;

/* ---- unescaping iterator ----------------------------------------------------------------- */

typedef struct unesc {
    const char *p, *end;
    uint8_t b[4];
    int bi, bn;
} unesc;

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static uint32_t hex4(const char *p)
{
    return (uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

/* Next unescaped byte of a validated string, or -1 at its end. */
static int unesc_next(unesc *u)
{
    if (u->bi < u->bn) return u->b[u->bi++];
    if (u->p >= u->end) return -1;
    uint8_t c = (uint8_t)*u->p++;
    if (c != '\\') return c;
    c = (uint8_t)*u->p++;
    switch (c) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u':
        break;
    default:
        return c; /* " \ / */
    }
    uint32_t cp = hex4(u->p);
    u->p += 4;
    if (cp >= 0xd800 && cp <= 0xdbff) { /* validated: a low surrogate escape follows */
        uint32_t lo = hex4(u->p + 2);
        u->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp < 0x80) {
        u->b[0] = (uint8_t)cp;
        u->bn = 1;
    } else if (cp < 0x800) {
        u->b[0] = (uint8_t)(0xc0 | cp >> 6);
        u->b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        u->bn = 2;
    } else if (cp < 0x10000) {
        u->b[0] = (uint8_t)(0xe0 | cp >> 12);
        u->b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u->b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        u->bn = 3;
    } else {
        u->b[0] = (uint8_t)(0xf0 | cp >> 18);
        u->b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        u->b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u->b[3] = (uint8_t)(0x80 | (cp & 0x3f));
        u->bn = 4;
    }
    u->bi = 1;
    return u->b[0];
}

static void unesc_init(unesc *u, const char *s, size_t n)
{
    u->p = s;
    u->end = s + n;
    u->bi = u->bn = 0;
}

size_t jwts_json_unescape(const char *s, size_t n, int esc, char *out, size_t cap)
{
    if (!esc) {
        if (n >= cap) return (size_t)-1;
        memcpy(out, s, n);
        out[n] = '\0';
        return n;
    }
    unesc u;
    unesc_init(&u, s, n);
    size_t o = 0;
    for (int c; (c = unesc_next(&u)) >= 0;) {
        if (o + 1 >= cap) return (size_t)-1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return o;
}

int jwts_json_str_eq(const char *s, size_t n, int esc, const char *text)
{
    if (!esc) return strlen(text) == n && memcmp(s, text, n) == 0;
    unesc u;
    unesc_init(&u, s, n);
    const uint8_t *t = (const uint8_t *)text;
    for (int c; (c = unesc_next(&u)) >= 0; t++)
        if (*t == 0 || *t != c) return 0;
    return *t == 0;
}

static int span_eq(const char *a, size_t an, int aesc, const char *b, size_t bn, int besc)
{
    if (!aesc && !besc) return an == bn && memcmp(a, b, an) == 0;
    unesc ua, ub;
    unesc_init(&ua, a, an);
    unesc_init(&ub, b, bn);
    for (;;) {
        int ca = unesc_next(&ua), cb = unesc_next(&ub);
        if (ca != cb) return 0;
        if (ca < 0) return 1;
    }
}

static uint32_t span_hash(const char *s, size_t n, int esc)
{
    uint32_t h = 2166136261u;
    if (!esc) {
        for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
        return h;
    }
    unesc u;
    unesc_init(&u, s, n);
    for (int c; (c = unesc_next(&u)) >= 0;) h = (h ^ (uint32_t)c) * 16777619u;
    return h;
}

/* ---- validation -------------------------------------------------------------------------- */

static jwts_err bad(const scanner *sc, const char *what)
{
    return jwts_fail(JWTS_E_MALFORMED, "JSON: %s at offset %zu", what, sc->i);
}

static void skip_ws(scanner *sc)
{
    while (sc->i < sc->n) {
        char c = sc->s[sc->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        sc->i++;
    }
}

static int cont(const scanner *sc, size_t at, uint8_t lo, uint8_t hi)
{
    if (at >= sc->n) return 0;
    uint8_t c = (uint8_t)sc->s[at];
    return c >= lo && c <= hi;
}

/* A string starting at the opening quote; start and len get the span of its content. */
static jwts_err scan_string(scanner *sc, const char **start, size_t *len, int *esc)
{
    sc->i++; /* opening quote */
    size_t b = sc->i;
    *esc = 0;
    while (sc->i < sc->n) {
        uint8_t c = (uint8_t)sc->s[sc->i];
        if (c == '"') {
            *start = sc->s + b;
            *len = sc->i - b;
            sc->i++;
            return JWTS_OK;
        }
        if (c < 0x20) return bad(sc, "control character in string");
        if (c < 0x80 && c != '\\') {
            sc->i++;
            continue;
        }
        if (c == '\\') {
            *esc = 1;
            if (sc->i + 1 >= sc->n) return bad(sc, "truncated escape");
            char e = sc->s[sc->i + 1];
            if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
                sc->i += 2;
                continue;
            }
            if (e != 'u') return bad(sc, "invalid escape");
            if (sc->i + 6 > sc->n) return bad(sc, "truncated \\u escape");
            for (int k = 2; k < 6; k++)
                if (hexval(sc->s[sc->i + k]) < 0) return bad(sc, "invalid \\u escape");
            uint32_t cp = hex4(sc->s + sc->i + 2);
            if (cp == 0) return bad(sc, "\\u0000 in string");
            if (cp >= 0xdc00 && cp <= 0xdfff) return bad(sc, "lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                const char *q = sc->s + sc->i + 6;
                if (sc->i + 12 > sc->n || q[0] != '\\' || q[1] != 'u') return bad(sc, "lone high surrogate");
                for (int k = 2; k < 6; k++)
                    if (hexval(q[k]) < 0) return bad(sc, "invalid \\u escape");
                uint32_t lo = hex4(q + 2);
                if (lo < 0xdc00 || lo > 0xdfff) return bad(sc, "lone high surrogate");
                sc->i += 12;
            } else {
                sc->i += 6;
            }
            continue;
        }
        /* UTF-8 multi-byte sequence (RFC 3629 table, no overlongs or surrogates) */
        size_t i = sc->i;
        int ok;
        if (c >= 0xc2 && c <= 0xdf)
            ok = cont(sc, i + 1, 0x80, 0xbf), sc->i += 2;
        else if (c == 0xe0)
            ok = cont(sc, i + 1, 0xa0, 0xbf) && cont(sc, i + 2, 0x80, 0xbf), sc->i += 3;
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
            ok = cont(sc, i + 1, 0x80, 0xbf) && cont(sc, i + 2, 0x80, 0xbf), sc->i += 3;
        else if (c == 0xed)
            ok = cont(sc, i + 1, 0x80, 0x9f) && cont(sc, i + 2, 0x80, 0xbf), sc->i += 3;
        else if (c == 0xf0)
            ok = cont(sc, i + 1, 0x90, 0xbf) && cont(sc, i + 2, 0x80, 0xbf) && cont(sc, i + 3, 0x80, 0xbf), sc->i += 4;
        else if (c >= 0xf1 && c <= 0xf3)
            ok = cont(sc, i + 1, 0x80, 0xbf) && cont(sc, i + 2, 0x80, 0xbf) && cont(sc, i + 3, 0x80, 0xbf), sc->i += 4;
        else if (c == 0xf4)
            ok = cont(sc, i + 1, 0x80, 0x8f) && cont(sc, i + 2, 0x80, 0xbf) && cont(sc, i + 3, 0x80, 0xbf), sc->i += 4;
        else
            ok = 0;
        if (!ok) {
            sc->i = i;
            return bad(sc, "invalid UTF-8");
        }
    }
    return bad(sc, "unterminated string");
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static jwts_err scan_number(scanner *sc)
{
    const char *s = sc->s;
    size_t i = sc->i, n = sc->n;
    if (i < n && s[i] == '-') i++;
    if (i >= n || !is_digit(s[i])) return bad(sc, "invalid number");
    if (s[i] == '0') {
        i++;
        if (i < n && is_digit(s[i])) return bad(sc, "leading zero in number");
    } else {
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || !is_digit(s[i])) return bad(sc, "invalid fraction");
        while (i < n && is_digit(s[i])) i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !is_digit(s[i])) return bad(sc, "invalid exponent");
        while (i < n && is_digit(s[i])) i++;
    }
    sc->i = i;
    return JWTS_OK;
}

static jwts_err scan_literal(scanner *sc, const char *lit, size_t len)
{
    if (sc->n - sc->i < len || memcmp(sc->s + sc->i, lit, len) != 0) return bad(sc, "invalid literal");
    sc->i += len;
    return JWTS_OK;
}

static jwts_err scan_object(scanner *sc, unsigned depth);
static jwts_err scan_array(scanner *sc, unsigned depth);

/* A value at sc->i (whitespace already skipped). */
static jwts_err scan_value(scanner *sc, unsigned depth, jwts_jtype *type, const char **sp, size_t *sl, int *esc)
{
    if (sc->i >= sc->n) return bad(sc, "value expected");
    size_t b = sc->i;
    jwts_err e;
    *esc = 0;
    switch (sc->s[sc->i]) {
    case '"':
        *type = JWTS_JT_STRING;
        return scan_string(sc, sp, sl, esc);
    case '{':
        *type = JWTS_JT_OBJECT;
        e = scan_object(sc, depth + 1);
        break;
    case '[':
        *type = JWTS_JT_ARRAY;
        e = scan_array(sc, depth + 1);
        break;
    case 't':
        *type = JWTS_JT_TRUE;
        e = scan_literal(sc, "true", 4);
        break;
    case 'f':
        *type = JWTS_JT_FALSE;
        e = scan_literal(sc, "false", 5);
        break;
    case 'n':
        *type = JWTS_JT_NULL;
        e = scan_literal(sc, "null", 4);
        break;
    default:
        *type = JWTS_JT_NUMBER;
        e = scan_number(sc);
        break;
    }
    *sp = sc->s + b;
    *sl = sc->i - b;
    return e;
}

static jwts_err scan_array(scanner *sc, unsigned depth)
{
    if (depth > sc->max_depth) return jwts_fail(JWTS_E_LIMIT, "JSON nested deeper than %u levels", sc->max_depth);
    sc->i++; /* [ */
    skip_ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == ']') {
        sc->i++;
        return JWTS_OK;
    }
    for (;;) {
        jwts_jtype t;
        const char *sp;
        size_t sl;
        int esc;
        skip_ws(sc);
        jwts_err e = scan_value(sc, depth, &t, &sp, &sl, &esc);
        if (e) return e;
        skip_ws(sc);
        if (sc->i >= sc->n) return bad(sc, "unterminated array");
        char c = sc->s[sc->i++];
        if (c == ']') return JWTS_OK;
        if (c != ',') {
            sc->i--;
            return bad(sc, "',' or ']' expected");
        }
    }
}

static jwts_err scan_object(scanner *sc, unsigned depth)
{
    if (depth > sc->max_depth) return jwts_fail(JWTS_E_LIMIT, "JSON nested deeper than %u levels", sc->max_depth);
    size_t base = sc->nkeys;
    sc->i++; /* { */
    skip_ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == '}') {
        sc->i++;
        return JWTS_OK;
    }
    for (;;) {
        jwts_jmember m;
        skip_ws(sc);
        if (sc->i >= sc->n || sc->s[sc->i] != '"') return bad(sc, "member name expected");
        jwts_err e = scan_string(sc, &m.key, &m.key_len, &m.key_esc);
        if (e) return e;
        uint32_t h = span_hash(m.key, m.key_len, m.key_esc);
        for (size_t k = base; k < sc->nkeys; k++) {
            const keyrec *r = &sc->keys[k];
            if (r->hash == h && span_eq(r->p, r->n, r->esc, m.key, m.key_len, m.key_esc))
                return jwts_fail(JWTS_E_MALFORMED, "JSON: duplicate member name at offset %zu",
                                 (size_t)(m.key - sc->s));
        }
        if (sc->nkeys >= JWTS_JSON_MAX_MEMBERS)
            return jwts_fail(JWTS_E_LIMIT, "JSON has more than %d open members", JWTS_JSON_MAX_MEMBERS);
        if (m.key_len > UINT32_MAX) return bad(sc, "member name too long");
        sc->keys[sc->nkeys++] = (keyrec){m.key, (uint32_t)m.key_len, h, m.key_esc};
        skip_ws(sc);
        if (sc->i >= sc->n || sc->s[sc->i] != ':') return bad(sc, "':' expected");
        sc->i++;
        skip_ws(sc);
        e = scan_value(sc, depth, &m.type, &m.val, &m.val_len, &m.val_esc);
        if (e) return e;
        if (depth == 1 && sc->fn) {
            e = sc->fn(sc->arg, &m);
            if (e) return e;
        }
        skip_ws(sc);
        if (sc->i >= sc->n) return bad(sc, "unterminated object");
        char c = sc->s[sc->i++];
        if (c == '}') {
            sc->nkeys = base;
            return JWTS_OK;
        }
        if (c != ',') {
            sc->i--;
            return bad(sc, "',' or '}' expected");
        }
    }
}

jwts_err jwts_json_scan(const char *json, size_t n, unsigned max_depth, jwts_jmember_fn fn, void *arg)
{
    scanner sc;
    if (!json) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "JSON: NULL input");
    sc.s = json;
    sc.n = n;
    sc.i = 0;
    sc.max_depth = max_depth == 0 || max_depth > HARD_MAX_DEPTH ? HARD_MAX_DEPTH : max_depth;
    sc.fn = fn;
    sc.arg = arg;
    sc.nkeys = 0;
    skip_ws(&sc);
    if (sc.i >= n || json[sc.i] != '{') return bad(&sc, "object expected");
    jwts_err e = scan_object(&sc, 1);
    if (e) return e;
    skip_ws(&sc);
    if (sc.i != n) return bad(&sc, "trailing data");
    return JWTS_OK;
}

jwts_err jwts_json_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n && s[0] == '-') neg = 1, i = 1;
    if (i >= n) return jwts_fail(JWTS_E_MALFORMED, "not an integer");
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(s[i])) return jwts_fail(JWTS_E_MALFORMED, "not an integer");
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (lim - d) / 10) return jwts_fail(JWTS_E_MALFORMED, "integer out of range");
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return JWTS_OK;
}

int jwts_json_array_next_str(const char *arr, size_t n, size_t *pos, const char **s, size_t *s_len, int *esc)
{
    size_t i = *pos ? *pos : 1; /* past '[' */
    while (i < n && (arr[i] == ' ' || arr[i] == '\t' || arr[i] == '\n' || arr[i] == '\r' || arr[i] == ',')) i++;
    if (i >= n || arr[i] == ']') return 0;
    if (arr[i] != '"') return -1;
    size_t b = ++i;
    *esc = 0;
    while (i < n && arr[i] != '"') {
        if (arr[i] == '\\') *esc = 1, i++;
        i++;
    }
    *s = arr + b;
    *s_len = i - b;
    *pos = i + 1;
    return 1;
}
