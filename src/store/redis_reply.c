/*
 * redis_reply.c - map Redis error replies to jwts_err codes (transport errors: redis_conn.c).
 *
 * The first word of an error reply is its code (Redis 7 keeps it for errors raised inside
 * scripts too). Transient states of the server (LOADING, READONLY replica, BUSY script, auth)
 * are UNAVAILABLE: another try, or another server, may succeed. OOM is LIMIT ("the store is
 * full"). Cluster redirections mean this standalone store points at a cluster: UNSUPPORTED.
 * Anything else the server refused is PROTOCOL. Redis's own message is kept in the detail.
 */
#include <errno.h>
#include <string.h>

#include "jwtsession/error.h"
#include "store/redis.h"

static const struct {
    const char *prefix;
    jwts_err code;
} ERROR_CODES[] = {
    {"LOADING", JWTS_E_UNAVAILABLE},     {"READONLY", JWTS_E_UNAVAILABLE},  {"MASTERDOWN", JWTS_E_UNAVAILABLE},
    {"BUSY", JWTS_E_UNAVAILABLE},        {"NOAUTH", JWTS_E_UNAVAILABLE},    {"WRONGPASS", JWTS_E_UNAVAILABLE},
    {"NOPERM", JWTS_E_UNAVAILABLE},      {"CLUSTERDOWN", JWTS_E_UNAVAILABLE}, {"TRYAGAIN", JWTS_E_UNAVAILABLE},
    {"NOREPLICAS", JWTS_E_UNAVAILABLE},  {"OOM", JWTS_E_LIMIT},             {"MOVED", JWTS_E_UNSUPPORTED},
    {"ASK", JWTS_E_UNSUPPORTED},         {"CROSSSLOT", JWTS_E_UNSUPPORTED}, {"NOSCRIPT", JWTS_E_INTERNAL},
};

bool jwts_redis_reply_is(const redisReply *r, const char *prefix)
{
    if (!r || r->type != REDIS_REPLY_ERROR || !r->str) return false;
    size_t n = strlen(prefix);
    return r->len >= n && memcmp(r->str, prefix, n) == 0 && (r->len == n || r->str[n] == ' ');
}

jwts_err jwts_redis_reply_fail(const redisReply *r, const char *op)
{
    if (!r) return jwts_fail(JWTS_E_PROTOCOL, "redis %s: no reply", op);
    if (r->type != REDIS_REPLY_ERROR) return jwts_fail(JWTS_E_PROTOCOL, "redis %s: unexpected reply type %d", op, r->type);
    jwts_err code = JWTS_E_PROTOCOL;
    for (size_t i = 0; i < sizeof ERROR_CODES / sizeof ERROR_CODES[0]; i++) {
        if (jwts_redis_reply_is(r, ERROR_CODES[i].prefix)) {
            code = ERROR_CODES[i].code;
            break;
        }
    }
    int len = r->len > 200 ? 200 : (int)r->len;
    return jwts_fail(code, "redis %s: %.*s", op, len, r->str);
}
