/*
 * test_metrics_render: GET /metrics as metrics_render writes it, for a server with two media
 * loops on ICE-lite. Each loop's mux gets a datagram from an address no check came from
 * (refused) and loop 0's a valid check (answered); the parley_ice_lite_* families must have
 * their HELP and TYPE lines and samples equal to the two loops' counters summed, and be there
 * at 0 before any traffic. Everything is read from this thread while the loops run, as the
 * admin thread does; under ThreadSanitizer in suite 'concurrency'.
 */
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/janus_core.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/server.h"
#include "media/ice_lite.h"
#include "media/peer.h"
#include "media/lite_probe.h"
#include "util/config.h"

#define WAIT_US (3 * G_USEC_PER_SEC)

static const char *const families[4] = {"parley_ice_lite_datagrams_total", "parley_ice_lite_reads_total",
                                        "parley_ice_lite_checks_total", "parley_ice_lite_refused_total"};

/* The value of the unlabelled sample `name`, or -1 when absent. */
static long long sample_of(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *at = strstr(text, key);
    return at ? strtoll(at + strlen(key), NULL, 10) : -1;
}

static bool has_line(const char *text, const char *line)
{
    char key[256];
    snprintf(key, sizeof key, "\n%s\n", line);
    return strstr(text, key) != NULL;
}

/* The four families' samples in families[] order; HELP and TYPE checked on the way. */
static void render_ice_lite(server_t *srv, long long out[4])
{
    size_t len = 0;
    char *text = metrics_render(srv, &len);
    CHECK(text && len == strlen(text));
    for (int i = 0; i < 4; i++) {
        char type[128], help[128];
        snprintf(type, sizeof type, "# TYPE %s counter", families[i]);
        snprintf(help, sizeof help, "\n# HELP %s ", families[i]);
        CHECK(has_line(text, type));
        CHECK(strstr(text, help) != NULL);
        out[i] = sample_of(text, families[i]);
    }
    g_free(text);
}

static ice_lite_counters loop_stats(server_t *srv, int i)
{
    ice_lite_counters c;
    ice_lite_mux_stats(loop_context(loop_pool_get(srv->loops, i)), &c);
    return c;
}

static uint64_t total_datagrams(server_t *srv)
{
    return loop_stats(srv, 0).datagrams + loop_stats(srv, 1).datagrams;
}

/* Sends one datagram and waits until a loop has read it: one recvmmsg per datagram. */
static void send_and_wait(server_t *srv, int fd, uint16_t port, const void *buf, size_t len)
{
    uint64_t before = total_datagrams(srv);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)len);
    gint64 end = g_get_monotonic_time() + WAIT_US;
    while (total_datagrams(srv) == before && g_get_monotonic_time() < end)
        g_usleep(2000);
    CHECK_INT(total_datagrams(srv), before + 1);
}

static size_t valid_check(peer_t *p, uint8_t *buf, size_t cap)
{
    static const uint16_t known[] = {STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
                                     STUN_ATTRIBUTE_FINGERPRINT, STUN_ATTRIBUTE_PRIORITY,
                                     STUN_ATTRIBUTE_USE_CANDIDATE, STUN_ATTRIBUTE_ICE_CONTROLLING, 0};
    StunAgent agent;
    stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
    char ufrag[64], pwd[64], user[160];
    peer_local_credentials(p, ufrag, sizeof ufrag, pwd, sizeof pwd);
    snprintf(user, sizeof user, "%s:rmt0", ufrag);
    StunMessage msg;
    return stun_usage_ice_conncheck_create(&agent, &msg, buf, cap, (const uint8_t *)user, strlen(user),
                                           (const uint8_t *)pwd, strlen(pwd), true, true, 0x6e0001ff, 1, NULL,
                                           STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
}

static void test_ice_lite_families(server_t *srv)
{
    long long v[4];
    render_ice_lite(srv, v);
    for (int i = 0; i < 4; i++)
        CHECK_INT(v[i], 0);   /* present before any loop has a mux */

    peer_config pc = {.bind_ips = "127.0.0.1", .ice_lite = true};
    peer_t *p[2];
    uint16_t port[2];
    for (int i = 0; i < 2; i++) {
        p[i] = peer_create(loop_pool_get(srv->loops, i), &pc, NULL);
        CHECK(p[i] != NULL);
        port[i] = lite_probe_port(p[i]);
        CHECK_INT(peer_set_remote(p[i], "rmt0", "remote-password-0123456789", peer_local_fingerprint(),
                                  PEER_SETUP_ACTPASS, false, 0), PEER_OK);
    }
    CHECK(port[0] != port[1]);   /* a mux per loop */

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&any, sizeof any) == 0);
    static const char stray[] = "\x16\xfe\xfd not from a checked address";
    for (int i = 0; i < 2; i++)
        send_and_wait(srv, fd, port[i], stray, sizeof stray - 1);
    uint8_t req[512];
    size_t n = valid_check(p[0], req, sizeof req);
    CHECK(n > 0);
    send_and_wait(srv, fd, port[0], req, n);
    struct pollfd answered = {.fd = fd, .events = POLLIN};
    CHECK(poll(&answered, 1, 2000) == 1);

    ice_lite_counters a = loop_stats(srv, 0), b = loop_stats(srv, 1);
    CHECK_INT(a.checks, 1);
    CHECK_INT(a.refused, 1);
    CHECK_INT(b.checks, 0);
    CHECK_INT(b.refused, 1);
    render_ice_lite(srv, v);
    CHECK_INT(v[0], a.datagrams + b.datagrams);
    CHECK_INT(v[0], 3);
    CHECK_INT(v[1], a.reads + b.reads);
    CHECK_INT(v[1], 3);
    CHECK_INT(v[2], 1);
    CHECK_INT(v[3], 2);

    close(fd);
    for (int i = 0; i < 2; i++) {
        peer_close(p[i]);
        peer_unref(p[i]);
    }
}

static void flush_loop(void *arg) { (void)arg; }

int main(void)
{
    CHECK_INT(peer_global_init(), PEER_OK);
    server_config cfg;
    char err[256] = "";
    char *argv[] = {"test_metrics_render", NULL};
    char *envp[] = {NULL};
    CHECK_INT(config_load(&cfg, 1, argv, envp, err, sizeof err), CONFIG_RUN);
    server_t srv = {.config = &cfg};
    srv.loops = loop_pool_create(2);
    janus_core_create(&srv, NULL);
    test_ice_lite_families(&srv);
    for (int l = 0; l < 2; l++)
        loop_invoke_sync(loop_pool_get(srv.loops, l), flush_loop, NULL);   /* the closes ran */
    janus_core_destroy(srv.janus);
    loop_pool_destroy(srv.loops);
    peer_global_deinit();
    config_free(&cfg);
    return check_summary("test_metrics_render");
}
