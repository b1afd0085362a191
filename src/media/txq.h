/*
 * txq: batched UDP sending for one loop (one GMainContext).
 *
 * While a receive batch is open (the loop is dispatching packets it read), datagrams handed
 * to media_txq_send are copied into the queue instead of being sent one by one; the queue is
 * flushed with one sendmmsg per socket when the loop next prepares to poll (a GSource of the
 * highest priority whose prepare() does it), when it is full, or on media_txq_flush. Outside
 * a batch (timers, control) a datagram is sent at once with sendto. Nothing ever blocks: a
 * datagram the kernel refuses with EAGAIN (socket buffer full) or another error is dropped
 * and counted in the counter the sender passed (NULL: not counted; other threads may read
 * it).
 *
 * Runs of equal-size datagrams to one address in a flush go as one UDP GSO message
 * (UDP_SEGMENT), cut into datagrams by the kernel or the device; if the kernel cannot, they go
 * one by one.
 *
 * Order is kept per socket. A datagram larger than a queue slot flushes the queue first, then
 * goes out at once.
 *
 * Threads and ownership: one queue per context, found or created by media_txq_get on the
 * loop's thread, which is the only thread that may use it. media_txq_get returns a reference
 * (media_txq_unref); the context holds another until it is destroyed. Whoever queued
 * datagrams on a socket must flush (media_txq_flush) before closing that socket or freeing
 * its drop counter.
 */
#ifndef PARLEY_MEDIA_TXQ_H
#define PARLEY_MEDIA_TXQ_H

#include <glib.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define MEDIA_TXQ_MAX 32       /* datagrams per flush */
#define MEDIA_TXQ_SLOT 2048    /* bytes per queued datagram */

typedef struct media_txq media_txq;

media_txq *media_txq_get(GMainContext *ctx);
void media_txq_unref(media_txq *q);

/* A receive batch started: sends queue until the loop's next prepare (or a flush). */
void media_txq_open(media_txq *q);
/* Queues or sends buf to `to` on fd. 0 when queued or sent, -1 when the kernel refused it
 * now (counted in *dropped too). */
int media_txq_send(media_txq *q, int fd, const struct sockaddr *to, socklen_t tolen,
                   const uint8_t *buf, size_t len, _Atomic uint64_t *dropped);
/* Sends everything queued now; the batch stays open. */
void media_txq_flush(media_txq *q);

/* Counters for tests and figures. */
typedef struct media_txq_counters {
    uint64_t flush_calls;     /* sendmmsg calls */
    uint64_t flushed;         /* datagrams they sent */
    uint64_t gso_segments;    /* of which inside UDP GSO messages */
} media_txq_counters;
void media_txq_stats(const media_txq *q, media_txq_counters *out);

#endif
