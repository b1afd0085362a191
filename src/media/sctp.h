/*
 * sctp: WebRTC data channels for one peer: an SCTP association (usrsctp, AF_CONN mode) carried
 * over DTLS application data, with DCEP (media/dcep.h) to open channels (RFC 8831, 8832).
 *
 * usrsctp is one process-global stack. We run it without its own threads
 * (usrsctp_init_nothreads) and serialise every usrsctp call behind one global mutex, because
 * peers live on several loop threads. Its timers are ticked by one small "sctp-timers" thread
 * (10 ms), which runs only while at least one association exists. Whatever usrsctp produces
 * (packets to send, received messages, notifications) is only queued inside its callbacks,
 * under that lock; the queue is drained on the association's own loop thread, outside the
 * lock, so user callbacks never run under the lock, never on a foreign thread, and may call
 * back into this module. Output produced by a timer tick (retransmissions) is posted to the
 * owning loop. Data channels are not the hot media path, so a lock and a copy per message
 * are fine here.
 *
 * Channels: the DTLS client uses even stream ids, the DTLS server odd ones (RFC 8832 6).
 * Channels the remote opens are announced with the open callback when its OPEN arrives (we
 * ACK it); ours when the remote's ACK arrives. Ordered reliable, unordered and partially
 * reliable channels are supported; messages are reassembled up to MEDIA_SCTP_MAX_MESSAGE.
 *
 * Threads: everything except media_sctp_global_shutdown is called on the owning loop thread;
 * callbacks run there. Ownership: the creator owns the handle; media_sctp_close stops it (sends
 * ABORT) and media_sctp_unref drops the creator's reference (queued work may hold more).
 */
#ifndef PARLEY_MEDIA_SCTP_H
#define PARLEY_MEDIA_SCTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

#define MEDIA_SCTP_PORT 5000
#define MEDIA_SCTP_STREAMS 1024
#define MEDIA_SCTP_MAX_MESSAGE (1024 * 1024)

enum {
    MEDIA_SCTP_OK = 0,
    MEDIA_SCTP_EINVAL = -1,   /* bad argument, unknown channel */
    MEDIA_SCTP_ESTATE = -2,   /* association not up, channel not open yet */
    MEDIA_SCTP_EIO = -3,      /* usrsctp refused (buffer full, association gone) */
};

typedef struct media_sctp media_sctp;

typedef struct media_sctp_callbacks {
    void *user;
    /* An SCTP packet to carry in one DTLS record. */
    void (*send)(void *user, const uint8_t *buf, size_t len);
    void (*open)(void *user, uint16_t sid, const char *label, const char *protocol);
    void (*message)(void *user, uint16_t sid, const char *label, bool binary,
                    const uint8_t *buf, size_t len);
    void (*closed)(void *user, uint16_t sid, const char *label);  /* may be NULL */
} media_sctp_callbacks;

/* dtls_client: our DTLS role (decides stream id parity). Ports: ours and the remote's SCTP
 * ports (5000 normally). Starts the association (WebRTC: both sides send INIT). */
media_sctp *media_sctp_create(loop_t *loop, bool dtls_client, uint16_t local_port,
                              uint16_t remote_port, const media_sctp_callbacks *cb);
/* Stops the association (ABORT), drops queued work; no callback after it returns.
 * Idempotent. */
void media_sctp_close(media_sctp *s);
void media_sctp_unref(media_sctp *s);

/* One SCTP packet received as DTLS application data. */
void media_sctp_input(media_sctp *s, const uint8_t *buf, size_t len);
bool media_sctp_is_up(const media_sctp *s);

/* Opens an ordered reliable channel. Before the association is up the OPEN is queued and sent
 * when it comes up. Returns the stream id (>= 0) or a negative MEDIA_SCTP_E*. */
int media_sctp_open_channel(media_sctp *s, const char *label, const char *protocol);
/* Closes a channel (RFC 8831 6.7: we reset our outgoing stream, the remote resets its own;
 * the closed callback fires when the remote's reset arrives). */
int media_sctp_close_channel(media_sctp *s, const char *label, uint16_t sid);
/* Sends one message on the channel with that label (or stream id when label is NULL). */
int media_sctp_send(media_sctp *s, const char *label, uint16_t sid, bool binary,
                    const uint8_t *buf, size_t len);

/* Fuzzing/testing seam: runs a message as if usrsctp had just delivered it (flags as in
 * usrsctp's receive callback: MSG_EOR ends a message, MSG_NOTIFICATION marks a
 * notification), through the same reassembly, DCEP and notification code. Owner thread. */
void media_sctp_inject(media_sctp *s, uint16_t sid, uint32_t ppid, int flags,
                       const uint8_t *buf, size_t len);

/* At process exit (main thread, after every association is closed and freed). */
void media_sctp_global_shutdown(void);

#endif
