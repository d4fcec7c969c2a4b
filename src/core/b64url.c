/*
 * b64url.c - strict, canonical base64url without padding (RFC 4648 section 5, RFC 7515 appendix C).
 */
#include "jwtsession/b64url.h"
#include "jwtsession/error.h"

static const char ALPHABET[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63 for alphabet characters, 0xff for everything else. */
static const uint8_t DECODE[256] = {
#define X 0xff
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x00 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  /* 0x10 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  62, X,  X,  /* 0x20 '-' */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X,  X,  X,  X,  X,  X,  /* 0x30 digits */
    X,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, /* 0x40 */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X,  X,  X,  X,  63, /* 0x50 '_' */
    X,  26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 0x60 */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X,  X,  X,  X,  X,  /* 0x70 */
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
#undef X
};

jwts_err jwts_b64url_encode(const void *in, size_t n, char *out, size_t out_cap, size_t *out_len)
{
    const uint8_t *p = in;
    size_t need = jwts_b64url_encoded_len(n);
    if ((!in && n) || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "b64url encode: NULL buffer");
    if (need > out_cap) return jwts_fail(JWTS_E_LIMIT, "b64url encode: need %zu bytes, have %zu", need, out_cap);
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = ALPHABET[v >> 18];
        out[o++] = ALPHABET[(v >> 12) & 63];
        out[o++] = ALPHABET[(v >> 6) & 63];
        out[o++] = ALPHABET[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = ALPHABET[v >> 18];
        out[o++] = ALPHABET[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = ALPHABET[v >> 18];
        out[o++] = ALPHABET[(v >> 12) & 63];
        out[o++] = ALPHABET[(v >> 6) & 63];
    }
    if (o < out_cap) out[o] = '\0';
    if (out_len) *out_len = o;
    return JWTS_OK;
}

jwts_err jwts_b64url_decode(const char *in, size_t n, uint8_t *out, size_t out_cap, size_t *out_len)
{
    const uint8_t *p = (const uint8_t *)in;
    if ((!in && n) || (!out && n)) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "b64url decode: NULL buffer");
    if (n % 4 == 1) return jwts_fail(JWTS_E_MALFORMED, "b64url: impossible length %zu", n);
    size_t need = jwts_b64url_decoded_max(n);
    if (need > out_cap) return jwts_fail(JWTS_E_LIMIT, "b64url decode: need %zu bytes, have %zu", need, out_cap);
    size_t i = 0, o = 0;
    for (; i + 4 <= n; i += 4) {
        uint8_t a = DECODE[p[i]], b = DECODE[p[i + 1]], c = DECODE[p[i + 2]], d = DECODE[p[i + 3]];
        if ((a | b | c | d) & 0xc0) goto bad;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    size_t rest = n - i;
    if (rest >= 2) {
        uint8_t a = DECODE[p[i]], b = DECODE[p[i + 1]], c = rest == 3 ? DECODE[p[i + 2]] : 0;
        if ((a | b | c) & 0xc0) goto bad;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
        /* canonical: the bits past the last whole byte must be zero */
        if (rest == 2 && (v & 0xffff)) return jwts_fail(JWTS_E_MALFORMED, "b64url: non-canonical trailing bits");
        if (rest == 3 && (v & 0xff)) return jwts_fail(JWTS_E_MALFORMED, "b64url: non-canonical trailing bits");
        out[o++] = (uint8_t)(v >> 16);
        if (rest == 3) out[o++] = (uint8_t)(v >> 8);
    }
    if (out_len) *out_len = o;
    return JWTS_OK;
bad:
    for (size_t k = i; k < n; k++)
        if (DECODE[p[k]] == 0xff) return jwts_fail(JWTS_E_MALFORMED, "b64url: invalid character at offset %zu", k);
    return jwts_fail(JWTS_E_MALFORMED, "b64url: invalid input");
}
