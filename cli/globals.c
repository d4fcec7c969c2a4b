/*
 * globals.c - the global options of the jwtsession tool and their JWTSESSION_* environment twins
 * (the names the daemon uses). Options win over the environment.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jwtsession/clock.h"

cli_settings cli_globals = {.store = "memory", .refresh_grace_ms = -1};

typedef struct global_opt {
    const char *flag, *env;
    const char **text; /* string settings */
    int64_t *number;   /* numeric settings: a duration in ms, or (max-sessions) a count */
} global_opt;

static const global_opt GLOBALS[] = {
    {"store", "JWTSESSION_STORE", &cli_globals.store, NULL},
    {"key", "JWTSESSION_KEY", &cli_globals.key, NULL},
    {"issuer", "JWTSESSION_ISSUER", &cli_globals.issuer, NULL},
    {"audience", "JWTSESSION_AUDIENCE", &cli_globals.audience, NULL},
    {"access-ttl", "JWTSESSION_ACCESS_TTL", NULL, &cli_globals.access_ttl_ms},
    {"refresh-ttl", "JWTSESSION_REFRESH_TTL", NULL, &cli_globals.refresh_ttl_ms},
    {"idle-timeout", "JWTSESSION_IDLE_TIMEOUT", NULL, &cli_globals.idle_timeout_ms},
    {"max-sessions", "JWTSESSION_MAX_SESSIONS", NULL, &cli_globals.max_sessions},
    {"refresh-grace", "JWTSESSION_REFRESH_GRACE", NULL, &cli_globals.refresh_grace_ms},
};
#define NGLOBALS (sizeof GLOBALS / sizeof *GLOBALS)

/* Set g from value; label names where it came from ("--store" or "JWTSESSION_STORE"). */
static int set_global(const global_opt *g, const char *value, const char *label)
{
    if (g->text) {
        if (!*value) return cli_usage("%s: empty value", label);
        *g->text = value;
        return CLI_OK;
    }
    if (g->number != &cli_globals.max_sessions) {
        if (jwts_duration_parse_ms(value, g->number) != JWTS_OK) return cli_usage("%s: %s", label, jwts_errdetail());
        return CLI_OK;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < 0) return cli_usage("%s: \"%s\" is not a whole number", label, value);
    *g->number = v;
    return CLI_OK;
}

int cli_parse_globals(int argc, char **argv, int *next)
{
    for (size_t i = 0; i < NGLOBALS; i++) {
        const char *v = getenv(GLOBALS[i].env);
        if (v && set_global(&GLOBALS[i], v, GLOBALS[i].env)) return CLI_USAGE;
    }
    struct option opts[NGLOBALS + 1];
    for (size_t i = 0; i < NGLOBALS; i++) opts[i] = (struct option){GLOBALS[i].flag, required_argument, NULL, (int)i};
    opts[NGLOBALS] = (struct option){0, 0, 0, 0};
    int c;
    optind = 0; /* 0, not 1: glibc then also resets its argument-order mode */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (c < 0 || c >= (int)NGLOBALS) return cli_usage("unknown global option \"%s\"", argv[optind - 1]);
        char label[32];
        snprintf(label, sizeof label, "--%s", GLOBALS[c].flag);
        if (set_global(&GLOBALS[c], optarg, label)) return CLI_USAGE;
    }
    opterr = 1;
    *next = optind;
    return CLI_OK;
}
