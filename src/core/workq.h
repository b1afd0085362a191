/*
 * workq: "run this function on that GMainContext's thread, soon", for work handed between
 * threads at message rate (a loop's loop_invoke, a plugin's post). One GSource per queue,
 * attached once: a push appends to a locked list and wakes the context only when the list
 * was empty; the context's thread then runs everything queued so far, in push order, in one
 * dispatch. So N items cost N list nodes and at most one wake-up, where an idle GSource per
 * item costs N sources, N context locks and N wake-ups (and every queued source is walked by
 * each main-loop iteration).
 *
 * Threads: workq_push from any thread; the functions run on the thread iterating the context.
 * Ownership: workq_free (after that thread stopped iterating) detaches the source and frees
 * items never run, without calling them (as a destroyed idle source would not).
 */
#ifndef PARLEY_CORE_WORKQ_H
#define PARLEY_CORE_WORKQ_H

#include <glib.h>

typedef struct workq workq;
typedef void (*workq_fn)(void *arg);

workq *workq_new(GMainContext *context, int priority);
void workq_push(workq *q, workq_fn fn, void *arg);
void workq_free(workq *q);

#endif
