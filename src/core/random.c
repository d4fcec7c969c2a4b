/*
 * random.c - CSPRNG bytes from the kernel (getrandom) and the random ids built on them.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "jwtsession/b64url.h"
#include "jwtsession/error.h"
#include "jwtsession/random.h"

jwts_err jwts_random_bytes(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return jwts_fail(JWTS_E_INTERNAL, "getrandom failed: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return JWTS_OK;
}

/* n random bytes as base64url into out (capacity cap). */
static jwts_err random_b64url(size_t n, char *out, size_t cap)
{
    uint8_t raw[32];
    jwts_err rc = jwts_random_bytes(raw, n);
    if (rc == JWTS_OK) rc = jwts_b64url_encode(raw, n, out, cap, NULL);
    explicit_bzero(raw, sizeof raw);
    return rc;
}

jwts_err jwts_session_id_new(const char *user_id, char out[JWTS_SESSION_ID_LEN + 1])
{
    char tag[JWTS_SESSION_TAG_LEN + 1];
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "session id: out is NULL");
    out[0] = '\0';
    if (!jwts_user_tag(user_id, tag)) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "session id: user_id is not valid");
    jwts_err rc = random_b64url(16, out, JWTS_SESSION_ID_LEN + 1); /* 22 characters */
    if (rc) return rc;
    memcpy(out + JWTS_SESSION_ID_LEN - JWTS_SESSION_TAG_LEN, tag, JWTS_SESSION_TAG_LEN + 1);
    return JWTS_OK;
}

jwts_err jwts_refresh_secret_new(char out[JWTS_REFRESH_SECRET_LEN + 1])
{
    return random_b64url(32, out, JWTS_REFRESH_SECRET_LEN + 1);
}
