/*
 * version.c - jwts_version(): the version this library was built as (version.h).
 */
#include "jwtsession/version.h"

const char *jwts_version(void)
{
    return JWTS_VERSION_STRING;
}
