/*
 * admin: see admin.h.
 *
 * Every request first passes two checks (docs/observability.md, "Admin port: Host and
 * Origin"):
 *  - Host must name this server: admin.allowed_hosts, the admin.bind address, or any IP
 *    literal when bound to a wildcard address. Otherwise 421 Misdirected Request. This stops
 *    DNS rebinding: a page of attacker.example whose name now resolves to 127.0.0.1 can make
 *    the browser connect here, but the browser still sends Host: attacker.example.
 *  - A state change (POST, PUT, PATCH, DELETE) carrying an Origin that is not one of those
 *    hosts is refused with 403. Browsers send Origin on cross-site POSTs, also the "simple"
 *    ones (text/plain) that need no CORS preflight; curl and Prometheus send none.
 */
#include "core/admin.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/janus_core.h"
#include "core/metrics.h"
#include "core/plugin_host.h"
#include "core/session.h"
#include "transport/http.h"
#include "util/log.h"

#define ADMIN_DEFAULT_ALLOWED_HOSTS "localhost,127.0.0.1,[::1]"

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

/* GET /admin/log/recent[?limit=N]: the logger's ring of recent warnings and errors, oldest
 * first, as [{ts, level, module, msg}]. The entries are copied out of the ring (its lock is
 * held only for that copy) and turned into JSON afterwards. */
static void log_recent_route(const http_request *req, http_reply *r)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        send_error(r, 405, "method_not_allowed", "GET /admin/log/recent");
        return;
    }
    const char *limit_text = http_request_query(req, "limit");
    long limit = limit_text ? strtol(limit_text, NULL, 10) : LOG_RECENT_CAP;
    if (limit < 1 || limit > LOG_RECENT_CAP)
        limit = LOG_RECENT_CAP;
    log_recent_entry *entries = g_new(log_recent_entry, (size_t)limit);
    size_t n = log_recent_copy(entries, (size_t)limit);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        /* A message may hold a peer's bytes or be cut inside a UTF-8 sequence: jansson only
         * takes valid UTF-8, so invalid bytes become U+FFFD as in the JSON log lines. */
        char *msg = g_utf8_make_valid(entries[i].msg, -1);
        char *module = g_utf8_make_valid(entries[i].module, -1);
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s}", "ts", entries[i].ts, "level",
                                              log_level_name(entries[i].level), "module", module, "msg", msg));
        g_free(msg);
        g_free(module);
    }
    g_free(entries);
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    send_json(r, 200, text);
    free(text);
}

/* The console is served with a policy that lets it load only its own files and talk only to
 * this port, and never be framed (it shows operational data; clickjacking it is pointless
 * but framing it is never needed). */
#define CONSOLE_CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
                    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* GET /admin/ (the operator console's page) and /admin/console/<file> (its script and style):
 * static files from <general.web_root>/admin. Read-only, so GET and HEAD only. The file name
 * is joined under that directory and http_reply_send_file refuses any ".." segment, so
 * nothing outside it can be reached (g_build_filename also folds a leading '/' of rest). */
static void console_route(server_t *srv, const http_request *req, http_reply *r, const char *rest)
{
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        send_error(r, 405, "method_not_allowed", "the console is read-only: GET only");
        return;
    }
    const char *root = srv->config && srv->config->web_root ? srv->config->web_root : "./web";
    char *path = g_build_filename(root, "admin", rest, NULL);
    http_reply_add_header(r, "Content-Security-Policy", CONSOLE_CSP);
    http_reply_add_header(r, "X-Content-Type-Options", "nosniff");
    http_reply_add_header(r, "Cache-Control", "no-cache");
    http_reply_send_file(r, path);
    g_free(path);
}

/* A client-supplied header for a log line: printable ASCII only, at most 64 characters. */
static void printable(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in ? in : "(none)"; *p && n + 1 < cap && n < 64; p++)
        out[n++] = (*p >= 0x20 && *p < 0x7f && *p != '"') ? *p : '?';
    out[n] = '\0';
}

static bool state_changing(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0 ||
           strcmp(method, "DELETE") == 0;
}

/* The Host and Origin checks; false when it refused (and answered) the request. */
static bool admin_request_allowed(server_t *srv, const http_request *req, http_reply *r)
{
    static log_ratelimit host_log, origin_log;
    const server_config *c = srv->config;
    const char *allowed = c && c->admin_allowed_hosts ? c->admin_allowed_hosts : ADMIN_DEFAULT_ALLOWED_HOSTS;
    const char *bind = c && c->admin_bind ? c->admin_bind : "127.0.0.1";
    char shown[80];
    const char *host = http_request_header(req, "Host");
    if (!http_host_allowed(host, allowed, bind)) {
        http_refusal_count(HTTP_REFUSAL_ADMIN_HOST);
        printable(host, shown, sizeof shown);
        log_msg_ratelimited(&host_log, LOG_LEVEL_WARN, "admin",
                            "refused %s %s from %s: Host \"%s\" is not in admin.allowed_hosts (421)",
                            req->method, req->path, req->remote_ip, shown);
        send_error(r, 421, "misdirected_request",
                   "this Host is not served by the admin port (see admin.allowed_hosts)");
        return false;
    }
    const char *origin = http_request_header(req, "Origin");
    if (origin && state_changing(req->method) && !http_origin_allowed(origin, allowed, bind)) {
        http_refusal_count(HTTP_REFUSAL_ADMIN_ORIGIN);
        printable(origin, shown, sizeof shown);
        log_msg_ratelimited(&origin_log, LOG_LEVEL_WARN, "admin",
                            "refused a cross-origin %s %s from %s (Origin \"%s\", 403)",
                            req->method, req->path, req->remote_ip, shown);
        send_error(r, 403, "forbidden_origin",
                   "cross-origin requests may not change state on the admin port");
        return false;
    }
    return true;
}

void admin_handle_http(void *user, const http_request *req, http_reply *r)
{
    server_t *srv = user;
    if (!admin_request_allowed(srv, req, r))
        return;
    if (strcmp(req->path, "/metrics") == 0) {
        metrics_route(srv, req, r);
    } else if (strcmp(req->path, "/admin/sessions") == 0) {
        char *list = session_registry_list_json(janus_core_registry(srv->janus));
        send_json(r, 200, list);
        free(list);
    } else if (strcmp(req->path, "/admin/log_level") == 0) {
        log_level_route(req, r);
    } else if (strcmp(req->path, "/admin/log/recent") == 0) {
        log_recent_route(req, r);
    } else if (strncmp(req->path, "/admin/plugins/", 15) == 0) {
        plugin_route(srv, req, r);
    } else if (strcmp(req->path, "/admin") == 0) {
        /* The page's links are absolute, but a bare /admin would resolve relative ones wrongly. */
        http_reply_add_header(r, "Location", "/admin/");
        send_error(r, 308, "moved", "the console is at /admin/");
    } else if (strcmp(req->path, "/admin/") == 0) {
        console_route(srv, req, r, "index.html");
    } else if (strncmp(req->path, "/admin/console/", 15) == 0) {
        console_route(srv, req, r, req->path + 15);
    } else if (strncmp(req->path, "/admin/", 7) == 0 && srv->hooks.handle_admin) {
        srv->hooks.handle_admin(srv->hooks.user, req, r);
    } else {
        send_error(r, 404, "not_found", "no such admin route");
    }
}
