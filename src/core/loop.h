/*
 * loop: the fixed pool of media loop threads (SPEC 6: about one per core, no thread per peer).
 *
 * Each loop is one thread running a GMainLoop on its own GMainContext. Every peer (and so
 * every libnice agent, DTLS and SRTP context) is assigned to exactly one loop for its whole
 * life; its sockets and timers are attached to that loop's context, so all of its media work
 * runs on that thread without locks. Both legs of a call are placed on the same loop so that
 * forwarding is a function call, not a thread hop.
 *
 * A loop polls its descriptors through core/poller.h (epoll), so that a wake-up costs the
 * same with 10 peers on the loop as with 500, and under load gathers packets into batches
 * of up to general.loop_batch_us; loop_pool_create_polled(n, false, 0) keeps GLib's poll(2)
 * (general.loop_epoll=false, for comparison).
 *
 * Contract:
 *  - loop_pool_create/destroy: main thread only. destroy stops and joins every thread.
 *  - loop_pool_pick: any thread; returns the loop with the fewest assigned peers and counts
 *    one more on it (release it with loop_release when the peer is gone).
 *  - loop_invoke: any thread; runs fn(arg) on the loop's thread soon after (FIFO per caller).
 *    The loop does not own arg. Goes through the loop's workq (core/workq.h): one wake-up per batch.
 *  - loop_context: the GMainContext to attach sources to (libnice agents, timers).
 *  - loop_tick_add/remove: loop thread only. Coarse periodic work (a peer's media checks)
 *    shares one timer per loop, LOOP_TICK_MS apart, instead of a GSource each: every source
 *    on a context costs each loop iteration (GLib prepares and checks them all), so with
 *    hundreds of peers per-peer timers are a cost paid on every packet. A tick runs fn(arg)
 *    every period_ms (rounded up to LOOP_TICK_MS), first one period after it was added;
 *    removing is safe from inside any tick callback, including its own.
 *  - loop_is_current: true when called on that loop's thread.
 */
#ifndef PARLEY_CORE_LOOP_H
#define PARLEY_CORE_LOOP_H

#include <glib.h>
#include <stdbool.h>

typedef struct loop loop_t;
typedef struct loop_pool loop_pool_t;

loop_pool_t *loop_pool_create(int count);
/* epoll false: GLib's poll(2); batch_us: core/poller's batching (0 = none). */
loop_pool_t *loop_pool_create_polled(int count, bool epoll, int batch_us);
void loop_pool_destroy(loop_pool_t *pool);
int loop_pool_size(const loop_pool_t *pool);
loop_t *loop_pool_get(loop_pool_t *pool, int index);

loop_t *loop_pool_pick(loop_pool_t *pool);
void loop_acquire(loop_t *loop);
void loop_release(loop_t *loop);
int loop_load(const loop_t *loop);

GMainContext *loop_context(loop_t *loop);
int loop_index(const loop_t *loop);
/* The index of the loop whose thread calls it, or -1 on any other thread. */
int loop_current_index(void);
bool loop_is_current(const loop_t *loop);

typedef void (*loop_fn)(void *arg);

#define LOOP_TICK_MS 100
typedef struct loop_tick loop_tick;
loop_tick *loop_tick_add(loop_t *loop, unsigned period_ms, loop_fn fn, void *arg);
void loop_tick_remove(loop_tick *tick);
void loop_invoke(loop_t *loop, loop_fn fn, void *arg);
/* Runs fn(arg) on the loop and waits until it returned. Never call it from a loop thread. */
void loop_invoke_sync(loop_t *loop, loop_fn fn, void *arg);

#endif
