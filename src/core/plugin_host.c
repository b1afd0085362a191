/*
 * plugin_host: see plugin_host.h. Built-in plugins are linked in and listed in
 * builtin_plugins[]; each is checked against PLUGIN_ABI_VERSION before init.
 */
#include "core/plugin_host.h"

#include <stdlib.h>
#include <string.h>

#include "core/handle_media.h"
#include "core/session.h"
#include "util/log.h"

/* Descriptor getters of the plugins compiled into the binary. */
const plugin_descriptor *echotest_plugin_descriptor(void);

typedef const plugin_descriptor *(*descriptor_getter)(void);
static const descriptor_getter builtin_plugins[] = {
    echotest_plugin_descriptor,
};

struct plugin_entry {
    const plugin_descriptor *desc;
    GAsyncQueue *queue;      /* plugin_message* */
    GThread *thread;
    atomic_int queued;
    bool initialised;
};

struct plugin_host {
    server_t *srv;
    size_t count;
    plugin_entry *entries;
};

typedef struct plugin_message {
    plugin_handle *handle;   /* ref; NULL = stop the thread */
    char *transaction;
    char *body;
    char *jsep;
} plugin_message;

static void message_free(plugin_message *m)
{
    if (m->handle)
        handle_unref(m->handle);
    free(m->transaction);
    free(m->body);
    free(m->jsep);
    free(m);
}

static json_t *plugin_error_data(const plugin_result *r)
{
    json_t *data = json_object();
    json_object_set_new(data, "error_code", json_integer(r->error_code ? r->error_code : 499));
    json_object_set_new(data, "error", json_string(r->error_reason ? r->error_reason : "plugin error"));
    return data;
}

/* Turns a plugin's synchronous result into the event the client waits for. */
static void deliver_result(plugin_message *m, plugin_result *r)
{
    const core_callbacks *core = plugin_host_callbacks();
    if (r->kind == PLUGIN_RESULT_EVENT && r->json) {
        core->push_event(m->handle, m->transaction, r->json, NULL);
    } else if (r->kind == PLUGIN_RESULT_ERROR) {
        json_t *data = plugin_error_data(r);
        char *text = json_dumps(data, JSON_COMPACT);
        json_decref(data);
        core->push_event(m->handle, m->transaction, text, NULL);
        free(text);
    }
    free(r->json);
    free(r->error_reason);
}

static gpointer dispatch_thread(gpointer data)
{
    plugin_entry *pe = data;
    for (;;) {
        plugin_message *m = g_async_queue_pop(pe->queue);
        atomic_fetch_sub(&pe->queued, 1);
        if (!m->handle) {
            message_free(m);
            break;
        }
        plugin_handle *h = m->handle;
        g_mutex_lock(&h->lock);
        void *ps = h->detached ? NULL : h->plugin_session;
        g_mutex_unlock(&h->lock);
        if (ps) {
            plugin_result r = pe->desc->handle_message(ps, m->transaction, m->body, m->jsep);
            deliver_result(m, &r);
        }
        message_free(m);
    }
    return NULL;
}

static bool descriptor_ok(const plugin_descriptor *d)
{
    if (!d || d->abi_version != PLUGIN_ABI_VERSION || d->struct_size < sizeof(plugin_descriptor)) {
        LOG_ERROR("plugins", "plugin %s: ABI version %u (size %u) does not match %u", d ? d->package : "?",
                  d ? d->abi_version : 0, d ? d->struct_size : 0, PLUGIN_ABI_VERSION);
        return false;
    }
    return d->package && d->init && d->create_session && d->handle_message && d->destroy_session;
}

plugin_host *plugin_host_create(server_t *srv, const char *config_dir)
{
    plugin_host *ph = calloc(1, sizeof *ph);
    ph->srv = srv;
    size_t n = sizeof builtin_plugins / sizeof builtin_plugins[0];
    ph->entries = calloc(n, sizeof *ph->entries);
    for (size_t i = 0; i < n; i++) {
        const plugin_descriptor *d = builtin_plugins[i]();
        if (!descriptor_ok(d))
            continue;
        if (d->init(plugin_host_callbacks(), config_dir) != 0) {
            LOG_ERROR("plugins", "plugin %s failed to initialise", d->package);
            continue;
        }
        plugin_entry *pe = &ph->entries[ph->count++];
        pe->desc = d;
        pe->initialised = true;
        pe->queue = g_async_queue_new();
        pe->thread = g_thread_new(d->package, dispatch_thread, pe);
        LOG_INFO("plugins", "loaded %s %s (%s)", d->package, d->version_string, d->name);
    }
    return ph;
}

void plugin_host_destroy(plugin_host *ph)
{
    if (!ph)
        return;
    for (size_t i = 0; i < ph->count; i++) {
        plugin_entry *pe = &ph->entries[i];
        plugin_message *stop = calloc(1, sizeof *stop);
        g_async_queue_push(pe->queue, stop);
        g_thread_join(pe->thread);
        plugin_message *left;
        while ((left = g_async_queue_try_pop(pe->queue)))
            message_free(left);
        g_async_queue_unref(pe->queue);
        if (pe->desc->destroy)
            pe->desc->destroy();
    }
    free(ph->entries);
    free(ph);
}

plugin_entry *plugin_host_find(plugin_host *ph, const char *package)
{
    for (size_t i = 0; i < ph->count; i++)
        if (strcmp(ph->entries[i].desc->package, package) == 0)
            return &ph->entries[i];
    return NULL;
}

const char *plugin_entry_package(const plugin_entry *pe) { return pe->desc->package; }
const plugin_descriptor *plugin_entry_descriptor(const plugin_entry *pe) { return pe->desc; }

json_t *plugin_host_info_json(plugin_host *ph)
{
    json_t *o = json_object();
    for (size_t i = 0; i < ph->count; i++) {
        const plugin_descriptor *d = ph->entries[i].desc;
        json_t *p = json_object();
        json_object_set_new(p, "name", json_string(d->name));
        json_object_set_new(p, "author", json_string(d->author ? d->author : ""));
        json_object_set_new(p, "description", json_string(d->description ? d->description : ""));
        json_object_set_new(p, "version_string", json_string(d->version_string ? d->version_string : ""));
        json_object_set_new(p, "version", json_integer(d->version));
        json_object_set_new(o, d->package, p);
    }
    return o;
}

int plugin_host_create_session(plugin_handle *h)
{
    int error = 0;
    void *ps = h->plugin->desc->create_session(h, &error);
    if (!ps)
        return error ? error : 461;
    g_mutex_lock(&h->lock);
    h->plugin_session = ps;
    g_mutex_unlock(&h->lock);
    return 0;
}

void plugin_host_destroy_session(plugin_handle *h)
{
    g_mutex_lock(&h->lock);
    void *ps = h->plugin_session;
    h->plugin_session = NULL;
    g_mutex_unlock(&h->lock);
    if (ps) {
        int error = 0;
        h->plugin->desc->destroy_session(ps, &error);
    }
}

int plugin_host_queue_message(plugin_handle *h, const char *transaction, const char *body_json, const char *jsep_json)
{
    plugin_entry *pe = h->plugin;
    if (atomic_fetch_add(&pe->queued, 1) >= PLUGIN_QUEUE_MAX) {
        atomic_fetch_sub(&pe->queued, 1);
        return -1;
    }
    plugin_message *m = calloc(1, sizeof *m);
    handle_ref(h);
    m->handle = h;
    m->transaction = transaction ? strdup(transaction) : NULL;
    m->body = body_json ? strdup(body_json) : NULL;
    m->jsep = jsep_json ? strdup(jsep_json) : NULL;
    g_async_queue_push(pe->queue, m);
    return 0;
}

/* ---- core_callbacks ---- */

static int cb_push_event(plugin_handle *h, const char *transaction, const char *event_json, const char *jsep_json)
{
    g_mutex_lock(&h->lock);
    bool detached = h->detached;
    g_mutex_unlock(&h->lock);
    if (detached)
        return -1;
    json_error_t jerr;
    json_t *data = event_json ? json_loads(event_json, 0, &jerr) : json_object();
    if (!data) {
        LOG_WARN("plugins", "%s pushed an event that is not JSON: %s", plugin_entry_package(h->plugin), jerr.text);
        return -1;
    }
    json_t *extra = json_object();
    if (transaction)
        json_object_set_new(extra, "transaction", json_string(transaction));
    json_t *pd = json_object();
    json_object_set_new(pd, "plugin", json_string(plugin_entry_package(h->plugin)));
    json_object_set_new(pd, "data", data);
    json_object_set_new(extra, "plugindata", pd);
    if (jsep_json) {
        json_t *jsep = handle_media_local_jsep(h, jsep_json);
        if (!jsep) {
            json_decref(extra);
            return -1;
        }
        json_object_set_new(extra, "jsep", jsep);
    }
    handle_push(h, "event", extra);
    return 0;
}

static void cb_close_pc(plugin_handle *h) { handle_media_hangup(h, "Close PC", true); }
static void cb_end_handle(plugin_handle *h) { handle_detach(h, true); }
static uint64_t cb_handle_id(plugin_handle *h) { return h->id; }
static uint64_t cb_handle_user_id(plugin_handle *h) { return h->session->user_id; }

static const core_callbacks callbacks = {
    .abi_version = PLUGIN_ABI_VERSION,
    .struct_size = sizeof(core_callbacks),
    .push_event = cb_push_event,
    .relay_rtp = handle_media_relay_rtp,
    .relay_rtcp = handle_media_relay_rtcp,
    .relay_data = handle_media_relay_data,
    .send_pli = handle_media_send_pli,
    .send_remb = handle_media_send_remb,
    .close_pc = cb_close_pc,
    .end_handle = cb_end_handle,
    .handle_ref = handle_ref,
    .handle_unref = handle_unref,
    .handle_id = cb_handle_id,
    .handle_user_id = cb_handle_user_id,
    .handle_loop_index = handle_media_loop_index,
};

const core_callbacks *plugin_host_callbacks(void) { return &callbacks; }
