/*
 * test_redis_conformance.c - the shared store conformance suite against a real redis-server
 * (the CTest fixture's), over TCP and a unix socket, pooled and auto-pipelined, and pooled with
 * callers that spin for their replies (spin_us).
 */
#include <stdio.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "redis_server.h"
#include "store_conformance.h"

static int port;
static char socket_path[300];

typedef struct mode {
    bool unix_socket, pipeline, spin;
} mode;

static jwts_err open_redis(void *arg, jwts_store **out)
{
    const mode *m = arg;
    jwts_redis_options o = {.pool_size = 4, .auto_pipeline = m->pipeline, .key_prefix = "conf:"};
    char url[400];
    if (m->unix_socket)
        snprintf(url, sizeof url, "unix://%s?db=1", socket_path);
    else
        snprintf(url, sizeof url, "redis://127.0.0.1:%d/1%s", port, m->spin ? "?spin_us=200" : "");
    o.url = url;
    return jwts_store_redis_new(&o, out);
}

int main(void)
{
    if (!redis_fixture_address(&port, socket_path, sizeof socket_path)) {
        fprintf(stderr, "JWTS_TEST_REDIS_DIR is not set up (run through ctest)\n");
        return 1;
    }
    static const mode modes[] = {{false, false, false}, {true, false, false}, {false, true, false},
                                 {true, true, false},   {false, false, true}};
    static const char *names[] = {"redis tcp pool", "redis unix pool", "redis tcp auto-pipeline",
                                  "redis unix auto-pipeline", "redis tcp pool spin_us=200"};
    int failures = 0;
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        jwts_conformance_target t = {.name = names[i], .open = open_redis, .arg = (void *)&modes[i]};
        failures += jwts_store_conformance_run(&t);
    }
    return failures != 0;
}
