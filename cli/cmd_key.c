/*
 * cmd_key.c - key commands: "keygen" writes a new private JWK (to a new 0600 file, or replacing
 * one with --force: keyfile.c), "jwks" prints the public JWKS of key files (JWK, JWKS or PEM),
 * "key rotate" steps a key file's lifecycle (docs/keys.md) and "key status" shows it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static int run_keygen(int argc, char **argv)
{
    static const struct option opts[] = {{"alg", required_argument, NULL, 'a'},
                                         {"kid", required_argument, NULL, 'k'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *alg_name = NULL, *kid = NULL, *out = NULL;
    int c, force = 0;
    optind = 0; /* 0, not 1: glibc then also resets its argument-order mode */
    while ((c = getopt_long(argc, argv, "a:k:o:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            alg_name = optarg;
            break;
        case 'k':
            kid = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'f':
            force = 1;
            break;
        case 'h':
            printf("usage: jwtsession keygen %s\n", jwts_cli_keygen_cmd.usage);
            return CLI_OK;
        default:
            return cli_usage("keygen: bad option (usage: jwtsession keygen %s)", jwts_cli_keygen_cmd.usage);
        }
    }
    if (!alg_name) return cli_usage("keygen: --alg is required");
    if (optind != argc) return cli_usage("keygen: unexpected argument \"%s\"", argv[optind]);
    jwts_alg alg;
    jwts_err e = jwts_alg_from_name(alg_name, &alg);
    if (e) return cli_fail(e);
    jwts_key *key;
    if ((e = jwts_key_generate(alg, kid, &key))) return cli_fail(e);
    char *jwk;
    e = jwts_key_to_jwk(key, 1, &jwk);
    jwts_key_free(key);
    if (e) return cli_fail(e);
    int rc = cli_write_private(out, jwk, force);
    jwts_jose_free(jwk);
    return rc;
}

static int run_jwks(int argc, char **argv)
{
    if (argc < 2) return cli_usage("jwks: at least one KEYFILE is required");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: jwtsession jwks %s\n", jwts_cli_jwks_cmd.usage);
        return CLI_OK;
    }
    jwts_keyset *ks = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_load_keys(argv[i], JWTS_ALG_UNSET, &ks)) {
            jwts_keyset_free(ks);
            return CLI_FAILED;
        }
    }
    char *jwks;
    jwts_err e = jwts_keyset_to_jwks(ks, &jwks);
    jwts_keyset_free(ks);
    if (e) return cli_fail(e);
    printf("%s\n", jwks);
    jwts_jose_free(jwks);
    return CLI_OK;
}

const jwts_cli_cmd jwts_cli_keygen_cmd = {"keygen", "--alg ALG [--kid KID] [--out FILE [--force]]",
                                          "write a new private JWK (a new file, mode 0600)",
                                          run_keygen};
const jwts_cli_cmd jwts_cli_jwks_cmd = {"jwks", "KEYFILE...", "print the public JWKS of key files (JWK, JWKS, PEM)",
                                        run_jwks};

/* Read a key file; *text NULL (and CLI_OK) when it does not exist and missing_ok. */
static int read_keyfile(const char *path, int missing_ok, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT && missing_ok) return CLI_OK;
        cli_file_error(path, "read", errno);
        return CLI_FAILED;
    }
    jwts_err e = cli_read_stream(f, path, text, len);
    fclose(f);
    return e ? CLI_FAILED : CLI_OK;
}

static void wipe_free(char *text, size_t len)
{
    if (!text) return;
    memset(text, 0, len); /* private keys */
    free(text);
}

/* A duration option's value into *ms; false (usage printed) when bad. */
static int duration_opt(const char *name, const char *text, int64_t *ms)
{
    if (jwts_duration_parse_ms(text, ms) == JWTS_OK) return 1;
    cli_usage("key rotate: --%s: a duration such as 90, 15m or 1h (got \"%s\")", name, text);
    return 0;
}

/* Print each key of the file at path: kid, alg, state and times. */
static int print_status(const char *path, int64_t now_s)
{
    char *text;
    size_t len;
    if (read_keyfile(path, 0, &text, &len)) return CLI_FAILED;
    jwts_keyset *ks = NULL;
    jwts_err e = jwts_keyfile_load(text, len, now_s, &ks);
    wipe_free(text, len);
    if (e) return cli_fail(e);
    for (size_t i = 0; i < jwts_keyset_count(ks); i++) {
        const jwts_key *k = jwts_keyset_get(ks, i);
        int64_t published, retire;
        jwts_key_state st = jwts_key_state_of(k, &published, &retire);
        printf("%-9s %-6s %s published_at=%lld", jwts_key_state_name(st), jwts_alg_name(jwts_key_alg(k)),
               jwts_key_kid(k) ? jwts_key_kid(k) : "-", (long long)published);
        if (retire) printf(" retire_at=%lld", (long long)retire);
        printf("\n");
    }
    jwts_keyset_free(ks);
    return CLI_OK;
}

static int run_rotate(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"alg", required_argument, NULL, 'a'},
                                         {"publish-ahead", required_argument, NULL, 'p'},
                                         {"token-lifetime", required_argument, NULL, 't'},
                                         {"leeway", required_argument, NULL, 'l'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *path = cli_globals.key;
    jwts_keyfile_rotate_options o = {.now_s = (int64_t)time(NULL)};
    int64_t ahead_ms = 300 * 1000, lifetime_ms = cli_globals.access_ttl_ms, leeway_ms = 60 * 1000;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "k:a:h", opts, NULL)) != -1) {
        jwts_err e = JWTS_OK;
        switch (c) {
        case 'k':
            path = optarg;
            break;
        case 'a':
            e = jwts_alg_from_name(optarg, &o.alg);
            if (e) return cli_fail(e);
            break;
        case 'p':
            if (!duration_opt("publish-ahead", optarg, &ahead_ms)) return CLI_USAGE;
            break;
        case 't':
            if (!duration_opt("token-lifetime", optarg, &lifetime_ms)) return CLI_USAGE;
            break;
        case 'l':
            if (!duration_opt("leeway", optarg, &leeway_ms)) return CLI_USAGE;
            break;
        case 'n': {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || *end || v <= 0) return cli_usage("key rotate: --now: seconds since the epoch");
            o.now_s = v;
            break;
        }
        case 'h':
            printf("usage: jwtsession key rotate %s\n", "--key FILE [--alg ALG] [--publish-ahead DUR] "
                                                       "[--token-lifetime DUR] [--leeway DUR] [--now EPOCH]");
            return CLI_OK;
        default:
            return cli_usage("key rotate: bad option (see jwtsession key rotate --help)");
        }
    }
    if (!path) return cli_usage("key rotate: --key FILE is required");
    if (optind != argc) return cli_usage("key rotate: unexpected argument \"%s\"", argv[optind]);
    o.publish_ahead_s = (ahead_ms + 999) / 1000;
    o.retire_after_s = (lifetime_ms + leeway_ms + 999) / 1000;
    char *text, *out = NULL;
    size_t len;
    if (read_keyfile(path, 1, &text, &len)) return CLI_FAILED;
    jwts_err e = jwts_keyfile_rotate(text, len, &o, &out);
    wipe_free(text, len);
    if (e) return cli_fail(e);
    e = jwts_keyfile_write(path, out);
    jwts_jose_free(out);
    if (e) return cli_fail(e);
    fprintf(stderr, "%s: rotated; now reload the daemons (SIGHUP or POST /v1/admin/keys/reload)\n", path);
    return print_status(path, o.now_s);
}

static int run_status(int argc, char **argv)
{
    const char *path = argc == 3 && !strcmp(argv[1], "--key") ? argv[2] : argc == 1 ? cli_globals.key : NULL;
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: jwtsession key status --key FILE\n");
        return CLI_OK;
    }
    if (!path) return cli_usage("key status: --key FILE is required");
    return print_status(path, (int64_t)time(NULL));
}

static const jwts_cli_cmd ROTATE = {"rotate",
                                    "--key FILE [--alg ALG] [--publish-ahead DUR] [--token-lifetime DUR] "
                                    "[--leeway DUR] [--now EPOCH]",
                                    "step a key file: next key signs, active one retires, new next key", run_rotate};
static const jwts_cli_cmd STATUS = {"status", "--key FILE", "show a key file's keys and their states", run_status};
static const jwts_cli_cmd *const KEY_CMDS[] = {&ROTATE, &STATUS};

static int run_key(int argc, char **argv)
{
    return cli_dispatch("key", KEY_CMDS, sizeof KEY_CMDS / sizeof KEY_CMDS[0], argc, argv);
}

const jwts_cli_cmd jwts_cli_key_cmd = {"key", "rotate|status ...", "key file lifecycle (docs/keys.md)", run_key};
