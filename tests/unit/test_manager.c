/*
 * test_manager.c - the session manager's lifecycle suite over the in-memory store.
 */
#include "jwtsession/jwtsession.h"
#include "manager_suite.h"

static jwts_err open_memory(void *arg, jwts_store **out) { return jwts_store_memory_new(NULL, out); }

int main(void)
{
    jwts_manager_target t = {.name = "memory", .open = open_memory};
    return jwts_manager_suite_run(&t);
}
