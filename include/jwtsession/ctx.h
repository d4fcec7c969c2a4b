/*
 * ctx.h - jwts_ctx, the per-call context: a deadline and a trace parent.
 *
 * The C counterpart of Go's context.Context for one call. A NULL ctx means "no deadline, no
 * parent". A ctx is plain data: build it on the stack, pass it down, never free it.
 */
#ifndef JWTSESSION_CTX_H
#define JWTSESSION_CTX_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A W3C trace-context parent: the caller's trace and span. valid=false means none. */
typedef struct jwts_trace_parent {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t flags; /* bit 0: sampled */
    bool valid;
} jwts_trace_parent;

/* jwts_ctx.flags: answer from local state only (a near cache hit, the memory store). A call that
 * would wait on the network fails at once with JWTS_E_WOULD_BLOCK and has changed nothing, so an
 * event loop can try a validation on its own thread and hand only the misses to a thread that may
 * block. Stores that never wait on the network (memory) ignore it. */
#define JWTS_CTX_LOCAL_ONLY 1u

typedef struct jwts_ctx {
    int64_t deadline_ns;      /* absolute, jwts_monotonic_ns() clock; 0 = no deadline */
    jwts_trace_parent parent; /* the span this call continues */
    uint32_t flags;           /* JWTS_CTX_* bits; 0 for an ordinary call */
} jwts_ctx;

/* A ctx whose deadline is timeout_ms from now (timeout_ms <= 0: no deadline), no parent. */
jwts_ctx jwts_ctx_with_timeout(int64_t timeout_ms);

/* Milliseconds left before ctx's deadline: -1 when there is none (ctx NULL or deadline 0),
 * 0 when it has passed. */
int64_t jwts_ctx_remaining_ms(const jwts_ctx *ctx);

/* true when ctx has a deadline and it has passed. */
bool jwts_ctx_expired(const jwts_ctx *ctx);

/* true when ctx asks for local answers only (JWTS_CTX_LOCAL_ONLY). */
static inline bool jwts_ctx_local_only(const jwts_ctx *ctx)
{
    return ctx && (ctx->flags & JWTS_CTX_LOCAL_ONLY);
}

#ifdef __cplusplus
}
#endif
#endif
