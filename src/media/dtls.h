/*
 * dtls: DTLS 1.2 with DTLS-SRTP (RFC 5764) for one peer, over OpenSSL with memory I/O.
 *
 * Process-wide: one self-signed ECDSA P-256 certificate and one SSL_CTX (media_dtls_global_*),
 * created at start on the main thread; its fingerprint is what we put in a=fingerprint.
 *
 * Per peer: a media_dtls wraps one SSL object. It owns no socket and no timer: datagrams come
 * in through media_dtls_input, go out through the send callback (one call per datagram, from
 * inside media_dtls_* calls), and the owner drives the retransmit timer by asking
 * media_dtls_timeout_ms after every call and calling media_dtls_handle_timeout when it fires.
 * The peer certificate is checked against the remote a=fingerprint during the handshake; a
 * mismatch fails the handshake (an alert is sent) and is reported as MEDIA_DTLS_EFAIL.
 *
 * Memory: after the handshake, while no application data has been read or written, OpenSSL's
 * two record buffers (16.7 kB each) are freed between calls and made again inside any call that
 * needs them (see park_buffers in dtls.c).
 *
 * Threads: a media_dtls is used by one thread (the peer's loop). Callbacks run inside the call
 * that caused them. Owned by the creator; media_dtls_free releases everything.
 */
#ifndef PARLEY_MEDIA_DTLS_H
#define PARLEY_MEDIA_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/srtp.h"

enum {
    MEDIA_DTLS_OK = 0,
    MEDIA_DTLS_HANDSHAKE_DONE = 1,  /* input: the handshake completed during this call */
    MEDIA_DTLS_CLOSED = 2,          /* input: the remote sent close_notify */
    MEDIA_DTLS_EINVAL = -1,         /* bad argument (fingerprint syntax, profile list) */
    MEDIA_DTLS_EFAIL = -2,          /* handshake failed (fingerprint mismatch, alert, timeout) */
    MEDIA_DTLS_ESTATE = -3,         /* not possible now (write before handshake) */
};

/* Default offer: AES-GCM preferred, AES-CM-HMAC-SHA1-80 accepted. */
#define MEDIA_DTLS_DEFAULT_PROFILES "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"

typedef struct media_dtls media_dtls;

typedef struct media_dtls_callbacks {
    void *user;
    /* One DTLS datagram to send to the remote. */
    void (*send)(void *user, const uint8_t *buf, size_t len);
    /* Decrypted application data (SCTP packets, for WebRTC). */
    void (*app_data)(void *user, const uint8_t *buf, size_t len);
} media_dtls_callbacks;

int media_dtls_global_init(void);
void media_dtls_global_deinit(void);
/* "sha-256 AB:CD:..."; valid between global init and deinit. */
const char *media_dtls_local_fingerprint(void);

/* Checks the syntax of an a=fingerprint value ("sha-256 AB:CD:..", also sha-1/384/512). */
bool media_dtls_fingerprint_valid(const char *fingerprint);

/* is_client: we are the DTLS client (setup:active). profiles: OpenSSL use_srtp list or NULL
 * for the default. Returns NULL on bad arguments. */
media_dtls *media_dtls_create(bool is_client, const char *remote_fingerprint,
                              const char *profiles, const media_dtls_callbacks *cb);
void media_dtls_free(media_dtls *d);

/* Client: sends the ClientHello. Server: nothing to do (waits for it). */
int media_dtls_start(media_dtls *d);
/* One received DTLS datagram. Returns MEDIA_DTLS_OK, _HANDSHAKE_DONE, _CLOSED or _EFAIL. */
int media_dtls_input(media_dtls *d, const uint8_t *buf, size_t len);
/* Milliseconds until media_dtls_handle_timeout is due, or -1 when no timer is needed. */
int media_dtls_timeout_ms(media_dtls *d);
/* Retransmits a flight if due. Returns MEDIA_DTLS_OK or MEDIA_DTLS_EFAIL (gave up). */
int media_dtls_handle_timeout(media_dtls *d);
bool media_dtls_is_client(const media_dtls *d);
bool media_dtls_done(const media_dtls *d);
/* True while the record buffers are handed back (idle media-only connection; for tests). */
bool media_dtls_buffers_parked(const media_dtls *d);

/* After the handshake: the negotiated profile and the keying material to build SRTP with. */
int media_dtls_srtp_keys(media_dtls *d, media_srtp_profile *profile, uint8_t *material,
                         size_t cap, size_t *len);
/* Sends application data (one record). */
int media_dtls_write(media_dtls *d, const uint8_t *buf, size_t len);
/* Sends close_notify (once); later input is ignored. */
void media_dtls_shutdown(media_dtls *d);

#endif
