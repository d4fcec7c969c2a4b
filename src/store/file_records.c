/*
 * file_records.c - the file store's keys, values and expiry index (layout in store/file.h).
 *
 * A value is the session's deadline (8 bytes, big-endian) and the binary session record shared
 * with the Redis store (redis_record.c), so one checked decoder reads both and a record read from
 * a damaged file is JWTS_E_MALFORMED, never trusted. The expiry index key starts with the same
 * big-endian deadline, so LMDB keeps it sorted by deadline and the sweep reads only its front.
 * Every function here runs inside the caller's write transaction: the session and its index entry
 * change together or not at all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "store/file.h"
#include "store/redis.h"

static void put_be64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--, u >>= 8) p[i] = (unsigned char)u;
}

static int64_t get_be64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = u << 8 | p[i];
    return (int64_t)u;
}

MDB_val jwts_file_key(const char *user_id, const char *session_id, char *buf)
{
    size_t u = strlen(user_id), s = strlen(session_id);
    memcpy(buf, user_id, u);
    buf[u] = '\0';
    memcpy(buf + u + 1, session_id, s);
    return (MDB_val){u + 1 + s, buf};
}

int64_t jwts_file_value_deadline(const MDB_val *v)
{
    if (v->mv_size < 8) return -1;
    return get_be64(v->mv_data);
}

jwts_err jwts_file_value_decode(const MDB_val *v, jwts_session **out)
{
    if (v->mv_size < 8 + JWTS_REC_HEADER) return jwts_fail(JWTS_E_MALFORMED, "file store: a stored record is too short");
    jwts_err rc = jwts_redis_record_decode((const char *)v->mv_data + 8, v->mv_size - 8, out);
    if (rc) return jwts_fail_wrap(rc, "file store: a stored record is damaged");
    return JWTS_OK;
}

/* The expiry index key of (deadline, key) into buf (FILE_EXPIRY_KEY_MAX bytes). */
static MDB_val expiry_key(int64_t deadline_ms, const MDB_val *key, unsigned char *buf)
{
    put_be64(buf, deadline_ms);
    memcpy(buf + 8, key->mv_data, key->mv_size);
    return (MDB_val){8 + key->mv_size, buf};
}

/* Delete the index entry of (deadline, key); one that is not there is fine. */
static int unindex(file_store *fs, MDB_txn *txn, const MDB_val *key, int64_t deadline_ms)
{
    if (deadline_ms < 0) return 0;
    unsigned char buf[FILE_EXPIRY_KEY_MAX];
    MDB_val ek = expiry_key(deadline_ms, key, buf);
    int rc = mdb_del(txn, fs->expiry, &ek, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int jwts_file_put(file_store *fs, MDB_txn *txn, const MDB_val *key, const jwts_session *s, int64_t deadline_ms,
                  int64_t old_deadline_ms)
{
    if (deadline_ms < 0) deadline_ms = 0;
    int rc = old_deadline_ms == deadline_ms ? 0 : unindex(fs, txn, key, old_deadline_ms);
    if (rc) return rc;
    char *rec;
    size_t len;
    if (jwts_redis_record_encode(s, &rec, &len)) return ENOMEM;
    MDB_val v = {8 + len, NULL};
    rc = mdb_put(txn, fs->sessions, (MDB_val *)key, &v, MDB_RESERVE);
    if (!rc) {
        put_be64(v.mv_data, deadline_ms);
        memcpy((unsigned char *)v.mv_data + 8, rec, len);
    }
    free(rec);
    if (rc || old_deadline_ms == deadline_ms) return rc;
    unsigned char buf[FILE_EXPIRY_KEY_MAX];
    MDB_val ek = expiry_key(deadline_ms, key, buf), empty = {0, NULL};
    return mdb_put(txn, fs->expiry, &ek, &empty, 0);
}

int jwts_file_remove(file_store *fs, MDB_txn *txn, const MDB_val *key, int64_t old_deadline_ms)
{
    int rc = mdb_del(txn, fs->sessions, (MDB_val *)key, NULL);
    if (rc && rc != MDB_NOTFOUND) return rc;
    return unindex(fs, txn, key, old_deadline_ms);
}

int jwts_file_sweep_txn(file_store *fs, MDB_txn *txn, int64_t now_ms, size_t max, size_t *removed)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, fs->expiry, &cur);
    if (rc) return rc;
    *removed = 0;
    while (max == 0 || *removed < max) {
        MDB_val ek, ev;
        rc = mdb_cursor_get(cur, &ek, &ev, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) break;
        unsigned char buf[FILE_EXPIRY_KEY_MAX];
        if (ek.mv_size > FILE_EXPIRY_KEY_MAX) { /* not one of ours: drop the index entry only */
            rc = mdb_cursor_del(cur, 0);
            if (rc) break;
            continue;
        }
        if (ek.mv_size >= 8 && get_be64(ek.mv_data) > now_ms) break;
        memcpy(buf, ek.mv_data, ek.mv_size);
        MDB_val copy = {ek.mv_size, buf}, key = {ek.mv_size > 8 ? ek.mv_size - 8 : 0, buf + 8}, v;
        int64_t deadline = ek.mv_size >= 8 ? get_be64(buf) : -1;
        rc = key.mv_size ? mdb_get(txn, fs->sessions, &key, &v) : MDB_NOTFOUND;
        if (!rc && jwts_file_value_deadline(&v) == deadline) { /* the session this entry indexes */
            rc = mdb_del(txn, fs->sessions, &key, NULL);
            if (!rc) (*removed)++;
        } else if (rc == MDB_NOTFOUND || !rc) {
            rc = 0; /* a stale entry: its session is gone or has another deadline */
        }
        if (!rc) rc = mdb_del(txn, fs->expiry, &copy, NULL);
        if (rc) break;
    }
    mdb_cursor_close(cur);
    return rc;
}
