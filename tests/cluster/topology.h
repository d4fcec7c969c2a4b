/*
 * topology.h - the tests' own Redis Cluster and Sentinel deployments on loopback ports.
 *
 * Every server is a redis_server (tests/integration/redis_server.h): a child process in a temp
 * dir on a free port, stopped by pid. Starting waits until the deployment is usable (cluster_state
 * ok on every node; sentinels agreeing on the master and seeing both replicas), bounded in time.
 */
#ifndef JWTS_TESTS_CLUSTER_TOPOLOGY_H
#define JWTS_TESTS_CLUSTER_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

#include "jwtsession/session.h"
#include "redis_server.h"

#define TOPO_MAX_NODES 6

/* A cluster of masters, each with one replica (node i < masters is a master at creation). */
typedef struct topo_cluster {
    redis_server nodes[TOPO_MAX_NODES];
    size_t n, masters;
} topo_cluster;

/* Start masters masters with replicas replicas each (masters * (1 + replicas) <= 6), with
 * cluster-node-timeout node_timeout_ms, create the cluster with redis-cli --cluster create and
 * wait for cluster_state:ok everywhere. */
bool topo_cluster_start(topo_cluster *c, size_t masters, size_t replicas, int node_timeout_ms);

/* "redis-cluster://127.0.0.1:P1,127.0.0.1:P2,..." naming every node. */
void topo_cluster_url(const topo_cluster *c, char *out, size_t cap);

/* Wait (up to timeout_ms) until every running node reports cluster_state:ok. */
bool topo_cluster_wait_ok(const topo_cluster *c, int timeout_ms);

/* The node whose port is port, or NULL. */
redis_server *topo_cluster_node(topo_cluster *c, int port);

/* How many slots the node on port serves, as node `asked` sees it (-1 on error). */
int topo_cluster_slots_of(const redis_server *asked, int port);

/* Stop every node and remove their dirs. */
void topo_cluster_destroy(topo_cluster *c);

/* A master, two replicas and three sentinels monitoring it as "mymaster" (quorum 2,
 * down-after-milliseconds 1000, failover-timeout 3000). */
typedef struct topo_sentinel {
    redis_server data[3]; /* data[0] is the first master */
    redis_server sentinels[3];
} topo_sentinel;

bool topo_sentinel_start(topo_sentinel *t);

/* "redis-sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mymaster" */
void topo_sentinel_url(const topo_sentinel *t, char *out, size_t cap);

/* The master's port as sentinel i names it (-1 on error). */
int topo_sentinel_master_port(const topo_sentinel *t, size_t i);

void topo_sentinel_destroy(topo_sentinel *t);

/* A session of user/sid created at 1 s, expiring in 2100 (strings borrowed). */
jwts_session topo_session(const char *user, const char *sid);

/* Milliseconds on the monotonic clock. */
long long topo_now_ms(void);

void topo_sleep_ms(long ms);

#endif
