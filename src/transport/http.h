/*
 * http: the HTTP server (libmicrohttpd) for the Janus HTTP transport (/janus...), the platform
 * REST API (/api/v1/...), the admin API and the static demo page.
 *
 * The server is generic: it collects a whole request (bounded body) and hands it to one
 * handler function; the handler answers now or later through an http_reply (long-poll). The
 * connection is suspended in libmicrohttpd meanwhile, so a waiting long-poll holds no thread.
 *
 * Threads: libmicrohttpd runs a small internal thread pool; the handler runs on one of those
 * threads and may block briefly (e.g. waiting for the storage thread's commit). http_reply_*
 * may be called from any thread, exactly once per request (a second call is ignored).
 *
 * Ownership: the http_request and its strings belong to the server and are valid until the
 * handler returns. The http_reply is owned by the server; it stays valid until it has been
 * answered (and the handler must answer every request, or the connection hangs until the
 * client closes it: then http_reply_is_closed() becomes true and answering is a no-op).
 * Answer every reply exactly once even after it closed (after on_close, or after
 * http_server_stop answered it with 503): that no-op answer is what releases it. After the
 * answering call returns, the pointer must not be used again.
 *
 * The server answers bodies over max_body (413) itself without calling the handler. Unless
 * no_cors is set, it also answers OPTIONS (CORS preflight) itself and adds
 * Access-Control-Allow-Origin: * to every response.
 *
 * Every response sent is counted by server name and status code (transport/http_stats.h,
 * read by /metrics).
 *
 * Abuse limits (each refusal counted in http_refusals() and logged, at most one line per
 * reason per second with the number suppressed):
 *  - max_connections_per_ip: a new connection from an address (IPv6: its /64) that already
 *    has that many open is closed at once, before any byte is read (per_ip).
 *  - request_timeout_s: a connection that sends nothing for that long (unfinished request,
 *    idle keep-alive) or does not read its response is closed by libmicrohttpd. A suspended
 *    connection (a waiting long-poll) is exempt, and its clock restarts when it is answered.
 *    Counted (timeout) when a request had started or nothing at all was ever sent; an idle
 *    keep-alive connection closed after its last response is routine and not counted.
 *  - two Content-Length headers with different values: 400 JSON and the connection is
 *    closed (duplicate_content_length), without calling the handler.
 *  - libmicrohttpd's own total connection limit (connection_limit).
 */
#ifndef PARLEY_TRANSPORT_HTTP_H
#define PARLEY_TRANSPORT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_server http_server;
typedef struct http_reply http_reply;

typedef struct http_request {
    const char *method;      /* "GET", "POST", ... */
    const char *path;        /* URL path without the query string, percent-decoded */
    const char *body;        /* NUL-terminated (may contain NULs before body_len) */
    size_t body_len;
    const char *remote_ip;   /* textual client address */
    void *internal;          /* the server's; used by http_request_header/query */
} http_request;

/* Header value (case-insensitive name) or NULL. */
const char *http_request_header(const http_request *req, const char *name);
/* Query-string argument or NULL. */
const char *http_request_query(const http_request *req, const char *name);

typedef void (*http_handler_fn)(void *user, const http_request *req, http_reply *reply);

typedef struct http_server_config {
    const char *bind_ip;     /* "0.0.0.0", "127.0.0.1", "::" ... */
    uint16_t port;
    size_t max_body;         /* larger bodies get 413 without calling the handler */
    unsigned threads;        /* libmicrohttpd thread pool size */
    const char *name;        /* for logs: "http", "admin" */
    bool no_cors;            /* true: no CORS headers, OPTIONS goes to the handler (admin) */
    unsigned max_connections_per_ip;   /* 0 = HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP */
    unsigned request_timeout_s;        /* 0 = HTTP_DEFAULT_REQUEST_TIMEOUT_S */
} http_server_config;

#define HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP 256
#define HTTP_DEFAULT_REQUEST_TIMEOUT_S 30

http_server *http_server_start(const http_server_config *cfg, http_handler_fn handler, void *user);

struct server_config;
/* Checks http.bind, ws.bind and admin.bind with the parse the listeners use at start
 * (transport_parse_bind), through config_check_setting: false with err naming the setting
 * and its source. main.c runs it for --check-config and for a start alike. */
bool transport_config_check(const struct server_config *cfg, char *err, size_t errcap);
void http_server_stop(http_server *srv);   /* answers pending replies with 503 first */

/* Adds a response header to the reply (before http_reply_send). */
void http_reply_add_header(http_reply *r, const char *name, const char *value);
/* Sends the response; body is copied. content_type NULL = "application/json". */
void http_reply_send(http_reply *r, int status, const char *content_type, const char *body,
                     size_t len);
/* Serves a static file (GET) with a content type from its extension; 404 if missing. */
void http_reply_send_file(http_reply *r, const char *path);
bool http_reply_is_closed(const http_reply *r);

/* Long-poll support: called when the client went away before the reply was sent, or when
 * http_server_stop answered the waiting reply with 503 (any thread, at most once, never after
 * the user's own answer). Set at most once, before returning from the handler. fn still has
 * to make sure the reply gets answered (a no-op then) to release it. */
void http_reply_on_close(http_reply *r, void (*fn)(void *arg), void *arg);
/* Called exactly once, on any thread, when the server frees the reply: after it was answered
 * (or closed and answered as a no-op) and after any on_close call has returned. The place to
 * free state that on_close's arg points to. Set before returning from the handler. */
void http_reply_on_release(http_reply *r, void (*fn)(void *arg), void *arg);

/* ---- refusals (process-wide, for /metrics; any thread) ---- */

typedef enum http_refusal {
    HTTP_REFUSAL_PER_IP,                  /* max_connections_per_ip reached */
    HTTP_REFUSAL_TIMEOUT,                 /* closed by request_timeout_s */
    HTTP_REFUSAL_DUPLICATE_CONTENT_LENGTH,/* differing Content-Length headers: 400 */
    HTTP_REFUSAL_CONNECTION_LIMIT,        /* libmicrohttpd's total connection limit */
    HTTP_REFUSAL_ADMIN_HOST,              /* admin port: Host not allowed (core/admin.c) */
    HTTP_REFUSAL_ADMIN_ORIGIN,            /* admin port: cross-origin state change (core/admin.c) */
    HTTP_REFUSAL_COUNT
} http_refusal;

/* The metric label: "per_ip", "timeout", "duplicate_content_length", "connection_limit",
 * "admin_host", "admin_origin". */
const char *http_refusal_name(http_refusal reason);
void http_refusal_count(http_refusal reason);
uint64_t http_refusals(http_refusal reason);

/* ---- Host and Origin checks (pure; the admin port uses them against DNS rebinding and
 * cross-site requests) ----
 *
 * allowed: comma-separated host names or IP literals (IPv6 in brackets or not), compared
 * case-insensitively, without ports. bind_ip: the server's bind address, also allowed; when
 * it is a wildcard ("0.0.0.0", "::", empty), any IP-literal host is allowed too (a literal
 * address cannot be a rebound DNS name, and Prometheus sends the target address).
 *
 * http_host_allowed: host_header is the Host value ("name", "name:port", "[v6]:port");
 * NULL (no Host, HTTP/1.0) is allowed: a browser always sends one.
 * http_origin_allowed: origin is an Origin value ("scheme://host[:port]"); "null" and
 * anything malformed are not allowed. */
bool http_host_allowed(const char *host_header, const char *allowed, const char *bind_ip);
bool http_origin_allowed(const char *origin, const char *allowed, const char *bind_ip);

#endif
