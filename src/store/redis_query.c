/*
 * redis_query.c - the Redis URL forms and the options of their query string.
 *
 *   redis://  rediss://  unix://                    one server (rediss: TLS)
 *   redis-cluster://  rediss-cluster://             Redis Cluster seed nodes
 *   redis-sentinel://  rediss-sentinel://           the sentinels of a master
 *
 * "?name=value&name=value": each option is known, allowed for the URL's kind, given once, and
 * its value checked (durations as the programs take them: 90 = seconds, 500ms, 2s, 1m). A detail
 * names the option but never echoes a value: a misplaced password must not reach a log.
 */
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/percent.h"
#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "store/redis.h"

#define MAX_DURATION_MS (24LL * 3600 * 1000)

static const struct {
    const char *scheme;
    redis_url_kind kind;
    bool tls;
} SCHEMES[] = {
    {"redis://", REDIS_URL_SINGLE, false},
    {"rediss://", REDIS_URL_SINGLE, true},
    {"unix://", REDIS_URL_UNIX, false},
    {"redis-cluster://", REDIS_URL_CLUSTER, false},
    {"rediss-cluster://", REDIS_URL_CLUSTER, true},
    {"redis-sentinel://", REDIS_URL_SENTINEL, false},
    {"rediss-sentinel://", REDIS_URL_SENTINEL, true},
};

bool jwts_redis_url_kind(const char *url, redis_url_kind *kind, bool *tls, size_t *prefix_len)
{
    for (size_t i = 0; url && i < sizeof SCHEMES / sizeof *SCHEMES; i++) {
        size_t n = strlen(SCHEMES[i].scheme);
        if (strncmp(url, SCHEMES[i].scheme, n) == 0) {
            *kind = SCHEMES[i].kind, *tls = SCHEMES[i].tls, *prefix_len = n;
            return true;
        }
    }
    return false;
}

/* Which kinds take an option. */
enum { K_SINGLE = 1, K_UNIX = 2, K_CLUSTER = 4, K_SENTINEL = 8, K_ALL = 15, K_TLS = 16 };

typedef enum { T_DURATION, T_COUNT, T_BOOL, T_TEXT } opt_type;

typedef struct query_opt {
    const char *name;
    opt_type type;
    unsigned kinds; /* K_*; K_TLS: only on a TLS form */
    long min, max;  /* T_COUNT */
    size_t off;     /* into redis_query */
    bool secret;
} query_opt;

#define Q(f) offsetof(redis_query, f)

static const query_opt OPTS[] = {
    {"connect_timeout", T_DURATION, K_ALL, 0, 0, Q(connect_timeout_ms), false},
    {"command_timeout", T_DURATION, K_ALL, 0, 0, Q(command_timeout_ms), false},
    {"pool_size", T_COUNT, K_ALL, 1, 1024, Q(pool_size), false},
    {"key_prefix", T_TEXT, K_ALL, 0, 0, Q(key_prefix), false},
    {"db", T_COUNT, K_SINGLE | K_UNIX | K_SENTINEL, 0, 1 << 30, Q(db), false},
    {"pipeline", T_BOOL, K_SINGLE | K_UNIX, 0, 0, Q(pipeline), false},
    {"pipeline_connections", T_COUNT, K_SINGLE | K_UNIX, 1, 64, Q(pipeline_connections), false},
    {"spin_us", T_COUNT, K_SINGLE | K_UNIX, 0, 1000, Q(spin_us), false},
    {"events", T_TEXT, K_ALL, 0, 0, Q(events), false},
    {"events_maxlen", T_COUNT, K_ALL, 1, 1000000000, Q(events_maxlen), false},
    {"wait_replicas", T_COUNT, K_CLUSTER | K_SENTINEL, 0, 1000, Q(wait_replicas), false},
    {"wait_timeout", T_DURATION, K_CLUSTER | K_SENTINEL, 0, 0, Q(wait_timeout_ms), false},
    {"sentinel_user", T_TEXT, K_SENTINEL, 0, 0, Q(sentinel_username), false},
    {"sentinel_password", T_TEXT, K_SENTINEL, 0, 0, Q(sentinel_password), true},
    {"tls_ca", T_TEXT, K_ALL | K_TLS, 0, 0, Q(tls_ca), false},
    {"tls_ca_dir", T_TEXT, K_ALL | K_TLS, 0, 0, Q(tls_ca_dir), false},
    {"tls_cert", T_TEXT, K_ALL | K_TLS, 0, 0, Q(tls_cert), false},
    {"tls_key", T_TEXT, K_ALL | K_TLS, 0, 0, Q(tls_key), false},
    {"tls_server_name", T_TEXT, K_ALL | K_TLS, 0, 0, Q(tls_server_name), false},
    {"tls_insecure", T_BOOL, K_ALL | K_TLS, 0, 0, Q(tls_insecure), false},
};

static const char *const KIND_NAMES[] = {"redis://", "unix://", "redis-cluster://", "redis-sentinel://"};

static jwts_err set_value(const query_opt *o, const char *v, redis_query *q)
{
    char *base = (char *)q + o->off;
    switch (o->type) {
    case T_DURATION: {
        int64_t ms = 0;
        if (jwts_duration_parse_ms(v, &ms) != JWTS_OK || ms <= 0 || ms > MAX_DURATION_MS)
            return jwts_fail(JWTS_E_INVALID_ARGUMENT,
                             "redis url: option %s: a duration from 1ms to 24h (90 = 90 s, 500ms, 2s)", o->name);
        *(int64_t *)(void *)base = ms;
        return JWTS_OK;
    }
    case T_COUNT: {
        char *end = NULL;
        long n = *v >= '0' && *v <= '9' && strlen(v) <= 10 ? strtol(v, &end, 10) : -1;
        if (!end || *end || n < o->min || n > o->max)
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: option %s: a whole number from %ld to %ld", o->name,
                             o->min, o->max);
        *(long *)(void *)base = n;
        return JWTS_OK;
    }
    case T_BOOL: {
        int b = !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")   ? 1
                : !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no") ? 0
                                                                             : -1;
        if (b < 0) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: option %s: true or false", o->name);
        *(int *)(void *)base = b;
        return JWTS_OK;
    }
    case T_TEXT:
        if (!*v) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: option %s: empty", o->name);
        char *copy = strdup(v);
        if (!copy) return jwts_fail(JWTS_E_NO_MEMORY, "redis url: out of memory");
        *(char **)(void *)base = copy;
        return JWTS_OK;
    }
    return jwts_fail(JWTS_E_INTERNAL, "redis url: option type");
}

/* true if o was already given in q. */
static bool given(const query_opt *o, const redis_query *q)
{
    const char *base = (const char *)q + o->off;
    switch (o->type) {
    case T_DURATION:
        return *(const int64_t *)(const void *)base >= 0;
    case T_COUNT:
        return *(const long *)(const void *)base >= 0;
    case T_BOOL:
        return *(const int *)(const void *)base >= 0;
    default:
        return *(char *const *)(const void *)base != NULL;
    }
}

/* One "name=value" of pair[0..n). */
static jwts_err parse_pair(const char *pair, size_t n, redis_url_kind kind, bool tls, redis_query *q)
{
    const char *eq = memchr(pair, '=', n);
    size_t name_len = eq ? (size_t)(eq - pair) : n;
    const query_opt *o = NULL;
    for (size_t i = 0; i < sizeof OPTS / sizeof *OPTS && !o; i++)
        if (strlen(OPTS[i].name) == name_len && memcmp(OPTS[i].name, pair, name_len) == 0) o = &OPTS[i];
    if (!o) {
        int shown = name_len > 40 ? 40 : (int)name_len;
        for (int i = 0; i < shown; i++)
            if (!((pair[i] >= 'a' && pair[i] <= 'z') || (pair[i] >= '0' && pair[i] <= '9') || pair[i] == '_'))
                shown = i; /* name what can be shown safely */
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: unknown option \"%.*s\"", shown, pair);
    }
    if (!(o->kinds & (1u << kind)))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: option %s does not apply to %s URLs", o->name,
                         KIND_NAMES[kind]);
    if ((o->kinds & K_TLS) && !tls)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: option %s needs a TLS URL (rediss://...)", o->name);
    if (!eq) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: option %s has no value", o->name);
    if (given(o, q)) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: option %s given twice", o->name);
    jwts_err rc = JWTS_OK;
    char *v = jwts_percent_decode(eq + 1, n - name_len - 1, "redis", o->name, &rc);
    if (!v) return rc;
    rc = set_value(o, v, q);
    OPENSSL_cleanse(v, strlen(v));
    free(v);
    return rc;
}

jwts_err jwts_redis_query_parse(const char *url, redis_query *q)
{
    memset(q, 0, sizeof *q);
    q->connect_timeout_ms = q->command_timeout_ms = q->wait_timeout_ms = -1;
    q->pool_size = q->pipeline_connections = q->wait_replicas = q->db = q->spin_us = q->events_maxlen = -1;
    q->pipeline = q->tls_insecure = -1;
    redis_url_kind kind;
    bool tls;
    size_t prefix;
    if (!url || !jwts_redis_url_kind(url, &kind, &tls, &prefix))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: unknown scheme");
    const char *p = strchr(url, '?');
    if (!p) return JWTS_OK;
    p++;
    jwts_err rc = JWTS_OK;
    while (!rc && *p) {
        size_t n = strcspn(p, "&");
        if (n == 0)
            rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: empty option in the query");
        else
            rc = parse_pair(p, n, kind, tls, q);
        p += n;
        if (*p == '&') p++;
    }
    if (rc) jwts_redis_query_clear(q);
    return rc;
}

void jwts_redis_query_clear(redis_query *q)
{
    if (!q) return;
    if (q->sentinel_password) OPENSSL_cleanse(q->sentinel_password, strlen(q->sentinel_password));
    char **strings[] = {&q->key_prefix, &q->tls_ca,          &q->tls_ca_dir,        &q->tls_cert,
                        &q->tls_key,    &q->tls_server_name, &q->sentinel_username, &q->sentinel_password,
                        &q->events};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) free(*strings[i]), *strings[i] = NULL;
}

void jwts_redis_query_tls(const redis_query *q, jwts_redis_tls_options *tls)
{
    if (q->tls_ca) tls->ca_file = q->tls_ca;
    if (q->tls_ca_dir) tls->ca_dir = q->tls_ca_dir;
    if (q->tls_cert) tls->cert_file = q->tls_cert;
    if (q->tls_key) tls->key_file = q->tls_key;
    if (q->tls_server_name) tls->server_name = q->tls_server_name;
    if (q->tls_insecure >= 0) tls->insecure = q->tls_insecure == 1;
}

void jwts_redis_query_common(const redis_query *q, bool tls_url, int64_t *connect_timeout_ms,
                             int64_t *command_timeout_ms, size_t *pool_size, const char **key_prefix,
                             jwts_redis_tls_options *tls)
{
    if (q->connect_timeout_ms > 0) *connect_timeout_ms = q->connect_timeout_ms;
    if (q->command_timeout_ms > 0) *command_timeout_ms = q->command_timeout_ms;
    if (q->pool_size > 0) *pool_size = (size_t)q->pool_size;
    if (q->key_prefix) *key_prefix = q->key_prefix;
    if (tls_url) tls->enabled = true;
    jwts_redis_query_tls(q, tls);
}
