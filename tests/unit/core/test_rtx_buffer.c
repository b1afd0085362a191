/* Unit tests of rtx_buffer: hits, misses after the index or the byte ring wrapped, oversize
 * and short packets, the 16-bit seq wrap, packets never straddling the ring's end, and the
 * ring growing to the window a stream's bitrate needs, no further, with nothing lost. */
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "core/rtx_buffer.h"

static uint8_t pkt[1600];

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

/* Small packets: the index (RTX_BUFFER_SLOTS) is the limit, across the 16-bit wrap. */
static void test_index_bound(void)
{
    rtx_buffer *b = rtx_buffer_new(90000);
    size_t len = 0;
    CHECK(rtx_buffer_find(b, 5, &len) == NULL);
    CHECK(rtx_buffer_capacity(b) == 0);
    uint32_t first = 65500, n = RTX_BUFFER_SLOTS + 44;
    for (uint32_t seq = first; seq < first + n; seq++)
        store(b, seq, 20 + seq % 10);
    CHECK(rtx_buffer_capacity(b) == RTX_BUFFER_MIN_BYTES);
    for (uint32_t seq = first; seq < first + n; seq++) {
        if (seq < first + n - RTX_BUFFER_SLOTS)
            CHECK(rtx_buffer_find(b, (uint16_t)seq, &len) == NULL);
        else
            CHECK(holds(b, seq, 20 + seq % 10));
    }
    rtx_buffer_free(b);
}

/* Full-size packets of a slow stream: the byte ring is the limit; what it overwrote misses,
 * the rest hits, and a packet that would straddle the end starts over at the beginning. */
static void test_ring_bound(void)
{
    rtx_buffer *b = rtx_buffer_new(90000);
    const size_t len = 1200;
    const uint32_t n = 300, fit = RTX_BUFFER_MIN_BYTES / len; /* whole packets per ring */
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

/* A stream of kbps for seconds in 1200-byte packets; returns the last seq. Checks after every
 * packet that each packet of the last RTX_BUFFER_WINDOW_MS is still there once the ring has
 * settled (and, throughout, that whatever is found is intact). */
static uint32_t run_stream(rtx_buffer *b, unsigned kbps, unsigned seconds, size_t *settled_cap)
{
    const size_t len = 1200;
    const double pps = kbps * 1000.0 / 8 / len;
    uint32_t n = (uint32_t)(pps * seconds), window = (uint32_t)(pps * RTX_BUFFER_WINDOW_MS / 1000);
    for (uint32_t seq = 0; seq < n; seq++) {
        store_ts(b, seq, len, (uint32_t)(seq * 90000.0 / pps));
        size_t got = 0;
        const uint8_t *p = rtx_buffer_find(b, (uint16_t)(seq / 2), &got);
        CHECK(!p || holds(b, seq / 2, len));
        if (seq == n / 2)
            *settled_cap = rtx_buffer_capacity(b);
    }
    uint32_t from = n > window ? n - window : 0;
    if (window < RTX_BUFFER_SLOTS)
        for (uint32_t seq = from; seq < n; seq++)
            CHECK(holds(b, seq, len));
    return n;
}

/* The ring ends at the smallest doubling of the minimum that holds the window, and stays. */
static void test_growth(void)
{
    struct { unsigned kbps; size_t cap; } want[] = {
        {100, RTX_BUFFER_MIN_BYTES},       /* 3.75 kB per window */
        {600, 32u * 1024u},                /* 22.5 kB */
        {1500, 64u * 1024u},               /* 56 kB */
        {2500, 128u * 1024u},              /* 94 kB */
        {20000, RTX_BUFFER_MAX_BYTES},     /* 750 kB: capped */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        rtx_buffer *b = rtx_buffer_new(90000);
        size_t mid = 0;
        run_stream(b, want[i].kbps, 4, &mid);
        CHECK(rtx_buffer_capacity(b) == want[i].cap);
        CHECK(mid == want[i].cap);
        rtx_buffer_free(b);
    }
}

/* Growing keeps every packet the smaller ring still held, and only those: a slow stream
 * wraps the minimum ring many times, then a fast one (10 ms per packet: a 16 KiB lap spans
 * 160 ms) makes it grow; before each store the set of packets found is noted, and right after
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
        ts += 900;
        seq++;
        if (rtx_buffer_capacity(b) > RTX_BUFFER_MIN_BYTES || seq >= 400)
            break;
    }
    CHECK(rtx_buffer_capacity(b) == 2 * RTX_BUFFER_MIN_BYTES);
    int kept = 0;
    for (uint32_t s = 0; s + 1 < seq; s++) {
        CHECK(holds(b, s, len) == before[s]);
        kept += before[s];
    }
    CHECK(holds(b, seq - 1, len));
    CHECK(kept >= (int)(RTX_BUFFER_MIN_BYTES / len) - 1);
    rtx_buffer_free(b);
}

static void test_oversize(void)
{
    rtx_buffer *b = rtx_buffer_new(90000);
    size_t len = 0;
    store(b, 7, 500);
    rtx_buffer_store(b, 7 + RTX_BUFFER_SLOTS, pkt, RTX_BUFFER_MAX_PACKET + 1); /* skipped */
    CHECK(holds(b, 7, 500));
    CHECK(rtx_buffer_find(b, 7 + RTX_BUFFER_SLOTS, &len) == NULL);
    store(b, 8, RTX_BUFFER_MAX_PACKET);
    CHECK(holds(b, 8, RTX_BUFFER_MAX_PACKET));
    rtx_buffer_store(b, 9, pkt, 11); /* shorter than an RTP header: skipped */
    CHECK(rtx_buffer_find(b, 9, &len) == NULL);
    CHECK(rtx_buffer_find(NULL, 7, &len) == NULL);
    rtx_buffer_free(b);
}

int main(void)
{
    for (size_t i = 0; i < sizeof pkt; i++)
        pkt[i] = (uint8_t)(i * 7);
    test_index_bound();
    test_ring_bound();
    test_growth();
    test_growth_keeps_packets();
    test_oversize();
    return check_summary("rtx_buffer");
}
