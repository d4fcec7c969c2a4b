/*
 * test_jose_eddsa.c - Ed25519 (EdDSA) verification: the RFC 8032 section 7.1 vectors and the
 * attacks a verifier must refuse - non-canonical S (S >= L, malleability), small-order and
 * non-canonical public keys (which make any signature "verify" under a cofactorless check: the
 * universal forgery R = identity, S = 0), mixed-order public keys, and small-order or
 * non-canonical R in a signature made with a real key.
 *
 * libsodium is used here only to build the attack inputs (scalar arithmetic mod L, point addition).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "jose/jose_int.h"
#include "jwtsession/b64url.h"
#include "jwtsession/jose.h"

static void hex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void b64(const uint8_t *in, size_t n, char *out, size_t cap)
{
    assert_int_equal(jwts_b64url_encode(in, n, out, cap, NULL), JWTS_OK);
}

/* A public-only Ed25519 JWK for the 32 raw bytes pk; the parse result. */
static jwts_err key_of(const uint8_t pk[32], const uint8_t *seed, jwts_key **out)
{
    char x[64], d[64], jwk[256];
    b64(pk, 32, x, sizeof x);
    if (seed) {
        b64(seed, 32, d, sizeof d);
        snprintf(jwk, sizeof jwk, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"d\":\"%s\",\"kid\":\"k\"}", x, d);
    } else {
        snprintf(jwk, sizeof jwk, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"k\"}", x);
    }
    return jwts_key_from_jwk(jwk, strlen(jwk), JWTS_ALG_UNSET, out);
}

/* RFC 8032 section 7.1, TEST 1-3 and TEST SHA(abc). */
static const struct {
    const char *seed, *pk, *msg, *sig;
} VECTORS[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe"
     "24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302a"
     "eeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed2"
     "8dc027beceea1ec40a"},
};

static void test_rfc8032_vectors(void **s)
{
    (void)s;
    for (size_t v = 0; v < sizeof VECTORS / sizeof VECTORS[0]; v++) {
        uint8_t seed[32], pk[32], msg[8], sig[64], out[JWTS_SIG_MAX];
        size_t mlen = strlen(VECTORS[v].msg) / 2, olen;
        hex(VECTORS[v].seed, seed, 32);
        hex(VECTORS[v].pk, pk, 32);
        hex(VECTORS[v].msg, msg, mlen);
        hex(VECTORS[v].sig, sig, 64);
        /* the public key verifies; a flipped bit in the message, R or S does not */
        jwts_key *k;
        assert_int_equal(key_of(pk, NULL, &k), JWTS_OK);
        assert_int_equal(jwts_sig_verify(k, msg, mlen, sig, 64), JWTS_OK);
        for (size_t bit = 0; bit < 64 * 8; bit += 61) {
            sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(jwts_sig_verify(k, msg, mlen, sig, 64), JWTS_E_BAD_SIGNATURE);
            sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        if (mlen) {
            msg[0] ^= 1;
            assert_int_equal(jwts_sig_verify(k, msg, mlen, sig, 64), JWTS_E_BAD_SIGNATURE);
            msg[0] ^= 1;
        }
        assert_int_equal(jwts_sig_verify(k, msg, mlen, sig, 63), JWTS_E_BAD_SIGNATURE);
        jwts_key_free(k);
        /* the private key signs to exactly the vector's signature (Ed25519 is deterministic) */
        assert_int_equal(key_of(pk, seed, &k), JWTS_OK);
        assert_int_equal(jwts_sig_sign(k, msg, mlen, out, &olen), JWTS_OK);
        assert_int_equal(olen, 64);
        assert_memory_equal(out, sig, 64);
        assert_int_equal(jwts_sig_verify(k, msg, mlen, out, olen), JWTS_OK);
        jwts_key_free(k);
    }
}

/* A compact JWS "eyJhbGciOiJFZERTQSJ9.<payload>" and the signature over it, as a token. */
static const char SIGNING_INPUT[] = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9";

static jwts_err verify_token(const jwts_key *k, const uint8_t sig[64])
{
    char token[256], s64[100];
    b64(sig, 64, s64, sizeof s64);
    snprintf(token, sizeof token, "%s.%s", SIGNING_INPUT, s64);
    jwts_keyset *ks;
    jwts_key *copy;
    char *jwk;
    assert_int_equal(jwts_key_to_jwk(k, 0, &jwk), JWTS_OK);
    assert_int_equal(jwts_key_from_jwk(jwk, strlen(jwk), JWTS_ALG_UNSET, &copy), JWTS_OK);
    jwts_jose_free(jwk);
    assert_int_equal(jwts_keyset_new(&ks), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, copy, 0), JWTS_OK);
    char *payload = NULL;
    jwts_err e = jwts_jws_verify(ks, token, strlen(token), NULL, &payload, NULL);
    jwts_jose_free(payload);
    jwts_keyset_free(ks);
    return e;
}

/* L, the order of the prime subgroup, little-endian. */
static const uint8_t ORDER_L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                    0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};

static void test_noncanonical_s_refused(void **s)
{
    (void)s;
    jwts_key *k;
    uint8_t sig[64];
    size_t n;
    assert_int_equal(jwts_key_generate(JWTS_ALG_EDDSA, "k", &k), JWTS_OK);
    assert_int_equal(jwts_sig_sign(k, SIGNING_INPUT, strlen(SIGNING_INPUT), sig, &n), JWTS_OK);
    assert_int_equal(verify_token(k, sig), JWTS_OK);
    /* S + L: the same point equation, a second encoding of S (signature malleability) */
    uint8_t mal[64];
    memcpy(mal, sig, 64);
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        carry += (unsigned)mal[32 + i] + ORDER_L[i];
        mal[32 + i] = (uint8_t)carry;
        carry >>= 8;
    }
    assert_int_equal(carry, 0);
    assert_int_equal(verify_token(k, mal), JWTS_E_BAD_SIGNATURE);
    assert_int_equal(jwts_sig_verify(k, SIGNING_INPUT, strlen(SIGNING_INPUT), mal, 64), JWTS_E_BAD_SIGNATURE);
    /* the three high bits of S set */
    memcpy(mal, sig, 64);
    mal[63] |= 0xe0;
    assert_int_equal(verify_token(k, mal), JWTS_E_BAD_SIGNATURE);
    /* S = L exactly */
    memcpy(mal, sig, 32);
    memcpy(mal + 32, ORDER_L, 32);
    assert_int_equal(verify_token(k, mal), JWTS_E_BAD_SIGNATURE);
    jwts_key_free(k);
}

/* Encodings of the points of order 1, 2, 4 and 8, canonical and not (sign bit, y >= p). */
static const char *const SMALL_ORDER[] = {
    "0100000000000000000000000000000000000000000000000000000000000000", /* identity (order 1) */
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* y = -1 (order 2) */
    "0000000000000000000000000000000000000000000000000000000000000000", /* y = 0 (order 4) */
    "0000000000000000000000000000000000000000000000000000000000000080", /* y = 0, x negative */
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", /* order 8 */
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", /* order 8 */
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", /* order 8 */
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", /* order 8 */
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* y = p + 1: identity again */
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* y = p: y = 0 again */
    "0100000000000000000000000000000000000000000000000000000000000080", /* identity with x "negative" */
};

static void test_small_order_public_key_refused(void **s)
{
    (void)s;
    for (size_t i = 0; i < sizeof SMALL_ORDER / sizeof SMALL_ORDER[0]; i++) {
        uint8_t pk[32];
        hex(SMALL_ORDER[i], pk, 32);
        /* Under such a key R = identity, S = 0 verifies for every message in a cofactorless check:
         * an attacker who gets it into a key set signs anything. The key must not load. */
        jwts_key *k = NULL;
        jwts_err e = key_of(pk, NULL, &k);
        if (e == JWTS_OK) print_error("small-order key %s loaded\n", SMALL_ORDER[i]);
        jwts_key_free(k);
        assert_int_equal(e, JWTS_E_BAD_KEY);
        /* nor through a JWKS */
        char x[64], jwks[256];
        jwts_keyset *ks = NULL;
        b64(pk, 32, x, sizeof x);
        snprintf(jwks, sizeof jwks, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":\"a\"}]}", x);
        assert_int_not_equal(jwts_keyset_from_jwks(jwks, strlen(jwks), &ks), JWTS_OK);
        jwts_keyset_free(ks);
    }
}

static void test_mixed_order_public_key_refused(void **s)
{
    (void)s;
    /* A + T, T of order 8: a point outside the prime-order subgroup, which no honest key is */
    uint8_t pk[32], t[32], mixed[32], sk[64];
    assert_true(sodium_init() >= 0);
    crypto_sign_keypair(pk, sk);
    hex(SMALL_ORDER[4], t, 32);
    assert_int_equal(crypto_core_ed25519_add(mixed, pk, t), 0);
    jwts_key *k = NULL;
    assert_int_equal(key_of(pk, NULL, &k), JWTS_OK);
    jwts_key_free(k);
    k = NULL;
    assert_int_equal(key_of(mixed, NULL, &k), JWTS_E_BAD_KEY);
    jwts_key_free(k);
    sodium_memzero(sk, sizeof sk);
}

/* S = H(R || A || M) * a mod L for the key seed: with R of small order, S*B - h*A = 0 (identity). */
static void small_r_signature(const uint8_t seed[32], const uint8_t pk[32], const uint8_t r[32], uint8_t sig[64])
{
    uint8_t az[64], wide[64] = {0}, a[32], h[64], hr[32];
    crypto_hash_sha512(az, seed, 32);
    az[0] &= 248, az[31] &= 127, az[31] |= 64;
    memcpy(wide, az, 32);
    crypto_core_ed25519_scalar_reduce(a, wide);
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, r, 32);
    crypto_hash_sha512_update(&st, pk, 32);
    crypto_hash_sha512_update(&st, (const uint8_t *)SIGNING_INPUT, strlen(SIGNING_INPUT));
    crypto_hash_sha512_final(&st, h);
    crypto_core_ed25519_scalar_reduce(hr, h);
    memcpy(sig, r, 32);
    crypto_core_ed25519_scalar_mul(sig + 32, hr, a);
    sodium_memzero(az, sizeof az), sodium_memzero(a, sizeof a), sodium_memzero(wide, sizeof wide);
}

static void test_small_order_r_refused(void **s)
{
    (void)s;
    uint8_t pk[32], sk[64], sig[64], r[32];
    assert_true(sodium_init() >= 0);
    crypto_sign_keypair(pk, sk);
    jwts_key *k;
    assert_int_equal(key_of(pk, sk, &k), JWTS_OK);
    /* control: the same construction with R = r*B for a real nonce is an honest signature */
    assert_int_equal(jwts_sig_sign(k, SIGNING_INPUT, strlen(SIGNING_INPUT), sig, &(size_t){0}), JWTS_OK);
    assert_int_equal(verify_token(k, sig), JWTS_OK);
    for (size_t i = 0; i < sizeof SMALL_ORDER / sizeof SMALL_ORDER[0]; i++) {
        hex(SMALL_ORDER[i], r, 32);
        small_r_signature(sk, pk, r, sig);
        jwts_err e = verify_token(k, sig);
        if (e != JWTS_E_BAD_SIGNATURE) print_error("small-order R %s: %s\n", SMALL_ORDER[i], jwts_errname(e));
        assert_int_equal(e, JWTS_E_BAD_SIGNATURE);
    }
    jwts_key_free(k);
    sodium_memzero(sk, sizeof sk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_vectors),
        cmocka_unit_test(test_noncanonical_s_refused),
        cmocka_unit_test(test_small_order_public_key_refused),
        cmocka_unit_test(test_mixed_order_public_key_refused),
        cmocka_unit_test(test_small_order_r_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
