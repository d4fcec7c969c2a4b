/*
 * bench_jose.c - token verification speed against same-run baselines.
 *
 *   HS256: verify of a ~280-byte access token with 7 claims (iss, sub, aud, sid, jti, iat, exp),
 *          claims read back, in us/op; libjwt (jwt_decode + reading sub and exp) on the same token.
 *          Targets: <= 1.0 us/op and >= 5x libjwt.
 *   ES256, EdDSA, RS256: our full token verify rate against `openssl speed` for the bare primitive
 *          (ecdsap256, ed25519, rsa2048), run by this program. Target: >= 90% of openssl's rate.
 *
 * The machine is shared, so both sides get the same treatment: openssl speed runs twice (before and
 * after our measurements) and the better rate is the baseline; ours is the best of three rounds.
 *
 * usage: bench_jose [seconds per measurement, default 2]
 */
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "jwtsession/jose.h"

#define NOW 1764000000

typedef struct job {
    const jwts_keyset *ks;
    const char *tok;
    size_t len;
    jwts_verify_options opt;
    const unsigned char *secret;
    int failures;
} job;

static void ours(void *arg, uint64_t i)
{
    job *j = arg;
    jwts_claims c;
    (void)i;
    if (jwts_jwt_verify(j->ks, j->tok, j->len, &j->opt, &c, NULL) != JWTS_OK || c.exp != NOW + 900) j->failures++;
}

static void libjwt(void *arg, uint64_t i)
{
    job *j = arg;
    jwt_t *t = NULL;
    (void)i;
    if (jwt_decode(&t, j->tok, j->secret, 32) != 0 || jwt_get_grant_int(t, "exp") != NOW + 900 ||
        !jwt_get_grant(t, "sub"))
        j->failures++;
    jwt_free(t);
}

/* verify/s of ecdsap256, ed25519 and rsa2048 from one `openssl speed` run (-mr output). */
static int openssl_speed(double *es256, double *ed25519, double *rs256)
{
    FILE *p = popen("openssl speed -seconds 2 -mr ecdsap256 ed25519 rsa2048 2>/dev/null", "r");
    char line[512];
    *es256 = *ed25519 = *rs256 = 0;
    if (!p) return -1;
    while (fgets(line, sizeof line, p)) {
        /* +F2:i:2048:sign/s:verify/s  +F4:i:256:sign/s:verify/s  +F6:i:253:Ed25519:sign/s:verify/s */
        char *last = strrchr(line, ':');
        if (!last) continue;
        double v = atof(last + 1);
        if (strncmp(line, "+F2:", 4) == 0 && strstr(line, ":2048:"))
            *rs256 = v;
        else if (strncmp(line, "+F4:", 4) == 0 && strstr(line, ":256:"))
            *es256 = v;
        else if (strncmp(line, "+F6:", 4) == 0 && strstr(line, "Ed25519"))
            *ed25519 = v;
    }
    return pclose(p) == 0 && *es256 > 0 && *ed25519 > 0 && *rs256 > 0 ? 0 : -1;
}

/* ~280-byte token: a 22-character session id and jti, as the manager issues them */
static const jwts_std_claims CLAIMS = {
    .iss = "https://id.example.com",
    .sub = "user-84127",
    .aud = "api",
    .sid = "c2Vzc2lvbi1pZC0xMjM0NT",
    .jti = "dG9rZW4taWQtYWJjZGVmZ2",
    .iat = NOW,
    .exp = NOW + 900,
};

static jwts_keyset *keyset_for(jwts_alg alg, const unsigned char *secret, char *tok, size_t cap, size_t *len)
{
    jwts_keyset *ks;
    jwts_key *k;
    jwts_err e = jwts_keyset_new(&ks);
    if (!e) e = secret ? jwts_key_from_secret(alg, secret, 32, "k1", &k) : jwts_key_generate(alg, "k1", &k);
    if (!e) e = jwts_keyset_add(ks, k, 1);
    if (!e) e = jwts_jwt_sign_std(k, &CLAIMS, tok, cap, len);
    if (e) {
        fprintf(stderr, "bench_jose: setup %s: %s: %s\n", jwts_alg_name(alg), jwts_errname(e), jwts_errdetail());
        exit(1);
    }
    return ks;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    int all_pass = 1;
    static const unsigned char secret[32] = "0123456789abcdef0123456789abcde";
    char tok[2048];
    size_t len;

    printf("JOSE verification (%.1f s per measurement)\n", secs);
    printf("  %-52s %12s %12s %9s %9s\n", "measure", "ours", "baseline", "ratio", "target");

    /* HS256 against libjwt */
    jwts_keyset *ks = keyset_for(JWTS_ALG_HS256, secret, tok, sizeof tok, &len);
    job j = {ks, tok, len, {.iss = CLAIMS.iss, .aud = CLAIMS.aud, .require_exp = 1, .now_s = NOW + 1}, secret, 0};
    double us_ours = bench_us_per_op(ours, &j, secs);
    double us_jwt = bench_us_per_op(libjwt, &j, secs);
    if (j.failures) {
        fprintf(stderr, "bench_jose: %d HS256 verifications failed\n", j.failures);
        return 1;
    }
    char what[96];
    snprintf(what, sizeof what, "HS256 verify us/op, %zu-byte token, 7 claims (vs libjwt)", len);
    int pass = us_ours <= 1.0;
    all_pass &= pass;
    bench_row(what, us_ours, us_jwt, "<= 1.0us", pass);
    pass = us_jwt / us_ours >= 5.0;
    all_pass &= pass;
    bench_row("HS256 speed-up over libjwt (x)", us_jwt / us_ours, 5.0, ">= 5x", pass);
    jwts_keyset_free(ks);

    /* asymmetric: our verify rate against openssl speed in the same run */
    double base[3], again[3];
    if (openssl_speed(&base[0], &base[1], &base[2])) {
        fprintf(stderr, "bench_jose: could not run or parse `openssl speed`\n");
        return 1;
    }
    double rates[3];
    const jwts_alg algs[3] = {JWTS_ALG_ES256, JWTS_ALG_EDDSA, JWTS_ALG_RS256};
    const char *names[3] = {"ecdsap256", "ed25519", "rsa2048"};
    for (int a = 0; a < 3; a++) {
        ks = keyset_for(algs[a], NULL, tok, sizeof tok, &len);
        job aj = {ks, tok, len, {.iss = CLAIMS.iss, .aud = CLAIMS.aud, .require_exp = 1, .now_s = NOW + 1}, NULL, 0};
        double best = 1e30;
        for (int r = 0; r < 3; r++) {
            double us = bench_us_per_op(ours, &aj, secs / 3);
            if (us < best) best = us;
        }
        rates[a] = 1e6 / best;
        if (aj.failures) {
            fprintf(stderr, "bench_jose: %d %s verifications failed\n", aj.failures, jwts_alg_name(algs[a]));
            return 1;
        }
        jwts_keyset_free(ks);
    }
    if (openssl_speed(&again[0], &again[1], &again[2]) == 0)
        for (int a = 0; a < 3; a++)
            if (again[a] > base[a]) base[a] = again[a];
    for (int a = 0; a < 3; a++) {
        double rate = rates[a];
        snprintf(what, sizeof what, "%s token verify/s (vs openssl speed %s)", jwts_alg_name(algs[a]), names[a]);
        pass = rate >= 0.9 * base[a];
        all_pass &= pass;
        bench_row(what, rate, base[a], ">= 0.90x", pass);
    }
    return all_pass ? 0 : 1;
}
