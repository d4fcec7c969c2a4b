/*
 * redis_resp.c - commands in RESP, the form Redis reads them in: an array of bulk strings,
 * "*<argc>\r\n" then "$<length>\r\n<bytes>\r\n" for each argument.
 *
 * Written by hand rather than with hiredis's formatter, which prints each header with sprintf
 * and allocates each command: on the auto-pipeline that formatting was a tenth of a get's time.
 */
#include <string.h>

#include "store/redis.h"

static size_t digits(size_t v)
{
    size_t d = 1;
    while (v >= 10) v /= 10, d++;
    return d;
}

/* "<kind><v>\r\n" at p; returns the end. */
static char *put_header(char *p, char kind, size_t v)
{
    size_t d = digits(v);
    *p++ = kind;
    for (size_t i = d; i-- > 0; v /= 10) p[i] = (char)('0' + v % 10);
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

size_t jwts_redis_resp_len(const redis_cmd *cmds, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += 3 + digits((size_t)cmds[i].argc);
        for (int a = 0; a < cmds[i].argc; a++) len += 5 + digits(cmds[i].argvlen[a]) + cmds[i].argvlen[a];
    }
    return len;
}

void jwts_redis_resp_write(const redis_cmd *cmds, size_t n, char *dst)
{
    for (size_t i = 0; i < n; i++) {
        dst = put_header(dst, '*', (size_t)cmds[i].argc);
        for (int a = 0; a < cmds[i].argc; a++) {
            size_t len = cmds[i].argvlen[a];
            dst = put_header(dst, '$', len);
            memcpy(dst, cmds[i].argv[a], len);
            dst += len;
            *dst++ = '\r';
            *dst++ = '\n';
        }
    }
}
