/*
 * srtp: SRTP/SRTCP sessions for one peer (libsrtp2, on OpenSSL's AES and HMAC: srtp_openssl.h),
 * keyed from DTLS-SRTP.
 *
 * A media_srtp holds an inbound and an outbound libsrtp session built from the keying
 * material exported by DTLS (RFC 5764 section 4.2: client key, server key, client salt,
 * server salt). Protect/unprotect work in place; protect needs MEDIA_SRTP_TRAILER spare bytes
 * after the packet.
 *
 * Threads: media_srtp_global_init once (any thread, idempotent, thread-safe); a session is
 * used by its owner (the peer's loop thread) only. Errors: negative MEDIA_SRTP_E* values; a
 * failed unprotect means "drop the packet" (bad auth tag, replay, garbage).
 */
#ifndef PARLEY_MEDIA_SRTP_H
#define PARLEY_MEDIA_SRTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The profiles we negotiate (the values OpenSSL reports for use_srtp). */
typedef enum media_srtp_profile {
    MEDIA_SRTP_AES128_CM_SHA1_80 = 0x0001,
    MEDIA_SRTP_AEAD_AES_128_GCM = 0x0007,
} media_srtp_profile;

#define MEDIA_SRTP_TRAILER 64   /* spare bytes protect may need (tag + RTCP index), rounded */

enum {
    MEDIA_SRTP_OK = 0,
    MEDIA_SRTP_EINVAL = -1,     /* unknown profile or short keying material */
    MEDIA_SRTP_ENOSPACE = -2,   /* not enough room for the trailer */
    MEDIA_SRTP_EFAIL = -3,      /* libsrtp refused (auth failure, replay, bad packet) */
};

typedef struct media_srtp media_srtp;

int media_srtp_global_init(void);

/* Bytes of keying material to export from DTLS for a profile (0 if unknown). */
size_t media_srtp_keying_len(media_srtp_profile profile);

/* Builds both sessions. material is the exported block; is_client says which half is ours
 * (the DTLS client protects with the client key). Returns NULL on error. Owned by the caller,
 * freed with media_srtp_free. */
media_srtp *media_srtp_create(media_srtp_profile profile, const uint8_t *material, size_t len,
                              bool is_client);
void media_srtp_free(media_srtp *s);

/* In place. *len is the packet length in, the new length out. */
int media_srtp_protect_rtp(media_srtp *s, uint8_t *buf, size_t *len, size_t cap);
int media_srtp_protect_rtcp(media_srtp *s, uint8_t *buf, size_t *len, size_t cap);
int media_srtp_unprotect_rtp(media_srtp *s, uint8_t *buf, size_t *len);
int media_srtp_unprotect_rtcp(media_srtp *s, uint8_t *buf, size_t *len);

#endif
