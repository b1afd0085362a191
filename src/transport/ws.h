/*
 * ws: the WebSocket server for the Janus WebSocket transport (port 8188, subprotocol
 * "janus-protocol"), built on libmicrohttpd's HTTP/1.1 Upgrade support, with frames parsed
 * by the sans-IO proto/ws_frame module.
 *
 * Threads: one ws thread polls every upgraded socket; on_text/on_close run on it and must not
 * block for long. ws_conn_send_text may be called from any thread (it queues the frame,
 * bounded: a connection whose queue overflows is closed, counted, and logged once).
 *
 * Ownership: ws_conn is refcounted. The server holds one reference while the socket is open;
 * a user that keeps the pointer after on_close (e.g. a Janus session remembering its
 * transport) takes its own with ws_conn_ref and drops it with ws_conn_unref. Sending on a
 * closed connection is a harmless no-op returning -1.
 */
#ifndef PARLEY_TRANSPORT_WS_H
#define PARLEY_TRANSPORT_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ws_server ws_server;
typedef struct ws_conn ws_conn;

typedef struct ws_callbacks {
    void *user;
    void (*on_open)(void *user, ws_conn *c);
    /* A complete text message (reassembled from fragments, UTF-8 validated). */
    void (*on_text)(void *user, ws_conn *c, const char *text, size_t len);
    void (*on_close)(void *user, ws_conn *c);
} ws_callbacks;

typedef struct ws_server_config {
    const char *bind_ip;
    uint16_t port;
    const char *subprotocol;   /* required and echoed, e.g. "janus-protocol" */
    size_t max_message;        /* larger messages close the connection with 1009 */
} ws_server_config;

ws_server *ws_server_start(const ws_server_config *cfg, const ws_callbacks *cb);
void ws_server_stop(ws_server *srv);

int ws_conn_send_text(ws_conn *c, const char *text, size_t len);
void ws_conn_close(ws_conn *c, uint16_t code);
void ws_conn_ref(ws_conn *c);
void ws_conn_unref(ws_conn *c);
/* Per-connection user pointer (set by on_open, read by callbacks). */
void ws_conn_set_user(ws_conn *c, void *data);
void *ws_conn_get_user(ws_conn *c);
const char *ws_conn_remote_ip(const ws_conn *c);

#endif
