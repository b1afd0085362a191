/*
 * bench_change: one process-wide "something changed" signal for the benchmark clients
 * (calls_bench, chat_bench_client): loop threads call bench_change_notify when a peer's state
 * moves; signalling threads read bench_change_generation(), check their condition, then
 * bench_change_wait(gen, deadline) returns when the generation moved on (true) or at
 * deadline_us (g_get_monotonic_time, false). Any thread; the state is this module's own.
 */
#ifndef PARLEY_BENCH_BENCH_CHANGE_H
#define PARLEY_BENCH_BENCH_CHANGE_H

#include <stdbool.h>
#include <stdint.h>

void bench_change_notify(void);
uint64_t bench_change_generation(void);
bool bench_change_wait(uint64_t gen, int64_t deadline_us);

#endif
