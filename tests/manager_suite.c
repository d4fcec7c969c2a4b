/*
 * manager_suite.c - the session manager's lifecycle tests, run over any store (the memory store
 * in tests/unit, a real Redis in tests/integration): create, validate, refresh with grace and
 * theft detection, the 64-thread refresh race, revoke, revoke all, list, metadata, limits, idle
 * and absolute expiry on an injected clock.
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
#include "jwtsession/manager.h"
#include "manager_suite.h"

static const jwts_manager_target *target;
static char run_tag[12];

/* The injected clock: starts at the real time (Redis TTLs run on real time), moved by tests. */
static int64_t clock_offset_ms;
static int64_t test_now(void *arg)
{
    (void)arg;
    return jwts_now_ms() + __atomic_load_n(&clock_offset_ms, __ATOMIC_SEQ_CST);
}
static const jwts_clock TEST_CLOCK = {test_now, NULL};
static void travel_ms(int64_t ms) { __atomic_add_fetch(&clock_offset_ms, ms, __ATOMIC_SEQ_CST); }

typedef struct fixture {
    jwts_store *store;
    jwts_keyset *keys;
    jwts_manager *m;
} fixture;

static jwts_keyset *hs256_keys(void)
{
    jwts_keyset *ks;
    jwts_key *k;
    assert_int_equal(jwts_keyset_new(&ks), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_HS256, "k1", &k), JWTS_OK);
    assert_int_equal(jwts_keyset_add(ks, k, 1), JWTS_OK);
    return ks;
}

static fixture *fixture_new(const jwts_manager_options *extra)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(target->open(target->arg, &f->store), JWTS_OK);
    f->keys = hs256_keys();
    jwts_manager_options o = extra ? *extra : (jwts_manager_options){0};
    o.store = f->store;
    o.keyset = f->keys;
    o.issuer = "https://auth.example.test";
    o.audience = "api";
    o.clock = &TEST_CLOCK;
    jwts_err rc = jwts_manager_new(&o, &f->m);
    if (rc) fail_msg("manager_new: %s: %s", jwts_errname(rc), jwts_errdetail());
    __atomic_store_n(&clock_offset_ms, 0, __ATOMIC_SEQ_CST);
    return f;
}

static void fixture_free(fixture *f)
{
    jwts_manager_free(f->m);
    jwts_store_free(f->store);
    jwts_keyset_free(f->keys);
    free(f);
}

static void user_name(char *out, size_t cap, const char *base) { snprintf(out, cap, "%s-%s", base, run_tag); }

static void create_ok(fixture *f, const char *user, const char *metadata, jwts_tokens *t)
{
    jwts_err rc = jwts_manager_create(f->m, NULL, user, metadata, t);
    if (rc) fail_msg("create: %s: %s", jwts_errname(rc), jwts_errdetail());
}

static jwts_err validate(fixture *f, const char *token)
{
    return jwts_manager_validate(f->m, NULL, token, strlen(token), NULL, NULL);
}

/* ---- create, validate, revoke ------------------------------------------------------------ */

static void create_then_validate(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "alice");
    jwts_tokens t;
    create_ok(f, user, "{ \"device\": \"laptop\" }", &t);
    assert_int_equal(strlen(t.session_id), JWTS_SESSION_ID_LEN);
    assert_int_equal(t.expires_in_s, 15 * 60);
    assert_true(t.refresh_expires_in_s > 29 * 24 * 3600);
    jwts_validation v;
    jwts_session *s = NULL;
    assert_int_equal(jwts_manager_validate(f->m, NULL, t.access_token, strlen(t.access_token), &v, &s), JWTS_OK);
    assert_string_equal(v.user_id, user);
    assert_string_equal(v.session_id, t.session_id);
    assert_non_null(s);
    assert_string_equal(s->metadata, "{\"device\":\"laptop\"}");
    jwts_session_free(s);

    /* the refresh token names the session but is not stored: only its hash is */
    char u[JWTS_USER_ID_MAX + 1], sid[JWTS_SESSION_ID_MAX + 1];
    assert_int_equal(jwts_refresh_token_parse(t.refresh_token, u, sid), JWTS_OK);
    assert_string_equal(u, user);
    assert_string_equal(sid, t.session_id);
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(f->m, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    char *json = NULL;
    assert_int_equal(jwts_session_to_json(list.items[0], &json, NULL), JWTS_OK);
    const char *secret = strrchr(t.refresh_token, '.') + 1;
    assert_null(strstr(json, secret));
    free(json);
    jwts_session_list_free(&list);
    jwts_tokens_clear(&t);
    assert_null(t.access_token);
    fixture_free(f);
}

static void bad_tokens_are_refused(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "mallory");
    jwts_tokens t;
    create_ok(f, user, NULL, &t);
    char *forged = strdup(t.access_token);
    char *c = forged + strlen(forged) - 10; /* a signature character, away from the final partial one */
    *c = *c == 'A' ? 'B' : 'A';
    assert_int_equal(validate(f, forged), JWTS_E_BAD_SIGNATURE);
    assert_int_equal(validate(f, "not.a.token"), JWTS_E_MALFORMED);
    assert_int_equal(validate(f, t.refresh_token), JWTS_E_MALFORMED);
    free(forged);

    /* a token signed by another key with the same kid */
    jwts_keyset *other = hs256_keys();
    jwts_manager_options o = {.store = f->store, .keyset = other, .issuer = "https://auth.example.test",
                              .audience = "api", .clock = &TEST_CLOCK};
    jwts_manager *m2;
    assert_int_equal(jwts_manager_new(&o, &m2), JWTS_OK);
    jwts_tokens t2;
    assert_int_equal(jwts_manager_create(m2, NULL, user, NULL, &t2), JWTS_OK);
    assert_int_equal(validate(f, t2.access_token), JWTS_E_BAD_SIGNATURE);
    jwts_tokens_clear(&t2);
    jwts_manager_free(m2);
    jwts_keyset_free(other);

    /* another audience */
    o = (jwts_manager_options){.store = f->store, .keyset = f->keys, .issuer = "https://auth.example.test",
                               .audience = "billing", .clock = &TEST_CLOCK};
    assert_int_equal(jwts_manager_new(&o, &m2), JWTS_OK);
    assert_int_equal(jwts_manager_validate(m2, NULL, t.access_token, strlen(t.access_token), NULL, NULL),
                     JWTS_E_CLAIM_MISMATCH);
    jwts_manager_free(m2);
    jwts_tokens_clear(&t);
    fixture_free(f);
}

static void revoke_is_instant(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "bob");
    jwts_tokens a, b;
    create_ok(f, user, NULL, &a);
    create_ok(f, user, NULL, &b);
    assert_int_equal(jwts_manager_revoke(f->m, NULL, user, a.session_id), JWTS_OK);
    assert_int_equal(validate(f, a.access_token), JWTS_E_REVOKED);
    assert_int_equal(validate(f, b.access_token), JWTS_OK);
    jwts_tokens r;
    assert_int_equal(jwts_manager_refresh(f->m, NULL, a.refresh_token, &r), JWTS_E_NOT_FOUND);
    assert_int_equal(jwts_manager_revoke(f->m, NULL, user, a.session_id), JWTS_E_NOT_FOUND);
    /* by its id alone (issue #16); naming another user finds nothing and leaves it */
    char other[64];
    user_name(other, sizeof other, "bob-other");
    assert_int_equal(jwts_manager_revoke(f->m, NULL, other, b.session_id), JWTS_E_NOT_FOUND);
    assert_int_equal(validate(f, b.access_token), JWTS_OK);
    assert_int_equal(jwts_manager_revoke(f->m, NULL, NULL, b.session_id), JWTS_OK);
    assert_int_equal(validate(f, b.access_token), JWTS_E_REVOKED);
    assert_int_equal(jwts_manager_revoke(f->m, NULL, NULL, b.session_id), JWTS_E_NOT_FOUND);
    assert_int_equal(jwts_manager_revoke(f->m, NULL, NULL, "web-1"), JWTS_E_NOT_FOUND); /* no tag */
    jwts_tokens_clear(&a);
    jwts_tokens_clear(&b);
    fixture_free(f);
}

/* The session of t as the manager lists it. */
static jwts_session *listed(fixture *f, const char *user, const char *sid)
{
    jwts_session_list list;
    jwts_session *out = NULL;
    assert_int_equal(jwts_manager_list(f->m, NULL, user, &list), JWTS_OK);
    for (size_t i = 0; i < list.count; i++)
        if (!strcmp(list.items[i]->session_id, sid)) assert_int_equal(jwts_session_clone(list.items[i], &out), JWTS_OK);
    jwts_session_list_free(&list);
    assert_non_null(out);
    return out;
}

/* Devices: recorded at create, replaced at a rotating refresh (a field left NULL is kept), not by
 * a grace-window retry, never inside the metadata; bad ones are refused before any write. */
static void devices_are_recorded(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "devices");
    jwts_tokens a, b, c;
    jwts_device laptop = {"192.0.2.10", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"};
    assert_int_equal(jwts_manager_create_device(f->m, NULL, user, "{\"app\":\"web\"}", &laptop, &a), JWTS_OK);
    jwts_session *s = listed(f, user, a.session_id);
    assert_string_equal(s->client_ip, "192.0.2.10");
    assert_string_equal(s->user_agent, laptop.user_agent);
    assert_string_equal(s->metadata, "{\"app\":\"web\"}");
    jwts_session_free(s);
    /* refresh from elsewhere: both fields change */
    travel_ms(2000);
    jwts_device moved = {"2001:db8::9", "Firefox/131.0"};
    assert_int_equal(jwts_manager_refresh_device(f->m, NULL, a.refresh_token, &moved, &b), JWTS_OK);
    s = listed(f, user, a.session_id);
    assert_string_equal(s->client_ip, "2001:db8::9");
    assert_string_equal(s->user_agent, "Firefox/131.0");
    assert_string_equal(s->metadata, "{\"app\":\"web\"}");
    jwts_session_free(s);
    /* a retry of the old token within the grace window writes nothing */
    jwts_device retry = {"198.51.100.1", "retry"};
    assert_int_equal(jwts_manager_refresh_device(f->m, NULL, a.refresh_token, &retry, &c), JWTS_OK);
    assert_string_equal(c.refresh_token, b.refresh_token);
    jwts_tokens_clear(&c);
    s = listed(f, user, a.session_id);
    assert_string_equal(s->client_ip, "2001:db8::9");
    jwts_session_free(s);
    /* a NULL field keeps the stored one; a plain refresh keeps both */
    jwts_device ip_only = {"127.0.0.5", NULL};
    assert_int_equal(jwts_manager_refresh_device(f->m, NULL, b.refresh_token, &ip_only, &c), JWTS_OK);
    s = listed(f, user, a.session_id);
    assert_string_equal(s->client_ip, "127.0.0.5");
    assert_string_equal(s->user_agent, "Firefox/131.0");
    jwts_session_free(s);
    jwts_tokens_clear(&b);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, c.refresh_token, &c), JWTS_OK);
    s = listed(f, user, a.session_id);
    assert_string_equal(s->client_ip, "127.0.0.5");
    jwts_session_free(s);
    /* bad devices: refused, nothing written or rotated */
    char long_ua[JWTS_USER_AGENT_MAX + 2];
    memset(long_ua, 'x', sizeof long_ua - 1);
    long_ua[sizeof long_ua - 1] = '\0';
    const jwts_device bad[] = {{"10.0.0.256", NULL}, {"::1%lo", NULL}, {NULL, long_ua}, {NULL, "a\nb"}, {"", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(jwts_manager_create_device(f->m, NULL, user, NULL, &bad[i], &b), JWTS_E_INVALID_ARGUMENT);
        assert_non_null(strstr(jwts_errdetail(), "device."));
        assert_int_equal(jwts_manager_refresh_device(f->m, NULL, c.refresh_token, &bad[i], &b), JWTS_E_INVALID_ARGUMENT);
    }
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(f->m, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    jwts_session_list_free(&list);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, c.refresh_token, &c), JWTS_OK); /* still current */
    /* no device at all: NULL fields */
    assert_int_equal(jwts_manager_create(f->m, NULL, user, NULL, &b), JWTS_OK);
    s = listed(f, user, b.session_id);
    assert_null(s->client_ip);
    assert_null(s->user_agent);
    jwts_session_free(s);
    jwts_tokens_clear(&a), jwts_tokens_clear(&b), jwts_tokens_clear(&c);
    fixture_free(f);
}

/* "Sign out everywhere else" through the manager: the kept session still validates and
 * refreshes, the others are revoked at once, another user is untouched. */
static void revoke_user_except_keeps_one(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64], other[64];
    user_name(user, sizeof user, "except");
    user_name(other, sizeof other, "except-other");
    jwts_tokens t[4], o;
    for (int i = 0; i < 4; i++) create_ok(f, user, NULL, &t[i]);
    create_ok(f, other, NULL, &o);
    size_t n = 0;
    assert_int_equal(jwts_manager_revoke_user_except(f->m, NULL, user, o.session_id, &n), JWTS_E_NOT_FOUND);
    /* no session to keep is a mistake, never "revoke them all" */
    assert_int_equal(jwts_manager_revoke_user_except(f->m, NULL, user, NULL, &n), JWTS_E_INVALID_ARGUMENT);
    for (int i = 0; i < 4; i++) assert_int_equal(validate(f, t[i].access_token), JWTS_OK);
    assert_int_equal(jwts_manager_revoke_user_except(f->m, NULL, user, t[1].session_id, &n), JWTS_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < 4; i++) assert_int_equal(validate(f, t[i].access_token), i == 1 ? JWTS_OK : JWTS_E_REVOKED);
    assert_int_equal(validate(f, o.access_token), JWTS_OK);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t[1].refresh_token, &t[1]), JWTS_OK);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t[0].refresh_token, &t[0]), JWTS_E_NOT_FOUND);
    assert_int_equal(jwts_manager_revoke_user_except(f->m, NULL, user, t[1].session_id, NULL), JWTS_OK);
    assert_int_equal(validate(f, t[1].access_token), JWTS_OK);
    for (int i = 0; i < 4; i++) jwts_tokens_clear(&t[i]);
    jwts_tokens_clear(&o);
    fixture_free(f);
}

#define MANY 2000

static void revoke_user_with_thousands(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64], other[64];
    user_name(user, sizeof user, "carol");
    user_name(other, sizeof other, "dave");
    jwts_tokens keep;
    create_ok(f, other, NULL, &keep);
    jwts_tokens first;
    create_ok(f, user, NULL, &first);
    for (int i = 1; i < MANY; i++) {
        jwts_tokens t;
        create_ok(f, user, "{\"i\":1}", &t);
        jwts_tokens_clear(&t);
    }
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(f->m, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, MANY);
    jwts_session_list_free(&list);
    size_t n = 0;
    assert_int_equal(jwts_manager_revoke_user(f->m, NULL, user, &n), JWTS_OK);
    assert_int_equal(n, MANY);
    assert_int_equal(validate(f, first.access_token), JWTS_E_REVOKED);
    assert_int_equal(jwts_manager_list(f->m, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 0);
    assert_int_equal(validate(f, keep.access_token), JWTS_OK);
    jwts_tokens_clear(&first);
    jwts_tokens_clear(&keep);
    fixture_free(f);
}

/* ---- refresh ----------------------------------------------------------------------------- */

static void refresh_rotates(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "erin");
    jwts_tokens t, r, again;
    create_ok(f, user, NULL, &t);
    travel_ms(5000);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &r), JWTS_OK);
    assert_string_equal(r.session_id, t.session_id);
    assert_string_not_equal(r.refresh_token, t.refresh_token);
    assert_string_not_equal(r.access_token, t.access_token);
    assert_int_equal(validate(f, r.access_token), JWTS_OK);
    assert_int_equal(validate(f, t.access_token), JWTS_OK); /* the old access token lives until its exp */

    /* the old refresh token again, within grace: the very same pair */
    travel_ms(2000);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &again), JWTS_OK);
    assert_string_equal(again.refresh_token, r.refresh_token);
    assert_string_equal(again.access_token, r.access_token);
    jwts_tokens_clear(&again);

    /* the new one rotates on */
    jwts_tokens r2;
    assert_int_equal(jwts_manager_refresh(f->m, NULL, r.refresh_token, &r2), JWTS_OK);
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(f->m, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    assert_int_equal(list.items[0]->refresh.generation, 2);
    jwts_session_list_free(&list);
    /* the first token is now two rotations old: theft, the session is revoked */
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &again), JWTS_E_REFRESH_REUSED);
    assert_int_equal(validate(f, r2.access_token), JWTS_E_REVOKED);
    jwts_tokens_clear(&t);
    jwts_tokens_clear(&r);
    jwts_tokens_clear(&r2);
    fixture_free(f);
}

static void reuse_after_grace_revokes(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "frank");
    jwts_tokens t, r, stolen;
    create_ok(f, user, NULL, &t);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &r), JWTS_OK);
    assert_int_equal(validate(f, r.access_token), JWTS_OK); /* the new pair is used */
    travel_ms(11000);                                       /* past the 10 s grace */
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &stolen), JWTS_E_REFRESH_REUSED);
    assert_null(stolen.access_token);
    assert_int_equal(validate(f, r.access_token), JWTS_E_REVOKED);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, r.refresh_token, &stolen), JWTS_E_NOT_FOUND);
    jwts_tokens_clear(&t);
    jwts_tokens_clear(&r);
    fixture_free(f);
}

/* Rotate t's session n times; tokens[0] = t, tokens[i] = the pair of rotation i. */
static void rotate_n(fixture *f, jwts_tokens *tokens, int n)
{
    for (int i = 1; i <= n; i++) {
        travel_ms(1000);
        jwts_err rc = jwts_manager_refresh(f->m, NULL, tokens[i - 1].refresh_token, &tokens[i]);
        if (rc) fail_msg("rotation %d: %s: %s", i, jwts_errname(rc), jwts_errdetail());
    }
}

static void clear_n(jwts_tokens *tokens, int n)
{
    for (int i = 0; i <= n; i++) jwts_tokens_clear(&tokens[i]);
}

/* A stolen token rotated twice or more by the thief: the victim's older token revokes the
 * session, for every generation kept (previous + JWTS_REFRESH_OLDER). */
static void older_generations_are_theft(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "olga");
    for (int depth = 2; depth <= 1 + JWTS_REFRESH_OLDER; depth++) {
        jwts_tokens tok[2 + JWTS_REFRESH_OLDER], out;
        create_ok(f, user, NULL, &tok[0]);
        rotate_n(f, tok, depth);
        assert_int_equal(jwts_manager_refresh(f->m, NULL, tok[0].refresh_token, &out), JWTS_E_REFRESH_REUSED);
        assert_int_equal(out.refresh_token[0], '\0'); /* empty after a failure */
        assert_int_equal(validate(f, tok[depth].access_token), JWTS_E_REVOKED);
        assert_int_equal(jwts_manager_refresh(f->m, NULL, tok[depth].refresh_token, &out), JWTS_E_NOT_FOUND);
        clear_n(tok, depth);
    }
    /* a secret from before the kept history is no longer recognised: refused, nothing revoked */
    jwts_tokens tok[3 + JWTS_REFRESH_OLDER], out;
    create_ok(f, user, NULL, &tok[0]);
    rotate_n(f, tok, 2 + JWTS_REFRESH_OLDER);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, tok[0].refresh_token, &out), JWTS_E_NOT_FOUND);
    assert_int_equal(validate(f, tok[2 + JWTS_REFRESH_OLDER].access_token), JWTS_OK);
    clear_n(tok, 2 + JWTS_REFRESH_OLDER);
    fixture_free(f);
}

/* The reply of a rotation was lost: the old token is retried long after the grace window and gets
 * the same refresh token, until the new pair has been used. */
static void lost_reply_can_be_retried(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "lena");
    jwts_tokens t, lost, retry, again, out;
    create_ok(f, user, NULL, &t);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &lost), JWTS_OK);
    travel_ms(60 * 1000); /* six grace windows later */
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &retry), JWTS_OK);
    assert_string_equal(retry.refresh_token, lost.refresh_token);
    assert_int_equal(validate(f, retry.access_token), JWTS_OK); /* the client now uses the new pair */
    travel_ms(60 * 60 * 1000);
    /* ... so the old token coming back is theft */
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &again), JWTS_E_REFRESH_REUSED);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, retry.refresh_token, &out), JWTS_E_NOT_FOUND);
    jwts_tokens_clear(&t);
    jwts_tokens_clear(&lost);
    jwts_tokens_clear(&retry);
    fixture_free(f);
}

/* After a retry the client rotates on with the new refresh token; the old one is then theft. */
static void retry_then_rotate_makes_old_theft(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "rita");
    jwts_tokens t, lost, retry, next, out;
    create_ok(f, user, NULL, &t);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &lost), JWTS_OK);
    travel_ms(30 * 1000);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &retry), JWTS_OK);
    assert_string_equal(retry.refresh_token, lost.refresh_token);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, retry.refresh_token, &next), JWTS_OK);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &out), JWTS_E_REFRESH_REUSED);
    assert_int_equal(validate(f, next.access_token), JWTS_E_REVOKED);
    jwts_tokens_clear(&t);
    jwts_tokens_clear(&lost);
    jwts_tokens_clear(&retry);
    jwts_tokens_clear(&next);
    fixture_free(f);
}

/* A thief rotates a stolen token and uses the new access token; the victim's token then revokes
 * the session even though it is the thief's previous one; and a metadata update in between does
 * not undo the confirmation. */
static void used_new_pair_makes_previous_theft(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "tess");
    jwts_tokens victim, thief, out;
    create_ok(f, user, NULL, &victim);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, victim.refresh_token, &thief), JWTS_OK);
    assert_int_equal(validate(f, thief.access_token), JWTS_OK);
    assert_int_equal(jwts_manager_update_metadata(f->m, NULL, user, thief.session_id, "{\"k\":1}"), JWTS_OK);
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(f->m, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    assert_true(list.items[0]->refresh.confirmed);
    jwts_session_list_free(&list);
    /* within the grace window the previous token still converges (a concurrent refresher) */
    assert_int_equal(jwts_manager_refresh(f->m, NULL, victim.refresh_token, &out), JWTS_OK);
    assert_string_equal(out.refresh_token, thief.refresh_token);
    jwts_tokens_clear(&out);
    travel_ms(11000);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, victim.refresh_token, &out), JWTS_E_REFRESH_REUSED);
    assert_int_equal(validate(f, thief.access_token), JWTS_E_REVOKED);
    jwts_tokens_clear(&victim);
    jwts_tokens_clear(&thief);
    fixture_free(f);
}

static void forged_refresh_tokens_revoke_nothing(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "grace");
    jwts_tokens t, out;
    create_ok(f, user, NULL, &t);
    /* right user and session, random secret: someone who read the access token's claims */
    char forged[512];
    const char *last_dot = strrchr(t.refresh_token, '.');
    snprintf(forged, sizeof forged, "%.*s.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             (int)(last_dot - t.refresh_token), t.refresh_token);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, forged, &out), JWTS_E_NOT_FOUND);
    assert_int_equal(validate(f, t.access_token), JWTS_OK);
    /* the same after rotations, when the session has a history of superseded secrets */
    jwts_tokens tok[4];
    tok[0] = t;
    rotate_n(f, tok, 3);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, forged, &out), JWTS_E_NOT_FOUND);
    assert_int_equal(validate(f, tok[3].access_token), JWTS_OK);
    for (int i = 1; i <= 3; i++) jwts_tokens_clear(&tok[i]);
    const char *malformed[] = {"", "a.b", "a.b.c.d", "!!.sid.AAAA", "dXNlcg.sid.short", "dXNlcg.s d.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                               "e30.sid.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" /* user "{}" */};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
        assert_int_equal(jwts_manager_refresh(f->m, NULL, malformed[i], &out), JWTS_E_MALFORMED);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, NULL, &out), JWTS_E_INVALID_ARGUMENT);
    jwts_tokens_clear(&t);
    fixture_free(f);
}

#define RACERS 64

typedef struct racer {
    jwts_manager *m;
    const char *token;
    pthread_barrier_t *go;
    jwts_err rc;
    jwts_tokens out;
} racer;

static void *race_refresh(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    r->rc = jwts_manager_refresh(r->m, NULL, r->token, &r->out);
    return NULL;
}

static void refresh_race_converges(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "race");
    jwts_tokens t;
    create_ok(f, user, NULL, &t);
    racer racers[RACERS];
    pthread_t threads[RACERS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (racer){.m = f->m, .token = t.refresh_token, .go = &go};
        assert_int_equal(pthread_create(&threads[i], NULL, race_refresh, &racers[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < RACERS; i++) {
        if (racers[i].rc) fail_msg("racer %d: %s: %s", i, jwts_errname(racers[i].rc), jwts_errdetail());
        assert_string_equal(racers[i].out.refresh_token, racers[0].out.refresh_token);
        assert_string_equal(racers[i].out.access_token, racers[0].out.access_token);
    }
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(f->m, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    assert_int_equal(list.items[0]->refresh.generation, 1); /* exactly one rotation happened */
    jwts_session_list_free(&list);
    assert_int_equal(validate(f, racers[0].out.access_token), JWTS_OK);
    for (int i = 0; i < RACERS; i++) jwts_tokens_clear(&racers[i].out);
    jwts_tokens_clear(&t);
    fixture_free(f);
}

/* ---- limits and expiry ------------------------------------------------------------------- */

static void max_sessions_refuse(void **state)
{
    jwts_manager_options o = {.max_sessions_per_user = 3};
    fixture *f = fixture_new(&o);
    char user[64];
    user_name(user, sizeof user, "henry");
    jwts_tokens t[4];
    for (int i = 0; i < 3; i++) create_ok(f, user, NULL, &t[i]);
    assert_int_equal(jwts_manager_create(f->m, NULL, user, NULL, &t[3]), JWTS_E_LIMIT);
    assert_null(t[3].access_token);
    for (int i = 0; i < 3; i++) assert_int_equal(validate(f, t[i].access_token), JWTS_OK);
    for (int i = 0; i < 3; i++) jwts_tokens_clear(&t[i]);
    fixture_free(f);
}

static void max_sessions_evict_oldest(void **state)
{
    jwts_manager_options o = {.max_sessions_per_user = 2, .limit_policy = JWTS_LIMIT_EVICT_OLDEST};
    fixture *f = fixture_new(&o);
    char user[64];
    user_name(user, sizeof user, "ivy");
    jwts_tokens t[3];
    for (int i = 0; i < 3; i++) {
        create_ok(f, user, NULL, &t[i]);
        travel_ms(10);
    }
    assert_int_equal(validate(f, t[0].access_token), JWTS_E_REVOKED);
    assert_int_equal(validate(f, t[1].access_token), JWTS_OK);
    assert_int_equal(validate(f, t[2].access_token), JWTS_OK);
    for (int i = 0; i < 3; i++) jwts_tokens_clear(&t[i]);
    fixture_free(f);
}

static void idle_sessions_expire_unless_seen(void **state)
{
    jwts_manager_options o = {.idle_timeout_ms = 60000, .touch_interval_ms = 10000, .access_ttl_ms = 3600000};
    fixture *f = fixture_new(&o);
    char user[64];
    user_name(user, sizeof user, "jack");
    jwts_tokens seen, unseen;
    create_ok(f, user, NULL, &seen);
    create_ok(f, user, NULL, &unseen);
    travel_ms(40000);
    assert_int_equal(validate(f, seen.access_token), JWTS_OK); /* touches: idle deadline moves on */
    travel_ms(40000);                                           /* 80 s after creation */
    assert_int_equal(validate(f, seen.access_token), JWTS_OK);
    assert_int_equal(validate(f, unseen.access_token), JWTS_E_EXPIRED);
    jwts_tokens r;
    assert_int_equal(jwts_manager_refresh(f->m, NULL, unseen.refresh_token, &r), JWTS_E_EXPIRED);
    jwts_tokens_clear(&seen);
    jwts_tokens_clear(&unseen);
    fixture_free(f);
}

static void absolute_lifetime_and_refresh_ttl(void **state)
{
    jwts_manager_options o = {.absolute_lifetime_ms = 3600000, .refresh_ttl_ms = 1800000};
    fixture *f = fixture_new(&o);
    char user[64];
    user_name(user, sizeof user, "kim");
    jwts_tokens t, r, r2;
    create_ok(f, user, NULL, &t);
    assert_int_equal(t.refresh_expires_in_s, 1800);
    travel_ms(20 * 60000);
    assert_int_equal(validate(f, t.access_token), JWTS_E_EXPIRED); /* the 15 min access token */
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &r), JWTS_OK);
    assert_int_equal(validate(f, r.access_token), JWTS_OK);
    travel_ms(25 * 60000); /* 45 min: the refresh token slid on; within 30 min of the last use */
    assert_int_equal(jwts_manager_refresh(f->m, NULL, r.refresh_token, &r2), JWTS_OK);
    travel_ms(20 * 60000); /* 65 min: past the absolute lifetime */
    jwts_tokens r3;
    assert_int_equal(jwts_manager_refresh(f->m, NULL, r2.refresh_token, &r3), JWTS_E_EXPIRED);
    jwts_tokens_clear(&t);
    jwts_tokens_clear(&r);
    jwts_tokens_clear(&r2);
    fixture_free(f);
}

static void refresh_token_dies_unused(void **state)
{
    jwts_manager_options o = {.refresh_ttl_ms = 60000};
    fixture *f = fixture_new(&o);
    char user[64];
    user_name(user, sizeof user, "lee");
    jwts_tokens t, r;
    create_ok(f, user, NULL, &t);
    travel_ms(61000);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &r), JWTS_E_EXPIRED);
    jwts_tokens_clear(&t);
    fixture_free(f);
}

/* ---- metadata ---------------------------------------------------------------------------- */

static void metadata_updates_keep_rotations(void **state)
{
    fixture *f = fixture_new(NULL);
    char user[64];
    user_name(user, sizeof user, "mia");
    jwts_tokens t, r;
    create_ok(f, user, "{\"label\":\"old\"}", &t);
    assert_int_equal(jwts_manager_refresh(f->m, NULL, t.refresh_token, &r), JWTS_OK);
    assert_int_equal(jwts_manager_update_metadata(f->m, NULL, user, t.session_id, "{\"label\":\"new\", \"n\": 2}"),
                     JWTS_OK);
    jwts_session_list list;
    assert_int_equal(jwts_manager_list(f->m, NULL, user, &list), JWTS_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.items[0]->metadata, "{\"label\":\"new\",\"n\":2}");
    assert_int_equal(list.items[0]->refresh.generation, 1);
    jwts_session_list_free(&list);
    jwts_tokens r2;
    assert_int_equal(jwts_manager_refresh(f->m, NULL, r.refresh_token, &r2), JWTS_OK); /* rotation kept */
    assert_int_equal(jwts_manager_update_metadata(f->m, NULL, user, t.session_id, "[1]"), JWTS_E_MALFORMED);
    assert_int_equal(jwts_manager_update_metadata(f->m, NULL, user, "AAAAAAAAAAAAAAAAAAAAAA", "{}"), JWTS_E_NOT_FOUND);
    jwts_tokens bad;
    assert_int_equal(jwts_manager_create(f->m, NULL, user, "{\"a\":", &bad), JWTS_E_MALFORMED);
    assert_int_equal(jwts_manager_create(f->m, NULL, "bad{user}", NULL, &bad), JWTS_E_INVALID_ARGUMENT);
    assert_null(bad.access_token);
    jwts_tokens_clear(&t);
    jwts_tokens_clear(&r);
    jwts_tokens_clear(&r2);
    fixture_free(f);
}

/* A resource server with only the public JWKS validates, sees revocations, and cannot sign. */
static void verify_only_manager(void **state)
{
    fixture *f = fixture_new(NULL);
    jwts_keyset *signer_keys, *public_keys;
    jwts_key *k;
    assert_int_equal(jwts_keyset_new(&signer_keys), JWTS_OK);
    assert_int_equal(jwts_key_generate(JWTS_ALG_ES256, NULL, &k), JWTS_OK);
    assert_int_equal(jwts_keyset_add(signer_keys, k, 1), JWTS_OK);
    char *jwks;
    assert_int_equal(jwts_keyset_to_jwks(signer_keys, &jwks), JWTS_OK);
    assert_int_equal(jwts_keyset_from_jwks(jwks, strlen(jwks), &public_keys), JWTS_OK);
    jwts_jose_free(jwks);
    assert_null(jwts_keyset_active(public_keys));

    jwts_manager_options o = {.store = f->store, .keyset = signer_keys, .issuer = "https://auth.example.test",
                              .audience = "api", .clock = &TEST_CLOCK};
    jwts_manager *signer, *verifier;
    assert_int_equal(jwts_manager_new(&o, &signer), JWTS_OK);
    o.keyset = public_keys;
    assert_int_equal(jwts_manager_new(&o, &verifier), JWTS_E_BAD_KEY); /* not without saying so */
    assert_non_null(strstr(jwts_errdetail(), "verify_only"));
    o.verify_only = true;
    assert_int_equal(jwts_manager_new(&o, &verifier), JWTS_OK);

    char user[64];
    user_name(user, sizeof user, "vera");
    jwts_tokens t, out;
    assert_int_equal(jwts_manager_create(signer, NULL, user, NULL, &t), JWTS_OK);
    jwts_validation v;
    assert_int_equal(jwts_manager_validate(verifier, NULL, t.access_token, strlen(t.access_token), &v, NULL), JWTS_OK);
    assert_string_equal(v.user_id, user);
    assert_int_equal(jwts_manager_create(verifier, NULL, user, NULL, &out), JWTS_E_UNSUPPORTED);
    assert_null(out.access_token);
    assert_int_equal(jwts_manager_refresh(verifier, NULL, t.refresh_token, &out), JWTS_E_UNSUPPORTED);
    assert_non_null(strstr(jwts_errdetail(), "only verifies"));
    /* the refused refresh changed nothing: the signer still rotates the same token */
    assert_int_equal(jwts_manager_refresh(signer, NULL, t.refresh_token, &out), JWTS_OK);
    jwts_tokens_clear(&out);
    assert_int_equal(jwts_manager_revoke(signer, NULL, user, t.session_id), JWTS_OK);
    assert_int_equal(jwts_manager_validate(verifier, NULL, t.access_token, strlen(t.access_token), NULL, NULL),
                     JWTS_E_REVOKED);

    jwts_keyset *empty;
    assert_int_equal(jwts_keyset_new(&empty), JWTS_OK);
    o.keyset = empty;
    jwts_manager *none = (jwts_manager *)1;
    assert_int_equal(jwts_manager_new(&o, &none), JWTS_E_BAD_KEY);
    assert_null(none);
    jwts_keyset_free(empty);
    jwts_tokens_clear(&t);
    jwts_manager_free(verifier);
    jwts_manager_free(signer);
    jwts_keyset_free(public_keys);
    jwts_keyset_free(signer_keys);
    fixture_free(f);
}

static void options_are_checked(void **state)
{
    jwts_manager *m = NULL;
    jwts_manager_options o = {0};
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "store"));
    fixture *f = fixture_new(NULL);
    o.store = f->store;
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "keyset"));
    jwts_keyset *empty;
    assert_int_equal(jwts_keyset_new(&empty), JWTS_OK);
    o.keyset = empty;
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_E_BAD_KEY);
    o.keyset = f->keys;
    o.access_ttl_ms = -1;
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_E_INVALID_ARGUMENT);
    o.access_ttl_ms = 0;
    o.absolute_lifetime_ms = JWTS_TTL_MAX_MS + 1; /* a session end past any store's TTL */
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "100 years"));
    o.absolute_lifetime_ms = 0;
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_OK);
    const jwts_manager_options *got = jwts_manager_options_get(m);
    assert_int_equal(got->access_ttl_ms, 15 * 60 * 1000);
    assert_int_equal(got->refresh_ttl_ms, 30LL * 24 * 3600 * 1000);
    assert_int_equal(got->refresh_grace_ms, 10000);
    jwts_manager_free(m);
    /* JWTS_OFF turns off what can be off; lifetimes cannot be */
    o.idle_timeout_ms = o.refresh_grace_ms = o.touch_interval_ms = o.leeway_ms = JWTS_OFF;
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_OK);
    got = jwts_manager_options_get(m);
    assert_int_equal(got->idle_timeout_ms, 0);
    assert_int_equal(got->refresh_grace_ms, 0);
    assert_true(got->touch_interval_ms < 0);
    jwts_manager_free(m);
    o.idle_timeout_ms = o.refresh_grace_ms = o.touch_interval_ms = o.leeway_ms = 0;
    o.refresh_ttl_ms = JWTS_OFF;
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_E_INVALID_ARGUMENT);
    o.refresh_ttl_ms = 0;
    assert_int_equal(jwts_manager_new(&o, &m), JWTS_OK);
    size_t removed = 99;
    assert_int_equal(jwts_manager_cleanup(m, NULL, &removed), JWTS_OK);
    jwts_manager_free(m);
    jwts_keyset_free(empty);
    fixture_free(f);
}

int jwts_manager_suite_run(const jwts_manager_target *t)
{
    target = t;
    uint8_t raw[6];
    if (jwts_random_bytes(raw, sizeof raw) || jwts_b64url_encode(raw, sizeof raw, run_tag, sizeof run_tag, NULL))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_then_validate),
        cmocka_unit_test(bad_tokens_are_refused),
        cmocka_unit_test(revoke_is_instant),
        cmocka_unit_test(revoke_user_with_thousands),
        cmocka_unit_test(devices_are_recorded),
        cmocka_unit_test(revoke_user_except_keeps_one),
        cmocka_unit_test(refresh_rotates),
        cmocka_unit_test(reuse_after_grace_revokes),
        cmocka_unit_test(older_generations_are_theft),
        cmocka_unit_test(lost_reply_can_be_retried),
        cmocka_unit_test(retry_then_rotate_makes_old_theft),
        cmocka_unit_test(used_new_pair_makes_previous_theft),
        cmocka_unit_test(forged_refresh_tokens_revoke_nothing),
        cmocka_unit_test(refresh_race_converges),
        cmocka_unit_test(max_sessions_refuse),
        cmocka_unit_test(max_sessions_evict_oldest),
        cmocka_unit_test(idle_sessions_expire_unless_seen),
        cmocka_unit_test(absolute_lifetime_and_refresh_ttl),
        cmocka_unit_test(refresh_token_dies_unused),
        cmocka_unit_test(metadata_updates_keep_rotations),
        cmocka_unit_test(verify_only_manager),
        cmocka_unit_test(options_are_checked),
    };
    char name[96];
    snprintf(name, sizeof name, "session manager: %s", t->name);
    return _cmocka_run_group_tests(name, tests, sizeof tests / sizeof *tests, NULL, NULL);
}
