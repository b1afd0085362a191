/*
 * media_bench: shared declarations of the media forwarding benchmark (a load client that
 * drives a Janus-protocol server's echotest over the HTTP API with our own WebRTC peer).
 *
 * Pieces:
 *  - media_bench_http.c: blocking HTTP/1.1 client.
 *  - bench_janus.c, bench_proc.c, bench_stats.c (shared with calls_bench): the Janus API
 *    session and signalling helpers, /proc readers, percentiles.
 *  - media_bench_session.c: one echotest session: our peer (offerer), create/attach/offer,
 *    long-poll for the answer, trickle and webrtcup, and teardown. Runs on its own thread.
 *  - media_bench.c: options, the load generator (on the client's loop threads: spread per
 *    session by a microsecond timer, or 1 ms bursts), echo
 *    verification, server CPU sampling and the report.
 *
 * Threads: the main thread; one signalling thread per session (mbs_thread); a few client
 * loop threads (core/loop.h, --client-loops), each owning its sessions' peers and sending
 * and receiving for them. Fields marked
 * "loop" are only touched on the loop thread; "atomic" ones are shared.
 */
#ifndef PARLEY_BENCH_MEDIA_BENCH_H
#define PARLEY_BENCH_MEDIA_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "media/peer.h"
#include "bench_janus.h"
#include "media_bench_http.h"

/* Bytes at the start of every payload: [0..3] codec bytes (VP8 descriptor + interframe
 * header for video, opus-like TOC for audio), [4..7] magic, [8..11] session index,
 * [12..15] packet counter, [16..23] send time (us, g_get_monotonic_time), then a fixed
 * filler pattern. */
#define MB_MAGIC 0x50524c42u /* "PRLB" */
#define MB_HDR_BYTES 24u
#define MB_MAX_PAYLOAD 1400u

enum { MB_ARRIVAL_PACED, MB_ARRIVAL_POISSON, MB_ARRIVAL_BURST };

typedef struct mb_config {
    mb_url url;
    const char *plugin;
    int sessions;
    int setup_parallel;
    int rate;            /* total packets per second sent, all sessions */
    int audio_pps;       /* audio packets per second per session (part of rate) */
    int arrival;         /* MB_ARRIVAL_*: how each session's packets are spaced in time */
    int video_payload;   /* bytes */
    int audio_payload;
    double warmup_s, duration_s;
    int setup_timeout_ms;
    int client_loops;    /* loop threads of this client; sessions are spread over them */
    peer_config peer;
    int server_pid;
    const char *label;
    bool verbose;
} mb_config;

typedef struct mb_session {
    int index;
    const mb_config *cfg;
    loop_t *loop;
    struct mb_lane *lane; /* the data-path state of that loop (media_bench.c) */
    peer_t *peer;

    /* Signalling timeline, g_get_monotonic_time() us; 0 = not reached. */
    int64_t t_create, t_answer, t_secure, t_failed;
    atomic_bool gathered, secure, failed, ready, done, stop;
    atomic_bool failed_later;  /* our peer went FAILED after the session was up */
    bench_janus_events events; /* webrtcup (t_webrtcup), hangups, media, slowlinks */
    char error[256];

    /* Negotiated; per kind (BENCH_AUDIO, BENCH_VIDEO). */
    uint8_t pt[2];
    uint32_t ssrc[2];
    bool has[2];
    int srtp_profile;

    /* Data path (loop). */
    uint16_t a_seq, v_seq;
    uint32_t a_ts, v_ts;
    int v_in_frame;      /* packets of the current frame sent so far */
    int v_frame_pkts;    /* packets per video frame */
    uint32_t counter;
    double next_due;     /* spread arrivals: when its next packet leaves (monotonic us) */
    uint64_t sent, echoed, bad, rtcp_in;

    void *thread;        /* GThread of the signalling */
} mb_session;

/* Per-packet bookkeeping the session's peer callbacks report to (media_bench.c, loop). */
void mb_on_rtp(mb_session *s, uint8_t *buf, size_t len);

/* Signalling thread body: sets up the session (ready or failed), then long-polls until
 * s->stop, then destroys the server session and closes the peer. */
void *mbs_thread(void *arg);

/* The shared state the main thread waits on for setup progress. */
void mbs_notify(void);

#endif
