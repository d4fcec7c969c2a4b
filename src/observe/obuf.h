/*
 * obuf.h - private: a growable text buffer for the metrics renderer and the OTLP JSON encoder.
 *
 * Appends never fail visibly: on out-of-memory the buffer turns `failed` and stops growing, and
 * the caller checks once at the end.
 */
#ifndef JWTS_OBSERVE_OBUF_H
#define JWTS_OBSERVE_OBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct obuf {
    char *data;
    size_t len, cap;
    bool failed;
} obuf;

/* Append n bytes of p. */
void obuf_put(obuf *b, const void *p, size_t n);

/* Append the string s. */
void obuf_puts(obuf *b, const char *s);

/* Append one character. */
void obuf_putc(obuf *b, char c);

/* Append printf-style. */
void obuf_printf(obuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append v in decimal. */
void obuf_u64(obuf *b, uint64_t v);

/* Append v in decimal (with a sign when negative). */
void obuf_i64(obuf *b, int64_t v);

/* Append d as the shortest decimal that reads back as d ("NaN", "+Inf", "-Inf" for the others). */
void obuf_double(obuf *b, double d);

/* Append s as the inside of a JSON string (escaped; invalid UTF-8 bytes become U+FFFD). */
void obuf_json_str(obuf *b, const char *s);

/* The same for the len bytes at s (NULs included, escaped). */
void obuf_json_strn(obuf *b, const char *s, size_t len);

/* Append n bytes as lowercase hex. */
void obuf_hex(obuf *b, const uint8_t *p, size_t n);

/* Free the data and reset. */
void obuf_free(obuf *b);

#endif
