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

static void put_key(jwts_buf *b, const char *key, size_t key_len)
{
    jwts_buf_puts(b, "{\"key\":\"");
    jwts_buf_json_str(b, key, key_len, 0);
    jwts_buf_puts(b, "\",\"value\":{");
}

static void put_attr(jwts_buf *b, const jwts_span *s, const span_attr *a)
{
    put_key(b, s->text + a->key_off, a->key_len);
    if (a->type == ATTR_STR) {
        jwts_buf_puts(b, "\"stringValue\":\"");
        jwts_buf_json_str(b, s->text + a->val_off, a->val_len, 0);
        jwts_buf_puts(b, "\"}}");
    } else if (a->type == ATTR_INT) {
        jwts_buf_puts(b, "\"intValue\":\"");
        jwts_buf_i64(b, a->i);
        jwts_buf_puts(b, "\"}}");
    } else {
        jwts_buf_puts(b, a->b ? "\"boolValue\":true}}" : "\"boolValue\":false}}");
    }
}

static void put_span(jwts_buf *b, const jwts_span *s)
{
    jwts_buf_puts(b, "{\"traceId\":\"");
    jwts_buf_hex(b, s->trace_id, 16);
    jwts_buf_puts(b, "\",\"spanId\":\"");
    jwts_buf_hex(b, s->span_id, 8);
    if (s->has_parent) {
        jwts_buf_puts(b, "\",\"parentSpanId\":\"");
        jwts_buf_hex(b, s->parent_span_id, 8);
    }
    jwts_buf_puts(b, "\",\"name\":\"");
    jwts_buf_json_str(b, s->text, s->name_len, 0);
    jwts_buf_puts(b, "\",\"kind\":");
    jwts_buf_u64(b, s->kind);
    jwts_buf_puts(b, ",\"startTimeUnixNano\":\"");
    jwts_buf_i64(b, s->start_unix_ns);
    jwts_buf_puts(b, "\",\"endTimeUnixNano\":\"");
    jwts_buf_i64(b, s->end_unix_ns);
    jwts_buf_puts(b, "\",\"attributes\":[");
    for (uint16_t i = 0; i < s->nattrs; i++) {
        if (i) jwts_buf_putc(b, ',');
        put_attr(b, s, &s->attrs[i]);
    }
    jwts_buf_putc(b, ']');
    if (s->dropped_attrs) jwts_buf_printf(b, ",\"droppedAttributesCount\":%u", (unsigned)s->dropped_attrs);
    if (s->status != JWTS_OK) {
        const char *name = jwts_errname(s->status);
        jwts_buf_puts(b, ",\"status\":{\"code\":2,\"message\":\"");
        jwts_buf_json_str(b, name, strlen(name), 0);
        jwts_buf_puts(b, "\"}");
    }
    jwts_buf_putc(b, '}');
}

void otlp_encode(const jwts_tracer *t, jwts_span *const *spans, size_t n, jwts_buf *out)
{
    jwts_buf_puts(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    for (size_t i = 0; i < t->nresource; i++) {
        if (i) jwts_buf_putc(out, ',');
        put_key(out, t->resource[i].key, strlen(t->resource[i].key));
        jwts_buf_puts(out, "\"stringValue\":\"");
        jwts_buf_json_str(out, t->resource[i].value, strlen(t->resource[i].value), 0);
        jwts_buf_puts(out, "\"}}");
    }
    jwts_buf_puts(out, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"" JWTS_OBSERVE_SCOPE_NAME
                       "\",\"version\":\"" JWTS_OBSERVE_SCOPE_VERSION "\"},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) jwts_buf_putc(out, ',');
        put_span(out, spans[i]);
    }
    jwts_buf_puts(out, "]}]}]}");
}
