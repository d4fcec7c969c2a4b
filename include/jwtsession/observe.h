/*
 * observe.h - observability at the library's boundaries: an observed store (a decorator over any
 * jwts_store) and the operation scope the session manager opens around each of its operations.
 *
 * Both report into a jwts_metrics registry and a jwts_tracer, either of which may be NULL. A
 * store that is not wrapped, and a manager given neither, pay nothing.
 *
 *     jwts_op_scope sc;
 *     jwts_ctx c = jwts_op_begin(&sc, m, t, JWTS_OP_VALIDATE, ctx);
 *     jwts_err rc = ...work, passing &c to the store...;
 *     return jwts_op_end(&sc, rc);
 */
#ifndef JWTSESSION_OBSERVE_H
#define JWTSESSION_OBSERVE_H

#include <stdint.h>

#include "ctx.h"
#include "error.h"
#include "metrics.h"
#include "store.h"
#include "trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A store that forwards every operation to inner and observes it: a child span of the call's
 * ctx (CLIENT kind for remote backends; attributes db.system = "redis" for the redis backends or
 * the backend's name, db.operation = the operation, db.operation.batch.size for batches; never a
 * key, user id or token), and jwtsession_store_operations_total{backend,op,result} and
 * jwtsession_store_duration_seconds{backend,op} in m, plus jwtsession_active_sessions{backend}
 * read through jwts_store_count at scrape time. NOT_FOUND and CONFLICT are answers, not errors:
 * they are counted by result but leave the span's status unset.
 *
 * On success *out owns inner: jwts_store_free(*out) frees inner too (do not free inner
 * yourself); on failure inner is still the caller's. m and t are borrowed and must outlive *out.
 * jwts_store_name(*out) is inner's name. Either of m and t may be NULL. */
jwts_err jwts_store_observe_new(jwts_store *inner, jwts_metrics *m, jwts_tracer *t, jwts_store **out);

/* ---- the manager's operation boundary -------------------------------------------------------- */

/* One operation in progress; lives on the caller's stack between begin and end. */
typedef struct jwts_op_scope {
    jwts_metrics *m;
    jwts_span *span; /* NULL when not sampled; add attributes with jwts_span_set_* */
    jwts_op op;
    int64_t start_ns; /* monotonic; 0 when nothing needs it */
} jwts_op_scope;

/* Begin op under ctx (NULL: no deadline, no parent): starts the span "jwtsession.<op name>"
 * (INTERNAL) and the latency clock. Returns the ctx to pass to everything the operation calls:
 * ctx's deadline and this span as trace parent. */
jwts_ctx jwts_op_begin(jwts_op_scope *scope, jwts_metrics *m, jwts_tracer *t, jwts_op op, const jwts_ctx *ctx);

/* End the operation with rc: the span gets rc as status and ends; m counts
 * jwtsession_operations_total{op,result} and observes the latency. Returns rc. */
jwts_err jwts_op_end(jwts_op_scope *scope, jwts_err rc);

#ifdef __cplusplus
}
#endif
#endif
