/*
 * session.h: the calls plugin's state for one attached handle (a "leg" once in a call), and
 * what the plugin's files share (the core's callbacks, the hand-off to the dispatch thread).
 *
 * Threads:
 *   - the dispatch thread owns the fields marked "dispatch" (writes of username/call happen
 *     under the plugin's view lock, because query_session and admin read them on any thread);
 *   - the loop owning the session's PeerConnection reads the atomics (switches, caps, the
 *     peer link) per packet, without locks;
 *   - "loop-only" fields are touched by that loop alone.
 *
 * Ownership: reference-counted. The core's reference (from create_session) is handed to the
 * work destroy_session posts to the dispatch thread; work posted from a loop holds its own;
 * a peer link holds one on the peer. The session holds a handle reference for its whole life,
 * so session->handle is valid while the session is (calls on a detached handle are no-ops).
 * The last vc_session_unref frees it, on whichever thread that happens.
 */
#ifndef PARLEY_CALLS_SESSION_H
#define PARLEY_CALLS_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "plugin.h"

typedef struct calls_session calls_session;

struct calls_session {
    atomic_int refs;
    plugin_handle *handle;      /* referenced (handle_ref) until the session is freed */
    uint64_t user_id;           /* the authenticated user, 0 with auth off */

    /* dispatch */
    char *username;             /* NULL until registered */
    call *call;                 /* the call it is a party of: its caller, or the answering device */
    bool gone;                  /* destroy_session's work ran: late media events are ignored */

    /* read per packet by the loop owning this session's PeerConnection */
    _Atomic(calls_session *) peer;  /* the other leg while a call is active (holds a reference) */
    atomic_bool audio_on, video_on; /* relay this user's audio / video to the peer */
    atomic_uint bitrate;            /* cap on what this user sends (bit/s), 0 = none */
    atomic_bool keyframe_wanted;    /* ask this user for a keyframe at its next video packet */
    atomic_bool remb_due;           /* the cap changed: announce it at the next packet */
    atomic_int data_channels;       /* open data channels (for query_session) */
    /* written by the loop (coarse monotonic ms of the newest RTP from this user, at most once
     * per ms), read by the dispatch thread's media sweep for billing */
    _Atomic int64_t media_seen_ms;
    /* A warning tone to mix into what this user receives (tone.h). Handed over by exchange:
     * the dispatch thread stores a new one (freeing one the loop is not using: while the loop
     * mixes, the slot is NULL); the loop takes it for a packet and puts it back, or frees it
     * when it was played (or a newer one arrived meanwhile). Freed with the session. */
    _Atomic(struct vc_tone *) tone;

    /* loop-only: when this session's incoming_rtcp last sent a cap REMB (monotonic ms) */
    uint64_t own_cap_sent_ms, peer_cap_sent_ms;
};

/* Set by the plugin's init, read everywhere. */
extern const core_callbacks *vc_core;
extern plugin_ctx *vc_self;

/* Counters for the admin hook (any thread). */
typedef struct calls_counters {
    atomic_ulong calls_created, calls_answered, calls_ended;
    atomic_ulong record_failures;   /* call_record returned -1 */
    atomic_ulong post_fallbacks;    /* post() queue full: the work went through a 0 ms timer */
} calls_counters;
extern calls_counters vc_stats;

calls_session *vc_session_new(plugin_handle *h);
void vc_session_ref(calls_session *s);
void vc_session_unref(calls_session *s);

/* Dispatch: makes peer s's other leg for the relay (takes a reference on peer). */
void vc_session_link_peer(calls_session *s, calls_session *peer);
/* Dispatch: s stops relaying. The reference on the old peer is dropped on s's loop, after
 * any packet callback that may still be using it (RCU-style: loop_post runs after them);
 * call it while s's PeerConnection still exists (before close_pc). */
void vc_session_unlink_peer(calls_session *s);
/* Back to "relay everything, no cap" (at the end of a call). */
void vc_session_reset_switches(calls_session *s);

/* Runs fn(arg) on the plugin's dispatch thread. When the post queue is full it goes through a
 * 0 ms timer instead (timers have no such bound), so the work is never lost. */
void vc_run_on_dispatch(plugin_fn fn, void *arg);
/* Mixes a tone into what s receives from now on (replacing one still playing). Any thread. */
void vc_session_play_tone(calls_session *s, uint32_t hz, uint32_t duration_ms);

#endif
