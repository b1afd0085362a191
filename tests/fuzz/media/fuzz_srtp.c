/*
 * fuzz_srtp: what arrives from the network goes through SRTP unprotect (libsrtp2 on our
 * OpenSSL ciphers, srtp_openssl.c) before anything else reads it: RTP or RTCP, either profile,
 * picked by the first byte. Any input: no crash, no read or write outside it, and what
 * unprotects is no longer than it was. Then the input is protected as a sender would and must
 * unprotect back to itself on a fresh receiving session.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/srtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int unprotect(media_srtp *s, bool rtcp, uint8_t *buf, size_t *len)
{
    return rtcp ? media_srtp_unprotect_rtcp(s, buf, len) : media_srtp_unprotect_rtp(s, buf, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1500)
        return 0;
    bool gcm = data[0] & 1, rtcp = data[0] & 2;
    media_srtp_profile profile = gcm ? MEDIA_SRTP_AEAD_AES_128_GCM : MEDIA_SRTP_AES128_CM_SHA1_80;
    uint8_t material[64];
    for (size_t i = 0; i < sizeof material; i++)
        material[i] = (uint8_t)(i * 13 + 7);
    size_t mlen = media_srtp_keying_len(profile);
    media_srtp *client = media_srtp_create(profile, material, mlen, true);
    media_srtp *server = media_srtp_create(profile, material, mlen, false);
    if (!client || !server)
        __builtin_trap();
    size_t n = size - 1, cap = n + MEDIA_SRTP_TRAILER;
    uint8_t *buf = malloc(cap);
    memcpy(buf, data + 1, n);
    size_t len = n;
    if (unprotect(server, rtcp, buf, &len) == MEDIA_SRTP_OK && len > n)
        __builtin_trap();
    memcpy(buf, data + 1, n);
    len = n;
    int r = rtcp ? media_srtp_protect_rtcp(client, buf, &len, cap) : media_srtp_protect_rtp(client, buf, &len, cap);
    if (r == MEDIA_SRTP_OK && !rtcp) {
        media_srtp *fresh = media_srtp_create(profile, material, mlen, false);
        if (unprotect(fresh, false, buf, &len) != MEDIA_SRTP_OK || len != n || memcmp(buf, data + 1, n) != 0)
            __builtin_trap();
        media_srtp_free(fresh);
    }
    free(buf);
    media_srtp_free(client);
    media_srtp_free(server);
    return 0;
}
