/*
 * file_store.c - the file store's jwts_store vtable and jwts_store_file_new (store_file.h).
 *
 * Every call is one LMDB transaction: reads share a reset-and-reused read transaction, writes
 * take LMDB's single writer lock (across processes too), so rotate and replace compare and set
 * atomically and a batch lands whole or not at all. A call holds the store's gate shared; close
 * takes it exclusively, so no call runs on a closed environment.
 *
 * Expiry: a session whose deadline has passed is absent to every read; a write meeting it
 * replaces or removes it; the sweep (file_sync.c) removes the rest from the front of the expiry
 * index. max_sessions counts the entries of the sessions table; when it is reached up to
 * sweep_batch expired ones are removed first (again from the front of the index only).
 * One handle per directory per process (file_claim.c).
 */
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "jwtsession/random.h"
#include "store/file.h"

#define DEFAULT_WINDOW_MS 100
#define DEFAULT_MAP_MB 1024
#define DEFAULT_MAX_SESSIONS 1000000
#define DEFAULT_SWEEP_INTERVAL_MS 1000
#define DEFAULT_SWEEP_BATCH 1024

static file_store *from_base(jwts_store *st)
{
    return (file_store *)st;
}

static int64_t now_ms(const file_store *fs)
{
    return jwts_clock_now_ms(fs->opts.clock);
}

static jwts_err not_found(void)
{
    return jwts_fail(JWTS_E_NOT_FOUND, "session not found");
}

static jwts_err enter(file_store *fs)
{
    pthread_rwlock_rdlock(&fs->gate);
    if (!fs->closed) return JWTS_OK;
    pthread_rwlock_unlock(&fs->gate);
    return jwts_fail(JWTS_E_CLOSED, "file store is closed");
}

static void leave(file_store *fs)
{
    pthread_rwlock_unlock(&fs->gate);
}

/* ---- transactions ---------------------------------------------------------------------------- */

static jwts_err write_begin(file_store *fs, MDB_txn **txn)
{
    int failed = atomic_load(&fs->sync_failed);
    if (failed)
        return jwts_fail(JWTS_E_UNAVAILABLE,
                         "file store %.100s: the last group-commit fsync failed (%s); writes are "
                         "refused until one succeeds",
                         fs->path, mdb_strerror(failed));
    int rc = mdb_txn_begin(fs->env, NULL, 0, txn);
    return rc ? jwts_file_fail(fs, rc, "begin a write") : JWTS_OK;
}

/* Commit txn when rc is JWTS_OK and commit is set, else abort it; rc, or the commit's failure. */
static jwts_err write_end(file_store *fs, MDB_txn *txn, jwts_err rc, bool commit)
{
    if (rc || !commit) {
        jwts_file_abort(fs, txn);
        return rc;
    }
    int lrc = jwts_file_commit(fs, txn);
    return lrc ? jwts_file_fail(fs, lrc, "commit") : JWTS_OK;
}

/* The stored value at key: JWTS_OK with *found set or cleared, or an LMDB failure. */
static jwts_err lookup(file_store *fs, MDB_txn *txn, const MDB_val *key, MDB_val *v, bool *found)
{
    int rc = mdb_get(txn, fs->sessions, (MDB_val *)key, v);
    *found = rc == 0;
    if (rc == MDB_NOTFOUND) return JWTS_OK;
    return rc ? jwts_file_fail(fs, rc, "read") : JWTS_OK;
}

/* The live session at key, decoded, in the write transaction txn: JWTS_E_NOT_FOUND when absent
 * or expired (*old_deadline then says whether an expired one is there to remove: >= 0). */
static jwts_err find_live(file_store *fs, MDB_txn *txn, const MDB_val *key, jwts_session **out, int64_t *old_deadline)
{
    MDB_val v;
    bool found;
    *out = NULL;
    *old_deadline = -1;
    jwts_err rc = lookup(fs, txn, key, &v, &found);
    if (rc) return rc;
    if (!found) return not_found();
    *old_deadline = jwts_file_value_deadline(&v);
    if (*old_deadline <= now_ms(fs)) return not_found();
    return jwts_file_value_decode(key, &v, out);
}

/* Make room for one more session: at max_sessions, remove up to sweep_batch expired ones first
 * (bounded, so the transaction stays small however many expired). */
static jwts_err reserve(file_store *fs, MDB_txn *txn)
{
    MDB_stat st;
    int rc = mdb_stat(txn, fs->sessions, &st);
    if (!rc && st.ms_entries >= fs->opts.max_sessions) {
        size_t removed = 0;
        rc = jwts_file_sweep_txn(fs, txn, now_ms(fs), fs->opts.sweep_batch, &removed);
        if (!rc) rc = mdb_stat(txn, fs->sessions, &st);
        if (!rc && st.ms_entries >= fs->opts.max_sessions)
            return jwts_fail(JWTS_E_LIMIT, "file store is full (max_sessions %zu)", fs->opts.max_sessions);
    }
    return rc ? jwts_file_fail(fs, rc, "count") : JWTS_OK;
}

/* JWTS_E_CONFLICT when another user of s's user's tag holds s's session id, live (Redis names
 * both by one key, so every store refuses it); an expired holder is removed. */
static jwts_err check_id_free(file_store *fs, MDB_txn *txn, const jwts_session *s)
{
    char tag[JWTS_SESSION_TAG_LEN + 1], other_tag[JWTS_SESSION_TAG_LEN + 1], prefix[JWTS_SESSION_ID_MAX + 1];
    jwts_user_tag(s->user_id, tag);
    size_t plen = strlen(s->session_id) + 1;
    memcpy(prefix, s->session_id, plen);
    char user[JWTS_USER_ID_MAX + 1];
    user[0] = '\0';
    MDB_cursor *cur;
    int lrc = mdb_cursor_open(txn, fs->ids, &cur);
    if (lrc) return jwts_file_fail(fs, lrc, "read");
    MDB_val ik = {plen, prefix}, iv;
    for (lrc = mdb_cursor_get(cur, &ik, &iv, MDB_SET_RANGE); !lrc; lrc = mdb_cursor_get(cur, &ik, &iv, MDB_NEXT)) {
        size_t ulen = ik.mv_size - plen;
        if (ik.mv_size <= plen || ulen > JWTS_USER_ID_MAX || memcmp(ik.mv_data, prefix, plen) != 0) break;
        memcpy(user, (const char *)ik.mv_data + plen, ulen);
        user[ulen] = '\0';
        if (strcmp(user, s->user_id) != 0 && jwts_user_tag(user, other_tag) && strcmp(other_tag, tag) == 0) break;
        user[0] = '\0';
    }
    mdb_cursor_close(cur);
    if (lrc && lrc != MDB_NOTFOUND) return jwts_file_fail(fs, lrc, "read");
    if (!user[0]) return JWTS_OK;
    char buf[FILE_KEY_MAX];
    MDB_val key = jwts_file_key(user, s->session_id, buf), v;
    bool found;
    jwts_err rc = lookup(fs, txn, &key, &v, &found);
    if (rc || !found) return rc;
    int64_t deadline = jwts_file_value_deadline(&v);
    if (deadline > now_ms(fs))
        return jwts_fail(JWTS_E_CONFLICT, "set: the session id is taken by a session of another user");
    lrc = jwts_file_remove(fs, txn, &key, deadline);
    return lrc ? jwts_file_fail(fs, lrc, "delete") : JWTS_OK;
}

/* Create or overwrite s, kept ttl_ms from now, inside txn. */
static jwts_err put_one(file_store *fs, MDB_txn *txn, const jwts_session *s, int64_t ttl_ms)
{
    char buf[FILE_KEY_MAX];
    MDB_val key = jwts_file_key(s->user_id, s->session_id, buf), v;
    bool found;
    jwts_err rc = lookup(fs, txn, &key, &v, &found);
    if (!rc && !found) rc = check_id_free(fs, txn, s);
    int64_t old_deadline = found ? jwts_file_value_deadline(&v) : -1;
    if (!rc && !found) rc = reserve(fs, txn);
    if (rc) return rc;
    int lrc = jwts_file_put(fs, txn, &key, s, jwts_ms_after(now_ms(fs), ttl_ms), old_deadline);
    return lrc ? jwts_file_fail(fs, lrc, "write") : JWTS_OK;
}

/* Delete the session at key inside txn; *live tells whether it was there and not expired. */
static jwts_err del_one(file_store *fs, MDB_txn *txn, const jwts_session_key *k, bool *live)
{
    char buf[FILE_KEY_MAX];
    MDB_val key = jwts_file_key(k->user_id, k->session_id, buf), v;
    bool found;
    *live = false;
    jwts_err rc = lookup(fs, txn, &key, &v, &found);
    if (rc || !found) return rc;
    int64_t deadline = jwts_file_value_deadline(&v);
    *live = deadline > now_ms(fs);
    int lrc = jwts_file_remove(fs, txn, &key, deadline);
    return lrc ? jwts_file_fail(fs, lrc, "delete") : JWTS_OK;
}

/* ---- reads ----------------------------------------------------------------------------------- */

/* The live session at k in the read transaction txn; JWTS_E_NOT_FOUND when absent or expired. */
static jwts_err read_one(file_store *fs, MDB_txn *txn, const jwts_session_key *k, jwts_session **out)
{
    char buf[FILE_KEY_MAX];
    MDB_val key = jwts_file_key(k->user_id, k->session_id, buf), v;
    bool found;
    jwts_err rc = lookup(fs, txn, &key, &v, &found);
    if (rc) return rc;
    if (!found || jwts_file_value_deadline(&v) <= now_ms(fs)) return not_found();
    return jwts_file_value_decode(&key, &v, out);
}

/* The live session whose id is sid and whose user has the id's tag, from the "ids" range
 * "sid NUL ..." (one entry unless users share the id), in the read transaction txn. */
static jwts_err read_by_id(file_store *fs, MDB_txn *txn, const char *sid, jwts_session **out)
{
    char tag[JWTS_SESSION_TAG_LEN + 1], user_tag[JWTS_SESSION_TAG_LEN + 1], prefix[JWTS_SESSION_ID_MAX + 1];
    if (!jwts_session_id_tag(sid, tag)) return not_found();
    size_t plen = strlen(sid) + 1;
    memcpy(prefix, sid, plen); /* with its NUL */
    MDB_cursor *cur;
    int lrc = mdb_cursor_open(txn, fs->ids, &cur);
    if (lrc) return jwts_file_fail(fs, lrc, "read");
    MDB_val ik = {plen, prefix}, iv;
    jwts_err rc = JWTS_E_NOT_FOUND;
    for (lrc = mdb_cursor_get(cur, &ik, &iv, MDB_SET_RANGE); !lrc && rc == JWTS_E_NOT_FOUND;
         lrc = mdb_cursor_get(cur, &ik, &iv, MDB_NEXT)) {
        if (ik.mv_size <= plen || ik.mv_size > FILE_KEY_MAX || memcmp(ik.mv_data, prefix, plen) != 0) break;
        char user[JWTS_USER_ID_MAX + 1];
        size_t ulen = ik.mv_size - plen;
        if (ulen > JWTS_USER_ID_MAX) break;
        memcpy(user, (const char *)ik.mv_data + plen, ulen);
        user[ulen] = '\0';
        if (!jwts_user_tag(user, user_tag) || strcmp(user_tag, tag) != 0) continue;
        rc = read_one(fs, txn, &(jwts_session_key){user, sid}, out);
    }
    mdb_cursor_close(cur);
    if (lrc && lrc != MDB_NOTFOUND && rc == JWTS_E_NOT_FOUND) return jwts_file_fail(fs, lrc, "read");
    return rc == JWTS_E_NOT_FOUND ? not_found() : rc;
}

/* One session in a read transaction: the one at key, or (key NULL) the one whose id is sid. */
static jwts_err get_one(jwts_store *st, const jwts_session_key *key, const char *sid, jwts_session **out)
{
    file_store *fs = from_base(st);
    MDB_txn *txn;
    jwts_err rc = enter(fs);
    if (rc) return rc;
    rc = jwts_file_read_begin(fs, &txn);
    if (!rc) {
        rc = key ? read_one(fs, txn, key, out) : read_by_id(fs, txn, sid, out);
        jwts_file_read_end(fs, txn);
    }
    leave(fs);
    return rc;
}

static jwts_err fs_get(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_session **out)
{
    (void)ctx;
    return get_one(st, key, NULL, out);
}

static jwts_err fs_get_by_id(jwts_store *st, const jwts_ctx *ctx, const char *session_id, jwts_session **out)
{
    (void)ctx;
    return get_one(st, NULL, session_id, out);
}

static jwts_err fs_get_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                            jwts_session **out)
{
    file_store *fs = from_base(st);
    MDB_txn *txn = NULL;
    jwts_err rc = enter(fs);
    if (rc) return rc;
    rc = jwts_file_read_begin(fs, &txn);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = read_one(fs, txn, &keys[i], &out[i]);
        if (rc == JWTS_E_NOT_FOUND) rc = JWTS_OK;
    }
    if (txn) jwts_file_read_end(fs, txn);
    leave(fs);
    if (rc)
        for (size_t i = 0; i < n; i++) jwts_session_free(out[i]), out[i] = NULL;
    return rc;
}

/* Order of a user's sessions: oldest created first, then by session id. */
static int by_created(const void *a, const void *b)
{
    const jwts_session *x = *(jwts_session *const *)a, *y = *(jwts_session *const *)b;
    if (x->created_at_ms != y->created_at_ms) return x->created_at_ms < y->created_at_ms ? -1 : 1;
    return strcmp(x->session_id, y->session_id);
}

/* Append s to out, growing it. */
static jwts_err push(jwts_session_list *out, size_t *cap, jwts_session *s)
{
    if (out->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        jwts_session **items = realloc(out->items, ncap * sizeof *items);
        if (!items) {
            jwts_session_free(s);
            return jwts_fail(JWTS_E_NO_MEMORY, "list_user: out of memory");
        }
        out->items = items;
        *cap = ncap;
    }
    out->items[out->count++] = s;
    return JWTS_OK;
}

/* The session id part of a key read from the table (after the plen bytes of user id and NUL) is
 * a valid session id. */
static bool key_sid_valid(const MDB_val *k, size_t plen)
{
    char sid[JWTS_SESSION_ID_MAX + 1];
    size_t n = k->mv_size - plen;
    if (n > JWTS_SESSION_ID_MAX) return false;
    memcpy(sid, (const char *)k->mv_data + plen, n);
    sid[n] = '\0';
    return jwts_session_id_valid(sid);
}

/* Every live session in the key range of user_id. */
static jwts_err collect_user(file_store *fs, MDB_txn *txn, const char *user_id, jwts_session_list *out)
{
    MDB_cursor *cur;
    int lrc = mdb_cursor_open(txn, fs->sessions, &cur);
    if (lrc) return jwts_file_fail(fs, lrc, "list");
    size_t plen = strlen(user_id) + 1, cap = 0;
    MDB_val k = {plen, (void *)user_id}, v; /* user_id and its NUL: the range's first key */
    int64_t now = now_ms(fs);
    jwts_err rc = JWTS_OK;
    for (lrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !lrc && !rc; lrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size <= plen || memcmp(k.mv_data, user_id, plen) != 0) break;
        if (jwts_file_value_deadline(&v) <= now) continue;
        jwts_session *s;
        rc = key_sid_valid(&k, plen) ? jwts_file_value_decode(&k, &v, &s)
                                     : jwts_fail(JWTS_E_MALFORMED, "file store: a stored key is damaged");
        if (!rc) rc = push(out, &cap, s);
    }
    mdb_cursor_close(cur);
    if (!rc && lrc && lrc != MDB_NOTFOUND) rc = jwts_file_fail(fs, lrc, "list");
    if (rc) jwts_session_list_free(out);
    return rc;
}

static jwts_err fs_list_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out)
{
    file_store *fs = from_base(st);
    MDB_txn *txn;
    jwts_err rc = enter(fs);
    if (rc) return rc;
    rc = jwts_file_read_begin(fs, &txn);
    if (!rc) {
        rc = collect_user(fs, txn, user_id, out);
        jwts_file_read_end(fs, txn);
    }
    leave(fs);
    if (!rc && out->count > 1) qsort(out->items, out->count, sizeof *out->items, by_created);
    return rc;
}

static jwts_err fs_count(jwts_store *st, size_t *sessions)
{
    file_store *fs = from_base(st);
    MDB_txn *txn;
    jwts_err rc = enter(fs);
    if (rc) return rc;
    rc = jwts_file_read_begin(fs, &txn);
    if (!rc) {
        MDB_stat s;
        int lrc = mdb_stat(txn, fs->sessions, &s);
        if (lrc)
            rc = jwts_file_fail(fs, lrc, "count");
        else
            *sessions = s.ms_entries;
        jwts_file_read_end(fs, txn);
    }
    leave(fs);
    return rc;
}

/* ---- writes ---------------------------------------------------------------------------------- */

static jwts_err fs_set(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms)
{
    return st->ops->set_many(st, ctx, &s, 1, ttl_ms);
}

static jwts_err fs_set_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session *const *sessions, size_t n,
                            int64_t ttl_ms)
{
    file_store *fs = from_base(st);
    MDB_txn *txn;
    jwts_err rc = enter(fs);
    if (rc) return rc;
    rc = write_begin(fs, &txn);
    if (!rc) {
        for (size_t i = 0; !rc && i < n; i++) rc = put_one(fs, txn, sessions[i], ttl_ms);
        rc = write_end(fs, txn, rc, true);
    }
    leave(fs);
    return rc;
}

static jwts_err fs_delete_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                               size_t *deleted)
{
    file_store *fs = from_base(st);
    MDB_txn *txn;
    jwts_err rc = enter(fs);
    if (rc) return rc;
    size_t live_count = 0;
    rc = write_begin(fs, &txn);
    if (!rc) {
        for (size_t i = 0; !rc && i < n; i++) {
            bool live;
            rc = del_one(fs, txn, &keys[i], &live);
            live_count += live;
        }
        rc = write_end(fs, txn, rc, true);
    }
    leave(fs);
    if (!rc) *deleted = live_count;
    return rc;
}

static jwts_err fs_del(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key)
{
    size_t deleted = 0;
    jwts_err rc = st->ops->delete_many(st, ctx, key, 1, &deleted);
    if (rc) return rc;
    return deleted ? JWTS_OK : not_found();
}

/* A change of the live session at key, decided by fn on its decoded copy. */
typedef struct change {
    const jwts_session_key *key;
    int64_t ttl_ms;
    /* Decide on cur (may modify it): JWTS_OK to write *next (cur when NULL), or an error to write
     * nothing. */
    jwts_err (*fn)(struct change *c, jwts_session *cur, const jwts_session **next);
    const void *arg;
    const uint8_t *expected_hash;
    jwts_session next_copy;
} change;

/* Find the live session at c->key, let c->fn decide, write its answer. *cur_out (may be NULL;
 * only for fns that change cur in place) gets the session as it is after the call, also on
 * JWTS_E_CONFLICT. An expired session found on the way is removed. */
static jwts_err apply_change(file_store *fs, change *c, jwts_session **cur_out)
{
    MDB_txn *txn;
    jwts_err rc = enter(fs);
    if (rc) return rc;
    rc = write_begin(fs, &txn);
    if (rc) {
        leave(fs);
        return rc;
    }
    char buf[FILE_KEY_MAX];
    MDB_val key = jwts_file_key(c->key->user_id, c->key->session_id, buf);
    jwts_session *cur = NULL;
    int64_t old_deadline;
    rc = find_live(fs, txn, &key, &cur, &old_deadline);
    if (rc == JWTS_E_NOT_FOUND && old_deadline >= 0) { /* expired: remove it while here */
        int lrc = jwts_file_remove(fs, txn, &key, old_deadline);
        rc = write_end(fs, txn, lrc ? jwts_file_fail(fs, lrc, "delete") : JWTS_OK, true);
        leave(fs);
        return rc ? rc : not_found();
    }
    const jwts_session *next = NULL;
    jwts_err decided = rc ? rc : c->fn(c, cur, &next);
    bool write = decided == JWTS_OK;
    if (write) {
        int lrc = jwts_file_put(fs, txn, &key, next ? next : cur, jwts_ms_after(now_ms(fs), c->ttl_ms), old_deadline);
        if (lrc) rc = jwts_file_fail(fs, lrc, "write");
    }
    rc = write_end(fs, txn, rc, write);
    leave(fs);
    if (!rc && cur_out && (decided == JWTS_OK || decided == JWTS_E_CONFLICT))
        *cur_out = cur;
    else
        jwts_session_free(cur);
    return rc ? rc : decided;
}

static jwts_err touch_fn(change *c, jwts_session *cur, const jwts_session **next)
{
    const int64_t *times = c->arg;
    cur->last_seen_ms = times[0];
    cur->idle_expires_at_ms = times[1];
    return JWTS_OK;
}

static jwts_err fs_touch(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, int64_t last_seen_ms,
                         int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    int64_t times[2] = {last_seen_ms, idle_expires_at_ms};
    change c = {.key = key, .ttl_ms = ttl_ms, .fn = touch_fn, .arg = times};
    return apply_change(from_base(st), &c, NULL);
}

static jwts_err rotate_fn(change *c, jwts_session *cur, const jwts_session **next)
{
    if (CRYPTO_memcmp(cur->refresh.current_hash, c->expected_hash, JWTS_REFRESH_HASH_LEN) != 0)
        return jwts_fail(JWTS_E_CONFLICT, "refresh state changed concurrently");
    const jwts_refresh_state *r = c->arg;
    cur->refresh = *r;
    if (r->rotated_at_ms > cur->updated_at_ms) cur->updated_at_ms = r->rotated_at_ms;
    return JWTS_OK;
}

static jwts_err fs_rotate(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                          const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], const jwts_refresh_state *next,
                          int64_t ttl_ms, jwts_session **current)
{
    change c = {.key = key, .ttl_ms = ttl_ms, .fn = rotate_fn, .arg = next, .expected_hash = expected_hash};
    return apply_change(from_base(st), &c, current);
}

static jwts_err replace_fn(change *c, jwts_session *cur, const jwts_session **next)
{
    if (CRYPTO_memcmp(cur->refresh.current_hash, c->expected_hash, JWTS_REFRESH_HASH_LEN) != 0)
        return jwts_fail(JWTS_E_CONFLICT, "refresh state changed concurrently");
    c->next_copy = *(const jwts_session *)c->arg; /* a confirmed current secret stays confirmed */
    if (memcmp(c->next_copy.refresh.current_hash, c->expected_hash, JWTS_REFRESH_HASH_LEN) == 0)
        c->next_copy.refresh.confirmed |= cur->refresh.confirmed;
    *next = &c->next_copy;
    return JWTS_OK;
}

static jwts_err fs_replace(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s,
                           const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms)
{
    jwts_session_key key = {s->user_id, s->session_id};
    change c = {.key = &key, .ttl_ms = ttl_ms, .fn = replace_fn, .arg = s, .expected_hash = expected_hash};
    return apply_change(from_base(st), &c, NULL);
}

/* Delete every session of user_id but keep (NULL: none) in one write transaction. With keep, a
 * kept session that is not there (or expired) is JWTS_E_NOT_FOUND and nothing is deleted. */
static jwts_err delete_user(jwts_store *st, const char *user_id, const char *keep, size_t *deleted)
{
    file_store *fs = from_base(st);
    MDB_txn *txn;
    jwts_err rc = enter(fs);
    if (rc) return rc;
    rc = write_begin(fs, &txn);
    if (rc) {
        leave(fs);
        return rc;
    }
    size_t plen = strlen(user_id) + 1, n = 0;
    int64_t now = now_ms(fs);
    MDB_cursor *cur = NULL;
    int lrc = 0;
    char keep_buf[FILE_KEY_MAX];
    MDB_val keep_key = {0, NULL};
    if (keep) {
        MDB_val v;
        keep_key = jwts_file_key(user_id, keep, keep_buf);
        lrc = mdb_get(txn, fs->sessions, &keep_key, &v);
        if (!lrc && jwts_file_value_deadline(&v) <= now) lrc = MDB_NOTFOUND;
        if (lrc == MDB_NOTFOUND) {
            write_end(fs, txn, JWTS_E_NOT_FOUND, false);
            leave(fs);
            return jwts_fail(JWTS_E_NOT_FOUND, "delete_user_except: the kept session is not there");
        }
    }
    if (!lrc) lrc = mdb_cursor_open(txn, fs->sessions, &cur);
    MDB_val from = {plen, (void *)user_id};
    while (!lrc) {
        MDB_val k = from, v;
        lrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (lrc || k.mv_size <= plen || k.mv_size > FILE_KEY_MAX || memcmp(k.mv_data, user_id, plen) != 0) break;
        char buf[FILE_KEY_MAX];
        memcpy(buf, k.mv_data, k.mv_size);
        MDB_val key = {k.mv_size, buf};
        if (keep && k.mv_size == keep_key.mv_size && memcmp(buf, keep_buf, k.mv_size) == 0) {
            from = keep_key; /* step past the kept one: the next key after it */
            lrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            if (lrc || k.mv_size <= plen || k.mv_size > FILE_KEY_MAX || memcmp(k.mv_data, user_id, plen) != 0) break;
            memcpy(buf, k.mv_data, k.mv_size);
            key.mv_size = k.mv_size;
        }
        int64_t deadline = jwts_file_value_deadline(&v);
        n += deadline > now;
        lrc = jwts_file_remove(fs, txn, &key, deadline);
    }
    if (cur) mdb_cursor_close(cur);
    if (lrc == MDB_NOTFOUND) lrc = 0;
    rc = write_end(fs, txn, lrc ? jwts_file_fail(fs, lrc, keep ? "delete_user_except" : "delete_user") : JWTS_OK, true);
    leave(fs);
    if (!rc) *deleted = n;
    return rc;
}

static jwts_err fs_delete_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, size_t *deleted)
{
    return delete_user(st, user_id, NULL, deleted);
}

static jwts_err fs_delete_user_except(jwts_store *st, const jwts_ctx *ctx, const char *user_id, const char *keep,
                                      size_t *deleted)
{
    return delete_user(st, user_id, keep, deleted);
}

static jwts_err fs_cleanup(jwts_store *st, const jwts_ctx *ctx, size_t *removed)
{
    file_store *fs = from_base(st);
    jwts_err rc = enter(fs);
    if (rc) return rc;
    rc = jwts_file_sweep(fs, 0, removed);
    leave(fs);
    return rc;
}

/* ---- lifetime -------------------------------------------------------------------------------- */

static void fs_close(jwts_store *st)
{
    file_store *fs = from_base(st);
    pthread_rwlock_wrlock(&fs->gate); /* waits for the calls in flight */
    bool was = fs->closed;
    fs->closed = true;
    pthread_rwlock_unlock(&fs->gate);
    if (was) return;
    jwts_file_threads_stop(fs);
    jwts_file_env_close(fs);
    jwts_file_release(fs);
}

static void fs_destroy(jwts_store *st)
{
    file_store *fs = from_base(st);
    pthread_rwlock_destroy(&fs->gate);
    pthread_mutex_destroy(&fs->pool_lock);
    pthread_cond_destroy(&fs->bg_cond);
    pthread_mutex_destroy(&fs->bg_lock);
    pthread_mutex_destroy(&fs->hook_lock);
    free(fs->path);
    free(st);
}

/* The expiry hook: swapped under hook_lock, so once this returns with fn NULL no call is left. */
static jwts_err fs_on_expired(jwts_store *st, jwts_expired_fn fn, void *arg)
{
    file_store *fs = from_base(st);
    pthread_mutex_lock(&fs->hook_lock);
    fs->on_expired_arg = fn ? arg : NULL;
    __atomic_store_n(&fs->on_expired, fn, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&fs->hook_lock);
    return JWTS_OK;
}

static const jwts_store_ops FILE_OPS = {
    .name = "file",
    .get = fs_get,
    .get_by_id = fs_get_by_id,
    .set = fs_set,
    .del = fs_del,
    .touch = fs_touch,
    .list_user = fs_list_user,
    .delete_user = fs_delete_user,
    .delete_user_except = fs_delete_user_except,
    .rotate = fs_rotate,
    .replace = fs_replace,
    .get_many = fs_get_many,
    .set_many = fs_set_many,
    .delete_many = fs_delete_many,
    .cleanup = fs_cleanup,
    .count = fs_count,
    .on_expired = fs_on_expired,
    .close = fs_close,
    .destroy = fs_destroy,
};

/* The options after the URL's query, with defaults for zero fields; *path gets the directory. */
static jwts_err resolve_options(const jwts_file_options *in, jwts_file_options *o, char **path)
{
    *o = *in;
    *path = NULL;
    if (in->url) {
        jwts_err rc = jwts_file_url_parse(in->url, o, path);
        if (rc) return rc;
    } else if (!in->path || !*in->path) {
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file store: no path or url");
    } else if (!(*path = strdup(in->path))) {
        return jwts_fail(JWTS_E_NO_MEMORY, "file store: out of memory");
    }
    o->url = o->path = NULL;
    if (o->sync != JWTS_FILE_SYNC_FULL && o->sync != JWTS_FILE_SYNC_GROUP)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file store: sync must be full or group");
    if (!o->sync_window_ms) o->sync_window_ms = DEFAULT_WINDOW_MS;
    if (!o->map_size_mb) o->map_size_mb = DEFAULT_MAP_MB;
    if (!o->max_sessions) o->max_sessions = DEFAULT_MAX_SESSIONS;
    if (!o->sweep_interval_ms) o->sweep_interval_ms = DEFAULT_SWEEP_INTERVAL_MS;
    if (!o->sweep_batch) o->sweep_batch = DEFAULT_SWEEP_BATCH;
    if (o->sync_window_ms < 0 || o->sync_window_ms > 60000)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file store: sync_window_ms must be 1..60000");
    if (o->map_size_mb > 1048576)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file store: map_size_mb must be 1..1048576");
    return JWTS_OK;
}

jwts_err jwts_store_file_new(const jwts_file_options *opts, jwts_store **out)
{
    if (!out || !opts) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file store: NULL options or out");
    *out = NULL;
    file_store *fs = calloc(1, sizeof *fs);
    if (!fs) return jwts_fail(JWTS_E_NO_MEMORY, "file store: out of memory");
    fs->base.ops = &FILE_OPS;
    pthread_rwlock_init(&fs->gate, NULL);
    pthread_mutex_init(&fs->pool_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&fs->bg_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&fs->bg_lock, NULL);
    pthread_mutex_init(&fs->hook_lock, NULL);
    jwts_err rc = resolve_options(opts, &fs->opts, &fs->path);
    if (!rc) rc = jwts_file_dir_make(fs);
    if (!rc) rc = jwts_file_claim(fs); /* before LMDB could open it a second time here */
    if (!rc) rc = jwts_file_env_open(fs);
    if (!rc) rc = jwts_file_threads_start(fs);
    if (rc) {
        fs_close(&fs->base);
        fs_destroy(&fs->base);
        return rc;
    }
    *out = &fs->base;
    return JWTS_OK;
}
