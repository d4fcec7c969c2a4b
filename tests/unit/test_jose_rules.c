/*
 * test_jose_rules.c - every verification rule of the JOSE layer as a negative test with the exact
 * jwts_err it must return: alg none, algorithm confusion, crit, embedded keys, ECDSA scalar range,
 * duplicates, non-canonical base64url, size, depth, claim types and claim checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/pem.h>

#include "jose/jose_int.h"
#include "jwtsession/b64url.h"
#include "jwtsession/jose.h"

#define NOW 1700000000
static const char SECRET[] = "0123456789abcdef0123456789abcdef"; /* 32 bytes */

typedef struct fixture {
    jwts_keyset *ks; /* HS256 "h1" (active), ES256 "e1", RSA public "r1" */
    const jwts_key *hs, *es;
    char rsa_pub_pem[1024];
} fixture;

static char *b64(const char *s, size_t n)
{
    char *out = malloc(jwts_b64url_encoded_len(n) + 1);
    assert_int_equal(jwts_b64url_encode(s, n, out, jwts_b64url_encoded_len(n) + 1, NULL), JWTS_OK);
    return out;
}

/* header.payload signed with key (raw signature appended), into a malloc'd string. */
static char *make(const jwts_key *key, const char *hdr, const char *payload)
{
    char *h = b64(hdr, strlen(hdr)), *p = b64(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2 + 2 * JWTS_SIG_MAX;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s", h, p);
    uint8_t sig[JWTS_SIG_MAX];
    size_t sl;
    assert_int_equal(jwts_sig_sign(key, t, strlen(t), sig, &sl), JWTS_OK);
    strcat(t, ".");
    assert_int_equal(jwts_b64url_encode(sig, sl, t + strlen(t), n - strlen(t), NULL), JWTS_OK);
    free(h);
    free(p);
    return t;
}

static jwts_err verify(const fixture *f, const char *tok, const jwts_verify_options *o)
{
    jwts_verify_options d = {.now_s = NOW};
    return jwts_jwt_verify(f->ks, tok, strlen(tok), o ? o : &d, NULL, NULL);
}

/* Sign with the HS256 key and expect code from a default verify. */
static void expect_hs(const fixture *f, const char *hdr, const char *payload, jwts_err code)
{
    char *t = make(f->hs, hdr, payload);
    jwts_err e = verify(f, t, NULL);
    if (e != code)
        print_error("header %s payload %s: got %s (%s), want %s\n", hdr, payload, jwts_errname(e), jwts_errdetail(),
                    jwts_errname(code));
    assert_int_equal(e, code);
    free(t);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    jwts_key *k;
    assert_int_equal(jwts_keyset_new(&f->ks), JWTS_OK);
    assert_int_equal(jwts_key_from_secret(JWTS_ALG_HS256, SECRET, 32, "h1", &k), JWTS_OK);
    assert_int_equal(jwts_keyset_add(f->ks, k, 1), JWTS_OK);
    f->hs = k;
    assert_int_equal(jwts_key_generate(JWTS_ALG_ES256, "e1", &k), JWTS_OK);
    assert_int_equal(jwts_keyset_add(f->ks, k, 0), JWTS_OK);
    f->es = k;
    /* an RSA public key, loaded from PEM like a verifier would */
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(bio, rsa), 1);
    int n = BIO_read(bio, f->rsa_pub_pem, sizeof f->rsa_pub_pem - 1);
    assert_true(n > 0);
    f->rsa_pub_pem[n] = '\0';
    BIO_free(bio);
    EVP_PKEY_free(rsa);
    assert_int_equal(jwts_key_from_pem(f->rsa_pub_pem, strlen(f->rsa_pub_pem), JWTS_ALG_RS256, "r1", &k), JWTS_OK);
    assert_int_equal(jwts_keyset_add(f->ks, k, 0), JWTS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    jwts_keyset_free(f->ks);
    free(f);
    return 0;
}

static const char OK_CLAIMS[] = "{\"sub\":\"u1\",\"exp\":1700000100}";

static void test_baseline_ok(void **state)
{
    fixture *f = *state;
    expect_hs(f, "{\"alg\":\"HS256\",\"kid\":\"h1\"}", OK_CLAIMS, JWTS_OK);
    expect_hs(f, "{\"alg\":\"HS256\"}", OK_CLAIMS, JWTS_OK);
}

static void test_alg_none_any_spelling(void **state)
{
    fixture *f = *state;
    const char *hdrs[] = {"{\"alg\":\"none\"}", "{\"alg\":\"None\"}",       "{\"alg\":\"NONE\"}",
                          "{\"alg\":\"nOnE\"}", "{\"alg\":\"\\u006eone\"}", "{\"alg\":\"none\",\"kid\":\"h1\"}"};
    for (size_t i = 0; i < sizeof hdrs / sizeof *hdrs; i++) expect_hs(f, hdrs[i], OK_CLAIMS, JWTS_E_ALG_NOT_ALLOWED);
    /* an unsecured JWS (empty signature) is refused before anything else */
    char *h = b64("{\"alg\":\"none\"}", 14), *p = b64(OK_CLAIMS, strlen(OK_CLAIMS)), t[256];
    snprintf(t, sizeof t, "%s.%s.", h, p);
    assert_int_equal(verify(f, t, NULL), JWTS_E_MALFORMED);
    free(h);
    free(p);
    expect_hs(f, "{\"alg\":\"HS257\"}", OK_CLAIMS, JWTS_E_ALG_NOT_ALLOWED);
    expect_hs(f, "{\"alg\":\"hs256\"}", OK_CLAIMS, JWTS_E_ALG_NOT_ALLOWED);
    expect_hs(f, "{\"alg\":5}", OK_CLAIMS, JWTS_E_MALFORMED);
    expect_hs(f, "{\"typ\":\"JWT\"}", OK_CLAIMS, JWTS_E_MALFORMED); /* no alg */
}

static void test_rs256_to_hs256_confusion(void **state)
{
    fixture *f = *state;
    /* the attacker MACs with the verifier's public key (its PEM text) as the HMAC secret */
    jwts_key *evil;
    assert_int_equal(jwts_key_from_secret(JWTS_ALG_HS256, f->rsa_pub_pem, strlen(f->rsa_pub_pem), NULL, &evil),
                     JWTS_OK);
    jwts_keyset *rsa_only;
    jwts_key *pub;
    assert_int_equal(jwts_key_from_pem(f->rsa_pub_pem, strlen(f->rsa_pub_pem), JWTS_ALG_UNSET, "r1", &pub), JWTS_OK);
    assert_int_equal(jwts_keyset_new(&rsa_only), JWTS_OK);
    assert_int_equal(jwts_keyset_add(rsa_only, pub, 0), JWTS_OK);
    const char *hdrs[] = {"{\"alg\":\"HS256\",\"kid\":\"r1\"}", "{\"alg\":\"HS256\"}"};
    for (int i = 0; i < 2; i++) {
        char *t = make(evil, hdrs[i], OK_CLAIMS);
        jwts_verify_options o = {.now_s = NOW};
        assert_int_equal(jwts_jwt_verify(rsa_only, t, strlen(t), &o, NULL, NULL), JWTS_E_ALG_NOT_ALLOWED);
        /* in the mixed set too: kid r1 names the RSA key, whose alg is RS256 */
        if (i == 0) assert_int_equal(verify(f, t, NULL), JWTS_E_ALG_NOT_ALLOWED);
        free(t);
    }
    /* a kid naming a key of another algorithm */
    expect_hs(f, "{\"alg\":\"HS256\",\"kid\":\"e1\"}", OK_CLAIMS, JWTS_E_ALG_NOT_ALLOWED);
    /* an explicit allow-list without HS256 */
    char *t = make(f->hs, "{\"alg\":\"HS256\",\"kid\":\"h1\"}", OK_CLAIMS);
    jwts_alg only[] = {JWTS_ALG_RS256, JWTS_ALG_ES256};
    jwts_verify_options o = {.now_s = NOW, .algs = only, .n_algs = 2};
    assert_int_equal(verify(f, t, &o), JWTS_E_ALG_NOT_ALLOWED);
    free(t);
    jwts_key_free(evil);
    jwts_keyset_free(rsa_only);
}

static void test_crit_and_embedded_keys(void **state)
{
    fixture *f = *state;
    expect_hs(f, "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", OK_CLAIMS, JWTS_E_UNSUPPORTED);
    expect_hs(f, "{\"alg\":\"HS256\",\"crit\":[]}", OK_CLAIMS, JWTS_E_UNSUPPORTED);
    expect_hs(f, "{\"alg\":\"HS256\",\"\\u0063rit\":[\"x\"]}", OK_CLAIMS, JWTS_E_UNSUPPORTED);
    expect_hs(f, "{\"alg\":\"HS256\",\"jwk\":{\"kty\":\"oct\",\"k\":\"AAAA\"}}", OK_CLAIMS, JWTS_E_UNSUPPORTED);
    expect_hs(f, "{\"alg\":\"HS256\",\"jku\":\"https://evil.example/jwks\"}", OK_CLAIMS, JWTS_E_UNSUPPORTED);
    expect_hs(f, "{\"alg\":\"HS256\",\"x5u\":\"https://evil.example/cert\"}", OK_CLAIMS, JWTS_E_UNSUPPORTED);
    expect_hs(f, "{\"alg\":\"HS256\",\"x5c\":[\"MIIB\"]}", OK_CLAIMS, JWTS_E_UNSUPPORTED);
    expect_hs(f, "{\"alg\":\"HS256\",\"b64\":false}", OK_CLAIMS, JWTS_E_UNSUPPORTED);
    expect_hs(f, "{\"alg\":\"HS256\",\"typ\":7}", OK_CLAIMS, JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\",\"x5t\":\"abc\",\"typ\":\"at+jwt\"}", OK_CLAIMS, JWTS_OK);
}

/* An ES256 token with a chosen raw signature r||s. */
static jwts_err es_with_sig(const fixture *f, const uint8_t *rs)
{
    char *h = b64("{\"alg\":\"ES256\",\"kid\":\"e1\"}", 26), *p = b64(OK_CLAIMS, strlen(OK_CLAIMS)), t[512];
    int n = snprintf(t, sizeof t, "%s.%s.", h, p);
    assert_int_equal(jwts_b64url_encode(rs, 64, t + n, sizeof t - (size_t)n, NULL), JWTS_OK);
    free(h);
    free(p);
    return verify(f, t, NULL);
}

static void test_ecdsa_scalar_range(void **state)
{
    fixture *f = *state;
    const uint8_t *order = jwts_alg_info_of(JWTS_ALG_ES256)->order;
    uint8_t rs[64];
    /* a genuine signature verifies; it is the baseline the mutations start from */
    char *t = make(f->es, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", OK_CLAIMS);
    assert_int_equal(verify(f, t, NULL), JWTS_OK);
    size_t sl;
    const char *dot = strrchr(t, '.');
    assert_int_equal(jwts_b64url_decode(dot + 1, strlen(dot + 1), rs, sizeof rs, &sl), JWTS_OK);
    assert_int_equal(sl, 64);
    free(t);
    uint8_t m[64];
    /* r = 0 */
    memcpy(m, rs, 64);
    memset(m, 0, 32);
    assert_int_equal(es_with_sig(f, m), JWTS_E_BAD_SIGNATURE);
    assert_non_null(strstr(jwts_errdetail(), "zero"));
    /* s = 0 */
    memcpy(m, rs, 64);
    memset(m + 32, 0, 32);
    assert_int_equal(es_with_sig(f, m), JWTS_E_BAD_SIGNATURE);
    assert_non_null(strstr(jwts_errdetail(), "zero"));
    /* r = n, s = n, r = 2^256 - 1 */
    memcpy(m, rs, 64);
    memcpy(m, order, 32);
    assert_int_equal(es_with_sig(f, m), JWTS_E_BAD_SIGNATURE);
    assert_non_null(strstr(jwts_errdetail(), "order"));
    memcpy(m, rs, 64);
    memcpy(m + 32, order, 32);
    assert_int_equal(es_with_sig(f, m), JWTS_E_BAD_SIGNATURE);
    assert_non_null(strstr(jwts_errdetail(), "order"));
    memcpy(m, rs, 64);
    memset(m, 0xff, 32);
    assert_int_equal(es_with_sig(f, m), JWTS_E_BAD_SIGNATURE);
    assert_non_null(strstr(jwts_errdetail(), "order"));
    /* in range but wrong: reaches the curve math and fails there */
    memcpy(m, rs, 64);
    m[40] ^= 1;
    assert_int_equal(es_with_sig(f, m), JWTS_E_BAD_SIGNATURE);
    assert_non_null(strstr(jwts_errdetail(), "does not verify"));
}

static void test_duplicate_members(void **state)
{
    fixture *f = *state;
    expect_hs(f, "{\"alg\":\"HS256\",\"alg\":\"HS256\"}", OK_CLAIMS, JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\",\"kid\":\"h1\",\"kid\":\"e1\"}", OK_CLAIMS, JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":1700000100,\"sub\":\"b\"}", JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"\\u0073ub\":\"b\"}", JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"x\":{\"a\":1,\"b\":{\"c\":1},\"a\":2}}", JWTS_E_MALFORMED);
    /* the same name in different objects is fine */
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"a\":{\"a\":1},\"b\":{\"a\":2},\"exp\":1700000100}", JWTS_OK);
}

static void test_noncanonical_base64url(void **state)
{
    fixture *f = *state;
    char *t = make(f->hs, "{\"alg\":\"HS256\",\"kid\":\"h1\"}", OK_CLAIMS);
    size_t n = strlen(t);
    assert_int_equal(verify(f, t, NULL), JWTS_OK);
    char *m = malloc(n + 8);
    /* the 43rd character of a 32-byte signature carries 2 unused bits: set one */
    strcpy(m, t);
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t v = (size_t)(strchr(alpha, m[n - 1]) - alpha);
    m[n - 1] = alpha[v | 1];
    assert_int_equal(verify(f, m, NULL), JWTS_E_MALFORMED);
    /* padding, standard-alphabet characters, whitespace */
    snprintf(m, n + 8, "%s=", t);
    assert_int_equal(verify(f, m, NULL), JWTS_E_MALFORMED);
    strcpy(m, t);
    m[n - 5] = '+';
    assert_int_equal(verify(f, m, NULL), JWTS_E_MALFORMED);
    strcpy(m, t);
    m[n - 5] = '/';
    assert_int_equal(verify(f, m, NULL), JWTS_E_MALFORMED);
    strcpy(m, t);
    m[3] = ' ';
    assert_int_equal(verify(f, m, NULL), JWTS_E_MALFORMED);
    free(m);
    free(t);
    /* a non-canonical payload under a valid MAC is still refused */
    char *h = b64("{\"alg\":\"HS256\"}", 15),
         *p = b64("{\"exp\":1700000100}", 18);   /* 18 bytes: 24 chars, no spare bits */
    char *p2 = b64("{\"exp\":1700000100 }", 19); /* 19 bytes: 26 chars, 2 spare bits */
    size_t pl = strlen(p2);
    v = (size_t)(strchr(alpha, p2[pl - 1]) - alpha);
    p2[pl - 1] = alpha[v | 1];
    char in[256];
    snprintf(in, sizeof in, "%s.%s", h, p2);
    uint8_t sig[64];
    size_t sl;
    assert_int_equal(jwts_sig_sign(f->hs, in, strlen(in), sig, &sl), JWTS_OK);
    strcat(in, ".");
    jwts_b64url_encode(sig, sl, in + strlen(in), sizeof in - strlen(in), NULL);
    assert_int_equal(verify(f, in, NULL), JWTS_E_MALFORMED);
    free(h);
    free(p);
    free(p2);
}

static void test_shape(void **state)
{
    fixture *f = *state;
    char *t = make(f->hs, "{\"alg\":\"HS256\"}", OK_CLAIMS), m[512];
    snprintf(m, sizeof m, "%s.x", t);
    assert_int_equal(verify(f, m, NULL), JWTS_E_MALFORMED); /* four parts */
    strcpy(m, t);
    *strrchr(m, '.') = '\0';
    assert_int_equal(verify(f, m, NULL), JWTS_E_MALFORMED); /* two parts */
    assert_int_equal(verify(f, "", NULL), JWTS_E_MALFORMED);
    assert_int_equal(verify(f, "..", NULL), JWTS_E_MALFORMED);
    /* a truncated MAC (40 characters: 30 bytes) */
    strcpy(m, t);
    m[strlen(m) - 3] = '\0';
    assert_int_equal(verify(f, m, NULL), JWTS_E_BAD_SIGNATURE);
    free(t);
    expect_hs(f, "[\"alg\",\"HS256\"]", OK_CLAIMS, JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\"", OK_CLAIMS, JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\"}", "[1,2]", JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"exp\":1700000100,}", JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"a\":\"\xff\"}", JWTS_E_MALFORMED);           /* invalid UTF-8 */
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"a\":\"\xc0\xaf\"}", JWTS_E_MALFORMED);       /* overlong */
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"a\":\"\\ud800\"}", JWTS_E_MALFORMED);        /* lone surrogate */
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"sub\":\"ad\\u0000min\"}", JWTS_E_MALFORMED); /* NUL */
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"a\":01}", JWTS_E_MALFORMED);
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"exp\":1700000100} x", JWTS_E_MALFORMED);
}

static void test_size_limits(void **state)
{
    fixture *f = *state;
    /* claims of ~7 KB give a token over 8 KiB */
    size_t pad = 7000;
    char *claims = malloc(pad + 64);
    int n = snprintf(claims, pad + 64, "{\"exp\":1700000100,\"pad\":\"");
    memset(claims + n, 'x', pad);
    strcpy(claims + n + pad, "\"}");
    char *t = make(f->hs, "{\"alg\":\"HS256\"}", claims);
    assert_true(strlen(t) > JWTS_VERIFY_MAX_TOKEN_DEFAULT);
    assert_int_equal(verify(f, t, NULL), JWTS_E_LIMIT);
    jwts_verify_options o = {.now_s = NOW, .max_token_len = 16384};
    char *json;
    assert_int_equal(jwts_jwt_verify(f->ks, t, strlen(t), &o, NULL, &json), JWTS_OK);
    assert_string_equal(json, claims);
    jwts_jose_free(json);
    o.max_token_len = 100;
    expect_hs(f, "{\"alg\":\"HS256\"}", OK_CLAIMS, JWTS_OK);
    char *small = make(f->hs, "{\"alg\":\"HS256\"}", OK_CLAIMS);
    assert_int_equal(verify(f, small, &o), JWTS_E_LIMIT);
    free(small);
    free(t);
    free(claims);
    /* a header over 1 KiB */
    char hdr[1400];
    n = snprintf(hdr, sizeof hdr, "{\"alg\":\"HS256\",\"x\":\"");
    memset(hdr + n, 'y', 1100);
    strcpy(hdr + n + 1100, "\"}");
    expect_hs(f, hdr, OK_CLAIMS, JWTS_E_LIMIT);
}

static void test_depth_limit(void **state)
{
    fixture *f = *state;
    /* depth 8 (the top-level object is 1) passes; 9 fails */
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"exp\":1700000100,\"a\":[[[[[[[1]]]]]]]}", JWTS_OK);
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"exp\":1700000100,\"a\":[[[[[[[[1]]]]]]]]}", JWTS_E_LIMIT);
    expect_hs(f, "{\"alg\":\"HS256\"}", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}",
              JWTS_E_LIMIT);
    expect_hs(f, "{\"alg\":\"HS256\",\"x\":[[[[[[[[[]]]]]]]]]}", OK_CLAIMS, JWTS_E_LIMIT);
}

static void test_time_claims_integers_only(void **state)
{
    fixture *f = *state;
    const char *bad[] = {"{\"exp\":1700000100.5}", "{\"exp\":1.7e9}",      "{\"exp\":\"1700000100\"}",
                         "{\"exp\":-1}",           "{\"exp\":true}",       "{\"exp\":null}",
                         "{\"nbf\":1.0}",          "{\"iat\":[1]}",        "{\"exp\":99999999999999999999}",
                         "{\"iat\":1E3}",          "{\"\\u0065xp\":\"x\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_hs(f, "{\"alg\":\"HS256\"}", bad[i], JWTS_E_MALFORMED);
    const char *bad_str[] = {"{\"sub\":1}",       "{\"iss\":{}}", "{\"jti\":false}",
                             "{\"sid\":[\"a\"]}", "{\"aud\":1}",  "{\"aud\":[\"a\",1]}"};
    for (size_t i = 0; i < sizeof bad_str / sizeof *bad_str; i++)
        expect_hs(f, "{\"alg\":\"HS256\"}", bad_str[i], JWTS_E_MALFORMED);
}

static void test_time_rules(void **state)
{
    fixture *f = *state;
    char *t = make(f->hs, "{\"alg\":\"HS256\"}", "{\"exp\":1700000000,\"nbf\":1699999900,\"iat\":1699999900}");
    jwts_verify_options o = {.now_s = NOW};
    assert_int_equal(verify(f, t, &o), JWTS_E_EXPIRED); /* now == exp is expired */
    o.now_s = NOW - 1;
    assert_int_equal(verify(f, t, &o), JWTS_OK);
    o.now_s = NOW + 30;
    assert_int_equal(verify(f, t, &o), JWTS_E_EXPIRED);
    o.leeway_s = 31;
    assert_int_equal(verify(f, t, &o), JWTS_OK);
    o.leeway_s = 0;
    o.now_s = 1699999899;
    assert_int_equal(verify(f, t, &o), JWTS_E_NOT_YET_VALID); /* before nbf */
    o.leeway_s = 1;
    assert_int_equal(verify(f, t, &o), JWTS_OK);
    o.leeway_s = -1;
    assert_int_equal(verify(f, t, &o), JWTS_E_INVALID_ARGUMENT);
    free(t);
    /* iat in the future */
    t = make(f->hs, "{\"alg\":\"HS256\"}", "{\"iat\":1700000500}");
    o = (jwts_verify_options){.now_s = NOW};
    assert_int_equal(verify(f, t, &o), JWTS_E_NOT_YET_VALID);
    o.leeway_s = 500;
    assert_int_equal(verify(f, t, &o), JWTS_OK);
    /* require_exp */
    o.require_exp = 1;
    assert_int_equal(verify(f, t, &o), JWTS_E_CLAIM_MISMATCH);
    free(t);
}

static int64_t fixed_clock(void *arg)
{
    return *(int64_t *)arg;
}

static void test_injected_clock(void **state)
{
    fixture *f = *state;
    char *t = make(f->hs, "{\"alg\":\"HS256\"}", "{\"exp\":1700000000}");
    int64_t now_ms = 1699999999999;
    jwts_clock clk = {fixed_clock, &now_ms};
    jwts_verify_options o = {.clock = &clk};
    assert_int_equal(verify(f, t, &o), JWTS_OK);
    now_ms = 1700000000000;
    assert_int_equal(verify(f, t, &o), JWTS_E_EXPIRED);
    free(t);
}

static void test_claim_checks(void **state)
{
    fixture *f = *state;
    char *t = make(f->hs, "{\"alg\":\"HS256\"}",
                   "{\"iss\":\"https://id.example\",\"sub\":\"u\\u00e9\",\"aud\":[\"api\",\"web\"],\"exp\":1700000100,"
                   "\"role\":\"admin\"}");
    jwts_verify_options o = {.now_s = NOW, .iss = "https://id.example", .aud = "web", .sub = "u\xc3\xa9"};
    jwts_claims c;
    assert_int_equal(jwts_jwt_verify(f->ks, t, strlen(t), &o, &c, NULL), JWTS_OK);
    assert_string_equal(c.sub, "u\xc3\xa9");
    assert_true(c.has & JWTS_CLAIM_AUD);
    o.iss = "https://other.example";
    assert_int_equal(verify(f, t, &o), JWTS_E_CLAIM_MISMATCH);
    o.iss = NULL;
    o.aud = "mobile";
    assert_int_equal(verify(f, t, &o), JWTS_E_CLAIM_MISMATCH);
    o.aud = "api"; /* the token names an audience: the recipient must be one of them (RFC 7519 4.1.3) */
    o.sub = "u";
    assert_int_equal(verify(f, t, &o), JWTS_E_CLAIM_MISMATCH);
    assert_non_null(strstr(jwts_errdetail(), "sub"));
    o.sub = NULL;
    const char *req_ok[] = {"role", "exp"}, *req_bad[] = {"role", "tenant"};
    o.required = req_ok;
    o.n_required = 2;
    assert_int_equal(verify(f, t, &o), JWTS_OK);
    o.required = req_bad;
    assert_int_equal(verify(f, t, &o), JWTS_E_CLAIM_MISMATCH);
    assert_non_null(strstr(jwts_errdetail(), "tenant"));
    free(t);
    /* aud as a plain string; iss/aud expected but missing */
    t = make(f->hs, "{\"alg\":\"HS256\"}", "{\"aud\":\"api\"}");
    o = (jwts_verify_options){.now_s = NOW, .aud = "api"};
    assert_int_equal(verify(f, t, &o), JWTS_OK);
    o.iss = "x";
    assert_int_equal(verify(f, t, &o), JWTS_E_CLAIM_MISMATCH);
    free(t);
    t = make(f->hs, "{\"alg\":\"HS256\"}", "{\"iss\":\"x\"}");
    o = (jwts_verify_options){.now_s = NOW, .aud = "api"};
    assert_int_equal(verify(f, t, &o), JWTS_E_CLAIM_MISMATCH);
    free(t);
}

/* Issue #12 item 7: RFC 7519 4.1.3 - a token naming an audience is refused by a recipient that
 * does not identify with it, including one that has no audience configured at all. */
static void test_aud_without_audience_configured(void **state)
{
    fixture *f = *state;
    const char *with_aud[] = {"{\"sub\":\"u1\",\"aud\":\"api\"}", "{\"sub\":\"u1\",\"aud\":[\"api\",\"web\"]}",
                              "{\"sub\":\"u1\",\"aud\":[]}", "{\"sub\":\"u1\",\"aud\":\"\"}"};
    jwts_verify_options none = {.now_s = NOW};
    for (size_t i = 0; i < sizeof with_aud / sizeof *with_aud; i++) {
        char *t = make(f->hs, "{\"alg\":\"HS256\"}", with_aud[i]);
        assert_int_equal(verify(f, t, &none), JWTS_E_CLAIM_MISMATCH);
        if (!strstr(jwts_errdetail(), "\"aud\"") || !strstr(jwts_errdetail(), "no audience"))
            fail_msg("detail \"%s\" does not explain the aud refusal", jwts_errdetail());
        /* NULL options (the real clock; these tokens have no exp): the same default */
        assert_int_equal(jwts_jwt_verify(f->ks, t, strlen(t), NULL, NULL, NULL), JWTS_E_CLAIM_MISMATCH);
        free(t);
    }
    /* a malformed aud is still MALFORMED, and a token without aud still passes */
    char *t = make(f->hs, "{\"alg\":\"HS256\"}", "{\"aud\":5}");
    assert_int_equal(verify(f, t, &none), JWTS_E_MALFORMED);
    free(t);
    t = make(f->hs, "{\"alg\":\"HS256\"}", OK_CLAIMS);
    assert_int_equal(verify(f, t, &none), JWTS_OK);
    free(t);
    /* with the audience configured, the same token passes */
    t = make(f->hs, "{\"alg\":\"HS256\"}", with_aud[1]);
    jwts_verify_options web = {.now_s = NOW, .aud = "web"};
    assert_int_equal(verify(f, t, &web), JWTS_OK);
    free(t);
}

static void test_key_selection(void **state)
{
    fixture *f = *state;
    expect_hs(f, "{\"alg\":\"HS256\",\"kid\":\"nope\"}", OK_CLAIMS, JWTS_E_KEY_NOT_FOUND);
    expect_hs(f, "{\"alg\":\"HS256\",\"kid\":\"\"}", OK_CLAIMS, JWTS_E_KEY_NOT_FOUND);
    expect_hs(f, "{\"alg\":\"HS256\",\"kid\":3}", OK_CLAIMS, JWTS_E_MALFORMED);
    /* an HS384 token when the caller allows HS384 but the set has no such key */
    jwts_key *k384;
    uint8_t s48[48] = {1};
    assert_int_equal(jwts_key_from_secret(JWTS_ALG_HS384, s48, 48, NULL, &k384), JWTS_OK);
    char *t = make(k384, "{\"alg\":\"HS384\"}", OK_CLAIMS);
    assert_int_equal(verify(f, t, NULL), JWTS_E_ALG_NOT_ALLOWED);
    jwts_alg algs[] = {JWTS_ALG_HS384};
    jwts_verify_options o = {.now_s = NOW, .algs = algs, .n_algs = 1};
    assert_int_equal(verify(f, t, &o), JWTS_E_KEY_NOT_FOUND);
    free(t);
    jwts_key_free(k384);
    /* a wrong HMAC key */
    jwts_key *other;
    assert_int_equal(jwts_key_from_secret(JWTS_ALG_HS256, "abcdefghijklmnopqrstuvwxyz012345", 32, "h1", &other),
                     JWTS_OK);
    t = make(other, "{\"alg\":\"HS256\",\"kid\":\"h1\"}", OK_CLAIMS);
    assert_int_equal(verify(f, t, NULL), JWTS_E_BAD_SIGNATURE);
    free(t);
    jwts_key_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_ok),
        cmocka_unit_test(test_alg_none_any_spelling),
        cmocka_unit_test(test_rs256_to_hs256_confusion),
        cmocka_unit_test(test_crit_and_embedded_keys),
        cmocka_unit_test(test_ecdsa_scalar_range),
        cmocka_unit_test(test_duplicate_members),
        cmocka_unit_test(test_noncanonical_base64url),
        cmocka_unit_test(test_shape),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_time_claims_integers_only),
        cmocka_unit_test(test_time_rules),
        cmocka_unit_test(test_injected_clock),
        cmocka_unit_test(test_claim_checks),
        cmocka_unit_test(test_aud_without_audience_configured),
        cmocka_unit_test(test_key_selection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
