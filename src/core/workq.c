/*
 * workq: see workq.h. The list is FIFO (head/tail); `pending` mirrors "the list is not
 * empty" for the source's prepare/check, which run without the lock.
 */
#include "core/workq.h"

#include <stdatomic.h>
#include <stdbool.h>

typedef struct workq_item {
    struct workq_item *next;
    workq_fn fn;
    void *arg;
} workq_item;

typedef struct workq_source {
    GSource source;
    workq *q;
} workq_source;

struct workq {
    GMutex lock;
    workq_item *head, *tail;
    atomic_bool pending;
    GMainContext *context;
    GSource *source;
};

static gboolean wq_prepare(GSource *s, gint *timeout)
{
    *timeout = -1;
    return atomic_load_explicit(&((workq_source *)s)->q->pending, memory_order_acquire);
}

static gboolean wq_check(GSource *s)
{
    return atomic_load_explicit(&((workq_source *)s)->q->pending, memory_order_acquire);
}

static gboolean wq_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    (void)cb, (void)data;
    workq *q = ((workq_source *)s)->q;
    g_mutex_lock(&q->lock);
    workq_item *it = q->head;
    q->head = q->tail = NULL;
    atomic_store_explicit(&q->pending, false, memory_order_release);
    g_mutex_unlock(&q->lock);
    while (it) {
        workq_item *next = it->next;
        it->fn(it->arg);
        g_free(it);
        it = next;
    }
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs wq_funcs = {.prepare = wq_prepare, .check = wq_check, .dispatch = wq_dispatch};

workq *workq_new(GMainContext *context, int priority)
{
    workq *q = g_new0(workq, 1);
    g_mutex_init(&q->lock);
    atomic_init(&q->pending, false);
    q->context = context;
    q->source = g_source_new(&wq_funcs, sizeof(workq_source));
    ((workq_source *)q->source)->q = q;
    g_source_set_priority(q->source, priority);
    g_source_set_name(q->source, "workq");
    g_source_attach(q->source, context);
    return q;
}

void workq_push(workq *q, workq_fn fn, void *arg)
{
    workq_item *it = g_new(workq_item, 1);
    *it = (workq_item){.fn = fn, .arg = arg};
    g_mutex_lock(&q->lock);
    bool wake = q->head == NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    atomic_store_explicit(&q->pending, true, memory_order_release);
    g_mutex_unlock(&q->lock);
    /* Only the first item wakes the thread: the rest ride on that wake-up. */
    if (wake)
        g_main_context_wakeup(q->context);
}

void workq_free(workq *q)
{
    if (!q)
        return;
    g_source_destroy(q->source);
    g_source_unref(q->source);
    for (workq_item *it = q->head, *next; it; it = next) {
        next = it->next;
        g_free(it);
    }
    g_mutex_clear(&q->lock);
    g_free(q);
}
