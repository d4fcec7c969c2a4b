/*
 * bench_redis.c - the Redis store against redis-benchmark on the same server in the same run.
 *
 *   bench_redis [seconds] [threads] [rounds]
 * Starts its own redis-server on a free loopback port (or uses JWTS_BENCH_REDIS_PORT), runs
 * redis-benchmark -c 1 -P 1, -c 50 -P 1 and -c 50 -P 16 (-t get) against it, then measures:
 *   - set, get, delete in µs/op from one thread on one connection (pool_size 1, spin_us=100: the
 *     caller busy-polls up to 100 µs for its reply before it sleeps), against the raw GET round
 *     trip of redis-benchmark -c 1 -P 1 (targets: get <= 1.0x, set and delete <= 1.1x); the same
 *     without the spin, and the CPU µs each costs (a spin trades CPU for latency: both printed);
 *   - get ops/s from one thread with 800 jwts_store_get_async in flight on the auto-pipelined
 *     store (as many as the baseline keeps: 50 connections x 16), against redis-benchmark -c 50
 *     -P 16 (target: >= 50%), and with 256 in flight for information; the same store from many
 *     threads calling the blocking get, against -P 16 (for information) and -c 50 -P 1 (target:
 *     >= 5x), with the context switches per get of each (the hand-off cost);
 *   - the hand-off's cost per get: a futex wake-up between two threads on one CPU (ping-pong),
 *     times the context switches per get of the blocking threads and of the asynchronous path;
 *   - for information: the same many-thread get through the pool, and get_many batches of 16.
 * redis-benchmark reads existing 256-byte values of one key, as the issue measured it; -c 50 -P 16
 * also over as many keys as our gets read (-r 20000), for what Redis's own work on a keyspace costs
 * (its CPU per get printed for each). Baselines and ours
 * alternate in rounds (the order flipping each round); every figure is the median round.
 * Figures are printed, never assumed; PASS/MISS compares them with this run's baselines, and the
 * program exits 1 when a target is missed.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "jwtsession/jwtsession.h"

#define USERS 1000
#define SPIN_US 100 /* the single-thread store's spin_us */
#define KEYS 20000
#define METADATA "{\"device\":\"laptop\",\"ip\":\"192.0.2.10\"}"

typedef struct key_rec {
    char user[24];
    char id[JWTS_SESSION_ID_LEN + 1];
} key_rec;

static double seconds = 1.0;
static key_rec *keys;

static void die(jwts_err rc, const char *what)
{
    fprintf(stderr, "bench_redis: %s: %s: %s\n", what, jwts_errname(rc), jwts_errdetail());
    exit(1);
}

static jwts_session session_of(const key_rec *k)
{
    int64_t now = jwts_now_ms();
    return (jwts_session){.user_id = k->user, .session_id = k->id, .created_at_ms = now, .updated_at_ms = now,
                          .expires_at_ms = now + 3600000, .last_seen_ms = now, .metadata = METADATA};
}

static void make_keys(const char *tag)
{
    keys = malloc(KEYS * sizeof *keys);
    if (!keys) die(JWTS_E_NO_MEMORY, "keys");
    for (size_t i = 0; i < KEYS; i++) {
        snprintf(keys[i].user, sizeof keys[i].user, "%s%zu", tag, i % USERS);
        jwts_err rc = jwts_session_id_new(keys[i].user, keys[i].id);
        if (rc) die(rc, "session id");
    }
}

static jwts_store *open_store(int port, bool pipeline, size_t pool, int64_t spin_us)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    jwts_redis_options o = {
        .url = url, .auto_pipeline = pipeline, .pool_size = pool, .key_prefix = "bench:", .spin_us = spin_us};
    jwts_store *st = NULL;
    jwts_err rc = jwts_store_redis_new(&o, &st);
    if (rc) die(rc, "open");
    return st;
}

/* ---- single thread ----------------------------------------------------------------------- */

static void op_set(void *arg, uint64_t i)
{
    jwts_session s = session_of(&keys[i % KEYS]);
    jwts_err rc = jwts_store_set(arg, NULL, &s, 600000);
    if (rc) die(rc, "set");
}

static void op_get(void *arg, uint64_t i)
{
    const key_rec *k = &keys[i % KEYS];
    jwts_session_key key = {k->user, k->id};
    jwts_session *s = NULL;
    jwts_err rc = jwts_store_get(arg, NULL, &key, &s);
    if (rc) die(rc, "get");
    jwts_session_free(s);
}

/* µs per delete of every key (each deletes a stored session), after storing them all. */
static double delete_us(jwts_store *st)
{
    const jwts_session *ptrs[100];
    jwts_session batch[100];
    for (size_t i = 0; i < KEYS; i += 100) {
        for (size_t j = 0; j < 100; j++) batch[j] = session_of(&keys[i + j]), ptrs[j] = &batch[j];
        jwts_err rc = jwts_store_set_many(st, NULL, ptrs, 100, 600000);
        if (rc) die(rc, "set_many");
    }
    int64_t t0 = jwts_monotonic_ns();
    for (size_t i = 0; i < KEYS; i++) {
        jwts_session_key key = {keys[i].user, keys[i].id};
        jwts_err rc = jwts_store_delete(st, NULL, &key);
        if (rc) die(rc, "delete");
    }
    return (double)(jwts_monotonic_ns() - t0) / 1e3 / KEYS;
}

/* One thread, one connection: set, get and delete µs/op on st, and the CPU µs per get. */
static void single_ops(jwts_store *st, double *set_us, double *get_us, double *del_us, double *get_cpu_us)
{
    *set_us = bench_us_per_op(op_set, st, seconds);
    *get_us = bench_us_and_cpu_per_op(op_get, st, seconds, get_cpu_us);
    *del_us = delete_us(st);
    for (size_t i = 0; i < KEYS; i++) op_set(st, i); /* every key again for the gets */
}

/* ---- many threads ------------------------------------------------------------------------ */

typedef struct getter {
    jwts_store *st;
    size_t start, batch;
    uint64_t ops;
    volatile int *stop;
} getter;

static void *get_loop(void *arg)
{
    getter *g = arg;
    jwts_session_key many[16];
    jwts_session *out[16];
    for (uint64_t i = g->start; !__atomic_load_n(g->stop, __ATOMIC_RELAXED); i += g->batch) {
        if (g->batch == 1) {
            op_get(g->st, i);
        } else {
            for (size_t j = 0; j < g->batch; j++) many[j] = (jwts_session_key){keys[(i + j) % KEYS].user, keys[(i + j) % KEYS].id};
            jwts_err rc = jwts_store_get_many(g->st, NULL, many, g->batch, out);
            if (rc) die(rc, "get_many");
            for (size_t j = 0; j < g->batch; j++) jwts_session_free(out[j]);
        }
        g->ops += g->batch;
    }
    return NULL;
}

/* Context switches of this process so far (voluntary and not): the hand-offs a measure costs. */
static double switches(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_nvcsw + ru.ru_nivcsw);
}

/* ---- one thread, many gets in flight (jwts_store_get_async) ------------------------------ */

/* Gets in flight: as many as redis-benchmark -c 50 -P 16 keeps (50 connections x 16), and, for
 * information, a smaller window. */
#define WINDOW 800
#define SMALL_WINDOW 256

typedef struct async_run {
    atomic_long in_flight, done, failed;
    atomic_bool waiting; /* the caller sleeps until the window is half empty */
    long window;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} async_run;

static void async_done(void *arg, jwts_err rc, jwts_session *s)
{
    async_run *a = arg;
    if (rc) atomic_fetch_add(&a->failed, 1);
    jwts_session_free(s);
    atomic_fetch_add(&a->done, 1);
    long left = atomic_fetch_sub(&a->in_flight, 1) - 1;
    if (left <= a->window / 2 && atomic_load(&a->waiting)) {
        pthread_mutex_lock(&a->mu);
        atomic_store(&a->waiting, false);
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
    }
}

/* get ops/s from one thread keeping window asynchronous gets in flight on st. */
static double async_gets(jwts_store *st, long window)
{
    async_run a = {.window = window};
    atomic_init(&a.in_flight, 0), atomic_init(&a.done, 0), atomic_init(&a.failed, 0);
    atomic_init(&a.waiting, false);
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    int64_t t0 = jwts_monotonic_ns(), limit = (int64_t)(seconds * 1e9);
    for (uint64_t i = 0; i % 64 != 0 || jwts_monotonic_ns() - t0 < limit; i++) { /* the clock every 64 gets */
        if (atomic_load(&a.in_flight) >= window) { /* sleep, as an event loop would, not spin */
            pthread_mutex_lock(&a.mu);
            atomic_store(&a.waiting, true);
            while (atomic_load(&a.waiting) && atomic_load(&a.in_flight) > window / 2) pthread_cond_wait(&a.cv, &a.mu);
            atomic_store(&a.waiting, false);
            pthread_mutex_unlock(&a.mu);
        }
        const key_rec *k = &keys[i % KEYS];
        jwts_session_key key = {k->user, k->id};
        atomic_fetch_add(&a.in_flight, 1);
        jwts_err rc = jwts_store_get_async(st, NULL, &key, async_done, &a);
        if (rc) die(rc, "get_async");
    }
    while (atomic_load(&a.in_flight) > 0) sched_yield();
    double elapsed = (double)(jwts_monotonic_ns() - t0) / 1e9;
    if (atomic_load(&a.failed)) die(JWTS_E_INTERNAL, "get_async: a get failed");
    return (double)atomic_load(&a.done) / elapsed;
}

/* ---- the hand-off's own cost -------------------------------------------------------------- */

typedef struct ping_pong {
    atomic_int turn; /* whose turn: 0 or 1; each side sleeps on it until it is its own */
    atomic_bool stop;
    long passes;
} ping_pong;

static void pass_to(ping_pong *p, int to)
{
    atomic_store(&p->turn, to);
    syscall(SYS_futex, &p->turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void wait_for(ping_pong *p, int me)
{
    int t;
    while ((t = atomic_load(&p->turn)) != me && !atomic_load(&p->stop))
        syscall(SYS_futex, &p->turn, FUTEX_WAIT_PRIVATE, t, NULL, NULL, 0);
}

static void *pong(void *arg)
{
    ping_pong *p = arg;
    for (;;) {
        wait_for(p, 1);
        if (atomic_load(&p->stop)) return NULL;
        pass_to(p, 0);
    }
}

/* Microseconds per hand-off between two threads on one CPU that sleep on a futex and wake each
 * other: the CPU a blocking get pays for each context switch its sleep and wake-up bring (on one
 * CPU, so an idle CPU's slow wake-up, which a loaded machine does not pay, is not counted). */
static double handoff_us(void)
{
    ping_pong p = {0};
    atomic_init(&p.turn, 0), atomic_init(&p.stop, false);
    cpu_set_t one, was;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one);
    if (pthread_getaffinity_np(pthread_self(), sizeof was, &was) || pthread_setaffinity_np(pthread_self(), sizeof one, &one))
        die(JWTS_E_INTERNAL, "pthread_setaffinity_np");
    pthread_t t;
    if (pthread_create(&t, NULL, pong, &p)) die(JWTS_E_INTERNAL, "pthread_create"); /* inherits the CPU */
    int64_t t0 = jwts_monotonic_ns(), limit = (int64_t)(seconds * 1e9 / 4);
    while (p.passes % 64 != 0 || jwts_monotonic_ns() - t0 < limit) {
        pass_to(&p, 1);
        wait_for(&p, 0);
        p.passes += 2;
    }
    double us = (double)(jwts_monotonic_ns() - t0) / 1e3 / (double)p.passes;
    atomic_store(&p.stop, true);
    pass_to(&p, 1);
    pthread_join(t, NULL);
    pthread_setaffinity_np(pthread_self(), sizeof was, &was);
    return us;
}

/* get ops/s (sessions read per second) from threads threads for the configured time. */
static double threaded_gets(jwts_store *st, int threads, size_t batch)
{
    getter *g = calloc((size_t)threads, sizeof *g);
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    volatile int stop = 0;
    if (!g || !t) die(JWTS_E_NO_MEMORY, "threads");
    int64_t t0 = jwts_monotonic_ns();
    for (int i = 0; i < threads; i++) {
        g[i] = (getter){.st = st, .start = (size_t)i * 997, .batch = batch, .stop = &stop};
        if (pthread_create(&t[i], NULL, get_loop, &g[i])) die(JWTS_E_INTERNAL, "pthread_create");
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    uint64_t ops = 0;
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL), ops += g[i].ops;
    double elapsed = (double)(jwts_monotonic_ns() - t0) / 1e9;
    free(g);
    free(t);
    return (double)ops / elapsed;
}

int main(int argc, char **argv)
{
    if (argc > 1) seconds = atof(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : 64;
    bench_redis srv;
    if (!bench_redis_start(&srv)) {
        fprintf(stderr, "bench_redis: cannot start or reach redis-server\n");
        return 1;
    }
    make_keys("bench-user-");

    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (seconds <= 0 || threads < 1 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "usage: bench_redis [seconds > 0] [threads >= 1] [rounds 1..64]\n");
        bench_redis_stop(&srv);
        return 2;
    }
    jwts_store *one = open_store(srv.port, false, 1, SPIN_US);
    jwts_store *sleeper = open_store(srv.port, false, 1, 0);
    jwts_store *piped = open_store(srv.port, true, 0, 0);
    jwts_store *pooled = open_store(srv.port, false, 16, 0);
    for (size_t i = 0; i < KEYS; i++) op_set(one, i); /* every key stored before the first timed get */
    double rtt_r[64], p1_r[64], p16_r[64], set_r[64], get_r[64], del_r[64], piped_r[64], pooled_r[64], batch_r[64];
    double cpu_r[64], set0_r[64], get0_r[64], del0_r[64], cpu0_r[64], async_r[64], small_r[64], csw_piped_r[64], csw_async_r[64], handoff_r[64];
    double p16_cpu_r[64], p16_srv_r[64], p16k_r[64], p16k_cpu_r[64], p16k_srv_r[64], async_cpu_r[64], async_srv_r[64];
    for (int r = 0; r < rounds; r++) {
        for (int step = 0; step < 2; step++) {
            if ((step == 0) == (r % 2 == 0)) { /* baselines, same server: first on even rounds */
                rtt_r[r] = bench_redis_get_rtt_us(&srv);
                p1_r[r] = bench_redis_benchmark_rps(&srv, 50, 1, 200000);
                p16_r[r] = bench_redis_benchmark_rps_cpu(&srv, 50, 16, 2000000, 1, &p16_cpu_r[r], &p16_srv_r[r]);
                p16k_r[r] = bench_redis_benchmark_rps_cpu(&srv, 50, 16, 1000000, KEYS, &p16k_cpu_r[r], &p16k_srv_r[r]);
                if (rtt_r[r] <= 0 || p1_r[r] <= 0 || p16_r[r] <= 0 || p16k_r[r] <= 0) {
                    fprintf(stderr, "bench_redis: redis-benchmark gave no figure\n");
                    bench_redis_stop(&srv);
                    return 1;
                }
            } else {
                single_ops(one, &set_r[r], &get_r[r], &del_r[r], &cpu_r[r]);
                single_ops(sleeper, &set0_r[r], &get0_r[r], &del0_r[r], &cpu0_r[r]);
                double c0 = switches();
                piped_r[r] = threaded_gets(piped, threads, 1);
                csw_piped_r[r] = (switches() - c0) / (piped_r[r] * seconds);
                handoff_r[r] = handoff_us();
                c0 = switches();
                double own0 = bench_cpu_us(), srv0 = bench_redis_server_cpu_us(&srv), w0 = (double)jwts_monotonic_ns();
                async_r[r] = async_gets(piped, WINDOW);
                double gets = async_r[r] * ((double)jwts_monotonic_ns() - w0) / 1e9;
                async_cpu_r[r] = (bench_cpu_us() - own0) / gets;
                async_srv_r[r] = (bench_redis_server_cpu_us(&srv) - srv0) / gets;
                csw_async_r[r] = (switches() - c0) / (async_r[r] * seconds);
                small_r[r] = async_gets(piped, SMALL_WINDOW);
                pooled_r[r] = threaded_gets(pooled, threads, 1);
                batch_r[r] = threaded_gets(pooled, 16, 16);
            }
        }
    }
    jwts_store_free(one);
    jwts_store_free(sleeper);
    jwts_store_free(piped);
    jwts_store_free(pooled);
    double rtt_us = bench_median(rtt_r, rounds), rps_p1 = bench_median(p1_r, rounds),
           rps_p16 = bench_median(p16_r, rounds), set_us = bench_median(set_r, rounds),
           get_us = bench_median(get_r, rounds), del_us = bench_median(del_r, rounds),
           piped_rps = bench_median(piped_r, rounds), pooled_rps = bench_median(pooled_r, rounds),
           batch_rps = bench_median(batch_r, rounds), get_cpu = bench_median(cpu_r, rounds),
           set0_us = bench_median(set0_r, rounds), get0_us = bench_median(get0_r, rounds),
           del0_us = bench_median(del0_r, rounds), get0_cpu = bench_median(cpu0_r, rounds),
           async_rps = bench_median(async_r, rounds), small_rps = bench_median(small_r, rounds),
           csw_piped = bench_median(csw_piped_r, rounds), csw_async = bench_median(csw_async_r, rounds);
    double handoff = bench_median(handoff_r, rounds);
    double p16_cpu = bench_median(p16_cpu_r, rounds), p16_srv = bench_median(p16_srv_r, rounds),
           rps_p16k = bench_median(p16k_r, rounds), p16k_cpu = bench_median(p16k_cpu_r, rounds),
           p16k_srv = bench_median(p16k_srv_r, rounds),
           async_cpu = bench_median(async_cpu_r, rounds), async_srv = bench_median(async_srv_r, rounds);

    printf("redis store vs redis-benchmark on the same redis-server (%.1f s per measure, %d threads, medians of %d "
           "alternating rounds; GET baselines read an existing %d-byte value)\n",
           seconds, threads, rounds, BENCH_GET_VALUE_BYTES);
    printf("  %-52s %12s %12s %9s %9s\n", "measure", "ours", "baseline", "ratio", "target");
    bench_row("set us/op, 1 thread, spin 100us (vs GET -c1 -P1 us)", set_us, rtt_us, "<=1.10x", set_us <= 1.1 * rtt_us);
    bench_row("get us/op, 1 thread, spin 100us (vs GET -c1 -P1 us)", get_us, rtt_us, "<=1.00x", get_us <= rtt_us);
    bench_row("delete us/op, 1 thread, spin 100us (vs -c1 -P1 us)", del_us, rtt_us, "<=1.10x", del_us <= 1.1 * rtt_us);
    bench_row("get CPU us/op, spin 100us (vs its wall us/op)", get_cpu, get_us, "-", -1);
    bench_row("set us/op, 1 thread, no spin (vs GET -c1 -P1 us)", set0_us, rtt_us, "-", -1);
    bench_row("get us/op, 1 thread, no spin (vs GET -c1 -P1 us)", get0_us, rtt_us, "-", -1);
    bench_row("delete us/op, 1 thread, no spin (vs -c1 -P1 us)", del0_us, rtt_us, "-", -1);
    bench_row("get CPU us/op, no spin (vs its wall us/op)", get0_cpu, get0_us, "-", -1);
    bench_row("get ops/s, get_async x800, 1 thread (vs -c50 -P16 rps)", async_rps, rps_p16, ">=0.50x",
              async_rps >= 0.5 * rps_p16);
    bench_row("client CPU us per get: get_async x800 (vs -P16)", async_cpu, p16_cpu, "-", -1);
    bench_row("redis-server CPU us per get: get_async (vs -P16)", async_srv, p16_srv, "-", -1);
    printf("  2 cores / (client + server CPU per get): get_async %.0f gets/s at most, redis-benchmark %.0f\n",
           2e6 / (async_cpu + async_srv), 2e6 / (p16_cpu + p16_srv));
    printf("  the same -c50 -P16 over %d keys, as many as ours read (-r %d): %.0f gets/s, client %.3f and "
           "redis-server %.3f CPU us per get\n",
           KEYS, KEYS, rps_p16k, p16k_cpu, p16k_srv);
    bench_row("get ops/s, get_async x800 (vs -P16 over the same keys)", async_rps, rps_p16k, "-", -1);
    bench_row("get ops/s, get_async x256, 1 thread (vs -c50 -P16 rps)", small_rps, rps_p16, "-", -1);
    bench_row("get ops/s, auto-pipeline, sync threads (vs -P16 rps)", piped_rps, rps_p16, "-", -1);
    bench_row("context switches per get: sync threads (vs async)", csw_piped, csw_async, "-", -1);
    bench_row("futex hand-off us per get: sync threads (vs async)", csw_piped * handoff, csw_async * handoff, "-", -1);
    printf("  (a futex wake-up between two threads on one CPU costs %.2f us here, ping-pong; times the switches per get)\n",
           handoff);
    bench_row("get ops/s, auto-pipeline (vs GET -c50 -P1 rps)", piped_rps, rps_p1, ">=5.00x", piped_rps >= 5 * rps_p1);
    bench_row("get ops/s, pool of 16 (vs GET -c50 -P1 rps)", pooled_rps, rps_p1, "-", -1);
    bench_row("get ops/s, get_many x16, 16 threads (vs -P16 rps)", batch_rps, rps_p16, "-", -1);
    bench_redis_stop(&srv);
    free(keys);
    return bench_finish("bench_redis");
}
