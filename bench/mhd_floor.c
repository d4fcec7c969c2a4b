/*
 * mhd_floor.c - the least a libmicrohttpd server can do per request, for bench_daemon: every
 * request is answered 200 with an empty body, by a daemon started with jwtsessiond's own flags
 * and thread pool (daemon/http.c: poll(2) loop, one polling thread per core, turbo, suspend and
 * resume allowed) and, given POOL, jwtsessiond's per-connection memory pool size. What jwtsessiond's
 * GET /v1/auth costs beyond this figure is our own work; what this figure trails nginx by is
 * libmicrohttpd's.
 *
 *   mhd_floor PORT [POOL]    (on 127.0.0.1; POOL bytes, default libmicrohttpd's 32 KiB; runs
 *                             until SIGTERM or SIGINT)
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
    static int headers_seen;
    if (!*state) { /* the first call has the headers; answered on the next (an answer queued before the
                      request is complete makes libmicrohttpd close the connection after it) */
        *state = &headers_seen;
        return MHD_YES;
    }
    return MHD_queue_response(c, MHD_HTTP_OK, (struct MHD_Response *)cls);
}

int main(int argc, char **argv)
{
    int port = argc >= 2 ? atoi(argv[1]) : 0;
    long pool = argc == 3 ? atol(argv[2]) : 32 * 1024;
    if (port <= 0 || port > 65535 || pool < 4096 || argc > 3) {
        fprintf(stderr, "usage: mhd_floor PORT [POOL]\n");
        return 2;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cores > 1 ? (unsigned)cores : 0;
    struct MHD_Response *empty = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_TURBO |
                     MHD_ALLOW_SUSPEND_RESUME;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, answer, empty, MHD_OPTION_SOCK_ADDR,
                                            (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
                                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)pool,
                                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!d || !empty) {
        fprintf(stderr, "mhd_floor: cannot listen on port %d\n", port);
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop) pause();
    MHD_stop_daemon(d);
    MHD_destroy_response(empty);
    return 0;
}
