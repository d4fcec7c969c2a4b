/*
 * daemon.h - what the files of jwtsessiond share: its configuration, the server state every
 * request sees, and the functions each file offers the others.
 *
 *   config.c  flags, environment and config file -> jwtsd_config
 *   keys.c    the signing key set (from a file, or generated) and the admin key digest
 *   tenant_file.c  the --tenants file -> tenant settings (docs/tenants.md)
 *   tenants.c the tenants: their stores, keys and managers; which tenant a request is for
 *   log.c     structured JSON log lines on stderr (never a token)
 *   json.c    a small JSON writer and the request-body readers
 *   auth.c    bearer tokens: the admin key and users' access tokens
 *   http.c    the libmicrohttpd server: limits, request bodies, responses, access log
 *   guard.c   slow and idle connections: request-head deadline, room kept for new clients
 *   workers.c the store workers: requests that wait on the store never block an HTTP thread
 *   storefull.c  tells a full store (503) from a client's limit (429)
 *   routes.c  the API endpoints
 *   forward.c forward-auth for every proxy: the original request, 401 or redirect, identity headers
 *   cookies.c cookie sessions: reading and setting the token cookies, the CSRF check
 *   gateway_parse.c  Cookie header values and original URLs, parsed without the HTTP server
 *   observe.c metrics and tracing (the seam to src/observe)
 *   webhook.c lifecycle events POSTed to --events-webhook from a bounded queue
 *   sweep.c   the expiry sweep on a timer (Redis stores: "expired" events)
 *   main.c    start-up, signals, graceful shutdown
 *
 * Internal to the daemon: names use the jwtsd_ prefix so they never clash with the library's.
 */
#ifndef JWTSD_DAEMON_H
#define JWTSD_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "jwtsession/buf.h"
#include "jwtsession/jwtsession.h"
#include "jwtsession/manager.h"
#include "jwtsession/metrics.h"
#include "jwtsession/observe.h"

#define JWTSD_VERSION "0.1.0"

/* ---- configuration (config.c) ---------------------------------------------------------------- */

/* Where an identity header's value comes from (--identity-headers NAME=SOURCE,...). */
typedef enum { JWTSD_ID_USER, JWTSD_ID_SESSION, JWTSD_ID_EXPIRES, JWTSD_ID_METADATA, JWTSD_ID_CLAIM } jwtsd_id_source;

#define JWTSD_IDENTITY_MAX 16  /* identity headers */
#define JWTSD_IDENTITY_NAME 64 /* bytes of a header name or a field name, with the NUL */

typedef struct jwtsd_identity_header {
    char name[JWTSD_IDENTITY_NAME]; /* the response header */
    jwtsd_id_source source;
    char field[JWTSD_IDENTITY_NAME]; /* metadata member or claim name (METADATA, CLAIM) */
} jwtsd_identity_header;

#define JWTSD_LIST_MAX 16 /* entries of --allowed-origins and --redirect-hosts */

typedef struct jwtsd_config {
    char *listen;         /* "ADDR:PORT", "[v6]:PORT" */
    char *store;          /* "memory" or a redis:// / unix:// URL */
    char *key_file;       /* NULL: generate an HS256 key */
    char *admin_key_file; /* path of a file holding the admin API key */
    char *admin_key;      /* the admin key itself (JWTSESSION_ADMIN_KEY); wiped on free */
    char *issuer;
    char *audience;
    int64_t access_ttl_ms;
    int64_t refresh_ttl_ms;
    int64_t idle_timeout_ms; /* 0 or JWTS_OFF: none */
    int64_t absolute_lifetime_ms;
    int64_t max_sessions;        /* per user; 0 or JWTS_OFF: unlimited */
    char *limit_policy;          /* "refuse" | "evict-oldest" */
    int64_t refresh_grace_ms;    /* JWTS_OFF: no grace window */
    int64_t memory_max_sessions; /* memory store capacity */
    int64_t threads;             /* 0: one per core */
    int64_t max_connections;
    int64_t max_connections_per_ip; /* JWTS_OFF: no per-address limit */
    int64_t reserve_connections;    /* percent of max_connections kept for new clients */
    int64_t connection_timeout_ms;
    int64_t head_timeout_ms;     /* from accept to a complete request head */
    int64_t request_timeout_ms;  /* bound of the store calls of one request */
    int64_t store_workers;       /* threads that run requests waiting on the store; JWTS_OFF: HTTP threads */
    int64_t max_body;            /* bytes */
    int64_t max_header;          /* bytes of all request headers together */
    int64_t max_url;             /* bytes of the request path plus query */
    int64_t shutdown_timeout_ms; /* how long SIGTERM waits for in-flight requests */
    char *log_level;             /* error | warn | info | debug */
    bool access_log;
    bool verify_only; /* no signing key: validate/revoke only */
    int64_t jwks_max_age_ms;         /* Cache-Control max-age of the JWKS (docs/keys.md) */
    int64_t key_refetch_interval_ms; /* verify-only: an unknown kid reloads --key at most this often */
    bool cache;       /* near cache on a shared store */
    int64_t cache_max_entries;
    int64_t cache_max_stale_ms;
    char *config_file; /* where the file values came from, or NULL */
    char *tenants_file; /* --tenants: several issuers, keys and stores in one daemon; NULL: one */
    /* gateways and browsers (forward.c, cookies.c; docs/gateways.md) */
    char *identity_headers_spec; /* --identity-headers, parsed into identity[] */
    jwtsd_identity_header identity[JWTSD_IDENTITY_MAX];
    size_t identity_count;
    bool identity_needs_session; /* a metadata.FIELD source: validation returns the session */
    bool cookies;                /* set, read and clear the token cookies */
    char *cookie_name;           /* prefix: <name>_access, <name>_refresh */
    char *cookie_domain;         /* "" : host-only cookies */
    char *cookie_path;           /* Path of the access cookie */
    char *cookie_refresh_path;   /* Path of the refresh cookie: only the refresh and logout calls see it */
    char *cookie_samesite;       /* Strict | Lax | None */
    bool cookie_secure;
    char *allowed_origins_spec; /* --allowed-origins, parsed into allowed_origins[] */
    char *allowed_origins[JWTSD_LIST_MAX];
    size_t allowed_origins_count;
    char *login_url;           /* "" : never redirect */
    char *redirect_hosts_spec; /* --redirect-hosts, parsed into redirect_hosts[] */
    char *redirect_hosts[JWTSD_LIST_MAX];
    size_t redirect_hosts_count;
    /* lifecycle events (webhook.c; docs/events.md) */
    char *events_webhook;             /* "" : none */
    char *events_webhook_secret_file; /* the HMAC key's file */
    char *events_webhook_ca;          /* "" : the system's CAs */
    int64_t events_queue;             /* events waiting for delivery */
    bool events_new_device;           /* emit new_device events (a listing per create) */
    int64_t events_retry_ms;          /* how long a batch is retried */
    int64_t events_sweep_interval_ms; /* Redis stores: cleanup (expiry sweep) period; 0: none */
} jwtsd_config;

/* What parsing argv asks for. */
typedef enum { JWTSD_CONFIG_RUN, JWTSD_CONFIG_HELP, JWTSD_CONFIG_VERSION, JWTSD_CONFIG_ERROR } jwtsd_config_result;

/* Fill cfg from defaults, the config file (--config / JWTSESSION_CONFIG), the environment and
 * argv, in rising precedence. On JWTSD_CONFIG_ERROR a message is in err. */
jwtsd_config_result jwtsd_config_load(jwtsd_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Print --help (every option, its environment twin and default) to stdout. */
void jwtsd_config_help(const char *prog);

/* Free cfg's strings (wiping the admin key). */
void jwtsd_config_free(jwtsd_config *cfg);

/* ---- logging (log.c) ------------------------------------------------------------------------- */

typedef enum { JWTSD_LOG_ERROR = 0, JWTSD_LOG_WARN, JWTSD_LOG_INFO, JWTSD_LOG_DEBUG } jwtsd_log_level;

/* One field of a log line: a string (s) or an integer (i, when s is NULL and is_int). */
typedef struct jwtsd_kv {
    const char *key;
    const char *s;
    int64_t i;
    bool is_int;
} jwtsd_kv;

#define JWTSD_S(k, v) ((jwtsd_kv){.key = (k), .s = (v)})
#define JWTSD_I(k, v) ((jwtsd_kv){.key = (k), .i = (int64_t)(v), .is_int = true})
/* JWTSD_LOG(level, msg, JWTSD_S("key", "value"), JWTSD_I("n", 1), ...): at least one field. */
#define JWTSD_LOG(level, msg, ...)                                                                                     \
    jwtsd_log((level), (msg), (const jwtsd_kv[]){__VA_ARGS__},                                                         \
              sizeof((const jwtsd_kv[]){__VA_ARGS__}) / sizeof(jwtsd_kv))

/* Set the lowest level written (default info). false for an unknown name. */
bool jwtsd_log_set_level(const char *name);

/* true when level would be written. */
bool jwtsd_log_enabled(jwtsd_log_level level);

/* Write one JSON line {"ts":..,"level":..,"msg":..,fields...} to stderr with one write(2). */
void jwtsd_log(jwtsd_log_level level, const char *msg, const jwtsd_kv *kv, size_t n);

/* ---- JSON (json.c) ----------------------------------------------------------------------------- */

/* Responses are written into the library's jwts_buf (jwtsession/buf.h); strings go in as JSON strings. */
static inline void jwtsd_buf_str(jwts_buf *b, const char *s)
{
    jwts_buf_json_str(b, s, strlen(s), JWTS_BUF_JSON_QUOTE);
}

/* A parsed request body: a JSON object whose members were checked against the allowed names. */
typedef struct jwtsd_body jwtsd_body;

/* Parse body (len bytes) as one JSON object with no duplicate members and only the names in
 * allowed (NULL-terminated). JWTS_E_MALFORMED / JWTS_E_INVALID_ARGUMENT with a message in msg. */
jwts_err jwtsd_body_parse(const char *body, size_t len, const char *const *allowed, jwtsd_body **out, char *msg,
                          size_t msglen);
void jwtsd_body_free(jwtsd_body *b);

/* The string member name: NULL when absent; JWTS_E_INVALID_ARGUMENT when not a string. */
jwts_err jwtsd_body_string(const jwtsd_body *b, const char *name, const char **out, char *msg, size_t msglen);

/* The raw JSON text of object member name, byte for byte as sent (malloc'd, NUL-terminated);
 * NULL when absent; JWTS_E_INVALID_ARGUMENT when present but not an object. */
jwts_err jwtsd_body_object_text(const jwtsd_body *b, const char *name, char **out, char *msg, size_t msglen);

/* The "device" member ({"ip":..., "user_agent":...}, each a string or null): *present tells
 * whether there is one; the strings (NULL: absent or null) live as long as b. Other members or
 * types are JWTS_E_INVALID_ARGUMENT with a message; the values themselves are checked by the
 * caller (jwts_client_ip_valid, jwts_user_agent_valid). */
jwts_err jwtsd_body_device(const jwtsd_body *b, bool *present, const char **ip, const char **user_agent, char *msg,
                           size_t msglen);

/* Decode %XX escapes of s (n bytes) into out (cap bytes, NUL-terminated). false for a bad escape,
 * a NUL byte, or no room. */
bool jwtsd_percent_decode(const char *s, size_t n, char *out, size_t cap);

/* ---- observability (observe.c) ------------------------------------------------------------------ */

/* The routes, for metrics labels and span names (low cardinality, never an id). */
typedef enum jwtsd_route {
    JWTSD_ROUTE_NONE = 0,      /* no route matched */
    JWTSD_ROUTE_SESSIONS,      /* /v1/sessions */
    JWTSD_ROUTE_SESSION,       /* /v1/sessions/{id} */
    JWTSD_ROUTE_AUTH,          /* /v1/auth */
    JWTSD_ROUTE_REFRESH,       /* /v1/refresh */
    JWTSD_ROUTE_USER_SESSIONS, /* /v1/users/{id}/sessions */
    JWTSD_ROUTE_JWKS,          /* /.well-known/jwks.json */
    JWTSD_ROUTE_KEYS_RELOAD,   /* /v1/admin/keys/reload */
    JWTSD_ROUTE_METRICS,       /* /metrics */
    JWTSD_ROUTE_HEALTHZ,       /* /healthz */
    JWTSD_ROUTE_READYZ,        /* /readyz */
    JWTSD_ROUTE_AUTH_EXT,      /* /v1/auth/{path}: Envoy ext_authz, any method */
    JWTSD_ROUTE_LOGOUT,        /* /v1/logout */
    JWTSD_ROUTE__COUNT
} jwtsd_route;

/* The route's template ("/v1/sessions/{id}"); "other" for NONE. */
const char *jwtsd_route_name(jwtsd_route r);

typedef struct jwtsd_observe jwtsd_observe;
typedef struct jwtsd_span jwtsd_span;

/* Metrics registry, HTTP metrics and (when the library has one) the OTLP tracer from OTEL_*. */
jwts_err jwtsd_observe_new(const jwtsd_config *cfg, jwtsd_observe **out);
void jwtsd_observe_free(jwtsd_observe *o);

/* The registry (for GET /metrics and the library's jwts_metrics_* calls); may be NULL. */
jwts_metrics *jwtsd_observe_metrics(jwtsd_observe *o);

/* Wrap the store in the observing decorator when the library has one; else returns st. The
 * returned store owns st. */
jwts_store *jwtsd_observe_store(jwtsd_observe *o, jwts_store *st);

/* Start the server span of one request, continuing traceparent / uber-trace-id (either may be
 * NULL). ctx gets the request's deadline and this span as its parent. NULL when not traced. */
jwtsd_span *jwtsd_span_begin(jwtsd_observe *o, const char *method, jwtsd_route route, const char *traceparent,
                             const char *uber_trace_id, int64_t timeout_ms, jwts_ctx *ctx);

/* End the span of one request and count it: status code, error (JWTS_OK: none), duration. */
void jwtsd_request_done(jwtsd_observe *o, jwtsd_span *span, jwtsd_route route, unsigned status, jwts_err rc,
                        int64_t duration_ns);

/* The tracer (for the manager's operation spans); NULL when not tracing. */
jwts_tracer *jwtsd_observe_tracer(jwtsd_observe *o);

/* Export every ended span (SIGTERM). */
void jwtsd_observe_flush(jwtsd_observe *o, int64_t timeout_ms);

/* ---- slow and idle connections (guard.c) ------------------------------------------------------- */

typedef struct jwtsd_guard jwtsd_guard;
typedef struct jwtsd_conn jwtsd_conn;

/* Start the guard (its reaper thread) with cfg's limits. */
jwts_err jwtsd_guard_new(const jwtsd_config *cfg, jwtsd_guard **out);

/* Stop the reaper and free g; only after the HTTP server has stopped. */
void jwtsd_guard_free(jwtsd_guard *g);

/* A connection was accepted on socket fd: track it (NULL when out of memory), closing the oldest
 * connection still waiting for a request head when the server is short of room. */
jwtsd_conn *jwtsd_guard_open(jwtsd_guard *g, int fd);

/* c's request head is complete: its deadline no longer applies. true when c arrived while every
 * connection was busy: answer it 503 and close it. */
bool jwtsd_guard_head(jwtsd_guard *g, jwtsd_conn *c);

/* c answered a request and stays open: its next head is due within --connection-timeout. */
void jwtsd_guard_idle(jwtsd_guard *g, jwtsd_conn *c);

/* c was closed: forget and free it. */
void jwtsd_guard_close(jwtsd_guard *g, jwtsd_conn *c);

/* Connections closed at their head deadline, closed to make room, and answered 503 so far. */
void jwtsd_guard_stats(jwtsd_guard *g, long *closed_deadline, long *closed_for_room, long *refused);

/* ---- full stores (storefull.c) ------------------------------------------------------------------ */

/* Wrap st so that a JWTS_E_LIMIT it returns ("the store is full": Redis OOM, memory store at
 * capacity) is remembered for the calling thread. The returned store owns st; NULL on no memory. */
jwts_store *jwtsd_storefull_wrap(jwts_store *st);

/* Forget the calling thread's mark (at the start of each request). */
void jwtsd_storefull_reset(void);

/* true when a store call of this thread returned JWTS_E_LIMIT since the last reset. */
bool jwtsd_storefull_seen(void);

/* ---- the server state --------------------------------------------------------------------------- */

/* ---- store workers (workers.c) ------------------------------------------------------------ */

typedef struct jwtsd_workers jwtsd_workers;

/* threads workers running run(item) for each submitted item, FIFO, at most capacity queued. */
jwts_err jwtsd_workers_new(size_t threads, size_t capacity, void (*run)(void *item), jwtsd_workers **out);

/* Queue item; false when the queue is full or the workers are stopping (the caller answers). */
bool jwtsd_workers_submit(jwtsd_workers *w, void *item);

/* Run what is still queued, stop and join the threads, free w (NULL is fine). */
void jwtsd_workers_free(jwtsd_workers *w);

/* ---- tenants (tenant_file.c, tenants.c; docs/tenants.md) ------------------------------------ */

#define JWTSD_TENANTS_MAX 64     /* tenants of one daemon */
#define JWTSD_TENANT_NAME_MAX 32 /* [a-z0-9-]{1,32} */
#define JWTSD_TENANT_HOST_MAX 253
#define JWTSD_TENANT_PATH_MAX 64

struct jwtsd_server;

/* One tenant: an issuer, audience and key set with its own store, session manager and admin key.
 * Without --tenants the daemon has one, built from its own flags, that every request goes to. */
typedef struct jwtsd_tenant {
    /* settings (owned strings; NULL: unset) */
    char *name;           /* "default" for the daemon's own tenant */
    char *host;           /* exact Host (lower case, no port); NULL: any host */
    char *path;           /* path prefix ("/t/acme"); NULL: none */
    size_t path_len;
    char *issuer;
    char *audience;       /* "": not checked */
    char *key_file;       /* NULL: a generated HS256 key */
    char *admin_key_file; /* NULL and admin_key NULL: the admin API of this tenant is off */
    char *admin_key;      /* the key itself (JWTSESSION_ADMIN_KEY, default tenant only); wiped on free */
    char *store_url;      /* the store this tenant opens */
    int64_t max_sessions; /* per user; 0 or JWTS_OFF: unlimited */
    int line;             /* the line of its [tenant NAME] header (0: the default tenant) */
    /* state */
    struct jwtsd_server *srv;
    jwts_store *store;
    jwts_keyset *keyset; /* the set the manager uses; replaced by a reload (keys.c) */
    jwts_manager *manager;
    /* keys_mu serializes reloads and guards keyset, jwks_json and jwks_etag */
    pthread_mutex_t keys_mu;
    char *jwks_json;                /* the public JWKS, rendered at each (re)load */
    char jwks_etag[48];             /* its strong ETag: "base64url of 16 bytes of its SHA-256" */
    atomic_llong key_refetch_at_ms; /* verify-only: when the last unknown-kid reload was asked */
    atomic_bool key_refetch_asked;  /* ... and not yet done by the main thread */
    struct jwtsd_key_metrics *key_metrics;
    bool admin_enabled;
    uint8_t admin_digest[32]; /* SHA-256 of the admin key */
    struct jwtsd_sweep *sweep; /* NULL: no expiry sweep thread */
    struct jwtsd_tenant_metrics *metrics; /* per-tenant counters (tenant mode only) */
} jwtsd_tenant;

/* Read the tenants file path (name = value lines, [tenant NAME] sections) into *out (n tenants,
 * settings only, every value checked). cfg gives the daemon's defaults. false with "file:line:
 * message" in err. */
bool jwtsd_tenants_parse(const jwtsd_config *cfg, const char *path, jwtsd_tenant **out, size_t *n, char *err,
                         size_t errlen);

/* Free the settings and state of n tenants and the array (NULL is fine); stores, managers and key
 * sets must be closed first (jwtsd_tenants_close). */
void jwtsd_tenants_free(jwtsd_tenant *t, size_t n);

typedef struct jwtsd_server {
    const jwtsd_config *cfg;
    jwtsd_tenant *tenants; /* at least one */
    size_t ntenants;
    bool tenant_mode; /* --tenants: requests are matched by host or path; else every one is tenants[0] */
    bool shared_store; /* some tenant's store is not the memory store: start the store workers */
    jwtsd_observe *observe;
    atomic_bool shutting_down;
    atomic_long in_flight; /* requests started and not yet completed */
    struct MHD_Daemon *mhd;
    jwtsd_guard *guard;
    jwtsd_workers *workers;        /* NULL: store calls run on the HTTP threads (memory store) */
    bool local_first;              /* near cache on: token checks try the HTTP thread first (http.c) */
    atomic_long async_pending;     /* token checks waiting on jwts_manager_validate_async (http.c) */
    atomic_bool async_unsupported; /* the store said it has no asynchronous path: use workers */
    int quiesced_fd;               /* the listening socket after quiesce, closed by jwtsd_http_stop */
    uint16_t port;                 /* the bound port */
    struct jwtsd_webhook *webhook; /* NULL: no --events-webhook */
} jwtsd_server;

/* Build srv's tenants: from cfg->tenants_file, or the one default tenant from cfg's flags; then
 * open each one's store, keys, admin key and manager. false with a message in err (*bad_setting:
 * a setting is wrong, exit 2). */
bool jwtsd_tenants_open(jwtsd_server *srv, char *err, size_t errlen, bool *bad_setting);

/* Start each tenant's expiry sweep (Redis stores). false when a thread cannot start. */
bool jwtsd_tenants_start_sweeps(jwtsd_server *srv);

/* Stop the expiry sweeps (idempotent). */
void jwtsd_tenants_stop_sweeps(jwtsd_server *srv);

/* Stop the sweeps and free the session managers (before the webhook they send events to). */
void jwtsd_tenants_close(jwtsd_server *srv);

/* Free what jwtsd_tenants_close left: JWKS, stores, key sets, metrics, the tenants themselves. */
void jwtsd_tenants_free_all(jwtsd_server *srv);


/* ---- lifecycle events (webhook.c) -------------------------------------------------------------- */

typedef struct jwtsd_webhook jwtsd_webhook;

/* A webhook sender for cfg's --events-webhook (NULL in *out when unset), its counters registered
 * in metrics (may be NULL), its thread started. false with a message in err for a bad URL or
 * secret file. */
bool jwtsd_webhook_new(const jwtsd_config *cfg, jwts_metrics *metrics, jwtsd_webhook **out, char *err, size_t errlen);

/* Queue ev's JSON for w, with a "tenant" member naming tenant (NULL: none), never blocking; a full
 * queue drops it (counted). Called from each tenant's manager's on_event sink (tenants.c). */
void jwtsd_webhook_event(jwtsd_webhook *w, const char *tenant, const jwts_event *ev);

/* Stop taking events and deliver what is queued for up to drain_ms, then stop the thread (what is
 * left counts as dropped). NULL is fine; idempotent. */
void jwtsd_webhook_stop(jwtsd_webhook *w, int64_t drain_ms);

/* Stop (without draining) and free w. NULL is fine. */
void jwtsd_webhook_free(jwtsd_webhook *w);

/* ---- the expiry sweep (sweep.c) ----------------------------------------------------------------- */

typedef struct jwtsd_sweep jwtsd_sweep;

/* On a Redis store, a thread running jwts_manager_cleanup of tenant t every
 * --events-sweep-interval (*out NULL for other stores or interval 0). false when the thread cannot
 * start. */
bool jwtsd_sweep_start(const jwtsd_config *cfg, jwtsd_tenant *t, jwtsd_sweep **out);

/* Stop the thread and free s (NULL is fine). */
void jwtsd_sweep_stop(jwtsd_sweep *s);

/* ---- keys (keys.c) ----------------------------------------------------------------------------- */

/* The key set of key_file, or (NULL) a generated HS256 key (with a warning); cfg says whether
 * the daemon is verify-only. */
jwts_err jwtsd_keys_load(const jwtsd_config *cfg, const char *key_file, jwts_keyset **out, char *err, size_t errlen);

/* Render the public JWKS of t->keyset and its ETag into t (under keys_mu). At start-up. */
jwts_err jwtsd_keys_publish(jwtsd_tenant *t);

/* Register t's key metrics (reloads by result, keys by state; with a tenant label in tenant
 * mode) and set the gauges. */
jwts_err jwtsd_keys_observe(jwtsd_tenant *t);

/* Reload t's key file: read and check it whole, then publish its JWKS and hand its set to the
 * manager; the previous set is freed once no call uses it. On any failure the keys in service
 * stay and err says why (logged too). why names the trigger in the log ("SIGHUP", "admin",
 * "unknown kid"). Safe from any thread; reloads are serialized. */
jwts_err jwtsd_keys_reload(jwtsd_tenant *t, const char *why, char *err, size_t errlen);

/* The manager's key-miss hook (arg: the tenant): in verify-only mode with a key file, ask the
 * main thread for a reload, at most once per --key-refetch-interval. Never blocks. */
void jwtsd_keys_miss(void *arg);

/* The copy of t's JWKS and its ETag to answer with; NULL when out of memory. */
char *jwtsd_keys_jwks(jwtsd_tenant *t, char etag[48]);

/* Free the key metrics of t (NULL is fine). */
void jwtsd_keys_observe_free(jwtsd_tenant *t);

/* t's admin key (the key itself, or its file), as a SHA-256 digest in t. false on error (err). */
bool jwtsd_admin_key_load(jwtsd_tenant *t, char *err, size_t errlen);

/* ---- requests (http.c) and their handlers (routes.c, auth.c) ------------------------------------- */

/* One request as the handlers see it. */
typedef struct jwtsd_request {
    jwtsd_server *srv;
    jwtsd_tenant *tenant; /* whose request it is; NULL only for /healthz, /readyz, /metrics of no tenant */
    struct MHD_Connection *conn;
    const char *method;
    const char *path; /* raw (still %-encoded) path, without the tenant's path prefix */
    jwtsd_route route;
    const char *param; /* the {id} segment, decoded (NULL if none) */
    const char *body;  /* NUL-terminated, body_len bytes (NULL if none) */
    size_t body_len;
    jwts_ctx ctx; /* deadline and trace parent for library calls */
    /* what the handler answered */
    unsigned status;
    jwts_err error;               /* JWTS_OK, or the error code answered */
    bool deferred;                /* on a store worker, or tried locally: the answer waits in pending */
    struct MHD_Response *pending; /* the answer, queued by the HTTP thread once resumed */
} jwtsd_request;

/* Answer with status and a JSON body (copied). */
void jwtsd_reply_json(jwtsd_request *r, unsigned status, const char *json, size_t len);

/* Answer with status and body taken over (a NUL-terminated malloc'd string, wiped and freed by the
 * server once sent). headers: n name/value pairs added to the answer. */
void jwtsd_reply_owned(jwtsd_request *r, unsigned status, const char *content_type, char *body, size_t len,
                       const char *const *headers, size_t n);

/* Answer {"error":"JWTS_E_<NAME>","message":msg} with status (0: the code's usual status). */
void jwtsd_reply_error(jwtsd_request *r, unsigned status, jwts_err code, const char *msg);

/* As jwtsd_reply_error with a WWW-Authenticate: Bearer challenge (RFC 6750). */
void jwtsd_reply_unauthorized(jwtsd_request *r, jwts_err code, const char *msg);

/* The usual HTTP status of a library error outside credential checks: as the code says, except
 * that JWTS_E_LIMIT from a full store is 503 (the server's trouble) rather than 429. */
unsigned jwtsd_status_for(jwts_err code);

/* A request header (NULL if absent) and a decoded query argument into out (false if absent or bad). */
const char *jwtsd_header(const jwtsd_request *r, const char *name);
bool jwtsd_query(const jwtsd_request *r, const char *name, char *out, size_t cap);

/* Start and stop the HTTP server of srv. */
bool jwtsd_http_start(jwtsd_server *srv, char *err, size_t errlen);
void jwtsd_http_quiesce(jwtsd_server *srv);
void jwtsd_http_stop(jwtsd_server *srv);

/* Tenant mode: set r->tenant from the Host header and path, and strip its path prefix from
 * r->path. false (and a 404 answer) when no tenant matches and the path is not /healthz, /readyz
 * or /metrics (r->tenant is then NULL). */
bool jwtsd_tenant_pick(jwtsd_request *r);

/* Tenant mode: count r's answer in its tenant's jwtsessiond_tenant_requests_total. */
void jwtsd_tenant_count(const jwtsd_request *r);

/* Route path (raw) to r->route and r->param; false (and an answer) when it fails. */
bool jwtsd_route_match(jwtsd_request *r, char *param, size_t cap);

/* Whether route takes a request body for method. */
bool jwtsd_route_wants_body(jwtsd_route route, const char *method);

/* true when route's handler calls the store (it then runs on a store worker, if there are any). */
bool jwtsd_route_uses_store(jwtsd_route route);

/* true when route's usual answer only reads (a token check): worth trying on the HTTP thread
 * against the near cache before a store worker (http.c, answer_locally). */
bool jwtsd_route_reads_only(jwtsd_route route);

/* Run the handler of r->route (the answer is always set on return). */
void jwtsd_route_dispatch(jwtsd_request *r);

/* Who is calling. */
typedef enum { JWTSD_CALLER_NONE = 0, JWTSD_CALLER_ADMIN, JWTSD_CALLER_USER } jwtsd_caller_kind;

typedef struct jwtsd_caller {
    jwtsd_caller_kind kind;
    jwts_validation user; /* for JWTSD_CALLER_USER */
} jwtsd_caller;

/* The bearer token of the Authorization header (pointer into the header; *len its length), or
 * NULL when there is none. */
const char *jwtsd_bearer(const jwtsd_request *r, size_t *len);

/* Where a request's access token came from. */
typedef enum { JWTSD_CRED_NONE = 0, JWTSD_CRED_BEARER, JWTSD_CRED_COOKIE, JWTSD_CRED_AMBIGUOUS } jwtsd_cred;

/* The access token of r: the bearer token, else (with --cookies) the access cookie. *len its
 * length; JWTSD_CRED_AMBIGUOUS (token NULL) when the cookie is there twice. */
jwtsd_cred jwtsd_access_token(const jwtsd_request *r, const char **token, size_t *len);

/* Authenticate r: the admin key, or a valid access token (admin_only: only the admin key; a valid
 * user token then gets 403). false when it answered (401/403). */
bool jwtsd_authenticate(jwtsd_request *r, bool admin_only, jwtsd_caller *out);

/* Validate r's bearer token as an access token (observed as the validate operation). */
jwts_err jwtsd_validate_token(jwtsd_request *r, const char *token, size_t len, jwts_validation *out);

/* Room for the X-Session-User value of any user id (every byte encoded, plus the NUL). */
#define JWTSD_USER_HEADER_MAX (3 * JWTS_USER_ID_MAX + 1)

/* The X-Session-User value of user_id into out (JWTSD_USER_HEADER_MAX bytes): the id itself, with
 * '%' and every byte of a non-ASCII character written as %XX (RFC 3986 percent-encoding, upper
 * case hex). A user id is printable ASCII plus UTF-8 (jwts_user_id_valid), so the value is
 * printable ASCII that no proxy alters; any percent-decoder gives the id back byte for byte. */
void jwtsd_user_header(const char *user_id, char out[JWTSD_USER_HEADER_MAX]);

/* ---- cookie sessions (cookies.c) ------------------------------------------------------------ */

typedef enum { JWTSD_COOKIE_ACCESS, JWTSD_COOKIE_REFRESH } jwtsd_cookie_kind;

/* Room for one Set-Cookie value (a token up to 8 KiB plus the attributes). */
#define JWTSD_SET_COOKIE_MAX 9216

/* How often cookie name appears in r's Cookie headers (0, 1, 2 = more than once); with 1, *value
 * points at its value (*len bytes) inside the header. */
int jwtsd_cookie_find(const jwtsd_request *r, const char *name, const char **value, size_t *len);

/* The name of a token cookie ("<cookie-name>_access" / "_refresh") into out. */
void jwtsd_cookie_name(const jwtsd_config *cfg, jwtsd_cookie_kind kind, char *out, size_t cap);

/* The Set-Cookie value for a token cookie: value with Max-Age max_age_s, or (value NULL) the one
 * that clears it (empty, Max-Age=0). prefix: the request's tenant's path prefix (NULL: none), put
 * before the refresh cookie's Path. false when it does not fit in cap. */
bool jwtsd_cookie_set(const jwtsd_config *cfg, const char *prefix, jwtsd_cookie_kind kind, const char *value,
                      int64_t max_age_s, char *out, size_t cap);

/* The CSRF check of a cookie-authenticated call that changes state: Origin must be one of
 * --allowed-origins, or, without Origin, Sec-Fetch-Site must be same-origin. false with the reason
 * in why. */
bool jwtsd_csrf_ok(const jwtsd_request *r, char *why, size_t cap);

/* ---- gateway inputs (gateway_parse.c) ------------------------------------------------------------ */

/* How often cookie name appears in one Cookie header value h (0, 1, 2 = more than once); the
 * first one's value (quotes removed) at *value, *len bytes, inside h. */
int jwtsd_cookie_scan(const char *h, const char *name, const char **value, size_t *len);

/* true when url is an absolute http(s) URL of visible ASCII, without user info or backslash,
 * whose host is one of cfg's --redirect-hosts (".example.com": any subdomain). */
bool jwtsd_redirect_allowed(const jwtsd_config *cfg, const char *url);

/* The login redirect into out (cap bytes): --login-url with rd=<url percent-encoded> when url is
 * allowed and fits, else the bare --login-url. */
void jwtsd_login_location(const jwtsd_config *cfg, const char *url, char *out, size_t cap);

/* ---- forward-auth (forward.c) ------------------------------------------------------------------ */

/* Answer the auth check of r (GET/HEAD /v1/auth for nginx, ingress-nginx, Caddy, Traefik and
 * HAProxy; any method on /v1/auth/{path} for Envoy ext_authz): 200 with the identity headers, 401
 * (or a redirect to --login-url for a browser navigation), 403 for a cross-site change made with
 * the cookie. No body on any answer. */
void jwtsd_forward_auth(jwtsd_request *r);

/* Answer a forward-auth request from its token check: rc and v (the validation when JWTS_OK), s
 * the session when cfg->identity_needs_session (else NULL), token/len/cred the credential
 * jwtsd_access_token found. http.c calls it for a check that ran asynchronously. */
void jwtsd_forward_answer(jwtsd_request *r, jwtsd_cred cred, const char *token, size_t len, jwts_err rc,
                          const jwts_validation *v, const jwts_session *s);

#endif
