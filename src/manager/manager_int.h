/*
 * manager_int.h - private: the manager's state and the helpers its operations share.
 */
#ifndef JWTS_MANAGER_INT_H
#define JWTS_MANAGER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "jwtsession/manager.h"
#include "jwtsession/observe.h"
#include "jwtsession/random.h"

#define JWTS_SECRET_BYTES 32 /* refresh secrets */
#define JWTS_KEY_READER_SLOTS 16 /* threads beyond this share slots (correct, a little slower) */

struct jwts_manager {
    jwts_manager_options opts; /* defaults filled in; issuer/audience point at the copies below */
    char *issuer, *audience;
    jwts_verify_options verify;
    /* The key set in use (opts.keyset mirrors it) and its readers, counted per thread slot and
     * epoch parity (manager.c), so that a swap can wait out the calls that may hold the previous
     * set while readers never write a cache line another thread writes. */
    _Atomic(const jwts_keyset *) keys;
    atomic_uint keys_epoch;
    pthread_mutex_t keys_swap; /* one swap at a time */
    struct {
        atomic_long active[2]; /* readers that entered under each epoch parity */
        char pad[128 - 2 * sizeof(atomic_long)]; /* a slot never shares a cache line (unaligned heap) */
    } key_readers[JWTS_KEY_READER_SLOTS];
    void (*key_miss)(void *arg); /* jwts_manager_set_key_miss_hook */
    void *key_miss_arg;
};

/* A reader's place in the key set's reader counts (jwts_mgr_keys_acquire). */
typedef struct jwts_keys_ticket {
    unsigned slot, parity;
} jwts_keys_ticket;

/* The key set for one sign or verify: call jwts_mgr_keys_release(m, t) when done with it (and
 * with any key it holds). Lock-free; a swap waits for the release. */
const jwts_keyset *jwts_mgr_keys_acquire(const jwts_manager *m, jwts_keys_ticket *t);
void jwts_mgr_keys_release(const jwts_manager *m, const jwts_keys_ticket *t);

/* Tell the key-miss hook (if any) that a token named a kid the set lacks. */
void jwts_mgr_key_miss(const jwts_manager *m);

/* Begin op: a span and the latency clock when the manager observes; returns the ctx to pass on. */
static inline jwts_ctx jwts_mgr_begin(const jwts_manager *m, jwts_op_scope *sc, jwts_op op, const jwts_ctx *ctx)
{
    return jwts_op_begin(sc, m->opts.metrics, m->opts.tracer, op, ctx);
}

/* Now, in milliseconds, on the manager's clock. */
int64_t jwts_mgr_now_ms(const jwts_manager *m);

/* When s ends as things stand: the earliest of its absolute end, idle deadline and refresh
 * deadline (last rotation, or creation, plus refresh_ttl). */
int64_t jwts_mgr_deadline_ms(const jwts_manager *m, const jwts_session *s);

/* The store TTL for s at now (at least 1 ms). */
int64_t jwts_mgr_ttl_ms(const jwts_manager *m, const jwts_session *s, int64_t now_ms);

/* Issue the pair for session s whose current refresh secret is secret, the access token dated
 * issued_at_ms. Deterministic in (s's ids and deadlines, secret, issued_at_ms). */
/* JWTS_OK for a NULL device or one whose given fields are valid; else JWTS_E_INVALID_ARGUMENT
 * naming the field (create.c). */
jwts_err jwts_mgr_device_check(const jwts_device *device);

jwts_err jwts_mgr_issue(const jwts_manager *m, const jwts_session *s, const uint8_t secret[JWTS_SECRET_BYTES],
                        int64_t issued_at_ms, int64_t now_ms, jwts_tokens *out);

/* ---- refresh tokens (refresh_token.c) ----------------------------------------------------- */

typedef struct jwts_refresh_parts {
    char user_id[JWTS_USER_ID_MAX + 1];
    char session_id[JWTS_SESSION_ID_MAX + 1];
    uint8_t secret[JWTS_SECRET_BYTES];
} jwts_refresh_parts;

/* Split and check "<b64url(user)>.<sid>.<b64url(secret)>". JWTS_E_MALFORMED otherwise. */
jwts_err jwts_rt_parse(const char *token, jwts_refresh_parts *out);

/* The refresh token text for (user_id, session_id, secret) into out (JWTS_REFRESH_TOKEN_MAX + 1). */
jwts_err jwts_rt_format(const char *user_id, const char *session_id, const uint8_t secret[JWTS_SECRET_BYTES],
                        char out[JWTS_REFRESH_TOKEN_MAX + 1]);

/* SHA-256 of a secret: what the store keeps. */
void jwts_rt_hash(const uint8_t secret[JWTS_SECRET_BYTES], uint8_t out[JWTS_REFRESH_HASH_LEN]);

/* sealed = next XOR HMAC-SHA256(prev, label): only holders of prev can recover next. The same
 * call unseals (XOR is its own inverse). */
void jwts_rt_seal(const uint8_t prev[JWTS_SECRET_BYTES], const uint8_t in[JWTS_SECRET_BYTES],
                  uint8_t out[JWTS_SECRET_BYTES]);

#define JWTS_JTI_LEN 22 /* characters of an access token's "jti" (16 bytes in base64url) */

/* The access token "jti" of the pair whose refresh secret hashes to hash (16 bytes of a hash of
 * it, base64url). Derived from the stored hash, not the secret, so validate can tell the tokens of
 * the current pair from older ones; it reveals nothing of the secret. */
void jwts_rt_jti(const uint8_t hash[JWTS_REFRESH_HASH_LEN], char out[JWTS_JTI_LEN + 1]);

/* true if hash is one of s's rotated-out refresh hashes older than the previous one. */
bool jwts_rt_is_older(const jwts_refresh_state *r, const uint8_t hash[JWTS_REFRESH_HASH_LEN]);

/* true when a token with this jti confirms s's pair now: s is not confirmed yet and jti is the
 * current pair's. */
bool jwts_mgr_confirms(const jwts_session *s, const char *jti);

/* Make s's pair confirmed (its tokens were used) when jwts_mgr_confirms says so; a failed write
 * is retried by the next validation. */
void jwts_mgr_confirm(jwts_manager *m, const jwts_ctx *ctx, const jwts_session *s, const char *jti, int64_t now_ms);

#endif
