/*
 * fuzz_rtp: rtp_parse, extension iteration and find, id remapping (with a map taken from the
 * input) and the demux helpers. After a successful remap the packet must still parse with
 * the same layout and its extension block must still iterate cleanly. The receiver
 * statistics are fed with every 4-byte group of the payload read as (seq, ts low bits) to walk
 * odd sequence patterns; their report must stay self-consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rtp.h"
#include "proto/rtp_stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)rtp_demux_class(size ? data[0] : 0);
    (void)rtp_is_rtcp(data, size);
    if (size < 16)
        return 0;
    /* first 16 bytes: the remap table seed; the rest: the packet */
    uint8_t map[256];
    for (int i = 0; i < 256; i++)
        map[i] = (uint8_t)(data[i % 16] ^ (i * 7));
    data += 16;
    size -= 16;

    uint8_t *pkt = malloc(size ? size : 1);
    memcpy(pkt, data, size);
    rtp_view v;
    if (rtp_parse(pkt, size, &v) != 0) {
        if (rtp_ext_remap(pkt, size, map) != -1)
            abort();
        free(pkt);
        return 0;
    }
    if (v.payload_offset + v.payload_len + v.padding_len != size)
        abort();
    rtp_ext_iter it;
    uint8_t id;
    const uint8_t *d;
    size_t n;
    int r, count = 0;
    rtp_ext_iter_init(&it, pkt, &v);
    while ((r = rtp_ext_next(&it, &id, &d, &n)) == 1) {
        if (d < pkt + v.ext_offset || d + n > pkt + v.ext_offset + v.ext_len)
            abort();
        count++;
        (void)rtp_ext_find(pkt, &v, id, &d, &n);
    }
    int kept = rtp_ext_remap(pkt, size, map);
    if (r < 0 ? kept != -1 : (kept < 0 || kept > count))
        abort();
    rtp_view v2;
    if (rtp_parse(pkt, size, &v2) != 0 || v2.payload_offset != v.payload_offset ||
        v2.payload_len != v.payload_len || memcmp(pkt + v.payload_offset,
                                                  data + v.payload_offset, v.payload_len) != 0)
        abort();
    if (kept >= 0) {
        int after = 0;
        rtp_ext_iter_init(&it, pkt, &v2);
        while ((r = rtp_ext_next(&it, &id, &d, &n)) == 1)
            after++;
        if (r < 0 || after != kept)
            abort();
    }
    rtp_recv_stats st;
    rtp_recv_stats_init(&st, v.ssrc, v.pt & 1 ? 48000 : 90000);
    const uint8_t *pl = data + v.payload_offset;
    for (size_t i = 0; i + 4 <= v.payload_len; i += 4) {
        uint16_t seq = (uint16_t)(pl[i] << 8 | pl[i + 1]);
        rtp_recv_stats_update(&st, seq, v.timestamp + pl[i + 2] * 100u, i * 20000u + pl[i + 3]);
        if (i % 64 == 0) {
            rtcp_report_block rb;
            rtp_recv_stats_report(&st, i * 20000u, &rb);
            if (rb.highest_seq != rtp_recv_stats_extended_max(&st))
                abort();
        }
    }
    if (rtp_recv_stats_expected(&st) > (uint64_t)UINT32_MAX + 1)
        abort();
    rtp_set_ssrc(pkt, size, 1);
    rtp_set_seq(pkt, size, 2);
    rtp_set_timestamp(pkt, size, 3);
    if (rtp_parse(pkt, size, &v2) != 0 || v2.ssrc != 1 || v2.seq != 2 || v2.timestamp != 3)
        abort();
    free(pkt);
    return 0;
}
