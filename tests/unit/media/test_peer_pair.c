/*
 * Two of our peers, each on its own loop thread, connected over real loopback UDP through
 * libnice: ICE, DTLS handshake with fingerprint check, SRTP and SRTCP both ways with payload
 * checks, data channels opened from both sides (text, binary, empty), an ICE restart with
 * media flowing through it, and a fingerprint mismatch that must fail. Run for AES-GCM,
 * AES-CM and a mixed offer.
 */
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "core/loop.h"
#include "media/peer.h"
#include "util/log.h"

#define PAYLOAD 160
#define WAIT_MS 10000

static GMutex m;
static GCond c;

typedef struct side {
    const char *name;
    peer_t *peer;
    loop_t *loop;
    struct side *other;
    bool forward_candidates;
    peer_state states[16];
    int nstates;
    int rtp_ok, rtp_bad;
    int rtcp_ok, rtcp_bad;
    int opens;
    char open_label[64];
    uint16_t open_sid;
    int texts, binaries, empties, data_bad;
    int gathered;
    size_t big_len;
    int closes;
    char closed_label[64];
    int big_ok;
    char last_text[128];
} side;

/* ---- waiting on callbacks from the loop threads ---- */

typedef bool (*pred_fn)(side *a, side *b);

static bool wait_for(pred_fn pred, side *a, side *b)
{
    gint64 end = g_get_monotonic_time() + WAIT_MS * 1000;
    g_mutex_lock(&m);
    bool ok;
    while (!(ok = pred(a, b)))
        if (!g_cond_wait_until(&c, &m, end)) {
            ok = pred(a, b);
            break;
        }
    g_mutex_unlock(&m);
    return ok;
}

static peer_state last_state(side *s) { return s->nstates ? s->states[s->nstates - 1] : PEER_STATE_NEW; }
static bool both_secure(side *a, side *b)
{
    return last_state(a) == PEER_STATE_SECURE && last_state(b) == PEER_STATE_SECURE;
}
static bool both_failed(side *a, side *b)
{
    return last_state(a) == PEER_STATE_FAILED && last_state(b) == PEER_STATE_FAILED;
}

/* ---- callbacks (loop threads) ---- */

static void on_candidate(void *user, const char *cand)
{
    side *s = user;
    if (s->forward_candidates)
        peer_add_remote_candidate(s->other->peer, cand);
}

static void on_gathered(void *user)
{
    side *s = user;
    g_mutex_lock(&m);
    s->gathered++;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

static void on_state(void *user, peer_state st)
{
    side *s = user;
    g_mutex_lock(&m);
    if (s->nstates < 16)
        s->states[s->nstates++] = st;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

static void fill_rtp(uint8_t *buf, uint16_t seq, uint32_t ssrc)
{
    buf[0] = 0x80;
    buf[1] = 111;
    buf[2] = (uint8_t)(seq >> 8);
    buf[3] = (uint8_t)seq;
    uint32_t ts = seq * 960u;
    buf[4] = (uint8_t)(ts >> 24); buf[5] = (uint8_t)(ts >> 16); buf[6] = (uint8_t)(ts >> 8); buf[7] = (uint8_t)ts;
    buf[8] = (uint8_t)(ssrc >> 24); buf[9] = (uint8_t)(ssrc >> 16); buf[10] = (uint8_t)(ssrc >> 8); buf[11] = (uint8_t)ssrc;
    for (int i = 0; i < PAYLOAD; i++)
        buf[12 + i] = (uint8_t)(seq * 7 + i);
}

static void on_rtp(void *user, uint8_t *buf, size_t len)
{
    side *s = user;
    bool ok = len == 12 + PAYLOAD && buf[0] == 0x80 && buf[1] == 111;
    if (ok) {
        uint16_t seq = (uint16_t)(buf[2] << 8 | buf[3]);
        uint8_t expect[12 + PAYLOAD];
        fill_rtp(expect, seq, (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11]);
        ok = memcmp(expect, buf, len) == 0;
    }
    g_mutex_lock(&m);
    if (ok)
        s->rtp_ok++;
    else
        s->rtp_bad++;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

/* A receiver report: V=2, RC=1, PT=201, length 7 words. */
static const uint8_t rtcp_rr[32] = {0x81, 201, 0, 7, 0x11, 0x22, 0x33, 0x44, 0xaa, 0xbb, 0xcc, 0xdd,
                                    0, 0, 0, 5, 0, 0, 0x10, 0x00, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};

static void on_rtcp(void *user, uint8_t *buf, size_t len)
{
    side *s = user;
    bool ok = len == sizeof rtcp_rr && memcmp(buf, rtcp_rr, len) == 0;
    g_mutex_lock(&m);
    if (ok)
        s->rtcp_ok++;
    else
        s->rtcp_bad++;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

static void on_data_open(void *user, uint16_t sid, const char *label, const char *protocol)
{
    side *s = user;
    g_mutex_lock(&m);
    s->opens++;
    g_strlcpy(s->open_label, label, sizeof s->open_label);
    s->open_sid = sid;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

static void on_data_close(void *user, uint16_t sid, const char *label)
{
    side *s = user;
    g_mutex_lock(&m);
    s->closes++;
    g_strlcpy(s->closed_label, label, sizeof s->closed_label);
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

static void on_data(void *user, uint16_t sid, const char *label, bool binary, const uint8_t *buf,
                    size_t len)
{
    side *s = user;
    g_mutex_lock(&m);
    if (len == 0) {
        s->empties++;
    } else if (binary && len > 3000) {
        bool ok = true;
        for (size_t i = 0; ok && i < len; i++)
            ok = buf[i] == (uint8_t)(i * 7 + (i >> 11));
        s->big_len = len;
        s->big_ok += ok;
    } else if (binary) {
        bool ok = len == 3000;
        for (size_t i = 0; ok && i < len; i++)
            ok = buf[i] == (uint8_t)(i * 13);
        if (ok)
            s->binaries++;
        else
            s->data_bad++;
    } else {
        s->texts++;
        size_t n = len < sizeof s->last_text - 1 ? len : sizeof s->last_text - 1;
        memcpy(s->last_text, buf, n);
        s->last_text[n] = '\0';
    }
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

/* ---- driving the data path on the loop thread ---- */

typedef struct job {
    side *s;
    int first, count;
    int failures;
    const char *label;
    bool binary;
    const uint8_t *data;
    size_t len;
} job;

static void send_rtp_job(void *arg)
{
    job *j = arg;
    for (int i = 0; i < j->count; i++) {
        uint8_t buf[12 + PAYLOAD + 64];
        fill_rtp(buf, (uint16_t)(j->first + i), 0x1234abcd);
        if (peer_send_rtp(j->s->peer, buf, 12 + PAYLOAD, sizeof buf) != PEER_OK)
            j->failures++;
    }
}

static void send_rtcp_job(void *arg)
{
    job *j = arg;
    for (int i = 0; i < j->count; i++) {
        uint8_t buf[sizeof rtcp_rr + 64];
        memcpy(buf, rtcp_rr, sizeof rtcp_rr);
        if (peer_send_rtcp(j->s->peer, buf, sizeof rtcp_rr, sizeof buf) != PEER_OK)
            j->failures++;
    }
}

static void close_channel_job(void *arg)
{
    job *j = arg;
    if (peer_close_data_channel(j->s->peer, j->label, 0) != PEER_OK)
        j->failures++;
}

static void send_data_job(void *arg)
{
    job *j = arg;
    if (peer_send_data(j->s->peer, j->label, 0, j->binary, j->data, j->len) != PEER_OK)
        j->failures++;
}

static int send_rtp(side *s, int first, int count)
{
    job j = {.s = s, .first = first, .count = count};
    loop_invoke_sync(s->loop, send_rtp_job, &j);
    return j.failures;
}

static int send_data(side *s, const char *label, bool binary, const void *data, size_t len)
{
    job j = {.s = s, .label = label, .binary = binary, .data = data, .len = len};
    loop_invoke_sync(s->loop, send_data_job, &j);
    return j.failures;
}

/* ---- set up ---- */

static peer_config config(const char *profiles)
{
    peer_config cfg = {.bind_ips = NULL, .allow_loopback = true, .ipv6 = false,
                       .srtp_profiles = profiles};
    return cfg;
}

static bool lite_next;   /* the next side made is an ICE-lite agent (like Janus with ice_lite) */

static void make_side(side *s, const char *name, loop_t *loop, const char *profiles)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->loop = loop;
    s->forward_candidates = true;
    peer_config cfg = config(profiles);
    cfg.ice_lite = lite_next;
    lite_next = false;
    peer_callbacks cb = {.user = s, .local_candidate = on_candidate, .state_changed = on_state,
                         .gathering_done = on_gathered,
                         .rtp = on_rtp, .rtcp = on_rtcp, .data_open = on_data_open, .data = on_data,
                         .data_close = on_data_close};
    s->peer = peer_create(loop, &cfg, &cb);
}

/* a offers (actpass, controlling), b answers (active): the browser -> server shape, inverted. */
static void connect_pair(side *a, side *b, const char *fp_b_sees_for_a, bool sctp)
{
    char ufrag[64], pwd[64];
    a->other = b;
    b->other = a;
    peer_local_credentials(a->peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    CHECK_INT(peer_set_remote(b->peer, ufrag, pwd, fp_b_sees_for_a, PEER_SETUP_ACTPASS, sctp, 5000), PEER_OK);
    CHECK_INT(peer_local_setup(b->peer), PEER_SETUP_ACTIVE);
    CHECK_INT(peer_gather_as_offerer(a->peer), PEER_OK);
    CHECK_INT(peer_local_setup(a->peer), PEER_SETUP_ACTPASS);
    peer_local_credentials(b->peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    CHECK_INT(peer_set_remote(a->peer, ufrag, pwd, peer_local_fingerprint(), PEER_SETUP_ACTIVE, sctp, 5000), PEER_OK);
    CHECK_INT(peer_local_setup(a->peer), PEER_SETUP_PASSIVE);
}

static void teardown(side *a, side *b)
{
    peer_close(a->peer);
    peer_close(b->peer);
    CHECK_INT(peer_get_state(a->peer), PEER_STATE_CLOSED);
    peer_unref(a->peer);
    peer_unref(b->peer);
}

/* ---- scenarios ---- */

static bool rtp_done(side *a, side *b) { return a->rtp_ok >= 100 && b->rtp_ok >= 100; }
static bool rtcp_done(side *a, side *b) { return a->rtcp_ok >= 3 && b->rtcp_ok >= 3; }
static bool opened_ab(side *a, side *b) { return a->opens >= 1 && b->opens >= 1; }
static bool opened_twice(side *a, side *b) { return a->opens >= 2 && b->opens >= 2; }
static bool texts_in(side *a, side *b) { return b->texts >= 1 && b->empties >= 1; }
static bool binaries_in(side *a, side *b) { return a->binaries >= 1; }
static bool text_back(side *a, side *b) { return a->texts >= 1; }
static bool big_in(side *a, side *b) { return b->big_ok >= 1; }
static bool both_closed(side *a, side *b) { return a->closes >= 1 && b->closes >= 1; }

static void exchange_media(side *a, side *b)
{
    CHECK_INT(send_rtp(a, 1000, 100), 0);
    CHECK_INT(send_rtp(b, 5000, 100), 0);
    CHECK(wait_for(rtp_done, a, b));
    CHECK_INT(a->rtp_ok, 100);
    CHECK_INT(b->rtp_ok, 100);
    CHECK_INT(a->rtp_bad + b->rtp_bad, 0);

    job ja = {.s = a, .count = 3}, jb = {.s = b, .count = 3};
    loop_invoke_sync(a->loop, send_rtcp_job, &ja);
    loop_invoke_sync(b->loop, send_rtcp_job, &jb);
    CHECK_INT(ja.failures + jb.failures, 0);
    CHECK(wait_for(rtcp_done, a, b));
    CHECK_INT(a->rtcp_bad + b->rtcp_bad, 0);

    peer_stats st;
    peer_get_stats(a->peer, &st);
    CHECK_INT(st.rtp_packets_out, 100);
    CHECK_INT(st.rtp_packets_in, 100);
    CHECK_INT(st.rtp_bytes_in, 100 * (12 + PAYLOAD));
    CHECK_INT(st.rtcp_packets_out, 3);
    CHECK_INT(st.rtcp_packets_in, 3);
    CHECK(st.last_rtp_in_us > 0);
    CHECK_INT(st.dropped_in, 0);
    CHECK_INT(st.dropped_out, 0);
}

static void exchange_data(side *a, side *b)
{
    /* a is the DTLS server here: its channels get odd stream ids. */
    CHECK_INT(peer_open_data_channel(a->peer, "chat"), PEER_OK);
    CHECK(wait_for(opened_ab, a, b));
    CHECK_STR(a->open_label, "chat");
    CHECK_STR(b->open_label, "chat");
    CHECK_INT(a->open_sid, 1);
    CHECK_INT(b->open_sid, 1);

    static const char hello[] = "hello from the offerer";
    CHECK_INT(send_data(a, "chat", false, hello, strlen(hello)), 0);
    CHECK_INT(send_data(a, "chat", false, "", 0), 0);
    CHECK(wait_for(texts_in, a, b));
    CHECK_STR(b->last_text, hello);

    uint8_t blob[3000];
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 13);
    CHECK_INT(send_data(b, "chat", true, blob, sizeof blob), 0);
    CHECK(wait_for(binaries_in, a, b));
    CHECK_INT(a->data_bad + b->data_bad, 0);

    /* The DTLS client's channels get even ids. */
    CHECK_INT(peer_open_data_channel(b->peer, "files"), PEER_OK);
    CHECK(wait_for(opened_twice, a, b));
    CHECK_STR(a->open_label, "files");
    CHECK_INT(a->open_sid, 0);
    CHECK_INT(send_data(b, "files", false, "ok", 2), 0);
    CHECK(wait_for(text_back, a, b));
    CHECK_STR(a->last_text, "ok");
    CHECK_INT(send_data(a, "nope", false, "x", 1), 1);   /* unknown label is refused */

    /* A message far above the SCTP fragment size (browsers allow 256 KiB): reassembled. */
    size_t big = 200000;
    uint8_t *huge = malloc(big);
    for (size_t i = 0; i < big; i++)
        huge[i] = (uint8_t)(i * 7 + (i >> 11));
    CHECK_INT(send_data(a, "chat", true, huge, big), 0);
    CHECK(wait_for(big_in, a, b));
    CHECK_INT(b->big_len, big);
    free(huge);

    /* b closes "files" (stream reset both ways): both sides see it, sending on it fails. */
    job jc = {.s = b, .label = "files"};
    loop_invoke_sync(b->loop, close_channel_job, &jc);
    CHECK_INT(jc.failures, 0);
    CHECK(wait_for(both_closed, a, b));
    CHECK_STR(a->closed_label, "files");
    CHECK_STR(b->closed_label, "files");
    CHECK_INT(send_data(a, "files", false, "x", 1), 1);
    CHECK_INT(send_data(b, "files", false, "x", 1), 1);
    CHECK_INT(send_data(a, "chat", false, "still", 5), 0);   /* the other channel lives on */
}

static bool regathered(side *a, side *b) { return a->gathered >= 2 && b->gathered >= 2; }
static bool media_after_restart(side *a, side *b) { return a->rtp_ok >= 150 && b->rtp_ok >= 150; }
static bool text_after_restart(side *a, side *b) { return strcmp(b->last_text, "after restart") == 0; }

static void add_all_candidates(side *to, side *from)
{
    char buf[8192];
    int n = peer_local_candidates(from->peer, buf, sizeof buf);
    CHECK(n > 0);
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        CHECK_INT(peer_add_remote_candidate(to->peer, line), PEER_OK);
}

/* a restarts (its new offer), b answers with new credentials; media keeps flowing. */
static void ice_restart(side *a, side *b)
{
    char ufrag_a[64], pwd_a[64], ufrag_b[64], pwd_b[64], old[64], tmp[64];
    peer_local_credentials(a->peer, old, sizeof old, tmp, sizeof tmp);
    CHECK_INT(peer_ice_restart(a->peer, NULL, NULL), PEER_OK);
    peer_local_credentials(a->peer, ufrag_a, sizeof ufrag_a, pwd_a, sizeof pwd_a);
    CHECK(strcmp(old, ufrag_a) != 0);
    CHECK_INT(peer_ice_restart(b->peer, ufrag_a, pwd_a), PEER_OK);
    peer_local_credentials(b->peer, ufrag_b, sizeof ufrag_b, pwd_b, sizeof pwd_b);
    CHECK_INT(peer_set_remote_credentials(a->peer, ufrag_b, pwd_b), PEER_OK);
    add_all_candidates(a, b);
    add_all_candidates(b, a);
    peer_remote_candidates_done(a->peer);
    peer_remote_candidates_done(b->peer);
    /* Media during and after the restart: 50 packets each way over ~1 s. */
    for (int i = 0; i < 50; i++) {
        send_rtp(a, 2000 + i, 1);
        send_rtp(b, 6000 + i, 1);
        g_usleep(20000);
    }
    CHECK(wait_for(media_after_restart, a, b));
    CHECK(wait_for(regathered, a, b));
    CHECK_INT(a->rtp_bad + b->rtp_bad, 0);
    CHECK_INT(peer_get_state(a->peer), PEER_STATE_SECURE);
    CHECK_INT(peer_get_state(b->peer), PEER_STATE_SECURE);
    CHECK_INT(send_data(a, "chat", false, "after restart", 13), 0);
    CHECK(wait_for(text_after_restart, a, b));
    CHECK_STR(b->last_text, "after restart");
}

/* A renegotiation that adds the m=application line after media is up. */
static void add_sctp_later(side *a, side *b)
{
    char ufrag[64], pwd[64];
    peer_local_credentials(a->peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    CHECK_INT(peer_set_remote(b->peer, ufrag, pwd, peer_local_fingerprint(), PEER_SETUP_ACTPASS, true, 5000), PEER_OK);
    peer_local_credentials(b->peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    CHECK_INT(peer_set_remote(a->peer, ufrag, pwd, peer_local_fingerprint(), PEER_SETUP_ACTIVE, true, 5000), PEER_OK);
}

static void run_pair(loop_pool_t *pool, const char *prof_a, const char *prof_b, int expect_profile,
                     bool restart, bool late_sctp)
{
    side a, b;
    make_side(&a, "offerer", loop_pool_get(pool, 0), prof_a);
    make_side(&b, "answerer", loop_pool_get(pool, 1), prof_b);
    connect_pair(&a, &b, peer_local_fingerprint(), !late_sctp);
    CHECK(wait_for(both_secure, &a, &b));
    CHECK_INT(a.gathered, 1);
    CHECK_INT(peer_srtp_profile(a.peer), expect_profile);
    CHECK_INT(peer_srtp_profile(b.peer), expect_profile);
    /* The states went forward in order and ended SECURE. */
    g_mutex_lock(&m);
    for (int i = 1; i < b.nstates; i++)
        CHECK(b.states[i] > b.states[i - 1]);
    g_mutex_unlock(&m);
    exchange_media(&a, &b);
    if (late_sctp)
        add_sctp_later(&a, &b);
    exchange_data(&a, &b);
    if (restart)
        ice_restart(&a, &b);
    teardown(&a, &b);
}

/* The answerer is ICE-lite (host candidates only, never controlling): full ICE on one side. */
static void run_ice_lite(loop_pool_t *pool)
{
    side a, b;
    make_side(&a, "offerer", loop_pool_get(pool, 0), NULL);
    lite_next = true;
    make_side(&b, "lite answerer", loop_pool_get(pool, 1), NULL);
    connect_pair(&a, &b, peer_local_fingerprint(), true);
    /* A lite agent's candidates go in its description (none is trickled): hand them over. */
    add_all_candidates(&a, &b);
    CHECK(wait_for(both_secure, &a, &b));
    exchange_media(&a, &b);
    teardown(&a, &b);
}

/* The lite side offers (as our server does) and a full agent answers: the full agent must
 * take the controlling role (peer_set_remote_ice_lite), or the lite side's 487 answers leave
 * it checking for ever. */
static void run_ice_lite_offerer(loop_pool_t *pool)
{
    side a, b;
    lite_next = true;
    make_side(&a, "lite offerer", loop_pool_get(pool, 0), NULL);
    make_side(&b, "full answerer", loop_pool_get(pool, 1), NULL);
    peer_set_remote_ice_lite(b.peer);
    connect_pair(&a, &b, peer_local_fingerprint(), true);
    add_all_candidates(&b, &a);
    CHECK(wait_for(both_secure, &a, &b));
    exchange_media(&a, &b);
    teardown(&a, &b);
}

static void run_fingerprint_mismatch(loop_pool_t *pool)
{
    side a, b;
    make_side(&a, "offerer", loop_pool_get(pool, 0), NULL);
    make_side(&b, "answerer", loop_pool_get(pool, 1), NULL);
    /* b expects another certificate than the one a presents. */
    char wrong[160];
    g_strlcpy(wrong, peer_local_fingerprint(), sizeof wrong);
    wrong[8] = wrong[8] == 'A' ? 'B' : 'A';
    connect_pair(&a, &b, wrong, true);
    CHECK(wait_for(both_failed, &a, &b));
    g_mutex_lock(&m);
    for (int i = 0; i < b.nstates; i++)
        CHECK(b.states[i] != PEER_STATE_SECURE);
    g_mutex_unlock(&m);
    uint8_t buf[12 + PAYLOAD + 64];
    fill_rtp(buf, 1, 1);
    job j = {.s = &b, .first = 1, .count = 1};
    loop_invoke_sync(b.loop, send_rtp_job, &j);
    CHECK_INT(j.failures, 1);   /* no keys, no media */
    teardown(&a, &b);
}

static void run_bad_arguments(loop_pool_t *pool)
{
    side a;
    make_side(&a, "bad", loop_pool_get(pool, 0), NULL);
    CHECK_INT(peer_set_remote(a.peer, "u", "p", "sha-256 00:11", PEER_SETUP_ACTPASS, false, 0), PEER_EINVAL);
    CHECK_INT(peer_set_remote(a.peer, "", "p", peer_local_fingerprint(), PEER_SETUP_ACTPASS, false, 0), PEER_EINVAL);
    CHECK_INT(peer_add_remote_candidate(a.peer, "garbage"), PEER_EINVAL);
    char ufrag[64], pwd[64];
    peer_local_credentials(a.peer, ufrag, sizeof ufrag, pwd, sizeof pwd);
    CHECK(strlen(ufrag) >= 4 && strlen(pwd) >= 22);
    CHECK_INT(peer_get_state(a.peer), PEER_STATE_NEW);
    peer_close(a.peer);
    peer_close(a.peer);   /* idempotent */
    peer_unref(a.peer);
}

int main(void)
{
    if (getenv("PARLEY_TEST_DEBUG"))
        log_set_level(LOG_LEVEL_DEBUG);
    CHECK_INT(peer_global_init(), PEER_OK);
    const char *fp = peer_local_fingerprint();
    CHECK(strncmp(fp, "sha-256 ", 8) == 0 && strlen(fp) == 8 + 32 * 3 - 1);
    loop_pool_t *pool = loop_pool_create(2);

    run_bad_arguments(pool);
    run_pair(pool, NULL, NULL, 7, true, false);                             /* GCM preferred */
    run_pair(pool, "SRTP_AES128_CM_SHA1_80", "SRTP_AES128_CM_SHA1_80", 1, false, false);
    run_pair(pool, NULL, "SRTP_AES128_CM_SHA1_80", 1, false, true);         /* mixed -> CM */
    run_ice_lite(pool);
    run_ice_lite_offerer(pool);
    run_fingerprint_mismatch(pool);

    loop_pool_destroy(pool);
    peer_global_deinit();
    return check_summary("media-peer-pair");
}
