/*
 * sign.c - compact JWS/JWT signing: generic payloads, checked JWT claims, and the allocation-free
 * access-token signer the session manager calls on its hot path.
 */
#include <openssl/crypto.h>
#include <string.h>

#include "jose/claims.h"
#include "jose/jose_int.h"
#include "jwtsession/buf.h"
#include "jwtsession/error.h"

/* Append ".<b64 signature of b's content so far>" (the signing input is the whole buffer). */
static void add_signature(jwts_buf *b, const jwts_key *key, jwts_err *err)
{
    uint8_t sig[JWTS_SIG_MAX];
    size_t sig_len;
    if (b->err) return;
    jwts_err e = jwts_sig_sign(key, b->data, b->len, sig, &sig_len);
    if (e) {
        *err = e;
        return;
    }
    jwts_buf_put(b, ".", 1);
    jwts_buf_b64url(b, sig, sig_len);
}

/* The base64url protected header for key and typ into b. */
static void add_header(jwts_buf *b, const jwts_key *key, const char *typ)
{
    if (typ && strcmp(typ, "JWT") == 0) {
        jwts_buf_put(b, key->jwt_header, key->jwt_header_len);
        return;
    }
    jwts_buf h = JWTS_BUF_SECRET;
    jwts_buf_puts(&h, "{\"alg\":\"");
    jwts_buf_puts(&h, key->info->name);
    jwts_buf_puts(&h, "\"");
    if (typ) {
        jwts_buf_puts(&h, ",\"typ\":");
        jwts_buf_json_str(&h, typ, strlen(typ), JWTS_BUF_JSON_STRICT | JWTS_BUF_JSON_QUOTE);
    }
    if (key->kid) {
        jwts_buf_puts(&h, ",\"kid\":");
        jwts_buf_json_str(&h, key->kid, strlen(key->kid), JWTS_BUF_JSON_STRICT | JWTS_BUF_JSON_QUOTE);
    }
    jwts_buf_puts(&h, "}");
    if (h.err)
        b->err = h.err;
    else
        jwts_buf_b64url(b, h.data, h.len);
    jwts_buf_free(&h);
}

jwts_err jwts_jws_sign(const jwts_key *key, const char *typ, const void *payload, size_t len, char **out)
{
    if (!key || (!payload && len) || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "jws_sign: NULL argument");
    if (!key->can_sign) return jwts_fail(JWTS_E_BAD_KEY, "key has no private part to sign with");
    jwts_buf b = JWTS_BUF_SECRET;
    jwts_err e = JWTS_OK;
    add_header(&b, key, typ);
    jwts_buf_put(&b, ".", 1);
    jwts_buf_b64url(&b, payload, len);
    add_signature(&b, key, &e);
    if (e) {
        jwts_buf_free(&b);
        return e;
    }
    return jwts_buf_finish(&b, out);
}

jwts_err jwts_jwt_sign(const jwts_key *key, const char *claims_json, size_t len, char **out)
{
    jwts_claims c;
    if (!claims_json) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "jwt_sign: NULL claims");
    if (len > JWTS_VERIFY_MAX_TOKEN_DEFAULT)
        return jwts_fail(JWTS_E_LIMIT, "claims of %zu bytes exceed %d", len, JWTS_VERIFY_MAX_TOKEN_DEFAULT);
    jwts_err e = jwts_claims_process(claims_json, len, NULL, 0, &c);
    if (e) return e;
    return jwts_jws_sign(key, "JWT", claims_json, len, out);
}

static void add_str_claim(jwts_buf *b, const char *name, const char *v, int *first)
{
    if (!v) return;
    jwts_buf_puts(b, *first ? "{\"" : ",\"");
    jwts_buf_puts(b, name);
    jwts_buf_puts(b, "\":");
    jwts_buf_json_str(b, v, strlen(v), JWTS_BUF_JSON_STRICT | JWTS_BUF_JSON_QUOTE);
    *first = 0;
}

static void add_int_claim(jwts_buf *b, const char *name, int64_t v, int *first)
{
    if (!v) return;
    jwts_buf_puts(b, *first ? "{\"" : ",\"");
    jwts_buf_puts(b, name);
    jwts_buf_puts(b, "\":");
    jwts_buf_i64(b, v);
    *first = 0;
}

jwts_err jwts_jwt_sign_std(const jwts_key *key, const jwts_std_claims *c, char *out, size_t cap, size_t *out_len)
{
    if (!key || !c || !out || !cap) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "jwt_sign_std: NULL argument");
    if (!key->can_sign) return jwts_fail(JWTS_E_BAD_KEY, "key has no private part to sign with");
    if (c->iat < 0 || c->nbf < 0 || c->exp < 0) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "negative claim time");
    char json[4096];
    jwts_buf j = JWTS_BUF_FIXED(json, sizeof json);
    int first = 1;
    add_str_claim(&j, "iss", c->iss, &first);
    add_str_claim(&j, "sub", c->sub, &first);
    add_str_claim(&j, "aud", c->aud, &first);
    add_str_claim(&j, "sid", c->sid, &first);
    add_str_claim(&j, "jti", c->jti, &first);
    add_int_claim(&j, "iat", c->iat, &first);
    add_int_claim(&j, "nbf", c->nbf, &first);
    add_int_claim(&j, "exp", c->exp, &first);
    jwts_buf_puts(&j, first ? "{}" : "}");
    if (j.err == JWTS_E_MALFORMED) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "a claim string is not valid UTF-8");
    if (j.err) return jwts_fail(JWTS_E_LIMIT, "claims longer than %zu bytes", sizeof json);
    jwts_buf b = JWTS_BUF_FIXED(out, cap);
    jwts_err e = JWTS_OK;
    jwts_buf_put(&b, key->jwt_header, key->jwt_header_len);
    jwts_buf_put(&b, ".", 1);
    jwts_buf_b64url(&b, json, j.len);
    add_signature(&b, key, &e);
    if (e) return e;
    if (b.err) return jwts_fail(JWTS_E_LIMIT, "token does not fit in %zu bytes", cap);
    if (out_len) *out_len = b.len;
    return JWTS_OK;
}
