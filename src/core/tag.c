/*
 * tag.c - a user's routing tag, and the tag a session id carries (random.h).
 *
 * The tag is the first 36 bits of SHA-256(user id) as 6 base64url characters: stable across
 * processes, machines and versions (it is part of Redis keys and of the ids themselves), and
 * reproducible outside C (docs/redis.md). It uses the SHA256_ low-level functions (deprecated in
 * OpenSSL 3, the same assembly) because the one-shot SHA256() fetches the digest on each call,
 * and the memory store computes a tag on every operation.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <string.h>

#include "jwtsession/b64url.h"
#include "jwtsession/random.h"
#include "jwtsession/session.h"

bool jwts_user_tag(const char *user_id, char out[JWTS_SESSION_TAG_LEN + 1])
{
    if (!out) return false;
    out[0] = '\0';
    if (!jwts_user_id_valid(user_id)) return false;
    SHA256_CTX c;
    unsigned char md[SHA256_DIGEST_LENGTH];
    char enc[8]; /* 5 bytes: 7 characters, of which the first 6 hold the first 36 bits */
    SHA256_Init(&c);
    SHA256_Update(&c, user_id, strlen(user_id));
    SHA256_Final(md, &c);
    if (jwts_b64url_encode(md, 5, enc, sizeof enc, NULL) != JWTS_OK) return false;
    memcpy(out, enc, JWTS_SESSION_TAG_LEN);
    out[JWTS_SESSION_TAG_LEN] = '\0';
    return true;
}

bool jwts_session_id_tag(const char *session_id, char out[JWTS_SESSION_TAG_LEN + 1])
{
    if (!out) return false;
    out[0] = '\0';
    if (!session_id || strnlen(session_id, JWTS_SESSION_ID_LEN + 1) != JWTS_SESSION_ID_LEN ||
        !jwts_session_id_valid(session_id))
        return false;
    memcpy(out, session_id + JWTS_SESSION_ID_LEN - JWTS_SESSION_TAG_LEN, JWTS_SESSION_TAG_LEN);
    out[JWTS_SESSION_TAG_LEN] = '\0';
    return true;
}
