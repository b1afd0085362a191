/*
 * bench_pacer: the 1 ms, high-priority timer that drives a benchmark client's paced
 * senders on one of its loop threads (media_bench's and calls_bench's lanes).
 *
 * Threads: attach and detach on the loop thread that owns the context (the clients call
 * them through loop_invoke_sync); the tick runs there too.
 * Ownership: the caller keeps the returned source and gives it back to bench_pacer_detach.
 */
#ifndef PARLEY_BENCH_BENCH_PACER_H
#define PARLEY_BENCH_BENCH_PACER_H

#include <glib.h>

#include "core/loop.h"

/* Calls tick(data) every millisecond on loop; returns the source. */
GSource *bench_pacer_attach(loop_t *loop, GSourceFunc tick, void *data);

/* Stops and releases *pacer (if any) and clears it. */
void bench_pacer_detach(GSource **pacer);

#endif
