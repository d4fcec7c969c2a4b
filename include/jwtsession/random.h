/*
 * random.h - CSPRNG bytes (getrandom) and the ids made from them.
 *
 * Session ids carry 128 random bits (22 base64url characters); refresh secrets carry 256 bits
 * (43 base64url characters).
 */
#ifndef JWTSESSION_RANDOM_H
#define JWTSESSION_RANDOM_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define JWTS_SESSION_ID_LEN 22     /* characters of a generated session id */
#define JWTS_REFRESH_SECRET_LEN 43 /* characters of a generated refresh secret */

/* Fill buf with n bytes from the kernel CSPRNG (getrandom). JWTS_E_INTERNAL if it fails. */
jwts_err jwts_random_bytes(void *buf, size_t n);

/* A new 128-bit session id in base64url; out must hold JWTS_SESSION_ID_LEN + 1 bytes. */
jwts_err jwts_session_id_new(char out[JWTS_SESSION_ID_LEN + 1]);

/* A new 256-bit refresh secret in base64url; out must hold JWTS_REFRESH_SECRET_LEN + 1 bytes. */
jwts_err jwts_refresh_secret_new(char out[JWTS_REFRESH_SECRET_LEN + 1]);

#ifdef __cplusplus
}
#endif
#endif
