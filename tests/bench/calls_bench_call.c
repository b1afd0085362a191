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

#define CBL_GATHER_TIMEOUT_US (5 * G_USEC_PER_SEC)

typedef struct cbl_ctx {
    cb_leg *leg;
    cb_call *call;
    const cb_config *cfg;
    bench_janus janus;
    bench_remote_cands cands;  /* cands.applied: the remote description is on our peer */
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
    bench_change_notify();
}

/* ---- peer callbacks (loop thread) ---- */

static void check_up(cb_call *call)
{
    cb_leg *a = &call->leg[CB_CALLER], *b = &call->leg[CB_CALLEE];
    if (!atomic_load(&a->secure) || !atomic_load(&b->secure) || atomic_load(&call->ready))
        return;
    call->t_up = a->t_secure > b->t_secure ? a->t_secure : b->t_secure;
    atomic_store(&call->ready, true);
    bench_change_notify();
}

static void cb_gathering_done(void *user)
{
    cb_leg *l = user;
    atomic_store(&l->gathered, true);
    bench_change_notify();
}

static void cb_state(void *user, peer_state st)
{
    cb_leg *l = user;
    if (st == PEER_STATE_SECURE && !atomic_load(&l->secure)) {
        l->t_secure = g_get_monotonic_time();
        l->srtp_profile = peer_srtp_profile(l->peer);
        atomic_store(&l->secure, true);
        check_up(l->call);
        bench_change_notify();
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

/* ---- Janus API ---- */

static void janus_failed(void *user, const char *reason)
{
    cbl_ctx *c = user;
    cb_fail(c->leg, "%s", reason);
}

/* ---- SDP ---- */

/* The caller's offer: audio (Opus 111) and video (VP8 96), BUNDLE, rtcp-mux, our host
 * candidates in the first m-line, a=end-of-candidates (we do not trickle). */
static char *build_offer(cbl_ctx *c)
{
    cb_leg *l = c->leg;
    int idx = c->call->index;
    char stream[32], track[16];
    snprintf(stream, sizeof stream, "call%da", idx);
    snprintf(track, sizeof track, "%da", idx);
    uint32_t ssrc[2] = {l->tx[CB_AUDIO].ssrc, l->tx[CB_VIDEO].ssrc};
    return bench_janus_offer(l->peer, (uint64_t)g_random_int() * 100000u + (uint64_t)idx,
                             stream, track, ssrc, true);
}

/* Hands a parsed remote description (the server's offer to the callee, or its answer to
 * the caller) to our peer (bench_apply_remote). */
static int apply_remote(cbl_ctx *c, const sdp_session *d, const char *what)
{
    cb_leg *l = c->leg;
    char err[160];
    if (bench_apply_remote(&c->cands, l->peer, d, what, l->has, l->pt, err, sizeof err) != 0) {
        cb_fail(l, "%s", err);
        return -1;
    }
    l->t_remote = g_get_monotonic_time();
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
    if (c->cands.applied) {
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
        uint64_t gen = bench_change_generation();
        if (atomic_load(&l->gathered))
            break;
        if (atomic_load(&call->stop) || atomic_load(&l->failed))
            goto out;
        if (!bench_change_wait(gen, end)) {
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
    if (bench_answer_transport(l->peer, a) != 0) {
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
    rc = bench_janus_message(&c->janus, json_pack("{s:s}", "request", "accept"), "answer",
                             answer);
out:
    free(answer);
    sdp_free(a);
    sdp_free(o);
    free(c->offer);
    c->offer = NULL;
    return rc;
}

/* ---- events ---- */

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
            bench_change_notify();
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
        atomic_fetch_add(&l->events.hangups, 1);
        const char *r = json_string_value(json_object_get(result, "reason"));
        if (!settled(call))
            cb_fail(l, "%s: plugin hangup (%s)", role_name(l), r ? r : "?");
    } else if (type && sdp && strcmp(what, "update") == 0) {
        c->re_offers++;
    }
}

static void on_event(void *user, json_t *ev)
{
    cbl_ctx *c = user;
    cb_leg *l = c->leg;
    const char *reason = NULL;
    switch (bench_janus_event(ev, &l->events, &c->cands, l->peer, &reason)) {
    case BENCH_JANUS_EV_PLUGIN: {
        json_t *data = json_object_get(json_object_get(ev, "plugindata"), "data");
        if (data)
            on_plugin_event(c, data, json_object_get(ev, "jsep"));
        break;
    }
    case BENCH_JANUS_EV_HANGUP:
        if (!settled(c->call))
            cb_fail(l, "%s: server hung up the PeerConnection during setup", role_name(l));
        break;
    case BENCH_JANUS_EV_ERROR:
        if (!settled(c->call))
            cb_fail(l, "%s: server error: %s", role_name(l), reason);
        break;
    case BENCH_JANUS_EV_WEBRTCUP:
    case BENCH_JANUS_EV_OTHER:
        break;
    }
}

static int create_attach_register(cbl_ctx *c)
{
    if (bench_janus_create_attach(&c->janus, c->cfg->plugin) != 0)
        return -1;
    return bench_janus_message(&c->janus, json_pack("{s:s,s:s}", "request", "register",
                                                    "username", c->leg->username), NULL, NULL);
}

/* Long-polls until registered (or failed/stopped). */
static int wait_registered(cbl_ctx *c)
{
    while (!atomic_load(&c->leg->registered)) {
        if (atomic_load(&c->call->stop) || atomic_load(&c->leg->failed))
            return -1;
        if (bench_janus_poll_once(&c->janus) < 0) {
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
        uint64_t gen = bench_change_generation();
        if (atomic_load(&callee->registered) && atomic_load(&l->gathered))
            break;
        if (atomic_load(&call->stop) || atomic_load(&call->failed))
            return -1;
        if (!bench_change_wait(gen, end)) {
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
    int rc = bench_janus_message(&c->janus, json_pack("{s:s,s:s}", "request", "call",
                                                      "username", callee->username),
                                 "offer", offer);
    g_free(offer);
    return rc;
}

static void teardown(cbl_ctx *c)
{
    cb_leg *l = c->leg;
    if (l->role == CB_CALLER && c->janus.session_id && c->janus.handle_id) {
        char path[256];
        char *body = NULL;
        bench_janus_path(&c->janus, true, path, sizeof path);
        mb_http_request(&c->cfg->url, "POST", path,
                        "{\"janus\":\"message\",\"transaction\":\"h\","
                        "\"body\":{\"request\":\"hangup\"}}", 5000, NULL, &body, NULL, 0);
        free(body);
    }
    bench_janus_destroy(&c->janus);
    bench_remote_cands_clear(&c->cands);
    free(c->offer);
    c->offer = NULL;
}

void *cbl_thread(void *arg)
{
    cbl_ctx c = {.leg = arg};
    cb_leg *l = c.leg;
    c.call = l->call;
    c.cfg = c.call->cfg;
    c.janus = (bench_janus){.url = &c.cfg->url, .stop = &c.call->stop, .fail = janus_failed,
                            .on_event = on_event, .user = &c};
    snprintf(c.cands.label, sizeof c.cands.label, "call %d %s", c.call->index, role_name(l));
    c.cands.verbose = c.cfg->verbose;
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
        if (bench_janus_poll_once(&c.janus) < 0) {
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
