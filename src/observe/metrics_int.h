/*
 * metrics_int.h - the registry's private layout, shared by metrics.c (registration, hot path),
 * metrics_render.c (exposition) and metrics_std.c (the jwtsession_* families).
 *
 * Values live in cells (64-bit relaxed atomics). Every thread that reports owns a slot, and
 * every slot has its own copy of every cell, allocated a chunk at a time on the slot's first
 * write there; a scrape sums a cell over the slots. A thread's slot is exclusively its own, so an
 * increment is a relaxed load and a relaxed store (plain moves), never a locked instruction.
 * Threads beyond SLOT_MAX - 1 share slot 0, which is updated with atomic read-modify-writes.
 */
#ifndef JWTS_OBSERVE_METRICS_INT_H
#define JWTS_OBSERVE_METRICS_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "jwtsession/metrics.h"

#define SLOT_MAX 64     /* slot 0 is shared; 1..63 belong to one thread each */
#define CHUNK_CELLS 512 /* cells a slot allocates at a time */
#define MAX_LABELS 8    /* labels of one family */
#define MAX_BOUNDS 64   /* bucket bounds of one histogram family */

typedef enum metric_type { TYPE_COUNTER, TYPE_GAUGE, TYPE_HISTOGRAM } metric_type;

typedef struct callback {
    struct callback *next;
    jwts_gauge_fn fn;
    void *arg;
    const void *owner; /* what jwts_metrics_detach() matches (arg unless said otherwise) */
    bool free_arg;     /* arg is the registry's to free with the callback */
} callback;

typedef struct family family;

/* One series: a family plus a label set. jwts_counter, jwts_gauge and jwts_histogram are this. */
typedef struct series {
    struct series *next; /* in its family, registration order */
    struct jwts_metrics *m;
    family *fam;
    char *labels;                /* the rendered label pairs without braces: a="x",b="y"; "" if none */
    uint32_t cell;               /* first cell; a histogram has nbounds + 1 bucket cells then a sum cell */
    bool omit_zero;              /* leave the series out of a scrape while it is zero */
    _Atomic uint64_t gauge_bits; /* a gauge's value (double bits) */
    callback *callbacks;         /* scrape-time gauges */
    bool by_callback;            /* a callback series: rendered only from its callbacks */
} series;

struct jwts_counter {
    series s;
};
struct jwts_gauge {
    series s;
};
struct jwts_histogram {
    series s;
};

struct family {
    family *next;
    char *name; /* as registered (a counter's ends in _total) */
    char *help;
    metric_type type;
    size_t nlabels;
    char *label_names[MAX_LABELS];
    size_t nbounds;
    double *bounds;
    int64_t *bounds_ns; /* the bounds in whole nanoseconds, for jwts_histogram_observe_ns */
    series *first, *last;
};

typedef struct slot_cells {
    _Atomic(_Atomic uint64_t *) *chunks; /* [max_cells / CHUNK_CELLS], each NULL until written */
} slot_cells;

/* Handles of the standard families (metrics_std.c). */
typedef struct std_series {
    jwts_counter *ops[JWTS_OP__COUNT][JWTS_E__COUNT];
    jwts_histogram *op_duration[JWTS_OP__COUNT];
    jwts_counter *refresh[JWTS_REFRESH__COUNT];
    jwts_gauge *keyset_active, *keyset_verify;
    bool ready;
} std_series;

struct jwts_metrics {
    pthread_mutex_t lock; /* registration, callbacks, rendering */
    family *families, *families_last;
    size_t nchunks; /* chunks per slot (max_cells / CHUNK_CELLS) */
    uint32_t next_cell;
    slot_cells slots[SLOT_MAX];
    std_series std;
};

/* Register (or find) a series; the lock must not be held. omit_zero applies to a new series. */
jwts_err metrics_register(jwts_metrics *m, metric_type type, const char *name, const char *help,
                          const jwts_label *labels, size_t nlabels, const double *bounds, size_t nbounds,
                          bool omit_zero, series **out);

/* Add a scrape-time callback to the gauge series name{labels}, detached by owner; when free_arg,
 * arg is freed with the callback (also on failure). */
jwts_err metrics_gauge_callback(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                                size_t nlabels, jwts_gauge_fn fn, void *arg, const void *owner, bool free_arg);

/* The same for a series of type (TYPE_GAUGE or TYPE_COUNTER: a counter read at scrape time, such as
 * process_cpu_seconds_total). */
jwts_err metrics_callback(jwts_metrics *m, metric_type type, const char *name, const char *help,
                          const jwts_label *labels, size_t nlabels, jwts_gauge_fn fn, void *arg, const void *owner,
                          bool free_arg);

/* The sum over the slots of cell c (the lock need not be held). */
uint64_t metrics_cell_sum(const jwts_metrics *m, uint32_t c);

/* The sum over the slots of cell c read as doubles. */
double metrics_cell_sum_double(const jwts_metrics *m, uint32_t c);

/* Count one event on c and observe a duration of ns on h (either may be NULL) with one thread-slot
 * lookup: the operation and store-call hot paths. */
void metrics_count_observe_ns(jwts_counter *c, jwts_histogram *h, int64_t ns);

/* Register the standard families into m (metrics_std.c). */
jwts_err metrics_std_register(jwts_metrics *m);

/* The label value for rc: "ok" for JWTS_OK, else jwts_errname(rc). */
const char *metrics_result_name(jwts_err rc);

#endif
