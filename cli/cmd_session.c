/*
 * cmd_session.c - the "session" command group: the whole lifecycle through jwts_manager on the
 * store and keys the global options name.
 *
 *   jwtsession [GLOBAL OPTIONS] session create --user U [--metadata JSON] [--ip IP] [--user-agent UA]
 *   jwtsession [GLOBAL OPTIONS] session validate TOKEN | refresh REFRESH_TOKEN [--ip IP] [--user-agent UA]
 *   jwtsession [GLOBAL OPTIONS] session revoke SID [--user U] | revoke-user U [--except SID] | list --user U
 *
 * Output is JSON on stdout; errors are "error: JWTS_E_<NAME>: <detail>" on stderr.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jwtsession/buf.h"
#include "jwtsession/manager.h"
#include "jwtsession/store.h"

/* What every session command works on; torn down by close_env. */
typedef struct session_env {
    jwts_store *store;
    jwts_keyset *keys;
    jwts_manager *m;
} session_env;

static void close_env(session_env *e)
{
    jwts_manager_free(e->m);
    jwts_store_free(e->store);
    jwts_keyset_free(e->keys);
}

/* How a command uses the key set. */
typedef enum key_use {
    KEYS_VERIFY, /* validate, refresh: the real keys are required */
    KEYS_SIGN,   /* create: a throwaway key will do, with a warning */
    KEYS_UNUSED  /* revoke, list: no token is signed or checked */
} key_use;

/* Keys from --key, or a throwaway HS256 key where no token needs checking. */
static jwts_err load_keys(key_use use, jwts_keyset **out)
{
    if (cli_globals.key) return cli_load_keys(cli_globals.key, JWTS_ALG_UNSET, out);
    if (use == KEYS_VERIFY) {
        fprintf(stderr, "error: %s: --key (or JWTSESSION_KEY) is required for this command\n",
                jwts_errname(JWTS_E_INVALID_ARGUMENT));
        return JWTS_E_INVALID_ARGUMENT;
    }
    if (use == KEYS_SIGN)
        fprintf(stderr, "warning: no --key given: signing with a throwaway key; its tokens verify nowhere else\n");
    jwts_key *k = NULL;
    jwts_err rc = jwts_keyset_new(out);
    if (!rc) rc = jwts_key_generate(JWTS_ALG_HS256, NULL, &k);
    if (!rc) {
        rc = jwts_keyset_add(*out, k, 1); /* takes k, also on failure */
        k = NULL;
    }
    if (rc) {
        jwts_key_free(k);
        cli_fail(rc);
    }
    return rc;
}

static int open_env(key_use use, session_env *e)
{
    memset(e, 0, sizeof *e);
    if (load_keys(use, &e->keys)) return CLI_FAILED;
    jwts_err rc = jwts_store_open_url(cli_globals.store, &e->store);
    if (rc) {
        close_env(e);
        return cli_fail(rc);
    }
    jwts_manager_options o = {
        .store = e->store,
        .keyset = e->keys,
        /* a public key set (the signer's JWKS): validate, revoke and list work; create and
         * refresh fail JWTS_E_UNSUPPORTED before touching the store */
        .verify_only = jwts_keyset_active(e->keys) == NULL,
        .issuer = cli_globals.issuer,
        .audience = cli_globals.audience,
        .access_ttl_ms = cli_globals.access_ttl_ms,
        .refresh_ttl_ms = cli_globals.refresh_ttl_ms,
        .idle_timeout_ms = cli_globals.idle_timeout_ms,
        .max_sessions_per_user = cli_globals.max_sessions > 0 ? (size_t)cli_globals.max_sessions : 0,
        .refresh_grace_ms = cli_globals.refresh_grace_ms,
    };
    rc = jwts_manager_new(&o, &e->m);
    if (rc) {
        close_env(e);
        return cli_fail(rc);
    }
    return CLI_OK;
}

/* Print v as JSON (compact, one line) and release it. */
static int print_json(json_t *v)
{
    if (!v) return cli_fail(JWTS_E_NO_MEMORY);
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!text) return cli_fail(JWTS_E_NO_MEMORY);
    puts(text);
    free(text);
    return CLI_OK;
}

static int print_tokens(const jwts_tokens *t)
{
    return print_json(json_pack("{s:s, s:s, s:s, s:I, s:I}", "session_id", t->session_id, "access_token",
                                t->access_token, "refresh_token", t->refresh_token, "expires_in",
                                (json_int_t)t->expires_in_s, "refresh_expires_in",
                                (json_int_t)t->refresh_expires_in_s));
}

/* getopt over a subcommand's argv with only --user/--metadata/--ip/--user-agent/--except/--help;
 * positional args left in *rest. */
typedef struct sub_args {
    const char *user, *metadata, *ip, *user_agent, *except;
    int rest_index;
    bool help;
} sub_args;

static int parse_sub(int argc, char **argv, const char *usage, sub_args *a)
{
    static const struct option opts[] = {{"user", required_argument, NULL, 'u'},
                                         {"metadata", required_argument, NULL, 'm'},
                                         {"ip", required_argument, NULL, 'i'},
                                         {"user-agent", required_argument, NULL, 'a'},
                                         {"except", required_argument, NULL, 'x'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    memset(a, 0, sizeof *a);
    int c;
    optind = 0; /* 0, not 1: glibc then also resets its argument-order mode */
    while ((c = getopt_long(argc, argv, "u:m:h", opts, NULL)) != -1) {
        if (c == 'u') a->user = optarg;
        else if (c == 'm') a->metadata = optarg;
        else if (c == 'i') a->ip = optarg;
        else if (c == 'a') a->user_agent = optarg;
        else if (c == 'x') a->except = optarg;
        else if (c == 'h') a->help = true;
        else {
            cli_global_hint(argv[optind - 1]);
            return cli_usage("usage: jwtsession session %s", usage);
        }
    }
    if (a->help) printf("usage: jwtsession [GLOBAL OPTIONS] session %s\n", usage);
    a->rest_index = optind;
    return CLI_OK;
}

static int run_create(int argc, char **argv)
{
    static const char *usage = "create --user U [--metadata JSON] [--ip IP] [--user-agent UA]";
    sub_args a;
    if (parse_sub(argc, argv, usage, &a)) return CLI_USAGE;
    if (a.help) return CLI_OK;
    if (!a.user || a.rest_index != argc) return cli_usage("usage: jwtsession session %s", usage);
    session_env e;
    if (open_env(KEYS_SIGN, &e)) return CLI_FAILED;
    if (strcmp(jwts_store_name(e.store), "memory") == 0)
        fprintf(stderr, "warning: the memory store lives only as long as this command: nothing can validate or "
                        "refresh these tokens later (use --store redis://...)\n");
    jwts_tokens t;
    jwts_device d = {a.ip, a.user_agent};
    jwts_err rc = jwts_manager_create_device(e.m, NULL, a.user, a.metadata, &d, &t);
    int out = rc ? cli_fail(rc) : print_tokens(&t);
    jwts_tokens_clear(&t);
    close_env(&e);
    return out;
}

/* Commands taking exactly one positional argument (a token or a user id). */
static int one_arg(int argc, char **argv, const char *usage, sub_args *a, const char **arg)
{
    if (parse_sub(argc, argv, usage, a)) return CLI_USAGE;
    if (a->help) return -1;
    if (a->rest_index != argc - 1) return cli_usage("usage: jwtsession session %s", usage);
    *arg = argv[a->rest_index];
    return CLI_OK;
}

static int run_validate(int argc, char **argv)
{
    sub_args a;
    const char *token = NULL;
    int u = one_arg(argc, argv, "validate ACCESS_TOKEN", &a, &token);
    if (u) return u < 0 ? CLI_OK : u;
    session_env e;
    if (open_env(KEYS_VERIFY, &e)) return CLI_FAILED;
    jwts_validation v;
    jwts_err rc = jwts_manager_validate(e.m, NULL, token, strlen(token), &v, NULL);
    int out = rc ? cli_fail(rc)
                 : print_json(json_pack("{s:b, s:s, s:s, s:I}", "valid", 1, "user_id", v.user_id, "session_id",
                                        v.session_id, "token_expires_at_s", (json_int_t)v.token_expires_at_s));
    close_env(&e);
    return out;
}

static int run_refresh(int argc, char **argv)
{
    sub_args a;
    const char *token = NULL;
    int u = one_arg(argc, argv, "refresh REFRESH_TOKEN [--ip IP] [--user-agent UA]", &a, &token);
    if (u) return u < 0 ? CLI_OK : u;
    session_env e;
    if (open_env(KEYS_VERIFY, &e)) return CLI_FAILED;
    jwts_tokens t;
    jwts_device d = {a.ip, a.user_agent};
    jwts_err rc = jwts_manager_refresh_device(e.m, NULL, token, &d, &t);
    int out = rc ? cli_fail(rc) : print_tokens(&t);
    jwts_tokens_clear(&t);
    close_env(&e);
    return out;
}

static int run_revoke(int argc, char **argv)
{
    static const char *usage = "revoke SESSION_ID [--user U]";
    sub_args a;
    const char *sid = NULL;
    int u = one_arg(argc, argv, usage, &a, &sid);
    if (u) return u < 0 ? CLI_OK : u;
    session_env e;
    if (open_env(KEYS_UNUSED, &e)) return CLI_FAILED;
    /* without --user the session is found by its id (a generated id carries its user's tag);
     * with it, the session must be that user's */
    jwts_err rc = jwts_manager_revoke_by(e.m, NULL, a.user, sid, JWTS_REVOKE_ADMIN); /* an operator */
    int out = rc ? cli_fail(rc) : print_json(json_pack("{s:b, s:s}", "revoked", 1, "session_id", sid));
    close_env(&e);
    return out;
}

static int run_revoke_user(int argc, char **argv)
{
    sub_args a;
    const char *user = NULL;
    int u = one_arg(argc, argv, "revoke-user USER_ID [--except SESSION_ID]", &a, &user);
    if (u) return u < 0 ? CLI_OK : u;
    session_env e;
    if (open_env(KEYS_UNUSED, &e)) return CLI_FAILED;
    size_t n = 0;
    /* --except: "sign out everywhere else"; a kept session that is not there revokes nothing */
    jwts_err rc = a.except ? jwts_manager_revoke_user_except(e.m, NULL, user, a.except, &n)
                           : jwts_manager_revoke_user(e.m, NULL, user, &n);
    int out = rc ? cli_fail(rc)
                 : print_json(a.except ? json_pack("{s:s, s:I, s:s}", "user_id", user, "revoked", (json_int_t)n,
                                                   "kept", a.except)
                                       : json_pack("{s:s, s:I}", "user_id", user, "revoked", (json_int_t)n));
    close_env(&e);
    return out;
}

/* One listed session as JSON: the library's public view (jwts_session_view), as jwtsessiond
 * shows it. */
static json_t *session_json(const jwts_session *s)
{
    jwts_buf b = {0};
    jwts_buf_putc(&b, '{');
    jwts_session_view(s, &b);
    jwts_buf_putc(&b, '}');
    json_t *out = b.err ? NULL : json_loads(b.data, 0, NULL);
    jwts_buf_free(&b);
    return out;
}

static int run_list(int argc, char **argv)
{
    static const char *usage = "list --user U";
    sub_args a;
    if (parse_sub(argc, argv, usage, &a)) return CLI_USAGE;
    if (a.help) return CLI_OK;
    if (!a.user || a.rest_index != argc) return cli_usage("usage: jwtsession session %s", usage);
    session_env e;
    if (open_env(KEYS_UNUSED, &e)) return CLI_FAILED;
    jwts_session_list list;
    jwts_err rc = jwts_manager_list(e.m, NULL, a.user, &list);
    int out;
    if (rc) {
        out = cli_fail(rc);
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < list.count; i++)
            if (json_array_append_new(arr, session_json(list.items[i])) != 0) json_decref(arr), arr = NULL;
        out = print_json(json_pack("{s:s, s:o}", "user_id", a.user, "sessions", arr));
        jwts_session_list_free(&list);
    }
    close_env(&e);
    return out;
}

static const jwts_cli_cmd CREATE = {"create", "--user U [--metadata JSON] [--ip IP] [--user-agent UA]",
                                    "create a session, print its tokens", run_create};
static const jwts_cli_cmd VALIDATE = {"validate", "ACCESS_TOKEN", "check a token and its session", run_validate};
static const jwts_cli_cmd REFRESH = {"refresh", "REFRESH_TOKEN [--ip IP] [--user-agent UA]", "rotate a refresh token, print the new pair",
                                     run_refresh};
static const jwts_cli_cmd REVOKE = {"revoke", "SESSION_ID [--user U]", "revoke one session", run_revoke};
static const jwts_cli_cmd REVOKE_USER = {"revoke-user", "USER_ID [--except SESSION_ID]",
                                         "revoke every session of a user (but one)", run_revoke_user};
static const jwts_cli_cmd LIST = {"list", "--user U", "list a user's sessions", run_list};
static const jwts_cli_cmd *const SESSION_CMDS[] = {&CREATE, &VALIDATE, &REFRESH, &REVOKE, &REVOKE_USER, &LIST};

static int run_session(int argc, char **argv)
{
    return cli_dispatch("session", SESSION_CMDS, sizeof SESSION_CMDS / sizeof *SESSION_CMDS, argc, argv);
}

const jwts_cli_cmd jwts_cli_session_cmd = {"session", "create|validate|refresh|revoke|revoke-user|list ...",
                                           "the session lifecycle on --store with --key", run_session};
