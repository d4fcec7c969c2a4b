/*
 * fuzz_daemon_config.c - libFuzzer target for jwtsessiond's config-file reader (daemon/config.c),
 * called the way the daemon calls it: jwtsd_config_load with --config naming a file that holds
 * the input (a memfd, read back through /proc/self/fd).
 *
 * Invariants: no crash, leak or overread whatever the file holds; an accepted configuration
 * satisfies the cross-field checks (every string setting present, limits in range); a refused
 * one comes with a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon.h"

extern char **environ;
static int fd = -1;
static char path[64];

static void die(const char *what)
{
    fprintf(stderr, "fuzz_daemon_config: %s\n", what);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* Only the file counts: drop JWTSESSION_* so the environment cannot mask or add settings. */
    for (;;) {
        char *name = NULL;
        for (char **e = environ; *e; e++)
            if (!strncmp(*e, "JWTSESSION_", 11)) name = strndup(*e, strcspn(*e, "="));
        if (!name) break;
        unsetenv(name);
        free(name);
    }
    fd = memfd_create("jwtsessiond.conf", MFD_CLOEXEC);
    if (fd < 0) die("memfd_create failed");
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) die("cannot write the memfd");
    char *argv[] = {"jwtsessiond", "--config", path, NULL};
    char err[512] = "";
    jwtsd_config cfg;
    jwtsd_config_result r = jwtsd_config_load(&cfg, 3, argv, err, sizeof err);
    if (r == JWTSD_CONFIG_RUN) {
        if (!cfg.listen || !cfg.store || !cfg.issuer || !cfg.limit_policy || !cfg.log_level) die("a setting is unset");
        if (cfg.access_ttl_ms < 1000 || cfg.max_body < 1 || cfg.max_header < 256 || cfg.max_url < 64 ||
            cfg.max_connections < 1 || cfg.threads > 256 || cfg.request_timeout_ms < 1)
            die("an accepted configuration breaks the checks");
    } else if (r == JWTSD_CONFIG_ERROR) {
        if (!err[0]) die("a refused configuration has no message");
    } else {
        die("a config file asked for --help or --version");
    }
    jwtsd_config_free(&cfg);
    return 0;
}
