/*
 * alg.c - the JWS algorithm table (RFC 7518 section 3, RFC 8037): names, key types, hashes,
 * curves and group orders, and the "alg" name parser that refuses "none" in every spelling.
 */
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "jose/jose_int.h"
#include "jwtsession/error.h"

/* Group orders n (big-endian), for the ECDSA 0 < r, s < n check. */
static const uint8_t ORDER_P256[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
                                       0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
static const uint8_t ORDER_P384[48] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
                                       0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73};
static const uint8_t ORDER_P521[66] = {
    0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa,
    0x51, 0x86, 0x87, 0x83, 0xbf, 0x2f, 0x96, 0x6b, 0x7f, 0xcc, 0x01, 0x48, 0xf7, 0x09, 0xa5, 0xd0, 0x3b,
    0xb5, 0xc9, 0xb8, 0x89, 0x9c, 0x47, 0xae, 0xbb, 0x6f, 0xb7, 0x1e, 0x91, 0x38, 0x64, 0x09};

static const jwts_alg_info ALGS[JWTS_ALG__COUNT] = {
    [JWTS_ALG_HS256] = {JWTS_ALG_HS256, "HS256", JWTS_KTY_OCT, JWTS_HASH_SHA256, 32, 0, NULL, NULL, 0, NULL},
    [JWTS_ALG_HS384] = {JWTS_ALG_HS384, "HS384", JWTS_KTY_OCT, JWTS_HASH_SHA384, 48, 0, NULL, NULL, 0, NULL},
    [JWTS_ALG_HS512] = {JWTS_ALG_HS512, "HS512", JWTS_KTY_OCT, JWTS_HASH_SHA512, 64, 0, NULL, NULL, 0, NULL},
    [JWTS_ALG_RS256] = {JWTS_ALG_RS256, "RS256", JWTS_KTY_RSA, JWTS_HASH_SHA256, 32, 0, NULL, NULL, 0, NULL},
    [JWTS_ALG_RS384] = {JWTS_ALG_RS384, "RS384", JWTS_KTY_RSA, JWTS_HASH_SHA384, 48, 0, NULL, NULL, 0, NULL},
    [JWTS_ALG_RS512] = {JWTS_ALG_RS512, "RS512", JWTS_KTY_RSA, JWTS_HASH_SHA512, 64, 0, NULL, NULL, 0, NULL},
    [JWTS_ALG_PS256] = {JWTS_ALG_PS256, "PS256", JWTS_KTY_RSA, JWTS_HASH_SHA256, 32, 1, NULL, NULL, 0, NULL},
    [JWTS_ALG_PS384] = {JWTS_ALG_PS384, "PS384", JWTS_KTY_RSA, JWTS_HASH_SHA384, 48, 1, NULL, NULL, 0, NULL},
    [JWTS_ALG_PS512] = {JWTS_ALG_PS512, "PS512", JWTS_KTY_RSA, JWTS_HASH_SHA512, 64, 1, NULL, NULL, 0, NULL},
    [JWTS_ALG_ES256] = {JWTS_ALG_ES256, "ES256", JWTS_KTY_EC, JWTS_HASH_SHA256, 32, 0, "P-256", "prime256v1", 32,
                        ORDER_P256},
    [JWTS_ALG_ES384] = {JWTS_ALG_ES384, "ES384", JWTS_KTY_EC, JWTS_HASH_SHA384, 48, 0, "P-384", "secp384r1", 48,
                        ORDER_P384},
    [JWTS_ALG_ES512] = {JWTS_ALG_ES512, "ES512", JWTS_KTY_EC, JWTS_HASH_SHA512, 64, 0, "P-521", "secp521r1", 66,
                        ORDER_P521},
    [JWTS_ALG_EDDSA] = {JWTS_ALG_EDDSA, "EdDSA", JWTS_KTY_OKP, JWTS_HASH_NONE, 0, 0, "Ed25519", NULL, 32, NULL},
};

const jwts_alg_info *jwts_alg_info_of(jwts_alg alg)
{
    if (alg <= JWTS_ALG_UNSET || alg >= JWTS_ALG__COUNT) return NULL;
    return &ALGS[alg];
}

const char *jwts_alg_name(jwts_alg alg)
{
    const jwts_alg_info *i = jwts_alg_info_of(alg);
    return i ? i->name : NULL;
}

jwts_err jwts_alg_from_name(const char *name, jwts_alg *out)
{
    if (!name || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "alg: NULL argument");
    if (strcasecmp(name, "none") == 0) return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "alg \"none\" is never accepted");
    for (int a = JWTS_ALG_UNSET + 1; a < JWTS_ALG__COUNT; a++) {
        if (strcmp(ALGS[a].name, name) == 0) {
            *out = (jwts_alg)a;
            return JWTS_OK;
        }
    }
    return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "unknown alg");
}

const EVP_MD *jwts_hash_md(int hash)
{
    /* The static EVP_sha*() objects: nothing to fetch or free; OpenSSL resolves the provider. */
    switch (hash) {
    case JWTS_HASH_SHA256:
        return EVP_sha256();
    case JWTS_HASH_SHA384:
        return EVP_sha384();
    case JWTS_HASH_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}
