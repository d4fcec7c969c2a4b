/*
 * event_note.h - private: the lifecycle events the calling thread's next store write causes.
 *
 * The manager notes the event (events.h) before the store call that makes the change and clears
 * it after. A store that records events atomically with its writes (the Redis store with an events
 * stream, docs/events.md) reads the note inside that call; every other store ignores it. A create
 * or refresh from a new device notes a second event, NEW_DEVICE, that the same write records after
 * the first.
 */
#ifndef JWTS_CORE_EVENT_NOTE_H
#define JWTS_CORE_EVENT_NOTE_H

#include "jwtsession/events.h"

/* The event noted on this thread, or NULL; *then (may be NULL) gets the second one, or NULL. */
const jwts_event *jwts_event_note_get(const jwts_event **then);

/* Note ev and then (each may be NULL; borrowed until cleared) on this thread; NULL, NULL clears. */
void jwts_event_note_set(const jwts_event *ev, const jwts_event *then);

#endif
