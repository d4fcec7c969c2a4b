/*
 * workers.c - the store workers: requests that wait on the store run on these threads, so the
 * HTTP threads never block on it.
 *
 * http.c suspends a connection whose request needs the store, queues the request here and goes
 * on serving other connections; a worker runs the request (the store call bounded by the
 * request's deadline) and resumes the connection, whose answer the HTTP thread then sends. The
 * queue is FIFO and every request has the same timeout, so a queued request reaches a worker no
 * later than the deadline of the one ahead of it; the run callback answers 503 at once when its
 * own deadline has passed by then. Many workers waiting on a pipelined Redis store share its
 * connections, so the number of requests in flight on the store is the worker count.
 */
#include <pthread.h>
#include <stdlib.h>

#include "daemon.h"

struct jwtsd_workers {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    void **ring; /* capacity slots; head is the oldest */
    size_t capacity, head, count;
    bool stopping;
    void (*run)(void *item);
    pthread_t *threads;
    size_t n_threads;
};

static void *work(void *arg)
{
    jwtsd_workers *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->count && !w->stopping) pthread_cond_wait(&w->ready, &w->lock);
        if (!w->count) break; /* stopping and drained */
        void *item = w->ring[w->head];
        w->head = (w->head + 1) % w->capacity;
        w->count--;
        pthread_mutex_unlock(&w->lock);
        w->run(item);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

jwts_err jwtsd_workers_new(size_t threads, size_t capacity, void (*run)(void *item), jwtsd_workers **out)
{
    *out = NULL;
    jwtsd_workers *w = calloc(1, sizeof(*w));
    if (!w) return JWTS_E_NO_MEMORY;
    w->ring = calloc(capacity, sizeof(*w->ring));
    w->threads = calloc(threads, sizeof(*w->threads));
    w->capacity = capacity;
    w->run = run;
    if (!w->ring || !w->threads) {
        jwtsd_workers_free(w);
        return JWTS_E_NO_MEMORY;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->ready, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024); /* a handler's frames plus OpenSSL's, with room */
    for (; w->n_threads < threads; w->n_threads++)
        if (pthread_create(&w->threads[w->n_threads], &attr, work, w) != 0) break;
    pthread_attr_destroy(&attr);
    if (w->n_threads < threads) {
        jwtsd_workers_free(w);
        return JWTS_E_NO_MEMORY;
    }
    *out = w;
    return JWTS_OK;
}

bool jwtsd_workers_submit(jwtsd_workers *w, void *item)
{
    pthread_mutex_lock(&w->lock);
    bool ok = !w->stopping && w->count < w->capacity;
    if (ok) {
        w->ring[(w->head + w->count) % w->capacity] = item;
        w->count++;
        pthread_cond_signal(&w->ready);
    }
    pthread_mutex_unlock(&w->lock);
    return ok;
}

void jwtsd_workers_free(jwtsd_workers *w)
{
    if (!w) return;
    if (w->n_threads) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_broadcast(&w->ready);
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < w->n_threads; i++) pthread_join(w->threads[i], NULL);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->ready);
    }
    free(w->threads);
    free(w->ring);
    free(w);
}
