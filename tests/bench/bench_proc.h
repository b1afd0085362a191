/*
 * bench_proc: what the benchmark clients read about the server process, the machine and
 * themselves: a process's CPU seconds (all threads), its VmRSS / Threads, the CPU seconds
 * of each of its threads, the machine's busy/total jiffies and load average, this client's
 * own CPU, and its own UDP socket buffers.
 *
 * Threads: no shared state; any thread (the clients call them from their main thread).
 * Ownership: bench_proc_threads_cpu returns a malloc'd array the caller frees; everything
 * else fills caller-owned values.
 */
#ifndef PARLEY_BENCH_BENCH_PROC_H
#define PARLEY_BENCH_BENCH_PROC_H

#include <stddef.h>
#include <stdint.h>

/* utime+stime of every thread of pid (/proc/<pid>/stat), seconds; -1 when unreadable. */
double bench_proc_cpu_seconds(int pid);

/* A numeric field of /proc/<pid>/status (e.g. "VmRSS" in kB, "Threads"); -1 when
 * unreadable. */
long bench_proc_status_value(int pid, const char *key);

/* CPU seconds of one thread of a process (/proc/<pid>/task/<tid>/stat). */
typedef struct bench_thread_cpu {
    int tid;
    char comm[24];
    double cpu_s;
} bench_thread_cpu;

/* Every thread of pid into *out (malloc'd, sorted by tid, NULL when none); returns the
 * count. */
size_t bench_proc_threads_cpu(int pid, bench_thread_cpu **out);

/* qsort/bsearch orders of bench_thread_cpu: by tid; by CPU seconds, busiest first. */
int bench_thread_cpu_cmp_tid(const void *a, const void *b);
int bench_thread_cpu_cmp_busiest(const void *a, const void *b);

/* The machine's jiffies (/proc/stat "cpu" line): busy (all but idle and iowait) and total;
 * both 0 when unreadable. */
typedef struct bench_jiffies {
    uint64_t busy, total;
} bench_jiffies;

bench_jiffies bench_system_jiffies(void);

/* How busy the machine was between two readings, % of all cores (0 when unknown). */
double bench_machine_busy_pct(bench_jiffies before, bench_jiffies after);

/* The 1-minute load average; -1 when unreadable. */
double bench_loadavg1(void);

/* This process's user+system CPU seconds. */
double bench_self_cpu_seconds(void);

/* Gives every UDP socket of this process 4 MB send and receive buffers (capped by
 * net.core.[rw]mem_max), so that the client is not where packets are lost; returns how
 * many sockets it changed. */
int bench_enlarge_own_udp_buffers(void);

#endif
