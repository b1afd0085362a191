/*
 * bench_proc: /proc and getrusage readers of the benchmark clients (see bench_proc.h).
 *
 * Threads: no shared state; any thread.
 * Ownership: bench_proc_threads_cpu's array belongs to the caller; files are closed before
 * returning.
 */
#include "bench_proc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Reads a /proc/.../stat file: utime+stime in seconds, and the command name into comm
 * (when comm_cap > 0). -1 when unreadable. */
static double stat_cpu_seconds(const char *path, char *comm, size_t comm_cap)
{
    char buf[2048];
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return -1;
    /* Fields after ") ": state(3) ... utime(14) stime(15). */
    unsigned long long ut = 0, st = 0;
    if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    if (comm_cap > 0) {
        size_t cl = (size_t)(close - open - 1);
        if (cl >= comm_cap)
            cl = comm_cap - 1;
        memcpy(comm, open + 1, cl);
        comm[cl] = '\0';
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double bench_proc_cpu_seconds(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    return stat_cpu_seconds(path, NULL, 0);
}

long bench_proc_status_value(int pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtol(line + kl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

int bench_thread_cpu_cmp_tid(const void *a, const void *b)
{
    const bench_thread_cpu *x = a, *y = b;
    return x->tid < y->tid ? -1 : x->tid > y->tid;
}

int bench_thread_cpu_cmp_busiest(const void *a, const void *b)
{
    const bench_thread_cpu *x = a, *y = b;
    return x->cpu_s > y->cpu_s ? -1 : x->cpu_s < y->cpu_s;
}

size_t bench_proc_threads_cpu(int pid, bench_thread_cpu **out)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    size_t n = 0, cap = 0;
    *out = NULL;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int tid = atoi(e->d_name);
        if (tid <= 0)
            continue;
        char stat_path[96];
        bench_thread_cpu t = {.tid = tid};
        snprintf(stat_path, sizeof stat_path, "/proc/%d/task/%d/stat", pid, tid);
        t.cpu_s = stat_cpu_seconds(stat_path, t.comm, sizeof t.comm);
        if (t.cpu_s < 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            bench_thread_cpu *nt = realloc(*out, nc * sizeof *nt);
            if (!nt)
                break;
            *out = nt;
            cap = nc;
        }
        (*out)[n++] = t;
    }
    closedir(d);
    qsort(*out, n, sizeof **out, bench_thread_cpu_cmp_tid);
    return n;
}

bench_jiffies bench_system_jiffies(void)
{
    bench_jiffies j = {0, 0};
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return j;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) == 8) {
        for (int i = 0; i < 8; i++)
            j.total += v[i];
        j.busy = j.total - v[3] - v[4];
    }
    fclose(f);
    return j;
}

double bench_machine_busy_pct(bench_jiffies before, bench_jiffies after)
{
    return after.total > before.total
        ? 100.0 * (double)(after.busy - before.busy) / (double)(after.total - before.total) : 0;
}

double bench_loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

double bench_self_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The peers' sockets are libnice's, so they are reached by descriptor. The server's
 * sockets are left as the server made them. */
int bench_enlarge_own_udp_buffers(void)
{
    int n = 0, size = 4 * 1024 * 1024;
    long max_fd = sysconf(_SC_OPEN_MAX);
    for (int fd = 3; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 4096); fd++) {
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        n++;
    }
    return n;
}
