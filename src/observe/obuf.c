/*
 * obuf.c - the observe layer's growable text buffer (see obuf.h).
 */
#include "observe/obuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool grow(obuf *b, size_t more)
{
    if (b->failed) return false;
    if (b->len + more + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void obuf_put(obuf *b, const void *p, size_t n)
{
    if (!grow(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void obuf_puts(obuf *b, const char *s)
{
    obuf_put(b, s, strlen(s));
}

void obuf_putc(obuf *b, char c)
{
    obuf_put(b, &c, 1);
}

void obuf_printf(obuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        obuf_put(b, small, (size_t)n);
        return;
    }
    if (!grow(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void obuf_u64(obuf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    obuf_put(b, tmp + i, sizeof tmp - i);
}

void obuf_i64(obuf *b, int64_t v)
{
    if (v < 0) {
        obuf_putc(b, '-');
        obuf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        obuf_u64(b, (uint64_t)v);
    }
}

void obuf_double(obuf *b, double d)
{
    char tmp[40];
    if (isnan(d) || isinf(d)) {
        obuf_puts(b, isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    obuf_puts(b, tmp);
}

/* Length of the valid UTF-8 sequence at s (left bytes available), or 0. */
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

void obuf_json_strn(obuf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        const unsigned char *run = p; /* copy plain ASCII in one go */
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
        if (p > run) obuf_put(b, run, (size_t)(p - run));
        if (p == end) break;
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            obuf_putc(b, '\\');
            obuf_putc(b, (char)c);
            p++;
        } else if (c < 0x20) {
            obuf_printf(b, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            obuf_putc(b, (char)c);
            p++;
        } else {
            size_t n = utf8_len(p, (size_t)(end - p));
            if (n) {
                obuf_put(b, p, n);
                p += n;
            } else {
                obuf_puts(b, "\\ufffd");
                p++;
            }
        }
    }
}

void obuf_json_str(obuf *b, const char *s)
{
    obuf_json_strn(b, s, strlen(s));
}

void obuf_hex(obuf *b, const uint8_t *p, size_t n)
{
    static const char HEX[] = "0123456789abcdef";
    if (!grow(b, 2 * n)) return;
    for (size_t i = 0; i < n; i++) {
        b->data[b->len++] = HEX[p[i] >> 4];
        b->data[b->len++] = HEX[p[i] & 15];
    }
    b->data[b->len] = 0;
}

void obuf_free(obuf *b)
{
    free(b->data);
    *b = (obuf){0};
}
