/*
 * dcep: the WebRTC Data Channel Establishment Protocol (RFC 8832), sans-IO.
 *
 * Parses and writes the two DCEP messages carried on SCTP PPID 50: DATA_CHANNEL_OPEN and
 * DATA_CHANNEL_ACK. No sockets, no allocation: a parsed OPEN points into the caller's buffer
 * (label and protocol are NOT NUL-terminated; use the lengths), the writer fills the caller's
 * buffer.
 *
 * Any thread; no shared state. Errors: negative DCEP_E* values; a message from the network
 * that fails to parse is to be dropped by the caller.
 */
#ifndef PARLEY_MEDIA_DCEP_H
#define PARLEY_MEDIA_DCEP_H

#include <stddef.h>
#include <stdint.h>

/* SCTP payload protocol identifiers used by WebRTC data channels (RFC 8831 section 8). */
enum {
    DCEP_PPID_CONTROL = 50,
    DCEP_PPID_STRING = 51,
    DCEP_PPID_BINARY = 53,
    DCEP_PPID_STRING_EMPTY = 56,
    DCEP_PPID_BINARY_EMPTY = 57,
};

enum {
    DCEP_MSG_ACK = 0x02,
    DCEP_MSG_OPEN = 0x03,
};

/* Channel types (RFC 8832 section 5.1); the 0x80 bit means unordered. */
enum {
    DCEP_CHANNEL_RELIABLE = 0x00,
    DCEP_CHANNEL_PARTIAL_RELIABLE_REXMIT = 0x01,
    DCEP_CHANNEL_PARTIAL_RELIABLE_TIMED = 0x02,
    DCEP_CHANNEL_UNORDERED_FLAG = 0x80,
};

enum {
    DCEP_OK = 0,
    DCEP_ETRUNC = -1,    /* shorter than its fixed header or declared lengths */
    DCEP_ETYPE = -2,     /* unknown message type or channel type */
    DCEP_ENOSPACE = -3,  /* writer: output buffer too small */
};

typedef struct dcep_open {
    uint8_t channel_type;
    uint16_t priority;
    uint32_t reliability;
    const char *label;        /* points into the parsed buffer */
    uint16_t label_len;
    const char *protocol;     /* points into the parsed buffer */
    uint16_t protocol_len;
} dcep_open;

/* Message type of a PPID-50 payload (DCEP_MSG_*), or DCEP_ETRUNC when empty. */
int dcep_message_type(const uint8_t *buf, size_t len);
/* Parses a DATA_CHANNEL_OPEN. Trailing bytes after the protocol are ignored. */
int dcep_parse_open(const uint8_t *buf, size_t len, dcep_open *out);
/* Parses a DATA_CHANNEL_ACK (one byte, type 0x02). */
int dcep_parse_ack(const uint8_t *buf, size_t len);

/* Bytes needed to write an OPEN with these label/protocol lengths. */
size_t dcep_open_size(size_t label_len, size_t protocol_len);
/* Writes an OPEN; returns the length written, DCEP_ENOSPACE, or DCEP_ETYPE for an unknown
 * channel type. */
int dcep_write_open(uint8_t *out, size_t cap, const dcep_open *msg);
/* Writes an ACK; returns 1 or DCEP_ENOSPACE. */
int dcep_write_ack(uint8_t *out, size_t cap);

#endif
