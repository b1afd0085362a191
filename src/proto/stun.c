/*
 * stun: see stun.h.
 */
#include "proto/stun.h"

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

enum {
    ATTR_USERNAME = 0x0006,
    ATTR_MESSAGE_INTEGRITY = 0x0008,
    ATTR_XOR_MAPPED_ADDRESS = 0x0020,
    ATTR_PRIORITY = 0x0024,
    ATTR_USE_CANDIDATE = 0x0025,
    ATTR_FINGERPRINT = 0x8028,
    ATTR_ICE_CONTROLLED = 0x8029,
    ATTR_ICE_CONTROLLING = 0x802A,
};

#define FINGERPRINT_XOR 0x5354554eu
#define INTEGRITY_LEN 20
#define USERNAME_MAX 513

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

uint32_t stun_crc32(const uint8_t *buf, size_t len)
{
    /* Bit by bit: STUN messages are short and rare (a check every few seconds per peer), and
     * no table means no shared state to initialise. */
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        c ^= buf[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

bool stun_looks_like(const uint8_t *buf, size_t len)
{
    return len >= STUN_HEADER_LEN && (buf[0] & 0xC0) == 0 && get32(buf + 4) == STUN_MAGIC_COOKIE &&
           (size_t)get16(buf + 2) + STUN_HEADER_LEN == len && (get16(buf + 2) & 3) == 0;
}

/* One attribute: records what we use; false when its value is malformed. */
static bool take_attr(stun_msg *m, uint16_t type, const uint8_t *val, uint16_t len)
{
    switch (type) {
    case ATTR_USERNAME:
        if (len > USERNAME_MAX)
            return false;
        m->username = val;
        m->username_len = len;
        return true;
    case ATTR_PRIORITY:
        if (len != 4)
            return false;
        m->priority = get32(val);
        return true;
    case ATTR_USE_CANDIDATE:
        m->use_candidate = true;
        return len == 0;
    case ATTR_ICE_CONTROLLING:
        m->ice_controlling = true;
        return len == 8;
    case ATTR_ICE_CONTROLLED:
        m->ice_controlled = true;
        return len == 8;
    default:
        return true;   /* comprehension-optional or not ours: ignored */
    }
}

int stun_parse(const uint8_t *buf, size_t len, stun_msg *out)
{
    if (!stun_looks_like(buf, len))
        return -1;
    stun_msg m = {.type = get16(buf), .txid = buf + 8};
    size_t off = STUN_HEADER_LEN;
    while (off < len) {
        if (len - off < 4)
            return -1;
        uint16_t type = get16(buf + off), alen = get16(buf + off + 2);
        size_t padded = ((size_t)alen + 3) & ~(size_t)3;
        if (padded > len - off - 4)
            return -1;
        const uint8_t *val = buf + off + 4;
        if (type == ATTR_FINGERPRINT) {
            if (alen != 4 || off + 8 != len || get32(val) != (stun_crc32(buf, off) ^ FINGERPRINT_XOR))
                return -1;
            m.has_fingerprint = true;
        } else if (m.integrity_at) {
            /* RFC 5389 15.4: what follows MESSAGE-INTEGRITY, but FINGERPRINT, is ignored. */
        } else if (type == ATTR_MESSAGE_INTEGRITY) {
            if (alen != INTEGRITY_LEN)
                return -1;
            m.integrity_at = off;
        } else if (!take_attr(&m, type, val, alen)) {
            return -1;
        }
        off += 4 + padded;
    }
    *out = m;
    return 0;
}

static bool hmac_sha1(const uint8_t *key, size_t key_len, const uint8_t *head, const uint8_t *rest,
                      size_t rest_len, uint8_t mac[INTEGRITY_LEN])
{
    /* The header as signed differs from the one sent (its length field), so the two parts go
     * in one after the other. */
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = alg ? EVP_MAC_CTX_new(alg) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA1", 0),
                           OSSL_PARAM_construct_end()};
    size_t n = 0;
    bool ok = ctx && EVP_MAC_init(ctx, key, key_len, params) && EVP_MAC_update(ctx, head, STUN_HEADER_LEN) &&
              EVP_MAC_update(ctx, rest, rest_len) && EVP_MAC_final(ctx, mac, &n, INTEGRITY_LEN) &&
              n == INTEGRITY_LEN;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(alg);
    return ok;
}

/* The MAC over buf[0, at) as RFC 5389 15.4 defines it. */
static bool integrity_over(const uint8_t *buf, size_t at, const uint8_t *key, size_t key_len,
                           uint8_t mac[INTEGRITY_LEN])
{
    uint8_t head[STUN_HEADER_LEN];
    memcpy(head, buf, sizeof head);
    put16(head + 2, (uint16_t)(at + 4 + INTEGRITY_LEN - STUN_HEADER_LEN));
    return hmac_sha1(key, key_len, head, buf + STUN_HEADER_LEN, at - STUN_HEADER_LEN, mac);
}

bool stun_check_integrity(const uint8_t *buf, const stun_msg *m, const uint8_t *key, size_t key_len)
{
    uint8_t mac[INTEGRITY_LEN];
    if (!m->integrity_at || !integrity_over(buf, m->integrity_at, key, key_len, mac))
        return false;
    return CRYPTO_memcmp(mac, buf + m->integrity_at + 4, INTEGRITY_LEN) == 0;
}

const uint8_t *stun_username_local(const stun_msg *m, size_t *len)
{
    const uint8_t *colon = m->username ? memchr(m->username, ':', m->username_len) : NULL;
    if (!colon || colon == m->username)
        return NULL;
    *len = (size_t)(colon - m->username);
    return m->username;
}

/* XOR-MAPPED-ADDRESS (RFC 5389 15.2) at p; its length, 0 for another family. */
static size_t put_xor_address(uint8_t *p, const uint8_t *header, const struct sockaddr *from)
{
    if (from->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)from;
        put16(p, ATTR_XOR_MAPPED_ADDRESS);
        put16(p + 2, 8);
        put16(p + 4, 0x0001);
        put16(p + 6, (uint16_t)(ntohs(a->sin_port) ^ (STUN_MAGIC_COOKIE >> 16)));
        memcpy(p + 8, &a->sin_addr, 4);
        for (int i = 0; i < 4; i++)
            p[8 + i] ^= header[4 + i];
        return 12;
    }
    if (from->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
        put16(p, ATTR_XOR_MAPPED_ADDRESS);
        put16(p + 2, 20);
        put16(p + 4, 0x0002);
        put16(p + 6, (uint16_t)(ntohs(a->sin6_port) ^ (STUN_MAGIC_COOKIE >> 16)));
        memcpy(p + 8, &a->sin6_addr, 16);
        for (int i = 0; i < 16; i++)
            p[8 + i] ^= header[4 + i];   /* cookie then transaction id */
        return 24;
    }
    return 0;
}

size_t stun_write_binding_success(uint8_t *out, size_t cap, const uint8_t *txid,
                                  const struct sockaddr *from, const uint8_t *key, size_t key_len)
{
    if (cap < STUN_RESPONSE_MAX)
        return 0;
    put16(out, STUN_BINDING_SUCCESS);
    put32(out + 4, STUN_MAGIC_COOKIE);
    memcpy(out + 8, txid, 12);
    size_t at = STUN_HEADER_LEN;
    size_t n = put_xor_address(out + at, out, from);
    if (!n)
        return 0;
    at += n;
    uint8_t mac[INTEGRITY_LEN];
    if (!integrity_over(out, at, key, key_len, mac))
        return 0;
    put16(out + at, ATTR_MESSAGE_INTEGRITY);
    put16(out + at + 2, INTEGRITY_LEN);
    memcpy(out + at + 4, mac, INTEGRITY_LEN);
    at += 4 + INTEGRITY_LEN;
    put16(out + 2, (uint16_t)(at + 8 - STUN_HEADER_LEN));
    put16(out + at, ATTR_FINGERPRINT);
    put16(out + at + 2, 4);
    put32(out + at + 4, stun_crc32(out, at) ^ FINGERPRINT_XOR);
    return at + 8;
}
