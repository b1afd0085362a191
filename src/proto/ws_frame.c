/*
 * ws_frame: RFC 6455 framing for the server side, without I/O. See ws_frame.h.
 *
 * The decoder is a two-phase state machine per frame: collect the 2..14 header bytes, then
 * copy (and unmask) the payload straight into its destination: the control buffer for
 * control frames, the reassembly buffer for data frames. Every rule is checked as soon as
 * the bytes that decide it have arrived, so a hostile peer is refused before we buffer its
 * payload.
 */
#include "proto/ws_frame.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- handshake ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

bool ws_header_has_token(const char *list, const char *token)
{
    if (!list || !token)
        return false;
    size_t tlen = strlen(token);
    const char *p = list;
    while (*p) {
        while (*p == ',' || is_space(*p))
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && is_space(end[-1]))
            end--;
        if ((size_t)(end - start) == tlen && strncasecmp(start, token, tlen) == 0)
            return true;
    }
    return false;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* A 16-byte nonce in base64 is 22 significant characters and "==". The last significant
 * character carries 2 data bits, so its low 4 bits must be zero for a canonical encoding. */
static bool key_is_valid(const char *key)
{
    if (!key || strlen(key) != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (int i = 0; i < 22; i++)
        if (b64_value(key[i]) < 0)
            return false;
    return (b64_value(key[21]) & 0x0F) == 0;
}

int ws_handshake_accept(const char *key, char out[29])
{
    if (!key_is_valid(key))
        return -1;
    unsigned char buf[24 + sizeof ws_guid];
    memcpy(buf, key, 24);
    memcpy(buf + 24, ws_guid, sizeof ws_guid - 1);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(buf, 24 + sizeof ws_guid - 1, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
    out[28] = '\0';
    return 0;
}

ws_handshake_status ws_handshake_check(const ws_handshake_request *req, const char *wanted,
                                       bool *echo_protocol)
{
    *echo_protocol = false;
    if (!req->method || strcmp(req->method, "GET") != 0)
        return WS_HS_NOT_GET;
    if (!ws_header_has_token(req->upgrade, "websocket") ||
        !ws_header_has_token(req->connection, "upgrade"))
        return WS_HS_NOT_UPGRADE;
    if (!req->version || strcmp(req->version, "13") != 0)
        return WS_HS_BAD_VERSION;
    if (!key_is_valid(req->key))
        return WS_HS_BAD_KEY;
    if (req->protocols && *req->protocols) {
        /* Strict where it matters: a client that names protocols must name ours. */
        if (!wanted || !ws_header_has_token(req->protocols, wanted))
            return WS_HS_BAD_PROTOCOL;
        *echo_protocol = true;
    }
    return WS_HS_OK;
}

const char *ws_handshake_status_text(ws_handshake_status st)
{
    switch (st) {
    case WS_HS_OK: return "ok";
    case WS_HS_NOT_GET: return "websocket handshake must be a GET";
    case WS_HS_NOT_UPGRADE: return "missing Upgrade: websocket / Connection: Upgrade";
    case WS_HS_BAD_VERSION: return "unsupported Sec-WebSocket-Version (need 13)";
    case WS_HS_BAD_KEY: return "invalid Sec-WebSocket-Key";
    case WS_HS_BAD_PROTOCOL: return "unsupported Sec-WebSocket-Protocol";
    }
    return "unknown";
}

/* ---- UTF-8 ---- */

/* state holds the allowed range for the next continuation byte (lo | hi << 8); need is the
 * number of continuation bytes still expected. The narrowed first-continuation ranges are
 * what exclude overlongs (E0, F0), surrogates (ED) and code points above U+10FFFF (F4). */
bool ws_utf8_step(uint32_t *state, uint32_t *need, const uint8_t *s, size_t len)
{
    uint32_t st = *state, nd = *need;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (nd) {
            if (c < (st & 0xFF) || c > (st >> 8))
                return false;
            nd--;
            st = 0x80 | (0xBF << 8);
            continue;
        }
        if (c < 0x80)
            continue;
        if (c >= 0xC2 && c <= 0xDF) {
            nd = 1;
            st = 0x80 | (0xBF << 8);
        } else if (c >= 0xE0 && c <= 0xEF) {
            nd = 2;
            st = c == 0xE0 ? (0xA0 | (0xBF << 8)) : c == 0xED ? (0x80 | (0x9F << 8))
                                                               : (0x80 | (0xBF << 8));
        } else if (c >= 0xF0 && c <= 0xF4) {
            nd = 3;
            st = c == 0xF0 ? (0x90 | (0xBF << 8)) : c == 0xF4 ? (0x80 | (0x8F << 8))
                                                               : (0x80 | (0xBF << 8));
        } else {
            return false;
        }
    }
    *state = st;
    *need = nd;
    return true;
}

bool ws_utf8_valid(const uint8_t *s, size_t len)
{
    uint32_t st = 0, nd = 0;
    return ws_utf8_step(&st, &nd, s, len) && nd == 0;
}

bool ws_close_code_valid(uint16_t code)
{
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

/* ---- decoder ---- */

void ws_decoder_init(ws_decoder *d, size_t max_message)
{
    memset(d, 0, sizeof *d);
    d->max_message = max_message;
}

void ws_decoder_free(ws_decoder *d)
{
    free(d->msg);
    d->msg = NULL;
    d->msg_cap = 0;
}

static bool is_control(uint8_t op)
{
    return op & 0x8;
}

static size_t fail(ws_decoder *d, size_t consumed, uint16_t code, ws_event *ev)
{
    d->failed = true;
    d->fail_code = code;
    ev->type = WS_EV_ERROR;
    ev->close_code = code;
    ev->payload = NULL;
    ev->len = 0;
    return consumed;
}

/* Header length once the first two bytes are known: 2, + 2 or 8 extended length, + 4 mask. */
static size_t header_need(const ws_decoder *d)
{
    uint8_t l7 = d->hdr[1] & 0x7F;
    return 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + 4;
}

/* Rules decided by the first two bytes. Returns a close code, or 0 when fine. */
static uint16_t check_first_bytes(const ws_decoder *d)
{
    uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
    uint8_t op = b0 & 0x0F;
    if (b0 & 0x70)
        return WS_CLOSE_PROTOCOL_ERROR;      /* no extension negotiated: RSV must be 0 */
    if (!(b1 & 0x80))
        return WS_CLOSE_PROTOCOL_ERROR;      /* clients must mask */
    if (is_control(op)) {
        if (op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
            return WS_CLOSE_PROTOCOL_ERROR;
        if (!(b0 & 0x80) || (b1 & 0x7F) > 125)
            return WS_CLOSE_PROTOCOL_ERROR;
        return 0;
    }
    if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY)
        return WS_CLOSE_PROTOCOL_ERROR;
    if (op == WS_OP_CONT && !d->in_message)
        return WS_CLOSE_PROTOCOL_ERROR;
    if (op != WS_OP_CONT && d->in_message)
        return WS_CLOSE_PROTOCOL_ERROR;
    return 0;
}

/* Parses the complete header into the frame state; returns a close code or 0. */
static uint16_t parse_header(ws_decoder *d)
{
    uint8_t l7 = d->hdr[1] & 0x7F;
    uint64_t len = l7;
    size_t off = 2;
    if (l7 == 126) {
        len = ((uint64_t)d->hdr[2] << 8) | d->hdr[3];
        if (len < 126)
            return WS_CLOSE_PROTOCOL_ERROR;  /* lengths must be minimally encoded */
        off = 4;
    } else if (l7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | d->hdr[2 + i];
        if (len >> 63)
            return WS_CLOSE_PROTOCOL_ERROR;
        if (len <= 0xFFFF)
            return WS_CLOSE_PROTOCOL_ERROR;
        off = 10;
    }
    memcpy(d->mask, d->hdr + off, 4);
    d->fin = d->hdr[0] & 0x80;
    d->opcode = d->hdr[0] & 0x0F;
    d->frame_len = len;
    d->frame_got = 0;
    if (is_control(d->opcode))
        return 0;
    if (d->opcode != WS_OP_CONT) {
        d->in_message = true;
        d->msg_opcode = d->opcode;
        d->msg_len = 0;
        d->utf8_state = 0;
        d->utf8_need = 0;
    }
    if (len > d->max_message || d->msg_len > d->max_message - len)
        return WS_CLOSE_TOO_BIG;
    size_t want = d->msg_len + (size_t)len;
    if (want + 1 > d->msg_cap) {
        /* Grow geometrically but never past the limit (+1 for a NUL after text). */
        size_t cap = d->msg_cap ? d->msg_cap : 256;
        while (cap < want + 1)
            cap = cap > SIZE_MAX / 2 ? want + 1 : cap * 2;
        if (cap > d->max_message + 1)
            cap = d->max_message + 1;
        uint8_t *p = realloc(d->msg, cap);
        if (!p)
            return WS_CLOSE_INTERNAL;
        d->msg = p;
        d->msg_cap = cap;
    }
    return 0;
}

/* Copies payload bytes to their destination, unmasking as they go. */
static void take_payload(ws_decoder *d, const uint8_t *src, size_t n)
{
    uint8_t *dst = is_control(d->opcode) ? d->ctrl + d->frame_got : d->msg + d->msg_len;
    size_t k = (size_t)(d->frame_got & 3);
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i] ^ d->mask[k];
        k = (k + 1) & 3;
    }
    if (!is_control(d->opcode))
        d->msg_len += n;
    d->frame_got += n;
}

static void control_event(ws_decoder *d, ws_event *ev)
{
    ev->payload = d->ctrl;
    ev->len = (size_t)d->frame_len;
    ev->type = d->opcode == WS_OP_PING ? WS_EV_PING : WS_EV_PONG;
}

/* A close frame: empty, or a 2-byte code plus a UTF-8 reason. Returns a close code on error. */
static uint16_t close_event(ws_decoder *d, ws_event *ev)
{
    size_t len = (size_t)d->frame_len;
    ev->type = WS_EV_CLOSE;
    if (len == 0) {
        ev->close_code = WS_CLOSE_NO_STATUS;
        ev->payload = d->ctrl;
        ev->len = 0;
        return 0;
    }
    if (len == 1)
        return WS_CLOSE_PROTOCOL_ERROR;
    uint16_t code = (uint16_t)((d->ctrl[0] << 8) | d->ctrl[1]);
    if (!ws_close_code_valid(code))
        return WS_CLOSE_PROTOCOL_ERROR;
    if (!ws_utf8_valid(d->ctrl + 2, len - 2))
        return WS_CLOSE_INVALID_DATA;
    ev->close_code = code;
    ev->payload = d->ctrl + 2;
    ev->len = len - 2;
    return 0;
}

/* The current frame is complete. Returns a close code on error; sets ev when an event is due. */
static uint16_t finish_frame(ws_decoder *d, ws_event *ev)
{
    d->in_frame = false;
    if (d->opcode == WS_OP_CLOSE)
        return close_event(d, ev);
    if (is_control(d->opcode)) {
        control_event(d, ev);
        return 0;
    }
    if (!d->fin)
        return 0;
    d->in_message = false;
    if (d->msg_opcode == WS_OP_TEXT && d->utf8_need != 0)
        return WS_CLOSE_INVALID_DATA;
    d->msg[d->msg_len] = '\0';
    ev->type = d->msg_opcode == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
    ev->payload = d->msg;
    ev->len = d->msg_len;
    return 0;
}

/* Collects header bytes; returns the bytes used, sets *code on a violation. */
static size_t take_header(ws_decoder *d, const uint8_t *data, size_t len, uint16_t *code)
{
    size_t used = 0;
    while (used < len) {
        size_t need = d->hdr_len < 2 ? 2 : header_need(d);
        if (d->hdr_len >= need)
            break;
        d->hdr[d->hdr_len++] = data[used++];
        if (d->hdr_len == 2 && (*code = check_first_bytes(d)) != 0)
            return used;
    }
    if (d->hdr_len >= 2 && d->hdr_len == header_need(d)) {
        *code = parse_header(d);
        d->hdr_len = 0;
        d->in_frame = *code == 0;
    }
    return used;
}

size_t ws_decoder_feed(ws_decoder *d, const uint8_t *data, size_t len, ws_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (d->failed)
        return fail(d, 0, d->fail_code, ev);
    size_t pos = 0;
    uint16_t code = 0;
    while (pos < len || (d->in_frame && d->frame_got == d->frame_len)) {
        if (!d->in_frame) {
            pos += take_header(d, data + pos, len - pos, &code);
            if (code)
                return fail(d, pos, code, ev);
            if (!d->in_frame)
                continue;
        }
        uint64_t left = d->frame_len - d->frame_got;
        size_t n = left < (uint64_t)(len - pos) ? (size_t)left : len - pos;
        if (n) {
            uint8_t *start = d->msg ? d->msg + d->msg_len : NULL;
            take_payload(d, data + pos, n);
            pos += n;
            if (!is_control(d->opcode) && d->msg_opcode == WS_OP_TEXT &&
                !ws_utf8_step(&d->utf8_state, &d->utf8_need, start, n))
                return fail(d, pos, WS_CLOSE_INVALID_DATA, ev);
        }
        if (d->frame_got < d->frame_len)
            break;
        code = finish_frame(d, ev);
        if (code)
            return fail(d, pos, code, ev);
        if (ev->type != WS_EV_NONE)
            return pos;
    }
    return pos;
}

/* ---- encoder ---- */

size_t ws_frame_size(size_t len)
{
    return len + (len < 126 ? 2 : len <= 0xFFFF ? 4 : 10);
}

size_t ws_frame_encode(uint8_t *out, size_t cap, uint8_t opcode, const void *payload,
                       size_t len)
{
    size_t total = ws_frame_size(len);
    if (total > cap || (is_control(opcode) && len > 125))
        return 0;
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    size_t off;
    if (len < 126) {
        out[1] = (uint8_t)len;
        off = 2;
    } else if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        off = 4;
    } else {
        out[1] = 127;
        uint64_t l = len;
        for (int i = 7; i >= 0; i--) {
            out[2 + i] = (uint8_t)l;
            l >>= 8;
        }
        off = 10;
    }
    if (len)
        memcpy(out + off, payload, len);
    return total;
}

size_t ws_frame_encode_close(uint8_t out[127], uint16_t code, const char *reason)
{
    uint8_t body[125];
    size_t n = 0;
    if (code) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        n = 2;
        size_t rlen = reason ? strlen(reason) : 0;
        if (rlen > 123) {
            rlen = 123;
            /* Do not cut a multi-byte character in half. */
            while (rlen > 0 && ((uint8_t)reason[rlen] & 0xC0) == 0x80)
                rlen--;
        }
        if (rlen)
            memcpy(body + 2, reason, rlen);
        n += rlen;
    }
    return ws_frame_encode(out, 127, WS_OP_CLOSE, body, n);
}
