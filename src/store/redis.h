/*
 * redis.h - private: the parts of the Redis store and how they fit.
 *
 *   redis_url.c       parse redis://, rediss:// and unix:// URLs into a redis_addr
 *   redis_query.c     the URL forms (kind, TLS or not) and their ?name=value options
 *   redis_conn.c      one connection of our own: a non-blocking socket, optionally TLS, with the
 *                     hiredis reply reader; connect, AUTH, SELECT, and a deadline-bounded round
 *                     trip (poll, never SO_RCVTIMEO)
 *   redis_resp.c      commands in RESP, written without hiredis's formatter
 *   redis_tls.c       the store's SSL_CTX (CA, client certificate) and the verified handshake
 *   redis_reply.c     map Redis error replies to jwts_err codes
 *   redis_wait.c      WAIT after writes (cluster and sentinel)
 *   redis_pool.c      a thread-safe pool of connections, each call takes one for its round trip
 *   redis_pipeline.c  auto-pipelining: concurrent callers share writes on one connection
 *   redis_record.c    the binary session record kept in Redis
 *   redis_scripts.c   the Lua scripts, their SHA-1s, EVALSHA with an EVAL fallback on NOSCRIPT
 *   redis_store.c     the jwts_store vtable over any runner, and jwts_store_redis_new
 *   redis_slot.c      CRC16 key slots with hash tags (Redis Cluster)
 *   redis_seeds.c     parse the host lists of redis-cluster:// and redis-sentinel:// URLs
 *   redis_cluster.c   a runner routing each command to the master owning its slot (MOVED, ASK,
 *                     TRYAGAIN, CLUSTERDOWN), and jwts_store_redis_cluster_new
 *   redis_sentinel.c  a runner on the master that Sentinel names, rediscovered on failover, with
 *                     an optional WAIT for replicas; jwts_store_redis_sentinel_new
 * A "runner" (pool or pipeline) executes n commands in one round trip and returns their n
 * replies; Redis error replies come back as replies, transport failures as a jwts_err.
 */
#ifndef JWTS_STORE_REDIS_PRIVATE_H
#define JWTS_STORE_REDIS_PRIVATE_H

#include <hiredis/hiredis.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jwtsession/buf.h"
#include "jwtsession/store_redis.h"

#define JWTS_REDIS_PREFIX_MAX 128

/* Where and how to connect. Strings are owned (malloc'd); the password is wiped on free. */
typedef struct redis_addr {
    char *host;
    int port;
    char *unix_path;
    char *username;
    char *password;
    int db;
} redis_addr;

/* A store's TLS settings: one SSL_CTX, built once (redis_tls.c). */
typedef struct redis_tls redis_tls;

/* Everything a connection needs. */
typedef struct redis_config {
    redis_addr addr;
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
    int64_t spin_ns;      /* a caller waiting for a reply busy-polls this long before it sleeps */
    const redis_tls *tls; /* NULL: plain; owned by the store */
} redis_config;

/* One command: argc arguments with their lengths (binary safe). */
typedef struct redis_cmd {
    int argc;
    const char *const *argv;
    const size_t *argvlen;
} redis_cmd;

/* ---- redis_query.c ----------------------------------------------------------------------- */

typedef enum redis_url_kind { REDIS_URL_SINGLE, REDIS_URL_UNIX, REDIS_URL_CLUSTER, REDIS_URL_SENTINEL } redis_url_kind;

/* The kind of url, whether it is a TLS form (rediss...), and the length of "<scheme>://".
 * false if url starts with no Redis scheme. */
bool jwts_redis_url_kind(const char *url, redis_url_kind *kind, bool *tls, size_t *prefix_len);

/* The options of a URL's query. Numbers are -1 and strings NULL when not given. */
typedef struct redis_query {
    int64_t connect_timeout_ms, command_timeout_ms, wait_timeout_ms;
    long pool_size, pipeline_connections, wait_replicas, db, spin_us, events_maxlen;
    int pipeline, tls_insecure; /* -1, 0 or 1 */
    char *key_prefix, *tls_ca, *tls_ca_dir, *tls_cert, *tls_key, *tls_server_name;
    char *sentinel_username, *sentinel_password; /* the password is wiped on clear */
    char *events; /* the lifecycle events stream (docs/events.md) */
} redis_query;

/* Parse the query of url (after its first '?'; none is fine) into *q, checking each option is
 * known and allowed for url's kind. JWTS_E_INVALID_ARGUMENT naming the option; never a value. */
jwts_err jwts_redis_query_parse(const char *url, redis_query *q);

/* Free the strings of q (wiping the password). */
void jwts_redis_query_clear(redis_query *q);

/* Copy q's tls_* options over *tls (pointers into q: keep q until the store is made). */
void jwts_redis_query_tls(const redis_query *q, jwts_redis_tls_options *tls);

/* Apply the options every kind takes (timeouts, pool size, key prefix, TLS) from q over the
 * given option fields; tls_url (a rediss form) turns TLS on. Strings point into q. */
void jwts_redis_query_common(const redis_query *q, bool tls_url, int64_t *connect_timeout_ms,
                             int64_t *command_timeout_ms, size_t *pool_size, const char **key_prefix,
                             jwts_redis_tls_options *tls);

/* ---- redis_url.c ------------------------------------------------------------------------- */

/* Parse a redis://, rediss:// or unix:// url into *out (fields not in the URL are left as they
 * are, so defaults can be set first); its query is checked and db taken from it.
 * JWTS_E_INVALID_ARGUMENT with the offending part in the detail; never the password. */
jwts_err jwts_redis_url_parse(const char *url, redis_addr *out);

/* Free the strings of a (wiping the password) and zero it. */
void jwts_redis_addr_clear(redis_addr *a);

/* ---- redis_tls.c ------------------------------------------------------------------------- */

/* The TLS settings of o as a shared SSL_CTX (*out NULL when o is NULL or not enabled): CA file or
 * directory (else the system's), client certificate and key, verification on unless insecure.
 * JWTS_E_INVALID_ARGUMENT naming the file that cannot be loaded (never its content). */
jwts_err jwts_redis_tls_new(const jwts_redis_tls_options *o, redis_tls **out);

void jwts_redis_tls_free(redis_tls *t);

/* A TLS client over the connected non-blocking socket fd, handshake done before deadline_ns,
 * the certificate checked against host (or the configured server name). where names the server
 * in details. JWTS_E_UNAVAILABLE with the cause, JWTS_E_TIMEOUT. */
jwts_err jwts_redis_tls_handshake(const redis_tls *t, int fd, const char *host, const char *where, int64_t deadline_ns,
                                  SSL **out);

/* The failure of an SSL call on ssl that returned ret (after ERR_clear_error before the call):
 * *want is set to POLLIN/POLLOUT and JWTS_OK returned when it only has to wait; otherwise a
 * jwts_err naming op, where and the cause. */
jwts_err jwts_redis_tls_error(SSL *ssl, int ret, const char *op, const char *where, short *want);

/* ---- redis_resp.c ------------------------------------------------------------------------ */

/* The length of cmds[0..n) in RESP. */
size_t jwts_redis_resp_len(const redis_cmd *cmds, size_t n);

/* Write cmds[0..n) in RESP to dst, which holds jwts_redis_resp_len(cmds, n) bytes. */
void jwts_redis_resp_write(const redis_cmd *cmds, size_t n, char *dst);

/* ---- redis_conn.c ------------------------------------------------------------------------ */

/* Elements one reply array may announce: a larger "*N" fails the connection rather than have the
 * reader allocate for it (our largest replies, a user's sessions or a batch, stay far below). */
#define JWTS_REDIS_MAX_ELEMENTS (1 << 20)

/* A RESP reader (hiredis) bounded by JWTS_REDIS_MAX_ELEMENTS; NULL when out of memory. */
redisReader *jwts_redis_reader_new(void);

/* One connection: a non-blocking socket (TLS when the config says so), a hiredis reply reader
 * and an output buffer. */
typedef struct redis_conn redis_conn;

/* Connect to cfg's address (TLS handshake when configured), then AUTH and SELECT as configured,
 * all before deadline_ns (monotonic) and the connect timeout. */
jwts_err jwts_redis_conn_open(const redis_config *cfg, int64_t deadline_ns, redis_conn **out);

/* Close c (NULL is fine). */
void jwts_redis_conn_free(redis_conn *c);

/* Send n commands in one write and read their n replies, before deadline_ns. On failure the
 * connection is out of step with the server and must be freed; replies are freed. */
jwts_err jwts_redis_conn_run(redis_conn *c, int64_t deadline_ns, const redis_cmd *cmds, size_t n, redisReply **replies);

/* Read one reply (a pushed message, say) before deadline_ns. JWTS_E_TIMEOUT leaves c usable:
 * what was read so far stays buffered for the next call. */
jwts_err jwts_redis_conn_read(redis_conn *c, int64_t deadline_ns, redisReply **reply);

/* true if c has seen the server close or reset it, or sent stray bytes (checked without
 * blocking; an idle TLS connection may consume a session ticket here). */
bool jwts_redis_conn_dead(redis_conn *c);

/* Non-blocking steps for an event loop (the auto-pipeline's I/O thread): */
jwts_err jwts_redis_conn_append(redis_conn *c, const char *resp, size_t len); /* queue commands in RESP */
jwts_err jwts_redis_conn_write(redis_conn *c);                                /* write what the socket takes now */
jwts_err jwts_redis_conn_fill(redis_conn *c);                                 /* read what is there into the reader */
jwts_err jwts_redis_conn_next(redis_conn *c, redisReply **reply);             /* a complete reply, or NULL */
bool jwts_redis_conn_output_pending(const redis_conn *c);
int jwts_redis_conn_fd(const redis_conn *c);
short jwts_redis_conn_events(const redis_conn *c); /* what to poll for */

/* Wait until fd is ready for events or deadline_ns passes: JWTS_OK, JWTS_E_TIMEOUT or
 * JWTS_E_UNAVAILABLE (poll failed). */
jwts_err jwts_redis_wait_fd(int fd, short events, int64_t deadline_ns);

/* Sleep ms milliseconds, or until deadline_ns (monotonic) if that comes first. */
void jwts_redis_sleep_within(int64_t deadline_ns, int64_t ms);

/* ---- redis_reply.c ----------------------------------------------------------------------- */

/* The code for an error reply r (LOADING, READONLY, OOM, NOSCRIPT, ...), with Redis's message
 * in the detail after "redis <op>: ". */
jwts_err jwts_redis_reply_fail(const redisReply *r, const char *op);

/* true if r is the error reply starting with the word prefix (e.g. "NOSCRIPT"). */
bool jwts_redis_reply_is(const redisReply *r, const char *prefix);

/* ---- redis_wait.c ------------------------------------------------------------------------ */

/* "WAIT <replicas> <timeout_ms>" after writes: the command and how to judge its reply. */
typedef struct redis_wait {
    int replicas; /* 0: off */
    int64_t timeout_ms;
    char num[16], ms[24];
    const char *argv[3];
    size_t lens[3];
} redis_wait;

/* Set w up (timeout_ms 0 = 500). */
void jwts_redis_wait_init(redis_wait *w, int replicas, int64_t timeout_ms);

/* true if w is on and one of cmds[0..n) writes (anything but GET and MGET). */
bool jwts_redis_wait_wanted(const redis_wait *w, const redis_cmd *cmds, size_t n);

/* The WAIT command of w (argv inside w). */
redis_cmd jwts_redis_wait_cmd(const redis_wait *w);

/* Judge the WAIT reply after the n command replies: JWTS_OK when enough replicas acknowledged,
 * or when a command failed (nothing written worth waiting for; the caller sees that error);
 * JWTS_E_UNAVAILABLE "redis WAIT: k of n replicas ..." otherwise. */
jwts_err jwts_redis_wait_check(const redis_wait *w, redisReply *const *replies, size_t n, const redisReply *wait_reply);

/* ---- runners: redis_pool.c and redis_pipeline.c ------------------------------------------ */

typedef struct redis_runner redis_runner;

/* The completion of an asynchronous run: rc (its detail set on this thread), and on JWTS_OK the n
 * replies, valid during the call only. Runs on the runner's I/O thread and must not block. */
typedef void (*redis_done_fn)(void *arg, jwts_err rc, redisReply **replies);

typedef struct redis_runner_ops {
    /* n commands in one round trip before deadline_ns; replies[i] owned by the caller. */
    jwts_err (*run)(redis_runner *r, int64_t deadline_ns, const redis_cmd *cmds, size_t n, redisReply **replies);
    /* Optional (the auto-pipeline): as run, without waiting. JWTS_OK: done(arg, ...) runs exactly
     * once, on the I/O thread, by deadline_ns at the latest; otherwise done is never called. */
    jwts_err (*run_async)(redis_runner *r, int64_t deadline_ns, const redis_cmd *cmds, size_t n, redis_done_fn done,
                          void *arg);
    void (*close)(redis_runner *r); /* drop connections, stop threads; later runs give JWTS_E_CLOSED */
    void (*destroy)(redis_runner *r);
    /* Optional (the near cache): the masters whose writes must be heard, as borrowed configs
     * valid until destroy, into out[0..cap) (out NULL: only *generation); returns how many.
     * *generation changes whenever that set or a slot's owner may have changed. NULL: the
     * store's own server, generation 0. */
    size_t (*servers)(redis_runner *r, const redis_config **out, size_t cap, uint64_t *generation);
} redis_runner_ops;

struct redis_runner {
    const redis_runner_ops *ops;
};

/* A pool of size connections to cfg (copied by reference: cfg must outlive the pool). */
jwts_err jwts_redis_pool_new(const redis_config *cfg, size_t size, redis_runner **out);

/* Run on a pool runner (made by jwts_redis_pool_new) like its run op, and tell whether the
 * commands may have reached the server: *sent is false when no connection could be opened, so
 * a failed call is known not to have been applied and can be retried elsewhere. */
jwts_err jwts_redis_pool_exec(redis_runner *pool, int64_t deadline_ns, const redis_cmd *cmds, size_t n,
                              redisReply **replies, bool *sent);

/* A server with its own pool: a cluster node, or the master Sentinel names. */
typedef struct redis_node {
    redis_config cfg; /* the pool points at it */
    redis_runner *pool;
    struct redis_node *next; /* free for the owner's lists */
} redis_node;

/* A node for host:port with tmpl's credentials, db and timeouts, and a pool of pool_size
 * connections (opened lazily). NULL when out of memory. */
redis_node *jwts_redis_node_new(const redis_config *tmpl, const char *host, int port, size_t pool_size);

/* Destroy n's pool and free it (NULL is fine). */
void jwts_redis_node_free(redis_node *n);

/* An auto-pipelining runner over conns connections, one I/O thread each. */
jwts_err jwts_redis_pipeline_new(const redis_config *cfg, size_t conns, redis_runner **out);

/* ---- redis_store.c ----------------------------------------------------------------------- */

/* How a store built on a runner behaves. */
typedef struct redis_store_spec {
    const char *name;                  /* jwts_store_name(): "redis-cluster", ... */
    const jwts_redis_tls_options *tls; /* NULL or not enabled: plain */
    const char *key_prefix;            /* NULL = "jwts:"; checked here */
    int64_t command_timeout_ms;        /* 0 = the default */
    bool split_by_slot;                /* batches over many users go as one command per cluster slot */
    const char *events_stream;         /* NULL: no lifecycle events stream (docs/events.md) */
    long long events_maxlen;           /* 0: the default */
} redis_store_spec;

/* A Redis store over runner (made by new_runner(arg, tls, &runner) once the store and its TLS
 * context exist; the store owns both). Used by the cluster and sentinel stores. */
jwts_err jwts_redis_store_new(const redis_store_spec *spec,
                              jwts_err (*new_runner)(void *arg, const redis_tls *tls, redis_runner **out), void *arg,
                              jwts_store **out);

/* The checks the cluster and sentinel constructors share: out not NULL (set to NULL), a url,
 * pool_size and connect_timeout_ms in range. JWTS_E_INVALID_ARGUMENT naming name. */
jwts_err jwts_redis_check_new(const char *name, jwts_store **out, const char *url, size_t pool_size,
                              int64_t connect_timeout_ms);

/* true if prefix is a valid key prefix (length, no braces or control characters). */
bool jwts_redis_prefix_valid(const char *prefix);

typedef struct redis_events redis_events; /* below, with the scripts */

/* The runner, events and command timeout of st when it is a store of redis_store.c (single,
 * Sentinel, Cluster), false otherwise. *pipelined: its runner is the auto-pipeline. */
bool jwts_redis_store_parts(jwts_store *st, redis_runner **runner, const redis_events **events, bool *pipelined,
                            int64_t *command_timeout_ms);

/* ---- redis_events.c ---------------------------------------------------------------------- */

/* The events of a store writing to stream (checked: 1..200 bytes, no control characters) with
 * bound maxlen (0: 100000); its expiry index is "<stream>:expiry". per_slot (Redis Cluster, where
 * a script writes one slot): each slot has its own outbox stream and expiry index, and the
 * outboxes are relayed to stream (jwts_redis_events_relay); stream then holds no braces. */
jwts_err jwts_redis_events_new(const char *stream, long long maxlen, bool per_slot, redis_events **out);

void jwts_redis_events_free(redis_events *ev);

/* Turn the due members of the expiry index into "expired" events (JWTS_SCRIPT_SWEEP in batches)
 * until none is due or the deadline passes; *expired counts them. per_slot: every slot's index,
 * then the relay of every outbox holding entries (those a writer left behind too). */
jwts_err jwts_redis_events_sweep(redis_runner *r, int64_t deadline_ns, const redis_events *ev, size_t *expired);

/* The outbox stream and the expiry index of slot, for a per_slot ev:
 * "<stream>:outbox:{<slot tag>}" and "<stream>:expiry:{<slot tag>}". */
#define JWTS_REDIS_EVENTS_KEY_MAX 240
void jwts_redis_events_slot_keys(const redis_events *ev, unsigned slot, char outbox[JWTS_REDIS_EVENTS_KEY_MAX],
                                 char expiry[JWTS_REDIS_EVENTS_KEY_MAX]);

/* Move the new entries of slot's outbox to the stream (reclaim: first those another relay took
 * more than 30 s ago and never cleared), each with an "event_id" of "<slot>-<outbox entry id>";
 * *relayed counts them. An entry is read through the outbox's consumer group, added to the
 * stream, then acknowledged and deleted: a relay that dies in between leaves it to a later
 * reclaim, so an event may reach the stream twice, never zero times. */
jwts_err jwts_redis_events_relay(redis_runner *r, int64_t deadline_ns, const redis_events *ev, unsigned slot,
                                 bool reclaim, size_t *relayed);

/* The entries {id, fields} of an XREADGROUP reply ([[key, entries]], or nil for none: then the
 * nil itself) or, claimed, of an XAUTOCLAIM one ([cursor, entries, deleted ids]); NULL if the
 * reply is neither. */
const redisReply *jwts_redis_events_entries(const redisReply *reply, bool claimed);

/* The stream entry id with its fields ([field, value, ...]; pairs that are not two strings are
 * left out) as one JSON object, "id" first, numeric fields as numbers, into b (reset first). */
jwts_err jwts_redis_events_entry_json(const redisReply *fields, const char *id, jwts_buf *b);

/* The commands that move entries (jwts_redis_events_entries of a take) of slot's outbox to the
 * stream: cmds[0..adds) one XADD per entry whose fields are an even number of strings, with its
 * event_id; cmds[adds] and cmds[adds + 1] the XACK and the XDEL of every entry taken (one whose
 * fields are not so is only acknowledged and deleted); nil entries are skipped. cmds is NULL when
 * no entry has an id. JWTS_E_PROTOCOL for an entry that is not {id of 1..40 bytes, fields}. The
 * commands point into list and outbox. */
typedef struct relay_batch {
    redis_cmd *cmds;
    size_t adds;
    const char **av;
    size_t *al;
    char (*event_ids)[64];
    char maxlen[24];
} relay_batch;
jwts_err jwts_redis_relay_batch_new(const redis_events *ev, unsigned slot, const char *outbox, const redisReply *list,
                                    relay_batch *b);
void jwts_redis_relay_batch_free(relay_batch *b);

/* jwts_redis_events_relay of slot's new entries right after a write, within 100 ms (or the
 * call's deadline, if sooner) so that a hung stream master slows writes by that much at most;
 * what it cannot move is left, or handed back, to the sweep. Failures are not reported. */
void jwts_redis_events_relay_after_write(redis_runner *r, int64_t deadline_ns, const redis_events *ev, unsigned slot);

/* Run write (a command on slot) pipelined with the take of slot's new outbox entries, then relay
 * them as jwts_redis_events_relay_after_write does; *reply is write's reply, rc the write's. */
jwts_err jwts_redis_events_run_relayed(redis_runner *r, int64_t deadline_ns, const redis_events *ev, unsigned slot,
                                       const redis_cmd *write, redisReply **reply);

/* ---- redis_slot.c ------------------------------------------------------------------------ */

#define JWTS_REDIS_SLOTS 16384

/* The cluster slot of key: CRC16-XMODEM of its hash tag (the bytes between the first '{' and
 * the next '}', when not empty) or of the whole key, modulo 16384. */
unsigned jwts_redis_key_slot(const char *key, size_t len);

/* A hash tag (decimal digits, NUL-terminated) whose keys land in slot: "x{<tag>}" hashes to it. */
#define JWTS_REDIS_SLOT_TAG_LEN 12
void jwts_redis_slot_tag(unsigned slot, char out[JWTS_REDIS_SLOT_TAG_LEN]);

/* The slot of command cmd: that of its first key (EVAL/EVALSHA: the first of KEYS; XREAD and
 * XREADGROUP: the first after STREAMS; XGROUP, XINFO: the one after the subcommand), or -1 for
 * a command without keys. */
int jwts_redis_cmd_slot(const redis_cmd *cmd);

/* ---- redis_seeds.c ----------------------------------------------------------------------- */

/* Parse "<scheme>://[[user]:password@]host:port[,host:port...][/path][?query]" into *n malloc'd
 * addresses (each with the user and password) and a malloc'd path without its leading '/'
 * ("" when none); the query is left to jwts_redis_query_parse. JWTS_E_INVALID_ARGUMENT naming
 * the bad part. */
jwts_err jwts_redis_seeds_parse(const char *url, const char *scheme, redis_addr **addrs, size_t *n, char **path);

/* Clear and free n addresses. */
void jwts_redis_seeds_free(redis_addr *addrs, size_t n);

/* ---- redis_record.c ---------------------------------------------------------------------- */

/* The binary record (all integers big-endian):
 *   0 magic "jws\2" | 4 created | 12 updated | 20 expires | 28 idle_expires | 36 last_seen
 *   | 44 refresh.current[32] | 76 refresh.previous[32] | 108 refresh.sealed_next[32]
 *   | 140 refresh.older[8][16] | 268 rotated_at | 276 generation | 284 flags (bit 0: confirmed)
 *   | 292 user_id length u32 | 296 session_id length u32 | 300 metadata length u32 (~0: NULL)
 *   | 304 user_id, session_id, metadata bytes
 *   [ | device: client_ip length u8 | user_agent length u16 | client_ip, user_agent bytes ]
 * The device trailer is there only when the session has a client_ip or a user_agent (length 0:
 * none), so a record without one is byte for byte what earlier versions wrote, and theirs decode.
 * The scripts rewrite fixed-offset fields in place with SETRANGE, never parsing the record. */
#define JWTS_REC_MAGIC "jws\002"
#define JWTS_REC_OFF_UPDATED 12
#define JWTS_REC_OFF_IDLE 28    /* idle_expires then last_seen: 16 bytes */
#define JWTS_REC_OFF_REFRESH 44 /* current .. flags: 248 bytes */
#define JWTS_REC_REFRESH_LEN 248
#define JWTS_REC_OFF_CONFIRMED 291 /* the low byte of flags: 1 = refresh.confirmed */
#define JWTS_REC_OFF_USER_LEN 292 /* user_id length, u32 big-endian (the scripts' owns()) */
#define JWTS_REC_HEADER 304

/* Encode s as a record into a malloc'd buffer. */
jwts_err jwts_redis_record_encode(const jwts_session *s, char **out, size_t *out_len);

/* Decode a record (len bytes) into a library-owned session. JWTS_E_MALFORMED if it is not one. */
jwts_err jwts_redis_record_decode(const char *rec, size_t len, jwts_session **out);

/* Big-endian 64-bit store, for the in-place updates the scripts apply. */
void jwts_redis_put_i64(unsigned char *p, int64_t v);

/* The JWTS_REC_REFRESH_LEN bytes of refresh state at JWTS_REC_OFF_REFRESH. */
void jwts_redis_record_refresh(const jwts_refresh_state *r, unsigned char out[JWTS_REC_REFRESH_LEN]);

/* ---- redis_scripts.c --------------------------------------------------------------------- */

typedef enum redis_script {
    JWTS_SCRIPT_SET,         /* KEYS idx,rec pairs; ARGV ttl_ms, then sid,record pairs -> count */
    JWTS_SCRIPT_DEL,         /* KEYS idx,rec pairs; ARGV sids -> records deleted */
    JWTS_SCRIPT_TOUCH,       /* KEYS idx,rec; ARGV idle+last_seen(16), ttl_ms, sid -> 1 or 0 */
    JWTS_SCRIPT_ROTATE,      /* KEYS idx,rec; ARGV expected, updated(8), refresh(248), ttl_ms, sid,
                                want -> nil or {matched, record} */
    JWTS_SCRIPT_REPLACE,     /* KEYS idx,rec; ARGV expected, record, ttl_ms, sid -> nil, 0 or 1 */
    JWTS_SCRIPT_LIST_USER,   /* KEYS idx; ARGV record key prefix -> records */
    JWTS_SCRIPT_DELETE_USER, /* KEYS idx; ARGV record key prefix -> records deleted */
    JWTS_SCRIPT_DELETE_USER_EXCEPT, /* KEYS idx,kept rec; ARGV record key prefix, kept sid
                                       -> records deleted, -1 when the kept one is not there */
    JWTS_SCRIPT_SWEEP,       /* events only: KEYS expiry, stream; ARGV maxlen, batch -> {due, expired} */
    JWTS_SCRIPT__COUNT
} redis_script;

/* The 40-hex SHA-1 of script id (as EVALSHA wants it), computed once. */
const char *jwts_redis_script_sha(redis_script id);

/* Run script id with nkeys keys and nargs args (argv[0..nkeys+nargs), lens) in one round trip:
 * EVALSHA, and EVAL when the server answers NOSCRIPT. *reply is the reply (maybe an error). */
jwts_err jwts_redis_script_run(redis_runner *r, int64_t deadline_ns, redis_script id, int nkeys, int nargs,
                               const char *const *argv, const size_t *lens, redisReply **reply);

/* A store's lifecycle events (docs/events.md): each write script also appends the event the
 * calling thread noted (core/event_note.h) to the stream, and keeps the expiry index (a sorted
 * set of record keys by expiry time) that JWTS_SCRIPT_SWEEP turns into "expired" events. */
struct redis_events {
    const char *stream; /* the stream's key */
    const char *expiry; /* the expiry index's key (not per_slot) */
    long long maxlen;   /* XADD MAXLEN ~ (the stream's and each outbox's) */
    bool per_slot;      /* Cluster: the scripts write their slot's outbox and expiry index */
};

/* jwts_redis_script_run, with ev (NULL: none) in force: the write scripts run in their event form
 * (two more keys, the noted event's fields as more args); other scripts run as they are. On a
 * per_slot ev the two keys are the slot's outbox and index, and the write is relayed. */
jwts_err jwts_redis_script_run_ev(redis_runner *r, int64_t deadline_ns, redis_script id, int nkeys, int nargs,
                                  const char *const *argv, const size_t *lens, const redis_events *ev,
                                  redisReply **reply);

#endif
