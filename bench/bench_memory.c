/*
 * bench_memory.c - the memory store's speed and memory targets.
 *
 *   get of an existing session, one thread          >= 3,000,000 ops/s
 *   get with two threads                            >= 1.7x one thread (same run)
 *
 * Gets are measured on two working sets: 10,000 sessions (they fit in the CPU caches, like the
 * active sessions of a busy node) and 200,000 (about 50 MB, larger than this machine's 32 MB L3,
 * so nearly every get misses the cache twice: the table slot and the entry).
 *   memory per session beyond the user's own bytes  <= 256 bytes, with 1,000,000 sessions
 *
 * Baselines printed in the same run: the bare cost of what a get must do at least (one malloc of
 * the session's size, one memcpy, one free), so the store's own overhead is visible; and for the
 * 200,000 sessions, that copy plus the three cache misses in a row a get out of the caches cannot
 * avoid (the caller's key, the table slot, the entry), each timed as one step of a pointer chase
 * through 128 MiB in a random cycle. Every measure runs in rounds (ours and the baselines in
 * turns, the order flipping each round) and the medians are compared.
 * The bytes per session are measured in a fresh process (this program re-executed with
 * --rss-child N), so the get measurements before it cannot have raised the RSS already: the
 * resident set grown while filling N sessions, minus the users' own bytes. Exits 1 when a target
 * is missed.
 * Usage: bench_memory [seconds-per-measure] [sessions-for-memory] [rounds]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#include "jwtsession/jwtsession.h"

#define HOT_KEYS 10000
#define COLD_KEYS 200000
#define METADATA "{\"device\":\"laptop\",\"ip\":\"192.0.2.10\"}"

/* One key per 48-byte record, so the harness itself costs one cache line per get. */
typedef struct key_rec {
    char user[24];
    char id[JWTS_SESSION_ID_LEN + 1];
} key_rec;

typedef struct key_set {
    key_rec *k;
    size_t n;
} key_set;

static double seconds = 1.0;
static int rounds = 5;

static void die(jwts_err rc, const char *what)
{
    fprintf(stderr, "bench_memory: %s: %s: %s\n", what, jwts_errname(rc), jwts_errdetail());
    exit(1);
}

static key_set make_keys(size_t n, const char *tag)
{
    key_set k = {malloc(n * sizeof *k.k), n};
    if (!k.k) die(JWTS_E_NO_MEMORY, "keys");
    for (size_t i = 0; i < n; i++) {
        snprintf(k.k[i].user, sizeof k.k[i].user, "%s%zu", tag, i);
        jwts_err rc = jwts_session_id_new(k.k[i].user, k.k[i].id);
        if (rc) die(rc, "session id");
    }
    return k;
}

static void fill(jwts_store *st, const key_set *k)
{
    int64_t now = jwts_now_ms();
    for (size_t i = 0; i < k->n; i++) {
        jwts_session s = {.user_id = k->k[i].user, .session_id = k->k[i].id, .created_at_ms = now,
                          .updated_at_ms = now, .expires_at_ms = now + 3600000, .last_seen_ms = now,
                          .metadata = METADATA};
        jwts_err rc = jwts_store_set(st, NULL, &s, 3600000);
        if (rc) die(rc, "set");
    }
}

typedef struct job {
    jwts_store *st;
    const key_set *keys;
    size_t start;
    double ops_per_s;
    pthread_barrier_t *go;
} job;

/* Gets over the key set in a scrambled order for `seconds`. */
static void *run_gets(void *arg)
{
    job *j = arg;
    if (j->go) pthread_barrier_wait(j->go);
    size_t n = j->keys->n, i = j->start, ops = 0;
    int64_t t0 = jwts_monotonic_ns(), limit = (int64_t)(seconds * 1e9), elapsed = 0;
    while (elapsed < limit) {
        for (int b = 0; b < 1024; b++) {
            i = (i + 7919) % n;
            jwts_session *s;
            jwts_session_key key = {j->keys->k[i].user, j->keys->k[i].id};
            jwts_err rc = jwts_store_get(j->st, NULL, &key, &s);
            if (rc) die(rc, "get");
            jwts_session_free(s);
        }
        ops += 1024;
        elapsed = jwts_monotonic_ns() - t0;
    }
    j->ops_per_s = (double)ops / ((double)elapsed / 1e9);
    return NULL;
}

/* The floor of a copy-out get: malloc + memcpy + free of one session's bytes. */
static double copy_floor(jwts_store *st, const key_set *k)
{
    jwts_session *s;
    jwts_err rc = jwts_store_get(st, NULL, &(jwts_session_key){k->k[0].user, k->k[0].id}, &s);
    if (rc) die(rc, "get");
    size_t size = sizeof *s + strlen(s->user_id) + strlen(s->session_id) + strlen(s->metadata) + 3;
    size_t ops = 0;
    int64_t t0 = jwts_monotonic_ns(), limit = (int64_t)(seconds * 1e9), elapsed = 0;
    while (elapsed < limit) {
        for (int b = 0; b < 1024; b++) {
            void *p = malloc(size);
            memcpy(p, s, size);
            __asm__ volatile("" : : "r"(p) : "memory");
            free(p);
        }
        ops += 1024;
        elapsed = jwts_monotonic_ns() - t0;
    }
    jwts_session_free(s);
    return (double)ops / ((double)elapsed / 1e9);
}

static double threads_get(jwts_store *st, const key_set *k, int threads)
{
    pthread_t t[8];
    job jobs[8];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)threads);
    double total = 0;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){.st = st, .keys = k, .start = (size_t)i * 104729, .go = &go};
        pthread_create(&t[i], NULL, run_gets, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += jobs[i].ops_per_s;
    }
    pthread_barrier_destroy(&go);
    return total;
}

/* The resident set now, in bytes (/proc/self/statm), or -1. */
static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static const char *verdict(int ok, const char *what)
{
    if (!ok) bench_miss(what);
    return ok ? "PASS" : "MISS";
}

/* The child: fill n sessions into a new store and print "grown_bytes user_bytes". */
static int rss_child(size_t n)
{
    key_set m = make_keys(n, "member-");
    double user_bytes = 0;
    for (size_t i = 0; i < m.n; i++) user_bytes += (double)(strlen(m.k[i].user) + strlen(m.k[i].id) + strlen(METADATA));
    double before = rss_bytes();
    jwts_store *st;
    jwts_memory_options mo = {.max_sessions = n};
    jwts_err rc = jwts_store_memory_new(&mo, &st);
    if (rc) die(rc, "new");
    fill(st, &m);
    double after = rss_bytes();
    if (before < 0 || after < 0) return 1;
    printf("%.0f %.0f\n", after - before, user_bytes);
    jwts_store_free(st);
    free(m.k);
    return 0;
}

/* Run this program again as --rss-child n and read its figures. */
static int rss_in_fresh_process(size_t n, double *grown, double *user_bytes)
{
    char cmd[4200], self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = '\0';
    snprintf(cmd, sizeof cmd, "'%s' --rss-child %zu", self, n);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int got = fscanf(p, "%lf %lf", grown, user_bytes);
    int st = pclose(p);
    return got == 2 && st == 0 ? 0 : -1;
}

/* Nanoseconds per step of a pointer chase through bytes of memory in one random cycle of
 * 64-byte lines: the latency of a cache miss to memory that a get out of the caches pays for each
 * pointer it follows. */
static double miss_ns(size_t bytes)
{
    size_t n = bytes / 64;
    size_t *line = aligned_alloc(64, n * 64), *order = malloc(n * sizeof *order);
    if (!line || !order) die(JWTS_E_NO_MEMORY, "chase");
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n - 1; i > 0; i--) { /* Sattolo: one cycle through every line */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t j = (size_t)(x % i), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (size_t i = 0; i < n; i++) line[order[i] * 8] = order[(i + 1) % n] * 8;
    free(order);
    size_t at = 0, steps = 0;
    int64_t t0 = jwts_monotonic_ns(), limit = (int64_t)(seconds * 1e9 / 4), elapsed = 0;
    while (elapsed < limit) {
        for (int b = 0; b < 4096; b++) at = line[at];
        steps += 4096;
        elapsed = jwts_monotonic_ns() - t0;
    }
    __asm__ volatile("" : : "r"(at) : "memory");
    free(line);
    return (double)elapsed / (double)steps;
}

#define CHASE_BYTES ((size_t)128 << 20)

typedef struct get_figures {
    size_t keys;
    double floor_ops, one, two, miss; /* medians */
} get_figures;

/* Get throughput on a store of n sessions with 1 and 2 threads, the copy floor and (cold: the
 * working set does not fit in the caches) the latency of a miss, in alternating rounds. */
static get_figures measure_gets(size_t n, bool cold)
{
    jwts_store *st;
    jwts_memory_options o = {.max_sessions = n};
    jwts_err rc = jwts_store_memory_new(&o, &st);
    if (rc) die(rc, "new");
    key_set k = make_keys(n, "user-");
    fill(st, &k);
    double floor_r[64], one_r[64], two_r[64], miss_r[64];
    for (int r = 0; r < rounds; r++) {
        if (r % 2 == 0) one_r[r] = threads_get(st, &k, 1), two_r[r] = threads_get(st, &k, 2);
        floor_r[r] = copy_floor(st, &k);
        miss_r[r] = cold ? miss_ns(CHASE_BYTES) : 0;
        if (r % 2 == 1) two_r[r] = threads_get(st, &k, 2), one_r[r] = threads_get(st, &k, 1);
    }
    get_figures f = {.keys = n, .floor_ops = bench_median(floor_r, rounds), .one = bench_median(one_r, rounds),
                     .two = bench_median(two_r, rounds), .miss = bench_median(miss_r, rounds)};
    jwts_store_free(st);
    free(k.k);
    return f;
}

static void print_gets(const get_figures *f)
{
    char what[64];
    snprintf(what, sizeof what, "get ops/s, 1 thread, %zu sessions", f->keys);
    printf("  %-46s %12.0f %12.0f %7.2fx %10s %s\n", what, f->one, f->floor_ops, f->one / f->floor_ops,
           ">=3000000", verdict(f->one >= 3e6, what));
    if (f->miss > 0) { /* what a get out of the caches cannot go below */
        double floor_ns = 3 * f->miss + 1e9 / f->floor_ops;
        printf("  %-46s %12.1f %12.1f %7.2fx %10s\n", "  get ns, 1 thread (vs 3 misses + the copy)", 1e9 / f->one,
               floor_ns, 1e9 / f->one / floor_ns, "-");
        printf("    (a miss to memory: %.1f ns, a step of a pointer chase through %zu MiB; the copy: %.1f ns)\n",
               f->miss, CHASE_BYTES >> 20, 1e9 / f->floor_ops);
    }
    snprintf(what, sizeof what, "get ops/s, 2 threads, %zu sessions", f->keys);
    printf("  %-46s %12.0f %12.0f %7.2fx %10s %s\n", what, f->two, f->one, f->two / f->one, ">=1.70x",
           verdict(f->two >= 1.7 * f->one, what));
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--rss-child") == 0) return rss_child((size_t)atol(argv[2]));
    if (argc > 1) seconds = atof(argv[1]);
    size_t mem_sessions = argc > 2 ? (size_t)atol(argv[2]) : 1000000;
    if (argc > 3) rounds = atoi(argv[3]);
    if (seconds <= 0 || mem_sessions == 0 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "usage: bench_memory [seconds-per-measure > 0] [sessions-for-memory > 0] [rounds 1..64]\n");
        return 2;
    }

    /* memory first, in a fresh process: RSS growth while filling mem_sessions, minus users' bytes */
    double grown = 0, user_bytes = 0;
    if (rss_in_fresh_process(mem_sessions, &grown, &user_bytes)) {
        fprintf(stderr, "bench_memory: the --rss-child run failed\n");
        return 1;
    }
    double per_session = (grown - user_bytes) / (double)mem_sessions;

    get_figures hot = measure_gets(HOT_KEYS, false), cold = measure_gets(COLD_KEYS, true);

    printf("memory store (%.1f s per measure, medians of %d alternating rounds; get baselines: 1 thread = "
           "malloc+copy+free of a session, 2 threads = 1 thread)\n",
           seconds, rounds);
    printf("  %-46s %12s %12s %8s %10s %s\n", "measure", "ours", "baseline", "ratio", "target", "");
    print_gets(&hot);
    print_gets(&cold);
    printf("  %-46s %12.1f %12s %8s %10s %s\n", "bytes/session beyond user bytes (fresh process RSS)", per_session,
           "-", "-", "<=256", verdict(per_session <= 256, "bytes/session <= 256"));
    printf("  (%zu sessions in a fresh process: RSS grew %.1f MiB, users' own bytes %.1f MiB)\n", mem_sessions,
           grown / 1048576.0, user_bytes / 1048576.0);
    return bench_finish("bench_memory");
}
