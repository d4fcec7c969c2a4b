/*
 * redis_sentinel.c - the Redis Sentinel runner and jwts_store_redis_sentinel_new.
 *
 * A runner (see redis.h) over a pool to the current master. The master is found by asking the
 * sentinels in turn for SENTINEL get-master-addr-by-name and confirming with ROLE that the
 * named server really is a master (during a failover a sentinel may still name the old one).
 * It is looked up again on +switch-master (below), when its pool cannot connect (the master
 * died), when a call answers READONLY (the master was demoted) and after a broken round trip. A command that
 * cannot have been applied (no connection, or READONLY) is retried on the new master within
 * the call's deadline; one that may have been applied is not, so compare-and-set scripts never
 * run twice. The pools of former masters are closed but kept until the runner is destroyed, so
 * a call still holding one never touches freed memory.
 *
 * A thread subscribes to +switch-master on one sentinel (the next one when it fails) and
 * switches to the new master as soon as a failover is announced, so an idle store, or one that
 * only reads, does not keep talking to a demoted master.
 *
 * With wait_replicas, "WAIT <n> <timeout>" follows every write in the same round trip, and a
 * write that fewer than n replicas acknowledged fails with JWTS_E_UNAVAILABLE (redis_wait.c).
 * rediss-sentinel://: the sentinels and the master are all reached over TLS with the store's
 * settings; sentinel_user/sentinel_password authenticate to the sentinels.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "jwtsession/store_redis_cluster.h"
#include "store/redis.h"

#define DEFAULT_POOL 8
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define MAX_CMDS 8

typedef struct sentinel {
    redis_runner base;
    redis_config tmpl;       /* the master's auth and db, and the timeouts */
    redis_config *sentinels; /* without auth */
    size_t nsentinels;
    char *name;
    size_t pool_size;
    redis_wait wait;
    pthread_mutex_t lock; /* current, generation */
    redis_node *current;  /* NULL until found; its next chain holds former masters */
    uint64_t generation;
    pthread_mutex_t discover_lock;
    atomic_size_t next_sentinel;
    atomic_bool closed;
    pthread_t watcher; /* follows +switch-master */
    bool watching;
} sentinel;

static sentinel *from_base(redis_runner *r)
{
    return (sentinel *)r;
}

/* One command on a fresh connection to cfg (sentinels and ROLE probes are rare). */
static jwts_err ask(const redis_config *cfg, int64_t deadline_ns, int argc, const char **argv, redisReply **reply)
{
    size_t lens[4];
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    redis_cmd cmd = {argc, argv, lens};
    redis_conn *ctx = NULL;
    jwts_err rc = jwts_redis_conn_open(cfg, deadline_ns, &ctx);
    if (!rc) rc = jwts_redis_conn_run(ctx, deadline_ns, &cmd, 1, reply);
    jwts_redis_conn_free(ctx);
    return rc;
}

/* ---- discovery --------------------------------------------------------------------------- */

/* Ask sentinel cfg for the master's address. */
static jwts_err master_addr(sentinel *s, const redis_config *cfg, int64_t deadline_ns, char *host, size_t cap,
                            int *port)
{
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", s->name};
    redisReply *r = NULL;
    jwts_err rc = ask(cfg, deadline_ns, 3, argv, &r);
    if (rc) return rc;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        snprintf(host, cap, "%s", r->element[0]->str);
        *port = atoi(r->element[1]->str);
    } else if (r->type == REDIS_REPLY_ERROR) {
        rc = jwts_redis_reply_fail(r, "SENTINEL get-master-addr-by-name");
    } else {
        rc = jwts_fail(JWTS_E_UNAVAILABLE, "redis sentinel %s:%d does not know master \"%.64s\"", cfg->addr.host,
                       cfg->addr.port, s->name);
    }
    freeReplyObject(r);
    return rc;
}

/* Confirm with ROLE that cfg's server is a master. */
static jwts_err check_role(const redis_config *cfg, int64_t deadline_ns)
{
    const char *argv[1] = {"ROLE"};
    redisReply *r = NULL;
    jwts_err rc = ask(cfg, deadline_ns, 1, argv, &r);
    if (rc) return rc;
    if (r->type == REDIS_REPLY_ERROR)
        rc = jwts_redis_reply_fail(r, "ROLE");
    else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING ||
             strcmp(r->element[0]->str, "master") != 0)
        rc = jwts_fail(JWTS_E_UNAVAILABLE, "redis sentinel: %s:%d is not a master (yet)", cfg->addr.host,
                       cfg->addr.port);
    freeReplyObject(r);
    return rc;
}

/* Make the master the sentinels name current (a new pool if it moved), unless someone already
 * did since generation seen. */
static jwts_err discover(sentinel *s, uint64_t seen, int64_t deadline_ns)
{
    pthread_mutex_lock(&s->discover_lock);
    pthread_mutex_lock(&s->lock);
    bool stale = s->generation == seen;
    pthread_mutex_unlock(&s->lock);
    jwts_err rc = stale ? jwts_fail(JWTS_E_UNAVAILABLE, "redis sentinel: no sentinel answered") : JWTS_OK;
    size_t start = atomic_fetch_add(&s->next_sentinel, 1);
    for (size_t k = 0; stale && rc && k < s->nsentinels && jwts_monotonic_ns() < deadline_ns; k++) {
        const redis_config *sc = &s->sentinels[(start + k) % s->nsentinels];
        char host[256];
        int port = 0;
        if ((rc = master_addr(s, sc, deadline_ns, host, sizeof host, &port))) continue;
        redis_config probe = s->tmpl;
        probe.addr.host = host, probe.addr.port = port, probe.addr.unix_path = NULL;
        if ((rc = check_role(&probe, deadline_ns))) continue;
        pthread_mutex_lock(&s->lock);
        redis_node *cur = s->current;
        if (!cur || cur->cfg.addr.port != port || strcmp(cur->cfg.addr.host, host) != 0) {
            redis_node *m = jwts_redis_node_new(&s->tmpl, host, port, s->pool_size);
            if (m) {
                if (cur) cur->pool->ops->close(cur->pool); /* callers holding it get CLOSED and retry */
                m->next = cur;
                s->current = m;
            } else {
                rc = jwts_fail(JWTS_E_NO_MEMORY, "redis sentinel: out of memory");
            }
        }
        if (!rc) __atomic_fetch_add(&s->generation, 1, __ATOMIC_RELEASE); /* read lock-free by the near cache */
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&s->discover_lock);
    return rc;
}

/* ---- following +switch-master ---------------------------------------------------------- */

#define WATCH_POLL_MS 200

/* A pushed ["message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"]:
 * if it names our master, switch now rather than at the next failed call. */
static void on_message(sentinel *s, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[2]->type != REDIS_REPLY_STRING) return;
    const char *text = r->element[2]->str;
    size_t len = strlen(s->name);
    if (strncmp(text, s->name, len) != 0 || text[len] != ' ') return;
    pthread_mutex_lock(&s->lock);
    uint64_t gen = s->generation;
    pthread_mutex_unlock(&s->lock);
    discover(s, gen, jwts_deadline_in_ms(2 * s->tmpl.connect_timeout_ms));
}

/* Subscribe to +switch-master on one sentinel after another until the runner closes; the read
 * wakes every WATCH_POLL_MS to check. */
static void *watch(void *arg)
{
    sentinel *s = arg;
    for (size_t k = atomic_load(&s->next_sentinel); !atomic_load(&s->closed); k++) {
        const redis_config *sc = &s->sentinels[k % s->nsentinels];
        const char *argv[2] = {"SUBSCRIBE", "+switch-master"};
        size_t lens[2] = {9, 14};
        redis_cmd cmd = {2, argv, lens};
        redis_conn *c = NULL;
        redisReply *r = NULL;
        int64_t deadline = jwts_deadline_in_ms(sc->connect_timeout_ms);
        jwts_err rc = jwts_redis_conn_open(sc, deadline, &c);
        if (!rc) rc = jwts_redis_conn_run(c, deadline, &cmd, 1, &r);
        if (r) freeReplyObject(r), r = NULL;
        while (!rc && !atomic_load(&s->closed)) {
            rc = jwts_redis_conn_read(c, jwts_deadline_in_ms(WATCH_POLL_MS), &r);
            if (rc == JWTS_E_TIMEOUT) rc = JWTS_OK;
            if (r) on_message(s, r), freeReplyObject(r), r = NULL;
        }
        jwts_redis_conn_free(c);
        for (int i = 0; rc && i < 5 && !atomic_load(&s->closed); i++) /* that sentinel is down: next one soon */
            jwts_redis_sleep_within(jwts_deadline_in_ms(1000), WATCH_POLL_MS / 2);
    }
    return NULL;
}

static void watch_stop(sentinel *s)
{
    atomic_store(&s->closed, true);
    if (s->watching) pthread_join(s->watcher, NULL);
    s->watching = false;
}

/* ---- running commands -------------------------------------------------------------------- */

static void free_replies(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (replies[i]) freeReplyObject(replies[i]), replies[i] = NULL;
}

static bool any_readonly(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (jwts_redis_reply_is(replies[i], "READONLY")) return true;
    return false;
}

/* The deadline passed with no usable master: TIMEOUT, with the last cause seen (no sentinel
 * answered, a failed TLS verification...) so that a misconfiguration is named. */
static jwts_err out_of_time(const sentinel *s, const char *cause)
{
    if (!cause[0])
        return jwts_fail(JWTS_E_TIMEOUT, "redis sentinel: no master for \"%.64s\" until the deadline", s->name);
    return jwts_fail(JWTS_E_TIMEOUT, "redis sentinel: no master for \"%.64s\" until the deadline, last error: %s",
                     s->name, cause);
}

static jwts_err sentinel_run(redis_runner *r, int64_t deadline_ns, const redis_cmd *cmds, size_t n,
                             redisReply **replies)
{
    char cause[JWTS_DETAIL_MAX] = ""; /* the last UNAVAILABLE's detail */
    sentinel *s = from_base(r);
    if (n + 1 > MAX_CMDS) return jwts_fail(JWTS_E_INTERNAL, "redis sentinel: %zu commands in one call", n);
    redis_cmd all[MAX_CMDS];
    redisReply *got[MAX_CMDS] = {0};
    memcpy(all, cmds, n * sizeof *cmds);
    size_t total = n;
    if (jwts_redis_wait_wanted(&s->wait, cmds, n)) all[total++] = jwts_redis_wait_cmd(&s->wait);
    int64_t backoff_ms = 10;
    for (;;) {
        if (atomic_load(&s->closed)) return jwts_fail(JWTS_E_CLOSED, "redis store is closed");
        pthread_mutex_lock(&s->lock);
        redis_node *m = s->current;
        uint64_t gen = s->generation;
        pthread_mutex_unlock(&s->lock);
        jwts_err rc;
        bool sent = false;
        if (!m) {
            rc = discover(s, gen, deadline_ns);
            if (!rc) continue;
        } else {
            rc = jwts_redis_pool_exec(m->pool, deadline_ns, all, total, got, &sent);
            if (!rc && any_readonly(got, n)) { /* demoted: nothing was applied */
                free_replies(got, total);
                rc = jwts_fail(JWTS_E_UNAVAILABLE, "redis sentinel: the master became a replica (READONLY)");
            } else if (!rc) {
                rc = total > n ? jwts_redis_wait_check(&s->wait, got, n, got[n]) : JWTS_OK;
                if (total > n) freeReplyObject(got[n]);
                if (rc)
                    free_replies(got, n);
                else
                    memcpy(replies, got, n * sizeof *got);
                return rc;
            } else if (rc == JWTS_E_CLOSED && !sent) {
                continue; /* a former master's pool: take the current one */
            } else if (sent) {
                discover(s, gen, deadline_ns); /* for the next calls; this one may have been applied */
                return rc;
            }
            if (rc == JWTS_E_UNAVAILABLE) discover(s, gen, deadline_ns);
        }
        if (rc == JWTS_E_UNAVAILABLE) snprintf(cause, sizeof cause, "%s", jwts_errdetail());
        if (rc == JWTS_E_TIMEOUT && !sent && cause[0]) return out_of_time(s, cause); /* cut short, never sent */
        if (rc != JWTS_E_UNAVAILABLE || jwts_monotonic_ns() >= deadline_ns) return rc;
        jwts_redis_sleep_within(deadline_ns, backoff_ms);
        if (jwts_monotonic_ns() >= deadline_ns) return out_of_time(s, cause);
        if (backoff_ms < 100) backoff_ms *= 2;
    }
}

static void sentinel_close(redis_runner *r)
{
    sentinel *s = from_base(r);
    watch_stop(s);
    pthread_mutex_lock(&s->lock);
    for (redis_node *m = s->current; m; m = m->next) m->pool->ops->close(m->pool);
    pthread_mutex_unlock(&s->lock);
}

static void sentinel_destroy(redis_runner *r)
{
    sentinel *s = from_base(r);
    watch_stop(s);
    for (redis_node *m = s->current, *older; m; m = older) {
        older = m->next;
        jwts_redis_node_free(m);
    }
    for (size_t i = 0; i < s->nsentinels; i++) jwts_redis_addr_clear(&s->sentinels[i].addr);
    free(s->sentinels);
    jwts_redis_addr_clear(&s->tmpl.addr);
    free(s->name);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->discover_lock);
    free(s);
}

/* The near cache follows the current master; a failover (a new generation) rebuilds its stream. */
static size_t sentinel_servers(redis_runner *r, const redis_config **out, size_t cap, uint64_t *generation)
{
    sentinel *s = from_base(r);
    *generation = __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE);
    if (!out) return 0;
    pthread_mutex_lock(&s->lock);
    *generation = s->generation;
    size_t n = 0;
    if (cap && s->current) out[n++] = &s->current->cfg;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static const redis_runner_ops SENTINEL_OPS = {
    .run = sentinel_run, .close = sentinel_close, .destroy = sentinel_destroy, .servers = sentinel_servers};

/* ---- construction ------------------------------------------------------------------------ */

typedef struct sentinel_args {
    const jwts_redis_sentinel_options *opts; /* the URL's query applied */
    redis_addr *addrs;                       /* taken over */
    size_t n;
    const char *name;
    int db;
} sentinel_args;

static jwts_err sentinel_new(void *arg, const redis_tls *tls, redis_runner **out)
{
    sentinel_args *a = arg;
    const jwts_redis_sentinel_options *o = a->opts;
    sentinel *s = calloc(1, sizeof *s);
    if (!s) return jwts_fail(JWTS_E_NO_MEMORY, "redis sentinel: out of memory");
    s->base.ops = &SENTINEL_OPS;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->discover_lock, NULL);
    s->pool_size = o->pool_size ? o->pool_size : DEFAULT_POOL;
    jwts_redis_wait_init(&s->wait, o->wait_replicas, o->wait_timeout_ms);
    s->tmpl.tls = tls;
    s->tmpl.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    s->tmpl.command_timeout_ms = o->command_timeout_ms;
    /* the master's credentials move to the template; the sentinels are asked without them */
    s->tmpl.addr.username = a->addrs[0].username, a->addrs[0].username = NULL;
    s->tmpl.addr.password = a->addrs[0].password, a->addrs[0].password = NULL;
    s->tmpl.addr.db = a->db;
    s->name = strdup(a->name);
    s->sentinels = calloc(a->n, sizeof *s->sentinels);
    if (!s->name || !s->sentinels) {
        sentinel_destroy(&s->base);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis sentinel: out of memory");
    }
    bool ok = true;
    for (size_t i = 0; i < a->n; i++) {
        jwts_redis_addr_clear(&(redis_addr){.username = a->addrs[i].username, .password = a->addrs[i].password});
        a->addrs[i].username = o->sentinel_username ? strdup(o->sentinel_username) : NULL;
        a->addrs[i].password = o->sentinel_password ? strdup(o->sentinel_password) : NULL;
        ok = ok && (!o->sentinel_username || a->addrs[i].username) && (!o->sentinel_password || a->addrs[i].password);
        a->addrs[i].db = 0;
        s->sentinels[i] =
            (redis_config){.addr = a->addrs[i], .connect_timeout_ms = s->tmpl.connect_timeout_ms, .tls = tls};
        a->addrs[i] = (redis_addr){0};
    }
    s->nsentinels = a->n;
    if (!ok) {
        sentinel_destroy(&s->base);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis sentinel: out of memory");
    }
    s->watching = pthread_create(&s->watcher, NULL, watch, s) == 0;
    *out = &s->base;
    return JWTS_OK;
}

jwts_err jwts_store_redis_sentinel_new(const jwts_redis_sentinel_options *opts, jwts_store **out)
{
    jwts_redis_sentinel_options o = opts ? *opts : (jwts_redis_sentinel_options){0};
    jwts_err rc = jwts_redis_check_new("redis-sentinel", out, o.url, o.pool_size, o.connect_timeout_ms);
    if (rc) return rc;
    redis_url_kind kind;
    bool tls_url = false;
    size_t prefix;
    if (!jwts_redis_url_kind(o.url, &kind, &tls_url, &prefix) || kind != REDIS_URL_SENTINEL)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: expected redis-sentinel:// or rediss-sentinel://");
    redis_query q;
    if ((rc = jwts_redis_query_parse(o.url, &q))) return rc;
    jwts_redis_query_common(&q, tls_url, &o.connect_timeout_ms, &o.command_timeout_ms, &o.pool_size, &o.key_prefix,
                            &o.tls);
    if (q.wait_replicas >= 0) o.wait_replicas = (int)q.wait_replicas;
    if (q.wait_timeout_ms > 0) o.wait_timeout_ms = q.wait_timeout_ms;
    if (q.sentinel_username) o.sentinel_username = q.sentinel_username;
    if (q.sentinel_password) o.sentinel_password = q.sentinel_password;
    if (o.wait_timeout_ms < 0 || o.wait_replicas < 0)
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis-sentinel: negative wait_timeout_ms or wait_replicas");
    redis_addr *addrs = NULL;
    size_t n = 0;
    char *path = NULL;
    if (!rc) rc = jwts_redis_seeds_parse(o.url, tls_url ? "rediss-sentinel" : "redis-sentinel", &addrs, &n, &path);
    /* path: mastername[/db] */
    char *slash = path ? strchr(path, '/') : NULL;
    int db = 0;
    if (!rc && slash) {
        *slash = '\0';
        char *end = NULL;
        long v = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || v < 0 || v > 1000000)
            rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis sentinel: bad db after the master name");
        db = (int)v;
    }
    if (!rc && q.db >= 0) db = (int)q.db;
    if (!rc && path[0] == '\0')
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis sentinel: the url names no master (.../mastername)");
    if (!rc) {
        sentinel_args a = {&o, addrs, n, path, db};
        redis_store_spec spec = {"redis-sentinel", &o.tls, o.key_prefix, o.command_timeout_ms, false,
                                 q.events, q.events_maxlen > 0 ? q.events_maxlen : 0};
        rc = jwts_redis_store_new(&spec, sentinel_new, &a, out);
    }
    if (!rc && opts->cache.enabled && (rc = jwts_store_redis_cache_enable(*out, &opts->cache))) {
        jwts_store_free(*out);
        *out = NULL;
    }
    jwts_redis_seeds_free(addrs, n);
    free(path);
    jwts_redis_query_clear(&q);
    return rc;
}
