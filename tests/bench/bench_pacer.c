/*
 * bench_pacer: the benchmark clients' sender timer (see bench_pacer.h).
 *
 * Threads: the loop thread of the source's context.
 * Ownership: the source is the caller's until bench_pacer_detach.
 */
#include "bench_pacer.h"

GSource *bench_pacer_attach(loop_t *loop, GSourceFunc tick, void *data)
{
    GSource *pacer = g_timeout_source_new(1);
    g_source_set_priority(pacer, G_PRIORITY_HIGH);
    g_source_set_callback(pacer, tick, data, NULL);
    g_source_attach(pacer, loop_context(loop));
    return pacer;
}

void bench_pacer_detach(GSource **pacer)
{
    if (*pacer) {
        g_source_destroy(*pacer);
        g_source_unref(*pacer);
        *pacer = NULL;
    }
}
