/*
 * ecdsa.c - the two forms of an ECDSA signature: JWS raw r||s (RFC 7518 section 3.4) and the DER
 * SEQUENCE { INTEGER r, INTEGER s } OpenSSL speaks. Converting raw to DER also enforces
 * 0 < r < n and 0 < s < n, so a zero or out-of-range scalar is refused before any curve math.
 */
#include <string.h>

#include "jose/jose_int.h"
#include "jwtsession/error.h"

/* -1, 0, 1 as a (len bytes, big-endian) compares to b. */
static int be_cmp(const uint8_t *a, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

static int be_is_zero(const uint8_t *a, size_t len)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) acc |= a[i];
    return acc == 0;
}

/* Append a DER length; lengths here are < 256. */
static size_t der_len(uint8_t *out, size_t n)
{
    if (n < 128) {
        out[0] = (uint8_t)n;
        return 1;
    }
    out[0] = 0x81;
    out[1] = (uint8_t)n;
    return 2;
}

/* Append the minimal DER INTEGER of the positive big-endian x (len bytes, not zero). */
static size_t der_int(uint8_t *out, const uint8_t *x, size_t len)
{
    while (len > 1 && x[0] == 0) {
        x++;
        len--;
    }
    size_t pad = (x[0] & 0x80) ? 1 : 0, o = 0;
    out[o++] = 0x02;
    o += der_len(out + o, len + pad);
    if (pad) out[o++] = 0;
    memcpy(out + o, x, len);
    return o + len;
}

jwts_err jwts_ecdsa_raw_to_der(const jwts_alg_info *info, const uint8_t *raw, size_t raw_len, uint8_t *der,
                               size_t *der_len_out)
{
    size_t n = info->coord_len;
    if (raw_len != 2 * n)
        return jwts_fail(JWTS_E_BAD_SIGNATURE, "%s signature is %zu bytes, expected %zu", info->name, raw_len, 2 * n);
    const uint8_t *r = raw, *s = raw + n;
    if (be_is_zero(r, n) || be_is_zero(s, n))
        return jwts_fail(JWTS_E_BAD_SIGNATURE, "%s signature has r or s equal to zero", info->name);
    if (be_cmp(r, info->order, n) >= 0 || be_cmp(s, info->order, n) >= 0)
        return jwts_fail(JWTS_E_BAD_SIGNATURE, "%s signature has r or s not below the group order", info->name);
    uint8_t body[2 * 72];
    size_t b = der_int(body, r, n);
    b += der_int(body + b, s, n);
    size_t o = 0;
    der[o++] = 0x30;
    o += der_len(der + o, b);
    memcpy(der + o, body, b);
    *der_len_out = o + b;
    return JWTS_OK;
}

/* Read one DER length at *p (definite, short or one/two-byte long form). */
static int read_len(const uint8_t **p, const uint8_t *end, size_t *len)
{
    if (*p >= end) return -1;
    uint8_t c = *(*p)++;
    if (c < 0x80) {
        *len = c;
    } else if (c == 0x81) {
        if (*p >= end) return -1;
        *len = *(*p)++;
    } else {
        return -1;
    }
    return *len <= (size_t)(end - *p) ? 0 : -1;
}

/* Read one positive INTEGER into out (n bytes, left-padded). */
static int read_int(const uint8_t **p, const uint8_t *end, uint8_t *out, size_t n)
{
    size_t len;
    if (*p >= end || *(*p)++ != 0x02 || read_len(p, end, &len) || len == 0) return -1;
    const uint8_t *x = *p;
    *p += len;
    while (len > 0 && x[0] == 0) {
        x++;
        len--;
    }
    if (len > n) return -1;
    memset(out, 0, n - len);
    memcpy(out + n - len, x, len);
    return 0;
}

jwts_err jwts_ecdsa_der_to_raw(const jwts_alg_info *info, const uint8_t *der, size_t der_len_in, uint8_t *raw)
{
    const uint8_t *p = der, *end = der + der_len_in;
    size_t len;
    if (p >= end || *p++ != 0x30 || read_len(&p, end, &len) || p + len != end ||
        read_int(&p, end, raw, info->coord_len) || read_int(&p, end, raw + info->coord_len, info->coord_len) ||
        p != end)
        return jwts_fail(JWTS_E_INTERNAL, "%s: unexpected DER signature from OpenSSL", info->name);
    return JWTS_OK;
}
