/*
 * plugin_host: see plugin_host.h. Built-in plugins are linked in and listed in
 * builtin_plugins[]; each is checked against PLUGIN_ABI_VERSION before init.
 *
 * Each plugin's dispatch thread runs a GMainContext of its own: queued requests, post() and
 * timers are sources on it, so everything a plugin does on "its thread" is serialised and a
 * plugin keeps its control state without locks.
 */
#include "core/plugin_host.h"

#include <stdlib.h>
#include <string.h>

#include "core/handle_media.h"
#include "core/plugin_sdp.h"
#include "core/workq.h"
#include "core/session.h"
#include "util/log.h"

/* Descriptor getters of the plugins compiled into the binary. */
const plugin_descriptor *echotest_plugin_descriptor(void);
const plugin_descriptor *billing_plugin_descriptor(void);
const plugin_descriptor *calls_plugin_descriptor(void);
const plugin_descriptor *chat_plugin_descriptor(void);

/* In start order; they stop in reverse, so a plugin may use those listed before it (calls
 * uses billing) until its own destroy. */
typedef const plugin_descriptor *(*descriptor_getter)(void);
static const descriptor_getter builtin_plugins[] = {
    echotest_plugin_descriptor,
    billing_plugin_descriptor,
    calls_plugin_descriptor,
    chat_plugin_descriptor,
};

struct plugin_entry {
    const plugin_descriptor *desc;
    plugin_host *host;
    GMainContext *context;
    GMainLoop *main_loop;
    GThread *thread;
    workq *work;             /* post()ed work and store outcomes, in order */
    atomic_int queued;       /* posted work not yet run (bounded by PLUGIN_QUEUE_MAX) */
    GMutex lock;             /* guards live_sessions and store_pending */
    GCond all_gone;
    int live_sessions;
    int store_pending;       /* billing_submit / chat_submit operations whose done has not run yet */
};

struct plugin_host {
    server_t *srv;
    size_t count;
    plugin_entry *entries;
};

/* plugin_ctx (plugin.h) is the entry itself. */
static plugin_entry *entry_of(plugin_ctx *self) { return (plugin_entry *)self; }

/* ---- the dispatch thread ---- */

static gpointer dispatch_thread(gpointer data)
{
    plugin_entry *pe = data;
    g_main_context_push_thread_default(pe->context);
    g_main_loop_run(pe->main_loop);
    g_main_context_pop_thread_default(pe->context);
    return NULL;
}

typedef struct posted_work {
    plugin_entry *pe;
    plugin_fn fn;
    void *arg;
} posted_work;

static void run_posted(void *data)
{
    posted_work *w = data;
    atomic_fetch_sub(&w->pe->queued, 1);
    w->fn(w->arg);
    g_free(w);
}

/* bounded: refuse beyond PLUGIN_QUEUE_MAX (work a plugin asked for); unbounded: work that
 * must run (the outcome of an operation already done), bounded by what started it. */
static int entry_post_work(plugin_entry *pe, plugin_fn fn, void *arg, bool bounded)
{
    if (atomic_fetch_add(&pe->queued, 1) >= PLUGIN_QUEUE_MAX && bounded) {
        atomic_fetch_sub(&pe->queued, 1);
        return -1;
    }
    posted_work *w = g_new(posted_work, 1);
    *w = (posted_work){.pe = pe, .fn = fn, .arg = arg};
    workq_push(pe->work, run_posted, w);
    return 0;
}

static int entry_post(plugin_entry *pe, plugin_fn fn, void *arg) { return entry_post_work(pe, fn, arg, true); }

static int cb_post(plugin_ctx *self, plugin_fn fn, void *arg)
{
    return self && fn ? entry_post(entry_of(self), fn, arg) : -1;
}

typedef struct timer_work {
    plugin_fn fn;
    void *arg;
} timer_work;

static gboolean run_timer(gpointer data)
{
    timer_work *t = data;
    t->fn(t->arg);
    return G_SOURCE_REMOVE;
}

static uint64_t cb_timer_start(plugin_ctx *self, uint32_t ms, plugin_fn fn, void *arg)
{
    if (!self || !fn)
        return 0;
    timer_work *t = g_new(timer_work, 1);
    *t = (timer_work){.fn = fn, .arg = arg};
    GSource *src = g_timeout_source_new(ms);
    g_source_set_callback(src, run_timer, t, g_free);
    guint id = g_source_attach(src, entry_of(self)->context);
    g_source_unref(src);
    return id;
}

/* Dispatch thread only (plugin.h): the source cannot be freed under us there. */
static int cb_timer_cancel(plugin_ctx *self, uint64_t id)
{
    if (!self || id == 0 || id > G_MAXUINT)
        return 0;
    GSource *src = g_main_context_find_source_by_id(entry_of(self)->context, (guint)id);
    if (!src || g_source_is_destroyed(src))
        return 0;
    g_source_destroy(src);
    return 1;
}

/* ---- plugin sessions ---- */

plugin_session_ref *plugin_session_get_locked(plugin_handle *h)
{
    plugin_session_ref *ps = h->ps;
    if (!plugin_session_live(ps))
        return NULL;
    atomic_fetch_add(&ps->refs, 1);
    return ps;
}

plugin_session_ref *plugin_session_get(plugin_handle *h)
{
    g_mutex_lock(&h->lock);
    plugin_session_ref *ps = plugin_session_get_locked(h);
    g_mutex_unlock(&h->lock);
    return ps;
}

void plugin_session_put(plugin_session_ref *ps)
{
    if (!ps || atomic_fetch_sub(&ps->refs, 1) != 1)
        return;
    plugin_entry *pe = ps->plugin;
    int error = 0;
    pe->desc->destroy_session(ps->session, &error);
    handle_unref(ps->handle);
    free(ps);
    g_mutex_lock(&pe->lock);
    if (--pe->live_sessions == 0)
        g_cond_broadcast(&pe->all_gone);
    g_mutex_unlock(&pe->lock);
}

int plugin_host_create_session(plugin_handle *h)
{
    plugin_entry *pe = h->plugin;
    int error = 0;
    void *session = pe->desc->create_session(h, &error);
    if (!session)
        return error ? error : 461;
    plugin_session_ref *ps = calloc(1, sizeof *ps);
    atomic_init(&ps->refs, 1);
    atomic_init(&ps->stopped, false);
    ps->session = session;
    ps->plugin = pe;
    handle_ref(h);
    ps->handle = h;
    g_mutex_lock(&pe->lock);
    pe->live_sessions++;
    g_mutex_unlock(&pe->lock);
    g_mutex_lock(&h->lock);
    h->ps = ps;
    g_mutex_unlock(&h->lock);
    return 0;
}

void plugin_host_destroy_session(plugin_handle *h)
{
    g_mutex_lock(&h->lock);
    plugin_session_ref *ps = h->ps;
    h->ps = NULL;
    if (ps)
        atomic_store_explicit(&ps->stopped, true, memory_order_release);
    g_mutex_unlock(&h->lock);
    plugin_session_put(ps);
}

/* ---- requests ---- */

typedef struct plugin_message {
    plugin_handle *handle;   /* ref */
    char *transaction;
    char *body;
    char *jsep;
} plugin_message;

static void message_free(plugin_message *m)
{
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

/* On the dispatch thread. The session reference keeps destroy_session from running while
 * handle_message does (a detach racing the message only marks it stopped). */
static void run_message(void *arg)
{
    plugin_message *m = arg;
    plugin_session_ref *ps = plugin_session_get(m->handle);
    if (ps) {
        plugin_result r = m->handle->plugin->desc->handle_message(ps->session, m->transaction, m->body, m->jsep);
        deliver_result(m, &r);
        plugin_session_put(ps);
    }
    message_free(m);
}

int plugin_host_queue_message(plugin_handle *h, const char *transaction, const char *body_json, const char *jsep_json)
{
    plugin_message *m = calloc(1, sizeof *m);
    handle_ref(h);
    m->handle = h;
    m->transaction = transaction ? strdup(transaction) : NULL;
    m->body = body_json ? strdup(body_json) : NULL;
    m->jsep = jsep_json ? strdup(jsep_json) : NULL;
    if (entry_post(h->plugin, run_message, m) != 0) {
        message_free(m);
        return -1;
    }
    return 0;
}

/* ---- start and stop ---- */

static bool descriptor_ok(const plugin_descriptor *d)
{
    if (!d || d->abi_version != PLUGIN_ABI_VERSION || d->struct_size < sizeof(plugin_descriptor)) {
        LOG_ERROR("plugins", "plugin %s: ABI version %u (size %u) does not match %u", d ? d->package : "?",
                  d ? d->abi_version : 0, d ? d->struct_size : 0, PLUGIN_ABI_VERSION);
        return false;
    }
    return d->package && d->init && d->create_session && d->handle_message && d->destroy_session;
}

static gboolean quit_dispatch(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_REMOVE;
}

/* The package's last part ("janus.plugin.textroom" -> "textroom"): a thread name the kernel
 * keeps (15 bytes at most; GLib's longer names are silently not set). */
static const char *thread_name(const char *package, char name[16])
{
    const char *dot = strrchr(package, '.');
    snprintf(name, 16, "%s", dot ? dot + 1 : package);
    return name;   /* GLib copies it */
}

static void entry_start(plugin_entry *pe)
{
    pe->context = g_main_context_new();
    pe->main_loop = g_main_loop_new(pe->context, FALSE);
    pe->work = workq_new(pe->context, G_PRIORITY_DEFAULT);
    g_mutex_init(&pe->lock);
    g_cond_init(&pe->all_gone);
    char name[16];
    pe->thread = g_thread_new(thread_name(pe->desc->package, name), dispatch_thread, pe);
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
        plugin_entry *pe = &ph->entries[ph->count];
        pe->desc = d;
        pe->host = ph;
        entry_start(pe);
        char *cfg = srv->config && d->config_section ? config_section_json(srv->config, d->config_section)
                                                     : strdup("{}");
        plugin_init_info info = {.self = (plugin_ctx *)pe, .config_dir = config_dir, .config_json = cfg};
        int rc = d->init(plugin_host_callbacks(), &info);
        free(cfg);
        if (rc != 0) {
            LOG_ERROR("plugins", "plugin %s failed to initialise", d->package);
            g_main_context_invoke(pe->context, quit_dispatch, pe->main_loop);
            g_thread_join(pe->thread);
            workq_free(pe->work);
            continue;
        }
        ph->count++;
        LOG_INFO("plugins", "loaded %s %s (%s)", d->package, d->version_string, d->name);
    }
    return ph;
}

/* Sessions of detached handles may still be held by media legs closing on their loops. */
static void wait_sessions_gone(plugin_entry *pe)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    g_mutex_lock(&pe->lock);
    while (pe->live_sessions > 0)
        if (!g_cond_wait_until(&pe->all_gone, &pe->lock, deadline))
            break;
    int left = pe->live_sessions;
    g_mutex_unlock(&pe->lock);
    if (left)
        LOG_WARN("plugins", "%s: %d sessions still alive at shutdown", pe->desc->package, left);
}

typedef struct drain_mark {
    GMutex lock;
    GCond ran;
    bool done;
} drain_mark;

static void drain_reached(void *arg)
{
    drain_mark *d = arg;
    g_mutex_lock(&d->lock);
    d->done = true;
    g_cond_signal(&d->ran);
    g_mutex_unlock(&d->lock);
}

/* Runs what is queued on the plugin's dispatch thread now (the work destroy_session of its
 * last sessions posted, say), so that stop and destroy find it done. The main thread waits on
 * a plugin thread here, never a loop. */
static void drain_dispatch(plugin_entry *pe)
{
    drain_mark d = {.done = false};
    g_mutex_init(&d.lock);
    g_cond_init(&d.ran);
    entry_post_work(pe, drain_reached, &d, false);
    g_mutex_lock(&d.lock);
    while (!d.done)
        g_cond_wait(&d.ran, &d.lock);
    g_mutex_unlock(&d.lock);
    g_mutex_clear(&d.lock);
    g_cond_clear(&d.ran);
}

/* Outcomes of store operations are delivered on the dispatch thread, which must still run. */
static void wait_store_done(plugin_entry *pe)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    g_mutex_lock(&pe->lock);
    while (pe->store_pending > 0)
        if (!g_cond_wait_until(&pe->all_gone, &pe->lock, deadline))
            break;
    int left = pe->store_pending;
    g_mutex_unlock(&pe->lock);
    if (left)
        LOG_ERROR("plugins", "%s: %d store operations still pending at shutdown", pe->desc->package, left);
}

void plugin_host_destroy(plugin_host *ph)
{
    if (!ph)
        return;
    for (size_t k = ph->count; k-- > 0;) {
        plugin_entry *pe = &ph->entries[k];
        wait_sessions_gone(pe);
        drain_dispatch(pe);
        if (pe->desc->stop)
            pe->desc->stop();
        wait_store_done(pe);
        g_main_context_invoke(pe->context, quit_dispatch, pe->main_loop);
        g_thread_join(pe->thread);
        workq_free(pe->work);
        if (pe->desc->destroy)
            pe->desc->destroy();
        g_main_loop_unref(pe->main_loop);
        g_main_context_unref(pe->context);
        g_mutex_clear(&pe->lock);
        g_cond_clear(&pe->all_gone);
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

void plugin_host_notify(plugin_host *ph, const char *package, const char *event_json)
{
    plugin_entry *pe = ph ? plugin_host_find(ph, package) : NULL;
    if (pe && pe->desc->notify && event_json)
        pe->desc->notify(event_json);
}
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

char *plugin_host_admin(plugin_host *ph, const char *name, const char *query)
{
    for (size_t i = 0; i < ph->count; i++) {
        const plugin_descriptor *d = ph->entries[i].desc;
        bool match = strcmp(d->package, name) == 0 || (d->config_section && strcmp(d->config_section, name) == 0);
        if (match)
            return d->admin ? d->admin(query ? query : "") : NULL;
    }
    return NULL;
}

/* ---- core_callbacks ---- */

static bool handle_is_detached(plugin_handle *h)
{
    g_mutex_lock(&h->lock);
    bool detached = h->detached;
    g_mutex_unlock(&h->lock);
    return detached;
}

static int cb_push_event(plugin_handle *h, const char *transaction, const char *event_json, const char *jsep_json)
{
    if (handle_is_detached(h))
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
static uint64_t cb_handle_session_id(plugin_handle *h) { return h->session->id; }
static uint64_t cb_handle_user_id(plugin_handle *h) { return h->session->user_id; }
static bool cb_handle_detached(plugin_handle *h) { return handle_is_detached(h); }

static const platform_hooks *hooks_of(plugin_ctx *self)
{
    return self ? &entry_of(self)->host->srv->hooks : NULL;
}

static char *cb_user_info(plugin_ctx *self, uint64_t user_id)
{
    const platform_hooks *hk = hooks_of(self);
    return hk && hk->user_info ? hk->user_info(hk->user, user_id) : NULL;
}

static void cb_user_set_busy(plugin_ctx *self, uint64_t user_id, bool busy)
{
    const platform_hooks *hk = hooks_of(self);
    if (hk && hk->user_set_busy)
        hk->user_set_busy(hk->user, user_id, busy);
}

static int cb_call_record(plugin_ctx *self, const char *record_json)
{
    const platform_hooks *hk = hooks_of(self);
    return hk && hk->call_record && record_json ? hk->call_record(hk->user, record_json) : -1;
}

/* ---- store operations (billing, chat) ---- */

typedef char *(*outcome_render_fn)(void *state);
typedef int (*store_submit_hook)(void *user, const char *op_json,
                                 void (*done)(void *arg, outcome_render_fn render, void *state), void *arg);

typedef struct store_call {
    plugin_entry *pe;
    plugin_json_fn done;
    void *arg;
    outcome_render_fn render;   /* with state: the outcome, its text made on the plugin's thread */
    void *state;
} store_call;

static void store_pending_add(plugin_entry *pe, int delta)
{
    g_mutex_lock(&pe->lock);
    pe->store_pending += delta;
    if (delta < 0)
        g_cond_broadcast(&pe->all_gone);
    g_mutex_unlock(&pe->lock);
}

static void store_deliver(void *p)
{
    store_call *sc = p;
    char *text = sc->render(sc->state);
    sc->done(sc->arg, text ? text : "{\"ok\":false,\"reason\":\"error\",\"message\":\"out of memory\"}");
    plugin_entry *pe = sc->pe;
    free(text);
    free(sc);
    store_pending_add(pe, -1);
}

/* On the storage thread (or the submitter's): hand the outcome, text not made yet, to the
 * plugin's thread. */
static void store_done(void *p, outcome_render_fn render, void *state)
{
    store_call *sc = p;
    sc->render = render;
    sc->state = state;
    entry_post_work(sc->pe, store_deliver, sc, false);
}

static int store_submit(plugin_ctx *self, store_submit_hook hook, const char *op_json, plugin_json_fn done,
                        void *arg)
{
    const platform_hooks *hk = hooks_of(self);
    if (!hk || !hook || !op_json || !done)
        return -1;
    plugin_entry *pe = entry_of(self);
    store_call *sc = malloc(sizeof *sc);
    if (!sc)
        return -1;
    *sc = (store_call){.pe = pe, .done = done, .arg = arg};
    store_pending_add(pe, 1);
    if (hook(hk->user, op_json, store_done, sc) != 0) {
        free(sc);
        store_pending_add(pe, -1);
        return -1;
    }
    return 0;
}

static int cb_billing_submit(plugin_ctx *self, const char *op_json, plugin_json_fn done, void *arg)
{
    const platform_hooks *hk = hooks_of(self);
    return store_submit(self, hk ? hk->billing_submit : NULL, op_json, done, arg);
}

static int cb_chat_submit(plugin_ctx *self, const char *op_json, plugin_json_fn done, void *arg)
{
    const platform_hooks *hk = hooks_of(self);
    return store_submit(self, hk ? hk->chat_submit : NULL, op_json, done, arg);
}

static char *cb_billing_run(plugin_ctx *self, const char *op_json)
{
    const platform_hooks *hk = hooks_of(self);
    return hk && hk->billing_run && op_json ? hk->billing_run(hk->user, op_json) : NULL;
}

static char *cb_chat_run(plugin_ctx *self, const char *op_json)
{
    const platform_hooks *hk = hooks_of(self);
    return hk && hk->chat_run && op_json ? hk->chat_run(hk->user, op_json) : NULL;
}

static bool cb_user_blocks(plugin_ctx *self, uint64_t blocker, uint64_t blocked)
{
    const platform_hooks *hk = hooks_of(self);
    return hk && hk->user_blocks && hk->user_blocks(hk->user, blocker, blocked);
}

/* The live handles' devices (their sessions' login families) are left out of the push. */
static int cb_push_notify(plugin_ctx *self, const char *notice_json, plugin_handle *const *live, size_t n_live)
{
    const platform_hooks *hk = hooks_of(self);
    if (!hk || !hk->push_notify || !notice_json)
        return -1;
    char (*families)[64] = n_live ? calloc(n_live, sizeof *families) : NULL;
    const char **list = n_live ? calloc(n_live, sizeof *list) : NULL;
    if (n_live && (!families || !list)) {
        free(families);
        free(list);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_live; i++) {
        if (!live[i])
            continue;
        janus_session *s = live[i]->session;
        g_mutex_lock(&s->lock);
        memcpy(families[n], s->family, sizeof families[n]);
        g_mutex_unlock(&s->lock);
        if (families[n][0])
            list[n] = families[n], n++;
    }
    int rc = hk->push_notify(hk->push_user, notice_json, list, n);
    free(families);
    free(list);
    return rc;
}

static bool cb_push_wanted(plugin_ctx *self, uint64_t user_id)
{
    const platform_hooks *hk = hooks_of(self);
    return hk && hk->push_wanted && hk->push_wanted(hk->push_user, user_id);
}

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
    .handle_session_id = cb_handle_session_id,
    .handle_user_id = cb_handle_user_id,
    .handle_detached = cb_handle_detached,
    .handle_colocate = handle_media_colocate,
    .loop_post = handle_media_loop_post,
    .handle_media_state = handle_media_state,
    .post = cb_post,
    .timer_start = cb_timer_start,
    .timer_cancel = cb_timer_cancel,
    .jsep_describe = plugin_sdp_describe,
    .jsep_answer = plugin_sdp_answer,
    .jsep_offer = plugin_sdp_offer,
    .jsep_relay_offer = plugin_sdp_relay_offer,
    .user_info = cb_user_info,
    .user_set_busy = cb_user_set_busy,
    .call_record = cb_call_record,
    .billing_submit = cb_billing_submit,
    .billing_run = cb_billing_run,
    .chat_submit = cb_chat_submit,
    .chat_run = cb_chat_run,
    .user_blocks = cb_user_blocks,
    .push_notify = cb_push_notify,
    .push_wanted = cb_push_wanted,
};

const core_callbacks *plugin_host_callbacks(void) { return &callbacks; }
