/*
 * manager.c - jwts_manager: options and defaults, lifetime, the deadlines every operation uses, and
 * the key set in use with its swap (jwts_manager_set_keyset).
 *
 * The swap waits out the readers of the previous set, read-copy-update style, without readers
 * sharing a written cache line (every reader of a reader-writer lock writes its one word, which
 * two validating threads then pass back and forth). A reader (one sign or verify) counts itself
 * in its thread's slot under the parity of the current epoch, re-checks the epoch, then loads the
 * set; it uncounts when done. The swap stores the new set, advances the epoch, and waits until no slot counts a reader
 * under the old parity: any reader that could have loaded the previous set entered under it (one
 * that saw the new epoch loads the new set: the set is stored before the epoch, all sequentially
 * consistent). Swaps are serialized, so the old parity is always drained before it is reused.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "manager/events_int.h"
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
    if (pthread_mutex_init(&m->keys_swap, NULL) != 0) {
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
    atomic_store(&m->keys, m->opts.keyset);
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
    jwts_mgr_events_hook(m, true);
    *out = m;
    return JWTS_OK;
}

void jwts_manager_free(jwts_manager *m)
{
    if (!m) return;
    if (m->opts.store) jwts_mgr_events_hook(m, false);
    pthread_mutex_destroy(&m->keys_swap);
    free(m->issuer);
    free(m->audience);
    free(m);
}

jwts_err jwts_manager_set_keyset(jwts_manager *m, const jwts_keyset *ks, const jwts_keyset **previous)
{
    if (!m) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "manager_set_keyset: NULL manager");
    jwts_err rc = check_keyset(ks, m->opts.verify_only);
    if (rc) return rc;
    pthread_mutex_lock(&m->keys_swap);
    const jwts_keyset *old = atomic_exchange(&m->keys, ks);
    m->opts.keyset = ks;
    unsigned old_parity = atomic_fetch_add(&m->keys_epoch, 1) & 1;
    struct timespec nap = jwts_timespec_of_ns(20 * 1000); /* a reader is one sign or verify: microseconds */
    for (unsigned i = 0; i < JWTS_KEY_READER_SLOTS; i++)
        while (atomic_load(&m->key_readers[i].active[old_parity]) != 0) nanosleep(&nap, NULL);
    pthread_mutex_unlock(&m->keys_swap);
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

/* This thread's reader slot: threads take slots in turn. */
static unsigned reader_slot(void)
{
    static atomic_uint next;
    static _Thread_local unsigned slot_plus_1;
    if (!slot_plus_1) slot_plus_1 = atomic_fetch_add(&next, 1) % JWTS_KEY_READER_SLOTS + 1;
    return slot_plus_1 - 1;
}

const jwts_keyset *jwts_mgr_keys_acquire(const jwts_manager *m, jwts_keys_ticket *t)
{
    jwts_manager *w = (jwts_manager *)m; /* the reader counts are the one mutable part */
    t->slot = reader_slot();
    for (;;) {
        t->parity = atomic_load(&w->keys_epoch) & 1;
        atomic_fetch_add(&w->key_readers[t->slot].active[t->parity], 1);
        if ((atomic_load(&w->keys_epoch) & 1) == t->parity) return atomic_load(&w->keys);
        atomic_fetch_sub(&w->key_readers[t->slot].active[t->parity], 1); /* a swap moved on: again */
    }
}

void jwts_mgr_keys_release(const jwts_manager *m, const jwts_keys_ticket *t)
{
    atomic_fetch_sub(&((jwts_manager *)m)->key_readers[t->slot].active[t->parity], 1);
}

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
