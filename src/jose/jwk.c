/*
 * jwk.c - JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037): import into EVP_PKEYs with
 * OSSL_PARAM_BLD/EVP_PKEY_fromdata, export of public and private JWKs, and RFC 7638 thumbprints.
 * Key material is validated strictly: exact coordinate lengths, minimal RSA integers, known
 * curves, "use" of "sig" only; secrets are wiped from every temporary buffer.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

#include "jose/json_scan.h"
#include "jose/jwk_int.h"
#include "jwtsession/b64url.h"
#include "jwtsession/buf.h"
#include "jwtsession/error.h"

#define FIELD_MAX 1024 /* decoded bytes of one JWK member (RSA 8192 is 1024) */

jwts_err jwts_jwk_parse_text(const char *text, size_t len, json_t **out)
{
    if (!text) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "JWK: NULL text");
    if (len > JWTS_JWK_MAX_TEXT) return jwts_fail(JWTS_E_LIMIT, "JWK text of %zu bytes is too long", len);
    jwts_err e = jwts_json_scan(text, len, JWTS_JOSE_MAX_DEPTH, NULL, NULL);
    if (e) return jwts_fail_wrap(e, "JWK");
    json_error_t jerr;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) return jwts_fail(JWTS_E_MALFORMED, "JWK: %s", jerr.text);
    *out = j;
    return JWTS_OK;
}

/* The string member name of obj: NULL if absent; MALFORMED if not a string. */
static jwts_err get_str(const json_t *obj, const char *name, const char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v) return JWTS_OK;
    if (!json_is_string(v)) return jwts_fail(JWTS_E_MALFORMED, "JWK member \"%s\" is not a string", name);
    *out = json_string_value(v);
    return JWTS_OK;
}

/* The base64url member name decoded into buf (FIELD_MAX bytes); *len 0 if absent and optional. */
static jwts_err get_b64(const json_t *obj, const char *name, int required, uint8_t *buf, size_t *len)
{
    const char *s;
    jwts_err e = get_str(obj, name, &s);
    *len = 0;
    if (e) return e;
    if (!s) return required ? jwts_fail(JWTS_E_MALFORMED, "JWK member \"%s\" is missing", name) : JWTS_OK;
    size_t sl = json_string_length(json_object_get(obj, name));
    e = jwts_b64url_decode(s, sl, buf, FIELD_MAX, len);
    if (e == JWTS_E_LIMIT) return jwts_fail(JWTS_E_BAD_KEY, "JWK member \"%s\" is too long", name);
    if (e) return jwts_fail_wrap(JWTS_E_MALFORMED, "JWK member \"%s\"", name);
    if (*len == 0) return jwts_fail(JWTS_E_MALFORMED, "JWK member \"%s\" is empty", name);
    return JWTS_OK;
}

/* Push the big-endian integer of member name (if present) to bld; minimal encoding required. */
static jwts_err push_bn(OSSL_PARAM_BLD *bld, const json_t *obj, const char *name, const char *param, int required,
                        BIGNUM **keep, int *present)
{
    uint8_t buf[FIELD_MAX];
    size_t len;
    jwts_err e = get_b64(obj, name, required, buf, &len);
    if (present) *present = len > 0;
    if (e || len == 0) return e;
    if (buf[0] == 0 && len > 1) {
        OPENSSL_cleanse(buf, len);
        return jwts_fail(JWTS_E_MALFORMED, "JWK member \"%s\" has a leading zero octet", name);
    }
    BIGNUM *bn = BN_secure_new();
    int ok = bn && BN_bin2bn(buf, (int)len, bn) && OSSL_PARAM_BLD_push_BN(bld, param, bn);
    OPENSSL_cleanse(buf, len);
    *keep = bn;
    return ok ? JWTS_OK : jwts_fail(JWTS_E_NO_MEMORY, "out of memory importing a JWK");
}

static jwts_err fromdata(const char *type, OSSL_PARAM_BLD *bld, int private, EVP_PKEY **out)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    int ok = params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, out, private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* BIGNUM copies inside are cleared by OSSL_PARAM_free for secure params */
    return ok ? JWTS_OK : jwts_fail(JWTS_E_BAD_KEY, "OpenSSL rejects the %s JWK key material", type);
}

static jwts_err rsa_from_jwk(const json_t *obj, EVP_PKEY **out)
{
    static const char *const PRIV[][2] = {
        {"p", OSSL_PKEY_PARAM_RSA_FACTOR1},       {"q", OSSL_PKEY_PARAM_RSA_FACTOR2},
        {"dp", OSSL_PKEY_PARAM_RSA_EXPONENT1},    {"dq", OSSL_PKEY_PARAM_RSA_EXPONENT2},
        {"qi", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
    };
    BIGNUM *bns[8] = {0};
    int has_d = 0, has[5] = {0};
    jwts_err e = JWTS_OK;
    if (json_object_get(obj, "oth")) return jwts_fail(JWTS_E_UNSUPPORTED, "multi-prime RSA JWK (\"oth\")");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!bld) return jwts_fail(JWTS_E_NO_MEMORY, "out of memory importing a JWK");
    if ((e = push_bn(bld, obj, "n", OSSL_PKEY_PARAM_RSA_N, 1, &bns[0], NULL)) ||
        (e = push_bn(bld, obj, "e", OSSL_PKEY_PARAM_RSA_E, 1, &bns[1], NULL)) ||
        (e = push_bn(bld, obj, "d", OSSL_PKEY_PARAM_RSA_D, 0, &bns[2], &has_d)))
        goto done;
    int nfac = 0;
    for (int i = 0; i < 5 && has_d; i++) {
        if ((e = push_bn(bld, obj, PRIV[i][0], PRIV[i][1], 0, &bns[3 + i], &has[i]))) goto done;
        nfac += has[i];
    }
    if (nfac != 0 && nfac != 5) {
        e = jwts_fail(JWTS_E_MALFORMED, "RSA JWK has some but not all of p, q, dp, dq, qi");
        goto done;
    }
    e = fromdata("RSA", bld, has_d, out);
done:
    for (int i = 0; i < 8; i++) BN_clear_free(bns[i]);
    OSSL_PARAM_BLD_free(bld);
    return e;
}

static jwts_err ec_from_jwk(const json_t *obj, const jwts_alg_info *info, EVP_PKEY **out)
{
    uint8_t x[FIELD_MAX], y[FIELD_MAX], d[FIELD_MAX], pub[1 + 2 * 66];
    size_t xl, yl, dl;
    BIGNUM *dbn = NULL;
    jwts_err e;
    size_t n = info->coord_len;
    if ((e = get_b64(obj, "x", 1, x, &xl)) || (e = get_b64(obj, "y", 1, y, &yl)) || (e = get_b64(obj, "d", 0, d, &dl)))
        goto wipe;
    if (xl != n || yl != n || (dl && dl != n)) {
        e = jwts_fail(JWTS_E_MALFORMED, "%s JWK coordinates must be exactly %zu bytes", info->crv, n);
        goto wipe;
    }
    pub[0] = 0x04;
    memcpy(pub + 1, x, n);
    memcpy(pub + 1 + n, y, n);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    int ok = bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, info->group, 0) &&
             OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * n);
    if (ok && dl) {
        dbn = BN_secure_new();
        ok = dbn && BN_bin2bn(d, (int)dl, dbn) && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, dbn);
    }
    e = ok ? fromdata("EC", bld, dl > 0, out) : jwts_fail(JWTS_E_NO_MEMORY, "out of memory importing a JWK");
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(dbn);
wipe:
    OPENSSL_cleanse(d, sizeof d);
    return e;
}

static jwts_err okp_from_jwk(const json_t *obj, EVP_PKEY **out)
{
    uint8_t x[FIELD_MAX], d[FIELD_MAX], pub[32];
    size_t xl, dl, pl = sizeof pub;
    jwts_err e;
    if ((e = get_b64(obj, "x", 1, x, &xl)) || (e = get_b64(obj, "d", 0, d, &dl))) goto wipe;
    if (xl != 32 || (dl && dl != 32)) {
        e = jwts_fail(JWTS_E_MALFORMED, "Ed25519 JWK members x and d must be 32 bytes");
        goto wipe;
    }
    *out = dl ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, 32)
              : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
    if (!*out) {
        e = jwts_fail(JWTS_E_BAD_KEY, "OpenSSL rejects the Ed25519 JWK key material");
        goto wipe;
    }
    if (dl && (EVP_PKEY_get_raw_public_key(*out, pub, &pl) != 1 || pl != 32 || memcmp(pub, x, 32) != 0)) {
        EVP_PKEY_free(*out);
        *out = NULL;
        e = jwts_fail(JWTS_E_BAD_KEY, "Ed25519 JWK: x does not match d");
    }
wipe:
    OPENSSL_cleanse(d, sizeof d);
    return e;
}

/* "use" must be "sig" if present; "key_ops" must allow sign or verify if present. */
static jwts_err check_use(const json_t *obj)
{
    const char *use;
    jwts_err e = get_str(obj, "use", &use);
    if (e) return e;
    if (use && strcmp(use, "sig") != 0) return jwts_fail(JWTS_E_UNSUPPORTED, "JWK \"use\" is not \"sig\"");
    json_t *ops = json_object_get(obj, "key_ops");
    if (!ops) return JWTS_OK;
    if (!json_is_array(ops)) return jwts_fail(JWTS_E_MALFORMED, "JWK \"key_ops\" is not an array");
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        if (!json_is_string(op)) return jwts_fail(JWTS_E_MALFORMED, "JWK \"key_ops\" holds a non-string");
        if (strcmp(json_string_value(op), "sign") == 0 || strcmp(json_string_value(op), "verify") == 0) return JWTS_OK;
    }
    return jwts_fail(JWTS_E_UNSUPPORTED, "JWK \"key_ops\" allows neither sign nor verify");
}

jwts_err jwts_key_from_jwk_obj(const json_t *obj, jwts_alg alg, jwts_key **out)
{
    const char *kty, *jalg, *kid, *crv;
    jwts_err e;
    if (!json_is_object(obj)) return jwts_fail(JWTS_E_MALFORMED, "JWK is not a JSON object");
    if ((e = get_str(obj, "kty", &kty)) || (e = get_str(obj, "alg", &jalg)) || (e = get_str(obj, "kid", &kid)) ||
        (e = get_str(obj, "crv", &crv)))
        return e;
    if (!kty) return jwts_fail(JWTS_E_MALFORMED, "JWK has no \"kty\"");
    if (kid && (!*kid || strlen(kid) > JWTS_KID_MAX || strlen(kid) != json_string_length(json_object_get(obj, "kid"))))
        return jwts_fail(JWTS_E_MALFORMED, "JWK \"kid\" must be 1..%d bytes without NUL", JWTS_KID_MAX);
    if ((e = check_use(obj))) return e;
    if (jalg) {
        jwts_alg ja;
        if ((e = jwts_alg_from_name(jalg, &ja))) return jwts_fail_wrap(e, "JWK \"alg\"");
        if (alg != JWTS_ALG_UNSET && alg != ja)
            return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "JWK is for %s, not %s", jalg, jwts_alg_name(alg));
        alg = ja;
    }
    const jwts_alg_info *want = jwts_alg_info_of(alg); /* NULL: default of the key type */
    EVP_PKEY *pkey = NULL;
    if (strcmp(kty, "oct") == 0) {
        uint8_t k[FIELD_MAX];
        size_t kl;
        if (!want) want = jwts_alg_info_of(JWTS_ALG_HS256);
        if (want->kty != JWTS_KTY_OCT)
            return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "an oct JWK cannot be used for %s", want->name);
        if ((e = get_b64(obj, "k", 1, k, &kl))) return e;
        e = jwts_key_from_secret(want->alg, k, kl, kid, out);
        OPENSSL_cleanse(k, sizeof k);
        return e;
    }
    if (strcmp(kty, "RSA") == 0) {
        if (want && want->kty != JWTS_KTY_RSA)
            return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "an RSA JWK cannot be used for %s", want->name);
        e = rsa_from_jwk(obj, &pkey);
    } else if (strcmp(kty, "EC") == 0) {
        const jwts_alg_info *ci = NULL;
        for (jwts_alg a = JWTS_ALG_ES256; a <= JWTS_ALG_ES512; a++)
            if (crv && strcmp(crv, jwts_alg_info_of(a)->crv) == 0) ci = jwts_alg_info_of(a);
        if (!ci) return jwts_fail(JWTS_E_UNSUPPORTED, "EC JWK curve is not P-256, P-384 or P-521");
        if (want && want != ci)
            return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "a %s JWK cannot be used for %s", ci->crv, want->name);
        e = ec_from_jwk(obj, ci, &pkey);
    } else if (strcmp(kty, "OKP") == 0) {
        if (!crv || strcmp(crv, "Ed25519") != 0) return jwts_fail(JWTS_E_UNSUPPORTED, "OKP JWK curve is not Ed25519");
        if (want && want->kty != JWTS_KTY_OKP)
            return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "an Ed25519 JWK cannot be used for %s", want->name);
        e = okp_from_jwk(obj, &pkey);
    } else {
        return jwts_fail(JWTS_E_UNSUPPORTED, "JWK \"kty\" %s is not supported", kty);
    }
    if (e) return e;
    return jwts_key_from_pkey(pkey, alg, kid, out);
}

jwts_err jwts_key_from_jwk(const char *json, size_t len, jwts_alg alg, jwts_key **out)
{
    json_t *j;
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "key_from_jwk: NULL out");
    jwts_err e = jwts_jwk_parse_text(json, len, &j);
    if (e) return e;
    e = jwts_key_from_jwk_obj(j, alg, out);
    json_decref(j);
    return e;
}

/* ---- export ------------------------------------------------------------------------------ */

/* Append ,"name":"<b64 of bn>" (padded to pad bytes when pad > 0). */
static void add_bn(jwts_buf *b, const char *name, const EVP_PKEY *pkey, const char *param, size_t pad)
{
    BIGNUM *bn = NULL;
    uint8_t buf[FIELD_MAX];
    if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1) {
        if (!b->err) b->err = JWTS_E_INTERNAL;
        return;
    }
    int n = pad ? (int)pad : BN_num_bytes(bn);
    if (n <= 0 || n > FIELD_MAX || BN_bn2binpad(bn, buf, n) != n) {
        if (!b->err) b->err = JWTS_E_INTERNAL;
    } else {
        jwts_buf_puts(b, ",\"");
        jwts_buf_puts(b, name);
        jwts_buf_puts(b, "\":\"");
        jwts_buf_b64url(b, buf, (size_t)n);
        jwts_buf_puts(b, "\"");
    }
    OPENSSL_cleanse(buf, sizeof buf);
    BN_clear_free(bn);
}

static void add_raw(jwts_buf *b, const char *name, const uint8_t *p, size_t n)
{
    jwts_buf_puts(b, ",\"");
    jwts_buf_puts(b, name);
    jwts_buf_puts(b, "\":\"");
    jwts_buf_b64url(b, p, n);
    jwts_buf_puts(b, "\"");
}

/* The key members (after kty) of key; private ones too when priv. */
static void add_key_members(jwts_buf *b, const jwts_key *key, int priv)
{
    const jwts_alg_info *in = key->info;
    switch (in->kty) {
    case JWTS_KTY_OCT:
        add_raw(b, "k", key->secret, key->secret_len);
        break;
    case JWTS_KTY_RSA:
        add_bn(b, "n", key->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        add_bn(b, "e", key->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        if (priv) {
            BIGNUM *p = NULL;
            int crt = EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, &p) == 1;
            BN_clear_free(p);
            add_bn(b, "d", key->pkey, OSSL_PKEY_PARAM_RSA_D, 0);
            if (crt) {
                add_bn(b, "p", key->pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, 0);
                add_bn(b, "q", key->pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, 0);
                add_bn(b, "dp", key->pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0);
                add_bn(b, "dq", key->pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0);
                add_bn(b, "qi", key->pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0);
            }
        }
        break;
    case JWTS_KTY_EC:
        jwts_buf_puts(b, ",\"crv\":\"");
        jwts_buf_puts(b, in->crv);
        jwts_buf_puts(b, "\"");
        add_bn(b, "x", key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, in->coord_len);
        add_bn(b, "y", key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, in->coord_len);
        if (priv) add_bn(b, "d", key->pkey, OSSL_PKEY_PARAM_PRIV_KEY, in->coord_len);
        break;
    case JWTS_KTY_OKP: {
        uint8_t raw[32];
        size_t n = sizeof raw;
        jwts_buf_puts(b, ",\"crv\":\"Ed25519\"");
        if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &n) != 1 || n != 32)
            b->err = JWTS_E_INTERNAL;
        else
            add_raw(b, "x", raw, 32);
        n = sizeof raw;
        if (priv) {
            if (EVP_PKEY_get_raw_private_key(key->pkey, raw, &n) != 1 || n != 32)
                b->err = JWTS_E_INTERNAL;
            else
                add_raw(b, "d", raw, 32);
        }
        OPENSSL_cleanse(raw, sizeof raw);
        break;
    }
    }
}

static const char *kty_name(int kty)
{
    return kty == JWTS_KTY_OCT ? "oct" : kty == JWTS_KTY_RSA ? "RSA" : kty == JWTS_KTY_EC ? "EC" : "OKP";
}

jwts_err jwts_key_to_jwk(const jwts_key *key, int include_private, char **out)
{
    if (!key || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "key_to_jwk: NULL argument");
    if (key->info->kty == JWTS_KTY_OCT && !include_private)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "an HMAC key has no public JWK");
    if (include_private && !key->can_sign)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "key has no private part to export");
    jwts_buf b = JWTS_BUF_SECRET;
    jwts_buf_puts(&b, "{\"kty\":\"");
    jwts_buf_puts(&b, kty_name(key->info->kty));
    jwts_buf_puts(&b, "\"");
    if (key->kid) {
        jwts_buf_puts(&b, ",\"kid\":");
        jwts_buf_json_str(&b, key->kid, strlen(key->kid), JWTS_BUF_JSON_STRICT | JWTS_BUF_JSON_QUOTE);
    }
    jwts_buf_puts(&b, ",\"use\":\"sig\",\"alg\":\"");
    jwts_buf_puts(&b, key->info->name);
    jwts_buf_puts(&b, "\"");
    add_key_members(&b, key, include_private);
    jwts_buf_puts(&b, "}");
    jwts_err e = jwts_buf_finish(&b, out);
    return e ? jwts_fail_wrap(e, "exporting a JWK") : JWTS_OK;
}

jwts_err jwts_key_canonical_jwk(const jwts_key *key, char **out)
{
    /* RFC 7638 section 3.2: required members only, lexicographic order, no whitespace. */
    const jwts_alg_info *in = key->info;
    jwts_buf b = JWTS_BUF_SECRET, m = JWTS_BUF_SECRET;
    add_key_members(&m, key, 0); /* ,"crv":..,"x":..,"y":..  /  ,"n":..,"e":..  /  ,"k":.. */
    if (m.err) {
        jwts_err e = m.err;
        jwts_buf_free(&m);
        return jwts_fail(e, "thumbprint: cannot read the key");
    }
    const char *mem = m.data;
    switch (in->kty) {
    case JWTS_KTY_OCT: /* {"k":..,"kty":"oct"} */
        jwts_buf_puts(&b, "{");
        jwts_buf_put(&b, mem + 1, m.len - 1);
        jwts_buf_puts(&b, ",\"kty\":\"oct\"}");
        break;
    case JWTS_KTY_RSA: { /* {"e":..,"kty":"RSA","n":..} from ,"n":N,"e":E */
        const char *e_at = strstr(mem, ",\"e\":");
        jwts_buf_puts(&b, "{");
        jwts_buf_puts(&b, e_at + 1);
        jwts_buf_puts(&b, ",\"kty\":\"RSA\"");
        jwts_buf_put(&b, mem, (size_t)(e_at - mem));
        jwts_buf_puts(&b, "}");
        break;
    }
    default: { /* {"crv":..,"kty":..,"x":..[,"y":..]} from ,"crv":C,"x":X[,"y":Y] */
        const char *x_at = strstr(mem, ",\"x\":");
        jwts_buf_puts(&b, "{");
        jwts_buf_put(&b, mem + 1, (size_t)(x_at - mem - 1));
        jwts_buf_puts(&b, ",\"kty\":\"");
        jwts_buf_puts(&b, kty_name(in->kty));
        jwts_buf_puts(&b, "\"");
        jwts_buf_puts(&b, x_at);
        jwts_buf_puts(&b, "}");
        break;
    }
    }
    jwts_buf_free(&m);
    return jwts_buf_finish(&b, out);
}

jwts_err jwts_key_thumbprint(const jwts_key *key, char out[JWTS_THUMBPRINT_LEN + 1])
{
    char *canon;
    uint8_t d[32];
    if (!key || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "thumbprint: NULL argument");
    jwts_err e = jwts_key_canonical_jwk(key, &canon);
    if (e) return e;
    jwts_digest(JWTS_HASH_SHA256, canon, strlen(canon), d);
    jwts_jose_free(canon);
    return jwts_b64url_encode(d, sizeof d, out, JWTS_THUMBPRINT_LEN + 1, NULL);
}
