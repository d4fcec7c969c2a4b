/*
 * open.c - the one way to open a store from a URL, for the library's users, the CLI and
 * jwtsessiond alike (--store, JWTSESSION_STORE).
 *
 * The scheme picks the store; the URL's query options are applied by that store's constructor
 * (redis_query.c checks them), over the defaults passed here (the daemon's request timeout, the
 * memory store's capacity), so a URL means the same thing in every program. file:// opens the
 * file store (file_url.c checks its options).
 */
#include <string.h>

#include "jwtsession/error.h"
#include "jwtsession/store.h"
#include "jwtsession/store_file.h"
#include "jwtsession/store_redis.h"
#include "jwtsession/store_redis_cluster.h"
#include "store/file.h"
#include "store/redis.h"

jwts_err jwts_store_open(const char *url, const jwts_store_open_options *opts, jwts_store **out)
{
    if (!url || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "store url: NULL");
    *out = NULL;
    jwts_store_open_options d = opts ? *opts : (jwts_store_open_options){0};
    if (d.command_timeout_ms < 0 || d.connect_timeout_ms < 0)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "store: negative timeout");
    if (strcmp(url, "memory") == 0 || strcmp(url, "memory://") == 0) {
        jwts_memory_options mo = {.max_sessions = d.memory_max_sessions};
        return jwts_store_memory_new(&mo, out);
    }
    if (jwts_file_url_is(url)) {
        jwts_file_options fo = {.url = url};
        return jwts_store_file_new(&fo, out);
    }
    redis_url_kind kind;
    bool tls;
    size_t prefix;
    if (jwts_redis_url_kind(url, &kind, &tls, &prefix)) {
        switch (kind) {
        case REDIS_URL_SINGLE:
        case REDIS_URL_UNIX: {
            jwts_redis_options o = {
                .url = url, .command_timeout_ms = d.command_timeout_ms, .connect_timeout_ms = d.connect_timeout_ms};
            return jwts_store_redis_new(&o, out);
        }
        case REDIS_URL_CLUSTER: {
            jwts_redis_cluster_options o = {
                .url = url, .command_timeout_ms = d.command_timeout_ms, .connect_timeout_ms = d.connect_timeout_ms};
            return jwts_store_redis_cluster_new(&o, out);
        }
        case REDIS_URL_SENTINEL: {
            jwts_redis_sentinel_options o = {
                .url = url, .command_timeout_ms = d.command_timeout_ms, .connect_timeout_ms = d.connect_timeout_ms};
            return jwts_store_redis_sentinel_new(&o, out);
        }
        }
    }
    const char *colon = strstr(url, "://");
    int shown = colon && colon - url < 24 ? (int)(colon - url) : 0;
    return jwts_fail(JWTS_E_UNSUPPORTED,
                     "store url: unknown scheme \"%.*s\" (memory, file://, redis://, rediss://, unix://, redis-cluster://, "
                     "rediss-cluster://, redis-sentinel://, rediss-sentinel://)",
                     shown, url);
}

jwts_err jwts_store_open_url(const char *url, jwts_store **out)
{
    return jwts_store_open(url, NULL, out);
}
