/*
 * gateway_parse.c - the gateway inputs read without the HTTP server, so a fuzz target can reach
 * them alone (tests/fuzz/fuzz_daemon_gateway.c): one Cookie header value scanned for a name
 * (cookies.c), and an original URL checked against --redirect-hosts and turned into the login
 * redirect (forward.c). Everything here comes from the client; nothing is trusted, everything is
 * bounded by the caller's buffers.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"

/* ---- Cookie: a=b; c=d --------------------------------------------------------------------------- */

int jwtsd_cookie_scan(const char *h, const char *name, const char **value, size_t *len)
{
    size_t name_len = strlen(name);
    int found = 0;
    for (const char *p = h; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ';') p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq) {
            size_t klen = (size_t)(eq - p);
            while (klen && (p[klen - 1] == ' ' || p[klen - 1] == '\t')) klen--;
            if (klen == name_len && !memcmp(p, name, klen)) {
                const char *v = eq + 1;
                size_t vlen = n - (size_t)(v - p);
                while (vlen && (*v == ' ' || *v == '\t')) v++, vlen--;
                while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
                if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') v++, vlen -= 2; /* RFC 6265 quoted value */
                if (++found == 1) *value = v, *len = vlen;
            }
        }
        if (!end) break;
        p = end + 1;
    }
    return found > 2 ? 2 : found;
}

/* ---- the login redirect ------------------------------------------------------------------------- */

/* true when url is an absolute http(s) URL of visible ASCII whose host is one of --redirect-hosts
 * (an entry ".example.com" allows every subdomain of example.com). */
bool jwtsd_redirect_allowed(const jwtsd_config *cfg, const char *url)
{
    size_t skip = !strncasecmp(url, "https://", 8) ? 8 : !strncasecmp(url, "http://", 7) ? 7 : 0;
    if (!skip) return false;
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '\\') return false;
    const char *auth = url + skip;
    size_t alen = strcspn(auth, "/?#");
    if (!alen || memchr(auth, '@', alen)) return false; /* no userinfo: "https://good@evil" */
    size_t hlen = alen;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close) return false;
        hlen = (size_t)(close - auth) + 1;
    } else {
        const char *colon = memchr(auth, ':', alen);
        if (colon) hlen = (size_t)(colon - auth);
    }
    if (hlen < alen && (auth[hlen] != ':' || strspn(auth + hlen + 1, "0123456789") != alen - hlen - 1)) return false;
    for (size_t i = 0; i < cfg->redirect_hosts_count; i++) {
        const char *h = cfg->redirect_hosts[i];
        size_t n = strlen(h);
        if (h[0] == '.' ? (hlen > n && !strncasecmp(auth + hlen - n, h, n)) : (n == hlen && !strncasecmp(auth, h, n)))
            return true;
    }
    return false;
}

void jwtsd_login_location(const jwtsd_config *cfg, const char *url, char *out, size_t cap)
{
    static const char HEX[] = "0123456789ABCDEF";
    size_t n = (size_t)snprintf(out, cap, "%s", cfg->login_url);
    if (!url[0] || !jwtsd_redirect_allowed(cfg, url) || n + 4 >= cap) return;
    size_t keep = n;
    n += (size_t)snprintf(out + n, cap - n, "%srd=", strchr(cfg->login_url, '?') ? "&" : "?");
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (n + 4 >= cap) {
            out[keep] = '\0'; /* too long: the bare login URL */
            return;
        }
        if (isalnum(*p) || strchr("-._~", *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = HEX[*p >> 4];
            out[n++] = HEX[*p & 15];
        }
    }
    out[n] = '\0';
}
