/*
 * main.c - jwtsessiond: start-up, signals and graceful shutdown.
 *
 * Start-up builds, in order: settings, metrics/tracing, the store (wrapped to tell a full store
 * from a client's limit), the signing keys, the admin key, the session manager, then the HTTP
 * server. Exit status: 0 after a clean stop, 1 when it cannot start, 2 for a bad setting. Signals are blocked in every
 * thread and taken by sigwait() here. SIGTERM or SIGINT: stop accepting (the listening socket closes at once), let
 * in-flight requests finish (up to --shutdown-timeout), stop the server, flush spans, exit 0.
 * SIGHUP: reload the --key file (keys.c, docs/keys.md); a bad file keeps the keys in service.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

/* The store --store names, through the library's one opener (every URL form and its query
 * options); the request timeout is the default bound of each store call. A shared (Redis) store
 * gets the near cache unless --cache=false (it fails closed, so it is on by default); the memory
 * and file stores are local and need none. */
static bool open_store(jwtsd_server *srv, jwts_store **out, char *err, size_t errlen)
{
    const jwtsd_config *cfg = srv->cfg;
    jwts_store_open_options so = {.command_timeout_ms = cfg->request_timeout_ms,
                                  .memory_max_sessions = (size_t)cfg->memory_max_sessions};
    jwts_err rc = jwts_store_open(cfg->store, &so, out);
    bool local =
        rc == JWTS_OK && (strcmp(jwts_store_name(*out), "memory") == 0 || strcmp(jwts_store_name(*out), "file") == 0);
    if (rc == JWTS_OK && cfg->cache && !local) {
        jwts_redis_cache_options co = {.enabled = true,
                                       .max_entries = (size_t)cfg->cache_max_entries,
                                       .max_stale_ms = cfg->cache_max_stale_ms,
                                       .metrics = jwtsd_observe_metrics(srv->observe)};
        rc = jwts_store_redis_cache_enable(*out, &co);
        if (rc != JWTS_OK) {
            jwts_store_free(*out);
            *out = NULL;
        }
    }
    if (rc != JWTS_OK) {
        snprintf(err, errlen, "store: %s: %s", jwts_errname(rc), jwts_errdetail());
        return false;
    }
    return true;
}

static bool open_manager(jwtsd_server *srv, char *err, size_t errlen)
{
    const jwtsd_config *cfg = srv->cfg;
    jwts_manager_options mo = {
        .store = srv->store,
        .keyset = srv->keyset,
        .verify_only = cfg->verify_only,
        .issuer = cfg->issuer[0] ? cfg->issuer : NULL,
        .audience = cfg->audience[0] ? cfg->audience : NULL,
        .access_ttl_ms = cfg->access_ttl_ms,
        .refresh_ttl_ms = cfg->refresh_ttl_ms,
        .idle_timeout_ms = cfg->idle_timeout_ms,
        .absolute_lifetime_ms = cfg->absolute_lifetime_ms,
        .max_sessions_per_user = cfg->max_sessions > 0 ? (size_t)cfg->max_sessions : 0,
        .limit_policy = strcmp(cfg->limit_policy, "evict-oldest") ? JWTS_LIMIT_REFUSE : JWTS_LIMIT_EVICT_OLDEST,
        .refresh_grace_ms = cfg->refresh_grace_ms,
        .metrics = jwtsd_observe_metrics(srv->observe),
        .tracer = jwtsd_observe_tracer(srv->observe),
        .on_event = srv->webhook ? jwtsd_webhook_event : NULL,
        .on_event_arg = srv->webhook,
        .new_device_events = cfg->events_new_device,
    };
    jwts_err rc = jwts_manager_new(&mo, &srv->manager);
    if (rc == JWTS_OK) rc = jwtsd_keys_publish(srv);
    if (rc == JWTS_OK) rc = jwtsd_keys_observe(srv);
    if (rc == JWTS_OK) jwts_manager_set_key_miss_hook(srv->manager, jwtsd_keys_miss, srv);
    if (rc != JWTS_OK) {
        snprintf(err, errlen, "session manager: %s: %s", jwts_errname(rc), jwts_errdetail());
        return false;
    }
    return true;
}

/* Wait for a stop signal; SIGHUP reloads the keys (also when a verify-only daemon met an unknown
 * kid: keys.c sends it); other signals are logged and ignored. */
static int wait_for_stop(jwtsd_server *srv, const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) continue;
        if (sig == SIGTERM || sig == SIGINT) return sig;
        if (sig == SIGHUP) {
            char err[1024];
            bool miss = atomic_exchange(&srv->key_refetch_asked, false);
            jwtsd_keys_reload(srv, miss ? "unknown kid" : "SIGHUP", err, sizeof err);
            continue;
        }
        JWTSD_LOG(JWTSD_LOG_INFO, "signal ignored", JWTSD_I("signal", sig));
    }
}

static void graceful_stop(jwtsd_server *srv, int sig)
{
    atomic_store(&srv->shutting_down, true);
    JWTSD_LOG(JWTSD_LOG_INFO, "shutting down", JWTSD_S("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"),
              JWTSD_I("in_flight", atomic_load(&srv->in_flight)));
    jwtsd_http_quiesce(srv);
    int64_t deadline = jwts_deadline_in_ms(srv->cfg->shutdown_timeout_ms);
    while (atomic_load(&srv->in_flight) > 0 && jwts_monotonic_ns() < deadline)
        nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
    long left = atomic_load(&srv->in_flight);
    if (left > 0)
        JWTSD_LOG(JWTSD_LOG_WARN, "shutdown timeout: closing unfinished requests", JWTSD_I("in_flight", left));
    jwtsd_http_stop(srv);
    jwtsd_sweep_stop(srv->sweep);
    srv->sweep = NULL;
    /* events of the last requests: delivered for a short bound, the rest counted as dropped */
    jwtsd_webhook_stop(srv->webhook, srv->cfg->shutdown_timeout_ms < 5000 ? srv->cfg->shutdown_timeout_ms : 5000);
    jwtsd_observe_flush(srv->observe, 5000);
}

int main(int argc, char **argv)
{
    char err[1024] = "";
    jwtsd_config cfg;
    switch (jwtsd_config_load(&cfg, argc, argv, err, sizeof(err))) {
    case JWTSD_CONFIG_HELP:
        jwtsd_config_help(argv[0]);
        return 0;
    case JWTSD_CONFIG_VERSION:
        printf("jwtsessiond %s\n", JWTSD_VERSION);
        return 0;
    case JWTSD_CONFIG_ERROR:
        fprintf(stderr, "jwtsessiond: %s\n", err);
        jwtsd_config_free(&cfg);
        return 2;
    case JWTSD_CONFIG_RUN:
        break;
    }
    jwtsd_log_set_level(cfg.log_level);

    /* Every thread started from here on inherits the blocked set; main takes them by sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    jwtsd_server srv = {.cfg = &cfg, .quiesced_fd = -1};
    atomic_init(&srv.shutting_down, false);
    atomic_init(&srv.in_flight, 0);
    atomic_init(&srv.async_pending, 0);
    atomic_init(&srv.async_unsupported, false);
    atomic_init(&srv.key_refetch_at_ms, 0);
    atomic_init(&srv.key_refetch_asked, false);
    pthread_mutex_init(&srv.keys_mu, NULL);
    int status = 1; /* cannot start; 2: a bad setting */
    jwts_err rc = jwtsd_observe_new(&cfg, &srv.observe);
    if (rc != JWTS_OK) {
        snprintf(err, sizeof(err), "metrics: %s: %s", jwts_errname(rc), jwts_errdetail());
        goto out;
    }
    jwts_store *raw = NULL, *marked;
    if (!open_store(&srv, &raw, err, sizeof(err))) goto out;
    if (!(marked = jwtsd_storefull_wrap(raw))) {
        jwts_store_free(raw);
        snprintf(err, sizeof(err), "store: out of memory");
        goto out;
    }
    srv.store = jwtsd_observe_store(srv.observe, marked);
    if (jwtsd_keys_load(&cfg, &srv.keyset, err, sizeof(err)) != JWTS_OK) goto out;
    if (!jwtsd_admin_key_load(&cfg, &srv, err, sizeof(err))) {
        status = 2; /* a bad setting: too short, or its file unreadable */
        goto out;
    }
    if (!jwtsd_webhook_new(&cfg, jwtsd_observe_metrics(srv.observe), &srv.webhook, err, sizeof(err))) {
        status = 2; /* a bad setting: the URL or the secret file */
        goto out;
    }
    if (!open_manager(&srv, err, sizeof(err))) goto out;
    if (!jwtsd_sweep_start(&srv, &srv.sweep)) {
        snprintf(err, sizeof(err), "expiry sweep: cannot start its thread");
        goto out;
    }
    if (!jwtsd_http_start(&srv, err, sizeof(err))) goto out;
    JWTSD_LOG(JWTSD_LOG_INFO, "jwtsessiond ready", JWTSD_S("version", JWTSD_VERSION),
              JWTSD_S("store", jwts_store_name(srv.store)), JWTSD_S("issuer", cfg.issuer),
              JWTSD_S("config", cfg.config_file), JWTSD_I("admin_api", srv.admin_enabled));

    graceful_stop(&srv, wait_for_stop(&srv, &set));
    JWTSD_LOG(JWTSD_LOG_INFO, "stopped", JWTSD_I("status", 0));
    status = 0;
out:
    if (status) JWTSD_LOG(JWTSD_LOG_ERROR, "cannot start", JWTSD_S("error", err), JWTSD_I("exit_status", status));
    jwtsd_http_stop(&srv);
    jwtsd_sweep_stop(srv.sweep);
    jwts_manager_free(srv.manager); /* first: it removes the store's expiry hook into the webhook */
    jwtsd_webhook_free(srv.webhook);
    jwts_jose_free(srv.jwks_json);
    jwts_store_free(srv.store);
    jwts_keyset_free(srv.keyset);
    jwtsd_keys_observe_free(&srv);
    pthread_mutex_destroy(&srv.keys_mu);
    jwtsd_observe_free(srv.observe);
    jwtsd_config_free(&cfg);
    return status;
}
