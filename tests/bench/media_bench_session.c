/*
 * media_bench_session: one echotest session of the benchmark, on its own signalling thread.
 *
 * Our peer makes the offer (peer_gather_as_offerer: ICE controlling, DTLS actpass) before
 * the Janus "create", so the create->webrtcup time covers the server's work and the
 * connectivity/DTLS exchange, not our local gathering. The answer's transport parameters
 * and any trickled candidates (buffered until the answer arrives, as Janus may send them
 * first) are handed to the peer; the session is ready once our peer is SECURE and the
 * server said webrtcup. The Janus API and the candidate handling are bench_janus.c's.
 */
#include "media_bench.h"

#include <glib.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sdp.h"

typedef struct mbs_ctx {
    mb_session *s;
    bench_janus janus;
    bench_remote_cands cands;  /* cands.applied: the answer is on our peer */
} mbs_ctx;

static void fail(mb_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(mb_session *s, const char *fmt, ...)
{
    if (!atomic_load(&s->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->error, sizeof s->error, fmt, ap);
        va_end(ap);
        atomic_store(&s->failed, true);
    }
    mbs_notify();
}

static void janus_failed(void *user, const char *reason)
{
    mbs_ctx *c = user;
    fail(c->s, "%s", reason);
}

/* ---- peer callbacks (loop thread) ---- */

static void cb_gathering_done(void *user)
{
    mb_session *s = user;
    atomic_store(&s->gathered, true);
}

static void cb_state(void *user, peer_state st)
{
    mb_session *s = user;
    if (st == PEER_STATE_SECURE && !atomic_load(&s->secure)) {
        s->t_secure = g_get_monotonic_time();
        s->srtp_profile = peer_srtp_profile(s->peer);
        atomic_store(&s->secure, true);
        mbs_notify();
    } else if (st == PEER_STATE_FAILED) {
        if (atomic_load(&s->ready)) {
            /* Failing under load (e.g. ICE consent lost to drops) is a result to report. */
            s->t_failed = g_get_monotonic_time();
            atomic_store(&s->failed_later, true);
        }
        fail(s, "our peer went to FAILED (ICE or DTLS)");
    }
}

static void cb_rtp(void *user, uint8_t *buf, size_t len)
{
    mb_on_rtp(user, buf, len);
}

static void cb_rtcp(void *user, uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    mb_session *s = user;
    s->rtcp_in++;
}

/* ---- SDP ---- */

static int apply_answer(mbs_ctx *c, const char *text)
{
    mb_session *s = c->s;
    sdp_session *a = NULL;
    char err[160];
    if (s->cfg->verbose)
        fprintf(stderr, "session %d answer:\n%s", s->index, text);
    if (sdp_parse(text, strlen(text), &a, err, sizeof err) != 0) {
        fail(s, "answer SDP refused: %s", err);
        return -1;
    }
    int rc = bench_apply_remote(&c->cands, s->peer, a, "answer", s->has, s->pt, err,
                                sizeof err);
    sdp_free(a);
    if (rc != 0) {
        fail(s, "%s", err);
        return -1;
    }
    s->t_answer = g_get_monotonic_time();
    return 0;
}

/* ---- events ---- */

static void on_event(void *user, json_t *ev)
{
    mbs_ctx *c = user;
    mb_session *s = c->s;
    const char *reason = NULL;
    switch (bench_janus_event(ev, &s->events, &c->cands, s->peer, &reason)) {
    case BENCH_JANUS_EV_PLUGIN: {
        json_t *jsep = json_object_get(ev, "jsep");
        const char *type = json_string_value(json_object_get(jsep, "type"));
        const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
        if (type && sdp && strcmp(type, "answer") == 0 && !c->cands.applied)
            apply_answer(c, sdp);
        break;
    }
    case BENCH_JANUS_EV_WEBRTCUP:
        mbs_notify();
        break;
    case BENCH_JANUS_EV_HANGUP:
        if (!atomic_load(&s->ready))
            fail(s, "server hung up during setup");
        break;
    case BENCH_JANUS_EV_ERROR:
        if (!atomic_load(&s->ready))
            fail(s, "server error: %s", reason);
        break;
    case BENCH_JANUS_EV_OTHER:
        break;
    }
}

static int send_offer(mbs_ctx *c)
{
    mb_session *s = c->s;
    char stream[32], track[16];
    snprintf(stream, sizeof stream, "bench%d", s->index);
    snprintf(track, sizeof track, "%d", s->index);
    char *offer = bench_janus_offer(s->peer, (uint64_t)g_random_int() * 1000u +
                                    (uint64_t)s->index, stream, track, s->ssrc, false);
    if (!offer) {
        fail(s, "no local candidates to offer");
        return -1;
    }
    if (s->cfg->verbose)
        fprintf(stderr, "session %d offer:\n%s", s->index, offer);
    int rc = bench_janus_message(&c->janus, json_pack("{s:b,s:b}", "audio", 1, "video", 1),
                                 "offer", offer);
    g_free(offer);
    return rc;
}

static bool wait_gathered(mb_session *s)
{
    int64_t end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (!atomic_load(&s->gathered)) {
        if (g_get_monotonic_time() > end)
            return false;
        g_usleep(1000);
    }
    return true;
}

static void setup(mbs_ctx *c)
{
    mb_session *s = c->s;
    peer_callbacks cb = {.user = s, .gathering_done = cb_gathering_done,
                         .state_changed = cb_state, .rtp = cb_rtp, .rtcp = cb_rtcp};
    s->peer = peer_create(s->loop, &s->cfg->peer, &cb);
    if (!s->peer || peer_gather_as_offerer(s->peer) != 0) {
        fail(s, "peer_create/peer_gather_as_offerer failed");
        return;
    }
    if (!wait_gathered(s)) {
        fail(s, "our peer did not finish gathering in 5 s");
        return;
    }
    s->t_create = g_get_monotonic_time();
    if (bench_janus_create_attach(&c->janus, s->cfg->plugin) != 0 || send_offer(c) != 0)
        return;
    int64_t deadline = s->t_create + (int64_t)s->cfg->setup_timeout_ms * 1000;
    while (!atomic_load(&s->failed) && !atomic_load(&s->stop)) {
        bool answered = c->cands.applied, webrtcup = atomic_load(&s->events.webrtcup);
        if (atomic_load(&s->secure) && webrtcup && answered) {
            atomic_store(&s->ready, true);
            mbs_notify();
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            fail(s, "setup timed out (answer %s, our DTLS %s, webrtcup %s)",
                 answered ? "yes" : "no", atomic_load(&s->secure) ? "up" : "down",
                 webrtcup ? "yes" : "no");
            return;
        }
        /* webrtcup may come before our own DTLS finishes: then just wait for the peer. */
        if (webrtcup && answered) {
            g_usleep(1000);
            continue;
        }
        if (bench_janus_poll_once(&c->janus) < 0)
            fail(s, "long-poll failed during setup");
    }
}

void *mbs_thread(void *arg)
{
    mbs_ctx c = {.s = arg};
    mb_session *s = c.s;
    c.janus = (bench_janus){.url = &s->cfg->url, .stop = &s->stop, .fail = janus_failed,
                            .on_event = on_event, .user = &c};
    snprintf(c.cands.label, sizeof c.cands.label, "session %d", s->index);
    c.cands.verbose = s->cfg->verbose;
    setup(&c);
    /* Keep long-polling so the server session stays alive and its events are drained. */
    while (atomic_load(&s->ready) && !atomic_load(&s->stop))
        if (bench_janus_poll_once(&c.janus) < 0)
            g_usleep(100000);
    while (!atomic_load(&s->stop))
        g_usleep(10000);
    bench_janus_destroy(&c.janus);
    bench_remote_cands_clear(&c.cands);
    if (s->peer)
        peer_close(s->peer);
    atomic_store(&s->done, true);
    mbs_notify();
    return NULL;
}
