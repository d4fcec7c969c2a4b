/*
 * near_cache_touch.c - activity of cached sessions, written off the request path.
 *
 * A validation answered from the cache returns the cached copy, whose last_seen is old, so the
 * manager asks for a touch once per touch_interval. For a cached, live entry the store's touch
 * does not go to Redis on the caller's thread: the cached copy gets the new last_seen and idle
 * deadline at once (so this instance does not ask again) and the write is queued. A flusher
 * thread writes the queue every touch_flush_ms with the store's own TOUCH script (which never
 * creates a session, so a touch cannot bring back a revoked one), keeping the absolute TTL the
 * caller asked for. A queued touch whose entry was invalidated meanwhile (revoked, rotated,
 * changed anywhere) is dropped rather than written over the newer state: at worst that loses one
 * activity record, which the touch_interval throttle already allows. When the queue is full the
 * caller writes its touch itself.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "store/near_cache.h"

typedef struct nc_touch {
    char *mem; /* key, then user id, then session id, each NUL-terminated */
    size_t key_len;
    const char *user, *sid;
    uint64_t id;
    int64_t last_seen_ms, idle_ms, deadline_ns;
} nc_touch;

struct nc_touchq {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    nc_touch *items;
    size_t n, cap;
    pthread_t thread;
    bool started, stop;
};

bool jwts_nc_touch_queue(near_cache *c, const char *key, size_t len, const jwts_session_key *sk, uint64_t id,
                         int64_t last_seen_ms, int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    nc_touchq *q = c->touches;
    if (!q) return false;
    /* the record key "<prefix>{<tag>}:s:sid" names no user: the caller's key does */
    size_t ulen = strlen(sk->user_id), slen = strlen(sk->session_id);
    char *mem = malloc(len + ulen + slen + 3);
    if (!mem) return false;
    memcpy(mem, key, len), mem[len] = '\0';
    memcpy(mem + len + 1, sk->user_id, ulen), mem[len + 1 + ulen] = '\0';
    memcpy(mem + len + ulen + 2, sk->session_id, slen), mem[len + ulen + 2 + slen] = '\0';
    nc_touch t = {mem, len,          mem + len + 1,      mem + len + ulen + 2,
                  id,  last_seen_ms, idle_expires_at_ms, jwts_deadline_in_ms(ttl_ms)};
    bool ok = false;
    pthread_mutex_lock(&q->lock);
    if (!q->stop && q->n < c->o.max_pending_touches) {
        if (q->n == q->cap) {
            size_t cap = q->cap ? 2 * q->cap : 64;
            nc_touch *grown = realloc(q->items, cap * sizeof *grown);
            if (grown) q->items = grown, q->cap = cap;
        }
        if (q->n < q->cap) q->items[q->n++] = t, ok = true;
    }
    pthread_mutex_unlock(&q->lock);
    if (!ok) free(mem);
    return ok;
}

/* Write (or drop) every queued touch. */
static void write_all(near_cache *c, nc_touch *items, size_t n, int64_t deadline_ns)
{
    size_t written = 0;
    for (size_t i = 0; i < n; i++) {
        nc_touch *t = &items[i];
        int64_t now = jwts_monotonic_ns();
        if (now < deadline_ns && jwts_nc_still(c, t->mem, t->key_len, t->id)) {
            int64_t ttl_ms = (t->deadline_ns - now) / JWTS_NS_PER_MS;
            jwts_ctx ctx = {.deadline_ns = deadline_ns};
            jwts_session_key k = {t->user, t->sid};
            if (c->host.touch(c->host.arg, &ctx, &k, t->last_seen_ms, t->idle_ms, ttl_ms > 0 ? ttl_ms : 1) == JWTS_OK)
                written++;
        }
        free(t->mem);
    }
    if (written) jwts_nc_count_event(c, NC_C_TOUCH_WRITTEN, written);
}

static void *flusher(void *arg)
{
    near_cache *c = arg;
    nc_touchq *q = c->touches;
    pthread_mutex_lock(&q->lock);
    while (!q->stop) {
        struct timespec until = jwts_monotonic_timespec_in_ms(c->o.touch_flush_ms);
        pthread_cond_timedwait(&q->wake, &q->lock, &until);
        if (q->stop || q->n == 0) continue;
        nc_touch *items = q->items;
        size_t n = q->n;
        q->items = NULL, q->n = 0, q->cap = 0;
        pthread_mutex_unlock(&q->lock);
        write_all(c, items, n, jwts_monotonic_ns() + 2000000000LL);
        free(items);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

jwts_err jwts_nc_touch_start(near_cache *c)
{
    nc_touchq *q = calloc(1, sizeof *q);
    if (!q) return jwts_fail(JWTS_E_NO_MEMORY, "redis cache: out of memory");
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &ca);
    pthread_condattr_destroy(&ca);
    c->touches = q;
    if (pthread_create(&q->thread, NULL, flusher, c) != 0)
        return jwts_fail(JWTS_E_INTERNAL, "redis cache: cannot start the touch thread");
    q->started = true;
    return JWTS_OK;
}

void jwts_nc_touch_stop(near_cache *c, int64_t deadline_ns)
{
    nc_touchq *q = c->touches;
    if (!q) return;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
    if (q->started) pthread_join(q->thread, NULL);
    q->started = false;
    pthread_mutex_lock(&q->lock);
    nc_touch *items = q->items;
    size_t n = q->n;
    q->items = NULL, q->n = 0, q->cap = 0;
    pthread_mutex_unlock(&q->lock);
    write_all(c, items, n, deadline_ns); /* the last ones, while the store is still open */
    free(items);
}

void jwts_nc_touch_free(near_cache *c)
{
    nc_touchq *q = c->touches;
    if (!q) return;
    jwts_nc_touch_stop(c, 0);
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    free(q);
    c->touches = NULL;
}
