/*
 * bench_events.c - what lifecycle events cost (docs/events.md), each figure beside a baseline
 * measured in the same run, in alternating rounds, medians:
 *   - memory store, create+revoke pairs (two events each) with an on_event sink that formats the
 *     JSON, against the same manager without a sink;
 *   - Redis store, create+revoke pairs with the events stream (events=, XADD in the write scripts)
 *     against the same Redis without it;
 *   - jwtsessiond's webhook: per create, the time until the receiver (a socket thread here) has
 *     the event, against the time until the create's own answer; and the delivered rate of a burst.
 * Usage: bench_events [seconds] [rounds] [webhook-creates]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

static atomic_ulong sink_events;

static void sink(void *arg, const jwts_event *ev)
{
    (void)arg;
    char json[JWTS_EVENT_JSON_MAX];
    if (jwts_event_json(ev, json, sizeof json, NULL) == JWTS_OK) atomic_fetch_add(&sink_events, 1);
}

static jwts_manager *manager(jwts_store *st, const jwts_keyset *ks, bool events)
{
    jwts_manager_options o = {.store = st, .keyset = ks, .on_event = events ? sink : NULL};
    jwts_manager *m = NULL;
    jwts_err rc = jwts_manager_new(&o, &m);
    if (rc) bench_die("bench_events", rc, "manager");
    return m;
}

/* ---- a webhook receiver ------------------------------------------------------------------------ */

typedef struct receiver {
    int fd, port;
    atomic_long events;      /* "type" members received */
    atomic_llong last_ns;    /* monotonic time of the last delivery */
    atomic_bool stop;
    pthread_t thread;
} receiver;

static long count_events(const char *body) /* events in a JSON array of them */
{
    long n = 0;
    for (const char *p = body; (p = strstr(p, "\"type\":")); p += 7) n++;
    return n;
}

static void *receiver_main(void *arg)
{
    receiver *r = arg;
    static char buf[1 << 20];
    while (!atomic_load(&r->stop)) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0) continue;
        size_t len = 0;
        long want = -1;
        while (len < sizeof buf - 1) {
            ssize_t k = recv(c, buf + len, sizeof buf - 1 - len, 0);
            if (k <= 0) break;
            len += (size_t)k;
            buf[len] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (end && want < 0) {
                char *cl = strcasestr(buf, "Content-Length:");
                want = (long)(end + 4 - buf) + (cl ? strtol(cl + 15, NULL, 10) : 0);
            }
            if (want >= 0 && (long)len >= want) break;
        }
        long n = count_events(buf);
        atomic_store(&r->last_ns, jwts_monotonic_ns());
        atomic_fetch_add(&r->events, n);
        static const char ok[] = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        (void)!send(c, ok, sizeof ok - 1, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static bool receiver_start(receiver *r)
{
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int one = 1;
    setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(r->fd, (struct sockaddr *)&a, sizeof a) || listen(r->fd, 128) ||
        getsockname(r->fd, (struct sockaddr *)&a, &l))
        return false;
    r->port = ntohs(a.sin_port);
    struct timeval tv = {.tv_usec = 200 * 1000}; /* accept wakes to see stop */
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return pthread_create(&r->thread, NULL, receiver_main, r) == 0;
}

static void receiver_stop(receiver *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->fd);
}

static bool wait_events(receiver *r, long n, double seconds)
{
    int64_t end = jwts_monotonic_ns() + (int64_t)(seconds * 1e9);
    while (atomic_load(&r->events) < n && jwts_monotonic_ns() < end)
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000}, NULL);
    return atomic_load(&r->events) >= n;
}

#ifdef JWTSD_BIN
/* Per create: t0 send; the answer (baseline) and the event at the receiver (ours), in us. */
static void webhook_figures(int creates)
{
    receiver r;
    if (!receiver_start(&r)) {
        bench_miss("webhook receiver");
        return;
    }
    char dir[] = "/tmp/jwts-bench-events-XXXXXX", key[128], url[64], listen[64];
    if (!mkdtemp(dir)) return;
    snprintf(key, sizeof key, "%s/webhook.key", dir);
    FILE *f = fopen(key, "w");
    if (!f) return;
    fputs("bench-webhook-key-0123456789abcdef\n", f);
    fclose(f);
    chmod(key, 0600);
    int port = bench_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/events", r.port);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    char *argv[] = {JWTSD_BIN, "--listen", listen, "--store", "memory", "--no-access-log", "--log-level", "warn",
                    "--events-webhook", url, "--events-webhook-secret-file", key, NULL};
    char *envp[] = {"JWTSESSION_ADMIN_KEY=" BENCH_ADMIN_KEY, "PATH=/usr/bin:/bin", NULL};
    pid_t pid = bench_spawn(argv, envp);
    if (!bench_wait_http(port, "/healthz")) {
        bench_miss("jwtsessiond did not start");
        bench_stop(pid, SIGKILL);
        return;
    }
    double *ours = calloc((size_t)creates, sizeof *ours), *base = calloc((size_t)creates, sizeof *base);
    char token[4096];
    int done = 0;
    for (int i = 0; i < creates; i++) {
        long before = atomic_load(&r.events);
        int64_t t0 = jwts_monotonic_ns();
        if (!bench_create_session(port, "{\"user_id\":\"webhook-bench\"}", token, sizeof token)) break;
        int64_t t1 = jwts_monotonic_ns();
        if (!wait_events(&r, before + 1, 5.0)) break;
        base[done] = (double)(t1 - t0) / 1e3;
        ours[done] = (double)(atomic_load(&r.last_ns) - t0) / 1e3;
        done++;
    }
    printf("  webhook: %d creates one at a time; the event's arrival against the create's answer, from sending it\n",
           done);
    if (done > 0) {
        double o = bench_median(ours, done), b = bench_median(base, done);
        bench_row("webhook: event at receiver, us after create sent", o, b, "-", -1);
    }
    /* a burst: creates back to back, then every event delivered */
    long before = atomic_load(&r.events);
    int burst = creates * 10;
    int64_t t0 = jwts_monotonic_ns();
    int sent = 0;
    for (; sent < burst; sent++)
        if (!bench_create_session(port, "{\"user_id\":\"webhook-burst\"}", token, sizeof token)) break;
    int64_t t1 = jwts_monotonic_ns();
    bool all = wait_events(&r, before + sent, 30.0);
    int64_t t2 = atomic_load(&r.last_ns);
    if (!all) bench_miss("webhook burst: not every event arrived");
    double created = sent / ((double)(t1 - t0) / 1e9), delivered = sent / ((double)(t2 - t0) / 1e9);
    printf("  webhook burst: %d creates at %.0f/s; the last event reached the receiver %.1f ms after the last answer\n",
           sent, created, t2 > t1 ? (double)(t2 - t1) / 1e6 : 0.0);
    bench_row("webhook: events delivered/s (vs creates/s)", delivered, created, "-", -1);
    free(ours);
    free(base);
    bench_stop(pid, SIGTERM);
    receiver_stop(&r);
    unlink(key);
    rmdir(dir);
}
#endif

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int rounds = argc > 2 ? atoi(argv[2]) : 5, creates = argc > 3 ? atoi(argv[3]) : 200;
    if (seconds <= 0) seconds = 1.0;
    if (rounds < 1) rounds = 5;
    if (creates < 1) creates = 200;
    signal(SIGPIPE, SIG_IGN);
    jwts_keyset *ks = bench_hs256_keys();
    printf("bench_events: %d rounds of %.1f s, alternating, medians\n", rounds, seconds);
    printf("  %-52s %12s %12s %9s %9s\n", "measure", "ours", "baseline", "ratio", "target");

    /* memory: a sink against none */
    jwts_store *s_on, *s_off;
    jwts_memory_options mo = {.sweep_interval_ms = -1};
    if (jwts_store_memory_new(&mo, &s_on) || jwts_store_memory_new(&mo, &s_off)) bench_die("bench_events", 1, "memory");
    bench_pair on = {manager(s_on, ks, true), "mem-on"}, off = {manager(s_off, ks, false), "mem-off"};
    double us_on, us_off;
    bench_alternate(bench_create_revoke, &on, bench_create_revoke, &off, rounds, seconds, &us_on, &us_off);
    bench_row("memory: create+revoke us/pair, sink on (vs off)", us_on, us_off, "-", -1);
    printf("  memory: %.0f pairs/s with the sink (%.0f events/s), %.0f without; %lu events reached the sink\n",
           1e6 / us_on, 2e6 / us_on, 1e6 / us_off, (unsigned long)atomic_load(&sink_events));
    jwts_manager_free(on.m), jwts_manager_free(off.m);
    jwts_store_free(s_on), jwts_store_free(s_off);

    /* Redis: the stream written by the scripts against the same Redis without it */
    bench_redis rd;
    if (bench_redis_start(&rd)) {
        char url_on[160], url_off[160];
        snprintf(url_on, sizeof url_on, "redis://127.0.0.1:%d?events=bench:events&events_maxlen=10000&key_prefix=on:",
                 rd.port);
        snprintf(url_off, sizeof url_off, "redis://127.0.0.1:%d?key_prefix=off:", rd.port);
        jwts_store *r_on, *r_off;
        if (jwts_store_open_url(url_on, &r_on) || jwts_store_open_url(url_off, &r_off))
            bench_die("bench_events", 1, "redis store");
        bench_pair ron = {manager(r_on, ks, false), "redis-on"}, roff = {manager(r_off, ks, false), "redis-off"};
        bench_alternate(bench_create_revoke, &ron, bench_create_revoke, &roff, rounds, seconds, &us_on, &us_off);
        bench_row("redis: create+revoke us/pair, stream on (vs off)", us_on, us_off, "-", -1);
        printf("  redis: %.0f pairs/s with the stream (%.0f events/s appended), %.0f without; 1 client thread\n",
               1e6 / us_on, 2e6 / us_on, 1e6 / us_off);
        jwts_manager_free(ron.m), jwts_manager_free(roff.m);
        jwts_store_free(r_on), jwts_store_free(r_off);
        bench_redis_stop(&rd);
    } else {
        bench_miss("redis-server");
    }
#ifdef JWTSD_BIN
    webhook_figures(creates);
#endif
    jwts_keyset_free(ks);
    return bench_finish("bench_events");
}
