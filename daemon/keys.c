/*
 * keys.c - the daemon's secrets at start-up: the token signing key set and the admin API key.
 *
 * Signing keys come from one file (JWK, JWKS or PEM; a JWKS with several keys is a rotation: its
 * first signing key signs, all verify). Without a file an HS256 key is generated, with a warning:
 * tokens then die with the process. The admin key is kept only as its SHA-256 digest, which
 * auth.c compares in constant time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "daemon.h"

#define KEY_FILE_MAX (1024 * 1024)

/* Read all of path (at most KEY_FILE_MAX bytes) into a malloc'd NUL-terminated buffer; *mode gets
 * its permission bits. */
static char *read_secret_file(const char *path, size_t *len, mode_t *mode, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    *mode = fstat(fileno(f), &st) == 0 ? st.st_mode & 07777 : 0;
    char *buf = malloc(KEY_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, KEY_FILE_MAX + 1, f) : 0;
    bool bad = ferror(f) || n > KEY_FILE_MAX;
    fclose(f);
    if (!buf || bad) {
        snprintf(err, errlen, "%s: %s", path,
                 !buf               ? "out of memory"
                 : n > KEY_FILE_MAX ? "larger than 1 MiB"
                                    : "read error");
        if (buf) OPENSSL_cleanse(buf, n > KEY_FILE_MAX ? KEY_FILE_MAX : n);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* As ssh does: a secret readable by group or others may already be known to them. */
static void warn_if_shared(const char *path, mode_t mode)
{
    if (!(mode & 077)) return;
    char bits[16];
    snprintf(bits, sizeof bits, "%04o", (unsigned)(mode & 07777));
    JWTSD_LOG(JWTSD_LOG_WARN, "secret file is accessible by group or others; it should be 0600",
              JWTSD_S("file", path), JWTSD_S("mode", bits));
}

jwts_err jwtsd_keys_load(const jwtsd_config *cfg, jwts_keyset **out, char *err, size_t errlen)
{
    jwts_err rc;
    if (!cfg->key_file && cfg->verify_only) {
        snprintf(err, errlen, "--verify-only needs --key (the signer's public JWKS)");
        return JWTS_E_INVALID_ARGUMENT;
    }
    if (!cfg->key_file) {
        jwts_key *key;
        if ((rc = jwts_key_generate(JWTS_ALG_HS256, "jwtsessiond-ephemeral", &key)) != JWTS_OK) {
            snprintf(err, errlen, "generating an HS256 key: %s: %s", jwts_errname(rc), jwts_errdetail());
            return rc;
        }
        if ((rc = jwts_keyset_new(out)) != JWTS_OK) jwts_key_free(key);
        else rc = jwts_keyset_add(*out, key, 1); /* takes key, also on failure */
        if (rc != JWTS_OK) {
            snprintf(err, errlen, "key set: %s: %s", jwts_errname(rc), jwts_errdetail());
            jwts_keyset_free(*out);
            *out = NULL;
            return rc;
        }
        JWTSD_LOG(JWTSD_LOG_WARN, "no --key given: generated an HS256 key; tokens die with the process",
                  JWTSD_S("hint", "create a key with `jwtsession keygen` and pass --key FILE"));
        return JWTS_OK;
    }
    size_t len;
    mode_t mode;
    char *text = read_secret_file(cfg->key_file, &len, &mode, err, errlen);
    if (!text) return JWTS_E_INVALID_ARGUMENT;
    rc = jwts_keyset_parse(text, len, JWTS_ALG_UNSET, out);
    OPENSSL_cleanse(text, len);
    free(text);
    if (rc != JWTS_OK) {
        snprintf(err, errlen, "%s: %s: %s", cfg->key_file, jwts_errname(rc), jwts_errdetail());
        return rc;
    }
    if (!jwts_keyset_active(*out) && !cfg->verify_only) {
        snprintf(err, errlen, "%s: no key that can sign (a private or secret key is needed)", cfg->key_file);
        jwts_keyset_free(*out);
        *out = NULL;
        return JWTS_E_BAD_KEY;
    }
    const jwts_key *active = jwts_keyset_active(*out);
    if (active) warn_if_shared(cfg->key_file, mode); /* a public JWKS may be world-readable */
    JWTSD_LOG(JWTSD_LOG_INFO, "keys loaded", JWTSD_S("file", cfg->key_file), JWTSD_I("keys", jwts_keyset_count(*out)),
              JWTSD_S("alg", active ? jwts_alg_name(jwts_key_alg(active)) : NULL),
              JWTSD_S("active_kid", active ? jwts_key_kid(active) : NULL), JWTSD_S("mode", cfg->verify_only ? "verify-only" : NULL));
    return JWTS_OK;
}

/* Digest the key text (surrounding whitespace dropped) into srv. */
static bool digest_key(const char *text, size_t len, const char *what, jwtsd_server *srv, char *err, size_t errlen)
{
    while (len && (text[0] == ' ' || text[0] == '\t' || text[0] == '\n' || text[0] == '\r')) text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (len < 16) {
        snprintf(err, errlen, "%s: the admin key must be at least 16 bytes", what);
        return false;
    }
    SHA256((const unsigned char *)text, len, srv->admin_digest);
    srv->admin_enabled = true;
    return true;
}

bool jwtsd_admin_key_load(const jwtsd_config *cfg, jwtsd_server *srv, char *err, size_t errlen)
{
    srv->admin_enabled = false;
    if (cfg->admin_key)
        return digest_key(cfg->admin_key, strlen(cfg->admin_key), "JWTSESSION_ADMIN_KEY", srv, err, errlen);
    if (!cfg->admin_key_file) {
        JWTSD_LOG(JWTSD_LOG_WARN, "no admin key configured: admin calls are refused with 403",
                  JWTSD_S("hint", "set --admin-key-file FILE or JWTSESSION_ADMIN_KEY"));
        return true;
    }
    size_t len;
    mode_t mode;
    char *text = read_secret_file(cfg->admin_key_file, &len, &mode, err, errlen);
    if (!text) return false;
    warn_if_shared(cfg->admin_key_file, mode);
    bool ok = digest_key(text, len, cfg->admin_key_file, srv, err, errlen);
    OPENSSL_cleanse(text, len);
    free(text);
    return ok;
}
