/*
 * routes.c - the jwtsessiond API: which path and method go to which handler, and the handlers.
 *
 *   POST   /v1/sessions                 admin       create a session -> 201 tokens
 *   GET    /v1/auth                     bearer      200 + identity headers, or 401; no body (forward.c)
 *   any    /v1/auth/{path}              bearer      the same for Envoy ext_authz (forward.c)
 *   POST   /v1/logout                   token/cookie revoke the caller's session, clear the cookies
 *   POST   /v1/refresh                  refresh tok rotate -> 200 new pair
 *   GET    /v1/sessions/{id}            admin       one session (found by its id; ?user_id= checks)
 *   DELETE /v1/sessions/{id}            user/admin  revoke one session (admin: found by its id;
 *                                                   ?user_id= checks it is that user's)
 *   PATCH  /v1/sessions/{id}            admin       replace metadata (?user_id=)
 *   GET    /v1/users/{id}/sessions      user/admin  list a user's sessions
 *   DELETE /v1/users/{id}/sessions      user/admin  revoke all of a user's sessions (?except=SID: but one)
 *   POST   /v1/admin/keys/reload        admin       reload the --key file (docs/keys.md)
 *   GET    /.well-known/jwks.json       -           Cache-Control max-age, ETag, 304 on If-None-Match
 *   GET    /metrics, /healthz, /readyz
 *
 * A user may act on their own sessions only: the user comes from their access token's sub, so a
 * revoke or list can never reach another user's keys. See docs/daemon.md.
 *
 * Create and refresh record the client's device (docs/devices.md): the peer address of the
 * connection (X-Forwarded-For is never read: any client can write it) and the User-Agent header,
 * cleaned; on create the login service's body member "device" replaces both.
 *
 * With --cookies (cookies.c, docs/gateways.md) create and refresh also set the tokens as cookies,
 * a refresh may take its token from the refresh cookie (then the answer's body carries no token:
 * page scripts must never see one), and logout clears both cookies.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "daemon.h"

static const char *const route_names[JWTSD_ROUTE__COUNT] = {
    [JWTSD_ROUTE_NONE] = "other",
    [JWTSD_ROUTE_SESSIONS] = "/v1/sessions",
    [JWTSD_ROUTE_SESSION] = "/v1/sessions/{id}",
    [JWTSD_ROUTE_AUTH] = "/v1/auth",
    [JWTSD_ROUTE_REFRESH] = "/v1/refresh",
    [JWTSD_ROUTE_USER_SESSIONS] = "/v1/users/{id}/sessions",
    [JWTSD_ROUTE_JWKS] = "/.well-known/jwks.json",
    [JWTSD_ROUTE_KEYS_RELOAD] = "/v1/admin/keys/reload",
    [JWTSD_ROUTE_METRICS] = "/metrics",
    [JWTSD_ROUTE_HEALTHZ] = "/healthz",
    [JWTSD_ROUTE_READYZ] = "/readyz",
    [JWTSD_ROUTE_AUTH_EXT] = "/v1/auth/{path}",
    [JWTSD_ROUTE_LOGOUT] = "/v1/logout",
};

/* The methods each route allows, as an Allow header value. */
static const char *const route_allow[JWTSD_ROUTE__COUNT] = {
    [JWTSD_ROUTE_SESSIONS] = "POST",
    [JWTSD_ROUTE_SESSION] = "GET, DELETE, PATCH",
    [JWTSD_ROUTE_AUTH] = "GET, HEAD",
    [JWTSD_ROUTE_REFRESH] = "POST",
    [JWTSD_ROUTE_USER_SESSIONS] = "GET, DELETE",
    [JWTSD_ROUTE_JWKS] = "GET, HEAD",
    [JWTSD_ROUTE_KEYS_RELOAD] = "POST",
    [JWTSD_ROUTE_METRICS] = "GET, HEAD",
    [JWTSD_ROUTE_HEALTHZ] = "GET, HEAD",
    [JWTSD_ROUTE_READYZ] = "GET, HEAD",
    [JWTSD_ROUTE_AUTH_EXT] = "*", /* Envoy sends the original method */
    [JWTSD_ROUTE_LOGOUT] = "POST",
};

const char *jwtsd_route_name(jwtsd_route r)
{
    return r > JWTSD_ROUTE_NONE && r < JWTSD_ROUTE__COUNT ? route_names[r] : "other";
}

/* true when method is in the route's Allow list. */
static bool method_allowed(jwtsd_route route, const char *method)
{
    const char *allow = route_allow[route];
    if (!strcmp(allow, "*")) return true;
    size_t n = strlen(method);
    for (const char *p = allow; (p = strstr(p, method)); p += n)
        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0')) return true;
    return false;
}

bool jwtsd_route_wants_body(jwtsd_route route, const char *method)
{
    /* the auth checks never read one (Envoy may send POST with Content-Length: 0); logout needs
     * none, so a form post is refused by the CSRF check, not by its Content-Type */
    if (route == JWTSD_ROUTE_AUTH_EXT || route == JWTSD_ROUTE_AUTH || route == JWTSD_ROUTE_LOGOUT ||
        route == JWTSD_ROUTE_KEYS_RELOAD)
        return false;
    return !strcmp(method, "POST") || !strcmp(method, "PATCH");
}

bool jwtsd_route_uses_store(jwtsd_route route)
{
    return route != JWTSD_ROUTE_NONE && route != JWTSD_ROUTE_JWKS && route != JWTSD_ROUTE_METRICS &&
           route != JWTSD_ROUTE_HEALTHZ && route != JWTSD_ROUTE_KEYS_RELOAD;
}

bool jwtsd_route_reads_only(jwtsd_route route) { return route == JWTSD_ROUTE_AUTH || route == JWTSD_ROUTE_AUTH_EXT; }

/* Decode the {id} segment seg (n raw bytes) into param. */
static bool take_param(jwtsd_request *r, const char *seg, size_t n, char *param, size_t cap)
{
    if (!n || !jwtsd_percent_decode(seg, n, param, cap)) {
        jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT, "bad path segment (empty or bad %-escape)");
        return false;
    }
    r->param = param;
    return true;
}

bool jwtsd_route_match(jwtsd_request *r, char *param, size_t cap)
{
    static const struct {
        const char *path;
        jwtsd_route route;
    } exact[] = {
        {"/v1/auth", JWTSD_ROUTE_AUTH},       {"/v1/sessions", JWTSD_ROUTE_SESSIONS},
        {"/v1/refresh", JWTSD_ROUTE_REFRESH}, {"/.well-known/jwks.json", JWTSD_ROUTE_JWKS},
        {"/metrics", JWTSD_ROUTE_METRICS},    {"/healthz", JWTSD_ROUTE_HEALTHZ},
        {"/readyz", JWTSD_ROUTE_READYZ},      {"/v1/logout", JWTSD_ROUTE_LOGOUT},
        {"/v1/admin/keys/reload", JWTSD_ROUTE_KEYS_RELOAD},
    };
    const char *p = r->path;
    r->route = JWTSD_ROUTE_NONE;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        if (!strcmp(p, exact[i].path)) {
            r->route = exact[i].route;
            break;
        }
    }
    if (r->route == JWTSD_ROUTE_NONE && !strncmp(p, "/v1/auth/", 9)) {
        r->route = JWTSD_ROUTE_AUTH_EXT; /* Envoy: /v1/auth + the original path */
    } else if (r->route == JWTSD_ROUTE_NONE && !strncmp(p, "/v1/sessions/", 13) && !strchr(p + 13, '/')) {
        r->route = JWTSD_ROUTE_SESSION;
        if (!take_param(r, p + 13, strlen(p + 13), param, cap)) return false;
    } else if (r->route == JWTSD_ROUTE_NONE && !strncmp(p, "/v1/users/", 10)) {
        const char *seg = p + 10, *slash = strchr(seg, '/');
        if (slash && !strcmp(slash, "/sessions")) {
            r->route = JWTSD_ROUTE_USER_SESSIONS;
            if (!take_param(r, seg, (size_t)(slash - seg), param, cap)) return false;
        }
    }
    if (r->route == JWTSD_ROUTE_NONE) {
        jwtsd_reply_error(r, 404, JWTS_E_NOT_FOUND, "no such endpoint (see docs/daemon.md)");
        return false;
    }
    if (!method_allowed(r->route, r->method)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "method not allowed here; allowed: %s", route_allow[r->route]);
        const char *headers[] = {MHD_HTTP_HEADER_ALLOW, route_allow[r->route]};
        size_t len = 0;
        jwts_buf b = {0};
        jwts_buf_puts(&b, "{\"error\":\"JWTS_E_UNSUPPORTED\",\"message\":");
        jwtsd_buf_str(&b, msg);
        jwts_buf_puts(&b, "}");
        len = b.len;
        r->error = JWTS_E_UNSUPPORTED;
        if (b.err != JWTS_OK)
            jwtsd_reply_error(r, 500, JWTS_E_NO_MEMORY, NULL);
        else
            jwtsd_reply_owned(r, 405, "application/json", b.data, len, headers, 1);
        return false;
    }
    return true;
}

/* ---- helpers ------------------------------------------------------------------------------------- */

/* Answer the error rc of a library call, with its detail. */
static void reply_rc(jwtsd_request *r, unsigned status, jwts_err rc)
{
    const char *detail = jwts_errdetail();
    jwtsd_reply_error(r, status, rc, detail[0] ? detail : jwts_strerror(rc));
}

static void reply_buf(jwtsd_request *r, unsigned status, jwts_buf *b, const char *const *headers, size_t n)
{
    if (b->err != JWTS_OK) {
        jwts_buf_free(b);
        jwtsd_reply_error(r, 503, JWTS_E_NO_MEMORY, "out of memory");
        return;
    }
    jwtsd_reply_owned(r, status, "application/json", b->data, b->len, headers, n);
    *b = (jwts_buf){0};
}

/* The pair t as JSON; with_tokens false (a browser's cookie refresh): no token in it. */
static void tokens_json(jwts_buf *b, const char *user_id, const jwts_tokens *t, bool with_tokens)
{
    jwts_buf_puts(b, "{\"session_id\":");
    jwtsd_buf_str(b, t->session_id);
    jwts_buf_puts(b, ",\"user_id\":");
    jwtsd_buf_str(b, user_id);
    if (with_tokens) {
        jwts_buf_puts(b, ",\"token_type\":\"Bearer\",\"access_token\":");
        jwtsd_buf_str(b, t->access_token);
        jwts_buf_puts(b, ",\"refresh_token\":");
        jwtsd_buf_str(b, t->refresh_token);
    }
    jwts_buf_puts(b, ",\"expires_in\":");
    jwts_buf_i64(b, t->expires_in_s);
    jwts_buf_puts(b, ",\"refresh_expires_in\":");
    jwts_buf_i64(b, t->refresh_expires_in_s);
    jwts_buf_puts(b, "}");
}

/* Answer status with the pair t as JSON (with_tokens: the tokens in the body) and, with --cookies,
 * as the access and refresh cookies (Max-Age from their lifetimes). */
static void reply_tokens(jwtsd_request *r, unsigned status, const char *user_id, const jwts_tokens *t, bool with_tokens)
{
    jwts_buf b = {0};
    tokens_json(&b, user_id, t, with_tokens);
    char *ck = NULL;
    const char *headers[4];
    size_t n = 0;
    if (r->srv->cfg->cookies) {
        ck = malloc(2 * JWTSD_SET_COOKIE_MAX);
        if (!ck ||
            !jwtsd_cookie_set(r->srv->cfg, r->tenant->path, JWTSD_COOKIE_ACCESS, t->access_token, t->expires_in_s, ck,
                              JWTSD_SET_COOKIE_MAX) ||
            !jwtsd_cookie_set(r->srv->cfg, r->tenant->path, JWTSD_COOKIE_REFRESH, t->refresh_token,
                              t->refresh_expires_in_s, ck + JWTSD_SET_COOKIE_MAX, JWTSD_SET_COOKIE_MAX)) {
            free(ck);
            jwts_buf_free(&b);
            jwtsd_reply_error(r, 503, JWTS_E_NO_MEMORY, "out of memory");
            return;
        }
        headers[0] = MHD_HTTP_HEADER_SET_COOKIE, headers[1] = ck;
        headers[2] = MHD_HTTP_HEADER_SET_COOKIE, headers[3] = ck + JWTSD_SET_COOKIE_MAX;
        n = 2;
    }
    reply_buf(r, status, &b, headers, n); /* libmicrohttpd copies the header values */
    jwts_buf_free(&b);
    if (ck) {
        OPENSSL_cleanse(ck, 2 * JWTSD_SET_COOKIE_MAX);
        free(ck);
    }
}

/* Parse the body against allowed names; false when it answered. */
static bool parse_body(jwtsd_request *r, const char *const *allowed, jwtsd_body **out)
{
    char msg[256];
    jwts_err rc = jwtsd_body_parse(r->body, r->body_len, allowed, out, msg, sizeof(msg));
    if (rc == JWTS_OK) return true;
    jwtsd_reply_error(r, rc == JWTS_E_NO_MEMORY ? 503 : 400, rc, msg);
    return false;
}

/* The user an admin call names in ?user_id=; false when it answered. */
static bool admin_user(jwtsd_request *r, char *out, size_t cap)
{
    if (!jwtsd_query(r, "user_id", out, cap)) {
        jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT,
                          "admin calls on /v1/sessions/{id} need the user_id query parameter (?user_id=...)");
        return false;
    }
    if (!jwts_user_id_valid(out)) {
        jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT, "user_id: " JWTS_USER_ID_RULE);
        return false;
    }
    return true;
}


/* The device a request comes from. */
typedef struct req_device {
    char ip[INET6_ADDRSTRLEN];
    char user_agent[JWTS_USER_AGENT_MAX + 1];
    jwts_device d;
} req_device;

/* The connection's peer address (an IPv4-mapped IPv6 one as IPv4) and the User-Agent header made
 * valid (jwts_user_agent_clean); either field NULL when there is none. */
static const jwts_device *request_device(jwtsd_request *r, req_device *out)
{
    out->d = (jwts_device){0};
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET) {
        if (inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out->ip, sizeof out->ip)) out->d.ip = out->ip;
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        const char *ok = IN6_IS_ADDR_V4MAPPED(a) ? inet_ntop(AF_INET, a->s6_addr + 12, out->ip, sizeof out->ip)
                                                 : inet_ntop(AF_INET6, a, out->ip, sizeof out->ip);
        if (ok) out->d.ip = out->ip;
    }
    const char *ua = jwtsd_header(r, MHD_HTTP_HEADER_USER_AGENT);
    if (ua && jwts_user_agent_clean(ua, strlen(ua), out->user_agent)) out->d.user_agent = out->user_agent;
    return &out->d;
}

/* The device the login service gives in the body ("device"), checked; it replaces the request's
 * whole (a member left out is not known). JWTS_OK with *given false when there is none. */
static jwts_err body_device(const jwtsd_body *body, jwts_device *d, bool *given, char *msg, size_t cap)
{
    const char *ip, *ua;
    jwts_err rc = jwtsd_body_device(body, given, &ip, &ua, msg, cap);
    if (rc || !*given) return rc;
    if (ip && !jwts_client_ip_valid(ip))
        return snprintf(msg, cap, "device.ip: not an IPv4 or IPv6 address (no brackets, no zone)"),
               JWTS_E_INVALID_ARGUMENT;
    if (ua && !jwts_user_agent_valid(ua))
        return snprintf(msg, cap, "device.user_agent: " JWTS_USER_AGENT_RULE), JWTS_E_INVALID_ARGUMENT;
    *d = (jwts_device){.ip = ip, .user_agent = ua};
    return JWTS_OK;
}

/* ---- handlers ------------------------------------------------------------------------------------ */

/* A --verify-only daemon holds no signing key: it cannot issue tokens. */
static bool can_issue(jwtsd_request *r)
{
    if (!r->srv->cfg->verify_only) return true;
    jwtsd_reply_error(r, 501, JWTS_E_UNSUPPORTED, "this jwtsessiond only verifies tokens (--verify-only)");
    return false;
}

static void h_create(jwtsd_request *r)
{
    jwtsd_caller caller;
    if (!jwtsd_authenticate(r, true, &caller) || !can_issue(r)) return;
    static const char *const allowed[] = {"user_id", "metadata", "device", NULL};
    jwtsd_body *body;
    if (!parse_body(r, allowed, &body)) return;
    char msg[256] = "";
    const char *user_id;
    char *metadata = NULL;
    jwts_err rc = jwtsd_body_string(body, "user_id", &user_id, msg, sizeof(msg));
    if (rc == JWTS_OK && !user_id) rc = JWTS_E_INVALID_ARGUMENT, snprintf(msg, sizeof(msg), "\"user_id\" is required");
    if (rc == JWTS_OK && !jwts_user_id_valid(user_id))
        rc = JWTS_E_INVALID_ARGUMENT,
        snprintf(msg, sizeof(msg), "user_id: " JWTS_USER_ID_RULE);
    req_device rd;
    jwts_device given;
    bool has_device = false;
    if (rc == JWTS_OK) rc = body_device(body, &given, &has_device, msg, sizeof(msg));
    if (rc == JWTS_OK) rc = jwtsd_body_object_text(body, "metadata", &metadata, msg, sizeof(msg));
    if (rc != JWTS_OK) {
        jwtsd_reply_error(r, 0, rc, msg);
        jwtsd_body_free(body);
        return;
    }
    jwts_tokens t = {0};
    rc = jwts_manager_create_device(r->tenant->manager, &r->ctx, user_id, metadata,
                                    has_device ? &given : request_device(r, &rd), &t);
    free(metadata);
    if (rc != JWTS_OK) {
        reply_rc(r, rc == JWTS_E_MALFORMED ? 400 : 0, rc);
    } else {
        reply_tokens(r, 201, user_id, &t, true);
    }
    jwts_tokens_clear(&t);
    jwtsd_body_free(body);
}

/* The refresh token of a browser: the refresh cookie, after the CSRF check. NULL when it answered. */
static const char *refresh_cookie(jwtsd_request *r, char *buf, size_t cap)
{
    char name[80], why[160];
    const char *v;
    size_t n = 0;
    jwtsd_cookie_name(r->srv->cfg, JWTSD_COOKIE_REFRESH, name, sizeof(name));
    int found = jwtsd_cookie_find(r, name, &v, &n);
    if (found == 0 || !n) {
        jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT, "\"refresh_token\" is required (or the refresh cookie)");
        return NULL;
    }
    if (found > 1 || n >= cap) {
        jwtsd_reply_error(r, 401, JWTS_E_MALFORMED,
                          found > 1 ? "the refresh cookie was sent more than once" : "the refresh cookie is too long");
        return NULL;
    }
    if (!jwtsd_csrf_ok(r, why, sizeof(why))) {
        jwtsd_reply_error(r, 403, JWTS_E_CLAIM_MISMATCH, why);
        return NULL;
    }
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}

/* true when the body is empty or white space only (a browser's cookie refresh may send none). */
static bool body_blank(const jwtsd_request *r)
{
    for (size_t i = 0; i < r->body_len; i++)
        if (r->body[i] != ' ' && r->body[i] != '\t' && r->body[i] != '\r' && r->body[i] != '\n') return false;
    return true;
}

static void h_refresh(jwtsd_request *r)
{
    static const char *const allowed[] = {"refresh_token", NULL};
    jwtsd_body *body = NULL;
    bool cookies = r->srv->cfg->cookies;
    if (!can_issue(r)) return;
    if (!(cookies && body_blank(r)) && !parse_body(r, allowed, &body)) return;
    char msg[256] = "";
    const char *token = NULL;
    jwts_err rc = body ? jwtsd_body_string(body, "refresh_token", &token, msg, sizeof(msg)) : JWTS_OK;
    char cookie_token[1024];
    bool from_cookie = false;
    if (rc == JWTS_OK && !token && cookies) {
        if (!(token = refresh_cookie(r, cookie_token, sizeof(cookie_token)))) {
            jwtsd_body_free(body);
            return;
        }
        from_cookie = true;
    }
    if (rc == JWTS_OK && !token)
        rc = JWTS_E_INVALID_ARGUMENT, snprintf(msg, sizeof(msg), "\"refresh_token\" is required");
    if (rc != JWTS_OK) {
        jwtsd_reply_error(r, 400, rc, msg);
        jwtsd_body_free(body);
        return;
    }
    char user_id[JWTS_USER_ID_MAX + 1], sid[JWTS_SESSION_ID_MAX + 1];
    jwts_tokens t = {0};
    rc = jwts_refresh_token_parse(token, user_id, sid);
    req_device rd;
    if (rc == JWTS_OK) rc = jwts_manager_refresh_device(r->tenant->manager, &r->ctx, token, request_device(r, &rd), &t);
    if (rc != JWTS_OK) {
        unsigned status = jwtsd_status_for(rc);
        /* Any failure of the credential itself is 401; the store's own trouble keeps its status. */
        if (status < 500) status = 401;
        reply_rc(r, status, rc);
    } else {
        reply_tokens(r, 200, user_id, &t, !from_cookie); /* a page script never sees a token */
    }
    OPENSSL_cleanse(cookie_token, sizeof(cookie_token));
    jwts_tokens_clear(&t);
    jwtsd_body_free(body);
}

/* POST /v1/logout: revoke the caller's own session (access token from the bearer header or the
 * cookie) and, with --cookies, clear both cookies whatever the token's state. */
static void h_logout(jwtsd_request *r)
{
    const char *token;
    size_t len = 0;
    char why[160];
    jwtsd_cred cred = jwtsd_access_token(r, &token, &len);
    /* A forced logout is a CSRF too. With --cookies every logout without a bearer token is
     * checked, cookie or not: SameSite keeps the cookies off a cross-site post, but the answer's
     * clearing Set-Cookie would still apply. */
    if (cred != JWTSD_CRED_BEARER && r->srv->cfg->cookies && !jwtsd_csrf_ok(r, why, sizeof(why))) {
        jwtsd_reply_error(r, 403, JWTS_E_CLAIM_MISMATCH, why);
        return;
    }
    jwts_validation v = {0};
    jwts_err rc = token ? jwtsd_validate_token(r, token, len, &v) : JWTS_E_INVALID_ARGUMENT;
    if (rc == JWTS_OK) rc = jwts_manager_revoke(r->tenant->manager, &r->ctx, v.user_id, v.session_id);
    bool infra = rc != JWTS_OK && jwtsd_status_for(rc) >= 500;
    if (infra || (!r->srv->cfg->cookies && rc != JWTS_OK)) {
        if (infra)
            reply_rc(r, 0, rc);
        else
            jwtsd_reply_unauthorized(r, rc, token ? "invalid access token" : "missing bearer token");
        return;
    }
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"revoked\":");
    jwts_buf_puts(&b, rc == JWTS_OK ? "1" : "0");
    if (rc == JWTS_OK) {
        jwts_buf_puts(&b, ",\"session_id\":");
        jwtsd_buf_str(&b, v.session_id);
    }
    jwts_buf_puts(&b, "}");
    char clear[2][512];
    const char *headers[4];
    size_t n = 0;
    if (r->srv->cfg->cookies &&
        jwtsd_cookie_set(r->srv->cfg, r->tenant->path, JWTSD_COOKIE_ACCESS, NULL, 0, clear[0], 512) &&
        jwtsd_cookie_set(r->srv->cfg, r->tenant->path, JWTSD_COOKIE_REFRESH, NULL, 0, clear[1], 512)) {
        headers[0] = MHD_HTTP_HEADER_SET_COOKIE, headers[1] = clear[0];
        headers[2] = MHD_HTTP_HEADER_SET_COOKIE, headers[3] = clear[1];
        n = 2;
    }
    reply_buf(r, 200, &b, headers, n);
}

/* true if the path's {id} is a session id; otherwise answers 400. */
static bool session_id_param(jwtsd_request *r)
{
    if (jwts_session_id_valid(r->param)) return true;
    jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT, "session id: 1-64 base64url characters");
    return false;
}

/* The session r->param for an admin: with ?user_id=, that user's (another user's is not found);
 * without, found by its id alone (a generated id carries its user's tag). JWTS_OK with *out, or
 * the failure, answered (*out NULL). */
static jwts_err admin_session(jwtsd_request *r, jwts_session **out)
{
    char user[JWTS_USER_ID_MAX * 3 + 1];
    *out = NULL;
    jwts_err rc;
    if (jwtsd_query(r, "user_id", user, sizeof(user))) {
        if (!jwts_user_id_valid(user)) {
            jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT, "user_id: " JWTS_USER_ID_RULE);
            return JWTS_E_INVALID_ARGUMENT;
        }
        rc = jwts_store_get(r->tenant->store, &r->ctx, &(jwts_session_key){user, r->param}, out);
    } else {
        rc = jwts_store_get_by_id(r->tenant->store, &r->ctx, r->param, out);
    }
    if (rc) reply_rc(r, 0, rc);
    return rc;
}

/* GET /v1/sessions/{id} (admin): the session's public view. */
static void h_get_session(jwtsd_request *r)
{
    jwtsd_caller caller;
    if (!jwtsd_authenticate(r, true, &caller)) return;
    if (!session_id_param(r)) return;
    jwts_session *s = NULL;
    if (admin_session(r, &s)) return;
    jwts_buf b = {0};
    jwts_buf_putc(&b, '{');
    jwts_session_view(s, &b);
    jwts_buf_putc(&b, '}');
    jwts_session_free(s);
    reply_buf(r, 200, &b, NULL, 0);
}

static void h_revoke(jwtsd_request *r)
{
    jwtsd_caller caller;
    if (!jwtsd_authenticate(r, false, &caller)) return;
    if (!session_id_param(r)) return;
    char user[JWTS_USER_ID_MAX * 3 + 1];
    if (caller.kind == JWTSD_CALLER_ADMIN) { /* the session's user: named, or found by its id */
        jwts_session *s = NULL;
        if (admin_session(r, &s)) return;
        snprintf(user, sizeof(user), "%s", s->user_id);
        jwts_session_free(s);
    } else {
        snprintf(user, sizeof(user), "%s", caller.user.user_id);
    }
    jwts_err rc = jwts_manager_revoke_by(r->tenant->manager, &r->ctx, user, r->param,
                                         caller.kind == JWTSD_CALLER_ADMIN ? JWTS_REVOKE_ADMIN : JWTS_REVOKE_USER);
    if (rc != JWTS_OK) {
        reply_rc(r, 0, rc);
        return;
    }
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"revoked\":1,\"session_id\":");
    jwtsd_buf_str(&b, r->param);
    jwts_buf_puts(&b, ",\"user_id\":");
    jwtsd_buf_str(&b, user);
    jwts_buf_puts(&b, "}");
    reply_buf(r, 200, &b, NULL, 0);
}

static void h_patch(jwtsd_request *r)
{
    jwtsd_caller caller;
    if (!jwtsd_authenticate(r, true, &caller)) return;
    if (!session_id_param(r)) return;
    char user[JWTS_USER_ID_MAX * 3 + 1];
    if (!admin_user(r, user, sizeof(user))) return;
    static const char *const allowed[] = {"metadata", NULL};
    jwtsd_body *body;
    if (!parse_body(r, allowed, &body)) return;
    char msg[256] = "";
    char *metadata = NULL, *canonical = NULL;
    jwts_err rc = jwtsd_body_object_text(body, "metadata", &metadata, msg, sizeof(msg));
    jwtsd_body_free(body);
    if (rc == JWTS_OK && !metadata)
        rc = JWTS_E_INVALID_ARGUMENT, snprintf(msg, sizeof(msg), "\"metadata\" is required");
    if (rc != JWTS_OK) {
        jwtsd_reply_error(r, 400, rc, msg);
        return;
    }
    rc = jwts_manager_update_metadata(r->tenant->manager, &r->ctx, user, r->param, metadata);
    if (rc == JWTS_OK) rc = jwts_metadata_canonicalize(metadata, strlen(metadata), NULL, &canonical);
    free(metadata);
    if (rc != JWTS_OK) {
        reply_rc(r, rc == JWTS_E_MALFORMED ? 400 : 0, rc);
        return;
    }
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"session_id\":");
    jwtsd_buf_str(&b, r->param);
    jwts_buf_puts(&b, ",\"user_id\":");
    jwtsd_buf_str(&b, user);
    jwts_buf_puts(&b, ",\"metadata\":");
    jwts_buf_puts(&b, canonical);
    jwts_buf_puts(&b, "}");
    free(canonical);
    reply_buf(r, 200, &b, NULL, 0);
}

/* The caller may act on user r->param: the admin, or that user's own token. */
static bool user_allowed(jwtsd_request *r, jwtsd_caller *caller)
{
    if (!jwtsd_authenticate(r, false, caller)) return false;
    if (!jwts_user_id_valid(r->param)) {
        jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT, "user id: " JWTS_USER_ID_RULE);
        return false;
    }
    if (caller->kind == JWTSD_CALLER_USER && strcmp(caller->user.user_id, r->param) != 0) {
        jwtsd_reply_error(r, 403, JWTS_E_CLAIM_MISMATCH, "a user token may only act on its own user's sessions");
        return false;
    }
    return true;
}

/* One listed session: the library's public view, and whether it is the caller's own. */
static void session_json(jwts_buf *b, const jwts_session *s, const jwtsd_caller *caller)
{
    jwts_buf_putc(b, '{');
    jwts_session_view(s, b);
    bool current = caller->kind == JWTSD_CALLER_USER && !strcmp(caller->user.session_id, s->session_id);
    jwts_buf_puts(b, current ? ",\"current\":true}" : ",\"current\":false}");
}

static void h_list(jwtsd_request *r)
{
    jwtsd_caller caller;
    if (!user_allowed(r, &caller)) return;
    jwts_session_list list = {0};
    jwts_err rc = jwts_manager_list(r->tenant->manager, &r->ctx, r->param, &list);
    if (rc != JWTS_OK) {
        reply_rc(r, 0, rc);
        return;
    }
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"user_id\":");
    jwtsd_buf_str(&b, r->param);
    jwts_buf_puts(&b, ",\"count\":");
    jwts_buf_i64(&b, (int64_t)list.count);
    jwts_buf_puts(&b, ",\"sessions\":[");
    for (size_t i = 0; i < list.count; i++) {
        if (i) jwts_buf_puts(&b, ",");
        session_json(&b, list.items[i], &caller);
    }
    jwts_buf_puts(&b, "]}");
    jwts_session_list_free(&list);
    reply_buf(r, 200, &b, NULL, 0);
}

static void h_revoke_user(jwtsd_request *r)
{
    jwtsd_caller caller;
    if (!user_allowed(r, &caller)) return;
    /* ?except=SID: "sign out everywhere else", keeping that session */
    char keep[JWTS_SESSION_ID_MAX + 1];
    bool except = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "except") != NULL;
    if (except && (!jwtsd_query(r, "except", keep, sizeof(keep)) || !jwts_session_id_valid(keep))) {
        jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT, "except: a session id, 1-64 base64url characters");
        return;
    }
    size_t n = 0;
    jwts_revoke_reason by = caller.kind == JWTSD_CALLER_ADMIN ? JWTS_REVOKE_ADMIN : JWTS_REVOKE_USER;
    jwts_err rc = except ? jwts_manager_revoke_user_except_by(r->tenant->manager, &r->ctx, r->param, keep, &n, by)
                         : jwts_manager_revoke_user_by(r->tenant->manager, &r->ctx, r->param, &n, by);
    if (rc != JWTS_OK) {
        reply_rc(r, 0, rc);
        return;
    }
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"user_id\":");
    jwtsd_buf_str(&b, r->param);
    jwts_buf_puts(&b, ",\"revoked\":");
    jwts_buf_i64(&b, (int64_t)n);
    if (except) {
        jwts_buf_puts(&b, ",\"kept\":");
        jwtsd_buf_str(&b, keep);
    }
    jwts_buf_puts(&b, "}");
    reply_buf(r, 200, &b, NULL, 0);
}

/* true when an If-None-Match list (RFC 9110 13.1.2: "*" or comma-separated entity tags, weak
 * ones compared weakly) names etag. */
static bool etag_matches(const char *inm, const char *etag)
{
    size_t n = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (*p == '*') return true;
        if (!strncmp(p, "W/", 2)) p += 2;
        if (!strncmp(p, etag, n) && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t')) return true;
        while (*p && *p != ',') p++;
    }
    return false;
}

/* The public JWKS, cacheable for --jwks-max-age, with a strong ETag; 304 when the caller has it. */
static void h_jwks(jwtsd_request *r)
{
    char etag[48];
    char *copy = jwtsd_keys_jwks(r->tenant, etag);
    if (!copy) {
        jwtsd_reply_error(r, 503, JWTS_E_NO_MEMORY, "out of memory");
        return;
    }
    char cache[64] = "no-cache"; /* --jwks-max-age off */
    if (r->srv->cfg->jwks_max_age_ms >= 0)
        snprintf(cache, sizeof cache, "public, max-age=%lld", (long long)(r->srv->cfg->jwks_max_age_ms / 1000));
    const char *headers[] = {"Cache-Control", cache, "ETag", etag};
    const char *inm = jwtsd_header(r, "If-None-Match");
    if (inm && etag_matches(inm, etag)) {
        copy[0] = '\0';
        jwtsd_reply_owned(r, 304, "application/jwk-set+json", copy, 0, headers, 2);
        return;
    }
    jwtsd_reply_owned(r, 200, "application/jwk-set+json", copy, strlen(copy), headers, 2);
}

/* POST /v1/admin/keys/reload: reload the --key file now; a bad file keeps the keys in service. */
static void h_keys_reload(jwtsd_request *r)
{
    jwtsd_caller caller;
    if (!jwtsd_authenticate(r, true, &caller)) return;
    char err[1024];
    jwts_err rc = jwtsd_keys_reload(r->tenant, "admin", err, sizeof err);
    if (rc != JWTS_OK) {
        jwtsd_reply_error(r, rc == JWTS_E_UNSUPPORTED ? 409 : 422, rc, err);
        return;
    }
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"reloaded\":true,\"keys\":");
    pthread_mutex_lock(&r->tenant->keys_mu);
    jwts_buf_i64(&b, (int64_t)jwts_keyset_count(r->tenant->keyset));
    const jwts_key *active = jwts_keyset_active(r->tenant->keyset);
    jwts_buf_puts(&b, ",\"active_kid\":");
    if (active && jwts_key_kid(active))
        jwtsd_buf_str(&b, jwts_key_kid(active));
    else
        jwts_buf_puts(&b, "null");
    pthread_mutex_unlock(&r->tenant->keys_mu);
    jwts_buf_puts(&b, "}");
    reply_buf(r, 200, &b, NULL, 0);
}

static void h_metrics(jwtsd_request *r)
{
    jwts_metrics *m = jwtsd_observe_metrics(r->srv->observe);
    jwts_metrics_format fmt = jwts_metrics_format_from_accept(jwtsd_header(r, "Accept"));
    char *text = NULL;
    size_t len = 0;
    jwts_err rc = m ? jwts_metrics_render(m, fmt, &text, &len) : JWTS_E_UNSUPPORTED;
    if (rc != JWTS_OK) {
        reply_rc(r, 0, rc);
        return;
    }
    jwtsd_reply_owned(r, 200, jwts_metrics_content_type(fmt), text, len, NULL, 0);
}

static void h_healthz(jwtsd_request *r)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    jwtsd_reply_json(r, 200, ok, sizeof(ok) - 1);
}

static void h_readyz(jwtsd_request *r)
{
    if (atomic_load(&r->srv->shutting_down)) {
        jwtsd_reply_error(r, 503, JWTS_E_CLOSED, "shutting down");
        return;
    }
    /* One read of a key nobody writes: NOT_FOUND proves the store answers. The request's tenant's
     * store; with none (tenant mode, a host no tenant serves), every tenant's. */
    jwtsd_tenant *all = r->tenant ? r->tenant : r->srv->tenants;
    size_t n = r->tenant ? 1 : r->srv->ntenants;
    jwts_ctx ctx = r->ctx;
    if (!ctx.deadline_ns) ctx = jwts_ctx_with_timeout(r->srv->cfg->request_timeout_ms);
    for (size_t i = 0; i < n; i++) {
        jwts_session *s = NULL;
        jwts_err rc = jwts_store_get(all[i].store, &ctx, &(jwts_session_key){"jwtsessiond-readyz", "readyz"}, &s);
        jwts_session_free(s);
        if (rc != JWTS_OK && rc != JWTS_E_NOT_FOUND) {
            reply_rc(r, 503, rc);
            return;
        }
    }
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"status\":\"ready\",\"store\":");
    jwtsd_buf_str(&b, jwts_store_name(all[0].store));
    jwts_buf_puts(&b, "}");
    reply_buf(r, 200, &b, NULL, 0);
}

void jwtsd_route_dispatch(jwtsd_request *r)
{
    bool del = !strcmp(r->method, "DELETE");
    switch (r->route) {
    case JWTSD_ROUTE_SESSIONS:
        h_create(r);
        break;
    case JWTSD_ROUTE_SESSION:
        if (del)
            h_revoke(r);
        else if (!strcmp(r->method, "GET"))
            h_get_session(r);
        else
            h_patch(r);
        break;
    case JWTSD_ROUTE_AUTH:
    case JWTSD_ROUTE_AUTH_EXT:
        jwtsd_forward_auth(r);
        break;
    case JWTSD_ROUTE_LOGOUT:
        h_logout(r);
        break;
    case JWTSD_ROUTE_REFRESH:
        h_refresh(r);
        break;
    case JWTSD_ROUTE_USER_SESSIONS:
        del ? h_revoke_user(r) : h_list(r);
        break;
    case JWTSD_ROUTE_JWKS:
        h_jwks(r);
        break;
    case JWTSD_ROUTE_KEYS_RELOAD:
        h_keys_reload(r);
        break;
    case JWTSD_ROUTE_METRICS:
        h_metrics(r);
        break;
    case JWTSD_ROUTE_HEALTHZ:
        h_healthz(r);
        break;
    case JWTSD_ROUTE_READYZ:
        h_readyz(r);
        break;
    default:
        jwtsd_reply_error(r, 404, JWTS_E_NOT_FOUND, "no such endpoint");
        break;
    }
}
