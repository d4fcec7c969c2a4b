/*
 * create.c - create a session for a user and issue its first pair of tokens.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "jwtsession/random.h"
#include "manager/events_int.h"
#include "manager/manager_int.h"

/* Make room under max_sessions_per_user (refuse, or revoke the oldest sessions), and with
 * new_device_events tell whether user_agent (NULL: unknown) is new for the user: one listing of the
 * user's sessions serves both, and none is made when neither asks. */
static jwts_err look_at_user(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *user_agent,
                             bool *new_device)
{
    size_t max = m->opts.max_sessions_per_user;
    bool devices = m->opts.new_device_events && user_agent;
    *new_device = false;
    if (max == 0 && !devices) return JWTS_OK;
    jwts_session_list list;
    jwts_err rc = jwts_store_list_user(m->opts.store, ctx, user_id, &list);
    if (rc) return rc;
    *new_device = devices && jwts_mgr_device_unseen(&list, user_agent, NULL);
    if (max && list.count >= max && m->opts.limit_policy == JWTS_LIMIT_REFUSE) {
        rc = jwts_fail(JWTS_E_LIMIT, "user has %zu sessions (max_sessions_per_user %zu)", list.count, max);
    } else if (max && list.count >= max) {
        size_t evict = list.count - max + 1; /* the list is oldest first */
        jwts_session_key *keys = calloc(evict, sizeof *keys);
        if (!keys) rc = jwts_fail(JWTS_E_NO_MEMORY, "create: out of memory");
        for (size_t i = 0; keys && i < evict; i++)
            keys[i] = (jwts_session_key){list.items[i]->user_id, list.items[i]->session_id};
        if (keys) rc = jwts_mgr_evict(m, ctx, keys, evict);
        free(keys);
    }
    jwts_session_list_free(&list);
    return rc;
}

static jwts_err create(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *metadata,
                       const jwts_device *device, jwts_tokens *out)
{
    if (m->opts.verify_only) return jwts_fail(JWTS_E_UNSUPPORTED, "create: this manager only verifies (no signing key)");
    if (!jwts_user_id_valid(user_id))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "user_id: " JWTS_USER_ID_RULE);
    jwts_err drc = jwts_mgr_device_check(device);
    if (drc) return drc;
    char *canonical = NULL;
    if (metadata) {
        jwts_err rc = jwts_metadata_canonicalize(metadata, strlen(metadata), NULL, &canonical);
        if (rc) return rc;
    }
    char sid[JWTS_SESSION_ID_LEN + 1];
    uint8_t secret[JWTS_SECRET_BYTES];
    jwts_err rc = jwts_session_id_new(user_id, sid);
    if (!rc) rc = jwts_random_bytes(secret, sizeof secret);
    bool new_device = false;
    if (!rc) rc = look_at_user(m, ctx, user_id, device ? device->user_agent : NULL, &new_device);
    if (rc) goto done;

    int64_t now = jwts_mgr_now_ms(m);
    jwts_session s = {.user_id = user_id, .session_id = sid, .created_at_ms = now, .updated_at_ms = now,
                      .expires_at_ms = now + m->opts.absolute_lifetime_ms, .last_seen_ms = now,
                      .idle_expires_at_ms = m->opts.idle_timeout_ms ? now + m->opts.idle_timeout_ms : 0,
                      .metadata = canonical,
                      .client_ip = device ? device->ip : NULL,
                      .user_agent = device ? device->user_agent : NULL};
    jwts_rt_hash(secret, s.refresh.current_hash);
    rc = jwts_mgr_set_created(m, ctx, &s, jwts_mgr_ttl_ms(m, &s, now), new_device ? device : NULL);
    if (!rc) rc = jwts_mgr_issue(m, &s, secret, now, now, out);
done:
    OPENSSL_cleanse(secret, sizeof secret);
    free(canonical);
    return rc;
}

jwts_err jwts_manager_create(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *metadata,
                             jwts_tokens *out)
{
    return jwts_manager_create_device(m, ctx, user_id, metadata, NULL, out);
}

jwts_err jwts_manager_create_device(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *metadata,
                                    const jwts_device *device, jwts_tokens *out)
{
    if (!m || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "create: NULL manager or out");
    memset(out, 0, sizeof *out);
    jwts_op_scope sc;
    jwts_ctx c = jwts_mgr_begin(m, &sc, JWTS_OP_CREATE, ctx);
    return jwts_op_end(&sc, create(m, &c, user_id, metadata, device, out));
}

jwts_err jwts_mgr_device_check(const jwts_device *device)
{
    if (!device) return JWTS_OK;
    if (device->ip && !jwts_client_ip_valid(device->ip))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "device.ip: not an IPv4 or IPv6 address");
    if (device->user_agent && !jwts_user_agent_valid(device->user_agent))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "device.user_agent: " JWTS_USER_AGENT_RULE);
    return JWTS_OK;
}
