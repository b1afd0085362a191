/*
 * stun: the slice of STUN (RFC 5389) an ICE-lite agent needs (RFC 8445 section 2.5): read a
 * Binding request or indication, check its FINGERPRINT and its short-term MESSAGE-INTEGRITY,
 * and write the Binding success response (XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT).
 *
 * Sans I/O: bytes in, bytes out, no allocation, no clock. stun_parse never reads outside
 * [buf, buf+len) whatever the input (fuzzed by tests/fuzz/proto/fuzz_stun.c); the pointers it
 * stores point into buf and live as long as it does.
 */
#ifndef PARLEY_PROTO_STUN_H
#define PARLEY_PROTO_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_HEADER_LEN 20
#define STUN_MAGIC_COOKIE 0x2112A442u

enum {
    STUN_BINDING_REQUEST = 0x0001,
    STUN_BINDING_INDICATION = 0x0011,
    STUN_BINDING_SUCCESS = 0x0101,
};

typedef struct stun_msg {
    uint16_t type;
    const uint8_t *txid;          /* 12 bytes */
    const uint8_t *username;      /* USERNAME value (not NUL-terminated), NULL when absent */
    size_t username_len;
    size_t integrity_at;          /* offset of the MESSAGE-INTEGRITY attribute, 0 when absent */
    bool has_fingerprint;         /* present and correct (a wrong one fails stun_parse) */
    bool use_candidate;
    bool ice_controlling;
    bool ice_controlled;
    uint32_t priority;            /* PRIORITY, 0 when absent */
} stun_msg;

/* True when buf may be a STUN message: the two top bits clear, the magic cookie, a length
 * that matches. The cheap test a demultiplexer makes before anything else (RFC 7983). */
bool stun_looks_like(const uint8_t *buf, size_t len);

/* 0 and *out filled when buf is a well-formed STUN message (attributes inside the message,
 * nothing but FINGERPRINT after MESSAGE-INTEGRITY, a FINGERPRINT that matches); -1 otherwise. */
int stun_parse(const uint8_t *buf, size_t len, stun_msg *out);

/* True when m carries MESSAGE-INTEGRITY and it is HMAC-SHA1 under key over buf as RFC 5389
 * 15.4 says (the header's length counting up to the end of MESSAGE-INTEGRITY). */
bool stun_check_integrity(const uint8_t *buf, const stun_msg *m, const uint8_t *key, size_t key_len);

/* The USERNAME's part before ':' (the receiver's ufrag in ICE), or NULL when there is none.
 * *len gets its length. */
const uint8_t *stun_username_local(const stun_msg *m, size_t *len);

/* Writes the Binding success response to the request with transaction id txid, telling the
 * sender the address it came from, signed with key. Returns its length, 0 when out is too
 * small (STUN_RESPONSE_MAX is always enough) or the address family is not IPv4/IPv6. */
#define STUN_RESPONSE_MAX 80
size_t stun_write_binding_success(uint8_t *out, size_t cap, const uint8_t *txid,
                                  const struct sockaddr *from, const uint8_t *key, size_t key_len);

/* CRC-32 (ISO-HDLC, as zlib) of buf; exposed for tests. */
uint32_t stun_crc32(const uint8_t *buf, size_t len);

#endif
