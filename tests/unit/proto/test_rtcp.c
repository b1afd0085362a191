/*
 * test_rtcp: compound iteration, SR/RR/NACK/PLI/FIR/REMB/TWCC parsing against hand-built
 * bytes, writer round trips, NACK bitmask expansion and packing, SSRC rewriting.
 */
#include <string.h>

#include "check.h"
#include "proto/rtcp.h"

static void test_sr_rr(void)
{
    /* SR with one report block, hand-built */
    const uint8_t sr[] = {
        0x81, 200, 0x00, 0x0c,             /* V=2 RC=1 PT=200 length 12 */
        0x11, 0x22, 0x33, 0x44,             /* sender ssrc */
        0xe0, 0x00, 0x00, 0x01,             /* ntp sec */
        0x80, 0x00, 0x00, 0x00,             /* ntp frac */
        0x00, 0x01, 0x00, 0x00,             /* rtp ts */
        0x00, 0x00, 0x00, 0x64,             /* packets 100 */
        0x00, 0x00, 0x27, 0x10,             /* octets 10000 */
        0xaa, 0xbb, 0xcc, 0xdd,             /* report: ssrc */
        0x40, 0xff, 0xff, 0xfe,             /* fraction 64, cumulative -2 */
        0x00, 0x01, 0x10, 0x00,             /* highest seq */
        0x00, 0x00, 0x00, 0x20,             /* jitter */
        0x12, 0x34, 0x56, 0x78,             /* lsr */
        0x00, 0x00, 0x80, 0x00,             /* dlsr */
        /* followed by an empty RR in the same compound */
        0x80, 201, 0x00, 0x01, 0x55, 0x66, 0x77, 0x88,
    };
    CHECK_INT(rtcp_count_blocks(sr, sizeof(sr)), 2);
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, sr, sizeof(sr));
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(b.pt, RTCP_PT_SR);
    CHECK_INT(b.len, 52);
    rtcp_sr s;
    CHECK_INT(rtcp_parse_sr(&b, &s), 0);
    CHECK(s.ssrc == 0x11223344u);
    CHECK(s.ntp_sec == 0xe0000001u);
    CHECK(s.ntp_frac == 0x80000000u);
    CHECK_INT(s.rtp_ts, 65536);
    CHECK_INT(s.packet_count, 100);
    CHECK_INT(s.octet_count, 10000);
    CHECK_INT(s.n_reports, 1);
    CHECK(s.reports[0].ssrc == 0xaabbccddu);
    CHECK_INT(s.reports[0].fraction_lost, 64);
    CHECK_INT(s.reports[0].cumulative_lost, -2);
    CHECK_INT(s.reports[0].highest_seq, 0x11000);
    CHECK_INT(s.reports[0].jitter, 32);
    CHECK_INT(s.reports[0].lsr, 0x12345678);
    CHECK_INT(s.reports[0].dlsr, 0x8000);
    rtcp_rr rr;
    CHECK_INT(rtcp_parse_rr(&b, &rr), -1); /* wrong type */
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_rr(&b, &rr), 0);
    CHECK(rr.ssrc == 0x55667788u);
    CHECK_INT(rr.n_reports, 0);
    CHECK_INT(rtcp_next(&it, &b), 0);

    /* writer round trip */
    uint8_t out[128];
    CHECK_INT(rtcp_write_sr(out, sizeof(out), &s), 52);
    CHECK(memcmp(out, sr, 52) == 0);
    CHECK_INT(rtcp_write_sr(out, 51, &s), -1);
    CHECK_INT(rtcp_write_rr(out, sizeof(out), 0x55667788u, NULL, 0), 8);
    CHECK(memcmp(out, sr + 52, 8) == 0);
    CHECK_INT(rtcp_write_rr(out, sizeof(out), 7, s.reports, 1), 32);
    rtcp_iter_init(&it, out, 32);
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_rr(&b, &rr), 0);
    CHECK_INT(rr.n_reports, 1);
    CHECK_INT(rr.reports[0].cumulative_lost, -2);
    CHECK(rr.reports[0].ssrc == 0xaabbccddu);
    CHECK_INT(rtcp_write_rr(out, 31, 7, s.reports, 1), -1);

    /* RC claims 2 report blocks but the block holds one */
    uint8_t bad[sizeof(sr)];
    memcpy(bad, sr, sizeof(sr));
    bad[0] = 0x82;
    rtcp_iter_init(&it, bad, sizeof(bad));
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_sr(&b, &s), -1);
}

static void test_malformed_compound(void)
{
    uint8_t b[16] = {0x80, 201, 0x00, 0x01, 1, 2, 3, 4, 0x80, 201, 0x00, 0x05, 0, 0, 0, 0};
    CHECK_INT(rtcp_count_blocks(b, 8), 1);
    CHECK_INT(rtcp_count_blocks(b, 16), -1); /* 2nd block claims 24 bytes */
    CHECK_INT(rtcp_count_blocks(b, 10), -1); /* trailing 2 bytes */
    CHECK_INT(rtcp_count_blocks(b, 0), -1);
    CHECK_INT(rtcp_validate(b, 8), 0);
    CHECK_INT(rtcp_validate(b, 16), -1);
    CHECK_INT(rtcp_validate(b, 0), -1);
    b[0] = 0x40;
    CHECK_INT(rtcp_count_blocks(b, 8), -1);  /* version 1 */
    rtcp_iter it;
    rtcp_block blk;
    rtcp_iter_init(&it, NULL, 8);
    CHECK_INT(rtcp_next(&it, &blk), 0);
}

static void test_nack(void)
{
    /* PID 100, BLP 0x8005: lost 100, 101, 103, 116; PID 65535 BLP 1: 65535, 0 */
    const uint8_t nack[] = {0x81, 205, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 2,
                            0x00, 100, 0x80, 0x05, 0xff, 0xff, 0x00, 0x01};
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, nack, sizeof(nack));
    CHECK_INT(rtcp_next(&it, &b), 1);
    uint32_t snd, med;
    uint16_t seqs[16];
    CHECK_INT(rtcp_parse_nack(&b, &snd, &med, seqs, 16), 6);
    CHECK_INT(snd, 1);
    CHECK_INT(med, 2);
    CHECK_INT(seqs[0], 100);
    CHECK_INT(seqs[1], 101);
    CHECK_INT(seqs[2], 103);
    CHECK_INT(seqs[3], 116);
    CHECK_INT(seqs[4], 65535);
    CHECK_INT(seqs[5], 0);
    CHECK_INT(rtcp_parse_nack(&b, &snd, &med, seqs, 2), 6); /* total even when cap short */
    CHECK_INT(rtcp_parse_pli(&b, &snd, &med), -1);

    /* writer packs, parse expands back */
    const uint16_t lost[] = {65530, 65531, 65535, 0, 9, 10, 40};
    uint8_t out[64];
    int n = rtcp_write_nack(out, sizeof(out), 7, 8, lost, 7);
    CHECK_INT(n, 12 + 4 * 2); /* {65530 + 65531,65535,0,9,10 (65530+16 = 10)}, {40} */
    rtcp_iter_init(&it, out, (size_t)n);
    CHECK_INT(rtcp_next(&it, &b), 1);
    uint16_t back[32];
    int m = rtcp_parse_nack(&b, &snd, &med, back, 32);
    CHECK_INT(m, 7);
    for (int i = 0; i < 7 && i < m; i++)
        CHECK_INT(back[i], lost[i]);
    CHECK_INT(snd, 7);
    CHECK_INT(med, 8);
    CHECK_INT(rtcp_write_nack(out, 15, 7, 8, lost, 7), -1);
    CHECK_INT(rtcp_write_nack(out, sizeof(out), 7, 8, lost, 0), -1);
}

static void test_nack_pack_exact(void)
{
    /* 17 consecutive: one FCI with PID and a full BLP */
    uint16_t seq[17];
    for (int i = 0; i < 17; i++)
        seq[i] = (uint16_t)(1000 + i);
    uint8_t out[64];
    CHECK_INT(rtcp_write_nack(out, sizeof(out), 1, 2, seq, 17), 16);
    CHECK_INT(out[12], 1000 >> 8);
    CHECK_INT(out[13], 1000 & 0xff);
    CHECK_INT(out[14], 0xff);
    CHECK_INT(out[15], 0xff);
    /* the 18th needs another FCI */
    uint16_t seq2[18];
    for (int i = 0; i < 18; i++)
        seq2[i] = (uint16_t)(1000 + i);
    CHECK_INT(rtcp_write_nack(out, sizeof(out), 1, 2, seq2, 18), 20);
}

static void test_pli_fir(void)
{
    uint8_t out[64];
    CHECK_INT(rtcp_write_pli(out, sizeof(out), 0x01020304, 0x0a0b0c0d), 12);
    const uint8_t pli[] = {0x81, 206, 0, 2, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d};
    CHECK(memcmp(out, pli, 12) == 0);
    CHECK_INT(rtcp_write_pli(out, 11, 1, 2), -1);
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, out, 12);
    CHECK_INT(rtcp_next(&it, &b), 1);
    uint32_t s, m;
    CHECK_INT(rtcp_parse_pli(&b, &s, &m), 0);
    CHECK(s == 0x01020304u && m == 0x0a0b0c0du);

    CHECK_INT(rtcp_write_fir(out, sizeof(out), 5, 6, 42), 20);
    rtcp_iter_init(&it, out, 20);
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(b.count, RTCP_PSFB_FIR);
    rtcp_fir_entry e[2];
    CHECK_INT(rtcp_parse_fir(&b, &s, e, 2), 1);
    CHECK_INT(s, 5);
    CHECK_INT(e[0].ssrc, 6);
    CHECK_INT(e[0].seq, 42);
    CHECK_INT(rtcp_parse_pli(&b, &s, &m), -1);
    CHECK_INT(rtcp_write_fir(out, 19, 5, 6, 42), -1);
}

static void test_remb(void)
{
    const uint32_t ssrcs[2] = {0x11111111, 0x22222222};
    const uint64_t rates[] = {0, 1, 262143, 262144, 300000, 1500000, 123456789,
                              100000000000ull};
    uint8_t out[64];
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        int n = rtcp_write_remb(out, sizeof(out), 9, rates[i], ssrcs, 2);
        CHECK_INT(n, 28);
        rtcp_iter it;
        rtcp_block b;
        rtcp_iter_init(&it, out, (size_t)n);
        CHECK_INT(rtcp_next(&it, &b), 1);
        CHECK(rtcp_is_remb(&b));
        rtcp_remb r;
        CHECK_INT(rtcp_parse_remb(&b, &r), 0);
        CHECK_INT(r.sender_ssrc, 9);
        CHECK_INT(r.n_ssrcs, 2);
        CHECK_INT(r.n_stored, 2);
        CHECK(r.ssrcs[1] == 0x22222222u);
        /* truncation loses at most the bits below the exponent, never rounds up */
        CHECK(r.bitrate <= rates[i]);
        CHECK(rates[i] - r.bitrate < (rates[i] >> 17) + 1);
        if (rates[i] <= 262143)
            CHECK(r.bitrate == rates[i]);
    }
    /* a REMB seen in the wild: 0x0f exp 3, mantissa 0x1e848 = 125000 -> 1 Mbit/s */
    const uint8_t remb[] = {0x8f, 206, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, 'R', 'E', 'M', 'B',
                            1, (3 << 2) | 0x01, 0xe8, 0x48, 0xde, 0xad, 0xbe, 0xef};
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, remb, sizeof(remb));
    CHECK_INT(rtcp_next(&it, &b), 1);
    rtcp_remb r;
    CHECK_INT(rtcp_parse_remb(&b, &r), 0);
    CHECK_INT(r.bitrate, 1000000);
    CHECK(r.ssrcs[0] == 0xdeadbeefu);
    /* num ssrc lying */
    uint8_t bad[sizeof(remb)];
    memcpy(bad, remb, sizeof(remb));
    bad[16] = 5;
    rtcp_iter_init(&it, bad, sizeof(bad));
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_remb(&b, &r), -1);
    /* saturating exponent */
    bad[16] = 1;
    bad[17] = (uint8_t)((63 << 2) | 3);
    CHECK_INT(rtcp_parse_remb(&b, &r), 0);
    CHECK(r.bitrate == UINT64_MAX);
    CHECK_INT(rtcp_write_remb(out, 27, 9, 1000, ssrcs, 2), -1);
    CHECK_INT(rtcp_write_remb(out, sizeof(out), 9, 1000, NULL, 0), 20);
}

static void test_twcc(void)
{
    const uint8_t tw[] = {0x8f, 205, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2,
                          0x01, 0x00, 0x00, 0x03, 0xff, 0xff, 0xfe, 7,
                          0x20, 0x03, 0x00, 0x00};
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, tw, sizeof(tw));
    CHECK_INT(rtcp_next(&it, &b), 1);
    rtcp_twcc_header h;
    CHECK_INT(rtcp_parse_twcc_header(&b, &h), 0);
    CHECK_INT(h.media_ssrc, 2);
    CHECK_INT(h.base_seq, 256);
    CHECK_INT(h.status_count, 3);
    CHECK_INT(h.reference_time, -2);
    CHECK_INT(h.fb_count, 7);
}

/* Hand-built feedback using all three chunk kinds, lost packets, 1- and 2-byte deltas. */
static void test_twcc_parse(void)
{
    const uint8_t fb[40] = {
        0x8f, 205, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2,
        0, 100, 0, 20,                  /* base seq 100, 20 statuses */
        0, 0, 1, 5,                     /* reference time 1 (64 ms), fb count 5 */
        0x20, 0x03,                     /* run length: symbol 1 x3 */
        0xac, 0x01,                     /* 1-bit vector: 1 0 1 1 0 0 0 0 0 0 0 0 0 1 */
        0xe2, 0x00,                     /* 2-bit vector: 2 0 2 (0 0 0 0) */
        4, 4, 4, 8, 0, 255, 100,        /* 1-byte deltas */
        0xff, 0xd8, 0x03, 0xe8,         /* 2-byte deltas: -40, 1000 */
        0, 0, 0,                        /* padding */
    };
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, fb, sizeof(fb));
    CHECK_INT(rtcp_next(&it, &b), 1);
    rtcp_twcc_header h;
    rtcp_twcc_packet p[32];
    CHECK_INT(rtcp_parse_twcc(&b, &h, p, 32), 20);
    CHECK_INT(h.fb_count, 5);
    CHECK_INT(p[0].seq, 100);
    CHECK_INT(p[19].seq, 119);
    const int recv[] = {0, 1, 2, 3, 5, 6, 16, 17, 19};
    const int64_t at[] = {65000, 66000, 67000, 69000, 69000, 132750, 157750, 147750, 397750};
    int k = 0;
    for (int i = 0; i < 20; i++) {
        bool r = k < 9 && recv[k] == i;
        CHECK_INT(p[i].received, r);
        if (r) {
            CHECK_INT(p[i].arrival_us, at[k]);
            k++;
        }
    }
    CHECK_INT(rtcp_parse_twcc(&b, &h, p, 2), 20); /* cap short: still the count */

    /* deltas cut short, chunks missing, reserved symbol: refused */
    uint8_t bad[40];
    memcpy(bad, fb, 40);
    bad[14] = 0xff; /* 65535 statuses: the chunks run out (or into nonsense) */
    bad[15] = 0xff;
    rtcp_iter_init(&it, bad, 40);
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_twcc(&b, &h, p, 32), -1);
    memcpy(bad, fb, 40);
    bad[24] = 0xf2; /* first symbol 3 */
    rtcp_iter_init(&it, bad, 40);
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_twcc(&b, &h, p, 32), -1);
    memcpy(bad, fb, 40);
    bad[3] = 8; /* block ends before the last 2-byte delta */
    rtcp_iter_init(&it, bad, 36);
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_twcc(&b, &h, p, 32), -1);
}

static void test_twcc_round_trip(void)
{
    int64_t arr[40];
    int64_t t = 10 * 64000 + 777; /* not tick-aligned: truncated to 250 us */
    for (int i = 0; i < 40; i++) {
        arr[i] = t;
        t += (i % 5 == 0) ? 70000 : 5000; /* some deltas need 2 bytes */
    }
    arr[3] = -1;
    arr[4] = -1;
    arr[20] = arr[19] - 3000; /* reordered: negative delta */
    arr[39] = -1;
    uint8_t out[256];
    int n = rtcp_write_twcc(out, sizeof(out), 11, 22, 65530, arr, 40, 9);
    CHECK(n > 20 && n % 4 == 0);
    CHECK_INT(rtcp_count_blocks(out, (size_t)n), 1);
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, out, (size_t)n);
    CHECK_INT(rtcp_next(&it, &b), 1);
    rtcp_twcc_header h;
    rtcp_twcc_packet p[40];
    CHECK_INT(rtcp_parse_twcc(&b, &h, p, 40), 40);
    CHECK_INT(h.sender_ssrc, 11);
    CHECK_INT(h.media_ssrc, 22);
    CHECK_INT(h.fb_count, 9);
    CHECK_INT(h.reference_time, 10);
    for (int i = 0; i < 40; i++) {
        CHECK_INT(p[i].seq, (uint16_t)(65530 + i));
        CHECK_INT(p[i].received, arr[i] >= 0);
        if (arr[i] >= 0)
            CHECK_INT(p[i].arrival_us, arr[i] / 250 * 250);
    }
    CHECK_INT(rtcp_write_twcc(out, (size_t)n - 1, 11, 22, 0, arr, 40, 9), -1);
    /* a gap over 8.19 s between consecutive arrivals cannot be expressed */
    int64_t gap[2] = {0, 9000000};
    CHECK_INT(rtcp_write_twcc(out, sizeof(out), 1, 2, 0, gap, 2, 0), -1);
    int64_t none[2] = {-1, -1};
    CHECK_INT(rtcp_write_twcc(out, sizeof(out), 1, 2, 0, none, 2, 0), -1);
}

static void test_sdes_bye(void)
{
    uint8_t out[64];
    int n = rtcp_write_sdes_cname(out, sizeof(out), 0x01020304, "abc");
    CHECK_INT(n, 16); /* 4 hdr + 4 ssrc + 2 + 3 + 1 null = 14 -> 16 */
    CHECK_INT(out[8], 1);
    CHECK_INT(out[9], 3);
    CHECK(memcmp(out + 10, "abc", 3) == 0);
    CHECK_INT(out[13], 0);
    CHECK_INT(rtcp_count_blocks(out, (size_t)n), 1);
    CHECK_INT(rtcp_write_sdes_cname(out, 15, 1, "abc"), -1);
    CHECK_INT(rtcp_write_sdes_cname(out, sizeof(out), 1, ""), -1);
    CHECK_INT(rtcp_write_bye(out, sizeof(out), 77), 8);
    CHECK_INT(rtcp_count_blocks(out, 8), 1);
}

/* Swaps 1<->100 for media ssrcs and 2<->200 for senders; records roles seen. */
static uint32_t swap_map(void *ctx, uint32_t ssrc, rtcp_ssrc_role role)
{
    int *calls = ctx;
    calls[role]++;
    if (role == RTCP_SSRC_MEDIA && ssrc == 1)
        return 100;
    if (role == RTCP_SSRC_SENDER && ssrc == 2)
        return 200;
    return ssrc;
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void test_rewrite(void)
{
    uint8_t buf[256];
    size_t off = 0;
    rtcp_report_block rb = {.ssrc = 1, .highest_seq = 5};
    int n;
    n = rtcp_write_rr(buf + off, sizeof(buf) - off, 2, &rb, 1);          /* sender 2, media 1 */
    off += (size_t)n;
    n = rtcp_write_sdes_cname(buf + off, sizeof(buf) - off, 2, "x");     /* sender 2 */
    off += (size_t)n;
    n = rtcp_write_pli(buf + off, sizeof(buf) - off, 2, 1);
    off += (size_t)n;
    n = rtcp_write_fir(buf + off, sizeof(buf) - off, 2, 1, 3);
    off += (size_t)n;
    const uint32_t rs[2] = {1, 9};
    n = rtcp_write_remb(buf + off, sizeof(buf) - off, 2, 500000, rs, 2);
    off += (size_t)n;
    const uint16_t seq[1] = {5};
    n = rtcp_write_nack(buf + off, sizeof(buf) - off, 2, 1, seq, 1);
    off += (size_t)n;
    n = rtcp_write_bye(buf + off, sizeof(buf) - off, 2);
    off += (size_t)n;
    CHECK_INT(rtcp_count_blocks(buf, off), 7);

    int calls[2] = {0, 0};
    /* changed: RR sender+report, SDES, PLI s+m, FIR sender + entry (header 0 skipped),
     * REMB sender + first ssrc, NACK s+m, BYE = 2+1+2+2+2+2+1 = 12 */
    CHECK_INT(rtcp_rewrite_ssrcs(buf, off, swap_map, calls), 12);
    CHECK_INT(calls[RTCP_SSRC_SENDER], 7);
    CHECK_INT(calls[RTCP_SSRC_MEDIA], 6);

    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, buf, off);
    rtcp_rr rr;
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_rr(&b, &rr), 0);
    CHECK_INT(rr.ssrc, 200);
    CHECK_INT(rr.reports[0].ssrc, 100);
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rd32(b.data + 4), 200); /* SDES chunk */
    uint32_t s, m;
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_pli(&b, &s, &m), 0);
    CHECK(s == 200 && m == 100);
    CHECK_INT(rtcp_next(&it, &b), 1);
    rtcp_fir_entry fe[1];
    CHECK_INT(rtcp_parse_fir(&b, &s, fe, 1), 1);
    CHECK(s == 200 && fe[0].ssrc == 100 && fe[0].seq == 3);
    CHECK_INT(rd32(b.data + 8), 0);
    CHECK_INT(rtcp_next(&it, &b), 1);
    rtcp_remb r;
    CHECK_INT(rtcp_parse_remb(&b, &r), 0);
    CHECK(r.sender_ssrc == 200 && r.ssrcs[0] == 100 && r.ssrcs[1] == 9);
    CHECK_INT(rtcp_next(&it, &b), 1);
    uint16_t got[4];
    CHECK_INT(rtcp_parse_nack(&b, &s, &m, got, 4), 1);
    CHECK(s == 200 && m == 100 && got[0] == 5);
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rd32(b.data + 4), 200);

    /* malformed compound: untouched */
    uint8_t copy[256];
    memcpy(copy, buf, off);
    copy[off - 6] = 0x10; /* BYE length now huge */
    uint8_t before[256];
    memcpy(before, copy, off);
    CHECK_INT(rtcp_rewrite_ssrcs(copy, off, swap_map, calls), -1);
    CHECK(memcmp(before, copy, off) == 0);
}

/* The relay answered the seqs in its set; the filter must leave exactly the others. */
typedef struct answered_set {
    const uint16_t *seqs;
    size_t n;
    int calls;
} answered_set;

static bool in_answered(void *ctx, uint32_t media, uint16_t seq)
{
    answered_set *a = ctx;
    a->calls++;
    for (size_t i = 0; i < a->n; i++)
        if (a->seqs[i] == seq && media == 2)
            return true;
    return false;
}

static void test_nack_filter(void)
{
    /* SR-less compound: RR(ssrc 1) + NACK{100,101,103,116 | 65535,0} + PLI */
    uint8_t buf[] = {0x80, 201, 0x00, 0x01, 0, 0, 0, 1,
                     0x81, 205, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 2,
                     0x00, 100, 0x80, 0x05, 0xff, 0xff, 0x00, 0x01,
                     0x81, 206, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2};
    /* 100 and 101 answered: the first entry becomes PID 103 with 116 in its bitmask; the
     * whole second window answered: that entry goes, the block shrinks by 4 bytes. */
    const uint16_t got[] = {100, 101, 65535, 0};
    answered_set a = {got, 4, 0};
    size_t n = rtcp_nack_filter(buf, sizeof buf, in_answered, &a);
    CHECK_INT(n, sizeof buf - 4);
    CHECK_INT(a.calls, 6);
    CHECK_INT(rtcp_count_blocks(buf, n), 3);
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, buf, n);
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(b.pt, 201);
    CHECK_INT(rtcp_next(&it, &b), 1);
    uint32_t snd, med;
    uint16_t seqs[8];
    CHECK_INT(rtcp_parse_nack(&b, &snd, &med, seqs, 8), 2);
    CHECK_INT(seqs[0], 103);
    CHECK_INT(seqs[1], 116);
    CHECK_INT(rtcp_next(&it, &b), 1);
    CHECK_INT(rtcp_parse_pli(&b, &snd, &med), 0);

    /* Everything answered: the NACK block disappears, the others stay. */
    const uint16_t all[] = {103, 116};
    answered_set b2 = {all, 2, 0};
    size_t m = rtcp_nack_filter(buf, n, in_answered, &b2);
    CHECK_INT(m, 8 + 12);
    CHECK_INT(rtcp_count_blocks(buf, m), 2);

    /* A lone NACK fully answered: nothing left to send. */
    uint8_t lone[] = {0x81, 205, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0x00, 7, 0x00, 0x00};
    const uint16_t seven[] = {7};
    answered_set c = {seven, 1, 0};
    CHECK_INT(rtcp_nack_filter(lone, sizeof lone, in_answered, &c), 0);
    /* Another media SSRC: nothing is answered, the packet is unchanged. */
    uint8_t other[] = {0x81, 205, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 9, 0x00, 7, 0x00, 0x01};
    uint8_t copy[sizeof other];
    memcpy(copy, other, sizeof other);
    CHECK_INT(rtcp_nack_filter(other, sizeof other, in_answered, &c), sizeof other);
    CHECK(memcmp(copy, other, sizeof other) == 0);
    /* Malformed compound: returned untouched. */
    uint8_t bad[] = {0x81, 205, 0x00, 0x09, 0, 0, 0, 1};
    CHECK_INT(rtcp_nack_filter(bad, sizeof bad, in_answered, &c), sizeof bad);
}

int main(void)
{
    test_nack_filter();
    test_sr_rr();
    test_malformed_compound();
    test_nack();
    test_nack_pack_exact();
    test_pli_fir();
    test_remb();
    test_twcc();
    test_twcc_parse();
    test_twcc_round_trip();
    test_sdes_bye();
    test_rewrite();
    return check_summary("test_rtcp");
}
