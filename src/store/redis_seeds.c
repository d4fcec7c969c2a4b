/*
 * redis_seeds.c - the host lists of the cluster and sentinel URLs:
 *
 *   redis[s]-cluster://[[user]:password@]host:port[,host:port...][/][?options]
 *   redis[s]-sentinel://[[user]:password@]host:port[,host:port...]/mastername[/db][?options]
 *
 * Each host is parsed as "redis://<userinfo>@<host:port>" by jwts_redis_url_parse, so escapes,
 * IPv6 brackets and port checks are the single-node store's own.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "store/redis.h"

#define MAX_SEEDS 64

void jwts_redis_seeds_free(redis_addr *addrs, size_t n)
{
    for (size_t i = 0; addrs && i < n; i++) jwts_redis_addr_clear(&addrs[i]);
    free(addrs);
}

/* Parse one "host:port" (len bytes) with userinfo (may be empty) into *a. */
static jwts_err parse_host(const char *userinfo, size_t ui_len, const char *host, size_t len, redis_addr *a)
{
    size_t cap = ui_len + len + 16;
    char *url = malloc(cap);
    if (!url) return jwts_fail(JWTS_E_NO_MEMORY, "redis url: out of memory");
    snprintf(url, cap, "redis://%.*s%s%.*s", (int)ui_len, userinfo, ui_len ? "@" : "", (int)len, host);
    a->host = strdup("127.0.0.1");
    a->port = 6379;
    jwts_err rc = a->host ? jwts_redis_url_parse(url, a) : jwts_fail(JWTS_E_NO_MEMORY, "redis url: out of memory");
    OPENSSL_cleanse(url, cap);
    free(url);
    return rc;
}

jwts_err jwts_redis_seeds_parse(const char *url, const char *scheme, redis_addr **addrs, size_t *n, char **path)
{
    *addrs = NULL, *n = 0, *path = NULL;
    size_t sl = strlen(scheme);
    if (strncmp(url, scheme, sl) != 0 || strncmp(url + sl, "://", 3) != 0)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: expected %s://", scheme);
    const char *p = url + sl + 3;
    const char *query = p + strcspn(p, "?");
    const char *slash = memchr(p, '/', (size_t)(query - p));
    const char *end = slash ? slash : query;
    const char *at = memchr(p, '@', (size_t)(end - p));
    const char *ui = p;
    size_t ui_len = at ? (size_t)(at - p) : 0;
    const char *hosts = at ? at + 1 : p;
    if (hosts == end) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: no host:port in the %s URL", scheme);
    redis_addr *a = calloc(MAX_SEEDS, sizeof *a);
    if (!a) return jwts_fail(JWTS_E_NO_MEMORY, "redis url: out of memory");
    jwts_err rc = JWTS_OK;
    size_t count = 0;
    for (const char *h = hosts; !rc && h < end;) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *stop = comma ? comma : end;
        if (count == MAX_SEEDS)
            rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: more than %d hosts", MAX_SEEDS);
        else if (stop == h)
            rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: empty host in the list");
        else
            rc = parse_host(ui, ui_len, h, (size_t)(stop - h), &a[count++]);
        h = comma ? comma + 1 : end;
    }
    if (!rc && !(*path = slash ? strndup(slash + 1, (size_t)(query - slash - 1)) : strdup("")))
        rc = jwts_fail(JWTS_E_NO_MEMORY, "redis url: out of memory");
    if (rc) {
        jwts_redis_seeds_free(a, MAX_SEEDS);
        return rc;
    }
    *addrs = a, *n = count;
    return JWTS_OK;
}
