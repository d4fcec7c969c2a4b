/*
 * near_cache_metrics.c - the near cache's figures: jwtsession_cache_* series and
 * jwts_store_redis_cache_stats.
 *
 * Counters live in a metrics registry (the one in the cache options, else a private one), so
 * the hot path pays the registry's per-thread increment (no lock, no shared cache line). The
 * entry count and the stream state are read at scrape time. Propagation delay (a local write's
 * acknowledgement to the arrival of its own invalidation on the stream, which is what another
 * instance waits for too) goes to a histogram and to a ring of recent samples for p50/p99.
 */
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "store/near_cache.h"

#define SAMPLES 1024

struct nc_stats_cells {
    jwts_metrics *own, *reg;
    jwts_counter *counters[NC_C__COUNT];
    jwts_histogram *propagation;
    pthread_mutex_t lock; /* the samples */
    int64_t samples[SAMPLES];
    size_t nsamples, next;
};

static const struct {
    const char *name, *help;
} COUNTERS[NC_C__COUNT] = {
    [NC_C_HIT] = {"jwtsession_cache_hits_total", "Session reads answered from the near cache."},
    [NC_C_MISS] = {"jwtsession_cache_misses_total", "Session reads sent to Redis while the cache was live."},
    [NC_C_BYPASS] = {"jwtsession_cache_bypasses_total",
                     "Session reads sent to Redis because the invalidation stream was not known to be live."},
    [NC_C_INVALIDATION] = {"jwtsession_cache_invalidations_total",
                           "Keys invalidated by Redis's stream or by a local write."},
    [NC_C_FLUSH] = {"jwtsession_cache_flushes_total",
                    "Whole-cache flushes: FLUSHALL/FLUSHDB, stream lost, topology changed."},
    [NC_C_EVICTION] = {"jwtsession_cache_evictions_total", "Entries dropped to stay within max_entries."},
    [NC_C_TOUCH_DEFERRED] = {"jwtsession_cache_touches_deferred_total",
                             "Touches of cached sessions queued for the background writer."},
    [NC_C_TOUCH_WRITTEN] = {"jwtsession_cache_touches_written_total", "Queued touches written to Redis."},
    [NC_C_CONNECT] = {"jwtsession_cache_stream_connects_total", "Times an invalidation stream connected."},
};

static const double PROPAGATION_BOUNDS[] = {50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 50e-3, 250e-3, 1};

static bool entries_fn(void *arg, double *v)
{
    *v = (double)jwts_nc_count(arg);
    return true;
}

static bool live_fn(void *arg, double *v)
{
    *v = jwts_nc_live(arg) ? 1 : 0;
    return true;
}

jwts_err jwts_nc_stats_new(near_cache *c)
{
    nc_stats_cells *s = calloc(1, sizeof *s);
    if (!s) return jwts_fail(JWTS_E_NO_MEMORY, "redis cache: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    c->stats = s;
    jwts_err rc = JWTS_OK;
    s->reg = c->o.metrics;
    if (!s->reg) {
        jwts_metrics_options mo = {.no_standard = true};
        rc = jwts_metrics_new(&mo, &s->own);
        s->reg = s->own;
    }
    for (int i = 0; !rc && i < NC_C__COUNT; i++)
        rc = jwts_metrics_counter(s->reg, COUNTERS[i].name, COUNTERS[i].help, NULL, 0, &s->counters[i]);
    if (!rc)
        rc = jwts_metrics_histogram(s->reg, "jwtsession_cache_propagation_seconds",
                                    "Delay from a local write's acknowledgement to its invalidation on the stream.",
                                    NULL, 0, PROPAGATION_BOUNDS, sizeof PROPAGATION_BOUNDS / sizeof *PROPAGATION_BOUNDS,
                                    &s->propagation);
    if (!rc)
        rc = jwts_metrics_gauge_fn(s->reg, "jwtsession_cache_entries", "Sessions held by the near cache.", NULL, 0,
                                   entries_fn, c);
    if (!rc)
        rc = jwts_metrics_gauge_fn(s->reg, "jwtsession_cache_live",
                                   "1 while the invalidation stream is proven live (hits allowed), else 0.", NULL, 0,
                                   live_fn, c);
    return rc;
}

void jwts_nc_stats_free(near_cache *c)
{
    nc_stats_cells *s = c->stats;
    if (!s) return;
    if (s->reg) jwts_metrics_detach(s->reg, c);
    jwts_metrics_free(s->own);
    pthread_mutex_destroy(&s->lock);
    free(s);
    c->stats = NULL;
}

void jwts_nc_count_event(near_cache *c, nc_counter which, uint64_t n)
{
    if (c->stats) jwts_counter_add(c->stats->counters[which], n);
}

void jwts_nc_propagation(near_cache *c, int64_t ns)
{
    nc_stats_cells *s = c->stats;
    if (!s || ns < 0 || ns > 10000000000LL) return; /* a probe armed after its invalidation passed */
    jwts_histogram_observe_ns(s->propagation, ns);
    pthread_mutex_lock(&s->lock);
    s->samples[s->next] = ns;
    s->next = (s->next + 1) % SAMPLES;
    if (s->nsamples < SAMPLES) s->nsamples++;
    pthread_mutex_unlock(&s->lock);
}

static int by_value(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void jwts_nc_stats(near_cache *c, jwts_redis_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    nc_stats_cells *s = c->stats;
    uint64_t v[NC_C__COUNT] = {0};
    for (int i = 0; i < NC_C__COUNT; i++) v[i] = jwts_counter_value(s->counters[i]);
    out->hits = v[NC_C_HIT], out->misses = v[NC_C_MISS], out->bypasses = v[NC_C_BYPASS];
    out->invalidations = v[NC_C_INVALIDATION], out->flushes = v[NC_C_FLUSH], out->evictions = v[NC_C_EVICTION];
    out->touches_deferred = v[NC_C_TOUCH_DEFERRED], out->touches_written = v[NC_C_TOUCH_WRITTEN];
    out->stream_connects = v[NC_C_CONNECT];
    out->entries = jwts_nc_count(c);
    out->live = jwts_nc_live(c);
    int64_t copy[SAMPLES];
    pthread_mutex_lock(&s->lock);
    size_t n = s->nsamples;
    memcpy(copy, s->samples, n * sizeof *copy);
    pthread_mutex_unlock(&s->lock);
    if (n) {
        qsort(copy, n, sizeof *copy, by_value);
        out->propagation_p50_ms = (double)copy[n / 2] / 1e6;
        out->propagation_p99_ms = (double)copy[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e6;
    }
}
