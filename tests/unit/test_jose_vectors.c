/*
 * test_jose_vectors.c - published JOSE test vectors: RFC 7515 appendices A.1-A.4, RFC 7520
 * sections 4.1, 4.3 and 4.4, RFC 8037 appendix A (Ed25519) and the RFC 7638 thumbprint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jose/jose_int.h"
#include "jwtsession/b64url.h"
#include "jwtsession/jose.h"

/* RFC 7515 A.1-A.3 payload: {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true} */
#define RFC7515_PAYLOAD_B64                                                                                            \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define RFC7515_NOW 1300819000 /* before the vectors' exp */

static const char A1_JWK[] = "{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-"
                             "1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}";
static const char A1_TOKEN[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." RFC7515_PAYLOAD_B64 ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

static const char A2_JWK[] = "{\"kty\":\"RSA\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_"
                             "wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-"
                             "yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-"
                             "bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg"
                             "665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_"
                             "h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\","
                             "\"e\":\"AQAB\",\"d\":\"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_"
                             "GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui"
                             "395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_"
                             "V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt"
                             "4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_"
                             "RQyGWSeWjnczT0QU91p1DhOVRuOopznQ\","
                             "\"p\":\"4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_"
                             "5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY"
                             "5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc\",\"q\":"
                             "\"uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHg"
                             "HAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-"
                             "njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc\",\"dp\":\"BwKf"
                             "V3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-"
                             "FOKnu1R6HsJeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YV"
                             "r7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0\",\"dq\":\"h_96-mK1R_"
                             "7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719r"
                             "rmI2oKr6N3Do9U0ajaHF-NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_"
                             "pbLBSp3nssTdlqvd0tIiTHU\",\"qi\":\"IYd7DHOhrWvxkwPQsR"
                             "M2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_"
                             "QJQ3ydy5cY7YIBi87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh"
                             "6A5603k2-ZQwVK0JKSHuLFkuQ3U\"}";
static const char A2_SIG[] =
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_"
    "O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYN"
    "X4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-"
    "eOkHWEsqtFZESc6BfI7noO"
    "PqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
static const char A2_INPUT[] = "eyJhbGciOiJSUzI1NiJ9." RFC7515_PAYLOAD_B64;

static const char A3_JWK[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\",\"y\":\"x_FEzRu9m36"
    "HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}";
static const char A3_TOKEN[] =
    "eyJhbGciOiJFUzI1NiJ9." RFC7515_PAYLOAD_B64
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

static const char A4_JWK[] =
    "{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6O"
    "vLFV1jSfS9tsz4qUxcWceqwQGk\",\"y\":\"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0"
    "AZMaZmh9ubmf63e3kyMj2\",\"d\":\"AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdRhajnu0fe"
    "rB0d53vM9mE15j2C\"}";
static const char A4_TOKEN[] =
    "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2"
    "SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";

/* RFC 7520 (section 3 payload, "It's a dangerous business, Frodo..."). */
static const char HOBBIT[] =
    "It\xe2\x80\x99s a dangerous business, Frodo, going out your door. You step onto the road, and if "
    "you don't keep your feet, there\xe2\x80\x99s no knowing where you might be swept off to.";
#define HOBBIT_B64                                                                                                     \
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5k" \
    "IGlmIHlv"                                                                                                         \
    "dSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4"

static const char R41_JWK[] =
    "{\"kty\":\"RSA\",\"kid\":\"bilbo.baggins@hobbiton.example\",\"use\":\"sig\",\"n\":\"n4EPtAOCc9Al"
    "keQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqVwGU_NsYOYL"
    "-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde3uhGqC"
    "0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuCLqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5gHd"
    "rNP5zw\",\"e\":\"AQAB\"}";
static const char R41_TOKEN[] =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9." HOBBIT_B64
    ".MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDk"
    "oBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9eRo4QPocSadnHXFxnt8Is9Uz"
    "pERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84o"
    "goree7vjbU5y18kDquDg";

static const char R43_JWK[] =
    "{\"kty\":\"EC\",\"kid\":\"bilbo.baggins@hobbiton.example\",\"use\":\"sig\",\"crv\":\"P-521\",\"x\":\""
    "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt\",\"y\":\"AdymlHvOi"
    "LxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1\",\"d\":\"AAhRON2r9cqXX1hg-R"
    "oI6R1tX5p2rUAYdmpHZoC1XNM56KtscrX6zbKipQrCW9CGZH3T4ubpnoTKLDYJ_fF3_rJt\"}";
static const char R43_TOKEN[] =
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9." HOBBIT_B64
    ".AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjn"
    "AMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2";

static const char R44_JWK[] =
    "{\"kty\":\"oct\",\"kid\":\"018c0ae5-4d9b-471b-bfd6-eef314bc7037\",\"use\":\"sig\",\"alg\":\"HS256\","
    "\"k\":\"hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg\"}";
static const char R44_TOKEN[] =
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9." HOBBIT_B64
    ".s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";

/* RFC 8037 A.1/A.4 */
static const char ED_JWK[] =
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\",\"x\":\"11"
    "qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char ED_INPUT[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
static const char ED_SIG[] = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/* RFC 7638 section 3.1 */
static const char TP_JWK[] =
    "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhD"
    "R1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPk"
    "sINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";

static jwts_keyset *set_of(const char *jwk)
{
    jwts_keyset *ks = NULL;
    jwts_err e = jwts_keyset_parse(jwk, strlen(jwk), JWTS_ALG_UNSET, &ks);
    if (e) print_error("keyset_parse: %s: %s\n", jwts_errname(e), jwts_errdetail());
    assert_int_equal(e, JWTS_OK);
    return ks;
}

/* Verify a JWT vector and check the claims read from it. */
static void check_rfc7515_jwt(const char *jwk, const char *token, jwts_alg alg)
{
    jwts_keyset *ks = set_of(jwk);
    jwts_verify_options o = {.now_s = RFC7515_NOW, .iss = "joe"};
    jwts_claims c;
    char *json = NULL;
    jwts_err e = jwts_jwt_verify(ks, token, strlen(token), &o, &c, &json);
    if (e) print_error("verify: %s: %s\n", jwts_errname(e), jwts_errdetail());
    assert_int_equal(e, JWTS_OK);
    assert_int_equal(c.alg, alg);
    assert_true(c.has & JWTS_CLAIM_EXP);
    assert_int_equal(c.exp, 1300819380);
    assert_string_equal(c.iss, "joe");
    assert_non_null(strstr(json, "\"http://example.com/is_root\":true"));
    jwts_jose_free(json);
    /* the same token is expired one second after exp */
    o.now_s = 1300819380;
    assert_int_equal(jwts_jwt_verify(ks, token, strlen(token), &o, NULL, NULL), JWTS_E_EXPIRED);
    jwts_keyset_free(ks);
}

static void test_rfc7515_a1_hs256(void **s)
{
    (void)s;
    check_rfc7515_jwt(A1_JWK, A1_TOKEN, JWTS_ALG_HS256);
}

static void test_rfc7515_a2_rs256(void **s)
{
    (void)s;
    char token[2048];
    snprintf(token, sizeof token, "%s.%s", A2_INPUT, A2_SIG);
    check_rfc7515_jwt(A2_JWK, token, JWTS_ALG_RS256);
    /* RSASSA-PKCS1-v1_5 is deterministic: our signature is the RFC's, byte for byte */
    jwts_key *k;
    assert_int_equal(jwts_key_from_jwk(A2_JWK, strlen(A2_JWK), JWTS_ALG_RS256, &k), JWTS_OK);
    uint8_t sig[JWTS_SIG_MAX];
    size_t sig_len;
    char b64[600];
    assert_int_equal(jwts_sig_sign(k, A2_INPUT, strlen(A2_INPUT), sig, &sig_len), JWTS_OK);
    assert_int_equal(jwts_b64url_encode(sig, sig_len, b64, sizeof b64, NULL), JWTS_OK);
    assert_string_equal(b64, A2_SIG);
    jwts_key_free(k);
}

static void test_rfc7515_a3_es256(void **s)
{
    (void)s;
    check_rfc7515_jwt(A3_JWK, A3_TOKEN, JWTS_ALG_ES256);
}

static void test_rfc7515_a4_es512(void **s)
{
    (void)s;
    jwts_keyset *ks = set_of(A4_JWK);
    char *payload;
    size_t n;
    assert_int_equal(jwts_jws_verify(ks, A4_TOKEN, strlen(A4_TOKEN), NULL, &payload, &n), JWTS_OK);
    assert_int_equal(n, 7);
    assert_string_equal(payload, "Payload");
    jwts_jose_free(payload);
    jwts_keyset_free(ks);
}

static void check_hobbit(const char *jwk, const char *token, const char *kid)
{
    jwts_keyset *ks = set_of(jwk);
    assert_string_equal(jwts_key_kid(jwts_keyset_get(ks, 0)), kid);
    char *payload;
    size_t n;
    jwts_err e = jwts_jws_verify(ks, token, strlen(token), NULL, &payload, &n);
    if (e) print_error("verify: %s: %s\n", jwts_errname(e), jwts_errdetail());
    assert_int_equal(e, JWTS_OK);
    assert_int_equal(n, strlen(HOBBIT));
    assert_memory_equal(payload, HOBBIT, n);
    jwts_jose_free(payload);
    /* flip one signature character: must fail */
    char *bad = strdup(token);
    size_t last = strlen(bad) - 3;
    bad[last] = bad[last] == 'A' ? 'B' : 'A';
    assert_int_equal(jwts_jws_verify(ks, bad, strlen(bad), NULL, &payload, &n), JWTS_E_BAD_SIGNATURE);
    free(bad);
    jwts_keyset_free(ks);
}

static void test_rfc7520_4_1_rs256(void **s)
{
    (void)s;
    check_hobbit(R41_JWK, R41_TOKEN, "bilbo.baggins@hobbiton.example");
}

static void test_rfc7520_4_3_es512(void **s)
{
    (void)s;
    check_hobbit(R43_JWK, R43_TOKEN, "bilbo.baggins@hobbiton.example");
}

static void test_rfc7520_4_4_hs256(void **s)
{
    (void)s;
    check_hobbit(R44_JWK, R44_TOKEN, "018c0ae5-4d9b-471b-bfd6-eef314bc7037");
}

static void test_rfc8037_ed25519(void **s)
{
    (void)s;
    jwts_key *k;
    assert_int_equal(jwts_key_from_jwk(ED_JWK, strlen(ED_JWK), JWTS_ALG_UNSET, &k), JWTS_OK);
    assert_int_equal(jwts_key_alg(k), JWTS_ALG_EDDSA);
    /* A.3: the thumbprint */
    char tp[JWTS_THUMBPRINT_LEN + 1];
    assert_int_equal(jwts_key_thumbprint(k, tp), JWTS_OK);
    assert_string_equal(tp, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /* A.4: Ed25519 is deterministic */
    uint8_t sig[64];
    size_t sig_len;
    char b64[100];
    assert_int_equal(jwts_sig_sign(k, ED_INPUT, strlen(ED_INPUT), sig, &sig_len), JWTS_OK);
    assert_int_equal(sig_len, 64);
    assert_int_equal(jwts_b64url_encode(sig, sig_len, b64, sizeof b64, NULL), JWTS_OK);
    assert_string_equal(b64, ED_SIG);
    /* A.5: verification */
    jwts_keyset *ks;
    assert_int_equal(jwts_keyset_new(&ks), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, k, 1), JWTS_OK);
    char token[256];
    snprintf(token, sizeof token, "%s.%s", ED_INPUT, ED_SIG);
    char *payload;
    assert_int_equal(jwts_jws_verify(ks, token, strlen(token), NULL, &payload, NULL), JWTS_OK);
    assert_string_equal(payload, "Example of Ed25519 signing");
    jwts_jose_free(payload);
    jwts_keyset_free(ks);
}

static void test_rfc7638_thumbprint(void **s)
{
    (void)s;
    jwts_key *k;
    assert_int_equal(jwts_key_from_jwk(TP_JWK, strlen(TP_JWK), JWTS_ALG_UNSET, &k), JWTS_OK);
    char tp[JWTS_THUMBPRINT_LEN + 1];
    assert_int_equal(jwts_key_thumbprint(k, tp), JWTS_OK);
    assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_string_equal(jwts_key_kid(k), "2011-04-29");
    jwts_key_free(k);
    /* without a kid, an asymmetric key takes its thumbprint as kid */
    static const char no_kid[] =
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    assert_int_equal(jwts_key_from_jwk(no_kid, strlen(no_kid), JWTS_ALG_UNSET, &k), JWTS_OK);
    assert_string_equal(jwts_key_kid(k), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    assert_int_equal(jwts_key_can_sign(k), 0);
    jwts_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc7515_a1_hs256),   cmocka_unit_test(test_rfc7515_a2_rs256),
        cmocka_unit_test(test_rfc7515_a3_es256),   cmocka_unit_test(test_rfc7515_a4_es512),
        cmocka_unit_test(test_rfc7520_4_1_rs256),  cmocka_unit_test(test_rfc7520_4_3_es512),
        cmocka_unit_test(test_rfc7520_4_4_hs256),  cmocka_unit_test(test_rfc8037_ed25519),
        cmocka_unit_test(test_rfc7638_thumbprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
