/*
 * fuzz_redis_record.c - libFuzzer target for the Redis session record decoder
 * (src/store/redis_record.c): the bytes a GET on a session key returns.
 *
 * Invariants: decoding never reads past the record (ASan sees the exact-size input); a record
 * that decodes holds valid ids, metadata that is NULL or starts with '{', and a device (client IP,
 * user agent: the optional trailer) that is absent or valid; encoding a decoded
 * session gives back exactly the input bytes (the header has no slack and the strings no
 * hidden bytes), so what the scripts rewrite in place is what the decoder read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "store/redis.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_redis_record: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jwts_session *s = NULL;
    if (jwts_redis_record_decode((const char *)data, size, &s) != JWTS_OK) {
        if (s) die("a failed decode set its output");
        return 0;
    }
    if (!jwts_user_id_valid(s->user_id) || !jwts_session_id_valid(s->session_id)) die("decoded bad ids");
    if (s->metadata && s->metadata[0] != '{') die("decoded metadata that is not an object");
    if ((s->client_ip && !jwts_client_ip_valid(s->client_ip)) || (s->user_agent && !jwts_user_agent_valid(s->user_agent)))
        die("decoded a bad device");
    char *rec = NULL;
    size_t n = 0;
    if (jwts_redis_record_encode(s, &rec, &n) != JWTS_OK) die("a decoded session does not encode");
    if (n != size || memcmp(rec, data, size) != 0) die("encode(decode(record)) differs from the record");
    free(rec);
    jwts_session_free(s);
    return 0;
}
