/*
 * clock.h - wall-clock and monotonic time, and an injectable clock for tests.
 *
 * Times crossing the API are int64_t milliseconds since the Unix epoch (wall clock) unless the
 * name says otherwise (_ns for nanoseconds of the monotonic clock).
 */
#ifndef JWTSESSION_CLOCK_H
#define JWTSESSION_CLOCK_H

#include <stdint.h>

#include "error.h"

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

/* Monotonic nanoseconds for timing hot paths: read from the CPU's invariant time-stamp counter
 * where there is one (x86-64 with constant and non-stop TSC; ~9 ns instead of ~20 ns), scaled to
 * CLOCK_MONOTONIC and re-anchored to it about once a second per thread, so it stays within
 * microseconds of jwts_monotonic_ns(); elsewhere it is jwts_monotonic_ns(). Differences of two
 * readings on one thread are durations; clamp them at 0 (a re-anchor may step back slightly). */
int64_t jwts_fast_ns(void);

/* Parse a duration as the programs take it: a non-negative whole number with an optional unit
 * ms, s (the default), m, h or d ("90", "90s", "500ms", "15m", "12h", "30d") into *out_ms.
 * JWTS_E_INVALID_ARGUMENT (detail names the text) for anything else or an overflow. */
jwts_err jwts_duration_parse_ms(const char *text, int64_t *out_ms);

/* now_ms of clock, or the real clock when clock or clock->now_ms is NULL. */
int64_t jwts_clock_now_ms(const jwts_clock *clock);

#ifdef __cplusplus
}
#endif
#endif
