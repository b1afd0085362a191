/*
 * test_tone.c: the low-balance tone mixed into Opus RTP packets (plugins/calls/tone.c): the
 * mixed packets decode to the original audio plus a 1500 Hz tone (Goertzel power at 1500 Hz
 * far above the original's, the original's own 440 Hz still there), never grow, keep their
 * RTP header; after the tone's duration packets pass unchanged; packets it cannot mix
 * (padding, garbage payload) pass unchanged.
 */
#include <math.h>
#include <opus.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tone.h"

#define RATE 48000
#define FRAME 960

/* Power of frequency hz in pcm (Goertzel). */
static double power_at(const opus_int16 *pcm, int n, double hz)
{
    double k = 2.0 * cos(2.0 * M_PI * hz / RATE), s1 = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        double s0 = pcm[i] + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    return (s1 * s1 + s2 * s2 - k * s1 * s2) / n;
}

/* An RTP packet (12-byte header, plus a one-word extension when ext) carrying 20 ms of a
 * 440 Hz sine encoded by enc. Returns its length. */
static size_t make_packet(OpusEncoder *enc, int seq, bool ext, uint8_t *buf, size_t cap)
{
    static double phase;
    opus_int16 pcm[FRAME];
    for (int i = 0; i < FRAME; i++) {
        pcm[i] = (opus_int16)(6000 * sin(phase));
        phase += 2.0 * M_PI * 440.0 / RATE;
    }
    size_t off = 12;
    memset(buf, 0, 16);
    buf[0] = 0x80 | (ext ? 0x10 : 0);
    buf[1] = 111;
    buf[2] = (uint8_t)(seq >> 8);
    buf[3] = (uint8_t)seq;
    buf[8] = 0xab;
    if (ext) {
        buf[12] = 0xbe, buf[13] = 0xde, buf[14] = 0, buf[15] = 1;
        buf[16] = 0x10, buf[17] = 0x7f, buf[18] = 0, buf[19] = 0;
        off = 20;
    }
    int n = opus_encode(enc, pcm, FRAME, buf + off, (opus_int32)(cap - off));
    CHECK(n > 0);
    return off + (size_t)(n > 0 ? n : 0);
}

int main(void)
{
    int err;
    OpusEncoder *enc = opus_encoder_create(RATE, 1, OPUS_APPLICATION_VOIP, &err);
    OpusDecoder *dec = opus_decoder_create(RATE, 1, &err);
    opus_encoder_ctl(enc, OPUS_SET_BITRATE(32000));
    vc_tone *t = vc_tone_new(1500, 500);
    CHECK(t != NULL);
    double tone_power = 0, plain_power = 0, kept_440 = 0;
    int mixed = 0, after = 0;
    for (int seq = 0; seq < 60; seq++) {
        uint8_t buf[1500], orig[1500];
        bool ext = seq % 2 == 1;
        size_t len = make_packet(enc, seq, ext, buf, sizeof buf);
        memcpy(orig, buf, len);
        bool done = false;
        size_t out = vc_tone_mix(t, buf, len, len, &done);
        CHECK(out <= len);
        size_t off = ext ? 20 : 12;
        CHECK(memcmp(buf, orig, off) == 0);   /* header and extension kept */
        opus_int16 pcm[5760];
        int n = opus_decode(dec, buf + off, (opus_int32)(out - off), pcm, 5760, 0);
        CHECK_INT(n, FRAME);
        if (seq >= 2 && seq < 12) {   /* inside the first 250 ms beep */
            tone_power += power_at(pcm, n, 1500);
            kept_440 += power_at(pcm, n, 440);
            mixed++;
        }
        if (seq >= 30) {   /* the tone (500 ms) is over: passed as is */
            CHECK(done);
            CHECK_INT(out, len);
            CHECK(memcmp(buf, orig, len) == 0);
            plain_power += power_at(pcm, n, 1500);
            after++;
        }
    }
    tone_power /= mixed;
    plain_power /= after;
    kept_440 /= mixed;
    printf("tone: power at 1500 Hz %.0f while mixed, %.0f after; 440 Hz kept at %.0f\n", tone_power, plain_power,
           kept_440);
    CHECK(tone_power > 100.0 * (plain_power + 1.0));
    CHECK(kept_440 > 1e5);

    /* what cannot be mixed passes unchanged */
    vc_tone *u = vc_tone_new(1500, 500);
    uint8_t pad[64] = {0xa0, 111};   /* padding bit set */
    bool done;
    CHECK_INT(vc_tone_mix(u, pad, sizeof pad, sizeof pad, &done), sizeof pad);
    uint8_t junk[40] = {0x80, 111};
    memset(junk + 12, 0xff, 28);
    uint8_t copy[40];
    memcpy(copy, junk, sizeof junk);
    CHECK_INT(vc_tone_mix(u, junk, sizeof junk, sizeof junk, &done), sizeof junk);
    CHECK(memcmp(junk, copy, sizeof junk) == 0);
    uint8_t tiny[8] = {0x80};
    CHECK_INT(vc_tone_mix(u, tiny, sizeof tiny, sizeof tiny, &done), sizeof tiny);
    vc_tone_free(u);
    vc_tone_free(t);
    opus_encoder_destroy(enc);
    opus_decoder_destroy(dec);
    return check_summary("plugins-calls-tone");
}
