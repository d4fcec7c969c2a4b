/*
 * fuzz_file_record.c - libFuzzer target for the file store's record decoder
 * (src/store/file_records.c): a key and the value LMDB hands back for it, as a damaged or hostile
 * data file could hold them.
 *
 * Input: one byte n, then n bytes of key (user id NUL session id), then the value. Invariants:
 * decoding never reads past the value (ASan sees the exact-size input); a record that decodes
 * names exactly its key's ids, has metadata that is NULL or starts with '{' and a device (the
 * optional trailer) that is absent or valid; encoding a
 * decoded session with the value's deadline gives back exactly the value (no slack bytes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"
#include "store/file.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_file_record: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || (size_t)data[0] + 1 > size) return 0;
    size_t klen = data[0];
    unsigned char *key = malloc(klen ? klen : 1), *val = malloc(size - 1 - klen ? size - 1 - klen : 1);
    memcpy(key, data + 1, klen);
    memcpy(val, data + 1 + klen, size - 1 - klen);
    MDB_val k = {klen, key}, v = {size - 1 - klen, val};
    jwts_session *s = NULL;
    if (jwts_file_value_decode(&k, &v, &s) != JWTS_OK) {
        if (s) die("a failed decode set its output");
        free(key), free(val);
        return 0;
    }
    size_t u = strlen(s->user_id);
    if (klen != u + 1 + strlen(s->session_id) || memcmp(key, s->user_id, u) != 0 || key[u] != 0 ||
        memcmp(key + u + 1, s->session_id, klen - u - 1) != 0)
        die("decoded ids that are not the key's");
    if (s->metadata && s->metadata[0] != '{') die("decoded metadata that is not an object");
    if ((s->client_ip && !jwts_client_ip_valid(s->client_ip)) || (s->user_agent && !jwts_user_agent_valid(s->user_agent)))
        die("decoded a bad device");
    size_t n = jwts_file_value_size(s);
    if (n != v.mv_size) die("a decoded session has another size");
    unsigned char *again = malloc(n);
    jwts_file_value_encode(s, jwts_file_value_deadline(&v), again);
    if (memcmp(again, val, n) != 0) die("encode(decode(value)) differs from the value");
    free(again);
    jwts_session_free(s);
    free(key), free(val);
    return 0;
}
