/*
 * metrics: see metrics.h. One GString built per scrape; process figures come from /proc
 * (Linux), the rest from the server's counters and a few snapshots.
 */
#include "core/metrics.h"
#include "core/media_counters.h"

#include <dirent.h>
#include <glib.h>
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "build_config.h"
#include "core/janus_core.h"
#include "core/limits.h"
#include "core/session.h"
#include "media/ice_lite.h"
#include "transport/http.h"
#include "transport/http_stats.h"
#include "transport/ws.h"

#define HTTP_STATS_MAX 256

static const char *const dir_names[2] = {"in", "out"};
static const char *const kind_names[2] = {"audio", "video"};

static uint64_t get(atomic_uint_fast64_t *a) { return atomic_load_explicit(a, memory_order_relaxed); }

static void family(GString *o, const char *name, const char *type, const char *help)
{
    g_string_append_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(GString *o, const char *name, uint64_t v)
{
    g_string_append_printf(o, "%s %" G_GUINT64_FORMAT "\n", name, v);
}

static void one(GString *o, const char *name, const char *type, const char *help, uint64_t v)
{
    family(o, name, type, help);
    sample(o, name, v);
}

/* A label value as the text format wants it: backslash, double quote and newline escaped. */
static void label_value(GString *o, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            g_string_append_c(o, '\\');
        if (*p == '\n')
            g_string_append(o, "\\n");
        else
            g_string_append_c(o, *p);
    }
}

static void build_info(GString *o)
{
    family(o, "parley_build_info", "gauge", "Build and library versions (always 1).");
    g_string_append(o, "parley_build_info{version=\"");
    label_value(o, PARLEY_VERSION);
    g_string_append(o, "\",openssl=\"");
    label_value(o, OpenSSL_version(OPENSSL_VERSION));
    g_string_append(o, "\",sqlite=\"");
    label_value(o, sqlite3_libversion());
    g_string_append(o, "\",microhttpd=\"");
    label_value(o, MHD_get_version());
    g_string_append(o, "\",glib=\"");
    char glib[32];
    snprintf(glib, sizeof glib, "%u.%u.%u", glib_major_version, glib_minor_version, glib_micro_version);
    label_value(o, glib);
    g_string_append(o, "\"} 1\n");
}

/* Live handles: counted over the registry snapshot the admin API uses. */
static unsigned live_handles(session_registry *reg)
{
    char *text = session_registry_list_json(reg);
    json_t *arr = json_loads(text, 0, NULL);
    free(text);
    unsigned n = 0;
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) n += (unsigned)json_array_size(json_object_get(s, "handles"));
    json_decref(arr);
    return n;
}

static void live_objects(GString *o, server_t *srv)
{
    server_counters *c = &srv->counters;
    session_registry *reg = janus_core_registry(srv->janus);
    one(o, "parley_sessions", "gauge", "Live Janus sessions.", session_registry_count(reg));
    one(o, "parley_handles", "gauge", "Live plugin handles.", live_handles(reg));
    uint64_t created = get(&c->peers_created), closed = get(&c->peers_closed);
    one(o, "parley_peers", "gauge", "Live PeerConnections (created and not yet closed).",
        created > closed ? created - closed : 0);
}

static void janus_counters(GString *o, server_counters *c)
{
    one(o, "parley_sessions_created_total", "counter", "Janus sessions created.", get(&c->sessions_created));
    one(o, "parley_sessions_timed_out_total", "counter", "Janus sessions expired.", get(&c->sessions_timed_out));
    one(o, "parley_handles_created_total", "counter", "Plugin handles attached.", get(&c->handles_created));
    one(o, "parley_janus_requests_total", "counter", "Janus API requests.", get(&c->janus_requests));
    one(o, "parley_janus_errors_total", "counter", "Janus API error replies.", get(&c->janus_errors));
    one(o, "parley_events_dropped_total", "counter", "Events dropped from full session queues.",
        get(&c->events_dropped));
    one(o, "parley_peers_created_total", "counter", "PeerConnections created.", get(&c->peers_created));
    one(o, "parley_peers_closed_total", "counter", "PeerConnections closed (hangup, detach, destroy).",
        get(&c->peers_closed));
    one(o, "parley_peers_failed_total", "counter", "PeerConnections that failed (ICE or DTLS).",
        get(&c->peers_failed));
    one(o, "parley_dtls_failures_total", "counter",
        "PeerConnections that failed after ICE connected and before DTLS completed.", get(&c->dtls_failed));
    one(o, "parley_webrtcup_total", "counter", "PeerConnections that became secure (webrtcup).", get(&c->webrtcup));
}

/* core/limits.h: refusals per limit (every label always present) and the PeerConnection cap. */
static void limits_section(GString *o, server_t *srv)
{
    if (!srv->limits)
        return;
    family(o, "parley_limit_refusals_total", "counter",
           "Requests refused by a limit (limits.* settings; fd_reserve: too few descriptors left).");
    for (int k = LIMIT_NONE + 1; k < LIMIT_KIND_COUNT; k++)
        g_string_append_printf(o, "parley_limit_refusals_total{limit=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               limit_kind_name((limit_kind)k), limits_refusals(srv->limits, (limit_kind)k));
    one(o, "parley_limit_peers_live", "gauge", "PeerConnections counted against limits.max_peers.",
        (uint64_t)limits_peers_live(srv->limits));
    one(o, "parley_limit_peers_max", "gauge", "The PeerConnection cap (limits.max_peers, or derived at start).",
        (uint64_t)limits_max_peers(srv->limits));
}

/* A counter family with one sample per direction (and per kind when per_kind). */
static void by_dir(GString *o, const char *name, const char *help, const uint64_t v[2])
{
    family(o, name, "counter", help);
    for (int d = 0; d < 2; d++)
        g_string_append_printf(o, "%s{direction=\"%s\"} %" G_GUINT64_FORMAT "\n", name, dir_names[d], v[d]);
}

static void by_dir_kind(GString *o, const char *name, const char *help, const uint64_t v[2][2])
{
    family(o, name, "counter", help);
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 2; k++)
            g_string_append_printf(o, "%s{direction=\"%s\",kind=\"%s\"} %" G_GUINT64_FORMAT "\n", name,
                                   dir_names[d], kind_names[k], v[d][k]);
}

static void media_counters(GString *o, server_counters *c)
{
    media_counter_totals t;
    media_counters_total(c, &t);
    by_dir_kind(o, "parley_rtp_packets_total", "RTP packets received from and sent to clients.", t.rtp_packets);
    by_dir_kind(o, "parley_rtp_bytes_total", "RTP bytes (plain, without SRTP overhead) received and sent.",
                t.rtp_bytes);
    by_dir(o, "parley_rtcp_packets_total", "Compound RTCP packets received and sent.", t.rtcp_packets);
    by_dir(o, "parley_rtcp_bytes_total", "Compound RTCP bytes (plain) received and sent.", t.rtcp_bytes);
    by_dir(o, "parley_data_messages_total", "Data channel messages received and sent.", t.data_messages);
    by_dir(o, "parley_data_bytes_total", "Data channel payload bytes received and sent.", t.data_bytes);
    by_dir(o, "parley_rtcp_nacks_total", "RTCP generic NACK packets received from clients (in) and sent (out).",
           t.nacks);
    by_dir(o, "parley_rtcp_plis_total", "RTCP PLI packets received from clients (in) and sent (out).", t.plis);
    by_dir(o, "parley_rtcp_firs_total", "RTCP FIR packets received from clients (in) and sent (out).", t.firs);
}

/* media/ice_lite.h: the loops' shared ICE-lite sockets, summed over the loops (each loop's
 * mux keeps its own; zeros with full ICE). The loop pool outlives every scrape: main stops
 * the admin listener before loop_pool_destroy, which ice_lite_mux_stats relies on. */
static void ice_lite_section(GString *o, server_t *srv)
{
    ice_lite_counters sum = {0};
    int n = srv->loops ? loop_pool_size(srv->loops) : 0;
    for (int i = 0; i < n; i++) {
        ice_lite_counters c;
        ice_lite_mux_stats(loop_context(loop_pool_get(srv->loops, i)), &c);
        sum.datagrams += c.datagrams;
        sum.reads += c.reads;
        sum.checks += c.checks;
        sum.refused += c.refused;
    }
    one(o, "parley_ice_lite_datagrams_total", "counter",
        "Datagrams read from the loops' shared ICE-lite sockets (media.ice_lite).", sum.datagrams);
    one(o, "parley_ice_lite_reads_total", "counter",
        "recvmmsg calls on the shared ICE-lite sockets that returned datagrams (datagrams / reads = batch size).",
        sum.reads);
    one(o, "parley_ice_lite_checks_total", "counter", "ICE connectivity checks (STUN Binding requests) answered.",
        sum.checks);
    one(o, "parley_ice_lite_refused_total", "counter",
        "Datagrams refused on the shared ICE-lite sockets: STUN that did not match a peer or verify, "
        "media from an address no valid check came from.",
        sum.refused);
}

static void http_counters(GString *o)
{
    http_status_count *counts = g_new(http_status_count, HTTP_STATS_MAX);
    size_t n = http_stats_snapshot(counts, HTTP_STATS_MAX);
    family(o, "parley_http_requests_total", "counter", "HTTP responses sent, by server (http, admin) and status code.");
    for (size_t i = 0; i < n && i < HTTP_STATS_MAX; i++) {
        g_string_append(o, "parley_http_requests_total{server=\"");
        label_value(o, counts[i].server);
        g_string_append_printf(o, "\",code=\"%u\"} %" G_GUINT64_FORMAT "\n", counts[i].status, counts[i].count);
    }
    g_free(counts);
}

/* transport/http.h: connections and requests refused by the HTTP servers' abuse limits and
 * the admin port's Host/Origin checks (every reason always present). */
static void http_refusals_section(GString *o)
{
    family(o, "parley_http_refusals_total", "counter",
           "HTTP connections or requests refused: per_ip (http.max_connections_per_ip), timeout "
           "(http.request_timeout_s), duplicate_content_length (400), connection_limit (total), "
           "admin_host (421), admin_origin (403).");
    for (int k = 0; k < HTTP_REFUSAL_COUNT; k++)
        g_string_append_printf(o, "parley_http_refusals_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               http_refusal_name((http_refusal)k), http_refusals((http_refusal)k));
}

/* Runs the ledger scan when the cached result is older than the interval and no other
 * scrape is running it; otherwise the cached result stands. */
static void refresh_ledger_check(server_t *srv)
{
    metrics_cache *mc = &srv->metrics;
    int64_t now = g_get_monotonic_time();
    long long last = atomic_load(&mc->ledger_checked_us);
    if (atomic_load(&mc->ledger_state) != 0 && now - last < METRICS_LEDGER_CHECK_INTERVAL_S * G_USEC_PER_SEC)
        return;
    bool idle = false;
    if (!atomic_compare_exchange_strong(&mc->ledger_running, &idle, true))
        return;
    int ok = srv->hooks.ledger_check_ok ? srv->hooks.ledger_check_ok(srv->hooks.user) : -1;
    if (ok < 0) {
        atomic_fetch_add(&mc->ledger_errors, 1);
    } else {
        atomic_store(&mc->ledger_state, ok ? 2 : 1);
        atomic_store(&mc->ledger_checked_unix, (long long)(g_get_real_time() / G_USEC_PER_SEC));
    }
    atomic_store(&mc->ledger_checked_us, (long long)now);
    atomic_store(&mc->ledger_running, false);
}

/* The push service's counters (push/service.h), through the hook main.c set. */
static void push_section(GString *o, server_t *srv)
{
    if (!srv->hooks.push_metrics)
        return;
    char buf[4096];
    if (srv->hooks.push_metrics(srv->hooks.push_user, buf, sizeof buf) > 0)
        g_string_append(o, buf);
}

static void platform_section(GString *o, server_t *srv)
{
    if (!srv->hooks.metrics_text)
        return;
    char buf[4096];
    if (srv->hooks.metrics_text(srv->hooks.user, buf, sizeof buf) > 0)
        g_string_append(o, buf);
    refresh_ledger_check(srv);
    metrics_cache *mc = &srv->metrics;
    int state = atomic_load(&mc->ledger_state);
    if (state != 0) {
        one(o, "parley_ledger_check_ok", "gauge", "Ledger invariants hold (1) or are broken (0), at the last check.",
            state == 2 ? 1 : 0);
        one(o, "parley_ledger_check_timestamp_seconds", "gauge", "Unix time of the last ledger check.",
            (uint64_t)atomic_load(&mc->ledger_checked_unix));
    }
    one(o, "parley_ledger_check_errors_total", "counter", "Ledger checks that could not run.",
        get(&mc->ledger_errors));
}

/* transport/ws.h: WebSocket connections, fairness and limits (every reason always present). */
static void ws_section(GString *o)
{
    ws_stats st;
    ws_stats_get(&st);
    one(o, "parley_ws_connections", "gauge", "Open upgraded WebSocket connections.", st.connections);
    one(o, "parley_ws_buffered_bytes", "gauge",
        "Bytes WebSocket connections hold in unfinished messages and undecoded input (ws.max_buffered_total).",
        st.buffered_bytes);
    one(o, "parley_ws_throttled_total", "counter",
        "Times a WebSocket connection ran out of message tokens (ws.max_messages_per_s) and was read more slowly.",
        st.throttled);
    family(o, "parley_ws_refusals_total", "counter",
           "WebSocket upgrades refused and connections closed by a limit, by reason.");
    for (int r = 0; r < WS_REFUSE_COUNT; r++)
        g_string_append_printf(o, "parley_ws_refusals_total{reason=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               ws_refusal_name((ws_refusal)r), st.refusals[r]);
    family(o, "parley_ws_request_max_seconds", "gauge",
           "Longest time one WebSocket message's handler (a Janus request) took on the ws thread.");
    g_string_append_printf(o, "parley_ws_request_max_seconds %.6f\n", (double)st.handler_max_us / 1e6);
}

/* /proc/self/stat after the command name (which may hold spaces and parentheses, hence the
 * last ')'): f[k - 3] gets field k (field 3, the state letter, reads as 0). */
static bool read_proc_stat(unsigned long long f[], int nfields)
{
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (!fp)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    char *save = NULL;
    int i = 0;
    for (char *tok = strtok_r(p + 1, " \n", &save); tok && i < nfields; tok = strtok_r(NULL, " \n", &save))
        f[i++] = strtoull(tok, NULL, 10);
    return i == nfields;
}

static unsigned long long boot_time_s(void)
{
    FILE *fp = fopen("/proc/stat", "r");
    unsigned long long bt = 0;
    char line[256];
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "btime %llu", &bt) == 1)
            break;
    if (fp)
        fclose(fp);
    return bt;
}

static unsigned open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    unsigned n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* minus the directory's own descriptor */
}

static void process_section(GString *o)
{
    /* fields 3..24: state ... utime(14) stime(15) ... num_threads(20) ... starttime(22) vsize(23) rss(24) */
    unsigned long long f[22];
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (read_proc_stat(f, 22) && tick > 0 && page > 0) {
        family(o, "process_cpu_seconds_total", "counter", "User and system CPU time, in seconds.");
        g_string_append_printf(o, "process_cpu_seconds_total %.2f\n", (double)(f[14 - 3] + f[15 - 3]) / (double)tick);
        one(o, "process_resident_memory_bytes", "gauge", "Resident memory, in bytes.", f[24 - 3] * (uint64_t)page);
        one(o, "process_virtual_memory_bytes", "gauge", "Virtual memory, in bytes.", f[23 - 3]);
        one(o, "process_threads", "gauge", "Threads in the process.", f[20 - 3]);
        one(o, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.",
            boot_time_s() + f[22 - 3] / (unsigned long long)tick);
    }
    one(o, "process_open_fds", "gauge", "Open file descriptors.", open_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        one(o, "process_max_fds", "gauge", "Limit on open file descriptors (soft).", rl.rlim_cur);
}

char *metrics_render(server_t *srv, size_t *len)
{
    GString *o = g_string_sized_new(8192);
    build_info(o);
    live_objects(o, srv);
    janus_counters(o, &srv->counters);
    limits_section(o, srv);
    media_counters(o, &srv->counters);
    ice_lite_section(o, srv);
    http_counters(o);
    http_refusals_section(o);
    ws_section(o);
    platform_section(o, srv);
    push_section(o, srv);
    process_section(o);
    *len = o->len;
    return g_string_free(o, FALSE);
}
