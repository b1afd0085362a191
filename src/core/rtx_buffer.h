/*
 * rtx_buffer: the plain RTP packets we sent lately on one video stream, so that a NACK from
 * the receiver is answered by the relay itself (SPEC 6: feedback "terminated properly").
 * Answering locally matters beyond latency: the original sender's retransmission of a packet
 * we already received would be dropped by our SRTP replay check.
 *
 * Storage is one byte ring of records (a 4-byte header with the seq and length, then the
 * packet at its real size), oldest first; there is no separate index: a NACK walks the
 * records (a few hundred at most, and NACKs are rare next to stores). The ring is sized by
 * what it must cover, not by the worst stream: it starts at RTX_BUFFER_MIN_BYTES and grows by
 * half (up to RTX_BUFFER_MAX_BYTES) whenever a full lap of it held less than the window,
 * measured on the packets' RTP timestamps; so it ends covering the window to 1.5 times it.
 *
 * The window is what a NACK needs: a lost packet is NACKed one round trip after we sent it
 * (plus the receiver's detection, its next packet) and again about once per round trip; a NACK
 * older than that no longer helps a live call. The owner sets it from the leg's RTT
 * (rtx_buffer_set_rtt_ms: RTT + RTX_BUFFER_MARGIN_MS, Janus's rule without its 200 ms floor);
 * until an RTT is known, RTX_BUFFER_ASSUMED_RTT_MS is assumed. So a 1 Mbit/s stream keeps
 * 16-24 KiB, a 20 Mbit/s one about 400 KiB, and a leg that never sends video none.
 *
 * Sans-IO and single-threaded: owned by one leg on its loop thread. Storing is one bounded
 * memcpy plus dropping the oldest records it overwrites; growing (a handful of times per
 * stream) copies what the ring holds. Rings of 64 KiB and more are their own mapping, so
 * that the smaller ones they replace do not stay behind as heap fragments.
 */
#ifndef PARLEY_CORE_RTX_BUFFER_H
#define PARLEY_CORE_RTX_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#define RTX_BUFFER_MIN_BYTES (16u * 1024u)
#define RTX_BUFFER_MAX_BYTES (512u * 1024u)
#define RTX_BUFFER_MARGIN_MS 100
#define RTX_BUFFER_ASSUMED_RTT_MS 50
#define RTX_BUFFER_MAX_WINDOW_MS 1000
#define RTX_BUFFER_MAX_PACKET 1500

typedef struct rtx_buffer rtx_buffer;

/* clock_rate: the stream's RTP clock (90000 for video). NULL when out of memory. */
rtx_buffer *rtx_buffer_new(uint32_t clock_rate);
void rtx_buffer_free(rtx_buffer *b);
/* Keeps a copy of packet (plain RTP: its timestamp is read; seq as given); packets shorter
 * than an RTP header or over RTX_BUFFER_MAX_PACKET are skipped. */
void rtx_buffer_store(rtx_buffer *b, uint16_t seq, const uint8_t *packet, size_t len);
/* The newest stored packet with this seq, or NULL (never stored, or overwritten since). The
 * pointer is valid until the next store. */
const uint8_t *rtx_buffer_find(const rtx_buffer *b, uint16_t seq, size_t *len);
/* The leg's round-trip time: the window becomes rtt_ms + RTX_BUFFER_MARGIN_MS (at most
 * RTX_BUFFER_MAX_WINDOW_MS). The ring only grows: a shorter window takes effect on a new
 * stream. */
void rtx_buffer_set_rtt_ms(rtx_buffer *b, uint32_t rtt_ms);
/* The window the ring is sized for now, ms. */
uint32_t rtx_buffer_window_ms(const rtx_buffer *b);
/* Bytes of ring allocated now (0 before the first packet). */
size_t rtx_buffer_capacity(const rtx_buffer *b);

#endif
