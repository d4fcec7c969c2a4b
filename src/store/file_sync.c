/*
 * file_sync.c - the file store's background threads: the expiry sweep and the group-commit
 * flusher.
 *
 * The sweep removes at most sweep_batch expired sessions from the front of the expiry index per
 * sweep_interval_ms, in one write transaction (none when nothing is due), so its cost is bounded
 * whatever the store holds. In group mode (MDB_NOSYNC) commits skip their fsync and the flusher
 * calls mdb_env_sync every sync_window_ms: a write acknowledged at t is on disk by about
 * t + sync_window_ms. A failed background fsync is remembered and makes later writes fail
 * (JWTS_E_UNAVAILABLE) until one succeeds, so the loss window cannot silently grow.
 */
#include <time.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "store/file.h"

#define CLEANUP_CHUNK 10000 /* sessions removed per transaction by an unbounded sweep */

jwts_err jwts_file_sweep(file_store *fs, size_t max, size_t *removed)
{
    *removed = 0;
    for (;;) {
        size_t chunk = max ? max : CLEANUP_CHUNK, n = 0;
        MDB_txn *txn;
        int rc = mdb_txn_begin(fs->env, NULL, 0, &txn);
        if (rc) return jwts_file_fail(fs, rc, "sweep");
        rc = jwts_file_sweep_txn(fs, txn, jwts_clock_now_ms(fs->opts.clock), chunk, &n);
        if (rc || n == 0) {
            jwts_file_abort(fs, txn);
            return rc ? jwts_file_fail(fs, rc, "sweep") : JWTS_OK;
        }
        rc = jwts_file_commit(fs, txn);
        if (rc) return jwts_file_fail(fs, rc, "sweep commit");
        *removed += n;
        if (max || n < chunk) return JWTS_OK;
    }
}

/* Wait ms on the stop condition; true when asked to stop. bg_lock is held. */
static bool wait_or_stop(file_store *fs, int64_t ms)
{
    struct timespec until = jwts_monotonic_timespec_in_ms(ms);
    while (!fs->bg_stop && pthread_cond_timedwait(&fs->bg_cond, &fs->bg_lock, &until) == 0) {
    }
    return fs->bg_stop;
}

static void *sweeper_main(void *arg)
{
    file_store *fs = arg;
    pthread_mutex_lock(&fs->bg_lock);
    while (!wait_or_stop(fs, fs->opts.sweep_interval_ms)) {
        pthread_mutex_unlock(&fs->bg_lock);
        size_t removed;
        (void)jwts_file_sweep(fs, fs->opts.sweep_batch, &removed); /* retried next period */
        pthread_mutex_lock(&fs->bg_lock);
    }
    pthread_mutex_unlock(&fs->bg_lock);
    return NULL;
}

static void flush_now(file_store *fs)
{
    int rc = mdb_env_sync(fs->env, 1);
    atomic_store(&fs->sync_failed, rc);
}

static void *flusher_main(void *arg)
{
    file_store *fs = arg;
    pthread_mutex_lock(&fs->bg_lock);
    while (!wait_or_stop(fs, fs->opts.sync_window_ms)) {
        pthread_mutex_unlock(&fs->bg_lock);
        flush_now(fs);
        pthread_mutex_lock(&fs->bg_lock);
    }
    pthread_mutex_unlock(&fs->bg_lock);
    return NULL;
}

jwts_err jwts_file_threads_start(file_store *fs)
{
    if (fs->opts.sweep_interval_ms > 0) {
        if (pthread_create(&fs->sweeper, NULL, sweeper_main, fs) != 0)
            return jwts_fail(JWTS_E_INTERNAL, "file store: cannot start the sweep thread");
        fs->sweeper_running = true;
    }
    if (fs->opts.sync == JWTS_FILE_SYNC_GROUP) {
        if (pthread_create(&fs->flusher, NULL, flusher_main, fs) != 0)
            return jwts_fail(JWTS_E_INTERNAL, "file store: cannot start the flusher thread");
        fs->flusher_running = true;
    }
    return JWTS_OK;
}

void jwts_file_threads_stop(file_store *fs)
{
    pthread_mutex_lock(&fs->bg_lock);
    fs->bg_stop = true;
    pthread_cond_broadcast(&fs->bg_cond);
    pthread_mutex_unlock(&fs->bg_lock);
    bool flush = fs->flusher_running; /* only once the environment is open and in group mode */
    if (fs->sweeper_running) pthread_join(fs->sweeper, NULL);
    if (fs->flusher_running) pthread_join(fs->flusher, NULL);
    fs->sweeper_running = fs->flusher_running = false;
    if (flush) flush_now(fs);
}
