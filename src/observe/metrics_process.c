/*
 * metrics_process.c - the process_* families every Prometheus client library exports
 * (process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds), read from getrusage, getrlimit
 * and /proc/self at scrape time, and jwtsession_build_info{version} = 1.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "jwtsession/error.h"
#include "jwtsession/version.h"
#include "observe/metrics_int.h"

static bool cpu_seconds(void *arg, double *v)
{
    (void)arg;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return false;
    *v = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return true;
}

/* Field 0 (size) or 1 (resident) of /proc/self/statm, in bytes. */
static bool statm_bytes(int field, double *v)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return false;
    unsigned long long size, resident;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    if (n != 2 || page <= 0) return false;
    *v = (double)(field ? resident : size) * (double)page;
    return true;
}

static bool resident_bytes(void *arg, double *v)
{
    (void)arg;
    return statm_bytes(1, v);
}

static bool virtual_bytes(void *arg, double *v)
{
    (void)arg;
    return statm_bytes(0, v);
}

static bool open_fds(void *arg, double *v)
{
    (void)arg;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return false;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    *v = (double)(n ? n - 1 : 0); /* not the descriptor reading the directory */
    return true;
}

static bool max_fds(void *arg, double *v)
{
    (void)arg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return false;
    *v = (double)rl.rlim_cur;
    return true;
}

/* The process start in seconds since the epoch: /proc/self/stat field 22 (clock ticks after boot)
 * plus the boot time in /proc/stat; 0 when unreadable. */
static double read_start_time(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long start_ticks = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                     &start_ticks) != 1)
        return 0;
    f = fopen("/proc/stat", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long btime = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &btime) == 1) break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (!btime || hz <= 0) return 0;
    return (double)btime + (double)start_ticks / (double)hz;
}

static double start_time_s;

static bool start_time(void *arg, double *v)
{
    (void)arg;
    *v = start_time_s;
    return start_time_s > 0;
}

jwts_err jwts_metrics_watch_process(jwts_metrics *m)
{
    if (!m) return jwts_fail(JWTS_E_INVALID_ARGUMENT, "watch_process: NULL registry");
    if (start_time_s == 0) {
        start_time_s = read_start_time();
        if (start_time_s == 0) start_time_s = (double)time(NULL);
    }
    static const struct {
        metric_type type;
        const char *name, *help;
        jwts_gauge_fn fn;
    } PROBES[] = {
        {TYPE_COUNTER, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", cpu_seconds},
        {TYPE_GAUGE, "process_resident_memory_bytes", "Resident memory size in bytes.", resident_bytes},
        {TYPE_GAUGE, "process_virtual_memory_bytes", "Virtual memory size in bytes.", virtual_bytes},
        {TYPE_GAUGE, "process_open_fds", "Number of open file descriptors.", open_fds},
        {TYPE_GAUGE, "process_max_fds", "Maximum number of open file descriptors.", max_fds},
        {TYPE_GAUGE, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
         start_time},
    };
    jwts_err rc = JWTS_OK;
    for (size_t i = 0; i < sizeof PROBES / sizeof *PROBES && !rc; i++)
        rc = metrics_callback(m, PROBES[i].type, PROBES[i].name, PROBES[i].help, NULL, 0, PROBES[i].fn, NULL,
                              &start_time_s, false);
    jwts_gauge *info = NULL;
    if (!rc)
        rc = jwts_metrics_gauge(m, "jwtsession_build_info", "The jwtsession library version; the value is 1.",
                                &(jwts_label){"version", JWTS_VERSION_STRING}, 1, &info);
    if (!rc) jwts_gauge_set(info, 1);
    if (rc) jwts_metrics_detach(m, &start_time_s);
    return rc;
}
