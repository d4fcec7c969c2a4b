/*
 * store.h - jwts_store, the storage interface every backend implements.
 *
 * A store keeps sessions under (user id, session id), each with a time to live, and a per-user
 * index. A generated session id carries its user's routing tag (random.h), so a store also
 * finds such a session from its id alone (jwts_store_get_by_id), without a scan. Every operation is atomic and, on a remote store, one round trip bounded by the ctx
 * deadline. All stores are thread-safe. After jwts_store_close() every call returns
 * JWTS_E_CLOSED; jwts_store_free() closes and releases the handle.
 */
#ifndef JWTSESSION_STORE_H
#define JWTSESSION_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "ctx.h"
#include "error.h"
#include "session.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jwts_store jwts_store;

/* Names one session. */
typedef struct jwts_session_key {
    const char *user_id;
    const char *session_id;
} jwts_session_key;

/* The completion of jwts_store_get_async: rc, and on JWTS_OK the session, which the callee owns
 * (free it with jwts_session_free). It runs on a store thread, or within the call, and must not
 * block (no store call without JWTS_CTX_LOCAL_ONLY). */
typedef void (*jwts_get_done)(void *arg, jwts_err rc, jwts_session *session);

/* Told of each session a store drops because its time ran out (never of a delete), once, with
 * the store's time then. Runs on the thread that dropped it (a sweep, a cleanup, a read that found
 * it expired), possibly under a store lock: it must be quick and must not call the store. */
typedef void (*jwts_expired_fn)(void *arg, const jwts_session *s, int64_t now_ms);

/* The backend vtable. Batch entries may be NULL: jwts_store_* then loops over the single form.
 * Arguments are checked by the jwts_store_* wrappers before a backend sees them. */
typedef struct jwts_store_ops {
    const char *name; /* "memory", "redis", ... */
    jwts_err (*get)(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_session **out);
    jwts_err (*set)(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms);
    jwts_err (*del)(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key);
    jwts_err (*touch)(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                      int64_t last_seen_ms, int64_t idle_expires_at_ms, int64_t ttl_ms);
    jwts_err (*list_user)(jwts_store *st, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out);
    jwts_err (*delete_user)(jwts_store *st, const jwts_ctx *ctx, const char *user_id, size_t *deleted);
    jwts_err (*rotate)(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                       const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], const jwts_refresh_state *next,
                       int64_t ttl_ms, jwts_session **current);
    jwts_err (*replace)(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s,
                        const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms);
    jwts_err (*get_many)(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                         jwts_session **out);
    jwts_err (*set_many)(jwts_store *st, const jwts_ctx *ctx, const jwts_session *const *sessions, size_t n,
                         int64_t ttl_ms);
    jwts_err (*delete_many)(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                            size_t *deleted);
    jwts_err (*cleanup)(jwts_store *st, const jwts_ctx *ctx, size_t *removed);
    jwts_err (*count)(jwts_store *st, size_t *sessions);
    void (*close)(jwts_store *st); /* release connections/threads/data; idempotent */
    void (*destroy)(jwts_store *st); /* free the handle (after close) */
    /* Optional: get without waiting (see jwts_store_get_async); NULL: JWTS_E_UNSUPPORTED. */
    jwts_err (*get_async)(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_get_done done,
                          void *arg);
    /* Optional: delete_user keeping one session, atomically (see jwts_store_delete_user_except);
     * NULL: a get, a listing and a batch delete of the others. */
    jwts_err (*delete_user_except)(jwts_store *st, const jwts_ctx *ctx, const char *user_id, const char *keep_session_id,
                                   size_t *deleted);
    /* Optional: report expiries (see jwts_store_on_expired); NULL: JWTS_E_UNSUPPORTED. */
    jwts_err (*on_expired)(jwts_store *st, jwts_expired_fn fn, void *arg);
    /* Optional: find a session by its id alone (see jwts_store_get_by_id); NULL: JWTS_E_UNSUPPORTED.
     * The wrapper passes only ids that carry a tag (jwts_session_id_tag). */
    jwts_err (*get_by_id)(jwts_store *st, const jwts_ctx *ctx, const char *session_id, jwts_session **out);
} jwts_store_ops;

/* The common head of every store handle; backends embed it first. */
struct jwts_store {
    const jwts_store_ops *ops;
};

/* Get a copy of the session at key. JWTS_E_NOT_FOUND if absent or expired. */
jwts_err jwts_store_get(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_session **out);

/* Get the session whose id is session_id without knowing its user: the id's tag
 * (jwts_session_id_tag) names where to look, and the session found must belong to a user of that
 * tag. One lookup, never a scan. JWTS_E_NOT_FOUND when absent or expired, and for an id that
 * carries no tag (a caller's own id: find it with its user). JWTS_E_UNSUPPORTED for a store
 * without this operation. *out: as jwts_store_get. */
jwts_err jwts_store_get_by_id(jwts_store *st, const jwts_ctx *ctx, const char *session_id, jwts_session **out);

/* Get without waiting: done(arg, rc, session) runs exactly once, with what jwts_store_get would
 * return, on a store thread (or before this returns, for an answer at hand: the memory store, a
 * near-cache hit, an error). The ctx deadline bounds the wait. The key is copied. Returns JWTS_OK
 * when done is or will be called; otherwise done is never called: JWTS_E_UNSUPPORTED when the
 * store has no path that waits on nobody (the pooled Redis store, Cluster, Sentinel: call
 * jwts_store_get on a thread that may block), JWTS_E_INVALID_ARGUMENT, JWTS_E_CLOSED,
 * JWTS_E_NO_MEMORY. With one thread and many gets in flight, the auto-pipelined Redis store
 * answers them all from its I/O thread. */
jwts_err jwts_store_get_async(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_get_done done,
                              void *arg);

/* The longest TTL a store call takes (100 years); a larger one is JWTS_E_INVALID_ARGUMENT. */
#define JWTS_TTL_MAX_MS (36525LL * 24 * 3600 * 1000)

/* Create or overwrite session s, kept for ttl_ms (> 0) milliseconds, and index it under its user.
 * JWTS_E_LIMIT when the store is full. JWTS_E_CONFLICT when another user whose routing tag
 * (jwts_user_tag) is s's user's holds a live session of the same id: the Redis stores name both by
 * one key, so every store refuses it alike (about one pair of users in 2^36 shares a tag, and then
 * only an id both chose). A failed set leaves the previous value. */
jwts_err jwts_store_set(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms);

/* Delete the session at key and unindex it. JWTS_E_NOT_FOUND if it was not there. */
jwts_err jwts_store_delete(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key);

/* Record activity: set last_seen_ms and idle_expires_at_ms and extend the TTL to ttl_ms (> 0)
 * from now. JWTS_E_NOT_FOUND if absent. */
jwts_err jwts_store_touch(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                          int64_t last_seen_ms, int64_t idle_expires_at_ms, int64_t ttl_ms);

/* Every live session of user_id, oldest created first. An empty list is not an error. */
jwts_err jwts_store_list_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out);

/* Delete every session of user_id; *deleted (may be NULL) gets how many there were. */
jwts_err jwts_store_delete_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, size_t *deleted);

/* Delete every session of user_id but keep_session_id ("sign out everywhere else"); *deleted (may
 * be NULL) gets how many went. JWTS_E_NOT_FOUND, and nothing deleted, when keep_session_id is not
 * a live session of user_id. The kept session is never deleted; the built-in stores do the whole
 * of it atomically (one lock, one transaction, one Lua script). */
jwts_err jwts_store_delete_user_except(jwts_store *st, const jwts_ctx *ctx, const char *user_id,
                                       const char *keep_session_id, size_t *deleted);

/* Atomic compare-and-swap of the refresh state: if the session's refresh.current_hash equals
 * expected_hash, replace its refresh state with *next, set updated_at to next->rotated_at_ms when
 * that is later (updated_at never moves back) and the TTL to ttl_ms (> 0). Otherwise JWTS_E_CONFLICT. Either way, when current is not NULL,
 * *current gets the session as it is after the call (NULL on JWTS_E_NOT_FOUND). */
jwts_err jwts_store_rotate(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                           const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], const jwts_refresh_state *next,
                           int64_t ttl_ms, jwts_session **current);

/* Atomic compare-and-set of a whole session: if the stored session at s's key has
 * refresh.current_hash equal to expected_hash, replace it with s and set the TTL to ttl_ms (> 0).
 * JWTS_E_CONFLICT if the hash differs, JWTS_E_NOT_FOUND if absent (never creates). When s keeps
 * the same current hash, a stored refresh.confirmed that is set stays set. Used to change metadata
 * without losing a concurrent refresh rotation or confirmation. */
jwts_err jwts_store_replace(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s,
                            const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms);

/* Batch get: out[i] gets the session of keys[i], or NULL if absent. Fails only as a whole. */
jwts_err jwts_store_get_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                             jwts_session **out);

/* Batch set, all with the same TTL. */
jwts_err jwts_store_set_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session *const *sessions, size_t n,
                             int64_t ttl_ms);

/* Batch delete; *deleted (may be NULL) counts the keys that existed. */
jwts_err jwts_store_delete_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                                size_t *deleted);

/* Remove expired sessions now (for stores without server-side expiry; others report 0). */
jwts_err jwts_store_cleanup(jwts_store *st, const jwts_ctx *ctx, size_t *removed);

/* Call fn(arg, session, now) for each session st drops at its expiry from now on (fn NULL: stop).
 * One hook per store; a later call replaces it, and once it returns no call of the previous hook
 * is still running. The memory and file stores tell; JWTS_E_UNSUPPORTED for a store that cannot
 * (Redis drops keys by their TTL on the server: its events stream records expiries instead). The
 * manager sets it when given on_event (events.h). */
jwts_err jwts_store_on_expired(jwts_store *st, jwts_expired_fn fn, void *arg);

/* How many sessions the store holds, where it knows (JWTS_E_UNSUPPORTED where it does not). */
jwts_err jwts_store_count(jwts_store *st, size_t *sessions);

/* The backend's name ("memory", "redis", ...). */
const char *jwts_store_name(const jwts_store *st);

/* Close st: stop its threads, drop its connections and data. Later calls give JWTS_E_CLOSED.
 * Idempotent; not to be called concurrently with jwts_store_free(). */
void jwts_store_close(jwts_store *st);

/* Close (if needed) and free st. NULL is fine. */
void jwts_store_free(jwts_store *st);

/* ---- the in-memory store ---------------------------------------------------------------- */

/* Options of the memory store; a zeroed struct gives the defaults shown. */
typedef struct jwts_memory_options {
    size_t max_sessions;       /* default 1,000,000; a set beyond it gives JWTS_E_LIMIT */
    size_t shards;             /* rounded up to a power of two; default 64 */
    int64_t sweep_interval_ms; /* background expiry sweep period; default 1000; JWTS_OFF: no thread */
    size_t sweep_batch;        /* table slots visited per shard per sweep; default 1024 */
    const jwts_clock *clock;   /* time source for TTLs; NULL = real clock (must outlive the store) */
} jwts_memory_options;

/* A new in-memory store: sharded hash tables with lazy expiry plus a bounded background sweep.
 * opts may be NULL. */
jwts_err jwts_store_memory_new(const jwts_memory_options *opts, jwts_store **out);

/* ---- opening a store by URL --------------------------------------------------------------- */

/* Defaults for jwts_store_open; a zeroed struct gives each store's own defaults. Options in the
 * URL's query win over these. */
typedef struct jwts_store_open_options {
    int64_t command_timeout_ms; /* Redis stores: bound of one call (the daemon: --request-timeout) */
    int64_t connect_timeout_ms; /* Redis stores: connect + TLS handshake + AUTH */
    size_t memory_max_sessions; /* the memory store's capacity */
} jwts_store_open_options;

/* The one way to open a store from a URL, used by the library's users, the CLI and jwtsessiond
 * (--store, JWTSESSION_STORE):
 *   "memory"                                                the in-memory store
 *   "file:///path/to/dir[?opts]"                            the file store on disk (store_file.h:
 *                                                           sync, sync_window_ms, map_size_mb,
 *                                                           max_sessions, sweep_interval_ms,
 *                                                           sweep_batch)
 *   "redis://[[user]:password@]host[:port][/db][?opts]"     Redis (see store_redis.h)
 *   "rediss://..."                                          Redis over TLS
 *   "unix:///path/to/redis.sock[?opts]"                     Redis over a unix socket
 *   "redis-cluster://host:port[,host:port...][?opts]"       Redis Cluster (store_redis_cluster.h)
 *   "rediss-cluster://..."                                  Redis Cluster over TLS
 *   "redis-sentinel://host:port[,...]/master[/db][?opts]"   the master Redis Sentinel names
 *   "rediss-sentinel://..."                                 Sentinel and master over TLS
 * The Redis query options (timeouts, pool size, pipelining, wait_replicas, TLS files, sentinel
 * credentials) are listed in store_redis.h; an unknown one is JWTS_E_INVALID_ARGUMENT naming it.
 * opts may be NULL. JWTS_E_UNSUPPORTED for another scheme, JWTS_E_INVALID_ARGUMENT for a bad URL. */
jwts_err jwts_store_open(const char *url, const jwts_store_open_options *opts, jwts_store **out);

/* jwts_store_open(url, NULL, out). */
jwts_err jwts_store_open_url(const char *url, jwts_store **out);

#ifdef __cplusplus
}
#endif
#endif
