/*
 * redis_slot.c - Redis Cluster key slots: CRC16-XMODEM of the key or its hash tag, mod 16384.
 *
 * As the cluster specification defines it: if the key holds a '{' followed later by a '}' with
 * at least one byte between them, only those bytes are hashed. Our keys are
 * "<prefix>{<user tag>}..." (jwts_user_tag), so all keys of one user share a slot. Slot tags go the
 * other way: for each slot, a short hash tag that lands there, so a key can be placed in a slot
 * chosen first (the per-slot keys of the events stream on Cluster, docs/events.md).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "store/redis.h"

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection; a byte at a time
 * from a table built once. */
static uint16_t TABLE[256];
static pthread_once_t TABLE_ONCE = PTHREAD_ONCE_INIT;

static void build_table(void)
{
    for (unsigned i = 0; i < 256; i++) {
        unsigned crc = i << 8;
        for (int b = 0; b < 8; b++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
        TABLE[i] = (uint16_t)crc;
    }
}

static unsigned crc16(const char *buf, size_t len)
{
    pthread_once(&TABLE_ONCE, build_table);
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) crc = ((crc << 8) ^ TABLE[((crc >> 8) ^ (unsigned char)buf[i]) & 0xff]) & 0xffff;
    return crc;
}

unsigned jwts_redis_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1) return crc16(open + 1, (size_t)(close - open - 1)) & (JWTS_REDIS_SLOTS - 1);
    }
    return crc16(key, len) & (JWTS_REDIS_SLOTS - 1);
}

/* SLOT_TAGS[slot]: the smallest number whose decimal digits hash to slot, found once. */
static uint32_t SLOT_TAGS[JWTS_REDIS_SLOTS];
static pthread_once_t SLOT_TAGS_ONCE = PTHREAD_ONCE_INIT;

static void find_slot_tags(void)
{
    static bool found[JWTS_REDIS_SLOTS];
    size_t missing = JWTS_REDIS_SLOTS;
    for (uint32_t n = 0; missing > 0; n++) { /* every slot is reached before n = 300000 */
        char digits[12];
        int len = snprintf(digits, sizeof digits, "%u", n);
        unsigned slot = crc16(digits, (size_t)len) & (JWTS_REDIS_SLOTS - 1);
        if (!found[slot]) found[slot] = true, SLOT_TAGS[slot] = n, missing--;
    }
}

void jwts_redis_slot_tag(unsigned slot, char out[JWTS_REDIS_SLOT_TAG_LEN])
{
    pthread_once(&SLOT_TAGS_ONCE, find_slot_tags);
    snprintf(out, JWTS_REDIS_SLOT_TAG_LEN, "%u", SLOT_TAGS[slot & (JWTS_REDIS_SLOTS - 1)]);
}

static bool named(const redis_cmd *cmd, const char *name)
{
    return cmd->argvlen[0] == strlen(name) && strncasecmp(cmd->argv[0], name, cmd->argvlen[0]) == 0;
}

int jwts_redis_cmd_slot(const redis_cmd *cmd)
{
    if (cmd->argc < 2) return -1;
    if (named(cmd, "EVALSHA") || named(cmd, "EVAL")) {
        if (cmd->argc < 4 || cmd->argvlen[2] == 0 || cmd->argv[2][0] == '0') return -1; /* no KEYS */
        return (int)jwts_redis_key_slot(cmd->argv[3], cmd->argvlen[3]);
    }
    if (named(cmd, "XREADGROUP") || named(cmd, "XREAD")) { /* the first key follows STREAMS */
        for (int i = 1; i + 1 < cmd->argc; i++)
            if (cmd->argvlen[i] == 7 && strncasecmp(cmd->argv[i], "STREAMS", 7) == 0)
                return (int)jwts_redis_key_slot(cmd->argv[i + 1], cmd->argvlen[i + 1]);
        return -1;
    }
    if (named(cmd, "XGROUP") || named(cmd, "XINFO")) /* a subcommand, then the key */
        return cmd->argc < 3 ? -1 : (int)jwts_redis_key_slot(cmd->argv[2], cmd->argvlen[2]);
    static const char *const KEYLESS[] = {"PING",   "SCRIPT",   "CLUSTER", "INFO",   "WAIT", "ROLE",  "DBSIZE",
                                          "CONFIG", "FLUSHALL", "FLUSHDB", "ASKING", "AUTH", "SELECT"};
    for (size_t i = 0; i < sizeof KEYLESS / sizeof *KEYLESS; i++)
        if (named(cmd, KEYLESS[i])) return -1;
    return (int)jwts_redis_key_slot(cmd->argv[1], cmd->argvlen[1]);
}
