/*
 * ws: the WebSocket server for the Janus WebSocket transport (port 8188, subprotocol
 * "janus-protocol"), built on libmicrohttpd's HTTP/1.1 Upgrade support, with frames parsed
 * by the sans-IO proto/ws_frame module.
 *
 * Threads: one ws thread polls every upgraded socket; on_text/on_close run on it and must not
 * block for long (Janus requests are in-memory work: measured well under a millisecond each;
 * ws_stats.handler_max_us keeps the longest seen). ws_conn_send_text may be called from any thread (it queues the frame,
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
    /* Abuse limits (0 = the default in parentheses). See docs/observability.md. */
    unsigned max_connections_per_ip;   /* (64) more upgrades from one address answer 429 */
    unsigned max_messages_per_s;       /* (200, burst twice that) per connection; beyond it the
                                        * socket is not read for a while; several seconds far
                                        * beyond it close the connection with 1008 */
    unsigned idle_timeout_s;           /* (120) no complete message for that long: closed 1001 */
    unsigned handshake_timeout_s;      /* (10) no complete message since the upgrade: closed 1001 */
    size_t max_buffered_total;         /* (64 MiB) reassembly bytes of all connections; beyond
                                        * it the largest unfinished message's connection is
                                        * closed with 1008 */
} ws_server_config;

/* Fairness: the ws thread serves each ready connection at most WS_TURN_MESSAGES messages or
 * WS_TURN_BYTES read bytes per turn, then the next one; a connection with input left waits
 * for its next turn (remembered, as the epoll set is edge-triggered). */
#define WS_TURN_MESSAGES 32
#define WS_TURN_BYTES (64u * 1024)

/* Why a connection was refused or closed by a limit (labels of parley_ws_refusals_total). */
typedef enum ws_refusal {
    WS_REFUSE_PER_IP = 0,        /* upgrade over max_connections_per_ip */
    WS_REFUSE_FLOOD,             /* far beyond max_messages_per_s for several seconds */
    WS_REFUSE_IDLE,              /* idle_timeout_s */
    WS_REFUSE_HANDSHAKE,         /* handshake_timeout_s */
    WS_REFUSE_BUFFERED,          /* max_buffered_total */
    WS_REFUSE_TOO_BIG,           /* a message over max_message (1009) */
    WS_REFUSE_OVERFLOW,          /* outgoing queue overflow (a client that does not read) */
    WS_REFUSE_COUNT
} ws_refusal;

const char *ws_refusal_name(ws_refusal r);

/* Process-wide figures for /metrics (any thread; relaxed reads). */
typedef struct ws_stats {
    uint64_t connections;              /* open upgraded connections now */
    uint64_t buffered_bytes;           /* reassembly and unread-input bytes held now */
    uint64_t throttled;                /* times a connection ran out of message tokens */
    uint64_t refusals[WS_REFUSE_COUNT];
    uint64_t handler_max_us;           /* longest on_text so far */
} ws_stats;

void ws_stats_get(ws_stats *out);

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
