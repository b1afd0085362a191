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

#include "core/limits.h"
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
#define SLOWLINK_WINDOW_US (1 * G_USEC_PER_SEC)
#define SLOWLINK_REPEAT_US (5 * G_USEC_PER_SEC)   /* one event per kind and way at most this often */
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
    uint8_t pt_in[128];          /* negotiated payload type -> canonical (identity if unknown) */
    uint8_t pt_out[128];         /* canonical -> negotiated (identity if unknown) */
    uint8_t ext_in[2][256];      /* per kind: negotiated id -> canonical id (0 drops) */
    uint8_t ext_out[2][256];     /* per kind: canonical id -> negotiated id (0 drops) */
    bool has_kind[2];
    char mid[2][64];             /* mid of the first audio / video m-line */
} media_tables;

/*
 * One PeerConnection's loop-side state. Created with its peer on the control path, then
 * touched only on its loop; the close job frees it there. It holds a reference on the handle
 * and on the plugin session for its whole life, so peer callbacks never see either freed.
 * Relays reach it through handle_media.leg (atomic) and use it only after checking that they
 * run on its loop: a leg is never freed on another thread than its own loop.
 */
typedef struct media_leg {
    handle_media *m;             /* the handle's media (kept by the handle reference) */
    plugin_handle *h;            /* reference */
    plugin_session_ref *ps;      /* reference; NULL when the handle has no plugin session */
    const plugin_descriptor *d;
    loop_t *loop;
    peer_t *peer;                /* reference */
    uint32_t gen;                /* which of the handle's legs this is (tables hand-off) */
    media_tables *tables;
    uint32_t remote_ssrc[2];
    int64_t last_rtp_us[2];
    bool receiving[2];
    bool webrtcup, was_up;
    bool ice_connected;          /* for /metrics: a failure after this and before SECURE is DTLS's */
    loop_tick *check_tick;
    rtx_buffer *rtx[2];          /* what we sent, per kind, to answer NACKs (lazily created) */
    /* Our leg's RTT, which sizes rtx (rtx_buffer.h): the last SRs we sent on our video SSRC
     * (their NTP middle 32 bits and when), matched by the client's report blocks (LSR/DLSR). */
    uint32_t sr_lsr[4];
    int64_t sr_sent_us[4];
    uint8_t sr_next;
    uint32_t rtt_ms;             /* 0 = not measured yet */
    /* Slow-link detection, per kind: packets lost this second on the way to us (gaps in the
     * sequence numbers we received) and on the way to the client (seqs its NACKs name). */
    uint16_t last_seq[2];
    bool have_seq[2];
    uint32_t lost_up[2], lost_down[2];
    int64_t loss_window_us, last_slowlink_us[2][2];
    uint8_t resend[RTX_BUFFER_MAX_PACKET + PLUGIN_PACKET_HEADROOM];
} media_leg;

struct handle_media {
    plugin_handle *h;            /* owner (not a reference: the handle owns us) */
    uint32_t out_ssrc[2];        /* our outgoing SSRCs (audio, video), fixed for life */
    char cname[20], stream_id[40];
    _Atomic(media_leg *) leg;    /* the live PeerConnection, NULL without one */

    /* Control state (h->lock). */
    peer_t *peer;                /* == leg->peer while a leg is live; control calls only */
    media_leg *control_leg;      /* == leg, read under h->lock */
    loop_t *want_loop;           /* handle_colocate: where the next leg goes (NULL = least loaded) */
    loop_t *last_loop;           /* loop of the newest leg, live or closed (loop_post's barrier) */
    uint32_t leg_gen;
    char remote_ufrag[257], remote_pwd[257];
    bool have_remote, offer_from_us;
    bool restarting;             /* our offer restarted ICE: the answer brings the new remote credentials */
    char first_mid[64];
    GPtrArray *pending_candidates;
    plugin_media_state negotiated;

    /* Shared between the loop (trickle callbacks) and the control path (answer). */
    GMutex trickle_lock;
    bool local_sent, gathering_done;
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
    if (RAND_bytes(raw, (int)n) != 1)
        for (size_t i = 0; i < n; i++)
            raw[i] = (unsigned char)g_random_int();
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
    atomic_init(&m->leg, NULL);
    m->negotiated.loop = -1;
    m->pending_candidates = g_ptr_array_new_with_free_func(g_free);
    g_mutex_init(&m->trickle_lock);
    return m;
}

/* With h->lock held. */
static handle_media *media_get(plugin_handle *h)
{
    if (!h->media)
        h->media = media_new(h);
    return h->media;
}

/* The last handle reference is gone, so no leg exists (each leg holds one). */
void handle_media_free(handle_media *m)
{
    if (!m)
        return;
    g_ptr_array_free(m->pending_candidates, TRUE);
    g_mutex_clear(&m->trickle_lock);
    free(m);
}

/* The handle's live leg when the caller runs on its loop, else NULL (relays from a wrong
 * thread are dropped). */
static media_leg *leg_here(handle_media *m)
{
    if (!m)
        return NULL;
    media_leg *leg = atomic_load_explicit(&m->leg, memory_order_acquire);
    return leg && loop_is_current(leg->loop) ? leg : NULL;
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

static void push_media_event(media_leg *leg, plugin_media_kind kind, bool receiving)
{
    const media_tables *t = leg->tables;
    json_t *extra = json_pack("{s:s,s:b}", "type", kind == PLUGIN_MEDIA_VIDEO ? "video" : "audio", "receiving",
                              receiving);
    if (t && t->mid[kind][0])
        json_object_set_new(extra, "mid", json_string(t->mid[kind]));
    handle_push(leg->h, "media", extra);
}

/* ---- peer callbacks (loop thread) ---- */

static void on_local_candidate(void *user, const char *candidate)
{
    media_leg *leg = user;
    handle_media *m = leg->m;
    g_mutex_lock(&m->trickle_lock);
    bool sent = m->local_sent;
    g_mutex_unlock(&m->trickle_lock);
    if (sent)
        push_trickle(m, candidate);
}

static void on_gathering_done(void *user)
{
    media_leg *leg = user;
    handle_media *m = leg->m;
    g_mutex_lock(&m->trickle_lock);
    m->gathering_done = true;
    bool sent = m->local_sent;
    g_mutex_unlock(&m->trickle_lock);
    if (sent)
        push_trickle(m, NULL);
}

/* The plugin session, when calls into it may still be made. */
static void *live_session(const media_leg *leg)
{
    return plugin_session_live(leg->ps) ? leg->ps->session : NULL;
}

static void report_slowlink(media_leg *leg, bool uplink, plugin_media_kind kind, uint32_t lost)
{
    const media_tables *t = leg->tables;
    json_t *extra = json_pack("{s:b,s:s,s:i}", "uplink", uplink, "media", kind == PLUGIN_MEDIA_VIDEO ? "video" : "audio",
                              "lost", (json_int_t)lost);
    if (t && t->mid[kind][0])
        json_object_set_new(extra, "mid", json_string(t->mid[kind]));
    handle_push(leg->h, "slowlink", extra);
    void *ps = live_session(leg);
    if (ps && leg->d->slow_link)
        leg->d->slow_link(ps, uplink, kind, lost);
}

/* Once a second: losses over the threshold become a slowlink (Janus's event and the plugin's
 * slow_link), at most once per kind and way every SLOWLINK_REPEAT_US. */
static void check_slowlink(media_leg *leg, int64_t now)
{
    if (now - leg->loss_window_us < SLOWLINK_WINDOW_US)
        return;
    int threshold = leg->h->session->srv->config ? leg->h->session->srv->config->media_slowlink_threshold : 0;
    for (int k = 0; threshold > 0 && k < 2; k++) {
        uint32_t lost[2] = {leg->lost_down[k], leg->lost_up[k]};
        for (int up = 0; up < 2; up++) {
            if (lost[up] >= (uint32_t)threshold && now - leg->last_slowlink_us[up][k] >= SLOWLINK_REPEAT_US) {
                leg->last_slowlink_us[up][k] = now;
                report_slowlink(leg, up, (plugin_media_kind)k, lost[up]);
            }
        }
    }
    memset(leg->lost_up, 0, sizeof leg->lost_up);
    memset(leg->lost_down, 0, sizeof leg->lost_down);
    leg->loss_window_us = now;
}

static void media_check(void *data)
{
    media_leg *leg = data;
    int64_t now = g_get_monotonic_time();
    check_slowlink(leg, now);
    for (int k = 0; k < 2; k++) {
        if (leg->receiving[k] && now - leg->last_rtp_us[k] > MEDIA_SILENCE_US) {
            leg->receiving[k] = false;
            push_media_event(leg, (plugin_media_kind)k, false);
        }
    }
}

static void start_media_check(media_leg *leg)
{
    if (!leg->check_tick)
        leg->check_tick = loop_tick_add(leg->loop, MEDIA_CHECK_INTERVAL_MS, media_check, leg);
}

static void stop_media_check(media_leg *leg)
{
    loop_tick_remove(leg->check_tick);
    leg->check_tick = NULL;
}

static void on_secure(media_leg *leg, server_t *srv)
{
    leg->webrtcup = true;
    leg->was_up = true;
    atomic_fetch_add(&srv->counters.webrtcup, 1);
    handle_push(leg->h, "webrtcup", NULL);
    start_media_check(leg);
    g_mutex_lock(&leg->h->lock);
    leg->m->negotiated.up = true;
    g_mutex_unlock(&leg->h->lock);
    void *ps = live_session(leg);
    if (ps && leg->d->setup_media)
        leg->d->setup_media(ps);
}

static void on_state(void *user, peer_state state)
{
    media_leg *leg = user;
    plugin_handle *h = leg->h;
    server_t *srv = h->session->srv;
    if (state == PEER_STATE_SECURE && !leg->webrtcup) {
        on_secure(leg, srv);
    } else if (state == PEER_STATE_CONNECTED) {
        leg->ice_connected = true;
    } else if (state == PEER_STATE_FAILED) {
        atomic_fetch_add(&srv->counters.peers_failed, 1);
        if (leg->ice_connected && !leg->webrtcup)
            atomic_fetch_add(&srv->counters.dtls_failed, 1);
        LOG_INFO("media", "handle %" G_GUINT64_FORMAT ": PeerConnection failed", h->id);
        handle_push(h, "hangup", json_pack("{s:s}", "reason", leg->webrtcup ? "ICE failed" : "Negotiation failed"));
        /* An ICE restart may bring it back: SECURE then counts as a new webrtcup. */
        leg->webrtcup = false;
        void *ps = live_session(leg);
        if (ps && leg->d->hangup_media)
            leg->d->hangup_media(ps);
    }
}

static void on_rtp(void *user, uint8_t *buf, size_t len)
{
    media_leg *leg = user;
    const media_tables *t = leg->tables;
    rtp_view v;
    if (!t || rtp_parse(buf, len, &v) != 0 || t->pt_kind[v.pt] < 0)
        return;
    plugin_media_kind kind = (plugin_media_kind)t->pt_kind[v.pt];
    media_count_rtp(counters_of(leg->m), MEDIA_DIR_IN, kind, len);
    leg->remote_ssrc[kind] = v.ssrc;
    leg->last_rtp_us[kind] = g_get_monotonic_time();
    uint16_t ahead = (uint16_t)(v.seq - leg->last_seq[kind]);
    if (!leg->have_seq[kind] || ahead < 0x8000) {   /* older (reordered, resent) seqs are not gaps */
        if (leg->have_seq[kind] && ahead > 1 && ahead < 1000)
            leg->lost_up[kind] += ahead - 1u;
        leg->last_seq[kind] = v.seq;
        leg->have_seq[kind] = true;
    }
    if (!leg->receiving[kind]) {
        leg->receiving[kind] = true;
        push_media_event(leg, kind, true);
    }
    if (v.extension && rtp_ext_remap(buf, len, t->ext_in[kind]) < 0)
        return;
    buf[1] = (uint8_t)((buf[1] & 0x80) | t->pt_in[v.pt]);
    void *ps = live_session(leg);
    if (ps && leg->d->incoming_rtp)
        leg->d->incoming_rtp(ps, kind, buf, len);
}

static uint32_t be32_at(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* The kind a compound RTCP packet is about: feedback or report blocks naming our video SSRC,
 * or reports from the remote's video sender, are video; anything else is audio. */
static plugin_media_kind rtcp_kind(media_leg *leg, const uint8_t *buf, size_t len)
{
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, buf, len);
    uint32_t our_video = leg->m->out_ssrc[PLUGIN_MEDIA_VIDEO], their_video = leg->remote_ssrc[PLUGIN_MEDIA_VIDEO];
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

/* Resends seq from our buffer when we have it: the loss was on our leg towards this
 * receiver, where the original sender's own retransmission would be an SRTP replay for us. */
static bool resend_from_buffer(void *ctx, uint32_t media, uint16_t seq)
{
    media_leg *leg = ctx;
    int kind = media == leg->m->out_ssrc[PLUGIN_MEDIA_VIDEO] ? PLUGIN_MEDIA_VIDEO
               : media == leg->m->out_ssrc[PLUGIN_MEDIA_AUDIO] ? PLUGIN_MEDIA_AUDIO : -1;
    if (kind >= 0)
        leg->lost_down[kind]++;   /* the client missed it: slow-link accounting */
    size_t plen = 0;
    const uint8_t *pkt = kind >= 0 && leg->rtx[kind] ? rtx_buffer_find(leg->rtx[kind], seq, &plen) : NULL;
    if (!pkt)
        return false;
    memcpy(leg->resend, pkt, plen);
    if (peer_send_rtp(leg->peer, leg->resend, plen, sizeof leg->resend) == 0)
        media_count_rtp(counters_of(leg->m), MEDIA_DIR_OUT, kind, plen);
    return true;
}

/*
 * RTCP crosses the plugin boundary with its SSRCs in a canonical space, as header extensions
 * do: the client's own streams (sender role) and ours that it reports on (media role) become
 * fixed per-kind tokens, which the relay turns into the target leg's SSRCs per field. One
 * compound often mixes kinds (Chromium sends one RR with report blocks on our audio and our
 * video), so a per-packet kind alone would give one of them the other's SSRC.
 */
static const uint32_t canon_sender_ssrc[2] = {0x7ec0a5e1u, 0x7ec0a5e2u};
static const uint32_t canon_media_ssrc[2] = {0x7ec0a5d1u, 0x7ec0a5d2u};

static uint32_t to_canonical_ssrc(void *ctx, uint32_t ssrc, rtcp_ssrc_role role)
{
    media_leg *leg = ctx;
    for (int k = 0; k < 2; k++) {
        if (role == RTCP_SSRC_SENDER && leg->remote_ssrc[k] && ssrc == leg->remote_ssrc[k])
            return canon_sender_ssrc[k];
        if (role == RTCP_SSRC_MEDIA && ssrc == leg->m->out_ssrc[k])
            return canon_media_ssrc[k];
    }
    return ssrc;
}

/* RFC 3550 6.4.1: a report block on our video SSRC whose LSR names an SR we sent gives the
 * round trip as now - sent - DLSR (DLSR in 1/65536 s). */
static void note_rtt(media_leg *leg, const rtcp_report_block *r, int n)
{
    uint32_t ours = leg->m->out_ssrc[PLUGIN_MEDIA_VIDEO];
    for (int i = 0; i < n; i++) {
        if (r[i].ssrc != ours || r[i].lsr == 0)
            continue;
        for (int k = 0; k < 4; k++) {
            if (leg->sr_sent_us[k] == 0 || leg->sr_lsr[k] != r[i].lsr)
                continue;
            int64_t rtt_us = g_get_monotonic_time() - leg->sr_sent_us[k] -
                             (int64_t)r[i].dlsr * 1000000 / 65536;
            if (rtt_us < 0 || rtt_us > 10 * G_USEC_PER_SEC)
                return;
            uint32_t ms = (uint32_t)(rtt_us / 1000);
            leg->rtt_ms = leg->rtt_ms ? (7 * leg->rtt_ms + ms) / 8 : ms;
            rtx_buffer_set_rtt_ms(leg->rtx[PLUGIN_MEDIA_VIDEO], leg->rtt_ms);
            return;
        }
    }
}

static void scan_reports(media_leg *leg, const uint8_t *buf, size_t len)
{
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, buf, len);
    while (rtcp_next(&it, &b) == 1) {
        if (b.pt == 200) {
            rtcp_sr sr;
            if (rtcp_parse_sr(&b, &sr) == 0)
                note_rtt(leg, sr.reports, sr.n_reports);
        } else if (b.pt == 201) {
            rtcp_rr rr;
            if (rtcp_parse_rr(&b, &rr) == 0)
                note_rtt(leg, rr.reports, rr.n_reports);
        }
    }
}

/* An SR we send on our video SSRC: remembered for note_rtt. */
static void note_sent_sr(media_leg *leg, const uint8_t *buf, size_t len)
{
    rtcp_iter it;
    rtcp_block b;
    rtcp_iter_init(&it, buf, len);
    while (rtcp_next(&it, &b) == 1) {
        rtcp_sr sr;
        if (b.pt != 200 || rtcp_parse_sr(&b, &sr) != 0 || sr.ssrc != leg->m->out_ssrc[PLUGIN_MEDIA_VIDEO])
            continue;
        leg->sr_lsr[leg->sr_next] = sr.ntp_sec << 16 | sr.ntp_frac >> 16;
        leg->sr_sent_us[leg->sr_next] = g_get_monotonic_time();
        leg->sr_next = (uint8_t)((leg->sr_next + 1) % 4);
    }
}

static void on_rtcp(void *user, uint8_t *buf, size_t len)
{
    media_leg *leg = user;
    if (rtcp_validate(buf, len) != 0)
        return;
    media_rtcp_tally tally = media_rtcp_scan(buf, len);
    scan_reports(leg, buf, len);
    media_count_rtcp(counters_of(leg->m), MEDIA_DIR_IN, &tally);
    /* What we resent is not asked of the original sender; the rest of the NACK goes on. */
    if (tally.nacks && (len = rtcp_nack_filter(buf, len, resend_from_buffer, leg)) == 0)
        return;
    void *ps = live_session(leg);
    if (!ps || !leg->d->incoming_rtcp)
        return;
    plugin_media_kind kind = rtcp_kind(leg, buf, len);
    rtcp_rewrite_ssrcs(buf, len, to_canonical_ssrc, leg);
    leg->d->incoming_rtcp(ps, kind, buf, len);
}

static void on_data(void *user, uint16_t stream_id, const char *label, bool binary, const uint8_t *buf, size_t len)
{
    media_leg *leg = user;
    media_count_data(counters_of(leg->m), MEDIA_DIR_IN, len);
    void *ps = live_session(leg);
    if (ps && leg->d->incoming_data)
        leg->d->incoming_data(ps, label ? label : "", binary, buf, len);
}

static void on_data_open(void *user, uint16_t stream_id, const char *label, const char *protocol)
{
    media_leg *leg = user;
    void *ps = live_session(leg);
    if (ps && leg->d->data_open)
        leg->d->data_open(ps, label ? label : "");
}

static void on_data_close(void *user, uint16_t stream_id, const char *label)
{
    media_leg *leg = user;
    void *ps = live_session(leg);
    if (ps && leg->d->data_close)
        leg->d->data_close(ps, label ? label : "");
}

/* ---- tables ---- */

/* Holds a handle reference so the handle (and its media) outlive the queued swap. */
typedef struct tables_swap {
    plugin_handle *h;
    uint32_t gen;
    media_tables *tables;
} tables_swap;

/* On the loop of the leg the tables were built for; a leg replaced meanwhile drops them. */
static void apply_tables(void *arg)
{
    tables_swap *sw = arg;
    media_leg *leg = leg_here(sw->h->media);
    if (leg && leg->gen == sw->gen) {
        free(leg->tables);
        leg->tables = sw->tables;
    } else {
        free(sw->tables);
    }
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

/* Payload types in a canonical space shared by every handle (as extension ids and RTCP SSRCs
 * are), so two legs that negotiated the same codec under different numbers (aiortc's opus is
 * 96, Chrome's 111; each leg of a resumed call answered by the server on its own) relay to
 * each other: by codec name, the n-th payload of that name in the m-line. Unknown names keep
 * their number. */
static const struct {
    const char *name;
    uint8_t base, span;
} canonical_pts[] = {
    {"opus", 111, 1}, {"VP8", 96, 1}, {"VP9", 98, 2}, {"H264", 102, 6}, {"AV1", 45, 2},
    {"PCMU", 0, 1},   {"PCMA", 8, 1}, {"G722", 9, 1}, {"telephone-event", 126, 1},
};

static int canonical_pt(const sdp_media *md, size_t p)
{
    const char *name = md->payloads[p].encoding;
    if (!name)
        return -1;
    for (size_t c = 0; c < sizeof canonical_pts / sizeof *canonical_pts; c++) {
        if (g_ascii_strcasecmp(name, canonical_pts[c].name) != 0)
            continue;
        size_t nth = 0;
        for (size_t q = 0; q < p; q++)
            if (md->payloads[q].encoding && g_ascii_strcasecmp(md->payloads[q].encoding, name) == 0)
                nth++;
        return nth < canonical_pts[c].span ? canonical_pts[c].base + (int)nth : -1;
    }
    return -1;
}

static void add_media_tables(media_tables *t, const sdp_session *s, const sdp_media *md, int kind)
{
    if (!t->has_kind[kind] && md->mid)
        g_strlcpy(t->mid[kind], md->mid, sizeof t->mid[kind]);
    t->has_kind[kind] = true;
    for (size_t p = 0; p < md->n_payloads; p++) {
        uint8_t pt = md->payloads[p].pt & 0x7f;
        t->pt_kind[pt] = (int8_t)kind;
        int c = canonical_pt(md, p);
        if (c >= 0 && c != pt) {
            t->pt_in[pt] = (uint8_t)c;
            t->pt_out[c] = pt;
        }
    }
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
    for (int pt = 0; pt < 128; pt++)
        t->pt_in[pt] = t->pt_out[pt] = (uint8_t)pt;
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

static bool dir_sends(sdp_direction d) { return d == SDP_DIR_NONE || d == SDP_DIR_SENDRECV || d == SDP_DIR_SENDONLY; }
static bool dir_receives(sdp_direction d) { return d == SDP_DIR_NONE || d == SDP_DIR_SENDRECV || d == SDP_DIR_RECVONLY; }

/* With h->lock held: what flows, from a final description. ours: we wrote s (our answer);
 * else the client did (its answer to our offer), so its send is our receive. */
static void record_negotiated(handle_media *m, const sdp_session *s, bool ours)
{
    plugin_media_state *n = &m->negotiated;
    n->audio_send = n->audio_recv = n->video_send = n->video_recv = n->data = false;
    for (size_t i = 0; i < s->n_media; i++) {
        const sdp_media *md = &s->media[i];
        if (md->rejected)
            continue;
        if (md->type == SDP_MEDIA_APPLICATION) {
            n->data = true;
            continue;
        }
        sdp_direction d = sdp_media_direction(md);
        bool we_send = ours ? dir_sends(d) : dir_receives(d), we_recv = ours ? dir_receives(d) : dir_sends(d);
        if (md->type == SDP_MEDIA_AUDIO) {
            n->audio_send |= we_send;
            n->audio_recv |= we_recv;
        } else if (md->type == SDP_MEDIA_VIDEO) {
            n->video_send |= we_send;
            n->video_recv |= we_recv;
        }
    }
}

/* With h->lock held and a live leg. */
static void publish_tables(handle_media *m, const sdp_session *s, bool ours)
{
    record_negotiated(m, s, ours);
    tables_swap *sw = malloc(sizeof *sw);
    handle_ref(m->h);
    sw->h = m->h;
    sw->gen = m->control_leg->gen;
    sw->tables = build_tables(s);
    loop_invoke(m->control_leg->loop, apply_tables, sw);
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

/* With h->lock held: a new leg (and peer) on the colocated loop or the least loaded one,
 * if core/limits.h admits one more PeerConnection for this user (err says why not). */
static int create_leg(plugin_handle *h, handle_media *m, bool as_offerer, janus_error *err)
{
    server_t *srv = h->session->srv;
    limit_kind k = limits_peer_acquire(srv->limits, h->session->user_id, h->session->id);
    if (k != LIMIT_NONE) {
        err->code = JANUS_ERROR_UNKNOWN;
        limits_reason(srv->limits, k, h->session->user_id, err->reason, sizeof err->reason);
        return -1;
    }
    media_leg *leg = calloc(1, sizeof *leg);
    leg->m = m;
    leg->h = h;
    leg->d = plugin_entry_descriptor(h->plugin);
    if (m->want_loop) {
        leg->loop = m->want_loop;
        loop_acquire(leg->loop);
    } else {
        leg->loop = loop_pool_pick(srv->loops);
    }
    peer_callbacks cb = {.user = leg, .local_candidate = on_local_candidate, .gathering_done = on_gathering_done,
                         .state_changed = on_state, .rtp = on_rtp, .rtcp = on_rtcp, .data = on_data,
                         .data_open = on_data_open, .data_close = on_data_close};
    leg->peer = peer_create(leg->loop, &srv->peer_cfg, &cb);
    if (!leg->peer || (as_offerer && peer_gather_as_offerer(leg->peer) != 0)) {
        if (leg->peer)
            peer_unref(leg->peer);
        loop_release(leg->loop);
        free(leg);
        limits_peer_release(srv->limits, h->session->user_id, h->session->id);
        return fail(err, JANUS_ERROR_UNKNOWN, "Could not create the PeerConnection");
    }
    handle_ref(h);
    leg->ps = plugin_session_get_locked(h);
    leg->gen = ++m->leg_gen;
    m->peer = leg->peer;
    m->control_leg = leg;
    m->last_loop = leg->loop;
    m->negotiated = (plugin_media_state){.has_peer = true, .loop = loop_index(leg->loop)};
    atomic_store_explicit(&m->leg, leg, memory_order_release);
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
    if (!m->peer && create_leg(h, m, false, err) != 0)
        return -1;
    if (!m->have_remote) {
        /* A new peer, or ours that offered first: the answer brings the remote transport. */
        uint16_t sctp_port = 0;
        bool has_sctp = find_sctp(s, &sctp_port);
        if (peer_set_remote(m->peer, t.ice_ufrag, t.ice_pwd, t.fingerprint, parse_setup(t.setup), has_sctp,
                            sctp_port) != 0)
            return fail(err, JANUS_ERROR_JSEP_INVALID_SDP, "Invalid SDP (fingerprint or ICE credentials refused)");
    } else if (m->restarting) {
        /* Our offer restarted ICE with new local credentials: the answer completes it. */
        m->restarting = false;
        if (peer_set_remote_credentials(m->peer, t.ice_ufrag, t.ice_pwd) != 0)
            return fail(err, JANUS_ERROR_JSEP_INVALID_SDP, "Invalid SDP (ICE credentials refused)");
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
        if (is_answer) {
            m->offer_from_us = false;
            publish_tables(m, s, false);
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
        /* A relayed description names the other leg's streams: ours replace them. */
        sdp_clear_ssrcs(md);
        if (done[kind] || (d != SDP_DIR_SENDRECV && d != SDP_DIR_SENDONLY && d != SDP_DIR_NONE))
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
/* A plugin's offer asked for an ICE restart (textroom's `restart`): new local credentials
 * now, gathering again; the remote ones come with the client's answer. */
static void restart_ice_locally(plugin_handle *h, handle_media *m)
{
    LOG_INFO("media", "handle %" G_GUINT64_FORMAT ": ICE restart (our offer)", h->id);
    g_mutex_lock(&m->trickle_lock);
    m->local_sent = false;
    m->gathering_done = false;
    g_mutex_unlock(&m->trickle_lock);
    if (peer_ice_restart(m->peer, NULL, NULL) == 0)
        m->restarting = true;
}

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
    s->ice_lite = peer_ice_lite(m->peer);
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
    if (!m->peer && is_offer && !h->detached) {
        /* We offer first (e.g. the callee leg of a call): the peer gathers as the offerer and
         * the client's answer brings the remote transport (apply_remote_transport). */
        janus_error err = {0};
        if (create_leg(h, m, true, &err) != 0)
            LOG_WARN("media", "handle %" G_GUINT64_FORMAT ": no peer for our offer: %s", h->id, err.reason);
    }
    if (m->peer && is_offer && m->have_remote && json_is_true(json_object_get(jsep, "restart")))
        restart_ice_locally(h, m);
    if (m->peer && (is_offer || m->have_remote)) {
        sdp_strip_transport(s);
        add_our_ssrcs(m, s);
        if (set_local_transport(m, s) == 0) {
            if (is_offer)
                m->offer_from_us = true;
            else
                publish_tables(m, s, true);
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

typedef struct leg_close {
    media_leg *leg;
    bool notify;
    char reason[64];
} leg_close;

/* On the leg's loop: peer_close takes effect at once there (no callback runs after it), so
 * nothing here waits on another thread. */
static void close_leg_on_loop(void *arg)
{
    leg_close *c = arg;
    media_leg *leg = c->leg;
    plugin_handle *h = leg->h;
    peer_close(leg->peer);
    stop_media_check(leg);
    atomic_fetch_add(&counters_of(leg->m)->peers_closed, 1);
    if (c->notify) {
        handle_push(h, "hangup", json_pack("{s:s}", "reason", c->reason));
        void *ps = live_session(leg);
        if (ps && leg->d->hangup_media && leg->webrtcup)
            leg->d->hangup_media(ps);
    }
    free(leg->tables);
    rtx_buffer_free(leg->rtx[0]);
    rtx_buffer_free(leg->rtx[1]);
    peer_unref(leg->peer);
    loop_release(leg->loop);
    limits_peer_release(h->session->srv->limits, h->session->user_id, h->session->id);
    plugin_session_put(leg->ps);
    free(leg);
    free(c);
    handle_unref(h);
}

void handle_media_hangup(plugin_handle *h, const char *reason, bool notify)
{
    leg_close *c = calloc(1, sizeof *c);
    c->notify = notify;
    g_strlcpy(c->reason, reason ? reason : "", sizeof c->reason);
    bool close_here = false;
    g_mutex_lock(&h->lock);
    handle_media *m = h->media;
    media_leg *leg = m ? m->control_leg : NULL;
    if (leg) {
        atomic_store_explicit(&m->leg, NULL, memory_order_release);
        m->control_leg = NULL;
        m->peer = NULL;
        m->have_remote = false;
        m->offer_from_us = false;
        m->remote_ufrag[0] = '\0';
        m->negotiated = (plugin_media_state){.loop = -1};
        g_mutex_lock(&m->trickle_lock);
        m->local_sent = false;
        m->gathering_done = false;
        g_mutex_unlock(&m->trickle_lock);
        c->leg = leg;
        /* Posted under the lock, so that a loop_post that finds no live leg afterwards is
         * queued behind this close on the same loop (plugin.h: loop_post is a barrier). */
        close_here = loop_is_current(leg->loop);
        if (!close_here)
            loop_invoke(leg->loop, close_leg_on_loop, c);
    }
    g_mutex_unlock(&h->lock);
    if (!leg)
        free(c);
    else if (close_here)
        close_leg_on_loop(c);
}

/* ---- relay (loop thread of h) ---- */

void handle_media_relay_rtp(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len)
{
    handle_media *m = h->media;
    media_leg *leg = leg_here(m);
    if (!leg || !leg->tables || kind > PLUGIN_MEDIA_VIDEO)
        return;
    if (rtp_set_ssrc(buf, len, m->out_ssrc[kind]) != 0)
        return;
    if ((buf[0] & 0x10) && rtp_ext_remap(buf, len, leg->tables->ext_out[kind]) < 0)
        return;
    buf[1] = (uint8_t)((buf[1] & 0x80) | leg->tables->pt_out[buf[1] & 0x7f]);
    if (kind == PLUGIN_MEDIA_VIDEO) {
        if (!leg->rtx[kind]) {
            leg->rtx[kind] = rtx_buffer_new(90000);
            if (leg->rtt_ms)
                rtx_buffer_set_rtt_ms(leg->rtx[kind], leg->rtt_ms);
        }
        rtx_buffer_store(leg->rtx[kind], (uint16_t)(buf[2] << 8 | buf[3]), buf, len);
    }
    if (peer_send_rtp(leg->peer, buf, len, len + PLUGIN_PACKET_HEADROOM) == 0)
        media_count_rtp(counters_of(m), MEDIA_DIR_OUT, kind, len);
}

/* peer_send_rtcp protects buf in place: read the plain packet for /metrics first. */
static void send_rtcp_counted(media_leg *leg, uint8_t *buf, size_t len, size_t cap)
{
    media_rtcp_tally tally = media_rtcp_scan(buf, len);
    if (peer_send_rtcp(leg->peer, buf, len, cap) == 0)
        media_count_rtcp(counters_of(leg->m), MEDIA_DIR_OUT, &tally);
}

typedef struct rtcp_map_ctx {
    media_leg *leg;
    plugin_media_kind kind;
} rtcp_map_ctx;

/* Canonical tokens (see on_rtcp) become this leg's SSRCs of their own kind; anything else
 * (a receive-only client's RTCP SSRC, an SSRC we never saw) takes the packet's kind. */
static uint32_t map_relayed_ssrc(void *ctx, uint32_t ssrc, rtcp_ssrc_role role)
{
    rtcp_map_ctx *c = ctx;
    int kind = (int)c->kind;
    for (int k = 0; k < 2; k++)
        if (ssrc == (role == RTCP_SSRC_SENDER ? canon_sender_ssrc[k] : canon_media_ssrc[k]))
            kind = k;
    if (role == RTCP_SSRC_SENDER)
        return c->leg->m->out_ssrc[kind];
    uint32_t remote = c->leg->remote_ssrc[kind];
    return remote ? remote : ssrc;
}

void handle_media_relay_rtcp(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len)
{
    media_leg *leg = leg_here(h->media);
    if (!leg || kind > PLUGIN_MEDIA_VIDEO)
        return;
    rtcp_map_ctx ctx = {.leg = leg, .kind = kind};
    if (rtcp_rewrite_ssrcs(buf, len, map_relayed_ssrc, &ctx) < 0)
        return;
    note_sent_sr(leg, buf, len);
    send_rtcp_counted(leg, buf, len, len + PLUGIN_PACKET_HEADROOM);
}

void handle_media_relay_data(plugin_handle *h, const char *label, int binary, const uint8_t *buf, size_t len)
{
    media_leg *leg = leg_here(h->media);
    if (!leg)
        return;
    if (peer_send_data(leg->peer, label, 0, binary != 0, buf, len) == 0)
        media_count_data(counters_of(leg->m), MEDIA_DIR_OUT, len);
}

void handle_media_send_pli(plugin_handle *h)
{
    media_leg *leg = leg_here(h->media);
    if (!leg || !leg->remote_ssrc[PLUGIN_MEDIA_VIDEO])
        return;
    uint8_t buf[64 + PLUGIN_PACKET_HEADROOM];
    int n = rtcp_write_pli(buf, 64, leg->m->out_ssrc[PLUGIN_MEDIA_VIDEO], leg->remote_ssrc[PLUGIN_MEDIA_VIDEO]);
    if (n > 0)
        send_rtcp_counted(leg, buf, (size_t)n, sizeof buf);
}

void handle_media_send_remb(plugin_handle *h, uint32_t bitrate)
{
    media_leg *leg = leg_here(h->media);
    if (!leg || !leg->remote_ssrc[PLUGIN_MEDIA_VIDEO])
        return;
    uint8_t buf[64 + PLUGIN_PACKET_HEADROOM];
    uint32_t ssrcs[1] = {leg->remote_ssrc[PLUGIN_MEDIA_VIDEO]};
    int n = rtcp_write_remb(buf, 64, leg->m->out_ssrc[PLUGIN_MEDIA_VIDEO], bitrate, ssrcs, 1);
    if (n > 0)
        send_rtcp_counted(leg, buf, (size_t)n, sizeof buf);
}

/* ---- loops ---- */

/* The loop of h's live leg, acquired (loop_release it), or NULL. */
static loop_t *acquire_leg_loop(plugin_handle *h)
{
    g_mutex_lock(&h->lock);
    media_leg *leg = h->media ? h->media->control_leg : NULL;
    loop_t *loop = leg ? leg->loop : NULL;
    if (loop)
        loop_acquire(loop);
    g_mutex_unlock(&h->lock);
    return loop;
}

int handle_media_colocate(plugin_handle *h, plugin_handle *with)
{
    loop_t *loop = acquire_leg_loop(with);   /* one lock at a time: never both handles' */
    if (!loop)
        return -1;
    g_mutex_lock(&h->lock);
    handle_media *m = media_get(h);
    m->want_loop = loop;   /* loops live as long as the server: no count held for a wish */
    loop_release(loop);
    int rc = m->control_leg && m->control_leg->loop != loop ? 1 : 0;
    g_mutex_unlock(&h->lock);
    return rc;
}

/* The live leg's loop, else the loop of the last one (whose close job, posted under the same
 * lock, runs first): either way fn runs after every callback that could have been running. */
int handle_media_loop_post(plugin_handle *h, plugin_fn fn, void *arg)
{
    g_mutex_lock(&h->lock);
    loop_t *loop = h->media ? h->media->last_loop : NULL;
    if (loop)
        loop_invoke(loop, fn, arg);
    g_mutex_unlock(&h->lock);
    return loop ? 0 : -1;
}

int handle_media_state(plugin_handle *h, plugin_media_state *out)
{
    g_mutex_lock(&h->lock);
    bool gone = h->detached;
    if (h->media)
        *out = h->media->negotiated;
    else
        *out = (plugin_media_state){.loop = -1};
    g_mutex_unlock(&h->lock);
    return gone ? -1 : 0;
}
