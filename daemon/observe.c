/*
 * observe.c - the daemon's seam to src/observe: the metrics registry behind GET /metrics, the
 * per-route HTTP metrics, and tracing: one SERVER span per request continuing the caller's
 * traceparent (or Jaeger uber-trace-id); the registry and tracer handed to the session manager
 * (which opens an operation span and feeds jwtsession_operations_* itself); and the observed
 * store decorator for store spans and metrics.
 *
 * /metrics also carries the process_* families and jwtsession_build_info (jwts_metrics_watch_process).
 *
 * Tracing is on when the OpenTelemetry environment names an OTLP endpoint
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_TRACES_EXPORTER=otlp)
 * and not switched off (OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none). Without a tracer the
 * caller's trace parent is still carried in each request's ctx.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "jwtsession/observe.h"
#include "jwtsession/trace.h"

enum { CLASS_2XX, CLASS_3XX, CLASS_4XX, CLASS_5XX, CLASS__COUNT };
static const char *const class_names[CLASS__COUNT] = {"2xx", "3xx", "4xx", "5xx"};

struct jwtsd_observe {
    jwts_metrics *metrics;
    jwts_tracer *tracer; /* NULL: tracing off */
    jwts_counter *requests[JWTSD_ROUTE__COUNT][CLASS__COUNT];
    jwts_histogram *duration[JWTSD_ROUTE__COUNT];
};

static jwts_err register_http(jwtsd_observe *o)
{
    jwts_err rc;
    for (int r = 0; r < JWTSD_ROUTE__COUNT; r++) {
        for (int c = 0; c < CLASS__COUNT; c++) {
            jwts_label labels[] = {{"route", jwtsd_route_name((jwtsd_route)r)}, {"code", class_names[c]}};
            if ((rc = jwts_metrics_counter(o->metrics, "jwtsessiond_http_requests_total",
                                           "HTTP requests answered, by route template and status class", labels, 2,
                                           &o->requests[r][c])) != JWTS_OK)
                return rc;
        }
        jwts_label label = {"route", jwtsd_route_name((jwtsd_route)r)};
        if ((rc = jwts_metrics_histogram(o->metrics, "jwtsessiond_http_request_duration_seconds",
                                         "Time from a request's headers to its completion, by route template", &label,
                                         1, NULL, 0, &o->duration[r])) != JWTS_OK)
            return rc;
    }
    return JWTS_OK;
}

/* Whether the environment asks for trace export. */
static bool tracing_wanted(void)
{
    const char *exporter = getenv("OTEL_TRACES_EXPORTER");
    if (exporter && !strcmp(exporter, "none")) return false;
    if (exporter && !strcmp(exporter, "otlp")) return true;
    const char *a = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), *b = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    return (a && a[0]) || (b && b[0]);
}

static jwts_err start_tracer(jwtsd_observe *o)
{
    if (!tracing_wanted()) return JWTS_OK;
    jwts_tracer_options topts = {.service_name = "jwtsessiond", .metrics = o->metrics};
    if (jwts_tracer_options_from_env(&topts) != JWTS_OK)
        JWTSD_LOG(JWTSD_LOG_WARN, "ignoring a bad OTEL_* variable", JWTSD_S("detail", jwts_errdetail()));
    if (topts.disabled) return JWTS_OK;
    jwts_err rc = jwts_tracer_new(&topts, &o->tracer);
    if (rc == JWTS_OK)
        JWTSD_LOG(JWTSD_LOG_INFO, "tracing on",
                  JWTSD_S("endpoint", topts.traces_endpoint ? topts.traces_endpoint : topts.endpoint),
                  JWTSD_S("service", topts.service_name));
    return rc;
}

jwts_err jwtsd_observe_new(const jwtsd_config *cfg, jwtsd_observe **out)
{
    (void)cfg;
    jwtsd_observe *o = calloc(1, sizeof(*o));
    if (!o) return JWTS_E_NO_MEMORY;
    jwts_err rc = jwts_metrics_new(NULL, &o->metrics);
    if (rc == JWTS_OK) rc = register_http(o);
    if (rc == JWTS_OK) rc = jwts_metrics_watch_process(o->metrics);
    if (rc == JWTS_OK) rc = start_tracer(o);
    if (rc != JWTS_OK) {
        jwtsd_observe_free(o);
        return rc;
    }
    *out = o;
    return JWTS_OK;
}

void jwtsd_observe_free(jwtsd_observe *o)
{
    if (!o) return;
    jwts_tracer_free(o->tracer);
    jwts_metrics_free(o->metrics);
    free(o);
}

jwts_metrics *jwtsd_observe_metrics(jwtsd_observe *o)
{
    return o ? o->metrics : NULL;
}

jwts_store *jwtsd_observe_store(jwtsd_observe *o, jwts_store *st)
{
    jwts_store *wrapped;
    if (!o || jwts_store_observe_new(st, o->metrics, o->tracer, &wrapped) != JWTS_OK) return st;
    return wrapped;
}

jwtsd_span *jwtsd_span_begin(jwtsd_observe *o, const char *method, jwtsd_route route, const char *traceparent,
                             const char *uber_trace_id, int64_t timeout_ms, jwts_ctx *ctx)
{
    jwts_ctx parent = jwts_ctx_with_timeout(timeout_ms);
    if (traceparent || uber_trace_id) jwts_trace_parent_extract(traceparent, uber_trace_id, &parent.parent);
    *ctx = parent;
    if (!o || !o->tracer) return NULL;
    char name[96];
    snprintf(name, sizeof(name), "%s %s", method, jwtsd_route_name(route));
    jwts_span *s = jwts_span_start(o->tracer, name, JWTS_SPAN_SERVER, &parent, ctx);
    jwts_span_set_str(s, "http.request.method", method);
    jwts_span_set_str(s, "http.route", jwtsd_route_name(route));
    return (jwtsd_span *)s;
}

void jwtsd_request_done(jwtsd_observe *o, jwtsd_span *span, jwtsd_route route, unsigned status, jwts_err rc,
                        int64_t duration_ns)
{
    jwts_span *s = (jwts_span *)span;
    if (s) {
        jwts_span_set_int(s, "http.response.status_code", status);
        if (status >= 500 || status == 0)
            jwts_span_set_status(s, rc ? rc : JWTS_E_INTERNAL);
        else if (rc)
            jwts_span_set_str(s, "jwtsession.error", jwts_errname(rc));
        jwts_span_end(s);
    }
    if (!o || route >= JWTSD_ROUTE__COUNT) return;
    int c = status >= 500 || status < 200 ? CLASS_5XX
            : status >= 400               ? CLASS_4XX
            : status >= 300               ? CLASS_3XX
                                          : CLASS_2XX;
    jwts_counter_inc(o->requests[route][c]);
    jwts_histogram_observe_ns(o->duration[route], duration_ns);
}

jwts_tracer *jwtsd_observe_tracer(jwtsd_observe *o)
{
    return o ? o->tracer : NULL;
}

void jwtsd_observe_flush(jwtsd_observe *o, int64_t timeout_ms)
{
    if (o && o->tracer) jwts_tracer_flush(o->tracer, timeout_ms);
}
