/*
 * webpush: the sans-IO building blocks of Web Push (RFC 8030) for the push service.
 *
 *  - VAPID keys (RFC 8292): a P-256 key pair, generated once and stored. The stored form is
 *    the raw 32-byte private scalar in base64url without padding (43 characters), the form
 *    other Web Push servers keep in their configuration; the public key is the uncompressed
 *    65-byte point in base64url (87 characters), the `applicationServerKey` the browser passes
 *    to `pushManager.subscribe` and what GET /api/v1/push/vapid-public-key serves.
 *  - The VAPID JWT (ES256, claims aud = the endpoint's origin, exp = now + ttl capped at
 *    24 h, sub = the operator's mailto:/https: contact) and the value of the Authorization
 *    header, `vapid t=<jwt>, k=<public key>`.
 *  - RFC 8291 payload encryption in the aes128gcm content coding (RFC 8188): one record,
 *    header salt(16) || rs(4, 4096) || idlen(1) = 65 || as_public(65), then the ciphertext of
 *    plaintext || 0x02 and the 16-byte tag. Also the receiver's side (webpush_decrypt), for
 *    tests and local fakes of a push service.
 *
 * No I/O, no clock (the caller passes `now`), no threads. Randomness (keys, salts) comes from
 * OpenSSL's RAND_bytes unless the caller injects it (tests).
 *
 * Ownership: webpush_vapid_generate/_load return a key the caller frees with
 * webpush_vapid_free. Every other output goes into a caller buffer; nothing else is
 * allocated for the caller. webpush_vapid_public_b64 points into the key and lives as long
 * as it.
 *
 * Threads: any. A webpush_vapid is immutable once made, so one key may sign from several
 * threads at once.
 *
 * Errors: a negative webpush_status, WEBPUSH_OK (0) on success; bad input never crashes.
 * Base64url inputs (p256dh, auth, the stored private key) are the unpadded alphabet of
 * RFC 4648 section 5; trailing '=' padding is tolerated because some clients send it.
 */
#ifndef PARLEY_PUSH_WEBPUSH_H
#define PARLEY_PUSH_WEBPUSH_H

#include <stddef.h>
#include <stdint.h>

#define WEBPUSH_KEY_LEN 65           /* an uncompressed P-256 point: 0x04 || x || y */
#define WEBPUSH_SCALAR_LEN 32        /* a P-256 private key */
#define WEBPUSH_AUTH_LEN 16          /* the subscription's auth secret */
#define WEBPUSH_SALT_LEN 16
#define WEBPUSH_RECORD_SIZE 4096     /* the rs we announce */
#define WEBPUSH_HEADER_LEN (WEBPUSH_SALT_LEN + 4 + 1 + WEBPUSH_KEY_LEN)   /* 86 */
#define WEBPUSH_TAG_LEN 16
/* RFC 8291 section 4: push services must accept 4096-byte bodies; minus the header, the
 * padding delimiter and the tag, that leaves 3993 bytes of plaintext. */
#define WEBPUSH_PLAINTEXT_MAX 3993
/* The encrypted body's size for n plaintext bytes (no padding beyond the delimiter). */
#define WEBPUSH_BODY_LEN(n) (WEBPUSH_HEADER_LEN + (size_t)(n) + 1 + WEBPUSH_TAG_LEN)

#define WEBPUSH_PRIVATE_B64_LEN 43   /* base64url of the 32-byte scalar, without NUL */
#define WEBPUSH_PUBLIC_B64_LEN 87    /* base64url of the 65-byte point, without NUL */
#define WEBPUSH_VAPID_TTL_MAX 86400  /* RFC 8292 section 2: exp at most 24 h ahead */
#define WEBPUSH_ORIGIN_MAX 300       /* longest origin accepted, with NUL */
#define WEBPUSH_SUBJECT_MAX 256      /* longest sub accepted, without NUL */
#define WEBPUSH_JWT_MAX 1024         /* buffer that always fits a VAPID JWT, with NUL */
#define WEBPUSH_AUTHORIZATION_MAX 1152  /* buffer that always fits the header value */

typedef enum webpush_status {
    WEBPUSH_OK = 0,
    WEBPUSH_EARG = -1,      /* a NULL pointer; a ttl <= 0, now < 0 or now + 24 h overflowing */
    WEBPUSH_EBASE64 = -2,   /* an input is not base64url */
    WEBPUSH_EKEYLEN = -3,   /* p256dh is not 65 bytes (or the stored private key not 32) */
    WEBPUSH_EPOINT = -4,    /* p256dh is not an uncompressed point on P-256 */
    WEBPUSH_EAUTH = -5,     /* auth is not 16 bytes */
    WEBPUSH_ETOOLONG = -6,  /* plaintext longer than WEBPUSH_PLAINTEXT_MAX */
    WEBPUSH_EENDPOINT = -7, /* the endpoint is not an http(s) URL with a plain host */
    WEBPUSH_ESUBJECT = -8,  /* sub is not "mailto:..." or "https:..." of printable ASCII */
    WEBPUSH_EPRIVATE = -9,  /* a private scalar is 0 or not below the group order */
    WEBPUSH_ESPACE = -10,   /* the output buffer is too small */
    WEBPUSH_EDECRYPT = -11, /* webpush_decrypt: malformed body or authentication failed */
    WEBPUSH_ECRYPTO = -12,  /* OpenSSL failed (out of memory, no entropy) */
} webpush_status;

const char *webpush_status_name(int status);

/* ---- VAPID keys ---- */

typedef struct webpush_vapid webpush_vapid;

/* A fresh key pair from OpenSSL's generator. */
int webpush_vapid_generate(webpush_vapid **out);
/* The key stored by webpush_vapid_private_b64 (NUL-terminated base64url of the scalar). */
int webpush_vapid_load(const char *private_b64, webpush_vapid **out);
/* Writes the private scalar's base64url (43 characters + NUL); cap >= 44. Secret: store it
 * where only the server can read it. */
int webpush_vapid_private_b64(const webpush_vapid *key, char *out, size_t cap);
/* The public key: 87 characters of base64url, or the 65 raw bytes. */
const char *webpush_vapid_public_b64(const webpush_vapid *key);
const uint8_t *webpush_vapid_public_raw(const webpush_vapid *key);
void webpush_vapid_free(webpush_vapid *key);

/* ---- VAPID JWT ---- */

/* The origin (RFC 6454) of a push endpoint: lower-case scheme "://" lower-case host, then
 * ":port" unless it is the scheme's default. http is accepted for local fakes. Userinfo,
 * an empty host, a bad port and characters outside a DNS name or bracketed IPv6 literal are
 * refused with WEBPUSH_EENDPOINT. cap >= WEBPUSH_ORIGIN_MAX always suffices. */
int webpush_origin(const char *endpoint, char *out, size_t cap);

/* The signed JWT for requests to `endpoint`: exp = now + min(ttl_s, 24 h). Push services
 * reject an exp in the past or too far ahead, so callers whose clock may drift should ask
 * for less than the maximum (12 h is common). */
int webpush_vapid_jwt(const webpush_vapid *key, const char *endpoint, const char *subject,
                      int64_t now, int64_t ttl_s, char *out, size_t cap);
/* The whole Authorization header value, "vapid t=<jwt>, k=<public key>". */
int webpush_vapid_authorization(const webpush_vapid *key, const char *endpoint,
                                const char *subject, int64_t now, int64_t ttl_s, char *out,
                                size_t cap);

/* ---- RFC 8291 encryption ---- */

/* Deterministic inputs for tests. NULL members (or a NULL options pointer) mean "fresh
 * from RAND_bytes", which is what production must use: reusing a salt with one key repeats
 * the AES-GCM nonce. */
typedef struct webpush_encrypt_opts {
    const uint8_t *salt;        /* WEBPUSH_SALT_LEN bytes */
    const uint8_t *as_private;  /* WEBPUSH_SCALAR_LEN bytes: the ephemeral sender key */
} webpush_encrypt_opts;

/* Encrypts plaintext (0..3993 bytes) to the subscription's keys (NUL-terminated base64url
 * from its JSON) and writes the aes128gcm body, WEBPUSH_BODY_LEN(len) bytes, into out;
 * *out_len gets its length. The body is what goes in the POST with
 * Content-Encoding: aes128gcm. */
int webpush_encrypt(const char *p256dh_b64, const char *auth_b64, const uint8_t *plaintext,
                    size_t len, const webpush_encrypt_opts *opts, uint8_t *out, size_t cap,
                    size_t *out_len);

/* The user agent's side: opens a one-record aes128gcm body with the subscription's private
 * scalar and auth secret, strips the padding and writes the plaintext to out, which needs
 * len - WEBPUSH_HEADER_LEN - WEBPUSH_TAG_LEN bytes (the record before unpadding). Any
 * malformed or forged body is WEBPUSH_EDECRYPT and leaves no plaintext in out. For tests and
 * fakes; a server never holds a subscription's private key. */
int webpush_decrypt(const uint8_t ua_private[WEBPUSH_SCALAR_LEN],
                    const uint8_t auth[WEBPUSH_AUTH_LEN], const uint8_t *body, size_t len,
                    uint8_t *out, size_t cap, size_t *out_len);

#endif
