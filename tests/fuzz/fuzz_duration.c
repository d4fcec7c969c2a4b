/*
 * fuzz_duration.c - libFuzzer target for jwts_duration_parse_ms, the one duration parser the CLI
 * and jwtsessiond share ("90", "500ms", "90s", "15m", "12h", "30d").
 *
 * Differential: a small reference parser written from the documented grammar (digits, then an
 * optional unit, nothing else, no overflow of int64 milliseconds) must accept exactly the same
 * texts with exactly the same values.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/jwtsession.h"

static int reference(const char *t, int64_t *out)
{
    size_t i = 0;
    int64_t v = 0;
    int overflow = 0;
    while (t[i] >= '0' && t[i] <= '9') {
        int d = t[i++] - '0';
        if (v > (INT64_MAX - d) / 10) overflow = 1;
        else v = v * 10 + d;
    }
    if (i == 0 || overflow) return 0;
    static const struct {
        const char *unit;
        int64_t ms;
    } U[] = {{"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t u = 0; u < sizeof U / sizeof *U; u++) {
        if (strcmp(t + i, U[u].unit) != 0) continue;
        if (v > INT64_MAX / U[u].ms) return 0;
        *out = v * U[u].ms;
        return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t got = -1, want = -1;
    int ok = jwts_duration_parse_ms(text, &got) == JWTS_OK, ref = reference(text, &want);
    if (ok != ref || (ok && got != want)) {
        fprintf(stderr, "fuzz_duration: \"%.64s\": parser %s %lld, reference %s %lld\n", text, ok ? "accepts" : "refuses",
                (long long)got, ref ? "accepts" : "refuses", (long long)want);
        abort();
    }
    free(text);
    return 0;
}
