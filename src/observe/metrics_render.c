/*
 * metrics_render.c - the Prometheus text format 0.0.4 and OpenMetrics 1.0 renderings of a
 * jwts_metrics registry, and the content negotiation that picks one.
 *
 * Families come out in registration order, series in registration order within a family.
 * Differences between the two formats handled here: OpenMetrics names a counter family without
 * its _total suffix in # TYPE/# HELP (the sample keeps it), escapes '"' in help text, writes "le"
 * bounds as canonical floats (1.0, not 1) and ends with "# EOF".
 */
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "observe/metrics_int.h"
#include "observe/obuf.h"

static const char *const TYPE_NAMES[] = {"counter", "gauge", "histogram"};

static void put_help(obuf *b, const char *help, bool om)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            obuf_puts(b, "\\\\");
        else if (*p == '\n')
            obuf_puts(b, "\\n");
        else if (*p == '"' && om)
            obuf_puts(b, "\\\"");
        else
            obuf_putc(b, *p);
    }
}

/* The family name for # TYPE/# HELP: OpenMetrics drops a counter's _total. */
static void put_family_name(obuf *b, const family *f, bool om)
{
    size_t n = strlen(f->name);
    if (om && f->type == TYPE_COUNTER && n > 6 && !strcmp(f->name + n - 6, "_total")) n -= 6;
    obuf_put(b, f->name, n);
}

/* name{labels[,extra]} value-less prefix of a sample line, then a space. */
static void put_sample_head(obuf *b, const family *f, const char *suffix, const series *s, const char *extra)
{
    obuf_puts(b, f->name);
    if (suffix) obuf_puts(b, suffix);
    bool any = s->labels[0] || extra;
    if (any) obuf_putc(b, '{');
    obuf_puts(b, s->labels);
    if (extra) {
        if (s->labels[0]) obuf_putc(b, ',');
        obuf_puts(b, extra);
    }
    if (any) obuf_putc(b, '}');
    obuf_putc(b, ' ');
}

static void put_le(obuf *b, double bound, bool om)
{
    size_t start = b->len;
    obuf_double(b, bound);
    if (om && !b->failed && !strpbrk(b->data + start, ".eEIN")) obuf_puts(b, ".0");
}

static void render_counter(obuf *b, const family *f, const series *s, const jwts_metrics *m)
{
    uint64_t v = metrics_cell_sum(m, s->cell);
    if (v == 0 && s->omit_zero) return;
    put_sample_head(b, f, NULL, s, NULL);
    obuf_u64(b, v);
    obuf_putc(b, '\n');
}

static void render_gauge(obuf *b, const family *f, const series *s)
{
    double v;
    if (s->by_callback) {
        bool any = false;
        v = 0;
        for (const callback *c = s->callbacks; c; c = c->next) {
            double one;
            if (c->fn(c->arg, &one)) {
                v += one;
                any = true;
            }
        }
        if (!any) return;
    } else {
        v = jwts_gauge_value((const jwts_gauge *)s);
        if (v == 0 && s->omit_zero) return;
    }
    put_sample_head(b, f, NULL, s, NULL);
    obuf_double(b, v);
    obuf_putc(b, '\n');
}

static void render_histogram(obuf *b, const family *f, const series *s, const jwts_metrics *m, bool om)
{
    uint64_t counts[MAX_BOUNDS + 1];
    uint64_t total = 0;
    for (size_t i = 0; i <= f->nbounds; i++) total += counts[i] = metrics_cell_sum(m, s->cell + (uint32_t)i);
    if (total == 0 && s->omit_zero) return;
    double sum = metrics_cell_sum_double(m, s->cell + (uint32_t)f->nbounds + 1);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        cumulative += counts[i];
        obuf b_le = {0};
        obuf_puts(&b_le, "le=\"");
        if (i < f->nbounds)
            put_le(&b_le, f->bounds[i], om);
        else
            obuf_puts(&b_le, "+Inf");
        obuf_putc(&b_le, '"');
        if (b_le.failed)
            b->failed = true;
        else
            put_sample_head(b, f, "_bucket", s, b_le.data);
        obuf_free(&b_le);
        obuf_u64(b, cumulative);
        obuf_putc(b, '\n');
    }
    put_sample_head(b, f, "_sum", s, NULL);
    obuf_double(b, sum);
    obuf_putc(b, '\n');
    put_sample_head(b, f, "_count", s, NULL);
    obuf_u64(b, cumulative);
    obuf_putc(b, '\n');
}

jwts_err jwts_metrics_render(jwts_metrics *m, jwts_metrics_format format, char **out, size_t *len)
{
    if (!m || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics_render: NULL registry or out");
    if (format != JWTS_METRICS_PROMETHEUS && format != JWTS_METRICS_OPENMETRICS)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics_render: unknown format %d", (int)format);
    bool om = format == JWTS_METRICS_OPENMETRICS;
    obuf b = {0};
    pthread_mutex_lock(&m->lock);
    for (const family *f = m->families; f; f = f->next) {
        obuf_puts(&b, "# HELP ");
        put_family_name(&b, f, om);
        obuf_putc(&b, ' ');
        put_help(&b, f->help, om);
        obuf_puts(&b, "\n# TYPE ");
        put_family_name(&b, f, om);
        obuf_printf(&b, " %s\n", TYPE_NAMES[f->type]);
        for (const series *s = f->first; s; s = s->next) {
            if (f->type == TYPE_COUNTER)
                render_counter(&b, f, s, m);
            else if (f->type == TYPE_GAUGE)
                render_gauge(&b, f, s);
            else
                render_histogram(&b, f, s, m, om);
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (om) obuf_puts(&b, "# EOF\n");
    if (b.failed || !b.data) {
        obuf_free(&b);
        return jwts_fail(JWTS_E_NO_MEMORY, "metrics_render");
    }
    *out = b.data;
    if (len) *len = b.len;
    return JWTS_OK;
}

const char *jwts_metrics_content_type(jwts_metrics_format format)
{
    return format == JWTS_METRICS_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                              : "text/plain; version=0.0.4; charset=utf-8";
}

jwts_metrics_format jwts_metrics_format_from_accept(const char *accept)
{
    return accept && strstr(accept, "application/openmetrics-text") ? JWTS_METRICS_OPENMETRICS
                                                                    : JWTS_METRICS_PROMETHEUS;
}
