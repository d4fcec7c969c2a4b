/*
 * bench_observe.c - what observability costs on the validate hot path, all in one run.
 *
 *   metrics on + tracing sampled at 0           within  5% of observability off
 *   metrics on + tracing at ratio 1.0, exporter within 25% of observability off
 *     running against a local OTLP sink
 *
 * The targets apply to the session manager's validate (HS256 token, memory store with 1,000
 * sessions per configuration, so that the three configurations' stores and tokens all stay in
 * the CPU caches and the comparison measures observability, not cache misses between them), with the manager given the registry and tracer (it opens the
 * operation scope itself), over a plain or an observed store. Two more rows show where the cost sits: a validate-shaped stand-in (scope + HMAC-SHA256
 * of a 180-byte signing input with a reused keyed context + store get) and a bare store get
 * through the decorator, where the fixed cost (two clock reads, one counter, one histogram, the
 * sampler) is the largest share.
 *
 *   off        plain memory store, jwts_op_begin/end with no registry and no tracer
 *   metrics+0  observed store and scope with a registry and a parentbased_traceidratio(0) tracer
 *   metrics+1  the same with ratio 1.0: every operation makes 2 spans, the exporter thread POSTs
 *              OTLP/JSON batches to a sink thread (a minimal HTTP server on a loopback port)
 *
 * Configurations alternate in short slices (rounds x slice, the order flipping each round) and
 * each figure is the median slice, so drift on a shared 2-core machine hits all three alike; the
 * ratio-1.0 exporter is flushed after its configuration's slices, so it never runs beside the
 * others'. Usage: bench_observe [seconds-per-slice] [rounds]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"
#include "jwtsession/clock.h"
#include "jwtsession/jose.h"
#include "jwtsession/jwtsession.h"
#include "jwtsession/manager.h"
#include "jwtsession/observe.h"

#define KEYS 1000
#define MAX_ROUNDS 64
#define SIGNING_INPUT                                                                                                  \
    "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLTEyMyIsInNpZCI6IkFBQUFBQUFBQUFB"             \
    "QUFBQUFBQUFBQUEiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDkwMH0"

static double slice_s = 0.3;
static int rounds = 9;

static void die(jwts_err rc, const char *what)
{
    fprintf(stderr, "bench_observe: %s: %s: %s\n", what, jwts_errname(rc), jwts_errdetail());
    exit(1);
}

typedef struct key_rec {
    char user[24];
    char id[JWTS_SESSION_ID_LEN + 1];
} key_rec;

static key_rec keys[KEYS];

/* ---- an OTLP sink: accepts HTTP/1.1 POSTs on a loopback port and answers 200 {} ----------- */

typedef struct sink {
    int fd;
    int port;
    pthread_t thread;
    unsigned long requests;
} sink;

static void *sink_conn(void *arg)
{
    int c = (int)(intptr_t)arg;
    char buf[1 << 16];
    size_t have = 0;
    for (;;) {
        char *end = NULL;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof buf) goto done; /* headers this long: not OTLP */
            ssize_t n = read(c, buf + have, sizeof buf - have);
            if (n <= 0) goto done;
            have += (size_t)n;
        }
        size_t head = (size_t)(end + 4 - buf), body = 0;
        char *cl = strcasestr(buf, "content-length:");
        if (cl && cl < end) body = strtoul(cl + 15, NULL, 10);
        size_t left = head + body > have ? head + body - have : 0;
        while (left) { /* discard the rest of the body */
            ssize_t n = read(c, buf, left < sizeof buf ? left : sizeof buf);
            if (n <= 0) goto done;
            left -= (size_t)n;
        }
        size_t extra = have > head + body ? have - head - body : 0;
        memmove(buf, buf + head + body, extra);
        have = extra;
        static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if (write(c, reply, sizeof reply - 1) < 0) goto done;
    }
done:
    close(c);
    return NULL;
}

static void *sink_main(void *arg)
{
    sink *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) return NULL;
        __atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
        pthread_t t;
        pthread_create(&t, NULL, sink_conn, (void *)(intptr_t)c);
        pthread_detach(t);
    }
}

static void sink_start(sink *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) || listen(s->fd, 16) ||
        getsockname(s->fd, (struct sockaddr *)&a, &len))
        die(JWTS_E_INTERNAL, "sink socket");
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, sink_main, s);
}

/* ---- the operation ------------------------------------------------------------------------- */

typedef struct config {
    const char *name;
    jwts_store *st;
    jwts_metrics *m;
    jwts_tracer *t;
    jwts_manager *mgr;
    jwts_tokens *tokens; /* one access token per key */
    double validate_ns[MAX_ROUNDS], get_ns[MAX_ROUNDS], manager_ns[MAX_ROUNDS];
} config;

static EVP_MAC_CTX *mac;
static uint8_t expected_sig[32];

static void hmac(uint8_t out[32])
{
    size_t outl = 0;
    if (!EVP_MAC_init(mac, NULL, 0, NULL) ||
        !EVP_MAC_update(mac, (const uint8_t *)SIGNING_INPUT, sizeof SIGNING_INPUT - 1) ||
        !EVP_MAC_final(mac, out, &outl, 32))
        die(JWTS_E_INTERNAL, "hmac");
}

/* The session manager's validate; the manager opens its own operation scope. */
static jwts_err manager_validate(const config *c, size_t i)
{
    const char *tok = c->tokens[i].access_token;
    return jwts_manager_validate(c->mgr, NULL, tok, strlen(tok), NULL, NULL);
}

static jwts_err validate_like(const config *c, size_t i)
{
    const key_rec *k = &keys[i];
    jwts_op_scope sc;
    jwts_ctx ctx = jwts_op_begin(&sc, c->m, c->t, JWTS_OP_VALIDATE, NULL);
    uint8_t sig[32];
    hmac(sig);
    jwts_err rc = CRYPTO_memcmp(sig, expected_sig, 32) ? JWTS_E_BAD_SIGNATURE : JWTS_OK;
    jwts_session *s = NULL;
    if (!rc) rc = jwts_store_get(c->st, &ctx, &(jwts_session_key){k->user, k->id}, &s);
    jwts_session_free(s);
    return jwts_op_end(&sc, rc);
}

static jwts_err get_only(const config *c, size_t i)
{
    const key_rec *k = &keys[i];
    jwts_session *s = NULL;
    jwts_err rc = jwts_store_get(c->st, NULL, &(jwts_session_key){k->user, k->id}, &s);
    jwts_session_free(s);
    return rc;
}

/* ns per call of fn over a slice. */
static double slice(const config *c, jwts_err (*fn)(const config *, size_t))
{
    static size_t i;
    uint64_t ops = 0;
    int64_t t0 = jwts_monotonic_ns(), limit = (int64_t)(slice_s * 1e9), elapsed = 0;
    while (elapsed < limit) {
        for (int b = 0; b < 256; b++) {
            i = (i + 7919) % KEYS;
            jwts_err rc = fn(c, i);
            if (rc) die(rc, c->name);
        }
        ops += 256;
        elapsed = jwts_monotonic_ns() - t0;
    }
    return (double)elapsed / (double)ops;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    double tmp[MAX_ROUNDS];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static jwts_store *filled_store(jwts_metrics *m, jwts_tracer *t)
{
    jwts_store *st;
    jwts_err rc = jwts_store_memory_new(NULL, &st);
    if (rc) die(rc, "memory_new");
    if (m || t) {
        jwts_store *obs;
        if ((rc = jwts_store_observe_new(st, m, t, &obs))) die(rc, "observe_new");
        st = obs;
    }
    int64_t now = jwts_now_ms();
    for (size_t i = 0; i < KEYS; i++) {
        jwts_session s = {.user_id = keys[i].user,
                          .session_id = keys[i].id,
                          .created_at_ms = now,
                          .updated_at_ms = now,
                          .expires_at_ms = now + 3600000,
                          .last_seen_ms = now,
                          .metadata = "{\"device\":\"laptop\",\"ip\":\"192.0.2.10\"}"};
        if ((rc = jwts_store_set(st, NULL, &s, 3600000))) die(rc, "set");
    }
    return st;
}

static const char *verdict(bool ok, const char *what)
{
    if (!ok) bench_miss(what);
    return ok ? "PASS" : "MISS";
}

/* What the operation's own instrumentation costs alone: jwts_op_begin + jwts_op_end of a
 * validate with metrics on and tracing sampled at 0 (two timing reads, the sampling decision,
 * one counter and histogram observation). */
static jwts_metrics *scope_metrics;
static jwts_tracer *scope_tracer;
static void op_scope_alone(void *arg, uint64_t i)
{
    (void)arg, (void)i;
    jwts_op_scope sc;
    jwts_op_begin(&sc, scope_metrics, scope_tracer, JWTS_OP_VALIDATE, NULL);
    jwts_op_end(&sc, JWTS_OK);
}

/* What one timing read costs: jwts_fast_ns (the TSC) and clock_gettime(CLOCK_MONOTONIC). */
static volatile int64_t clock_sink;
static void read_fast(void *arg, uint64_t i)
{
    (void)arg, (void)i;
    clock_sink += jwts_fast_ns();
}
static void read_mono(void *arg, uint64_t i)
{
    (void)arg, (void)i;
    clock_sink += jwts_monotonic_ns();
}

int main(int argc, char **argv)
{
    if (argc > 1) slice_s = atof(argv[1]);
    if (argc > 2) rounds = atoi(argv[2]);
    if (slice_s <= 0 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: bench_observe [seconds-per-slice > 0] [rounds 1..%d]\n", MAX_ROUNDS);
        return 2;
    }
    for (size_t i = 0; i < KEYS; i++) {
        snprintf(keys[i].user, sizeof keys[i].user, "user-%zu", i);
        jwts_err rc = jwts_session_id_new(keys[i].user, keys[i].id);
        if (rc) die(rc, "session id");
    }
    static const uint8_t key[32] = "bench-observe-hmac-key-32-bytes";
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    mac = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (!mac || !EVP_MAC_init(mac, key, sizeof key, params)) die(JWTS_E_INTERNAL, "hmac setup");
    hmac(expected_sig);

    sink snk = {0};
    sink_start(&snk);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", snk.port);

    jwts_metrics *m0, *m1;
    jwts_tracer *t0, *t1;
    jwts_err rc = jwts_metrics_new(NULL, &m0);
    if (!rc) rc = jwts_metrics_new(NULL, &m1);
    jwts_tracer_options o0 = {
        .sampler = JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO, .ratio = 0, .traces_endpoint = url, .metrics = m0};
    jwts_tracer_options o1 = {
        .sampler = JWTS_SAMPLER_PARENTBASED_TRACEIDRATIO, .ratio = 1.0, .traces_endpoint = url, .metrics = m1};
    if (!rc) rc = jwts_tracer_new(&o0, &t0);
    if (!rc) rc = jwts_tracer_new(&o1, &t1);
    if (rc) die(rc, "setup");
    config cfg[3] = {
        {.name = "off", .st = filled_store(NULL, NULL)},
        {.name = "metrics+0", .st = filled_store(m0, t0), .m = m0, .t = t0},
        {.name = "metrics+1", .st = filled_store(m1, t1), .m = m1, .t = t1},
    };
    jwts_keyset *ks;
    jwts_key *hk;
    rc = jwts_keyset_new(&ks);
    if (!rc) rc = jwts_key_generate(JWTS_ALG_HS256, "bench", &hk);
    if (!rc) rc = jwts_keyset_add(ks, hk, 1);
    if (rc) die(rc, "keys");
    for (int c = 0; c < 3; c++) {
        jwts_manager_options mo = {.store = cfg[c].st, .keyset = ks, .issuer = "https://auth.example.com",
                                   .audience = "api", .metrics = cfg[c].m, .tracer = cfg[c].t};
        if ((rc = jwts_manager_new(&mo, &cfg[c].mgr))) die(rc, "manager");
        cfg[c].tokens = calloc(KEYS, sizeof *cfg[c].tokens);
        for (size_t i = 0; i < KEYS; i++)
            if ((rc = jwts_manager_create(cfg[c].mgr, NULL, keys[i].user, NULL, &cfg[c].tokens[i]))) die(rc, "create");
    }
    for (int c = 0; c < 3; c++) slice(&cfg[c], validate_like); /* warm up */
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 3; k++) {
            int c = r % 2 == 0 ? k : 2 - k; /* the order flips each round */
            cfg[c].validate_ns[r] = slice(&cfg[c], validate_like);
            cfg[c].get_ns[r] = slice(&cfg[c], get_only);
            cfg[c].manager_ns[r] = slice(&cfg[c], manager_validate);
            /* the ratio-1.0 exporter still sends what it queued: let it finish before the next
             * configuration's slices, which would otherwise share the cores with it */
            if (cfg[c].t == t1) jwts_tracer_flush(t1, 30000);
        }
    }
    jwts_tracer_flush(t1, 30000);
    jwts_tracer_stats st1;
    jwts_tracer_get_stats(t1, &st1);

    double v[3], g[3], mv[3];
    for (int c = 0; c < 3; c++) {
        mv[c] = median(cfg[c].manager_ns, rounds);
        v[c] = median(cfg[c].validate_ns, rounds);
        g[c] = median(cfg[c].get_ns, rounds);
    }
    printf("bench_observe: %d rounds x %.2f s slices per configuration, median slice\n\n", rounds, slice_s);
    printf("| measure | ns/op | off ns/op (same run) | overhead | target | |\n|---|---:|---:|---:|---:|---|\n");
    double om1 = (mv[1] / mv[0] - 1) * 100, om2 = (mv[2] / mv[0] - 1) * 100;
    printf("| manager validate (HS256), observability off | %.0f | - | - | - | |\n", mv[0]);
    printf("| manager validate, metrics + tracing sampled at 0 | %.0f | %.0f | %+.1f%% (%+.0f ns) | <= 5%% | %s |\n",
           mv[1], mv[0], om1, mv[1] - mv[0], verdict(om1 <= 5, "validate overhead, metrics + sampled at 0 <= 5%"));
    printf("| manager validate, metrics + tracing ratio 1.0, exporter running | %.0f | %.0f | %+.1f%% (%+.0f ns) | <= "
           "25%% | %s |\n",
           mv[2], mv[0], om2, mv[2] - mv[0], verdict(om2 <= 25, "validate overhead, ratio 1.0 + exporter <= 25%"));
    printf("| validate-like (HMAC + get), observability off | %.0f | - | - | - | |\n", v[0]);
    double ov1 = (v[1] / v[0] - 1) * 100, ov2 = (v[2] / v[0] - 1) * 100;
    printf("| validate-like, metrics + tracing sampled at 0 | %.0f | %.0f | %+.1f%% (%+.0f ns) | - | |\n", v[1], v[0],
           ov1, v[1] - v[0]);
    printf(
        "| validate-like, metrics + tracing ratio 1.0, exporter running | %.0f | %.0f | %+.1f%% (%+.0f ns) | - | |\n",
        v[2], v[0], ov2, v[2] - v[0]);
    printf("| store get only, off | %.0f | - | - | - | |\n", g[0]);
    printf("| store get only, observed: metrics + sampled at 0 | %.0f | %.0f | %+.1f%% (%+.0f ns) | - | |\n", g[1],
           g[0], (g[1] / g[0] - 1) * 100, g[1] - g[0]);
    printf("| store get only, observed: metrics + ratio 1.0 | %.0f | %.0f | %+.1f%% (%+.0f ns) | - | |\n", g[2], g[0],
           (g[2] / g[0] - 1) * 100, g[2] - g[0]);
    double fast_ns, mono_ns;
    bench_alternate(read_fast, NULL, read_mono, NULL, rounds, slice_s, &fast_ns, &mono_ns);
    printf("| one timing read: jwts_fast_ns (TSC) vs clock_gettime(MONOTONIC) | %.1f | %.1f | %.2fx | - | |\n",
           fast_ns * 1e3, mono_ns * 1e3, fast_ns / mono_ns);
    scope_metrics = m0, scope_tracer = t0;
    double scope_us = bench_us_per_op(op_scope_alone, NULL, slice_s);
    for (int r = 1; r < rounds; r++) {
        double us = bench_us_per_op(op_scope_alone, NULL, slice_s);
        if (us < scope_us) scope_us = us;
    }
    printf("| the operation's instrumentation alone (jwts_op_begin + jwts_op_end), metrics + sampled at 0, best of %d | "
           "%.1f | - | - | - | |\n",
           rounds, scope_us * 1e3);
    printf("\nmetrics + sampled at 0 costs %+.0f ns per validate here against a budget of %.0f ns (5%%). Its parts, "
           "measured alone in this run: the operation's scope %.0f ns (two timing reads, the sampling decision, one "
           "observation) and the store call's scope %.0f ns (the 'store get only' rows: two timing reads, one "
           "observation), %.0f ns together; the 4 timing reads alone are %.0f ns of it\n",
           mv[1] - mv[0], mv[0] * 0.05, scope_us * 1e3, g[1] - g[0], scope_us * 1e3 + g[1] - g[0],
           4 * fast_ns * 1e3);
    printf(
        "\nratio 1.0: %llu spans started, %llu exported to the sink in %lu connection(s), %llu dropped (queue full), "
        "%llu dropped (export failed)\n",
        (unsigned long long)st1.started, (unsigned long long)st1.exported, snk.requests,
        (unsigned long long)st1.dropped_queue, (unsigned long long)st1.dropped_export);
    for (int c = 0; c < 3; c++) {
        for (size_t i = 0; i < KEYS; i++) jwts_tokens_clear(&cfg[c].tokens[i]);
        free(cfg[c].tokens);
        jwts_manager_free(cfg[c].mgr);
        jwts_store_free(cfg[c].st);
    }
    jwts_keyset_free(ks);
    jwts_tracer_free(t0);
    jwts_tracer_free(t1);
    jwts_metrics_free(m0);
    jwts_metrics_free(m1);
    EVP_MAC_CTX_free(mac);
    EVP_MAC_free(alg);
    return bench_finish("bench_observe");
}
