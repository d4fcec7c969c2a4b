/*
 * near_cache.h - private: the near cache in front of the Redis stores (docs/cache.md).
 *
 *   near_cache.c         the table: sessions by record key, pending placeholders (the read /
 *                        invalidation race), CLOCK eviction, flush, the liveness check of a hit
 *   near_cache_stream.c  the invalidation stream: per master, a connection subscribed to
 *                        __redis__:invalidate and a control connection holding
 *                        CLIENT TRACKING on REDIRECT <id> BCAST PREFIX <prefix>; PINGs prove it
 *                        live; a supervisor follows the runner's topology generation
 *   near_cache_touch.c   touches of cached sessions, queued and written off the request path
 *   near_cache_metrics.c the jwtsession_cache_* series and jwts_redis_cache_stats
 *
 * The consistency argument (docs/cache.md): a hit at time t needs, on every master's stream, a
 * PONG on both connections for PINGs sent at or after t - max_stale. A write acknowledged before
 * such a PING was tracked (the control connection was still open when its PING was served) and
 * its invalidation precedes that PONG on the subscribed connection (one connection is ordered,
 * and Redis queues BCAST invalidations before it answers the writer), so the listener removed
 * the entry before it counted the PONG. Losing a connection or changing topology flushes the
 * whole cache and bumps the epoch, so no read that overlapped the gap can fill an entry.
 */
#ifndef JWTS_STORE_NEAR_CACHE_H
#define JWTS_STORE_NEAR_CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "jwtsession/store_redis.h"
#include "store/redis.h"

typedef struct near_cache near_cache;
typedef struct nc_shard nc_shard;
typedef struct nc_stream nc_stream;
typedef struct nc_touchq nc_touchq;
typedef struct nc_stats_cells nc_stats_cells;

/* What the cache needs of its store. */
typedef struct nc_host {
    /* The servers whose writes must be heard (borrowed configs, valid until the store is
     * destroyed) into out[0..cap); returns how many. *generation changes whenever that set or a
     * slot's owner may have changed. */
    size_t (*servers)(void *arg, const redis_config **out, size_t cap, uint64_t *generation);
    /* Write a touch now (the store's own touch, which also invalidates locally). */
    jwts_err (*touch)(void *arg, const jwts_ctx *ctx, const jwts_session_key *key, int64_t last_seen_ms,
                      int64_t idle_expires_at_ms, int64_t ttl_ms);
    void *arg;
    const char *prefix; /* the store's key prefix (the BCAST prefix) */
} nc_host;

/* A miss that may fill the cache: the placeholder it put in. */
typedef struct nc_ticket {
    uint64_t id;    /* 0: no placeholder (bypass) */
    uint64_t epoch; /* the cache's epoch when it was put in */
    int64_t sent_ns; /* monotonic time before the read was sent */
} nc_ticket;

/* Outcome of a lookup. */
typedef enum nc_lookup_result {
    NC_HIT,    /* *out is a copy of the cached session */
    NC_MISS,   /* read Redis, then jwts_nc_fill with the ticket */
    NC_BYPASS  /* the stream is not live: read Redis, do not fill */
} nc_lookup_result;

#define NC_MAX_SERVERS 64 /* masters a cache follows (a cluster's) */

struct near_cache {
    jwts_redis_cache_options o; /* defaults filled in */
    nc_host host;
    size_t prefix_len;
    uint64_t seed;
    nc_shard *shards;
    size_t nshards; /* power of two */
    atomic_uint_fast64_t next_ticket;
    atomic_uint_fast64_t epoch;    /* bumped by every flush */
    _Atomic int64_t live_until_ns; /* hits allowed before this monotonic time; 0 = not live */
    int64_t max_stale_ns;
    nc_stream *stream;
    nc_touchq *touches;
    nc_stats_cells *stats;
    /* propagation probe: the hash of one local write and when it was acknowledged */
    atomic_uint_fast64_t probe_hash;
    _Atomic int64_t probe_ns;
};

/* ---- near_cache.c -------------------------------------------------------------------------- */

/* A cache for host with options o (checked, defaults filled), its stream and flusher running. */
jwts_err jwts_nc_new(const jwts_redis_cache_options *o, const nc_host *host, near_cache **out);

/* Stop the threads and write the pending touches (bounded by deadline_ns); later lookups
 * bypass and later touches are written by their callers. Memory stays until jwts_nc_free. */
void jwts_nc_stop(near_cache *c, int64_t deadline_ns);

/* Stop (if needed) and free everything. */
void jwts_nc_free(near_cache *c);

/* Look up the record key (len bytes). NC_HIT: *out is a copy. NC_MISS: a placeholder is in and
 * *t names it. NC_BYPASS: nothing cached may be trusted now. t NULL: a probe for a hit only (a
 * local-only call), which puts no placeholder and counts only its hits. */
nc_lookup_result jwts_nc_lookup(near_cache *c, const char *key, size_t len, jwts_session **out, nc_ticket *t);

/* After a miss: keep a copy of s (the reply to the read named by t) if the placeholder is still
 * there and the epoch unchanged, until min(t->sent_ns + pttl_ms, now + max_age). pttl_ms < 0:
 * the key has no TTL. NULL s (not found) just removes the placeholder. */
void jwts_nc_fill(near_cache *c, const char *key, size_t len, const nc_ticket *t, const jwts_session *s,
                  int64_t pttl_ms);

/* Remove the entry (or placeholder) of one record key. probe: this is a local write just
 * acknowledged (arms the propagation probe). */
void jwts_nc_forget(near_cache *c, const char *key, size_t len, bool probe);

/* Remove every entry of user: every record key "<prefix>{<tag>}:s:..." of the user's tag
 * (jwts_user_tag; other users of that tag lose theirs too, which is only a miss later). */
void jwts_nc_forget_user(near_cache *c, const char *user);

/* Remove everything and bump the epoch (stream lost, topology changed, FLUSHALL). */
void jwts_nc_flush(near_cache *c);

/* true while hits are allowed. */
bool jwts_nc_live(near_cache *c);

/* A touch of a cached, live entry: update the cached copy and queue the write (true); false
 * when the session is not cached or the queue is full (the caller writes it now). */
bool jwts_nc_defer_touch(near_cache *c, const char *key, size_t len, const jwts_session_key *sk,
                         int64_t last_seen_ms, int64_t idle_expires_at_ms, int64_t ttl_ms);

/* true if the entry of key still carries ticket id (a queued touch is still wanted). */
bool jwts_nc_still(near_cache *c, const char *key, size_t len, uint64_t id);

/* Number of entries (placeholders included). */
size_t jwts_nc_count(near_cache *c);

/* The record key's hash as the cache computes it (the probe compares these). */
uint64_t jwts_nc_key_hash(const near_cache *c, const char *key, size_t len);

/* ---- near_cache_stream.c --------------------------------------------------------------------- */

/* Start the supervisor thread (it starts one listener per server). */
jwts_err jwts_nc_stream_start(near_cache *c);

/* Stop every stream thread and close the connections (idempotent). */
void jwts_nc_stream_stop(near_cache *c);
void jwts_nc_stream_free(near_cache *c);

/* true if the runner's topology generation is the one the stream was built for. */
bool jwts_nc_topology_current(near_cache *c);

/* ---- near_cache_touch.c ---------------------------------------------------------------------- */

/* Start the flusher thread. */
jwts_err jwts_nc_touch_start(near_cache *c);

/* Queue a touch of key, the record of sk (entry ticket id). false when the queue is full. Caller
 * holds the shard. */
bool jwts_nc_touch_queue(near_cache *c, const char *key, size_t len, const jwts_session_key *sk, uint64_t id,
                         int64_t last_seen_ms,
                         int64_t idle_expires_at_ms, int64_t ttl_ms);

/* Stop the flusher after writing what is queued (bounded by deadline_ns); idempotent. */
void jwts_nc_touch_stop(near_cache *c, int64_t deadline_ns);
void jwts_nc_touch_free(near_cache *c);

/* ---- near_cache_metrics.c -------------------------------------------------------------------- */

typedef enum nc_counter {
    NC_C_HIT,
    NC_C_MISS,
    NC_C_BYPASS,
    NC_C_INVALIDATION,
    NC_C_FLUSH,
    NC_C_EVICTION,
    NC_C_TOUCH_DEFERRED,
    NC_C_TOUCH_WRITTEN,
    NC_C_CONNECT,
    NC_C__COUNT
} nc_counter;

/* Register the series (into o->metrics, else a private registry). */
jwts_err jwts_nc_stats_new(near_cache *c);
void jwts_nc_stats_free(near_cache *c);

/* Count one event (lock-free, per thread). */
void jwts_nc_count_event(near_cache *c, nc_counter which, uint64_t n);

/* Record one propagation delay in nanoseconds. */
void jwts_nc_propagation(near_cache *c, int64_t ns);

/* Fill *out. */
void jwts_nc_stats(near_cache *c, jwts_redis_cache_stats *out);

#endif
