/*
 * fuzz_daemon_body.c - libFuzzer target for jwtsessiond's request input: the JSON body reader
 * (including its own scanner that cuts a member's raw text out of the body) and %-decoding.
 *
 * Invariants: a member's raw text, when the reader hands one out, parses as a JSON object equal to
 * what jansson read; %-decoding never writes past its buffer and its output is NUL-terminated.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static void die(const char *what)
{
    fprintf(stderr, "fuzz_daemon_body: %s\n", what);
    abort();
}

static const char *const ALLOWED[] = {"user_id", "metadata", "refresh_token", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[256];
    jwtsd_body *body = NULL;
    if (jwtsd_body_parse((const char *)data, size, ALLOWED, &body, msg, sizeof msg) == JWTS_OK) {
        const char *user = NULL;
        (void)jwtsd_body_string(body, "user_id", &user, msg, sizeof msg);
        char *raw = NULL;
        if (jwtsd_body_object_text(body, "metadata", &raw, msg, sizeof msg) == JWTS_OK && raw) {
            json_t *whole = json_loadb((const char *)data, size, JSON_DECODE_INT_AS_REAL, NULL);
            json_t *cut = json_loads(raw, JSON_DECODE_INT_AS_REAL, NULL);
            if (!whole || !cut || !json_is_object(cut)) die("the cut metadata text is not a JSON object");
            if (!json_equal(cut, json_object_get(whole, "metadata"))) die("the cut text differs from the member");
            json_decref(cut);
            json_decref(whole);
        }
        free(raw);
        jwtsd_body_free(body);
    }
    char out[64];
    if (jwtsd_percent_decode((const char *)data, size, out, sizeof out) && strlen(out) >= sizeof out)
        die("percent-decoded text overran");
    return 0;
}
