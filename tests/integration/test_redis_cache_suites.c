/*
 * test_redis_cache_suites.c - the store conformance suite and the manager's lifecycle suite on
 * Redis stores with the near cache on (the CTest fixture's server), pooled and auto-pipelined:
 * the cache must not change what any store call or manager operation answers. Each store waits
 * until its invalidation stream is live, so reads really go through the cache.
 */
#include <stdio.h>
#include <time.h>

#include "jwtsession/jwtsession.h"
#include "manager_suite.h"
#include "redis_server.h"
#include "store_conformance.h"

static int port;

static jwts_err open_cached(const char *prefix, int db, bool pipeline, jwts_store **out)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/%d", port, db);
    jwts_redis_options o = {.url = url, .pool_size = 4, .auto_pipeline = pipeline, .key_prefix = prefix,
                            .cache = {.enabled = true}};
    jwts_err rc = jwts_store_redis_new(&o, out);
    if (rc) return rc;
    jwts_redis_cache_stats s = {0};
    for (int i = 0; i < 500 && !s.live; i++) { /* up to 5 s */
        jwts_store_redis_cache_stats(*out, &s);
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return JWTS_OK;
}

static jwts_err open_conformance(void *arg, jwts_store **out) { return open_cached("cconf:", 3, arg != NULL, out); }
static jwts_err open_manager(void *arg, jwts_store **out) { return open_cached("cmgr:", 4, arg != NULL, out); }

int main(void)
{
    char socket_path[300];
    if (!redis_fixture_address(&port, socket_path, sizeof socket_path)) {
        fprintf(stderr, "JWTS_TEST_REDIS_DIR is not set up (run through ctest)\n");
        return 1;
    }
    int failures = 0;
    jwts_conformance_target c1 = {.name = "redis+cache pool", .open = open_conformance, .arg = NULL};
    jwts_conformance_target c2 = {.name = "redis+cache auto-pipeline", .open = open_conformance, .arg = (void *)1};
    failures += jwts_store_conformance_run(&c1) + jwts_store_conformance_run(&c2);
    jwts_manager_target m1 = {.name = "redis+cache pool", .open = open_manager, .arg = NULL};
    jwts_manager_target m2 = {.name = "redis+cache auto-pipeline", .open = open_manager, .arg = (void *)1};
    failures += jwts_manager_suite_run(&m1) + jwts_manager_suite_run(&m2);
    return failures != 0;
}
