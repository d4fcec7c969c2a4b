/*
 * session.h - jwts_session, the server-side state of one session, and its JSON codec.
 *
 * A session returned by the library (store get/list, codec decode, clone) is one allocation
 * holding the struct and its strings; release it with jwts_session_free(). A session passed in
 * (store set) is read only and may point at the caller's own strings.
 */
#ifndef JWTSESSION_SESSION_H
#define JWTSESSION_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct jwts_buf; /* buf.h */

#ifdef __cplusplus
extern "C" {
#endif

#define JWTS_USER_ID_MAX 255           /* bytes of a user id (fits a JWT "sub" claim reader) */
/* The user id grammar in one line, for error details (see jwts_user_id_valid). */
#define JWTS_USER_ID_RULE \
    "1-255 bytes of UTF-8; no control characters, braces or line separators; no white space at either end"
#define JWTS_SESSION_ID_MAX 64         /* characters of a session id */
#define JWTS_METADATA_MAX (16 * 1024)  /* bytes of metadata JSON */
#define JWTS_CLIENT_IP_MAX 45          /* characters of a client IP literal (IPv6 with an IPv4 tail) */
#define JWTS_USER_AGENT_MAX 512        /* bytes of a client's user agent */
#define JWTS_USER_AGENT_RULE "1-512 bytes of UTF-8 without control characters"
#define JWTS_REFRESH_HASH_LEN 32       /* SHA-256 of a refresh secret */

#define JWTS_REFRESH_OLDER 8           /* rotated-out generations kept before the previous one */
#define JWTS_REFRESH_OLDER_HASH_LEN 16 /* bytes kept of each such hash (a truncated SHA-256) */

/* Refresh-token rotation state. Only hashes of refresh secrets are ever stored. The hashes of the
 * last 1 + JWTS_REFRESH_OLDER rotated-out secrets are kept so that reuse of any of them is
 * recognised as theft (docs/manager.md). */
typedef struct jwts_refresh_state {
    uint8_t current_hash[JWTS_REFRESH_HASH_LEN];  /* hash of the refresh secret now valid */
    uint8_t previous_hash[JWTS_REFRESH_HASH_LEN]; /* hash of the one rotated out last (zeros: none) */
    uint8_t sealed_next[JWTS_REFRESH_HASH_LEN];   /* the current secret sealed under the previous one, so
                                                     a retried or concurrent refresh of the previous
                                                     secret gets the same new token (zeros: none) */
    uint8_t older[JWTS_REFRESH_OLDER][JWTS_REFRESH_OLDER_HASH_LEN]; /* the hashes rotated out before
                                                     previous, newest first, truncated (zeros: none) */
    int64_t rotated_at_ms;                        /* when previous was rotated out (0: never) */
    uint64_t generation;                          /* rotations so far */
    bool confirmed;                               /* the current pair has been used: its refresh token
                                                     rotated or its access token validated; from then
                                                     on the previous secret is theft (after the grace) */
} jwts_refresh_state;

typedef struct jwts_session {
    const char *user_id;       /* 1..JWTS_USER_ID_MAX bytes of UTF-8: see jwts_user_id_valid */
    const char *session_id;    /* 1..JWTS_SESSION_ID_MAX base64url characters */
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t expires_at_ms;      /* absolute end of the session */
    int64_t idle_expires_at_ms; /* ends earlier if not seen again by then; 0 = no idle limit */
    int64_t last_seen_ms;
    jwts_refresh_state refresh;
    const char *metadata;       /* a JSON object as text, or NULL for none ("{}") */
    /* The device (docs/devices.md), recorded at create and updated at refresh; not part of the
     * metadata, which stays the caller's own. NULL: not known (sessions of earlier versions). */
    const char *client_ip;      /* an IPv4 or IPv6 literal: see jwts_client_ip_valid */
    const char *user_agent;     /* see jwts_user_agent_valid */
} jwts_session;

/* A list of library-owned sessions; free with jwts_session_list_free(). */
typedef struct jwts_session_list {
    jwts_session **items;
    size_t count;
} jwts_session_list;

/* Limits applied when decoding session JSON; zero fields take the defaults shown. */
typedef struct jwts_codec_limits {
    size_t max_bytes;    /* whole document; default 64 KiB */
    size_t max_depth;    /* nesting inside metadata; default 16 */
    size_t max_metadata; /* metadata bytes; default JWTS_METADATA_MAX */
} jwts_codec_limits;

/* Free a library-owned session (NULL is fine). */
void jwts_session_free(jwts_session *s);

/* Free every session of list and reset it (NULL is fine). */
void jwts_session_list_free(jwts_session_list *list);

/* A library-owned deep copy of s in one allocation. */
jwts_err jwts_session_clone(const jwts_session *s, jwts_session **out);

/* Check s: ids well formed, times consistent, metadata size. JWTS_E_INVALID_ARGUMENT with the
 * field in the detail. Metadata JSON itself is checked by the codec, not here. */
jwts_err jwts_session_validate(const jwts_session *s);

/* true if user_id is a user id: 1..JWTS_USER_ID_MAX bytes of well-formed UTF-8 (no overlong forms,
 * no surrogates) with
 *   - no control characters: C0 (tab, CR, LF... included), DEL, C1 (U+0080..U+009F, so NEL);
 *   - no line or paragraph separator (U+2028, U+2029);
 *   - no '{' or '}' (a Redis Cluster hash tag is built from the id);
 *   - no white space at either end: not U+0020, nor any other Unicode space (U+00A0, U+1680,
 *     U+2000..U+200A, U+202F, U+205F, U+3000), nor U+180E, U+200B, U+FEFF.
 * Spaces inside the id are allowed and kept. These are the ids that reach an application behind
 * a proxy unchanged (jwtsessiond's X-Session-User, docs/daemon.md). Used by create, validate,
 * the refresh token parser and every store call; a bad id is JWTS_E_INVALID_ARGUMENT. */
bool jwts_user_id_valid(const char *user_id);

/* true if session_id is 1..JWTS_SESSION_ID_MAX base64url characters. */
bool jwts_session_id_valid(const char *session_id);

/* true if ip is an IPv4 literal ("192.0.2.1") or an IPv6 literal ("2001:db8::1", no zone, no
 * brackets) of at most JWTS_CLIENT_IP_MAX characters. */
bool jwts_client_ip_valid(const char *ip);

/* true if ua is a user agent as sessions keep it: 1..JWTS_USER_AGENT_MAX bytes of well-formed
 * UTF-8 without control characters (C0, DEL, C1). Such strings are refused, never altered; a
 * caller holding an untrusted header uses jwts_user_agent_clean first. */
bool jwts_user_agent_valid(const char *ua);

/* Make a valid user agent of len bytes of untrusted text (an HTTP User-Agent header): control
 * characters and ill-formed UTF-8 become spaces, white space at either end is dropped, and the
 * text is cut to JWTS_USER_AGENT_MAX bytes at a character boundary. Writes a NUL-terminated string
 * into out (JWTS_USER_AGENT_MAX + 1 bytes) and returns its length; 0 (out "") when nothing is left. */
size_t jwts_user_agent_clean(const char *in, size_t len, char out[JWTS_USER_AGENT_MAX + 1]);

/* true when every field of a and b is equal (strings by content, metadata byte for byte). */
bool jwts_session_equal(const jwts_session *a, const jwts_session *b);

/* Append to b the members of s's public view, without the braces, so a program may add its own:
 * "user_id", "session_id", "created_at_ms", "updated_at_ms", "last_seen_at_ms", "expires_at_ms",
 * "idle_expires_at_ms" (null: no idle limit), "client_ip" and "user_agent" (null: not known) and
 * "metadata" (an object). Times are milliseconds since the epoch. Never the refresh state. This is
 * the one shape jwtsessiond and the CLI show a session in (docs/devices.md). */
void jwts_session_view(const jwts_session *s, struct jwts_buf *b);

/* Encode s as compact JSON into a malloc'd NUL-terminated string (*out, *out_len).
 * Metadata is embedded as given; it must be a JSON object. */
jwts_err jwts_session_to_json(const jwts_session *s, char **out, size_t *out_len);

/* Decode JSON text (len bytes) into a library-owned session. limits may be NULL (defaults).
 * JWTS_E_MALFORMED with the field's name in the detail for missing fields, wrong types,
 * duplicate members, unknown members, too deep or too large input. Metadata comes back in
 * canonical compact form, so what jwts_metadata_canonicalize() produced round-trips exactly. */
jwts_err jwts_session_from_json(const char *json, size_t len, const jwts_codec_limits *limits,
                                jwts_session **out);

/* Check that json (len bytes) is a JSON object within limits and write its canonical compact
 * form (member order kept) into a malloc'd string *out. */
jwts_err jwts_metadata_canonicalize(const char *json, size_t len, const jwts_codec_limits *limits,
                                    char **out);

#ifdef __cplusplus
}
#endif
#endif
