/*
 * clock.c - wall-clock and monotonic time.
 */
#include <time.h>

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
