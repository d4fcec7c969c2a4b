/*
 * percent.h - private: percent-decoding of the parts of a store URL (user, password, path, query
 * values), shared by the Redis and file URL parsers.
 */
#ifndef JWTS_CORE_PERCENT_H
#define JWTS_CORE_PERCENT_H

#include <stddef.h>

#include "jwtsession/error.h"

/* Decode s[0..n) into a malloc'd NUL-terminated string (free it, or wipe it first if secret).
 * NULL and *rc on failure: JWTS_E_NO_MEMORY, or JWTS_E_INVALID_ARGUMENT for a bad escape or an
 * encoded NUL, with the detail "<scheme> url: bad percent escape in the <what>" (the value itself
 * is never echoed: it may be a password). */
char *jwts_percent_decode(const char *s, size_t n, const char *scheme, const char *what, jwts_err *rc);

#endif
