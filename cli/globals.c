/*
 * globals.c - the global options of the jwtsession tool and their JWTSESSION_* environment twins
 * (the names the daemon uses). Options win over the environment.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "jwtsession/clock.h"
#include "jwtsession/manager.h"
#include "jwtsession/version.h"

cli_settings cli_globals;

typedef struct global_opt {
    const char *flag, *env, *arg, *help; /* arg and help: the --help line */
    const char *def;                     /* the default: the same text as jwtsessiond's (its --help) */
    const char **text; /* string settings */
    int64_t *number;   /* numeric settings: a duration in ms, or (max-sessions) a count */
} global_opt;

/* The defaults are jwtsessiond's (daemon/config.c), so a session made here validates there and the
 * other way round; test_cli_usage compares both programs' --help. */
static const global_opt GLOBALS[] = {
    {"store", "JWTSESSION_STORE", "URL", "memory, redis://host:port/db, unix://, redis-cluster://...", "memory",
     &cli_globals.store, NULL},
    {"key", "JWTSESSION_KEY", "FILE", "signing/verifying keys: a JWK, JWKS or PEM file", NULL, &cli_globals.key,
     NULL},
    {"issuer", "JWTSESSION_ISSUER", "ISS", "the iss claim tokens carry and must carry", "jwtsession",
     &cli_globals.issuer, NULL},
    {"audience", "JWTSESSION_AUDIENCE", "AUD", "the aud claim (none by default)", NULL, &cli_globals.audience, NULL},
    {"access-ttl", "JWTSESSION_ACCESS_TTL", "DUR", "access token lifetime", "15m", NULL, &cli_globals.access_ttl_ms},
    {"refresh-ttl", "JWTSESSION_REFRESH_TTL", "DUR", "a refresh token unused this long dies", "30d", NULL,
     &cli_globals.refresh_ttl_ms},
    {"idle-timeout", "JWTSESSION_IDLE_TIMEOUT", "DUR", "a session not seen this long ends (off: no limit)", "off",
     NULL, &cli_globals.idle_timeout_ms},
    {"max-sessions", "JWTSESSION_MAX_SESSIONS", "N", "sessions per user (off: unlimited)", "off", NULL,
     &cli_globals.max_sessions},
    {"refresh-grace", "JWTSESSION_REFRESH_GRACE", "DUR", "concurrent refreshes within this window get one pair (off: none)",
     "10s", NULL, &cli_globals.refresh_grace_ms},
};
#define NGLOBALS (sizeof GLOBALS / sizeof *GLOBALS)

/* Set g from value; label names where it came from ("--store" or "JWTSESSION_STORE"). */
static int set_global(const global_opt *g, const char *value, const char *label)
{
    if (g->text) {
        bool claim = g->text == &cli_globals.issuer || g->text == &cli_globals.audience;
        if (!*value && claim) value = NULL; /* "": no such claim, as in the daemon */
        else if (!*value) return cli_usage("%s: empty value", label);
        *g->text = value;
        return CLI_OK;
    }
    /* every numeric global can be off; 0 means the default, as in the library and jwtsessiond */
    if (!strcasecmp(value, "off")) return *g->number = JWTS_OFF, CLI_OK;
    if (!strcmp(value, "0") && strcmp(g->def, "off"))
        return cli_usage("%s: 0 would be its default (%s); write off to turn it off", label, g->def);
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

void cli_print_globals(FILE *f)
{
    fprintf(f, "global options (before the command; each has a JWTSESSION_* environment twin):\n");
    for (size_t i = 0; i < NGLOBALS; i++) {
        char flag[40];
        snprintf(flag, sizeof flag, "--%s %s", GLOBALS[i].flag, GLOBALS[i].arg);
        fprintf(f, "  %-21s %-25s %s", flag, GLOBALS[i].env, GLOBALS[i].help);
        if (GLOBALS[i].def) fprintf(f, " [default %s]", GLOBALS[i].def);
        fputc('\n', f);
    }
    fprintf(f, "  %-21s %-25s %s\n", "-h, --help", "", "this help");
    fprintf(f, "  %-21s %-25s %s\n", "--version", "", "print the version");
    fprintf(f, "durations: 90 (seconds), 90s, 500ms, 15m, 12h, 30d\n");
}

void cli_global_hint(const char *arg)
{
    if (!arg || strncmp(arg, "--", 2) != 0) return;
    size_t n = strcspn(arg + 2, "=");
    for (size_t i = 0; i < NGLOBALS; i++)
        if (strlen(GLOBALS[i].flag) == n && strncmp(arg + 2, GLOBALS[i].flag, n) == 0) {
            fprintf(stderr, "hint: --%s is a global option: it goes before the command (jwtsession --%s %s COMMAND ...)\n",
                    GLOBALS[i].flag, GLOBALS[i].flag, GLOBALS[i].arg);
            return;
        }
}

enum { OPT_HELP = 'h', OPT_VERSION = 0x100 };

int cli_parse_globals(int argc, char **argv, int *next)
{
    for (size_t i = 0; i < NGLOBALS; i++)
        if (GLOBALS[i].def && set_global(&GLOBALS[i], GLOBALS[i].def, "default")) return CLI_USAGE;
    for (size_t i = 0; i < NGLOBALS; i++) {
        const char *v = getenv(GLOBALS[i].env);
        if (v && set_global(&GLOBALS[i], v, GLOBALS[i].env)) return CLI_USAGE;
    }
    struct option opts[NGLOBALS + 3];
    for (size_t i = 0; i < NGLOBALS; i++) opts[i] = (struct option){GLOBALS[i].flag, required_argument, NULL, (int)i};
    opts[NGLOBALS] = (struct option){"help", no_argument, NULL, OPT_HELP};
    opts[NGLOBALS + 1] = (struct option){"version", no_argument, NULL, OPT_VERSION};
    opts[NGLOBALS + 2] = (struct option){0, 0, 0, 0};
    int c;
    optind = 0; /* 0, not 1: glibc then also resets its argument-order mode */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == OPT_HELP) {
            *next = CLI_NEXT_HELP;
            return CLI_OK;
        }
        if (c == OPT_VERSION) {
            printf("jwtsession %s\n", jwts_version());
            *next = CLI_NEXT_DONE;
            return CLI_OK;
        }
        if (c < 0 || c >= (int)NGLOBALS) {
            opterr = 1;
            return cli_usage("unknown global option \"%s\" (try: jwtsession --help)", argv[optind - 1]);
        }
        char label[32];
        snprintf(label, sizeof label, "--%s", GLOBALS[c].flag);
        if (set_global(&GLOBALS[c], optarg, label)) return CLI_USAGE;
    }
    opterr = 1;
    *next = optind;
    return CLI_OK;
}
