/*
 * near_cache_stream.c - the near cache's invalidation stream: Redis client-side caching in
 * broadcast mode, one pair of connections per master, and the proof that it is live.
 *
 * Per master, a listener thread holds two connections:
 *   sub  CLIENT ID, then SUBSCRIBE __redis__:invalidate; pushes arrive here (RESP2, so hiredis
 *        0.14 reads them): ["message", "__redis__:invalidate", [keys...]], or a nil key list
 *        for FLUSHALL/FLUSHDB (flush everything)
 *   ctl  CLIENT TRACKING on REDIRECT <sub's id> BCAST PREFIX <prefix>; the tracking state belongs
 *        to this connection, so it stays open. BCAST needs no tracking on the data connections:
 *        the pool and the auto-pipeline are untouched.
 * Every ping_interval the thread asks ROLE on ctl (answers prove tracking is still on, and that
 * the server is still a master) and sends PING on sub (["pong", ""] in subscribe mode). One
 * connection is ordered, so the PONG of a PING sent at p proves every invalidation of a write
 * acknowledged before p was read (and applied) first. The pair's "acked" time is the older of
 * the two last answered PINGs' send times; the cache is live until min(acked) + max_stale over
 * all pairs. A broken connection, an unanswered PING for dead_after, or a ROLE other than master
 * takes the pair down: live ends, the cache is flushed, and the pair reconnects (so a restarted
 * server - whose run id changed - is always followed by a flush).
 *
 * A supervisor thread watches the runner's topology generation (the master Sentinel names, the
 * cluster's slot map); on a change it takes every pair down, flushes, and builds one pair per
 * current master. Hits and fills also compare the generation themselves, so a map change is
 * honoured before the supervisor's next turn.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "store/near_cache.h"

#define RING 64
#define CHANNEL "__redis__:invalidate"
#define MAX_BACKOFF_MS 1000

typedef struct nc_pair {
    near_cache *c;
    const redis_config *cfg; /* borrowed from the runner */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    _Atomic int64_t acked_ns; /* monotonic send time both connections answered; 0 = down */
} nc_pair;

struct nc_stream {
    pthread_t supervisor;
    bool started;
    atomic_bool stop;
    pthread_mutex_t lock; /* pairs, building, live_until publication */
    pthread_cond_t wake;
    nc_pair *pairs;
    size_t npairs;
    bool building;
    _Atomic uint64_t built_gen;
    bool have_gen;
};

static int64_t dead_after_ns(const near_cache *c)
{
    int64_t ms = 4 * c->o.max_stale_ms;
    return jwts_ms_to_ns(ms > 1000 ? ms : 1000);
}

/* live_until = min over pairs of acked + max_stale; 0 while building or while any pair is down. */
static void publish(near_cache *c)
{
    nc_stream *st = c->stream;
    pthread_mutex_lock(&st->lock);
    int64_t m = st->building || st->npairs == 0 ? 0 : INT64_MAX;
    for (size_t i = 0; m && i < st->npairs; i++) {
        int64_t a = atomic_load(&st->pairs[i].acked_ns);
        if (a < m) m = a;
    }
    atomic_store(&c->live_until_ns, m ? m + c->max_stale_ns : 0);
    pthread_mutex_unlock(&st->lock);
}

/* ---- one pair ---------------------------------------------------------------------------------- */

typedef struct pair_io {
    redis_conn *sub, *ctl;
    int64_t ring[RING]; /* send times of PINGs awaiting their PONG */
    size_t head, count;
    int64_t sub_acked, ctl_acked;
} pair_io;

static jwts_err run1(redis_conn *ctx, int64_t deadline, int argc, const char **argv, redisReply **r)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    redis_cmd cmd = {argc, argv, lens};
    return jwts_redis_conn_run(ctx, deadline, &cmd, 1, r);
}

/* Open both connections and turn tracking on. */
static jwts_err pair_connect(nc_pair *p, pair_io *io)
{
    near_cache *c = p->c;
    int64_t deadline = jwts_monotonic_ns() + p->cfg->connect_timeout_ms * 2000000LL;
    redisReply *r = NULL;
    jwts_err rc = jwts_redis_conn_open(p->cfg, deadline, &io->sub);
    if (!rc) rc = run1(io->sub, deadline, 2, (const char *[]){"CLIENT", "ID"}, &r);
    long long id = 0;
    if (!rc && r->type != REDIS_REPLY_INTEGER) rc = jwts_redis_reply_fail(r, "CLIENT ID");
    if (!rc) id = r->integer;
    if (r) freeReplyObject(r), r = NULL;
    if (!rc) rc = run1(io->sub, deadline, 2, (const char *[]){"SUBSCRIBE", CHANNEL}, &r);
    if (!rc && r->type != REDIS_REPLY_ARRAY) rc = jwts_redis_reply_fail(r, "SUBSCRIBE");
    if (r) freeReplyObject(r), r = NULL;
    if (!rc) rc = jwts_redis_conn_open(p->cfg, deadline, &io->ctl);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", id);
    const char *track[] = {"CLIENT", "TRACKING", "on", "REDIRECT", ids, "BCAST", "PREFIX", c->host.prefix};
    if (!rc) rc = run1(io->ctl, deadline, 8, track, &r);
    if (!rc && r->type == REDIS_REPLY_ERROR) rc = jwts_redis_reply_fail(r, "CLIENT TRACKING");
    if (r) freeReplyObject(r);
    return rc;
}

static void pair_up(nc_pair *p, pair_io *io)
{
    int64_t a = io->sub_acked < io->ctl_acked ? io->sub_acked : io->ctl_acked;
    if (a > 0 && a > atomic_load(&p->acked_ns)) {
        atomic_store(&p->acked_ns, a);
        publish(p->c);
    }
}

/* Invalidate one key pushed by Redis; when it is the probed local write, record the delay. */
static void invalidate_key(near_cache *c, const char *key, size_t len)
{
    jwts_nc_forget(c, key, len, false);
    uint64_t h = jwts_nc_key_hash(c, key, len);
    uint64_t want = h;
    if (h && atomic_load(&c->probe_hash) == h) {
        int64_t d = jwts_monotonic_ns() - atomic_load(&c->probe_ns);
        if (atomic_compare_exchange_strong(&c->probe_hash, &want, 0)) jwts_nc_propagation(c, d);
    }
}

static bool is_str(const redisReply *r, const char *s)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && strlen(s) == r->len &&
           strncasecmp(r->str, s, r->len) == 0;
}

/* One reply read on sub: an invalidation, a PONG, or the subscribe confirmation. */
static void dispatch(nc_pair *p, pair_io *io, const redisReply *r)
{
    near_cache *c = p->c;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) return;
    if (is_str(r->element[0], "pong")) {
        if (io->count) {
            io->sub_acked = io->ring[io->head];
            io->head = (io->head + 1) % RING, io->count--;
            pair_up(p, io);
        }
        return;
    }
    if (r->elements != 3 || !is_str(r->element[0], "message") || !is_str(r->element[1], CHANNEL)) return;
    const redisReply *keys = r->element[2];
    if (keys->type == REDIS_REPLY_NIL) {
        jwts_nc_flush(c); /* FLUSHALL / FLUSHDB */
    } else if (keys->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < keys->elements; i++)
            if (keys->element[i]->type == REDIS_REPLY_STRING)
                invalidate_key(c, keys->element[i]->str, keys->element[i]->len);
    } else if (keys->type == REDIS_REPLY_STRING) {
        invalidate_key(c, keys->str, keys->len);
    }
}

/* PING both connections (ROLE on ctl: it must still be a master). */
static jwts_err ping(nc_pair *p, pair_io *io, int64_t now)
{
    if (io->count == RING) return jwts_fail(JWTS_E_TIMEOUT, "redis cache: too many PINGs unanswered");
    int64_t deadline = now + dead_after_ns(p->c);
    redisReply *r = NULL;
    jwts_err rc = run1(io->ctl, deadline, 1, (const char *[]){"ROLE"}, &r);
    if (!rc && (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || !is_str(r->element[0], "master")))
        rc = jwts_fail(JWTS_E_UNAVAILABLE, "redis cache: the tracked server is no longer a master");
    if (r) freeReplyObject(r), r = NULL;
    if (rc) return rc;
    io->ctl_acked = now;
    io->ring[(io->head + io->count) % RING] = now;
    io->count++;
    rc = run1(io->sub, deadline, 1, (const char *[]){"PING"}, &r);
    if (!rc) dispatch(p, io, r), freeReplyObject(r);
    return rc;
}

/* Read pushes and PING until the stream breaks or the pair is stopped. */
static jwts_err pair_run(nc_pair *p, pair_io *io)
{
    near_cache *c = p->c;
    int64_t ping_ns = jwts_ms_to_ns(c->o.ping_interval_ms), next_ping = 0;
    jwts_err rc = JWTS_OK;
    while (!rc && !atomic_load(&p->stop)) {
        int64_t now = jwts_monotonic_ns();
        if (now >= next_ping) {
            if ((rc = ping(p, io, now))) break;
            next_ping = now + ping_ns;
        }
        if (io->count && jwts_monotonic_ns() - io->ring[io->head] > dead_after_ns(c)) {
            rc = jwts_fail(JWTS_E_TIMEOUT, "redis cache: no PONG on the invalidation connection");
            break;
        }
        redisReply *r = NULL;
        rc = jwts_redis_conn_read(io->sub, next_ping, &r);
        if (rc == JWTS_E_TIMEOUT) rc = JWTS_OK;
        if (r) dispatch(p, io, r), freeReplyObject(r);
    }
    return rc;
}

static void pair_down(nc_pair *p)
{
    atomic_store(&p->acked_ns, 0);
    publish(p->c);
    jwts_nc_flush(p->c);
}

static void *pair_main(void *arg)
{
    nc_pair *p = arg;
    near_cache *c = p->c;
    int64_t backoff_ms = c->o.ping_interval_ms;
    while (!atomic_load(&p->stop)) {
        pair_io io = {0};
        jwts_err rc = pair_connect(p, &io);
        if (!rc) {
            jwts_nc_count_event(c, NC_C_CONNECT, 1);
            backoff_ms = c->o.ping_interval_ms;
            pair_run(p, &io);
            pair_down(p);
        }
        jwts_redis_conn_free(io.sub);
        jwts_redis_conn_free(io.ctl);
        for (int64_t slept = 0; slept < backoff_ms && !atomic_load(&p->stop); slept += 10) {
            struct timespec ts = jwts_timespec_of_ns(10 * JWTS_NS_PER_MS);
            nanosleep(&ts, NULL);
        }
        if (backoff_ms < MAX_BACKOFF_MS) backoff_ms *= 2;
    }
    return NULL;
}

/* ---- the supervisor ---------------------------------------------------------------------------- */

static void pairs_stop(nc_stream *st)
{
    for (size_t i = 0; i < st->npairs; i++) atomic_store(&st->pairs[i].stop, true);
    for (size_t i = 0; i < st->npairs; i++)
        if (st->pairs[i].started) pthread_join(st->pairs[i].thread, NULL);
    pthread_mutex_lock(&st->lock);
    free(st->pairs);
    st->pairs = NULL, st->npairs = 0;
    pthread_mutex_unlock(&st->lock);
}

/* Take everything down and build one pair per current server. */
static void rebuild(near_cache *c, uint64_t gen)
{
    nc_stream *st = c->stream;
    pthread_mutex_lock(&st->lock);
    st->building = true;
    bool had = st->npairs > 0;
    pthread_mutex_unlock(&st->lock);
    publish(c);
    if (had) jwts_nc_flush(c); /* with no pairs the cache was never live: nothing to flush */
    pairs_stop(st);
    const redis_config *cfgs[NC_MAX_SERVERS];
    uint64_t now_gen = gen;
    size_t n = c->host.servers(c->host.arg, cfgs, NC_MAX_SERVERS, &now_gen);
    nc_pair *pairs = n ? calloc(n, sizeof *pairs) : NULL;
    if (!pairs) n = 0;
    for (size_t i = 0; i < n; i++) {
        pairs[i].c = c, pairs[i].cfg = cfgs[i];
        atomic_init(&pairs[i].stop, false);
        atomic_init(&pairs[i].acked_ns, 0);
    }
    pthread_mutex_lock(&st->lock);
    st->pairs = pairs, st->npairs = n;
    st->building = false;
    atomic_store(&st->built_gen, now_gen);
    pthread_mutex_unlock(&st->lock);
    for (size_t i = 0; i < n; i++) pairs[i].started = pthread_create(&pairs[i].thread, NULL, pair_main, &pairs[i]) == 0;
}

static void *supervise(void *arg)
{
    near_cache *c = arg;
    nc_stream *st = c->stream;
    while (!atomic_load(&st->stop)) {
        uint64_t gen = 0;
        c->host.servers(c->host.arg, NULL, 0, &gen);
        if (!st->have_gen || gen != atomic_load(&st->built_gen) || st->npairs == 0) {
            rebuild(c, gen);
            st->have_gen = true;
        }
        pthread_mutex_lock(&st->lock);
        struct timespec until = jwts_monotonic_timespec_in_ms(c->o.ping_interval_ms);
        if (!atomic_load(&st->stop)) pthread_cond_timedwait(&st->wake, &st->lock, &until);
        pthread_mutex_unlock(&st->lock);
    }
    pairs_stop(st);
    return NULL;
}

bool jwts_nc_topology_current(near_cache *c)
{
    if (!c->stream) return false;
    uint64_t gen = 0;
    c->host.servers(c->host.arg, NULL, 0, &gen);
    return gen == atomic_load(&c->stream->built_gen);
}

jwts_err jwts_nc_stream_start(near_cache *c)
{
    nc_stream *st = calloc(1, sizeof *st);
    if (!st) return jwts_fail(JWTS_E_NO_MEMORY, "redis cache: out of memory");
    pthread_mutex_init(&st->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->wake, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&st->stop, false);
    atomic_init(&st->built_gen, 0);
    c->stream = st;
    if (pthread_create(&st->supervisor, NULL, supervise, c) != 0)
        return jwts_fail(JWTS_E_INTERNAL, "redis cache: cannot start the stream thread");
    st->started = true;
    return JWTS_OK;
}

void jwts_nc_stream_stop(near_cache *c)
{
    nc_stream *st = c->stream;
    if (!st) return;
    pthread_mutex_lock(&st->lock);
    atomic_store(&st->stop, true);
    pthread_cond_broadcast(&st->wake);
    pthread_mutex_unlock(&st->lock);
    if (st->started) pthread_join(st->supervisor, NULL);
    st->started = false;
    atomic_store(&c->live_until_ns, 0);
}

void jwts_nc_stream_free(near_cache *c)
{
    nc_stream *st = c->stream;
    if (!st) return;
    jwts_nc_stream_stop(c);
    pthread_cond_destroy(&st->wake);
    pthread_mutex_destroy(&st->lock);
    free(st);
    c->stream = NULL;
}
