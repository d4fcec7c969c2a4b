/*
 * version.h - the library's version: compile-time macros and jwts_version() for the version of
 * the library actually loaded (which may differ from the headers a program was built with).
 *
 * The macros here are the one place the version is written: CMakeLists.txt reads them for the
 * project, the pkg-config file and the CMake package version.
 */
#ifndef JWTSESSION_VERSION_H
#define JWTSESSION_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define JWTS_VERSION_MAJOR 0
#define JWTS_VERSION_MINOR 1
#define JWTS_VERSION_PATCH 0
#define JWTS_VERSION_STRING "0.1.0"
/* One number that grows with each release: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define JWTS_VERSION_NUMBER (JWTS_VERSION_MAJOR * 10000 + JWTS_VERSION_MINOR * 100 + JWTS_VERSION_PATCH)

/* The version of the loaded library, "MAJOR.MINOR.PATCH" (a static string). */
const char *jwts_version(void);

#ifdef __cplusplus
}
#endif

#endif
