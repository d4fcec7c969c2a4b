/*
 * trace.c - jwts_tracer: configuration, sampling, ids, spans and the export queue.
 *
 * Sampling happens at start. An unsampled span is NULL: the child ctx passes the parent on with
 * the sampled flag clear (or, for a new trace under a ratio sampler, fresh ids from a per-thread
 * PRNG so that later decisions on the same trace agree), so nothing is allocated and no clock is
 * read. A sampled span is one allocation, filled in place and handed to the exporter's queue at
 * its end. Ids come from a per-thread xoshiro256** generator seeded from the CSPRNG: trace ids
 * need to be unique and random-looking, not secret.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "jwtsession/random.h"
#include "observe/trace_int.h"

#define DEFAULT_URL "http://127.0.0.1:4318/v1/traces"
#define DEFAULT_SERVICE "jwtsession"
#define DEFAULT_QUEUE 2048
#define DEFAULT_BATCH 512
#define DEFAULT_INTERVAL_MS 5000
#define DEFAULT_TIMEOUT_MS 10000
#define MAX_QUEUE (1u << 20)
#define MAX_URL 2048

/* ---- ids -------------------------------------------------------------------------------------- */

static _Thread_local uint64_t rng[4];
static _Thread_local bool rng_ready;

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void rng_seed(void)
{
    if (jwts_random_bytes(rng, sizeof rng) != JWTS_OK || (rng[0] | rng[1] | rng[2] | rng[3]) == 0) {
        uint64_t x = (uint64_t)jwts_monotonic_ns() ^ (uint64_t)(uintptr_t)&rng;
        for (int i = 0; i < 4; i++) { /* splitmix64 */
            x += 0x9e3779b97f4a7c15ULL;
            uint64_t z = x;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            rng[i] = z ^ (z >> 31);
        }
    }
    rng_ready = true;
}

static inline uint64_t rng_next(void)
{
    if (__builtin_expect(!rng_ready, 0)) rng_seed();
    uint64_t result = rotl(rng[1] * 5, 7) * 9, t = rng[1] << 17;
    rng[2] ^= rng[0];
    rng[3] ^= rng[1];
    rng[1] ^= rng[2];
    rng[0] ^= rng[3];
    rng[2] ^= t;
    rng[3] = rotl(rng[3], 45);
    return result;
}

/* A random non-zero id of n (8 or 16) bytes. */
static void new_id(uint8_t *out, size_t n)
{
    uint64_t a, b = 0;
    do {
        a = rng_next();
        if (n == 16) b = rng_next();
    } while (a == 0 && b == 0);
    memcpy(out, &a, 8);
    if (n == 16) memcpy(out + 8, &b, 8);
}

static inline uint64_t be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* ---- sampling --------------------------------------------------------------------------------- */

static inline bool ratio_says(const jwts_tracer *t, const uint8_t trace_id[16])
{
    return (be64(trace_id + 8) >> 1) < t->ratio_bound;
}

static bool uses_ratio(jwts_sampler s)
{
    return s == JWTS_SAMPLER_TRACEIDRATIO || s == JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO;
}

/* ---- spans ------------------------------------------------------------------------------------ */

int64_t trace_clock_offset_now(void)
{
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    return ((int64_t)rt.tv_sec - mono.tv_sec) * JWTS_NS_PER_S + (rt.tv_nsec - mono.tv_nsec);
}

static inline int64_t to_unix(const jwts_tracer *t, int64_t mono_ns)
{
    return mono_ns + atomic_load_explicit(&((jwts_tracer *)t)->unix_minus_mono_ns, memory_order_relaxed);
}

static void count_drop(jwts_tracer *t, uint64_t n, bool queue)
{
    atomic_fetch_add_explicit(queue ? &t->dropped_queue : &t->dropped_export, n, memory_order_relaxed);
    jwts_counter_add(queue ? t->m_dropped_queue : t->m_dropped_export, n);
}

jwts_span *trace_span_start_at(jwts_tracer *t, const char *name, jwts_span_kind kind, const jwts_ctx *parent,
                               jwts_ctx *child, int64_t now_mono_ns)
{
    if (!child) return NULL;
    bool has_parent = parent && parent->parent.valid;
    child->deadline_ns = parent ? parent->deadline_ns : 0;
    child->flags = parent ? parent->flags : 0;
    if (!has_parent && t && !t->disabled && uses_ratio(t->sampler)) {
        /* the common root under a ratio sampler: ids straight into the child, decided by the trace id */
        jwts_trace_parent *p = &child->parent;
        uint64_t hi = rng_next(), lo = rng_next(), sid = rng_next();
        if (!(hi | lo)) lo = 1;
        if (!sid) sid = 1;
        memcpy(p->trace_id, &hi, 8), memcpy(p->trace_id + 8, &lo, 8), memcpy(p->span_id, &sid, 8);
        p->flags = 0;
        p->valid = true;
        if (!ratio_says(t, p->trace_id)) return NULL; /* unsampled: the trace passes on with these ids */
        parent = child;                               /* sampled: continue below with these ids as the trace to join */
        has_parent = false;
    }
    jwts_trace_parent in = parent && parent->parent.valid ? parent->parent : (jwts_trace_parent){0};
    bool sampled = false;
    if (!t || t->disabled) { /* not tracing: the trace passes through untouched */
        child->parent = in;
        return NULL;
    } else if (has_parent && trace_parent_based(t->sampler)) {
        sampled = in.flags & 1;
    } else if (t->sampler == JWTS_SAMPLER_ALWAYS_ON || t->sampler == JWTS_SAMPLER_PARENTBASED_ALWAYS_ON) {
        sampled = true;
    } else if (uses_ratio(t->sampler)) {
        /* a new trace got its ids above (its id decides, now and for every child span) */
        sampled = ratio_says(t, in.trace_id);
    }
    if (!sampled) { /* pass the trace on, unsampled */
        child->parent = in;
        child->parent.flags &= (uint8_t)~1u;
        return NULL;
    }
    jwts_span *s = NULL;
    if (atomic_load_explicit(&t->queued, memory_order_relaxed) >= t->queue_size) {
        atomic_fetch_add_explicit(&t->started, 1, memory_order_relaxed);
        count_drop(t, 1, true); /* it would be dropped at its end: spare the work */
    } else {
        pthread_mutex_lock(&t->spare_lock);
        s = t->nspare ? t->spare[--t->nspare] : NULL;
        pthread_mutex_unlock(&t->spare_lock);
        if (!s) s = malloc(sizeof *s);
    }
    if (!s) { /* sampled but not recorded: children still follow the sampled decision */
        child->parent = in;
        if (!in.valid) {
            new_id(child->parent.trace_id, 16);
            child->parent.valid = true;
        }
        new_id(child->parent.span_id, 8);
        child->parent.flags |= 1;
        return NULL;
    }
    s->t = t;
    if (in.valid)
        memcpy(s->trace_id, in.trace_id, 16);
    else
        new_id(s->trace_id, 16);
    s->has_parent = has_parent;
    if (has_parent) memcpy(s->parent_span_id, in.span_id, 8);
    new_id(s->span_id, 8);
    s->kind = (uint8_t)(kind >= JWTS_SPAN_INTERNAL && kind <= JWTS_SPAN_CONSUMER ? kind : JWTS_SPAN_INTERNAL);
    s->status = JWTS_OK;
    s->nattrs = s->dropped_attrs = 0;
    size_t n = name ? strnlen(name, 128) : 0;
    memcpy(s->text, name ? name : "", n);
    s->name_len = s->text_len = (uint16_t)n;
    s->start_unix_ns = to_unix(t, now_mono_ns ? now_mono_ns : jwts_fast_ns());
    s->end_unix_ns = 0;
    memcpy(child->parent.trace_id, s->trace_id, 16);
    memcpy(child->parent.span_id, s->span_id, 8);
    child->parent.flags = (uint8_t)((in.valid ? in.flags : 0) | 1);
    child->parent.valid = true;
    atomic_fetch_add_explicit(&t->started, 1, memory_order_relaxed);
    return s;
}

jwts_span *jwts_span_start(jwts_tracer *t, const char *name, jwts_span_kind kind, const jwts_ctx *parent,
                           jwts_ctx *child)
{
    return trace_span_start_at(t, name, kind, parent, child, 0);
}

/* Copy text (n bytes) into the span's text area, which has room. */
static uint16_t put_text(jwts_span *s, const char *text, size_t n)
{
    uint16_t off = s->text_len;
    memcpy(s->text + off, text, n);
    s->text_len = (uint16_t)(off + n);
    return off;
}

/* The attribute for key (an existing one is replaced), with room for extra more bytes of text;
 * NULL (and counted as dropped) when the span is full. */
static span_attr *add_attr(jwts_span *s, const char *key, size_t extra)
{
    if (!s || !key) return NULL;
    size_t kn = strlen(key);
    for (uint16_t i = 0; i < s->nattrs; i++) {
        span_attr *a = &s->attrs[i];
        if (a->key_len == kn && !memcmp(s->text + a->key_off, key, kn)) {
            if (extra <= (size_t)(SPAN_TEXT - s->text_len)) return a;
            s->dropped_attrs++;
            return NULL;
        }
    }
    if (s->nattrs == SPAN_MAX_ATTRS || kn + extra > (size_t)(SPAN_TEXT - s->text_len)) {
        s->dropped_attrs++;
        return NULL;
    }
    span_attr *a = &s->attrs[s->nattrs++];
    a->key_len = (uint16_t)kn;
    a->key_off = put_text(s, key, kn);
    return a;
}

void jwts_span_set_str(jwts_span *s, const char *key, const char *value)
{
    if (!value) value = "";
    size_t n = strlen(value);
    span_attr *a = add_attr(s, key, n);
    if (!a) return;
    a->type = ATTR_STR;
    a->val_len = (uint16_t)n;
    a->val_off = put_text(s, value, n);
}

void jwts_span_set_int(jwts_span *s, const char *key, int64_t value)
{
    span_attr *a = add_attr(s, key, 0);
    if (!a) return;
    a->type = ATTR_INT;
    a->i = value;
}

void jwts_span_set_bool(jwts_span *s, const char *key, bool value)
{
    span_attr *a = add_attr(s, key, 0);
    if (!a) return;
    a->type = ATTR_BOOL;
    a->b = value;
}

void jwts_span_set_status(jwts_span *s, jwts_err rc)
{
    if (s) s->status = rc;
}

void trace_span_end_at(jwts_span *s, int64_t now_mono_ns)
{
    if (!s) return;
    jwts_tracer *t = s->t;
    s->end_unix_ns = to_unix(t, now_mono_ns ? now_mono_ns : jwts_fast_ns());
    if (s->end_unix_ns < s->start_unix_ns) s->end_unix_ns = s->start_unix_ns;
    pthread_mutex_lock(&t->lock);
    if (t->count == t->queue_size || !t->thread_running) {
        pthread_mutex_unlock(&t->lock);
        count_drop(t, 1, true);
        trace_spans_release(t, &s, 1);
        return;
    }
    t->ring[(t->head + t->count) % t->queue_size] = s;
    t->count++;
    atomic_store_explicit(&t->queued, t->count, memory_order_relaxed);
    bool wake = t->count == t->batch_size;
    pthread_mutex_unlock(&t->lock);
    if (wake) pthread_cond_signal(&t->wake);
}

void trace_spans_release(jwts_tracer *t, jwts_span *const *spans, size_t n)
{
    size_t i = 0;
    pthread_mutex_lock(&t->spare_lock);
    for (; i < n && t->nspare < t->queue_size; i++) t->spare[t->nspare++] = spans[i];
    pthread_mutex_unlock(&t->spare_lock);
    for (; i < n; i++) free(spans[i]);
}

void trace_span_discard(jwts_span *s)
{
    if (s) trace_spans_release(s->t, &s, 1);
}

void jwts_span_end(jwts_span *s)
{
    trace_span_end_at(s, 0);
}

/* ---- the tracer ------------------------------------------------------------------------------- */

static int hexdig(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A trimmed, %-decoded copy of s[0..n). */
static char *decode_part(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexdig(s[i + 1]) >= 0 && hexdig(s[i + 2]) >= 0) {
            *o++ = (char)(hexdig(s[i + 1]) << 4 | hexdig(s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = 0;
    return out;
}

static jwts_err resource_add(jwts_tracer *t, char *key, char *value)
{
    if (!key || !value) {
        free(key);
        free(value);
        return jwts_fail(JWTS_E_NO_MEMORY, "tracer: resource attribute");
    }
    for (size_t i = 0; i < t->nresource; i++) {
        if (!strcmp(t->resource[i].key, key)) { /* later wins */
            free(t->resource[i].value);
            free(key);
            t->resource[i].value = value;
            return JWTS_OK;
        }
    }
    if (t->nresource == MAX_RESOURCE_ATTRS) {
        free(key);
        free(value);
        return jwts_fail(JWTS_E_LIMIT, "tracer: more than %d resource attributes", MAX_RESOURCE_ATTRS);
    }
    t->resource[t->nresource++] = (kv){key, value};
    return JWTS_OK;
}

/* Parse "k=v,k2=v2" (W3C baggage-like, values %-encoded) into the resource. */
static jwts_err parse_resource(jwts_tracer *t, const char *list)
{
    const char *p = list;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (n && eq && eq > p) {
            char *key = decode_part(p, (size_t)(eq - p));
            if (key && !*key) {
                free(key);
            } else {
                jwts_err rc = resource_add(t, key, decode_part(eq + 1, n - (size_t)(eq - p) - 1));
                if (rc) return rc;
            }
        } else if (n) {
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(n < 40 ? n : 40), p);
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "tracer: resource attribute '%s' has no '='", tmp);
        }
        p = comma ? comma + 1 : NULL;
    }
    return JWTS_OK;
}

static char *make_url(const jwts_tracer_options *o)
{
    if (o->traces_endpoint && *o->traces_endpoint) return strdup(o->traces_endpoint);
    if (!o->endpoint || !*o->endpoint) return strdup(DEFAULT_URL);
    size_t n = strlen(o->endpoint);
    while (n && o->endpoint[n - 1] == '/') n--;
    char *url = malloc(n + sizeof "/v1/traces");
    if (url) snprintf(url, n + sizeof "/v1/traces", "%.*s/v1/traces", (int)n, o->endpoint);
    return url;
}

static void tracer_destroy(jwts_tracer *t)
{
    for (size_t i = 0; i < t->nresource; i++) {
        free(t->resource[i].key);
        free(t->resource[i].value);
    }
    free(t->url);
    free(t->ring);
    for (size_t i = 0; i < t->nspare; i++) free(t->spare[i]);
    free(t->spare);
    pthread_mutex_destroy(&t->spare_lock);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
    pthread_cond_destroy(&t->done);
    free(t);
}

static jwts_err check_options(const jwts_tracer_options *o)
{
    if ((unsigned)o->sampler > JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "tracer: unknown sampler %d", (int)o->sampler);
    if (isnan(o->ratio) || o->ratio < 0 || o->ratio > 1)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "tracer: ratio must be within 0..1");
    if (o->queue_size > MAX_QUEUE)
        return jwts_fail(JWTS_E_LIMIT, "tracer: queue_size %zu (max %u)", o->queue_size, MAX_QUEUE);
    if (o->export_interval_ms < 0 || o->export_timeout_ms < 0)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "tracer: negative interval or timeout");
    const char *url = o->traces_endpoint && *o->traces_endpoint ? o->traces_endpoint : o->endpoint;
    if (url && *url) {
        if (strlen(url) > MAX_URL) return jwts_fail(JWTS_E_LIMIT, "tracer: endpoint longer than %d", MAX_URL);
        if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "tracer: endpoint must be an http:// or https:// URL");
    }
    return JWTS_OK;
}

static jwts_err register_metrics(jwts_tracer *t, jwts_metrics *m)
{
    if (!m) return JWTS_OK;
    static const char DROP_HELP[] = "Spans dropped before an endpoint accepted them, by reason.";
    jwts_err rc = jwts_metrics_counter(m, "jwtsession_trace_spans_exported_total", "Spans an OTLP endpoint accepted.",
                                       NULL, 0, &t->m_exported);
    if (!rc)
        rc = jwts_metrics_counter(m, "jwtsession_trace_spans_dropped_total", DROP_HELP,
                                  &(jwts_label){"reason", "queue_full"}, 1, &t->m_dropped_queue);
    if (!rc)
        rc = jwts_metrics_counter(m, "jwtsession_trace_spans_dropped_total", DROP_HELP,
                                  &(jwts_label){"reason", "export_failed"}, 1, &t->m_dropped_export);
    return rc;
}

jwts_err jwts_tracer_new(const jwts_tracer_options *opts, jwts_tracer **out)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "tracer_new: out is NULL");
    *out = NULL;
    jwts_fast_ns(); /* calibrate the timing clock now, not on the first span */
    jwts_tracer_options o = opts ? *opts : (jwts_tracer_options){0};
    jwts_err rc = check_options(&o);
    if (rc) return rc;
    jwts_tracer *t = calloc(1, sizeof *t);
    if (!t) return jwts_fail(JWTS_E_NO_MEMORY, "tracer_new");
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->spare_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &ca);
    pthread_cond_init(&t->done, &ca);
    pthread_condattr_destroy(&ca);
    t->disabled = o.disabled;
    t->sampler = o.sampler;
    t->ratio_bound = o.ratio >= 1 ? UINT64_MAX : (uint64_t)(o.ratio * 9223372036854775808.0);
    t->queue_size = o.queue_size ? o.queue_size : DEFAULT_QUEUE;
    t->batch_size = o.batch_size ? o.batch_size : DEFAULT_BATCH;
    if (t->batch_size > t->queue_size) t->batch_size = t->queue_size;
    t->interval_ms = o.export_interval_ms ? o.export_interval_ms : DEFAULT_INTERVAL_MS;
    t->timeout_ms = o.export_timeout_ms ? o.export_timeout_ms : DEFAULT_TIMEOUT_MS;
    atomic_store(&t->unix_minus_mono_ns, trace_clock_offset_now());
    t->url = make_url(&o);
    t->ring = calloc(t->queue_size, sizeof *t->ring);
    t->spare = calloc(t->queue_size, sizeof *t->spare);
    rc = t->url && t->ring && t->spare ? JWTS_OK : jwts_fail(JWTS_E_NO_MEMORY, "tracer_new");
    if (!rc && o.resource_attributes) rc = parse_resource(t, o.resource_attributes);
    if (!rc) {
        const char *svc = o.service_name && *o.service_name ? o.service_name : NULL;
        bool have = false;
        for (size_t i = 0; i < t->nresource; i++) have = have || !strcmp(t->resource[i].key, "service.name");
        if (svc || !have) rc = resource_add(t, strdup("service.name"), strdup(svc ? svc : DEFAULT_SERVICE));
    }
    if (!rc) rc = resource_add(t, strdup("telemetry.sdk.name"), strdup(JWTS_OBSERVE_SCOPE_NAME));
    if (!rc) rc = resource_add(t, strdup("telemetry.sdk.version"), strdup(JWTS_OBSERVE_SCOPE_VERSION));
    if (!rc) rc = register_metrics(t, o.metrics);
    if (!rc && !t->disabled) rc = otlp_exporter_start(t);
    if (rc) {
        tracer_destroy(t);
        return rc;
    }
    *out = t;
    return JWTS_OK;
}

jwts_err jwts_tracer_flush(jwts_tracer *t, int64_t timeout_ms)
{
    if (!t) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "tracer_flush: NULL tracer");
    if (!t->thread_running) return JWTS_OK;
    struct timespec until = jwts_monotonic_timespec_in_ms(timeout_ms);
    jwts_err rc = JWTS_OK;
    pthread_mutex_lock(&t->lock);
    uint64_t mine = ++t->flush_req;
    pthread_cond_signal(&t->wake);
    while (t->flush_done < mine) {
        if (timeout_ms > 0) {
            if (pthread_cond_timedwait(&t->done, &t->lock, &until) != 0 && t->flush_done < mine) {
                rc = jwts_fail(JWTS_E_TIMEOUT, "tracer_flush: spans still queued after %lld ms", (long long)timeout_ms);
                break;
            }
        } else {
            pthread_cond_wait(&t->done, &t->lock);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void jwts_tracer_get_stats(const jwts_tracer *t, jwts_tracer_stats *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!t) return;
    jwts_tracer *m = (jwts_tracer *)t;
    out->started = atomic_load(&m->started);
    out->exported = atomic_load(&m->exported);
    out->dropped_queue = atomic_load(&m->dropped_queue);
    out->dropped_export = atomic_load(&m->dropped_export);
    out->export_errors = atomic_load(&m->export_errors);
}

void jwts_tracer_free(jwts_tracer *t)
{
    if (!t) return;
    otlp_exporter_stop(t);
    tracer_destroy(t);
}
