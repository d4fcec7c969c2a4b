/*
 * ctx.c - deadlines of jwts_ctx.
 */
#include "jwtsession/ctx.h"
#include "jwtsession/clock.h"

jwts_ctx jwts_ctx_with_timeout(int64_t timeout_ms)
{
    jwts_ctx ctx = {0};
    if (timeout_ms > 0) ctx.deadline_ns = jwts_deadline_in_ms(timeout_ms);
    return ctx;
}

int64_t jwts_ctx_remaining_ms(const jwts_ctx *ctx)
{
    if (!ctx || ctx->deadline_ns == 0) return -1;
    return jwts_ns_to_ms_ceil(ctx->deadline_ns - jwts_monotonic_ns());
}

bool jwts_ctx_expired(const jwts_ctx *ctx)
{
    return ctx && ctx->deadline_ns != 0 && jwts_monotonic_ns() >= ctx->deadline_ns;
}
