/*
 * open.c - open a store from the URL form the programs take (--store, JWTSESSION_STORE).
 */
#include <string.h>

#include "core/fail.h"
#include "jwtsession/store.h"
#include "jwtsession/store_redis.h"
#include "jwtsession/store_redis_cluster.h"

jwts_err jwts_store_open_url(const char *url, jwts_store **out)
{
    if (!url || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "store url: NULL");
    *out = NULL;
    if (strcmp(url, "memory") == 0 || strcmp(url, "memory://") == 0) return jwts_store_memory_new(NULL, out);
    if (strncmp(url, "redis://", 8) == 0 || strncmp(url, "unix://", 7) == 0) {
        jwts_redis_options o = {.url = url};
        return jwts_store_redis_new(&o, out);
    }
    if (strncmp(url, "redis-cluster://", 16) == 0) {
        jwts_redis_cluster_options o = {.url = url};
        return jwts_store_redis_cluster_new(&o, out);
    }
    if (strncmp(url, "redis-sentinel://", 17) == 0) {
        jwts_redis_sentinel_options o = {.url = url};
        return jwts_store_redis_sentinel_new(&o, out);
    }
    const char *colon = strstr(url, "://");
    return jwts_fail(JWTS_E_UNSUPPORTED, "store url: unknown scheme \"%.*s\" (memory, redis://, unix://, redis-cluster://, redis-sentinel://)",
                     colon ? (int)(colon - url) : 16, url);
}
