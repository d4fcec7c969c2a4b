/*
 * otlp_json.c - spans as an OTLP ExportTraceServiceRequest in the OTLP/JSON encoding.
 *
 * The OTLP JSON mapping of the protobuf messages: lowerCamelCase field names, trace and span ids
 * as lowercase hex (not base64), 64-bit integers (times, intValue) as decimal strings, enums
 * (kind, status code) as integers. One resourceSpans (this tracer's resource) with one scopeSpans
 * (scope "jwtsession").
 */
#include <string.h>

#include "observe/trace_int.h"

static void put_key(obuf *b, const char *key, size_t key_len)
{
    obuf_puts(b, "{\"key\":\"");
    obuf_json_strn(b, key, key_len);
    obuf_puts(b, "\",\"value\":{");
}

static void put_attr(obuf *b, const jwts_span *s, const span_attr *a)
{
    put_key(b, s->text + a->key_off, a->key_len);
    if (a->type == ATTR_STR) {
        obuf_puts(b, "\"stringValue\":\"");
        obuf_json_strn(b, s->text + a->val_off, a->val_len);
        obuf_puts(b, "\"}}");
    } else if (a->type == ATTR_INT) {
        obuf_puts(b, "\"intValue\":\"");
        obuf_i64(b, a->i);
        obuf_puts(b, "\"}}");
    } else {
        obuf_puts(b, a->b ? "\"boolValue\":true}}" : "\"boolValue\":false}}");
    }
}

static void put_span(obuf *b, const jwts_span *s)
{
    obuf_puts(b, "{\"traceId\":\"");
    obuf_hex(b, s->trace_id, 16);
    obuf_puts(b, "\",\"spanId\":\"");
    obuf_hex(b, s->span_id, 8);
    if (s->has_parent) {
        obuf_puts(b, "\",\"parentSpanId\":\"");
        obuf_hex(b, s->parent_span_id, 8);
    }
    obuf_puts(b, "\",\"name\":\"");
    obuf_json_strn(b, s->text, s->name_len);
    obuf_puts(b, "\",\"kind\":");
    obuf_u64(b, s->kind);
    obuf_puts(b, ",\"startTimeUnixNano\":\"");
    obuf_i64(b, s->start_unix_ns);
    obuf_puts(b, "\",\"endTimeUnixNano\":\"");
    obuf_i64(b, s->end_unix_ns);
    obuf_puts(b, "\",\"attributes\":[");
    for (uint16_t i = 0; i < s->nattrs; i++) {
        if (i) obuf_putc(b, ',');
        put_attr(b, s, &s->attrs[i]);
    }
    obuf_putc(b, ']');
    if (s->dropped_attrs) obuf_printf(b, ",\"droppedAttributesCount\":%u", (unsigned)s->dropped_attrs);
    if (s->status != JWTS_OK) {
        obuf_puts(b, ",\"status\":{\"code\":2,\"message\":\"");
        obuf_json_str(b, jwts_errname(s->status));
        obuf_puts(b, "\"}");
    }
    obuf_putc(b, '}');
}

void otlp_encode(const jwts_tracer *t, jwts_span *const *spans, size_t n, obuf *out)
{
    obuf_puts(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    for (size_t i = 0; i < t->nresource; i++) {
        if (i) obuf_putc(out, ',');
        put_key(out, t->resource[i].key, strlen(t->resource[i].key));
        obuf_puts(out, "\"stringValue\":\"");
        obuf_json_str(out, t->resource[i].value);
        obuf_puts(out, "\"}}");
    }
    obuf_puts(out, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"" JWTS_OBSERVE_SCOPE_NAME
                   "\",\"version\":\"" JWTS_OBSERVE_SCOPE_VERSION "\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) obuf_putc(out, ',');
        put_span(out, spans[i]);
    }
    obuf_puts(out, "]}]}]}");
}
