/*
 * manager.c - jwts_manager: options and defaults, lifetime, the deadlines every operation uses, and
 * the key set in use with its swap (jwts_manager_set_keyset).
 *
 * The swap is a reader-writer lock, writer-preferring so a stream of validations cannot starve a
 * reload: a sign or verify holds it shared for its own duration only, the swap holds it
 * exclusively for a pointer store. When the swap returns, every call that could have read the
 * previous pointer has released the lock, so the caller may free the previous set.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "manager/manager_int.h"

#define MINUTE_MS (60 * 1000LL)
#define DAY_MS (24 * 60 * MINUTE_MS)

/* Whether ks can serve a manager with verify_only as given. */
static jwts_err check_keyset(const jwts_keyset *ks, bool verify_only)
{
    if (!ks) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager: keyset is required");
    if (verify_only && jwts_keyset_count(ks) == 0)
        return jwts_fail(JWTS_E_BAD_KEY, "manager: the key set has no key to verify with");
    if (!verify_only && !jwts_keyset_active(ks))
        return jwts_fail(JWTS_E_BAD_KEY, "manager: the key set has no signing key (a verifier sets verify_only)");
    return JWTS_OK;
}

static jwts_err fill_defaults(jwts_manager_options *o)
{
    if (!o->store) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager: store is required");
    jwts_err rc = check_keyset(o->keyset, o->verify_only);
    if (rc) return rc;
    if (o->access_ttl_ms < 0 || o->refresh_ttl_ms < 0 || o->absolute_lifetime_ms < 0)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager: token and session lifetimes cannot be off (negative)");
    if (o->idle_timeout_ms < 0) o->idle_timeout_ms = 0; /* JWTS_OFF: off, as the default */
    if (o->leeway_ms < 0) o->leeway_ms = 0;
    if (o->access_ttl_ms > JWTS_TTL_MAX_MS || o->refresh_ttl_ms > JWTS_TTL_MAX_MS || o->idle_timeout_ms > JWTS_TTL_MAX_MS ||
        o->absolute_lifetime_ms > JWTS_TTL_MAX_MS || o->leeway_ms > JWTS_TTL_MAX_MS || o->refresh_grace_ms > JWTS_TTL_MAX_MS ||
        o->touch_interval_ms > JWTS_TTL_MAX_MS)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager: times must be at most 100 years");
    if ((unsigned)o->limit_policy > JWTS_LIMIT_EVICT_OLDEST)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager: unknown limit_policy %d", (int)o->limit_policy);
    if (!o->access_ttl_ms) o->access_ttl_ms = 15 * MINUTE_MS;
    if (!o->refresh_ttl_ms) o->refresh_ttl_ms = 30 * DAY_MS;
    if (!o->absolute_lifetime_ms) o->absolute_lifetime_ms = 90 * DAY_MS;
    if (!o->refresh_grace_ms) o->refresh_grace_ms = 10 * 1000;
    if (o->refresh_grace_ms < 0) o->refresh_grace_ms = 0;
    if (!o->touch_interval_ms) o->touch_interval_ms = MINUTE_MS;
    if (o->access_ttl_ms < 1000) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager: access_ttl_ms under 1 s");
    return JWTS_OK;
}

static jwts_err copy_string(const char *in, char **out)
{
    *out = NULL;
    if (!in) return JWTS_OK;
    if (!*in || strlen(in) >= JWTS_CLAIM_STR_MAX)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager: issuer/audience must be 1..%d bytes", JWTS_CLAIM_STR_MAX - 1);
    *out = strdup(in);
    return *out ? JWTS_OK : jwts_fail(JWTS_E_NO_MEMORY, "manager: out of memory");
}

jwts_err jwts_manager_new(const jwts_manager_options *opts, jwts_manager **out)
{
    if (!opts || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager: NULL options or out");
    *out = NULL;
    jwts_manager *m = calloc(1, sizeof *m);
    if (!m) return jwts_fail(JWTS_E_NO_MEMORY, "manager: out of memory");
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lrc = pthread_rwlock_init(&m->keys_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (lrc != 0) {
        free(m);
        return jwts_fail(JWTS_E_NO_MEMORY, "manager: cannot create the key set lock");
    }
    m->opts = *opts;
    jwts_err rc = fill_defaults(&m->opts);
    if (!rc) rc = copy_string(opts->issuer, &m->issuer);
    if (!rc) rc = copy_string(opts->audience, &m->audience);
    if (rc) {
        jwts_manager_free(m);
        return rc;
    }
    m->opts.issuer = m->issuer;
    m->opts.audience = m->audience;
    m->keys = m->opts.keyset;
    size_t keys = jwts_keyset_count(m->opts.keyset);
    size_t active = jwts_keyset_active(m->opts.keyset) ? 1 : 0;
    jwts_metrics_set_keyset_size(m->opts.metrics, active, keys - active);
    m->verify = (jwts_verify_options){
        .leeway_s = (m->opts.leeway_ms + 999) / 1000,
        .iss = m->issuer,
        .aud = m->audience,
        .require_exp = 1,
        .clock = m->opts.clock,
    };
    *out = m;
    return JWTS_OK;
}

void jwts_manager_free(jwts_manager *m)
{
    if (!m) return;
    pthread_rwlock_destroy(&m->keys_lock);
    free(m->issuer);
    free(m->audience);
    free(m);
}

jwts_err jwts_manager_set_keyset(jwts_manager *m, const jwts_keyset *ks, const jwts_keyset **previous)
{
    if (!m) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager_set_keyset: NULL manager");
    jwts_err rc = check_keyset(ks, m->opts.verify_only);
    if (rc) return rc;
    pthread_rwlock_wrlock(&m->keys_lock);
    const jwts_keyset *old = m->keys;
    m->keys = ks;
    m->opts.keyset = ks;
    pthread_rwlock_unlock(&m->keys_lock);
    size_t keys = jwts_keyset_count(ks);
    size_t active = jwts_keyset_active(ks) ? 1 : 0;
    jwts_metrics_set_keyset_size(m->opts.metrics, active, keys - active);
    if (previous) *previous = old;
    return JWTS_OK;
}

void jwts_manager_set_key_miss_hook(jwts_manager *m, void (*hook)(void *arg), void *arg)
{
    if (!m) return;
    m->key_miss = hook;
    m->key_miss_arg = arg;
}

const jwts_keyset *jwts_mgr_keys_acquire(const jwts_manager *m)
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&m->keys_lock); /* the lock is the one mutable part */
    return m->keys;
}

void jwts_mgr_keys_release(const jwts_manager *m) { pthread_rwlock_unlock((pthread_rwlock_t *)&m->keys_lock); }

void jwts_mgr_key_miss(const jwts_manager *m)
{
    if (m->key_miss) m->key_miss(m->key_miss_arg);
}

const jwts_manager_options *jwts_manager_options_get(const jwts_manager *m) { return m ? &m->opts : NULL; }

int64_t jwts_mgr_now_ms(const jwts_manager *m) { return jwts_clock_now_ms(m->opts.clock); }

int64_t jwts_mgr_deadline_ms(const jwts_manager *m, const jwts_session *s)
{
    int64_t base = s->refresh.rotated_at_ms > s->created_at_ms ? s->refresh.rotated_at_ms : s->created_at_ms;
    int64_t end = s->expires_at_ms, refresh_end = base + m->opts.refresh_ttl_ms;
    if (refresh_end < end) end = refresh_end;
    if (s->idle_expires_at_ms && s->idle_expires_at_ms < end) end = s->idle_expires_at_ms;
    return end;
}

int64_t jwts_mgr_ttl_ms(const jwts_manager *m, const jwts_session *s, int64_t now_ms)
{
    int64_t ttl = jwts_mgr_deadline_ms(m, s) - now_ms;
    return ttl > 0 ? ttl : 1;
}

void jwts_tokens_clear(jwts_tokens *t)
{
    if (!t) return;
    free(t->access_token);
    OPENSSL_cleanse(t, sizeof *t); /* the refresh token is a secret */
}
