/*
 * sbuf.c - the small string builder the JOSE layer writes headers, tokens and JWKs with.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "jose/jose_int.h"
#include "jwtsession/b64url.h"

/* Make room for n more bytes plus a NUL. */
static int reserve(jwts_sbuf *b, size_t n)
{
    if (b->err) return -1;
    if (b->len + n + 1 <= b->cap) return 0;
    if (b->fixed) {
        b->err = JWTS_E_LIMIT;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = malloc(cap);
    if (!d) {
        b->err = JWTS_E_NO_MEMORY;
        return -1;
    }
    if (b->len) memcpy(d, b->data, b->len);
    if (b->data) {
        OPENSSL_cleanse(b->data, b->cap); /* it may hold a secret (private JWK) */
        free(b->data);
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void jwts_sbuf_add(jwts_sbuf *b, const void *s, size_t n)
{
    if (reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void jwts_sbuf_adds(jwts_sbuf *b, const char *s)
{
    jwts_sbuf_add(b, s, strlen(s));
}

void jwts_sbuf_add_b64(jwts_sbuf *b, const void *bytes, size_t n)
{
    size_t need = jwts_b64url_encoded_len(n), got;
    if (reserve(b, need)) return;
    jwts_b64url_encode(bytes, n, b->data + b->len, need + 1, &got);
    b->len += got;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4, cp = c & 0x07;
    else
        return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

void jwts_sbuf_add_jstr(jwts_sbuf *b, const char *s, size_t n)
{
    static const char HEX[] = "0123456789abcdef";
    const uint8_t *p = (const uint8_t *)s;
    jwts_sbuf_add(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_len(p + i, n - i);
            if (!k) {
                if (!b->err) b->err = JWTS_E_MALFORMED;
                return;
            }
            i += k;
            continue;
        }
        jwts_sbuf_add(b, s + run, i - run);
        char e[6] = {'\\', (char)c, 0, 0, 0, 0};
        size_t el = 2;
        if (c < 0x20) {
            switch (c) {
            case '\n':
                e[1] = 'n';
                break;
            case '\r':
                e[1] = 'r';
                break;
            case '\t':
                e[1] = 't';
                break;
            case '\b':
                e[1] = 'b';
                break;
            case '\f':
                e[1] = 'f';
                break;
            default:
                e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = HEX[c >> 4], e[5] = HEX[c & 15];
                el = 6;
            }
        }
        jwts_sbuf_add(b, e, el);
        run = ++i;
    }
    jwts_sbuf_add(b, s + run, n - run);
    jwts_sbuf_add(b, "\"", 1);
}

void jwts_sbuf_wipe(jwts_sbuf *b)
{
    if (b->data && !b->fixed) {
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

jwts_err jwts_sbuf_finish(jwts_sbuf *b, char **out)
{
    if (!b->err && !b->data) reserve(b, 0);
    if (b->err) {
        jwts_err e = b->err;
        jwts_sbuf_wipe(b);
        if (e == JWTS_E_NO_MEMORY) return jwts_fail(e, "out of memory building a string");
        if (e == JWTS_E_MALFORMED) return jwts_fail(e, "string is not valid UTF-8");
        return jwts_fail(e, "output buffer too small");
    }
    *out = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return JWTS_OK;
}
