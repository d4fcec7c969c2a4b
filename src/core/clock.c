/*
 * clock.c - wall-clock and monotonic time, and durations as the programs take them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fail.h"
#include "jwtsession/clock.h"

int64_t jwts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t jwts_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t jwts_clock_now_ms(const jwts_clock *clock)
{
    if (clock && clock->now_ms) return clock->now_ms(clock->arg);
    return jwts_now_ms();
}

jwts_err jwts_duration_parse_ms(const char *text, int64_t *out_ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } UNITS[] = {{"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000}};
    if (!text || !out_ms) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "duration: NULL");
    char *end;
    errno = 0;
    long long v = isdigit((unsigned char)text[0]) ? strtoll(text, &end, 10) : -1;
    for (size_t i = 0; v >= 0 && !errno && i < sizeof UNITS / sizeof *UNITS; i++) {
        if (strcmp(end, UNITS[i].unit) != 0) continue;
        if (v > INT64_MAX / UNITS[i].ms) break;
        *out_ms = (int64_t)v * UNITS[i].ms;
        return JWTS_OK;
    }
    return jwts_fail(JWTS_E_INVALID_ARGUMENT, "\"%.32s\" is not a duration such as 90, 90s, 500ms, 15m, 12h or 30d",
                     text);
}
