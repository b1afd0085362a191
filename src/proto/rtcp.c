/*
 * rtcp.c: RTCP compound iteration, block parsers, writers and SSRC translation.
 *
 * Common header of every block (RFC 3550 6.4):
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P| RC/FMT  |      PT       |     length (words - 1)        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Feedback messages (RFC 4585 6.1) follow it with the sender SSRC and the media SSRC, then
 * the FCI.
 */
#include "proto/rtcp.h"

#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd24(const uint8_t *p)
{
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}

static uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 16);
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void rtcp_iter_init(rtcp_iter *it, const uint8_t *buf, size_t len)
{
    it->buf = buf;
    it->len = buf ? len : 0;
    it->off = 0;
}

int rtcp_next(rtcp_iter *it, rtcp_block *b)
{
    if (it->off >= it->len)
        return 0;
    size_t left = it->len - it->off;
    const uint8_t *p = it->buf + it->off;
    if (left < 4 || (p[0] >> 6) != 2)
        return -1;
    size_t blen = 4u * ((size_t)rd16(p + 2) + 1);
    if (blen > left)
        return -1;
    b->data = p;
    b->len = blen;
    b->offset = it->off;
    b->pt = p[1];
    b->count = p[0] & 0x1f;
    b->padding = (p[0] & 0x20) != 0;
    it->off += blen;
    return 1;
}

int rtcp_validate(const uint8_t *buf, size_t len)
{
    return rtcp_count_blocks(buf, len) > 0 ? 0 : -1;
}

int rtcp_count_blocks(const uint8_t *buf, size_t len)
{
    rtcp_iter it;
    rtcp_block b;
    int n = 0, r;
    if (!buf || len == 0)
        return -1;
    rtcp_iter_init(&it, buf, len);
    while ((r = rtcp_next(&it, &b)) == 1)
        n++;
    return r < 0 ? -1 : n;
}

static void parse_report_block(const uint8_t *p, rtcp_report_block *rb)
{
    rb->ssrc = rd32(p);
    rb->fraction_lost = p[4];
    uint32_t lost = rd24(p + 5);
    /* sign-extend the 24-bit field */
    rb->cumulative_lost = (lost & 0x800000u) ? (int32_t)(lost | 0xff000000u) : (int32_t)lost;
    rb->highest_seq = rd32(p + 8);
    rb->jitter = rd32(p + 12);
    rb->lsr = rd32(p + 16);
    rb->dlsr = rd32(p + 20);
}

static void write_report_block(uint8_t *p, const rtcp_report_block *rb)
{
    wr32(p, rb->ssrc);
    p[4] = rb->fraction_lost;
    wr24(p + 5, (uint32_t)rb->cumulative_lost & 0xffffffu);
    wr32(p + 8, rb->highest_seq);
    wr32(p + 12, rb->jitter);
    wr32(p + 16, rb->lsr);
    wr32(p + 20, rb->dlsr);
}

int rtcp_parse_sr(const rtcp_block *b, rtcp_sr *out)
{
    if (!b || !out || b->pt != RTCP_PT_SR || b->len < 28)
        return -1;
    if (28u + 24u * b->count > b->len)
        return -1;
    const uint8_t *p = b->data;
    out->ssrc = rd32(p + 4);
    out->ntp_sec = rd32(p + 8);
    out->ntp_frac = rd32(p + 12);
    out->rtp_ts = rd32(p + 16);
    out->packet_count = rd32(p + 20);
    out->octet_count = rd32(p + 24);
    out->n_reports = b->count;
    for (unsigned i = 0; i < b->count; i++)
        parse_report_block(p + 28 + 24 * i, &out->reports[i]);
    return 0;
}

int rtcp_parse_rr(const rtcp_block *b, rtcp_rr *out)
{
    if (!b || !out || b->pt != RTCP_PT_RR || b->len < 8)
        return -1;
    if (8u + 24u * b->count > b->len)
        return -1;
    out->ssrc = rd32(b->data + 4);
    out->n_reports = b->count;
    for (unsigned i = 0; i < b->count; i++)
        parse_report_block(b->data + 8 + 24 * i, &out->reports[i]);
    return 0;
}

static int parse_fb_header(const rtcp_block *b, uint8_t pt, uint8_t fmt, uint32_t *sender,
                           uint32_t *media)
{
    if (!b || b->pt != pt || b->count != fmt || b->len < 12)
        return -1;
    if (sender)
        *sender = rd32(b->data + 4);
    if (media)
        *media = rd32(b->data + 8);
    return 0;
}

/*
 * Generic NACK FCI (RFC 4585 6.2.1): PID (16 bits) then BLP, a bitmask where bit i set
 * means PID + i + 1 is lost too.
 */
int rtcp_parse_nack(const rtcp_block *b, uint32_t *sender_ssrc, uint32_t *media_ssrc,
                    uint16_t *seqs, size_t cap)
{
    if (parse_fb_header(b, RTCP_PT_RTPFB, RTCP_RTPFB_NACK, sender_ssrc, media_ssrc) != 0)
        return -1;
    size_t n = 0;
    for (size_t off = 12; off + 4 <= b->len; off += 4) {
        uint16_t pid = rd16(b->data + off);
        uint16_t blp = rd16(b->data + off + 2);
        if (n < cap && seqs)
            seqs[n] = pid;
        n++;
        for (unsigned i = 0; i < 16; i++) {
            if (!(blp & (1u << i)))
                continue;
            if (n < cap && seqs)
                seqs[n] = (uint16_t)(pid + i + 1);
            n++;
        }
    }
    return (int)n;
}

int rtcp_parse_pli(const rtcp_block *b, uint32_t *sender_ssrc, uint32_t *media_ssrc)
{
    return parse_fb_header(b, RTCP_PT_PSFB, RTCP_PSFB_PLI, sender_ssrc, media_ssrc);
}

/* FIR FCI (RFC 5104 4.3.1.1): SSRC, then seq nr (8 bits) and 24 reserved bits. */
int rtcp_parse_fir(const rtcp_block *b, uint32_t *sender_ssrc, rtcp_fir_entry *entries,
                   size_t cap)
{
    if (parse_fb_header(b, RTCP_PT_PSFB, RTCP_PSFB_FIR, sender_ssrc, NULL) != 0)
        return -1;
    size_t n = 0;
    for (size_t off = 12; off + 8 <= b->len; off += 8) {
        if (n < cap && entries) {
            entries[n].ssrc = rd32(b->data + off);
            entries[n].seq = b->data[off + 4];
        }
        n++;
    }
    return (int)n;
}

bool rtcp_is_remb(const rtcp_block *b)
{
    return b && b->pt == RTCP_PT_PSFB && b->count == RTCP_PSFB_AFB && b->len >= 20 &&
           memcmp(b->data + 12, "REMB", 4) == 0;
}

/*
 * REMB FCI: "REMB", then Num SSRC (8 bits), BR Exp (6 bits), BR Mantissa (18 bits), then
 * Num SSRC media SSRCs. bitrate = mantissa << exp.
 */
int rtcp_parse_remb(const rtcp_block *b, rtcp_remb *out)
{
    if (!out || !rtcp_is_remb(b))
        return -1;
    const uint8_t *p = b->data;
    out->sender_ssrc = rd32(p + 4);
    out->n_ssrcs = p[16];
    uint8_t exp = p[17] >> 2;
    uint64_t mantissa = ((uint64_t)(p[17] & 0x03) << 16) | rd16(p + 18);
    if (mantissa != 0 && exp > 0 && (mantissa >> (64 - exp)) != 0)
        out->bitrate = UINT64_MAX;
    else
        out->bitrate = mantissa << exp;
    if (20u + 4u * out->n_ssrcs > b->len)
        return -1;
    out->n_stored = out->n_ssrcs < RTCP_REMB_MAX_SSRCS ? out->n_ssrcs
                                                       : (uint8_t)RTCP_REMB_MAX_SSRCS;
    for (unsigned i = 0; i < out->n_stored; i++)
        out->ssrcs[i] = rd32(p + 20 + 4 * i);
    return 0;
}

int rtcp_parse_twcc_header(const rtcp_block *b, rtcp_twcc_header *out)
{
    if (!out || parse_fb_header(b, RTCP_PT_RTPFB, RTCP_RTPFB_TWCC, &out->sender_ssrc,
                                &out->media_ssrc) != 0)
        return -1;
    if (b->len < 20)
        return -1;
    const uint8_t *p = b->data;
    out->base_seq = rd16(p + 12);
    out->status_count = rd16(p + 14);
    uint32_t ref = rd24(p + 16);
    out->reference_time = (ref & 0x800000u) ? (int32_t)(ref | 0xff000000u) : (int32_t)ref;
    out->fb_count = p[19];
    return 0;
}

/* Writes the common header for a block of total length len (a multiple of 4). */
static void write_header(uint8_t *p, uint8_t count, uint8_t pt, size_t len)
{
    p[0] = (uint8_t)(0x80 | (count & 0x1f));
    p[1] = pt;
    wr16(p + 2, (uint16_t)(len / 4 - 1));
}

int rtcp_write_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc)
{
    if (!buf || cap < 12)
        return -1;
    write_header(buf, RTCP_PSFB_PLI, RTCP_PT_PSFB, 12);
    wr32(buf + 4, sender_ssrc);
    wr32(buf + 8, media_ssrc);
    return 12;
}

int rtcp_write_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                   uint8_t seq)
{
    if (!buf || cap < 20)
        return -1;
    write_header(buf, RTCP_PSFB_FIR, RTCP_PT_PSFB, 20);
    wr32(buf + 4, sender_ssrc);
    wr32(buf + 8, 0); /* RFC 5104: media source SSRC unused, set to 0 */
    wr32(buf + 12, media_ssrc);
    buf[16] = seq;
    buf[17] = buf[18] = buf[19] = 0;
    return 20;
}

int rtcp_write_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate,
                    const uint32_t *ssrcs, size_t n)
{
    if (!buf || n > 255 || (n > 0 && !ssrcs))
        return -1;
    size_t len = 20 + 4 * n;
    if (cap < len)
        return -1;
    /* Smallest exponent that fits the mantissa in 18 bits (truncating, never rounding up,
     * so the receiver never sees more than we allowed). */
    uint8_t exp = 0;
    while ((bitrate >> exp) > 0x3ffffu)
        exp++;
    uint32_t mantissa = (uint32_t)(bitrate >> exp);
    write_header(buf, RTCP_PSFB_AFB, RTCP_PT_PSFB, len);
    wr32(buf + 4, sender_ssrc);
    wr32(buf + 8, 0);
    memcpy(buf + 12, "REMB", 4);
    buf[16] = (uint8_t)n;
    buf[17] = (uint8_t)((exp << 2) | (mantissa >> 16));
    wr16(buf + 18, (uint16_t)mantissa);
    for (size_t i = 0; i < n; i++)
        wr32(buf + 20 + 4 * i, ssrcs[i]);
    return (int)len;
}

int rtcp_write_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                    const uint16_t *seqs, size_t n)
{
    if (!buf || !seqs || n == 0 || cap < 16)
        return -1;
    size_t off = 12;
    size_t i = 0;
    while (i < n) {
        if (off + 4 > cap || off + 4 > 4u * 65536u)
            return -1;
        uint16_t pid = seqs[i++];
        uint16_t blp = 0;
        while (i < n) {
            uint16_t d = (uint16_t)(seqs[i] - pid);
            if (d == 0) { /* duplicate of the PID */
                i++;
                continue;
            }
            if (d > 16)
                break;
            blp |= (uint16_t)(1u << (d - 1));
            i++;
        }
        wr16(buf + off, pid);
        wr16(buf + off + 2, blp);
        off += 4;
    }
    write_header(buf, RTCP_RTPFB_NACK, RTCP_PT_RTPFB, off);
    wr32(buf + 4, sender_ssrc);
    wr32(buf + 8, media_ssrc);
    return (int)off;
}

int rtcp_write_rr(uint8_t *buf, size_t cap, uint32_t ssrc, const rtcp_report_block *reports,
                  size_t n)
{
    if (!buf || n > RTCP_MAX_REPORTS || (n > 0 && !reports))
        return -1;
    size_t len = 8 + 24 * n;
    if (cap < len)
        return -1;
    write_header(buf, (uint8_t)n, RTCP_PT_RR, len);
    wr32(buf + 4, ssrc);
    for (size_t i = 0; i < n; i++)
        write_report_block(buf + 8 + 24 * i, &reports[i]);
    return (int)len;
}

int rtcp_write_sr(uint8_t *buf, size_t cap, const rtcp_sr *sr)
{
    if (!buf || !sr || sr->n_reports > RTCP_MAX_REPORTS)
        return -1;
    size_t len = 28 + 24u * sr->n_reports;
    if (cap < len)
        return -1;
    write_header(buf, sr->n_reports, RTCP_PT_SR, len);
    wr32(buf + 4, sr->ssrc);
    wr32(buf + 8, sr->ntp_sec);
    wr32(buf + 12, sr->ntp_frac);
    wr32(buf + 16, sr->rtp_ts);
    wr32(buf + 20, sr->packet_count);
    wr32(buf + 24, sr->octet_count);
    for (unsigned i = 0; i < sr->n_reports; i++)
        write_report_block(buf + 28 + 24 * i, &sr->reports[i]);
    return (int)len;
}

/* SDES chunk: SSRC, items (type, length, text), then a 0 terminator padded to 32 bits. */
int rtcp_write_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname)
{
    if (!buf || !cname)
        return -1;
    size_t cl = strlen(cname);
    if (cl == 0 || cl > 255)
        return -1;
    size_t chunk = 4 + 2 + cl + 1;     /* ssrc, item header, text, null item */
    size_t len = 4 + ((chunk + 3) & ~(size_t)3);
    if (cap < len)
        return -1;
    write_header(buf, 1, RTCP_PT_SDES, len);
    wr32(buf + 4, ssrc);
    buf[8] = 1; /* CNAME */
    buf[9] = (uint8_t)cl;
    memcpy(buf + 10, cname, cl);
    memset(buf + 10 + cl, 0, len - (10 + cl));
    return (int)len;
}

int rtcp_write_bye(uint8_t *buf, size_t cap, uint32_t ssrc)
{
    if (!buf || cap < 8)
        return -1;
    write_header(buf, 1, RTCP_PT_BYE, 8);
    wr32(buf + 4, ssrc);
    return 8;
}

/* Rewrites one 32-bit field through the map; counts it when it changed. */
static void map_field(uint8_t *p, rtcp_ssrc_map_fn map, void *ctx, rtcp_ssrc_role role,
                      int *changed)
{
    uint32_t old = rd32(p);
    if (old == 0)
        return;
    uint32_t nv = map(ctx, old, role);
    if (nv != old) {
        wr32(p, nv);
        (*changed)++;
    }
}

static void rewrite_reports(uint8_t *p, size_t len, size_t first, unsigned count,
                            rtcp_ssrc_map_fn map, void *ctx, int *changed)
{
    for (unsigned i = 0; i < count && first + 24u * (i + 1) <= len; i++)
        map_field(p + first + 24 * i, map, ctx, RTCP_SSRC_MEDIA, changed);
}

/* SDES: count chunks, each an SSRC then items up to a null item, padded to 32 bits. */
static void rewrite_sdes(uint8_t *p, size_t len, unsigned count, rtcp_ssrc_map_fn map,
                         void *ctx, int *changed)
{
    size_t off = 4;
    for (unsigned c = 0; c < count && off + 4 <= len; c++) {
        map_field(p + off, map, ctx, RTCP_SSRC_SENDER, changed);
        off += 4;
        while (off < len && p[off] != 0) {
            if (off + 2 > len)
                return;
            off += 2u + p[off + 1];
        }
        off++;                            /* the null item */
        off = (off + 3) & ~(size_t)3;     /* chunk padding */
    }
}

static void rewrite_psfb(uint8_t *p, size_t len, uint8_t fmt, rtcp_ssrc_map_fn map, void *ctx,
                         int *changed)
{
    map_field(p + 8, map, ctx, RTCP_SSRC_MEDIA, changed);
    if (fmt == RTCP_PSFB_FIR) {
        for (size_t off = 12; off + 8 <= len; off += 8)
            map_field(p + off, map, ctx, RTCP_SSRC_MEDIA, changed);
    } else if (fmt == RTCP_PSFB_AFB && len >= 20 && memcmp(p + 12, "REMB", 4) == 0) {
        unsigned n = p[16];
        for (unsigned i = 0; i < n && 20u + 4u * (i + 1) <= len; i++)
            map_field(p + 20 + 4 * i, map, ctx, RTCP_SSRC_MEDIA, changed);
    }
}

static void rewrite_block(uint8_t *p, size_t len, rtcp_ssrc_map_fn map, void *ctx,
                          int *changed)
{
    uint8_t pt = p[1];
    uint8_t count = p[0] & 0x1f;
    switch (pt) {
    case RTCP_PT_SDES:
        rewrite_sdes(p, len, count, map, ctx, changed);
        return;
    case RTCP_PT_BYE:
        for (unsigned i = 0; i < count && 4u + 4u * (i + 1) <= len; i++)
            map_field(p + 4 + 4 * i, map, ctx, RTCP_SSRC_SENDER, changed);
        return;
    default:
        break;
    }
    if (len < 8)
        return;
    map_field(p + 4, map, ctx, RTCP_SSRC_SENDER, changed);
    if (pt == RTCP_PT_SR)
        rewrite_reports(p, len, 28, count, map, ctx, changed);
    else if (pt == RTCP_PT_RR)
        rewrite_reports(p, len, 8, count, map, ctx, changed);
    else if (pt == RTCP_PT_RTPFB && len >= 12)
        map_field(p + 8, map, ctx, RTCP_SSRC_MEDIA, changed);
    else if (pt == RTCP_PT_PSFB && len >= 12)
        rewrite_psfb(p, len, count, map, ctx, changed);
}

int rtcp_rewrite_ssrcs(uint8_t *buf, size_t len, rtcp_ssrc_map_fn map, void *ctx)
{
    if (!map || rtcp_validate(buf, len) != 0)
        return -1;
    rtcp_iter it;
    rtcp_block b;
    int changed = 0;
    rtcp_iter_init(&it, buf, len);
    while (rtcp_next(&it, &b) == 1)
        rewrite_block(buf + b.offset, b.len, map, ctx, &changed);
    return changed;
}

/*
 * Generic NACK filtering (RFC 4585 6.2.1). Each FCI entry covers a window of 17 sequence
 * numbers (PID and the 16 after it, BLP bit i = PID+i+1). Whatever remains of a window after
 * the answered seqs are removed still fits in one entry, so a block only ever shrinks:
 *
 *    0                   1                   2                   3
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |            PID                |             BLP               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
static bool nack_entry_filter(uint8_t *fci, uint32_t media, rtcp_nack_answered_fn answered, void *ctx)
{
    uint16_t pid = rd16(fci), blp = rd16(fci + 2);
    uint32_t left = 0; /* bit k: pid + k still wanted, k = 0..16 */
    for (unsigned k = 0; k <= 16; k++) {
        bool wanted = k == 0 || (blp & (1u << (k - 1)));
        if (wanted && !answered(ctx, media, (uint16_t)(pid + k)))
            left |= 1u << k;
    }
    if (!left)
        return false;
    unsigned first = (unsigned)__builtin_ctz(left);
    wr16(fci, (uint16_t)(pid + first));
    wr16(fci + 2, (uint16_t)(left >> (first + 1)));
    return true;
}

/* Filters one NACK block in place; returns its new length (0: nothing left to ask for). */
static size_t nack_block_filter(uint8_t *blk, size_t blen, rtcp_nack_answered_fn answered, void *ctx)
{
    uint32_t media = rd32(blk + 8);
    size_t out = 12;
    for (size_t off = 12; off + 4 <= blen; off += 4) {
        if (nack_entry_filter(blk + off, media, answered, ctx)) {
            memmove(blk + out, blk + off, 4);
            out += 4;
        }
    }
    if (out == 12)
        return 0;
    wr16(blk + 2, (uint16_t)(out / 4 - 1));
    return out;
}

size_t rtcp_nack_filter(uint8_t *buf, size_t len, rtcp_nack_answered_fn answered, void *ctx)
{
    if (rtcp_validate(buf, len) != 0)
        return len;
    size_t in = 0, out = 0;
    while (in < len) {
        size_t blen = 4u * ((size_t)rd16(buf + in + 2) + 1);
        bool nack = buf[in + 1] == RTCP_PT_RTPFB && (buf[in] & 0x1f) == RTCP_RTPFB_NACK && !(buf[in] & 0x20) &&
                    blen >= 12;
        memmove(buf + out, buf + in, blen);
        out += nack ? nack_block_filter(buf + out, blen, answered, ctx) : blen;
        in += blen;
    }
    return out;
}
