/*
 * janus_core: see janus_core.h. One function per verb; the reply is always sent on the
 * transport the request came from before any asynchronous work is queued, so a client sees
 * "ack" before the plugin's event on the same WebSocket.
 */
#include "core/janus_core.h"

#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "core/handle_media.h"
#include "core/limits.h"
#include "core/plugin_host.h"
#include "core/session.h"
#include "proto/janus_api.h"
#include "util/log.h"

struct janus_core {
    server_t *srv;
    session_registry *sessions;
    plugin_host *plugins;
    GThread *watchdog;
    GMutex stop_lock;
    GCond stop_cond;
    bool stopping;
};

/* Where the answer to the request being processed goes. */
typedef struct origin {
    ws_conn *ws;
    http_reply *http;
} origin;

static void reply(origin *o, char *json)
{
    if (o->ws)
        ws_conn_send_text(o->ws, json, strlen(json));
    else
        http_reply_send(o->http, 200, "application/json", json, strlen(json));
    free(json);
}

static void reply_error(janus_core *jc, origin *o, uint64_t session_id, const char *transaction, int code,
                        const char *reason)
{
    atomic_fetch_add(&jc->srv->counters.janus_errors, 1);
    LOG_DEBUG("janus", "error %d: %s", code, reason ? reason : janus_error_default_reason(code));
    reply(o, janus_build_error(session_id, transaction, code, reason));
}

static char *info_json(janus_core *jc, const char *transaction)
{
    const server_config *cfg = jc->srv->config;
    json_t *o = json_object();
    json_object_set_new(o, "janus", json_string("server_info"));
    if (transaction)
        json_object_set_new(o, "transaction", json_string(transaction));
    json_object_set_new(o, "name", json_string("parley"));
    json_object_set_new(o, "version", json_integer(100));
    json_object_set_new(o, "version_string", json_string(PARLEY_VERSION));
    json_object_set_new(o, "author", json_string("parley contributors"));
    json_object_set_new(o, "commit-hash", json_string("n/a"));
    json_object_set_new(o, "compile-time", json_string(__DATE__ " " __TIME__));
    json_object_set_new(o, "data_channels", json_true());
    json_object_set_new(o, "ipv6", json_boolean(cfg->media_ipv6));
    json_object_set_new(o, "full-trickle", json_true());
    json_object_set_new(o, "session-timeout", json_integer(cfg->session_timeout));
    json_object_set_new(o, "api_secret", json_false());
    json_object_set_new(o, "auth_token", json_boolean(cfg->auth_required));
    json_object_set_new(o, "local-ip", json_string(cfg->media_bind_ips));
    json_t *transports = json_object();
    json_object_set_new(transports, "janus.transport.http", json_pack("{s:s}", "name", "HTTP transport"));
    json_object_set_new(transports, "janus.transport.websockets", json_pack("{s:s}", "name", "WebSocket transport"));
    json_object_set_new(o, "transports", transports);
    json_object_set_new(o, "plugins", plugin_host_info_json(jc->plugins));
    /* Not Janus's: the payment provider, and a warning an operator must not miss. */
    json_object_set_new(o, "payment_provider", json_string(cfg->billing_payment_provider));
    if (strcmp(cfg->billing_payment_provider, "dev") == 0)
        json_object_set_new(o, "warnings", json_pack("[s]", "payment provider dev: purchases complete "
                                                     "without payment; never in production"));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* 0 and *user_id when the request may proceed. Opening or claiming a session needs a live
 * access token; requests on a session the user already holds accept an expired one while the
 * device's login is live, so a call is not cut when the 15-minute token runs out. */
static int check_auth(janus_core *jc, const janus_request *req, uint64_t *user_id)
{
    *user_id = 0;
    if (!jc->srv->config->auth_required || req->verb == JANUS_VERB_INFO || req->verb == JANUS_VERB_PING)
        return 0;
    const platform_hooks *hk = &jc->srv->hooks;
    if (!req->token || !hk->verify_access_token || !hk->verify_session_token)
        return -1;
    if (req->level == JANUS_LEVEL_ROOT || req->verb == JANUS_VERB_CLAIM)
        return hk->verify_access_token(hk->user, req->token, user_id);
    return hk->verify_session_token(hk->user, req->token, user_id);
}

/* A refusal of core/limits.h as the Janus error code. */
static void reply_limit(janus_core *jc, origin *o, uint64_t session_id, const char *transaction, int code,
                        limit_kind k, uint64_t user_id)
{
    char reason[128];
    limits_reason(jc->srv->limits, k, user_id, reason, sizeof reason);
    reply_error(jc, o, session_id, transaction, code, reason);
}

static void remember_family(janus_core *jc, janus_session *s, const char *token);

static void do_create(janus_core *jc, origin *o, janus_request *req, uint64_t user_id)
{
    /* 472 as Janus answers when it does not accept sessions: janus.js hands the reason to the
     * app's error callback, and 403 would read as a bad token (re-login loops). */
    limit_kind k = limits_session_acquire(jc->srv->limits, user_id);
    if (k != LIMIT_NONE) {
        reply_limit(jc, o, 0, req->transaction, JANUS_ERROR_NOT_ACCEPTING_SESSIONS, k, user_id);
        return;
    }
    janus_session *s = session_create(jc->sessions, req->requested_id, user_id);
    if (!s) {
        limits_session_release(jc->srv->limits, user_id);
        reply_error(jc, o, 0, req->transaction, JANUS_ERROR_SESSION_CONFLICT, NULL);
        return;
    }
    if (o->ws)
        session_bind_ws(s, o->ws);
    if (user_id)
        remember_family(jc, s, req->token);
    if (user_id && jc->srv->hooks.session_opened)
        jc->srv->hooks.session_opened(jc->srv->hooks.user, user_id);
    LOG_DEBUG("janus", "session %" G_GUINT64_FORMAT " created", s->id);
    reply(o, janus_build_success_id(0, req->transaction, s->id));
    session_unref(s);
}

static void do_attach(janus_core *jc, origin *o, janus_request *req, janus_session *s)
{
    plugin_entry *pe = plugin_host_find(jc->plugins, req->plugin);
    if (!pe) {
        reply_error(jc, o, s->id, req->transaction, JANUS_ERROR_PLUGIN_NOT_FOUND, NULL);
        return;
    }
    limit_kind k = limits_handle_acquire(jc->srv->limits, s->id);
    if (k != LIMIT_NONE) {
        reply_limit(jc, o, s->id, req->transaction, JANUS_ERROR_PLUGIN_ATTACH, k, s->user_id);
        return;
    }
    /* From here the count is the handle's: handle_detach gives it back. */
    plugin_handle *h = handle_create(s, pe, req->opaque_id, req->requested_id);
    if (!h) {
        limits_handle_release(jc->srv->limits, s->id);
        reply_error(jc, o, s->id, req->transaction, JANUS_ERROR_PLUGIN_ATTACH, "Could not create handle");
        return;
    }
    int rc = plugin_host_create_session(h);
    if (rc) {
        handle_detach(h, false);
        handle_unref(h);
        reply_error(jc, o, s->id, req->transaction, JANUS_ERROR_PLUGIN_ATTACH, "Error attaching plugin");
        return;
    }
    reply(o, janus_build_success_id(s->id, req->transaction, h->id));
    handle_unref(h);
}

/* Which device (login family) holds the session: plugins exclude live devices from pushes. */
static void remember_family(janus_core *jc, janus_session *s, const char *token)
{
    const platform_hooks *hk = &jc->srv->hooks;
    char family[sizeof s->family] = "";
    if (!token || !hk->token_family || hk->token_family(hk->user, token, family, sizeof family) != 0)
        return;
    g_mutex_lock(&s->lock);
    memcpy(s->family, family, sizeof family);
    g_mutex_unlock(&s->lock);
}

static void do_claim(janus_core *jc, origin *o, janus_request *req, janus_session *s, uint64_t user_id)
{
    if (jc->srv->config->auth_required && s->user_id != user_id) {
        reply_error(jc, o, s->id, req->transaction, JANUS_ERROR_UNAUTHORIZED, "Session belongs to another user");
        return;
    }
    /* Reply before rebinding: the success goes on the new socket, then queued events. */
    reply(o, janus_build_success(s->id, req->transaction, 0));
    session_bind_ws(s, o->ws);
    remember_family(jc, s, req->token);
}

static void do_message(janus_core *jc, origin *o, janus_request *req, plugin_handle *h)
{
    char *plugin_jsep = NULL;
    if (req->jsep) {
        janus_error err = {0};
        if (handle_media_remote_jsep(h, req->jsep_type, req->jsep_sdp, req->jsep_ice_restart, &plugin_jsep, &err) != 0) {
            reply_error(jc, o, h->session->id, req->transaction, err.code, err.reason);
            return;
        }
    }
    char *body = json_dumps(req->body, JSON_COMPACT);
    reply(o, janus_build_ack(h->session->id, req->transaction, req->jsep ? "I'm taking my time!" : NULL));
    if (plugin_host_queue_message(h, req->transaction, body, plugin_jsep) != 0) {
        LOG_WARN("janus", "plugin %s queue full: message dropped", plugin_entry_package(h->plugin));
        json_t *extra = json_pack("{s:s,s:{s:s,s:{s:i,s:s}}}", "transaction", req->transaction, "plugindata",
                                  "plugin", plugin_entry_package(h->plugin), "data", "error_code", 462, "error",
                                  "Plugin busy, try again");
        handle_push(h, "event", extra);
    }
    free(body);
    free(plugin_jsep);
}

static void do_trickle(janus_core *jc, origin *o, janus_request *req, plugin_handle *h)
{
    janus_error err = {0};
    if (handle_media_trickle(h, req->candidate, req->candidates, &err) != 0) {
        reply_error(jc, o, h->session->id, req->transaction, err.code, err.reason);
        return;
    }
    reply(o, janus_build_ack(h->session->id, req->transaction, NULL));
}

static void do_handle_verb(janus_core *jc, origin *o, janus_request *req, plugin_handle *h)
{
    janus_session *s = h->session;
    switch (req->verb) {
    case JANUS_VERB_MESSAGE:
        do_message(jc, o, req, h);
        break;
    case JANUS_VERB_TRICKLE:
        do_trickle(jc, o, req, h);
        break;
    case JANUS_VERB_DETACH:
        reply(o, janus_build_success(s->id, req->transaction, 0));
        handle_detach(h, true);
        break;
    case JANUS_VERB_HANGUP:
        reply(o, janus_build_success(s->id, req->transaction, 0));
        handle_media_hangup(h, "Janus API", true);
        break;
    default:
        reply(o, janus_build_pong(req->transaction));
        break;
    }
}

static void do_session_level(janus_core *jc, origin *o, janus_request *req, janus_session *s, uint64_t user_id)
{
    switch (req->verb) {
    case JANUS_VERB_KEEPALIVE:
        reply(o, janus_build_ack(s->id, req->transaction, NULL));
        break;
    case JANUS_VERB_CLAIM:
        do_claim(jc, o, req, s, user_id);
        break;
    case JANUS_VERB_ATTACH:
        do_attach(jc, o, req, s);
        break;
    case JANUS_VERB_DESTROY:
        reply(o, janus_build_success(s->id, req->transaction, 0));
        session_destroy(jc->sessions, s);
        break;
    default:
        reply(o, janus_build_pong(req->transaction));
        break;
    }
}

/* Janus's order: unknown session (458), unknown handle (459), then the verb and its fields. */
static void do_session_verb(janus_core *jc, origin *o, janus_request *req, uint64_t user_id)
{
    janus_session *s = session_find(jc->sessions, req->session_id);
    if (!s) {
        reply_error(jc, o, 0, req->transaction, JANUS_ERROR_SESSION_NOT_FOUND, "No such session");
        return;
    }
    plugin_handle *h = NULL;
    janus_error err = {0};
    if (jc->srv->config->auth_required && s->user_id != user_id && req->verb != JANUS_VERB_CLAIM) {
        reply_error(jc, o, s->id, req->transaction, JANUS_ERROR_UNAUTHORIZED, "Session belongs to another user");
    } else if (req->level == JANUS_LEVEL_HANDLE && !(h = handle_find(s, req->handle_id))) {
        reply_error(jc, o, s->id, req->transaction, JANUS_ERROR_HANDLE_NOT_FOUND, "No such handle in this session");
    } else if (janus_request_check(req, &err) != 0) {
        reply_error(jc, o, s->id, req->transaction, err.code, err.reason);
    } else {
        session_touch(s);
        if (h)
            do_handle_verb(jc, o, req, h);
        else
            do_session_level(jc, o, req, s, user_id);
    }
    if (h)
        handle_unref(h);
    session_unref(s);
}

static void process(janus_core *jc, origin *o, const char *text, size_t len, const janus_path *path)
{
    atomic_fetch_add(&jc->srv->counters.janus_requests, 1);
    janus_request req;
    janus_error err;
    if (janus_request_parse(text, len, path, &req, &err) != 0) {
        uint64_t sid = path && path->from_path ? path->session_id : 0;
        reply_error(jc, o, sid, err.transaction, err.code, err.reason);
        janus_request_clear(&req);
        return;
    }
    uint64_t user_id = 0;
    if (check_auth(jc, &req, &user_id) != 0) {
        reply_error(jc, o, req.session_id, req.transaction, JANUS_ERROR_UNAUTHORIZED, NULL);
    } else if (req.verb == JANUS_VERB_INFO) {
        reply(o, info_json(jc, req.transaction));
    } else if (req.verb == JANUS_VERB_PING && req.level == JANUS_LEVEL_ROOT) {
        reply(o, janus_build_pong(req.transaction));
    } else if (req.verb == JANUS_VERB_CREATE) {
        do_create(jc, o, &req, user_id);
    } else {
        do_session_verb(jc, o, &req, user_id);
    }
    janus_request_clear(&req);
}

/* ---- HTTP ---- */

static void http_long_poll(janus_core *jc, const http_request *req, http_reply *r, const janus_path *path)
{
    origin o = {.http = r};
    if (path->handle_id) {
        reply_error(jc, &o, path->session_id, NULL, JANUS_ERROR_INVALID_REQUEST_PATH, "Unhandled request at this path");
        return;
    }
    uint64_t uid = 0;
    if (jc->srv->config->auth_required) {
        const char *token = http_request_query(req, "token");
        const platform_hooks *hk = &jc->srv->hooks;
        if (!token || !hk->verify_session_token || hk->verify_session_token(hk->user, token, &uid) != 0) {
            reply_error(jc, &o, path->session_id, NULL, JANUS_ERROR_UNAUTHORIZED, NULL);
            return;
        }
    }
    janus_session *s = session_find(jc->sessions, path->session_id);
    if (!s) {
        reply_error(jc, &o, 0, NULL, JANUS_ERROR_SESSION_NOT_FOUND, "No such session");
        return;
    }
    if (jc->srv->config->auth_required && s->user_id != uid) {
        reply_error(jc, &o, s->id, NULL, JANUS_ERROR_UNAUTHORIZED, "Session belongs to another user");
        session_unref(s);
        return;
    }
    session_touch(s);
    const char *maxev_s = http_request_query(req, "maxev");
    int maxev = maxev_s ? atoi(maxev_s) : 1;
    if (maxev < 1)
        maxev = 1;
    if (maxev > 100)
        maxev = 100;
    session_long_poll(jc->sessions, s, r, maxev, maxev_s != NULL);
    session_unref(s);
}

void janus_core_http(janus_core *jc, const http_request *req, http_reply *r)
{
    origin o = {.http = r};
    if (strcmp(req->path, "/janus/info") == 0 && strcmp(req->method, "GET") == 0) {
        reply(&o, info_json(jc, NULL));
        return;
    }
    janus_path path;
    janus_error err;
    if (janus_path_parse(req->path, &path, &err) != 0) {
        /* Janus still echoes the body's transaction on a bad path. */
        json_t *body = req->body_len ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
        const char *tr = json_string_value(json_object_get(body, "transaction"));
        reply_error(jc, &o, 0, tr, err.code, err.reason);
        json_decref(body);
        return;
    }
    if (strcmp(req->method, "GET") == 0) {
        if (!path.session_id) {
            reply_error(jc, &o, 0, NULL, JANUS_ERROR_INVALID_REQUEST_PATH, "Unhandled request at this path");
            return;
        }
        http_long_poll(jc, req, r, &path);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        reply_error(jc, &o, 0, NULL, JANUS_ERROR_TRANSPORT_SPECIFIC, "Unsupported method");
        return;
    }
    process(jc, &o, req->body, req->body_len, &path);
}

/* ---- WebSocket ---- */

void janus_core_ws_open(void *user, ws_conn *c) { LOG_DEBUG("janus", "websocket from %s", ws_conn_remote_ip(c)); }

void janus_core_ws_text(void *user, ws_conn *c, const char *text, size_t len)
{
    origin o = {.ws = c};
    janus_path path = {.from_path = false};
    process(user, &o, text, len, &path);
}

void janus_core_ws_close(void *user, ws_conn *c)
{
    janus_core *jc = user;
    session_registry_ws_closed(jc->sessions, c);
}

/* ---- lifetime ---- */

static gpointer watchdog_main(gpointer data)
{
    janus_core *jc = data;
    g_mutex_lock(&jc->stop_lock);
    while (!jc->stopping) {
        gint64 deadline = g_get_monotonic_time() + G_USEC_PER_SEC / 2;
        g_cond_wait_until(&jc->stop_cond, &jc->stop_lock, deadline);
        if (jc->stopping)
            break;
        g_mutex_unlock(&jc->stop_lock);
        session_registry_sweep(jc->sessions, jc->srv->config->session_timeout, g_get_monotonic_time());
        g_mutex_lock(&jc->stop_lock);
    }
    g_mutex_unlock(&jc->stop_lock);
    return NULL;
}

janus_core *janus_core_create(server_t *srv, const char *plugin_config_dir)
{
    janus_core *jc = calloc(1, sizeof *jc);
    jc->srv = srv;
    srv->janus = jc;
    jc->sessions = session_registry_create(srv);
    jc->plugins = plugin_host_create(srv, plugin_config_dir);
    g_mutex_init(&jc->stop_lock);
    g_cond_init(&jc->stop_cond);
    jc->watchdog = g_thread_new("janus-watchdog", watchdog_main, jc);
    return jc;
}

void janus_core_destroy(janus_core *jc)
{
    if (!jc)
        return;
    g_mutex_lock(&jc->stop_lock);
    jc->stopping = true;
    g_cond_signal(&jc->stop_cond);
    g_mutex_unlock(&jc->stop_lock);
    g_thread_join(jc->watchdog);
    session_registry_destroy(jc->sessions);
    plugin_host_destroy(jc->plugins);
    g_mutex_clear(&jc->stop_lock);
    g_cond_clear(&jc->stop_cond);
    jc->srv->janus = NULL;
    free(jc);
}

session_registry *janus_core_registry(janus_core *jc) { return jc->sessions; }
plugin_host *janus_core_plugins(janus_core *jc) { return jc->plugins; }
