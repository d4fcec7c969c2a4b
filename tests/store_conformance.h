/*
 * store_conformance.h - the shared conformance suite every jwts_store backend runs against itself.
 *
 *     static jwts_err open_memory(void *arg, jwts_store **out) { return jwts_store_memory_new(NULL, out); }
 *     int main(void) {
 *         jwts_conformance_target t = {.name = "memory", .open = open_memory};
 *         return jwts_store_conformance_run(&t);
 *     }
 *
 * Each test opens a fresh store through target->open and frees it at the end; tests use user ids
 * unique to the run so a shared server needs no flushing.
 */
#ifndef JWTS_TESTS_STORE_CONFORMANCE_H
#define JWTS_TESTS_STORE_CONFORMANCE_H

#include <stdbool.h>

#include "jwtsession/store.h"

typedef struct jwts_conformance_target {
    const char *name;                              /* shown in the test group's name */
    jwts_err (*open)(void *arg, jwts_store **out); /* a new handle on the backend */
    void *arg;
    bool lazy_expiry_only; /* true if expired data stays until a read or cleanup (memory store) */
} jwts_conformance_target;

/* Run every conformance test against target with cmocka; returns the number of failures. */
int jwts_store_conformance_run(const jwts_conformance_target *target);

#endif
