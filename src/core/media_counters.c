/*
 * media_counters: see media_counters.h. Relaxed ordering is enough: the counters are read
 * only by /metrics, which needs each value to be monotonic, not consistent with the others.
 */
#include "core/media_counters.h"

#include "core/loop.h"
#include "proto/rtcp.h"

/* This thread's shard: its loop's, or the shared one. */
static media_counter_shard *shard_of(server_counters *c, bool *shared)
{
    int i = loop_current_index();
    *shared = i < 0 || i + 1 >= MEDIA_COUNTER_SHARDS;
    return &c->media[*shared ? 0 : i + 1];
}

static void add(bool shared, atomic_uint_fast64_t *a, uint64_t v)
{
    if (shared)
        atomic_fetch_add_explicit(a, v, memory_order_relaxed);
    else
        atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + v,
                              memory_order_relaxed);
}

void media_count_rtp(server_counters *c, media_dir dir, int kind, size_t len)
{
    if (kind < 0 || kind > 1)
        return;
    bool shared;
    media_counter_shard *m = shard_of(c, &shared);
    add(shared, &m->rtp_packets[dir][kind], 1);
    add(shared, &m->rtp_bytes[dir][kind], len);
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
    bool shared;
    media_counter_shard *m = shard_of(c, &shared);
    add(shared, &m->rtcp_packets[dir], 1);
    add(shared, &m->rtcp_bytes[dir], t->len);
    if (t->nacks)
        add(shared, &m->nacks[dir], t->nacks);
    if (t->plis)
        add(shared, &m->plis[dir], t->plis);
    if (t->firs)
        add(shared, &m->firs[dir], t->firs);
}

void media_count_data(server_counters *c, media_dir dir, size_t len)
{
    bool shared;
    media_counter_shard *m = shard_of(c, &shared);
    add(shared, &m->data_messages[dir], 1);
    add(shared, &m->data_bytes[dir], len);
}

static uint64_t ld(atomic_uint_fast64_t *a) { return atomic_load_explicit(a, memory_order_relaxed); }

void media_counters_total(server_counters *c, media_counter_totals *out)
{
    *out = (media_counter_totals){0};
    for (int s = 0; s < MEDIA_COUNTER_SHARDS; s++) {
        media_counter_shard *m = &c->media[s];
        for (int d = 0; d < 2; d++) {
            for (int k = 0; k < 2; k++) {
                out->rtp_packets[d][k] += ld(&m->rtp_packets[d][k]);
                out->rtp_bytes[d][k] += ld(&m->rtp_bytes[d][k]);
            }
            out->rtcp_packets[d] += ld(&m->rtcp_packets[d]);
            out->rtcp_bytes[d] += ld(&m->rtcp_bytes[d]);
            out->data_messages[d] += ld(&m->data_messages[d]);
            out->data_bytes[d] += ld(&m->data_bytes[d]);
            out->nacks[d] += ld(&m->nacks[d]);
            out->plis[d] += ld(&m->plis[d]);
            out->firs[d] += ld(&m->firs[d]);
        }
    }
}
