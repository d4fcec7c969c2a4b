/*
 * tenants.c - the daemon's tenants (docs/tenants.md): each one's store, signing keys, admin key
 * and session manager, opened at start and closed at exit; which tenant a request is for; and
 * the per-tenant request counters.
 *
 * Without --tenants there is exactly one tenant, built from the daemon's own flags, and every
 * request is its own (http.c does not even look). With --tenants (tenant_file.c reads it) a
 * request belongs to the tenant whose host (the Host header, port ignored, any case) and path
 * prefix (whole segments; stripped before routing) match it; a tenant with both beats one with a
 * path only, which beats one with a host only (the file refuses any other overlap). A request no
 * tenant matches gets 404, except /healthz, /readyz and /metrics, which are the process's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "daemon.h"

/* ---- opening and closing ------------------------------------------------------------------------ */

/* The calls counted per tenant in tenant mode, from the route and method of each answer. */
enum { OP_CREATE, OP_VALIDATE, OP_REFRESH, OP_REVOKE, OP__COUNT };
static const char *const OP_NAMES[OP__COUNT] = {"create", "validate", "refresh", "revoke"};

struct jwtsd_tenant_metrics {
    jwts_counter *calls[OP__COUNT][2]; /* [op][0 ok, 1 failed] */
};

/* "tenant NAME: " before a message in tenant mode, "" otherwise. */
static void who(const jwtsd_tenant *t, char *out, size_t cap)
{
    if (t->srv->tenant_mode)
        snprintf(out, cap, "tenant %s (line %d): ", t->name, t->line);
    else
        out[0] = '\0';
}

/* t's store, through the library's one opener (every URL form and its query options); the request
 * timeout is the default bound of each store call. A shared (Redis) store gets the near cache
 * unless --cache=false (it fails closed, so it is on by default); the memory and file stores are
 * local and need none. Then wrapped to tell a full store from a client's limit, and observed. */
static bool open_store(jwtsd_server *srv, jwtsd_tenant *t, char *err, size_t errlen)
{
    const jwtsd_config *cfg = srv->cfg;
    char w[128];
    who(t, w, sizeof w);
    jwts_store *raw = NULL, *marked;
    jwts_store_open_options so = {.command_timeout_ms = cfg->request_timeout_ms,
                                  .memory_max_sessions = (size_t)cfg->memory_max_sessions};
    jwts_err rc = jwts_store_open(t->store_url, &so, &raw);
    bool local =
        rc == JWTS_OK && (strcmp(jwts_store_name(raw), "memory") == 0 || strcmp(jwts_store_name(raw), "file") == 0);
    if (rc == JWTS_OK && cfg->cache && !local) {
        jwts_redis_cache_options co = {.enabled = true,
                                       .max_entries = (size_t)cfg->cache_max_entries,
                                       .max_stale_ms = cfg->cache_max_stale_ms,
                                       .metrics = jwtsd_observe_metrics(srv->observe)};
        rc = jwts_store_redis_cache_enable(raw, &co);
        if (rc != JWTS_OK) {
            jwts_store_free(raw);
            raw = NULL;
        }
    }
    if (rc != JWTS_OK) {
        snprintf(err, errlen, "%sstore: %s: %s", w, jwts_errname(rc), jwts_errdetail());
        return false;
    }
    if (strcmp(jwts_store_name(raw), "memory")) srv->shared_store = true; /* file and Redis: store workers */
    if (!(marked = jwtsd_storefull_wrap(raw))) {
        jwts_store_free(raw);
        snprintf(err, errlen, "%sstore: out of memory", w);
        return false;
    }
    t->store = jwtsd_observe_store(srv->observe, marked);
    return true;
}

/* The manager's event sink: the event to the webhook, naming the tenant when there are tenants. */
static void tenant_event(void *arg, const jwts_event *ev)
{
    const jwtsd_tenant *t = arg;
    jwtsd_webhook_event(t->srv->webhook, t->srv->tenant_mode ? t->name : NULL, ev);
}

static bool open_manager(jwtsd_server *srv, jwtsd_tenant *t, char *err, size_t errlen)
{
    const jwtsd_config *cfg = srv->cfg;
    jwts_manager_options mo = {
        .store = t->store,
        .keyset = t->keyset,
        .verify_only = cfg->verify_only,
        .issuer = t->issuer[0] ? t->issuer : NULL,
        .audience = t->audience[0] ? t->audience : NULL,
        .access_ttl_ms = cfg->access_ttl_ms,
        .refresh_ttl_ms = cfg->refresh_ttl_ms,
        .idle_timeout_ms = cfg->idle_timeout_ms,
        .absolute_lifetime_ms = cfg->absolute_lifetime_ms,
        .max_sessions_per_user = t->max_sessions > 0 ? (size_t)t->max_sessions : 0,
        .limit_policy = strcmp(cfg->limit_policy, "evict-oldest") ? JWTS_LIMIT_REFUSE : JWTS_LIMIT_EVICT_OLDEST,
        .refresh_grace_ms = cfg->refresh_grace_ms,
        .metrics = jwtsd_observe_metrics(srv->observe),
        .tracer = jwtsd_observe_tracer(srv->observe),
        .on_event = srv->webhook ? tenant_event : NULL,
        .on_event_arg = t,
        .new_device_events = cfg->events_new_device,
    };
    jwts_err rc = jwts_manager_new(&mo, &t->manager);
    if (rc == JWTS_OK) rc = jwtsd_keys_publish(t);
    if (rc == JWTS_OK) rc = jwtsd_keys_observe(t);
    if (rc == JWTS_OK) jwts_manager_set_key_miss_hook(t->manager, jwtsd_keys_miss, t);
    if (rc != JWTS_OK) {
        char w[128];
        who(t, w, sizeof w);
        snprintf(err, errlen, "%ssession manager: %s: %s", w, jwts_errname(rc), jwts_errdetail());
        return false;
    }
    return true;
}

/* The per-tenant counters (tenant mode only: without tenants /metrics stays as it was). */
static jwts_err observe_tenant(jwtsd_server *srv, jwtsd_tenant *t)
{
    jwts_metrics *m = jwtsd_observe_metrics(srv->observe);
    if (!m || !srv->tenant_mode) return JWTS_OK;
    if (!(t->metrics = calloc(1, sizeof *t->metrics))) return JWTS_E_NO_MEMORY;
    jwts_err rc = JWTS_OK;
    for (int op = 0; op < OP__COUNT && !rc; op++) {
        for (int f = 0; f < 2 && !rc; f++) {
            jwts_label l[] = {{"tenant", t->name}, {"op", OP_NAMES[op]}, {"result", f ? "failed" : "ok"}};
            rc = jwts_metrics_counter(m, "jwtsessiond_tenant_requests_total",
                                      "Session calls answered per tenant: create, validate (auth checks), refresh, "
                                      "revoke (one session, a user's, logout); result ok (2xx/3xx) or failed",
                                      l, 3, &t->metrics->calls[op][f]);
        }
    }
    return rc;
}

/* The one tenant of a daemon without --tenants: its own flags, every request. */
static bool default_tenant(jwtsd_server *srv, char *err, size_t errlen)
{
    const jwtsd_config *cfg = srv->cfg;
    jwtsd_tenant *t = calloc(1, sizeof *t);
    if (!t) return snprintf(err, errlen, "out of memory"), false;
    srv->tenants = t;
    srv->ntenants = 1;
    bool oom = false;
#define DUP(f, v) (oom |= (v) && !((f) = strdup(v)))
    DUP(t->name, "default");
    DUP(t->issuer, cfg->issuer);
    DUP(t->audience, cfg->audience);
    DUP(t->key_file, cfg->key_file);
    DUP(t->admin_key_file, cfg->admin_key_file);
    DUP(t->admin_key, cfg->admin_key);
    DUP(t->store_url, cfg->store);
#undef DUP
    t->max_sessions = cfg->max_sessions;
    if (oom) return snprintf(err, errlen, "out of memory"), false;
    return true;
}

/* true when files a and b (either may be NULL) are one file, under any name (links too). */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Tenant mode: no two tenants may sign with one key file or share an admin key file, whatever the
 * names say (tenant_file.c compares the names as written). */
static bool files_apart(jwtsd_server *srv, char *err, size_t errlen)
{
    for (size_t j = 0; j < srv->ntenants; j++) {
        for (size_t i = 0; i < j; i++) {
            const jwtsd_tenant *a = &srv->tenants[i], *b = &srv->tenants[j];
            const char *what = same_file(a->key_file, b->key_file)               ? "key"
                               : same_file(a->admin_key_file, b->admin_key_file) ? "admin-key-file"
                                                                                 : NULL;
            if (what)
                return snprintf(err, errlen, "tenant %s (line %d) and tenant %s (line %d): one %s file for both",
                                b->name, b->line, a->name, a->line, what),
                       false;
        }
    }
    return true;
}

bool jwtsd_tenants_open(jwtsd_server *srv, char *err, size_t errlen, bool *bad_setting)
{
    const jwtsd_config *cfg = srv->cfg;
    *bad_setting = false;
    if (cfg->tenants_file) {
        srv->tenant_mode = true;
        if (!jwtsd_tenants_parse(cfg, cfg->tenants_file, &srv->tenants, &srv->ntenants, err, errlen)) {
            *bad_setting = true;
            return false;
        }
    } else if (!default_tenant(srv, err, errlen)) {
        return false;
    }
    if (srv->tenant_mode && !files_apart(srv, err, errlen)) {
        *bad_setting = true;
        return false;
    }
    for (size_t i = 0; i < srv->ntenants; i++) {
        jwtsd_tenant *t = &srv->tenants[i];
        t->srv = srv;
        pthread_mutex_init(&t->keys_mu, NULL);
        atomic_init(&t->key_refetch_at_ms, 0);
        atomic_init(&t->key_refetch_asked, false);
    }
    for (size_t i = 0; i < srv->ntenants; i++) {
        jwtsd_tenant *t = &srv->tenants[i];
        char w[128], e[1024];
        who(t, w, sizeof w);
        if (!open_store(srv, t, err, errlen)) return false;
        if (jwtsd_keys_load(cfg, t->key_file, &t->keyset, e, sizeof e) != JWTS_OK) {
            snprintf(err, errlen, "%s%s", w, e);
            return false;
        }
        if (!jwtsd_admin_key_load(t, e, sizeof e)) {
            snprintf(err, errlen, "%s%s", w, e);
            *bad_setting = true; /* too short, or its file unreadable */
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (t->admin_enabled && srv->tenants[j].admin_enabled &&
                !memcmp(t->admin_digest, srv->tenants[j].admin_digest, sizeof t->admin_digest)) {
                snprintf(err, errlen, "%sthe same admin key as tenant %s: an admin key is for one tenant", w,
                         srv->tenants[j].name);
                *bad_setting = true;
                return false;
            }
        }
        if (!open_manager(srv, t, err, errlen)) return false;
        jwts_err rc = observe_tenant(srv, t);
        if (rc != JWTS_OK) {
            snprintf(err, errlen, "%smetrics: %s: %s", w, jwts_errname(rc), jwts_errdetail());
            return false;
        }
        if (srv->tenant_mode)
            JWTSD_LOG(JWTSD_LOG_INFO, "tenant ready", JWTSD_S("tenant", t->name), JWTSD_S("host", t->host),
                      JWTSD_S("path", t->path), JWTSD_S("issuer", t->issuer),
                      JWTSD_S("store", jwts_store_name(t->store)), JWTSD_I("admin_api", t->admin_enabled));
    }
    return true;
}

bool jwtsd_tenants_start_sweeps(jwtsd_server *srv)
{
    for (size_t i = 0; i < srv->ntenants; i++)
        if (!jwtsd_sweep_start(srv->cfg, &srv->tenants[i], &srv->tenants[i].sweep)) return false;
    return true;
}

void jwtsd_tenants_stop_sweeps(jwtsd_server *srv)
{
    for (size_t i = 0; i < srv->ntenants; i++) {
        jwtsd_sweep_stop(srv->tenants[i].sweep);
        srv->tenants[i].sweep = NULL;
    }
}

void jwtsd_tenants_close(jwtsd_server *srv)
{
    jwtsd_tenants_stop_sweeps(srv);
    for (size_t i = 0; i < srv->ntenants; i++) {
        jwtsd_tenant *t = &srv->tenants[i];
        jwts_manager_free(t->manager); /* before the webhook: it removes the store's expiry hook into it */
        t->manager = NULL;
    }
}

void jwtsd_tenants_free_all(jwtsd_server *srv)
{
    for (size_t i = 0; i < srv->ntenants; i++) {
        jwtsd_tenant *t = &srv->tenants[i];
        jwts_jose_free(t->jwks_json);
        t->jwks_json = NULL;
        jwts_store_free(t->store);
        jwts_keyset_free(t->keyset);
        jwtsd_keys_observe_free(t);
        free(t->metrics);
        if (t->srv) pthread_mutex_destroy(&t->keys_mu);
    }
    jwtsd_tenants_free(srv->tenants, srv->ntenants);
    srv->tenants = NULL;
    srv->ntenants = 0;
}

/* ---- choosing ------------------------------------------------------------------------------------ */

/* The paths that are the process's, answered whichever tenant (or none) a request matches. */
static bool process_path(const char *path)
{
    return !strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/metrics");
}

bool jwtsd_tenant_pick(jwtsd_request *r)
{
    const jwtsd_server *srv = r->srv;
    const char *host = jwtsd_header(r, "Host");
    size_t hn = host && host[0] != '[' ? strcspn(host, ":") : 0; /* a literal IPv6 address is no tenant's */
    jwtsd_tenant *best = NULL;
    int best_rank = 0;
    for (size_t i = 0; i < srv->ntenants; i++) {
        jwtsd_tenant *t = &srv->tenants[i];
        if (t->host && (hn != strlen(t->host) || strncasecmp(host, t->host, hn))) continue;
        if (t->path &&
            (strncmp(r->path, t->path, t->path_len) || (r->path[t->path_len] != '/' && r->path[t->path_len])))
            continue;
        int rank = (t->path ? 2 : 0) + (t->host ? 1 : 0);
        if (rank > best_rank) best = t, best_rank = rank;
    }
    r->tenant = best;
    if (best && best->path) r->path += best->path_len; /* "/t/acme/v1/auth" -> "/v1/auth" */
    if (best || process_path(r->path)) return true;
    jwtsd_reply_error(r, 404, JWTS_E_NOT_FOUND, "no tenant serves this host and path (docs/tenants.md)");
    return false;
}

void jwtsd_tenant_count(const jwtsd_request *r)
{
    const jwtsd_tenant *t = r->tenant;
    if (!t || !t->metrics || !r->status) return;
    int op;
    switch (r->route) {
    case JWTSD_ROUTE_SESSIONS:
        op = OP_CREATE;
        break;
    case JWTSD_ROUTE_AUTH:
    case JWTSD_ROUTE_AUTH_EXT:
        op = OP_VALIDATE;
        break;
    case JWTSD_ROUTE_REFRESH:
        op = OP_REFRESH;
        break;
    case JWTSD_ROUTE_SESSION:
    case JWTSD_ROUTE_USER_SESSIONS:
        if (strcmp(r->method, "DELETE")) return;
        op = OP_REVOKE;
        break;
    case JWTSD_ROUTE_LOGOUT:
        op = OP_REVOKE;
        break;
    default:
        return;
    }
    jwts_counter_inc(t->metrics->calls[op][r->status >= 400]);
}
