/*
 * redis_scripts.c - the Lua scripts of the Redis store, and running them by EVALSHA.
 *
 * Each multi-key operation is one script, so it is atomic and one round trip. Every script that
 * touches a user's index first trims its expired members (ZREMRANGEBYSCORE up to the server's
 * TIME), gives every record a server-side TTL, and keeps the index's own TTL at least as long as
 * its longest member's, so neither records nor index entries outlive their sessions. Index
 * scores are expiry times in the server's clock, so clients' clocks never matter.
 *
 * Every script first touches each of its keys (EXISTS), before any write: in a Redis Cluster slot
 * that is being migrated, a key that already left makes the script fail right there ("non local
 * key"), so it fails whole and the cluster runner can send it again once the slot settles, where
 * a failure after the first write would leave it half applied.
 *
 * Keys (redis_store.c): a record "<prefix>{<tag>}:s:<sid>" is named by the session id and its
 * user's tag only, so users of one tag could hold records under the same key. Every script
 * therefore checks that a record belongs to the user whose index it was given (owns(): the user id
 * in the record's header; owner(): the user named by the index key "<prefix>{<tag>}:u:<user>")
 * before it reads it back, changes or deletes it: another user's record is never touched, and a
 * set over it fails (-1) rather than overwrite it (a value that is no record is overwritten).
 *
 * Scripts carry no shebang flags (Redis 6 compatible). Keys a script builds itself (list and
 * delete by user) share the user's hash tag with the declared index key, so they stay in one
 * Redis Cluster slot. A script is sent by SHA-1 (EVALSHA); after a restart or SCRIPT FLUSH the
 * server answers NOSCRIPT and the same call is sent once more as EVAL, which also caches it.
 * The SHA-1s are computed once per process (the only global state of the Redis store).
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event_note.h"
#include "jwtsession/error.h"
#include "store/redis.h"

#define STR_(x) #x
#define STR(x) STR_(x)

#define PRELUDE                                                                                  \
    "local MAGIC = 'jws\\002'\n"                                                                \
    "local function now_ms()\n"                                                                  \
    "  local t = redis.call('TIME')\n"                                                           \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                       \
    "end\n"                                                                                      \
    "local function index(idx, sid, exp, now)\n"                                                 \
    "  redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)\n"                                       \
    "  redis.call('ZADD', idx, exp, sid)\n"                                                      \
    "  local pt = redis.call('PTTL', idx)\n"                                                     \
    "  if pt < 0 or now + pt < exp then redis.call('PEXPIREAT', idx, exp) end\n"                 \
    "end\n"                                                                                      \
    "local function unindex(idx, sid, now)\n"                                                    \
    "  redis.call('ZREM', idx, sid)\n"                                                           \
    "  redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)\n"                                       \
    "end\n"                                                                                      \
    "local function owner(idx) return string.match(idx, '^[^{]*{[^}]*}:u:(.*)$') or '' end\n"    \
    "local function holds(v, user)\n"                                                            \
    "  return #v >= " STR(JWTS_REC_HEADER) " + #user and string.sub(v, 1, 4) == MAGIC and\n"     \
    "    string.sub(v, " STR(JWTS_REC_OFF_USER_LEN) " + 1, " STR(JWTS_REC_OFF_USER_LEN) " + 4) ==\n" \
    "      string.char(0, 0, 0, #user) and\n"                                                    \
    "    string.sub(v, " STR(JWTS_REC_HEADER) " + 1, " STR(JWTS_REC_HEADER) " + #user) == user\n"  \
    "end\n"                                                                                      \
    "local function owns(rec, user)\n"                                                           \
    "  return holds(redis.call('GETRANGE', rec, 0, " STR(JWTS_REC_HEADER) " - 1 + #user), user)\n" \
    "end\n"                                                                                      \
    "for i = 1, #KEYS do redis.call('EXISTS', KEYS[i]) end\n"

/* The end of the event forms of the scripts that delete many sessions: one REVOKED event per
 * session that was live before the body ran (its expiry index entry goes with it). */
#define EMIT_EACH_DELETED                                                                                              \
    "for i, id in ipairs(ids) do\n"                                                                                   \
    "  if live[i] == 1 then\n"                                                                                        \
    "    redis.call('ZREM', EXPK, ARGV[1] .. id .. '\\n' .. user_)\n"                                                                   \
    "    emit(id)\n"                                                                                                  \
    "  end\n"                                                                                                         \
    "end\n"                                                                                                           \
    "return r\n"

static const char *const BODIES[JWTS_SCRIPT__COUNT] = {
    [JWTS_SCRIPT_SET] = PRELUDE
    "local now = now_ms()\n"
    "local ttl = tonumber(ARGV[1])\n"
    "for i = 1, #KEYS, 2 do\n"
    "  local head = redis.call('GETRANGE', KEYS[i + 1], 0, 3)\n"
    "  if head == MAGIC and not owns(KEYS[i + 1], owner(KEYS[i])) then return -1 end\n"
    "end\n"
    "for i = 1, #KEYS, 2 do\n"
    "  redis.call('SET', KEYS[i + 1], ARGV[i + 2], 'PX', ttl)\n"
    "  index(KEYS[i], ARGV[i + 1], now + ttl, now)\n"
    "end\n"
    "return #KEYS / 2\n",

    [JWTS_SCRIPT_DEL] = PRELUDE
    "local now = now_ms()\n"
    "local n = 0\n"
    "for i = 1, #KEYS, 2 do\n"
    "  if owns(KEYS[i + 1], owner(KEYS[i])) then n = n + redis.call('DEL', KEYS[i + 1]) end\n"
    "  unindex(KEYS[i], ARGV[(i + 1) / 2], now)\n"
    "end\n"
    "return n\n",

    [JWTS_SCRIPT_TOUCH] = PRELUDE
    "local now = now_ms()\n"
    "if not owns(KEYS[2], owner(KEYS[1])) then\n"
    "  unindex(KEYS[1], ARGV[3], now)\n"
    "  return 0\n"
    "end\n"
    "redis.call('SETRANGE', KEYS[2], " STR(JWTS_REC_OFF_IDLE) ", ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
    "index(KEYS[1], ARGV[3], now + tonumber(ARGV[2]), now)\n"
    "return 1\n",

    /* The compare is plain Lua string equality: it runs inside Redis, where its per-byte timing
     * is lost in the script engine and the network round trip, and it compares hashes of refresh
     * secrets, never the secrets. */
    /* updated_at never moves back: the new time is written only when it is later (8-byte
     * big-endian times compared byte by byte; Lua's string order follows the server's locale). */
    [JWTS_SCRIPT_ROTATE] = PRELUDE
    "local function later(a, b)\n"
    "  for i = 1, 8 do\n"
    "    local x, y = a:byte(i), b:byte(i)\n"
    "    if x ~= y then return x > y end\n"
    "  end\n"
    "  return false\n"
    "end\n"
    "local now = now_ms()\n"
    "if not owns(KEYS[2], owner(KEYS[1])) then\n"
    "  unindex(KEYS[1], ARGV[5], now)\n"
    "  return false\n"
    "end\n"
    "local cur = redis.call('GETRANGE', KEYS[2], " STR(JWTS_REC_OFF_REFRESH) ", "
    STR(JWTS_REC_OFF_REFRESH) " + 31)\n"
    "local matched = 0\n"
    "if cur == ARGV[1] then\n"
    "  matched = 1\n"
    "  local upd = redis.call('GETRANGE', KEYS[2], " STR(JWTS_REC_OFF_UPDATED) ", "
    STR(JWTS_REC_OFF_UPDATED) " + 7)\n"
    "  if later(ARGV[2], upd) then redis.call('SETRANGE', KEYS[2], " STR(JWTS_REC_OFF_UPDATED) ", ARGV[2]) end\n"
    "  redis.call('SETRANGE', KEYS[2], " STR(JWTS_REC_OFF_REFRESH) ", ARGV[3])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
    "  index(KEYS[1], ARGV[5], now + tonumber(ARGV[4]), now)\n"
    "end\n"
    "local rec = false\n"
    "if ARGV[6] == '1' then rec = redis.call('GET', KEYS[2]) end\n"
    "return {matched, rec}\n",

    /* Compare-and-set of the whole record; the same plain comparison as rotate. A confirmed
     * current refresh secret stays confirmed (the flag only ever goes from 0 to 1 per secret). */
    [JWTS_SCRIPT_REPLACE] = PRELUDE
    "local now = now_ms()\n"
    "if not owns(KEYS[2], owner(KEYS[1])) then\n"
    "  unindex(KEYS[1], ARGV[4], now)\n"
    "  return false\n"
    "end\n"
    "if redis.call('GETRANGE', KEYS[2], " STR(JWTS_REC_OFF_REFRESH) ", "
    STR(JWTS_REC_OFF_REFRESH) " + 31) ~= ARGV[1] then return 0 end\n"
    "local confirmed = redis.call('GETRANGE', KEYS[2], " STR(JWTS_REC_OFF_CONFIRMED) ", "
    STR(JWTS_REC_OFF_CONFIRMED) ")\n"
    "redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])\n"
    "if confirmed == '\\1' and string.sub(ARGV[2], " STR(JWTS_REC_OFF_REFRESH) " + 1, "
    STR(JWTS_REC_OFF_REFRESH) " + 32) == ARGV[1] then\n"
    "  redis.call('SETRANGE', KEYS[2], " STR(JWTS_REC_OFF_CONFIRMED) ", confirmed)\n"
    "end\n"
    "index(KEYS[1], ARGV[4], now + tonumber(ARGV[3]), now)\n"
    "return 1\n",

    /* Read-only unless something expired, so it also runs on a replica. */
    [JWTS_SCRIPT_LIST_USER] = PRELUDE
    "local now = now_ms()\n"
    "if redis.call('ZCOUNT', KEYS[1], '-inf', now) > 0 then\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "end\n"
    "local out = {}\n"
    "local user = owner(KEYS[1])\n"
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  local v = redis.call('GET', ARGV[1] .. id)\n"
    "  if v and holds(v, user) then out[#out + 1] = v end\n"
    "end\n"
    "return out\n",

    [JWTS_SCRIPT_DELETE_USER] = PRELUDE
    "local now = now_ms()\n"
    "local n = 0\n"
    "local user = owner(KEYS[1])\n"
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  if owns(ARGV[1] .. id, user) then n = n + redis.call('DEL', ARGV[1] .. id) end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return n\n",

    /* "Sign out everywhere else": the kept record (declared, so in the user's slot) must be
     * there; every other indexed record goes, with its index entry. */
    [JWTS_SCRIPT_DELETE_USER_EXCEPT] = PRELUDE
    "local now = now_ms()\n"
    "local user = owner(KEYS[1])\n"
    "if not owns(KEYS[2], user) then return -1 end\n"
    "local n = 0\n"
    "for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  if id ~= ARGV[2] then\n"
    "    if owns(ARGV[1] .. id, user) then n = n + redis.call('DEL', ARGV[1] .. id) end\n"
    "    redis.call('ZREM', KEYS[1], id)\n"
    "  end\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "return n\n",

    /* Events only (no prelude): the expiry index's due members whose record is gone become
     * "expired" events; one still there (its TTL was moved without the index) is re-scored. A
     * member is "<record key>\n<user id>" (the key names no user; neither part holds a newline). */
    [JWTS_SCRIPT_SWEEP] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local n = 0\n"
    "for _, m in ipairs(due) do\n"
    "  local rec, user = string.match(m, '^([^\\n]*)\\n(.*)$')\n"
    "  if not rec then rec = m end\n"
    "  local pt = redis.call('PTTL', rec)\n"
    "  if pt == -2 then\n"
    "    redis.call('ZREM', KEYS[1], m)\n"
    "    local sid = string.match(rec, '}:s:(.*)$')\n"
    "    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', 'expired', 'user_id', user or '',\n"
    "               'session_id', sid or '', 'time_ms', tostring(now))\n"
    "    n = n + 1\n"
    "  elseif pt == -1 then\n"
    "    redis.call('ZREM', KEYS[1], m)\n"
    "  else\n"
    "    redis.call('ZADD', KEYS[1], now + pt, m)\n"
    "  end\n"
    "end\n"
    "return {#due, n}\n",
};

/* ---- the event forms of the write scripts (docs/events.md) ----------------------------------
 * Built once from the plain ones: EV_PRE takes the two extra keys (expiry index, stream) and the
 * EV_ARGS event fields off the end of KEYS and ARGV (shadowing both, so the bodies run unchanged),
 * then the plain PRELUDE, then EV_POST, which makes index() also score the record in the expiry
 * index and defines emit(); the body runs as a function, and a per-script tail appends the noted
 * event to the stream only when the write happened. A delete removes the record from the expiry
 * index only when the record was there: one that Redis already expired stays for the sweep. */

#define EV_ARGS 11 /* maxlen, kind, user, sid, reason, generation, reused_generation, rotated_out_at_ms,
                      client_ip, user_agent, new_device ("1": a new_device event follows) */

static const char EV_PRE[] =
    "local EXPK, EVK = KEYS[#KEYS - 1], KEYS[#KEYS]\n"
    "local EVA, K_, A_ = {}, {}, {}\n"
    "for i = 1, " STR(EV_ARGS) " do EVA[i] = ARGV[#ARGV - " STR(EV_ARGS) " + i] end\n"
    "for i = 1, #KEYS - 2 do K_[i] = KEYS[i] end\n"
    "for i = 1, #ARGV - " STR(EV_ARGS) " do A_[i] = ARGV[i] end\n"
    "local KEYS, ARGV = K_, A_\n";

static const char EV_POST[] =
    "local index_ = index\n"
    "index = function(idx, sid, exp, now)\n"
    "  index_(idx, sid, exp, now)\n"
    "  redis.call('ZADD', EXPK, exp, string.match(idx, '^([^{]*{[^}]*}:)u:') .. 's:' .. sid .. '\\n' .. owner(idx))\n"
    "end\n"
    "local function xadd(kind, user, sid, extra)\n"
    "  local a = {'XADD', EVK, 'MAXLEN', '~', EVA[1], '*', 'type', kind, 'user_id', user, 'session_id', sid,\n"
    "             'time_ms', tostring(now_ms())}\n"
    "  for _, v in ipairs(extra) do a[#a + 1] = v end\n"
    "  redis.call(unpack(a))\n"
    "end\n"
    "local function emit(sid)\n"
    "  local kind, user, reason = EVA[2], EVA[3], EVA[5]\n"
    "  if kind == '' then return end\n"
    "  sid = sid or EVA[4]\n"
    "  if kind == 'revoked' and reason == 'theft' then\n"
    "    local x = {'generation', EVA[6]}\n"
    "    if EVA[7] ~= '' then x[#x + 1] = 'reused_generation'; x[#x + 1] = EVA[7] end\n"
    "    if EVA[8] ~= '' then x[#x + 1] = 'rotated_out_at_ms'; x[#x + 1] = EVA[8] end\n"
    "    if EVA[9] ~= '' then x[#x + 1] = 'client_ip'; x[#x + 1] = EVA[9] end\n"
    "    if EVA[10] ~= '' then x[#x + 1] = 'user_agent'; x[#x + 1] = EVA[10] end\n"
    "    xadd('theft_detected', user, sid, x)\n"
    "  end\n"
    "  local x = {}\n"
    "  if reason ~= '' then x = {'reason', reason} end\n"
    "  if kind == 'refreshed' then x = {'generation', EVA[6]} end\n"
    "  xadd(kind, user, sid, x)\n"
    "  if EVA[11] == '1' then\n"
    "    x = {}\n"
    "    if EVA[9] ~= '' then x = {'client_ip', EVA[9]} end\n"
    "    x[#x + 1] = 'user_agent'; x[#x + 1] = EVA[10]\n"
    "    xadd('new_device', user, sid, x)\n"
    "  end\n"
    "end\n"
    "local function body()\n";

static const char *const EV_TAILS[JWTS_SCRIPT__COUNT] = {
    [JWTS_SCRIPT_SET] = "end\n"
    "local r = body()\n"
    "if r == -1 then return r end\n"
    "for i = 1, #KEYS, 2 do emit(ARGV[i + 1]) end\n"
    "return r\n",

    [JWTS_SCRIPT_DEL] = "end\n"
    "local existed = {}\n"
    "for i = 1, #KEYS, 2 do existed[i] = owns(KEYS[i + 1], owner(KEYS[i])) end\n"
    "local r = body()\n"
    "for i = 1, #KEYS, 2 do\n"
    "  if existed[i] then\n"
    "    redis.call('ZREM', EXPK, KEYS[i + 1] .. '\\n' .. owner(KEYS[i]))\n"
    "    emit(ARGV[(i + 1) / 2])\n"
    "  end\n"
    "end\n"
    "return r\n",

    [JWTS_SCRIPT_TOUCH] = "end\nreturn body()\n",
    [JWTS_SCRIPT_ROTATE] = "end\nreturn body()\n",

    [JWTS_SCRIPT_REPLACE] = "end\n"
    "local r = body()\n"
    "if r == 1 then emit() end\n"
    "return r\n",

    [JWTS_SCRIPT_DELETE_USER] = "end\n"
    "local ids = redis.call('ZRANGE', KEYS[1], 0, -1)\n"
    "local live, user_ = {}, owner(KEYS[1])\n"
    "for i, id in ipairs(ids) do live[i] = owns(ARGV[1] .. id, user_) and 1 or 0 end\n"
    "local r = body()\n"
    EMIT_EACH_DELETED,

    [JWTS_SCRIPT_DELETE_USER_EXCEPT] = "end\n"
    "local ids = redis.call('ZRANGE', KEYS[1], 0, -1)\n"
    "local live, user_ = {}, owner(KEYS[1])\n"
    "for i, id in ipairs(ids) do live[i] = (id ~= ARGV[2] and owns(ARGV[1] .. id, user_)) and 1 or 0 end\n"
    "local r = body()\n"
    "if r == -1 then return r end\n"
    EMIT_EACH_DELETED,
};

static char SHAS[JWTS_SCRIPT__COUNT][41];
static char *EV_BODIES[JWTS_SCRIPT__COUNT]; /* built once, kept for the process's life */
static char EV_SHAS[JWTS_SCRIPT__COUNT][41];
static pthread_once_t SHAS_ONCE = PTHREAD_ONCE_INIT;

static void sha1_hex(const char *text, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(text, strlen(text), md, &n, EVP_sha1(), NULL);
    for (unsigned j = 0; j < 20; j++) snprintf(&out[j * 2], 3, "%02x", md[j]);
}

static void compute_shas(void)
{
    size_t prelude = strlen(PRELUDE);
    for (int i = 0; i < JWTS_SCRIPT__COUNT; i++) {
        sha1_hex(BODIES[i], SHAS[i]);
        if (!EV_TAILS[i]) continue;
        const char *body = BODIES[i] + prelude; /* every wrapped body starts with PRELUDE */
        size_t n = strlen(EV_PRE) + prelude + strlen(EV_POST) + strlen(body) + strlen(EV_TAILS[i]) + 1;
        if (!(EV_BODIES[i] = malloc(n))) continue; /* that script then fails JWTS_E_NO_MEMORY */
        snprintf(EV_BODIES[i], n, "%s%s%s%s%s", EV_PRE, PRELUDE, EV_POST, body, EV_TAILS[i]);
        sha1_hex(EV_BODIES[i], EV_SHAS[i]);
    }
}

const char *jwts_redis_script_sha(redis_script id)
{
    pthread_once(&SHAS_ONCE, compute_shas);
    return SHAS[id];
}

#define ARGV_STACK 16

/* Run the script text body (SHA-1 sha): EVALSHA, then EVAL on NOSCRIPT. relay (a per-slot events
 * store; NULL: none): the EVALSHA goes with the take of slot's outbox, which is then relayed. */
static jwts_err run_text(redis_runner *r, int64_t deadline_ns, const char *body, const char *sha, int nkeys, int nargs,
                         const char *const *argv, const size_t *lens, const redis_events *relay, unsigned slot,
                         redisReply **reply)
{
    int argc = 3 + nkeys + nargs;
    const char *stack_argv[ARGV_STACK];
    size_t stack_lens[ARGV_STACK];
    const char **av = stack_argv;
    size_t *al = stack_lens;
    if (argc > ARGV_STACK) {
        av = malloc((size_t)argc * sizeof *av);
        al = malloc((size_t)argc * sizeof *al);
        if (!av || !al) {
            free(av);
            free(al);
            return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
        }
    }
    char numkeys[16];
    av[0] = "EVALSHA", al[0] = 7;
    av[1] = sha, al[1] = 40;
    av[2] = numkeys, al[2] = (size_t)snprintf(numkeys, sizeof numkeys, "%d", nkeys);
    memcpy(av + 3, argv, (size_t)(nkeys + nargs) * sizeof *av);
    memcpy(al + 3, lens, (size_t)(nkeys + nargs) * sizeof *al);
    redis_cmd cmd = {argc, av, al};
    jwts_err rc = relay ? jwts_redis_events_run_relayed(r, deadline_ns, relay, slot, &cmd, reply)
                        : r->ops->run(r, deadline_ns, &cmd, 1, reply);
    if (!rc && jwts_redis_reply_is(*reply, "NOSCRIPT")) {
        freeReplyObject(*reply);
        *reply = NULL;
        av[0] = "EVAL", al[0] = 4;
        av[1] = body, al[1] = strlen(body);
        rc = r->ops->run(r, deadline_ns, &cmd, 1, reply);
        if (!rc && relay && (*reply)->type != REDIS_REPLY_ERROR) /* what it cannot move is the sweep's */
            jwts_redis_events_relay_after_write(r, deadline_ns, relay, slot);
    }
    if (av != stack_argv) {
        free(av);
        free(al);
    }
    return rc;
}

jwts_err jwts_redis_script_run(redis_runner *r, int64_t deadline_ns, redis_script id, int nkeys, int nargs,
                               const char *const *argv, const size_t *lens, redisReply **reply)
{
    pthread_once(&SHAS_ONCE, compute_shas);
    return run_text(r, deadline_ns, BODIES[id], SHAS[id], nkeys, nargs, argv, lens, NULL, 0, reply);
}

jwts_err jwts_redis_script_run_ev(redis_runner *r, int64_t deadline_ns, redis_script id, int nkeys, int nargs,
                                  const char *const *argv, const size_t *lens, const redis_events *ev,
                                  redisReply **reply)
{
    pthread_once(&SHAS_ONCE, compute_shas);
    if (!ev || !EV_TAILS[id]) /* not a write script: no event form */
        return run_text(r, deadline_ns, BODIES[id], SHAS[id], nkeys, nargs, argv, lens, NULL, 0, reply);
    if (!EV_BODIES[id]) return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    /* the event form: argv's keys, then expiry and stream; argv's args, then the event fields */
    const jwts_event *then, *e = jwts_event_note_get(&then);
    char maxlen[24], gen[24], reused[24], rotated[24];
    snprintf(maxlen, sizeof maxlen, "%lld", ev->maxlen);
    const char *kind = "", *user = "", *sid = "", *reason = "", *ip = "", *ua = "", *fresh = "";
    gen[0] = reused[0] = rotated[0] = '\0';
    if (e) {
        kind = jwts_event_kind_name(e->kind);
        user = e->user_id ? e->user_id : "";
        sid = e->session_id ? e->session_id : "";
        reason = jwts_revoke_reason_name(e->reason);
        ip = e->client_ip ? e->client_ip : "";
        ua = e->user_agent ? e->user_agent : "";
        if (then && then->kind == JWTS_EVENT_NEW_DEVICE && then->user_agent) { /* its device, after e */
            ip = then->client_ip ? then->client_ip : "";
            ua = then->user_agent;
            fresh = "1";
        }
        snprintf(gen, sizeof gen, "%llu", (unsigned long long)e->generation);
        if (e->reused_generation >= 0) snprintf(reused, sizeof reused, "%lld", (long long)e->reused_generation);
        if (e->rotated_out_at_ms) snprintf(rotated, sizeof rotated, "%lld", (long long)e->rotated_out_at_ms);
    }
    const char *extra_args[EV_ARGS] = {maxlen, kind, user, sid, reason, gen, reused, rotated, ip, ua, fresh};
    int n = nkeys + 2 + nargs + EV_ARGS;
    const char **av = malloc((size_t)n * sizeof *av);
    size_t *al = malloc((size_t)n * sizeof *al);
    if (!av || !al) {
        free(av);
        free(al);
        return jwts_fail(JWTS_E_NO_MEMORY, "redis: out of memory");
    }
    memcpy(av, argv, (size_t)nkeys * sizeof *av);
    memcpy(al, lens, (size_t)nkeys * sizeof *al);
    char outbox[JWTS_REDIS_EVENTS_KEY_MAX], expiry[JWTS_REDIS_EVENTS_KEY_MAX];
    unsigned slot = ev->per_slot ? jwts_redis_key_slot(argv[0], lens[0]) : 0; /* every key is in one slot */
    if (ev->per_slot) jwts_redis_events_slot_keys(ev, slot, outbox, expiry);
    const char *stream = ev->per_slot ? outbox : ev->stream, *index = ev->per_slot ? expiry : ev->expiry;
    av[nkeys] = index, al[nkeys] = strlen(index);
    av[nkeys + 1] = stream, al[nkeys + 1] = strlen(stream);
    memcpy(av + nkeys + 2, argv + nkeys, (size_t)nargs * sizeof *av);
    memcpy(al + nkeys + 2, lens + nkeys, (size_t)nargs * sizeof *al);
    for (int i = 0; i < EV_ARGS; i++) {
        av[nkeys + 2 + nargs + i] = extra_args[i];
        al[nkeys + 2 + nargs + i] = strlen(extra_args[i]);
    }
    /* per slot, a write that noted an event takes its outbox's new entries in the same round trip */
    const redis_events *relay = ev->per_slot && e ? ev : NULL;
    jwts_err rc = run_text(r, deadline_ns, EV_BODIES[id], EV_SHAS[id], nkeys + 2, nargs + EV_ARGS, av, al, relay, slot,
                           reply);
    free(av);
    free(al);
    return rc;
}
