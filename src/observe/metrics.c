/*
 * metrics.c - the jwts_metrics registry: thread slots, series registration and the hot path.
 *
 * See metrics_int.h for the layout. A thread claims a process-wide slot number on its first
 * report (any registry) and gives it back when it exits (a pthread key destructor), so slot
 * numbers are reused and each registry's per-slot cells keep accumulating across owners. The
 * claim and release go through a mutex, which orders the last writes of an old owner before the
 * first of the next.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwtsession/clock.h"
#include "jwtsession/error.h"
#include "observe/metrics_int.h"

#define DEFAULT_MAX_CELLS 65536
#define MAX_NAME 200
#define MAX_HELP 1024
#define MAX_LABEL_VALUE 256

const double jwts_metrics_duration_buckets[] = {0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                                0.0005,   0.001,   0.0025,   0.005,   0.01,   0.025,
                                                0.05,     0.1,     0.25,     0.5,     1,      2.5};
const size_t jwts_metrics_duration_nbuckets = sizeof jwts_metrics_duration_buckets / sizeof(double);

/* ---- thread slots ----------------------------------------------------------------------------- */

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t slot_used = 1; /* bit 0: the shared slot, never handed out */
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static pthread_key_t slot_key;
static _Thread_local int my_slot = -1;

static void slot_release(void *value)
{
    int s = (int)(intptr_t)value - 1;
    pthread_mutex_lock(&slot_lock);
    if (s > 0) slot_used &= ~(UINT64_C(1) << s);
    pthread_mutex_unlock(&slot_lock);
    my_slot = -1;
}

static void slot_key_init(void)
{
    (void)pthread_key_create(&slot_key, slot_release);
}

static int slot_claim(void)
{
    pthread_once(&slot_once, slot_key_init);
    int s = 0;
    pthread_mutex_lock(&slot_lock);
    for (int i = 1; i < SLOT_MAX; i++) {
        if (!(slot_used & (UINT64_C(1) << i))) {
            slot_used |= UINT64_C(1) << i;
            s = i;
            break;
        }
    }
    pthread_mutex_unlock(&slot_lock);
    if (s > 0 && pthread_setspecific(slot_key, (void *)(intptr_t)(s + 1)) != 0) {
        slot_release((void *)(intptr_t)(s + 1));
        s = 0;
    }
    my_slot = s;
    return s;
}

static inline int thread_slot(void)
{
    int s = my_slot;
    return s >= 0 ? s : slot_claim();
}

/* ---- cells ------------------------------------------------------------------------------------ */

/* The chunk of slot s holding cell c, allocated on first use; NULL if out of memory. */
static _Atomic uint64_t *chunk_get(jwts_metrics *m, int s, uint32_t c)
{
    _Atomic(_Atomic uint64_t *) *pp = &m->slots[s].chunks[c / CHUNK_CELLS];
    _Atomic uint64_t *chunk = atomic_load_explicit(pp, memory_order_acquire);
    if (chunk) return chunk;
    _Atomic uint64_t *fresh = calloc(CHUNK_CELLS, sizeof *fresh);
    if (!fresh) return NULL;
    _Atomic uint64_t *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(pp, &expected, fresh, memory_order_acq_rel, memory_order_acquire))
        return fresh;
    free(fresh); /* only slot 0 is shared, so only there can two threads race */
    return expected;
}

static inline _Atomic uint64_t *cell_ptr(jwts_metrics *m, int s, uint32_t c)
{
    _Atomic uint64_t *chunk = atomic_load_explicit(&m->slots[s].chunks[c / CHUNK_CELLS], memory_order_acquire);
    if (__builtin_expect(!chunk, 0)) chunk = chunk_get(m, s, c);
    return chunk ? chunk + c % CHUNK_CELLS : NULL;
}

static inline void cell_add(_Atomic uint64_t *p, int s, uint64_t n)
{
    if (s)
        atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + n, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(p, n, memory_order_relaxed);
}

static inline uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double bitsd(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static inline void cell_add_double(_Atomic uint64_t *p, int s, double v)
{
    if (s) {
        uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
        atomic_store_explicit(p, dbits(bitsd(old) + v), memory_order_relaxed);
        return;
    }
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, dbits(bitsd(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

uint64_t metrics_cell_sum(const jwts_metrics *m, uint32_t c)
{
    uint64_t total = 0;
    for (int s = 0; s < SLOT_MAX; s++) {
        _Atomic uint64_t *chunk = atomic_load_explicit(&m->slots[s].chunks[c / CHUNK_CELLS], memory_order_acquire);
        if (chunk) total += atomic_load_explicit(&chunk[c % CHUNK_CELLS], memory_order_relaxed);
    }
    return total;
}

double metrics_cell_sum_double(const jwts_metrics *m, uint32_t c)
{
    double total = 0;
    for (int s = 0; s < SLOT_MAX; s++) {
        _Atomic uint64_t *chunk = atomic_load_explicit(&m->slots[s].chunks[c / CHUNK_CELLS], memory_order_acquire);
        if (chunk) total += bitsd(atomic_load_explicit(&chunk[c % CHUNK_CELLS], memory_order_relaxed));
    }
    return total;
}

/* ---- the hot path ----------------------------------------------------------------------------- */

void jwts_counter_add(jwts_counter *c, uint64_t n)
{
    if (!c) return;
    int s = thread_slot();
    _Atomic uint64_t *p = cell_ptr(c->s.m, s, c->s.cell);
    if (p) cell_add(p, s, n);
}

void jwts_counter_inc(jwts_counter *c)
{
    jwts_counter_add(c, 1);
}

void jwts_gauge_set(jwts_gauge *g, double v)
{
    if (g) atomic_store_explicit(&g->s.gauge_bits, dbits(v), memory_order_relaxed);
}

void jwts_gauge_add(jwts_gauge *g, double d)
{
    if (!g) return;
    uint64_t old = atomic_load_explicit(&g->s.gauge_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&g->s.gauge_bits, &old, dbits(bitsd(old) + d), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

void jwts_histogram_observe(jwts_histogram *h, double v)
{
    if (!h) return;
    const family *f = h->s.fam;
    size_t i = 0;
    while (i < f->nbounds && !(v <= f->bounds[i])) i++; /* NaN lands in +Inf */
    int s = thread_slot();
    _Atomic uint64_t *p = cell_ptr(h->s.m, s, h->s.cell); /* a histogram never straddles a chunk */
    if (!p) return;
    cell_add(p + i, s, 1);
    cell_add_double(p + f->nbounds + 1, s, v);
}

/* A duration into histogram cells p of slot s: whole-nanosecond bounds, no double compare. */
static inline void observe_ns_at(const family *f, _Atomic uint64_t *p, int s, int64_t ns)
{
    if (ns < 0) ns = 0; /* jwts_fast_ns may step back a little */
    size_t i = 0;
    while (i < f->nbounds && ns > f->bounds_ns[i]) i++;
    cell_add(p + i, s, 1);
    cell_add_double(p + f->nbounds + 1, s, (double)ns * 1e-9);
}

void jwts_histogram_observe_ns(jwts_histogram *h, int64_t ns)
{
    if (!h) return;
    int s = thread_slot();
    _Atomic uint64_t *p = cell_ptr(h->s.m, s, h->s.cell);
    if (p) observe_ns_at(h->s.fam, p, s, ns);
}

void metrics_count_observe_ns(jwts_counter *c, jwts_histogram *h, int64_t ns)
{
    int s = thread_slot(); /* one slot lookup for both */
    _Atomic uint64_t *p;
    if (c && (p = cell_ptr(c->s.m, s, c->s.cell))) cell_add(p, s, 1);
    if (h && (p = cell_ptr(h->s.m, s, h->s.cell))) observe_ns_at(h->s.fam, p, s, ns);
}

uint64_t jwts_counter_value(const jwts_counter *c)
{
    return c ? metrics_cell_sum(c->s.m, c->s.cell) : 0;
}

double jwts_gauge_value(const jwts_gauge *g)
{
    return g ? bitsd(atomic_load_explicit(&((jwts_gauge *)g)->s.gauge_bits, memory_order_relaxed)) : 0;
}

uint64_t jwts_histogram_count(const jwts_histogram *h)
{
    if (!h) return 0;
    uint64_t n = 0;
    for (size_t i = 0; i <= h->s.fam->nbounds; i++) n += metrics_cell_sum(h->s.m, h->s.cell + (uint32_t)i);
    return n;
}

double jwts_histogram_sum(const jwts_histogram *h)
{
    return h ? metrics_cell_sum_double(h->s.m, h->s.cell + (uint32_t)h->s.fam->nbounds + 1) : 0;
}

/* ---- registration ----------------------------------------------------------------------------- */

static bool name_ok(const char *s, bool colon)
{
    if (!s || !*s || strlen(s) > MAX_NAME) return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
        if (!alpha && !(p > s && c >= '0' && c <= '9')) return false;
    }
    return true;
}

/* Append value to buf (of cap bytes, at *len) escaped for a label value. */
static bool put_escaped(char *buf, size_t cap, size_t *len, const char *value)
{
    for (const char *p = value; *p; p++) {
        const char *rep = NULL;
        char one[2] = {*p, 0};
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '"')
            rep = "\\\"";
        else if (*p == '\n')
            rep = "\\n";
        else
            rep = one;
        size_t n = strlen(rep);
        if (*len + n + 1 > cap) return false;
        memcpy(buf + *len, rep, n);
        *len += n;
    }
    buf[*len] = 0;
    return true;
}

static jwts_err render_labels(const jwts_label *labels, size_t nlabels, char **out)
{
    size_t cap = 1;
    for (size_t i = 0; i < nlabels; i++) cap += strlen(labels[i].name) + 2 * strlen(labels[i].value) + 4;
    char *buf = malloc(cap);
    if (!buf) return jwts_fail(JWTS_E_NO_MEMORY, "metrics: label set");
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < nlabels; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%s%s=\"", i ? "," : "", labels[i].name);
        put_escaped(buf, cap, &len, labels[i].value);
        len += (size_t)snprintf(buf + len, cap - len, "\"");
    }
    *out = buf;
    return JWTS_OK;
}

static jwts_err check_args(const char *name, const char *help, const jwts_label *labels, size_t nlabels)
{
    if (!name_ok(name, true)) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: bad metric name");
    if (!help || strlen(help) > MAX_HELP) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: %s: bad help", name);
    if (nlabels > MAX_LABELS)
        return jwts_fail(JWTS_E_LIMIT, "metrics: %s: %zu labels (max %d)", name, nlabels, MAX_LABELS);
    if (nlabels && !labels) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: %s: labels is NULL", name);
    for (size_t i = 0; i < nlabels; i++) {
        if (!name_ok(labels[i].name, false) || strncmp(labels[i].name, "__", 2) == 0 || !strcmp(labels[i].name, "le"))
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: %s: bad label name", name);
        if (!labels[i].value || strlen(labels[i].value) > MAX_LABEL_VALUE)
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: %s: bad value of label %s", name, labels[i].name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(labels[i].name, labels[j].name))
                return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: %s: label %s twice", name, labels[i].name);
    }
    return JWTS_OK;
}

static jwts_err check_bounds(const char *name, const double *bounds, size_t nbounds)
{
    if (nbounds > MAX_BOUNDS)
        return jwts_fail(JWTS_E_LIMIT, "metrics: %s: %zu buckets (max %d)", name, nbounds, MAX_BOUNDS);
    for (size_t i = 0; i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i && !(bounds[i] > bounds[i - 1])))
            return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: %s: bounds must be finite and increasing", name);
    }
    return JWTS_OK;
}

static void family_free(family *f)
{
    if (!f) return;
    for (series *s = f->first, *n; s; s = n) {
        n = s->next;
        for (callback *c = s->callbacks, *cn; c; c = cn) {
            cn = c->next;
            if (c->free_arg) free(c->arg);
            free(c);
        }
        free(s->labels);
        free(s);
    }
    for (size_t i = 0; i < f->nlabels; i++) free(f->label_names[i]);
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f->bounds_ns);
    free(f);
}

static family *family_new(metric_type type, const char *name, const char *help, const jwts_label *labels,
                          size_t nlabels, const double *bounds, size_t nbounds)
{
    family *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help);
    f->nlabels = nlabels;
    bool ok = f->name && f->help;
    for (size_t i = 0; i < nlabels; i++) ok = ok && (f->label_names[i] = strdup(labels[i].name));
    if (type == TYPE_HISTOGRAM && nbounds) {
        f->bounds = malloc(nbounds * sizeof *bounds);
        ok = ok && f->bounds;
        if (f->bounds) memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
        /* the same bounds in whole nanoseconds: ns lands in bucket i when ns <= floor(bound * 1e9) */
        f->bounds_ns = malloc(nbounds * sizeof *f->bounds_ns);
        ok = ok && f->bounds_ns;
        for (size_t i = 0; f->bounds_ns && i < nbounds; i++) {
            double x = floor(bounds[i] * 1e9 + 1e-6);
            f->bounds_ns[i] = x >= 9.2e18 ? INT64_MAX : x <= -9.2e18 ? INT64_MIN : (int64_t)x;
        }
    }
    f->nbounds = type == TYPE_HISTOGRAM ? nbounds : 0;
    if (!ok) {
        family_free(f);
        return NULL;
    }
    return f;
}

static jwts_err family_agrees(const family *f, metric_type type, const jwts_label *labels, size_t nlabels,
                              const double *bounds, size_t nbounds)
{
    if (f->type != type) return jwts_fail(JWTS_E_CONFLICT, "metrics: %s registered with another type", f->name);
    if (f->nlabels != nlabels) return jwts_fail(JWTS_E_CONFLICT, "metrics: %s registered with other labels", f->name);
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(f->label_names[i], labels[i].name))
            return jwts_fail(JWTS_E_CONFLICT, "metrics: %s registered with other labels", f->name);
    if (type == TYPE_HISTOGRAM &&
        (f->nbounds != nbounds || (nbounds && memcmp(f->bounds, bounds, nbounds * sizeof *bounds))))
        return jwts_fail(JWTS_E_CONFLICT, "metrics: %s registered with other buckets", f->name);
    return JWTS_OK;
}

static size_t cells_of(metric_type type, size_t nbounds)
{
    return type == TYPE_COUNTER ? 1 : type == TYPE_HISTOGRAM ? nbounds + 2 : 0;
}

/* Reserve n consecutive cells within one chunk; the lock is held. */
static jwts_err reserve_cells(jwts_metrics *m, size_t n, uint32_t *first)
{
    uint32_t c = m->next_cell;
    if (n && c % CHUNK_CELLS + n > CHUNK_CELLS) c = (c / CHUNK_CELLS + 1) * CHUNK_CELLS;
    if ((size_t)c + n > m->nchunks * CHUNK_CELLS)
        return jwts_fail(JWTS_E_LIMIT, "metrics: registry is full (%zu cells)", m->nchunks * CHUNK_CELLS);
    *first = c;
    m->next_cell = c + (uint32_t)n;
    return JWTS_OK;
}

static jwts_err register_locked(jwts_metrics *m, metric_type type, const char *name, const char *help,
                                const jwts_label *labels, size_t nlabels, const double *bounds, size_t nbounds,
                                bool omit_zero, series **out)
{
    family *f = m->families;
    while (f && strcmp(f->name, name)) f = f->next;
    jwts_err rc = f ? family_agrees(f, type, labels, nlabels, bounds, nbounds) : JWTS_OK;
    if (rc) return rc;
    char *rendered = NULL;
    if ((rc = render_labels(labels, nlabels, &rendered))) return rc;
    for (series *s = f ? f->first : NULL; s; s = s->next) {
        if (!strcmp(s->labels, rendered)) {
            free(rendered);
            *out = s;
            return JWTS_OK;
        }
    }
    bool new_family = !f;
    if (new_family && !(f = family_new(type, name, help, labels, nlabels, bounds, nbounds))) {
        free(rendered);
        return jwts_fail(JWTS_E_NO_MEMORY, "metrics: family %s", name);
    }
    series *s = calloc(1, sizeof *s);
    uint32_t cell = 0;
    rc = s ? reserve_cells(m, cells_of(type, nbounds), &cell) : jwts_fail(JWTS_E_NO_MEMORY, "metrics: series");
    if (rc) {
        free(s);
        free(rendered);
        if (new_family) family_free(f);
        return rc;
    }
    s->m = m;
    s->fam = f;
    s->labels = rendered;
    s->cell = cell;
    s->omit_zero = omit_zero;
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    if (new_family) {
        if (m->families_last)
            m->families_last->next = f;
        else
            m->families = f;
        m->families_last = f;
    }
    *out = s;
    return JWTS_OK;
}

jwts_err metrics_register(jwts_metrics *m, metric_type type, const char *name, const char *help,
                          const jwts_label *labels, size_t nlabels, const double *bounds, size_t nbounds,
                          bool omit_zero, series **out)
{
    if (!m || !out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: NULL registry or out");
    jwts_err rc = check_args(name, help, labels, nlabels);
    if (rc) return rc;
    if (type == TYPE_HISTOGRAM) {
        if (!bounds) {
            bounds = jwts_metrics_duration_buckets;
            nbounds = jwts_metrics_duration_nbuckets;
        }
        if ((rc = check_bounds(name, bounds, nbounds))) return rc;
    }
    pthread_mutex_lock(&m->lock);
    rc = register_locked(m, type, name, help, labels, nlabels, bounds, nbounds, omit_zero, out);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

jwts_err jwts_metrics_counter(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                              size_t nlabels, jwts_counter **out)
{
    return metrics_register(m, TYPE_COUNTER, name, help, labels, nlabels, NULL, 0, false, (series **)out);
}

jwts_err jwts_metrics_gauge(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                            size_t nlabels, jwts_gauge **out)
{
    return metrics_register(m, TYPE_GAUGE, name, help, labels, nlabels, NULL, 0, false, (series **)out);
}

jwts_err jwts_metrics_histogram(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                                size_t nlabels, const double *bounds, size_t nbounds, jwts_histogram **out)
{
    return metrics_register(m, TYPE_HISTOGRAM, name, help, labels, nlabels, bounds, nbounds, false, (series **)out);
}

jwts_err metrics_gauge_callback(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                                size_t nlabels, jwts_gauge_fn fn, void *arg, const void *owner, bool free_arg)
{
    return metrics_callback(m, TYPE_GAUGE, name, help, labels, nlabels, fn, arg, owner, free_arg);
}

jwts_err metrics_callback(jwts_metrics *m, metric_type type, const char *name, const char *help,
                          const jwts_label *labels, size_t nlabels, jwts_gauge_fn fn, void *arg, const void *owner,
                          bool free_arg)
{
    series *s;
    callback *cb = NULL;
    jwts_err rc = fn ? JWTS_OK : jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: callback is NULL");
    if (!rc && type == TYPE_HISTOGRAM) rc = jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics: no histogram callbacks");
    if (!rc) rc = metrics_register(m, type, name, help, labels, nlabels, NULL, 0, false, &s);
    if (!rc && !(cb = calloc(1, sizeof *cb))) rc = jwts_fail(JWTS_E_NO_MEMORY, "metrics: callback");
    if (rc) {
        if (free_arg) free(arg);
        return rc;
    }
    cb->fn = fn;
    cb->arg = arg;
    cb->owner = owner;
    cb->free_arg = free_arg;
    pthread_mutex_lock(&m->lock);
    cb->next = s->callbacks;
    s->callbacks = cb;
    s->by_callback = true;
    pthread_mutex_unlock(&m->lock);
    return JWTS_OK;
}

jwts_err jwts_metrics_gauge_fn(jwts_metrics *m, const char *name, const char *help, const jwts_label *labels,
                               size_t nlabels, jwts_gauge_fn fn, void *arg)
{
    return metrics_gauge_callback(m, name, help, labels, nlabels, fn, arg, arg, false);
}

void jwts_metrics_detach(jwts_metrics *m, const void *arg)
{
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    for (family *f = m->families; f; f = f->next) {
        for (series *s = f->first; s; s = s->next) {
            for (callback **pp = &s->callbacks; *pp;) {
                callback *c = *pp;
                if (c->owner == arg) {
                    *pp = c->next;
                    if (c->free_arg) free(c->arg);
                    free(c);
                } else {
                    pp = &c->next;
                }
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
}

/* ---- lifetime --------------------------------------------------------------------------------- */

jwts_err jwts_metrics_new(const jwts_metrics_options *opts, jwts_metrics **out)
{
    if (!out) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "metrics_new: out is NULL");
    *out = NULL;
    jwts_fast_ns(); /* calibrate the timing clock now, not on the first operation */
    jwts_metrics_options o = opts ? *opts : (jwts_metrics_options){0};
    if (o.max_cells == 0) o.max_cells = DEFAULT_MAX_CELLS;
    if (o.max_cells > (size_t)1 << 26)
        return jwts_fail(JWTS_E_LIMIT, "metrics_new: max_cells %zu too large", o.max_cells);
    jwts_metrics *m = calloc(1, sizeof *m);
    if (!m) return jwts_fail(JWTS_E_NO_MEMORY, "metrics_new");
    pthread_mutex_init(&m->lock, NULL);
    m->nchunks = (o.max_cells + CHUNK_CELLS - 1) / CHUNK_CELLS;
    for (int s = 0; s < SLOT_MAX; s++) {
        m->slots[s].chunks = calloc(m->nchunks, sizeof *m->slots[s].chunks);
        if (!m->slots[s].chunks) {
            jwts_metrics_free(m);
            return jwts_fail(JWTS_E_NO_MEMORY, "metrics_new");
        }
    }
    if (!o.no_standard) {
        jwts_err rc = metrics_std_register(m);
        if (rc) {
            jwts_metrics_free(m);
            return rc;
        }
    }
    *out = m;
    return JWTS_OK;
}

void jwts_metrics_free(jwts_metrics *m)
{
    if (!m) return;
    for (family *f = m->families, *n; f; f = n) {
        n = f->next;
        family_free(f);
    }
    for (int s = 0; s < SLOT_MAX; s++) {
        if (!m->slots[s].chunks) continue;
        for (size_t i = 0; i < m->nchunks; i++) free((void *)atomic_load(&m->slots[s].chunks[i]));
        free(m->slots[s].chunks);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}
