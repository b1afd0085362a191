/*
 * rtcp_twcc.c: transport-wide congestion control feedback (RTPFB FMT 15),
 * draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1.
 *
 * |      base sequence number     |      packet status count      |
 * |                 reference time                | fb pkt. count |
 * |          packet chunk         |         packet chunk          |  ...
 * |  recv delta   |  recv delta   |          recv delta           |  ... zero padding
 *
 * Packet chunks: T=0 run length (2-bit symbol, 13-bit run); T=1 status vector, S=0 fourteen
 * 1-bit symbols or S=1 seven 2-bit symbols. Symbols: 0 not received, 1 received with a
 * 1-byte delta (0..63.75 ms), 2 received with a 2-byte signed delta, 3 reserved. Deltas and
 * the reference time (24-bit signed, 64 ms units) are in 250 us ticks.
 */
#include "proto/rtcp.h"

#include <string.h>

#define TWCC_TICK_US 250
#define TWCC_REF_US 64000
#define TWCC_TICKS_PER_REF (TWCC_REF_US / TWCC_TICK_US)

/* Walks the status symbols of the chunk list, one at a time. */
typedef struct sym_reader {
    const uint8_t *p;
    size_t off, len;
    unsigned pos, n;  /* position and count of symbols in the current chunk */
    uint16_t chunk;
} sym_reader;

static int next_symbol(sym_reader *r, uint8_t *sym)
{
    while (r->pos == r->n) {
        if (r->len - r->off < 2)
            return -1;
        r->chunk = (uint16_t)((r->p[r->off] << 8) | r->p[r->off + 1]);
        r->off += 2;
        r->pos = 0;
        if (!(r->chunk & 0x8000))
            r->n = r->chunk & 0x1fff;          /* run length */
        else
            r->n = (r->chunk & 0x4000) ? 7 : 14;
    }
    uint16_t c = r->chunk;
    if (!(c & 0x8000))
        *sym = (c >> 13) & 0x3;
    else if (c & 0x4000)
        *sym = (c >> (12 - 2 * r->pos)) & 0x3;
    else
        *sym = (c >> (13 - r->pos)) & 0x1;
    r->pos++;
    return 0;
}

static int16_t rd16s(const uint8_t *p)
{
    return (int16_t)(uint16_t)((p[0] << 8) | p[1]);
}

int rtcp_parse_twcc(const rtcp_block *b, rtcp_twcc_header *h, rtcp_twcc_packet *pkts,
                    size_t cap)
{
    if (!h || rtcp_parse_twcc_header(b, h) != 0)
        return -1;
    sym_reader r = {b->data, 20, b->len, 0, 0, 0};
    size_t delta_bytes = 0;
    uint8_t sym;
    /* pass 1: every symbol readable and no reserved one; where the deltas start */
    for (unsigned i = 0; i < h->status_count; i++) {
        if (next_symbol(&r, &sym) != 0 || sym == 3)
            return -1;
        delta_bytes += sym;
    }
    size_t d = r.off;
    if (delta_bytes > b->len - d)
        return -1;
    /* pass 2: pair symbols with deltas */
    sym_reader r2 = {b->data, 20, b->len, 0, 0, 0};
    int64_t ticks = (int64_t)h->reference_time * TWCC_TICKS_PER_REF;
    for (unsigned i = 0; i < h->status_count; i++) {
        next_symbol(&r2, &sym);
        if (sym == 1)
            ticks += b->data[d];
        else if (sym == 2)
            ticks += rd16s(b->data + d);
        d += sym;
        if (i < cap && pkts) {
            pkts[i].seq = (uint16_t)(h->base_seq + i);
            pkts[i].received = sym != 0;
            pkts[i].arrival_us = sym ? ticks * TWCC_TICK_US : 0;
        }
    }
    return h->status_count;
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

/* Walks the arrivals in order, giving each packet's symbol and delta (in ticks) from the
 * previous received one (the first from the reference time). */
typedef struct delta_walk {
    const int64_t *arrival_us;
    int64_t prev;
} delta_walk;

/* Returns the symbol (0, 1, 2) or -1 when the delta does not fit 16 bits. */
static int walk_next(delta_walk *w, size_t i, int32_t *delta)
{
    if (w->arrival_us[i] < 0)
        return 0;
    int64_t t = w->arrival_us[i] / TWCC_TICK_US;
    int64_t d = t - w->prev;
    w->prev = t;
    *delta = (int32_t)d;
    if (d >= 0 && d <= 255)
        return 1;
    return (d >= -32768 && d <= 32767) ? 2 : -1;
}

int rtcp_write_twcc(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                    uint16_t base_seq, const int64_t *arrival_us, size_t n, uint8_t fb_count)
{
    if (!buf || !arrival_us || n == 0 || n > 65535)
        return -1;
    size_t first = 0;
    while (first < n && arrival_us[first] < 0)
        first++;
    if (first == n)
        return -1;
    int64_t ref = arrival_us[first] / TWCC_REF_US;
    int32_t d;
    int sym;

    /* walk 1: validate and size */
    delta_walk w = {arrival_us, ref * TWCC_TICKS_PER_REF};
    size_t dbytes = 0;
    for (size_t i = 0; i < n; i++) {
        if ((sym = walk_next(&w, i, &d)) < 0)
            return -1;
        dbytes += (size_t)sym;
    }
    size_t chunk_bytes = 2 * ((n + 6) / 7); /* 2-bit status vectors: always valid */
    size_t len = (20 + chunk_bytes + dbytes + 3) & ~(size_t)3;
    if (cap < len)
        return -1;
    memset(buf, 0, len);
    buf[0] = 0x80 | RTCP_RTPFB_TWCC;
    buf[1] = RTCP_PT_RTPFB;
    wr16(buf + 2, (uint16_t)(len / 4 - 1));
    wr32(buf + 4, sender_ssrc);
    wr32(buf + 8, media_ssrc);
    wr16(buf + 12, base_seq);
    wr16(buf + 14, (uint16_t)n);
    /* 24-bit reference time: receivers follow it modulo 2^24 across feedbacks */
    wr32(buf + 16, ((uint32_t)ref << 8) | fb_count);

    /* walk 2: chunks of seven symbols, and the deltas after them */
    w.prev = ref * TWCC_TICKS_PER_REF;
    size_t coff = 20, doff = 20 + chunk_bytes;
    for (size_t i = 0; i < n; i++) {
        sym = walk_next(&w, i, &d);
        if (i % 7 == 0)
            buf[coff] = 0xc0;
        uint16_t c = (uint16_t)((buf[coff] << 8) | buf[coff + 1]);
        c |= (uint16_t)(sym << (12 - 2 * (i % 7)));
        wr16(buf + coff, c);
        if (i % 7 == 6)
            coff += 2;
        if (sym == 1)
            buf[doff++] = (uint8_t)d;
        else if (sym == 2) {
            wr16(buf + doff, (uint16_t)(int16_t)d);
            doff += 2;
        }
    }
    return (int)len;
}
