/*
 * chat_bench_setup: the signalling of the chat benchmark's clients (chat_bench.h), as the
 * browser app does it over the Janus HTTP API, with our peer as the answerer:
 *   create (with the user's token) -> attach janus.plugin.textroom -> {"request":"setup"}
 *   -> the server's offer (one m=application) -> our answer (its ICE credentials, our
 *   fingerprint, setup active, our candidates inline, end-of-candidates) -> {"request":"ack"}
 *   -> we open "JanusDataChannel" (as createDataChannel does) and wait for its DCEP ack
 *   -> {"textroom":"join"} on the channel.
 * With --janus the caller first creates the pair's room ({"request":"create"} on the Janus
 * API), as Janus 1.1.2's textroom has no rooms of its own.
 *
 * The server's candidates come in the offer (ours: ICE-lite) or trickled (Janus): the
 * setup thread long-polls until the channel is open and hands them to the peer through
 * bench_remote_cands. After setup nobody long-polls: a keepalive thread keeps the
 * sessions alive (they time out after 60 s).
 */
#include "chat_bench.h"

#include <glib.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sdp.h"

#define CHB_GATHER_TIMEOUT_US (5 * G_USEC_PER_SEC)
#define CHB_KEEPALIVE_US (20 * G_USEC_PER_SEC)

/* ---- state changes ---- */


void chb_fail(chb_client *c, const char *fmt, ...)
{
    if (!atomic_exchange(&c->failed, true)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof c->error, fmt, ap);
        va_end(ap);
    }
    atomic_store(&c->poll_stop, true);
    bench_change_notify();
}

/* Waits until flag is true, the client failed, or deadline_us; true when flag. */
static bool wait_flag(chb_client *c, atomic_bool *flag, int64_t deadline_us)
{
    for (;;) {
        uint64_t gen = bench_change_generation();
        if (atomic_load(flag))
            return true;
        if (atomic_load(&c->failed) || !bench_change_wait(gen, deadline_us))
            return atomic_load(flag);
    }
}

/* ---- Janus API events (setup thread) ---- */

static void janus_failed(void *user, const char *reason)
{
    chb_fail(user, "%s", reason);
}

static void on_plugin_event(chb_client *c, json_t *data, json_t *jsep)
{
    json_t *code = json_object_get(data, "error_code");
    if (code) {
        const char *e = json_string_value(json_object_get(data, "error"));
        chb_fail(c, "plugin error %" JSON_INTEGER_FORMAT ": %s", json_integer_value(code),
                 e ? e : "?");
        return;
    }
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    if (type && sdp && strcmp(type, "offer") == 0 && !c->offer && !c->peer)
        c->offer = g_strdup(sdp);
}

static void on_event(void *user, json_t *ev)
{
    chb_client *c = user;
    const char *reason = NULL;
    switch (bench_janus_event(ev, &c->events, &c->cands, c->peer, &reason)) {
    case BENCH_JANUS_EV_PLUGIN: {
        json_t *data = json_object_get(json_object_get(ev, "plugindata"), "data");
        if (data)
            on_plugin_event(c, data, json_object_get(ev, "jsep"));
        break;
    }
    case BENCH_JANUS_EV_HANGUP:
        if (!atomic_load(&c->open))
            chb_fail(c, "the server hung up the PeerConnection during setup");
        break;
    case BENCH_JANUS_EV_ERROR:
        chb_fail(c, "server error: %s", reason);
        break;
    case BENCH_JANUS_EV_WEBRTCUP:
    case BENCH_JANUS_EV_OTHER:
        break;
    }
}

/* Long-polls until flag is set (or failure / deadline). */
static bool poll_until(chb_client *c, atomic_bool *flag, const char *what, int64_t deadline)
{
    while (!atomic_load(flag) && !atomic_load(&c->failed)) {
        if (g_get_monotonic_time() > deadline) {
            chb_fail(c, "%s: timed out", what);
            break;
        }
        if (bench_janus_poll_once(&c->janus) < 0)
            chb_fail(c, "%s: long-poll failed", what);
    }
    return atomic_load(flag) && !atomic_load(&c->failed);
}

/* ---- our answer ---- */

static peer_dtls_setup setup_role(const char *v)
{
    if (v && strcmp(v, "active") == 0)
        return PEER_SETUP_ACTIVE;
    if (v && strcmp(v, "passive") == 0)
        return PEER_SETUP_PASSIVE;
    return PEER_SETUP_ACTPASS;
}

/* The offer's data-channel m-line to the peer: transport, SCTP port, candidates. */
static int apply_offer(chb_client *c, const sdp_session *o, const chb_config *cfg)
{
    int idx = -1;
    for (size_t i = 0; i < o->n_media && idx < 0; i++)
        if (o->media[i].type == SDP_MEDIA_APPLICATION && !o->media[i].rejected)
            idx = (int)i;
    sdp_transport t;
    if (idx < 0 || sdp_media_transport(o, (size_t)idx, &t) != 0 || !t.ice_ufrag || !t.ice_pwd ||
        !t.fingerprint) {
        chb_fail(c, "the offer has no usable m=application");
        return -1;
    }
    peer_callbacks cb = chb_peer_callbacks(c);
    c->peer = peer_create(c->pair->lane->loop, &cfg->peer, &cb);
    /* Facing an ICE-lite server (ours by default) the full agent must be the controlling one
     * (RFC 8445 6.1.1), as browsers are, although it answers: the lite side refuses a
     * controlled agent's checks with 487. Facing a full agent (Janus) the answerer stays
     * controlled. The same rule as bench_apply_remote's. */
    if (c->peer && o->ice_lite)
        peer_set_remote_ice_lite(c->peer);
    uint16_t sctp_port = o->media[idx].sctp_port ? o->media[idx].sctp_port : 5000;
    if (!c->peer || peer_set_remote(c->peer, t.ice_ufrag, t.ice_pwd, t.fingerprint,
                                    setup_role(t.setup), true, sctp_port) != 0) {
        chb_fail(c, "peer_create / peer_set_remote refused the offer");
        return -1;
    }
    c->cands.applied = true;
    bool eoc = false;
    for (size_t i = 0; i < o->n_media; i++) {
        for (size_t k = 0; k < o->media[i].n_candidates; k++)
            bench_remote_cands_add(&c->cands, c->peer, o->media[i].candidates[k]);
        eoc = eoc || o->media[i].end_of_candidates;
    }
    for (int i = 0; i < c->cands.n_pending; i++)
        bench_remote_cands_add(&c->cands, c->peer, c->cands.pending[i]);
    bench_remote_cands_clear(&c->cands);
    if (eoc || c->cands.done_early)
        peer_remote_candidates_done(c->peer);
    return 0;
}

/* Our answer's text (malloc'd) once the peer gathered, or NULL after chb_fail. */
static char *write_answer(chb_client *c, const sdp_session *o, int64_t deadline)
{
    if (!wait_flag(c, &c->gathered, deadline)) {
        chb_fail(c, "our peer did not finish gathering");
        return NULL;
    }
    sdp_answer_prefs pr;
    sdp_answer_prefs_default(&pr);
    pr.accept_audio = pr.accept_video = false;
    sdp_session *a = NULL;
    if (sdp_make_answer(o, &pr, &a) != 0) {
        chb_fail(c, "sdp_make_answer failed on the server's offer");
        return NULL;
    }
    char *text = NULL;
    if (bench_answer_transport(c->peer, a) != 0 || !(text = sdp_write_alloc(a)))
        chb_fail(c, "could not write the answer (no local candidates?)");
    sdp_free(a);
    return text;
}

/* The server's offer (c->offer) -> our peer -> the answer with "ack". */
static int answer_offer(chb_client *c, const chb_config *cfg, int64_t deadline)
{
    sdp_session *o = NULL;
    char err[160] = "";
    int rc = -1;
    if (sdp_parse(c->offer, strlen(c->offer), &o, err, sizeof err) != 0) {
        chb_fail(c, "offer SDP refused: %s", err);
        goto out;
    }
    if (cfg->verbose)
        fprintf(stderr, "pair %d %s: offer:\n%s", c->pair->index, c->username, c->offer);
    if (apply_offer(c, o, cfg) != 0)
        goto out;
    char *answer = write_answer(c, o, deadline);
    if (!answer)
        goto out;
    if (cfg->verbose)
        fprintf(stderr, "pair %d %s: answer:\n%s", c->pair->index, c->username, answer);
    rc = bench_janus_message(&c->janus, json_pack("{s:s}", "request", "ack"), "answer", answer);
    free(answer);
out:
    sdp_free(o);
    g_free(c->offer);
    c->offer = NULL;
    return rc;
}

/* ---- one client, one pair ---- */

/* Session, handle, offer/answer, the open data channel. */
static int setup_client(chb_client *c, const chb_config *cfg)
{
    int64_t deadline = g_get_monotonic_time() + (int64_t)cfg->setup_timeout_ms * 1000;
    c->janus = (bench_janus){.url = &cfg->url, .stop = &c->poll_stop, .fail = janus_failed,
                             .on_event = on_event, .user = c, .token = c->token};
    snprintf(c->cands.label, sizeof c->cands.label, "pair %d %s", c->pair->index,
             c->role == CHB_CALLER ? "caller" : "host");
    c->cands.verbose = cfg->verbose;
    if (bench_janus_create_attach(&c->janus, "janus.plugin.textroom") != 0 ||
        bench_janus_message(&c->janus, json_pack("{s:s}", "request", "setup"), NULL, NULL) != 0)
        return -1;
    while (!c->offer && !atomic_load(&c->failed)) {
        if (g_get_monotonic_time() > deadline) {
            chb_fail(c, "no offer after setup");
            return -1;
        }
        if (bench_janus_poll_once(&c->janus) < 0)
            chb_fail(c, "long-poll failed waiting for the offer");
    }
    if (!c->offer || answer_offer(c, cfg, deadline) != 0)
        return -1;
    /* As the browser's createDataChannel: the server answers on the channel we open. */
    peer_open_data_channel(c->peer, CHB_LABEL);
    return poll_until(c, &c->open, "data channel", deadline) ? 0 : -1;
}

/* Janus 1.1.2: the pair's room, made by the caller's handle. */
static int create_janus_room(chb_client *c)
{
    char path[256];
    bench_janus_path(&c->janus, true, path, sizeof path);
    json_t *r = bench_janus_post(&c->janus, path, json_pack(
        "{s:s,s:s,s:{s:s,s:I,s:b}}", "janus", "message", "transaction", "r", "body",
        "request", "create", "room", (json_int_t)c->pair->room, "permanent", 0));
    if (!r)
        return -1;
    json_t *data = json_object_get(json_object_get(r, "plugindata"), "data");
    const char *what = json_string_value(json_object_get(data, "textroom"));
    int rc = what && strcmp(what, "created") == 0 ? 0 : -1;
    if (rc != 0) {
        char *t = json_dumps(r, JSON_COMPACT);
        chb_fail(c, "room create refused: %.200s", t ? t : "?");
        free(t);
    }
    json_decref(r);
    return rc;
}

static int join_room(chb_client *c, const chb_config *cfg)
{
    snprintf(c->join_tx, sizeof c->join_tx, "j%d.%d", c->pair->index, c->role);
    loop_invoke(c->pair->lane->loop, chb_send_join, c);
    int64_t deadline = g_get_monotonic_time() + (int64_t)cfg->setup_timeout_ms * 1000;
    for (;;) {
        uint64_t gen = bench_change_generation();
        if (atomic_load(&c->join_state) != 0 || atomic_load(&c->failed))
            break;
        if (!bench_change_wait(gen, deadline)) {
            chb_fail(c, "no answer to join");
            break;
        }
    }
    return atomic_load(&c->join_state) == 1 ? 0 : -1;
}

static bool setup_pair(chb_pair *p, const chb_config *cfg)
{
    chb_client *caller = &p->c[CHB_CALLER], *host = &p->c[CHB_HOST];
    bool ok = setup_client(caller, cfg) == 0 && setup_client(host, cfg) == 0 &&
              (!cfg->janus || create_janus_room(caller) == 0) &&
              join_room(caller, cfg) == 0 && join_room(host, cfg) == 0;
    atomic_store(&p->ready, ok);
    if (!ok) {
        chb_client *c = caller->error[0] ? caller : host;
        fprintf(stderr, "chat_bench_client: pair %d (%s): %s\n", p->index,
                c == caller ? "caller" : "host", c->error[0] ? c->error : "failed");
    }
    return ok;
}

typedef struct setup_work {
    chb_pair *pairs;
    int n;
    const chb_config *cfg;
    atomic_int next, ready;
} setup_work;

static void *setup_thread(void *arg)
{
    setup_work *w = arg;
    for (int i; (i = atomic_fetch_add(&w->next, 1)) < w->n;)
        if (setup_pair(&w->pairs[i], w->cfg))
            atomic_fetch_add(&w->ready, 1);
    return NULL;
}

int chb_setup_pairs(chb_pair *pairs, int n, const chb_config *cfg)
{
    setup_work w = {.pairs = pairs, .n = n, .cfg = cfg};
    int nt = cfg->setup_parallel < n ? cfg->setup_parallel : n;
    GThread **t = g_new0(GThread *, (size_t)nt);
    for (int i = 0; i < nt; i++)
        t[i] = g_thread_new("chb-setup", setup_thread, &w);
    for (int i = 0; i < nt; i++)
        g_thread_join(t[i]);
    g_free(t);
    return atomic_load(&w.ready);
}

/* ---- keepalive ---- */

static struct {
    GThread *thread;
    chb_pair *pairs;
    int n;
    bool stop;                 /* under g_mu */
} ka;

static void keepalive_round(void)
{
    for (int i = 0; i < ka.n; i++) {
        for (int r = 0; r < 2; r++) {
            chb_client *c = &ka.pairs[i].c[r];
            if (!c->janus.session_id)
                continue;
            char path[256];
            bench_janus_path(&c->janus, false, path, sizeof path);
            json_decref(bench_janus_post(&c->janus, path, json_pack(
                "{s:s,s:s}", "janus", "keepalive", "transaction", "k")));
        }
    }
}

/* The keepalive thread's sleep, cut short by chb_keepalive_stop. */
static GMutex ka_mu;
static GCond ka_cond;

static void *keepalive_thread(void *arg)
{
    (void)arg;
    g_mutex_lock(&ka_mu);
    for (;;) {
        int64_t next = g_get_monotonic_time() + CHB_KEEPALIVE_US;
        while (!ka.stop && g_cond_wait_until(&ka_cond, &ka_mu, next))
            ;
        if (ka.stop)
            break;
        g_mutex_unlock(&ka_mu);
        keepalive_round();
        g_mutex_lock(&ka_mu);
    }
    g_mutex_unlock(&ka_mu);
    return NULL;
}

void chb_keepalive_start(chb_pair *pairs, int n)
{
    ka.pairs = pairs;
    ka.n = n;
    ka.stop = false;
    ka.thread = g_thread_new("chb-keepalive", keepalive_thread, NULL);
}

void chb_keepalive_stop(void)
{
    if (!ka.thread)
        return;
    g_mutex_lock(&ka_mu);
    ka.stop = true;
    g_cond_broadcast(&ka_cond);
    g_mutex_unlock(&ka_mu);
    g_thread_join(ka.thread);
    ka.thread = NULL;
}

void chb_teardown_pairs(chb_pair *pairs, int n)
{
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < 2; r++) {
            chb_client *c = &pairs[i].c[r];
            if (c->peer)
                peer_close(c->peer);
            bench_janus_destroy(&c->janus);
            bench_remote_cands_clear(&c->cands);
            if (c->peer)
                peer_unref(c->peer);
            c->peer = NULL;
            g_free(c->offer);
            c->offer = NULL;
        }
    }
}
