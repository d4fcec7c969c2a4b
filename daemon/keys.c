/*
 * keys.c - the daemon's secrets: the token signing key set (loaded at start-up and reloaded on
 * SIGHUP, POST /v1/admin/keys/reload, or in verify-only mode a token with an unknown kid), its
 * published JWKS with an ETag, and the admin API key.
 *
 * Signing keys come from one file (JWK, JWKS or PEM; a JWKS with several keys is a rotation: its
 * first signing key signs, all verify; a key file with lifecycle states, docs/keys.md: its active
 * key signs, retired keys are left out). Without a file an HS256 key is generated, with a warning:
 * tokens then die with the process. A reload checks the whole file before anything changes; the
 * manager then swaps sets safely under load (jwts_manager_set_keyset) and a bad file leaves the
 * keys in service. The admin key is kept only as its SHA-256 digest, which auth.c compares in
 * constant time.
 *
 * All of it is per tenant (jwtsd_tenant, tenants.c): each tenant loads, publishes and reloads its
 * own key file and holds its own admin digest; without --tenants there is one tenant.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

jwts_err jwtsd_keys_load(const jwtsd_config *cfg, const char *key_file, jwts_keyset **out, char *err, size_t errlen)
{
    jwts_err rc;
    if (!key_file && cfg->verify_only) {
        snprintf(err, errlen, "--verify-only needs --key (the signer's public JWKS)");
        return JWTS_E_INVALID_ARGUMENT;
    }
    if (!key_file) {
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
    char *text = read_secret_file(key_file, &len, &mode, err, errlen);
    if (!text) return JWTS_E_INVALID_ARGUMENT;
    rc = jwts_keyfile_load(text, len, (int64_t)time(NULL), out);
    OPENSSL_cleanse(text, len);
    free(text);
    if (rc != JWTS_OK) {
        snprintf(err, errlen, "%s: %s: %s", key_file, jwts_errname(rc), jwts_errdetail());
        return rc;
    }
    if (!jwts_keyset_active(*out) && !cfg->verify_only) {
        snprintf(err, errlen, "%s: no key that can sign (a private or secret key is needed)", key_file);
        jwts_keyset_free(*out);
        *out = NULL;
        return JWTS_E_BAD_KEY;
    }
    const jwts_key *active = jwts_keyset_active(*out);
    if (active) warn_if_shared(key_file, mode); /* a public JWKS may be world-readable */
    JWTSD_LOG(JWTSD_LOG_INFO, "keys loaded", JWTSD_S("file", key_file), JWTSD_I("keys", jwts_keyset_count(*out)),
              JWTSD_S("alg", active ? jwts_alg_name(jwts_key_alg(active)) : NULL),
              JWTSD_S("active_kid", active ? jwts_key_kid(active) : NULL), JWTSD_S("mode", cfg->verify_only ? "verify-only" : NULL));
    return JWTS_OK;
}

/* ---- reload, JWKS, metrics ---------------------------------------------------------------------- */

struct jwtsd_key_metrics {
    jwts_counter *reloads_ok, *reloads_failed;
    jwts_gauge *by_state[JWTS_KEY_RETIRING + 1];
};

/* Set the keys-by-state gauges from t->keyset (under keys_mu or before serving). */
static void count_states(jwtsd_tenant *t)
{
    struct jwtsd_key_metrics *km = t->key_metrics;
    if (!km) return;
    size_t n[JWTS_KEY_RETIRING + 1] = {0};
    for (size_t i = 0; i < jwts_keyset_count(t->keyset); i++)
        n[jwts_key_state_of(jwts_keyset_get(t->keyset, i), NULL, NULL)]++;
    for (int s = 0; s <= JWTS_KEY_RETIRING; s++) jwts_gauge_set(km->by_state[s], (double)n[s]);
}

jwts_err jwtsd_keys_observe(jwtsd_tenant *t)
{
    jwts_metrics *m = jwtsd_observe_metrics(t->srv->observe);
    if (!m) return JWTS_OK;
    struct jwtsd_key_metrics *km = calloc(1, sizeof *km);
    if (!km) return JWTS_E_NO_MEMORY;
    /* in tenant mode every series names its tenant (first label); else as before, no tenant */
    bool tl = t->srv->tenant_mode;
    jwts_label l[2] = {{"tenant", t->name}};
    jwts_label *last = tl ? &l[1] : &l[0];
    size_t nl = tl ? 2 : 1;
    static const char RELOADS[] = "Key file reloads (SIGHUP, admin call, unknown kid), by result";
    *last = (jwts_label){"result", "ok"};
    jwts_err rc = jwts_metrics_counter(m, "jwtsessiond_key_reloads_total", RELOADS, l, nl, &km->reloads_ok);
    *last = (jwts_label){"result", "failed"};
    if (!rc) rc = jwts_metrics_counter(m, "jwtsessiond_key_reloads_total", RELOADS, l, nl, &km->reloads_failed);
    for (int s = 0; s <= JWTS_KEY_RETIRING && !rc; s++) {
        *last = (jwts_label){"state", jwts_key_state_name((jwts_key_state)s)};
        rc = jwts_metrics_gauge(m, "jwtsessiond_keys", "Keys in service, by lifecycle state (docs/keys.md)", l, nl,
                                &km->by_state[s]);
    }
    if (rc) {
        free(km);
        return rc;
    }
    t->key_metrics = km;
    count_states(t);
    return JWTS_OK;
}

void jwtsd_keys_observe_free(jwtsd_tenant *t)
{
    free(t->key_metrics);
    t->key_metrics = NULL;
}

/* The strong ETag of body: a quoted base64url of 16 bytes of its SHA-256. */
static void etag_of(const char *body, char out[48])
{
    uint8_t d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)body, strlen(body), d);
    char b64[32] = "";
    size_t n = 0;
    if (jwts_b64url_encode(d, 16, b64, sizeof b64 - 1, &n) == JWTS_OK) b64[n] = '\0';
    snprintf(out, 48, "\"%s\"", b64);
}

jwts_err jwtsd_keys_publish(jwtsd_tenant *t)
{
    char *json = NULL;
    jwts_err rc = jwts_keyset_to_jwks(t->keyset, &json);
    if (rc) return rc;
    pthread_mutex_lock(&t->keys_mu);
    char *old = t->jwks_json;
    t->jwks_json = json;
    etag_of(json, t->jwks_etag);
    pthread_mutex_unlock(&t->keys_mu);
    jwts_jose_free(old);
    return JWTS_OK;
}

char *jwtsd_keys_jwks(jwtsd_tenant *t, char etag[48])
{
    pthread_mutex_lock(&t->keys_mu);
    char *copy = t->jwks_json ? strdup(t->jwks_json) : NULL;
    memcpy(etag, t->jwks_etag, 48);
    pthread_mutex_unlock(&t->keys_mu);
    return copy;
}

/* Load, check and install the key file; under keys_mu. */
static jwts_err reload_locked(jwtsd_tenant *t, char *err, size_t errlen)
{
    jwts_keyset *ks = NULL;
    jwts_err rc = jwtsd_keys_load(t->srv->cfg, t->key_file, &ks, err, errlen);
    if (rc) return rc;
    char *json = NULL;
    const jwts_keyset *old = NULL;
    if ((rc = jwts_keyset_to_jwks(ks, &json)) == JWTS_OK) {
        /* publish first: a next key is in the JWKS before the manager could sign with it */
        char *old_json = t->jwks_json;
        t->jwks_json = json;
        etag_of(json, t->jwks_etag);
        jwts_jose_free(old_json);
        rc = jwts_manager_set_keyset(t->manager, ks, &old);
    }
    if (rc) {
        snprintf(err, errlen, "%s: %s: %s", t->key_file, jwts_errname(rc), jwts_errdetail());
        jwts_keyset_free(ks);
        /* the JWKS may already show the new file's keys: show the keys in service again */
        char *back = NULL;
        if (json && jwts_keyset_to_jwks(t->keyset, &back) == JWTS_OK) {
            jwts_jose_free(t->jwks_json);
            t->jwks_json = back;
            etag_of(back, t->jwks_etag);
        }
        return rc;
    }
    const jwts_key *active = jwts_keyset_active(ks);
    if (active && jwts_key_kid(active) && jwts_key_alg(active) > JWTS_ALG_HS512 &&
        !jwts_keyset_find(t->keyset, jwts_key_kid(active)))
        JWTSD_LOG(JWTSD_LOG_WARN,
                  "the new signing key was not in the JWKS before: verifiers caching the JWKS may refuse its "
                  "tokens for up to --jwks-max-age (rotate, reload, and rotate again only after publish-ahead)",
                  JWTSD_S("kid", jwts_key_kid(active)));
    t->keyset = ks;
    jwts_keyset_free((jwts_keyset *)old); /* no call uses it any more: set_keyset waited; keys wiped */
    count_states(t);
    return JWTS_OK;
}

jwts_err jwtsd_keys_reload(jwtsd_tenant *t, const char *why, char *err, size_t errlen)
{
    jwts_err rc;
    const char *tenant = t->srv->tenant_mode ? t->name : NULL; /* logged in tenant mode */
    if (!t->key_file) {
        snprintf(err, errlen, "%s",
                 tenant ? "no key file to reload (the tenant's key was generated at start)"
                        : "no --key file to reload (the key was generated at start)");
        rc = JWTS_E_UNSUPPORTED;
    } else {
        pthread_mutex_lock(&t->keys_mu);
        rc = reload_locked(t, err, errlen);
        pthread_mutex_unlock(&t->keys_mu);
    }
    struct jwtsd_key_metrics *km = t->key_metrics;
    if (km) jwts_counter_inc(rc ? km->reloads_failed : km->reloads_ok);
    if (rc)
        JWTSD_LOG(JWTSD_LOG_ERROR, "key reload failed: the keys in service are kept", JWTSD_S("trigger", why),
                  JWTSD_S("error", err), JWTSD_S("tenant", tenant));
    else
        JWTSD_LOG(JWTSD_LOG_INFO, "keys reloaded", JWTSD_S("trigger", why), JWTSD_S("tenant", tenant));
    return rc;
}

void jwtsd_keys_miss(void *arg)
{
    jwtsd_tenant *t = arg;
    if (!t->srv->cfg->verify_only || !t->key_file) return;
    long long now = jwts_monotonic_ns() / 1000000, last = atomic_load(&t->key_refetch_at_ms);
    if (last && now - last < t->srv->cfg->key_refetch_interval_ms) return;
    if (!atomic_compare_exchange_strong(&t->key_refetch_at_ms, &last, now)) return; /* another thread won */
    atomic_store(&t->key_refetch_asked, true);
    kill(getpid(), SIGHUP); /* process-directed: main takes it by sigwait and reloads */
}

/* Digest the key text (surrounding whitespace dropped) into t. */
static bool digest_key(const char *text, size_t len, const char *what, jwtsd_tenant *t, char *err, size_t errlen)
{
    while (len && (text[0] == ' ' || text[0] == '\t' || text[0] == '\n' || text[0] == '\r')) text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (len < 16) {
        snprintf(err, errlen, "%s: the admin key must be at least 16 bytes", what);
        return false;
    }
    SHA256((const unsigned char *)text, len, t->admin_digest);
    t->admin_enabled = true;
    return true;
}

bool jwtsd_admin_key_load(jwtsd_tenant *t, char *err, size_t errlen)
{
    t->admin_enabled = false;
    if (t->admin_key) return digest_key(t->admin_key, strlen(t->admin_key), "JWTSESSION_ADMIN_KEY", t, err, errlen);
    if (!t->admin_key_file) {
        bool tenant = t->srv->tenant_mode;
        JWTSD_LOG(JWTSD_LOG_WARN, "no admin key configured: admin calls are refused with 403",
                  JWTSD_S("hint", tenant ? "set admin-key-file in the tenant's section"
                                         : "set --admin-key-file FILE or JWTSESSION_ADMIN_KEY"),
                  JWTSD_S("tenant", tenant ? t->name : NULL));
        return true;
    }
    size_t len;
    mode_t mode;
    char *text = read_secret_file(t->admin_key_file, &len, &mode, err, errlen);
    if (!text) return false;
    warn_if_shared(t->admin_key_file, mode);
    bool ok = digest_key(text, len, t->admin_key_file, t, err, errlen);
    OPENSSL_cleanse(text, len);
    free(text);
    return ok;
}
