/*
 * redis_record.c - the session record kept in Redis: a fixed binary header, then the strings.
 *
 * Why not JSON: a get is then one GET plus a few loads and one malloc (no parser on the hot
 * path), and the scripts can update the mutable fields (last seen, idle deadline, refresh state,
 * updated_at) in place with SETRANGE at fixed offsets, never parsing the record in Lua, so the
 * metadata round-trips byte for byte. Layout in store/redis.h.
 */
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "store/redis.h"

#define OFF_CREATED 4
#define OFF_EXPIRES 20
#define OFF_LAST_SEEN 36
#define OFF_PREVIOUS 76
#define OFF_SEALED 108
#define OFF_OLDER 140
#define OFF_ROTATED 268
#define OFF_GENERATION 276
#define OFF_FLAGS 284
#define OFF_USER_LEN 292
#define OFF_SID_LEN 296
#define OFF_META_LEN 300
#define FLAG_CONFIRMED 1
#define NO_METADATA 0xffffffffu
#define DEVICE_HEAD 3 /* client_ip length u8, user_agent length u16 */

void jwts_redis_put_i64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--, u >>= 8) p[i] = (unsigned char)u;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

static int64_t get_i64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = u << 8 | p[i];
    return (int64_t)u;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void jwts_redis_record_refresh(const jwts_refresh_state *r, unsigned char out[JWTS_REC_REFRESH_LEN])
{
    memcpy(out, r->current_hash, JWTS_REFRESH_HASH_LEN);
    memcpy(out + 32, r->previous_hash, JWTS_REFRESH_HASH_LEN);
    memcpy(out + 64, r->sealed_next, JWTS_REFRESH_HASH_LEN);
    memcpy(out + OFF_OLDER - JWTS_REC_OFF_REFRESH, r->older, sizeof r->older);
    jwts_redis_put_i64(out + OFF_ROTATED - JWTS_REC_OFF_REFRESH, r->rotated_at_ms);
    jwts_redis_put_i64(out + OFF_GENERATION - JWTS_REC_OFF_REFRESH, (int64_t)r->generation);
    jwts_redis_put_i64(out + OFF_FLAGS - JWTS_REC_OFF_REFRESH, r->confirmed ? FLAG_CONFIRMED : 0);
}

jwts_err jwts_redis_record_encode(const jwts_session *s, char **out, size_t *out_len)
{
    size_t user = strlen(s->user_id), sid = strlen(s->session_id), meta = s->metadata ? strlen(s->metadata) : 0;
    size_t ip = s->client_ip ? strlen(s->client_ip) : 0, ua = s->user_agent ? strlen(s->user_agent) : 0;
    if (ip > JWTS_CLIENT_IP_MAX || ua > JWTS_USER_AGENT_MAX)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: device fields too long");
    size_t device = ip || ua ? DEVICE_HEAD + ip + ua : 0;
    size_t len = JWTS_REC_HEADER + user + sid + meta + device;
    unsigned char *p = malloc(len);
    if (!p) return jwts_fail(JWTS_E_NO_MEMORY, "redis: cannot encode session");
    memcpy(p, JWTS_REC_MAGIC, 4);
    jwts_redis_put_i64(p + OFF_CREATED, s->created_at_ms);
    jwts_redis_put_i64(p + JWTS_REC_OFF_UPDATED, s->updated_at_ms);
    jwts_redis_put_i64(p + OFF_EXPIRES, s->expires_at_ms);
    jwts_redis_put_i64(p + JWTS_REC_OFF_IDLE, s->idle_expires_at_ms);
    jwts_redis_put_i64(p + OFF_LAST_SEEN, s->last_seen_ms);
    jwts_redis_record_refresh(&s->refresh, p + JWTS_REC_OFF_REFRESH);
    put_u32(p + OFF_USER_LEN, (uint32_t)user);
    put_u32(p + OFF_SID_LEN, (uint32_t)sid);
    put_u32(p + OFF_META_LEN, s->metadata ? (uint32_t)meta : NO_METADATA);
    memcpy(p + JWTS_REC_HEADER, s->user_id, user);
    memcpy(p + JWTS_REC_HEADER + user, s->session_id, sid);
    if (meta) memcpy(p + JWTS_REC_HEADER + user + sid, s->metadata, meta);
    if (device) {
        unsigned char *d = p + JWTS_REC_HEADER + user + sid + meta;
        d[0] = (unsigned char)ip, d[1] = (unsigned char)(ua >> 8), d[2] = (unsigned char)ua;
        if (ip) memcpy(d + DEVICE_HEAD, s->client_ip, ip);
        if (ua) memcpy(d + DEVICE_HEAD + ip, s->user_agent, ua);
    }
    *out = (char *)p;
    *out_len = len;
    return JWTS_OK;
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

static jwts_err malformed(const char *why) { return jwts_fail(JWTS_E_MALFORMED, "redis record: %s", why); }

jwts_err jwts_redis_record_decode(const char *rec, size_t len, jwts_session **out)
{
    const unsigned char *p = (const unsigned char *)rec;
    if (len < JWTS_REC_HEADER || memcmp(p, JWTS_REC_MAGIC, 4) != 0) return malformed("not a jwtsession record");
    size_t user = get_u32(p + OFF_USER_LEN), sid = get_u32(p + OFF_SID_LEN);
    uint32_t meta_raw = get_u32(p + OFF_META_LEN);
    size_t meta = meta_raw == NO_METADATA ? 0 : meta_raw;
    if (user > JWTS_USER_ID_MAX || sid > JWTS_SESSION_ID_MAX || meta > JWTS_METADATA_MAX ||
        JWTS_REC_HEADER + user + sid + meta > len)
        return malformed("lengths do not add up");
    /* after the strings: nothing (a record without a device, as earlier versions wrote), or the
     * device trailer */
    size_t rest = len - (JWTS_REC_HEADER + user + sid + meta), ip = 0, ua = 0;
    const unsigned char *d = p + JWTS_REC_HEADER + user + sid + meta;
    if (rest) {
        if (rest < DEVICE_HEAD) return malformed("lengths do not add up");
        ip = d[0], ua = (size_t)d[1] << 8 | d[2];
        if (ip > JWTS_CLIENT_IP_MAX || ua > JWTS_USER_AGENT_MAX || (!ip && !ua) || DEVICE_HEAD + ip + ua != rest)
            return malformed("device lengths do not add up");
    }
    if (memchr(p + JWTS_REC_HEADER, '\0', user + sid + meta) || (ip + ua && memchr(d + DEVICE_HEAD, '\0', ip + ua)))
        return malformed("a NUL byte inside a string");
    size_t size = sizeof(jwts_session) + user + 1 + sid + 1 + (meta_raw == NO_METADATA ? 0 : meta + 1) +
                  (ip ? ip + 1 : 0) + (ua ? ua + 1 : 0);
    jwts_session *s = malloc(size);
    if (!s) return jwts_fail(JWTS_E_NO_MEMORY, "redis: cannot allocate session");
    char *cursor = (char *)(s + 1);
    const unsigned char *strings = p + JWTS_REC_HEADER;
    s->user_id = put_string(&cursor, strings, user);
    s->session_id = put_string(&cursor, strings + user, sid);
    s->metadata = meta_raw == NO_METADATA ? NULL : put_string(&cursor, strings + user + sid, meta);
    s->client_ip = ip ? put_string(&cursor, d + DEVICE_HEAD, ip) : NULL;
    s->user_agent = ua ? put_string(&cursor, d + DEVICE_HEAD + ip, ua) : NULL;
    s->created_at_ms = get_i64(p + OFF_CREATED);
    s->updated_at_ms = get_i64(p + JWTS_REC_OFF_UPDATED);
    s->expires_at_ms = get_i64(p + OFF_EXPIRES);
    s->idle_expires_at_ms = get_i64(p + JWTS_REC_OFF_IDLE);
    s->last_seen_ms = get_i64(p + OFF_LAST_SEEN);
    memcpy(s->refresh.current_hash, p + JWTS_REC_OFF_REFRESH, JWTS_REFRESH_HASH_LEN);
    memcpy(s->refresh.previous_hash, p + OFF_PREVIOUS, JWTS_REFRESH_HASH_LEN);
    memcpy(s->refresh.sealed_next, p + OFF_SEALED, JWTS_REFRESH_HASH_LEN);
    s->refresh.rotated_at_ms = get_i64(p + OFF_ROTATED);
    memcpy(s->refresh.older, p + OFF_OLDER, sizeof s->refresh.older);
    s->refresh.generation = (uint64_t)get_i64(p + OFF_GENERATION);
    int64_t flags = get_i64(p + OFF_FLAGS);
    s->refresh.confirmed = flags & FLAG_CONFIRMED;
    if ((flags & ~(int64_t)FLAG_CONFIRMED) || !jwts_user_id_valid(s->user_id) || !jwts_session_id_valid(s->session_id) ||
        (s->metadata && s->metadata[0] != '{') || (s->client_ip && !jwts_client_ip_valid(s->client_ip)) ||
        (s->user_agent && !jwts_user_agent_valid(s->user_agent))) {
        free(s);
        return malformed("bad ids, metadata or device");
    }
    *out = s;
    return JWTS_OK;
}
