/*
 * redis_store.c - the Redis store: the jwts_store vtable over a pool or an auto-pipeline.
 *
 * Keys (all of one user share the hash tag {<tag>}, the user's routing tag from jwts_user_tag,
 * so they live in one cluster slot):
 *   <prefix>{<tag>}:s:<session id>   the session record (redis_record.c), with a PX TTL
 *   <prefix>{<tag>}:u:<user id>      sorted set of the user's session ids, scored by expiry
 * A generated session id ends with its user's tag, so get_by_id builds the record key from the id
 * alone. Users of one tag share a slot, and could name the same record key with the same session
 * id: the record holds its user id and the scripts act on a record only for its own user
 * (redis_scripts.c: owns()); reads check it here too. User ids cannot contain braces
 * (jwts_user_id_valid), so the index key's user is exact. Every operation is one round trip: get is a plain GET, get_many an
 * MGET, the rest are Lua scripts (redis_scripts.c). Each call is bounded by the earlier of its
 * ctx deadline and command_timeout_ms.
 *
 * The same vtable serves the cluster and sentinel stores: only the runner differs. On a cluster
 * (split_by_slot) a batch over many users is cut into one command per slot: get_many sends its
 * MGETs in one runner call (the cluster runner pipelines those of one node), set_many and
 * delete_many run their per-slot scripts in turn.
 *
 * With a near cache (near_cache.h), get asks it first; a miss reads GET and PTTL in one round
 * trip and offers the reply to it; every write forgets the keys it touched once Redis answered
 * (so this instance never serves its own overwritten state), and a touch of a cached session is
 * queued for the cache's writer instead of a round trip on the caller's thread.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "jwtsession/random.h"
#include "store/near_cache.h"
#include "store/redis.h"

#define DEFAULT_PREFIX "jwts:"
#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 6379
#define DEFAULT_POOL 8
#define MAX_POOL 1024
#define MAX_PIPELINES 64
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_COMMAND_TIMEOUT_MS 2000
#define KEY_MAX (JWTS_REDIS_PREFIX_MAX + JWTS_USER_ID_MAX + JWTS_SESSION_ID_MAX + 16)
#define TAG_BUF (JWTS_SESSION_TAG_LEN + 1)

typedef struct redis_store {
    jwts_store base;
    jwts_store_ops ops; /* REDIS_OPS under this store's name */
    redis_config cfg;   /* the single-node store's server; timeouts for all */
    char *prefix;
    redis_runner *runner;
    redis_tls *tls; /* NULL: plain; outlives the runner */
    bool split_by_slot;
    atomic_bool closed;
    near_cache *cache; /* the near cache (near_cache.c), or NULL */
    redis_events *events; /* the lifecycle events stream (docs/events.md), or NULL */
    bool pipelined;       /* the runner is the auto-pipeline */
} redis_store;

static redis_store *from_base(jwts_store *st)
{
    return (redis_store *)st;
}

/* ---- keys -------------------------------------------------------------------------------- */

/* src into dst (cap bytes, at least 1), cut to fit and terminated; returns the length. Keys are
 * built with it on every call, where snprintf's format parsing showed in profiles. */
static size_t put(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

/* <prefix>{<tag>}<suffix>[<rest>] into buf (KEY_MAX bytes, which checked ids fit); returns the
 * length. */
static size_t make_key(const redis_store *rs, char *buf, const char *tag, const char *suffix, const char *rest)
{
    const char *parts[] = {rs->prefix, "{", tag, "}", suffix, rest ? rest : ""};
    size_t len = 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) len += put(buf + len, KEY_MAX - len, parts[i]);
    return len;
}

/* The record key of (user, sid); sid NULL: the prefix of the user's record keys. The wrappers
 * checked user, so it has a tag. */
static size_t record_key(const redis_store *rs, char *buf, const char *user, const char *sid)
{
    char tag[TAG_BUF];
    jwts_user_tag(user, tag);
    return make_key(rs, buf, tag, ":s:", sid);
}

static size_t index_key(const redis_store *rs, char *buf, const char *user)
{
    char tag[TAG_BUF];
    jwts_user_tag(user, tag);
    return make_key(rs, buf, tag, ":u:", user);
}

/* true if the session is user's (user NULL: anyone's); a record key may hold the session of
 * another user of the same tag. */
static bool is_users(const jwts_session *s, const char *user)
{
    return !user || strcmp(s->user_id, user) == 0;
}

/* ---- calls ------------------------------------------------------------------------------- */

/* Run a script, in its event form when the store keeps an events stream. */
static jwts_err run_script(redis_store *rs, int64_t deadline_ns, redis_script id, int nkeys, int nargs,
                           const char *const *argv, const size_t *lens, redisReply **reply)
{
    return jwts_redis_script_run_ev(rs->runner, deadline_ns, id, nkeys, nargs, argv, lens, rs->events, reply);
}

/* Check the store is open and compute the call's deadline. */
static jwts_err begin(redis_store *rs, const jwts_ctx *ctx, int64_t *deadline_ns)
{
    if (atomic_load_explicit(&rs->closed, memory_order_acquire))
        return jwts_fail(JWTS_E_CLOSED, "redis store is closed");
    if (jwts_ctx_expired(ctx)) return jwts_fail(JWTS_E_TIMEOUT, "redis: the deadline passed before the call");
    if (jwts_ctx_local_only(ctx))
        return jwts_fail(JWTS_E_WOULD_BLOCK, "redis: the call needs the server (local-only ctx)");
    int64_t d = jwts_deadline_in_ms(rs->cfg.command_timeout_ms);
    if (ctx && ctx->deadline_ns && ctx->deadline_ns < d) d = ctx->deadline_ns;
    *deadline_ns = d;
    return JWTS_OK;
}

/* Fail with the error in r, or PROTOCOL if r is not of the expected type. */
static jwts_err unexpected(const redisReply *r, const char *op)
{
    if (r && r->type == REDIS_REPLY_ERROR) return jwts_redis_reply_fail(r, op);
    return jwts_fail(JWTS_E_PROTOCOL, "redis %s: unexpected reply type %d", op, r ? r->type : -1);
}

static jwts_err not_found(void)
{
    return jwts_fail(JWTS_E_NOT_FOUND, "session not found");
}

/* Decode a record reply and check it is the session at (user, sid). */
static jwts_err decode_for(const redisReply *r, const char *user, const char *sid, jwts_session **out)
{
    jwts_err rc = jwts_redis_record_decode(r->str, r->len, out);
    if (rc) return rc;
    if ((user && strcmp((*out)->user_id, user) != 0) || (sid && strcmp((*out)->session_id, sid) != 0)) {
        jwts_session_free(*out);
        *out = NULL;
        return jwts_fail(JWTS_E_MALFORMED, "redis record: holds another session than its key names");
    }
    return JWTS_OK;
}

/* A session read (*out) for user: JWTS_OK if it is user's, else it is dropped: not found. */
static jwts_err hit_for(const char *user, jwts_session **out)
{
    if (is_users(*out, user)) return JWTS_OK;
    jwts_session_free(*out);
    *out = NULL;
    return not_found();
}

/* The commands of a get of record rec: GET, and PTTL too for a cache miss (the entry's end). */
typedef struct get_cmds {
    const char *argv[2], *pttl_argv[2];
    size_t lens[2], pttl_lens[2];
    redis_cmd cmds[2];
    size_t n;
} get_cmds;

static void get_cmds_init(get_cmds *g, const char *rec, size_t rec_len, bool pttl)
{
    *g = (get_cmds){.argv = {"GET", rec},
                    .pttl_argv = {"PTTL", rec},
                    .lens = {3, rec_len},
                    .pttl_lens = {4, rec_len},
                    .n = pttl ? 2 : 1};
    g->cmds[0] = (redis_cmd){2, g->argv, g->lens};
    g->cmds[1] = (redis_cmd){2, g->pttl_argv, g->pttl_lens};
}

/* What the replies r of a get of (user, sid) at rec say, into *out (user NULL: the session at
 * rec, whoever's it is); a miss's ticket t (if any) is settled in the cache with the session or
 * without it. A record of another user (of the same tag) is not found, and is still cached: the
 * cache holds records by key. */
static jwts_err take_get_reply(redis_store *rs, const char *user, const char *sid, const char *rec, size_t rec_len,
                               const nc_ticket *t, redisReply **r, jwts_session **out)
{
    jwts_err rc;
    if (r[0]->type == REDIS_REPLY_NIL)
        rc = not_found();
    else if (r[0]->type == REDIS_REPLY_STRING)
        rc = decode_for(r[0], NULL, sid, out);
    else
        rc = unexpected(r[0], "GET");
    if (t->id) {
        int64_t pttl = r[1]->type == REDIS_REPLY_INTEGER ? (int64_t)r[1]->integer : -2;
        jwts_nc_fill(rs->cache, rec, rec_len, t, rc ? NULL : *out, pttl);
    }
    if (!rc && !is_users(*out, user)) rc = hit_for(user, out);
    return rc;
}

/* Get the record at rec (the session sid of user; user NULL: of any user), cache first. */
static jwts_err get_record(redis_store *rs, const jwts_ctx *ctx, const char *user, const char *sid, const char *rec,
                           size_t rec_len, jwts_session **out)
{
    if (jwts_ctx_local_only(ctx) && rs->cache && !atomic_load_explicit(&rs->closed, memory_order_acquire) &&
        jwts_nc_lookup(rs->cache, rec, rec_len, out, NULL) == NC_HIT)
        return hit_for(user, out);
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc) return rc;
    nc_ticket t = {0};
    if (rs->cache && jwts_nc_lookup(rs->cache, rec, rec_len, out, &t) == NC_HIT) return hit_for(user, out);
    get_cmds g;
    get_cmds_init(&g, rec, rec_len, t.id != 0);
    redisReply *r[2] = {NULL, NULL};
    rc = rs->runner->ops->run(rs->runner, deadline, g.cmds, g.n, r);
    if (rc) {
        if (t.id) jwts_nc_fill(rs->cache, rec, rec_len, &t, NULL, -2);
        return rc;
    }
    rc = take_get_reply(rs, user, sid, rec, rec_len, &t, r, out);
    for (size_t i = 0; i < g.n; i++) freeReplyObject(r[i]);
    return rc;
}

static jwts_err redis_get(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_session **out)
{
    redis_store *rs = from_base(st);
    char rec[KEY_MAX];
    size_t rec_len = record_key(rs, rec, key->user_id, key->session_id);
    return get_record(rs, ctx, key->user_id, key->session_id, rec, rec_len, out);
}

/* By id alone: the id's tag names the record key; the record's user must have that tag. */
static jwts_err redis_get_by_id(jwts_store *st, const jwts_ctx *ctx, const char *session_id, jwts_session **out)
{
    redis_store *rs = from_base(st);
    char tag[TAG_BUF], user_tag[TAG_BUF], rec[KEY_MAX];
    if (!jwts_session_id_tag(session_id, tag)) return not_found();
    size_t rec_len = make_key(rs, rec, tag, ":s:", session_id);
    jwts_err rc = get_record(rs, ctx, NULL, session_id, rec, rec_len, out);
    if (!rc && (!jwts_user_tag((*out)->user_id, user_tag) || strcmp(user_tag, tag) != 0)) {
        jwts_session_free(*out);
        *out = NULL;
        rc = jwts_fail(JWTS_E_MALFORMED, "redis record: holds a session of a user of another tag than its key");
    }
    return rc;
}

/* An asynchronous get in flight: what its completion needs. */
typedef struct get_op {
    redis_store *rs;
    jwts_get_done done;
    void *arg;
    nc_ticket t;
    size_t rec_len;
    char user[JWTS_USER_ID_MAX + 1], sid[JWTS_SESSION_ID_MAX + 1], rec[KEY_MAX];
} get_op;

static void get_replied(void *arg, jwts_err rc, redisReply **r)
{
    get_op *op = arg;
    jwts_session *s = NULL;
    if (!rc)
        rc = take_get_reply(op->rs, op->user, op->sid, op->rec, op->rec_len, &op->t, r, &s);
    else if (op->t.id)
        jwts_nc_fill(op->rs->cache, op->rec, op->rec_len, &op->t, NULL, -2);
    op->done(op->arg, rc, s);
    free(op);
}

static jwts_err redis_get_async(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, jwts_get_done done,
                                void *arg)
{
    redis_store *rs = from_base(st);
    jwts_session *s = NULL;
    if (jwts_ctx_local_only(ctx)) { /* answered at once: a hit, or WOULD_BLOCK */
        jwts_err rc = redis_get(st, ctx, key, &s);
        if (rc == JWTS_E_CLOSED) return rc;
        done(arg, rc, s);
        return JWTS_OK;
    }
    get_op *op = NULL;
    if (!rs->runner->ops->run_async) { /* only a hit can be answered without a blocking call */
        jwts_ctx local = ctx ? *ctx : (jwts_ctx){0};
        local.flags |= JWTS_CTX_LOCAL_ONLY;
        if (redis_get(st, &local, key, &s) == JWTS_OK) {
            done(arg, JWTS_OK, s);
            return JWTS_OK;
        }
        return jwts_fail(JWTS_E_UNSUPPORTED,
                         "redis get_async: this runner has no asynchronous path (use pipeline=true)");
    }
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc == JWTS_E_CLOSED) return rc;
    if (rc) {
        done(arg, rc, NULL);
        return JWTS_OK;
    }
    if (!(op = calloc(1, sizeof *op))) return jwts_fail(JWTS_E_NO_MEMORY, "redis get_async: out of memory");
    *op = (get_op){.rs = rs, .done = done, .arg = arg};
    put(op->user, sizeof op->user, key->user_id);
    put(op->sid, sizeof op->sid, key->session_id);
    op->rec_len = record_key(rs, op->rec, key->user_id, key->session_id);
    if (rs->cache && jwts_nc_lookup(rs->cache, op->rec, op->rec_len, &s, &op->t) == NC_HIT) {
        free(op);
        rc = hit_for(key->user_id, &s);
        done(arg, rc, s);
        return JWTS_OK;
    }
    get_cmds g;
    get_cmds_init(&g, op->rec, op->rec_len, op->t.id != 0);
    rc = rs->runner->ops->run_async(rs->runner, deadline, g.cmds, g.n, get_replied, op);
    if (rc) {
        if (op->t.id) jwts_nc_fill(rs->cache, op->rec, op->rec_len, &op->t, NULL, -2);
        free(op);
    }
    return rc;
}

/* After a write to (user, sid) was attempted: drop what the near cache holds of it (probe: the
 * write was acknowledged; time its own invalidation). */
static void forget(redis_store *rs, const char *user, const char *sid, bool probe)
{
    if (!rs->cache) return;
    char rec[KEY_MAX];
    jwts_nc_forget(rs->cache, rec, record_key(rs, rec, user, sid), probe);
}

/* Arguments of a script call over n sessions or keys, allocated in one block. */
typedef struct script_args {
    const char **argv;
    size_t *lens;
    char *keys; /* 2 * n keys of KEY_MAX bytes */
    char **blobs;
    size_t n;
} script_args;

static void args_free(script_args *a)
{
    for (size_t i = 0; a->blobs && i < a->n; i++) free(a->blobs[i]);
    free(a->blobs);
    free(a->argv);
    free(a->lens);
    free(a->keys);
}

static jwts_err args_alloc(script_args *a, size_t n, size_t nargs, bool blobs)
{
    *a = (script_args){.n = n};
    a->argv = calloc(nargs, sizeof *a->argv);
    a->lens = calloc(nargs, sizeof *a->lens);
    a->keys = malloc(2 * n * KEY_MAX);
    if (blobs) a->blobs = calloc(n, sizeof *a->blobs);
    if (!a->argv || !a->lens || !a->keys || (blobs && !a->blobs)) {
        args_free(a);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    }
    return JWTS_OK;
}

/* KEYS[2i+1] = index of user i, KEYS[2i+2] = record of (user i, sid i). */
static void put_key_pair(const redis_store *rs, script_args *a, size_t i, const char *user, const char *sid)
{
    char *idx = a->keys + 2 * i * KEY_MAX, *rec = idx + KEY_MAX;
    a->argv[2 * i] = idx, a->lens[2 * i] = index_key(rs, idx, user);
    a->argv[2 * i + 1] = rec, a->lens[2 * i + 1] = record_key(rs, rec, user, sid);
}

static jwts_err set_many_one(jwts_store *st, const jwts_ctx *ctx, const jwts_session *const *sessions, size_t n,
                             int64_t ttl_ms)
{
    redis_store *rs = from_base(st);
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc) return rc;
    script_args a;
    size_t nkeys = 2 * n, nargs = 1 + 2 * n;
    if ((rc = args_alloc(&a, n, nkeys + nargs, true))) return rc;
    char ttl[24];
    const char **args = a.argv + nkeys;
    size_t *args_len = a.lens + nkeys;
    args[0] = ttl, args_len[0] = (size_t)snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    for (size_t i = 0; i < n && !rc; i++) {
        const jwts_session *s = sessions[i];
        put_key_pair(rs, &a, i, s->user_id, s->session_id);
        args[1 + 2 * i] = s->session_id, args_len[1 + 2 * i] = strlen(s->session_id);
        rc = jwts_redis_record_encode(s, &a.blobs[i], &args_len[2 + 2 * i]);
        args[2 + 2 * i] = a.blobs[i];
    }
    redisReply *r = NULL;
    if (!rc)
        rc = run_script(rs, deadline, JWTS_SCRIPT_SET, (int)nkeys, (int)nargs, a.argv, a.lens, &r);
    if (!rc && r->type != REDIS_REPLY_INTEGER) rc = unexpected(r, "set");
    if (!rc && r->integer < 0) /* nothing written */
        rc = jwts_fail(JWTS_E_CONFLICT, "set: the session id is taken by a session of another user");
    if (r) freeReplyObject(r);
    args_free(&a);
    for (size_t i = 0; i < n; i++) forget(rs, sessions[i]->user_id, sessions[i]->session_id, !rc && i == 0);
    return rc;
}

static jwts_err redis_set(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms)
{
    return set_many_one(st, ctx, &s, 1, ttl_ms);
}

static jwts_err delete_keys(redis_store *rs, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                            size_t *deleted)
{
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc) return rc;
    script_args a;
    size_t nkeys = 2 * n;
    if ((rc = args_alloc(&a, n, nkeys + n, false))) return rc;
    for (size_t i = 0; i < n; i++) {
        put_key_pair(rs, &a, i, keys[i].user_id, keys[i].session_id);
        a.argv[nkeys + i] = keys[i].session_id, a.lens[nkeys + i] = strlen(keys[i].session_id);
    }
    redisReply *r = NULL;
    rc = run_script(rs, deadline, JWTS_SCRIPT_DEL, (int)nkeys, (int)n, a.argv, a.lens, &r);
    if (!rc && r->type != REDIS_REPLY_INTEGER) rc = unexpected(r, "delete");
    if (!rc) *deleted = (size_t)r->integer;
    if (r) freeReplyObject(r);
    args_free(&a);
    for (size_t i = 0; i < n; i++) forget(rs, keys[i].user_id, keys[i].session_id, !rc && i == 0);
    return rc;
}

static jwts_err redis_del(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key)
{
    size_t deleted = 0;
    jwts_err rc = delete_keys(from_base(st), ctx, key, 1, &deleted);
    if (!rc && deleted == 0) rc = not_found();
    return rc;
}

static jwts_err delete_many_one(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                                size_t *deleted)
{
    return delete_keys(from_base(st), ctx, keys, n, deleted);
}

/* The TOUCH script now, on the caller's thread. */
static jwts_err touch_now(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, int64_t last_seen_ms,
                          int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    redis_store *rs = from_base(st);
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc) return rc;
    char idx[KEY_MAX], rec[KEY_MAX], ttl[24];
    unsigned char times[16];
    jwts_redis_put_i64(times, idle_expires_at_ms);
    jwts_redis_put_i64(times + 8, last_seen_ms);
    const char *argv[5] = {idx, rec, (const char *)times, ttl, key->session_id};
    size_t lens[5] = {index_key(rs, idx, key->user_id), record_key(rs, rec, key->user_id, key->session_id), 16,
                      (size_t)snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms), strlen(key->session_id)};
    redisReply *r = NULL;
    rc = run_script(rs, deadline, JWTS_SCRIPT_TOUCH, 2, 3, argv, lens, &r);
    if (!rc && r->type != REDIS_REPLY_INTEGER)
        rc = unexpected(r, "touch");
    else if (!rc && r->integer == 0)
        rc = not_found();
    if (r) freeReplyObject(r);
    forget(rs, key->user_id, key->session_id, !rc);
    return rc;
}

static jwts_err redis_touch(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key, int64_t last_seen_ms,
                            int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    redis_store *rs = from_base(st);
    if (rs->cache && !atomic_load(&rs->closed)) {
        char rec[KEY_MAX];
        size_t n = record_key(rs, rec, key->user_id, key->session_id);
        if (jwts_nc_defer_touch(rs->cache, rec, n, key, last_seen_ms, idle_expires_at_ms, ttl_ms)) return JWTS_OK;
    }
    return touch_now(st, ctx, key, last_seen_ms, idle_expires_at_ms, ttl_ms);
}

static jwts_err redis_rotate(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *key,
                             const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], const jwts_refresh_state *next,
                             int64_t ttl_ms, jwts_session **current)
{
    redis_store *rs = from_base(st);
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc) return rc;
    char idx[KEY_MAX], rec[KEY_MAX], ttl[24];
    unsigned char updated[8], refresh[JWTS_REC_REFRESH_LEN];
    jwts_redis_put_i64(updated, next->rotated_at_ms);
    jwts_redis_record_refresh(next, refresh);
    const char *argv[8] = {idx,
                           rec,
                           (const char *)expected_hash,
                           (const char *)updated,
                           (const char *)refresh,
                           ttl,
                           key->session_id,
                           current ? "1" : "0"};
    size_t lens[8] = {index_key(rs, idx, key->user_id),
                      record_key(rs, rec, key->user_id, key->session_id),
                      JWTS_REFRESH_HASH_LEN,
                      8,
                      JWTS_REC_REFRESH_LEN,
                      (size_t)snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms),
                      strlen(key->session_id),
                      1};
    redisReply *r = NULL;
    rc = run_script(rs, deadline, JWTS_SCRIPT_ROTATE, 2, 6, argv, lens, &r);
    forget(rs, key->user_id, key->session_id, !rc);
    if (rc) return rc;
    if (r->type == REDIS_REPLY_NIL) {
        rc = not_found();
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER) {
        rc = unexpected(r, "rotate");
    } else {
        const redisReply *recr = r->element[1];
        if (current && recr->type == REDIS_REPLY_STRING) /* the script checked it is the user's */
            rc = decode_for(recr, key->user_id, key->session_id, current);
        else if (current)
            rc = jwts_fail(JWTS_E_PROTOCOL, "redis rotate: no record in the reply");
        if (!rc && r->element[0]->integer != 1) {
            rc = jwts_fail(JWTS_E_CONFLICT, "refresh state changed concurrently");
        }
    }
    freeReplyObject(r);
    return rc;
}

static jwts_err redis_replace(jwts_store *st, const jwts_ctx *ctx, const jwts_session *s,
                              const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms)
{
    redis_store *rs = from_base(st);
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc) return rc;
    char idx[KEY_MAX], rec[KEY_MAX], ttl[24], *blob = NULL;
    size_t blob_len = 0;
    if ((rc = jwts_redis_record_encode(s, &blob, &blob_len))) return rc;
    const char *argv[6] = {idx, rec, (const char *)expected_hash, blob, ttl, s->session_id};
    size_t lens[6] = {index_key(rs, idx, s->user_id),
                      record_key(rs, rec, s->user_id, s->session_id),
                      JWTS_REFRESH_HASH_LEN,
                      blob_len,
                      (size_t)snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms),
                      strlen(s->session_id)};
    redisReply *r = NULL;
    rc = run_script(rs, deadline, JWTS_SCRIPT_REPLACE, 2, 4, argv, lens, &r);
    free(blob);
    forget(rs, s->user_id, s->session_id, !rc);
    if (rc) return rc;
    if (r->type == REDIS_REPLY_NIL)
        rc = not_found();
    else if (r->type != REDIS_REPLY_INTEGER)
        rc = unexpected(r, "replace");
    else if (r->integer != 1)
        rc = jwts_fail(JWTS_E_CONFLICT, "refresh state changed concurrently");
    freeReplyObject(r);
    return rc;
}

/* Order of a user's sessions: oldest created first, then by session id. */
static int by_created(const void *a, const void *b)
{
    const jwts_session *x = *(jwts_session *const *)a, *y = *(jwts_session *const *)b;
    if (x->created_at_ms != y->created_at_ms) return x->created_at_ms < y->created_at_ms ? -1 : 1;
    return strcmp(x->session_id, y->session_id);
}

/* Run a per-user script (KEYS idx; ARGV record key prefix). */
static jwts_err user_script(redis_store *rs, const jwts_ctx *ctx, redis_script id, const char *user, redisReply **r)
{
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc) return rc;
    char idx[KEY_MAX], recs[KEY_MAX];
    const char *argv[2] = {idx, recs};
    size_t lens[2] = {index_key(rs, idx, user), record_key(rs, recs, user, NULL)};
    return run_script(rs, deadline, id, 1, 1, argv, lens, r);
}

static jwts_err redis_list_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out)
{
    redisReply *r = NULL;
    jwts_err rc = user_script(from_base(st), ctx, JWTS_SCRIPT_LIST_USER, user_id, &r);
    if (rc) return rc;
    if (r->type != REDIS_REPLY_ARRAY) rc = unexpected(r, "list_user");
    if (!rc && r->elements) {
        out->items = calloc(r->elements, sizeof *out->items);
        if (!out->items) rc = jwts_fail(JWTS_E_NO_MEMORY, "redis list_user: out of memory");
    }
    for (size_t i = 0; !rc && i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING)
            rc = unexpected(r->element[i], "list_user");
        else
            rc = decode_for(r->element[i], user_id, NULL, &out->items[out->count]);
        if (!rc) out->count++;
    }
    freeReplyObject(r);
    if (rc)
        jwts_session_list_free(out);
    else if (out->count > 1)
        qsort(out->items, out->count, sizeof *out->items, by_created);
    return rc;
}

static jwts_err redis_delete_user(jwts_store *st, const jwts_ctx *ctx, const char *user_id, size_t *deleted)
{
    redisReply *r = NULL;
    jwts_err rc = user_script(from_base(st), ctx, JWTS_SCRIPT_DELETE_USER, user_id, &r);
    if (from_base(st)->cache) jwts_nc_forget_user(from_base(st)->cache, user_id);
    if (rc) return rc;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = unexpected(r, "delete_user");
    else
        *deleted = (size_t)r->integer;
    freeReplyObject(r);
    return rc;
}

static jwts_err redis_delete_user_except(jwts_store *st, const jwts_ctx *ctx, const char *user_id, const char *keep,
                                         size_t *deleted)
{
    redis_store *rs = from_base(st);
    int64_t deadline = 0;
    redisReply *r = NULL;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc) return rc;
    char idx[KEY_MAX], kept[KEY_MAX], recs[KEY_MAX];
    const char *argv[4] = {idx, kept, recs, keep};
    size_t lens[4] = {index_key(rs, idx, user_id), record_key(rs, kept, user_id, keep),
                      record_key(rs, recs, user_id, NULL), strlen(keep)};
    rc = run_script(rs, deadline, JWTS_SCRIPT_DELETE_USER_EXCEPT, 2, 2, argv, lens, &r);
    if (rs->cache) jwts_nc_forget_user(rs->cache, user_id);
    if (rc) return rc;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = unexpected(r, "delete_user_except");
    else if (r->integer < 0)
        rc = jwts_fail(JWTS_E_NOT_FOUND, "delete_user_except: the kept session is not there");
    else
        *deleted = (size_t)r->integer;
    freeReplyObject(r);
    return rc;
}

/* MGET the records of keys[0..n) in one runner call: one MGET per group, a group being the
 * entries order[from..ends[g]) (order: a permutation of 0..n-1, NULL for 0, 1, ...). On a
 * cluster each group is one slot, and the runner sends the groups of one node together. */
static jwts_err mget_groups(redis_store *rs, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                            const size_t *order, const size_t *ends, size_t ngroups, jwts_session **out)
{
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc) return rc;
    script_args a;
    if ((rc = args_alloc(&a, n, n + ngroups, false))) return rc;
    redis_cmd *cmds = calloc(ngroups, sizeof *cmds);
    redisReply **replies = calloc(ngroups, sizeof *replies);
    if (!cmds || !replies) rc = jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    for (size_t g = 0, from = 0, pos = 0; !rc && g < ngroups; from = ends[g++]) {
        cmds[g] = (redis_cmd){(int)(1 + ends[g] - from), a.argv + pos, a.lens + pos};
        a.argv[pos] = "MGET", a.lens[pos++] = 4;
        for (size_t k = from; k < ends[g]; k++) {
            size_t i = order ? order[k] : k;
            char *rec = a.keys + k * KEY_MAX;
            a.argv[pos] = rec, a.lens[pos++] = record_key(rs, rec, keys[i].user_id, keys[i].session_id);
        }
    }
    if (!rc) rc = rs->runner->ops->run(rs->runner, deadline, cmds, ngroups, replies);
    for (size_t g = 0, from = 0; !rc && g < ngroups; from = ends[g++]) {
        const redisReply *r = replies[g];
        if (r->type != REDIS_REPLY_ARRAY || r->elements != ends[g] - from) rc = unexpected(r, "MGET");
        for (size_t k = from; !rc && k < ends[g]; k++) {
            size_t i = order ? order[k] : k;
            const redisReply *e = r->element[k - from];
            if (e->type == REDIS_REPLY_STRING) {
                rc = decode_for(e, NULL, keys[i].session_id, &out[i]);
                if (!rc && !is_users(out[i], keys[i].user_id)) /* another user's (of the same tag): absent */
                    jwts_session_free(out[i]), out[i] = NULL;
            } else if (e->type != REDIS_REPLY_NIL) {
                rc = unexpected(e, "MGET");
            }
        }
    }
    if (rc)
        for (size_t i = 0; i < n; i++) jwts_session_free(out[i]), out[i] = NULL;
    for (size_t g = 0; replies && g < ngroups; g++)
        if (replies[g]) freeReplyObject(replies[g]);
    free(replies);
    free(cmds);
    args_free(&a);
    return rc;
}

/* ---- batches on a cluster: one command per slot --------------------------------------------- */

typedef struct slot_entry {
    unsigned slot;
    size_t i;
} slot_entry;

static int by_slot(const void *a, const void *b)
{
    const slot_entry *x = a, *y = b;
    if (x->slot != y->slot) return x->slot < y->slot ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static unsigned user_slot(const char *user)
{
    char tag[TAG_BUF], braced[TAG_BUF + 2];
    jwts_user_tag(user, tag);
    int n = snprintf(braced, sizeof braced, "{%s}", tag);
    return jwts_redis_key_slot(braced, (size_t)n);
}

/* The n entries ordered by the slot of their user (users(arg, i)); malloc'd, NULL if no memory. */
static slot_entry *slot_order(const char *(*users)(const void *arg, size_t i), const void *arg, size_t n)
{
    slot_entry *e = malloc((n ? n : 1) * sizeof *e);
    if (!e) return NULL;
    for (size_t i = 0; i < n; i++) e[i] = (slot_entry){user_slot(users(arg, i)), i};
    qsort(e, n, sizeof *e, by_slot);
    return e;
}

/* The end of the run of entries sharing e[from]'s slot. */
static size_t group_end(const slot_entry *e, size_t from, size_t n)
{
    size_t to = from + 1;
    while (to < n && e[to].slot == e[from].slot) to++;
    return to;
}

static const char *key_user(const void *arg, size_t i)
{
    return ((const jwts_session_key *)arg)[i].user_id;
}

static const char *session_user(const void *arg, size_t i)
{
    return ((const jwts_session *const *)arg)[i]->user_id;
}

static jwts_err redis_get_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                               jwts_session **out)
{
    redis_store *rs = from_base(st);
    if (!rs->split_by_slot || n <= 1) return mget_groups(rs, ctx, keys, n, NULL, &n, 1, out);
    slot_entry *e = slot_order(key_user, keys, n);
    size_t *order = malloc(n * sizeof *order), *ends = malloc(n * sizeof *ends), ngroups = 0;
    jwts_err rc = e && order && ends ? JWTS_OK : jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    for (size_t from = 0; !rc && from < n; from = ends[ngroups++]) {
        ends[ngroups] = group_end(e, from, n);
        for (size_t k = from; k < ends[ngroups]; k++) order[k] = e[k].i;
    }
    if (!rc) rc = mget_groups(rs, ctx, keys, n, order, ends, ngroups, out);
    free(e), free(order), free(ends);
    return rc;
}

static jwts_err redis_set_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session *const *sessions, size_t n,
                               int64_t ttl_ms)
{
    if (!from_base(st)->split_by_slot || n <= 1) return set_many_one(st, ctx, sessions, n, ttl_ms);
    slot_entry *e = slot_order(session_user, sessions, n);
    const jwts_session **sub = malloc(n * sizeof *sub);
    jwts_err rc = e && sub ? JWTS_OK : jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    for (size_t from = 0, to; !rc && from < n; from = to) {
        to = group_end(e, from, n);
        for (size_t k = from; k < to; k++) sub[k - from] = sessions[e[k].i];
        rc = set_many_one(st, ctx, sub, to - from, ttl_ms);
    }
    free(e), free(sub);
    return rc;
}

static jwts_err redis_delete_many(jwts_store *st, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n,
                                  size_t *deleted)
{
    if (!from_base(st)->split_by_slot || n <= 1) return delete_many_one(st, ctx, keys, n, deleted);
    slot_entry *e = slot_order(key_user, keys, n);
    jwts_session_key *sub = malloc(n * sizeof *sub);
    jwts_err rc = e && sub ? JWTS_OK : jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    size_t total = 0;
    for (size_t from = 0, to; !rc && from < n; from = to) {
        to = group_end(e, from, n);
        for (size_t k = from; k < to; k++) sub[k - from] = keys[e[k].i];
        size_t d = 0;
        rc = delete_many_one(st, ctx, sub, to - from, &d);
        total += d;
    }
    free(e), free(sub);
    if (!rc) *deleted = total;
    return rc;
}

static jwts_err redis_cleanup(jwts_store *st, const jwts_ctx *ctx, size_t *removed)
{
    /* Redis expires records and index keys itself, and scripts trim indexes as they go. With an
     * events stream, the sweep turns what expired into "expired" events (docs/events.md). */
    redis_store *rs = from_base(st);
    *removed = 0;
    int64_t deadline = 0;
    jwts_err rc = begin(rs, ctx, &deadline);
    if (rc == JWTS_E_CLOSED || !rs->events) return rc == JWTS_E_CLOSED ? rc : JWTS_OK;
    return rc ? rc : jwts_redis_events_sweep(rs->runner, deadline, rs->events, removed);
}

static jwts_err redis_count(jwts_store *st, size_t *sessions)
{
    if (atomic_load(&from_base(st)->closed)) return jwts_fail(JWTS_E_CLOSED, "redis store is closed");
    return jwts_fail(JWTS_E_UNSUPPORTED, "count: the redis store would have to SCAN the keyspace");
}

static void redis_close(jwts_store *st)
{
    redis_store *rs = from_base(st);
    if (rs->cache && !atomic_load(&rs->closed)) /* its threads stop; pending touches written first */
        jwts_nc_stop(rs->cache, jwts_deadline_in_ms(rs->cfg.command_timeout_ms));
    if (atomic_exchange(&rs->closed, true)) return;
    rs->runner->ops->close(rs->runner);
}

static void redis_destroy(jwts_store *st)
{
    redis_store *rs = from_base(st);
    jwts_nc_free(rs->cache);
    if (rs->runner) rs->runner->ops->destroy(rs->runner);
    jwts_redis_events_free(rs->events);
    jwts_redis_tls_free(rs->tls);
    jwts_redis_addr_clear(&rs->cfg.addr);
    free(rs->prefix);
    free(rs);
}

static const jwts_store_ops REDIS_OPS = {
    .name = "redis",
    .get = redis_get,
    .get_async = redis_get_async,
    .get_by_id = redis_get_by_id,
    .set = redis_set,
    .del = redis_del,
    .touch = redis_touch,
    .list_user = redis_list_user,
    .delete_user = redis_delete_user,
    .delete_user_except = redis_delete_user_except,
    .rotate = redis_rotate,
    .replace = redis_replace,
    .get_many = redis_get_many,
    .set_many = redis_set_many,
    .delete_many = redis_delete_many,
    .cleanup = redis_cleanup,
    .count = redis_count,
    .close = redis_close,
    .destroy = redis_destroy,
};

/* ---- construction ------------------------------------------------------------------------ */

bool jwts_redis_store_parts(jwts_store *st, redis_runner **runner, const redis_events **events, bool *pipelined,
                            int64_t *command_timeout_ms)
{
    if (!st || !st->ops || st->ops->destroy != redis_destroy) return false;
    redis_store *rs = from_base(st);
    *runner = rs->runner, *events = rs->events, *pipelined = rs->pipelined;
    *command_timeout_ms = rs->cfg.command_timeout_ms;
    return true;
}

bool jwts_redis_prefix_valid(const char *p)
{
    if (strlen(p) > JWTS_REDIS_PREFIX_MAX) return false;
    for (; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '{' || *p == '}') return false;
    return true;
}

static jwts_err check_options(const jwts_redis_options *o)
{
    if (o->key_prefix && !jwts_redis_prefix_valid(o->key_prefix))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT,
                         "redis: key_prefix must be at most %d bytes without braces or "
                         "control characters",
                         JWTS_REDIS_PREFIX_MAX);
    if (o->port < 0 || o->port > 65535) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: port must be 1..65535");
    if (o->db < 0) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: db must not be negative");
    if (o->pool_size > MAX_POOL) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: pool_size above %d", MAX_POOL);
    if (o->pipeline_connections > MAX_PIPELINES)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: pipeline_connections above %d", MAX_PIPELINES);
    if (o->spin_us < 0 || o->spin_us > 1000)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: spin_us outside 0..1000");
    if (o->connect_timeout_ms < 0 || o->command_timeout_ms < 0)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: timeouts must not be negative");
    return JWTS_OK;
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *failed = true;
    return d;
}

/* The address from the option fields, then the URL over them. */
static jwts_err build_addr(const jwts_redis_options *o, redis_addr *a)
{
    bool failed = false;
    a->host = dup_or_null(o->host ? o->host : DEFAULT_HOST, &failed);
    a->port = o->port ? o->port : DEFAULT_PORT;
    a->unix_path = dup_or_null(o->unix_path, &failed);
    a->username = dup_or_null(o->username, &failed);
    a->password = dup_or_null(o->password, &failed);
    a->db = o->db;
    if (failed) return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    if (o->url) return jwts_redis_url_parse(o->url, a);
    return JWTS_OK;
}

/* A store named name with the given prefix and timeouts, without its runner yet. */
static jwts_err store_alloc(const char *name, const char *prefix, redis_store **out)
{
    redis_store *rs = calloc(1, sizeof *rs);
    if (!rs) return jwts_fail(JWTS_E_NO_MEMORY, "redis store: out of memory");
    rs->ops = REDIS_OPS;
    rs->ops.name = name;
    rs->base.ops = &rs->ops;
    if (!(rs->prefix = strdup(prefix ? prefix : DEFAULT_PREFIX))) {
        free(rs);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    }
    *out = rs;
    return JWTS_OK;
}

jwts_err jwts_redis_check_new(const char *name, jwts_store **out, const char *url, size_t pool_size,
                              int64_t connect_timeout_ms)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s store: out is NULL", name);
    *out = NULL;
    if (!url) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s store: url is required", name);
    if (pool_size > MAX_POOL) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: pool_size above %d", name, MAX_POOL);
    if (connect_timeout_ms < 0) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: negative connect timeout", name);
    return JWTS_OK;
}

jwts_err jwts_redis_store_new(const redis_store_spec *spec,
                              jwts_err (*new_runner)(void *arg, const redis_tls *tls, redis_runner **out), void *arg,
                              jwts_store **out)
{
    *out = NULL;
    if (spec->key_prefix && !jwts_redis_prefix_valid(spec->key_prefix))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT,
                         "%s: key_prefix must be at most %d bytes without braces or "
                         "control characters",
                         spec->name, JWTS_REDIS_PREFIX_MAX);
    if (spec->command_timeout_ms < 0) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "%s: negative timeout", spec->name);
    redis_store *rs = NULL;
    jwts_err rc = store_alloc(spec->name, spec->key_prefix, &rs);
    if (rc) return rc;
    rs->cfg.command_timeout_ms = spec->command_timeout_ms ? spec->command_timeout_ms : DEFAULT_COMMAND_TIMEOUT_MS;
    rs->split_by_slot = spec->split_by_slot;
    if ((spec->events_stream &&
         (rc = jwts_redis_events_new(spec->events_stream, spec->events_maxlen, spec->split_by_slot, &rs->events))) ||
        (rc = jwts_redis_tls_new(spec->tls, &rs->tls)) || (rc = new_runner(arg, rs->tls, &rs->runner))) {
        redis_destroy(&rs->base);
        return rc;
    }
    *out = &rs->base;
    return JWTS_OK;
}

/* The options of the URL's query over o (strings point into q). */
static jwts_err apply_query(jwts_redis_options *o, redis_query *q)
{
    redis_url_kind kind;
    bool tls_url = false;
    size_t prefix;
    if (!jwts_redis_url_kind(o->url, &kind, &tls_url, &prefix) || (kind != REDIS_URL_SINGLE && kind != REDIS_URL_UNIX))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: scheme must be redis://, rediss:// or unix://");
    jwts_err rc = jwts_redis_query_parse(o->url, q);
    if (rc) return rc;
    jwts_redis_query_common(q, tls_url, &o->connect_timeout_ms, &o->command_timeout_ms, &o->pool_size, &o->key_prefix,
                            &o->tls);
    if (q->pipeline >= 0) o->auto_pipeline = q->pipeline == 1;
    if (q->pipeline_connections > 0) o->pipeline_connections = (size_t)q->pipeline_connections;
    if (q->spin_us >= 0) o->spin_us = q->spin_us;
    if (q->events) o->events_stream = q->events;
    if (q->events_maxlen > 0) o->events_maxlen = (size_t)q->events_maxlen;
    return JWTS_OK;
}

jwts_err jwts_store_redis_new(const jwts_redis_options *opts, jwts_store **out)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis store: out is NULL");
    *out = NULL;
    jwts_redis_options o = opts ? *opts : (jwts_redis_options){0};
    redis_query q = {0};
    jwts_err rc = o.url ? apply_query(&o, &q) : JWTS_OK;
    if (!rc) rc = check_options(&o);
    redis_store *rs = NULL;
    if (!rc) rc = store_alloc("redis", o.key_prefix, &rs);
    if (rc) {
        jwts_redis_query_clear(&q);
        return rc;
    }
    rs->cfg.connect_timeout_ms = o.connect_timeout_ms ? o.connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    rs->cfg.command_timeout_ms = o.command_timeout_ms ? o.command_timeout_ms : DEFAULT_COMMAND_TIMEOUT_MS;
    rs->cfg.spin_ns = o.auto_pipeline ? 0 : o.spin_us * 1000; /* the I/O thread of a pipeline never spins */
    rs->pipelined = o.auto_pipeline;
    rc = build_addr(&o, &rs->cfg.addr);
    if (!rc && o.events_stream)
        rc = jwts_redis_events_new(o.events_stream, (long long)o.events_maxlen, false, &rs->events);
    if (!rc && o.tls.enabled && rs->cfg.addr.unix_path)
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: TLS over a unix socket is not supported");
    if (!rc) rc = jwts_redis_tls_new(&o.tls, &rs->tls);
    rs->cfg.tls = rs->tls;
    if (!rc && o.auto_pipeline)
        rc = jwts_redis_pipeline_new(&rs->cfg, o.pipeline_connections ? o.pipeline_connections : 1, &rs->runner);
    else if (!rc)
        rc = jwts_redis_pool_new(&rs->cfg, o.pool_size ? o.pool_size : DEFAULT_POOL, &rs->runner);
    jwts_redis_query_clear(&q);
    if (!rc && o.cache.enabled) rc = jwts_store_redis_cache_enable(&rs->base, &o.cache);
    if (rc) {
        redis_destroy(&rs->base);
        return rc;
    }
    *out = &rs->base;
    return JWTS_OK;
}

/* ---- the near cache ------------------------------------------------------------------------- */

static size_t cache_servers(void *arg, const redis_config **out, size_t cap, uint64_t *generation)
{
    redis_store *rs = arg;
    if (rs->runner->ops->servers) return rs->runner->ops->servers(rs->runner, out, cap, generation);
    *generation = 0;
    if (out && cap) out[0] = &rs->cfg;
    return 1;
}

static jwts_err cache_touch(void *arg, const jwts_ctx *ctx, const jwts_session_key *key, int64_t last_seen_ms,
                            int64_t idle_expires_at_ms, int64_t ttl_ms)
{
    return touch_now(&((redis_store *)arg)->base, ctx, key, last_seen_ms, idle_expires_at_ms, ttl_ms);
}

jwts_err jwts_store_redis_cache_enable(jwts_store *st, const jwts_redis_cache_options *opts)
{
    if (!st || !opts) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis cache: NULL store or options");
    if (st->ops->get != redis_get) return jwts_fail(JWTS_E_UNSUPPORTED, "redis cache: not a Redis store");
    redis_store *rs = from_base(st);
    if (atomic_load(&rs->closed)) return jwts_fail(JWTS_E_CLOSED, "redis store is closed");
    if (rs->cache) return jwts_fail(JWTS_E_CONFLICT, "redis cache: this store already has one");
    nc_host host = {.servers = cache_servers, .touch = cache_touch, .arg = rs, .prefix = rs->prefix};
    return jwts_nc_new(opts, &host, &rs->cache);
}

jwts_err jwts_store_redis_cache_stats(jwts_store *st, jwts_redis_cache_stats *out)
{
    if (!st || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis cache: NULL store or stats");
    if (st->ops->get != redis_get || !from_base(st)->cache)
        return jwts_fail(JWTS_E_NOT_FOUND, "redis cache: this store has no near cache");
    jwts_nc_stats(from_base(st)->cache, out);
    return JWTS_OK;
}
