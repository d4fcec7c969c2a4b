/*
 * redis_server.h - tests' own throwaway redis-server processes, and the shared fixture's address.
 *
 * Tests that change a server (kill it, restart it, fill its memory, make it a replica) start
 * their own on a free loopback port in a temp dir and stop it by pid. The others use the one
 * the CTest fixture started (JWTS_TEST_REDIS_DIR/port and /socket).
 */
#ifndef JWTS_TESTS_REDIS_SERVER_H
#define JWTS_TESTS_REDIS_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct redis_server {
    pid_t pid;
    int port;
    char dir[256];    /* temp dir: data, log, socket */
    char socket[300]; /* unix socket path */
    char extra[512];  /* extra config lines, one "name value" per line (kept for restarts) */
    bool sentinel;    /* runs as redis-server --sentinel (redis_sentinel_start) */
} redis_server;

/* Start a redis-server on a free loopback port in a new temp dir, with extra config lines
 * (may be NULL), and wait until it answers PING. Returns false (and prints why) on failure. */
bool redis_server_start(redis_server *s, const char *extra_config);

/* Start a Redis Sentinel (redis-server <conf> --sentinel) on a free loopback port in a new temp
 * dir, with extra config lines such as "sentinel monitor ...", and wait until it answers PING. */
bool redis_sentinel_start(redis_server *s, const char *extra_config);

/* Start it again on the same port and dir (after stop or kill): same data, same AOF. */
bool redis_server_restart(redis_server *s);

/* Stop it: SIGTERM (or SIGKILL when hard) and wait for the process. */
void redis_server_stop(redis_server *s, bool hard);

/* Stop it and remove its temp dir. */
void redis_server_destroy(redis_server *s);

/* Run a command on s with redis-cli-like argv via hiredis; returns the reply as text in out
 * (error replies start with "-"). false if it could not connect. */
bool redis_server_command(const redis_server *s, char *out, size_t cap, int argc, const char **argv);

/* The shared fixture's port and unix socket (JWTS_TEST_REDIS_DIR); false if not set up. */
bool redis_fixture_address(int *port, char *socket, size_t cap);

#endif
