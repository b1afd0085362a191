/*
 * password: password hashing with scrypt (OpenSSL EVP_KDF "SCRYPT"), memory-hard (SPEC 3.2).
 *
 * Stored form: "scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>" with a 16-byte salt and a
 * 32-byte derived key. Verification reads the parameters from the stored string, so raising
 * the configured cost later keeps old hashes valid (they can be rehashed at next login:
 * password_needs_rehash).
 *
 * Cost: N = 2^ln, r = 8, p = 1 uses 128*r*N bytes (32 MiB at ln = 15) and ~0.1 s of one core.
 * Stored parameters are bounded (ln <= 18, r <= 8, p <= 2: at most 256 MiB) so a tampered
 * row cannot make a login consume unbounded memory.
 *
 * Threads: any. No state. The password is never logged or kept.
 * Errors: password_hash* return 0 or -1 (bad parameters, no space, KDF failure).
 * password_verify returns 1 (match), 0 (no match), -1 (malformed stored string).
 */
#ifndef PARLEY_API_PASSWORD_H
#define PARLEY_API_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PASSWORD_SALT_LEN 16
#define PASSWORD_HASH_LEN 32
#define PASSWORD_STORED_MAX 128
#define PASSWORD_LN_MIN 1
#define PASSWORD_LN_MAX 18

/* Deterministic: the salt is given (tests, fuzzing). */
int password_hash_with_salt(const char *pw, int ln, const uint8_t salt[PASSWORD_SALT_LEN],
                            char *out, size_t cap);
/* Draws a fresh salt from the OpenSSL CSPRNG. */
int password_hash(const char *pw, int ln, char *out, size_t cap);
int password_verify(const char *pw, const char *stored);
/* True when stored is well-formed but uses a different log2 N than ln. */
bool password_needs_rehash(const char *stored, int ln);

#endif
