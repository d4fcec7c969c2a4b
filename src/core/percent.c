/*
 * percent.c - percent-decoding for the store URL parsers (core/percent.h).
 */
#include <stdlib.h>

#include <openssl/crypto.h>

#include "core/percent.h"
#include "jwtsession/error.h"

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *jwts_percent_decode(const char *s, size_t n, const char *scheme, const char *what, jwts_err *rc)
{
    char *out = malloc(n + 1);
    if (!out) {
        *rc = jwts_fail(JWTS_E_NO_MEMORY, "%s url: out of memory", scheme);
        return NULL;
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[j++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            OPENSSL_cleanse(out, n + 1); /* what was decoded so far may be a password */
            free(out);
            *rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s url: bad percent escape in the %s", scheme, what);
            return NULL;
        }
        out[j++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[j] = '\0';
    return out;
}
