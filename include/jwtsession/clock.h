/*
 * clock.h - wall-clock and monotonic time, and an injectable clock for tests.
 *
 * Times crossing the API are int64_t milliseconds since the Unix epoch (wall clock) unless the
 * name says otherwise (_ns for nanoseconds of the monotonic clock).
 */
#ifndef JWTSESSION_CLOCK_H
#define JWTSESSION_CLOCK_H

#include <stdint.h>
#include <time.h>

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

/* Nanoseconds per millisecond and per second, for the conversions below. */
#define JWTS_NS_PER_MS 1000000LL
#define JWTS_NS_PER_S 1000000000LL

/* ms milliseconds in nanoseconds, saturating at INT64_MAX (a negative ms gives 0). */
int64_t jwts_ms_to_ns(int64_t ms);

/* ns nanoseconds in whole milliseconds rounded up (a wait never ends early); 0 when ns <= 0. */
int64_t jwts_ns_to_ms_ceil(int64_t ns);

/* t_ms + add_ms (add_ms >= 0), saturating at INT64_MAX: an expiry time for any TTL. */
int64_t jwts_ms_after(int64_t t_ms, int64_t add_ms);

/* The jwts_monotonic_ns() deadline ms milliseconds from now, saturating (ms <= 0: now). */
int64_t jwts_deadline_in_ms(int64_t ms);

/* The CLOCK_MONOTONIC time ms milliseconds from now (ms <= 0: now), for pthread_cond_timedwait
 * on a condition variable whose clock is CLOCK_MONOTONIC. */
struct timespec jwts_monotonic_timespec_in_ms(int64_t ms);

/* ns nanoseconds (>= 0) as a timespec: a relative wait for nanosleep or a futex. */
struct timespec jwts_timespec_of_ns(int64_t ns);

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
