/*
 * main.c - the jwtsession command-line tool: the top-level command table.
 *
 *   jwtsession keygen --alg ALG [--kid KID] [--out FILE]
 *   jwtsession jwks KEYFILE...
 *   jwtsession token sign|verify ...
 *
 * Failures print "error: JWTS_E_<NAME>: <detail>" on stderr and exit non-zero.
 */
#include "cli.h"

static const jwts_cli_cmd *const COMMANDS[] = {
    &jwts_cli_keygen_cmd,
    &jwts_cli_jwks_cmd,
    &jwts_cli_token_cmd,
};

int main(int argc, char **argv)
{
    return cli_dispatch("", COMMANDS, sizeof COMMANDS / sizeof COMMANDS[0], argc, argv);
}
