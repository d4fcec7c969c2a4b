/*
 * redis_server.c - start, restart and stop throwaway redis-server processes for tests.
 *
 * The server runs in the foreground as our child (no daemonize), so its pid is known and it is
 * stopped by that pid. A free port comes from binding port 0 on loopback and closing it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis_server.h"

/* Servers still running, killed at exit when a failed assertion skipped their test's cleanup. */
#define MAX_LIVE 16
static pid_t live[MAX_LIVE];

static void kill_leftovers(void)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i] > 0) kill(live[i], SIGKILL), waitpid(live[i], NULL, 0), live[i] = 0;
}

static void track(pid_t pid, pid_t replace)
{
    static bool registered;
    if (!registered) registered = atexit(kill_leftovers) == 0;
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i] == replace) {
            live[i] = pid;
            return;
        }
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool answers_ping(const redis_server *s)
{
    char out[64];
    const char *argv[] = {"PING"};
    return redis_server_command(s, out, sizeof out, 1, argv) &&
           (strcmp(out, "PONG") == 0 || strncmp(out, "-NOAUTH", 7) == 0);
}

static bool spawn(redis_server *s)
{
    char conf[1024];
    snprintf(conf, sizeof conf, "%s/redis.conf", s->dir);
    FILE *f = fopen(conf, "w");
    if (!f) return false;
    if (s->sentinel)
        fprintf(f, "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s/redis.log\n%s\n", s->port, s->dir, s->dir, s->extra);
    else
        fprintf(f, "port %d\nbind 127.0.0.1\nunixsocket %s\nunixsocketperm 700\ndir %s\nsave \"\"\n"
                   "logfile %s/redis.log\nenable-debug-command local\n%s\n",
                s->port, s->socket, s->dir, s->dir, s->extra);
    fclose(f);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        if (s->sentinel) execlp("redis-server", "redis-server", conf, "--sentinel", (char *)NULL);
        else execlp("redis-server", "redis-server", conf, (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    track(pid, 0);
    for (int i = 0; i < 100; i++) {
        if (answers_ping(s)) return true;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            track(0, pid);
            s->pid = 0;
            return false;
        }
        sleep_ms(50);
    }
    redis_server_stop(s, true);
    return false;
}

static bool start(redis_server *s, const char *extra_config, bool sentinel)
{
    memset(s, 0, sizeof *s);
    s->sentinel = sentinel;
    snprintf(s->dir, sizeof s->dir, "/tmp/jwts-redis-XXXXXX");
    if (!mkdtemp(s->dir)) {
        perror("mkdtemp");
        return false;
    }
    snprintf(s->socket, sizeof s->socket, "%s/redis.sock", s->dir);
    snprintf(s->extra, sizeof s->extra, "%s", extra_config ? extra_config : "");
    for (int attempt = 0; attempt < 5; attempt++) {
        s->port = free_port();
        if (s->port > 0 && spawn(s)) return true;
    }
    fprintf(stderr, "cannot start redis-server in %s\n", s->dir);
    return false;
}

bool redis_server_start(redis_server *s, const char *extra_config) { return start(s, extra_config, false); }

bool redis_sentinel_start(redis_server *s, const char *extra_config) { return start(s, extra_config, true); }

bool redis_server_restart(redis_server *s)
{
    for (int attempt = 0; attempt < 40; attempt++) { /* the old socket may linger briefly */
        if (spawn(s)) return true;
        sleep_ms(100);
    }
    return false;
}

void redis_server_stop(redis_server *s, bool hard)
{
    if (s->pid <= 0) return;
    kill(s->pid, hard ? SIGKILL : SIGTERM);
    int status;
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {}
    track(0, s->pid);
    s->pid = 0;
}

void redis_server_destroy(redis_server *s)
{
    redis_server_stop(s, false);
    if (s->dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", s->dir);
    }
}

static void reply_text(const redisReply *r, char *out, size_t cap)
{
    switch (r->type) {
    case REDIS_REPLY_ERROR: snprintf(out, cap, "-%s", r->str); break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: snprintf(out, cap, "%s", r->str); break;
    case REDIS_REPLY_INTEGER: snprintf(out, cap, "%lld", r->integer); break;
    case REDIS_REPLY_NIL: snprintf(out, cap, "(nil)"); break;
    default: snprintf(out, cap, "(array of %zu)", r->elements); break;
    }
}

bool redis_server_command(const redis_server *s, char *out, size_t cap, int argc, const char **argv)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return false;
    }
    redisSetTimeout(c, (struct timeval){30, 0});
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    bool ok = r != NULL;
    if (r) reply_text(r, out, cap);
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

bool redis_fixture_address(int *port, char *socket, size_t cap)
{
    const char *dir = getenv("JWTS_TEST_REDIS_DIR");
    if (!dir) return false;
    char path[512];
    snprintf(path, sizeof path, "%s/port", dir);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool ok = fscanf(f, "%d", port) == 1;
    fclose(f);
    snprintf(path, sizeof path, "%s/socket", dir);
    f = fopen(path, "r");
    if (!f) return false;
    ok = ok && fgets(socket, (int)cap, f) != NULL;
    fclose(f);
    socket[strcspn(socket, "\n")] = '\0';
    return ok;
}
