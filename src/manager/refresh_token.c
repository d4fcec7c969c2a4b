/*
 * refresh_token.c - the refresh token's text form, its hash, the sealing of the next secret, the
 * jti derived from its hash, and the lookup of rotated-out hashes.
 *
 * Form: "<base64url(user id)>.<session id>.<base64url(32-byte secret)>". The user id is in the
 * token so the store can be addressed by (user, session) - every key of a user shares one Redis
 * Cluster slot; it is no more than the access token's "sub" already says.
 */
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/b64url.h"
#include "jwtsession/error.h"
#include "jwtsession/random.h"
#include "manager/manager_int.h"

static const char SEAL_LABEL[] = "jwtsession refresh seal v1";
static const char JTI_LABEL[] = "jwtsession jti v2";

jwts_err jwts_rt_parse(const char *token, jwts_refresh_parts *out)
{
    if (!token) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "refresh token is NULL");
    size_t len = strnlen(token, JWTS_REFRESH_TOKEN_MAX + 1);
    if (len > JWTS_REFRESH_TOKEN_MAX)
        return jwts_fail(JWTS_E_MALFORMED, "refresh token longer than %d bytes", JWTS_REFRESH_TOKEN_MAX);
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return jwts_fail(JWTS_E_MALFORMED, "refresh token: expected three dot-separated parts");
    size_t user_len = 0, sid_len = (size_t)(dot2 - dot1 - 1), secret_len = 0;
    if (jwts_b64url_decode(token, (size_t)(dot1 - token), (uint8_t *)out->user_id, JWTS_USER_ID_MAX, &user_len))
        return jwts_fail(JWTS_E_MALFORMED, "refresh token: bad user part");
    out->user_id[user_len] = '\0';
    if (strlen(out->user_id) != user_len || !jwts_user_id_valid(out->user_id))
        return jwts_fail(JWTS_E_MALFORMED, "refresh token: bad user part");
    if (sid_len == 0 || sid_len > JWTS_SESSION_ID_MAX)
        return jwts_fail(JWTS_E_MALFORMED, "refresh token: bad session part");
    memcpy(out->session_id, dot1 + 1, sid_len);
    out->session_id[sid_len] = '\0';
    if (!jwts_session_id_valid(out->session_id)) return jwts_fail(JWTS_E_MALFORMED, "refresh token: bad session part");
    if (jwts_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), out->secret, sizeof out->secret,
                           &secret_len) ||
        secret_len != JWTS_SECRET_BYTES)
        return jwts_fail(JWTS_E_MALFORMED, "refresh token: bad secret part");
    return JWTS_OK;
}

jwts_err jwts_rt_format(const char *user_id, const char *session_id, const uint8_t secret[JWTS_SECRET_BYTES],
                        char out[JWTS_REFRESH_TOKEN_MAX + 1])
{
    size_t ulen = strlen(user_id), slen = strlen(session_id);
    size_t cap = JWTS_REFRESH_TOKEN_MAX + 1;
    if (jwts_b64url_encoded_len(ulen) + 1 + slen + 1 + jwts_b64url_encoded_len(JWTS_SECRET_BYTES) + 1 > cap)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "refresh token: ids too long");
    size_t n = 0, w;
    jwts_b64url_encode(user_id, ulen, out, cap, &w);
    n += w;
    out[n++] = '.';
    memcpy(out + n, session_id, slen);
    n += slen;
    out[n++] = '.';
    jwts_b64url_encode(secret, JWTS_SECRET_BYTES, out + n, cap - n, &w);
    out[n + w] = '\0';
    return JWTS_OK;
}

void jwts_rt_hash(const uint8_t secret[JWTS_SECRET_BYTES], uint8_t out[JWTS_REFRESH_HASH_LEN])
{
    SHA256(secret, JWTS_SECRET_BYTES, out);
}

void jwts_rt_seal(const uint8_t prev[JWTS_SECRET_BYTES], const uint8_t in[JWTS_SECRET_BYTES],
                  uint8_t out[JWTS_SECRET_BYTES])
{
    uint8_t pad[EVP_MAX_MD_SIZE];
    unsigned int pad_len = 0;
    HMAC(EVP_sha256(), prev, JWTS_SECRET_BYTES, (const unsigned char *)SEAL_LABEL, sizeof SEAL_LABEL - 1, pad,
         &pad_len);
    for (size_t i = 0; i < JWTS_SECRET_BYTES; i++) out[i] = in[i] ^ pad[i];
    OPENSSL_cleanse(pad, sizeof pad);
}

void jwts_rt_jti(const uint8_t hash[JWTS_REFRESH_HASH_LEN], char out[JWTS_JTI_LEN + 1])
{
    uint8_t buf[sizeof JTI_LABEL - 1 + JWTS_REFRESH_HASH_LEN], digest[SHA256_DIGEST_LENGTH];
    memcpy(buf, JTI_LABEL, sizeof JTI_LABEL - 1);
    memcpy(buf + sizeof JTI_LABEL - 1, hash, JWTS_REFRESH_HASH_LEN);
    SHA256(buf, sizeof buf, digest);
    jwts_b64url_encode(digest, 16, out, JWTS_JTI_LEN + 1, NULL);
}

bool jwts_rt_is_older(const jwts_refresh_state *r, const uint8_t hash[JWTS_REFRESH_HASH_LEN])
{
    static const uint8_t none[JWTS_REFRESH_OLDER_HASH_LEN];
    bool found = false;
    for (size_t i = 0; i < JWTS_REFRESH_OLDER; i++) /* every slot compared: no early exit */
        found |= CRYPTO_memcmp(r->older[i], none, sizeof none) != 0 &&
                 CRYPTO_memcmp(r->older[i], hash, JWTS_REFRESH_OLDER_HASH_LEN) == 0;
    return found;
}
