/*
 * redis_url.c - parse the Redis URL forms into a redis_addr.
 *
 *   redis://[[user]:password@]host[:port][/db][?options]   host may be a bracketed IPv6 literal
 *   rediss://... (the same, TLS)
 *   unix://[[user]:password@]/path/to/socket[?options]
 * User, password and path may be percent-encoded. The query is checked by redis_query.c (every
 * option must be known and fit the form); db is taken from it here, the store takes the rest.
 * Details name the offending part, never the password.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/percent.h"
#include "jwtsession/error.h"
#include "store/redis.h"

/* Parse a decimal int in s[0..n) within [min, max]. */
static bool parse_int(const char *s, size_t n, long min, long max, int *out)
{
    if (n == 0 || n > 10) return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max) return false;
    *out = (int)v;
    return true;
}

/* Replace *slot with value (freeing, and wiping if secret, the old one). */
static void replace(char **slot, char *value, bool secret)
{
    if (*slot && secret) OPENSSL_cleanse(*slot, strlen(*slot));
    free(*slot);
    *slot = value;
}

/* user:password@ in s[0..n); empty user means none. */
static jwts_err parse_userinfo(const char *s, size_t n, redis_addr *out)
{
    jwts_err rc = JWTS_OK;
    const char *colon = memchr(s, ':', n);
    size_t user_len = colon ? (size_t)(colon - s) : n;
    if (user_len) {
        char *user = jwts_percent_decode(s, user_len, "redis", "user", &rc);
        if (!user) return rc;
        replace(&out->username, user, false);
    }
    if (colon) {
        char *pw = jwts_percent_decode(colon + 1, n - user_len - 1, "redis", "password", &rc);
        if (!pw) return rc;
        replace(&out->password, pw, true);
    }
    return JWTS_OK;
}

/* host[:port] or [v6][:port] in s[0..n). */
static jwts_err parse_hostport(const char *s, size_t n, redis_addr *out)
{
    const char *host = s, *port = NULL;
    size_t host_len = n;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: unterminated [IPv6] host");
        host = s + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < s + n) {
            if (close[1] != ':') return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: junk after ]");
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon) {
            host_len = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (host_len == 0) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: no host");
    for (size_t i = 0; i < host_len; i++)
        if ((unsigned char)host[i] <= ' ' || host[i] == '%' || host[i] == '/' || host[i] == '@')
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: bad character in the host");
    if (port && !parse_int(port, (size_t)(s + n - port), 1, 65535, &out->port))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: port must be 1..65535");
    char *h = strndup(host, host_len);
    if (!h) return jwts_fail(JWTS_E_NO_MEMORY, "redis url: out of memory");
    replace(&out->host, h, false);
    replace(&out->unix_path, NULL, false);
    return JWTS_OK;
}

static jwts_err parse_redis(const char *rest, redis_addr *out)
{
    size_t auth_end = strcspn(rest, "/?");
    const char *at = NULL;
    for (const char *p = rest; p < rest + auth_end; p++)
        if (*p == '@') at = p; /* the last @ ends the userinfo */
    jwts_err rc = JWTS_OK;
    const char *hp = rest;
    if (at) {
        rc = parse_userinfo(rest, (size_t)(at - rest), out);
        hp = at + 1;
    }
    if (!rc) rc = parse_hostport(hp, (size_t)(rest + auth_end - hp), out);
    if (rc) return rc;
    const char *p = rest + auth_end;
    if (*p == '/') {
        size_t n = strcspn(p + 1, "?");
        if (n && !parse_int(p + 1, n, 0, 1 << 30, &out->db))
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: the path must be a db number");
    }
    return JWTS_OK;
}

static jwts_err parse_unix(const char *rest, redis_addr *out)
{
    jwts_err rc = JWTS_OK;
    const char *path = rest;
    const char *at = rest[0] == '/' ? NULL : strchr(rest, '@');
    if (at) {
        rc = parse_userinfo(rest, (size_t)(at - rest), out);
        if (rc) return rc;
        path = at + 1;
    }
    size_t n = strcspn(path, "?");
    if (n == 0 || path[0] != '/') return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: unix path must be absolute");
    char *p = jwts_percent_decode(path, n, "redis", "path", &rc);
    if (!p) return rc;
    replace(&out->unix_path, p, false);
    replace(&out->host, NULL, false);
    return JWTS_OK;
}

jwts_err jwts_redis_url_parse(const char *url, redis_addr *out)
{
    if (!url || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: NULL");
    if (strlen(url) > 4096) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: longer than 4096 bytes");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f)
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: space or control character");
    redis_url_kind kind;
    bool tls;
    size_t prefix;
    if (!jwts_redis_url_kind(url, &kind, &tls, &prefix) || (kind != REDIS_URL_SINGLE && kind != REDIS_URL_UNIX))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis url: scheme must be redis://, rediss:// or unix://");
    redis_query q;
    jwts_err rc = jwts_redis_query_parse(url, &q);
    if (rc) return rc;
    rc = kind == REDIS_URL_UNIX ? parse_unix(url + prefix, out) : parse_redis(url + prefix, out);
    if (!rc && q.db >= 0) out->db = (int)q.db; /* the query wins over the path */
    jwts_redis_query_clear(&q);
    return rc;
}

void jwts_redis_addr_clear(redis_addr *a)
{
    if (!a) return;
    replace(&a->password, NULL, true);
    free(a->host);
    free(a->unix_path);
    free(a->username);
    memset(a, 0, sizeof *a);
}
