/*
 * bench_stats: sorting, percentiles and latency sample sets of the benchmark clients (see
 * bench_stats.h).
 *
 * Threads: no shared state.
 * Ownership: bench_samples arrays are malloc'd here and freed by bench_samples_free.
 */
#include "bench_stats.h"

#include <stdlib.h>
#include <string.h>

int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int bench_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

size_t bench_nearest_rank(size_t n, double p)
{
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    return k > n ? n - 1 : k - 1;
}

double bench_pct_i64(const int64_t *sorted, size_t n, double p)
{
    return n ? (double)sorted[bench_nearest_rank(n, p)] : 0;
}

double bench_pct_u32(const uint32_t *sorted, size_t n, double p)
{
    return n ? (double)sorted[bench_nearest_rank(n, p)] : 0;
}

bench_spread bench_spread_i64(int64_t *v, size_t n, double div)
{
    bench_spread s = {0, 0, 0};
    if (!v || n == 0)
        return s;
    qsort(v, n, sizeof *v, bench_cmp_i64);
    s.p50 = bench_pct_i64(v, n, 50) / div;
    s.p99 = bench_pct_i64(v, n, 99) / div;
    s.max = (double)v[n - 1] / div;
    return s;
}

static int samples_reserve(bench_samples *s, size_t need)
{
    if (need <= s->cap)
        return 0;
    size_t nc = s->cap ? s->cap * 2 : 65536;
    while (nc < need)
        nc *= 2;
    uint32_t *nv = realloc(s->v, nc * sizeof *nv);
    if (!nv)
        return -1;
    s->v = nv;
    s->cap = nc;
    return 0;
}

void bench_samples_add(bench_samples *s, uint32_t v)
{
    if (samples_reserve(s, s->n + 1) == 0)
        s->v[s->n++] = v;
}

void bench_samples_append(bench_samples *dst, const bench_samples *src)
{
    if (src->n == 0 || samples_reserve(dst, dst->n + src->n) != 0)
        return;
    memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
    dst->n += src->n;
}

void bench_samples_sort(bench_samples *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, bench_cmp_u32);
}

void bench_samples_free(bench_samples *s)
{
    free(s->v);
    *s = (bench_samples){0};
}
