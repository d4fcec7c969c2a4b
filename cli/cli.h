/*
 * cli.h - the jwtsession command-line tool: the command table and helpers shared by the command
 * groups. A group is one file (cmd_key.c, cmd_token.c, ...) exporting jwts_cli_cmd entries that
 * main.c lists in its table; adding a group (e.g. "session") is one file and one line.
 */
#ifndef JWTS_CLI_H
#define JWTS_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "jwtsession/error.h"
#include "jwtsession/jose.h"

/* Exit codes: 0 success, 1 the operation failed (error printed), 2 bad usage. */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* One command or command group. run gets argv with argv[0] = the command name. */
typedef struct jwts_cli_cmd {
    const char *name;
    const char *usage;   /* one line of arguments, shown in help */
    const char *summary; /* one sentence */
    int (*run)(int argc, char **argv);
} jwts_cli_cmd;

/* Commands of each group (defined in cmd_*.c). */
extern const jwts_cli_cmd jwts_cli_keygen_cmd, jwts_cli_jwks_cmd, jwts_cli_key_cmd, jwts_cli_token_cmd, jwts_cli_session_cmd;
extern const jwts_cli_cmd jwts_cli_events_cmd;

/* The global options (before the command), each with a JWTSESSION_* environment twin - the same
 * names, value forms and defaults the daemon uses. Durations ("90", "15m", ...:
 * jwts_duration_parse_ms) are kept in ms; 0 means none for idle_timeout_ms, refresh_grace_ms and
 * max_sessions, as in the daemon. */
typedef struct cli_settings {
    const char *store;    /* --store, JWTSESSION_STORE: "memory" (default), redis://... */
    const char *key;      /* --key, JWTSESSION_KEY: a JWK, JWKS or PEM file */
    const char *issuer;   /* --issuer, JWTSESSION_ISSUER: "jwtsession" (default) */
    const char *audience; /* --audience, JWTSESSION_AUDIENCE */
    int64_t access_ttl_ms, refresh_ttl_ms, idle_timeout_ms, refresh_grace_ms, max_sessions;
} cli_settings;

extern cli_settings cli_globals;

/* Fill cli_globals from the environment, then from the options at the front of argv; *next gets
 * the index of the command, or CLI_NEXT_HELP for -h/--help (the caller prints the help) or
 * CLI_NEXT_DONE after --version printed the version. CLI_USAGE (error printed) for a bad option
 * or value. */
enum { CLI_NEXT_HELP = -1, CLI_NEXT_DONE = 0 };
int cli_parse_globals(int argc, char **argv, int *next);

/* Print the global options, one a line with its environment twin, to f (the top-level help). */
void cli_print_globals(FILE *f);

/* If arg (an option a command rejected, "--store" or "--store=URL") is a global option, print a
 * hint on stderr that global options go before the command. */
void cli_global_hint(const char *arg);

/* Dispatch argv[1] among cmds (n entries) or print their help; group names the parent ("" at top). */
int cli_dispatch(const char *group, const jwts_cli_cmd *const *cmds, size_t n, int argc, char **argv);

/* Print "error: JWTS_E_<NAME>: <detail>" for code and return CLI_FAILED. */
int cli_fail(jwts_err code);

/* Print a usage error ("error: JWTS_E_INVALID_ARGUMENT: ...") and return CLI_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read all of path ("-" for stdin, at most 1 MiB) into a malloc'd NUL-terminated buffer. Prints
 * its own error (cli_file_error). */
jwts_err cli_read_file(const char *path, char **out, size_t *len);

/* Read all of the open stream f (at most 1 MiB) as cli_read_file does; path names it in errors. */
jwts_err cli_read_stream(FILE *f, const char *path, char **out, size_t *len);

/* Print the error of a failed open/create/write of path ("error: JWTS_E_<NAME>: PATH: ...") for
 * errno err and return its code: JWTS_E_NOT_FOUND "no such file" for a missing file, else
 * JWTS_E_INVALID_ARGUMENT, saying "permission denied" when that is the reason. doing: "read",
 * "create", "write". */
jwts_err cli_file_error(const char *path, const char *doing, int err);

/* Load the keys of path (JWK, JWKS or PEM) and add them to *ks (created if NULL). alg as in
 * jwts_keyset_parse (a JWKS is loaded whole). Prints its own error; warns (as ssh does) when the
 * file holds a private or secret key and group or others have any access to it. (keyfile.c) */
jwts_err cli_load_keys(const char *path, jwts_alg alg, jwts_keyset **ks);

/* Write text and a newline to path, a private key file, or to stdout for NULL/"-". A new file is
 * created with O_EXCL|O_NOFOLLOW and mode 0600; an existing one is refused unless force, which
 * replaces a regular file by a new 0600 one (write beside, then rename). A symbolic link is never
 * followed nor replaced. Prints its own error; CLI_OK or CLI_FAILED. (keyfile.c) */
int cli_write_private(const char *path, const char *text, int force);

#endif
