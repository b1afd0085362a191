/*
 * test_sdp: parsing Chrome/Firefox/aiortc-shaped offers, answers, round trips, transport
 * edits, ssrc additions, candidates, and a table of malformed SDPs that must be refused.
 * Every parse goes through an exactly-sized heap copy without a NUL, so a read past len
 * shows up under AddressSanitizer.
 */
#include <stdlib.h>

#include "check.h"
#include "proto/sdp.h"
#include "sdp_compare.h"
#include "sdp_fixtures.h"

static char errbuf[256];

/* Parses text (len bytes, no terminator) from an exact-size heap copy. */
static sdp_session *parse_n(const char *text, size_t len)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    sdp_session *s = NULL;
    int r = sdp_parse(copy, len, &s, errbuf, sizeof(errbuf));
    free(copy);
    if (r != 0) {
        CHECK(s == NULL);
        CHECK(errbuf[0] != '\0');
        return NULL;
    }
    return s;
}

static sdp_session *parse(const char *text)
{
    return parse_n(text, strlen(text));
}

/* LF -> CRLF copy (caller frees). */
static char *to_crlf(const char *lf)
{
    size_t n = strlen(lf), lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += lf[i] == '\n';
    char *out = malloc(n + lines + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (lf[i] == '\n')
            *o++ = '\r';
        *o++ = lf[i];
    }
    *o = '\0';
    return out;
}

/* parse -> write -> parse gives the same model, and writing is a fixpoint. */
static void check_round_trip(const sdp_session *s)
{
    char *t1 = sdp_write_alloc(s);
    CHECK(t1 != NULL);
    if (!t1)
        return;
    sdp_session *s2 = parse(t1);
    CHECK(s2 != NULL);
    if (s2) {
        CHECK(session_equal(s, s2));
        char *t2 = sdp_write_alloc(s2);
        CHECK(t2 && strcmp(t1, t2) == 0);
        free(t2);
        sdp_free(s2);
    }
    /* a short buffer is refused, never overrun */
    size_t n = strlen(t1);
    char *small = malloc(n);
    CHECK_INT(sdp_write(s, small, n), -1);
    char *exact = malloc(n + 1);
    CHECK_INT(sdp_write(s, exact, n + 1), (long long)n);
    free(small);
    free(exact);
    free(t1);
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\r' && p[n + 1] == '\n')
            return true;
    }
    return false;
}

static void test_chrome_parse(void)
{
    sdp_session *s = parse(CHROME_OFFER);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "chrome: %s\n", errbuf);
        return;
    }
    CHECK_STR(s->origin_sess_id, "4611731400430051336");
    CHECK_INT(s->origin_sess_version, 2);
    CHECK_INT(s->n_bundle, 3);
    CHECK_STR(s->bundle[2], "2");
    CHECK_STR(s->msid_semantic, "WMS stream1");
    CHECK_INT(s->n_attrs, 1);
    CHECK_STR(s->attrs[0].name, "extmap-allow-mixed");
    CHECK_INT(s->n_media, 3);

    sdp_media *a = &s->media[0];
    CHECK_INT(a->type, SDP_MEDIA_AUDIO);
    CHECK_INT(a->port, 9);
    CHECK_STR(a->proto, "UDP/TLS/RTP/SAVPF");
    CHECK_STR(a->mid, "0");
    CHECK_INT(a->dir, SDP_DIR_SENDRECV);
    CHECK(a->rtcp_mux && a->rtcp_rsize && !a->rejected);
    CHECK_STR(a->ice_ufrag, "EsAw");
    CHECK_STR(a->fingerprint, "sha-256 " FP_A);
    CHECK_STR(a->setup, "actpass");
    CHECK_INT(a->n_payloads, 8);
    sdp_payload *opus = sdp_media_payload(a, 111);
    CHECK(opus != NULL);
    if (opus) {
        CHECK_STR(opus->encoding, "opus");
        CHECK_INT(opus->clock_rate, 48000);
        CHECK_INT(opus->channels, 2);
        CHECK_STR(opus->fmtp, "minptime=10;useinbandfec=1");
        CHECK_INT(opus->n_rtcp_fb, 1);
    }
    CHECK_INT(sdp_media_payload(a, 0)->channels, 0);
    CHECK(sdp_media_payload(a, 96) == NULL);
    CHECK_INT(a->n_extmaps, 4);
    CHECK_INT(sdp_extmap_id(a, "urn:ietf:params:rtp-hdrext:sdes:mid"), 4);
    CHECK_INT(sdp_extmap_id(a, "urn:3gpp:video-orientation"), 0);
    CHECK_INT(a->n_ssrcs, 2);
    CHECK_INT(a->ssrcs[1].ssrc, 1111111111);
    CHECK_STR(a->ssrcs[1].attr, "msid");
    CHECK_STR(a->ssrcs[1].value, "stream1 audiotrack1");
    CHECK_STR(a->msid, "stream1 audiotrack1");
    CHECK_INT(a->n_attrs, 1); /* a=rtcp:9 IN IP4 0.0.0.0 */
    CHECK_STR(a->attrs[0].value, "9 IN IP4 0.0.0.0");

    sdp_media *v = &s->media[1];
    CHECK_INT(v->type, SDP_MEDIA_VIDEO);
    CHECK_INT(v->n_payloads, 10);
    CHECK_INT(sdp_media_rtx_pt(v, 96), 97);
    CHECK_INT(sdp_media_rtx_pt(v, 102), 103);
    CHECK_INT(sdp_media_rtx_pt(v, 35), 36);
    CHECK_INT(sdp_media_rtx_pt(v, 97), -1);
    CHECK_INT(sdp_media_payload(v, 102)->n_rtcp_fb, 5);
    CHECK_STR(sdp_media_payload(v, 102)->rtcp_fb[4], "nack pli");
    CHECK_INT(v->n_extmaps, 11);
    CHECK_INT(sdp_extmap_id(v, "urn:3gpp:video-orientation"), 13);
    CHECK_INT(v->n_ssrc_groups, 1);
    CHECK_STR(v->ssrc_groups[0].semantics, "FID");
    CHECK_INT(v->ssrc_groups[0].n_ssrcs, 2);
    CHECK(v->ssrc_groups[0].ssrcs[1] == 3333333333u);

    sdp_media *d = &s->media[2];
    CHECK_INT(d->type, SDP_MEDIA_APPLICATION);
    CHECK_STR(d->proto, "UDP/DTLS/SCTP");
    CHECK_INT(d->n_formats, 1);
    CHECK_STR(d->formats[0], "webrtc-datachannel");
    CHECK_INT(d->n_payloads, 0);
    CHECK_INT(d->sctp_port, 5000);
    CHECK(d->has_max_message_size && d->max_message_size == 262144);

    int8_t map[128];
    sdp_pt_map(s, map);
    CHECK_INT(map[111], 0);
    CHECK_INT(map[0], 0);
    CHECK_INT(map[96], 1);
    CHECK_INT(map[36], 1);
    CHECK_INT(map[5], -1);
    CHECK_INT(sdp_media_index_by_mid(s, "1"), 1);
    CHECK_INT(sdp_media_index_by_mid(s, "7"), -1);
    CHECK(sdp_media_by_mid(s, "2") == d);

    check_round_trip(s);

    /* the same offer with CRLF gives the same model */
    char *crlf = to_crlf(CHROME_OFFER);
    sdp_session *s2 = parse(crlf);
    CHECK(s2 && session_equal(s, s2));
    sdp_free(s2);
    free(crlf);
    sdp_free(s);
}

static void test_firefox_parse(void)
{
    sdp_session *s = parse(FIREFOX_OFFER);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "firefox: %s\n", errbuf);
        return;
    }
    CHECK_STR(s->origin_user, "mozilla...THIS_IS_SDPARTA-99.0");
    CHECK_STR(s->fingerprint, "sha-256 " FP_B);
    CHECK_STR(s->ice_options, "trickle");
    CHECK_STR(s->msid_semantic, "WMS *");
    sdp_media *a = &s->media[0];
    CHECK(a->fingerprint == NULL);
    sdp_transport t;
    CHECK_INT(sdp_media_transport(s, 0, &t), 0);
    CHECK_STR(t.fingerprint, "sha-256 " FP_B);
    CHECK_STR(t.ice_ufrag, "3e5c1a7d");
    CHECK_STR(t.ice_pwd, "b9d3f0a6bd3d4c2f8a3f0e5e2d1c0b9a");
    CHECK_STR(t.ice_options, "trickle");
    CHECK_STR(t.setup, "actpass");
    CHECK_INT(sdp_media_transport(s, 3, &t), -1);
    CHECK_STR(sdp_media_payload(a, 109)->fmtp, "maxplaybackrate=48000;stereo=1;useinbandfec=1");
    CHECK_INT(sdp_media_payload(a, 9)->channels, 1);
    CHECK_INT(a->extmaps[1].dir, SDP_DIR_RECVONLY);
    CHECK_STR(a->extmaps[1].uri, "urn:ietf:params:rtp-hdrext:csrc-audio-level");
    sdp_media *v = &s->media[1];
    CHECK_INT(v->dir, SDP_DIR_RECVONLY);
    CHECK_INT(sdp_media_rtx_pt(v, 126), 127);
    CHECK_INT(sdp_media_payload(v, 120)->n_rtcp_fb, 5);
    CHECK_INT(s->media[2].max_message_size, 1073741823);
    check_round_trip(s);
    sdp_free(s);
}

static void test_aiortc_parse(void)
{
    sdp_session *s = parse(AIORTC_OFFER);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "aiortc: %s\n", errbuf);
        return;
    }
    sdp_media *a = &s->media[0];
    CHECK_INT(a->port, 50446);
    CHECK_STR(a->connection, "IN IP4 127.0.0.2");
    CHECK(!a->rtcp_rsize);
    CHECK_INT(a->n_candidates, 2);
    CHECK(a->end_of_candidates);
    sdp_candidate c;
    CHECK_INT(sdp_candidate_parse(a->candidates[1], &c), 0);
    CHECK_INT(c.type, SDP_CAND_SRFLX);
    CHECK_STR(c.address, "198.51.100.7");
    CHECK_STR(c.raddr, "127.0.0.2");
    CHECK_INT(c.rport, 50446);
    CHECK_INT(s->media[1].n_candidates, 2);
    CHECK_INT(sdp_media_rtx_pt(&s->media[1], 101), 102);
    check_round_trip(s);
    sdp_free(s);
}

static const sdp_media *answer_media(const sdp_session *ans, size_t i)
{
    return i < ans->n_media ? &ans->media[i] : NULL;
}

static void test_answer_chrome_default(void)
{
    sdp_session *offer = parse(CHROME_OFFER);
    sdp_strip_transport(offer);
    sdp_session *ans = NULL;
    CHECK_INT(sdp_make_answer(offer, NULL, &ans), 0);
    CHECK(ans != NULL);
    if (!ans) {
        sdp_free(offer);
        return;
    }
    CHECK_INT(ans->n_media, 3);
    CHECK_INT(ans->n_bundle, 3);
    CHECK_STR(ans->msid_semantic, "WMS");
    const sdp_media *a = answer_media(ans, 0);
    CHECK_STR(a->mid, "0");
    CHECK_INT(a->port, 9);
    CHECK_INT(a->n_formats, 1);
    CHECK_STR(a->formats[0], "111");
    CHECK_INT(a->n_payloads, 1);
    CHECK_STR(a->payloads[0].encoding, "opus");
    CHECK_STR(a->payloads[0].fmtp, "minptime=10;useinbandfec=1");
    CHECK_INT(a->payloads[0].n_rtcp_fb, 0); /* transport-cc only with allow_twcc */
    CHECK_INT(a->n_extmaps, 3);
    CHECK_INT(sdp_extmap_id(a, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"), 1);
    CHECK_INT(sdp_extmap_id(a, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"), 2);
    CHECK_INT(sdp_extmap_id(a, "urn:ietf:params:rtp-hdrext:sdes:mid"), 4);
    CHECK_INT(a->dir, SDP_DIR_SENDRECV);
    CHECK(a->rtcp_mux && a->rtcp_rsize);
    CHECK(a->ice_ufrag == NULL && a->n_ssrcs == 0);

    const sdp_media *v = answer_media(ans, 1);
    CHECK_INT(v->n_payloads, 1);
    CHECK_STR(v->formats[0], "96");
    CHECK_STR(v->payloads[0].encoding, "VP8");
    CHECK_INT(v->payloads[0].n_rtcp_fb, 4);
    for (size_t i = 0; i < v->payloads[0].n_rtcp_fb; i++)
        CHECK(strcmp(v->payloads[0].rtcp_fb[i], "transport-cc") != 0);
    CHECK_INT(v->n_extmaps, 3);
    CHECK_INT(sdp_extmap_id(v, "urn:3gpp:video-orientation"), 13);
    CHECK_INT(sdp_extmap_id(v, "urn:ietf:params:rtp-hdrext:toffset"), 0);

    const sdp_media *d = answer_media(ans, 2);
    CHECK_STR(d->proto, "UDP/DTLS/SCTP");
    CHECK_STR(d->formats[0], "webrtc-datachannel");
    CHECK_INT(d->sctp_port, 5000);
    CHECK_INT(d->max_message_size, 262144);

    char *text = sdp_write_alloc(ans);
    CHECK(text != NULL);
    CHECK(has_line(text, "a=group:BUNDLE 0 1 2"));
    CHECK(has_line(text, "m=audio 9 UDP/TLS/RTP/SAVPF 111"));
    CHECK(has_line(text, "m=video 9 UDP/TLS/RTP/SAVPF 96"));
    CHECK(has_line(text, "a=rtpmap:96 VP8/90000"));
    CHECK(has_line(text, "a=rtcp-fb:96 nack pli"));
    CHECK(has_line(text, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel"));
    CHECK(has_line(text, "a=sctp-port:5000"));
    CHECK(!strstr(text, "transport-cc") && !strstr(text, "a=ice-ufrag"));
    free(text);
    check_round_trip(ans);

    /* same offer -> same session id (derived), and an explicit one is used */
    sdp_session *ans2 = NULL;
    sdp_answer_prefs p;
    sdp_answer_prefs_default(&p);
    CHECK_INT(sdp_make_answer(offer, &p, &ans2), 0);
    CHECK_STR(ans2->origin_sess_id, ans->origin_sess_id);
    sdp_free(ans2);
    p.session_id = 12345;
    CHECK_INT(sdp_make_answer(offer, &p, &ans2), 0);
    CHECK_STR(ans2->origin_sess_id, "12345");
    CHECK_INT(ans2->origin_sess_version, 3); /* Chrome's offer has version 2 */
    sdp_free(ans2);
    sdp_free(ans);
    sdp_free(offer);
}

static void test_answer_prefs(void)
{
    sdp_session *offer = parse(CHROME_OFFER);
    sdp_answer_prefs p;
    sdp_answer_prefs_default(&p);
    p.video_codecs[0] = "h264";
    p.allow_rtx = true;
    p.allow_twcc = true;
    p.accept_data = false;
    p.audio_dir = SDP_DIR_RECVONLY;
    sdp_session *ans = NULL;
    CHECK_INT(sdp_make_answer(offer, &p, &ans), 0);
    const sdp_media *a = answer_media(ans, 0);
    CHECK_INT(a->dir, SDP_DIR_RECVONLY);
    CHECK_INT(a->payloads[0].n_rtcp_fb, 1);
    CHECK_STR(a->payloads[0].rtcp_fb[0], "transport-cc");
    CHECK_INT(sdp_extmap_id(a, "http://www.ietf.org/id/"
                               "draft-holmer-rmcat-transport-wide-cc-extensions-01"), 3);
    const sdp_media *v = answer_media(ans, 1);
    CHECK_INT(v->n_payloads, 2);
    CHECK_INT(v->payloads[0].pt, 102); /* packetization-mode=1, 42e01f */
    CHECK_INT(v->payloads[1].pt, 103);
    CHECK_STR(v->payloads[1].fmtp, "apt=102");
    CHECK_INT(v->n_formats, 2);
    CHECK_INT(v->payloads[0].n_rtcp_fb, 5);
    const sdp_media *d = answer_media(ans, 2);
    CHECK(d->rejected);
    CHECK_INT(d->port, 0);
    CHECK_STR(d->mid, "2");
    CHECK_INT(ans->n_bundle, 2);
    CHECK_STR(ans->bundle[1], "1");
    check_round_trip(ans);
    sdp_free(ans);

    /* video refused; unknown codec preference falls through to the next */
    sdp_answer_prefs_default(&p);
    p.accept_video = false;
    p.audio_codecs[0] = "G722";
    CHECK_INT(sdp_make_answer(offer, &p, &ans), 0);
    CHECK_INT(ans->media[0].payloads[0].pt, 9);
    CHECK(ans->media[1].rejected);
    CHECK_STR(ans->media[1].formats[0], "96");
    CHECK_INT(ans->media[1].n_payloads, 1);
    CHECK(ans->media[1].payloads[0].encoding == NULL);
    CHECK_INT(ans->n_bundle, 2);
    CHECK_STR(ans->bundle[1], "2");
    char *text = sdp_write_alloc(ans);
    CHECK(has_line(text, "m=video 0 UDP/TLS/RTP/SAVPF 96"));
    CHECK(has_line(text, "a=group:BUNDLE 0 2"));
    free(text);
    sdp_free(ans);

    /* no common codec -> rejected */
    sdp_answer_prefs_default(&p);
    p.video_codecs[0] = "H265";
    CHECK_INT(sdp_make_answer(offer, &p, &ans), 0);
    CHECK(ans->media[1].rejected);
    sdp_free(ans);

    /* VP9 then VP8 order respected */
    sdp_answer_prefs_default(&p);
    p.video_codecs[0] = "VP9";
    p.video_codecs[1] = "VP8";
    CHECK_INT(sdp_make_answer(offer, &p, &ans), 0);
    CHECK_INT(ans->media[1].payloads[0].pt, 98);
    sdp_free(ans);
    sdp_free(offer);
}

static void test_answer_firefox_aiortc(void)
{
    sdp_session *offer = parse(FIREFOX_OFFER);
    sdp_session *ans = NULL;
    CHECK_INT(sdp_make_answer(offer, NULL, &ans), 0);
    CHECK_INT(ans->media[0].payloads[0].pt, 109);
    CHECK_INT(ans->media[0].payloads[0].channels, 2);
    CHECK_INT(ans->media[1].dir, SDP_DIR_SENDONLY); /* offer recvonly */
    CHECK_INT(ans->media[1].payloads[0].pt, 120);
    CHECK_INT(sdp_extmap_id(&ans->media[1], "urn:ietf:params:rtp-hdrext:sdes:mid"), 3);
    CHECK_INT(ans->media[2].sctp_port, 5000);
    sdp_free(ans);
    sdp_answer_prefs p;
    sdp_answer_prefs_default(&p);
    p.video_codecs[0] = "H264";
    p.video_dir = SDP_DIR_RECVONLY; /* we only want to receive; offer only receives */
    CHECK_INT(sdp_make_answer(offer, &p, &ans), 0);
    CHECK_INT(ans->media[1].payloads[0].pt, 126); /* pm=1 beats pm=0 (97) */
    CHECK_INT(ans->media[1].dir, SDP_DIR_INACTIVE);
    sdp_free(ans);
    sdp_free(offer);

    offer = parse(AIORTC_OFFER);
    sdp_strip_transport(offer);
    CHECK_INT(offer->media[0].n_candidates, 0);
    CHECK(!offer->media[0].end_of_candidates);
    p.video_dir = SDP_DIR_NONE;
    CHECK_INT(sdp_make_answer(offer, &p, &ans), 0);
    CHECK_INT(ans->media[0].payloads[0].pt, 96);
    CHECK_INT(ans->media[1].payloads[0].pt, 101); /* 42e01f beats 42001f */
    CHECK(!ans->media[1].rtcp_rsize);
    CHECK_INT(ans->n_bundle, 2);
    sdp_free(ans);
    sdp_free(offer);
}

static void test_transport(void)
{
    sdp_session *s = parse(CHROME_OFFER);
    sdp_strip_transport(s);
    char *text = sdp_write_alloc(s);
    CHECK(!strstr(text, "a=ice-ufrag") && !strstr(text, "a=ice-pwd") &&
          !strstr(text, "a=fingerprint") && !strstr(text, "a=setup") &&
          !strstr(text, "a=ice-options") && !strstr(text, "a=candidate"));
    CHECK(has_line(text, "a=mid:1"));
    free(text);
    sdp_free(s);

    sdp_session *offer = parse(AIORTC_OFFER);
    sdp_answer_prefs p;
    sdp_answer_prefs_default(&p);
    p.accept_video = false;
    sdp_session *ans = NULL;
    CHECK_INT(sdp_make_answer(offer, &p, &ans), 0);
    const char *cands[] = {"a=candidate:1 1 udp 2130706431 127.0.0.1 20000 typ host",
                           "candidate:2 1 udp 2130706175 ::1 20001 typ host\r"};
    CHECK_INT(sdp_set_transport(ans, "abcd", "0123456789abcdefghijkl", "sha-256 " FP_A,
                                "active", cands, 2, true), 0);
    CHECK_INT(sdp_set_ice_options(ans, "trickle"), 0);
    CHECK_STR(ans->media[0].ice_ufrag, "abcd");
    CHECK_STR(ans->media[0].setup, "active");
    CHECK_INT(ans->media[0].n_candidates, 2);
    CHECK_STR(ans->media[0].candidates[0], "candidate:1 1 udp 2130706431 127.0.0.1 20000 typ host");
    CHECK(ans->media[0].end_of_candidates);
    CHECK(ans->media[1].ice_ufrag == NULL && ans->media[1].n_candidates == 0);
    CHECK(ans->media[1].ice_options == NULL);
    text = sdp_write_alloc(ans);
    CHECK(has_line(text, "a=ice-ufrag:abcd"));
    CHECK(has_line(text, "a=candidate:2 1 udp 2130706175 ::1 20001 typ host"));
    CHECK(has_line(text, "a=end-of-candidates"));
    CHECK(has_line(text, "a=ice-options:trickle"));
    CHECK(has_line(text, "a=setup:active"));
    sdp_session *back = parse(text);
    CHECK(back && session_equal(ans, back));
    sdp_transport t;
    CHECK_INT(sdp_media_transport(back, 0, &t), 0);
    CHECK_STR(t.ice_pwd, "0123456789abcdefghijkl");
    CHECK_STR(t.fingerprint, "sha-256 " FP_A);
    sdp_free(back);
    free(text);

    /* re-setting replaces, never accumulates */
    CHECK_INT(sdp_set_transport(ans, "wxyz", "0123456789abcdefghijkl", NULL, NULL, NULL, 0,
                                false), 0);
    CHECK_STR(ans->media[0].ice_ufrag, "wxyz");
    CHECK_INT(ans->media[0].n_candidates, 0);
    CHECK(ans->media[0].fingerprint == NULL);

    /* ssrcs for our outgoing stream */
    sdp_media *m = &ans->media[0];
    CHECK_INT(sdp_add_ssrc(m, 424242, "parley", "janus", "janusa0"), 0);
    CHECK_INT(sdp_add_ssrc(m, 434343, "parley", NULL, NULL), 0);
    const uint32_t fid[2] = {424242, 434343};
    CHECK_INT(sdp_add_ssrc_group(m, "FID", fid, 2), 0);
    CHECK_INT(sdp_add_ssrc(m, 1, "bad cname", NULL, NULL), -1);
    CHECK_INT(sdp_add_ssrc(m, 1, "x\r\na=evil", NULL, NULL), -1);
    CHECK_INT(sdp_add_ssrc_group(m, "FID", fid, 0), -1);
    text = sdp_write_alloc(ans);
    CHECK(has_line(text, "a=ssrc:424242 cname:parley"));
    CHECK(has_line(text, "a=ssrc:424242 msid:janus janusa0"));
    CHECK(has_line(text, "a=msid:janus janusa0"));
    CHECK(has_line(text, "a=ssrc-group:FID 424242 434343"));
    CHECK(has_line(text, "a=ssrc:434343 cname:parley"));
    free(text);
    sdp_session *copy = sdp_clone(ans);
    sdp_clear_ssrcs(&copy->media[0]);
    CHECK_INT(copy->media[0].n_ssrcs, 0);
    CHECK_INT(copy->media[0].n_ssrc_groups, 0);
    text = sdp_write_alloc(copy);
    CHECK(!strstr(text, "a=ssrc") && !strstr(text, "a=msid:"));
    free(text);
    sdp_free(copy);
    check_round_trip(ans);

    /* a line break smuggled into the model makes writing fail */
    CHECK_INT(sdp_set_direction(ans, 0, SDP_DIR_SENDONLY), 0);
    CHECK_INT(sdp_set_direction(ans, 9, SDP_DIR_SENDONLY), -1);
    char *saved = m->mid;
    m->mid = "0\r\na=injected";
    CHECK(sdp_write_alloc(ans) == NULL);
    m->mid = saved;
    sdp_free(ans);
    sdp_free(offer);
}

static void test_candidates(void)
{
    sdp_candidate c;
    CHECK_INT(sdp_candidate_parse("candidate:842163049 1 udp 1677729535 203.0.113.9 46154 typ "
                                  "srflx raddr 0.0.0.0 rport 0 generation 0 ufrag EsAw "
                                  "network-cost 999", &c), 0);
    CHECK_STR(c.foundation, "842163049");
    CHECK_INT(c.component, 1);
    CHECK_STR(c.transport, "udp");
    CHECK_INT(c.priority, 1677729535);
    CHECK_STR(c.address, "203.0.113.9");
    CHECK_INT(c.port, 46154);
    CHECK_INT(c.type, SDP_CAND_SRFLX);
    CHECK(c.has_raddr);
    CHECK_STR(c.raddr, "0.0.0.0");
    char out[300];
    CHECK(sdp_candidate_format(&c, out, sizeof(out)) > 0);
    CHECK_STR(out, "candidate:842163049 1 udp 1677729535 203.0.113.9 46154 typ srflx raddr "
                   "0.0.0.0 rport 0");
    CHECK_INT(sdp_candidate_format(&c, out, 20), -1);

    CHECK_INT(sdp_candidate_parse("a=candidate:0 1 UDP 2122252543 fe80::1:2:3 52403 typ host",
                                  &c), 0);
    CHECK_STR(c.transport, "udp");
    CHECK_STR(c.address, "fe80::1:2:3");
    CHECK_INT(sdp_candidate_parse("candidate:3 1 tcp 1518280447 192.0.2.1 9 typ host tcptype "
                                  "active", &c), 0);
    CHECK_STR(c.tcptype, "active");
    CHECK_INT(sdp_candidate_parse("candidate:4 1 udp 2113937151 "
                                  "0d4f8a7e-1234-5678-9abc-def012345678.local 55555 typ host "
                                  "generation 0", &c), 0);
    CHECK_INT(sdp_candidate_parse("candidate:5 2 udp 16777215 192.0.2.50 3478 typ relay raddr "
                                  "198.51.100.1 rport 60000", &c), 0);
    CHECK_INT(c.type, SDP_CAND_RELAY);
    CHECK_INT(c.component, 2);

    static const char *const bad[] = {
        "",
        "candidate:",
        "foo:1 1 udp 1 1.2.3.4 5 typ host",
        "candidate:1 1 udp 1 1.2.3.4 5 host",                  /* no typ keyword */
        "candidate:1 1 udp 1 1.2.3.4 5 typ",                   /* no type */
        "candidate:1 1 udp 1 1.2.3.4 5 typ local",             /* unknown type */
        "candidate:1 0 udp 1 1.2.3.4 5 typ host",              /* component 0 */
        "candidate:1 257 udp 1 1.2.3.4 5 typ host",            /* component > 256 */
        "candidate:1 1 sctp 1 1.2.3.4 5 typ host",             /* transport */
        "candidate:1 1 udp x 1.2.3.4 5 typ host",              /* priority */
        "candidate:1 1 udp 4294967296 1.2.3.4 5 typ host",     /* priority overflow */
        "candidate:1 1 udp 1 1.2.3.4 65536 typ host",          /* port */
        "candidate:1 1 udp 1 1.2.3.4 -5 typ host",
        "candidate:1 1 udp 1 1.2.3.4;rm 5 typ host",           /* address chars */
        "candidate:123456789012345678901234567890123 1 udp 1 1.2.3.4 5 typ host",
        "candidate:1 1 udp 1 1.2.3.4 5 typ host generation",   /* odd extension */
        "candidate:1 1 udp 1 1.2.3.4 5 typ srflx raddr 1.2.3.4 rport x",
        "candidate:1 1 tcp 1 1.2.3.4 5 typ host tcptype sideways",
        "candidate:1 1 udp 1 1.2.3.4 5 typ host\r\na=x",
        "candidate:1 1 udp 1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = sdp_candidate_parse(bad[i], &c);
        if (r != -1)
            fprintf(stderr, "accepted bad candidate %zu: %s\n", i, bad[i]);
        CHECK_INT(r, -1);
    }
    CHECK_INT(sdp_candidate_parse(NULL, &c), -1);
}

#define MIN_HEAD "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nt=0 0\n"
#define MIN_AUDIO "m=audio 9 UDP/TLS/RTP/SAVPF 111\nc=IN IP4 0.0.0.0\na=mid:0\n" \
                  "a=rtpmap:111 opus/48000/2\n"

static void test_malformed(void)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "\n\n\n",
        "o=- 1 1 IN IP4 127.0.0.1\nv=0\n" MIN_AUDIO,              /* v= not first */
        "v=1\no=- 1 1 IN IP4 127.0.0.1\ns=-\n" MIN_AUDIO,          /* version */
        MIN_HEAD,                                                   /* no m= line */
        MIN_HEAD "a=group:BUNDLE 0\n",                              /* still none */
        "v=0\ns=-\nt=0 0\n" MIN_AUDIO,                              /* no o= */
        "v=0\no=- x 1 IN IP4 1.2.3.4\ns=-\n" MIN_AUDIO,             /* session id */
        "v=0\no=- 1 1 IN IP4\ns=-\n" MIN_AUDIO,                     /* o= fields */
        MIN_HEAD "m=audio 9 UDP/TLS/RTP/SAVPF\n",                   /* no formats */
        MIN_HEAD "m=audio\n",
        MIN_HEAD "m=audio abc UDP/TLS/RTP/SAVPF 111\n",             /* port */
        MIN_HEAD "m=audio 70000 UDP/TLS/RTP/SAVPF 111\n",
        MIN_HEAD "m=audio 9/x UDP/TLS/RTP/SAVPF 111\n",
        MIN_HEAD "m=audio 9 UDP/TLS/RTP/SAVPF 300\n",               /* payload type */
        MIN_HEAD "m=audio 9 UDP/TLS/RTP/SAVPF opus\n",
        MIN_HEAD "m=audio 9 RTP/AVP 0 0\n",                         /* duplicate pt */
        MIN_HEAD MIN_AUDIO "a=rtpmap:111 opus\n",                   /* rtpmap */
        MIN_HEAD "m=audio 9 RTP/AVP 111\na=rtpmap:111 opus/abc\n",
        MIN_HEAD "m=audio 9 RTP/AVP 111\na=rtpmap:111 opus/0\n",
        MIN_HEAD "m=audio 9 RTP/AVP 111\na=rtpmap:111 /48000\n",
        MIN_HEAD MIN_AUDIO "a=extmap:0 urn:x\n",                    /* extmap id */
        MIN_HEAD MIN_AUDIO "a=extmap:256 urn:x\n",
        MIN_HEAD MIN_AUDIO "a=extmap:1 urn:x\na=extmap:1 urn:y\n",
        MIN_HEAD MIN_AUDIO "a=extmap:1/sideways urn:x\n",
        MIN_HEAD MIN_AUDIO "a=extmap:1\n",
        MIN_HEAD MIN_AUDIO "a=ssrc:abc cname:x\n",                  /* ssrc */
        MIN_HEAD MIN_AUDIO "a=ssrc:4294967296 cname:x\n",
        MIN_HEAD MIN_AUDIO "a=ssrc-group:FID\n",
        MIN_HEAD MIN_AUDIO "a=mid:1\n",                             /* second mid */
        MIN_HEAD MIN_AUDIO MIN_AUDIO,                               /* mid reused */
        MIN_HEAD "a=group:BUNDLE 0 1\n" MIN_AUDIO,                  /* unknown bundle mid */
        MIN_HEAD MIN_AUDIO "a=setup:foo\n",
        MIN_HEAD MIN_AUDIO "a=fingerprint:sha-256 XYZ\n",
        MIN_HEAD MIN_AUDIO "a=fingerprint:sha-256\n",
        MIN_HEAD MIN_AUDIO "a=ice-ufrag:bad ufrag\n",
        MIN_HEAD MIN_AUDIO "a=ice-ufrag:abcd\na=ice-ufrag:efgh\n",
        MIN_HEAD MIN_AUDIO "a=sctp-port:0\n",
        MIN_HEAD MIN_AUDIO "a=max-message-size:big\n",
        MIN_HEAD MIN_AUDIO "hello\n",                               /* not x=... */
        MIN_HEAD MIN_AUDIO "A=foo\n",
        MIN_HEAD MIN_AUDIO "=foo\n",
        MIN_HEAD MIN_AUDIO "a=:x\n",                                /* empty attr name */
        MIN_HEAD MIN_AUDIO "o=- 1 1 IN IP4 1.2.3.4\n",              /* o= in media */
        MIN_HEAD MIN_AUDIO "v=0\n",
        MIN_HEAD MIN_AUDIO "c=IN IP4 1.2.3.4\n",                    /* second c= */
        "v=0\no=- 1 1 IN IP4 127.0.0.1\no=- 2 2 IN IP4 127.0.0.1\n" MIN_AUDIO,
        MIN_HEAD "a=ice-pwd:\n" MIN_AUDIO,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sdp_session *s = parse(bad[i]);
        if (s)
            fprintf(stderr, "accepted bad SDP #%zu\n", i);
        CHECK(s == NULL);
        sdp_free(s);
    }
    /* the minimal good one is accepted, so the table tests what it says */
    sdp_session *ok = parse(MIN_HEAD MIN_AUDIO);
    CHECK(ok != NULL);
    sdp_free(ok);

    /* embedded NUL */
    const char nul[] = MIN_HEAD "m=audio 9 RTP/AVP 0\0\n";
    CHECK(parse_n(nul, sizeof(nul) - 1) == NULL);

    /* sizes */
    size_t big = SDP_MAX_TEXT + 1;
    char *huge = malloc(big + 1);
    memset(huge, 'x', big);
    memcpy(huge, MIN_HEAD MIN_AUDIO "a=x:", strlen(MIN_HEAD MIN_AUDIO "a=x:"));
    huge[big] = '\0';
    CHECK(parse_n(huge, big) == NULL);
    CHECK(strstr(errbuf, "larger") != NULL);
    /* one line longer than SDP_MAX_LINE inside the size limit */
    CHECK(parse_n(huge, SDP_MAX_LINE * 2) == NULL);
    free(huge);

    char *many = malloc(SDP_MAX_TEXT);
    size_t n = (size_t)snprintf(many, SDP_MAX_TEXT, "%s", MIN_HEAD);
    for (unsigned i = 0; i <= SDP_MAX_MEDIA; i++)
        n += (size_t)snprintf(many + n, SDP_MAX_TEXT - n, "m=audio 9 RTP/AVP 0\na=mid:m%u\n", i);
    CHECK(parse_n(many, n) == NULL);
    CHECK(strstr(errbuf, "m= lines") != NULL);

    n = (size_t)snprintf(many, SDP_MAX_TEXT, "%s%s", MIN_HEAD, MIN_AUDIO);
    for (unsigned i = 0; i <= SDP_MAX_CANDIDATES; i++)
        n += (size_t)snprintf(many + n, SDP_MAX_TEXT - n,
                              "a=candidate:%u 1 udp 1 10.0.0.1 %u typ host\n", i, 1000 + i);
    CHECK(parse_n(many, n) == NULL);
    free(many);
}

static void test_lenient(void)
{
    /* unknown attributes, other line types, rtcp-fb wildcard, attributes of a pt that is
     * not in m=, blank lines, no trailing newline: all accepted and written back */
    const char *text = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\ni=info\r\nb=AS:30\r\nt=0 0\r\n"
                       "a=ice-lite\r\na=x-custom:1 2 3\r\n\r\n"
                       "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nb=TIAS:500000\r\n"
                       "a=rtcp-fb:* nack\r\na=fmtp:100 apt=96\r\na=x-google-flag:conference\r\n"
                       "a=rtpmap:96 VP8/90000\r\na=msid:a b\r\na=msid:c d\r\n"
                       "a=fingerprint:sha-1 AA:BB:CC:DD\r\na=fingerprint:sha-256 " FP_A
                       "\r\na=bundle-only\r\nm=audio 0 RTP/AVP 0";
    sdp_session *s = parse(text);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "lenient: %s\n", errbuf);
        return;
    }
    CHECK(s->ice_lite);
    CHECK_INT(s->n_attrs, 3); /* i=, b=, a=x-custom */
    sdp_media *v = &s->media[0];
    CHECK(v->bundle_only && !v->rejected);
    CHECK(s->media[1].rejected);
    CHECK_STR(v->fingerprint, "sha-1 AA:BB:CC:DD");
    CHECK_STR(v->msid, "a b");
    sdp_session *c = sdp_clone(s);
    CHECK(c != NULL);
    if (c) {
        sdp_clear_ssrcs(&c->media[0]);
        CHECK(c->media[0].msid == NULL);
        CHECK_INT(c->media[0].n_attrs, 5); /* the second a=msid went too */
        char *t = sdp_write_alloc(c);
        CHECK(t && !strstr(t, "a=msid:"));
        free(t);
        sdp_free(c);
    }
    CHECK_INT(v->n_attrs, 6); /* b=, rtcp-fb:*, fmtp:100, x-google-flag, 2nd msid, 2nd fp */
    char *out = sdp_write_alloc(s);
    CHECK(has_line(out, "i=info"));
    CHECK(has_line(out, "b=AS:30"));
    CHECK(has_line(out, "b=TIAS:500000"));
    CHECK(has_line(out, "a=x-custom:1 2 3"));
    CHECK(has_line(out, "a=rtcp-fb:* nack"));
    CHECK(has_line(out, "a=fmtp:100 apt=96"));
    CHECK(has_line(out, "a=x-google-flag:conference"));
    CHECK(has_line(out, "a=msid:c d"));
    CHECK(has_line(out, "a=bundle-only"));
    CHECK(has_line(out, "a=ice-lite"));
    /* RFC 8866 order: i= before t=, b= after c= */
    CHECK(strstr(out, "i=info") < strstr(out, "t=0 0"));
    free(out);
    check_round_trip(s);
    /* strip also drops the verbatim second fingerprint, or a re-parse would promote it */
    sdp_strip_transport(s);
    CHECK_INT(v->n_attrs, 5);
    CHECK(v->fingerprint == NULL);
    check_round_trip(s);
    int8_t map[128];
    sdp_pt_map(s, map);
    CHECK_INT(map[96], 0);
    CHECK_INT(map[0], -1); /* rejected m-line */
    sdp_free(s);

    /* a malformed candidate is kept verbatim, out of the candidate list */
    s = parse(MIN_HEAD MIN_AUDIO "a=candidate:1 1 udp 1 1.2.3.4 99999 typ host\n"
              "a=candidate:2 1 udp 1 1.2.3.4 9 typ host\n");
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(s->media[0].n_candidates, 1);
        CHECK_INT(s->media[0].n_attrs, 1);
        CHECK_STR(s->media[0].attrs[0].value, "1 1 udp 1 1.2.3.4 99999 typ host");
        check_round_trip(s);
        sdp_strip_transport(s);
        CHECK_INT(s->media[0].n_attrs, 0);
        sdp_free(s);
    }

    /* a payload type shared by two m-lines is ambiguous for demux */
    s = parse(MIN_HEAD "m=audio 9 RTP/AVP 0\na=mid:a\nm=audio 9 RTP/AVP 0 8\na=mid:b\n");
    CHECK(s != NULL);
    if (s) {
        sdp_pt_map(s, map);
        CHECK_INT(map[0], -2);
        CHECK_INT(map[8], 1);
        sdp_free(s);
    }
}

int main(void)
{
    test_chrome_parse();
    test_firefox_parse();
    test_aiortc_parse();
    test_answer_chrome_default();
    test_answer_prefs();
    test_answer_firefox_aiortc();
    test_transport();
    test_candidates();
    test_malformed();
    test_lenient();
    return check_summary("test_sdp");
}
