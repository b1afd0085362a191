/*
 * session: Janus sessions and handles — their lifetimes, the session registry, and event
 * delivery (to the session's WebSocket, or to a bounded queue drained by HTTP long-polls).
 *
 * Ownership and refcounts (take a reference before releasing the lock that found an object;
 * never call out while holding a lock):
 *  - The registry holds one reference on each live session; session_find returns a new one.
 *  - A session holds one reference on each of its handles; handle_find returns a new one.
 *  - A handle holds a reference on its session until the handle is freed.
 *  - session_destroy / handle_detach remove the object from its container (dropping that
 *    reference) and run the plugin's teardown; the memory goes with the last reference.
 * Threads: every function may be called from any thread.
 */
#ifndef PARLEY_CORE_SESSION_H
#define PARLEY_CORE_SESSION_H

#include <glib.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/server.h"
#include "plugin.h"
#include "transport/http.h"
#include "transport/ws.h"

#define SESSION_MAX_QUEUED_EVENTS 2000
#define LONGPOLL_TIMEOUT_S 30

typedef struct janus_session janus_session;
typedef struct handle_media handle_media;   /* core/handle_media.h */
typedef struct plugin_entry plugin_entry;   /* core/plugin_host.h */

struct janus_session {
    uint64_t id;
    atomic_int refs;
    server_t *srv;
    uint64_t user_id;             /* 0 when auth is off */
    atomic_llong last_activity_us;
    GMutex lock;                  /* guards everything below */
    bool destroyed;
    ws_conn *ws;                  /* events go here when set (ref held) */
    GQueue events;                /* char * JSON texts for long-polls */
    GQueue polls;                 /* uint64_t poll ids (GUINT_TO_POINTER-free: boxed) waiting */
    GHashTable *handles;          /* uint64_t id -> plugin_handle * (ref held) */
    char family[64];              /* the device's login family from its token ("" with auth off):
                                     which device is live in the app, for push notifications */
};

/* The core's handle object; plugins see it as the opaque plugin_handle. */
struct plugin_handle {
    uint64_t id;
    atomic_int refs;
    janus_session *session;       /* ref held */
    plugin_entry *plugin;
    struct plugin_session_ref *ps; /* the plugin's state (core/plugin_host.h); NULL after detach */
    char *opaque_id;
    GMutex lock;                  /* guards detached, ps and media setup from request threads */
    bool detached;
    handle_media *media;          /* NULL until the first jsep; owned by the handle */
};

/* Registry (one per janus_core). */
typedef struct session_registry session_registry;
session_registry *session_registry_create(server_t *srv);
void session_registry_destroy(session_registry *reg);  /* destroys every session */

/* Creates a session with a fresh random id (or requested_id when free). NULL if taken. */
janus_session *session_create(session_registry *reg, uint64_t requested_id, uint64_t user_id);
janus_session *session_find(session_registry *reg, uint64_t id);
void session_ref(janus_session *s);
void session_unref(janus_session *s);
void session_touch(janus_session *s);
/* Removes it from the registry, detaches every handle, drops the WebSocket binding. */
void session_destroy(session_registry *reg, janus_session *s);
/* Binds (or rebinds after claim) the session's event channel to ws (NULL = HTTP queue). */
void session_bind_ws(janus_session *s, ws_conn *ws);
/* When ws closes: unbinds every session bound to it (they live on until timeout/claim). */
void session_registry_ws_closed(session_registry *reg, ws_conn *ws);
/* Destroys sessions idle longer than timeout_s after sending them "timeout"; answers
 * long-polls older than LONGPOLL_TIMEOUT_S with a keepalive. Called by the watchdog. */
void session_registry_sweep(session_registry *reg, int timeout_s, int64_t now_us);
/* Snapshot for the admin API: JSON array text, malloc'd. */
char *session_registry_list_json(session_registry *reg);
unsigned session_registry_count(session_registry *reg);

/* Delivers one event (takes ownership of json). Never blocks on the network. */
void session_push_event(janus_session *s, char *json);
/* HTTP long-poll: answers now if events are queued, else parks reply. maxev >= 1; when
 * as_array the answer is a JSON array (the client passed maxev). */
void session_long_poll(session_registry *reg, janus_session *s, http_reply *reply, int maxev, bool as_array);

/* Handles. */
plugin_handle *handle_create(janus_session *s, plugin_entry *plugin, const char *opaque_id, uint64_t requested_id);
plugin_handle *handle_find(janus_session *s, uint64_t id);
void handle_ref(plugin_handle *h);
void handle_unref(plugin_handle *h);
/* Hangs up media, lets the plugin destroy its session, removes h from its session.
 * send_detached: push the "detached" event. */
void handle_detach(plugin_handle *h, bool send_detached);
/* Builds and pushes an event addressed from this handle ({"janus":verb,"session_id",
 * "sender"} + the members of extra (stolen, may be NULL)). */
void handle_push(plugin_handle *h, const char *verb, json_t *extra);

#endif
