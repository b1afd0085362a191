/*
 * calls_bench: N concurrent 1:1 calls through a Janus-protocol server's videocall plugin
 * (ours or Janus 1.1.2), our own peer (media/peer.h) on both ends of each call. Once every
 * call is up, each side sends at real rates, paced evenly per stream with a random phase
 * per stream: Opus-like audio (default 50 packets/s of 100 bytes) and VP8-like video
 * (default 30 frames/s in 100 packets/s of 1200 bytes, about 1 Mbit/s) in both directions
 * of every call. Each receiver checks that a packet came from its own call's other side
 * (magic, call index, direction, kind, length, filler) and measures, over a window:
 *  - the server's CPU (utime+stime of --pid, all threads) per relayed packet (every packet
 *    a client peer receives was relayed once: SRTP unprotect, route, protect, send);
 *  - relayed packets per second, loss (of the packets sent in the window, those that
 *    arrived by the end of the drain), one-way relay latency p50/p99 (send time in the
 *    payload, same clock on both ends);
 *  - the server's RSS during the window minus its RSS before the first session, per call;
 *  - call setup time, from the caller's "call" to both peers SECURE (p50/p99);
 *  - how the server's CPU spreads over its threads (the busiest ones), the client's own CPU,
 *    how busy the machine was, and whether the client kept up its nominal load.
 * Usage: see usage() or tests/bench/run_calls_bench.sh, which runs it against our server
 * and against Janus in one go.
 */
#include "calls_bench.h"

#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
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

/* ---- data path state ---- */

/* One client loop thread, its calls' outgoing streams (a min-heap on the next send time)
 * and its counters; touched on that loop only. */
typedef struct cb_lane {
    loop_t *loop;
    cb_stream **heap;
    size_t n_heap;
    GSource *pacer;
    /* The window, fixed before the load starts: packets sent in [win_start, win_end) count
     * as sent in the window, and as received when their payload's send time is in it. */
    int64_t win_start, win_end;
    bool measuring;          /* arrivals now count as relayed in the window */
    uint64_t sent, send_errors, late_skips;
    uint64_t sent_win[2], recv_win[2], late_win, recv_arrivals_win, recv_total, bad;
    bench_samples lat;       /* one-way latency samples (us) of the window's packets */
    uint8_t pkt[RTP_HEADER_MIN + CB_MAX_PAYLOAD + 128];
} cb_lane;

typedef struct cb_run {
    cb_config cfg;
    cb_call *calls;
    int n_calls;
    cb_call **live;          /* the calls that came up */
    int n_live;
    loop_pool_t *pool;
    cb_lane *lanes;
    int n_lanes;
    int64_t t_load;
    long rss_idle_kb;
    int threads_idle;
    uint8_t tmpl[CB_MAX_PAYLOAD];
} cb_run;

static cb_run R;

static int payload_len(int kind)
{
    return kind == CB_AUDIO ? R.cfg.audio_payload : R.cfg.video_payload;
}

void cb_on_rtp(cb_leg *leg, uint8_t *buf, size_t len)
{
    cb_lane *L = leg->call->lane;
    int64_t now = g_get_monotonic_time();
    rtp_view v;
    if (rtp_parse(buf, len, &v) != 0 || v.payload_len < CB_HDR_BYTES) {
        leg->rx_bad++;
        L->bad++;
        return;
    }
    const uint8_t *p = buf + v.payload_offset;
    size_t n = v.payload_len;
    int kind = p[13];
    /* From this call's other leg, of a kind we send, of that kind's length and content. */
    if (bench_get_be32(p + 4) != CB_MAGIC || bench_get_be32(p + 8) != (uint32_t)leg->call->index ||
        p[12] != (uint8_t)(1 - leg->role) || (kind != CB_AUDIO && kind != CB_VIDEO) ||
        n != (size_t)payload_len(kind) ||
        memcmp(p + CB_HDR_BYTES, R.tmpl + CB_HDR_BYTES, n - CB_HDR_BYTES) != 0) {
        leg->rx_bad++;
        L->bad++;
        return;
    }
    if (v.pt != leg->pt[kind])
        leg->rx_wrong_pt++;
    uint32_t counter = bench_get_be32(p + 16);
    if (counter < leg->rx_next[kind])
        leg->rx_reordered++;
    else
        leg->rx_next[kind] = counter + 1;
    leg->rx[kind]++;
    L->recv_total++;
    if (L->measuring)
        L->recv_arrivals_win++;
    int64_t st = (int64_t)bench_get_be64(p + 20);
    if (st >= L->win_start && st < L->win_end) {
        L->recv_win[kind]++;
        if (now - st > (int64_t)R.cfg.late_ms * 1000)
            L->late_win++;
        int64_t d = now - st;
        bench_samples_add(&L->lat, d < 0 ? 0 : (uint32_t)d);
    }
}

/* Packets of video frame f: the frame rate's share of the packet rate, spread so that
 * every second has exactly video_pps packets (e.g. 3, 3, 4 for 100 packets at 30 fps). */
static int frame_packets(uint32_t f)
{
    int fps = R.cfg.video_fps, pps = R.cfg.video_pps;
    uint32_t k = f % (uint32_t)fps;
    int n = (int)(((uint64_t)(k + 1) * (uint64_t)pps) / (uint64_t)fps -
                  ((uint64_t)k * (uint64_t)pps) / (uint64_t)fps);
    return n > 0 ? n : 1;
}

static void send_packet(cb_lane *L, cb_stream *s, int64_t now)
{
    cb_leg *leg = s->leg;
    bool audio = s->kind == CB_AUDIO;
    size_t plen = (size_t)payload_len(s->kind);
    uint8_t *b = L->pkt;
    bool marker = false;
    if (!audio)
        marker = s->frame_pkt + 1 >= frame_packets(s->frame_no);
    b[0] = 0x80;
    b[1] = (uint8_t)(leg->pt[s->kind] | (marker ? 0x80 : 0));
    b[2] = (uint8_t)(s->seq >> 8);
    b[3] = (uint8_t)s->seq;
    bench_put_be32(b + 4, s->ts);
    bench_put_be32(b + 8, s->ssrc);
    s->seq++;
    uint8_t *p = b + RTP_HEADER_MIN;
    memcpy(p, R.tmpl, plen);
    if (audio) {
        p[0] = 0x78; /* Opus TOC: SILK-only WB 20 ms, one frame */
        p[1] = p[2] = p[3] = 0;
        s->ts += (uint32_t)(48000 / R.cfg.audio_pps);
    } else {
        /* VP8 payload descriptor (S bit on the frame's first packet) + an interframe tag. */
        p[0] = s->frame_pkt == 0 ? 0x10 : 0x00;
        p[1] = 0x01; p[2] = 0x00; p[3] = 0x00;
        if (marker) {
            s->frame_pkt = 0;
            s->frame_no++;
            s->ts += (uint32_t)(90000 / R.cfg.video_fps);
        } else {
            s->frame_pkt++;
        }
    }
    bench_put_be32(p + 4, CB_MAGIC);
    bench_put_be32(p + 8, (uint32_t)leg->call->index);
    p[12] = (uint8_t)leg->role;
    p[13] = (uint8_t)s->kind;
    p[14] = p[15] = 0;
    bench_put_be32(p + 16, s->counter++);
    bench_put_be64(p + 20, (uint64_t)now);
    if (peer_send_rtp(leg->peer, b, RTP_HEADER_MIN + plen, sizeof L->pkt) != 0) {
        L->send_errors++;
        return;
    }
    leg->sent++;
    L->sent++;
    if (now >= L->win_start && now < L->win_end)
        L->sent_win[s->kind]++;
}

/* ---- the pacer: a min-heap of streams on their next send time ---- */

static bool heap_less(const cb_lane *L, size_t a, size_t b)
{
    return L->heap[a]->next_due < L->heap[b]->next_due;
}

static void heap_swap(cb_lane *L, size_t a, size_t b)
{
    cb_stream *t = L->heap[a];
    L->heap[a] = L->heap[b];
    L->heap[b] = t;
}

static void heap_down(cb_lane *L, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < L->n_heap && heap_less(L, l, m))
            m = l;
        if (r < L->n_heap && heap_less(L, r, m))
            m = r;
        if (m == i)
            return;
        heap_swap(L, i, m);
        i = m;
    }
}

static void heap_push(cb_lane *L, cb_stream *s)
{
    size_t i = L->n_heap++;
    L->heap[i] = s;
    while (i > 0 && heap_less(L, i, (i - 1) / 2)) {
        heap_swap(L, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

/* A stream more than this late skips the packets it missed instead of bursting them. */
#define CB_MAX_LATE_US 50000

static gboolean pacer_tick(gpointer data)
{
    cb_lane *L = data;
    int64_t now = g_get_monotonic_time();
    while (L->n_heap > 0 && L->heap[0]->next_due <= now) {
        cb_stream *s = L->heap[0];
        send_packet(L, s, now);
        s->next_due += s->interval_us;
        if (s->next_due < now - CB_MAX_LATE_US) {
            int64_t missed = (now - s->next_due) / s->interval_us;
            L->late_skips += (uint64_t)missed;
            s->next_due += missed * s->interval_us;
        }
        heap_down(L, 0);
    }
    return G_SOURCE_CONTINUE;
}

static void pacer_start(void *arg)
{
    cb_lane *L = arg;
    if (L->n_heap == 0)
        return;
    int64_t now = g_get_monotonic_time();
    /* Each stream starts at a random phase within its interval: no synchronised bursts. */
    for (size_t i = 0; i < L->n_heap; i++)
        L->heap[i]->next_due = now + (int64_t)g_random_int_range(0, (gint32)L->heap[i]->interval_us);
    for (size_t i = L->n_heap / 2 + 1; i-- > 0;)
        heap_down(L, i);
    L->pacer = bench_pacer_attach(L->loop, pacer_tick, L);
}

static void pacer_stop(void *arg)
{
    cb_lane *L = arg;
    bench_pacer_detach(&L->pacer);
}

static void sleep_until(int64_t t)
{
    int64_t d = t - g_get_monotonic_time();
    if (d > 0)
        g_usleep((gulong)d);
}

static void for_each_lane(loop_fn fn)
{
    for (int i = 0; i < R.n_lanes; i++)
        loop_invoke_sync(R.lanes[i].loop, fn, &R.lanes[i]);
}

/* ---- server and machine accounting ---- */

typedef struct cb_snap {
    int64_t t_us;
    uint64_t sent, send_errors, late_skips, recv_total, bad, arrivals_win, late_win;
    uint64_t sent_win[2], recv_win[2];
    double server_cpu_s, client_cpu_s;
    long server_rss_kb, server_threads;
    bench_jiffies sys;
    bench_thread_cpu *threads; /* the server's, sorted by tid (malloc'd) */
    size_t n_threads;
} cb_snap;

/* What snapshot() asks each lane: read its counters, then set the window edges. */
typedef struct cb_snap_call {
    cb_lane *lane;
    cb_snap *snap;
    int action;              /* 0 read only, 1 start counting arrivals, 2 stop */
} cb_snap_call;

static void snap_on_loop(void *arg)
{
    cb_snap_call *c = arg;
    cb_lane *L = c->lane;
    cb_snap *s = c->snap;
    s->sent += L->sent;
    s->send_errors += L->send_errors;
    s->late_skips += L->late_skips;
    s->recv_total += L->recv_total;
    s->bad += L->bad;
    s->arrivals_win += L->recv_arrivals_win;
    s->late_win += L->late_win;
    for (int k = 0; k < 2; k++) {
        s->sent_win[k] += L->sent_win[k];
        s->recv_win[k] += L->recv_win[k];
    }
    if (c->action == 1)
        L->measuring = true;
    else if (c->action == 2)
        L->measuring = false;
}

static void snapshot(cb_snap *sn, int action)
{
    *sn = (cb_snap){0};
    sn->server_cpu_s = bench_proc_cpu_seconds(R.cfg.server_pid);
    sn->n_threads = bench_proc_threads_cpu(R.cfg.server_pid, &sn->threads);
    sn->server_rss_kb = bench_proc_status_value(R.cfg.server_pid, "VmRSS");
    sn->server_threads = bench_proc_status_value(R.cfg.server_pid, "Threads");
    sn->client_cpu_s = bench_self_cpu_seconds();
    sn->sys = bench_system_jiffies();
    sn->t_us = g_get_monotonic_time();
    for (int i = 0; i < R.n_lanes; i++) {
        cb_snap_call c = {.lane = &R.lanes[i], .snap = sn, .action = action};
        loop_invoke_sync(R.lanes[i].loop, snap_on_loop, &c);
    }
}

/* ---- statistics ---- */

typedef struct cb_setup_stats {
    double up_p50, up_p99, up_max, incoming_p50, answer_p50;
} cb_setup_stats;

static cb_setup_stats setup_stats(void)
{
    cb_setup_stats st = {0};
    size_t n = (size_t)R.n_live;
    int64_t *up = calloc(n + 1, sizeof *up), *inc = calloc(n + 1, sizeof *inc),
            *ans = calloc(n + 1, sizeof *ans);
    if (!up || !inc || !ans)
        goto out;
    for (size_t i = 0; i < n; i++) {
        cb_call *c = R.live[i];
        up[i] = c->t_up - c->t_call;
        inc[i] = c->t_incoming - c->t_call;
        ans[i] = c->t_answer - c->t_call;
    }
    bench_spread up_ms = bench_spread_i64(up, n, 1000.0);
    st.up_p50 = up_ms.p50;
    st.up_p99 = up_ms.p99;
    st.up_max = up_ms.max;
    st.incoming_p50 = bench_spread_i64(inc, n, 1000.0).p50;
    st.answer_p50 = bench_spread_i64(ans, n, 1000.0).p50;
out:
    free(up);
    free(inc);
    free(ans);
    return st;
}

/* The server's busiest threads over the window: "name:% of one core" for the top ones
 * into out; returns the busiest thread's share (% of one core). */
static double busiest_threads(const cb_snap *a, const cb_snap *b, double win, char *out,
                              size_t cap)
{
    out[0] = '\0';
    if (!b->n_threads || win <= 0)
        return 0;
    bench_thread_cpu *d = malloc(b->n_threads * sizeof *d);
    if (!d)
        return 0;
    for (size_t i = 0; i < b->n_threads; i++) {
        d[i] = b->threads[i];
        bench_thread_cpu key = {.tid = b->threads[i].tid};
        const bench_thread_cpu *was = a->n_threads
            ? bsearch(&key, a->threads, a->n_threads, sizeof key, bench_thread_cpu_cmp_tid)
            : NULL;
        if (was)
            d[i].cpu_s -= was->cpu_s;
    }
    qsort(d, b->n_threads, sizeof *d, bench_thread_cpu_cmp_busiest);
    size_t used = 0;
    for (size_t i = 0; i < b->n_threads && i < 4 && used + 1 < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s:%.1f%%", i ? ", " : "", d[i].comm,
                         100.0 * d[i].cpu_s / win);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
    double top = 100.0 * d[0].cpu_s / win;
    free(d);
    return top;
}

static void report(const cb_snap *a, const cb_snap *b, const cb_snap *c, double load1)
{
    const cb_config *cfg = &R.cfg;
    cb_setup_stats su = setup_stats();
    double win = (double)(b->t_us - a->t_us) / 1e6;
    /* c is taken after the drain: the window's packets that arrived by then. */
    uint64_t sent_w = c->sent_win[0] + c->sent_win[1], recv_w = c->recv_win[0] + c->recv_win[1];
    double loss = sent_w ? 100.0 * (1.0 - (double)recv_w / (double)sent_w) : 100.0;
    double loss_k[2];
    for (int k = 0; k < 2; k++)
        loss_k[k] = c->sent_win[k]
            ? 100.0 * (1.0 - (double)c->recv_win[k] / (double)c->sent_win[k]) : 100.0;
    double late = recv_w ? 100.0 * (double)c->late_win / (double)recv_w : 0;
    /* What the calls should have sent in the window: a client that falls behind (its
     * pacer skips packets) offers less load than the row claims. */
    double nominal = (double)R.n_live * 2.0 * (cfg->audio_pps + cfg->video_pps) * cfg->duration_s;
    double send_pct = nominal > 0 ? 100.0 * (double)sent_w / nominal : 0;
    uint64_t relayed = b->arrivals_win - a->arrivals_win;
    uint64_t sent_run = b->sent - a->sent;
    double srv = b->server_cpu_s - a->server_cpu_s;
    double cli = b->client_cpu_s - a->client_cpu_s;
    double us_pp = relayed ? srv * 1e6 / (double)relayed : 0;
    double cores = win > 0 ? srv / win : 0;
    double calls_per_core = cores > 0 ? R.n_live / cores : 0;
    double rss_call_kb = R.n_live && b->server_rss_kb >= 0 && R.rss_idle_kb >= 0
        ? (double)(b->server_rss_kb - R.rss_idle_kb) / R.n_live : 0;
    char top_threads[256];
    double busiest = busiest_threads(a, b, win, top_threads, sizeof top_threads);
    double sys_busy = bench_machine_busy_pct(a->sys, b->sys);
    bench_samples lat = {0};
    for (int i = 0; i < R.n_lanes; i++)
        bench_samples_append(&lat, &R.lanes[i].lat);
    bench_samples_sort(&lat);
    size_t n_lat = lat.n;
    double l50 = bench_pct_u32(lat.v, n_lat, 50), l99 = bench_pct_u32(lat.v, n_lat, 99);
    double lmax = n_lat ? (double)lat.v[n_lat - 1] : 0;
    bench_samples_free(&lat);

    int prof = R.n_live ? R.live[0]->leg[0].srtp_profile : 0;
    bool mixed = false;
    uint64_t rtcp = 0, wrong_pt = 0, reordered = 0, bad = 0, dropped_in = 0, dropped_out = 0;
    int failed_later = 0, hangups = 0, slowlinks = 0;
    double worst_leg_loss = 0;
    for (int i = 0; i < R.n_live; i++) {
        cb_call *call = R.live[i];
        for (int r = 0; r < 2; r++) {
            cb_leg *l = &call->leg[r], *o = &call->leg[1 - r];
            mixed = mixed || l->srtp_profile != prof;
            rtcp += l->rtcp_in;
            wrong_pt += l->rx_wrong_pt;
            reordered += l->rx_reordered;
            bad += l->rx_bad;
            hangups += atomic_load(&l->events.hangups);
            slowlinks += atomic_load(&l->events.slowlinks);
            if (atomic_load(&l->failed_later)) {
                failed_later++;
                printf("call %d %s: peer FAILED %.1f s into the load\n", call->index,
                       r == CB_CALLER ? "caller" : "callee",
                       (double)(l->t_failed - R.t_load) / 1e6);
            }
            peer_stats ps;
            peer_get_stats(l->peer, &ps);
            dropped_in += ps.dropped_in;
            dropped_out += ps.dropped_out;
            /* Whole-run loss of what the other leg sent to this one (after the pacers
             * stopped and a drain). */
            uint64_t got = l->rx[0] + l->rx[1];
            double ll = o->sent ? 100.0 * (1.0 - (double)got / (double)o->sent) : 0;
            worst_leg_loss = ll > worst_leg_loss ? ll : worst_leg_loss;
        }
    }

    printf("== calls_bench [%s] http://%s:%u%s pid %d plugin %s\n", cfg->label, cfg->url.host,
           cfg->url.port, cfg->url.path, cfg->server_pid, cfg->plugin);
    printf("load: %d/%d calls up; per call and direction: audio %d pkt/s x %d B, video "
           "%d fps in %d pkt/s x %d B (%.2f Mbit/s payload); window %.2f s after %.1f s "
           "warm-up, %d client loops\n", R.n_live, R.n_calls, cfg->audio_pps,
           cfg->audio_payload, cfg->video_fps, cfg->video_pps, cfg->video_payload,
           (double)cfg->video_pps * cfg->video_payload * 8 / 1e6, win, cfg->warmup_s,
           R.n_lanes);
    printf("srtp: %s%s\n", bench_srtp_profile_name(prof), mixed ? " (mixed across legs)" : "");
    printf("setup call->both up: p50 %.1f ms, p99 %.1f ms, max %.1f ms (call->incomingcall "
           "p50 %.1f ms, call->accepted p50 %.1f ms)\n", su.up_p50, su.up_p99, su.up_max,
           su.incoming_p50, su.answer_p50);
    printf("window: sent %" PRIu64 " (%.0f/s, %.1f %% of the nominal load), relayed to our "
           "receivers %" PRIu64 " (%.0f/s); loss %.3f %% (audio %.3f %%, video %.3f %%), "
           "later than %d ms %.3f %%%s%s%s\n",
           sent_run, sent_run / win, send_pct, relayed, relayed / win, loss, loss_k[0],
           loss_k[1], cfg->late_ms, late, loss >= 1.0 ? "  ** LOSS >= 1 % **" : "",
           late >= 1.0 ? "  ** LATE >= 1 % **" : "",
           send_pct < 99.0 ? "  ** CLIENT FELL BEHIND **" : "");
    printf("server: CPU %.3f s in %.2f s (%.1f %% of one core) -> %.2f us per relayed packet, "
           "%.1f calls per core; RSS %ld kB idle, %ld kB loaded -> %.1f kB per call; "
           "threads %d idle, %ld loaded\n", srv, win, 100.0 * cores, us_pp, calls_per_core,
           R.rss_idle_kb, b->server_rss_kb, rss_call_kb, R.threads_idle, b->server_threads);
    printf("server's busiest threads (%% of one core): %s\n", top_threads);
    printf("latency one-way (sender->server->receiver): p50 %.0f us, p99 %.0f us, max %.0f us "
           "(%zu samples)\n", l50, l99, lmax, n_lat);
    printf("client: CPU %.1f %% of one core; machine busy %.1f %% of all cores; load average "
           "%.2f; send errors %" PRIu64 ", pacer skips %" PRIu64 "\n", 100.0 * cli / win,
           sys_busy, load1, c->send_errors, c->late_skips);
    printf("checks: bad packets %" PRIu64 ", wrong payload type %" PRIu64 ", reordered/dup %"
           PRIu64 ", undecryptable %" PRIu64 ", client drops out %" PRIu64 ", RTCP in %" PRIu64
           ", worst leg whole-run loss %.3f %%, peers failed under load %d, hangups %d, "
           "slowlinks %d\n", bad, wrong_pt, reordered, dropped_in, dropped_out, rtcp,
           worst_leg_loss, failed_later, hangups, slowlinks);
    printf("RESULT label=%s calls_up=%d calls=%d sent_win=%" PRIu64 " recv_win=%" PRIu64
           " loss_pct=%.3f relayed=%" PRIu64 " relayed_pps=%.0f server_cpu_s=%.3f"
           " server_cores=%.3f us_per_pkt=%.3f calls_per_core=%.1f rss_idle_kb=%ld"
           " rss_kb=%ld rss_per_call_kb=%.1f server_threads=%ld setup_p50_ms=%.1f"
           " setup_p99_ms=%.1f lat_p50_us=%.0f lat_p99_us=%.0f late_pct=%.3f send_pct=%.1f"
           " client_cpu_pct=%.1f machine_busy_pct=%.1f loadavg=%.2f srtp=%s bad=%" PRIu64
           " wrong_pt=%" PRIu64 " failed_under_load=%d busiest_thread_pct=%.1f\n",
           cfg->label, R.n_live, R.n_calls, sent_w, recv_w, loss, relayed, relayed / win, srv,
           cores, us_pp, calls_per_core, R.rss_idle_kb, b->server_rss_kb, rss_call_kb,
           b->server_threads, su.up_p50, su.up_p99, l50, l99, late, send_pct, 100.0 * cli / win,
           sys_busy,
           load1, bench_srtp_profile_name(prof), bad, wrong_pt, failed_later, busiest);
    fflush(stdout);
}

/* ---- calls ---- */

static void init_stream(cb_stream *s, cb_leg *leg, int kind)
{
    s->leg = leg;
    s->kind = kind;
    s->ssrc = g_random_int() | 1u;
    s->seq = (uint16_t)g_random_int();
    s->ts = g_random_int();
    s->interval_us = 1000000 / (kind == CB_AUDIO ? R.cfg.audio_pps : R.cfg.video_pps);
    s->frame_no = (uint32_t)g_random_int_range(0, R.cfg.video_fps);
}

static const char *call_state(cb_call *c)
{
    static __thread char buf[160];
    cb_leg *a = &c->leg[CB_CALLER], *b = &c->leg[CB_CALLEE];
    snprintf(buf, sizeof buf, "registered %d/%d, call sent %s, incomingcall %s, accept %s, "
             "answer %s, secure %d/%d", atomic_load(&a->registered),
             atomic_load(&b->registered), c->t_call ? "yes" : "no",
             c->t_incoming ? "yes" : "no", c->t_accept ? "yes" : "no",
             c->t_answer ? "yes" : "no", atomic_load(&a->secure), atomic_load(&b->secure));
    return buf;
}

/* ms from t to the leg's webrtcup; -1 when it has not come. */
static double leg_ms_since(const cb_leg *l, int64_t t)
{
    return l->events.t_webrtcup ? (double)(l->events.t_webrtcup - t) / 1e3 : -1;
}

static void start_calls(void)
{
    cb_config *cfg = &R.cfg;
    R.n_calls = cfg->calls;
    R.calls = calloc((size_t)cfg->calls, sizeof *R.calls);
    int64_t *t_start = calloc((size_t)cfg->calls, sizeof *t_start);
    for (int i = 0; i < cfg->calls; i++) {
        cb_call *c = &R.calls[i];
        c->index = i;
        c->cfg = cfg;
        c->lane = &R.lanes[i % R.n_lanes];
        c->loop = c->lane->loop;
        for (int r = 0; r < 2; r++) {
            cb_leg *l = &c->leg[r];
            l->call = c;
            l->role = r;
            snprintf(l->username, sizeof l->username, "%s%d%c", cfg->user_prefix, i,
                     r == CB_CALLER ? 'a' : 'b');
            init_stream(&l->tx[CB_AUDIO], l, CB_AUDIO);
            init_stream(&l->tx[CB_VIDEO], l, CB_VIDEO);
        }
    }
    int started = 0;
    for (;;) {
        uint64_t gen = bench_change_generation();
        int n_settled = 0, in_setup = 0;
        int64_t now = g_get_monotonic_time(), next_deadline = now + G_USEC_PER_SEC;
        for (int i = 0; i < started; i++) {
            cb_call *c = &R.calls[i];
            if (atomic_load(&c->ready) || atomic_load(&c->failed)) {
                n_settled++;
                continue;
            }
            int64_t dl = t_start[i] + (int64_t)cfg->setup_timeout_ms * 1000;
            if (now >= dl) {
                cb_fail(&c->leg[CB_CALLER], "setup timed out (%s)", call_state(c));
                n_settled++;
                continue;
            }
            in_setup++;
            next_deadline = dl < next_deadline ? dl : next_deadline;
        }
        if (n_settled == cfg->calls)
            break;
        if (started < cfg->calls && in_setup < cfg->setup_parallel) {
            cb_call *c = &R.calls[started];
            t_start[started++] = g_get_monotonic_time();
            c->leg[CB_CALLEE].thread = g_thread_new("cb-callee", cbl_thread, &c->leg[CB_CALLEE]);
            c->leg[CB_CALLER].thread = g_thread_new("cb-caller", cbl_thread, &c->leg[CB_CALLER]);
            continue;
        }
        bench_change_wait(gen, next_deadline);
    }
    free(t_start);
    for (int i = 0; cfg->verbose && i < cfg->calls; i++) {
        cb_call *c = &R.calls[i];
        if (!atomic_load(&c->ready))
            continue;
        fprintf(stderr, "call %d: call->incomingcall %.1f ms, ->accept %.1f, ->accepted %.1f, "
                "caller SECURE %.1f, callee SECURE %.1f, webrtcup %.1f/%.1f ms\n", i,
                (double)(c->t_incoming - c->t_call) / 1e3, (double)(c->t_accept - c->t_call) / 1e3,
                (double)(c->t_answer - c->t_call) / 1e3,
                (double)(c->leg[0].t_secure - c->t_call) / 1e3,
                (double)(c->leg[1].t_secure - c->t_call) / 1e3,
                leg_ms_since(&c->leg[0], c->t_call), leg_ms_since(&c->leg[1], c->t_call));
    }
    R.live = calloc((size_t)cfg->calls, sizeof *R.live);
    for (int i = 0; i < R.n_lanes; i++)
        R.lanes[i].heap = calloc((size_t)cfg->calls * 4 + 1, sizeof *R.lanes[i].heap);
    for (int i = 0; i < cfg->calls; i++) {
        cb_call *c = &R.calls[i];
        if (atomic_load(&c->ready) && !atomic_load(&c->failed)) {
            R.live[R.n_live++] = c;
            for (int r = 0; r < 2; r++)
                for (int k = 0; k < 2; k++)
                    if (c->leg[r].has[k])
                        heap_push(c->lane, &c->leg[r].tx[k]);
        } else {
            cb_leg *l = c->leg[CB_CALLER].error[0] ? &c->leg[CB_CALLER] : &c->leg[CB_CALLEE];
            fprintf(stderr, "calls_bench: call %d failed: %s\n", i,
                    l->error[0] ? l->error : "no result");
        }
    }
}

static void stop_calls(void)
{
    for (int i = 0; i < R.n_calls; i++)
        atomic_store(&R.calls[i].stop, true);
    bench_change_notify();
    for (int i = 0; i < R.n_calls; i++) {
        cb_call *c = &R.calls[i];
        for (int r = 0; r < 2; r++)
            if (c->leg[r].thread)
                g_thread_join(c->leg[r].thread);
        for (int r = 0; r < 2; r++)
            if (c->leg[r].peer)
                peer_unref(c->leg[r].peer);
    }
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: calls_bench --url http://127.0.0.1:8088/janus --pid SERVER_PID [options]\n"
        "  --calls N             concurrent 1:1 calls (default 8)\n"
        "  --audio-pps N         audio packets/s per call and direction (default 50)\n"
        "  --audio-payload B     audio payload bytes (default 100)\n"
        "  --video-pps N         video packets/s per call and direction (default 100)\n"
        "  --video-payload B     video payload bytes (default 1200)\n"
        "  --video-fps N         video frames/s (default 30)\n"
        "  --warmup S            seconds of load before the window (default 2)\n"
        "  --duration S          measurement window in seconds (default 10)\n"
        "  --drain S             seconds the window's last packets get to arrive (default 1)\n"
        "  --late-ms MS          a packet later than this counts as late (default 200)\n"
        "  --setup-parallel N    calls being set up at once (default 2)\n"
        "  --setup-timeout MS    per call (default 20000)\n"
        "  --bind-ip IPS         our peers' candidate addresses (default 127.0.0.1; inside\n"
        "                        tests/tools/netns.sh use 127.0.0.2, as Janus needs)\n"
        "  --srtp-profiles P     OpenSSL SRTP profile list our peers offer (default: peer's)\n"
        "  --client-loops N      loop threads of this client (default 2)\n"
        "  --plugin NAME         (default janus.plugin.videocall)\n"
        "  --user-prefix P       username prefix (default cb<pid><random>-)\n"
        "  --label NAME          label of the RESULT line (default server)\n"
        "  --verbose\n");
}

static int parse_options(int argc, char **argv, cb_config *c)
{
    static const struct option opts[] = {
        {"url", 1, 0, 'u'}, {"pid", 1, 0, 'p'}, {"calls", 1, 0, 'n'},
        {"audio-pps", 1, 0, 'a'}, {"audio-payload", 1, 0, 'A'}, {"video-pps", 1, 0, 'v'},
        {"video-payload", 1, 0, 'V'}, {"video-fps", 1, 0, 'F'}, {"warmup", 1, 0, 'w'},
        {"duration", 1, 0, 'd'}, {"drain", 1, 0, 'D'}, {"setup-parallel", 1, 0, 'P'},
        {"setup-timeout", 1, 0, 'T'}, {"bind-ip", 1, 0, 'b'}, {"srtp-profiles", 1, 0, 's'},
        {"plugin", 1, 0, 'g'}, {"label", 1, 0, 'l'}, {"verbose", 0, 0, 'x'},
        {"client-loops", 1, 0, 'L'}, {"user-prefix", 1, 0, 'U'}, {"late-ms", 1, 0, 'M'},
        {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *url = "http://127.0.0.1:8088/janus";
    *c = (cb_config){.plugin = "janus.plugin.videocall", .calls = 8, .setup_parallel = 2,
                     .audio_pps = 50, .audio_payload = 100, .video_pps = 100,
                     .video_payload = 1200, .video_fps = 30, .warmup_s = 2, .duration_s = 10,
                     .drain_s = 1, .late_ms = 200, .setup_timeout_ms = 20000, .client_loops = 2,
                     .label = "server"};
    c->peer = (peer_config){.bind_ips = "127.0.0.1", .allow_loopback = true, .ipv6 = false};
    snprintf(c->user_prefix, sizeof c->user_prefix, "cb%d%u-", (int)getpid(),
             g_random_int_range(0, 100000));
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'u': url = optarg; break;
        case 'p': c->server_pid = atoi(optarg); break;
        case 'n': c->calls = atoi(optarg); break;
        case 'a': c->audio_pps = atoi(optarg); break;
        case 'A': c->audio_payload = atoi(optarg); break;
        case 'v': c->video_pps = atoi(optarg); break;
        case 'V': c->video_payload = atoi(optarg); break;
        case 'F': c->video_fps = atoi(optarg); break;
        case 'w': c->warmup_s = atof(optarg); break;
        case 'd': c->duration_s = atof(optarg); break;
        case 'D': c->drain_s = atof(optarg); break;
        case 'P': c->setup_parallel = atoi(optarg); break;
        case 'T': c->setup_timeout_ms = atoi(optarg); break;
        case 'b': c->peer.bind_ips = optarg; break;
        case 's': c->peer.srtp_profiles = optarg; break;
        case 'g': c->plugin = optarg; break;
        case 'l': c->label = optarg; break;
        case 'x': c->verbose = true; break;
        case 'L': c->client_loops = atoi(optarg); break;
        case 'M': c->late_ms = atoi(optarg); break;
        case 'U': snprintf(c->user_prefix, sizeof c->user_prefix, "%s", optarg); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    /* Our own addresses only: the peer would add 127.0.0.1 a second time otherwise. */
    c->peer.allow_loopback = !c->peer.bind_ips || !*c->peer.bind_ips;
    if (mb_url_parse(url, &c->url) != 0) {
        fprintf(stderr, "calls_bench: bad --url %s\n", url);
        return -1;
    }
    if (c->calls < 1 || c->setup_parallel < 1 || c->duration_s <= 0 || c->warmup_s < 0 ||
        c->drain_s < 0 || c->audio_pps < 1 || c->audio_pps > 1000 || c->video_pps < 1 ||
        c->video_pps > 5000 || c->video_fps < 1 || c->video_fps > c->video_pps ||
        c->audio_payload < (int)CB_HDR_BYTES || c->video_payload < (int)CB_HDR_BYTES ||
        c->audio_payload > (int)CB_MAX_PAYLOAD || c->video_payload > (int)CB_MAX_PAYLOAD ||
        c->client_loops < 1 || c->client_loops > 16 || c->setup_timeout_ms < 100 ||
        c->late_ms < 1) {
        fprintf(stderr, "calls_bench: inconsistent options\n");
        usage(stderr);
        return -1;
    }
    if (c->server_pid <= 0 || bench_proc_cpu_seconds(c->server_pid) < 0) {
        fprintf(stderr, "calls_bench: --pid must name the running server process\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_options(argc, argv, &R.cfg) != 0)
        return 2;
    log_set_level(R.cfg.verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
    bench_fill_pattern(R.tmpl, sizeof R.tmpl);
    /* The server before any of our sessions exists: the base of the per-call memory. */
    R.rss_idle_kb = bench_proc_status_value(R.cfg.server_pid, "VmRSS");
    R.threads_idle = (int)bench_proc_status_value(R.cfg.server_pid, "Threads");
    if (peer_global_init() != 0) {
        fprintf(stderr, "calls_bench: peer_global_init failed\n");
        return 1;
    }
    R.n_lanes = R.cfg.client_loops;
    R.pool = loop_pool_create(R.n_lanes);
    R.lanes = calloc((size_t)R.n_lanes, sizeof *R.lanes);
    for (int i = 0; i < R.n_lanes; i++) {
        R.lanes[i].loop = loop_pool_get(R.pool, i);
        R.lanes[i].win_start = R.lanes[i].win_end = INT64_MAX;
    }

    int64_t t0 = g_get_monotonic_time();
    start_calls();
    if (R.cfg.verbose)
        fprintf(stderr, "calls_bench: %d/%d calls up in %.1f s\n", R.n_live, R.n_calls,
                (double)(g_get_monotonic_time() - t0) / 1e6);
    int rc = 1;
    if (R.n_live > 0) {
        cb_snap a, b, c;
        /* The client must not be where packets are lost. */
        int nsock = bench_enlarge_own_udp_buffers();
        if (R.cfg.verbose)
            fprintf(stderr, "calls_bench: %d client UDP sockets enlarged\n", nsock);
        R.t_load = g_get_monotonic_time();
        /* The window's edges are fixed before the load starts, so that a sender and a
         * receiver always agree on whether a packet belongs to it; the CPU and arrival
         * snapshots are taken at those times (to within a scheduling delay). */
        int64_t ws = R.t_load + (int64_t)(R.cfg.warmup_s * 1e6);
        int64_t we = ws + (int64_t)(R.cfg.duration_s * 1e6);
        for (int i = 0; i < R.n_lanes; i++) {
            R.lanes[i].win_start = ws;
            R.lanes[i].win_end = we;
        }
        for_each_lane(pacer_start);
        sleep_until(ws);
        snapshot(&a, 1);
        sleep_until(we);
        snapshot(&b, 2);
        double load1 = bench_loadavg1();
        g_usleep((gulong)(R.cfg.drain_s * 1e6));
        snapshot(&c, 0);
        /* The per-leg whole-run figures read the legs' counters from this thread: stop
         * sending and let the last packets land first. */
        for_each_lane(pacer_stop);
        g_usleep((gulong)(R.cfg.drain_s * 1e6));
        report(&a, &b, &c, load1);
        free(a.threads);
        free(b.threads);
        free(c.threads);
        rc = (R.n_live == R.n_calls && b.arrivals_win > a.arrivals_win) ? 0 : 1;
    } else {
        fprintf(stderr, "calls_bench: no call came up\n");
    }
    stop_calls();
    loop_pool_destroy(R.pool);
    peer_global_deinit();
    for (int i = 0; i < R.n_lanes; i++) {
        bench_samples_free(&R.lanes[i].lat);
        free(R.lanes[i].heap);
    }
    free(R.lanes);
    free(R.live);
    free(R.calls);
    return rc;
}
