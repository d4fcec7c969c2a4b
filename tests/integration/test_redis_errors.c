/*
 * test_redis_errors.c - how the Redis store reports failures, against real servers it breaks on
 * purpose: refused connections, a server busy past the deadline (DEBUG SLEEP), auth (requirepass
 * and an ACL user), OOM (maxmemory 1), NOSCRIPT after SCRIPT FLUSH, READONLY on a replica,
 * foreign data under our keys, and the error-reply mapping table itself; and a hostile server
 * (a socket of this test's) announcing a reply of two billion elements.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
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
#include "store/redis.h"

static redis_server server; /* shared by the tests that leave it as they found it */

static int start_server(void **state)
{
    return redis_server_start(&server, "user alice on >alice-pw ~* &* +@all\n") ? 0 : -1;
}

static int stop_server(void **state)
{
    redis_server_destroy(&server);
    return 0;
}

static jwts_store *open_store(const redis_server *s, bool pipeline, const char *url_extra)
{
    char url[512];
    snprintf(url, sizeof url, "redis://%s127.0.0.1:%d", url_extra ? url_extra : "", s->port);
    jwts_redis_options o = {.url = url, .auto_pipeline = pipeline, .pool_size = 2, .command_timeout_ms = 5000};
    jwts_store *st = NULL;
    assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_OK);
    return st;
}

static jwts_session make_session(const char *user, char id[JWTS_SESSION_ID_LEN + 1], const char *meta)
{
    assert_int_equal(jwts_session_id_new(user, id), JWTS_OK);
    int64_t now = jwts_now_ms();
    jwts_session s = {.user_id = user, .session_id = id, .created_at_ms = now, .updated_at_ms = now,
                      .expires_at_ms = now + 3600000, .last_seen_ms = now, .metadata = meta};
    assert_int_equal(jwts_random_bytes(s.refresh.current_hash, JWTS_REFRESH_HASH_LEN), JWTS_OK);
    return s;
}

/* jwts_session_equal, printing both sides when they differ. */
static bool same(const jwts_session *got, const jwts_session *want)
{
    if (jwts_session_equal(got, want)) return true;
    if (!got || !want) return false;
    fprintf(stderr, "got  %s/%s c=%lld u=%lld e=%lld i=%lld l=%lld g=%llu m=%s\n", got->user_id, got->session_id,
            (long long)got->created_at_ms, (long long)got->updated_at_ms, (long long)got->expires_at_ms,
            (long long)got->idle_expires_at_ms, (long long)got->last_seen_ms,
            (unsigned long long)got->refresh.generation, got->metadata ? got->metadata : "NULL");
    fprintf(stderr, "want %s/%s c=%lld u=%lld e=%lld i=%lld l=%lld g=%llu m=%s\n", want->user_id, want->session_id,
            (long long)want->created_at_ms, (long long)want->updated_at_ms, (long long)want->expires_at_ms,
            (long long)want->idle_expires_at_ms, (long long)want->last_seen_ms,
            (unsigned long long)want->refresh.generation, want->metadata ? want->metadata : "NULL");
    fprintf(stderr, "hashes: current %s, previous %s, rotated_at %lld/%lld\n",
            memcmp(got->refresh.current_hash, want->refresh.current_hash, JWTS_REFRESH_HASH_LEN) ? "differ" : "same",
            memcmp(got->refresh.previous_hash, want->refresh.previous_hash, JWTS_REFRESH_HASH_LEN) ? "differ" : "same",
            (long long)got->refresh.rotated_at_ms, (long long)want->refresh.rotated_at_ms);
    return false;
}

static void command(const redis_server *s, const char *expect, int argc, const char **argv)
{
    char out[256];
    assert_true(redis_server_command(s, out, sizeof out, argc, argv));
    if (expect) assert_string_equal(out, expect);
}

/* ---- refused ----------------------------------------------------------------------------- */

static void refused_is_unavailable(void **state)
{
    redis_server dead = {0};
    assert_true(redis_server_start(&dead, NULL));
    redis_server_stop(&dead, false); /* the port is now closed */
    for (int pipeline = 0; pipeline < 2; pipeline++) {
        jwts_store *st = open_store(&dead, pipeline, NULL); /* lazy: creating works while Redis is down */
        jwts_session *got = NULL;
        jwts_session_key k = {"refused", "AAAA"};
        assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_UNAVAILABLE);
        assert_non_null(strstr(jwts_errdetail(), "refused"));
        assert_null(got);
        jwts_store_free(st);
    }
    redis_server_destroy(&dead);
}

/* A server that answers anything with "*2000000000\r\n" and then nothing: before the reader was
 * bounded (JWTS_REDIS_MAX_ELEMENTS) the client allocated 16 GB for it and waited out its 5 s
 * timeout (TIMEOUT); now the reply is refused at once as a protocol error. */
typedef struct hostile {
    int listen_fd, port;
    pthread_t thread;
} hostile;

static void *hostile_main(void *arg)
{
    hostile *h = arg;
    int fd = accept(h->listen_fd, NULL, NULL);
    char buf[4096];
    if (fd >= 0 && read(fd, buf, sizeof buf) > 0) {
        static const char huge[] = "*2000000000\r\n";
        if (write(fd, huge, sizeof huge - 1) < 0) perror("hostile write");
        while (read(fd, buf, sizeof buf) > 0) { /* until the client hangs up */
        }
    }
    if (fd >= 0) close(fd);
    return NULL;
}

static void huge_array_is_refused(void **state)
{
    (void)state;
    hostile h = {.listen_fd = socket(AF_INET, SOCK_STREAM, 0)};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(h.listen_fd >= 0);
    assert_int_equal(bind(h.listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(h.listen_fd, 1), 0);
    assert_int_equal(getsockname(h.listen_fd, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(pthread_create(&h.thread, NULL, hostile_main, &h), 0);
    redis_server fake = {.port = ntohs(a.sin_port)};
    jwts_store *st = open_store(&fake, false, NULL);
    jwts_session *got = NULL;
    jwts_session_key k = {"hostile", "AAAA"};
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_PROTOCOL);
    const char *detail = jwts_errdetail(); /* hiredis 1.x words it "out of range" */
    assert_true(strstr(detail, "2000000000 elements") || strstr(detail, "out of range"));
    assert_null(got);
    jwts_store_free(st); /* hangs up: the thread ends */
    pthread_join(h.thread, NULL);
    close(h.listen_fd);
}

/* ---- deadline ---------------------------------------------------------------------------- */

typedef struct sleeper {
    const redis_server *s;
    volatile int done;
} sleeper;

static void *sleep_server(void *arg)
{
    sleeper *sl = arg;
    const char *argv[] = {"DEBUG", "SLEEP", "2"};
    char out[64];
    redis_server_command(sl->s, out, sizeof out, 3, argv);
    __atomic_store_n(&sl->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void busy_server_gives_timeout_then_recovers(void **state)
{
    for (int pipeline = 0; pipeline < 2; pipeline++) {
        jwts_store *st = open_store(&server, pipeline, NULL);
        char id[32];
        jwts_session s = make_session("sleepy", id, NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK); /* connect first */
        sleeper sl = {.s = &server};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, sleep_server, &sl), 0);
        /* wait until the server is really asleep: a PING from here would block, so watch INFO's
         * absence of answers by trying a short-deadline get until one times out */
        jwts_err rc = JWTS_OK;
        jwts_session_key k = {s.user_id, s.session_id};
        /* bounded by time, not by a count: the sleeper thread may take a while to get its command in */
        int64_t give_up = jwts_monotonic_ns() + 5000000000LL;
        while (rc != JWTS_E_TIMEOUT && jwts_monotonic_ns() < give_up && !__atomic_load_n(&sl.done, __ATOMIC_SEQ_CST)) {
            jwts_ctx ctx = jwts_ctx_with_timeout(100);
            jwts_session *got = NULL;
            rc = jwts_store_get(st, &ctx, &k, &got);
            jwts_session_free(got);
            if (rc == JWTS_OK) assert_int_equal(__atomic_load_n(&sl.done, __ATOMIC_SEQ_CST), 0);
        }
        assert_int_equal(rc, JWTS_E_TIMEOUT);
        assert_true(strlen(jwts_errdetail()) > 0);
        /* the call gave up while the server was still asleep: the deadline, not the server, ended it */
        assert_int_equal(__atomic_load_n(&sl.done, __ATOMIC_SEQ_CST), 0);
        /* an already expired ctx fails at once */
        jwts_ctx past = {.deadline_ns = 1};
        assert_int_equal(jwts_store_set(st, &past, &s, 60000), JWTS_E_TIMEOUT);
        pthread_join(t, NULL);
        jwts_session *got = NULL;
        assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_OK); /* recovered */
        assert_true(same(got, &s));
        jwts_session_free(got);
        jwts_store_free(st);
    }
}

/* ---- auth -------------------------------------------------------------------------------- */

static void auth_errors_are_unavailable_with_redis_message(void **state)
{
    redis_server locked = {0};
    assert_true(redis_server_start(&locked, "requirepass s3cret-pw\nuser bob on >bob-pw ~* &* +@all\n"));
    jwts_session_key k = {"auth", "AAAA"};
    jwts_session *got = NULL;

    jwts_store *st = open_store(&locked, false, NULL); /* no password */
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_UNAVAILABLE);
    assert_non_null(strstr(jwts_errdetail(), "NOAUTH"));
    jwts_store_free(st);

    st = open_store(&locked, false, ":wrong-pw@");
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_UNAVAILABLE);
    assert_non_null(strstr(jwts_errdetail(), "WRONGPASS"));
    assert_null(strstr(jwts_errdetail(), "wrong-pw")); /* never the secret */
    jwts_store_free(st);

    st = open_store(&locked, true, ":s3cret-pw@");
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_NOT_FOUND);
    jwts_store_free(st);

    st = open_store(&locked, false, "bob:bob-pw@"); /* an ACL user */
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_NOT_FOUND);
    jwts_store_free(st);

    /* the same through the option fields */
    jwts_redis_options o = {.port = locked.port, .username = "bob", .password = "bob-pw"};
    assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_OK);
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_NOT_FOUND);
    jwts_store_free(st);
    redis_server_destroy(&locked);
}

/* ---- OOM --------------------------------------------------------------------------------- */

static void oom_is_limit_and_leaves_old_state(void **state)
{
    jwts_store *st = open_store(&server, false, NULL);
    char id[32];
    jwts_session s = make_session("oom", id, "{\"v\":1}");
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
    const char *fill[] = {"CONFIG", "SET", "maxmemory", "1"};
    command(&server, "OK", 4, fill);
    jwts_session changed = s;
    changed.metadata = "{\"v\":2}";
    jwts_err rc = jwts_store_set(st, NULL, &changed, 60000);
    const char *unfill[] = {"CONFIG", "SET", "maxmemory", "0"};
    char detail[256];
    snprintf(detail, sizeof detail, "%s", jwts_errdetail());
    jwts_session *got = NULL;
    jwts_session_key k = {s.user_id, s.session_id};
    jwts_err get_rc = jwts_store_get(st, NULL, &k, &got); /* reads still work */
    command(&server, "OK", 4, unfill);
    assert_int_equal(rc, JWTS_E_LIMIT);
    assert_non_null(strstr(detail, "OOM"));
    assert_int_equal(get_rc, JWTS_OK);
    assert_true(same(got, &s)); /* the failed set left the old value */
    jwts_session_free(got);
    assert_int_equal(jwts_store_set(st, NULL, &changed, 60000), JWTS_OK);
    jwts_store_free(st);
}

/* ---- NOSCRIPT ---------------------------------------------------------------------------- */

static void script_flush_is_survived(void **state)
{
    for (int pipeline = 0; pipeline < 2; pipeline++) {
        jwts_store *st = open_store(&server, pipeline, NULL);
        char id[32];
        jwts_session s = make_session("noscript", id, NULL);
        assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK);
        const char *exists[] = {"SCRIPT", "EXISTS", jwts_redis_script_sha(JWTS_SCRIPT_SET)};
        const char *flush[] = {"SCRIPT", "FLUSH"};
        command(&server, "(array of 1)", 3, exists);
        command(&server, "OK", 2, flush);
        char out[64];
        /* SCRIPT EXISTS answers an array; check its element through a fresh EVAL-free probe */
        const char *probe[] = {"EVALSHA", jwts_redis_script_sha(JWTS_SCRIPT_SET), "0"};
        assert_true(redis_server_command(&server, out, sizeof out, 3, probe));
        assert_true(strncmp(out, "-NOSCRIPT", 9) == 0);
        assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_OK); /* EVALSHA, NOSCRIPT, EVAL */
        jwts_session_key k = {s.user_id, s.session_id};
        assert_int_equal(jwts_store_delete(st, NULL, &k), JWTS_OK);
        /* and EVAL loaded it again */
        assert_true(redis_server_command(&server, out, sizeof out, 3, probe));
        assert_false(strncmp(out, "-NOSCRIPT", 9) == 0);
        jwts_store_free(st);
    }
}

/* ---- READONLY ---------------------------------------------------------------------------- */

static void replica_reads_but_refuses_writes(void **state)
{
    jwts_store *primary = open_store(&server, false, NULL);
    char id[32];
    jwts_session s = make_session("replica", id, "{\"r\":1}");
    assert_int_equal(jwts_store_set(primary, NULL, &s, 60000), JWTS_OK);

    redis_server replica = {0};
    char conf[128];
    snprintf(conf, sizeof conf, "replicaof 127.0.0.1 %d\n", server.port);
    assert_true(redis_server_start(&replica, conf));
    jwts_store *st = open_store(&replica, false, NULL);
    jwts_session_key k = {s.user_id, s.session_id};
    jwts_session *got = NULL;
    jwts_err rc = JWTS_E_NOT_FOUND;
    for (int i = 0; i < 200 && rc == JWTS_E_NOT_FOUND; i++) { /* until the initial sync is done */
        rc = jwts_store_get(st, NULL, &k, &got);
        if (rc == JWTS_E_NOT_FOUND || rc == JWTS_E_UNAVAILABLE) {
            rc = JWTS_E_NOT_FOUND;
            struct timespec ts = {0, 50000000};
            nanosleep(&ts, NULL);
        }
    }
    assert_int_equal(rc, JWTS_OK);
    assert_true(same(got, &s));
    jwts_session_free(got);
    jwts_session_list list;
    assert_int_equal(jwts_store_list_user(st, NULL, s.user_id, &list), JWTS_OK); /* read-only script */
    assert_int_equal(list.count, 1);
    jwts_session_list_free(&list);
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_E_UNAVAILABLE);
    assert_non_null(strstr(jwts_errdetail(), "READONLY"));
    assert_int_equal(jwts_store_delete(st, NULL, &k), JWTS_E_UNAVAILABLE);
    jwts_store_free(st);
    redis_server_destroy(&replica);
    assert_int_equal(jwts_store_delete(primary, NULL, &k), JWTS_OK);
    jwts_store_free(primary);
}

/* ---- foreign data ------------------------------------------------------------------------ */

static void foreign_data_is_reported(void **state)
{
    jwts_store *st = open_store(&server, false, NULL);
    char id[32];
    jwts_session s = make_session("foreign", id, NULL);
    char key[256];
    char tag[JWTS_SESSION_TAG_LEN + 1], ikey[64];
    assert_true(jwts_user_tag("foreign", tag));
    snprintf(key, sizeof key, "jwts:{%s}:s:%s", tag, id);
    snprintf(ikey, sizeof ikey, "jwts:{%s}:u:foreign", tag);
    const char *set[] = {"SET", key, "not a record"};
    command(&server, "OK", 3, set);
    jwts_session_key k = {s.user_id, s.session_id};
    jwts_session *got = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &k, &got), JWTS_E_MALFORMED);
    assert_null(got);
    const char *idx[] = {"SET", ikey, "a string, not a sorted set"};
    command(&server, "OK", 3, idx);
    assert_int_equal(jwts_store_set(st, NULL, &s, 60000), JWTS_E_PROTOCOL);
    assert_non_null(strstr(jwts_errdetail(), "WRONGTYPE"));
    const char *del[] = {"DEL", ikey, key};
    command(&server, NULL, 3, del);
    jwts_store_free(st);
}

/* ---- the mapping table ------------------------------------------------------------------- */

static void error_replies_map_to_codes(void **state)
{
    static const struct {
        const char *text;
        jwts_err code;
    } cases[] = {
        {"LOADING Redis is loading the dataset in memory", JWTS_E_UNAVAILABLE},
        {"READONLY You can't write against a read only replica.", JWTS_E_UNAVAILABLE},
        {"OOM command not allowed when used memory > 'maxmemory'.", JWTS_E_LIMIT},
        {"NOSCRIPT No matching script. Please use EVAL.", JWTS_E_INTERNAL},
        {"BUSY Redis is busy running a script.", JWTS_E_UNAVAILABLE},
        {"MOVED 3999 127.0.0.1:6381", JWTS_E_UNSUPPORTED},
        {"WRONGTYPE Operation against a key holding the wrong kind of value", JWTS_E_PROTOCOL},
        {"ERR unknown command", JWTS_E_PROTOCOL},
        {"LOADINGX not a known code", JWTS_E_PROTOCOL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        redisReply r = {.type = REDIS_REPLY_ERROR, .str = (char *)cases[i].text, .len = strlen(cases[i].text)};
        assert_int_equal(jwts_redis_reply_fail(&r, "op"), cases[i].code);
        assert_non_null(strstr(jwts_errdetail(), cases[i].text));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_replies_map_to_codes),
        cmocka_unit_test(refused_is_unavailable),
        cmocka_unit_test(huge_array_is_refused),
        cmocka_unit_test(busy_server_gives_timeout_then_recovers),
        cmocka_unit_test(auth_errors_are_unavailable_with_redis_message),
        cmocka_unit_test(oom_is_limit_and_leaves_old_state),
        cmocka_unit_test(script_flush_is_survived),
        cmocka_unit_test(replica_reads_but_refuses_writes),
        cmocka_unit_test(foreign_data_is_reported),
    };
    return cmocka_run_group_tests_name("redis errors", tests, start_server, stop_server);
}
