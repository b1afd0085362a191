/*
 * bench_pacer: the benchmark clients' sender timers, on one of their loop threads
 * (media_bench's and calls_bench's lanes).
 *
 *  - bench_pacer_attach: a 1 ms, high-priority tick; a sender that sends what is due on
 *    each tick puts its packets on the wire in 1 ms bursts.
 *  - bench_hrtimer: a one-shot timer with microsecond resolution (a timerfd), re-armed by
 *    its owner for the next packet's due time, so that packets leave spread in time as they
 *    would from many independent clients.
 *
 * Threads: attach and detach on the loop thread that owns the context (the clients call
 * them through loop_invoke_sync); callbacks run there too, and bench_hrtimer_arm is called
 * there.
 * Ownership: the caller keeps what attach returned and gives it back to the detach call.
 */
#ifndef PARLEY_BENCH_BENCH_PACER_H
#define PARLEY_BENCH_BENCH_PACER_H

#include <glib.h>
#include <stdint.h>

#include "core/loop.h"

/* Calls tick(data) every millisecond on loop; returns the source. */
GSource *bench_pacer_attach(loop_t *loop, GSourceFunc tick, void *data);

/* Stops and releases *pacer (if any) and clears it. */
void bench_pacer_detach(GSource **pacer);

typedef struct bench_hrtimer bench_hrtimer;

/* A disarmed timer on loop that calls fire(data) once per arming when it expires;
 * NULL if no timerfd could be made. */
bench_hrtimer *bench_hrtimer_attach(loop_t *loop, void (*fire)(void *data), void *data);

/* Arms the timer for the monotonic time at_us (g_get_monotonic_time's clock); a time in
 * the past fires at once. Re-arming replaces the previous due time. */
void bench_hrtimer_arm(bench_hrtimer *t, int64_t at_us);

/* Stops and frees *t (if any) and clears it. */
void bench_hrtimer_detach(bench_hrtimer **t);

#endif
