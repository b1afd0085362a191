/*
 * plugin_host: the core's side of plugins/plugin.h — the table of built-in plugins, the ABI
 * check at start, one dispatch thread per plugin (its requests, timers and posted work), the
 * lifetime of plugin sessions, and the core_callbacks the plugins call.
 *
 * Plugin sessions (psref): the plugin's state for one handle, wrapped in a reference count and
 * a stopped flag (Janus's plugin.h pattern). The handle holds one reference from
 * create_session until detach; every call into the plugin holds another (the dispatch thread
 * per message, a media leg for the whole life of its PeerConnection). Detach marks it stopped
 * and drops the handle's reference; destroy_session runs when the last reference goes, on
 * that thread, so no call into the plugin can overlap it or follow it.
 *
 * Threads: plugin_host_queue_message / post from any thread (never block: a full queue is
 * refused, so the request gets a Janus 462 error instead of an ack). create_session runs on
 * the calling (request) thread. plugin_host_destroy waits (main thread, at shutdown) until
 * every plugin session is gone before it stops the dispatch threads.
 * Ownership: plugin_host is owned by janus_core; entries live as long as it.
 */
#ifndef PARLEY_CORE_PLUGIN_HOST_H
#define PARLEY_CORE_PLUGIN_HOST_H

#include <jansson.h>
#include <stdatomic.h>

#include "core/server.h"
#include "plugin.h"

#define PLUGIN_QUEUE_MAX 4096

typedef struct plugin_host plugin_host;
typedef struct plugin_entry plugin_entry;

/* A reference-counted plugin session (see above). `session` and `stopped` may be read by any
 * holder of a reference. */
typedef struct plugin_session_ref {
    atomic_int refs;
    atomic_bool stopped;
    void *session;          /* the plugin's state */
    plugin_entry *plugin;
    plugin_handle *handle;  /* reference held until destroy_session returned */
} plugin_session_ref;

plugin_host *plugin_host_create(server_t *srv, const char *config_dir);
void plugin_host_destroy(plugin_host *ph);

plugin_entry *plugin_host_find(plugin_host *ph, const char *package);
const char *plugin_entry_package(const plugin_entry *pe);
const plugin_descriptor *plugin_entry_descriptor(const plugin_entry *pe);
/* {"janus.plugin.echotest":{"name":..,"version":..,...},...} for the info reply. */
json_t *plugin_host_info_json(plugin_host *ph);
/* GET /admin/plugins/<name>: the plugin's admin hook (name = config_section or package). */
char *plugin_host_admin(plugin_host *ph, const char *name, const char *query);

/* Hands a platform event to the plugin `package`'s notify hook (plugin.h); nothing when it
 * has none. Any thread. */
void plugin_host_notify(plugin_host *ph, const char *package, const char *event_json);

/* Creates the plugin's session for h; 0 or a Janus error code. */
int plugin_host_create_session(plugin_handle *h);
/* Stops h's plugin session and drops the handle's reference (destroy_session runs once the
 * last user let go). Idempotent. */
void plugin_host_destroy_session(plugin_handle *h);
/* A new reference on h's live plugin session, or NULL (none, or stopped). The _locked form
 * expects h->lock held. */
plugin_session_ref *plugin_session_get(plugin_handle *h);
plugin_session_ref *plugin_session_get_locked(plugin_handle *h);
void plugin_session_put(plugin_session_ref *ps);
static inline bool plugin_session_live(const plugin_session_ref *ps)
{
    return ps && !atomic_load_explicit(&ps->stopped, memory_order_acquire);
}

/* Queues body/jsep (copied) for the plugin's dispatch thread; -1 when the queue is full. */
int plugin_host_queue_message(plugin_handle *h, const char *transaction, const char *body_json,
                              const char *jsep_json);

/* The callbacks table given to plugins (also used by the core itself). */
const core_callbacks *plugin_host_callbacks(void);

#endif
