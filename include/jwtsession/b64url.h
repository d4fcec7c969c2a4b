/*
 * b64url.h - strict base64url (RFC 4648 section 5) without padding, as JOSE requires.
 *
 * The decoder rejects padding, '+', '/', whitespace, any other byte outside the alphabet, a
 * length of 1 mod 4, and non-canonical input (unused trailing bits not zero).
 */
#ifndef JWTSESSION_B64URL_H
#define JWTSESSION_B64URL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Characters needed to encode n bytes (no padding, no NUL). */
static inline size_t jwts_b64url_encoded_len(size_t n) { return (n / 3) * 4 + ((n % 3) ? (n % 3) + 1 : 0); }

/* Upper bound of bytes decoded from n characters. */
static inline size_t jwts_b64url_decoded_max(size_t n) { return (n / 4) * 3 + ((n % 4) ? (n % 4) - 1 : 0); }

/* Encode n bytes of in into out (capacity out_cap, NUL-terminated when room allows one more).
 * *out_len gets the character count. JWTS_E_LIMIT when out_cap is too small. */
jwts_err jwts_b64url_encode(const void *in, size_t n, char *out, size_t out_cap, size_t *out_len);

/* Decode n characters of in into out (capacity out_cap); *out_len gets the byte count.
 * JWTS_E_MALFORMED (with the offending offset in the detail) for anything not canonical
 * base64url; JWTS_E_LIMIT when out_cap is too small. */
jwts_err jwts_b64url_decode(const char *in, size_t n, uint8_t *out, size_t out_cap, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
