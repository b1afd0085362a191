/*
 * rtp_stats: sans-IO receiver statistics for one incoming RTP stream (RFC 3550 A.1 sequence
 * tracking, A.3 loss, A.8 interarrival jitter) and what an RTCP receiver report block needs
 * (fraction lost per interval, cumulative lost, extended highest sequence, jitter, LSR/DLSR),
 * plus the round-trip time from a report block about one of our own senders (RFC 3550 6.4.1).
 *
 * Contract:
 *  - The caller passes every time in: arrival and "now" as microseconds of a monotonic clock,
 *    NTP timestamps as they appear in SRs. Nothing here reads a clock, allocates or locks.
 *  - One rtp_recv_stats per (peer, remote SSRC), owned by the thread that owns the peer (its
 *    loop); the functions are not thread-safe on one object, and are cheap enough for the
 *    per-packet path (a few comparisons and one multiply).
 *  - Sequence handling follows RFC 3550 A.1 without probation (WebRTC streams start
 *    trusted): a jump of more than RTP_STATS_MAX_DROPOUT is taken as a restart only when the
 *    next packet confirms it; duplicates and old reordered packets are counted as received
 *    but do not move the highest sequence.
 */
#ifndef PARLEY_PROTO_RTP_STATS_H
#define PARLEY_PROTO_RTP_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/rtcp.h"

#define RTP_STATS_MAX_DROPOUT 3000u
#define RTP_STATS_MAX_MISORDER 100u

typedef struct rtp_recv_stats {
    uint32_t ssrc;
    uint32_t clock_rate;
    bool started;
    uint16_t max_seq;
    uint32_t cycles;          /* count of sequence wraps, << 16 */
    uint32_t base_seq;
    uint32_t bad_seq;         /* RFC 3550 A.1: the sequence that would confirm a restart */
    uint64_t received;
    uint64_t expected_prior;
    uint64_t received_prior;
    bool have_transit;
    int64_t transit;          /* last arrival - timestamp, in RTP units */
    uint32_t jitter_q4;       /* jitter * 16, RTP units */
    uint32_t last_sr;         /* middle 32 bits of the last SR's NTP time, 0 if none */
    uint64_t last_sr_us;      /* when that SR arrived */
} rtp_recv_stats;

void rtp_recv_stats_init(rtp_recv_stats *st, uint32_t ssrc, uint32_t clock_rate);
/* Counts one packet. Returns 1 when it advanced or filled the sequence space, 0 for a
 * duplicate/late packet or one held back as a possible restart. */
int rtp_recv_stats_update(rtp_recv_stats *st, uint16_t seq, uint32_t rtp_ts,
                          uint64_t arrival_us);
/* Notes a sender report of this stream (for LSR/DLSR in our next report block). */
void rtp_recv_stats_on_sr(rtp_recv_stats *st, uint32_t ntp_sec, uint32_t ntp_frac,
                          uint64_t arrival_us);
/* Fills a report block as of now_us and starts a new fraction-lost interval. */
void rtp_recv_stats_report(rtp_recv_stats *st, uint64_t now_us, rtcp_report_block *rb);

uint32_t rtp_recv_stats_extended_max(const rtp_recv_stats *st);
uint64_t rtp_recv_stats_expected(const rtp_recv_stats *st);
/* expected - received (negative with duplicates), not clamped. */
int64_t rtp_recv_stats_lost(const rtp_recv_stats *st);
/* Interarrival jitter in RTP timestamp units. */
uint32_t rtp_recv_stats_jitter(const rtp_recv_stats *st);

/* The middle 32 bits of an NTP timestamp (the LSR/DLSR time base, 1/65536 s). */
static inline uint32_t rtp_stats_ntp_compact(uint32_t ntp_sec, uint32_t ntp_frac)
{
    return (ntp_sec << 16) | (ntp_frac >> 16);
}

/* Round trip from a report block about our stream: now_compact - LSR - DLSR, in
 * microseconds; -1 when the block has no LSR or the result is negative (clock trouble). */
int64_t rtp_stats_rtt_us(uint32_t now_compact, uint32_t lsr, uint32_t dlsr);

#endif
