/*
 * chat_bench: shared declarations of the chat benchmark's C client (chat_bench_client), a
 * light load client for a Janus-protocol server's textroom plugin (our chat plugin, or Janus
 * 1.1.2's janus.plugin.textroom with --janus) over data channels, with our own WebRTC peer
 * (media/peer.h: ICE, DTLS, SCTP data channels) at every client. It replaces the headless
 * Chromium page of chat_bench.mjs, whose ~300 us of CPU per message took most of the
 * machine's two cores away from the server it measures.
 *
 * Pieces (one job each):
 *  - chat_bench_client.c: options, the pairs file, the loop threads, the rows (pacing
 *    windows, drain, CPU readings) and teardown; prints one JSON line per event of the run.
 *  - chat_bench_setup.c: the signalling of a pair on a setup thread (Janus HTTP API session,
 *    attach, setup -> the server's offer -> our answer -> ack, the data channel, join), the
 *    keepalive thread, and destroying the sessions.
 *  - chat_bench_lane.c: the data path on a client loop thread: the paced senders, every
 *    message's timestamps, the hosts' `delivered` receipts, replies and error counts.
 *  - chat_bench_report.c: a row's figures from the lanes' records, as one JSON line.
 *  - bench_janus.c, media_bench_http.c, bench_pacer.c, bench_proc.c (shared with the other
 *    bench clients): the Janus HTTP API, the high-resolution timer, /proc and rusage.
 *
 * Load: P pairs, a caller and a host each, each pair its own room (a conversation of the
 * platform, or a Janus room the client creates). For a rate R (msg/s in all) every caller
 * sends one message each P/R seconds, each pair at its own phase, from a timer on its loop
 * (a timerfd re-armed for the next due message: messages leave spread in time, never in
 * bursts). The host answers every message with `delivered` (not with --janus, where there
 * are no receipts). Per message: t0 (sent), t_sent (the `success`/`error` reply), t_host (the
 * host got it), t_receipt (the delivered receipt at the caller), all g_get_monotonic_time().
 *
 * Keys: a message's client_id (and the uuid at the end of its text) is a UUID v4 in form
 * whose digits carry a run tag, the row, the lane and the message's index in that lane's
 * record array (key_make / key_record in chat_bench_lane.c), so that the host finds the record without a search. A reply
 * carries the transaction "c<row>.<index>". A receipt carries only the server's msg_id: a
 * per-lane open-addressing table maps msg_id -> index (filled from the `success` reply).
 *
 * Threads and ownership:
 *  - main thread: options, the pairs file, starting/stopping everything, rows, the report.
 *  - setup threads (--setup-parallel): each sets up whole pairs, one at a time; a client's
 *    bench_janus and bench_remote_cands are that thread's until it ends, then the keepalive
 *    thread's (it starts after every setup thread was joined), then the main thread's for
 *    teardown (after the keepalive thread was joined).
 *  - client loop threads (--client-loops, core/loop.h): both clients of a pair live on one
 *    loop; their peers' callbacks, the pair's pacing and the lane's records and tables run
 *    only there (no locks). The main thread touches a lane only through loop_invoke_sync
 *    (a barrier) or while that lane's row is inactive: then the loop still answers late
 *    messages but writes nothing of the lane's.
 *  - the atomic_* fields are shared between the loop and the setup/main threads.
 *  - a client's peer is created by its setup thread and closed by the main thread
 *    (peer_close waits for the loop), then unref'd.
 */
#ifndef PARLEY_BENCH_CHAT_BENCH_H
#define PARLEY_BENCH_CHAT_BENCH_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench_change.h"
#include "bench_janus.h"
#include "bench_pacer.h"
#include "core/loop.h"
#include "media/peer.h"
#include "media_bench_http.h"

#define CHB_MAX_RATES 16
#define CHB_LABEL "JanusDataChannel"   /* the channel browsers open (createDataChannel) */
#define CHB_MAX_ERROR_CODES 16
#define CHB_UUID_LEN 36

enum { CHB_CALLER = 0, CHB_HOST = 1 };

typedef struct chb_config {
    mb_url url;
    const char *pairs_file;
    int rates[CHB_MAX_RATES];
    int n_rates;
    double seconds, drain_s, idle_s;
    int client_loops;
    int setup_parallel;
    int setup_timeout_ms;      /* per client: from create to the data channel open */
    bool janus;                /* Janus 1.1.2 textroom: create rooms, no receipts, no client_id */
    int server_pid;            /* its CPU is read per row; 0 = not measured */
    peer_config peer;
    bool verbose;
} chb_config;

struct chb_pair;

typedef struct chb_client {
    struct chb_pair *pair;
    int role;                  /* CHB_CALLER or CHB_HOST */
    char username[64];         /* the user id as text (ours) or c<n> / h<n> (Janus) */
    char *token;               /* the access token (malloc'd), NULL with --janus */
    peer_t *peer;              /* created by the setup thread; closed by the main thread */
    bench_janus janus;         /* setup thread, then keepalive thread, then main thread */
    bench_remote_cands cands;  /* setup thread */
    bench_janus_events events; /* setup thread (webrtcup, hangups) */
    char *offer;               /* setup thread: the server's offer until answered */
    char join_tx[24];          /* the join's transaction (set before the join is sent) */

    atomic_bool gathered, open, failed;
    atomic_bool poll_stop;     /* abandons the setup long-poll once the channel is open */
    atomic_int join_state;     /* 0 waiting, 1 joined, -1 refused */
    char error[256];           /* the first failure (written once, by whoever set failed) */
} chb_client;

typedef struct chb_pair {
    int index;
    int64_t room;
    chb_client c[2];
    struct chb_lane *lane;
    atomic_bool ready;         /* both joined: the pair takes part in the rows */
    int order;                 /* its place among the ready pairs (its phase); main thread */
    int64_t next_due;          /* loop: the next message's due time (us) */
} chb_pair;

/* One message of a row (lane loop; the main thread once the row is stopped). 0 = not yet. */
typedef struct chb_record {
    int64_t t0, t_sent, t_host, t_receipt;
    bool refused;              /* the reply was an error: nothing else will come */
    char msg_id[CHB_UUID_LEN + 1];  /* from the `success` reply ("" until then) */
} chb_record;

typedef struct chb_error_count {
    int code, count;
} chb_error_count;

/* A client loop thread's share of the load: its pairs and the current row's records. */
typedef struct chb_lane {
    loop_t *loop;
    int index;
    const chb_config *cfg;
    chb_pair **pairs;          /* the ready pairs of this loop (main thread, before rows) */
    size_t n_pairs;
    chb_pair **heap;           /* loop: pairs by next_due (a min-heap) */
    size_t n_heap;
    bench_hrtimer *timer;      /* loop */

    /* The current row: set on the loop by chb_lane_row_start, read by the main thread after
     * chb_lane_row_stop. */
    bool active;               /* replies and arrivals count */
    bool sending;              /* the pacer sends */
    uint32_t row;
    int64_t interval_us, end_us;
    chb_record *rec;           /* cap_rec preallocated records; n_rec used */
    size_t n_rec, cap_rec;
    uint32_t *slots;           /* msg_id table: record index + 1, 0 = empty */
    size_t slot_mask;
    chb_error_count errors[CHB_MAX_ERROR_CODES];
    int n_errors;
    uint64_t send_errors;      /* peer_send_data refused */
    uint64_t late_sends;       /* sent more than 2 ms after due */
    int64_t max_late_us;
    uint64_t unmatched;        /* replies/arrivals/receipts that match no record of the row */
    uint64_t bad_json;
    uint64_t rng;              /* xorshift state for the keys' random digits */
    char out[1024];            /* the outgoing request being written */
} chb_lane;

/* The run tag in every key (random per process). */
extern uint32_t chb_run_tag;

/* ---- chat_bench_lane.c (loop thread unless said otherwise) ---- */

/* The peer callbacks of a client (they run on its pair's loop). */
peer_callbacks chb_peer_callbacks(chb_client *c);

/* A row as the main thread plans it; chb_lane_row_start copies it on the loop. */
typedef struct chb_row_plan {
    chb_lane *lane;
    uint32_t row;
    int64_t start_us, end_us, interval_us;   /* the first due time, no send from end_us on */
    int n_ready;               /* ready pairs over all lanes: the phases spread over them */
} chb_row_plan;

/* What chb_lane_count_missing answers. */
typedef struct chb_missing {
    chb_lane *lane;
    size_t n;                  /* the row's messages still waiting for a reply, the host or
                                  (with receipts) the receipt */
} chb_missing;

/* loop_invoke targets. send_join: sends the client's join (c->join_tx set first).
 * row_start (arg: a chb_row_plan): resets the lane's row state and starts the pacer.
 * row_stop (arg: the lane): no more sends, nothing counts after it.
 * count_missing (arg: a chb_missing). detach (arg: the lane): frees the timer. */
void chb_send_join(void *client);
void chb_lane_row_start(void *plan);
void chb_lane_row_stop(void *lane);
void chb_lane_count_missing(void *missing);
void chb_lane_detach(void *lane);

/* ---- chat_bench_setup.c ---- */

/* Sets up every pair with cfg->setup_parallel threads; returns how many are ready.
 * Main thread. */
int chb_setup_pairs(chb_pair *pairs, int n, const chb_config *cfg);
/* The keepalive thread: a keepalive on every session each 20 s until chb_keepalive_stop. */
void chb_keepalive_start(chb_pair *pairs, int n);
void chb_keepalive_stop(void);
/* Closes the peers and destroys the server sessions. Main thread, after keepalive_stop. */
void chb_teardown_pairs(chb_pair *pairs, int n);

/* Marks the client failed (the first reason wins) and wakes the waiters. Any thread. */
void chb_fail(chb_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* State changes: bench_change.h (bench_change_notify / _generation / _wait). */

/* ---- chat_bench_report.c (main thread, lanes stopped) ---- */

/* What the main thread measured around a row. */
typedef struct chb_row_meta {
    int rate;
    int64_t start_us;          /* the first due time */
    double client_cpu_s;       /* this process (getrusage), from the row's start to its end
                                  after the drain */
    double server_cpu_s;       /* the server's over the same span; < 0: not measured */
    double wall_s;             /* that span */
    int clients_failed;        /* clients marked failed by the end of the row */
    json_t *server_threads;    /* {"<thread name>": CPU seconds over the span} (stolen); NULL */
} chb_row_meta;

/* Prints the row's JSON line on stdout. */
void chb_report_row(chb_lane *lanes, int n_lanes, bool receipts, const chb_row_meta *meta);

#endif
