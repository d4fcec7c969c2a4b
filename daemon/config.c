/*
 * config.c - jwtsessiond's settings from flags, environment and a config file.
 *
 * One table lists every setting: its long flag name, its environment twin (JWTSESSION_<NAME>),
 * its kind, default and help. Sources apply in rising precedence: defaults, the config file
 * (--config FILE or JWTSESSION_CONFIG: "name = value" lines with the long flag names, '#' starts a
 * comment line, unknown names are errors), the environment, then flags. --help prints the table.
 *
 * The admin key is the one setting with two shapes: --admin-key-file FILE names a file holding it,
 * while its environment twin JWTSESSION_ADMIN_KEY holds the key itself (JWTSESSION_ADMIN_KEY_FILE
 * also works). A flag beats the environment, which beats the config file.
 *
 * The gateway settings (identity headers, cookies, allowed origins, login redirect) are checked
 * here once at start, so a request never meets a malformed one (docs/gateways.md).
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "daemon.h"

typedef enum { K_STR, K_DURATION, K_UINT, K_SIZE, K_BOOL, K_ENUM } opt_kind;

typedef struct opt {
    const char *name; /* long flag and config-file name */
    opt_kind kind;
    size_t offset;       /* into jwtsd_config */
    const char *def;     /* default as text (NULL: unset) */
    const char *choices; /* K_ENUM: "a|b|c" */
    const char *arg;     /* argument name in --help */
    const char *help;
} opt;

#define OFF(f) offsetof(jwtsd_config, f)

static const opt opts[] = {
    {"listen", K_STR, OFF(listen), "127.0.0.1:8080", NULL, "ADDR:PORT",
     "address and port to listen on ([v6]:port for IPv6; port 0 picks a free one)"},
    {"store", K_STR, OFF(store), "memory", NULL, "URL",
     "session store: memory | file:///dir | redis[s]://[[user]:password@]host[:port][/db] |\n"
     "unix:///path | redis[s]-cluster://host:port[,host:port...] |\n"
     "redis[s]-sentinel://host:port[,...]/master[/db] (rediss: TLS), then ?name=value&... options.\n"
     "file (on disk, survives restarts; docs/file-store.md): sync=full|group, sync_window_ms,\n"
     "map_size_mb, max_sessions, sweep_interval_ms, sweep_batch. Redis: connect_timeout,\n"
     "command_timeout (default --request-timeout), pool_size, key_prefix, db, pipeline,\n"
     "pipeline_connections, wait_replicas, wait_timeout, sentinel_user, sentinel_password; TLS:\n"
     "tls_ca, tls_ca_dir, tls_cert, tls_key, tls_server_name, tls_insecure. See docs/redis.md"},
    {"tenants", K_STR, OFF(tenants_file), NULL, NULL, "FILE",
     "several tenants in one daemon, each with its own issuer, audience, keys, admin key, store\n"
     "(key prefix) and max-sessions, chosen by host name or path prefix: [tenant NAME] sections of\n"
     "\"name = value\" lines (docs/tenants.md). Then --key and the admin key are set per tenant.\n"
     "Unset: one tenant from these flags"},
    {"key", K_STR, OFF(key_file), NULL, NULL, "FILE",
     "signing keys: a JWK, a JWKS (several keys = rotation; its first signing key is active) or PEM,\n"
     "or a key file of `jwtsession key rotate` (docs/keys.md); reloaded on SIGHUP and\n"
     "POST /v1/admin/keys/reload. Unset: an HS256 key is generated at start and tokens die with\n"
     "the process"},
    {"jwks-max-age", K_DURATION, OFF(jwks_max_age_ms), "5m", NULL, "DURATION",
     "Cache-Control max-age of /.well-known/jwks.json (whole seconds; off: no-cache, verifiers\n"
     "revalidate each time with the ETag); a next key is published at\n"
     "least this long before it signs (docs/keys.md)"},
    {"key-refetch-interval", K_DURATION, OFF(key_refetch_interval_ms), "30s", NULL, "DURATION",
     "--verify-only: a token with an unknown kid reloads --key at most this often"},
    {"admin-key-file", K_STR, OFF(admin_key_file), NULL, NULL, "FILE",
     "file holding the admin API key (>= 16 bytes; surrounding whitespace ignored); environment:\n"
     "JWTSESSION_ADMIN_KEY holds the key itself. Unset: admin calls get 403"},
    {"issuer", K_STR, OFF(issuer), "jwtsession", NULL, "ISS", "\"iss\" of access tokens (required on validate)"},
    {"audience", K_STR, OFF(audience), "", NULL, "AUD", "\"aud\" of access tokens (required on validate when set)"},
    {"access-ttl", K_DURATION, OFF(access_ttl_ms), "15m", NULL, "DURATION", "access token lifetime"},
    {"refresh-ttl", K_DURATION, OFF(refresh_ttl_ms), "30d", NULL, "DURATION",
     "a refresh token unused this long dies (sliding)"},
    {"idle-timeout", K_DURATION, OFF(idle_timeout_ms), "off", NULL, "DURATION",
     "a session not seen this long ends (off: no idle limit)"},
    {"absolute-lifetime", K_DURATION, OFF(absolute_lifetime_ms), "90d", NULL, "DURATION",
     "hard end of a session after its creation"},
    {"max-sessions", K_UINT, OFF(max_sessions), "off", NULL, "N", "sessions per user (off: unlimited)"},
    {"limit-policy", K_ENUM, OFF(limit_policy), "refuse", "refuse|evict-oldest", "POLICY",
     "at max-sessions: refuse (429 JWTS_E_LIMIT) or evict the oldest session"},
    {"refresh-grace", K_DURATION, OFF(refresh_grace_ms), "10s", NULL, "DURATION",
     "concurrent refreshes of one token within this window get the same pair (off: none)"},
    {"memory-max-sessions", K_UINT, OFF(memory_max_sessions), "1000000", NULL, "N", "capacity of the memory store"},
    {"threads", K_UINT, OFF(threads), "0", NULL, "N", "HTTP worker threads (0: one per core)"},
    {"max-connections", K_UINT, OFF(max_connections), "1024", NULL, "N", "concurrent connections accepted"},
    {"max-connections-per-ip", K_UINT, OFF(max_connections_per_ip), "256", NULL, "N",
     "concurrent connections from one client address; more are closed at once (off: no limit;\n"
     "behind a proxy every client shares the proxy's address)"},
    {"reserve-connections", K_UINT, OFF(reserve_connections), "10", NULL, "PERCENT",
     "share of max-connections kept for new clients: past the rest, a new connection closes the\n"
     "oldest one still waiting for its request, or gets 503 when every one is busy (1-50)"},
    {"connection-timeout", K_DURATION, OFF(connection_timeout_ms), "30s", NULL, "DURATION",
     "an idle connection is closed after this long (whole seconds); a kept-alive connection must\n"
     "send its next complete request head within this long of the previous answer"},
    {"head-timeout", K_DURATION, OFF(head_timeout_ms), "10s", NULL, "DURATION",
     "a new connection must send a complete request head (request line and headers) within this\n"
     "long of being accepted, however steadily it trickles (capped at connection-timeout)"},
    {"request-timeout", K_DURATION, OFF(request_timeout_ms), "5s", NULL, "DURATION",
     "deadline of the store calls of one request"},
    {"store-workers", K_UINT, OFF(store_workers), "64", NULL, "N",
     "threads that run the requests waiting on a shared store, so a slow store never blocks the\n"
     "HTTP threads (/healthz, /metrics, JWKS answer at once); off: run them on the HTTP threads.\n"
     "Not used with the memory store"},
    {"max-body", K_SIZE, OFF(max_body), "64k", NULL, "BYTES", "largest request body (413 beyond)"},
    {"max-header", K_SIZE, OFF(max_header), "8k", NULL, "BYTES", "largest total of request headers (431 beyond)"},
    {"max-url", K_SIZE, OFF(max_url), "4k", NULL, "BYTES", "longest request path and query (414 beyond)"},
    {"shutdown-timeout", K_DURATION, OFF(shutdown_timeout_ms), "10s", NULL, "DURATION",
     "on SIGTERM, how long in-flight requests may take to finish"},
    {"log-level", K_ENUM, OFF(log_level), "info", "error|warn|info|debug", "LEVEL", "lowest level logged"},
    {"access-log", K_BOOL, OFF(access_log), "true", NULL, "BOOL", "one log line per request (info level)"},
    {"verify-only", K_BOOL, OFF(verify_only), "false", NULL, "BOOL",
     "a resource server: --key may be a public JWKS; validate and revoke work, creating and\n"
     "refreshing sessions answer 501 JWTS_E_UNSUPPORTED"},
    {"cache", K_BOOL, OFF(cache), "true", NULL, "BOOL",
     "near cache in front of a shared (Redis) store, invalidated by Redis's tracking stream and\n"
     "bypassed whenever that stream is not known to be live (docs/cache.md)"},
    {"cache-max-entries", K_UINT, OFF(cache_max_entries), "65536", NULL, "N", "sessions the near cache keeps"},
    {"cache-max-stale", K_DURATION, OFF(cache_max_stale_ms), "250ms", NULL, "DURATION",
     "a cached answer needs the invalidation stream proven live this recently"},
    {"events-webhook", K_STR, OFF(events_webhook), "", NULL, "URL",
     "POST lifecycle events (JSON arrays, HMAC-signed) to this http:// or https:// URL from a bounded queue,\n"
     "retried with backoff; needs --events-webhook-secret-file (docs/events.md). Unset: no webhook"},
    {"events-webhook-secret-file", K_STR, OFF(events_webhook_secret_file), "", NULL, "FILE",
     "file holding the webhook's HMAC-SHA256 key (>= 16 bytes; mode 0600 or stricter)"},
    {"events-webhook-ca", K_STR, OFF(events_webhook_ca), "", NULL, "FILE",
     "PEM file of the CA certificates an https:// webhook's certificate is verified against. Unset:\n"
     "the system's"},
    {"events-new-device", K_BOOL, OFF(events_new_device), "false", NULL, "BOOL",
     "emit new_device events: a login, or a refresh that changes a session's user agent, from a user\n"
     "agent none of the user's other sessions has (one listing of the user's sessions per such call)"},
    {"events-queue", K_UINT, OFF(events_queue), "10000", NULL, "N",
     "events waiting for the webhook; past it new events are dropped (and counted)"},
    {"events-retry", K_DURATION, OFF(events_retry_ms), "1m", NULL, "DURATION",
     "how long a batch of events is retried (backoff 100ms doubling to 2s) before it counts as failed\n"
     "(off: one attempt)"},
    {"events-sweep-interval", K_DURATION, OFF(events_sweep_interval_ms), "1s", NULL, "DURATION",
     "on a Redis store, how often expired sessions are swept into \"expired\" events (with events=KEY\n"
     "in the store URL; off: never)"},
    {"identity-headers", K_STR, OFF(identity_headers_spec),
     "X-Session-User=user,X-Session-Id=session,X-Session-Expires=expires", NULL, "LIST",
     "headers of a passed auth check: NAME=SOURCE,... with SOURCE user, session, expires,\n"
     "metadata.FIELD (the session's metadata member) or claim.NAME (the access token's claim)"},
    {"cookies", K_BOOL, OFF(cookies), "false", NULL, "BOOL",
     "cookie sessions for browsers: create and refresh set the tokens as HttpOnly cookies, the auth\n"
     "calls read the access cookie, /v1/refresh the refresh cookie, /v1/logout clears both"},
    {"cookie-name", K_STR, OFF(cookie_name), "jwts", NULL, "NAME",
     "cookie name prefix: NAME_access and NAME_refresh (__Host-jwts: Secure, Path=/, no Domain)"},
    {"cookie-domain", K_STR, OFF(cookie_domain), "", NULL, "DOMAIN", "Domain of the cookies (unset: host-only)"},
    {"cookie-path", K_STR, OFF(cookie_path), "/", NULL, "PATH", "Path of the access cookie"},
    {"cookie-refresh-path", K_STR, OFF(cookie_refresh_path), "/v1/", NULL, "PATH",
     "Path of the refresh cookie: where the browser reaches /v1/refresh and /v1/logout, so that\n"
     "nothing else (the application behind the proxy) ever receives the refresh token"},
    {"cookie-samesite", K_ENUM, OFF(cookie_samesite), "Lax", "Strict|Lax|None", "MODE", "SameSite of the cookies"},
    {"cookie-secure", K_BOOL, OFF(cookie_secure), "true", NULL, "BOOL", "Secure attribute (HTTPS only) of the cookies"},
    {"allowed-origins", K_STR, OFF(allowed_origins_spec), "", NULL, "LIST",
     "origins (scheme://host[:port], comma separated) whose pages may make cookie-authenticated\n"
     "calls that change state (CSRF check); required with --cookies"},
    {"login-url", K_STR, OFF(login_url), "", NULL, "URL",
     "browser navigations refused by the auth check are redirected here, with ?rd=<original URL>\n"
     "(unset: always 401)"},
    {"redirect-hosts", K_STR, OFF(redirect_hosts_spec), "", NULL, "LIST",
     "hosts an original URL may name to travel in rd= (comma separated; .example.com: any\n"
     "subdomain); any other host is redirected to the bare --login-url (no open redirect)"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* ---- value parsing ------------------------------------------------------------------------------ */

static bool parse_uint(const char *text, int64_t *out, bool sizes)
{
    errno = 0;
    char *end;
    if (!text[0] || !isdigit((unsigned char)text[0])) return false;
    long long v = strtoll(text, &end, 10);
    if (errno || v < 0) return false;
    int64_t mult = 1;
    if (sizes && (!strcmp(end, "k") || !strcmp(end, "K")))
        mult = 1024, end++;
    else if (sizes && (!strcmp(end, "m") || !strcmp(end, "M")))
        mult = 1024 * 1024, end++;
    if (*end || v > INT64_MAX / mult) return false;
    *out = (int64_t)v * mult;
    return true;
}

static bool parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(text, yes[i])) return *out = true, true;
        if (!strcasecmp(text, no[i])) return *out = false, true;
    }
    return false;
}

static bool enum_ok(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return true;
        p += len + (bar ? 1 : 0);
    }
    return false;
}

/* The options whose feature can be turned off: "off" sets them to JWTS_OFF. */
static bool offable(const opt *o)
{
    static const char *const names[] = {"idle-timeout", "max-sessions", "refresh-grace", "max-connections-per-ip",
                                        "store-workers", "events-retry",
                                        "events-sweep-interval", "jwks-max-age"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(o->name, names[i])) return true;
    return false;
}

/* Set option o of cfg from text; false with a message in err. */
static bool opt_set(jwtsd_config *cfg, const opt *o, const char *text, const char *source, char *err, size_t errlen)
{
    char *base = (char *)cfg + o->offset;
    if (offable(o) && !strcasecmp(text, "off")) return *(int64_t *)base = JWTS_OFF, true;
    if (offable(o) && !strcmp(text, "0") && strcmp(o->def, "off")) {
        /* zero means one thing everywhere: the default (docs/daemon.md, "Zero and off") */
        snprintf(err, errlen, "%s: %s 0 would be its default (%s); write off to turn it off", source, o->name, o->def);
        return false;
    }
    switch (o->kind) {
    case K_STR:
    case K_ENUM: {
        if (o->kind == K_ENUM && !enum_ok(o->choices, text)) {
            snprintf(err, errlen, "%s: %s must be one of %s, not \"%s\"", source, o->name, o->choices, text);
            return false;
        }
        char *dup = strdup(text);
        if (!dup) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        free(*(char **)base);
        *(char **)base = dup;
        return true;
    }
    case K_DURATION:
        if (jwts_duration_parse_ms(text, (int64_t *)base) == JWTS_OK) return true;
        snprintf(err, errlen, "%s: %s must be a duration such as 90, 90s, 500ms, 15m, 12h or 30d, not \"%s\"", source,
                 o->name, text);
        return false;
    case K_UINT:
    case K_SIZE:
        if (parse_uint(text, (int64_t *)base, o->kind == K_SIZE)) return true;
        snprintf(err, errlen, "%s: %s must be a non-negative integer%s, not \"%s\"", source, o->name,
                 o->kind == K_SIZE ? " (k and m suffixes allowed)" : "", text);
        return false;
    case K_BOOL:
        if (parse_bool(text, (bool *)base)) return true;
        snprintf(err, errlen, "%s: %s must be true or false, not \"%s\"", source, o->name, text);
        return false;
    }
    return false;
}

static const opt *opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len)) return &opts[i];
    return NULL;
}

/* JWTSESSION_<NAME> with '-' as '_'. */
static void env_name(const opt *o, char *out, size_t cap)
{
    int n = snprintf(out, cap, "JWTSESSION_%s", o->name);
    for (int i = 11; i < n && (size_t)i < cap; i++) out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
    if (!strcmp(o->name, "key")) snprintf(out, cap, "JWTSESSION_KEY");
}

/* ---- sources ---------------------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static bool load_file(jwtsd_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "config file %s: %s", path, strerror(errno));
        return false;
    }
    char line[4096];
    int lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof(line), f)) {
        lineno++;
        char where[512];
        snprintf(where, sizeof(where), "%.400s:%d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s: line too long", where);
            ok = false;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s: expected \"name = value\"", where);
            ok = false;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        size_t vn = strlen(value);
        if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
            value[vn - 1] = '\0';
            value++;
        }
        const opt *o = opt_find(name, strlen(name));
        if (!o) {
            snprintf(err, errlen, "%s: unknown setting \"%.64s\" (see --help)", where, name);
            ok = false;
            break;
        }
        ok = opt_set(cfg, o, value, where, err, errlen);
    }
    fclose(f);
    return ok;
}

static bool load_env(jwtsd_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < NOPTS; i++) {
        char name[64];
        env_name(&opts[i], name, sizeof(name));
        const char *v = getenv(name);
        if (v && !opt_set(cfg, &opts[i], v, name, err, errlen)) return false;
    }
    return true;
}

/* Find --config/--help/--version in argv before anything else is applied. */
static jwtsd_config_result scan_argv(int argc, char **argv, const char **config, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return JWTSD_CONFIG_HELP;
        if (!strcmp(a, "--version")) return JWTSD_CONFIG_VERSION;
        if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--config needs a value");
                return JWTSD_CONFIG_ERROR;
            }
            *config = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            *config = a + 9;
        }
    }
    return JWTSD_CONFIG_RUN;
}

static bool load_argv(jwtsd_config *cfg, int argc, char **argv, bool *admin_file_flag, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%.64s\" (see --help)", a);
            return false;
        }
        const char *name = a + 2, *eq = strchr(name, '='), *value = eq ? eq + 1 : NULL;
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 6 && !strncmp(name, "config", 6)) {
            if (!eq) i++;
            continue;
        }
        const opt *o = opt_find(name, len);
        bool negated = false;
        if (!o && len > 3 && !strncmp(name, "no-", 3)) {
            o = opt_find(name + 3, len - 3);
            negated = o && o->kind == K_BOOL && !eq;
            if (!negated) o = NULL;
        }
        if (!o) {
            snprintf(err, errlen, "unknown option --%.*s (see --help)", (int)(len > 64 ? 64 : len), name);
            return false;
        }
        if (o->kind == K_BOOL && !value) value = negated ? "false" : "true";
        if (!value) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--%s needs a value", o->name);
                return false;
            }
            value = argv[++i];
        }
        char where[80];
        snprintf(where, sizeof(where), "--%s", o->name);
        if (!opt_set(cfg, o, value, where, err, errlen)) return false;
        if (!strcmp(o->name, "admin-key-file")) *admin_file_flag = true;
    }
    return true;
}

/* true when s (n bytes) is an HTTP header name (RFC 9110 token). */
static bool token_chars(const char *s, size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (!n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i])) return false;
    return true;
}

/* Parse --identity-headers into cfg->identity; false with a message in err. */
static bool identity_parse(jwtsd_config *cfg, char *err, size_t errlen)
{
    cfg->identity_count = 0;
    cfg->identity_needs_session = false;
    for (const char *p = cfg->identity_headers_spec; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && isspace((unsigned char)*p)) p++, n--;
        while (n && isspace((unsigned char)p[n - 1])) n--;
        if (n) {
            const char *eq = memchr(p, '=', n);
            size_t name_len = eq ? (size_t)(eq - p) : 0, src_len = eq ? n - name_len - 1 : 0;
            const char *src = eq ? eq + 1 : NULL;
            if (cfg->identity_count == JWTSD_IDENTITY_MAX)
                return snprintf(err, errlen, "identity-headers: at most %d headers", JWTSD_IDENTITY_MAX), false;
            if (!eq || !token_chars(p, name_len) || name_len >= JWTSD_IDENTITY_NAME)
                return snprintf(err, errlen, "identity-headers: \"%.*s\" is not NAME=SOURCE with a header NAME",
                                (int)(n > 64 ? 64 : n), p),
                       false;
            jwtsd_identity_header *h = &cfg->identity[cfg->identity_count];
            memcpy(h->name, p, name_len);
            h->name[name_len] = '\0';
            h->field[0] = '\0';
            if (src_len == 4 && !memcmp(src, "user", 4)) {
                h->source = JWTSD_ID_USER;
            } else if (src_len == 7 && !memcmp(src, "session", 7)) {
                h->source = JWTSD_ID_SESSION;
            } else if (src_len == 7 && !memcmp(src, "expires", 7)) {
                h->source = JWTSD_ID_EXPIRES;
            } else if ((src_len > 9 && !memcmp(src, "metadata.", 9)) || (src_len > 6 && !memcmp(src, "claim.", 6))) {
                bool meta = src[0] == 'm';
                size_t skip = meta ? 9 : 6, flen = src_len - skip;
                if (flen >= JWTSD_IDENTITY_NAME || !token_chars(src + skip, flen))
                    return snprintf(err, errlen, "identity-headers: bad field name in \"%.*s\"", (int)(n > 64 ? 64 : n),
                                    p),
                           false;
                h->source = meta ? JWTSD_ID_METADATA : JWTSD_ID_CLAIM;
                memcpy(h->field, src + skip, flen);
                h->field[flen] = '\0';
                if (meta) cfg->identity_needs_session = true;
            } else {
                return snprintf(err, errlen,
                                "identity-headers: source of \"%.*s\" must be user, session, expires, "
                                "metadata.FIELD or claim.NAME",
                                (int)(n > 64 ? 64 : n), p),
                       false;
            }
            for (size_t i = 0; i < cfg->identity_count; i++)
                if (!strcasecmp(cfg->identity[i].name, h->name))
                    return snprintf(err, errlen, "identity-headers: %s named twice", h->name), false;
            cfg->identity_count++;
        }
        p = comma ? comma + 1 : NULL;
    }
    return true;
}

/* Split spec (comma separated, entries trimmed) into out[]; false with a message in err. */
static bool parse_list(const char *opt_name, const char *spec, char **out, size_t *count, char *err, size_t errlen)
{
    *count = 0;
    for (const char *p = spec; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && isspace((unsigned char)*p)) p++, n--;
        while (n && isspace((unsigned char)p[n - 1])) n--;
        if (n) {
            if (*count == JWTSD_LIST_MAX)
                return snprintf(err, errlen, "%s: at most %d entries", opt_name, JWTSD_LIST_MAX), false;
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f || p[i] == ';')
                    return snprintf(err, errlen, "%s: \"%.*s\" has a space, control or non-ASCII byte", opt_name,
                                    (int)(n > 64 ? 64 : n), p),
                           false;
            if (!(out[*count] = strndup(p, n))) return snprintf(err, errlen, "out of memory"), false;
            (*count)++;
        }
        p = comma ? comma + 1 : NULL;
    }
    return true;
}

/* true when s is made of visible ASCII other than ';' and ',' (a cookie attribute value). */
static bool attr_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == ';' || *s == ',') return false;
    return true;
}

/* The gateway settings: identity headers, cookies, origins, the login redirect. */
static bool check_gateway(jwtsd_config *cfg, char *err, size_t errlen)
{
    if (!identity_parse(cfg, err, errlen)) return false;
    if (!parse_list("allowed-origins", cfg->allowed_origins_spec, cfg->allowed_origins, &cfg->allowed_origins_count,
                    err, errlen) ||
        !parse_list("redirect-hosts", cfg->redirect_hosts_spec, cfg->redirect_hosts, &cfg->redirect_hosts_count, err,
                    errlen))
        return false;
    for (size_t i = 0; i < cfg->allowed_origins_count; i++) {
        const char *o = cfg->allowed_origins[i];
        if ((strncmp(o, "https://", 8) && strncmp(o, "http://", 7)) || strchr(strstr(o, "//") + 2, '/'))
            return snprintf(err, errlen, "allowed-origins: \"%.64s\" is not scheme://host[:port]", o), false;
    }
    const char *name = cfg->cookie_name;
    if (!name[0] || strlen(name) > 64 ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(name))
        return snprintf(err, errlen, "cookie-name: 1-64 letters, digits, '-' or '_'"), false;
    if (!attr_ok(cfg->cookie_domain) || !attr_ok(cfg->cookie_path) || cfg->cookie_path[0] != '/' ||
        !attr_ok(cfg->cookie_refresh_path) || cfg->cookie_refresh_path[0] != '/')
        return snprintf(err, errlen,
                        "cookie-domain / cookie-path / cookie-refresh-path: visible ASCII without ';' or ','; "
                        "paths start with /"),
               false;
    if (!strcmp(cfg->cookie_samesite, "None") && !cfg->cookie_secure)
        return snprintf(err, errlen, "cookie-samesite None needs cookie-secure (browsers drop such cookies)"), false;
    if (!strncmp(name, "__Host-", 7) && (!cfg->cookie_secure || cfg->cookie_domain[0] ||
                                         strcmp(cfg->cookie_path, "/") || strcmp(cfg->cookie_refresh_path, "/")))
        return snprintf(err, errlen,
                        "a __Host- cookie-name needs cookie-secure, cookie-path and cookie-refresh-path / and "
                        "no cookie-domain (__Secure- allows other paths)"),
               false;
    if (!strncmp(name, "__Secure-", 9) && !cfg->cookie_secure)
        return snprintf(err, errlen, "a __Secure- cookie-name needs cookie-secure"), false;
    if (cfg->cookies && !cfg->allowed_origins_count)
        return snprintf(err, errlen, "cookies need allowed-origins: the origins of your pages (CSRF check)"), false;
    if (cfg->login_url[0] && ((strncmp(cfg->login_url, "https://", 8) && strncmp(cfg->login_url, "http://", 7)) ||
                              !attr_ok(cfg->login_url) || strlen(cfg->login_url) > 1024))
        return snprintf(err, errlen, "login-url must be an absolute http(s) URL of visible ASCII (at most 1024 bytes)"),
               false;
    return true;
}

/* Cross-field checks once every source is applied. */
static bool check(jwtsd_config *cfg, char *err, size_t errlen)
{
    if (cfg->access_ttl_ms < 1000) return snprintf(err, errlen, "access-ttl must be at least 1s"), false;
    if (cfg->jwks_max_age_ms > 365LL * 24 * 3600 * 1000)
        return snprintf(err, errlen, "jwks-max-age must be at most 365d"), false;
    if (cfg->key_refetch_interval_ms < 1000)
        return snprintf(err, errlen, "key-refetch-interval must be at least 1s"), false;
    if (cfg->refresh_ttl_ms < 1000) return snprintf(err, errlen, "refresh-ttl must be at least 1s"), false;
    if (cfg->absolute_lifetime_ms < 1000) return snprintf(err, errlen, "absolute-lifetime must be at least 1s"), false;
    if (cfg->threads > 256) return snprintf(err, errlen, "threads must be at most 256"), false;
    if (cfg->cache_max_entries < 1 || cfg->cache_max_entries > 100000000)
        return snprintf(err, errlen, "cache-max-entries must be between 1 and 100000000"), false;
    if (cfg->cache_max_stale_ms < 10 || cfg->cache_max_stale_ms > 60000)
        return snprintf(err, errlen, "cache-max-stale must be between 10ms and 60s"), false;
    if (cfg->store_workers > 4096) return snprintf(err, errlen, "store-workers must be at most 4096"), false;
    if (cfg->max_connections < 1 || cfg->max_connections > 1000000)
        return snprintf(err, errlen, "max-connections must be between 1 and 1000000"), false;
    if (cfg->max_body < 1 || cfg->max_body > 16 * 1024 * 1024)
        return snprintf(err, errlen, "max-body must be between 1 and 16m"), false;
    if (cfg->max_header < 256 || cfg->max_header > 24 * 1024)
        return snprintf(err, errlen, "max-header must be between 256 and 24k"), false;
    if (cfg->max_url < 64 || cfg->max_url > 16 * 1024)
        return snprintf(err, errlen, "max-url must be between 64 and 16k"), false;
    if (cfg->request_timeout_ms < 1) return snprintf(err, errlen, "request-timeout must be positive"), false;
    if (cfg->connection_timeout_ms < 1000 || cfg->connection_timeout_ms > 24 * 3600 * 1000)
        return snprintf(err, errlen, "connection-timeout must be between 1s and 24h"), false;
    if (cfg->head_timeout_ms < 100) return snprintf(err, errlen, "head-timeout must be at least 100ms"), false;
    if (cfg->reserve_connections < 1 || cfg->reserve_connections > 50)
        return snprintf(err, errlen, "reserve-connections must be between 1 and 50 (percent)"), false;
    if (!check_gateway(cfg, err, errlen)) return false;
    if (cfg->key_file && !cfg->key_file[0]) {
        free(cfg->key_file);
        cfg->key_file = NULL;
    }
    if (cfg->tenants_file && !cfg->tenants_file[0]) {
        free(cfg->tenants_file);
        cfg->tenants_file = NULL;
    }
    if (cfg->tenants_file && (cfg->key_file || cfg->admin_key_file || cfg->admin_key))
        return snprintf(err, errlen,
                        "with tenants, each tenant has its own key and admin-key-file (docs/tenants.md): drop --key, "
                        "--admin-key-file and JWTSESSION_ADMIN_KEY"),
               false;
    return true;
}

jwtsd_config_result jwtsd_config_load(jwtsd_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    *cfg = (jwtsd_config){0};
    const char *config = getenv("JWTSESSION_CONFIG");
    jwtsd_config_result r = scan_argv(argc, argv, &config, err, errlen);
    if (r != JWTSD_CONFIG_RUN) return r;
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].def && !opt_set(cfg, &opts[i], opts[i].def, "default", err, errlen)) return JWTSD_CONFIG_ERROR;
    if (config && config[0]) {
        if (!load_file(cfg, config, err, errlen)) return JWTSD_CONFIG_ERROR;
        cfg->config_file = strdup(config);
    }
    if (!load_env(cfg, err, errlen)) return JWTSD_CONFIG_ERROR;
    bool admin_file_flag = false;
    if (!load_argv(cfg, argc, argv, &admin_file_flag, err, errlen)) return JWTSD_CONFIG_ERROR;
    /* The admin key itself in the environment beats a file from the config file or environment. */
    const char *env_key = getenv("JWTSESSION_ADMIN_KEY");
    if (env_key && env_key[0] && !admin_file_flag) {
        free(cfg->admin_key_file);
        cfg->admin_key_file = NULL;
        cfg->admin_key = strdup(env_key);
    }
    return check(cfg, err, errlen) ? JWTSD_CONFIG_RUN : JWTSD_CONFIG_ERROR;
}

void jwtsd_config_free(jwtsd_config *cfg)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].kind == K_STR || opts[i].kind == K_ENUM) {
            char **p = (char **)((char *)cfg + opts[i].offset);
            free(*p);
            *p = NULL;
        }
    }
    if (cfg->admin_key) {
        OPENSSL_cleanse(cfg->admin_key, strlen(cfg->admin_key));
        free(cfg->admin_key);
    }
    free(cfg->config_file);
    for (size_t i = 0; i < cfg->allowed_origins_count; i++) free(cfg->allowed_origins[i]);
    for (size_t i = 0; i < cfg->redirect_hosts_count; i++) free(cfg->redirect_hosts[i]);
    *cfg = (jwtsd_config){0};
}

void jwtsd_config_help(const char *prog)
{
    printf("Usage: %s [OPTIONS]\n\n"
           "jwtsessiond - JWT session manager over HTTP (see docs/daemon.md for the API).\n\n"
           "Every option also comes from the environment (JWTSESSION_<NAME>, shown under each) and\n"
           "from --config FILE (JWTSESSION_CONFIG): \"name = value\" lines using the long names below,\n"
           "'#' starts a comment line. Precedence: flags > environment > config file > defaults.\n"
           "Durations: 90 (seconds), 500ms, 90s, 15m, 12h, 30d. Sizes: bytes, or with k / m.\n\n"
           "  --config FILE\n      read settings from FILE  [JWTSESSION_CONFIG]\n",
           prog);
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &opts[i];
        char env[64];
        env_name(o, env, sizeof(env));
        if (o->kind == K_BOOL)
            printf("  --%s[=BOOL], --no-%s\n", o->name, o->name);
        else
            printf("  --%s %s\n", o->name, o->arg);
        printf("      ");
        for (const char *p = o->help; *p; p++) {
            putchar(*p);
            if (*p == '\n') printf("      ");
        }
        if (!strcmp(o->name, "admin-key-file"))
            printf("\n      [JWTSESSION_ADMIN_KEY_FILE; JWTSESSION_ADMIN_KEY = the key]");
        else
            printf("\n      [%s", env);
        if (strcmp(o->name, "admin-key-file") != 0) {
            if (o->def && o->def[0]) printf("; default %s", o->def);
            printf("]");
        }
        putchar('\n');
    }
    printf("  --help        this text\n  --version     print the version\n\n"
           "Tracing follows the OpenTelemetry environment (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME,\n"
           "OTEL_TRACES_SAMPLER, OTEL_SDK_DISABLED, ...). Signals: SIGTERM/SIGINT stop accepting, finish\n"
           "in-flight requests (up to --shutdown-timeout), flush spans and exit 0.\n");
}
