/*
 * storefull.c - tell a full store from a client's limit.
 *
 * JWTS_E_LIMIT reaches a handler from two places: the manager refusing a user's session over
 * --max-sessions (the client's doing: 429), and the store refusing a write because it is full
 * (store.h: "JWTS_E_LIMIT when the store is full"; Redis OOM, the memory store at capacity: the
 * server's trouble, 503 with Retry-After). This pass-through store marks the calling thread when
 * the store itself returns JWTS_E_LIMIT. Each request runs on one thread from start to answer, and
 * http.c clears the mark when a request starts, so the mark belongs to the request being answered.
 */
#include <stdlib.h>

#include "daemon.h"
#include "jwtsession/error.h"

typedef struct full_store {
    jwts_store base;
    jwts_store *inner;
} full_store;

static _Thread_local bool store_full;

void jwtsd_storefull_reset(void)
{
    store_full = false;
}

bool jwtsd_storefull_seen(void)
{
    return store_full;
}

static jwts_err mark(jwts_err rc)
{
    if (rc == JWTS_E_LIMIT) store_full = true;
    return rc;
}

#define INNER(st) (((full_store *)(st))->inner)

static jwts_err f_get(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_session **out)
{
    return mark(jwts_store_get(INNER(st), ctx, key, out));
}

static jwts_err f_get_by_id(jwts_store *st, const jwts_ctx *ctx, const char *session_id, jwts_session **out)
{
    return mark(jwts_store_get_by_id(INNER(st), ctx, session_id, out));
}

static jwts_err f_set(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms)
{
    return mark(jwts_store_set(INNER(st), ctx, s, ttl_ms));
}

static jwts_err f_del(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key)
{
    return mark(jwts_store_delete(INNER(st), ctx, key));
}

static jwts_err f_touch(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, int64_t last_seen_ms,
                        int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    return mark(jwts_store_touch(INNER(st), ctx, key, last_seen_ms, idle_expires_at_ms, ttl_ms));
}

static jwts_err f_list_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out)
{
    return mark(jwts_store_list_user(INNER(st), ctx, user_id, out));
}

static jwts_err f_delete_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, size_t *deleted)
{
    return mark(jwts_store_delete_user(INNER(st), ctx, user_id, deleted));
}

static jwts_err f_delete_user_except(jwts_store *st, const jwts_ctx *ctx, const char *user_id, const char *keep,
                                     size_t *deleted)
{
    return mark(jwts_store_delete_user_except(INNER(st), ctx, user_id, keep, deleted));
}

static jwts_err f_rotate(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                         const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], const jwts_refresh_state *next,
                         int64_t ttl_ms, jwts_session **current)
{
    return mark(jwts_store_rotate(INNER(st), ctx, key, expected_hash, next, ttl_ms, current));
}

static jwts_err f_replace(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s,
                          const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms)
{
    return mark(jwts_store_replace(INNER(st), ctx, s, expected_hash, ttl_ms));
}

/* A get never reports a full store: passed through unmarked. */
static jwts_err f_get_async(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_get_done done,
                            void *arg)
{
    return jwts_store_get_async(INNER(st), ctx, key, done, arg);
}

static jwts_err f_get_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                           jwts_session **out)
{
    return mark(jwts_store_get_many(INNER(st), ctx, keys, n, out));
}

static jwts_err f_set_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session *const *sessions, size_t n,
                           int64_t ttl_ms)
{
    return mark(jwts_store_set_many(INNER(st), ctx, sessions, n, ttl_ms));
}

static jwts_err f_delete_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                              size_t *deleted)
{
    return mark(jwts_store_delete_many(INNER(st), ctx, keys, n, deleted));
}

static jwts_err f_cleanup(jwts_store *st, const jwts_ctx *ctx, size_t *removed)
{
    return jwts_store_cleanup(INNER(st), ctx, removed);
}

static jwts_err f_on_expired(jwts_store *st, jwts_expired_fn fn, void *arg)
{
    return jwts_store_on_expired(INNER(st), fn, arg);
}

static jwts_err f_count(jwts_store *st, size_t *sessions)
{
    return jwts_store_count(INNER(st), sessions);
}

static void f_close(jwts_store *st)
{
    jwts_store_close(INNER(st));
}

static void f_destroy(jwts_store *st)
{
    jwts_store_free(INNER(st));
    free(st);
}

/* Keeps the inner store's name: logs and /readyz report the backend. */
static jwts_store_ops full_ops = {
    .get = f_get,
    .set = f_set,
    .del = f_del,
    .touch = f_touch,
    .list_user = f_list_user,
    .delete_user = f_delete_user,
    .delete_user_except = f_delete_user_except,
    .rotate = f_rotate,
    .replace = f_replace,
    .get_many = f_get_many,
    .set_many = f_set_many,
    .delete_many = f_delete_many,
    .cleanup = f_cleanup,
    .count = f_count,
    .close = f_close,
    .destroy = f_destroy,
    .get_async = f_get_async,
    .on_expired = f_on_expired,
    .get_by_id = f_get_by_id, /* the inner store answers UNSUPPORTED itself when it has none */
};

jwts_store *jwtsd_storefull_wrap(jwts_store *st)
{
    full_store *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    /* One process wraps one store: the ops table takes the inner name once. */
    full_ops.name = jwts_store_name(st);
    f->base.ops = &full_ops;
    f->inner = st;
    return &f->base;
}
