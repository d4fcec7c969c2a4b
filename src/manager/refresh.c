/*
 * refresh.c - exchange a refresh token for a new pair: rotation with convergence, safe retries and
 * theft detection.
 *
 * Presented secret S, stored session with refresh state R (docs/manager.md):
 *   H(S) == R.current            rotate: new secret S', R' = {H(S'), H(S), seal(S, S'), older
 *                                shifted by one, now, gen+1, unconfirmed}, written by
 *                                compare-and-set on H(S). Losing the race to a concurrent refresh
 *                                of the same S falls through to the next case.
 *   H(S) == R.previous, and the  unseal S' with S and hand out the same refresh token again (the
 *   pair S' not yet confirmed,   client never got it, or a concurrent refresher): a lost reply can
 *   or within the grace window   always be retried.
 *   H(S) == R.previous, after    theft: the new pair was used and the old one comes back. Revoke
 *   the grace, pair confirmed    the session, JWTS_E_REFRESH_REUSED.
 *   H(S) in R.older              theft (a secret two to nine generations old): revoke.
 *   none of these                JWTS_E_NOT_FOUND, nothing revoked (anyone who knows a user and
 *                                session id could forge such a token).
 * A pair is confirmed when its refresh token rotates or its access token validates (validate.c).
 */
#include <openssl/crypto.h>
#include <stdint.h>
#include <string.h>

#include "jwtsession/error.h"
#include "jwtsession/random.h"
#include "manager/events_int.h"
#include "manager/manager_int.h"

#define MAX_ATTEMPTS 4 /* a lost compare-and-set is retried on the fresh state */

static bool hash_equal(const uint8_t a[JWTS_REFRESH_HASH_LEN], const uint8_t b[JWTS_REFRESH_HASH_LEN])
{
    return CRYPTO_memcmp(a, b, JWTS_REFRESH_HASH_LEN) == 0;
}

static jwts_err check_alive(const jwts_manager *m, const jwts_session *s, int64_t now)
{
    if (now >= s->expires_at_ms) return jwts_fail(JWTS_E_EXPIRED, "session reached its absolute lifetime");
    if (s->idle_expires_at_ms && now >= s->idle_expires_at_ms)
        return jwts_fail(JWTS_E_EXPIRED, "session expired after inactivity");
    if (now >= jwts_mgr_deadline_ms(m, s)) return jwts_fail(JWTS_E_EXPIRED, "refresh token expired");
    return JWTS_OK;
}

/* The rotated-out hashes after rotating away from r: previous goes to the front of older. */
static void shift_older(const jwts_refresh_state *r, jwts_refresh_state *n)
{
    memmove(n->older[1], r->older[0], (JWTS_REFRESH_OLDER - 1) * JWTS_REFRESH_OLDER_HASH_LEN);
    if (r->generation > 0) memcpy(n->older[0], r->previous_hash, JWTS_REFRESH_OLDER_HASH_LEN);
    else memset(n->older[0], 0, JWTS_REFRESH_OLDER_HASH_LEN);
}

/* With new_device_events, whether a refresh of s from user_agent (NULL: unknown) comes from a device
 * the user has not used: only when it differs from s's own does it cost a listing of the user's
 * sessions. */
static jwts_err device_is_new(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, const char *user_agent,
                              bool *out)
{
    *out = false;
    if (!m->opts.new_device_events || !user_agent) return JWTS_OK;
    if (s->user_agent && strcmp(s->user_agent, user_agent) == 0) return JWTS_OK;
    jwts_session_list list;
    jwts_err rc = jwts_store_list_user(m->opts.store, ctx, s->user_id, &list);
    if (rc) return rc;
    *out = jwts_mgr_device_unseen(&list, user_agent, s->session_id);
    jwts_session_list_free(&list);
    return JWTS_OK;
}

/* Rotate s from secret (hash h) to a new secret, by compare-and-set. JWTS_E_CONFLICT if another
 * refresh won; the caller then looks again. */
static jwts_err rotate(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, const uint8_t secret[32],
                       const uint8_t h[JWTS_REFRESH_HASH_LEN], int64_t now, const jwts_device *device,
                       jwts_tokens *out)
{
    uint8_t next_secret[JWTS_SECRET_BYTES];
    jwts_err rc = jwts_random_bytes(next_secret, sizeof next_secret);
    if (rc) return rc;
    jwts_session n = *s;
    n.updated_at_ms = now;
    n.last_seen_ms = now;
    if (m->opts.idle_timeout_ms) n.idle_expires_at_ms = now + m->opts.idle_timeout_ms;
    shift_older(&s->refresh, &n.refresh);
    n.refresh.generation = s->refresh.generation + 1;
    n.refresh.rotated_at_ms = now;
    n.refresh.confirmed = false;
    if (device && device->ip) n.client_ip = device->ip;
    if (device && device->user_agent) n.user_agent = device->user_agent;
    memcpy(n.refresh.previous_hash, h, JWTS_REFRESH_HASH_LEN);
    jwts_rt_hash(next_secret, n.refresh.current_hash);
    jwts_rt_seal(secret, next_secret, n.refresh.sealed_next);
    bool new_device = false;
    rc = device_is_new(m, ctx, s, device ? device->user_agent : NULL, &new_device);
    if (!rc) rc = jwts_mgr_replace_refreshed(m, ctx, &n, h, jwts_mgr_ttl_ms(m, &n, now), new_device ? device : NULL);
    if (!rc) rc = jwts_mgr_issue(m, &n, next_secret, now, now, out);
    OPENSSL_cleanse(next_secret, sizeof next_secret);
    return rc;
}

/* S was rotated out but may still be answered: hand out the pair its rotation produced. Within
 * the grace window the access token is dated at the rotation, so concurrent callers get the same
 * bytes; a later retry gets a fresh access token with the same refresh token. */
static jwts_err reissue(jwts_manager *m, const jwts_session *s, const uint8_t secret[32], bool in_grace, int64_t now,
                        jwts_tokens *out)
{
    uint8_t next_secret[JWTS_SECRET_BYTES], h[JWTS_REFRESH_HASH_LEN];
    jwts_rt_seal(secret, s->refresh.sealed_next, next_secret);
    jwts_rt_hash(next_secret, h);
    jwts_err rc = hash_equal(h, s->refresh.current_hash)
                      ? jwts_mgr_issue(m, s, next_secret, in_grace ? s->refresh.rotated_at_ms : now, now, out)
                      : jwts_fail(JWTS_E_INTERNAL, "sealed refresh secret does not match");
    OPENSSL_cleanse(next_secret, sizeof next_secret);
    return rc;
}

/* A rotated-out token that may no longer be used came back: revoke the session. previous: it is
 * the last one rotated out (its generation and rotation time are known). The revocation that
 * deletes the session emits THEFT_DETECTED then REVOKED/THEFT. */
static jwts_err reused(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, const char *which, bool previous,
                       const jwts_device *device)
{
    jwts_metrics_refresh_outcome(m->opts.metrics, JWTS_REFRESH_REUSED);
    jwts_err rc = jwts_mgr_delete_theft(m, ctx, s, previous, device);
    if (rc && rc != JWTS_E_NOT_FOUND) return jwts_fail_wrap(rc, "refresh token reused; revoking the session failed");
    return jwts_fail(JWTS_E_REFRESH_REUSED, "%s refresh token was used again; session revoked", which);
}

/* One look at the stored session s for the presented secret (hash h). */
static jwts_err decide(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, const jwts_refresh_parts *p,
                       const uint8_t h[JWTS_REFRESH_HASH_LEN], const jwts_device *device, jwts_tokens *out)
{
    int64_t now = jwts_mgr_now_ms(m);
    const jwts_refresh_state *r = &s->refresh;
    if (hash_equal(h, r->current_hash)) {
        jwts_err rc = check_alive(m, s, now);
        if (!rc) rc = rotate(m, ctx, s, p->secret, h, now, device, out);
        if (!rc) jwts_metrics_refresh_outcome(m->opts.metrics, JWTS_REFRESH_ROTATED);
        return rc;
    }
    if (r->generation > 0 && hash_equal(h, r->previous_hash)) {
        bool in_grace = now - r->rotated_at_ms < m->opts.refresh_grace_ms;
        if (r->confirmed && !in_grace) return reused(m, ctx, s, "a superseded", true, device);
        jwts_err rc = check_alive(m, s, now);
        if (!rc) rc = reissue(m, s, p->secret, in_grace, now, out);
        if (!rc) jwts_metrics_refresh_outcome(m->opts.metrics, JWTS_REFRESH_GRACE);
        return rc;
    }
    if (jwts_rt_is_older(r, h)) return reused(m, ctx, s, "an older", false, device);
    return jwts_fail(JWTS_E_NOT_FOUND, "refresh token not recognised");
}

static jwts_err refresh(jwts_manager *m, const jwts_ctx *ctx, const char *refresh_token, const jwts_device *device,
                       jwts_tokens *out)
{
    if (m->opts.verify_only) return jwts_fail(JWTS_E_UNSUPPORTED, "refresh: this manager only verifies (no signing key)");
    jwts_err rc = jwts_mgr_device_check(device);
    if (rc) return rc;
    jwts_refresh_parts p;
    rc = jwts_rt_parse(refresh_token, &p);
    if (rc) return rc;
    uint8_t h[JWTS_REFRESH_HASH_LEN];
    jwts_rt_hash(p.secret, h);
    jwts_session_key key = {p.user_id, p.session_id};
    rc = JWTS_E_CONFLICT;
    for (int attempt = 0; attempt < MAX_ATTEMPTS && rc == JWTS_E_CONFLICT; attempt++) {
        jwts_session *s = NULL;
        rc = jwts_store_get(m->opts.store, ctx, &key, &s);
        if (rc == JWTS_E_NOT_FOUND) rc = jwts_fail(JWTS_E_NOT_FOUND, "refresh token's session is gone");
        if (rc) break;
        rc = decide(m, ctx, s, &p, h, device, out);
        jwts_session_free(s);
    }
    if (rc == JWTS_E_CONFLICT) rc = jwts_fail(JWTS_E_CONFLICT, "refresh: too many concurrent changes");
    OPENSSL_cleanse(&p, sizeof p);
    return rc;
}

/* Whether p points into *t: refreshing into the struct that holds the token (t.refresh_token). */
static bool points_into(const char *p, const jwts_tokens *t)
{
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)t;
    return p && a >= lo && a < lo + sizeof *t;
}

jwts_err jwts_manager_refresh(jwts_manager *m, const jwts_ctx *ctx, const char *refresh_token, jwts_tokens *out)
{
    return jwts_manager_refresh_device(m, ctx, refresh_token, NULL, out);
}

jwts_err jwts_manager_refresh_device(jwts_manager *m, const jwts_ctx *ctx, const char *refresh_token,
                                     const jwts_device *device, jwts_tokens *out)
{
    if (!m || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "refresh: NULL manager or out");
    /* into the struct holding the token: the new pair is built aside and replaces the old one
     * (freed) on success; on failure the old pair stays. Else out is written whole (not read). */
    bool in_place = points_into(refresh_token, out);
    jwts_tokens fresh;
    memset(&fresh, 0, sizeof fresh);
    if (!in_place) memset(out, 0, sizeof *out);
    jwts_op_scope sc;
    jwts_ctx c = jwts_mgr_begin(m, &sc, JWTS_OP_REFRESH, ctx);
    jwts_err rc = jwts_op_end(&sc, refresh(m, &c, refresh_token, device, in_place ? &fresh : out));
    if (in_place && rc == JWTS_OK) {
        jwts_tokens_clear(out);
        *out = fresh;
        OPENSSL_cleanse(&fresh, sizeof fresh);
    } else if (in_place) {
        jwts_tokens_clear(&fresh);
    } else if (rc) {
        jwts_tokens_clear(out); /* empty on failure, whatever a retry left in it */
    }
    return rc;
}

bool jwts_mgr_confirms(const jwts_session *s, const char *jti)
{
    if (s->refresh.generation == 0 || s->refresh.confirmed || !jti) return false;
    char current[JWTS_JTI_LEN + 1];
    jwts_rt_jti(s->refresh.current_hash, current);
    return strlen(jti) == strlen(current) && CRYPTO_memcmp(jti, current, strlen(current)) == 0;
}

void jwts_mgr_confirm(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, const char *jti, int64_t now_ms)
{
    if (!jwts_mgr_confirms(s, jti)) return;
    jwts_refresh_state next = s->refresh;
    next.confirmed = true;
    jwts_session_key key = {s->user_id, s->session_id};
    jwts_store_rotate(m->opts.store, ctx, &key, s->refresh.current_hash, &next, jwts_mgr_ttl_ms(m, s, now_ms), NULL);
}
