/*
 * buf.c - the library's one growable string buffer (see buf.h): heap or fixed storage, a latched
 * error, optional wiping for secrets, and the number, hex, base64url and JSON string writers the
 * JOSE, session and observe layers share.
 */
#include "jwtsession/buf.h"

#include <math.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/b64url.h"

#define FIRST_CAP 256

/* Latch e unless an earlier failure already is. */
static void latch(jwts_buf *b, jwts_err e)
{
    if (!b->err) b->err = e;
}

/* A new heap block of cap bytes holding b's content; a secret's old block is wiped. */
static char *regrow(jwts_buf *b, size_t cap)
{
    if (!b->secret) return realloc(b->data, cap);
    char *d = malloc(cap);
    if (!d) return NULL;
    if (b->len) memcpy(d, b->data, b->len);
    if (b->data) {
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    return d;
}

/* Make room for n more bytes plus a NUL; false (with err latched) when there is none. */
static bool reserve(jwts_buf *b, size_t n)
{
    if (b->err) return false;
    if (n < b->cap && b->len < b->cap - n) return true; /* len + n + 1 <= cap, without overflow */
    if (b->fixed) {
        latch(b, JWTS_E_LIMIT);
        return false;
    }
    if (n > SIZE_MAX / 2 - b->len) {
        latch(b, JWTS_E_NO_MEMORY);
        return false;
    }
    size_t cap = b->cap ? b->cap : FIRST_CAP;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = regrow(b, cap);
    if (!d) {
        latch(b, JWTS_E_NO_MEMORY);
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void jwts_buf_put(jwts_buf *b, const void *p, size_t n)
{
    if (!reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void jwts_buf_puts(jwts_buf *b, const char *s)
{
    jwts_buf_put(b, s, strlen(s));
}

void jwts_buf_putc(jwts_buf *b, char c)
{
    jwts_buf_put(b, &c, 1);
}

void jwts_buf_printf(jwts_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        latch(b, JWTS_E_INTERNAL);
        return;
    }
    if ((size_t)n < sizeof small) {
        jwts_buf_put(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void jwts_buf_u64(jwts_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    jwts_buf_put(b, tmp + i, sizeof tmp - i);
}

void jwts_buf_i64(jwts_buf *b, int64_t v)
{
    if (v < 0) {
        jwts_buf_putc(b, '-');
        jwts_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        jwts_buf_u64(b, (uint64_t)v);
    }
}

void jwts_buf_double(jwts_buf *b, double d)
{
    char tmp[40];
    if (isnan(d) || isinf(d)) {
        jwts_buf_puts(b, isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    jwts_buf_puts(b, tmp);
}

static const char HEX[] = "0123456789abcdef";

void jwts_buf_hex(jwts_buf *b, const uint8_t *p, size_t n)
{
    if (n > SIZE_MAX / 2) {
        latch(b, JWTS_E_NO_MEMORY);
        return;
    }
    if (!reserve(b, 2 * n)) return;
    for (size_t i = 0; i < n; i++) {
        b->data[b->len++] = HEX[p[i] >> 4];
        b->data[b->len++] = HEX[p[i] & 15];
    }
    b->data[b->len] = '\0';
}

void jwts_buf_b64url(jwts_buf *b, const void *p, size_t n)
{
    size_t need = jwts_b64url_encoded_len(n), got = 0;
    if (!reserve(b, need)) return;
    jwts_b64url_encode(p, n, b->data + b->len, need + 1, &got);
    b->len += got;
}

/* Length of the valid UTF-8 sequence at s (left bytes available), or 0: no overlong forms, no
 * surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))) return 0;
    if (n == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))) return 0;
    return n;
}

/* Append the JSON escape of the control character c: a short form in strict mode when there is one. */
static void put_control(jwts_buf *b, unsigned char c, bool strict)
{
    char e[6] = {'\\', 'u', '0', '0', HEX[c >> 4], HEX[c & 15]};
    const char *shorts = strict ? strchr("\b\f\n\r\t", c) : NULL;
    if (c && shorts) {
        e[1] = "bfnrt"[shorts - "\b\f\n\r\t"];
        jwts_buf_put(b, e, 2);
    } else {
        jwts_buf_put(b, e, sizeof e);
    }
}

void jwts_buf_json_str(jwts_buf *b, const char *s, size_t n, int flags)
{
    bool strict = flags & JWTS_BUF_JSON_STRICT;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    if (flags & JWTS_BUF_JSON_QUOTE) jwts_buf_putc(b, '"');
    while (p < end) {
        const unsigned char *run = p; /* copy plain ASCII in one go */
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        if (p > run) jwts_buf_put(b, run, (size_t)(p - run));
        if (p == end) break;
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            jwts_buf_put(b, e, 2);
            p++;
        } else if (c < 0x20) {
            put_control(b, c, strict);
            p++;
        } else {
            size_t k = utf8_len(p, (size_t)(end - p));
            if (k) {
                jwts_buf_put(b, p, k);
                p += k;
            } else if (strict) {
                latch(b, JWTS_E_MALFORMED);
                return;
            } else {
                jwts_buf_puts(b, "\\ufffd");
                p++;
            }
        }
    }
    if (flags & JWTS_BUF_JSON_QUOTE) jwts_buf_putc(b, '"');
}

void jwts_buf_reset(jwts_buf *b)
{
    b->len = 0;
    b->err = JWTS_OK;
    if (b->data) b->data[0] = '\0';
}

void jwts_buf_free(jwts_buf *b)
{
    if (b->fixed) {
        b->len = 0;
        if (b->cap) b->data[0] = '\0';
        return;
    }
    if (b->data && b->secret) OPENSSL_cleanse(b->data, b->cap);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

jwts_err jwts_buf_finish(jwts_buf *b, char **out)
{
    if (!b->data || b->fixed) reserve(b, 0); /* "" on an empty heap buffer; a NUL on a fixed one */
    if (b->err) {
        jwts_err e = b->err;
        jwts_buf_free(b);
        if (e == JWTS_E_NO_MEMORY) return jwts_fail(e, "out of memory building a string");
        if (e == JWTS_E_MALFORMED) return jwts_fail(e, "string is not valid UTF-8");
        if (e == JWTS_E_LIMIT) return jwts_fail(e, "output buffer too small");
        return jwts_fail(e, "cannot build a string");
    }
    b->data[b->len] = '\0';
    *out = b->data;
    if (!b->fixed) {
        b->data = NULL;
        b->len = b->cap = 0;
    }
    return JWTS_OK;
}
