/*
 * test_trace.c - the tracer without a network: W3C traceparent/tracestate and uber-trace-id
 * parsing, sampling decisions and ctx propagation, attributes and status, the OTLP JSON encoding
 * (parsed back with jansson), the OTEL_* environment, and span accounting when the endpoint is
 * down. The exporter against a real HTTP receiver is tests/observe.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/trace.h"
#include "observe/trace_int.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void traceparent_round_trip(void **state)
{
    jwts_trace_parent p;
    assert_int_equal(jwts_traceparent_parse(TP, &p), JWTS_OK);
    assert_true(p.valid);
    assert_int_equal(p.flags, 1);
    assert_int_equal(p.trace_id[0], 0x4b);
    assert_int_equal(p.trace_id[15], 0x36);
    assert_int_equal(p.span_id[7], 0xb7);
    char out[JWTS_TRACEPARENT_LEN + 1];
    assert_int_equal(jwts_traceparent_format(&p, out), JWTS_OK);
    assert_string_equal(out, TP);
    /* unsampled flag, surrounding whitespace */
    assert_int_equal(jwts_traceparent_parse("  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ", &p), JWTS_OK);
    assert_int_equal(p.flags, 0);
    /* a later version: the first four fields are read, more after '-' is allowed */
    assert_int_equal(
        jwts_traceparent_parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future", &p), JWTS_OK);
    assert_int_equal(p.span_id[0], 0x00);
    jwts_trace_parent none = {0};
    assert_int_equal(jwts_traceparent_format(&none, out), JWTS_E_INVALID_ARGUMENT);
}

static void traceparent_rejections(void **state)
{
    static const char *const bad[] = {
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version ff */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero parent id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* upper-case hex */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  /* not hex */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",  /* bad flags */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",   /* short trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01", /* long trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",   /* short span id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* version 00 with more */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011", /* long flags */
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",  /* separators */
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", /* future, no '-' after flags */
        "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        jwts_trace_parent p = {.valid = true};
        if (jwts_traceparent_parse(bad[i], &p) != JWTS_E_MALFORMED) fail_msg("accepted: '%s'", bad[i]);
        assert_false(p.valid);
    }
}

static void tracestate_checks(void **state)
{
    assert_int_equal(jwts_tracestate_check("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"), JWTS_OK);
    assert_int_equal(jwts_tracestate_check("tenant1@vendor=x , other=y,,"), JWTS_OK);
    assert_int_equal(jwts_tracestate_check(""), JWTS_OK);
    assert_int_equal(jwts_tracestate_check("a=1,a=2"), JWTS_E_MALFORMED);      /* duplicate */
    assert_int_equal(jwts_tracestate_check("Upper=1"), JWTS_E_MALFORMED);      /* key grammar */
    assert_int_equal(jwts_tracestate_check("k=has=equals"), JWTS_E_MALFORMED); /* value grammar */
    assert_int_equal(jwts_tracestate_check("novalue"), JWTS_E_MALFORMED);
    assert_int_equal(jwts_tracestate_check("t@toolongvendorname=1"), JWTS_E_MALFORMED);
    char many[1024] = "";
    for (int i = 0; i < 33; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "%sk%d=v", i ? "," : "", i);
    assert_int_equal(jwts_tracestate_check(many), JWTS_E_MALFORMED); /* 33 members */
    many[strlen(many) - strlen(",k32=v")] = 0;
    assert_int_equal(jwts_tracestate_check(many), JWTS_OK); /* 32 */
}

static void uber_trace_id(void **state)
{
    jwts_trace_parent p;
    assert_int_equal(jwts_uber_trace_id_parse("a3ce929d0e0e4736:f067aa0ba902b7:0:1", &p), JWTS_OK);
    assert_true(p.valid);
    assert_int_equal(p.flags, 1);
    for (int i = 0; i < 8; i++) assert_int_equal(p.trace_id[i], 0); /* 64-bit id, padded */
    assert_int_equal(p.trace_id[8], 0xa3);
    assert_int_equal(p.span_id[0], 0x00);
    assert_int_equal(p.span_id[1], 0xf0);
    char tp[JWTS_TRACEPARENT_LEN + 1];
    assert_int_equal(jwts_traceparent_format(&p, tp), JWTS_OK);
    assert_string_equal(tp, "00-0000000000000000a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_int_equal(jwts_uber_trace_id_parse("4BF92F3577B34DA6A3CE929D0E0E4736%3A00f067aa0ba902b7%3A0%3A0", &p),
                     JWTS_OK);
    assert_int_equal(p.flags, 0);
    assert_int_equal(p.trace_id[0], 0x4b);
    assert_int_equal(jwts_uber_trace_id_parse("0:1:0:1", &p), JWTS_E_MALFORMED);
    assert_int_equal(jwts_uber_trace_id_parse("abc:def:0", &p), JWTS_E_MALFORMED);
    assert_int_equal(jwts_uber_trace_id_parse("abc:def:0:1:2", &p), JWTS_E_MALFORMED);
    assert_int_equal(jwts_uber_trace_id_parse("abc:xyz:0:1", &p), JWTS_E_MALFORMED);
    /* extract prefers a valid traceparent, falls back to uber-trace-id */
    assert_int_equal(jwts_trace_parent_extract("garbage", "abc:def:0:1", &p), JWTS_OK);
    assert_int_equal(p.trace_id[15], 0xbc);
    assert_int_equal(jwts_trace_parent_extract(TP, "abc:def:0:1", &p), JWTS_OK);
    assert_int_equal(p.trace_id[0], 0x4b);
    assert_int_equal(jwts_trace_parent_extract(NULL, NULL, &p), JWTS_E_NOT_FOUND);
    assert_false(p.valid);
}

/* A tracer whose exporter points at a closed loopback port (nothing listens on port 9 here). */
static jwts_tracer *tracer(jwts_sampler sampler, double ratio)
{
    jwts_tracer_options o = {.sampler = sampler,
                             .ratio = ratio,
                             .traces_endpoint = "http://127.0.0.1:9/v1/traces",
                             .export_interval_ms = 60000,
                             .export_timeout_ms = 2000,
                             .queue_size = 16384,
                             .batch_size = 16384}; /* never full here */
    jwts_tracer *t;
    assert_int_equal(jwts_tracer_new(&o, &t), JWTS_OK);
    return t;
}

static jwts_ctx remote(uint8_t flags)
{
    jwts_ctx c = {.deadline_ns = 12345};
    assert_int_equal(jwts_traceparent_parse(TP, &c.parent), JWTS_OK);
    c.parent.flags = flags;
    return c;
}

static void sampling_and_propagation(void **state)
{
    jwts_ctx child;
    jwts_ctx sampled_parent = remote(1), unsampled_parent = remote(0);

    /* no tracer: nothing, the parent passes through */
    assert_null(jwts_span_start(NULL, "x", JWTS_SPAN_INTERNAL, &sampled_parent, &child));
    assert_memory_equal(&child.parent, &sampled_parent.parent, sizeof child.parent);
    assert_int_equal(child.deadline_ns, 12345);

    jwts_tracer *t = tracer(JWTS_SAMPLER_PARENTBASED_ALWAYS_ON, 0);
    jwts_span *s = jwts_span_start(t, "x", JWTS_SPAN_SERVER, &sampled_parent, &child);
    assert_non_null(s);
    assert_memory_equal(s->trace_id, sampled_parent.parent.trace_id, 16);
    assert_memory_equal(s->parent_span_id, sampled_parent.parent.span_id, 8);
    assert_true(s->has_parent);
    assert_memory_equal(child.parent.trace_id, s->trace_id, 16);
    assert_memory_equal(child.parent.span_id, s->span_id, 8); /* children hang off this span */
    assert_int_equal(child.parent.flags & 1, 1);
    assert_int_equal(child.deadline_ns, 12345);
    jwts_ctx grandchild;
    jwts_span *g = jwts_span_start(t, "y", JWTS_SPAN_CLIENT, &child, &grandchild);
    assert_non_null(g);
    assert_memory_equal(g->parent_span_id, s->span_id, 8);
    jwts_span_end(g);
    jwts_span_end(s);
    /* parent-based: an unsampled parent stays unsampled, and passes on */
    assert_null(jwts_span_start(t, "x", JWTS_SPAN_INTERNAL, &unsampled_parent, &child));
    assert_memory_equal(child.parent.trace_id, unsampled_parent.parent.trace_id, 16);
    assert_int_equal(child.parent.flags & 1, 0);
    /* a root */
    s = jwts_span_start(t, "root", JWTS_SPAN_INTERNAL, NULL, &child);
    assert_non_null(s);
    assert_false(s->has_parent);
    assert_true(child.parent.valid);
    jwts_span_end(s);
    jwts_tracer_free(t);

    t = tracer(JWTS_SAMPLER_ALWAYS_OFF, 0);
    assert_null(jwts_span_start(t, "x", JWTS_SPAN_INTERNAL, &sampled_parent, &child));
    jwts_tracer_free(t);

    /* ratio 0: nothing sampled, yet a root still gets a trace to carry on, unsampled */
    t = tracer(JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO, 0);
    assert_null(jwts_span_start(t, "x", JWTS_SPAN_INTERNAL, NULL, &child));
    assert_true(child.parent.valid);
    assert_int_equal(child.parent.flags & 1, 0);
    assert_null(jwts_span_start(t, "y", JWTS_SPAN_INTERNAL, &child, &grandchild)); /* follows its parent */
    assert_memory_equal(grandchild.parent.trace_id, child.parent.trace_id, 16);
    jwts_tracer_free(t);

    /* ratio 0.5 over many roots: about half; a trace id decides the same way every time */
    t = tracer(JWTS_SAMPLER_TRACEIDRATIO, 0.5);
    int yes = 0;
    for (int i = 0; i < 4000; i++) {
        s = jwts_span_start(t, "r", JWTS_SPAN_INTERNAL, NULL, &child);
        if (s) {
            yes++;
            jwts_span *again = jwts_span_start(t, "r2", JWTS_SPAN_INTERNAL, &child, &grandchild);
            assert_non_null(again); /* same trace id, same answer (not parent-based) */
            jwts_span_end(again);
            jwts_span_end(s);
        } else {
            assert_null(jwts_span_start(t, "r2", JWTS_SPAN_INTERNAL, &child, &grandchild));
        }
    }
    assert_in_range(yes, 1600, 2400); /* 12 standard deviations either way */
    jwts_tracer_free(t);

    jwts_tracer_options off = {.disabled = true};
    assert_int_equal(jwts_tracer_new(&off, &t), JWTS_OK);
    assert_null(jwts_span_start(t, "x", JWTS_SPAN_INTERNAL, NULL, &child));
    jwts_tracer_free(t);
}

static json_t *find_attr(json_t *attrs, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        if (!strcmp(json_string_value(json_object_get(a, "key")), key)) return json_object_get(a, "value");
    }
    return NULL;
}

static void otlp_json_encoding(void **state)
{
    jwts_tracer_options o = {.service_name = "svc-\"q\"",
                             .resource_attributes = "deployment.environment=prod,team=a%2Cb",
                             .sampler = JWTS_SAMPLER_ALWAYS_ON,
                             .traces_endpoint = "http://127.0.0.1:9/v1/traces",
                             .export_interval_ms = 60000};
    jwts_tracer *t;
    assert_int_equal(jwts_tracer_new(&o, &t), JWTS_OK);
    jwts_ctx parent = remote(1), child;
    jwts_span *s = trace_span_start_at(t, "jwtsession.validate", JWTS_SPAN_SERVER, &parent, &child, 1000);
    assert_non_null(s);
    jwts_span_set_str(s, "db.system", "memory");
    jwts_span_set_str(s, "text", "line\n\"quoted\" \xc3\xa9 \xff");
    jwts_span_set_int(s, "n", -42);
    jwts_span_set_bool(s, "flag", true);
    jwts_span_set_int(s, "n", 7); /* replaces */
    jwts_span_set_status(s, JWTS_E_EXPIRED);
    s->start_unix_ns = 1700000000123456789;
    s->end_unix_ns = 1700000000223456789;
    char big[1100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    jwts_span_set_str(s, "big", big); /* does not fit: dropped and counted */
    jwts_span *root = jwts_span_start(t, "root", JWTS_SPAN_INTERNAL, NULL, &child);
    jwts_span *spans[] = {s, root};
    jwts_buf b = {0};
    otlp_encode(t, spans, 2, &b);
    assert_int_equal(b.err, JWTS_OK);
    json_error_t err;
    json_t *doc = json_loads(b.data, 0, &err);
    if (!doc) fail_msg("not JSON: %s: %s", err.text, b.data);
    json_t *rs = json_array_get(json_object_get(doc, "resourceSpans"), 0);
    json_t *rattrs = json_object_get(json_object_get(rs, "resource"), "attributes");
    assert_string_equal(json_string_value(json_object_get(find_attr(rattrs, "service.name"), "stringValue")),
                        "svc-\"q\"");
    assert_string_equal(json_string_value(json_object_get(find_attr(rattrs, "team"), "stringValue")), "a,b");
    assert_string_equal(json_string_value(json_object_get(find_attr(rattrs, "deployment.environment"), "stringValue")),
                        "prod");
    json_t *ss = json_array_get(json_object_get(rs, "scopeSpans"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ss, "scope"), "name")), "jwtsession");
    json_t *sp = json_array_get(json_object_get(ss, "spans"), 0);
    assert_string_equal(json_string_value(json_object_get(sp, "traceId")), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(json_string_value(json_object_get(sp, "parentSpanId")), "00f067aa0ba902b7");
    assert_int_equal(strlen(json_string_value(json_object_get(sp, "spanId"))), 16);
    assert_string_equal(json_string_value(json_object_get(sp, "name")), "jwtsession.validate");
    assert_int_equal(json_integer_value(json_object_get(sp, "kind")), 2);
    assert_string_equal(json_string_value(json_object_get(sp, "startTimeUnixNano")), "1700000000123456789");
    assert_string_equal(json_string_value(json_object_get(sp, "endTimeUnixNano")), "1700000000223456789");
    json_t *attrs = json_object_get(sp, "attributes");
    assert_int_equal(json_array_size(attrs), 4);
    assert_string_equal(json_string_value(json_object_get(find_attr(attrs, "n"), "intValue")), "7");
    assert_true(json_is_true(json_object_get(find_attr(attrs, "flag"), "boolValue")));
    assert_string_equal(json_string_value(json_object_get(find_attr(attrs, "text"), "stringValue")),
                        "line\n\"quoted\" \xc3\xa9 \xef\xbf\xbd");
    assert_int_equal(json_integer_value(json_object_get(sp, "droppedAttributesCount")), 1);
    json_t *status = json_object_get(sp, "status");
    assert_int_equal(json_integer_value(json_object_get(status, "code")), 2);
    assert_string_equal(json_string_value(json_object_get(status, "message")), "JWTS_E_EXPIRED");
    json_t *r = json_array_get(json_object_get(ss, "spans"), 1);
    assert_null(json_object_get(r, "parentSpanId"));
    assert_null(json_object_get(r, "status"));
    json_decref(doc);
    jwts_buf_free(&b);
    free(s);
    free(root);
    jwts_tracer_free(t);
}

static void environment(void **state)
{
    setenv("OTEL_SERVICE_NAME", "from-env", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored,k=v", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/", 1);
    setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
    setenv("OTEL_TRACES_SAMPLER_ARG", "0.25", 1);
    setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100", 1);
    setenv("OTEL_BSP_SCHEDULE_DELAY", "250", 1);
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    unsetenv("OTEL_SDK_DISABLED");
    jwts_tracer_options o = {0};
    assert_int_equal(jwts_tracer_options_from_env(&o), JWTS_OK);
    assert_string_equal(o.service_name, "from-env");
    assert_int_equal(o.sampler, JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO);
    assert_true(o.ratio == 0.25);
    assert_int_equal(o.queue_size, 100);
    assert_int_equal(o.export_interval_ms, 250);
    o.disabled = true; /* no thread needed to look at the configuration */
    jwts_tracer *t;
    assert_int_equal(jwts_tracer_new(&o, &t), JWTS_OK);
    assert_string_equal(t->url, "http://collector:4318/v1/traces");
    bool svc = false;
    for (size_t i = 0; i < t->nresource; i++)
        if (!strcmp(t->resource[i].key, "service.name")) svc = !strcmp(t->resource[i].value, "from-env");
    assert_true(svc); /* OTEL_SERVICE_NAME wins over the resource attribute */
    jwts_tracer_free(t);

    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://jaeger:4318/custom/path", 1);
    setenv("OTEL_TRACES_SAMPLER", "traceidratio", 1);
    unsetenv("OTEL_TRACES_SAMPLER_ARG");
    setenv("OTEL_SDK_DISABLED", "TRUE", 1);
    o = (jwts_tracer_options){0};
    assert_int_equal(jwts_tracer_options_from_env(&o), JWTS_OK);
    assert_true(o.disabled);
    assert_true(o.ratio == 1.0); /* a ratio sampler without an argument samples all */
    assert_int_equal(jwts_tracer_new(&o, &t), JWTS_OK);
    assert_string_equal(t->url, "http://jaeger:4318/custom/path");
    jwts_tracer_free(t);

    setenv("OTEL_TRACES_SAMPLER", "jaeger_remote", 1);
    setenv("OTEL_BSP_EXPORT_TIMEOUT", "soon", 1);
    o = (jwts_tracer_options){0};
    assert_int_equal(jwts_tracer_options_from_env(&o), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(o.sampler, JWTS_SAMPLER_PARENTBASED_ALWAYS_ON);
    assert_string_equal(o.service_name, "from-env"); /* the others still applied */
    const char *vars[] = {"OTEL_SERVICE_NAME",
                          "OTEL_RESOURCE_ATTRIBUTES",
                          "OTEL_EXPORTER_OTLP_ENDPOINT",
                          "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                          "OTEL_TRACES_SAMPLER",
                          "OTEL_BSP_MAX_QUEUE_SIZE",
                          "OTEL_BSP_SCHEDULE_DELAY",
                          "OTEL_BSP_EXPORT_TIMEOUT",
                          "OTEL_SDK_DISABLED"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);

    jwts_tracer_options badopt = {.traces_endpoint = "ftp://x"};
    assert_int_equal(jwts_tracer_new(&badopt, &t), JWTS_E_INVALID_ARGUMENT);
    badopt = (jwts_tracer_options){.ratio = 1.5};
    assert_int_equal(jwts_tracer_new(&badopt, &t), JWTS_E_INVALID_ARGUMENT);
}

/* Every sampled span is accounted for: exported or dropped (queue full, or export failed). */
static void unreachable_endpoint_counts_drops(void **state)
{
    jwts_metrics *m;
    assert_int_equal(jwts_metrics_new(NULL, &m), JWTS_OK);
    jwts_tracer_options o = {.sampler = JWTS_SAMPLER_ALWAYS_ON,
                             .traces_endpoint = "http://127.0.0.1:9/v1/traces",
                             .queue_size = 4,
                             .batch_size = 2,
                             .export_timeout_ms = 2000,
                             .metrics = m};
    jwts_tracer *t;
    assert_int_equal(jwts_tracer_new(&o, &t), JWTS_OK);
    for (int i = 0; i < 50; i++) {
        jwts_ctx c;
        jwts_span_end(jwts_span_start(t, "s", JWTS_SPAN_INTERNAL, NULL, &c));
    }
    assert_int_equal(jwts_tracer_flush(t, 0), JWTS_OK);
    jwts_tracer_stats st;
    jwts_tracer_get_stats(t, &st);
    assert_int_equal(st.started, 50);
    assert_int_equal(st.exported, 0);
    assert_int_equal(st.dropped_queue + st.dropped_export, 50);
    assert_true(st.export_errors >= 1);
    char *text;
    assert_int_equal(jwts_metrics_render(m, JWTS_METRICS_PROMETHEUS, &text, NULL), JWTS_OK);
    char want[128];
    snprintf(want, sizeof want, "jwtsession_trace_spans_dropped_total{reason=\"export_failed\"} %llu\n",
             (unsigned long long)st.dropped_export);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "jwtsession_trace_spans_dropped_total{reason=\"queue_full\"} %llu\n",
             (unsigned long long)st.dropped_queue);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "jwtsession_trace_spans_exported_total 0\n"));
    free(text);
    jwts_tracer_free(t);
    jwts_metrics_free(m);
}

/* A full queue drops a sampled span at its start: no span, but the child ctx is still sampled
 * and the drop is counted. */
static void full_queue_drops_at_start(void **state)
{
    jwts_tracer_options o = {.sampler = JWTS_SAMPLER_ALWAYS_ON,
                             .traces_endpoint = "http://127.0.0.1:9/v1/traces",
                             .queue_size = 2,
                             .batch_size = 2,
                             .export_interval_ms = 600000};
    jwts_tracer *t;
    assert_int_equal(jwts_tracer_new(&o, &t), JWTS_OK);
    jwts_ctx c1, c2, c3;
    jwts_span *a = jwts_span_start(t, "a", JWTS_SPAN_INTERNAL, NULL, &c1);
    jwts_span *b = jwts_span_start(t, "b", JWTS_SPAN_INTERNAL, NULL, &c2);
    assert_non_null(a);
    assert_non_null(b);
    atomic_store(&t->queued, 2); /* as if two ended spans were waiting */
    assert_null(jwts_span_start(t, "c", JWTS_SPAN_INTERNAL, &c1, &c3));
    assert_true(c3.parent.valid);
    assert_int_equal(c3.parent.flags & 1, 1);
    assert_memory_equal(c3.parent.trace_id, c1.parent.trace_id, 16);
    atomic_store(&t->queued, 0);
    jwts_span_end(a);
    jwts_span_end(b);
    assert_int_equal(jwts_tracer_flush(t, 0), JWTS_OK);
    jwts_tracer_stats st;
    jwts_tracer_get_stats(t, &st);
    assert_int_equal(st.started, 3);
    assert_int_equal(st.dropped_queue, 1);
    assert_int_equal(st.dropped_export, 2);
    jwts_tracer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(traceparent_round_trip),
        cmocka_unit_test(traceparent_rejections),
        cmocka_unit_test(tracestate_checks),
        cmocka_unit_test(uber_trace_id),
        cmocka_unit_test(sampling_and_propagation),
        cmocka_unit_test(otlp_json_encoding),
        cmocka_unit_test(environment),
        cmocka_unit_test(unreachable_endpoint_counts_drops),
        cmocka_unit_test(full_queue_drops_at_start),
    };
    return cmocka_run_group_tests_name("trace", tests, NULL, NULL);
}
