/*
 * test_srtp_xform: our SRTP transform against libsrtp2 (the reference implementation), for
 * both suites: RTP packets (with CSRCs, with a header extension, across a sequence number
 * rollover, out of order) protected by either side are unprotected by the other to the same
 * bytes, and our protected RTP is byte for byte libsrtp's; SRTCP both ways; replays, packets
 * older than the window and tampered packets refused.
 */
#include <srtp2/srtp.h>
#include <stdlib.h>

#include "check.h"
#include "media/srtp_xform.h"

#define CAP 1600

typedef struct suite_case {
    const char *name;
    srtp_xform_suite suite;
    size_t salt;
    void (*policy)(srtp_crypto_policy_t *);
} suite_case;

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31 + i * 7);
}

/* An RTP packet: cc CSRCs, an extension of ext words when ext > 0, payload bytes. */
static size_t make_rtp(uint8_t *b, uint16_t seq, uint32_t ssrc, int cc, int ext, size_t payload)
{
    size_t h = 12;
    b[0] = (uint8_t)(0x80 | (ext ? 0x10 : 0) | cc);
    b[1] = 111;
    b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
    b[4] = 0, b[5] = 1, b[6] = (uint8_t)(seq >> 4), b[7] = (uint8_t)seq;
    b[8] = (uint8_t)(ssrc >> 24), b[9] = (uint8_t)(ssrc >> 16), b[10] = (uint8_t)(ssrc >> 8), b[11] = (uint8_t)ssrc;
    for (int i = 0; i < cc; i++, h += 4)
        fill(b + h, 4, 100 + (unsigned)i);
    if (ext) {
        b[h] = 0xBE, b[h + 1] = 0xDE, b[h + 2] = 0, b[h + 3] = (uint8_t)ext;
        fill(b + h + 4, 4 * (size_t)ext, 200);
        h += 4 + 4 * (size_t)ext;
    }
    fill(b + h, payload, seq);
    return h + payload;
}

static size_t make_rtcp(uint8_t *b, uint32_t ssrc, size_t words)
{
    b[0] = 0x81, b[1] = 201, b[2] = 0, b[3] = (uint8_t)(words);
    b[4] = (uint8_t)(ssrc >> 24), b[5] = (uint8_t)(ssrc >> 16), b[6] = (uint8_t)(ssrc >> 8), b[7] = (uint8_t)ssrc;
    fill(b + 8, 4 * words - 4, (unsigned)words);
    return 4 + 4 * words;
}

static srtp_t lib_session(const suite_case *c, const uint8_t *key, const uint8_t *salt, bool outbound)
{
    uint8_t master[30];
    memcpy(master, key, 16);
    memcpy(master + 16, salt, c->salt);
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

static void run_suite(const suite_case *c)
{
    uint8_t key[16], salt[14];
    fill(key, sizeof key, 1);
    fill(salt, sizeof salt, 2);
    srtp_t lib_out = lib_session(c, key, salt, true), lib_in = lib_session(c, key, salt, false);
    srtp_xform *our_out = srtp_xform_new(c->suite, true, key, 16, salt, c->salt);
    srtp_xform *our_in = srtp_xform_new(c->suite, false, key, 16, salt, c->salt);
    CHECK(our_out && our_in);
    CHECK(srtp_xform_new(c->suite, true, key, 16, salt, c->salt + 1) == NULL);

    /* RTP: sequence numbers across a rollover, shapes varied; both directions each time. */
    uint8_t plain[CAP], a[CAP], b[CAP];
    int ok_ours = 0, ok_lib = 0, same = 0, n = 0;
    for (uint32_t i = 0; i < 40; i++, n++) {
        uint16_t seq = (uint16_t)(65520 + i);
        size_t len = make_rtp(plain, seq, 0x11223344, (int)(i % 3), (int)(i % 4 == 1 ? 2 : 0), 50 + i * 20);
        size_t la = len, lb = len;
        memcpy(a, plain, len);
        memcpy(b, plain, len);
        CHECK_INT(srtp_xform_protect_rtp(our_out, a, &la, CAP), SRTP_XFORM_OK);
        int lbi = (int)lb;
        CHECK_INT(srtp_protect(lib_out, b, &lbi), srtp_err_status_ok);
        same += la == (size_t)lbi && memcmp(a, b, la) == 0;
        /* ours -> libsrtp, libsrtp -> ours */
        int lai = (int)la;
        ok_lib += srtp_unprotect(lib_in, a, &lai) == srtp_err_status_ok && (size_t)lai == len && memcmp(a, plain, len) == 0;
        size_t lbs = (size_t)lbi;
        uint8_t copy[CAP];
        memcpy(copy, b, lbs);
        ok_ours += srtp_xform_unprotect_rtp(our_in, b, &lbs) == SRTP_XFORM_OK && lbs == len && memcmp(b, plain, len) == 0;
        if (i == 30) {
            /* The same packet again is a replay; a flipped payload bit fails authentication. */
            size_t l2 = (size_t)lbi;
            CHECK_INT(srtp_xform_unprotect_rtp(our_in, copy, &l2), SRTP_XFORM_EREPLAY);
        }
    }
    CHECK_INT(same, n);
    CHECK_INT(ok_lib, n);
    CHECK_INT(ok_ours, n);

    /* Out of order inside the window, then one older than the window. */
    uint8_t pk[3][CAP];
    size_t pl[3];
    uint16_t seqs[3] = {30, 28, 29};
    for (int i = 0; i < 3; i++) {
        pl[i] = make_rtp(pk[i], seqs[i], 0x11223344, 0, 0, 100);
        int l = (int)pl[i];
        CHECK_INT(srtp_protect(lib_out, pk[i], &l), srtp_err_status_ok);
        pl[i] = (size_t)l;
    }
    for (int i = 0; i < 3; i++)
        CHECK_INT(srtp_xform_unprotect_rtp(our_in, pk[i], &pl[i]), SRTP_XFORM_OK);
    size_t l = make_rtp(a, 5000, 0x11223344, 0, 0, 100);
    int li = (int)l;
    CHECK_INT(srtp_protect(lib_out, a, &li), srtp_err_status_ok);
    l = (size_t)li;
    CHECK_INT(srtp_xform_unprotect_rtp(our_in, a, &l), SRTP_XFORM_OK);
    l = make_rtp(a, 31, 0x11223344, 0, 0, 100);   /* 4969 behind: past the 4096 window */
    CHECK_INT(srtp_xform_protect_rtp(our_out, a, &l, CAP), SRTP_XFORM_OK);   /* libsrtp refuses to */
    CHECK_INT(srtp_xform_unprotect_rtp(our_in, a, &l), SRTP_XFORM_EREPLAY);
    l = make_rtp(a, 5001, 0x11223344, 0, 0, 100);
    li = (int)l;
    CHECK_INT(srtp_protect(lib_out, a, &li), srtp_err_status_ok);
    a[li - 1] ^= 1;
    l = (size_t)li;
    CHECK_INT(srtp_xform_unprotect_rtp(our_in, a, &l), SRTP_XFORM_EAUTH);
    /* A new SSRC appears: accepted as it comes (ssrc_any_inbound). */
    l = make_rtp(a, 7, 0x55667788, 1, 1, 30);
    li = (int)l;
    CHECK_INT(srtp_protect(lib_out, a, &li), srtp_err_status_ok);
    l = (size_t)li;
    CHECK_INT(srtp_xform_unprotect_rtp(our_in, a, &l), SRTP_XFORM_OK);

    /* SRTCP both ways. */
    for (uint32_t i = 0; i < 5; i++) {
        size_t len = make_rtcp(plain, 0xA1B2C3D4, 7 + i);
        memcpy(a, plain, len);
        size_t la = len;
        CHECK_INT(srtp_xform_protect_rtcp(our_out, a, &la, CAP), SRTP_XFORM_OK);
        int lai = (int)la;
        CHECK_INT(srtp_unprotect_rtcp(lib_in, a, &lai), srtp_err_status_ok);
        CHECK(lai == (int)len && memcmp(a, plain, len) == 0);
        memcpy(b, plain, len);
        int lbi = (int)len;
        CHECK_INT(srtp_protect_rtcp(lib_out, b, &lbi), srtp_err_status_ok);
        uint8_t copy[CAP];
        memcpy(copy, b, (size_t)lbi);
        size_t lb = (size_t)lbi;
        CHECK_INT(srtp_xform_unprotect_rtcp(our_in, b, &lb), SRTP_XFORM_OK);
        CHECK(lb == len && memcmp(b, plain, len) == 0);
        lb = (size_t)lbi;
        CHECK_INT(srtp_xform_unprotect_rtcp(our_in, copy, &lb), SRTP_XFORM_EREPLAY);
    }
    /* Garbage and short input. */
    size_t gl = 5;
    CHECK_INT(srtp_xform_unprotect_rtp(our_in, a, &gl), SRTP_XFORM_EINVAL);
    gl = 20;
    a[0] = 0x9f;   /* 15 CSRCs in 20 bytes */
    CHECK_INT(srtp_xform_unprotect_rtp(our_in, a, &gl), SRTP_XFORM_EINVAL);
    gl = make_rtp(a, 1, 1, 0, 0, 10);
    CHECK_INT(srtp_xform_protect_rtp(our_out, a, &gl, gl + 4), SRTP_XFORM_ENOSPACE);
    CHECK_INT(srtp_xform_protect_rtp(our_in, a, &gl, CAP), SRTP_XFORM_EINVAL);

    srtp_xform_free(our_out);
    srtp_xform_free(our_in);
    srtp_dealloc(lib_out);
    srtp_dealloc(lib_in);
    fprintf(stderr, "%s: ok\n", c->name);
}

/* libsrtp2 defines the CM setter as a macro: wrapped to be taken by address. */
static void policy_cm(srtp_crypto_policy_t *p) { srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(p); }
static void policy_gcm(srtp_crypto_policy_t *p) { srtp_crypto_policy_set_aes_gcm_128_16_auth(p); }

int main(void)
{
    CHECK_INT(srtp_init(), srtp_err_status_ok);
    suite_case cm = {"AES_CM_128_HMAC_SHA1_80", SRTP_XFORM_AES_CM_HMAC_SHA1_80, 14,
                     policy_cm};
    suite_case gcm = {"AEAD_AES_128_GCM", SRTP_XFORM_AEAD_AES_128_GCM, 12,
                      policy_gcm};
    run_suite(&cm);
    run_suite(&gcm);
    srtp_shutdown();
    return check_summary("test_srtp_xform");
}
