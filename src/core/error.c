/*
 * error.c - names and sentences of jwts_err codes, and the thread-local detail message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jwtsession/error.h"

static const struct {
    const char *name;
    const char *text;
} ERRORS[JWTS_E__COUNT] = {
    [JWTS_OK] = {"JWTS_OK", "success"},
    [JWTS_E_INVALID_ARGUMENT] = {"JWTS_E_INVALID_ARGUMENT", "invalid argument"},
    [JWTS_E_NO_MEMORY] = {"JWTS_E_NO_MEMORY", "out of memory"},
    [JWTS_E_NOT_FOUND] = {"JWTS_E_NOT_FOUND", "not found"},
    [JWTS_E_EXPIRED] = {"JWTS_E_EXPIRED", "expired"},
    [JWTS_E_NOT_YET_VALID] = {"JWTS_E_NOT_YET_VALID", "not yet valid"},
    [JWTS_E_REVOKED] = {"JWTS_E_REVOKED", "session revoked"},
    [JWTS_E_MALFORMED] = {"JWTS_E_MALFORMED", "malformed input"},
    [JWTS_E_BAD_SIGNATURE] = {"JWTS_E_BAD_SIGNATURE", "signature does not verify"},
    [JWTS_E_ALG_NOT_ALLOWED] = {"JWTS_E_ALG_NOT_ALLOWED", "algorithm not allowed"},
    [JWTS_E_CLAIM_MISMATCH] = {"JWTS_E_CLAIM_MISMATCH", "claim does not match"},
    [JWTS_E_KEY_NOT_FOUND] = {"JWTS_E_KEY_NOT_FOUND", "key not found"},
    [JWTS_E_BAD_KEY] = {"JWTS_E_BAD_KEY", "unusable key"},
    [JWTS_E_REFRESH_REUSED] = {"JWTS_E_REFRESH_REUSED", "refresh token reused; session revoked"},
    [JWTS_E_CONFLICT] = {"JWTS_E_CONFLICT", "conflicts with what is there (a duplicate, or a concurrent change)"},
    [JWTS_E_LIMIT] = {"JWTS_E_LIMIT", "limit exceeded"},
    [JWTS_E_UNAVAILABLE] = {"JWTS_E_UNAVAILABLE", "service unavailable"},
    [JWTS_E_TIMEOUT] = {"JWTS_E_TIMEOUT", "deadline exceeded"},
    [JWTS_E_PROTOCOL] = {"JWTS_E_PROTOCOL", "protocol error"},
    [JWTS_E_CLOSED] = {"JWTS_E_CLOSED", "handle is closed"},
    [JWTS_E_UNSUPPORTED] = {"JWTS_E_UNSUPPORTED", "not supported"},
    [JWTS_E_INTERNAL] = {"JWTS_E_INTERNAL", "internal error"},
    [JWTS_E_WOULD_BLOCK] = {"JWTS_E_WOULD_BLOCK", "the answer needs the network (local-only call)"},
};

static _Thread_local char detail[JWTS_DETAIL_MAX];

const char *jwts_strerror(jwts_err code)
{
    if ((unsigned)code >= JWTS_E__COUNT) return "unknown error";
    return ERRORS[code].text;
}

const char *jwts_errname(jwts_err code)
{
    if ((unsigned)code >= JWTS_E__COUNT) return "JWTS_E_UNKNOWN";
    return ERRORS[code].name;
}

const char *jwts_errdetail(void) { return detail; }

jwts_err jwts_fail(jwts_err code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return code;
}

jwts_err jwts_fail_wrap(jwts_err code, const char *fmt, ...)
{
    char old[JWTS_DETAIL_MAX];
    memcpy(old, detail, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 2 < sizeof detail) {
        size_t at = (size_t)n;
        detail[at++] = ':';
        detail[at++] = ' ';
        size_t room = sizeof detail - at - 1, len = strnlen(old, room);
        memcpy(detail + at, old, len);
        detail[at + len] = '\0';
    }
    return code;
}
