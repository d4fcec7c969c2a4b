/*
 * cli.c - helpers shared by the command groups: dispatch and help, error printing in the stable
 * "error: JWTS_E_<NAME>: <detail>" form, reading files and loading keys.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define READ_MAX (1024 * 1024)

static void help(const char *group, const jwts_cli_cmd *const *cmds, size_t n, FILE *f)
{
    fprintf(f, "usage: jwtsession%s%s COMMAND [ARGS]\n\ncommands:\n", *group ? " " : "", group);
    for (size_t i = 0; i < n; i++) fprintf(f, "  %-11s %-48s %s\n", cmds[i]->name, cmds[i]->usage, cmds[i]->summary);
}

int cli_dispatch(const char *group, const jwts_cli_cmd *const *cmds, size_t n, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        help(group, cmds, n, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[1], cmds[i]->name) == 0) return cmds[i]->run(argc - 1, argv + 1);
    cli_usage("unknown command \"%s%s%s\" (try: jwtsession%s%s help)", group, *group ? " " : "", argv[1],
              *group ? " " : "", group);
    return CLI_USAGE;
}

int cli_fail(jwts_err code)
{
    const char *d = jwts_errdetail();
    fprintf(stderr, "error: %s: %s\n", jwts_errname(code), *d ? d : jwts_strerror(code));
    return CLI_FAILED;
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "error: %s: ", jwts_errname(JWTS_E_INVALID_ARGUMENT));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_USAGE;
}

/* Print a file error in the stable form and return JWTS_E_NOT_FOUND. */
static jwts_err io_fail(const char *path, const char *what)
{
    fprintf(stderr, "error: %s: %s: %s\n", jwts_errname(JWTS_E_NOT_FOUND), path, what);
    return JWTS_E_NOT_FOUND;
}

jwts_err cli_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return io_fail(path, "cannot open");
    char *buf = malloc(READ_MAX + 1);
    if (!buf) {
        if (f != stdin) fclose(f);
        return io_fail(path, "out of memory");
    }
    size_t n = fread(buf, 1, READ_MAX + 1, f);
    int err = ferror(f);
    if (f != stdin) fclose(f);
    if (err || n > READ_MAX) {
        free(buf);
        return io_fail(path, err ? "read error" : "larger than 1 MiB");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return JWTS_OK;
}

jwts_err cli_load_keys(const char *path, jwts_alg alg, jwts_keyset **ks)
{
    char *text;
    size_t len;
    jwts_err e = cli_read_file(path, &text, &len);
    if (e) return e;
    jwts_keyset *got = NULL;
    e = jwts_keyset_parse(text, len, alg, &got);
    if (e == JWTS_E_INVALID_ARGUMENT && alg != JWTS_ALG_UNSET) /* a JWKS: load it whole */
        e = jwts_keyset_parse(text, len, JWTS_ALG_UNSET, &got);
    memset(text, 0, len); /* may hold a private key */
    free(text);
    if (e) {
        cli_fail(e);
        return e;
    }
    if (!*ks) {
        *ks = got;
        return JWTS_OK;
    }
    e = jwts_keyset_merge(*ks, got);
    jwts_keyset_free(got);
    if (e) cli_fail(e);
    return e;
}
