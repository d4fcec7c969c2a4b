/*
 * webhook.c - lifecycle events POSTed to --events-webhook (docs/events.md).
 *
 * The manager's on_event sink formats each event as JSON and appends it to a bounded in-memory
 * queue under a mutex: it never waits on the network, so request handling never blocks; a full
 * queue drops the event (jwtsessiond_events_dropped_total). One sender thread takes up to
 * BATCH_MAX events from the head and POSTs them as one JSON array over HTTP/1.1 (a small client on
 * a socket: http:// only, one connection per delivery, so no libcurl). Headers:
 *   X-Jwts-Timestamp: <unix seconds>
 *   X-Jwts-Signature: sha256=<hex HMAC-SHA256(key, timestamp "." body)>
 *   X-Jwts-Delivery:  <id>   the same on every retry of one batch (receivers dedupe on it)
 * A 2xx answer delivers the batch; anything else is retried after 100 ms, doubling to 2 s, until
 * --events-retry has passed since the first attempt, then the batch counts as failed. Delivery is
 * at least once and in order. On SIGTERM the queue is drained for a short bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "daemon.h"

#define BATCH_MAX 256             /* events in one POST */
#define ATTEMPT_TIMEOUT_MS 5000   /* connect, send and answer of one POST */
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 2000
#define SECRET_MIN 16
#define SECRET_MAX 1024
#define RESPONSE_MAX 8192         /* bytes of an answer read (the rest is ignored) */

typedef struct wh_url {
    char host[256];
    char port[8];
    char path[1024];
    char host_header[300];
} wh_url;

struct jwtsd_webhook {
    wh_url url;
    uint8_t key[SECRET_MAX];
    size_t key_len;
    int64_t retry_ms;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* queue not empty, or stop */
    char **ring;
    size_t cap, head, count;
    bool stopping;
    int64_t drain_deadline_ns;
    bool thread_running;
    pthread_t thread;
    uint64_t delivery_seq;
    char boot_id[17];
    jwts_metrics *metrics;
    jwts_counter *delivered, *failed, *dropped;
    jwts_histogram *latency;
};

/* ---- set-up ------------------------------------------------------------------------------------ */

static bool parse_url(const char *s, wh_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (strncmp(s, "http://", 7) != 0) {
        snprintf(err, errlen, "events-webhook: only http:// URLs are supported");
        return false;
    }
    const char *h = s + 7, *end = h + strcspn(h, "/?#");
    const char *hend = end, *port = NULL;
    if (*h == '[') { /* [v6]:port */
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (!close) goto bad;
        hend = close + 1;
        if (hend < end && *hend == ':') port = hend + 1;
        else if (hend != end) goto bad;
        h++, hend = close;
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        if (colon) port = colon + 1, hend = colon;
    }
    size_t hl = (size_t)(hend - h), pl = port ? (size_t)(end - port) : 0;
    if (hl == 0 || hl >= sizeof u->host || (port && (pl == 0 || pl >= sizeof u->port))) goto bad;
    memcpy(u->host, h, hl);
    if (port) memcpy(u->port, port, pl);
    else strcpy(u->port, "80");
    for (const char *p = u->port; *p; p++)
        if (*p < '0' || *p > '9') goto bad;
    for (const char *p = u->host; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '@') goto bad;
    const char *path = *end ? end : "/";
    if (*path != '/' || strlen(path) >= sizeof u->path || strchr(path, '#')) goto bad;
    for (const char *p = path; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) goto bad;
    strcpy(u->path, path);
    if ((size_t)(end - (s + 7)) >= sizeof u->host_header) goto bad;
    memcpy(u->host_header, s + 7, (size_t)(end - (s + 7))); /* the authority as given */
    return true;
bad:
    snprintf(err, errlen, "events-webhook: not an http://host[:port][/path] URL");
    return false;
}

/* The HMAC key: the file's content, surrounding white space dropped; group and others must not
 * be able to read it. */
static bool load_secret(const char *path, jwtsd_webhook *w, char *err, size_t errlen)
{
    if (!path || !*path) {
        snprintf(err, errlen, "events-webhook needs --events-webhook-secret-file");
        return false;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "events-webhook-secret-file: %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return false;
    }
    if (st.st_mode & 077) {
        close(fd);
        snprintf(err, errlen, "events-webhook-secret-file: %s: readable by group or others (chmod 600)", path);
        return false;
    }
    uint8_t buf[SECRET_MAX + 2];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    size_t a = 0, b = n > 0 ? (size_t)n : 0;
    while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r' || buf[a] == '\n')) a++;
    while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r' || buf[b - 1] == '\n')) b--;
    bool ok = n >= 0 && (size_t)n <= SECRET_MAX && b - a >= SECRET_MIN;
    if (ok) {
        memcpy(w->key, buf + a, b - a);
        w->key_len = b - a;
    } else {
        snprintf(err, errlen, "events-webhook-secret-file: %s: the key must be %d to %d bytes", path, SECRET_MIN,
                 SECRET_MAX);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return ok;
}

/* ---- one POST ----------------------------------------------------------------------------------- */

static int remaining_ms(int64_t deadline_ns)
{
    int64_t left = (deadline_ns - jwts_monotonic_ns()) / 1000000;
    return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static bool wait_fd(int fd, short events, int64_t deadline_ns)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int ms = remaining_ms(deadline_ns);
        if (ms == 0) return false;
        int r = poll(&p, 1, ms);
        if (r > 0) return true;
        if (r == 0 || errno != EINTR) return false;
    }
}

static int dial(const wh_url *u, int64_t deadline_ns)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(u->host, u->port, &hints, &res) != 0) return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (rc != 0 && !(errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline_ns) &&
                         getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

static bool send_all(int fd, const char *p, size_t n, int64_t deadline_ns)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k, n -= (size_t)k;
        } else if (k < 0 && errno == EINTR) {
            continue;
        } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd, POLLOUT, deadline_ns)) return false;
        } else {
            return false;
        }
    }
    return true;
}

/* The status of the answer ("HTTP/1.x NNN ..."), read until the server closes (Connection:
 * close) or RESPONSE_MAX bytes; 0 when there is none. */
static int read_status(int fd, int64_t deadline_ns)
{
    char buf[RESPONSE_MAX + 1];
    size_t len = 0;
    while (len < RESPONSE_MAX) {
        ssize_t k = recv(fd, buf + len, RESPONSE_MAX - len, 0);
        if (k > 0) len += (size_t)k;
        else if (k == 0) break;
        else if (errno == EINTR) continue;
        else if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLIN, deadline_ns)) continue;
        else break;
    }
    buf[len] = '\0';
    int status = 0;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') return 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9') return 0;
        status = status * 10 + (buf[i] - '0');
    }
    return status;
}

/* POST body to the webhook once; the HTTP status, or 0 when it could not be reached. */
static int post_once(jwtsd_webhook *w, const char *delivery, const char *body, size_t len)
{
    int64_t deadline = jwts_deadline_in_ms(ATTEMPT_TIMEOUT_MS);
    char ts[24];
    snprintf(ts, sizeof ts, "%lld", (long long)(jwts_now_ms() / 1000));
    uint8_t mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *h = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0), OSSL_PARAM_construct_end()};
    bool ok = h && EVP_MAC_init(h, w->key, w->key_len, params) &&
              EVP_MAC_update(h, (const uint8_t *)ts, strlen(ts)) && EVP_MAC_update(h, (const uint8_t *)".", 1) &&
              EVP_MAC_update(h, (const uint8_t *)body, len) && EVP_MAC_final(h, mac, &mac_len, sizeof mac);
    EVP_MAC_CTX_free(h);
    EVP_MAC_free(alg);
    if (!ok) return 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (size_t i = 0; i < mac_len; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    char head[2048];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: jwtsessiond/" JWTSD_VERSION "\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n"
                      "X-Jwts-Timestamp: %s\r\nX-Jwts-Signature: sha256=%s\r\nX-Jwts-Delivery: %s\r\n\r\n",
                      w->url.path, w->url.host_header, len, ts, hex, delivery);
    if (hn <= 0 || (size_t)hn >= sizeof head) return 0;
    int fd = dial(&w->url, deadline);
    if (fd < 0) return 0;
    int status = 0;
    if (send_all(fd, head, (size_t)hn, deadline) && send_all(fd, body, len, deadline)) {
        shutdown(fd, SHUT_WR);
        status = read_status(fd, deadline);
    }
    close(fd);
    return status;
}

/* ---- the queue and its sender ------------------------------------------------------------------- */

void jwtsd_webhook_event(void *arg, const jwts_event *ev)
{
    jwtsd_webhook *w = arg;
    char json[JWTS_EVENT_JSON_MAX];
    size_t len = 0;
    char *copy = jwts_event_json(ev, json, sizeof json, &len) == JWTS_OK ? malloc(len + 1) : NULL;
    if (copy) memcpy(copy, json, len + 1);
    pthread_mutex_lock(&w->lock);
    bool taken = copy && !w->stopping && w->count < w->cap;
    if (taken) {
        w->ring[(w->head + w->count) % w->cap] = copy;
        w->count++;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    if (!taken) {
        free(copy);
        jwts_counter_inc(w->dropped);
    }
}

/* Sleep ms unless the sender is told to stop sooner; false when it must stop now (stopping and
 * past the drain deadline). */
static bool backoff(jwtsd_webhook *w, int64_t ms)
{
    struct timespec until = jwts_monotonic_timespec_in_ms(ms);
    pthread_mutex_lock(&w->lock);
    int64_t wake = jwts_deadline_in_ms(ms);
    while (jwts_monotonic_ns() < wake && !(w->stopping && jwts_monotonic_ns() >= w->drain_deadline_ns)) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) != 0) break;
    }
    bool go_on = !(w->stopping && jwts_monotonic_ns() >= w->drain_deadline_ns);
    pthread_mutex_unlock(&w->lock);
    return go_on;
}

/* Deliver the first n queued events (retrying them as one batch); true when the sender goes on. */
static bool deliver(jwtsd_webhook *w, char **batch, size_t n)
{
    jwts_buf body = {0};
    jwts_buf_putc(&body, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) jwts_buf_putc(&body, ',');
        jwts_buf_puts(&body, batch[i]);
    }
    jwts_buf_putc(&body, ']');
    char delivery[48];
    snprintf(delivery, sizeof delivery, "%s-%llu", w->boot_id, (unsigned long long)++w->delivery_seq);
    int64_t first = jwts_monotonic_ns(), wait = BACKOFF_FIRST_MS;
    bool go_on = true, sent = false;
    int attempts = 0;
    while (!body.err) {
        int64_t t0 = jwts_monotonic_ns();
        int status = post_once(w, delivery, body.data, body.len);
        attempts++;
        if (status >= 200 && status < 300) {
            jwts_histogram_observe_ns(w->latency, jwts_monotonic_ns() - t0);
            sent = true;
            break;
        }
        if (attempts == 1)
            JWTSD_LOG(JWTSD_LOG_WARN, "events webhook failed; retrying", JWTSD_I("status", status),
                      JWTSD_I("events", (int64_t)n));
        if (jwts_monotonic_ns() - first + wait * 1000000 > w->retry_ms * 1000000) break;
        if (!(go_on = backoff(w, wait))) break;
        wait = wait * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : wait * 2;
    }
    jwts_buf_free(&body);
    if (sent) {
        jwts_counter_add(w->delivered, n);
    } else {
        jwts_counter_add(go_on ? w->failed : w->dropped, n);
        JWTSD_LOG(JWTSD_LOG_ERROR, go_on ? "events webhook gave up on a batch" : "events webhook stopped before delivery",
                  JWTSD_I("events", (int64_t)n), JWTSD_I("attempts", attempts));
    }
    return go_on;
}

static void *sender_main(void *arg)
{
    jwtsd_webhook *w = arg;
    char *batch[BATCH_MAX];
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (w->count == 0 && !w->stopping) pthread_cond_wait(&w->cond, &w->lock);
        bool done = w->count == 0 || (w->stopping && jwts_monotonic_ns() >= w->drain_deadline_ns);
        size_t n = 0;
        while (!done && n < BATCH_MAX && n < w->count) batch[n] = w->ring[(w->head + n) % w->cap], n++;
        pthread_mutex_unlock(&w->lock);
        if (done) break;
        bool go_on = deliver(w, batch, n);
        pthread_mutex_lock(&w->lock);
        for (size_t i = 0; i < n; i++) {
            free(w->ring[w->head]);
            w->ring[w->head] = NULL;
            w->head = (w->head + 1) % w->cap;
        }
        w->count -= n;
        pthread_mutex_unlock(&w->lock);
        if (!go_on) break;
    }
    return NULL;
}

/* ---- lifetime ------------------------------------------------------------------------------------ */

static void register_metrics(jwtsd_webhook *w, jwts_metrics *m)
{
    if (!m) return;
    jwts_metrics_counter(m, "jwtsessiond_events_delivered_total", "Lifecycle events the webhook accepted (2xx)",
                         NULL, 0, &w->delivered);
    jwts_metrics_counter(m, "jwtsessiond_events_failed_total",
                         "Lifecycle events given up after --events-retry of failed deliveries", NULL, 0, &w->failed);
    jwts_metrics_counter(m, "jwtsessiond_events_dropped_total",
                         "Lifecycle events dropped: the queue was full, or left at shutdown", NULL, 0, &w->dropped);
    jwts_metrics_histogram(m, "jwtsessiond_events_webhook_duration_seconds",
                           "Duration of a successful webhook POST", NULL, 0, NULL, 0, &w->latency);
}

bool jwtsd_webhook_new(const jwtsd_config *cfg, jwts_metrics *metrics, jwtsd_webhook **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->events_webhook || !*cfg->events_webhook) return true;
    if (cfg->events_queue < 1 || cfg->events_queue > 10000000) {
        snprintf(err, errlen, "events-queue: 1 to 10000000");
        return false;
    }
    jwtsd_webhook *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "events webhook: out of memory");
        return false;
    }
    w->cap = (size_t)cfg->events_queue;
    w->retry_ms = cfg->events_retry_ms;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    uint8_t boot[8];
    bool ok = parse_url(cfg->events_webhook, &w->url, err, errlen) &&
              load_secret(cfg->events_webhook_secret_file, w, err, errlen);
    if (ok && jwts_random_bytes(boot, sizeof boot) != JWTS_OK) ok = false, snprintf(err, errlen, "random: failed");
    for (size_t i = 0; ok && i < sizeof boot; i++) snprintf(w->boot_id + 2 * i, 3, "%02x", boot[i]);
    if (ok && !(w->ring = calloc(w->cap, sizeof *w->ring))) ok = false, snprintf(err, errlen, "events queue: out of memory");
    if (ok) register_metrics(w, metrics);
    if (ok && pthread_create(&w->thread, NULL, sender_main, w) != 0)
        ok = false, snprintf(err, errlen, "events webhook: cannot start its thread");
    w->thread_running = ok;
    if (!ok) {
        jwtsd_webhook_free(w);
        return false;
    }
    *out = w;
    return true;
}

void jwtsd_webhook_stop(jwtsd_webhook *w, int64_t drain_ms)
{
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    if (!w->stopping) {
        w->stopping = true;
        w->drain_deadline_ns = jwts_deadline_in_ms(drain_ms);
    }
    size_t queued = w->count;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (w->thread_running) {
        if (queued) JWTSD_LOG(JWTSD_LOG_INFO, "draining events", JWTSD_I("queued", (int64_t)queued));
        pthread_join(w->thread, NULL);
        w->thread_running = false;
    }
    pthread_mutex_lock(&w->lock);
    if (w->count) jwts_counter_add(w->dropped, w->count);
    for (; w->count; w->count--, w->head = (w->head + 1) % w->cap) {
        free(w->ring[w->head]);
        w->ring[w->head] = NULL;
    }
    pthread_mutex_unlock(&w->lock);
}

void jwtsd_webhook_free(jwtsd_webhook *w)
{
    if (!w) return;
    jwtsd_webhook_stop(w, 0);
    free(w->ring);
    OPENSSL_cleanse(w->key, sizeof w->key);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
