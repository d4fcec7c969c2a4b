/*
 * clock.c - wall-clock and monotonic time, and durations as the programs take them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"

int64_t jwts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / JWTS_NS_PER_MS;
}

int64_t jwts_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * JWTS_NS_PER_S + ts.tv_nsec;
}

int64_t jwts_ms_to_ns(int64_t ms)
{
    if (ms <= 0) return 0;
    return ms > INT64_MAX / JWTS_NS_PER_MS ? INT64_MAX : ms * JWTS_NS_PER_MS;
}

int64_t jwts_ns_to_ms_ceil(int64_t ns)
{
    return ns <= 0 ? 0 : ns / JWTS_NS_PER_MS + (ns % JWTS_NS_PER_MS != 0);
}

int64_t jwts_ms_after(int64_t t_ms, int64_t add_ms)
{
    if (add_ms <= 0) return t_ms;
    return t_ms > INT64_MAX - add_ms ? INT64_MAX : t_ms + add_ms;
}

int64_t jwts_deadline_in_ms(int64_t ms)
{
    return jwts_ms_after(jwts_monotonic_ns(), jwts_ms_to_ns(ms));
}

struct timespec jwts_timespec_of_ns(int64_t ns)
{
    if (ns < 0) ns = 0;
    return (struct timespec){.tv_sec = (time_t)(ns / JWTS_NS_PER_S), .tv_nsec = (long)(ns % JWTS_NS_PER_S)};
}

struct timespec jwts_monotonic_timespec_in_ms(int64_t ms)
{
    return jwts_timespec_of_ns(jwts_deadline_in_ms(ms));
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
