/*
 * ICE glue: the NAT 1:1 candidate rewrite (sans-IO), and real gathering through libnice with
 * bind_ips, a port range, nat_1_1_ip and IPv6 loopback.
 */
#include <glib.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "core/loop.h"
#include "media/ice.h"
#include "media/peer.h"

static void test_rewrite(void)
{
    char out[256];
    CHECK(media_ice_rewrite_host("candidate:1 1 UDP 2015363327 10.0.0.5 40000 typ host",
                                 "203.0.113.7", out, sizeof out));
    CHECK_STR(out, "candidate:1 1 UDP 2015363327 203.0.113.7 40000 typ host");
    /* Not host, family mismatch, malformed, too small. */
    CHECK(!media_ice_rewrite_host("candidate:2 1 UDP 1677724415 198.51.100.1 5000 typ srflx raddr 10.0.0.5 rport 40000",
                                  "203.0.113.7", out, sizeof out));
    CHECK(!media_ice_rewrite_host("candidate:1 1 UDP 2015363327 ::1 40000 typ host",
                                  "203.0.113.7", out, sizeof out));
    CHECK(media_ice_rewrite_host("candidate:1 1 UDP 2015363327 fd00::5 40000 typ host",
                                 "2001:db8::7", out, sizeof out));
    CHECK_STR(out, "candidate:1 1 UDP 2015363327 2001:db8::7 40000 typ host");
    CHECK(!media_ice_rewrite_host("candidate:1 typ host", "203.0.113.7", out, sizeof out));
    CHECK(!media_ice_rewrite_host("candidate:1 1 UDP 2015363327 10.0.0.5 40000 typ host",
                                  "203.0.113.7", out, 20));
}

static void test_credentials(void)
{
    char u1[MEDIA_ICE_UFRAG_LEN + 1], p1[MEDIA_ICE_PWD_LEN + 1];
    char u2[MEDIA_ICE_UFRAG_LEN + 1], p2[MEDIA_ICE_PWD_LEN + 1];
    media_ice_make_credentials(u1, p1);
    media_ice_make_credentials(u2, p2);
    CHECK_INT(strlen(u1), MEDIA_ICE_UFRAG_LEN);
    CHECK_INT(strlen(p1), MEDIA_ICE_PWD_LEN);
    CHECK(strcmp(u1, u2) != 0 && strcmp(p1, p2) != 0);
    CHECK(strspn(p1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") == strlen(p1));
}

static void test_resolve(void)
{
    char out[64];
    CHECK(media_ice_resolve("192.0.2.1", out, sizeof out));
    CHECK_STR(out, "192.0.2.1");
    CHECK(media_ice_resolve("2001:db8::1", out, sizeof out));
    CHECK_STR(out, "2001:db8::1");
    CHECK(media_ice_resolve("localhost", out, sizeof out));
    CHECK(strcmp(out, "127.0.0.1") == 0 || strcmp(out, "::1") == 0);
    CHECK(media_ice_resolve("localhost", out, sizeof out));   /* from the cache */
    CHECK(!media_ice_resolve("no-such-host.invalid", out, sizeof out));
    CHECK(!media_ice_resolve("", out, sizeof out));
}

static GMutex m;
static GCond c;
static bool gathered;

static void on_gathered(void *user)
{
    g_mutex_lock(&m);
    gathered = true;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

/* Gathers with cfg and returns the candidate lines (g_free). */
static char *gather(loop_t *loop, const peer_config *cfg)
{
    peer_callbacks cb = {.gathering_done = on_gathered};
    peer_t *p = peer_create(loop, cfg, &cb);
    gathered = false;
    CHECK_INT(peer_gather_as_offerer(p), PEER_OK);
    gint64 end = g_get_monotonic_time() + 5 * G_TIME_SPAN_SECOND;
    g_mutex_lock(&m);
    while (!gathered && g_cond_wait_until(&c, &m, end)) {
    }
    g_mutex_unlock(&m);
    CHECK(gathered);
    char buf[8192];
    CHECK(peer_local_candidates(p, buf, sizeof buf) > 0);
    CHECK_INT(peer_local_candidates(p, buf, 4), -1);
    CHECK(peer_local_candidates(p, buf, sizeof buf) > 0);
    peer_close(p);
    peer_unref(p);
    return g_strdup(buf);
}

static void test_gather(loop_pool_t *pool)
{
    peer_config cfg = {.bind_ips = "127.0.0.1", .allow_loopback = true, .ipv6 = false,
                       .port_min = 30500, .port_max = 30510, .nat_1_1_ip = "203.0.113.7"};
    char *cands = gather(loop_pool_get(pool, 0), &cfg);
    char **lines = g_strsplit(cands, "\n", -1);
    int n = 0;
    for (char **l = lines; *l && **l; l++, n++) {
        char ip[64];
        unsigned port = 0;
        CHECK(sscanf(*l, "candidate:%*s %*u %*s %*u %63s %u typ host", ip, &port) == 2);
        CHECK_STR(ip, "203.0.113.7");
        CHECK(port >= 30500 && port <= 30510);
    }
    CHECK_INT(n, 1);   /* 127.0.0.1 once, though listed twice (bind_ips and loopback) */
    g_strfreev(lines);
    g_free(cands);

    if (access("/proc/net/if_inet6", F_OK) == 0) {
        peer_config v6 = {.bind_ips = "::1", .allow_loopback = false, .ipv6 = true};
        cands = gather(loop_pool_get(pool, 0), &v6);
        CHECK(strstr(cands, " ::1 ") != NULL);
        g_free(cands);
    }
}

/* A UDP socket on 127.0.0.1 standing in for a STUN or TURN server: we only check that the
 * agent sends it the right request (binding 0x0001, allocate 0x0003). */
static int fake_server(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Message type of the first request, or -1; *cookie tells whether it is RFC 5389 style (libnice
 * asks STUN servers the classic RFC 3489 way, which every server answers). */
static int first_stun_type(int fd, bool *cookie)
{
    uint8_t buf[1500];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 20)
        return -1;
    *cookie = buf[4] == 0x21 && buf[5] == 0x12 && buf[6] == 0xa4 && buf[7] == 0x42;
    return buf[0] << 8 | buf[1];
}

static void test_servers(loop_pool_t *pool)
{
    uint16_t stun_port, turn_port;
    int stun = fake_server(&stun_port), turn = fake_server(&turn_port);
    peer_config cfg = {.bind_ips = "127.0.0.1", .stun_host = "127.0.0.1", .stun_port = stun_port,
                       .turn_host = "localhost", .turn_port = turn_port, .turn_user = "u",
                       .turn_pwd = "p"};
    peer_t *p = peer_create(loop_pool_get(pool, 0), &cfg, NULL);
    CHECK_INT(peer_gather_as_offerer(p), PEER_OK);
    bool cookie;
    CHECK_INT(first_stun_type(stun, &cookie), 0x0001);
    CHECK_INT(first_stun_type(turn, &cookie), 0x0003);
    CHECK(cookie);   /* TURN is RFC 5766 */
    peer_close(p);
    peer_unref(p);
    close(stun);
    close(turn);
}

int main(void)
{
    test_rewrite();
    test_credentials();
    test_resolve();
    CHECK_INT(peer_global_init(), PEER_OK);
    loop_pool_t *pool = loop_pool_create(1);
    test_gather(pool);
    test_servers(pool);
    loop_pool_destroy(pool);
    peer_global_deinit();
    return check_summary("media-ice");
}
