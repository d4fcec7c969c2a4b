/*
 * sweep.c - runs jwts_manager_cleanup on a timer for shared (Redis) stores, so that a store with
 * an events stream turns the sessions Redis expired into "expired" events (docs/events.md).
 * Memory and file stores sweep themselves; on a Redis store without events a cleanup answers at
 * once without a round trip. Several daemons on one Redis may all sweep: the sweep script takes
 * each expired session once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

struct jwtsd_sweep {
    jwts_manager *manager;
    int64_t interval_ms, timeout_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    pthread_t thread;
};

static void *sweep_main(void *arg)
{
    jwtsd_sweep *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        struct timespec until = jwts_monotonic_timespec_in_ms(s->interval_ms);
        pthread_cond_timedwait(&s->cond, &s->lock, &until);
        if (s->stop) break;
        pthread_mutex_unlock(&s->lock);
        jwts_ctx ctx = jwts_ctx_with_timeout(s->timeout_ms);
        size_t expired = 0;
        jwts_err rc = jwts_manager_cleanup(s->manager, &ctx, &expired);
        if (rc != JWTS_OK)
            JWTSD_LOG(JWTSD_LOG_WARN, "expiry sweep failed", JWTSD_S("error", jwts_errname(rc)),
                      JWTSD_S("detail", jwts_errdetail()));
        else if (expired)
            JWTSD_LOG(JWTSD_LOG_DEBUG, "expiry sweep", JWTSD_I("expired", (int64_t)expired));
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

bool jwtsd_sweep_start(const jwtsd_config *cfg, jwtsd_tenant *t, jwtsd_sweep **out)
{
    *out = NULL;
    const char *name = jwts_store_name(t->store);
    if (strncmp(name, "redis", 5) != 0 || cfg->events_sweep_interval_ms <= 0) return true;
    jwtsd_sweep *s = calloc(1, sizeof *s);
    if (!s) return false;
    s->manager = t->manager;
    s->interval_ms = cfg->events_sweep_interval_ms;
    s->timeout_ms = cfg->request_timeout_ms;
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&s->thread, NULL, sweep_main, s) != 0) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return false;
    }
    *out = s;
    return true;
}

void jwtsd_sweep_stop(jwtsd_sweep *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
