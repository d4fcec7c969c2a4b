/*
 * fuzz_daemon_tenants.c - libFuzzer target for jwtsessiond's tenants file reader
 * (daemon/tenant_file.c), called as the daemon calls it: jwtsd_tenants_parse on a file (a memfd,
 * read back through /proc/self/fd) with the daemon's defaults.
 *
 * Invariants: no crash, leak or overread whatever the file holds; an accepted file has 1 to
 * JWTSD_TENANTS_MAX tenants, each with a valid name, a host or a path, an issuer, an audience
 * and a store URL, and no two with the same name; a refused one comes with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon.h"

static int fd = -1;
static char path[64];

static void die(const char *what)
{
    fprintf(stderr, "fuzz_daemon_tenants: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fd = memfd_create("tenants.conf", MFD_CLOEXEC);
    if (fd < 0) die("memfd_create failed");
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) die("cannot write the memfd");
    /* half the inputs against a Redis --store, so key prefixes are checked too */
    jwtsd_config cfg = {
        .store = size & 1 ? "redis://127.0.0.1:6379" : "memory", .issuer = "jwtsession", .max_sessions = JWTS_OFF};
    char err[512] = "";
    jwtsd_tenant *t = NULL;
    size_t n = 0;
    if (jwtsd_tenants_parse(&cfg, path, &t, &n, err, sizeof err)) {
        if (!t || n < 1 || n > JWTSD_TENANTS_MAX) die("an accepted file has no tenants or too many");
        for (size_t i = 0; i < n; i++) {
            if (!t[i].name || !t[i].name[0] || strlen(t[i].name) > JWTSD_TENANT_NAME_MAX) die("a bad name");
            if (!t[i].host && !t[i].path) die("a tenant matches nothing");
            if (t[i].path && t[i].path_len != strlen(t[i].path)) die("path_len is wrong");
            if (!t[i].issuer || !t[i].audience || !t[i].store_url) die("a setting is unset");
            for (size_t j = 0; j < i; j++)
                if (!strcmp(t[i].name, t[j].name)) die("two tenants with one name");
        }
        jwtsd_tenants_free(t, n);
    } else if (!err[0]) {
        die("a refused file has no message");
    }
    return 0;
}
