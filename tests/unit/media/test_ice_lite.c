/*
 * test_ice_lite: our ICE-lite agent from the outside, with a raw UDP socket playing the
 * controlling client: candidates known at creation and shared by the peers of a loop (one port
 * for two peers), a check under a wrong password unanswered, a right one answered (XOR-MAPPED-
 * ADDRESS = the client's address, integrity under our password) and selecting the address
 * (CONNECTED), datagrams from an unknown address refused, consent lost after the timeout
 * (FAILED), and a peer that never hears a check failing too. libnice as the full agent on the
 * other side is in test_peer_pair (run_ice_lite).
 */
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/loop.h"
#include "media/ice_lite.h"
#include "media/peer.h"
#include "proto/stun.h"

#define TIMEOUT_MS 1500

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)), put16(p + 2, (uint16_t)v); }

/* A Binding request as a controlling agent sends it (USERNAME, ICE-CONTROLLING,
 * USE-CANDIDATE, MESSAGE-INTEGRITY under key, FINGERPRINT). */
static size_t build_request(uint8_t *b, const char *username, const char *key, const uint8_t txid[12])
{
    size_t at = 20, ulen = strlen(username);
    put16(b, STUN_BINDING_REQUEST);
    put32(b + 4, STUN_MAGIC_COOKIE);
    memcpy(b + 8, txid, 12);
    put16(b + at, 0x0006);
    put16(b + at + 2, (uint16_t)ulen);
    memcpy(b + at + 4, username, ulen);
    memset(b + at + 4 + ulen, 0, (4 - ulen % 4) % 4);
    at += 4 + ((ulen + 3) & ~(size_t)3);
    put16(b + at, 0x802A);
    put16(b + at + 2, 8);
    memset(b + at + 4, 7, 8);
    at += 12;
    put16(b + at, 0x0025);
    put16(b + at + 2, 0);
    at += 4;
    put16(b + 2, (uint16_t)(at + 24 - 20));
    unsigned int n = 0;
    HMAC(EVP_sha1(), key, (int)strlen(key), b, at, b + at + 4, &n);
    put16(b + at, 0x0008);
    put16(b + at + 2, 20);
    at += 24;
    put16(b + 2, (uint16_t)(at + 8 - 20));
    put16(b + at, 0x8028);
    put16(b + at + 2, 4);
    put32(b + at + 4, stun_crc32(b, at) ^ 0x5354554eu);
    return at + 8;
}

static int client_socket(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static ssize_t recv_within(int fd, uint8_t *buf, size_t cap, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1 ? recv(fd, buf, cap, 0) : -1;
}

static uint16_t candidate_port(peer_t *p)
{
    char buf[1024];
    unsigned port = 0;
    CHECK(peer_local_candidates(p, buf, sizeof buf) > 0);
    CHECK(sscanf(buf, "candidate:%*s 1 udp %*u 127.0.0.1 %u typ host", &port) == 1);
    return (uint16_t)port;
}

static bool wait_state(peer_t *p, peer_state want, int ms)
{
    for (int waited = 0; waited < ms; waited += 20) {
        if (peer_get_state(p) == want)
            return true;
        g_usleep(20000);
    }
    return peer_get_state(p) == want;
}

typedef struct stats_job {
    GMainContext *ctx;
    ice_lite_counters out;
} stats_job;

static void read_stats(void *arg)
{
    stats_job *j = arg;
    ice_lite_mux_stats(j->ctx, &j->out);
}

static ice_lite_counters mux_stats(loop_t *loop)
{
    stats_job j = {.ctx = loop_context(loop)};
    loop_invoke_sync(loop, read_stats, &j);
    return j.out;
}

static void test_lite(loop_t *loop)
{
    peer_config cfg = {.bind_ips = "127.0.0.1", .ice_lite = true, .port_min = 30600, .port_max = 30610,
                       .ice_lite_timeout_ms = TIMEOUT_MS};
    peer_t *p = peer_create(loop, &cfg, NULL);
    peer_t *q = peer_create(loop, &cfg, NULL);
    uint16_t port = candidate_port(p);
    CHECK(port >= 30600 && port <= 30610);
    CHECK_INT(candidate_port(q), port);   /* one socket for the loop, not one per peer */
    CHECK_INT(peer_descriptors_per_peer(&cfg), 0);

    CHECK_INT(peer_set_remote(p, "rmtA", "remote-password-0123456789", peer_local_fingerprint(),
                              PEER_SETUP_ACTPASS, false, 0), PEER_OK);
    CHECK_INT(peer_set_remote(q, "rmtB", "remote-password-0123456789", peer_local_fingerprint(),
                              PEER_SETUP_ACTPASS, false, 0), PEER_OK);
    char ufrag[64], pwd[64], user[160];
    peer_local_credentials(p, ufrag, sizeof ufrag, pwd, sizeof pwd);
    snprintf(user, sizeof user, "%s:rmtA", ufrag);

    uint16_t cport;
    int c = client_socket(&cport);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    uint8_t req[256], resp[256];
    const uint8_t txid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

    /* A wrong password: no answer, not connected. */
    size_t n = build_request(req, user, "not-the-password-at-all!", txid);
    sendto(c, req, n, 0, (struct sockaddr *)&to, sizeof to);
    CHECK(recv_within(c, resp, sizeof resp, 300) < 0);
    CHECK(peer_get_state(p) != PEER_STATE_CONNECTED);

    /* The right one: answered, and p is connected to the client's address. */
    n = build_request(req, user, pwd, txid);
    sendto(c, req, n, 0, (struct sockaddr *)&to, sizeof to);
    ssize_t r = recv_within(c, resp, sizeof resp, 2000);
    stun_msg m;
    CHECK(r > 0 && stun_parse(resp, (size_t)r, &m) == 0);
    CHECK_INT(m.type, STUN_BINDING_SUCCESS);
    CHECK(memcmp(m.txid, txid, 12) == 0);
    CHECK(stun_check_integrity(resp, &m, (const uint8_t *)pwd, strlen(pwd)));
    /* XOR-MAPPED-ADDRESS right after the header: our port and 127.0.0.1. */
    CHECK_INT(((resp[26] << 8 | resp[27]) ^ 0x2112), cport);
    CHECK_INT(((uint32_t)resp[28] << 24 | (uint32_t)resp[29] << 16 | (uint32_t)resp[30] << 8 | resp[31]) ^ STUN_MAGIC_COOKIE,
              INADDR_LOOPBACK);
    CHECK(wait_state(p, PEER_STATE_CONNECTED, 2000));

    /* A datagram from an address no check came from is refused. */
    uint16_t oport;
    int other = client_socket(&oport);
    ice_lite_counters before = mux_stats(loop);
    sendto(other, "\x16\xfe\xfd garbage", 11, 0, (struct sockaddr *)&to, sizeof to);
    g_usleep(200000);
    ice_lite_counters after = mux_stats(loop);
    CHECK_INT(after.refused, before.refused + 1);
    CHECK(after.checks >= 1 && after.reads >= 2 && after.datagrams >= after.reads);

    /* No more checks: consent runs out, and q never heard one. */
    CHECK(wait_state(p, PEER_STATE_FAILED, TIMEOUT_MS + 2000));
    CHECK(wait_state(q, PEER_STATE_FAILED, 1000));
    close(c);
    close(other);
    peer_close(p);
    peer_close(q);
    peer_unref(p);
    peer_unref(q);
}

int main(void)
{
    CHECK_INT(peer_global_init(), PEER_OK);
    loop_pool_t *pool = loop_pool_create(1);
    test_lite(loop_pool_get(pool, 0));
    loop_pool_destroy(pool);
    peer_global_deinit();
    return check_summary("test_ice_lite");
}
