/*
 * events_int.h - private: how the manager's operations emit lifecycle events (events.c).
 */
#ifndef JWTS_MANAGER_EVENTS_INT_H
#define JWTS_MANAGER_EVENTS_INT_H

#include "jwtsession/events.h"
#include "jwtsession/manager.h"
#include "jwtsession/store.h"

/* Emit one event of kind for (user_id, session_id) now, when the manager has an on_event sink.
 * reason: REVOKED's; generation: REFRESHED's. Call only after the store write succeeded. */
void jwts_mgr_emit(const jwts_manager *m, jwts_event_kind kind, const char *user_id, const char *session_id,
                   jwts_revoke_reason reason, uint64_t generation);

/* Emit THEFT_DETECTED for s (as stored when the reuse was seen); rotated_out_at_ms 0 and
 * reused_generation -1 when unknown. */
void jwts_mgr_emit_theft(const jwts_manager *m, const jwts_session *s, int64_t reused_generation,
                         int64_t rotated_out_at_ms);

/* true when the manager has an event sink (an operation may then take a path that names each
 * session it changes). */
bool jwts_mgr_events_on(const jwts_manager *m);

/* Install (or, with on false, remove) the store's expiry hook that emits EXPIRED; stores that
 * cannot report expiries are left alone (docs/events.md). */
void jwts_mgr_events_hook(jwts_manager *m, bool on);

/* Delete the n evicted sessions (create's limit), each with its REVOKED/LIMIT event; without a
 * sink, one batch delete. */
jwts_err jwts_mgr_evict(jwts_manager *m, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n);

/* Revoke every session of user_id one by one, each with its REVOKED event (reason by), then
 * delete whatever was created meanwhile; *revoked (may be NULL) counts them all. */
jwts_err jwts_mgr_revoke_each(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, jwts_revoke_reason by,
                              size_t *revoked);

#endif
