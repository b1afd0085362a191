/*
 * bench_wire: byte-order and filler helpers for the benchmark clients' RTP payloads
 * (media_bench, calls_bench): big-endian 32/64-bit fields and the fixed filler pattern the
 * receivers compare against.
 *
 * Threads: pure functions on caller-owned buffers; any thread.
 * Ownership: nothing allocated.
 */
#ifndef PARLEY_BENCH_BENCH_WIRE_H
#define PARLEY_BENCH_BENCH_WIRE_H

#include <stddef.h>
#include <stdint.h>

static inline void bench_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t bench_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void bench_put_be64(uint8_t *p, uint64_t v)
{
    bench_put_be32(p, (uint32_t)(v >> 32));
    bench_put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t bench_get_be64(const uint8_t *p)
{
    return (uint64_t)bench_get_be32(p) << 32 | bench_get_be32(p + 4);
}

/* The payload filler both ends know: byte i is i * 31 + 7. */
static inline void bench_fill_pattern(uint8_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        t[i] = (uint8_t)(i * 31u + 7u);
}

#endif
