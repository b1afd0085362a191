/*
 * calls_bench: shared declarations of the 1:1 calls benchmark, a load client that places N
 * concurrent calls through a Janus-protocol server's videocall plugin
 * (janus.plugin.videocall: register / call / incomingcall / accept / accepted / hangup) over
 * the HTTP API, with our own WebRTC peer (media/peer.h) on both ends of every call.
 *
 * Pieces:
 *  - media_bench_http.c (shared with media_bench): the blocking HTTP/1.1 client.
 *  - bench_janus.c, bench_proc.c, bench_stats.c (shared with media_bench): the Janus API
 *    session and signalling helpers, /proc readers, percentiles.
 *  - calls_bench_call.c: the signalling of one leg (caller or callee) on its own thread:
 *    create/attach/register, the caller's offer and "call", the callee's answer to the
 *    server's offer and "accept", trickled candidates, long-polling until the end, teardown.
 *  - calls_bench.c: options, the paced senders (client loop threads), the receivers'
 *    checks, server CPU/RSS sampling and the report.
 *
 * Threads: the main thread; one signalling thread per leg (cbl_thread); a few client loop
 * threads (core/loop.h, --client-loops). Both legs of a call live on the same loop. Fields
 * marked "loop" are only touched on that loop thread; "atomic" ones are shared.
 *
 * Payload layout (the media_bench format, extended with the direction and the kind): [0..3]
 * codec bytes (VP8 descriptor + interframe tag, or an Opus TOC), [4..7] magic, [8..11] call
 * index, [12] direction (the sending leg: 0 caller, 1 callee), [13] kind (0 audio, 1 video),
 * [14..15] zero, [16..19] per-stream counter, [20..27] send time (us,
 * g_get_monotonic_time, the same clock on both ends), then a fixed filler pattern.
 */
#ifndef PARLEY_BENCH_CALLS_BENCH_H
#define PARLEY_BENCH_CALLS_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "media/peer.h"
#include "bench_change.h"
#include "bench_janus.h"
#include "media_bench_http.h"

#define CB_MAGIC 0x50524c43u /* "PRLC" */
#define CB_HDR_BYTES 28u
#define CB_MAX_PAYLOAD 1400u

enum { CB_AUDIO = BENCH_AUDIO, CB_VIDEO = BENCH_VIDEO };
enum { CB_CALLER = 0, CB_CALLEE = 1 };

typedef struct cb_config {
    mb_url url;
    const char *plugin;
    int calls;
    int setup_parallel;      /* calls being set up at once */
    int audio_pps, audio_payload;
    int video_pps, video_payload, video_fps;
    double warmup_s, duration_s, drain_s;
    int late_ms;             /* a packet arriving later than this counts as late */
    int setup_timeout_ms;    /* per call, from "call" to both peers SECURE */
    int client_loops;
    peer_config peer;
    int server_pid;
    const char *label;
    char user_prefix[40];    /* usernames are <prefix><call>a / <prefix><call>b */
    bool verbose;
} cb_config;

/* One outgoing RTP stream of a leg (loop). */
typedef struct cb_stream {
    struct cb_leg *leg;
    int kind;
    int64_t next_due;        /* g_get_monotonic_time() us */
    int64_t interval_us;
    uint16_t seq;
    uint32_t ts, ssrc, counter;
    int frame_pkt;           /* video: packets of the current frame sent so far */
    uint32_t frame_no;
} cb_stream;

typedef struct cb_leg {
    struct cb_call *call;
    int role;                /* CB_CALLER or CB_CALLEE */
    char username[64];
    peer_t *peer;

    /* Signalling timeline, g_get_monotonic_time() us; 0 = not reached. */
    int64_t t_registered, t_remote, t_secure, t_failed;
    atomic_bool registered, gathered, secure, failed;
    atomic_bool failed_later; /* our peer went FAILED after the call was up */
    bench_janus_events events; /* webrtcup (t_webrtcup), hangups, media, slowlinks */
    char error[256];

    /* Negotiated (signalling thread before the load; read-only afterwards). */
    bool has[2];
    uint8_t pt[2];
    int srtp_profile;

    /* Data path (loop). */
    cb_stream tx[2];
    uint64_t sent, rx[2], rx_bad, rx_wrong_pt, rx_reordered, rtcp_in;
    uint32_t rx_next[2];     /* next expected counter per kind */

    void *thread;            /* GThread of the signalling */
} cb_leg;

typedef struct cb_call {
    int index;
    const cb_config *cfg;
    loop_t *loop;
    struct cb_lane *lane;    /* the data-path state of that loop (calls_bench.c) */
    cb_leg leg[2];
    /* call: the caller's "call" request; incoming: the callee saw incomingcall; accept: the
     * callee's "accept" request; answer: the caller got "accepted" with the answer; up: both
     * peers SECURE. */
    int64_t t_call, t_incoming, t_accept, t_answer, t_up;
    atomic_bool ready, failed, stop;
} cb_call;

/* Per-packet bookkeeping of the receiving leg (calls_bench.c, loop thread). */
void cb_on_rtp(cb_leg *leg, uint8_t *buf, size_t len);

/* Signalling thread body of one leg (calls_bench_call.c). */
void *cbl_thread(void *arg);

/* Marks the call failed (first reason wins) and wakes the main thread. Any thread. */
void cb_fail(cb_leg *leg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* State changes: bench_change.h (bench_change_notify / _generation / _wait). */

#endif
