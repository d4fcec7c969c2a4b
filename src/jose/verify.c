/*
 * verify.c - compact JWS/JWT verification: size and shape, the protected header rules, key
 * selection in a key set, the signature, then the claims.
 *
 * Header rules: "alg" required, never "none" (any spelling) nor unknown; "crit" refused (this
 * verifier understands no extension); "jwk", "jku", "x5u", "x5c" refused (a token never chooses
 * its own key); "b64" other than true refused. Key selection: a "kid" picks exactly that key, whose
 * algorithm must be the token's; without "kid" every key of the token's algorithm is tried. A
 * header byte-identical to the one a key of the set writes is recognised without parsing.
 * The HMAC path allocates nothing: header, signature and payload are decoded on the stack.
 */
#include <stdlib.h>
#include <string.h>

#include "jose/claims.h"
#include "jose/json_scan.h"
#include "jose/keyset.h"
#include "jwtsession/b64url.h"
#include "jwtsession/error.h"

#define PAYLOAD_STACK 6144 /* decoded payload bytes kept on the stack (8 KiB tokens fit) */

typedef struct header {
    jwts_alg alg;
    int has_kid;
    char kid[JWTS_KID_MAX + 2]; /* one more than any key's kid, to notice longer ones */
} header;

/* The recognised header member name of m, unescaped into name (8 bytes), or "" . */
static const char *member_name(const jwts_jmember *m, char name[8])
{
    if (jwts_json_unescape(m->key, m->key_len, m->key_esc, name, 8) == (size_t)-1) name[0] = '\0';
    return name;
}

static jwts_err on_header(void *arg, const jwts_jmember *m)
{
    header *h = arg;
    char name[8];
    member_name(m, name);
    if (strcmp(name, "alg") == 0) {
        char a[16];
        if (m->type != JWTS_JT_STRING) return jwts_fail(JWTS_E_MALFORMED, "header \"alg\" is not a string");
        if (jwts_json_unescape(m->val, m->val_len, m->val_esc, a, sizeof a) == (size_t)-1)
            return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "unknown alg");
        return jwts_alg_from_name(a, &h->alg);
    }
    if (strcmp(name, "kid") == 0) {
        if (m->type != JWTS_JT_STRING) return jwts_fail(JWTS_E_MALFORMED, "header \"kid\" is not a string");
        if (jwts_json_unescape(m->val, m->val_len, m->val_esc, h->kid, sizeof h->kid) == (size_t)-1)
            h->kid[0] = '\0'; /* longer than any kid: matches no key */
        h->has_kid = 1;
        return JWTS_OK;
    }
    if (strcmp(name, "crit") == 0)
        return jwts_fail(JWTS_E_UNSUPPORTED, "header \"crit\" names extensions this verifier does not understand");
    if (strcmp(name, "jwk") == 0 || strcmp(name, "jku") == 0 || strcmp(name, "x5u") == 0 || strcmp(name, "x5c") == 0)
        return jwts_fail(JWTS_E_UNSUPPORTED, "header \"%s\" (a key carried or pointed to by the token) is refused",
                         name);
    if (strcmp(name, "b64") == 0 && m->type != JWTS_JT_TRUE)
        return jwts_fail(JWTS_E_UNSUPPORTED, "unencoded payloads (RFC 7797 \"b64\") are not supported");
    if ((strcmp(name, "typ") == 0 || strcmp(name, "cty") == 0) && m->type != JWTS_JT_STRING)
        return jwts_fail(JWTS_E_MALFORMED, "header \"%s\" is not a string", name);
    return JWTS_OK;
}

static jwts_err parse_header(const jwts_keyset *ks, const char *b64, size_t n, header *h, const jwts_key **hint)
{
    *hint = NULL;
    h->alg = JWTS_ALG_UNSET;
    h->has_kid = 0;
    for (size_t i = 0; i < ks->n; i++) {
        const jwts_key *k = ks->keys[i];
        if (k->jwt_header_len == n && memcmp(k->jwt_header, b64, n) == 0) {
            h->alg = k->alg;
            h->has_kid = k->kid != NULL;
            if (k->kid) *hint = k;
            return JWTS_OK;
        }
    }
    uint8_t buf[JWTS_HEADER_MAX];
    size_t len;
    jwts_err e = jwts_b64url_decode(b64, n, buf, sizeof buf, &len);
    if (e == JWTS_E_LIMIT) return jwts_fail(JWTS_E_LIMIT, "header longer than %d bytes", JWTS_HEADER_MAX);
    if (e) return jwts_fail_wrap(e, "header");
    e = jwts_json_scan((const char *)buf, len, JWTS_JOSE_MAX_DEPTH, on_header, h);
    if (e) return jwts_fail_wrap(e, "header");
    if (h->alg == JWTS_ALG_UNSET) return jwts_fail(JWTS_E_MALFORMED, "header has no \"alg\"");
    return JWTS_OK;
}

static int alg_allowed(const jwts_verify_options *o, jwts_alg alg)
{
    for (size_t i = 0; i < o->n_algs; i++)
        if (o->algs[i] == alg) return 1;
    return 0;
}

/* Verify the token's shape, header and signature; on success *key, *alg and the payload span. */
static jwts_err verify_jws(const jwts_keyset *ks, const char *tok, size_t len, const jwts_verify_options *o,
                           const jwts_key **key_out, const char **p, size_t *p_len)
{
    size_t max = o->max_token_len ? o->max_token_len : JWTS_VERIFY_MAX_TOKEN_DEFAULT;
    if (len > max) return jwts_fail(JWTS_E_LIMIT, "token is %zu bytes (max %zu)", len, max);
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
        return jwts_fail(JWTS_E_MALFORMED, "token is not three dot-separated parts");
    size_t h_len = (size_t)(d1 - tok), s_len = len - (size_t)(d2 + 1 - tok);
    if (h_len == 0 || s_len == 0) return jwts_fail(JWTS_E_MALFORMED, "token has an empty header or signature");

    header h;
    const jwts_key *hint;
    jwts_err e = parse_header(ks, tok, h_len, &h, &hint);
    if (e) return e;
    if (o->n_algs && !alg_allowed(o, h.alg))
        return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "alg %s is not in the allowed list", jwts_alg_name(h.alg));

    uint8_t sig[JWTS_SIG_MAX];
    size_t sig_len;
    e = jwts_b64url_decode(d2 + 1, s_len, sig, sizeof sig, &sig_len);
    if (e == JWTS_E_LIMIT) return jwts_fail(JWTS_E_BAD_SIGNATURE, "signature longer than %d bytes", JWTS_SIG_MAX);
    if (e) return jwts_fail_wrap(e, "signature");
    size_t in_len = (size_t)(d2 - tok);

    if (h.has_kid) {
        const jwts_key *k = hint ? hint : jwts_keyset_find(ks, h.kid);
        if (!k) return jwts_fail(JWTS_E_KEY_NOT_FOUND, "no key in the set has the token's kid");
        if (k->alg != h.alg)
            return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "token alg %s does not match key alg %s", jwts_alg_name(h.alg),
                             k->info->name);
        if ((e = jwts_sig_verify(k, tok, in_len, sig, sig_len))) return e;
        *key_out = k;
    } else {
        size_t tried = 0;
        e = JWTS_E_KEY_NOT_FOUND;
        for (size_t i = 0; i < ks->n && e; i++) {
            const jwts_key *k = ks->keys[i];
            if (k->alg != h.alg) continue;
            tried++;
            if ((e = jwts_sig_verify(k, tok, in_len, sig, sig_len)) == JWTS_OK) *key_out = k;
        }
        if (!tried) {
            if (o->n_algs) return jwts_fail(JWTS_E_KEY_NOT_FOUND, "no key in the set is for %s", jwts_alg_name(h.alg));
            return jwts_fail(JWTS_E_ALG_NOT_ALLOWED, "no key in the set allows %s", jwts_alg_name(h.alg));
        }
        if (e) return tried > 1 ? jwts_fail(e, "no %s key of the set verifies the signature", jwts_alg_name(h.alg)) : e;
    }
    *p = d1 + 1;
    *p_len = (size_t)(d2 - d1 - 1);
    return JWTS_OK;
}

/* Decode the payload span into stack (PAYLOAD_STACK bytes) or, if larger, a heap buffer. */
static jwts_err decode_payload(const char *p, size_t n, uint8_t *stack, uint8_t **buf, size_t *len)
{
    size_t need = jwts_b64url_decoded_max(n);
    *buf = stack;
    if (need > PAYLOAD_STACK && !(*buf = malloc(need)))
        return jwts_fail(JWTS_E_NO_MEMORY, "out of memory decoding a payload");
    jwts_err e = jwts_b64url_decode(p, n, *buf, need ? need : 1, len);
    if (e) {
        if (*buf != stack) free(*buf);
        return jwts_fail_wrap(e, "payload");
    }
    return JWTS_OK;
}

static jwts_err copy_out(const uint8_t *p, size_t n, char **out)
{
    char *s = malloc(n + 1);
    if (!s) return jwts_fail(JWTS_E_NO_MEMORY, "out of memory copying a payload");
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    *out = s;
    return JWTS_OK;
}

jwts_err jwts_jwt_verify(const jwts_keyset *ks, const char *token, size_t len, const jwts_verify_options *opt,
                         jwts_claims *claims, char **payload_json)
{
    static const jwts_verify_options DEFAULTS;
    const jwts_verify_options *o = opt ? opt : &DEFAULTS;
    jwts_claims local;
    jwts_claims *c = claims ? claims : &local;
    const jwts_key *key;
    const char *p;
    size_t p_len, len_out;
    uint8_t stack[PAYLOAD_STACK], *buf;
    if (payload_json) *payload_json = NULL;
    if (!ks || !token) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "jwt_verify: NULL key set or token");
    jwts_err e = jwts_verify_options_check(o);
    if (e) return e;
    if ((e = verify_jws(ks, token, len, o, &key, &p, &p_len))) return e;
    if ((e = decode_payload(p, p_len, stack, &buf, &len_out))) return e;
    int64_t now = o->now_s ? o->now_s : jwts_clock_now_ms(o->clock) / 1000;
    e = jwts_claims_process((const char *)buf, len_out, o, now, c);
    if (!e) {
        c->alg = key->alg;
        c->key = key;
        if (payload_json) e = copy_out(buf, len_out, payload_json);
    }
    if (buf != stack) free(buf);
    return e;
}

jwts_err jwts_jws_verify(const jwts_keyset *ks, const char *token, size_t len, const jwts_verify_options *opt,
                         char **payload, size_t *payload_len)
{
    static const jwts_verify_options DEFAULTS;
    const jwts_verify_options *o = opt ? opt : &DEFAULTS;
    const jwts_key *key;
    const char *p;
    size_t p_len, len_out;
    uint8_t stack[PAYLOAD_STACK], *buf;
    if (!ks || !token || !payload) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "jws_verify: NULL argument");
    *payload = NULL;
    jwts_err e = jwts_verify_options_check(o);
    if (e) return e;
    if ((e = verify_jws(ks, token, len, o, &key, &p, &p_len))) return e;
    if ((e = decode_payload(p, p_len, stack, &buf, &len_out))) return e;
    e = copy_out(buf, len_out, payload);
    if (!e && payload_len) *payload_len = len_out;
    if (buf != stack) free(buf);
    return e;
}
