/*
 * fuzz_jwk.c - libFuzzer target for the key parsers: JWK, JWKS, the JWK/JWKS/PEM detector and
 * key files with lifecycle states (keyfile.c).
 *
 * Invariants: a JWK that loads exports (public, and private when it can sign) to a JWK that loads
 * again with the same algorithm, kid and thumbprint; a loaded JWKS exports to a JWKS that loads; a
 * key file that loads has states on all keys or none, one active among them, and one rotation
 * step of it gives a key file that loads with exactly one active and one next key.
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

#define NOW 1800000000

/* The number of keys of ks in state st; *managed gets how many have any state. */
static size_t in_state(const jwts_keyset *ks, jwts_key_state st, size_t *managed)
{
    size_t n = 0;
    *managed = 0;
    for (size_t i = 0; i < jwts_keyset_count(ks); i++) {
        jwts_key_state s = jwts_key_state_of(jwts_keyset_get(ks, i), NULL, NULL);
        n += s == st;
        *managed += s != JWTS_KEY_UNMANAGED;
    }
    return n;
}

static void check_keyfile(const char *s, size_t size)
{
    jwts_keyset *ks;
    if (jwts_keyfile_load(s, size, NOW, &ks) != JWTS_OK) return;
    size_t managed, active = in_state(ks, JWTS_KEY_ACTIVE, &managed);
    if (managed && (managed != jwts_keyset_count(ks) || active != 1)) die("key file states");
    jwts_keyset_free(ks);
    jwts_keyfile_rotate_options o = {.now_s = NOW, .alg = JWTS_ALG_HS256, .retire_after_s = 10};
    char *out;
    if (jwts_keyfile_rotate(s, size, &o, &out) != JWTS_OK) return;
    if (jwts_keyfile_load(out, strlen(out), NOW, &ks)) die("rotated key file re-load");
    size_t next = in_state(ks, JWTS_KEY_NEXT, &managed);
    if (in_state(ks, JWTS_KEY_ACTIVE, &managed) != 1 || next != 1 || managed != jwts_keyset_count(ks))
        die("rotated key file states");
    jwts_keyset_free(ks);
    jwts_jose_free(out);
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
    check_keyfile(s, size);
    return 0;
}
