/*
 * plugin_host: the core's side of plugins/plugin.h — the table of built-in plugins, the ABI
 * check at start, one bounded message queue + dispatch thread per plugin, and the
 * core_callbacks the plugins call.
 *
 * Threads: plugin_host_queue_message from any thread (never blocks: a full queue is refused
 * so the request gets a Janus 462 error instead of an ack); handle_message then runs on the
 * plugin's dispatch thread. create/destroy_session run on the calling (request) thread.
 * Ownership: plugin_host is owned by janus_core; entries live as long as it.
 */
#ifndef PARLEY_CORE_PLUGIN_HOST_H
#define PARLEY_CORE_PLUGIN_HOST_H

#include <jansson.h>

#include "core/server.h"
#include "plugin.h"

#define PLUGIN_QUEUE_MAX 4096

typedef struct plugin_host plugin_host;
typedef struct plugin_entry plugin_entry;

plugin_host *plugin_host_create(server_t *srv, const char *config_dir);
void plugin_host_destroy(plugin_host *ph);

plugin_entry *plugin_host_find(plugin_host *ph, const char *package);
const char *plugin_entry_package(const plugin_entry *pe);
const plugin_descriptor *plugin_entry_descriptor(const plugin_entry *pe);
/* {"janus.plugin.echotest":{"name":..,"version":..,...},...} for the info reply. */
json_t *plugin_host_info_json(plugin_host *ph);

/* Creates the plugin's session for h; 0 or a Janus error code. */
int plugin_host_create_session(plugin_handle *h);
void plugin_host_destroy_session(plugin_handle *h);
/* Queues body/jsep (copied) for the plugin's dispatch thread; -1 when the queue is full. */
int plugin_host_queue_message(plugin_handle *h, const char *transaction, const char *body_json,
                              const char *jsep_json);

/* The callbacks table given to plugins (also used by the core itself). */
const core_callbacks *plugin_host_callbacks(void);

#endif
