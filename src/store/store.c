/*
 * store.c - the jwts_store_* entry points: argument checks, then the backend's vtable.
 *
 * Backends see only well-formed arguments. Batch operations fall back to loops over the single
 * forms when a backend has no batch of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "jwtsession/random.h"
#include "jwtsession/store.h"

#define BATCH_MAX 10000 /* keys or sessions in one batch call */

static jwts_err check_store(const jwts_store *st, const char *op)
{
    if (!st || !st->ops) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: store is NULL", op);
    return JWTS_OK;
}

static jwts_err check_key(const jwts_session_key *key, const char *op)
{
    if (!key) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: key is NULL", op);
    if (!jwts_user_id_valid(key->user_id)) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: user_id is not valid", op);
    if (!jwts_session_id_valid(key->session_id))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: session_id is not valid", op);
    return JWTS_OK;
}

static jwts_err check_ttl(int64_t ttl_ms, const char *op)
{
    if (ttl_ms <= 0) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: ttl_ms must be positive (got %lld)", op, (long long)ttl_ms);
    if (ttl_ms > JWTS_TTL_MAX_MS)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: ttl_ms %lld is over the maximum of 100 years", op, (long long)ttl_ms);
    return JWTS_OK;
}

static jwts_err check_batch(const void *items, size_t n, const char *op)
{
    if (!items && n) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: NULL array", op);
    if (n > BATCH_MAX) return jwts_fail(JWTS_E_LIMIT, "%s: %zu items (max %d)", op, n, BATCH_MAX);
    return JWTS_OK;
}

jwts_err jwts_store_get(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_session **out)
{
    jwts_err rc = check_store(st, "get");
    if (!rc) rc = check_key(key, "get");
    if (!rc && !out) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "get: out is NULL");
    if (rc) return rc;
    *out = NULL;
    return st->ops->get(st, ctx, key, out);
}

jwts_err jwts_store_get_by_id(jwts_store *st, const jwts_ctx *ctx, const char *session_id, jwts_session **out)
{
    jwts_err rc = check_store(st, "get_by_id");
    if (!rc && !jwts_session_id_valid(session_id))
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "get_by_id: session_id is not valid");
    if (!rc && !out) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "get_by_id: out is NULL");
    if (rc) return rc;
    *out = NULL;
    if (!st->ops->get_by_id)
        return jwts_fail(JWTS_E_UNSUPPORTED, "get_by_id: the %s store cannot find a session by its id alone",
                         st->ops->name);
    char tag[JWTS_SESSION_TAG_LEN + 1];
    if (!jwts_session_id_tag(session_id, tag))
        return jwts_fail(JWTS_E_NOT_FOUND, "session not found (an id without a user tag needs its user)");
    return st->ops->get_by_id(st, ctx, session_id, out);
}

jwts_err jwts_store_get_async(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_get_done done,
                              void *arg)
{
    jwts_err rc = check_store(st, "get_async");
    if (!rc) rc = check_key(key, "get_async");
    if (!rc && !done) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "get_async: done is NULL");
    if (rc) return rc;
    if (!st->ops->get_async)
        return jwts_fail(JWTS_E_UNSUPPORTED, "get_async: the %s store has no asynchronous get", st->ops->name);
    return st->ops->get_async(st, ctx, key, done, arg);
}

jwts_err jwts_store_set(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms)
{
    jwts_err rc = check_store(st, "set");
    if (!rc) rc = jwts_session_validate(s);
    if (!rc) rc = check_ttl(ttl_ms, "set");
    if (rc) return rc;
    return st->ops->set(st, ctx, s, ttl_ms);
}

jwts_err jwts_store_delete(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key)
{
    jwts_err rc = check_store(st, "delete");
    if (!rc) rc = check_key(key, "delete");
    if (rc) return rc;
    return st->ops->del(st, ctx, key);
}

jwts_err jwts_store_touch(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, int64_t last_seen_ms,
                          int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    jwts_err rc = check_store(st, "touch");
    if (!rc) rc = check_key(key, "touch");
    if (!rc) rc = check_ttl(ttl_ms, "touch");
    if (!rc && (last_seen_ms < 0 || idle_expires_at_ms < 0))
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "touch: times must not be negative");
    if (rc) return rc;
    return st->ops->touch(st, ctx, key, last_seen_ms, idle_expires_at_ms, ttl_ms);
}

jwts_err jwts_store_list_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out)
{
    if (out) *out = (jwts_session_list){0}; /* empty, safe to free, on every failure */
    jwts_err rc = check_store(st, "list_user");
    if (!rc && !jwts_user_id_valid(user_id)) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "list_user: user_id is not valid");
    if (!rc && !out) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "list_user: out is NULL");
    if (rc) return rc;
    out->items = NULL;
    out->count = 0;
    return st->ops->list_user(st, ctx, user_id, out);
}

jwts_err jwts_store_delete_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, size_t *deleted)
{
    size_t ignored;
    jwts_err rc = check_store(st, "delete_user");
    if (!rc && !jwts_user_id_valid(user_id))
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "delete_user: user_id is not valid");
    if (rc) return rc;
    return st->ops->delete_user(st, ctx, user_id, deleted ? deleted : &ignored);
}

/* delete_user_except for a store without it: the kept session must be there, then the others
 * listed are deleted by key (sessions created meanwhile stay; the kept one is never named). */
static jwts_err delete_user_except_by_list(jwts_store *st, const jwts_ctx *ctx, const char *user_id,
                                           const char *keep, size_t *deleted)
{
    jwts_session_key kk = {user_id, keep};
    jwts_session *kept = NULL;
    jwts_err rc = jwts_store_get(st, ctx, &kk, &kept);
    jwts_session_free(kept);
    if (rc == JWTS_E_NOT_FOUND) return jwts_fail(JWTS_E_NOT_FOUND, "delete_user_except: the kept session is not there");
    if (rc) return rc;
    jwts_session_list list;
    if ((rc = jwts_store_list_user(st, ctx, user_id, &list))) return rc;
    jwts_session_key *keys = list.count ? calloc(list.count, sizeof *keys) : NULL;
    size_t n = 0;
    if (list.count && !keys) rc = jwts_fail(JWTS_E_NO_MEMORY, "delete_user_except: out of memory");
    for (size_t i = 0; keys && i < list.count; i++)
        if (strcmp(list.items[i]->session_id, keep) != 0)
            keys[n++] = (jwts_session_key){list.items[i]->user_id, list.items[i]->session_id};
    *deleted = 0;
    if (!rc && n) rc = jwts_store_delete_many(st, ctx, keys, n, deleted);
    free(keys);
    jwts_session_list_free(&list);
    return rc;
}

jwts_err jwts_store_delete_user_except(jwts_store *st, const jwts_ctx *ctx, const char *user_id,
                                       const char *keep_session_id, size_t *deleted)
{
    size_t ignored;
    jwts_err rc = check_store(st, "delete_user_except");
    if (!rc && !jwts_user_id_valid(user_id))
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "delete_user_except: user_id is not valid");
    if (!rc && !jwts_session_id_valid(keep_session_id))
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "delete_user_except: the kept session id is not valid");
    if (rc) return rc;
    if (!deleted) deleted = &ignored;
    if (!st->ops->delete_user_except) return delete_user_except_by_list(st, ctx, user_id, keep_session_id, deleted);
    return st->ops->delete_user_except(st, ctx, user_id, keep_session_id, deleted);
}

jwts_err jwts_store_rotate(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                           const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], const jwts_refresh_state *next,
                           int64_t ttl_ms, jwts_session **current)
{
    jwts_err rc = check_store(st, "rotate");
    if (!rc) rc = check_key(key, "rotate");
    if (!rc) rc = check_ttl(ttl_ms, "rotate");
    if (!rc && (!expected_hash || !next)) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "rotate: NULL hash or state");
    if (!rc && next->rotated_at_ms < 0) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "rotate: negative rotated_at");
    if (rc) return rc;
    if (current) *current = NULL;
    return st->ops->rotate(st, ctx, key, expected_hash, next, ttl_ms, current);
}

jwts_err jwts_store_replace(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s,
                            const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms)
{
    jwts_err rc = check_store(st, "replace");
    if (!rc) rc = jwts_session_validate(s);
    if (!rc) rc = check_ttl(ttl_ms, "replace");
    if (!rc && !expected_hash) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "replace: NULL hash");
    if (rc) return rc;
    if (!st->ops->replace) return jwts_fail(JWTS_E_UNSUPPORTED, "replace: the %s store has no replace", st->ops->name);
    return st->ops->replace(st, ctx, s, expected_hash, ttl_ms);
}

jwts_err jwts_store_get_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                             jwts_session **out)
{
    jwts_err rc = check_store(st, "get_many");
    if (!rc) rc = check_batch(keys, n, "get_many");
    if (!rc && !out && n) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "get_many: out is NULL");
    for (size_t i = 0; !rc && i < n; i++) rc = check_key(&keys[i], "get_many");
    if (rc) return rc;
    if (n == 0) return JWTS_OK;
    memset(out, 0, n * sizeof *out);
    if (st->ops->get_many) return st->ops->get_many(st, ctx, keys, n, out);
    for (size_t i = 0; i < n; i++) {
        rc = st->ops->get(st, ctx, &keys[i], &out[i]);
        if (rc == JWTS_E_NOT_FOUND) continue;
        if (rc) {
            for (size_t j = 0; j < i; j++) jwts_session_free(out[j]), out[j] = NULL;
            return rc;
        }
    }
    return JWTS_OK;
}

jwts_err jwts_store_set_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session *const *sessions, size_t n,
                             int64_t ttl_ms)
{
    jwts_err rc = check_store(st, "set_many");
    if (!rc) rc = check_batch(sessions, n, "set_many");
    if (!rc) rc = check_ttl(ttl_ms, "set_many");
    for (size_t i = 0; !rc && i < n; i++) rc = jwts_session_validate(sessions[i]);
    if (rc) return rc;
    if (n == 0) return JWTS_OK;
    if (st->ops->set_many) return st->ops->set_many(st, ctx, sessions, n, ttl_ms);
    for (size_t i = 0; i < n && !rc; i++) rc = st->ops->set(st, ctx, sessions[i], ttl_ms);
    return rc;
}

jwts_err jwts_store_delete_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                                size_t *deleted)
{
    jwts_err rc = check_store(st, "delete_many");
    if (!rc) rc = check_batch(keys, n, "delete_many");
    for (size_t i = 0; !rc && i < n; i++) rc = check_key(&keys[i], "delete_many");
    if (rc) return rc;
    size_t count = 0;
    if (n && st->ops->delete_many) {
        rc = st->ops->delete_many(st, ctx, keys, n, &count);
    } else {
        for (size_t i = 0; i < n && !rc; i++) {
            rc = st->ops->del(st, ctx, &keys[i]);
            if (rc == JWTS_OK) count++;
            if (rc == JWTS_E_NOT_FOUND) rc = JWTS_OK;
        }
    }
    if (deleted) *deleted = count;
    return rc;
}

jwts_err jwts_store_cleanup(jwts_store *st, const jwts_ctx *ctx, size_t *removed)
{
    size_t ignored;
    jwts_err rc = check_store(st, "cleanup");
    if (rc) return rc;
    if (!removed) removed = &ignored;
    *removed = 0;
    return st->ops->cleanup ? st->ops->cleanup(st, ctx, removed) : JWTS_OK;
}

jwts_err jwts_store_on_expired(jwts_store *st, jwts_expired_fn fn, void *arg)
{
    jwts_err rc = check_store(st, "on_expired");
    if (rc) return rc;
    if (!st->ops->on_expired)
        return jwts_fail(JWTS_E_UNSUPPORTED, "the %s store cannot report expiries", st->ops->name);
    return st->ops->on_expired(st, fn, arg);
}

jwts_err jwts_store_count(jwts_store *st, size_t *sessions)
{
    jwts_err rc = check_store(st, "count");
    if (!rc && !sessions) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "count: out is NULL");
    if (rc) return rc;
    if (!st->ops->count) return jwts_fail(JWTS_E_UNSUPPORTED, "count: the %s store does not know", st->ops->name);
    return st->ops->count(st, sessions);
}

const char *jwts_store_name(const jwts_store *st) { return st && st->ops ? st->ops->name : "none"; }

void jwts_store_close(jwts_store *st)
{
    if (st && st->ops) st->ops->close(st);
}

void jwts_store_free(jwts_store *st)
{
    if (!st || !st->ops) return;
    st->ops->close(st);
    st->ops->destroy(st);
}
