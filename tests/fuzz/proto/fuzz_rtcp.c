/*
 * fuzz_rtcp: compound validation and iteration, every block parser, writers fed with what
 * was parsed (SR/RR re-encode to the same bytes), and SSRC rewriting, which must keep the
 * compound valid with the same block structure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rtcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An involution on non-zero values (x ^ K, with K itself fixed so nothing maps to 0, which
 * the rewriter would then skip on the way back). */
static uint32_t xor_map(void *ctx, uint32_t ssrc, rtcp_ssrc_role role)
{
    (void)ctx;
    uint32_t k = role == RTCP_SSRC_MEDIA ? 0x5a5a5a5au : 0x12345678u;
    return ssrc == k ? ssrc : ssrc ^ k;
}

/* A parsed TWCC feedback re-encoded by our writer must parse back to the same arrivals
 * (when they are non-negative and inside the 24-bit reference time range). */
static void check_twcc(const rtcp_block *b)
{
    rtcp_twcc_header h;
    rtcp_twcc_packet p[256], q[256];
    int n = rtcp_parse_twcc(b, &h, p, 256);
    if (n <= 0 || n > 256)
        return;
    int64_t arr[256];
    bool any = false;
    for (int i = 0; i < n; i++) {
        arr[i] = p[i].received ? p[i].arrival_us : -1;
        if (p[i].received && (p[i].arrival_us < 0 || p[i].arrival_us >= (1LL << 23) * 64000))
            return;
        any = any || p[i].received;
    }
    if (!any)
        return;
    uint8_t out[2048];
    int w = rtcp_write_twcc(out, sizeof(out), h.sender_ssrc, h.media_ssrc, h.base_seq, arr,
                            (size_t)n, h.fb_count);
    rtcp_iter it;
    rtcp_block nb;
    rtcp_twcc_header h2;
    rtcp_iter_init(&it, out, w > 0 ? (size_t)w : 0);
    if (w < 0 || rtcp_next(&it, &nb) != 1 || rtcp_parse_twcc(&nb, &h2, q, 256) != n)
        abort();
    for (int i = 0; i < n; i++) {
        if (q[i].seq != p[i].seq || q[i].received != p[i].received ||
            q[i].arrival_us != p[i].arrival_us)
            abort();
    }
}

static bool odd_answered(void *ctx, uint32_t media, uint16_t seq) { return seq & 1; }

static void parse_block(const rtcp_block *b)
{
    uint8_t out[1024];
    uint32_t s, m;
    if (b->pt == RTCP_PT_SR) {
        rtcp_sr sr;
        if (rtcp_parse_sr(b, &sr) == 0) {
            int n = rtcp_write_sr(out, sizeof(out), &sr);
            if (n < 0 || (size_t)n > b->len || memcmp(out + 4, b->data + 4, (size_t)n - 4) != 0)
                abort();
        }
    } else if (b->pt == RTCP_PT_RR) {
        rtcp_rr rr;
        if (rtcp_parse_rr(b, &rr) == 0) {
            int n = rtcp_write_rr(out, sizeof(out), rr.ssrc, rr.reports, rr.n_reports);
            if (n < 0 || (size_t)n > b->len || memcmp(out + 4, b->data + 4, (size_t)n - 4) != 0)
                abort();
        }
    }
    uint16_t seqs[64];
    int n = rtcp_parse_nack(b, &s, &m, seqs, 64);
    if (n > 0) {
        size_t k = n < 64 ? (size_t)n : 64;
        uint16_t back[64];
        int w = rtcp_write_nack(out, sizeof(out), s, m, seqs, k);
        rtcp_iter it;
        rtcp_block nb;
        rtcp_iter_init(&it, out, w > 0 ? (size_t)w : 0);
        if (w < 0 || rtcp_next(&it, &nb) != 1)
            abort();
        /* the re-packed NACK names the same set (order kept, duplicates of a PID folded) */
        int n2 = rtcp_parse_nack(&nb, &s, &m, back, 64);
        if (n2 <= 0 || (size_t)n2 > k)
            abort();
    }
    (void)rtcp_parse_pli(b, &s, &m);
    rtcp_fir_entry fe[4];
    (void)rtcp_parse_fir(b, &s, fe, 4);
    rtcp_remb r;
    if (rtcp_parse_remb(b, &r) == 0 && r.n_stored > RTCP_REMB_MAX_SSRCS)
        abort();
    check_twcc(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int blocks = rtcp_count_blocks(data, size);
    if (size == 0) /* no blocks to iterate, but not a valid RTCP packet either */
        return blocks == -1 ? 0 : (abort(), 0);
    rtcp_iter it;
    rtcp_block b;
    int r, seen = 0;
    rtcp_iter_init(&it, data, size);
    while ((r = rtcp_next(&it, &b)) == 1) {
        if (b.offset + b.len > size)
            abort();
        parse_block(&b);
        seen++;
    }
    if ((blocks < 0) != (r < 0) || (blocks >= 0 && blocks != seen))
        abort();

    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    int changed = rtcp_rewrite_ssrcs(copy, size, xor_map, NULL);
    if (blocks < 0) {
        if (changed != -1 || memcmp(copy, data, size) != 0)
            abort();
    } else if (changed < 0 || rtcp_count_blocks(copy, size) != blocks) {
        abort();
    } else {
        /* xor twice restores the original */
        rtcp_rewrite_ssrcs(copy, size, xor_map, NULL);
        if (memcmp(copy, data, size) != 0)
            abort();
    }
    /* NACK filtering: answer every odd seq. A valid compound stays valid (or becomes empty)
     * and never grows; an invalid one is left alone. */
    memcpy(copy, data, size);
    size_t kept = rtcp_nack_filter(copy, size, odd_answered, NULL);
    if (kept > size || (blocks < 0 && (kept != size || memcmp(copy, data, size) != 0)) ||
        (blocks >= 0 && kept > 0 && rtcp_count_blocks(copy, kept) < 1))
        abort();
    free(copy);
    return 0;
}
