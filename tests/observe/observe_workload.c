/*
 * observe_workload.c - a known sequence of manager-like operations over an observed memory store,
 * for the observability integration tests.
 *
 *   observe_workload metrics DIR   run the sequence, check exact counter values, write
 *                                  DIR/metrics.prom (Prometheus text) and DIR/metrics.om (OpenMetrics)
 *   observe_workload trace TRACEPARENT
 *                                  the tracer from the OTEL_* environment; one validate operation
 *                                  under TRACEPARENT with three store calls (ok, not found, error),
 *                                  one create at the root; flush; print the validate span's
 *                                  traceparent and "stats <exported> <dropped>"
 *
 * Operation bodies stand in for the session manager's: each uses jwts_op_begin/jwts_op_end and
 * passes the returned ctx to the store, exactly as the manager is to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "jwtsession/observe.h"

static int failures;

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "observe_workload: FAILED: %s (%s)\n", what, jwts_errdetail());
        failures++;
    }
}

static void expect_line(const char *text, const char *line)
{
    if (!strstr(text, line)) {
        fprintf(stderr, "observe_workload: missing line: %s", line);
        failures++;
    }
}

typedef struct env {
    jwts_metrics *m;
    jwts_tracer *t;
    jwts_store *st;
} env;

static jwts_err op_create(env *e, const jwts_ctx *ctx, const char *user, char id[JWTS_SESSION_ID_LEN + 1])
{
    jwts_op_scope sc;
    jwts_ctx c = jwts_op_begin(&sc, e->m, e->t, JWTS_OP_CREATE, ctx);
    jwts_err rc = jwts_session_id_new(user, id);
    int64_t now = jwts_now_ms();
    jwts_session s = {.user_id = user,
                      .session_id = id,
                      .created_at_ms = now,
                      .updated_at_ms = now,
                      .expires_at_ms = now + 3600000,
                      .last_seen_ms = now,
                      .metadata = "{\"device\":\"test\"}"};
    if (!rc) rc = jwts_store_set(e->st, &c, &s, 3600000);
    return jwts_op_end(&sc, rc);
}

/* validate: the store lookup, then a pretend claims check that can say "expired". */
static jwts_err op_validate(env *e, const jwts_ctx *ctx, const char *user, const char *id, bool expired)
{
    jwts_op_scope sc;
    jwts_ctx c = jwts_op_begin(&sc, e->m, e->t, JWTS_OP_VALIDATE, ctx);
    jwts_session *s = NULL;
    jwts_err rc = expired ? JWTS_E_EXPIRED : jwts_store_get(e->st, &c, &(jwts_session_key){user, id}, &s);
    jwts_session_free(s);
    return jwts_op_end(&sc, rc);
}

static jwts_err op_refresh(env *e, jwts_refresh_outcome outcome)
{
    jwts_op_scope sc;
    jwts_op_begin(&sc, e->m, e->t, JWTS_OP_REFRESH, NULL);
    jwts_metrics_refresh_outcome(e->m, outcome);
    return jwts_op_end(&sc, outcome == JWTS_REFRESH_REUSED ? JWTS_E_REFRESH_REUSED : JWTS_OK);
}

static jwts_err op_revoke(env *e, const char *user, const char *id)
{
    jwts_op_scope sc;
    jwts_ctx c = jwts_op_begin(&sc, e->m, e->t, JWTS_OP_REVOKE, NULL);
    return jwts_op_end(&sc, jwts_store_delete(e->st, &c, &(jwts_session_key){user, id}));
}

static int run_metrics(const char *dir)
{
    env e = {0};
    jwts_store *inner;
    check(jwts_metrics_new(NULL, &e.m) == JWTS_OK, "metrics_new");
    check(jwts_store_memory_new(NULL, &inner) == JWTS_OK, "memory_new");
    check(jwts_store_observe_new(inner, e.m, NULL, &e.st) == JWTS_OK, "observe_new");
    /* the remaining families: a (disabled) tracer's span counters, the process families */
    jwts_tracer_options to = {.disabled = true, .metrics = e.m};
    check(jwts_tracer_new(&to, &e.t) == JWTS_OK, "tracer_new");
    check(jwts_metrics_watch_process(e.m) == JWTS_OK, "watch_process");
    if (failures) return 1;
    char ids[3][JWTS_SESSION_ID_LEN + 1];
    for (int i = 0; i < 3; i++) check(op_create(&e, NULL, "user-a", ids[i]) == JWTS_OK, "create");
    for (int i = 0; i < 5; i++) check(op_validate(&e, NULL, "user-a", ids[i % 3], false) == JWTS_OK, "validate");
    for (int i = 0; i < 2; i++) check(op_validate(&e, NULL, "user-a", ids[0], true) == JWTS_E_EXPIRED, "expired");
    check(op_refresh(&e, JWTS_REFRESH_ROTATED) == JWTS_OK, "refresh");
    check(op_refresh(&e, JWTS_REFRESH_ROTATED) == JWTS_OK, "refresh");
    check(op_refresh(&e, JWTS_REFRESH_REUSED) == JWTS_E_REFRESH_REUSED, "reuse");
    check(op_revoke(&e, "user-a", ids[2]) == JWTS_OK, "revoke");
    check(op_revoke(&e, "user-a", ids[2]) == JWTS_E_NOT_FOUND, "revoke again");
    check(op_validate(&e, NULL, "user-a", ids[2], false) == JWTS_E_NOT_FOUND, "validate revoked");
    jwts_metrics_set_keyset_size(e.m, 1, 1);

    char *prom = NULL, *om = NULL;
    size_t prom_len = 0, om_len = 0;
    check(jwts_metrics_render(e.m, JWTS_METRICS_PROMETHEUS, &prom, &prom_len) == JWTS_OK, "render");
    check(jwts_metrics_render(e.m, JWTS_METRICS_OPENMETRICS, &om, &om_len) == JWTS_OK, "render om");
    if (failures) return 1;
    static const char *const lines[] = {
        "jwtsession_operations_total{op=\"create\",result=\"ok\"} 3\n",
        "jwtsession_operations_total{op=\"validate\",result=\"ok\"} 5\n",
        "jwtsession_operations_total{op=\"validate\",result=\"JWTS_E_EXPIRED\"} 2\n",
        "jwtsession_operations_total{op=\"validate\",result=\"JWTS_E_NOT_FOUND\"} 1\n",
        "jwtsession_operations_total{op=\"refresh\",result=\"ok\"} 2\n",
        "jwtsession_operations_total{op=\"refresh\",result=\"JWTS_E_REFRESH_REUSED\"} 1\n",
        "jwtsession_operations_total{op=\"revoke\",result=\"ok\"} 1\n",
        "jwtsession_operations_total{op=\"revoke\",result=\"JWTS_E_NOT_FOUND\"} 1\n",
        "jwtsession_operations_total{op=\"list\",result=\"ok\"} 0\n",
        "jwtsession_operation_duration_seconds_count{op=\"validate\"} 8\n",
        "jwtsession_refresh_total{outcome=\"rotated\"} 2\n",
        "jwtsession_refresh_total{outcome=\"grace\"} 0\n",
        "jwtsession_refresh_total{outcome=\"reused\"} 1\n",
        "jwtsession_store_operations_total{backend=\"memory\",op=\"set\",result=\"ok\"} 3\n",
        "jwtsession_store_operations_total{backend=\"memory\",op=\"get\",result=\"ok\"} 5\n",
        "jwtsession_store_operations_total{backend=\"memory\",op=\"get\",result=\"JWTS_E_NOT_FOUND\"} 1\n",
        "jwtsession_store_operations_total{backend=\"memory\",op=\"delete\",result=\"ok\"} 1\n",
        "jwtsession_store_operations_total{backend=\"memory\",op=\"delete\",result=\"JWTS_E_NOT_FOUND\"} 1\n",
        "jwtsession_store_duration_seconds_count{backend=\"memory\",op=\"get\"} 6\n",
        "jwtsession_active_sessions{backend=\"memory\"} 2\n",
        "jwtsession_keyset_keys{state=\"active\"} 1\n",
        "jwtsession_trace_spans_exported_total 0\n",
        "jwtsession_trace_spans_dropped_total{reason=\"queue_full\"} 0\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) expect_line(prom, lines[i]);
    expect_line(om, "# TYPE jwtsession_operations counter\n");
    expect_line(om, "jwtsession_operations_total{op=\"create\",result=\"ok\"} 3\n");
    check(om_len > 6 && !strcmp(om + om_len - 6, "# EOF\n"), "OpenMetrics ends with # EOF");
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.prom", dir);
    FILE *f = fopen(path, "w");
    check(f && fwrite(prom, 1, prom_len, f) == prom_len && fclose(f) == 0, "write metrics.prom");
    snprintf(path, sizeof path, "%s/metrics.om", dir);
    f = fopen(path, "w");
    check(f && fwrite(om, 1, om_len, f) == om_len && fclose(f) == 0, "write metrics.om");
    free(prom);
    free(om);
    jwts_store_free(e.st);
    jwts_tracer_free(e.t);
    jwts_metrics_free(e.m);
    if (!failures) printf("observe_workload: metrics: all %zu exact values match\n", sizeof lines / sizeof *lines);
    return failures ? 1 : 0;
}

static int run_trace(const char *traceparent)
{
    env e = {0};
    jwts_tracer_options o = {.service_name = "should-be-overridden"};
    check(jwts_tracer_options_from_env(&o) == JWTS_OK, "options_from_env");
    check(jwts_metrics_new(NULL, &e.m) == JWTS_OK, "metrics_new");
    o.metrics = e.m;
    check(jwts_tracer_new(&o, &e.t) == JWTS_OK, "tracer_new");
    jwts_store *inner;
    check(jwts_store_memory_new(NULL, &inner) == JWTS_OK, "memory_new");
    check(jwts_store_observe_new(inner, e.m, e.t, &e.st) == JWTS_OK, "observe_new");
    if (failures) return 1;
    char id[JWTS_SESSION_ID_LEN + 1];
    check(op_create(&e, NULL, "user-t", id) == JWTS_OK, "create"); /* a root trace */

    jwts_ctx in = jwts_ctx_with_timeout(10000);
    check(jwts_trace_parent_extract(traceparent, NULL, &in.parent) == JWTS_OK, "incoming traceparent");
    jwts_op_scope sc;
    jwts_ctx c = jwts_op_begin(&sc, e.m, e.t, JWTS_OP_VALIDATE, &in);
    jwts_session *s = NULL;
    check(jwts_store_get(e.st, &c, &(jwts_session_key){"user-t", id}, &s) == JWTS_OK, "get");
    jwts_session_free(s);
    check(jwts_store_get(e.st, &c, &(jwts_session_key){"user-t", "missing"}, &s) == JWTS_E_NOT_FOUND, "get missing");
    jwts_store_close(inner); /* the observed store forwards to it: the next call fails */
    check(jwts_store_touch(e.st, &c, &(jwts_session_key){"user-t", id}, 1, 1, 1000) == JWTS_E_CLOSED, "touch closed");
    jwts_op_end(&sc, JWTS_E_CLOSED);
    char tp[JWTS_TRACEPARENT_LEN + 1];
    check(jwts_traceparent_format(&c.parent, tp) == JWTS_OK, "format");

    check(jwts_tracer_flush(e.t, 20000) == JWTS_OK, "flush");
    jwts_tracer_stats st;
    jwts_tracer_get_stats(e.t, &st);
    char *text = NULL;
    check(jwts_metrics_render(e.m, JWTS_METRICS_PROMETHEUS, &text, NULL) == JWTS_OK, "render");
    char want[96];
    snprintf(want, sizeof want, "jwtsession_trace_spans_exported_total %llu\n", (unsigned long long)st.exported);
    if (text) expect_line(text, want);
    free(text);
    printf("%s\nstats %llu %llu\n", tp, (unsigned long long)st.exported,
           (unsigned long long)(st.dropped_queue + st.dropped_export));
    jwts_store_free(e.st);
    jwts_tracer_free(e.t);
    jwts_metrics_free(e.m);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "metrics")) return run_metrics(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "trace")) return run_trace(argv[2]);
    fprintf(stderr, "usage: observe_workload metrics DIR | trace TRACEPARENT\n");
    return 2;
}
