/*
 * error.h - jwts_err codes, their names and sentences, and the per-call detail message.
 *
 * Every failing call returns a jwts_err and sets this thread's detail message (which field, which
 * key id, what the server said), read with jwts_errdetail(). The rule: a call that fails sets the
 * detail (it never leaves an earlier one); a call that succeeds leaves it as it was; so read it
 * right after the failing call, on the same thread. Details never contain a secret or a token.
 */
#ifndef JWTSESSION_ERROR_H
#define JWTSESSION_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define JWTS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define JWTS_PRINTF(a, b)
#endif

#define JWTS_DETAIL_MAX 256 /* bytes of a detail message, with its NUL (longer ones are cut) */

/* Result codes. 0 is success; the numeric values are stable. */
typedef enum jwts_err {
    JWTS_OK = 0,
    JWTS_E_INVALID_ARGUMENT,
    JWTS_E_NO_MEMORY,
    JWTS_E_NOT_FOUND,
    JWTS_E_EXPIRED,
    JWTS_E_NOT_YET_VALID,
    JWTS_E_REVOKED,
    JWTS_E_MALFORMED,
    JWTS_E_BAD_SIGNATURE,
    JWTS_E_ALG_NOT_ALLOWED,
    JWTS_E_CLAIM_MISMATCH,
    JWTS_E_KEY_NOT_FOUND,
    JWTS_E_BAD_KEY,
    JWTS_E_REFRESH_REUSED,
    JWTS_E_CONFLICT,
    JWTS_E_LIMIT,
    JWTS_E_UNAVAILABLE,
    JWTS_E_TIMEOUT,
    JWTS_E_PROTOCOL,
    JWTS_E_CLOSED,
    JWTS_E_UNSUPPORTED,
    JWTS_E_INTERNAL,
    JWTS_E_WOULD_BLOCK, /* a local-only call (JWTS_CTX_LOCAL_ONLY) needs the network; nothing changed */
    JWTS_E__COUNT /* number of codes; not a code */
} jwts_err;

/* A human sentence for code, e.g. "token has expired". Never NULL. */
const char *jwts_strerror(jwts_err code);

/* The stable name of code, e.g. "JWTS_E_EXPIRED" (used verbatim by the CLI, HTTP API and
 * metrics labels). Never NULL; unknown codes give "JWTS_E_UNKNOWN". */
const char *jwts_errname(jwts_err code);

/* The detail of the last failing call on this thread ("" if none yet); successful calls leave it
 * alone. The pointer is this thread's own buffer, valid while the thread lives; its text changes
 * at the thread's next failing call, so copy it to keep it past that. */
const char *jwts_errdetail(void);

/* Set this thread's detail from fmt and return code: how the library's own calls fail, and how a
 * store implementation (store.h) or a program built on the library reports its failures.
 *
 *     if (len > max) return jwts_fail(JWTS_E_LIMIT, "token is %zu bytes (max %zu)", len, max);
 */
jwts_err jwts_fail(jwts_err code, const char *fmt, ...) JWTS_PRINTF(2, 3);

/* Prefix this thread's current detail with fmt's text and ": ", and return code (adds context). */
jwts_err jwts_fail_wrap(jwts_err code, const char *fmt, ...) JWTS_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif
