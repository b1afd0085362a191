/*
 * srtp_openssl: libsrtp2's ciphers and authenticator on OpenSSL's EVP: AES-128-ICM (SRTP's
 * counter mode, also its key derivation), AES-128-GCM and HMAC-SHA1, installed into libsrtp2's
 * crypto kernel with its own replace API (srtp_replace_cipher_type / srtp_replace_auth_type).
 *
 * Why: Debian's libsrtp2 is built on NSS, whose PK11 layer (a context made and torn down per
 * packet, locks, a slot lookup) was a third of the server's CPU per forwarded packet at 256
 * sessions. libsrtp2 keeps doing SRTP (packet layout, key derivation, rollover counters, replay
 * windows); only the block cipher and the MAC under it change, with the key schedule made once
 * per session and AES-NI / SHA-NI through OpenSSL. The kernel checks each replacement against
 * libsrtp2's own test vectors before taking it.
 *
 * Threads: srtp_openssl_install runs once, inside media_srtp_global_init (after srtp_init,
 * before any session). Returns 0, or -1 when libsrtp2 refused a replacement (the NSS code stays
 * then, slower but correct).
 */
#ifndef PARLEY_MEDIA_SRTP_OPENSSL_H
#define PARLEY_MEDIA_SRTP_OPENSSL_H

int srtp_openssl_install(void);

#endif
