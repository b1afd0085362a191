/*
 * media_bench_session: one echotest session of the benchmark, on its own signalling thread.
 *
 * Our peer makes the offer (peer_gather_as_offerer: ICE controlling, DTLS actpass) before
 * the Janus "create", so the create->webrtcup time covers the server's work and the
 * connectivity/DTLS exchange, not our local gathering. The answer's transport parameters
 * and any trickled candidates (buffered until the answer arrives, as Janus may send them
 * first) are handed to the peer; the session is ready once our peer is SECURE and the
 * server said webrtcup.
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

#define MBS_MAX_PENDING 32
#define MBS_POLL_TIMEOUT_MS 40000

typedef struct mbs_ctx {
    mb_session *s;
    bool answered;
    char *pending[MBS_MAX_PENDING]; /* trickled candidates received before the answer */
    int n_pending;
    bool pending_done;
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
    mb_session *s = user;
    s->rtcp_in++;
}

/* ---- Janus API helpers ---- */

/* POSTs a JSON object (stolen) to path; returns the parsed response or NULL. */
static json_t *post_json(mb_session *s, const char *path, json_t *req)
{
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *body = NULL, err[160] = "";
    int st = mb_http_request(&s->cfg->url, "POST", path, text, 10000, NULL, &body, err,
                             sizeof err);
    free(text);
    if (st != 200) {
        char msg[320];
        snprintf(msg, sizeof msg, "POST %s: status %d %s %.100s", path, st, err,
                 body ? body : "");
        fail(s, "%s", msg);
        free(body);
        return NULL;
    }
    json_t *resp = json_loads(body, 0, NULL);
    free(body);
    if (!resp)
        fail(s, "POST %s: response is not JSON", path);
    return resp;
}

static uint64_t data_id(mb_session *s, json_t *resp, const char *what)
{
    const char *j = json_string_value(json_object_get(resp, "janus"));
    json_t *id = json_object_get(json_object_get(resp, "data"), "id");
    if (!j || strcmp(j, "success") != 0 || !json_is_integer(id)) {
        char *t = json_dumps(resp, JSON_COMPACT);
        char msg[256];
        snprintf(msg, sizeof msg, "%s failed: %.200s", what, t ? t : "?");
        free(t);
        fail(s, "%s", msg);
        return 0;
    }
    return (uint64_t)json_integer_value(id);
}

/* ---- SDP ---- */

static char *build_offer(mb_session *s)
{
    char ufrag[64], pwd[64];
    peer_local_credentials(s->peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    char cands[8192];
    if (peer_local_candidates(s->peer, cands, sizeof cands) <= 0)
        return NULL;
    GString *c = g_string_new(NULL);
    for (char *line = strtok(cands, "\n"); line; line = strtok(NULL, "\n"))
        if (*line)
            g_string_append_printf(c, "a=%s\r\n", line);
    const char *fp = peer_local_fingerprint();
    GString *o = g_string_new(NULL);
    g_string_append_printf(o,
        "v=0\r\no=- %" PRIu64 " 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "a=group:BUNDLE 0 1\r\na=msid-semantic: WMS bench%d\r\n",
        (uint64_t)g_random_int() * 1000u + (uint64_t)s->index, s->index);
    const char *kinds[2] = {"audio", "video"};
    for (int m = 0; m < 2; m++) {
        g_string_append_printf(o,
            "m=%s 9 UDP/TLS/RTP/SAVPF %d\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
            "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s\r\na=setup:actpass\r\n"
            "a=mid:%d\r\na=sendrecv\r\na=msid:bench%d %s%d\r\na=rtcp-mux\r\n",
            kinds[m], m == 0 ? 111 : 96, ufrag, pwd, fp, m, s->index, kinds[m], s->index);
        if (m == 0)
            g_string_append(o, "a=rtpmap:111 opus/48000/2\r\n"
                               "a=fmtp:111 minptime=10;useinbandfec=1\r\n");
        else
            g_string_append(o, "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 ccm fir\r\n"
                               "a=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n");
        g_string_append_printf(o, "a=ssrc:%u cname:bench%d\r\n",
                               m == 0 ? s->audio_ssrc : s->video_ssrc, s->index);
        if (m == 0)
            g_string_append(o, c->str);
        g_string_append(o, "a=end-of-candidates\r\n");
    }
    g_string_free(c, TRUE);
    return g_string_free(o, FALSE);
}

static peer_dtls_setup setup_of(const char *v)
{
    if (v && strcmp(v, "active") == 0)
        return PEER_SETUP_ACTIVE;
    if (v && strcmp(v, "passive") == 0)
        return PEER_SETUP_PASSIVE;
    return PEER_SETUP_ACTPASS;
}

static void add_candidate(mbs_ctx *c, const char *cand)
{
    if (!c->answered) {
        if (c->n_pending < MBS_MAX_PENDING)
            c->pending[c->n_pending++] = g_strdup(cand);
        return;
    }
    if (peer_add_remote_candidate(c->s->peer, cand) != 0 && c->s->cfg->verbose)
        fprintf(stderr, "session %d: candidate refused: %s\n", c->s->index, cand);
}

static void candidates_done(mbs_ctx *c)
{
    if (!c->answered)
        c->pending_done = true;
    else
        peer_remote_candidates_done(c->s->peer);
}

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
    int first = -1;
    for (size_t i = 0; i < a->n_media; i++) {
        sdp_media *m = &a->media[i];
        if (m->rejected || m->n_payloads == 0)
            continue;
        if (first < 0)
            first = (int)i;
        if (m->type == SDP_MEDIA_AUDIO && !s->has_audio) {
            s->has_audio = true;
            s->audio_pt = m->payloads[0].pt;
        } else if (m->type == SDP_MEDIA_VIDEO && !s->has_video) {
            s->has_video = true;
            s->video_pt = m->payloads[0].pt;
        }
    }
    sdp_transport t;
    if (first < 0 || sdp_media_transport(a, (size_t)first, &t) != 0 || !t.ice_ufrag ||
        !t.ice_pwd || !t.fingerprint) {
        sdp_free(a);
        fail(s, "answer has no usable m-line / transport");
        return -1;
    }
    int rc = peer_set_remote(s->peer, t.ice_ufrag, t.ice_pwd, t.fingerprint,
                             setup_of(t.setup), false, 0);
    if (rc != 0) {
        sdp_free(a);
        fail(s, "peer_set_remote refused the answer");
        return -1;
    }
    s->t_answer = g_get_monotonic_time();
    c->answered = true;
    bool eoc = false;
    for (size_t i = 0; i < a->n_media; i++) {
        for (size_t k = 0; k < a->media[i].n_candidates; k++)
            add_candidate(c, a->media[i].candidates[k]);
        eoc = eoc || a->media[i].end_of_candidates;
    }
    sdp_free(a);
    for (int i = 0; i < c->n_pending; i++) {
        add_candidate(c, c->pending[i]);
        g_free(c->pending[i]);
    }
    c->n_pending = 0;
    if (eoc || c->pending_done)
        peer_remote_candidates_done(s->peer);
    return 0;
}

/* ---- events ---- */

static void on_trickle(mbs_ctx *c, json_t *cand)
{
    if (json_is_array(cand)) {
        size_t i;
        json_t *v;
        json_array_foreach(cand, i, v)
            on_trickle(c, v);
        return;
    }
    if (json_is_true(json_object_get(cand, "completed"))) {
        candidates_done(c);
        return;
    }
    const char *line = json_string_value(json_object_get(cand, "candidate"));
    if (c->s->cfg->verbose)
        fprintf(stderr, "session %d trickle: %s\n", c->s->index, line ? line : "?");
    if (line && *line)
        add_candidate(c, line);
}

static void on_event(mbs_ctx *c, json_t *ev)
{
    mb_session *s = c->s;
    const char *j = json_string_value(json_object_get(ev, "janus"));
    if (!j)
        return;
    if (strcmp(j, "event") == 0) {
        json_t *jsep = json_object_get(ev, "jsep");
        const char *type = json_string_value(json_object_get(jsep, "type"));
        const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
        if (type && sdp && strcmp(type, "answer") == 0 && !c->answered)
            apply_answer(c, sdp);
    } else if (strcmp(j, "trickle") == 0) {
        on_trickle(c, json_object_get(ev, "candidate"));
    } else if (strcmp(j, "webrtcup") == 0) {
        if (!atomic_load(&s->webrtcup)) {
            s->t_webrtcup = g_get_monotonic_time();
            atomic_store(&s->webrtcup, true);
            mbs_notify();
        }
    } else if (strcmp(j, "hangup") == 0) {
        atomic_fetch_add(&s->hangups, 1);
        if (!atomic_load(&s->ready))
            fail(s, "server hung up during setup");
    } else if (strcmp(j, "media") == 0) {
        atomic_fetch_add(&s->media_events, 1);
    } else if (strcmp(j, "slowlink") == 0) {
        atomic_fetch_add(&s->slowlinks, 1);
    } else if (strcmp(j, "error") == 0) {
        const char *r = json_string_value(json_object_get(json_object_get(ev, "error"),
                                                          "reason"));
        if (!atomic_load(&s->ready))
            fail(s, "server error: %s", r ? r : "?");
    }
}

/* One long-poll round; returns -1 when the session is unusable. */
static int poll_once(mbs_ctx *c)
{
    mb_session *s = c->s;
    char path[256], err[160];
    snprintf(path, sizeof path, "%s/%" PRIu64 "?maxev=10", s->cfg->url.path, s->session_id);
    char *body = NULL;
    int st = mb_http_request(&s->cfg->url, "GET", path, NULL, MBS_POLL_TIMEOUT_MS, &s->stop,
                             &body, err, sizeof err);
    if (st < 0) {
        free(body);
        return atomic_load(&s->stop) ? 0 : -1;
    }
    json_t *r = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    if (st != 200 || !r) {
        json_decref(r);
        return -1;
    }
    if (json_is_array(r)) {
        size_t i;
        json_t *ev;
        json_array_foreach(r, i, ev)
            on_event(c, ev);
    } else {
        on_event(c, r);
    }
    json_decref(r);
    return 0;
}

static int create_and_attach(mb_session *s)
{
    json_t *r = post_json(s, s->cfg->url.path[0] ? s->cfg->url.path : "/",
                          json_pack("{s:s,s:s}", "janus", "create", "transaction", "c"));
    if (!r)
        return -1;
    s->session_id = data_id(s, r, "create");
    json_decref(r);
    if (!s->session_id)
        return -1;
    char path[256];
    snprintf(path, sizeof path, "%s/%" PRIu64, s->cfg->url.path, s->session_id);
    r = post_json(s, path, json_pack("{s:s,s:s,s:s}", "janus", "attach", "plugin",
                                     s->cfg->plugin, "transaction", "a"));
    if (!r)
        return -1;
    s->handle_id = data_id(s, r, "attach");
    json_decref(r);
    return s->handle_id ? 0 : -1;
}

static int send_offer(mbs_ctx *c)
{
    mb_session *s = c->s;
    char *offer = build_offer(s);
    if (!offer) {
        fail(s, "no local candidates to offer");
        return -1;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/%" PRIu64 "/%" PRIu64, s->cfg->url.path, s->session_id,
             s->handle_id);
    json_t *req = json_pack("{s:s,s:s,s:{s:b,s:b},s:{s:s,s:s}}", "janus", "message",
                            "transaction", "m", "body", "audio", 1, "video", 1, "jsep",
                            "type", "offer", "sdp", offer);
    if (s->cfg->verbose)
        fprintf(stderr, "session %d offer:\n%s", s->index, offer);
    g_free(offer);
    json_t *r = post_json(s, path, req);
    if (!r)
        return -1;
    const char *j = json_string_value(json_object_get(r, "janus"));
    if (!j || (strcmp(j, "ack") != 0 && strcmp(j, "event") != 0)) {
        json_decref(r);
        fail(s, "offer not acknowledged");
        return -1;
    }
    on_event(c, r); /* a synchronous answer is applied right away */
    json_decref(r);
    return 0;
}

static void teardown(mbs_ctx *c)
{
    mb_session *s = c->s;
    if (s->session_id) {
        char path[256];
        snprintf(path, sizeof path, "%s/%" PRIu64, s->cfg->url.path, s->session_id);
        char *body = NULL;
        mb_http_request(&s->cfg->url, "POST", path,
                        "{\"janus\":\"destroy\",\"transaction\":\"d\"}", 5000, NULL, &body,
                        NULL, 0);
        free(body);
    }
    for (int i = 0; i < c->n_pending; i++)
        g_free(c->pending[i]);
    c->n_pending = 0;
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
    if (create_and_attach(s) != 0 || send_offer(c) != 0)
        return;
    int64_t deadline = s->t_create + (int64_t)s->cfg->setup_timeout_ms * 1000;
    while (!atomic_load(&s->failed) && !atomic_load(&s->stop)) {
        if (atomic_load(&s->secure) && atomic_load(&s->webrtcup) && c->answered) {
            atomic_store(&s->ready, true);
            mbs_notify();
            return;
        }
        if (g_get_monotonic_time() > deadline) {
            char msg[128];
            snprintf(msg, sizeof msg, "setup timed out (answer %s, our DTLS %s, webrtcup %s)",
                     c->answered ? "yes" : "no", atomic_load(&s->secure) ? "up" : "down",
                     atomic_load(&s->webrtcup) ? "yes" : "no");
            fail(s, "%s", msg);
            return;
        }
        /* webrtcup may come before our own DTLS finishes: then just wait for the peer. */
        if (atomic_load(&s->webrtcup) && c->answered) {
            g_usleep(1000);
            continue;
        }
        if (poll_once(c) < 0)
            fail(s, "long-poll failed during setup");
    }
}

void *mbs_thread(void *arg)
{
    mbs_ctx c = {.s = arg};
    mb_session *s = c.s;
    setup(&c);
    /* Keep long-polling so the server session stays alive and its events are drained. */
    while (atomic_load(&s->ready) && !atomic_load(&s->stop))
        if (poll_once(&c) < 0)
            g_usleep(100000);
    while (!atomic_load(&s->stop))
        g_usleep(10000);
    teardown(&c);
    if (s->peer)
        peer_close(s->peer);
    atomic_store(&s->done, true);
    mbs_notify();
    return NULL;
}
