/*
 * bench_stats: the benchmark clients' statistics: comparison functions for qsort,
 * nearest-rank percentiles of sorted arrays, and a growable set of latency samples (us)
 * that per-lane sets are merged into for the report.
 *
 * Threads: no shared state; a bench_samples is used by one thread at a time (its lane's
 * loop while measuring, the main thread for the report once the lanes are stopped).
 * Ownership: a bench_samples owns its array; bench_samples_free releases it.
 */
#ifndef PARLEY_BENCH_BENCH_STATS_H
#define PARLEY_BENCH_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

int bench_cmp_i64(const void *a, const void *b);
int bench_cmp_u32(const void *a, const void *b);

/* Index of the nearest-rank p-th percentile (0 < p <= 100) in a sorted array of n > 0. */
size_t bench_nearest_rank(size_t n, double p);

/* Nearest-rank percentile of a sorted array; 0 when empty. */
double bench_pct_i64(const int64_t *sorted, size_t n, double p);
double bench_pct_u32(const uint32_t *sorted, size_t n, double p);

/* Sorts v and returns its p50, p99 and maximum divided by div (0s when empty). */
typedef struct bench_spread {
    double p50, p99, max;
} bench_spread;

bench_spread bench_spread_i64(int64_t *v, size_t n, double div);

typedef struct bench_samples {
    uint32_t *v;
    size_t n, cap;
} bench_samples;

/* Adds one sample; dropped when memory runs out. */
void bench_samples_add(bench_samples *s, uint32_t v);

/* Appends all of src to dst. */
void bench_samples_append(bench_samples *dst, const bench_samples *src);

void bench_samples_sort(bench_samples *s);
void bench_samples_free(bench_samples *s);

#endif
