/*
 * password: scrypt hashing and constant-time verification. See password.h.
 */
#include "api/password.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

#define PASSWORD_R 8
#define PASSWORD_P 1

typedef struct password_params {
    int ln;
    int r;
    int p;
    uint8_t salt[PASSWORD_SALT_LEN];
    uint8_t hash[PASSWORD_HASH_LEN];
} password_params;

/* Fetching an algorithm searches the provider tables under a lock: do it once. */
static EVP_KDF *password_kdf;
static pthread_once_t password_kdf_once = PTHREAD_ONCE_INIT;

static void password_kdf_fetch(void)
{
    password_kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
}

static int password_derive(const char *pw, int ln, int r, int p, const uint8_t *salt,
                           uint8_t out[PASSWORD_HASH_LEN])
{
    pthread_once(&password_kdf_once, password_kdf_fetch);
    if (!password_kdf)
        return -1;
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(password_kdf);
    if (!ctx)
        return -1;
    uint64_t n = (uint64_t)1 << ln;
    uint32_t rr = (uint32_t)r, pp = (uint32_t)p;
    /* Room for the scrypt working set (128*r*N) plus the p*128*r block, with slack. */
    uint64_t maxmem = 128u * (uint64_t)r * n * 2 + (1u << 20);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pw, strlen(pw)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, PASSWORD_SALT_LEN),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &rr),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &pp),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(ctx, out, PASSWORD_HASH_LEN, params) == 1;
    EVP_KDF_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int password_format(const password_params *pp, char *out, size_t cap)
{
    char salt[32], hash[48];
    b64url_encode(pp->salt, PASSWORD_SALT_LEN, salt, sizeof(salt));
    b64url_encode(pp->hash, PASSWORD_HASH_LEN, hash, sizeof(hash));
    int n = snprintf(out, cap, "scrypt$%d$%d$%d$%s$%s", pp->ln, pp->r, pp->p, salt, hash);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int password_hash_with_salt(const char *pw, int ln, const uint8_t salt[PASSWORD_SALT_LEN],
                            char *out, size_t cap)
{
    if (!pw || ln < PASSWORD_LN_MIN || ln > PASSWORD_LN_MAX)
        return -1;
    password_params pp = {.ln = ln, .r = PASSWORD_R, .p = PASSWORD_P};
    memcpy(pp.salt, salt, PASSWORD_SALT_LEN);
    if (password_derive(pw, ln, pp.r, pp.p, pp.salt, pp.hash) != 0)
        return -1;
    int rc = password_format(&pp, out, cap);
    OPENSSL_cleanse(pp.hash, sizeof(pp.hash));
    return rc;
}

int password_hash(const char *pw, int ln, char *out, size_t cap)
{
    uint8_t salt[PASSWORD_SALT_LEN];
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -1;
    return password_hash_with_salt(pw, ln, salt, out, cap);
}

/* Parses a small decimal field ending at '$'; advances *s past the '$'. */
static int password_field_int(const char **s, int max, int *out)
{
    const char *q = *s;
    int v = 0, digits = 0;
    while (*q >= '0' && *q <= '9') {
        v = v * 10 + (*q - '0');
        if (++digits > 3)
            return -1;
        q++;
    }
    if (digits == 0 || *q != '$' || v < 1 || v > max)
        return -1;
    *out = v;
    *s = q + 1;
    return 0;
}

static int password_parse(const char *stored, password_params *pp)
{
    if (!stored || strncmp(stored, "scrypt$", 7) != 0)
        return -1;
    const char *s = stored + 7;
    if (password_field_int(&s, PASSWORD_LN_MAX, &pp->ln) != 0 ||
        password_field_int(&s, 8, &pp->r) != 0 || password_field_int(&s, 2, &pp->p) != 0)
        return -1;
    const char *dollar = strchr(s, '$');
    if (!dollar)
        return -1;
    if (b64url_decode(s, (size_t)(dollar - s), pp->salt, sizeof(pp->salt)) != PASSWORD_SALT_LEN)
        return -1;
    const char *h = dollar + 1;
    size_t hl = strlen(h);
    uint8_t tmp[PASSWORD_HASH_LEN + 3];
    if (hl != b64url_encoded_len(PASSWORD_HASH_LEN) ||
        b64url_decode(h, hl, tmp, sizeof(tmp)) != PASSWORD_HASH_LEN)
        return -1;
    memcpy(pp->hash, tmp, PASSWORD_HASH_LEN);
    return 0;
}

int password_verify(const char *pw, const char *stored)
{
    password_params pp;
    if (!pw || password_parse(stored, &pp) != 0)
        return -1;
    uint8_t got[PASSWORD_HASH_LEN];
    if (password_derive(pw, pp.ln, pp.r, pp.p, pp.salt, got) != 0)
        return -1;
    int match = CRYPTO_memcmp(got, pp.hash, PASSWORD_HASH_LEN) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    return match;
}

bool password_needs_rehash(const char *stored, int ln)
{
    password_params pp;
    return password_parse(stored, &pp) == 0 && pp.ln != ln;
}
