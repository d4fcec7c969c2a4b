/*
 * redis_cluster.c - the Redis Cluster runner and jwts_store_redis_cluster_new.
 *
 * A runner (see redis.h) that sends each command to the master owning the slot of its first
 * key, over that node's own pool (redis_pool.c). The slot map (16384 node numbers) is filled
 * from CLUSTER SLOTS on first use and whenever a node stops answering; MOVED repoints one slot
 * at once, as the cluster specification asks. Replies steer the retries, all within the call's
 * deadline:
 *   MOVED <slot> <host:port>    the slot has a new owner: update the map, retry there
 *   ASK <slot> <host:port>      the slot is migrating and this key already left: ASKING + retry
 *                               once on that node, the map unchanged
 *   TRYAGAIN, CLUSTERDOWN       a multi-key command mid-migration, or a failover: wait, retry
 *   READONLY                    we reached a replica with a stale map: refresh, retry
 *   connection refused          the node is down (a failover is coming): refresh, wait, retry
 * Several commands in one call (get_many's per-slot MGETs) go as one pipeline per node; those
 * answered with a redirect then run one by one as above.
 * A command that may have reached the server (its connection broke after the write) is not
 * retried: rotate and replace are compare-and-set and must not run twice. With wait_replicas,
 * each write is pipelined with "WAIT n timeout" on the same connection (redis_wait.c, as the
 * sentinel store does); a batch with writes then runs command by command. rediss-cluster://
 * reaches every node over TLS with the store's settings. Nodes are only ever
 * added, so a node number stays valid for the runner's life. The hot path reads the slot map,
 * the node table and the map generation with atomic loads; only adding a node takes the lock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "jwtsession/store_redis_cluster.h"
#include "store/redis.h"

#define MAX_NODES 256
#define NO_NODE UINT16_MAX
#define MAX_REDIRECTS 16
#define DEFAULT_POOL 8
#define DEFAULT_CONNECT_TIMEOUT_MS 1000

typedef struct cluster {
    redis_runner base;
    redis_config tmpl; /* auth, TLS and timeouts for every node */
    redis_wait wait;
    size_t pool_size;
    pthread_mutex_t lock; /* adding nodes */
    _Atomic(redis_node *) nodes[MAX_NODES];
    atomic_size_t nnodes;
    _Atomic uint16_t slots[JWTS_REDIS_SLOTS]; /* node number by slot */
    atomic_uint_fast64_t generation;          /* bumped by every refresh */
    atomic_uint_fast64_t moves;               /* bumped by every MOVED repoint (the near cache) */
    pthread_mutex_t refresh_lock;             /* one CLUSTER SLOTS at a time */
    atomic_size_t next_probe;                 /* where the next refresh starts asking */
    atomic_bool closed;
} cluster;

static cluster *from_base(redis_runner *r)
{
    return (cluster *)r;
}

/* ---- nodes ------------------------------------------------------------------------------- */

/* The number of node host:port, added if new; NO_NODE if full or out of memory. */
static uint16_t node_find_or_add(cluster *c, const char *host, int port)
{
    pthread_mutex_lock(&c->lock);
    uint16_t found = NO_NODE;
    size_t count = atomic_load(&c->nnodes);
    for (size_t i = 0; i < count && found == NO_NODE; i++) {
        const redis_node *n = atomic_load(&c->nodes[i]);
        if (n->cfg.addr.port == port && strcmp(n->cfg.addr.host, host) == 0) found = (uint16_t)i;
    }
    if (found == NO_NODE && count < MAX_NODES && !atomic_load(&c->closed)) {
        redis_node *n = jwts_redis_node_new(&c->tmpl, host, port, c->pool_size);
        if (n) {
            atomic_store(&c->nodes[count], n); /* published before the count that makes it visible */
            atomic_store(&c->nnodes, count + 1);
            found = (uint16_t)count;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

static redis_node *node_at(cluster *c, uint16_t i)
{
    return i < atomic_load(&c->nnodes) ? atomic_load(&c->nodes[i]) : NULL;
}

/* Parse "<slot> <host>:<port>" after the word of a MOVED or ASK error into the node's number. */
static uint16_t redirect_target(cluster *c, const redisReply *r, unsigned *slot)
{
    char host[256];
    int port = 0;
    const char *sp = memchr(r->str, ' ', r->len);
    if (!sp || sscanf(sp + 1, "%u %255s", slot, host) != 2) return NO_NODE;
    char *colon = strrchr(host, ':');
    if (!colon) return NO_NODE;
    *colon = '\0';
    port = atoi(colon + 1);
    if (port <= 0 || port > 65535 || *slot >= JWTS_REDIS_SLOTS) return NO_NODE;
    return node_find_or_add(c, host, port);
}

/* ---- the slot map ------------------------------------------------------------------------ */

/* Fill map from a CLUSTER SLOTS reply got from node asked. */
static jwts_err parse_slots(cluster *c, const redisReply *r, const redis_node *asked, uint16_t *map)
{
    if (r->type != REDIS_REPLY_ARRAY) return jwts_fail(JWTS_E_PROTOCOL, "redis cluster: CLUSTER SLOTS is no array");
    for (size_t i = 0; i < JWTS_REDIS_SLOTS; i++) map[i] = NO_NODE;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY ||
            e->element[2]->elements < 2 || e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
            e->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
            return jwts_fail(JWTS_E_PROTOCOL, "redis cluster: bad CLUSTER SLOTS entry %zu", i);
        long long from = e->element[0]->integer, to = e->element[1]->integer;
        const redisReply *host = e->element[2]->element[0];
        /* an empty or "?" host means "the address you reached me at" */
        const char *h = host->len && strcmp(host->str, "?") != 0 ? host->str : asked->cfg.addr.host;
        uint16_t n = node_find_or_add(c, h, (int)e->element[2]->element[1]->integer);
        if (n == NO_NODE) return jwts_fail(JWTS_E_NO_MEMORY, "redis cluster: cannot add node %s", h);
        for (long long s = from; s >= 0 && s <= to && s < JWTS_REDIS_SLOTS; s++) map[s] = n;
    }
    return JWTS_OK;
}

/* Fetch the slot map again unless someone did since generation seen. Asks every known node in
 * turn, starting from a rotating one so a dead node is not always asked first. */
static jwts_err refresh(cluster *c, uint64_t seen, int64_t deadline_ns)
{
    pthread_mutex_lock(&c->refresh_lock);
    bool stale = atomic_load(&c->generation) == seen;
    size_t count = atomic_load(&c->nnodes);
    jwts_err rc = stale ? JWTS_E_UNAVAILABLE : JWTS_OK;
    uint16_t *map = stale ? malloc(JWTS_REDIS_SLOTS * sizeof *map) : NULL;
    if (stale && !map) rc = jwts_fail(JWTS_E_NO_MEMORY, "redis cluster: out of memory");
    size_t start = atomic_fetch_add(&c->next_probe, 1);
    for (size_t k = 0; map && rc && k < count && jwts_monotonic_ns() < deadline_ns; k++) {
        redis_node *n = node_at(c, (uint16_t)((start + k) % count));
        const char *argv[2] = {"CLUSTER", "SLOTS"};
        size_t lens[2] = {7, 5};
        redis_cmd cmd = {2, argv, lens};
        redisReply *r = NULL;
        rc = n->pool->ops->run(n->pool, deadline_ns, &cmd, 1, &r);
        if (!rc && r->type == REDIS_REPLY_ERROR) rc = jwts_redis_reply_fail(r, "CLUSTER SLOTS");
        if (!rc) rc = parse_slots(c, r, n, map);
        if (r) freeReplyObject(r);
    }
    if (rc == JWTS_E_UNAVAILABLE && map && count == 0) rc = jwts_fail(rc, "redis cluster: no node known");
    if (!rc && map) {
        for (size_t i = 0; i < JWTS_REDIS_SLOTS; i++) atomic_store_explicit(&c->slots[i], map[i], memory_order_relaxed);
        atomic_fetch_add(&c->generation, 1);
    }
    free(map);
    pthread_mutex_unlock(&c->refresh_lock);
    return rc;
}

/* The owner of slot (slot < 0: any node) and the map generation it was read from. */
static uint16_t owner(cluster *c, int slot, uint64_t *generation)
{
    *generation = atomic_load(&c->generation);
    size_t count = atomic_load(&c->nnodes);
    if (slot >= 0) return atomic_load_explicit(&c->slots[slot], memory_order_relaxed);
    return count ? (uint16_t)(atomic_fetch_add(&c->next_probe, 1) % count) : NO_NODE;
}

static void repoint(cluster *c, unsigned slot, uint16_t n)
{
    atomic_store_explicit(&c->slots[slot], n, memory_order_relaxed);
    atomic_fetch_add(&c->moves, 1);
}

/* ---- running a command ------------------------------------------------------------------- */

/* cmd on node n (after ASKING when asking, and followed by the WAIT when it writes) in one round
 * trip; *reply is cmd's reply, and a WAIT that fewer replicas answered fails the call. */
static jwts_err send_to(cluster *c, redis_node *n, int64_t deadline_ns, const redis_cmd *cmd, bool asking,
                        redisReply **reply, bool *sent)
{
    const char *argv[1] = {"ASKING"};
    size_t lens[1] = {6};
    redis_cmd cmds[3];
    size_t k = 0, at;
    if (asking) cmds[k++] = (redis_cmd){1, argv, lens};
    at = k;
    cmds[k++] = *cmd;
    bool wait = jwts_redis_wait_wanted(&c->wait, cmd, 1);
    if (wait) cmds[k++] = jwts_redis_wait_cmd(&c->wait);
    if (k == 1) return jwts_redis_pool_exec(n->pool, deadline_ns, cmd, 1, reply, sent);
    redisReply *replies[3] = {0};
    jwts_err rc = jwts_redis_pool_exec(n->pool, deadline_ns, cmds, k, replies, sent);
    if (rc) return rc;
    /* a redirected or refused command wrote nothing: the caller handles its reply */
    if (wait) rc = jwts_redis_wait_check(&c->wait, &replies[at], 1, replies[at + 1]);
    for (size_t i = 0; i < k; i++)
        if (i != at && replies[i]) freeReplyObject(replies[i]);
    if (rc) {
        freeReplyObject(replies[at]);
        return rc;
    }
    *reply = replies[at];
    return JWTS_OK;
}

/* true if r says a script met a key that left its node mid-migration. Our scripts touch every key
 * before their first write (redis_scripts.c), so such a script changed nothing: send it again. */
static bool left_mid_script(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "attempted to access a non local key in a cluster node");
}

/* The deadline passed while slot's node could not be used: TIMEOUT, with the last cause seen (a
 * refused connection, a failed TLS verification...) so that a misconfiguration is named. */
static jwts_err out_of_time(int slot, const char *cause)
{
    if (!cause[0]) return jwts_fail(JWTS_E_TIMEOUT, "redis cluster: slot %d unavailable until the deadline", slot);
    return jwts_fail(JWTS_E_TIMEOUT, "redis cluster: slot %d unavailable until the deadline, last error: %s", slot,
                     cause);
}

/* One command, with its redirects and retries. */
static jwts_err run_one(cluster *c, int64_t deadline_ns, const redis_cmd *cmd, redisReply **reply)
{
    int slot = jwts_redis_cmd_slot(cmd);
    char cause[JWTS_DETAIL_MAX] = ""; /* the last UNAVAILABLE's detail */
    uint16_t ask = NO_NODE;
    int redirects = 0;
    int64_t backoff_ms = 5;
    for (;;) {
        if (atomic_load(&c->closed)) return jwts_fail(JWTS_E_CLOSED, "redis store is closed");
        uint64_t gen = 0;
        uint16_t at = ask != NO_NODE ? ask : owner(c, slot, &gen);
        bool asking = ask != NO_NODE;
        ask = NO_NODE;
        jwts_err rc = JWTS_OK;
        bool sent = false;
        if (at == NO_NODE) {
            rc = refresh(c, gen, deadline_ns);
            if (!rc && owner(c, slot, &gen) == NO_NODE)
                rc = jwts_fail(JWTS_E_UNAVAILABLE, "redis cluster: no master serves slot %d", slot);
        } else {
            rc = send_to(c, node_at(c, at), deadline_ns, cmd, asking, reply, &sent);
            if (!rc) {
                redisReply *r = *reply;
                unsigned moved_slot = 0;
                bool moved = jwts_redis_reply_is(r, "MOVED"), asked = jwts_redis_reply_is(r, "ASK");
                if ((moved || asked) && redirects++ < MAX_REDIRECTS) {
                    uint16_t to = redirect_target(c, r, &moved_slot);
                    if (to != NO_NODE && moved) repoint(c, moved_slot, to);
                    if (to != NO_NODE && asked) ask = to;
                    freeReplyObject(r), *reply = NULL;
                    continue;
                }
                bool wait = jwts_redis_reply_is(r, "TRYAGAIN") || jwts_redis_reply_is(r, "CLUSTERDOWN") ||
                            jwts_redis_reply_is(r, "READONLY") || jwts_redis_reply_is(r, "LOADING") ||
                            left_mid_script(r);
                if (!wait || jwts_monotonic_ns() >= deadline_ns) return JWTS_OK; /* the caller maps errors */
                if (!jwts_redis_reply_is(r, "TRYAGAIN")) refresh(c, gen, deadline_ns);
                freeReplyObject(r), *reply = NULL;
                rc = JWTS_E_UNAVAILABLE;
            } else if (rc == JWTS_E_UNAVAILABLE && !sent) {
                refresh(c, gen, deadline_ns); /* the node is down: maybe a replica took over */
            } else if (sent || rc != JWTS_E_TIMEOUT || !cause[0]) {
                return rc; /* sent, or timed out: never sent twice */
            } else {
                return out_of_time(slot, cause);
            }
        }
        if (!rc) continue;
        if (rc == JWTS_E_UNAVAILABLE) snprintf(cause, sizeof cause, "%s", jwts_errdetail());
        if (rc == JWTS_E_TIMEOUT && cause[0]) return out_of_time(slot, cause); /* cut short, never sent */
        if (rc != JWTS_E_UNAVAILABLE || jwts_monotonic_ns() >= deadline_ns) return rc;
        jwts_redis_sleep_within(deadline_ns, backoff_ms);
        if (jwts_monotonic_ns() >= deadline_ns) return out_of_time(slot, cause);
        if (backoff_ms < 100) backoff_ms *= 2;
    }
}

/* true if r asks for the command to be sent again (elsewhere, or later). */
static bool needs_retry(const redisReply *r)
{
    static const char *const WORDS[] = {"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "LOADING"};
    for (size_t i = 0; i < sizeof WORDS / sizeof *WORDS; i++)
        if (jwts_redis_reply_is(r, WORDS[i])) return true;
    return left_mid_script(r);
}

/* The commands of cmds[0..n) that node `at` owns, as one pipeline. Those it answers with a
 * redirect, or that could not be sent, are left NULL in replies for run_one. */
static jwts_err run_on_node(cluster *c, int64_t deadline_ns, const redis_cmd *cmds, size_t n, const uint16_t *owners,
                            uint16_t at, redisReply **replies)
{
    redis_cmd *sub = malloc(n * sizeof *sub);
    size_t *idx = malloc(n * sizeof *idx), k = 0;
    redisReply **got = calloc(n, sizeof *got);
    jwts_err rc = sub && idx && got ? JWTS_OK : jwts_fail(JWTS_E_NO_MEMORY, "redis cluster: out of memory");
    for (size_t i = 0; !rc && i < n; i++)
        if (owners[i] == at) sub[k] = cmds[i], idx[k++] = i;
    bool sent = false;
    if (!rc) rc = jwts_redis_pool_exec(node_at(c, at)->pool, deadline_ns, sub, k, got, &sent);
    if (rc == JWTS_E_UNAVAILABLE && !sent) rc = JWTS_OK; /* nothing applied: run_one retries each */
    for (size_t j = 0; !rc && j < k; j++) {
        if (got[j] && needs_retry(got[j])) freeReplyObject(got[j]), got[j] = NULL;
        replies[idx[j]] = got[j];
    }
    free(sub), free(idx), free(got);
    return rc;
}

/* n commands: those of one node pipelined together, then each one left over (redirected, node
 * unknown or down) on its own with its retries. */
static jwts_err cluster_run(redis_runner *r, int64_t deadline_ns, const redis_cmd *cmds, size_t n, redisReply **replies)
{
    cluster *c = from_base(r);
    for (size_t i = 0; i < n; i++) replies[i] = NULL;
    if (n == 1) return run_one(c, deadline_ns, cmds, replies);
    if (jwts_redis_wait_wanted(&c->wait, cmds, n)) { /* each write with its own WAIT */
        jwts_err rc = JWTS_OK;
        for (size_t i = 0; i < n && !rc; i++) rc = run_one(c, deadline_ns, &cmds[i], &replies[i]);
        if (rc)
            for (size_t i = 0; i < n; i++)
                if (replies[i]) freeReplyObject(replies[i]), replies[i] = NULL;
        return rc;
    }
    uint16_t *owners = malloc(n * sizeof *owners);
    if (!owners) return jwts_fail(JWTS_E_NO_MEMORY, "redis cluster: out of memory");
    uint64_t gen;
    for (size_t i = 0; i < n; i++) {
        int slot = jwts_redis_cmd_slot(&cmds[i]);
        owners[i] = slot < 0 ? NO_NODE : owner(c, slot, &gen);
    }
    jwts_err rc = JWTS_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        bool first = owners[i] != NO_NODE;
        for (size_t j = 0; first && j < i; j++) first = owners[j] != owners[i];
        if (first) rc = run_on_node(c, deadline_ns, cmds, n, owners, owners[i], replies);
    }
    for (size_t i = 0; !rc && i < n; i++)
        if (!replies[i]) rc = run_one(c, deadline_ns, &cmds[i], &replies[i]);
    free(owners);
    if (rc)
        for (size_t i = 0; i < n; i++)
            if (replies[i]) freeReplyObject(replies[i]), replies[i] = NULL;
    return rc;
}

static void cluster_close(redis_runner *r)
{
    cluster *c = from_base(r);
    atomic_store(&c->closed, true);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < atomic_load(&c->nnodes); i++) {
        redis_node *n = atomic_load(&c->nodes[i]);
        n->pool->ops->close(n->pool);
    }
    pthread_mutex_unlock(&c->lock);
}

static void cluster_destroy(redis_runner *r)
{
    cluster *c = from_base(r);
    for (size_t i = 0; i < atomic_load(&c->nnodes); i++) jwts_redis_node_free(atomic_load(&c->nodes[i]));
    jwts_redis_addr_clear(&c->tmpl.addr);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->refresh_lock);
    free(c);
}

/* The near cache follows every master that owns a slot; any refresh or MOVED is a new generation. */
static size_t cluster_servers(redis_runner *r, const redis_config **out, size_t cap, uint64_t *generation)
{
    cluster *c = from_base(r);
    *generation = atomic_load(&c->generation) + atomic_load(&c->moves);
    if (!out) return 0;
    bool seen[MAX_NODES] = {0};
    size_t n = 0;
    for (size_t i = 0; i < JWTS_REDIS_SLOTS; i++) {
        uint16_t o = atomic_load_explicit(&c->slots[i], memory_order_relaxed);
        if (o == NO_NODE || seen[o]) continue;
        seen[o] = true;
        if (n == cap) return 0; /* more masters than the cache follows: never live */
        out[n++] = &node_at(c, o)->cfg;
    }
    return n;
}

static const redis_runner_ops CLUSTER_OPS = {
    .run = cluster_run, .close = cluster_close, .destroy = cluster_destroy, .servers = cluster_servers};

/* ---- construction ------------------------------------------------------------------------ */

typedef struct cluster_args {
    const jwts_redis_cluster_options *opts;
    const redis_addr *seeds;
    size_t nseeds;
} cluster_args;

static jwts_err cluster_new(void *arg, const redis_tls *tls, redis_runner **out)
{
    const cluster_args *a = arg;
    cluster *c = calloc(1, sizeof *c);
    if (!c) return jwts_fail(JWTS_E_NO_MEMORY, "redis cluster: out of memory");
    c->base.ops = &CLUSTER_OPS;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->refresh_lock, NULL);
    for (size_t i = 0; i < JWTS_REDIS_SLOTS; i++) atomic_init(&c->slots[i], NO_NODE);
    c->pool_size = a->opts->pool_size ? a->opts->pool_size : DEFAULT_POOL;
    c->tmpl.tls = tls;
    jwts_redis_wait_init(&c->wait, a->opts->wait_replicas, a->opts->wait_timeout_ms);
    c->tmpl.connect_timeout_ms = a->opts->connect_timeout_ms ? a->opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    c->tmpl.command_timeout_ms = a->opts->command_timeout_ms;
    const redis_addr *s0 = &a->seeds[0];
    c->tmpl.addr.username = s0->username ? strdup(s0->username) : NULL;
    c->tmpl.addr.password = s0->password ? strdup(s0->password) : NULL;
    bool ok = (!s0->username || c->tmpl.addr.username) && (!s0->password || c->tmpl.addr.password);
    for (size_t i = 0; ok && i < a->nseeds; i++)
        ok = node_find_or_add(c, a->seeds[i].host, a->seeds[i].port) != NO_NODE;
    if (!ok) {
        cluster_destroy(&c->base);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis cluster: out of memory");
    }
    *out = &c->base;
    return JWTS_OK;
}

jwts_err jwts_store_redis_cluster_new(const jwts_redis_cluster_options *opts, jwts_store **out)
{
    jwts_redis_cluster_options o = opts ? *opts : (jwts_redis_cluster_options){0};
    jwts_err rc = jwts_redis_check_new("redis-cluster", out, o.url, o.pool_size, o.connect_timeout_ms);
    if (rc) return rc;
    redis_url_kind kind;
    bool tls_url = false;
    size_t prefix;
    if (!jwts_redis_url_kind(o.url, &kind, &tls_url, &prefix) || kind != REDIS_URL_CLUSTER)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: expected redis-cluster:// or rediss-cluster://");
    redis_query q;
    if ((rc = jwts_redis_query_parse(o.url, &q))) return rc;
    jwts_redis_query_common(&q, tls_url, &o.connect_timeout_ms, &o.command_timeout_ms, &o.pool_size, &o.key_prefix,
                            &o.tls);
    if (q.wait_replicas >= 0) o.wait_replicas = (int)q.wait_replicas;
    if (q.wait_timeout_ms > 0) o.wait_timeout_ms = q.wait_timeout_ms;
    if (o.wait_timeout_ms < 0 || o.wait_replicas < 0)
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis-cluster: negative wait_timeout_ms or wait_replicas");
    redis_addr *seeds = NULL;
    size_t nseeds = 0;
    char *path = NULL;
    if (!rc) rc = jwts_redis_seeds_parse(o.url, tls_url ? "rediss-cluster" : "redis-cluster", &seeds, &nseeds, &path);
    for (size_t i = 0; !rc && i < nseeds; i++)
        if (seeds[i].db) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis cluster: a cluster has only db 0");
    if (!rc && path[0] != '\0')
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis cluster: unexpected path \"%.32s\" in the url", path);
    if (!rc) {
        cluster_args a = {&o, seeds, nseeds};
        redis_store_spec spec = {"redis-cluster", &o.tls, o.key_prefix, o.command_timeout_ms, true,
                                 q.events, q.events_maxlen > 0 ? q.events_maxlen : 0};
        rc = jwts_redis_store_new(&spec, cluster_new, &a, out);
    }
    if (!rc && opts->cache.enabled && (rc = jwts_store_redis_cache_enable(*out, &opts->cache))) {
        jwts_store_free(*out);
        *out = NULL;
    }
    jwts_redis_seeds_free(seeds, nseeds);
    free(path);
    jwts_redis_query_clear(&q);
    return rc;
}
