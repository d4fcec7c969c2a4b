/*
 * bench_daemon.c - jwtsessiond's GET /v1/auth (memory store) against nginx answering `return 200`
 * on the same machine, both driven by wrk with the same settings in the same run.
 *
 *   bench_daemon [seconds-per-run] [rounds] [connections]      (defaults 5, 5, 50)
 *
 * Both servers run at once on free loopback ports; each round runs wrk against nginx, then
 * against jwtsessiond, so drifts of the machine hit both alike. Reported: the median requests/s of
 * each, their ratio (target: jwtsessiond >= 70% of nginx), and the median p99 latency wrk --latency
 * measured. nginx runs as many workers as there are cores, as jwtsessiond runs as many threads;
 * both without access logs. wrk shares the machine with both, as it does in any same-host run.
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

#define ADMIN_KEY "bench-admin-key-0123456789abcdef"
#define MAX_ROUNDS 21

/* One HTTP/1.0 exchange on loopback: the whole answer into out (NUL-terminated). */
static bool http_exchange(int port, const char *req, char *out, size_t cap)
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

static bool wait_http(int port, const char *path)
{
    char req[256], resp[4096];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    for (int i = 0; i < 500; i++) {
        if (http_exchange(port, req, resp, sizeof resp) && strstr(resp, " 200 ")) return true;
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    return false;
}

static pid_t spawn(char *const argv[], char *const envp[])
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

static void stop(pid_t pid, int sig)
{
    if (pid <= 0) return;
    kill(pid, sig);
    waitpid(pid, NULL, 0);
}

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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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
    return spawn(argv, NULL);
}

static pid_t start_daemon(int port)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    char *argv[] = {JWTSD_BIN, "--listen", listen, "--no-access-log", "--log-level", "warn", NULL};
    char *envp[] = {"JWTSESSION_ADMIN_KEY=" ADMIN_KEY, "PATH=/usr/bin:/bin", NULL};
    return spawn(argv, envp);
}

/* Create a session for the bench user; its access token into token. */
static bool create_session(int port, char *token, size_t cap)
{
    const char *body = "{\"user_id\":\"bench-user\",\"metadata\":{\"device\":\"wrk\"}}";
    char req[1024], resp[8192];
    snprintf(req, sizeof req,
             "POST /v1/sessions HTTP/1.0\r\nAuthorization: Bearer " ADMIN_KEY "\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    if (!http_exchange(port, req, resp, sizeof resp) || !strstr(resp, " 201 ")) return false;
    const char *p = strstr(resp, "\"access_token\":\"");
    if (!p) return false;
    p += 16;
    size_t n = strcspn(p, "\"");
    if (n + 1 > cap) return false;
    memcpy(token, p, n);
    token[n] = '\0';
    return true;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 5, rounds = argc > 2 ? atoi(argv[2]) : 5;
    int conns = argc > 3 ? atoi(argv[3]) : 50;
    if (seconds < 1) seconds = 1;
    if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 5;
    if (!have("wrk") || (access("/usr/sbin/nginx", X_OK) && access("/sbin/nginx", X_OK)) || access(JWTSD_BIN, X_OK)) {
        fprintf(stderr, "bench_daemon: needs wrk, nginx and %s (scripts/install-deps.sh installs them)\n", JWTSD_BIN);
        return 1;
    }
    char dir[] = "/tmp/jwts-bench-nginx-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    chmod(dir, 0755); /* nginx workers drop privileges when run as root */
    int dport = bench_free_port(), nport = bench_free_port();
    pid_t d = start_daemon(dport), n = start_nginx(dir, nport);
    int status = 1;
    char token[8192], header[8300], durl[128], nurl[128];
    if (!wait_http(dport, "/healthz") || !wait_http(nport, "/")) {
        fprintf(stderr, "bench_daemon: a server did not start\n");
        goto out;
    }
    if (!create_session(dport, token, sizeof token)) {
        fprintf(stderr, "bench_daemon: could not create a session\n");
        goto out;
    }
    snprintf(header, sizeof header, "Authorization: Bearer %s", token);
    snprintf(durl, sizeof durl, "http://127.0.0.1:%d/v1/auth", dport);
    snprintf(nurl, sizeof nurl, "http://127.0.0.1:%d/", nport);

    double ours[MAX_ROUNDS], base[MAX_ROUNDS], ours_p99[MAX_ROUNDS], base_p99[MAX_ROUNDS];
    long bad = 0;
    for (int i = 0; i < rounds; i++) {
        run a, b;
        if (!run_wrk(nurl, NULL, seconds, conns, &b) || !run_wrk(durl, header, seconds, conns, &a)) {
            fprintf(stderr, "bench_daemon: wrk failed\n");
            goto out;
        }
        base[i] = b.rps, base_p99[i] = b.p99_ms;
        ours[i] = a.rps, ours_p99[i] = a.p99_ms;
        bad += a.non2xx;
        fprintf(stderr, "  round %d: nginx %.0f req/s (p99 %.2f ms), jwtsessiond %.0f req/s (p99 %.2f ms)\n", i + 1,
                b.rps, b.p99_ms, a.rps, a.p99_ms);
    }
    double mo = median(ours, rounds), mb = median(base, rounds);
    double po = median(ours_p99, rounds), pb = median(base_p99, rounds);
    printf("jwtsessiond GET /v1/auth vs nginx `return 200` (wrk -t2 -c%d, %d s x %d rounds, medians; %ld cores)\n",
           conns, seconds, rounds, sysconf(_SC_NPROCESSORS_ONLN));
    printf("  %-52s %12s %12s %9s %9s\n", "measure", "ours", "nginx", "ratio", "target");
    bench_row("requests/s, GET /v1/auth, memory store", mo, mb, ">= 0.70x", mo >= 0.70 * mb);
    bench_row("p99 latency ms (wrk --latency)", po, pb, "-", -1);
    if (bad) printf("  WARNING: %ld answers of jwtsessiond were not 2xx\n", bad);
    status = bad ? 1 : 0;
out:
    stop(d, SIGTERM);
    stop(n, SIGQUIT);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_daemon: could not remove %s\n", dir);
    return status;
}
