/*
 * test_redis_stress.c - bounded multi-threaded stress of the Redis store (pooled and
 * auto-pipelined) against the fixture's redis-server.
 *
 * Each thread owns a few users and keeps a model of what it wrote; for a few seconds it mixes
 * set, get, touch, rotate, replace, delete, get_many and list_user at random, and every read must
 * equal the model exactly (jwts_session_equal). All threads also race rotations of one shared
 * session: the successful ones must form one unbroken chain (final generation = wins).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "jwtsession/jwtsession.h"
#include "redis_server.h"

#define THREADS 8
#define USERS 2
#define SLOTS 8 /* sessions per user */
#define RUN_MS 2500

typedef struct slot {
    bool live;
    char id[JWTS_SESSION_ID_LEN + 1];
    char meta[48];
    jwts_session s;
} slot;

typedef struct stresser {
    jwts_store *st;
    int index;
    char tag[16];
    char users[USERS][48];
    slot slots[USERS][SLOTS];
    unsigned rng;
    size_t ops, mismatches, errors;
    const jwts_session *shared;
    size_t shared_wins;
    pthread_barrier_t *start; /* every thread starts (and races the shared session) together */
} stresser;

static int port;
static char socket_path[300];

static unsigned next_rand(unsigned *r)
{
    *r = *r * 1103515245u + 12345u;
    return *r >> 8;
}

static void fresh(stresser *t, int u, int i)
{
    slot *sl = &t->slots[u][i];
    if (!sl->live) jwts_session_id_new(t->users[u], sl->id); /* a live slot is overwritten under its id */
    snprintf(sl->meta, sizeof sl->meta, "{\"t\":%d,\"n\":%zu}", t->index, t->ops);
    int64_t now = jwts_now_ms();
    sl->s = (jwts_session){.user_id = t->users[u], .session_id = sl->id, .created_at_ms = now, .updated_at_ms = now,
                           .expires_at_ms = now + 3600000, .idle_expires_at_ms = now + 60000, .last_seen_ms = now,
                           .metadata = (t->ops & 1) ? sl->meta : NULL};
    jwts_random_bytes(sl->s.refresh.current_hash, JWTS_REFRESH_HASH_LEN);
}

static void check(stresser *t, jwts_err rc, jwts_err want)
{
    if (rc == want) return;
    t->errors++;
    if (t->errors < 5) fprintf(stderr, "thread %d: got %s want %s: %s\n", t->index, jwts_errname(rc), jwts_errname(want),
                               jwts_errdetail());
}

static void expect_equal(stresser *t, const jwts_session *got, const jwts_session *want)
{
    if (jwts_session_equal(got, want)) return;
    if (t->mismatches++ < 3 && got && want)
        fprintf(stderr, "thread %d: %s/%s differs: last_seen %lld/%lld idle %lld/%lld gen %llu/%llu meta %s/%s\n",
                t->index, want->user_id, want->session_id, (long long)got->last_seen_ms, (long long)want->last_seen_ms,
                (long long)got->idle_expires_at_ms, (long long)want->idle_expires_at_ms,
                (unsigned long long)got->refresh.generation, (unsigned long long)want->refresh.generation,
                got->metadata ? got->metadata : "NULL", want->metadata ? want->metadata : "NULL");
}

static void one_op(stresser *t)
{
    int u = (int)(next_rand(&t->rng) % USERS), i = (int)(next_rand(&t->rng) % SLOTS);
    slot *sl = &t->slots[u][i];
    jwts_session_key k = {t->users[u], sl->id};
    jwts_session *got = NULL;
    unsigned op = next_rand(&t->rng) % 10;
    if (!sl->live) op = 0;
    switch (op) {
    case 0: /* set a new one, or overwrite */
        fresh(t, u, i);
        check(t, jwts_store_set(t->st, NULL, &sl->s, 600000), JWTS_OK);
        sl->live = true;
        break;
    case 1:
    case 2:
    case 3: /* get */
        check(t, jwts_store_get(t->st, NULL, &k, &got), JWTS_OK);
        expect_equal(t, got, &sl->s);
        break;
    case 4: /* touch */
        sl->s.last_seen_ms += 7;
        sl->s.idle_expires_at_ms = sl->s.last_seen_ms + 60000;
        check(t, jwts_store_touch(t->st, NULL, &k, sl->s.last_seen_ms, sl->s.idle_expires_at_ms, 600000), JWTS_OK);
        break;
    case 5: { /* rotate */
        jwts_refresh_state next = sl->s.refresh;
        memcpy(next.previous_hash, next.current_hash, JWTS_REFRESH_HASH_LEN);
        jwts_random_bytes(next.current_hash, JWTS_REFRESH_HASH_LEN);
        jwts_random_bytes(next.sealed_next, JWTS_REFRESH_HASH_LEN);
        next.generation++;
        next.rotated_at_ms = sl->s.updated_at_ms + 1;
        check(t, jwts_store_rotate(t->st, NULL, &k, sl->s.refresh.current_hash, &next, 600000, &got), JWTS_OK);
        sl->s.refresh = next;
        sl->s.updated_at_ms = next.rotated_at_ms;
        expect_equal(t, got, &sl->s);
        break;
    }
    case 6: /* replace the metadata */
        snprintf(sl->meta, sizeof sl->meta, "{\"replaced\":%zu}", t->ops);
        sl->s.metadata = sl->meta;
        check(t, jwts_store_replace(t->st, NULL, &sl->s, sl->s.refresh.current_hash, 600000), JWTS_OK);
        break;
    case 7: /* delete */
        check(t, jwts_store_delete(t->st, NULL, &k), JWTS_OK);
        check(t, jwts_store_get(t->st, NULL, &k, &got), JWTS_E_NOT_FOUND);
        sl->live = false;
        break;
    case 8: { /* get_many over the user's slots */
        jwts_session_key keys[SLOTS];
        jwts_session *outs[SLOTS];
        for (int j = 0; j < SLOTS; j++) keys[j] = (jwts_session_key){t->users[u], t->slots[u][j].id};
        int have = 0;
        for (int j = 0; j < SLOTS; j++) have += t->slots[u][j].id[0] != 0;
        if (have < SLOTS) break;
        check(t, jwts_store_get_many(t->st, NULL, keys, SLOTS, outs), JWTS_OK);
        for (int j = 0; j < SLOTS; j++) {
            if (t->slots[u][j].live) expect_equal(t, outs[j], &t->slots[u][j].s);
            else if (outs[j]) t->mismatches++;
            jwts_session_free(outs[j]);
        }
        break;
    }
    default: { /* list_user */
        jwts_session_list list = {0};
        check(t, jwts_store_list_user(t->st, NULL, t->users[u], &list), JWTS_OK);
        size_t live = 0;
        for (int j = 0; j < SLOTS; j++) live += t->slots[u][j].live;
        if (list.count != live && t->mismatches++ < 3)
            fprintf(stderr, "thread %d: list_user gave %zu, %zu live\n", t->index, list.count, live);
        for (size_t j = 0; j < list.count; j++) {
            bool found = false;
            for (int m = 0; m < SLOTS && !found; m++)
                found = t->slots[u][m].live && jwts_session_equal(list.items[j], &t->slots[u][m].s);
            if (!found) t->mismatches++;
        }
        jwts_session_list_free(&list);
        break;
    }
    }
    jwts_session_free(got);
    t->ops++;
}

/* Try to rotate the shared session from whatever state it is in now. */
static void race_shared(stresser *t)
{
    jwts_session_key k = {t->shared->user_id, t->shared->session_id};
    jwts_session *cur = NULL;
    if (jwts_store_get(t->st, NULL, &k, &cur) != JWTS_OK) {
        t->errors++;
        return;
    }
    jwts_refresh_state next = cur->refresh;
    memcpy(next.previous_hash, next.current_hash, JWTS_REFRESH_HASH_LEN);
    jwts_random_bytes(next.current_hash, JWTS_REFRESH_HASH_LEN);
    next.generation++;
    next.rotated_at_ms = cur->updated_at_ms + 1;
    jwts_err rc = jwts_store_rotate(t->st, NULL, &k, cur->refresh.current_hash, &next, 600000, NULL);
    if (rc == JWTS_OK) t->shared_wins++;
    else if (rc != JWTS_E_CONFLICT) t->errors++;
    jwts_session_free(cur);
}

static void *run(void *arg)
{
    stresser *t = arg;
    pthread_barrier_wait(t->start);
    int64_t end = jwts_monotonic_ns() + (int64_t)RUN_MS * 1000000;
    while (jwts_monotonic_ns() < end) {
        one_op(t);
        if (t->ops % 16 == 0) race_shared(t);
    }
    return NULL;
}

static void stress(bool unix_socket, bool pipeline)
{
    char url[400];
    if (unix_socket) snprintf(url, sizeof url, "unix://%s?db=2", socket_path);
    else snprintf(url, sizeof url, "redis://127.0.0.1:%d/2", port);
    jwts_redis_options o = {.url = url, .auto_pipeline = pipeline, .pool_size = 4, .key_prefix = "stress:"};
    jwts_store *st = NULL;
    assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_OK);
    uint8_t tag[6];
    char tagstr[16];
    assert_int_equal(jwts_random_bytes(tag, sizeof tag), JWTS_OK);
    assert_int_equal(jwts_b64url_encode(tag, sizeof tag, tagstr, sizeof tagstr, NULL), JWTS_OK);

    char shared_id[JWTS_SESSION_ID_LEN + 1], shared_user[48];
    snprintf(shared_user, sizeof shared_user, "shared-%s", tagstr);
    assert_int_equal(jwts_session_id_new(shared_user, shared_id), JWTS_OK);
    int64_t now = jwts_now_ms();
    jwts_session shared = {.user_id = shared_user, .session_id = shared_id, .created_at_ms = now,
                           .updated_at_ms = now, .expires_at_ms = now + 3600000, .last_seen_ms = now};
    assert_int_equal(jwts_store_set(st, NULL, &shared, 600000), JWTS_OK);

    static stresser t[THREADS];
    pthread_t th[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        t[i] = (stresser){.st = st, .index = i, .rng = (unsigned)(i * 7919 + 1), .shared = &shared, .start = &start};
        for (int u = 0; u < USERS; u++) snprintf(t[i].users[u], sizeof t[i].users[u], "st%d-%d-%s", i, u, tagstr);
        assert_int_equal(pthread_create(&th[i], NULL, run, &t[i]), 0);
    }
    size_t ops = 0, wins = 0;
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(t[i].mismatches, 0);
        assert_int_equal(t[i].errors, 0);
        ops += t[i].ops;
        wins += t[i].shared_wins;
    }
    jwts_session *final = NULL;
    jwts_session_key k = {shared_user, shared_id};
    assert_int_equal(jwts_store_get(st, NULL, &k, &final), JWTS_OK);
    assert_int_equal(final->refresh.generation, wins); /* every win built on the previous one */
    jwts_session_free(final);
    for (int i = 0; i < THREADS; i++)
        for (int u = 0; u < USERS; u++) assert_int_equal(jwts_store_delete_user(st, NULL, t[i].users[u], NULL), JWTS_OK);
    fprintf(stderr, "%s %s: %zu operations, %zu shared rotations won\n", unix_socket ? "unix" : "tcp",
            pipeline ? "auto-pipeline" : "pool", ops, wins);
    jwts_store_free(st);
}

static void tcp_pool(void **state) { stress(false, false); }
static void unix_pipeline(void **state) { stress(true, true); }

int main(void)
{
    if (!redis_fixture_address(&port, socket_path, sizeof socket_path)) {
        fprintf(stderr, "JWTS_TEST_REDIS_DIR is not set up (run through ctest)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(tcp_pool), cmocka_unit_test(unix_pipeline)};
    return cmocka_run_group_tests_name("redis stress", tests, NULL, NULL);
}
