/*
 * tone.c: see tone.h. Mono 48 kHz throughout: the decoder downmixes whatever the sender
 * encoded, the encoder writes mono packets (every Opus decoder plays them). The tone fades
 * in and out over 5 ms so it does not click, and is mixed at about a third of full scale.
 */
#include "tone.h"

#include <math.h>
#include <opus.h>
#include <stdlib.h>
#include <string.h>

#define RATE 48000
#define MAX_FRAME 5760          /* 120 ms at 48 kHz: the longest Opus frame */
#define AMPLITUDE 10000.0
#define FADE_SAMPLES 240        /* 5 ms */
#define BEEP_MS 250
#define BITRATE 40000

struct vc_tone {
    OpusDecoder *dec;
    OpusEncoder *enc;
    double step;                /* phase step per sample */
    double phase;
    uint32_t played, total;     /* samples */
    uint32_t beep;              /* samples per beep and per pause */
    opus_int16 pcm[MAX_FRAME];
    uint8_t out[1275];          /* the largest Opus packet */
};

vc_tone *vc_tone_new(uint32_t hz, uint32_t duration_ms)
{
    vc_tone *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    int err1 = 0, err2 = 0;
    t->dec = opus_decoder_create(RATE, 1, &err1);
    t->enc = opus_encoder_create(RATE, 1, OPUS_APPLICATION_AUDIO, &err2);
    if (err1 != OPUS_OK || err2 != OPUS_OK || !t->dec || !t->enc) {
        vc_tone_free(t);
        return NULL;
    }
    opus_encoder_ctl(t->enc, OPUS_SET_BITRATE(BITRATE));
    opus_encoder_ctl(t->enc, OPUS_SET_COMPLEXITY(5));
    t->step = 2.0 * M_PI * hz / RATE;
    t->total = duration_ms * (RATE / 1000);
    t->beep = BEEP_MS * (RATE / 1000);
    return t;
}

void vc_tone_free(vc_tone *t)
{
    if (!t)
        return;
    if (t->dec)
        opus_decoder_destroy(t->dec);
    if (t->enc)
        opus_encoder_destroy(t->enc);
    free(t);
}

/* The tone's sample at position i of the whole tone (0 in the pauses between beeps). */
static double tone_gain(const vc_tone *t, uint32_t i)
{
    uint32_t in_beep = i % (2 * t->beep);
    if (in_beep >= t->beep)
        return 0.0;
    double g = 1.0;
    if (in_beep < FADE_SAMPLES)
        g = (double)in_beep / FADE_SAMPLES;
    else if (t->beep - in_beep < FADE_SAMPLES)
        g = (double)(t->beep - in_beep) / FADE_SAMPLES;
    return g;
}

static opus_int16 clamp16(double v) { return (opus_int16)(v > 32767 ? 32767 : v < -32768 ? -32768 : v); }

/* Offset of the RTP payload, or 0 when the packet is not one we can rewrite. */
static size_t payload_offset(const uint8_t *buf, size_t len)
{
    if (len < 12 || (buf[0] >> 6) != 2 || (buf[0] & 0x20))   /* version 2, no padding */
        return 0;
    size_t off = 12 + 4u * (buf[0] & 0x0f);
    if (buf[0] & 0x10) {
        if (off + 4 > len)
            return 0;
        off += 4 + 4u * (size_t)(buf[off + 2] << 8 | buf[off + 3]);
    }
    return off < len ? off : 0;
}

size_t vc_tone_mix(vc_tone *t, uint8_t *buf, size_t len, size_t cap, bool *done)
{
    *done = t->played >= t->total;
    size_t off = payload_offset(buf, len);
    if (*done || !off)
        return len;
    int n = opus_decode(t->dec, buf + off, (opus_int32)(len - off), t->pcm, MAX_FRAME, 0);
    if (n <= 0)
        return len;
    for (int i = 0; i < n; i++) {
        uint32_t at = t->played + (uint32_t)i;
        double tone = at < t->total ? AMPLITUDE * tone_gain(t, at) * sin(t->phase) : 0.0;
        t->phase += t->step;
        t->pcm[i] = clamp16(t->pcm[i] + tone);
    }
    if (t->phase > 2.0 * M_PI * 1000.0)
        t->phase = fmod(t->phase, 2.0 * M_PI);
    t->played += (uint32_t)n;
    *done = t->played >= t->total;
    size_t room = cap - off < sizeof t->out ? cap - off : sizeof t->out;
    int out = opus_encode(t->enc, t->pcm, n, t->out, (opus_int32)room);   /* Opus keeps within room */
    if (out <= 0)
        return len;
    memcpy(buf + off, t->out, (size_t)out);
    return off + (size_t)out;
}
