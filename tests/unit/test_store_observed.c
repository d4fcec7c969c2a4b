/*
 * test_store_observed.c - the observed store decorator: the shared conformance suite over an
 * observed memory store (with metrics and a sampling tracer, so every path runs), exact store
 * metrics after a known sequence, and the span tree (names, parents, attributes, status) read
 * off the tracer's queue before export.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/jwtsession.h"
#include "jwtsession/observe.h"
#include "observe/trace_int.h"
#include "store_conformance.h"

static jwts_metrics *shared_metrics;
static jwts_tracer *shared_tracer;

static jwts_err open_observed(void *arg, jwts_store **out)
{
    jwts_memory_options o = {.sweep_interval_ms = 50};
    jwts_store *inner;
    jwts_err rc = jwts_store_memory_new(&o, &inner);
    if (rc) return rc;
    rc = jwts_store_observe_new(inner, shared_metrics, shared_tracer, out);
    if (rc) jwts_store_free(inner);
    return rc;
}

static jwts_session session_for(const char *user, char id[JWTS_SESSION_ID_LEN + 1])
{
    assert_int_equal(jwts_session_id_new(user, id), JWTS_OK);
    int64_t now = jwts_now_ms();
    return (jwts_session){.user_id = user,
                          .session_id = id,
                          .created_at_ms = now,
                          .updated_at_ms = now,
                          .expires_at_ms = now + 3600000,
                          .last_seen_ms = now};
}

static char *render(jwts_metrics *m)
{
    char *text;
    assert_int_equal(jwts_metrics_render(m, JWTS_METRICS_PROMETHEUS, &text, NULL), JWTS_OK);
    return text;
}

static void assert_line(const char *text, const char *line)
{
    if (!strstr(text, line)) fail_msg("missing line: %s", line);
}

static void exact_store_metrics(void **state)
{
    jwts_metrics *m;
    assert_int_equal(jwts_metrics_new(NULL, &m), JWTS_OK);
    jwts_store *inner, *st;
    assert_int_equal(jwts_store_memory_new(NULL, &inner), JWTS_OK);
    assert_int_equal(jwts_store_observe_new(inner, m, NULL, &st), JWTS_OK);
    assert_string_equal(jwts_store_name(st), "memory");
    char a[JWTS_SESSION_ID_LEN + 1], b[JWTS_SESSION_ID_LEN + 1], c[JWTS_SESSION_ID_LEN + 1];
    jwts_session sa = session_for("alice", a), sb = session_for("alice", b), sc = session_for("bob", c);
    assert_int_equal(jwts_store_set(st, NULL, &sa, 60000), JWTS_OK);
    assert_int_equal(jwts_store_set(st, NULL, &sb, 60000), JWTS_OK);
    assert_int_equal(jwts_store_set(st, NULL, &sc, 60000), JWTS_OK);
    jwts_session *got;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"alice", a}, &got), JWTS_OK);
        jwts_session_free(got);
    }
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"nobody", a}, &got), JWTS_E_NOT_FOUND);
    assert_int_equal(jwts_store_delete(st, NULL, &(jwts_session_key){"bob", c}), JWTS_OK);
    assert_int_equal(jwts_store_delete(st, NULL, &(jwts_session_key){"bob", c}), JWTS_E_NOT_FOUND);
    /* rejected by the argument checks before the store: not a store operation */
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){"", a}, &got), JWTS_E_INVALID_ARGUMENT);
    jwts_session_key keys[] = {{"alice", a}, {"alice", b}, {"bob", c}};
    jwts_session *many[3];
    assert_int_equal(jwts_store_get_many(st, NULL, keys, 3, many), JWTS_OK); /* memory: no batch op, 3 gets */
    jwts_session_free(many[0]);
    jwts_session_free(many[1]);
    assert_null(many[2]);

    char *text = render(m);
    assert_line(text, "jwtsession_store_operations_total{backend=\"memory\",op=\"set\",result=\"ok\"} 3\n");
    assert_line(text, "jwtsession_store_operations_total{backend=\"memory\",op=\"get\",result=\"ok\"} 5\n");
    assert_line(text,
                "jwtsession_store_operations_total{backend=\"memory\",op=\"get\",result=\"JWTS_E_NOT_FOUND\"} 2\n");
    assert_line(text, "jwtsession_store_operations_total{backend=\"memory\",op=\"delete\",result=\"ok\"} 1\n");
    assert_line(text,
                "jwtsession_store_operations_total{backend=\"memory\",op=\"delete\",result=\"JWTS_E_NOT_FOUND\"} 1\n");
    assert_null(strstr(text, "JWTS_E_INVALID_ARGUMENT"));
    assert_line(text, "jwtsession_store_duration_seconds_count{backend=\"memory\",op=\"get\"} 7\n");
    assert_line(text, "jwtsession_store_duration_seconds_count{backend=\"memory\",op=\"set\"} 3\n");
    assert_line(text, "jwtsession_active_sessions{backend=\"memory\"} 2\n");
    assert_line(text, "jwtsession_store_operations_total{backend=\"memory\",op=\"count\",result=\"ok\"} 0\n");
    free(text);

    /* freeing the decorator frees the memory store and unhooks the gauge */
    jwts_store_free(st);
    text = render(m);
    assert_null(strstr(text, "jwtsession_active_sessions{"));
    free(text);
    jwts_metrics_free(m);
}

/* Spans wait in the queue (the batch is never full and the interval is long), so the test reads
 * them there: the outer operation span and the decorator's children. */
static void span_tree(void **state)
{
    jwts_tracer_options o = {.sampler = JWTS_SAMPLER_ALWAYS_ON,
                             .traces_endpoint = "http://127.0.0.1:9/v1/traces",
                             .export_interval_ms = 600000,
                             .batch_size = 1000,
                             .queue_size = 1000};
    jwts_tracer *t;
    assert_int_equal(jwts_tracer_new(&o, &t), JWTS_OK);
    jwts_store *inner, *st;
    assert_int_equal(jwts_store_memory_new(NULL, &inner), JWTS_OK);
    assert_int_equal(jwts_store_observe_new(inner, NULL, t, &st), JWTS_OK);
    char a[JWTS_SESSION_ID_LEN + 1];
    jwts_session sa = session_for("carol", a);
    assert_int_equal(jwts_store_set(st, NULL, &sa, 60000), JWTS_OK); /* no ctx: a root span */

    jwts_ctx in = jwts_ctx_with_timeout(5000);
    assert_int_equal(jwts_traceparent_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &in.parent),
                     JWTS_OK);
    jwts_op_scope scope;
    jwts_ctx c = jwts_op_begin(&scope, NULL, t, JWTS_OP_VALIDATE, &in);
    assert_int_equal(c.deadline_ns, in.deadline_ns);
    jwts_session *got;
    assert_int_equal(jwts_store_get(st, &c, &(jwts_session_key){"carol", a}, &got), JWTS_OK);
    jwts_session_free(got);
    assert_int_equal(jwts_store_get(st, &c, &(jwts_session_key){"carol", "nope"}, &got), JWTS_E_NOT_FOUND);
    jwts_store_close(inner); /* the next call fails with an error status */
    assert_int_equal(jwts_store_touch(st, &c, &(jwts_session_key){"carol", a}, 1, 1, 1000), JWTS_E_CLOSED);
    assert_int_equal(jwts_op_end(&scope, JWTS_E_CLOSED), JWTS_E_CLOSED);

    pthread_mutex_lock(&t->lock);
    assert_int_equal(t->count, 5);
    jwts_span *sp[5];
    for (int i = 0; i < 5; i++) sp[i] = t->ring[(t->head + i) % t->queue_size];
    pthread_mutex_unlock(&t->lock);
    /* end order: set, get, get, touch, validate */
    static const char *const names[] = {"jwtsession.store.set", "jwtsession.store.get", "jwtsession.store.get",
                                        "jwtsession.store.touch", "jwtsession.validate"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(sp[i]->name_len, strlen(names[i]));
        assert_memory_equal(sp[i]->text, names[i], sp[i]->name_len);
    }
    assert_false(sp[0]->has_parent);
    jwts_span *outer = sp[4];
    assert_true(outer->has_parent);
    assert_memory_equal(outer->parent_span_id, in.parent.span_id, 8);
    assert_memory_equal(outer->trace_id, in.parent.trace_id, 16);
    assert_int_equal(outer->status, JWTS_E_CLOSED);
    for (int i = 1; i <= 3; i++) {
        assert_true(sp[i]->has_parent);
        assert_memory_equal(sp[i]->trace_id, in.parent.trace_id, 16);
        assert_memory_equal(sp[i]->parent_span_id, outer->span_id, 8);
        assert_int_equal(sp[i]->kind, JWTS_SPAN_INTERNAL); /* memory is in-process */
        assert_true(sp[i]->start_unix_ns >= outer->start_unix_ns && sp[i]->end_unix_ns <= outer->end_unix_ns);
    }
    assert_int_equal(sp[1]->status, JWTS_OK);
    assert_int_equal(sp[2]->status, JWTS_OK); /* NOT_FOUND is an answer, not an error */
    assert_int_equal(sp[3]->status, JWTS_E_CLOSED);
    /* attributes: db.system, db.operation, and the result of the not-found get; nothing else */
    assert_int_equal(sp[1]->nattrs, 2);
    assert_int_equal(sp[2]->nattrs, 3);
    const span_attr *at = &sp[2]->attrs[0];
    assert_memory_equal(sp[2]->text + at->key_off, "db.system", 9);
    assert_memory_equal(sp[2]->text + at->val_off, "memory", 6);
    at = &sp[2]->attrs[1];
    assert_memory_equal(sp[2]->text + at->key_off, "db.operation", 12);
    assert_memory_equal(sp[2]->text + at->val_off, "get", 3);
    at = &sp[2]->attrs[2];
    assert_memory_equal(sp[2]->text + at->val_off, "JWTS_E_NOT_FOUND", 16);
    for (int i = 0; i < 5; i++) /* never a user id or session id */
        assert_null(memmem(sp[i]->text, sp[i]->text_len, "carol", 5));
    jwts_store_free(st);
    jwts_tracer_free(t); /* tries to export to a closed port: dropped, counted */
}

static void no_metrics_no_tracer_is_a_plain_forwarder(void **state)
{
    jwts_store *inner, *st;
    assert_int_equal(jwts_store_memory_new(NULL, &inner), JWTS_OK);
    assert_int_equal(jwts_store_observe_new(inner, NULL, NULL, &st), JWTS_OK);
    char a[JWTS_SESSION_ID_LEN + 1];
    jwts_session sa = session_for("dave", a);
    assert_int_equal(jwts_store_set(st, NULL, &sa, 60000), JWTS_OK);
    size_t n = 0;
    assert_int_equal(jwts_store_count(st, &n), JWTS_OK);
    assert_int_equal(n, 1);
    jwts_store_free(st);
    assert_int_equal(jwts_store_observe_new(NULL, NULL, NULL, &st), JWTS_E_INVALID_ARGUMENT);
}

int main(void)
{
    jwts_tracer_options o = {.sampler = JWTS_SAMPLER_ALWAYS_ON,
                             .traces_endpoint = "http://127.0.0.1:9/v1/traces",
                             .export_interval_ms = 600000,
                             .queue_size = 64,
                             .batch_size = 64};
    if (jwts_metrics_new(NULL, &shared_metrics) || jwts_tracer_new(&o, &shared_tracer)) return 1;
    jwts_conformance_target target = {.name = "observed memory", .open = open_observed, .lazy_expiry_only = true};
    int failures = jwts_store_conformance_run(&target);
    jwts_tracer_free(shared_tracer);
    jwts_metrics_free(shared_metrics);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_store_metrics),
        cmocka_unit_test(span_tree),
        cmocka_unit_test(no_metrics_no_tracer_is_a_plain_forwarder),
    };
    return failures + cmocka_run_group_tests_name("observed store", tests, NULL, NULL);
}
