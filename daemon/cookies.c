/*
 * cookies.c - cookie sessions for browsers (--cookies): the access and refresh tokens travel as
 * HttpOnly cookies that page scripts cannot read, so an XSS cannot take them.
 *
 * Reading: the Cookie headers are scanned for one name; a name given twice (a sibling subdomain
 * planting a second cookie, "cookie tossing") is reported as such and the callers refuse it rather
 * than guess which one counts. Writing: one Set-Cookie value per token with HttpOnly, Secure,
 * SameSite, Path, Domain and Max-Age from the token's lifetime; clearing sends an empty value
 * with Max-Age=0. The refresh cookie has its own Path (/v1/ by default), so the browser sends it
 * to the refresh and logout calls only, never to the application behind the proxy.
 *
 * CSRF: a browser attaches cookies to requests that other sites' pages start, so every
 * cookie-authenticated call that changes state must come from one of --allowed-origins: the
 * Origin header (sent by browsers on every POST, PUT, PATCH and DELETE) must be one of them, or,
 * without Origin, Sec-Fetch-Site must be same-origin. A request with neither is refused (no
 * browser of this decade sends neither on such a call). docs/gateways.md, docs/decisions.md.
 *
 * Cookie values are tokens: they are never logged nor put in an error message.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "daemon.h"

typedef struct cookie_find {
    const char *name;
    int found;
    const char *value;
    size_t len;
} cookie_find;

static enum MHD_Result each_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    cookie_find *cf = cls;
    if (!value || strcasecmp(key, MHD_HTTP_HEADER_COOKIE)) return MHD_YES;
    const char *v = NULL;
    size_t n = 0;
    int found = jwtsd_cookie_scan(value, cf->name, &v, &n);
    if (found && !cf->found) cf->value = v, cf->len = n;
    cf->found += found;
    return MHD_YES;
}

int jwtsd_cookie_find(const jwtsd_request *r, const char *name, const char **value, size_t *len)
{
    cookie_find cf = {.name = name};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, each_header, &cf);
    if (cf.found == 1) {
        *value = cf.value;
        *len = cf.len;
    }
    return cf.found > 2 ? 2 : cf.found;
}

void jwtsd_cookie_name(const jwtsd_config *cfg, jwtsd_cookie_kind kind, char *out, size_t cap)
{
    snprintf(out, cap, "%s_%s", cfg->cookie_name, kind == JWTSD_COOKIE_ACCESS ? "access" : "refresh");
}

bool jwtsd_cookie_set(const jwtsd_config *cfg, const char *prefix, jwtsd_cookie_kind kind, const char *value,
                      int64_t max_age_s, char *out, size_t cap)
{
    char name[80];
    jwtsd_cookie_name(cfg, kind, name, sizeof(name));
    if (!value) value = "", max_age_s = 0;
    if (max_age_s < 0) max_age_s = 0;
    /* a path tenant's refresh endpoint is under its prefix (a __Host- cookie must keep Path=/) */
    bool refresh = kind == JWTSD_COOKIE_REFRESH;
    if (!refresh || !prefix || !strncmp(cfg->cookie_name, "__Host-", 7)) prefix = "";
    int n = snprintf(out, cap, "%s=%s; Max-Age=%lld; Path=%s%s%s%s; HttpOnly%s; SameSite=%s", name, value,
                     (long long)max_age_s, prefix, refresh ? cfg->cookie_refresh_path : cfg->cookie_path,
                     cfg->cookie_domain[0] ? "; Domain=" : "", cfg->cookie_domain, cfg->cookie_secure ? "; Secure" : "",
                     cfg->cookie_samesite);
    return n > 0 && (size_t)n < cap;
}

/* true when origin (as sent) is one of --allowed-origins; scheme and host compare without case. */
static bool origin_allowed(const jwtsd_config *cfg, const char *origin)
{
    for (size_t i = 0; i < cfg->allowed_origins_count; i++)
        if (!strcasecmp(origin, cfg->allowed_origins[i])) return true;
    return false;
}

bool jwtsd_csrf_ok(const jwtsd_request *r, char *why, size_t cap)
{
    const char *origin = jwtsd_header(r, "Origin");
    if (origin) {
        if (origin_allowed(r->srv->cfg, origin)) return true;
        snprintf(why, cap, "cross-site request refused: Origin is not one of --allowed-origins");
        return false;
    }
    const char *site = jwtsd_header(r, "Sec-Fetch-Site");
    if (site && !strcasecmp(site, "same-origin")) return true;
    snprintf(why, cap,
             "cross-site request refused: a cookie-authenticated change needs an allowed Origin or "
             "Sec-Fetch-Site: same-origin");
    return false;
}
