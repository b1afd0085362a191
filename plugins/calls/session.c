/*
 * session.c: calls_session lifetime and the peer link between the two legs (see session.h).
 *
 * Threads: vc_session_new/ref/unref on any thread; vc_session_link_peer / vc_session_unlink_peer on the
 * dispatch thread (the link is read by the leg's loop); the deferred release on the loop (or
 * at once when the handle never had a PeerConnection).
 */
#include "session.h"
#include "tone.h"

#include <stdlib.h>

calls_session *vc_session_new(plugin_handle *h)
{
    calls_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->handle = h;
    vc_core->handle_ref(h);
    s->user_id = vc_core->handle_user_id(h);
    atomic_init(&s->peer, NULL);
    atomic_init(&s->audio_on, true);
    atomic_init(&s->video_on, true);
    atomic_init(&s->bitrate, 0);
    atomic_init(&s->keyframe_wanted, false);
    atomic_init(&s->remb_due, false);
    atomic_init(&s->data_channels, 0);
    return s;
}

void vc_session_ref(calls_session *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void vc_session_unref(calls_session *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* Nobody links to a session whose count reached zero: the peer link holds a reference. */
    vc_core->handle_unref(s->handle);
    vc_tone_free(atomic_exchange(&s->tone, NULL));
    free(s->username);
    free(s);
}

void vc_session_play_tone(calls_session *s, uint32_t hz, uint32_t duration_ms)
{
    vc_tone *t = vc_tone_new(hz, duration_ms);
    if (t)
        vc_tone_free(atomic_exchange(&s->tone, t));
}

static void release_later(void *arg) { vc_session_unref(arg); }

static void release_peer_later(calls_session *s, calls_session *old)
{
    if (!old)
        return;
    /* Packets of s are handled on s's loop only, and loop_post is a barrier there (also for
     * a PeerConnection being torn down): once release_later runs, no incoming_* of s still
     * holds `old`. Without any PeerConnection ever, no callback can hold it: release now. */
    if (vc_core->loop_post(s->handle, release_later, old) != 0)
        vc_session_unref(old);
}

void vc_session_link_peer(calls_session *s, calls_session *peer)
{
    vc_session_ref(peer);
    calls_session *old = atomic_exchange_explicit(&s->peer, peer, memory_order_acq_rel);
    release_peer_later(s, old);
}

void vc_session_unlink_peer(calls_session *s)
{
    calls_session *old = atomic_exchange_explicit(&s->peer, NULL, memory_order_acq_rel);
    release_peer_later(s, old);
}

void vc_session_reset_switches(calls_session *s)
{
    atomic_store(&s->audio_on, true);
    atomic_store(&s->video_on, true);
    if (atomic_exchange(&s->bitrate, 0) != 0)
        atomic_store(&s->remb_due, true);
    atomic_store(&s->keyframe_wanted, false);
}

void vc_run_on_dispatch(plugin_fn fn, void *arg)
{
    if (vc_core->post(vc_self, fn, arg) == 0)
        return;
    atomic_fetch_add(&vc_stats.post_fallbacks, 1);
    vc_core->timer_start(vc_self, 0, fn, arg);
}
