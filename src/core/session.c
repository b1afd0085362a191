/*
 * session: see session.h.
 *
 * Long-poll waiters live in one registry-wide table keyed by a never-reused id, so that a
 * client disconnect (reported by the HTTP layer on its own thread) and an event push racing
 * to complete the same waiter can never touch freed memory: whoever removes the id from the
 * table owns the waiter.
 */
#include "core/session.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "core/handle_media.h"
#include "core/janus_core.h"
#include "core/limits.h"
#include "core/plugin_host.h"
#include "proto/janus_api.h"
#include "util/log.h"

struct session_registry {
    server_t *srv;
    GMutex lock;
    GHashTable *sessions;       /* &s->id -> janus_session* (ref) */
    GHashTable *polls;          /* &w->id -> poll_waiter* */
    uint64_t next_poll_id;
};

typedef struct poll_waiter {
    uint64_t id;
    session_registry *reg;
    janus_session *session;     /* ref */
    http_reply *reply;
    int maxev;
    bool as_array;
    int64_t started_us;
} poll_waiter;

/* Janus ids are JSON numbers: keep them within JavaScript's exact integer range. */
static uint64_t random_id(void)
{
    uint64_t v = 0;
    while (v == 0) {
        if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
            v = (uint64_t)g_random_int() << 21 ^ (uint64_t)g_get_monotonic_time();
        v &= (1ULL << 53) - 1;
    }
    return v;
}

session_registry *session_registry_create(server_t *srv)
{
    session_registry *reg = g_new0(session_registry, 1);
    reg->srv = srv;
    g_mutex_init(&reg->lock);
    reg->sessions = g_hash_table_new(g_int64_hash, g_int64_equal);
    reg->polls = g_hash_table_new(g_int64_hash, g_int64_equal);
    reg->next_poll_id = 1;
    return reg;
}

static GPtrArray *all_sessions_ref(session_registry *reg)
{
    GPtrArray *list = g_ptr_array_new();
    g_mutex_lock(&reg->lock);
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, reg->sessions);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        session_ref(value);
        g_ptr_array_add(list, value);
    }
    g_mutex_unlock(&reg->lock);
    return list;
}

/* Answers (a no-op when the client already left: that releases the reply) and frees w. */
static void poll_waiter_finish(poll_waiter *w, int status, const char *body)
{
    http_reply_send(w->reply, status, "application/json", body ? body : "", body ? strlen(body) : 0);
    session_unref(w->session);
    g_free(w);
}

void session_registry_destroy(session_registry *reg)
{
    GPtrArray *list = all_sessions_ref(reg);
    for (guint i = 0; i < list->len; i++) {
        session_destroy(reg, list->pdata[i]);
        session_unref(list->pdata[i]);
    }
    g_ptr_array_free(list, TRUE);
    g_hash_table_destroy(reg->sessions);
    g_hash_table_destroy(reg->polls);
    g_mutex_clear(&reg->lock);
    g_free(reg);
}

janus_session *session_create(session_registry *reg, uint64_t requested_id, uint64_t user_id)
{
    janus_session *s = g_new0(janus_session, 1);
    atomic_init(&s->refs, 2); /* the registry's and the caller's */
    s->srv = reg->srv;
    s->user_id = user_id;
    atomic_init(&s->last_activity_us, g_get_monotonic_time());
    g_mutex_init(&s->lock);
    g_queue_init(&s->events);
    g_queue_init(&s->polls);
    s->handles = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_mutex_lock(&reg->lock);
    if (requested_id) {
        if (g_hash_table_contains(reg->sessions, &requested_id)) {
            g_mutex_unlock(&reg->lock);
            g_hash_table_destroy(s->handles);
            g_mutex_clear(&s->lock);
            g_free(s);
            return NULL;
        }
        s->id = requested_id;
    } else {
        do
            s->id = random_id();
        while (g_hash_table_contains(reg->sessions, &s->id));
    }
    g_hash_table_insert(reg->sessions, &s->id, s);
    g_mutex_unlock(&reg->lock);
    atomic_fetch_add(&reg->srv->counters.sessions_created, 1);
    return s;
}

janus_session *session_find(session_registry *reg, uint64_t id)
{
    g_mutex_lock(&reg->lock);
    janus_session *s = g_hash_table_lookup(reg->sessions, &id);
    if (s)
        session_ref(s);
    g_mutex_unlock(&reg->lock);
    return s;
}

void session_ref(janus_session *s) { atomic_fetch_add(&s->refs, 1); }

void session_unref(janus_session *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    char *ev;
    while ((ev = g_queue_pop_head(&s->events)))
        free(ev);
    if (s->ws)
        ws_conn_unref(s->ws);
    g_hash_table_destroy(s->handles);
    g_mutex_clear(&s->lock);
    g_free(s);
}

void session_touch(janus_session *s) { atomic_store(&s->last_activity_us, g_get_monotonic_time()); }

/* Takes every parked long-poll of s out of the table; the caller finishes them. */
static GPtrArray *take_polls(session_registry *reg, janus_session *s)
{
    GPtrArray *taken = g_ptr_array_new();
    g_mutex_lock(&reg->lock);
    g_mutex_lock(&s->lock);
    gpointer boxed;
    while ((boxed = g_queue_pop_head(&s->polls))) {
        uint64_t id = (uint64_t)(uintptr_t)boxed;
        poll_waiter *w = g_hash_table_lookup(reg->polls, &id);
        if (w) {
            g_hash_table_remove(reg->polls, &id);
            g_ptr_array_add(taken, w);
        }
    }
    g_mutex_unlock(&s->lock);
    g_mutex_unlock(&reg->lock);
    return taken;
}

void session_destroy(session_registry *reg, janus_session *s)
{
    g_mutex_lock(&reg->lock);
    bool removed = g_hash_table_remove(reg->sessions, &s->id);
    g_mutex_unlock(&reg->lock);
    g_mutex_lock(&s->lock);
    s->destroyed = true;
    GList *handles = g_hash_table_get_values(s->handles);
    for (GList *l = handles; l; l = l->next)
        handle_ref(l->data);
    g_mutex_unlock(&s->lock);
    for (GList *l = handles; l; l = l->next) {
        handle_detach(l->data, false);
        handle_unref(l->data);
    }
    g_list_free(handles);
    GPtrArray *polls = take_polls(reg, s);
    for (guint i = 0; i < polls->len; i++)
        poll_waiter_finish(polls->pdata[i], 200, "{\"janus\":\"keepalive\"}");
    g_ptr_array_free(polls, TRUE);
    if (removed) {
        if (reg->srv->hooks.session_closed && s->user_id)
            reg->srv->hooks.session_closed(reg->srv->hooks.user, s->user_id);
        limits_session_release(reg->srv->limits, s->user_id);
        session_unref(s);
    }
}

void session_bind_ws(janus_session *s, ws_conn *ws)
{
    if (ws)
        ws_conn_ref(ws);
    g_mutex_lock(&s->lock);
    ws_conn *old = s->ws;
    s->ws = ws;
    /* Events queued while no transport was bound go to the new WebSocket first. */
    GQueue pending = G_QUEUE_INIT;
    if (ws) {
        pending = s->events;
        g_queue_init(&s->events);
    }
    g_mutex_unlock(&s->lock);
    char *ev;
    while ((ev = g_queue_pop_head(&pending))) {
        ws_conn_send_text(ws, ev, strlen(ev));
        free(ev);
    }
    if (old)
        ws_conn_unref(old);
}

void session_registry_ws_closed(session_registry *reg, ws_conn *ws)
{
    GPtrArray *list = all_sessions_ref(reg);
    for (guint i = 0; i < list->len; i++) {
        janus_session *s = list->pdata[i];
        ws_conn *old = NULL;
        g_mutex_lock(&s->lock);
        if (s->ws == ws) {
            old = s->ws;
            s->ws = NULL;
        }
        g_mutex_unlock(&s->lock);
        if (old)
            ws_conn_unref(old);
        session_unref(s);
    }
    g_ptr_array_free(list, TRUE);
}

static char *events_to_reply(GPtrArray *events, bool as_array)
{
    if (!as_array && events->len == 1)
        return g_strdup(events->pdata[0]);
    GString *out = g_string_new("[");
    for (guint i = 0; i < events->len; i++) {
        if (i)
            g_string_append_c(out, ',');
        g_string_append(out, events->pdata[i]);
    }
    g_string_append_c(out, ']');
    return g_string_free(out, FALSE);
}

/* With s->lock held: pops up to max queued events. */
static GPtrArray *pop_events(janus_session *s, int max)
{
    GPtrArray *events = g_ptr_array_new_with_free_func(free);
    char *ev;
    while ((int)events->len < max && (ev = g_queue_pop_head(&s->events)))
        g_ptr_array_add(events, ev);
    return events;
}

static void answer_poll(poll_waiter *w)
{
    g_mutex_lock(&w->session->lock);
    GPtrArray *events = pop_events(w->session, w->maxev);
    g_mutex_unlock(&w->session->lock);
    char *body = events->len ? events_to_reply(events, w->as_array) : g_strdup("{\"janus\":\"keepalive\"}");
    g_ptr_array_free(events, TRUE);
    poll_waiter_finish(w, 200, body);
    g_free(body);
}

/* Removes one parked long-poll of s from the table, or NULL. */
static poll_waiter *take_one_poll(session_registry *reg, janus_session *s)
{
    poll_waiter *w = NULL;
    g_mutex_lock(&reg->lock);
    g_mutex_lock(&s->lock);
    gpointer boxed;
    while (!w && (boxed = g_queue_pop_head(&s->polls))) {
        uint64_t id = (uint64_t)(uintptr_t)boxed;
        w = g_hash_table_lookup(reg->polls, &id);
        if (w)
            g_hash_table_remove(reg->polls, &id);
    }
    g_mutex_unlock(&s->lock);
    g_mutex_unlock(&reg->lock);
    return w;
}

static session_registry *registry_of(janus_session *s);

void session_push_event(janus_session *s, char *json)
{
    g_mutex_lock(&s->lock);
    if (s->ws) {
        ws_conn *ws = s->ws;
        ws_conn_ref(ws);
        g_mutex_unlock(&s->lock);
        ws_conn_send_text(ws, json, strlen(json));
        ws_conn_unref(ws);
        free(json);
        return;
    }
    if (s->events.length >= SESSION_MAX_QUEUED_EVENTS) {
        free(g_queue_pop_head(&s->events));
        atomic_fetch_add(&s->srv->counters.events_dropped, 1);
    }
    g_queue_push_tail(&s->events, json);
    bool has_poll = s->polls.length > 0;
    g_mutex_unlock(&s->lock);
    if (has_poll) {
        poll_waiter *w = take_one_poll(registry_of(s), s);
        if (w)
            answer_poll(w);
    }
}

typedef struct poll_close_ctx {
    session_registry *reg;
    uint64_t id;
} poll_close_ctx;

static void poll_client_gone(void *arg)
{
    poll_close_ctx *ctx = arg;
    g_mutex_lock(&ctx->reg->lock);
    poll_waiter *w = g_hash_table_lookup(ctx->reg->polls, &ctx->id);
    if (w)
        g_hash_table_remove(ctx->reg->polls, &ctx->id);
    g_mutex_unlock(&ctx->reg->lock);
    if (w) {
        g_mutex_lock(&w->session->lock);
        g_queue_remove(&w->session->polls, (gpointer)(uintptr_t)w->id);
        g_mutex_unlock(&w->session->lock);
        poll_waiter_finish(w, 503, NULL);
    }
}

void session_long_poll(session_registry *reg, janus_session *s, http_reply *reply, int maxev, bool as_array)
{
    g_mutex_lock(&s->lock);
    GPtrArray *events = pop_events(s, maxev);
    if (events->len) {
        g_mutex_unlock(&s->lock);
        char *body = events_to_reply(events, as_array);
        g_ptr_array_free(events, TRUE);
        http_reply_send(reply, 200, "application/json", body, strlen(body));
        g_free(body);
        return;
    }
    g_ptr_array_free(events, TRUE);
    g_mutex_unlock(&s->lock);

    poll_waiter *w = g_new0(poll_waiter, 1);
    session_ref(s);
    w->session = s;
    w->reg = reg;
    w->reply = reply;
    w->maxev = maxev;
    w->as_array = as_array;
    w->started_us = g_get_monotonic_time();
    /* The callbacks go on before the waiter is published: once it is in the table another
     * thread may answer the reply, after which it must not be touched. A client that leaves
     * before that finds no waiter; the waiter is then answered (a no-op) by the next event or
     * the keepalive sweep, which releases the reply. */
    poll_close_ctx *ctx = g_new0(poll_close_ctx, 1);
    ctx->reg = reg;
    g_mutex_lock(&reg->lock);
    w->id = reg->next_poll_id++;
    g_mutex_unlock(&reg->lock);
    ctx->id = w->id;
    http_reply_on_close(reply, poll_client_gone, ctx);
    http_reply_on_release(reply, g_free, ctx);
    g_mutex_lock(&reg->lock);
    g_hash_table_insert(reg->polls, &w->id, w);
    g_mutex_lock(&s->lock);
    g_queue_push_tail(&s->polls, (gpointer)(uintptr_t)w->id);
    bool raced = s->events.length > 0; /* an event arrived between the check and parking */
    g_mutex_unlock(&s->lock);
    g_mutex_unlock(&reg->lock);
    if (raced) {
        poll_waiter *taken = take_one_poll(reg, s);
        if (taken)
            answer_poll(taken);
    }
}

void session_registry_sweep(session_registry *reg, int timeout_s, int64_t now_us)
{
    /* Expired long-polls get a keepalive, as Janus does after 30 s. */
    GPtrArray *expired = g_ptr_array_new();
    g_mutex_lock(&reg->lock);
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, reg->polls);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        poll_waiter *w = value;
        if (now_us - w->started_us >= (int64_t)LONGPOLL_TIMEOUT_S * G_USEC_PER_SEC) {
            g_hash_table_iter_remove(&it);
            g_ptr_array_add(expired, w);
        }
    }
    g_mutex_unlock(&reg->lock);
    for (guint i = 0; i < expired->len; i++) {
        poll_waiter *w = expired->pdata[i];
        g_mutex_lock(&w->session->lock);
        g_queue_remove(&w->session->polls, (gpointer)(uintptr_t)w->id);
        g_mutex_unlock(&w->session->lock);
        session_touch(w->session); /* a client waiting in a long-poll is alive */
        poll_waiter_finish(w, 200, "{\"janus\":\"keepalive\"}");
    }
    g_ptr_array_free(expired, TRUE);

    GPtrArray *list = all_sessions_ref(reg);
    for (guint i = 0; i < list->len; i++) {
        janus_session *s = list->pdata[i];
        bool polling;
        g_mutex_lock(&s->lock);
        polling = s->polls.length > 0;
        g_mutex_unlock(&s->lock);
        if (polling)
            session_touch(s);
        if (now_us - atomic_load(&s->last_activity_us) > (int64_t)timeout_s * G_USEC_PER_SEC) {
            LOG_INFO("janus", "session %" G_GUINT64_FORMAT " timed out", s->id);
            char *ev = g_strdup_printf("{\"janus\":\"timeout\",\"session_id\":%" G_GUINT64_FORMAT "}", s->id);
            session_push_event(s, strdup(ev));
            g_free(ev);
            atomic_fetch_add(&reg->srv->counters.sessions_timed_out, 1);
            session_destroy(reg, s);
        }
        session_unref(s);
    }
    g_ptr_array_free(list, TRUE);
}

unsigned session_registry_count(session_registry *reg)
{
    g_mutex_lock(&reg->lock);
    unsigned n = g_hash_table_size(reg->sessions);
    g_mutex_unlock(&reg->lock);
    return n;
}

char *session_registry_list_json(session_registry *reg)
{
    json_t *arr = json_array();
    GPtrArray *list = all_sessions_ref(reg);
    for (guint i = 0; i < list->len; i++) {
        janus_session *s = list->pdata[i];
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer((json_int_t)s->id));
        json_object_set_new(o, "user_id", json_integer((json_int_t)s->user_id));
        g_mutex_lock(&s->lock);
        json_object_set_new(o, "transport", json_string(s->ws ? "websocket" : "http"));
        json_t *handles = json_array();
        GHashTableIter it;
        gpointer key, value;
        g_hash_table_iter_init(&it, s->handles);
        while (g_hash_table_iter_next(&it, &key, &value)) {
            plugin_handle *h = value;
            json_t *ho = json_object();
            json_object_set_new(ho, "id", json_integer((json_int_t)h->id));
            json_object_set_new(ho, "plugin", json_string(plugin_entry_package(h->plugin)));
            json_array_append_new(handles, ho);
        }
        g_mutex_unlock(&s->lock);
        json_object_set_new(o, "handles", handles);
        json_array_append_new(arr, o);
        session_unref(s);
    }
    g_ptr_array_free(list, TRUE);
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* ---- handles ---- */

/* The registry is reachable through the server's janus core; sessions keep srv. */
static session_registry *registry_of(janus_session *s) { return janus_core_registry(s->srv->janus); }

plugin_handle *handle_create(janus_session *s, plugin_entry *plugin, const char *opaque_id, uint64_t requested_id)
{
    plugin_handle *h = g_new0(plugin_handle, 1);
    atomic_init(&h->refs, 2); /* the session's and the caller's */
    session_ref(s);
    h->session = s;
    h->plugin = plugin;
    h->opaque_id = opaque_id ? g_strdup(opaque_id) : NULL;
    g_mutex_init(&h->lock);
    g_mutex_lock(&s->lock);
    if (s->destroyed || (requested_id && g_hash_table_contains(s->handles, &requested_id))) {
        g_mutex_unlock(&s->lock);
        atomic_store(&h->refs, 1);
        handle_unref(h);
        return NULL;
    }
    if (requested_id) {
        h->id = requested_id;
    } else {
        do
            h->id = random_id();
        while (g_hash_table_contains(s->handles, &h->id));
    }
    g_hash_table_insert(s->handles, &h->id, h);
    g_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->srv->counters.handles_created, 1);
    return h;
}

plugin_handle *handle_find(janus_session *s, uint64_t id)
{
    g_mutex_lock(&s->lock);
    plugin_handle *h = g_hash_table_lookup(s->handles, &id);
    if (h)
        handle_ref(h);
    g_mutex_unlock(&s->lock);
    return h;
}

void handle_ref(plugin_handle *h) { atomic_fetch_add(&h->refs, 1); }

void handle_unref(plugin_handle *h)
{
    if (atomic_fetch_sub(&h->refs, 1) != 1)
        return;
    if (h->media)
        handle_media_free(h->media);
    g_free(h->opaque_id);
    g_mutex_clear(&h->lock);
    session_unref(h->session);
    g_free(h);
}

void handle_detach(plugin_handle *h, bool send_detached)
{
    g_mutex_lock(&h->lock);
    bool was_detached = h->detached;
    h->detached = true;
    g_mutex_unlock(&h->lock);
    if (was_detached)
        return;
    if (h->media)
        handle_media_hangup(h, "Detach", false);
    plugin_host_destroy_session(h);
    janus_session *s = h->session;
    g_mutex_lock(&s->lock);
    bool removed = g_hash_table_remove(s->handles, &h->id);
    g_mutex_unlock(&s->lock);
    if (removed)
        limits_handle_release(s->srv->limits, s->id);
    if (send_detached)
        handle_push(h, "detached", NULL);
    if (removed)
        handle_unref(h);
}

void handle_push(plugin_handle *h, const char *verb, json_t *extra)
{
    json_t *o = json_object();
    json_object_set_new(o, "janus", json_string(verb));
    json_object_set_new(o, "session_id", json_integer((json_int_t)h->session->id));
    json_object_set_new(o, "sender", json_integer((json_int_t)h->id));
    if (h->opaque_id)
        json_object_set_new(o, "opaque_id", json_string(h->opaque_id));
    if (extra) {
        json_object_update(o, extra);
        json_decref(extra);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    session_push_event(h->session, text);
}
