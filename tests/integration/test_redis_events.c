/*
 * test_redis_events.c - the lifecycle events stream of the Redis store (docs/events.md) on its
 * own redis-server: each lifecycle path (a new device too) appends exactly its events, in order,
 * with and without a manager sink; expiry comes from the sweep of the expiry index (no keyspace notifications); two
 * consumers of one group share the events, disjoint and together all of them; a consumer that
 * stops before acknowledging gets its pending entries back when it comes again; and the store
 * conformance and manager suites pass with events on.
 *
 * Built twice: as test_redis_events on one redis-server, and with EVENTS_ON_CLUSTER as
 * test_cluster_events on a Redis Cluster of 3 masters and 3 replicas (tests/cluster), where each
 * slot has an outbox relayed to the stream; there an event a writer left in its outbox (it died
 * before relaying) reaches the stream through the sweep, once, with its event_id.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jwtsession/jwtsession.h"
#include "manager_suite.h"
#include "redis_server.h"
#include "store_conformance.h"
#ifdef EVENTS_ON_CLUSTER
#include "store/redis.h"
#include "topology.h"

static topo_cluster cluster;
#else
static redis_server srv;
#endif
static char base[512]; /* the store URL without its query */
#ifdef EVENTS_ON_CLUSTER
#define EVENTS_TARGET "redis cluster with events"
#else
#define EVENTS_TARGET "redis with events"
#endif

/* Run a command on the server holding its key (on a cluster, the master that does not answer
 * MOVED); the reply as text in out. */
static void raw(char *out, size_t cap, int argc, const char **argv)
{
#ifdef EVENTS_ON_CLUSTER
    for (size_t i = 0; i < cluster.n; i++) {
        assert_true(redis_server_command(&cluster.nodes[i], out, cap, argc, argv));
        if (strncmp(out, "-MOVED", 6) != 0) return;
    }
    fail_msg("no node holds %s", argv[1]);
#else
    assert_true(redis_server_command(&srv, out, cap, argc, argv));
#endif
}

#define MAX_SEEN 256

typedef struct seen {
    char json[MAX_SEEN][1024];
    char id[MAX_SEEN][48];
    size_t n;
    size_t stop_after; /* 0: never stop */
} seen;

static bool collect(void *arg, const char *id, const char *json)
{
    seen *s = arg;
    if (s->stop_after && s->n >= s->stop_after) return false; /* "killed" before its ack */
    assert_true(s->n < MAX_SEEN);
    snprintf(s->json[s->n], sizeof s->json[0], "%s", json);
    snprintf(s->id[s->n], sizeof s->id[0], "%s", id);
    s->n++;
    return true;
}

static jwts_store *open_events(const char *stream, const char *extra)
{
    char url[768];
    snprintf(url, sizeof url, "%s?events=%s&key_prefix=%s:%s", base, stream, stream, extra ? extra : "");
    jwts_store *st = NULL;
    jwts_err rc = jwts_store_open_url(url, &st);
    if (rc) fail_msg("open %s: %s: %s", url, jwts_errname(rc), jwts_errdetail());
    return st;
}

/* Read everything new in the stream as group/consumer. */
static void drain(jwts_store *st, const char *group, const char *consumer, seen *out)
{
    size_t handled = 0;
    do {
        jwts_err rc = jwts_store_redis_events_read(st, NULL, group, consumer, 50, 0, collect, out, &handled);
        if (rc) fail_msg("events_read: %s: %s", jwts_errname(rc), jwts_errdetail());
    } while (handled > 0);
}

typedef struct mgr {
    jwts_store *st;
    jwts_keyset *keys;
    jwts_manager *m;
    size_t sink_events;
} mgr;

static void count_sink(void *arg, const jwts_event *ev)
{
    (void)ev;
    ((mgr *)arg)->sink_events++;
}

static void mgr_open(mgr *g, const char *stream, bool sink, int64_t lifetime_ms)
{
    memset(g, 0, sizeof *g);
    g->st = open_events(stream, NULL);
    jwts_key *k;
    assert_int_equal(jwts_keyset_new(&g->keys), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_HS256, "k1", &k), JWTS_OK);
    assert_int_equal(jwts_keyset_add(g->keys, k, 1), JWTS_OK);
    jwts_manager_options o = {.store = g->st, .keyset = g->keys, .max_sessions_per_user = 2,
                              .limit_policy = JWTS_LIMIT_EVICT_OLDEST, .refresh_grace_ms = -1,
                              .absolute_lifetime_ms = lifetime_ms,
                              .on_event = sink ? count_sink : NULL, .on_event_arg = g};
    assert_int_equal(jwts_manager_new(&o, &g->m), JWTS_OK);
}

static void mgr_close(mgr *g)
{
    jwts_manager_free(g->m);
    jwts_store_free(g->st);
    jwts_keyset_free(g->keys);
}

static void create_ok(mgr *g, const char *user, jwts_tokens *t)
{
    jwts_err rc = jwts_manager_create(g->m, NULL, user, NULL, t);
    if (rc) fail_msg("create: %s: %s", jwts_errname(rc), jwts_errdetail());
}

/* "type/session/reason" of each event, and no token anywhere. */
static void expect_events(const seen *s, const char *const *want, size_t n, const char *const *secrets, size_t nsec)
{
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < nsec; j++) assert_null(strstr(s->json[i], secrets[j]));
    if (s->n != n) {
        for (size_t i = 0; i < s->n; i++) fprintf(stderr, "got %s\n", s->json[i]);
        fail_msg("%zu events, want %zu", s->n, n);
    }
    for (size_t i = 0; i < n; i++) {
        if (!strstr(s->json[i], want[i])) fail_msg("event %zu: %s lacks %s", i, s->json[i], want[i]);
    }
}

/* Every lifecycle path, in order; with sink the manager takes its one-by-one paths. */
static void lifecycle(bool sink)
{
    const char *stream = sink ? "evs1" : "evs0";
    mgr g;
    mgr_open(&g, stream, sink, 0);
    jwts_tokens a1, a2, a3, b1, b2, c0, c1 = {0}, c2 = {0};
    create_ok(&g, "alice", &a1);
    usleep(2000); /* created_at orders the eviction */
    create_ok(&g, "alice", &a2);
    usleep(2000);
    create_ok(&g, "alice", &a3); /* evicts a1 */
    assert_int_equal(jwts_manager_refresh(g.m, NULL, a2.refresh_token, &a2), JWTS_OK);
    assert_int_equal(jwts_manager_revoke(g.m, NULL, "alice", a2.session_id), JWTS_OK);
    assert_int_equal(jwts_manager_revoke_by(g.m, NULL, "alice", a3.session_id, JWTS_REVOKE_ADMIN), JWTS_OK);
    assert_int_equal(jwts_manager_revoke(g.m, NULL, "alice", a3.session_id), JWTS_E_NOT_FOUND); /* nothing */
    create_ok(&g, "bob", &b1);
    create_ok(&g, "bob", &b2);
    size_t n = 0;
    assert_int_equal(jwts_manager_revoke_user(g.m, NULL, "bob", &n), JWTS_OK);
    assert_int_equal(n, 2);
    create_ok(&g, "carol", &c0);
    assert_int_equal(jwts_manager_refresh(g.m, NULL, c0.refresh_token, &c1), JWTS_OK);
    assert_int_equal(jwts_manager_refresh(g.m, NULL, c1.refresh_token, &c2), JWTS_OK);
    jwts_device thief = {.ip = "2001:db8::7", .user_agent = "curl/8.5.0"};
    assert_int_equal(jwts_manager_refresh_device(g.m, NULL, c0.refresh_token, &thief, &(jwts_tokens){0}),
                     JWTS_E_REFRESH_REUSED);

    seen s = {0};
    drain(g.st, "audit", "one", &s);
    char w[32][160];
    size_t k = 0;
#define WANT(type, t, extra) snprintf(w[k++], sizeof w[0], "\"type\":\"%s\",\"user_id\":\"%s\",\"session_id\":\"%s\"%s", type, \
                                      strcmp(t.session_id, a1.session_id) == 0 || strcmp(t.session_id, a2.session_id) == 0 || \
                                      strcmp(t.session_id, a3.session_id) == 0 ? "alice" : \
                                      strcmp(t.session_id, c0.session_id) == 0 ? "carol" : "bob", t.session_id, extra)
    WANT("created", a1, "");
    WANT("created", a2, "");
    WANT("revoked", a1, ",\"time_ms\":");
    WANT("created", a3, "");
    WANT("refreshed", a2, "");
    WANT("revoked", a2, "");
    WANT("revoked", a3, "");
    WANT("created", b1, "");
    WANT("created", b2, "");
    WANT("revoked", b1, "");
    WANT("revoked", b2, "");
    WANT("created", c0, "");
    WANT("refreshed", c0, "");
    WANT("refreshed", c0, "");
    WANT("theft_detected", c0, "");
    WANT("revoked", c0, "");
    const char *want[32];
    for (size_t i = 0; i < k; i++) want[i] = w[i];
    /* bob's two may come in either order from revoke_user: compare them as a set */
    if (strstr(s.json[9], b2.session_id)) {
        char tmp[1024];
        memcpy(tmp, s.json[9], sizeof tmp);
        memcpy(s.json[9], s.json[10], sizeof tmp);
        memcpy(s.json[10], tmp, sizeof tmp);
    }
    const char *secrets[] = {a1.refresh_token, a2.refresh_token, c0.refresh_token, c1.refresh_token,
                             c2.refresh_token, a1.access_token, c2.access_token};
    expect_events(&s, want, k, secrets, sizeof secrets / sizeof *secrets);
    assert_non_null(strstr(s.json[2], "\"reason\":\"limit\""));
    assert_non_null(strstr(s.json[4], "\"generation\":1"));
    assert_non_null(strstr(s.json[5], "\"reason\":\"user\""));
    assert_non_null(strstr(s.json[6], "\"reason\":\"admin\""));
    assert_non_null(strstr(s.json[9], "\"reason\":\"admin\""));
    assert_non_null(strstr(s.json[14], "\"generation\":2"));
    assert_null(strstr(s.json[14], "rotated_out_at_ms")); /* an older generation: not known */
    assert_non_null(strstr(s.json[14], "\"client_ip\":\"2001:db8::7\",\"user_agent\":\"curl/8.5.0\""));
    assert_null(strstr(s.json[15], "client_ip"));
    assert_non_null(strstr(s.json[15], "\"reason\":\"theft\""));
    /* the sink saw the same changes (theft is two events there too) */
    if (sink) assert_int_equal(g.sink_events, k);
    jwts_tokens *all[] = {&a1, &a2, &a3, &b1, &b2, &c0, &c1, &c2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) jwts_tokens_clear(all[i]);
    mgr_close(&g);
#undef WANT
}

static void test_lifecycle_without_sink(void **state)
{
    (void)state;
    lifecycle(false);
}

static void test_lifecycle_with_sink(void **state)
{
    (void)state;
    lifecycle(true);
}

/* "Sign out everywhere else" on the stream: one revoked per other session, the kept one stays. */
static void test_revoke_user_except(void **state)
{
    (void)state;
    mgr g;
    mgr_open(&g, "eve", false, 0);
    jwts_tokens a, b;
    create_ok(&g, "mia", &a);
    create_ok(&g, "mia", &b);
    size_t n = 0;
    assert_int_equal(jwts_manager_revoke_user_except(g.m, NULL, "mia", "nope", &n), JWTS_E_NOT_FOUND);
    assert_int_equal(jwts_manager_revoke_user_except(g.m, NULL, "mia", b.session_id, &n), JWTS_OK);
    assert_int_equal(n, 1);
    seen s = {0};
    drain(g.st, "audit", "one", &s);
    assert_int_equal(s.n, 3);
    assert_non_null(strstr(s.json[2], "\"type\":\"revoked\""));
    assert_non_null(strstr(s.json[2], a.session_id));
    assert_non_null(strstr(s.json[2], "\"reason\":\"user\""));
    jwts_tokens_clear(&a);
    jwts_tokens_clear(&b);
    mgr_close(&g);
}

/* Expiry: the sweep turns what Redis dropped into "expired", once; a revoked session never
 * expires; a refreshed one moves its expiry. */
static void test_expiry_sweep(void **state)
{
    (void)state;
    mgr g;
    mgr_open(&g, "evx", false, 1500);
    jwts_tokens dies, revoked;
    create_ok(&g, "dave", &dies);
    create_ok(&g, "erin", &revoked);
    assert_int_equal(jwts_manager_revoke(g.m, NULL, "erin", revoked.session_id), JWTS_OK);
    size_t removed = 9;
    assert_int_equal(jwts_manager_cleanup(g.m, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 0); /* nothing due yet */
    usleep(1700 * 1000);
    assert_int_equal(jwts_manager_cleanup(g.m, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(jwts_manager_cleanup(g.m, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 0);
    seen s = {0};
    drain(g.st, "audit", "one", &s);
    assert_int_equal(s.n, 4);
    assert_non_null(strstr(s.json[3], "\"type\":\"expired\""));
    assert_non_null(strstr(s.json[3], dies.session_id));
    assert_non_null(strstr(s.json[3], "\"user_id\":\"dave\""));
    char cfg[64] = "";
    const char *argv[] = {"CONFIG", "GET", "notify-keyspace-events"};
    raw(cfg, sizeof cfg, 3, argv);
    assert_null(strstr(cfg, "Ex")); /* no keyspace notifications were needed */
    jwts_tokens_clear(&dies);
    jwts_tokens_clear(&revoked);
    mgr_close(&g);
}

/* Two consumers of one group: disjoint, and together every event; another group sees all. */
static void test_group_shares_events(void **state)
{
    (void)state;
    mgr g;
    mgr_open(&g, "evg", false, 0);
    jwts_tokens t;
    for (int i = 0; i < 30; i++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", i);
        create_ok(&g, user, &t);
        jwts_tokens_clear(&t);
    }
    seen *c1 = calloc(1, sizeof *c1), *c2 = calloc(1, sizeof *c2), *all = calloc(1, sizeof *all);
    size_t h1 = 0, h2 = 0;
    do { /* alternate, a few at a time */
        assert_int_equal(jwts_store_redis_events_read(g.st, NULL, "workers", "c1", 4, 0, collect, c1, &h1), JWTS_OK);
        assert_int_equal(jwts_store_redis_events_read(g.st, NULL, "workers", "c2", 3, 0, collect, c2, &h2), JWTS_OK);
    } while (h1 + h2 > 0);
    assert_true(c1->n > 0 && c2->n > 0);
    assert_int_equal(c1->n + c2->n, 30);
    for (size_t i = 0; i < c1->n; i++)
        for (size_t j = 0; j < c2->n; j++) assert_string_not_equal(c1->id[i], c2->id[j]);
    drain(g.st, "audit", "x", all);
    assert_int_equal(all->n, 30);
    free(c1), free(c2), free(all);
    mgr_close(&g);
}

/* A consumer that stops before acknowledging (as if killed) gets its pending entries back under
 * the same name from a new store handle, then the rest: nothing lost. */
static void test_restarted_consumer_resumes(void **state)
{
    (void)state;
    mgr g;
    mgr_open(&g, "evr", false, 0);
    jwts_tokens t;
    for (int i = 0; i < 10; i++) {
        char user[16];
        snprintf(user, sizeof user, "frank%d", i);
        create_ok(&g, user, &t);
        jwts_tokens_clear(&t);
        if (i == 1) assert_int_equal(jwts_manager_revoke_user(g.m, NULL, "frank1", NULL), JWTS_OK);
    }
    seen *first = calloc(1, sizeof *first), *again = calloc(1, sizeof *again), *all = calloc(1, sizeof *all);
    first->stop_after = 3; /* handles 3 of the batch of 8 it was given, then dies */
    size_t handled = 0;
    assert_int_equal(jwts_store_redis_events_read(g.st, NULL, "mailer", "m1", 8, 0, collect, first, &handled), JWTS_OK);
    assert_int_equal(handled, 3);
    jwts_store *restarted = open_events("evr", NULL);
    drain(restarted, "mailer", "m1", again);
    assert_int_equal(first->n + again->n, 11);
    drain(g.st, "audit", "x", all);
    assert_int_equal(all->n, 11);
    for (size_t i = 0; i < all->n; i++) /* the same entries, in order, each once */
        assert_string_equal(i < 3 ? first->id[i] : again->id[i - 3], all->id[i]);
    jwts_store_free(restarted);
    free(first), free(again), free(all);
    mgr_close(&g);
}

/* A new device goes into the stream in the same script as its created/refreshed entry, right after
 * it, with the client; the same user agent again, or no option, adds none. */
static void test_new_device(void **state)
{
    (void)state;
    mgr g;
    mgr_open(&g, "evsdev", false, 0);
    jwts_manager_free(g.m);
    jwts_manager_options o = {.store = g.st, .keyset = g.keys, .new_device_events = true};
    assert_int_equal(jwts_manager_new(&o, &g.m), JWTS_OK);
    jwts_device phone = {.ip = "192.0.2.7", .user_agent = "Phone/1"}, tablet = {.user_agent = "Tablet/3"};
    jwts_tokens a, b, r;
    assert_int_equal(jwts_manager_create_device(g.m, NULL, "erin", NULL, &phone, &a), JWTS_OK);
    assert_int_equal(jwts_manager_create_device(g.m, NULL, "erin", NULL, &phone, &b), JWTS_OK);
    assert_int_equal(jwts_manager_refresh_device(g.m, NULL, b.refresh_token, &tablet, &r), JWTS_OK);
    seen s = {0};
    drain(g.st, "g", "c", &s);
    const char *want[] = {"\"type\":\"created\"", "\"type\":\"new_device\"", "\"type\":\"created\"",
                          "\"type\":\"refreshed\"", "\"type\":\"new_device\""};
    const char *secrets[] = {a.refresh_token, b.refresh_token, r.refresh_token};
    expect_events(&s, want, 5, secrets, 3);
    assert_non_null(strstr(s.json[1], a.session_id));
    assert_non_null(strstr(s.json[1], "\"client_ip\":\"192.0.2.7\""));
    assert_non_null(strstr(s.json[1], "\"user_agent\":\"Phone/1\""));
    assert_non_null(strstr(s.json[4], b.session_id));
    assert_non_null(strstr(s.json[4], "\"user_agent\":\"Tablet/3\""));
    assert_null(strstr(s.json[4], "client_ip"));
    jwts_tokens_clear(&a);
    jwts_tokens_clear(&b);
    jwts_tokens_clear(&r);
    mgr_close(&g);
}

static void test_options_checked(void **state)
{
    (void)state;
    jwts_store *st = NULL;
    char url[768];
    snprintf(url, sizeof url, "redis-cluster://127.0.0.1:1?events=a{b}"); /* outbox keys carry the slot's tag */
    assert_int_equal(jwts_store_open_url(url, &st), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "without braces"));
    snprintf(url, sizeof url, "%s?events=x&events_maxlen=0", base);
    assert_int_equal(jwts_store_open_url(url, &st), JWTS_E_INVALID_ARGUMENT);
    snprintf(url, sizeof url, "%s", base);
    assert_int_equal(jwts_store_open_url(url, &st), JWTS_OK);
    size_t n;
    assert_int_equal(jwts_store_redis_events_read(st, NULL, "g", "c", 1, 0, collect, NULL, &n), JWTS_E_UNSUPPORTED);
    jwts_store_free(st);
#ifdef EVENTS_ON_CLUSTER
    st = open_events("evo", NULL);
#else
    st = open_events("evo", "&pipeline=true"); /* no blocking read on the auto-pipeline */
    assert_int_equal(jwts_store_redis_events_read(st, NULL, "g", "c", 1, 10, collect, NULL, &n), JWTS_E_UNSUPPORTED);
#endif
    assert_int_equal(jwts_store_redis_events_read(st, NULL, "g c", "c", 1, 0, collect, NULL, &n),
                     JWTS_E_INVALID_ARGUMENT);
    jwts_store_free(st);
}

/* The stream stays bounded: MAXLEN ~ keeps about events_maxlen entries. */
static void test_stream_bounded(void **state)
{
    (void)state;
    jwts_store *st = open_events("evb", "&events_maxlen=100");
    jwts_keyset *ks;
    jwts_key *k;
    assert_int_equal(jwts_keyset_new(&ks), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_HS256, "k1", &k), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, k, 1), JWTS_OK);
    jwts_manager *m;
    jwts_manager_options o = {.store = st, .keyset = ks};
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_OK);
    for (int i = 0; i < 1000; i++) {
        jwts_tokens t;
        assert_int_equal(jwts_manager_create(m, NULL, "gina", NULL, &t), JWTS_OK);
        jwts_tokens_clear(&t);
    }
    char out[64];
    const char *argv[] = {"XLEN", "evb"};
    raw(out, sizeof out, 2, argv);
    long len = strtol(out, NULL, 10);
    assert_true(len >= 100 && len < 300);
    jwts_manager_free(m);
    jwts_keyset_free(ks);
    jwts_store_free(st);
}

static jwts_err open_suite(void *arg, jwts_store **out)
{
    char url[768];
    snprintf(url, sizeof url, "%s?events=suite:ev&key_prefix=suite:%s", base, arg ? "&pipeline=true" : "");
    return jwts_store_open_url(url, out);
}

#ifdef EVENTS_ON_CLUSTER
/* A writer that died between its write and its relay left an event in its slot's outbox: the
 * sweep relays it, once, with "event_id" naming the slot and the outbox entry. The sweep of every
 * slot runs once a second across all processes: one more left within that second waits for the
 * next turn. */
static void test_sweep_relays_what_a_writer_left(void **state)
{
    (void)state;
    jwts_store *st = open_events("evl", NULL);
    redis_events ev = {.stream = "evl", .maxlen = 1000, .per_slot = true};
    char outbox[JWTS_REDIS_EVENTS_KEY_MAX], index[JWTS_REDIS_EVENTS_KEY_MAX], out[256];
    unsigned slot = 4242;
    jwts_redis_events_slot_keys(&ev, slot, outbox, index);
    assert_int_equal(jwts_redis_key_slot(outbox, strlen(outbox)), slot);
    assert_int_equal(jwts_redis_key_slot(index, strlen(index)), slot);
    const char *add[] = {"XADD", outbox, "*", "type", "revoked", "user_id", "zoe", "session_id", "left-behind"};
    raw(out, sizeof out, 9, add);
    size_t removed = 0;
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    seen s = {0};
    drain(st, "audit", "one", &s);
    assert_int_equal(s.n, 1);
    assert_non_null(strstr(s.json[0], "\"session_id\":\"left-behind\""));
    char event_id[300];
    snprintf(event_id, sizeof event_id, "\"event_id\":\"%u-%s", slot, out);
    assert_non_null(strstr(s.json[0], event_id));
    const char *len[] = {"XLEN", outbox};
    raw(out, sizeof out, 2, len);
    assert_string_equal(out, "0"); /* relayed, then deleted from the outbox */
    raw(out, sizeof out, 9, add); /* one more: the next sweep is not this process's turn for 1 s */
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    seen again = {0};
    drain(st, "audit", "one", &again);
    assert_int_equal(again.n, 0);
    raw(out, sizeof out, 2, len);
    assert_string_equal(out, "1");
    usleep(1100 * 1000);
    assert_int_equal(jwts_store_cleanup(st, NULL, &removed), JWTS_OK);
    drain(st, "audit", "one", &again);
    assert_int_equal(again.n, 1);
    jwts_store_free(st);
}

/* The stream's master hangs (CLIENT PAUSE WRITE, 1.5 s) while users of the other masters sign in:
 * every create succeeds (its relay gives up after its budget and hands its entries back), and once
 * the master answers again one sweep relays every event, each once. */
static void test_stream_master_paused(void **state)
{
    (void)state;
    mgr g;
    mgr_open(&g, "evp", false, 0);
    char out[256];
    const char *xlen[] = {"XLEN", "evp"};
    size_t owner = cluster.n;
    for (size_t i = 0; i < cluster.n && owner == cluster.n; i++) {
        assert_true(redis_server_command(&cluster.nodes[i], out, sizeof out, 2, xlen));
        if (out[0] != '-') owner = i; /* a master of the stream's slot; the others answer MOVED */
    }
    assert_true(owner < cluster.n);
    char users[4][32];
    size_t n = 0;
    for (int i = 0; n < 4 && i < 1000; i++) { /* users whose keys live on another master */
        char tag[JWTS_SESSION_TAG_LEN + 1], key[96];
        snprintf(users[n], sizeof users[n], "paused-%d", i);
        assert_true(jwts_user_tag(users[n], tag));
        snprintf(key, sizeof key, "evp:{%s}:u:%s", tag, users[n]);
        const char *exists[] = {"EXISTS", key};
        assert_true(redis_server_command(&cluster.nodes[owner], out, sizeof out, 2, exists));
        if (strncmp(out, "-MOVED", 6) == 0) n++;
    }
    assert_int_equal(n, 4);
    const char *pause[] = {"CLIENT", "PAUSE", "1500", "WRITE"};
    assert_true(redis_server_command(&cluster.nodes[owner], out, sizeof out, 4, pause));
    jwts_tokens t[4];
    for (size_t i = 0; i < n; i++) create_ok(&g, users[i], &t[i]);
    usleep(1600 * 1000); /* the pause is over */
    size_t removed = 0;
    assert_int_equal(jwts_manager_cleanup(g.m, NULL, &removed), JWTS_OK);
    seen s = {0};
    drain(g.st, "audit", "one", &s);
    assert_int_equal(s.n, n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < s.n; j++) found = found || strstr(s.json[j], t[i].session_id);
        assert_true(found);
        jwts_tokens_clear(&t[i]);
    }
    mgr_close(&g);
}
#endif

int main(void)
{
#ifdef EVENTS_ON_CLUSTER
    if (!topo_cluster_start(&cluster, 3, 1, 2000)) return 1;
    topo_cluster_url(&cluster, base, sizeof base);
#else
    if (!redis_server_start(&srv, NULL)) return 1;
    snprintf(base, sizeof base, "redis://127.0.0.1:%d", srv.port);
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_without_sink), cmocka_unit_test(test_lifecycle_with_sink),
        cmocka_unit_test(test_expiry_sweep),           cmocka_unit_test(test_group_shares_events),
        cmocka_unit_test(test_revoke_user_except),
        cmocka_unit_test(test_restarted_consumer_resumes), cmocka_unit_test(test_options_checked),
        cmocka_unit_test(test_stream_bounded),      cmocka_unit_test(test_new_device),
#ifdef EVENTS_ON_CLUSTER
        cmocka_unit_test(test_sweep_relays_what_a_writer_left), cmocka_unit_test(test_stream_master_paused),
#endif
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* the event form of every script keeps the store's and the manager's contracts */
    jwts_conformance_target ct = {.name = EVENTS_TARGET, .open = open_suite};
    failed += jwts_store_conformance_run(&ct);
    jwts_manager_target mt = {.name = EVENTS_TARGET, .open = open_suite};
    failed += jwts_manager_suite_run(&mt);
#ifdef EVENTS_ON_CLUSTER
    topo_cluster_destroy(&cluster);
#else
    redis_server_destroy(&srv);
#endif
    return failed != 0;
}
