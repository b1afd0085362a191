/*
 * test_ice_lite_race: the ICE-lite mux is shared by every peer of a loop and made by whichever
 * thread first creates a peer there (peer_create runs on plugin threads), while the loop reads
 * its sockets. Four threads create peers on two loops of a fresh pool at once (so the muxes'
 * creation races), read their candidates (one port per loop, whoever made it), set the remote
 * description (the agent is made on the loop), answer-worthy checks arrive for some of them,
 * and they are closed and released while a fifth thread keeps sending junk and stale checks
 * to both ports, and a sixth reads both muxes' counters as /metrics does (each value must only
 * grow). Under ThreadSanitizer in suite 'concurrency'.
 */
#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stun/stunagent.h>
#include <stun/usages/ice.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/loop.h"
#include "media/ice_lite.h"
#include "media/peer.h"

#define THREADS 4
#define PEERS 40

static loop_pool_t *pool;
static _Atomic int port_of[2];
static _Atomic bool stop;
static _Atomic int mismatches, created, went_back;
static const uint16_t known[] = {STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY, STUN_ATTRIBUTE_FINGERPRINT,
                                 STUN_ATTRIBUTE_PRIORITY, STUN_ATTRIBUTE_USE_CANDIDATE, STUN_ATTRIBUTE_ICE_CONTROLLED,
                                 STUN_ATTRIBUTE_ICE_CONTROLLING, 0};

static int port_in(peer_t *p)
{
    char buf[1024];
    unsigned port = 0;
    if (peer_local_candidates(p, buf, sizeof buf) <= 0 ||
        sscanf(buf, "candidate:%*s 1 udp %*u 127.0.0.1 %u typ host", &port) != 1)
        return -1;
    return (int)port;
}

static void send_check(int fd, int port, const char *ufrag, const char *pwd, StunAgent *agent)
{
    char user[128];
    snprintf(user, sizeof user, "%s:remote", ufrag);
    uint8_t req[512];
    StunMessage msg;
    size_t n = stun_usage_ice_conncheck_create(agent, &msg, req, sizeof req, (const uint8_t *)user, strlen(user),
                                               (const uint8_t *)pwd, strlen(pwd), true, true, 1, 2, NULL,
                                               STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    sendto(fd, req, n, 0, (struct sockaddr *)&to, sizeof to);
}

static gpointer creator(gpointer arg)
{
    int id = GPOINTER_TO_INT(arg);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    StunAgent agent;
    stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
    peer_config cfg = {.bind_ips = "127.0.0.1", .ice_lite = true, .ice_lite_timeout_ms = 500};
    for (int i = 0; i < PEERS; i++) {
        int which = (i + id) % 2;
        peer_t *p = peer_create(loop_pool_get(pool, which), &cfg, NULL);
        int port = port_in(p), want = 0;
        if (!atomic_compare_exchange_strong(&port_of[which], &want, port) && want != port)
            atomic_fetch_add(&mismatches, 1);
        peer_set_remote(p, "remote", "remote-password-0123456789", peer_local_fingerprint(), PEER_SETUP_ACTPASS,
                        false, 0);
        if (i % 2) {
            char ufrag[64], pwd[64];
            peer_local_credentials(p, ufrag, sizeof ufrag, pwd, sizeof pwd);
            send_check(fd, port, ufrag, pwd, &agent);
        }
        if (i % 3 == 0)
            g_usleep(1000);
        peer_close(p);
        peer_unref(p);
        atomic_fetch_add(&created, 1);
    }
    close(fd);
    return NULL;
}

static gpointer blaster(gpointer arg)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    StunAgent agent;
    stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37);
    while (!atomic_load(&stop)) {
        for (int w = 0; w < 2; w++) {
            int port = atomic_load(&port_of[w]);
            if (!port)
                continue;
            struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            junk[0] = (uint8_t)(junk[0] + 1);
            sendto(fd, junk, sizeof junk, 0, (struct sockaddr *)&to, sizeof to);
            send_check(fd, port, "nobody12", "no-such-password-here-xx", &agent);
        }
        g_usleep(200);
    }
    close(fd);
    return NULL;
}

static bool below(const ice_lite_counters *now, const ice_lite_counters *then)
{
    return now->datagrams < then->datagrams || now->reads < then->reads || now->checks < then->checks ||
           now->refused < then->refused;
}

/* The admin thread's view: no loop involved, the loops keep writing meanwhile. */
static gpointer scraper(gpointer arg)
{
    ice_lite_counters *last = arg;
    while (!atomic_load(&stop)) {
        for (int w = 0; w < 2; w++) {
            ice_lite_counters now;
            ice_lite_mux_stats(loop_context(loop_pool_get(pool, w)), &now);
            if (below(&now, &last[w]))
                atomic_fetch_add(&went_back, 1);
            last[w] = now;
        }
        g_usleep(100);
    }
    return NULL;
}

int main(void)
{
    CHECK_INT(peer_global_init(), PEER_OK);
    pool = loop_pool_create(2);
    GThread *b = g_thread_new("blaster", blaster, NULL);
    ice_lite_counters seen[2] = {{0}};
    GThread *sc = g_thread_new("scraper", scraper, seen);
    GThread *t[THREADS];
    for (int i = 0; i < THREADS; i++)
        t[i] = g_thread_new("creator", creator, GINT_TO_POINTER(i));
    for (int i = 0; i < THREADS; i++)
        g_thread_join(t[i]);
    atomic_store(&stop, true);
    g_thread_join(b);
    g_thread_join(sc);
    CHECK_INT(atomic_load(&created), THREADS * PEERS);
    CHECK_INT(atomic_load(&mismatches), 0);
    CHECK(atomic_load(&port_of[0]) > 0 && atomic_load(&port_of[1]) > 0 && port_of[0] != port_of[1]);
    CHECK_INT(atomic_load(&went_back), 0);
    CHECK(seen[0].refused > 0 && seen[1].refused > 0 && seen[0].datagrams >= seen[0].refused);
    loop_pool_destroy(pool);
    peer_global_deinit();
    return check_summary("test_ice_lite_race");
}
