/*
 * admin.c - revoke one session or all of a user's, list a user's sessions, change metadata, and
 * clean up expired sessions.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "manager/events_int.h"
#include "manager/manager_int.h"

#define METADATA_ATTEMPTS 4

jwts_err jwts_manager_revoke(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *session_id)
{
    return jwts_manager_revoke_by(m, ctx, user_id, session_id, JWTS_REVOKE_USER);
}

/* Revoke (user_id, session_id); user_id NULL: the user of the session found by its id alone. The
 * delete still names (user, id), so a session replaced meanwhile by another user's is not touched. */
static jwts_err revoke_one(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *session_id,
                           jwts_revoke_reason by)
{
    if (user_id) return jwts_mgr_delete_by(m, ctx, &(jwts_session_key){user_id, session_id}, by);
    jwts_session *s = NULL;
    jwts_err rc = jwts_store_get_by_id(m->opts.store, ctx, session_id, &s);
    if (rc) return rc;
    jwts_session_key key = {s->user_id, s->session_id};
    rc = jwts_mgr_delete_by(m, ctx, &key, by);
    jwts_session_free(s);
    return rc;
}

jwts_err jwts_manager_revoke_by(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *session_id,
                                jwts_revoke_reason by)
{
    if (!m) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "revoke: NULL manager");
    jwts_op_scope sc;
    jwts_ctx c = jwts_mgr_begin(m, &sc, JWTS_OP_REVOKE, ctx);
    return jwts_op_end(&sc, revoke_one(m, &c, user_id, session_id, by));
}

jwts_err jwts_manager_revoke_user(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, size_t *revoked)
{
    return jwts_manager_revoke_user_by(m, ctx, user_id, revoked, JWTS_REVOKE_ADMIN);
}

jwts_err jwts_manager_revoke_user_by(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, size_t *revoked,
                                     jwts_revoke_reason by)
{
    if (!m) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "revoke_user: NULL manager");
    jwts_op_scope sc;
    jwts_ctx c = jwts_mgr_begin(m, &sc, JWTS_OP_REVOKE_USER, ctx);
    return jwts_op_end(&sc, jwts_mgr_revoke_all(m, &c, user_id, by, revoked));
}

jwts_err jwts_manager_revoke_user_except(jwts_manager *m, const jwts_ctx *ctx, const char *user_id,
                                         const char *keep_session_id, size_t *revoked)
{
    return jwts_manager_revoke_user_except_by(m, ctx, user_id, keep_session_id, revoked, JWTS_REVOKE_USER);
}

jwts_err jwts_manager_revoke_user_except_by(jwts_manager *m, const jwts_ctx *ctx, const char *user_id,
                                            const char *keep_session_id, size_t *revoked, jwts_revoke_reason by)
{
    if (!m) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "revoke_user_except: NULL manager");
    jwts_op_scope sc;
    jwts_ctx c = jwts_mgr_begin(m, &sc, JWTS_OP_REVOKE_USER, ctx);
    return jwts_op_end(&sc, jwts_mgr_revoke_except(m, &c, user_id, keep_session_id, by, revoked));
}

jwts_err jwts_manager_list(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out)
{
    if (out) *out = (jwts_session_list){0}; /* empty, safe to free, on every failure */
    if (!m) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "list: NULL manager");
    jwts_op_scope sc;
    jwts_ctx c = jwts_mgr_begin(m, &sc, JWTS_OP_LIST, ctx);
    return jwts_op_end(&sc, jwts_store_list_user(m->opts.store, &c, user_id, out));
}

static jwts_err update_metadata(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *session_id,
                                const char *metadata)
{
    char *canonical = NULL;
    jwts_err rc = jwts_metadata_canonicalize(metadata, strlen(metadata), NULL, &canonical);
    if (rc) return rc;
    jwts_session_key key = {user_id, session_id};
    rc = JWTS_E_CONFLICT;
    for (int attempt = 0; attempt < METADATA_ATTEMPTS && rc == JWTS_E_CONFLICT; attempt++) {
        jwts_session *s = NULL;
        rc = jwts_store_get(m->opts.store, ctx, &key, &s);
        if (rc) break;
        int64_t now = jwts_mgr_now_ms(m);
        jwts_session n = *s;
        n.metadata = canonical;
        n.updated_at_ms = now;
        rc = jwts_store_replace(m->opts.store, ctx, &n, s->refresh.current_hash, jwts_mgr_ttl_ms(m, &n, now));
        jwts_session_free(s);
    }
    free(canonical);
    return rc;
}

jwts_err jwts_manager_update_metadata(jwts_manager *m, const jwts_ctx *ctx, const char *user_id,
                                      const char *session_id, const char *metadata)
{
    if (!m || !metadata) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "update_metadata: NULL manager or metadata");
    jwts_op_scope sc;
    jwts_ctx c = jwts_mgr_begin(m, &sc, JWTS_OP_UPDATE_METADATA, ctx);
    return jwts_op_end(&sc, update_metadata(m, &c, user_id, session_id, metadata));
}

jwts_err jwts_manager_cleanup(jwts_manager *m, const jwts_ctx *ctx, size_t *removed)
{
    if (!m) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "cleanup: NULL manager");
    jwts_op_scope sc;
    jwts_ctx c = jwts_mgr_begin(m, &sc, JWTS_OP_CLEANUP, ctx);
    return jwts_op_end(&sc, jwts_store_cleanup(m->opts.store, &c, removed));
}

jwts_err jwts_refresh_token_parse(const char *refresh_token, char user_id[JWTS_USER_ID_MAX + 1],
                                  char session_id[JWTS_SESSION_ID_MAX + 1])
{
    jwts_refresh_parts p;
    jwts_err rc = jwts_rt_parse(refresh_token, &p);
    if (rc == JWTS_OK) {
        memcpy(user_id, p.user_id, sizeof p.user_id);
        memcpy(session_id, p.session_id, sizeof p.session_id);
    }
    OPENSSL_cleanse(&p, sizeof p);
    return rc;
}
