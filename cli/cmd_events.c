/*
 * cmd_events.c - the "events" command group: the lifecycle events stream of a Redis store
 * (--store redis://...?events=KEY; docs/events.md).
 *
 *   jwtsession [GLOBAL OPTIONS] events tail --group G --consumer C [--count N] [--block DURATION] [--once]
 *
 * Prints each event as one JSON line on stdout, then acknowledges it, as consumer C of group G:
 * the consumers of one group share the events, and a consumer that restarts under its name first
 * gets what it was given and never acknowledged. Runs until SIGINT/SIGTERM, or one read with --once.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jwtsession/clock.h"
#include "jwtsession/store.h"
#include "jwtsession/store_redis.h"

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* One event: its line out, and acknowledged only once the line is written. */
static bool print_event(void *arg, const char *id, const char *json)
{
    (void)arg, (void)id;
    return printf("%s\n", json) > 0 && fflush(stdout) == 0;
}

static int run_tail(int argc, char **argv)
{
    static const char *usage = "tail --group G --consumer C [--count N] [--block DURATION] [--once]";
    static const struct option opts[] = {{"group", required_argument, NULL, 'g'},
                                         {"consumer", required_argument, NULL, 'c'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"block", required_argument, NULL, 'b'},
                                         {"once", no_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *group = NULL, *consumer = NULL;
    long count = 100;
    int64_t block_ms = 5000;
    bool once = false;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "g:c:n:b:oh", opts, NULL)) != -1) {
        char *end = NULL;
        if (c == 'g') group = optarg;
        else if (c == 'c') consumer = optarg;
        else if (c == 'n' && ((count = strtol(optarg, &end, 10)) < 1 || count > 10000 || *end))
            return cli_usage("--count: 1..10000");
        else if (c == 'b' && (jwts_duration_parse_ms(optarg, &block_ms) != JWTS_OK || block_ms > 3600 * 1000))
            return cli_usage("--block: a duration up to 1h (e.g. 5s, 0 for none)");
        else if (c == 'o') once = true;
        else if (c == 'h') {
            printf("usage: jwtsession [GLOBAL OPTIONS] events %s\n", usage);
            return CLI_OK;
        } else if (c == '?' || c == ':') {
            cli_global_hint(argv[optind - 1]);
            return cli_usage("usage: jwtsession events %s", usage);
        }
    }
    if (!group || !consumer || optind != argc) return cli_usage("usage: jwtsession events %s", usage);
    jwts_store *st = NULL;
    jwts_err rc = jwts_store_open_url(cli_globals.store, &st);
    if (rc) return cli_fail(rc);
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    do {
        size_t handled = 0;
        rc = jwts_store_redis_events_read(st, NULL, group, consumer, (size_t)count, once ? 0 : block_ms, print_event,
                                          NULL, &handled);
    } while (!rc && !once && !stop_requested);
    jwts_store_free(st);
    return rc ? cli_fail(rc) : CLI_OK;
}

static const jwts_cli_cmd TAIL = {"tail", "--group G --consumer C [--count N] [--block DURATION] [--once]",
                                  "print and acknowledge the events of a Redis store's stream", run_tail};
static const jwts_cli_cmd *const EVENTS_CMDS[] = {&TAIL};

static int run_events(int argc, char **argv)
{
    return cli_dispatch("events", EVENTS_CMDS, sizeof EVENTS_CMDS / sizeof *EVENTS_CMDS, argc, argv);
}

const jwts_cli_cmd jwts_cli_events_cmd = {"events", "tail ...", "the lifecycle events stream of a Redis store (events=KEY)",
                                          run_events};
