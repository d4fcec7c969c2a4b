/*
 * webhook.c - lifecycle events POSTed to --events-webhook (docs/events.md).
 *
 * The manager's on_event sink formats each event as JSON and appends it to a bounded in-memory
 * queue under a mutex: it never waits on the network, so request handling never blocks; a full
 * queue drops the event (jwtsessiond_events_dropped_total). One sender thread takes up to
 * BATCH_MAX events from the head and POSTs them as one JSON array with libcurl, to an http:// or
 * https:// URL (certificates verified against the system's CAs or --events-webhook-ca; no
 * redirects followed; the connection is kept between deliveries). Headers:
 *   X-Jwts-Timestamp: <unix seconds>
 *   X-Jwts-Signature: sha256=<hex HMAC-SHA256(key, timestamp "." body)>
 *   X-Jwts-Delivery:  <id>   the same on every retry of one batch (receivers dedupe on it)
 * A 2xx answer delivers the batch; anything else is retried after 100 ms, doubling to 2 s, until
 * --events-retry has passed since the first attempt, then the batch counts as failed. Delivery is
 * at least once and in order. On SIGTERM the queue is drained for a short bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
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
#define URL_MAX 2048

struct jwtsd_webhook {
    char url[URL_MAX];
    char *ca_file; /* NULL: the system's CAs */
    CURL *curl;    /* the sender thread's handle: its connection is reused */
    char why[CURL_ERROR_SIZE]; /* the last attempt's failure, for the log */
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

/* The webhook URL: http:// or https://, a host, no credentials (they would end up in logs), no
 * fragment; kept as given. */
static bool parse_url(const char *s, jwtsd_webhook *w, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *fragment = NULL;
    bool ok = u && strlen(s) < sizeof w->url && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && *host;
    if (ok && strcmp(scheme, "http") && strcmp(scheme, "https")) {
        snprintf(err, errlen, "events-webhook: only http:// and https:// URLs are supported");
        ok = false;
    } else if (ok && (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
                      curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK)) {
        snprintf(err, errlen, "events-webhook: a URL without credentials or fragment, please");
        ok = false;
    } else if (!ok) {
        snprintf(err, errlen, "events-webhook: not an http[s]://host[:port][/path] URL");
    }
    for (const char *p = s; ok && *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(err, errlen, "events-webhook: a URL without spaces or control characters, please");
            ok = false;
        }
    if (ok) strcpy(w->url, s);
    curl_free(scheme), curl_free(host), curl_free(user), curl_free(fragment);
    curl_url_cleanup(u);
    return ok;
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

/* The answer's body is not kept. */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

/* POST body to the webhook once; the HTTP status, or 0 when it could not be reached (w->why says
 * why). */
static int post_once(jwtsd_webhook *w, const char *delivery, const char *body, size_t len)
{
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
    char h_ts[64], h_sig[48 + sizeof hex], h_id[96];
    snprintf(h_ts, sizeof h_ts, "X-Jwts-Timestamp: %s", ts);
    snprintf(h_sig, sizeof h_sig, "X-Jwts-Signature: sha256=%s", hex);
    snprintf(h_id, sizeof h_id, "X-Jwts-Delivery: %s", delivery);
    struct curl_slist *headers = NULL, *t;
    const char *lines[] = {"Content-Type: application/json", "Expect:", h_ts, h_sig, h_id};
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        if (!(t = curl_slist_append(headers, lines[i]))) {
            curl_slist_free_all(headers);
            return 0;
        }
        headers = t;
    }
    CURL *c = w->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    long status = 0;
    w->why[0] = '\0';
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) rc = curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        status = 0;
        if (!w->why[0]) snprintf(w->why, sizeof w->why, "%s", curl_easy_strerror(rc));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    return (int)status;
}

/* ---- the queue and its sender ------------------------------------------------------------------- */

void jwtsd_webhook_event(jwtsd_webhook *w, const char *tenant, const jwts_event *ev)
{
    char json[JWTS_EVENT_JSON_MAX + 64];
    size_t len = 0;
    bool ok = jwts_event_json(ev, json, JWTS_EVENT_JSON_MAX, &len) == JWTS_OK;
    if (ok && tenant) { /* a tenant name is [a-z0-9-]{1,32}: no escaping */
        int n = snprintf(json + len - 1, sizeof json - (len - 1), ",\"tenant\":\"%s\"}", tenant);
        ok = n > 0 && (size_t)n < sizeof json - (len - 1);
        len += ok ? (size_t)n - 1 : 0;
    }
    char *copy = ok ? malloc(len + 1) : NULL;
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
                      JWTSD_S("error", status ? "" : w->why), JWTSD_I("events", (int64_t)n));
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

/* The sender's libcurl handle, set up once: the URL, the attempt's time bound, no redirects, the
 * CA file (checked here, so a wrong path fails at start rather than at each delivery). */
static bool open_curl(const jwtsd_config *cfg, jwtsd_webhook *w, char *err, size_t errlen)
{
    const char *ca = cfg->events_webhook_ca;
    if (ca && *ca) {
        if (access(ca, R_OK) != 0) {
            snprintf(err, errlen, "events-webhook-ca: %s: %s", ca, strerror(errno));
            return false;
        }
        if (!(w->ca_file = strdup(ca))) {
            snprintf(err, errlen, "events webhook: out of memory");
            return false;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(w->curl = curl_easy_init())) {
        snprintf(err, errlen, "events webhook: libcurl cannot start");
        return false;
    }
    CURL *c = w->curl;
    bool ok = curl_easy_setopt(c, CURLOPT_URL, w->url) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ATTEMPT_TIMEOUT_MS) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_USERAGENT, "jwtsessiond/" JWTSD_VERSION) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
              curl_easy_setopt(c, CURLOPT_ERRORBUFFER, w->why) == CURLE_OK &&
              (!w->ca_file || curl_easy_setopt(c, CURLOPT_CAINFO, w->ca_file) == CURLE_OK);
    if (!ok) snprintf(err, errlen, "events webhook: this libcurl lacks an option it needs");
    return ok;
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
    bool ok = parse_url(cfg->events_webhook, w, err, errlen) &&
              load_secret(cfg->events_webhook_secret_file, w, err, errlen) && open_curl(cfg, w, err, errlen);
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
    if (w->curl) curl_easy_cleanup(w->curl);
    free(w->ca_file);
    OPENSSL_cleanse(w->key, sizeof w->key);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
