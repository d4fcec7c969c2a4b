/*
 * fast_clock.c - jwts_fast_ns(): monotonic nanoseconds from the time-stamp counter.
 *
 * clock_gettime costs ~20 ns here, rdtsc ~9 ns; observability reads the clock four times per
 * operation. Each thread keeps an anchor (a TSC reading and the CLOCK_MONOTONIC time at it) and a
 * scale; a reading extrapolates from the anchor, and once the anchor is ~2^30 ticks old (well
 * under a second) the thread re-anchors and re-measures its scale over that long baseline, so
 * the error stays in microseconds. Without an invariant TSC it is plain jwts_monotonic_ns().
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jwtsession/clock.h"

#if defined(__x86_64__)
#include <x86intrin.h>

#define REANCHOR_TICKS (1ULL << 30)
#define SCALE_SHIFT 32

static bool tsc_usable;
static atomic_bool calibrated; /* set (release) once calibrate() has run: the hot path skips pthread_once */
static uint64_t initial_scale; /* ns per tick << SCALE_SHIFT, from a first short measurement */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The CPU flags say the TSC ticks at a constant rate through frequency and sleep states. */
static bool invariant_tsc(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return false;
    char line[4096];
    bool constant = false, nonstop = false;
    while (fgets(line, sizeof line, f) && !(constant && nonstop)) {
        if (strncmp(line, "flags", 5) != 0) continue;
        constant = strstr(line, " constant_tsc") != NULL;
        nonstop = strstr(line, " nonstop_tsc") != NULL;
        break;
    }
    fclose(f);
    return constant && nonstop;
}

static uint64_t measure_scale(uint64_t tsc0, int64_t ns0, uint64_t tsc1, int64_t ns1)
{
    if (tsc1 <= tsc0 || ns1 <= ns0) return 0;
    return (uint64_t)(((__uint128_t)(uint64_t)(ns1 - ns0) << SCALE_SHIFT) / (tsc1 - tsc0));
}

static void calibrate(void)
{
    if (!invariant_tsc()) {
        atomic_store_explicit(&calibrated, true, memory_order_release);
        return;
    }
    uint64_t t0 = __rdtsc();
    int64_t n0 = jwts_monotonic_ns();
    while (jwts_monotonic_ns() - n0 < 2000000) {} /* 2 ms */
    uint64_t t1 = __rdtsc();
    int64_t n1 = jwts_monotonic_ns();
    initial_scale = measure_scale(t0, n0, t1, n1);
    tsc_usable = initial_scale != 0;
    atomic_store_explicit(&calibrated, true, memory_order_release);
}

static _Thread_local struct {
    uint64_t tsc;
    int64_t ns;
    uint64_t scale;
} anchor;

int64_t jwts_fast_ns(void)
{
    if (__builtin_expect(!atomic_load_explicit(&calibrated, memory_order_acquire), 0)) pthread_once(&once, calibrate);
    if (!tsc_usable) return jwts_monotonic_ns();
    uint64_t now = __rdtsc();
    uint64_t ticks = now - anchor.tsc;
    if (anchor.scale == 0 || ticks >= REANCHOR_TICKS || now < anchor.tsc) {
        int64_t ns = jwts_monotonic_ns();
        uint64_t measured = anchor.scale ? measure_scale(anchor.tsc, anchor.ns, now, ns) : 0;
        anchor.scale = measured ? measured : initial_scale;
        anchor.tsc = now;
        anchor.ns = ns;
        return ns;
    }
    return anchor.ns + (int64_t)(((__uint128_t)ticks * anchor.scale) >> SCALE_SHIFT);
}

#else

int64_t jwts_fast_ns(void) { return jwts_monotonic_ns(); }

#endif
