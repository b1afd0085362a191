/*
 * fuzz_stun: stun_parse on anything; what parses has its integrity checked under a fixed key
 * and, when it is a request, a response written for it that must itself parse and verify.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "proto/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[] = "fuzz-ice-password-24chr";
    stun_msg m;
    (void)stun_looks_like(data, size);
    if (stun_parse(data, size, &m) != 0)
        return 0;
    (void)stun_check_integrity(data, &m, key, sizeof key - 1);
    size_t n = 0;
    (void)stun_username_local(&m, &n);
    if (m.type != STUN_BINDING_REQUEST)
        return 0;
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(40000), .sin_addr = {htonl(0x7f000001)}};
    uint8_t out[STUN_RESPONSE_MAX];
    size_t len = stun_write_binding_success(out, sizeof out, m.txid, (const struct sockaddr *)&from, key, sizeof key - 1);
    stun_msg r;
    if (len == 0 || stun_parse(out, len, &r) != 0 || !stun_check_integrity(out, &r, key, sizeof key - 1))
        __builtin_trap();
    return 0;
}
