/*
 * log.c - structured logs: one JSON object per line on stderr, written with a single write(2)
 * so lines from different threads never interleave.
 *
 * {"ts":"2026-01-02T03:04:05.678Z","level":"info","msg":"listening","addr":"127.0.0.1:8080"}
 *
 * Callers never pass a token or a key; values are escaped, and a line is cut at 4 KiB.
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

/* A fixed-size line that silently stops growing when full (the closing "}\n" is reserved). */
typedef struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
} line;

static void put(line *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 3 - l->len;
    if (n > room) n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[7];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p;
            put(l, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[*p >> 4], esc[5] = hex[*p & 15];
            put(l, esc, 6);
        } else {
            put(l, (const char *)p, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_key(line *l, const char *key)
{
    put(l, ",", 1);
    put_str(l, key);
    put(l, ":", 1);
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
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key) continue;
        if (kv[i].is_int) {
            char num[32];
            int k = snprintf(num, sizeof(num), "%lld", (long long)kv[i].i);
            put_key(&l, kv[i].key);
            put(&l, num, (size_t)k);
        } else if (kv[i].s) {
            put_key(&l, kv[i].key);
            put_str(&l, kv[i].s);
        }
    }
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}
