/*
 * guard.c - slow and idle connections cannot hold the server: a deadline for each request head
 * and a share of the connections kept for new clients.
 *
 * Every connection is tracked from accept (libmicrohttpd's notify-connection callback) to close.
 * While it waits for a request head it sits on one of two lists, oldest first:
 *   - fresh: accepted, no request yet; it must complete its head within --head-timeout of accept
 *     (or --connection-timeout when shorter; an idle timer alone lets a client that sends one header
 *     line a second stay forever);
 *   - kept:  kept alive after an answer; its next head is due within --connection-timeout.
 * A reaper thread closes connections past their deadline. When a new connection arrives and more
 * than --max-connections minus the reserve (--reserve-connections percent) are open, the oldest
 * waiting connection is closed to make room; when none is waiting (every one is busy with a
 * request), the new connection is marked busy and answered 503 as soon as its head is in.
 *
 * Closing a connection from outside libmicrohttpd's thread is shutdown(2) on its socket: the
 * server then sees end-of-file and closes it itself. The socket stays valid while we hold the
 * mutex, because libmicrohttpd reports a connection closed (jwtsd_guard_close, which takes the
 * mutex) before it closes its socket.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon.h"
#include "jwtsession/error.h"

typedef enum { LIST_NONE = 0, LIST_FRESH, LIST_KEPT } list_id;

struct jwtsd_conn {
    jwtsd_conn *prev, *next;
    int fd;
    int64_t since_ns; /* accept, or the end of the previous request */
    list_id list;
    bool dead; /* we shut its socket down: it no longer counts as open */
    bool busy; /* no room when it arrived: answer 503 */
};

typedef struct conn_list {
    jwtsd_conn *head, *tail;
} conn_list;

struct jwtsd_guard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t reaper;
    bool stop;
    conn_list fresh, kept;
    size_t live; /* connections open and not shut down by us */
    size_t room; /* --max-connections minus the reserve */
    int64_t head_ns, keep_ns;
    atomic_long closed_deadline, closed_for_room, refused;
};

/* ---- lists (mutex held) ------------------------------------------------------------------------- */

static conn_list *list_of(jwtsd_guard *g, list_id id)
{
    return id == LIST_FRESH ? &g->fresh : id == LIST_KEPT ? &g->kept : NULL;
}

static void unlink_conn(jwtsd_guard *g, jwtsd_conn *c)
{
    conn_list *l = list_of(g, c->list);
    if (!l) return;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = LIST_NONE;
}

static void append(jwtsd_guard *g, jwtsd_conn *c, list_id id)
{
    conn_list *l = list_of(g, id);
    c->list = id;
    c->next = NULL;
    c->prev = l->tail;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

/* Shut c's socket down; libmicrohttpd then closes the connection. */
static void shut(jwtsd_guard *g, jwtsd_conn *c)
{
    unlink_conn(g, c);
    if (c->dead) return;
    c->dead = true;
    g->live--;
    shutdown(c->fd, SHUT_RDWR);
}

/* The connection that has waited longest for a request head, other than self (NULL: none). */
static jwtsd_conn *oldest_waiting(jwtsd_guard *g, const jwtsd_conn *self)
{
    jwtsd_conn *f = g->fresh.head == self ? self->next : g->fresh.head;
    jwtsd_conn *k = g->kept.head == self ? self->next : g->kept.head;
    if (!f || !k) return f ? f : k;
    return f->since_ns <= k->since_ns ? f : k;
}

/* ---- the reaper ----------------------------------------------------------------------------------- */

/* Close every connection past its deadline; return the next deadline (or now + 250 ms). */
static int64_t reap(jwtsd_guard *g, int64_t now)
{
    while (g->fresh.head && g->fresh.head->since_ns + g->head_ns <= now) {
        shut(g, g->fresh.head);
        atomic_fetch_add(&g->closed_deadline, 1);
    }
    while (g->kept.head && g->kept.head->since_ns + g->keep_ns <= now) {
        shut(g, g->kept.head);
        atomic_fetch_add(&g->closed_deadline, 1);
    }
    int64_t next = now + 250 * JWTS_NS_PER_MS;
    if (g->fresh.head && g->fresh.head->since_ns + g->head_ns < next) next = g->fresh.head->since_ns + g->head_ns;
    if (g->kept.head && g->kept.head->since_ns + g->keep_ns < next) next = g->kept.head->since_ns + g->keep_ns;
    return next;
}

static void *reaper_main(void *arg)
{
    jwtsd_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        int64_t next = reap(g, jwts_monotonic_ns());
        struct timespec ts = jwts_timespec_of_ns(next);
        pthread_cond_timedwait(&g->cv, &g->mu, &ts); /* CLOCK_MONOTONIC, like jwts_monotonic_ns */
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* ---- the interface -------------------------------------------------------------------------------- */

jwts_err jwtsd_guard_new(const jwtsd_config *cfg, jwtsd_guard **out)
{
    jwtsd_guard *g = calloc(1, sizeof(*g));
    if (!g) return jwts_fail(JWTS_E_NO_MEMORY, "connection guard: out of memory");
    size_t max = (size_t)cfg->max_connections;
    size_t reserve = max * (size_t)cfg->reserve_connections / 100;
    if (reserve < 1) reserve = 1;
    g->room = max > reserve ? max - reserve : 1;
    g->head_ns = jwts_ms_to_ns(cfg->head_timeout_ms < cfg->connection_timeout_ms ? cfg->head_timeout_ms
                                                                                 : cfg->connection_timeout_ms);
    g->keep_ns = jwts_ms_to_ns(cfg->connection_timeout_ms);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int e = pthread_mutex_init(&g->mu, NULL);
    if (!e) e = pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (!e) e = pthread_create(&g->reaper, NULL, reaper_main, g);
    if (e) {
        free(g);
        return jwts_fail(JWTS_E_INTERNAL, "connection guard: cannot start its thread (errno %d)", e);
    }
    *out = g;
    return JWTS_OK;
}

void jwtsd_guard_free(jwtsd_guard *g)
{
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->reaper, NULL);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

jwtsd_conn *jwtsd_guard_open(jwtsd_guard *g, int fd)
{
    jwtsd_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->fd = fd;
    c->since_ns = jwts_monotonic_ns();
    pthread_mutex_lock(&g->mu);
    g->live++;
    append(g, c, LIST_FRESH);
    while (g->live > g->room) {
        jwtsd_conn *victim = oldest_waiting(g, c);
        if (!victim) break;
        shut(g, victim);
        atomic_fetch_add(&g->closed_for_room, 1);
    }
    if (g->live > g->room) {
        c->busy = true;
        atomic_fetch_add(&g->refused, 1);
    }
    pthread_mutex_unlock(&g->mu);
    return c;
}

bool jwtsd_guard_head(jwtsd_guard *g, jwtsd_conn *c)
{
    pthread_mutex_lock(&g->mu);
    unlink_conn(g, c);
    bool busy = c->busy;
    pthread_mutex_unlock(&g->mu);
    return busy;
}

void jwtsd_guard_idle(jwtsd_guard *g, jwtsd_conn *c)
{
    pthread_mutex_lock(&g->mu);
    if (!c->dead && c->list == LIST_NONE) {
        c->since_ns = jwts_monotonic_ns();
        c->busy = false;
        append(g, c, LIST_KEPT);
    }
    pthread_mutex_unlock(&g->mu);
}

void jwtsd_guard_close(jwtsd_guard *g, jwtsd_conn *c)
{
    pthread_mutex_lock(&g->mu);
    unlink_conn(g, c);
    if (!c->dead) g->live--;
    pthread_mutex_unlock(&g->mu);
    free(c);
}

void jwtsd_guard_stats(jwtsd_guard *g, long *closed_deadline, long *closed_for_room, long *refused)
{
    *closed_deadline = atomic_load(&g->closed_deadline);
    *closed_for_room = atomic_load(&g->closed_for_room);
    *refused = atomic_load(&g->refused);
}
