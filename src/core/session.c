/*
 * session.c - jwts_session as one allocation: clone, free, validation and equality.
 */
#include <arpa/inet.h>
#include <sys/socket.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/session_blob.h"
#include "jwtsession/error.h"
#include "jwtsession/session.h"

void jwts_session_free(jwts_session *s) { free(s); }

void jwts_session_list_free(jwts_session_list *list)
{
    if (!list) return;
    for (size_t i = 0; i < list->count; i++) jwts_session_free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

size_t jwts_session_blob_size(const jwts_session *s)
{
    size_t n = sizeof(jwts_session) + strlen(s->user_id) + 1 + strlen(s->session_id) + 1;
    if (s->metadata) n += strlen(s->metadata) + 1;
    if (s->client_ip) n += strlen(s->client_ip) + 1;
    if (s->user_agent) n += strlen(s->user_agent) + 1;
    return n;
}

/* Copy len bytes of src (plus a NUL) to *cursor and advance it. */
static const char *put_string(char **cursor, const char *src, size_t len)
{
    char *dst = *cursor;
    memcpy(dst, src, len);
    dst[len] = '\0';
    *cursor += len + 1;
    return dst;
}

jwts_session *jwts_session_blob_write(const jwts_session *s, void *mem)
{
    jwts_session *copy = mem;
    *copy = *s;
    char *cursor = (char *)(copy + 1);
    copy->user_id = put_string(&cursor, s->user_id, strlen(s->user_id));
    copy->session_id = put_string(&cursor, s->session_id, strlen(s->session_id));
    copy->metadata = s->metadata ? put_string(&cursor, s->metadata, strlen(s->metadata)) : NULL;
    copy->client_ip = s->client_ip ? put_string(&cursor, s->client_ip, strlen(s->client_ip)) : NULL;
    copy->user_agent = s->user_agent ? put_string(&cursor, s->user_agent, strlen(s->user_agent)) : NULL;
    return copy;
}

/* The address in copy's block of a string at p in blob's block. */
static const char *relocate(const jwts_session *blob, jwts_session *copy, const char *p)
{
    return p ? (const char *)copy + (p - (const char *)blob) : NULL;
}

jwts_session *jwts_session_blob_copy(const jwts_session *blob, size_t size, void *mem)
{
    jwts_session *copy = memcpy(mem, blob, size);
    copy->user_id = relocate(blob, copy, blob->user_id);
    copy->session_id = relocate(blob, copy, blob->session_id);
    copy->metadata = relocate(blob, copy, blob->metadata);
    copy->client_ip = relocate(blob, copy, blob->client_ip);
    copy->user_agent = relocate(blob, copy, blob->user_agent);
    return copy;
}

jwts_err jwts_session_clone(const jwts_session *s, jwts_session **out)
{
    if (!s || !out || !s->user_id || !s->session_id)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "session clone: NULL session or id");
    void *mem = malloc(jwts_session_blob_size(s));
    if (!mem) return jwts_fail(JWTS_E_NO_MEMORY, "session clone: out of memory");
    *out = jwts_session_blob_write(s, mem);
    return JWTS_OK;
}

/* Character classes of ids (checked on every store call, so by table). */
enum { IN_USER_ID = 1, IN_SESSION_ID = 2 };
static uint8_t ID_CHARS[256];
static pthread_once_t id_chars_once = PTHREAD_ONCE_INIT;

static void init_id_chars(void)
{
    for (int c = 0x20; c < 0x100; c++)
        if (c != 0x7f && c != '{' && c != '}') ID_CHARS[c] |= IN_USER_ID;
    for (int c = 0; c < 0x100; c++)
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
            ID_CHARS[c] |= IN_SESSION_ID;
}

/* The length of id when it is 1..max bytes of class (NUL-terminated), else 0; *ascii tells whether
 * all of them are below 0x80. */
static size_t id_scan(const char *id, size_t max, uint8_t class, bool *ascii)
{
    if (!id || !*id) return 0;
    pthread_once(&id_chars_once, init_id_chars);
    const unsigned char *p = (const unsigned char *)id;
    unsigned high = 0;
    size_t n = 0;
    for (; p[n]; n++) {
        if (n >= max || !(ID_CHARS[p[n]] & class)) return 0;
        high |= p[n];
    }
    *ascii = high < 0x80;
    return n;
}

/* Code points a user id may not start or end with: Unicode white space (besides the controls,
 * which are refused anywhere) and the invisible characters common trim functions remove too
 * (U+180E, U+200B, U+FEFF). A proxy, an application or a form may drop them at an end. */
static bool end_space(unsigned cp)
{
    return cp == 0x20 || cp == 0xa0 || cp == 0x1680 || cp == 0x180e || (cp >= 0x2000 && cp <= 0x200b) ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

/* s is well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF) without C1
 * controls or line/paragraph separators, and neither starts nor ends with end_space(). */
static bool utf8_user_id_valid(const unsigned char *s)
{
    unsigned first = 0, cp = 0;
    for (bool start = true; *s; start = false) {
        unsigned c = *s, k;
        if (c < 0x80) {
            cp = c;
            s++;
        } else {
            if (c >= 0xc2 && c <= 0xdf) k = 1, cp = c & 0x1f;
            else if (c >= 0xe0 && c <= 0xef) k = 2, cp = c & 0x0f;
            else if (c >= 0xf0 && c <= 0xf4) k = 3, cp = c & 0x07;
            else return false;
            for (unsigned i = 1; i <= k; i++) {
                if ((s[i] & 0xc0) != 0x80) return false;
                cp = cp << 6 | (s[i] & 0x3f);
            }
            if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
                (cp >= 0xd800 && cp <= 0xdfff))
                return false;
            if (cp <= 0x9f || cp == 0x2028 || cp == 0x2029) return false; /* C1 controls, line separators */
            s += k + 1;
        }
        if (start) first = cp;
    }
    return !end_space(first) && !end_space(cp);
}

bool jwts_user_id_valid(const char *user_id)
{
    bool ascii;
    size_t n = id_scan(user_id, JWTS_USER_ID_MAX, IN_USER_ID, &ascii);
    if (!n) return false;
    if (ascii) return user_id[0] != ' ' && user_id[n - 1] != ' ';
    return utf8_user_id_valid((const unsigned char *)user_id); /* it travels in JSON, JWTs and headers */
}

bool jwts_session_id_valid(const char *session_id)
{
    bool ascii;
    return id_scan(session_id, JWTS_SESSION_ID_MAX, IN_SESSION_ID, &ascii) != 0;
}

jwts_err jwts_session_validate(const jwts_session *s)
{
    if (!s) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "session is NULL");
    if (!jwts_user_id_valid(s->user_id))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "user_id: " JWTS_USER_ID_RULE);
    if (!jwts_session_id_valid(s->session_id))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "session_id: must be 1..%d base64url characters",
                         JWTS_SESSION_ID_MAX);
    if (s->created_at_ms < 0 || s->updated_at_ms < 0 || s->expires_at_ms < 0 || s->idle_expires_at_ms < 0 ||
        s->last_seen_ms < 0 || s->refresh.rotated_at_ms < 0)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "session times must not be negative");
    if (s->expires_at_ms < s->created_at_ms)
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "expires_at: before created_at");
    if (s->metadata) {
        size_t n = strnlen(s->metadata, JWTS_METADATA_MAX + 1);
        if (n > JWTS_METADATA_MAX)
            return jwts_fail(JWTS_E_LIMIT, "metadata: larger than %d bytes", JWTS_METADATA_MAX);
        if (n == 0 || s->metadata[0] != '{') return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metadata: not a JSON object");
    }
    if (s->client_ip && !jwts_client_ip_valid(s->client_ip))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "client_ip: not an IPv4 or IPv6 address");
    if (s->user_agent && !jwts_user_agent_valid(s->user_agent))
        return jwts_fail(JWTS_E_INVALID_ARGUMENT, "user_agent: " JWTS_USER_AGENT_RULE);
    return JWTS_OK;
}

static bool str_equal(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

bool jwts_session_equal(const jwts_session *a, const jwts_session *b)
{
    if (!a || !b) return a == b;
    return str_equal(a->user_id, b->user_id) && str_equal(a->session_id, b->session_id) &&
           str_equal(a->metadata, b->metadata) && str_equal(a->client_ip, b->client_ip) &&
           str_equal(a->user_agent, b->user_agent) && a->created_at_ms == b->created_at_ms &&
           a->updated_at_ms == b->updated_at_ms && a->expires_at_ms == b->expires_at_ms &&
           a->idle_expires_at_ms == b->idle_expires_at_ms && a->last_seen_ms == b->last_seen_ms &&
           memcmp(&a->refresh.current_hash, &b->refresh.current_hash, JWTS_REFRESH_HASH_LEN) == 0 &&
           memcmp(&a->refresh.previous_hash, &b->refresh.previous_hash, JWTS_REFRESH_HASH_LEN) == 0 &&
           memcmp(&a->refresh.sealed_next, &b->refresh.sealed_next, JWTS_REFRESH_HASH_LEN) == 0 &&
           memcmp(&a->refresh.older, &b->refresh.older, sizeof a->refresh.older) == 0 &&
           a->refresh.rotated_at_ms == b->refresh.rotated_at_ms && a->refresh.generation == b->refresh.generation &&
           a->refresh.confirmed == b->refresh.confirmed;
}

bool jwts_client_ip_valid(const char *ip)
{
    if (!ip) return false;
    size_t n = strnlen(ip, JWTS_CLIENT_IP_MAX + 1);
    if (n == 0 || n > JWTS_CLIENT_IP_MAX) return false;
    unsigned char addr[16];
    return inet_pton(strchr(ip, ':') ? AF_INET6 : AF_INET, ip, addr) == 1;
}

/* The length of the well-formed UTF-8 character at p (up to end) that is not a control character
 * (C0, DEL, C1), else 0. */
static size_t ua_char(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], cp, k;
    if (c < 0x80) return c >= 0x20 && c != 0x7f;
    if (c >= 0xc2 && c <= 0xdf) k = 1, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) k = 2, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) k = 3, cp = c & 0x07;
    else return 0;
    if ((size_t)(end - p) <= k) return 0;
    for (unsigned i = 1; i <= k; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
        cp <= 0x9f)
        return 0;
    return k + 1;
}

bool jwts_user_agent_valid(const char *ua)
{
    if (!ua) return false;
    size_t n = strnlen(ua, JWTS_USER_AGENT_MAX + 1);
    if (n == 0 || n > JWTS_USER_AGENT_MAX) return false;
    const unsigned char *p = (const unsigned char *)ua, *end = p + n;
    while (p < end) {
        size_t k = ua_char(p, end);
        if (!k) return false;
        p += k;
    }
    return true;
}

size_t jwts_user_agent_clean(const char *in, size_t len, char out[JWTS_USER_AGENT_MAX + 1])
{
    size_t n = 0, last = 0; /* last: the length without trailing spaces */
    const unsigned char *p = (const unsigned char *)in, *end = p + (in ? len : 0);
    while (p < end) {
        size_t k = ua_char(p, end);
        const unsigned char *ch = k ? p : (const unsigned char *)" ";
        size_t w = k ? k : 1;
        p += w;
        if (n + w > JWTS_USER_AGENT_MAX) break;
        if (n == 0 && w == 1 && ch[0] == ' ') continue; /* leading white space */
        memcpy(out + n, ch, w);
        n += w;
        if (!(w == 1 && ch[0] == ' ')) last = n;
    }
    out[last] = '\0';
    return last;
}
