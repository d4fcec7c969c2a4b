/*
 * forward.c - the auth check every proxy flavour asks before passing a request on
 * (docs/gateways.md): nginx and ingress-nginx auth_request, Caddy forward_auth, Traefik
 * ForwardAuth, HAProxy (deploy/haproxy/jwtsession.lua) and Envoy ext_authz over HTTP.
 *
 * One decision, several ways of saying what the original request was:
 *   - Envoy: any method on /v1/auth/{path}; the original method is the request's, the original
 *     path is what follows /v1/auth, the host is Host;
 *   - Traefik, Caddy, HAProxy: X-Forwarded-Method, -Proto, -Host, -Uri;
 *   - nginx, ingress-nginx: X-Original-URL (absolute) and X-Original-Method.
 *
 * Answers have no body (a proxy reads headers only and keeps its connection alive when nothing is
 * left unread). 200 carries the identity headers of --identity-headers. A refusal is 401 with an
 * RFC 6750 challenge, except a browser navigation (Accept: text/html, no X-Requested-With, GET or
 * HEAD) when --login-url is set: it goes to the login page with rd=<original URL>, but only when
 * that URL's host is one of --redirect-hosts (else the bare login URL: no open redirect). The
 * forward-auth flavours pass the auth answer to the client verbatim, so they get 302 + Location;
 * nginx's auth_request only understands 2xx/401/403, so it gets 401 + Location and its config
 * turns that into the redirect. A cookie-authenticated request that changes state (POST, PUT,
 * PATCH, DELETE...) must pass the CSRF check (cookies.c): 403 otherwise.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "daemon.h"

#define URL_MAX 2048      /* bytes of an original URL considered for a redirect */
#define VALUE_MAX 1024    /* bytes of an identity header value (longer values are left out) */
#define AUTH_DESC_MAX 256 /* bytes of an error description in a header */
#define HEADERS_MAX (JWTSD_IDENTITY_MAX + 8)

/* ---- the original request ------------------------------------------------------------------------ */

typedef struct original {
    const char *method; /* the original method */
    char url[URL_MAX];  /* the original absolute URL; "" when unknown or too long */
    bool forward;       /* a forward-auth flavour: the proxy passes our answer on, so 302 works */
} original;

/* Append the query arguments of r (kept raw: http.c does not unescape) to out. */
typedef struct query_acc {
    char *out;
    size_t cap, len;
    bool first, overflow;
} query_acc;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    query_acc *q = cls;
    int n = snprintf(q->out + q->len, q->cap - q->len, "%s%s%s%s", q->first ? "?" : "&", key, value ? "=" : "",
                     value ? value : "");
    if (n < 0 || (size_t)n >= q->cap - q->len) {
        q->overflow = true;
        return MHD_NO;
    }
    q->len += (size_t)n;
    q->first = false;
    return MHD_YES;
}

static void set_url(original *o, const char *proto, const char *host, const char *path, const jwtsd_request *r)
{
    o->url[0] = '\0';
    if (!host || !path || path[0] != '/') return;
    if (!proto || (strcasecmp(proto, "http") && strcasecmp(proto, "https"))) proto = "http";
    int n = snprintf(o->url, sizeof(o->url), "%s://%s%s", proto, host, path);
    if (n < 0 || (size_t)n >= sizeof(o->url)) {
        o->url[0] = '\0';
        return;
    }
    if (r) { /* Envoy: the query of our request is the original's */
        query_acc q = {.out = o->url, .cap = sizeof(o->url), .len = (size_t)n, .first = true};
        MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
        if (q.overflow) o->url[0] = '\0';
    }
}

static void find_original(const jwtsd_request *r, original *o)
{
    const char *fwd_method = jwtsd_header(r, "X-Forwarded-Method"), *fwd_uri = jwtsd_header(r, "X-Forwarded-Uri");
    const char *orig_url = jwtsd_header(r, "X-Original-URL");
    *o = (original){.method = r->method};
    if (r->route == JWTSD_ROUTE_AUTH_EXT) {
        o->forward = true;
        set_url(o, jwtsd_header(r, "X-Forwarded-Proto"), jwtsd_header(r, MHD_HTTP_HEADER_HOST), r->path + 8, r);
    } else if (fwd_method || fwd_uri) {
        o->forward = true;
        if (fwd_method) o->method = fwd_method;
        const char *host = jwtsd_header(r, "X-Forwarded-Host");
        set_url(o, jwtsd_header(r, "X-Forwarded-Proto"), host ? host : jwtsd_header(r, MHD_HTTP_HEADER_HOST), fwd_uri,
                NULL);
    } else {
        const char *m = jwtsd_header(r, "X-Original-Method");
        if (m) o->method = m;
        if (orig_url && strlen(orig_url) < sizeof(o->url)) snprintf(o->url, sizeof(o->url), "%s", orig_url);
    }
}

/* true for a method that only reads (RFC 9110 safe methods). */
static bool safe_method(const char *m)
{
    return !strcasecmp(m, "GET") || !strcasecmp(m, "HEAD") || !strcasecmp(m, "OPTIONS") || !strcasecmp(m, "TRACE");
}

/* true when any method r names changes state. A proxy sets its own header, but passes the
 * client's copies of the others on: whichever of them names a method that changes state, the CSRF
 * check applies (a client cannot make a POST look like a GET by adding a header). */
static bool names_unsafe_method(const jwtsd_request *r)
{
    const char *fwd = jwtsd_header(r, "X-Forwarded-Method"), *orig = jwtsd_header(r, "X-Original-Method");
    return !safe_method(r->method) || (fwd && !safe_method(fwd)) || (orig && !safe_method(orig));
}

/* A browser navigating to a page (rather than a script or an API client). */
static bool browser_navigation(const jwtsd_request *r, const original *o)
{
    const char *accept = jwtsd_header(r, MHD_HTTP_HEADER_ACCEPT);
    return accept && strcasestr(accept, "text/html") && !jwtsd_header(r, "X-Requested-With") &&
           (!strcasecmp(o->method, "GET") || !strcasecmp(o->method, "HEAD"));
}

/* ---- answers -------------------------------------------------------------------------------------- */

/* msg as an RFC 6750 error_description: only %x20-21 / %x23-5B / %x5D-7E, at most
 * AUTH_DESC_MAX - 1 bytes; anything else (quote, backslash, controls, non-ASCII) becomes a space. */
static void auth_desc(const char *msg, char out[AUTH_DESC_MAX])
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)(msg ? msg : ""); *p && o < AUTH_DESC_MAX - 1; p++)
        out[o++] = (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') ? ' ' : (char)*p;
    out[o] = '\0';
}

/* An empty answer with status and headers (n name/value pairs). jwtsd_reply_owned always sends a
 * Content-Type; text/plain is the honest one for zero bytes. */
static void reply_empty(jwtsd_request *r, unsigned status, const char *const *headers, size_t n)
{
    char *body = calloc(1, 1); /* jwtsd_reply_owned takes a NUL-terminated malloc'd body */
    if (!body) {
        r->status = 500;
        return;
    }
    jwtsd_reply_owned(r, status, "text/plain", body, 0, headers, n);
}

static bool infra_error(jwts_err code)
{
    return code == JWTS_E_UNAVAILABLE || code == JWTS_E_TIMEOUT || code == JWTS_E_CLOSED || code == JWTS_E_PROTOCOL ||
           code == JWTS_E_INTERNAL || code == JWTS_E_NO_MEMORY;
}

/* A refused or failed check: 401 with a Bearer challenge for a credential's error (or a redirect
 * to the login page for a browser navigation), 403 for a refused cross-site change, else the
 * code's status (503 + Retry-After for store trouble). The error name is in X-Session-Error and
 * the message in X-Session-Error-Description, on every status. */
static void reply_auth_error(jwtsd_request *r, unsigned status, jwts_err code, const char *msg, bool has_token)
{
    const jwtsd_config *cfg = r->srv->cfg;
    char desc[AUTH_DESC_MAX], challenge[AUTH_DESC_MAX + 128], location[URL_MAX * 3 + 1100];
    auth_desc(msg && msg[0] ? msg : jwts_strerror(code), desc);
    if (!status) status = infra_error(code) ? jwtsd_status_for(code) : 401;
    const char *h[2 * 6];
    size_t n = 0;
    h[2 * n] = "X-Session-Error", h[2 * n + 1] = jwts_errname(code), n++;
    h[2 * n] = "X-Session-Error-Description", h[2 * n + 1] = desc, n++;
    if (status == 401) {
        /* RFC 6750 section 3.1: no error attribute when the request carried no token at all. */
        if (has_token)
            snprintf(challenge, sizeof challenge,
                     "Bearer realm=\"jwtsession\", error=\"invalid_token\", error_description=\"%s: %s\"",
                     jwts_errname(code), desc);
        else
            snprintf(challenge, sizeof challenge, "Bearer realm=\"jwtsession\"");
        h[2 * n] = "WWW-Authenticate", h[2 * n + 1] = challenge, n++;
        original o; /* read only here: the passing path never needs it */
        if (cfg->login_url[0] && (find_original(r, &o), browser_navigation(r, &o))) {
            jwtsd_login_location(cfg, o.url, location, sizeof(location));
            h[2 * n] = "Location", h[2 * n + 1] = location, n++;
            if (o.forward) status = 302; /* passed to the client as it is */
        }
    } else if (status == 503) {
        h[2 * n] = "Retry-After", h[2 * n + 1] = "1", n++;
    }
    r->error = code;
    reply_empty(r, status, h, n);
}

/* ---- identity headers ------------------------------------------------------------------------------- */

/* s (n bytes) as a header value into out (VALUE_MAX): '%', controls and non-ASCII bytes as %XX
 * (as X-Session-User, jwtsd_user_header). false when it does not fit. */
static bool encode_value(const char *s, size_t n, char *out)
{
    static const char HEX[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 4 > VALUE_MAX) return false;
        if (c >= 0x80 || c == '%' || c < 0x20 || c == 0x7f) {
            out[o++] = '%';
            out[o++] = HEX[c >> 4];
            out[o++] = HEX[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return true;
}

/* The value of member field of obj into out: a string as it is (encoded), a number or boolean as
 * its JSON text, an object or array as compact JSON (encoded). false when absent, null or too long. */
static bool json_member_value(json_t *obj, const char *field, char *out)
{
    json_t *v = obj ? json_object_get(obj, field) : NULL;
    if (!v || json_is_null(v)) return false;
    if (json_is_string(v)) return encode_value(json_string_value(v), json_string_length(v), out);
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return false;
    bool ok = encode_value(text, strlen(text), out);
    free(text);
    return ok;
}

/* The claims of a verified access token (its payload), or NULL. */
static json_t *token_claims(const char *token, size_t len)
{
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2) return NULL;
    size_t n = (size_t)(dot2 - dot1 - 1), cap = jwts_b64url_decoded_max(n) + 1, got = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return NULL;
    json_t *root = NULL;
    if (jwts_b64url_decode(dot1 + 1, n, buf, cap, &got) == JWTS_OK)
        root = json_loadb((const char *)buf, got, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (root && !json_is_object(root)) json_decref(root), root = NULL;
    return root;
}

/* 200 with the identity headers of the valid token. */
static void reply_identity(jwtsd_request *r, const jwts_validation *v, const jwts_session *s, const char *token,
                           size_t len)
{
    const jwtsd_config *cfg = r->srv->cfg;
    char(*values)[VALUE_MAX] = malloc((cfg->identity_count ? cfg->identity_count : 1) * VALUE_MAX);
    if (!values) {
        reply_auth_error(r, 503, JWTS_E_NO_MEMORY, "out of memory", true);
        return;
    }
    json_t *meta = NULL, *claims = NULL;
    const char *h[2 * HEADERS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < cfg->identity_count; i++) {
        const jwtsd_identity_header *ih = &cfg->identity[i];
        bool ok = true;
        switch (ih->source) {
        case JWTSD_ID_USER:
            jwtsd_user_header(v->user_id, values[i]); /* JWTSD_USER_HEADER_MAX (766) < VALUE_MAX */
            break;
        case JWTSD_ID_SESSION:
            snprintf(values[i], VALUE_MAX, "%s", v->session_id);
            break;
        case JWTSD_ID_EXPIRES:
            snprintf(values[i], VALUE_MAX, "%lld", (long long)v->token_expires_at_s);
            break;
        case JWTSD_ID_METADATA:
            if (!meta && s && s->metadata) meta = json_loads(s->metadata, 0, NULL);
            ok = json_member_value(meta, ih->field, values[i]);
            break;
        case JWTSD_ID_CLAIM:
            if (!claims) claims = token_claims(token, len);
            ok = json_member_value(claims, ih->field, values[i]);
            break;
        }
        if (ok) h[2 * n] = ih->name, h[2 * n + 1] = values[i], n++;
    }
    reply_empty(r, 200, h, n);
    json_decref(meta);
    json_decref(claims);
    free(values);
}

void jwtsd_forward_answer(jwtsd_request *r, jwtsd_cred cred, const char *token, size_t len, jwts_err rc,
                          const jwts_validation *v, const jwts_session *s)
{
    if (rc != JWTS_OK) {
        reply_auth_error(r, 0, rc, jwts_errdetail(), true);
        return;
    }
    char why[160];
    if (cred == JWTSD_CRED_COOKIE && names_unsafe_method(r) && !jwtsd_csrf_ok(r, why, sizeof(why)))
        reply_auth_error(r, 403, JWTS_E_CLAIM_MISMATCH, why, true);
    else
        reply_identity(r, v, s, token, len);
}

void jwtsd_forward_auth(jwtsd_request *r)
{
    const char *token;
    size_t len = 0;
    jwtsd_cred cred = jwtsd_access_token(r, &token, &len);
    if (cred == JWTSD_CRED_AMBIGUOUS) {
        reply_auth_error(r, 401, JWTS_E_INVALID_ARGUMENT, "the access cookie was sent more than once", true);
        return;
    }
    if (!token) {
        reply_auth_error(r, 401, JWTS_E_INVALID_ARGUMENT, "missing bearer token (Authorization: Bearer ...)", false);
        return;
    }
    jwts_validation v;
    jwts_session *s = NULL;
    jwts_err rc = jwts_manager_validate(r->tenant->manager, &r->ctx, token, len, &v,
                                        r->srv->cfg->identity_needs_session ? &s : NULL);
    jwtsd_forward_answer(r, cred, token, len, rc, &v, s);
    jwts_session_free(s);
}
