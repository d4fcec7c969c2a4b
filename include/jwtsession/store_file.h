/*
 * store_file.h - the file store: sessions kept on disk in an LMDB environment, so they survive a
 * restart of the process that holds them, with no server to run.
 *
 * One directory holds the environment (data.mdb, lock.mdb). Several processes on one machine may
 * open it at once (the CLI next to a running jwtsessiond): LMDB serialises writers through a
 * robust mutex in lock.mdb and readers never block. Sessions are keyed by (user id, session id),
 * so a user's sessions are one key range (the per-user index); a second table keyed by
 * (deadline, user id, session id) is the expiry index, so expiry never scans the whole set: reads
 * ignore expired sessions, writes replace them, and a background sweep removes at most
 * sweep_batch of them from the front of the index per sweep_interval_ms. Every write is one LMDB
 * write transaction: rotate and replace compare and set inside it, and a batch commits or fails
 * as a whole. See docs/file-store.md.
 *
 * Options in the URL query, "file:///path/to/dir?name=value&..." (an unknown option is
 * JWTS_E_INVALID_ARGUMENT naming it; a query option wins over the struct field it sets):
 *   sync=full|group        full (default): every acknowledged write is fsynced before the call
 *                          returns; group: writes are acknowledged once in the OS page cache and
 *                          a flusher fsyncs every sync_window_ms, so an OS crash or power loss
 *                          loses at most the writes of the last window (and may damage the file
 *                          on a filesystem that reorders writes; docs/file-store.md); a killed
 *                          process loses nothing in either mode
 *   sync_window_ms=N       the group commit window, 1..60000 (default 100)
 *   map_size_mb=N          the most the data file may grow to, 1..1048576 (default 1024); a write
 *                          beyond it is JWTS_E_LIMIT. Every process sharing a directory should
 *                          give the same value
 *   max_sessions=N         sessions held at most, 1..1000000000 (default 1,000,000): JWTS_E_LIMIT
 *   sweep_interval_ms=N    period of the expiry sweep, 1..3600000 (default 1000; off: no sweep
 *                          thread, expired sessions go on writes and jwts_store_cleanup)
 *   sweep_batch=N          expired sessions removed per sweep (and by a set that finds the store
 *                          at max_sessions), 1..1000000 (default 1024)
 * Failures: a full map or max_sessions is JWTS_E_LIMIT; a full disk (ENOSPC), a failed fsync or
 * an unreadable directory is JWTS_E_UNAVAILABLE; a corrupt data file, or a directory holding
 * something other than a jwtsession file store, is JWTS_E_MALFORMED. A failed write leaves every
 * acknowledged one in place. Details name the directory and the cause.
 */
#ifndef JWTSESSION_STORE_FILE_H
#define JWTSESSION_STORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* When an acknowledged write is on disk. */
typedef enum jwts_file_sync {
    JWTS_FILE_SYNC_FULL = 0,  /* before the call returns (fsync per write transaction) */
    JWTS_FILE_SYNC_GROUP = 1, /* within sync_window_ms (a flusher thread fsyncs) */
} jwts_file_sync;

/* Options of the file store; a zeroed struct (with a path or url) gives the defaults shown. */
typedef struct jwts_file_options {
    const char *url;           /* "file:///dir?opts", or NULL to use path */
    const char *path;          /* the directory, when url is NULL; created (0700) if missing */
    jwts_file_sync sync;       /* default JWTS_FILE_SYNC_FULL */
    int64_t sync_window_ms;    /* group commit window; default 100 */
    size_t map_size_mb;        /* default 1024 */
    size_t max_sessions;       /* default 1,000,000 */
    int64_t sweep_interval_ms; /* default 1000; JWTS_OFF: no sweep thread */
    size_t sweep_batch;        /* default 1024 */
    const jwts_clock *clock;   /* time source for TTLs; NULL = real clock (must outlive the store) */
} jwts_file_options;

/* Open (creating it if needed) the file store in opts->url or opts->path. */
jwts_err jwts_store_file_new(const jwts_file_options *opts, jwts_store **out);

#ifdef __cplusplus
}
#endif
#endif
