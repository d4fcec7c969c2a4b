/*
 * store_redis_cluster.h - the Redis store on Redis Cluster (scale) and on Sentinel (failover).
 *
 * Both are the Redis store of store_redis.h with another way to find the server: the same keys,
 * records and Lua scripts, one round trip per operation, atomic on the server. Every key of one
 * user carries the hash tag {<user id>}, so every per-user operation touches one cluster slot and
 * runs whole on the master owning it. See docs/scaling.md.
 */
#ifndef JWTSESSION_STORE_REDIS_CLUSTER_H
#define JWTSESSION_STORE_REDIS_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "store_redis.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options of the cluster store; a zeroed struct gives the defaults shown. Strings are copied. */
typedef struct jwts_redis_cluster_options {
    /* redis-cluster://[[user]:password@]host:port[,host:port...][/][?options]  (required): seed
     * nodes; any one reachable node is enough to learn the whole slot map. rediss-cluster://: TLS
     * to every node. Query options: see store_redis.h. */
    const char *url;
    const char *key_prefix;     /* default "jwts:" */
    size_t pool_size;           /* connections per node; default 8 (max 1024) */
    int64_t connect_timeout_ms; /* default 1000 */
    int64_t command_timeout_ms; /* bound of one call, redirects and retries included; default 2000 */
    int wait_replicas;          /* > 0: every write is followed by WAIT wait_replicas on its master */
    int64_t wait_timeout_ms;    /* the WAIT's timeout; default 500 */
    jwts_redis_tls_options tls; /* TLS to every node; rediss-cluster:// enables it */
    jwts_redis_cache_options cache; /* the near cache (store_redis.h): one stream per master */
} jwts_redis_cluster_options;

/* A Redis Cluster store. The slot map comes from CLUSTER SLOTS (fetched lazily, so this succeeds
 * while the cluster is down) and each master gets its own pool. A call goes to the master owning
 * its user's slot; MOVED updates the map and retries, ASK retries once on the named node after
 * ASKING, TRYAGAIN and CLUSTERDOWN are retried until the deadline, and a node that refuses
 * connections makes the map be fetched again. A command already sent is never sent twice, so
 * rotate and replace keep their compare-and-set meaning across failovers. Batches over several
 * users run one command per slot (get_many: one pipeline per node). With wait_replicas, a write
 * is pipelined with "WAIT n timeout" on the same connection and fails with JWTS_E_UNAVAILABLE
 * when fewer replicas acknowledged it in time (it may still be applied on the master), as on
 * Sentinel. Thread-safe. Errors as jwts_store_redis_new. */
jwts_err jwts_store_redis_cluster_new(const jwts_redis_cluster_options *opts, jwts_store **out);

/* Options of the sentinel store; a zeroed struct gives the defaults shown. Strings are copied. */
typedef struct jwts_redis_sentinel_options {
    /* redis-sentinel://[[user]:password@]host:port[,host:port...]/mastername[/db][?options]
     * (required): the sentinels; the user and password are the master's. The sentinels are asked
     * with sentinel_username/sentinel_password when set (else without AUTH). rediss-sentinel://:
     * TLS to the sentinels and the master. Query options: see store_redis.h. */
    const char *url;
    const char *key_prefix;     /* default "jwts:" */
    size_t pool_size;           /* connections to the master; default 8 (max 1024) */
    int64_t connect_timeout_ms; /* default 1000 */
    int64_t command_timeout_ms; /* bound of one call, rediscovery included; default 2000 */
    int wait_replicas;          /* > 0: every write is followed by WAIT wait_replicas (same round trip) */
    int64_t wait_timeout_ms;    /* the WAIT's timeout; default 500 */
    jwts_redis_tls_options tls; /* TLS to sentinels and master; rediss-sentinel:// enables it */
    const char *sentinel_username; /* ACL user on the sentinels (NULL: "default" with a password) */
    const char *sentinel_password; /* NULL: sentinels asked without AUTH; wiped on free */
    jwts_redis_cache_options cache; /* the near cache (store_redis.h): flushed on every failover */
} jwts_redis_sentinel_options;

/* A store on the master that Redis Sentinel names. The master is asked of the sentinels
 * (SENTINEL get-master-addr-by-name) and checked with ROLE; a thread follows +switch-master on
 * the sentinels; when the master stops answering, or answers READONLY because it was demoted, it
 * is looked up again, and the call retried within its deadline if the command cannot have been
 * applied. With wait_replicas, a write fails with JWTS_E_UNAVAILABLE when fewer replicas
 * acknowledged it in time (it may still be applied on the master). Thread-safe. Errors as
 * jwts_store_redis_new. */
jwts_err jwts_store_redis_sentinel_new(const jwts_redis_sentinel_options *opts, jwts_store **out);

#ifdef __cplusplus
}
#endif
#endif
