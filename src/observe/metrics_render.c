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

#include "jwtsession/buf.h"
#include "jwtsession/error.h"
#include "observe/metrics_int.h"

static const char *const TYPE_NAMES[] = {"counter", "gauge", "histogram"};

static void put_help(jwts_buf *b, const char *help, bool om)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            jwts_buf_puts(b, "\\\\");
        else if (*p == '\n')
            jwts_buf_puts(b, "\\n");
        else if (*p == '"' && om)
            jwts_buf_puts(b, "\\\"");
        else
            jwts_buf_putc(b, *p);
    }
}

/* The family name for # TYPE/# HELP: OpenMetrics drops a counter's _total. */
static void put_family_name(jwts_buf *b, const family *f, bool om)
{
    size_t n = strlen(f->name);
    if (om && f->type == TYPE_COUNTER && n > 6 && !strcmp(f->name + n - 6, "_total")) n -= 6;
    jwts_buf_put(b, f->name, n);
}

/* name{labels[,extra]} value-less prefix of a sample line, then a space. */
static void put_sample_head(jwts_buf *b, const family *f, const char *suffix, const series *s, const char *extra)
{
    jwts_buf_puts(b, f->name);
    if (suffix) jwts_buf_puts(b, suffix);
    bool any = s->labels[0] || extra;
    if (any) jwts_buf_putc(b, '{');
    jwts_buf_puts(b, s->labels);
    if (extra) {
        if (s->labels[0]) jwts_buf_putc(b, ',');
        jwts_buf_puts(b, extra);
    }
    if (any) jwts_buf_putc(b, '}');
    jwts_buf_putc(b, ' ');
}

static void put_le(jwts_buf *b, double bound, bool om)
{
    size_t start = b->len;
    jwts_buf_double(b, bound);
    if (om && !b->err && !strpbrk(b->data + start, ".eEIN")) jwts_buf_puts(b, ".0");
}

/* The sum of a callback series' callbacks into *v; false when none answered. */
static bool callback_sum(const series *s, double *v)
{
    bool any = false;
    *v = 0;
    for (const callback *c = s->callbacks; c; c = c->next) {
        double one;
        if (c->fn(c->arg, &one)) {
            *v += one;
            any = true;
        }
    }
    return any;
}

static void render_counter(jwts_buf *b, const family *f, const series *s, const jwts_metrics *m)
{
    if (s->by_callback) {
        double d;
        if (!callback_sum(s, &d)) return;
        put_sample_head(b, f, NULL, s, NULL);
        jwts_buf_double(b, d);
        jwts_buf_putc(b, '\n');
        return;
    }
    uint64_t v = metrics_cell_sum(m, s->cell);
    if (v == 0 && s->omit_zero) return;
    put_sample_head(b, f, NULL, s, NULL);
    jwts_buf_u64(b, v);
    jwts_buf_putc(b, '\n');
}

static void render_gauge(jwts_buf *b, const family *f, const series *s)
{
    double v;
    if (s->by_callback) {
        if (!callback_sum(s, &v)) return;
    } else {
        v = jwts_gauge_value((const jwts_gauge *)s);
        if (v == 0 && s->omit_zero) return;
    }
    put_sample_head(b, f, NULL, s, NULL);
    jwts_buf_double(b, v);
    jwts_buf_putc(b, '\n');
}

static void render_histogram(jwts_buf *b, const family *f, const series *s, const jwts_metrics *m, bool om)
{
    uint64_t counts[MAX_BOUNDS + 1];
    uint64_t total = 0;
    for (size_t i = 0; i <= f->nbounds; i++) total += counts[i] = metrics_cell_sum(m, s->cell + (uint32_t)i);
    if (total == 0 && s->omit_zero) return;
    double sum = metrics_cell_sum_double(m, s->cell + (uint32_t)f->nbounds + 1);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= f->nbounds; i++) {
        cumulative += counts[i];
        jwts_buf b_le = {0};
        jwts_buf_puts(&b_le, "le=\"");
        if (i < f->nbounds)
            put_le(&b_le, f->bounds[i], om);
        else
            jwts_buf_puts(&b_le, "+Inf");
        jwts_buf_putc(&b_le, '"');
        if (!b_le.err)
            put_sample_head(b, f, "_bucket", s, b_le.data);
        else if (!b->err)
            b->err = b_le.err;
        jwts_buf_free(&b_le);
        jwts_buf_u64(b, cumulative);
        jwts_buf_putc(b, '\n');
    }
    put_sample_head(b, f, "_sum", s, NULL);
    jwts_buf_double(b, sum);
    jwts_buf_putc(b, '\n');
    put_sample_head(b, f, "_count", s, NULL);
    jwts_buf_u64(b, cumulative);
    jwts_buf_putc(b, '\n');
}

jwts_err jwts_metrics_render(jwts_metrics *m, jwts_metrics_format format, char **out, size_t *len)
{
    if (!m || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics_render: NULL registry or out");
    if (format != JWTS_METRICS_PROMETHEUS && format != JWTS_METRICS_OPENMETRICS)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics_render: unknown format %d", (int)format);
    bool om = format == JWTS_METRICS_OPENMETRICS;
    jwts_buf b = {0};
    pthread_mutex_lock(&m->lock);
    for (const family *f = m->families; f; f = f->next) {
        jwts_buf_puts(&b, "# HELP ");
        put_family_name(&b, f, om);
        jwts_buf_putc(&b, ' ');
        put_help(&b, f->help, om);
        jwts_buf_puts(&b, "\n# TYPE ");
        put_family_name(&b, f, om);
        jwts_buf_printf(&b, " %s\n", TYPE_NAMES[f->type]);
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
    if (om) jwts_buf_puts(&b, "# EOF\n");
    if (b.err || !b.data) {
        jwts_buf_free(&b);
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
