/*
 * test_events.c - lifecycle events over the memory store: each path (create, refresh, revoke by
 * user and admin, revoke-user, limit eviction, theft, expiry, a new device) emits exactly its events, a failed
 * operation none, and the JSON form carries ids and times only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwtsession/jwtsession.h"

#define MAX_EVENTS 32

typedef struct seen {
    jwts_event_kind kind;
    char user[64], sid[JWTS_SESSION_ID_MAX + 1];
    jwts_revoke_reason reason;
    uint64_t generation;
    int64_t reused_generation;
    int64_t time_ms, rotated_out_at_ms;
    char ip[64], ua[64];
} seen;

typedef struct recorder {
    seen ev[MAX_EVENTS];
    size_t n;
} recorder;

static int64_t now_value = 1700000000000;
static int64_t fake_now(void *arg) { return (void)arg, now_value; }
static const jwts_clock CLOCK = {fake_now, NULL};

static void record(void *arg, const jwts_event *e)
{
    recorder *r = arg;
    assert_true(r->n < MAX_EVENTS);
    seen *s = &r->ev[r->n++];
    s->kind = e->kind;
    snprintf(s->user, sizeof s->user, "%s", e->user_id);
    snprintf(s->sid, sizeof s->sid, "%s", e->session_id);
    s->reason = e->reason;
    s->generation = e->generation;
    s->reused_generation = e->reused_generation;
    s->time_ms = e->time_ms;
    s->rotated_out_at_ms = e->rotated_out_at_ms;
    snprintf(s->ip, sizeof s->ip, "%s", e->client_ip ? e->client_ip : "");
    snprintf(s->ua, sizeof s->ua, "%s", e->user_agent ? e->user_agent : "");
}

typedef struct fixture {
    jwts_store *store;
    jwts_keyset *keys;
    jwts_manager *m;
    recorder rec;
} fixture;

/* A manager on a memory store without its sweep thread, both on the fake clock. */
static fixture *fixture_new(const jwts_manager_options *extra)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    jwts_memory_options mo = {.sweep_interval_ms = -1, .clock = &CLOCK};
    assert_int_equal(jwts_store_memory_new(&mo, &f->store), JWTS_OK);
    jwts_key *k;
    assert_int_equal(jwts_keyset_new(&f->keys), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_HS256, "k1", &k), JWTS_OK);
    assert_int_equal(jwts_keyset_add(f->keys, k, 1), JWTS_OK);
    jwts_manager_options o = extra ? *extra : (jwts_manager_options){0};
    o.store = f->store;
    o.keyset = f->keys;
    o.clock = &CLOCK;
    o.on_event = record;
    o.on_event_arg = &f->rec;
    assert_int_equal(jwts_manager_new(&o, &f->m), JWTS_OK);
    return f;
}

static void fixture_free(fixture *f)
{
    jwts_manager_free(f->m);
    jwts_store_free(f->store);
    jwts_keyset_free(f->keys);
    free(f);
}

static void create_ok(fixture *f, const char *user, jwts_tokens *t)
{
    jwts_err rc = jwts_manager_create(f->m, NULL, user, NULL, t);
    if (rc) fail_msg("create: %s: %s", jwts_errname(rc), jwts_errdetail());
}

static void expect(const fixture *f, size_t i, jwts_event_kind kind, const char *sid, jwts_revoke_reason reason)
{
    assert_true(i < f->rec.n);
    assert_string_equal(jwts_event_kind_name(f->rec.ev[i].kind), jwts_event_kind_name(kind));
    if (sid) assert_string_equal(f->rec.ev[i].sid, sid);
    assert_int_equal(f->rec.ev[i].reason, reason);
}

static void test_create_emits_created(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    jwts_tokens t;
    create_ok(f, "alice", &t);
    assert_int_equal(f->rec.n, 1);
    expect(f, 0, JWTS_EVENT_CREATED, t.session_id, JWTS_REVOKE_NONE);
    assert_string_equal(f->rec.ev[0].user, "alice");
    assert_int_equal(f->rec.ev[0].time_ms, now_value);
    jwts_tokens_clear(&t);
    fixture_free(f);
}

static void test_refresh_emits_refreshed(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    jwts_tokens t;
    create_ok(f, "bob", &t);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &t), JWTS_OK);
    assert_int_equal(f->rec.n, 2);
    expect(f, 1, JWTS_EVENT_REFRESHED, t.session_id, JWTS_REVOKE_NONE);
    assert_int_equal(f->rec.ev[1].generation, 1);
    /* a failed refresh (a token that is not ours) emits nothing */
    char bad[JWTS_REFRESH_TOKEN_MAX + 1];
    snprintf(bad, sizeof bad, "%s", t.refresh_token);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    assert_int_not_equal(jwts_manager_refresh(f->m, NULL, bad, &(jwts_tokens){0}), JWTS_OK);
    assert_int_equal(f->rec.n, 2);
    jwts_tokens_clear(&t);
    fixture_free(f);
}

static void test_revoke_by_user_and_admin(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    jwts_tokens a, b;
    create_ok(f, "carol", &a);
    create_ok(f, "carol", &b);
    assert_int_equal(jwts_manager_revoke(f->m, NULL, "carol", a.session_id), JWTS_OK);
    assert_int_equal(jwts_manager_revoke_by(f->m, NULL, "carol", b.session_id, JWTS_REVOKE_ADMIN), JWTS_OK);
    assert_int_equal(f->rec.n, 4);
    expect(f, 2, JWTS_EVENT_REVOKED, a.session_id, JWTS_REVOKE_USER);
    expect(f, 3, JWTS_EVENT_REVOKED, b.session_id, JWTS_REVOKE_ADMIN);
    /* revoking what is gone fails and emits nothing */
    assert_int_equal(jwts_manager_revoke(f->m, NULL, "carol", a.session_id), JWTS_E_NOT_FOUND);
    assert_int_equal(f->rec.n, 4);
    /* by the session id alone: the event still names the session's user */
    jwts_tokens c;
    create_ok(f, "carol", &c);
    assert_int_equal(jwts_manager_revoke_by(f->m, NULL, NULL, c.session_id, JWTS_REVOKE_ADMIN), JWTS_OK);
    assert_int_equal(f->rec.n, 6);
    expect(f, 5, JWTS_EVENT_REVOKED, c.session_id, JWTS_REVOKE_ADMIN);
    assert_string_equal(f->rec.ev[5].user, "carol");
    assert_int_equal(jwts_manager_revoke_by(f->m, NULL, NULL, c.session_id, JWTS_REVOKE_ADMIN), JWTS_E_NOT_FOUND);
    assert_int_equal(f->rec.n, 6);
    jwts_tokens_clear(&c);
    jwts_tokens_clear(&a);
    jwts_tokens_clear(&b);
    fixture_free(f);
}

static void test_revoke_user_emits_one_per_session(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    jwts_tokens t[3], other;
    for (int i = 0; i < 3; i++) create_ok(f, "dave", &t[i]);
    create_ok(f, "erin", &other);
    size_t n = 0;
    assert_int_equal(jwts_manager_revoke_user(f->m, NULL, "dave", &n), JWTS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(f->rec.n, 4 + 3);
    for (int i = 0; i < 3; i++) {
        expect(f, 4 + (size_t)i, JWTS_EVENT_REVOKED, NULL, JWTS_REVOKE_ADMIN);
        assert_string_equal(f->rec.ev[4 + i].user, "dave");
        int found = 0;
        for (int j = 0; j < 3; j++) found += strcmp(f->rec.ev[4 + i].sid, t[j].session_id) == 0;
        assert_int_equal(found, 1);
    }
    assert_int_equal(jwts_manager_revoke_user_by(f->m, NULL, "erin", &n, JWTS_REVOKE_USER), JWTS_OK);
    assert_int_equal(n, 1);
    expect(f, 7, JWTS_EVENT_REVOKED, other.session_id, JWTS_REVOKE_USER);
    assert_int_equal(f->rec.n, 8);
    for (int i = 0; i < 3; i++) jwts_tokens_clear(&t[i]);
    jwts_tokens_clear(&other);
    fixture_free(f);
}

static void test_revoke_user_except(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    jwts_tokens t[3];
    for (int i = 0; i < 3; i++) create_ok(f, "lena", &t[i]);
    size_t n = 0;
    assert_int_equal(jwts_manager_revoke_user_except(f->m, NULL, "lena", "not-a-session", &n), JWTS_E_NOT_FOUND);
    assert_int_equal(jwts_manager_revoke_user_except(f->m, NULL, "lena", NULL, &n), JWTS_E_INVALID_ARGUMENT);
    assert_int_equal(f->rec.n, 3); /* nothing revoked, nothing told */
    assert_int_equal(jwts_manager_revoke_user_except(f->m, NULL, "lena", t[1].session_id, &n), JWTS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(f->rec.n, 5);
    expect(f, 3, JWTS_EVENT_REVOKED, NULL, JWTS_REVOKE_USER);
    expect(f, 4, JWTS_EVENT_REVOKED, NULL, JWTS_REVOKE_USER);
    for (int i = 3; i < 5; i++) assert_string_not_equal(f->rec.ev[i].sid, t[1].session_id);
    assert_int_equal(jwts_manager_revoke_user_except_by(f->m, NULL, "lena", t[1].session_id, &n, JWTS_REVOKE_ADMIN),
                     JWTS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(f->rec.n, 5);
    for (int i = 0; i < 3; i++) jwts_tokens_clear(&t[i]);
    fixture_free(f);
}

static void test_limit_eviction(void **state)
{
    (void)state;
    jwts_manager_options o = {.max_sessions_per_user = 2, .limit_policy = JWTS_LIMIT_EVICT_OLDEST};
    fixture *f = fixture_new(&o);
    jwts_tokens t[3];
    for (int i = 0; i < 3; i++) {
        create_ok(f, "frank", &t[i]);
        now_value += 1000; /* created_at orders the list */
    }
    assert_int_equal(f->rec.n, 4);
    expect(f, 0, JWTS_EVENT_CREATED, t[0].session_id, JWTS_REVOKE_NONE);
    expect(f, 1, JWTS_EVENT_CREATED, t[1].session_id, JWTS_REVOKE_NONE);
    expect(f, 2, JWTS_EVENT_REVOKED, t[0].session_id, JWTS_REVOKE_LIMIT);
    expect(f, 3, JWTS_EVENT_CREATED, t[2].session_id, JWTS_REVOKE_NONE);
    for (int i = 0; i < 3; i++) jwts_tokens_clear(&t[i]);
    fixture_free(f);

    /* refused at the limit: no event */
    o.limit_policy = JWTS_LIMIT_REFUSE;
    f = fixture_new(&o);
    create_ok(f, "frank", &t[0]);
    create_ok(f, "frank", &t[1]);
    assert_int_equal(jwts_manager_create(f->m, NULL, "frank", NULL, &t[2]), JWTS_E_LIMIT);
    assert_int_equal(f->rec.n, 2);
    for (int i = 0; i < 3; i++) jwts_tokens_clear(&t[i]);
    fixture_free(f);
}

/* An older generation comes back: theft (generation unknown), then the revocation. */
static void test_theft_older(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    jwts_tokens t0, t;
    create_ok(f, "grace", &t0);
    t = t0;
    t.access_token = NULL;
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &t), JWTS_OK);
    now_value += 60 * 1000;
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &t), JWTS_OK);
    jwts_device thief = {.ip = "203.0.113.9", .user_agent = "curl/8.5.0"};
    assert_int_equal(jwts_manager_refresh_device(f->m, NULL, t0.refresh_token, &thief, &(jwts_tokens){0}),
                     JWTS_E_REFRESH_REUSED);
    assert_int_equal(f->rec.n, 5);
    assert_string_equal(f->rec.ev[3].ip, "203.0.113.9"); /* who showed the old token */
    assert_string_equal(f->rec.ev[3].ua, "curl/8.5.0");
    assert_string_equal(f->rec.ev[4].ip, ""); /* the revocation itself carries no client */
    expect(f, 3, JWTS_EVENT_THEFT_DETECTED, t0.session_id, JWTS_REVOKE_NONE);
    assert_int_equal(f->rec.ev[3].generation, 2);
    assert_int_equal(f->rec.ev[3].reused_generation, -1);
    assert_int_equal(f->rec.ev[3].rotated_out_at_ms, 0);
    expect(f, 4, JWTS_EVENT_REVOKED, t0.session_id, JWTS_REVOKE_THEFT);
    /* the same stolen token again: the session is gone, nothing more is emitted */
    assert_int_not_equal(jwts_manager_refresh(f->m, NULL, t0.refresh_token, &(jwts_tokens){0}), JWTS_OK);
    assert_int_equal(f->rec.n, 5);
    jwts_tokens_clear(&t0);
    jwts_tokens_clear(&t);
    fixture_free(f);
}

/* The previous generation comes back after its successor was used and the grace passed: its
 * generation and rotation time are known. */
static void test_theft_previous(void **state)
{
    (void)state;
    fixture *f = fixture_new(NULL);
    jwts_tokens t0, t1 = {0};
    create_ok(f, "heidi", &t0);
    int64_t rotated = now_value;
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t0.refresh_token, &t1), JWTS_OK);
    now_value += 1000;
    assert_int_equal(jwts_manager_validate(f->m, NULL, t1.access_token, strlen(t1.access_token), NULL, NULL),
                     JWTS_OK); /* confirms the new pair */
    now_value += 60 * 1000;    /* past the 10 s grace */
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t0.refresh_token, &(jwts_tokens){0}), JWTS_E_REFRESH_REUSED);
    assert_int_equal(f->rec.n, 4);
    expect(f, 2, JWTS_EVENT_THEFT_DETECTED, t0.session_id, JWTS_REVOKE_NONE);
    assert_int_equal(f->rec.ev[2].generation, 1);
    assert_int_equal(f->rec.ev[2].reused_generation, 0); /* the first pair is generation 0 */
    assert_int_equal(f->rec.ev[2].rotated_out_at_ms, rotated);
    expect(f, 3, JWTS_EVENT_REVOKED, t0.session_id, JWTS_REVOKE_THEFT);
    jwts_tokens_clear(&t0);
    jwts_tokens_clear(&t1);
    fixture_free(f);
}

static void test_cleanup_emits_expired_once(void **state)
{
    (void)state;
    jwts_manager_options o = {.absolute_lifetime_ms = 60 * 1000};
    fixture *f = fixture_new(&o);
    jwts_tokens live, dead, revoked;
    create_ok(f, "ivan", &dead);
    create_ok(f, "ivan", &revoked);
    assert_int_equal(jwts_manager_revoke(f->m, NULL, "ivan", revoked.session_id), JWTS_OK);
    now_value += 30 * 1000;
    create_ok(f, "judy", &live);
    now_value += 31 * 1000; /* dead is past its lifetime, live is not */
    size_t removed = 0;
    assert_int_equal(jwts_manager_cleanup(f->m, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(f->rec.n, 5);
    expect(f, 4, JWTS_EVENT_EXPIRED, dead.session_id, JWTS_REVOKE_NONE);
    assert_string_equal(f->rec.ev[4].user, "ivan");
    assert_int_equal(f->rec.ev[4].time_ms, now_value);
    assert_int_equal(jwts_manager_cleanup(f->m, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(f->rec.n, 5);
    /* a read that finds a session expired drops it, with its one event */
    now_value += 60 * 1000;
    jwts_session *s = NULL;
    jwts_session_key key = {"judy", live.session_id};
    assert_int_equal(jwts_store_get(f->store, NULL, &key, &s), JWTS_E_NOT_FOUND);
    assert_int_equal(f->rec.n, 6);
    expect(f, 5, JWTS_EVENT_EXPIRED, live.session_id, JWTS_REVOKE_NONE);
    assert_int_equal(jwts_manager_cleanup(f->m, NULL, &removed), JWTS_OK);
    assert_int_equal(f->rec.n, 6);
    jwts_tokens_clear(&live);
    jwts_tokens_clear(&dead);
    jwts_tokens_clear(&revoked);
    fixture_free(f);
}

/* Freeing the manager removes its expiry hook: the store outlives it without calling it. */
static void test_free_removes_hook(void **state)
{
    (void)state;
    jwts_manager_options o = {.absolute_lifetime_ms = 60 * 1000};
    fixture *f = fixture_new(&o);
    jwts_tokens t;
    create_ok(f, "ken", &t);
    jwts_manager_free(f->m);
    f->m = NULL;
    now_value += 61 * 1000;
    size_t removed = 0;
    assert_int_equal(jwts_store_cleanup(f->store, NULL, &removed), JWTS_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(f->rec.n, 1);
    jwts_tokens_clear(&t);
    fixture_free(f);
}

/* Create and refresh with a device: new_device is emitted only with the option on, only for a user
 * agent none of the user's other sessions has, right after the created/refreshed event, with the
 * client; a device without a user agent is never new. */
static void test_new_device(void **state)
{
    (void)state;
    jwts_manager_options o = {.new_device_events = true};
    fixture *f = fixture_new(&o);
    jwts_device phone = {.ip = "192.0.2.7", .user_agent = "Phone/1"}, laptop = {.ip = "2001:db8::5", .user_agent = "Laptop/2"},
                anon = {.ip = "192.0.2.9", .user_agent = NULL};
    jwts_tokens a, b, c, d, r;
    assert_int_equal(jwts_manager_create_device(f->m, NULL, "carol", NULL, &phone, &a), JWTS_OK);
    assert_int_equal(f->rec.n, 2); /* the user's first device is new */
    expect(f, 0, JWTS_EVENT_CREATED, a.session_id, JWTS_REVOKE_NONE);
    expect(f, 1, JWTS_EVENT_NEW_DEVICE, a.session_id, JWTS_REVOKE_NONE);
    assert_string_equal(f->rec.ev[1].user, "carol");
    assert_string_equal(f->rec.ev[1].ip, "192.0.2.7");
    assert_string_equal(f->rec.ev[1].ua, "Phone/1");

    phone.ip = "198.51.100.3"; /* the same phone on another network: not a new device */
    assert_int_equal(jwts_manager_create_device(f->m, NULL, "carol", NULL, &phone, &b), JWTS_OK);
    assert_int_equal(f->rec.n, 3);
    expect(f, 2, JWTS_EVENT_CREATED, b.session_id, JWTS_REVOKE_NONE);

    assert_int_equal(jwts_manager_create_device(f->m, NULL, "carol", NULL, &anon, &c), JWTS_OK);
    assert_int_equal(f->rec.n, 4); /* no user agent: unknown, never new */

    assert_int_equal(jwts_manager_create_device(f->m, NULL, "carol", NULL, &laptop, &d), JWTS_OK);
    assert_int_equal(f->rec.n, 6);
    expect(f, 5, JWTS_EVENT_NEW_DEVICE, d.session_id, JWTS_REVOKE_NONE);
    assert_string_equal(f->rec.ev[5].ip, "2001:db8::5");

    /* a refresh from the session's own device, or from a device another session has: none */
    assert_int_equal(jwts_manager_refresh_device(f->m, NULL, d.refresh_token, &laptop, &r), JWTS_OK);
    assert_int_equal(f->rec.n, 7);
    expect(f, 6, JWTS_EVENT_REFRESHED, d.session_id, JWTS_REVOKE_NONE);
    jwts_tokens r2;
    assert_int_equal(jwts_manager_refresh_device(f->m, NULL, r.refresh_token, &phone, &r2), JWTS_OK);
    assert_int_equal(f->rec.n, 8);
    /* a refresh from a user agent none of carol's sessions has: refreshed, then new_device */
    jwts_device tablet = {.ip = "203.0.113.4", .user_agent = "Tablet/3"};
    jwts_tokens r3;
    assert_int_equal(jwts_manager_refresh_device(f->m, NULL, r2.refresh_token, &tablet, &r3), JWTS_OK);
    assert_int_equal(f->rec.n, 10);
    expect(f, 8, JWTS_EVENT_REFRESHED, d.session_id, JWTS_REVOKE_NONE);
    expect(f, 9, JWTS_EVENT_NEW_DEVICE, d.session_id, JWTS_REVOKE_NONE);
    assert_string_equal(f->rec.ev[9].ua, "Tablet/3");

    /* another user's devices do not count */
    jwts_tokens e;
    assert_int_equal(jwts_manager_create_device(f->m, NULL, "dave", NULL, &phone, &e), JWTS_OK);
    assert_int_equal(f->rec.n, 12);
    expect(f, 11, JWTS_EVENT_NEW_DEVICE, e.session_id, JWTS_REVOKE_NONE);
    assert_string_equal(f->rec.ev[11].user, "dave");
    jwts_tokens *all[] = {&a, &b, &c, &d, &r, &r2, &r3, &e};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) jwts_tokens_clear(all[i]);
    fixture_free(f);

    /* option off (the default): a device never makes a new_device event */
    f = fixture_new(NULL);
    assert_int_equal(jwts_manager_create_device(f->m, NULL, "carol", NULL, &tablet, &a), JWTS_OK);
    assert_int_equal(f->rec.n, 1);
    expect(f, 0, JWTS_EVENT_CREATED, a.session_id, JWTS_REVOKE_NONE);
    jwts_tokens_clear(&a);
    fixture_free(f);
}

static void test_json(void **state)
{
    (void)state;
    char buf[JWTS_EVENT_JSON_MAX];
    size_t len = 0;
    jwts_event e = {.kind = JWTS_EVENT_THEFT_DETECTED, .user_id = "u\"1", .session_id = "S1", .time_ms = 5,
                    .generation = 3, .reused_generation = 2, .rotated_out_at_ms = 4, .client_ip = "127.0.0.1"};
    assert_int_equal(jwts_event_json(&e, buf, sizeof buf, &len), JWTS_OK);
    assert_string_equal(buf, "{\"type\":\"theft_detected\",\"user_id\":\"u\\\"1\",\"session_id\":\"S1\",\"time_ms\":5,"
                             "\"generation\":3,\"reused_generation\":2,\"rotated_out_at_ms\":4,"
                             "\"client_ip\":\"127.0.0.1\"}");
    assert_int_equal(len, strlen(buf));
    e = (jwts_event){.kind = JWTS_EVENT_REVOKED, .user_id = "u", .session_id = "S", .time_ms = 1,
                     .reason = JWTS_REVOKE_LIMIT};
    assert_int_equal(jwts_event_json(&e, buf, sizeof buf, &len), JWTS_OK);
    assert_string_equal(buf, "{\"type\":\"revoked\",\"user_id\":\"u\",\"session_id\":\"S\",\"time_ms\":1,"
                             "\"reason\":\"limit\"}");
    assert_int_equal(jwts_event_json(&e, buf, 10, &len), JWTS_E_LIMIT);
    assert_string_equal(buf, "");
    /* the worst case fits the documented bound */
    char user[JWTS_USER_ID_MAX + 1], ua[1024];
    memset(user, '"', JWTS_USER_ID_MAX);
    user[JWTS_USER_ID_MAX] = '\0';
    memset(ua, 1, sizeof ua - 1);
    ua[sizeof ua - 1] = '\0';
    e = (jwts_event){.kind = JWTS_EVENT_THEFT_DETECTED, .user_id = user, .session_id = user, .client_ip = ua,
                     .user_agent = ua, .time_ms = INT64_MIN, .generation = UINT64_MAX, .reused_generation = INT64_MAX,
                     .rotated_out_at_ms = INT64_MIN, .reason = JWTS_REVOKE_THEFT};
    assert_int_equal(jwts_event_json(&e, buf, sizeof buf, &len), JWTS_OK);
    assert_string_equal(jwts_revoke_reason_name(JWTS_REVOKE_USER), "user");
    assert_string_equal(jwts_event_kind_name(JWTS_EVENT_NEW_DEVICE), "new_device");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_emits_created),
        cmocka_unit_test(test_refresh_emits_refreshed),
        cmocka_unit_test(test_revoke_by_user_and_admin),
        cmocka_unit_test(test_revoke_user_emits_one_per_session),
        cmocka_unit_test(test_revoke_user_except),
        cmocka_unit_test(test_limit_eviction),
        cmocka_unit_test(test_theft_older),
        cmocka_unit_test(test_theft_previous),
        cmocka_unit_test(test_cleanup_emits_expired_once),
        cmocka_unit_test(test_free_removes_hook),
        cmocka_unit_test(test_new_device),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
