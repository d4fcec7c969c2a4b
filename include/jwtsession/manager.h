/*
 * manager.h - jwts_manager, the session lifecycle over any store: create, validate, refresh
 * (rotate with theft detection), revoke, revoke all, list, update metadata, cleanup.
 *
 * A session is server-side state in a jwts_store. Its client holds a short-lived signed access
 * token (a JWT with iss, sub = user id, aud, sid = session id, jti, iat, exp) and an opaque refresh
 * token "<base64url(user id)>.<session id>.<256-bit secret>" of which only a SHA-256 hash is stored.
 *
 * Refresh rotates the secret atomically (compare-and-set on its hash). Concurrent refreshes of one
 * token within the grace window all receive the same new pair: the new secret is kept sealed under
 * the previous one, so only holders of the previous token can unseal it, and the access token's
 * claims are derived from it (identical bytes for HS*, RS* and EdDSA keys). A rotated token shown
 * after the grace window is taken as theft: the session is revoked, JWTS_E_REFRESH_REUSED.
 *
 * Threads: a manager is safe to share between threads; the store and key set it borrows must
 * outlive it (or, for the key set, be replaced first with jwts_manager_set_keyset).
 */
#ifndef JWTSESSION_MANAGER_H
#define JWTSESSION_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "ctx.h"
#include "error.h"
#include "events.h"
#include "jose.h"
#include "metrics.h"
#include "session.h"
#include "store.h"
#include "trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jwts_manager jwts_manager;

/* What create does when a user already has max_sessions_per_user sessions. */
typedef enum jwts_limit_policy {
    JWTS_LIMIT_REFUSE = 0,      /* JWTS_E_LIMIT */
    JWTS_LIMIT_EVICT_OLDEST = 1 /* revoke the oldest sessions to make room */
} jwts_limit_policy;

/* Zero means one thing in every options struct of the library: the default written beside the
 * field. A feature that can be turned off is turned off with JWTS_OFF (any negative value). The
 * programs follow the same rule: 0 is the default, "off" turns a feature off. */
#define JWTS_OFF (-1)

/* Manager options; zero fields take the defaults shown. */
typedef struct jwts_manager_options {
    jwts_store *store;            /* required; borrowed */
    const jwts_keyset *keyset;    /* required; borrowed; its active key signs, all keys verify */
    bool verify_only;             /* a resource server: the key set may hold public keys only
                                     (a JWKS); create and refresh fail JWTS_E_UNSUPPORTED, the
                                     rest (validate with revocation, revoke, list) works */
    const char *issuer;           /* "iss" of tokens, required on validate when set */
    const char *audience;         /* "aud" of tokens, required on validate when set */
    int64_t access_ttl_ms;        /* access token lifetime; default 15 min */
    int64_t refresh_ttl_ms;       /* a refresh token unused this long dies (sliding); default 30 days */
    int64_t idle_timeout_ms;      /* session ends when not seen this long; default: off (no idle limit) */
    int64_t absolute_lifetime_ms; /* hard end of a session after its creation; default 90 days */
    size_t max_sessions_per_user; /* default: unlimited */
    jwts_limit_policy limit_policy;
    int64_t refresh_grace_ms;     /* concurrent-refresh window; default 10 s; JWTS_OFF: none */
    int64_t leeway_ms;            /* clock skew allowed on token times; default: none */
    int64_t touch_interval_ms;    /* validate records last-seen at most this often; default 60 s;
                                     JWTS_OFF: validate never writes */
    const jwts_clock *clock;      /* NULL: the real clock */
    jwts_metrics *metrics;        /* operation counts and latencies (metrics.h); NULL: none; borrowed */
    jwts_tracer *tracer;          /* a span per operation, child of the ctx's parent (trace.h); NULL: none;
                                     borrowed. Wrap the store with jwts_store_observe_new for store spans. */
    jwts_event_fn on_event;       /* lifecycle events (events.h), after each successful change; NULL: none.
                                     Set, the manager also installs the store's expiry hook. */
    void *on_event_arg;
    bool new_device_events;       /* emit NEW_DEVICE when a create, or a refresh that changes a session's
                                     user agent, brings a user agent none of the user's other sessions
                                     has (one listing of the user's sessions per such call); default off */
} jwts_manager_options;

/* A new manager. JWTS_E_INVALID_ARGUMENT (with the option's name) for missing or bad options,
 * JWTS_E_BAD_KEY when the key set has no signing key (no key at all with verify_only). */
jwts_err jwts_manager_new(const jwts_manager_options *opts, jwts_manager **out);

/* Free m (NULL is fine). Does not free the store or key set. */
void jwts_manager_free(jwts_manager *m);

/* Replace the key set m signs and verifies with, safely while other threads use m (key rotation,
 * docs/keys.md). ks is borrowed as the one given to jwts_manager_new and must pass the same checks
 * (a signing key unless verify_only); on failure nothing changes. Each sign or verify uses one set
 * from start to end: calls already running finish with the previous set, later ones use ks. When
 * this returns no call uses the previous set any more, so *previous (may be NULL) is the caller's
 * to free (jwts_keyset_free). Waits for the running signs and verifies (microseconds), never for
 * the store. Swaps do not run concurrently with each other usefully: serialize them. */
jwts_err jwts_manager_set_keyset(jwts_manager *m, const jwts_keyset *ks, const jwts_keyset **previous);

/* Call hook(arg) whenever a validation meets a token whose kid (or algorithm) no key of the set
 * has (JWTS_E_KEY_NOT_FOUND): a verifier may then refetch its keys (rate-limited by the hook). The
 * hook runs on the validating thread, possibly a store thread: it must return at once and must not
 * call into m. Set it before m is shared; NULL removes it. */
void jwts_manager_set_key_miss_hook(jwts_manager *m, void (*hook)(void *arg), void *arg);

/* The options in force (defaults filled in). opts.keyset is the set given last; do not read it
 * concurrently with jwts_manager_set_keyset. */
const jwts_manager_options *jwts_manager_options_get(const jwts_manager *m);

#define JWTS_REFRESH_TOKEN_MAX 512 /* bytes of a refresh token */

/* A pair of tokens handed to a client (create and refresh). Release with jwts_tokens_clear().
 * Out parameters (this struct, jwts_session_list, jwts_validation): a call writes its out whole
 * without reading it (an uninitialised out is fine) and on failure leaves it empty, so clearing
 * or freeing an out is always safe. An out that still holds an earlier result is overwritten, so
 * clear it first, except jwts_manager_refresh(m, ctx, t.refresh_token, &t): refreshing into the
 * struct holding the token releases the old pair on success and leaves it as it was on failure. */
typedef struct jwts_tokens {
    char session_id[JWTS_SESSION_ID_MAX + 1];
    char *access_token;                             /* malloc'd compact JWT */
    char refresh_token[JWTS_REFRESH_TOKEN_MAX + 1]; /* a secret: wiped on clear */
    int64_t expires_in_s;         /* seconds the access token lives */
    int64_t refresh_expires_in_s; /* seconds the refresh token lives (unless revoked or idle) */
} jwts_tokens;

/* Wipe and free the tokens of t and zero it (NULL is fine). */
void jwts_tokens_clear(jwts_tokens *t);

/* Create a session for user_id with metadata (a JSON object text, or NULL) and issue its tokens.
 * One store write (plus a listing when max_sessions_per_user is set). */
jwts_err jwts_manager_create(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *metadata,
                             jwts_tokens *out);

/* The client device a session was created or refreshed from (docs/devices.md): its IP address
 * and user agent, as the HTTP request or the login service gives them. Either may be NULL (not
 * known). Kept in the session beside, never inside, the caller's metadata; jwts_manager_list
 * shows them with the session's created_at_ms and last_seen_ms. */
typedef struct jwts_device {
    const char *ip;         /* an IPv4 or IPv6 literal (jwts_client_ip_valid), or NULL */
    const char *user_agent; /* jwts_user_agent_valid (clean a raw header with jwts_user_agent_clean), or NULL */
} jwts_device;

/* jwts_manager_create recording the client's device (may be NULL: none). A bad ip or user agent
 * is JWTS_E_INVALID_ARGUMENT naming the field, and nothing is written. */
jwts_err jwts_manager_create_device(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *metadata,
                                    const jwts_device *device, jwts_tokens *out);

/* What a valid access token names. */
typedef struct jwts_validation {
    char user_id[JWTS_USER_ID_MAX + 1];
    char session_id[JWTS_SESSION_ID_MAX + 1];
    int64_t token_expires_at_s; /* the access token's exp */
} jwts_validation;

/* Validate an access token: signature and claims, then the session must exist (revocation is
 * instant) and be within its idle and absolute limits. Records last-seen at most once per
 * touch_interval. out may be NULL; session (may be NULL) gets a copy of the session.
 * JWTS_E_REVOKED when the session is gone, JWTS_E_EXPIRED when past a limit, or the token's own
 * error (JWTS_E_BAD_SIGNATURE, JWTS_E_EXPIRED, JWTS_E_CLAIM_MISMATCH, ...). With
 * JWTS_CTX_LOCAL_ONLY in ctx, JWTS_E_WOULD_BLOCK when the answer needs the network (a near-cache
 * miss, or the first use of a rotated pair); nothing was changed, so the call may be repeated
 * without the flag. */
jwts_err jwts_manager_validate(jwts_manager *m, const jwts_ctx *ctx, const char *token, size_t len,
                               jwts_validation *out, jwts_session **session);

/* The completion of jwts_manager_validate_async: rc as jwts_manager_validate returns it, and on
 * JWTS_OK the validation (valid during the call only). Runs on a store thread or within the call
 * (the detail of a failure is set on that thread); it must not block. */
typedef void (*jwts_validate_done)(void *arg, jwts_err rc, const jwts_validation *v);

/* Validate without waiting for the store: the token is checked on this thread, the session is
 * read with jwts_store_get_async, and done runs exactly once. Returns JWTS_OK when done is or will
 * be called; otherwise done is never called: JWTS_E_UNSUPPORTED when the store cannot answer
 * without a waiting thread (its get_async is missing or unsupported by its runner: the pooled
 * Redis store, Cluster, Sentinel), JWTS_E_INVALID_ARGUMENT, JWTS_E_CLOSED, JWTS_E_NO_MEMORY.
 * done gets JWTS_E_WOULD_BLOCK when the validation needs a write now (a due activity touch that
 * the store cannot defer, or the first use of a rotated pair): nothing was changed, and the
 * caller runs jwts_manager_validate on a thread that may block. */
jwts_err jwts_manager_validate_async(jwts_manager *m, const jwts_ctx *ctx, const char *token, size_t len,
                                     jwts_validate_done done, void *arg);

/* Exchange a refresh token for a new pair (rotation). JWTS_E_REFRESH_REUSED (and the session
 * revoked) for a rotated token shown after the grace window; JWTS_E_NOT_FOUND for an unknown
 * token or a session that is gone; JWTS_E_EXPIRED past the refresh, idle or absolute limits;
 * JWTS_E_MALFORMED for a token that is not one of ours. */
jwts_err jwts_manager_refresh(jwts_manager *m, const jwts_ctx *ctx, const char *refresh_token, jwts_tokens *out);

/* jwts_manager_refresh recording the device the refresh came from: a rotation stores its ip and
 * user agent in the same write (a NULL device or field keeps what the session has). A retry that
 * gets the same pair again (the grace window) writes nothing and so changes no device. A bad ip
 * or user agent is JWTS_E_INVALID_ARGUMENT, checked before anything else. */
jwts_err jwts_manager_refresh_device(jwts_manager *m, const jwts_ctx *ctx, const char *refresh_token,
                                     const jwts_device *device, jwts_tokens *out);

/* Revoke one session. JWTS_E_NOT_FOUND if it was not there (or is another user's). user_id NULL:
 * the session is found by its id alone (jwts_store_get_by_id: a generated id carries its user's
 * tag), for a caller who has only the session id; an id a caller chose is then JWTS_E_NOT_FOUND,
 * and a store without get_by_id JWTS_E_UNSUPPORTED. Its event says JWTS_REVOKE_USER and, either
 * way, names the session's user. */
jwts_err jwts_manager_revoke(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *session_id);

/* jwts_manager_revoke, the REVOKED event naming who asked (JWTS_REVOKE_USER or JWTS_REVOKE_ADMIN).
 * user_id NULL: found by the session id alone, as above. */
jwts_err jwts_manager_revoke_by(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *session_id,
                                jwts_revoke_reason by);

/* Revoke every session of user_id; *revoked (may be NULL) gets how many there were. Its events say
 * JWTS_REVOKE_ADMIN. With on_event set, the sessions are listed and deleted one by one so each
 * gets its event (a session created meanwhile is still deleted, without an event). */
jwts_err jwts_manager_revoke_user(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, size_t *revoked);

/* jwts_manager_revoke_user, the REVOKED events naming who asked. */
jwts_err jwts_manager_revoke_user_by(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, size_t *revoked,
                                     jwts_revoke_reason by);

/* "Sign out everywhere else": revoke every session of user_id but keep_session_id, atomically in
 * the store (jwts_store_delete_user_except); *revoked (may be NULL) gets how many. The kept session
 * is never revoked. JWTS_E_NOT_FOUND, and nothing revoked, when it is not a live session of
 * user_id (a mistyped id never signs the user out everywhere). */
jwts_err jwts_manager_revoke_user_except(jwts_manager *m, const jwts_ctx *ctx, const char *user_id,
                                         const char *keep_session_id, size_t *revoked);

/* jwts_manager_revoke_user_except, the REVOKED events naming who asked (jwts_manager_revoke_user_except
 * says JWTS_REVOKE_USER: signing out one's other devices). With an on_event sink the kept session is
 * checked first and the others are deleted one by one, each with its event. */
jwts_err jwts_manager_revoke_user_except_by(jwts_manager *m, const jwts_ctx *ctx, const char *user_id,
                                            const char *keep_session_id, size_t *revoked, jwts_revoke_reason by);

/* The live sessions of user_id (their devices), oldest first. Free with jwts_session_list_free(). */
jwts_err jwts_manager_list(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, jwts_session_list *out);

/* Replace a session's metadata (a JSON object text) atomically with respect to refreshes. */
jwts_err jwts_manager_update_metadata(jwts_manager *m, const jwts_ctx *ctx, const char *user_id,
                                      const char *session_id, const char *metadata);

/* Remove expired sessions now, for stores without server-side expiry; *removed may be NULL. */
jwts_err jwts_manager_cleanup(jwts_manager *m, const jwts_ctx *ctx, size_t *removed);

/* The user id and session id a refresh token names, without checking its secret (for routing and
 * authorization checks). JWTS_E_MALFORMED if it is not one of ours. */
jwts_err jwts_refresh_token_parse(const char *refresh_token, char user_id[JWTS_USER_ID_MAX + 1],
                                  char session_id[JWTS_SESSION_ID_MAX + 1]);

#ifdef __cplusplus
}
#endif
#endif
