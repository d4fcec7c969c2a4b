/*
 * test_redis_tls.c - TLS to a real redis-server (its own --tls-port), with certificates this test
 * makes with the openssl CLI in a temp dir:
 *   a good chain (CA -> server cert for localhost/127.0.0.1), a wrong CA, an expired server
 *   certificate, a certificate for another host name, and a server that requires a client
 *   certificate (missing, then given). Each failure must be JWTS_E_UNAVAILABLE with a detail
 *   naming the cause and nothing of the keys. Then ACL user + password over TLS, the store
 *   conformance suite and the manager suite over rediss:// (pooled and auto-pipelined).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "jwtsession/jwtsession.h"
#include "manager_suite.h"
#include "redis_server.h"
#include "store_conformance.h"

static char dir[64];
/* the servers: good cert, expired cert, cert for another host, good cert + client certs required */
static redis_server good, expired, otherhost, mutual;
static int good_tls, expired_tls, otherhost_tls, mutual_tls; /* their TLS ports */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static bool sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "failed (%d): %s\n", rc, cmd);
    return rc == 0;
}

/* A key and a certificate NAME signed by CA for san, valid for days (negative: expired). */
static bool issue(const char *name, const char *ca, const char *subject, const char *san, int days)
{
    return sh("cd %s && openssl req -new -newkey rsa:2048 -nodes -keyout %s.key -subj '%s' -out %s.csr 2>/dev/null"
              " && printf '%s%s\\n' > %s.ext"
              " && openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -days %d -extfile %s.ext"
              " -out %s.pem 2>/dev/null",
              dir, name, subject, name, san[0] ? "subjectAltName=" : "", san[0] ? san : "extendedKeyUsage=clientAuth",
              name, name, ca, ca, days, name, name);
}

static bool make_certs(void)
{
    snprintf(dir, sizeof dir, "/tmp/jwts-tls-XXXXXX");
    if (!mkdtemp(dir)) return false;
    return sh("cd %s && for ca in ca ca2; do openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.pem"
              " -days 2 -subj \"/CN=jwtsession test $ca\" 2>/dev/null || exit 1; done",
              dir) &&
           issue("server", "ca", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", 2) &&
           issue("expired", "ca", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", -1) &&
           issue("otherhost", "ca", "/CN=other.example", "DNS:other.example", 2) &&
           issue("client", "ca", "/CN=jwts-client", "", 2) && sh("chmod 600 %s/*.key", dir);
}

static bool start_tls(redis_server *s, int *tls_port, const char *cert, bool auth_clients)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        *tls_port = free_port();
        char extra[512];
        snprintf(extra, sizeof extra,
                 "tls-port %d\ntls-cert-file %s/%s.pem\ntls-key-file %s/%s.key\ntls-ca-cert-file %s/ca.pem\n"
                 "tls-auth-clients %s\nuser app on >app-secret-pw ~* &* +@all\n",
                 *tls_port, dir, cert, dir, cert, dir, auth_clients ? "yes" : "no");
        if (redis_server_start(s, extra)) return true;
    }
    return false;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static jwts_err open_url(const char *url, jwts_store **out)
{
    jwts_store_open_options o = {.command_timeout_ms = 3000, .connect_timeout_ms = 2000};
    return jwts_store_open(url, &o, out);
}

/* One set on a store opened from the printf-formatted URL; its code (detail in jwts_errdetail). */
static jwts_err try_set(const char *fmt, ...)
{
    char url[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(url, sizeof url, fmt, ap);
    va_end(ap);
    jwts_store *st = NULL;
    jwts_err rc = open_url(url, &st);
    if (rc) return rc;
    char id[JWTS_SESSION_ID_LEN + 1];
    assert_int_equal(jwts_session_id_new("tls-user", id), JWTS_OK);
    int64_t now = jwts_now_ms();
    jwts_session s = {.user_id = "tls-user", .session_id = id, .created_at_ms = now, .updated_at_ms = now,
                      .expires_at_ms = now + 3600000, .last_seen_ms = now};
    rc = jwts_store_set(st, NULL, &s, 60000);
    if (!rc) { /* and read it back */
        jwts_session *got = NULL;
        jwts_session_key k = {s.user_id, s.session_id};
        rc = jwts_store_get(st, NULL, &k, &got);
        if (!rc && !jwts_session_equal(got, &s)) rc = JWTS_E_INTERNAL;
        jwts_session_free(got);
    }
    jwts_store_free(st); /* keeps this thread's detail */
    return rc;
}

/* rc must be UNAVAILABLE with a detail containing want and no key material. */
static void expect_unavailable(jwts_err rc, const char *want)
{
    const char *d = jwts_errdetail();
    if (rc != JWTS_E_UNAVAILABLE || !strstr(d, want))
        fail_msg("want JWTS_E_UNAVAILABLE \"%s\", got %s \"%s\"", want, jwts_errname(rc), d);
    assert_null(strstr(d, "BEGIN"));
    assert_null(strstr(d, "PRIVATE"));
    assert_null(strstr(d, "app-secret-pw"));
}

/* ---- the cases --------------------------------------------------------------------------- */

static void good_chain(void **state)
{
    assert_int_equal(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem", good_tls, dir), JWTS_OK);
    assert_int_equal(try_set("rediss://localhost:%d?tls_ca=%s/ca.pem", good_tls, dir), JWTS_OK);
    assert_int_equal(try_set("rediss://localhost:%d?tls_ca_dir=%s/cadir", good_tls, dir), JWTS_OK);
    assert_int_equal(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem&pipeline=true", good_tls, dir), JWTS_OK);
}

static void wrong_ca(void **state)
{
    expect_unavailable(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca2.pem", good_tls, dir),
                       "certificate verify failed"); /* "self-signed certificate in certificate chain": Redis
                                                       * sends its CA along */
    expect_unavailable(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca2.pem&pipeline=true", good_tls, dir),
                       "certificate verify failed");
    /* tls_insecure skips the check (documented as for tests only) */
    assert_int_equal(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca2.pem&tls_insecure=true", good_tls, dir), JWTS_OK);
}

static void expired_certificate(void **state)
{
    expect_unavailable(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem", expired_tls, dir),
                       "certificate verify failed: certificate has expired");
}

static void wrong_host_name(void **state)
{
    expect_unavailable(try_set("rediss://localhost:%d?tls_ca=%s/ca.pem", otherhost_tls, dir),
                       "certificate verify failed: hostname mismatch");
    expect_unavailable(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem", otherhost_tls, dir),
                       "certificate verify failed: IP address mismatch");
    /* the good server, checked against a name its certificate does not carry */
    expect_unavailable(
        try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem&tls_server_name=other.example", good_tls, dir),
        "hostname mismatch");
    /* and the name the certificate does carry, when connecting by address */
    assert_int_equal(
        try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem&tls_server_name=other.example", otherhost_tls, dir),
        JWTS_OK);
}

static void client_certificate_required(void **state)
{
    /* TLS 1.3: the handshake ends before the server checks; it then sends an alert ("tlsv13 alert
     * certificate required") or resets, so the detail says the server asked and none was set */
    expect_unavailable(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem", mutual_tls, dir),
                       "the server asked for a client certificate and none is configured");
    expect_unavailable(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem&pipeline=true", mutual_tls, dir),
                       "the server asked for a client certificate and none is configured");
    assert_int_equal(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem&tls_cert=%s/client.pem&tls_key=%s/client.key",
                             mutual_tls, dir, dir, dir),
                     JWTS_OK);
    assert_int_equal(try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem&tls_cert=%s/client.pem&tls_key=%s/client.key"
                             "&pipeline=true",
                             mutual_tls, dir, dir, dir),
                     JWTS_OK);
}

static void bad_client_files(void **state)
{
    /* a key that is not a key, a key that does not match: refused when the store is made, the
     * file named, its content never shown */
    jwts_store *st = NULL;
    char url[1024];
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?tls_ca=%s/ca.pem&tls_cert=%s/client.pem&tls_key=%s/client.pem",
             mutual_tls, dir, dir, dir);
    assert_int_equal(open_url(url, &st), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "tls_key"));
    assert_null(strstr(jwts_errdetail(), "BEGIN"));
    snprintf(url, sizeof url, "rediss://127.0.0.1:%d?tls_ca=%s/ca.pem&tls_cert=%s/client.pem&tls_key=%s/server.key",
             mutual_tls, dir, dir, dir);
    assert_int_equal(open_url(url, &st), JWTS_E_INVALID_ARGUMENT);
    assert_non_null(strstr(jwts_errdetail(), "mismatch"));
    assert_null(st);
}

static void acl_user_over_tls(void **state)
{
    assert_int_equal(try_set("rediss://app:app-secret-pw@127.0.0.1:%d?tls_ca=%s/ca.pem", good_tls, dir), JWTS_OK);
    jwts_err rc = try_set("rediss://app:wrong-pw@127.0.0.1:%d?tls_ca=%s/ca.pem", good_tls, dir);
    expect_unavailable(rc, "WRONGPASS");
    assert_null(strstr(jwts_errdetail(), "wrong-pw"));
}

static void plain_and_tls_mixed_up(void **state)
{
    /* TLS to the plain port: the handshake fails, quickly and named */
    jwts_err rc = try_set("rediss://127.0.0.1:%d?tls_ca=%s/ca.pem&connect_timeout=1s", good.port, dir);
    assert_true(rc == JWTS_E_UNAVAILABLE || rc == JWTS_E_TIMEOUT);
    assert_non_null(strstr(jwts_errdetail(), "tls"));
    /* plain to the TLS port: no reply that makes sense, never a success */
    rc = try_set("redis://127.0.0.1:%d?command_timeout=500ms&connect_timeout=500ms", good_tls);
    assert_int_not_equal(rc, JWTS_OK);
}

/* ---- the suites over rediss:// ----------------------------------------------------------- */

static jwts_err open_tls(void *arg, jwts_store **out)
{
    char url[1024];
    snprintf(url, sizeof url,
             "rediss://app:app-secret-pw@localhost:%d/3?tls_ca=%s/ca.pem&tls_cert=%s/client.pem&tls_key=%s/client.key"
             "&pipeline=%s&key_prefix=tls:",
             mutual_tls, dir, dir, dir, arg ? "true" : "false");
    return jwts_store_open(url, NULL, out);
}

int main(void)
{
    int failures = 1;
    if (!make_certs()) goto out;
    if (!sh("mkdir %s/cadir && cp %s/ca.pem %s/cadir/ && openssl rehash %s/cadir 2>/dev/null", dir, dir, dir, dir))
        goto out;
    if (!start_tls(&good, &good_tls, "server", false) || !start_tls(&expired, &expired_tls, "expired", false) ||
        !start_tls(&otherhost, &otherhost_tls, "otherhost", false) || !start_tls(&mutual, &mutual_tls, "server", true))
        goto out;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_chain),          cmocka_unit_test(wrong_ca),
        cmocka_unit_test(expired_certificate), cmocka_unit_test(wrong_host_name),
        cmocka_unit_test(client_certificate_required), cmocka_unit_test(bad_client_files),
        cmocka_unit_test(acl_user_over_tls),   cmocka_unit_test(plain_and_tls_mixed_up),
    };
    failures = cmocka_run_group_tests_name("redis tls", tests, NULL, NULL);
    jwts_conformance_target pooled = {.name = "rediss pool (mutual TLS, ACL user)", .open = open_tls};
    jwts_conformance_target piped = {.name = "rediss auto-pipeline", .open = open_tls, .arg = (void *)1};
    failures += jwts_store_conformance_run(&pooled) + jwts_store_conformance_run(&piped);
    jwts_manager_target mpooled = {.name = "rediss pool", .open = open_tls};
    jwts_manager_target mpiped = {.name = "rediss auto-pipeline", .open = open_tls, .arg = (void *)1};
    failures += jwts_manager_suite_run(&mpooled) + jwts_manager_suite_run(&mpiped);
out:
    redis_server_destroy(&good), redis_server_destroy(&expired);
    redis_server_destroy(&otherhost), redis_server_destroy(&mutual);
    if (dir[0] && strncmp(dir, "/tmp/jwts-tls-", 14) == 0) sh("rm -rf %s", dir);
    return failures != 0;
}
