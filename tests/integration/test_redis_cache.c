/*
 * test_redis_cache.c - the near cache (docs/cache.md) on a real redis-server this test starts:
 * two managers ("instances" A and B), each on its own Redis store with its own cache, sharing one
 * server and one key set. Every change made through A, or by redis-cli, must end B's cached
 * answer within the propagation bound (max_stale_ms, which the cache guarantees even if a push
 * were lost); the measured delays are printed. Also: FLUSHALL, EXPIRE and TTL expiry, the
 * stream killed (CLIENT KILL TYPE pubsub) and the server restarted under a validate load, a
 * concurrency check (validators against a random reviser), deferred touches and eviction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "jwtsession/jwtsession.h"
#include "redis_server.h"

#define MAX_STALE_MS 250
#define PREFIX "nc:"

static redis_server server;
static jwts_keyset *keys;

typedef struct instance {
    jwts_store *store;
    jwts_manager *m;
} instance;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_ms(void) { return (double)jwts_monotonic_ns() / 1e6; }

static jwts_redis_cache_options cache_opts(void)
{
    return (jwts_redis_cache_options){.enabled = true, .max_stale_ms = MAX_STALE_MS};
}

static jwts_redis_cache_stats stats_of(jwts_store *st)
{
    jwts_redis_cache_stats s;
    assert_int_equal(jwts_store_redis_cache_stats(st, &s), JWTS_OK);
    return s;
}

/* Wait (up to 10 s) until st's stream is live. */
static void wait_live(jwts_store *st)
{
    for (int i = 0; i < 1000 && !stats_of(st).live; i++) sleep_ms(10);
    assert_true(stats_of(st).live);
}

static void instance_open_with(instance *in, const jwts_redis_cache_options *co, int64_t touch_interval_ms,
                               int64_t idle_ms)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", server.port);
    jwts_redis_options o = {.url = url, .key_prefix = PREFIX, .pool_size = 8, .command_timeout_ms = 3000};
    if (co) o.cache = *co;
    assert_int_equal(jwts_store_redis_new(&o, &in->store), JWTS_OK);
    jwts_manager_options mo = {.store = in->store, .keyset = keys, .issuer = "https://t.example",
                               .touch_interval_ms = touch_interval_ms, .idle_timeout_ms = idle_ms};
    assert_int_equal(jwts_manager_new(&mo, &in->m), JWTS_OK);
    if (co) wait_live(in->store);
}

static void instance_open(instance *in) { jwts_redis_cache_options co = cache_opts(); instance_open_with(in, &co, -1, 0); }

static void instance_close(instance *in)
{
    jwts_manager_free(in->m);
    jwts_store_free(in->store);
}

static jwts_err validate(instance *in, const char *token, jwts_session **s)
{
    return jwts_manager_validate(in->m, NULL, token, strlen(token), NULL, s);
}

/* Validate on b until it answers twice from the cache (a fill can lose its race against the
 * creating write's own invalidation, so this may take a few reads). */
static void warm(instance *b, const char *token)
{
    uint64_t hits = stats_of(b->store).hits;
    for (int i = 0; i < 200 && stats_of(b->store).hits < hits + 2; i++) {
        assert_int_equal(validate(b, token, NULL), JWTS_OK);
        if (i > 2) sleep_ms(1);
    }
    assert_true(stats_of(b->store).hits >= hits + 2);
}

/* Milliseconds from now until b refuses token (polling); fails past the bound. */
static double until_refused(instance *b, const char *token, double bound_ms)
{
    double t0 = now_ms();
    for (;;) {
        double t = now_ms() - t0;
        jwts_err rc = validate(b, token, NULL);
        if (rc != JWTS_OK) {
            assert_true(rc == JWTS_E_REVOKED || rc == JWTS_E_EXPIRED);
            assert_int_not_equal(validate(b, token, NULL), JWTS_OK); /* and stays refused */
            return t;
        }
        if (t > bound_ms) {
            fprintf(stderr, "still accepted %.1f ms after the change (bound %.0f ms)\n", t, bound_ms);
            fail();
        }
    }
}

static void redis_cmd(int argc, const char **argv, char *out, size_t cap)
{
    assert_true(redis_server_command(&server, out, cap, argc, argv));
}

static void record_key(const char *user, const char *sid, char *out, size_t cap)
{
    char tag[JWTS_SESSION_TAG_LEN + 1];
    assert_true(jwts_user_tag(user, tag));
    snprintf(out, cap, PREFIX "{%s}:s:%s", tag, sid);
}

/* ---- setup ------------------------------------------------------------------------------------ */

static int setup(void **state)
{
    if (!redis_server_start(&server, "appendonly yes\nappendfsync always\n")) return -1;
    jwts_key *k = NULL;
    if (jwts_keyset_new(&keys) || jwts_key_generate(JWTS_ALG_ES256, NULL, &k) || jwts_keyset_add(keys, k, 1)) return -1;
    return 0;
}

static int teardown(void **state)
{
    jwts_keyset_free(keys);
    redis_server_destroy(&server);
    return 0;
}

/* ---- each change made elsewhere ends B's cached answer --------------------------------------- */

static void hits_after_the_first_validate(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    jwts_tokens t;
    assert_int_equal(jwts_manager_create(a.m, NULL, "hit-user", NULL, &t), JWTS_OK);
    jwts_redis_cache_stats before = stats_of(b.store);
    warm(&b, t.access_token);
    for (int i = 0; i < 10; i++) assert_int_equal(validate(&b, t.access_token, NULL), JWTS_OK);
    jwts_redis_cache_stats after = stats_of(b.store);
    assert_true(after.misses >= before.misses + 1);
    assert_true(after.hits >= before.hits + 12);
    assert_true(after.entries >= 1);
    assert_true(after.live);
    jwts_tokens_clear(&t);
    instance_close(&a), instance_close(&b);
}

static void revoke_on_a_is_refused_on_b(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    double worst = 0;
    for (int i = 0; i < 20; i++) {
        jwts_tokens t;
        assert_int_equal(jwts_manager_create(a.m, NULL, "revoke-user", NULL, &t), JWTS_OK);
        warm(&b, t.access_token);
        assert_int_equal(jwts_manager_revoke(a.m, NULL, "revoke-user", t.session_id), JWTS_OK);
        double d = until_refused(&b, t.access_token, MAX_STALE_MS);
        if (d > worst) worst = d;
        /* A itself refuses at once: its own write cleared its entry before the call returned */
        assert_int_equal(validate(&a, t.access_token, NULL), JWTS_E_REVOKED);
        jwts_tokens_clear(&t);
    }
    jwts_redis_cache_stats s = stats_of(a.store);
    printf("revoke A -> refused on B: worst %.2f ms of 20 (bound %d ms); A's own invalidation p50 %.3f ms "
           "p99 %.3f ms\n", worst, MAX_STALE_MS, s.propagation_p50_ms, s.propagation_p99_ms);
    assert_true(s.propagation_p50_ms > 0);
    instance_close(&a), instance_close(&b);
}

static void revoke_user_on_a_is_refused_on_b(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    jwts_tokens t1, t2;
    assert_int_equal(jwts_manager_create(a.m, NULL, "ru-user", NULL, &t1), JWTS_OK);
    assert_int_equal(jwts_manager_create(a.m, NULL, "ru-user", NULL, &t2), JWTS_OK);
    warm(&b, t1.access_token), warm(&b, t2.access_token);
    size_t n = 0;
    assert_int_equal(jwts_manager_revoke_user(a.m, NULL, "ru-user", &n), JWTS_OK);
    assert_int_equal(n, 2);
    until_refused(&b, t1.access_token, MAX_STALE_MS);
    until_refused(&b, t2.access_token, MAX_STALE_MS);
    assert_int_equal(validate(&a, t1.access_token, NULL), JWTS_E_REVOKED);
    jwts_tokens_clear(&t1), jwts_tokens_clear(&t2);
    instance_close(&a), instance_close(&b);
}

/* Poll b's view of the session behind token until pred holds (within the bound). */
static void until_seen(instance *b, const char *token, bool (*pred)(const jwts_session *, const void *),
                       const void *arg)
{
    double t0 = now_ms();
    for (;;) {
        jwts_session *s = NULL;
        assert_int_equal(validate(b, token, &s), JWTS_OK);
        bool ok = pred(s, arg);
        jwts_session_free(s);
        if (ok) return;
        assert_true(now_ms() - t0 <= MAX_STALE_MS);
    }
}

static bool generation_is(const jwts_session *s, const void *arg) { return s->refresh.generation == *(const uint64_t *)arg; }

static bool metadata_is(const jwts_session *s, const void *arg)
{
    return s->metadata && strcmp(s->metadata, (const char *)arg) == 0;
}

static void rotation_on_a_reaches_b(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    jwts_tokens t, next;
    assert_int_equal(jwts_manager_create(a.m, NULL, "rot-user", NULL, &t), JWTS_OK);
    warm(&b, t.access_token);
    assert_int_equal(jwts_manager_refresh(a.m, NULL, t.refresh_token, &next), JWTS_OK);
    uint64_t gen = 1;
    until_seen(&b, t.access_token, generation_is, &gen);
    jwts_tokens_clear(&t), jwts_tokens_clear(&next);
    instance_close(&a), instance_close(&b);
}

static void metadata_update_on_a_reaches_b(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    jwts_tokens t;
    assert_int_equal(jwts_manager_create(a.m, NULL, "meta-user", "{\"v\":1}", &t), JWTS_OK);
    warm(&b, t.access_token);
    assert_int_equal(jwts_manager_update_metadata(a.m, NULL, "meta-user", t.session_id, "{\"v\":2}"), JWTS_OK);
    until_seen(&b, t.access_token, metadata_is, "{\"v\":2}");
    jwts_tokens_clear(&t);
    instance_close(&a), instance_close(&b);
}

static void redis_cli_del_expire_and_flushall(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    char key[256], out[256];
    jwts_tokens t;
    /* DEL */
    assert_int_equal(jwts_manager_create(a.m, NULL, "cli-user", NULL, &t), JWTS_OK);
    warm(&b, t.access_token);
    record_key("cli-user", t.session_id, key, sizeof key);
    redis_cmd(2, (const char *[]){"DEL", key}, out, sizeof out);
    assert_string_equal(out, "1");
    until_refused(&b, t.access_token, MAX_STALE_MS);
    jwts_tokens_clear(&t);
    /* PEXPIRE: the new TTL reaches B (the change invalidates; the next read learns the PTTL) */
    assert_int_equal(jwts_manager_create(a.m, NULL, "cli-user", NULL, &t), JWTS_OK);
    warm(&b, t.access_token);
    record_key("cli-user", t.session_id, key, sizeof key);
    redis_cmd(3, (const char *[]){"PEXPIRE", key, "300"}, out, sizeof out);
    double d = until_refused(&b, t.access_token, 300 + MAX_STALE_MS + 1000);
    printf("PEXPIRE 300 -> refused on B after %.1f ms\n", d);
    jwts_tokens_clear(&t);
    /* FLUSHALL: a nil invalidation flushes everything */
    uint64_t flushes = stats_of(b.store).flushes;
    assert_int_equal(jwts_manager_create(a.m, NULL, "cli-user", NULL, &t), JWTS_OK);
    warm(&b, t.access_token);
    redis_cmd(1, (const char *[]){"FLUSHALL"}, out, sizeof out);
    until_refused(&b, t.access_token, MAX_STALE_MS);
    assert_true(stats_of(b.store).flushes > flushes);
    jwts_tokens_clear(&t);
    instance_close(&a), instance_close(&b);
}

/* A record set with a short TTL is not served past it, even before Redis's lazy expiry
 * announces it: the cache keeps the PTTL it read. */
static void ttl_expiry_is_honoured_locally(void **state)
{
    instance b;
    instance_open(&b);
    char id[JWTS_SESSION_ID_LEN + 1];
    assert_int_equal(jwts_session_id_new("ttl-user", id), JWTS_OK);
    int64_t now = jwts_now_ms();
    jwts_session s = {.user_id = "ttl-user", .session_id = id, .created_at_ms = now, .updated_at_ms = now,
                      .expires_at_ms = now + 3600000, .last_seen_ms = now};
    assert_int_equal(jwts_store_set(b.store, NULL, &s, 300), JWTS_OK);
    jwts_session_key k = {"ttl-user", id};
    jwts_session *got = NULL;
    uint64_t hits = stats_of(b.store).hits;
    for (int i = 0; i < 200 && stats_of(b.store).hits < hits + 2; i++) {
        assert_int_equal(jwts_store_get(b.store, NULL, &k, &got), JWTS_OK);
        jwts_session_free(got), got = NULL;
        sleep_ms(1);
    }
    assert_true(stats_of(b.store).hits >= hits + 2);
    sleep_ms(320);
    assert_int_equal(jwts_store_get(b.store, NULL, &k, &got), JWTS_E_NOT_FOUND);
    instance_close(&b);
}

/* ---- the stream lost: fail closed, then come back ---------------------------------------------- */

typedef struct load {
    instance *b;
    const char *token;
    atomic_bool stop;
    _Atomic double revoked_at; /* ms; 0 = not yet */
    atomic_int stale;          /* accepted although started after revoked_at + bound */
    atomic_long calls;
} load;

static void *validate_loop(void *arg)
{
    load *l = arg;
    while (!atomic_load(&l->stop)) {
        double start = now_ms();
        jwts_err rc = validate(l->b, l->token, NULL);
        double rev = atomic_load(&l->revoked_at);
        if (rc == JWTS_OK && rev > 0 && start > rev + MAX_STALE_MS) atomic_fetch_add(&l->stale, 1);
        atomic_fetch_add(&l->calls, 1);
    }
    return NULL;
}

static void kill_stream_then_revoke_under_load(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    jwts_tokens t;
    assert_int_equal(jwts_manager_create(a.m, NULL, "kill-user", NULL, &t), JWTS_OK);
    warm(&b, t.access_token);
    load l = {.b = &b, .token = t.access_token};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, validate_loop, &l), 0);
    sleep_ms(50);
    jwts_redis_cache_stats before = stats_of(b.store);
    char out[256];
    redis_cmd(4, (const char *[]){"CLIENT", "KILL", "TYPE", "pubsub"}, out, sizeof out);
    /* revoke while B's stream is down (or coming back): B must not serve the old answer */
    assert_int_equal(jwts_manager_revoke(a.m, NULL, "kill-user", t.session_id), JWTS_OK);
    atomic_store(&l.revoked_at, now_ms());
    sleep_ms(MAX_STALE_MS + 300);
    atomic_store(&l.stop, true);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&l.stale), 0);
    assert_true(atomic_load(&l.calls) > 0);
    assert_int_not_equal(validate(&b, t.access_token, NULL), JWTS_OK);
    /* the stream reconnects, flushes, and hits come back */
    wait_live(b.store);
    jwts_redis_cache_stats after = stats_of(b.store);
    assert_true(after.stream_connects > before.stream_connects);
    assert_true(after.flushes > before.flushes);
    jwts_tokens t2;
    assert_int_equal(jwts_manager_create(a.m, NULL, "kill-user", NULL, &t2), JWTS_OK);
    warm(&b, t2.access_token);
    jwts_tokens_clear(&t), jwts_tokens_clear(&t2);
    instance_close(&a), instance_close(&b);
}

static void restart_under_load(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    jwts_tokens t;
    assert_int_equal(jwts_manager_create(a.m, NULL, "restart-user", NULL, &t), JWTS_OK);
    warm(&b, t.access_token);
    load l = {.b = &b, .token = t.access_token};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, validate_loop, &l), 0);
    jwts_redis_cache_stats before = stats_of(b.store);
    redis_server_stop(&server, true);
    sleep_ms(MAX_STALE_MS + 100);
    assert_false(stats_of(b.store).live); /* fail closed while the server is gone */
    assert_true(redis_server_restart(&server));
    wait_live(b.store);
    jwts_redis_cache_stats mid = stats_of(b.store);
    assert_true(mid.flushes > before.flushes);
    assert_true(mid.stream_connects > before.stream_connects);
    /* the session survived (AOF); a revoke after the restart reaches B */
    assert_int_equal(validate(&b, t.access_token, NULL), JWTS_OK);
    warm(&b, t.access_token);
    assert_int_equal(jwts_manager_revoke(a.m, NULL, "restart-user", t.session_id), JWTS_OK);
    atomic_store(&l.revoked_at, now_ms());
    until_refused(&b, t.access_token, MAX_STALE_MS);
    sleep_ms(MAX_STALE_MS + 50);
    atomic_store(&l.stop, true);
    pthread_join(th, NULL);
    assert_int_equal(atomic_load(&l.stale), 0);
    jwts_tokens_clear(&t);
    instance_close(&a), instance_close(&b);
}

/* ---- concurrency: validators against random revocations ----------------------------------------- */

#define SESSIONS 24
#define VALIDATORS 3

typedef struct conc {
    instance *b;
    jwts_tokens t[SESSIONS];
    _Atomic double revoked_at[SESSIONS]; /* ms after the revoke's ack; 0 = live */
    atomic_bool stop;
    atomic_int stale;
    atomic_long calls;
    _Atomic double worst_ms; /* latest accepted start after an ack */
} conc;

static void *conc_validate(void *arg)
{
    conc *c = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    while (!atomic_load(&c->stop)) {
        int i = rand_r(&seed) % SESSIONS;
        double start = now_ms();
        jwts_err rc = validate(c->b, c->t[i].access_token, NULL);
        double rev = atomic_load(&c->revoked_at[i]);
        if (rc == JWTS_OK && rev > 0) {
            double late = start - rev;
            double w = atomic_load(&c->worst_ms);
            while (late > w && !atomic_compare_exchange_weak(&c->worst_ms, &w, late)) {}
            if (late > MAX_STALE_MS) atomic_fetch_add(&c->stale, 1);
        }
        atomic_fetch_add(&c->calls, 1);
    }
    return NULL;
}

static void validators_against_random_revokes(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    conc *c = calloc(1, sizeof *c);
    c->b = &b;
    for (int i = 0; i < SESSIONS; i++) {
        assert_int_equal(jwts_manager_create(a.m, NULL, i % 2 ? "conc-odd" : "conc-even", NULL, &c->t[i]), JWTS_OK);
        assert_int_equal(validate(&b, c->t[i].access_token, NULL), JWTS_OK);
    }
    pthread_t th[VALIDATORS];
    for (int i = 0; i < VALIDATORS; i++) assert_int_equal(pthread_create(&th[i], NULL, conc_validate, c), 0);
    unsigned seed = 7;
    for (int i = 0; i < SESSIONS; i++) {
        sleep_ms(5 + (int)(rand_r(&seed) % 20));
        const char *user = i % 2 ? "conc-odd" : "conc-even";
        assert_int_equal(jwts_manager_revoke(a.m, NULL, user, c->t[i].session_id), JWTS_OK);
        atomic_store(&c->revoked_at[i], now_ms());
    }
    sleep_ms(MAX_STALE_MS + 50);
    atomic_store(&c->stop, true);
    for (int i = 0; i < VALIDATORS; i++) pthread_join(th[i], NULL);
    printf("concurrency: %ld validations, latest accept after a revoke's ack: %.2f ms (bound %d ms)\n",
           atomic_load(&c->calls), atomic_load(&c->worst_ms), MAX_STALE_MS);
    assert_int_equal(atomic_load(&c->stale), 0);
    assert_true(stats_of(b.store).hits > 0);
    for (int i = 0; i < SESSIONS; i++) {
        assert_int_not_equal(validate(&b, c->t[i].access_token, NULL), JWTS_OK);
        jwts_tokens_clear(&c->t[i]);
    }
    free(c);
    instance_close(&a), instance_close(&b);
}

/* ---- activity and memory ------------------------------------------------------------------------ */

static void touches_of_cached_sessions_are_deferred(void **state)
{
    instance b, plain;
    jwts_redis_cache_options co = cache_opts();
    instance_open_with(&b, &co, 50, 600000);
    instance_open_with(&plain, NULL, -1, 0);
    jwts_tokens t;
    assert_int_equal(jwts_manager_create(b.m, NULL, "touch-user", NULL, &t), JWTS_OK);
    jwts_session_key k = {"touch-user", t.session_id};
    jwts_session *before = NULL;
    assert_int_equal(jwts_store_get(plain.store, NULL, &k, &before), JWTS_OK);
    double t0 = now_ms();
    while (now_ms() - t0 < 600) {
        assert_int_equal(validate(&b, t.access_token, NULL), JWTS_OK);
        sleep_ms(2);
    }
    sleep_ms(200); /* the writer's period is 50 ms */
    jwts_redis_cache_stats s = stats_of(b.store);
    assert_true(s.touches_deferred > 0);
    assert_true(s.touches_written > 0);
    assert_true(s.hits > s.misses);
    jwts_session *after = NULL;
    assert_int_equal(jwts_store_get(plain.store, NULL, &k, &after), JWTS_OK);
    assert_true(after->last_seen_ms > before->last_seen_ms);
    assert_true(after->idle_expires_at_ms > before->idle_expires_at_ms);
    printf("touch: %llu deferred, %llu written, %llu hits, %llu misses\n", (unsigned long long)s.touches_deferred,
           (unsigned long long)s.touches_written, (unsigned long long)s.hits, (unsigned long long)s.misses);
    jwts_session_free(before), jwts_session_free(after);
    jwts_tokens_clear(&t);
    instance_close(&b), instance_close(&plain);
}

static void entries_are_bounded(void **state)
{
    instance b;
    jwts_redis_cache_options co = cache_opts();
    co.max_entries = 8;
    instance_open_with(&b, &co, -1, 0);
    for (int i = 0; i < 40; i++) {
        jwts_tokens t;
        assert_int_equal(jwts_manager_create(b.m, NULL, "evict-user", NULL, &t), JWTS_OK);
        assert_int_equal(validate(&b, t.access_token, NULL), JWTS_OK);
        assert_int_equal(validate(&b, t.access_token, NULL), JWTS_OK);
        jwts_tokens_clear(&t);
    }
    jwts_redis_cache_stats s = stats_of(b.store);
    assert_true(s.entries <= 8);
    assert_true(s.evictions > 0);
    instance_close(&b);
}

/* ---- local-only calls (JWTS_CTX_LOCAL_ONLY): a hit answers, anything else would block ---------- */

static jwts_err validate_local(jwts_manager *m, const char *token)
{
    jwts_ctx lc = {.flags = JWTS_CTX_LOCAL_ONLY};
    return jwts_manager_validate(m, &lc, token, strlen(token), NULL, NULL);
}

static void local_only_answers_hits_and_would_block_otherwise(void **state)
{
    instance a, b;
    instance_open(&a), instance_open(&b);
    jwts_tokens t;
    assert_int_equal(jwts_manager_create(a.m, NULL, "local-user", NULL, &t), JWTS_OK);

    /* a cold cache: WOULD_BLOCK, counted as neither a miss nor a hit, no placeholder left */
    jwts_redis_cache_stats before = stats_of(b.store);
    assert_int_equal(validate_local(b.m, t.access_token), JWTS_E_WOULD_BLOCK);
    jwts_redis_cache_stats after = stats_of(b.store);
    assert_int_equal(after.misses, before.misses);
    assert_int_equal(after.hits, before.hits);
    warm(&b, t.access_token); /* the ordinary call then fills the cache */
    before = stats_of(b.store);
    assert_int_equal(validate_local(b.m, t.access_token), JWTS_OK);
    assert_int_equal(stats_of(b.store).hits, before.hits + 1);

    /* a revoke on A ends B's local answer: WOULD_BLOCK, and the store then says REVOKED */
    assert_int_equal(jwts_manager_revoke(a.m, NULL, "local-user", t.session_id), JWTS_OK);
    double t0 = now_ms();
    jwts_err rc;
    while ((rc = validate_local(b.m, t.access_token)) == JWTS_OK) assert_true(now_ms() - t0 < MAX_STALE_MS);
    assert_int_equal(rc, JWTS_E_WOULD_BLOCK);
    assert_int_equal(validate(&b, t.access_token, NULL), JWTS_E_REVOKED);
    jwts_tokens_clear(&t);

    /* a write with a local-only ctx changes nothing */
    jwts_ctx lc = {.flags = JWTS_CTX_LOCAL_ONLY};
    assert_int_equal(jwts_manager_create(a.m, &lc, "local-writer", NULL, &t), JWTS_E_WOULD_BLOCK);
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(a.m, NULL, "local-writer", &list), JWTS_OK);
    assert_int_equal(list.count, 0);
    jwts_session_list_free(&list);

    /* the first use of a rotated pair is a write (its confirmation): never answered locally */
    jwts_tokens t2, t3;
    assert_int_equal(jwts_manager_create(a.m, NULL, "local-rotor", NULL, &t2), JWTS_OK);
    assert_int_equal(jwts_manager_refresh(a.m, NULL, t2.refresh_token, &t3), JWTS_OK);
    warm(&b, t2.access_token); /* the previous pair's token caches the session, unconfirmed */
    assert_int_equal(validate_local(b.m, t3.access_token), JWTS_E_WOULD_BLOCK);
    assert_int_equal(validate(&b, t3.access_token, NULL), JWTS_OK); /* confirms */
    warm(&b, t3.access_token);
    assert_int_equal(validate_local(b.m, t3.access_token), JWTS_OK);
    jwts_tokens_clear(&t2), jwts_tokens_clear(&t3);
    instance_close(&a), instance_close(&b);

    /* the memory store never waits: local-only calls run as usual */
    jwts_store *mem = NULL;
    jwts_manager *mm = NULL;
    assert_int_equal(jwts_store_memory_new(NULL, &mem), JWTS_OK);
    jwts_manager_options mo = {.store = mem, .keyset = keys, .issuer = "https://t.example"};
    assert_int_equal(jwts_manager_new(&mo, &mm), JWTS_OK);
    assert_int_equal(jwts_manager_create(mm, &lc, "mem-user", NULL, &t), JWTS_OK);
    assert_int_equal(validate_local(mm, t.access_token), JWTS_OK);
    jwts_tokens_clear(&t);
    jwts_manager_free(mm);
    jwts_store_free(mem);
}

static void options_and_enable(void **state)
{
    jwts_store *mem = NULL;
    assert_int_equal(jwts_store_memory_new(NULL, &mem), JWTS_OK);
    jwts_redis_cache_options co = cache_opts();
    assert_int_equal(jwts_store_redis_cache_enable(mem, &co), JWTS_E_UNSUPPORTED);
    jwts_redis_cache_stats s;
    assert_int_equal(jwts_store_redis_cache_stats(mem, &s), JWTS_E_NOT_FOUND);
    jwts_store_free(mem);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", server.port);
    jwts_store *st = NULL;
    assert_int_equal(jwts_store_open_url(url, &st), JWTS_OK);
    jwts_redis_cache_options bad = {.enabled = true, .max_stale_ms = 50, .ping_interval_ms = 100};
    assert_int_equal(jwts_store_redis_cache_enable(st, &bad), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(jwts_store_redis_cache_enable(st, &co), JWTS_OK);
    assert_int_equal(jwts_store_redis_cache_enable(st, &co), JWTS_E_CONFLICT);
    wait_live(st);
    jwts_store_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_and_enable),
        cmocka_unit_test(hits_after_the_first_validate),
        cmocka_unit_test(local_only_answers_hits_and_would_block_otherwise),
        cmocka_unit_test(revoke_on_a_is_refused_on_b),
        cmocka_unit_test(revoke_user_on_a_is_refused_on_b),
        cmocka_unit_test(rotation_on_a_reaches_b),
        cmocka_unit_test(metadata_update_on_a_reaches_b),
        cmocka_unit_test(redis_cli_del_expire_and_flushall),
        cmocka_unit_test(ttl_expiry_is_honoured_locally),
        cmocka_unit_test(validators_against_random_revokes),
        cmocka_unit_test(touches_of_cached_sessions_are_deferred),
        cmocka_unit_test(entries_are_bounded),
        cmocka_unit_test(kill_stream_then_revoke_under_load),
        cmocka_unit_test(restart_under_load),
    };
    return cmocka_run_group_tests_name("redis near cache", tests, setup, teardown);
}
