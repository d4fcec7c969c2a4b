/*
 * file_env.c - the file store's LMDB environment: open it safely, say clearly what went wrong.
 *
 * Opening checks what the directory holds before trusting it: LMDB itself refuses a data file
 * that is not an LMDB file (or another LMDB version's); a data file shorter than the pages its
 * meta page names (a truncated copy) is refused before any page is read through the map (which
 * would be SIGBUS); an LMDB environment without the "meta" table and its format record is another
 * program's database, and is refused rather than written into. Stale reader slots of dead
 * processes (kill -9) are cleared. Read transactions are reset and reused (MDB_NOTLS), so a get
 * pays no reader-slot search.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "jwtsession/error.h"
#include "store/file.h"

#define MAX_READERS 256
#define FORMAT_PREFIX "jwtsession file store "

/* true if the file system holding dir has (almost) no room left: LMDB reports a write cut short
 * by a full device as EIO, not ENOSPC. */
static bool device_full(const char *dir)
{
    struct statvfs v;
    return dir && statvfs(dir, &v) == 0 && (unsigned long long)v.f_bavail * v.f_frsize < 64 * 1024;
}

jwts_err jwts_file_fail(const file_store *fs, int rc, const char *what)
{
    const char *dir = fs && fs->path ? fs->path : "?";
    if (rc == EIO && fs && device_full(fs->path)) rc = ENOSPC;
    switch (rc) {
    case MDB_MAP_FULL:
        return jwts_fail(JWTS_E_LIMIT,
                         "file store %.100s: %s: the data file is at map_size_mb=%zu; raise map_size_mb "
                         "(this write was not applied)",
                         dir, what, fs ? fs->opts.map_size_mb : 0);
    case ENOSPC:
    case EDQUOT:
        return jwts_fail(JWTS_E_UNAVAILABLE,
                         "file store %.100s: %s: no space left on the device (this write was not "
                         "applied)",
                         dir, what);
    case MDB_READERS_FULL:
        return jwts_fail(JWTS_E_UNAVAILABLE, "file store %.100s: %s: all %d reader slots are taken", dir, what,
                         MAX_READERS);
    case MDB_INVALID:
        return jwts_fail(JWTS_E_MALFORMED,
                         "file store %.100s: %s: data.mdb is not an LMDB data file (corrupt or "
                         "foreign)",
                         dir, what);
    case MDB_VERSION_MISMATCH:
        return jwts_fail(JWTS_E_MALFORMED,
                         "file store %.100s: %s: data.mdb was written by an incompatible LMDB version", dir, what);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_BAD_TXN:
        return jwts_fail(JWTS_E_MALFORMED, "file store %.100s: %s: the data file is corrupt (%s)", dir, what,
                         mdb_strerror(rc));
    case MDB_MAP_RESIZED:
        return jwts_fail(JWTS_E_UNAVAILABLE,
                         "file store %.100s: %s: another process opened it with a larger "
                         "map_size_mb; give every process the same value",
                         dir, what);
    case ENOMEM:
        return jwts_fail(JWTS_E_NO_MEMORY, "file store %.100s: %s: out of memory", dir, what);
    case EACCES:
    case EPERM:
    case EROFS:
        return jwts_fail(JWTS_E_UNAVAILABLE, "file store %.100s: %s: %s", dir, what, strerror(rc));
    default:
        return jwts_fail(JWTS_E_UNAVAILABLE, "file store %.100s: %s: %s", dir, what, mdb_strerror(rc));
    }
}

jwts_err jwts_file_dir_make(const file_store *fs)
{
    struct stat st;
    if (mkdir(fs->path, 0700) != 0 && errno != EEXIST) return jwts_file_fail(fs, errno, "cannot create the directory");
    if (stat(fs->path, &st) != 0) return jwts_file_fail(fs, errno, "cannot read the directory");
    if (!S_ISDIR(st.st_mode))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file store %.100s: not a directory (give the store's directory)",
                         fs->path);
    return JWTS_OK;
}

/* A data file shorter than its last used page is truncated: reading that page would fault. */
static jwts_err check_size(const file_store *fs)
{
    MDB_envinfo info;
    MDB_stat st;
    struct stat fst;
    char data[4200];
    snprintf(data, sizeof data, "%s/data.mdb", fs->path);
    int rc = mdb_env_info(fs->env, &info);
    if (!rc) rc = mdb_env_stat(fs->env, &st);
    if (!rc && stat(data, &fst) != 0) rc = errno;
    if (rc) return jwts_file_fail(fs, rc, "cannot read the data file's size");
    if ((uint64_t)fst.st_size < ((uint64_t)info.me_last_pgno + 1) * st.ms_psize)
        return jwts_fail(JWTS_E_MALFORMED, "file store %.100s: data.mdb is truncated (%lld bytes, its pages need %llu)",
                         fs->path, (long long)fst.st_size,
                         (unsigned long long)(((uint64_t)info.me_last_pgno + 1) * st.ms_psize));
    return JWTS_OK;
}

/* A fresh environment: create the tables and write the format record. */
static int create_tables(file_store *fs, MDB_txn *txn)
{
    int rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &fs->meta);
    if (!rc) rc = mdb_dbi_open(txn, "sessions", MDB_CREATE, &fs->sessions);
    if (!rc) rc = mdb_dbi_open(txn, "expiry", MDB_CREATE, &fs->expiry);
    if (!rc) rc = mdb_dbi_open(txn, "ids", MDB_CREATE, &fs->ids);
    MDB_val k = {6, "format"}, v = {strlen(FILE_FORMAT), FILE_FORMAT};
    if (!rc) rc = mdb_put(txn, fs->meta, &k, &v, 0);
    return rc;
}

/* An existing environment: it must be ours, in this format. */
static jwts_err open_tables(file_store *fs, MDB_txn *txn)
{
    int rc = mdb_dbi_open(txn, "meta", 0, &fs->meta);
    if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
        return jwts_fail(JWTS_E_MALFORMED,
                         "file store %.100s: this LMDB database is not a jwtsession file store "
                         "(no format record); refusing to write into it",
                         fs->path);
    if (rc) return jwts_file_fail(fs, rc, "open the meta table");
    MDB_val k = {6, "format"}, v;
    rc = mdb_get(txn, fs->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return jwts_fail(JWTS_E_MALFORMED,
                         "file store %.100s: the format record is missing (not a jwtsession file "
                         "store)",
                         fs->path);
    if (rc) return jwts_file_fail(fs, rc, "read the format record");
    if (v.mv_size != strlen(FILE_FORMAT) || memcmp(v.mv_data, FILE_FORMAT, v.mv_size) != 0) {
        bool ours = v.mv_size > strlen(FORMAT_PREFIX) && v.mv_size < 64 &&
                    memcmp(v.mv_data, FORMAT_PREFIX, strlen(FORMAT_PREFIX)) == 0;
        if (ours && v.mv_size == strlen(FORMAT_PREFIX) + 1 && ((const char *)v.mv_data)[v.mv_size - 1] == '1')
            return jwts_fail(JWTS_E_UNSUPPORTED,
                             "file store %.100s: format \"%.*s\" was written by an earlier jwtsession, whose "
                             "sessions cannot be found by session id; this build reads \"%s\": move the "
                             "directory away (its users sign in again) or keep the earlier version "
                             "(docs/file-store.md)",
                             fs->path, (int)v.mv_size, (const char *)v.mv_data, FILE_FORMAT);
        if (ours)
            return jwts_fail(JWTS_E_UNSUPPORTED, "file store %.100s: format \"%.*s\"; this build reads \"%s\"",
                             fs->path, (int)v.mv_size, (const char *)v.mv_data, FILE_FORMAT);
        return jwts_fail(JWTS_E_MALFORMED, "file store %.100s: the format record is not a jwtsession one", fs->path);
    }
    rc = mdb_dbi_open(txn, "sessions", 0, &fs->sessions);
    if (!rc) rc = mdb_dbi_open(txn, "expiry", 0, &fs->expiry);
    if (!rc) rc = mdb_dbi_open(txn, "ids", 0, &fs->ids);
    if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
        return jwts_fail(JWTS_E_MALFORMED, "file store %.100s: a table is missing (damaged store)", fs->path);
    return rc ? jwts_file_fail(fs, rc, "open the tables") : JWTS_OK;
}

/* Check or create the format record and open the four tables, in one write transaction. */
static jwts_err open_or_create(file_store *fs)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(fs->env, NULL, 0, &txn);
    if (rc) return jwts_file_fail(fs, rc, "begin");
    MDB_dbi main_db;
    MDB_stat st;
    rc = mdb_dbi_open(txn, NULL, 0, &main_db);
    if (!rc) rc = mdb_stat(txn, main_db, &st);
    jwts_err err = rc ? jwts_file_fail(fs, rc, "read the main table") : JWTS_OK;
    if (!err && st.ms_entries == 0) {
        rc = create_tables(fs, txn);
        if (rc) err = jwts_file_fail(fs, rc, "create the tables");
    } else if (!err) {
        err = open_tables(fs, txn);
    }
    if (err) {
        mdb_txn_abort(txn);
        return err;
    }
    rc = mdb_txn_commit(txn);
    return rc ? jwts_file_fail(fs, rc, "commit the tables") : JWTS_OK;
}

jwts_err jwts_file_env_open(file_store *fs)
{
    jwts_err err;
    int rc = mdb_env_create(&fs->env);
    if (rc) return jwts_file_fail(fs, rc, "create the environment");
    rc = mdb_env_set_maxdbs(fs->env, 4);
    if (!rc) rc = mdb_env_set_maxreaders(fs->env, MAX_READERS);
    if (!rc) rc = mdb_env_set_mapsize(fs->env, fs->opts.map_size_mb << 20);
    unsigned flags = MDB_NOTLS | (fs->opts.sync == JWTS_FILE_SYNC_GROUP ? MDB_NOSYNC : 0);
    if (!rc) rc = mdb_env_open(fs->env, fs->path, flags, 0600);
    if (rc) return jwts_file_fail(fs, rc, "open");
    int dead = 0;
    mdb_reader_check(fs->env, &dead); /* free the slots of processes that died reading */
    err = check_size(fs);
    if (!err) err = open_or_create(fs);
    return err;
}

void jwts_file_env_close(file_store *fs)
{
    for (size_t i = 0; i < fs->pooled; i++) mdb_txn_abort(fs->pool[i]);
    fs->pooled = 0;
    if (fs->env) mdb_env_close(fs->env);
    fs->env = NULL;
}

jwts_err jwts_file_read_begin(file_store *fs, MDB_txn **txn)
{
    MDB_txn *t = NULL;
    pthread_mutex_lock(&fs->pool_lock);
    if (fs->pooled) t = fs->pool[--fs->pooled];
    pthread_mutex_unlock(&fs->pool_lock);
    int rc;
    if (t) {
        rc = mdb_txn_renew(t);
        if (rc) mdb_txn_abort(t);
    } else {
        rc = mdb_txn_begin(fs->env, NULL, MDB_RDONLY, &t);
    }
    if (rc) return jwts_file_fail(fs, rc, "begin a read");
    *txn = t;
    return JWTS_OK;
}

void jwts_file_read_end(file_store *fs, MDB_txn *txn)
{
    mdb_txn_reset(txn);
    pthread_mutex_lock(&fs->pool_lock);
    bool kept = fs->pooled < FILE_READ_POOL;
    if (kept) fs->pool[fs->pooled++] = txn;
    pthread_mutex_unlock(&fs->pool_lock);
    if (!kept) mdb_txn_abort(txn);
}
