/*
 * redis_conn.c - one Redis connection of our own, plain or TLS, with deadline-bounded I/O.
 *
 * hiredis is used only to parse replies (its redisReader); commands are written by redis_resp.c
 * and the bytes move here, over a non-blocking socket: read()/send() for plain TCP and
 * unix sockets, SSL_read()/SSL_write() (redis_tls.c) for TLS, each waiting with poll() against an
 * absolute deadline, so no call can outlive its ctx and no setsockopt is needed per call. A TLS
 * call may want the other direction (WANT_READ during a write); the poll asks for what it wants.
 * A connection whose round trip failed (timeout, reset, protocol error) is out of step with the
 * server; the caller frees it.
 *
 * What is read waits in the connection's input buffer and goes to the reader at most FEED_SLICE
 * bytes at a time, as replies are asked for: the reader moves its unread bytes to the front of
 * its buffer after each reply once it has consumed 1 KiB, so a 16 KiB read fed whole was moved
 * about fifty times over in a burst of small replies (the auto-pipeline's reads).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "store/redis.h"

/* An array announced beyond JWTS_REDIS_MAX_ELEMENTS, seen on this thread by the last read (the
 * reader only says "out of memory" or "out of range"). */
static _Thread_local long long refused_elements;

#define READ_CHUNK 16384
#define FEED_SLICE 1024
#define BUF_KEEP 65536 /* an empty buffer larger than this (a big reply, a long batch) is let go */

struct redis_conn {
    int fd;
    SSL *ssl;
    redisReader *reader;
    char *obuf; /* commands not yet written: [ooff, olen) */
    size_t olen, ooff, ocap;
    char *ibuf; /* bytes read, not yet fed to the reader: [ioff, ilen) */
    size_t ilen, ioff, icap;
    short want;      /* what the last TLS call that could not proceed waits for (0: nothing) */
    int64_t spin_ns; /* redis_config.spin_ns */
    char where[300];
};

jwts_err jwts_redis_wait_fd(int fd, short events, int64_t deadline_ns)
{
    for (;;) {
        int64_t left = deadline_ns - jwts_monotonic_ns();
        if (left <= 0) return jwts_fail(JWTS_E_TIMEOUT, "redis: deadline passed waiting for the server");
        int64_t ms = jwts_ns_to_ms_ceil(left);
        struct pollfd p = {.fd = fd, .events = events};
        int k = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
        if (k > 0) return JWTS_OK; /* errors and hang-ups surface in the read or write that follows */
        if (k < 0 && errno != EINTR) return jwts_fail(JWTS_E_UNAVAILABLE, "redis: poll: %s", strerror(errno));
    }
}

void jwts_redis_sleep_within(int64_t deadline_ns, int64_t ms)
{
    int64_t left = deadline_ns - jwts_monotonic_ns(), want = jwts_ms_to_ns(ms);
    if (left <= 0) return;
    if (want > left) want = left;
    struct timespec ts = jwts_timespec_of_ns(want);
    nanosleep(&ts, NULL);
}

void jwts_redis_conn_free(redis_conn *c)
{
    if (!c) return;
    if (c->ssl) SSL_free(c->ssl); /* no close_notify: the socket closes under it anyway */
    if (c->fd >= 0) close(c->fd);
    if (c->reader) redisReaderFree(c->reader);
    free(c->obuf);
    free(c->ibuf);
    free(c);
}

int jwts_redis_conn_fd(const redis_conn *c)
{
    return c->fd;
}

bool jwts_redis_conn_output_pending(const redis_conn *c)
{
    return c->ooff < c->olen;
}

short jwts_redis_conn_events(const redis_conn *c)
{
    return (short)(POLLIN | (jwts_redis_conn_output_pending(c) ? POLLOUT : 0) | c->want);
}

/* ---- moving bytes ------------------------------------------------------------------------ */

/* Read up to cap bytes: > 0 bytes read, 0 would block (*want set), -1 failed (detail set). */
static ssize_t io_read(redis_conn *c, char *buf, size_t cap, short *want)
{
    if (c->ssl) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_read(c->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
        if (r > 0) return r;
        return jwts_redis_tls_error(c->ssl, r, "read", c->where, want) ? -1 : 0;
    }
    for (;;) {
        ssize_t r = read(c->fd, buf, cap);
        if (r > 0) return r;
        if (r == 0) {
            jwts_fail(JWTS_E_UNAVAILABLE, "redis read: server closed the connection");
            return -1;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *want = POLLIN;
            return 0;
        }
        jwts_fail(JWTS_E_UNAVAILABLE, "redis read: %s", strerror(errno));
        return -1;
    }
}

/* Write up to len bytes: as io_read. */
static ssize_t io_write(redis_conn *c, const char *buf, size_t len, short *want)
{
    if (c->ssl) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
        if (r > 0) return r;
        return jwts_redis_tls_error(c->ssl, r, "write", c->where, want) ? -1 : 0;
    }
    for (;;) {
        ssize_t r = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            *want = POLLOUT;
            return 0;
        }
        jwts_fail(JWTS_E_UNAVAILABLE, "redis write: %s", strerror(errno));
        return -1;
    }
}

/* Room for len more bytes at the end of c's output buffer: where they go, or NULL. */
static char *output_room(redis_conn *c, size_t len)
{
    if (c->ooff == c->olen) {
        c->ooff = c->olen = 0;
        if (c->ocap > BUF_KEEP) free(c->obuf), c->obuf = NULL, c->ocap = 0;
    }
    if (c->olen + len > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 1024;
        while (cap < c->olen + len) cap *= 2;
        char *b = realloc(c->obuf, cap);
        if (!b) {
            jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
            return NULL;
        }
        c->obuf = b, c->ocap = cap;
    }
    char *at = c->obuf + c->olen;
    c->olen += len;
    return at;
}

jwts_err jwts_redis_conn_append(redis_conn *c, const char *resp, size_t len)
{
    char *at = output_room(c, len);
    if (!at) return JWTS_E_NO_MEMORY;
    memcpy(at, resp, len);
    return JWTS_OK;
}

jwts_err jwts_redis_conn_write(redis_conn *c)
{
    c->want = 0;
    while (c->ooff < c->olen) {
        short want = 0;
        ssize_t n = io_write(c, c->obuf + c->ooff, c->olen - c->ooff, &want);
        if (n < 0) return JWTS_E_UNAVAILABLE;
        if (n == 0) {
            c->want = want;
            return JWTS_OK;
        }
        c->ooff += (size_t)n;
    }
    c->ooff = c->olen = 0;
    return JWTS_OK;
}

/* Room for READ_CHUNK more bytes at the end of c's input buffer. */
static jwts_err input_room(redis_conn *c)
{
    if (c->ioff == c->ilen) {
        c->ioff = c->ilen = 0;
        if (c->icap > BUF_KEEP) free(c->ibuf), c->ibuf = NULL, c->icap = 0;
    }
    if (c->icap - c->ilen >= READ_CHUNK) return JWTS_OK;
    if (c->ioff > 0) { /* a slice-sized tail: move it to the front */
        memmove(c->ibuf, c->ibuf + c->ioff, c->ilen - c->ioff);
        c->ilen -= c->ioff, c->ioff = 0;
        if (c->icap - c->ilen >= READ_CHUNK) return JWTS_OK;
    }
    char *b = realloc(c->ibuf, c->ilen + READ_CHUNK);
    if (!b) return jwts_fail(JWTS_E_NO_MEMORY, "redis read: out of memory");
    c->ibuf = b, c->icap = c->ilen + READ_CHUNK;
    return JWTS_OK;
}

jwts_err jwts_redis_conn_fill(redis_conn *c)
{
    c->want = 0;
    for (;;) {
        jwts_err rc = input_room(c);
        if (rc) return rc;
        short want = 0;
        ssize_t n = io_read(c, c->ibuf + c->ilen, READ_CHUNK, &want);
        if (n < 0) return JWTS_E_UNAVAILABLE;
        if (n == 0) {
            if (want != POLLIN) c->want = want;
            return JWTS_OK;
        }
        c->ilen += (size_t)n;
        /* a short plain read drained the socket; TLS: nothing decrypted is left in the SSL */
        if (c->ssl ? SSL_pending(c->ssl) == 0 : (size_t)n < READ_CHUNK) return JWTS_OK;
    }
}

jwts_err jwts_redis_conn_next(redis_conn *c, redisReply **reply)
{
    *reply = NULL;
    for (;;) {
        void *r = NULL;
        refused_elements = 0;
        if (redisReaderGetReply(c->reader, &r) != REDIS_OK && refused_elements)
            return jwts_fail(JWTS_E_PROTOCOL, "redis read: a reply announced %lld elements (at most %d)",
                             refused_elements, JWTS_REDIS_MAX_ELEMENTS);
        if (c->reader->err)
            return jwts_fail(JWTS_E_PROTOCOL, "redis read: protocol error: %s", c->reader->errstr);
        if (r || c->ioff == c->ilen) {
            *reply = r;
            return JWTS_OK;
        }
        size_t slice = c->ilen - c->ioff < FEED_SLICE ? c->ilen - c->ioff : FEED_SLICE;
        if (redisReaderFeed(c->reader, c->ibuf + c->ioff, slice) != REDIS_OK)
            return jwts_fail(JWTS_E_NO_MEMORY, "redis read: out of memory");
        c->ioff += slice;
    }
}

static jwts_err flush(redis_conn *c, int64_t deadline_ns)
{
    for (;;) {
        jwts_err rc = jwts_redis_conn_write(c);
        if (rc || !jwts_redis_conn_output_pending(c)) return rc;
        if ((rc = jwts_redis_wait_fd(c->fd, c->want ? c->want : POLLOUT, deadline_ns))) return rc;
    }
}

/* Busy-poll fd for input for up to spin_ns (redis_config.spin_ns): a reply that comes within it
 * is read without the sleep and wake-up of a blocking poll, at the price of the CPU spun. */
static bool spin_readable(int fd, int64_t spin_ns)
{
    int64_t end = jwts_monotonic_ns() + spin_ns;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    do {
        if (poll(&p, 1, 0) != 0) return true; /* readable, an error or EINTR: read and see */
    } while (jwts_monotonic_ns() < end);
    return false;
}

static jwts_err read_reply(redis_conn *c, int64_t deadline_ns, redisReply **out)
{
    for (;;) {
        jwts_err rc = jwts_redis_conn_next(c, out);
        if (rc || *out) return rc;
        short want = c->want ? c->want : POLLIN;
        bool ready = c->spin_ns > 0 && want == POLLIN && spin_readable(c->fd, c->spin_ns);
        if (!ready && (rc = jwts_redis_wait_fd(c->fd, want, deadline_ns))) return rc;
        if ((rc = jwts_redis_conn_fill(c))) return rc;
    }
}

bool jwts_redis_conn_dead(redis_conn *c)
{
    if (!c || c->fd < 0) return true;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    /* an idle connection has nothing to read: readable means EOF, reset or stray bytes */
    if (poll(&p, 1, 0) == 0) return false;
    if (!c->ssl || (p.revents & (POLLERR | POLLHUP))) return true;
    /* TLS 1.3 servers send session tickets after the handshake: consume those, die on data */
    char b;
    short want = 0;
    ssize_t n = io_read(c, &b, 1, &want);
    ERR_clear_error();
    return n != 0;
}

jwts_err jwts_redis_conn_read(redis_conn *c, int64_t deadline_ns, redisReply **reply)
{
    *reply = NULL;
    return read_reply(c, deadline_ns, reply);
}

static void free_replies(redisReply **replies, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (replies[i]) freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
}

jwts_err jwts_redis_conn_run(redis_conn *c, int64_t deadline_ns, const redis_cmd *cmds, size_t n, redisReply **replies)
{
    for (size_t i = 0; i < n; i++) replies[i] = NULL;
    size_t len = jwts_redis_resp_len(cmds, n);
    char *at = output_room(c, len);
    if (!at) return JWTS_E_NO_MEMORY;
    jwts_redis_resp_write(cmds, n, at);
    jwts_err rc = flush(c, deadline_ns);
    for (size_t i = 0; i < n && !rc; i++) rc = read_reply(c, deadline_ns, &replies[i]);
    if (rc) free_replies(replies, n);
    return rc;
}

/* ---- connecting -------------------------------------------------------------------------- */

/* Wait for the non-blocking connect of fd to finish. */
static jwts_err finish_connect(int fd, const char *where, int64_t deadline_ns)
{
    jwts_err rc = jwts_redis_wait_fd(fd, POLLOUT, deadline_ns);
    if (rc == JWTS_E_TIMEOUT) return jwts_fail(JWTS_E_TIMEOUT, "redis connect %s: timed out", where);
    if (rc) return rc;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err) return jwts_fail(JWTS_E_UNAVAILABLE, "redis connect %s: %s", where, strerror(err));
    return JWTS_OK;
}

/* A connected non-blocking socket to addr (len bytes) of family, in *fd. */
static jwts_err connect_one(int family, const struct sockaddr *addr, socklen_t len, const char *where,
                            int64_t deadline_ns, int *fd)
{
    *fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*fd < 0) return jwts_fail(JWTS_E_UNAVAILABLE, "redis connect %s: socket: %s", where, strerror(errno));
    jwts_err rc = JWTS_OK;
    if (connect(*fd, addr, len) != 0) {
        if (errno == EINPROGRESS)
            rc = finish_connect(*fd, where, deadline_ns);
        else
            rc = jwts_fail(JWTS_E_UNAVAILABLE, "redis connect %s: %s", where, strerror(errno));
    }
    if (!rc && family != AF_UNIX) {
        int one = 1;
        setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (rc) close(*fd), *fd = -1;
    return rc;
}

static jwts_err connect_socket(const redis_addr *a, const char *where, int64_t deadline_ns, int *fd)
{
    if (a->unix_path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(a->unix_path) >= sizeof sun.sun_path)
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis connect %s: socket path too long", where);
        strcpy(sun.sun_path, a->unix_path);
        return connect_one(AF_UNIX, (const struct sockaddr *)&sun, sizeof sun, where, deadline_ns, fd);
    }
    char port[8];
    snprintf(port, sizeof port, "%d", a->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(a->host, port, &hints, &res);
    if (g != 0)
        return jwts_fail(JWTS_E_UNAVAILABLE, "redis connect %s: %s", where,
                         g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
    jwts_err rc = JWTS_E_UNAVAILABLE;
    for (struct addrinfo *ai = res; ai && rc && rc != JWTS_E_TIMEOUT; ai = ai->ai_next)
        rc = connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen, where, deadline_ns, fd);
    freeaddrinfo(res);
    return rc;
}

/* AUTH and SELECT in one round trip, as configured. */
static jwts_err handshake(redis_conn *c, const redis_config *cfg, int64_t deadline_ns)
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

#if HIREDIS_MAJOR >= 1
redisReader *jwts_redis_reader_new(void)
{
    redisReader *r = redisReaderCreate();
    if (r) r->maxelements = JWTS_REDIS_MAX_ELEMENTS;
    return r;
}
#else
/* hiredis 0.14 bounds nothing: its array constructor is wrapped, and a refusal (NULL) makes the
 * reader fail the reply. */
static redisReplyObjectFunctions BOUNDED;
static void *(*create_array)(const redisReadTask *, int);
static pthread_once_t BOUNDED_ONCE = PTHREAD_ONCE_INIT;

static void *create_array_bounded(const redisReadTask *task, int elements)
{
    if (elements > JWTS_REDIS_MAX_ELEMENTS) {
        refused_elements = elements;
        return NULL;
    }
    return create_array(task, elements);
}

static void bound_functions(void)
{
    redisReader *r = redisReaderCreate(); /* its functions are hiredis's own */
    if (!r) return;
    BOUNDED = *r->fn;
    create_array = BOUNDED.createArray;
    BOUNDED.createArray = create_array_bounded;
    redisReaderFree(r);
}

redisReader *jwts_redis_reader_new(void)
{
    pthread_once(&BOUNDED_ONCE, bound_functions);
    return create_array ? redisReaderCreateWithFunctions(&BOUNDED) : NULL;
}
#endif

jwts_err jwts_redis_conn_open(const redis_config *cfg, int64_t deadline_ns, redis_conn **out)
{
    *out = NULL;
    int64_t connect_deadline = jwts_deadline_in_ms(cfg->connect_timeout_ms);
    if (connect_deadline < deadline_ns) deadline_ns = connect_deadline;
    redis_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->reader = jwts_redis_reader_new())) {
        free(c);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis connect: out of memory");
    }
    c->fd = -1;
    c->spin_ns = cfg->spin_ns;
    if (cfg->addr.unix_path)
        snprintf(c->where, sizeof c->where, "%s", cfg->addr.unix_path);
    else
        snprintf(c->where, sizeof c->where, "%s:%d", cfg->addr.host, cfg->addr.port);
    jwts_err rc = connect_socket(&cfg->addr, c->where, deadline_ns, &c->fd);
    if (!rc && cfg->tls) rc = jwts_redis_tls_handshake(cfg->tls, c->fd, cfg->addr.host, c->where, deadline_ns, &c->ssl);
    if (!rc) rc = handshake(c, cfg, deadline_ns);
    if (rc) {
        jwts_redis_conn_free(c);
        return rc;
    }
    *out = c;
    return JWTS_OK;
}
