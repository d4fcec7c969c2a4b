/*
 * cmd_token.c - the "token" command group: "token sign" makes a JWT from claims JSON (argument or
 * stdin) with the active key of a key file; "token verify" checks one against key files and the
 * given expectations, printing the claims JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_KEYFILES 16

/* Strip trailing whitespace (a newline from a file or a pipe). */
static size_t rtrim(char *s, size_t n)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return n;
}

static int parse_i64(const char *s, const char *what, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0) return cli_usage("%s must be a non-negative integer", what);
    *out = v;
    return CLI_OK;
}

static int run_sign(int argc, char **argv)
{
    static const struct option opts[] = {{"key", required_argument, NULL, 'k'},
                                         {"claims", required_argument, NULL, 'c'},
                                         {"alg", required_argument, NULL, 'a'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *keyfile = NULL, *claims = NULL, *alg_name = NULL;
    int c;
    optind = 0; /* 0, not 1: glibc then also resets its argument-order mode */
    while ((c = getopt_long(argc, argv, "k:c:a:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            keyfile = optarg;
            break;
        case 'c':
            claims = optarg;
            break;
        case 'a':
            alg_name = optarg;
            break;
        case 'h':
            printf("usage: jwtsession token sign --key KEYFILE [--alg ALG] [--claims JSON]\n");
            return CLI_OK;
        default:
            return cli_usage("token sign: bad option");
        }
    }
    if (!keyfile) return cli_usage("token sign: --key is required");
    if (optind != argc) return cli_usage("token sign: unexpected argument \"%s\"", argv[optind]);
    jwts_alg alg = JWTS_ALG_UNSET;
    jwts_err e;
    if (alg_name && (e = jwts_alg_from_name(alg_name, &alg))) return cli_fail(e);
    jwts_keyset *ks = NULL;
    if (cli_load_keys(keyfile, alg, &ks)) return CLI_FAILED;
    const jwts_key *key = jwts_keyset_active(ks);
    int rc = CLI_FAILED;
    char *buf = NULL, *tok = NULL;
    size_t len;
    if (!key) {
        fprintf(stderr, "error: %s: %s holds no private key to sign with\n", jwts_errname(JWTS_E_BAD_KEY), keyfile);
        goto done;
    }
    if (alg != JWTS_ALG_UNSET && jwts_key_alg(key) != alg) {
        fprintf(stderr, "error: %s: the signing key is for %s, not %s\n", jwts_errname(JWTS_E_ALG_NOT_ALLOWED),
                jwts_alg_name(jwts_key_alg(key)), alg_name);
        goto done;
    }
    if (!claims) {
        if (cli_read_file("-", &buf, &len)) goto done;
        len = rtrim(buf, len);
        claims = buf;
    }
    if ((e = jwts_jwt_sign(key, claims, strlen(claims), &tok))) {
        rc = cli_fail(e);
        goto done;
    }
    printf("%s\n", tok);
    rc = CLI_OK;
done:
    jwts_jose_free(tok);
    free(buf);
    jwts_keyset_free(ks);
    return rc;
}

static int run_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'}, {"alg", required_argument, NULL, 'a'},
        {"iss", required_argument, NULL, 'i'}, {"aud", required_argument, NULL, 'u'},
        {"sub", required_argument, NULL, 's'}, {"leeway", required_argument, NULL, 'l'},
        {"now", required_argument, NULL, 'n'}, {"require", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},      {0, 0, 0, 0}};
    const char *keyfiles[MAX_KEYFILES], *alg_name = NULL;
    const char *required[JWTS_VERIFY_MAX_REQUIRED];
    size_t nkeys = 0;
    jwts_verify_options o = {0};
    int c;
    optind = 0; /* 0, not 1: glibc then also resets its argument-order mode */
    while ((c = getopt_long(argc, argv, "k:a:i:u:s:l:n:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (nkeys == MAX_KEYFILES) return cli_usage("token verify: at most %d --key files", MAX_KEYFILES);
            keyfiles[nkeys++] = optarg;
            break;
        case 'a':
            alg_name = optarg;
            break;
        case 'i':
            o.iss = optarg;
            break;
        case 'u':
            o.aud = optarg;
            break;
        case 's':
            o.sub = optarg;
            break;
        case 'l':
            if (parse_i64(optarg, "--leeway", &o.leeway_s)) return CLI_USAGE;
            break;
        case 'n':
            if (parse_i64(optarg, "--now", &o.now_s)) return CLI_USAGE;
            break;
        case 'r':
            if (o.n_required == JWTS_VERIFY_MAX_REQUIRED) return cli_usage("token verify: too many --require");
            required[o.n_required++] = optarg;
            break;
        case 'h':
            printf("usage: jwtsession token verify --key KEYFILE [--alg ALG] [--iss S] [--aud S] [--sub S] "
                   "[--leeway SEC] [--now EPOCH] [--require CLAIM] TOKEN\n");
            return CLI_OK;
        default:
            return cli_usage("token verify: bad option");
        }
    }
    if (!nkeys) return cli_usage("token verify: --key is required");
    if (argc - optind > 1) return cli_usage("token verify: one TOKEN expected");
    o.required = required;
    jwts_alg alg = JWTS_ALG_UNSET;
    jwts_err e;
    if (alg_name) {
        if ((e = jwts_alg_from_name(alg_name, &alg))) return cli_fail(e);
        o.algs = &alg;
        o.n_algs = 1;
    }
    jwts_keyset *ks = NULL;
    for (size_t i = 0; i < nkeys; i++) {
        if (cli_load_keys(keyfiles[i], alg, &ks)) {
            jwts_keyset_free(ks);
            return CLI_FAILED;
        }
    }
    char *buf = NULL, *json = NULL;
    const char *tok;
    size_t len;
    int rc = CLI_FAILED;
    if (optind < argc && strcmp(argv[optind], "-") != 0) {
        tok = argv[optind];
        len = strlen(tok);
    } else {
        if (cli_read_file("-", &buf, &len)) goto done;
        len = rtrim(buf, len);
        tok = buf;
    }
    if ((e = jwts_jwt_verify(ks, tok, len, &o, NULL, &json))) {
        rc = cli_fail(e);
        goto done;
    }
    printf("%s\n", json);
    rc = CLI_OK;
done:
    jwts_jose_free(json);
    free(buf);
    jwts_keyset_free(ks);
    return rc;
}

static const jwts_cli_cmd SIGN = {"sign", "--key KEYFILE [--alg ALG] [--claims JSON]",
                                  "sign claims (argument or stdin) with the key's active key", run_sign};
static const jwts_cli_cmd VERIFY = {"verify",
                                    "--key KEYFILE [--alg ALG] [--iss S] [--aud S] [--leeway SEC] [--now EPOCH] TOKEN",
                                    "verify a token and print its claims", run_verify};
static const jwts_cli_cmd *const TOKEN_CMDS[] = {&SIGN, &VERIFY};

static int run_token(int argc, char **argv)
{
    return cli_dispatch("token", TOKEN_CMDS, sizeof TOKEN_CMDS / sizeof TOKEN_CMDS[0], argc, argv);
}

const jwts_cli_cmd jwts_cli_token_cmd = {"token", "sign|verify ...", "sign and verify JWTs", run_token};
