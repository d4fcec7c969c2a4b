/*
 * issue.c - mint the pair handed to a client: the access token (a JWT signed by the key set's
 * active key) and the refresh token text.
 *
 * The access token is a function of the session's ids and fixed deadlines, the refresh secret
 * (its jti is derived from the secret's hash) and the issue time, so re-issuing within the grace
 * window gives the same token.
 */
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "manager/manager_int.h"

#define ACCESS_TOKEN_CAP 8192

/* The latest the access token may live: the session's absolute end and refresh deadline (not the
 * idle deadline, which moves with every touch and would make re-issued tokens differ). */
static int64_t access_cap_ms(const jwts_manager *m, const jwts_session *s)
{
    int64_t base = s->refresh.rotated_at_ms > s->created_at_ms ? s->refresh.rotated_at_ms : s->created_at_ms;
    int64_t end = base + m->opts.refresh_ttl_ms;
    return s->expires_at_ms < end ? s->expires_at_ms : end;
}

jwts_err jwts_mgr_issue(const jwts_manager *m, const jwts_session *s, const uint8_t secret[JWTS_SECRET_BYTES],
                        int64_t issued_at_ms, int64_t now_ms, jwts_tokens *out)
{
    memset(out, 0, sizeof *out);
    char jti[JWTS_JTI_LEN + 1];
    uint8_t hash[JWTS_REFRESH_HASH_LEN];
    jwts_rt_hash(secret, hash);
    jwts_rt_jti(hash, jti);
    int64_t iat = issued_at_ms / 1000, exp = iat + m->opts.access_ttl_ms / 1000, cap = access_cap_ms(m, s) / 1000;
    if (cap < exp) exp = cap;
    jwts_std_claims c = {.iss = m->issuer, .sub = s->user_id, .aud = m->audience, .sid = s->session_id,
                         .jti = jti, .iat = iat, .exp = exp};
    char buf[ACCESS_TOKEN_CAP];
    size_t len = 0;
    jwts_keys_ticket kt;
    jwts_err rc = jwts_jwt_sign_std(jwts_keyset_active(jwts_mgr_keys_acquire(m, &kt)), &c, buf, sizeof buf, &len);
    jwts_mgr_keys_release(m, &kt);
    if (rc) return jwts_fail_wrap(rc, "access token");
    out->access_token = strndup(buf, len);
    if (!out->access_token) return jwts_fail(JWTS_E_NO_MEMORY, "access token: out of memory");
    rc = jwts_rt_format(s->user_id, s->session_id, secret, out->refresh_token);
    if (rc) {
        jwts_tokens_clear(out);
        return rc;
    }
    memcpy(out->session_id, s->session_id, strlen(s->session_id) + 1);
    int64_t now_s = now_ms / 1000;
    out->expires_in_s = exp > now_s ? exp - now_s : 0;
    int64_t refresh_left = jwts_mgr_deadline_ms(m, s) - now_ms;
    out->refresh_expires_in_s = refresh_left > 0 ? refresh_left / 1000 : 0;
    return JWTS_OK;
}
