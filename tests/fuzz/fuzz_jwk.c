/*
 * fuzz_jwk.c - libFuzzer target for the key parsers: JWK, JWKS and the JWK/JWKS/PEM detector.
 *
 * Invariants: a JWK that loads exports (public, and private when it can sign) to a JWK that loads
 * again with the same algorithm, kid and thumbprint; a loaded JWKS exports to a JWKS that loads.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jose.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_jwk: %s: %s: %s\n", what, jwts_errname(JWTS_E_INTERNAL), jwts_errdetail());
    abort();
}

static void check_key(const jwts_key *k)
{
    char tp[JWTS_THUMBPRINT_LEN + 1], tp2[JWTS_THUMBPRINT_LEN + 1];
    if (jwts_key_thumbprint(k, tp)) die("thumbprint");
    int hmac = jwts_key_alg(k) <= JWTS_ALG_HS512;
    for (int priv = hmac; priv <= jwts_key_can_sign(k); priv++) {
        char *jwk;
        jwts_key *again;
        if (jwts_key_to_jwk(k, priv, &jwk)) die("export");
        if (jwts_key_from_jwk(jwk, strlen(jwk), JWTS_ALG_UNSET, &again)) die("re-import");
        if (jwts_key_alg(again) != jwts_key_alg(k)) die("alg changed");
        if ((jwts_key_kid(k) == NULL) != (jwts_key_kid(again) == NULL) ||
            (jwts_key_kid(k) && strcmp(jwts_key_kid(k), jwts_key_kid(again)) != 0))
            die("kid changed");
        if (jwts_key_thumbprint(again, tp2) || strcmp(tp, tp2) != 0) die("thumbprint changed");
        jwts_key_free(again);
        jwts_jose_free(jwk);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    jwts_key *k;
    if (jwts_key_from_jwk(s, size, JWTS_ALG_UNSET, &k) == JWTS_OK) {
        check_key(k);
        jwts_key_free(k);
    }
    jwts_keyset *ks;
    if (jwts_keyset_parse(s, size, JWTS_ALG_UNSET, &ks) == JWTS_OK) {
        for (size_t i = 0; i < jwts_keyset_count(ks); i++) check_key(jwts_keyset_get(ks, i));
        char *jwks;
        if (jwts_keyset_to_jwks(ks, &jwks)) die("jwks export");
        jwts_keyset *again;
        jwts_err e = jwts_keyset_from_jwks(jwks, strlen(jwks), &again);
        if (e == JWTS_OK)
            jwts_keyset_free(again);
        else if (e != JWTS_E_NOT_FOUND)
            die("jwks re-import"); /* NOT_FOUND: only HMAC keys */
        jwts_jose_free(jwks);
        jwts_keyset_free(ks);
    }
    return 0;
}
