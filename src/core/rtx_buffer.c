/*
 * rtx_buffer: see rtx_buffer.h. Records are appended at an ever-growing absolute byte position
 * (the ring offset is the position modulo the capacity); the oldest intact record starts at
 * tail. A record is a 4-byte header (seq, length; length RTX_SKIP marks the unused end of the
 * ring before a record that would not fit there) and the packet, padded to 4 bytes, so a
 * header always fits where the previous record ended. Before bytes are written, the records
 * they would overwrite are dropped from the tail, so everything from tail to the write
 * position is intact and a lookup is a walk over it.
 *
 * A lap is the run of packets that fills the ring once from a starting packet; when one
 * ends, its RTP timestamp span says whether the ring covers the window. Growing copies the
 * records, oldest first, to the start of the larger ring.
 */
#include "core/rtx_buffer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RTX_HEADER 4u
#define RTX_SKIP 0xffffu
#define RTX_MMAP_FROM (64u * 1024u)

struct rtx_buffer {
    uint64_t write_pos;   /* absolute position of the next record */
    uint64_t tail;        /* absolute position of the oldest intact record */
    uint64_t lap_pos;     /* where the current lap started, and its first timestamp */
    uint32_t lap_ts;
    uint32_t clock_rate;
    uint32_t window_ms;
    size_t cap;           /* ring bytes, a multiple of 4; 0 until the first packet */
    uint8_t *ring;
};

static uint8_t *ring_alloc(size_t cap)
{
    if (cap < RTX_MMAP_FROM)
        return malloc(cap);
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void ring_free(uint8_t *ring, size_t cap)
{
    if (!ring)
        return;
    if (cap < RTX_MMAP_FROM)
        free(ring);
    else
        munmap(ring, cap);
}

rtx_buffer *rtx_buffer_new(uint32_t clock_rate)
{
    rtx_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->clock_rate = clock_rate ? clock_rate : 90000;
    b->window_ms = RTX_BUFFER_ASSUMED_RTT_MS + RTX_BUFFER_MARGIN_MS;
    return b;
}

void rtx_buffer_free(rtx_buffer *b)
{
    if (b)
        ring_free(b->ring, b->cap);
    free(b);
}

size_t rtx_buffer_capacity(const rtx_buffer *b) { return b ? b->cap : 0; }
uint32_t rtx_buffer_window_ms(const rtx_buffer *b) { return b ? b->window_ms : 0; }

void rtx_buffer_set_rtt_ms(rtx_buffer *b, uint32_t rtt_ms)
{
    if (!b)
        return;
    uint64_t w = (uint64_t)rtt_ms + RTX_BUFFER_MARGIN_MS;
    b->window_ms = w > RTX_BUFFER_MAX_WINDOW_MS ? RTX_BUFFER_MAX_WINDOW_MS : (uint32_t)w;
}

static size_t record_bytes(size_t len) { return RTX_HEADER + ((len + 3u) & ~(size_t)3u); }

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Bytes the record at absolute position pos takes, the skipped end of the ring included. */
static size_t span_at(const rtx_buffer *b, uint64_t pos)
{
    size_t at = (size_t)(pos % b->cap);
    uint16_t len = rd16(b->ring + at + 2);
    return len == RTX_SKIP ? b->cap - at : record_bytes(len);
}

/* Drops the oldest records while they start before end - cap: bytes up to end are about to
 * be written, and would overwrite them. */
static void evict_before(rtx_buffer *b, uint64_t end)
{
    while (b->tail < b->write_pos && b->tail + b->cap < end)
        b->tail += span_at(b, b->tail);
}

/* Moves the records to the start of a ring of cap bytes (larger than what they take). */
static bool grow(rtx_buffer *b, size_t cap)
{
    uint8_t *ring = ring_alloc(cap);
    if (!ring)
        return false;
    size_t out = 0;
    for (uint64_t p = b->tail; p < b->write_pos;) {
        size_t at = (size_t)(p % b->cap), n = span_at(b, p);
        if (rd16(b->ring + at + 2) != RTX_SKIP) {
            memcpy(ring + out, b->ring + at, n);
            out += n;
        }
        p += n;
    }
    ring_free(b->ring, b->cap);
    b->ring = ring;
    b->cap = cap;
    b->tail = 0;
    b->write_pos = out;
    return true;
}

/* At the end of a lap: grow by half when the lap spanned less than the window; the next lap
 * starts at this packet either way. */
static void end_of_lap(rtx_buffer *b, uint32_t ts)
{
    uint64_t span_ms = (uint64_t)(uint32_t)(ts - b->lap_ts) * 1000 / b->clock_rate;
    if (span_ms < b->window_ms && b->cap < RTX_BUFFER_MAX_BYTES) {
        size_t cap = (b->cap + b->cap / 2 + 4095u) & ~(size_t)4095u;
        grow(b, cap < RTX_BUFFER_MAX_BYTES ? cap : RTX_BUFFER_MAX_BYTES);
    }
    b->lap_pos = b->write_pos;
    b->lap_ts = ts;
}

void rtx_buffer_store(rtx_buffer *b, uint16_t seq, const uint8_t *packet, size_t len)
{
    if (!b || len < 12 || len > RTX_BUFFER_MAX_PACKET)
        return;
    uint32_t ts = (uint32_t)packet[4] << 24 | (uint32_t)packet[5] << 16 |
                  (uint32_t)packet[6] << 8 | packet[7];
    if (!b->ring) {
        b->ring = ring_alloc(RTX_BUFFER_MIN_BYTES);
        if (!b->ring)
            return;
        b->cap = RTX_BUFFER_MIN_BYTES;
        b->tail = b->lap_pos = b->write_pos;
        b->lap_ts = ts;
    }
    size_t need = record_bytes(len);
    if (b->write_pos + need - b->lap_pos > b->cap)
        end_of_lap(b, ts);
    size_t at = (size_t)(b->write_pos % b->cap);
    if (at + need > b->cap) {   /* the end of the ring is skipped: records stay contiguous */
        uint64_t next = b->write_pos + (b->cap - at);
        evict_before(b, next);
        uint8_t *h = b->ring + at;
        h[2] = h[3] = 0xff;
        b->write_pos = next;
        at = 0;
    }
    evict_before(b, b->write_pos + need);
    uint8_t *h = b->ring + at;
    h[0] = (uint8_t)(seq >> 8);
    h[1] = (uint8_t)seq;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    memcpy(h + RTX_HEADER, packet, len);
    b->write_pos += need;
}

const uint8_t *rtx_buffer_find(const rtx_buffer *b, uint16_t seq, size_t *len)
{
    if (!b || !b->ring)
        return NULL;
    const uint8_t *found = NULL;
    for (uint64_t p = b->tail; p < b->write_pos;) {
        const uint8_t *h = b->ring + (size_t)(p % b->cap);
        uint16_t n = rd16(h + 2);
        if (n != RTX_SKIP && rd16(h) == seq) {
            found = h + RTX_HEADER;
            *len = n;
        }
        p += span_at(b, p);
    }
    return found;
}
