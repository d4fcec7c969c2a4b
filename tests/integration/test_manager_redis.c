/*
 * test_manager_redis.c - the session manager's lifecycle suite over a real redis-server (the
 * CTest fixture's), pooled and auto-pipelined.
 */
#include <stdio.h>

#include "jwtsession/jwtsession.h"
#include "manager_suite.h"
#include "redis_server.h"

static int port;

static jwts_err open_redis(void *arg, jwts_store **out)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/2", port);
    jwts_redis_options o = {.url = url, .pool_size = 8, .auto_pipeline = arg != NULL, .key_prefix = "mgr:"};
    return jwts_store_redis_new(&o, out);
}

int main(void)
{
    char socket_path[300];
    if (!redis_fixture_address(&port, socket_path, sizeof socket_path)) {
        fprintf(stderr, "JWTS_TEST_REDIS_DIR is not set up (run through ctest)\n");
        return 1;
    }
    jwts_manager_target pooled = {.name = "redis pool", .open = open_redis, .arg = NULL};
    jwts_manager_target piped = {.name = "redis auto-pipeline", .open = open_redis, .arg = (void *)1};
    return (jwts_manager_suite_run(&pooled) + jwts_manager_suite_run(&piped)) != 0;
}
