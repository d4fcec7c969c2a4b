/*
 * validate.c - validate an access token: the JWT, then the session behind it (instant revocation),
 * its idle and absolute limits, a throttled last-seen touch, and the confirmation of a newly
 * rotated pair on the first use of its access token (refresh.c).
 */
#include <string.h>

#include "core/fail.h"
#include "manager/manager_int.h"

/* Record activity when the last record is older than touch_interval. A failed touch does not fail
 * the validation (the session was valid); it is retried by the next one. */
static void maybe_touch(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, int64_t now)
{
    if (m->opts.touch_interval_ms < 0 || now - s->last_seen_ms < m->opts.touch_interval_ms) return;
    jwts_session seen = *s;
    seen.last_seen_ms = now;
    if (m->opts.idle_timeout_ms) seen.idle_expires_at_ms = now + m->opts.idle_timeout_ms;
    jwts_session_key key = {s->user_id, s->session_id};
    jwts_store_touch(m->opts.store, ctx, &key, now, seen.idle_expires_at_ms, jwts_mgr_ttl_ms(m, &seen, now));
}

static jwts_err check_limits(const jwts_session *s, int64_t now)
{
    if (now >= s->expires_at_ms) return jwts_fail(JWTS_E_EXPIRED, "session reached its absolute lifetime");
    if (s->idle_expires_at_ms && now >= s->idle_expires_at_ms)
        return jwts_fail(JWTS_E_EXPIRED, "session expired after inactivity");
    return JWTS_OK;
}

static jwts_err validate(jwts_manager *m, const jwts_ctx *ctx, const char *token, size_t len, jwts_validation *out,
                         jwts_session **session)
{
    int64_t now = jwts_mgr_now_ms(m); /* one clock read for the token's times and the session's */
    jwts_verify_options vo = m->verify;
    vo.now_s = now / 1000;
    jwts_claims c;
    jwts_err rc = jwts_jwt_verify(m->opts.keyset, token, len, &vo, &c, NULL);
    if (rc) return rc;
    if (!(c.has & JWTS_CLAIM_SUB) || !(c.has & JWTS_CLAIM_SID) || (c.truncated & (JWTS_CLAIM_SUB | JWTS_CLAIM_SID)))
        return jwts_fail(JWTS_E_CLAIM_MISMATCH, "access token lacks a usable sub or sid claim");
    if (!jwts_user_id_valid(c.sub) || !jwts_session_id_valid(c.sid))
        return jwts_fail(JWTS_E_CLAIM_MISMATCH, "access token's sub or sid is not a session of ours");

    jwts_session *s = NULL;
    jwts_session_key key = {c.sub, c.sid};
    rc = jwts_store_get(m->opts.store, ctx, &key, &s);
    if (rc == JWTS_E_NOT_FOUND) return jwts_fail(JWTS_E_REVOKED, "session revoked or expired");
    if (rc) return rc;
    rc = check_limits(s, now);
    const char *jti = (c.has & JWTS_CLAIM_JTI) ? c.jti : NULL;
    if (rc == JWTS_OK && jwts_ctx_local_only(ctx) && jwts_mgr_confirms(s, jti))
        rc = jwts_fail(JWTS_E_WOULD_BLOCK, "validate: the first use of a new pair is written to the store");
    if (rc == JWTS_OK) {
        maybe_touch(m, ctx, s, now);
        jwts_mgr_confirm(m, ctx, s, jti, now);
    }
    if (rc == JWTS_OK && out) {
        memcpy(out->user_id, c.sub, strlen(c.sub) + 1);
        memcpy(out->session_id, c.sid, strlen(c.sid) + 1);
        out->token_expires_at_s = c.exp;
    }
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
