/*
 * handle_media: see handle_media.h.
 *
 * Negotiated routing tables (payload type -> kind, extension id maps, our SSRCs) are built
 * on the control path from a final SDP and published to the loop thread with loop_invoke;
 * the loop swaps its pointer and frees the old table, so the packet path reads them without
 * a lock and they never change under it.
 */
#include "core/handle_media.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/media_counters.h"
#include "core/plugin_host.h"
#include "core/rtx_buffer.h"
#include "core/session.h"
#include "media/peer.h"
#include "proto/rtcp.h"
#include "proto/rtp.h"
#include "proto/sdp.h"
#include "util/log.h"

#define MEDIA_CHECK_INTERVAL_MS 500
#define MEDIA_SILENCE_US (1 * G_USEC_PER_SEC)
#define MAX_PENDING_CANDIDATES 64

static const char *const ext_uris[HMEDIA_EXT_COUNT] = {
    [HMEDIA_EXT_AUDIO_LEVEL] = "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    [HMEDIA_EXT_ABS_SEND_TIME] = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    [HMEDIA_EXT_VIDEO_ORIENTATION] = "urn:3gpp:video-orientation",
    [HMEDIA_EXT_TOFFSET] = "urn:ietf:params:rtp-hdrext:toffset",
    [HMEDIA_EXT_MID] = "urn:ietf:params:rtp-hdrext:sdes:mid",
    [HMEDIA_EXT_TRANSPORT_CC] = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    [HMEDIA_EXT_PLAYOUT_DELAY] = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
};

/* Immutable once published to the loop. */
typedef struct media_tables {
    int8_t pt_kind[128];         /* -1 unknown, else plugin_media_kind */
    uint8_t ext_in[2][256];      /* per kind: negotiated id -> canonical id (0 drops) */
    uint8_t ext_out[2][256];     /* per kind: canonical id -> negotiated id (0 drops) */
    bool has_kind[2];
    char mid[2][64];             /* mid of the first audio / video m-line */
} media_tables;

struct handle_media {
    plugin_handle *h;            /* owner (not a reference: the handle owns us) */
    loop_t *loop;
    peer_t *peer;                /* NULL until the first offer/answer, and after hangup */
    uint32_t out_ssrc[2];        /* our outgoing SSRCs (audio, video), fixed for life */
    char cname[20], stream_id[40];

    /* Control state (h->lock). */
    char remote_ufrag[257], remote_pwd[257];
    bool have_remote, offer_from_us, hung_up;
    char first_mid[64];
    GPtrArray *pending_candidates;

    /* Shared between the loop (trickle callbacks) and the control path (answer). */
    GMutex trickle_lock;
    bool local_sent, gathering_done;

    /* Loop-thread only. */
    media_tables *tables;
    uint32_t remote_ssrc[2];
    int64_t last_rtp_us[2];
    bool receiving[2];
    bool webrtcup;
    bool ice_connected;          /* for /metrics: a failure after this and before SECURE is DTLS's */
    GSource *check_timer;
    rtx_buffer *rtx[2];          /* what we sent, per kind, to answer NACKs (lazily created) */
    uint8_t resend[RTX_BUFFER_MAX_PACKET + PLUGIN_PACKET_HEADROOM];
};

static server_counters *counters_of(handle_media *m) { return &m->h->session->srv->counters; }

static uint32_t random_u32(void)
{
    uint32_t v = 0;
    while (v == 0)
        if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
            v = g_random_int();
    return v;
}

static void random_token(char *out, size_t n)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char raw[64];
    RAND_bytes(raw, (int)n);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[raw[i] % (sizeof alphabet - 1)];
    out[n] = '\0';
}

static handle_media *media_new(plugin_handle *h)
{
    handle_media *m = calloc(1, sizeof *m);
    m->h = h;
    m->out_ssrc[PLUGIN_MEDIA_AUDIO] = random_u32();
    m->out_ssrc[PLUGIN_MEDIA_VIDEO] = random_u32();
    random_token(m->cname, 16);
    random_token(m->stream_id, 32);
    m->pending_candidates = g_ptr_array_new_with_free_func(g_free);
    g_mutex_init(&m->trickle_lock);
    return m;
}

static void stop_media_check(void *arg);

/* With h->lock held. */
static handle_media *media_get(plugin_handle *h)
{
    if (!h->media)
        h->media = media_new(h);
    return h->media;
}

void handle_media_free(handle_media *m)
{
    if (!m)
        return;
    if (m->peer) {
        peer_close(m->peer);
        atomic_fetch_add(&counters_of(m)->peers_closed, 1);
        peer_unref(m->peer);
        loop_release(m->loop);
    }
    if (m->check_timer) {
        if (loop_is_current(m->loop))
            stop_media_check(m);
        else
            loop_invoke_sync(m->loop, stop_media_check, m);
    }
    free(m->tables);
    rtx_buffer_free(m->rtx[0]);
    rtx_buffer_free(m->rtx[1]);
    g_ptr_array_free(m->pending_candidates, TRUE);
    g_mutex_clear(&m->trickle_lock);
    free(m);
}

/* ---- events ---- */

static void push_trickle(handle_media *m, const char *candidate)
{
    json_t *cand;
    if (candidate)
        cand = json_pack("{s:s,s:i,s:s}", "sdpMid", m->first_mid, "sdpMLineIndex", 0, "candidate", candidate);
    else
        cand = json_pack("{s:b}", "completed", 1);
    handle_push(m->h, "trickle", json_pack("{s:o}", "candidate", cand));
}

static void push_media_event(handle_media *m, plugin_media_kind kind, bool receiving)
{
    const media_tables *t = m->tables;
    json_t *extra = json_pack("{s:s,s:b}", "type", kind == PLUGIN_MEDIA_VIDEO ? "video" : "audio", "receiving",
                              receiving);
    if (t && t->mid[kind][0])
        json_object_set_new(extra, "mid", json_string(t->mid[kind]));
    handle_push(m->h, "media", extra);
}

/* ---- peer callbacks (loop thread) ---- */

static void on_local_candidate(void *user, const char *candidate)
{
    handle_media *m = user;
    g_mutex_lock(&m->trickle_lock);
    bool sent = m->local_sent;
    g_mutex_unlock(&m->trickle_lock);
    if (sent)
        push_trickle(m, candidate);
}

static void on_gathering_done(void *user)
{
    handle_media *m = user;
    g_mutex_lock(&m->trickle_lock);
    m->gathering_done = true;
    bool sent = m->local_sent;
    g_mutex_unlock(&m->trickle_lock);
    if (sent)
        push_trickle(m, NULL);
}

static void *plugin_session_of(handle_media *m) { return m->h->plugin_session; }

static gboolean media_check(gpointer data)
{
    handle_media *m = data;
    int64_t now = g_get_monotonic_time();
    for (int k = 0; k < 2; k++) {
        if (m->receiving[k] && now - m->last_rtp_us[k] > MEDIA_SILENCE_US) {
            m->receiving[k] = false;
            push_media_event(m, (plugin_media_kind)k, false);
        }
    }
    return G_SOURCE_CONTINUE;
}

static void start_media_check(handle_media *m)
{
    if (m->check_timer)
        return;
    m->check_timer = g_timeout_source_new(MEDIA_CHECK_INTERVAL_MS);
    g_source_set_callback(m->check_timer, media_check, m, NULL);
    g_source_attach(m->check_timer, loop_context(m->loop));
}

static void stop_media_check(void *arg)
{
    handle_media *m = arg;
    if (m->check_timer) {
        g_source_destroy(m->check_timer);
        g_source_unref(m->check_timer);
        m->check_timer = NULL;
    }
}

static void on_state(void *user, peer_state state)
{
    handle_media *m = user;
    plugin_handle *h = m->h;
    const plugin_descriptor *d = plugin_entry_descriptor(h->plugin);
    server_t *srv = h->session->srv;
    if (state == PEER_STATE_SECURE && !m->webrtcup) {
        m->webrtcup = true;
        atomic_fetch_add(&srv->counters.webrtcup, 1);
        handle_push(h, "webrtcup", NULL);
        start_media_check(m);
        void *ps = plugin_session_of(m);
        if (ps && d->setup_media)
            d->setup_media(ps);
    } else if (state == PEER_STATE_CONNECTED) {
        m->ice_connected = true;
    } else if (state == PEER_STATE_FAILED) {
        atomic_fetch_add(&srv->counters.peers_failed, 1);
        if (m->ice_connected && !m->webrtcup)
            atomic_fetch_add(&srv->counters.dtls_failed, 1);
        LOG_INFO("media", "handle %" G_GUINT64_FORMAT ": PeerConnection failed", h->id);
        handle_push(h, "hangup", json_pack("{s:s}", "reason", m->webrtcup ? "ICE failed" : "Negotiation failed"));
        void *ps = plugin_session_of(m);
        if (ps && d->hangup_media)
            d->hangup_media(ps);
    }
}

static void on_rtp(void *user, uint8_t *buf, size_t len)
{
    handle_media *m = user;
    const media_tables *t = m->tables;
    rtp_view v;
    if (!t || rtp_parse(buf, len, &v) != 0 || t->pt_kind[v.pt] < 0)
        return;
    plugin_media_kind kind = (plugin_media_kind)t->pt_kind[v.pt];
    media_count_rtp(counters_of(m), MEDIA_DIR_IN, kind, len);
    m->remote_ssrc[kind] = v.ssrc;
    m->last_rtp_us[kind] = g_get_monotonic_time();
    if (!m->receiving[kind]) {
        m->receiving[kind] = true;
        push_media_event(m, kind, true);
    }
    if (v.extension && rtp_ext_remap(buf, len, t->ext_in[kind]) < 0)
        return;
    void *ps = plugin_session_of(m);
    const plugin_descriptor *d = plugin_entry_descriptor(m->h->plugin);
    if (ps && d->incoming_rtp)
        d->incoming_rtp(ps, kind, buf, len);
}

static uint32_t be32_at(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* The kind a compound RTCP packet is about: feedback or report blocks naming our video SSRC,
 * or reports from the remote's video sender, are video; anything else is audio. */
static plugin_media_kind rtcp_kind(handle_media *m, const uint8_t *buf, size_t len)
{
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, buf, len);
    uint32_t our_video = m->out_ssrc[PLUGIN_MEDIA_VIDEO], their_video = m->remote_ssrc[PLUGIN_MEDIA_VIDEO];
    while (rtcp_next(&it, &b) == 1) {
        if (b.len >= 8 && their_video && be32_at(b.data + 4) == their_video)
            return PLUGIN_MEDIA_VIDEO;
        size_t media_off = b.pt == 200 ? 28 : 8; /* SR's first report block follows sender info */
        if ((b.pt == 205 || b.pt == 206 || (b.pt <= 201 && b.count > 0)) && b.len >= media_off + 4 &&
            be32_at(b.data + media_off) == our_video)
            return PLUGIN_MEDIA_VIDEO;
    }
    return PLUGIN_MEDIA_AUDIO;
}

/* Resends from our buffer every packet a NACK in this compound asks for. The NACK still
 * goes on to the plugin: seqs we never had must reach the original sender. */
static void answer_nacks(handle_media *m, const uint8_t *buf, size_t len)
{
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, buf, len);
    while (rtcp_next(&it, &b) == 1) {
        if (b.pt != 205 || b.count != 1)
            continue;
        uint32_t sender = 0, media = 0;
        uint16_t seqs[64];
        int n = rtcp_parse_nack(&b, &sender, &media, seqs, 64);
        int kind = media == m->out_ssrc[PLUGIN_MEDIA_VIDEO] ? PLUGIN_MEDIA_VIDEO
                   : media == m->out_ssrc[PLUGIN_MEDIA_AUDIO] ? PLUGIN_MEDIA_AUDIO : -1;
        if (n <= 0 || kind < 0 || !m->rtx[kind] || !m->peer)
            continue;
        for (int i = 0; i < n && i < 64; i++) {
            size_t plen = 0;
            const uint8_t *pkt = rtx_buffer_find(m->rtx[kind], seqs[i], &plen);
            if (!pkt)
                continue;
            memcpy(m->resend, pkt, plen);
            if (peer_send_rtp(m->peer, m->resend, plen, sizeof m->resend) == 0)
                media_count_rtp(counters_of(m), MEDIA_DIR_OUT, kind, plen);
        }
    }
}

static void on_rtcp(void *user, uint8_t *buf, size_t len)
{
    handle_media *m = user;
    if (rtcp_validate(buf, len) != 0)
        return;
    media_rtcp_tally tally = media_rtcp_scan(buf, len);
    media_count_rtcp(counters_of(m), MEDIA_DIR_IN, &tally);
    answer_nacks(m, buf, len);
    void *ps = plugin_session_of(m);
    const plugin_descriptor *d = plugin_entry_descriptor(m->h->plugin);
    if (ps && d->incoming_rtcp)
        d->incoming_rtcp(ps, rtcp_kind(m, buf, len), buf, len);
}

static void on_data(void *user, uint16_t stream_id, const char *label, bool binary, const uint8_t *buf, size_t len)
{
    handle_media *m = user;
    media_count_data(counters_of(m), MEDIA_DIR_IN, len);
    void *ps = plugin_session_of(m);
    const plugin_descriptor *d = plugin_entry_descriptor(m->h->plugin);
    if (ps && d->incoming_data)
        d->incoming_data(ps, label ? label : "", binary, buf, len);
}

/* ---- tables ---- */

/* Holds a handle reference so the handle (and its media) outlive the queued swap. */
typedef struct tables_swap {
    plugin_handle *h;
    media_tables *tables;
} tables_swap;

static void apply_tables(void *arg)
{
    tables_swap *sw = arg;
    handle_media *m = sw->h->media;
    free(m->tables);
    m->tables = sw->tables;
    handle_unref(sw->h);
    free(sw);
}

/* The canonical id of uri, or 0. */
static int canonical_ext(const char *uri)
{
    for (int c = 1; c < HMEDIA_EXT_COUNT; c++)
        if (strcmp(uri, ext_uris[c]) == 0)
            return c;
    return 0;
}

/* True when id names another URI in some other m-line of the session. Some stacks (aiortc
 * 1.4) keep one id map per transport, so an id reused for two URIs across a BUNDLE group is
 * read with the wrong meaning there; we never send such an extension. */
static bool ext_id_ambiguous(const sdp_session *s, uint16_t id, const char *uri)
{
    for (size_t i = 0; i < s->n_media; i++) {
        const sdp_media *md = &s->media[i];
        if (md->rejected)
            continue;
        for (size_t e = 0; e < md->n_extmaps; e++)
            if (md->extmaps[e].id == id && strcmp(md->extmaps[e].uri, uri) != 0)
                return true;
    }
    return false;
}

static void add_media_tables(media_tables *t, const sdp_session *s, const sdp_media *md, int kind)
{
    if (!t->has_kind[kind] && md->mid)
        g_strlcpy(t->mid[kind], md->mid, sizeof t->mid[kind]);
    t->has_kind[kind] = true;
    for (size_t p = 0; p < md->n_payloads; p++)
        t->pt_kind[md->payloads[p].pt & 0x7f] = (int8_t)kind;
    for (size_t e = 0; e < md->n_extmaps; e++) {
        const sdp_extmap *x = &md->extmaps[e];
        int c = x->id < 256 ? canonical_ext(x->uri) : 0;
        if (!c)
            continue;
        t->ext_in[kind][x->id] = (uint8_t)c;
        if (!ext_id_ambiguous(s, x->id, x->uri))
            t->ext_out[kind][c] = (uint8_t)x->id;
    }
}

static media_tables *build_tables(const sdp_session *s)
{
    media_tables *t = calloc(1, sizeof *t);
    memset(t->pt_kind, -1, sizeof t->pt_kind);
    for (size_t i = 0; i < s->n_media; i++) {
        const sdp_media *md = &s->media[i];
        if (md->rejected || (md->type != SDP_MEDIA_AUDIO && md->type != SDP_MEDIA_VIDEO))
            continue;
        add_media_tables(t, s, md, md->type == SDP_MEDIA_VIDEO ? PLUGIN_MEDIA_VIDEO : PLUGIN_MEDIA_AUDIO);
    }
    /* The mid value names an m-line of the receiving PeerConnection: never relay it as is. */
    t->ext_out[PLUGIN_MEDIA_AUDIO][HMEDIA_EXT_MID] = 0;
    t->ext_out[PLUGIN_MEDIA_VIDEO][HMEDIA_EXT_MID] = 0;
    return t;
}

static void publish_tables(handle_media *m, const sdp_session *s)
{
    tables_swap *sw = malloc(sizeof *sw);
    handle_ref(m->h);
    sw->h = m->h;
    sw->tables = build_tables(s);
    loop_invoke(m->loop, apply_tables, sw);
}

/* ---- remote description ---- */

static peer_dtls_setup parse_setup(const char *setup)
{
    if (setup && strcmp(setup, "active") == 0)
        return PEER_SETUP_ACTIVE;
    if (setup && strcmp(setup, "passive") == 0)
        return PEER_SETUP_PASSIVE;
    return PEER_SETUP_ACTPASS;
}

static int fail(janus_error *err, int code, const char *reason)
{
    err->code = code;
    g_strlcpy(err->reason, reason, sizeof err->reason);
    return -1;
}

static bool find_sctp(const sdp_session *s, uint16_t *port)
{
    for (size_t i = 0; i < s->n_media; i++)
        if (s->media[i].type == SDP_MEDIA_APPLICATION && !s->media[i].rejected) {
            *port = s->media[i].sctp_port ? s->media[i].sctp_port : 5000;
            return true;
        }
    return false;
}

/* Index of the first usable m-line (the BUNDLE transport). */
static int transport_mline(const sdp_session *s)
{
    for (size_t i = 0; i < s->n_media; i++)
        if (!s->media[i].rejected)
            return (int)i;
    return -1;
}

static void flush_pending_candidates(handle_media *m)
{
    for (guint i = 0; i < m->pending_candidates->len; i++) {
        const char *c = m->pending_candidates->pdata[i];
        if (c[0])
            peer_add_remote_candidate(m->peer, c);
        else
            peer_remote_candidates_done(m->peer);
    }
    g_ptr_array_set_size(m->pending_candidates, 0);
}

static int create_peer(plugin_handle *h, handle_media *m)
{
    server_t *srv = h->session->srv;
    peer_callbacks cb = {.user = m, .local_candidate = on_local_candidate, .gathering_done = on_gathering_done,
                         .state_changed = on_state, .rtp = on_rtp, .rtcp = on_rtcp, .data = on_data};
    m->loop = loop_pool_pick(srv->loops);
    m->peer = peer_create(m->loop, &srv->peer_cfg, &cb);
    if (!m->peer) {
        loop_release(m->loop);
        return -1;
    }
    atomic_fetch_add(&srv->counters.peers_created, 1);
    return 0;
}

/* Applies the remote transport: new peer, ICE restart, or nothing when unchanged. */
static int apply_remote_transport(plugin_handle *h, handle_media *m, const sdp_session *s, janus_error *err)
{
    int idx = transport_mline(s);
    sdp_transport t;
    if (idx < 0 || sdp_media_transport(s, (size_t)idx, &t) != 0)
        return fail(err, JANUS_ERROR_JSEP_INVALID_SDP, "Invalid SDP (no usable m-line)");
    if (!t.ice_ufrag || !t.ice_pwd || !t.fingerprint)
        return fail(err, JANUS_ERROR_JSEP_INVALID_SDP, "Invalid SDP (missing ICE credentials or DTLS fingerprint)");
    if (strlen(t.ice_ufrag) >= sizeof m->remote_ufrag || strlen(t.ice_pwd) >= sizeof m->remote_pwd)
        return fail(err, JANUS_ERROR_JSEP_INVALID_SDP, "Invalid SDP (ICE credentials too long)");
    g_strlcpy(m->first_mid, s->media[idx].mid ? s->media[idx].mid : "0", sizeof m->first_mid);
    if (!m->peer) {
        if (create_peer(h, m) != 0)
            return fail(err, JANUS_ERROR_UNKNOWN, "Could not create the PeerConnection");
        uint16_t sctp_port = 0;
        bool has_sctp = find_sctp(s, &sctp_port);
        if (peer_set_remote(m->peer, t.ice_ufrag, t.ice_pwd, t.fingerprint, parse_setup(t.setup), has_sctp,
                            sctp_port) != 0)
            return fail(err, JANUS_ERROR_JSEP_INVALID_SDP, "Invalid SDP (fingerprint or ICE credentials refused)");
    } else if (strcmp(m->remote_ufrag, t.ice_ufrag) != 0 || strcmp(m->remote_pwd, t.ice_pwd) != 0) {
        LOG_INFO("media", "handle %" G_GUINT64_FORMAT ": ICE restart", h->id);
        g_mutex_lock(&m->trickle_lock);
        m->local_sent = false;
        m->gathering_done = false;
        g_mutex_unlock(&m->trickle_lock);
        if (peer_ice_restart(m->peer, t.ice_ufrag, t.ice_pwd) != 0)
            return fail(err, JANUS_ERROR_WEBRTC_STATE, "ICE restart refused");
    }
    g_strlcpy(m->remote_ufrag, t.ice_ufrag, sizeof m->remote_ufrag);
    g_strlcpy(m->remote_pwd, t.ice_pwd, sizeof m->remote_pwd);
    m->have_remote = true;
    for (size_t i = 0; i < s->media[idx].n_candidates; i++)
        peer_add_remote_candidate(m->peer, s->media[idx].candidates[i]);
    if (s->media[idx].end_of_candidates)
        peer_remote_candidates_done(m->peer);
    flush_pending_candidates(m);
    return 0;
}

int handle_media_remote_jsep(plugin_handle *h, const char *type, const char *sdp_text, bool restart_hint,
                             char **plugin_jsep, janus_error *err)
{
    char reason[200];
    sdp_session *s = NULL;
    if (sdp_parse(sdp_text, strlen(sdp_text), &s, reason, sizeof reason) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "JSEP error: invalid SDP (%s)", reason);
        return fail(err, JANUS_ERROR_JSEP_INVALID_SDP, msg);
    }
    bool is_answer = strcmp(type, "answer") == 0;
    g_mutex_lock(&h->lock);
    int rc = -1;
    handle_media *m = media_get(h);
    if (h->detached) {
        fail(err, JANUS_ERROR_HANDLE_NOT_FOUND, "Handle detached");
    } else if (is_answer && !m->offer_from_us) {
        fail(err, JANUS_ERROR_UNEXPECTED_ANSWER, "Unexpected ANSWER (did we offer?)");
    } else if ((rc = apply_remote_transport(h, m, s, err)) == 0) {
        m->hung_up = false;
        if (is_answer) {
            m->offer_from_us = false;
            publish_tables(m, s);
        }
    }
    g_mutex_unlock(&h->lock);
    if (rc == 0) {
        sdp_strip_transport(s);
        char *clean = sdp_write_alloc(s);
        json_t *jsep = json_pack("{s:s,s:s}", "type", type, "sdp", clean ? clean : "");
        if (restart_hint)
            json_object_set_new(jsep, "restart", json_true());
        *plugin_jsep = json_dumps(jsep, JSON_COMPACT);
        json_decref(jsep);
        free(clean);
    }
    sdp_free(s);
    return rc;
}

static int add_one_candidate(handle_media *m, json_t *obj, janus_error *err)
{
    const char *cand = NULL, *mid = NULL;
    int mline = -1;
    int kind = janus_candidate_parse(obj, &cand, &mid, &mline);
    if (kind < 0)
        return fail(err, JANUS_ERROR_INVALID_ELEMENT_TYPE, "Invalid candidate");
    if (kind == 1 && cand[0] == '\0')
        kind = 0; /* an empty candidate string is the browser's end-of-candidates */
    if (!m->peer) {
        if (m->pending_candidates->len < MAX_PENDING_CANDIDATES)
            g_ptr_array_add(m->pending_candidates, g_strdup(kind == 1 ? cand : ""));
        return 0;
    }
    if (kind == 0)
        peer_remote_candidates_done(m->peer);
    else
        peer_add_remote_candidate(m->peer, cand); /* unusable candidates are ignored, as browsers do */
    return 0;
}

int handle_media_trickle(plugin_handle *h, json_t *candidate, json_t *candidates, janus_error *err)
{
    g_mutex_lock(&h->lock);
    handle_media *m = media_get(h);
    int rc = 0;
    if (candidate) {
        rc = add_one_candidate(m, candidate, err);
    } else {
        size_t i;
        json_t *c;
        json_array_foreach(candidates, i, c)
        {
            if ((rc = add_one_candidate(m, c, err)) != 0)
                break;
        }
    }
    g_mutex_unlock(&h->lock);
    return rc;
}

/* ---- local description ---- */

static const char *setup_name(peer_dtls_setup s)
{
    return s == PEER_SETUP_ACTIVE ? "active" : s == PEER_SETUP_PASSIVE ? "passive" : "actpass";
}

static void add_our_ssrcs(handle_media *m, sdp_session *s)
{
    bool done[2] = {false, false};
    for (size_t i = 0; i < s->n_media; i++) {
        sdp_media *md = &s->media[i];
        if (md->rejected || (md->type != SDP_MEDIA_AUDIO && md->type != SDP_MEDIA_VIDEO))
            continue;
        int kind = md->type == SDP_MEDIA_VIDEO ? PLUGIN_MEDIA_VIDEO : PLUGIN_MEDIA_AUDIO;
        sdp_direction d = sdp_media_direction(md);
        if (done[kind] || (d != SDP_DIR_SENDRECV && d != SDP_DIR_SENDONLY) || md->n_ssrcs)
            continue;
        char track[48];
        snprintf(track, sizeof track, "%s%s", kind ? "video" : "audio", m->stream_id + 24);
        sdp_add_ssrc(md, m->out_ssrc[kind], m->cname, m->stream_id, track);
        done[kind] = true;
    }
}

static char **split_lines(char *text, size_t *n)
{
    GPtrArray *arr = g_ptr_array_new();
    char *save = NULL;
    /* strtok_r: several plugin dispatch threads may answer at once. */
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (line[0])
            g_ptr_array_add(arr, line);
    *n = arr->len;
    return (char **)g_ptr_array_free(arr, FALSE);
}

/* With h->lock held: writes our transport attributes into s. */
static int set_local_transport(handle_media *m, sdp_session *s)
{
    char ufrag[64], pwd[64];
    peer_local_credentials(m->peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    size_t cap = 32768;
    char *cand_buf = malloc(cap);
    g_mutex_lock(&m->trickle_lock);
    int n = peer_local_candidates(m->peer, cand_buf, cap);
    size_t count = 0;
    char **lines = n > 0 ? split_lines(cand_buf, &count) : NULL;
    int rc = sdp_set_transport(s, ufrag, pwd, peer_local_fingerprint(), setup_name(peer_local_setup(m->peer)),
                               (const char *const *)lines, count, m->gathering_done);
    m->local_sent = true;
    g_mutex_unlock(&m->trickle_lock);
    g_free(lines);
    free(cand_buf);
    return rc;
}

json_t *handle_media_local_jsep(plugin_handle *h, const char *jsep_json)
{
    json_t *jsep = json_loads(jsep_json, 0, NULL);
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp_text = json_string_value(json_object_get(jsep, "sdp"));
    sdp_session *s = NULL;
    char reason[200];
    if (!type || !sdp_text || sdp_parse(sdp_text, strlen(sdp_text), &s, reason, sizeof reason) != 0) {
        LOG_WARN("media", "plugin produced an unusable jsep");
        json_decref(jsep);
        return NULL;
    }
    json_t *out = NULL;
    g_mutex_lock(&h->lock);
    handle_media *m = media_get(h);
    bool is_offer = strcmp(type, "offer") == 0;
    if (!m->peer && is_offer) {
        /* We offer first (e.g. the callee leg of a call): the peer starts without remote. */
        if (create_peer(h, m) != 0)
            LOG_WARN("media", "handle %" G_GUINT64_FORMAT ": could not create a peer for our offer", h->id);
    }
    if (m->peer) {
        sdp_strip_transport(s);
        add_our_ssrcs(m, s);
        if (set_local_transport(m, s) == 0) {
            if (is_offer)
                m->offer_from_us = true;
            else
                publish_tables(m, s);
            char *text = sdp_write_alloc(s);
            out = json_pack("{s:s,s:s}", "type", type, "sdp", text ? text : "");
            free(text);
        }
    }
    g_mutex_unlock(&h->lock);
    sdp_free(s);
    json_decref(jsep);
    return out;
}

void handle_media_hangup(plugin_handle *h, const char *reason, bool notify)
{
    g_mutex_lock(&h->lock);
    handle_media *m = h->media;
    peer_t *peer = NULL;
    bool was_up = false;
    if (m && m->peer && !m->hung_up) {
        m->hung_up = true;
        peer = m->peer;
        m->peer = NULL;
        m->have_remote = false;
        m->offer_from_us = false;
        m->remote_ufrag[0] = '\0';
        g_mutex_lock(&m->trickle_lock);
        m->local_sent = false;
        m->gathering_done = false;
        g_mutex_unlock(&m->trickle_lock);
    }
    g_mutex_unlock(&h->lock);
    if (!peer)
        return;
    peer_close(peer); /* no callback runs after this */
    if (loop_is_current(m->loop)) {
        stop_media_check(m);
    } else {
        loop_invoke_sync(m->loop, stop_media_check, m);
    }
    was_up = m->webrtcup;
    m->webrtcup = false;
    m->ice_connected = false;
    atomic_fetch_add(&counters_of(m)->peers_closed, 1);
    m->receiving[0] = m->receiving[1] = false;
    peer_unref(peer);
    loop_release(m->loop);
    if (notify) {
        handle_push(h, "hangup", json_pack("{s:s}", "reason", reason));
        const plugin_descriptor *d = plugin_entry_descriptor(h->plugin);
        void *ps = h->plugin_session;
        if (ps && d->hangup_media && was_up)
            d->hangup_media(ps);
    }
}

/* ---- relay (loop thread of h) ---- */

void handle_media_relay_rtp(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len)
{
    handle_media *m = h->media;
    if (!m || !m->peer || !m->tables || kind > PLUGIN_MEDIA_VIDEO)
        return;
    if (rtp_set_ssrc(buf, len, m->out_ssrc[kind]) != 0)
        return;
    if ((buf[0] & 0x10) && rtp_ext_remap(buf, len, m->tables->ext_out[kind]) < 0)
        return;
    if (kind == PLUGIN_MEDIA_VIDEO) {
        if (!m->rtx[kind])
            m->rtx[kind] = rtx_buffer_new();
        rtx_buffer_store(m->rtx[kind], (uint16_t)(buf[2] << 8 | buf[3]), buf, len);
    }
    if (peer_send_rtp(m->peer, buf, len, len + PLUGIN_PACKET_HEADROOM) == 0)
        media_count_rtp(counters_of(m), MEDIA_DIR_OUT, kind, len);
}

/* peer_send_rtcp protects buf in place: read the plain packet for /metrics first. */
static void send_rtcp_counted(handle_media *m, uint8_t *buf, size_t len, size_t cap)
{
    media_rtcp_tally tally = media_rtcp_scan(buf, len);
    if (peer_send_rtcp(m->peer, buf, len, cap) == 0)
        media_count_rtcp(counters_of(m), MEDIA_DIR_OUT, &tally);
}

typedef struct rtcp_map_ctx {
    handle_media *m;
    plugin_media_kind kind;
} rtcp_map_ctx;

static uint32_t map_relayed_ssrc(void *ctx, uint32_t ssrc, rtcp_ssrc_role role)
{
    rtcp_map_ctx *c = ctx;
    if (role == RTCP_SSRC_SENDER)
        return c->m->out_ssrc[c->kind];
    uint32_t remote = c->m->remote_ssrc[c->kind];
    return remote ? remote : ssrc;
}

void handle_media_relay_rtcp(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len)
{
    handle_media *m = h->media;
    if (!m || !m->peer || kind > PLUGIN_MEDIA_VIDEO)
        return;
    rtcp_map_ctx ctx = {.m = m, .kind = kind};
    if (rtcp_rewrite_ssrcs(buf, len, map_relayed_ssrc, &ctx) < 0)
        return;
    send_rtcp_counted(m, buf, len, len + PLUGIN_PACKET_HEADROOM);
}

void handle_media_relay_data(plugin_handle *h, const char *label, int binary, const uint8_t *buf, size_t len)
{
    handle_media *m = h->media;
    if (!m || !m->peer)
        return;
    if (peer_send_data(m->peer, label, 0, binary != 0, buf, len) == 0)
        media_count_data(counters_of(m), MEDIA_DIR_OUT, len);
}

void handle_media_send_pli(plugin_handle *h)
{
    handle_media *m = h->media;
    if (!m || !m->peer || !m->remote_ssrc[PLUGIN_MEDIA_VIDEO])
        return;
    uint8_t buf[64 + PLUGIN_PACKET_HEADROOM];
    int n = rtcp_write_pli(buf, 64, m->out_ssrc[PLUGIN_MEDIA_VIDEO], m->remote_ssrc[PLUGIN_MEDIA_VIDEO]);
    if (n > 0)
        send_rtcp_counted(m, buf, (size_t)n, sizeof buf);
}

void handle_media_send_remb(plugin_handle *h, uint32_t bitrate)
{
    handle_media *m = h->media;
    if (!m || !m->peer || !m->remote_ssrc[PLUGIN_MEDIA_VIDEO])
        return;
    uint8_t buf[64 + PLUGIN_PACKET_HEADROOM];
    uint32_t ssrcs[1] = {m->remote_ssrc[PLUGIN_MEDIA_VIDEO]};
    int n = rtcp_write_remb(buf, 64, m->out_ssrc[PLUGIN_MEDIA_VIDEO], bitrate, ssrcs, 1);
    if (n > 0)
        send_rtcp_counted(m, buf, (size_t)n, sizeof buf);
}

int handle_media_loop_index(plugin_handle *h)
{
    handle_media *m = h->media;
    return m && m->loop ? loop_index(m->loop) : -1;
}
