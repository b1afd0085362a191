/*
 * rtp_stats.c: RFC 3550 appendix A receiver statistics, in integer arithmetic.
 */
#include "proto/rtp_stats.h"

#include <string.h>

void rtp_recv_stats_init(rtp_recv_stats *st, uint32_t ssrc, uint32_t clock_rate)
{
    memset(st, 0, sizeof(*st));
    st->ssrc = ssrc;
    st->clock_rate = clock_rate ? clock_rate : 90000;
    st->bad_seq = 0x10000u + 1; /* an impossible sequence: no restart pending */
}

static void restart_at(rtp_recv_stats *st, uint16_t seq)
{
    st->max_seq = seq;
    st->cycles = 0;
    st->base_seq = seq;
    st->bad_seq = 0x10000u + 1;
    st->received = 0;
    st->expected_prior = 0;
    st->received_prior = 0;
    st->have_transit = false;
}

/* RFC 3550 A.8: J += (|D| - J) / 16, kept as J * 16 to stay in integers. */
static void update_jitter(rtp_recv_stats *st, uint32_t rtp_ts, uint64_t arrival_us)
{
    int64_t arrival = (int64_t)((arrival_us * st->clock_rate) / 1000000u);
    int64_t transit = arrival - (int64_t)rtp_ts;
    if (st->have_transit) {
        int64_t d = transit - st->transit;
        /* the RTP timestamp wraps at 2^32: take the short way round */
        d = (int64_t)(int32_t)(uint32_t)d;
        if (d < 0)
            d = -d;
        int64_t j = (int64_t)st->jitter_q4 + d - (((int64_t)st->jitter_q4 + 8) >> 4);
        st->jitter_q4 = j > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)j;
    }
    st->transit = transit;
    st->have_transit = true;
}

int rtp_recv_stats_update(rtp_recv_stats *st, uint16_t seq, uint32_t rtp_ts,
                          uint64_t arrival_us)
{
    if (!st->started) {
        st->started = true;
        restart_at(st, seq);
        st->received = 1;
        update_jitter(st, rtp_ts, arrival_us);
        return 1;
    }
    uint16_t udelta = (uint16_t)(seq - st->max_seq);
    int advanced = 0;
    if (udelta != 0 && udelta < RTP_STATS_MAX_DROPOUT) {
        if (seq < st->max_seq) /* wrapped */
            st->cycles += 0x10000u;
        st->max_seq = seq;
        advanced = 1;
    } else if (udelta != 0 && udelta <= 0x10000u - RTP_STATS_MAX_MISORDER) {
        /* A big jump: the source restarted, or a stray packet. Two in a row confirm. */
        if (seq == st->bad_seq) {
            restart_at(st, seq);
            advanced = 1;
        } else {
            st->bad_seq = (uint32_t)((seq + 1) & 0xffffu);
            return 0;
        }
    }
    /* else: duplicate or reordered within MAX_MISORDER: counted, no advance */
    st->received++;
    if (advanced)
        update_jitter(st, rtp_ts, arrival_us);
    return advanced;
}

void rtp_recv_stats_on_sr(rtp_recv_stats *st, uint32_t ntp_sec, uint32_t ntp_frac,
                          uint64_t arrival_us)
{
    st->last_sr = rtp_stats_ntp_compact(ntp_sec, ntp_frac);
    st->last_sr_us = arrival_us;
}

uint32_t rtp_recv_stats_extended_max(const rtp_recv_stats *st)
{
    return st->cycles + st->max_seq;
}

uint64_t rtp_recv_stats_expected(const rtp_recv_stats *st)
{
    if (!st->started)
        return 0;
    return (uint64_t)st->cycles + st->max_seq - st->base_seq + 1;
}

int64_t rtp_recv_stats_lost(const rtp_recv_stats *st)
{
    return (int64_t)rtp_recv_stats_expected(st) - (int64_t)st->received;
}

uint32_t rtp_recv_stats_jitter(const rtp_recv_stats *st)
{
    return st->jitter_q4 >> 4;
}

void rtp_recv_stats_report(rtp_recv_stats *st, uint64_t now_us, rtcp_report_block *rb)
{
    memset(rb, 0, sizeof(*rb));
    rb->ssrc = st->ssrc;
    uint64_t expected = rtp_recv_stats_expected(st);
    int64_t lost = rtp_recv_stats_lost(st);
    /* 24-bit signed on the wire: clamp */
    rb->cumulative_lost = lost > 0x7fffff ? 0x7fffff
                          : lost < -0x800000 ? -0x800000
                                             : (int32_t)lost;

    uint64_t exp_int = expected - st->expected_prior;
    int64_t lost_int = (int64_t)exp_int - (int64_t)(st->received - st->received_prior);
    st->expected_prior = expected;
    st->received_prior = st->received;
    /* lost/expected in 1/256 (RFC 3550 A.3); 256 (all lost) does not fit the byte */
    uint64_t frac = (exp_int == 0 || lost_int <= 0) ? 0 : ((uint64_t)lost_int << 8) / exp_int;
    rb->fraction_lost = frac > 255 ? 255 : (uint8_t)frac;
    rb->highest_seq = rtp_recv_stats_extended_max(st);
    rb->jitter = rtp_recv_stats_jitter(st);
    if (st->last_sr) {
        rb->lsr = st->last_sr;
        uint64_t since = now_us > st->last_sr_us ? now_us - st->last_sr_us : 0;
        uint64_t dlsr = since * 65536u / 1000000u;
        rb->dlsr = dlsr > UINT32_MAX ? UINT32_MAX : (uint32_t)dlsr;
    }
}

int64_t rtp_stats_rtt_us(uint32_t now_compact, uint32_t lsr, uint32_t dlsr)
{
    if (lsr == 0)
        return -1;
    uint32_t rtt = now_compact - lsr - dlsr; /* modular: the compact clock wraps */
    if (rtt > 0x80000000u)                   /* "negative": clocks disagree */
        return -1;
    return (int64_t)(((uint64_t)rtt * 1000000u) >> 16);
}
