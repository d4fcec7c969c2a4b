/*
 * keyset.c - key sets (rotation: one active signing key, every key verifying), lookup by kid,
 * JWKS import/export (RFC 7517 section 5), and loading a set from JWKS, JWK or PEM text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jwk_int.h"
#include "jose/keyset.h"
#include "jwtsession/buf.h"
#include "jwtsession/error.h"

#define KEYSET_MAX 1024
#define NO_ACTIVE SIZE_MAX

jwts_err jwts_keyset_new(jwts_keyset **out)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyset_new: NULL out");
    jwts_keyset *ks = calloc(1, sizeof *ks);
    if (!ks) return jwts_fail(JWTS_E_NO_MEMORY, "out of memory creating a key set");
    ks->active = NO_ACTIVE;
    *out = ks;
    return JWTS_OK;
}

void jwts_keyset_free(jwts_keyset *ks)
{
    if (!ks) return;
    for (size_t i = 0; i < ks->n; i++) jwts_key_free(ks->keys[i]);
    free(ks->keys);
    free(ks);
}

static int same_kid(const jwts_key *a, const jwts_key *b)
{
    return a->kid && b->kid && strcmp(a->kid, b->kid) == 0;
}

/* Add key to ks; on failure the caller keeps key. */
static jwts_err add_key(jwts_keyset *ks, jwts_key *key, int make_active)
{
    if (!ks || !key) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyset_add: NULL argument");
    for (size_t i = 0; i < ks->n; i++)
        if (same_kid(ks->keys[i], key)) return jwts_fail(JWTS_E_CONFLICT, "key set already has kid \"%s\"", key->kid);
    int activate = make_active || (ks->active == NO_ACTIVE && key->can_sign);
    if (make_active && !key->can_sign) return jwts_fail(JWTS_E_BAD_KEY, "a public key cannot be the signing key");
    if (ks->n >= KEYSET_MAX) return jwts_fail(JWTS_E_LIMIT, "key set holds at most %d keys", KEYSET_MAX);
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : 4;
        jwts_key **k = realloc(ks->keys, cap * sizeof *k);
        if (!k) return jwts_fail(JWTS_E_NO_MEMORY, "out of memory growing a key set");
        ks->keys = k;
        ks->cap = cap;
    }
    ks->keys[ks->n] = key;
    if (activate) ks->active = ks->n;
    ks->n++;
    return JWTS_OK;
}

jwts_err jwts_keyset_add(jwts_keyset *ks, jwts_key *key, int make_active)
{
    jwts_err rc = add_key(ks, key, make_active);
    if (rc) jwts_key_free(key); /* ks takes key in every case */
    return rc;
}

jwts_err jwts_keyset_set_active(jwts_keyset *ks, const char *kid)
{
    if (!ks || !kid) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyset_set_active: NULL argument");
    for (size_t i = 0; i < ks->n; i++) {
        if (ks->keys[i]->kid && strcmp(ks->keys[i]->kid, kid) == 0) {
            if (!ks->keys[i]->can_sign) return jwts_fail(JWTS_E_BAD_KEY, "key \"%s\" cannot sign", kid);
            ks->active = i;
            return JWTS_OK;
        }
    }
    return jwts_fail(JWTS_E_KEY_NOT_FOUND, "no key with kid \"%s\"", kid);
}

const jwts_key *jwts_keyset_active(const jwts_keyset *ks)
{
    return ks && ks->active < ks->n ? ks->keys[ks->active] : NULL;
}

const jwts_key *jwts_keyset_find(const jwts_keyset *ks, const char *kid)
{
    if (!ks || !kid) return NULL;
    for (size_t i = 0; i < ks->n; i++)
        if (ks->keys[i]->kid && strcmp(ks->keys[i]->kid, kid) == 0) return ks->keys[i];
    return NULL;
}

size_t jwts_keyset_count(const jwts_keyset *ks)
{
    return ks ? ks->n : 0;
}

const jwts_key *jwts_keyset_get(const jwts_keyset *ks, size_t i)
{
    return ks && i < ks->n ? ks->keys[i] : NULL;
}

jwts_err jwts_keyset_merge(jwts_keyset *dst, jwts_keyset *src)
{
    if (!dst || !src) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyset_merge: NULL argument");
    for (size_t i = 0; i < src->n; i++)
        for (size_t j = 0; j < dst->n; j++)
            if (same_kid(src->keys[i], dst->keys[j]))
                return jwts_fail(JWTS_E_CONFLICT, "both key sets have kid \"%s\"", src->keys[i]->kid);
    size_t moved = 0;
    for (; moved < src->n; moved++) {
        jwts_err e = add_key(dst, src->keys[moved], 0);
        if (e) { /* only NO_MEMORY/LIMIT can happen here: undo */
            dst->n -= moved;
            if (dst->active != NO_ACTIVE && dst->active >= dst->n) dst->active = NO_ACTIVE;
            return e;
        }
    }
    src->n = 0;
    src->active = NO_ACTIVE;
    return JWTS_OK;
}

jwts_err jwts_keyset_from_jwks(const char *json, size_t len, jwts_keyset **out)
{
    json_t *doc;
    jwts_keyset *ks = NULL;
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyset_from_jwks: NULL out");
    jwts_err e = jwts_jwk_parse_text(json, len, &doc);
    if (e) return jwts_fail_wrap(e, "JWKS");
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_array(keys)) {
        e = jwts_fail(JWTS_E_MALFORMED, "JWKS has no \"keys\" array");
        goto done;
    }
    if ((e = jwts_keyset_new(&ks))) goto done;
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        jwts_key *k;
        e = jwts_key_from_jwk_obj(jwk, JWTS_ALG_UNSET, &k);
        if (e == JWTS_E_UNSUPPORTED) continue; /* RFC 7517 section 5: ignore keys we do not understand */
        if (e) {
            jwts_fail_wrap(e, "JWKS key %zu", i);
            goto done;
        }
        if ((e = jwts_keyset_add(ks, k, 0))) {
            jwts_fail_wrap(e, "JWKS key %zu", i);
            goto done;
        }
    }
    if (ks->n == 0) e = jwts_fail(JWTS_E_NOT_FOUND, "JWKS holds no usable key");
done:
    json_decref(doc);
    if (e)
        jwts_keyset_free(ks);
    else
        *out = ks;
    return e;
}

jwts_err jwts_keyset_parse(const char *text, size_t len, jwts_alg alg, jwts_keyset **out)
{
    if (!text || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyset_parse: NULL argument");
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) i++;
    jwts_key *k = NULL;
    jwts_err e;
    if (i < len && text[i] == '{') {
        json_t *doc;
        if ((e = jwts_jwk_parse_text(text, len, &doc))) return e;
        int is_set = json_object_get(doc, "keys") != NULL;
        if (!is_set) e = jwts_key_from_jwk_obj(doc, alg, &k);
        json_decref(doc);
        if (is_set) {
            if (alg != JWTS_ALG_UNSET)
                return jwts_fail(JWTS_E_INVALID_ARGUMENT, "an alg cannot be imposed on a whole JWKS");
            return jwts_keyset_from_jwks(text, len, out);
        }
    } else {
        e = jwts_key_from_pem(text, len, alg, NULL, &k);
    }
    if (e) return e;
    jwts_keyset *ks = NULL;
    if ((e = jwts_keyset_new(&ks))) {
        jwts_key_free(k);
        return e;
    }
    if ((e = jwts_keyset_add(ks, k, 0))) {
        jwts_keyset_free(ks);
        return e;
    }
    *out = ks;
    return JWTS_OK;
}

jwts_err jwts_keyset_to_jwks(const jwts_keyset *ks, char **out)
{
    if (!ks || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "keyset_to_jwks: NULL argument");
    jwts_buf b = JWTS_BUF_SECRET;
    jwts_buf_puts(&b, "{\"keys\":[");
    int first = 1;
    for (size_t i = 0; i < ks->n; i++) {
        const jwts_key *k = ks->keys[i];
        if (k->info->kty == JWTS_KTY_OCT) continue;
        char *jwk;
        jwts_err e = jwts_key_to_jwk(k, 0, &jwk);
        if (e) {
            jwts_buf_free(&b);
            return e;
        }
        if (!first) jwts_buf_puts(&b, ",");
        jwts_buf_puts(&b, jwk);
        jwts_jose_free(jwk);
        first = 0;
    }
    jwts_buf_puts(&b, "]}");
    return jwts_buf_finish(&b, out);
}
