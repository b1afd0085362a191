/*
 * srtp: see srtp.h. libsrtp2 does SRTP; its ciphers and MAC are OpenSSL's (srtp_openssl.h). One libsrtp session per direction so that inbound uses ssrc_any_inbound
 * (any remote SSRC is accepted as it appears) and outbound ssrc_any_outbound (we forward
 * whatever SSRCs the other leg of a call sends).
 */
#include "media/srtp.h"

#include <glib.h>
#include <srtp2/srtp.h>
#include <stdlib.h>
#include <string.h>

#include "media/srtp_openssl.h"
#include "util/log.h"

/* A large replay window: forwarded video bursts and retransmissions arrive out of order. */
#define SRTP_REPLAY_WINDOW 4096
/* We never use an MKI, so libsrtp writes at most a 16-byte tag plus the 4-byte SRTCP index
 * (its SRTP_MAX_TRAILER_LEN counts a 128-byte MKI we don't have). */
#define SRTP_SPARE_NEEDED 32

struct media_srtp {
    srtp_t in;
    srtp_t out;
};

typedef struct profile_sizes {
    size_t key, salt;
} profile_sizes;

static bool sizes_of(media_srtp_profile profile, profile_sizes *out)
{
    switch (profile) {
    case MEDIA_SRTP_AES128_CM_SHA1_80:
        *out = (profile_sizes){16, 14};
        return true;
    case MEDIA_SRTP_AEAD_AES_128_GCM:
        *out = (profile_sizes){16, 12};
        return true;
    }
    return false;
}

static gsize global_once;
static int global_result;

int media_srtp_global_init(void)
{
    if (g_once_init_enter(&global_once)) {
        srtp_err_status_t st = srtp_init();
        global_result = st == srtp_err_status_ok ? MEDIA_SRTP_OK : MEDIA_SRTP_EFAIL;
        if (st != srtp_err_status_ok)
            LOG_ERROR("srtp", "srtp_init failed: %d", (int)st);
        else
            srtp_openssl_install();   /* OpenSSL's AES and HMAC under libsrtp2 (srtp_openssl.h) */
        g_once_init_leave(&global_once, 1);
    }
    return global_result;
}

size_t media_srtp_keying_len(media_srtp_profile profile)
{
    profile_sizes sz;
    return sizes_of(profile, &sz) ? 2 * (sz.key + sz.salt) : 0;
}

static void set_crypto(media_srtp_profile profile, srtp_policy_t *pol)
{
    if (profile == MEDIA_SRTP_AEAD_AES_128_GCM) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol->rtcp);
    } else {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtcp);
    }
}

/* key||salt is what libsrtp expects as the master key for one direction. */
static int make_session(srtp_t *out, media_srtp_profile profile, const uint8_t *key,
                        const uint8_t *salt, const profile_sizes *sz, srtp_ssrc_type_t type)
{
    uint8_t master[32 + 14];
    memcpy(master, key, sz->key);
    memcpy(master + sz->key, salt, sz->salt);
    srtp_policy_t pol;
    memset(&pol, 0, sizeof pol);
    set_crypto(profile, &pol);
    pol.ssrc.type = type;
    pol.key = master;
    pol.window_size = SRTP_REPLAY_WINDOW;
    pol.allow_repeat_tx = 1;   /* NACK retransmissions resend an already protected index */
    pol.next = NULL;
    srtp_err_status_t st = srtp_create(out, &pol);
    memset(master, 0, sizeof master);
    if (st != srtp_err_status_ok) {
        LOG_WARN("srtp", "srtp_create failed: %d", (int)st);
        return MEDIA_SRTP_EFAIL;
    }
    return MEDIA_SRTP_OK;
}

media_srtp *media_srtp_create(media_srtp_profile profile, const uint8_t *material, size_t len,
                              bool is_client)
{
    profile_sizes sz;
    if (!sizes_of(profile, &sz) || len < 2 * (sz.key + sz.salt))
        return NULL;
    if (media_srtp_global_init() != MEDIA_SRTP_OK)
        return NULL;
    const uint8_t *client_key = material, *server_key = material + sz.key;
    const uint8_t *client_salt = material + 2 * sz.key;
    const uint8_t *server_salt = client_salt + sz.salt;
    media_srtp *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    const uint8_t *local_key = is_client ? client_key : server_key;
    const uint8_t *local_salt = is_client ? client_salt : server_salt;
    const uint8_t *remote_key = is_client ? server_key : client_key;
    const uint8_t *remote_salt = is_client ? server_salt : client_salt;
    if (make_session(&s->out, profile, local_key, local_salt, &sz, ssrc_any_outbound) != 0) {
        free(s);
        return NULL;
    }
    if (make_session(&s->in, profile, remote_key, remote_salt, &sz, ssrc_any_inbound) != 0) {
        srtp_dealloc(s->out);
        free(s);
        return NULL;
    }
    return s;
}

void media_srtp_free(media_srtp *s)
{
    if (!s)
        return;
    srtp_dealloc(s->in);
    srtp_dealloc(s->out);
    free(s);
}

int media_srtp_protect_rtp(media_srtp *s, uint8_t *buf, size_t *len, size_t cap)
{
    if (*len < 12 || cap < *len + SRTP_SPARE_NEEDED || *len > INT32_MAX)
        return *len < 12 ? MEDIA_SRTP_EINVAL : MEDIA_SRTP_ENOSPACE;
    int n = (int)*len;
    if (srtp_protect(s->out, buf, &n) != srtp_err_status_ok)
        return MEDIA_SRTP_EFAIL;
    *len = (size_t)n;
    return MEDIA_SRTP_OK;
}

int media_srtp_protect_rtcp(media_srtp *s, uint8_t *buf, size_t *len, size_t cap)
{
    if (*len < 8 || cap < *len + SRTP_SPARE_NEEDED || *len > INT32_MAX)
        return *len < 8 ? MEDIA_SRTP_EINVAL : MEDIA_SRTP_ENOSPACE;
    int n = (int)*len;
    if (srtp_protect_rtcp(s->out, buf, &n) != srtp_err_status_ok)
        return MEDIA_SRTP_EFAIL;
    *len = (size_t)n;
    return MEDIA_SRTP_OK;
}

int media_srtp_unprotect_rtp(media_srtp *s, uint8_t *buf, size_t *len)
{
    if (*len < 12 || *len > INT32_MAX)
        return MEDIA_SRTP_EINVAL;
    int n = (int)*len;
    if (srtp_unprotect(s->in, buf, &n) != srtp_err_status_ok)
        return MEDIA_SRTP_EFAIL;
    *len = (size_t)n;
    return MEDIA_SRTP_OK;
}

int media_srtp_unprotect_rtcp(media_srtp *s, uint8_t *buf, size_t *len)
{
    if (*len < 8 || *len > INT32_MAX)
        return MEDIA_SRTP_EINVAL;
    int n = (int)*len;
    if (srtp_unprotect_rtcp(s->in, buf, &n) != srtp_err_status_ok)
        return MEDIA_SRTP_EFAIL;
    *len = (size_t)n;
    return MEDIA_SRTP_OK;
}
