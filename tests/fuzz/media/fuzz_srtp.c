/*
 * fuzz_srtp: what arrives from the network goes through unprotect (RTP or RTCP, either suite,
 * picked by the first byte) before anything else reads it. Any input: no crash, no read
 * outside it; what unprotects must be no longer than it was. Then the input is protected as a
 * sender would and must unprotect back to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media/srtp_xform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t salt[14] = {21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34};
    if (size < 1 || size > 1500)
        return 0;
    bool gcm = data[0] & 1, rtcp = data[0] & 2;
    srtp_xform_suite suite = gcm ? SRTP_XFORM_AEAD_AES_128_GCM : SRTP_XFORM_AES_CM_HMAC_SHA1_80;
    size_t salt_len = gcm ? 12 : 14;
    srtp_xform *in = srtp_xform_new(suite, false, key, 16, salt, salt_len);
    srtp_xform *out = srtp_xform_new(suite, true, key, 16, salt, salt_len);
    uint8_t *buf = malloc(size - 1 + SRTP_XFORM_MAX_TRAILER);
    memcpy(buf, data + 1, size - 1);
    size_t len = size - 1;
    if ((rtcp ? srtp_xform_unprotect_rtcp(in, buf, &len) : srtp_xform_unprotect_rtp(in, buf, &len)) == SRTP_XFORM_OK &&
        len > size - 1)
        __builtin_trap();
    memcpy(buf, data + 1, size - 1);
    len = size - 1;
    size_t cap = size - 1 + SRTP_XFORM_MAX_TRAILER;
    int r = rtcp ? srtp_xform_protect_rtcp(out, buf, &len, cap) : srtp_xform_protect_rtp(out, buf, &len, cap);
    if (r == SRTP_XFORM_OK) {
        srtp_xform *in2 = srtp_xform_new(suite, false, key, 16, salt, salt_len);
        int back = rtcp ? srtp_xform_unprotect_rtcp(in2, buf, &len) : srtp_xform_unprotect_rtp(in2, buf, &len);
        /* What protected must unprotect to the input (RTCP with an odd version byte may not). */
        if (!rtcp && (back != SRTP_XFORM_OK || len != size - 1 || memcmp(buf, data + 1, len) != 0))
            __builtin_trap();
        srtp_xform_free(in2);
    }
    free(buf);
    srtp_xform_free(in);
    srtp_xform_free(out);
    return 0;
}
