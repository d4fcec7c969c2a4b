/*
 * log.c - structured logs: one JSON object per line on stderr, written with a single write(2)
 * so lines from different threads never interleave.
 *
 * {"ts":"2026-01-02T03:04:05.678Z","level":"info","msg":"listening","addr":"127.0.0.1:8080"}
 *
 * Callers never pass a token or a key; values are escaped (a byte that is not part of valid UTF-8,
 * such as one from a raw request path, becomes \ufffd, so a line is always valid JSON), and a line
 * is cut at 4 KiB, never inside a character.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

#define LOG_LINE_MAX 4096

static atomic_int log_min_level = JWTSD_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

bool jwtsd_log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(name, level_names[i])) {
            atomic_store(&log_min_level, i);
            return true;
        }
    }
    return false;
}

bool jwtsd_log_enabled(jwtsd_log_level level)
{
    return (int)level <= atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

/* A fixed-size line that stops growing when full ("}\n" stays reserved). Every piece goes in whole
 * or not at all, and a cut string still gets its closing quote, so a cut line is valid JSON. */
typedef struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    bool full;
} line;

static size_t room(const line *l)
{
    return sizeof(l->buf) - 2 - l->len;
}

/* Put n bytes, keeping keep bytes of room after them; else mark the line full. */
static bool put_keep(line *l, const char *s, size_t n, size_t keep)
{
    if (l->full || n + keep > room(l)) {
        l->full = true;
        return false;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    return true;
}

static bool put(line *l, const char *s, size_t n)
{
    return put_keep(l, s, n, 0);
}

/* The length of the valid UTF-8 sequence at p (RFC 3629: no overlong forms, no surrogates, at
 * most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80) return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    unsigned lo = 0x80, hi = 0xbf;
    size_t n;
    if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        if (p[0] == 0xe0) lo = 0xa0;
        if (p[0] == 0xed) hi = 0x9f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        if (p[0] == 0xf0) lo = 0x90;
        if (p[0] == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi) return 0; /* a NUL terminator fails here too */
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return n;
}

/* A JSON string; cut (with its closing quote) when the line fills up. */
static void put_str(line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (!put_keep(l, "\"", 1, 1)) return;
    for (const unsigned char *p = (const unsigned char *)s; *p && !l->full;) {
        char esc[7];
        size_t n = utf8_len(p);
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p;
            put_keep(l, esc, 2, 1);
        } else if (*p < 0x20 || *p == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4], esc[5] = hex[*p & 15];
            put_keep(l, esc, 6, 1);
        } else if (n == 0) {
            put_keep(l, "\\ufffd", 6, 1); /* not UTF-8: one replacement character per byte */
            n = 1;
        } else {
            put_keep(l, (const char *)p, n, 1);
        }
        p += n;
    }
    l->buf[l->len++] = '"'; /* the byte put_keep kept */
}

/* ,"key": followed by room for at least an empty string; false (nothing written) if it does not fit. */
static bool put_key(line *l, const char *key)
{
    size_t mark = l->len;
    put(l, ",", 1);
    put_str(l, key);
    if (l->full || !put_keep(l, ":", 1, 2)) {
        l->len = mark;
        l->full = true;
        return false;
    }
    return true;
}

void jwtsd_log(jwtsd_log_level level, const char *msg, const jwtsd_kv *kv, size_t n)
{
    if (!jwtsd_log_enabled(level)) return;
    line l = {.len = 0};
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[64];
    int sn =
        snprintf(stamp, sizeof(stamp), "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    put(&l, stamp, (size_t)sn);
    put_str(&l, level_names[level]);
    put_key(&l, "msg");
    put_str(&l, msg);
    for (size_t i = 0; i < n && !l.full; i++) {
        if (!kv[i].key) continue;
        size_t mark = l.len;
        if (kv[i].is_int) {
            char num[32];
            int k = snprintf(num, sizeof(num), "%lld", (long long)kv[i].i);
            if (put_key(&l, kv[i].key) && !put(&l, num, (size_t)k)) l.len = mark; /* the whole field or none */
        } else if (kv[i].s) {
            if (put_key(&l, kv[i].key)) put_str(&l, kv[i].s);
        }
    }
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}
