/*
 * webpush: VAPID keys and JWTs (RFC 8292) and aes128gcm payload encryption (RFC 8291 over
 * RFC 8188). See webpush.h for the contract.
 *
 * Everything goes through OpenSSL 3's provider APIs (EVP_PKEY, EVP_PKEY_derive, EVP_KDF
 * "HKDF", EVP_DigestSign); the only lower-level calls are EC_POINT arithmetic on the P-256
 * group, which OpenSSL 3 keeps undeprecated, to compute a public key from a stored scalar
 * and to tell "not on the curve" apart from other failures.
 */
#include "push/webpush.h"

#include <inttypes.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/b64.h"

#define P256_GROUP_NAME "prime256v1"
#define ECDH_SECRET_LEN 32
#define CEK_LEN 16
#define NONCE_LEN 12
#define ES256_SIG_LEN 64
#define PADDING_DELIMITER 0x02   /* RFC 8188 section 2: the last record's delimiter */

struct webpush_vapid {
    EVP_PKEY *pkey;                              /* owned */
    uint8_t pub[WEBPUSH_KEY_LEN];
    char pub_b64[WEBPUSH_PUBLIC_B64_LEN + 1];
};

const char *webpush_status_name(int status)
{
    switch (status) {
    case WEBPUSH_OK: return "ok";
    case WEBPUSH_EARG: return "bad argument";
    case WEBPUSH_EBASE64: return "not base64url";
    case WEBPUSH_EKEYLEN: return "wrong key length";
    case WEBPUSH_EPOINT: return "not a P-256 point";
    case WEBPUSH_EAUTH: return "auth secret is not 16 bytes";
    case WEBPUSH_ETOOLONG: return "plaintext too long";
    case WEBPUSH_EENDPOINT: return "endpoint is not an http(s) URL";
    case WEBPUSH_ESUBJECT: return "subject is not a mailto: or https: URI";
    case WEBPUSH_EPRIVATE: return "private key out of range";
    case WEBPUSH_ESPACE: return "output buffer too small";
    case WEBPUSH_EDECRYPT: return "cannot decrypt";
    case WEBPUSH_ECRYPTO: return "crypto library failure";
    default: return "unknown";
    }
}

/* ---- base64url fields ---- */

/* Decodes a NUL-terminated base64url field that must be exactly `want` bytes. A wrong length
 * reports len_err (not EBASE64) so the caller learns which field is wrong and how. */
static int b64_field(const char *s, uint8_t *out, size_t want, int len_err)
{
    uint8_t buf[256];
    size_t n = strlen(s);
    for (int pad = 0; pad < 2 && n > 0 && s[n - 1] == '='; pad++)
        n--;
    if (b64url_decoded_max(n) > sizeof(buf))
        return len_err;
    ssize_t got = b64url_decode(s, n, buf, sizeof(buf));
    int rc = got < 0 ? WEBPUSH_EBASE64 : (size_t)got != want ? len_err : WEBPUSH_OK;
    if (rc == WEBPUSH_OK)
        memcpy(out, buf, want);
    OPENSSL_cleanse(buf, sizeof(buf));  /* it may have held a private key */
    return rc;
}

/* ---- P-256 keys ---- */

/* 0x04 || x || y with (x, y) on the curve. EC_POINT_oct2point refuses points off the curve,
 * which is the check RFC 8291 relies on to stop invalid-curve attacks on our ECDH. */
static int p256_point_check(const uint8_t pt[WEBPUSH_KEY_LEN])
{
    if (pt[0] != 0x04)
        return WEBPUSH_EPOINT;
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *p = g ? EC_POINT_new(g) : NULL;
    int rc = WEBPUSH_ECRYPTO;
    if (p)
        rc = EC_POINT_oct2point(g, p, pt, WEBPUSH_KEY_LEN, NULL) == 1 ? WEBPUSH_OK
                                                                      : WEBPUSH_EPOINT;
    EC_POINT_free(p);
    EC_GROUP_free(g);
    return rc;
}

/* pub = d * G, refusing d = 0 and d >= n (such a scalar is no key). */
static int p256_public_from_scalar(const uint8_t d[WEBPUSH_SCALAR_LEN],
                                   uint8_t pub[WEBPUSH_KEY_LEN])
{
    EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *bn = BN_secure_new();
    EC_POINT *p = g ? EC_POINT_new(g) : NULL;
    int rc = WEBPUSH_ECRYPTO;
    if (!g || !bn || !p || !BN_bin2bn(d, WEBPUSH_SCALAR_LEN, bn))
        goto out;
    if (BN_is_zero(bn) || BN_cmp(bn, EC_GROUP_get0_order(g)) >= 0) {
        rc = WEBPUSH_EPRIVATE;
        goto out;
    }
    if (EC_POINT_mul(g, p, bn, NULL, NULL, NULL) == 1 &&
        EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, pub, WEBPUSH_KEY_LEN, NULL) ==
            WEBPUSH_KEY_LEN)
        rc = WEBPUSH_OK;
out:
    EC_POINT_free(p);
    BN_clear_free(bn);
    EC_GROUP_free(g);
    return rc;
}

/* An EVP_PKEY from raw parts: the public point alone (a peer) or with its scalar (ours). */
static int p256_pkey(const uint8_t *d, const uint8_t pub[WEBPUSH_KEY_LEN], EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = d ? BN_secure_new() : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    int rc = WEBPUSH_ECRYPTO;
    *out = NULL;
    if (!bld || !ctx || (d && (!bn || !BN_bin2bn(d, WEBPUSH_SCALAR_LEN, bn))))
        goto out;
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, P256_GROUP_NAME, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, WEBPUSH_KEY_LEN) ||
        (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn)))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, out, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) == 1)
        rc = WEBPUSH_OK;
out:
    /* the scalar came from a secure BIGNUM, so the builder put it in the secure-heap part of
     * params, which OSSL_PARAM_free clears */
    OSSL_PARAM_free(params);
    BN_clear_free(bn);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

/* Our key pair from a stored or injected scalar; pub receives its public point. */
static int p256_keypair_from_scalar(const uint8_t d[WEBPUSH_SCALAR_LEN], EVP_PKEY **out,
                                    uint8_t pub[WEBPUSH_KEY_LEN])
{
    int rc = p256_public_from_scalar(d, pub);
    return rc != WEBPUSH_OK ? rc : p256_pkey(d, pub, out);
}

static int p256_public_octets(EVP_PKEY *k, uint8_t pub[WEBPUSH_KEY_LEN])
{
    size_t n = 0;
    if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, WEBPUSH_KEY_LEN,
                                        &n) != 1 || n != WEBPUSH_KEY_LEN || pub[0] != 0x04)
        return WEBPUSH_ECRYPTO;
    return WEBPUSH_OK;
}

static int p256_generate(EVP_PKEY **out, uint8_t pub[WEBPUSH_KEY_LEN])
{
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!*out)
        return WEBPUSH_ECRYPTO;
    if (p256_public_octets(*out, pub) != WEBPUSH_OK) {
        EVP_PKEY_free(*out);
        *out = NULL;
        return WEBPUSH_ECRYPTO;
    }
    return WEBPUSH_OK;
}

static int p256_scalar(EVP_PKEY *k, uint8_t d[WEBPUSH_SCALAR_LEN])
{
    BIGNUM *bn = NULL;
    int ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1 &&
             BN_bn2binpad(bn, d, WEBPUSH_SCALAR_LEN) == WEBPUSH_SCALAR_LEN;
    BN_clear_free(bn);
    return ok ? WEBPUSH_OK : WEBPUSH_ECRYPTO;
}

/* The x coordinate of ours * peer (RFC 8291 section 3.1). */
static int p256_ecdh(EVP_PKEY *ours, EVP_PKEY *peer, uint8_t secret[ECDH_SECRET_LEN])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ours, NULL);
    size_t n = ECDH_SECRET_LEN;
    int ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
             EVP_PKEY_derive(ctx, secret, &n) == 1 && n == ECDH_SECRET_LEN;
    EVP_PKEY_CTX_free(ctx);
    return ok ? WEBPUSH_OK : WEBPUSH_ECRYPTO;
}

/* ---- VAPID keys ---- */

static int vapid_wrap(EVP_PKEY *pkey, const uint8_t pub[WEBPUSH_KEY_LEN], webpush_vapid **out)
{
    webpush_vapid *k = calloc(1, sizeof(*k));
    if (!k) {
        EVP_PKEY_free(pkey);
        return WEBPUSH_ECRYPTO;
    }
    k->pkey = pkey;
    memcpy(k->pub, pub, WEBPUSH_KEY_LEN);
    b64url_encode(pub, WEBPUSH_KEY_LEN, k->pub_b64, sizeof(k->pub_b64));
    *out = k;
    return WEBPUSH_OK;
}

int webpush_vapid_generate(webpush_vapid **out)
{
    if (!out)
        return WEBPUSH_EARG;
    *out = NULL;
    EVP_PKEY *pkey;
    uint8_t pub[WEBPUSH_KEY_LEN];
    int rc = p256_generate(&pkey, pub);
    return rc != WEBPUSH_OK ? rc : vapid_wrap(pkey, pub, out);
}

int webpush_vapid_load(const char *private_b64, webpush_vapid **out)
{
    if (!out)
        return WEBPUSH_EARG;
    *out = NULL;
    if (!private_b64)
        return WEBPUSH_EARG;
    uint8_t d[WEBPUSH_SCALAR_LEN], pub[WEBPUSH_KEY_LEN];
    EVP_PKEY *pkey = NULL;
    int rc = b64_field(private_b64, d, sizeof(d), WEBPUSH_EKEYLEN);
    if (rc == WEBPUSH_OK)
        rc = p256_keypair_from_scalar(d, &pkey, pub);
    OPENSSL_cleanse(d, sizeof(d));
    return rc != WEBPUSH_OK ? rc : vapid_wrap(pkey, pub, out);
}

int webpush_vapid_private_b64(const webpush_vapid *key, char *out, size_t cap)
{
    if (!key || !out)
        return WEBPUSH_EARG;
    if (cap < WEBPUSH_PRIVATE_B64_LEN + 1)
        return WEBPUSH_ESPACE;
    uint8_t d[WEBPUSH_SCALAR_LEN];
    int rc = p256_scalar(key->pkey, d);
    if (rc == WEBPUSH_OK)
        b64url_encode(d, sizeof(d), out, cap);
    OPENSSL_cleanse(d, sizeof(d));
    return rc;
}

const char *webpush_vapid_public_b64(const webpush_vapid *key)
{
    return key ? key->pub_b64 : NULL;
}

const uint8_t *webpush_vapid_public_raw(const webpush_vapid *key)
{
    return key ? key->pub : NULL;
}

void webpush_vapid_free(webpush_vapid *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    free(key);
}

/* ---- the endpoint's origin ---- */

static int url_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

static int host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

static int ipv6_char_ok(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') ||
           c == ':' || c == '.';
}

/* The host part of an authority [a, end): a DNS-like name or a bracketed IPv6 literal. Sets
 * *host_end to the first character after it. */
static int origin_host(const char *a, const char *end, const char **host_end)
{
    const char *p = a;
    if (*p == '[') {
        for (p++; p < end && *p != ']'; p++)
            if (!ipv6_char_ok(*p))
                return WEBPUSH_EENDPOINT;
        if (p == end || p == a + 1)
            return WEBPUSH_EENDPOINT;
        p++;
    } else {
        for (; p < end && *p != ':'; p++)
            if (!host_char_ok(*p))
                return WEBPUSH_EENDPOINT;
        if (p == a)
            return WEBPUSH_EENDPOINT;
    }
    *host_end = p;
    return WEBPUSH_OK;
}

/* ":port" or nothing at [p, end); *port = 0 when absent. */
static int origin_port(const char *p, const char *end, unsigned *port)
{
    *port = 0;
    if (p == end)
        return WEBPUSH_OK;
    if (*p != ':' || end - p < 2 || end - p > 6)
        return WEBPUSH_EENDPOINT;
    unsigned v = 0;
    for (p++; p < end; p++) {
        if (*p < '0' || *p > '9')
            return WEBPUSH_EENDPOINT;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return WEBPUSH_EENDPOINT;
    *port = v;
    return WEBPUSH_OK;
}

int webpush_origin(const char *endpoint, char *out, size_t cap)
{
    if (!endpoint || !out)
        return WEBPUSH_EARG;
    for (const char *c = endpoint; *c; c++)
        if (!url_char_ok((unsigned char)*c))
            return WEBPUSH_EENDPOINT;
    int https = strncasecmp(endpoint, "https://", 8) == 0;
    if (!https && strncasecmp(endpoint, "http://", 7) != 0)
        return WEBPUSH_EENDPOINT;
    const char *a = endpoint + (https ? 8 : 7);
    const char *end = a + strcspn(a, "/?#");
    if (memchr(a, '@', (size_t)(end - a)))  /* userinfo has no place in a push endpoint */
        return WEBPUSH_EENDPOINT;
    const char *host_end;
    unsigned port;
    int rc = origin_host(a, end, &host_end);
    if (rc == WEBPUSH_OK)
        rc = origin_port(host_end, end, &port);
    if (rc != WEBPUSH_OK)
        return rc;
    if (port == (https ? 443u : 80u))  /* RFC 6454 section 6.2: the default port is implied */
        port = 0;
    char origin[WEBPUSH_ORIGIN_MAX + 8];
    int n = snprintf(origin, sizeof(origin), "%s://%.*s", https ? "https" : "http",
                     (int)(host_end - a), a);
    if (n > 0 && port && (size_t)n < sizeof(origin))
        n += snprintf(origin + n, sizeof(origin) - (size_t)n, ":%u", port);
    if (n <= 0 || (size_t)n >= WEBPUSH_ORIGIN_MAX)
        return WEBPUSH_EENDPOINT;
    if ((size_t)n >= cap)
        return WEBPUSH_ESPACE;
    for (int i = 0; i < n; i++)  /* scheme and host are case-insensitive; the origin is lower */
        out[i] = (origin[i] >= 'A' && origin[i] <= 'Z') ? (char)(origin[i] - 'A' + 'a')
                                                         : origin[i];
    out[n] = '\0';
    return WEBPUSH_OK;
}

/* ---- VAPID JWT ---- */

/* RFC 8292 section 2.1: a mailto: or https: URI. We also refuse '"' and '\' so the claims
 * can be written without JSON escaping. */
static int subject_check(const char *sub)
{
    size_t n = strlen(sub);
    size_t scheme = strncasecmp(sub, "mailto:", 7) == 0 ? 7
                    : strncasecmp(sub, "https:", 6) == 0 ? 6 : 0;
    if (!scheme || n == scheme || n > WEBPUSH_SUBJECT_MAX)
        return WEBPUSH_ESUBJECT;
    for (size_t i = 0; i < n; i++)
        if (!url_char_ok((unsigned char)sub[i]) || sub[i] == '"' || sub[i] == '\\')
            return WEBPUSH_ESUBJECT;
    return WEBPUSH_OK;
}

/* ES256 (RFC 7518 section 3.4): ECDSA over SHA-256, the signature as the fixed-width r || s
 * that JWS wants instead of the DER that OpenSSL produces. */
static int es256_sign(EVP_PKEY *k, const char *data, size_t len, uint8_t sig[ES256_SIG_LEN])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[96];
    size_t derlen = sizeof(der);
    int ok = md && EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) == 1 &&
             EVP_DigestSign(md, der, &derlen, (const unsigned char *)data, len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return WEBPUSH_ECRYPTO;
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    ok = es && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
         BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32;
    ECDSA_SIG_free(es);
    return ok ? WEBPUSH_OK : WEBPUSH_ECRYPTO;
}

/* Appends base64url(data) at out + *pos, keeping the NUL. */
static int jwt_append_b64(char *out, size_t cap, size_t *pos, const void *data, size_t len)
{
    ssize_t n = b64url_encode(data, len, out + *pos, cap - *pos);
    if (n < 0)
        return WEBPUSH_ESPACE;
    *pos += (size_t)n;
    return WEBPUSH_OK;
}

static int jwt_append_dot(char *out, size_t cap, size_t *pos)
{
    if (*pos + 2 > cap)
        return WEBPUSH_ESPACE;
    out[(*pos)++] = '.';
    out[*pos] = '\0';
    return WEBPUSH_OK;
}

#define VAPID_CLAIMS_MAX (WEBPUSH_ORIGIN_MAX + WEBPUSH_SUBJECT_MAX + 64)

/* {"aud":<origin>,"exp":<now + ttl, capped>,"sub":<subject>}; both strings are checked to
 * need no JSON escaping. Returns the length or a negative status. */
static int vapid_claims(const char *endpoint, const char *subject, int64_t now, int64_t ttl_s,
                        char claims[VAPID_CLAIMS_MAX])
{
    char aud[WEBPUSH_ORIGIN_MAX];
    int rc = webpush_origin(endpoint, aud, sizeof(aud));
    if (rc == WEBPUSH_OK)
        rc = subject_check(subject);
    if (rc != WEBPUSH_OK)
        return rc;
    int64_t exp = now + (ttl_s < WEBPUSH_VAPID_TTL_MAX ? ttl_s : WEBPUSH_VAPID_TTL_MAX);
    int n = snprintf(claims, VAPID_CLAIMS_MAX,
                     "{\"aud\":\"%s\",\"exp\":%" PRId64 ",\"sub\":\"%s\"}", aud, exp, subject);
    return n < 0 || n >= VAPID_CLAIMS_MAX ? WEBPUSH_EARG : n;
}

int webpush_vapid_jwt(const webpush_vapid *key, const char *endpoint, const char *subject,
                      int64_t now, int64_t ttl_s, char *out, size_t cap)
{
    static const char header[] = "{\"typ\":\"JWT\",\"alg\":\"ES256\"}";
    if (!key || !endpoint || !subject || !out || ttl_s <= 0 || now < 0 ||
        now > INT64_MAX - WEBPUSH_VAPID_TTL_MAX)
        return WEBPUSH_EARG;
    char claims[VAPID_CLAIMS_MAX];
    int clen = vapid_claims(endpoint, subject, now, ttl_s, claims);
    if (clen < 0)
        return clen;
    int rc;
    size_t pos = 0;
    uint8_t sig[ES256_SIG_LEN];
    if (cap == 0)
        return WEBPUSH_ESPACE;
    out[0] = '\0';
    if ((rc = jwt_append_b64(out, cap, &pos, header, sizeof(header) - 1)) != WEBPUSH_OK ||
        (rc = jwt_append_dot(out, cap, &pos)) != WEBPUSH_OK ||
        (rc = jwt_append_b64(out, cap, &pos, claims, (size_t)clen)) != WEBPUSH_OK ||
        (rc = es256_sign(key->pkey, out, pos, sig)) != WEBPUSH_OK ||
        (rc = jwt_append_dot(out, cap, &pos)) != WEBPUSH_OK ||
        (rc = jwt_append_b64(out, cap, &pos, sig, sizeof(sig))) != WEBPUSH_OK)
        out[0] = '\0';
    return rc;
}

int webpush_vapid_authorization(const webpush_vapid *key, const char *endpoint,
                                const char *subject, int64_t now, int64_t ttl_s, char *out,
                                size_t cap)
{
    if (!out)
        return WEBPUSH_EARG;
    char jwt[WEBPUSH_JWT_MAX];
    int rc = webpush_vapid_jwt(key, endpoint, subject, now, ttl_s, jwt, sizeof(jwt));
    if (rc != WEBPUSH_OK)
        return rc;
    int n = snprintf(out, cap, "vapid t=%s, k=%s", jwt, key->pub_b64);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return WEBPUSH_ESPACE;
    }
    return WEBPUSH_OK;
}

/* ---- RFC 8291 key schedule ---- */

/* HKDF-SHA256 (RFC 5869), extract then expand, through OpenSSL's KDF provider. */
static int hkdf_sha256(const uint8_t *salt, size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                       const void *info, size_t infolen, uint8_t *out, size_t outlen)
{
    char digest[] = "SHA256";
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen),
        OSSL_PARAM_construct_end(),
    };
    int ok = ctx && EVP_KDF_derive(ctx, out, outlen, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok ? WEBPUSH_OK : WEBPUSH_ECRYPTO;
}

/* RFC 8291 section 3.3-3.4 and RFC 8188 section 2.2:
 *   IKM   = HKDF(salt = auth, ikm = ecdh_secret, "WebPush: info\0" || ua_public || as_public, 32)
 *   CEK   = HKDF(salt, IKM, "Content-Encoding: aes128gcm\0", 16)
 *   NONCE = HKDF(salt, IKM, "Content-Encoding: nonce\0", 12)   (one record: sequence 0) */
static int ece_keys(const uint8_t secret[ECDH_SECRET_LEN], const uint8_t auth[WEBPUSH_AUTH_LEN],
                    const uint8_t ua_pub[WEBPUSH_KEY_LEN], const uint8_t as_pub[WEBPUSH_KEY_LEN],
                    const uint8_t salt[WEBPUSH_SALT_LEN], uint8_t cek[CEK_LEN],
                    uint8_t nonce[NONCE_LEN])
{
    static const char key_label[] = "WebPush: info";        /* sizeof counts the NUL */
    static const char cek_info[] = "Content-Encoding: aes128gcm";
    static const char nonce_info[] = "Content-Encoding: nonce";
    uint8_t key_info[sizeof(key_label) + 2 * WEBPUSH_KEY_LEN];
    uint8_t ikm[32];
    memcpy(key_info, key_label, sizeof(key_label));
    memcpy(key_info + sizeof(key_label), ua_pub, WEBPUSH_KEY_LEN);
    memcpy(key_info + sizeof(key_label) + WEBPUSH_KEY_LEN, as_pub, WEBPUSH_KEY_LEN);
    int rc = hkdf_sha256(auth, WEBPUSH_AUTH_LEN, secret, ECDH_SECRET_LEN, key_info,
                         sizeof(key_info), ikm, sizeof(ikm));
    if (rc == WEBPUSH_OK)
        rc = hkdf_sha256(salt, WEBPUSH_SALT_LEN, ikm, sizeof(ikm), cek_info, sizeof(cek_info),
                         cek, CEK_LEN);
    if (rc == WEBPUSH_OK)
        rc = hkdf_sha256(salt, WEBPUSH_SALT_LEN, ikm, sizeof(ikm), nonce_info,
                         sizeof(nonce_info), nonce, NONCE_LEN);
    OPENSSL_cleanse(ikm, sizeof(ikm));
    return rc;
}

/* The keys of one message: ECDH between `ours` and `peer`, then the schedule above. The
 * sender passes (as, ua), the receiver (ua, as); ua_pub and as_pub keep the RFC's order. */
static int ece_derive(EVP_PKEY *ours, const uint8_t peer_pub[WEBPUSH_KEY_LEN],
                      const uint8_t auth[WEBPUSH_AUTH_LEN], const uint8_t ua_pub[WEBPUSH_KEY_LEN],
                      const uint8_t as_pub[WEBPUSH_KEY_LEN], const uint8_t salt[WEBPUSH_SALT_LEN],
                      uint8_t cek[CEK_LEN], uint8_t nonce[NONCE_LEN])
{
    EVP_PKEY *peer = NULL;
    uint8_t secret[ECDH_SECRET_LEN];
    int rc = p256_pkey(NULL, peer_pub, &peer);
    if (rc == WEBPUSH_OK)
        rc = p256_ecdh(ours, peer, secret);
    if (rc == WEBPUSH_OK)
        rc = ece_keys(secret, auth, ua_pub, as_pub, salt, cek, nonce);
    OPENSSL_cleanse(secret, sizeof(secret));
    EVP_PKEY_free(peer);
    return rc;
}

/* ---- aes128gcm records ---- */

/* Writes AES-128-GCM(plaintext || 0x02) and the tag to out (len + 1 + 16 bytes). */
static int gcm_seal(const uint8_t cek[CEK_LEN], const uint8_t nonce[NONCE_LEN],
                    const uint8_t *pt, size_t len, uint8_t *out)
{
    static const uint8_t delimiter = PADDING_DELIMITER;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0, n3 = 0;
    OSSL_PARAM tag[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, out + len + 1,
                                          WEBPUSH_TAG_LEN),
        OSSL_PARAM_construct_end(),
    };
    int ok = c && EVP_EncryptInit_ex2(c, EVP_aes_128_gcm(), cek, nonce, NULL) == 1 &&
             (len == 0 || EVP_EncryptUpdate(c, out, &n1, pt, (int)len) == 1) &&
             EVP_EncryptUpdate(c, out + n1, &n2, &delimiter, 1) == 1 &&
             EVP_EncryptFinal_ex(c, out + n1 + n2, &n3) == 1 &&
             (size_t)(n1 + n2 + n3) == len + 1 && EVP_CIPHER_CTX_get_params(c, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? WEBPUSH_OK : WEBPUSH_ECRYPTO;
}

/* Opens ct (record + tag, len >= 17) into out (len - 16 bytes); WEBPUSH_EDECRYPT when the
 * tag does not match. */
static int gcm_open(const uint8_t cek[CEK_LEN], const uint8_t nonce[NONCE_LEN],
                    const uint8_t *ct, size_t len, uint8_t *out)
{
    size_t rec = len - WEBPUSH_TAG_LEN;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    OSSL_PARAM tag[] = {
        OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, (void *)(ct + rec),
                                          WEBPUSH_TAG_LEN),
        OSSL_PARAM_construct_end(),
    };
    if (!c || EVP_DecryptInit_ex2(c, EVP_aes_128_gcm(), cek, nonce, NULL) != 1 ||
        EVP_DecryptUpdate(c, out, &n1, ct, (int)rec) != 1 ||
        EVP_CIPHER_CTX_set_params(c, tag) != 1) {
        EVP_CIPHER_CTX_free(c);
        return WEBPUSH_ECRYPTO;
    }
    int ok = EVP_DecryptFinal_ex(c, out + n1, &n2) == 1 && (size_t)(n1 + n2) == rec;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        OPENSSL_cleanse(out, rec);
    return ok ? WEBPUSH_OK : WEBPUSH_EDECRYPT;
}

/* RFC 8188 section 2.1: salt(16) || rs(uint32 BE) || idlen(1) || keyid(idlen). */
static void ece_header_write(uint8_t *out, const uint8_t salt[WEBPUSH_SALT_LEN],
                             const uint8_t as_pub[WEBPUSH_KEY_LEN])
{
    memcpy(out, salt, WEBPUSH_SALT_LEN);
    out[16] = (uint8_t)(WEBPUSH_RECORD_SIZE >> 24);
    out[17] = (uint8_t)(WEBPUSH_RECORD_SIZE >> 16);
    out[18] = (uint8_t)(WEBPUSH_RECORD_SIZE >> 8);
    out[19] = (uint8_t)WEBPUSH_RECORD_SIZE;
    out[20] = WEBPUSH_KEY_LEN;
    memcpy(out + 21, as_pub, WEBPUSH_KEY_LEN);
}

/* The subscription's keys, checked in the order the header documents. */
static int subscription_keys(const char *p256dh_b64, const char *auth_b64,
                             uint8_t ua_pub[WEBPUSH_KEY_LEN], uint8_t auth[WEBPUSH_AUTH_LEN])
{
    int rc = b64_field(p256dh_b64, ua_pub, WEBPUSH_KEY_LEN, WEBPUSH_EKEYLEN);
    if (rc == WEBPUSH_OK)
        rc = p256_point_check(ua_pub);
    if (rc == WEBPUSH_OK)
        rc = b64_field(auth_b64, auth, WEBPUSH_AUTH_LEN, WEBPUSH_EAUTH);
    return rc;
}

/* The sender's ephemeral key and the salt: injected (tests) or fresh. */
static int sender_material(const webpush_encrypt_opts *opts, EVP_PKEY **as,
                           uint8_t as_pub[WEBPUSH_KEY_LEN], uint8_t salt[WEBPUSH_SALT_LEN])
{
    int rc = opts && opts->as_private ? p256_keypair_from_scalar(opts->as_private, as, as_pub)
                                      : p256_generate(as, as_pub);
    if (rc != WEBPUSH_OK)
        return rc;
    if (opts && opts->salt)
        memcpy(salt, opts->salt, WEBPUSH_SALT_LEN);
    else if (RAND_bytes(salt, WEBPUSH_SALT_LEN) != 1)
        return WEBPUSH_ECRYPTO;
    return WEBPUSH_OK;
}

int webpush_encrypt(const char *p256dh_b64, const char *auth_b64, const uint8_t *plaintext,
                    size_t len, const webpush_encrypt_opts *opts, uint8_t *out, size_t cap,
                    size_t *out_len)
{
    if (!p256dh_b64 || !auth_b64 || (!plaintext && len) || !out || !out_len)
        return WEBPUSH_EARG;
    *out_len = 0;
    if (len > WEBPUSH_PLAINTEXT_MAX)
        return WEBPUSH_ETOOLONG;
    uint8_t ua_pub[WEBPUSH_KEY_LEN], auth[WEBPUSH_AUTH_LEN];
    int rc = subscription_keys(p256dh_b64, auth_b64, ua_pub, auth);
    if (rc != WEBPUSH_OK)
        return rc;
    if (cap < WEBPUSH_BODY_LEN(len))
        return WEBPUSH_ESPACE;
    EVP_PKEY *as = NULL;
    uint8_t as_pub[WEBPUSH_KEY_LEN], salt[WEBPUSH_SALT_LEN], cek[CEK_LEN], nonce[NONCE_LEN];
    rc = sender_material(opts, &as, as_pub, salt);
    if (rc == WEBPUSH_OK)
        rc = ece_derive(as, ua_pub, auth, ua_pub, as_pub, salt, cek, nonce);
    if (rc == WEBPUSH_OK)
        rc = gcm_seal(cek, nonce, plaintext, len, out + WEBPUSH_HEADER_LEN);
    if (rc == WEBPUSH_OK) {
        ece_header_write(out, salt, as_pub);
        *out_len = WEBPUSH_BODY_LEN(len);
    }
    OPENSSL_cleanse(cek, sizeof(cek));
    EVP_PKEY_free(as);
    return rc;
}

/* ---- the receiver's side ---- */

/* Reads the header of a one-record body; *ct points at record || tag of *ct_len bytes. */
static int ece_header_read(const uint8_t *body, size_t len, const uint8_t **salt,
                           const uint8_t **as_pub, const uint8_t **ct, size_t *ct_len)
{
    if (len < WEBPUSH_HEADER_LEN + 1 + WEBPUSH_TAG_LEN || body[20] != WEBPUSH_KEY_LEN)
        return WEBPUSH_EDECRYPT;
    uint32_t rs = (uint32_t)body[16] << 24 | (uint32_t)body[17] << 16 |
                  (uint32_t)body[18] << 8 | body[19];
    *ct_len = len - WEBPUSH_HEADER_LEN;
    /* RFC 8188 section 2: rs > 17; one record means it cannot exceed rs; EVP takes int */
    if (rs < 18 || *ct_len > rs || *ct_len > INT32_MAX)
        return WEBPUSH_EDECRYPT;
    *salt = body;
    *as_pub = body + 21;
    *ct = body + WEBPUSH_HEADER_LEN;
    return WEBPUSH_OK;
}

/* RFC 8188 section 2: the record is data || 0x02 || zero or more 0x00. */
static int ece_unpad(const uint8_t *rec, size_t len, size_t *data_len)
{
    while (len > 0 && rec[len - 1] == 0)
        len--;
    if (len == 0 || rec[len - 1] != PADDING_DELIMITER)
        return WEBPUSH_EDECRYPT;
    *data_len = len - 1;
    return WEBPUSH_OK;
}

int webpush_decrypt(const uint8_t ua_private[WEBPUSH_SCALAR_LEN],
                    const uint8_t auth[WEBPUSH_AUTH_LEN], const uint8_t *body, size_t len,
                    uint8_t *out, size_t cap, size_t *out_len)
{
    if (!ua_private || !auth || !body || !out || !out_len)
        return WEBPUSH_EARG;
    *out_len = 0;
    const uint8_t *salt, *as_pub, *ct;
    size_t ct_len;
    int rc = ece_header_read(body, len, &salt, &as_pub, &ct, &ct_len);
    if (rc == WEBPUSH_OK)
        rc = p256_point_check(as_pub) == WEBPUSH_OK ? WEBPUSH_OK : WEBPUSH_EDECRYPT;
    if (rc != WEBPUSH_OK)
        return rc;
    if (cap < ct_len - WEBPUSH_TAG_LEN)
        return WEBPUSH_ESPACE;
    EVP_PKEY *ua = NULL;
    uint8_t ua_pub[WEBPUSH_KEY_LEN], cek[CEK_LEN], nonce[NONCE_LEN];
    rc = p256_keypair_from_scalar(ua_private, &ua, ua_pub);
    if (rc == WEBPUSH_OK)
        rc = ece_derive(ua, as_pub, auth, ua_pub, as_pub, salt, cek, nonce);
    if (rc == WEBPUSH_OK)
        rc = gcm_open(cek, nonce, ct, ct_len, out);
    if (rc == WEBPUSH_OK)
        rc = ece_unpad(out, ct_len - WEBPUSH_TAG_LEN, out_len);
    if (rc == WEBPUSH_EDECRYPT)  /* gcm_open already wiped on a bad tag; this is bad padding */
        OPENSSL_cleanse(out, ct_len - WEBPUSH_TAG_LEN);
    OPENSSL_cleanse(cek, sizeof(cek));
    EVP_PKEY_free(ua);
    return rc;
}
