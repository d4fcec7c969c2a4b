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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/buf.h"
#include "jwtsession/error.h"
#include "jwtsession/store_redis.h"
#include "store/redis.h"

#define DEFAULT_MAXLEN 100000
#define STREAM_MAX 200
#define SWEEP_BATCH 500
#define NAME_MAX_LEN 64 /* bytes of a group or consumer name */

typedef struct events_owned {
    redis_events ev;
    char *stream, *expiry;
} events_owned;

jwts_err jwts_redis_events_new(const char *stream, long long maxlen, redis_events **out)
{
    *out = NULL;
    size_t n = strlen(stream);
    bool ok = n >= 1 && n <= STREAM_MAX && maxlen >= 0;
    for (size_t i = 0; ok && i < n; i++) ok = (unsigned char)stream[i] >= 0x20 && stream[i] != 0x7f;
    if (!ok)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis: events must be a key of 1..%d bytes without control characters",
                         STREAM_MAX);
    events_owned *o = calloc(1, sizeof *o);
    if (o) o->stream = strdup(stream);
    if (o) o->expiry = malloc(n + 8);
    if (!o || !o->stream || !o->expiry) {
        if (o) free(o->stream), free(o->expiry);
        free(o);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    }
    snprintf(o->expiry, n + 8, "%s:expiry", stream);
    o->ev = (redis_events){.stream = o->stream, .expiry = o->expiry, .maxlen = maxlen ? maxlen : DEFAULT_MAXLEN};
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

jwts_err jwts_redis_events_sweep(redis_runner *r, int64_t deadline_ns, const redis_events *ev, size_t *expired)
{
    char maxlen[24], batch[24];
    snprintf(maxlen, sizeof maxlen, "%lld", ev->maxlen);
    snprintf(batch, sizeof batch, "%d", SWEEP_BATCH);
    const char *argv[4] = {ev->expiry, ev->stream, maxlen, batch};
    size_t lens[4] = {strlen(ev->expiry), strlen(ev->stream), strlen(maxlen), strlen(batch)};
    *expired = 0;
    for (;;) {
        redisReply *reply = NULL;
        jwts_err rc = jwts_redis_script_run_ev(r, deadline_ns, JWTS_SCRIPT_SWEEP, 2, 2, argv, lens, ev, &reply);
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

/* The entry {id, [field, value, ...]} as a JSON object with "id" first. */
static jwts_err entry_json(const redisReply *fields, const char *id, jwts_buf *b)
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
    size_t lens[16];
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    redis_cmd cmd = {argc, argv, lens};
    return rd->r->ops->run(rd->r, rd->deadline, &cmd, 1, reply);
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
            rc = entry_json(e->element[1], id, &json);
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
