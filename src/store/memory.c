/*
 * memory.c - the in-memory store, the embedded default.
 *
 * Sessions live in shards chosen by a seeded hash of the user's routing tag (jwts_user_tag), so
 * every session of a user is in one shard and per-user operations take one lock, and a session id
 * that carries the tag leads to that shard by itself. Each shard has a reader-writer lock and two
 * tables over the same entries: an open-addressed table by session id whose slots keep the hash
 * beside the pointer (one cache line per probe; an entry matches on its session id and user), so
 * a lookup by id alone is one probe sequence, and an intrusive chained table by user id (the
 * per-user index). An entry is one allocation: its header followed by the session and its
 * strings, so a get is one lookup, one malloc and one memcpy.
 *
 * Expiry is lazy (a read ignores, and then removes, an expired entry) plus a background sweep
 * that visits a bounded number of slots per shard per period. A global count enforces
 * max_sessions with JWTS_E_LIMIT.
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "core/session_blob.h"
#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "jwtsession/random.h"
#include "jwtsession/store.h"

#define DEFAULT_MAX_SESSIONS 1000000
#define DEFAULT_SHARDS 64
#define DEFAULT_SWEEP_INTERVAL_MS 1000
#define DEFAULT_SWEEP_BATCH 1024
#define MIN_SLOTS 32

typedef struct entry {
    struct entry *user_next; /* chain of the per-user table */
    uint64_t key_hash;       /* hash of the session id */
    uint64_t user_hash;      /* hash of user id */
    char tag[JWTS_SESSION_TAG_LEN]; /* the user's routing tag (not NUL-terminated) */
    int64_t expire_at_ms;    /* the store forgets the session then */
    size_t blob_size;        /* bytes of the session block below */
    jwts_session session;    /* followed by its strings (session_blob.h) */
} entry;

/* A slot of the open-addressed (linear probing) session table: the hash beside the pointer, so
 * a probe touches one cache line and a lookup dereferences only the entry that matches. */
typedef struct slot {
    uint64_t hash;
    entry *e; /* NULL: empty */
} slot;

typedef struct shard {
    pthread_rwlock_t lock;
    slot *slots;          /* by key_hash; power-of-two size */
    size_t mask;          /* slot count - 1 */
    entry **user_buckets; /* chained by user_hash */
    size_t user_mask;     /* user bucket count - 1 */
    size_t count;
    size_t sweep_cursor;
} __attribute__((aligned(128))) shard;

typedef struct memory_store {
    jwts_store base;
    jwts_memory_options opts;
    uint64_t seed;
    shard *shards;
    size_t shard_mask;
    atomic_size_t total;
    atomic_bool closed;
    pthread_t sweeper;
    bool sweeper_running;
    pthread_mutex_t sweep_mutex;
    pthread_cond_t sweep_cond;
    bool sweep_stop;
    pthread_mutex_t hook_mutex; /* guards the expiry hook (events.h) */
    jwts_expired_fn on_expired;
    void *on_expired_arg;
} memory_store;

static memory_store *from_base(jwts_store *st)
{
    return (memory_store *)st;
}

static int64_t now_ms(const memory_store *m)
{
    return jwts_clock_now_ms(m->opts.clock);
}

static bool live(const entry *e, int64_t now)
{
    return e->expire_at_ms > now;
}

/* ---- hashing and lookup ------------------------------------------------------------------ */

typedef struct lookup {
    uint64_t user_hash, key_hash;
    shard *sh;
    char tag[JWTS_SESSION_TAG_LEN + 1];
} lookup;

#define KEY_SEED 0x9e3779b97f4a7c15ULL /* the session table's hash differs from the user chains' */

static shard *shard_of_tag(memory_store *m, const char *tag)
{
    return &m->shards[(jwts_hash(tag, JWTS_SESSION_TAG_LEN, m->seed) >> 48) & m->shard_mask];
}

static uint64_t key_hash_of(const memory_store *m, const char *session_id)
{
    return jwts_hash(session_id, strlen(session_id), m->seed ^ KEY_SEED);
}

/* user_id is valid (store.c checked it), so it has a tag. */
static lookup locate(memory_store *m, const char *user_id, const char *session_id)
{
    lookup l;
    jwts_user_tag(user_id, l.tag);
    l.user_hash = jwts_hash(user_id, strlen(user_id), m->seed);
    l.key_hash = session_id ? key_hash_of(m, session_id) : 0;
    l.sh = shard_of_tag(m, l.tag);
    return l;
}

static bool same_user(const entry *e, uint64_t user_hash, const char *user_id)
{
    return e->user_hash == user_hash && strcmp(e->session.user_id, user_id) == 0;
}

/* The slot of (user_id, session_id): where it is, or the empty slot where it would go. */
static size_t find_slot(const shard *sh, const lookup *l, const char *user_id, const char *session_id)
{
    size_t i = l->key_hash & sh->mask;
    for (;; i = (i + 1) & sh->mask) {
        const slot *s = &sh->slots[i];
        if (!s->e) return i;
        if (s->hash == l->key_hash && strcmp(s->e->session.session_id, session_id) == 0 &&
            strcmp(s->e->session.user_id, user_id) == 0)
            return i;
    }
}

/* The slot holding e (which must be in the table). */
static size_t slot_of(const shard *sh, const entry *e)
{
    size_t i = e->key_hash & sh->mask;
    while (sh->slots[i].e != e) i = (i + 1) & sh->mask;
    return i;
}

/* The link pointing at e in its user chain. e must be in it. */
static entry **find_user_link(shard *sh, const entry *e)
{
    entry **link = &sh->user_buckets[e->user_hash & sh->user_mask];
    while (*link != e) link = &(*link)->user_next;
    return link;
}

/* Empty slot i, shifting later members of its probe run back so that no lookup misses them. */
static void clear_slot(shard *sh, size_t i)
{
    for (size_t j = (i + 1) & sh->mask; sh->slots[j].e; j = (j + 1) & sh->mask) {
        size_t home = sh->slots[j].hash & sh->mask;
        /* slot j may move to i only if its home is not cyclically within (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            sh->slots[i] = sh->slots[j];
            i = j;
        }
    }
    sh->slots[i].e = NULL;
    sh->slots[i].hash = 0;
}

/* Remove the entry in slot i from the table and its user chain, and free it. */
static void remove_at(memory_store *m, shard *sh, size_t i)
{
    entry *e = sh->slots[i].e;
    clear_slot(sh, i);
    *find_user_link(sh, e) = e->user_next;
    sh->count--;
    atomic_fetch_sub_explicit(&m->total, 1, memory_order_relaxed);
    free(e);
}

/* Tell the expiry hook, if any, that e is being dropped at its expiry (under the shard's lock).
 * The hook runs under hook_mutex, so once jwts_store_on_expired(NULL) returns no call is left in
 * flight (the manager frees what the hook points at right after). */
static void report_expired(memory_store *m, const entry *e, int64_t now)
{
    pthread_mutex_lock(&m->hook_mutex);
    if (m->on_expired) m->on_expired(m->on_expired_arg, &e->session, now);
    pthread_mutex_unlock(&m->hook_mutex);
}

/* Remove expired entries at slot i (what the backward shift brings there too); returns how many. */
static size_t sweep_slot(memory_store *m, shard *sh, size_t i, int64_t now)
{
    size_t removed = 0;
    while (sh->slots[i].e && !live(sh->slots[i].e, now)) {
        report_expired(m, sh->slots[i].e, now);
        remove_at(m, sh, i);
        removed++;
    }
    return removed;
}

/* ---- growth ------------------------------------------------------------------------------ */

static jwts_err alloc_tables(shard *sh, size_t slots)
{
    slot *t = calloc(slots, sizeof *t);
    entry **u = calloc(slots / 2, sizeof *u);
    if (!t || !u) {
        free(t);
        free(u);
        return jwts_fail(JWTS_E_NO_MEMORY, "memory store: cannot allocate %zu slots", slots);
    }
    sh->slots = t;
    sh->mask = slots - 1;
    sh->user_buckets = u;
    sh->user_mask = slots / 2 - 1;
    return JWTS_OK;
}

/* Double the tables of sh past 3/4 load. Failure to grow is harmless (the table still has room). */
static void maybe_grow(shard *sh)
{
    if (sh->count * 4 <= (sh->mask + 1) * 3) return;
    slot *old = sh->slots;
    entry **old_user = sh->user_buckets;
    size_t old_n = sh->mask + 1, old_users = sh->user_mask + 1;
    if (alloc_tables(sh, old_n * 2) != JWTS_OK) return;
    for (size_t i = 0; i < old_n; i++) {
        if (!old[i].e) continue;
        size_t j = old[i].hash & sh->mask;
        while (sh->slots[j].e) j = (j + 1) & sh->mask;
        sh->slots[j] = old[i];
    }
    for (size_t i = 0; i < old_users; i++) {
        for (entry *e = old_user[i], *next; e; e = next) {
            next = e->user_next;
            entry **head = &sh->user_buckets[e->user_hash & sh->user_mask];
            e->user_next = *head;
            *head = e;
        }
    }
    free(old);
    free(old_user);
    sh->sweep_cursor = 0;
}

/* ---- locking ----------------------------------------------------------------------------- */

static jwts_err lock_read(memory_store *m, shard *sh)
{
    pthread_rwlock_rdlock(&sh->lock);
    if (!atomic_load_explicit(&m->closed, memory_order_acquire)) return JWTS_OK;
    pthread_rwlock_unlock(&sh->lock);
    return jwts_fail(JWTS_E_CLOSED, "memory store is closed");
}

static jwts_err lock_write(memory_store *m, shard *sh)
{
    pthread_rwlock_wrlock(&sh->lock);
    if (!atomic_load_explicit(&m->closed, memory_order_acquire)) return JWTS_OK;
    pthread_rwlock_unlock(&sh->lock);
    return jwts_fail(JWTS_E_CLOSED, "memory store is closed");
}

static void unlock(shard *sh)
{
    pthread_rwlock_unlock(&sh->lock);
}

/* A library-owned copy of e's session. */
static jwts_err copy_out(const entry *e, jwts_session **out)
{
    void *mem = malloc(e->blob_size);
    if (!mem) return jwts_fail(JWTS_E_NO_MEMORY, "memory store: cannot copy session");
    *out = jwts_session_blob_copy(&e->session, e->blob_size, mem);
    return JWTS_OK;
}

/* Take the write lock and drop the entry at (user, session) if it has expired. */
static void drop_if_expired(memory_store *m, const lookup *l, const jwts_session_key *key)
{
    if (lock_write(m, l->sh)) return;
    size_t i = find_slot(l->sh, l, key->user_id, key->session_id);
    int64_t now = now_ms(m);
    if (l->sh->slots[i].e && !live(l->sh->slots[i].e, now)) {
        report_expired(m, l->sh->slots[i].e, now);
        remove_at(m, l->sh, i);
    }
    unlock(l->sh);
}

static jwts_err not_found(const jwts_session_key *key)
{
    (void)key;
    return jwts_fail(JWTS_E_NOT_FOUND, "session not found");
}

/* ---- operations -------------------------------------------------------------------------- */

/* The lookup of (user, sid) in the shard that sid's tag names, without hashing the user id to its
 * tag (a SHA-256, a fifth of a get): false when sid has not the generated length. An entry of
 * (user, sid) found there is the one: it lives only in the shard of its user's tag, and (user,
 * sid) is unique. */
static bool locate_by_id(memory_store *m, const char *user_id, const char *session_id, lookup *l)
{
    size_t n = strlen(session_id);
    if (n != JWTS_SESSION_ID_LEN) return false; /* store.c checked it is base64url */
    memcpy(l->tag, session_id + n - JWTS_SESSION_TAG_LEN, JWTS_SESSION_TAG_LEN + 1);
    l->user_hash = jwts_hash(user_id, strlen(user_id), m->seed);
    l->key_hash = key_hash_of(m, session_id);
    l->sh = shard_of_tag(m, l->tag);
    return true;
}

/* Get key from l's shard: true when that settles it (*rc, and *out on JWTS_OK), false when it is
 * not there. */
static bool get_in(memory_store *m, const lookup *l, const jwts_session_key *key, jwts_session **out, jwts_err *rc)
{
    if ((*rc = lock_read(m, l->sh))) return true;
    entry *e = l->sh->slots[find_slot(l->sh, l, key->user_id, key->session_id)].e;
    bool expired = e && !live(e, now_ms(m));
    if (e && !expired) *rc = copy_out(e, out);
    unlock(l->sh);
    if (expired) {
        drop_if_expired(m, l, key);
        *rc = not_found(key);
    }
    return e != NULL;
}

/* The hot path (every validation): a generated id leads to its shard, so the user's tag is hashed
 * only when the session is not there. */
static jwts_err mem_get(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_session **out)
{
    (void)ctx;
    memory_store *m = from_base(st);
    lookup hint, l;
    jwts_err rc = JWTS_OK;
    bool hinted = locate_by_id(m, key->user_id, key->session_id, &hint);
    if (hinted && get_in(m, &hint, key, out, &rc)) return rc;
    l = locate(m, key->user_id, key->session_id);
    if ((!hinted || l.sh != hint.sh) && get_in(m, &l, key, out, &rc)) return rc;
    return not_found(key);
}

/* The entry of session_id whose user has the id's tag (the first in the probe run, should two
 * users of one tag hold the same id), under sh's held lock; NULL if none. */
static entry *find_by_id(const shard *sh, uint64_t key_hash, const char *session_id, const char *tag)
{
    for (size_t i = key_hash & sh->mask;; i = (i + 1) & sh->mask) {
        const slot *s = &sh->slots[i];
        if (!s->e) return NULL;
        if (s->hash == key_hash && memcmp(s->e->tag, tag, JWTS_SESSION_TAG_LEN) == 0 &&
            strcmp(s->e->session.session_id, session_id) == 0)
            return s->e;
    }
}

/* By id alone: the id's tag names the shard, the id the probe run. Expired entries are left to
 * the sweep and the other operations. */
static jwts_err mem_get_by_id(jwts_store *st, const jwts_ctx *ctx, const char *session_id, jwts_session **out)
{
    (void)ctx;
    memory_store *m = from_base(st);
    char tag[JWTS_SESSION_TAG_LEN + 1];
    if (!jwts_session_id_tag(session_id, tag)) return not_found(NULL);
    shard *sh = shard_of_tag(m, tag);
    jwts_err rc = lock_read(m, sh);
    if (rc) return rc;
    entry *e = find_by_id(sh, key_hash_of(m, session_id), session_id, tag);
    bool found = e && live(e, now_ms(m));
    if (found) rc = copy_out(e, out);
    unlock(sh);
    return found ? rc : not_found(NULL);
}

/* A new entry holding a copy of s. */
static entry *entry_new(const jwts_session *s, const lookup *l, int64_t expire_at_ms)
{
    size_t blob = jwts_session_blob_size(s);
    entry *e = malloc(offsetof(entry, session) + blob);
    if (!e) return NULL;
    e->user_next = NULL;
    e->key_hash = l->key_hash;
    e->user_hash = l->user_hash;
    memcpy(e->tag, l->tag, JWTS_SESSION_TAG_LEN);
    e->expire_at_ms = expire_at_ms;
    e->blob_size = blob;
    jwts_session_blob_write(s, &e->session);
    return e;
}

/* Reserve room for one more session, sweeping sh's expired entries when the store is full. */
static jwts_err reserve_slot(memory_store *m, shard *sh, int64_t now)
{
    if (atomic_fetch_add_explicit(&m->total, 1, memory_order_relaxed) < m->opts.max_sessions) return JWTS_OK;
    atomic_fetch_sub_explicit(&m->total, 1, memory_order_relaxed);
    size_t freed = 0;
    for (size_t i = 0; i <= sh->mask; i++) freed += sweep_slot(m, sh, i, now);
    if (freed && atomic_fetch_add_explicit(&m->total, 1, memory_order_relaxed) < m->opts.max_sessions) return JWTS_OK;
    if (freed) atomic_fetch_sub_explicit(&m->total, 1, memory_order_relaxed);
    return jwts_fail(JWTS_E_LIMIT, "memory store is full (max_sessions %zu)", m->opts.max_sessions);
}

/* Insert or replace s under the held write lock of l->sh. */
static jwts_err put_locked(memory_store *m, const lookup *l, const jwts_session *s, int64_t ttl_ms)
{
    shard *sh = l->sh;
    int64_t now = now_ms(m);
    size_t i = find_slot(sh, l, s->user_id, s->session_id);
    if (!sh->slots[i].e) {
        /* another user of the same tag holding this id: Redis names both by one key, so every
         * store refuses it (an expired holder just goes) */
        entry *other = find_by_id(sh, l->key_hash, s->session_id, l->tag);
        if (other && live(other, now))
            return jwts_fail(JWTS_E_CONFLICT, "set: the session id is taken by a session of another user");
        if (other) {
            report_expired(m, other, now);
            remove_at(m, sh, slot_of(sh, other));
            i = find_slot(sh, l, s->user_id, s->session_id);
        }
        jwts_err rc = reserve_slot(m, sh, now);
        if (rc) return rc;
        i = find_slot(sh, l, s->user_id, s->session_id); /* the sweep may have moved things */
    }
    entry *e = entry_new(s, l, jwts_ms_after(now, ttl_ms));
    if (!e) {
        if (!sh->slots[i].e) atomic_fetch_sub_explicit(&m->total, 1, memory_order_relaxed);
        return jwts_fail(JWTS_E_NO_MEMORY, "memory store: cannot allocate session");
    }
    entry *old = sh->slots[i].e;
    sh->slots[i] = (slot){.hash = l->key_hash, .e = e};
    if (old) { /* replace in place in the user chain too */
        entry **ulink = find_user_link(sh, old);
        e->user_next = old->user_next;
        *ulink = e;
        free(old);
        return JWTS_OK;
    }
    entry **uhead = &sh->user_buckets[e->user_hash & sh->user_mask];
    e->user_next = *uhead;
    *uhead = e;
    sh->count++;
    maybe_grow(sh);
    return JWTS_OK;
}

static jwts_err mem_set(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms)
{
    memory_store *m = from_base(st);
    lookup l = locate(m, s->user_id, s->session_id);
    jwts_err rc = lock_write(m, l.sh);
    if (rc) return rc;
    rc = put_locked(m, &l, s, ttl_ms);
    unlock(l.sh);
    return rc;
}

static jwts_err mem_del(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key)
{
    memory_store *m = from_base(st);
    lookup l = locate(m, key->user_id, key->session_id);
    jwts_err rc = lock_write(m, l.sh);
    if (rc) return rc;
    size_t i = find_slot(l.sh, &l, key->user_id, key->session_id);
    entry *e = l.sh->slots[i].e;
    bool found = e && live(e, now_ms(m));
    if (e) remove_at(m, l.sh, i);
    unlock(l.sh);
    return found ? JWTS_OK : not_found(key);
}

/* Find the live entry at key under the held write lock; NULL if absent or expired. */
static entry *find_live_locked(memory_store *m, const lookup *l, const jwts_session_key *key)
{
    size_t i = find_slot(l->sh, l, key->user_id, key->session_id);
    entry *e = l->sh->slots[i].e;
    if (!e) return NULL;
    if (live(e, now_ms(m))) return e;
    remove_at(m, l->sh, i);
    return NULL;
}

static jwts_err mem_touch(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, int64_t last_seen_ms,
                          int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    memory_store *m = from_base(st);
    lookup l = locate(m, key->user_id, key->session_id);
    jwts_err rc = lock_write(m, l.sh);
    if (rc) return rc;
    entry *e = find_live_locked(m, &l, key);
    if (e) {
        e->session.last_seen_ms = last_seen_ms;
        e->session.idle_expires_at_ms = idle_expires_at_ms;
        e->expire_at_ms = jwts_ms_after(now_ms(m), ttl_ms);
    }
    unlock(l.sh);
    return e ? JWTS_OK : not_found(key);
}

static jwts_err mem_rotate(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                           const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], const jwts_refresh_state *next,
                           int64_t ttl_ms, jwts_session **current)
{
    memory_store *m = from_base(st);
    lookup l = locate(m, key->user_id, key->session_id);
    jwts_err rc = lock_write(m, l.sh);
    if (rc) return rc;
    entry *e = find_live_locked(m, &l, key);
    if (!e) {
        unlock(l.sh);
        return not_found(key);
    }
    bool match = CRYPTO_memcmp(e->session.refresh.current_hash, expected_hash, JWTS_REFRESH_HASH_LEN) == 0;
    if (match) {
        e->session.refresh = *next;
        if (next->rotated_at_ms > e->session.updated_at_ms) e->session.updated_at_ms = next->rotated_at_ms;
        e->expire_at_ms = jwts_ms_after(now_ms(m), ttl_ms);
    }
    if (current) rc = copy_out(e, current);
    unlock(l.sh);
    if (rc) return rc;
    return match ? JWTS_OK : jwts_fail(JWTS_E_CONFLICT, "refresh state changed concurrently");
}

static jwts_err mem_replace(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s,
                            const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms)
{
    memory_store *m = from_base(st);
    lookup l = locate(m, s->user_id, s->session_id);
    jwts_err rc = lock_write(m, l.sh);
    if (rc) return rc;
    entry *e = find_live_locked(m, &l, &(jwts_session_key){s->user_id, s->session_id});
    if (!e)
        rc = not_found(NULL);
    else if (CRYPTO_memcmp(e->session.refresh.current_hash, expected_hash, JWTS_REFRESH_HASH_LEN) != 0)
        rc = jwts_fail(JWTS_E_CONFLICT, "refresh state changed concurrently");
    else {
        jwts_session next = *s; /* a confirmed current secret stays confirmed */
        if (memcmp(next.refresh.current_hash, expected_hash, JWTS_REFRESH_HASH_LEN) == 0)
            next.refresh.confirmed |= e->session.refresh.confirmed;
        rc = put_locked(m, &l, &next, ttl_ms);
    }
    unlock(l.sh);
    return rc;
}

/* Order of a user's sessions: oldest created first, then by session id. */
static int by_created(const void *a, const void *b)
{
    const jwts_session *x = *(jwts_session *const *)a, *y = *(jwts_session *const *)b;
    if (x->created_at_ms != y->created_at_ms) return x->created_at_ms < y->created_at_ms ? -1 : 1;
    return strcmp(x->session_id, y->session_id);
}

static jwts_err collect_user(memory_store *m, const lookup *l, const char *user_id, jwts_session_list *out)
{
    int64_t now = now_ms(m);
    size_t n = 0;
    entry *head = l->sh->user_buckets[l->user_hash & l->sh->user_mask];
    for (entry *e = head; e; e = e->user_next) n += same_user(e, l->user_hash, user_id) && live(e, now);
    if (n == 0) return JWTS_OK;
    out->items = calloc(n, sizeof *out->items);
    if (!out->items) return jwts_fail(JWTS_E_NO_MEMORY, "list_user: out of memory");
    for (entry *e = head; e; e = e->user_next) {
        if (!same_user(e, l->user_hash, user_id) || !live(e, now)) continue;
        jwts_err rc = copy_out(e, &out->items[out->count]);
        if (rc) {
            jwts_session_list_free(out);
            return rc;
        }
        out->count++;
    }
    return JWTS_OK;
}

static jwts_err mem_list_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out)
{
    memory_store *m = from_base(st);
    lookup l = locate(m, user_id, NULL);
    jwts_err rc = lock_read(m, l.sh);
    if (rc) return rc;
    rc = collect_user(m, &l, user_id, out);
    unlock(l.sh);
    if (rc == JWTS_OK && out->count > 1) qsort(out->items, out->count, sizeof *out->items, by_created);
    return rc;
}

/* Remove every entry of user_id under the held write lock but keep (NULL: none); how many live. */
static size_t delete_user_locked(memory_store *m, const lookup *l, const char *user_id, const entry *keep)
{
    int64_t now = now_ms(m);
    size_t n = 0;
    entry **ulink = &l->sh->user_buckets[l->user_hash & l->sh->user_mask];
    while (*ulink) {
        entry *e = *ulink;
        if (e == keep || !same_user(e, l->user_hash, user_id)) {
            ulink = &e->user_next;
            continue;
        }
        n += live(e, now);
        if (!live(e, now)) report_expired(m, e, now);
        remove_at(m, l->sh, slot_of(l->sh, e));
        /* *ulink now holds e's successor: remove_at unlinked e from this chain */
    }
    return n;
}

static jwts_err mem_delete_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, size_t *deleted)
{
    memory_store *m = from_base(st);
    lookup l = locate(m, user_id, NULL);
    jwts_err rc = lock_write(m, l.sh);
    if (rc) return rc;
    *deleted = delete_user_locked(m, &l, user_id, NULL);
    unlock(l.sh);
    return JWTS_OK;
}

/* A user's sessions all live in one shard, so one write lock makes this atomic. */
static jwts_err mem_delete_user_except(jwts_store *st, const jwts_ctx *ctx, const char *user_id, const char *keep,
                                       size_t *deleted)
{
    memory_store *m = from_base(st);
    lookup l = locate(m, user_id, keep);
    jwts_err rc = lock_write(m, l.sh);
    if (rc) return rc;
    jwts_session_key key = {user_id, keep};
    entry *kept = find_live_locked(m, &l, &key);
    if (kept)
        *deleted = delete_user_locked(m, &l, user_id, kept);
    else
        rc = jwts_fail(JWTS_E_NOT_FOUND, "delete_user_except: the kept session is not there");
    unlock(l.sh);
    return rc;
}

/* Sweep up to batch slots of every shard (all of them when batch is 0); returns how many went. */
static size_t sweep(memory_store *m, size_t batch)
{
    size_t removed = 0;
    for (size_t i = 0; i <= m->shard_mask; i++) {
        shard *sh = &m->shards[i];
        if (lock_write(m, sh)) return removed;
        int64_t now = now_ms(m);
        size_t n = sh->mask + 1, visits = batch && batch < n ? batch : n;
        for (size_t v = 0; v < visits; v++) {
            removed += sweep_slot(m, sh, sh->sweep_cursor & sh->mask, now);
            sh->sweep_cursor = (sh->sweep_cursor + 1) & sh->mask;
        }
        unlock(sh);
    }
    return removed;
}

static jwts_err mem_cleanup(jwts_store *st, const jwts_ctx *ctx, size_t *removed)
{
    memory_store *m = from_base(st);
    if (atomic_load(&m->closed)) return jwts_fail(JWTS_E_CLOSED, "memory store is closed");
    *removed = sweep(m, 0);
    return JWTS_OK;
}

static jwts_err mem_count(jwts_store *st, size_t *sessions)
{
    memory_store *m = from_base(st);
    if (atomic_load(&m->closed)) return jwts_fail(JWTS_E_CLOSED, "memory store is closed");
    *sessions = atomic_load_explicit(&m->total, memory_order_relaxed);
    return JWTS_OK;
}

/* ---- background sweep -------------------------------------------------------------------- */

static void *sweeper_main(void *arg)
{
    memory_store *m = arg;
    pthread_mutex_lock(&m->sweep_mutex);
    while (!m->sweep_stop) {
        struct timespec until = jwts_monotonic_timespec_in_ms(m->opts.sweep_interval_ms);
        pthread_cond_timedwait(&m->sweep_cond, &m->sweep_mutex, &until);
        if (m->sweep_stop) break;
        pthread_mutex_unlock(&m->sweep_mutex);
        sweep(m, m->opts.sweep_batch);
        pthread_mutex_lock(&m->sweep_mutex);
    }
    pthread_mutex_unlock(&m->sweep_mutex);
    return NULL;
}

static void init_sweep_sync(memory_store *m)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->sweep_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&m->sweep_mutex, NULL);
}

static jwts_err start_sweeper(memory_store *m)
{
    if (m->opts.sweep_interval_ms < 0) return JWTS_OK;
    if (pthread_create(&m->sweeper, NULL, sweeper_main, m) != 0)
        return jwts_fail(JWTS_E_INTERNAL, "memory store: cannot start the sweep thread");
    m->sweeper_running = true;
    return JWTS_OK;
}

static void stop_sweeper(memory_store *m)
{
    if (!m->sweeper_running) return;
    pthread_mutex_lock(&m->sweep_mutex);
    m->sweep_stop = true;
    pthread_cond_signal(&m->sweep_cond);
    pthread_mutex_unlock(&m->sweep_mutex);
    pthread_join(m->sweeper, NULL);
    m->sweeper_running = false;
}

/* ---- lifetime ---------------------------------------------------------------------------- */

static void free_shard_entries(shard *sh)
{
    for (size_t i = 0; sh->slots && i <= sh->mask; i++) free(sh->slots[i].e);
    free(sh->slots);
    free(sh->user_buckets);
    sh->slots = NULL;
    sh->user_buckets = NULL;
    sh->count = 0;
}

static void mem_close(jwts_store *st)
{
    memory_store *m = from_base(st);
    if (atomic_exchange(&m->closed, true)) return;
    stop_sweeper(m);
    for (size_t i = 0; i <= m->shard_mask; i++) {
        pthread_rwlock_wrlock(&m->shards[i].lock); /* wait for calls in flight */
        free_shard_entries(&m->shards[i]);
        pthread_rwlock_unlock(&m->shards[i].lock);
    }
    atomic_store(&m->total, 0);
}

static void mem_destroy(jwts_store *st)
{
    memory_store *m = from_base(st);
    for (size_t i = 0; m->shards && i <= m->shard_mask; i++) pthread_rwlock_destroy(&m->shards[i].lock);
    pthread_cond_destroy(&m->sweep_cond);
    pthread_mutex_destroy(&m->sweep_mutex);
    pthread_mutex_destroy(&m->hook_mutex);
    free(m->shards);
    free(m);
}

/* The memory store never waits: its asynchronous get completes within the call. */
static jwts_err mem_get_async(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_get_done done,
                              void *arg)
{
    jwts_session *s = NULL;
    jwts_err rc = mem_get(st, ctx, key, &s);
    if (rc == JWTS_E_CLOSED) return rc;
    done(arg, rc, s);
    return JWTS_OK;
}

static jwts_err mem_on_expired(jwts_store *st, jwts_expired_fn fn, void *arg)
{
    memory_store *m = from_base(st);
    pthread_mutex_lock(&m->hook_mutex);
    m->on_expired = fn;
    m->on_expired_arg = fn ? arg : NULL;
    pthread_mutex_unlock(&m->hook_mutex);
    return JWTS_OK;
}

static const jwts_store_ops MEMORY_OPS = {
    .on_expired = mem_on_expired,
    .get_async = mem_get_async,
    .get_by_id = mem_get_by_id,
    .name = "memory",
    .get = mem_get,
    .set = mem_set,
    .del = mem_del,
    .touch = mem_touch,
    .list_user = mem_list_user,
    .delete_user = mem_delete_user,
    .delete_user_except = mem_delete_user_except,
    .rotate = mem_rotate,
    .replace = mem_replace,
    .cleanup = mem_cleanup,
    .count = mem_count,
    .close = mem_close,
    .destroy = mem_destroy,
};

static size_t round_pow2(size_t n)
{
    size_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

static jwts_memory_options options_or_defaults(const jwts_memory_options *in)
{
    jwts_memory_options o = in ? *in : (jwts_memory_options){0};
    if (!o.max_sessions) o.max_sessions = DEFAULT_MAX_SESSIONS;
    o.shards = round_pow2(o.shards ? o.shards : DEFAULT_SHARDS);
    if (!o.sweep_interval_ms) o.sweep_interval_ms = DEFAULT_SWEEP_INTERVAL_MS;
    if (!o.sweep_batch) o.sweep_batch = DEFAULT_SWEEP_BATCH;
    return o;
}

jwts_err jwts_store_memory_new(const jwts_memory_options *opts, jwts_store **out)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "memory store: out is NULL");
    *out = NULL;
    if (opts && opts->shards > 65536) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "memory store: shards > 65536");
    memory_store *m = calloc(1, sizeof *m);
    if (!m) return jwts_fail(JWTS_E_NO_MEMORY, "memory store: out of memory");
    m->base.ops = &MEMORY_OPS;
    m->opts = options_or_defaults(opts);
    m->shard_mask = m->opts.shards - 1;
    init_sweep_sync(m);
    pthread_mutex_init(&m->hook_mutex, NULL);
    jwts_err rc = jwts_random_bytes(&m->seed, sizeof m->seed);
    if (!rc && !(m->shards = aligned_alloc(128, m->opts.shards * sizeof(shard))))
        rc = jwts_fail(JWTS_E_NO_MEMORY, "memory store: out of memory");
    if (rc) {
        mem_destroy(&m->base);
        return rc;
    }
    memset(m->shards, 0, m->opts.shards * sizeof(shard));
    for (size_t i = 0; i < m->opts.shards && !rc; i++) {
        pthread_rwlock_init(&m->shards[i].lock, NULL);
        rc = alloc_tables(&m->shards[i], MIN_SLOTS);
    }
    if (!rc) rc = start_sweeper(m);
    if (rc) {
        for (size_t i = 0; i < m->opts.shards; i++) free_shard_entries(&m->shards[i]);
        mem_destroy(&m->base);
        return rc;
    }
    *out = &m->base;
    return JWTS_OK;
}
