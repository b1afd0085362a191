/*
 * loop: see loop.h. A thread per loop runs g_main_loop_run on a private context; the thread
 * pushes that context as its thread-default so that libnice agents created there, and GLib
 * helpers that look at the thread default, use it.
 */
#include "core/loop.h"
#include "core/poller.h"
#include "core/workq.h"

#include <stdatomic.h>
#include <stdlib.h>

struct loop {
    int index;
    GMainContext *context;
    GMainLoop *main_loop;
    GThread *thread;
    workq *work;                /* loop_invoke's queue */
    bool epoll;                 /* poll through core/poller */
    int batch_us;
    GPtrArray *ticks;           /* loop_tick, loop thread only */
    GSource *tick_timer;        /* while there are ticks */
    bool in_ticks;              /* run_ticks is walking the array */
    atomic_int load;
};

struct loop_pool {
    int count;
    loop_t *loops;
};

static _Thread_local int current_loop = -1;

int loop_current_index(void) { return current_loop; }

static gpointer loop_thread_main(gpointer data)
{
    loop_t *loop = data;
    current_loop = loop->index;
    g_main_context_push_thread_default(loop->context);
    if (loop->epoll && !poller_install(loop->context, loop->batch_us))
        g_warning("loop-%d: no epoll instance; polling with poll(2)", loop->index);
    g_main_loop_run(loop->main_loop);
    poller_uninstall();
    g_main_context_pop_thread_default(loop->context);
    return NULL;
}

loop_pool_t *loop_pool_create(int count)
{
    return loop_pool_create_polled(count, true, 0);
}

loop_pool_t *loop_pool_create_polled(int count, bool epoll, int batch_us)
{
    if (count < 1)
        count = 1;
    loop_pool_t *pool = calloc(1, sizeof *pool);
    pool->count = count;
    pool->loops = calloc((size_t)count, sizeof *pool->loops);
    for (int i = 0; i < count; i++) {
        loop_t *loop = &pool->loops[i];
        loop->index = i;
        loop->epoll = epoll;
        loop->batch_us = batch_us;
        loop->context = g_main_context_new();
        loop->main_loop = g_main_loop_new(loop->context, FALSE);
        loop->work = workq_new(loop->context, G_PRIORITY_DEFAULT);
        loop->ticks = g_ptr_array_new_with_free_func(free);
        char name[16];
        g_snprintf(name, sizeof name, "loop-%d", i);
        loop->thread = g_thread_new(name, loop_thread_main, loop);
    }
    return pool;
}

static gboolean quit_loop(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

void loop_pool_destroy(loop_pool_t *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->count; i++) {
        loop_t *loop = &pool->loops[i];
        g_main_context_invoke(loop->context, quit_loop, loop->main_loop);
        g_thread_join(loop->thread);
        workq_free(loop->work);
        if (loop->tick_timer) {
            g_source_destroy(loop->tick_timer);
            g_source_unref(loop->tick_timer);
        }
        g_ptr_array_free(loop->ticks, TRUE);
        g_main_loop_unref(loop->main_loop);
        g_main_context_unref(loop->context);
    }
    free(pool->loops);
    free(pool);
}

int loop_pool_size(const loop_pool_t *pool) { return pool->count; }
loop_t *loop_pool_get(loop_pool_t *pool, int index) { return &pool->loops[index]; }

loop_t *loop_pool_pick(loop_pool_t *pool)
{
    loop_t *best = &pool->loops[0];
    for (int i = 1; i < pool->count; i++)
        if (atomic_load(&pool->loops[i].load) < atomic_load(&best->load))
            best = &pool->loops[i];
    atomic_fetch_add(&best->load, 1);
    return best;
}

void loop_acquire(loop_t *loop) { atomic_fetch_add(&loop->load, 1); }
void loop_release(loop_t *loop) { atomic_fetch_sub(&loop->load, 1); }
int loop_load(const loop_t *loop) { return atomic_load(&((loop_t *)loop)->load); }
GMainContext *loop_context(loop_t *loop) { return loop->context; }
int loop_index(const loop_t *loop) { return loop->index; }
bool loop_is_current(const loop_t *loop) { return g_main_context_is_owner(loop->context); }

void loop_invoke(loop_t *loop, loop_fn fn, void *arg) { workq_push(loop->work, fn, arg); }

typedef struct sync_call {
    loop_fn fn;
    void *arg;
    GMutex mutex;
    GCond cond;
    bool done;
} sync_call;

static void run_sync(void *data)
{
    sync_call *call = data;
    call->fn(call->arg);
    g_mutex_lock(&call->mutex);
    call->done = true;
    g_cond_signal(&call->cond);
    g_mutex_unlock(&call->mutex);
}

void loop_invoke_sync(loop_t *loop, loop_fn fn, void *arg)
{
    sync_call call = {.fn = fn, .arg = arg, .done = false};
    g_mutex_init(&call.mutex);
    g_cond_init(&call.cond);
    loop_invoke(loop, run_sync, &call);
    g_mutex_lock(&call.mutex);
    while (!call.done)
        g_cond_wait(&call.cond, &call.mutex);
    g_mutex_unlock(&call.mutex);
    g_mutex_clear(&call.mutex);
    g_cond_clear(&call.cond);
}

/* ---- ticks ---- */

struct loop_tick {
    loop_t *loop;
    int64_t period_us, due_us;
    loop_fn fn;                 /* NULL once removed */
    void *arg;
};

/* Drops removed ticks; the timer goes when none are left. Not while run_ticks walks. */
static void compact_ticks(loop_t *loop)
{
    for (guint i = loop->ticks->len; i-- > 0;)
        if (!((loop_tick *)loop->ticks->pdata[i])->fn)
            g_ptr_array_remove_index_fast(loop->ticks, i);
    if (loop->ticks->len == 0 && loop->tick_timer) {
        g_source_destroy(loop->tick_timer);
        g_source_unref(loop->tick_timer);
        loop->tick_timer = NULL;
    }
}

static gboolean run_ticks(gpointer data)
{
    loop_t *loop = data;
    int64_t now = g_get_monotonic_time();
    loop->in_ticks = true;
    /* By index: a callback may add ticks (appended, not due yet) or remove any. */
    for (guint i = 0; i < loop->ticks->len; i++) {
        loop_tick *t = loop->ticks->pdata[i];
        if (!t->fn || t->due_us > now)
            continue;
        t->due_us += t->period_us;
        if (t->due_us <= now)   /* the loop was stalled: no burst of catch-up calls */
            t->due_us = now + t->period_us;
        t->fn(t->arg);
    }
    loop->in_ticks = false;
    compact_ticks(loop);
    return G_SOURCE_CONTINUE;
}

loop_tick *loop_tick_add(loop_t *loop, unsigned period_ms, loop_fn fn, void *arg)
{
    unsigned ms = (period_ms + LOOP_TICK_MS - 1) / LOOP_TICK_MS * LOOP_TICK_MS;
    loop_tick *t = malloc(sizeof *t);
    *t = (loop_tick){.loop = loop, .period_us = (int64_t)(ms ? ms : LOOP_TICK_MS) * 1000,
                     .fn = fn, .arg = arg};
    t->due_us = g_get_monotonic_time() + t->period_us;
    g_ptr_array_add(loop->ticks, t);
    if (!loop->tick_timer) {
        loop->tick_timer = g_timeout_source_new(LOOP_TICK_MS);
        g_source_set_callback(loop->tick_timer, run_ticks, loop, NULL);
        g_source_attach(loop->tick_timer, loop->context);
    }
    return t;
}

void loop_tick_remove(loop_tick *tick)
{
    if (!tick)
        return;
    tick->fn = NULL;
    if (!tick->loop->in_ticks)
        compact_ticks(tick->loop);
}
