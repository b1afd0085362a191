/*
 * Server-made offers (regression test for the defect fixed in 153afa9).
 *
 * The defect: when the server offered first (handle_media_local_jsep with a plugin's offer,
 * e.g. the callee leg of a call), its peer never started gathering as the offerer, and the
 * client's answer took the ICE-restart branch, so the answer's DTLS fingerprint was never
 * applied and the PeerConnection never came up.
 *
 * Here a handle on the echotest plugin gets a server-made offer (audio, video, data). A raw
 * media peer plays the client, as a browser would: it takes the offer's ICE credentials,
 * fingerprint and candidates (those in the SDP and those trickled later as "trickle" events
 * in the session's queue), gathers, and answers with its own credentials, fingerprint,
 * a=setup:active and candidates, which go in through handle_media_remote_jsep. Then the
 * server's handle must report "webrtcup", the client must reach PEER_STATE_SECURE, and a
 * message on a data channel opened by the client must come back (echotest echoes it): DTLS
 * with the right fingerprints, then SCTP, both ways.
 *
 * Both peers live in this process and share the process-wide DTLS identity.
 */
#include <glib.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "core/handle_media.h"
#include "core/loop.h"
#include "core/media_counters.h"
#include "core/plugin_host.h"
#include "core/server.h"
#include "core/session.h"
#include "media/peer.h"
#include "proto/sdp.h"
#include "util/config.h"
#include "util/log.h"

#define WAIT_S 10
#define MESSAGE "hello through a server-made offer"

/* ---- the client (callbacks on its loop thread) ---- */

typedef struct client {
    peer_t *peer;
    loop_t *loop;
    GMutex lock;
    GCond cond;
    peer_state state;
    bool gathered;
    int opens;
    char open_label[64];
    int messages;
    char last_message[128];
} client;

static void on_candidate(void *user, const char *candidate) { (void)user, (void)candidate; }

static void on_gathered(void *user)
{
    client *c = user;
    g_mutex_lock(&c->lock);
    c->gathered = true;
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

static void on_state(void *user, peer_state st)
{
    client *c = user;
    g_mutex_lock(&c->lock);
    c->state = st;
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

static void on_data_open(void *user, uint16_t sid, const char *label, const char *protocol)
{
    client *c = user;
    g_mutex_lock(&c->lock);
    c->opens++;
    g_strlcpy(c->open_label, label ? label : "", sizeof c->open_label);
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

static void on_data(void *user, uint16_t sid, const char *label, bool binary, const uint8_t *buf, size_t len)
{
    client *c = user;
    g_mutex_lock(&c->lock);
    c->messages++;
    size_t n = len < sizeof c->last_message - 1 ? len : sizeof c->last_message - 1;
    memcpy(c->last_message, buf, n);
    c->last_message[n] = '\0';
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

static void on_rtp(void *user, uint8_t *buf, size_t len) { (void)user, (void)buf, (void)len; }

/* ---- the server's side, as its client sees it: the session's event queue ---- */

typedef struct server_view {
    janus_session *session;
    client *client;
    int trickled;            /* candidates received as trickle events */
    bool trickle_done;       /* {"completed":true} */
    bool webrtcup;
    int hangups;
} server_view;

/* Takes every queued event of the session (no WebSocket is bound: they wait for a
 * long-poll) and acts on them as a client would. */
static void pump_events(server_view *v)
{
    GQueue taken = G_QUEUE_INIT;
    g_mutex_lock(&v->session->lock);
    taken = v->session->events;
    g_queue_init(&v->session->events);
    g_mutex_unlock(&v->session->lock);
    char *text;
    while ((text = g_queue_pop_head(&taken))) {
        json_t *ev = json_loads(text, 0, NULL);
        const char *verb = json_string_value(json_object_get(ev, "janus"));
        if (verb && strcmp(verb, "trickle") == 0) {
            json_t *cand = json_object_get(ev, "candidate");
            const char *line = json_string_value(json_object_get(cand, "candidate"));
            if (line) {
                CHECK_INT(peer_add_remote_candidate(v->client->peer, line), PEER_OK);
                v->trickled++;
            } else if (json_is_true(json_object_get(cand, "completed"))) {
                peer_remote_candidates_done(v->client->peer);
                v->trickle_done = true;
            }
        } else if (verb && strcmp(verb, "webrtcup") == 0) {
            v->webrtcup = true;
        } else if (verb && strcmp(verb, "hangup") == 0) {
            fprintf(stderr, "server hung up: %s\n", text);
            v->hangups++;
        }
        json_decref(ev);
        free(text);
    }
}

typedef bool (*client_pred)(client *c);

/* Waits for pred on the client, pumping the server's events meanwhile. */
static bool wait_for(server_view *v, client_pred pred, bool need_webrtcup)
{
    gint64 end = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
    for (;;) {
        pump_events(v);
        g_mutex_lock(&v->client->lock);
        bool ok = pred(v->client);
        g_mutex_unlock(&v->client->lock);
        if (ok && (!need_webrtcup || v->webrtcup))
            return true;
        if (g_get_monotonic_time() >= end)
            return false;
        g_usleep(5000);
    }
}

static bool gathered(client *c) { return c->gathered; }
static bool secure(client *c) { return c->state == PEER_STATE_SECURE; }
static bool opened(client *c) { return c->opens >= 1; }
static bool echoed(client *c) { return c->messages >= 1; }

typedef struct send_job {
    client *c;
    int rc;
} send_job;

static void send_message(void *arg)
{
    send_job *j = arg;
    j->rc = peer_send_data(j->c->peer, "echo", 0, false, (const uint8_t *)MESSAGE, strlen(MESSAGE));
}

/* The client's answer: the offer's media as offered, our transport, no SSRCs of the
 * server's. */
static char *client_answer(const char *offer_sdp, client *c)
{
    sdp_session *s = NULL;
    char reason[200];
    if (sdp_parse(offer_sdp, strlen(offer_sdp), &s, reason, sizeof reason) != 0) {
        fprintf(stderr, "offer does not parse: %s\n", reason);
        return NULL;
    }
    sdp_strip_transport(s);
    for (size_t i = 0; i < s->n_media; i++)
        sdp_clear_ssrcs(&s->media[i]);
    char ufrag[64], pwd[64];
    peer_local_credentials(c->peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    char cands[8192];
    int n = peer_local_candidates(c->peer, cands, sizeof cands);
    CHECK(n > 0);
    const char *lines[64];
    size_t count = 0;
    char *save = NULL;
    for (char *line = n > 0 ? strtok_r(cands, "\n", &save) : NULL; line && count < 64; line = strtok_r(NULL, "\n", &save))
        lines[count++] = line;
    const char *setup = peer_local_setup(c->peer) == PEER_SETUP_ACTIVE ? "active" : "passive";
    char *text = NULL;
    if (sdp_set_transport(s, ufrag, pwd, peer_local_fingerprint(), setup, lines, count, true) == 0)
        text = sdp_write_alloc(s);
    sdp_free(s);
    return text;
}

static void flush_loop(void *arg) { (void)arg; }

int main(void)
{
    if (getenv("PARLEY_TEST_DEBUG"))
        log_set_level(LOG_LEVEL_DEBUG);
    CHECK_INT(peer_global_init(), PEER_OK);
    server_config cfg;
    char err[256] = "";
    char *argv[] = {"test_server_offer", NULL};
    char *envp[] = {NULL};
    CHECK_INT(config_load(&cfg, 1, argv, envp, err, sizeof err), CONFIG_RUN);
    server_t srv = {.config = &cfg};
    srv.peer_cfg = (peer_config){.bind_ips = "127.0.0.1", .allow_loopback = true};
    srv.loops = loop_pool_create(2);
    session_registry *reg = session_registry_create(&srv);
    plugin_host *ph = plugin_host_create(&srv, NULL);
    plugin_entry *pe = plugin_host_find(ph, "janus.plugin.echotest");
    janus_session *s = session_create(reg, 0, 0);
    plugin_handle *h = pe && s ? handle_create(s, pe, NULL, 0) : NULL;
    CHECK(h != NULL);
    if (!h)
        return check_summary("core-server-offer");
    CHECK_INT(plugin_host_create_session(h), 0);
    const core_callbacks *core = plugin_host_callbacks();

    /* The server offers first. */
    plugin_media_desc desc = {.audio = PLUGIN_DIR_SENDRECV, .video = PLUGIN_DIR_SENDRECV, .data = true};
    char *offer_jsep = core->jsep_offer(&desc);
    CHECK(offer_jsep != NULL);
    json_t *offer = offer_jsep ? handle_media_local_jsep(h, offer_jsep) : NULL;
    CHECK(offer != NULL);
    const char *offer_sdp = json_string_value(json_object_get(offer, "sdp"));
    CHECK_STR(json_string_value(json_object_get(offer, "type")), "offer");
    plugin_media_state st;
    CHECK_INT(core->handle_media_state(h, &st), 0);
    CHECK(st.has_peer && !st.up);
    sdp_session *o = NULL;
    char reason[200] = "";
    CHECK_INT(offer_sdp ? sdp_parse(offer_sdp, strlen(offer_sdp), &o, reason, sizeof reason) : -1, 0);
    if (!o) {
        fprintf(stderr, "server offer: %s\n%s\n", reason, offer_sdp ? offer_sdp : "(none)");
        return check_summary("core-server-offer");
    }
    sdp_transport t;
    CHECK_INT(sdp_media_transport(o, 0, &t), 0);
    CHECK(t.ice_ufrag && t.ice_pwd && t.fingerprint);
    CHECK_STR(t.setup, "actpass");
    CHECK_STR(t.fingerprint, peer_local_fingerprint());
    uint16_t sctp_port = 0;
    for (size_t i = 0; i < o->n_media; i++)
        if (o->media[i].type == SDP_MEDIA_APPLICATION)
            sctp_port = o->media[i].sctp_port;
    CHECK_INT(sctp_port, 5000);

    /* The client takes the offer. */
    client c = {.state = PEER_STATE_NEW};
    g_mutex_init(&c.lock);
    g_cond_init(&c.cond);
    c.loop = loop_pool_get(srv.loops, st.loop == 0 ? 1 : 0);   /* the other loop */
    peer_config ccfg = {.bind_ips = "127.0.0.1", .allow_loopback = true};
    peer_callbacks cb = {.user = &c, .local_candidate = on_candidate, .gathering_done = on_gathered,
                         .state_changed = on_state, .rtp = on_rtp, .rtcp = on_rtp, .data_open = on_data_open,
                         .data = on_data};
    c.peer = peer_create(c.loop, &ccfg, &cb);
    CHECK(c.peer != NULL);
    CHECK_INT(peer_set_remote(c.peer, t.ice_ufrag, t.ice_pwd, t.fingerprint, PEER_SETUP_ACTPASS, true, sctp_port),
              PEER_OK);
    CHECK_INT(peer_local_setup(c.peer), PEER_SETUP_ACTIVE);
    int in_sdp = 0;
    for (size_t i = 0; i < o->media[0].n_candidates; i++, in_sdp++)
        CHECK_INT(peer_add_remote_candidate(c.peer, o->media[0].candidates[i]), PEER_OK);
    if (o->media[0].end_of_candidates)
        peer_remote_candidates_done(c.peer);
    server_view v = {.session = s, .client = &c};

    /* The client gathers, then answers with everything it has. */
    CHECK(wait_for(&v, gathered, false));
    char *answer = client_answer(offer_sdp, &c);
    CHECK(answer != NULL);
    char *plugin_jsep = NULL;
    janus_error jerr = {0};
    int rc = answer ? handle_media_remote_jsep(h, "answer", answer, false, &plugin_jsep, &jerr) : -1;
    CHECK_INT(rc, 0);
    if (rc != 0)
        fprintf(stderr, "answer refused: %d %s\n", jerr.code, jerr.reason);
    CHECK(plugin_jsep && strstr(plugin_jsep, "\"answer\"") && !strstr(plugin_jsep, "ice-ufrag"));
    free(plugin_jsep);

    /* Up on both sides. */
    gint64 t0 = g_get_monotonic_time();
    bool up = wait_for(&v, secure, true);
    CHECK(up);
    CHECK(v.webrtcup);
    CHECK_INT(v.hangups, 0);
    fprintf(stderr, "server candidates: %d in the offer, %d trickled%s; up in %.0f ms\n", in_sdp, v.trickled,
            v.trickle_done ? " (then completed)" : "", (double)(g_get_monotonic_time() - t0) / 1000.0);
    CHECK(in_sdp + v.trickled >= 1);   /* the offerer gathered */
    CHECK_INT(core->handle_media_state(h, &st), 0);
    CHECK(st.has_peer && st.up && st.data);
    CHECK(st.audio_send && st.audio_recv && st.video_send && st.video_recv);
    CHECK_INT(atomic_load(&srv.counters.webrtcup), 1);

    /* A data channel opened by the client; echotest sends the message back. */
    if (up) {
        CHECK_INT(peer_open_data_channel(c.peer, "echo"), 0);
        CHECK(wait_for(&v, opened, false));
        CHECK_STR(c.open_label, "echo");
        send_job j = {.c = &c, .rc = -1};
        loop_invoke_sync(c.loop, send_message, &j);
        CHECK_INT(j.rc, PEER_OK);
        CHECK(wait_for(&v, echoed, false));
        g_mutex_lock(&c.lock);
        CHECK_STR(c.last_message, MESSAGE);
        g_mutex_unlock(&c.lock);
        media_counter_totals mt;
        media_counters_total(&srv.counters, &mt);
        CHECK(mt.data_messages[MEDIA_DIR_IN] >= 1);
        CHECK(mt.data_messages[MEDIA_DIR_OUT] >= 1);
    }

    /* Tear down. */
    handle_detach(h, true);
    gint64 end = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
    while (atomic_load(&srv.counters.peers_closed) < 1 && g_get_monotonic_time() < end)
        g_usleep(2000);
    CHECK_INT(atomic_load(&srv.counters.peers_closed), 1);
    peer_close(c.peer);
    peer_unref(c.peer);
    handle_unref(h);
    session_destroy(reg, s);
    session_unref(s);
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < 2; l++)
            loop_invoke_sync(loop_pool_get(srv.loops, l), flush_loop, NULL);
    session_registry_destroy(reg);
    plugin_host_destroy(ph);
    loop_pool_destroy(srv.loops);
    sdp_free(o);
    json_decref(offer);
    free(offer_jsep);
    free(answer);
    g_mutex_clear(&c.lock);
    g_cond_clear(&c.cond);
    peer_global_deinit();
    config_free(&cfg);
    return check_summary("core-server-offer");
}
