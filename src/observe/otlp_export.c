/*
 * otlp_export.c - the tracer's exporter thread: batches of ended spans POSTed as OTLP/HTTP JSON
 * with libcurl.
 *
 * The thread sleeps until a batch is full, the export interval passes, a flush is asked for or
 * the tracer stops. It takes up to batch_size spans off the queue, encodes and sends them outside
 * the lock (one reused easy handle, keep-alive), and counts them exported (HTTP 2xx) or dropped.
 * A flush drains everything queued when it was asked; stopping drains everything. No retries:
 * a failed batch is dropped and counted, so a dead collector never grows memory.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "observe/trace_int.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    (void)arg;
    return size * nmemb;
}

typedef struct exporter {
    CURL *curl;
    struct curl_slist *headers;
    jwts_buf body;
} exporter;

/* POST the encoded batch; true when the endpoint answered 2xx. */
static bool post(jwts_tracer *t, exporter *x)
{
    if (!x->curl) return false;
    curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, x->body.data);
    curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body.len);
    CURLcode rc = curl_easy_perform(x->curl);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    (void)t;
    return rc == CURLE_OK && status >= 200 && status < 300;
}

static void export_batch(jwts_tracer *t, exporter *x, jwts_span **batch, size_t n)
{
    jwts_buf_reset(&x->body);
    otlp_encode(t, batch, n, &x->body);
    bool ok = !x->body.err && post(t, x);
    if (ok) {
        atomic_fetch_add_explicit(&t->exported, n, memory_order_relaxed);
        jwts_counter_add(t->m_exported, n);
    } else {
        atomic_fetch_add_explicit(&t->export_errors, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->dropped_export, n, memory_order_relaxed);
        jwts_counter_add(t->m_dropped_export, n);
    }
    trace_spans_release(t, batch, n);
}

static void deadline_in(struct timespec *ts, int64_t ms)
{
    *ts = jwts_monotonic_timespec_in_ms(ms);
}

static bool passed(const struct timespec *ts)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

static void *exporter_main(void *arg)
{
    jwts_tracer *t = arg;
    exporter x = {0};
    x.curl = curl_easy_init();
    if (x.curl) {
        x.headers = curl_slist_append(NULL, "Content-Type: application/json");
        x.headers = curl_slist_append(x.headers, "Expect:");
        curl_easy_setopt(x.curl, CURLOPT_URL, t->url);
        curl_easy_setopt(x.curl, CURLOPT_HTTPHEADER, x.headers);
        curl_easy_setopt(x.curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(x.curl, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
        curl_easy_setopt(x.curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(x.curl, CURLOPT_USERAGENT, "jwtsession/" JWTS_OBSERVE_SCOPE_VERSION);
    }
    jwts_span *one[1];
    jwts_span **batch = malloc(t->batch_size * sizeof *batch);
    size_t cap = batch ? t->batch_size : 1;
    if (!batch) batch = one;
    struct timespec next;
    deadline_in(&next, t->interval_ms);
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (!t->stop && t->flush_req == t->flush_done && t->count < t->batch_size && !passed(&next))
            pthread_cond_timedwait(&t->wake, &t->lock, &next);
        uint64_t flush_target = t->flush_req;
        /* drain: everything when stopping or flushing, else one batch */
        do {
            size_t n = t->count < cap ? t->count : cap;
            for (size_t i = 0; i < n; i++) batch[i] = t->ring[(t->head + i) % t->queue_size];
            t->head = (t->head + n) % t->queue_size;
            t->count -= n;
            atomic_store_explicit(&t->queued, t->count, memory_order_relaxed);
            if (!n) break;
            pthread_mutex_unlock(&t->lock);
            export_batch(t, &x, batch, n);
            atomic_store_explicit(&t->unix_minus_mono_ns, trace_clock_offset_now(), memory_order_relaxed);
            pthread_mutex_lock(&t->lock);
        } while (t->stop || t->flush_done < flush_target || t->count >= t->batch_size);
        if (t->flush_done < flush_target) {
            t->flush_done = flush_target;
            pthread_cond_broadcast(&t->done);
        }
        if (t->stop && t->count == 0) break;
        if (passed(&next)) deadline_in(&next, t->interval_ms);
    }
    pthread_mutex_unlock(&t->lock);
    if (batch != one) free(batch);
    jwts_buf_free(&x.body);
    curl_slist_free_all(x.headers);
    if (x.curl) curl_easy_cleanup(x.curl);
    return NULL;
}

jwts_err otlp_exporter_start(jwts_tracer *t)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return jwts_fail(JWTS_E_INTERNAL, "tracer: curl_global_init: %s", curl_easy_strerror(curl_init_rc));
    t->thread_running = true; /* set before the thread can look */
    if (pthread_create(&t->thread, NULL, exporter_main, t) != 0) {
        t->thread_running = false;
        return jwts_fail(JWTS_E_INTERNAL, "tracer: cannot start the exporter thread");
    }
    return JWTS_OK;
}

void otlp_exporter_stop(jwts_tracer *t)
{
    if (!t->thread_running) return;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_mutex_unlock(&t->lock);
    pthread_cond_signal(&t->wake);
    pthread_join(t->thread, NULL);
    pthread_mutex_lock(&t->lock);
    t->thread_running = false;
    pthread_cond_broadcast(&t->done);
    pthread_mutex_unlock(&t->lock);
}
