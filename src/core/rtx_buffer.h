/*
 * rtx_buffer: the plain RTP packets we sent lately on one video stream, by sequence number,
 * so that a NACK from the receiver is answered by the relay itself (SPEC 6: feedback
 * "terminated properly"). Answering locally matters beyond latency: the original sender's
 * retransmission of a packet we already received would be dropped by our SRTP replay check.
 *
 * Storage is a byte ring holding packets at their real size, indexed by seq modulo
 * RTX_BUFFER_SLOTS. The ring is sized by what it must cover, not by the worst stream: it
 * starts at RTX_BUFFER_MIN_BYTES and doubles (up to RTX_BUFFER_MAX_BYTES) whenever a full
 * lap of it held less than RTX_BUFFER_WINDOW_MS of the stream, measured on the packets' RTP
 * timestamps; doubling leaves it covering 300-600 ms. A NACK older than that no longer helps
 * a live call (the receiver's jitter buffer has moved on). So a 600 kbit/s stream keeps
 * 32 KiB, a 2.5 Mbit/s one 128 KiB, and a leg that never sends video none.
 *
 * Sans-IO and single-threaded: owned by one leg on its loop thread. Storing is one bounded
 * memcpy; growing (a handful of times per stream) copies what the ring holds.
 */
#ifndef PARLEY_CORE_RTX_BUFFER_H
#define PARLEY_CORE_RTX_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#define RTX_BUFFER_SLOTS 512
#define RTX_BUFFER_MIN_BYTES (16u * 1024u)
#define RTX_BUFFER_MAX_BYTES (512u * 1024u)
#define RTX_BUFFER_WINDOW_MS 300
#define RTX_BUFFER_MAX_PACKET 1500

typedef struct rtx_buffer rtx_buffer;

/* clock_rate: the stream's RTP clock (90000 for video). */
rtx_buffer *rtx_buffer_new(uint32_t clock_rate);
void rtx_buffer_free(rtx_buffer *b);
/* Keeps a copy of packet (plain RTP: its timestamp is read; seq as given); packets shorter
 * than an RTP header or over RTX_BUFFER_MAX_PACKET are skipped. */
void rtx_buffer_store(rtx_buffer *b, uint16_t seq, const uint8_t *packet, size_t len);
/* The stored packet with this seq, or NULL (never stored, or overwritten since: by a newer
 * seq in its index slot, or by newer bytes in the ring). */
const uint8_t *rtx_buffer_find(const rtx_buffer *b, uint16_t seq, size_t *len);
/* Bytes of ring allocated now (0 before the first packet). */
size_t rtx_buffer_capacity(const rtx_buffer *b);

#endif
