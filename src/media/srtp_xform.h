/*
 * srtp_xform: the SRTP/SRTCP transform of one direction (RFC 3711, RFC 7714), on OpenSSL's
 * EVP ciphers: AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM, no MKI, key derivation rate 0.
 *
 * One xform protects (outbound) or unprotects (inbound), RTP and RTCP, for any number of
 * SSRCs: a stream's state (rollover counter, highest sequence number, replay window for
 * inbound) is made when its SSRC first appears (inbound: once a packet from it authenticates),
 * as libsrtp's ssrc_any_inbound / ssrc_any_outbound do. Inbound replay windows: 4096 packets
 * for RTP (forwarded video and retransmissions arrive out of order), 1024 for SRTCP.
 * Outbound never refuses a repeated index (NACK answers resend packets).
 *
 * Why not libsrtp2: Debian's is built on NSS, whose PK11 layer cost a third of the server's
 * CPU per forwarded packet at 256 sessions; the same AES-GCM through EVP with a key schedule
 * made once per session is a small fraction of that. libsrtp2 stays as the reference the unit
 * tests check us against, byte for byte.
 *
 * Sans I/O, in place, no allocation per packet. One thread at a time per xform.
 */
#ifndef PARLEY_MEDIA_SRTP_XFORM_H
#define PARLEY_MEDIA_SRTP_XFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum srtp_xform_suite {
    SRTP_XFORM_AES_CM_HMAC_SHA1_80,
    SRTP_XFORM_AEAD_AES_128_GCM,
} srtp_xform_suite;

enum {
    SRTP_XFORM_OK = 0,
    SRTP_XFORM_EINVAL = -1,     /* not an RTP/RTCP packet we can transform */
    SRTP_XFORM_ENOSPACE = -2,   /* no room for the tag (and SRTCP index) */
    SRTP_XFORM_EAUTH = -3,      /* authentication failed */
    SRTP_XFORM_EREPLAY = -4,    /* seen already, or older than the window */
};

#define SRTP_XFORM_MAX_TRAILER 20   /* tag + SRTCP index, at most */

typedef struct srtp_xform srtp_xform;

/* Master key 16 bytes; master salt 14 (CM) or 12 (GCM) bytes. NULL on a bad length. */
srtp_xform *srtp_xform_new(srtp_xform_suite suite, bool outbound, const uint8_t *key, size_t key_len,
                           const uint8_t *salt, size_t salt_len);
void srtp_xform_free(srtp_xform *x);

int srtp_xform_protect_rtp(srtp_xform *x, uint8_t *buf, size_t *len, size_t cap);
int srtp_xform_protect_rtcp(srtp_xform *x, uint8_t *buf, size_t *len, size_t cap);
int srtp_xform_unprotect_rtp(srtp_xform *x, uint8_t *buf, size_t *len);
int srtp_xform_unprotect_rtcp(srtp_xform *x, uint8_t *buf, size_t *len);

#endif
