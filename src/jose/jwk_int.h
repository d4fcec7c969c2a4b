/*
 * jwk_int.h - private entry point shared by jwk.c and keyset.c: a key from a parsed JWK object.
 */
#ifndef JWTS_JOSE_JWK_INT_H
#define JWTS_JOSE_JWK_INT_H

#include <jansson.h>

#include "jose/jose_int.h"

#define JWTS_JWK_MAX_TEXT (256 * 1024) /* longest JWK or JWKS text accepted */

/* A key from the JWK object obj (see jwts_key_from_jwk). JWTS_E_UNSUPPORTED for a key type, curve
 * or use this module does not handle (a JWKS skips those). */
jwts_err jwts_key_from_jwk_obj(const json_t *obj, jwts_alg alg, jwts_key **out);

/* Strictly validate text (jwts_json_scan rules) and parse it with jansson. */
jwts_err jwts_jwk_parse_text(const char *text, size_t len, json_t **out);

#endif
