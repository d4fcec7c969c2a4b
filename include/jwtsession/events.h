/*
 * events.h - session lifecycle events: created, refreshed, revoked (and by whom), expired, theft
 * detected, new device.
 *
 * A manager given an on_event callback (jwts_manager_options) calls it once per lifecycle change,
 * after the store write that made the change succeeded and never when it failed. An event holds
 * ids and times only, never a token, a secret or a hash of one. See docs/events.md.
 */
#ifndef JWTSESSION_EVENTS_H
#define JWTSESSION_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What happened to a session. */
typedef enum jwts_event_kind {
    JWTS_EVENT_CREATED = 1,        /* jwts_manager_create stored a new session */
    JWTS_EVENT_REFRESHED = 2,      /* a refresh rotated the session's refresh token */
    JWTS_EVENT_REVOKED = 3,        /* the session was deleted; reason says by whom */
    JWTS_EVENT_EXPIRED = 4,        /* the store dropped the session at its end (sweep or cleanup) */
    JWTS_EVENT_THEFT_DETECTED = 5, /* a rotated-out refresh token came back (followed by REVOKED/THEFT) */
    JWTS_EVENT_NEW_DEVICE = 6      /* a create/refresh from a user agent the user's other sessions lack
                                      (with jwts_manager_options.new_device_events; after its CREATED or
                                      REFRESHED) */
} jwts_event_kind;

/* Why a session was revoked (JWTS_EVENT_REVOKED). */
typedef enum jwts_revoke_reason {
    JWTS_REVOKE_NONE = 0,  /* not a revocation */
    JWTS_REVOKE_USER = 1,  /* the session's own user (logout, revoking one of their devices) */
    JWTS_REVOKE_ADMIN = 2, /* an administrator */
    JWTS_REVOKE_THEFT = 3, /* refresh token reuse: the whole session is ended */
    JWTS_REVOKE_LIMIT = 4  /* evicted as the oldest when max_sessions_per_user was reached */
} jwts_revoke_reason;

/* One lifecycle event. Strings are valid during the callback only (copy what you keep). */
typedef struct jwts_event {
    jwts_event_kind kind;
    const char *user_id;
    const char *session_id;
    int64_t time_ms;           /* when, on the manager's clock (Unix ms) */
    jwts_revoke_reason reason; /* REVOKED: by whom; JWTS_REVOKE_NONE otherwise */
    uint64_t generation;       /* REFRESHED: the new generation; THEFT_DETECTED: the session's
                                  generation when the reuse was seen; 0 otherwise */
    int64_t rotated_out_at_ms; /* THEFT_DETECTED: when the reused token was rotated out, when known
                                  (the previous generation's); 0: unknown (an older generation) */
    int64_t reused_generation;  /* THEFT_DETECTED: the generation of the reused token (the first
                                   pair is 0) when known (the previous one); -1: unknown */
    const char *client_ip;      /* THEFT_DETECTED, NEW_DEVICE: the client, when known; NULL otherwise */
    const char *user_agent;     /* likewise */
} jwts_event;

/* The event sink: called on the thread that made the change (EXPIRED: on the store's sweep
 * thread, or within jwts_manager_cleanup or the call that dropped the session, with a store lock
 * held; the memory and file stores report expiry to the sink, Redis writes it to its stream). It
 * must be quick and must not call the manager or the store: hand the event to a queue
 * (jwtsessiond's webhook does). */
typedef void (*jwts_event_fn)(void *arg, const jwts_event *ev);

/* "created", "refreshed", "revoked", "expired", "theft_detected", "new_device"; "unknown". */
const char *jwts_event_kind_name(jwts_event_kind kind);

/* "user", "admin", "theft", "limit"; "" for JWTS_REVOKE_NONE. */
const char *jwts_revoke_reason_name(jwts_revoke_reason reason);

/* The event as one JSON object (docs/events.md) into buf (cap bytes with the NUL); *len (may be
 * NULL) gets its length. A user agent is cut to 256 bytes, a client IP to 64, so
 * JWTS_EVENT_JSON_MAX bytes always fit. JWTS_E_LIMIT when it does not fit (buf then holds ""),
 * JWTS_E_INVALID_ARGUMENT for NULL arguments. */
jwts_err jwts_event_json(const jwts_event *ev, char *buf, size_t cap, size_t *len);

#define JWTS_EVENT_JSON_MAX 4096 /* a buffer jwts_event_json always fits in */

#ifdef __cplusplus
}
#endif
#endif
