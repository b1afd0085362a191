/*
 * rtx_buffer: the last RTX_BUFFER_SLOTS plain RTP packets we sent on one stream, by sequence
 * number, so that a NACK from the receiver is answered by the relay itself (SPEC 6: feedback
 * "terminated properly"). Answering locally matters beyond latency: the original sender's
 * retransmission of a packet we already received would be dropped by our SRTP replay check.
 *
 * Sans-IO and single-threaded: owned by one handle's media on its loop thread. No allocation
 * after rtx_buffer_new; storing is one bounded memcpy.
 */
#ifndef PARLEY_CORE_RTX_BUFFER_H
#define PARLEY_CORE_RTX_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#define RTX_BUFFER_SLOTS 256
#define RTX_BUFFER_MAX_PACKET 1500

typedef struct rtx_buffer rtx_buffer;

rtx_buffer *rtx_buffer_new(void);
void rtx_buffer_free(rtx_buffer *b);
/* Keeps a copy of packet (plain RTP, seq as given); packets over the slot size are skipped. */
void rtx_buffer_store(rtx_buffer *b, uint16_t seq, const uint8_t *packet, size_t len);
/* The stored packet with this seq, or NULL (never stored, or overwritten since). */
const uint8_t *rtx_buffer_find(const rtx_buffer *b, uint16_t seq, size_t *len);

#endif
