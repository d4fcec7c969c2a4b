/*
 * fail.h - private helpers to return a jwts_err with its detail message.
 *
 *     if (len > max) return jwts_fail(JWTS_E_LIMIT, "token is %zu bytes (max %zu)", len, max);
 */
#ifndef JWTS_CORE_FAIL_H
#define JWTS_CORE_FAIL_H

#include "jwtsession/error.h"

#if defined(__GNUC__)
#define JWTS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define JWTS_PRINTF(a, b)
#endif

#define JWTS_DETAIL_MAX 256

/* Set this thread's detail message from fmt and return code. */
jwts_err jwts_fail(jwts_err code, const char *fmt, ...) JWTS_PRINTF(2, 3);

/* Prefix this thread's current detail with "<prefix>: " and return code (adds context). */
jwts_err jwts_fail_wrap(jwts_err code, const char *fmt, ...) JWTS_PRINTF(2, 3);

#endif
