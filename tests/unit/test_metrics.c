/*
 * test_metrics.c - the jwts_metrics registry: values, registration rules, both exposition
 * formats (exact text), per-thread shards under concurrency, the standard families, callbacks.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/metrics.h"
#include "jwtsession/version.h"

static jwts_metrics *bare(void)
{
    jwts_metrics *m;
    jwts_metrics_options o = {.no_standard = true};
    assert_int_equal(jwts_metrics_new(&o, &m), JWTS_OK);
    return m;
}

static char *render(jwts_metrics *m, jwts_metrics_format f)
{
    char *out;
    size_t len;
    assert_int_equal(jwts_metrics_render(m, f, &out, &len), JWTS_OK);
    assert_int_equal(strlen(out), len);
    return out;
}

static void counter_gauge_histogram_values(void **state)
{
    jwts_metrics *m = bare();
    jwts_counter *c;
    jwts_gauge *g;
    jwts_histogram *h;
    assert_int_equal(jwts_metrics_counter(m, "t_requests_total", "Requests.", NULL, 0, &c), JWTS_OK);
    assert_int_equal(jwts_metrics_gauge(m, "t_level", "Level.", NULL, 0, &g), JWTS_OK);
    static const double b[] = {0.1, 1, 10};
    assert_int_equal(jwts_metrics_histogram(m, "t_size", "Size.", NULL, 0, b, 3, &h), JWTS_OK);
    jwts_counter_inc(c);
    jwts_counter_add(c, 41);
    jwts_gauge_set(g, 2.5);
    jwts_gauge_add(g, -1);
    jwts_histogram_observe(h, 0.1); /* le is inclusive */
    jwts_histogram_observe(h, 0.5);
    jwts_histogram_observe(h, 100);
    assert_int_equal(jwts_counter_value(c), 42);
    assert_true(jwts_gauge_value(g) == 1.5);
    assert_int_equal(jwts_histogram_count(h), 3);
    assert_true(jwts_histogram_sum(h) == 100.6);
    char *text = render(m, JWTS_METRICS_PROMETHEUS);
    assert_string_equal(text, "# HELP t_requests_total Requests.\n"
                              "# TYPE t_requests_total counter\n"
                              "t_requests_total 42\n"
                              "# HELP t_level Level.\n"
                              "# TYPE t_level gauge\n"
                              "t_level 1.5\n"
                              "# HELP t_size Size.\n"
                              "# TYPE t_size histogram\n"
                              "t_size_bucket{le=\"0.1\"} 1\n"
                              "t_size_bucket{le=\"1\"} 2\n"
                              "t_size_bucket{le=\"10\"} 2\n"
                              "t_size_bucket{le=\"+Inf\"} 3\n"
                              "t_size_sum 100.6\n"
                              "t_size_count 3\n");
    free(text);
    text = render(m, JWTS_METRICS_OPENMETRICS);
    assert_string_equal(text, "# HELP t_requests Requests.\n"
                              "# TYPE t_requests counter\n"
                              "t_requests_total 42\n"
                              "# HELP t_level Level.\n"
                              "# TYPE t_level gauge\n"
                              "t_level 1.5\n"
                              "# HELP t_size Size.\n"
                              "# TYPE t_size histogram\n"
                              "t_size_bucket{le=\"0.1\"} 1\n"
                              "t_size_bucket{le=\"1.0\"} 2\n"
                              "t_size_bucket{le=\"10.0\"} 2\n"
                              "t_size_bucket{le=\"+Inf\"} 3\n"
                              "t_size_sum 100.6\n"
                              "t_size_count 3\n"
                              "# EOF\n");
    free(text);
    jwts_metrics_free(m);
}

static void labels_are_escaped_and_series_shared(void **state)
{
    jwts_metrics *m = bare();
    jwts_counter *a, *b, *c;
    jwts_label l1[] = {{"path", "C:\\dir \"x\"\nnext"}, {"code", "200"}};
    jwts_label l2[] = {{"path", "/"}, {"code", "500"}};
    assert_int_equal(jwts_metrics_counter(m, "t_hits_total", "Hits with \\ and\nnewline \"q\".", l1, 2, &a), JWTS_OK);
    assert_int_equal(jwts_metrics_counter(m, "t_hits_total", "ignored", l2, 2, &b), JWTS_OK);
    assert_int_equal(jwts_metrics_counter(m, "t_hits_total", "ignored", l1, 2, &c), JWTS_OK);
    assert_ptr_equal(a, c); /* an equal label set is the same series */
    assert_ptr_not_equal(a, b);
    jwts_counter_add(c, 3);
    jwts_counter_inc(b);
    char *text = render(m, JWTS_METRICS_PROMETHEUS);
    assert_string_equal(text, "# HELP t_hits_total Hits with \\\\ and\\nnewline \"q\".\n"
                              "# TYPE t_hits_total counter\n"
                              "t_hits_total{path=\"C:\\\\dir \\\"x\\\"\\nnext\",code=\"200\"} 3\n"
                              "t_hits_total{path=\"/\",code=\"500\"} 1\n");
    free(text);
    text = render(m, JWTS_METRICS_OPENMETRICS);
    assert_non_null(strstr(text, "# HELP t_hits Hits with \\\\ and\\nnewline \\\"q\\\".\n"));
    free(text);
    jwts_metrics_free(m);
}

static void registration_rules(void **state)
{
    jwts_metrics *m = bare();
    jwts_counter *c;
    jwts_gauge *g;
    jwts_histogram *h;
    jwts_label op = {"op", "get"}, other = {"kind", "get"}, dunder = {"__x", "1"}, le = {"le", "1"};
    assert_int_equal(jwts_metrics_counter(m, "x_total", "X.", &op, 1, &c), JWTS_OK);
    assert_int_equal(jwts_metrics_gauge(m, "x_total", "X.", &op, 1, &g), JWTS_E_CONFLICT);
    assert_int_equal(jwts_metrics_counter(m, "x_total", "X.", &other, 1, &c), JWTS_E_CONFLICT);
    assert_int_equal(jwts_metrics_counter(m, "x_total", "X.", NULL, 0, &c), JWTS_E_CONFLICT);
    assert_int_equal(jwts_metrics_counter(m, "9bad", "X.", NULL, 0, &c), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_metrics_counter(m, "bad-name", "X.", NULL, 0, &c), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_metrics_counter(m, "y_total", "Y.", &dunder, 1, &c), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_metrics_counter(m, "y_total", "Y.", &le, 1, &c), JWTS_E_INVALID_ARGUMENT);
    static const double down[] = {1, 0.5}, b1[] = {1, 2}, b2[] = {1, 3};
    assert_int_equal(jwts_metrics_histogram(m, "h", "H.", NULL, 0, down, 2, &h), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_metrics_histogram(m, "h", "H.", NULL, 0, b1, 2, &h), JWTS_OK);
    assert_int_equal(jwts_metrics_histogram(m, "h", "H.", &op, 1, b2, 2, &h), JWTS_E_CONFLICT);
    assert_non_null(strstr(jwts_errdetail(), "h"));
    jwts_metrics_free(m);
}

static void registry_full_gives_limit(void **state)
{
    jwts_metrics *m;
    jwts_metrics_options o = {.no_standard = true, .max_cells = 512};
    assert_int_equal(jwts_metrics_new(&o, &m), JWTS_OK);
    jwts_err rc = JWTS_OK;
    int made = 0;
    for (int i = 0; i < 1000 && !rc; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        jwts_counter *c;
        rc = jwts_metrics_counter(m, "n_total", "N.", &(jwts_label){"i", v}, 1, &c);
        if (!rc) made++;
    }
    assert_int_equal(rc, JWTS_E_LIMIT);
    assert_int_equal(made, 512);
    jwts_metrics_free(m);
}

typedef struct hammer {
    jwts_counter *c;
    jwts_histogram *h;
    int n;
    pthread_barrier_t *start; /* all threads hold their slots at once */
} hammer;

static void *hammer_main(void *arg)
{
    hammer *hm = arg;
    pthread_barrier_wait(hm->start);
    for (int i = 0; i < hm->n; i++) {
        jwts_counter_inc(hm->c);
        jwts_histogram_observe(hm->h, 1.0);
    }
    return NULL;
}

/* More threads than the 63 private slots, so the shared slot's atomic path runs too; threads
 * exit and hand their slots on, and every increment is still counted exactly. */
static void concurrent_increments_are_exact(void **state)
{
    jwts_metrics *m = bare();
    jwts_counter *c;
    jwts_histogram *h;
    assert_int_equal(jwts_metrics_counter(m, "par_total", "P.", NULL, 0, &c), JWTS_OK);
    assert_int_equal(jwts_metrics_histogram(m, "par_h", "P.", NULL, 0, NULL, 0, &h), JWTS_OK);
    enum { THREADS = 80, N = 20000 };
    static pthread_t th[THREADS];
    pthread_barrier_t start;
    hammer hm = {c, h, N, &start};
    for (int round = 0; round < 2; round++) {
        pthread_barrier_init(&start, NULL, THREADS);
        for (int i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &hm), 0);
        for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
    }
    assert_int_equal(jwts_counter_value(c), 2 * THREADS * N);
    assert_int_equal(jwts_histogram_count(h), 2 * THREADS * N);
    assert_true(jwts_histogram_sum(h) == 2.0 * THREADS * N);
    jwts_metrics_free(m);
}

static void standard_families(void **state)
{
    jwts_metrics *m;
    assert_int_equal(jwts_metrics_new(NULL, &m), JWTS_OK);
    jwts_metrics_observe_op(m, JWTS_OP_VALIDATE, JWTS_OK, 20000);
    jwts_metrics_observe_op(m, JWTS_OP_VALIDATE, JWTS_OK, 2000000);
    jwts_metrics_observe_op(m, JWTS_OP_VALIDATE, JWTS_E_EXPIRED, 1000);
    jwts_metrics_observe_op(m, JWTS_OP_CREATE, JWTS_OK, 1000);
    jwts_metrics_observe_op(m, (jwts_op)99, JWTS_OK, 1000); /* ignored */
    jwts_metrics_refresh_outcome(m, JWTS_REFRESH_ROTATED);
    jwts_metrics_refresh_outcome(m, JWTS_REFRESH_REUSED);
    jwts_metrics_refresh_outcome(m, JWTS_REFRESH_REUSED);
    jwts_metrics_set_keyset_size(m, 1, 2);
    char *text = render(m, JWTS_METRICS_PROMETHEUS);
    assert_non_null(strstr(text, "jwtsession_operations_total{op=\"validate\",result=\"ok\"} 2\n"));
    assert_non_null(strstr(text, "jwtsession_operations_total{op=\"validate\",result=\"JWTS_E_EXPIRED\"} 1\n"));
    assert_non_null(strstr(text, "jwtsession_operations_total{op=\"create\",result=\"ok\"} 1\n"));
    assert_non_null(strstr(text, "jwtsession_operations_total{op=\"cleanup\",result=\"ok\"} 0\n"));
    assert_null(strstr(text, "result=\"JWTS_E_LIMIT\"")); /* error series appear once counted */
    assert_non_null(strstr(text, "jwtsession_operation_duration_seconds_bucket{op=\"validate\",le=\"2.5e-05\"} 2\n"));
    assert_non_null(strstr(text, "jwtsession_operation_duration_seconds_bucket{op=\"validate\",le=\"0.0025\"} 3\n"));
    assert_non_null(strstr(text, "jwtsession_operation_duration_seconds_count{op=\"validate\"} 3\n"));
    assert_non_null(strstr(text, "jwtsession_refresh_total{outcome=\"reused\"} 2\n"));
    assert_non_null(strstr(text, "jwtsession_refresh_total{outcome=\"grace\"} 0\n"));
    assert_non_null(strstr(text, "jwtsession_keyset_keys{state=\"verify_only\"} 2\n"));
    free(text);
    jwts_metrics_free(m);
}

static int calls;
static bool answer(void *arg, double *v)
{
    calls++;
    if (!arg) return false;
    *v = *(double *)arg;
    return true;
}

static void callbacks_and_detach(void **state)
{
    jwts_metrics *m = bare();
    double a = 2, b = 40;
    jwts_label l = {"backend", "memory"};
    assert_int_equal(jwts_metrics_gauge_fn(m, "t_live", "Live.", &l, 1, answer, &a), JWTS_OK);
    assert_int_equal(jwts_metrics_gauge_fn(m, "t_live", "Live.", &l, 1, answer, &b), JWTS_OK);
    assert_int_equal(jwts_metrics_gauge_fn(m, "t_none", "None.", NULL, 0, answer, NULL), JWTS_OK);
    calls = 0;
    char *text = render(m, JWTS_METRICS_PROMETHEUS);
    assert_int_equal(calls, 3);
    assert_non_null(strstr(text, "t_live{backend=\"memory\"} 42\n")); /* summed */
    assert_null(strstr(text, "\nt_none ")); /* a callback that declines leaves the sample out */
    free(text);
    jwts_metrics_detach(m, &b);
    text = render(m, JWTS_METRICS_PROMETHEUS);
    assert_non_null(strstr(text, "t_live{backend=\"memory\"} 2\n"));
    free(text);
    jwts_metrics_free(m);
}

/* The process families and build info (jwts_metrics_watch_process): a scrape-time counter keeps its
 * counter type and _total name in both formats. */
static void process_families(void **state)
{
    jwts_metrics *m = bare();
    assert_int_equal(jwts_metrics_watch_process(m), JWTS_OK);
    char *text = render(m, JWTS_METRICS_PROMETHEUS);
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
    assert_non_null(strstr(text, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes "));
    assert_non_null(strstr(text, "\nprocess_open_fds "));
    assert_non_null(strstr(text, "\nprocess_start_time_seconds "));
    assert_non_null(strstr(text, "jwtsession_build_info{version=\"" JWTS_VERSION_STRING "\"} 1\n"));
    free(text);
    text = render(m, JWTS_METRICS_OPENMETRICS);
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds counter\nprocess_cpu_seconds_total "));
    free(text);
    jwts_metrics_free(m);
}

static void content_negotiation(void **state)
{
    assert_int_equal(jwts_metrics_format_from_accept(NULL), JWTS_METRICS_PROMETHEUS);
    assert_int_equal(jwts_metrics_format_from_accept("text/plain;version=0.0.4"), JWTS_METRICS_PROMETHEUS);
    assert_int_equal(jwts_metrics_format_from_accept("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
                     JWTS_METRICS_OPENMETRICS);
    assert_non_null(strstr(jwts_metrics_content_type(JWTS_METRICS_PROMETHEUS), "version=0.0.4"));
    assert_non_null(strstr(jwts_metrics_content_type(JWTS_METRICS_OPENMETRICS), "application/openmetrics-text"));
    assert_string_equal(jwts_op_name(JWTS_OP_UPDATE_METADATA), "update_metadata");
    assert_string_equal(jwts_op_name((jwts_op)42), "unknown");
    /* NULL handles are no-ops */
    jwts_counter_inc(NULL);
    jwts_histogram_observe(NULL, 1);
    jwts_metrics_observe_op(NULL, JWTS_OP_CREATE, JWTS_OK, 1);
    char *out;
    assert_int_equal(jwts_metrics_render(NULL, JWTS_METRICS_PROMETHEUS, &out, NULL), JWTS_E_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_gauge_histogram_values),
        cmocka_unit_test(labels_are_escaped_and_series_shared),
        cmocka_unit_test(registration_rules),
        cmocka_unit_test(registry_full_gives_limit),
        cmocka_unit_test(concurrent_increments_are_exact),
        cmocka_unit_test(standard_families),
        cmocka_unit_test(callbacks_and_detach),
        cmocka_unit_test(process_families),
        cmocka_unit_test(content_negotiation),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
