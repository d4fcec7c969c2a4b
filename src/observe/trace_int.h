/*
 * trace_int.h - private: the tracer and span layout shared by trace.c (sampling, spans, queue),
 * otlp_json.c (encoding) and otlp_export.c (the exporter thread).
 */
#ifndef JWTS_OBSERVE_TRACE_INT_H
#define JWTS_OBSERVE_TRACE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "jwtsession/buf.h"
#include "jwtsession/trace.h"

#define JWTS_OBSERVE_SCOPE_NAME "jwtsession"
#define JWTS_OBSERVE_SCOPE_VERSION "0.1.0"

#define SPAN_MAX_ATTRS 16
#define SPAN_TEXT                                                                                                      \
    512 /* bytes for the name, attribute keys and string values; the whole span                                        \
           stays under 1 KiB, inside glibc's per-thread cache sizes */
#define MAX_RESOURCE_ATTRS 32

typedef enum attr_type { ATTR_STR, ATTR_INT, ATTR_BOOL } attr_type;

typedef struct span_attr {
    uint16_t key_off, key_len;
    uint8_t type;
    bool b;
    uint16_t val_off, val_len; /* ATTR_STR */
    int64_t i;
} span_attr;

struct jwts_span {
    jwts_tracer *t;
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    bool has_parent;
    uint8_t kind;
    jwts_err status;
    int64_t start_unix_ns, end_unix_ns;
    uint16_t name_len;
    uint16_t nattrs, dropped_attrs, text_len;
    span_attr attrs[SPAN_MAX_ATTRS];
    char text[SPAN_TEXT]; /* the name first */
};

typedef struct kv {
    char *key, *value;
} kv;

struct jwts_tracer {
    /* configuration (read-only after new) */
    char *url;
    kv resource[MAX_RESOURCE_ATTRS];
    size_t nresource;
    jwts_sampler sampler;
    uint64_t ratio_bound; /* sample when (trace id low 64 bits >> 1) < bound */
    bool disabled;
    size_t queue_size, batch_size;
    int64_t interval_ms, timeout_ms;
    jwts_counter *m_exported, *m_dropped_queue, *m_dropped_export;
    _Atomic int64_t unix_minus_mono_ns; /* wall clock minus monotonic clock, refreshed by the exporter */

    /* the queue and the exporter thread */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* exporter: work or stop */
    pthread_cond_t done; /* flushers: a flush finished */
    jwts_span **ring;
    size_t head, count;
    _Atomic size_t queued; /* count, readable without the lock: a full queue drops spans at start */
    bool stop;
    uint64_t flush_req, flush_done;
    pthread_t thread;
    bool thread_running;

    /* spans kept for reuse after export: a span freed by the exporter thread would land in that
     * thread's malloc cache, so the threads that start spans would always allocate afresh */
    pthread_mutex_t spare_lock;
    jwts_span **spare; /* queue_size slots */
    size_t nspare;

    /* counters */
    _Atomic uint64_t started, exported, dropped_queue, dropped_export, export_errors;
};

/* Start a span as jwts_span_start(), at now_mono_ns (0: read the clock if sampled). */
jwts_span *trace_span_start_at(jwts_tracer *t, const char *name, jwts_span_kind kind, const jwts_ctx *parent,
                               jwts_ctx *child, int64_t now_mono_ns);

/* Give n spans that are done with back to t, to be reused by the next starts (or freed). */
void trace_spans_release(jwts_tracer *t, jwts_span *const *spans, size_t n);

/* End s as jwts_span_end(), at now_mono_ns (0: read the clock). */
void trace_span_end_at(jwts_span *s, int64_t now_mono_ns);

/* Drop s unexported: the attempt it timed did not happen (a local-only call that would block). */
void trace_span_discard(jwts_span *s);

/* Encode n spans as one OTLP ExportTraceServiceRequest in JSON into out. */
void otlp_encode(const jwts_tracer *t, jwts_span *const *spans, size_t n, jwts_buf *out);

/* Start and stop the exporter thread (otlp_export.c). */
jwts_err otlp_exporter_start(jwts_tracer *t);
void otlp_exporter_stop(jwts_tracer *t);

/* The wall-clock minus monotonic offset now, in ns. */
int64_t trace_clock_offset_now(void);

/* Samplers that follow the parent's sampled flag when there is a parent. */
static inline bool trace_parent_based(jwts_sampler s)
{
    return s == JWTS_SAMPLER_PARENTBASED_ALWAYS_ON || s == JWTS_SAMPLER_PARENTBASED_ALWAYS_OFF ||
           s == JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO;
}

/* true when a span started under parent is certain not to be sampled and its child ctx would equal
 * parent: the tracer is off, or it follows an unsampled parent. Callers may then skip the span. */
static inline bool trace_passes_through(const jwts_tracer *t, const jwts_ctx *parent)
{
    if (t->disabled) return true;
    return parent && parent->parent.valid && !(parent->parent.flags & 1) && trace_parent_based(t->sampler);
}

#endif
