/*
 * poller: the poll function of a media loop's GMainContext, backed by epoll.
 *
 * GLib polls a context with poll(2) over every descriptor it watches, on every iteration;
 * the kernel then walks all of them (fdget, the socket's poll callback, fput) even when one
 * packet arrived. With hundreds of peers on a loop that walk was the largest single cost of
 * the media path (../notes: 27 % of the server's CPU at 128 sessions). Here each loop keeps
 * one epoll set in step with GLib's descriptor array: an iteration whose array did not
 * change costs one memcmp and one epoll_wait, whatever the number of peers.
 *
 * Keeping in step: GLib hands over the whole array each time (sorted, one entry per fd in
 * GLib 2.74; revents cleared). A changed array is reconciled entry by entry: ADD/MOD for
 * what is in it, DEL for what left it (its number may come back as another socket). The
 * kernel drops a closed fd from the set by itself, but a socket closed and replaced by one
 * with the same number between two polls would look unchanged: whoever closes descriptors a
 * loop watched says so with poller_note_fds_closed() (media/ice.c when an agent goes), and
 * the next poll rebuilds the set from scratch. As a net under closes we are not told about
 * (libnice's own), the set is also rebuilt every POLLER_REBUILD_S seconds. An event for an
 * fd no longer in the array removes it; a descriptor epoll cannot watch (a regular file)
 * makes the iterations it is in use poll(2).
 *
 * Batching (batch_us): under load a loop otherwise wakes once per packet, and the wake-up
 * (a context switch, and GLib's walk over every source of the context) costs more than the
 * packet's own work. When the last wait found events in less than batch_us (packets come
 * close together) the poller first sleeps out the rest of batch_us from that wake-up, so
 * whatever arrives meanwhile is handled in one iteration: at most 1e6/batch_us wake-ups a
 * second, each packet delayed by at most batch_us. Sparse packets (a wait longer than
 * batch_us), an idle loop, or GLib work that is due (timeout 0) never wait.
 *
 * Threads: one poller per loop thread, in thread-local state: poller_install and
 * poller_uninstall on the loop's thread around g_main_loop_run; the poll function itself
 * runs there (GLib calls it without the context's lock); poller_note_fds_closed on that
 * thread (a no-op on a thread without a poller).
 */
#ifndef PARLEY_CORE_POLLER_H
#define PARLEY_CORE_POLLER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define POLLER_REBUILD_S 2

/* Makes ctx poll through epoll on the calling thread; false (and poll(2) stays) if no
 * epoll instance could be made. batch_us > 0: wake-ups at most every batch_us (see above). */
bool poller_install(GMainContext *ctx, int batch_us);

/* Frees the calling thread's poller (the context must not be iterated any more). */
void poller_uninstall(void);

/* Descriptors watched by this thread's context may have been closed: rebuild before the
 * next wait. */
void poller_note_fds_closed(void);

typedef struct poller_stats {
    uint64_t waits;        /* epoll_wait calls */
    uint64_t reconciles;   /* iterations whose array had changed */
    uint64_t rebuilds;     /* full rebuilds (noted closes, the timer) */
    uint64_t fallbacks;    /* iterations that used poll(2) */
    uint64_t batch_waits;  /* sleeps to gather a batch */
} poller_stats;

/* The calling thread's figures (zeros without a poller); for tests. */
poller_stats poller_get_stats(void);

#endif
