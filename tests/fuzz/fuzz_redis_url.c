/*
 * fuzz_redis_url.c - libFuzzer target for the Redis URL parsers (src/store/redis_url.c and the
 * seed-list form of src/store/redis_seeds.c used by Cluster and Sentinel URLs).
 *
 * Invariants: a parsed address names exactly one of a host or a socket path, a port in 1..65535
 * and a database >= 0; the error detail of a URL that carries a password never contains it (the
 * target wraps the input behind a known password and looks for it in the detail).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "store/redis.h"

#define SECRET "Zq9SecretPw"

static void die(const char *what, const char *input)
{
    fprintf(stderr, "fuzz_redis_url: %s (input \"%.200s\", detail \"%s\")\n", what, input, jwts_errdetail());
    abort();
}

static void check_addr(const redis_addr *a, const char *input)
{
    if (!a->host == !a->unix_path) die("not exactly one of host and socket path", input);
    if (a->host && (a->port < 1 || a->port > 65535)) die("port out of range", input);
    if (a->db < 0) die("negative db", input);
}

/* Parse url; when it fails and the caller planted SECRET as a password, the detail must not show it. */
static void one_url(const char *url, const char *input, int planted)
{
    redis_addr a = {.port = 6379};
    jwts_err rc = jwts_redis_url_parse(url, &a);
    if (rc == JWTS_OK) check_addr(&a, input);
    else if (planted && strstr(jwts_errdetail(), SECRET)) die("the detail shows the password", input);
    jwts_redis_addr_clear(&a);
}

static void seeds(const char *url, const char *scheme, const char *input, int planted)
{
    redis_addr *addrs = NULL;
    size_t n = 0;
    char *path = NULL;
    if (jwts_redis_seeds_parse(url, scheme, &addrs, &n, &path) == JWTS_OK) {
        if (n == 0 || !path) die("seeds parsed to nothing", input);
        for (size_t i = 0; i < n; i++) check_addr(&addrs[i], input);
        jwts_redis_seeds_free(addrs, n);
        free(path);
    } else if (planted && strstr(jwts_errdetail(), SECRET)) {
        die("the seeds detail shows the password", input);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    char *wrapped = malloc(size + 64);
    if (!text || !wrapped) goto out;
    memcpy(text, data, size);
    text[size] = '\0';
    int planted = strstr(text, SECRET) == NULL && strlen(text) == size;
    one_url(text, text, 0);
    snprintf(wrapped, size + 64, "redis://u:%s@%s", SECRET, text);
    one_url(wrapped, text, planted);
    snprintf(wrapped, size + 64, "unix://:%s@%s", SECRET, text);
    one_url(wrapped, text, planted);
    seeds(text, "redis-cluster", text, 0);
    snprintf(wrapped, size + 64, "redis-sentinel://:%s@%s", SECRET, text);
    seeds(wrapped, "redis-sentinel", text, planted);
out:
    free(text);
    free(wrapped);
    return 0;
}
