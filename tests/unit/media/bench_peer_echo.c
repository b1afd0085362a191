/*
 * bench_peer_echo: CPU per echoed packet on one of our peers. Peer A (loop 0) sends 1200-byte
 * SRTP packets to peer B (loop 1) over loopback UDP; B unprotects each, protects it again and
 * sends it back from its rtp callback (what echotest and SFU forwarding do). Prints B's loop
 * thread CPU time per echoed packet, the echo throughput and the loss, for each SRTP profile.
 *   meson test -C build --benchmark --suite bench media-peer-echo   (or run the binary)
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/loop.h"
#include "media/peer.h"
#include "media/srtp.h"

#define PKT 1200
#define BURST 64

static GMutex m;
static GCond c;

typedef struct side {
    peer_t *peer;
    loop_t *loop;
    struct side *other;
    bool echo;
    peer_state state;
    uint64_t received;
} side;

static void on_candidate(void *u, const char *cand) { peer_add_remote_candidate(((side *)u)->other->peer, cand); }
static void on_state(void *u, peer_state st)
{
    side *s = u;
    g_mutex_lock(&m);
    s->state = st;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}
static void on_rtp(void *u, uint8_t *buf, size_t len)
{
    side *s = u;
    if (s->echo)
        peer_send_rtp(s->peer, buf, len, len + 64);
    else
        s->received++;   /* loop thread only; read through loop_invoke_sync */
}

static void make(side *s, loop_t *loop, const char *profiles, bool echo)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->echo = echo;
    peer_config cfg = {.allow_loopback = true, .bind_ips = "127.0.0.1", .srtp_profiles = profiles};
    peer_callbacks cb = {.user = s, .local_candidate = on_candidate, .state_changed = on_state, .rtp = on_rtp};
    s->peer = peer_create(loop, &cfg, &cb);
}

typedef struct job { side *s; int n; uint16_t seq; uint64_t value; } job;

static void send_burst(void *arg)
{
    job *j = arg;
    uint8_t buf[PKT + 64];
    memset(buf, 0xab, sizeof buf);
    buf[0] = 0x80;
    buf[1] = 96;
    buf[8] = 0x11; buf[9] = 0x22; buf[10] = 0x33; buf[11] = 0x44;
    for (int i = 0; i < j->n; i++, j->seq++) {
        buf[2] = (uint8_t)(j->seq >> 8);
        buf[3] = (uint8_t)j->seq;
        uint8_t pkt[PKT + 64];
        memcpy(pkt, buf, PKT);
        peer_send_rtp(j->s->peer, pkt, PKT, sizeof pkt);
    }
}

static void thread_cpu(void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    ((job *)arg)->value = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void read_received(void *arg) { job *j = arg; j->value = j->s->received; }

static uint64_t on_loop(side *s, void (*fn)(void *))
{
    job j = {.s = s};
    loop_invoke_sync(s->loop, fn, &j);
    return j.value;
}

static bool secure(side *a, side *b)
{
    gint64 end = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    g_mutex_lock(&m);
    while (!(a->state == PEER_STATE_SECURE && b->state == PEER_STATE_SECURE))
        if (!g_cond_wait_until(&c, &m, end))
            break;
    bool ok = a->state == PEER_STATE_SECURE && b->state == PEER_STATE_SECURE;
    g_mutex_unlock(&m);
    return ok;
}

static int run(loop_pool_t *pool, const char *profiles, const char *name, int packets)
{
    side a, b;
    make(&a, loop_pool_get(pool, 0), profiles, false);
    make(&b, loop_pool_get(pool, 1), profiles, true);
    a.other = &b;
    b.other = &a;
    char u[64], p[64];
    peer_local_credentials(a.peer, u, sizeof u, p, sizeof p);
    peer_set_remote(b.peer, u, p, peer_local_fingerprint(), PEER_SETUP_ACTPASS, false, 0);
    peer_gather_as_offerer(a.peer);
    peer_local_credentials(b.peer, u, sizeof u, p, sizeof p);
    peer_set_remote(a.peer, u, p, peer_local_fingerprint(), PEER_SETUP_ACTIVE, false, 0);
    if (!secure(&a, &b)) {
        fprintf(stderr, "peers did not connect\n");
        return 1;
    }
    job burst = {.s = &a, .n = BURST, .seq = 1};
    loop_invoke_sync(a.loop, send_burst, &burst);   /* warm up */
    g_usleep(500000);
    uint64_t rx0 = on_loop(&a, read_received), cpu0 = on_loop(&b, thread_cpu);
    gint64 t0 = g_get_monotonic_time();
    for (int sent = 0; sent < packets; sent += BURST) {
        loop_invoke_sync(a.loop, send_burst, &burst);
        /* Pace at ~50k packets/s so that neither socket buffer overflows. */
        g_usleep(BURST * 20);
    }
    g_usleep(200000);
    uint64_t rx = on_loop(&a, read_received) - rx0, cpu = on_loop(&b, thread_cpu) - cpu0;
    double secs = (double)(g_get_monotonic_time() - t0) / 1e6;
    peer_stats st;
    peer_get_stats(b.peer, &st);
    printf("%-8s echoed %llu/%d packets of %d bytes in %.2f s: %.2f us CPU per echoed packet on "
           "the echoing loop (recv+unprotect+protect+send), %.0f packets/s, dropped_in %llu\n",
           name, (unsigned long long)rx, packets, PKT, secs, rx ? (double)cpu / 1000.0 / (double)rx : 0.0,
           (double)rx / secs, (unsigned long long)st.dropped_in);
    peer_close(a.peer);
    peer_close(b.peer);
    peer_unref(a.peer);
    peer_unref(b.peer);
    return 0;
}

/* The crypto floor: protect (as the sender) + unprotect (as the receiver) of 1200-byte
 * packets with libsrtp, no I/O. */
static void srtp_floor(media_srtp_profile profile, const char *name, int packets)
{
    uint8_t material[64];
    for (size_t i = 0; i < sizeof material; i++)
        material[i] = (uint8_t)(i * 31 + 7);
    size_t klen = media_srtp_keying_len(profile);
    media_srtp *tx = media_srtp_create(profile, material, klen, true);
    media_srtp *rx = media_srtp_create(profile, material, klen, false);
    uint8_t buf[PKT + 64];
    memset(buf, 0xab, sizeof buf);
    buf[0] = 0x80;
    buf[1] = 96;
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    int bad = 0;
    for (int i = 0; i < packets; i++) {
        buf[2] = (uint8_t)(i >> 8);
        buf[3] = (uint8_t)i;
        size_t len = PKT;
        if (media_srtp_protect_rtp(tx, buf, &len, sizeof buf) != 0 ||
            media_srtp_unprotect_rtp(rx, buf, &len) != 0)
            bad++;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / packets;
    printf("%-8s libsrtp protect+unprotect of a %d-byte packet: %.2f us (%d failures)\n", name, PKT, us, bad);
    media_srtp_free(tx);
    media_srtp_free(rx);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* Resident memory per connected pair (both legs of a call: two peers, SRTP + SCTP up). */
static void memory_per_pair(loop_pool_t *pool, int pairs)
{
    side *a = calloc((size_t)pairs, sizeof *a), *b = calloc((size_t)pairs, sizeof *b);
    long before = rss_kb();
    int up = 0;
    for (int i = 0; i < pairs; i++) {
        make(&a[i], loop_pool_get(pool, 0), NULL, false);
        make(&b[i], loop_pool_get(pool, 1), NULL, true);
        a[i].other = &b[i];
        b[i].other = &a[i];
        char u[64], p[64];
        peer_local_credentials(a[i].peer, u, sizeof u, p, sizeof p);
        peer_set_remote(b[i].peer, u, p, peer_local_fingerprint(), PEER_SETUP_ACTPASS, true, 5000);
        peer_gather_as_offerer(a[i].peer);
        peer_local_credentials(b[i].peer, u, sizeof u, p, sizeof p);
        peer_set_remote(a[i].peer, u, p, peer_local_fingerprint(), PEER_SETUP_ACTIVE, true, 5000);
        up += secure(&a[i], &b[i]);
    }
    g_usleep(300000);   /* let the SCTP associations come up too */
    long after = rss_kb();
    printf("memory: %d/%d pairs up, %.0f KiB RSS per connected pair (2 peers, DTLS+SRTP+SCTP)\n",
           up, pairs, (double)(after - before) / pairs);
    for (int i = 0; i < pairs; i++) {
        peer_close(a[i].peer);
        peer_close(b[i].peer);
        peer_unref(a[i].peer);
        peer_unref(b[i].peer);
    }
    free(a);
    free(b);
}

int main(int argc, char **argv)
{
    int packets = argc > 1 ? atoi(argv[1]) : 100000;
    if (peer_global_init() != PEER_OK)
        return 1;
    srtp_floor(MEDIA_SRTP_AEAD_AES_128_GCM, "AES-GCM", 60000);
    srtp_floor(MEDIA_SRTP_AES128_CM_SHA1_80, "AES-CM", 60000);
    loop_pool_t *pool = loop_pool_create(2);
    int r = run(pool, "SRTP_AEAD_AES_128_GCM", "AES-GCM", packets);
    r |= run(pool, "SRTP_AES128_CM_SHA1_80", "AES-CM", packets);
    memory_per_pair(pool, 40);
    loop_pool_destroy(pool);
    peer_global_deinit();
    return r;
}
