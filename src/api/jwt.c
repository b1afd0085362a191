/*
 * jwt: HS256 JWS compact serialisation and our access-token claims. See jwt.h.
 */
#include "api/jwt.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

#define JWT_MAC_LEN 32

static int jwt_mac(const uint8_t *key, size_t keylen, const char *data, size_t len,
                   uint8_t mac[JWT_MAC_LEN])
{
    unsigned int maclen = 0;
    /* HMAC() with a NULL-free key: OpenSSL refuses a NULL key pointer even for length 0. */
    static const uint8_t empty = 0;
    if (!HMAC(EVP_sha256(), keylen ? key : &empty, (int)keylen, (const unsigned char *)data,
              len, mac, &maclen) || maclen != JWT_MAC_LEN)
        return -1;
    return 0;
}

int jwt_sign_parts(const uint8_t *key, size_t keylen, const char *header, size_t hlen,
                   const char *payload, size_t plen, char *out, size_t cap)
{
    size_t need = b64url_encoded_len(hlen) + 1 + b64url_encoded_len(plen) + 1 +
                  b64url_encoded_len(JWT_MAC_LEN) + 1;
    if (cap < need || need > JWT_MAX_LEN + 1)
        return JWT_ESPACE;
    ssize_t a = b64url_encode((const uint8_t *)header, hlen, out, cap);
    out[a] = '.';
    ssize_t b = b64url_encode((const uint8_t *)payload, plen, out + a + 1, cap - (size_t)a - 1);
    size_t signed_len = (size_t)a + 1 + (size_t)b;
    uint8_t mac[JWT_MAC_LEN];
    if (jwt_mac(key, keylen, out, signed_len, mac) != 0)
        return JWT_ESPACE;
    out[signed_len] = '.';
    b64url_encode(mac, JWT_MAC_LEN, out + signed_len + 1, cap - signed_len - 1);
    return JWT_OK;
}

/* The header must be a JSON object whose alg is exactly "HS256"; typ, when present, "JWT".
 * "crit" is refused: we implement no extensions (RFC 7515 4.1.11). */
static int jwt_check_header(const char *seg, size_t len)
{
    uint8_t buf[512];
    if (b64url_decoded_max(len) > sizeof(buf))
        return JWT_EFORMAT;
    ssize_t n = b64url_decode(seg, len, buf, sizeof(buf));
    if (n <= 0)
        return JWT_EFORMAT;
    json_t *h = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (!h || !json_is_object(h)) {
        json_decref(h);
        return JWT_EFORMAT;
    }
    const char *alg = json_string_value(json_object_get(h, "alg"));
    json_t *typ = json_object_get(h, "typ");
    int rc = JWT_OK;
    if (!alg || strcmp(alg, "HS256") != 0)
        rc = JWT_EALG;
    else if (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
        rc = JWT_EALG;
    else if (json_object_get(h, "crit"))
        rc = JWT_EALG;
    json_decref(h);
    return rc;
}

int jwt_verify_parts(const uint8_t *key, size_t keylen, const char *token, size_t len,
                     char *payload, size_t cap, size_t *plen)
{
    if (!token || len == 0 || len > JWT_MAX_LEN)
        return JWT_EFORMAT;
    const char *dot1 = memchr(token, '.', len);
    if (!dot1)
        return JWT_EFORMAT;
    const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (!dot2)
        return JWT_EFORMAT;
    if (memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return JWT_EFORMAT;
    size_t hlen = (size_t)(dot1 - token);
    size_t plen_enc = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - token);
    if (hlen == 0 || plen_enc == 0)
        return JWT_EFORMAT;
    int rc = jwt_check_header(token, hlen);
    if (rc != JWT_OK)
        return rc;
    uint8_t sig[JWT_MAC_LEN + 3];
    if (slen != b64url_encoded_len(JWT_MAC_LEN) ||
        b64url_decode(dot2 + 1, slen, sig, sizeof(sig)) != JWT_MAC_LEN)
        return JWT_ESIG;
    uint8_t mac[JWT_MAC_LEN];
    if (jwt_mac(key, keylen, token, (size_t)(dot2 - token), mac) != 0)
        return JWT_ESIG;
    if (CRYPTO_memcmp(mac, sig, JWT_MAC_LEN) != 0)
        return JWT_ESIG;
    if (b64url_decoded_max(plen_enc) + 1 > cap)
        return JWT_EFORMAT;
    ssize_t n = b64url_decode(dot1 + 1, plen_enc, (uint8_t *)payload, cap - 1);
    if (n < 0)
        return JWT_EFORMAT;
    payload[n] = '\0';
    if (plen)
        *plen = (size_t)n;
    return JWT_OK;
}

static const char jwt_header_hs256[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

int jwt_encode_claims(const uint8_t *key, size_t keylen, const jwt_claims *c, char *out,
                      size_t cap)
{
    char sub[24];
    snprintf(sub, sizeof(sub), "%" PRIu64, c->sub);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "sub", sub, "role", c->role,
                          "did", c->did, "fam", c->fam, "iat", (json_int_t)c->iat, "exp",
                          (json_int_t)c->exp, "jti", c->jti);
    if (!p)
        return JWT_ECLAIMS;
    char *txt = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    if (!txt)
        return JWT_ESPACE;
    int rc = jwt_sign_parts(key, keylen, jwt_header_hs256, sizeof(jwt_header_hs256) - 1, txt,
                            strlen(txt), out, cap);
    free(txt);
    return rc;
}

static int jwt_copy_claim(json_t *p, const char *name, char *dst)
{
    const char *v = json_string_value(json_object_get(p, name));
    if (!v || !*v || strlen(v) > JWT_ID_MAX)
        return -1;
    strcpy(dst, v);
    return 0;
}

/* "sub" must be the canonical decimal spelling of a non-zero uint64 (no sign, no leading 0). */
static int jwt_parse_sub(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '0' || strlen(s) > 20)
        return -1;
    uint64_t v = 0;
    for (const char *q = s; *q; q++) {
        if (*q < '0' || *q > '9')
            return -1;
        uint64_t d = (uint64_t)(*q - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int jwt_decode_claims(const uint8_t *key, size_t keylen, const char *token, int64_t now,
                      int64_t leeway_s, jwt_claims *out)
{
    char payload[JWT_MAX_LEN];
    size_t plen = 0;
    if (!token)
        return JWT_EFORMAT;
    int rc = jwt_verify_parts(key, keylen, token, strlen(token), payload, sizeof(payload), &plen);
    if (rc != JWT_OK)
        return rc;
    json_t *p = json_loadb(payload, plen, JSON_REJECT_DUPLICATES, NULL);
    if (!p || !json_is_object(p)) {
        json_decref(p);
        return JWT_EFORMAT;
    }
    memset(out, 0, sizeof(*out));
    rc = JWT_OK;
    json_t *iat = json_object_get(p, "iat"), *exp = json_object_get(p, "exp");
    if (jwt_parse_sub(json_string_value(json_object_get(p, "sub")), &out->sub) != 0 ||
        jwt_copy_claim(p, "role", out->role) != 0 || jwt_copy_claim(p, "did", out->did) != 0 ||
        jwt_copy_claim(p, "fam", out->fam) != 0 || jwt_copy_claim(p, "jti", out->jti) != 0 ||
        !json_is_integer(iat) || !json_is_integer(exp)) {
        rc = JWT_ECLAIMS;
    } else {
        out->iat = json_integer_value(iat);
        out->exp = json_integer_value(exp);
        if (out->iat > now + leeway_s || out->exp <= out->iat)
            rc = JWT_ECLAIMS;
        else if (now >= out->exp)
            rc = JWT_EEXPIRED;
    }
    json_decref(p);
    return rc;
}

const char *jwt_status_name(int status)
{
    switch (status) {
    case JWT_OK: return "ok";
    case JWT_EFORMAT: return "malformed";
    case JWT_EALG: return "bad_algorithm";
    case JWT_ESIG: return "bad_signature";
    case JWT_EEXPIRED: return "expired";
    case JWT_ECLAIMS: return "bad_claims";
    case JWT_ESPACE: return "no_space";
    default: return "unknown";
    }
}
