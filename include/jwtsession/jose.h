/*
 * jose.h - JWS/JWT signing and verification (compact serialization), keys, key sets and JWKS.
 *
 * Built on OpenSSL 3 libcrypto. Algorithms: HS256/384/512, RS256/384/512, PS256/384/512,
 * ES256/384/512 (raw r||s signatures, RFC 7518) and EdDSA (Ed25519, RFC 8037).
 *
 * Every key allows exactly one algorithm, fixed when the key is loaded. A key set holds several
 * keys (one active signing key, the others still verifying). Verification is strict: see
 * docs/jose.md for the full rule list and the jwts_err each rule returns.
 *
 * Threads: keys and key sets are immutable once built; any number of threads may sign and verify
 * with the same key or key set at the same time. Changing a key set (add, set_active) must not run
 * concurrently with its use; to rotate keys under load, build a new key set and swap pointers.
 */
#ifndef JWTSESSION_JOSE_H
#define JWTSESSION_JOSE_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* JWS algorithms (RFC 7518 and RFC 8037). 0 means "unset"/"derive from the key". */
typedef enum jwts_alg {
    JWTS_ALG_UNSET = 0,
    JWTS_ALG_HS256,
    JWTS_ALG_HS384,
    JWTS_ALG_HS512,
    JWTS_ALG_RS256,
    JWTS_ALG_RS384,
    JWTS_ALG_RS512,
    JWTS_ALG_PS256,
    JWTS_ALG_PS384,
    JWTS_ALG_PS512,
    JWTS_ALG_ES256,
    JWTS_ALG_ES384,
    JWTS_ALG_ES512,
    JWTS_ALG_EDDSA,
    JWTS_ALG__COUNT /* number of values; not an algorithm */
} jwts_alg;

/* The JOSE name of alg ("HS256", ..., "EdDSA"), or NULL for JWTS_ALG_UNSET and unknown values. */
const char *jwts_alg_name(jwts_alg alg);

/* The algorithm named name (exact, case-sensitive JOSE spelling). JWTS_E_ALG_NOT_ALLOWED for
 * "none" in any spelling and for unknown names. */
jwts_err jwts_alg_from_name(const char *name, jwts_alg *out);

/* ---- keys ------------------------------------------------------------------------------- */

/* A signing or verification key with its algorithm and optional key id. Opaque, immutable. */
typedef struct jwts_key jwts_key;

/* A key from a raw HMAC secret for alg HS256/384/512. The secret must be at least as long as the
 * hash output (32/48/64 bytes), else JWTS_E_BAD_KEY. kid may be NULL. The secret is copied. */
jwts_err jwts_key_from_secret(jwts_alg alg, const void *secret, size_t len, const char *kid, jwts_key **out);

/* A key from one JWK (RFC 7517) in JSON text. alg JWTS_ALG_UNSET takes the JWK's "alg" member, or
 * the default of its type (RSA: RS256, EC: by curve, OKP Ed25519: EdDSA, oct: HS256); any other
 * alg must agree with the JWK's "alg" if it has one. JWTS_E_MALFORMED for bad JSON or members,
 * JWTS_E_BAD_KEY for a weak or unusable key, JWTS_E_UNSUPPORTED for other key types. */
jwts_err jwts_key_from_jwk(const char *json, size_t len, jwts_alg alg, jwts_key **out);

/* A key from PEM text: SPKI public keys, PKCS#8 or traditional (PKCS#1, SEC1) private keys, or a
 * PKCS#1 RSA public key. Encrypted PEM is refused. alg UNSET derives the default of the key type.
 * kid may be NULL (asymmetric keys then get their RFC 7638 thumbprint as kid). */
jwts_err jwts_key_from_pem(const char *pem, size_t len, jwts_alg alg, const char *kid, jwts_key **out);

/* A new random key for alg (HMAC: a secret of the hash length; RSA: 2048 bits; EC: the alg's
 * curve; EdDSA: Ed25519). kid NULL gives the thumbprint as kid. */
jwts_err jwts_key_generate(jwts_alg alg, const char *kid, jwts_key **out);

/* Free key (NULL is fine), wiping secrets with OPENSSL_cleanse. */
void jwts_key_free(jwts_key *key);

/* The key's algorithm. */
jwts_alg jwts_key_alg(const jwts_key *key);

/* The key id, or NULL if the key has none. Valid as long as key. */
const char *jwts_key_kid(const jwts_key *key);

/* 1 if the key can sign (HMAC secret or private key), else 0. */
int jwts_key_can_sign(const jwts_key *key);

/* The key as a JWK JSON object (compact). With include_private 0 only public members are written
 * (JWTS_E_INVALID_ARGUMENT for HMAC keys, which have no public part). *out is malloc'd; free it with
 * jwts_jose_free (which wipes it, as it may hold a secret). */
jwts_err jwts_key_to_jwk(const jwts_key *key, int include_private, char **out);

#define JWTS_THUMBPRINT_LEN 43 /* base64url of a SHA-256 digest */

/* The RFC 7638 JWK thumbprint (SHA-256, base64url) of key's public part (of the secret for HMAC). */
jwts_err jwts_key_thumbprint(const jwts_key *key, char out[JWTS_THUMBPRINT_LEN + 1]);

/* Wipe and free a string returned by this module (NULL is fine). */
void jwts_jose_free(char *s);

/* ---- key sets --------------------------------------------------------------------------- */

/* Several keys; one is active (signs), all verify. Opaque. */
typedef struct jwts_keyset jwts_keyset;

/* A new, empty key set. */
jwts_err jwts_keyset_new(jwts_keyset **out);

/* Free ks and every key in it (NULL is fine). */
void jwts_keyset_free(jwts_keyset *ks);

/* Add key to ks, which takes key in every case: on failure key is freed, so the caller never frees
 * a key it passed here. make_active (or an empty set) makes it the signing key, which must then be
 * able to sign. JWTS_E_CONFLICT when a key with the same kid is already in the set. Not safe
 * concurrently with other use of ks. */
jwts_err jwts_keyset_add(jwts_keyset *ks, jwts_key *key, int make_active);

/* Make the key with kid the signing key. JWTS_E_KEY_NOT_FOUND, or JWTS_E_BAD_KEY if it can't sign. */
jwts_err jwts_keyset_set_active(jwts_keyset *ks, const char *kid);

/* The active signing key, or NULL when the set has no key that can sign. */
const jwts_key *jwts_keyset_active(const jwts_keyset *ks);

/* The key with kid, or NULL. */
const jwts_key *jwts_keyset_find(const jwts_keyset *ks, const char *kid);

/* Number of keys, and the i-th key (NULL when i is out of range). */
size_t jwts_keyset_count(const jwts_keyset *ks);
const jwts_key *jwts_keyset_get(const jwts_keyset *ks, size_t i);

/* Keys from a JWKS document ({"keys":[...]}). Members with an unsupported "kty" are skipped (RFC
 * 7517 section 5); any bad supported key fails the whole call. The first key that can sign is
 * active. JWTS_E_NOT_FOUND when no usable key remains. */
jwts_err jwts_keyset_from_jwks(const char *json, size_t len, jwts_keyset **out);

/* Keys from text that is a JWKS, a single JWK or PEM (detected from the content). alg applies to
 * a single JWK or PEM key as in jwts_key_from_jwk/jwts_key_from_pem. */
jwts_err jwts_keyset_parse(const char *text, size_t len, jwts_alg alg, jwts_keyset **out);

/* Add every key of src to dst (moving them; src is left empty). Fails with JWTS_E_CONFLICT on a
 * duplicate kid, leaving both sets unchanged. */
jwts_err jwts_keyset_merge(jwts_keyset *dst, jwts_keyset *src);

/* The public JWKS of ks ({"keys":[...]}), HMAC keys left out. *out is malloc'd (jwts_jose_free). */
jwts_err jwts_keyset_to_jwks(const jwts_keyset *ks, char **out);

/* ---- key files with a lifecycle (docs/keys.md) ------------------------------------------ */

/* Where a key of a key file stands. A key file is a private JWKS whose keys carry our own members
 * "jwts_state" ("next", "active", "retiring"), "jwts_published_at" and "jwts_retire_at" (seconds
 * since the epoch). A next key is published (in the JWKS) but does not sign yet; the active key
 * signs; a retiring key still verifies the tokens it signed until its retire_at, then it goes. */
typedef enum jwts_key_state {
    JWTS_KEY_UNMANAGED = 0, /* a key without lifecycle members (a plain JWK, JWKS or PEM) */
    JWTS_KEY_NEXT,
    JWTS_KEY_ACTIVE,
    JWTS_KEY_RETIRING
} jwts_key_state;

/* The state of key as its key file gave it; published_at_s and retire_at_s (may be NULL) get its
 * times (0 when unset). */
jwts_key_state jwts_key_state_of(const jwts_key *key, int64_t *published_at_s, int64_t *retire_at_s);

/* The name of a state ("unmanaged", "next", "active", "retiring"). */
const char *jwts_key_state_name(jwts_key_state state);

/* Keys from a key file's text: anything jwts_keyset_parse reads; when the keys of a JWKS carry
 * "jwts_state" every key must, each with a kid, exactly one "active" (it signs if it can), at most
 * one "next", and retiring keys whose jwts_retire_at <= now_s are left out (retired: the tokens
 * they signed are refused with JWTS_E_KEY_NOT_FOUND). JWTS_E_MALFORMED with the key's index for a
 * bad lifecycle member. */
jwts_err jwts_keyfile_load(const char *text, size_t len, int64_t now_s, jwts_keyset **out);

/* What one rotation does (jwts_keyfile_rotate). */
typedef struct jwts_keyfile_rotate_options {
    int64_t now_s;           /* the current time, seconds since the epoch */
    jwts_alg alg;            /* of the new next key; UNSET: the active key's (required for a new file) */
    int64_t publish_ahead_s; /* the next key must have been published this long before it signs
                                (at least the JWKS max-age verifiers cache for) */
    int64_t retire_after_s;  /* the old active key stays published this long: the longest access
                                token lifetime plus the verifiers' leeway */
} jwts_keyfile_rotate_options;

/* One rotation of a key file's text (text NULL or len 0: no file yet) into *out, a new key file
 * text (free with jwts_jose_free: it holds private keys). Retired keys (retire_at <= now) go; the
 * next key becomes active and the active one retiring (retire_at = now + retire_after_s); a new next
 * key is generated. A new file gets an active and a next key; a file without lifecycle members is
 * adopted (its signing key stays active, its other keys retire, a next key is added). JWTS_E_CONFLICT
 * when the next key was published less than publish_ahead_s ago (nothing changes). */
jwts_err jwts_keyfile_rotate(const char *text, size_t len, const jwts_keyfile_rotate_options *o, char **out);

/* Write text and a newline to path atomically, mode 0600: a new file beside it (flushed to disk)
 * renamed over path, then the directory flushed. On failure path is untouched and the temporary
 * file removed. JWTS_E_INVALID_ARGUMENT when path exists and is not a regular file (a symbolic link
 * is never written through); JWTS_E_UNAVAILABLE with the system's reason for an I/O failure. */
jwts_err jwts_keyfile_write(const char *path, const char *text);

/* ---- signing ---------------------------------------------------------------------------- */

/* Compact JWS of payload with header {"alg":..,"typ":typ,"kid":..} (typ NULL: no typ, kid only if
 * the key has one). *out is malloc'd, NUL-terminated; free with jwts_jose_free. */
jwts_err jwts_jws_sign(const jwts_key *key, const char *typ, const void *payload, size_t len, char **out);

/* Compact JWT (typ "JWT") of claims, a JSON object checked with the same strict reader as verify
 * (no duplicates, bounded depth, integer exp/nbf/iat). *out as for jwts_jws_sign. */
jwts_err jwts_jwt_sign(const jwts_key *key, const char *claims_json, size_t len, char **out);

/* The registered claims the session manager puts in an access token. Strings are NUL-terminated
 * UTF-8 (escaped as needed); NULL omits a string, 0 omits a time. */
typedef struct jwts_std_claims {
    const char *iss, *sub, *aud, *sid, *jti;
    int64_t iat, nbf, exp; /* seconds since the epoch */
} jwts_std_claims;

/* Hot path: sign c with key into out (capacity cap, NUL-terminated); *out_len gets the length.
 * No heap allocation for HMAC keys. JWTS_E_LIMIT when cap is too small (8 KiB always suffices for
 * claims under 4 KiB). */
jwts_err jwts_jwt_sign_std(const jwts_key *key, const jwts_std_claims *c, char *out, size_t cap, size_t *out_len);

/* ---- verification ----------------------------------------------------------------------- */

#define JWTS_VERIFY_MAX_TOKEN_DEFAULT 8192 /* bytes */
#define JWTS_CLAIM_STR_MAX 256             /* bytes of sub/sid/jti/iss kept in jwts_claims, NUL included */
#define JWTS_VERIFY_MAX_REQUIRED 32        /* names in jwts_verify_options.required */

/* Verification options; all-zero is the safe default. */
typedef struct jwts_verify_options {
    size_t max_token_len; /* 0: JWTS_VERIFY_MAX_TOKEN_DEFAULT */
    int64_t leeway_s;     /* clock skew tolerated for exp, nbf and iat, seconds (>= 0) */
    const jwts_alg *algs; /* allowed algorithms; NULL/0: each key's own algorithm */
    size_t n_algs;
    const char *iss;             /* if set, "iss" must be present and equal */
    const char *aud;             /* if set, "aud" (string or array of strings) must contain it;
                                    NULL: a token with "aud" is refused (RFC 7519 4.1.3) */
    const char *sub;             /* if set, "sub" must be present and equal */
    const char *const *required; /* claim names that must be present */
    size_t n_required;
    int require_exp;         /* 1: a token without "exp" fails with JWTS_E_CLAIM_MISMATCH */
    int64_t now_s;           /* if non-zero, the current time in seconds (tests, CLI --now) */
    const jwts_clock *clock; /* else this clock (NULL: the real clock) */
} jwts_verify_options;

/* Bits of jwts_claims.has. */
#define JWTS_CLAIM_EXP (1u << 0)
#define JWTS_CLAIM_NBF (1u << 1)
#define JWTS_CLAIM_IAT (1u << 2)
#define JWTS_CLAIM_ISS (1u << 3)
#define JWTS_CLAIM_SUB (1u << 4)
#define JWTS_CLAIM_AUD (1u << 5)
#define JWTS_CLAIM_SID (1u << 6)
#define JWTS_CLAIM_JTI (1u << 7)

/* The registered claims of a verified token as plain C values, read without a JSON tree.
 * A string claim longer than JWTS_CLAIM_STR_MAX - 1 bytes is flagged in has but left empty and
 * its bit set in truncated; read the payload JSON for it. */
typedef struct jwts_claims {
    unsigned has;       /* JWTS_CLAIM_* present in the token */
    unsigned truncated; /* JWTS_CLAIM_* too long to keep here */
    int64_t exp, nbf, iat;
    char iss[JWTS_CLAIM_STR_MAX];
    char sub[JWTS_CLAIM_STR_MAX];
    char sid[JWTS_CLAIM_STR_MAX];
    char jti[JWTS_CLAIM_STR_MAX];
    jwts_alg alg;        /* algorithm of the token */
    const jwts_key *key; /* the key that verified it (owned by the key set) */
} jwts_claims;

/* Verify the compact JWS/JWT token (len bytes, no NUL needed) against ks and opt (NULL: defaults)
 * and check its claims. claims (may be NULL) receives the registered claims; payload_json (may be
 * NULL) receives a malloc'd NUL-terminated copy of the claims JSON (free with jwts_jose_free). With
 * payload_json NULL, an HMAC verify does no heap allocation. Errors: JWTS_E_LIMIT (size, depth),
 * JWTS_E_MALFORMED (encoding, JSON, duplicates, claim types), JWTS_E_ALG_NOT_ALLOWED, JWTS_E_UNSUPPORTED
 * (crit, embedded jwk/jku/x5u/x5c), JWTS_E_KEY_NOT_FOUND, JWTS_E_BAD_SIGNATURE, JWTS_E_EXPIRED,
 * JWTS_E_NOT_YET_VALID, JWTS_E_CLAIM_MISMATCH. Thread-safe. */
jwts_err jwts_jwt_verify(const jwts_keyset *ks, const char *token, size_t len, const jwts_verify_options *opt,
                         jwts_claims *claims, char **payload_json);

/* Verify only the JWS signature and header rules (no claim rules; the payload need not be JSON).
 * *payload gets a malloc'd copy of the payload (NUL-terminated; *payload_len bytes before it). */
jwts_err jwts_jws_verify(const jwts_keyset *ks, const char *token, size_t len, const jwts_verify_options *opt,
                         char **payload, size_t *payload_len);

#ifdef __cplusplus
}
#endif
#endif
