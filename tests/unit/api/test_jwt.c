/*
 * JWT (HS256) and base64url: the RFC 7515 A.1 vector, our claims round trip, expiry, every
 * kind of tampering, and refused algorithms.
 */
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "api/jwt.h"
#include "check.h"

static const char rfc_k[] =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
static const char rfc_token[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

static void test_b64(void)
{
    char out[64];
    uint8_t bin[64];
    /* RFC 4648 section 10 vectors, unpadded */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        CHECK_INT(b64url_encode((const uint8_t *)plain[i], strlen(plain[i]), out, sizeof(out)),
                  strlen(enc[i]));
        CHECK_STR(out, enc[i]);
        ssize_t n = b64url_decode(enc[i], strlen(enc[i]), bin, sizeof(bin));
        CHECK_INT(n, strlen(plain[i]));
        CHECK(memcmp(bin, plain[i], (size_t)n) == 0);
    }
    uint8_t hi[] = {0xfb, 0xff, 0xfe};
    CHECK_INT(b64url_encode(hi, 3, out, sizeof(out)), 4);
    CHECK_STR(out, "-__-");
    CHECK_INT(b64url_decode("Zg==", 4, bin, sizeof(bin)), -1);   /* padding refused */
    CHECK_INT(b64url_decode("Z", 1, bin, sizeof(bin)), -1);      /* impossible length */
    CHECK_INT(b64url_decode("Zh", 2, bin, sizeof(bin)), -1);     /* non-zero trailing bits */
    CHECK_INT(b64url_decode("Z+8", 3, bin, sizeof(bin)), -1);    /* standard alphabet char */
    CHECK_INT(b64url_decode("Zm9v", 4, bin, 2), -1);             /* short output */
    CHECK_INT(b64url_encode((const uint8_t *)"foo", 3, out, 4), -1);  /* no room for NUL */
}

static void rfc_key(uint8_t *key, size_t *len)
{
    ssize_t n = b64url_decode(rfc_k, strlen(rfc_k), key, 64);
    CHECK_INT(n, 64);
    *len = (size_t)n;
}

static void test_rfc7515_a1(void)
{
    uint8_t key[64];
    size_t kl;
    rfc_key(key, &kl);
    const char h[] = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
    const char p[] = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
    char tok[512];
    CHECK_INT(jwt_sign_parts(key, kl, h, strlen(h), p, strlen(p), tok, sizeof(tok)), JWT_OK);
    CHECK_STR(tok, rfc_token);
    char payload[512];
    size_t plen = 0;
    CHECK_INT(jwt_verify_parts(key, kl, rfc_token, strlen(rfc_token), payload, sizeof(payload),
                               &plen), JWT_OK);
    CHECK_INT(plen, strlen(p));
    CHECK_STR(payload, p);
    /* that token has no sub/role/...: the claims layer must refuse it */
    jwt_claims c;
    CHECK_INT(jwt_decode_claims(key, kl, rfc_token, 1300000000, 60, &c), JWT_ECLAIMS);
    /* wrong key */
    key[0] ^= 1;
    CHECK_INT(jwt_verify_parts(key, kl, rfc_token, strlen(rfc_token), payload, sizeof(payload),
                               &plen), JWT_ESIG);
}

static const uint8_t skey[] = "0123456789abcdef0123456789abcdef";

static void make_claims(jwt_claims *c)
{
    memset(c, 0, sizeof(*c));
    c->sub = 42;
    strcpy(c->role, "host");
    strcpy(c->did, "phone-1");
    strcpy(c->fam, "fam-abc");
    strcpy(c->jti, "jti-1");
    c->iat = 1700000000;
    c->exp = 1700000900;
}

static void test_claims_roundtrip_and_expiry(void)
{
    jwt_claims c, d;
    make_claims(&c);
    char tok[JWT_MAX_LEN];
    CHECK_INT(jwt_encode_claims(skey, 32, &c, tok, sizeof(tok)), JWT_OK);
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 1700000000, 60, &d), JWT_OK);
    CHECK_INT(d.sub, 42);
    CHECK_STR(d.role, "host");
    CHECK_STR(d.did, "phone-1");
    CHECK_STR(d.fam, "fam-abc");
    CHECK_STR(d.jti, "jti-1");
    CHECK_INT(d.iat, 1700000000);
    CHECK_INT(d.exp, 1700000900);
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 1700000899, 60, &d), JWT_OK);
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 1700000900, 60, &d), JWT_EEXPIRED);
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 1800000000, 60, &d), JWT_EEXPIRED);
    /* issued in the future beyond the leeway */
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 1699999941, 60, &d), JWT_OK);
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 1699999939, 60, &d), JWT_ECLAIMS);
    /* other key */
    CHECK_INT(jwt_decode_claims((const uint8_t *)"x", 1, tok, 1700000000, 60, &d), JWT_ESIG);
    /* sub 0 and huge subs */
    c.sub = UINT64_MAX;
    CHECK_INT(jwt_encode_claims(skey, 32, &c, tok, sizeof(tok)), JWT_OK);
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 1700000000, 60, &d), JWT_OK);
    CHECK(d.sub == UINT64_MAX);
}

/* Re-signs a hand-written payload with the right key: claims checks must still refuse it. */
static int forge(const char *header, const char *payload, char *tok, size_t cap)
{
    return jwt_sign_parts(skey, 32, header, strlen(header), payload, strlen(payload), tok, cap);
}

static void test_claims_refused(void)
{
    char tok[JWT_MAX_LEN];
    jwt_claims d;
    const char *hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    const char *base_ok = "{\"sub\":\"7\",\"role\":\"caller\",\"did\":\"d\",\"fam\":\"f\","
                          "\"iat\":100,\"exp\":200,\"jti\":\"j\"}";
    CHECK_INT(forge(hs, base_ok, tok, sizeof(tok)), JWT_OK);
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 150, 0, &d), JWT_OK);
    const char *bad_payloads[] = {
        "{\"sub\":7,\"role\":\"caller\",\"did\":\"d\",\"fam\":\"f\",\"iat\":100,\"exp\":200,\"jti\":\"j\"}",
        "{\"sub\":\"07\",\"role\":\"caller\",\"did\":\"d\",\"fam\":\"f\",\"iat\":100,\"exp\":200,\"jti\":\"j\"}",
        "{\"sub\":\"-7\",\"role\":\"caller\",\"did\":\"d\",\"fam\":\"f\",\"iat\":100,\"exp\":200,\"jti\":\"j\"}",
        "{\"sub\":\"18446744073709551616\",\"role\":\"caller\",\"did\":\"d\",\"fam\":\"f\",\"iat\":100,\"exp\":200,\"jti\":\"j\"}",
        "{\"sub\":\"7\",\"did\":\"d\",\"fam\":\"f\",\"iat\":100,\"exp\":200,\"jti\":\"j\"}",
        "{\"sub\":\"7\",\"role\":\"caller\",\"did\":\"d\",\"fam\":\"f\",\"iat\":100,\"exp\":\"200\",\"jti\":\"j\"}",
        "{\"sub\":\"7\",\"role\":\"caller\",\"did\":\"d\",\"fam\":\"f\",\"iat\":100,\"exp\":200.5,\"jti\":\"j\"}",
        "{\"sub\":\"7\",\"role\":\"caller\",\"did\":\"d\",\"fam\":\"f\",\"iat\":200,\"exp\":100,\"jti\":\"j\"}",
        "{\"sub\":\"7\",\"role\":\"\",\"did\":\"d\",\"fam\":\"f\",\"iat\":100,\"exp\":200,\"jti\":\"j\"}",
    };
    for (size_t i = 0; i < sizeof(bad_payloads) / sizeof(*bad_payloads); i++) {
        CHECK_INT(forge(hs, bad_payloads[i], tok, sizeof(tok)), JWT_OK);
        int rc = jwt_decode_claims(skey, 32, tok, 150, 0, &d);
        if (rc != JWT_ECLAIMS)
            fprintf(stderr, "payload %zu: %d\n", i, rc);
        CHECK_INT(rc, JWT_ECLAIMS);
    }
    /* duplicate keys and non-object payloads are malformed */
    CHECK_INT(forge(hs, "{\"sub\":\"7\",\"sub\":\"8\"}", tok, sizeof(tok)), JWT_OK);
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 150, 0, &d), JWT_EFORMAT);
    CHECK_INT(forge(hs, "[1,2]", tok, sizeof(tok)), JWT_OK);
    CHECK_INT(jwt_decode_claims(skey, 32, tok, 150, 0, &d), JWT_EFORMAT);
    /* algorithms other than HS256, even correctly MAC'd */
    const char *bad_headers[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"HS512\"}", "{\"alg\":\"hs256\"}",
        "{\"typ\":\"JWT\"}", "{\"alg\":\"HS256\",\"typ\":\"JWE\"}",
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{\"alg\":[\"HS256\"]}",
    };
    for (size_t i = 0; i < sizeof(bad_headers) / sizeof(*bad_headers); i++) {
        CHECK_INT(forge(bad_headers[i], base_ok, tok, sizeof(tok)), JWT_OK);
        CHECK_INT(jwt_decode_claims(skey, 32, tok, 150, 0, &d), JWT_EALG);
    }
}

static void test_tampering(void)
{
    jwt_claims c, d;
    make_claims(&c);
    char tok[JWT_MAX_LEN], bad[JWT_MAX_LEN];
    CHECK_INT(jwt_encode_claims(skey, 32, &c, tok, sizeof(tok)), JWT_OK);
    size_t n = strlen(tok);
    /* flipping any single character must never verify */
    int accepted = 0;
    for (size_t i = 0; i < n; i++) {
        strcpy(bad, tok);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        if (jwt_decode_claims(skey, 32, bad, 1700000000, 60, &d) == JWT_OK)
            accepted++;
    }
    CHECK_INT(accepted, 0);
    /* alg=none with an empty signature: the classic attack */
    char *dot = strchr(tok, '.');
    char none[JWT_MAX_LEN];
    char hdr[64];
    b64url_encode((const uint8_t *)"{\"alg\":\"none\"}", 14, hdr, sizeof(hdr));
    snprintf(none, sizeof(none), "%s%.*s.", hdr, (int)(strrchr(tok, '.') - dot), dot);
    CHECK_INT(jwt_decode_claims(skey, 32, none, 1700000000, 60, &d), JWT_EALG);
    /* shapes */
    CHECK_INT(jwt_decode_claims(skey, 32, "", 0, 0, &d), JWT_EFORMAT);
    CHECK_INT(jwt_decode_claims(skey, 32, "a.b", 0, 0, &d), JWT_EFORMAT);
    CHECK_INT(jwt_decode_claims(skey, 32, "a.b.c.d", 0, 0, &d), JWT_EFORMAT);
    CHECK_INT(jwt_decode_claims(skey, 32, "..", 0, 0, &d), JWT_EFORMAT);
    CHECK_INT(jwt_decode_claims(skey, 32, NULL, 0, 0, &d), JWT_EFORMAT);
    /* truncated signature, appended bytes */
    strcpy(bad, tok);
    bad[n - 1] = '\0';
    CHECK_INT(jwt_decode_claims(skey, 32, bad, 1700000000, 60, &d), JWT_ESIG);
    CHECK(n + 2 <= sizeof bad); /* a real token is far below JWT_MAX_LEN */
    memcpy(bad, tok, n);
    bad[n] = 'A';
    bad[n + 1] = '\0';
    CHECK_INT(jwt_decode_claims(skey, 32, bad, 1700000000, 60, &d), JWT_ESIG);
    /* oversize */
    char *huge = malloc(JWT_MAX_LEN + 10);
    memset(huge, 'A', JWT_MAX_LEN + 9);
    huge[10] = '.';
    huge[20] = '.';
    huge[JWT_MAX_LEN + 9] = '\0';
    CHECK_INT(jwt_decode_claims(skey, 32, huge, 0, 0, &d), JWT_EFORMAT);
    free(huge);
    /* output buffer too small */
    CHECK_INT(jwt_encode_claims(skey, 32, &c, tok, 20), JWT_ESPACE);
}

int main(void)
{
    test_b64();
    test_rfc7515_a1();
    test_claims_roundtrip_and_expiry();
    test_claims_refused();
    test_tampering();
    return check_summary("api-jwt");
}
