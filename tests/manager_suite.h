/*
 * manager_suite.h - the session manager's lifecycle suite, run over any store backend.
 */
#ifndef JWTS_TESTS_MANAGER_SUITE_H
#define JWTS_TESTS_MANAGER_SUITE_H

#include "jwtsession/store.h"

typedef struct jwts_manager_target {
    const char *name;                              /* shown in the group's name */
    jwts_err (*open)(void *arg, jwts_store **out); /* a new handle on the backend */
    void *arg;
} jwts_manager_target;

/* Run every manager test against stores from target with cmocka; returns the number of failures. */
int jwts_manager_suite_run(const jwts_manager_target *target);

#endif
