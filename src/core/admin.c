/*
 * admin: see admin.h.
 */
#include "core/admin.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/platform.h"
#include "build_config.h"
#include "core/janus_core.h"
#include "core/session.h"
#include "util/log.h"

static void send_json(http_reply *r, int status, const char *body)
{
    http_reply_send(r, status, "application/json", body, strlen(body));
}

static void send_error(http_reply *r, int status, const char *code, const char *message)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    send_json(r, status, text);
    free(text);
}

static void log_level_route(const http_request *req, http_reply *r)
{
    if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
        json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
        const char *name = body ? json_string_value(json_object_get(body, "level")) : NULL;
        int level = log_level_parse(name);
        json_decref(body);
        if (level < 0) {
            send_error(r, 422, "invalid_level", "level must be error, warn, info, debug or trace");
            return;
        }
        log_set_level((log_level)level);
        LOG_WARN("admin", "log level set to %s", log_level_name((log_level)level));
    }
    char body[64];
    snprintf(body, sizeof body, "{\"level\":\"%s\"}", log_level_name(log_get_level()));
    send_json(r, 200, body);
}

#define COUNTER(out, name, help, value)                                                                     \
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,       \
                           (unsigned long long)(value))

static void metrics_route(server_t *srv, http_reply *r)
{
    GString *out = g_string_new(NULL);
    server_counters *c = &srv->counters;
    g_string_append_printf(out, "# HELP parley_build_info Build information.\n# TYPE parley_build_info gauge\n"
                                "parley_build_info{version=\"%s\"} 1\n", PARLEY_VERSION);
    g_string_append_printf(out, "# HELP parley_sessions Live Janus sessions.\n# TYPE parley_sessions gauge\n"
                                "parley_sessions %u\n", session_registry_count(janus_core_registry(srv->janus)));
    COUNTER(out, "parley_sessions_created_total", "Janus sessions created.", atomic_load(&c->sessions_created));
    COUNTER(out, "parley_sessions_timed_out_total", "Janus sessions expired.", atomic_load(&c->sessions_timed_out));
    COUNTER(out, "parley_handles_created_total", "Plugin handles attached.", atomic_load(&c->handles_created));
    COUNTER(out, "parley_janus_requests_total", "Janus API requests.", atomic_load(&c->janus_requests));
    COUNTER(out, "parley_janus_errors_total", "Janus API error replies.", atomic_load(&c->janus_errors));
    COUNTER(out, "parley_events_dropped_total", "Events dropped from full session queues.", atomic_load(&c->events_dropped));
    COUNTER(out, "parley_peers_created_total", "PeerConnections created.", atomic_load(&c->peers_created));
    COUNTER(out, "parley_peers_failed_total", "PeerConnections that failed (ICE or DTLS).", atomic_load(&c->peers_failed));
    COUNTER(out, "parley_webrtcup_total", "PeerConnections that became secure.", atomic_load(&c->webrtcup));
    http_reply_send(r, 200, "text/plain; version=0.0.4", out->str, out->len);
    g_string_free(out, TRUE);
}

void admin_handle_http(void *user, const http_request *req, http_reply *r)
{
    server_t *srv = user;
    if (strcmp(req->path, "/metrics") == 0) {
        metrics_route(srv, r);
    } else if (strcmp(req->path, "/admin/sessions") == 0) {
        char *list = session_registry_list_json(janus_core_registry(srv->janus));
        send_json(r, 200, list);
        free(list);
    } else if (strcmp(req->path, "/admin/log_level") == 0) {
        log_level_route(req, r);
    } else if (strncmp(req->path, "/admin/", 7) == 0 && srv->platform) {
        platform_handle_admin(srv->platform, req, r);
    } else {
        send_error(r, 404, "not_found", "no such admin route");
    }
}
