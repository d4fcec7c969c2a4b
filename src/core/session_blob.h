/*
 * session_blob.h - private: lay a jwts_session and its strings out in one block of memory.
 *
 * Stores use this to keep a session as a single allocation and to copy it out with one malloc.
 */
#ifndef JWTS_CORE_SESSION_BLOB_H
#define JWTS_CORE_SESSION_BLOB_H

#include <stddef.h>

#include "jwtsession/session.h"

/* Bytes needed for s as one block (struct + strings + NULs). */
size_t jwts_session_blob_size(const jwts_session *s);

/* Write s into mem (jwts_session_blob_size(s) bytes) and return the copy inside it. */
jwts_session *jwts_session_blob_write(const jwts_session *s, void *mem);

/* Copy a block made by jwts_session_blob_write (size bytes) into mem, fixing its pointers. */
jwts_session *jwts_session_blob_copy(const jwts_session *blob, size_t size, void *mem);

#endif
