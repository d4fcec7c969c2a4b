/*
 * test_redis_conformance.c - the shared store conformance suite against a real redis-server
 * (the CTest fixture's), over TCP and a unix socket, pooled and auto-pipelined, and pooled with
 * callers that spin for their replies (spin_us).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "jwtsession/jwtsession.h"
#include "redis_server.h"
#include "store_conformance.h"

static int port;
static char socket_path[300];

typedef struct mode {
    bool unix_socket, pipeline, spin;
} mode;

static jwts_err open_redis(void *arg, jwts_store **out)
{
    const mode *m = arg;
    jwts_redis_options o = {.pool_size = 4, .auto_pipeline = m->pipeline, .key_prefix = "conf:"};
    char url[400];
    if (m->unix_socket)
        snprintf(url, sizeof url, "unix://%s?db=1", socket_path);
    else
        snprintf(url, sizeof url, "redis://127.0.0.1:%d/1%s", port, m->spin ? "?spin_us=200" : "");
    o.url = url;
    return jwts_store_redis_new(&o, out);
}

static void put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (unsigned char)v;
}

/* A record laid out by hand as the Redis store wrote it before sessions had a device. */
static size_t old_record(const jwts_session *s, unsigned char *out)
{
    size_t u = strlen(s->user_id), i = strlen(s->session_id), m = strlen(s->metadata);
    memset(out, 0, 304);
    memcpy(out, "jws\002", 4);
    put_be(out + 4, (uint64_t)s->created_at_ms, 8), put_be(out + 12, (uint64_t)s->updated_at_ms, 8);
    put_be(out + 20, (uint64_t)s->expires_at_ms, 8), put_be(out + 28, (uint64_t)s->idle_expires_at_ms, 8);
    put_be(out + 36, (uint64_t)s->last_seen_ms, 8);
    memcpy(out + 44, s->refresh.current_hash, 32);
    put_be(out + 292, u, 4), put_be(out + 296, i, 4), put_be(out + 300, m, 4);
    memcpy(out + 304, s->user_id, u), memcpy(out + 304 + u, s->session_id, i), memcpy(out + 304 + u + i, s->metadata, m);
    return 304 + u + i + m;
}

/* Run one binary-safe command on the fixture's db 1; the reply's integer (or 0). */
static long long raw_command(int argc, const char **argv, const size_t *lens)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, "SELECT 1");
    assert_non_null(r);
    freeReplyObject(r);
    r = redisCommandArgv(c, argc, argv, lens);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Sessions in Redis from before devices existed read as sessions without one (plain and through
 * the near cache), take a device on their next write, may be kept by "sign out everywhere
 * else"; a device trailer that does not add up is JWTS_E_MALFORMED. */
static void record_without_device_still_reads(void **state)
{
    char user[64], id[JWTS_SESSION_ID_LEN + 1], other[JWTS_SESSION_ID_LEN + 1], rkey[200], ikey[200], score[32];
    snprintf(user, sizeof user, "olduser-%lld", (long long)jwts_now_ms());
    assert_int_equal(jwts_session_id_new(user, id), JWTS_OK);
    assert_int_equal(jwts_session_id_new(user, other), JWTS_OK);
    int64_t now = jwts_now_ms();
    jwts_session s = {.user_id = user, .session_id = id, .created_at_ms = now, .updated_at_ms = now,
                      .expires_at_ms = now + 3600000, .last_seen_ms = now, .metadata = "{\"device\":\"mine\"}"};
    s.refresh.current_hash[0] = 7;
    unsigned char rec[600];
    size_t len = old_record(&s, rec);
    char tag[JWTS_SESSION_TAG_LEN + 1];
    assert_true(jwts_user_tag(user, tag));
    snprintf(rkey, sizeof rkey, "conf:{%s}:s:%s", tag, id);
    snprintf(ikey, sizeof ikey, "conf:{%s}:u:%s", tag, user);
    snprintf(score, sizeof score, "%lld", (long long)(now + 3600000));
    const char *set[] = {"SET", rkey, (const char *)rec, "PX", "3600000"};
    size_t set_lens[] = {3, strlen(rkey), len, 2, 7};
    raw_command(5, set, set_lens);
    const char *zadd[] = {"ZADD", ikey, score, id};
    size_t zadd_lens[] = {4, strlen(ikey), strlen(score), strlen(id)};
    raw_command(4, zadd, zadd_lens);
    for (int cached = 0; cached < 2; cached++) {
        jwts_store *st = NULL;
        char url[120];
        snprintf(url, sizeof url, "redis://127.0.0.1:%d/1", port);
        jwts_redis_options o = {.url = url, .key_prefix = "conf:"};
        assert_int_equal(jwts_store_redis_new(&o, &st), JWTS_OK);
        if (cached) {
            jwts_redis_cache_options co = {.enabled = true};
            assert_int_equal(jwts_store_redis_cache_enable(st, &co), JWTS_OK);
        }
        for (int twice = 0; twice < 2; twice++) { /* the second one may be a cache hit */
            jwts_session *got = NULL;
            assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){user, id}, &got), JWTS_OK);
            assert_true(jwts_session_equal(got, &s));
            assert_null(got->client_ip);
            assert_null(got->user_agent);
            jwts_session_free(got);
        }
        jwts_session_list list;
        assert_int_equal(jwts_store_list_user(st, NULL, user, &list), JWTS_OK);
        assert_int_equal(list.count, 1);
        jwts_session_list_free(&list);
        jwts_store_free(st);
    }
    jwts_store *st = NULL;
    char url[120];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/1", port);
    assert_int_equal(jwts_store_redis_new(&(jwts_redis_options){.url = url, .key_prefix = "conf:"}, &st), JWTS_OK);
    jwts_session o = s;
    o.session_id = other;
    assert_int_equal(jwts_store_set(st, NULL, &o, 3600000), JWTS_OK);
    s.client_ip = "2001:db8::5", s.user_agent = "Safari/17";
    assert_int_equal(jwts_store_replace(st, NULL, &s, s.refresh.current_hash, 3600000), JWTS_OK);
    size_t n = 0;
    assert_int_equal(jwts_store_delete_user_except(st, NULL, user, id, &n), JWTS_OK);
    assert_int_equal(n, 1);
    jwts_session *got = NULL;
    assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){user, id}, &got), JWTS_OK);
    assert_true(jwts_session_equal(got, &s));
    jwts_session_free(got);
    /* a device trailer that does not add up */
    const unsigned char bad[][5] = {{0, 0, 0}, {46, 0, 0}, {2, 0, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memcpy(rec + len, bad[i], 5);
        set_lens[2] = len + (i == 2 ? 5 : 3);
        raw_command(5, set, set_lens);
        got = NULL;
        assert_int_equal(jwts_store_get(st, NULL, &(jwts_session_key){user, id}, &got), JWTS_E_MALFORMED);
        assert_null(got);
    }
    jwts_store_free(st);
}

int main(void)
{
    if (!redis_fixture_address(&port, socket_path, sizeof socket_path)) {
        fprintf(stderr, "JWTS_TEST_REDIS_DIR is not set up (run through ctest)\n");
        return 1;
    }
    static const mode modes[] = {{false, false, false}, {true, false, false}, {false, true, false},
                                 {true, true, false},   {false, false, true}};
    static const char *names[] = {"redis tcp pool", "redis unix pool", "redis tcp auto-pipeline",
                                  "redis unix auto-pipeline", "redis tcp pool spin_us=200"};
    int failures = 0;
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        jwts_conformance_target t = {.name = names[i], .open = open_redis, .arg = (void *)&modes[i]};
        failures += jwts_store_conformance_run(&t);
    }
    const struct CMUnitTest records[] = {cmocka_unit_test(record_without_device_still_reads)};
    failures += cmocka_run_group_tests_name("redis records of earlier versions", records, NULL, NULL);
    return failures != 0;
}
