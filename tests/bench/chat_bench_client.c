/*
 * chat_bench_client: the chat benchmark's light load client (chat_bench.h says what it does,
 * its pieces and their threads). This file: options, the pairs file, the loop threads, the
 * idle reading, the rows (plan, pace, drain, stop, CPU) and teardown.
 *
 * Output: one JSON line per event on stdout, for chat_bench.mjs to read:
 *   {"event":"up","pairs":P,"ready":N,"setupS":s}
 *   {"event":"idle","seconds":s,"serverCpuS":x,"clientCpuS":y}   (everyone connected, silent)
 *   {"event":"row","rate":R,...}                                 (chat_bench_report.c)
 * Failures go to stderr. Exit status: 0 when every pair came up and no client failed, 1
 * otherwise (the rows of the pairs that did come up are printed all the same), 2 on bad
 * options or input.
 */
#include "chat_bench.h"

#include <getopt.h>
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_proc.h"
#include "util/log.h"

typedef struct chb_run {
    chb_config cfg;
    chb_pair *pairs;
    int n_pairs, n_ready;
    loop_pool_t *pool;
    chb_lane *lanes;
    int n_lanes;
} chb_run;

static chb_run R;

/* ---- the pairs file ---- */

/* A user's id (number or text) as the username, its token (NULL when none). */
static int read_user(chb_client *c, json_t *u)
{
    json_t *id = json_object_get(u, "id");
    if (json_is_integer(id))
        snprintf(c->username, sizeof c->username, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    else if (json_is_string(id) && json_string_length(id) < sizeof c->username)
        snprintf(c->username, sizeof c->username, "%s", json_string_value(id));
    else
        return -1;
    const char *token = json_string_value(json_object_get(u, "token"));
    c->token = token && *token ? g_strdup(token) : NULL;
    return 0;
}

/* [{"caller":{"id","token"},"host":{"id","token"},"room":R}, ...] into R.pairs. */
static int read_pairs(const char *path)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!json_is_array(root) || json_array_size(root) == 0) {
        fprintf(stderr, "chat_bench_client: %s: not a non-empty JSON array (%s)\n", path, err.text);
        json_decref(root);
        return -1;
    }
    R.n_pairs = (int)json_array_size(root);
    R.pairs = g_new0(chb_pair, (size_t)R.n_pairs);
    for (int i = 0; i < R.n_pairs; i++) {
        json_t *e = json_array_get(root, (size_t)i);
        chb_pair *p = &R.pairs[i];
        p->index = i;
        p->room = json_integer_value(json_object_get(e, "room"));
        p->lane = &R.lanes[i % R.n_lanes];
        for (int r = 0; r < 2; r++) {
            p->c[r].pair = p;
            p->c[r].role = r;
        }
        if (p->room <= 0 || read_user(&p->c[CHB_CALLER], json_object_get(e, "caller")) != 0 ||
            read_user(&p->c[CHB_HOST], json_object_get(e, "host")) != 0) {
            fprintf(stderr, "chat_bench_client: %s: pair %d needs caller.id, host.id, room\n",
                    path, i);
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

/* ---- lanes ---- */

/* The ready pairs, in pair order, to their lanes, each with its place (its phase). */
static void assign_ready_pairs(void)
{
    for (int i = 0; i < R.n_lanes; i++) {
        R.lanes[i].pairs = g_new0(chb_pair *, (size_t)R.n_pairs);
        R.lanes[i].heap = g_new0(chb_pair *, (size_t)R.n_pairs);
    }
    R.n_ready = 0;
    for (int i = 0; i < R.n_pairs; i++) {
        chb_pair *p = &R.pairs[i];
        if (!atomic_load(&p->ready))
            continue;
        p->order = R.n_ready++;
        p->lane->pairs[p->lane->n_pairs++] = p;
    }
}

static int64_t interval_for(int rate)
{
    return (int64_t)(1e6 * (double)R.n_ready / (double)rate);
}

/* Records and msg_id tables for the busiest row, allocated once. */
static void allocate_records(void)
{
    int max_rate = 0;
    for (int i = 0; i < R.cfg.n_rates; i++)
        max_rate = R.cfg.rates[i] > max_rate ? R.cfg.rates[i] : max_rate;
    double per_pair = R.cfg.seconds * 1e6 / (double)interval_for(max_rate) + 2;
    for (int i = 0; i < R.n_lanes; i++) {
        chb_lane *L = &R.lanes[i];
        L->cap_rec = (size_t)((double)L->n_pairs * per_pair) + 1;
        L->rec = g_new0(chb_record, L->cap_rec);
        size_t slots = 16;
        while (slots < 2 * L->cap_rec)
            slots *= 2;
        L->slots = g_new0(uint32_t, slots);
        L->slot_mask = slots - 1;
    }
}

/* ---- rows ---- */

static void sleep_until(int64_t t)
{
    int64_t d = t - g_get_monotonic_time();
    if (d > 0)
        g_usleep((gulong)d);
}

static double server_cpu(void)
{
    return R.cfg.server_pid > 0 ? bench_proc_cpu_seconds(R.cfg.server_pid) : -1;
}

/* The server's threads at one moment (NULL, 0 when not measured). */
static size_t server_threads(bench_thread_cpu **out)
{
    *out = NULL;
    return R.cfg.server_pid > 0 ? bench_proc_threads_cpu(R.cfg.server_pid, out) : 0;
}

/* CPU seconds per thread name between two readings (threads of one name summed: the loops,
 * a pool), which thread of the server a message's cost is in. A thread that exited between
 * the readings cannot be read any more: what the process spent beyond the threads still there
 * (total_s, its own two readings) is put under "(exited)". */
static json_t *threads_delta(bench_thread_cpu *t0, size_t n0, bench_thread_cpu *t1, size_t n1, double total_s)
{
    json_t *o = json_object();
    double seen = 0;
    for (size_t i = 0; i < n1; i++) {
        const bench_thread_cpu *was = bsearch(&t1[i], t0, n0, sizeof *t0, bench_thread_cpu_cmp_tid);
        double d = t1[i].cpu_s - (was ? was->cpu_s : 0);
        json_t *sum = json_object_get(o, t1[i].comm);
        json_object_set_new(o, t1[i].comm, json_real((sum ? json_real_value(sum) : 0) + d));
        seen += d;
    }
    size_t gone = 0;
    for (size_t i = 0; i < n0; i++)
        gone += !bsearch(&t0[i], t1, n1, sizeof *t1, bench_thread_cpu_cmp_tid);
    if (gone && total_s > seen)
        json_object_set_new(o, "(exited)", json_real(total_s - seen));
    return o;
}

static size_t missing_now(void)
{
    size_t n = 0;
    for (int i = 0; i < R.n_lanes; i++) {
        chb_missing q = {.lane = &R.lanes[i]};
        loop_invoke_sync(R.lanes[i].loop, chb_lane_count_missing, &q);
        n += q.n;
    }
    return n;
}

static int clients_failed(void)
{
    int n = 0;
    for (int i = 0; i < R.n_pairs; i++)
        for (int r = 0; r < 2; r++)
            n += atomic_load(&R.pairs[i].c[r].failed) && atomic_load(&R.pairs[i].ready);
    return n;
}

/* One rate for cfg.seconds, then the drain (until every message has all it waits for, at
 * most cfg.drain_s), then the report. */
static void run_row(uint32_t row, int rate)
{
    chb_row_plan plans[16];
    int64_t start = g_get_monotonic_time() + 50000;
    int64_t end = start + (int64_t)(R.cfg.seconds * 1e6);
    double c0 = bench_self_cpu_seconds(), s0 = server_cpu();
    bench_thread_cpu *th0, *th1;
    size_t n_th0 = server_threads(&th0);
    int64_t w0 = g_get_monotonic_time();
    for (int i = 0; i < R.n_lanes; i++) {
        plans[i] = (chb_row_plan){.lane = &R.lanes[i], .row = row, .start_us = start,
                                  .end_us = end, .interval_us = interval_for(rate),
                                  .n_ready = R.n_ready};
        loop_invoke_sync(R.lanes[i].loop, chb_lane_row_start, &plans[i]);
    }
    sleep_until(end);
    int64_t drain_end = end + (int64_t)(R.cfg.drain_s * 1e6);
    while (missing_now() > 0 && g_get_monotonic_time() < drain_end)
        g_usleep(50000);
    for (int i = 0; i < R.n_lanes; i++)
        loop_invoke_sync(R.lanes[i].loop, chb_lane_row_stop, &R.lanes[i]);
    double s1 = server_cpu();
    size_t n_th1 = server_threads(&th1);
    chb_row_meta meta = {.rate = rate, .start_us = start,
                         .server_threads = n_th0 && n_th1 ? threads_delta(th0, n_th0, th1, n_th1, s1 - s0) : NULL,
                         .client_cpu_s = bench_self_cpu_seconds() - c0,
                         .server_cpu_s = s0 >= 0 && s1 >= 0 ? s1 - s0 : -1,
                         .wall_s = (double)(g_get_monotonic_time() - w0) / 1e6,
                         .clients_failed = clients_failed()};
    chb_report_row(R.lanes, R.n_lanes, !R.cfg.janus, &meta);
    free(th0);
    free(th1);
}

/* Everyone connected and silent: what the server and this client burn anyway. */
static void measure_idle(void)
{
    double c0 = bench_self_cpu_seconds(), s0 = server_cpu();
    int64_t w0 = g_get_monotonic_time();
    g_usleep((gulong)(R.cfg.idle_s * 1e6));
    double s1 = server_cpu();
    json_t *o = json_pack("{s:s,s:f,s:f}", "event", "idle",
                          "seconds", (double)(g_get_monotonic_time() - w0) / 1e6,
                          "clientCpuS", bench_self_cpu_seconds() - c0);
    json_object_set_new(o, "serverCpuS", s0 >= 0 && s1 >= 0 ? json_real(s1 - s0) : json_null());
    char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    json_decref(o);
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: chat_bench_client --url http://127.0.0.1:PORT/janus --pairs-file FILE [options]\n"
        "  --rates R1,R2,...     total messages/s over all pairs, one row each (default 1000)\n"
        "  --seconds S           sending time per row (default 10)\n"
        "  --drain S             at most this long for the last replies/receipts (default 5)\n"
        "  --idle S              idle CPU reading after setup, 0 = none (default 3)\n"
        "  --pid PID             the server's process: its CPU per row (default: not read)\n"
        "  --janus               Janus 1.1.2's textroom: create the rooms, no receipts,\n"
        "                        messages matched by their text\n"
        "  --client-loops N      loop threads holding the peers (default 2)\n"
        "  --setup-parallel N    pairs being set up at once (default 8)\n"
        "  --setup-timeout MS    per client, create to the data channel open (default 20000)\n"
        "  --bind-ip IPS         our peers' candidate addresses (default 127.0.0.1; inside\n"
        "                        tests/tools/netns.sh use 127.0.0.2, as Janus needs)\n"
        "  --verbose\n"
        "pairs file: [{\"caller\":{\"id\":..,\"token\":\"..\"},\"host\":{...},\"room\":R}, ...]\n");
}

static int parse_rates(const char *text, chb_config *c)
{
    c->n_rates = 0;
    char *copy = g_strdup(text), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int r = atoi(t);
        if (r <= 0 || c->n_rates == CHB_MAX_RATES) {
            g_free(copy);
            return -1;
        }
        c->rates[c->n_rates++] = r;
    }
    g_free(copy);
    return c->n_rates > 0 ? 0 : -1;
}

static int parse_options(int argc, char **argv, chb_config *c)
{
    static const struct option opts[] = {
        {"url", 1, 0, 'u'}, {"pairs-file", 1, 0, 'f'}, {"rates", 1, 0, 'r'},
        {"seconds", 1, 0, 's'}, {"drain", 1, 0, 'D'}, {"idle", 1, 0, 'I'}, {"pid", 1, 0, 'p'},
        {"janus", 0, 0, 'j'}, {"client-loops", 1, 0, 'L'}, {"setup-parallel", 1, 0, 'P'},
        {"setup-timeout", 1, 0, 'T'}, {"bind-ip", 1, 0, 'b'}, {"verbose", 0, 0, 'x'},
        {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *url = NULL, *rates = "1000";
    *c = (chb_config){.seconds = 10, .drain_s = 5, .idle_s = 3, .client_loops = 2,
                      .setup_parallel = 8, .setup_timeout_ms = 20000};
    c->peer = (peer_config){.bind_ips = "127.0.0.1"};
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'u': url = optarg; break;
        case 'f': c->pairs_file = optarg; break;
        case 'r': rates = optarg; break;
        case 's': c->seconds = atof(optarg); break;
        case 'D': c->drain_s = atof(optarg); break;
        case 'I': c->idle_s = atof(optarg); break;
        case 'p': c->server_pid = atoi(optarg); break;
        case 'j': c->janus = true; break;
        case 'L': c->client_loops = atoi(optarg); break;
        case 'P': c->setup_parallel = atoi(optarg); break;
        case 'T': c->setup_timeout_ms = atoi(optarg); break;
        case 'b': c->peer.bind_ips = optarg; break;
        case 'x': c->verbose = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    /* Our own addresses only: the peer would add 127.0.0.1 a second time otherwise. */
    c->peer.allow_loopback = !c->peer.bind_ips || !*c->peer.bind_ips;
    if (!url || mb_url_parse(url, &c->url) != 0 || !c->pairs_file || parse_rates(rates, c) != 0 ||
        c->seconds <= 0 || c->drain_s < 0 || c->idle_s < 0 || c->client_loops < 1 ||
        c->client_loops > 16 || c->setup_parallel < 1 || c->setup_timeout_ms < 100) {
        fprintf(stderr, "chat_bench_client: missing or inconsistent options\n");
        usage(stderr);
        return -1;
    }
    if (c->server_pid > 0 && bench_proc_cpu_seconds(c->server_pid) < 0) {
        fprintf(stderr, "chat_bench_client: --pid %d is not a running process\n", c->server_pid);
        return -1;
    }
    return 0;
}

/* ---- main ---- */

static void start_lanes(void)
{
    R.n_lanes = R.cfg.client_loops;
    /* No wake-up batching (core/poller.h): tried at 500 us, it cut the client's CPU by a
     * third but held SACKs and replies back enough to push p50 to 0.7 s at 5k msg/s. */
    R.pool = loop_pool_create(R.n_lanes);
    R.lanes = g_new0(chb_lane, (size_t)R.n_lanes);
    for (int i = 0; i < R.n_lanes; i++) {
        R.lanes[i].loop = loop_pool_get(R.pool, i);
        R.lanes[i].index = i;
        R.lanes[i].cfg = &R.cfg;
        R.lanes[i].rng = ((uint64_t)g_random_int() << 32 | g_random_int()) | 1;
    }
}

/* The keepalive thread, the timers, the peers, the sessions, the loops: after it no other
 * thread runs. */
static void stop_threads(void)
{
    chb_keepalive_stop();
    for (int i = 0; i < R.n_lanes; i++)
        loop_invoke_sync(R.lanes[i].loop, chb_lane_detach, &R.lanes[i]);
    chb_teardown_pairs(R.pairs, R.n_pairs);
    loop_pool_destroy(R.pool);
    peer_global_deinit();
}

static void free_everything(void)
{
    for (int i = 0; i < R.n_lanes; i++) {
        g_free(R.lanes[i].pairs);
        g_free(R.lanes[i].heap);
        g_free(R.lanes[i].rec);
        g_free(R.lanes[i].slots);
    }
    for (int i = 0; i < R.n_pairs; i++)
        for (int r = 0; r < 2; r++)
            g_free(R.pairs[i].c[r].token);
    g_free(R.lanes);
    g_free(R.pairs);
}

int main(int argc, char **argv)
{
    if (parse_options(argc, argv, &R.cfg) != 0)
        return 2;
    log_set_level(R.cfg.verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);
    chb_run_tag = g_random_int();
    if (peer_global_init() != 0) {
        fprintf(stderr, "chat_bench_client: peer_global_init failed\n");
        return 1;
    }
    start_lanes();
    if (read_pairs(R.cfg.pairs_file) != 0) {
        stop_threads();
        free_everything();
        return 2;
    }
    int64_t t0 = g_get_monotonic_time();
    chb_setup_pairs(R.pairs, R.n_pairs, &R.cfg);
    assign_ready_pairs();
    chb_keepalive_start(R.pairs, R.n_pairs);
    printf("{\"event\":\"up\",\"pairs\":%d,\"ready\":%d,\"setupS\":%.3f}\n", R.n_pairs, R.n_ready,
           (double)(g_get_monotonic_time() - t0) / 1e6);
    fflush(stdout);
    if (R.n_ready > 0) {
        /* The client must not be where messages wait. */
        bench_enlarge_own_udp_buffers();
        allocate_records();
        if (R.cfg.idle_s > 0)
            measure_idle();
        for (int i = 0; i < R.cfg.n_rates; i++)
            run_row((uint32_t)i + 1, R.cfg.rates[i]);
    }
    /* The failures are read once no loop can write one any more. */
    stop_threads();
    int rc = R.n_ready == R.n_pairs && clients_failed() == 0 ? 0 : 1;
    for (int i = 0; i < R.n_pairs; i++)
        for (int r = 0; r < 2; r++)
            if (atomic_load(&R.pairs[i].ready) && atomic_load(&R.pairs[i].c[r].failed))
                fprintf(stderr, "chat_bench_client: pair %d %s failed during the run: %s\n", i,
                        r == CHB_CALLER ? "caller" : "host", R.pairs[i].c[r].error);
    free_everything();
    return rc;
}
