/*
 * calls_bench_call: the signalling of one leg of a benchmark call, on its own thread.
 *
 * Both legs: create a Janus session, attach the videocall plugin, register a unique
 * username, then long-poll until the run stops, and destroy the session.
 *  - Caller: its peer gathers as offerer (ICE controlling, DTLS actpass) before anything
 *    else, so the call->up time does not include local gathering; once the callee is
 *    registered it sends "call" with an offer it writes itself (Opus + VP8, BUNDLE,
 *    rtcp-mux, its candidates inline), and applies the answer of the "accepted" event.
 *  - Callee: on "incomingcall" it hands the server's offer to a fresh peer (ICE controlled;
 *    peer_set_remote starts gathering), waits for gathering, writes the answer with
 *    sdp_make_answer (mirroring the offer's m-lines and payload types) plus its own ICE
 *    credentials, fingerprint, setup active and candidates, and sends "accept".
 * Trickled server candidates may come before the description they belong to: they are
 * buffered until it has been applied. The call is up once both peers are SECURE (checked on
 * the loop, in the peers' state callbacks).
 */
#include "calls_bench.h"

#include <glib.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sdp.h"

#define CBL_MAX_PENDING 64
#define CBL_POLL_TIMEOUT_MS 40000
#define CBL_GATHER_TIMEOUT_US (5 * G_USEC_PER_SEC)

typedef struct cbl_ctx {
    cb_leg *leg;
    cb_call *call;
    const cb_config *cfg;
    char *pending[CBL_MAX_PENDING]; /* trickled candidates that came before the description */
    int n_pending;
    bool pending_done;
    char *offer;       /* callee: the server's offer, until it has been answered */
    bool accepted;     /* callee: "accept" sent */
    int re_offers;     /* descriptions after the first one (renegotiations): ignored */
} cbl_ctx;

static const char *role_name(const cb_leg *l)
{
    return l->role == CB_CALLER ? "caller" : "callee";
}

void cb_fail(cb_leg *leg, const char *fmt, ...)
{
    if (!atomic_exchange(&leg->failed, true)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(leg->error, sizeof leg->error, fmt, ap);
        va_end(ap);
    }
    atomic_store(&leg->call->failed, true);
    cb_notify();
}

/* ---- peer callbacks (loop thread) ---- */

static void check_up(cb_call *call)
{
    cb_leg *a = &call->leg[CB_CALLER], *b = &call->leg[CB_CALLEE];
    if (!atomic_load(&a->secure) || !atomic_load(&b->secure) || atomic_load(&call->ready))
        return;
    call->t_up = a->t_secure > b->t_secure ? a->t_secure : b->t_secure;
    atomic_store(&call->ready, true);
    cb_notify();
}

static void cb_gathering_done(void *user)
{
    cb_leg *l = user;
    atomic_store(&l->gathered, true);
    cb_notify();
}

static void cb_state(void *user, peer_state st)
{
    cb_leg *l = user;
    if (st == PEER_STATE_SECURE && !atomic_load(&l->secure)) {
        l->t_secure = g_get_monotonic_time();
        l->srtp_profile = peer_srtp_profile(l->peer);
        atomic_store(&l->secure, true);
        check_up(l->call);
        cb_notify();
    } else if (st == PEER_STATE_FAILED) {
        if (atomic_load(&l->call->ready)) {
            /* Failing under load (consent or DTLS lost to drops) is a result to report. */
            l->t_failed = g_get_monotonic_time();
            atomic_store(&l->failed_later, true);
        }
        cb_fail(l, "%s peer went to FAILED (ICE or DTLS)", role_name(l));
    }
}

static void cb_rtp(void *user, uint8_t *buf, size_t len)
{
    cb_on_rtp(user, buf, len);
}

static void cb_rtcp(void *user, uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    cb_leg *l = user;
    l->rtcp_in++;
}

static peer_t *make_peer(cbl_ctx *c)
{
    peer_callbacks cb = {.user = c->leg, .gathering_done = cb_gathering_done,
                         .state_changed = cb_state, .rtp = cb_rtp, .rtcp = cb_rtcp};
    return peer_create(c->call->loop, &c->cfg->peer, &cb);
}

/* ---- Janus API helpers ---- */

/* POSTs a JSON object (stolen) to path; returns the parsed response or NULL (leg failed). */
static json_t *post_json(cbl_ctx *c, const char *path, json_t *req)
{
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *body = NULL, err[160] = "";
    int st = mb_http_request(&c->cfg->url, "POST", path, text, 10000, NULL, &body, err,
                             sizeof err);
    free(text);
    if (st != 200) {
        cb_fail(c->leg, "POST %s: status %d %s %.100s", path, st, err, body ? body : "");
        free(body);
        return NULL;
    }
    json_t *resp = json_loads(body, 0, NULL);
    free(body);
    if (!resp)
        cb_fail(c->leg, "POST %s: response is not JSON", path);
    return resp;
}

static uint64_t data_id(cbl_ctx *c, json_t *resp, const char *what)
{
    const char *j = json_string_value(json_object_get(resp, "janus"));
    json_t *id = json_object_get(json_object_get(resp, "data"), "id");
    if (!j || strcmp(j, "success") != 0 || !json_is_integer(id)) {
        char *t = json_dumps(resp, JSON_COMPACT);
        cb_fail(c->leg, "%s failed: %.200s", what, t ? t : "?");
        free(t);
        return 0;
    }
    return (uint64_t)json_integer_value(id);
}

static void on_event(cbl_ctx *c, json_t *ev);

/* Sends a videocall request (body stolen) with an optional JSEP; the response (an ack, or
 * a synchronous event) goes through on_event. Returns 0, or -1 with the leg failed. */
static int plugin_request(cbl_ctx *c, json_t *body, const char *jsep_type, const char *sdp)
{
    cb_leg *l = c->leg;
    char path[256];
    snprintf(path, sizeof path, "%s/%" PRIu64 "/%" PRIu64, c->cfg->url.path, l->session_id,
             l->handle_id);
    json_t *req = json_pack("{s:s,s:s,s:o}", "janus", "message", "transaction", "m", "body",
                            body);
    if (jsep_type)
        json_object_set_new(req, "jsep", json_pack("{s:s,s:s}", "type", jsep_type, "sdp", sdp));
    json_t *r = post_json(c, path, req);
    if (!r)
        return -1;
    const char *j = json_string_value(json_object_get(r, "janus"));
    if (!j || (strcmp(j, "ack") != 0 && strcmp(j, "event") != 0 && strcmp(j, "success") != 0)) {
        char *t = json_dumps(r, JSON_COMPACT);
        cb_fail(l, "request not acknowledged: %.200s", t ? t : "?");
        free(t);
        json_decref(r);
        return -1;
    }
    on_event(c, r);
    json_decref(r);
    return 0;
}

/* ---- SDP ---- */

/* The caller's offer: audio (Opus 111) and video (VP8 96), BUNDLE, rtcp-mux, our host
 * candidates in the first m-line, a=end-of-candidates (we do not trickle). */
static char *build_offer(cbl_ctx *c)
{
    cb_leg *l = c->leg;
    char ufrag[64], pwd[64], cands[8192];
    peer_local_credentials(l->peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    if (peer_local_candidates(l->peer, cands, sizeof cands) <= 0)
        return NULL;
    GString *cl = g_string_new(NULL);
    char *save = NULL;
    for (char *line = strtok_r(cands, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (*line)
            g_string_append_printf(cl, "a=%s\r\n", line);
    const char *fp = peer_local_fingerprint();
    int idx = c->call->index;
    GString *o = g_string_new(NULL);
    g_string_append_printf(o,
        "v=0\r\no=- %" PRIu64 " 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        "a=group:BUNDLE 0 1\r\na=msid-semantic: WMS call%da\r\n",
        (uint64_t)g_random_int() * 100000u + (uint64_t)idx, idx);
    static const char *const kinds[2] = {"audio", "video"};
    for (int m = 0; m < 2; m++) {
        g_string_append_printf(o,
            "m=%s 9 UDP/TLS/RTP/SAVPF %d\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n"
            "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s\r\na=setup:actpass\r\n"
            "a=mid:%d\r\na=sendrecv\r\na=msid:call%da %s%da\r\na=rtcp-mux\r\n",
            kinds[m], m == CB_AUDIO ? 111 : 96, ufrag, pwd, fp, m, idx, kinds[m], idx);
        if (m == CB_AUDIO)
            g_string_append(o, "a=rtpmap:111 opus/48000/2\r\n"
                               "a=fmtp:111 minptime=10;useinbandfec=1\r\n");
        else
            g_string_append(o, "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 ccm fir\r\n"
                               "a=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n");
        g_string_append_printf(o, "a=ssrc:%u cname:call%da\r\na=ssrc:%u msid:call%da %s%da\r\n",
                               l->tx[m].ssrc, idx, l->tx[m].ssrc, idx, kinds[m], idx);
        if (m == 0)
            g_string_append(o, cl->str);
        g_string_append(o, "a=end-of-candidates\r\n");
    }
    g_string_free(cl, TRUE);
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

static void add_candidate(cbl_ctx *c, const char *cand)
{
    cb_leg *l = c->leg;
    if (!atomic_load(&l->remote_set)) {
        if (c->n_pending < CBL_MAX_PENDING)
            c->pending[c->n_pending++] = g_strdup(cand);
        return;
    }
    if (peer_add_remote_candidate(l->peer, cand) != 0 && c->cfg->verbose)
        fprintf(stderr, "call %d %s: candidate refused: %s\n", c->call->index, role_name(l),
                cand);
}

static void candidates_done(cbl_ctx *c)
{
    if (!atomic_load(&c->leg->remote_set))
        c->pending_done = true;
    else
        peer_remote_candidates_done(c->leg->peer);
}

/* Hands a parsed remote description (the server's offer to the callee, or its answer to
 * the caller) to our peer: the payload types per kind, the transport of the first usable
 * m-line (BUNDLE), its candidates and the buffered trickled ones. */
static int apply_remote(cbl_ctx *c, const sdp_session *d, const char *what)
{
    cb_leg *l = c->leg;
    int first = -1;
    for (size_t i = 0; i < d->n_media; i++) {
        const sdp_media *m = &d->media[i];
        if (m->rejected || m->n_payloads == 0)
            continue;
        if (first < 0)
            first = (int)i;
        int k = m->type == SDP_MEDIA_AUDIO ? CB_AUDIO : m->type == SDP_MEDIA_VIDEO ? CB_VIDEO : -1;
        if (k >= 0 && !l->has[k]) {
            l->has[k] = true;
            l->pt[k] = m->payloads[0].pt;
        }
    }
    sdp_transport t;
    if (first < 0 || sdp_media_transport(d, (size_t)first, &t) != 0 || !t.ice_ufrag ||
        !t.ice_pwd || !t.fingerprint) {
        cb_fail(l, "%s has no usable m-line / transport", what);
        return -1;
    }
    if (peer_set_remote(l->peer, t.ice_ufrag, t.ice_pwd, t.fingerprint, setup_of(t.setup),
                        false, 0) != 0) {
        cb_fail(l, "peer_set_remote refused the %s", what);
        return -1;
    }
    l->t_remote = g_get_monotonic_time();
    atomic_store(&l->remote_set, true);
    bool eoc = false;
    for (size_t i = 0; i < d->n_media; i++) {
        for (size_t k = 0; k < d->media[i].n_candidates; k++)
            add_candidate(c, d->media[i].candidates[k]);
        eoc = eoc || d->media[i].end_of_candidates;
    }
    for (int i = 0; i < c->n_pending; i++) {
        add_candidate(c, c->pending[i]);
        g_free(c->pending[i]);
    }
    c->n_pending = 0;
    if (eoc || c->pending_done)
        peer_remote_candidates_done(l->peer);
    return 0;
}

/* Janus 1.1.2's answers to the caller repeat "a=mid:<mid>" in each m-section (seen on
 * every call); our parser refuses duplicate mids, so a repeat of the very same line inside
 * one m-section is dropped (in offers too, to be safe). Returns a malloc'd copy. */
static char *drop_repeated_mid(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    char seen[64] = "";
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) + 1 : strlen(p);
        size_t tl = ll;
        while (tl > 0 && (p[tl - 1] == '\n' || p[tl - 1] == '\r'))
            tl--;
        bool drop = false;
        if (strncmp(p, "m=", 2) == 0) {
            seen[0] = '\0';
        } else if (strncmp(p, "a=mid:", 6) == 0 && tl < sizeof seen) {
            if (seen[0] && strlen(seen) == tl && memcmp(seen, p, tl) == 0)
                drop = true;
            else {
                memcpy(seen, p, tl);
                seen[tl] = '\0';
            }
        }
        if (!drop) {
            memcpy(o, p, ll);
            o += ll;
        }
        p += ll;
    }
    *o = '\0';
    return out;
}

/* Caller: the answer of the "accepted" event. */
static void on_answer(cbl_ctx *c, const char *text)
{
    cb_leg *l = c->leg;
    if (atomic_load(&l->remote_set)) {
        c->re_offers++;
        return;
    }
    if (c->cfg->verbose)
        fprintf(stderr, "call %d caller: answer:\n%s", c->call->index, text);
    sdp_session *a = NULL;
    char err[160];
    char *clean = drop_repeated_mid(text);
    snprintf(err, sizeof err, "out of memory");
    int prc = clean ? sdp_parse(clean, strlen(clean), &a, err, sizeof err) : -1;
    free(clean);
    if (prc != 0) {
        cb_fail(l, "answer SDP refused: %s", err);
        return;
    }
    c->call->t_answer = g_get_monotonic_time();
    apply_remote(c, a, "answer");
    sdp_free(a);
}

/* Callee: answers the server's offer (kept in c->offer) and sends "accept". */
static int answer_call(cbl_ctx *c)
{
    cb_leg *l = c->leg;
    cb_call *call = c->call;
    char err[160];
    sdp_session *o = NULL, *a = NULL;
    char *answer = NULL;
    int rc = -1;
    c->accepted = true;
    if (c->cfg->verbose)
        fprintf(stderr, "call %d callee: offer:\n%s", call->index, c->offer);
    char *clean = drop_repeated_mid(c->offer);
    snprintf(err, sizeof err, "out of memory");
    int prc = clean ? sdp_parse(clean, strlen(clean), &o, err, sizeof err) : -1;
    free(clean);
    if (prc != 0) {
        cb_fail(l, "offer SDP refused: %s", err);
        goto out;
    }
    l->peer = make_peer(c);
    if (!l->peer) {
        cb_fail(l, "peer_create failed");
        goto out;
    }
    if (apply_remote(c, o, "offer") != 0)
        goto out;
    int64_t end = g_get_monotonic_time() + CBL_GATHER_TIMEOUT_US;
    for (;;) {
        uint64_t gen = cb_generation();
        if (atomic_load(&l->gathered))
            break;
        if (atomic_load(&call->stop) || atomic_load(&l->failed))
            goto out;
        if (!cb_wait_change(gen, end)) {
            cb_fail(l, "callee peer did not finish gathering in 5 s");
            goto out;
        }
    }
    sdp_answer_prefs pr;
    sdp_answer_prefs_default(&pr);
    pr.accept_data = false;
    if (sdp_make_answer(o, &pr, &a) != 0) {
        cb_fail(l, "sdp_make_answer failed on the server's offer");
        goto out;
    }
    char ufrag[64], pwd[64], cands[8192];
    peer_local_credentials(l->peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    int n = peer_local_candidates(l->peer, cands, sizeof cands);
    const char *list[SDP_MAX_CANDIDATES];
    size_t nl = 0;
    char *save = NULL;
    for (char *line = n > 0 ? strtok_r(cands, "\n", &save) : NULL;
         line && nl < SDP_MAX_CANDIDATES; line = strtok_r(NULL, "\n", &save))
        if (*line)
            list[nl++] = line;
    const char *setup = peer_local_setup(l->peer) == PEER_SETUP_PASSIVE ? "passive" : "active";
    if (nl == 0 || sdp_set_transport(a, ufrag, pwd, peer_local_fingerprint(), setup, list, nl,
                                     true) != 0) {
        cb_fail(l, "no local candidates for the answer");
        goto out;
    }
    /* Our streams: the answer's payload types are the offer's (mirrored), one per kind. */
    for (size_t i = 0; i < a->n_media; i++) {
        sdp_media *m = &a->media[i];
        int k = m->type == SDP_MEDIA_AUDIO ? CB_AUDIO : m->type == SDP_MEDIA_VIDEO ? CB_VIDEO : -1;
        if (k < 0 || m->rejected || m->n_payloads == 0)
            continue;
        char cname[32], stream[32], track[32];
        snprintf(cname, sizeof cname, "call%db", call->index);
        snprintf(stream, sizeof stream, "call%db", call->index);
        snprintf(track, sizeof track, "%s%db", k == CB_AUDIO ? "audio" : "video", call->index);
        if (sdp_add_ssrc(m, l->tx[k].ssrc, cname, stream, track) != 0) {
            cb_fail(l, "sdp_add_ssrc failed");
            goto out;
        }
        l->has[k] = true;
        l->pt[k] = m->payloads[0].pt;
    }
    answer = sdp_write_alloc(a);
    if (!answer) {
        cb_fail(l, "could not write the answer");
        goto out;
    }
    if (c->cfg->verbose)
        fprintf(stderr, "call %d callee: answer:\n%s", call->index, answer);
    call->t_accept = g_get_monotonic_time();
    rc = plugin_request(c, json_pack("{s:s}", "request", "accept"), "answer", answer);
out:
    free(answer);
    sdp_free(a);
    sdp_free(o);
    free(c->offer);
    c->offer = NULL;
    return rc;
}

/* ---- events ---- */

static void on_trickle(cbl_ctx *c, json_t *cand)
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
    if (line && *line)
        add_candidate(c, line);
}

static bool settled(const cb_call *call)
{
    return atomic_load(&call->ready) || atomic_load(&call->failed);
}

static void on_plugin_event(cbl_ctx *c, json_t *data, json_t *jsep)
{
    cb_leg *l = c->leg;
    cb_call *call = c->call;
    json_t *code = json_object_get(data, "error_code");
    if (code) {
        const char *e = json_string_value(json_object_get(data, "error"));
        if (!settled(call))
            cb_fail(l, "%s: plugin error %" JSON_INTEGER_FORMAT ": %s", role_name(l),
                    json_integer_value(code), e ? e : "?");
        return;
    }
    json_t *result = json_object_get(data, "result");
    const char *what = json_string_value(json_object_get(result, "event"));
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    if (!what)
        return;
    if (strcmp(what, "registered") == 0) {
        if (!atomic_load(&l->registered)) {
            l->t_registered = g_get_monotonic_time();
            atomic_store(&l->registered, true);
            cb_notify();
        }
    } else if (strcmp(what, "incomingcall") == 0 && l->role == CB_CALLEE) {
        if (!type || !sdp || strcmp(type, "offer") != 0) {
            cb_fail(l, "incomingcall without an offer");
        } else if (c->offer || c->accepted) {
            c->re_offers++;
        } else {
            call->t_incoming = g_get_monotonic_time();
            c->offer = strdup(sdp);
        }
    } else if (strcmp(what, "accepted") == 0 && l->role == CB_CALLER) {
        if (type && sdp && strcmp(type, "answer") == 0)
            on_answer(c, sdp);
        else if (!settled(call))
            cb_fail(l, "accepted without an answer");
    } else if (strcmp(what, "hangup") == 0) {
        atomic_fetch_add(&l->hangups, 1);
        const char *r = json_string_value(json_object_get(result, "reason"));
        if (!settled(call))
            cb_fail(l, "%s: plugin hangup (%s)", role_name(l), r ? r : "?");
    } else if (type && sdp && strcmp(what, "update") == 0) {
        c->re_offers++;
    }
}

static void on_event(cbl_ctx *c, json_t *ev)
{
    cb_leg *l = c->leg;
    const char *j = json_string_value(json_object_get(ev, "janus"));
    if (!j)
        return;
    if (strcmp(j, "event") == 0) {
        json_t *pd = json_object_get(ev, "plugindata");
        json_t *data = json_object_get(pd, "data");
        if (data)
            on_plugin_event(c, data, json_object_get(ev, "jsep"));
    } else if (strcmp(j, "trickle") == 0) {
        on_trickle(c, json_object_get(ev, "candidate"));
    } else if (strcmp(j, "webrtcup") == 0) {
        if (!atomic_load(&l->webrtcup)) {
            l->t_webrtcup = g_get_monotonic_time();
            atomic_store(&l->webrtcup, true);
        }
    } else if (strcmp(j, "hangup") == 0) {
        atomic_fetch_add(&l->hangups, 1);
        if (!settled(c->call))
            cb_fail(l, "%s: server hung up the PeerConnection during setup", role_name(l));
    } else if (strcmp(j, "media") == 0) {
        atomic_fetch_add(&l->media_events, 1);
    } else if (strcmp(j, "slowlink") == 0) {
        atomic_fetch_add(&l->slowlinks, 1);
    } else if (strcmp(j, "error") == 0) {
        const char *r = json_string_value(json_object_get(json_object_get(ev, "error"),
                                                          "reason"));
        if (!settled(c->call))
            cb_fail(l, "%s: server error: %s", role_name(l), r ? r : "?");
    }
}

/* One long-poll round; -1 when the session is unusable. */
static int poll_once(cbl_ctx *c)
{
    cb_leg *l = c->leg;
    char path[256], err[160];
    snprintf(path, sizeof path, "%s/%" PRIu64 "?maxev=10", c->cfg->url.path, l->session_id);
    char *body = NULL;
    int st = mb_http_request(&c->cfg->url, "GET", path, NULL, CBL_POLL_TIMEOUT_MS,
                             &c->call->stop, &body, err, sizeof err);
    if (st < 0) {
        free(body);
        return atomic_load(&c->call->stop) ? 0 : -1;
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

static int create_attach_register(cbl_ctx *c)
{
    cb_leg *l = c->leg;
    const char *root = c->cfg->url.path[0] ? c->cfg->url.path : "/";
    json_t *r = post_json(c, root, json_pack("{s:s,s:s}", "janus", "create", "transaction", "c"));
    if (!r)
        return -1;
    l->session_id = data_id(c, r, "create");
    json_decref(r);
    if (!l->session_id)
        return -1;
    char path[256];
    snprintf(path, sizeof path, "%s/%" PRIu64, c->cfg->url.path, l->session_id);
    r = post_json(c, path, json_pack("{s:s,s:s,s:s}", "janus", "attach", "plugin",
                                     c->cfg->plugin, "transaction", "a"));
    if (!r)
        return -1;
    l->handle_id = data_id(c, r, "attach");
    json_decref(r);
    if (!l->handle_id)
        return -1;
    return plugin_request(c, json_pack("{s:s,s:s}", "request", "register", "username",
                                       l->username), NULL, NULL);
}

/* Long-polls until registered (or failed/stopped). */
static int wait_registered(cbl_ctx *c)
{
    while (!atomic_load(&c->leg->registered)) {
        if (atomic_load(&c->call->stop) || atomic_load(&c->leg->failed))
            return -1;
        if (poll_once(c) < 0) {
            cb_fail(c->leg, "long-poll failed while registering");
            return -1;
        }
    }
    return 0;
}

/* Caller: once the callee is registered and our candidates are gathered, "call". */
static int place_call(cbl_ctx *c)
{
    cb_leg *l = c->leg;
    cb_call *call = c->call;
    cb_leg *callee = &call->leg[CB_CALLEE];
    int64_t end = g_get_monotonic_time() + (int64_t)c->cfg->setup_timeout_ms * 1000;
    for (;;) {
        uint64_t gen = cb_generation();
        if (atomic_load(&callee->registered) && atomic_load(&l->gathered))
            break;
        if (atomic_load(&call->stop) || atomic_load(&call->failed))
            return -1;
        if (!cb_wait_change(gen, end)) {
            cb_fail(l, "callee not registered / our gathering not done in time");
            return -1;
        }
    }
    char *offer = build_offer(c);
    if (!offer) {
        cb_fail(l, "no local candidates to offer");
        return -1;
    }
    if (c->cfg->verbose)
        fprintf(stderr, "call %d caller: offer:\n%s", call->index, offer);
    call->t_call = g_get_monotonic_time();
    int rc = plugin_request(c, json_pack("{s:s,s:s}", "request", "call", "username",
                                         callee->username), "offer", offer);
    g_free(offer);
    return rc;
}

static void teardown(cbl_ctx *c)
{
    cb_leg *l = c->leg;
    if (l->session_id) {
        char path[256];
        char *body = NULL;
        if (l->role == CB_CALLER && l->handle_id) {
            snprintf(path, sizeof path, "%s/%" PRIu64 "/%" PRIu64, c->cfg->url.path,
                     l->session_id, l->handle_id);
            mb_http_request(&c->cfg->url, "POST", path,
                            "{\"janus\":\"message\",\"transaction\":\"h\","
                            "\"body\":{\"request\":\"hangup\"}}", 5000, NULL, &body, NULL, 0);
            free(body);
            body = NULL;
        }
        snprintf(path, sizeof path, "%s/%" PRIu64, c->cfg->url.path, l->session_id);
        mb_http_request(&c->cfg->url, "POST", path,
                        "{\"janus\":\"destroy\",\"transaction\":\"d\"}", 5000, NULL, &body,
                        NULL, 0);
        free(body);
    }
    for (int i = 0; i < c->n_pending; i++)
        g_free(c->pending[i]);
    c->n_pending = 0;
    free(c->offer);
    c->offer = NULL;
}

void *cbl_thread(void *arg)
{
    cbl_ctx c = {.leg = arg};
    cb_leg *l = c.leg;
    c.call = l->call;
    c.cfg = c.call->cfg;
    bool ok = true;
    if (l->role == CB_CALLER) {
        /* Gather first: local gathering is not part of the call setup we time. */
        l->peer = make_peer(&c);
        if (!l->peer || peer_gather_as_offerer(l->peer) != 0) {
            cb_fail(l, "peer_create/peer_gather_as_offerer failed");
            ok = false;
        }
    }
    ok = ok && create_attach_register(&c) == 0 && wait_registered(&c) == 0;
    if (ok && l->role == CB_CALLER)
        ok = place_call(&c) == 0;
    /* Keep long-polling: the callee's offer, answers, trickles, webrtcup; afterwards it keeps
     * the server session alive and drains its events. */
    while (ok && !atomic_load(&c.call->stop)) {
        if (poll_once(&c) < 0) {
            if (!settled(c.call))
                cb_fail(l, "%s: long-poll failed during setup", role_name(l));
            g_usleep(100000);
        }
        if (c.offer && !c.accepted && answer_call(&c) != 0)
            break;
    }
    while (!atomic_load(&c.call->stop))
        g_usleep(10000);
    if (c.re_offers && c.cfg->verbose)
        fprintf(stderr, "call %d %s: %d later descriptions ignored\n", c.call->index,
                role_name(l), c.re_offers);
    teardown(&c);
    if (l->peer)
        peer_close(l->peer);
    return NULL;
}
