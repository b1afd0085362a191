/* Unit tests of rtx_buffer: hits, misses after the index or the byte ring wrapped, oversize
 * packets, the 16-bit seq wrap, and packets never straddling the ring's end. */
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "core/rtx_buffer.h"

static uint8_t pkt[1600];

static void store(rtx_buffer *b, uint32_t seq, size_t len)
{
    pkt[0] = (uint8_t)seq;
    pkt[len - 1] = (uint8_t)(seq >> 8);
    rtx_buffer_store(b, (uint16_t)seq, pkt, len);
}

static bool holds(rtx_buffer *b, uint32_t seq, size_t want_len)
{
    size_t len = 0;
    const uint8_t *p = rtx_buffer_find(b, (uint16_t)seq, &len);
    return p && len == want_len && p[0] == (uint8_t)seq && p[len - 1] == (uint8_t)(seq >> 8);
}

/* Small packets: the index (RTX_BUFFER_SLOTS) is the limit, across the 16-bit wrap. */
static void test_index_bound(void)
{
    rtx_buffer *b = rtx_buffer_new();
    size_t len = 0;
    CHECK(rtx_buffer_find(b, 5, &len) == NULL);
    uint32_t first = 65500, n = RTX_BUFFER_SLOTS + 44;
    for (uint32_t seq = first; seq < first + n; seq++)
        store(b, seq, 100 + seq % 50);
    for (uint32_t seq = first; seq < first + n; seq++) {
        if (seq < first + n - RTX_BUFFER_SLOTS)
            CHECK(rtx_buffer_find(b, (uint16_t)seq, &len) == NULL);
        else
            CHECK(holds(b, seq, 100 + seq % 50));
    }
    rtx_buffer_free(b);
}

/* Full-size packets: the byte ring is the limit; what it overwrote misses, the rest hits, and
 * a packet that would straddle the end starts over at the beginning intact. */
static void test_ring_bound(void)
{
    rtx_buffer *b = rtx_buffer_new();
    const size_t len = 1200;
    const uint32_t n = 300, fit = RTX_BUFFER_BYTES / len; /* whole packets per ring */
    for (uint32_t seq = 0; seq < n; seq++)
        store(b, seq, len);
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

static void test_oversize(void)
{
    rtx_buffer *b = rtx_buffer_new();
    size_t len = 0;
    store(b, 7, 500);
    rtx_buffer_store(b, 7 + RTX_BUFFER_SLOTS, pkt, RTX_BUFFER_MAX_PACKET + 1); /* skipped */
    CHECK(holds(b, 7, 500));
    CHECK(rtx_buffer_find(b, 7 + RTX_BUFFER_SLOTS, &len) == NULL);
    store(b, 8, RTX_BUFFER_MAX_PACKET);
    CHECK(holds(b, 8, RTX_BUFFER_MAX_PACKET));
    rtx_buffer_store(b, 9, pkt, 0); /* empty: skipped */
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
    test_oversize();
    return check_summary("rtx_buffer");
}
