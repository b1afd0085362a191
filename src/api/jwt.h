/*
 * jwt: JSON Web Tokens signed with HS256 (RFC 7519 / RFC 7515), sans-IO.
 *
 * Two layers:
 *  - jwt_sign_parts / jwt_verify_parts: the JWS compact form over arbitrary header and payload
 *    bytes (used by the RFC 7515 A.1 test vector and by the claims layer).
 *  - jwt_encode_claims / jwt_decode_claims: our access-token claims (sub, role, did, fam, iat,
 *    exp, jti). The current time is passed in; nothing here reads a clock.
 *
 * Verification refuses every algorithm but "HS256" (so "none", "HS512", "RS256" are refused
 * before any signature check), a missing or wrong-length signature, a token longer than
 * JWT_MAX_LEN, duplicate JSON keys, and compares the MAC in constant time.
 *
 * Threads: any; no shared state. Outputs go into caller buffers (no allocation is returned).
 * Errors: negative jwt_status values; JWT_OK (0) on success.
 */
#ifndef PARLEY_API_JWT_H
#define PARLEY_API_JWT_H

#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_LEN 4096
#define JWT_ID_MAX 128      /* longest did / fam / jti / role string accepted */

typedef enum jwt_status {
    JWT_OK = 0,
    JWT_EFORMAT = -1,   /* not three base64url parts, bad JSON, too long */
    JWT_EALG = -2,      /* header alg is not HS256 (e.g. "none") or typ is not JWT */
    JWT_ESIG = -3,      /* signature does not match */
    JWT_EEXPIRED = -4,  /* now >= exp */
    JWT_ECLAIMS = -5,   /* a required claim is missing, mistyped, or iat is in the future */
    JWT_ESPACE = -6,    /* output buffer too small */
} jwt_status;

/* Signs base64url(header) "." base64url(payload) with HMAC-SHA256 and writes the token. */
int jwt_sign_parts(const uint8_t *key, size_t keylen, const char *header, size_t hlen,
                   const char *payload, size_t plen, char *out, size_t cap);

/* Checks the token's shape, its header (alg HS256) and signature; on success copies the
 * decoded payload bytes (NUL-terminated) into payload/cap and sets *plen. */
int jwt_verify_parts(const uint8_t *key, size_t keylen, const char *token, size_t len,
                     char *payload, size_t cap, size_t *plen);

typedef struct jwt_claims {
    uint64_t sub;                 /* user id (a decimal string in the token, per RFC 7519) */
    char role[JWT_ID_MAX + 1];    /* "caller" | "host" | "admin" */
    char did[JWT_ID_MAX + 1];     /* the client's device id */
    char fam[JWT_ID_MAX + 1];     /* login session (refresh-token family) id */
    char jti[JWT_ID_MAX + 1];
    int64_t iat;
    int64_t exp;
} jwt_claims;

int jwt_encode_claims(const uint8_t *key, size_t keylen, const jwt_claims *c, char *out,
                      size_t cap);
/* Verifies and extracts claims. leeway_s tolerates clock skew for iat only (a token is dead
 * at exp exactly). */
int jwt_decode_claims(const uint8_t *key, size_t keylen, const char *token, int64_t now,
                      int64_t leeway_s, jwt_claims *out);

const char *jwt_status_name(int status);

#endif
