/*
 * ws_frame: sans-IO WebSocket (RFC 6455) for the server side: the opening-handshake checks,
 * a frame decoder for client-to-server traffic and an encoder for server-to-client frames.
 * No sockets, no clock, no threads: bytes in, frames/messages/errors out.
 *
 * Handshake: ws_handshake_check() validates the request headers of a GET (Upgrade,
 * Connection, Sec-WebSocket-Version 13, a key that is base64 of 16 bytes) and negotiates the
 * subprotocol; ws_handshake_accept() computes Sec-WebSocket-Accept (SHA-1 + base64).
 *
 * Decoder: ws_decoder_feed() takes any chunk of the byte stream (one byte at a time works) and
 * stops at the first complete event, returning how many bytes it consumed; the caller feeds
 * the rest again. Events are whole messages (fragments reassembled, text validated as UTF-8),
 * ping/pong/close control frames, or a protocol error carrying the close code the server
 * should send (1002 protocol error, 1007 invalid UTF-8, 1009 too big). After an error the
 * decoder stays failed and consumes nothing more.
 *
 * Ownership: an event's payload points into the decoder and is valid until the next
 * ws_decoder_feed() or ws_decoder_free(). The decoder owns one reassembly buffer that grows
 * up to max_message bytes.
 *
 * Threads: a decoder is used by one thread at a time; the other functions are pure.
 */
#ifndef PARLEY_PROTO_WS_FRAME_H
#define PARLEY_PROTO_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,   /* never sent: a close frame without a code */
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

/* ---- opening handshake ---- */

typedef enum ws_handshake_status {
    WS_HS_OK = 0,
    WS_HS_NOT_GET,          /* method is not GET */
    WS_HS_NOT_UPGRADE,      /* Upgrade: websocket or Connection: upgrade missing */
    WS_HS_BAD_VERSION,      /* Sec-WebSocket-Version is not 13 (answer 426 + version 13) */
    WS_HS_BAD_KEY,          /* Sec-WebSocket-Key missing or not base64 of 16 bytes */
    WS_HS_BAD_PROTOCOL,     /* a protocol list was offered that lacks ours */
} ws_handshake_status;

typedef struct ws_handshake_request {
    const char *method;
    const char *upgrade;     /* header values, NULL when absent */
    const char *connection;
    const char *version;
    const char *key;
    const char *protocols;   /* Sec-WebSocket-Protocol, a comma-separated list */
} ws_handshake_request;

/* Checks the request. *echo_protocol is set to true when the response must carry
 * Sec-WebSocket-Protocol: <wanted> (the client offered it); a request without any protocol
 * header is accepted without echo. wanted may be NULL (no subprotocol). */
ws_handshake_status ws_handshake_check(const ws_handshake_request *req, const char *wanted,
                                       bool *echo_protocol);
const char *ws_handshake_status_text(ws_handshake_status st);

/* Writes the 28-character accept value and a NUL into out. Returns 0, or -1 when the key is
 * not base64 of exactly 16 bytes. */
int ws_handshake_accept(const char *key, char out[29]);

/* True when the comma-separated token list contains token (case-insensitive). */
bool ws_header_has_token(const char *list, const char *token);

/* ---- decoder ---- */

typedef enum ws_event_type {
    WS_EV_NONE = 0,     /* need more bytes */
    WS_EV_TEXT,         /* a complete, UTF-8 valid text message */
    WS_EV_BINARY,       /* a complete binary message */
    WS_EV_PING,
    WS_EV_PONG,
    WS_EV_CLOSE,        /* close_code (1005 when absent) and reason in payload */
    WS_EV_ERROR,        /* close_code says what to send back; the decoder is dead */
} ws_event_type;

typedef struct ws_event {
    ws_event_type type;
    const uint8_t *payload;
    size_t len;
    uint16_t close_code;
} ws_event;

typedef struct ws_decoder {
    size_t max_message;
    /* header being collected */
    uint8_t hdr[14];
    size_t hdr_len;
    /* current frame */
    bool in_frame;
    bool fin;
    uint8_t opcode;
    uint8_t mask[4];
    uint64_t frame_len;
    uint64_t frame_got;
    /* control frame payload (<= 125 bytes, may interleave with a fragmented message) */
    uint8_t ctrl[125];
    /* data message being reassembled */
    bool in_message;
    uint8_t msg_opcode;
    uint8_t *msg;
    size_t msg_len;
    size_t msg_cap;
    uint32_t utf8_state;
    uint32_t utf8_need;
    bool failed;
    uint16_t fail_code;
} ws_decoder;

void ws_decoder_init(ws_decoder *d, size_t max_message);
void ws_decoder_free(ws_decoder *d);

/* Consumes bytes until one event is complete or the input ends; returns the bytes consumed
 * and sets *ev (WS_EV_NONE when all input was consumed without completing anything). */
size_t ws_decoder_feed(ws_decoder *d, const uint8_t *data, size_t len, ws_event *ev);

/* Incremental UTF-8 validation (RFC 3629: no overlongs, surrogates or > U+10FFFF).
 * state starts at 0; returns false as soon as the bytes cannot be valid. A sequence is
 * complete when *need is 0 afterwards. */
bool ws_utf8_step(uint32_t *state, uint32_t *need, const uint8_t *s, size_t len);
bool ws_utf8_valid(const uint8_t *s, size_t len);

/* True for close codes a peer may send on the wire (1000-1003, 1007-1014, 3000-4999). */
bool ws_close_code_valid(uint16_t code);

/* ---- encoder (server frames are never masked) ---- */

/* Bytes needed for a frame carrying len payload bytes. */
size_t ws_frame_size(size_t len);
/* Writes a complete frame (FIN set) into out; returns its size, or 0 when cap is too small or
 * a control frame payload exceeds 125 bytes. */
size_t ws_frame_encode(uint8_t *out, size_t cap, uint8_t opcode, const void *payload,
                       size_t len);
/* Writes a close frame with code and a reason (cut to fit 125 bytes at a UTF-8 boundary);
 * code 0 writes an empty close frame. Returns the size (<= 127). */
size_t ws_frame_encode_close(uint8_t out[127], uint16_t code, const char *reason);

#endif
