/*
 * rtx_buffer: the plain RTP packets we sent lately on one stream, by sequence number, so that
 * a NACK from the receiver is answered by the relay itself (SPEC 6: feedback "terminated
 * properly"). Answering locally matters beyond latency: the original sender's retransmission
 * of a packet we already received would be dropped by our SRTP replay check.
 *
 * Storage is a byte ring of RTX_BUFFER_BYTES holding packets at their real size, indexed by
 * seq modulo RTX_BUFFER_SLOTS: about 1 s of a 1 Mbit/s video stream, 0.4 s at 2.5 Mbit/s (a
 * NACK older than that no longer helps a live call), for 136 kB per video leg instead of a
 * full 1500-byte slot per packet.
 *
 * Sans-IO and single-threaded: owned by one leg on its loop thread. No allocation after
 * rtx_buffer_new; storing is one bounded memcpy.
 */
#ifndef PARLEY_CORE_RTX_BUFFER_H
#define PARLEY_CORE_RTX_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#define RTX_BUFFER_SLOTS 512
#define RTX_BUFFER_BYTES (128u * 1024u)
#define RTX_BUFFER_MAX_PACKET 1500

typedef struct rtx_buffer rtx_buffer;

rtx_buffer *rtx_buffer_new(void);
void rtx_buffer_free(rtx_buffer *b);
/* Keeps a copy of packet (plain RTP, seq as given); packets over RTX_BUFFER_MAX_PACKET are
 * skipped. */
void rtx_buffer_store(rtx_buffer *b, uint16_t seq, const uint8_t *packet, size_t len);
/* The stored packet with this seq, or NULL (never stored, or overwritten since: by a newer
 * seq in its index slot, or by newer bytes in the ring). */
const uint8_t *rtx_buffer_find(const rtx_buffer *b, uint16_t seq, size_t *len);

#endif
