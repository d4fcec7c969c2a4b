/*
 * redis_pool.c - a thread-safe pool of Redis connections.
 *
 * size slots, each holding a connection or NULL (not yet connected, or dropped after a failure).
 * A call pops a free slot (waiting, within its deadline, while all are busy), connects it if
 * needed, runs its round trip and pushes the slot back. Free slots form a stack, so the most
 * recently used (warm) connection is reused first. A connection the server closed while idle
 * (restart, timeout) is noticed before use by a zero-timeout poll and replaced, so a restarted
 * Redis costs no failed call; a connection whose round trip failed is dropped, and the next call
 * that takes its slot reconnects.
 *
 * A redis_node pairs a server's address with its own pool, for the runners that talk to many
 * servers (cluster nodes) or to a server that changes (the master Sentinel names).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "store/redis.h"

typedef struct pool {
    redis_runner base;
    const redis_config *cfg;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    redis_conn **conns; /* by slot */
    size_t *free_slots; /* stack of free slot numbers */
    size_t nfree, size;
    size_t waiting;
    bool closed;
} pool;

static pool *from_base(redis_runner *r)
{
    return (pool *)r;
}

static struct timespec to_timespec(int64_t ns)
{
    return jwts_timespec_of_ns(ns);
}

/* Take a free slot, waiting for one until deadline_ns. */
static jwts_err acquire(pool *p, int64_t deadline_ns, size_t *slot)
{
    jwts_err rc = JWTS_OK;
    pthread_mutex_lock(&p->lock);
    while (!p->closed && p->nfree == 0) {
        if (jwts_monotonic_ns() >= deadline_ns) {
            rc = jwts_fail(JWTS_E_TIMEOUT, "redis: all %zu pooled connections busy until the deadline", p->size);
            break;
        }
        struct timespec until = to_timespec(deadline_ns);
        p->waiting++;
        pthread_cond_clockwait(&p->freed, &p->lock, CLOCK_MONOTONIC, &until);
        p->waiting--;
    }
    if (!rc && p->closed) rc = jwts_fail(JWTS_E_CLOSED, "redis store is closed");
    if (!rc) *slot = p->free_slots[--p->nfree];
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void release(pool *p, size_t slot)
{
    pthread_mutex_lock(&p->lock);
    if (p->closed && p->conns[slot]) {
        jwts_redis_conn_free(p->conns[slot]);
        p->conns[slot] = NULL;
    }
    p->free_slots[p->nfree++] = slot;
    if (p->waiting) pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

jwts_err jwts_redis_pool_exec(redis_runner *r, int64_t deadline_ns, const redis_cmd *cmds, size_t n,
                              redisReply **replies, bool *sent)
{
    pool *p = from_base(r);
    size_t slot;
    *sent = false;
    jwts_err rc = acquire(p, deadline_ns, &slot);
    if (rc) return rc;
    redis_conn *c = p->conns[slot];
    if (c && jwts_redis_conn_dead(c)) {
        jwts_redis_conn_free(c);
        c = NULL;
    }
    if (!c) rc = jwts_redis_conn_open(p->cfg, deadline_ns, &c);
    if (!rc) {
        *sent = true;
        rc = jwts_redis_conn_run(c, deadline_ns, cmds, n, replies);
        if (rc) {
            jwts_redis_conn_free(c); /* out of step with the server */
            c = NULL;
        }
    }
    p->conns[slot] = c;
    release(p, slot);
    return rc;
}

static jwts_err pool_run(redis_runner *r, int64_t deadline_ns, const redis_cmd *cmds, size_t n, redisReply **replies)
{
    bool sent;
    return jwts_redis_pool_exec(r, deadline_ns, cmds, n, replies, &sent);
}

static void pool_close(redis_runner *r)
{
    pool *p = from_base(r);
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    for (size_t i = 0; i < p->nfree; i++) { /* busy slots are freed by their release */
        size_t slot = p->free_slots[i];
        if (p->conns[slot]) jwts_redis_conn_free(p->conns[slot]);
        p->conns[slot] = NULL;
    }
    pthread_cond_broadcast(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

static void pool_destroy(redis_runner *r)
{
    pool *p = from_base(r);
    for (size_t i = 0; p->conns && i < p->size; i++)
        if (p->conns[i]) jwts_redis_conn_free(p->conns[i]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->freed);
    free(p->conns);
    free(p->free_slots);
    free(p);
}

static const redis_runner_ops POOL_OPS = {.run = pool_run, .close = pool_close, .destroy = pool_destroy};

jwts_err jwts_redis_pool_new(const redis_config *cfg, size_t size, redis_runner **out)
{
    pool *p = calloc(1, sizeof *p);
    if (!p) return jwts_fail(JWTS_E_NO_MEMORY, "redis pool: out of memory");
    p->base.ops = &POOL_OPS;
    p->cfg = cfg;
    p->size = size;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    p->conns = calloc(size, sizeof *p->conns);
    p->free_slots = calloc(size, sizeof *p->free_slots);
    if (!p->conns || !p->free_slots) {
        pool_destroy(&p->base);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis pool: out of memory");
    }
    for (size_t i = 0; i < size; i++) p->free_slots[i] = size - 1 - i;
    p->nfree = size;
    *out = &p->base;
    return JWTS_OK;
}

redis_node *jwts_redis_node_new(const redis_config *tmpl, const char *host, int port, size_t pool_size)
{
    redis_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->cfg = *tmpl;
    n->cfg.addr = (redis_addr){.port = port, .db = tmpl->addr.db}; /* cfg.tls: tmpl's, the store's */
    n->cfg.addr.host = strdup(host);
    n->cfg.addr.username = tmpl->addr.username ? strdup(tmpl->addr.username) : NULL;
    n->cfg.addr.password = tmpl->addr.password ? strdup(tmpl->addr.password) : NULL;
    bool ok = n->cfg.addr.host && (!tmpl->addr.username || n->cfg.addr.username) &&
              (!tmpl->addr.password || n->cfg.addr.password);
    if (!ok || jwts_redis_pool_new(&n->cfg, pool_size, &n->pool) != JWTS_OK) {
        jwts_redis_node_free(n);
        return NULL;
    }
    return n;
}

void jwts_redis_node_free(redis_node *n)
{
    if (!n) return;
    if (n->pool) n->pool->ops->destroy(n->pool);
    jwts_redis_addr_clear(&n->cfg.addr);
    free(n);
}
