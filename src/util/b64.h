/*
 * b64: base64url (RFC 4648 section 5) without padding, as used by JWT (RFC 7515), our refresh
 * tokens, password hash strings, pagination cursors, VAPID keys and Web Push subscriptions.
 *
 * Sans-IO and allocation-free: the caller provides the output buffer.
 * Thread-safe (no state).
 *
 * Errors: b64url_encode returns the encoded length (without the NUL it always writes) or -1
 * when cap is too small. b64url_decode returns the decoded length or -1 when the input has a
 * character outside the alphabet, padding, an impossible length (len % 4 == 1), non-zero
 * trailing bits (so every byte string has exactly one accepted encoding), or cap is short.
 */
#ifndef PARLEY_UTIL_B64_H
#define PARLEY_UTIL_B64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Encoded length for n input bytes (without NUL). */
size_t b64url_encoded_len(size_t n);
/* Upper bound of decoded bytes for an encoded length. */
size_t b64url_decoded_max(size_t n);

ssize_t b64url_encode(const uint8_t *in, size_t n, char *out, size_t cap);
ssize_t b64url_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#endif
