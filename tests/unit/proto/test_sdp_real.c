/*
 * test_sdp_real: offers captured from the real clients on this machine (headless Chromium
 * 156 via playwright-core, and Debian's aiortc 1.4), kept in the fuzz seed corpus
 * (tests/fuzz/proto/corpus_sdp/). Checks what the core and plugins rely on, and the answers
 * the default and H264 preferences produce.
 */
#include <stdlib.h>

#include "check.h"
#include "proto/sdp.h"

static char *read_file(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", SDP_CORPUS_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(SDP_MAX_TEXT);
    *len = fread(buf, 1, SDP_MAX_TEXT, f);
    fclose(f);
    return buf;
}

static sdp_session *load(const char *name)
{
    size_t len = 0;
    char *text = read_file(name, &len);
    CHECK(text != NULL);
    if (!text)
        return NULL;
    char err[200];
    sdp_session *s = NULL;
    if (sdp_parse(text, len, &s, err, sizeof(err)) != 0)
        fprintf(stderr, "%s: %s\n", name, err);
    free(text);
    CHECK(s != NULL);
    return s;
}

static const char *fb_list(const sdp_payload *p, size_t i)
{
    return i < p->n_rtcp_fb ? p->rtcp_fb[i] : "";
}

static void test_chromium(void)
{
    sdp_session *s = load("chromium156_offer.sdp");
    if (!s)
        return;
    CHECK_INT(s->n_media, 3);
    CHECK_INT(s->n_bundle, 3);
    const sdp_media *v = &s->media[1];
    CHECK_INT(v->n_payloads, 23);
    CHECK_INT(v->n_candidates, 2);
    sdp_candidate c;
    CHECK_INT(sdp_candidate_parse(v->candidates[0], &c), 0);
    CHECK(strstr(c.address, ".local") != NULL); /* mDNS host name */
    CHECK_INT(sdp_media_rtx_pt(v, 108), 109);
    sdp_transport t;
    CHECK_INT(sdp_media_transport(s, 2, &t), 0);
    CHECK_STR(t.ice_ufrag, "IeL5");
    CHECK_STR(t.setup, "actpass");

    sdp_strip_transport(s);
    sdp_session *a = NULL;
    CHECK_INT(sdp_make_answer(s, NULL, &a), 0);
    CHECK_INT(a->media[0].payloads[0].pt, 111);
    CHECK_INT(a->media[1].payloads[0].pt, 96);
    CHECK_STR(fb_list(&a->media[1].payloads[0], 0), "goog-remb");
    CHECK_INT(a->media[2].sctp_port, 5000);
    CHECK_INT(a->n_bundle, 3);
    sdp_free(a);

    sdp_answer_prefs p;
    sdp_answer_prefs_default(&p);
    p.video_codecs[0] = "H264";
    p.allow_rtx = true;
    CHECK_INT(sdp_make_answer(s, &p, &a), 0);
    CHECK_INT(a->media[1].n_payloads, 2);
    CHECK_INT(a->media[1].payloads[0].pt, 108); /* packetization-mode=1, 42e01f */
    CHECK_INT(a->media[1].payloads[1].pt, 109);
    sdp_free(a);
    p.video_codecs[0] = "VP9";
    CHECK_INT(sdp_make_answer(s, &p, &a), 0);
    CHECK_INT(a->media[1].payloads[0].pt, 98); /* profile-id=0 over profile-id=2 (100) */
    sdp_free(a);
    sdp_free(s);
}

static void test_aiortc(void)
{
    sdp_session *s = load("aiortc14_offer.sdp");
    if (!s)
        return;
    CHECK_INT(s->n_media, 3);
    /* one ICE ufrag per m-line before bundling: each m-line's own is used */
    sdp_transport t;
    CHECK_INT(sdp_media_transport(s, 1, &t), 0);
    CHECK_STR(t.ice_ufrag, "Ueje");
    const sdp_media *d = &s->media[2];
    CHECK_STR(d->proto, "DTLS/SCTP");
    CHECK_STR(d->formats[0], "5000");
    CHECK_INT(d->max_message_size, 65536);

    sdp_strip_transport(s);
    sdp_session *a = NULL;
    CHECK_INT(sdp_make_answer(s, NULL, &a), 0);
    /* id 2 means audio-level in audio and abs-send-time in video: answered in neither */
    for (size_t i = 0; i < 2; i++) {
        CHECK_INT(sdp_extmap_id(&a->media[i], "urn:ietf:params:rtp-hdrext:sdes:mid"), 1);
        for (size_t e = 0; e < a->media[i].n_extmaps; e++)
            CHECK(a->media[i].extmaps[e].id != 2);
    }
    /* the legacy data m-line is answered in kind */
    const sdp_media *ad = &a->media[2];
    CHECK(!ad->rejected);
    CHECK_STR(ad->proto, "DTLS/SCTP");
    CHECK_STR(ad->formats[0], "5000");
    char *text = sdp_write_alloc(a);
    CHECK(text && strstr(text, "a=sctpmap:5000 webrtc-datachannel 65535\r\n"));
    free(text);
    CHECK_INT(a->n_bundle, 3);
    sdp_free(a);

    sdp_answer_prefs p;
    sdp_answer_prefs_default(&p);
    p.video_codecs[0] = "H264";
    CHECK_INT(sdp_make_answer(s, &p, &a), 0);
    CHECK_INT(a->media[1].payloads[0].pt, 101); /* 42e01f over 42001f (99) */
    sdp_free(a);
    sdp_free(s);
}

int main(void)
{
    test_chromium();
    test_aiortc();
    return check_summary("test_sdp_real");
}
