/*
 * janus_core: the Janus API v1 server logic — takes a request (from the HTTP or WebSocket
 * transport), checks auth, runs it against sessions/handles/plugins, and answers on the same
 * transport; events flow back through session.c. Also the watchdog thread (session timeouts,
 * long-poll keepalives).
 *
 * Threads: janus_core_http runs on HTTP threads, janus_core_ws_* on the ws thread; both
 * only do bookkeeping and queueing (plugins run on their dispatch threads, media on loops).
 * Ownership: janus_core owns the session registry and the plugin host.
 */
#ifndef PARLEY_CORE_JANUS_CORE_H
#define PARLEY_CORE_JANUS_CORE_H

#include "core/server.h"
#include "transport/http.h"
#include "transport/ws.h"

typedef struct session_registry session_registry;
typedef struct plugin_host plugin_host;

janus_core *janus_core_create(server_t *srv, const char *plugin_config_dir);
void janus_core_destroy(janus_core *jc);

session_registry *janus_core_registry(janus_core *jc);
plugin_host *janus_core_plugins(janus_core *jc);

/* Any request whose path is /janus or below. */
void janus_core_http(janus_core *jc, const http_request *req, http_reply *reply);

/* WebSocket transport callbacks (ws_callbacks.user = jc). */
void janus_core_ws_open(void *jc, ws_conn *c);
void janus_core_ws_text(void *jc, ws_conn *c, const char *text, size_t len);
void janus_core_ws_close(void *jc, ws_conn *c);

#endif
