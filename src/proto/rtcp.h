/*
 * rtcp: sans-IO RTCP compound packet iteration, parsing, writing and in-place SSRC
 * translation (RFC 3550 SR/RR/SDES/BYE/APP, RFC 4585 generic NACK and PLI, RFC 5104 FIR,
 * draft-alvestrand-rmcat-remb REMB, draft-holmer-rmcat-transport-wide-cc-extensions TWCC).
 *
 * Contract:
 *  - Nothing allocates, logs or keeps state; reads and writes stay inside [buf, buf+len)
 *    (or [buf, buf+cap) for writers). Reentrant; any thread.
 *  - Parsers take a block produced by rtcp_next() (a view into the caller's buffer).
 *    They return 0 on success or -1 when the block is not of the expected type/format or
 *    is too short; -1 means "drop and count", never abort.
 *  - Writers fill the caller's buffer and return the number of bytes written, or -1 when
 *    cap is too small or the arguments are out of range. They never write past cap.
 *  - Values are host order; NTP timestamps are split in seconds/fraction as on the wire.
 */
#ifndef PARLEY_PROTO_RTCP_H
#define PARLEY_PROTO_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    RTCP_PT_SR = 200,
    RTCP_PT_RR = 201,
    RTCP_PT_SDES = 202,
    RTCP_PT_BYE = 203,
    RTCP_PT_APP = 204,
    RTCP_PT_RTPFB = 205,
    RTCP_PT_PSFB = 206,
    RTCP_PT_XR = 207,
};

enum {
    RTCP_RTPFB_NACK = 1,
    RTCP_RTPFB_TWCC = 15,
    RTCP_PSFB_PLI = 1,
    RTCP_PSFB_FIR = 4,
    RTCP_PSFB_AFB = 15, /* application layer feedback: REMB when it says "REMB" */
};

#define RTCP_MAX_REPORTS 31u
#define RTCP_REMB_MAX_SSRCS 16u

/* One block (one RTCP packet) of a compound packet. data points at its 4-byte header. */
typedef struct rtcp_block {
    const uint8_t *data;
    size_t len;      /* whole block including header: (length field + 1) * 4 */
    size_t offset;   /* offset of the block within the compound packet */
    uint8_t pt;
    uint8_t count;   /* RC / SC / FMT: the 5 low bits of the first byte */
    bool padding;
} rtcp_block;

typedef struct rtcp_iter {
    const uint8_t *buf;
    size_t len;
    size_t off;
} rtcp_iter;

void rtcp_iter_init(rtcp_iter *it, const uint8_t *buf, size_t len);
/* Returns 1 with the next block, 0 at the end, -1 if the compound packet is malformed
 * (version != 2, a length that runs past len, or trailing bytes shorter than a header). */
int rtcp_next(rtcp_iter *it, rtcp_block *b);
/* Validates a whole compound packet (at least one block, every length consistent):
 * returns 0 or -1. */
int rtcp_validate(const uint8_t *buf, size_t len);
/* Same check, returning the number of blocks (>= 1) or -1. */
int rtcp_count_blocks(const uint8_t *buf, size_t len);

typedef struct rtcp_report_block {
    uint32_t ssrc;
    uint8_t fraction_lost;
    int32_t cumulative_lost; /* 24-bit signed on the wire */
    uint32_t highest_seq;
    uint32_t jitter;
    uint32_t lsr;
    uint32_t dlsr;
} rtcp_report_block;

typedef struct rtcp_sr {
    uint32_t ssrc;
    uint32_t ntp_sec;
    uint32_t ntp_frac;
    uint32_t rtp_ts;
    uint32_t packet_count;
    uint32_t octet_count;
    uint8_t n_reports;
    rtcp_report_block reports[RTCP_MAX_REPORTS];
} rtcp_sr;

typedef struct rtcp_rr {
    uint32_t ssrc;
    uint8_t n_reports;
    rtcp_report_block reports[RTCP_MAX_REPORTS];
} rtcp_rr;

typedef struct rtcp_fir_entry {
    uint32_t ssrc;
    uint8_t seq;
} rtcp_fir_entry;

typedef struct rtcp_remb {
    uint32_t sender_ssrc;
    uint64_t bitrate;       /* bits per second; saturates at UINT64_MAX */
    uint8_t n_ssrcs;        /* as announced in the packet */
    uint8_t n_stored;       /* min(n_ssrcs, RTCP_REMB_MAX_SSRCS) */
    uint32_t ssrcs[RTCP_REMB_MAX_SSRCS];
} rtcp_remb;

typedef struct rtcp_twcc_header {
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    uint16_t base_seq;
    uint16_t status_count;
    int32_t reference_time; /* 24-bit signed, multiples of 64 ms */
    uint8_t fb_count;
} rtcp_twcc_header;

int rtcp_parse_sr(const rtcp_block *b, rtcp_sr *out);
int rtcp_parse_rr(const rtcp_block *b, rtcp_rr *out);
/* Generic NACK (RTPFB FMT 1): expands every PID+BLP into lost sequence numbers, writes up
 * to cap of them into seqs and returns how many there are in total (which may exceed cap;
 * only the first cap are stored), or -1. */
int rtcp_parse_nack(const rtcp_block *b, uint32_t *sender_ssrc, uint32_t *media_ssrc,
                    uint16_t *seqs, size_t cap);
/* Removes from every generic NACK of a compound packet (in place) the sequence numbers for
 * which answered(ctx, media_ssrc, seq) returns true; a NACK left asking for nothing is removed.
 * answered is called once per requested seq, in order. Returns the new length (0 when
 * nothing is left); a malformed compound is returned untouched (len). */
typedef bool (*rtcp_nack_answered_fn)(void *ctx, uint32_t media_ssrc, uint16_t seq);
size_t rtcp_nack_filter(uint8_t *buf, size_t len, rtcp_nack_answered_fn answered, void *ctx);
int rtcp_parse_pli(const rtcp_block *b, uint32_t *sender_ssrc, uint32_t *media_ssrc);
/* FIR (PSFB FMT 4): stores up to cap entries and returns how many the packet holds, or -1. */
int rtcp_parse_fir(const rtcp_block *b, uint32_t *sender_ssrc, rtcp_fir_entry *entries,
                   size_t cap);
/* REMB (PSFB FMT 15 with "REMB"); -1 for other application feedback. */
int rtcp_parse_remb(const rtcp_block *b, rtcp_remb *out);
int rtcp_parse_twcc_header(const rtcp_block *b, rtcp_twcc_header *out);
/* True when the block is PSFB/AFB carrying the "REMB" identifier. */
bool rtcp_is_remb(const rtcp_block *b);

/* Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
 * extensions-01 section 3.1), in rtcp_twcc.c. One entry per reported transport sequence. */
typedef struct rtcp_twcc_packet {
    uint16_t seq;
    bool received;
    int64_t arrival_us; /* on the feedback sender's clock (reference time + deltas) */
} rtcp_twcc_packet;

/* Expands every packet status chunk and receive delta. Stores up to cap entries and returns
 * status_count (which may exceed cap), or -1 when the chunks or deltas run past the block or
 * use the reserved status. */
int rtcp_parse_twcc(const rtcp_block *b, rtcp_twcc_header *h, rtcp_twcc_packet *pkts,
                    size_t cap);
/* Writes a feedback for transport sequences base_seq .. base_seq + n - 1: arrival_us[i] is
 * the arrival time (microseconds, any monotonic origin >= 0) or -1 when not received. At
 * least one must be received; n <= 65535. Returns the length, or -1 when cap is short or two
 * consecutive arrivals are more than 8.19 s apart (send two feedbacks then). */
int rtcp_write_twcc(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                    uint16_t base_seq, const int64_t *arrival_us, size_t n, uint8_t fb_count);

/* Writers: return bytes written or -1 (cap too small / bad arguments). */
int rtcp_write_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc);
int rtcp_write_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                   uint8_t seq);
/* ssrcs: the media sources the estimate applies to (n <= 255). */
int rtcp_write_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate,
                    const uint32_t *ssrcs, size_t n);
/* Packs the lost sequence numbers into PID+BLP entries (best packing when seqs are in
 * ascending order, always correct). n >= 1. */
int rtcp_write_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                    const uint16_t *seqs, size_t n);
/* Receiver report with n report blocks (n = 0 gives the empty RR, n <= 31). */
int rtcp_write_rr(uint8_t *buf, size_t cap, uint32_t ssrc, const rtcp_report_block *reports,
                  size_t n);
/* Sender report with sr->n_reports report blocks. */
int rtcp_write_sr(uint8_t *buf, size_t cap, const rtcp_sr *sr);
/* SDES with one chunk carrying a CNAME item (cname length 1..255). */
int rtcp_write_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname);
/* BYE for one SSRC, no reason. */
int rtcp_write_bye(uint8_t *buf, size_t cap, uint32_t ssrc);

/* Role of an SSRC field seen by rtcp_rewrite_ssrcs. */
typedef enum rtcp_ssrc_role {
    RTCP_SSRC_SENDER = 0, /* who sent this block: SR/RR/RTPFB/PSFB sender, SDES, BYE, APP */
    RTCP_SSRC_MEDIA = 1,  /* the stream reported on: report blocks, feedback media ssrc,
                           * FIR entries, REMB ssrcs, TWCC media ssrc */
} rtcp_ssrc_role;

/* Returns the replacement for ssrc (return ssrc unchanged to keep it). */
typedef uint32_t (*rtcp_ssrc_map_fn)(void *ctx, uint32_t ssrc, rtcp_ssrc_role role);

/* Rewrites, in place, every SSRC field of every block of a compound packet through map
 * (fields holding 0, which mean "unused" in FIR/REMB headers, are left alone). The packet is
 * validated first and left untouched if malformed. Returns the number of fields changed, or
 * -1. Unknown packet types keep everything but their sender SSRC. */
int rtcp_rewrite_ssrcs(uint8_t *buf, size_t len, rtcp_ssrc_map_fn map, void *ctx);

#endif
