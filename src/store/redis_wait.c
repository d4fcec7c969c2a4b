/*
 * redis_wait.c - "WAIT <replicas> <timeout>" after writes, shared by the cluster and sentinel
 * runners.
 *
 * The runner appends the WAIT to the write's own round trip on the same connection (WAIT
 * counts the replicas that acknowledged everything this connection wrote), then judges its
 * reply here: fewer replicas than asked is JWTS_E_UNAVAILABLE. The write may still be applied
 * on the master; the caller learns it is not known to be durable. Reads (GET, MGET) are not
 * followed by a WAIT.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "jwtsession/error.h"
#include "store/redis.h"

#define DEFAULT_WAIT_TIMEOUT_MS 500

void jwts_redis_wait_init(redis_wait *w, int replicas, int64_t timeout_ms)
{
    memset(w, 0, sizeof *w);
    w->replicas = replicas;
    w->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_WAIT_TIMEOUT_MS;
    w->argv[0] = "WAIT", w->argv[1] = w->num, w->argv[2] = w->ms;
    w->lens[0] = 4;
    w->lens[1] = (size_t)snprintf(w->num, sizeof w->num, "%d", replicas);
    w->lens[2] = (size_t)snprintf(w->ms, sizeof w->ms, "%lld", (long long)w->timeout_ms);
}

static bool is_read(const redis_cmd *cmd)
{
    return (cmd->argvlen[0] == 3 && strncasecmp(cmd->argv[0], "GET", 3) == 0) ||
           (cmd->argvlen[0] == 4 && strncasecmp(cmd->argv[0], "MGET", 4) == 0) ||
           (cmd->argvlen[0] == 4 && strncasecmp(cmd->argv[0], "PTTL", 4) == 0); /* the near cache's miss */
}

bool jwts_redis_wait_wanted(const redis_wait *w, const redis_cmd *cmds, size_t n)
{
    if (w->replicas <= 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!is_read(&cmds[i])) return true;
    return false;
}

redis_cmd jwts_redis_wait_cmd(const redis_wait *w)
{
    return (redis_cmd){3, w->argv, w->lens};
}

jwts_err jwts_redis_wait_check(const redis_wait *w, redisReply *const *replies, size_t n, const redisReply *wait_reply)
{
    for (size_t i = 0; i < n; i++)
        if (replies[i] && replies[i]->type == REDIS_REPLY_ERROR) return JWTS_OK;
    if (!wait_reply || wait_reply->type != REDIS_REPLY_INTEGER) return jwts_redis_reply_fail(wait_reply, "WAIT");
    if (wait_reply->integer < w->replicas)
        return jwts_fail(JWTS_E_UNAVAILABLE, "redis WAIT: %lld of %d replicas acknowledged the write in %lld ms",
                         wait_reply->integer, w->replicas, (long long)w->timeout_ms);
    return JWTS_OK;
}
