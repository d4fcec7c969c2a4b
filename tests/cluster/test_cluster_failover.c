/*
 * test_cluster_failover.c - the cluster store while the cluster changes under load.
 *
 * One 3-master, 3-replica cluster (cluster-node-timeout 1000 ms), four threads each running
 * set / get / touch / delete cycles on their own users, over 2000 resident sessions:
 *   1. live resharding: redis-cli --cluster reshard moves 1000 slots from one master to another
 *      while the threads run; no operation may fail and every resident session must survive;
 *   2. a master killed (SIGKILL): its replica is promoted by the cluster; calls fail at most
 *      while no node serves the slots, and every call succeeds again afterwards.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "topology.h"

#define THREADS 4
#define USERS_PER_THREAD 50
#define RESIDENT 2000
#define RESHARD_SLOTS 1000

static char url[512];
static jwts_store *store;
static atomic_bool stop;
static atomic_long ops, failures;
static atomic_llong first_fail_ms, last_fail_ms;

static void fail_seen(const char *what, jwts_err rc)
{
    long n = atomic_fetch_add(&failures, 1);
    long long now = topo_now_ms(), zero = 0;
    atomic_compare_exchange_strong(&first_fail_ms, &zero, now);
    atomic_store(&last_fail_ms, now);
    if (n < 5) fprintf(stderr, "%s: %s: %s\n", what, jwts_errname(rc), jwts_errdetail());
}

/* One set / get / touch / delete cycle; false if any step failed. */
static bool cycle(const char *user, const char *sid)
{
    jwts_session s = topo_session(user, sid);
    jwts_session_key key = {user, sid};
    jwts_session *got = NULL;
    jwts_err rc = jwts_store_set(store, NULL, &s, 60000);
    if (rc) return fail_seen("set", rc), false;
    rc = jwts_store_get(store, NULL, &key, &got);
    if (!rc && strcmp(got->session_id, sid) != 0) rc = JWTS_E_INTERNAL;
    jwts_session_free(got);
    if (rc) return fail_seen("get", rc), false;
    if ((rc = jwts_store_touch(store, NULL, &key, 2000, 0, 60000))) return fail_seen("touch", rc), false;
    if ((rc = jwts_store_delete(store, NULL, &key))) return fail_seen("delete", rc), false;
    return true;
}

static void *worker(void *arg)
{
    long t = (long)(intptr_t)arg;
    for (long i = 0; !atomic_load(&stop); i++) {
        char user[32], sid[32];
        snprintf(user, sizeof user, "load-%ld-%ld", t, i % USERS_PER_THREAD);
        snprintf(sid, sizeof sid, "s%ld", i);
        cycle(user, sid);
        atomic_fetch_add(&ops, 1);
    }
    return NULL;
}

static void load_start(pthread_t *th)
{
    atomic_store(&stop, false);
    atomic_store(&ops, 0), atomic_store(&failures, 0);
    atomic_store(&first_fail_ms, 0), atomic_store(&last_fail_ms, 0);
    for (long t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
}

static void load_stop(pthread_t *th)
{
    atomic_store(&stop, true);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
}

static bool resident(bool write)
{
    static jwts_session s[RESIDENT];
    static const jwts_session *ps[RESIDENT];
    static jwts_session_key keys[RESIDENT];
    static char users[RESIDENT][24];
    static jwts_session *got[RESIDENT];
    for (int i = 0; i < RESIDENT; i++) {
        snprintf(users[i], sizeof users[i], "resident-%d", i);
        s[i] = topo_session(users[i], "r1"), ps[i] = &s[i], keys[i] = (jwts_session_key){users[i], "r1"};
    }
    if (write) return jwts_store_set_many(store, NULL, ps, RESIDENT, 600000) == JWTS_OK;
    memset(got, 0, sizeof got);
    if (jwts_store_get_many(store, NULL, keys, RESIDENT, got) != JWTS_OK) return false;
    int missing = 0;
    for (int i = 0; i < RESIDENT; i++) missing += got[i] == NULL, jwts_session_free(got[i]);
    if (missing) fprintf(stderr, "%d of %d resident sessions missing\n", missing, RESIDENT);
    return missing == 0;
}

static bool node_id(const redis_server *s, char *id, size_t cap)
{
    const char *argv[] = {"CLUSTER", "MYID"};
    return redis_server_command(s, id, cap, 2, argv) && id[0] != '-';
}

static bool is_master(const redis_server *s)
{
    char out[4096];
    const char *argv[] = {"INFO", "replication"};
    return s->pid > 0 && redis_server_command(s, out, sizeof out, 2, argv) && strstr(out, "role:master");
}

static int check(bool ok, const char *what)
{
    if (!ok) fprintf(stderr, "FAILED: %s\n", what);
    return ok ? 0 : 1;
}

static int reshard(topo_cluster *c)
{
    redis_server *from = NULL, *to = NULL;
    for (size_t i = 0; i < c->n && !to; i++) {
        if (!is_master(&c->nodes[i])) continue;
        if (!from)
            from = &c->nodes[i];
        else
            to = &c->nodes[i];
    }
    char from_id[64], to_id[64];
    if (!from || !to || !node_id(from, from_id, sizeof from_id) || !node_id(to, to_id, sizeof to_id))
        return check(false, "find two masters");
    int before = topo_cluster_slots_of(from, to->port);
    pthread_t th[THREADS];
    load_start(th);
    topo_sleep_ms(300);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "timeout 90 redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s --cluster-to %s "
             "--cluster-slots %d --cluster-yes > %s/reshard.log 2>&1",
             from->port, from_id, to_id, RESHARD_SLOTS, from->dir);
    long long t0 = topo_now_ms();
    int rc = system(cmd);
    long long took = topo_now_ms() - t0;
    topo_sleep_ms(300);
    load_stop(th);
    int after = topo_cluster_slots_of(from, to->port);
    printf("reshard: %d slots moved in %lld ms under load: %ld operations, %ld failed\n", after - before, took,
           atomic_load(&ops), atomic_load(&failures));
    int f = check(rc == 0, "redis-cli --cluster reshard");
    f += check(after - before == RESHARD_SLOTS, "the target master gained the resharded slots");
    f += check(atomic_load(&ops) > 0, "operations ran during the reshard");
    f += check(atomic_load(&failures) == 0, "no operation failed during the reshard");
    f += check(resident(false), "every resident session survived the reshard");
    return f;
}

static int kill_master(topo_cluster *c)
{
    redis_server *victim = NULL;
    for (size_t i = 0; i < c->n && !victim; i++)
        if (is_master(&c->nodes[i])) victim = &c->nodes[i];
    if (!victim) return check(false, "find a master");
    int port = victim->port, served = topo_cluster_slots_of(victim, port);
    pthread_t th[THREADS];
    load_start(th);
    topo_sleep_ms(300);
    long long killed = topo_now_ms();
    redis_server_stop(victim, true);
    redis_server *live = NULL;
    for (size_t i = 0; i < c->n && !live; i++)
        if (c->nodes[i].pid > 0) live = &c->nodes[i];
    /* promoted: the failed master's slots belong to another node, and the cluster is ok again */
    while (topo_cluster_slots_of(live, port) != 0 && topo_now_ms() - killed < 20000) topo_sleep_ms(50);
    bool ok = topo_cluster_slots_of(live, port) == 0 && topo_cluster_wait_ok(c, 20000);
    long long promoted = topo_now_ms();
    if (!ok) {
        const char *argv[] = {"CLUSTER", "NODES"};
        char out[4096];
        if (redis_server_command(live, out, sizeof out, 2, argv)) fprintf(stderr, "no promotion:\n%s\n", out);
        for (size_t i = 0; i < c->n; i++) {
            char cmd[600];
            snprintf(cmd, sizeof cmd, "grep -h -i -E 'fail|elect|vote' %s/redis.log | tail -n 6 >&2", c->nodes[i].dir);
            if (c->nodes[i].pid > 0 && system(cmd) != 0) fprintf(stderr, "(no log)\n");
        }
    }
    topo_sleep_ms(1000);
    load_stop(th);
    long long ff = atomic_load(&first_fail_ms), lf = atomic_load(&last_fail_ms);
    printf("kill: master :%d (%d slots) killed; replica promoted after %lld ms; %ld operations, %ld failed%s", port,
           served, promoted - killed, atomic_load(&ops), atomic_load(&failures), ff ? "" : "\n");
    if (ff) printf(", failures from +%lld ms to +%lld ms after the kill\n", ff - killed, lf - killed);
    int f = check(ok, "a replica took the killed master's slots and the cluster is ok");
    if (!ok) return f;
    f += check(atomic_load(&ops) > 0, "operations ran during the failover");
    /* afterwards every call succeeds again, on every user of every thread */
    atomic_store(&failures, 0);
    for (long t = 0; t < THREADS; t++)
        for (long u = 0; u < USERS_PER_THREAD; u++) {
            char user[32];
            snprintf(user, sizeof user, "load-%ld-%ld", t, u);
            cycle(user, "after");
        }
    f += check(atomic_load(&failures) == 0, "every operation succeeds after the promotion");
    return f;
}

int main(void)
{
    topo_cluster c;
    int failures_total = 0;
    if (!topo_cluster_start(&c, 3, 1, 1000)) {
        fprintf(stderr, "cannot start the cluster\n");
        topo_cluster_destroy(&c);
        return 1;
    }
    topo_cluster_url(&c, url, sizeof url);
    jwts_redis_cluster_options o = {.url = url, .pool_size = 4, .key_prefix = "fo:"};
    if (jwts_store_redis_cluster_new(&o, &store) != JWTS_OK || !resident(true)) {
        fprintf(stderr, "cannot open the store or write the resident sessions: %s\n", jwts_errdetail());
        topo_cluster_destroy(&c);
        return 1;
    }
    failures_total += reshard(&c);
    failures_total += kill_master(&c);
    jwts_store_free(store);
    topo_cluster_destroy(&c);
    printf("cluster failover: %d failure(s)\n", failures_total);
    return failures_total != 0;
}
