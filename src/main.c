/*
 * main: start-up, configuration, signals and shutdown — the only place that wires the
 * modules together. Order of start: config -> logging -> DTLS identity -> platform (SQLite)
 * -> media loops -> Janus core + plugins -> listeners; shutdown runs it backwards.
 */
#include <errno.h>
#include <glib.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/platform.h"
#include "build_config.h"
#include "core/admin.h"
#include "core/janus_core.h"
#include "core/limits.h"
#include "core/plugin_host.h"
#include "core/server.h"
#include "media/peer.h"
#include "push/service.h"
#include "push/vapid_store.h"
#include "transport/http.h"
#include "transport/ws.h"
#include "util/config.h"
#include "util/log.h"

extern char **environ;

/* The push service and what it needs from the platform; lives as long as run(). */
typedef struct push_wiring {
    platform_t *platform;
    push_service *service;
    webpush_vapid *vapid;
    GThreadPool *resolver;     /* one thread: chat messages' targets, read off chat's thread */
    atomic_int resolving;      /* jobs queued there */
} push_wiring;

/* Chat notices waiting for the resolver: at most this many, beyond it dropped (logged). */
#define PUSH_RESOLVE_QUEUE_MAX 10000

typedef struct listeners {
    http_server *http;
    http_server *admin;
    ws_server *ws;
} listeners;

static void send_json_error(http_reply *r, int status, const char *code, const char *message)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    http_reply_send(r, status, "application/json", text, strlen(text));
    free(text);
}

/* The public HTTP port: Janus API, platform REST API, and the demo's static files. */
static void public_http(void *user, const http_request *req, http_reply *r)
{
    server_t *srv = user;
    if (strncmp(req->path, "/janus", 6) == 0 && (req->path[6] == '\0' || req->path[6] == '/')) {
        janus_core_http(srv->janus, req, r);
    } else if (strncmp(req->path, "/api/v1/", 8) == 0 || strcmp(req->path, "/api/v1") == 0) {
        if (srv->platform)
            platform_handle_http(srv->platform, req, r);
        else
            send_json_error(r, 503, "unavailable", "platform not running");
    } else if (strcmp(req->path, "/healthz") == 0) {
        http_reply_send(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
    } else if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) {
        char *path = g_build_filename(srv->config->web_root, req->path, NULL);
        http_reply_send_file(r, path);
        g_free(path);
    } else {
        send_json_error(r, 404, "not_found", "no such route");
    }
}

/* Everything the core asks of the platform goes through these (core/server.h), wired here so
 * that src/core never calls up into src/api. */
static int hook_verify_access(void *p, const char *token, uint64_t *uid) { return platform_verify_access_token(p, token, uid); }
static int hook_verify_session(void *p, const char *token, uint64_t *uid) { return platform_verify_session_token(p, token, uid); }
static void hook_session_opened(void *p, uint64_t uid) { platform_presence_session_opened(p, uid); }
static void hook_session_closed(void *p, uint64_t uid) { platform_presence_session_closed(p, uid); }
static void hook_admin(void *p, const http_request *req, http_reply *r) { platform_handle_admin(p, req, r); }
static int hook_metrics(void *p, char *out, size_t cap) { return platform_metrics(p, out, cap); }
static int hook_ledger_check(void *p) { return platform_ledger_check_ok(p); }
static char *hook_user_info(void *p, uint64_t uid) { return platform_user_info(p, uid); }
static void hook_set_busy(void *p, uint64_t uid, bool busy) { platform_presence_set_busy(p, uid, busy); }
static int hook_call_record(void *p, const char *json) { return platform_call_record(p, json); }
static int hook_billing_submit(void *p, const char *json, platform_deferred_fn done, void *arg)
{
    return platform_billing_submit_deferred(p, json, done, arg);
}
static char *hook_billing_run(void *p, const char *json) { return platform_billing_run(p, json); }
static int hook_chat_submit(void *p, const char *json, platform_deferred_fn done, void *arg)
{
    return platform_chat_submit_deferred(p, json, done, arg);
}
static char *hook_chat_run(void *p, const char *json) { return platform_chat_run(p, json); }
static bool hook_user_blocks(void *p, uint64_t blocker, uint64_t blocked)
{
    return platform_user_blocks(p, blocker, blocked);
}

static int hook_token_family(void *p, const char *token, char *out, size_t cap)
{
    return platform_token_family(p, token, out, cap);
}

/* The display name of a chat notice's sender_id (a read, only when someone gets the push). */
static char *sender_name(platform_t *p, const char *notice_json)
{
    json_t *notice = json_loads(notice_json, 0, NULL);
    json_int_t id = json_integer_value(json_object_get(notice, "sender_id"));
    json_decref(notice);
    char *info = id > 0 ? platform_user_info(p, (uint64_t)id) : NULL;
    json_t *o = info ? json_loads(info, 0, NULL) : NULL;
    free(info);
    const char *name = json_string_value(json_object_get(o, "display_name"));
    char *out = name ? strdup(name) : NULL;
    json_decref(o);
    return out;
}

/* The user's tokens (minus the live devices) read, then the parsed notice n (from notice_json,
 * its parse holding holder, released here) queued to the push thread; returns how many
 * devices it went to. */
static int resolve_and_queue(push_wiring *pw, push_notice n, uint64_t uid, void *holder,
                             const char *notice_json, const char *const *live, size_t n_live)
{
    size_t nt = 0;
    platform_push_target *rows = n.type == PUSH_CALL_ENDED ? NULL
                                                           : platform_push_targets(pw->platform, uid, live, n_live, &nt);
    push_target *targets = nt ? calloc(nt, sizeof *targets) : NULL;
    size_t k = 0;
    for (size_t i = 0; targets && i < nt; i++)
        targets[k++] = (push_target){.kind = strcmp(rows[i].kind, "webpush") == 0 ? PUSH_KIND_WEBPUSH : PUSH_KIND_FCM,
                                     .family = rows[i].family, .value = rows[i].value};
    char *sender = k && n.type == PUSH_CHAT_MESSAGE && !n.sender_name ? sender_name(pw->platform, notice_json) : NULL;
    if (sender)
        n.sender_name = sender;
    size_t queued = n.type == PUSH_CALL_ENDED || k ? push_service_notify(pw->service, &n, targets, k) : 0;
    free(sender);
    free(targets);
    platform_push_targets_free(rows, nt);
    push_notice_release(holder);
    return queued > INT32_MAX ? INT32_MAX : (int)queued;
}

/* A chat notice with copies of what resolve_and_queue needs; owned by the resolver's queue. */
typedef struct resolve_job {
    char *notice_json;
    char **live;
    size_t n_live;
} resolve_job;

static void resolve_job_run(gpointer data, gpointer user)
{
    resolve_job *j = data;
    push_wiring *pw = user;
    push_notice n;
    uint64_t uid = 0;
    void *holder = NULL;
    if (push_notice_parse(j->notice_json, &n, &uid, &holder) == 0)
        resolve_and_queue(pw, n, uid, holder, j->notice_json, (const char *const *)j->live, j->n_live);
    atomic_fetch_sub(&pw->resolving, 1);
    g_strfreev(j->live);
    g_free(j->notice_json);
    g_free(j);
}

/* A plugin's push_notify. A call's ring is resolved here, on the plugin's thread, because the
 * calls plugin needs the count (a host with only push devices rings by push alone). A chat
 * message is handed to the resolver thread: its token read would otherwise cost chat's dispatch
 * thread tens of microseconds per message; its count is 0 (queued) or -1. */
static int hook_push_notify(void *user, const char *notice_json, const char *const *live, size_t n_live)
{
    push_wiring *pw = user;
    push_notice n;
    uint64_t uid = 0;
    void *holder = NULL;
    if (!pw->service || !notice_json || push_notice_parse(notice_json, &n, &uid, &holder) != 0)
        return -1;
    if (!pw->resolver || n.type != PUSH_CHAT_MESSAGE)
        return resolve_and_queue(pw, n, uid, holder, notice_json, live, n_live);
    push_notice_release(holder);   /* the resolver parses its own copy */
    if (atomic_fetch_add(&pw->resolving, 1) >= PUSH_RESOLVE_QUEUE_MAX) {
        atomic_fetch_sub(&pw->resolving, 1);
        LOG_WARN_RATELIMITED("push", "chat push dropped: %d notices wait for their targets already",
                             PUSH_RESOLVE_QUEUE_MAX);
        return -1;
    }
    resolve_job *j = g_new0(resolve_job, 1);
    j->notice_json = g_strdup(notice_json);
    j->live = g_new0(char *, n_live + 1);
    for (size_t i = 0; i < n_live; i++)
        j->live[i] = g_strdup(live[i]);
    j->n_live = n_live;
    g_thread_pool_push(pw->resolver, j, NULL);
    return 0;
}

/* Asked before a chat notice is built (core_callbacks.push_wanted). */
static bool hook_push_wanted(void *user, uint64_t user_id)
{
    push_wiring *pw = user;
    return pw->service && platform_push_may_target(pw->platform, user_id);
}

static int hook_push_metrics(void *user, char *out, size_t cap)
{
    push_wiring *pw = user;
    return pw->service ? push_service_metrics(pw->service, out, cap) : -1;
}

/* The push thread found a dead token: removed through the storage thread's queue. */
static void on_push_target_dead(void *user, const char *family, const char *kind, const char *value)
{
    platform_push_target_dead(user, family, kind, value);
}

/* A message or read made over REST: the chat plugin tells the live devices. */
static void on_chat_event(void *user, const char *event_json)
{
    server_t *srv = user;
    plugin_host_notify(janus_core_plugins(srv->janus), "janus.plugin.textroom", event_json);
}

static void wire_platform_hooks(server_t *srv, push_wiring *pw)
{
    srv->hooks = (platform_hooks){
        .user = srv->platform, .verify_access_token = hook_verify_access, .verify_session_token = hook_verify_session,
        .session_opened = hook_session_opened, .session_closed = hook_session_closed, .handle_admin = hook_admin,
        .metrics_text = hook_metrics, .ledger_check_ok = hook_ledger_check, .user_info = hook_user_info,
        .user_set_busy = hook_set_busy, .call_record = hook_call_record, .billing_submit = hook_billing_submit,
        .billing_run = hook_billing_run, .chat_submit = hook_chat_submit, .chat_run = hook_chat_run,
        .user_blocks = hook_user_blocks, .token_family = hook_token_family, .push_user = pw,
        .push_notify = hook_push_notify, .push_metrics = hook_push_metrics, .push_wanted = hook_push_wanted};
}

static void fill_peer_config(server_t *srv)
{
    const server_config *c = srv->config;
    peer_config *p = &srv->peer_cfg;
    p->bind_ips = c->media_bind_ips;
    p->allow_loopback = c->media_allow_loopback;
    p->ipv6 = c->media_ipv6;
    p->port_min = (uint16_t)c->media_rtp_port_min;
    p->port_max = (uint16_t)c->media_rtp_port_max;
    if (c->media_stun_server[0] &&
        config_split_host_port(c->media_stun_server, srv->stun_host, sizeof srv->stun_host, &p->stun_port, 3478))
        p->stun_host = srv->stun_host;
    if (c->media_turn_server[0] &&
        config_split_host_port(c->media_turn_server, srv->turn_host, sizeof srv->turn_host, &p->turn_port, 3478)) {
        p->turn_host = srv->turn_host;
        p->turn_user = c->media_turn_user;
        p->turn_pwd = c->media_turn_pwd;
    }
    p->nat_1_1_ip = c->media_nat_1_1_ip[0] ? c->media_nat_1_1_ip : NULL;
    p->consent_freshness = c->media_consent_freshness;
    /* A lite agent gathers host candidates only: the server's own STUN/TURN needs full ICE. */
    p->ice_lite = c->media_ice_lite && !p->stun_host && !p->turn_host;
    if (c->media_ice_lite && !p->ice_lite)
        LOG_NOTICE("main", "media.stun_server / media.turn_server set: full ICE (a libnice agent per PeerConnection), "
                   "since ICE-lite gathers host candidates only");
}

static platform_t *start_platform(const server_config *c, const webpush_vapid *vapid)
{
    platform_config pc = {
        .data_dir = c->data_dir,
        .jwt_secret = c->auth_jwt_secret,
        .access_ttl_s = c->auth_access_ttl,
        .refresh_ttl_s = c->auth_refresh_ttl,
        .password_kdf_cost = c->auth_kdf_cost,
        .payment_provider = c->billing_payment_provider,
        .webhook_secret = c->billing_webhook_secret,
        .webhook_window_s = c->billing_webhook_window,
        .platform_fee_bps = c->billing_platform_fee_bps,
        .credit_packages = c->billing_credit_packages,
        .rate_limit_per_min = c->auth_rate_limit_per_min,
        .login_pair_per_min = c->auth_login_pair_per_min,
        .login_account_per_hour = c->auth_login_account_per_hour,
        .auth_required = c->auth_required,
        .stun_uris = c->media_stun_uris,
        .turn_uris = c->media_turn_uris,
        .turn_secret = c->media_turn_secret,
        .turn_ttl_s = c->media_turn_ttl,
        .chat_rate_per_s = c->chat_rate_per_s,
        .chat_burst = c->chat_burst,
        .vapid_public_key = vapid ? webpush_vapid_public_b64(vapid) : NULL,
        /* The setting's 0 (no window) is the platform's "none"; its own 0 means the default. */
        .store_group_window_us = c->store_group_window_us > 0 ? c->store_group_window_us : -1,
    };
    return platform_create(&pc);
}

/* The VAPID key first (the platform serves its public half), the service after the platform
 * (dead tokens go to its store). A bad service account or CA file stops the start. */
static void load_vapid(const server_config *c, push_wiring *pw)
{
    char err[512] = "";
    pw->vapid = vapid_store_load_or_create(c->data_dir, err, sizeof err);
    if (!pw->vapid)
        LOG_ERROR("push", "no VAPID key, Web Push disabled: %s", err);
}

static int start_push(const server_config *c, push_wiring *pw)
{
    push_service_config pc = {
        .fcm_service_account = c->push_fcm_service_account, .fcm_endpoint = c->push_fcm_endpoint,
        .fcm_token_endpoint = c->push_fcm_token_endpoint, .ca_file = c->push_ca_file,
        .private_bodies = c->push_private_bodies, .queue_size = c->push_queue_size,
        .max_in_flight = c->push_max_in_flight, .request_timeout_ms = c->push_request_timeout_ms,
        .chat_ttl_s = c->push_chat_ttl_s, .vapid = pw->vapid, .vapid_subject = c->push_vapid_subject};
    push_service_hooks hooks = {.user = pw->platform, .target_dead = on_push_target_dead};
    char err[512] = "";
    pw->service = push_service_start(&pc, &hooks, err, sizeof err);
    if (pw->service)
        pw->resolver = g_thread_pool_new(resolve_job_run, pw, 1, TRUE, NULL);
    if (!pw->service) {
        LOG_ERROR("push", "cannot start the push service: %s", err);
        return -1;
    }
    LOG_INFO("push", "push service: FCM %s, Web Push %s", c->push_fcm_service_account[0] ? "on" : "off (no "
             "push.fcm_service_account)", pw->vapid ? "on" : "off");
    return 0;
}

static void stop_push(push_wiring *pw)
{
    if (pw->resolver)   /* runs what is queued, then joins: before the service and the store go */
        g_thread_pool_free(pw->resolver, FALSE, TRUE);
    pw->resolver = NULL;
    push_service_stop(pw->service);
    pw->service = NULL;
    webpush_vapid_free(pw->vapid);
    pw->vapid = NULL;
}

static bool start_listeners(server_t *srv, listeners *l)
{
    const server_config *c = srv->config;
    http_server_config hc = {.bind_ip = c->http_bind, .port = (uint16_t)c->http_port,
                             .max_body = (size_t)c->http_max_body, .threads = (unsigned)c->http_threads, .name = "http",
                             .max_connections_per_ip = (unsigned)c->http_max_connections_per_ip,
                             .request_timeout_s = (unsigned)c->http_request_timeout_s};
    l->http = http_server_start(&hc, public_http, srv);
    /* No CORS on the admin port: a web page in a browser on this machine must not read it. */
    http_server_config ac = {.bind_ip = c->admin_bind, .port = (uint16_t)c->admin_port,
                             .max_body = 65536, .threads = 1, .name = "admin", .no_cors = true,
                             .max_connections_per_ip = (unsigned)c->http_max_connections_per_ip,
                             .request_timeout_s = (unsigned)c->http_request_timeout_s};
    l->admin = http_server_start(&ac, admin_handle_http, srv);
    ws_server_config wc = {.bind_ip = c->ws_bind, .port = (uint16_t)c->ws_port, .subprotocol = "janus-protocol",
                           .max_message = (size_t)c->ws_max_message,
                           .max_connections_per_ip = (unsigned)c->ws_max_connections_per_ip,
                           .max_messages_per_s = (unsigned)c->ws_max_messages_per_s,
                           .idle_timeout_s = (unsigned)c->ws_idle_timeout_s,
                           .handshake_timeout_s = (unsigned)c->ws_handshake_timeout_s,
                           .max_buffered_total = (size_t)c->ws_max_buffered_total};
    ws_callbacks wcb = {.user = srv->janus, .on_open = janus_core_ws_open, .on_text = janus_core_ws_text,
                        .on_close = janus_core_ws_close};
    l->ws = ws_server_start(&wc, &wcb);
    if (!l->http)
        LOG_ERROR("main", "cannot listen on http %s:%d", c->http_bind, c->http_port);
    if (!l->admin)
        LOG_ERROR("main", "cannot listen on admin %s:%d", c->admin_bind, c->admin_port);
    if (!l->ws)
        LOG_ERROR("main", "cannot listen on websocket %s:%d", c->ws_bind, c->ws_port);
    return l->http && l->admin && l->ws;
}

static void stop_listeners(listeners *l)
{
    if (l->ws)
        ws_server_stop(l->ws);
    if (l->http)
        http_server_stop(l->http);
    if (l->admin)
        http_server_stop(l->admin);
}

static int ensure_dir(const char *path)
{
    if (g_mkdir_with_parents(path, 0750) != 0) {
        LOG_ERROR("main", "cannot create data directory %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int handle_config_action(config_action action, const server_config *cfg, const char *argv0, const char *err)
{
    switch (action) {
    case CONFIG_HELP:
        config_print_help(argv0);
        return 0;
    case CONFIG_VERSION:
        printf("parley %s\n", PARLEY_VERSION);
        return 0;
    case CONFIG_CHECK: {
        static char dump[16384];
        config_dump(cfg, dump, sizeof dump);
        for (const char *w = cfg->warnings; w && *w;) {
            const char *nl = strchr(w, '\n');
            int len = nl ? (int)(nl - w) : (int)strlen(w);
            fprintf(stderr, "parley: warning: %.*s\n", len, w);
            w = nl ? nl + 1 : w + len;
        }
        printf("# configuration is valid; effective settings (secrets masked):\n%s", dump);
        return 0;
    }
    case CONFIG_ERROR:
        fprintf(stderr, "parley: %s\n", err);
        return 2;
    default:
        return -1;
    }
}

/* Each WebSocket and each waiting long-poll holds a descriptor: lift the soft limit to the
 * hard one so the listeners' connection limits are reachable. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            LOG_WARN("main", "cannot raise the open-file limit: %s", strerror(errno));
    }
}

/* limits.max_peers when configured 0: from the descriptors left (RLIMIT_NOFILE after
 * raise_fd_limit, minus those open now and the reserve) and the size of the port range. */
static int derive_max_peers(const server_t *srv, bool log_it)
{
    const server_config *c = srv->config;
    int per_peer = peer_descriptors_per_peer(&srv->peer_cfg);
    struct rlimit rl;
    long long fd_limit = -1;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fd_limit = (long long)rl.rlim_cur;
    int open_now = limits_count_open_fds();
    /* A lite agent takes no port of its own: the range bounds nothing then. */
    int ports = srv->peer_cfg.ice_lite ? 0 : c->media_rtp_port_max - c->media_rtp_port_min + 1;
    int by_fds = 0, by_ports = 0;
    int derived =
        limits_derive_max_peers(fd_limit, open_now, c->limits_fd_reserve, per_peer, ports, &by_fds, &by_ports);
    if (!log_it)
        return derived;
    LOG_NOTICE("main", "limits: max_peers %d%s (descriptors: limit %lld, %d open, reserve %d, %d per PeerConnection "
               "-> %d; ports: %d in media.rtp_port_range, one per local address per PeerConnection -> %d); "
               "per user %d sessions, %d PeerConnections; %d handles per session",
               c->limits_max_peers > 0 ? c->limits_max_peers : derived,
               c->limits_max_peers > 0 ? " (configured)" : " (derived)", fd_limit, open_now, c->limits_fd_reserve,
               per_peer, by_fds, ports, by_ports, c->limits_sessions_per_user, c->limits_peers_per_user,
               c->limits_handles_per_session);
    if (c->limits_max_peers > derived)
        LOG_WARN("main", "limits.max_peers=%d is above what descriptors and ports allow (%d): offers beyond that "
                 "are refused by the descriptor reserve check or get no candidates", c->limits_max_peers, derived);
    return derived;
}

/* The caps of core/limits.h, in force before any request can arrive. */
static limits *start_limits(server_t *srv)
{
    const server_config *c = srv->config;
    limits_config lc = {.sessions_per_user = c->limits_sessions_per_user,
                        .handles_per_session = c->limits_handles_per_session,
                        .peers_per_user = c->limits_peers_per_user,
                        .max_peers = c->limits_max_peers > 0 ? c->limits_max_peers : derive_max_peers(srv, false),
                        .fd_reserve = c->limits_fd_reserve,
                        .fds_per_peer = peer_descriptors_per_peer(&srv->peer_cfg)};
    return limits_create(&lc);
}

/* Once the listeners hold their descriptors: a derived cap is derived again counting them,
 * and the result is logged. */
static void settle_limits(server_t *srv)
{
    int derived = derive_max_peers(srv, true);
    if (srv->config->limits_max_peers == 0)
        limits_set_max_peers(srv->limits, derived);
}

/* Blocks the shutdown signals in every thread (threads inherit the mask) so the main thread
 * can collect them synchronously with sigwait. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int run(server_t *srv)
{
    const server_config *cfg = srv->config;
    sigset_t set;
    block_signals(&set);
    raise_fd_limit();
    if (peer_global_init() != 0) {
        LOG_ERROR("main", "cannot create the DTLS identity");
        return 1;
    }
    if (ensure_dir(cfg->data_dir) != 0)
        return 1;
    push_wiring pw = {0};
    load_vapid(cfg, &pw);
    srv->platform = start_platform(cfg, pw.vapid);
    pw.platform = srv->platform;
    if (!srv->platform || start_push(cfg, &pw) != 0) {
        platform_destroy(srv->platform);
        stop_push(&pw);
        peer_global_deinit();
        return 1;
    }
    int nloops = cfg->loops > 0 ? cfg->loops : (int)g_get_num_processors();
    srv->loops = loop_pool_create_polled(nloops, cfg->loop_epoll, cfg->loop_batch_us);
    fill_peer_config(srv);
    srv->limits = start_limits(srv);
    wire_platform_hooks(srv, &pw);
    janus_core_create(srv, NULL);
    platform_set_chat_listener(srv->platform, on_chat_event, srv);
    listeners l = {0};
    int status = 0;
    if (start_listeners(srv, &l)) {
        settle_limits(srv);
        LOG_NOTICE("main", "parley ready: http %s:%d, websocket %s:%d, admin %s:%d, %d media loops", cfg->http_bind,
                 cfg->http_port, cfg->ws_bind, cfg->ws_port, cfg->admin_bind, cfg->admin_port, nloops);
        char url[320];
        config_web_url(cfg, url, sizeof url);
        LOG_NOTICE("main", "open %s in a browser; Ctrl-C (or SIGTERM) stops the server", url);
        int sig = 0;
        sigwait(&set, &sig);
        LOG_NOTICE("main", "signal %d: shutting down", sig);
    } else {
        status = 1;
    }
    stop_listeners(&l);   /* first: /metrics reads the loops' contexts (ice_lite_mux_stats) */
    platform_set_chat_listener(srv->platform, NULL, NULL);
    janus_core_destroy(srv->janus);
    loop_pool_destroy(srv->loops);
    limits_destroy(srv->limits);   /* after the loops: closing legs release their count */
    srv->limits = NULL;
    stop_push(&pw);                /* before the store closes: dead tokens are queued there */
    platform_destroy(srv->platform);
    peer_global_deinit();
    LOG_NOTICE("main", "bye");
    return status;
}

/* The settings whose rules belong to modules above util/ (the credit packages, the ICE
 * server URIs...) are checked by those modules, here, before anything starts: so
 * --check-config and a start reject the same values with the same message. */
static config_action check_module_settings(config_action action, const server_config *cfg, char *err,
                                           size_t errcap)
{
    if (action != CONFIG_RUN && action != CONFIG_CHECK)
        return action;
    bool ok = transport_config_check(cfg, err, errcap) && platform_config_check(cfg, err, errcap);
    return ok ? action : CONFIG_ERROR;
}

int main(int argc, char **argv)
{
    server_config cfg;
    char err[1024] = "";
    config_action action = config_load(&cfg, argc, argv, environ, err, sizeof err);
    action = check_module_settings(action, &cfg, err, sizeof err);
    int rc = handle_config_action(action, &cfg, argv[0], err);
    if (rc >= 0) {
        config_free(&cfg);
        return rc;
    }
    log_set_level((log_level)log_level_parse(cfg.log_level));
    log_set_json(cfg.log_json);
    log_route_glib();
    for (char *w = cfg.warnings, *nl; w && *w; w = nl + 1) {
        if (!(nl = strchr(w, '\n')))
            break;
        LOG_WARN("config", "%.*s", (int)(nl - w), w);
    }
    server_t srv = {.config = &cfg};
    rc = run(&srv);
    config_free(&cfg);
    return rc;
}
