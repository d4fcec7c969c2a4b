/*
 * fuzz_redis_stream.c - libFuzzer target for what the events code reads from Redis stream replies
 * (src/store/redis_events.c): the entries of an XREADGROUP or XAUTOCLAIM reply, the relay's
 * commands built from them, and the JSON a consumer gets for each entry. The first byte picks
 * the reply's kind (bit 0: XAUTOCLAIM); the rest is RESP, parsed by the reader the store's
 * connections use (hiredis's, bounded: jwts_redis_reader_new).
 *
 * Invariants: nothing reads outside the reply (ASan); relay commands are well formed: each XADD
 * has its 6 leading arguments, an even number of field arguments and the event_id pair, the XACK
 * and the XDEL name the same ids, each id of 1..40 bytes; every entry's JSON is one object.
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "store/redis.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_redis_stream: %s\n", what);
    abort();
}

static void check_batch(const relay_batch *b)
{
    for (size_t i = 0; i < b->adds; i++) {
        const redis_cmd *c = &b->cmds[i];
        if (c->argc < 10 || (c->argc - 8) % 2 || strcmp(c->argv[0], "XADD") != 0) die("a malformed XADD");
        if (strcmp(c->argv[c->argc - 2], "event_id") != 0) die("an XADD without its event_id");
    }
    const redis_cmd *ack = &b->cmds[b->adds], *del = &b->cmds[b->adds + 1];
    if (ack->argc < 4 || del->argc != ack->argc - 1) die("XACK and XDEL name different ids");
    for (int i = 3; i < ack->argc; i++) {
        if (ack->argvlen[i] < 1 || ack->argvlen[i] > 40) die("an id of a bad length");
        if (ack->argvlen[i] != del->argvlen[i - 1] || memcmp(ack->argv[i], del->argv[i - 1], ack->argvlen[i]) != 0)
            die("XACK and XDEL differ");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    bool claimed = data[0] & 1;
    redisReader *rd = jwts_redis_reader_new(); /* bounded as the store's connections are */
    if (!rd) return 0;
    void *reply = NULL;
    if (redisReaderFeed(rd, (const char *)data + 1, size - 1) != REDIS_OK ||
        redisReaderGetReply(rd, &reply) != REDIS_OK || !reply) {
        redisReaderFree(rd);
        return 0;
    }
    const redisReply *list = jwts_redis_events_entries(reply, claimed);
    redis_events ev = {.stream = "fuzz:events", .maxlen = 1000, .per_slot = true};
    relay_batch b;
    if (list && jwts_redis_relay_batch_new(&ev, 4242, "fuzz:events:outbox:{x}", list, &b) == JWTS_OK && b.cmds) {
        check_batch(&b);
        jwts_redis_relay_batch_free(&b);
    }
    jwts_buf json = {0};
    for (size_t i = 0; list && list->type == REDIS_REPLY_ARRAY && i < list->elements; i++) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        if (jwts_redis_events_entry_json(e->element[1], e->element[0]->str, &json) != JWTS_OK) continue;
        if (json.len < 2 || json.data[0] != '{' || json.data[json.len - 1] != '}') die("an entry's JSON is no object");
    }
    jwts_buf_free(&json);
    freeReplyObject(reply);
    redisReaderFree(rd);
    return 0;
}
