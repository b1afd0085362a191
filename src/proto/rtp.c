/*
 * rtp.c: RTP header view, in-place field writes and RFC 8285 header extensions.
 *
 * Everything is bounds-checked against the caller's len; the packet is never resized.
 */
#include "proto/rtp.h"

#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
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

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * |                           timestamp                           |
 * |           synchronization source (SSRC) identifier            |
 * |            contributing source (CSRC) identifiers             | x CC
 * |      defined by profile       |           length              | if X
 * |                        header extension                       | length * 4
 * |                            payload ...        | padding | count |
 */
int rtp_parse(const uint8_t *buf, size_t len, rtp_view *v)
{
    if (!buf || !v || len < RTP_HEADER_MIN)
        return -1;
    memset(v, 0, sizeof(*v));
    v->version = buf[0] >> 6;
    if (v->version != 2)
        return -1;
    v->padding = (buf[0] & 0x20) != 0;
    v->extension = (buf[0] & 0x10) != 0;
    v->csrc_count = buf[0] & 0x0f;
    v->marker = (buf[1] & 0x80) != 0;
    v->pt = buf[1] & 0x7f;
    v->seq = rd16(buf + 2);
    v->timestamp = rd32(buf + 4);
    v->ssrc = rd32(buf + 8);

    size_t off = RTP_HEADER_MIN + 4u * v->csrc_count;
    if (off > len)
        return -1;
    if (v->extension) {
        if (len - off < 4)
            return -1;
        v->ext_profile = rd16(buf + off);
        size_t ext_len = 4u * rd16(buf + off + 2);
        off += 4;
        if (ext_len > len - off)
            return -1;
        v->ext_offset = off;
        v->ext_len = ext_len;
        off += ext_len;
    }
    size_t end = len;
    if (v->padding) {
        /* The count includes itself, so 0 is invalid and it cannot exceed what follows
         * the header. */
        uint8_t pad = buf[len - 1];
        if (pad == 0 || pad > len - off)
            return -1;
        v->padding_len = pad;
        end = len - pad;
    }
    v->payload_offset = off;
    v->payload_len = end - off;
    return 0;
}

int rtp_set_ssrc(uint8_t *buf, size_t len, uint32_t ssrc)
{
    if (!buf || len < RTP_HEADER_MIN)
        return -1;
    wr32(buf + 8, ssrc);
    return 0;
}

int rtp_set_seq(uint8_t *buf, size_t len, uint16_t seq)
{
    if (!buf || len < RTP_HEADER_MIN)
        return -1;
    wr16(buf + 2, seq);
    return 0;
}

int rtp_set_timestamp(uint8_t *buf, size_t len, uint32_t ts)
{
    if (!buf || len < RTP_HEADER_MIN)
        return -1;
    wr32(buf + 4, ts);
    return 0;
}

int rtp_set_pt(uint8_t *buf, size_t len, uint8_t pt)
{
    if (!buf || len < RTP_HEADER_MIN || pt > 127)
        return -1;
    buf[1] = (uint8_t)((buf[1] & 0x80) | pt);
    return 0;
}

int rtp_set_marker(uint8_t *buf, size_t len, bool marker)
{
    if (!buf || len < RTP_HEADER_MIN)
        return -1;
    buf[1] = (uint8_t)((buf[1] & 0x7f) | (marker ? 0x80 : 0));
    return 0;
}

static int ext_form(uint16_t profile)
{
    if (profile == RTP_EXT_PROFILE_ONE_BYTE)
        return 1;
    if ((profile & RTP_EXT_PROFILE_TWO_BYTE_MASK) == RTP_EXT_PROFILE_TWO_BYTE)
        return 2;
    return 0;
}

void rtp_ext_iter_init(rtp_ext_iter *it, const uint8_t *buf, const rtp_view *v)
{
    memset(it, 0, sizeof(*it));
    if (!buf || !v || !v->extension)
        return;
    it->p = buf + v->ext_offset;
    it->len = v->ext_len;
    it->form = ext_form(v->ext_profile);
}

/* The next element from it->off: its offset in the block, header and data lengths.
 * remap_walk below applies the same rules in one loop. */
static int ext_next_elem(rtp_ext_iter *it, uint8_t *id, size_t *elem_off, size_t *hdr_len,
                         size_t *data_len)
{
    while (it->off < it->len) {
        uint8_t b = it->p[it->off];
        /* Padding: a zero byte (two-byte form) or an id of 0 (one-byte form) is skipped one
         * byte at a time. */
        if (b == 0 || (it->form == 1 && (b >> 4) == 0)) {
            it->off++;
            continue;
        }
        size_t hdr, n;
        if (it->form == 1) {
            if ((b >> 4) == 15) { /* reserved: stop processing */
                it->off = it->len;
                return 0;
            }
            hdr = 1;
            n = (size_t)(b & 0x0f) + 1;
            *id = b >> 4;
        } else {
            if (it->len - it->off < 2)
                return -1;
            hdr = 2;
            n = it->p[it->off + 1];
            *id = b;
        }
        if (hdr + n > it->len - it->off)
            return -1;
        *elem_off = it->off;
        *hdr_len = hdr;
        *data_len = n;
        it->off += hdr + n;
        return 1;
    }
    return 0;
}

int rtp_ext_next(rtp_ext_iter *it, uint8_t *id, const uint8_t **data, size_t *data_len)
{
    if (!it || it->form == 0)
        return 0;
    size_t off, hdr;
    int r = ext_next_elem(it, id, &off, &hdr, data_len);
    if (r == 1)
        *data = it->p + off + hdr;
    return r;
}

int rtp_ext_find(const uint8_t *buf, const rtp_view *v, uint8_t id, const uint8_t **data,
                 size_t *data_len)
{
    rtp_ext_iter it;
    rtp_ext_iter_init(&it, buf, v);
    uint8_t eid;
    int r;
    while ((r = rtp_ext_next(&it, &eid, data, data_len)) == 1) {
        if (eid == id)
            return 1;
    }
    return r;
}

/* One walk over an extension block (the same element rules as ext_next_elem, written as a
 * tight loop because it runs on every forwarded packet). With map NULL it only validates;
 * otherwise it rewrites ids and erases elements. Returns the elements kept, or -1. */
static int remap_walk(uint8_t *blk, size_t len, int form, const uint8_t *map)
{
    size_t off = 0;
    int kept = 0;
    while (off < len) {
        uint8_t b = blk[off];
        uint8_t id;
        size_t whole;
        if (form == 1) {
            id = b >> 4;
            if (id == 0) { /* padding */
                off++;
                continue;
            }
            if (id == 15) /* reserved: stop */
                break;
            whole = 1 + (size_t)(b & 0x0f) + 1;
        } else {
            if (b == 0) {
                off++;
                continue;
            }
            if (len - off < 2)
                return -1;
            id = b;
            whole = 2 + (size_t)blk[off + 1];
        }
        if (whole > len - off)
            return -1;
        if (map) {
            uint8_t nid = map[id];
            if (nid == 0 || (form == 1 && nid > 14)) {
                memset(blk + off, 0, whole);
            } else {
                blk[off] = form == 1 ? (uint8_t)((nid << 4) | (b & 0x0f)) : nid;
                kept++;
            }
        } else {
            kept++;
        }
        off += whole;
    }
    return kept;
}

int rtp_ext_remap(uint8_t *buf, size_t len, const uint8_t map[256])
{
    rtp_view v;
    if (!map || rtp_parse(buf, len, &v) != 0)
        return -1;
    int form = v.extension ? ext_form(v.ext_profile) : 0;
    if (form == 0)
        return 0;
    uint8_t *blk = buf + v.ext_offset;
    /* validate first so that a malformed block is left untouched */
    if (remap_walk(blk, v.ext_len, form, NULL) < 0)
        return -1;
    return remap_walk(blk, v.ext_len, form, map);
}

rtp_demux rtp_demux_class(uint8_t b)
{
    if (b <= 3)
        return RTP_DEMUX_STUN;
    if (b >= 16 && b <= 19)
        return RTP_DEMUX_ZRTP;
    if (b >= 20 && b <= 63)
        return RTP_DEMUX_DTLS;
    if (b >= 64 && b <= 79)
        return RTP_DEMUX_TURN;
    if (b >= 128 && b <= 191)
        return RTP_DEMUX_RTP;
    return RTP_DEMUX_UNKNOWN;
}

bool rtp_is_rtcp(const uint8_t *buf, size_t len)
{
    if (!buf || len < 4 || (buf[0] >> 6) != 2)
        return false;
    return buf[1] >= 192 && buf[1] <= 223;
}
