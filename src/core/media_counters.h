/*
 * media_counters: the packet path's contribution to /metrics — RTP packets and bytes per
 * direction and kind, RTCP packets and the feedback they carry (NACK, PLI, FIR), data channel
 * messages — added to the server-wide counters (core/server.h).
 *
 * Contract: callable from any thread on every packet. On a loop thread (loop_current_index)
 * a call adds to that loop's own shard of the counters with plain relaxed loads and stores
 * (one writer per shard: no locked instruction, no cache line shared with another loop);
 * elsewhere to the shared shard with atomic adds. Plus one walk over the blocks of a compound
 * RTCP packet, which is rare next to RTP. No lock, no allocation, no logging. The buffers are
 * only read, and never past len; a malformed RTCP packet is counted as a packet but its
 * feedback is not. media_counters_total sums the shards (any thread; each value monotonic).
 */
#ifndef PARLEY_CORE_MEDIA_COUNTERS_H
#define PARLEY_CORE_MEDIA_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/server.h"

typedef enum media_dir { MEDIA_DIR_IN = 0, MEDIA_DIR_OUT = 1 } media_dir;

/* kind: 0 audio, 1 video (plugin_media_kind); other values are ignored. */
void media_count_rtp(server_counters *c, media_dir dir, int kind, size_t len);
/* One compound RTCP packet, read in two steps because sending protects the buffer in place:
 * scan the plain packet first, count it once it went out (or as soon as it came in). */
typedef struct media_rtcp_tally {
    size_t len;
    uint8_t nacks, plis, firs;
} media_rtcp_tally;
media_rtcp_tally media_rtcp_scan(const uint8_t *buf, size_t len);
void media_count_rtcp(server_counters *c, media_dir dir, const media_rtcp_tally *t);
void media_count_data(server_counters *c, media_dir dir, size_t len);

typedef struct media_counter_totals {
    uint64_t rtp_packets[2][2], rtp_bytes[2][2];
    uint64_t rtcp_packets[2], rtcp_bytes[2];
    uint64_t data_messages[2], data_bytes[2];
    uint64_t nacks[2], plis[2], firs[2];
} media_counter_totals;
void media_counters_total(server_counters *c, media_counter_totals *out);

#endif
