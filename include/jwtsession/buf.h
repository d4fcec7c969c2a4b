/*
 * buf.h - jwts_buf, the one growable string buffer of the library and its programs.
 *
 * Every layer that writes text (JOSE headers, tokens and JWKs, the session JSON codec, the metrics
 * renderer, the OTLP JSON encoder, jwtsessiond's answers) appends into a jwts_buf. Appends never
 * fail visibly: the first failure is latched in `err` and later appends do nothing, so a writer
 * appends freely and checks once at the end (jwts_buf_finish, or `err` directly).
 *
 *     jwts_buf b = {0};                        heap, grows by doubling
 *     jwts_buf b = JWTS_BUF_SECRET;            heap, old blocks and the final free are wiped
 *     jwts_buf b = JWTS_BUF_FIXED(arr, size);  the caller's array, never allocates (JWTS_E_LIMIT when full)
 *
 * The content is NUL-terminated after every successful append. Not thread-safe: one writer a buffer.
 */
#ifndef JWTSESSION_BUF_H
#define JWTSESSION_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jwts_buf {
    char *data;   /* the content, NUL-terminated (NULL on a heap buffer before its first append) */
    size_t len;   /* content bytes, without the NUL */
    size_t cap;   /* bytes at data */
    bool fixed;   /* data is the caller's array: never grown, never freed */
    bool secret;  /* may hold a secret: growth copies then wipes the old block; free wipes */
    jwts_err err; /* first failure, latched: NO_MEMORY, LIMIT (fixed buffer full), MALFORMED (strict
                   * JSON string not UTF-8), INTERNAL (printf encoding error) */
} jwts_buf;

/* Initialiser of a heap buffer that may hold a secret (a private JWK, an HMAC key). */
#define JWTS_BUF_SECRET ((jwts_buf){.secret = true})

/* Initialiser of a buffer over the caller's array arr of size bytes (size >= 1). */
#define JWTS_BUF_FIXED(arr, size) ((jwts_buf){.data = (arr), .cap = (size), .fixed = true})

/* Flags of jwts_buf_json_str. */
enum {
    /* Strict: s must be UTF-8, else JWTS_E_MALFORMED is latched; controls get their short escapes
     * (\b \f \n \r \t, else \u00XX). Without it (lenient), each invalid UTF-8 byte becomes \ufffd and
     * every control character is written \u00XX. */
    JWTS_BUF_JSON_STRICT = 1,
    /* Write the surrounding quotes too. */
    JWTS_BUF_JSON_QUOTE = 2,
};

/* Append the n bytes at p. */
void jwts_buf_put(jwts_buf *b, const void *p, size_t n);

/* Append the NUL-terminated string s. */
void jwts_buf_puts(jwts_buf *b, const char *s);

/* Append the character c. */
void jwts_buf_putc(jwts_buf *b, char c);

/* Append printf-style. */
void jwts_buf_printf(jwts_buf *b, const char *fmt, ...) JWTS_PRINTF(2, 3);

/* Append v in decimal. */
void jwts_buf_u64(jwts_buf *b, uint64_t v);

/* Append v in decimal, with a '-' when negative. */
void jwts_buf_i64(jwts_buf *b, int64_t v);

/* Append d as the shortest decimal that reads back as d ("NaN", "+Inf", "-Inf" for the others). */
void jwts_buf_double(jwts_buf *b, double d);

/* Append the n bytes at p as lowercase hex. */
void jwts_buf_hex(jwts_buf *b, const uint8_t *p, size_t n);

/* Append the n bytes at p in base64url without padding. */
void jwts_buf_b64url(jwts_buf *b, const void *p, size_t n);

/* Append the n bytes at s as a JSON string, escaped; flags: JWTS_BUF_JSON_STRICT, JWTS_BUF_JSON_QUOTE. */
void jwts_buf_json_str(jwts_buf *b, const char *s, size_t n, int flags);

/* Empty b and clear its latched error, keeping its storage for reuse. */
void jwts_buf_reset(jwts_buf *b);

/* Free a heap buffer's storage (wiped first when secret) and reset b to empty; a fixed buffer is only
 * emptied. The latched error is kept. */
void jwts_buf_free(jwts_buf *b);

/* The NUL-terminated result into *out: a heap buffer passes ownership (free() it; "" when nothing was
 * appended), a fixed one gives its array. On a latched error the storage is freed, *out is untouched
 * and the error returns with a detail (jwts_fail). */
jwts_err jwts_buf_finish(jwts_buf *b, char **out);

#ifdef __cplusplus
}
#endif
#endif
