/*
 * bench_cache.c - the near cache's speed targets (issue #14), with same-run baselines.
 *
 *   validate over Redis with the cache (hit), one thread   <= 1.5x validate on the memory store
 *   revocation propagation between two instances            p99 <= 2 ms (p50 printed)
 *
 * The validate figures alternate rounds (memory, cached Redis, memory, ...) and compare medians,
 * so a machine whose load changes during the run hurts both sides alike; validate over Redis
 * without the cache is printed for reference. Propagation: instance A revokes a session that
 * instance B holds in its cache; B validates in a loop until refused; the delay counts from A's
 * acknowledgement to B's first refusal (what a client of B could observe).
 * Usage: bench_cache [seconds-per-round] [propagation-samples]   (exits 1 on a MISS)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "jwtsession/jwtsession.h"

#define USERS 1000
#define ROUNDS 5

static jwts_store *redis_store(const bench_redis *r, bool cache)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", r->port);
    jwts_redis_options o = {.url = url, .key_prefix = "bc:", .cache = {.enabled = cache}};
    jwts_store *st;
    jwts_err rc = jwts_store_redis_new(&o, &st);
    if (rc) bench_die("bench_cache", rc, "redis store");
    for (int i = 0; cache && i < 1000; i++) { /* wait until the stream is live (10 s at most) */
        jwts_redis_cache_stats s;
        jwts_store_redis_cache_stats(st, &s);
        if (s.live) break;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return st;
}

static void create_sessions(jwts_manager *m, jwts_tokens *tokens)
{
    char user[32];
    for (int i = 0; i < USERS; i++) {
        snprintf(user, sizeof user, "user%d@example.com", i);
        jwts_err rc = jwts_manager_create(m, NULL, user, "{\"device\":\"laptop\",\"ip\":\"192.0.2.1\"}", &tokens[i]);
        if (rc) bench_die("bench_cache", rc, "create");
    }
}

typedef struct job {
    jwts_manager *m;
    jwts_tokens *tokens;
} job;

static void validate_once(void *arg, uint64_t i)
{
    job *j = arg;
    const char *tok = j->tokens[i % USERS].access_token;
    jwts_err rc = jwts_manager_validate(j->m, NULL, tok, strlen(tok), NULL, NULL);
    if (rc) bench_die("bench_cache", rc, "validate");
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, by_double);
    return v[n / 2];
}

static double now_ms(void) { return (double)jwts_monotonic_ns() / 1e6; }

/* Delays (ms) from A's revoke acknowledgement to B's first refusal, n samples. */
static void propagation(jwts_manager *a, jwts_manager *b, jwts_store *bst, double *out, int n)
{
    for (int i = 0; i < n; i++) {
        jwts_tokens t;
        jwts_err rc = jwts_manager_create(a, NULL, "prop@example.com", NULL, &t);
        if (rc) bench_die("bench_cache", rc, "create");
        size_t len = strlen(t.access_token);
        jwts_redis_cache_stats s0, s1;
        jwts_store_redis_cache_stats(bst, &s0);
        for (int k = 0; k < 1000; k++) { /* until B answers it from its cache */
            if ((rc = jwts_manager_validate(b, NULL, t.access_token, len, NULL, NULL))) bench_die("bench_cache", rc, "warm");
            jwts_store_redis_cache_stats(bst, &s1);
            if (s1.hits >= s0.hits + 2) break;
        }
        if ((rc = jwts_manager_revoke(a, NULL, "prop@example.com", t.session_id))) bench_die("bench_cache", rc, "revoke");
        double ack = now_ms(), refused;
        while (jwts_manager_validate(b, NULL, t.access_token, len, NULL, NULL) == JWTS_OK) {}
        refused = now_ms();
        out[i] = refused - ack;
        jwts_tokens_clear(&t);
    }
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int samples = argc > 2 ? atoi(argv[2]) : 300;
    if (seconds <= 0 || samples < 10) {
        fprintf(stderr, "usage: bench_cache [seconds-per-round] [samples >= 10]\n");
        return 2;
    }
    bench_redis r;
    if (!bench_redis_start(&r)) return 1;
    jwts_keyset *ks = bench_hs256_keys();
    jwts_store *mem, *cached = redis_store(&r, true), *plain = redis_store(&r, false);
    jwts_err rc = jwts_store_memory_new(NULL, &mem);
    if (rc) bench_die("bench_cache", rc, "memory store");
    jwts_manager *mm = bench_manager_on(mem, ks), *mc = bench_manager_on(cached, ks), *mp = bench_manager_on(plain, ks);
    jwts_tokens *tm = calloc(USERS, sizeof *tm), *tc = calloc(USERS, sizeof *tc);
    create_sessions(mm, tm);
    create_sessions(mc, tc);
    job jm = {mm, tm}, jc = {mc, tc}, jp = {mp, tc};
    for (uint64_t i = 0; i < 3 * USERS; i++) validate_once(&jc, i); /* fill the cache */

    double mem_us[ROUNDS], hit_us[ROUNDS];
    jwts_redis_cache_stats before, after;
    jwts_store_redis_cache_stats(cached, &before);
    for (int k = 0; k < ROUNDS; k++) {
        mem_us[k] = bench_us_per_op(validate_once, &jm, seconds);
        hit_us[k] = bench_us_per_op(validate_once, &jc, seconds);
    }
    jwts_store_redis_cache_stats(cached, &after);
    double plain_us = bench_us_per_op(validate_once, &jp, seconds);
    double rtt = bench_redis_get_rtt_us(&r);
    double m = median(mem_us, ROUNDS), h = median(hit_us, ROUNDS);
    uint64_t hits = after.hits - before.hits, reads = hits + (after.misses - before.misses) +
                                                      (after.bypasses - before.bypasses);

    jwts_store *sa = redis_store(&r, true), *sb = redis_store(&r, true);
    jwts_manager *ma = bench_manager_on(sa, ks), *mb = bench_manager_on(sb, ks);
    double *delay = calloc((size_t)samples, sizeof *delay);
    propagation(ma, mb, sb, delay, samples);
    qsort(delay, (size_t)samples, sizeof *delay, by_double);
    double p50 = delay[samples / 2], p99 = delay[(samples * 99) / 100], worst = delay[samples - 1];
    jwts_redis_cache_stats pa;
    jwts_store_redis_cache_stats(sa, &pa);

    printf("bench_cache: %d alternating rounds of %.1f s, medians; %d propagation samples\n", ROUNDS, seconds,
           samples);
    printf("%-56s %12s %12s %8s %10s\n", "measure", "ours", "baseline", "ratio", "target");
    bench_row("validate us/op, Redis + cache (hit) vs memory store", h, m, "<= 1.5x", h <= 1.5 * m);
    bench_row("validate us/op, Redis without cache vs memory store", plain_us, m, "-", -1);
    bench_row("validate us/op, Redis without cache vs GET round trip", plain_us, rtt, "-", -1);
    printf("  cache hit rate during the cached rounds: %.4f (%llu of %llu reads)\n",
           reads ? (double)hits / (double)reads : 0, (unsigned long long)hits, (unsigned long long)reads);
    bench_row("revocation propagation A -> B p50 ms", p50, 2.0, "-", -1);
    bench_row("revocation propagation A -> B p99 ms", p99, 2.0, "<= 2 ms", p99 <= 2.0);
    printf("  worst of %d: %.3f ms; A's own invalidation after its ack: p50 %.3f ms, p99 %.3f ms\n", samples, worst,
           pa.propagation_p50_ms, pa.propagation_p99_ms);
    int miss = !(h <= 1.5 * m) || !(p99 <= 2.0);

    for (int i = 0; i < USERS; i++) jwts_tokens_clear(&tm[i]), jwts_tokens_clear(&tc[i]);
    free(tm), free(tc), free(delay);
    jwts_manager_free(mm), jwts_manager_free(mc), jwts_manager_free(mp), jwts_manager_free(ma), jwts_manager_free(mb);
    jwts_store_free(mem), jwts_store_free(cached), jwts_store_free(plain), jwts_store_free(sa), jwts_store_free(sb);
    jwts_keyset_free(ks);
    bench_redis_stop(&r);
    return miss;
}
