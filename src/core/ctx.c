/*
 * ctx.c - deadlines of jwts_ctx.
 */
#include "jwtsession/clock.h"
#include "jwtsession/ctx.h"

jwts_ctx jwts_ctx_with_timeout(int64_t timeout_ms)
{
    jwts_ctx ctx = {0};
    if (timeout_ms > 0) ctx.deadline_ns = jwts_monotonic_ns() + timeout_ms * 1000000;
    return ctx;
}

int64_t jwts_ctx_remaining_ms(const jwts_ctx *ctx)
{
    if (!ctx || ctx->deadline_ns == 0) return -1;
    int64_t left = ctx->deadline_ns - jwts_monotonic_ns();
    if (left <= 0) return 0;
    return (left + 999999) / 1000000;
}

bool jwts_ctx_expired(const jwts_ctx *ctx)
{
    return ctx && ctx->deadline_ns != 0 && jwts_monotonic_ns() >= ctx->deadline_ns;
}
