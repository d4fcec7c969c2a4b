/*
 * routes.c - the jwtsessiond API: which path and method go to which handler, and the handlers.
 *
 *   POST   /v1/sessions                 admin       create a session -> 201 tokens
 *   GET    /v1/auth                     bearer      200 + X-Session-User/X-Session-Id, or 401; no body
 *   POST   /v1/refresh                  refresh tok rotate -> 200 new pair
 *   DELETE /v1/sessions/{id}            user/admin  revoke one session (admin: ?user_id=)
 *   PATCH  /v1/sessions/{id}            admin       replace metadata (?user_id=)
 *   GET    /v1/users/{id}/sessions      user/admin  list a user's sessions
 *   DELETE /v1/users/{id}/sessions      user/admin  revoke all of a user's sessions
 *   GET    /.well-known/jwks.json, /metrics, /healthz, /readyz
 *
 * A user may act on their own sessions only: the user comes from their access token's sub, so a
 * revoke or list can never reach another user's keys. See docs/daemon.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "daemon.h"

static const char *const route_names[JWTSD_ROUTE__COUNT] = {
    [JWTSD_ROUTE_NONE] = "other",
    [JWTSD_ROUTE_SESSIONS] = "/v1/sessions",
    [JWTSD_ROUTE_SESSION] = "/v1/sessions/{id}",
    [JWTSD_ROUTE_AUTH] = "/v1/auth",
    [JWTSD_ROUTE_REFRESH] = "/v1/refresh",
    [JWTSD_ROUTE_USER_SESSIONS] = "/v1/users/{id}/sessions",
    [JWTSD_ROUTE_JWKS] = "/.well-known/jwks.json",
    [JWTSD_ROUTE_METRICS] = "/metrics",
    [JWTSD_ROUTE_HEALTHZ] = "/healthz",
    [JWTSD_ROUTE_READYZ] = "/readyz",
};

/* The methods each route allows, as an Allow header value. */
static const char *const route_allow[JWTSD_ROUTE__COUNT] = {
    [JWTSD_ROUTE_SESSIONS] = "POST",
    [JWTSD_ROUTE_SESSION] = "DELETE, PATCH",
    [JWTSD_ROUTE_AUTH] = "GET, HEAD",
    [JWTSD_ROUTE_REFRESH] = "POST",
    [JWTSD_ROUTE_USER_SESSIONS] = "GET, DELETE",
    [JWTSD_ROUTE_JWKS] = "GET, HEAD",
    [JWTSD_ROUTE_METRICS] = "GET, HEAD",
    [JWTSD_ROUTE_HEALTHZ] = "GET, HEAD",
    [JWTSD_ROUTE_READYZ] = "GET, HEAD",
};

const char *jwtsd_route_name(jwtsd_route r)
{
    return r > JWTSD_ROUTE_NONE && r < JWTSD_ROUTE__COUNT ? route_names[r] : "other";
}

/* true when method is in the route's Allow list. */
static bool method_allowed(jwtsd_route route, const char *method)
{
    const char *allow = route_allow[route];
    size_t n = strlen(method);
    for (const char *p = allow; (p = strstr(p, method)); p += n)
        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0')) return true;
    return false;
}

bool jwtsd_route_wants_body(jwtsd_route route, const char *method)
{
    return !strcmp(method, "POST") || !strcmp(method, "PATCH");
}

bool jwtsd_route_uses_store(jwtsd_route route)
{
    return route != JWTSD_ROUTE_NONE && route != JWTSD_ROUTE_JWKS && route != JWTSD_ROUTE_METRICS &&
           route != JWTSD_ROUTE_HEALTHZ;
}

bool jwtsd_route_reads_only(jwtsd_route route) { return route == JWTSD_ROUTE_AUTH; }

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
        {"/readyz", JWTSD_ROUTE_READYZ},
    };
    const char *p = r->path;
    r->route = JWTSD_ROUTE_NONE;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        if (!strcmp(p, exact[i].path)) {
            r->route = exact[i].route;
            break;
        }
    }
    if (r->route == JWTSD_ROUTE_NONE && !strncmp(p, "/v1/sessions/", 13) && !strchr(p + 13, '/')) {
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

static void tokens_json(jwts_buf *b, const char *user_id, const jwts_tokens *t)
{
    jwts_buf_puts(b, "{\"session_id\":");
    jwtsd_buf_str(b, t->session_id);
    jwts_buf_puts(b, ",\"user_id\":");
    jwtsd_buf_str(b, user_id);
    jwts_buf_puts(b, ",\"token_type\":\"Bearer\",\"access_token\":");
    jwtsd_buf_str(b, t->access_token);
    jwts_buf_puts(b, ",\"refresh_token\":");
    jwtsd_buf_str(b, t->refresh_token);
    jwts_buf_puts(b, ",\"expires_in\":");
    jwts_buf_i64(b, t->expires_in_s);
    jwts_buf_puts(b, ",\"refresh_expires_in\":");
    jwts_buf_i64(b, t->refresh_expires_in_s);
    jwts_buf_puts(b, "}");
}

/* Answer status with the pair t as JSON. */
static void reply_tokens(jwtsd_request *r, unsigned status, const char *user_id, const jwts_tokens *t)
{
    jwts_buf b = {0};
    tokens_json(&b, user_id, t);
    reply_buf(r, status, &b, NULL, 0);
    jwts_buf_free(&b);
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
    static const char *const allowed[] = {"user_id", "metadata", NULL};
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
    if (rc == JWTS_OK) rc = jwtsd_body_object_text(body, "metadata", &metadata, msg, sizeof(msg));
    if (rc != JWTS_OK) {
        jwtsd_reply_error(r, 0, rc, msg);
        jwtsd_body_free(body);
        return;
    }
    jwts_tokens t = {0};
    rc = jwts_manager_create(r->srv->manager, &r->ctx, user_id, metadata, &t);
    free(metadata);
    if (rc != JWTS_OK) {
        reply_rc(r, rc == JWTS_E_MALFORMED ? 400 : 0, rc);
    } else {
        reply_tokens(r, 201, user_id, &t);
    }
    jwts_tokens_clear(&t);
    jwtsd_body_free(body);
}

/* ---- GET/HEAD /v1/auth: bodiless answers -------------------------------------------------------- */

/* Every answer of /v1/auth has an empty body (Content-Length: 0) and says everything in headers: a
 * proxy's auth subrequest (nginx auth_request) reads the headers only, and can keep its upstream
 * connection alive only when no body is left unread on it (issue #15 item 0). */

#define AUTH_DESC_MAX 256 /* bytes of an error description in a header */

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

/* A refused or failed check: 401 with a Bearer challenge for a credential's error, else the code's
 * status (503 + Retry-After for store trouble). The error name is in X-Session-Error and the
 * message in X-Session-Error-Description, on every status. */
static void reply_auth_error(jwtsd_request *r, jwts_err code, const char *msg, bool has_token)
{
    char desc[AUTH_DESC_MAX], challenge[AUTH_DESC_MAX + 128];
    auth_desc(msg && msg[0] ? msg : jwts_strerror(code), desc);
    bool credential = !(code == JWTS_E_UNAVAILABLE || code == JWTS_E_TIMEOUT || code == JWTS_E_CLOSED ||
                        code == JWTS_E_PROTOCOL || code == JWTS_E_INTERNAL || code == JWTS_E_NO_MEMORY);
    unsigned status = credential ? 401 : jwtsd_status_for(code);
    const char *h[8];
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
    } else if (status == 503) {
        h[2 * n] = "Retry-After", h[2 * n + 1] = "1", n++;
    }
    r->error = code;
    reply_empty(r, status, h, n);
}

static void h_auth(jwtsd_request *r)
{
    size_t len = 0;
    const char *token = jwtsd_bearer(r, &len);
    if (!token) {
        reply_auth_error(r, JWTS_E_INVALID_ARGUMENT, "missing bearer token (Authorization: Bearer ...)", false);
        return;
    }
    jwts_validation v;
    jwts_err rc = jwtsd_validate_token(r, token, len, &v);
    jwtsd_auth_answer(r, rc, &v);
}

void jwtsd_auth_answer(jwtsd_request *r, jwts_err rc, const jwts_validation *v)
{
    if (rc != JWTS_OK) {
        reply_auth_error(r, rc, jwts_errdetail(), true);
        return;
    }
    char user_header[JWTSD_USER_HEADER_MAX], expires[24];
    jwtsd_user_header(v->user_id, user_header); /* printable ASCII: see auth.c */
    snprintf(expires, sizeof expires, "%lld", (long long)v->token_expires_at_s);
    const char *headers[] = {"X-Session-User", user_header, "X-Session-Id", v->session_id, "X-Session-Expires", expires};
    reply_empty(r, 200, headers, 3);
}

static void h_refresh(jwtsd_request *r)
{
    static const char *const allowed[] = {"refresh_token", NULL};
    jwtsd_body *body;
    if (!can_issue(r) || !parse_body(r, allowed, &body)) return;
    char msg[256] = "";
    const char *token;
    jwts_err rc = jwtsd_body_string(body, "refresh_token", &token, msg, sizeof(msg));
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
    if (rc == JWTS_OK) rc = jwts_manager_refresh(r->srv->manager, &r->ctx, token, &t);
    if (rc != JWTS_OK) {
        unsigned status = jwtsd_status_for(rc);
        /* Any failure of the credential itself is 401; the store's own trouble keeps its status. */
        if (status < 500) status = 401;
        reply_rc(r, status, rc);
    } else {
        reply_tokens(r, 200, user_id, &t);
    }
    jwts_tokens_clear(&t);
    jwtsd_body_free(body);
}

static void h_revoke(jwtsd_request *r)
{
    jwtsd_caller caller;
    if (!jwtsd_authenticate(r, false, &caller)) return;
    if (!jwts_session_id_valid(r->param)) {
        jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT, "session id: 1-64 base64url characters");
        return;
    }
    char user[JWTS_USER_ID_MAX * 3 + 1];
    if (caller.kind == JWTSD_CALLER_ADMIN) {
        if (!admin_user(r, user, sizeof(user))) return;
    } else {
        snprintf(user, sizeof(user), "%s", caller.user.user_id);
    }
    jwts_err rc = jwts_manager_revoke(r->srv->manager, &r->ctx, user, r->param);
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
    if (!jwts_session_id_valid(r->param)) {
        jwtsd_reply_error(r, 400, JWTS_E_INVALID_ARGUMENT, "session id: 1-64 base64url characters");
        return;
    }
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
    rc = jwts_manager_update_metadata(r->srv->manager, &r->ctx, user, r->param, metadata);
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

static void session_json(jwts_buf *b, const jwts_session *s, const jwtsd_caller *caller)
{
    jwts_buf_puts(b, "{\"session_id\":");
    jwtsd_buf_str(b, s->session_id);
    jwts_buf_puts(b, ",\"created_at\":");
    jwts_buf_i64(b, s->created_at_ms / 1000);
    jwts_buf_puts(b, ",\"updated_at\":");
    jwts_buf_i64(b, s->updated_at_ms / 1000);
    jwts_buf_puts(b, ",\"last_seen\":");
    jwts_buf_i64(b, s->last_seen_ms / 1000);
    jwts_buf_puts(b, ",\"expires_at\":");
    jwts_buf_i64(b, s->expires_at_ms / 1000);
    jwts_buf_puts(b, ",\"idle_expires_at\":");
    jwts_buf_i64(b, s->idle_expires_at_ms / 1000);
    jwts_buf_puts(b, ",\"current\":");
    bool current = caller->kind == JWTSD_CALLER_USER && !strcmp(caller->user.session_id, s->session_id);
    jwts_buf_puts(b, current ? "true" : "false");
    jwts_buf_puts(b, ",\"metadata\":");
    jwts_buf_puts(b, s->metadata && s->metadata[0] ? s->metadata : "{}");
    jwts_buf_puts(b, "}");
}

static void h_list(jwtsd_request *r)
{
    jwtsd_caller caller;
    if (!user_allowed(r, &caller)) return;
    jwts_session_list list = {0};
    jwts_err rc = jwts_manager_list(r->srv->manager, &r->ctx, r->param, &list);
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
    size_t n = 0;
    jwts_err rc = jwts_manager_revoke_user(r->srv->manager, &r->ctx, r->param, &n);
    if (rc != JWTS_OK) {
        reply_rc(r, 0, rc);
        return;
    }
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"user_id\":");
    jwtsd_buf_str(&b, r->param);
    jwts_buf_puts(&b, ",\"revoked\":");
    jwts_buf_i64(&b, (int64_t)n);
    jwts_buf_puts(&b, "}");
    reply_buf(r, 200, &b, NULL, 0);
}

static void h_jwks(jwtsd_request *r)
{
    char *copy = strdup(r->srv->jwks_json);
    if (!copy) {
        jwtsd_reply_error(r, 503, JWTS_E_NO_MEMORY, "out of memory");
        return;
    }
    jwtsd_reply_owned(r, 200, "application/jwk-set+json", copy, strlen(copy), NULL, 0);
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
    /* One read of a key nobody writes: NOT_FOUND proves the store answers. */
    jwts_session *s = NULL;
    jwts_ctx ctx = r->ctx;
    if (!ctx.deadline_ns) ctx = jwts_ctx_with_timeout(r->srv->cfg->request_timeout_ms);
    jwts_err rc = jwts_store_get(r->srv->store, &ctx, &(jwts_session_key){"jwtsessiond-readyz", "readyz"}, &s);
    jwts_session_free(s);
    if (rc != JWTS_OK && rc != JWTS_E_NOT_FOUND) {
        reply_rc(r, 503, rc);
        return;
    }
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"status\":\"ready\",\"store\":");
    jwtsd_buf_str(&b, jwts_store_name(r->srv->store));
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
        del ? h_revoke(r) : h_patch(r);
        break;
    case JWTSD_ROUTE_AUTH:
        h_auth(r);
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
