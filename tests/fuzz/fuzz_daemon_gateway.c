/*
 * fuzz_daemon_gateway.c - libFuzzer target for the gateway inputs of jwtsessiond
 * (daemon/gateway_parse.c): a client's Cookie header value scanned for the access cookie, and an
 * original URL (from a proxy's X-Original-URL, X-Forwarded-Host/-Uri or Envoy's Host and path)
 * checked against --redirect-hosts and turned into the login redirect.
 *
 * Invariants: no crash, leak or overread; a cookie value found lies inside the header and holds
 * no ';'; a Location is the login URL itself, or the login URL + "&rd=" + only unreserved
 * characters and %XX escapes, and then the URL was allowed: its host is app.test or under
 * .example.com, and it holds no '@' before its path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#define LOGIN "https://login.example.com/login?x=1"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_daemon_gateway: %s\n", what);
    abort();
}

static void check_cookie(const char *h, size_t n)
{
    const char *v = NULL;
    size_t len = 0;
    int found = jwtsd_cookie_scan(h, "jwts_access", &v, &len);
    if (found < 0 || found > 2) die("count out of range");
    if (found) {
        if (v < h || v + len > h + n) die("value outside the header");
        if (memchr(v, ';', len)) die("value holds a ';'");
    }
}

static void check_url(const char *url)
{
    static char hosts0[] = "app.test", hosts1[] = ".example.com";
    static char login[] = LOGIN;
    jwtsd_config cfg = {.login_url = login, .redirect_hosts = {hosts0, hosts1}, .redirect_hosts_count = 2};
    char out[2048 * 3 + 1100];
    bool allowed = jwtsd_redirect_allowed(&cfg, url);
    jwtsd_login_location(&cfg, url, out, sizeof(out));
    size_t base = strlen(LOGIN);
    if (strncmp(out, LOGIN, base)) die("the Location does not start with the login URL");
    if (!out[base]) return;
    if (!allowed) die("a refused URL travelled in rd");
    if (strncmp(out + base, "&rd=", 4)) die("no &rd= after the login URL");
    for (const char *p = out + base + 4; *p; p++) {
        if (*p == '%') {
            if (!strchr("0123456789ABCDEF", p[1]) || !p[1] || !strchr("0123456789ABCDEF", p[2]) || !p[2])
                die("a bad escape in rd");
            p += 2;
        } else if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", *p)) {
            die("a raw reserved or control character in rd");
        }
    }
    const char *host = strstr(url, "://") + 3;
    size_t alen = strcspn(host, "/?#");
    if (memchr(host, '@', alen)) die("user info allowed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t n = strlen(s); /* a header or URL never holds a NUL */
    check_cookie(s, n);
    check_url(s);
    free(s);
    return 0;
}
