/*
 * test_sentinel.c - the sentinel store on a real master, two replicas and three sentinels.
 *
 *   1. the store conformance suite through the sentinels, every write followed by WAIT 1;
 *   2. WAIT for more replicas than exist fails the write with JWTS_E_UNAVAILABLE;
 *   3. a manual failover (SENTINEL FAILOVER) while a store only reads: it follows +switch-master;
 *   4. failover under load: four threads create sessions with WAIT 1 while the master is killed
 *      (SIGKILL); the sentinels promote a replica, the store follows it, writes resume, and every
 *      session whose write was acknowledged is still there. The time writes failed is printed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "store_conformance.h"
#include "topology.h"

#define THREADS 4
#define MAX_ACKED 200000

static char url[512];
static jwts_store *store;
static atomic_bool stop;
static atomic_long failures;
static atomic_llong first_fail_ms, last_fail_ms, last_ok_ms;
static int *acked[THREADS];
static size_t nacked[THREADS];

static jwts_err open_sentinel(void *arg, jwts_store **out)
{
    jwts_redis_sentinel_options o = {.url = url, .pool_size = 4, .key_prefix = arg, .wait_replicas = 1};
    return jwts_store_redis_sentinel_new(&o, out);
}

static void *writer(void *arg)
{
    long t = (long)(intptr_t)arg;
    char user[16];
    snprintf(user, sizeof user, "w-%ld", t);
    for (int i = 0; !atomic_load(&stop) && nacked[t] < MAX_ACKED; i++) {
        char sid[16];
        snprintf(sid, sizeof sid, "s%d", i);
        jwts_session s = topo_session(user, sid);
        jwts_err rc = jwts_store_set(store, NULL, &s, 600000);
        long long now = topo_now_ms();
        if (rc == JWTS_OK) {
            acked[t][nacked[t]++] = i;
            atomic_store(&last_ok_ms, now);
        } else {
            long long zero = 0;
            if (atomic_fetch_add(&failures, 1) < 3)
                fprintf(stderr, "set: %s: %s\n", jwts_errname(rc), jwts_errdetail());
            atomic_compare_exchange_strong(&first_fail_ms, &zero, now);
            atomic_store(&last_fail_ms, now);
        }
    }
    return NULL;
}

/* How many acknowledged sessions a fresh store cannot find. */
static size_t missing_acked(void)
{
    jwts_store *st = NULL;
    if (open_sentinel("ha:", &st) != JWTS_OK) return (size_t)-1;
    size_t missing = 0;
    jwts_session_key keys[256];
    jwts_session *got[256];
    char sids[256][16], user[16];
    for (int t = 0; t < THREADS; t++) {
        snprintf(user, sizeof user, "w-%d", t);
        for (size_t from = 0; from < nacked[t]; from += 256) {
            size_t n = nacked[t] - from < 256 ? nacked[t] - from : 256;
            for (size_t k = 0; k < n; k++) {
                snprintf(sids[k], sizeof sids[k], "s%d", acked[t][from + k]);
                keys[k] = (jwts_session_key){user, sids[k]};
                got[k] = NULL;
            }
            if (jwts_store_get_many(st, NULL, keys, n, got) != JWTS_OK) {
                fprintf(stderr, "get_many: %s\n", jwts_errdetail());
                missing += n;
                continue;
            }
            for (size_t k = 0; k < n; k++) missing += got[k] == NULL, jwts_session_free(got[k]);
        }
    }
    jwts_store_free(st);
    return missing;
}

static int check(bool ok, const char *what)
{
    if (!ok) fprintf(stderr, "FAILED: %s\n", what);
    return ok ? 0 : 1;
}

static int too_many_replicas(void)
{
    jwts_redis_sentinel_options o = {.url = url, .wait_replicas = 3, .wait_timeout_ms = 100};
    jwts_store *st = NULL;
    if (jwts_store_redis_sentinel_new(&o, &st) != JWTS_OK) return check(false, "open with wait_replicas 3");
    jwts_session s = topo_session("few", "s1");
    jwts_err rc = jwts_store_set(st, NULL, &s, 60000);
    jwts_store_free(st);
    return check(rc == JWTS_E_UNAVAILABLE && strstr(jwts_errdetail(), "WAIT"),
                 "WAIT for 3 of 2 replicas fails the write with UNAVAILABLE");
}

static redis_server *by_port(topo_sentinel *t, int port)
{
    for (int i = 0; i < 3; i++)
        if (t->data[i].port == port && t->data[i].pid > 0) return &t->data[i];
    return NULL;
}

/* Wait up to ms for sentinel 1 to name a master other than old_port; its port or -1. */
static int new_master(const topo_sentinel *t, int old_port, long long ms)
{
    long long until = topo_now_ms() + ms;
    for (;;) {
        int port = topo_sentinel_master_port(t, 1);
        if (port > 0 && port != old_port) return port;
        if (topo_now_ms() > until) return -1;
        topo_sleep_ms(50);
    }
}

static bool has_client(const redis_server *s, const char *what)
{
    char out[8192];
    const char *argv[] = {"CLIENT", "LIST"};
    return redis_server_command(s, out, sizeof out, 2, argv) && strstr(out, what) != NULL;
}

/* A manual failover (SENTINEL FAILOVER: the old master lives on as a replica) while a store
 * only reads: the store follows +switch-master, so its reads move to the new master and none
 * stay on the demoted one, where they would see stale data. */
static int follows_switch(topo_sentinel *t)
{
    jwts_redis_sentinel_options o = {.url = url, .pool_size = 1, .key_prefix = "sw:"};
    jwts_store *st = NULL;
    if (jwts_store_redis_sentinel_new(&o, &st) != JWTS_OK) return check(false, "open the store");
    jwts_session s = topo_session("reader", "s1");
    jwts_session_key key = {"reader", "s1"};
    jwts_session *got = NULL;
    int f = check(jwts_store_set(st, NULL, &s, 600000) == JWTS_OK, "set before the failover");
    int old_port = topo_sentinel_master_port(t, 0);
    char out[256];
    const char *argv[] = {"SENTINEL", "FAILOVER", "mymaster"};
    f += check(redis_server_command(&t->sentinels[0], out, sizeof out, 3, argv) && strcmp(out, "OK") == 0,
               "SENTINEL FAILOVER");
    int port = new_master(t, old_port, 20000);
    redis_server *old = by_port(t, old_port), *now = by_port(t, port);
    f += check(port > 0 && old && now, "the sentinels name a new master");
    if (f) {
        jwts_store_free(st);
        return f;
    }
    long long until = topo_now_ms() + 5000;
    bool moved = false, left = false;
    while (!moved && topo_now_ms() < until) {
        jwts_err rc = jwts_store_get(st, NULL, &key, &got);
        jwts_session_free(got), got = NULL;
        moved = rc == JWTS_OK && has_client(now, "cmd=get");
        if (!moved) topo_sleep_ms(50);
    }
    while (moved && !left && topo_now_ms() < until + 2000) {
        left = !has_client(old, "cmd=get");
        if (!left) topo_sleep_ms(50);
    }
    printf("manual failover :%d -> :%d: reads moved to the new master: %s\n", old_port, port,
           moved && left ? "yes" : "no");
    f += check(moved, "reads reach the new master after +switch-master");
    f += check(left, "no connection of the store stays on the demoted master");
    f += check(jwts_store_set(st, NULL, &s, 600000) == JWTS_OK, "writes succeed after the manual failover");
    jwts_store_free(st);
    return f;
}

static int failover(topo_sentinel *t)
{
    int old_port = topo_sentinel_master_port(t, 0);
    redis_server *victim = by_port(t, old_port);
    if (!victim) return check(false, "find the master");
    for (int i = 0; i < THREADS; i++) acked[i] = malloc(MAX_ACKED * sizeof **acked);
    if (open_sentinel("ha:", &store) != JWTS_OK) return check(false, "open the store");
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i);
    topo_sleep_ms(500);
    long long killed = topo_now_ms();
    redis_server_stop(victim, true);
    int new_port = new_master(t, old_port, 30000);
    long long switched = topo_now_ms();
    while (atomic_load(&last_ok_ms) < switched && topo_now_ms() - switched < 10000) topo_sleep_ms(50);
    topo_sleep_ms(1000);
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    jwts_store_free(store);
    size_t total = 0;
    for (int i = 0; i < THREADS; i++) total += nacked[i];
    long long ff = atomic_load(&first_fail_ms), lf = atomic_load(&last_fail_ms);
    printf("sentinel failover: master :%d killed, sentinels named :%d after %lld ms; %zu writes acknowledged, "
           "%ld failed",
           old_port, new_port, switched - killed, total, atomic_load(&failures));
    if (ff)
        printf(" (writes failed from +%lld ms to +%lld ms after the kill: %lld ms)", ff - killed, lf - killed, lf - ff);
    printf("\n");
    size_t missing = missing_acked();
    printf("acknowledged sessions missing after the failover: %zu\n", missing);
    int f = check(new_port > 0 && new_port != old_port, "the sentinels promoted a replica");
    f += check(atomic_load(&last_ok_ms) > switched, "writes succeed on the new master");
    f += check(total > 0, "writes were acknowledged");
    f += check(missing == 0, "no acknowledged session was lost");
    for (int i = 0; i < THREADS; i++) free(acked[i]);
    return f;
}

int main(void)
{
    topo_sentinel t;
    if (!topo_sentinel_start(&t)) {
        topo_sentinel_destroy(&t);
        return 1;
    }
    topo_sentinel_url(&t, url, sizeof url);
    int failures_total = 0;
    jwts_conformance_target c = {.name = "redis sentinel (WAIT 1)", .open = open_sentinel, .arg = "conf:"};
    failures_total += jwts_store_conformance_run(&c);
    failures_total += too_many_replicas();
    jwts_store *st = NULL;
    failures_total +=
        check(jwts_store_open_url(url, &st) == JWTS_OK && strcmp(jwts_store_name(st), "redis-sentinel") == 0,
              "open by redis-sentinel:// URL");
    jwts_store_free(st);
    failures_total += follows_switch(&t);
    failures_total += failover(&t);
    topo_sentinel_destroy(&t);
    printf("sentinel: %d failure(s)\n", failures_total);
    return failures_total != 0;
}
