/*
 * demo.c - a short tour of the library on the in-memory store: create, read, touch, list,
 * delete sessions, printing what it did. `make run` runs it until the daemon exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"

#define CHECK(call)                                                                                    \
    do {                                                                                               \
        jwts_err rc_ = (call);                                                                         \
        if (rc_ != JWTS_OK) {                                                                          \
            fprintf(stderr, "error: %s: %s (%s)\n", jwts_errname(rc_), jwts_errdetail(), #call);       \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

static void print_session(const char *what, const jwts_session *s)
{
    printf("  %-8s user=%s session=%s created=%lld last_seen=%lld expires=%lld metadata=%s\n", what, s->user_id,
           s->session_id, (long long)s->created_at_ms, (long long)s->last_seen_ms, (long long)s->expires_at_ms,
           s->metadata ? s->metadata : "{}");
}

int main(void)
{
    jwts_store *store;
    CHECK(jwts_store_memory_new(NULL, &store));
    printf("jwtsession demo: in-memory store\n");

    const int64_t ttl_ms = 30 * 60 * 1000;
    const char *devices[] = {"{\"device\":\"laptop\",\"ip\":\"192.0.2.10\"}", "{\"device\":\"phone\"}"};
    char ids[2][JWTS_SESSION_ID_LEN + 1];
    int64_t now = jwts_now_ms();

    printf("create: two sessions for user alice\n");
    for (int i = 0; i < 2; i++) {
        char *metadata;
        CHECK(jwts_session_id_new("alice", ids[i]));
        CHECK(jwts_metadata_canonicalize(devices[i], strlen(devices[i]), NULL, &metadata));
        jwts_session s = {.user_id = "alice", .session_id = ids[i], .created_at_ms = now + i,
                          .updated_at_ms = now + i, .last_seen_ms = now + i, .expires_at_ms = now + ttl_ms,
                          .metadata = metadata};
        CHECK(jwts_store_set(store, NULL, &s, ttl_ms));
        print_session("created", &s);
        free(metadata);
    }

    printf("get: read the first one back\n");
    jwts_session *got;
    CHECK(jwts_store_get(store, NULL, &(jwts_session_key){"alice", ids[0]}, &got));
    print_session("got", got);
    jwts_session_free(got);

    printf("touch: the first one was seen again\n");
    int64_t later = jwts_now_ms() + 1000;
    CHECK(jwts_store_touch(store, NULL, &(jwts_session_key){"alice", ids[0]}, later, later + 600000, ttl_ms));
    CHECK(jwts_store_get(store, NULL, &(jwts_session_key){"alice", ids[0]}, &got));
    print_session("touched", got);
    jwts_session_free(got);

    printf("list: alice's sessions (her devices)\n");
    jwts_session_list list;
    CHECK(jwts_store_list_user(store, NULL, "alice", &list));
    for (size_t i = 0; i < list.count; i++) print_session("listed", list.items[i]);
    printf("  %zu sessions\n", list.count);
    jwts_session_list_free(&list);

    printf("delete: sign out of the phone\n");
    CHECK(jwts_store_delete(store, NULL, &(jwts_session_key){"alice", ids[1]}));
    jwts_err rc = jwts_store_get(store, NULL, &(jwts_session_key){"alice", ids[1]}, &got);
    printf("  get after delete: %s (%s)\n", jwts_errname(rc), jwts_errdetail());

    printf("delete_user: sign alice out everywhere\n");
    size_t deleted;
    CHECK(jwts_store_delete_user(store, NULL, "alice", &deleted));
    CHECK(jwts_store_list_user(store, NULL, "alice", &list));
    printf("  deleted %zu, %zu left\n", deleted, list.count);
    jwts_session_list_free(&list);

    jwts_store_free(store);
    printf("done\n");
    return 0;
}
