/*
 * sdp_answer.c: builds the answer a plugin sends to an offer (JSEP RFC 9429 5.3 rules, as
 * far as a forwarding SFU needs them).
 *
 * - One answer m-line per offer m-line, same order and mids (JSEP forbids reordering).
 * - Audio/video: exactly one codec per m-line, picked by the prefs' order (for H264 the
 *   payload with packetization-mode=1 and profile-level-id 42e01f first, then any
 *   packetization-mode=1, so every browser can decode what we forward), plus its rtx if
 *   allowed. Only the feedback and header extensions the core implements are kept, with the
 *   offer's ids; extension ids above 14 are dropped because we never negotiate two-byte
 *   headers (no a=extmap-allow-mixed in our answers).
 * - Data: "UDP/DTLS/SCTP webrtc-datachannel" with sctp-port 5000 (RFC 8841); the legacy
 *   "DTLS/SCTP 5000" + a=sctpmap form (still offered by aiortc 1.4) is answered in kind.
 * - Everything else, or what the prefs refuse, is rejected (port 0, no attributes but mid).
 * - BUNDLE: the offer's group order, restricted to accepted mids.
 * Transport attributes are left out: the core adds them (sdp_set_transport).
 */
#include "proto/sdp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URI_MID "urn:ietf:params:rtp-hdrext:sdes:mid"
#define URI_AUDIO_LEVEL "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
#define URI_ABS_SEND_TIME "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
#define URI_VIDEO_ORIENTATION "urn:3gpp:video-orientation"
#define URI_TWCC "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

static const char *const default_audio[] = {"opus", NULL};
static const char *const default_video[] = {"VP8", "VP9", "H264", NULL};

void sdp_answer_prefs_default(sdp_answer_prefs *p)
{
    memset(p, 0, sizeof(*p));
    p->accept_audio = p->accept_video = p->accept_data = true;
}

/* fmtp "k=v;k=v" lookup, case-insensitive on the value. */
static bool fmtp_has(const char *fmtp, const char *key, const char *value)
{
    size_t kl = strlen(key), vl = strlen(value);
    const char *p = fmtp;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == kl + 1 + vl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            char buf[64];
            if (vl < sizeof(buf)) {
                memcpy(buf, p + kl + 1, vl);
                buf[vl] = '\0';
                if (sdp_streq_nocase_(buf, value))
                    return true;
            }
        }
        p = end;
    }
    return false;
}

/* Higher is better among payloads of the same codec name. */
static int codec_score(const sdp_payload *p)
{
    if (sdp_streq_nocase_(p->encoding, "H264")) {
        bool pm1 = fmtp_has(p->fmtp, "packetization-mode", "1");
        if (pm1 && fmtp_has(p->fmtp, "profile-level-id", "42e01f"))
            return 3;
        return pm1 ? 2 : 1;
    }
    if (sdp_streq_nocase_(p->encoding, "VP9")) /* profile 0 is what every decoder has */
        return (!p->fmtp || !strstr(p->fmtp, "profile-id=") ||
                fmtp_has(p->fmtp, "profile-id", "0")) ? 2 : 1;
    return 1;
}

static const sdp_payload *choose_codec(const sdp_media *m, const char *const *names)
{
    for (size_t k = 0; names[k] && k < SDP_MAX_CODEC_PREFS; k++) {
        const sdp_payload *best = NULL;
        int best_score = 0;
        for (size_t i = 0; i < m->n_payloads; i++) {
            const sdp_payload *p = &m->payloads[i];
            if (!p->encoding || !sdp_streq_nocase_(p->encoding, names[k]))
                continue;
            int sc = codec_score(p);
            if (sc > best_score) {
                best = p;
                best_score = sc;
            }
        }
        if (best)
            return best;
    }
    return NULL;
}

static bool fb_supported(const char *fb, bool twcc)
{
    return strcmp(fb, "nack") == 0 || strcmp(fb, "nack pli") == 0 ||
           strcmp(fb, "ccm fir") == 0 || strcmp(fb, "goog-remb") == 0 ||
           (twcc && strcmp(fb, "transport-cc") == 0);
}

static bool extmap_supported(const char *uri, bool twcc)
{
    return strcmp(uri, URI_MID) == 0 || strcmp(uri, URI_AUDIO_LEVEL) == 0 ||
           strcmp(uri, URI_ABS_SEND_TIME) == 0 || strcmp(uri, URI_VIDEO_ORIENTATION) == 0 ||
           (twcc && strcmp(uri, URI_TWCC) == 0);
}

/* Answer direction: we send only if we want to and the offerer receives, and vice versa. */
static sdp_direction answer_direction(sdp_direction offer, sdp_direction want)
{
    bool o_send = offer == SDP_DIR_NONE || offer == SDP_DIR_SENDRECV || offer == SDP_DIR_SENDONLY;
    bool o_recv = offer == SDP_DIR_NONE || offer == SDP_DIR_SENDRECV || offer == SDP_DIR_RECVONLY;
    bool w_send = want == SDP_DIR_NONE || want == SDP_DIR_SENDRECV || want == SDP_DIR_SENDONLY;
    bool w_recv = want == SDP_DIR_NONE || want == SDP_DIR_SENDRECV || want == SDP_DIR_RECVONLY;
    bool send = w_send && o_recv, recv = w_recv && o_send;
    if (send && recv)
        return SDP_DIR_SENDRECV;
    if (send)
        return SDP_DIR_SENDONLY;
    return recv ? SDP_DIR_RECVONLY : SDP_DIR_INACTIVE;
}

/* Copies pt with its rtpmap, fmtp and the feedback we support; adds it to the m= list. */
static int add_payload(sdp_media *a, const sdp_payload *src, bool twcc)
{
    char ptxt[4];
    snprintf(ptxt, sizeof(ptxt), "%u", src->pt);
    if (sdp_strlist_push_(&a->formats, &a->n_formats, ptxt) < 0)
        return -1;
    sdp_payload *p = sdp_push_(&a->payloads, &a->n_payloads, sizeof(sdp_payload));
    if (!p)
        return -1;
    p->pt = src->pt;
    p->clock_rate = src->clock_rate;
    p->channels = src->channels;
    if (sdp_set_str_(&p->encoding, src->encoding) < 0 || sdp_set_str_(&p->fmtp, src->fmtp) < 0)
        return -1;
    for (size_t i = 0; i < src->n_rtcp_fb; i++) {
        if (fb_supported(src->rtcp_fb[i], twcc) &&
            sdp_strlist_push_(&p->rtcp_fb, &p->n_rtcp_fb, src->rtcp_fb[i]) < 0)
            return -1;
    }
    return 0;
}

/* True when the offer uses id for another URI in some m-line: RFC 8843 9.2 wants one
 * meaning per id across a BUNDLE group, and stacks that keep one map per transport (aiortc
 * 1.4) misread such packets, so neither meaning is answered. */
static bool extmap_id_conflicts(const sdp_session *offer, const sdp_extmap *e)
{
    for (size_t m = 0; m < offer->n_media; m++) {
        const sdp_media *om = &offer->media[m];
        if (om->rejected)
            continue;
        for (size_t i = 0; i < om->n_extmaps; i++)
            if (om->extmaps[i].id == e->id && strcmp(om->extmaps[i].uri, e->uri) != 0)
                return true;
    }
    return false;
}

static int add_extmaps(sdp_media *a, const sdp_session *offer, const sdp_media *o, bool twcc)
{
    for (size_t i = 0; i < o->n_extmaps; i++) {
        const sdp_extmap *e = &o->extmaps[i];
        if (e->id > 14 || !extmap_supported(e->uri, twcc) || extmap_id_conflicts(offer, e))
            continue;
        sdp_extmap *x = sdp_push_(&a->extmaps, &a->n_extmaps, sizeof(sdp_extmap));
        if (!x)
            return -1;
        x->id = e->id;
        if (sdp_set_str_(&x->uri, e->uri) < 0)
            return -1;
    }
    return 0;
}

static int answer_rtp(sdp_media *a, const sdp_session *offer, const sdp_media *o,
                      const sdp_answer_prefs *pr, const sdp_payload *codec)
{
    bool audio = o->type == SDP_MEDIA_AUDIO;
    a->port = 9;
    if (add_payload(a, codec, pr->allow_twcc) < 0)
        return -1;
    int rtx = pr->allow_rtx ? sdp_media_rtx_pt(o, codec->pt) : -1;
    if (rtx >= 0 && add_payload(a, sdp_media_payload(o, rtx), pr->allow_twcc) < 0)
        return -1;
    if (add_extmaps(a, offer, o, pr->allow_twcc) < 0)
        return -1;
    a->dir = answer_direction(o->dir, audio ? pr->audio_dir : pr->video_dir);
    a->rtcp_mux = o->rtcp_mux;
    a->rtcp_rsize = o->rtcp_rsize;
    return 0;
}

/* True when o is the pre-RFC 8841 form: proto "DTLS/SCTP", the SCTP port as the format, and
 * a=sctpmap:<port> webrtc-datachannel. */
static bool legacy_datachannel(const sdp_media *o)
{
    if (strcmp(o->proto, "DTLS/SCTP") != 0 || o->n_formats == 0)
        return false;
    size_t flen = strlen(o->formats[0]);
    for (size_t i = 0; i < o->n_attrs; i++) {
        const sdp_attr *at = &o->attrs[i];
        if (at->type == 'a' && strcmp(at->name, "sctpmap") == 0 && at->value &&
            strncmp(at->value, o->formats[0], flen) == 0 && at->value[flen] == ' ' &&
            strstr(at->value + flen, "webrtc-datachannel"))
            return true;
    }
    return false;
}

static int answer_data(sdp_media *a, const sdp_media *o, const sdp_answer_prefs *pr)
{
    a->port = 9;
    if (legacy_datachannel(o)) {
        char value[64];
        snprintf(value, sizeof value, "%s webrtc-datachannel 65535", o->formats[0]);
        if (sdp_strlist_push_(&a->formats, &a->n_formats, o->formats[0]) < 0 ||
            sdp_attr_push_(&a->attrs, &a->n_attrs, 'a', "sctpmap", value) < 0)
            return -1;
        return 0;
    }
    if (sdp_strlist_push_(&a->formats, &a->n_formats, "webrtc-datachannel") < 0)
        return -1;
    a->sctp_port = 5000;
    a->max_message_size = pr->max_message_size ? pr->max_message_size : 262144;
    a->has_max_message_size = true;
    return 0;
}

static bool offers_datachannel(const sdp_media *o)
{
    if (legacy_datachannel(o))
        return true;
    if (!strstr(o->proto, "DTLS/SCTP") || strncmp(o->proto, "DTLS", 4) == 0)
        return false;
    for (size_t i = 0; i < o->n_formats; i++) {
        if (strcmp(o->formats[i], "webrtc-datachannel") == 0)
            return true;
    }
    return false;
}

/* Port 0 and the offer's first format; for RTP a bare payload entry mirrors it, as a parse
 * of the written answer would give. */
static int reject(sdp_media *a, const sdp_media *o)
{
    a->port = 0;
    a->rejected = true;
    if (sdp_strlist_push_(&a->formats, &a->n_formats, o->formats[0]) < 0)
        return -1;
    if (o->n_payloads == 0 || o->payloads[0].pt != atoi(o->formats[0]))
        return 0;
    sdp_payload *p = sdp_push_(&a->payloads, &a->n_payloads, sizeof(sdp_payload));
    if (!p)
        return -1;
    p->pt = o->payloads[0].pt;
    return 0;
}

/* Fills answer m-line a for offer m-line o; *accepted tells whether it carries media. */
static int answer_media(sdp_media *a, const sdp_session *offer, const sdp_media *o,
                        const sdp_answer_prefs *pr, bool *accepted)
{
    *accepted = false;
    if (sdp_set_str_(&a->type_name, o->type_name) < 0 || sdp_set_str_(&a->proto, o->proto) < 0 ||
        sdp_set_str_(&a->mid, o->mid) < 0 || sdp_set_str_(&a->connection, "IN IP4 0.0.0.0") < 0)
        return -1;
    a->type = o->type;
    if (o->n_formats == 0 || o->rejected)
        return o->n_formats ? reject(a, o) : -1;
    bool rtp = strstr(o->proto, "RTP/") != NULL;
    const sdp_payload *codec = NULL;
    if (rtp && o->type == SDP_MEDIA_AUDIO && pr->accept_audio)
        codec = choose_codec(o, pr->audio_codecs[0] ? pr->audio_codecs : default_audio);
    else if (rtp && o->type == SDP_MEDIA_VIDEO && pr->accept_video)
        codec = choose_codec(o, pr->video_codecs[0] ? pr->video_codecs : default_video);
    if (codec) {
        *accepted = true;
        return answer_rtp(a, offer, o, pr, codec);
    }
    if (o->type == SDP_MEDIA_APPLICATION && pr->accept_data && offers_datachannel(o)) {
        *accepted = true;
        return answer_data(a, o, pr);
    }
    return reject(a, o);
}

/* A stable 63-bit id from the offer's origin, so re-answering the same offer is repeatable. */
static uint64_t derive_session_id(const sdp_session *offer)
{
    uint64_t h = 1469598103934665603ull;
    const char *parts[2] = {offer->origin_sess_id, offer->origin_addr};
    for (int k = 0; k < 2; k++) {
        for (const char *p = parts[k]; p && *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ull;
        }
    }
    h &= 0x7fffffffffffffffull;
    return h ? h : 1;
}

static int answer_session(sdp_session *a, const sdp_session *o, const sdp_answer_prefs *pr)
{
    char id[24];
    snprintf(id, sizeof(id), "%llu",
             (unsigned long long)(pr->session_id ? pr->session_id : derive_session_id(o)));
    /* The offerer bumps its version on every renegotiation; following it keeps ours
     * increasing too without state here. */
    a->origin_sess_version = o->origin_sess_version < UINT64_MAX ? o->origin_sess_version + 1
                                                                 : o->origin_sess_version;
    if (sdp_set_str_(&a->origin_user, "-") < 0 || sdp_set_str_(&a->origin_sess_id, id) < 0 ||
        sdp_set_str_(&a->origin_nettype, "IN") < 0 ||
        sdp_set_str_(&a->origin_addrtype, "IP4") < 0 ||
        sdp_set_str_(&a->origin_addr, "127.0.0.1") < 0 || sdp_set_str_(&a->name, "-") < 0 ||
        sdp_set_str_(&a->timing, "0 0") < 0)
        return -1;
    if (o->msid_semantic) {
        /* keep the semantic token ("WMS"), not the offerer's stream ids */
        size_t n = strcspn(o->msid_semantic, " ");
        if (!(a->msid_semantic = sdp_strndup_(o->msid_semantic, n)))
            return -1;
    }
    return 0;
}

static int answer_bundle(sdp_session *a, const sdp_session *o, const bool *accepted)
{
    if (!o->bundle)
        return 0;
    for (size_t i = 0; i < o->n_bundle; i++) {
        int idx = sdp_media_index_by_mid(o, o->bundle[i]);
        if (idx >= 0 && accepted[idx] &&
            sdp_strlist_push_(&a->bundle, &a->n_bundle, o->bundle[i]) < 0)
            return -1;
    }
    return 0;
}

int sdp_make_answer(const sdp_session *offer, const sdp_answer_prefs *prefs,
                    sdp_session **answer)
{
    sdp_answer_prefs defaults;
    bool accepted[SDP_MAX_MEDIA];
    if (!answer)
        return -1;
    *answer = NULL;
    if (!offer || offer->n_media == 0 || offer->n_media > SDP_MAX_MEDIA)
        return -1;
    if (!prefs) {
        sdp_answer_prefs_default(&defaults);
        prefs = &defaults;
    }
    sdp_session *a = calloc(1, sizeof(*a));
    if (!a || answer_session(a, offer, prefs) < 0)
        goto fail;
    a->media = calloc(offer->n_media, sizeof(sdp_media));
    if (!a->media)
        goto fail;
    for (size_t i = 0; i < offer->n_media; i++) {
        a->n_media = i + 1;
        if (answer_media(&a->media[i], offer, &offer->media[i], prefs, &accepted[i]) < 0)
            goto fail;
    }
    if (answer_bundle(a, offer, accepted) < 0)
        goto fail;
    *answer = a;
    return 0;
fail:
    sdp_free(a);
    return -1;
}
