/*
 * sig.c - the signature primitives under JWS: HMAC (precomputed key schedule, constant-time
 * compare), RSASSA-PKCS1-v1_5, RSASSA-PSS (salt = hash length), ECDSA (raw r||s) and Ed25519.
 *
 * Verification of RSA and ECDSA hashes the input with the low-level SHA-2 code and runs
 * EVP_PKEY_verify on a duplicate of the key's verify-initialised template context, so a verify
 * pays neither a method fetch nor a digest context. Ed25519 verifies with libsodium's
 * crypto_sign_ed25519_verify_detached over the 32 public key bytes cached in the key (no allocation,
 * about twice as fast as OpenSSL 3.0): it refuses S >= L, small-order and non-canonical R and
 * public keys, where OpenSSL's check accepts R = identity, S = 0 under a small-order key. Keys are
 * also refused at load unless their point is canonical and in the prime-order subgroup
 * (jwts_ed25519_public). Ed25519 signing stays with OpenSSL (EVP_DigestSign).
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "jose/jose_int.h"
#include "jwtsession/error.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status = -1;

static void sodium_start(void)
{
    sodium_status = sodium_init() < 0 ? -1 : 0;
}

jwts_err jwts_ed25519_public(const EVP_PKEY *pkey, uint8_t out[32])
{
    uint8_t pk[32];
    size_t n = sizeof pk;
    pthread_once(&sodium_once, sodium_start);
    if (sodium_status != 0) return jwts_fail(JWTS_E_INTERNAL, "libsodium failed to initialise");
    if (EVP_PKEY_get_raw_public_key(pkey, pk, &n) != 1 || n != sizeof pk) {
        ERR_clear_error();
        return jwts_fail(JWTS_E_BAD_KEY, "cannot read the Ed25519 public key bytes");
    }
    /* canonical encoding, on the curve, not of small order, in the prime-order subgroup */
    if (crypto_core_ed25519_is_valid_point(pk) != 1)
        return jwts_fail(JWTS_E_BAD_KEY,
                         "Ed25519 public key is not a canonical point of the prime-order subgroup");
    memcpy(out, pk, sizeof pk);
    return JWTS_OK;
}

jwts_err jwts_sig_verify(const jwts_key *key, const void *msg, size_t len, const uint8_t *sig, size_t sig_len)
{
    const jwts_alg_info *in = key->info;
    uint8_t md[JWTS_HASH_MAX];
    if (sig_len != key->sig_len)
        return jwts_fail(JWTS_E_BAD_SIGNATURE, "%s signature is %zu bytes, expected %zu", in->name, sig_len,
                         key->sig_len);
    if (in->kty == JWTS_KTY_OCT) {
        size_t n = jwts_hmac_compute(key->hmac, msg, len, md);
        int ok = CRYPTO_memcmp(md, sig, n) == 0;
        OPENSSL_cleanse(md, sizeof md);
        return ok ? JWTS_OK : jwts_fail(JWTS_E_BAD_SIGNATURE, "%s MAC does not match", in->name);
    }
    if (in->kty == JWTS_KTY_OKP) {
        /* sig_len is 64 (checked above); the key bytes were checked and libsodium set up at load */
        if (crypto_sign_ed25519_verify_detached(sig, msg, len, key->ed25519_pk) == 0) return JWTS_OK;
        return jwts_fail(JWTS_E_BAD_SIGNATURE, "EdDSA signature does not verify");
    }
    uint8_t der[2 * 66 + 16];
    size_t der_len = 0;
    if (in->kty == JWTS_KTY_EC) {
        jwts_err e = jwts_ecdsa_raw_to_der(in, sig, sig_len, der, &der_len);
        if (e) return e;
        sig = der;
        sig_len = der_len;
    }
    size_t n = jwts_digest(in->hash, msg, len, md);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_dup(key->verify_tmpl);
    if (!c) return jwts_fail(JWTS_E_NO_MEMORY, "cannot set up a %s verify", in->name);
    int r = EVP_PKEY_verify(c, sig, sig_len, md, n);
    EVP_PKEY_CTX_free(c);
    if (r == 1) return JWTS_OK;
    ERR_clear_error();
    return jwts_fail(JWTS_E_BAD_SIGNATURE, "%s signature does not verify", in->name);
}

jwts_err jwts_sig_sign(const jwts_key *key, const void *msg, size_t len, uint8_t *sig, size_t *sig_len)
{
    const jwts_alg_info *in = key->info;
    if (!key->can_sign) return jwts_fail(JWTS_E_BAD_KEY, "key has no private part to sign with");
    if (in->kty == JWTS_KTY_OCT) {
        *sig_len = jwts_hmac_compute(key->hmac, msg, len, sig);
        return JWTS_OK;
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    uint8_t der[2 * 66 + 16];
    size_t out_len = in->kty == JWTS_KTY_EC ? sizeof der : JWTS_SIG_MAX;
    uint8_t *out = in->kty == JWTS_KTY_EC ? der : sig;
    const char *mdname = in->hash ? EVP_MD_get0_name(jwts_hash_md(in->hash)) : NULL;
    int ok = c && EVP_DigestSignInit_ex(c, &pc, mdname, NULL, NULL, key->pkey, NULL) == 1;
    if (ok && in->kty == JWTS_KTY_RSA && in->pss)
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pc, jwts_hash_md(in->hash)) == 1;
    ok = ok && EVP_DigestSign(c, out, &out_len, msg, len) == 1;
    EVP_MD_CTX_free(c);
    if (!ok) {
        ERR_clear_error();
        return jwts_fail(JWTS_E_INTERNAL, "OpenSSL failed to sign with %s", in->name);
    }
    if (in->kty == JWTS_KTY_EC) {
        jwts_err e = jwts_ecdsa_der_to_raw(in, der, out_len, sig);
        if (e) return e;
        out_len = 2 * in->coord_len;
    }
    *sig_len = out_len;
    return JWTS_OK;
}
