/*
 * media_counters: see media_counters.h. Relaxed ordering is enough: the counters are read
 * only by /metrics, which needs each value to be monotonic, not consistent with the others.
 */
#include "core/media_counters.h"

#include "proto/rtcp.h"

static void add(atomic_uint_fast64_t *a, uint64_t v) { atomic_fetch_add_explicit(a, v, memory_order_relaxed); }

void media_count_rtp(server_counters *c, media_dir dir, int kind, size_t len)
{
    if (kind < 0 || kind > 1)
        return;
    add(&c->rtp_packets[dir][kind], 1);
    add(&c->rtp_bytes[dir][kind], len);
}

media_rtcp_tally media_rtcp_scan(const uint8_t *buf, size_t len)
{
    media_rtcp_tally t = {.len = len};
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, buf, len);
    while (rtcp_next(&it, &b) == 1) {
        if (b.pt == RTCP_PT_RTPFB && b.count == RTCP_RTPFB_NACK && t.nacks < UINT8_MAX)
            t.nacks++;
        else if (b.pt == RTCP_PT_PSFB && b.count == RTCP_PSFB_PLI && t.plis < UINT8_MAX)
            t.plis++;
        else if (b.pt == RTCP_PT_PSFB && b.count == RTCP_PSFB_FIR && t.firs < UINT8_MAX)
            t.firs++;
    }
    return t;
}

void media_count_rtcp(server_counters *c, media_dir dir, const media_rtcp_tally *t)
{
    add(&c->rtcp_packets[dir], 1);
    add(&c->rtcp_bytes[dir], t->len);
    if (t->nacks)
        add(&c->nacks[dir], t->nacks);
    if (t->plis)
        add(&c->plis[dir], t->plis);
    if (t->firs)
        add(&c->firs[dir], t->firs);
}

void media_count_data(server_counters *c, media_dir dir, size_t len)
{
    add(&c->data_messages[dir], 1);
    add(&c->data_bytes[dir], len);
}
