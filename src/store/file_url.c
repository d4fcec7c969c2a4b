/*
 * file_url.c - "file:///path/to/dir?name=value&..." for the file store.
 *
 * The path is absolute (an empty host: three slashes) and may be percent-encoded; each query
 * option is known, given once and in range (store_file.h lists them). Details name the option,
 * never echo a value.
 */
#include <stdlib.h>
#include <string.h>

#include "core/percent.h"
#include "jwtsession/error.h"
#include "store/file.h"

#define SCHEME "file://"
#define PATH_MAX_BYTES 4000

bool jwts_file_url_is(const char *url)
{
    return url && strncmp(url, SCHEME, strlen(SCHEME)) == 0;
}

typedef enum { O_SYNC, O_WINDOW, O_MAP, O_MAX, O_SWEEP_INTERVAL, O_SWEEP_BATCH, O__COUNT } opt_id;

static const struct {
    const char *name;
    long long min, max;
} OPTS[O__COUNT] = {
    [O_SYNC] = {"sync", 0, 0},
    [O_WINDOW] = {"sync_window_ms", 1, 60000},
    [O_MAP] = {"map_size_mb", 1, 1048576},
    [O_MAX] = {"max_sessions", 1, 1000000000},
    [O_SWEEP_INTERVAL] = {"sweep_interval_ms", 1, 3600000}, /* or off */
    [O_SWEEP_BATCH] = {"sweep_batch", 1, 1000000},
};

static jwts_err set_option(opt_id id, const char *v, jwts_file_options *o)
{
    if (id == O_SYNC) {
        if (strcmp(v, "full") == 0)
            o->sync = JWTS_FILE_SYNC_FULL;
        else if (strcmp(v, "group") == 0)
            o->sync = JWTS_FILE_SYNC_GROUP;
        else
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file url: option sync: full or group");
        return JWTS_OK;
    }
    if (id == O_SWEEP_INTERVAL && strcmp(v, "off") == 0) {
        o->sweep_interval_ms = -1; /* zero would be the default: off turns the sweep off */
        return JWTS_OK;
    }
    char *end = NULL;
    long long n = *v >= '0' && *v <= '9' && strlen(v) <= 12 ? strtoll(v, &end, 10) : -1;
    if (!end || *end || n < OPTS[id].min || n > OPTS[id].max)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file url: option %s: a whole number from %lld to %lld",
                         OPTS[id].name, OPTS[id].min, OPTS[id].max);
    switch (id) {
    case O_WINDOW:
        o->sync_window_ms = n;
        break;
    case O_MAP:
        o->map_size_mb = (size_t)n;
        break;
    case O_MAX:
        o->max_sessions = (size_t)n;
        break;
    case O_SWEEP_INTERVAL:
        o->sweep_interval_ms = n;
        break;
    case O_SWEEP_BATCH:
        o->sweep_batch = (size_t)n;
        break;
    default:
        break;
    }
    return JWTS_OK;
}

/* One "name=value" of pair[0..n). */
static jwts_err parse_pair(const char *pair, size_t n, bool seen[O__COUNT], jwts_file_options *o)
{
    const char *eq = memchr(pair, '=', n);
    size_t name_len = eq ? (size_t)(eq - pair) : n;
    int id = -1;
    for (int i = 0; i < O__COUNT && id < 0; i++)
        if (strlen(OPTS[i].name) == name_len && memcmp(OPTS[i].name, pair, name_len) == 0) id = i;
    if (id < 0) {
        int shown = name_len > 40 ? 40 : (int)name_len;
        for (int i = 0; i < shown; i++)
            if (!((pair[i] >= 'a' && pair[i] <= 'z') || (pair[i] >= '0' && pair[i] <= '9') || pair[i] == '_'))
                shown = i; /* name what can be shown safely */
        return jwts_fail(JWTS_E_INVALID_ARGUMENT,
                         "file url: unknown option \"%.*s\" (sync, sync_window_ms, map_size_mb, "
                         "max_sessions, sweep_interval_ms, sweep_batch)",
                         shown, pair);
    }
    if (!eq) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file url: option %s has no value", OPTS[id].name);
    if (seen[id]) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file url: option %s given twice", OPTS[id].name);
    seen[id] = true;
    jwts_err rc = JWTS_OK;
    char *v = jwts_percent_decode(eq + 1, n - name_len - 1, "file", OPTS[id].name, &rc);
    if (!v) return rc;
    rc = set_option((opt_id)id, v, o);
    free(v);
    return rc;
}

jwts_err jwts_file_url_parse(const char *url, jwts_file_options *o, char **path)
{
    *path = NULL;
    if (!jwts_file_url_is(url)) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file url: not a file:// URL");
    const char *p = url + strlen(SCHEME);
    if (*p != '/')
        return jwts_fail(JWTS_E_INVALID_ARGUMENT,
                         "file url: needs an absolute path with no host (file:///path/to/dir)");
    size_t plen = strcspn(p, "?#");
    if (p[plen] == '#') return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file url: a fragment (#) is not allowed");
    if (plen > PATH_MAX_BYTES)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "file url: path longer than %d bytes", PATH_MAX_BYTES);
    jwts_err rc = JWTS_OK;
    char *dir = jwts_percent_decode(p, plen, "file", "path", &rc);
    if (!dir) return rc;
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/') dir[--dlen] = '\0';
    if (dlen <= 1) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "file url: the path names no directory");
    bool seen[O__COUNT] = {0};
    const char *q = p[plen] == '?' ? p + plen + 1 : p + plen;
    while (!rc && *q) {
        size_t n = strcspn(q, "&");
        if (n == 0)
            rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "file url: empty option in the query");
        else
            rc = parse_pair(q, n, seen, o);
        q += n;
        if (*q == '&') q++;
    }
    if (rc) {
        free(dir);
        return rc;
    }
    *path = dir;
    return JWTS_OK;
}
