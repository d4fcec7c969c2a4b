/*
 * test_cluster_conformance.c - the store conformance suite and the manager suite on a real
 * Redis Cluster of 3 masters and 3 replicas started by this test, plus the key slot function
 * checked against the servers' own CLUSTER KEYSLOT, and the sessions checked to be spread over
 * every master; then WAIT on the cluster: the suites with every write followed by WAIT 1 (each
 * master has one replica), and WAIT for more replicas than exist failing the write with
 * JWTS_E_UNAVAILABLE while reads go on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "manager_suite.h"
#include "store/redis.h"
#include "store_conformance.h"
#include "topology.h"

static char url[512];

static jwts_err open_cluster(void *arg, jwts_store **out)
{
    jwts_redis_cluster_options o = {.url = url, .pool_size = 4, .key_prefix = arg};
    return jwts_store_redis_cluster_new(&o, out);
}

/* The cluster store from the URL with a query (the form the programs take). */
static jwts_err open_cluster_query(void *arg, jwts_store **out)
{
    char u[700];
    snprintf(u, sizeof u, "%s?pool_size=4&key_prefix=%s&wait_replicas=1&wait_timeout=2s", url, (const char *)arg);
    return jwts_store_open_url(u, out);
}

static int check(bool ok, const char *what)
{
    if (!ok) fprintf(stderr, "FAIL: %s (%s)\n", what, jwts_errdetail());
    return !ok;
}

/* WAIT for 2 replicas where each master has 1: every write fails UNAVAILABLE naming WAIT, was
 * applied on the master all the same (documented), and reads carry no WAIT. */
static int check_wait_too_many(void)
{
    char u[700];
    snprintf(u, sizeof u, "%s?wait_replicas=2&wait_timeout=100ms&key_prefix=wait2:", url);
    jwts_store *st = NULL;
    if (check(jwts_store_open_url(u, &st) == JWTS_OK, "open with wait_replicas=2")) return 1;
    int failures = 0;
    for (int i = 0; i < 6; i++) { /* users on several masters */
        char user[32], sid[32];
        snprintf(user, sizeof user, "wait-user-%d", i);
        snprintf(sid, sizeof sid, "waitsid%d", i);
        jwts_session s = topo_session(user, sid);
        jwts_err rc = jwts_store_set(st, NULL, &s, 60000);
        failures += check(rc == JWTS_E_UNAVAILABLE && strstr(jwts_errdetail(), "redis WAIT: 1 of 2 replicas"),
                          "WAIT 2 of 1 replica fails the write with UNAVAILABLE");
        jwts_session *got = NULL;
        jwts_session_key k = {user, sid};
        failures += check(jwts_store_get(st, NULL, &k, &got) == JWTS_OK, "the write is on the master; get has no WAIT");
        jwts_session_free(got);
    }
    jwts_store_free(st);
    return failures;
}

/* Our CRC16 slots equal the server's for plain keys, hash-tagged keys and edge cases. */
static int check_slots(const redis_server *node)
{
    static const char *const KEYS[] = {"123456789",     "jwts:{alice}:s:abc",   "{alice}", "foo{}{bar}",
                                       "foo{{bar}}zap", "{user1000}.following", "a{b",     "",
                                       "}{x}"};
    int failures = 0;
    if (jwts_redis_key_slot("123456789", 9) != 12739) failures++, fprintf(stderr, "CRC16 test vector differs\n");
    for (size_t i = 0; i < sizeof KEYS / sizeof *KEYS; i++) {
        char out[64];
        const char *argv[] = {"CLUSTER", "KEYSLOT", KEYS[i]};
        if (!redis_server_command(node, out, sizeof out, 3, argv)) return failures + 1;
        unsigned ours = jwts_redis_key_slot(KEYS[i], strlen(KEYS[i]));
        if ((unsigned)atoi(out) != ours) {
            fprintf(stderr, "slot of \"%s\": ours %u, redis %s\n", KEYS[i], ours, out);
            failures++;
        }
    }
    return failures;
}

/* Every key of one user (two sessions' records and the user's index) is in one slot, by the
 * server's CLUSTER KEYSLOT, and the store finds each session from its id alone. */
static int check_user_slot(const redis_server *node)
{
    jwts_store *st = NULL;
    if (open_cluster("slot:", &st)) return 1;
    const char *user = "one-slot-user";
    char ids[2][JWTS_SESSION_ID_LEN + 1], tag[JWTS_SESSION_TAG_LEN + 1], keys[3][128];
    int failures = !jwts_user_tag(user, tag);
    for (int i = 0; i < 2 && !failures; i++) {
        jwts_session s = topo_session(user, "unused");
        failures += check(jwts_session_id_new(user, ids[i]) == JWTS_OK, "a session id");
        s.session_id = ids[i];
        failures += check(jwts_store_set(st, NULL, &s, 60000) == JWTS_OK, "set");
        snprintf(keys[i], sizeof keys[i], "slot:{%s}:s:%s", tag, ids[i]);
        jwts_session *got = NULL;
        failures += check(jwts_store_get_by_id(st, NULL, ids[i], &got) == JWTS_OK && got &&
                              strcmp(got->user_id, user) == 0,
                          "found by id alone");
        jwts_session_free(got);
    }
    snprintf(keys[2], sizeof keys[2], "slot:{%s}:u:%s", tag, user);
    char first[32] = "";
    for (int i = 0; i < 3 && !failures; i++) {
        char out[32];
        const char *argv[] = {"CLUSTER", "KEYSLOT", keys[i]};
        if (!redis_server_command(node, out, sizeof out, 3, argv)) return failures + 1;
        if (i == 0) snprintf(first, sizeof first, "%s", out);
        if (strcmp(out, first) != 0) {
            fprintf(stderr, "slot of %s is %s, of %s %s\n", keys[i], out, keys[0], first);
            failures++;
        }
    }
    jwts_store_free(st);
    return failures;
}

/* Sessions of 60 users land on every master (DBSIZE > 0 on each). */
static int check_spread(topo_cluster *c)
{
    jwts_store *st = NULL;
    if (open_cluster("spread:", &st)) return 1;
    int failures = 0;
    for (int u = 0; u < 60 && !failures; u++) {
        char user[32], sid[32];
        snprintf(user, sizeof user, "user-%d", u);
        snprintf(sid, sizeof sid, "sid%d", u);
        jwts_session s = topo_session(user, sid);
        if (jwts_store_set(st, NULL, &s, 60000) != JWTS_OK) {
            fprintf(stderr, "set %s: %s\n", user, jwts_errdetail());
            failures++;
        }
    }
    jwts_store_free(st);
    size_t with_keys = 0;
    for (size_t i = 0; i < c->n; i++) {
        char role[4096], size[32];
        const char *info[] = {"INFO", "replication"}, *dbsize[] = {"DBSIZE"};
        if (!redis_server_command(&c->nodes[i], role, sizeof role, 2, info) ||
            !redis_server_command(&c->nodes[i], size, sizeof size, 1, dbsize))
            return failures + 1;
        if (strstr(role, "role:master") && atoi(size) > 0) with_keys++;
    }
    if (with_keys != c->masters) {
        fprintf(stderr, "sessions on %zu of %zu masters\n", with_keys, c->masters);
        failures++;
    }
    return failures;
}

int main(void)
{
    topo_cluster c;
    int failures = 0;
    if (!topo_cluster_start(&c, 3, 1, 2000)) {
        fprintf(stderr, "cannot start the cluster\n");
        topo_cluster_destroy(&c);
        return 1;
    }
    topo_cluster_url(&c, url, sizeof url);
    failures += check_slots(&c.nodes[0]);
    failures += check_spread(&c);
    failures += check_user_slot(&c.nodes[0]);
    jwts_conformance_target t = {.name = "redis cluster 3x2", .open = open_cluster, .arg = "conf:"};
    failures += jwts_store_conformance_run(&t);
    jwts_manager_target m = {.name = "redis cluster 3x2", .open = open_cluster, .arg = "mgr:"};
    failures += jwts_manager_suite_run(&m);
    jwts_conformance_target tw = {.name = "redis cluster 3x2 (WAIT 1)", .open = open_cluster_query, .arg = "confw:"};
    failures += jwts_store_conformance_run(&tw);
    jwts_manager_target mw = {.name = "redis cluster 3x2 (WAIT 1)", .open = open_cluster_query, .arg = "mgrw:"};
    failures += jwts_manager_suite_run(&mw);
    failures += check_wait_too_many();
    /* the URL form the programs take */
    jwts_store *st = NULL;
    if (jwts_store_open_url(url, &st) != JWTS_OK || strcmp(jwts_store_name(st), "redis-cluster") != 0) failures++;
    jwts_store_free(st);
    topo_cluster_destroy(&c);
    printf("cluster conformance: %d failure(s)\n", failures);
    return failures != 0;
}
