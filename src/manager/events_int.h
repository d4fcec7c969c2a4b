/*
 * events_int.h - private: how the manager's operations emit lifecycle events (events.c).
 */
#ifndef JWTS_MANAGER_EVENTS_INT_H
#define JWTS_MANAGER_EVENTS_INT_H

#include "jwtsession/events.h"
#include "jwtsession/manager.h"
#include "jwtsession/store.h"

/* The store writes that change a session's life, each noting its event (core/event_note.h) for a
 * store that records it with the write, and handing it to the sink when the write succeeded. */

/* jwts_store_set of a new session: CREATED, then NEW_DEVICE from new_device (NULL: not new). */
jwts_err jwts_mgr_set_created(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, int64_t ttl_ms,
                              const jwts_device *new_device);

/* jwts_store_replace of a rotation to n: REFRESHED (n's generation), then NEW_DEVICE from new_device
 * (NULL: not new). */
jwts_err jwts_mgr_replace_refreshed(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *n,
                                    const uint8_t expected_hash[JWTS_REFRESH_HASH_LEN], int64_t ttl_ms,
                                    const jwts_device *new_device);

/* true when user_agent (NULL: unknown, never new) is that of none of list's sessions but
 * except_session_id (NULL: none): the user has not used this device (a NEW_DEVICE event). */
bool jwts_mgr_device_unseen(const jwts_session_list *list, const char *user_agent, const char *except_session_id);

/* jwts_store_delete: REVOKED by by. */
jwts_err jwts_mgr_delete_by(jwts_manager *m, const jwts_ctx *ctx, const jwts_session_key *key, jwts_revoke_reason by);

/* Delete s after refresh-token reuse: THEFT_DETECTED then REVOKED/THEFT. previous: the reused
 * token is the last one rotated out (its generation and rotation time are known). device (may be
 * NULL): the client that showed the reused token, told in the theft event. */
jwts_err jwts_mgr_delete_theft(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, bool previous,
                               const jwts_device *device);

/* Install (or, with on false, remove) the store's expiry hook that emits EXPIRED; stores that
 * cannot report expiries are left alone (docs/events.md). */
void jwts_mgr_events_hook(jwts_manager *m, bool on);

/* Delete the n evicted sessions (create's limit; all of one user), each with its REVOKED/LIMIT
 * event; without a sink, one batch delete. */
jwts_err jwts_mgr_evict(jwts_manager *m, const jwts_ctx *ctx, const jwts_session_key *keys, size_t n);

/* Revoke every session of user_id, each with its REVOKED event (reason by): with a sink, one by
 * one, then whatever was created meanwhile; without, one delete_user. *revoked (may be NULL)
 * counts them all. */
jwts_err jwts_mgr_revoke_all(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, jwts_revoke_reason by,
                             size_t *revoked);

/* Revoke every session of user_id but keep_session_id (JWTS_E_NOT_FOUND, nothing revoked, when it
 * is not live), each with its REVOKED event: with a sink, checked, then one by one, then
 * whatever was created meanwhile; without, one delete_user_except. */
jwts_err jwts_mgr_revoke_except(jwts_manager *m, const jwts_ctx *ctx, const char *user_id, const char *keep_session_id,
                                jwts_revoke_reason by, size_t *revoked);

#endif
