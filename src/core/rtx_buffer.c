/*
 * rtx_buffer: see rtx_buffer.h. Slot = seq modulo the slot count; a slot remembers which
 * seq it holds, so a lookup of an overwritten seq misses instead of returning a newer packet.
 */
#include "core/rtx_buffer.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct rtx_slot {
    bool used;
    uint16_t seq;
    uint16_t len;
    uint8_t data[RTX_BUFFER_MAX_PACKET];
} rtx_slot;

struct rtx_buffer {
    rtx_slot slots[RTX_BUFFER_SLOTS];
};

rtx_buffer *rtx_buffer_new(void) { return calloc(1, sizeof(rtx_buffer)); }
void rtx_buffer_free(rtx_buffer *b) { free(b); }

void rtx_buffer_store(rtx_buffer *b, uint16_t seq, const uint8_t *packet, size_t len)
{
    if (!b || len > RTX_BUFFER_MAX_PACKET)
        return;
    rtx_slot *s = &b->slots[seq % RTX_BUFFER_SLOTS];
    s->used = true;
    s->seq = seq;
    s->len = (uint16_t)len;
    memcpy(s->data, packet, len);
}

const uint8_t *rtx_buffer_find(const rtx_buffer *b, uint16_t seq, size_t *len)
{
    if (!b)
        return NULL;
    const rtx_slot *s = &b->slots[seq % RTX_BUFFER_SLOTS];
    if (!s->used || s->seq != seq)
        return NULL;
    *len = s->len;
    return s->data;
}
