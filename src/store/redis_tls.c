/*
 * redis_tls.c - TLS to Redis on OpenSSL: the store's SSL_CTX and the verified handshake.
 *
 * hiredis 0.14 has no TLS, so the connections of this store are our own (redis_conn.c) and this
 * file gives them TLS: one SSL_CTX per store, built once from the options (CA file or directory,
 * else the system's trust store; a client certificate and key for mutual TLS), TLS 1.2 at least,
 * the peer certificate verified and checked against the host name (or IP address) connected to,
 * or the configured server name. Failures carry OpenSSL's reason ("certificate verify failed:
 * certificate has expired", "hostname mismatch", "tlsv13 alert certificate required"); file
 * names may appear in details, file contents never do, and a passphrase is never prompted for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/error.h"
#include "store/redis.h"

struct redis_tls {
    SSL_CTX *ctx;
    char *server_name; /* NULL: the host connected to */
    bool verify;
};

/* The reason of the oldest queued OpenSSL error, or fallback. Clears the queue. */
static const char *ssl_reason(const char *fallback)
{
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : fallback;
}

/* Set on an SSL (as its app data) when the server asked for a client certificate and none is
 * configured: a server that requires one then drops the connection after the handshake (TLS 1.3)
 * with an alert or a reset, and the failure says why. */
static const char CERT_ASKED = 1;

static int client_cert_asked(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
    (void)x509, (void)pkey;
    SSL_set_app_data(ssl, (void *)&CERT_ASKED);
    return 0; /* none: go on without (the server may only ask) */
}

/* The hint for a failure on ssl. */
static const char *hint(const SSL *ssl)
{
    return SSL_get_app_data(ssl) == &CERT_ASKED
               ? " (the server asked for a client certificate and none is configured: tls_cert, tls_key)"
               : "";
}

/* Never prompt on the terminal for a key's passphrase: encrypted keys fail to load instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

void jwts_redis_tls_free(redis_tls *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    free(t->server_name);
    free(t);
}

jwts_err jwts_redis_tls_new(const jwts_redis_tls_options *o, redis_tls **out)
{
    *out = NULL;
    if (!o || !o->enabled) return JWTS_OK;
    if (!o->cert_file != !o->key_file)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis tls: tls_cert and tls_key go together");
    redis_tls *t = calloc(1, sizeof *t);
    if (!t) return jwts_fail(JWTS_E_NO_MEMORY, "redis tls: out of memory");
    t->verify = !o->insecure;
    jwts_err rc = JWTS_OK;
    ERR_clear_error();
    if (o->server_name && !(t->server_name = strdup(o->server_name)))
        rc = jwts_fail(JWTS_E_NO_MEMORY, "redis tls: out of memory");
    if (!rc && !(t->ctx = SSL_CTX_new(TLS_client_method())))
        rc = jwts_fail(JWTS_E_NO_MEMORY, "redis tls: SSL_CTX_new: %s", ssl_reason("failed"));
    if (!rc) {
        SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
        SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_default_passwd_cb(t->ctx, no_passphrase);
        SSL_CTX_set_verify(t->ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
        if (!o->cert_file) SSL_CTX_set_client_cert_cb(t->ctx, client_cert_asked);
    }
    if (!rc && (o->ca_file || o->ca_dir)) {
        if (SSL_CTX_load_verify_locations(t->ctx, o->ca_file, o->ca_dir) != 1)
            rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis tls: cannot load the CA %s \"%.200s\": %s",
                           o->ca_file ? "file" : "directory", o->ca_file ? o->ca_file : o->ca_dir,
                           ssl_reason("unreadable"));
    } else if (!rc && SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis tls: cannot load the system's CA certificates: %s",
                       ssl_reason("unreadable"));
    }
    if (!rc && o->cert_file && SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_file) != 1)
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis tls: cannot load tls_cert \"%.200s\": %s", o->cert_file,
                       ssl_reason("unreadable"));
    if (!rc && o->key_file && SSL_CTX_use_PrivateKey_file(t->ctx, o->key_file, SSL_FILETYPE_PEM) != 1)
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis tls: cannot load tls_key \"%.200s\": %s", o->key_file,
                       ssl_reason("unreadable or encrypted"));
    if (!rc && o->key_file && SSL_CTX_check_private_key(t->ctx) != 1)
        rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis tls: tls_key does not match tls_cert: %s",
                       ssl_reason("mismatch"));
    if (rc) {
        jwts_redis_tls_free(t);
        return rc;
    }
    *out = t;
    return JWTS_OK;
}

jwts_err jwts_redis_tls_error(SSL *ssl, int ret, const char *op, const char *where, short *want)
{
    int e = SSL_get_error(ssl, ret);
    int saved = errno;
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want = POLLIN;
        return JWTS_OK;
    case SSL_ERROR_WANT_WRITE:
        *want = POLLOUT;
        return JWTS_OK;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return jwts_fail(JWTS_E_UNAVAILABLE, "redis %s %s: server closed the TLS connection%s", op, where, hint(ssl));
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (ret < 0 && saved)
            return jwts_fail(JWTS_E_UNAVAILABLE, "redis %s %s: %s%s", op, where, strerror(saved), hint(ssl));
        return jwts_fail(JWTS_E_UNAVAILABLE, "redis %s %s: server closed the connection (TLS)%s", op, where, hint(ssl));
    default: {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
            ERR_clear_error();
            return jwts_fail(JWTS_E_UNAVAILABLE, "redis tls %s: certificate verify failed: %s", where,
                             X509_verify_cert_error_string(v));
        }
        return jwts_fail(JWTS_E_UNAVAILABLE, "redis tls %s %s: %s%s", op, where, ssl_reason("TLS failure"), hint(ssl));
    }
    }
}

/* true if name is an IPv4 or IPv6 literal. */
static bool is_ip(const char *name)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

jwts_err jwts_redis_tls_handshake(const redis_tls *t, int fd, const char *host, const char *where, int64_t deadline_ns,
                                  SSL **out)
{
    *out = NULL;
    ERR_clear_error();
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl) return jwts_fail(JWTS_E_NO_MEMORY, "redis tls %s: SSL_new: %s", where, ssl_reason("failed"));
    const char *name = t->server_name ? t->server_name : host;
    if (t->verify && !name) {
        SSL_free(ssl);
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis tls %s: no host name to verify the certificate against", where);
    }
    bool ip = name && is_ip(name);
    bool ok = SSL_set_fd(ssl, fd) == 1;
    if (ok && name && !ip) ok = SSL_set_tlsext_host_name(ssl, name) == 1;
    if (ok && name && t->verify)
        ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 : SSL_set1_host(ssl, name) == 1;
    if (!ok) {
        SSL_free(ssl);
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "redis tls %s: cannot verify against name \"%.100s\"", where,
                         name);
    }
    jwts_err rc = JWTS_OK;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_connect(ssl);
        if (r == 1) break;
        short want = 0;
        rc = jwts_redis_tls_error(ssl, r, "handshake", where, &want);
        if (!rc) rc = jwts_redis_wait_fd(fd, want, deadline_ns);
        if (rc == JWTS_E_TIMEOUT) rc = jwts_fail(JWTS_E_TIMEOUT, "redis tls %s: handshake timed out", where);
        if (rc) break;
    }
    if (rc) {
        SSL_free(ssl);
        return rc;
    }
    *out = ssl;
    return JWTS_OK;
}
