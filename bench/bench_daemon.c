/*
 * bench_daemon.c - jwtsessiond's GET /v1/auth on three stores against nginx answering `return 200`
 * on the same machine, all driven by wrk with the same settings in the same run.
 *
 *   bench_daemon [seconds-per-run] [rounds] [connections] [redis-url-query]
 *                                          (defaults 5, 5, 50, "pipeline=true")
 *
 * Six servers run at once on free loopback ports: nginx, mhd_floor twice (a libmicrohttpd server
 * with jwtsessiond's flags answering 200 to anything: what libmicrohttpd itself costs, with its
 * default 32 KiB connection pool and with jwtsessiond's 160 KiB one, which libmicrohttpd 0.9.75
 * zeroes after every request), jwtsessiond on the memory store, and two
 * jwtsessiond on one redis-server this program starts (and stops) itself: one with --no-cache
 * (every GET /v1/auth is a Redis round trip, run on the --store-workers threads), one with the near
 * cache (--cache, the daemon's default). Each round runs wrk against each of them, the order
 * reversed every other round, so drifts of the machine hit all alike. Reported: the median
 * requests/s and median p99 latency (wrk --latency) of each, with the targets
 *   memory store        >= 0.70x nginx
 *   redis, --no-cache   >= 0.60x memory store   (issue #13)
 *   redis, --cache      >= 0.90x memory store   (issue #14)
 * and every jwtsessiond answer must be 2xx. Exit status 1 on any miss (bench_finish names them).
 * nginx runs as many workers as there are cores, as jwtsessiond runs as many HTTP threads; none
 * logs accesses. wrk and redis-server share the machine with the servers, as in any same-host run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#ifndef JWTSD_BIN
#define JWTSD_BIN "build/daemon/jwtsessiond"
#endif
#ifndef MHD_FLOOR_BIN
#define MHD_FLOOR_BIN "build/bench/mhd_floor"
#endif

#define MAX_ROUNDS 21

/* wrk's figures for one run. */
typedef struct run {
    double rps;
    double p99_ms;
    long non2xx;
} run;

static double to_ms(const char *num, const char *unit)
{
    double v = atof(num);
    if (!strncmp(unit, "us", 2)) return v / 1000;
    if (!strncmp(unit, "ms", 2)) return v;
    if (!strncmp(unit, "s", 1)) return v * 1000;
    return v;
}

static bool run_wrk(const char *url, const char *header, int seconds, int conns, run *out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "wrk -t2 -c%d -d%ds --latency %s%s%s '%s' 2>&1", conns, seconds, header ? "-H '" : "",
             header ? header : "", header ? "'" : "", url);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    *out = (run){0};
    char line[512];
    while (fgets(line, sizeof line, p)) {
        char num[64], unit[16];
        if (sscanf(line, " Requests/sec: %63s", num) == 1)
            out->rps = atof(num);
        else if (sscanf(line, " 99%% %63[0-9.]%15s", num, unit) == 2)
            out->p99_ms = to_ms(num, unit);
        else if (sscanf(line, " Non-2xx or 3xx responses: %63s", num) == 1)
            out->non2xx = atol(num);
    }
    return pclose(p) == 0 && out->rps > 0;
}

static bool have(const char *prog)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* The nginx baseline: `return 200` on port, workers = cores, no access log. */
static pid_t start_nginx(const char *dir, int port)
{
    char conf[512], errlog[512], pidfile[512], globals[1400];
    snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
    snprintf(errlog, sizeof errlog, "%s/error.log", dir);
    snprintf(pidfile, sizeof pidfile, "%s/nginx.pid", dir);
    FILE *f = fopen(conf, "w");
    if (!f) return -1;
    fprintf(f,
            "worker_processes auto;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n"
            "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n  fastcgi_temp_path %s/fastcgi;\n"
            "  uwsgi_temp_path %s/uwsgi;\n  scgi_temp_path %s/scgi;\n"
            "  server {\n    listen 127.0.0.1:%d;\n    location / { return 200 \"ok\"; }\n  }\n}\n",
            dir, dir, dir, dir, dir, port);
    fclose(f);
    snprintf(globals, sizeof globals, "daemon off; pid %s; error_log %s;", pidfile, errlog);
    const char *nginx = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "/sbin/nginx";
    char *argv[] = {(char *)nginx, "-p", (char *)dir, "-e", errlog, "-c", conf, "-g", globals, NULL};
    return bench_spawn(argv, NULL);
}

/* jwtsessiond on port with store (a --store URL) and cache ("--cache" or "--no-cache"). */
static pid_t start_daemon(int port, const char *store, const char *cache)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    char *argv[] = {JWTSD_BIN,     "--listen",        listen,        "--store", (char *)store,
                    (char *)cache, "--no-access-log", "--log-level", "warn",    NULL};
    char *envp[] = {"JWTSESSION_ADMIN_KEY=" BENCH_ADMIN_KEY, "PATH=/usr/bin:/bin", NULL};
    return bench_spawn(argv, envp);
}

/* What is measured: one server, its wrk target and the figures of each round. */
typedef struct target {
    const char *name;
    pid_t pid;
    int port;
    bool auth; /* a jwtsessiond: GET /v1/auth with a session's token */
    char token[8192], header[8300], url[128];
    double rps[MAX_ROUNDS], p99[MAX_ROUNDS];
    long non2xx;
} target;

enum { T_NGINX, T_FLOOR, T_FLOOR_POOL, T_MEMORY, T_REDIS, T_CACHED, T_COUNT };

/* jwtsessiond's connection pool at its defaults (daemon/http.c: 32 x --max-url 4k, so that a URL
 * full of query arguments still reaches its 414 answer, + 2 x --max-header 8k + 16 KiB). */
#define JWTSD_POOL "163840"

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 5, rounds = argc > 2 ? atoi(argv[2]) : 5;
    int conns = argc > 3 ? atoi(argv[3]) : 50;
    const char *query = argc > 4 ? argv[4] : "pipeline=true";
    if (seconds < 1) seconds = 1;
    if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 5;
    if (conns < 1 || conns > 10000) conns = 50;
    if (strlen(query) > 200 || strpbrk(query, "'\\\"")) {
        fprintf(stderr, "bench_daemon: redis-url-query too long or quoted\n");
        return 1;
    }
    if (!have("wrk") || !have("redis-server") || (access("/usr/sbin/nginx", X_OK) && access("/sbin/nginx", X_OK)) ||
        access(JWTSD_BIN, X_OK) || access(MHD_FLOOR_BIN, X_OK)) {
        fprintf(stderr,
                "bench_daemon: needs wrk, nginx, redis-server, %s and %s (scripts/install-deps.sh installs them)\n",
                JWTSD_BIN, MHD_FLOOR_BIN);
        return 1;
    }
    char dir[] = "/tmp/jwts-bench-nginx-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    chmod(dir, 0755); /* nginx workers drop privileges when run as root */
    static target t[T_COUNT] = {
        [T_NGINX] = {.name = "nginx"},
        [T_FLOOR] = {.name = "mhd_floor"},
        [T_FLOOR_POOL] = {.name = "mhd_floor 160k"},
        [T_MEMORY] = {.name = "memory", .auth = true},
        [T_REDIS] = {.name = "redis --no-cache", .auth = true},
        [T_CACHED] = {.name = "redis --cache", .auth = true},
    };
    bench_redis redis;
    int status = 1;
    if (!bench_redis_start(&redis)) { /* stopped at exit whatever happens below */
        fprintf(stderr, "bench_daemon: could not start redis-server\n");
        goto out;
    }
    char store[300];
    snprintf(store, sizeof store, "redis://127.0.0.1:%d/?%s", redis.port, query);
    for (int i = 0; i < T_COUNT; i++) t[i].port = bench_free_port();
    t[T_NGINX].pid = start_nginx(dir, t[T_NGINX].port);
    char floor_port[2][16];
    snprintf(floor_port[0], sizeof floor_port[0], "%d", t[T_FLOOR].port);
    snprintf(floor_port[1], sizeof floor_port[1], "%d", t[T_FLOOR_POOL].port);
    char *floor_argv[] = {MHD_FLOOR_BIN, floor_port[0], NULL}, *pool_argv[] = {MHD_FLOOR_BIN, floor_port[1], JWTSD_POOL, NULL};
    t[T_FLOOR].pid = bench_spawn(floor_argv, NULL);
    t[T_FLOOR_POOL].pid = bench_spawn(pool_argv, NULL);
    t[T_MEMORY].pid = start_daemon(t[T_MEMORY].port, "memory", "--no-cache");
    t[T_REDIS].pid = start_daemon(t[T_REDIS].port, store, "--no-cache");
    t[T_CACHED].pid = start_daemon(t[T_CACHED].port, store, "--cache");
    for (int i = 0; i < T_COUNT; i++) {
        if (!bench_wait_http(t[i].port, t[i].auth ? "/healthz" : "/")) {
            fprintf(stderr, "bench_daemon: %s did not start\n", t[i].name);
            goto out;
        }
        snprintf(t[i].url, sizeof t[i].url, "http://127.0.0.1:%d%s", t[i].port, t[i].auth ? "/v1/auth" : "/");
        if (!t[i].auth) continue;
        if (!bench_create_session(t[i].port, "{\"user_id\":\"bench-user\",\"metadata\":{\"device\":\"wrk\"}}",
                                  t[i].token, sizeof t[i].token)) {
            fprintf(stderr, "bench_daemon: could not create a session on %s\n", t[i].name);
            goto out;
        }
        snprintf(t[i].header, sizeof t[i].header, "Authorization: Bearer %s", t[i].token);
    }

    for (int r = 0; r < rounds; r++) {
        fprintf(stderr, "  round %d:", r + 1);
        for (int k = 0; k < T_COUNT; k++) {
            target *x = &t[r % 2 ? T_COUNT - 1 - k : k];
            run w;
            if (!run_wrk(x->url, x->auth ? x->header : NULL, seconds, conns, &w)) {
                fprintf(stderr, "\nbench_daemon: wrk failed against %s\n", x->name);
                goto out;
            }
            x->rps[r] = w.rps, x->p99[r] = w.p99_ms;
            if (x->auth) x->non2xx += w.non2xx;
            fprintf(stderr, " %s %.0f/s (p99 %.2f ms)%s", x->name, w.rps, w.p99_ms, k + 1 < T_COUNT ? "," : "\n");
        }
    }
    double rps[T_COUNT], p99[T_COUNT];
    for (int i = 0; i < T_COUNT; i++) rps[i] = bench_median(t[i].rps, rounds), p99[i] = bench_median(t[i].p99, rounds);
    printf("jwtsessiond GET /v1/auth: memory store vs nginx `return 200`, Redis (redis://...?%s; --store-workers "
           "default) without and with the near cache vs the memory store\n(wrk -t2 -c%d --latency, %d s x %d rounds, "
           "order reversed every other round, medians; %ld cores)\n",
           query, conns, seconds, rounds, sysconf(_SC_NPROCESSORS_ONLN));
    printf("  %-52s %12s %12s %9s %9s\n", "measure", "ours", "baseline", "ratio", "target");
    double m = rps[T_MEMORY];
    bench_row("req/s, memory store (baseline: nginx)", m, rps[T_NGINX], ">= 0.70x", m >= 0.70 * rps[T_NGINX]);
    bench_row("req/s, mhd_floor: libmicrohttpd alone (vs nginx)", rps[T_FLOOR], rps[T_NGINX], "-", -1);
    bench_row("req/s, mhd_floor, our 160 KiB pool (vs nginx)", rps[T_FLOOR_POOL], rps[T_NGINX], "-", -1);
    bench_row("req/s, memory store (baseline: mhd_floor 160k)", m, rps[T_FLOOR_POOL], "-", -1);
    bench_row("req/s, redis --no-cache (baseline: memory) #13", rps[T_REDIS], m, ">= 0.60x", rps[T_REDIS] >= 0.60 * m);
    bench_row("req/s, redis --cache (baseline: memory) #14", rps[T_CACHED], m, ">= 0.90x", rps[T_CACHED] >= 0.90 * m);
    bench_row("p99 ms, memory store (baseline: nginx)", p99[T_MEMORY], p99[T_NGINX], "-", -1);
    bench_row("p99 ms, redis --no-cache (baseline: memory)", p99[T_REDIS], p99[T_MEMORY], "-", -1);
    bench_row("p99 ms, redis --cache (baseline: memory)", p99[T_CACHED], p99[T_MEMORY], "-", -1);
    for (int i = 0; i < T_COUNT; i++) {
        if (!t[i].non2xx) continue;
        char what[96];
        snprintf(what, sizeof what, "%s: %ld answers not 2xx", t[i].name, t[i].non2xx);
        printf("  WARNING: %s\n", what);
        bench_miss(what);
    }
    status = 0;
out:
    for (int i = 0; i < T_COUNT; i++) bench_stop(t[i].pid, i == T_NGINX ? SIGQUIT : SIGTERM);
    bench_redis_stop(&redis);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_daemon: could not remove %s\n", dir);
    if (status) return 1;
    return bench_finish("bench_daemon");
}
