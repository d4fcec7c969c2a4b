/*
 * store_redis.h - the Redis store: sessions shared between machines, on hiredis.
 *
 * Every operation is one round trip (a plain command, a Lua script run by EVALSHA, or one
 * pipeline) and atomic on the server. All keys of one user share the hash tag
 * "<prefix>{<user id>}", so the per-user scripts also hold on Redis Cluster. Records carry
 * server-side TTLs: Redis forgets what nobody deletes. See docs/redis.md.
 *
 * Two ways to talk to Redis, chosen by auto_pipeline:
 *   - a pool of pool_size connections; a call takes one, runs its round trip, gives it back;
 *   - auto-pipelining: one connection and an I/O thread that writes whatever concurrent callers
 *     queued in one batch and hands the replies back in order (as ioredis does).
 * Both are thread-safe; broken connections are dropped and reconnected lazily.
 *
 * TLS (rediss://, or tls.enabled): the library's own transport on OpenSSL (hiredis 0.14 has no
 * TLS; hiredis only parses replies and formats commands). The server certificate and its host
 * name are verified by default; a client certificate and key give mutual TLS.
 *
 * Options in the URL query (every Redis URL form; an unknown option is JWTS_E_INVALID_ARGUMENT
 * naming it; a query option wins over the struct field it sets):
 *   connect_timeout=DURATION  command_timeout=DURATION   (90 = seconds, or 500ms, 2s, 1m)
 *   pool_size=N (1..1024)     key_prefix=TEXT
 *   db=N                      (redis://, rediss://, unix://, redis[s]-sentinel://)
 *   pipeline=BOOL  pipeline_connections=N (1..64)      (redis://, rediss://, unix://)
 *   spin_us=N (0..1000)                                (redis://, rediss://, unix://: the pool)
 *   wait_replicas=N  wait_timeout=DURATION             (cluster and sentinel forms)
 *   sentinel_user=USER  sentinel_password=PASSWORD     (sentinel forms: the sentinels' ACL user)
 *   tls_ca=FILE  tls_ca_dir=DIR  tls_cert=FILE  tls_key=FILE  tls_server_name=NAME
 *   tls_insecure=BOOL                                  (TLS forms only: rediss://...)
 * BOOL is true/false, 1/0 or yes/no. Values may be percent-encoded.
 */
#ifndef JWTSESSION_STORE_REDIS_H
#define JWTSESSION_STORE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TLS to Redis; a zeroed struct means plain TCP. Files are read when the store is created. */
typedef struct jwts_redis_tls_options {
    bool enabled;            /* TLS on every connection (the rediss forms of the URL set it) */
    const char *ca_file;     /* PEM CA certificates to verify the server with */
    const char *ca_dir;      /* or a directory of them (c_rehash layout); neither: the system's */
    const char *cert_file;   /* client certificate chain (PEM) for mutual TLS; needs key_file */
    const char *key_file;    /* its private key (PEM, unencrypted); never logged */
    const char *server_name; /* the name to verify the certificate against and send as SNI;
                              * default: the host connected to (an IP address is checked against
                              * the certificate's IP entries) */
    bool insecure;           /* DANGER: no certificate or host name check (tests only) */
} jwts_redis_tls_options;
/* The near cache (docs/cache.md): get answers from local memory while Redis's own invalidation
 * stream (CLIENT TRACKING ... BCAST, redirected to a connection subscribed to
 * __redis__:invalidate) is known to be live; any change to a cached session by anyone (this
 * process, another instance, redis-cli, expiry, FLUSHALL) removes it. Fails closed: while the
 * stream is not proven live within max_stale_ms, every get goes to Redis. A zeroed struct is
 * "off"; with enabled set, zero fields take the defaults shown. */
typedef struct jwts_redis_cache_options {
    bool enabled;
    size_t max_entries;        /* sessions kept; the least recently used go first; default 65536 */
    int64_t max_stale_ms;      /* a hit needs a PONG for a PING sent at most this long ago; default 250 */
    int64_t ping_interval_ms;  /* PING period on the stream's connections; default 50 */
    int64_t max_age_ms;        /* an entry ends this long after it was read from Redis; default 60000 */
    int64_t touch_flush_ms;    /* touches of cached sessions are batched and written this often; default 50 */
    size_t max_pending_touches; /* beyond this a touch is written at once; default 65536 */
    jwts_metrics *metrics;     /* jwtsession_cache_* series go here (must outlive the store); NULL = none */
} jwts_redis_cache_options;

/* What a near cache has done so far (jwts_store_redis_cache_stats). */
typedef struct jwts_redis_cache_stats {
    uint64_t hits;          /* gets answered from memory */
    uint64_t misses;        /* gets sent to Redis while the stream was live (filling the cache) */
    uint64_t bypasses;      /* gets sent to Redis because the stream was not known to be live */
    uint64_t invalidations; /* keys Redis (or a local write) invalidated */
    uint64_t flushes;       /* whole-cache flushes: FLUSHALL/FLUSHDB, stream lost, topology change */
    uint64_t evictions;     /* entries dropped for room */
    uint64_t touches_deferred; /* touches answered from the cache and written in the background */
    uint64_t touches_written;  /* deferred touches written to Redis */
    uint64_t stream_connects;  /* times the invalidation stream (re)connected */
    size_t entries;         /* sessions cached now */
    bool live;              /* the stream is live now (hits are allowed) */
    double propagation_p50_ms, propagation_p99_ms; /* own write -> own invalidation, recent samples */
} jwts_redis_cache_stats;

/* Options of the Redis store; a zeroed struct gives the defaults shown. Strings are copied. */
typedef struct jwts_redis_options {
    /* Where: either url, or host/port, or unix_path. url wins over the fields it sets.
     *   redis://[[user]:password@]host[:port][/db][?options]     (host may be [v6] bracketed)
     *   rediss://[[user]:password@]host[:port][/db][?options]    (TLS)
     *   unix://[[user]:password@]/path/to/redis.sock[?options] */
    const char *url;
    const char *host;      /* default "127.0.0.1" */
    int port;              /* default 6379 */
    const char *unix_path; /* a unix socket instead of host/port */
    const char *username;  /* ACL user (Redis 6+); NULL = "default" when a password is given */
    const char *password;  /* NULL = no AUTH; wiped from memory when the store is freed */
    int db;                /* SELECT db on connect; default 0 */
    const char *key_prefix;     /* default "jwts:"; no braces or control characters */
    size_t pool_size;           /* connections of the pool; default 8 (max 1024) */
    int64_t connect_timeout_ms; /* default 1000 */
    int64_t command_timeout_ms; /* bound of one call when its ctx has no earlier deadline; default 2000 */
    bool auto_pipeline;         /* share writes between concurrent callers (see above) */
    size_t pipeline_connections; /* auto_pipeline: connections, one I/O thread each; default 1 (max 64) */
    int64_t spin_us; /* pool: a caller busy-polls up to this long for its reply before it sleeps (0..1000,
                      * default 0): one caller's round trip loses the sleep and wake-up, at the price of
                      * a core spun while it waits; for few callers on spare cores, not for many threads */
    jwts_redis_tls_options tls;  /* TLS; rediss:// enables it */
    jwts_redis_cache_options cache; /* the near cache; off unless cache.enabled */
    const char *events_stream; /* lifecycle events: each write also appends its event to this stream
                                  (URL: events=KEY; docs/events.md); NULL: none */
    size_t events_maxlen;      /* the stream's approximate bound (XADD MAXLEN ~; URL: events_maxlen);
                                  default 100000 */
} jwts_redis_options;

/* A new Redis store. Connections are opened lazily, so this succeeds while Redis is down; the
 * first call then reports JWTS_E_UNAVAILABLE. JWTS_E_INVALID_ARGUMENT for a bad URL or option,
 * or a TLS file that cannot be loaded. A failed TLS handshake is JWTS_E_UNAVAILABLE with the cause
 * ("certificate verify failed: certificate has expired", "... hostname mismatch", "tlsv13 alert
 * certificate required").
 * Failures of later calls: JWTS_E_UNAVAILABLE (refused, reset, LOADING, READONLY, auth),
 * JWTS_E_TIMEOUT (the deadline passed), JWTS_E_LIMIT (OOM), JWTS_E_PROTOCOL (any other error
 * reply or a bad reply), JWTS_E_MALFORMED (a record this library did not write); the detail holds
 * what Redis said. */
jwts_err jwts_store_redis_new(const jwts_redis_options *opts, jwts_store **out);

/* One entry of a store's events stream, handed to the reader of jwts_store_redis_events_read: its
 * stream id and the event as a JSON object ({"id":..,"type":..,"user_id":..,...}; docs/events.md),
 * valid during the call. Return true once it is handled (it is then acknowledged), false to stop
 * (it stays pending for this consumer and comes again on its next read). */
typedef bool (*jwts_stream_event_fn)(void *arg, const char *id, const char *json);

/* Read the lifecycle events stream of st (a Redis, Sentinel or Cluster store opened with
 * events=KEY) as consumer in group, with XREADGROUP, so the consumers of one group share the
 * events, each seen by one of them, and every group sees all of them. The group is created, at the stream's start,
 * when missing. A call first hands fn the entries delivered to this consumer before and never
 * acknowledged (so a consumer that restarts under the same name resumes without loss); when
 * there are none, up to count new entries, waiting up to block_ms (0: not at all) for one. Each
 * entry fn accepts is acknowledged (XACK) at once: at-least-once delivery. *handled (may be NULL)
 * counts them. JWTS_E_UNSUPPORTED for another store, one without events, or block_ms > 0 on the
 * auto-pipelined store; JWTS_E_INVALID_ARGUMENT for a group or consumer name that is not 1..64
 * printable bytes, count outside 1..10000 or block_ms outside 0..3600000. */
jwts_err jwts_store_redis_events_read(jwts_store *st, const jwts_ctx *ctx, const char *group, const char *consumer,
                                      size_t count, int64_t block_ms, jwts_stream_event_fn fn, void *arg,
                                      size_t *handled);

/* Put a near cache in front of st, a store made by jwts_store_redis_new,
 * jwts_store_redis_cluster_new, jwts_store_redis_sentinel_new or jwts_store_open_url on a Redis
 * URL (how a program turns it on for a store it opened by URL). Call before st is shared between
 * threads. Starts the stream's threads; the cache stays bypassed until the stream is live.
 * JWTS_E_UNSUPPORTED for another kind of store, JWTS_E_CONFLICT if st already has one,
 * JWTS_E_INVALID_ARGUMENT for a bad option. */
jwts_err jwts_store_redis_cache_enable(jwts_store *st, const jwts_redis_cache_options *opts);

/* The near cache's figures so far. JWTS_E_NOT_FOUND if st has no near cache. */
jwts_err jwts_store_redis_cache_stats(jwts_store *st, jwts_redis_cache_stats *out);

#ifdef __cplusplus
}
#endif
#endif
