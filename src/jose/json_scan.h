/*
 * json_scan.h - a strict, bounded, allocation-free JSON object scanner for JOSE headers and claims.
 *
 * jwts_json_scan validates a whole document against RFC 8259 (strict: no trailing commas,
 * comments, leading zeros, control characters, invalid UTF-8 or lone surrogates), requires a
 * top-level object, bounds the nesting depth and the number of members open at once, and rejects
 * duplicate member names (compared after unescaping) at every level. It reports each top-level
 * member to a callback with raw spans into the input, so callers read only what they need.
 */
#ifndef JWTS_JOSE_JSON_SCAN_H
#define JWTS_JOSE_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "jwtsession/error.h"

typedef enum jwts_jtype {
    JWTS_JT_STRING = 1,
    JWTS_JT_NUMBER,
    JWTS_JT_OBJECT,
    JWTS_JT_ARRAY,
    JWTS_JT_TRUE,
    JWTS_JT_FALSE,
    JWTS_JT_NULL
} jwts_jtype;

#define JWTS_JSON_MAX_MEMBERS 256 /* members of all objects open at once */

/* One top-level member. Strings are spans between the quotes, still escaped (esc says whether
 * they contain a backslash); other values are their exact text. */
typedef struct jwts_jmember {
    const char *key;
    size_t key_len;
    int key_esc;
    jwts_jtype type;
    const char *val;
    size_t val_len;
    int val_esc;
} jwts_jmember;

/* Called for each top-level member in order; a non-OK return stops the scan with that code. */
typedef jwts_err (*jwts_jmember_fn)(void *arg, const jwts_jmember *m);

/* Validate json (n bytes) as described above and report its top-level members to fn (may be
 * NULL). JWTS_E_MALFORMED for syntax, encoding and duplicates, JWTS_E_LIMIT for depth (the
 * top-level object is depth 1) and member count. */
jwts_err jwts_json_scan(const char *json, size_t n, unsigned max_depth, jwts_jmember_fn fn, void *arg);

/* Unescape the validated string span s (n bytes between quotes) into out (capacity cap, NUL
 * added). Returns the byte length, or (size_t)-1 if it does not fit. */
size_t jwts_json_unescape(const char *s, size_t n, int esc, char *out, size_t cap);

/* 1 if the validated string span s (n bytes) equals the NUL-terminated text after unescaping. */
int jwts_json_str_eq(const char *s, size_t n, int esc, const char *text);

/* The validated number span s as an int64_t: JWTS_E_MALFORMED if it has a fraction or an
 * exponent or does not fit. */
jwts_err jwts_json_int64(const char *s, size_t n, int64_t *out);

/* Iterate the string elements of a validated array span: *pos starts at 0; returns 1 and the
 * element span (between quotes) while there are elements, 0 at the end, -1 for a non-string. */
int jwts_json_array_next_str(const char *arr, size_t n, size_t *pos, const char **s, size_t *s_len, int *esc);

#endif
