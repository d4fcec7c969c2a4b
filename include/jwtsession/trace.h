/*
 * trace.h - jwts_tracer: OpenTelemetry spans exported as OTLP/HTTP JSON, and W3C trace-context.
 *
 * A span starts under the trace parent of a jwts_ctx and hands back a child ctx to pass down, so
 * store calls made with it become child spans. The sampler decides at start; an unsampled span
 * is a NULL jwts_span * (every span function accepts NULL and does nothing), costs no allocation
 * and no clock read, and still gives a child ctx that carries the trace on, unsampled.
 *
 * Ended sampled spans go to a bounded queue; a background thread sends them in batches with
 * libcurl to an OTLP/HTTP endpoint (Jaeger and the OpenTelemetry Collector listen on 4318).
 * A full queue or a failed export drops spans and counts them (jwts_tracer_stats, and the
 * jwtsession_trace_spans_* metrics when the tracer has a registry); while the queue is full a
 * sampled span is dropped at its start, before it costs an allocation (its children still see a
 * sampled parent, so a trace seen under overload can miss spans). jwts_tracer_flush() and
 * jwts_tracer_free() send what is queued.
 *
 * Never put a token, a session id or a user id in an attribute.
 * Thread-safety: every function may be called from any thread; one span is used by one thread.
 */
#ifndef JWTSESSION_TRACE_H
#define JWTSESSION_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "error.h"
#include "metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jwts_tracer jwts_tracer;
typedef struct jwts_span jwts_span;

/* Samplers, as OTEL_TRACES_SAMPLER names them. The zero value is the OpenTelemetry default. */
typedef enum jwts_sampler {
    JWTS_SAMPLER_PARENTBASED_ALWAYS_ON = 0, /* "parentbased_always_on": follow the parent; roots sampled */
    JWTS_SAMPLER_ALWAYS_ON,                 /* "always_on" */
    JWTS_SAMPLER_ALWAYS_OFF,                /* "always_off" */
    JWTS_SAMPLER_TRACEIDRATIO,              /* "traceidratio": ratio of traces, parent ignored */
    JWTS_SAMPLER_PARENTBASED_ALWAYS_OFF,    /* "parentbased_always_off": roots never sampled */
    JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO   /* "parentbased_traceidratio": follow the parent; ratio of roots */
} jwts_sampler;

/* Options of a tracer; a zeroed struct gives the defaults shown. Strings are copied. */
typedef struct jwts_tracer_options {
    const char *service_name;        /* resource service.name; default "jwtsession" */
    const char *resource_attributes; /* more resource attributes: "k=v,k2=v2" (values %-encoded) */
    const char *traces_endpoint;     /* full URL of the traces endpoint, used as is */
    const char *endpoint;            /* base URL: "/v1/traces" is appended (when traces_endpoint unset);
                                        both unset: http://127.0.0.1:4318/v1/traces */
    jwts_sampler sampler;            /* default parentbased_always_on */
    double ratio;                    /* for the *traceidratio samplers, 0..1 */
    size_t queue_size;               /* ended spans waiting for export; default 2048 */
    size_t batch_size;               /* spans per export request; default 512 (<= queue_size) */
    int64_t export_interval_ms;      /* longest wait before a partial batch is sent; default 5000 */
    int64_t export_timeout_ms;       /* one export request's limit; default 10000 */
    bool disabled;                   /* no spans at all and no thread (OTEL_SDK_DISABLED=true) */
    jwts_metrics *metrics;           /* count exported/dropped spans here; NULL: none. Must outlive
                                        the tracer. */
} jwts_tracer_options;

/* Override opts from the OpenTelemetry environment: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as is), OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces"),
 * OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_BSP_MAX_QUEUE_SIZE,
 * OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_EXPORT_TIMEOUT and
 * OTEL_SDK_DISABLED. Unset variables leave opts as they are. String fields point into the
 * environment (valid until it changes). An unknown sampler or a bad number leaves that field and
 * returns JWTS_E_INVALID_ARGUMENT naming the variable, after applying all the others. */
jwts_err jwts_tracer_options_from_env(jwts_tracer_options *opts);

/* A new tracer (and its exporter thread unless disabled). opts may be NULL. */
jwts_err jwts_tracer_new(const jwts_tracer_options *opts, jwts_tracer **out);

/* Export what is queued, stop the thread, free t. Spans of t must have ended. NULL is fine. */
void jwts_tracer_free(jwts_tracer *t);

/* Export every span ended before the call; wait at most timeout_ms (<= 0: no limit).
 * JWTS_E_TIMEOUT if the wait ran out. */
jwts_err jwts_tracer_flush(jwts_tracer *t, int64_t timeout_ms);

/* Counters of a tracer's life so far. */
typedef struct jwts_tracer_stats {
    uint64_t started;        /* sampled spans started */
    uint64_t exported;       /* spans an endpoint accepted */
    uint64_t dropped_queue;  /* spans dropped because the queue was full */
    uint64_t dropped_export; /* spans dropped because their export failed */
    uint64_t export_errors;  /* failed export requests */
} jwts_tracer_stats;
void jwts_tracer_get_stats(const jwts_tracer *t, jwts_tracer_stats *out);

/* ---- spans ------------------------------------------------------------------------------------ */

/* Span kinds (the OTLP enum values). */
typedef enum jwts_span_kind {
    JWTS_SPAN_INTERNAL = 1,
    JWTS_SPAN_SERVER = 2,
    JWTS_SPAN_CLIENT = 3,
    JWTS_SPAN_PRODUCER = 4,
    JWTS_SPAN_CONSUMER = 5
} jwts_span_kind;

/* Start a span called name (a low-cardinality constant, copied) under parent's trace parent
 * (parent NULL or without a valid parent: a new trace). *child (required) gets parent's deadline
 * and this span as trace parent; pass it down. Returns NULL when not sampled, when t is NULL, or
 * out of memory; child is filled either way. */
jwts_span *jwts_span_start(jwts_tracer *t, const char *name, jwts_span_kind kind, const jwts_ctx *parent,
                           jwts_ctx *child);

/* Attributes (key and string value copied; bounded: beyond 16 attributes or 512 bytes of text
 * with the name they are dropped and counted in the span's droppedAttributesCount). */
void jwts_span_set_str(jwts_span *s, const char *key, const char *value);
void jwts_span_set_int(jwts_span *s, const char *key, int64_t value);
void jwts_span_set_bool(jwts_span *s, const char *key, bool value);

/* Set the status from rc: JWTS_OK leaves it unset; any other code makes it an error with
 * jwts_errname(rc) as its message. */
void jwts_span_set_status(jwts_span *s, jwts_err rc);

/* End s (records the end time, queues it for export) and release it. NULL is fine. */
void jwts_span_end(jwts_span *s);

/* ---- W3C trace-context and Jaeger propagation -------------------------------------------------- */

#define JWTS_TRACEPARENT_LEN 55 /* "00-<32 hex>-<16 hex>-<2 hex>" */
#define JWTS_TRACESTATE_MAX 512 /* bytes of a tracestate header we keep */

/* Parse a W3C traceparent header value into *out. Version 00 exactly; later versions are read for
 * their first four fields when followed by '-' or the end; version ff, all-zero ids, upper-case
 * or bad hex and wrong lengths give JWTS_E_MALFORMED. */
jwts_err jwts_traceparent_parse(const char *header, jwts_trace_parent *out);

/* Format p as a version-00 traceparent into out (JWTS_TRACEPARENT_LEN + 1 bytes).
 * JWTS_E_INVALID_ARGUMENT if p is not valid. */
jwts_err jwts_traceparent_format(const jwts_trace_parent *p, char out[JWTS_TRACEPARENT_LEN + 1]);

/* Check a W3C tracestate header value (at most 32 comma-separated key=value members with the
 * spec's key and value grammar, at most JWTS_TRACESTATE_MAX bytes) so it can be passed on.
 * JWTS_E_MALFORMED if not. */
jwts_err jwts_tracestate_check(const char *header);

/* Parse Jaeger's uber-trace-id "{trace-id}:{span-id}:{parent-span-id}:{flags}" (hex ids of up to
 * 32 and 16 digits, zero-padded on the left; ':' may be %3A-encoded; flags bit 0 = sampled). */
jwts_err jwts_uber_trace_id_parse(const char *header, jwts_trace_parent *out);

/* The trace parent of an incoming request: traceparent if valid, else uber-trace-id if valid,
 * else none (out->valid false, JWTS_E_NOT_FOUND). Either header may be NULL. */
jwts_err jwts_trace_parent_extract(const char *traceparent, const char *uber_trace_id, jwts_trace_parent *out);

#ifdef __cplusplus
}
#endif
#endif
