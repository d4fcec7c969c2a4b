/*
 * bench_util.h - what every benchmark shares: timing loops, the result table, and a throwaway
 * redis-server with redis-benchmark baselines measured against it in the same run.
 */
#ifndef JWTS_BENCH_UTIL_H
#define JWTS_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "jwtsession/jwtsession.h"

/* Call fn(arg, i) for i = 0, 1, ... for about seconds; returns microseconds per call. */
double bench_us_per_op(void (*fn)(void *arg, uint64_t i), void *arg, double seconds);

/* The process's CPU time in microseconds (user and system, all threads). */
double bench_cpu_us(void);

/* bench_us_per_op, and in *cpu_us the process's CPU microseconds per call over the same time. */
double bench_us_and_cpu_per_op(void (*fn)(void *arg, uint64_t i), void *arg, double seconds, double *cpu_us);

/* Median of the n values in v (v is reordered). */
double bench_median(double *v, int n);

/* Same-run comparison on a shared machine: rounds rounds, each timing a then b (then b then a on
 * odd rounds) for seconds each with bench_us_per_op; *med_a and *med_b get the medians (us/op). */
void bench_alternate(void (*a)(void *, uint64_t), void *arg_a, void (*b)(void *, uint64_t), void *arg_b, int rounds,
                     double seconds, double *med_a, double *med_b);

/* One table row: ours, the same-run baseline, ours/baseline, the target and PASS/MISS
 * (pass < 0: no target). A MISS is remembered for bench_finish. */
void bench_row(const char *what, double ours, double baseline, const char *target, int pass);

/* Record a missed target that has no table row (bench_row records its own). */
void bench_miss(const char *what);

/* The exit status of a benchmark: 0 when every target was met; otherwise 1, after printing
 * "PROG: MISSED n target(s): ..." with each missed target's name on stderr and stdout. */
int bench_finish(const char *prog);

/* A free TCP port on 127.0.0.1 (bound, read back, released), or -1. */
int bench_free_port(void);

/* A redis-server for a benchmark: JWTS_BENCH_REDIS_PORT if set, else one started on a free
 * loopback port in a temp dir (persistence off) and stopped by bench_redis_stop. */
typedef struct bench_redis {
    int port;
    pid_t pid; /* 0 when not ours */
    char dir[128];
} bench_redis;

bool bench_redis_start(bench_redis *r);
void bench_redis_stop(bench_redis *r);

/* Bytes of the value stored under redis-benchmark's GET key (about one session record). */
#define BENCH_GET_VALUE_BYTES 256

/* requests/s that `redis-benchmark -c clients -P pipeline -t get` reports against r, reading one
 * key that holds a BENCH_GET_VALUE_BYTES value (stored first: a GET that misses would flatter it). */
double bench_redis_benchmark_rps(const bench_redis *r, int clients, int pipeline, int requests);

/* The same over keys keys (redis-benchmark -r keys, each stored first with such a value), as many
 * as the gets it is compared with read; the CPU microseconds per request of redis-benchmark itself
 * in *cpu_us and of redis-server in *server_cpu_us (either may be NULL). */
double bench_redis_benchmark_rps_cpu(const bench_redis *r, int clients, int pipeline, int requests, int keys,
                                     double *cpu_us, double *server_cpu_us);

/* The CPU microseconds redis-server has used so far (user and system; 0 when it is not ours). */
double bench_redis_server_cpu_us(const bench_redis *r);

/* The raw GET round trip in microseconds: 1e6 / redis-benchmark -c 1 -P 1 -t get (key filled first). */
double bench_redis_get_rtt_us(const bench_redis *r);

/* Microseconds the server spent per call of command (lower case, e.g. "evalsha") since the last
 * reset (INFO commandstats usec_per_call), 0 if it has none; reset: then CONFIG RESETSTAT. */
double bench_redis_usec_per_call(const bench_redis *r, const char *command, bool reset);

/* Print "prog: what: JWTS_E_...: detail" and exit 1. */
void bench_die(const char *prog, jwts_err rc, const char *what);

/* A manager and the users it creates sessions for, "<user>-<n>" with n in 0..999. */
typedef struct bench_pair {
    jwts_manager *m;
    const char *user;
} bench_pair;

/* One jwts_manager_create and the jwts_manager_revoke of that session (two lifecycle events) by
 * pair (a bench_pair) for its user number i mod 1000; exits on failure. For bench_alternate. */
void bench_create_revoke(void *pair, uint64_t i);

/* A key set with one HS256 signing key (kid "bench"); exits on failure. */
jwts_keyset *bench_hs256_keys(void);

/* A manager on st and ks (issuer https://auth.example.com, audience api); exits on failure. */
jwts_manager *bench_manager_on(jwts_store *st, const jwts_keyset *ks);

/* One HTTP/1.0 exchange with 127.0.0.1:port: the whole answer into out (NUL-terminated). */
bool bench_http_exchange(int port, const char *req, char *out, size_t cap);

/* The admin key the benchmarks give the jwtsessiond they start (JWTSESSION_ADMIN_KEY). */
#define BENCH_ADMIN_KEY "bench-admin-key-0123456789abcdef"

/* POST /v1/sessions with body (JSON) to the jwtsessiond on port, as the admin; the new session's
 * access token into token (cap bytes). false on any failure. */
bool bench_create_session(int port, const char *body, char *token, size_t cap);

/* Poll GET path on 127.0.0.1:port until it answers 200 (about 10 s at most). */
bool bench_wait_http(int port, const char *path);

/* Start argv (with envp, or this environment) with stdout/stderr to /dev/null and no inherited
 * descriptor above 2; its pid. */
pid_t bench_spawn(char *const argv[], char *const envp[]);

/* Send sig to pid (if > 0) and reap it. */
void bench_stop(pid_t pid, int sig);

#endif
