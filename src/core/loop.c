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
    atomic_int load;
};

struct loop_pool {
    int count;
    loop_t *loops;
};

static gpointer loop_thread_main(gpointer data)
{
    loop_t *loop = data;
    g_main_context_push_thread_default(loop->context);
    if (loop->epoll && !poller_install(loop->context))
        g_warning("loop-%d: no epoll instance; polling with poll(2)", loop->index);
    g_main_loop_run(loop->main_loop);
    poller_uninstall();
    g_main_context_pop_thread_default(loop->context);
    return NULL;
}

loop_pool_t *loop_pool_create(int count)
{
    return loop_pool_create_polled(count, true);
}

loop_pool_t *loop_pool_create_polled(int count, bool epoll)
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
        loop->context = g_main_context_new();
        loop->main_loop = g_main_loop_new(loop->context, FALSE);
        loop->work = workq_new(loop->context, G_PRIORITY_DEFAULT);
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
