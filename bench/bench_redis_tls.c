/*
 * bench_redis_tls.c - TLS to Redis next to plain TCP, on the same redis-server in the same run.
 *
 *   bench_redis_tls [seconds]
 * Makes a CA and a server certificate with the openssl CLI in a temp dir, starts one
 * redis-server listening on a plain port and a --tls-port, and measures from one thread on one
 * connection (pool_size 1), HS256 tokens so the transport dominates:
 *   - the store get (the round trip of validate),
 *   - jwts_manager_validate and jwts_manager_create,
 *   - a fresh connection: open a store and do one get (TCP connect vs TCP + TLS handshake).
 * Each row: TLS µs/op, plain TCP µs/op, and the ratio. Figures are printed, never assumed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "jwtsession/jwtsession.h"

static double seconds = 2.0;
static char dir[64];

static void die(jwts_err rc, const char *what)
{
    fprintf(stderr, "bench_redis_tls: %s: %s: %s\n", what, jwts_errname(rc), jwts_errdetail());
    exit(1);
}

static pid_t start_server(int port, int tls_port)
{
    char p[16], t[16], cert[128], key[128], ca[128];
    snprintf(p, sizeof p, "%d", port), snprintf(t, sizeof t, "%d", tls_port);
    snprintf(cert, sizeof cert, "%s/server.pem", dir), snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout)) _exit(127);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--dir", dir, "--save", "",
               "--appendonly", "no", "--tls-port", t, "--tls-cert-file", cert, "--tls-key-file", key,
               "--tls-ca-cert-file", ca, "--tls-auth-clients", "no", (char *)NULL);
        _exit(127);
    }
    return pid;
}

typedef struct job {
    jwts_store *st;
    jwts_manager *m;
    jwts_session_key key;
    const char *token;
    const char *url;
} job;

static void do_get(void *arg, uint64_t i)
{
    job *j = arg;
    jwts_session *s = NULL;
    jwts_err rc = jwts_store_get(j->st, NULL, &j->key, &s);
    if (rc) die(rc, "get");
    jwts_session_free(s);
}

static void do_validate(void *arg, uint64_t i)
{
    job *j = arg;
    jwts_err rc = jwts_manager_validate(j->m, NULL, j->token, strlen(j->token), NULL, NULL);
    if (rc) die(rc, "validate");
}

static void do_create(void *arg, uint64_t i)
{
    job *j = arg;
    char user[32];
    snprintf(user, sizeof user, "tls-bench-%llu", (unsigned long long)(i % 1000));
    jwts_tokens t;
    jwts_err rc = jwts_manager_create(j->m, NULL, user, "{\"device\":\"laptop\"}", &t);
    if (rc) die(rc, "create");
    jwts_tokens_clear(&t);
}

static void do_connect(void *arg, uint64_t i)
{
    job *j = arg;
    jwts_store *st = NULL;
    jwts_err rc = jwts_store_open(j->url, NULL, &st);
    jwts_session *s = NULL;
    if (!rc) rc = jwts_store_get(st, NULL, &j->key, &s);
    if (rc) die(rc, "connect + get");
    jwts_session_free(s);
    jwts_store_free(st);
}

/* Measure fn on the store of url (and a manager over it). */
static double measure(const char *url, void (*fn)(void *, uint64_t), jwts_keyset *ks)
{
    job j = {.url = url};
    jwts_err rc = jwts_store_open(url, NULL, &j.st);
    if (rc) die(rc, url);
    jwts_manager_options mo = {.store = j.st, .keyset = ks, .issuer = "https://auth.example.com"};
    if ((rc = jwts_manager_new(&mo, &j.m))) die(rc, "manager");
    jwts_tokens t;
    if ((rc = jwts_manager_create(j.m, NULL, "tls-bench-user", "{\"device\":\"laptop\"}", &t))) die(rc, "create");
    j.key = (jwts_session_key){"tls-bench-user", t.session_id};
    j.token = t.access_token;
    for (int i = 0; i < 200; i++) fn(&j, (uint64_t)i); /* warm */
    double us = bench_us_per_op(fn, &j, seconds);
    jwts_tokens_clear(&t);
    jwts_manager_free(j.m);
    jwts_store_free(j.st);
    return us;
}

int main(int argc, char **argv)
{
    if (argc > 1) seconds = atof(argv[1]);
    snprintf(dir, sizeof dir, "/tmp/jwts-bench-tls-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem"
             " -days 2 -subj /CN=bench-ca 2>/dev/null && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256"
             " -nodes -keyout server.key -subj /CN=localhost -out server.csr 2>/dev/null"
             " && echo subjectAltName=DNS:localhost,IP:127.0.0.1 > server.ext && openssl x509 -req -in server.csr"
             " -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem 2>/dev/null",
             dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_redis_tls: openssl failed\n");
        return 1;
    }
    int port = bench_free_port(), tls_port = bench_free_port();
    pid_t pid = start_server(port, tls_port);
    char plain[256], tls[256];
    snprintf(plain, sizeof plain, "redis://127.0.0.1:%d?pool_size=1", port);
    snprintf(tls, sizeof tls, "rediss://127.0.0.1:%d?pool_size=1&tls_ca=%s/ca.pem", tls_port, dir);
    jwts_store *probe = NULL;
    jwts_session *none = NULL;
    jwts_session_key k = {"u", "AAAA"};
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        jwts_store_open(tls, NULL, &probe);
        up = probe && jwts_store_get(probe, NULL, &k, &none) == JWTS_E_NOT_FOUND;
        jwts_store_free(probe), probe = NULL;
        if (!up) nanosleep(&(struct timespec){0, 50000000}, NULL);
    }
    if (!up) die(JWTS_E_UNAVAILABLE, "redis-server with TLS did not come up");
    jwts_keyset *ks;
    jwts_key *key;
    jwts_err rc = jwts_keyset_new(&ks);
    if (!rc) rc = jwts_key_generate(JWTS_ALG_HS256, "bench", &key);
    if (!rc) rc = jwts_keyset_add(ks, key, 1);
    if (rc) die(rc, "keys");

    printf("TLS to Redis vs plain TCP, same redis-server %d/%d (tls), one thread, one connection, HS256, %.1f s each\n",
           port, tls_port, seconds);
    printf("%-44s %12s %12s %8s\n", "operation", "TLS us/op", "TCP us/op", "ratio");
    const struct {
        const char *name;
        void (*fn)(void *, uint64_t);
    } rows[] = {{"store get (validate's round trip)", do_get},
                {"manager validate", do_validate},
                {"manager create", do_create},
                {"fresh connection: open + one get", do_connect}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        double t = measure(tls, rows[i].fn, ks), p = measure(plain, rows[i].fn, ks);
        printf("%-44s %12.1f %12.1f %7.2fx\n", rows[i].name, t, p, p > 0 ? t / p : 0);
    }
    jwts_keyset_free(ks);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_redis_tls: could not remove %s\n", dir);
    return 0;
}
