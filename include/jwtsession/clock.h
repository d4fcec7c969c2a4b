/*
 * clock.h - wall-clock and monotonic time, and an injectable clock for tests.
 *
 * Times crossing the API are int64_t milliseconds since the Unix epoch (wall clock) unless the
 * name says otherwise (_ns for nanoseconds of the monotonic clock).
 */
#ifndef JWTSESSION_CLOCK_H
#define JWTSESSION_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A clock: now_ms(arg) returns wall-clock milliseconds since the epoch. A NULL jwts_clock pointer
 * (or a NULL now_ms) means the real clock. Tests inject their own to travel in time. */
typedef struct jwts_clock {
    int64_t (*now_ms)(void *arg);
    void *arg;
} jwts_clock;

/* Wall-clock milliseconds since the epoch (CLOCK_REALTIME). */
int64_t jwts_now_ms(void);

/* Monotonic nanoseconds (CLOCK_MONOTONIC), for deadlines and durations. */
int64_t jwts_monotonic_ns(void);

/* now_ms of clock, or the real clock when clock or clock->now_ms is NULL. */
int64_t jwts_clock_now_ms(const jwts_clock *clock);

#ifdef __cplusplus
}
#endif
#endif
