/*
 * srtp_xform: see srtp_xform.h.
 */
#include "media/srtp_xform.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define RTP_WINDOW 4096          /* powers of two: the bitmaps are indexed by index & (size - 1) */
#define RTCP_WINDOW 1024
#define MAX_STREAMS 64
#define CM_TAG 10
#define GCM_TAG 16
#define SHA1_LEN 20

typedef struct replay {
    uint64_t highest;
    bool any;
    uint64_t *bits;               /* inbound only: a circular bitmap indexed by index mod size */
} replay;

typedef struct stream {
    uint32_t ssrc;
    uint64_t last_use;
    replay rtp;                   /* highest RTP index (ROC << 16 | seq) */
    replay rtcp;                  /* highest SRTCP index */
} stream;

/* The keys of RTP or of RTCP. */
typedef struct keys {
    EVP_CIPHER_CTX *cipher;
    EVP_MAC_CTX *mac;             /* CM only */
    uint8_t salt[14];
} keys;

struct srtp_xform {
    srtp_xform_suite suite;
    bool outbound;
    size_t salt_len;
    keys rtp, rtcp;
    stream *streams;
    int nstreams, cap;
    int last;                     /* the stream found last */
    uint64_t clock;
};

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- keys (RFC 3711 4.3, key derivation rate 0; RFC 7714 11 for the 12-byte salt) ---- */

static bool derive(const uint8_t *master_key, const uint8_t *master_salt, size_t salt_len, uint8_t label,
                   uint8_t *out, size_t n)
{
    uint8_t iv[16] = {0}, zeros[32] = {0};
    memcpy(iv, master_salt, salt_len);
    iv[7] ^= label;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0;
    bool ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, master_key, iv) &&
              EVP_EncryptUpdate(c, out, &outl, zeros, (int)n) && outl == (int)n;
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(zeros, sizeof zeros);
    return ok;
}

static bool make_keys(srtp_xform *x, keys *k, const uint8_t *mk, const uint8_t *ms, uint8_t label_base)
{
    uint8_t enc[16], auth[SHA1_LEN];
    bool gcm = x->suite == SRTP_XFORM_AEAD_AES_128_GCM;
    bool ok = derive(mk, ms, x->salt_len, label_base, enc, sizeof enc) &&
              derive(mk, ms, x->salt_len, (uint8_t)(label_base + 2), k->salt, x->salt_len) &&
              (gcm || derive(mk, ms, x->salt_len, (uint8_t)(label_base + 1), auth, sizeof auth));
    k->cipher = ok ? EVP_CIPHER_CTX_new() : NULL;
    const EVP_CIPHER *alg = gcm ? EVP_aes_128_gcm() : EVP_aes_128_ctr();
    ok = k->cipher && (x->outbound ? EVP_EncryptInit_ex(k->cipher, alg, NULL, enc, NULL)
                                   : EVP_DecryptInit_ex(k->cipher, alg, NULL, enc, NULL));
    if (ok && !gcm) {
        EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        k->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
        EVP_MAC_free(hmac);
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0),
                               OSSL_PARAM_construct_end()};
        ok = k->mac && EVP_MAC_init(k->mac, auth, sizeof auth, params);
    }
    OPENSSL_cleanse(enc, sizeof enc);
    OPENSSL_cleanse(auth, sizeof auth);
    return ok;
}

static void free_keys(keys *k)
{
    EVP_CIPHER_CTX_free(k->cipher);
    EVP_MAC_CTX_free(k->mac);
    OPENSSL_cleanse(k->salt, sizeof k->salt);
}

srtp_xform *srtp_xform_new(srtp_xform_suite suite, bool outbound, const uint8_t *key, size_t key_len,
                           const uint8_t *salt, size_t salt_len)
{
    size_t want_salt = suite == SRTP_XFORM_AEAD_AES_128_GCM ? 12 : 14;
    if (key_len != 16 || salt_len != want_salt ||
        (suite != SRTP_XFORM_AEAD_AES_128_GCM && suite != SRTP_XFORM_AES_CM_HMAC_SHA1_80))
        return NULL;
    srtp_xform *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->suite = suite;
    x->outbound = outbound;
    x->salt_len = salt_len;
    if (!make_keys(x, &x->rtp, key, salt, 0x00) || !make_keys(x, &x->rtcp, key, salt, 0x03)) {
        srtp_xform_free(x);
        return NULL;
    }
    return x;
}

void srtp_xform_free(srtp_xform *x)
{
    if (!x)
        return;
    free_keys(&x->rtp);
    free_keys(&x->rtcp);
    for (int i = 0; i < x->nstreams; i++) {
        free(x->streams[i].rtp.bits);
        free(x->streams[i].rtcp.bits);
    }
    free(x->streams);
    free(x);
}

/* ---- streams and replay ---- */

static stream *find_stream(srtp_xform *x, uint32_t ssrc)
{
    if (x->last < x->nstreams && x->streams[x->last].ssrc == ssrc)
        return &x->streams[x->last];
    for (int i = 0; i < x->nstreams; i++)
        if (x->streams[i].ssrc == ssrc) {
            x->last = i;
            return &x->streams[i];
        }
    return NULL;
}

/* A new stream for ssrc (the least recently used one makes room when there are many). */
static stream *add_stream(srtp_xform *x, uint32_t ssrc)
{
    stream *s;
    if (x->nstreams == MAX_STREAMS) {
        s = &x->streams[0];
        for (int i = 1; i < x->nstreams; i++)
            if (x->streams[i].last_use < s->last_use)
                s = &x->streams[i];
        free(s->rtp.bits);
        free(s->rtcp.bits);
    } else {
        if (x->nstreams == x->cap) {
            int cap = x->cap ? x->cap * 2 : 4;
            stream *grown = realloc(x->streams, (size_t)cap * sizeof *grown);
            if (!grown)
                return NULL;
            x->streams = grown;
            x->cap = cap;
        }
        s = &x->streams[x->nstreams++];
    }
    memset(s, 0, sizeof *s);
    s->ssrc = ssrc;
    if (!x->outbound) {
        s->rtp.bits = calloc(RTP_WINDOW / 64, sizeof(uint64_t));
        s->rtcp.bits = calloc(RTCP_WINDOW / 64, sizeof(uint64_t));
        if (!s->rtp.bits || !s->rtcp.bits) {
            free(s->rtp.bits);
            free(s->rtcp.bits);
            *s = x->streams[--x->nstreams];   /* the last one fills the hole */
            x->last = 0;
            return NULL;
        }
    }
    x->last = (int)(s - x->streams);
    return s;
}

static bool replay_seen(const replay *r, uint32_t size, uint64_t idx)
{
    if (!r->any || idx > r->highest)
        return false;
    uint64_t behind = r->highest - idx;
    if (behind >= size)
        return true;   /* older than the window: treated as a replay */
    uint64_t bit = idx & (size - 1);
    return (r->bits[bit / 64] >> (bit % 64)) & 1;
}

static void replay_mark(replay *r, uint32_t size, uint64_t idx)
{
    if (r->any && idx <= r->highest) {
        if (r->bits) {
            uint64_t bit = idx & (size - 1);
            r->bits[bit / 64] |= (uint64_t)1 << (bit % 64);
        }
        return;
    }
    if (r->bits) {
        /* Positions between the old highest and idx held indices a window ago: cleared. */
        if (!r->any || idx - r->highest >= size) {
            memset(r->bits, 0, size / 8);
        } else {
            for (uint64_t i = r->highest + 1; i < idx; i++) {
                uint64_t bit = i & (size - 1);
                r->bits[bit / 64] &= ~((uint64_t)1 << (bit % 64));
            }
        }
        uint64_t bit = idx & (size - 1);
        r->bits[bit / 64] |= (uint64_t)1 << (bit % 64);
    }
    r->highest = idx;
    r->any = true;
}

/* RFC 3711 3.3.1: the packet index from its sequence number and the highest seen. false
 * when it would fall before the stream's first rollover (ROC -1). */
static bool rtp_index(const stream *s, uint16_t seq, uint64_t *idx)
{
    if (!s || !s->rtp.any) {
        *idx = seq;
        return true;
    }
    uint32_t roc = (uint32_t)(s->rtp.highest >> 16);
    uint16_t s_l = (uint16_t)s->rtp.highest;
    int64_t v = roc;
    if (s_l < 32768) {
        if ((int)seq - (int)s_l > 32768)
            v = (int64_t)roc - 1;
    } else if ((int)s_l - 32768 > (int)seq) {
        v = (int64_t)roc + 1;
    }
    if (v < 0 || v > UINT32_MAX)
        return false;
    *idx = (uint64_t)v << 16 | seq;
    return true;
}

/* ---- RTP ---- */

static int rtp_header_len(const uint8_t *b, size_t len)
{
    if (len < 12 || (b[0] >> 6) != 2)
        return -1;
    size_t h = 12 + 4 * (size_t)(b[0] & 0x0f);
    if (b[0] & 0x10) {
        if (len < h + 4)
            return -1;
        h += 4 + 4 * (size_t)get16(b + h + 2);
    }
    return h <= len ? (int)h : -1;
}

/* AES-CM IV (RFC 3711 4.1.1): salt * 2^16 XOR SSRC * 2^64 XOR index * 2^16. */
static void cm_iv(uint8_t iv[16], const uint8_t *salt, uint32_t ssrc, uint64_t idx)
{
    memset(iv, 0, 16);
    memcpy(iv, salt, 14);
    iv[4] ^= (uint8_t)(ssrc >> 24), iv[5] ^= (uint8_t)(ssrc >> 16), iv[6] ^= (uint8_t)(ssrc >> 8), iv[7] ^= (uint8_t)ssrc;
    for (int i = 0; i < 6; i++)
        iv[8 + i] ^= (uint8_t)(idx >> (40 - 8 * i));
}

/* GCM IV (RFC 7714 8.1 / 9.1): 00 00 || SSRC || ROC or 00 00 || SEQ or SRTCP index, XOR salt. */
static void gcm_iv(uint8_t iv[12], const uint8_t *salt, uint32_t ssrc, uint32_t hi, uint32_t lo)
{
    uint8_t raw[12] = {0};
    put32(raw + 2, ssrc);
    if (hi != UINT32_MAX) {
        /* RTP: ROC (4 bytes) then SEQ (2) */
        put32(raw + 6, hi);
        raw[10] = (uint8_t)(lo >> 8);
        raw[11] = (uint8_t)lo;
    } else {
        /* RTCP: 2 zero bytes then the 31-bit index */
        put32(raw + 8, lo);
    }
    for (int i = 0; i < 12; i++)
        iv[i] = raw[i] ^ salt[i];
}

static bool cm_crypt(keys *k, const uint8_t iv[16], uint8_t *p, size_t n)
{
    int outl = 0;
    return EVP_CipherInit_ex(k->cipher, NULL, NULL, NULL, iv, -1) &&
           (n == 0 || (EVP_CipherUpdate(k->cipher, p, &outl, p, (int)n) && outl == (int)n));
}

/* HMAC-SHA1 of a || b, truncated to CM_TAG bytes. */
static bool cm_tag(keys *k, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, uint8_t out[CM_TAG])
{
    uint8_t full[SHA1_LEN];
    size_t n = 0;
    if (!EVP_MAC_init(k->mac, NULL, 0, NULL) || !EVP_MAC_update(k->mac, a, alen) ||
        (blen && !EVP_MAC_update(k->mac, b, blen)) || !EVP_MAC_final(k->mac, full, &n, sizeof full) || n != SHA1_LEN)
        return false;
    memcpy(out, full, CM_TAG);
    return true;
}

/* GCM over p[0..n) in place with aad (two parts); tag written (protect) or checked. */
static bool gcm_seal(keys *k, bool encrypt, const uint8_t iv[12], const uint8_t *aad1, size_t aad1_len,
                     const uint8_t *aad2, size_t aad2_len, uint8_t *p, size_t n, uint8_t *tag)
{
    int outl = 0;
    if (!EVP_CipherInit_ex(k->cipher, NULL, NULL, NULL, iv, -1))
        return false;
    if (!encrypt && !EVP_CIPHER_CTX_ctrl(k->cipher, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag))
        return false;
    if (!EVP_CipherUpdate(k->cipher, NULL, &outl, aad1, (int)aad1_len) ||
        (aad2_len && !EVP_CipherUpdate(k->cipher, NULL, &outl, aad2, (int)aad2_len)) ||
        (n && (!EVP_CipherUpdate(k->cipher, p, &outl, p, (int)n) || outl != (int)n)) ||
        EVP_CipherFinal_ex(k->cipher, p + n, &outl) <= 0)
        return false;
    return !encrypt || EVP_CIPHER_CTX_ctrl(k->cipher, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag);
}

int srtp_xform_protect_rtp(srtp_xform *x, uint8_t *buf, size_t *len, size_t cap)
{
    int h = rtp_header_len(buf, *len);
    if (h < 0 || !x->outbound)
        return SRTP_XFORM_EINVAL;
    bool gcm = x->suite == SRTP_XFORM_AEAD_AES_128_GCM;
    size_t tag = gcm ? GCM_TAG : CM_TAG;
    if (cap < *len + tag)
        return SRTP_XFORM_ENOSPACE;
    uint32_t ssrc = get32(buf + 8);
    stream *s = find_stream(x, ssrc);
    if (!s && !(s = add_stream(x, ssrc)))
        return SRTP_XFORM_EINVAL;
    s->last_use = ++x->clock;
    uint64_t idx;
    if (!rtp_index(s, get16(buf + 2), &idx))
        idx = get16(buf + 2);   /* a sender going back before its first rollover: ROC 0 */
    uint32_t roc = (uint32_t)(idx >> 16);
    size_t n = *len - (size_t)h;
    if (gcm) {
        uint8_t iv[12];
        gcm_iv(iv, x->rtp.salt, ssrc, roc, (uint32_t)(idx & 0xffff));
        if (!gcm_seal(&x->rtp, true, iv, buf, (size_t)h, NULL, 0, buf + h, n, buf + *len))
            return SRTP_XFORM_EINVAL;
    } else {
        uint8_t iv[16], r[4];
        cm_iv(iv, x->rtp.salt, ssrc, idx);
        put32(r, roc);
        if (!cm_crypt(&x->rtp, iv, buf + h, n) || !cm_tag(&x->rtp, buf, *len, r, 4, buf + *len))
            return SRTP_XFORM_EINVAL;
    }
    if (!s->rtp.any || idx > s->rtp.highest)
        replay_mark(&s->rtp, RTP_WINDOW, idx);
    *len += tag;
    return SRTP_XFORM_OK;
}

int srtp_xform_unprotect_rtp(srtp_xform *x, uint8_t *buf, size_t *len)
{
    bool gcm = x->suite == SRTP_XFORM_AEAD_AES_128_GCM;
    size_t tag = gcm ? GCM_TAG : CM_TAG;
    int h = rtp_header_len(buf, *len);
    if (h < 0 || x->outbound || *len < (size_t)h + tag)
        return SRTP_XFORM_EINVAL;
    uint32_t ssrc = get32(buf + 8);
    stream *s = find_stream(x, ssrc);
    uint64_t idx;
    if (!rtp_index(s, get16(buf + 2), &idx) || (s && replay_seen(&s->rtp, RTP_WINDOW, idx)))
        return SRTP_XFORM_EREPLAY;
    uint32_t roc = (uint32_t)(idx >> 16);
    size_t n = *len - (size_t)h - tag;
    if (gcm) {
        uint8_t iv[12];
        gcm_iv(iv, x->rtp.salt, ssrc, roc, (uint32_t)(idx & 0xffff));
        if (!gcm_seal(&x->rtp, false, iv, buf, (size_t)h, NULL, 0, buf + h, n, buf + h + n))
            return SRTP_XFORM_EAUTH;
    } else {
        uint8_t iv[16], r[4], want[CM_TAG];
        put32(r, roc);
        if (!cm_tag(&x->rtp, buf, (size_t)h + n, r, 4, want) || CRYPTO_memcmp(want, buf + h + n, CM_TAG) != 0)
            return SRTP_XFORM_EAUTH;
        cm_iv(iv, x->rtp.salt, ssrc, idx);
        if (!cm_crypt(&x->rtp, iv, buf + h, n))
            return SRTP_XFORM_EINVAL;
    }
    if (!s && !(s = add_stream(x, ssrc)))
        return SRTP_XFORM_EINVAL;
    s->last_use = ++x->clock;
    replay_mark(&s->rtp, RTP_WINDOW, idx);
    *len -= tag;
    return SRTP_XFORM_OK;
}

/* ---- RTCP ---- */

#define E_FLAG 0x80000000u

int srtp_xform_protect_rtcp(srtp_xform *x, uint8_t *buf, size_t *len, size_t cap)
{
    if (*len < 8 || !x->outbound)
        return SRTP_XFORM_EINVAL;
    bool gcm = x->suite == SRTP_XFORM_AEAD_AES_128_GCM;
    size_t tag = gcm ? GCM_TAG : CM_TAG;
    if (cap < *len + 4 + tag)
        return SRTP_XFORM_ENOSPACE;
    uint32_t ssrc = get32(buf + 4);
    stream *s = find_stream(x, ssrc);
    if (!s && !(s = add_stream(x, ssrc)))
        return SRTP_XFORM_EINVAL;
    s->last_use = ++x->clock;
    uint32_t idx = s->rtcp.any ? (uint32_t)(s->rtcp.highest + 1) & 0x7fffffffu : 0;
    s->rtcp.highest = idx;
    s->rtcp.any = true;
    size_t n = *len - 8;
    uint8_t ei[4];
    put32(ei, E_FLAG | idx);
    if (gcm) {
        uint8_t iv[12];
        gcm_iv(iv, x->rtcp.salt, ssrc, UINT32_MAX, idx);
        if (!gcm_seal(&x->rtcp, true, iv, buf, 8, ei, 4, buf + 8, n, buf + *len))
            return SRTP_XFORM_EINVAL;
        memcpy(buf + *len + GCM_TAG, ei, 4);
    } else {
        uint8_t iv[16];
        cm_iv(iv, x->rtcp.salt, ssrc, idx);
        if (!cm_crypt(&x->rtcp, iv, buf + 8, n))
            return SRTP_XFORM_EINVAL;
        memcpy(buf + *len, ei, 4);
        if (!cm_tag(&x->rtcp, buf, *len + 4, NULL, 0, buf + *len + 4))
            return SRTP_XFORM_EINVAL;
    }
    *len += 4 + tag;
    return SRTP_XFORM_OK;
}

int srtp_xform_unprotect_rtcp(srtp_xform *x, uint8_t *buf, size_t *len)
{
    bool gcm = x->suite == SRTP_XFORM_AEAD_AES_128_GCM;
    size_t tag = gcm ? GCM_TAG : CM_TAG;
    if (x->outbound || *len < 8 + 4 + tag || (buf[0] >> 6) != 2)
        return SRTP_XFORM_EINVAL;
    uint32_t ssrc = get32(buf + 4);
    /* CM: ... E|index, tag. GCM: ... tag, E|index. */
    const uint8_t *ei = gcm ? buf + *len - 4 : buf + *len - tag - 4;
    uint32_t word = get32(ei), idx = word & 0x7fffffffu;
    if (!(word & E_FLAG))
        return SRTP_XFORM_EINVAL;   /* unencrypted SRTCP: nobody we talk to sends it */
    stream *s = find_stream(x, ssrc);
    if (s && replay_seen(&s->rtcp, RTCP_WINDOW, idx))
        return SRTP_XFORM_EREPLAY;
    size_t n = *len - 8 - 4 - tag;
    if (gcm) {
        uint8_t iv[12];
        gcm_iv(iv, x->rtcp.salt, ssrc, UINT32_MAX, idx);
        if (!gcm_seal(&x->rtcp, false, iv, buf, 8, ei, 4, buf + 8, n, buf + 8 + n))
            return SRTP_XFORM_EAUTH;
    } else {
        uint8_t iv[16], want[CM_TAG];
        if (!cm_tag(&x->rtcp, buf, *len - tag, NULL, 0, want) || CRYPTO_memcmp(want, buf + *len - tag, CM_TAG) != 0)
            return SRTP_XFORM_EAUTH;
        cm_iv(iv, x->rtcp.salt, ssrc, idx);
        if (!cm_crypt(&x->rtcp, iv, buf + 8, n))
            return SRTP_XFORM_EINVAL;
    }
    if (!s && !(s = add_stream(x, ssrc)))
        return SRTP_XFORM_EINVAL;
    s->last_use = ++x->clock;
    replay_mark(&s->rtcp, RTCP_WINDOW, idx);
    *len = 8 + n;
    return SRTP_XFORM_OK;
}
