/*
 * srtp_openssl: see srtp_openssl.h. The calling conventions are libsrtp2's (srtp.c and its
 * crypto kernel): ICM keys arrive with their 14-byte salt appended, which becomes the counter
 * offset the per-packet IV is XORed with; GCM gets the IV whole, its AAD in one or more pieces
 * before the payload, and the tag appended on encrypt (get_tag) or found at the end of the
 * buffer on decrypt; HMAC is start / update / compute (the last piece, then the tag).
 */
#include "media/srtp_openssl.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <srtp2/crypto_types.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/* libsrtp2 exports its test vectors but declares them in no installed header. */
extern const srtp_cipher_test_case_t srtp_aes_icm_128_test_case_0;
extern const srtp_cipher_test_case_t srtp_aes_gcm_128_test_case_0;
extern const srtp_auth_test_case_t srtp_hmac_test_case_0;

#define AES_KEY 16
#define ICM_SALT 14
#define GCM_IV 12
#define SHA1_LEN 20

typedef struct cipher_state {
    EVP_CIPHER_CTX *ctx;
    uint8_t offset[16];           /* ICM: the salt, last two bytes zero */
    int tag_len;                  /* GCM */
    int dir;                      /* GCM: srtp_direction_encrypt / decrypt, -1 before set_iv */
} cipher_state;

/* len bytes through the cipher, in place (out == in), or as GCM's AAD (out NULL). */
static bool cipher_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
    int n = 0;
    return len == 0 || (len <= INT32_MAX && EVP_CipherUpdate(ctx, out, &n, in, (int)len) && (!out || n == (int)len));
}

static srtp_err_status_t cipher_alloc(srtp_cipher_pointer_t *cp, const srtp_cipher_type_t *type, int algorithm,
                                      int key_len, int tag_len)
{
    srtp_cipher_t *c = calloc(1, sizeof *c);
    cipher_state *st = calloc(1, sizeof *st);
    if (st)
        st->ctx = EVP_CIPHER_CTX_new();
    if (!c || !st || !st->ctx) {
        if (st)
            EVP_CIPHER_CTX_free(st->ctx);
        free(st);
        free(c);
        return srtp_err_status_alloc_fail;
    }
    st->tag_len = tag_len;
    st->dir = -1;
    c->type = type;
    c->state = st;
    c->key_len = key_len;
    c->algorithm = algorithm;
    *cp = c;
    return srtp_err_status_ok;
}

static srtp_err_status_t cipher_dealloc(srtp_cipher_pointer_t c)
{
    cipher_state *st = c->state;
    EVP_CIPHER_CTX_free(st->ctx);
    OPENSSL_cleanse(st, sizeof *st);
    free(st);
    free(c);
    return srtp_err_status_ok;
}

/* ---- AES-128-ICM ---- */

extern const srtp_cipher_type_t parley_icm_type;

static srtp_err_status_t icm_alloc(srtp_cipher_pointer_t *cp, int key_len, int tag_len)
{
    (void)tag_len;
    if (key_len != AES_KEY + ICM_SALT)
        return srtp_err_status_bad_param;
    return cipher_alloc(cp, &parley_icm_type, SRTP_AES_ICM_128, key_len, 0);
}

static srtp_err_status_t icm_init(void *state, const uint8_t *key)
{
    cipher_state *st = state;
    memset(st->offset, 0, sizeof st->offset);
    memcpy(st->offset, key + AES_KEY, ICM_SALT);
    return EVP_EncryptInit_ex(st->ctx, EVP_aes_128_ctr(), NULL, key, NULL) ? srtp_err_status_ok
                                                                            : srtp_err_status_init_fail;
}

static srtp_err_status_t icm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
    (void)dir;
    cipher_state *st = state;
    uint8_t counter[16];
    for (int i = 0; i < 16; i++)
        counter[i] = st->offset[i] ^ iv[i];
    return EVP_EncryptInit_ex(st->ctx, NULL, NULL, NULL, counter) ? srtp_err_status_ok : srtp_err_status_init_fail;
}

static srtp_err_status_t icm_crypt(void *state, uint8_t *buf, unsigned int *len)
{
    cipher_state *st = state;
    return cipher_update(st->ctx, buf, buf, *len) ? srtp_err_status_ok : srtp_err_status_cipher_fail;
}

const srtp_cipher_type_t parley_icm_type = {
    .alloc = icm_alloc, .dealloc = cipher_dealloc, .init = icm_init, .set_aad = NULL,
    .encrypt = icm_crypt, .decrypt = icm_crypt, .set_iv = icm_set_iv, .get_tag = NULL,
    .description = "AES-128 integer counter mode (OpenSSL EVP)", .test_data = &srtp_aes_icm_128_test_case_0,
    .id = SRTP_AES_ICM_128,
};

/* ---- AES-128-GCM ---- */

extern const srtp_cipher_type_t parley_gcm_type;

static srtp_err_status_t gcm_alloc(srtp_cipher_pointer_t *cp, int key_len, int tag_len)
{
    /* The key comes with its 12-byte salt (srtp.c uses the salt for the IV itself). */
    if (key_len != AES_KEY + 12 || (tag_len != 16 && tag_len != 8))
        return srtp_err_status_bad_param;
    return cipher_alloc(cp, &parley_gcm_type, SRTP_AES_GCM_128, key_len, tag_len);
}

static srtp_err_status_t gcm_init(void *state, const uint8_t *key)
{
    cipher_state *st = state;
    st->dir = -1;
    return EVP_CipherInit_ex(st->ctx, EVP_aes_128_gcm(), NULL, key, NULL, 0) ? srtp_err_status_ok
                                                                               : srtp_err_status_init_fail;
}

static srtp_err_status_t gcm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t dir)
{
    cipher_state *st = state;
    if (dir != srtp_direction_encrypt && dir != srtp_direction_decrypt)
        return srtp_err_status_bad_param;
    st->dir = dir;
    return EVP_CipherInit_ex(st->ctx, NULL, NULL, NULL, iv, dir == srtp_direction_encrypt)
               ? srtp_err_status_ok : srtp_err_status_init_fail;
}

static srtp_err_status_t gcm_set_aad(void *state, const uint8_t *aad, uint32_t len)
{
    cipher_state *st = state;
    return st->dir >= 0 && cipher_update(st->ctx, NULL, aad, len) ? srtp_err_status_ok : srtp_err_status_algo_fail;
}

static srtp_err_status_t gcm_encrypt(void *state, uint8_t *buf, unsigned int *len)
{
    cipher_state *st = state;
    return st->dir == srtp_direction_encrypt && cipher_update(st->ctx, buf, buf, *len) ? srtp_err_status_ok
                                                                                       : srtp_err_status_cipher_fail;
}

static srtp_err_status_t gcm_get_tag(void *state, uint8_t *tag, uint32_t *len)
{
    cipher_state *st = state;
    int out = 0;
    if (st->dir != srtp_direction_encrypt || EVP_CipherFinal_ex(st->ctx, tag, &out) <= 0 ||
        !EVP_CIPHER_CTX_ctrl(st->ctx, EVP_CTRL_GCM_GET_TAG, st->tag_len, tag))
        return srtp_err_status_algo_fail;
    *len = (uint32_t)st->tag_len;
    return srtp_err_status_ok;
}

/* buf holds the ciphertext then the tag; *len counts both and comes back without the tag. */
static srtp_err_status_t gcm_decrypt(void *state, uint8_t *buf, unsigned int *len)
{
    cipher_state *st = state;
    int out = 0;
    if (st->dir != srtp_direction_decrypt || *len < (unsigned)st->tag_len)
        return srtp_err_status_bad_param;
    unsigned n = *len - (unsigned)st->tag_len;
    if (!EVP_CIPHER_CTX_ctrl(st->ctx, EVP_CTRL_GCM_SET_TAG, st->tag_len, buf + n) || !cipher_update(st->ctx, buf, buf, n))
        return srtp_err_status_cipher_fail;
    if (EVP_CipherFinal_ex(st->ctx, buf + n, &out) <= 0)
        return srtp_err_status_auth_fail;
    *len = n;
    return srtp_err_status_ok;
}

const srtp_cipher_type_t parley_gcm_type = {
    .alloc = gcm_alloc, .dealloc = cipher_dealloc, .init = gcm_init, .set_aad = gcm_set_aad,
    .encrypt = gcm_encrypt, .decrypt = gcm_decrypt, .set_iv = gcm_set_iv, .get_tag = gcm_get_tag,
    .description = "AES-128 GCM (OpenSSL EVP)", .test_data = &srtp_aes_gcm_128_test_case_0,
    .id = SRTP_AES_GCM_128,
};

/* ---- HMAC-SHA1 ---- */

extern const srtp_auth_type_t parley_hmac_type;

static srtp_err_status_t hmac_alloc(srtp_auth_pointer_t *ap, int key_len, int out_len)
{
    if (key_len < 0 || key_len > SHA1_LEN || out_len < 0 || out_len > SHA1_LEN)
        return srtp_err_status_bad_param;
    srtp_auth_t *a = calloc(1, sizeof *a);
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    EVP_MAC_free(alg);
    if (!a || !ctx) {
        EVP_MAC_CTX_free(ctx);
        free(a);
        return srtp_err_status_alloc_fail;
    }
    a->type = &parley_hmac_type;
    a->state = ctx;
    a->out_len = out_len;
    a->key_len = key_len;
    a->prefix_len = 0;
    *ap = a;
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_dealloc(srtp_auth_pointer_t a)
{
    EVP_MAC_CTX_free(a->state);
    free(a);
    return srtp_err_status_ok;
}

static srtp_err_status_t hmac_init(void *state, const uint8_t *key, int key_len)
{
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0),
                           OSSL_PARAM_construct_end()};
    return EVP_MAC_init(state, key, (size_t)key_len, params) ? srtp_err_status_ok : srtp_err_status_auth_fail;
}

/* Same key, fresh message. */
static srtp_err_status_t hmac_start(void *state)
{
    return EVP_MAC_init(state, NULL, 0, NULL) ? srtp_err_status_ok : srtp_err_status_auth_fail;
}

static srtp_err_status_t hmac_update(void *state, const uint8_t *buf, int len)
{
    return len < 0 || (len && !EVP_MAC_update(state, buf, (size_t)len)) ? srtp_err_status_auth_fail
                                                                        : srtp_err_status_ok;
}

static srtp_err_status_t hmac_compute(void *state, const uint8_t *buf, int len, int tag_len, uint8_t *tag)
{
    uint8_t full[SHA1_LEN];
    size_t n = 0;
    if (tag_len < 0 || tag_len > SHA1_LEN || hmac_update(state, buf, len) != srtp_err_status_ok ||
        !EVP_MAC_final(state, full, &n, sizeof full) || n != SHA1_LEN)
        return srtp_err_status_auth_fail;
    memcpy(tag, full, (size_t)tag_len);
    return srtp_err_status_ok;
}

const srtp_auth_type_t parley_hmac_type = {
    .alloc = hmac_alloc, .dealloc = hmac_dealloc, .init = hmac_init, .compute = hmac_compute,
    .update = hmac_update, .start = hmac_start, .description = "HMAC-SHA1 (OpenSSL EVP)",
    .test_data = &srtp_hmac_test_case_0, .id = SRTP_HMAC_SHA1,
};

int srtp_openssl_install(void)
{
    srtp_err_status_t a = srtp_replace_cipher_type(&parley_icm_type, SRTP_AES_ICM_128);
    srtp_err_status_t b = srtp_replace_cipher_type(&parley_gcm_type, SRTP_AES_GCM_128);
    srtp_err_status_t c = srtp_replace_auth_type(&parley_hmac_type, SRTP_HMAC_SHA1);
    if (a || b || c) {
        LOG_WARN("srtp", "libsrtp2 refused the OpenSSL ciphers (icm %d, gcm %d, hmac %d): keeping its own",
                 (int)a, (int)b, (int)c);
        return -1;
    }
    return 0;
}
