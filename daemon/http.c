/*
 * http.c - the HTTP server on libmicrohttpd: an internal poll(2) thread pool (one thread per core
 * by default), limits on everything a client sends, request bodies, JSON responses and the access
 * log.
 *
 * poll, not epoll: libmicrohttpd 0.9.75's MHD_quiesce_daemon races its own epoll workers (both
 * remove the listening socket from the epoll set; the loser gets ENOENT and MHD_PANIC aborts the
 * process), which killed the daemon on SIGTERM now and then. With poll, quiescing only sets a flag
 * and wakes the workers. bench_daemon measured no loss at its 50 connections (docs/decisions.md).
 *
 * Limits: connections (--max-connections, --max-connections-per-ip, and guard.c's request-head
 * deadline and room for new clients), idle time per connection (--connection-timeout), request
 * path + query (--max-url, 414), headers (--max-header, 431), body (--max-body, 413, answered as
 * soon as the Content-Length or the received bytes pass it). Anything larger than the
 * per-connection memory pool is refused by libmicrohttpd itself before reaching us. Ambiguous
 * requests (a framing or credential header twice, Content-Length with chunked, a NUL in a header)
 * get 400 and the connection closes. Every answer we give is JSON; errors are
 * {"error":"JWTS_E_<NAME>","message":"..."}; a 503 carries Retry-After.
 *
 * With --tenants the request's tenant is chosen (tenants.c) before routing, from its Host header
 * and path; without, it is the one tenant, at no cost.
 *
 * A request is one jwtsd_request inside a req_state, created on the first call of the access
 * handler and freed in the completion callback, which also ends its span, counts it and logs it.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "daemon.h"

#define PARAM_MAX 1024 /* decoded {id} path segment */
#define HEADERS_COUNT_MAX 100
#define DRAIN_MAX (1024 * 1024) /* bytes of an oversized body read and dropped before answering 413 */
#define RETRY_AFTER_S "1"       /* Retry-After of a 503 */

typedef struct req_state {
    jwtsd_request r;
    int64_t t0_ns;
    jwtsd_span *span;
    char *body;
    size_t body_len;
    bool wants_body;
    bool too_large; /* the body passed --max-body: drop the rest, then answer 413 */
    size_t dropped; /* bytes dropped so far */
    /* an asynchronous auth check: its credential (in the request's headers) */
    const char *token;
    size_t token_len;
    jwtsd_cred cred;
    char param[PARAM_MAX];
} req_state;

/* ---- answers ------------------------------------------------------------------------------------ */

unsigned jwtsd_status_for(jwts_err code)
{
    switch (code) {
    case JWTS_OK:
        return 200;
    case JWTS_E_INVALID_ARGUMENT:
    case JWTS_E_MALFORMED:
        return 400;
    case JWTS_E_NOT_FOUND:
        return 404;
    case JWTS_E_EXPIRED:
    case JWTS_E_NOT_YET_VALID:
    case JWTS_E_REVOKED:
    case JWTS_E_BAD_SIGNATURE:
    case JWTS_E_ALG_NOT_ALLOWED:
    case JWTS_E_CLAIM_MISMATCH:
    case JWTS_E_KEY_NOT_FOUND:
    case JWTS_E_REFRESH_REUSED:
        return 401;
    case JWTS_E_CONFLICT:
        return 409;
    case JWTS_E_LIMIT:
        return jwtsd_storefull_seen() ? 503 : 429;
    case JWTS_E_UNSUPPORTED:
        return 400;
    case JWTS_E_UNAVAILABLE:
    case JWTS_E_TIMEOUT:
    case JWTS_E_PROTOCOL:
    case JWTS_E_CLOSED:
    case JWTS_E_NO_MEMORY:
        return 503;
    case JWTS_E_BAD_KEY:
    case JWTS_E_INTERNAL:
    case JWTS_E_WOULD_BLOCK: /* never answered: answer_locally hands such a request to a worker */
    default:
        return 500;
    }
}

/* Free a response body, wiping it first: token answers hold secrets (bodies are NUL-terminated). */
static void wipe_free(void *body)
{
    if (!body) return;
    OPENSSL_cleanse(body, strlen(body));
    free(body);
}

void jwtsd_reply_owned(jwtsd_request *r, unsigned status, const char *content_type, char *body, size_t len,
                       const char *const *headers, size_t n)
{
    if (r->status) { /* answered already: keep the first answer */
        free(body);
        return;
    }
    r->status = status;
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, body, wipe_free);
    if (!resp) {
        free(body);
        r->status = 500;
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    bool cache_control = false; /* a handler's own Cache-Control (the JWKS) replaces no-store */
    for (size_t i = 0; i < n; i++) {
        MHD_add_response_header(resp, headers[2 * i], headers[2 * i + 1]);
        cache_control |= !strcasecmp(headers[2 * i], MHD_HTTP_HEADER_CACHE_CONTROL);
    }
    if (!cache_control) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (atomic_load_explicit(&r->srv->shutting_down, memory_order_relaxed))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (r->deferred) { /* on a store worker: the HTTP thread queues it once the connection resumes */
        r->pending = resp;
        return;
    }
    if (MHD_queue_response(r->conn, status, resp) != MHD_YES) r->status = 500;
    MHD_destroy_response(resp);
}

void jwtsd_reply_json(jwtsd_request *r, unsigned status, const char *json, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy) {
        r->status = 500;
        return;
    }
    memcpy(copy, json, len);
    copy[len] = '\0';
    jwtsd_reply_owned(r, status, "application/json", copy, len, NULL, 0);
}

/* The error body; NULL when out of memory. */
static char *error_body(jwts_err code, const char *msg, size_t *len)
{
    jwts_buf b = {0};
    jwts_buf_puts(&b, "{\"error\":");
    jwtsd_buf_str(&b, jwts_errname(code));
    jwts_buf_puts(&b, ",\"message\":");
    jwtsd_buf_str(&b, msg && msg[0] ? msg : jwts_strerror(code));
    jwts_buf_puts(&b, "}");
    if (b.err != JWTS_OK) {
        jwts_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return b.data;
}

#define EXTRA_HEADERS_MAX 4

/* The error answer, with headers (n pairs, at most EXTRA_HEADERS_MAX - 2) and, on a 503,
 * Retry-After; close: end the connection after it. */
static void reply_error_headers(jwtsd_request *r, unsigned status, jwts_err code, const char *msg,
                                const char *const *headers, size_t n, bool close)
{
    if (r->status) return;
    size_t len = 0;
    char *body = error_body(code, msg, &len);
    r->error = code;
    if (!body) {
        r->status = 500;
        return;
    }
    if (!status) status = jwtsd_status_for(code);
    const char *all[2 * EXTRA_HEADERS_MAX];
    size_t k = 0;
    for (; k < n && k < EXTRA_HEADERS_MAX - 2; k++) all[2 * k] = headers[2 * k], all[2 * k + 1] = headers[2 * k + 1];
    if (status == 503) all[2 * k] = MHD_HTTP_HEADER_RETRY_AFTER, all[2 * k + 1] = RETRY_AFTER_S, k++;
    if (close && !atomic_load_explicit(&r->srv->shutting_down, memory_order_relaxed)) /* else added below */
        all[2 * k] = MHD_HTTP_HEADER_CONNECTION, all[2 * k + 1] = "close", k++;
    jwtsd_reply_owned(r, status, "application/json", body, len, all, k);
}

void jwtsd_reply_error(jwtsd_request *r, unsigned status, jwts_err code, const char *msg)
{
    reply_error_headers(r, status, code, msg, NULL, 0, false);
}

void jwtsd_reply_unauthorized(jwtsd_request *r, jwts_err code, const char *msg)
{
    /* RFC 6750 section 3: no error attribute when the request carried no token at all. The
     * description is a quoted-string: drop what could break out of it. */
    size_t tlen;
    char challenge[512];
    if (!jwtsd_bearer(r, &tlen)) {
        snprintf(challenge, sizeof(challenge), "Bearer realm=\"jwtsession\"");
    } else {
        char desc[300];
        size_t o = 0;
        for (const char *p = msg ? msg : ""; *p && o < sizeof(desc) - 1; p++)
            desc[o++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) ? ' ' : *p;
        desc[o] = '\0';
        snprintf(challenge, sizeof(challenge),
                 "Bearer realm=\"jwtsession\", error=\"invalid_token\", error_description=\"%s: %s\"",
                 jwts_errname(code), desc);
    }
    const char *headers[] = {MHD_HTTP_HEADER_WWW_AUTHENTICATE, challenge};
    reply_error_headers(r, 401, code, msg, headers, 1, false);
}

/* ---- request values -------------------------------------------------------------------------------- */

const char *jwtsd_header(const jwtsd_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

bool jwtsd_query(const jwtsd_request *r, const char *name, char *out, size_t cap)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    return v && v[0] && jwtsd_percent_decode(v, strlen(v), out, cap);
}

/* Keep URLs raw: routes.c splits the path first and decodes each segment itself, so an encoded
 * '/' inside a user id stays inside it. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

typedef struct size_tally {
    size_t header_bytes, header_count, query_bytes;
} size_tally;

static enum MHD_Result tally_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    size_tally *t = cls;
    size_t n = strlen(key) + (value ? strlen(value) : 0);
    if (kind == MHD_HEADER_KIND) {
        t->header_bytes += n + 4; /* ": " and CRLF */
        t->header_count++;
    } else {
        t->query_bytes += n + 2; /* '=' and '&' */
    }
    return MHD_YES;
}

/* Headers a request may carry once: a second copy means two parties may read two different
 * requests (or credentials) out of the same bytes. */
static const char *const SINGLE_HEADERS[] = {MHD_HTTP_HEADER_CONTENT_LENGTH, MHD_HTTP_HEADER_TRANSFER_ENCODING,
                                             MHD_HTTP_HEADER_AUTHORIZATION, MHD_HTTP_HEADER_HOST,
                                             MHD_HTTP_HEADER_CONTENT_TYPE};
#define NSINGLE (sizeof(SINGLE_HEADERS) / sizeof(SINGLE_HEADERS[0]))

typedef struct head_scan {
    const char *start, *end; /* the request head as received: request line, headers, empty line */
    const char *line_end;    /* where the previous header's value ended */
    unsigned seen[NSINGLE];
    const char *twice; /* the first header seen twice */
    bool hidden;       /* bytes of the head that no header accounts for (a NUL inside a value) */
} head_scan;

/* true when the bytes from a to b (both inside the head) are a line end as libmicrohttpd leaves
 * it: 1 or 2 bytes (LF, CRLF), or min..max bytes at the end of the head, all overwritten with NUL. */
static bool line_break(const head_scan *h, const char *a, const char *b, ptrdiff_t min, ptrdiff_t max)
{
    if (a < h->start || b > h->end || b - a < min || b - a > max) return false;
    for (; a < b; a++)
        if (*a) return false;
    return true;
}

/* libmicrohttpd 0.9.75 keeps the head in its read buffer, header by header, with each line end
 * overwritten by NUL, and reports value sizes as strlen(): a NUL inside a value silently cuts it.
 * Headers are reported in the order received, so the bytes between one value's end and the next
 * name must be just that line end; anything more is a hidden part of a value. A folded
 * (obsolete multi-line) header, copied elsewhere by libmicrohttpd, fails the same check: refusing
 * it is what RFC 9112 section 5.2 allows. */
static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size)
{
    head_scan *h = cls;
    (void)kind;
    if (!value || key < h->start || value < key || value + value_size > h->end ||
        (h->line_end && !line_break(h, h->line_end, key, 1, 2)))
        h->hidden = true;
    h->line_end = value ? value + value_size : NULL;
    for (size_t i = 0; i < NSINGLE; i++)
        if (key_size == strlen(SINGLE_HEADERS[i]) && !strcasecmp(key, SINGLE_HEADERS[i]) && ++h->seen[i] == 2 &&
            !h->twice)
            h->twice = SINGLE_HEADERS[i];
    return MHD_YES;
}

/* Refuse (400, then close) a request that different readers could take differently: a header of
 * SINGLE_HEADERS twice, Content-Length together with Transfer-Encoding, a NUL inside a header
 * value (a proxy in front may have passed, or checked, the whole value; we would see it cut). */
static bool check_unambiguous(req_state *st)
{
    jwtsd_request *r = &st->r;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    head_scan h = {.start = r->method, .end = r->method + (ci ? ci->header_size : 0)};
    MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, scan_header, &h);
    /* after the last header: its line end and the empty line (2 to 4 bytes) end the head */
    if (h.line_end && !line_break(&h, h.line_end, h.end, 2, 4)) h.hidden = true;
    char msg[128];
    if (h.hidden)
        snprintf(msg, sizeof(msg), "ambiguous request: a NUL byte inside a header");
    else if (h.twice)
        snprintf(msg, sizeof(msg), "ambiguous request: %s given more than once", h.twice);
    else if (h.seen[0] && h.seen[1])
        snprintf(msg, sizeof(msg), "ambiguous request: both Content-Length and Transfer-Encoding");
    else
        return true;
    reply_error_headers(r, 400, JWTS_E_MALFORMED, msg, NULL, 0, true);
    return false;
}

/* Answer requests over the header or URL limits. */
static bool check_sizes(req_state *st)
{
    jwtsd_request *r = &st->r;
    const jwtsd_config *cfg = r->srv->cfg;
    size_tally t = {0};
    MHD_get_connection_values(r->conn, (enum MHD_ValueKind)(MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND), tally_value, &t);
    if (strlen(r->path) + t.query_bytes > (size_t)cfg->max_url) {
        jwtsd_reply_error(r, 414, JWTS_E_LIMIT, "request URL too long (--max-url)");
        return false;
    }
    if (t.header_bytes > (size_t)cfg->max_header || t.header_count > HEADERS_COUNT_MAX) {
        jwtsd_reply_error(r, 431, JWTS_E_LIMIT, "request headers too large (--max-header)");
        return false;
    }
    return true;
}

/* Checks of a request that should carry a JSON body, made before reading it. */
static bool check_body_headers(req_state *st)
{
    jwtsd_request *r = &st->r;
    const char *ct = jwtsd_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = ct ? strcspn(ct, ";") : 0;
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
    if (!ct || n != 16 || strncasecmp(ct, "application/json", 16) != 0) {
        jwtsd_reply_error(r, 415, JWTS_E_UNSUPPORTED, "Content-Type must be application/json");
        return false;
    }
    /* A body declared too large is refused before it is sent when the client waits for
     * "100 Continue" or the body is huge; a moderately large one is read and dropped first, as
     * closing on unread data would reset the connection and lose our answer. */
    const char *cl = jwtsd_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > (unsigned long long)r->srv->cfg->max_body) {
        const char *expect = jwtsd_header(r, MHD_HTTP_HEADER_EXPECT);
        if (declared > DRAIN_MAX || (expect && strcasestr(expect, "100-continue"))) {
            jwtsd_reply_error(r, 413, JWTS_E_LIMIT, "request body too large (--max-body)");
            return false;
        }
        st->too_large = true;
    }
    return true;
}

/* Answer an error in the middle of an upload, then close. libmicrohttpd queues answers only
 * before the body or after all of it, so the answer is written to the socket directly (nothing else
 * is being sent on it), the sending side is shut, and the caller returns MHD_NO to close. */
static void reply_mid_upload(req_state *st, unsigned status, const char *reason, jwts_err code, const char *msg)
{
    jwtsd_request *r = &st->r;
    r->status = status;
    r->error = code;
    size_t len = 0;
    char *body = error_body(code, msg, &len);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!body || !ci) {
        free(body);
        return;
    }
    char head[256];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                      "Connection: close\r\nContent-Length: %zu\r\n\r\n",
                      status, reason, len);
    if (hn > 0 && (size_t)hn < sizeof(head) &&
        send(ci->connect_fd, head, (size_t)hn, MSG_NOSIGNAL | MSG_DONTWAIT) == hn)
        (void)!send(ci->connect_fd, body, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(ci->connect_fd, SHUT_WR);
    free(body);
}

/* Append an upload chunk. Past --max-body the rest is dropped (413 on the final call), and past
 * DRAIN_MAX dropped bytes (only a chunked body gets there: a declared length that large is refused
 * before the upload) the answer goes out at once and the connection closes. false: close now. */
static bool take_body(req_state *st, const char *data, size_t n)
{
    size_t max = (size_t)st->r.srv->cfg->max_body;
    if (st->r.status) return true; /* answered already: drop the rest */
    if (st->too_large || st->body_len + n > max) {
        st->too_large = true;
        st->dropped += n;
        if (st->dropped <= DRAIN_MAX) return true;
        reply_mid_upload(st, 413, "Content Too Large", JWTS_E_LIMIT, "request body too large (--max-body)");
        return false;
    }
    if (!st->body) {
        st->body = malloc(max + 1);
        if (!st->body) {
            reply_mid_upload(st, 503, "Service Unavailable", JWTS_E_NO_MEMORY, "out of memory");
            return false;
        }
    }
    memcpy(st->body + st->body_len, data, n);
    st->body_len += n;
    st->body[st->body_len] = '\0';
    return true;
}

static void dispatch(req_state *st)
{
    jwtsd_request *r = &st->r;
    if (st->too_large) {
        jwtsd_reply_error(r, 413, JWTS_E_LIMIT, "request body too large (--max-body)");
        return;
    }
    if (st->wants_body) {
        r->body = st->body ? st->body : "";
        r->body_len = st->body_len;
    }
    jwtsd_route_dispatch(r);
    if (!r->status) jwtsd_reply_error(r, 500, JWTS_E_INTERNAL, "no answer");
}

/* On a store worker: answer st (503 when it waited past its deadline), then hand the connection
 * back to its HTTP thread, which sends the answer. */
static void run_deferred(void *item)
{
    req_state *st = item;
    jwtsd_request *r = &st->r;
    jwtsd_storefull_reset(); /* thread-local, read while the answer is built on this thread */
    if (jwts_ctx_expired(&r->ctx))
        jwtsd_reply_error(r, 503, JWTS_E_TIMEOUT, "waited for a store worker past --request-timeout");
    else
        dispatch(st);
    MHD_resume_connection(r->conn);
}

/* Try st on this HTTP thread with a local-only ctx: a token check that the near cache answers
 * needs no store call, so it skips the hand-off to a worker. true: answered (queued); false: it
 * needs the store, nothing was answered or written, and a worker runs it again from the start. */
static bool answer_locally(req_state *st)
{
    jwtsd_request *r = &st->r;
    r->ctx.flags |= JWTS_CTX_LOCAL_ONLY;
    r->deferred = true; /* hold the answer in pending */
    dispatch(st);
    r->deferred = false;
    r->ctx.flags &= ~JWTS_CTX_LOCAL_ONLY;
    struct MHD_Response *resp = r->pending;
    r->pending = NULL;
    if (r->error == JWTS_E_WOULD_BLOCK) {
        if (resp) MHD_destroy_response(resp);
        r->status = 0;
        r->error = JWTS_OK;
        jwtsd_storefull_reset();
        return false;
    }
    if (resp) {
        if (MHD_queue_response(r->conn, r->status, resp) != MHD_YES) r->status = 500;
        MHD_destroy_response(resp);
    }
    return true;
}

/* Hand suspended st to a store worker; a full queue is answered 503 at once. Any thread may call
 * it (the HTTP thread, a store's I/O thread): the 503 waits in pending, and the HTTP thread queues
 * it once the connection resumes. */
static void to_worker(req_state *st)
{
    jwtsd_request *r = &st->r;
    if (jwtsd_workers_submit(r->srv->workers, st)) return;
    jwtsd_reply_error(r, 503, JWTS_E_LIMIT, "server busy: every store worker is taken (--store-workers)");
    MHD_resume_connection(r->conn);
}

/* The end of an asynchronous token check (on the store's I/O thread, or within the call): answer
 * and resume, or, when it needs a write, hand it to a worker that runs it from the start. */
static void auth_validated(void *arg, jwts_err rc, const jwts_validation *v)
{
    req_state *st = arg;
    jwtsd_request *r = &st->r;
    jwtsd_server *srv = r->srv;
    if (rc == JWTS_E_WOULD_BLOCK) {
        to_worker(st);
    } else {
        jwtsd_forward_answer(r, st->cred, st->token, st->token_len, rc, v, NULL);
        MHD_resume_connection(r->conn);
    }
    atomic_fetch_sub(&srv->async_pending, 1); /* st is not to be touched from here on */
}

/* Start the token check of suspended st without a worker (jwts_manager_validate_async on an
 * auto-pipelined store: the I/O thread finishes it). false: not started, st still suspended;
 * also when the answer needs the session (identity headers from metadata) or the credential is
 * missing or ambiguous: the worker's jwtsd_forward_auth answers those. */
static bool answer_async(req_state *st)
{
    jwtsd_request *r = &st->r;
    jwtsd_server *srv = r->srv;
    if (srv->cfg->identity_needs_session || atomic_load_explicit(&srv->async_unsupported, memory_order_relaxed))
        return false;
    st->cred = jwtsd_access_token(r, &st->token, &st->token_len);
    if (!st->token || st->cred == JWTSD_CRED_AMBIGUOUS) return false;
    atomic_fetch_add(&srv->async_pending, 1);
    jwts_err rc =
        jwts_manager_validate_async(r->tenant->manager, &r->ctx, st->token, st->token_len, auth_validated, st);
    if (rc == JWTS_OK) return true;
    atomic_fetch_sub(&srv->async_pending, 1);
    if (rc == JWTS_E_UNSUPPORTED) atomic_store(&srv->async_unsupported, true); /* ask once, not per request */
    return false;
}

/* Answer st now, or (a store call on a server with store workers) suspend its connection and let a
 * worker answer it; a full queue is answered 503 at once. With the near cache on, a token check is
 * first tried here (answer_locally); then, on a store that can, without a worker (answer_async). */
static void answer(req_state *st)
{
    jwtsd_request *r = &st->r;
    jwtsd_workers *w = r->srv->workers;
    if (!w || st->too_large || !jwtsd_route_uses_store(r->route)) {
        dispatch(st);
        return;
    }
    if (r->srv->local_first && jwtsd_route_reads_only(r->route) && answer_locally(st)) return;
    r->deferred = true;
    MHD_suspend_connection(r->conn);
    if (jwtsd_route_reads_only(r->route) && answer_async(st)) return;
    to_worker(st);
}

/* The guard's record of conn (NULL if it has none). */
static jwtsd_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A connection opened or closed: the guard tracks it (see guard.c). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    jwtsd_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? jwtsd_guard_open(srv->guard, ci->connect_fd) : NULL;
    } else if (*socket_context) {
        jwtsd_guard_close(srv->guard, *socket_context);
        *socket_context = NULL;
    }
}

/* The first call of a request: limits, routing, tracing. Errors are answered at once (the
 * connection then closes, as libmicrohttpd cannot know an upload is not pending); everything
 * else is answered on the final call, which keeps the connection alive. */
static void request_begin(jwtsd_server *srv, req_state *st, struct MHD_Connection *conn, const char *url,
                          const char *method)
{
    jwtsd_request *r = &st->r;
    st->t0_ns = jwts_monotonic_ns();
    r->srv = srv;
    r->conn = conn;
    r->method = method;
    r->path = url;
    r->ctx = (jwts_ctx){0};
    jwtsd_storefull_reset();
    jwtsd_conn *c = conn_of(conn);
    if (c && jwtsd_guard_head(srv->guard, c)) {
        reply_error_headers(r, 503, JWTS_E_LIMIT, "server busy: every connection is in use (--max-connections)", NULL,
                            0, true);
        return;
    }
    if (!check_unambiguous(st) || !check_sizes(st)) return;
    r->tenant = srv->tenants; /* without --tenants: the one tenant, no lookup */
    if (srv->tenant_mode && !jwtsd_tenant_pick(r)) return;
    bool routed = jwtsd_route_match(r, st->param, sizeof(st->param));
    st->span = jwtsd_span_begin(srv->observe, method, r->route, jwtsd_header(r, "traceparent"),
                                jwtsd_header(r, "uber-trace-id"), srv->cfg->request_timeout_ms, &r->ctx);
    if (!routed) return;
    st->wants_body = jwtsd_route_wants_body(r->route, method);
    if (st->wants_body) check_body_headers(st); /* a body where none belongs is read and ignored */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    jwtsd_server *srv = cls;
    req_state *st = *con_cls;
    if (!st) {
        st = malloc(sizeof(*st)); /* not calloc: param[] needs no zeroing */
        if (!st) return MHD_NO;
        memset(st, 0, offsetof(req_state, param));
        st->param[0] = '\0';
        *con_cls = st;
        atomic_fetch_add(&srv->in_flight, 1);
        request_begin(srv, st, conn, url, method);
        return MHD_YES;
    }
    if (*upload_data_size) {
        bool go_on = take_body(st, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return go_on ? MHD_YES : MHD_NO;
    }
    if (st->r.deferred && !st->r.pending && st->r.status) return MHD_NO; /* the worker could not build it */
    if (st->r.pending) {                                                 /* back from a store worker */
        struct MHD_Response *resp = st->r.pending;
        st->r.pending = NULL;
        if (MHD_queue_response(conn, st->r.status, resp) != MHD_YES) st->r.status = 500;
        MHD_destroy_response(resp);
    } else if (!st->r.status && !st->r.deferred) {
        answer(st);
    }
    return MHD_YES;
}

/* The client's address as text, for the access log. */
static void client_addr(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    jwtsd_server *srv = cls;
    req_state *st = *con_cls;
    if (!st) return;
    *con_cls = NULL;
    int64_t dur = jwts_monotonic_ns() - st->t0_ns;
    jwtsd_request *r = &st->r;
    jwtsd_request_done(srv->observe, st->span, r->route, r->status, r->error, dur);
    if (srv->tenant_mode) jwtsd_tenant_count(r);
    if (srv->cfg->access_log && jwtsd_log_enabled(JWTSD_LOG_INFO)) {
        char addr[64];
        client_addr(conn, addr, sizeof(addr));
        JWTSD_LOG(JWTSD_LOG_INFO, "request", JWTSD_S("method", r->method), JWTSD_S("path", r->path),
                  JWTSD_S("route", jwtsd_route_name(r->route)), JWTSD_I("status", r->status),
                  JWTSD_S("error", r->error ? jwts_errname(r->error) : NULL), JWTSD_I("duration_us", dur / 1000),
                  JWTSD_S("client", addr), JWTSD_S("tenant", srv->tenant_mode && r->tenant ? r->tenant->name : NULL),
                  JWTSD_S("outcome", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK      ? NULL
                                     : toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
                                     : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                                                                                     : "aborted"));
    }
    jwtsd_conn *c = conn_of(conn);
    if (c && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) jwtsd_guard_idle(srv->guard, c);
    if (st->r.pending) MHD_destroy_response(st->r.pending);
    free(st->body);
    free(st);
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* libmicrohttpd's fatal errors: logged (its reason, file and line) before the abort it requires,
 * so a crash says why. */
static void mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    (void)cls;
    JWTSD_LOG(JWTSD_LOG_ERROR, "libmicrohttpd panic", JWTSD_S("reason", reason ? reason : ""),
              JWTSD_S("file", file ? file : ""), JWTSD_I("line", (long long)line));
    abort();
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    JWTSD_LOG(JWTSD_LOG_DEBUG, "libmicrohttpd", JWTSD_S("detail", msg));
}

/* ---- the server --------------------------------------------------------------------------------- */

/* Parse "host:port", "[v6]:port", ":port" into addr. */
static bool parse_listen(const char *listen, struct sockaddr_storage *addr, char *err, size_t errlen)
{
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':' || (size_t)(close - listen - 1) >= sizeof(host)) goto bad;
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host)) goto bad;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!port[0] || *end || p < 0 || p > 65535) goto bad;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    int e = getaddrinfo(host[0] && strcmp(host, "*") ? host : "0.0.0.0", port, &hints, &res);
    if (e) {
        snprintf(err, errlen, "--listen %s: %s", listen, gai_strerror(e));
        return false;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return true;
bad:
    snprintf(err, errlen, "--listen must be ADDR:PORT or [V6ADDR]:PORT, not \"%s\"", listen);
    return false;
}

bool jwtsd_http_start(jwtsd_server *srv, char *err, size_t errlen)
{
    const jwtsd_config *cfg = srv->cfg;
    struct sockaddr_storage addr;
    if (!parse_listen(cfg->listen, &addr, err, errlen)) return false;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads ? (unsigned)cfg->threads : (unsigned)(cores > 0 ? cores : 1);
    unsigned timeout_s = (unsigned)((cfg->connection_timeout_ms + 999) / 1000);
    /* The pool holds the request line, headers and one record (56 bytes) per header and query
     * argument, and buffers I/O. Leave room above our own limits (an argument can take 2 bytes of
     * URL) so oversized requests reach check_sizes and get a JSON answer; libmicrohttpd would
     * otherwise stall them. Pools above 32 KiB are mmap'd: untouched pages cost no memory. */
    size_t pool = (size_t)(32 * cfg->max_url + 2 * cfg->max_header) + 16 * 1024;
    jwts_err rc = jwtsd_guard_new(cfg, &srv->guard);
    if (rc != JWTS_OK) {
        snprintf(err, errlen, "%s: %s", jwts_errname(rc), jwts_errdetail());
        return false;
    }
    /* The memory store never waits: its calls stay on the HTTP threads. */
    if (cfg->store_workers > 0 && srv->shared_store &&
        jwtsd_workers_new((size_t)cfg->store_workers, (size_t)cfg->max_connections, run_deferred, &srv->workers)) {
        snprintf(err, errlen, "cannot start %lld store workers", (long long)cfg->store_workers);
        return false;
    }
    srv->local_first = srv->workers && cfg->cache;
    MHD_set_panic_func(mhd_panic, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_TURBO |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    srv->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        pool, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        cfg->max_connections_per_ip > 0 ? (unsigned)cfg->max_connections_per_ip : 0u, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_UNESCAPE_CALLBACK, unescape_none,
        NULL, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!srv->mhd) {
        snprintf(err, errlen, "cannot listen on %s (address in use, or not permitted?)", cfg->listen);
        return false;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : 0;
    JWTSD_LOG(JWTSD_LOG_INFO, "listening", JWTSD_S("listen", cfg->listen), JWTSD_I("port", srv->port),
              JWTSD_I("threads", threads), JWTSD_I("max_connections", cfg->max_connections),
              JWTSD_I("max_connections_per_ip", cfg->max_connections_per_ip),
              JWTSD_I("head_timeout_ms", cfg->head_timeout_ms));
    return true;
}

void jwtsd_http_quiesce(jwtsd_server *srv)
{
    if (!srv->mhd) return;
    MHD_socket fd = MHD_quiesce_daemon(srv->mhd);
    if (fd == MHD_INVALID_SOCKET) return;
    /* New clients are refused now; the descriptor is closed only once the HTTP threads have
     * stopped (jwtsd_http_stop), as one of them may still be polling it. */
    shutdown(fd, SHUT_RDWR);
    srv->quiesced_fd = fd;
}

/* Wait until no asynchronous token check is in flight: each ends by its deadline
 * (--request-timeout); past twice that, closing the store ends the rest (JWTS_E_CLOSED). */
static void drain_async(jwtsd_server *srv)
{
    int64_t give_up = jwts_deadline_in_ms(2 * srv->cfg->request_timeout_ms + 1000);
    while (atomic_load(&srv->async_pending) > 0) {
        for (size_t i = 0; jwts_monotonic_ns() > give_up && i < srv->ntenants; i++)
            if (srv->tenants[i].store) jwts_store_close(srv->tenants[i].store);
        struct timespec ms = jwts_timespec_of_ns(JWTS_NS_PER_MS);
        nanosleep(&ms, NULL);
    }
}

void jwtsd_http_stop(jwtsd_server *srv)
{
    drain_async(srv);                 /* their completions use the workers and the connections */
    jwtsd_workers_free(srv->workers); /* answers what is queued: no connection stays suspended */
    srv->workers = NULL;
    if (srv->mhd) MHD_stop_daemon(srv->mhd); /* reports every connection closed to the guard */
    srv->mhd = NULL;
    if (srv->quiesced_fd >= 0) close(srv->quiesced_fd);
    srv->quiesced_fd = -1;
    if (!srv->guard) return;
    long deadline, room, busy;
    jwtsd_guard_stats(srv->guard, &deadline, &room, &busy);
    JWTSD_LOG(JWTSD_LOG_INFO, "connection guard", JWTSD_I("closed_at_head_deadline", deadline),
              JWTSD_I("closed_for_new_clients", room), JWTSD_I("answered_busy", busy));
    jwtsd_guard_free(srv->guard);
    srv->guard = NULL;
}
