/*
 * redis_pipeline.c - auto-pipelining: concurrent callers share writes on one connection.
 *
 * As ioredis does it: a caller formats its commands, queues them and sleeps. One I/O thread per
 * connection takes everything queued since its last turn, appends it to the connection's output
 * buffer and writes it in one go, then matches replies to requests in FIFO order (Redis answers
 * in order) and wakes each caller when its last reply is in. With many callers, one write and
 * one read carry many requests, so throughput approaches Redis's own pipelined limit.
 *
 * A caller sleeps on a futex in its request, not on a lock the I/O thread holds: completing a
 * request is an atomic state change (PENDING -> DONE) and a FUTEX_WAKE, so woken callers never
 * queue behind the I/O thread. A caller whose deadline passes moves its request PENDING ->
 * ABANDONED instead; whichever side loses that race knows the other side owns the request.
 *
 * An asynchronous request (run_async) carries a completion instead of a sleeping caller: the I/O
 * thread calls it with the replies, or with TIMEOUT once the request's own deadline passes (the
 * request then stays in the FIFO, abandoned, to absorb its replies). One I/O thread thus serves
 * many requests in flight without a thread, or a wake-up, per request.
 *
 * Failures: a caller whose deadline passes abandons its request (the I/O thread frees it and its
 * replies when they arrive, keeping the FIFO in step). If the oldest request in flight gets no
 * reply within command_timeout_ms, or the connection breaks, every request in flight fails
 * (TIMEOUT or UNAVAILABLE) and the connection is dropped; the next request reconnects. A server
 * that closes an idle connection is noticed at once, because the I/O thread always polls it.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "store/redis.h"

typedef struct request {
    struct request *next;
    char *cmd; /* the commands in RESP, in the same allocation after replies[] */
    size_t cmd_len;
    size_t n, got;       /* replies expected and received */
    int64_t sent_ns;     /* when it went out (I/O thread only) */
    int64_t deadline_ns; /* asynchronous: when the I/O thread fails it with TIMEOUT */
    redis_done_fn done;  /* asynchronous: the completion (NULL: a caller sleeps on state) */
    void *done_arg;
    jwts_err rc; /* the failure, when done and not OK */
    char detail[JWTS_DETAIL_MAX];
    atomic_int state;      /* PENDING, DONE or ABANDONED; the futex callers sleep on */
    redisReply *replies[]; /* n of them */
} request;

enum { PENDING, DONE, ABANDONED };

typedef struct queue {
    request *head, *tail;
} queue;

typedef struct conn {
    const redis_config *cfg;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    queue pending;     /* queued, not yet taken by the I/O thread (under lock) */
    bool wake_pending; /* an eventfd write is on its way (under lock) */
    bool stop;         /* under lock */
    int wake_fd;       /* eventfd */
    /* I/O thread only: */
    redis_conn *c;
    queue inflight;
    int64_t async_due_ns; /* no asynchronous request in flight has an earlier deadline */
} conn;

typedef struct pipeline {
    redis_runner base;
    conn *conns;
    size_t nconns;
    atomic_size_t next;
    atomic_bool closed;
} pipeline;

static pipeline *from_base(redis_runner *r)
{
    return (pipeline *)r;
}

static void push(queue *q, request *r)
{
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
}

static request *pop(queue *q)
{
    request *r = q->head;
    if (r && !(q->head = r->next)) q->tail = NULL;
    return r;
}

static void request_free(request *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->replies[i]) freeReplyObject(r->replies[i]);
    free(r);
}

/* ---- the I/O thread ---------------------------------------------------------------------- */

/* Call r's completion once (an abandoned one has had it): with rc (detail: its text) or its replies. */
static void call_done(request *r, jwts_err rc, const char *detail)
{
    if (atomic_exchange(&r->state, DONE) != PENDING) return;
    if (rc) jwts_fail(rc, "%s", detail);
    r->done(r->done_arg, rc, rc ? NULL : r->replies);
}

/* Finish every request of q with rc (its detail from this thread's) and wake its caller. */
static void complete_all(conn *cn, queue *q, jwts_err rc)
{
    char detail[JWTS_DETAIL_MAX];
    snprintf(detail, sizeof detail, "%s", jwts_errdetail());
    for (request *r; (r = pop(q));) {
        if (r->done) {
            call_done(r, rc, detail);
            request_free(r);
            continue;
        }
        r->rc = rc;
        if (rc) snprintf(r->detail, sizeof r->detail, "%s", detail);
        int expected = PENDING;
        if (!atomic_compare_exchange_strong(&r->state, &expected, DONE)) {
            request_free(r); /* its caller gave up */
            continue;
        }
        /* r may be freed by its caller from here on; a wake on a stale address is harmless */
        syscall(SYS_futex, &r->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

static void drop_connection(conn *cn, jwts_err rc)
{
    jwts_redis_conn_free(cn->c);
    cn->c = NULL;
    complete_all(cn, &cn->inflight, rc);
}

/* Move what callers queued into the output buffer, connecting first if needed. */
static void take_pending(conn *cn)
{
    pthread_mutex_lock(&cn->lock);
    queue q = cn->pending;
    cn->pending = (queue){0};
    cn->wake_pending = false;
    pthread_mutex_unlock(&cn->lock);
    if (!q.head) return;
    if (cn->c && !cn->inflight.head && jwts_redis_conn_dead(cn->c)) drop_connection(cn, JWTS_OK);
    if (!cn->c) {
        jwts_err rc = jwts_redis_conn_open(cn->cfg, INT64_MAX, &cn->c);
        if (rc) {
            complete_all(cn, &q, rc);
            return;
        }
    }
    int64_t now = jwts_monotonic_ns();
    for (request *r; (r = pop(&q));) {
        jwts_err rc = jwts_redis_conn_append(cn->c, r->cmd, r->cmd_len);
        if (rc) {
            queue one = {0};
            push(&one, r);
            complete_all(cn, &one, rc);
            continue;
        }
        r->sent_ns = now;
        if (r->done && r->deadline_ns < cn->async_due_ns) cn->async_due_ns = r->deadline_ns;
        push(&cn->inflight, r);
    }
}

/* Hand each complete reply to the oldest request in flight; wake the finished ones. */
static jwts_err route_replies(conn *cn)
{
    queue finished = {0};
    jwts_err rc = JWTS_OK;
    for (;;) {
        redisReply *reply = NULL;
        if ((rc = jwts_redis_conn_next(cn->c, &reply))) break;
        if (!reply) break;
        request *r = cn->inflight.head;
        if (!r) {
            freeReplyObject(reply);
            rc = jwts_fail(JWTS_E_PROTOCOL, "redis: a reply nobody asked for");
            break;
        }
        r->replies[r->got++] = reply;
        if (r->got == r->n) push(&finished, pop(&cn->inflight));
    }
    complete_all(cn, &finished, JWTS_OK);
    return rc;
}

static bool output_pending(const conn *cn)
{
    return cn->c && jwts_redis_conn_output_pending(cn->c);
}

/* poll timeout: until the oldest request in flight has waited command_timeout_ms. */
static int stall_timeout_ms(const conn *cn)
{
    if (!cn->inflight.head) return -1;
    int64_t ms = jwts_ns_to_ms_ceil(cn->inflight.head->sent_ns + jwts_ms_to_ns(cn->cfg->command_timeout_ms) -
                                    jwts_monotonic_ns());
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Fail the asynchronous requests in flight whose deadline has passed (they stay in the FIFO,
 * abandoned, until their replies come); the ms until the next such deadline, or -1. The FIFO is
 * walked only once the earliest deadline noted is due (it may have finished since). */
static int expire_async(conn *cn)
{
    int64_t now = jwts_monotonic_ns(), next = INT64_MAX;
    if (now < cn->async_due_ns) {
        if (cn->async_due_ns == INT64_MAX) return -1;
        int64_t ms = jwts_ns_to_ms_ceil(cn->async_due_ns - now);
        return ms > INT_MAX ? INT_MAX : (int)ms;
    }
    for (request *r = cn->inflight.head; r; r = r->next) {
        if (!r->done || atomic_load_explicit(&r->state, memory_order_relaxed) != PENDING) continue;
        if (r->deadline_ns <= now)
            call_done(r, JWTS_E_TIMEOUT, "redis: no reply before the deadline");
        else if (r->deadline_ns < next)
            next = r->deadline_ns;
    }
    cn->async_due_ns = next;
    if (next == INT64_MAX) return -1;
    int64_t ms = jwts_ns_to_ms_ceil(next - now);
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The sooner of two poll timeouts (-1: none). */
static int sooner(int a, int b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static bool stopping(conn *cn)
{
    pthread_mutex_lock(&cn->lock);
    bool stop = cn->stop;
    pthread_mutex_unlock(&cn->lock);
    return stop;
}

static void *io_main(void *arg)
{
    conn *cn = arg;
    while (!stopping(cn)) {
        take_pending(cn);
        if (output_pending(cn)) {
            jwts_err rc = jwts_redis_conn_write(cn->c);
            if (rc) drop_connection(cn, rc);
        }
        struct pollfd fds[2] = {{.fd = cn->wake_fd, .events = POLLIN}, {.fd = -1}};
        if (cn->c) fds[1] = (struct pollfd){.fd = jwts_redis_conn_fd(cn->c), .events = jwts_redis_conn_events(cn->c)};
        int k = poll(fds, 2, sooner(stall_timeout_ms(cn), expire_async(cn)));
        if (k < 0 && errno != EINTR) {
            drop_connection(cn, jwts_fail(JWTS_E_UNAVAILABLE, "redis: poll: %s", strerror(errno)));
            continue;
        }
        if (fds[0].revents) {
            uint64_t count;
            if (read(cn->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN) continue;
        }
        /* POLLOUT with nothing to write: a TLS read that must write first */
        if (cn->c &&
            ((fds[1].revents & (POLLIN | POLLERR | POLLHUP)) || ((fds[1].revents & POLLOUT) && !output_pending(cn)))) {
            jwts_err rc = jwts_redis_conn_fill(cn->c);
            if (!rc) rc = route_replies(cn);
            if (rc) drop_connection(cn, rc);
        }
        expire_async(cn);
        if (cn->inflight.head && stall_timeout_ms(cn) == 0)
            drop_connection(cn, jwts_fail(JWTS_E_TIMEOUT, "redis: no reply within command_timeout_ms (%lld ms)",
                                          (long long)cn->cfg->command_timeout_ms));
    }
    jwts_fail(JWTS_E_CLOSED, "redis store is closed");
    drop_connection(cn, JWTS_E_CLOSED);
    pthread_mutex_lock(&cn->lock);
    queue q = cn->pending;
    cn->pending = (queue){0};
    pthread_mutex_unlock(&cn->lock);
    complete_all(cn, &q, JWTS_E_CLOSED);
    return NULL;
}

/* ---- callers ----------------------------------------------------------------------------- */

/* A request carrying cmds in RESP, in one allocation. */
static jwts_err request_new(const redis_cmd *cmds, size_t n, request **out)
{
    size_t head = sizeof(request) + n * sizeof(redisReply *), len = jwts_redis_resp_len(cmds, n);
    request *r = malloc(head + len);
    if (!r) return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    memset(r, 0, head);
    r->n = n;
    atomic_init(&r->state, PENDING);
    r->cmd = (char *)r + head;
    r->cmd_len = len;
    jwts_redis_resp_write(cmds, n, r->cmd);
    *out = r;
    return JWTS_OK;
}

/* Wait for r to finish or for deadline_ns; on timeout leave r to the I/O thread. */
static jwts_err await(request *r, int64_t deadline_ns)
{
    while (atomic_load_explicit(&r->state, memory_order_acquire) == PENDING) {
        int64_t left = deadline_ns - jwts_monotonic_ns();
        if (left <= 0) {
            int expected = PENDING;
            if (atomic_compare_exchange_strong(&r->state, &expected, ABANDONED))
                return jwts_fail(JWTS_E_TIMEOUT, "redis: no reply before the deadline");
            break; /* it finished just now */
        }
        struct timespec rel = jwts_timespec_of_ns(left);
        syscall(SYS_futex, &r->state, FUTEX_WAIT_PRIVATE, PENDING, &rel, NULL, 0);
    }
    return JWTS_OK;
}

/* Queue r on one of p's connections and wake its I/O thread if needed; JWTS_E_CLOSED (r freed)
 * when the pipeline is closing. */
static jwts_err enqueue(pipeline *p, request *r)
{
    conn *cn = &p->conns[atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed) % p->nconns];
    pthread_mutex_lock(&cn->lock);
    if (cn->stop) {
        pthread_mutex_unlock(&cn->lock);
        request_free(r);
        return jwts_fail(JWTS_E_CLOSED, "redis store is closed");
    }
    push(&cn->pending, r);
    bool wake = !cn->wake_pending;
    cn->wake_pending = true;
    pthread_mutex_unlock(&cn->lock);
    if (wake) {
        uint64_t one = 1;
        if (write(cn->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN) { /* the counter is full: a wake is due */
        }
    }
    return JWTS_OK;
}

static jwts_err pl_run_async(redis_runner *base, int64_t deadline_ns, const redis_cmd *cmds, size_t n,
                             redis_done_fn done, void *arg)
{
    pipeline *p = from_base(base);
    if (atomic_load_explicit(&p->closed, memory_order_acquire))
        return jwts_fail(JWTS_E_CLOSED, "redis store is closed");
    request *r = NULL;
    jwts_err rc = request_new(cmds, n, &r);
    if (rc) return rc;
    r->deadline_ns = deadline_ns;
    r->done = done;
    r->done_arg = arg;
    return enqueue(p, r);
}

static jwts_err pl_run(redis_runner *base, int64_t deadline_ns, const redis_cmd *cmds, size_t n, redisReply **replies)
{
    pipeline *p = from_base(base);
    if (atomic_load_explicit(&p->closed, memory_order_acquire))
        return jwts_fail(JWTS_E_CLOSED, "redis store is closed");
    request *r = NULL;
    jwts_err rc = request_new(cmds, n, &r);
    if (rc) return rc;
    if ((rc = enqueue(p, r))) return rc;
    rc = await(r, deadline_ns);
    if (rc) return rc; /* r now belongs to the I/O thread */
    rc = r->rc;
    if (rc)
        jwts_fail(rc, "%s", r->detail);
    else
        for (size_t i = 0; i < n; i++) replies[i] = r->replies[i], r->replies[i] = NULL;
    request_free(r);
    return rc;
}

/* ---- lifetime ---------------------------------------------------------------------------- */

static void conn_stop(conn *cn)
{
    if (!cn->thread_started) return;
    pthread_mutex_lock(&cn->lock);
    cn->stop = true;
    pthread_mutex_unlock(&cn->lock);
    uint64_t one = 1;
    if (write(cn->wake_fd, &one, sizeof one) < 0) { /* a full counter already wakes it */
    }
    pthread_join(cn->thread, NULL);
    cn->thread_started = false;
}

static void pl_close(redis_runner *base)
{
    pipeline *p = from_base(base);
    if (atomic_exchange(&p->closed, true)) return;
    for (size_t i = 0; i < p->nconns; i++) conn_stop(&p->conns[i]);
}

static void pl_destroy(redis_runner *base)
{
    pipeline *p = from_base(base);
    for (size_t i = 0; p->conns && i < p->nconns; i++) {
        conn *cn = &p->conns[i];
        conn_stop(cn);
        if (cn->wake_fd >= 0) close(cn->wake_fd);
        pthread_mutex_destroy(&cn->lock);
    }
    free(p->conns);
    free(p);
}

static const redis_runner_ops PIPELINE_OPS = {
    .run = pl_run, .run_async = pl_run_async, .close = pl_close, .destroy = pl_destroy};

jwts_err jwts_redis_pipeline_new(const redis_config *cfg, size_t conns, redis_runner **out)
{
    pipeline *p = calloc(1, sizeof *p);
    if (!p) return jwts_fail(JWTS_E_NO_MEMORY, "redis pipeline: out of memory");
    p->base.ops = &PIPELINE_OPS;
    p->conns = calloc(conns, sizeof *p->conns);
    if (!p->conns) {
        free(p);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis pipeline: out of memory");
    }
    p->nconns = conns;
    jwts_err rc = JWTS_OK;
    for (size_t i = 0; i < conns; i++) {
        conn *cn = &p->conns[i];
        cn->cfg = cfg;
        cn->async_due_ns = INT64_MAX;
        pthread_mutex_init(&cn->lock, NULL);
        cn->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (cn->wake_fd < 0 && !rc) rc = jwts_fail(JWTS_E_INTERNAL, "redis pipeline: eventfd: %s", strerror(errno));
    }
    for (size_t i = 0; i < conns && !rc; i++) {
        if (pthread_create(&p->conns[i].thread, NULL, io_main, &p->conns[i]) != 0)
            rc = jwts_fail(JWTS_E_INTERNAL, "redis pipeline: cannot start the I/O thread");
        else
            p->conns[i].thread_started = true;
    }
    if (rc) {
        pl_destroy(&p->base);
        return rc;
    }
    *out = &p->base;
    return JWTS_OK;
}
