/*
 * bench_janus: Janus HTTP API sessions, shared event handling, remote candidate buffering
 * and our offer, for the benchmark clients (see bench_janus.h).
 *
 * Threads: every function runs on the calling signalling thread; only the
 * bench_janus_events counters are shared (atomics).
 * Ownership: request bodies passed in are stolen; responses, offers and buffered
 * candidates are as bench_janus.h says.
 */
#include "bench_janus.h"

#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_JANUS_POST_TIMEOUT_MS 10000
#define BENCH_JANUS_POLL_TIMEOUT_MS 40000

static void janus_fail(bench_janus *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void janus_fail(bench_janus *j, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    j->fail(j->user, msg);
}

json_t *bench_janus_post(bench_janus *j, const char *path, json_t *req)
{
    if (j->token && !json_object_get(req, "token"))
        json_object_set_new(req, "token", json_string(j->token));
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *body = NULL, err[160] = "";
    int st = mb_http_request(j->url, "POST", path, text, BENCH_JANUS_POST_TIMEOUT_MS, NULL,
                             &body, err, sizeof err);
    free(text);
    if (st != 200) {
        janus_fail(j, "POST %s: status %d %s %.100s", path, st, err, body ? body : "");
        free(body);
        return NULL;
    }
    json_t *resp = json_loads(body, 0, NULL);
    free(body);
    if (!resp)
        janus_fail(j, "POST %s: response is not JSON", path);
    return resp;
}

/* data.id of a "success" response; 0 after fail. */
static uint64_t data_id(bench_janus *j, json_t *resp, const char *what)
{
    const char *k = json_string_value(json_object_get(resp, "janus"));
    json_t *id = json_object_get(json_object_get(resp, "data"), "id");
    if (!k || strcmp(k, "success") != 0 || !json_is_integer(id)) {
        char *t = json_dumps(resp, JSON_COMPACT);
        janus_fail(j, "%s failed: %.200s", what, t ? t : "?");
        free(t);
        return 0;
    }
    return (uint64_t)json_integer_value(id);
}

void bench_janus_path(const bench_janus *j, bool handle, char *buf, size_t cap)
{
    if (handle)
        snprintf(buf, cap, "%s/%" PRIu64 "/%" PRIu64, j->url->path, j->session_id,
                 j->handle_id);
    else
        snprintf(buf, cap, "%s/%" PRIu64, j->url->path, j->session_id);
}

int bench_janus_create_attach(bench_janus *j, const char *plugin)
{
    json_t *r = bench_janus_post(j, j->url->path[0] ? j->url->path : "/",
                                 json_pack("{s:s,s:s}", "janus", "create", "transaction", "c"));
    if (!r)
        return -1;
    j->session_id = data_id(j, r, "create");
    json_decref(r);
    if (!j->session_id)
        return -1;
    char path[256];
    bench_janus_path(j, false, path, sizeof path);
    r = bench_janus_post(j, path, json_pack("{s:s,s:s,s:s}", "janus", "attach", "plugin",
                                            plugin, "transaction", "a"));
    if (!r)
        return -1;
    j->handle_id = data_id(j, r, "attach");
    json_decref(r);
    return j->handle_id ? 0 : -1;
}

int bench_janus_message(bench_janus *j, json_t *body, const char *jsep_type, const char *sdp)
{
    char path[256];
    bench_janus_path(j, true, path, sizeof path);
    json_t *req = json_pack("{s:s,s:s,s:o}", "janus", "message", "transaction", "m", "body",
                            body);
    if (jsep_type)
        json_object_set_new(req, "jsep", json_pack("{s:s,s:s}", "type", jsep_type, "sdp", sdp));
    json_t *r = bench_janus_post(j, path, req);
    if (!r)
        return -1;
    const char *k = json_string_value(json_object_get(r, "janus"));
    if (!k || (strcmp(k, "ack") != 0 && strcmp(k, "event") != 0 && strcmp(k, "success") != 0)) {
        char *t = json_dumps(r, JSON_COMPACT);
        janus_fail(j, "request not acknowledged: %.200s", t ? t : "?");
        free(t);
        json_decref(r);
        return -1;
    }
    j->on_event(j->user, r); /* a synchronous answer is applied right away */
    json_decref(r);
    return 0;
}

int bench_janus_poll_once(bench_janus *j)
{
    char path[2048], err[160];
    /* A JWT is base64url and dots: nothing in it needs escaping in a query. */
    snprintf(path, sizeof path, "%s/%" PRIu64 "?maxev=10%s%s", j->url->path, j->session_id,
             j->token ? "&token=" : "", j->token ? j->token : "");
    char *body = NULL;
    int st = mb_http_request(j->url, "GET", path, NULL, BENCH_JANUS_POLL_TIMEOUT_MS, j->stop,
                             &body, err, sizeof err);
    if (st < 0) {
        free(body);
        return j->stop && atomic_load(j->stop) ? 0 : -1;
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
            j->on_event(j->user, ev);
    } else {
        j->on_event(j->user, r);
    }
    json_decref(r);
    return 0;
}

void bench_janus_destroy(bench_janus *j)
{
    if (!j->session_id)
        return;
    char path[256];
    bench_janus_path(j, false, path, sizeof path);
    json_t *req = json_pack("{s:s,s:s}", "janus", "destroy", "transaction", "d");
    if (j->token)
        json_object_set_new(req, "token", json_string(j->token));
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *body = NULL;
    if (text)
        mb_http_request(j->url, "POST", path, text, 5000, NULL, &body, NULL, 0);
    free(text);
    free(body);
}

/* ---- events ---- */

bench_janus_event_kind bench_janus_event(json_t *ev, bench_janus_events *e,
                                         bench_remote_cands *cands, peer_t *peer,
                                         const char **reason)
{
    const char *k = json_string_value(json_object_get(ev, "janus"));
    if (!k)
        return BENCH_JANUS_EV_OTHER;
    if (strcmp(k, "event") == 0)
        return BENCH_JANUS_EV_PLUGIN;
    if (strcmp(k, "trickle") == 0) {
        bench_remote_cands_trickle(cands, peer, json_object_get(ev, "candidate"));
    } else if (strcmp(k, "webrtcup") == 0) {
        if (!atomic_load(&e->webrtcup)) {
            e->t_webrtcup = g_get_monotonic_time();
            atomic_store(&e->webrtcup, true);
            return BENCH_JANUS_EV_WEBRTCUP;
        }
    } else if (strcmp(k, "hangup") == 0) {
        atomic_fetch_add(&e->hangups, 1);
        return BENCH_JANUS_EV_HANGUP;
    } else if (strcmp(k, "media") == 0) {
        atomic_fetch_add(&e->media_events, 1);
    } else if (strcmp(k, "slowlink") == 0) {
        atomic_fetch_add(&e->slowlinks, 1);
    } else if (strcmp(k, "error") == 0) {
        const char *r = json_string_value(json_object_get(json_object_get(ev, "error"),
                                                          "reason"));
        *reason = r ? r : "?";
        return BENCH_JANUS_EV_ERROR;
    }
    return BENCH_JANUS_EV_OTHER;
}

/* ---- remote candidates ---- */

void bench_remote_cands_add(bench_remote_cands *c, peer_t *peer, const char *cand)
{
    if (!c->applied) {
        if (c->n_pending < BENCH_MAX_PENDING_CANDIDATES)
            c->pending[c->n_pending++] = g_strdup(cand);
        return;
    }
    if (peer_add_remote_candidate(peer, cand) != 0 && c->verbose)
        fprintf(stderr, "%s: candidate refused: %s\n", c->label, cand);
}

void bench_remote_cands_done(bench_remote_cands *c, peer_t *peer)
{
    if (!c->applied)
        c->done_early = true;
    else
        peer_remote_candidates_done(peer);
}

void bench_remote_cands_trickle(bench_remote_cands *c, peer_t *peer, json_t *cand)
{
    if (json_is_array(cand)) {
        size_t i;
        json_t *v;
        json_array_foreach(cand, i, v)
            bench_remote_cands_trickle(c, peer, v);
        return;
    }
    if (json_is_true(json_object_get(cand, "completed"))) {
        bench_remote_cands_done(c, peer);
        return;
    }
    const char *line = json_string_value(json_object_get(cand, "candidate"));
    if (c->verbose)
        fprintf(stderr, "%s trickle: %s\n", c->label, line ? line : "?");
    if (line && *line)
        bench_remote_cands_add(c, peer, line);
}

void bench_remote_cands_clear(bench_remote_cands *c)
{
    for (int i = 0; i < c->n_pending; i++)
        g_free(c->pending[i]);
    c->n_pending = 0;
}

static peer_dtls_setup setup_of(const char *v)
{
    if (v && strcmp(v, "active") == 0)
        return PEER_SETUP_ACTIVE;
    if (v && strcmp(v, "passive") == 0)
        return PEER_SETUP_PASSIVE;
    return PEER_SETUP_ACTPASS;
}

int bench_apply_remote(bench_remote_cands *c, peer_t *peer, const sdp_session *d,
                       const char *what, bool has[2], uint8_t pt[2], char *err, size_t errcap)
{
    int first = -1;
    for (size_t i = 0; i < d->n_media; i++) {
        const sdp_media *m = &d->media[i];
        if (m->rejected || m->n_payloads == 0)
            continue;
        if (first < 0)
            first = (int)i;
        int k = m->type == SDP_MEDIA_AUDIO ? BENCH_AUDIO
              : m->type == SDP_MEDIA_VIDEO ? BENCH_VIDEO : -1;
        if (k >= 0 && !has[k]) {
            has[k] = true;
            pt[k] = m->payloads[0].pt;
        }
    }
    sdp_transport t;
    if (first < 0 || sdp_media_transport(d, (size_t)first, &t) != 0 || !t.ice_ufrag ||
        !t.ice_pwd || !t.fingerprint) {
        snprintf(err, errcap, "%s has no usable m-line / transport", what);
        return -1;
    }
    if (d->ice_lite)
        peer_set_remote_ice_lite(peer);
    if (peer_set_remote(peer, t.ice_ufrag, t.ice_pwd, t.fingerprint, setup_of(t.setup), false,
                        0) != 0) {
        snprintf(err, errcap, "peer_set_remote refused the %s", what);
        return -1;
    }
    c->applied = true;
    bool eoc = false;
    for (size_t i = 0; i < d->n_media; i++) {
        for (size_t k = 0; k < d->media[i].n_candidates; k++)
            bench_remote_cands_add(c, peer, d->media[i].candidates[k]);
        eoc = eoc || d->media[i].end_of_candidates;
    }
    for (int i = 0; i < c->n_pending; i++)
        bench_remote_cands_add(c, peer, c->pending[i]);
    bench_remote_cands_clear(c);
    if (eoc || c->done_early)
        peer_remote_candidates_done(peer);
    return 0;
}

/* ---- SDP ---- */

char *bench_janus_offer(peer_t *peer, uint64_t origin, const char *stream,
                        const char *track_suffix, const uint32_t ssrc[2], bool ssrc_msid)
{
    char ufrag[64], pwd[64], cands[8192];
    peer_local_credentials(peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    if (peer_local_candidates(peer, cands, sizeof cands) <= 0)
        return NULL;
    GString *cl = g_string_new(NULL);
    char *save = NULL;
    for (char *line = strtok_r(cands, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (*line)
            g_string_append_printf(cl, "a=%s\r\n", line);
    const char *fp = peer_local_fingerprint();
    GString *o = g_string_new(NULL);
    g_string_append_printf(o,
        "v=0\r\no=- %" PRIu64 " 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "a=group:BUNDLE 0 1\r\na=msid-semantic: WMS %s\r\n", origin, stream);
    static const char *const kinds[2] = {"audio", "video"};
    for (int m = 0; m < 2; m++) {
        g_string_append_printf(o,
            "m=%s 9 UDP/TLS/RTP/SAVPF %d\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
            "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s\r\na=setup:actpass\r\n"
            "a=mid:%d\r\na=sendrecv\r\na=msid:%s %s%s\r\na=rtcp-mux\r\n",
            kinds[m], m == BENCH_AUDIO ? 111 : 96, ufrag, pwd, fp, m, stream, kinds[m],
            track_suffix);
        if (m == BENCH_AUDIO)
            g_string_append(o, "a=rtpmap:111 opus/48000/2\r\n"
                               "a=fmtp:111 minptime=10;useinbandfec=1\r\n");
        else
            g_string_append(o, "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 ccm fir\r\n"
                               "a=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n");
        g_string_append_printf(o, "a=ssrc:%u cname:%s\r\n", ssrc[m], stream);
        if (ssrc_msid)
            g_string_append_printf(o, "a=ssrc:%u msid:%s %s%s\r\n", ssrc[m], stream, kinds[m],
                                   track_suffix);
        if (m == 0)
            g_string_append(o, cl->str);
        g_string_append(o, "a=end-of-candidates\r\n");
    }
    g_string_free(cl, TRUE);
    return g_string_free(o, FALSE);
}

const char *bench_srtp_profile_name(int profile)
{
    return profile == 7 ? "AEAD_AES_128_GCM"
         : profile == 1 ? "AES128_CM_HMAC_SHA1_80" : "unknown";
}

int bench_answer_transport(peer_t *peer, sdp_session *answer)
{
    char ufrag[64], pwd[64], cands[8192];
    peer_local_credentials(peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    int n = peer_local_candidates(peer, cands, sizeof cands);
    const char *list[SDP_MAX_CANDIDATES];
    size_t nl = 0;
    char *save = NULL;
    for (char *line = n > 0 ? strtok_r(cands, "\n", &save) : NULL;
         line && nl < SDP_MAX_CANDIDATES; line = strtok_r(NULL, "\n", &save))
        if (*line)
            list[nl++] = line;
    const char *setup = peer_local_setup(peer) == PEER_SETUP_PASSIVE ? "passive" : "active";
    return nl > 0 && sdp_set_transport(answer, ufrag, pwd, peer_local_fingerprint(), setup, list, nl, true) == 0
               ? 0 : -1;
}
