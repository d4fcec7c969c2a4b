/*
 * store_observed.c - jwts_store_observe_new(): a decorator store that traces and measures every
 * operation of any backend at the jwts_store interface, so backends stay plain.
 *
 * Arguments reach this store already checked by the jwts_store_* wrappers, so each operation
 * calls the inner backend's vtable directly. Each instance has its own copy of the vtable: a
 * batch entry is left NULL when the inner backend has none, so the wrappers loop over the
 * observed single operations (one span per round trip, as it really happens).
 *
 * Per operation: one clock read before and one after (only if metrics or a sampled span need
 * them), a span (only if sampled), one counter increment and one histogram observation.
 */
#include <stdlib.h>
#include <string.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "jwtsession/observe.h"
#include "observe/metrics_int.h"
#include "observe/trace_int.h"

enum {
    OP_GET,
    OP_SET,
    OP_DELETE,
    OP_TOUCH,
    OP_LIST_USER,
    OP_DELETE_USER,
    OP_ROTATE,
    OP_REPLACE,
    OP_GET_MANY,
    OP_SET_MANY,
    OP_DELETE_MANY,
    OP_CLEANUP,
    OP_COUNT,
    OP_GET_BY_ID,
    OPS
};

static const char *const OP_NAMES[OPS] = {"get",         "set",     "delete",  "touch",    "list_user",
                                          "delete_user", "rotate",  "replace", "get_many", "set_many",
                                          "delete_many", "cleanup", "count",    "get_by_id"};
static const char *const SPAN_NAMES[OPS] = {
    "jwtsession.store.get",      "jwtsession.store.set",         "jwtsession.store.delete",
    "jwtsession.store.touch",    "jwtsession.store.list_user",   "jwtsession.store.delete_user",
    "jwtsession.store.rotate",   "jwtsession.store.replace",     "jwtsession.store.get_many",
    "jwtsession.store.set_many", "jwtsession.store.delete_many", "jwtsession.store.cleanup",
    "jwtsession.store.count",    "jwtsession.store.get_by_id"};

typedef struct observed {
    jwts_store base;
    jwts_store_ops ops;
    jwts_store *inner;
    jwts_metrics *m;
    jwts_tracer *t;
    const char *db_system;
    jwts_span_kind kind;
    jwts_histogram *duration[OPS];
    jwts_counter *result[OPS][JWTS_E__COUNT];
} observed;

typedef struct scope {
    int64_t t0;
    jwts_span *span;
    jwts_ctx child;
} scope;

static observed *from_base(jwts_store *st)
{
    return (observed *)st;
}

static inline const jwts_ctx *begin(observed *o, int op, const jwts_ctx *ctx, scope *sc, size_t batch)
{
    sc->t0 = o->m ? jwts_fast_ns() : 0;
    sc->span = NULL;
    if (!o->t || trace_passes_through(o->t, ctx)) return ctx; /* an unsampled trace: no span to make */
    sc->span = trace_span_start_at(o->t, SPAN_NAMES[op], o->kind, ctx, &sc->child, sc->t0);
    if (sc->span) {
        jwts_span_set_str(sc->span, "db.system", o->db_system);
        jwts_span_set_str(sc->span, "db.operation", OP_NAMES[op]);
        if (batch) jwts_span_set_int(sc->span, "db.operation.batch.size", (int64_t)batch);
    }
    return &sc->child;
}

static inline jwts_err end(observed *o, int op, scope *sc, jwts_err rc)
{
    if (!o->m && !sc->span) return rc;
    if (rc == JWTS_E_WOULD_BLOCK) { /* a local-only attempt that did not happen: the retry counts */
        trace_span_discard(sc->span);
        return rc;
    }
    int64_t now = jwts_fast_ns();
    if (sc->span) {
        if (rc == JWTS_E_NOT_FOUND || rc == JWTS_E_CONFLICT)
            jwts_span_set_str(sc->span, "jwtsession.result", jwts_errname(rc));
        else
            jwts_span_set_status(sc->span, rc);
        trace_span_end_at(sc->span, now);
    }
    if (o->m) {
        metrics_count_observe_ns(o->result[op][(unsigned)rc < JWTS_E__COUNT ? rc : JWTS_E_INTERNAL], o->duration[op],
                                 now - sc->t0);
    }
    return rc;
}

static jwts_err obs_get(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_session **out)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_GET, ctx, &sc, 0);
    return end(o, OP_GET, &sc, o->inner->ops->get(o->inner, c, key, out));
}

static jwts_err obs_get_by_id(jwts_store *st, const jwts_ctx *ctx, const char *session_id, jwts_session **out)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_GET_BY_ID, ctx, &sc, 0);
    return end(o, OP_GET_BY_ID, &sc, o->inner->ops->get_by_id(o->inner, c, session_id, out));
}

static jwts_err obs_set(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_SET, ctx, &sc, 0);
    return end(o, OP_SET, &sc, o->inner->ops->set(o->inner, c, s, ttl_ms));
}

static jwts_err obs_del(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_DELETE, ctx, &sc, 0);
    return end(o, OP_DELETE, &sc, o->inner->ops->del(o->inner, c, key));
}

static jwts_err obs_touch(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, int64_t last_seen_ms,
                          int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_TOUCH, ctx, &sc, 0);
    return end(o, OP_TOUCH, &sc, o->inner->ops->touch(o->inner, c, key, last_seen_ms, idle_expires_at_ms, ttl_ms));
}

static jwts_err obs_list_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_LIST_USER, ctx, &sc, 0);
    return end(o, OP_LIST_USER, &sc, o->inner->ops->list_user(o->inner, c, user_id, out));
}

static jwts_err obs_delete_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, size_t *deleted)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_DELETE_USER, ctx, &sc, 0);
    return end(o, OP_DELETE_USER, &sc, o->inner->ops->delete_user(o->inner, c, user_id, deleted));
}

/* Counted and traced as delete_user (one metric label per kind of store call). */
static jwts_err obs_delete_user_except(jwts_store *st, const jwts_ctx *ctx, const char *user_id, const char *keep,
                                       size_t *deleted)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_DELETE_USER, ctx, &sc, 0);
    return end(o, OP_DELETE_USER, &sc, jwts_store_delete_user_except(o->inner, c, user_id, keep, deleted));
}

static jwts_err obs_rotate(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                           const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], const jwts_refresh_state *next,
                           int64_t ttl_ms, jwts_session **current)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_ROTATE, ctx, &sc, 0);
    return end(o, OP_ROTATE, &sc, o->inner->ops->rotate(o->inner, c, key, expected_hash, next, ttl_ms, current));
}

static jwts_err obs_replace(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s,
                            const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_REPLACE, ctx, &sc, 0);
    return end(o, OP_REPLACE, &sc, o->inner->ops->replace(o->inner, c, s, expected_hash, ttl_ms));
}

static jwts_err obs_get_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                             jwts_session **out)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_GET_MANY, ctx, &sc, n);
    return end(o, OP_GET_MANY, &sc, o->inner->ops->get_many(o->inner, c, keys, n, out));
}

/* An observed asynchronous get in flight: its scope lives until the completion. */
typedef struct async_get {
    observed *o;
    scope sc;
    jwts_get_done done;
    void *arg;
} async_get;

static void obs_got(void *arg, jwts_err rc, jwts_session *s)
{
    async_get *a = arg;
    jwts_get_done done = a->done;
    void *done_arg = a->arg;
    end(a->o, OP_GET, &a->sc, rc);
    free(a);
    done(done_arg, rc, s);
}

static jwts_err obs_get_async(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_get_done done,
                              void *arg)
{
    observed *o = from_base(st);
    async_get *a = malloc(sizeof *a);
    if (!a) return jwts_fail(JWTS_E_NO_MEMORY, "store get_async: out of memory");
    *a = (async_get){.o = o, .done = done, .arg = arg};
    const jwts_ctx *c = begin(o, OP_GET, ctx, &a->sc, 0);
    jwts_err rc = o->inner->ops->get_async(o->inner, c, key, obs_got, a);
    if (rc) { /* not started: nothing to count */
        trace_span_discard(a->sc.span);
        free(a);
    }
    return rc;
}

static jwts_err obs_set_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session *const *sessions, size_t n,
                             int64_t ttl_ms)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_SET_MANY, ctx, &sc, n);
    return end(o, OP_SET_MANY, &sc, o->inner->ops->set_many(o->inner, c, sessions, n, ttl_ms));
}

static jwts_err obs_delete_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                                size_t *deleted)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_DELETE_MANY, ctx, &sc, n);
    return end(o, OP_DELETE_MANY, &sc, o->inner->ops->delete_many(o->inner, c, keys, n, deleted));
}

static jwts_err obs_cleanup(jwts_store *st, const jwts_ctx *ctx, size_t *removed)
{
    observed *o = from_base(st);
    scope sc;
    const jwts_ctx *c = begin(o, OP_CLEANUP, ctx, &sc, 0);
    return end(o, OP_CLEANUP, &sc, o->inner->ops->cleanup(o->inner, c, removed));
}

/* The expiry hook goes to the backend unmeasured (it is set once, not an operation). */
static jwts_err obs_on_expired(jwts_store *st, jwts_expired_fn fn, void *arg)
{
    observed *o = from_base(st);
    return o->inner->ops->on_expired(o->inner, fn, arg);
}

/* count has no ctx and is what a scrape calls: measured, never traced. */
static jwts_err obs_count(jwts_store *st, size_t *sessions)
{
    observed *o = from_base(st);
    scope sc = {.t0 = o->m ? jwts_fast_ns() : 0};
    return end(o, OP_COUNT, &sc, o->inner->ops->count(o->inner, sessions));
}

static void obs_close(jwts_store *st)
{
    jwts_store_close(from_base(st)->inner);
}

static void obs_destroy(jwts_store *st)
{
    observed *o = from_base(st);
    jwts_metrics_detach(o->m, o);
    jwts_store_free(o->inner);
    free(o);
}

/* The active-sessions gauge: the inner store's own count (not observed: a scrape is no traffic). */
static bool active_sessions(void *arg, double *value)
{
    observed *o = arg;
    size_t n;
    if (!o->inner->ops->count || o->inner->ops->count(o->inner, &n) != JWTS_OK) return false;
    *value = (double)n;
    return true;
}

static jwts_err register_metrics(observed *o, const char *backend)
{
    jwts_err rc = JWTS_OK;
    for (int op = 0; op < OPS && !rc; op++) {
        jwts_label l[] = {{"backend", backend}, {"op", OP_NAMES[op]}};
        rc = jwts_metrics_histogram(o->m, "jwtsession_store_duration_seconds",
                                    "Round-trip latency of store operations in seconds.", l, 2, NULL, 0,
                                    &o->duration[op]);
        for (int e = 0; e < JWTS_E__COUNT && !rc; e++) {
            jwts_label r[] = {{"backend", backend}, {"op", OP_NAMES[op]}, {"result", metrics_result_name((jwts_err)e)}};
            rc = metrics_register(o->m, TYPE_COUNTER, "jwtsession_store_operations_total",
                                  "Store operations by backend, operation and result (ok or a JWTS_E_* name).", r, 3,
                                  NULL, 0, e != JWTS_OK, (series **)&o->result[op][e]);
        }
    }
    if (!rc)
        rc = jwts_metrics_gauge_fn(o->m, "jwtsession_active_sessions",
                                   "Sessions the store holds now, where the backend can count them.",
                                   &(jwts_label){"backend", backend}, 1, active_sessions, o);
    return rc;
}

jwts_err jwts_store_observe_new(jwts_store *inner, jwts_metrics *m, jwts_tracer *t, jwts_store **out)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "store_observe_new: out is NULL");
    *out = NULL;
    if (!inner || !inner->ops) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "store_observe_new: inner store is NULL");
    observed *o = calloc(1, sizeof *o);
    if (!o) return jwts_fail(JWTS_E_NO_MEMORY, "store_observe_new");
    const jwts_store_ops *in = inner->ops;
    const char *name = in->name ? in->name : "unknown";
    o->ops = (jwts_store_ops){
        .name = name,
        .get = obs_get,
        .set = obs_set,
        .del = obs_del,
        .touch = obs_touch,
        .list_user = obs_list_user,
        .delete_user = obs_delete_user,
        .delete_user_except = obs_delete_user_except,
        .rotate = obs_rotate,
        .replace = in->replace ? obs_replace : NULL,
        .get_many = in->get_many ? obs_get_many : NULL,
        .set_many = in->set_many ? obs_set_many : NULL,
        .delete_many = in->delete_many ? obs_delete_many : NULL,
        .cleanup = in->cleanup ? obs_cleanup : NULL,
        .count = in->count ? obs_count : NULL,
        .close = obs_close,
        .destroy = obs_destroy,
        .get_async = in->get_async ? obs_get_async : NULL,
        .on_expired = in->on_expired ? obs_on_expired : NULL,
        .get_by_id = in->get_by_id ? obs_get_by_id : NULL,
    };
    o->base.ops = &o->ops;
    o->inner = inner;
    o->m = m;
    o->t = t;
    bool redis = strncmp(name, "redis", 5) == 0;
    o->db_system = redis ? "redis" : name;
    o->kind = strcmp(name, "memory") == 0 ? JWTS_SPAN_INTERNAL : JWTS_SPAN_CLIENT;
    jwts_err rc = m ? register_metrics(o, name) : JWTS_OK;
    if (rc) {
        jwts_metrics_detach(m, o);
        free(o);
        return rc;
    }
    *out = &o->base;
    return JWTS_OK;
}
