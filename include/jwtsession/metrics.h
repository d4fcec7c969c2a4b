/*
 * metrics.h - jwts_metrics, a registry of counters, gauges and histograms rendered for Prometheus.
 *
 * A series is one metric name plus a label set fixed when it is registered: nothing is looked up
 * or allocated on the hot path. Increments go to the calling thread's own shard of the registry
 * (a plain load and store of a relaxed atomic, no lock and no read-modify-write); a scrape sums
 * the shards. Rendering gives the Prometheus text format 0.0.4 or OpenMetrics 1.0.
 *
 * jwts_metrics_new() also registers the standard jwtsession_* families (operations by op and
 * result, operation latency, refresh outcomes, key-set size, active sessions, pool use, spans);
 * the session manager reports into them with jwts_metrics_observe_op() and friends. Labels never
 * carry a user id, a session id or a token.
 *
 * Thread-safety: every function may be called from any thread. Registration and rendering take
 * the registry's lock; the hot-path functions (jwts_counter_*, jwts_histogram_*, jwts_gauge_*,
 * jwts_metrics_observe_*) take none. A NULL registry or series handle makes them no-ops.
 */
#ifndef JWTSESSION_METRICS_H
#define JWTSESSION_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jwts_metrics jwts_metrics;
typedef struct jwts_counter jwts_counter;     /* one counter series; owned by its registry */
typedef struct jwts_gauge jwts_gauge;         /* one gauge series; owned by its registry */
typedef struct jwts_histogram jwts_histogram; /* one histogram series; owned by its registry */

/* One label of a series: name matches [a-zA-Z_][a-zA-Z0-9_]*, value is any UTF-8 text. */
typedef struct jwts_label {
    const char *name;
    const char *value;
} jwts_label;

/* Exposition formats of jwts_metrics_render(). */
typedef enum jwts_metrics_format {
    JWTS_METRICS_PROMETHEUS = 0, /* text/plain; version=0.0.4 */
    JWTS_METRICS_OPENMETRICS     /* application/openmetrics-text; version=1.0.0 */
} jwts_metrics_format;

/* Options of a registry; a zeroed struct gives the defaults shown. */
typedef struct jwts_metrics_options {
    size_t max_cells; /* value cells (a counter 1, a histogram buckets + 2); default 65536 */
    bool no_standard; /* true: do not register the jwtsession_* families (a bare registry) */
} jwts_metrics_options;

/* A new registry. opts may be NULL. Free with jwts_metrics_free(). */
jwts_err jwts_metrics_new(const jwts_metrics_options *opts, jwts_metrics **out);

/* Free m and every series in it. Everything that reports into m (tracers, observed stores) must
 * be freed first. NULL is fine. */
void jwts_metrics_free(jwts_metrics *m);

/* ---- registering series (setup time; takes the registry lock) --------------------------------
 * name follows [a-zA-Z_:][a-zA-Z0-9_:]*; counters' names end in "_total". The first registration
 * of a name fixes its type, help and label names (in order); later ones must agree (else
 * JWTS_E_CONFLICT) and add a series, or return the existing one for an equal label set. */

/* The counter series name{labels}. */
jwts_err jwts_metrics_counter(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                              size_t nlabels, jwts_counter **out);

/* The gauge series name{labels}. */
jwts_err jwts_metrics_gauge(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                            size_t nlabels, jwts_gauge **out);

/* The histogram series name{labels} with upper bounds bounds[0..nbounds) (strictly increasing,
 * finite; +Inf is implicit). bounds NULL: jwts_metrics_duration_buckets (seconds). */
jwts_err jwts_metrics_histogram(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                                size_t nlabels, const double *bounds, size_t nbounds, jwts_histogram **out);

/* A gauge read at scrape time: fn(arg, &value) returns false to leave the sample out. Several
 * callbacks on one series are summed. Remove them with jwts_metrics_detach(m, arg). */
typedef bool (*jwts_gauge_fn)(void *arg, double *value);
jwts_err jwts_metrics_gauge_fn(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                               size_t nlabels, jwts_gauge_fn fn, void *arg);

/* Remove every scrape-time callback registered with arg (call before arg goes away). */
void jwts_metrics_detach(jwts_metrics *m, const void *arg);

/* The default latency buckets in seconds, 5 us to 2.5 s, and how many there are. */
extern const double jwts_metrics_duration_buckets[];
extern const size_t jwts_metrics_duration_nbuckets;

/* ---- the hot path (no lock, no allocation after a thread's first use) ------------------------ */

/* Add n to c. */
void jwts_counter_add(jwts_counter *c, uint64_t n);

/* Add 1 to c. */
void jwts_counter_inc(jwts_counter *c);

/* Set g to v. */
void jwts_gauge_set(jwts_gauge *g, double v);

/* Add d (may be negative) to g. */
void jwts_gauge_add(jwts_gauge *g, double d);

/* Record one observation of v. */
void jwts_histogram_observe(jwts_histogram *h, double v);

/* Record one duration of ns nanoseconds, in seconds. */
void jwts_histogram_observe_ns(jwts_histogram *h, int64_t ns);

/* ---- reading ---------------------------------------------------------------------------------- */

/* Render every series of m in format into a new NUL-terminated buffer *out (free() it) of *len
 * bytes (len may be NULL). Runs the scrape-time callbacks. */
jwts_err jwts_metrics_render(jwts_metrics *m, jwts_metrics_format format, char **out, size_t *len);

/* The HTTP Content-Type of format. */
const char *jwts_metrics_content_type(jwts_metrics_format format);

/* The format a scraper asks for in its Accept header (OpenMetrics when it names
 * application/openmetrics-text, else Prometheus text). accept may be NULL. */
jwts_metrics_format jwts_metrics_format_from_accept(const char *accept);

/* The current value of a counter, a gauge, or a histogram's count and sum (tests, tools). */
uint64_t jwts_counter_value(const jwts_counter *c);
double jwts_gauge_value(const jwts_gauge *g);
uint64_t jwts_histogram_count(const jwts_histogram *h);
double jwts_histogram_sum(const jwts_histogram *h);

/* ---- the standard jwtsession_* families -------------------------------------------------------- */

/* The session manager's operations (the `op` label). */
typedef enum jwts_op {
    JWTS_OP_CREATE = 0,
    JWTS_OP_VALIDATE,
    JWTS_OP_REFRESH,
    JWTS_OP_REVOKE,
    JWTS_OP_REVOKE_USER,
    JWTS_OP_LIST,
    JWTS_OP_UPDATE_METADATA,
    JWTS_OP_CLEANUP,
    JWTS_OP__COUNT /* number of ops; not an op */
} jwts_op;

/* The label value / span name part of op: "create", "validate", ... ("unknown" if out of range). */
const char *jwts_op_name(jwts_op op);

/* Outcomes of a refresh (the `outcome` label of jwtsession_refresh_total). */
typedef enum jwts_refresh_outcome {
    JWTS_REFRESH_ROTATED = 0, /* the presented refresh token was current: rotated */
    JWTS_REFRESH_GRACE,       /* the previous token, inside the grace window: answered again */
    JWTS_REFRESH_REUSED,      /* an old token replayed: treated as theft */
    JWTS_REFRESH__COUNT
} jwts_refresh_outcome;

/* One manager operation finished with rc after duration_ns: counts
 * jwtsession_operations_total{op,result} (result "ok" or jwts_errname(rc)) and observes
 * jwtsession_operation_duration_seconds{op}. */
void jwts_metrics_observe_op(jwts_metrics *m, jwts_op op, jwts_err rc, int64_t duration_ns);

/* Count one refresh outcome in jwtsession_refresh_total{outcome}. */
void jwts_metrics_refresh_outcome(jwts_metrics *m, jwts_refresh_outcome outcome);

/* Set jwtsession_keyset_keys{state}: keys that sign (active) and keys kept only to verify. */
void jwts_metrics_set_keyset_size(jwts_metrics *m, size_t active, size_t verify_only);

/* Export what every Prometheus client library does for its process, read at scrape time:
 * process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds; and
 * jwtsession_build_info{version="X.Y.Z"} 1. Call once per registry (a program's main one). */
jwts_err jwts_metrics_watch_process(jwts_metrics *m);

#ifdef __cplusplus
}
#endif
#endif
