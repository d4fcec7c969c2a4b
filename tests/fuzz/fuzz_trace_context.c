/*
 * fuzz_trace_context.c - libFuzzer target for the trace-context parsers: W3C traceparent and
 * tracestate, and Jaeger's uber-trace-id.
 *
 * Invariants: a traceparent that parses formats back to the same (lower-case) text, and a parsed
 * parent always has non-zero ids.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/trace.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_trace_context: %s\n", what);
    abort();
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    jwts_trace_parent p;
    if (jwts_traceparent_parse(text, &p) == JWTS_OK) {
        if (!p.valid || all_zero(p.trace_id, 16) || all_zero(p.span_id, 8)) die("parsed a zero id");
        char back[JWTS_TRACEPARENT_LEN + 1];
        if (jwts_traceparent_format(&p, back)) die("cannot format a parsed traceparent");
        jwts_trace_parent again;
        if (jwts_traceparent_parse(back, &again) || memcmp(&again, &p, sizeof p) != 0) die("round trip changed it");
    }
    if (jwts_uber_trace_id_parse(text, &p) == JWTS_OK && (!p.valid || all_zero(p.trace_id, 16)))
        die("uber-trace-id parsed to a zero trace id");
    (void)jwts_tracestate_check(text);
    (void)jwts_trace_parent_extract(text, text, &p);
    free(text);
    return 0;
}
