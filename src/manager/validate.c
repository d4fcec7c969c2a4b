/*
 * validate.c - validate an access token: the JWT, then the session behind it (instant revocation),
 * its idle and absolute limits, a throttled last-seen touch, and the confirmation of a newly
 * rotated pair on the first use of its access token (refresh.c).
 *
 * Two ways through it with one decision: jwts_manager_validate waits for the store;
 * jwts_manager_validate_async verifies the token on the caller's thread, asks the store with
 * jwts_store_get_async and finishes on the store's thread, where nothing may block: a touch or a
 * confirmation that is due there (a write) ends it with JWTS_E_WOULD_BLOCK, and the caller runs
 * the synchronous validate, which writes it.
 */
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "manager/manager_int.h"

/* Whether a validation at now records activity on s (once per touch_interval). */
static bool touch_due(const jwts_manager *m, const jwts_session *s, int64_t now)
{
    return m->opts.touch_interval_ms >= 0 && now - s->last_seen_ms >= m->opts.touch_interval_ms;
}

/* Record activity when due. A failed touch does not fail the validation (the session was valid);
 * it is retried by the next one. Returns the touch's result (JWTS_OK when none was due). */
static jwts_err maybe_touch(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, int64_t now)
{
    if (!touch_due(m, s, now)) return JWTS_OK;
    jwts_session seen = *s;
    seen.last_seen_ms = now;
    if (m->opts.idle_timeout_ms) seen.idle_expires_at_ms = now + m->opts.idle_timeout_ms;
    jwts_session_key key = {s->user_id, s->session_id};
    return jwts_store_touch(m->opts.store, ctx, &key, now, seen.idle_expires_at_ms, jwts_mgr_ttl_ms(m, &seen, now));
}

static jwts_err check_limits(const jwts_session *s, int64_t now)
{
    if (now >= s->expires_at_ms) return jwts_fail(JWTS_E_EXPIRED, "session reached its absolute lifetime");
    if (s->idle_expires_at_ms && now >= s->idle_expires_at_ms)
        return jwts_fail(JWTS_E_EXPIRED, "session expired after inactivity");
    return JWTS_OK;
}

/* The token part: signature and claims at now, into *c. */
static jwts_err verify_token(jwts_manager *m, const char *token, size_t len, int64_t now, jwts_claims *c)
{
    jwts_verify_options vo = m->verify;
    vo.now_s = now / 1000;
    jwts_keys_ticket kt;
    jwts_err rc = jwts_jwt_verify(jwts_mgr_keys_acquire(m, &kt), token, len, &vo, c, NULL);
    jwts_mgr_keys_release(m, &kt);
    c->key = NULL; /* owned by a set that may be swapped out from now on */
    if (rc == JWTS_E_KEY_NOT_FOUND) jwts_mgr_key_miss(m);
    if (rc) return rc;
    if (!(c->has & JWTS_CLAIM_SUB) || !(c->has & JWTS_CLAIM_SID) || (c->truncated & (JWTS_CLAIM_SUB | JWTS_CLAIM_SID)))
        return jwts_fail(JWTS_E_CLAIM_MISMATCH, "access token lacks a usable sub or sid claim");
    if (!jwts_user_id_valid(c->sub) || !jwts_session_id_valid(c->sid))
        return jwts_fail(JWTS_E_CLAIM_MISMATCH, "access token's sub or sid is not a session of ours");
    return JWTS_OK;
}

/* The session part: the store's answer (rc, s) for the token's claims c, at now. With a
 * local-only ctx a write that is due (a touch the store cannot defer, a confirmation) gives
 * JWTS_E_WOULD_BLOCK. out (may be NULL) gets the result. */
static jwts_err check_session(jwts_manager *m, const jwts_ctx *ctx, const jwts_claims *c, jwts_err rc,
                              const jwts_session *s, int64_t now, jwts_validation *out)
{
    if (rc == JWTS_E_NOT_FOUND) return jwts_fail(JWTS_E_REVOKED, "session revoked or expired");
    if (rc) return rc;
    if ((rc = check_limits(s, now))) return rc;
    const char *jti = (c->has & JWTS_CLAIM_JTI) ? c->jti : NULL;
    bool local = jwts_ctx_local_only(ctx);
    if (local && jwts_mgr_confirms(s, jti))
        return jwts_fail(JWTS_E_WOULD_BLOCK, "validate: the first use of a new pair is written to the store");
    if (maybe_touch(m, ctx, s, now) == JWTS_E_WOULD_BLOCK && local)
        return jwts_fail(JWTS_E_WOULD_BLOCK, "validate: the activity record is written to the store");
    jwts_mgr_confirm(m, ctx, s, jti, now);
    if (out) {
        memcpy(out->user_id, c->sub, strlen(c->sub) + 1);
        memcpy(out->session_id, c->sid, strlen(c->sid) + 1);
        out->token_expires_at_s = c->exp;
    }
    return JWTS_OK;
}

static jwts_err validate(jwts_manager *m, const jwts_ctx *ctx, const char *token, size_t len, jwts_validation *out,
                         jwts_session **session)
{
    int64_t now = jwts_mgr_now_ms(m); /* one clock read for the token's times and the session's */
    jwts_claims c;
    jwts_err rc = verify_token(m, token, len, now, &c);
    if (rc) return rc;
    jwts_session *s = NULL;
    jwts_session_key key = {c.sub, c.sid};
    rc = jwts_store_get(m->opts.store, ctx, &key, &s);
    rc = check_session(m, ctx, &c, rc, s, now, out);
    if (rc == JWTS_OK && session) *session = s;
    else jwts_session_free(s);
    return rc;
}

jwts_err jwts_manager_validate(jwts_manager *m, const jwts_ctx *ctx, const char *token, size_t len,
                               jwts_validation *out, jwts_session **session)
{
    if (session) *session = NULL;
    if (!m || !token) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "validate: NULL manager or token");
    jwts_op_scope sc;
    jwts_ctx c = jwts_mgr_begin(m, &sc, JWTS_OP_VALIDATE, ctx);
    return jwts_op_end(&sc, validate(m, &c, token, len, out, session));
}

/* ---- asynchronous ------------------------------------------------------------------------ */

/* A validation waiting for the store: what its completion needs. */
typedef struct validation_op {
    jwts_manager *m;
    jwts_op_scope sc;
    jwts_ctx ctx; /* the operation's, local-only for what runs on the store's thread */
    jwts_claims claims;
    int64_t now;
    jwts_validate_done done;
    void *arg;
} validation_op;

/* Finish op with rc: end the operation's scope, free op, then tell the caller. */
static void finish(validation_op *op, jwts_err rc, const jwts_validation *v)
{
    jwts_validate_done done = op->done;
    void *arg = op->arg;
    jwts_op_end(&op->sc, rc);
    free(op);
    done(arg, rc, rc ? NULL : v);
}

static void session_arrived(void *arg, jwts_err rc, jwts_session *s)
{
    validation_op *op = arg;
    jwts_validation v;
    rc = check_session(op->m, &op->ctx, &op->claims, rc, s, op->now, &v);
    jwts_session_free(s);
    finish(op, rc, &v);
}

jwts_err jwts_manager_validate_async(jwts_manager *m, const jwts_ctx *ctx, const char *token, size_t len,
                                     jwts_validate_done done, void *arg)
{
    if (!m || !token || !done) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "validate_async: NULL manager, token or done");
    if (!m->opts.store->ops->get_async)
        return jwts_fail(JWTS_E_UNSUPPORTED, "validate_async: the %s store has no asynchronous get",
                         jwts_store_name(m->opts.store));
    validation_op *op = malloc(sizeof *op);
    if (!op) return jwts_fail(JWTS_E_NO_MEMORY, "validate_async: out of memory");
    *op = (validation_op){.m = m, .done = done, .arg = arg};
    op->ctx = jwts_mgr_begin(m, &op->sc, JWTS_OP_VALIDATE, ctx);
    op->now = jwts_mgr_now_ms(m);
    jwts_err rc = verify_token(m, token, len, op->now, &op->claims);
    if (rc) {
        finish(op, rc, NULL);
        return JWTS_OK;
    }
    jwts_ctx get_ctx = op->ctx; /* the get may wait; what follows it may not */
    op->ctx.flags |= JWTS_CTX_LOCAL_ONLY;
    jwts_session_key key = {op->claims.sub, op->claims.sid};
    rc = jwts_store_get_async(m->opts.store, &get_ctx, &key, session_arrived, op);
    if (rc) { /* not started (unsupported by this runner, closed, no memory): done is not called */
        jwts_op_end(&op->sc, JWTS_E_WOULD_BLOCK); /* uncounted: the caller's next call counts */
        free(op);
    }
    return rc;
}
