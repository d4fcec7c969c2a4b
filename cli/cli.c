/*
 * cli.c - helpers shared by the command groups: dispatch and help, error printing in the stable
 * "error: JWTS_E_<NAME>: <detail>" form, reading files. Key files: keyfile.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define READ_MAX (1024 * 1024)

static void help(const char *group, const jwts_cli_cmd *const *cmds, size_t n, FILE *f)
{
    fprintf(f, "usage: jwtsession [GLOBAL OPTIONS]%s%s COMMAND [ARGS]\n\ncommands:\n", *group ? " " : "", group);
    for (size_t i = 0; i < n; i++) fprintf(f, "  %-11s %-48s %s\n", cmds[i]->name, cmds[i]->usage, cmds[i]->summary);
    if (!*group) {
        fputc('\n', f);
        cli_print_globals(f);
    }
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

jwts_err cli_file_error(const char *path, const char *doing, int err)
{
    jwts_err code = JWTS_E_INVALID_ARGUMENT;
    const char *what;
    char buf[160];
    if (err == ENOENT || err == ENOTDIR) {
        code = JWTS_E_NOT_FOUND;
        what = "no such file";
    } else if (err == EACCES || err == EPERM) {
        snprintf(buf, sizeof buf, "permission denied (cannot %s it as this user)", doing);
        what = buf;
    } else {
        snprintf(buf, sizeof buf, "cannot %s: %s", doing, strerror(err));
        what = buf;
    }
    fprintf(stderr, "error: %s: %s: %s\n", jwts_errname(code), path, what);
    return code;
}

/* Print a file error that has no errno in the stable form. */
static jwts_err io_fail(const char *path, const char *what)
{
    fprintf(stderr, "error: %s: %s: %s\n", jwts_errname(JWTS_E_INVALID_ARGUMENT), path, what);
    return JWTS_E_INVALID_ARGUMENT;
}

jwts_err cli_read_stream(FILE *f, const char *path, char **out, size_t *len)
{
    char *buf = malloc(READ_MAX + 1);
    if (!buf) return io_fail(path, "out of memory");
    size_t n = fread(buf, 1, READ_MAX + 1, f);
    int err = ferror(f);
    if (err || n > READ_MAX) {
        memset(buf, 0, n > READ_MAX ? READ_MAX : n); /* may hold a private key */
        free(buf);
        return io_fail(path, err ? "read error" : "larger than 1 MiB");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return JWTS_OK;
}

jwts_err cli_read_file(const char *path, char **out, size_t *len)
{
    if (strcmp(path, "-") == 0) return cli_read_stream(stdin, path, out, len);
    FILE *f = fopen(path, "rb");
    if (!f) return cli_file_error(path, "read", errno);
    jwts_err e = cli_read_stream(f, path, out, len);
    fclose(f);
    return e;
}
