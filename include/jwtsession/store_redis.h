/*
 * store_redis.h - the Redis store: sessions shared between machines, on hiredis.
 *
 * Every operation is one round trip (a plain command, a Lua script run by EVALSHA, or one
 * pipeline) and atomic on the server. All keys of one user share the hash tag
 * "<prefix>{<user id>}", so the per-user scripts also hold on Redis Cluster. Records carry
 * server-side TTLs: Redis forgets what nobody deletes. See docs/redis.md.
 *
 * Two ways to talk to Redis, chosen by auto_pipeline:
 *   - a pool of pool_size connections; a call takes one, runs its round trip, gives it back;
 *   - auto-pipelining: one connection and an I/O thread that writes whatever concurrent callers
 *     queued in one batch and hands the replies back in order (as ioredis does).
 * Both are thread-safe; broken connections are dropped and reconnected lazily.
 *
 * TLS (rediss://, or tls.enabled): the library's own transport on OpenSSL (hiredis 0.14 has no
 * TLS; hiredis only parses replies and formats commands). The server certificate and its host
 * name are verified by default; a client certificate and key give mutual TLS.
 *
 * Options in the URL query (every Redis URL form; an unknown option is JWTS_E_INVALID_ARGUMENT
 * naming it; a query option wins over the struct field it sets):
 *   connect_timeout=DURATION  command_timeout=DURATION   (90 = seconds, or 500ms, 2s, 1m)
 *   pool_size=N (1..1024)     key_prefix=TEXT
 *   db=N                      (redis://, rediss://, unix://, redis[s]-sentinel://)
 *   pipeline=BOOL  pipeline_connections=N (1..64)      (redis://, rediss://, unix://)
 *   wait_replicas=N  wait_timeout=DURATION             (cluster and sentinel forms)
 *   sentinel_user=USER  sentinel_password=PASSWORD     (sentinel forms: the sentinels' ACL user)
 *   tls_ca=FILE  tls_ca_dir=DIR  tls_cert=FILE  tls_key=FILE  tls_server_name=NAME
 *   tls_insecure=BOOL                                  (TLS forms only: rediss://...)
 * BOOL is true/false, 1/0 or yes/no. Values may be percent-encoded.
 */
#ifndef JWTSESSION_STORE_REDIS_H
#define JWTSESSION_STORE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TLS to Redis; a zeroed struct means plain TCP. Files are read when the store is created. */
typedef struct jwts_redis_tls_options {
    bool enabled;            /* TLS on every connection (the rediss forms of the URL set it) */
    const char *ca_file;     /* PEM CA certificates to verify the server with */
    const char *ca_dir;      /* or a directory of them (c_rehash layout); neither: the system's */
    const char *cert_file;   /* client certificate chain (PEM) for mutual TLS; needs key_file */
    const char *key_file;    /* its private key (PEM, unencrypted); never logged */
    const char *server_name; /* the name to verify the certificate against and send as SNI;
                              * default: the host connected to (an IP address is checked against
                              * the certificate's IP entries) */
    bool insecure;           /* DANGER: no certificate or host name check (tests only) */
} jwts_redis_tls_options;

/* Options of the Redis store; a zeroed struct gives the defaults shown. Strings are copied. */
typedef struct jwts_redis_options {
    /* Where: either url, or host/port, or unix_path. url wins over the fields it sets.
     *   redis://[[user]:password@]host[:port][/db][?options]     (host may be [v6] bracketed)
     *   rediss://[[user]:password@]host[:port][/db][?options]    (TLS)
     *   unix://[[user]:password@]/path/to/redis.sock[?options] */
    const char *url;
    const char *host;      /* default "127.0.0.1" */
    int port;              /* default 6379 */
    const char *unix_path; /* a unix socket instead of host/port */
    const char *username;  /* ACL user (Redis 6+); NULL = "default" when a password is given */
    const char *password;  /* NULL = no AUTH; wiped from memory when the store is freed */
    int db;                /* SELECT db on connect; default 0 */
    const char *key_prefix;     /* default "jwts:"; no braces or control characters */
    size_t pool_size;           /* connections of the pool; default 8 (max 1024) */
    int64_t connect_timeout_ms; /* default 1000 */
    int64_t command_timeout_ms; /* bound of one call when its ctx has no earlier deadline; default 2000 */
    bool auto_pipeline;         /* share writes between concurrent callers (see above) */
    size_t pipeline_connections; /* auto_pipeline: connections, one I/O thread each; default 1 (max 64) */
    jwts_redis_tls_options tls;  /* TLS; rediss:// enables it */
} jwts_redis_options;

/* A new Redis store. Connections are opened lazily, so this succeeds while Redis is down; the
 * first call then reports JWTS_E_UNAVAILABLE. JWTS_E_INVALID_ARGUMENT for a bad URL or option,
 * or a TLS file that cannot be loaded. A failed TLS handshake is JWTS_E_UNAVAILABLE with the cause
 * ("certificate verify failed: certificate has expired", "... hostname mismatch", "tlsv13 alert
 * certificate required").
 * Failures of later calls: JWTS_E_UNAVAILABLE (refused, reset, LOADING, READONLY, auth),
 * JWTS_E_TIMEOUT (the deadline passed), JWTS_E_LIMIT (OOM), JWTS_E_PROTOCOL (any other error
 * reply or a bad reply), JWTS_E_MALFORMED (a record this library did not write); the detail holds
 * what Redis said. */
jwts_err jwts_store_redis_new(const jwts_redis_options *opts, jwts_store **out);

#ifdef __cplusplus
}
#endif
#endif
