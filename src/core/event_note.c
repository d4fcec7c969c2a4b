/*
 * event_note.c - the calling thread's pending lifecycle events (event_note.h).
 */
#include "core/event_note.h"

static _Thread_local const jwts_event *noted, *noted_then;

const jwts_event *jwts_event_note_get(const jwts_event **then)
{
    if (then) *then = noted_then;
    return noted;
}

void jwts_event_note_set(const jwts_event *ev, const jwts_event *then)
{
    noted = ev;
    noted_then = then;
}
