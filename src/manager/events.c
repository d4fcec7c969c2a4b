/*
 * events.c - lifecycle events: emitting them to the manager's on_event sink and their JSON form.
 *
 * An event is built on the stack and handed to the sink after the store write that made the
 * change succeeded. It carries ids and times only: never a token, a secret or a hash of one.
 */
#include <string.h>

#include "core/event_note.h"
#include "jwtsession/buf.h"
#include "jwtsession/error.h"
#include "manager/events_int.h"
#include "manager/manager_int.h"

#define USER_AGENT_MAX 256 /* bytes of a user agent written to JSON */

/* Hand ev to the sink; a theft revocation is told as THEFT_DETECTED, then REVOKED. */
static void emit(const jwts_manager *m, const jwts_event *ev)
{
    if (!m->opts.on_event) return;
    if (ev->kind == JWTS_EVENT_REVOKED && ev->reason == JWTS_REVOKE_THEFT) {
        jwts_event theft = *ev;
        theft.kind = JWTS_EVENT_THEFT_DETECTED;
        theft.reason = JWTS_REVOKE_NONE;
        m->opts.on_event(m->opts.on_event_arg, &theft);
    }
    jwts_event revoked = *ev;
    if (ev->kind == JWTS_EVENT_REVOKED) {
        revoked.generation = 0, revoked.reused_generation = -1, revoked.rotated_out_at_ms = 0;
        revoked.client_ip = revoked.user_agent = NULL;
    }
    m->opts.on_event(m->opts.on_event_arg, &revoked);
}

static jwts_event event_of(const jwts_manager *m, jwts_event_kind kind, const char *user_id, const char *session_id,
                           jwts_revoke_reason reason)
{
    return (jwts_event){.kind = kind, .user_id = user_id, .session_id = session_id, .time_ms = jwts_mgr_now_ms(m),
                        .reason = reason, .reused_generation = -1};
}

/* The NEW_DEVICE event of s from device (its client and user agent), or NULL when device is NULL. */
static const jwts_event *device_event(const jwts_manager *m, const jwts_session *s, const jwts_device *device,
                                      jwts_event *ev)
{
    if (!device) return NULL;
    *ev = event_of(m, JWTS_EVENT_NEW_DEVICE, s->user_id, s->session_id, JWTS_REVOKE_NONE);
    ev->client_ip = device->ip;
    ev->user_agent = device->user_agent;
    return ev;
}

/* Write with ev (and the NEW_DEVICE event then, may be NULL) noted; on success tell the sink. */
static jwts_err write_noted(const jwts_manager *m, const jwts_event *ev, const jwts_event *then, jwts_err rc)
{
    jwts_event_note_set(NULL, NULL);
    if (!rc) emit(m, ev);
    if (!rc && then) emit(m, then);
    return rc;
}

jwts_err jwts_mgr_set_created(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms,
                              const jwts_device *new_device)
{
    jwts_event ev = event_of(m, JWTS_EVENT_CREATED, s->user_id, s->session_id, JWTS_REVOKE_NONE), dev;
    const jwts_event *then = device_event(m, s, new_device, &dev);
    jwts_event_note_set(&ev, then);
    return write_noted(m, &ev, then, jwts_store_set(m->opts.store, ctx, s, ttl_ms));
}

jwts_err jwts_mgr_replace_refreshed(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *n,
                                    const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms,
                                    const jwts_device *new_device)
{
    jwts_event ev = event_of(m, JWTS_EVENT_REFRESHED, n->user_id, n->session_id, JWTS_REVOKE_NONE), dev;
    ev.generation = n->refresh.generation;
    const jwts_event *then = device_event(m, n, new_device, &dev);
    jwts_event_note_set(&ev, then);
    return write_noted(m, &ev, then, jwts_store_replace(m->opts.store, ctx, n, expected_hash, ttl_ms));
}

bool jwts_mgr_device_unseen(const jwts_session_list *list, const char *user_agent, const char *except_session_id)
{
    if (!user_agent) return false;
    for (size_t i = 0; i < list->count; i++) {
        const jwts_session *s = list->items[i];
        if (except_session_id && strcmp(s->session_id, except_session_id) == 0) continue;
        if (s->user_agent && strcmp(s->user_agent, user_agent) == 0) return false;
    }
    return true;
}

/* Delete key noting ev; the sink gets it when the session was there. */
static jwts_err delete_noted(jwts_manager *m, const jwts_ctx *ctx, const jwts_session_key *key, const jwts_event *ev)
{
    jwts_event_note_set(ev, NULL);
    jwts_err rc = jwts_store_delete(m->opts.store, ctx, key);
    jwts_event_note_set(NULL, NULL);
    if (!rc) emit(m, ev);
    return rc;
}

jwts_err jwts_mgr_delete_by(jwts_manager *m, const jwts_ctx *ctx, const jwts_session_key *key, jwts_revoke_reason by)
{
    jwts_event ev = event_of(m, JWTS_EVENT_REVOKED, key->user_id, key->session_id, by);
    return delete_noted(m, ctx, key, &ev);
}

jwts_err jwts_mgr_delete_theft(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, bool previous,
                               const jwts_device *device)
{
    jwts_event ev = event_of(m, JWTS_EVENT_REVOKED, s->user_id, s->session_id, JWTS_REVOKE_THEFT);
    if (device) ev.client_ip = device->ip, ev.user_agent = device->user_agent; /* who showed the old token */
    ev.generation = s->refresh.generation;
    if (previous) {
        ev.reused_generation = (int64_t)s->refresh.generation - 1;
        ev.rotated_out_at_ms = s->refresh.rotated_at_ms;
    }
    jwts_session_key key = {s->user_id, s->session_id};
    return delete_noted(m, ctx, &key, &ev);
}

/* The store dropped s at its expiry: EXPIRED, dated by the store's clock. */
static void on_store_expired(void *arg, const jwts_session *s, int64_t now_ms)
{
    const jwts_manager *m = arg;
    jwts_event ev = {.kind = JWTS_EVENT_EXPIRED, .user_id = s->user_id, .session_id = s->session_id,
                     .time_ms = now_ms};
    m->opts.on_event(m->opts.on_event_arg, &ev);
}

void jwts_mgr_events_hook(jwts_manager *m, bool on)
{
    if (!m->opts.on_event) return;
    jwts_err rc = jwts_store_on_expired(m->opts.store, on ? on_store_expired : NULL, on ? m : NULL);
    (void)rc; /* JWTS_E_UNSUPPORTED: this store cannot tell (docs/events.md) */
}

const char *jwts_event_kind_name(jwts_event_kind kind)
{
    switch (kind) {
    case JWTS_EVENT_CREATED: return "created";
    case JWTS_EVENT_REFRESHED: return "refreshed";
    case JWTS_EVENT_REVOKED: return "revoked";
    case JWTS_EVENT_EXPIRED: return "expired";
    case JWTS_EVENT_THEFT_DETECTED: return "theft_detected";
    case JWTS_EVENT_NEW_DEVICE: return "new_device";
    }
    return "unknown";
}

const char *jwts_revoke_reason_name(jwts_revoke_reason reason)
{
    switch (reason) {
    case JWTS_REVOKE_NONE: return "";
    case JWTS_REVOKE_USER: return "user";
    case JWTS_REVOKE_ADMIN: return "admin";
    case JWTS_REVOKE_THEFT: return "theft";
    case JWTS_REVOKE_LIMIT: return "limit";
    }
    return "unknown";
}

static void put_str(jwts_buf *b, const char *key, const char *v, size_t max)
{
    jwts_buf_printf(b, ",\"%s\":", key);
    size_t n = strlen(v);
    jwts_buf_json_str(b, v, n < max ? n : max, JWTS_BUF_JSON_QUOTE);
}

jwts_err jwts_event_json(const jwts_event *ev, char *buf, size_t cap, size_t *len)
{
    if (!ev || !buf || !cap) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "event_json: NULL event or buffer");
    jwts_buf b = JWTS_BUF_FIXED(buf, cap);
    jwts_buf_printf(&b, "{\"type\":\"%s\"", jwts_event_kind_name(ev->kind));
    put_str(&b, "user_id", ev->user_id ? ev->user_id : "", JWTS_USER_ID_MAX);
    put_str(&b, "session_id", ev->session_id ? ev->session_id : "", JWTS_SESSION_ID_MAX);
    jwts_buf_puts(&b, ",\"time_ms\":");
    jwts_buf_i64(&b, ev->time_ms);
    if (ev->reason != JWTS_REVOKE_NONE) put_str(&b, "reason", jwts_revoke_reason_name(ev->reason), 16);
    if (ev->generation) {
        jwts_buf_puts(&b, ",\"generation\":");
        jwts_buf_u64(&b, ev->generation);
    }
    if (ev->kind == JWTS_EVENT_THEFT_DETECTED && ev->reused_generation >= 0) {
        jwts_buf_puts(&b, ",\"reused_generation\":");
        jwts_buf_i64(&b, ev->reused_generation);
    }
    if (ev->kind == JWTS_EVENT_THEFT_DETECTED && ev->rotated_out_at_ms) {
        jwts_buf_puts(&b, ",\"rotated_out_at_ms\":");
        jwts_buf_i64(&b, ev->rotated_out_at_ms);
    }
    if (ev->client_ip) put_str(&b, "client_ip", ev->client_ip, 64);
    if (ev->user_agent) put_str(&b, "user_agent", ev->user_agent, USER_AGENT_MAX);
    jwts_buf_putc(&b, '}');
    if (b.err) {
        buf[0] = '\0';
        if (len) *len = 0;
        return jwts_fail(b.err == JWTS_E_LIMIT ? JWTS_E_LIMIT : b.err, "event_json: %zu bytes are not enough", cap);
    }
    if (len) *len = b.len;
    return JWTS_OK;
}

jwts_err jwts_mgr_evict(jwts_manager *m, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n)
{
    if (!m->opts.on_event) { /* one batch; a store with a stream records each deleted key's event */
        jwts_event ev = event_of(m, JWTS_EVENT_REVOKED, n ? keys[0].user_id : NULL, NULL, JWTS_REVOKE_LIMIT);
        jwts_event_note_set(&ev, NULL);
        jwts_err rc = jwts_store_delete_many(m->opts.store, ctx, keys, n, NULL);
        jwts_event_note_set(NULL, NULL);
        return rc;
    }
    for (size_t i = 0; i < n; i++) { /* one by one: each deleted session gets its event */
        jwts_err rc = jwts_mgr_delete_by(m, ctx, &keys[i], JWTS_REVOKE_LIMIT);
        if (rc && rc != JWTS_E_NOT_FOUND) return rc;
    }
    return JWTS_OK;
}

/* Delete each listed session of user_id but keep (NULL: none) one by one, so each gets its own
 * event; *n counts those deleted. A session gone meanwhile went with its own event. */
static jwts_err delete_listed(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *keep,
                              jwts_revoke_reason by, size_t *n)
{
    jwts_session_list list;
    jwts_err rc = jwts_store_list_user(m->opts.store, ctx, user_id, &list);
    for (size_t i = 0; !rc && i < list.count; i++) {
        if (keep && strcmp(list.items[i]->session_id, keep) == 0) continue;
        jwts_session_key key = {list.items[i]->user_id, list.items[i]->session_id};
        rc = jwts_mgr_delete_by(m, ctx, &key, by);
        if (rc == JWTS_OK) (*n)++;
        else if (rc == JWTS_E_NOT_FOUND) rc = JWTS_OK;
    }
    jwts_session_list_free(&list); /* empty on a failed listing */
    return rc;
}

/* delete_user, or delete_user_except when keep is set, noting a REVOKED event (no session id: a
 * store with a stream records one per deleted session). */
static jwts_err delete_user_noted(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *keep,
                                  jwts_revoke_reason by, size_t *deleted)
{
    jwts_event ev = event_of(m, JWTS_EVENT_REVOKED, user_id, NULL, by);
    jwts_event_note_set(&ev, NULL);
    jwts_err rc = keep ? jwts_store_delete_user_except(m->opts.store, ctx, user_id, keep, deleted)
                       : jwts_store_delete_user(m->opts.store, ctx, user_id, deleted);
    jwts_event_note_set(NULL, NULL);
    return rc;
}

jwts_err jwts_mgr_revoke_all(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, jwts_revoke_reason by,
                             size_t *revoked)
{
    if (!m->opts.on_event) return delete_user_noted(m, ctx, user_id, NULL, by, revoked);
    size_t n = 0;
    jwts_err rc = delete_listed(m, ctx, user_id, NULL, by, &n);
    size_t late = 0; /* created since the listing: deleted too, without a sink event */
    if (!rc) rc = delete_user_noted(m, ctx, user_id, NULL, by, &late);
    if (revoked) *revoked = n + late;
    return rc;
}

jwts_err jwts_mgr_revoke_except(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *keep_session_id,
                                jwts_revoke_reason by, size_t *revoked)
{
    if (!keep_session_id) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "revoke_user_except: no session to keep");
    if (!m->opts.on_event) return delete_user_noted(m, ctx, user_id, keep_session_id, by, revoked);
    jwts_session_key kept = {user_id, keep_session_id};
    jwts_session *s = NULL;
    jwts_err rc = jwts_store_get(m->opts.store, ctx, &kept, &s);
    jwts_session_free(s);
    if (rc == JWTS_E_NOT_FOUND) return jwts_fail(JWTS_E_NOT_FOUND, "revoke_user_except: the kept session is not there");
    if (rc) return rc;
    size_t n = 0;
    rc = delete_listed(m, ctx, user_id, keep_session_id, by, &n);
    size_t late = 0; /* created since the listing: deleted too, without a sink event */
    if (!rc) rc = delete_user_noted(m, ctx, user_id, keep_session_id, by, &late);
    if (rc == JWTS_E_NOT_FOUND) rc = JWTS_OK; /* the kept one went meanwhile: the others are gone */
    if (revoked) *revoked = n + late;
    return rc;
}
