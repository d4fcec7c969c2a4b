/*
 * main.c - jwtsessiond: start-up, signals and graceful shutdown.
 *
 * Start-up builds, in order: settings, metrics/tracing, the events webhook, the tenants (tenants.c:
 * for each, the store wrapped to tell a full store from a client's limit, the signing keys, the
 * admin key, the session manager; one tenant without --tenants), then the HTTP server. Exit
 * status: 0 after a clean stop, 1 when it cannot start, 2 for a bad setting. Signals are blocked
 * in every thread and taken by sigwait() here. SIGTERM or SIGINT: stop accepting (the listening
 * socket closes at once), let in-flight requests finish (up to --shutdown-timeout), stop the
 * server, flush spans, exit 0. SIGHUP: reload the --key file, or every tenant's key file (keys.c,
 * docs/keys.md); a bad file keeps the keys in service.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

/* Wait for a stop signal; SIGHUP reloads the keys (also when a verify-only daemon met an unknown
 * kid: keys.c sends it); other signals are logged and ignored. */
static int wait_for_stop(jwtsd_server *srv, const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) continue;
        if (sig == SIGTERM || sig == SIGINT) return sig;
        if (sig == SIGHUP) {
            /* a verify-only tenant that met an unknown kid sent it: reload those; else every one */
            char err[1024];
            bool miss[JWTSD_TENANTS_MAX] = {false}, any = false;
            for (size_t i = 0; i < srv->ntenants; i++)
                any |= miss[i] = atomic_exchange(&srv->tenants[i].key_refetch_asked, false);
            for (size_t i = 0; i < srv->ntenants; i++)
                if (!any || miss[i])
                    jwtsd_keys_reload(&srv->tenants[i], any ? "unknown kid" : "SIGHUP", err, sizeof err);
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
    jwtsd_tenants_stop_sweeps(srv);
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
    int status = 1; /* cannot start; 2: a bad setting */
    jwts_err rc = jwtsd_observe_new(&cfg, &srv.observe);
    if (rc != JWTS_OK) {
        snprintf(err, sizeof(err), "metrics: %s: %s", jwts_errname(rc), jwts_errdetail());
        goto out;
    }
    if (!jwtsd_webhook_new(&cfg, jwtsd_observe_metrics(srv.observe), &srv.webhook, err, sizeof(err))) {
        status = 2; /* a bad setting: the URL or the secret file */
        goto out;
    }
    bool bad_setting = false;
    if (!jwtsd_tenants_open(&srv, err, sizeof(err), &bad_setting)) {
        if (bad_setting) status = 2; /* the tenants file, or an admin key too short or unreadable */
        goto out;
    }
    if (!jwtsd_tenants_start_sweeps(&srv)) {
        snprintf(err, sizeof(err), "expiry sweep: cannot start its thread");
        goto out;
    }
    if (!jwtsd_http_start(&srv, err, sizeof(err))) goto out;
    JWTSD_LOG(JWTSD_LOG_INFO, "jwtsessiond ready", JWTSD_S("version", JWTSD_VERSION),
              JWTSD_S("store", jwts_store_name(srv.tenants[0].store)), JWTSD_S("issuer", cfg.issuer),
              JWTSD_S("config", cfg.config_file), JWTSD_I("admin_api", srv.tenants[0].admin_enabled),
              JWTSD_S("tenants_file", cfg.tenants_file));

    graceful_stop(&srv, wait_for_stop(&srv, &set));
    JWTSD_LOG(JWTSD_LOG_INFO, "stopped", JWTSD_I("status", 0));
    status = 0;
out:
    if (status) JWTSD_LOG(JWTSD_LOG_ERROR, "cannot start", JWTSD_S("error", err), JWTSD_I("exit_status", status));
    jwtsd_http_stop(&srv);
    jwtsd_tenants_close(&srv); /* sweeps, then managers: they remove the stores' expiry hooks into the webhook */
    jwtsd_webhook_free(srv.webhook);
    jwtsd_tenants_free_all(&srv);
    jwtsd_observe_free(srv.observe);
    jwtsd_config_free(&cfg);
    return status;
}
