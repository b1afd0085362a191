/*
 * test_ws_frame: the sans-IO WebSocket framing. Every input is fed three ways (whole, byte by
 * byte, and in uneven chunks) and must give the same events; every error path is hit.
 */
#include "check.h"
#include "proto/ws_frame.h"

#include <stdlib.h>

/* Builds a masked client frame into out; returns its size. */
static size_t client_frame(uint8_t *out, uint8_t b0, const void *payload, size_t len,
                           int len_form)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t off = 0;
    out[off++] = b0;
    if (len_form == 0 && len < 126) {
        out[off++] = (uint8_t)(0x80 | len);
    } else if (len_form <= 16) {
        out[off++] = 0x80 | 126;
        out[off++] = (uint8_t)(len >> 8);
        out[off++] = (uint8_t)len;
    } else {
        out[off++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[off++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(out + off, mask, 4);
    off += 4;
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        out[off + i] = p[i] ^ mask[i & 3];
    return off + len;
}

#define MAX_EVENTS 16
typedef struct result {
    int n;
    ws_event_type type[MAX_EVENTS];
    uint16_t code[MAX_EVENTS];
    char data[MAX_EVENTS][300];
    size_t len[MAX_EVENTS];
} result;

/* Feeds buf in chunks of `chunk` bytes (0 = all at once), collecting events. */
static void run(const uint8_t *buf, size_t len, size_t chunk, size_t max, result *r)
{
    ws_decoder d;
    ws_decoder_init(&d, max);
    memset(r, 0, sizeof *r);
    size_t pos = 0;
    while (pos < len && r->n < MAX_EVENTS) {
        size_t n = chunk ? (len - pos < chunk ? len - pos : chunk) : len - pos;
        const uint8_t *p = buf + pos;
        pos += n;
        for (;;) {
            ws_event ev;
            size_t used = ws_decoder_feed(&d, p, n, &ev);
            p += used;
            n -= used;
            if (ev.type == WS_EV_NONE)
                break;
            int i = r->n++;
            r->type[i] = ev.type;
            r->code[i] = ev.close_code;
            r->len[i] = ev.len;
            if (ev.len)
                memcpy(r->data[i], ev.payload, ev.len < 299 ? ev.len : 299);
            if (ev.type == WS_EV_ERROR || r->n == MAX_EVENTS)
                goto done;
        }
    }
done:
    ws_decoder_free(&d);
}

/* Runs all three chunkings and checks they agree; returns the whole-buffer result. */
static void run_all(const uint8_t *buf, size_t len, size_t max, result *r)
{
    result a, b;
    run(buf, len, 0, max, r);
    run(buf, len, 1, max, &a);
    run(buf, len, 7, max, &b);
    CHECK_INT(a.n, r->n);
    CHECK_INT(b.n, r->n);
    for (int i = 0; i < r->n; i++) {
        CHECK_INT(a.type[i], r->type[i]);
        CHECK_INT(b.type[i], r->type[i]);
        CHECK_INT(a.len[i], r->len[i]);
        CHECK_INT(a.code[i], r->code[i]);
        CHECK(memcmp(a.data[i], r->data[i], r->len[i] < 299 ? r->len[i] : 299) == 0);
        CHECK(memcmp(b.data[i], r->data[i], r->len[i] < 299 ? r->len[i] : 299) == 0);
    }
}

static void test_accept(void)
{
    char out[29];
    /* RFC 6455 section 1.3 example. */
    CHECK_INT(ws_handshake_accept("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK_INT(ws_handshake_accept("dGhlIHNhbXBsZSBub25jZQ=", out), -1);
    CHECK_INT(ws_handshake_accept("dGhlIHNhbXBsZSBub25jZQ!=", out), -1);
    CHECK_INT(ws_handshake_accept("dGhlIHNhbXBsZSBub25jZR==", out), -1); /* non-canonical */
    CHECK_INT(ws_handshake_accept(NULL, out), -1);
}

static void test_handshake(void)
{
    ws_handshake_request rq = {"GET", "websocket", "keep-alive, Upgrade", "13",
                               "dGhlIHNhbXBsZSBub25jZQ==", "janus-protocol"};
    bool echo;
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_OK);
    CHECK(echo);
    rq.protocols = "foo, Janus-Protocol";
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_OK);
    CHECK(echo);
    rq.protocols = NULL;
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_OK);
    CHECK(!echo);
    rq.protocols = "chat, superchat";
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_BAD_PROTOCOL);
    rq.protocols = "janus-protocolx";
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_BAD_PROTOCOL);
    rq.protocols = NULL;
    rq.version = "8";
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_BAD_VERSION);
    rq.version = "13";
    rq.key = "short";
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_BAD_KEY);
    rq.key = "dGhlIHNhbXBsZSBub25jZQ==";
    rq.connection = "keep-alive";
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_NOT_UPGRADE);
    rq.connection = "Upgrade";
    rq.upgrade = NULL;
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_NOT_UPGRADE);
    rq.upgrade = "WebSocket";
    rq.method = "POST";
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_NOT_GET);
    rq.method = "GET";
    CHECK_INT(ws_handshake_check(&rq, "janus-protocol", &echo), WS_HS_OK);
    CHECK(ws_header_has_token(" a ,b,  c ", "c"));
    CHECK(!ws_header_has_token("abc", "ab"));
    CHECK(strcmp(ws_handshake_status_text(WS_HS_BAD_KEY), "ok") != 0);
}

static void test_simple_messages(void)
{
    uint8_t buf[2048];
    size_t n = client_frame(buf, 0x81, "Hello", 5, 0);
    n += client_frame(buf + n, 0x82, "\x00\x01\x02", 3, 0);
    n += client_frame(buf + n, 0x89, "hb", 2, 0);
    n += client_frame(buf + n, 0x8A, "", 0, 0);
    n += client_frame(buf + n, 0x81, "", 0, 0);
    result r;
    run_all(buf, n, 1024, &r);
    CHECK_INT(r.n, 5);
    CHECK_INT(r.type[0], WS_EV_TEXT);
    CHECK_INT(r.len[0], 5);
    CHECK(memcmp(r.data[0], "Hello", 5) == 0);
    CHECK_INT(r.type[1], WS_EV_BINARY);
    CHECK_INT(r.len[1], 3);
    CHECK(memcmp(r.data[1], "\x00\x01\x02", 3) == 0);
    CHECK_INT(r.type[2], WS_EV_PING);
    CHECK(memcmp(r.data[2], "hb", 2) == 0);
    CHECK_INT(r.type[3], WS_EV_PONG);
    CHECK_INT(r.len[3], 0);
    CHECK_INT(r.type[4], WS_EV_TEXT);
    CHECK_INT(r.len[4], 0);
}

static void test_lengths(void)
{
    static uint8_t payload[70000], buf[70100];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    size_t n = client_frame(buf, 0x81, payload, 200, 16);
    result r;
    run_all(buf, n, 100000, &r);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.type[0], WS_EV_TEXT);
    CHECK_INT(r.len[0], 200);
    CHECK(memcmp(r.data[0], payload, 200) == 0);
    n = client_frame(buf, 0x82, payload, 70000, 64);
    run_all(buf, n, 100000, &r);
    CHECK_INT(r.type[0], WS_EV_BINARY);
    CHECK_INT(r.len[0], 70000);
    /* Non-minimal encodings are refused. */
    n = client_frame(buf, 0x81, payload, 10, 16);
    run_all(buf, n, 100000, &r);
    CHECK_INT(r.type[0], WS_EV_ERROR);
    CHECK_INT(r.code[0], 1002);
    n = client_frame(buf, 0x81, payload, 300, 64);
    run_all(buf, n, 100000, &r);
    CHECK_INT(r.type[0], WS_EV_ERROR);
    CHECK_INT(r.code[0], 1002);
    /* 64-bit length with the top bit set. */
    uint8_t huge[14] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    run_all(huge, sizeof huge, 100000, &r);
    CHECK_INT(r.type[0], WS_EV_ERROR);
    CHECK_INT(r.code[0], 1002);
    /* Too big for the limit, refused from the header alone. */
    uint8_t big[14] = {0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    run_all(big, sizeof big, 100000, &r);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.type[0], WS_EV_ERROR);
    CHECK_INT(r.code[0], 1009);
}

static void test_fragments(void)
{
    uint8_t buf[1024];
    size_t n = client_frame(buf, 0x01, "Hel", 3, 0);           /* text, not fin */
    n += client_frame(buf + n, 0x89, "p", 1, 0);               /* ping in between */
    n += client_frame(buf + n, 0x00, "lo ", 3, 0);             /* continuation */
    n += client_frame(buf + n, 0x80, "world", 5, 0);           /* final continuation */
    n += client_frame(buf + n, 0x02, "\x01", 1, 0);            /* binary fragmented */
    n += client_frame(buf + n, 0x80, "\x02", 1, 0);
    result r;
    run_all(buf, n, 1024, &r);
    CHECK_INT(r.n, 3);
    CHECK_INT(r.type[0], WS_EV_PING);
    CHECK_INT(r.type[1], WS_EV_TEXT);
    CHECK_INT(r.len[1], 11);
    CHECK(memcmp(r.data[1], "Hello world", 11) == 0);
    CHECK_INT(r.type[2], WS_EV_BINARY);
    CHECK(memcmp(r.data[2], "\x01\x02", 2) == 0);

    /* A UTF-8 character split across fragments is fine. */
    n = client_frame(buf, 0x01, "\xe2\x82", 2, 0);
    n += client_frame(buf + n, 0x80, "\xac", 1, 0);
    run_all(buf, n, 1024, &r);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.type[0], WS_EV_TEXT);
    CHECK_INT(r.len[0], 3);

    /* Reassembled size over the limit: 1009. */
    n = client_frame(buf, 0x01, "0123456789", 10, 0);
    n += client_frame(buf + n, 0x80, "0123456789", 10, 0);
    run_all(buf, n, 15, &r);
    CHECK_INT(r.n, 1);
    CHECK_INT(r.type[0], WS_EV_ERROR);
    CHECK_INT(r.code[0], 1009);
    /* Exactly at the limit is fine. */
    run_all(buf, n, 20, &r);
    CHECK_INT(r.type[0], WS_EV_TEXT);
    CHECK_INT(r.len[0], 20);
}

static void expect_error(const uint8_t *buf, size_t n, uint16_t code, int events_before)
{
    result r;
    run_all(buf, n, 1024, &r);
    CHECK_INT(r.n, events_before + 1);
    CHECK_INT(r.type[events_before], WS_EV_ERROR);
    CHECK_INT(r.code[events_before], code);
}

static void test_protocol_errors(void)
{
    uint8_t buf[1024];
    size_t n;
    /* Unmasked client frame. */
    uint8_t unmasked[] = {0x81, 0x02, 'h', 'i'};
    expect_error(unmasked, sizeof unmasked, 1002, 0);
    /* RSV bits. */
    n = client_frame(buf, 0xC1, "x", 1, 0);
    expect_error(buf, n, 1002, 0);
    /* Reserved opcodes. */
    n = client_frame(buf, 0x83, "x", 1, 0);
    expect_error(buf, n, 1002, 0);
    n = client_frame(buf, 0x8B, "x", 1, 0);
    expect_error(buf, n, 1002, 0);
    /* Fragmented ping. */
    n = client_frame(buf, 0x09, "x", 1, 0);
    expect_error(buf, n, 1002, 0);
    /* Control frame longer than 125. */
    static uint8_t big[200];
    n = client_frame(buf, 0x89, big, 126, 16);
    expect_error(buf, n, 1002, 0);
    /* Continuation with no message started. */
    n = client_frame(buf, 0x80, "x", 1, 0);
    expect_error(buf, n, 1002, 0);
    /* New data frame while a fragmented one is open. */
    n = client_frame(buf, 0x01, "a", 1, 0);
    n += client_frame(buf + n, 0x81, "b", 1, 0);
    expect_error(buf, n, 1002, 0);
    /* Invalid UTF-8 in text: overlong, surrogate, > U+10FFFF, truncated at the end. */
    n = client_frame(buf, 0x81, "\xc0\xaf", 2, 0);
    expect_error(buf, n, 1007, 0);
    n = client_frame(buf, 0x81, "\xed\xa0\x80", 3, 0);
    expect_error(buf, n, 1007, 0);
    n = client_frame(buf, 0x81, "\xf4\x90\x80\x80", 4, 0);
    expect_error(buf, n, 1007, 0);
    n = client_frame(buf, 0x81, "ok\xe2\x82", 4, 0);
    expect_error(buf, n, 1007, 0);
    /* Binary is not validated. */
    n = client_frame(buf, 0x82, "\xc0\xaf", 2, 0);
    result r;
    run_all(buf, n, 1024, &r);
    CHECK_INT(r.type[0], WS_EV_BINARY);
    /* After an error the decoder consumes nothing and repeats the error. */
    ws_decoder d;
    ws_decoder_init(&d, 100);
    ws_event ev;
    CHECK_INT(ws_decoder_feed(&d, unmasked, sizeof unmasked, &ev), 2);
    CHECK_INT(ev.type, WS_EV_ERROR);
    CHECK_INT(ws_decoder_feed(&d, unmasked + 2, 2, &ev), 0);
    CHECK_INT(ev.type, WS_EV_ERROR);
    CHECK_INT(ev.close_code, 1002);
    ws_decoder_free(&d);
}

static void test_close_frames(void)
{
    uint8_t buf[256];
    result r;
    size_t n = client_frame(buf, 0x88, "", 0, 0);
    run_all(buf, n, 1024, &r);
    CHECK_INT(r.type[0], WS_EV_CLOSE);
    CHECK_INT(r.code[0], 1005);
    n = client_frame(buf, 0x88, "\x03\xe8" "bye", 5, 0);
    run_all(buf, n, 1024, &r);
    CHECK_INT(r.type[0], WS_EV_CLOSE);
    CHECK_INT(r.code[0], 1000);
    CHECK_INT(r.len[0], 3);
    CHECK(memcmp(r.data[0], "bye", 3) == 0);
    n = client_frame(buf, 0x88, "\x0f\xa0", 2, 0);   /* 4000: private use, fine */
    run_all(buf, n, 1024, &r);
    CHECK_INT(r.code[0], 4000);
    n = client_frame(buf, 0x88, "\x03", 1, 0);
    expect_error(buf, n, 1002, 0);
    n = client_frame(buf, 0x88, "\x03\xed", 2, 0);   /* 1005 may not be sent */
    expect_error(buf, n, 1002, 0);
    n = client_frame(buf, 0x88, "\x03\xe7", 2, 0);   /* 999 */
    expect_error(buf, n, 1002, 0);
    n = client_frame(buf, 0x88, "\x13\x88", 2, 0);   /* 5000 */
    expect_error(buf, n, 1002, 0);
    n = client_frame(buf, 0x88, "\x03\xe8\xff", 3, 0);
    expect_error(buf, n, 1007, 0);
    CHECK(ws_close_code_valid(1000));
    CHECK(ws_close_code_valid(1011));
    CHECK(!ws_close_code_valid(1004));
    CHECK(!ws_close_code_valid(1006));
    CHECK(!ws_close_code_valid(1015));
    CHECK(!ws_close_code_valid(2999));
    CHECK(ws_close_code_valid(3000));
}

static void test_utf8(void)
{
    CHECK(ws_utf8_valid((const uint8_t *)"", 0));
    CHECK(ws_utf8_valid((const uint8_t *)"h\xc3\xa9llo \xf0\x9f\x98\x80", 11));
    CHECK(ws_utf8_valid((const uint8_t *)"\xef\xbf\xbf", 3));
    CHECK(!ws_utf8_valid((const uint8_t *)"\xe0\x80\x80", 3));   /* overlong */
    CHECK(!ws_utf8_valid((const uint8_t *)"\xf0\x80\x80\x80", 4));
    CHECK(!ws_utf8_valid((const uint8_t *)"\x80", 1));
    CHECK(!ws_utf8_valid((const uint8_t *)"\xc3", 1));
    CHECK(!ws_utf8_valid((const uint8_t *)"\xf5\x80\x80\x80", 4));
    CHECK(!ws_utf8_valid((const uint8_t *)"\xc3\x28", 2));
}

static void test_encoder(void)
{
    uint8_t out[70010];
    CHECK_INT(ws_frame_size(0), 2);
    CHECK_INT(ws_frame_size(125), 127);
    CHECK_INT(ws_frame_size(126), 130);
    CHECK_INT(ws_frame_size(65535), 65539);
    CHECK_INT(ws_frame_size(65536), 65546);
    CHECK_INT(ws_frame_encode(out, sizeof out, WS_OP_TEXT, "hi", 2), 4);
    CHECK(memcmp(out, "\x81\x02hi", 4) == 0);
    CHECK_INT(ws_frame_encode(out, 3, WS_OP_TEXT, "hi", 2), 0);
    static uint8_t payload[70000];
    CHECK_INT(ws_frame_encode(out, sizeof out, WS_OP_BINARY, payload, 300), 304);
    CHECK(out[0] == 0x82 && out[1] == 126 && out[2] == 1 && out[3] == 44);
    CHECK_INT(ws_frame_encode(out, sizeof out, WS_OP_BINARY, payload, 70000), 70010);
    CHECK(out[1] == 127 && out[7] == 1 && out[8] == 0x11 && out[9] == 0x70);
    CHECK_INT(ws_frame_encode(out, sizeof out, WS_OP_PING, payload, 126), 0);
    CHECK_INT(ws_frame_encode_close(out, 1000, "done"), 8);
    CHECK(memcmp(out, "\x88\x06\x03\xe8" "done", 8) == 0);
    CHECK_INT(ws_frame_encode_close(out, 0, NULL), 2);
    /* A long reason is cut at a character boundary to fit a control frame. */
    char reason[200];
    memset(reason, 'a', sizeof reason);
    memcpy(reason + 122, "\xe2\x82\xac", 3);
    reason[199] = '\0';
    size_t n = ws_frame_encode_close(out, 1001, reason);
    CHECK_INT(n, 2 + 2 + 122);
    CHECK(ws_utf8_valid(out + 4, n - 4));
}

int main(void)
{
    test_accept();
    test_handshake();
    test_simple_messages();
    test_lengths();
    test_fragments();
    test_protocol_errors();
    test_close_frames();
    test_utf8();
    test_encoder();
    return check_summary("test_ws_frame");
}
