/*
 * file.h - private: the parts of the file store (LMDB) and how they fit.
 *
 *   file_url.c      parse "file:///dir?opts" into jwts_file_options (the query options)
 *   file_env.c      open the environment: directory, map size, format record, size check; map
 *                   LMDB and errno failures to jwts_err; the pool of read transactions
 *   file_records.c  keys and values: (user, session) keys, the expiry index, records, the sweep
 *   file_sync.c     the background threads: expiry sweep and the group-commit flusher
 *   file_claim.c    one handle per directory per process (the process-wide list of open ones)
 *   file_store.c    the jwts_store vtable and jwts_store_file_new
 *
 * Tables (LMDB named databases):
 *   "meta"      "format" -> FILE_FORMAT (what the directory holds, and its version)
 *   "sessions"  user_id NUL session_id -> the session record with its deadline (file_records.c);
 *               a user's sessions are the key range "user_id NUL"
 *   "expiry"    8-byte big-endian deadline + user_id NUL session_id -> empty; sorted by deadline
 *   "ids"       session_id NUL user_id -> empty: who holds each session id, so get_by_id finds a
 *               session from its id alone (a range of one entry, two if users share an id)
 */
#ifndef JWTS_STORE_FILE_PRIVATE_H
#define JWTS_STORE_FILE_PRIVATE_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "jwtsession/store_file.h"

#define FILE_FORMAT "jwtsession file store 2" /* 2: the "ids" table */
#define FILE_KEY_MAX (JWTS_USER_ID_MAX + 1 + JWTS_SESSION_ID_MAX)
#define FILE_EXPIRY_KEY_MAX (8 + FILE_KEY_MAX)
#define FILE_READ_POOL 32 /* reset read transactions kept for reuse */

typedef struct file_store {
    jwts_store base;
    jwts_file_options opts; /* url NULL; path owned */
    char *path;
    MDB_env *env;
    MDB_dbi sessions, expiry, meta, ids;
    pthread_rwlock_t gate; /* calls hold it shared; close takes it exclusively */
    bool closed;
    pthread_mutex_t pool_lock;
    MDB_txn *pool[FILE_READ_POOL];
    size_t pooled;
    atomic_int sync_failed; /* group mode: the last background fsync failed (errno), 0 when fine */
    /* background threads (file_sync.c) */
    pthread_mutex_t bg_lock;
    pthread_cond_t bg_cond;
    bool bg_stop;
    pthread_t sweeper, flusher;
    bool sweeper_running, flusher_running;
    /* expiry reporting (jwts_store_on_expired): the hook, and the sessions the current write
     * transaction dropped at their end (only its writer touches them: LMDB has one writer at a
     * time), told after it commits (jwts_file_commit) */
    pthread_mutex_t hook_lock; /* held while the hook runs and while it is replaced */
    jwts_expired_fn on_expired;
    void *on_expired_arg;
    jwts_session **gone;
    size_t ngone, capgone;
    /* this process's claim on the directory (file_claim.c) */
    dev_t dev;
    ino_t ino;
    bool claimed;
} file_store;

/* ---- file_url.c ---------------------------------------------------------------------------- */

/* true if url starts with "file://". */
bool jwts_file_url_is(const char *url);

/* Apply url's path and query options over *o; *path gets the decoded directory (malloc'd). */
jwts_err jwts_file_url_parse(const char *url, jwts_file_options *o, char **path);

/* ---- file_env.c ---------------------------------------------------------------------------- */

/* Create fs->path (0700) unless it exists; it must be a directory. */
jwts_err jwts_file_dir_make(const file_store *fs);

/* Open the environment in fs->path (a directory), check or write the format record and
 * open the tables. */
jwts_err jwts_file_env_open(file_store *fs);

/* Abort the pooled read transactions and close the environment. */
void jwts_file_env_close(file_store *fs);

/* The jwts_err for LMDB or errno code rc while doing what (a short phrase). */
jwts_err jwts_file_fail(const file_store *fs, int rc, const char *what);

/* A read transaction from the pool (or a new one); give it back with jwts_file_read_end. */
jwts_err jwts_file_read_begin(file_store *fs, MDB_txn **txn);
void jwts_file_read_end(file_store *fs, MDB_txn *txn);

/* ---- file_records.c ------------------------------------------------------------------------ */

/* The sessions-table key of (user_id, session_id) into buf (FILE_KEY_MAX bytes). */
MDB_val jwts_file_key(const char *user_id, const char *session_id, char *buf);

/* The deadline (ms) stored at the front of a record value; -1 when the value is too short. */
int64_t jwts_file_value_deadline(const MDB_val *v);

/* Decode the value stored at key into a library-owned session. JWTS_E_MALFORMED if it is not
 * one, or names other ids than key. */
jwts_err jwts_file_value_decode(const MDB_val *key, const MDB_val *v, jwts_session **out);

/* Bytes of the value of s, and s with deadline_ms encoded into out (that many bytes). */
size_t jwts_file_value_size(const jwts_session *s);
void jwts_file_value_encode(const jwts_session *s, int64_t deadline_ms, unsigned char *out);

/* Write s with deadline under key in the write transaction txn, replacing the expiry index entry
 * of the value stored there before (old_deadline_ms; -1 when there was none). An LMDB code. */
int jwts_file_put(file_store *fs, MDB_txn *txn, const MDB_val *key, const jwts_session *s, int64_t deadline_ms,
                  int64_t old_deadline_ms);

/* The session ids of the sessions table's key (user_id NUL session_id): into *user / *sid, and
 * the "ids" key (session_id NUL user_id) into buf (FILE_KEY_MAX bytes). false if key is not one. */
bool jwts_file_ids_key(const MDB_val *key, MDB_val *ids_key, char *buf);

/* Delete the session at key (stored with old_deadline_ms) and its expiry index entry. */
int jwts_file_remove(file_store *fs, MDB_txn *txn, const MDB_val *key, int64_t old_deadline_ms);

/* Remove up to max (0: no limit) sessions whose deadline is <= now_ms, from the front of the
 * expiry index; *removed counts them. An LMDB code (0 on success). */
int jwts_file_sweep_txn(file_store *fs, MDB_txn *txn, int64_t now_ms, size_t max, size_t *removed);

/* Commit txn, then tell the expiry hook of each session the transaction dropped at its end (none
 * when the commit fails: nothing was dropped). An LMDB code. */
int jwts_file_commit(file_store *fs, MDB_txn *txn);

/* Abort txn, forgetting the sessions it dropped. */
void jwts_file_abort(file_store *fs, MDB_txn *txn);

/* ---- file_claim.c -------------------------------------------------------------------------- */

/* Claim fs->path's directory for this process (sets dev, ino, claimed); JWTS_E_UNAVAILABLE when
 * it is already open here. */
jwts_err jwts_file_claim(file_store *fs);

/* Give the claim back (if fs holds one). */
void jwts_file_release(file_store *fs);

/* ---- file_sync.c --------------------------------------------------------------------------- */

/* Start the sweep thread (unless disabled) and, in group mode, the flusher (bg_lock and bg_cond
 * are initialised by the caller). */
jwts_err jwts_file_threads_start(file_store *fs);

/* Stop both and, in group mode, fsync what is left. */
void jwts_file_threads_stop(file_store *fs);

/* One sweep of up to max expired sessions (0: all) in its own write transaction. */
jwts_err jwts_file_sweep(file_store *fs, size_t max, size_t *removed);

#endif
