/*
 * test_stun: the ICE-lite slice of STUN against RFC 5769's test vectors (the sample request:
 * parse, fingerprint, integrity under the right and a wrong password; the IPv4 and IPv6
 * sample responses: our writer's XOR-MAPPED-ADDRESS bytes), a response we write read back by
 * our own parser, and malformed input refused.
 */
#include "check.h"
#include "proto/stun.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static const uint8_t sample_request[108] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};
static const char password[] = "VOkJxbRl1RmTxUk/WvJxBt";

/* RFC 5769 2.2 / 2.3: the XOR-MAPPED-ADDRESS attributes of the sample responses. */
static const uint8_t xor_v4[12] = {0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43};
static const uint8_t xor_v6[24] = {0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
                                   0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9};

static void test_sample_request(void)
{
    stun_msg m;
    CHECK(stun_looks_like(sample_request, sizeof sample_request));
    CHECK_INT(stun_parse(sample_request, sizeof sample_request, &m), 0);
    CHECK_INT(m.type, STUN_BINDING_REQUEST);
    CHECK(m.has_fingerprint);
    CHECK(m.ice_controlled);
    CHECK(!m.ice_controlling);
    CHECK(!m.use_candidate);
    CHECK_INT(m.priority, 0x6e0001ff);
    CHECK_INT(m.username_len, 9);
    CHECK(memcmp(m.username, "evtj:h6vY", 9) == 0);
    size_t n = 0;
    const uint8_t *local = stun_username_local(&m, &n);
    CHECK(local && n == 4 && memcmp(local, "evtj", 4) == 0);
    CHECK(stun_check_integrity(sample_request, &m, (const uint8_t *)password, strlen(password)));
    CHECK(!stun_check_integrity(sample_request, &m, (const uint8_t *)"wrong", 5));
}

static void test_tampered(void)
{
    uint8_t b[sizeof sample_request];
    stun_msg m;
    /* A flipped byte breaks the fingerprint: refused before any HMAC. */
    memcpy(b, sample_request, sizeof b);
    b[30] ^= 1;
    CHECK_INT(stun_parse(b, sizeof b, &m), -1);
    /* Lengths that lie, truncation, a bad cookie, RTP-looking first bits. */
    memcpy(b, sample_request, sizeof b);
    CHECK_INT(stun_parse(b, sizeof b - 4, &m), -1);
    b[3] = 0x5c;
    CHECK_INT(stun_parse(b, sizeof b, &m), -1);
    memcpy(b, sample_request, sizeof b);
    b[5] = 0;
    CHECK_INT(stun_parse(b, sizeof b, &m), -1);
    memcpy(b, sample_request, sizeof b);
    b[0] = 0x80;
    CHECK(!stun_looks_like(b, sizeof b));
    /* An attribute running past the end. */
    uint8_t s[28] = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42};
    s[20] = 0x00, s[21] = 0x06, s[22] = 0x00, s[23] = 0x09;
    CHECK_INT(stun_parse(s, sizeof s, &m), -1);
    /* A header alone is a message with no attributes, and nothing to check integrity with. */
    s[3] = 0;
    CHECK_INT(stun_parse(s, 20, &m), 0);
    CHECK(!stun_check_integrity(s, &m, (const uint8_t *)password, strlen(password)));
    CHECK(stun_username_local(&m, &(size_t){0}) == NULL);
}

static void check_response(const struct sockaddr *from, const uint8_t *xor_attr, size_t xor_len)
{
    uint8_t out[STUN_RESPONSE_MAX];
    size_t n = stun_write_binding_success(out, sizeof out, sample_request + 8, from,
                                          (const uint8_t *)password, strlen(password));
    CHECK_INT(n, STUN_HEADER_LEN + xor_len + 24 + 8);
    CHECK(memcmp(out + STUN_HEADER_LEN, xor_attr, xor_len) == 0);
    stun_msg m;
    CHECK_INT(stun_parse(out, n, &m), 0);
    CHECK_INT(m.type, STUN_BINDING_SUCCESS);
    CHECK(m.has_fingerprint);
    CHECK(memcmp(m.txid, sample_request + 8, 12) == 0);
    CHECK(stun_check_integrity(out, &m, (const uint8_t *)password, strlen(password)));
}

static void test_responses(void)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(32853)};
    inet_pton(AF_INET, "192.0.2.1", &v4.sin_addr);
    check_response((const struct sockaddr *)&v4, xor_v4, sizeof xor_v4);
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(32853)};
    inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &v6.sin6_addr);
    check_response((const struct sockaddr *)&v6, xor_v6, sizeof xor_v6);
    uint8_t small[40];
    CHECK_INT(stun_write_binding_success(small, sizeof small, sample_request + 8, (const struct sockaddr *)&v4,
                                         (const uint8_t *)password, strlen(password)), 0);
    struct sockaddr un = {.sa_family = AF_UNIX};
    uint8_t out[STUN_RESPONSE_MAX];
    CHECK_INT(stun_write_binding_success(out, sizeof out, sample_request + 8, &un, (const uint8_t *)"k", 1), 0);
}

static void test_crc(void)
{
    CHECK_INT(stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
}

int main(void)
{
    test_sample_request();
    test_tampered();
    test_responses();
    test_crc();
    return check_summary("test_stun");
}
