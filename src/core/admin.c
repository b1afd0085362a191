/*
 * admin: see admin.h.
 */
#include "core/admin.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/platform.h"
#include "core/janus_core.h"
#include "core/metrics.h"
#include "core/plugin_host.h"
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

static void metrics_route(server_t *srv, const http_request *req, http_reply *r)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        send_error(r, 405, "method_not_allowed", "GET /metrics");
        return;
    }
    size_t len = 0;
    char *text = metrics_render(srv, &len);
    http_reply_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    g_free(text);
}

/* GET /admin/plugins/<section or package>[?q=...]: the plugin's own admin hook. */
static void plugin_route(server_t *srv, const http_request *req, http_reply *r)
{
    char *text = plugin_host_admin(janus_core_plugins(srv->janus), req->path + 15, http_request_query(req, "q"));
    if (!text) {
        send_error(r, 404, "not_found", "no such plugin, or it has no admin view");
        return;
    }
    send_json(r, 200, text);
    free(text);
}

void admin_handle_http(void *user, const http_request *req, http_reply *r)
{
    server_t *srv = user;
    if (strcmp(req->path, "/metrics") == 0) {
        metrics_route(srv, req, r);
    } else if (strcmp(req->path, "/admin/sessions") == 0) {
        char *list = session_registry_list_json(janus_core_registry(srv->janus));
        send_json(r, 200, list);
        free(list);
    } else if (strcmp(req->path, "/admin/log_level") == 0) {
        log_level_route(req, r);
    } else if (strncmp(req->path, "/admin/plugins/", 15) == 0) {
        plugin_route(srv, req, r);
    } else if (strncmp(req->path, "/admin/", 7) == 0 && srv->platform) {
        platform_handle_admin(srv->platform, req, r);
    } else {
        send_error(r, 404, "not_found", "no such admin route");
    }
}
