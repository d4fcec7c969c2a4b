/*
 * test_redis_fault.c - kill and restart redis-server under a threaded load.
 *
 * The server runs with appendonly yes and appendfsync always, so a write it acknowledged is on
 * disk. Writer threads set sessions continuously with a per-call deadline while the server is
 * killed (SIGKILL) and, once the writers have seen the outage, restarted on the same port and
 * AOF. Checked, for the pool and for auto-pipelining: every failure is UNAVAILABLE or TIMEOUT with
 * a detail; no call hangs (returns well after its deadline: the command timeout is far longer, so
 * a call ignoring its deadline shows); every thread succeeds again after the restart with no
 * action of ours (the store reconnects by itself); and every acknowledged write is there
 * afterwards, unchanged. The phases follow events (every writer acknowledged a write, a failure
 * was seen, every writer succeeded again), not fixed sleeps, so a loaded machine only slows it.
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

#include "jwtsession/jwtsession.h"
#include "redis_server.h"

#define THREADS 4
#define MAX_WRITES 20000
#define DEADLINE_MS 300
#define COMMAND_TIMEOUT_MS 20000    /* far past the deadline: a call that ignores its ctx hangs */
#define HANG_GRACE_NS 3000000000LL /* a call returning this long after its deadline counts as a hang */
#define EVENT_WAIT_MS 30000        /* bound of each wait for a phase's event */

typedef struct writer {
    jwts_store *st;
    int index;
    char user[32];
    char (*ids)[JWTS_SESSION_ID_LEN + 1];
    int64_t *created;
    size_t acked; /* sessions [0, acked) were acknowledged */
    size_t failures, bad_codes, no_detail, hangs;
    size_t ok_after_restart; /* acked, failures and this one are polled by the main thread: atomic */
    volatile int *restarted, *stop;
} writer;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static jwts_session session_of(const writer *w, size_t i)
{
    jwts_session s = {.user_id = w->user, .session_id = w->ids[i], .created_at_ms = w->created[i],
                      .updated_at_ms = w->created[i], .expires_at_ms = w->created[i] + 3600000,
                      .last_seen_ms = w->created[i], .metadata = "{\"fault\":true}"};
    s.refresh.generation = i;
    memcpy(s.refresh.current_hash, w->ids[i], 16);
    return s;
}

static void *write_loop(void *arg)
{
    writer *w = arg;
    size_t next = 0;
    while (!__atomic_load_n(w->stop, __ATOMIC_SEQ_CST) && next < MAX_WRITES) {
        if (jwts_session_id_new(w->user, w->ids[next])) break;
        w->created[next] = jwts_now_ms();
        jwts_session s = session_of(w, next);
        jwts_ctx ctx = jwts_ctx_with_timeout(DEADLINE_MS);
        jwts_err rc = jwts_store_set(w->st, &ctx, &s, 600000);
        if (jwts_monotonic_ns() > ctx.deadline_ns + HANG_GRACE_NS) w->hangs++;
        if (rc == JWTS_OK) {
            /* keep acknowledged ones first: swap into place */
            if (next != w->acked) {
                memcpy(w->ids[w->acked], w->ids[next], sizeof w->ids[0]);
                w->created[w->acked] = w->created[next];
            }
            __atomic_store_n(&w->acked, w->acked + 1, __ATOMIC_SEQ_CST);
            next = w->acked;
            if (__atomic_load_n(w->restarted, __ATOMIC_SEQ_CST))
                __atomic_store_n(&w->ok_after_restart, w->ok_after_restart + 1, __ATOMIC_SEQ_CST);
            continue;
        }
        __atomic_store_n(&w->failures, w->failures + 1, __ATOMIC_SEQ_CST);
        if (rc != JWTS_E_UNAVAILABLE && rc != JWTS_E_TIMEOUT) {
            w->bad_codes++;
            fprintf(stderr, "writer %d: %s: %s\n", w->index, jwts_errname(rc), jwts_errdetail());
        }
        if (strlen(jwts_errdetail()) == 0) w->no_detail++;
        next = w->acked;
        sleep_ms(2);
    }
    return NULL;
}

/* How many writers have a non-zero counter at offset (acked, failures, ok_after_restart). */
static int writers_with(writer *w, size_t offset)
{
    int n = 0;
    for (int i = 0; i < THREADS; i++) n += __atomic_load_n((size_t *)((char *)&w[i] + offset), __ATOMIC_SEQ_CST) > 0;
    return n;
}

/* Wait until at least want writers have a non-zero counter at offset; false after EVENT_WAIT_MS. */
static bool wait_writers(writer *w, size_t offset, int want)
{
    for (int waited = 0; waited < EVENT_WAIT_MS; waited += 10) {
        if (writers_with(w, offset) >= want) return true;
        sleep_ms(10);
    }
    return writers_with(w, offset) >= want;
}

/* Acknowledged sessions whose stored value is missing or different. */
static size_t lost_writes(jwts_store *st, writer *w)
{
    size_t lost = 0;
    for (size_t i = 0; i < w->acked; i++) {
        jwts_session want = session_of(w, i);
        jwts_session *got = NULL;
        jwts_session_key k = {w->user, w->ids[i]};
        if (jwts_store_get(st, NULL, &k, &got) != JWTS_OK || !jwts_session_equal(got, &want)) lost++;
        jwts_session_free(got);
    }
    return lost;
}

static void kill_and_restart_under_load(bool pipeline)
{
    redis_server srv;
    assert_true(redis_server_start(&srv, "appendonly yes\nappendfsync always\n"));
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", srv.port);
    jwts_redis_options o = {.url = url, .auto_pipeline = pipeline, .pool_size = THREADS,
                            .connect_timeout_ms = 200, .command_timeout_ms = COMMAND_TIMEOUT_MS};
    jwts_store *st = NULL;
    assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_OK);

    volatile int restarted = 0, stop = 0;
    writer w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (writer){.st = st, .index = i, .restarted = &restarted, .stop = &stop};
        snprintf(w[i].user, sizeof w[i].user, "fault%d-%d", i, pipeline);
        w[i].ids = calloc(MAX_WRITES, sizeof *w[i].ids);
        w[i].created = calloc(MAX_WRITES, sizeof *w[i].created);
        assert_non_null(w[i].ids);
        assert_non_null(w[i].created);
        assert_int_equal(pthread_create(&t[i], NULL, write_loop, &w[i]), 0);
    }
    assert_true(wait_writers(w, offsetof(writer, acked), THREADS)); /* all of them are writing */
    redis_server_stop(&srv, true); /* SIGKILL: no shutdown save, only the AOF survives */
    assert_true(wait_writers(w, offsetof(writer, failures), 1)); /* the outage was seen */
    sleep_ms(200);                                                 /* and lasts a little */
    assert_true(redis_server_restart(&srv));
    __atomic_store_n(&restarted, 1, __ATOMIC_SEQ_CST);
    bool recovered = wait_writers(w, offsetof(writer, ok_after_restart), THREADS);
    __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
    size_t failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failures += w[i].failures;
        assert_int_equal(w[i].bad_codes, 0);
        assert_int_equal(w[i].no_detail, 0);
        assert_int_equal(w[i].hangs, 0);
        assert_true(w[i].acked > 0);
        assert_true(w[i].ok_after_restart > 0); /* recovered by itself */
    }
    assert_true(recovered);
    assert_true(failures > 0);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(lost_writes(st, &w[i]), 0);
        free(w[i].ids);
        free(w[i].created);
    }
    fprintf(stderr, "%s: %zu failed calls during the outage, none lost\n", pipeline ? "auto-pipeline" : "pool",
            failures);
    jwts_store_free(st);
    redis_server_destroy(&srv);
}

static void pool_survives_kill_and_restart(void **state) { kill_and_restart_under_load(false); }

static void pipeline_survives_kill_and_restart(void **state) { kill_and_restart_under_load(true); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_survives_kill_and_restart),
        cmocka_unit_test(pipeline_survives_kill_and_restart),
    };
    return cmocka_run_group_tests_name("redis fault", tests, NULL, NULL);
}
