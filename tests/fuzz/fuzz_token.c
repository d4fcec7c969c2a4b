/*
 * fuzz_token.c - libFuzzer target for the token parser and the claims reader.
 *
 * The input is tried (1) as a compact token against a fixed key set (HS256, ES256 and EdDSA keys,
 * with and without kid), and (2) as a claims JSON object: if jwts_jwt_sign accepts it, the token
 * it makes must verify, and the claims read back must agree with what the strict reader saw.
 * Any crash, sanitizer report or broken invariant aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose/json_scan.h"
#include "jwtsession/jose.h"

#define NOW 1700000000

static jwts_keyset *keys;
static const jwts_key *hs;

static void die(const char *what, jwts_err e)
{
    fprintf(stderr, "fuzz_token: %s: %s: %s\n", what, jwts_errname(e), jwts_errdetail());
    abort();
}

static void init(void)
{
    static const char HS[] =
        "{\"kty\":\"oct\",\"kid\":\"h1\",\"alg\":\"HS256\",\"k\":\"hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg\"}";
    static const char ES[] =
        "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
    static const char ED[] =
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    jwts_key *k;
    jwts_err e;
    if ((e = jwts_keyset_new(&keys))) die("keyset", e);
    if ((e = jwts_key_from_jwk(HS, strlen(HS), JWTS_ALG_UNSET, &k)) || (e = jwts_keyset_add(keys, k, 1))) die("hs", e);
    hs = k;
    if ((e = jwts_key_from_jwk(ES, strlen(ES), JWTS_ALG_UNSET, &k)) || (e = jwts_keyset_add(keys, k, 0))) die("es", e);
    if ((e = jwts_key_from_jwk(ED, strlen(ED), JWTS_ALG_UNSET, &k)) || (e = jwts_keyset_add(keys, k, 0))) die("ed", e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!keys) init();
    const char *s = (const char *)data;

    /* 1: as a token */
    jwts_verify_options o = {.now_s = NOW};
    jwts_claims c;
    char *json = NULL;
    jwts_err e = jwts_jwt_verify(keys, s, size, &o, &c, &json);
    if (e == JWTS_OK && !json) die("verify OK without payload", e);
    free(json);
    char *payload = NULL;
    size_t plen;
    if (jwts_jws_verify(keys, s, size, &o, &payload, &plen) == JWTS_OK && strlen(payload) > plen)
        die("payload length", JWTS_E_INTERNAL);
    free(payload);

    /* 2: as claims; what signs must verify */
    if (size > 4096) return 0;
    char *tok = NULL;
    if (jwts_jwt_sign(hs, s, size, &tok) != JWTS_OK) return 0;
    jwts_verify_options any = {.now_s = NOW, .max_token_len = 16384};
    e = jwts_jwt_verify(keys, tok, strlen(tok), &any, &c, &json);
    bool aud_refused = e == JWTS_E_CLAIM_MISMATCH && (c.has & JWTS_CLAIM_AUD); /* no audience is expected */
    if (e != JWTS_OK && e != JWTS_E_EXPIRED && e != JWTS_E_NOT_YET_VALID && !aud_refused)
        die("signed claims do not verify", e);
    if (e == JWTS_OK) {
        if (strlen(json) != size || memcmp(json, s, size) != 0) die("payload changed", JWTS_E_INTERNAL);
        if (c.key != hs) die("wrong key", JWTS_E_INTERNAL);
        free(json);
    }
    jwts_jose_free(tok);
    return 0;
}
