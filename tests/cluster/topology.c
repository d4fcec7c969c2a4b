/*
 * topology.c - start and stop the tests' Redis Cluster and Sentinel deployments.
 *
 * redis-cli --cluster create assigns the slots and pairs replicas; everything else talks to the
 * servers through redis_server_command. Every wait is bounded.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "topology.h"

long long topo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

jwts_session topo_session(const char *user, const char *sid)
{
    return (jwts_session){.user_id = user,
                          .session_id = sid,
                          .created_at_ms = 1000,
                          .updated_at_ms = 1000,
                          .expires_at_ms = 4102444800000};
}

void topo_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool node_ok(const redis_server *s)
{
    char out[4096];
    const char *argv[] = {"CLUSTER", "INFO"};
    return redis_server_command(s, out, sizeof out, 2, argv) && strstr(out, "cluster_state:ok") != NULL;
}

bool topo_cluster_wait_ok(const topo_cluster *c, int timeout_ms)
{
    long long until = topo_now_ms() + timeout_ms;
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < c->n && all; i++)
            if (c->nodes[i].pid > 0) all = node_ok(&c->nodes[i]);
        if (all) return true;
        if (topo_now_ms() > until) return false;
        topo_sleep_ms(100);
    }
}

static bool replica_synced_or_master(const redis_server *s)
{
    char out[4096];
    const char *argv[] = {"INFO", "replication"};
    return redis_server_command(s, out, sizeof out, 2, argv) &&
           (strstr(out, "role:master") || strstr(out, "master_link_status:up"));
}

bool topo_cluster_start(topo_cluster *c, size_t masters, size_t replicas, int node_timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->masters = masters;
    c->n = masters * (1 + replicas);
    if (c->n > TOPO_MAX_NODES) return false;
    char extra[256];
    snprintf(extra, sizeof extra,
             "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout %d\nappendonly no\n"
             "repl-diskless-sync-delay 0\n",
             node_timeout_ms);
    for (size_t i = 0; i < c->n; i++)
        if (!redis_server_start(&c->nodes[i], extra)) return false;
    char cmd[1024];
    int len = snprintf(cmd, sizeof cmd, "timeout 60 redis-cli --cluster create");
    for (size_t i = 0; i < c->n; i++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " 127.0.0.1:%d", c->nodes[i].port);
    snprintf(cmd + len, sizeof cmd - (size_t)len, " --cluster-replicas %zu --cluster-yes > %s/create.log 2>&1",
             replicas, c->nodes[0].dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "redis-cli --cluster create failed (see %s/create.log)\n", c->nodes[0].dir);
        return false;
    }
    if (!topo_cluster_wait_ok(c, 30000)) return false;
    /* a replica that never finished its first sync cannot be promoted */
    long long until = topo_now_ms() + 30000;
    for (size_t i = 0; i < c->n; i++)
        while (!replica_synced_or_master(&c->nodes[i]))
            if (topo_now_ms() > until)
                return false;
            else
                topo_sleep_ms(100);
    return true;
}

void topo_cluster_url(const topo_cluster *c, char *out, size_t cap)
{
    int len = snprintf(out, cap, "redis-cluster://");
    for (size_t i = 0; i < c->n; i++)
        len += snprintf(out + len, cap - (size_t)len, "%s127.0.0.1:%d", i ? "," : "", c->nodes[i].port);
}

redis_server *topo_cluster_node(topo_cluster *c, int port)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->nodes[i].port == port) return &c->nodes[i];
    return NULL;
}

int topo_cluster_slots_of(const redis_server *asked, int port)
{
    redisContext *ctx = redisConnect("127.0.0.1", asked->port);
    if (!ctx || ctx->err) {
        if (ctx) redisFree(ctx);
        return -1;
    }
    redisReply *r = redisCommand(ctx, "CLUSTER SLOTS");
    int count = -1;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        count = 0;
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->elements >= 3 && e->element[2]->element[1]->integer == port)
                count += (int)(e->element[1]->integer - e->element[0]->integer + 1);
        }
    }
    if (r) freeReplyObject(r);
    redisFree(ctx);
    return count;
}

void topo_cluster_destroy(topo_cluster *c)
{
    for (size_t i = 0; i < c->n; i++) redis_server_destroy(&c->nodes[i]);
}

/* ---- sentinel ---------------------------------------------------------------------------- */

static bool sentinel_ready(const redis_server *s)
{
    char out[512];
    const char *ck[] = {"SENTINEL", "CKQUORUM", "mymaster"};
    if (!redis_server_command(s, out, sizeof out, 3, ck) || strncmp(out, "OK", 2) != 0 || !strstr(out, "3 usable"))
        return false;
    redisContext *ctx = redisConnect("127.0.0.1", s->port);
    if (!ctx || ctx->err) {
        if (ctx) redisFree(ctx);
        return false;
    }
    redisReply *r = redisCommand(ctx, "SENTINEL REPLICAS mymaster");
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
    if (r) freeReplyObject(r);
    redisFree(ctx);
    return ok;
}

static bool replica_synced(const redis_server *s)
{
    char out[4096];
    const char *argv[] = {"INFO", "replication"};
    return redis_server_command(s, out, sizeof out, 2, argv) && strstr(out, "master_link_status:up") != NULL;
}

bool topo_sentinel_start(topo_sentinel *t)
{
    memset(t, 0, sizeof *t);
    if (!redis_server_start(&t->data[0], "appendonly no\nrepl-diskless-sync-delay 0\n")) return false;
    char extra[512];
    snprintf(extra, sizeof extra, "appendonly no\nrepl-diskless-sync-delay 0\nreplicaof 127.0.0.1 %d\n",
             t->data[0].port);
    for (int i = 1; i < 3; i++)
        if (!redis_server_start(&t->data[i], extra)) return false;
    snprintf(extra, sizeof extra,
             "sentinel monitor mymaster 127.0.0.1 %d 2\nsentinel down-after-milliseconds mymaster 1000\n"
             "sentinel failover-timeout mymaster 3000\nsentinel parallel-syncs mymaster 2\n",
             t->data[0].port);
    for (int i = 0; i < 3; i++)
        if (!redis_sentinel_start(&t->sentinels[i], extra)) return false;
    long long until = topo_now_ms() + 30000;
    for (;;) {
        bool ready = replica_synced(&t->data[1]) && replica_synced(&t->data[2]);
        for (int i = 0; i < 3 && ready; i++) ready = sentinel_ready(&t->sentinels[i]);
        if (ready) return true;
        if (topo_now_ms() > until) {
            fprintf(stderr, "sentinels not ready in 30 s (see %s/redis.log)\n", t->sentinels[0].dir);
            return false;
        }
        topo_sleep_ms(200);
    }
}

void topo_sentinel_url(const topo_sentinel *t, char *out, size_t cap)
{
    snprintf(out, cap, "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/mymaster", t->sentinels[0].port,
             t->sentinels[1].port, t->sentinels[2].port);
}

int topo_sentinel_master_port(const topo_sentinel *t, size_t i)
{
    redisContext *ctx = redisConnect("127.0.0.1", t->sentinels[i].port);
    if (!ctx || ctx->err) {
        if (ctx) redisFree(ctx);
        return -1;
    }
    redisReply *r = redisCommand(ctx, "SENTINEL get-master-addr-by-name mymaster");
    int port = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) port = atoi(r->element[1]->str);
    if (r) freeReplyObject(r);
    redisFree(ctx);
    return port;
}

void topo_sentinel_destroy(topo_sentinel *t)
{
    for (int i = 0; i < 3; i++) redis_server_destroy(&t->sentinels[i]);
    for (int i = 0; i < 3; i++) redis_server_destroy(&t->data[i]);
}
