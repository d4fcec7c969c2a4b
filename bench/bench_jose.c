/*
 * bench_jose.c - token verification speed against same-run baselines.
 *
 *   HS256: verify of a ~300-byte access token with 7 claims (iss, sub, aud, sid, jti, iat, exp),
 *          claims read back, in us/op; libjwt (jwt_decode + reading sub and exp) on the same token.
 *          Targets: <= 1.0 us/op and >= 5x libjwt.
 *   EdDSA: our full token verify (parse, Ed25519, claims) against libsodium's bare
 *          crypto_sign_verify_detached over the same signing input, signature and key.
 *          Target: <= 1.10x libsodium.
 *   ES256, RS256: our full token verify rate against `openssl speed` for the bare primitive
 *          (ecdsap256, rsa2048), run by this program. Target: >= 90% of openssl's rate.
 *          `openssl speed ed25519` is printed next to EdDSA for reference (no target).
 *
 * The machine is shared, so every comparison alternates ours and the baseline in rounds (the
 * order flipping each round) and compares the medians. Exits 1 when a target is missed.
 *
 * usage: bench_jose [seconds per measurement, default 1] [rounds, default 5]
 */
#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "jwtsession/b64url.h"
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
static int openssl_speed(int seconds, double *es256, double *ed25519, double *rs256)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "openssl speed -seconds %d -mr ecdsap256 ed25519 rsa2048 2>/dev/null", seconds);
    FILE *p = popen(cmd, "r");
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

/* libsodium's own Ed25519 verify of a token's signing input and signature (the bare primitive). */
typedef struct sodium_job {
    uint8_t pk[32], sig[64];
    const char *input;
    size_t input_len;
    int failures;
} sodium_job;

static void sodium_verify(void *arg, uint64_t i)
{
    sodium_job *j = arg;
    (void)i;
    if (crypto_sign_verify_detached(j->sig, (const unsigned char *)j->input, j->input_len, j->pk) != 0) j->failures++;
}

/* The raw public key of the token's key (its JWK "x") and the token's signature, for libsodium. */
static void sodium_job_for(const jwts_keyset *ks, const char *tok, size_t len, sodium_job *sj)
{
    char *jwk = NULL;
    const char *x, *dot = memchr(tok, '.', len);
    const char *dot2 = dot ? memchr(dot + 1, '.', len - (size_t)(dot + 1 - tok)) : NULL;
    size_t n = 0;
    memset(sj, 0, sizeof *sj);
    if (!dot2 || jwts_key_to_jwk(jwts_keyset_active(ks), 0, &jwk) || !(x = strstr(jwk, "\"x\":\"")) ||
        jwts_b64url_decode(x + 5, 43, sj->pk, sizeof sj->pk, &n) || n != 32 ||
        jwts_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - tok), sj->sig, sizeof sj->sig, &n) || n != 64) {
        fprintf(stderr, "bench_jose: cannot take the Ed25519 key and signature apart\n");
        exit(1);
    }
    jwts_jose_free(jwk);
    sj->input = tok;
    sj->input_len = (size_t)(dot2 - tok);
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
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    static const unsigned char secret[32] = "0123456789abcdef0123456789abcde";
    char tok[2048], what[112];
    size_t len;
    if (secs <= 0 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "usage: bench_jose [seconds per measurement > 0] [rounds 1..64]\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "bench_jose: sodium_init failed\n");
        return 1;
    }

    printf("JOSE verification (%.1f s per measurement, %d alternating rounds, medians)\n", secs, rounds);
    printf("  %-52s %12s %12s %9s %9s\n", "measure", "ours", "baseline", "ratio", "target");

    /* HS256 against libjwt */
    jwts_keyset *ks = keyset_for(JWTS_ALG_HS256, secret, tok, sizeof tok, &len);
    job j = {ks, tok, len, {.iss = CLAIMS.iss, .aud = CLAIMS.aud, .require_exp = 1, .now_s = NOW + 1}, secret, 0};
    double us_ours, us_jwt;
    bench_alternate(ours, &j, libjwt, &j, rounds, secs, &us_ours, &us_jwt);
    if (j.failures) {
        fprintf(stderr, "bench_jose: %d HS256 verifications failed\n", j.failures);
        return 1;
    }
    snprintf(what, sizeof what, "HS256 verify us/op, %zu-byte token, 7 claims (vs libjwt)", len);
    bench_row(what, us_ours, us_jwt, "<= 1.0us", us_ours <= 1.0);
    bench_row("HS256 speed-up over libjwt (x)", us_jwt / us_ours, 5.0, ">= 5x", us_jwt / us_ours >= 5.0);
    jwts_keyset_free(ks);

    /* EdDSA against libsodium's own verify of the same signature */
    ks = keyset_for(JWTS_ALG_EDDSA, NULL, tok, sizeof tok, &len);
    job ej = {ks, tok, len, {.iss = CLAIMS.iss, .aud = CLAIMS.aud, .require_exp = 1, .now_s = NOW + 1}, NULL, 0};
    sodium_job sj;
    sodium_job_for(ks, tok, len, &sj);
    double us_ed, us_sodium;
    bench_alternate(ours, &ej, sodium_verify, &sj, rounds, secs, &us_ed, &us_sodium);
    if (ej.failures || sj.failures) {
        fprintf(stderr, "bench_jose: %d EdDSA / %d libsodium verifications failed\n", ej.failures, sj.failures);
        return 1;
    }
    snprintf(what, sizeof what, "EdDSA token verify us/op (vs libsodium verify_detached)");
    bench_row(what, us_ed, us_sodium, "<= 1.10x", us_ed <= 1.10 * us_sodium);
    jwts_keyset_free(ks);

    /* ES256, RS256 (and EdDSA, for reference): our verify rate against openssl speed, alternating */
    const jwts_alg algs[3] = {JWTS_ALG_ES256, JWTS_ALG_EDDSA, JWTS_ALG_RS256};
    const char *names[3] = {"ecdsap256", "ed25519", "rsa2048"};
    jwts_keyset *sets[3];
    char toks[3][2048];
    job jobs[3];
    double ours_r[3][64], base_r[3][64];
    for (int a = 0; a < 3; a++) {
        sets[a] = keyset_for(algs[a], NULL, toks[a], sizeof toks[a], &len);
        jobs[a] = (job){sets[a], toks[a], len, {.iss = CLAIMS.iss, .aud = CLAIMS.aud, .require_exp = 1, .now_s = NOW + 1},
                        NULL, 0};
    }
    int speed_secs = secs < 1 ? 1 : (int)secs;
    for (int r = 0; r < rounds; r++) {
        for (int step = 0; step < 2; step++) {
            if ((step == 0) == (r % 2 == 0)) {
                double b[3];
                if (openssl_speed(speed_secs, &b[0], &b[1], &b[2])) {
                    fprintf(stderr, "bench_jose: could not run or parse `openssl speed`\n");
                    return 1;
                }
                for (int a = 0; a < 3; a++) base_r[a][r] = b[a];
            } else {
                for (int a = 0; a < 3; a++) ours_r[a][r] = 1e6 / bench_us_per_op(ours, &jobs[a], speed_secs);
            }
        }
    }
    for (int a = 0; a < 3; a++) {
        if (jobs[a].failures) {
            fprintf(stderr, "bench_jose: %d %s verifications failed\n", jobs[a].failures, jwts_alg_name(algs[a]));
            return 1;
        }
        double rate = bench_median(ours_r[a], rounds), base = bench_median(base_r[a], rounds);
        snprintf(what, sizeof what, "%s token verify/s (vs openssl speed %s)", jwts_alg_name(algs[a]), names[a]);
        if (algs[a] == JWTS_ALG_EDDSA)
            bench_row(what, rate, base, "-", -1);
        else
            bench_row(what, rate, base, ">= 0.90x", rate >= 0.9 * base);
        jwts_keyset_free(sets[a]);
    }
    return bench_finish("bench_jose");
}
