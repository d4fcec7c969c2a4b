/*
 * bench_util.c - timing loops, result rows, and the benchmarks' own redis-server.
 */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "jwtsession/clock.h"

double bench_us_per_op(void (*fn)(void *arg, uint64_t i), void *arg, double seconds)
{
    uint64_t ops = 0, batch = 64;
    int64_t t0 = jwts_monotonic_ns(), limit = (int64_t)(seconds * 1e9), elapsed = 0;
    while (elapsed < limit) {
        for (uint64_t k = 0; k < batch; k++) fn(arg, ops + k);
        ops += batch;
        elapsed = jwts_monotonic_ns() - t0;
        if (batch < 4096 && elapsed < limit / 100) batch *= 2;
    }
    return (double)elapsed / 1e3 / (double)ops;
}

double bench_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

double bench_us_and_cpu_per_op(void (*fn)(void *arg, uint64_t i), void *arg, double seconds, double *cpu_us)
{
    double c0 = bench_cpu_us(), w0 = (double)jwts_monotonic_ns() / 1e3;
    double us = bench_us_per_op(fn, arg, seconds);
    *cpu_us = us * (bench_cpu_us() - c0) / ((double)jwts_monotonic_ns() / 1e3 - w0);
    return us;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_alternate(void (*a)(void *, uint64_t), void *arg_a, void (*b)(void *, uint64_t), void *arg_b, int rounds,
                     double seconds, double *med_a, double *med_b)
{
    double va[64], vb[64];
    if (rounds > 64) rounds = 64;
    if (rounds < 1) rounds = 1;
    for (int r = 0; r < rounds; r++) {
        if (r % 2 == 0) {
            va[r] = bench_us_per_op(a, arg_a, seconds);
            vb[r] = bench_us_per_op(b, arg_b, seconds);
        } else {
            vb[r] = bench_us_per_op(b, arg_b, seconds);
            va[r] = bench_us_per_op(a, arg_a, seconds);
        }
    }
    *med_a = bench_median(va, rounds);
    *med_b = bench_median(vb, rounds);
}

#define BENCH_MISSES_MAX 32
static char bench_misses[BENCH_MISSES_MAX][96];
static int bench_nmisses;

void bench_miss(const char *what)
{
    if (bench_nmisses < BENCH_MISSES_MAX) snprintf(bench_misses[bench_nmisses], sizeof bench_misses[0], "%s", what);
    bench_nmisses++;
}

int bench_finish(const char *prog)
{
    if (bench_nmisses == 0) {
        printf("%s: every target met\n", prog);
        return 0;
    }
    for (int out = 0; out < 2; out++) {
        FILE *f = out ? stderr : stdout;
        fprintf(f, "%s: MISSED %d target(s):", prog, bench_nmisses);
        for (int i = 0; i < bench_nmisses && i < BENCH_MISSES_MAX; i++)
            fprintf(f, "%s %s", i ? ";" : "", bench_misses[i]);
        fprintf(f, "\n");
        fflush(f);
    }
    return 1;
}

void bench_row(const char *what, double ours, double baseline, const char *target, int pass)
{
    if (pass == 0) bench_miss(what);
    printf("  %-52s %12.3f %12.3f %8.2fx %9s %s\n", what, ours, baseline, baseline > 0 ? ours / baseline : 0.0, target,
           pass < 0 ? ""
           : pass   ? "PASS"
                    : "MISS");
}

int bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static bool answers_ping(int port)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool ok = false;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return ok;
}

/* The servers started and not yet stopped, stopped at exit too (a benchmark that dies on a failed
 * call must not leave its redis-server running). */
static bench_redis *started[8];

static void stop_started(void)
{
    for (int i = 0; i < 8; i++)
        if (started[i]) bench_redis_stop(started[i]);
}

static void remember(bench_redis *r, bool on)
{
    static bool registered;
    if (!registered) registered = atexit(stop_started) == 0;
    for (int i = 0; i < 8; i++) {
        if (on && !started[i]) {
            started[i] = r;
            return;
        }
        if (!on && started[i] == r) started[i] = NULL;
    }
}

bool bench_redis_start(bench_redis *r)
{
    memset(r, 0, sizeof *r);
    const char *env = getenv("JWTS_BENCH_REDIS_PORT");
    if (env) {
        r->port = atoi(env);
        return answers_ping(r->port);
    }
    snprintf(r->dir, sizeof r->dir, "/tmp/jwts-bench-redis-XXXXXX");
    if (!mkdtemp(r->dir) || (r->port = bench_free_port()) < 0) return false;
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    fflush(NULL); /* the child must not flush our buffered output a second time */
    r->pid = fork();
    if (r->pid == 0) {
        if (!freopen("/dev/null", "w", stdout)) _exit(127);
        /* no inherited descriptor (a caller's `flock` lock among them) may outlive us in a server
         * left behind when this benchmark is killed */
        closefrom(3);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", r->dir, "--save", "",
               "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    remember(r, true);
    for (int i = 0; i < 100; i++) {
        if (answers_ping(r->port)) return true;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    bench_redis_stop(r);
    return false;
}

void bench_redis_stop(bench_redis *r)
{
    remember(r, false);
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
    if (r->dir[0]) {
        char cmd[192];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        if (system(cmd) != 0) fprintf(stderr, "bench: could not remove %s\n", r->dir);
        r->dir[0] = '\0';
    }
}

/* Store a BENCH_GET_VALUE_BYTES value under each key redis-benchmark -t get [-r keys] reads:
 * "key:__rand_int__" for one key, "key:" and 12 digits for each of keys keys. */
static bool fill_get_keys(const bench_redis *r, int keys)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    bool ok = c && !c->err;
    char value[BENCH_GET_VALUE_BYTES];
    memset(value, 'v', sizeof value);
    int total = keys > 1 ? keys : 1;
    for (int base = 0; ok && base < total; base += 1000) { /* pipelined, 1000 at a time */
        int n = 0;
        for (int i = base; i < total && i < base + 1000; i++, n++) {
            if (keys > 1)
                redisAppendCommand(c, "SET key:%012d %b", i, value, sizeof value);
            else
                redisAppendCommand(c, "SET key:__rand_int__ %b", value, sizeof value);
        }
        for (int i = 0; i < n && ok; i++) {
            redisReply *rep = NULL;
            ok = redisGetReply(c, (void **)&rep) == REDIS_OK && rep && rep->type == REDIS_REPLY_STATUS;
            if (rep) freeReplyObject(rep);
        }
    }
    if (c) redisFree(c);
    return ok;
}

/* One redis-benchmark run: its GET requests per second, 0 if it printed none. */
static double benchmark_once(const bench_redis *r, int clients, int pipeline, int requests, int keys)
{
    char cmd[256], line[512], spread[32] = "";
    if (keys > 1) snprintf(spread, sizeof spread, " -r %d", keys);
    snprintf(cmd, sizeof cmd, "redis-benchmark -h 127.0.0.1 -p %d -c %d -P %d -t get -n %d%s -q 2>/dev/null", r->port,
             clients, pipeline, requests, spread);
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    double rps = 0;
    while (fgets(line, sizeof line, p)) {
        /* "GET: 38461.54 requests per second, p50=0.023 msec" (the last \r-separated part) */
        char *at = strrchr(line, '\r');
        at = at ? at + 1 : line;
        if (sscanf(at, "GET: %lf requests per second", &rps) == 1) continue;
    }
    pclose(p);
    return rps;
}

/* The CPU microseconds of this process's waited-for children so far. */
static double children_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double bench_redis_benchmark_rps_cpu(const bench_redis *r, int clients, int pipeline, int requests, int keys,
                                     double *cpu_us, double *server_cpu_us)
{
    if (!fill_get_keys(r, keys)) return 0; /* GET existing keys, as ours do */
    double rps = 0, c0 = 0, s0 = 0;
    for (int attempt = 0; attempt < 3 && rps <= 0; attempt++) { /* it now and then prints nothing */
        c0 = children_cpu_us(), s0 = bench_redis_server_cpu_us(r);
        rps = benchmark_once(r, clients, pipeline, requests, keys);
        if (rps <= 0) fprintf(stderr, "bench: redis-benchmark -c %d -P %d printed no figure; again\n", clients, pipeline);
    }
    if (cpu_us) *cpu_us = (children_cpu_us() - c0) / (double)requests; /* redis-benchmark and its shell */
    if (server_cpu_us) *server_cpu_us = (bench_redis_server_cpu_us(r) - s0) / (double)requests;
    return rps;
}

double bench_redis_benchmark_rps(const bench_redis *r, int clients, int pipeline, int requests)
{
    return bench_redis_benchmark_rps_cpu(r, clients, pipeline, requests, 1, NULL, NULL);
}

double bench_redis_server_cpu_us(const bench_redis *r)
{
    char path[64], buf[1024];
    if (r->pid <= 0) return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)r->pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the fields after the command name */
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return 0;
    return (double)(utime + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

double bench_redis_get_rtt_us(const bench_redis *r)
{
    double rps = bench_redis_benchmark_rps(r, 1, 1, 50000);
    return rps > 0 ? 1e6 / rps : 0;
}

double bench_redis_usec_per_call(const bench_redis *r, const char *command, bool reset)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    double usec = 0;
    redisReply *rep = c && !c->err ? redisCommand(c, "INFO commandstats") : NULL;
    char name[64];
    snprintf(name, sizeof name, "cmdstat_%s:", command);
    const char *at = rep && rep->type == REDIS_REPLY_STRING ? strstr(rep->str, name) : NULL;
    const char *per = at ? strstr(at, "usec_per_call=") : NULL;
    if (per) usec = atof(per + strlen("usec_per_call="));
    if (rep) freeReplyObject(rep);
    if (reset && c && !c->err && (rep = redisCommand(c, "CONFIG RESETSTAT"))) freeReplyObject(rep);
    if (c) redisFree(c);
    return usec;
}

void bench_die(const char *prog, jwts_err rc, const char *what)
{
    fprintf(stderr, "%s: %s: %s: %s\n", prog, what, jwts_errname(rc), jwts_errdetail());
    exit(1);
}

void bench_create_revoke(void *pair, uint64_t i)
{
    bench_pair *p = pair;
    jwts_tokens t;
    char user[96];
    snprintf(user, sizeof user, "%s-%llu", p->user, (unsigned long long)(i % 1000));
    jwts_err rc = jwts_manager_create(p->m, NULL, user, NULL, &t);
    if (rc) bench_die("bench", rc, "create");
    if ((rc = jwts_manager_revoke(p->m, NULL, user, t.session_id))) bench_die("bench", rc, "revoke");
    jwts_tokens_clear(&t);
}

jwts_keyset *bench_hs256_keys(void)
{
    jwts_keyset *ks;
    jwts_key *k;
    jwts_err rc = jwts_keyset_new(&ks);
    if (!rc) rc = jwts_key_generate(JWTS_ALG_HS256, "bench", &k);
    if (!rc) rc = jwts_keyset_add(ks, k, 1);
    if (rc) bench_die("bench", rc, "keys");
    return ks;
}

jwts_manager *bench_manager_on(jwts_store *st, const jwts_keyset *ks)
{
    jwts_manager_options o = {.store = st, .keyset = ks, .issuer = "https://auth.example.com", .audience = "api"};
    jwts_manager *m;
    jwts_err rc = jwts_manager_new(&o, &m);
    if (rc) bench_die("bench", rc, "manager");
    return m;
}

bool bench_http_exchange(int port, const char *req, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0) return false;
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, req, strlen(req)) == (ssize_t)strlen(req);
    size_t n = 0;
    ssize_t k;
    while (ok && n + 1 < cap && (k = read(fd, out + n, cap - 1 - n)) > 0) n += (size_t)k;
    out[n] = '\0';
    close(fd);
    return ok && n > 0;
}

bool bench_wait_http(int port, const char *path)
{
    char req[256], resp[4096];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    for (int i = 0; i < 500; i++) {
        if (bench_http_exchange(port, req, resp, sizeof resp) && strstr(resp, " 200 ")) return true;
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    return false;
}

pid_t bench_spawn(char *const argv[], char *const envp[])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
        closefrom(3); /* a server left behind must not hold a caller's `flock` lock */
        if (envp)
            execve(argv[0], argv, envp);
        else
            execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

void bench_stop(pid_t pid, int sig)
{
    if (pid <= 0) return;
    kill(pid, sig);
    waitpid(pid, NULL, 0);
}

bool bench_create_session(int port, const char *body, char *token, size_t cap)
{
    char req[1024], resp[8192];
    snprintf(req, sizeof req,
             "POST /v1/sessions HTTP/1.0\r\nAuthorization: Bearer " BENCH_ADMIN_KEY "\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    if (!bench_http_exchange(port, req, resp, sizeof resp) || !strstr(resp, " 201 ")) return false;
    const char *p = strstr(resp, "\"access_token\":\"");
    if (!p) return false;
    p += 16;
    size_t n = strcspn(p, "\"");
    if (n + 1 > cap) return false;
    memcpy(token, p, n);
    token[n] = '\0';
    return true;
}
