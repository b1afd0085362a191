/*
 * libFuzzer target: access tokens as they arrive in "Authorization: Bearer" and in Janus
 * "token" fields. Checks no crash, and two properties: a token that verifies re-encodes to
 * itself when signed again from its parts (no two spellings of one token are accepted), and
 * base64url decoding is strict (decode -> encode gives back the input).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"
#include "api/jwt.h"

static const uint8_t fuzz_key[] = "fuzzing key 0123456789abcdef0123";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > JWT_MAX_LEN + 16)
        return 0;
    char *tok = malloc(size + 1);
    memcpy(tok, data, size);
    tok[size] = '\0';

    jwt_claims c;
    (void)jwt_decode_claims(fuzz_key, sizeof(fuzz_key) - 1, tok, 1700000000, 60, &c);

    char payload[JWT_MAX_LEN];
    size_t plen = 0;
    if (jwt_verify_parts(fuzz_key, sizeof(fuzz_key) - 1, tok, size, payload, sizeof(payload),
                         &plen) == JWT_OK) {
        /* Only reachable with a correct MAC, i.e. from the seed corpus or a mutation that kept
         * it: the token must be exactly what signing its decoded parts produces. */
        const char *dot = memchr(tok, '.', size);
        uint8_t header[JWT_MAX_LEN];
        ssize_t hl = b64url_decode(tok, (size_t)(dot - tok), header, sizeof(header));
        char again[JWT_MAX_LEN + 8];
        if (hl < 0 || jwt_sign_parts(fuzz_key, sizeof(fuzz_key) - 1, (const char *)header,
                                     (size_t)hl, payload, plen, again, sizeof(again)) != JWT_OK ||
            strcmp(again, tok) != 0)
            abort();
    }

    uint8_t bin[JWT_MAX_LEN];
    ssize_t n = b64url_decode(tok, size, bin, sizeof(bin));
    if (n >= 0) {
        char back[JWT_MAX_LEN + 24];
        if (b64url_encode(bin, (size_t)n, back, sizeof(back)) != (ssize_t)size ||
            memcmp(back, tok, size) != 0)
            abort();
    }
    free(tok);
    return 0;
}
