/*
 * auth.c - who is calling: the admin (a bearer API key from config) or a user (a valid access
 * token). The admin key is compared as a SHA-256 digest with CRYPTO_memcmp, so the comparison
 * takes the same time whatever the guess and whatever its length.
 *
 * Failures answer 401 with an RFC 6750 challenge (no token, bad token), or 403 when the caller is
 * known but not allowed (a user token on an admin call, or the admin API switched off).
 *
 * With --cookies a browser's access token comes from the access cookie when there is no
 * Authorization header; such a call that changes state must pass the CSRF check (cookies.c).
 *
 * It also writes who the caller is for the application behind a proxy: X-Session-User carries the
 * user id as printable ASCII (jwtsd_user_header; docs/daemon.md, "identity headers").
 */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "daemon.h"

const char *jwtsd_bearer(const jwtsd_request *r, size_t *len)
{
    const char *h = jwtsd_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t')) return NULL;
    h += 6;
    while (*h == ' ' || *h == '\t') h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t')) n--;
    if (!n) return NULL;
    *len = n;
    return h;
}

jwtsd_cred jwtsd_access_token(const jwtsd_request *r, const char **token, size_t *len)
{
    *token = jwtsd_bearer(r, len);
    if (*token) return JWTSD_CRED_BEARER;
    if (!r->srv->cfg->cookies) return JWTSD_CRED_NONE;
    char name[80];
    jwtsd_cookie_name(r->srv->cfg, JWTSD_COOKIE_ACCESS, name, sizeof(name));
    int found = jwtsd_cookie_find(r, name, token, len);
    if (found > 1) {
        *token = NULL;
        return JWTSD_CRED_AMBIGUOUS;
    }
    if (found == 1 && *len) return JWTSD_CRED_COOKIE;
    *token = NULL;
    return JWTSD_CRED_NONE;
}

/* Errors of the infrastructure (not of the credential): they keep their own status. */
static bool infra_error(jwts_err rc)
{
    return rc == JWTS_E_UNAVAILABLE || rc == JWTS_E_TIMEOUT || rc == JWTS_E_CLOSED || rc == JWTS_E_PROTOCOL ||
           rc == JWTS_E_INTERNAL || rc == JWTS_E_NO_MEMORY;
}

jwts_err jwtsd_validate_token(jwtsd_request *r, const char *token, size_t len, jwts_validation *out)
{
    return jwts_manager_validate(r->tenant->manager, &r->ctx, token, len, out, NULL);
}

/* Answer a failed token check: 401 with the token's error, or the infrastructure's status. */
static void reply_token_error(jwtsd_request *r, jwts_err rc)
{
    const char *detail = jwts_errdetail();
    if (!detail[0]) detail = jwts_strerror(rc);
    if (infra_error(rc))
        jwtsd_reply_error(r, 0, rc, detail);
    else
        jwtsd_reply_unauthorized(r, rc, detail);
}

/* The admin key of t (the request's tenant): another tenant's key is just a wrong key here. */
static bool is_admin_key(const jwtsd_tenant *t, const char *token, size_t len)
{
    if (!t->admin_enabled) return false;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, digest);
    return CRYPTO_memcmp(digest, t->admin_digest, sizeof(digest)) == 0;
}

bool jwtsd_authenticate(jwtsd_request *r, bool admin_only, jwtsd_caller *out)
{
    *out = (jwtsd_caller){.kind = JWTSD_CALLER_NONE};
    size_t len = 0;
    const char *token;
    jwtsd_cred cred = jwtsd_access_token(r, &token, &len);
    if (cred == JWTSD_CRED_AMBIGUOUS) {
        jwtsd_reply_unauthorized(r, JWTS_E_INVALID_ARGUMENT, "the access cookie was sent more than once");
        return false;
    }
    if (!token) {
        jwtsd_reply_unauthorized(r, JWTS_E_INVALID_ARGUMENT, "missing bearer token (Authorization: Bearer ...)");
        return false;
    }
    char why[160];
    if (cred == JWTSD_CRED_COOKIE && strcmp(r->method, "GET") && strcmp(r->method, "HEAD") &&
        !jwtsd_csrf_ok(r, why, sizeof(why))) {
        jwtsd_reply_error(r, 403, JWTS_E_CLAIM_MISMATCH, why);
        return false;
    }
    if (cred == JWTSD_CRED_BEARER && is_admin_key(r->tenant, token, len)) {
        out->kind = JWTSD_CALLER_ADMIN;
        return true;
    }
    if (admin_only && !r->tenant->admin_enabled) {
        jwtsd_reply_error(r, 403, JWTS_E_UNSUPPORTED, "the admin API is disabled: no admin key is configured");
        return false;
    }
    jwts_err rc = jwtsd_validate_token(r, token, len, &out->user);
    if (rc != JWTS_OK) {
        reply_token_error(r, rc);
        return false;
    }
    if (admin_only) {
        jwtsd_reply_error(r, 403, JWTS_E_CLAIM_MISMATCH, "this call needs the admin key");
        return false;
    }
    out->kind = JWTSD_CALLER_USER;
    return true;
}

void jwtsd_user_header(const char *user_id, char out[JWTSD_USER_HEADER_MAX])
{
    static const char HEX[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)user_id;
    size_t n = 0;
    for (size_t i = 0; p[i] && i < JWTS_USER_ID_MAX; i++) {
        if (p[i] >= 0x80 || p[i] == '%' || p[i] < 0x20 || p[i] == 0x7f) {
            out[n++] = '%';
            out[n++] = HEX[p[i] >> 4];
            out[n++] = HEX[p[i] & 15];
        } else {
            out[n++] = (char)p[i];
        }
    }
    out[n] = '\0';
}
