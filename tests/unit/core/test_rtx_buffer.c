/* Unit tests of rtx_buffer: hits, misses once the ring wrote over a packet (small and full-size
 * packets, across the 16-bit seq wrap), the skipped end of the ring, oversize and short
 * packets, the newest of two packets with one seq, and the ring growing by half to the window
 * a stream's bitrate and RTT need, no further, with nothing lost. */
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "core/rtx_buffer.h"

static uint8_t pkt[1600];

/* Bytes one packet of len takes in the ring (4-byte header, padded to 4). */
static size_t rec(size_t len) { return 4 + ((len + 3) & ~(size_t)3); }

/* A packet whose first payload byte and last byte tell its seq; ts is its RTP timestamp. */
static void store_ts(rtx_buffer *b, uint32_t seq, size_t len, uint32_t ts)
{
    pkt[4] = (uint8_t)(ts >> 24); pkt[5] = (uint8_t)(ts >> 16);
    pkt[6] = (uint8_t)(ts >> 8); pkt[7] = (uint8_t)ts;
    pkt[12] = (uint8_t)seq;
    pkt[len - 1] = (uint8_t)(seq >> 8);
    rtx_buffer_store(b, (uint16_t)seq, pkt, len);
}

/* A slow stream (100 ms of RTP clock per packet): every lap spans the window, no growth. */
static void store(rtx_buffer *b, uint32_t seq, size_t len) { store_ts(b, seq, len, seq * 9000); }

static bool holds(rtx_buffer *b, uint32_t seq, size_t want_len)
{
    size_t len = 0;
    const uint8_t *p = rtx_buffer_find(b, (uint16_t)seq, &len);
    return p && len == want_len && p[12] == (uint8_t)seq && p[len - 1] == (uint8_t)(seq >> 8);
}

/* Packets of mixed small sizes across the 16-bit wrap: what is found is exactly the newest
 * run that fits the ring (no index bounds it any more). */
static void test_small_packets(void)
{
    rtx_buffer *b = rtx_buffer_new(90000);
    size_t len = 0;
    CHECK(rtx_buffer_find(b, 5, &len) == NULL);
    CHECK(rtx_buffer_capacity(b) == 0);
    uint32_t first = 65000, n = 2000;
    for (uint32_t seq = first; seq < first + n; seq++)
        store(b, seq, 20 + seq % 10);
    CHECK(rtx_buffer_capacity(b) == RTX_BUFFER_MIN_BYTES);
    size_t held = 0;
    bool seen_miss_after_hit = false, hit = false;
    for (uint32_t seq = first; seq < first + n; seq++) {
        bool h = holds(b, seq, 20 + seq % 10);
        if (h) {
            hit = true;
            held += rec(20 + seq % 10);
        } else if (hit) {
            seen_miss_after_hit = true;
        }
    }
    CHECK(!seen_miss_after_hit);   /* a suffix of the stream */
    CHECK(held <= RTX_BUFFER_MIN_BYTES && held + 2 * rec(29) >= RTX_BUFFER_MIN_BYTES);
    rtx_buffer_free(b);
}

/* Full-size packets of a slow stream: what the ring wrote over misses, the rest hits, and a
 * packet that would straddle the end starts over at the beginning. */
static void test_ring_bound(void)
{
    rtx_buffer *b = rtx_buffer_new(90000);
    const size_t len = 1200;
    const uint32_t n = 300, fit = RTX_BUFFER_MIN_BYTES / rec(len); /* whole records per ring */
    for (uint32_t seq = 0; seq < n; seq++)
        store(b, seq, len);
    CHECK(rtx_buffer_capacity(b) == RTX_BUFFER_MIN_BYTES);
    int hits = 0;
    for (uint32_t seq = 0; seq < n; seq++) {
        bool h = holds(b, seq, len);
        hits += h;
        if (seq >= n - fit + 1)
            CHECK(h);   /* the newest ring's worth is intact */
        if (seq < n - fit - 1)
            CHECK(!h);  /* older bytes were written over */
    }
    CHECK(hits >= (int)fit - 1 && hits <= (int)fit);
    rtx_buffer_free(b);
}

/* The growth sequence: 16 KiB, then by half rounded up to 4 KiB, capped. */
static size_t next_cap(size_t cap)
{
    size_t c = (cap + cap / 2 + 4095) & ~(size_t)4095;
    return c < RTX_BUFFER_MAX_BYTES ? c : RTX_BUFFER_MAX_BYTES;
}

/* A stream of kbps for seconds in 1200-byte packets with the given RTT (0: none known).
 * Checks throughout that whatever is found is intact, and at the end that each packet of the
 * window is still there and that the ring is the first of the growth sequence that holds it. */
static void run_stream(unsigned kbps, uint32_t rtt_ms)
{
    rtx_buffer *b = rtx_buffer_new(90000);
    if (rtt_ms)
        rtx_buffer_set_rtt_ms(b, rtt_ms);
    uint32_t window_ms = rtx_buffer_window_ms(b);
    CHECK_INT(window_ms, (rtt_ms ? rtt_ms : RTX_BUFFER_ASSUMED_RTT_MS) + RTX_BUFFER_MARGIN_MS);
    const size_t len = 1200;
    const double pps = kbps * 1000.0 / 8 / len;
    uint32_t n = (uint32_t)(pps * 4), window = (uint32_t)(pps * window_ms / 1000);
    size_t mid = 0;
    for (uint32_t seq = 0; seq < n; seq++) {
        store_ts(b, seq, len, (uint32_t)(seq * 90000.0 / pps));
        size_t got = 0;
        const uint8_t *p = rtx_buffer_find(b, (uint16_t)(seq / 2), &got);
        CHECK(!p || holds(b, seq / 2, len));
        if (seq == n / 2)
            mid = rtx_buffer_capacity(b);
    }
    size_t cap = rtx_buffer_capacity(b);
    CHECK(mid == cap);   /* settled within the first half */
    if (cap < RTX_BUFFER_MAX_BYTES)
        for (uint32_t seq = n - window; seq < n; seq++)
            CHECK(holds(b, seq, len));
    /* The smaller ring before it would not have held the window (one packet of slack: a lap
     * is measured between packets' timestamps). */
    size_t prev = RTX_BUFFER_MIN_BYTES;
    while (next_cap(prev) < cap)
        prev = next_cap(prev);
    if (cap > RTX_BUFFER_MIN_BYTES)
        CHECK(prev / rec(len) < window + 2);
    rtx_buffer_free(b);
}

static void test_growth(void)
{
    run_stream(100, 0);      /* 1.6 kB per window: the minimum */
    run_stream(600, 0);      /* 11 kB: the minimum */
    run_stream(1500, 0);     /* 28 kB */
    run_stream(2500, 0);     /* 47 kB */
    run_stream(20000, 0);    /* 375 kB */
    run_stream(1500, 300);   /* 75 kB at a 300 ms RTT */
    run_stream(20000, 900);  /* 2.5 MB: capped */
    /* The figures the header states. */
    rtx_buffer *b = rtx_buffer_new(90000);
    for (uint32_t seq = 0; seq < 400; seq++)
        store_ts(b, seq, 1200, seq * 90000 / 104);   /* 1 Mbit/s */
    CHECK(rtx_buffer_capacity(b) <= 24u * 1024u);
    rtx_buffer_free(b);
}

/* Growing keeps every packet the smaller ring still held, and only those: a slow stream
 * wraps the minimum ring many times, then a fast one (5 ms per packet: a 16 KiB lap spans
 * 80 ms) makes it grow; before each store the set of packets found is noted, and right after
 * the growing store the same set plus the new packet is found. */
static void test_growth_keeps_packets(void)
{
    rtx_buffer *b = rtx_buffer_new(90000);
    const size_t len = 1000;
    uint32_t seq = 0, ts = 0;
    for (; seq < 100; seq++, ts += 9000)
        store_ts(b, seq, len, ts);
    bool before[400];
    for (;;) {
        for (uint32_t s = 0; s < seq; s++)
            before[s] = holds(b, s, len);
        store_ts(b, seq, len, ts);
        ts += 450;
        seq++;
        if (rtx_buffer_capacity(b) > RTX_BUFFER_MIN_BYTES || seq >= 400)
            break;
    }
    CHECK(rtx_buffer_capacity(b) == next_cap(RTX_BUFFER_MIN_BYTES));
    int kept = 0;
    for (uint32_t s = 0; s + 1 < seq; s++) {
        CHECK(holds(b, s, len) == before[s]);
        kept += before[s];
    }
    CHECK(holds(b, seq - 1, len));
    CHECK(kept >= (int)(RTX_BUFFER_MIN_BYTES / rec(len)) - 1);
    rtx_buffer_free(b);
}

static void test_oversize_and_duplicates(void)
{
    rtx_buffer *b = rtx_buffer_new(90000);
    size_t len = 0;
    store(b, 7, 500);
    rtx_buffer_store(b, 8, pkt, RTX_BUFFER_MAX_PACKET + 1); /* skipped */
    CHECK(holds(b, 7, 500));
    CHECK(rtx_buffer_find(b, 8, &len) == NULL);
    store(b, 8, RTX_BUFFER_MAX_PACKET);
    CHECK(holds(b, 8, RTX_BUFFER_MAX_PACKET));
    rtx_buffer_store(b, 9, pkt, 11); /* shorter than an RTP header: skipped */
    CHECK(rtx_buffer_find(b, 9, &len) == NULL);
    store(b, 7, 300);                /* the same seq again: the newest is found */
    CHECK(holds(b, 7, 300));
    CHECK(rtx_buffer_find(NULL, 7, &len) == NULL);
    rtx_buffer_free(b);
}

int main(void)
{
    for (size_t i = 0; i < sizeof pkt; i++)
        pkt[i] = (uint8_t)(i * 7);
    test_small_packets();
    test_ring_bound();
    test_growth();
    test_growth_keeps_packets();
    test_oversize_and_duplicates();
    return check_summary("rtx_buffer");
}
