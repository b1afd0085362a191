/*
 * plugin_sdp: see plugin_sdp.h. Built on proto/sdp (parse, answer, edit, write).
 *
 * A relayed offer keeps what the sending browser wrote (payload types, codecs, extension ids,
 * mids) so the receiving leg's answer fits the sender as is; it loses what a relay forwarding
 * one stream per kind cannot honour: the sender's SSRCs and msid (ours are added per leg),
 * RTX/RED/FEC payloads (the core answers NACKs from its own buffer and rewrites every packet
 * of a kind to one SSRC, so a second stream would be misread) and simulcast.
 */
#include "core/plugin_sdp.h"

#include <glib.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/sdp.h"

/* The SDP text of a jsep of the given type (NULL type = any), parsed; NULL if unusable. */
static sdp_session *parse_jsep(const char *jsep_json, const char *want_type, char *type_out, size_t type_cap)
{
    if (!jsep_json)
        return NULL;
    json_t *jsep = json_loads(jsep_json, 0, NULL);
    const char *type = json_string_value(json_object_get(jsep, "type"));
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    sdp_session *s = NULL;
    if (type && sdp && (!want_type || strcmp(type, want_type) == 0)) {
        if (sdp_parse(sdp, strlen(sdp), &s, NULL, 0) != 0)
            s = NULL;
        if (type_out)
            g_strlcpy(type_out, type, type_cap);
    }
    json_decref(jsep);
    return s;
}

static char *jsep_text(const char *type, const sdp_session *s)
{
    char *sdp = sdp_write_alloc(s);
    if (!sdp)
        return NULL;
    json_t *o = json_pack("{s:s,s:s}", "type", type, "sdp", sdp);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(sdp);
    return text;
}

static plugin_media_dir dir_of(const sdp_media *md)
{
    if (md->rejected)
        return PLUGIN_DIR_NONE;
    switch (sdp_media_direction(md)) {
    case SDP_DIR_SENDONLY: return PLUGIN_DIR_SENDONLY;
    case SDP_DIR_RECVONLY: return PLUGIN_DIR_RECVONLY;
    case SDP_DIR_INACTIVE: return PLUGIN_DIR_INACTIVE;
    default: return PLUGIN_DIR_SENDRECV;
    }
}

static sdp_direction sdp_dir_of(plugin_media_dir d)
{
    switch (d) {
    case PLUGIN_DIR_SENDONLY: return SDP_DIR_SENDONLY;
    case PLUGIN_DIR_RECVONLY: return SDP_DIR_RECVONLY;
    case PLUGIN_DIR_INACTIVE: return SDP_DIR_INACTIVE;
    case PLUGIN_DIR_NONE: return SDP_DIR_INACTIVE;
    default: return SDP_DIR_SENDRECV;
    }
}

int plugin_sdp_describe(const char *jsep_json, plugin_media_desc *out)
{
    sdp_session *s = parse_jsep(jsep_json, NULL, NULL, 0);
    if (!s)
        return -1;
    memset(out, 0, sizeof *out);
    bool seen[2] = {false, false};
    for (size_t i = 0; i < s->n_media; i++) {
        const sdp_media *md = &s->media[i];
        if (md->type == SDP_MEDIA_APPLICATION) {
            out->data = out->data || !md->rejected;
            continue;
        }
        if (md->type != SDP_MEDIA_AUDIO && md->type != SDP_MEDIA_VIDEO)
            continue;
        int k = md->type == SDP_MEDIA_VIDEO;
        plugin_media_dir d = dir_of(md);
        /* A kind counts once: its first usable m-line (BUNDLE offers may carry more). */
        if (seen[k] || (d == PLUGIN_DIR_NONE && md->n_payloads == 0))
            continue;
        if (md->n_payloads == 0)
            d = PLUGIN_DIR_NONE;
        seen[k] = d != PLUGIN_DIR_NONE;
        char *codec = k ? out->video_codec : out->audio_codec;
        if (k)
            out->video = d;
        else
            out->audio = d;
        if (md->n_payloads && md->payloads[0].encoding)
            g_strlcpy(codec, md->payloads[0].encoding, sizeof out->audio_codec);
    }
    sdp_free(s);
    return 0;
}

char *plugin_sdp_answer(const char *offer_jsep, const plugin_media_desc *want)
{
    sdp_session *offer = parse_jsep(offer_jsep, "offer", NULL, 0);
    if (!offer)
        return NULL;
    sdp_answer_prefs prefs;
    sdp_answer_prefs_default(&prefs);
    if (want) {
        prefs.accept_audio = want->audio != PLUGIN_DIR_NONE;
        prefs.accept_video = want->video != PLUGIN_DIR_NONE;
        prefs.accept_data = want->data;
        prefs.audio_dir = sdp_dir_of(want->audio);
        prefs.video_dir = sdp_dir_of(want->video);
        if (want->audio_codec[0])
            prefs.audio_codecs[0] = want->audio_codec;
        if (want->video_codec[0])
            prefs.video_codecs[0] = want->video_codec;
    }
    sdp_session *answer = NULL;
    char *text = sdp_make_answer(offer, &prefs, &answer) == 0 ? jsep_text("answer", answer) : NULL;
    sdp_free(answer);
    sdp_free(offer);
    return text;
}

/* ---- our own offer ---- */

static const char *dir_attr(plugin_media_dir d)
{
    switch (d) {
    case PLUGIN_DIR_SENDONLY: return "sendonly";
    case PLUGIN_DIR_RECVONLY: return "recvonly";
    case PLUGIN_DIR_INACTIVE: return "inactive";
    default: return "sendrecv";
    }
}

static void add_audio(GString *o, int mid, plugin_media_dir d)
{
    g_string_append_printf(o,
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\na=%s\r\na=rtcp-mux\r\n"
        "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n", mid, dir_attr(d));
}

static void add_video_codec(GString *o, int pt, const char *rtpmap, const char *fmtp)
{
    g_string_append_printf(o, "a=rtpmap:%d %s\r\n", pt, rtpmap);
    if (fmtp)
        g_string_append_printf(o, "a=fmtp:%d %s\r\n", pt, fmtp);
    static const char *const fbs[] = {"goog-remb", "ccm fir", "nack", "nack pli"};
    for (size_t i = 0; i < G_N_ELEMENTS(fbs); i++)
        g_string_append_printf(o, "a=rtcp-fb:%d %s\r\n", pt, fbs[i]);
}

static void add_video(GString *o, int mid, plugin_media_dir d, const char *codec)
{
    static const struct { int pt; const char *name, *rtpmap, *fmtp; } codecs[] = {
        {96, "VP8", "VP8/90000", NULL},
        {98, "VP9", "VP9/90000", "profile-id=0"},
        {102, "H264", "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
    };
    bool use[G_N_ELEMENTS(codecs)], any = false;
    for (size_t i = 0; i < G_N_ELEMENTS(codecs); i++)
        any |= use[i] = codec[0] && strcasecmp(codec, codecs[i].name) == 0;
    GString *pts = g_string_new(NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(codecs); i++) {
        use[i] = use[i] || !any;   /* no preference, or an unknown one: offer them all */
        if (use[i])
            g_string_append_printf(pts, " %d", codecs[i].pt);
    }
    g_string_append_printf(o,
        "m=video 9 UDP/TLS/RTP/SAVPF%s\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\na=%s\r\na=rtcp-mux\r\na=rtcp-rsize\r\n",
        pts->str, mid, dir_attr(d));
    for (size_t i = 0; i < G_N_ELEMENTS(codecs); i++)
        if (use[i])
            add_video_codec(o, codecs[i].pt, codecs[i].rtpmap, codecs[i].fmtp);
    g_string_append(o, "a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
                       "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
                       "a=extmap:5 urn:3gpp:video-orientation\r\n");
    g_string_free(pts, TRUE);
}

char *plugin_sdp_offer(const plugin_media_desc *want)
{
    if (!want || (want->audio == PLUGIN_DIR_NONE && want->video == PLUGIN_DIR_NONE && !want->data))
        return NULL;
    GString *body = g_string_new(NULL), *bundle = g_string_new("a=group:BUNDLE");
    int mid = 0;
    if (want->audio != PLUGIN_DIR_NONE) {
        add_audio(body, mid, want->audio);
        g_string_append_printf(bundle, " %d", mid++);
    }
    if (want->video != PLUGIN_DIR_NONE) {
        add_video(body, mid, want->video, want->video_codec);
        if (want->video_bitrate)
            g_string_append_printf(body, "b=AS:%u\r\n", want->video_bitrate / 1000);
        g_string_append_printf(bundle, " %d", mid++);
    }
    if (want->data) {
        g_string_append_printf(body, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
                                     "a=mid:%d\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n", mid);
        g_string_append_printf(bundle, " %d", mid++);
    }
    uint64_t sess_id = g_random_int() | (uint64_t)(g_random_int() & 0x3fffffff) << 32;
    char *text = g_strdup_printf("v=0\r\no=- %" G_GUINT64_FORMAT " 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n%s\r\n"
                                 "a=msid-semantic: WMS *\r\n%s", sess_id, bundle->str, body->str);
    g_string_free(body, TRUE);
    g_string_free(bundle, TRUE);
    sdp_session *s = NULL;
    char *out = sdp_parse(text, strlen(text), &s, NULL, 0) == 0 ? jsep_text("offer", s) : NULL;
    sdp_free(s);
    g_free(text);
    return out;
}

/* ---- relaying an offer to another leg ---- */

static bool relay_drops_codec(const sdp_payload *p)
{
    static const char *const names[] = {"rtx", "red", "ulpfec", "flexfec-03"};
    for (size_t i = 0; p->encoding && i < G_N_ELEMENTS(names); i++)
        if (strcasecmp(p->encoding, names[i]) == 0)
            return true;
    return false;
}

static void trim_for_relay(sdp_media *md)
{
    sdp_clear_ssrcs(md);
    sdp_media_remove_attrs(md, "simulcast");
    sdp_media_remove_attrs(md, "rid");
    for (size_t i = md->n_payloads; i-- > 0;)
        if (relay_drops_codec(&md->payloads[i]) && md->n_payloads > 1)
            sdp_media_remove_payload(md, md->payloads[i].pt);
}

/* True when an m-line before `upto` maps id to another URI. */
static bool extmap_id_taken(const sdp_session *s, size_t upto, const sdp_extmap *e)
{
    for (size_t i = 0; i < upto; i++) {
        const sdp_media *md = &s->media[i];
        for (size_t k = 0; !md->rejected && k < md->n_extmaps; k++)
            if (md->extmaps[k].id == e->id && strcmp(md->extmaps[k].uri, e->uri) != 0)
                return true;
    }
    return false;
}

/* Some stacks (aiortc 1.4) number extensions per m-line, so one id names two URIs across a
 * BUNDLE group; browsers refuse such an offer. The later use of the id is dropped: the other
 * leg's answer then lacks it too, so both legs agree without renumbering. */
static void drop_bundle_extmap_collisions(sdp_session *s)
{
    for (size_t i = 1; i < s->n_media; i++) {
        sdp_media *md = &s->media[i];
        for (size_t k = md->n_extmaps; !md->rejected && k-- > 0;)
            if (extmap_id_taken(s, i, &md->extmaps[k]))
                sdp_media_remove_extmap(md, k);
    }
}

char *plugin_sdp_relay_offer(const char *offer_jsep, const plugin_media_desc *want)
{
    sdp_session *s = parse_jsep(offer_jsep, "offer", NULL, 0);
    if (!s)
        return NULL;
    sdp_strip_transport(s);
    bool seen[2] = {false, false};
    for (size_t i = 0; i < s->n_media; i++) {
        sdp_media *md = &s->media[i];
        if (md->rejected || (md->type != SDP_MEDIA_AUDIO && md->type != SDP_MEDIA_VIDEO))
            continue;
        trim_for_relay(md);
        int k = md->type == SDP_MEDIA_VIDEO;
        /* One stream per kind crosses a relay: further m-lines of a kind go inactive. */
        if (seen[k])
            sdp_set_direction(s, i, SDP_DIR_INACTIVE);
        else if (want && (k ? want->video : want->audio) != PLUGIN_DIR_SENDRECV)
            sdp_set_direction(s, i, sdp_dir_of(k ? want->video : want->audio));
        seen[k] = true;
    }
    drop_bundle_extmap_collisions(s);
    char *text = jsep_text("offer", s);
    sdp_free(s);
    return text;
}
