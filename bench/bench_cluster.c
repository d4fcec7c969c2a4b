/*
 * bench_cluster.c - validate throughput on Redis Cluster with 1 and 3 masters, next to the
 * single-node Redis store, all on this machine.
 *
 *   validate ops/s, T threads: single redis-server (redis store, pool)
 *   validate ops/s, T threads: cluster of 1 master (cluster store: slot routing, no redirects)
 *   validate ops/s, T threads: cluster of 3 masters (users spread over three servers)
 *   events on the 3 masters (docs/events.md): create+revoke pairs from one thread with events=
 *   (each write's event goes to its slot's outbox and is relayed to the stream) against the same
 *   cluster without; the sweep of all 16384 slots' outboxes and expiry indexes with nothing due,
 *   against the sweep of one Redis server's index
 *
 * Each cluster is started here (redis-server --cluster-enabled yes on free loopback ports through
 * the tests' redis_server helpers, slots assigned with CLUSTER ADDSLOTSRANGE and the nodes joined
 * with CLUSTER MEET), measured and stopped by pid. No target: on one machine every server shares the same cores, so
 * this shows the routing's cost and how the load spreads, not the gain of more machines (docs/scaling.md). Usage:
 * bench_cluster [seconds] [threads] [rounds]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "jwtsession/jwtsession.h"
#include "redis_server.h"

#define USERS 1000
#define MAX_MASTERS 3

static double seconds = 2.0;
static int threads = 8, rounds = 5;

static void die(jwts_err rc, const char *what)
{
    fprintf(stderr, "bench_cluster: %s: %s: %s\n", what, jwts_errname(rc), jwts_errdetail());
    exit(1);
}

/* ---- a cluster of n masters without replicas --------------------------------------------- */

static bool says(const redis_server *s, const char *what, int argc, const char **argv)
{
    char out[4096];
    return redis_server_command(s, out, sizeof out, argc, argv) && strstr(out, what) != NULL;
}

/* n masters (redis_server.h: free loopback ports, temp dirs, stopped by pid), slots split
 * evenly, all met, cluster_state:ok everywhere. */
static void cluster_start(redis_server *nodes, int n)
{
    for (int i = 0; i < n; i++)
        if (!redis_server_start(&nodes[i], "cluster-enabled yes\ncluster-config-file nodes.conf\nappendonly no\n"))
            die(JWTS_E_UNAVAILABLE, "redis-server --cluster-enabled yes");
    for (int i = 0; i < n; i++) {
        char from[16], to[16], port[16];
        snprintf(from, sizeof from, "%d", 16384 * i / n);
        snprintf(to, sizeof to, "%d", 16384 * (i + 1) / n - 1);
        snprintf(port, sizeof port, "%d", nodes[0].port);
        const char *add[] = {"CLUSTER", "ADDSLOTSRANGE", from, to}, *meet[] = {"CLUSTER", "MEET", "127.0.0.1", port};
        if (!says(&nodes[i], "OK", 4, add)) die(JWTS_E_INTERNAL, "CLUSTER ADDSLOTSRANGE");
        if (i && !says(&nodes[i], "OK", 4, meet)) die(JWTS_E_INTERNAL, "CLUSTER MEET");
    }
    const char *info[] = {"CLUSTER", "INFO"};
    for (int tries = 0; tries < 300; tries++) {
        bool ok = true;
        for (int i = 0; i < n && ok; i++) ok = says(&nodes[i], "cluster_state:ok", 2, info);
        if (ok) return;
        usleep(100000);
    }
    die(JWTS_E_TIMEOUT, "cluster_state:ok");
}

/* ---- validate from many threads ---------------------------------------------------------- */

typedef struct job {
    jwts_manager *m;
    jwts_tokens *tokens;
    atomic_bool *stop;
    long ops;
    int id;
} job;

static void *validate_loop(void *arg)
{
    job *j = arg;
    for (long i = j->id; !atomic_load(j->stop); i++) {
        const char *tok = j->tokens[i % USERS].access_token;
        jwts_err rc = jwts_manager_validate(j->m, NULL, tok, strlen(tok), NULL, NULL);
        if (rc) die(rc, "validate");
        j->ops++;
    }
    return NULL;
}

/* validate ops/s over st from the configured threads. */
static double validate_rps(jwts_store *st)
{
    jwts_keyset *ks = bench_hs256_keys();
    jwts_manager_options o = {.store = st, .keyset = ks, .issuer = "https://auth.example.com", .audience = "api"};
    jwts_manager *m = NULL;
    jwts_err rc = jwts_manager_new(&o, &m);
    if (rc) die(rc, "manager");
    static jwts_tokens tokens[USERS];
    for (int i = 0; i < USERS; i++) {
        char user[32];
        snprintf(user, sizeof user, "user%d@example.com", i);
        if ((rc = jwts_manager_create(m, NULL, user, "{\"device\":\"laptop\"}", &tokens[i]))) die(rc, "create");
    }
    atomic_bool stop = false;
    job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){m, tokens, &stop, 0, i * 97};
        pthread_create(&th[i], NULL, validate_loop, &jobs[i]);
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    long ops = 0;
    for (int i = 0; i < threads; i++) pthread_join(th[i], NULL), ops += jobs[i].ops;
    free(jobs), free(th);
    for (int i = 0; i < USERS; i++) jwts_tokens_clear(&tokens[i]);
    jwts_manager_free(m);
    jwts_keyset_free(ks);
    return ops / seconds;
}

/* validate ops/s over the store st (opened with result rc), then free it. */
static double measure(jwts_err rc, jwts_store *st, const char *what)
{
    if (rc) die(rc, what);
    double rps = validate_rps(st);
    jwts_store_free(st);
    return rps;
}

/* ---- events ------------------------------------------------------------------------------ */

/* A manager over its own store (bench_create_revoke's pair first). */
typedef struct managed {
    bench_pair pair;
    jwts_store *st;
} managed;

/* A manager over the store of url, for user names starting with user. */
static managed manager_on(const char *url, const jwts_keyset *ks, const char *user)
{
    managed g = {.pair.user = user};
    jwts_err rc = jwts_store_open_url(url, &g.st);
    jwts_manager_options o = {.store = g.st, .keyset = ks};
    if (rc || (rc = jwts_manager_new(&o, &g.pair.m))) die(rc, url);
    return g;
}

static void manager_close(managed *g)
{
    jwts_manager_free(g->pair.m);
    jwts_store_free(g->st);
}

/* Median ms of rounds sweeps (jwts_manager_cleanup) of m with nothing due, 1.05 s apart (a
 * cluster's sweep of every slot runs once a second at most: one sooner does nothing). */
static double sweep_ms(jwts_manager *m)
{
    double ms[64];
    int n = rounds < 64 ? rounds : 64;
    for (int i = 0; i < n; i++) {
        usleep(1050 * 1000);
        size_t expired = 0;
        int64_t t0 = jwts_monotonic_ns();
        jwts_err rc = jwts_manager_cleanup(m, NULL, &expired);
        if (rc) die(rc, "cleanup");
        ms[i] = (double)(jwts_monotonic_ns() - t0) / 1e6;
    }
    return bench_median(ms, n);
}

static void events_figures(const char *cluster_url, int single_port)
{
    jwts_keyset *ks = bench_hs256_keys();
    char on_url[512], off_url[512], single_url[128];
    snprintf(on_url, sizeof on_url, "%s?events=bench:events&events_maxlen=10000&key_prefix=on:", cluster_url);
    snprintf(off_url, sizeof off_url, "%s?key_prefix=off:", cluster_url);
    snprintf(single_url, sizeof single_url, "redis://127.0.0.1:%d?events=bench:events", single_port);
    managed on = manager_on(on_url, ks, "on"), off = manager_on(off_url, ks, "off");
    double us_on = 0, us_off = 0;
    bench_alternate(bench_create_revoke, &on.pair, bench_create_revoke, &off.pair, rounds, seconds / 2, &us_on,
                    &us_off);
    managed single = manager_on(single_url, ks, "single");
    double cluster_sweep = sweep_ms(on.pair.m), single_sweep = sweep_ms(single.pair.m);
    printf("events on a cluster of 3 masters: one client thread, %d rounds, alternating, medians\n", rounds);
    bench_row("cluster: create+revoke us/pair, events on (vs off)", us_on, us_off, "-", -1);
    printf("  cluster: %.0f pairs/s with events (%.0f events/s relayed), %.0f without\n", 1e6 / us_on, 2e6 / us_on,
           1e6 / us_off);
    bench_row("cluster: sweep ms, 16384 slots (vs one server's index)", cluster_sweep, single_sweep, "-", -1);
    manager_close(&on), manager_close(&off), manager_close(&single);
    jwts_keyset_free(ks);
}

static double on_cluster(int masters, int events_port)
{
    redis_server nodes[MAX_MASTERS];
    cluster_start(nodes, masters);
    char url[256];
    int len = snprintf(url, sizeof url, "redis-cluster://");
    for (int i = 0; i < masters; i++)
        len += snprintf(url + len, sizeof url - (size_t)len, "%s127.0.0.1:%d", i ? "," : "", nodes[i].port);
    jwts_redis_cluster_options o = {.url = url, .pool_size = (size_t)threads};
    jwts_store *st = NULL;
    jwts_err rc = jwts_store_redis_cluster_new(&o, &st); /* before st is read: argument order is unspecified */
    double rps = measure(rc, st, "cluster store");
    if (events_port) events_figures(url, events_port);
    for (int i = 0; i < masters; i++) redis_server_destroy(&nodes[i]);
    return rps;
}

int main(int argc, char **argv)
{
    if (argc > 1) seconds = atof(argv[1]);
    if (argc > 2) threads = atoi(argv[2]);
    if (argc > 3) rounds = atoi(argv[3]);
    if (seconds <= 0 || threads <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: bench_cluster [seconds] [threads] [rounds]\n");
        return 2;
    }
    bench_redis r;
    if (!bench_redis_start(&r)) die(JWTS_E_UNAVAILABLE, "redis-server");
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", r.port);
    jwts_redis_options ro = {.url = url, .pool_size = (size_t)threads};
    jwts_store *st = NULL;
    jwts_err rc = jwts_store_redis_new(&ro, &st);
    double single = measure(rc, st, "redis store");
    double one = on_cluster(1, 0), three = on_cluster(3, r.port); /* with the events figures */
    bench_redis_stop(&r);
    printf("validate throughput, HS256, %d threads, %.1f s per measure, %ld cores\n", threads, seconds,
           sysconf(_SC_NPROCESSORS_ONLN));
    bench_row("validate ops/s, single redis-server (baseline)", single, single, "-", -1);
    bench_row("validate ops/s, cluster of 1 master (vs single)", one, single, "-", -1);
    bench_row("validate ops/s, cluster of 3 masters (vs single)", three, single, "-", -1);
    return 0;
}
