/*
 * file_records.c - the file store's keys, values and expiry index (layout in store/file.h).
 *
 * A value is a fixed header in native byte order (an LMDB file is tied to its machine's
 * architecture anyway) followed by the strings, so a get is one malloc and a few copies. Reading
 * one checks what a damaged file could have changed: the magic, that the lengths add up, that
 * the ids in the record are the ones of its key (so they were valid when written), no NUL inside
 * the strings; anything else is JWTS_E_MALFORMED, never trusted. The expiry index key starts with
 * the deadline in big-endian order, so LMDB keeps the index sorted by deadline and the sweep reads
 * only its front. Every function here runs inside the caller's write transaction: a session and
 * its index entry change together or not at all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "store/file.h"

/* The value layout (native byte order):
 *   0 magic u32 | 4 flags u32 (bit 0: refresh.confirmed, bit 1: has metadata) | 8 deadline i64
 *   | 16 created | 24 updated | 32 expires | 40 idle_expires | 48 last_seen | 56 rotated_at
 *   | 64 generation u64 | 72 current[32] | 104 previous[32] | 136 sealed_next[32]
 *   | 168 older[8][16] | 296 user_id length u16 | 298 session_id length u16
 *   | 300 metadata length u32 | 304 user_id, session_id, metadata bytes
 *   [ | with flag bit 2 (device): client_ip length u8 | user_agent length u16
 *       | client_ip, user_agent bytes ]
 * A session without a device is written without the flag and trailer: byte for byte the record
 * of earlier versions, whose records therefore decode as sessions without a device. */
#define MAGIC 0x31667773u /* "swf1" */
#define OFF_DEADLINE 8
#define OFF_TIMES 16 /* seven int64: created .. generation */
#define OFF_HASHES 72
#define OFF_OLDER 168
#define OFF_LENS 296
#define HEADER 304
#define F_CONFIRMED 1u
#define F_METADATA 2u
#define F_DEVICE 4u
#define DEVICE_HEAD 3 /* client_ip length u8, user_agent length u16 */

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
    if (v->mv_size < HEADER) return -1;
    int64_t d;
    memcpy(&d, (const char *)v->mv_data + OFF_DEADLINE, sizeof d);
    return d;
}

static jwts_err damaged(const char *why)
{
    return jwts_fail(JWTS_E_MALFORMED, "file store: a stored record is damaged (%s)", why);
}

/* Copy n bytes of src to *cursor as a NUL-terminated string and advance it. */
static const char *put_string(char **cursor, const unsigned char *src, size_t n)
{
    char *dst = *cursor;
    memcpy(dst, src, n);
    dst[n] = '\0';
    *cursor += n + 1;
    return dst;
}

jwts_err jwts_file_value_decode(const MDB_val *key, const MDB_val *v, jwts_session **out)
{
    const unsigned char *p = v->mv_data;
    uint32_t magic, flags, meta;
    uint16_t user, sid;
    if (v->mv_size < HEADER) return damaged("too short");
    memcpy(&magic, p, 4);
    memcpy(&flags, p + 4, 4);
    memcpy(&user, p + OFF_LENS, 2);
    memcpy(&sid, p + OFF_LENS + 2, 2);
    memcpy(&meta, p + OFF_LENS + 4, 4);
    if (magic != MAGIC || (flags & ~(F_CONFIRMED | F_METADATA | F_DEVICE))) return damaged("not a session record");
    if (meta > JWTS_METADATA_MAX || (!(flags & F_METADATA) && meta) || (size_t)HEADER + user + sid + meta > v->mv_size)
        return damaged("lengths do not add up");
    size_t rest = v->mv_size - ((size_t)HEADER + user + sid + meta), ip = 0, ua = 0;
    const unsigned char *d = p + HEADER + user + sid + meta;
    if (flags & F_DEVICE) {
        uint16_t ua16;
        if (rest < DEVICE_HEAD) return damaged("lengths do not add up");
        memcpy(&ua16, d + 1, 2);
        ip = d[0], ua = ua16;
        if (ip > JWTS_CLIENT_IP_MAX || ua > JWTS_USER_AGENT_MAX || (!ip && !ua) || DEVICE_HEAD + ip + ua != rest)
            return damaged("device lengths do not add up");
    } else if (rest) {
        return damaged("lengths do not add up");
    }
    /* the ids are the key's: user NUL sid */
    if (key->mv_size != (size_t)user + 1 + sid || memcmp(key->mv_data, p + HEADER, user) != 0 ||
        ((const char *)key->mv_data)[user] != '\0' ||
        memcmp((const char *)key->mv_data + user + 1, p + HEADER + user, sid) != 0)
        return damaged("ids differ from its key");
    const unsigned char *m = p + HEADER + user + sid;
    if (memchr(p + HEADER, '\0', (size_t)user + sid + meta) || ((flags & F_METADATA) && (meta == 0 || m[0] != '{')))
        return damaged("bad strings");
    if (ip + ua && memchr(d + DEVICE_HEAD, '\0', ip + ua)) return damaged("bad device strings");
    size_t size = sizeof(jwts_session) + user + 1 + sid + 1 + ((flags & F_METADATA) ? meta + 1 : 0) +
                  (ip ? ip + 1 : 0) + (ua ? ua + 1 : 0);
    jwts_session *s = malloc(size);
    if (!s) return jwts_fail(JWTS_E_NO_MEMORY, "file store: cannot allocate a session");
    int64_t t[7];
    memcpy(t, p + OFF_TIMES, sizeof t);
    s->created_at_ms = t[0], s->updated_at_ms = t[1], s->expires_at_ms = t[2], s->idle_expires_at_ms = t[3];
    s->last_seen_ms = t[4], s->refresh.rotated_at_ms = t[5], s->refresh.generation = (uint64_t)t[6];
    memcpy(s->refresh.current_hash, p + OFF_HASHES, JWTS_REFRESH_HASH_LEN);
    memcpy(s->refresh.previous_hash, p + OFF_HASHES + 32, JWTS_REFRESH_HASH_LEN);
    memcpy(s->refresh.sealed_next, p + OFF_HASHES + 64, JWTS_REFRESH_HASH_LEN);
    memcpy(s->refresh.older, p + OFF_OLDER, sizeof s->refresh.older);
    s->refresh.confirmed = flags & F_CONFIRMED;
    char *cursor = (char *)(s + 1);
    s->user_id = put_string(&cursor, p + HEADER, user);
    s->session_id = put_string(&cursor, p + HEADER + user, sid);
    s->metadata = (flags & F_METADATA) ? put_string(&cursor, m, meta) : NULL;
    s->client_ip = ip ? put_string(&cursor, d + DEVICE_HEAD, ip) : NULL;
    s->user_agent = ua ? put_string(&cursor, d + DEVICE_HEAD + ip, ua) : NULL;
    if ((s->client_ip && !jwts_client_ip_valid(s->client_ip)) || (s->user_agent && !jwts_user_agent_valid(s->user_agent))) {
        free(s);
        return damaged("bad device");
    }
    *out = s;
    return JWTS_OK;
}

/* Bytes of s's device trailer (0: none). */
static size_t device_size(const jwts_session *s)
{
    size_t ip = s->client_ip ? strlen(s->client_ip) : 0, ua = s->user_agent ? strlen(s->user_agent) : 0;
    return ip || ua ? DEVICE_HEAD + ip + ua : 0;
}

size_t jwts_file_value_size(const jwts_session *s)
{
    return HEADER + strlen(s->user_id) + strlen(s->session_id) + (s->metadata ? strlen(s->metadata) : 0) +
           device_size(s);
}

/* Write s with deadline as a value into p (HEADER + its strings' bytes). */
static void encode(const jwts_session *s, int64_t deadline_ms, size_t user, size_t sid, size_t meta, unsigned char *p)
{
    size_t device = device_size(s);
    uint32_t magic = MAGIC, flags = (s->refresh.confirmed ? F_CONFIRMED : 0) | (s->metadata ? F_METADATA : 0) |
                            (device ? F_DEVICE : 0);
    uint16_t u16 = (uint16_t)user, s16 = (uint16_t)sid;
    uint32_t m32 = (uint32_t)meta;
    int64_t t[7] = {s->created_at_ms,
                    s->updated_at_ms,
                    s->expires_at_ms,
                    s->idle_expires_at_ms,
                    s->last_seen_ms,
                    s->refresh.rotated_at_ms,
                    (int64_t)s->refresh.generation};
    memcpy(p, &magic, 4);
    memcpy(p + 4, &flags, 4);
    memcpy(p + OFF_DEADLINE, &deadline_ms, 8);
    memcpy(p + OFF_TIMES, t, sizeof t);
    memcpy(p + OFF_HASHES, s->refresh.current_hash, JWTS_REFRESH_HASH_LEN);
    memcpy(p + OFF_HASHES + 32, s->refresh.previous_hash, JWTS_REFRESH_HASH_LEN);
    memcpy(p + OFF_HASHES + 64, s->refresh.sealed_next, JWTS_REFRESH_HASH_LEN);
    memcpy(p + OFF_OLDER, s->refresh.older, sizeof s->refresh.older);
    memcpy(p + OFF_LENS, &u16, 2);
    memcpy(p + OFF_LENS + 2, &s16, 2);
    memcpy(p + OFF_LENS + 4, &m32, 4);
    memcpy(p + HEADER, s->user_id, user);
    memcpy(p + HEADER + user, s->session_id, sid);
    if (meta) memcpy(p + HEADER + user + sid, s->metadata, meta);
    if (device) {
        unsigned char *d = p + HEADER + user + sid + meta;
        size_t ip = s->client_ip ? strlen(s->client_ip) : 0, ua = device - DEVICE_HEAD - ip;
        uint16_t ua16 = (uint16_t)ua;
        d[0] = (unsigned char)ip;
        memcpy(d + 1, &ua16, 2);
        if (ip) memcpy(d + DEVICE_HEAD, s->client_ip, ip);
        if (ua) memcpy(d + DEVICE_HEAD + ip, s->user_agent, ua);
    }
}

void jwts_file_value_encode(const jwts_session *s, int64_t deadline_ms, unsigned char *out)
{
    encode(s, deadline_ms, strlen(s->user_id), strlen(s->session_id), s->metadata ? strlen(s->metadata) : 0, out);
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

bool jwts_file_ids_key(const MDB_val *key, MDB_val *ids_key, char *buf)
{
    const char *k = key->mv_data, *nul = key->mv_size ? memchr(k, '\0', key->mv_size) : NULL;
    if (!nul || key->mv_size > FILE_KEY_MAX) return false;
    size_t u = (size_t)(nul - k), s = key->mv_size - u - 1;
    memcpy(buf, nul + 1, s);
    buf[s] = '\0';
    memcpy(buf + s + 1, k, u);
    *ids_key = (MDB_val){key->mv_size, buf};
    return true;
}

/* Record in "ids" that the session at key exists (already there: fine). */
static int add_id(file_store *fs, MDB_txn *txn, const MDB_val *key)
{
    char buf[FILE_KEY_MAX];
    MDB_val ik, empty = {0, NULL};
    if (!jwts_file_ids_key(key, &ik, buf)) return 0;
    int rc = mdb_put(txn, fs->ids, &ik, &empty, MDB_NOOVERWRITE);
    return rc == MDB_KEYEXIST ? 0 : rc;
}

/* Forget the "ids" entry of the session at key (not there: fine). */
static int remove_id(file_store *fs, MDB_txn *txn, const MDB_val *key)
{
    char buf[FILE_KEY_MAX];
    MDB_val ik;
    if (!jwts_file_ids_key(key, &ik, buf)) return 0;
    int rc = mdb_del(txn, fs->ids, &ik, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int jwts_file_put(file_store *fs, MDB_txn *txn, const MDB_val *key, const jwts_session *s, int64_t deadline_ms,
                  int64_t old_deadline_ms)
{
    if (deadline_ms < 0) deadline_ms = 0;
    int rc = old_deadline_ms == deadline_ms ? 0 : unindex(fs, txn, key, old_deadline_ms);
    if (rc) return rc;
    size_t user = strlen(s->user_id), sid = strlen(s->session_id), meta = s->metadata ? strlen(s->metadata) : 0;
    MDB_val v = {HEADER + user + sid + meta + device_size(s), NULL};
    rc = mdb_put(txn, fs->sessions, (MDB_val *)key, &v, MDB_RESERVE);
    if (!rc) encode(s, deadline_ms, user, sid, meta, v.mv_data);
    if (!rc && old_deadline_ms < 0) rc = add_id(fs, txn, key); /* a new session (or after a remove) */
    if (rc || old_deadline_ms == deadline_ms) return rc;
    unsigned char buf[FILE_EXPIRY_KEY_MAX];
    MDB_val ek = expiry_key(deadline_ms, key, buf), empty = {0, NULL};
    return mdb_put(txn, fs->expiry, &ek, &empty, 0);
}

/* Keep the session at key (value v) for the expiry hook when one is set and the session's deadline
 * has passed: it is being dropped at its end. Out of memory: it goes untold. */
static void note_expired(file_store *fs, const MDB_val *key, const MDB_val *v)
{
    if (!__atomic_load_n(&fs->on_expired, __ATOMIC_ACQUIRE)) return;
    if (jwts_file_value_deadline(v) > jwts_clock_now_ms(fs->opts.clock)) return;
    if (fs->ngone == fs->capgone) {
        size_t cap = fs->capgone ? fs->capgone * 2 : 16;
        jwts_session **grown = realloc(fs->gone, cap * sizeof *grown);
        if (!grown) return;
        fs->gone = grown, fs->capgone = cap;
    }
    jwts_session *s = NULL;
    if (jwts_file_value_decode(key, v, &s) == JWTS_OK) fs->gone[fs->ngone++] = s;
}

/* Hand the dropped sessions noted so far to the caller (*n of them), leaving none noted. */
static jwts_session **take_gone(file_store *fs, size_t *n)
{
    jwts_session **g = fs->gone;
    *n = fs->ngone;
    fs->gone = NULL, fs->ngone = fs->capgone = 0;
    return g;
}

int jwts_file_commit(file_store *fs, MDB_txn *txn)
{
    size_t n;
    jwts_session **gone = take_gone(fs, &n); /* before the commit lets the next writer in */
    int rc = mdb_txn_commit(txn);
    if (!rc && n) {
        int64_t now = jwts_clock_now_ms(fs->opts.clock);
        pthread_mutex_lock(&fs->hook_lock);
        for (size_t i = 0; i < n && fs->on_expired; i++) fs->on_expired(fs->on_expired_arg, gone[i], now);
        pthread_mutex_unlock(&fs->hook_lock);
    }
    for (size_t i = 0; i < n; i++) jwts_session_free(gone[i]);
    free(gone);
    return rc;
}

void jwts_file_abort(file_store *fs, MDB_txn *txn)
{
    size_t n;
    jwts_session **gone = take_gone(fs, &n);
    mdb_txn_abort(txn);
    for (size_t i = 0; i < n; i++) jwts_session_free(gone[i]);
    free(gone);
}

int jwts_file_remove(file_store *fs, MDB_txn *txn, const MDB_val *key, int64_t old_deadline_ms)
{
    MDB_val v;
    if (old_deadline_ms <= jwts_clock_now_ms(fs->opts.clock) && mdb_get(txn, fs->sessions, (MDB_val *)key, &v) == 0)
        note_expired(fs, key, &v);
    int rc = mdb_del(txn, fs->sessions, (MDB_val *)key, NULL);
    if (rc && rc != MDB_NOTFOUND) return rc;
    if ((rc = remove_id(fs, txn, key))) return rc;
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
            note_expired(fs, &key, &v);
            rc = mdb_del(txn, fs->sessions, &key, NULL);
            if (!rc) rc = remove_id(fs, txn, &key);
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
