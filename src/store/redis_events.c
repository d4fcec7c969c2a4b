/*
 * redis_events.c - the lifecycle events stream of a Redis store (docs/events.md): its settings,
 * the expiry sweep, and reading it as a member of a consumer group.
 *
 * The write scripts append each event to the stream in the same script as the write
 * (redis_scripts.c), so a change and its event are one atomic step. "expired" comes from the
 * expiry index, a sorted set of record keys by expiry time that the scripts keep beside the
 * records: the sweep takes its due members whose record Redis has dropped, never keyspace
 * notifications. Consumers read with XREADGROUP: first their own pending entries (delivered
 * before, never acknowledged), then new ones, and acknowledge (XACK) what they handled.
 *
 * On Redis Cluster a script writes one slot, and the stream lives in another: there each slot
 * has its own outbox stream and expiry index, which the scripts write in place of the stream and
 * the index, and the relay moves outbox entries to the stream, at once after each write and from
 * the sweep for what a writer left behind (it died, or the stream's node was away).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/buf.h"
#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "jwtsession/store_redis.h"
#include "store/redis.h"

#define DEFAULT_MAXLEN 100000
#define STREAM_MAX 200
#define SWEEP_BATCH 500
#define NAME_MAX_LEN 64        /* bytes of a group or consumer name */
#define RELAY_GROUP "relay"    /* the consumer group (and its one consumer name) of every outbox */
#define RELAY_BATCH 100        /* entries per take */
#define RELAY_LEASE_MS "30000" /* a relay's entry unacknowledged this long is taken back */
#define CHECK_SLOTS 512        /* slots checked per round trip by the per-slot sweep */
#define SWEEP_TURN_MS "1000"   /* the per-slot sweep runs once per this, whichever process runs it */
#define RELAY_BUDGET_MS 100    /* a writer's relay after its write, at most: the rest is the sweep's */
#define RELEASED_IDLE_MS "3600000" /* what a failed relay marks its entries idle for: the next sweep's */

typedef struct events_owned {
    redis_events ev;
    char *stream, *expiry;
} events_owned;

jwts_err jwts_redis_events_new(const char *stream, long long maxlen, bool per_slot, redis_events **out)
{
    *out = NULL;
    size_t n = strlen(stream);
    bool ok = n >= 1 && n <= STREAM_MAX && maxlen >= 0;
    for (size_t i = 0; ok && i < n; i++) ok = (unsigned char)stream[i] >= 0x20 && stream[i] != 0x7f;
    if (!ok)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: events must be a key of 1..%d bytes without control characters",
                         STREAM_MAX);
    if (per_slot && strpbrk(stream, "{}")) /* the outbox keys carry their slot's hash tag */
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis cluster: events must be a key without braces");
    events_owned *o = calloc(1, sizeof *o);
    if (o) o->stream = strdup(stream);
    if (o) o->expiry = malloc(n + 8);
    if (!o || !o->stream || !o->expiry) {
        if (o) free(o->stream), free(o->expiry);
        free(o);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    }
    snprintf(o->expiry, n + 8, "%s:expiry", stream);
    o->ev = (redis_events){
        .stream = o->stream, .expiry = o->expiry, .maxlen = maxlen ? maxlen : DEFAULT_MAXLEN, .per_slot = per_slot};
    if (per_slot) { /* find the slot tags now, not on the first write */
        char tag[JWTS_REDIS_SLOT_TAG_LEN];
        jwts_redis_slot_tag(0, tag);
    }
    *out = &o->ev;
    return JWTS_OK;
}

void jwts_redis_events_free(redis_events *ev)
{
    if (!ev) return;
    events_owned *o = (events_owned *)ev; /* ev is the first member */
    free(o->stream);
    free(o->expiry);
    free(o);
}

void jwts_redis_events_slot_keys(const redis_events *ev, unsigned slot, char outbox[JWTS_REDIS_EVENTS_KEY_MAX],
                                 char expiry[JWTS_REDIS_EVENTS_KEY_MAX])
{
    char tag[JWTS_REDIS_SLOT_TAG_LEN];
    jwts_redis_slot_tag(slot, tag);
    snprintf(outbox, JWTS_REDIS_EVENTS_KEY_MAX, "%s:outbox:{%s}", ev->stream, tag);
    snprintf(expiry, JWTS_REDIS_EVENTS_KEY_MAX, "%s:expiry:{%s}", ev->stream, tag);
}

/* Run one command of argc (at most 16) NUL-terminated arguments. */
static jwts_err run_argv(redis_runner *r, int64_t deadline_ns, int argc, const char **argv, redisReply **reply)
{
    size_t lens[16];
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    redis_cmd cmd = {argc, argv, lens};
    return r->ops->run(r, deadline_ns, &cmd, 1, reply);
}

/* JWTS_SCRIPT_SWEEP on one expiry index and the stream (or outbox) its events go to. */
static jwts_err sweep_index(redis_runner *r, int64_t deadline_ns, const char *expiry, const char *stream,
                            long long maxlen_n, size_t *expired)
{
    char maxlen[24], batch[24];
    snprintf(maxlen, sizeof maxlen, "%lld", maxlen_n);
    snprintf(batch, sizeof batch, "%d", SWEEP_BATCH);
    const char *argv[4] = {expiry, stream, maxlen, batch};
    size_t lens[4] = {strlen(expiry), strlen(stream), strlen(maxlen), strlen(batch)};
    for (;;) {
        redisReply *reply = NULL;
        jwts_err rc = jwts_redis_script_run(r, deadline_ns, JWTS_SCRIPT_SWEEP, 2, 2, argv, lens, &reply);
        if (!rc && (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                    reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[1]->type != REDIS_REPLY_INTEGER))
            rc = reply->type == REDIS_REPLY_ERROR ? jwts_redis_reply_fail(reply, "sweep")
                                                  : jwts_fail(JWTS_E_PROTOCOL, "redis sweep: unexpected reply");
        long long due = rc ? 0 : reply->element[0]->integer;
        if (!rc) *expired += (size_t)reply->element[1]->integer;
        if (reply) freeReplyObject(reply);
        if (rc) return rc;
        if (due < SWEEP_BATCH || jwts_monotonic_ns() >= deadline_ns) return JWTS_OK;
    }
}

/* ---- the relay of the per-slot outboxes (Cluster) ------------------------------------------ */

const redisReply *jwts_redis_events_entries(const redisReply *reply, bool claimed)
{
    if (!claimed && reply->type == REDIS_REPLY_NIL) return reply;
    if (reply->type != REDIS_REPLY_ARRAY) return NULL;
    if (claimed) return reply->elements >= 2 && reply->element[1]->type == REDIS_REPLY_ARRAY ? reply->element[1] : NULL;
    if (reply->elements != 1 || reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[0]->elements != 2 ||
        reply->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    return reply->element[0]->element[1];
}

#define STR_(x) #x
#define STR(x) STR_(x)
#define FRESH_ARGV(outbox) /* XREADGROUP of the new entries */ \
    {"XREADGROUP", "GROUP", RELAY_GROUP, RELAY_GROUP, "COUNT", STR(RELAY_BATCH), "STREAMS", outbox, ">"}

/* Take up to RELAY_BATCH entries of outbox: reclaimed ones (idle past the lease) or new ones,
 * creating the group when the outbox has none yet. */
static jwts_err relay_take(redis_runner *r, int64_t deadline_ns, const char *outbox, bool reclaim, redisReply **reply)
{
    const char *claim[] = {"XAUTOCLAIM", outbox, RELAY_GROUP, RELAY_GROUP,
                           RELAY_LEASE_MS, "0-0", "COUNT", STR(RELAY_BATCH)};
    const char *fresh[] = FRESH_ARGV(outbox);
    for (int attempt = 0; attempt < 2; attempt++) {
        jwts_err rc = reclaim ? run_argv(r, deadline_ns, 8, claim, reply) : run_argv(r, deadline_ns, 9, fresh, reply);
        if (rc || !jwts_redis_reply_is(*reply, "NOGROUP")) return rc;
        freeReplyObject(*reply);
        *reply = NULL;
        const char *create[] = {"XGROUP", "CREATE", outbox, RELAY_GROUP, "0", "MKSTREAM"};
        redisReply *c = NULL;
        rc = run_argv(r, deadline_ns, 6, create, &c);
        if (!rc && c->type != REDIS_REPLY_STATUS && !jwts_redis_reply_is(c, "BUSYGROUP"))
            rc = jwts_redis_reply_fail(c, "events relay: XGROUP CREATE");
        if (c) freeReplyObject(c);
        if (rc) return rc;
    }
    return jwts_fail(JWTS_E_PROTOCOL, "redis events relay: the group vanished as it was created");
}

/* An outbox entry's fields as XADD takes them: an even number (at least 2) of strings. */
static bool relayable(const redisReply *f)
{
    if (!f || f->type != REDIS_REPLY_ARRAY || f->elements < 2 || f->elements % 2) return false;
    for (size_t j = 0; j < f->elements; j++)
        if (f->element[j]->type != REDIS_REPLY_STRING) return false;
    return true;
}

void jwts_redis_relay_batch_free(relay_batch *b)
{
    free(b->cmds), free(b->av), free(b->al), free(b->event_ids);
    *b = (relay_batch){0};
}

jwts_err jwts_redis_relay_batch_new(const redis_events *ev, unsigned slot, const char *outbox, const redisReply *list,
                                    relay_batch *b)
{
    *b = (relay_batch){0};
    size_t n = list->type == REDIS_REPLY_ARRAY ? list->elements : 0, nargs = 5, ids = 0; /* XACK, XDEL */
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = list->element[i];
        if (e->type == REDIS_REPLY_NIL) continue;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[0]->len < 1 || e->element[0]->len > 40)
            return jwts_fail(JWTS_E_PROTOCOL, "redis events relay: unexpected outbox entry");
        if (relayable(e->element[1])) nargs += 8 + e->element[1]->elements;
        nargs += 2, ids++;
    }
    if (!ids) return JWTS_OK;
    b->cmds = calloc(n + 2, sizeof *b->cmds);
    b->av = malloc(nargs * sizeof *b->av);
    b->al = malloc(nargs * sizeof *b->al);
    b->event_ids = malloc(n * sizeof *b->event_ids);
    if (!b->cmds || !b->av || !b->al || !b->event_ids) {
        jwts_redis_relay_batch_free(b);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    }
    snprintf(b->maxlen, sizeof b->maxlen, "%lld", ev->maxlen);
    const char **av = b->av;
    size_t *al = b->al, k = 0;
#define ARG(s, len) (av[k] = (s), al[k] = (len), k++)
    for (size_t i = 0; i < n; i++) { /* XADD stream MAXLEN ~ N * <fields> event_id <slot>-<id> */
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || !relayable(e->element[1])) continue; /* acknowledged only */
        const redisReply *f = e->element[1];
        size_t first = k;
        ARG("XADD", 4), ARG(ev->stream, strlen(ev->stream)), ARG("MAXLEN", 6), ARG("~", 1);
        ARG(b->maxlen, strlen(b->maxlen)), ARG("*", 1);
        for (size_t j = 0; j < f->elements; j++) ARG(f->element[j]->str, f->element[j]->len);
        int len = snprintf(b->event_ids[i], sizeof b->event_ids[i], "%u-%.*s", slot, (int)e->element[0]->len,
                           e->element[0]->str);
        ARG("event_id", 8), ARG(b->event_ids[i], (size_t)len);
        b->cmds[b->adds++] = (redis_cmd){(int)(k - first), av + first, al + first};
    }
    for (int which = 0; which < 2; which++) { /* XACK outbox relay <ids>; XDEL outbox <ids> */
        size_t first = k;
        if (which == 0) ARG("XACK", 4), ARG(outbox, strlen(outbox)), ARG(RELAY_GROUP, strlen(RELAY_GROUP));
        else ARG("XDEL", 4), ARG(outbox, strlen(outbox));
        for (size_t i = 0; i < n; i++)
            if (list->element[i]->type == REDIS_REPLY_ARRAY)
                ARG(list->element[i]->element[0]->str, list->element[i]->element[0]->len);
        b->cmds[b->adds + (size_t)which] = (redis_cmd){(int)(k - first), av + first, al + first};
    }
#undef ARG
    return JWTS_OK;
}

/* A relay that could not add its entries to the stream hands them back: XCLAIM ... IDLE makes
 * them look long idle, so the next sweep's XAUTOCLAIM takes them at once, not after the lease.
 * ack is the batch's XACK ("XACK", outbox, group, ids...). Best effort, on its own short budget. */
static void relay_release(redis_runner *r, const redis_cmd *ack)
{
    int n = ack->argc - 3, argc = 5 + n + 3;
    const char **av = malloc((size_t)argc * sizeof *av);
    size_t *al = malloc((size_t)argc * sizeof *al);
    if (av && al) {
        const char *head[] = {"XCLAIM", ack->argv[1], RELAY_GROUP, RELAY_GROUP, "0"};
        const char *tail[] = {"IDLE", RELEASED_IDLE_MS, "JUSTID"};
        for (int i = 0; i < 5; i++) av[i] = head[i], al[i] = i == 1 ? ack->argvlen[1] : strlen(head[i]);
        for (int i = 0; i < n; i++) av[5 + i] = ack->argv[3 + i], al[5 + i] = ack->argvlen[3 + i];
        for (int i = 0; i < 3; i++) av[5 + n + i] = tail[i], al[5 + n + i] = strlen(tail[i]);
        redis_cmd cmd = {argc, av, al};
        redisReply *reply = NULL;
        (void)r->ops->run(r, jwts_deadline_in_ms(RELAY_BUDGET_MS), &cmd, 1, &reply);
        if (reply) freeReplyObject(reply);
    }
    free(av), free(al);
}

/* Move the entries of list (a take's) from outbox to the stream: every XADD answered before the
 * outbox lets go of any (XACK, XDEL); when an XADD fails, the entries are released for the sweep. */
static jwts_err relay_move(redis_runner *r, int64_t deadline_ns, const redis_events *ev, unsigned slot,
                           const char *outbox, const redisReply *list, size_t *moved)
{
    relay_batch b;
    jwts_err rc = jwts_redis_relay_batch_new(ev, slot, outbox, list, &b);
    if (rc || !b.cmds) return rc;
    redisReply **replies = calloc(b.adds + 2, sizeof *replies);
    if (!replies) rc = jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    if (!rc && b.adds) rc = r->ops->run(r, deadline_ns, b.cmds, b.adds, replies);
    for (size_t i = 0; !rc && i < b.adds; i++)
        if (replies[i]->type != REDIS_REPLY_STRING) rc = jwts_redis_reply_fail(replies[i], "events relay: XADD");
    if (rc && replies) relay_release(r, &b.cmds[b.adds]);
    if (!rc) rc = r->ops->run(r, deadline_ns, b.cmds + b.adds, 2, replies + b.adds);
    for (size_t i = b.adds; !rc && i < b.adds + 2; i++)
        if (replies[i]->type != REDIS_REPLY_INTEGER) rc = jwts_redis_reply_fail(replies[i], "events relay: XACK/XDEL");
    if (!rc) *moved += b.adds;
    for (size_t i = 0; replies && i < b.adds + 2; i++)
        if (replies[i]) freeReplyObject(replies[i]);
    free(replies);
    jwts_redis_relay_batch_free(&b);
    return rc;
}

jwts_err jwts_redis_events_relay(redis_runner *r, int64_t deadline_ns, const redis_events *ev, unsigned slot,
                                 bool reclaim, size_t *relayed)
{
    char outbox[JWTS_REDIS_EVENTS_KEY_MAX], expiry[JWTS_REDIS_EVENTS_KEY_MAX];
    jwts_redis_events_slot_keys(ev, slot, outbox, expiry);
    *relayed = 0;
    for (;;) {
        redisReply *reply = NULL;
        jwts_err rc = relay_take(r, deadline_ns, outbox, reclaim, &reply);
        const redisReply *list = rc ? NULL : jwts_redis_events_entries(reply, reclaim);
        if (!rc && !list)
            rc = reply->type == REDIS_REPLY_ERROR ? jwts_redis_reply_fail(reply, "events relay")
                                                  : jwts_fail(JWTS_E_PROTOCOL, "redis events relay: unexpected reply");
        size_t taken = rc || list->type == REDIS_REPLY_NIL ? 0 : list->elements;
        if (!rc && taken) rc = relay_move(r, deadline_ns, ev, slot, outbox, list, relayed);
        if (reply) freeReplyObject(reply);
        if (rc) return rc;
        if (taken < RELAY_BATCH) {
            if (!reclaim) return JWTS_OK;
            reclaim = false; /* the reclaimed ones are moved: now the new ones */
        }
    }
}

/* A writer's relay ends by the call's deadline or RELAY_BUDGET_MS from now, whichever is first:
 * when the stream's master hangs, writes are slowed by the budget, not held to their deadline. */
static int64_t writer_budget(int64_t deadline_ns)
{
    int64_t budget = jwts_deadline_in_ms(RELAY_BUDGET_MS);
    return budget < deadline_ns ? budget : deadline_ns;
}

void jwts_redis_events_relay_after_write(redis_runner *r, int64_t deadline_ns, const redis_events *ev, unsigned slot)
{
    size_t relayed;
    (void)jwts_redis_events_relay(r, writer_budget(deadline_ns), ev, slot, false, &relayed);
}

jwts_err jwts_redis_events_run_relayed(redis_runner *r, int64_t deadline_ns, const redis_events *ev, unsigned slot,
                                       const redis_cmd *write, redisReply **reply)
{
    char outbox[JWTS_REDIS_EVENTS_KEY_MAX], expiry[JWTS_REDIS_EVENTS_KEY_MAX];
    jwts_redis_events_slot_keys(ev, slot, outbox, expiry);
    const char *fresh[] = FRESH_ARGV(outbox);
    size_t lens[9];
    for (int i = 0; i < 9; i++) lens[i] = strlen(fresh[i]);
    redis_cmd cmds[2] = {*write, {9, fresh, lens}};
    redisReply *replies[2] = {NULL, NULL};
    jwts_err rc = r->ops->run(r, deadline_ns, cmds, 2, replies);
    *reply = replies[0];
    if (!rc && !jwts_redis_reply_is(*reply, "NOSCRIPT")) { /* NOSCRIPT: the caller runs it again, then relays */
        const redisReply *list = jwts_redis_events_entries(replies[1], false);
        size_t relayed = 0;
        if (!list) /* NOGROUP (the outbox's first write) or an error: the relay's own steps sort it out */
            jwts_redis_events_relay_after_write(r, deadline_ns, ev, slot);
        else if (list->type != REDIS_REPLY_NIL && list->elements > 0 &&
                 !relay_move(r, writer_budget(deadline_ns), ev, slot, outbox, list, &relayed) &&
                 list->elements == RELAY_BATCH)
            jwts_redis_events_relay_after_write(r, deadline_ns, ev, slot); /* more are waiting */
    }
    if (replies[1]) freeReplyObject(replies[1]);
    return rc;
}

/* ---- the sweep --------------------------------------------------------------------------- */

/* Take the turn to sweep every slot: SET <stream>:sweep NX PX SWEEP_TURN_MS. *taken is false
 * when another process (or this one) swept less than SWEEP_TURN_MS ago. */
static jwts_err take_sweep_turn(redis_runner *r, int64_t deadline_ns, const redis_events *ev, bool *taken)
{
    char key[JWTS_REDIS_EVENTS_KEY_MAX];
    snprintf(key, sizeof key, "%s:sweep", ev->stream);
    const char *argv[] = {"SET", key, "1", "NX", "PX", SWEEP_TURN_MS};
    redisReply *reply = NULL;
    jwts_err rc = run_argv(r, deadline_ns, 6, argv, &reply);
    if (!rc && reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_NIL)
        rc = jwts_redis_reply_fail(reply, "events sweep turn");
    *taken = !rc && reply->type == REDIS_REPLY_STATUS;
    if (reply) freeReplyObject(reply);
    return rc;
}

/* Per slot: ask every slot, CHECK_SLOTS at a time, for its due index members and its outbox
 * length (one pipeline per node), then sweep and relay the slots that have any; at most once per
 * SWEEP_TURN_MS across every process on the cluster, so more daemons do not cost more. */
static jwts_err sweep_slots(redis_runner *r, int64_t deadline_ns, const redis_events *ev, size_t *expired)
{
    bool taken = false;
    jwts_err turn = take_sweep_turn(r, deadline_ns, ev, &taken);
    if (turn || !taken) return turn;
    char(*keys)[2][JWTS_REDIS_EVENTS_KEY_MAX] = malloc(CHECK_SLOTS * sizeof *keys);
    const char **av = malloc(CHECK_SLOTS * 6 * sizeof *av);
    size_t *al = malloc(CHECK_SLOTS * 6 * sizeof *al);
    redis_cmd *cmds = malloc(CHECK_SLOTS * 2 * sizeof *cmds);
    redisReply **replies = calloc(CHECK_SLOTS * 2, sizeof *replies);
    jwts_err rc = keys && av && al && cmds && replies ? JWTS_OK : jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)jwts_now_ms());
    for (unsigned from = 0; !rc && from < JWTS_REDIS_SLOTS; from += CHECK_SLOTS) {
        for (unsigned i = 0; i < CHECK_SLOTS; i++) { /* ZCOUNT index -inf now; XLEN outbox */
            char *outbox = keys[i][0], *index = keys[i][1];
            jwts_redis_events_slot_keys(ev, from + i, outbox, index);
            const char **a = av + i * 6;
            size_t *l = al + i * 6;
            a[0] = "ZCOUNT", a[1] = index, a[2] = "-inf", a[3] = now, a[4] = "XLEN", a[5] = outbox;
            for (int j = 0; j < 6; j++) l[j] = strlen(a[j]);
            cmds[2 * i] = (redis_cmd){4, a, l};
            cmds[2 * i + 1] = (redis_cmd){2, a + 4, l + 4};
        }
        rc = r->ops->run(r, deadline_ns, cmds, CHECK_SLOTS * 2, replies);
        for (unsigned i = 0; !rc && i < CHECK_SLOTS; i++) {
            const redisReply *due = replies[2 * i], *queued = replies[2 * i + 1];
            if (due->type != REDIS_REPLY_INTEGER || queued->type != REDIS_REPLY_INTEGER) {
                rc = jwts_redis_reply_fail(due->type != REDIS_REPLY_INTEGER ? due : queued, "events sweep");
                break;
            }
            size_t swept = 0, relayed = 0;
            if (due->integer > 0) rc = sweep_index(r, deadline_ns, keys[i][1], keys[i][0], ev->maxlen, &swept);
            *expired += swept;
            if (!rc && (swept > 0 || queued->integer > 0))
                rc = jwts_redis_events_relay(r, deadline_ns, ev, from + i, true, &relayed);
        }
        for (unsigned i = 0; i < CHECK_SLOTS * 2; i++) {
            if (replies[i]) freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
    }
    free(keys), free(av), free(al), free(cmds), free(replies);
    return rc;
}

jwts_err jwts_redis_events_sweep(redis_runner *r, int64_t deadline_ns, const redis_events *ev, size_t *expired)
{
    *expired = 0;
    if (ev->per_slot) return sweep_slots(r, deadline_ns, ev, expired);
    return sweep_index(r, deadline_ns, ev->expiry, ev->stream, ev->maxlen, expired);
}

/* ---- reading as a consumer group member -------------------------------------------------------- */

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > NAME_MAX_LEN) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) return false;
    return true;
}

static bool is_number(const char *s, size_t n)
{
    size_t i = n && s[0] == '-';
    if (i == n || n > 20) return false;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

jwts_err jwts_redis_events_entry_json(const redisReply *fields, const char *id, jwts_buf *b)
{
    jwts_buf_reset(b);
    jwts_buf_puts(b, "{\"id\":");
    jwts_buf_json_str(b, id, strlen(id), JWTS_BUF_JSON_QUOTE);
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        jwts_buf_putc(b, ',');
        jwts_buf_json_str(b, k->str, k->len, JWTS_BUF_JSON_QUOTE);
        jwts_buf_putc(b, ':');
        bool numeric = strcmp(k->str, "time_ms") == 0 || strcmp(k->str, "generation") == 0 ||
                       strcmp(k->str, "reused_generation") == 0 || strcmp(k->str, "rotated_out_at_ms") == 0;
        if (numeric && is_number(v->str, v->len)) jwts_buf_put(b, v->str, v->len);
        else jwts_buf_json_str(b, v->str, v->len, JWTS_BUF_JSON_QUOTE);
    }
    jwts_buf_putc(b, '}');
    return b->err ? jwts_fail(b->err, "redis events: cannot format an entry") : JWTS_OK;
}

typedef struct reader {
    redis_runner *r;
    int64_t deadline;
    const redis_events *ev;
    const char *group, *consumer;
} reader;

static jwts_err run(const reader *rd, int argc, const char **argv, redisReply **reply)
{
    return run_argv(rd->r, rd->deadline, argc, argv, reply);
}

/* XREADGROUP from start ("0": this consumer's pending entries; ">": new ones), creating the group
 * (at the stream's beginning) when it does not exist yet. */
static jwts_err read_group(const reader *rd, const char *start, size_t count, int64_t block_ms, redisReply **reply)
{
    char cnt[24], blk[24];
    snprintf(cnt, sizeof cnt, "%zu", count);
    snprintf(blk, sizeof blk, "%lld", (long long)block_ms);
    const char *with_block[] = {"XREADGROUP", "GROUP", rd->group, rd->consumer, "COUNT", cnt,
                                "BLOCK",      blk,     "STREAMS", rd->ev->stream, start};
    const char *no_block[] = {"XREADGROUP", "GROUP", rd->group, rd->consumer, "COUNT", cnt, "STREAMS", rd->ev->stream, start};
    bool blocking = block_ms > 0 && strcmp(start, ">") == 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        jwts_err rc = blocking ? run(rd, 11, with_block, reply) : run(rd, 9, no_block, reply);
        if (rc || !jwts_redis_reply_is(*reply, "NOGROUP")) return rc;
        freeReplyObject(*reply);
        *reply = NULL;
        const char *create[] = {"XGROUP", "CREATE", rd->ev->stream, rd->group, "0", "MKSTREAM"};
        redisReply *c = NULL;
        rc = run(rd, 6, create, &c);
        bool ok = !rc && (c->type == REDIS_REPLY_STATUS || jwts_redis_reply_is(c, "BUSYGROUP"));
        if (!rc && !ok) rc = jwts_redis_reply_fail(c, "events: XGROUP CREATE");
        if (c) freeReplyObject(c);
        if (rc) return rc;
    }
    return jwts_fail(JWTS_E_PROTOCOL, "redis events: the group vanished as it was created");
}

/* Hand each entry of reply to fn and acknowledge the handled ones; *n counts them, *stopped is
 * set when fn asked to stop. *entries gets how many entries the reply held. */
static jwts_err deliver(const reader *rd, const redisReply *reply, jwts_stream_event_fn fn, void *arg, size_t *n,
                        size_t *entries, bool *stopped)
{
    *entries = 0;
    if (reply->type == REDIS_REPLY_NIL) return JWTS_OK; /* BLOCK ran out */
    if (reply->type == REDIS_REPLY_ERROR) return jwts_redis_reply_fail(reply, "events: XREADGROUP");
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1 || reply->element[0]->type != REDIS_REPLY_ARRAY ||
        reply->element[0]->elements != 2 || reply->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
        return jwts_fail(JWTS_E_PROTOCOL, "redis events: unexpected XREADGROUP reply");
    const redisReply *list = reply->element[0]->element[1];
    *entries = list->elements;
    jwts_buf json = {0};
    jwts_err rc = JWTS_OK;
    for (size_t i = 0; i < list->elements && !rc && !*stopped; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING) {
            rc = jwts_fail(JWTS_E_PROTOCOL, "redis events: unexpected stream entry");
            break;
        }
        const char *id = e->element[0]->str;
        bool handled = true; /* an entry trimmed away while pending has no fields: acknowledged */
        if (e->element[1]->type == REDIS_REPLY_ARRAY) {
            rc = jwts_redis_events_entry_json(e->element[1], id, &json);
            if (!rc) handled = fn(arg, id, json.data);
        }
        if (rc) break;
        if (!handled) {
            *stopped = true;
            break;
        }
        const char *ack[] = {"XACK", rd->ev->stream, rd->group, id};
        redisReply *a = NULL;
        rc = run(rd, 4, ack, &a);
        if (!rc && a->type != REDIS_REPLY_INTEGER) rc = jwts_redis_reply_fail(a, "events: XACK");
        if (a) freeReplyObject(a);
        if (!rc) (*n)++;
    }
    jwts_buf_free(&json);
    return rc;
}

jwts_err jwts_store_redis_events_read(jwts_store *st, const jwts_ctx *ctx, const char *group, const char *consumer,
                                      size_t count, int64_t block_ms, jwts_stream_event_fn fn, void *arg,
                                      size_t *handled)
{
    size_t ignored;
    if (!handled) handled = &ignored;
    *handled = 0;
    reader rd = {.group = group, .consumer = consumer};
    bool pipelined = false;
    int64_t timeout_ms = 0;
    if (!fn) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "events_read: fn is NULL");
    if (!name_ok(group) || !name_ok(consumer))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "events_read: group and consumer are 1..%d printable bytes",
                         NAME_MAX_LEN);
    if (count < 1 || count > 10000) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "events_read: count must be 1..10000");
    if (block_ms < 0 || block_ms > 3600 * 1000)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "events_read: block_ms must be 0..3600000");
    if (!jwts_redis_store_parts(st, &rd.r, &rd.ev, &pipelined, &timeout_ms))
        return jwts_fail(JWTS_E_UNSUPPORTED, "events_read: not a Redis store");
    if (!rd.ev) return jwts_fail(JWTS_E_UNSUPPORTED, "events_read: the store has no events stream (events=KEY)");
    if (pipelined && block_ms > 0)
        return jwts_fail(JWTS_E_UNSUPPORTED, "events_read: a blocking read would stall the auto-pipeline");
    rd.deadline = jwts_deadline_in_ms(timeout_ms + block_ms);
    if (ctx && ctx->deadline_ns && ctx->deadline_ns < rd.deadline) rd.deadline = ctx->deadline_ns;
    bool stopped = false;
    const char *starts[2] = {"0", ">"}; /* this consumer's pending entries first, then new ones */
    for (int s = 0; s < 2 && !stopped; s++) {
        redisReply *reply = NULL;
        jwts_err rc = read_group(&rd, starts[s], count, block_ms, &reply);
        size_t entries = 0;
        if (!rc) rc = deliver(&rd, reply, fn, arg, handled, &entries, &stopped);
        if (reply) freeReplyObject(reply);
        if (rc) return rc;
        if (s == 0 && entries > 0) break; /* pending ones this call; new ones on the next */
    }
    return JWTS_OK;
}
