/*
 * metrics_std.c - the standard jwtsession_* families and the calls the session manager makes at
 * its boundary (jwts_metrics_observe_op, jwts_metrics_refresh_outcome, key-set size).
 *
 * Every (op, result) series exists from the start, so observing never registers: the "ok"
 * series are always rendered, the error ones once they are non-zero (keeps a scrape short
 * without losing a series that ever counted).
 */
#include <stdlib.h>

#include "jwtsession/error.h"
#include "observe/metrics_int.h"

static const char *const OP_NAMES[JWTS_OP__COUNT] = {
    [JWTS_OP_CREATE] = "create",
    [JWTS_OP_VALIDATE] = "validate",
    [JWTS_OP_REFRESH] = "refresh",
    [JWTS_OP_REVOKE] = "revoke",
    [JWTS_OP_REVOKE_USER] = "revoke_user",
    [JWTS_OP_LIST] = "list",
    [JWTS_OP_UPDATE_METADATA] = "update_metadata",
    [JWTS_OP_CLEANUP] = "cleanup",
};

static const char *const OUTCOME_NAMES[JWTS_REFRESH__COUNT] = {"rotated", "grace", "reused"};

const char *jwts_op_name(jwts_op op)
{
    return (unsigned)op < JWTS_OP__COUNT ? OP_NAMES[op] : "unknown";
}

const char *metrics_result_name(jwts_err rc)
{
    return rc == JWTS_OK ? "ok" : jwts_errname(rc);
}

jwts_err metrics_std_register(jwts_metrics *m)
{
    std_series *st = &m->std;
    jwts_err rc = JWTS_OK;
    for (int op = 0; op < JWTS_OP__COUNT && !rc; op++) {
        for (int e = 0; e < JWTS_E__COUNT && !rc; e++) {
            jwts_label l[] = {{"op", OP_NAMES[op]}, {"result", metrics_result_name((jwts_err)e)}};
            rc = metrics_register(m, TYPE_COUNTER, "jwtsession_operations_total",
                                  "Session manager operations by operation and result (ok or a JWTS_E_* name).", l, 2,
                                  NULL, 0, e != JWTS_OK, (series **)&st->ops[op][e]);
        }
    }
    for (int op = 0; op < JWTS_OP__COUNT && !rc; op++) {
        jwts_label l[] = {{"op", OP_NAMES[op]}};
        rc = jwts_metrics_histogram(m, "jwtsession_operation_duration_seconds",
                                    "Latency of session manager operations in seconds.", l, 1, NULL, 0,
                                    &st->op_duration[op]);
    }
    for (int o = 0; o < JWTS_REFRESH__COUNT && !rc; o++) {
        jwts_label l[] = {{"outcome", OUTCOME_NAMES[o]}};
        rc = jwts_metrics_counter(m, "jwtsession_refresh_total",
                                  "Refresh token presentations by outcome: rotated, grace (previous token inside "
                                  "the grace window) or reused (replay; the session is revoked).",
                                  l, 1, &st->refresh[o]);
    }
    static const char KEYS_HELP[] = "Keys in the key set: active (signing) and verify_only (kept to verify).";
    if (!rc)
        rc = jwts_metrics_gauge(m, "jwtsession_keyset_keys", KEYS_HELP, &(jwts_label){"state", "active"}, 1,
                                &st->keyset_active);
    if (!rc)
        rc = jwts_metrics_gauge(m, "jwtsession_keyset_keys", KEYS_HELP, &(jwts_label){"state", "verify_only"}, 1,
                                &st->keyset_verify);
    st->ready = rc == JWTS_OK;
    return rc;
}

void jwts_metrics_observe_op(jwts_metrics *m, jwts_op op, jwts_err rc, int64_t duration_ns)
{
    if (!m || !m->std.ready || (unsigned)op >= JWTS_OP__COUNT) return;
    if ((unsigned)rc >= JWTS_E__COUNT) rc = JWTS_E_INTERNAL;
    metrics_count_observe_ns(m->std.ops[op][rc], m->std.op_duration[op], duration_ns);
}

void jwts_metrics_refresh_outcome(jwts_metrics *m, jwts_refresh_outcome outcome)
{
    if (!m || !m->std.ready || (unsigned)outcome >= JWTS_REFRESH__COUNT) return;
    jwts_counter_inc(m->std.refresh[outcome]);
}

void jwts_metrics_set_keyset_size(jwts_metrics *m, size_t active, size_t verify_only)
{
    if (!m || !m->std.ready) return;
    jwts_gauge_set(m->std.keyset_active, (double)active);
    jwts_gauge_set(m->std.keyset_verify, (double)verify_only);
}
