/*
 * random.h - CSPRNG bytes (getrandom) and the ids made from them.
 *
 * A generated session id is 128 random bits (22 base64url characters) followed by its user's
 * routing tag (JWTS_SESSION_TAG_LEN characters, jwts_user_tag), so a store can find the session
 * from its id alone, without a scan, while every key of one user stays in one Redis Cluster slot
 * (docs/decisions.md). Refresh secrets carry 256 bits (43 base64url characters).
 */
#ifndef JWTSESSION_RANDOM_H
#define JWTSESSION_RANDOM_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define JWTS_SESSION_TAG_LEN 6     /* characters of a user's routing tag */
#define JWTS_SESSION_ID_LEN 28     /* characters of a generated session id: 22 random, then the tag */
#define JWTS_REFRESH_SECRET_LEN 43 /* characters of a generated refresh secret */

/* Fill buf with n bytes from the kernel CSPRNG (getrandom). JWTS_E_INTERNAL if it fails. */
jwts_err jwts_random_bytes(void *buf, size_t n);

/* A new session id of user_id: 128 random bits in base64url, then jwts_user_tag(user_id); out
 * must hold JWTS_SESSION_ID_LEN + 1 bytes. JWTS_E_INVALID_ARGUMENT for an invalid user id. */
jwts_err jwts_session_id_new(const char *user_id, char out[JWTS_SESSION_ID_LEN + 1]);

/* The routing tag of user_id into out (NUL-terminated): the first 36 bits of SHA-256(user_id) as
 * 6 base64url characters, the same in every process and on every machine. Two users may share a
 * tag (their Redis keys then share a slot, which is harmless). false for an invalid user id. */
bool jwts_user_tag(const char *user_id, char out[JWTS_SESSION_TAG_LEN + 1]);

/* The tag session_id carries into out (NUL-terminated): its last JWTS_SESSION_TAG_LEN characters
 * when it is JWTS_SESSION_ID_LEN base64url characters long; false otherwise (an id a caller chose,
 * which a store finds only together with its user). A tag says which user the session would
 * belong to; the store checks that its user really has it. */
bool jwts_session_id_tag(const char *session_id, char out[JWTS_SESSION_TAG_LEN + 1]);

/* A new 256-bit refresh secret in base64url; out must hold JWTS_REFRESH_SECRET_LEN + 1 bytes. */
jwts_err jwts_refresh_secret_new(char out[JWTS_REFRESH_SECRET_LEN + 1]);

#ifdef __cplusplus
}
#endif
#endif
