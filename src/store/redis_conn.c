/*
 * redis_conn.c - one hiredis connection with deadline-bounded I/O.
 *
 * Contexts are non-blocking: hiredis formats commands and parses replies, and this file moves
 * the bytes with poll() against an absolute deadline, so no call can outlive its ctx and no
 * setsockopt is needed per call. A connection whose round trip failed (timeout, reset, protocol
 * error) is out of step with the server; the caller frees it.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/fail.h"
#include "jwtsession/clock.h"
#include "store/redis.h"

jwts_err jwts_redis_wait_fd(int fd, short events, int64_t deadline_ns)
{
    for (;;) {
        int64_t left = deadline_ns - jwts_monotonic_ns();
        if (left <= 0) return jwts_fail(JWTS_E_TIMEOUT, "redis: deadline passed waiting for the server");
        int64_t ms = (left + 999999) / 1000000;
        struct pollfd p = {.fd = fd, .events = events};
        int k = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
        if (k > 0) return JWTS_OK; /* errors and hang-ups surface in the read or write that follows */
        if (k < 0 && errno != EINTR) return jwts_fail(JWTS_E_UNAVAILABLE, "redis: poll: %s", strerror(errno));
    }
}

void jwts_redis_sleep_within(int64_t deadline_ns, int64_t ms)
{
    int64_t left = deadline_ns - jwts_monotonic_ns(), want = ms * 1000000;
    if (left <= 0) return;
    if (want > left) want = left;
    struct timespec ts = {want / 1000000000, want % 1000000000};
    nanosleep(&ts, NULL);
}

bool jwts_redis_conn_dead(const redisContext *c)
{
    if (!c || c->err || c->fd < 0) return true;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    /* an idle connection has nothing to read: readable means EOF, reset or stray bytes */
    return poll(&p, 1, 0) != 0;
}

static void free_replies(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (replies[i]) freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

static jwts_err flush(redisContext *c, int64_t deadline_ns)
{
    for (;;) {
        int done = 0;
        if (redisBufferWrite(c, &done) != REDIS_OK) return jwts_redis_io_fail(c, "write");
        if (done) return JWTS_OK;
        jwts_err rc = jwts_redis_wait_fd(c->fd, POLLOUT, deadline_ns);
        if (rc) return rc;
    }
}

static jwts_err read_reply(redisContext *c, int64_t deadline_ns, redisReply **out)
{
    for (;;) {
        void *r = NULL;
        if (redisGetReplyFromReader(c, &r) != REDIS_OK) return jwts_redis_io_fail(c, "read");
        if (r) {
            *out = r;
            return JWTS_OK;
        }
        jwts_err rc = jwts_redis_wait_fd(c->fd, POLLIN, deadline_ns);
        if (rc) return rc;
        if (redisBufferRead(c) != REDIS_OK) return jwts_redis_io_fail(c, "read");
    }
}

jwts_err jwts_redis_conn_read(redisContext *c, int64_t deadline_ns, redisReply **reply)
{
    *reply = NULL;
    return read_reply(c, deadline_ns, reply);
}

jwts_err jwts_redis_conn_run(redisContext *c, int64_t deadline_ns, const redis_cmd *cmds, size_t n,
                             redisReply **replies)
{
    for (size_t i = 0; i < n; i++) replies[i] = NULL;
    for (size_t i = 0; i < n; i++)
        if (redisAppendCommandArgv(c, cmds[i].argc, (const char **)cmds[i].argv, cmds[i].argvlen) != REDIS_OK)
            return jwts_redis_io_fail(c, "format");
    jwts_err rc = flush(c, deadline_ns);
    for (size_t i = 0; i < n && !rc; i++) rc = read_reply(c, deadline_ns, &replies[i]);
    if (rc) free_replies(replies, n);
    return rc;
}

/* Wait for the non-blocking connect of c to finish. */
static jwts_err finish_connect(redisContext *c, const char *where, int64_t deadline_ns)
{
    jwts_err rc = jwts_redis_wait_fd(c->fd, POLLOUT, deadline_ns);
    if (rc == JWTS_E_TIMEOUT) return jwts_fail(JWTS_E_TIMEOUT, "redis connect %s: timed out", where);
    if (rc) return rc;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err) return jwts_fail(JWTS_E_UNAVAILABLE, "redis connect %s: %s", where, strerror(err));
    return JWTS_OK;
}

/* AUTH and SELECT in one round trip, as configured. */
static jwts_err handshake(redisContext *c, const redis_config *cfg, int64_t deadline_ns)
{
    const redis_addr *a = &cfg->addr;
    char db[16];
    const char *auth[3] = {"AUTH"}, *select[2] = {"SELECT", db};
    size_t auth_len[3] = {4}, select_len[2] = {6, (size_t)snprintf(db, sizeof db, "%d", a->db)};
    redis_cmd cmds[2];
    size_t n = 0;
    if (a->password) {
        int argc = 1;
        if (a->username) auth[argc] = a->username, auth_len[argc++] = strlen(a->username);
        auth[argc] = a->password, auth_len[argc++] = strlen(a->password);
        cmds[n++] = (redis_cmd){argc, auth, auth_len};
    }
    if (a->db) cmds[n++] = (redis_cmd){2, select, select_len};
    if (n == 0) return JWTS_OK;
    redisReply *replies[2] = {0};
    jwts_err rc = jwts_redis_conn_run(c, deadline_ns, cmds, n, replies);
    for (size_t i = 0; i < n && !rc; i++)
        if (replies[i]->type == REDIS_REPLY_ERROR)
            rc = jwts_redis_reply_fail(replies[i], a->password && i == 0 ? "AUTH" : "SELECT");
    for (size_t i = 0; i < n; i++)
        if (replies[i]) freeReplyObject(replies[i]);
    return rc;
}

jwts_err jwts_redis_conn_open(const redis_config *cfg, int64_t deadline_ns, redisContext **out)
{
    *out = NULL;
    int64_t connect_deadline = jwts_monotonic_ns() + cfg->connect_timeout_ms * 1000000;
    if (connect_deadline < deadline_ns) deadline_ns = connect_deadline;
    char where[300];
    if (cfg->addr.unix_path)
        snprintf(where, sizeof where, "%s", cfg->addr.unix_path);
    else
        snprintf(where, sizeof where, "%s:%d", cfg->addr.host, cfg->addr.port);
    redisContext *c = cfg->addr.unix_path ? redisConnectUnixNonBlock(cfg->addr.unix_path)
                                          : redisConnectNonBlock(cfg->addr.host, cfg->addr.port);
    if (!c) return jwts_fail(JWTS_E_NO_MEMORY, "redis connect %s: out of memory", where);
    jwts_err rc;
    if (c->err)
        rc = jwts_fail(c->err == REDIS_ERR_OOM ? JWTS_E_NO_MEMORY : JWTS_E_UNAVAILABLE, "redis connect %s: %s", where,
                       c->errstr);
    else
        rc = finish_connect(c, where, deadline_ns);
    if (!rc) rc = handshake(c, cfg, deadline_ns);
    if (rc) {
        redisFree(c);
        return rc;
    }
    *out = c;
    return JWTS_OK;
}
