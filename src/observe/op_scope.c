/*
 * op_scope.c - jwts_op_begin/jwts_op_end, the session manager's operation boundary.
 *
 * One monotonic clock read at each end serves both the span times and the latency histogram;
 * with no registry and an unsampled span there is no clock read at all.
 */
#include "jwtsession/clock.h"
#include "jwtsession/observe.h"
#include "observe/trace_int.h"

static const char *const SPAN_NAMES[JWTS_OP__COUNT] = {
    [JWTS_OP_CREATE] = "jwtsession.create",
    [JWTS_OP_VALIDATE] = "jwtsession.validate",
    [JWTS_OP_REFRESH] = "jwtsession.refresh",
    [JWTS_OP_REVOKE] = "jwtsession.revoke",
    [JWTS_OP_REVOKE_USER] = "jwtsession.revoke_user",
    [JWTS_OP_LIST] = "jwtsession.list",
    [JWTS_OP_UPDATE_METADATA] = "jwtsession.update_metadata",
    [JWTS_OP_CLEANUP] = "jwtsession.cleanup",
};

jwts_ctx jwts_op_begin(jwts_op_scope *scope, jwts_metrics *m, jwts_tracer *t, jwts_op op, const jwts_ctx *ctx)
{
    jwts_ctx child = {0};
    if (!scope) return ctx ? *ctx : child;
    scope->m = m;
    scope->op = op;
    if (!m && !t) { /* observability off: hand the ctx on as it is */
        scope->span = NULL;
        scope->start_ns = 0;
        return ctx ? *ctx : child;
    }
    scope->start_ns = m ? jwts_fast_ns() : 0;
    const char *name = (unsigned)op < JWTS_OP__COUNT ? SPAN_NAMES[op] : "jwtsession.unknown";
    scope->span = trace_span_start_at(t, name, JWTS_SPAN_INTERNAL, ctx, &child, scope->start_ns);
    return child;
}

jwts_err jwts_op_end(jwts_op_scope *scope, jwts_err rc)
{
    if (!scope) return rc;
    if (!scope->m && !scope->span) return rc;
    if (rc == JWTS_E_WOULD_BLOCK) { /* a local-only attempt that did not happen: the retry counts */
        trace_span_discard(scope->span);
        scope->span = NULL;
        return rc;
    }
    int64_t now = jwts_fast_ns();
    if (scope->span) {
        jwts_span_set_status(scope->span, rc);
        trace_span_end_at(scope->span, now);
        scope->span = NULL;
    }
    if (scope->m) jwts_metrics_observe_op(scope->m, scope->op, rc, now - scope->start_ns);
    return rc;
}
