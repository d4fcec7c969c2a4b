/*
 * test_jose_keys.c - keys, key sets and signing: strength rules, JWK and PEM loading in every
 * form, sign/verify round trips for every algorithm, rotation, JWKS export/import, the hot-path
 * access-token signer, and concurrent verification from several threads.
 *
 * Under valgrind (scripts/valgrind-tests.sh sets JWTS_TEST_VALGRIND) the round trips of every
 * algorithm skip RS384, RS512, PS384 and PS512: each generates 2048-bit RSA keys, about 15 s apiece
 * there, and they take the paths of RS256 and PS256 with another digest, which the plain run covers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "jwtsession/jose.h"

#define NOW 1700000000
static const char CLAIMS[] = "{\"sub\":\"alice\",\"exp\":1700000100,\"iat\":1699999000}";

static const jwts_alg ALL[] = {JWTS_ALG_HS256, JWTS_ALG_HS384, JWTS_ALG_HS512, JWTS_ALG_RS256, JWTS_ALG_RS384,
                               JWTS_ALG_RS512, JWTS_ALG_PS256, JWTS_ALG_PS384, JWTS_ALG_PS512, JWTS_ALG_ES256,
                               JWTS_ALG_ES384, JWTS_ALG_ES512, JWTS_ALG_EDDSA};
#define N_ALL (sizeof ALL / sizeof ALL[0])

/* true for the RSA algorithms the valgrind run leaves out (see the top of the file) */
static bool skipped_under_valgrind(jwts_alg a)
{
    static int under = -1;
    if (under < 0) under = getenv("JWTS_TEST_VALGRIND") != NULL;
    return under && (a == JWTS_ALG_RS384 || a == JWTS_ALG_RS512 || a == JWTS_ALG_PS384 || a == JWTS_ALG_PS512);
}

static jwts_keyset *one(jwts_key *k)
{
    jwts_keyset *ks;
    assert_int_equal(jwts_keyset_new(&ks), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, k, 0), JWTS_OK);
    return ks;
}

static jwts_err verify_with(const jwts_keyset *ks, const char *tok)
{
    jwts_verify_options o = {.now_s = NOW};
    return jwts_jwt_verify(ks, tok, strlen(tok), &o, NULL, NULL);
}

/* PEM of pkey in structure ("PrivateKeyInfo", "type-specific", "SubjectPublicKeyInfo"). */
static char *pem_of(EVP_PKEY *pkey, int selection, const char *structure)
{
    unsigned char *data = NULL;
    size_t len = 0;
    OSSL_ENCODER_CTX *ec = OSSL_ENCODER_CTX_new_for_pkey(pkey, selection, "PEM", structure, NULL);
    assert_non_null(ec);
    assert_int_equal(OSSL_ENCODER_to_data(ec, &data, &len), 1);
    OSSL_ENCODER_CTX_free(ec);
    char *s = malloc(len + 1);
    memcpy(s, data, len);
    s[len] = '\0';
    OPENSSL_free(data);
    return s;
}

static void test_hmac_strength(void **s)
{
    (void)s;
    uint8_t secret[64] = {7};
    jwts_key *k;
    struct {
        jwts_alg alg;
        size_t min;
    } cases[] = {{JWTS_ALG_HS256, 32}, {JWTS_ALG_HS384, 48}, {JWTS_ALG_HS512, 64}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(jwts_key_from_secret(cases[i].alg, secret, cases[i].min - 1, NULL, &k), JWTS_E_BAD_KEY);
        assert_int_equal(jwts_key_from_secret(cases[i].alg, secret, cases[i].min, NULL, &k), JWTS_OK);
        assert_null(jwts_key_kid(k));
        jwts_key_free(k);
    }
    assert_int_equal(jwts_key_from_secret(JWTS_ALG_RS256, secret, 64, NULL, &k), JWTS_E_ALG_NOT_ALLOWED);
    static const char short_jwk[] =
        "{\"kty\":\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}"; /* 31 bytes */
    assert_int_equal(jwts_key_from_jwk(short_jwk, strlen(short_jwk), JWTS_ALG_UNSET, &k), JWTS_E_BAD_KEY);
}

static void test_rsa_strength(void **s)
{
    (void)s;
    EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    char *pub = pem_of(weak, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo");
    char *priv = pem_of(weak, EVP_PKEY_KEYPAIR, "PrivateKeyInfo");
    jwts_key *k;
    assert_int_equal(jwts_key_from_pem(pub, strlen(pub), JWTS_ALG_UNSET, NULL, &k), JWTS_E_BAD_KEY);
    assert_int_equal(jwts_key_from_pem(priv, strlen(priv), JWTS_ALG_PS256, NULL, &k), JWTS_E_BAD_KEY);
    free(pub);
    free(priv);
    EVP_PKEY_free(weak);
}

static void test_key_type_mismatch(void **s)
{
    (void)s;
    jwts_key *k;
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
    char *pem = pem_of(ec, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo");
    assert_int_equal(jwts_key_from_pem(pem, strlen(pem), JWTS_ALG_ES384, NULL, &k), JWTS_E_ALG_NOT_ALLOWED);
    assert_int_equal(jwts_key_from_pem(pem, strlen(pem), JWTS_ALG_RS256, NULL, &k), JWTS_E_ALG_NOT_ALLOWED);
    assert_int_equal(jwts_key_from_pem(pem, strlen(pem), JWTS_ALG_HS256, NULL, &k), JWTS_E_ALG_NOT_ALLOWED);
    assert_int_equal(jwts_key_from_pem(pem, strlen(pem), JWTS_ALG_UNSET, NULL, &k), JWTS_OK);
    assert_int_equal(jwts_key_alg(k), JWTS_ALG_ES256);
    jwts_key_free(k);
    free(pem);
    EVP_PKEY_free(ec);
    /* P-256K (secp256k1) is not a JOSE ES curve */
    EVP_PKEY *k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
    pem = pem_of(k1, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo");
    assert_int_equal(jwts_key_from_pem(pem, strlen(pem), JWTS_ALG_UNSET, NULL, &k), JWTS_E_UNSUPPORTED);
    free(pem);
    EVP_PKEY_free(k1);
    static const char rsa_as_es[] = "{\"kty\":\"RSA\",\"alg\":\"ES256\",\"n\":\"AQAB\",\"e\":\"AQAB\"}";
    assert_int_equal(jwts_key_from_jwk(rsa_as_es, strlen(rsa_as_es), JWTS_ALG_UNSET, &k), JWTS_E_ALG_NOT_ALLOWED);
    static const char oct_as_rs[] = "{\"kty\":\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";
    assert_int_equal(jwts_key_from_jwk(oct_as_rs, strlen(oct_as_rs), JWTS_ALG_RS256, &k), JWTS_E_ALG_NOT_ALLOWED);
    static const char alg_none[] =
        "{\"kty\":\"oct\",\"alg\":\"none\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";
    assert_int_equal(jwts_key_from_jwk(alg_none, strlen(alg_none), JWTS_ALG_UNSET, &k), JWTS_E_ALG_NOT_ALLOWED);
    static const char alg_clash[] =
        "{\"kty\":\"oct\",\"alg\":\"HS512\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";
    assert_int_equal(jwts_key_from_jwk(alg_clash, strlen(alg_clash), JWTS_ALG_HS256, &k), JWTS_E_ALG_NOT_ALLOWED);
}

static void test_jwk_validation(void **s)
{
    (void)s;
    jwts_key *k;
    struct {
        const char *jwk;
        jwts_err want;
    } cases[] = {
        /* x one byte short */
        {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_"
         "FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
         JWTS_E_MALFORMED},
        /* a point not on the curve (y changed) */
        {"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"y_"
         "FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
         JWTS_E_BAD_KEY},
        {"{\"kty\":\"EC\",\"crv\":\"P-256K\",\"x\":\"AA\",\"y\":\"AA\"}", JWTS_E_UNSUPPORTED},
        {"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
         JWTS_E_UNSUPPORTED},
        /* x does not belong to d */
        {"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\",\"x\":"
         "\"21qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
         JWTS_E_BAD_KEY},
        {"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\",\"use\":\"enc\"}",
         JWTS_E_UNSUPPORTED},
        {"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\",\"key_ops\":["
         "\"encrypt\"]}",
         JWTS_E_UNSUPPORTED},
        {"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}",
         JWTS_E_MALFORMED},
        {"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\",\"x\":\"AA\"}",
         JWTS_E_MALFORMED},
        {"{\"kty\":\"RSA\",\"n\":\"AKH4Fgri48m0ZZaNLWViYzYrkn2-KeHwJHf8FiXMkKE245PZNJfFtupj3XcR5nx0KflWsPqKjwiaw\","
         "\"e\":\"AQAB\"}",
         JWTS_E_MALFORMED},
        {"{\"kty\":\"RSA\",\"e\":\"AQAB\"}", JWTS_E_MALFORMED},
        {"{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"d\":\"AQAB\",\"p\":\"AQAB\"}", JWTS_E_MALFORMED},
        {"{\"kty\":\"oct\"}", JWTS_E_MALFORMED},
        {"{\"k\":\"AAAA\"}", JWTS_E_MALFORMED},
        {"{\"kty\":\"foo\"}", JWTS_E_UNSUPPORTED},
        {"{\"kty\":\"oct\",\"kid\":\"\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", JWTS_E_MALFORMED},
        {"[1]", JWTS_E_MALFORMED},
        {"{\"kty\":\"oct\",\"k\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"x\":[[[[[[[[[1]]]]]]]]]}",
         JWTS_E_LIMIT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        jwts_err e = jwts_key_from_jwk(cases[i].jwk, strlen(cases[i].jwk), JWTS_ALG_UNSET, &k);
        if (e != cases[i].want)
            print_error("case %zu: got %s (%s), want %s\n", i, jwts_errname(e), jwts_errdetail(),
                        jwts_errname(cases[i].want));
        assert_int_equal(e, cases[i].want);
    }
}

/* Sign with a generated key of every algorithm; verify with the public JWK; cross-key fails. */
static void test_roundtrip_every_alg(void **s)
{
    (void)s;
    for (size_t i = 0; i < N_ALL; i++) {
        if (skipped_under_valgrind(ALL[i])) continue;
        jwts_key *k;
        assert_int_equal(jwts_key_generate(ALL[i], "k", &k), JWTS_OK);
        assert_int_equal(jwts_key_alg(k), ALL[i]);
        char *tok;
        assert_int_equal(jwts_jwt_sign(k, CLAIMS, strlen(CLAIMS), &tok), JWTS_OK);
        /* the verifier loads the key from its JWK form (public when asymmetric) */
        int hmac = ALL[i] <= JWTS_ALG_HS512;
        char *jwk;
        assert_int_equal(jwts_key_to_jwk(k, hmac, &jwk), JWTS_OK);
        if (!hmac) assert_null(strstr(jwk, "\"d\""));
        jwts_key *v;
        assert_int_equal(jwts_key_from_jwk(jwk, strlen(jwk), JWTS_ALG_UNSET, &v), JWTS_OK);
        assert_int_equal(jwts_key_alg(v), ALL[i]);
        assert_int_equal(jwts_key_can_sign(v), hmac);
        jwts_keyset *ks = one(v);
        jwts_claims c;
        jwts_verify_options o = {.now_s = NOW};
        jwts_err e = jwts_jwt_verify(ks, tok, strlen(tok), &o, &c, NULL);
        if (e) print_error("%s: %s\n", jwts_alg_name(ALL[i]), jwts_errdetail());
        assert_int_equal(e, JWTS_OK);
        assert_string_equal(c.sub, "alice");
        assert_int_equal(c.alg, ALL[i]);
        /* a different key of the same algorithm and kid does not verify it */
        jwts_key *k2;
        assert_int_equal(jwts_key_generate(ALL[i], "k", &k2), JWTS_OK);
        jwts_keyset *ks2 = one(k2);
        assert_int_equal(verify_with(ks2, tok), JWTS_E_BAD_SIGNATURE);
        /* private JWK export and re-import signs verifiably */
        char *priv;
        assert_int_equal(jwts_key_to_jwk(k, 1, &priv), JWTS_OK);
        jwts_key *k3;
        assert_int_equal(jwts_key_from_jwk(priv, strlen(priv), JWTS_ALG_UNSET, &k3), JWTS_OK);
        assert_int_equal(jwts_key_can_sign(k3), 1);
        char *tok3;
        assert_int_equal(jwts_jwt_sign(k3, CLAIMS, strlen(CLAIMS), &tok3), JWTS_OK);
        assert_int_equal(verify_with(ks, tok3), JWTS_OK);
        jwts_jose_free(tok3);
        jwts_key_free(k3);
        jwts_jose_free(priv);
        jwts_keyset_free(ks2);
        jwts_keyset_free(ks);
        jwts_jose_free(jwk);
        jwts_jose_free(tok);
        jwts_key_free(k);
    }
}

static void test_pem_forms(void **s)
{
    (void)s;
    struct {
        const char *type, *param;
        jwts_alg alg;
    } kinds[] = {
        {"RSA", NULL, JWTS_ALG_RS256}, {"EC", "prime256v1", JWTS_ALG_ES256}, {"ED25519", NULL, JWTS_ALG_EDDSA}};
    for (int i = 0; i < 3; i++) {
        EVP_PKEY *p = kinds[i].param                      ? EVP_PKEY_Q_keygen(NULL, NULL, kinds[i].type, kinds[i].param)
                      : strcmp(kinds[i].type, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                                          : EVP_PKEY_Q_keygen(NULL, NULL, kinds[i].type);
        char *pkcs8 = pem_of(p, EVP_PKEY_KEYPAIR, "PrivateKeyInfo");
        char *spki = pem_of(p, EVP_PKEY_PUBLIC_KEY, "SubjectPublicKeyInfo");
        jwts_key *signer, *pub;
        assert_int_equal(jwts_key_from_pem(pkcs8, strlen(pkcs8), JWTS_ALG_UNSET, "s", &signer), JWTS_OK);
        assert_int_equal(jwts_key_can_sign(signer), 1);
        assert_int_equal(jwts_key_alg(signer), kinds[i].alg);
        assert_int_equal(jwts_key_from_pem(spki, strlen(spki), JWTS_ALG_UNSET, "s", &pub), JWTS_OK);
        assert_int_equal(jwts_key_can_sign(pub), 0);
        char *tok;
        assert_int_equal(jwts_jwt_sign(signer, CLAIMS, strlen(CLAIMS), &tok), JWTS_OK);
        jwts_keyset *ks = one(pub);
        assert_int_equal(verify_with(ks, tok), JWTS_OK);
        /* a public key cannot sign */
        char *t2;
        assert_int_equal(jwts_jwt_sign(pub, CLAIMS, strlen(CLAIMS), &t2), JWTS_E_BAD_KEY);
        if (i < 2) { /* traditional PKCS#1 / SEC1 private keys, and a PKCS#1 RSA public key */
            char *trad = pem_of(p, EVP_PKEY_KEYPAIR, "type-specific");
            jwts_key *t;
            assert_int_equal(jwts_key_from_pem(trad, strlen(trad), JWTS_ALG_UNSET, NULL, &t), JWTS_OK);
            assert_int_equal(jwts_key_can_sign(t), 1);
            /* kid defaults to the thumbprint, the same for the public key */
            char tp[JWTS_THUMBPRINT_LEN + 1];
            assert_int_equal(jwts_key_thumbprint(pub, tp), JWTS_OK);
            assert_string_equal(jwts_key_kid(t), tp);
            jwts_key_free(t);
            free(trad);
            if (i == 0) {
                char *pkcs1 = pem_of(p, EVP_PKEY_PUBLIC_KEY, "type-specific");
                assert_non_null(strstr(pkcs1, "BEGIN RSA PUBLIC KEY"));
                assert_int_equal(jwts_key_from_pem(pkcs1, strlen(pkcs1), JWTS_ALG_RS256, NULL, &t), JWTS_OK);
                jwts_key_free(t);
                free(pkcs1);
            }
        }
        jwts_jose_free(tok);
        jwts_keyset_free(ks);
        jwts_key_free(signer);
        free(pkcs8);
        free(spki);
        EVP_PKEY_free(p);
    }
    jwts_key *k;
    assert_int_equal(jwts_key_from_pem("hello", 5, JWTS_ALG_UNSET, NULL, &k), JWTS_E_MALFORMED);
    static const char junk[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert_int_equal(jwts_key_from_pem(junk, strlen(junk), JWTS_ALG_UNSET, NULL, &k), JWTS_E_MALFORMED);
    static const char enc[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert_int_equal(jwts_key_from_pem(enc, strlen(enc), JWTS_ALG_UNSET, NULL, &k), JWTS_E_UNSUPPORTED);
}

static void test_keyset_rotation(void **s)
{
    (void)s;
    jwts_keyset *ks;
    jwts_key *k1, *k2, *pub;
    assert_int_equal(jwts_keyset_new(&ks), JWTS_OK);
    assert_null(jwts_keyset_active(ks));
    assert_int_equal(jwts_key_generate(JWTS_ALG_ES256, "2024-01", &k1), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, k1, 0), JWTS_OK);
    assert_ptr_equal(jwts_keyset_active(ks), k1); /* first signing key becomes active */
    char *old_tok;
    assert_int_equal(jwts_jwt_sign(jwts_keyset_active(ks), CLAIMS, strlen(CLAIMS), &old_tok), JWTS_OK);
    /* rotate: a new key signs, the old one still verifies */
    assert_int_equal(jwts_key_generate(JWTS_ALG_ES256, "2024-02", &k2), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, k2, 1), JWTS_OK);
    assert_ptr_equal(jwts_keyset_active(ks), k2);
    char *new_tok;
    assert_int_equal(jwts_jwt_sign(jwts_keyset_active(ks), CLAIMS, strlen(CLAIMS), &new_tok), JWTS_OK);
    jwts_claims c;
    jwts_verify_options o = {.now_s = NOW};
    assert_int_equal(jwts_jwt_verify(ks, old_tok, strlen(old_tok), &o, &c, NULL), JWTS_OK);
    assert_ptr_equal(c.key, k1);
    assert_int_equal(jwts_jwt_verify(ks, new_tok, strlen(new_tok), &o, &c, NULL), JWTS_OK);
    assert_ptr_equal(c.key, k2);
    /* duplicates, public keys as signers, unknown kids */
    jwts_key *dup;
    assert_int_equal(jwts_key_generate(JWTS_ALG_HS256, "2024-01", &dup), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, dup, 0), JWTS_E_CONFLICT); /* dup is freed */
    char *pj;
    assert_int_equal(jwts_key_to_jwk(k1, 0, &pj), JWTS_OK);
    assert_int_equal(jwts_key_from_jwk(pj, strlen(pj), JWTS_ALG_UNSET, &pub), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, pub, 1), JWTS_E_CONFLICT); /* same kid; pub is freed */
    jwts_jose_free(pj);
    assert_int_equal(jwts_keyset_set_active(ks, "nope"), JWTS_E_KEY_NOT_FOUND);
    assert_int_equal(jwts_keyset_set_active(ks, "2024-01"), JWTS_OK);
    assert_ptr_equal(jwts_keyset_active(ks), k1);
    assert_ptr_equal(jwts_keyset_find(ks, "2024-02"), k2);
    assert_int_equal(jwts_keyset_count(ks), 2);
    /* retire the old key: a set without it no longer accepts its tokens */
    jwts_keyset *next;
    assert_int_equal(jwts_keyset_new(&next), JWTS_OK);
    assert_int_equal(jwts_key_to_jwk(k2, 1, &pj), JWTS_OK);
    jwts_key *k2copy;
    assert_int_equal(jwts_key_from_jwk(pj, strlen(pj), JWTS_ALG_UNSET, &k2copy), JWTS_OK);
    assert_int_equal(jwts_keyset_add(next, k2copy, 1), JWTS_OK);
    assert_int_equal(jwts_jwt_verify(next, old_tok, strlen(old_tok), &o, NULL, NULL), JWTS_E_KEY_NOT_FOUND);
    assert_int_equal(jwts_jwt_verify(next, new_tok, strlen(new_tok), &o, NULL, NULL), JWTS_OK);
    jwts_jose_free(pj);
    jwts_keyset_free(next);
    jwts_jose_free(old_tok);
    jwts_jose_free(new_tok);
    jwts_keyset_free(ks);
}

static void test_jwks_roundtrip(void **s)
{
    (void)s;
    jwts_keyset *priv;
    assert_int_equal(jwts_keyset_new(&priv), JWTS_OK);
    char *toks[N_ALL];
    size_t skipped = 0;
    for (size_t i = 0; i < N_ALL; i++) {
        toks[i] = NULL;
        if (skipped_under_valgrind(ALL[i])) {
            skipped++;
            continue;
        }
        jwts_key *k;
        char kid[16];
        snprintf(kid, sizeof kid, "k%zu", i);
        assert_int_equal(jwts_key_generate(ALL[i], kid, &k), JWTS_OK);
        assert_int_equal(jwts_jwt_sign(k, CLAIMS, strlen(CLAIMS), &toks[i]), JWTS_OK);
        assert_int_equal(jwts_keyset_add(priv, k, 0), JWTS_OK);
    }
    char *jwks;
    assert_int_equal(jwts_keyset_to_jwks(priv, &jwks), JWTS_OK);
    assert_null(strstr(jwks, "\"d\":"));
    assert_null(strstr(jwks, "\"k\":"));
    assert_null(strstr(jwks, "\"oct\""));
    jwts_keyset *pub;
    assert_int_equal(jwts_keyset_from_jwks(jwks, strlen(jwks), &pub), JWTS_OK);
    assert_int_equal(jwts_keyset_count(pub), N_ALL - 3 - skipped);
    assert_null(jwts_keyset_active(pub));
    for (size_t i = 0; i < N_ALL; i++) {
        if (!toks[i]) continue;
        jwts_err want = ALL[i] <= JWTS_ALG_HS512 ? JWTS_E_KEY_NOT_FOUND : JWTS_OK; /* kid of an HMAC key */
        assert_int_equal(verify_with(pub, toks[i]), want);
        jwts_jose_free(toks[i]);
    }
    /* export of the imported set is identical */
    char *again;
    assert_int_equal(jwts_keyset_to_jwks(pub, &again), JWTS_OK);
    assert_string_equal(again, jwks);
    jwts_jose_free(again);
    jwts_jose_free(jwks);
    jwts_keyset_free(pub);
    jwts_keyset_free(priv);
    /* unknown key types are skipped, bad supported keys fail, empty sets are refused */
    static const char mixed[] =
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"},{\"kty\":\"foo\"},"
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"e\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";
    assert_int_equal(jwts_keyset_from_jwks(mixed, strlen(mixed), &pub), JWTS_OK);
    assert_int_equal(jwts_keyset_count(pub), 1);
    jwts_keyset_free(pub);
    static const char none[] = "{\"keys\":[{\"kty\":\"foo\"}]}";
    assert_int_equal(jwts_keyset_from_jwks(none, strlen(none), &pub), JWTS_E_NOT_FOUND);
    static const char bad[] = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AA\"}]}";
    assert_int_equal(jwts_keyset_from_jwks(bad, strlen(bad), &pub), JWTS_E_MALFORMED);
    static const char nokeys[] = "{\"key\":[]}";
    assert_int_equal(jwts_keyset_from_jwks(nokeys, strlen(nokeys), &pub), JWTS_E_MALFORMED);
}

static void test_sign_std(void **s)
{
    (void)s;
    jwts_key *k;
    assert_int_equal(jwts_key_from_secret(JWTS_ALG_HS256, "0123456789abcdef0123456789abcdef", 32, "k1", &k), JWTS_OK);
    jwts_std_claims sc = {.iss = "https://auth.example",
                          .sub = "user \"42\"\n\xc3\xa9",
                          .aud = "api",
                          .sid = "Zk9vYmFyYmF6cXV4cXV1eA",
                          .jti = "j-1",
                          .iat = 1699999990,
                          .exp = 1700000890};
    char out[1024];
    size_t n;
    assert_int_equal(jwts_jwt_sign_std(k, &sc, out, sizeof out, &n), JWTS_OK);
    assert_int_equal(n, strlen(out));
    jwts_keyset *ks = one(k);
    jwts_verify_options o = {.now_s = NOW, .iss = "https://auth.example", .aud = "api", .require_exp = 1};
    jwts_claims c;
    char *json;
    assert_int_equal(jwts_jwt_verify(ks, out, n, &o, &c, &json), JWTS_OK);
    assert_string_equal(c.sub, sc.sub);
    assert_string_equal(c.sid, sc.sid);
    assert_string_equal(c.jti, "j-1");
    assert_string_equal(c.iss, sc.iss);
    assert_int_equal(c.iat, 1699999990);
    assert_int_equal(c.exp, 1700000890);
    assert_int_equal(c.has & JWTS_CLAIM_NBF, 0);
    assert_int_equal(c.truncated, 0);
    assert_null(strstr(json, "nbf"));
    jwts_jose_free(json);
    /* the same claims through the generic signer verify the same way */
    assert_int_equal(jwts_jwt_sign_std(k, &sc, out, 40, &n), JWTS_E_LIMIT);
    sc.sub = "bad \xff utf8";
    assert_int_equal(jwts_jwt_sign_std(k, &sc, out, sizeof out, &n), JWTS_E_INVALID_ARGUMENT);
    /* a sub longer than jwts_claims keeps is flagged, not cut */
    char longsub[400];
    memset(longsub, 'a', sizeof longsub - 1);
    longsub[sizeof longsub - 1] = '\0';
    sc.sub = longsub;
    assert_int_equal(jwts_jwt_sign_std(k, &sc, out, sizeof out, &n), JWTS_OK);
    assert_int_equal(jwts_jwt_verify(ks, out, n, &o, &c, NULL), JWTS_OK);
    assert_true(c.truncated & JWTS_CLAIM_SUB);
    assert_string_equal(c.sub, "");
    /* generic signer refuses bad claims */
    char *t;
    assert_int_equal(jwts_jwt_sign(k, "{\"exp\":1.5}", 11, &t), JWTS_E_MALFORMED);
    assert_int_equal(jwts_jwt_sign(k, "{\"a\":1,\"a\":2}", 13, &t), JWTS_E_MALFORMED);
    assert_int_equal(jwts_jws_sign(k, NULL, "raw bytes", 9, &t), JWTS_OK);
    char *payload;
    assert_int_equal(jwts_jws_verify(ks, t, strlen(t), NULL, &payload, NULL), JWTS_OK);
    assert_string_equal(payload, "raw bytes");
    jwts_jose_free(payload);
    jwts_jose_free(t);
    jwts_keyset_free(ks);
}

typedef struct worker {
    const jwts_keyset *ks;
    const char *good, *bad;
    int failures;
    pthread_barrier_t *start; /* the verifiers start together, so they share the key set at once */
} worker;

static void *verify_loop(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    jwts_verify_options o = {.now_s = NOW};
    for (int i = 0; i < 300; i++) {
        jwts_claims c;
        if (jwts_jwt_verify(w->ks, w->good, strlen(w->good), &o, &c, NULL) != JWTS_OK || strcmp(c.sub, "alice") != 0)
            w->failures++;
        if (jwts_jwt_verify(w->ks, w->bad, strlen(w->bad), &o, NULL, NULL) != JWTS_E_BAD_SIGNATURE) w->failures++;
    }
    return NULL;
}

static void test_concurrent_verify(void **s)
{
    (void)s;
    jwts_alg algs[] = {JWTS_ALG_HS256, JWTS_ALG_ES256, JWTS_ALG_EDDSA};
    for (int a = 0; a < 3; a++) {
        jwts_key *k;
        assert_int_equal(jwts_key_generate(algs[a], "t", &k), JWTS_OK);
        jwts_keyset *ks = one(k);
        char *good, *bad;
        assert_int_equal(jwts_jwt_sign(k, CLAIMS, strlen(CLAIMS), &good), JWTS_OK);
        bad = strdup(good);
        bad[strlen(bad) - 4] = bad[strlen(bad) - 4] == 'A' ? 'B' : 'A';
        worker w[4];
        pthread_t th[4];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 4);
        for (int i = 0; i < 4; i++) {
            w[i] = (worker){ks, good, bad, 0, &start};
            assert_int_equal(pthread_create(&th[i], NULL, verify_loop, &w[i]), 0);
        }
        for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < 4; i++) assert_int_equal(w[i].failures, 0);
        free(bad);
        jwts_jose_free(good);
        jwts_keyset_free(ks);
    }
}

static void test_alg_names(void **s)
{
    (void)s;
    for (size_t i = 0; i < N_ALL; i++) {
        jwts_alg a;
        assert_int_equal(jwts_alg_from_name(jwts_alg_name(ALL[i]), &a), JWTS_OK);
        assert_int_equal(a, ALL[i]);
    }
    jwts_alg a;
    assert_int_equal(jwts_alg_from_name("NoNe", &a), JWTS_E_ALG_NOT_ALLOWED);
    assert_int_equal(jwts_alg_from_name("ES256K", &a), JWTS_E_ALG_NOT_ALLOWED);
    assert_null(jwts_alg_name(JWTS_ALG_UNSET));
    assert_null(jwts_alg_name(JWTS_ALG__COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_names),         cmocka_unit_test(test_hmac_strength),
        cmocka_unit_test(test_rsa_strength),      cmocka_unit_test(test_key_type_mismatch),
        cmocka_unit_test(test_jwk_validation),    cmocka_unit_test(test_roundtrip_every_alg),
        cmocka_unit_test(test_pem_forms),         cmocka_unit_test(test_keyset_rotation),
        cmocka_unit_test(test_jwks_roundtrip),    cmocka_unit_test(test_sign_std),
        cmocka_unit_test(test_concurrent_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
