/*
 * test_cache_topology.c - the near cache through a Sentinel failover and a Cluster reshard.
 *
 * Two stores A and B with their caches on one deployment. B reads a set of sessions in a loop
 * (mostly from its cache) while the topology changes: a manual SENTINEL FAILOVER, then
 * redis-cli --cluster reshard moving slots between masters. Meanwhile A deletes some of the
 * sessions. No read of B that started after a delete's acknowledgement + max_stale may still
 * find that session; B's cache is flushed by the change and comes back (hits again) after it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "topology.h"

#define KEYS 32
#define MAX_STALE_MS 250

static char url[512];

typedef struct load {
    jwts_store *b;
    char users[KEYS][16], sids[KEYS][16];
    _Atomic long long deleted_at[KEYS]; /* ms; 0 = present */
    atomic_bool stop;
    atomic_long reads, stale;
} load;

static int check(bool ok, const char *what)
{
    if (!ok) fprintf(stderr, "FAILED: %s\n", what);
    return ok ? 0 : 1;
}

static jwts_redis_cache_stats stats_of(jwts_store *st)
{
    jwts_redis_cache_stats s = {0};
    jwts_store_redis_cache_stats(st, &s);
    return s;
}

static bool wait_live(jwts_store *st, long ms)
{
    long long until = topo_now_ms() + ms;
    while (!stats_of(st).live && topo_now_ms() < until) topo_sleep_ms(10);
    return stats_of(st).live;
}

static void *reader(void *arg)
{
    load *l = arg;
    for (unsigned i = 0; !atomic_load(&l->stop); i++) {
        int k = (int)(i % KEYS);
        jwts_session_key key = {l->users[k], l->sids[k]};
        long long start = topo_now_ms();
        jwts_session *s = NULL;
        jwts_err rc = jwts_store_get(l->b, NULL, &key, &s);
        jwts_session_free(s);
        long long del = atomic_load(&l->deleted_at[k]);
        if (rc == JWTS_OK && del && start > del + MAX_STALE_MS) atomic_fetch_add(&l->stale, 1);
        atomic_fetch_add(&l->reads, 1);
    }
    return NULL;
}

/* Write KEYS sessions through a, read each on b until b answers from its cache. */
static int prepare(load *l, jwts_store *a, const char *tag)
{
    /* B's first call finds the master (Sentinel) or the slot map (Cluster); its stream follows */
    jwts_session_key none = {"nobody", "none"};
    jwts_session *ns = NULL;
    jwts_store_get(l->b, NULL, &none, &ns);
    for (int k = 0; k < KEYS; k++) {
        snprintf(l->users[k], sizeof l->users[k], "%s%d", tag, k);
        snprintf(l->sids[k], sizeof l->sids[k], "s%d", k);
        jwts_session s = topo_session(l->users[k], l->sids[k]);
        if (jwts_store_set(a, NULL, &s, 600000) != JWTS_OK) return check(false, "set through A");
    }
    if (!wait_live(l->b, 10000)) return check(false, "B's stream becomes live");
    uint64_t hits = stats_of(l->b).hits;
    for (int round = 0; round < 50 && stats_of(l->b).hits < hits + KEYS; round++)
        for (int k = 0; k < KEYS; k++) {
            jwts_session_key key = {l->users[k], l->sids[k]};
            jwts_session *s = NULL;
            jwts_store_get(l->b, NULL, &key, &s);
            jwts_session_free(s);
        }
    return check(stats_of(l->b).hits >= hits + KEYS, "B answers from its cache before the change");
}

/* Delete every other session through a, recording the acknowledgements. */
static int delete_half(load *l, jwts_store *a)
{
    int f = 0;
    for (int k = 0; k < KEYS; k += 2) {
        jwts_session_key key = {l->users[k], l->sids[k]};
        jwts_err rc = jwts_store_delete(a, NULL, &key);
        if (rc == JWTS_OK) atomic_store(&l->deleted_at[k], topo_now_ms());
        else f += check(false, "delete through A after the change");
    }
    return f;
}

/* After the change: no stale read, deleted ones gone on B, B's cache back. */
static int settle(load *l, pthread_t th, uint64_t flushes_before, jwts_store *truth, const char *what)
{
    topo_sleep_ms(MAX_STALE_MS + 300);
    atomic_store(&l->stop, true);
    pthread_join(th, NULL);
    int f = check(atomic_load(&l->stale) == 0, "no read found a session deleted longer than max_stale ago");
    f += check(atomic_load(&l->reads) > 0, "B read during the change");
    f += check(stats_of(l->b).flushes > flushes_before, "the change flushed B's cache");
    f += check(wait_live(l->b, 15000), "B's stream is live again");
    for (int k = 0; k < KEYS; k++) {
        jwts_session_key key = {l->users[k], l->sids[k]};
        jwts_session *s = NULL;
        jwts_err rc = jwts_store_get(l->b, NULL, &key, &s), want;
        jwts_session_free(s), s = NULL;
        want = jwts_store_get(truth, NULL, &key, &s);
        jwts_session_free(s);
        f += check(k % 2 == 0 ? want == JWTS_E_NOT_FOUND : want == JWTS_OK, "Redis kept A's deletes and the rest");
        f += check(rc == want, "B (cached) answers what Redis holds");
    }
    uint64_t hits = stats_of(l->b).hits;
    for (int round = 0; round < 50 && stats_of(l->b).hits <= hits; round++) {
        jwts_session_key key = {l->users[1], l->sids[1]};
        jwts_session *s = NULL;
        jwts_store_get(l->b, NULL, &key, &s);
        jwts_session_free(s);
        topo_sleep_ms(5);
    }
    f += check(stats_of(l->b).hits > hits, "B's cache answers again after the change");
    printf("%s: %ld reads on B during the change, %llu flushes, %llu stream connects\n", what,
           atomic_load(&l->reads), (unsigned long long)stats_of(l->b).flushes,
           (unsigned long long)stats_of(l->b).stream_connects);
    return f;
}

static int sentinel_failover(void)
{
    topo_sentinel t;
    if (!topo_sentinel_start(&t)) {
        topo_sentinel_destroy(&t);
        return check(false, "start the sentinel deployment");
    }
    topo_sentinel_url(&t, url, sizeof url);
    jwts_redis_sentinel_options o = {.url = url, .pool_size = 4, .key_prefix = "ct:",
                                     .cache = {.enabled = true, .max_stale_ms = MAX_STALE_MS}};
    jwts_store *a = NULL, *b = NULL, *truth = NULL;
    int f = check(jwts_store_redis_sentinel_new(&o, &a) == JWTS_OK && jwts_store_redis_sentinel_new(&o, &b) == JWTS_OK,
                  "open the sentinel stores with caches");
    o.cache.enabled = false;
    f += check(jwts_store_redis_sentinel_new(&o, &truth) == JWTS_OK, "open a sentinel store without cache");
    load *l = calloc(1, sizeof *l);
    l->b = b;
    if (!f) f += prepare(l, a, "sf");
    if (!f) {
        uint64_t flushes = stats_of(b).flushes;
        int old_port = topo_sentinel_master_port(&t, 0);
        pthread_t th;
        pthread_create(&th, NULL, reader, l);
        char out[256];
        const char *argv[] = {"SENTINEL", "FAILOVER", "mymaster"};
        f += check(redis_server_command(&t.sentinels[0], out, sizeof out, 3, argv), "SENTINEL FAILOVER");
        int port = -1;
        for (long long until = topo_now_ms() + 20000; topo_now_ms() < until; topo_sleep_ms(50))
            if ((port = topo_sentinel_master_port(&t, 1)) > 0 && port != old_port) break;
        f += check(port > 0 && port != old_port, "the sentinels name a new master");
        /* delete only once the old master replicates from the new one: a write the old master
         * acknowledged before its demotion is lost by Redis itself (no WAIT here) */
        redis_server *old = NULL;
        for (int i = 0; i < 3; i++)
            if (t.data[i].port == old_port) old = &t.data[i];
        bool demoted = false;
        for (long long until = topo_now_ms() + 20000; old && !demoted && topo_now_ms() < until; topo_sleep_ms(50)) {
            char info[4096];
            const char *iargv[] = {"INFO", "replication"};
            demoted = redis_server_command(old, info, sizeof info, 2, iargv) && strstr(info, "role:slave") &&
                      strstr(info, "master_link_status:up");
        }
        f += check(demoted, "the old master became a replica of the new one");
        topo_sleep_ms(300); /* let both stores follow +switch-master */
        f += delete_half(l, a);
        f += settle(l, th, flushes, truth, "sentinel failover");
    }
    free(l);
    jwts_store_free(a), jwts_store_free(b), jwts_store_free(truth);
    topo_sentinel_destroy(&t);
    return f;
}

static bool node_id(const redis_server *s, char *id, size_t cap)
{
    const char *argv[] = {"CLUSTER", "MYID"};
    return redis_server_command(s, id, cap, 2, argv) && id[0] != '-';
}

static int cluster_reshard(void)
{
    topo_cluster c;
    if (!topo_cluster_start(&c, 3, 0, 1000)) {
        topo_cluster_destroy(&c);
        return check(false, "start the cluster");
    }
    topo_cluster_url(&c, url, sizeof url);
    jwts_redis_cluster_options o = {.url = url, .pool_size = 4, .key_prefix = "ct:",
                                    .cache = {.enabled = true, .max_stale_ms = MAX_STALE_MS}};
    jwts_store *a = NULL, *b = NULL, *truth = NULL;
    int f = check(jwts_store_redis_cluster_new(&o, &a) == JWTS_OK && jwts_store_redis_cluster_new(&o, &b) == JWTS_OK,
                  "open the cluster stores with caches");
    o.cache.enabled = false;
    f += check(jwts_store_redis_cluster_new(&o, &truth) == JWTS_OK, "open a cluster store without cache");
    load *l = calloc(1, sizeof *l);
    l->b = b;
    if (!f) f += prepare(l, a, "cr");
    char from_id[64], to_id[64];
    if (!f && !(node_id(&c.nodes[0], from_id, sizeof from_id) && node_id(&c.nodes[1], to_id, sizeof to_id)))
        f += check(false, "node ids");
    if (!f) {
        uint64_t flushes = stats_of(b).flushes;
        pthread_t th;
        pthread_create(&th, NULL, reader, l);
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "timeout 90 redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s --cluster-to %s "
                 "--cluster-slots 3000 --cluster-yes > %s/reshard.log 2>&1",
                 c.nodes[0].port, from_id, to_id, c.nodes[0].dir);
        f += check(system(cmd) == 0, "redis-cli --cluster reshard");
        f += delete_half(l, a);
        f += settle(l, th, flushes, truth, "cluster reshard");
    }
    free(l);
    jwts_store_free(a), jwts_store_free(b), jwts_store_free(truth);
    topo_cluster_destroy(&c);
    return f;
}

int main(void)
{
    int f = sentinel_failover();
    f += cluster_reshard();
    printf("cache topology: %d failure(s)\n", f);
    return f != 0;
}
