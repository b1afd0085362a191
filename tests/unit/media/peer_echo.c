/*
 * peer_echo: one of our peers as an answering echo endpoint, driven over stdin/stdout, for
 * interop checks against another WebRTC stack (aiortc_interop.py). Not a unit test by itself.
 *
 * stdin, one per line:  ufrag U | pwd P | fingerprint sha-256 AB:.. | setup actpass|active|passive
 *                       | sctp PORT | candidate:... | done   (remote description complete)
 * stdout:               ufrag U, pwd P, fingerprint F, setup active|passive, then each
 *                       "candidate:..." as gathered, "gathered", then events:
 *                       "state N", "open SID LABEL", "data LABEL TEXT", "stats RTP_IN RTCP_IN".
 * Media and messages are echoed back (messages prefixed with "echo:").
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "media/peer.h"
#include "util/log.h"

static GMutex out_lock;
static peer_t *peer;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_mutex_lock(&out_lock);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    g_mutex_unlock(&out_lock);
    va_end(ap);
}

static void on_candidate(void *u, const char *c) { say("%s", c); }
static void on_gathered(void *u) { say("gathered"); }
static void on_state(void *u, peer_state st) { say("state %d profile %d", (int)st, peer_srtp_profile(peer)); }
static void on_rtp(void *u, uint8_t *buf, size_t len) { peer_send_rtp(peer, buf, len, len + 64); }
static void on_rtcp(void *u, uint8_t *buf, size_t len) { peer_send_rtcp(peer, buf, len, len + 64); }
static void on_open(void *u, uint16_t sid, const char *label, const char *proto)
{
    say("open %u %s", sid, label);
}
static void on_data(void *u, uint16_t sid, const char *label, bool binary, const uint8_t *buf,
                    size_t len)
{
    say("data %s %.*s", label, (int)len, (const char *)buf);
    char reply[512];
    int n = snprintf(reply, sizeof reply, "echo:%.*s", (int)(len > 400 ? 400 : len), (const char *)buf);
    peer_send_data(peer, NULL, sid, binary, (const uint8_t *)reply, (size_t)n);
}

static peer_dtls_setup parse_setup(const char *s)
{
    if (strcmp(s, "active") == 0)
        return PEER_SETUP_ACTIVE;
    if (strcmp(s, "passive") == 0)
        return PEER_SETUP_PASSIVE;
    return PEER_SETUP_ACTPASS;
}

int main(void)
{
    if (getenv("PARLEY_TEST_DEBUG"))
        log_set_level(LOG_LEVEL_DEBUG);
    if (peer_global_init() != PEER_OK)
        return 1;
    loop_pool_t *pool = loop_pool_create(1);
    peer_config cfg = {.allow_loopback = true, .ipv6 = false, .srtp_profiles = getenv("PROFILES")};
    peer_callbacks cb = {.local_candidate = on_candidate, .gathering_done = on_gathered,
                         .state_changed = on_state, .rtp = on_rtp, .rtcp = on_rtcp,
                         .data_open = on_open, .data = on_data};
    peer = peer_create(loop_pool_get(pool, 0), &cfg, &cb);
    char ufrag[64] = "", pwd[64] = "", fp[256] = "", setup[16] = "actpass", line[2048];
    int sctp_port = 0;
    GPtrArray *cands = g_ptr_array_new_with_free_func(g_free);
    while (fgets(line, sizeof line, stdin)) {
        g_strchomp(line);
        if (strncmp(line, "ufrag ", 6) == 0)
            g_strlcpy(ufrag, line + 6, sizeof ufrag);
        else if (strncmp(line, "pwd ", 4) == 0)
            g_strlcpy(pwd, line + 4, sizeof pwd);
        else if (strncmp(line, "fingerprint ", 12) == 0)
            g_strlcpy(fp, line + 12, sizeof fp);
        else if (strncmp(line, "setup ", 6) == 0)
            g_strlcpy(setup, line + 6, sizeof setup);
        else if (strncmp(line, "sctp ", 5) == 0)
            sctp_port = atoi(line + 5);
        else if (strstr(line, "candidate:"))
            g_ptr_array_add(cands, g_strdup(line));
        else if (strcmp(line, "done") == 0)
            break;
    }
    int r = peer_set_remote(peer, ufrag, pwd, fp, parse_setup(setup), sctp_port > 0,
                            (uint16_t)sctp_port);
    if (r != PEER_OK) {
        say("error set_remote %d", r);
        return 1;
    }
    peer_local_credentials(peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    say("ufrag %s", ufrag);
    say("pwd %s", pwd);
    say("fingerprint %s", peer_local_fingerprint());
    say("setup %s", peer_local_setup(peer) == PEER_SETUP_ACTIVE ? "active" : "passive");
    for (guint i = 0; i < cands->len; i++)
        if (peer_add_remote_candidate(peer, g_ptr_array_index(cands, i)) != PEER_OK)
            say("bad-candidate %s", (char *)g_ptr_array_index(cands, i));
    peer_remote_candidates_done(peer);
    /* Runs until stdin closes; then prints the final stats. */
    while (fgets(line, sizeof line, stdin)) {
    }
    peer_stats st;
    peer_get_stats(peer, &st);
    say("stats %llu %llu", (unsigned long long)st.rtp_packets_in, (unsigned long long)st.rtcp_packets_in);
    peer_close(peer);
    peer_unref(peer);
    loop_pool_destroy(pool);
    peer_global_deinit();
    g_ptr_array_free(cands, TRUE);
    return 0;
}
