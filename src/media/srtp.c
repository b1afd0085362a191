/*
 * srtp: see srtp.h. One transform per direction (srtp_xform.h): inbound accepts any remote
 * SSRC as it appears, outbound protects whatever SSRCs the other leg of a call sends.
 */
#include "media/srtp.h"

#include <stdlib.h>
#include <string.h>

#include "media/srtp_xform.h"

struct media_srtp {
    srtp_xform *in;
    srtp_xform *out;
};

typedef struct profile_sizes {
    size_t key, salt;
    srtp_xform_suite suite;
} profile_sizes;

static bool sizes_of(media_srtp_profile profile, profile_sizes *out)
{
    switch (profile) {
    case MEDIA_SRTP_AES128_CM_SHA1_80:
        *out = (profile_sizes){16, 14, SRTP_XFORM_AES_CM_HMAC_SHA1_80};
        return true;
    case MEDIA_SRTP_AEAD_AES_128_GCM:
        *out = (profile_sizes){16, 12, SRTP_XFORM_AEAD_AES_128_GCM};
        return true;
    }
    return false;
}

int media_srtp_global_init(void) { return MEDIA_SRTP_OK; }

size_t media_srtp_keying_len(media_srtp_profile profile)
{
    profile_sizes sz;
    return sizes_of(profile, &sz) ? 2 * (sz.key + sz.salt) : 0;
}

media_srtp *media_srtp_create(media_srtp_profile profile, const uint8_t *material, size_t len,
                              bool is_client)
{
    profile_sizes sz;
    if (!sizes_of(profile, &sz) || len < 2 * (sz.key + sz.salt))
        return NULL;
    /* RFC 5764 4.2: client key, server key, client salt, server salt. */
    const uint8_t *client_key = material, *server_key = material + sz.key;
    const uint8_t *client_salt = material + 2 * sz.key;
    const uint8_t *server_salt = client_salt + sz.salt;
    media_srtp *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->out = srtp_xform_new(sz.suite, true, is_client ? client_key : server_key, sz.key,
                            is_client ? client_salt : server_salt, sz.salt);
    s->in = srtp_xform_new(sz.suite, false, is_client ? server_key : client_key, sz.key,
                           is_client ? server_salt : client_salt, sz.salt);
    if (!s->out || !s->in) {
        media_srtp_free(s);
        return NULL;
    }
    return s;
}

void media_srtp_free(media_srtp *s)
{
    if (!s)
        return;
    srtp_xform_free(s->in);
    srtp_xform_free(s->out);
    free(s);
}

static int result(int r)
{
    switch (r) {
    case SRTP_XFORM_OK:
        return MEDIA_SRTP_OK;
    case SRTP_XFORM_ENOSPACE:
        return MEDIA_SRTP_ENOSPACE;
    case SRTP_XFORM_EINVAL:
        return MEDIA_SRTP_EINVAL;
    default:
        return MEDIA_SRTP_EFAIL;
    }
}

int media_srtp_protect_rtp(media_srtp *s, uint8_t *buf, size_t *len, size_t cap)
{
    if (*len < 12)
        return MEDIA_SRTP_EINVAL;
    return result(srtp_xform_protect_rtp(s->out, buf, len, cap));
}

int media_srtp_protect_rtcp(media_srtp *s, uint8_t *buf, size_t *len, size_t cap)
{
    if (*len < 8)
        return MEDIA_SRTP_EINVAL;
    return result(srtp_xform_protect_rtcp(s->out, buf, len, cap));
}

int media_srtp_unprotect_rtp(media_srtp *s, uint8_t *buf, size_t *len)
{
    int r = srtp_xform_unprotect_rtp(s->in, buf, len);
    return r == SRTP_XFORM_OK ? MEDIA_SRTP_OK : r == SRTP_XFORM_EINVAL && *len < 12 ? MEDIA_SRTP_EINVAL : MEDIA_SRTP_EFAIL;
}

int media_srtp_unprotect_rtcp(media_srtp *s, uint8_t *buf, size_t *len)
{
    int r = srtp_xform_unprotect_rtcp(s->in, buf, len);
    return r == SRTP_XFORM_OK ? MEDIA_SRTP_OK : r == SRTP_XFORM_EINVAL && *len < 8 ? MEDIA_SRTP_EINVAL : MEDIA_SRTP_EFAIL;
}
