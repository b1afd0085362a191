/*
 * test_ice_lite: our ICE-lite agent from the outside, with a raw UDP socket playing the
 * controlling client (libnice's STUN agent): candidates known at creation and shared by the peers of a loop (one port
 * for two peers), a check under a wrong password unanswered, a right one answered (XOR-MAPPED-
 * ADDRESS = the client's address, integrity under our password) and selecting the address
 * (CONNECTED), datagrams from an unknown address refused, consent lost after the timeout
 * (FAILED), and a peer that never hears a check failing too. libnice as the full agent on the
 * other side is in test_peer_pair (run_ice_lite).
 */
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/loop.h"
#include "media/ice_lite.h"
#include "media/peer.h"
#include "media/lite_probe.h"

#define TIMEOUT_MS 1500

static const uint16_t known[] = {STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY, STUN_ATTRIBUTE_FINGERPRINT,
                                 STUN_ATTRIBUTE_PRIORITY, STUN_ATTRIBUTE_USE_CANDIDATE, STUN_ATTRIBUTE_ICE_CONTROLLED,
                                 STUN_ATTRIBUTE_ICE_CONTROLLING, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, 0};

/* The client side: libnice's STUN agent, as a controlling full agent sends checks. */
static StunAgent client;

static size_t build_request(uint8_t *b, size_t cap, const char *username, const char *key)
{
    StunMessage msg;
    return stun_usage_ice_conncheck_create(&client, &msg, b, cap, (const uint8_t *)username, strlen(username),
                                           (const uint8_t *)key, strlen(key), true, true, 0x6e0001ff,
                                           0x0102030405060708ull, NULL, STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
}

static bool no_password(StunAgent *agent, StunMessage *msg, uint8_t *username, uint16_t username_len,
                        uint8_t **password, size_t *password_len, void *data)
{
    (void)agent, (void)msg, (void)username, (void)username_len, (void)password, (void)password_len, (void)data;
    return false;   /* a response is checked with the key its request was sent with */
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

static bool wait_state(peer_t *p, peer_state want, int ms)
{
    for (int waited = 0; waited < ms; waited += 20) {
        if (peer_get_state(p) == want)
            return true;
        g_usleep(20000);
    }
    return peer_get_state(p) == want;
}

/* Read from this thread, not the loop's, as /metrics does. */
static ice_lite_counters mux_stats(loop_t *loop)
{
    ice_lite_counters out;
    ice_lite_mux_stats(loop_context(loop), &out);
    return out;
}

static void test_lite(loop_t *loop)
{
    peer_config cfg = {.bind_ips = "127.0.0.1", .ice_lite = true, .port_min = 30600, .port_max = 30610,
                       .ice_lite_timeout_ms = TIMEOUT_MS};
    peer_t *p = peer_create(loop, &cfg, NULL);
    peer_t *q = peer_create(loop, &cfg, NULL);
    uint16_t port = lite_probe_port(p);
    CHECK(port >= 30600 && port <= 30610);
    CHECK_INT(lite_probe_port(q), port);   /* one socket for the loop, not one per peer */
    /* NAT 1:1: the same socket, signalled with the public address. */
    peer_config public_cfg = cfg;
    public_cfg.nat_1_1_ip = "203.0.113.7";
    peer_t *pub = peer_create(loop, &public_cfg, NULL);
    char line[256];
    unsigned nport = 0;
    CHECK(peer_local_candidates(pub, line, sizeof line) > 0);
    CHECK(sscanf(line, "candidate:%*s 1 udp %*u 203.0.113.7 %u typ host", &nport) == 1 && nport == port);
    peer_close(pub);
    peer_unref(pub);
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
    uint8_t req[512], resp[512];

    /* A wrong password: no answer, not connected. */
    size_t n = build_request(req, sizeof req, user, "not-the-password-at-all!");
    sendto(c, req, n, 0, (struct sockaddr *)&to, sizeof to);
    CHECK(recv_within(c, resp, sizeof resp, 300) < 0);
    CHECK(peer_get_state(p) != PEER_STATE_CONNECTED);

    /* The right one: a success response that verifies under our password and tells the
     * client its own address; p is connected to it. */
    n = build_request(req, sizeof req, user, pwd);
    sendto(c, req, n, 0, (struct sockaddr *)&to, sizeof to);
    ssize_t r = recv_within(c, resp, sizeof resp, 2000);
    StunMessage m;
    CHECK(r > 0 && stun_agent_validate(&client, &m, resp, (size_t)r, no_password, NULL) == STUN_VALIDATION_SUCCESS);
    struct sockaddr_storage mapped;
    socklen_t mapped_len = sizeof mapped;
    CHECK_INT(stun_usage_ice_conncheck_process(&m, &mapped, &mapped_len, STUN_USAGE_ICE_COMPATIBILITY_RFC5245),
              STUN_USAGE_ICE_RETURN_SUCCESS);
    CHECK_INT(ntohs(((struct sockaddr_in *)&mapped)->sin_port), cport);
    CHECK_INT(ntohl(((struct sockaddr_in *)&mapped)->sin_addr.s_addr), INADDR_LOOPBACK);
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
    stun_agent_init(&client, known, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
    CHECK_INT(peer_global_init(), PEER_OK);
    loop_pool_t *pool = loop_pool_create(1);
    test_lite(loop_pool_get(pool, 0));
    loop_pool_destroy(pool);
    peer_global_deinit();
    return check_summary("test_ice_lite");
}
