/*
 * event_note.c - the calling thread's pending lifecycle event (event_note.h).
 */
#include "core/event_note.h"

static _Thread_local const jwts_event *noted;

const jwts_event *jwts_event_note_get(void) { return noted; }

void jwts_event_note_set(const jwts_event *ev) { noted = ev; }
