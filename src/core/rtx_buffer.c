/*
 * rtx_buffer: see rtx_buffer.h. Packets are appended to the ring at an ever-growing absolute
 * byte position (a packet never straddles the end: it starts over at the ring's beginning);
 * an index entry remembers its seq, position and length, so a lookup misses when the slot
 * was reused by a newer seq or when the ring has written over the packet's bytes since.
 *
 * A lap is the run of packets that fills the ring once from a starting packet; when one
 * ends, its RTP timestamp span says whether the ring covers the window. Growing moves the
 * ring's newest bytes to where their absolute positions fall in the larger ring; bytes older
 * than the old ring (already overwritten there) are marked gone by valid_from.
 */
#include "core/rtx_buffer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct rtx_entry {
    uint64_t pos;      /* absolute byte position of the packet */
    uint16_t seq;
    uint16_t len;      /* 0 = empty */
} rtx_entry;

struct rtx_buffer {
    uint64_t write_pos;   /* absolute position of the next byte to write */
    uint64_t valid_from;  /* bytes before it were lost when the ring grew */
    uint64_t lap_pos;     /* where the current lap started, and its first timestamp */
    uint32_t lap_ts;
    uint32_t clock_rate;
    size_t cap;           /* ring bytes; 0 until the first packet */
    uint8_t *ring;
    rtx_entry index[RTX_BUFFER_SLOTS];
};

rtx_buffer *rtx_buffer_new(uint32_t clock_rate)
{
    rtx_buffer *b = calloc(1, sizeof *b);
    b->clock_rate = clock_rate ? clock_rate : 90000;
    return b;
}

void rtx_buffer_free(rtx_buffer *b)
{
    if (b)
        free(b->ring);
    free(b);
}

size_t rtx_buffer_capacity(const rtx_buffer *b) { return b ? b->cap : 0; }

static void grow(rtx_buffer *b)
{
    size_t cap = b->cap * 2;
    uint8_t *ring = malloc(cap);
    uint64_t kept = b->write_pos < b->cap ? b->write_pos : b->cap;
    for (uint64_t p = b->write_pos - kept; p < b->write_pos;) {
        size_t from = (size_t)(p % b->cap), to = (size_t)(p % cap);
        size_t n = (size_t)(b->write_pos - p);
        n = n < b->cap - from ? n : b->cap - from;
        n = n < cap - to ? n : cap - to;
        memcpy(ring + to, b->ring + from, n);
        p += n;
    }
    free(b->ring);
    b->ring = ring;
    b->cap = cap;
    b->valid_from = b->write_pos - kept;
}

/* At the end of a lap: grow when the lap spanned less than the window, else start the next
 * lap at this packet. */
static void end_of_lap(rtx_buffer *b, uint32_t ts)
{
    uint64_t span_ms = (uint64_t)(uint32_t)(ts - b->lap_ts) * 1000 / b->clock_rate;
    if (span_ms < RTX_BUFFER_WINDOW_MS && b->cap < RTX_BUFFER_MAX_BYTES) {
        grow(b);
        return;
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
        b->cap = RTX_BUFFER_MIN_BYTES;
        b->ring = malloc(b->cap);
        b->lap_pos = b->write_pos;
        b->lap_ts = ts;
    }
    if (b->write_pos + len - b->lap_pos > b->cap)
        end_of_lap(b, ts);
    size_t at = (size_t)(b->write_pos % b->cap);
    if (at + len > b->cap) {
        b->write_pos += b->cap - at;   /* skip the tail: packets stay contiguous */
        at = 0;
    }
    memcpy(b->ring + at, packet, len);
    b->index[seq % RTX_BUFFER_SLOTS] = (rtx_entry){.pos = b->write_pos, .seq = seq, .len = (uint16_t)len};
    b->write_pos += len;
}

const uint8_t *rtx_buffer_find(const rtx_buffer *b, uint16_t seq, size_t *len)
{
    if (!b)
        return NULL;
    const rtx_entry *e = &b->index[seq % RTX_BUFFER_SLOTS];
    /* Still intact when nothing written since its start reached a full ring further on. */
    if (e->len == 0 || e->seq != seq || e->pos < b->valid_from ||
        b->write_pos - e->pos > b->cap)
        return NULL;
    *len = e->len;
    return b->ring + (size_t)(e->pos % b->cap);
}
