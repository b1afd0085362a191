/*
 * media.c: the relay between the two legs of a call, on their (shared) media loop.
 *
 * A leg's incoming RTP/RTCP/data goes to the other leg's handle (the peer link, see
 * session.h): both PeerConnections were placed on one loop (handle_colocate), so relaying is
 * a plain call. Per packet: a few atomic loads, no lock, no allocation.
 *   - RTP: relayed when that user's audio/video switch is on. A keyframe request (PLI) set
 *     off the loop (video switched back on, a leg's PeerConnection came up) is sent from the
 *     sender's next video packet, since only its loop may send on its handle.
 *   - RTCP: relayed; when it carried REMB/TWCC that could raise the other user's rate above
 *     the cap that user set, our own REMB with the cap follows it. A user's own cap is also
 *     repeated about once a second from its RTCP (as echotest does), and announced at the
 *     first packet after `set` changed it.
 *   - slow_link: the user whose link loses packets gets Janus's videocall "slow_link" event
 *     (media, current-bitrate = its cap, 0 = none) plus ours: uplink and lost.
 *   - setup_media / hangup_media: hand the event to the dispatch thread (call state lives
 *     there) with a session reference.
 *
 * Threads: the loop owning the session's PeerConnection.
 */
#include "media.h"

#include <stdio.h>
#include <time.h>

#include "feedback.h"
#include "session.h"
#include "tone.h"

#define NO_CAP_BITRATE 10000000u     /* "no limit" REMB, as Janus sends when a cap is lifted */
#define OWN_CAP_EVERY_MS 1000u
#define TWCC_CAP_EVERY_MS 250u       /* TWCC comes every ~50-100 ms: cap it less often */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* True (and *last updated) when at least `every` ms passed since *last. */
static bool due(uint64_t *last, uint64_t now, uint64_t every)
{
    if (*last && now - *last < every)
        return false;
    *last = now;
    return true;
}

static calls_session *peer_of(calls_session *s)
{
    return atomic_load_explicit(&s->peer, memory_order_acquire);
}

/* A cap changed by `set` (or lifted at the end of a call): tell the sender now. */
static void announce_cap_change(calls_session *s)
{
    if (!atomic_load_explicit(&s->remb_due, memory_order_relaxed) || !atomic_exchange(&s->remb_due, false))
        return;
    unsigned cap = atomic_load_explicit(&s->bitrate, memory_order_relaxed);
    vc_core->send_remb(s->handle, cap ? cap : NO_CAP_BITRATE);
}

/* Billing's "media flows" clock: a store only when the coarse clock moved (once per ms at
 * most), so the shared cache line is not written per packet. */
static void note_media(calls_session *s)
{
    int64_t now = (int64_t)now_ms();
    if (atomic_load_explicit(&s->media_seen_ms, memory_order_relaxed) != now)
        atomic_store_explicit(&s->media_seen_ms, now, memory_order_relaxed);
}

/* A warning tone for the receiving user (session.h: the hand-over). The packet may only
 * shrink: relay_rtp needs its headroom after len. */
static size_t mix_tone(calls_session *to, uint8_t *buf, size_t len)
{
    vc_tone *t = atomic_exchange_explicit(&to->tone, NULL, memory_order_acquire);
    if (!t)
        return len;
    bool done;
    len = vc_tone_mix(t, buf, len, len, &done);
    vc_tone *none = NULL;
    if (done || !atomic_compare_exchange_strong_explicit(&to->tone, &none, t, memory_order_release,
                                                         memory_order_relaxed))
        vc_tone_free(t);
    return len;
}

void vc_media_rtp(void *session, plugin_media_kind kind, uint8_t *buf, size_t len)
{
    calls_session *s = session;
    note_media(s);
    announce_cap_change(s);
    if (kind == PLUGIN_MEDIA_VIDEO && atomic_load_explicit(&s->keyframe_wanted, memory_order_relaxed) &&
        atomic_exchange(&s->keyframe_wanted, false))
        vc_core->send_pli(s->handle);
    calls_session *peer = peer_of(s);
    if (!peer)
        return;
    bool on = kind == PLUGIN_MEDIA_VIDEO ? atomic_load_explicit(&s->video_on, memory_order_relaxed)
                                         : atomic_load_explicit(&s->audio_on, memory_order_relaxed);
    if (!on)
        return;
    if (kind == PLUGIN_MEDIA_AUDIO && atomic_load_explicit(&peer->tone, memory_order_relaxed))
        len = mix_tone(peer, buf, len);
    vc_core->relay_rtp(peer->handle, kind, buf, len);
}

void vc_media_rtcp(void *session, plugin_media_kind kind, uint8_t *buf, size_t len)
{
    calls_session *s = session;
    announce_cap_change(s);
    /* Scan before relaying: relay_rtcp rewrites and protects buf in place. */
    unsigned feedback = vc_rtcp_feedback_scan(buf, len);
    uint64_t now = now_ms();
    calls_session *peer = peer_of(s);
    if (peer) {
        vc_core->relay_rtcp(peer->handle, kind, buf, len);
        unsigned peer_cap = atomic_load_explicit(&peer->bitrate, memory_order_relaxed);
        if (peer_cap && ((feedback & FEEDBACK_REMB) ||
                         ((feedback & FEEDBACK_TWCC) && due(&s->peer_cap_sent_ms, now, TWCC_CAP_EVERY_MS))))
            vc_core->send_remb(peer->handle, peer_cap);
    }
    unsigned own_cap = atomic_load_explicit(&s->bitrate, memory_order_relaxed);
    if (own_cap && kind == PLUGIN_MEDIA_VIDEO && due(&s->own_cap_sent_ms, now, OWN_CAP_EVERY_MS))
        vc_core->send_remb(s->handle, own_cap);
}

void vc_media_data(void *session, const char *label, int binary, const uint8_t *buf, size_t len)
{
    calls_session *peer = peer_of(session);
    if (peer && buf && len)
        vc_core->relay_data(peer->handle, label, binary, buf, len);
}

void vc_media_data_open(void *session, const char *label)
{
    (void)label;
    atomic_fetch_add(&((calls_session *)session)->data_channels, 1);
}

void vc_media_data_close(void *session, const char *label)
{
    (void)label;
    atomic_fetch_sub(&((calls_session *)session)->data_channels, 1);
}

void vc_media_setup(void *session)
{
    calls_session *s = session;
    /* A receiver that just came up decodes only from a keyframe, and aiortc never sends one
     * unasked: ask the other leg's sender. This leg's own stream is new too. */
    calls_session *peer = peer_of(s);
    if (peer)
        atomic_store(&peer->keyframe_wanted, true);
    atomic_store(&s->keyframe_wanted, true);
    vc_session_ref(s);
    vc_run_on_dispatch(vc_leg_media_up, s);
}

void vc_media_hangup(void *session)
{
    calls_session *s = session;
    atomic_store(&s->data_channels, 0);
    vc_session_ref(s);
    vc_run_on_dispatch(vc_leg_media_down, s);
}

void vc_media_slow_link(void *session, bool uplink, plugin_media_kind kind, uint32_t lost)
{
    calls_session *s = session;
    char text[192];
    snprintf(text, sizeof text,
             "{\"videocall\":\"event\",\"result\":{\"event\":\"slow_link\",\"media\":\"%s\","
             "\"current-bitrate\":%u,\"uplink\":%s,\"lost\":%u}}",
             kind == PLUGIN_MEDIA_VIDEO ? "video" : "audio", atomic_load(&s->bitrate), uplink ? "true" : "false", lost);
    vc_core->push_event(s->handle, NULL, text, NULL);
}
