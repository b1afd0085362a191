/*
 * bench_pacer: the benchmark clients' sender timers (see bench_pacer.h).
 *
 * The high-resolution timer is a timerfd watched by a GSource: GLib's own timeouts round
 * to milliseconds, which would gather spread packets back into 1 ms bursts.
 */
#include "bench_pacer.h"

#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

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

struct bench_hrtimer {
    GSource source;           /* first: the timer is a GSource */
    int fd;
    void (*fire)(void *data);
    void *data;
};

static gboolean hrtimer_dispatch(GSource *source, GSourceFunc cb, gpointer unused)
{
    (void)cb;
    (void)unused;
    bench_hrtimer *t = (bench_hrtimer *)source;
    uint64_t expirations;
    if (read(t->fd, &expirations, sizeof expirations) == (ssize_t)sizeof expirations)
        t->fire(t->data);
    return G_SOURCE_CONTINUE;
}

static void hrtimer_finalize(GSource *source)
{
    close(((bench_hrtimer *)source)->fd);
}

static GSourceFuncs hrtimer_funcs = {.dispatch = hrtimer_dispatch, .finalize = hrtimer_finalize};

bench_hrtimer *bench_hrtimer_attach(loop_t *loop, void (*fire)(void *data), void *data)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return NULL;
    bench_hrtimer *t = (bench_hrtimer *)g_source_new(&hrtimer_funcs, sizeof *t);
    t->fd = fd;
    t->fire = fire;
    t->data = data;
    g_source_set_priority(&t->source, G_PRIORITY_HIGH);
    g_source_add_unix_fd(&t->source, fd, G_IO_IN);
    g_source_attach(&t->source, loop_context(loop));
    return t;
}

void bench_hrtimer_arm(bench_hrtimer *t, int64_t at_us)
{
    /* g_get_monotonic_time is CLOCK_MONOTONIC in microseconds on Linux. 0 would disarm. */
    if (at_us <= 0)
        at_us = 1;
    struct itimerspec its = {.it_value = {.tv_sec = at_us / 1000000,
                                          .tv_nsec = (long)(at_us % 1000000) * 1000}};
    timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void bench_hrtimer_detach(bench_hrtimer **t)
{
    if (*t) {
        g_source_destroy(&(*t)->source);
        g_source_unref(&(*t)->source);
        *t = NULL;
    }
}
