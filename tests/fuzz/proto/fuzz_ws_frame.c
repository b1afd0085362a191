/*
 * fuzz_ws_frame: the WebSocket frame decoder under random input and random chunking.
 *
 * The first byte picks a max message size and a chunking seed; the rest is the byte stream.
 * The stream is decoded twice, whole and in pseudo-random chunks, and the two event
 * sequences must match (a differential check that catches state kept wrongly across
 * chunks). The handshake helpers get the same bytes as a key and a protocol list.
 */
#include "proto/ws_frame.h"

#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 64

typedef struct trace {
    int n;
    uint8_t type[MAX_EVENTS];
    uint16_t code[MAX_EVENTS];
    size_t len[MAX_EVENTS];
    uint32_t sum[MAX_EVENTS];
} trace;

static uint32_t checksum(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void decode(const uint8_t *data, size_t len, size_t max, uint32_t seed, trace *t)
{
    ws_decoder d;
    ws_decoder_init(&d, max);
    memset(t, 0, sizeof *t);
    size_t pos = 0;
    while (pos < len && t->n < MAX_EVENTS) {
        size_t chunk = len - pos;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            size_t c = 1 + (seed >> 16) % 17;
            chunk = c < chunk ? c : chunk;
        }
        const uint8_t *p = data + pos;
        pos += chunk;
        for (;;) {
            ws_event ev;
            size_t used = ws_decoder_feed(&d, p, chunk, &ev);
            if (used > chunk)
                __builtin_trap();
            p += used;
            chunk -= used;
            if (ev.type == WS_EV_NONE)
                break;
            int i = t->n++;
            t->type[i] = (uint8_t)ev.type;
            t->code[i] = ev.close_code;
            t->len[i] = ev.len;
            t->sum[i] = ev.len ? checksum(ev.payload, ev.len) : 0;
            if (ev.type == WS_EV_TEXT && !ws_utf8_valid(ev.payload, ev.len))
                __builtin_trap();
            if (ev.type == WS_EV_ERROR || t->n == MAX_EVENTS) {
                pos = len;
                break;
            }
        }
    }
    ws_decoder_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = (size_t)(data[0] & 0x0F) * 64 + 1;
    uint32_t seed = data[0] | 1u;
    trace whole, chunked;
    decode(data + 1, size - 1, max, 0, &whole);
    decode(data + 1, size - 1, max, seed, &chunked);
    if (whole.n != chunked.n)
        __builtin_trap();
    for (int i = 0; i < whole.n; i++)
        if (whole.type[i] != chunked.type[i] || whole.code[i] != chunked.code[i] ||
            whole.len[i] != chunked.len[i] || whole.sum[i] != chunked.sum[i])
            __builtin_trap();

    char text[64];
    size_t n = size - 1 < sizeof text - 1 ? size - 1 : sizeof text - 1;
    memcpy(text, data + 1, n);
    text[n] = '\0';
    char accept[29];
    (void)ws_handshake_accept(text, accept);
    ws_handshake_request rq = {"GET", "websocket", "Upgrade", "13", text, text};
    bool echo;
    (void)ws_handshake_check(&rq, "janus-protocol", &echo);
    uint8_t frame[127];
    (void)ws_frame_encode_close(frame, 1000, text);
    return 0;
}
