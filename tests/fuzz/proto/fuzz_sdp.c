/*
 * fuzz_sdp: sdp_parse on arbitrary bytes, and on what parses: write -> parse must succeed and
 * writing must be a fixpoint; answers (default and with every option) must build and write;
 * strip/set transport, lookups and the candidate parser must hold up. Invariant breaks
 * abort() so libFuzzer reports them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reparse(const sdp_session *s)
{
    char *t1 = sdp_write_alloc(s);
    if (!t1)
        return; /* e.g. LF input that grows past the limit with CRLF */
    sdp_session *s2 = NULL;
    if (sdp_parse(t1, strlen(t1), &s2, NULL, 0) != 0)
        abort();
    char *t2 = sdp_write_alloc(s2);
    if (!t2 || strcmp(t1, t2) != 0)
        abort();
    free(t2);
    sdp_free(s2);
    free(t1);
}

static void exercise_answer(const sdp_session *offer, const sdp_answer_prefs *p)
{
    sdp_session *ans = NULL;
    if (sdp_make_answer(offer, p, &ans) != 0)
        abort(); /* any parsed offer can be answered (maybe all rejected) */
    if (ans->n_media != offer->n_media)
        abort();
    const char *cands[1] = {"candidate:1 1 udp 2130706431 127.0.0.1 20000 typ host"};
    if (sdp_set_transport(ans, "abcd", "0123456789abcdefghijkl", "sha-256 AA:BB", "active",
                          cands, 1, true) != 0)
        abort();
    if (ans->n_media > 0)
        sdp_add_ssrc(&ans->media[0], 1234, "cname", "stream", "track");
    if (sdp_set_ice_options(ans, "trickle") != 0)
        abort();
    check_reparse(ans);
    sdp_session *copy = sdp_clone(ans);
    if (copy) {
        for (size_t i = 0; i < copy->n_media; i++)
            sdp_clear_ssrcs(&copy->media[i]);
        check_reparse(copy);
        sdp_free(copy);
    }
    sdp_free(ans);
}

/* The input as one trickled candidate (what the Janus API hands the core). */
static void check_candidate(const uint8_t *data, size_t size)
{
    if (size > SDP_MAX_LINE + 1)
        return;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    sdp_candidate c, c2;
    char out[600];
    if (sdp_candidate_parse(text, &c) == 0) {
        if (sdp_candidate_format(&c, out, sizeof(out)) < 0 || sdp_candidate_parse(out, &c2) != 0 ||
            strcmp(c.address, c2.address) != 0 || c.port != c2.port || c.type != c2.type ||
            c.priority != c2.priority)
            abort();
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_candidate(data, size);
    sdp_session *s = NULL;
    char err[128];
    if (sdp_parse((const char *)data, size, &s, err, sizeof(err)) != 0) {
        if (s)
            abort();
        return 0;
    }
    check_reparse(s);

    int8_t map[128];
    sdp_pt_map(s, map);
    for (size_t i = 0; i < s->n_media; i++) {
        sdp_transport t;
        if (sdp_media_transport(s, i, &t) != 0)
            abort();
        const sdp_media *m = &s->media[i];
        for (size_t j = 0; j < m->n_payloads; j++)
            (void)sdp_media_rtx_pt(m, m->payloads[j].pt);
        for (size_t j = 0; j < m->n_candidates; j++) {
            sdp_candidate c;
            char out[600];
            if (sdp_candidate_parse(m->candidates[j], &c) != 0)
                abort(); /* the SDP parser only keeps valid candidates */
            if (sdp_candidate_format(&c, out, sizeof(out)) < 0)
                abort();
            sdp_candidate c2;
            if (sdp_candidate_parse(out, &c2) != 0)
                abort();
        }
        if (m->mid && sdp_media_by_mid(s, m->mid) != m)
            abort();
    }

    sdp_answer_prefs p;
    sdp_answer_prefs_default(&p);
    exercise_answer(s, &p);
    p.allow_rtx = p.allow_twcc = true;
    p.video_codecs[0] = "H264";
    p.video_codecs[1] = "AV1";
    p.audio_codecs[0] = "PCMU";
    p.audio_dir = SDP_DIR_SENDONLY;
    p.accept_data = false;
    exercise_answer(s, &p);

    sdp_strip_transport(s);
    check_reparse(s);
    sdp_free(s);
    return 0;
}
