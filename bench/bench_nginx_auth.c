/*
 * bench_nginx_auth.c - the deployment users run: nginx auth_request in front of jwtsessiond
 * (issue #15 item 0), against the same nginx proxying the same application without the check.
 *
 *   bench_nginx_auth [seconds-per-run] [rounds] [connections]      (defaults 10, 3, 64)
 *
 * One nginx (workers = cores, no access log) runs the shipped deploy/nginx/jwtsession.conf with
 * its ports substituted, plus two server blocks of its own: the "application" (`return 200`) and a
 * baseline front that proxies /app/ to the same application upstream without auth_request. Each
 * round runs wrk on the baseline, then on the protected /app/ with a valid token, so drifts of
 * the machine hit both alike. Reported: median requests/s of each, their ratio (target >= 0.5x),
 * and the TCP connections nginx opened to jwtsessiond during each protected run, counted with
 * `ss` by nginx's local port (TIME-WAIT included): target no more than the keepalive pool
 * (the upstream's `keepalive` times the nginx workers). Exits non-zero on a miss or a non-2xx.
 */
#include <arpa/inet.h>
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
#ifndef JWTS_SOURCE_DIR
#define JWTS_SOURCE_DIR "."
#endif

#define MAX_ROUNDS 21
#define MAX_PORTS 65536

/* wrk's requests/s and non-2xx count for one run; false when wrk failed. */
static bool run_wrk(const char *url, const char *header, int seconds, int conns, double *rps, long *non2xx)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "wrk -t2 -c%d -d%ds -H '%s' '%s' 2>&1", conns, seconds, header, url);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    *rps = 0, *non2xx = 0;
    char line[512], num[64];
    while (fgets(line, sizeof line, p)) {
        if (sscanf(line, " Requests/sec: %63s", num) == 1) *rps = atof(num);
        if (sscanf(line, " Non-2xx or 3xx responses: %63s", num) == 1) *non2xx = atol(num);
    }
    return pclose(p) == 0 && *rps > 0;
}

/* Mark in seen[] the local port of every socket connected to 127.0.0.1:port, any state. */
static bool conns_to(int port, unsigned char *seen)
{
    char cmd[160], line[512];
    snprintf(cmd, sizeof cmd, "ss -tanH state all '( dport = :%d )' 2>/dev/null", port);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    memset(seen, 0, MAX_PORTS);
    while (fgets(line, sizeof line, p)) {
        char local[128], peer[128];
        if (sscanf(line, "%*s %*s %*s %127s %127s", local, peer) != 2) continue;
        const char *lc = strrchr(local, ':');
        int lp = lc ? atoi(lc + 1) : -1;
        if (lp > 0 && lp < MAX_PORTS) seen[lp] = 1;
    }
    return pclose(p) == 0;
}

/* The shipped config with our ports, and the application and baseline servers, into dir/site.conf;
 * the upstream's keepalive into *pool. */
static bool write_conf(const char *dir, int dport, int app_port, int auth_port, int base_port, int *pool)
{
    char path[512];
    snprintf(path, sizeof path, "%s/deploy/nginx/jwtsession.conf", JWTS_SOURCE_DIR);
    FILE *in = fopen(path, "r");
    if (!in) return false;
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, in);
    fclose(in);
    text[n] = '\0';
    const char *up = strstr(text, "upstream jwtsessiond {"), *ka = up ? strstr(up, "keepalive ") : NULL;
    *pool = ka ? atoi(ka + 10) : 0;
    snprintf(path, sizeof path, "%s/site.conf", dir);
    FILE *out = fopen(path, "w");
    if (!out) return false;
    const char *subs[3][2] = {{"server 127.0.0.1:8080;", NULL}, {"server 127.0.0.1:3000;", NULL}, {"listen 80;", NULL}};
    char repl[3][64];
    snprintf(repl[0], sizeof repl[0], "server 127.0.0.1:%d;", dport);
    snprintf(repl[1], sizeof repl[1], "server 127.0.0.1:%d;", app_port);
    snprintf(repl[2], sizeof repl[2], "listen 127.0.0.1:%d;", auth_port);
    int found = 0;
    for (const char *p = text; *p;) {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (!strncmp(p, subs[i][0], strlen(subs[i][0]))) k = i;
        if (k >= 0) {
            fputs(repl[k], out);
            p += strlen(subs[k][0]);
            found |= 1 << k;
        } else {
            fputc(*p++, out);
        }
    }
    fprintf(out,
            "\n# bench: the application\nserver {\n    listen 127.0.0.1:%d;\n    location / { return 200 \"ok\"; }\n}\n"
            "# bench: the same proxy to the same application, without auth_request\nserver {\n"
            "    listen 127.0.0.1:%d;\n    location /app/ {\n        proxy_http_version 1.1;\n"
            "        proxy_set_header Connection \"\";\n        proxy_pass http://app;\n    }\n}\n",
            app_port, base_port);
    return fclose(out) == 0 && found == 7 && *pool > 0;
}

static pid_t start_nginx(const char *dir)
{
    char conf[512], errlog[512], globals[1400];
    snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
    snprintf(errlog, sizeof errlog, "%s/error.log", dir);
    FILE *f = fopen(conf, "w");
    if (!f) return -1;
    fprintf(f,
            "worker_processes auto;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n"
            "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n  fastcgi_temp_path %s/fastcgi;\n"
            "  uwsgi_temp_path %s/uwsgi;\n  scgi_temp_path %s/scgi;\n  include %s/site.conf;\n}\n",
            dir, dir, dir, dir, dir, dir);
    fclose(f);
    snprintf(globals, sizeof globals, "daemon off; pid %s/nginx.pid; error_log %s;", dir, errlog);
    const char *nginx = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : "/sbin/nginx";
    char *argv[] = {(char *)nginx, "-p", (char *)dir, "-e", errlog, "-c", conf, "-g", globals, NULL};
    return bench_spawn(argv, NULL);
}

static pid_t start_daemon(int port)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    char *argv[] = {JWTSD_BIN, "--listen", listen, "--no-access-log", "--log-level", "warn", NULL};
    char *envp[] = {"JWTSESSION_ADMIN_KEY=" BENCH_ADMIN_KEY, "PATH=/usr/bin:/bin", NULL};
    return bench_spawn(argv, envp);
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 10, rounds = argc > 2 ? atoi(argv[2]) : 3;
    int conns = argc > 3 ? atoi(argv[3]) : 64;
    if (seconds < 1) seconds = 1;
    if (rounds < 1 || rounds > MAX_ROUNDS) rounds = 3;
    if (conns < 1) conns = 64;
    if (system("command -v wrk >/dev/null 2>&1 && command -v ss >/dev/null 2>&1") != 0 ||
        (access("/usr/sbin/nginx", X_OK) && access("/sbin/nginx", X_OK)) || access(JWTSD_BIN, X_OK)) {
        fprintf(stderr, "bench_nginx_auth: needs wrk, ss, nginx and %s (scripts/install-deps.sh)\n", JWTSD_BIN);
        return 1;
    }
    char dir[] = "/tmp/jwts-bench-nginx-auth-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    chmod(dir, 0755); /* nginx workers drop privileges when run as root */
    int dport = bench_free_port(), app = bench_free_port(), front = bench_free_port(), base = bench_free_port();
    int pool = 0, status = 1;
    long workers = sysconf(_SC_NPROCESSORS_ONLN);
    pid_t d = -1, n = -1;
    static unsigned char before[MAX_PORTS], after[MAX_PORTS];
    if (!write_conf(dir, dport, app, front, base, &pool)) {
        fprintf(stderr, "bench_nginx_auth: could not render deploy/nginx/jwtsession.conf\n");
        goto out;
    }
    d = start_daemon(dport);
    n = start_nginx(dir);
    char token[8192], header[8300], aurl[128], burl[128];
    if (!bench_wait_http(dport, "/healthz") || !bench_wait_http(app, "/")) {
        fprintf(stderr, "bench_nginx_auth: a server did not start\n");
        goto out;
    }
    if (!bench_create_session(dport, "{\"user_id\":\"bench-user\"}", token, sizeof token)) {
        fprintf(stderr, "bench_nginx_auth: could not create a session\n");
        goto out;
    }
    snprintf(header, sizeof header, "Authorization: Bearer %s", token);
    snprintf(aurl, sizeof aurl, "http://127.0.0.1:%d/app/x", front);
    snprintf(burl, sizeof burl, "http://127.0.0.1:%d/app/x", base);

    double ours[MAX_ROUNDS], plain[MAX_ROUNDS];
    long bad = 0, max_new = 0, total_new = 0;
    for (int i = 0; i < rounds; i++) {
        double a = 0, b = 0;
        long na = 0, nb = 0, opened = 0;
        if (!run_wrk(burl, header, seconds, conns, &b, &nb) || !conns_to(dport, before) ||
            !run_wrk(aurl, header, seconds, conns, &a, &na) || !conns_to(dport, after)) {
            fprintf(stderr, "bench_nginx_auth: wrk or ss failed\n");
            goto out;
        }
        for (int p = 0; p < MAX_PORTS; p++) opened += after[p] && !before[p];
        plain[i] = b, ours[i] = a;
        bad += na + nb;
        total_new += opened;
        if (opened > max_new) max_new = opened;
        fprintf(stderr,
                "  round %d: nginx proxy %.0f req/s, + auth_request %.0f req/s (%.2fx), %ld new connections to "
                "jwtsessiond\n",
                i + 1, b, a, a / b, opened);
    }
    double mo = bench_median(ours, rounds), mb = bench_median(plain, rounds);
    printf("nginx auth_request -> jwtsessiond GET /v1/auth vs the same nginx proxy without it\n"
           "(deploy/nginx/jwtsession.conf, wrk -t2 -c%d, %d s x %d rounds, medians; %ld cores, %ld nginx workers)\n",
           conns, seconds, rounds, workers, workers);
    printf("  %-52s %12s %12s %9s %9s\n", "measure", "ours", "baseline", "ratio", "target");
    bench_row("requests/s, protected location (auth_request)", mo, mb, ">= 0.50x", mo >= 0.5 * mb);
    printf("  new connections to jwtsessiond in one %d s run: max %ld, all rounds %ld (pool: keepalive %d x %ld "
           "workers = %ld) %s\n",
           seconds, max_new, total_new, pool, workers, pool * workers, max_new <= pool * workers ? "PASS" : "MISS");
    if (bad) printf("  WARNING: %ld answers were not 2xx\n", bad);
    status = (mo >= 0.5 * mb && max_new <= pool * workers && !bad) ? 0 : 1;
out:
    bench_stop(d, SIGTERM);
    bench_stop(n, SIGQUIT);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_nginx_auth: could not remove %s\n", dir);
    return status;
}
