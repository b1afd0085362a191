/*
 * test_rtp_stats: RFC 3550 receiver statistics on scripted packet sequences: loss, duplicates,
 * reordering, sequence wrap, a source restart, jitter for steady and irregular arrival,
 * fraction lost per interval, LSR/DLSR and the round trip computed from them.
 */
#include "check.h"
#include "proto/rtp_stats.h"

/* 20 ms audio at 48 kHz: 960 timestamp units per packet. */
static void feed(rtp_recv_stats *st, uint16_t seq, uint32_t n, uint64_t *t_us, uint32_t *ts)
{
    for (uint32_t i = 0; i < n; i++) {
        rtp_recv_stats_update(st, (uint16_t)(seq + i), *ts, *t_us);
        *ts += 960;
        *t_us += 20000;
    }
}

static void test_loss_and_fraction(void)
{
    rtp_recv_stats st;
    rtp_recv_stats_init(&st, 0x1234, 48000);
    uint64_t t = 1000000;
    uint32_t ts = 5000;
    feed(&st, 100, 10, &t, &ts);              /* 100..109 */
    CHECK_INT(rtp_recv_stats_expected(&st), 10);
    CHECK_INT(rtp_recv_stats_lost(&st), 0);
    rtcp_report_block rb;
    rtp_recv_stats_report(&st, t, &rb);
    CHECK_INT(rb.ssrc, 0x1234);
    CHECK_INT(rb.fraction_lost, 0);
    CHECK_INT(rb.highest_seq, 109);
    CHECK_INT(rb.jitter, 0);                  /* perfectly paced */
    CHECK_INT(rb.lsr, 0);
    CHECK_INT(rb.dlsr, 0);

    /* 110..119 with 112, 113, 117 lost */
    for (uint16_t s = 110; s < 120; s++) {
        ts += 960;
        t += 20000;
        if (s != 112 && s != 113 && s != 117)
            rtp_recv_stats_update(&st, s, ts, t);
    }
    rtp_recv_stats_report(&st, t, &rb);
    CHECK_INT(rb.cumulative_lost, 3);
    CHECK_INT(rb.fraction_lost, 3 * 256 / 10); /* 76 */
    CHECK_INT(rb.highest_seq, 119);

    /* a late 117 arrives: counted, highest unchanged, next interval shows recovery */
    CHECK_INT(rtp_recv_stats_update(&st, 117, ts, t), 0);
    feed(&st, 120, 9, &t, &ts);
    rtp_recv_stats_report(&st, t, &rb);
    CHECK_INT(rb.cumulative_lost, 2);
    CHECK_INT(rb.fraction_lost, 0);            /* 9 expected, 10 received in the interval */

    /* duplicates make cumulative loss negative, as RFC 3550 allows */
    for (int i = 0; i < 5; i++)
        CHECK_INT(rtp_recv_stats_update(&st, 128, ts, t), 0);
    CHECK_INT(rtp_recv_stats_lost(&st), -3);
    rtp_recv_stats_report(&st, t, &rb);
    CHECK_INT(rb.cumulative_lost, -3);
}

static void test_wrap_and_restart(void)
{
    rtp_recv_stats st;
    rtp_recv_stats_init(&st, 1, 48000);
    uint64_t t = 0;
    uint32_t ts = 0xfffff000u; /* timestamps wrap too */
    feed(&st, 65530, 12, &t, &ts); /* 65530..65535, 0..5 */
    CHECK_INT(rtp_recv_stats_extended_max(&st), 65536 + 5);
    CHECK_INT(rtp_recv_stats_expected(&st), 12);
    CHECK_INT(rtp_recv_stats_lost(&st), 0);
    CHECK_INT(rtp_recv_stats_jitter(&st), 0);

    /* a single stray packet far away is ignored... */
    CHECK_INT(rtp_recv_stats_update(&st, 30000, ts, t), 0);
    CHECK_INT(rtp_recv_stats_extended_max(&st), 65536 + 5);
    /* ...and normal packets continue */
    CHECK_INT(rtp_recv_stats_update(&st, 6, ts, t), 1);
    CHECK_INT(rtp_recv_stats_expected(&st), 13);
    /* two in a row far away: the source restarted */
    CHECK_INT(rtp_recv_stats_update(&st, 40000, ts, t), 0);
    CHECK_INT(rtp_recv_stats_update(&st, 40001, ts, t), 1);
    CHECK_INT(rtp_recv_stats_extended_max(&st), 40001);
    CHECK_INT(rtp_recv_stats_expected(&st), 1);
    CHECK_INT(rtp_recv_stats_lost(&st), 0);

    /* reordering within MAX_MISORDER behind the highest is not a jump */
    CHECK_INT(rtp_recv_stats_update(&st, 40003, ts, t), 1);
    CHECK_INT(rtp_recv_stats_update(&st, 40002, ts, t), 0);
    CHECK_INT(rtp_recv_stats_lost(&st), 0);
}

static void test_jitter(void)
{
    rtp_recv_stats st;
    rtp_recv_stats_init(&st, 1, 90000);
    /* packets every 33 ms of media time, every other one arriving 20 ms late:
     * |D| is 20 ms = 1800 units each time, so J converges to 1800 */
    uint32_t ts = 0;
    uint64_t t = 1000000;
    for (int i = 0; i < 400; i++) {
        rtp_recv_stats_update(&st, (uint16_t)i, ts, t + (i % 2 ? 20000 : 0));
        ts += 2970;
        t += 33000;
    }
    uint32_t j = rtp_recv_stats_jitter(&st);
    CHECK(j >= 1790 && j <= 1800);
    /* then steady again: decays towards 0 */
    for (int i = 400; i < 600; i++) {
        rtp_recv_stats_update(&st, (uint16_t)i, ts, t);
        ts += 2970;
        t += 33000;
    }
    CHECK(rtp_recv_stats_jitter(&st) < 10);
}

static void test_lsr_dlsr_rtt(void)
{
    rtp_recv_stats st;
    rtp_recv_stats_init(&st, 7, 48000);
    uint64_t t = 5000000;
    uint32_t ts = 0;
    feed(&st, 1, 5, &t, &ts);
    rtp_recv_stats_on_sr(&st, 0xe1234567u, 0x80000000u, 5000000);
    rtcp_report_block rb;
    rtp_recv_stats_report(&st, 5500000, &rb); /* half a second later */
    CHECK_INT(rb.lsr, 0x45678000);
    CHECK_INT(rb.dlsr, 32768);

    /* the SR sender sees this block 60 ms after we sent it: RTT = 60 ms */
    uint32_t now = rb.lsr + rb.dlsr + (uint32_t)(0.060 * 65536);
    int64_t rtt = rtp_stats_rtt_us(now, rb.lsr, rb.dlsr);
    CHECK(rtt >= 59900 && rtt <= 60000);
    CHECK_INT(rtp_stats_rtt_us(now, 0, rb.dlsr), -1);
    CHECK_INT(rtp_stats_rtt_us(rb.lsr, rb.lsr, rb.dlsr), -1); /* before the SR was even answered */
    /* the compact clock wraps */
    CHECK(rtp_stats_rtt_us(0x00000100u, 0xffffff00u, 0) > 0);
    CHECK_INT(rtp_stats_ntp_compact(0x0001abcd, 0xef012345), (int64_t)0xabcdef01u);
}

int main(void)
{
    test_loss_and_fraction();
    test_wrap_and_restart();
    test_jitter();
    test_lsr_dlsr_rtt();
    return check_summary("test_rtp_stats");
}
