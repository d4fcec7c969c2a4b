/*
 * cmd_key.c - key commands: "keygen" writes a new private JWK (to a new 0600 file, or replacing
 * one with --force: keyfile.c), "jwks" prints the public JWKS of key files (JWK, JWKS or PEM).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

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
