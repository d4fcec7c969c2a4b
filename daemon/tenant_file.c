/*
 * tenant_file.c - the --tenants file: "name = value" lines (as in the config file) under
 * [tenant NAME] headers, read into tenant settings. Nothing is opened here (tenants.c does it).
 *
 * Every value is bounded and checked, and every error names file:line. Unknown names, a setting
 * outside a section, a name twice in one section, duplicate tenant names, two tenants that could
 * match the same request with the same precedence (same host and path, or nested path prefixes on
 * an overlapping host), a shared file store and a shared or nested Redis key prefix are refused.
 * Defaults come from the daemon's own settings (docs/tenants.md lists them).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "daemon.h"

#define LINE_MAX_BYTES 1024
#define VALUE_MAX 1000
#define FILE_LINES_MAX 10000

/* The settings a section may hold. */
enum { S_HOST, S_PATH, S_ISSUER, S_AUDIENCE, S_KEY, S_ADMIN_KEY_FILE, S_KEY_PREFIX, S_STORE, S_MAX_SESSIONS, S__COUNT };
static const char *const SETTINGS[S__COUNT] = {"host",           "path",       "issuer", "audience",    "key",
                                               "admin-key-file", "key-prefix", "store",  "max-sessions"};

/* What one section said, before defaults: values (NULL: not given), and the line of each. */
typedef struct section {
    char name[JWTSD_TENANT_NAME_MAX + 1];
    int line;
    char *v[S__COUNT];
    int at[S__COUNT];
} section;

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= JWTSD_TENANT_NAME_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* A host name: 1-253 bytes of letters, digits, '-' and '.', no empty label; stored lower case. */
static bool host_ok(char *s)
{
    size_t n = strlen(s);
    if (!n || n > JWTSD_TENANT_HOST_MAX || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..")) return false;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.') return false;
        s[i] = (char)tolower((unsigned char)s[i]);
    }
    return true;
}

/* A path prefix: "/seg[/seg...]" of unreserved characters, at most 64 bytes, no "." or ".."
 * segment, and a first segment that is not one of the daemon's own ("v1", ".well-known",
 * "metrics", "healthz", "readyz"). */
static const char *path_problem(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || s[0] != '/' || n > JWTSD_TENANT_PATH_MAX) return "a prefix such as /t/acme (2-64 bytes)";
    if (s[n - 1] == '/' || strstr(s, "//")) return "no empty segment and no trailing /";
    if (strspn(s, "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~") != n)
        return "letters, digits, '-', '.', '_', '~' and '/' only";
    for (const char *seg = s; seg; seg = strchr(seg + 1, '/')) {
        size_t len = strcspn(seg + 1, "/");
        if ((len == 1 && seg[1] == '.') || (len == 2 && seg[1] == '.' && seg[2] == '.'))
            return "no \".\" or \"..\" segment";
    }
    static const char *const own[] = {"v1", ".well-known", "metrics", "healthz", "readyz"};
    size_t first = strcspn(s + 1, "/");
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        if (first == strlen(own[i]) && !strncmp(s + 1, own[i], first)) return "its first segment is a daemon path";
    return NULL;
}

/* A Redis key prefix: 1-64 bytes of letters, digits, ':', '_', '.', '-'. */
static bool prefix_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.-") == n;
}

/* Visible ASCII (an issuer, audience, file name or URL), at most VALUE_MAX bytes. */
static bool visible(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) return false;
    return true;
}

static bool is_file_store(const char *url)
{
    return !strncmp(url, "file:", 5);
}
static bool is_redis_store(const char *url)
{
    return !strncmp(url, "redis", 5) || !strncmp(url, "unix:", 5);
}

/* Length of url without its query. */
static size_t url_base_len(const char *url)
{
    return strcspn(url, "?");
}

static char *dup_or_fail(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d) *oom = true;
    return d;
}

static void section_free(section *s)
{
    for (int i = 0; i < S__COUNT; i++) free(s->v[i]);
    *s = (section){0};
}

/* Check section s and build tenant t from it and cfg's defaults; false with a message in err. */
static bool build(const jwtsd_config *cfg, const char *path, section *s, jwtsd_tenant *t, char *err, size_t errlen)
{
    char *v;
#define FAIL(k, ...)                                                                                                   \
    do {                                                                                                               \
        int _n = snprintf(err, errlen, "%.400s:%d: ", path, (k) >= 0 && s->at[k] ? s->at[k] : s->line);                \
        if (_n > 0 && (size_t)_n < errlen) snprintf(err + _n, errlen - (size_t)_n, __VA_ARGS__);                       \
        return false;                                                                                                  \
    } while (0)
    if ((v = s->v[S_HOST]) && !host_ok(v)) FAIL(S_HOST, "host: a host name (letters, digits, '-', '.'), no port");
    const char *why;
    if ((v = s->v[S_PATH]) && (why = path_problem(v))) FAIL(S_PATH, "path: %s", why);
    if (!s->v[S_HOST] && !s->v[S_PATH]) FAIL(-1, "tenant %s: needs host or path (or both)", s->name);
    for (int k = S_ISSUER; k <= S_STORE; k++)
        if ((v = s->v[k]) && (!visible(v) || strlen(v) > VALUE_MAX))
            FAIL(k, "%s: visible ASCII, at most %d bytes", SETTINGS[k], VALUE_MAX);
    if ((v = s->v[S_ISSUER]) && !v[0]) FAIL(S_ISSUER, "issuer: must not be empty");
    for (int k = S_KEY; k <= S_STORE; k++)
        if (k != S_KEY_PREFIX && (v = s->v[k]) && !v[0]) FAIL(k, "%s: must not be empty", SETTINGS[k]);
    if ((v = s->v[S_KEY_PREFIX]) && !prefix_ok(v))
        FAIL(S_KEY_PREFIX, "key-prefix: 1-64 letters, digits, ':', '_', '.' or '-'");
    int64_t max = cfg->max_sessions;
    if ((v = s->v[S_MAX_SESSIONS])) {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (!strcasecmp(v, "off"))
            max = JWTS_OFF;
        else if (!isdigit((unsigned char)v[0]) || *end || errno || n < 1 || n > 1000000)
            FAIL(S_MAX_SESSIONS, "max-sessions: 1 to 1000000, or off");
        else
            max = n;
    }
    const char *store = s->v[S_STORE] ? s->v[S_STORE] : cfg->store;
    if (s->v[S_STORE] && strstr(s->v[S_STORE], "key_prefix="))
        FAIL(S_STORE, "store: set key-prefix, not key_prefix in the URL");
    if (!s->v[S_STORE] && is_redis_store(store) && strstr(store, "key_prefix="))
        FAIL(-1, "tenant %s: the daemon's --store sets key_prefix; each tenant sets its own key-prefix instead",
             s->name);
    /* the store URL of this tenant: a Redis one gets the tenant's key prefix */
    char prefix[80];
    snprintf(prefix, sizeof prefix, "%s", s->v[S_KEY_PREFIX] ? s->v[S_KEY_PREFIX] : "");
    if (!prefix[0]) snprintf(prefix, sizeof prefix, "jwts:%s:", s->name);
    bool oom = false;
    if (is_redis_store(store)) {
        size_t n = strlen(store) + strlen(prefix) + 16;
        if (!(t->store_url = malloc(n)))
            oom = true;
        else
            snprintf(t->store_url, n, "%s%ckey_prefix=%s", store, strchr(store, '?') ? '&' : '?', prefix);
    } else {
        t->store_url = dup_or_fail(store, &oom);
    }
    t->name = dup_or_fail(s->name, &oom);
    t->host = dup_or_fail(s->v[S_HOST], &oom);
    t->path = dup_or_fail(s->v[S_PATH], &oom);
    t->path_len = t->path ? strlen(t->path) : 0;
    t->issuer = dup_or_fail(s->v[S_ISSUER] ? s->v[S_ISSUER] : cfg->issuer, &oom);
    t->audience = dup_or_fail(s->v[S_AUDIENCE] ? s->v[S_AUDIENCE] : s->name, &oom);
    t->key_file = dup_or_fail(s->v[S_KEY], &oom);
    t->admin_key_file = dup_or_fail(s->v[S_ADMIN_KEY_FILE], &oom);
    t->max_sessions = max;
    t->line = s->line;
    if (oom) return snprintf(err, errlen, "out of memory"), false;
    return true;
#undef FAIL
}

/* true when hosts a and b (NULL: any) can both match one request. */
static bool hosts_overlap(const char *a, const char *b)
{
    return !a || !b || !strcmp(a, b);
}

/* true when path prefix a is b or a whole-segment prefix of it. */
static bool path_within(const char *a, const char *b)
{
    size_t n = strlen(a);
    return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/');
}

/* Checks across tenants; false with a message naming the later one's line. */
static bool check_all(const char *path, jwtsd_tenant *t, size_t n, char *err, size_t errlen)
{
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < j; i++) {
            const jwtsd_tenant *a = &t[i], *b = &t[j];
            const char *clash = NULL;
            if (!strcmp(a->name, b->name))
                clash = "the same name";
            else if (!a->host == !b->host && !a->path == !b->path && hosts_overlap(a->host, b->host) &&
                     (!a->path || !strcmp(a->path, b->path)))
                clash = "the same host and path: a request could be either's";
            else if (a->path && b->path && hosts_overlap(a->host, b->host) &&
                     (path_within(a->path, b->path) || path_within(b->path, a->path)))
                clash = "nested path prefixes on the same host";
            else if (a->key_file && b->key_file && !strcmp(a->key_file, b->key_file))
                clash = "the same key file: each tenant signs with its own keys";
            else if (a->admin_key_file && b->admin_key_file && !strcmp(a->admin_key_file, b->admin_key_file))
                clash = "the same admin-key-file: an admin key is for one tenant";
            else if (is_file_store(a->store_url) && is_file_store(b->store_url) &&
                     url_base_len(a->store_url) == url_base_len(b->store_url) &&
                     !strncmp(a->store_url, b->store_url, url_base_len(a->store_url)))
                clash = "the same file store: give each tenant its own store = file:///DIR";
            else if (is_redis_store(a->store_url) && is_redis_store(b->store_url) &&
                     url_base_len(a->store_url) == url_base_len(b->store_url) &&
                     !strncmp(a->store_url, b->store_url, url_base_len(a->store_url))) {
                const char *pa = strstr(a->store_url, "key_prefix=") + 11,
                           *pb = strstr(b->store_url, "key_prefix=") + 11;
                size_t la = strcspn(pa, "&"), lb = strcspn(pb, "&");
                if (!strncmp(pa, pb, la < lb ? la : lb)) clash = "key prefixes where one starts with the other";
            }
            if (clash)
                return snprintf(err, errlen, "%.400s:%d: tenant %s and tenant %s (line %d) have %s", path, b->line,
                                b->name, a->name, a->line, clash),
                       false;
        }
    }
    return true;
}

void jwtsd_tenants_free(jwtsd_tenant *t, size_t n)
{
    if (!t) return;
    for (size_t i = 0; i < n; i++) {
        jwtsd_tenant *x = &t[i];
        free(x->name);
        free(x->host);
        free(x->path);
        free(x->issuer);
        free(x->audience);
        free(x->key_file);
        free(x->admin_key_file);
        if (x->admin_key) OPENSSL_cleanse(x->admin_key, strlen(x->admin_key));
        free(x->admin_key);
        free(x->store_url);
    }
    free(t);
}

/* Read one line into line (cap bytes); 0 at the end, -1 when too long. */
static int read_line(FILE *f, char *line, size_t cap)
{
    if (!fgets(line, (int)cap, f)) return 0;
    if (!strchr(line, '\n') && !feof(f)) return -1;
    return 1;
}

bool jwtsd_tenants_parse(const jwtsd_config *cfg, const char *path, jwtsd_tenant **out, size_t *n, char *err,
                         size_t errlen)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(err, errlen, "tenants file %.400s: %s", path, strerror(errno)), false;
    jwtsd_tenant *t = calloc(JWTSD_TENANTS_MAX, sizeof *t);
    section s = {0};
    bool open = false, ok = t != NULL;
    if (!t) snprintf(err, errlen, "out of memory");
    char line[LINE_MAX_BYTES + 2];
    int lineno = 0, got;
    while (ok && (got = read_line(f, line, sizeof line)) != 0) {
        lineno++;
        if (got < 0 || lineno > FILE_LINES_MAX) {
            snprintf(err, errlen, "%.400s:%d: %s", path, lineno,
                     got < 0 ? "line too long (1024 bytes at most)" : "more than 10000 lines");
            ok = false;
            break;
        }
        char *l = trim(line);
        if (!*l || *l == '#') continue;
        if (*l == '[') {
            char name[64];
            size_t len = strlen(l);
            if (strncmp(l, "[tenant ", 8) || l[len - 1] != ']' || len - 9 >= sizeof name) {
                snprintf(err, errlen, "%.400s:%d: expected [tenant NAME]", path, lineno);
                ok = false;
                break;
            }
            memcpy(name, l + 8, len - 9);
            name[len - 9] = '\0';
            char *nm = trim(name);
            if (!name_ok(nm)) {
                snprintf(err, errlen, "%.400s:%d: tenant name: 1-32 of a-z, 0-9 and '-'", path, lineno);
                ok = false;
                break;
            }
            if (open && !(ok = build(cfg, path, &s, &t[(*n)++], err, errlen))) break;
            section_free(&s);
            if (*n == JWTSD_TENANTS_MAX) {
                snprintf(err, errlen, "%.400s:%d: at most %d tenants", path, lineno, JWTSD_TENANTS_MAX);
                ok = false;
                break;
            }
            snprintf(s.name, sizeof s.name, "%s", nm);
            s.line = lineno;
            open = true;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!eq) {
            snprintf(err, errlen, "%.400s:%d: expected \"name = value\" or [tenant NAME]", path, lineno);
            ok = false;
            break;
        }
        *eq = '\0';
        char *name = trim(l), *value = trim(eq + 1);
        size_t vn = strlen(value);
        if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') value[vn - 1] = '\0', value++;
        int k = 0;
        while (k < S__COUNT && strcmp(SETTINGS[k], name)) k++;
        if (k == S__COUNT || !open) {
            snprintf(err, errlen, "%.400s:%d: %s \"%.64s\"", path, lineno,
                     !open ? "a setting before the first [tenant NAME]:" : "unknown setting", name);
            ok = false;
            break;
        }
        if (s.v[k]) {
            snprintf(err, errlen, "%.400s:%d: %s given twice in tenant %s", path, lineno, SETTINGS[k], s.name);
            ok = false;
            break;
        }
        if (!(s.v[k] = strdup(value))) {
            snprintf(err, errlen, "out of memory");
            ok = false;
            break;
        }
        s.at[k] = lineno;
    }
    if (ok && ferror(f)) ok = false, snprintf(err, errlen, "tenants file %.400s: read error", path);
    fclose(f);
    if (ok && open) ok = build(cfg, path, &s, &t[(*n)++], err, errlen);
    section_free(&s);
    if (ok && !*n) ok = false, snprintf(err, errlen, "%.400s: no [tenant NAME] section", path);
    if (ok) ok = check_all(path, t, *n, err, errlen);
    if (!ok) {
        jwtsd_tenants_free(t, t ? JWTSD_TENANTS_MAX : 0);
        *n = 0;
        return false;
    }
    *out = t;
    return true;
}
