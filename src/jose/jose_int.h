/*
 * jose_int.h - private types of the JOSE layer: the algorithm table, the key structure and the
 * helpers shared by the key, key set, sign and verify files.
 */
#ifndef JWTS_JOSE_INT_H
#define JWTS_JOSE_INT_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "jwtsession/jose.h"

/* Key types (JWK "kty"). */
enum { JWTS_KTY_OCT = 1, JWTS_KTY_RSA, JWTS_KTY_EC, JWTS_KTY_OKP };

/* Hash functions. */
enum { JWTS_HASH_NONE = 0, JWTS_HASH_SHA256, JWTS_HASH_SHA384, JWTS_HASH_SHA512 };

#define JWTS_HASH_MAX 64      /* largest digest, bytes */
#define JWTS_KID_MAX 255      /* longest key id, bytes */
#define JWTS_SIG_MAX 1024     /* longest signature we accept (RSA 8192) */
#define JWTS_JOSE_MAX_DEPTH 8 /* JSON nesting bound of headers, claims and JWKs */
#define JWTS_HEADER_MAX 1024  /* decoded header bound, bytes */

/* One row of the algorithm table. */
typedef struct jwts_alg_info {
    jwts_alg alg;
    const char *name;     /* JOSE name */
    int kty;              /* JWTS_KTY_* */
    int hash;             /* JWTS_HASH_* (NONE for EdDSA) */
    size_t hash_len;      /* digest bytes (0 for EdDSA) */
    int pss;              /* 1 for PS* */
    const char *crv;      /* JOSE curve (EC, OKP) */
    const char *group;    /* OpenSSL group name (EC) */
    size_t coord_len;     /* EC coordinate / scalar bytes; 32 for Ed25519 */
    const uint8_t *order; /* EC group order n, big-endian, coord_len bytes */
} jwts_alg_info;

/* The table row of alg, or NULL when alg is not an algorithm. */
const jwts_alg_info *jwts_alg_info_of(jwts_alg alg);

/* The EVP_MD of a JWTS_HASH_* (fetched once, never freed), or NULL. */
const EVP_MD *jwts_hash_md(int hash);

/* ---- sha.c: digests and precomputed HMAC ------------------------------------------------ */

/* An HMAC key schedule (inner and outer hash states after the padded key). Opaque. */
typedef struct jwts_hmac jwts_hmac;

/* A new key schedule for hash and key. NULL when out of memory. */
jwts_hmac *jwts_hmac_new(int hash, const uint8_t *key, size_t len);

/* HMAC of msg into out (JWTS_HASH_MAX bytes); returns the MAC length. Thread-safe, no allocation. */
size_t jwts_hmac_compute(const jwts_hmac *h, const void *msg, size_t len, uint8_t *out);

/* Wipe and free h (NULL is fine). */
void jwts_hmac_free(jwts_hmac *h);

/* Digest of msg with hash into out; returns the length. No allocation. */
size_t jwts_digest(int hash, const void *msg, size_t len, uint8_t *out);

/* ---- keys ------------------------------------------------------------------------------- */

struct jwts_key {
    jwts_alg alg;
    const jwts_alg_info *info;
    char *kid; /* NULL when none */
    int can_sign;
    /* HMAC */
    uint8_t *secret;
    size_t secret_len;
    jwts_hmac *hmac;
    /* asymmetric */
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *verify_tmpl; /* verify-initialised template, duplicated per verify (RSA, EC) */
    size_t sig_len;            /* exact signature length in a JWS */
    uint8_t ed25519_pk[32];    /* Ed25519: the raw public key, checked at load, verified against */
    /* base64url of the protected header jwts_jwt_sign writes, used for signing and as a verify
     * fast path (an exact match means alg and kid are known without parsing) */
    char *jwt_header;
    size_t jwt_header_len;
    /* lifecycle in a key file (keyfile.c); set while its set is built, then read-only */
    jwts_key_state state;
    int64_t published_at_s, retire_at_s;
};

/* Build a key around pkey (taking it) for alg (UNSET: default of the key type), checking the
 * key-type/alg match and strength. kid NULL: the thumbprint. */
jwts_err jwts_key_from_pkey(EVP_PKEY *pkey, jwts_alg alg, const char *kid, jwts_key **out);

/* Set key->kid (copy; NULL clears) and rebuild the cached header. */
jwts_err jwts_key_set_kid(jwts_key *key, const char *kid);

/* The default algorithm of pkey's type (RSA: RS256, EC: by curve, Ed25519: EdDSA). */
jwts_err jwts_pkey_default_alg(const EVP_PKEY *pkey, jwts_alg *out);

/* 1 if pkey holds a private key. */
int jwts_pkey_has_private(const EVP_PKEY *pkey);

/* Fill an RFC 7638 canonical JWK of key's public part (secret for oct) into a malloc'd string. */
jwts_err jwts_key_canonical_jwk(const jwts_key *key, char **out);

/* ---- signatures (sig.c) ----------------------------------------------------------------- */

/* Sign msg with key into sig (capacity JWTS_SIG_MAX); *sig_len gets the JWS signature length. */
jwts_err jwts_sig_sign(const jwts_key *key, const void *msg, size_t len, uint8_t *sig, size_t *sig_len);

/* Ed25519: copy pkey's raw public key into out after checking it is a canonical point of the
 * prime-order subgroup (JWTS_E_BAD_KEY for small-order, mixed-order or non-canonical keys, under
 * which a cofactorless verify accepts forgeries). Initialises libsodium once. */
jwts_err jwts_ed25519_public(const EVP_PKEY *pkey, uint8_t out[32]);

/* Verify the JWS signature sig over msg with key. JWTS_E_BAD_SIGNATURE when it does not verify. */
jwts_err jwts_sig_verify(const jwts_key *key, const void *msg, size_t len, const uint8_t *sig, size_t sig_len);

/* ---- ECDSA signature forms (ecdsa.c) ---------------------------------------------------- */

/* DER of the raw JWS signature r||s (2*coord_len bytes), after checking 0 < r, s < n.
 * *der_len gets the length; der needs 2*coord_len + 16 bytes. */
jwts_err jwts_ecdsa_raw_to_der(const jwts_alg_info *info, const uint8_t *raw, size_t raw_len, uint8_t *der,
                               size_t *der_len);

/* The raw r||s form of a DER ECDSA signature. */
jwts_err jwts_ecdsa_der_to_raw(const jwts_alg_info *info, const uint8_t *der, size_t der_len, uint8_t *raw);

#endif
