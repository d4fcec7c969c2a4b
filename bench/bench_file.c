/*
 * bench_file.c - the file store (LMDB) next to its baselines, same run, alternating rounds,
 * medians:
 *
 *   get of an existing session, one thread, 100,000 sessions   >= 0.5x the memory store's rate
 *                                                                  (same keys, same order)
 *   set, sync=full (every acknowledged write fsynced)           next to a raw loop of one 4 KiB
 *                                                                  pwrite + fdatasync on a file in
 *                                                                  the same directory: the disk's
 *                                                                  physical limit for one durable
 *                                                                  write at a time
 *   set, sync=group (group commit, window 100 ms)               next to the memory store's set
 *
 * The directory is a new one under $JWTS_BENCH_DIR, else /var/tmp (on disk where /tmp may be a
 * tmpfs); its filesystem is printed. Exits 1 when the get target is missed.
 * Usage: bench_file [seconds-per-measure] [rounds]
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "bench_util.h"

#include "jwtsession/jwtsession.h"

#define SESSIONS 100000
#define SET_KEYS 20000
#define METADATA "{\"device\":\"laptop\",\"ip\":\"192.0.2.10\"}"
#define PROG "bench_file"

typedef struct key_rec {
    char user[24];
    char id[JWTS_SESSION_ID_LEN + 1];
} key_rec;

typedef struct target {
    jwts_store *st;
    key_rec *keys;
    size_t n;
    size_t cursor;
} target;

static key_rec *make_keys(size_t n, const char *tag)
{
    key_rec *k = malloc(n * sizeof *k);
    if (!k) bench_die(PROG, JWTS_E_NO_MEMORY, "keys");
    for (size_t i = 0; i < n; i++) {
        snprintf(k[i].user, sizeof k[i].user, "%s%zu", tag, i);
        jwts_err rc = jwts_session_id_new(k[i].user, k[i].id);
        if (rc) bench_die(PROG, rc, "session id");
    }
    return k;
}

static jwts_session session_of(const key_rec *k, int64_t now)
{
    return (jwts_session){.user_id = k->user,
                          .session_id = k->id,
                          .created_at_ms = now,
                          .updated_at_ms = now,
                          .expires_at_ms = now + 3600000,
                          .last_seen_ms = now,
                          .metadata = METADATA};
}

/* Fill st with every key, 1000 a batch (one transaction each on the file store). */
static void fill(jwts_store *st, const key_rec *k, size_t n)
{
    int64_t now = jwts_now_ms();
    static jwts_session s[1000];
    static const jwts_session *p[1000];
    for (size_t i = 0; i < n; i += 1000) {
        size_t m = n - i < 1000 ? n - i : 1000;
        for (size_t j = 0; j < m; j++) s[j] = session_of(&k[i + j], now), p[j] = &s[j];
        jwts_err rc = jwts_store_set_many(st, NULL, p, m, 3600000);
        if (rc) bench_die(PROG, rc, "fill");
    }
}

/* One get, keys visited in a scrambled order (as bench_memory does). */
static void one_get(void *arg, uint64_t i)
{
    target *t = arg;
    t->cursor = (t->cursor + 7919) % t->n;
    jwts_session *s;
    jwts_err rc = jwts_store_get(t->st, NULL, &(jwts_session_key){t->keys[t->cursor].user, t->keys[t->cursor].id}, &s);
    if (rc) bench_die(PROG, rc, "get");
    jwts_session_free(s);
}

/* One set over a cycle of SET_KEYS keys (the first pass creates, later ones overwrite). */
static void one_set(void *arg, uint64_t i)
{
    target *t = arg;
    t->cursor = (t->cursor + 1) % t->n;
    jwts_session s = session_of(&t->keys[t->cursor], jwts_now_ms());
    jwts_err rc = jwts_store_set(t->st, NULL, &s, 3600000);
    if (rc) bench_die(PROG, rc, "set");
}

/* The physical limit: one 4 KiB page written and made durable, one at a time. */
typedef struct raw {
    int fd;
    char page[4096];
} raw;

static void one_fsync(void *arg, uint64_t i)
{
    raw *r = arg;
    r->page[i % sizeof r->page]++;
    if (pwrite(r->fd, r->page, sizeof r->page, (off_t)((i % 16) * sizeof r->page)) != (ssize_t)sizeof r->page ||
        fdatasync(r->fd) != 0) {
        perror(PROG ": raw write");
        exit(1);
    }
}

static jwts_store *open_file(const char *base, const char *name, const char *query)
{
    char url[600];
    snprintf(url, sizeof url, "file://%s/%s%s", base, name, query);
    jwts_store *st;
    jwts_err rc = jwts_store_open(url, NULL, &st);
    if (rc) bench_die(PROG, rc, url);
    return st;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static const char *fs_name(const char *dir)
{
    struct statfs s;
    if (statfs(dir, &s) != 0) return "?";
    switch ((unsigned long)s.f_type) {
    case 0xEF53:
        return "ext4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs";
    case 0x794c7630:
        return "overlayfs";
    default:
        return "other";
    }
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (seconds <= 0 || rounds < 1) {
        fprintf(stderr, "usage: %s [seconds-per-measure] [rounds]\n", PROG);
        return 2;
    }
    const char *parent = getenv("JWTS_BENCH_DIR") ? getenv("JWTS_BENCH_DIR") : "/var/tmp";
    char base[512];
    snprintf(base, sizeof base, "%s/jwts-bench-file-XXXXXX", parent);
    if (!mkdtemp(base)) {
        perror(PROG ": mkdtemp");
        return 1;
    }
    printf("%s: %d rounds of %.1f s, medians; directory %s (%s)\n", PROG, rounds, seconds, base, fs_name(base));
    printf("  %-52s %12s %12s %9s %9s\n", "measure", "ours", "baseline", "ratio", "target");

    /* get: 100,000 sessions in each store, the same keys in the same order */
    key_rec *keys = make_keys(SESSIONS, "user-");
    jwts_store *mem, *file = open_file(base, "get", "?sync=group");
    jwts_memory_options mo = {.max_sessions = SESSIONS + SET_KEYS};
    jwts_err rc = jwts_store_memory_new(&mo, &mem);
    if (rc) bench_die(PROG, rc, "memory store");
    fill(mem, keys, SESSIONS);
    fill(file, keys, SESSIONS);
    target tf = {file, keys, SESSIONS, 0}, tm = {mem, keys, SESSIONS, 0};
    double file_get_us, mem_get_us;
    bench_alternate(one_get, &tf, one_get, &tm, rounds, seconds, &file_get_us, &mem_get_us);
    double ratio = mem_get_us / file_get_us;
    printf("  get ops/s, 1 thread, 100,000 sessions: file %.0f, memory %.0f\n", 1e6 / file_get_us, 1e6 / mem_get_us);
    bench_row("get us/op, 1 thread, 100k sessions (vs memory)", file_get_us, mem_get_us, "<= 2.00x", ratio >= 0.5);
    jwts_store_free(file);
    char data[600];
    struct stat sb;
    snprintf(data, sizeof data, "%s/get/data.mdb", base);
    if (stat(data, &sb) == 0)
        printf("  data.mdb: %.1f MB for 100,000 sessions with %zu bytes of metadata: %.0f bytes/session\n",
               (double)sb.st_size / 1e6, strlen(METADATA), (double)sb.st_size / SESSIONS);

    /* set, sync=full, next to the raw write+fdatasync loop in the same directory */
    key_rec *set_keys = make_keys(SET_KEYS, "writer-");
    jwts_store *full = open_file(base, "full", "");
    raw r = {.fd = -1};
    char raw_path[600];
    snprintf(raw_path, sizeof raw_path, "%s/raw.bin", base);
    r.fd = open(raw_path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    if (r.fd < 0) {
        perror(PROG ": raw file");
        return 1;
    }
    memset(r.page, 'x', sizeof r.page);
    one_fsync(&r, 0);
    target ts = {full, set_keys, SET_KEYS, 0};
    double full_us, raw_us;
    double set_seconds = seconds < 2 ? 2 : seconds; /* a few hundred fsyncs a measure at least */
    bench_alternate(one_set, &ts, one_fsync, &r, rounds, set_seconds, &full_us, &raw_us);
    bench_row("set us/op, sync=full (vs 4 KiB pwrite+fdatasync)", full_us, raw_us, "-", -1);
    close(r.fd);
    jwts_store_free(full);

    /* set, group commit, next to the memory store's set */
    jwts_store *group = open_file(base, "group", "?sync=group&sync_window_ms=100");
    target tg = {group, set_keys, SET_KEYS, 0}, tms = {mem, set_keys, SET_KEYS, 0};
    double group_us, mem_set_us;
    bench_alternate(one_set, &tg, one_set, &tms, rounds, seconds, &group_us, &mem_set_us);
    bench_row("set us/op, sync=group 100 ms (vs memory set)", group_us, mem_set_us, "-", -1);
    bench_row("set us/op, sync=group 100 ms (vs sync=full)", group_us, full_us, "-", -1);
    printf("  set ops/s, 1 thread: sync=full %.0f, raw fdatasync %.0f, sync=group %.0f, memory %.0f\n", 1e6 / full_us,
           1e6 / raw_us, 1e6 / group_us, 1e6 / mem_set_us);
    jwts_store_free(group);
    jwts_store_free(mem);
    free(keys);
    free(set_keys);
    nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return bench_finish(PROG);
}
