/*
 * session_view.c - the public JSON view of a session: what the programs show (jwtsessiond's list of
 * a user's sessions, the CLI's session list). Times are milliseconds since the epoch and every time
 * member says so in its name; the refresh state (hashes, generation) is never shown.
 */
#include <string.h>

#include "jwtsession/buf.h"
#include "jwtsession/session.h"

static void str_member(jwts_buf *b, const char *name, const char *v, bool first)
{
    jwts_buf_puts(b, first ? "\"" : ",\"");
    jwts_buf_puts(b, name);
    jwts_buf_puts(b, "\":");
    if (v)
        jwts_buf_json_str(b, v, strlen(v), JWTS_BUF_JSON_QUOTE);
    else
        jwts_buf_puts(b, "null");
}

static void ms_member(jwts_buf *b, const char *name, int64_t v, bool zero_is_null)
{
    jwts_buf_puts(b, ",\"");
    jwts_buf_puts(b, name);
    jwts_buf_puts(b, "\":");
    if (zero_is_null && v == 0)
        jwts_buf_puts(b, "null");
    else
        jwts_buf_i64(b, v);
}

void jwts_session_view(const jwts_session *s, jwts_buf *b)
{
    str_member(b, "user_id", s->user_id, true);
    str_member(b, "session_id", s->session_id, false);
    ms_member(b, "created_at_ms", s->created_at_ms, false);
    ms_member(b, "updated_at_ms", s->updated_at_ms, false);
    ms_member(b, "last_seen_at_ms", s->last_seen_ms, false);
    ms_member(b, "expires_at_ms", s->expires_at_ms, false);
    ms_member(b, "idle_expires_at_ms", s->idle_expires_at_ms, true);
    str_member(b, "client_ip", s->client_ip, false);
    str_member(b, "user_agent", s->user_agent, false);
    jwts_buf_puts(b, ",\"metadata\":");
    jwts_buf_puts(b, s->metadata && s->metadata[0] ? s->metadata : "{}");
}
