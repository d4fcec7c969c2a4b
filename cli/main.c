/*
 * main.c - the jwtsession command-line tool: the top-level command table.
 *
 *   jwtsession keygen --alg ALG [--kid KID] [--out FILE]
 *   jwtsession jwks KEYFILE...
 *   jwtsession key rotate|status --key FILE ...
 *   jwtsession token sign|verify ...
 *   jwtsession [GLOBAL OPTIONS] session create|validate|refresh|revoke|revoke-user|list ...
 *   jwtsession [GLOBAL OPTIONS] events tail --group G --consumer C ...
 *   jwtsession --help | -h | --version
 *
 * Failures print "error: JWTS_E_<NAME>: <detail>" on stderr and exit non-zero.
 */
#include "cli.h"

static const jwts_cli_cmd *const COMMANDS[] = {
    &jwts_cli_keygen_cmd,
    &jwts_cli_jwks_cmd,
    &jwts_cli_key_cmd,
    &jwts_cli_token_cmd,
    &jwts_cli_session_cmd,
    &jwts_cli_events_cmd,
};

int main(int argc, char **argv)
{
    int next;
    int rc = cli_parse_globals(argc, argv, &next);
    if (rc) return rc;
    if (next == CLI_NEXT_DONE) return CLI_OK;
    if (next == CLI_NEXT_HELP) {
        char *help_argv[] = {argv[0], "help", NULL};
        return cli_dispatch("", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], 2, help_argv);
    }
    argv[next - 1] = argv[0]; /* the dispatcher reads the command at argv[1] */
    return cli_dispatch("", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], argc - next + 1, argv + next - 1);
}
