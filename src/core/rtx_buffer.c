/*
 * rtx_buffer: see rtx_buffer.h. Packets are appended to the ring at an ever-growing absolute
 * byte position (a packet never straddles the end: it starts over at the ring's beginning);
 * an index entry remembers its seq, position and length, so a lookup misses when the slot
 * was reused by a newer seq or when the ring has written over the packet's bytes since.
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
    rtx_entry index[RTX_BUFFER_SLOTS];
    uint8_t ring[RTX_BUFFER_BYTES];
};

rtx_buffer *rtx_buffer_new(void) { return calloc(1, sizeof(rtx_buffer)); }
void rtx_buffer_free(rtx_buffer *b) { free(b); }

void rtx_buffer_store(rtx_buffer *b, uint16_t seq, const uint8_t *packet, size_t len)
{
    if (!b || len == 0 || len > RTX_BUFFER_MAX_PACKET)
        return;
    size_t at = (size_t)(b->write_pos % RTX_BUFFER_BYTES);
    if (at + len > RTX_BUFFER_BYTES) {
        b->write_pos += RTX_BUFFER_BYTES - at;   /* skip the tail: packets stay contiguous */
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
    if (e->len == 0 || e->seq != seq || b->write_pos - e->pos > RTX_BUFFER_BYTES)
        return NULL;
    *len = e->len;
    return b->ring + (size_t)(e->pos % RTX_BUFFER_BYTES);
}
