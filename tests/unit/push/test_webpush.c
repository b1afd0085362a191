/*
 * webpush: RFC 8291 Appendix A byte for byte (and opened again with the user agent's key),
 * round trips with fresh keys, VAPID keys stored and reloaded, the VAPID JWT checked the way
 * a push service checks it (r || s re-encoded as DER and verified by OpenSSL, aud and exp
 * read back), endpoint origins, and every refused input.
 */
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "check.h"
#include "push/webpush.h"

/* RFC 8291 Appendix A */
static const char rfc_plaintext[] = "When I grow up, I want to be a watermelon";
static const char rfc_as_private[] = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
static const char rfc_as_public[] =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
static const char rfc_ua_private[] = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
static const char rfc_ua_public[] =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
static const char rfc_salt[] = "DGv6ra1nlYgDCS1FRnbzlw";
static const char rfc_auth[] = "BTBZMqHH6r4Tts7J_aSIgg";
static const char rfc_body[] =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
    "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
    "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

static size_t unb64(const char *s, uint8_t *out, size_t cap)
{
    ssize_t n = b64url_decode(s, strlen(s), out, cap);
    CHECK(n >= 0);
    return n < 0 ? 0 : (size_t)n;
}

static void b64(const uint8_t *in, size_t n, char *out, size_t cap)
{
    CHECK(b64url_encode(in, n, out, cap) >= 0);
}

static void test_rfc8291_appendix_a(void)
{
    uint8_t salt[16], as_priv[32], expect[256], body[256], pt[128];
    char body_b64[400];
    CHECK_INT(unb64(rfc_salt, salt, sizeof(salt)), 16);
    CHECK_INT(unb64(rfc_as_private, as_priv, sizeof(as_priv)), 32);
    size_t expect_len = unb64(rfc_body, expect, sizeof(expect));
    size_t plen = strlen(rfc_plaintext), n = 0;
    webpush_encrypt_opts opts = {.salt = salt, .as_private = as_priv};
    CHECK_INT(webpush_encrypt(rfc_ua_public, rfc_auth, (const uint8_t *)rfc_plaintext, plen,
                              &opts, body, sizeof(body), &n), WEBPUSH_OK);
    CHECK_INT(n, WEBPUSH_BODY_LEN(plen));
    CHECK_INT(n, expect_len);
    CHECK(memcmp(body, expect, expect_len) == 0);
    b64(body, n, body_b64, sizeof(body_b64));
    CHECK_STR(body_b64, rfc_body);

    /* the user agent's side opens the RFC's body */
    uint8_t ua_priv[32], auth[16];
    unb64(rfc_ua_private, ua_priv, sizeof(ua_priv));
    unb64(rfc_auth, auth, sizeof(auth));
    CHECK_INT(webpush_decrypt(ua_priv, auth, expect, expect_len, pt, sizeof(pt), &n),
              WEBPUSH_OK);
    CHECK_INT(n, plen);
    CHECK(memcmp(pt, rfc_plaintext, plen) == 0);
}

/* A fresh subscription: the user agent's scalar, p256dh and auth as a browser makes them. */
typedef struct ua_keys {
    uint8_t priv[32];
    uint8_t auth[16];
    char p256dh[WEBPUSH_PUBLIC_B64_LEN + 1];
    char auth_b64[32];
} ua_keys;

static void ua_make(ua_keys *ua)
{
    webpush_vapid *k = NULL;
    char priv_b64[64];
    CHECK_INT(webpush_vapid_generate(&k), WEBPUSH_OK);
    CHECK_INT(webpush_vapid_private_b64(k, priv_b64, sizeof(priv_b64)), WEBPUSH_OK);
    unb64(priv_b64, ua->priv, sizeof(ua->priv));
    snprintf(ua->p256dh, sizeof(ua->p256dh), "%s", webpush_vapid_public_b64(k));
    webpush_vapid_free(k);
    CHECK(RAND_bytes(ua->auth, sizeof(ua->auth)) == 1);
    b64(ua->auth, sizeof(ua->auth), ua->auth_b64, sizeof(ua->auth_b64));
}

static void test_roundtrip(void)
{
    static uint8_t pt[WEBPUSH_PLAINTEXT_MAX], body[WEBPUSH_BODY_LEN(WEBPUSH_PLAINTEXT_MAX)],
        body2[WEBPUSH_BODY_LEN(WEBPUSH_PLAINTEXT_MAX)], back[WEBPUSH_PLAINTEXT_MAX + 1];
    ua_keys ua;
    ua_make(&ua);
    CHECK(RAND_bytes(pt, sizeof(pt)) == 1);
    const size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, WEBPUSH_PLAINTEXT_MAX};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = 0, m = 0, back_len = 0;
        CHECK_INT(webpush_encrypt(ua.p256dh, ua.auth_b64, pt, sizes[i], NULL, body,
                                  sizeof(body), &n), WEBPUSH_OK);
        CHECK_INT(n, WEBPUSH_BODY_LEN(sizes[i]));
        CHECK_INT(body[16] << 24 | body[17] << 16 | body[18] << 8 | body[19], 4096);
        CHECK_INT(body[20], 65);
        CHECK_INT(body[21], 0x04);
        CHECK_INT(webpush_decrypt(ua.priv, ua.auth, body, n, back, sizeof(back), &back_len),
                  WEBPUSH_OK);
        CHECK_INT(back_len, sizes[i]);
        CHECK(memcmp(back, pt, sizes[i]) == 0);
        /* a fresh salt and sender key every time */
        CHECK_INT(webpush_encrypt(ua.p256dh, ua.auth_b64, pt, sizes[i], NULL, body2,
                                  sizeof(body2), &m), WEBPUSH_OK);
        CHECK(memcmp(body, body2, 16) != 0);
        CHECK(memcmp(body + 21, body2 + 21, 65) != 0);
    }
}

/* A body of the RFC example, for the decrypt refusals. */
static size_t rfc_body_bytes(uint8_t *out, size_t cap)
{
    return unb64(rfc_body, out, cap);
}

static void test_decrypt_refused(void)
{
    uint8_t body[256], bad[256], pt[256], ua_priv[32], auth[16];
    size_t n = rfc_body_bytes(body, sizeof(body)), out_len = 0;
    unb64(rfc_ua_private, ua_priv, sizeof(ua_priv));
    unb64(rfc_auth, auth, sizeof(auth));

    /* any flipped bit in salt, idlen, key, record or tag; not rs, which only says how a
     * body splits into records and so is not authenticated (RFC 8188 section 2.1) */
    for (size_t i = 0; i < n; i++) {
        if (i >= 16 && i < 20)
            continue;
        memcpy(bad, body, n);
        bad[i] ^= 0x01;
        int rc = webpush_decrypt(ua_priv, auth, bad, n, pt, sizeof(pt), &out_len);
        CHECK(rc == WEBPUSH_EDECRYPT);
        if (rc != WEBPUSH_EDECRYPT)
            fprintf(stderr, "  byte %zu flipped\n", i);
    }
    /* every truncation */
    for (size_t len = 0; len < n; len++)
        CHECK_INT(webpush_decrypt(ua_priv, auth, body, len, pt, sizeof(pt), &out_len),
                  WEBPUSH_EDECRYPT);
    uint8_t wrong_auth[16];
    memcpy(wrong_auth, auth, 16);
    wrong_auth[0] ^= 0x80;
    CHECK_INT(webpush_decrypt(ua_priv, wrong_auth, body, n, pt, sizeof(pt), &out_len),
              WEBPUSH_EDECRYPT);
    memcpy(bad, body, n);
    bad[16] = bad[17] = bad[18] = 0;
    bad[19] = 17;                                             /* rs below the minimum */
    CHECK_INT(webpush_decrypt(ua_priv, auth, bad, n, pt, sizeof(pt), &out_len),
              WEBPUSH_EDECRYPT);
    bad[19] = 40;                                             /* record longer than rs */
    CHECK_INT(webpush_decrypt(ua_priv, auth, bad, n, pt, sizeof(pt), &out_len),
              WEBPUSH_EDECRYPT);
    CHECK_INT(webpush_decrypt(ua_priv, auth, body, n, pt, 10, &out_len), WEBPUSH_ESPACE);
    uint8_t zero[32] = {0};
    CHECK_INT(webpush_decrypt(zero, auth, body, n, pt, sizeof(pt), &out_len), WEBPUSH_EPRIVATE);
    CHECK_INT(webpush_decrypt(NULL, auth, body, n, pt, sizeof(pt), &out_len), WEBPUSH_EARG);
    CHECK_INT(webpush_decrypt(ua_priv, auth, NULL, n, pt, sizeof(pt), &out_len), WEBPUSH_EARG);
}

/* RFC 8291 Appendix A's intermediate CEK and NONCE: with them the test seals records of its
 * own under the RFC's header, to reach webpush_decrypt's padding rules (RFC 8188 section 2). */
static const char rfc_cek[] = "oIhVW04MRdy2XN9CiKLxTg";
static const char rfc_nonce[] = "4h_95klXJ5E_qnoN";

static size_t rfc_seal(const uint8_t *record, size_t rlen, uint8_t *body)
{
    uint8_t cek[16], nonce[12];
    unb64(rfc_cek, cek, sizeof(cek));
    unb64(rfc_nonce, nonce, sizeof(nonce));
    uint8_t rfc[256];
    rfc_body_bytes(rfc, sizeof(rfc));
    memcpy(body, rfc, WEBPUSH_HEADER_LEN);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    CHECK(EVP_EncryptInit_ex2(c, EVP_aes_128_gcm(), cek, nonce, NULL) == 1);
    CHECK(EVP_EncryptUpdate(c, body + WEBPUSH_HEADER_LEN, &n1, record, (int)rlen) == 1);
    CHECK(EVP_EncryptFinal_ex(c, body + WEBPUSH_HEADER_LEN + n1, &n2) == 1);
    OSSL_PARAM tag[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                          body + WEBPUSH_HEADER_LEN + rlen, 16),
        OSSL_PARAM_construct_end(),
    };
    CHECK(EVP_CIPHER_CTX_get_params(c, tag) == 1);
    EVP_CIPHER_CTX_free(c);
    return WEBPUSH_HEADER_LEN + rlen + 16;
}

static void test_decrypt_padding(void)
{
    static const struct {
        const char *record;
        size_t len;
        int rc;
        const char *plain;
        size_t plain_len;
    } cases[] = {
        {"hi\x02", 3, WEBPUSH_OK, "hi", 2},
        {"hi\x02\0\0\0\0", 7, WEBPUSH_OK, "hi", 2},       /* padding after the delimiter */
        {"\x02", 1, WEBPUSH_OK, "", 0},
        {"hi\x02\0\x02", 5, WEBPUSH_OK, "hi\x02\0", 4},   /* only the last delimiter counts */
        {"hi\x01", 3, WEBPUSH_EDECRYPT, NULL, 0},           /* 0x01 marks a non-last record */
        {"hi", 2, WEBPUSH_EDECRYPT, NULL, 0},                /* no delimiter */
        {"\0\0\0", 3, WEBPUSH_EDECRYPT, NULL, 0},           /* padding only */
    };
    uint8_t ua_priv[32], auth[16], body[256], pt[256];
    unb64(rfc_ua_private, ua_priv, sizeof(ua_priv));
    unb64(rfc_auth, auth, sizeof(auth));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = rfc_seal((const uint8_t *)cases[i].record, cases[i].len, body), out_len = 9;
        memset(pt, 0xaa, sizeof(pt));
        CHECK_INT(webpush_decrypt(ua_priv, auth, body, n, pt, sizeof(pt), &out_len),
                  cases[i].rc);
        if (cases[i].plain) {
            CHECK_INT(out_len, cases[i].plain_len);
            CHECK(memcmp(pt, cases[i].plain, out_len) == 0);
        } else {
            CHECK_INT(out_len, 0);
            CHECK(pt[0] == 0 && pt[1] == 0);              /* no plaintext left behind */
        }
    }
    /* and the RFC's own record opens with the published CEK and NONCE */
    uint8_t record[] = "When I grow up, I want to be a watermelon\x02";
    size_t n = rfc_seal(record, sizeof(record) - 1, body);
    uint8_t rfc[256];
    CHECK_INT(rfc_body_bytes(rfc, sizeof(rfc)), n);
    CHECK(memcmp(rfc, body, n) == 0);
}

/* A 65-byte point as base64url after `edit` changed it. */
static void point_variant(const char *from, int idx, uint8_t val, char *out, size_t cap)
{
    uint8_t pt[65];
    unb64(from, pt, sizeof(pt));
    pt[idx] = val;
    b64(pt, sizeof(pt), out, cap);
}

static void test_encrypt_refused(void)
{
    static uint8_t body[WEBPUSH_BODY_LEN(WEBPUSH_PLAINTEXT_MAX) + 1];
    static uint8_t pt[WEBPUSH_PLAINTEXT_MAX + 1];
    const uint8_t *p = (const uint8_t *)"hi";
    char s[512];
    size_t n = 0;
#define ENC(dh, au, len) webpush_encrypt((dh), (au), pt, (len), NULL, body, sizeof(body), &n)

    /* padded base64url is tolerated (some clients send it) */
    snprintf(s, sizeof(s), "%s=", rfc_ua_public);
    CHECK_INT(ENC(s, rfc_auth, 2), WEBPUSH_OK);
    snprintf(s, sizeof(s), "%s==", rfc_auth);
    CHECK_INT(ENC(rfc_ua_public, s, 2), WEBPUSH_OK);

    /* p256dh */
    CHECK_INT(ENC("BCVxsr7N+eNgVRqv", rfc_auth, 2), WEBPUSH_EBASE64);
    CHECK_INT(ENC("!!!!", rfc_auth, 2), WEBPUSH_EBASE64);
    snprintf(s, sizeof(s), "%s===", rfc_ua_public);           /* three '=' is not padding */
    CHECK_INT(ENC(s, rfc_auth, 2), WEBPUSH_EBASE64);
    CHECK_INT(ENC("", rfc_auth, 2), WEBPUSH_EKEYLEN);
    uint8_t raw[65];
    unb64(rfc_ua_public, raw, sizeof(raw));
    b64(raw, 64, s, sizeof(s));
    CHECK_INT(ENC(s, rfc_auth, 2), WEBPUSH_EKEYLEN);          /* 64 bytes */
    b64(raw, 33, s, sizeof(s));
    CHECK_INT(ENC(s, rfc_auth, 2), WEBPUSH_EKEYLEN);          /* compressed-point size */
    memset(s, 'A', 400);
    s[400] = '\0';
    CHECK_INT(ENC(s, rfc_auth, 2), WEBPUSH_EKEYLEN);          /* far too long */
    point_variant(rfc_ua_public, 64, raw[64] ^ 1, s, sizeof(s));
    CHECK_INT(ENC(s, rfc_auth, 2), WEBPUSH_EPOINT);           /* off the curve */
    point_variant(rfc_ua_public, 0, 0x02, s, sizeof(s));
    CHECK_INT(ENC(s, rfc_auth, 2), WEBPUSH_EPOINT);           /* not the uncompressed form */
    uint8_t zeros[65] = {0x04};
    b64(zeros, sizeof(zeros), s, sizeof(s));
    CHECK_INT(ENC(s, rfc_auth, 2), WEBPUSH_EPOINT);           /* (0, 0) */

    /* auth */
    CHECK_INT(ENC(rfc_ua_public, "BTBZMqHH6r4Tts7J/aSIgg", 2), WEBPUSH_EBASE64);
    CHECK_INT(ENC(rfc_ua_public, "BTBZMqHH6r4Tts7J_aSI", 2), WEBPUSH_EAUTH);   /* 15 bytes */
    CHECK_INT(ENC(rfc_ua_public, "BTBZMqHH6r4Tts7J_aSIggBTBZMqHH6r4Tts7J_aSIgg", 2),
              WEBPUSH_EAUTH);
    CHECK_INT(ENC(rfc_ua_public, "", 2), WEBPUSH_EAUTH);

    /* length and space */
    CHECK_INT(ENC(rfc_ua_public, rfc_auth, WEBPUSH_PLAINTEXT_MAX), WEBPUSH_OK);
    CHECK_INT(n, 4096);
    CHECK_INT(ENC(rfc_ua_public, rfc_auth, WEBPUSH_PLAINTEXT_MAX + 1), WEBPUSH_ETOOLONG);
    CHECK_INT(n, 0);
    CHECK_INT(webpush_encrypt(rfc_ua_public, rfc_auth, p, 2, NULL, body, WEBPUSH_BODY_LEN(2) - 1,
                              &n), WEBPUSH_ESPACE);
    CHECK_INT(webpush_encrypt(rfc_ua_public, rfc_auth, p, 2, NULL, body, WEBPUSH_BODY_LEN(2),
                              &n), WEBPUSH_OK);

    /* arguments and injected keys */
    CHECK_INT(ENC(NULL, rfc_auth, 2), WEBPUSH_EARG);
    CHECK_INT(ENC(rfc_ua_public, NULL, 2), WEBPUSH_EARG);
    CHECK_INT(webpush_encrypt(rfc_ua_public, rfc_auth, NULL, 1, NULL, body, sizeof(body), &n),
              WEBPUSH_EARG);
    CHECK_INT(webpush_encrypt(rfc_ua_public, rfc_auth, NULL, 0, NULL, body, sizeof(body), &n),
              WEBPUSH_OK);
    CHECK_INT(webpush_encrypt(rfc_ua_public, rfc_auth, p, 2, NULL, NULL, sizeof(body), &n),
              WEBPUSH_EARG);
    uint8_t zero[32] = {0}, high[32];
    memset(high, 0xff, sizeof(high));
    webpush_encrypt_opts opts = {.as_private = zero};
    CHECK_INT(webpush_encrypt(rfc_ua_public, rfc_auth, p, 2, &opts, body, sizeof(body), &n),
              WEBPUSH_EPRIVATE);
    opts.as_private = high;
    CHECK_INT(webpush_encrypt(rfc_ua_public, rfc_auth, p, 2, &opts, body, sizeof(body), &n),
              WEBPUSH_EPRIVATE);
#undef ENC
}

static void test_vapid_keys(void)
{
    webpush_vapid *k = NULL, *again = NULL;
    char priv[64], priv2[64];
    CHECK_INT(webpush_vapid_generate(&k), WEBPUSH_OK);
    CHECK_INT(webpush_vapid_private_b64(k, priv, sizeof(priv)), WEBPUSH_OK);
    CHECK_INT(strlen(priv), WEBPUSH_PRIVATE_B64_LEN);
    CHECK_INT(strlen(webpush_vapid_public_b64(k)), WEBPUSH_PUBLIC_B64_LEN);
    uint8_t pub[65];
    CHECK_INT(unb64(webpush_vapid_public_b64(k), pub, sizeof(pub)), 65);
    CHECK(memcmp(pub, webpush_vapid_public_raw(k), 65) == 0);
    CHECK_INT(pub[0], 0x04);

    /* stored and loaded back: the same key */
    CHECK_INT(webpush_vapid_load(priv, &again), WEBPUSH_OK);
    CHECK_STR(webpush_vapid_public_b64(again), webpush_vapid_public_b64(k));
    CHECK_INT(webpush_vapid_private_b64(again, priv2, sizeof(priv2)), WEBPUSH_OK);
    CHECK_STR(priv2, priv);
    webpush_vapid_free(again);
    again = NULL;
    CHECK_INT(webpush_vapid_private_b64(k, priv2, WEBPUSH_PRIVATE_B64_LEN), WEBPUSH_ESPACE);
    webpush_vapid_free(k);

    /* a known scalar gives its known public key (the RFC 8291 sender's pair) */
    CHECK_INT(webpush_vapid_load(rfc_as_private, &k), WEBPUSH_OK);
    CHECK_STR(webpush_vapid_public_b64(k), rfc_as_public);
    webpush_vapid_free(k);

    /* refused stored keys */
    uint8_t raw[32];
    char s[64];
    CHECK_INT(webpush_vapid_load("not base64!", &k), WEBPUSH_EBASE64);
    CHECK(k == NULL);
    memset(raw, 0x11, sizeof(raw));
    b64(raw, 31, s, sizeof(s));
    CHECK_INT(webpush_vapid_load(s, &k), WEBPUSH_EKEYLEN);
    memset(raw, 0, sizeof(raw));
    b64(raw, 32, s, sizeof(s));
    CHECK_INT(webpush_vapid_load(s, &k), WEBPUSH_EPRIVATE);    /* zero */
    memset(raw, 0xff, sizeof(raw));
    b64(raw, 32, s, sizeof(s));
    CHECK_INT(webpush_vapid_load(s, &k), WEBPUSH_EPRIVATE);    /* above the group order */
    CHECK(k == NULL);
    CHECK_INT(webpush_vapid_load(NULL, &k), WEBPUSH_EARG);
    CHECK_INT(webpush_vapid_load(priv, NULL), WEBPUSH_EARG);
    CHECK_INT(webpush_vapid_generate(NULL), WEBPUSH_EARG);
    CHECK(webpush_vapid_public_b64(NULL) == NULL);
    webpush_vapid_free(NULL);
}

static void test_origin(void)
{
    static const char *const ok[][2] = {
        {"https://fcm.googleapis.com/fcm/send/abc:def", "https://fcm.googleapis.com"},
        {"https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
         "https://updates.push.services.mozilla.com"},
        {"HTTPS://Push.Example.NET:443/x", "https://push.example.net"},
        {"https://push.example.net:8443/x", "https://push.example.net:8443"},
        {"https://push.example.net:00443/x", "https://push.example.net"},
        {"http://127.0.0.1:8080/push/1", "http://127.0.0.1:8080"},
        {"http://localhost:80", "http://localhost"},
        {"http://localhost:443/", "http://localhost:443"},
        {"https://[::1]:4443/p", "https://[::1]:4443"},
        {"https://[2001:DB8::1]/p", "https://[2001:db8::1]"},
        {"https://host?x=1", "https://host"},
        {"https://host#frag", "https://host"},
    };
    char out[WEBPUSH_ORIGIN_MAX];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        CHECK_INT(webpush_origin(ok[i][0], out, sizeof(out)), WEBPUSH_OK);
        CHECK_STR(out, ok[i][1]);
    }
    static const char *const bad[] = {
        "", "push.example.net/x", "ftp://push.example.net/", "https:/push.example.net",
        "https://", "https:///x", "https://user@host/", "https://host:0/", "https://host:65536/",
        "https://host:/", "https://host:12a/", "https://host:1234567/", "https://ho st/",
        "https://[::1/", "https://[]/", "https://[::1]x/", "https://[::g]/", "https://ho\"st/",
        "https://host/pa th", "https://host/\x7f", "https://ho%2fst/", "wss://host/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = webpush_origin(bad[i], out, sizeof(out));
        CHECK_INT(rc, WEBPUSH_EENDPOINT);
        if (rc != WEBPUSH_EENDPOINT)
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
    }
    char longhost[400] = "https://";
    memset(longhost + 8, 'a', 300);
    longhost[308] = '\0';
    CHECK_INT(webpush_origin(longhost, out, sizeof(out)), WEBPUSH_EENDPOINT);
    CHECK_INT(webpush_origin("https://push.example.net/x", out, 10), WEBPUSH_ESPACE);
    CHECK_INT(webpush_origin(NULL, out, sizeof(out)), WEBPUSH_EARG);
}

/* ---- the VAPID JWT, checked as a push service would ---- */

static EVP_PKEY *public_pkey(const uint8_t pub[65])
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 65);
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pkey = NULL;
    CHECK(EVP_PKEY_fromdata_init(ctx) == 1);
    CHECK(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

/* ES256 verification: JOSE's r || s back to DER, then ECDSA-SHA256 over header.claims. */
static int es256_verify(const uint8_t pub[65], const char *signed_part, size_t len,
                        const uint8_t sig[64])
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    unsigned char *der = NULL;
    int derlen = i2d_ECDSA_SIG(es, &der);
    EVP_PKEY *pkey = public_pkey(pub);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = derlen > 0 && EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, pkey,
                                                   NULL) == 1 &&
             EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)signed_part,
                              len) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return ok;
}

typedef struct jwt_parts {
    char header[128];
    json_t *claims;
    uint8_t sig[64];
    int sig_ok;
} jwt_parts;

static void jwt_split(const char *jwt, const uint8_t pub[65], jwt_parts *out)
{
    const char *d1 = strchr(jwt, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    memset(out, 0, sizeof(*out));
    CHECK(d1 && d2 && !strchr(d2 + 1, '.'));
    if (!d1 || !d2)
        return;
    uint8_t buf[1024];
    ssize_t n = b64url_decode(jwt, (size_t)(d1 - jwt), buf, sizeof(buf));
    CHECK(n > 0 && (size_t)n < sizeof(out->header));
    memcpy(out->header, buf, (size_t)n);
    n = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), buf, sizeof(buf));
    CHECK(n > 0);
    out->claims = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    CHECK(out->claims != NULL);
    CHECK_INT(b64url_decode(d2 + 1, strlen(d2 + 1), out->sig, sizeof(out->sig)), 64);
    out->sig_ok = es256_verify(pub, jwt, (size_t)(d2 - jwt), out->sig);
}

static void test_vapid_jwt(void)
{
    webpush_vapid *k = NULL;
    CHECK_INT(webpush_vapid_generate(&k), WEBPUSH_OK);
    const uint8_t *pub = webpush_vapid_public_raw(k);
    const char *endpoint = "https://Push.Example.net:443/wpush/v2/abc?x=1";
    const char *sub = "mailto:ops@example.com";
    const int64_t now = 1700000000;
    char jwt[WEBPUSH_JWT_MAX];
    jwt_parts p;

    CHECK_INT(webpush_vapid_jwt(k, endpoint, sub, now, 3600, jwt, sizeof(jwt)), WEBPUSH_OK);
    jwt_split(jwt, pub, &p);
    CHECK_STR(p.header, "{\"typ\":\"JWT\",\"alg\":\"ES256\"}");
    CHECK(p.sig_ok);
    CHECK_STR(json_string_value(json_object_get(p.claims, "aud")), "https://push.example.net");
    CHECK_INT(json_integer_value(json_object_get(p.claims, "exp")), now + 3600);
    CHECK_STR(json_string_value(json_object_get(p.claims, "sub")), sub);
    CHECK_INT(json_object_size(p.claims), 3);
    json_decref(p.claims);

    /* the signature covers header and claims: one changed character and it fails */
    const char *last_dot = strrchr(jwt, '.');
    for (size_t i = 0; last_dot && i < (size_t)(last_dot - jwt); i += 7) {
        char copy[WEBPUSH_JWT_MAX];
        memcpy(copy, jwt, sizeof(copy));
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        CHECK(!es256_verify(pub, copy, (size_t)(last_dot - jwt), p.sig));
    }

    /* exp is capped at 24 h */
    CHECK_INT(webpush_vapid_jwt(k, "http://127.0.0.1:8080/push", "https://example.com/contact",
                                now, 7 * 86400, jwt, sizeof(jwt)), WEBPUSH_OK);
    jwt_split(jwt, pub, &p);
    CHECK(p.sig_ok);
    CHECK_INT(json_integer_value(json_object_get(p.claims, "exp")), now + WEBPUSH_VAPID_TTL_MAX);
    CHECK_STR(json_string_value(json_object_get(p.claims, "aud")), "http://127.0.0.1:8080");
    json_decref(p.claims);

    /* the Authorization header: vapid t=<jwt>, k=<public key> */
    char auth[WEBPUSH_AUTHORIZATION_MAX], expect[WEBPUSH_AUTHORIZATION_MAX];
    CHECK_INT(webpush_vapid_authorization(k, endpoint, sub, now, 3600, auth, sizeof(auth)),
              WEBPUSH_OK);
    const char *t = auth + strlen("vapid t=");
    const char *kpos = strstr(auth, ", k=");
    CHECK(strncmp(auth, "vapid t=", 8) == 0 && kpos);
    if (kpos) {
        CHECK_STR(kpos + 4, webpush_vapid_public_b64(k));
        snprintf(jwt, sizeof(jwt), "%.*s", (int)(kpos - t), t);
        jwt_split(jwt, pub, &p);
        CHECK(p.sig_ok);
        json_decref(p.claims);
        snprintf(expect, sizeof(expect), "vapid t=%s, k=%s", jwt, webpush_vapid_public_b64(k));
        CHECK_STR(auth, expect);
    }
    /* the largest inputs still fit the documented buffers */
    char big_sub[WEBPUSH_SUBJECT_MAX + 1], big_ep[400];
    memcpy(big_sub, "mailto:", 7);
    memset(big_sub + 7, 'x', WEBPUSH_SUBJECT_MAX - 7);
    big_sub[WEBPUSH_SUBJECT_MAX] = '\0';
    snprintf(big_ep, sizeof(big_ep), "https://%0*d:65535/p", WEBPUSH_ORIGIN_MAX - 16, 0);
    CHECK_INT(webpush_vapid_authorization(k, big_ep, big_sub, INT64_MAX - WEBPUSH_VAPID_TTL_MAX,
                                          WEBPUSH_VAPID_TTL_MAX, auth, sizeof(auth)),
              WEBPUSH_OK);
    webpush_vapid_free(k);
}

static void test_vapid_jwt_refused(void)
{
    webpush_vapid *k = NULL;
    CHECK_INT(webpush_vapid_generate(&k), WEBPUSH_OK);
    const char *ep = "https://push.example.net/x";
    char jwt[WEBPUSH_JWT_MAX];
    static const char *const bad_sub[] = {
        "ops@example.com", "mailto:", "https:", "http://example.com", "mailto:a\"b@x",
        "mailto:a\\b@x", "mailto:a b@x", "mailto:\x01@x", "",
    };
    for (size_t i = 0; i < sizeof(bad_sub) / sizeof(bad_sub[0]); i++)
        CHECK_INT(webpush_vapid_jwt(k, ep, bad_sub[i], 1, 60, jwt, sizeof(jwt)),
                  WEBPUSH_ESUBJECT);
    char long_sub[WEBPUSH_SUBJECT_MAX + 2];
    memcpy(long_sub, "mailto:", 7);
    memset(long_sub + 7, 'x', WEBPUSH_SUBJECT_MAX + 1 - 7);
    long_sub[WEBPUSH_SUBJECT_MAX + 1] = '\0';
    CHECK_INT(webpush_vapid_jwt(k, ep, long_sub, 1, 60, jwt, sizeof(jwt)), WEBPUSH_ESUBJECT);
    CHECK_INT(webpush_vapid_jwt(k, "ftp://x/", "mailto:a@b", 1, 60, jwt, sizeof(jwt)),
              WEBPUSH_EENDPOINT);
    CHECK_INT(webpush_vapid_jwt(k, ep, "mailto:a@b", 1, 0, jwt, sizeof(jwt)), WEBPUSH_EARG);
    CHECK_INT(webpush_vapid_jwt(k, ep, "mailto:a@b", 1, -5, jwt, sizeof(jwt)), WEBPUSH_EARG);
    CHECK_INT(webpush_vapid_jwt(k, ep, "mailto:a@b", -1, 60, jwt, sizeof(jwt)), WEBPUSH_EARG);
    CHECK_INT(webpush_vapid_jwt(k, ep, "mailto:a@b", INT64_MAX, 60, jwt, sizeof(jwt)),
              WEBPUSH_EARG);
    CHECK_INT(webpush_vapid_jwt(NULL, ep, "mailto:a@b", 1, 60, jwt, sizeof(jwt)), WEBPUSH_EARG);
    CHECK_INT(webpush_vapid_jwt(k, NULL, "mailto:a@b", 1, 60, jwt, sizeof(jwt)), WEBPUSH_EARG);
    CHECK_INT(webpush_vapid_jwt(k, ep, NULL, 1, 60, jwt, sizeof(jwt)), WEBPUSH_EARG);
    CHECK_INT(webpush_vapid_jwt(k, ep, "mailto:a@b", 1, 60, jwt, 100), WEBPUSH_ESPACE);
    CHECK_STR(jwt, "");
    CHECK_INT(webpush_vapid_jwt(k, ep, "mailto:a@b", 1, 60, jwt, 0), WEBPUSH_ESPACE);
    char auth[200];
    CHECK_INT(webpush_vapid_authorization(k, ep, "mailto:a@b", 1, 60, auth, sizeof(auth)),
              WEBPUSH_ESPACE);
    CHECK_INT(webpush_vapid_authorization(k, ep, "mailto:", 1, 60, auth, sizeof(auth)),
              WEBPUSH_ESUBJECT);
    webpush_vapid_free(k);
}

static void test_status_names(void)
{
    for (int s = WEBPUSH_OK; s >= WEBPUSH_ECRYPTO; s--)
        CHECK(strcmp(webpush_status_name(s), "unknown") != 0);
    CHECK_STR(webpush_status_name(1), "unknown");
}

int main(void)
{
    test_rfc8291_appendix_a();
    test_roundtrip();
    test_decrypt_refused();
    test_decrypt_padding();
    test_encrypt_refused();
    test_vapid_keys();
    test_origin();
    test_vapid_jwt();
    test_vapid_jwt_refused();
    test_status_names();
    return check_summary("push-webpush");
}
