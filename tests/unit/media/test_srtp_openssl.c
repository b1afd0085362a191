/*
 * test_srtp_openssl: libsrtp2 on our OpenSSL ciphers gives byte for byte what libsrtp2 on its
 * own (Debian's NSS) ciphers gives. For both suites, RTP packets (CSRCs, a header extension,
 * across a sequence number rollover) and SRTCP are protected by sessions on the stock ciphers,
 * then the OpenSSL ones are installed and fresh sessions with the same keys protect the same
 * packets: the outputs must be equal, and the stock-protected packets must unprotect to the
 * plaintexts; replays and tampered packets are refused.
 */
#include <srtp2/srtp.h>
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "media/srtp_openssl.h"

#define CAP 1600
#define RTP_COUNT 40
#define RTCP_COUNT 5

typedef struct suite_case {
    const char *name;
    size_t salt;
    void (*policy)(srtp_crypto_policy_t *);
    uint8_t rtp[RTP_COUNT][CAP], rtcp[RTCP_COUNT][CAP];   /* protected on the stock ciphers */
    int rtp_len[RTP_COUNT], rtcp_len[RTCP_COUNT];
} suite_case;

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31 + i * 7);
}

static size_t make_rtp(uint8_t *b, uint32_t i)
{
    uint16_t seq = (uint16_t)(65520 + i);
    int cc = (int)(i % 3), ext = i % 4 == 1 ? 2 : 0;
    size_t h = 12, payload = 50 + i * 20;
    b[0] = (uint8_t)(0x80 | (ext ? 0x10 : 0) | cc);
    b[1] = 111;
    b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
    b[4] = 0, b[5] = 1, b[6] = (uint8_t)(seq >> 4), b[7] = (uint8_t)seq;
    b[8] = 0x11, b[9] = 0x22, b[10] = 0x33, b[11] = (uint8_t)(i < 30 ? 0x44 : 0x45);   /* a second SSRC */
    for (int k = 0; k < cc; k++, h += 4)
        fill(b + h, 4, 100 + (unsigned)k);
    if (ext) {
        b[h] = 0xBE, b[h + 1] = 0xDE, b[h + 2] = 0, b[h + 3] = (uint8_t)ext;
        fill(b + h + 4, 4 * (size_t)ext, 200);
        h += 4 + 4 * (size_t)ext;
    }
    fill(b + h, payload, seq);
    return h + payload;
}

static size_t make_rtcp(uint8_t *b, uint32_t i)
{
    size_t words = 7 + i;
    b[0] = 0x81, b[1] = 201, b[2] = 0, b[3] = (uint8_t)words;
    b[4] = 0xA1, b[5] = 0xB2, b[6] = 0xC3, b[7] = 0xD4;
    fill(b + 8, 4 * words - 4, (unsigned)words);
    return 4 + 4 * words;
}

static srtp_t session(const suite_case *c, bool outbound)
{
    uint8_t master[30];
    fill(master, 16, 1);
    fill(master + 16, c->salt, 2);
    srtp_policy_t pol;
    memset(&pol, 0, sizeof pol);
    c->policy(&pol.rtp);
    c->policy(&pol.rtcp);
    pol.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    pol.key = master;
    pol.window_size = 4096;
    pol.allow_repeat_tx = 1;
    srtp_t s = NULL;
    CHECK_INT(srtp_create(&s, &pol), srtp_err_status_ok);
    return s;
}

static void protect_all(suite_case *c)
{
    srtp_t out = session(c, true);
    for (uint32_t i = 0; i < RTP_COUNT; i++) {
        c->rtp_len[i] = (int)make_rtp(c->rtp[i], i);
        CHECK_INT(srtp_protect(out, c->rtp[i], &c->rtp_len[i]), srtp_err_status_ok);
    }
    for (uint32_t i = 0; i < RTCP_COUNT; i++) {
        c->rtcp_len[i] = (int)make_rtcp(c->rtcp[i], i);
        CHECK_INT(srtp_protect_rtcp(out, c->rtcp[i], &c->rtcp_len[i]), srtp_err_status_ok);
    }
    srtp_dealloc(out);
}

static void compare(suite_case *c)
{
    srtp_t out = session(c, true), in = session(c, false);
    uint8_t b[CAP], plain[CAP];
    int same = 0, back = 0;
    for (uint32_t i = 0; i < RTP_COUNT; i++) {
        int len = (int)make_rtp(b, i);
        CHECK_INT(srtp_protect(out, b, &len), srtp_err_status_ok);
        same += len == c->rtp_len[i] && memcmp(b, c->rtp[i], (size_t)len) == 0;
        memcpy(b, c->rtp[i], (size_t)c->rtp_len[i]);
        len = c->rtp_len[i];
        int plen = (int)make_rtp(plain, i);
        back += srtp_unprotect(in, b, &len) == srtp_err_status_ok && len == plen && memcmp(b, plain, (size_t)plen) == 0;
    }
    CHECK_INT(same, RTP_COUNT);
    CHECK_INT(back, RTP_COUNT);
    /* A replay, and a flipped bit. */
    int len = c->rtp_len[10];
    memcpy(b, c->rtp[10], (size_t)len);
    CHECK_INT(srtp_unprotect(in, b, &len), srtp_err_status_replay_fail);
    len = (int)make_rtp(b, RTP_COUNT);
    CHECK_INT(srtp_protect(out, b, &len), srtp_err_status_ok);
    b[len - 1] ^= 1;
    CHECK_INT(srtp_unprotect(in, b, &len), srtp_err_status_auth_fail);
    same = back = 0;
    for (uint32_t i = 0; i < RTCP_COUNT; i++) {
        len = (int)make_rtcp(b, i);
        CHECK_INT(srtp_protect_rtcp(out, b, &len), srtp_err_status_ok);
        same += len == c->rtcp_len[i] && memcmp(b, c->rtcp[i], (size_t)len) == 0;
        memcpy(b, c->rtcp[i], (size_t)c->rtcp_len[i]);
        len = c->rtcp_len[i];
        int plen = (int)make_rtcp(plain, i);
        back += srtp_unprotect_rtcp(in, b, &len) == srtp_err_status_ok && len == plen && memcmp(b, plain, (size_t)plen) == 0;
    }
    CHECK_INT(same, RTCP_COUNT);
    CHECK_INT(back, RTCP_COUNT);
    srtp_dealloc(out);
    srtp_dealloc(in);
    fprintf(stderr, "%s: same bytes as the stock ciphers\n", c->name);
}

/* libsrtp2 defines the CM setter as a macro: wrapped to be taken by address. */
static void policy_cm(srtp_crypto_policy_t *p) { srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(p); }
static void policy_gcm(srtp_crypto_policy_t *p) { srtp_crypto_policy_set_aes_gcm_128_16_auth(p); }

int main(void)
{
    static suite_case cm = {.name = "AES_CM_128_HMAC_SHA1_80", .salt = 14, .policy = policy_cm};
    static suite_case gcm = {.name = "AEAD_AES_128_GCM", .salt = 12, .policy = policy_gcm};
    CHECK_INT(srtp_init(), srtp_err_status_ok);
    protect_all(&cm);
    protect_all(&gcm);
    CHECK_INT(srtp_openssl_install(), 0);
    compare(&cm);
    compare(&gcm);
    srtp_shutdown();
    return check_summary("test_srtp_openssl");
}
