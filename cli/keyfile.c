/*
 * keyfile.c - private key files: loading keys (with ssh's warning when a file holding a private or
 * secret key is open to group or others) and writing a new private key (created 0600 with
 * O_EXCL|O_NOFOLLOW; an existing file is replaced only on request, never through a symbolic link).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* true when a key of ks holds private or secret material (it can sign). */
static int has_private(const jwts_keyset *ks)
{
    for (size_t i = 0; i < jwts_keyset_count(ks); i++)
        if (jwts_key_can_sign(jwts_keyset_get(ks, i))) return 1;
    return 0;
}

/* Read path ("-": stdin) into *text; *mode gets its permission bits (0 for stdin). */
static jwts_err read_key_file(const char *path, char **text, size_t *len, mode_t *mode)
{
    *mode = 0;
    if (strcmp(path, "-") == 0) return cli_read_file(path, text, len);
    FILE *f = fopen(path, "rb");
    if (!f) return cli_file_error(path, "read", errno);
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) *mode = st.st_mode & 07777;
    jwts_err e = cli_read_stream(f, path, text, len);
    fclose(f);
    return e;
}

jwts_err cli_load_keys(const char *path, jwts_alg alg, jwts_keyset **ks)
{
    char *text;
    size_t len;
    mode_t mode;
    jwts_err e = read_key_file(path, &text, &len, &mode);
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
    if ((mode & 077) && has_private(got)) /* as ssh does: warn, the key may already be known to others */
        fprintf(stderr,
                "warning: %s: private key file is accessible by group or others (mode %04o); "
                "it should be 0600: chmod 600 %s\n",
                path, (unsigned)mode, path);
    if (!*ks) {
        *ks = got;
        return JWTS_OK;
    }
    e = jwts_keyset_merge(*ks, got);
    jwts_keyset_free(got);
    if (e) cli_fail(e);
    return e;
}

/* The error for a path that exists: a symbolic link (never followed) or a file kept without force. */
static int exists_error(const char *path, int force)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
        fprintf(stderr, "error: %s: %s: is a symbolic link; not followed, nothing written\n",
                jwts_errname(JWTS_E_INVALID_ARGUMENT), path);
    else if (force)
        fprintf(stderr, "error: %s: %s: exists and is not a regular file; nothing written\n",
                jwts_errname(JWTS_E_INVALID_ARGUMENT), path);
    else
        fprintf(stderr, "error: %s: %s: exists; not overwritten (use --force to replace it)\n",
                jwts_errname(JWTS_E_INVALID_ARGUMENT), path);
    return CLI_FAILED;
}

/* Create path new (it must not exist, not even as a dangling symbolic link), mode 0600: the name
 * is taken with O_EXCL, then filled the way every key file is written (jwts_keyfile_write). */
static int create_new(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST || errno == ELOOP) return exists_error(path, 0);
        cli_file_error(path, "create", errno);
        return CLI_FAILED;
    }
    close(fd);
    jwts_err rc = jwts_keyfile_write(path, text);
    if (rc) {
        unlink(path); /* ours: created above */
        return cli_fail(rc);
    }
    return CLI_OK;
}

/* Replace the regular file path (or create it) atomically, never through a symbolic link
 * (jwts_keyfile_write: a new 0600 file beside it renamed over it). */
static int replace(const char *path, const char *text)
{
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) return exists_error(path, 1);
    jwts_err rc = jwts_keyfile_write(path, text);
    return rc ? cli_fail(rc) : CLI_OK;
}

int cli_write_private(const char *path, const char *text, int force)
{
    if (!path || strcmp(path, "-") == 0) {
        printf("%s\n", text);
        return fflush(stdout) == 0 ? CLI_OK : CLI_FAILED;
    }
    return force ? replace(path, text) : create_new(path, text);
}
