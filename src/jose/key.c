/*
 * key.c - the jwts_key object: construction from HMAC secrets and EVP_PKEYs (with the key
 * type, algorithm and strength rules), generation, accessors and freeing. Every key caches what
 * a sign or verify needs (HMAC key schedule, verify template context, the checked Ed25519 public
 * key bytes, signature length, its encoded JWT header) so the hot path never parses a key.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose_int.h"
#include "jwtsession/buf.h"
#include "jwtsession/error.h"
#include "jwtsession/random.h"

static jwts_key *key_alloc(jwts_alg alg)
{
    jwts_key *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->alg = alg;
    k->info = jwts_alg_info_of(alg);
    return k;
}

void jwts_key_free(jwts_key *key)
{
    if (!key) return;
    if (key->secret) {
        OPENSSL_cleanse(key->secret, key->secret_len);
        free(key->secret);
    }
    jwts_hmac_free(key->hmac);
    EVP_PKEY_CTX_free(key->verify_tmpl);
    EVP_PKEY_free(key->pkey);
    free(key->kid);
    free(key->jwt_header);
    OPENSSL_cleanse(key, sizeof *key);
    free(key);
}

void jwts_jose_free(char *s)
{
    if (!s) return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

jwts_alg jwts_key_alg(const jwts_key *key)
{
    return key ? key->alg : JWTS_ALG_UNSET;
}
const char *jwts_key_kid(const jwts_key *key)
{
    return key ? key->kid : NULL;
}
int jwts_key_can_sign(const jwts_key *key)
{
    return key ? key->can_sign : 0;
}

jwts_err jwts_key_set_kid(jwts_key *key, const char *kid)
{
    char *copy = NULL, *hdr = NULL;
    if (kid) {
        size_t n = strlen(kid);
        if (n == 0 || n > JWTS_KID_MAX)
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "kid must be 1..%d bytes", JWTS_KID_MAX);
        if (!(copy = strdup(kid))) return jwts_fail(JWTS_E_NO_MEMORY, "out of memory copying kid");
    }
    /* {"alg":"..","typ":"JWT","kid":".."} in base64url: what jwts_jwt_sign writes. */
    jwts_buf json = JWTS_BUF_SECRET, b64 = JWTS_BUF_SECRET;
    jwts_buf_puts(&json, "{\"alg\":\"");
    jwts_buf_puts(&json, key->info->name);
    jwts_buf_puts(&json, "\",\"typ\":\"JWT\"");
    if (copy) {
        jwts_buf_puts(&json, ",\"kid\":");
        jwts_buf_json_str(&json, copy, strlen(copy), JWTS_BUF_JSON_STRICT | JWTS_BUF_JSON_QUOTE);
    }
    jwts_buf_puts(&json, "}");
    if (!json.err)
        jwts_buf_b64url(&b64, json.data, json.len);
    else
        b64.err = json.err;
    jwts_buf_free(&json);
    jwts_err e = jwts_buf_finish(&b64, &hdr);
    if (e) {
        free(copy);
        return jwts_fail_wrap(e, "kid");
    }
    free(key->kid);
    free(key->jwt_header);
    key->kid = copy;
    key->jwt_header = hdr;
    key->jwt_header_len = strlen(hdr);
    return JWTS_OK;
}

jwts_err jwts_key_from_secret(jwts_alg alg, const void *secret, size_t len, const char *kid, jwts_key **out)
{
    const jwts_alg_info *info = jwts_alg_info_of(alg);
    if (!out || (!secret && len)) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "key_from_secret: NULL argument");
    if (!info || info->kty != JWTS_KTY_OCT)
        return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "a raw secret is a key for HS256/HS384/HS512 only");
    if (len < info->hash_len)
        return jwts_fail(JWTS_E_BAD_KEY, "%s secret is %zu bytes; at least %zu required", info->name, len,
                         info->hash_len);
    if (len > 4096) return jwts_fail(JWTS_E_BAD_KEY, "HMAC secret longer than 4096 bytes");
    jwts_key *k = key_alloc(alg);
    if (!k || !(k->secret = malloc(len)) || !(k->hmac = jwts_hmac_new(info->hash, secret, len))) {
        jwts_key_free(k);
        return jwts_fail(JWTS_E_NO_MEMORY, "out of memory building a key");
    }
    memcpy(k->secret, secret, len);
    k->secret_len = len;
    k->can_sign = 1;
    k->sig_len = info->hash_len;
    jwts_err e = jwts_key_set_kid(k, kid);
    if (e) {
        jwts_key_free(k);
        return e;
    }
    *out = k;
    return JWTS_OK;
}

int jwts_pkey_has_private(const EVP_PKEY *pkey)
{
    BIGNUM *bn = NULL;
    int has = 0;
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        has = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &bn) == 1;
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        has = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1;
    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        size_t len = 0;
        has = EVP_PKEY_get_raw_private_key(pkey, NULL, &len) == 1 && len == 32;
    }
    BN_clear_free(bn);
    return has;
}

jwts_err jwts_pkey_default_alg(const EVP_PKEY *pkey, jwts_alg *out)
{
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        *out = JWTS_ALG_RS256;
        return JWTS_OK;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        *out = JWTS_ALG_EDDSA;
        return JWTS_OK;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64];
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) != 1)
            return jwts_fail(JWTS_E_BAD_KEY, "EC key without a named curve");
        for (jwts_alg a = JWTS_ALG_ES256; a <= JWTS_ALG_ES512; a++) {
            if (strcmp(group, jwts_alg_info_of(a)->group) == 0) {
                *out = a;
                return JWTS_OK;
            }
        }
        return jwts_fail(JWTS_E_UNSUPPORTED, "EC curve %s is not P-256, P-384 or P-521", group);
    }
    return jwts_fail(JWTS_E_UNSUPPORTED, "key type %s is not RSA, EC or Ed25519", EVP_PKEY_get0_type_name(pkey));
}

/* The key type/alg match and the strength rules. */
static jwts_err check_pkey(const EVP_PKEY *pkey, const jwts_alg_info *info)
{
    jwts_alg def;
    jwts_err e = jwts_pkey_default_alg(pkey, &def);
    if (e) return e;
    const jwts_alg_info *dinfo = jwts_alg_info_of(def);
    if (dinfo->kty != info->kty || (info->kty == JWTS_KTY_EC && def != info->alg))
        return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "a %s key cannot be used for %s",
                         dinfo->kty == JWTS_KTY_EC ? dinfo->crv : EVP_PKEY_get0_type_name(pkey), info->name);
    if (info->kty == JWTS_KTY_RSA) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < 2048) return jwts_fail(JWTS_E_BAD_KEY, "RSA key of %d bits; at least 2048 required", bits);
        if (bits > 8192) return jwts_fail(JWTS_E_BAD_KEY, "RSA key of %d bits; at most 8192 supported", bits);
        BIGNUM *ebn = NULL;
        if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &ebn) != 1)
            return jwts_fail(JWTS_E_BAD_KEY, "RSA key without a public exponent");
        int ok = BN_is_odd(ebn) && !BN_is_one(ebn);
        BN_free(ebn);
        if (!ok) return jwts_fail(JWTS_E_BAD_KEY, "RSA public exponent must be odd and at least 3");
    }
    /* Structural checks: EC point on the curve, RSA modulus sane, private part matching public. */
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, (EVP_PKEY *)pkey, NULL);
    if (!c) return jwts_fail(JWTS_E_NO_MEMORY, "out of memory checking a key");
    int ok = EVP_PKEY_public_check(c) == 1;
    if (ok && jwts_pkey_has_private(pkey)) ok = EVP_PKEY_pairwise_check(c) == 1;
    EVP_PKEY_CTX_free(c);
    if (!ok) return jwts_fail(JWTS_E_BAD_KEY, "%s key fails OpenSSL's consistency check", info->name);
    return JWTS_OK;
}

/* The verify template: a verify-initialised context with padding and digest set, duplicated per
 * verify so no verify pays for method fetching or parameter setup. */
static EVP_PKEY_CTX *verify_template(EVP_PKEY *pkey, const jwts_alg_info *info)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!c || EVP_PKEY_verify_init(c) != 1 || EVP_PKEY_CTX_set_signature_md(c, jwts_hash_md(info->hash)) != 1)
        goto fail;
    if (info->kty == JWTS_KTY_RSA) {
        if (EVP_PKEY_CTX_set_rsa_padding(c, info->pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) != 1) goto fail;
        if (info->pss && (EVP_PKEY_CTX_set_rsa_mgf1_md(c, jwts_hash_md(info->hash)) != 1 ||
                          EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) != 1))
            goto fail;
    }
    return c;
fail:
    EVP_PKEY_CTX_free(c);
    return NULL;
}

jwts_err jwts_key_from_pkey(EVP_PKEY *pkey, jwts_alg alg, const char *kid, jwts_key **out)
{
    jwts_err e;
    if (!pkey || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "key_from_pkey: NULL argument");
    if (alg == JWTS_ALG_UNSET && (e = jwts_pkey_default_alg(pkey, &alg))) goto fail;
    const jwts_alg_info *info = jwts_alg_info_of(alg);
    if (!info) {
        e = jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "unknown alg");
        goto fail;
    }
    if (info->kty == JWTS_KTY_OCT) {
        e = jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "an asymmetric key cannot be used for %s", info->name);
        goto fail;
    }
    if ((e = check_pkey(pkey, info))) goto fail;
    jwts_key *k = key_alloc(alg);
    if (!k) {
        e = jwts_fail(JWTS_E_NO_MEMORY, "out of memory building a key");
        goto fail;
    }
    k->pkey = pkey;
    k->can_sign = jwts_pkey_has_private(pkey);
    k->sig_len = info->kty == JWTS_KTY_RSA ? (size_t)EVP_PKEY_get_size(pkey) : 2 * info->coord_len;
    if (info->kty == JWTS_KTY_OKP && (e = jwts_ed25519_public(pkey, k->ed25519_pk))) {
        jwts_key_free(k);
        return e;
    }
    if (info->kty != JWTS_KTY_OKP && !(k->verify_tmpl = verify_template(pkey, info))) {
        jwts_key_free(k);
        return jwts_fail(JWTS_E_BAD_KEY, "OpenSSL cannot set up %s verification for this key", info->name);
    }
    char tp[JWTS_THUMBPRINT_LEN + 1];
    if (!kid) {
        if ((e = jwts_key_thumbprint(k, tp))) {
            jwts_key_free(k);
            return e;
        }
        kid = tp;
    }
    if ((e = jwts_key_set_kid(k, kid))) {
        jwts_key_free(k);
        return e;
    }
    *out = k;
    return JWTS_OK;
fail:
    EVP_PKEY_free(pkey);
    return e;
}

jwts_err jwts_key_generate(jwts_alg alg, const char *kid, jwts_key **out)
{
    const jwts_alg_info *info = jwts_alg_info_of(alg);
    if (!info || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "key_generate: unknown alg or NULL out");
    if (info->kty == JWTS_KTY_OCT) {
        uint8_t secret[64];
        jwts_err e = jwts_random_bytes(secret, info->hash_len);
        if (!e) e = jwts_key_from_secret(alg, secret, info->hash_len, kid, out);
        OPENSSL_cleanse(secret, sizeof secret);
        return e;
    }
    EVP_PKEY *pkey = NULL;
    if (info->kty == JWTS_KTY_RSA)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (info->kty == JWTS_KTY_EC)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", info->group);
    else
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!pkey) return jwts_fail(JWTS_E_INTERNAL, "OpenSSL could not generate a %s key", info->name);
    return jwts_key_from_pkey(pkey, alg, kid, out);
}
