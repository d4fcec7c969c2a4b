/*
 * near_cache.c - the near cache's table: sessions by Redis record key, for the Redis stores.
 *
 * Shards (chosen by a seeded hash of the record key's hash tag, the user's tag, so one user's
 * entries share a shard
 * and revoke-user clears them in one place), each a reader-writer lock over a fixed array of
 * entries chained into a bucket array. A hit takes the read lock, checks the entry and copies
 * the session out; its reference bit feeds CLOCK eviction when a shard is full.
 *
 * The read/invalidation race Redis's client-side caching documentation describes (a GET's reply
 * overtaken by the invalidation of the same key, arriving on the other connection): a miss first
 * puts a placeholder with a fresh ticket, then reads; an invalidation, a local write or a flush
 * removes the placeholder, and the reply is kept only if the very same placeholder is still
 * there and the epoch (bumped by every flush) is unchanged.
 *
 * A hit also needs the stream live (live_until_ns, kept by near_cache_stream.c), the entry
 * inside its own end (the key's PTTL at the read, and max_age) and the session inside its own
 * deadlines (expires_at, idle_expires_at) on the wall clock.
 */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "jwtsession/random.h"
#include "store/near_cache.h"

#define DEFAULT_MAX_ENTRIES 65536
#define MAX_MAX_ENTRIES (64u * 1024 * 1024)
#define DEFAULT_MAX_STALE_MS 250
#define DEFAULT_PING_MS 50
#define DEFAULT_MAX_AGE_MS 60000
#define DEFAULT_TOUCH_FLUSH_MS 50
#define DEFAULT_MAX_PENDING 65536
#define SHARDS 16
#define NIL (-1)

typedef struct nc_entry {
    uint64_t hash;
    uint64_t ticket;
    uint64_t epoch;
    int64_t end_ns;        /* monotonic: PTTL at the read, max age */
    jwts_session *session; /* NULL: a placeholder (a read in flight) */
    char *key;
    size_t key_len;
    int32_t next; /* bucket chain, or the free list */
    bool used;
    atomic_bool ref; /* hit since the clock hand last passed */
} nc_entry;

struct nc_shard {
    pthread_rwlock_t lock;
    nc_entry *slots;
    size_t cap, count, hand;
    int32_t *buckets;
    size_t mask;
    int32_t free_head;
    char pad[64];
};

uint64_t jwts_nc_key_hash(const near_cache *c, const char *key, size_t len)
{
    return jwts_hash(key, len, c->seed);
}

/* The hash tag in a record key "<prefix>{<tag>}:s:<sid>" (the user's tag, jwts_user_tag); false
 * for any other key. */
static bool record_tag(const near_cache *c, const char *key, size_t len, const char **tag, size_t *tag_len)
{
    size_t p = c->prefix_len;
    if (len < p + 5 || memcmp(key, c->host.prefix, p) != 0 || key[p] != '{') return false;
    const char *close = memchr(key + p + 1, '}', len - p - 1);
    if (!close || close == key + p + 1) return false;
    size_t after = (size_t)(close - key) + 1;
    if (len < after + 4 || memcmp(key + after, ":s:", 3) != 0) return false;
    *tag = key + p + 1;
    *tag_len = (size_t)(close - *tag);
    return true;
}

static nc_shard *shard_of(near_cache *c, const char *tag, size_t tag_len)
{
    return &c->shards[jwts_hash(tag, tag_len, c->seed ^ 0x5bd1e995u) & (c->nshards - 1)];
}

static int32_t find(const nc_shard *sh, uint64_t h, const char *key, size_t len)
{
    for (int32_t i = sh->buckets[h & sh->mask]; i != NIL; i = sh->slots[i].next) {
        const nc_entry *e = &sh->slots[i];
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) return i;
    }
    return NIL;
}

/* Unlink slot i from its chain and put it on the free list. Caller holds the write lock. */
static void remove_at(nc_shard *sh, int32_t i)
{
    nc_entry *e = &sh->slots[i];
    int32_t *link = &sh->buckets[e->hash & sh->mask];
    while (*link != i) link = &sh->slots[*link].next;
    *link = e->next;
    jwts_session_free(e->session);
    free(e->key);
    e->session = NULL, e->key = NULL, e->used = false;
    atomic_store_explicit(&e->ref, false, memory_order_relaxed);
    e->next = sh->free_head;
    sh->free_head = i;
    sh->count--;
}

/* Evict one entry by CLOCK (skip those hit since the hand last passed). */
static void evict_one(near_cache *c, nc_shard *sh)
{
    for (size_t k = 0; k < 2 * sh->cap + 1; k++) {
        size_t i = sh->hand;
        sh->hand = (sh->hand + 1) % sh->cap;
        nc_entry *e = &sh->slots[i];
        if (!e->used) continue;
        if (atomic_exchange_explicit(&e->ref, false, memory_order_relaxed)) continue;
        remove_at(sh, (int32_t)i);
        jwts_nc_count_event(c, NC_C_EVICTION, 1);
        return;
    }
}

/* A new placeholder for key (an old entry of the key is replaced). Caller holds the write lock.
 * NIL when out of memory. */
static int32_t put_placeholder(near_cache *c, nc_shard *sh, uint64_t h, const char *key, size_t len, uint64_t ticket,
                               uint64_t epoch)
{
    int32_t i = find(sh, h, key, len);
    if (i != NIL) {
        nc_entry *e = &sh->slots[i];
        jwts_session_free(e->session);
        e->session = NULL;
    } else {
        char *k = malloc(len);
        if (!k) return NIL;
        memcpy(k, key, len);
        if (sh->count >= sh->cap) evict_one(c, sh);
        if (sh->free_head == NIL) {
            free(k);
            return NIL;
        }
        i = sh->free_head;
        nc_entry *e = &sh->slots[i];
        sh->free_head = e->next;
        e->hash = h, e->key = k, e->key_len = len, e->used = true;
        e->next = sh->buckets[h & sh->mask];
        sh->buckets[h & sh->mask] = i;
        sh->count++;
    }
    nc_entry *e = &sh->slots[i];
    e->ticket = ticket, e->epoch = epoch, e->end_ns = 0;
    atomic_store_explicit(&e->ref, false, memory_order_relaxed);
    return i;
}

bool jwts_nc_live(near_cache *c)
{
    return jwts_monotonic_ns() < atomic_load_explicit(&c->live_until_ns, memory_order_acquire);
}

/* true if entry e may answer now. */
static bool usable(const near_cache *c, const nc_entry *e, uint64_t epoch, int64_t now_ns, int64_t wall_ms)
{
    const jwts_session *s = e->session;
    if (!s || e->epoch != epoch || now_ns >= e->end_ns) return false;
    if (wall_ms >= s->expires_at_ms || (s->idle_expires_at_ms && wall_ms >= s->idle_expires_at_ms)) return false;
    (void)c;
    return true;
}

nc_lookup_result jwts_nc_lookup(near_cache *c, const char *key, size_t len, jwts_session **out, nc_ticket *t)
{
    if (t) *t = (nc_ticket){0};
    /* the epoch before the liveness check: a flush between the two makes the fill fail */
    uint64_t epoch = atomic_load(&c->epoch);
    int64_t now = jwts_monotonic_ns();
    const char *tag;
    size_t tag_len;
    if (now >= atomic_load(&c->live_until_ns) || !jwts_nc_topology_current(c) ||
        !record_tag(c, key, len, &tag, &tag_len)) {
        if (t) jwts_nc_count_event(c, NC_C_BYPASS, 1);
        return NC_BYPASS;
    }
    nc_shard *sh = shard_of(c, tag, tag_len);
    uint64_t h = jwts_nc_key_hash(c, key, len);
    int64_t wall = jwts_now_ms();
    pthread_rwlock_rdlock(&sh->lock);
    int32_t i = find(sh, h, key, len);
    if (i != NIL && usable(c, &sh->slots[i], epoch, now, wall)) {
        nc_entry *e = &sh->slots[i];
        jwts_err rc = jwts_session_clone(e->session, out);
        if (!atomic_load_explicit(&e->ref, memory_order_relaxed))
            atomic_store_explicit(&e->ref, true, memory_order_relaxed);
        pthread_rwlock_unlock(&sh->lock);
        if (rc) return NC_BYPASS;
        jwts_nc_count_event(c, NC_C_HIT, 1);
        return NC_HIT;
    }
    pthread_rwlock_unlock(&sh->lock);
    if (!t) return NC_MISS; /* a probe: the call that may block reads it */
    uint64_t ticket = atomic_fetch_add(&c->next_ticket, 1);
    pthread_rwlock_wrlock(&sh->lock);
    i = put_placeholder(c, sh, h, key, len, ticket, epoch);
    pthread_rwlock_unlock(&sh->lock);
    if (i == NIL) {
        jwts_nc_count_event(c, NC_C_BYPASS, 1);
        return NC_BYPASS;
    }
    *t = (nc_ticket){.id = ticket, .epoch = epoch, .sent_ns = now};
    jwts_nc_count_event(c, NC_C_MISS, 1);
    return NC_MISS;
}

void jwts_nc_fill(near_cache *c, const char *key, size_t len, const nc_ticket *t, const jwts_session *s,
                  int64_t pttl_ms)
{
    if (!t->id) return;
    const char *tag;
    size_t tag_len;
    if (!record_tag(c, key, len, &tag, &tag_len)) return;
    jwts_session *copy = NULL;
    if (s && pttl_ms != -2 && jwts_session_clone(s, &copy) != JWTS_OK) copy = NULL;
    nc_shard *sh = shard_of(c, tag, tag_len);
    uint64_t h = jwts_nc_key_hash(c, key, len);
    int64_t now = jwts_monotonic_ns();
    int64_t end = now + jwts_ms_to_ns(c->o.max_age_ms);
    if (pttl_ms >= 0 && jwts_ms_to_ns(pttl_ms) < end - t->sent_ns) end = t->sent_ns + jwts_ms_to_ns(pttl_ms);
    pthread_rwlock_wrlock(&sh->lock);
    int32_t i = find(sh, h, key, len);
    if (i != NIL && sh->slots[i].ticket == t->id && !sh->slots[i].session) {
        nc_entry *e = &sh->slots[i];
        if (copy && e->epoch == t->epoch && t->epoch == atomic_load(&c->epoch) && end > now &&
            jwts_nc_topology_current(c)) {
            e->session = copy, e->end_ns = end;
            copy = NULL;
        } else {
            remove_at(sh, i);
        }
    }
    pthread_rwlock_unlock(&sh->lock);
    jwts_session_free(copy);
}

void jwts_nc_forget(near_cache *c, const char *key, size_t len, bool probe)
{
    const char *tag;
    size_t tag_len;
    if (!record_tag(c, key, len, &tag, &tag_len)) return;
    nc_shard *sh = shard_of(c, tag, tag_len);
    uint64_t h = jwts_nc_key_hash(c, key, len);
    pthread_rwlock_wrlock(&sh->lock);
    int32_t i = find(sh, h, key, len);
    if (i != NIL) remove_at(sh, i);
    pthread_rwlock_unlock(&sh->lock);
    jwts_nc_count_event(c, NC_C_INVALIDATION, 1);
    if (probe && atomic_load_explicit(&c->probe_hash, memory_order_relaxed) == 0) {
        atomic_store(&c->probe_ns, jwts_monotonic_ns());
        atomic_store(&c->probe_hash, h);
    }
}

void jwts_nc_forget_user(near_cache *c, const char *user_id)
{
    char user[JWTS_SESSION_TAG_LEN + 1]; /* the tag: entries are found by it, not by the user */
    if (!jwts_user_tag(user_id, user)) return;
    size_t ulen = JWTS_SESSION_TAG_LEN;
    nc_shard *sh = shard_of(c, user, ulen);
    size_t p = c->prefix_len;
    pthread_rwlock_wrlock(&sh->lock);
    for (size_t i = 0; i < sh->cap; i++) {
        const nc_entry *e = &sh->slots[i];
        if (e->used && e->key_len > p + ulen + 2 && memcmp(e->key + p + 1, user, ulen) == 0 &&
            e->key[p + 1 + ulen] == '}')
            remove_at(sh, (int32_t)i);
    }
    pthread_rwlock_unlock(&sh->lock);
    jwts_nc_count_event(c, NC_C_INVALIDATION, 1);
}

void jwts_nc_flush(near_cache *c)
{
    jwts_nc_count_event(c, NC_C_FLUSH, 1); /* counted first: whoever sees the cache empty sees the count */
    atomic_fetch_add(&c->epoch, 1);
    for (size_t s = 0; s < c->nshards; s++) {
        nc_shard *sh = &c->shards[s];
        pthread_rwlock_wrlock(&sh->lock);
        for (size_t i = 0; i < sh->cap; i++)
            if (sh->slots[i].used) remove_at(sh, (int32_t)i);
        sh->hand = 0;
        pthread_rwlock_unlock(&sh->lock);
    }
}

bool jwts_nc_defer_touch(near_cache *c, const char *key, size_t len, const jwts_session_key *sk, int64_t last_seen_ms,
                         int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    const char *tag;
    size_t tag_len;
    uint64_t epoch = atomic_load(&c->epoch);
    if (!jwts_nc_live(c) || !record_tag(c, key, len, &tag, &tag_len)) return false;
    nc_shard *sh = shard_of(c, tag, tag_len);
    uint64_t h = jwts_nc_key_hash(c, key, len);
    bool queued = false;
    pthread_rwlock_wrlock(&sh->lock);
    int32_t i = find(sh, h, key, len);
    /* only the session's own user: users of one tag share record keys (a touch for another user
     * goes to Redis, whose script finds nothing) */
    if (i != NIL && usable(c, &sh->slots[i], epoch, jwts_monotonic_ns(), jwts_now_ms()) &&
        strcmp(sh->slots[i].session->user_id, sk->user_id) == 0) {
        nc_entry *e = &sh->slots[i];
        queued = jwts_nc_touch_queue(c, key, len, sk, e->ticket, last_seen_ms, idle_expires_at_ms, ttl_ms);
        if (queued) {
            e->session->last_seen_ms = last_seen_ms;
            e->session->idle_expires_at_ms = idle_expires_at_ms;
        }
    }
    pthread_rwlock_unlock(&sh->lock);
    if (queued) jwts_nc_count_event(c, NC_C_TOUCH_DEFERRED, 1);
    return queued;
}

bool jwts_nc_still(near_cache *c, const char *key, size_t len, uint64_t id)
{
    const char *tag;
    size_t tag_len;
    if (!record_tag(c, key, len, &tag, &tag_len)) return false;
    nc_shard *sh = shard_of(c, tag, tag_len);
    uint64_t h = jwts_nc_key_hash(c, key, len);
    pthread_rwlock_rdlock(&sh->lock);
    int32_t i = find(sh, h, key, len);
    bool same = i != NIL && sh->slots[i].ticket == id && sh->slots[i].session;
    pthread_rwlock_unlock(&sh->lock);
    return same;
}

size_t jwts_nc_count(near_cache *c)
{
    size_t n = 0;
    for (size_t s = 0; s < c->nshards; s++) {
        pthread_rwlock_rdlock(&c->shards[s].lock);
        n += c->shards[s].count;
        pthread_rwlock_unlock(&c->shards[s].lock);
    }
    return n;
}

/* ---- construction ---------------------------------------------------------------------------- */

static jwts_err check_options(const jwts_redis_cache_options *o)
{
    if (o->max_entries > MAX_MAX_ENTRIES)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis cache: max_entries above %u", MAX_MAX_ENTRIES);
    if (o->max_stale_ms < 0 || o->ping_interval_ms < 0 || o->max_age_ms < 0 || o->touch_flush_ms < 0)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis cache: negative duration");
    if (o->ping_interval_ms && o->max_stale_ms && o->ping_interval_ms >= o->max_stale_ms)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis cache: ping_interval_ms must be below max_stale_ms");
    return JWTS_OK;
}

static jwts_err shards_new(near_cache *c)
{
    c->nshards = c->o.max_entries >= SHARDS * 4 ? SHARDS : 1;
    c->shards = calloc(c->nshards, sizeof *c->shards);
    if (!c->shards) return jwts_fail(JWTS_E_NO_MEMORY, "redis cache: out of memory");
    size_t cap = (c->o.max_entries + c->nshards - 1) / c->nshards;
    size_t nb = 1;
    while (nb < cap) nb <<= 1;
    for (size_t s = 0; s < c->nshards; s++) {
        nc_shard *sh = &c->shards[s];
        pthread_rwlock_init(&sh->lock, NULL);
        sh->cap = cap, sh->mask = nb - 1;
        sh->slots = calloc(cap, sizeof *sh->slots);
        sh->buckets = malloc(nb * sizeof *sh->buckets);
        if (!sh->slots || !sh->buckets) return jwts_fail(JWTS_E_NO_MEMORY, "redis cache: out of memory");
        for (size_t b = 0; b < nb; b++) sh->buckets[b] = NIL;
        for (size_t i = 0; i < cap; i++) sh->slots[i].next = i + 1 < cap ? (int32_t)(i + 1) : NIL;
        sh->free_head = 0;
    }
    return JWTS_OK;
}

static void shards_free(near_cache *c)
{
    for (size_t s = 0; c->shards && s < c->nshards; s++) {
        nc_shard *sh = &c->shards[s];
        for (size_t i = 0; sh->slots && i < sh->cap; i++)
            if (sh->slots[i].used) jwts_session_free(sh->slots[i].session), free(sh->slots[i].key);
        free(sh->slots);
        free(sh->buckets);
        pthread_rwlock_destroy(&sh->lock);
    }
    free(c->shards);
}

jwts_err jwts_nc_new(const jwts_redis_cache_options *opts, const nc_host *host, near_cache **out)
{
    *out = NULL;
    jwts_err rc = check_options(opts);
    if (rc) return rc;
    near_cache *c = calloc(1, sizeof *c);
    if (!c) return jwts_fail(JWTS_E_NO_MEMORY, "redis cache: out of memory");
    c->o = *opts;
    if (!c->o.max_entries) c->o.max_entries = DEFAULT_MAX_ENTRIES;
    if (!c->o.max_stale_ms) c->o.max_stale_ms = DEFAULT_MAX_STALE_MS;
    if (!c->o.ping_interval_ms)
        c->o.ping_interval_ms = c->o.max_stale_ms > 2 * DEFAULT_PING_MS ? DEFAULT_PING_MS : c->o.max_stale_ms / 2;
    if (!c->o.ping_interval_ms) c->o.ping_interval_ms = 1;
    if (!c->o.max_age_ms) c->o.max_age_ms = DEFAULT_MAX_AGE_MS;
    if (!c->o.touch_flush_ms) c->o.touch_flush_ms = DEFAULT_TOUCH_FLUSH_MS;
    if (!c->o.max_pending_touches) c->o.max_pending_touches = DEFAULT_MAX_PENDING;
    c->host = *host;
    c->prefix_len = strlen(host->prefix);
    c->max_stale_ns = jwts_ms_to_ns(c->o.max_stale_ms);
    atomic_init(&c->next_ticket, 1);
    atomic_init(&c->epoch, 1);
    atomic_init(&c->live_until_ns, 0);
    atomic_init(&c->probe_hash, 0);
    atomic_init(&c->probe_ns, 0);
    rc = jwts_random_bytes((uint8_t *)&c->seed, sizeof c->seed);
    if (!rc) rc = shards_new(c);
    if (!rc) rc = jwts_nc_stats_new(c);
    if (!rc) rc = jwts_nc_touch_start(c);
    if (!rc) rc = jwts_nc_stream_start(c);
    if (rc) {
        jwts_nc_free(c);
        return rc;
    }
    *out = c;
    return JWTS_OK;
}

void jwts_nc_stop(near_cache *c, int64_t deadline_ns)
{
    if (!c) return;
    jwts_nc_stream_stop(c);
    jwts_nc_touch_stop(c, deadline_ns);
}

void jwts_nc_free(near_cache *c)
{
    if (!c) return;
    jwts_nc_stream_free(c);
    jwts_nc_touch_free(c);
    jwts_nc_stats_free(c);
    shards_free(c);
    free(c);
}
