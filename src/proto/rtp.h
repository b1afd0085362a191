/*
 * rtp: sans-IO RTP header parsing and in-place rewriting (RFC 3550, RFC 8285 header
 * extensions) plus the first-byte demultiplexing rules of RFC 7983 / RFC 5761.
 *
 * Contract:
 *  - Nothing here allocates, logs, or keeps state: every function works on the caller's
 *    buffer and never reads (or writes) outside [buf, buf+len).
 *  - rtp_parse() fills a zero-copy rtp_view (offsets into the caller's buffer); the view is
 *    valid as long as the buffer is unchanged in length and layout. The in-place setters
 *    (ssrc/seq/timestamp/pt/marker, extension id remap) never change the packet's length.
 *  - Errors are return values: -1 means "not a well-formed RTP packet" (or a short buffer);
 *    callers drop such packets and count them. Nothing aborts on bad input.
 *  - Any thread may call these functions; they are reentrant.
 */
#ifndef PARLEY_PROTO_RTP_H
#define PARLEY_PROTO_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTP_HEADER_MIN 12u
#define RTP_EXT_PROFILE_ONE_BYTE 0xBEDEu
/* Two-byte header extensions use 0x100X: the upper 12 bits are 0x100, the low 4 "appbits". */
#define RTP_EXT_PROFILE_TWO_BYTE_MASK 0xFFF0u
#define RTP_EXT_PROFILE_TWO_BYTE 0x1000u

typedef struct rtp_view {
    uint8_t version;      /* always 2 after a successful parse */
    bool padding;
    bool extension;
    bool marker;
    uint8_t csrc_count;
    uint8_t pt;           /* 0..127 */
    uint16_t seq;
    uint32_t timestamp;
    uint32_t ssrc;
    uint16_t ext_profile; /* "defined by profile" field; 0 when !extension */
    size_t ext_offset;    /* offset of the extension data (after its 4-byte header) */
    size_t ext_len;       /* bytes of extension data (length field * 4) */
    size_t payload_offset;
    size_t payload_len;   /* excluding padding */
    uint8_t padding_len;  /* the count in the last byte when padding, else 0 */
} rtp_view;

/* Parses and validates an RTP header: version 2, CSRCs, extension and padding lengths all
 * inside len. Returns 0 and fills *v, or -1. */
int rtp_parse(const uint8_t *buf, size_t len, rtp_view *v);

/* In-place header field writes; buf must hold at least RTP_HEADER_MIN bytes (else -1). */
int rtp_set_ssrc(uint8_t *buf, size_t len, uint32_t ssrc);
int rtp_set_seq(uint8_t *buf, size_t len, uint16_t seq);
int rtp_set_timestamp(uint8_t *buf, size_t len, uint32_t ts);
int rtp_set_pt(uint8_t *buf, size_t len, uint8_t pt);
int rtp_set_marker(uint8_t *buf, size_t len, bool marker);

/* Header extension element iteration over a parsed packet. Usage:
 *     rtp_ext_iter it; rtp_ext_iter_init(&it, buf, &view);
 *     uint8_t id; const uint8_t *data; size_t n;
 *     while ((r = rtp_ext_next(&it, &id, &data, &n)) == 1) ...
 * rtp_ext_next returns 1 with an element, 0 at the end, -1 if the block is malformed (an
 * element runs past the block). Padding bytes are skipped. A packet whose extension profile
 * is neither one-byte nor two-byte yields no elements (0). In the one-byte form an id of 15
 * stops the iteration, as RFC 8285 says. */
typedef struct rtp_ext_iter {
    const uint8_t *p;
    size_t off;
    size_t len;
    int form; /* 1 = one-byte, 2 = two-byte, 0 = none */
} rtp_ext_iter;

void rtp_ext_iter_init(rtp_ext_iter *it, const uint8_t *buf, const rtp_view *v);
int rtp_ext_next(rtp_ext_iter *it, uint8_t *id, const uint8_t **data, size_t *data_len);

/* Finds the first element with this id. Returns 1 and sets data/len, 0 when absent, -1 when
 * the block is malformed. */
int rtp_ext_find(const uint8_t *buf, const rtp_view *v, uint8_t id, const uint8_t **data,
                 size_t *data_len);

/* Rewrites header extension ids in place: each element's id becomes map[id]. map[id] == 0
 * erases the element by turning all its bytes (header and data) into padding bytes (0),
 * which RFC 8285 receivers skip, so the block length stays valid. In the one-byte form a
 * mapped id above 14 cannot be expressed and the element is erased too. Returns the number
 * of elements kept, or -1 if the packet or its extension block is malformed; the whole
 * block is validated before any byte is written, so on -1 buf is untouched. */
int rtp_ext_remap(uint8_t *buf, size_t len, const uint8_t map[256]);

/* RFC 7983 first-byte classes for one UDP 5-tuple carrying STUN, DTLS and SRTP. */
typedef enum rtp_demux {
    RTP_DEMUX_UNKNOWN = 0,
    RTP_DEMUX_STUN,  /* 0..3 */
    RTP_DEMUX_ZRTP,  /* 16..19 */
    RTP_DEMUX_DTLS,  /* 20..63 */
    RTP_DEMUX_TURN,  /* 64..79 (TURN channel data) */
    RTP_DEMUX_RTP,   /* 128..191: RTP or RTCP, see rtp_is_rtcp */
} rtp_demux;

rtp_demux rtp_demux_class(uint8_t first_byte);

/* RFC 5761 section 4: with rtcp-mux, a packet whose second byte (M bit + PT) is in 192..223
 * is RTCP. Also checks version 2 and a minimal length (4 bytes for RTCP, 12 for RTP). */
bool rtp_is_rtcp(const uint8_t *buf, size_t len);

/* Serial-number arithmetic helpers for 16-bit sequence numbers (RFC 1982 style). */
static inline bool rtp_seq_newer(uint16_t a, uint16_t b)
{
    return a != b && (uint16_t)(a - b) < 0x8000u;
}

#endif
