/*
 * media_bench: the forwarding benchmark (SPEC 6). Drives N echotest sessions on a
 * Janus-protocol server over its HTTP API, with our own peer (media/peer.h) as the WebRTC
 * client, sends real-size RTP at a fixed total rate and measures, over a window:
 *  - the server's CPU (utime+stime of --pid from /proc) per echoed packet, and so the
 *    packets per second one core forwards (each echoed packet is one SRTP unprotect + route
 *    + SRTP protect + send on the server);
 *  - loss and send->echo latency (the send time travels in the payload);
 *  - create->webrtcup per session.
 * Usage: see usage() or tests/bench/run_media_bench.sh, which runs it against our server
 * and against Janus in one go.
 */
#include "media_bench.h"

#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_pacer.h"
#include "bench_proc.h"
#include "bench_stats.h"
#include "bench_wire.h"
#include "proto/rtp.h"
#include "util/log.h"

/* ---- shared setup progress ---- */

static GMutex g_mu;
static GCond g_cond;

void mbs_notify(void)
{
    g_mutex_lock(&g_mu);
    g_cond_broadcast(&g_cond);
    g_mutex_unlock(&g_mu);
}

/* ---- data path state ---- */

/* One client loop thread and the sessions it owns; touched on that loop only. */
typedef struct mb_lane {
    loop_t *loop;
    mb_session **live;
    int n_live;
    int rate;                /* its share of the total rate */
    GSource *pacer;          /* --arrival burst */
    bench_hrtimer *timer;    /* --arrival paced|poisson */
    mb_session **due;        /* min-heap of live sessions by next_due */
    GRand *rng;
    int64_t t0;
    uint64_t sent, echoed, bad, send_errors, ticks_behind;
    size_t rr;
    bool measuring;
    bench_samples lat;       /* send->echo latency samples (us) while measuring */
    uint8_t pkt[RTP_HEADER_MIN + MB_MAX_PAYLOAD + 128];
} mb_lane;

typedef struct mb_run {
    mb_config cfg;
    mb_session *sessions;
    int n_sessions;
    mb_session **live;       /* the sessions that came up */
    int n_live;
    loop_pool_t *pool;
    mb_lane *lanes;
    int n_lanes;
    int64_t t_load;          /* when the load started */
    long rss_idle_kb;        /* the server's VmRSS before the first session */
    long rss_up_kb;          /* and with every session up, under load */
    uint8_t tmpl_video[MB_MAX_PAYLOAD], tmpl_audio[MB_MAX_PAYLOAD];
} mb_run;

static mb_run R;

void mb_on_rtp(mb_session *s, uint8_t *buf, size_t len)
{
    mb_lane *L = s->lane;
    rtp_view v;
    if (rtp_parse(buf, len, &v) != 0) {
        L->bad++;
        return;
    }
    const uint8_t *p = buf + v.payload_offset;
    size_t n = v.payload_len;
    const uint8_t *tmpl = NULL;
    if (n == (size_t)R.cfg.video_payload)
        tmpl = R.tmpl_video;
    else if (n == (size_t)R.cfg.audio_payload)
        tmpl = R.tmpl_audio;
    if (!tmpl || bench_get_be32(p + 4) != MB_MAGIC || bench_get_be32(p + 8) != (uint32_t)s->index ||
        memcmp(p + MB_HDR_BYTES, tmpl + MB_HDR_BYTES, n - MB_HDR_BYTES) != 0) {
        L->bad++;
        return;
    }
    s->echoed++;
    L->echoed++;
    if (L->measuring) {
        int64_t d = g_get_monotonic_time() - (int64_t)bench_get_be64(p + 16);
        bench_samples_add(&L->lat, d < 0 ? 0 : (uint32_t)d);
    }
}

static void send_one(mb_lane *L, mb_session *s)
{
    int per_session = R.cfg.rate / R.n_live;
    int audio_every = (R.cfg.audio_pps > 0 && s->has[BENCH_AUDIO])
        ? (per_session / R.cfg.audio_pps > 0 ? per_session / R.cfg.audio_pps : 1) : 0;
    bool audio = (audio_every > 0 && s->counter % (uint32_t)audio_every == 0) || !s->has[BENCH_VIDEO];
    size_t plen = (size_t)(audio ? R.cfg.audio_payload : R.cfg.video_payload);
    uint8_t *b = L->pkt;
    bool marker;
    b[0] = 0x80;
    if (audio) {
        marker = false;
        b[1] = s->pt[BENCH_AUDIO];
        b[2] = (uint8_t)(s->a_seq >> 8); b[3] = (uint8_t)s->a_seq;
        bench_put_be32(b + 4, s->a_ts);
        bench_put_be32(b + 8, s->ssrc[BENCH_AUDIO]);
        s->a_seq++;
        s->a_ts += 960;
    } else {
        marker = s->v_in_frame + 1 >= s->v_frame_pkts;
        b[1] = (uint8_t)(s->pt[BENCH_VIDEO] | (marker ? 0x80 : 0));
        b[2] = (uint8_t)(s->v_seq >> 8); b[3] = (uint8_t)s->v_seq;
        bench_put_be32(b + 4, s->v_ts);
        bench_put_be32(b + 8, s->ssrc[BENCH_VIDEO]);
        s->v_seq++;
    }
    uint8_t *p = b + RTP_HEADER_MIN;
    memcpy(p, audio ? R.tmpl_audio : R.tmpl_video, plen);
    if (audio) {
        p[0] = 0x78; /* opus TOC: SILK-only WB 20 ms, one frame */
    } else {
        /* VP8 payload descriptor (S bit on the frame's first packet) + an interframe tag. */
        p[0] = s->v_in_frame == 0 ? 0x10 : 0x00;
        p[1] = 0x01; p[2] = 0x00; p[3] = 0x00;
        if (marker) {
            s->v_in_frame = 0;
            s->v_ts += 3000;
        } else {
            s->v_in_frame++;
        }
    }
    bench_put_be32(p + 4, MB_MAGIC);
    bench_put_be32(p + 8, (uint32_t)s->index);
    bench_put_be32(p + 12, s->counter++);
    bench_put_be64(p + 16, (uint64_t)g_get_monotonic_time());
    if (peer_send_rtp(s->peer, b, RTP_HEADER_MIN + plen, sizeof L->pkt) != 0) {
        L->send_errors++;
        return;
    }
    s->sent++;
    L->sent++;
}

static gboolean pacer_tick(gpointer data)
{
    mb_lane *L = data;
    int64_t el = g_get_monotonic_time() - L->t0;
    uint64_t due = (uint64_t)((double)el * L->rate / 1e6);
    uint64_t burst_cap = (uint64_t)L->rate / 100 + 1; /* at most 10 ms worth per tick */
    uint64_t done = L->sent + L->send_errors;
    uint64_t n = due > done ? due - done : 0;
    if (n > burst_cap) {
        L->ticks_behind++;
        /* Forget what could not be sent in time rather than bursting it later. */
        L->t0 += (int64_t)((double)(n - burst_cap) * 1e6 / L->rate);
        n = burst_cap;
    }
    for (uint64_t i = 0; i < n; i++)
        send_one(L, L->live[L->rr++ % (size_t)L->n_live]);
    return G_SOURCE_CONTINUE;
}

/* ---- spread arrivals: every session sends on its own schedule ---- */

/* Microseconds to a session's next packet: its mean interval, or an exponential draw
 * around it (Poisson arrivals). */
static double next_gap(mb_lane *L)
{
    double mean = 1e6 * R.n_live / R.cfg.rate;
    if (R.cfg.arrival == MB_ARRIVAL_POISSON)
        return -log(1.0 - g_rand_double(L->rng)) * mean;
    return mean;
}

static void heap_sift_down(mb_lane *L, int i)
{
    mb_session **h = L->due;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < L->n_live && h[l]->next_due < h[m]->next_due)
            m = l;
        if (r < L->n_live && h[r]->next_due < h[m]->next_due)
            m = r;
        if (m == i)
            return;
        mb_session *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Sends what is due, then re-arms the timer for the earliest next packet. A session more
 * than 10 ms late forgets its backlog rather than bursting it. */
static void spread_fire(void *data)
{
    mb_lane *L = data;
    double now = (double)g_get_monotonic_time();
    while (L->due[0]->next_due <= now) {
        mb_session *s = L->due[0];
        if (s->next_due < now - 10000) {
            L->ticks_behind++;
            s->next_due = now;
        }
        send_one(L, s);
        s->next_due += next_gap(L);
        heap_sift_down(L, 0);
    }
    bench_hrtimer_arm(L->timer, (int64_t)ceil(L->due[0]->next_due));
}

static void spread_start(mb_lane *L)
{
    L->rng = g_rand_new();
    L->due = calloc((size_t)L->n_live, sizeof *L->due);
    double mean = 1e6 * R.n_live / R.cfg.rate;
    for (int i = 0; i < L->n_live; i++) {
        L->due[i] = L->live[i];
        /* Independent phases, as independent clients would have. */
        L->due[i]->next_due = (double)L->t0 + g_rand_double(L->rng) * mean;
    }
    for (int i = L->n_live / 2; i >= 0; i--)
        heap_sift_down(L, i);
    L->timer = bench_hrtimer_attach(L->loop, spread_fire, L);
    if (L->timer)
        bench_hrtimer_arm(L->timer, (int64_t)L->due[0]->next_due);
    else
        fprintf(stderr, "media_bench: no timerfd; lane %p sends nothing\n", (void *)L);
}

static void pacer_start(void *arg)
{
    mb_lane *L = arg;
    if (L->n_live == 0)
        return;
    L->t0 = g_get_monotonic_time();
    if (R.cfg.arrival == MB_ARRIVAL_BURST)
        L->pacer = bench_pacer_attach(L->loop, pacer_tick, L);
    else
        spread_start(L);
}

static void pacer_stop(void *arg)
{
    mb_lane *L = arg;
    bench_pacer_detach(&L->pacer);
    bench_hrtimer_detach(&L->timer);
    free(L->due);
    L->due = NULL;
    if (L->rng)
        g_rand_free(L->rng);
    L->rng = NULL;
}

static void for_each_lane(loop_fn fn)
{
    for (int i = 0; i < R.n_lanes; i++)
        loop_invoke_sync(R.lanes[i].loop, fn, &R.lanes[i]);
}

/* ---- CPU accounting ---- */

typedef struct mb_snap {
    int64_t t_us;
    uint64_t sent, echoed, bad, send_errors, ticks_behind;
    double server_cpu_s;      /* utime+stime, /proc/<pid>/stat */
    double client_cpu_s;
    bench_jiffies sys;        /* /proc/stat, all cores */
    bool measuring;
} mb_snap;

typedef struct mb_snap_call {
    mb_lane *lane;
    mb_snap *snap;
} mb_snap_call;

static void snap_on_loop(void *arg)
{
    mb_snap_call *c = arg;
    mb_lane *L = c->lane;
    c->snap->sent += L->sent;
    c->snap->echoed += L->echoed;
    c->snap->bad += L->bad;
    c->snap->send_errors += L->send_errors;
    c->snap->ticks_behind += L->ticks_behind;
    L->measuring = c->snap->measuring;
}

static void snapshot(mb_snap *sn, bool measuring_after)
{
    *sn = (mb_snap){.measuring = measuring_after};
    sn->server_cpu_s = R.cfg.server_pid > 0 ? bench_proc_cpu_seconds(R.cfg.server_pid) : -1;
    sn->client_cpu_s = bench_self_cpu_seconds();
    sn->sys = bench_system_jiffies();
    sn->t_us = g_get_monotonic_time();
    for (int i = 0; i < R.n_lanes; i++) {
        mb_snap_call c = {.lane = &R.lanes[i], .snap = sn};
        loop_invoke_sync(R.lanes[i].loop, snap_on_loop, &c);
    }
}

/* ---- statistics ---- */

typedef struct mb_setup_stats {
    double up_p50, up_p99, up_max, answer_p50, secure_p50;
} mb_setup_stats;

static mb_setup_stats setup_stats(void)
{
    mb_setup_stats st = {0};
    int64_t *up = calloc((size_t)R.n_live + 1, sizeof *up);
    int64_t *ans = calloc((size_t)R.n_live + 1, sizeof *ans);
    int64_t *sec = calloc((size_t)R.n_live + 1, sizeof *sec);
    for (int i = 0; i < R.n_live; i++) {
        mb_session *s = R.live[i];
        up[i] = s->events.t_webrtcup - s->t_create;
        ans[i] = s->t_answer - s->t_create;
        sec[i] = s->t_secure - s->t_create;
    }
    size_t n = (size_t)R.n_live;
    bench_spread up_ms = bench_spread_i64(up, n, 1000.0);
    st.up_p50 = up_ms.p50;
    st.up_p99 = up_ms.p99;
    st.up_max = up_ms.max;
    st.answer_p50 = bench_spread_i64(ans, n, 1000.0).p50;
    st.secure_p50 = bench_spread_i64(sec, n, 1000.0).p50;
    free(up);
    free(ans);
    free(sec);
    return st;
}

static const char *arrival_name(int a)
{
    return a == MB_ARRIVAL_BURST ? "burst" : a == MB_ARRIVAL_POISSON ? "poisson" : "paced";
}

static void report(const mb_snap *a, const mb_snap *b, const mb_snap *c)
{
    const mb_config *cfg = &R.cfg;
    mb_setup_stats su = setup_stats();
    double win = (double)(b->t_us - a->t_us) / 1e6;
    uint64_t sent = b->sent - a->sent, echoed = b->echoed - a->echoed;
    double loss_run = c->sent ? 100.0 * (1.0 - (double)c->echoed / (double)c->sent) : 100.0;
    double srv = b->server_cpu_s - a->server_cpu_s;
    double cli = b->client_cpu_s - a->client_cpu_s;
    double us_pp = echoed ? srv * 1e6 / (double)echoed : 0;
    double pps_core = us_pp > 0 ? 1e6 / us_pp : 0;
    double us_sent = sent ? srv * 1e6 / (double)sent : 0;
    double sys_busy = bench_machine_busy_pct(a->sys, b->sys);
    bench_samples lat = {0};
    for (int i = 0; i < R.n_lanes; i++)
        bench_samples_append(&lat, &R.lanes[i].lat);
    bench_samples_sort(&lat);
    size_t n_lat = lat.n;
    double l50 = bench_pct_u32(lat.v, n_lat, 50), l99 = bench_pct_u32(lat.v, n_lat, 99);
    bench_samples_free(&lat);
    int prof = R.n_live ? R.live[0]->srtp_profile : 0;
    bool mixed = false;
    for (int i = 1; i < R.n_live; i++)
        mixed = mixed || R.live[i]->srtp_profile != prof;

    printf("== media_bench [%s] http://%s:%u%s pid %d\n", cfg->label, cfg->url.host,
           cfg->url.port, cfg->url.path, cfg->server_pid);
    printf("load: %d/%d sessions up, %d pkt/s total, arrivals %s (video %d B payload, audio "
           "%d B at %d/s per session), window %.2f s after %.1f s warm-up, %d client loops\n",
           R.n_live, R.n_sessions, cfg->rate, arrival_name(cfg->arrival), cfg->video_payload,
           cfg->audio_payload, cfg->audio_pps, win, cfg->warmup_s, R.n_lanes);
    printf("srtp: %s%s\n", bench_srtp_profile_name(prof), mixed ? " (mixed across sessions)" : "");
    printf("create->webrtcup: p50 %.1f ms, p99 %.1f ms, max %.1f ms "
           "(create->answer p50 %.1f ms, our DTLS up p50 %.1f ms)\n",
           su.up_p50, su.up_p99, su.up_max, su.answer_p50, su.secure_p50);
    printf("window: sent %" PRIu64 " (%.0f/s), echoed %" PRIu64 " (%.0f/s), loss %.3f %%\n",
           sent, sent / win, echoed, echoed / win,
           sent ? 100.0 * (1.0 - (double)echoed / (double)sent) : 100.0);
    printf("whole run: sent %" PRIu64 ", echoed %" PRIu64 " (after 1 s drain), loss %.3f %%, "
           "bad echoes %" PRIu64 ", send errors %" PRIu64 ", pacer fell behind %" PRIu64
           " times\n", c->sent, c->echoed, loss_run, c->bad, c->send_errors, c->ticks_behind);
    printf("server CPU: %.3f s in %.2f s (%.1f %% of one core) -> %.2f us per forwarded "
           "packet, %.0f packets/s per core (%.2f us per packet sent)\n", srv, win,
           100.0 * srv / win, us_pp, pps_core, us_sent);
    printf("client CPU: %.3f s (%.1f %% of one core); machine busy %.1f %% of all cores\n",
           cli, 100.0 * cli / win, sys_busy);
    printf("latency send->echo: p50 %.0f us, p99 %.0f us (%zu samples)\n", l50, l99, n_lat);
    double kb_per_session = R.n_live && R.rss_idle_kb > 0 && R.rss_up_kb > 0
        ? (double)(R.rss_up_kb - R.rss_idle_kb) / R.n_live : 0;
    printf("server memory: VmRSS %ld kB before the sessions, %ld kB with them up -> %.0f kB "
           "per session\n", R.rss_idle_kb, R.rss_up_kb, kb_per_session);
    uint64_t rtcp = 0, dropped = 0, min_e = UINT64_MAX, max_e = 0;
    int lost_sessions = 0, hangups = 0;
    for (int i = 0; i < R.n_live; i++) {
        mb_session *s = R.live[i];
        if (atomic_load(&s->failed_later)) {
            lost_sessions++;
            printf("session %d: our peer FAILED %.1f s into the load (%s)\n", s->index,
                   (double)(s->t_failed - R.t_load) / 1e6, "ICE/DTLS; see the server log");
        }
        hangups += atomic_load(&s->events.hangups);
        peer_stats ps;
        peer_get_stats(s->peer, &ps);
        rtcp += s->rtcp_in;
        dropped += ps.dropped_in;
        min_e = s->echoed < min_e ? s->echoed : min_e;
        max_e = s->echoed > max_e ? s->echoed : max_e;
    }
    printf("client side: RTCP in %" PRIu64 ", undecryptable/dropped in %" PRIu64
           ", echoed per session min %" PRIu64 " max %" PRIu64 ", sessions failed under load %d, "
           "hangups %d\n", rtcp, dropped, min_e, max_e, lost_sessions, hangups);
    printf("RESULT label=%s arrival=%s sessions_up=%d sessions=%d rate=%d sent=%" PRIu64
           " echoed=%" PRIu64 " loss_pct=%.3f server_cpu_s=%.3f us_per_pkt=%.3f "
           "us_per_sent=%.3f pps_per_core=%.0f webrtcup_p50_ms=%.1f webrtcup_p99_ms=%.1f "
           "lat_p50_us=%.0f lat_p99_us=%.0f client_cpu_pct=%.1f machine_busy_pct=%.1f "
           "srtp=%s failed_under_load=%d kb_per_session=%.0f\n",
           cfg->label, arrival_name(cfg->arrival), R.n_live, R.n_sessions, cfg->rate, sent, echoed, loss_run, srv, us_pp,
           us_sent, pps_core, su.up_p50, su.up_p99, l50, l99, 100.0 * cli / win, sys_busy,
           bench_srtp_profile_name(prof), lost_sessions, kb_per_session);
    fflush(stdout);
}

/* ---- sessions ---- */

static void start_sessions(void)
{
    mb_config *cfg = &R.cfg;
    R.n_sessions = cfg->sessions;
    R.sessions = calloc((size_t)cfg->sessions, sizeof *R.sessions);
    int per_session = cfg->rate / cfg->sessions;
    int vpps = per_session - cfg->audio_pps;
    for (int i = 0; i < cfg->sessions; i++) {
        mb_session *s = &R.sessions[i];
        s->index = i;
        s->cfg = cfg;
        s->lane = &R.lanes[i % R.n_lanes];
        s->loop = s->lane->loop;
        s->ssrc[BENCH_AUDIO] = g_random_int() | 1u;
        s->ssrc[BENCH_VIDEO] = g_random_int() | 2u;
        s->a_seq = (uint16_t)g_random_int();
        s->v_seq = (uint16_t)g_random_int();
        s->v_frame_pkts = vpps / 30 > 1 ? vpps / 30 : 1;
    }
    int started = 0;
    int64_t deadline = g_get_monotonic_time() +
                       (int64_t)(cfg->setup_timeout_ms + 5000) * 1000 * cfg->sessions;
    g_mutex_lock(&g_mu);
    for (;;) {
        int settled = 0;
        for (int i = 0; i < started; i++)
            settled += atomic_load(&R.sessions[i].ready) || atomic_load(&R.sessions[i].failed);
        if (settled == cfg->sessions)
            break;
        if (started < cfg->sessions && started - settled < cfg->setup_parallel) {
            mb_session *s = &R.sessions[started++];
            s->thread = g_thread_new("mb-session", mbs_thread, s);
            continue;
        }
        if (!g_cond_wait_until(&g_cond, &g_mu, deadline)) {
            fprintf(stderr, "media_bench: setup did not settle in time\n");
            break;
        }
    }
    g_mutex_unlock(&g_mu);
    R.live = calloc((size_t)cfg->sessions, sizeof *R.live);
    for (int i = 0; i < R.n_lanes; i++)
        R.lanes[i].live = calloc((size_t)cfg->sessions, sizeof *R.lanes[i].live);
    for (int i = 0; i < cfg->sessions; i++) {
        mb_session *s = &R.sessions[i];
        if (atomic_load(&s->ready)) {
            R.live[R.n_live++] = s;
            s->lane->live[s->lane->n_live++] = s;
        } else
            fprintf(stderr, "media_bench: session %d failed: %s\n", i,
                    s->error[0] ? s->error : "not started / no result");
    }
    for (int i = 0; i < R.n_lanes && R.n_live > 0; i++)
        R.lanes[i].rate = (int)((int64_t)cfg->rate * R.lanes[i].n_live / R.n_live);
}

static void stop_sessions(void)
{
    for (int i = 0; i < R.n_sessions; i++)
        atomic_store(&R.sessions[i].stop, true);
    for (int i = 0; i < R.n_sessions; i++) {
        mb_session *s = &R.sessions[i];
        if (s->thread)
            g_thread_join(s->thread);
        if (s->peer)
            peer_unref(s->peer);
    }
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: media_bench --url http://127.0.0.1:8088/janus --pid SERVER_PID [options]\n"
        "  --sessions N          echotest sessions (default 10)\n"
        "  --rate PPS            total RTP packets per second sent (default 20000)\n"
        "  --arrival MODE        paced (default): each session sends evenly spaced packets\n"
        "                        on its own phase; poisson: exponential gaps per session;\n"
        "                        burst: every 1 ms tick sends what is due, round robin\n"
        "  --audio-pps N         of which audio per session (default 50)\n"
        "  --video-payload B     video payload bytes (default 1200)\n"
        "  --audio-payload B     audio payload bytes (default 100)\n"
        "  --warmup S            seconds of load before the window (default 2)\n"
        "  --duration S          measurement window in seconds (default 10)\n"
        "  --setup-parallel N    sessions being set up at once (default 1)\n"
        "  --setup-timeout MS    per session (default 15000)\n"
        "  --bind-ip IPS         our peer's candidate addresses (default 127.0.0.1; inside\n"
        "                        tests/tools/netns.sh use 127.0.0.2: Janus gathers only there\n"
        "                        and cannot send from 127.0.0.2 to 127.0.0.1)\n"
        "  --srtp-profiles P     OpenSSL SRTP profile list our peer offers (default: peer's)\n"
        "  --client-loops N      loop threads of this client (default 2)\n"
        "  --plugin NAME         (default janus.plugin.echotest)\n"
        "  --label NAME          label of the RESULT line (default server)\n"
        "  --verbose\n");
}

static int parse_options(int argc, char **argv, mb_config *c)
{
    static const struct option opts[] = {
        {"url", 1, 0, 'u'}, {"pid", 1, 0, 'p'}, {"sessions", 1, 0, 'n'}, {"rate", 1, 0, 'r'},
        {"audio-pps", 1, 0, 'a'}, {"video-payload", 1, 0, 'V'}, {"audio-payload", 1, 0, 'A'},
        {"warmup", 1, 0, 'w'}, {"duration", 1, 0, 'd'}, {"setup-parallel", 1, 0, 'P'},
        {"setup-timeout", 1, 0, 'T'}, {"bind-ip", 1, 0, 'b'}, {"srtp-profiles", 1, 0, 's'},
        {"plugin", 1, 0, 'g'}, {"label", 1, 0, 'l'}, {"verbose", 0, 0, 'v'},
        {"client-loops", 1, 0, 'L'}, {"arrival", 1, 0, 'R'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *url = "http://127.0.0.1:8088/janus";
    *c = (mb_config){.plugin = "janus.plugin.echotest", .sessions = 10, .setup_parallel = 1,
                     .rate = 20000, .audio_pps = 50, .video_payload = 1200,
                     .audio_payload = 100, .warmup_s = 2, .duration_s = 10,
                     .setup_timeout_ms = 15000, .client_loops = 2, .label = "server"};
    c->peer = (peer_config){.bind_ips = "127.0.0.1", .allow_loopback = true, .ipv6 = false};
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'u': url = optarg; break;
        case 'p': c->server_pid = atoi(optarg); break;
        case 'n': c->sessions = atoi(optarg); break;
        case 'r': c->rate = atoi(optarg); break;
        case 'a': c->audio_pps = atoi(optarg); break;
        case 'V': c->video_payload = atoi(optarg); break;
        case 'A': c->audio_payload = atoi(optarg); break;
        case 'w': c->warmup_s = atof(optarg); break;
        case 'd': c->duration_s = atof(optarg); break;
        case 'P': c->setup_parallel = atoi(optarg); break;
        case 'T': c->setup_timeout_ms = atoi(optarg); break;
        case 'b': c->peer.bind_ips = optarg; break;
        case 's': c->peer.srtp_profiles = optarg; break;
        case 'g': c->plugin = optarg; break;
        case 'l': c->label = optarg; break;
        case 'v': c->verbose = true; break;
        case 'L': c->client_loops = atoi(optarg); break;
        case 'R':
            c->arrival = !strcmp(optarg, "burst") ? MB_ARRIVAL_BURST
                       : !strcmp(optarg, "poisson") ? MB_ARRIVAL_POISSON
                       : !strcmp(optarg, "paced") ? MB_ARRIVAL_PACED : -1;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    /* Our own addresses only: the peer would add 127.0.0.1 a second time otherwise. */
    c->peer.allow_loopback = !c->peer.bind_ips || !*c->peer.bind_ips;
    if (mb_url_parse(url, &c->url) != 0) {
        fprintf(stderr, "media_bench: bad --url %s\n", url);
        return -1;
    }
    if (c->sessions < 1 || c->rate < c->sessions || c->setup_parallel < 1 ||
        c->duration_s <= 0 || c->warmup_s < 0 || c->audio_payload < (int)MB_HDR_BYTES ||
        c->video_payload < (int)MB_HDR_BYTES || c->audio_payload > (int)MB_MAX_PAYLOAD ||
        c->video_payload > (int)MB_MAX_PAYLOAD || c->audio_payload == c->video_payload ||
        c->audio_pps < 0 || c->audio_pps >= c->rate / c->sessions || c->client_loops < 1 ||
        c->client_loops > 16 || c->arrival < 0) {
        fprintf(stderr, "media_bench: inconsistent options\n");
        usage(stderr);
        return -1;
    }
    if (c->server_pid <= 0 || bench_proc_cpu_seconds(c->server_pid) < 0) {
        fprintf(stderr, "media_bench: --pid must name the running server process\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_options(argc, argv, &R.cfg) != 0)
        return 2;
    log_set_level(R.cfg.verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
    bench_fill_pattern(R.tmpl_video, sizeof R.tmpl_video);
    bench_fill_pattern(R.tmpl_audio, sizeof R.tmpl_audio);
    if (peer_global_init() != 0) {
        fprintf(stderr, "media_bench: peer_global_init failed\n");
        return 1;
    }
    R.n_lanes = R.cfg.client_loops;
    R.pool = loop_pool_create(R.n_lanes);
    R.lanes = calloc((size_t)R.n_lanes, sizeof *R.lanes);
    for (int i = 0; i < R.n_lanes; i++)
        R.lanes[i].loop = loop_pool_get(R.pool, i);

    R.rss_idle_kb = bench_proc_status_value(R.cfg.server_pid, "VmRSS");
    start_sessions();
    int rc = 1;
    if (R.n_live > 0) {
        mb_snap a, b, c;
        /* The client must not be where packets are lost: a scheduling hiccup of this
         * client on a shared machine must not drop echoes. */
        int nsock = bench_enlarge_own_udp_buffers();
        if (R.cfg.verbose)
            fprintf(stderr, "media_bench: %d client UDP sockets enlarged\n", nsock);
        R.t_load = g_get_monotonic_time();
        for_each_lane(pacer_start);
        g_usleep((gulong)(R.cfg.warmup_s * 1e6));
        snapshot(&a, true);
        R.rss_up_kb = bench_proc_status_value(R.cfg.server_pid, "VmRSS");
        g_usleep((gulong)(R.cfg.duration_s * 1e6));
        snapshot(&b, false);
        for_each_lane(pacer_stop);
        g_usleep(G_USEC_PER_SEC);
        snapshot(&c, false);
        report(&a, &b, &c);
        rc = (R.n_live == R.n_sessions && b.echoed > a.echoed) ? 0 : 1;
    } else {
        fprintf(stderr, "media_bench: no session came up\n");
    }
    stop_sessions();
    loop_pool_destroy(R.pool);
    peer_global_deinit();
    for (int i = 0; i < R.n_lanes; i++) {
        bench_samples_free(&R.lanes[i].lat);
        free(R.lanes[i].live);
    }
    free(R.lanes);
    free(R.live);
    free(R.sessions);
    return rc;
}
