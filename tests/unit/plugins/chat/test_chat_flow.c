/*
 * test_chat_flow.c: the chat plugin (plugins/chat, janus.plugin.textroom) driven through its
 * descriptor against a fake core that has the real core's threads:
 *   - a dispatch thread: handle_message, post(), timers and every store outcome, FIFO;
 *   - loop threads: a handle gets one when our offer creates its PeerConnection; loop_post,
 *     incoming_data and hangup_media run there, and relay_data checks it is called there;
 *   - a storage thread: the fake chat store (join/send/history/delivered/read/unread over
 *     conversations kept in memory, with seq, client_id replay and per-message billing);
 *     chat_submit's done is handed from it to the dispatch thread, as plugin_host does;
 *   - plugin sessions behind a refcount + stopped flag, as plugin_host's plugin_session_ref:
 *     destroy_session runs once, on the thread that let go of the last reference.
 * The scenarios run one step at a time (settle() waits until every thread is idle); the race
 * at the end has many threads calling incoming_data / hangup_media while others detach.
 * Every object must be gone at the end (ASan/LSan in CI) and the race is run under TSan too.
 */
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plugin.h"

const plugin_descriptor *chat_plugin_descriptor(void);
static const plugin_descriptor *P;

/* ------------------------------------------------------------------------------------------ */
/* Threads of the fake core: FIFO workers, and settle() to wait until all of them are idle     */
/* ------------------------------------------------------------------------------------------ */

typedef struct job {
    plugin_fn fn;
    void *arg;
    struct job *next;
} job;

typedef struct worker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *head, *tail;
    size_t len;
    bool stop;
    pthread_t thread;
} worker;

#define NLOOPS 2
static worker dispatch, storage, loops[NLOOPS];
static _Thread_local worker *current; /* the worker this thread is, NULL for the test's threads */

/* Jobs queued or running on any worker; settle() waits for 0. A job queues its follow-ups
 * before it counts as done, so 0 means nothing is left anywhere. */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static long busy_jobs;

static void busy_add(long d)
{
    pthread_mutex_lock(&idle_lock);
    busy_jobs += d;
    if (busy_jobs == 0)
        pthread_cond_broadcast(&idle_cond);
    pthread_mutex_unlock(&idle_lock);
}

static void settle(void)
{
    pthread_mutex_lock(&idle_lock);
    while (busy_jobs != 0)
        pthread_cond_wait(&idle_cond, &idle_lock);
    pthread_mutex_unlock(&idle_lock);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    current = w;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        job *j = w->head;
        if (!j) {
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->len--;
        pthread_mutex_unlock(&w->lock);
        j->fn(j->arg);
        free(j);
        busy_add(-1);
    }
}

/* Queues fn(arg) on w; -1 when w already holds cap jobs. */
static int worker_post(worker *w, plugin_fn fn, void *arg, size_t cap)
{
    job *j = malloc(sizeof *j);
    *j = (job){fn, arg, NULL};
    pthread_mutex_lock(&w->lock);
    if (w->len >= cap) {
        pthread_mutex_unlock(&w->lock);
        free(j);
        return -1;
    }
    busy_add(1);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->len++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

static void worker_start(worker *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    pthread_create(&w->thread, NULL, worker_main, w);
}

static void worker_stop(worker *w)
{
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}

static bool on_a_loop(void)
{
    for (int i = 0; i < NLOOPS; i++)
        if (current == &loops[i])
            return true;
    return false;
}

/* Contract violations seen on the fake core's threads (CHECKed by the main thread: check.h's
 * counters are not for other threads). */
static atomic_int wrong_relay_thread, store_on_loop, done_off_dispatch, blocking_on_loop;
static atomic_int offers_made, timers_started, live_handles, sessions_destroyed;
#define QUEUE_MAX 4096 /* the core's PLUGIN_QUEUE_MAX */
static atomic_size_t dispatch_cap = QUEUE_MAX;

/* ------------------------------------------------------------------------------------------ */
/* Handles and plugin sessions                                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct psref {
    atomic_int refs;
    atomic_bool stopped;
    void *session;
    plugin_handle *h;
} psref;

typedef struct rx_rec {
    char *label;
    char *text;
} rx_rec;

typedef struct ev_rec {
    char *transaction, *data, *jsep;
} ev_rec;

struct plugin_handle {
    uint64_t id, user_id;
    atomic_int refs;
    atomic_bool detached;
    atomic_int loop;            /* -1 until our offer created its PeerConnection */
    pthread_mutex_t lock;       /* ps and the records */
    psref *ps;
    rx_rec *rx;                 /* what relay_data delivered */
    size_t nrx, rx_cap;
    ev_rec *ev;                 /* what push_event queued */
    size_t nev, ev_cap;
};

static void handle_free(plugin_handle *h)
{
    for (size_t i = 0; i < h->nrx; i++) {
        free(h->rx[i].label);
        free(h->rx[i].text);
    }
    for (size_t i = 0; i < h->nev; i++) {
        free(h->ev[i].transaction);
        free(h->ev[i].data);
        free(h->ev[i].jsep);
    }
    free(h->rx);
    free(h->ev);
    pthread_mutex_destroy(&h->lock);
    free(h);
    atomic_fetch_sub(&live_handles, 1);
}

static void h_ref(plugin_handle *h) { atomic_fetch_add(&h->refs, 1); }
static void h_unref(plugin_handle *h)
{
    if (atomic_fetch_sub(&h->refs, 1) == 1)
        handle_free(h);
}

/* A handle with the test's reference, attached to a new plugin session (the core's). */
static plugin_handle *handle_new(uint64_t user_id)
{
    static atomic_ulong ids = 100;
    plugin_handle *h = calloc(1, sizeof *h);
    h->id = atomic_fetch_add(&ids, 1);
    h->user_id = user_id;
    atomic_init(&h->refs, 1);
    atomic_init(&h->loop, -1);
    pthread_mutex_init(&h->lock, NULL);
    atomic_fetch_add(&live_handles, 1);
    int err = 0;
    void *session = P->create_session(h, &err);
    CHECK(session != NULL);
    psref *ps = calloc(1, sizeof *ps);
    atomic_init(&ps->refs, 1);
    ps->session = session;
    ps->h = h;
    h_ref(h); /* the plugin session's, until destroy_session returned */
    h->ps = ps;
    return h;
}

static psref *ps_get(plugin_handle *h)
{
    pthread_mutex_lock(&h->lock);
    psref *ps = h->ps;
    if (ps && !atomic_load(&ps->stopped))
        atomic_fetch_add(&ps->refs, 1);
    else
        ps = NULL;
    pthread_mutex_unlock(&h->lock);
    return ps;
}

static void ps_put(psref *ps)
{
    if (atomic_fetch_sub(&ps->refs, 1) != 1)
        return;
    int err = 0;
    P->destroy_session(ps->session, &err);
    atomic_fetch_add(&sessions_destroyed, 1);
    h_unref(ps->h);
    free(ps);
}

/* The handle detaches: no new call starts; destroy_session after the last one returned. */
static void detach(plugin_handle *h)
{
    pthread_mutex_lock(&h->lock);
    psref *ps = h->ps;
    h->ps = NULL;
    if (ps)
        atomic_store(&ps->stopped, true);
    atomic_store(&h->detached, true);
    pthread_mutex_unlock(&h->lock);
    if (ps)
        ps_put(ps);
}

/* ------------------------------------------------------------------------------------------ */
/* core_callbacks                                                                              */
/* ------------------------------------------------------------------------------------------ */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int fake_push_event(plugin_handle *h, const char *tx, const char *event_json, const char *jsep)
{
    if (atomic_load(&h->detached))
        return -1;
    if (jsep && strstr(jsep, "\"offer\"") && atomic_load(&h->loop) < 0)
        atomic_store(&h->loop, (int)(h->id % NLOOPS)); /* the offer creates its PeerConnection */
    pthread_mutex_lock(&h->lock);
    if (h->nev == h->ev_cap) {
        h->ev_cap = h->ev_cap ? h->ev_cap * 2 : 8;
        h->ev = realloc(h->ev, h->ev_cap * sizeof *h->ev);
    }
    h->ev[h->nev++] = (ev_rec){dup_or_null(tx), dup_or_null(event_json), dup_or_null(jsep)};
    pthread_mutex_unlock(&h->lock);
    return 0;
}

static void fake_relay_data(plugin_handle *h, const char *label, int binary, const uint8_t *buf, size_t len)
{
    (void)binary;
    int loop = atomic_load(&h->loop);
    if (loop < 0 || current != &loops[loop])
        atomic_fetch_add(&wrong_relay_thread, 1);
    if (atomic_load(&h->detached))
        return;
    char *text = malloc(len + 1);
    memcpy(text, buf, len);
    text[len] = '\0';
    pthread_mutex_lock(&h->lock);
    if (h->nrx == h->rx_cap) {
        h->rx_cap = h->rx_cap ? h->rx_cap * 2 : 16;
        h->rx = realloc(h->rx, h->rx_cap * sizeof *h->rx);
    }
    h->rx[h->nrx++] = (rx_rec){strdup(label ? label : ""), text};
    pthread_mutex_unlock(&h->lock);
}

static void fake_close_pc(plugin_handle *h) { (void)h; }
static void fake_end_handle(plugin_handle *h) { (void)h; }
static uint64_t fake_handle_id(plugin_handle *h) { return h->id; }
static uint64_t fake_session_id(plugin_handle *h) { return 1000 + h->id; }
static uint64_t fake_user_id(plugin_handle *h) { return h->user_id; }
static bool fake_detached(plugin_handle *h) { return atomic_load(&h->detached); }

/* After a PeerConnection closed, posts still go to the loop it lived on; -1 only when the
 * handle never had one. */
static int fake_loop_post(plugin_handle *h, plugin_fn fn, void *arg)
{
    int loop = atomic_load(&h->loop);
    if (loop < 0)
        return -1;
    return worker_post(&loops[loop], fn, arg, SIZE_MAX);
}

static int fake_media_state(plugin_handle *h, plugin_media_state *out)
{
    memset(out, 0, sizeof *out);
    int loop = atomic_load(&h->loop);
    out->has_peer = out->data = loop >= 0;
    out->loop = loop;
    return atomic_load(&h->detached) ? -1 : 0;
}

static int fake_post(plugin_ctx *self, plugin_fn fn, void *arg)
{
    (void)self;
    return worker_post(&dispatch, fn, arg, atomic_load(&dispatch_cap));
}

/* Timers fire at once (the plugin's only timer is the 0 ms fallback of a full post queue). */
static uint64_t fake_timer_start(plugin_ctx *self, uint32_t ms, plugin_fn fn, void *arg)
{
    (void)self, (void)ms;
    worker_post(&dispatch, fn, arg, SIZE_MAX);
    return (uint64_t)atomic_fetch_add(&timers_started, 1) + 1;
}

static int fake_timer_cancel(plugin_ctx *self, uint64_t id)
{
    (void)self, (void)id;
    return 0;
}

static char *fake_jsep_offer(const plugin_media_desc *want)
{
    if (!want->data || want->audio != PLUGIN_DIR_NONE || want->video != PLUGIN_DIR_NONE)
        return NULL;
    atomic_fetch_add(&offers_made, 1);
    return strdup("{\"type\":\"offer\",\"sdp\":\"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\"}");
}

/* ---- users ---- */

typedef struct fake_user {
    uint64_t id;
    const char *role, *name;
    int64_t balance, message_rate;
    int tokens;                 /* sends left before rate_limited; -1 = no limit */
} fake_user;

static fake_user users[] = {
    {1, "caller", "Alice", 1000000000000, 0, -1},
    {2, "host", "Bob", 0, 2, -1},
    {3, "caller", "Broke", 1, 0, -1},
    {4, "host", "Dora", 0, 0, -1},
    {5, "caller", "Flood", 1000, 0, 3},
    {6, "caller", "Eve", 100, 0, -1},
    {7, "host", "Finn", 0, 1, -1},
};

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER; /* users' money, the store */

static fake_user *user_of(uint64_t id)
{
    for (size_t i = 0; i < sizeof users / sizeof *users; i++)
        if (users[i].id == id)
            return &users[i];
    return NULL;
}

static char *fake_user_info(plugin_ctx *self, uint64_t id)
{
    (void)self;
    if (on_a_loop())
        atomic_fetch_add(&blocking_on_loop, 1);
    fake_user *u = user_of(id);
    if (!u)
        return NULL;
    json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:b,s:I}", "id", (json_int_t)u->id, "role", u->role, "display_name",
                          u->name, "avatar_url", "", "do_not_disturb", 0, "message_rate", (json_int_t)u->message_rate);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static bool fake_user_blocks(plugin_ctx *self, uint64_t blocker, uint64_t blocked)
{
    (void)self, (void)blocker, (void)blocked;
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* The fake chat store (the operations of docs/chat.md, in memory)                             */
/* ------------------------------------------------------------------------------------------ */

typedef struct fmsg {
    int64_t seq, date_ms, charged, client_date;
    bool has_client_date, delivered;
    uint64_t from;
    char msg_id[37], client_id[37];
    char *text;
} fmsg;

typedef struct fconv {
    int64_t id;
    uint64_t users[2];          /* caller, host */
    int64_t delivered_seq[2], read_seq[2];
    fmsg *msgs;
    size_t n, cap;
} fconv;

static fconv *convs;
static size_t nconvs, convs_cap;
static unsigned next_msg_id;

static void store_add_conv(int64_t id, uint64_t caller, uint64_t host)
{
    pthread_mutex_lock(&store_lock);
    if (nconvs == convs_cap) {
        convs_cap = convs_cap ? convs_cap * 2 : 16;
        convs = realloc(convs, convs_cap * sizeof *convs);
    }
    convs[nconvs++] = (fconv){.id = id, .users = {caller, host}};
    pthread_mutex_unlock(&store_lock);
}

static fconv *conv_of(int64_t id)
{
    for (size_t i = 0; i < nconvs; i++)
        if (convs[i].id == id)
            return &convs[i];
    return NULL;
}

static int side_of(const fconv *c, uint64_t user)
{
    return user == c->users[0] ? 0 : user == c->users[1] ? 1 : -1;
}

static char *refusal(const char *reason)
{
    json_t *o = json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", reason, "message", reason);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static char *dump_free(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void date_of(int64_t ms, char out[32])
{
    snprintf(out, 32, "2026-12-05T03:%02d:%02d.%03dZ", (int)(ms / 60000 % 60), (int)(ms / 1000 % 60), (int)(ms % 1000));
}

static json_t *send_result(const fconv *c, const fmsg *m, bool replayed)
{
    char date[32];
    date_of(m->date_ms, date);
    json_t *o = json_pack("{s:b,s:I,s:s,s:I,s:I,s:I,s:s,s:I,s:s,s:s,s:I,s:b}", "ok", 1, "room", (json_int_t)c->id,
                          "msg_id", m->msg_id, "seq", (json_int_t)m->seq, "from", (json_int_t)m->from, "to",
                          (json_int_t)c->users[1 - side_of(c, m->from)], "date", date, "date_ms",
                          (json_int_t)m->date_ms, "text", m->text, "client_id", m->client_id, "charged",
                          (json_int_t)m->charged, "replayed", replayed);
    if (m->has_client_date)
        json_object_set_new(o, "client_date", json_integer(m->client_date));
    return o;
}

static const char *state_of(const fconv *c, const fmsg *m)
{
    int peer = 1 - side_of(c, m->from);
    if (m->seq <= c->read_seq[peer])
        return "read";
    if (m->delivered || m->seq <= c->delivered_seq[peer])
        return "delivered";
    return "sent";
}

static char *op_join(json_t *op)
{
    fconv *c = conv_of(json_integer_value(json_object_get(op, "room")));
    if (!c)
        return refusal("not_found");
    int me = side_of(c, (uint64_t)json_integer_value(json_object_get(op, "user_id")));
    if (me < 0)
        return refusal("not_member");
    int peer = 1 - me;
    return dump_free(json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ok", 1, "room", (json_int_t)c->id,
                               "peer_id", (json_int_t)c->users[peer], "caller_id", (json_int_t)c->users[0], "host_id",
                               (json_int_t)c->users[1], "last_seq", (json_int_t)c->n, "delivered_seq",
                               (json_int_t)c->delivered_seq[me], "read_seq", (json_int_t)c->read_seq[me],
                               "peer_read_seq", (json_int_t)c->read_seq[peer], "peer_delivered_seq",
                               (json_int_t)c->delivered_seq[peer]));
}

static char *op_send(json_t *op)
{
    fconv *c = conv_of(json_integer_value(json_object_get(op, "room")));
    if (!c)
        return refusal("not_found");
    uint64_t sender = (uint64_t)json_integer_value(json_object_get(op, "sender_id"));
    int me = side_of(c, sender);
    if (me < 0)
        return refusal("not_member");
    const char *client_id = json_string_value(json_object_get(op, "client_id"));
    const char *text = json_string_value(json_object_get(op, "text"));
    if (!client_id || !text)
        return refusal("invalid");
    for (size_t i = 0; i < c->n; i++)
        if (c->msgs[i].from == sender && strcmp(c->msgs[i].client_id, client_id) == 0)
            return dump_free(send_result(c, &c->msgs[i], true));
    fake_user *payer = user_of(sender), *host = user_of(c->users[1]);
    int64_t price = me == 0 && host ? host->message_rate : 0;
    if (price > 0 && payer->balance < price)
        return dump_free(json_pack("{s:b,s:s,s:I,s:I}", "ok", 0, "reason", "insufficient_balance", "needed",
                                   (json_int_t)price, "balance", (json_int_t)payer->balance));
    if (price > 0)
        payer->balance -= price;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->msgs = realloc(c->msgs, c->cap * sizeof *c->msgs);
    }
    fmsg *m = &c->msgs[c->n++];
    *m = (fmsg){.seq = (int64_t)c->n, .date_ms = 1796440000000 + (int64_t)c->n, .charged = price, .from = sender,
                .text = strdup(text)};
    json_t *cd = json_object_get(op, "client_date");
    m->has_client_date = cd != NULL;
    m->client_date = json_integer_value(cd);
    unsigned id = ++next_msg_id;
    snprintf(m->msg_id, sizeof m->msg_id, "%08x-0000-4000-a000-%012x", id, id);
    snprintf(m->client_id, sizeof m->client_id, "%s", client_id);
    return dump_free(send_result(c, m, false));
}

static char *op_history(json_t *op)
{
    fconv *c = conv_of(json_integer_value(json_object_get(op, "room")));
    if (!c)
        return refusal("not_found");
    if (side_of(c, (uint64_t)json_integer_value(json_object_get(op, "user_id"))) < 0)
        return refusal("not_member");
    int64_t after = json_integer_value(json_object_get(op, "after_seq"));
    int64_t limit = json_integer_value(json_object_get(op, "limit"));
    json_t *list = json_array();
    for (size_t i = 0; i < c->n && (int64_t)json_array_size(list) < limit; i++) {
        const fmsg *m = &c->msgs[i];
        if (m->seq <= after)
            continue;
        char date[32];
        date_of(m->date_ms, date);
        json_array_append_new(list, json_pack("{s:s,s:I,s:I,s:s,s:I,s:s,s:s,s:I,s:s}", "msg_id", m->msg_id, "seq",
                                              (json_int_t)m->seq, "from", (json_int_t)m->from, "date", date,
                                              "date_ms", (json_int_t)m->date_ms, "text", m->text, "client_id",
                                              m->client_id, "charged", (json_int_t)m->charged, "state",
                                              state_of(c, m)));
    }
    return dump_free(json_pack("{s:b,s:o}", "ok", 1, "messages", list));
}

static char *op_delivered(json_t *op)
{
    fconv *c = conv_of(json_integer_value(json_object_get(op, "room")));
    if (!c)
        return refusal("not_found");
    int me = side_of(c, (uint64_t)json_integer_value(json_object_get(op, "user_id")));
    if (me < 0)
        return refusal("not_member");
    const char *msg_id = json_string_value(json_object_get(op, "msg_id"));
    for (size_t i = 0; msg_id && i < c->n; i++) {
        fmsg *m = &c->msgs[i];
        if (strcmp(m->msg_id, msg_id) != 0 || m->from == c->users[me])
            continue;
        bool changed = !m->delivered;
        m->delivered = true;
        if (c->delivered_seq[me] < m->seq)
            c->delivered_seq[me] = m->seq;
        return dump_free(json_pack("{s:b,s:s,s:I,s:I,s:b}", "ok", 1, "msg_id", m->msg_id, "seq", (json_int_t)m->seq,
                                   "sender_id", (json_int_t)m->from, "changed", changed));
    }
    return refusal("not_found");
}

static char *op_read(json_t *op)
{
    fconv *c = conv_of(json_integer_value(json_object_get(op, "room")));
    if (!c)
        return refusal("not_found");
    int me = side_of(c, (uint64_t)json_integer_value(json_object_get(op, "user_id")));
    if (me < 0)
        return refusal("not_member");
    int64_t up_to = json_integer_value(json_object_get(op, "up_to_seq"));
    if (up_to > (int64_t)c->n)
        up_to = (int64_t)c->n;
    bool changed = up_to > c->read_seq[me];
    if (changed)
        c->read_seq[me] = up_to;
    if (c->delivered_seq[me] < c->read_seq[me])
        c->delivered_seq[me] = c->read_seq[me];
    return dump_free(json_pack("{s:b,s:I,s:I,s:b}", "ok", 1, "read_seq", (json_int_t)c->read_seq[me], "peer_id",
                               (json_int_t)c->users[1 - me], "changed", changed));
}

static char *op_unread(json_t *op)
{
    uint64_t user = (uint64_t)json_integer_value(json_object_get(op, "user_id"));
    json_t *list = json_array();
    for (size_t i = 0; i < nconvs; i++) {
        const fconv *c = &convs[i];
        int me = side_of(c, user);
        if (me < 0)
            continue;
        json_int_t unread = 0;
        for (size_t k = 0; k < c->n; k++)
            unread += c->msgs[k].from != user && c->msgs[k].seq > c->read_seq[me];
        json_array_append_new(list, json_pack("{s:I,s:I,s:I}", "room", (json_int_t)c->id, "unread", unread,
                                              "last_seq", (json_int_t)c->n));
    }
    return dump_free(json_pack("{s:b,s:o}", "ok", 1, "rooms", list));
}

/* delivered_many: each receipt as a lone delivered, the outcomes in order. */
static char *op_delivered_many(json_t *op)
{
    json_t *results = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(op, "receipts"), i, r)
    {
        char *one = op_delivered(r);
        json_array_append_new(results, json_loads(one, 0, NULL));
        free(one);
    }
    return dump_free(json_pack("{s:b,s:o}", "ok", 1, "results", results));
}

/* send_many: each message as a lone send, the outcomes in order; one the rate limit refused
 * before the store (marked by fake_chat_submit) is answered so in its place. */
static char *op_send_many(json_t *op)
{
    json_t *results = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(op, "sends"), i, m)
    {
        char *one = json_is_true(json_object_get(m, "limited"))
                        ? strdup("{\"ok\":false,\"reason\":\"rate_limited\",\"retry_after_ms\":200}")
                        : op_send(m);
        json_array_append_new(results, json_loads(one, 0, NULL));
        free(one);
    }
    return dump_free(json_pack("{s:b,s:o}", "ok", 1, "results", results));
}

#define NOPS 8
static atomic_int ops_seen[NOPS]; /* join, send, history, delivered, read, unread, delivered_many, send_many */

/* One operation, as the store's unit would run it (under store_lock). */
static char *store_exec(const char *op_json)
{
    static const char *const names[] = {"join",   "send",   "history",        "delivered",
                                        "read",   "unread", "delivered_many", "send_many"};
    static char *(*const fns[])(json_t *) = {op_join, op_send,   op_history,        op_delivered,
                                             op_read, op_unread, op_delivered_many, op_send_many};
    json_t *op = json_loads(op_json, 0, NULL);
    const char *name = json_string_value(json_object_get(op, "op"));
    char *out = NULL;
    pthread_mutex_lock(&store_lock);
    for (int i = 0; name && i < NOPS && !out; i++)
        if (strcmp(name, names[i]) == 0) {
            atomic_fetch_add(&ops_seen[i], 1);
            out = fns[i](op);
        }
    pthread_mutex_unlock(&store_lock);
    json_decref(op);
    return out ? out : refusal("invalid");
}

/* ---- chat_submit: the storage thread runs the op, the dispatch thread gets the outcome ---- */

typedef enum { HOLD_NONE, HOLD_BEFORE_EXEC, HOLD_AFTER_EXEC } hold_mode;
static hold_mode history_hold; /* store_lock */

typedef struct store_job {
    char *op;
    plugin_json_fn done;
    void *arg;
    char *result;
    bool history, released;
    struct store_job *next;
} store_job;

static store_job *held; /* history ops parked by history_hold (store_lock) */
static int nheld;

static void deliver_done(void *p)
{
    store_job *j = p;
    if (current != &dispatch)
        atomic_fetch_add(&done_off_dispatch, 1);
    j->done(j->arg, j->result);
    free(j->op);
    free(j->result);
    free(j);
}

static bool park(store_job *j, hold_mode when)
{
    bool parked = false;
    pthread_mutex_lock(&store_lock);
    if (j->history && !j->released && history_hold == when) {
        j->next = held;
        held = j;
        nheld++;
        parked = true;
    }
    pthread_mutex_unlock(&store_lock);
    return parked;
}

static void storage_run(void *p)
{
    store_job *j = p;
    if (park(j, HOLD_BEFORE_EXEC))
        return;
    j->result = store_exec(j->op);
    if (park(j, HOLD_AFTER_EXEC))
        return;
    worker_post(&dispatch, deliver_done, j, SIZE_MAX); /* the core's outcome hand-off is unbounded */
}

/* Lets the parked history ops go on (before their execution or their outcome's delivery). */
static int release_history(void)
{
    pthread_mutex_lock(&store_lock);
    store_job *list = held;
    int n = nheld;
    held = NULL;
    nheld = 0;
    history_hold = HOLD_NONE;
    pthread_mutex_unlock(&store_lock);
    while (list) {
        store_job *j = list;
        list = j->next;
        j->released = true;
        if (j->result)
            worker_post(&dispatch, deliver_done, j, SIZE_MAX);
        else
            worker_post(&storage, storage_run, j, SIZE_MAX);
    }
    return n;
}

static void set_history_hold(hold_mode mode)
{
    pthread_mutex_lock(&store_lock);
    history_hold = mode;
    pthread_mutex_unlock(&store_lock);
}

static int fake_chat_submit(plugin_ctx *self, const char *op_json, plugin_json_fn done, void *arg)
{
    (void)self;
    if (on_a_loop())
        atomic_fetch_add(&store_on_loop, 1);
    store_job *j = calloc(1, sizeof *j);
    j->op = strdup(op_json);
    j->done = done;
    j->arg = arg;
    json_t *op = json_loads(op_json, 0, NULL);
    const char *name = json_string_value(json_object_get(op, "op"));
    j->history = name && strcmp(name, "history") == 0;
    /* The rate limit refuses a send before it is queued, with done still called (through the
     * core's hand-off to the dispatch thread). */
    if (name && strcmp(name, "send_many") == 0) {
        size_t i;
        json_t *m;
        pthread_mutex_lock(&store_lock);
        json_array_foreach(json_object_get(op, "sends"), i, m)
        {
            fake_user *u = user_of((uint64_t)json_integer_value(json_object_get(m, "sender_id")));
            if (u && u->tokens == 0)
                json_object_set_new(m, "limited", json_true());
            else if (u)
                u->tokens--;
        }
        pthread_mutex_unlock(&store_lock);
        free(j->op);
        j->op = json_dumps(op, JSON_COMPACT);
    }
    if (name && strcmp(name, "send") == 0) {
        pthread_mutex_lock(&store_lock);
        fake_user *u = user_of((uint64_t)json_integer_value(json_object_get(op, "sender_id")));
        bool limited = u && u->tokens == 0;
        if (u && u->tokens > 0)
            u->tokens--;
        pthread_mutex_unlock(&store_lock);
        if (limited)
            j->result = strdup("{\"ok\":false,\"reason\":\"rate_limited\",\"retry_after_ms\":200}");
    }
    json_decref(op);
    if (j->result)
        return worker_post(&dispatch, deliver_done, j, SIZE_MAX);
    return worker_post(&storage, storage_run, j, SIZE_MAX);
}

static char *fake_chat_run(plugin_ctx *self, const char *op_json)
{
    (void)self;
    if (on_a_loop())
        atomic_fetch_add(&blocking_on_loop, 1);
    return store_exec(op_json);
}

static const core_callbacks fake_core = {
    .abi_version = PLUGIN_ABI_VERSION,
    .struct_size = sizeof(core_callbacks),
    .push_event = fake_push_event,
    .relay_data = fake_relay_data,
    .close_pc = fake_close_pc,
    .end_handle = fake_end_handle,
    .handle_ref = h_ref,
    .handle_unref = h_unref,
    .handle_id = fake_handle_id,
    .handle_session_id = fake_session_id,
    .handle_user_id = fake_user_id,
    .handle_detached = fake_detached,
    .loop_post = fake_loop_post,
    .handle_media_state = fake_media_state,
    .post = fake_post,
    .timer_start = fake_timer_start,
    .timer_cancel = fake_timer_cancel,
    .jsep_offer = fake_jsep_offer,
    .user_info = fake_user_info,
    .chat_submit = fake_chat_submit,
    .chat_run = fake_chat_run,
    .user_blocks = fake_user_blocks,
};

/* ------------------------------------------------------------------------------------------ */
/* Driving the plugin as the core would                                                        */
/* ------------------------------------------------------------------------------------------ */

/* handle_message on the dispatch thread. */
typedef struct api_call {
    plugin_handle *h;
    const char *body, *jsep;
    plugin_result r;
    bool ran;
} api_call;

static void api_on_dispatch(void *p)
{
    api_call *a = p;
    psref *ps = ps_get(a->h);
    if (!ps)
        return;
    a->r = P->handle_message(ps->session, "tx-api", a->body, a->jsep);
    a->ran = true;
    ps_put(ps);
}

/* The synchronous reply's data (kind EVENT), or NULL (kind NONE: look at the pushed events). */
static json_t *api(plugin_handle *h, const char *body, const char *jsep, plugin_result_kind want)
{
    api_call a = {.h = h, .body = body, .jsep = jsep};
    worker_post(&dispatch, api_on_dispatch, &a, SIZE_MAX);
    settle();
    CHECK(a.ran);
    CHECK_INT(a.r.kind, want);
    json_t *data = a.r.json ? json_loads(a.r.json, 0, NULL) : NULL;
    free(a.r.json);
    free(a.r.error_reason);
    return data;
}

static size_t ev_mark(plugin_handle *h)
{
    pthread_mutex_lock(&h->lock);
    size_t n = h->nev;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* The event pushed to h at index i (copies), false when there is none. */
static bool ev_at(plugin_handle *h, size_t i, json_t **data, json_t **jsep)
{
    pthread_mutex_lock(&h->lock);
    bool ok = i < h->nev;
    if (ok) {
        *data = h->ev[i].data ? json_loads(h->ev[i].data, 0, NULL) : NULL;
        *jsep = h->ev[i].jsep ? json_loads(h->ev[i].jsep, 0, NULL) : NULL;
    }
    pthread_mutex_unlock(&h->lock);
    return ok;
}

/* A device of user with a data channel: setup (our offer) and ack (its answer). */
static plugin_handle *device(uint64_t user)
{
    plugin_handle *h = handle_new(user);
    CHECK(api(h, "{\"request\":\"setup\"}", NULL, PLUGIN_RESULT_NONE) == NULL);
    CHECK(api(h, "{\"request\":\"ack\"}", "{\"type\":\"answer\",\"sdp\":\"x\"}", PLUGIN_RESULT_NONE) == NULL);
    CHECK(atomic_load(&h->loop) >= 0);
    return h;
}

/* Channel input, as the handle's loop delivers it. */
typedef struct chan_in {
    plugin_handle *h;
    char label[32];
    size_t len;
    char text[];
} chan_in;

static void incoming_on_loop(void *p)
{
    chan_in *in = p;
    psref *ps = ps_get(in->h);
    if (ps) {
        P->incoming_data(ps->session, in->label, 0, (const uint8_t *)in->text, in->len);
        ps_put(ps);
    }
    h_unref(in->h);
    free(in);
}

static void send_raw(plugin_handle *h, const char *label, const char *text, size_t len)
{
    chan_in *in = malloc(sizeof *in + len + 1);
    in->h = h;
    h_ref(h);
    snprintf(in->label, sizeof in->label, "%s", label);
    in->len = len;
    memcpy(in->text, text, len);
    in->text[len] = '\0';
    CHECK_INT(fake_loop_post(h, incoming_on_loop, in), 0);
}

static void hangup_on_loop(void *p)
{
    plugin_handle *h = p;
    psref *ps = ps_get(h);
    if (ps) {
        P->hangup_media(ps->session);
        ps_put(ps);
    }
    h_unref(h);
}

static void hangup(plugin_handle *h)
{
    h_ref(h);
    CHECK_INT(fake_loop_post(h, hangup_on_loop, h), 0);
    settle();
}

static size_t rx_mark(plugin_handle *h)
{
    pthread_mutex_lock(&h->lock);
    size_t n = h->nrx;
    pthread_mutex_unlock(&h->lock);
    return n;
}

/* What h received since mark, parsed, in order (a new array). */
static json_t *rx_since(plugin_handle *h, size_t mark)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&h->lock);
    for (size_t i = mark; i < h->nrx; i++) {
        json_t *o = json_loads(h->rx[i].text, 0, NULL);
        json_array_append_new(arr, o ? o : json_string(h->rx[i].text));
    }
    pthread_mutex_unlock(&h->lock);
    return arr;
}

static const char *rx_label(plugin_handle *h, size_t i)
{
    pthread_mutex_lock(&h->lock);
    const char *l = i < h->nrx ? h->rx[i].label : NULL;
    pthread_mutex_unlock(&h->lock);
    return l;
}

static const char *str(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }
static json_int_t num(json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }

static size_t count_kind(json_t *arr, const char *kind)
{
    size_t n = 0, i;
    json_t *o;
    json_array_foreach(arr, i, o)
        n += str(o, "textroom") && strcmp(str(o, "textroom"), kind) == 0;
    return n;
}

/* The idx-th event of kind in arr (borrowed), NULL when there are fewer. */
static json_t *nth(json_t *arr, const char *kind, size_t idx)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
        if (str(o, "textroom") && strcmp(str(o, "textroom"), kind) == 0 && idx-- == 0)
            return o;
    return NULL;
}

/* Sends a request on h's channel, waits, and returns everything h received meanwhile. */
__attribute__((format(printf, 3, 4)))
static json_t *chan(plugin_handle *h, const char *label, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    size_t mark = rx_mark(h);
    send_raw(h, label, text, strlen(text));
    settle();
    return rx_since(h, mark);
}

/* The error code of the only reply in rx (0 when it is no error), rx consumed. */
static int error_of(json_t *rx)
{
    int code = json_array_size(rx) == 1 && nth(rx, "error", 0) ? (int)num(nth(rx, "error", 0), "error_code") : 0;
    json_decref(rx);
    return code;
}

#define DC "JanusDataChannel"
#define TEXT_BIG 4097

static void uuid_n(char out[37], unsigned n) { snprintf(out, 37, "%08x-1111-4000-8000-%012x", n, n); }

/* Sends a message with a fresh client_id (returned in cid); returns h's rx. */
static json_t *say(plugin_handle *h, int64_t room, const char *text, char cid[37])
{
    static unsigned n;
    uuid_n(cid, ++n);
    return chan(h, DC, "{\"textroom\":\"message\",\"transaction\":\"say%u\",\"room\":%lld,\"text\":\"%s\","
                       "\"client_id\":\"%s\"}", n, (long long)room, text, cid);
}

static json_t *join(plugin_handle *h, const char *label, int64_t room, const char *extra)
{
    return chan(h, label, "{\"textroom\":\"join\",\"transaction\":\"j\",\"room\":%lld,\"username\":\"%llu\"%s}",
                (long long)room, (unsigned long long)h->user_id, extra ? extra : "");
}

static int64_t store_count(int64_t room)
{
    pthread_mutex_lock(&store_lock);
    fconv *c = conv_of(room);
    int64_t n = c ? (int64_t)c->n : -1;
    pthread_mutex_unlock(&store_lock);
    return n;
}

static int64_t balance_of(uint64_t user)
{
    pthread_mutex_lock(&store_lock);
    int64_t b = user_of(user)->balance;
    pthread_mutex_unlock(&store_lock);
    return b;
}

/* Checks the message events in rx carry exactly the seqs listed, in that order. */
static void check_seqs(json_t *rx, const int64_t *seqs, size_t n, int line)
{
    size_t got = count_kind(rx, "message");
    if (got != n)
        fprintf(stderr, "line %d: %zu messages, expected %zu\n", line, got, n);
    CHECK_INT(got, n);
    for (size_t i = 0; i < n && i < got; i++) {
        if (num(nth(rx, "message", i), "seq") != seqs[i])
            fprintf(stderr, "line %d: message %zu has seq %lld, expected %lld\n", line, i,
                    (long long)num(nth(rx, "message", i), "seq"), (long long)seqs[i]);
        CHECK_INT(num(nth(rx, "message", i), "seq"), seqs[i]);
    }
}
#define CHECK_SEQS(rx, ...) do { const int64_t s_[] = {__VA_ARGS__}; \
    check_seqs(rx, s_, sizeof s_ / sizeof *s_, __LINE__); } while (0)

/* Nothing may stay referenced once the test let go of its handle. */
static void release(plugin_handle *h)
{
    detach(h);
    settle();
    CHECK_INT(atomic_load(&h->refs), 1);
    h_unref(h);
}

/* ------------------------------------------------------------------------------------------ */
/* Scenarios                                                                                   */
/* ------------------------------------------------------------------------------------------ */

#define ROOM 10       /* Alice (caller 1) and Bob (host 2, message_rate 2) */
#define ROOM_BROKE 11 /* Broke (caller 3, balance 1) and Bob */
#define ROOM_FLOOD 12 /* Flood (caller 5, 3 sends before the rate limit) and Dora (host 4) */
#define ROOM_OTHER 20 /* Eve (6) and Finn (7) */

static void test_janus_api(void)
{
    plugin_handle *h = handle_new(1);
    int offers = atomic_load(&offers_made);

    /* setup: no synchronous reply; an event with our offer (one data-channel m-line). */
    size_t e0 = ev_mark(h);
    CHECK(api(h, "{\"request\":\"setup\"}", NULL, PLUGIN_RESULT_NONE) == NULL);
    CHECK_INT(atomic_load(&offers_made), offers + 1);
    json_t *data = NULL, *jsep = NULL;
    CHECK(ev_at(h, e0, &data, &jsep));
    CHECK_STR(str(data, "textroom"), "event");
    CHECK_STR(str(data, "result"), "ok");
    CHECK_STR(str(jsep, "type"), "offer");
    CHECK(str(jsep, "sdp") && strstr(str(jsep, "sdp"), "m=application"));
    CHECK(json_object_get(jsep, "restart") == NULL);
    json_decref(data), json_decref(jsep);
    CHECK(atomic_load(&h->loop) >= 0);

    /* setup twice: 416. */
    json_t *r = api(h, "{\"request\":\"setup\"}", NULL, PLUGIN_RESULT_EVENT);
    CHECK_INT(num(r, "error_code"), 416);
    json_decref(r);

    /* ack with the answer: the event, no jsep. */
    e0 = ev_mark(h);
    CHECK(api(h, "{\"request\":\"ack\"}", "{\"type\":\"answer\",\"sdp\":\"x\"}", PLUGIN_RESULT_NONE) == NULL);
    CHECK(ev_at(h, e0, &data, &jsep));
    CHECK_STR(str(data, "result"), "ok");
    CHECK(jsep == NULL);
    json_decref(data), json_decref(jsep);

    /* restart: a new offer flagged restart. */
    e0 = ev_mark(h);
    CHECK(api(h, "{\"request\":\"restart\"}", NULL, PLUGIN_RESULT_NONE) == NULL);
    CHECK(ev_at(h, e0, &data, &jsep));
    CHECK_STR(str(jsep, "type"), "offer");
    CHECK(json_is_true(json_object_get(jsep, "restart")));
    json_decref(data), json_decref(jsep);

    /* Requests it does not know, and bodies that are no requests. */
    r = api(h, "{\"request\":\"create\"}", NULL, PLUGIN_RESULT_EVENT);
    CHECK_INT(num(r, "error_code"), 415);
    json_decref(r);
    r = api(h, "[1]", NULL, PLUGIN_RESULT_EVENT);
    CHECK_INT(num(r, "error_code"), 412);
    json_decref(r);
    r = api(h, "{}", NULL, PLUGIN_RESULT_EVENT);
    CHECK_INT(num(r, "error_code"), 413);
    json_decref(r);
    r = api(h, NULL, NULL, PLUGIN_RESULT_EVENT);
    CHECK_INT(num(r, "error_code"), 411);
    json_decref(r);

    /* janus_client: "textroom" instead of "request"; restart before setup is refused. */
    plugin_handle *k = handle_new(2);
    r = api(k, "{\"request\":\"restart\"}", NULL, PLUGIN_RESULT_EVENT);
    CHECK_INT(num(r, "error_code"), 416);
    json_decref(r);
    e0 = ev_mark(k);
    CHECK(api(k, "{\"textroom\":\"setup\"}", NULL, PLUGIN_RESULT_NONE) == NULL);
    CHECK(ev_at(k, e0, &data, &jsep));
    CHECK_STR(str(jsep, "type"), "offer");
    json_decref(data), json_decref(jsep);

    char *q = P->query_session(h->ps->session);
    CHECK(q && strstr(q, "\"user_id\":1") && strstr(q, "\"setup\":true"));
    free(q);
    release(h);
    release(k);
}

/* Two users, two devices each: joins, fan-out, seq, replays. Leaves a1 a2 b1 joined. */
static plugin_handle *a1, *a2, *b1, *b2;

static void test_join_and_fan_out(void)
{
    a1 = device(1), a2 = device(1), b1 = device(2), b2 = device(2);

    json_t *rx = join(a1, DC, ROOM, NULL);
    json_t *ok = nth(rx, "success", 0);
    CHECK_INT(json_array_size(rx), 1);
    CHECK_STR(str(ok, "transaction"), "j");
    CHECK_INT(json_array_size(json_object_get(ok, "participants")), 0);
    CHECK_INT(num(ok, "last_seq"), 0);
    CHECK(json_object_get(ok, "read_seq") && json_object_get(ok, "peer_read_seq"));
    json_decref(rx);

    /* The second device (on its own label) joins: a user's second device announces nothing. */
    size_t ma1 = rx_mark(a1);
    rx = join(a2, "side", ROOM, NULL);
    CHECK(nth(rx, "success", 0) != NULL);
    CHECK_STR(rx_label(a2, rx_mark(a2) - 1), "side");
    json_decref(rx);
    CHECK_INT(rx_mark(a1), ma1);

    /* The peer's first device: the others learn it, it sees Alice among the participants. */
    size_t ma2 = rx_mark(a2);
    rx = join(b1, DC, ROOM, NULL);
    ok = nth(rx, "success", 0);
    json_t *parts = json_object_get(ok, "participants");
    CHECK_INT(json_array_size(parts), 1);
    CHECK_STR(str(json_array_get(parts, 0), "username"), "1");
    CHECK_STR(str(json_array_get(parts, 0), "display"), "Alice");
    json_decref(rx);
    json_t *ja1 = rx_since(a1, ma1), *ja2 = rx_since(a2, ma2);
    json_t *j = nth(ja1, "join", 0);
    CHECK_INT(json_array_size(ja1), 1);
    CHECK_STR(str(j, "username"), "2");
    CHECK_STR(str(j, "display"), "Bob");
    CHECK_INT(num(j, "room"), ROOM);
    CHECK_INT(count_kind(ja2, "join"), 1);
    CHECK_STR(rx_label(a2, ma2), "side");
    json_decref(ja1), json_decref(ja2);

    /* Joining twice on one device: 421. */
    CHECK_INT(error_of(join(b1, DC, ROOM, NULL)), 421);

    /* Alice's message: the sender gets success with seq, the other three devices the message. */
    ma1 = rx_mark(a1), ma2 = rx_mark(a2);
    size_t mb1 = rx_mark(b1), mb2 = rx_mark(b2);
    int64_t bal = balance_of(1);
    char cid1[37], cid[37];
    rx = say(a1, ROOM, "hello bob", cid1);
    ok = nth(rx, "success", 0);
    CHECK_INT(json_array_size(rx), 1);
    CHECK_INT(num(ok, "seq"), 1);
    CHECK_STR(str(ok, "state"), "sent");
    CHECK_INT(num(ok, "charged"), 2);
    CHECK_STR(str(ok, "client_id"), cid1);
    CHECK(json_is_false(json_object_get(ok, "replayed")));
    CHECK(str(ok, "msg_id") && str(ok, "date"));
    char msg1[64];
    snprintf(msg1, sizeof msg1, "%s", str(ok, "msg_id") ? str(ok, "msg_id") : "");
    json_decref(rx);
    CHECK_INT(balance_of(1), bal - 2);
    json_t *got = rx_since(b1, mb1);
    json_t *m = nth(got, "message", 0);
    CHECK_INT(json_array_size(got), 1);
    CHECK_STR(str(m, "from"), "1");
    CHECK_STR(str(m, "text"), "hello bob");
    CHECK_STR(str(m, "msg_id"), msg1);
    CHECK_STR(str(m, "client_id"), cid1);
    CHECK_INT(num(m, "room"), ROOM);
    CHECK_INT(num(m, "seq"), 1);
    CHECK(str(m, "date") != NULL);
    json_decref(got);
    got = rx_since(a2, ma2);
    CHECK_SEQS(got, 1);
    CHECK_STR(rx_label(a2, ma2), "side"); /* a member is written on the label it joined on */
    json_decref(got);
    CHECK_INT(rx_mark(b2), mb2); /* not joined */
    CHECK_INT(rx_mark(a1), ma1 + 1);

    /* Bob answers (free), Alice's second device sends without ack (no reply to it). */
    rx = say(b1, ROOM, "hi alice", cid);
    CHECK_INT(num(nth(rx, "success", 0), "seq"), 2);
    CHECK_INT(num(nth(rx, "success", 0), "charged"), 0);
    json_decref(rx);
    size_t ma2b = rx_mark(a2);
    rx = chan(a2, "side", "{\"textroom\":\"message\",\"transaction\":\"noack\",\"room\":%d,\"text\":\"no ack\","
                          "\"client_id\":\"AAAAAAAA-0000-4000-8000-000000000003\",\"ack\":false}", ROOM);
    CHECK_INT(json_array_size(rx), 0);
    json_decref(rx);
    CHECK_INT(rx_mark(a2), ma2b);
    CHECK_INT(store_count(ROOM), 3);

    /* A replay (same client_id, other text): the first outcome, nothing moves, nobody told. */
    mb1 = rx_mark(b1);
    bal = balance_of(1);
    rx = chan(a1, DC, "{\"textroom\":\"message\",\"transaction\":\"again\",\"room\":%d,\"text\":\"changed\","
                      "\"client_id\":\"%s\"}", ROOM, cid1);
    ok = nth(rx, "success", 0);
    CHECK_INT(num(ok, "seq"), 1);
    CHECK_STR(str(ok, "msg_id"), msg1);
    CHECK(json_is_true(json_object_get(ok, "replayed")));
    CHECK_STR(str(ok, "transaction"), "again");
    json_decref(rx);
    CHECK_INT(store_count(ROOM), 3);
    CHECK_INT(balance_of(1), bal);
    CHECK_INT(rx_mark(b1), mb1);

    /* Five more from both sides: every device sees every other device's messages in seq order. */
    mb1 = rx_mark(b1), ma1 = rx_mark(a1);
    for (int i = 0; i < 5; i++)
        json_decref(say(i % 2 ? b1 : a2, ROOM, "burst", cid));
    got = rx_since(b1, mb1);
    CHECK_SEQS(got, 4, 6, 8); /* its own (5, 7) come back as success only */
    CHECK_INT(count_kind(got, "success"), 2);
    json_decref(got);
    got = rx_since(a1, ma1);
    CHECK_SEQS(got, 4, 5, 6, 7, 8);
    json_decref(got);
    /* The client_id was lower-cased on its way to the store. */
    got = rx_since(b1, 0);
    size_t i;
    json_array_foreach(got, i, m)
        if (str(m, "client_id") && strncmp(str(m, "client_id"), "aaaaaaaa", 8) == 0)
            break;
    CHECK(i < json_array_size(got));
    json_decref(got);
}

static void test_backlog(void)
{
    /* Bob's first device confirms seq 1; his second device joins: the rest, in order. */
    json_t *rx = chan(b1, DC, "{\"textroom\":\"delivered\",\"room\":%d,\"msg_id\":\"%s\"}", ROOM,
                      "00000001-0000-4000-a000-000000000001");
    CHECK_INT(count_kind(rx, "success"), 0); /* no transaction, no reply */
    json_decref(rx);
    size_t ma1 = rx_mark(a1);
    rx = join(b2, DC, ROOM, NULL);
    CHECK_INT(json_array_size(rx), 8);
    CHECK_STR(str(json_array_get(rx, 0), "textroom"), "success"); /* the reply comes first */
    CHECK_INT(num(json_array_get(rx, 0), "last_seq"), 8);
    CHECK_INT(num(json_array_get(rx, 0), "delivered_seq"), 1);
    CHECK_SEQS(rx, 2, 3, 4, 5, 6, 7, 8);
    CHECK_STR(str(nth(rx, "message", 0), "from"), "2");
    CHECK_STR(str(nth(rx, "message", 1), "text"), "no ack");
    json_decref(rx);
    CHECK_INT(rx_mark(a1), ma1); /* Bob was already there */

    /* since_seq and history: two before seq 6, then the rest. */
    rx = chan(b2, DC, "{\"textroom\":\"leave\",\"room\":%d}", ROOM); /* janus_client's: no transaction */
    CHECK_INT(json_array_size(rx), 1);
    CHECK(nth(rx, "success", 0) && !json_object_get(nth(rx, "success", 0), "transaction"));
    json_decref(rx);
    rx = join(b2, DC, ROOM, ",\"since_seq\":6,\"history\":2");
    CHECK_SEQS(rx, 5, 6, 7, 8);
    json_decref(rx);

    /* Messages sent while the backlog's outcome is on its way (the history ran first): they
     * follow the backlog, once each, in order — also the one from Bob's other device. */
    json_decref(chan(b2, DC, "{\"textroom\":\"leave\",\"transaction\":\"l\",\"room\":%d}", ROOM));
    set_history_hold(HOLD_AFTER_EXEC);
    size_t mb2 = rx_mark(b2);
    rx = join(b2, DC, ROOM, ",\"since_seq\":5");
    CHECK_INT(json_array_size(rx), 1);
    CHECK(nth(rx, "success", 0) != NULL);
    json_decref(rx);
    char cid[37];
    json_decref(say(a1, ROOM, "while catching up 1", cid));
    json_decref(say(b1, ROOM, "while catching up 2", cid));
    json_decref(say(a2, ROOM, "while catching up 3", cid));
    CHECK_INT(rx_mark(b2), mb2 + 1); /* held back behind the backlog */
    CHECK_INT(release_history(), 1);
    settle();
    rx = rx_since(b2, mb2);
    CHECK_SEQS(rx, 6, 7, 8, 9, 10, 11);
    json_decref(rx);

    /* The history runs after the live messages were stored: they come in the backlog and are
     * not repeated. */
    json_decref(chan(b2, DC, "{\"textroom\":\"leave\",\"transaction\":\"l\",\"room\":%d}", ROOM));
    set_history_hold(HOLD_BEFORE_EXEC);
    mb2 = rx_mark(b2);
    json_decref(join(b2, DC, ROOM, ",\"since_seq\":9"));
    json_decref(say(a1, ROOM, "stored before the backlog 1", cid));
    json_decref(say(a2, ROOM, "stored before the backlog 2", cid));
    CHECK_INT(release_history(), 1);
    settle();
    rx = rx_since(b2, mb2);
    CHECK_SEQS(rx, 10, 11, 12, 13);
    json_decref(rx);

    /* Live again: the next one arrives at once. */
    mb2 = rx_mark(b2);
    json_decref(say(a1, ROOM, "live", cid));
    rx = rx_since(b2, mb2);
    CHECK_SEQS(rx, 14);
    json_decref(rx);
}

static void test_receipts(void)
{
    /* delivered: every device of the sender, once; a receipt is not a message for the others. */
    size_t ma1 = rx_mark(a1), ma2 = rx_mark(a2), mb1 = rx_mark(b1), mb2 = rx_mark(b2);
    char mid[37];
    pthread_mutex_lock(&store_lock);
    snprintf(mid, sizeof mid, "%s", conv_of(ROOM)->msgs[13].msg_id); /* seq 14, Alice's */
    pthread_mutex_unlock(&store_lock);
    json_t *rx = chan(b2, DC, "{\"textroom\":\"delivered\",\"transaction\":\"d\",\"room\":%d,\"msg_id\":\"%s\"}", ROOM,
                      mid);
    CHECK_STR(str(nth(rx, "success", 0), "transaction"), "d");
    json_decref(rx);
    json_t *got = rx_since(a1, ma1);
    json_t *rc = nth(got, "receipt", 0);
    CHECK_INT(json_array_size(got), 1);
    CHECK_STR(str(rc, "state"), "delivered");
    CHECK_STR(str(rc, "msg_id"), mid);
    CHECK_INT(num(rc, "seq"), 14);
    CHECK_INT(num(rc, "room"), ROOM);
    json_decref(got);
    got = rx_since(a2, ma2);
    CHECK_INT(count_kind(got, "receipt"), 1);
    json_decref(got);
    CHECK_INT(rx_mark(b1), mb1);
    json_decref(chan(b1, DC, "{\"textroom\":\"delivered\",\"transaction\":\"d2\",\"room\":%d,\"msg_id\":\"%s\"}", ROOM,
                     mid));
    CHECK_INT(rx_mark(a1), ma1 + 1); /* already delivered: no second receipt */
    /* delivered for one's own message: the store knows no such message from the peer. */
    CHECK_INT(error_of(chan(a1, DC, "{\"textroom\":\"delivered\",\"transaction\":\"d3\",\"room\":%d,\"msg_id\":\"%s\"}",
                            ROOM, mid)),
              414);

    /* read: the writer's devices get a receipt, the reader's other device the position. */
    ma1 = rx_mark(a1), ma2 = rx_mark(a2), mb1 = rx_mark(b1), mb2 = rx_mark(b2);
    rx = chan(b1, DC, "{\"textroom\":\"read\",\"transaction\":\"r\",\"room\":%d,\"up_to_seq\":12}", ROOM);
    CHECK_INT(json_array_size(rx), 1);
    CHECK_INT(num(nth(rx, "success", 0), "read_seq"), 12);
    json_decref(rx);
    got = rx_since(a1, ma1);
    rc = nth(got, "receipt", 0);
    CHECK_INT(json_array_size(got), 1);
    CHECK_STR(str(rc, "state"), "read");
    CHECK_INT(num(rc, "up_to_seq"), 12);
    json_decref(got);
    got = rx_since(a2, ma2);
    CHECK_INT(count_kind(got, "receipt"), 1);
    json_decref(got);
    got = rx_since(b2, mb2);
    CHECK_INT(json_array_size(got), 1);
    CHECK_INT(num(nth(got, "read", 0), "up_to_seq"), 12);
    CHECK_INT(num(nth(got, "read", 0), "room"), ROOM);
    json_decref(got);
    /* The same position again moves nothing: nobody is told. */
    ma1 = rx_mark(a1), mb2 = rx_mark(b2);
    json_decref(chan(b1, DC, "{\"textroom\":\"read\",\"transaction\":\"r\",\"room\":%d,\"up_to_seq\":12}", ROOM));
    CHECK_INT(rx_mark(a1), ma1);
    CHECK_INT(rx_mark(b2), mb2);
    /* Without a transaction: no reply, the others still told (clamped to the last seq). */
    rx = chan(b2, DC, "{\"textroom\":\"read\",\"room\":%d,\"up_to_seq\":99}", ROOM);
    CHECK_INT(json_array_size(rx), 0);
    json_decref(rx);
    got = rx_since(b1, mb1 + 1);
    CHECK_INT(num(nth(got, "read", 0), "up_to_seq"), 14);
    json_decref(got);
    got = rx_since(a1, ma1);
    CHECK_INT(num(nth(got, "receipt", 0), "up_to_seq"), 14);
    json_decref(got);
}

static void test_errors(void)
{
    /* Malformed JSON: 412 without a transaction; no textroom: 413; unknown verb: 415. */
    json_t *rx = chan(a1, DC, "{\"textroom\":\"message\",");
    json_t *e = nth(rx, "error", 0);
    CHECK_INT(num(e, "error_code"), 412);
    CHECK(json_object_get(e, "transaction") == NULL);
    json_decref(rx);
    /* The errors carry the transaction whenever it could be read, so the client can match them. */
    rx = chan(a1, DC, "{\"transaction\":\"x1\",\"room\":10}");
    CHECK_INT(num(nth(rx, "error", 0), "error_code"), 413);
    CHECK_STR(str(nth(rx, "error", 0), "transaction"), "x1");
    json_decref(rx);
    rx = chan(a1, DC, "{\"textroom\":\"kick\",\"transaction\":\"x2\",\"room\":10}");
    CHECK_INT(num(nth(rx, "error", 0), "error_code"), 415);
    CHECK_STR(str(nth(rx, "error", 0), "transaction"), "x2");
    json_decref(rx);
    /* A NUL in the text is an invalid element (414), not invalid JSON. */
    rx = chan(a1, DC, "{\"textroom\":\"message\",\"transaction\":\"x3\",\"room\":10,\"text\":\"a\\u0000b\","
                      "\"client_id\":\"33333333-0000-4000-8000-000000000001\"}");
    CHECK_INT(num(nth(rx, "error", 0), "error_code"), 414);
    CHECK_STR(str(nth(rx, "error", 0), "transaction"), "x3");
    json_decref(rx);
    size_t mark = rx_mark(a1);
    send_raw(a1, DC, "", 0);
    settle();
    rx = rx_since(a1, mark);
    CHECK_INT(error_of(rx), 411);

    /* Missing client_id: 413 with the transaction. */
    rx = chan(a1, DC, "{\"textroom\":\"message\",\"transaction\":\"t1\",\"room\":%d,\"text\":\"x\"}", ROOM);
    e = nth(rx, "error", 0);
    CHECK_INT(num(e, "error_code"), 413);
    CHECK_STR(str(e, "transaction"), "t1");
    json_decref(rx);
    /* Oversize text: 414; nothing stored. */
    int64_t before = store_count(ROOM);
    char *big = malloc(TEXT_BIG + 1);
    memset(big, 'x', TEXT_BIG);
    big[TEXT_BIG] = '\0';
    char cid[37];
    CHECK_INT(error_of(say(a1, ROOM, big, cid)), 414);
    free(big);
    CHECK_INT(store_count(ROOM), before);

    /* Not joined: 422 (message, receipts, leave, listparticipants). */
    CHECK_INT(error_of(say(a1, ROOM_BROKE, "x", cid)), 422);
    CHECK_INT(error_of(chan(a1, DC, "{\"textroom\":\"read\",\"transaction\":\"x\",\"room\":%d,\"up_to_seq\":1}",
                            ROOM_OTHER)), 422);
    CHECK_INT(error_of(chan(a1, DC, "{\"textroom\":\"leave\",\"transaction\":\"x\",\"room\":%d}", ROOM_OTHER)), 422);

    /* Username not one's own id: 419; someone else's conversation: 419; no such room: 417. */
    plugin_handle *x = device(1);
    CHECK_INT(error_of(chan(x, DC, "{\"textroom\":\"join\",\"transaction\":\"j\",\"room\":%d,\"username\":\"2\"}", ROOM)),
              419);
    CHECK_INT(error_of(join(x, DC, ROOM_OTHER, NULL)), 419);
    CHECK_INT(error_of(join(x, DC, 99, NULL)), 417);
    release(x);
    plugin_handle *anon = device(0); /* auth off: no user, no chat */
    CHECK_INT(error_of(chan(anon, DC, "{\"textroom\":\"join\",\"transaction\":\"j\",\"room\":%d,\"username\":\"0\"}",
                            ROOM)), 419);
    release(anon);

    /* A Caller without credit: 402 with needed and balance; nothing stored, nothing charged. */
    plugin_handle *broke = device(3);
    json_decref(join(broke, DC, ROOM_BROKE, NULL));
    rx = say(broke, ROOM_BROKE, "can I?", cid);
    e = nth(rx, "error", 0);
    CHECK_INT(num(e, "error_code"), 402);
    CHECK_STR(str(e, "reason"), "insufficient_balance");
    CHECK_INT(num(e, "needed"), 2);
    CHECK_INT(num(e, "balance"), 1);
    CHECK(str(e, "transaction") != NULL);
    json_decref(rx);
    CHECK_INT(store_count(ROOM_BROKE), 0);
    CHECK_INT(balance_of(3), 1);
    release(broke);

    /* Over the rate limit: 429 with retry_after_ms; the first three went through. */
    plugin_handle *flood = device(5);
    json_decref(join(flood, DC, ROOM_FLOOD, NULL));
    for (int i = 0; i < 3; i++) {
        rx = say(flood, ROOM_FLOOD, "flood", cid);
        CHECK_INT(num(nth(rx, "success", 0), "seq"), i + 1);
        json_decref(rx);
    }
    rx = say(flood, ROOM_FLOOD, "one too many", cid);
    e = nth(rx, "error", 0);
    CHECK_INT(num(e, "error_code"), 429);
    CHECK_STR(str(e, "reason"), "rate_limited");
    CHECK_INT(num(e, "retry_after_ms"), 200);
    json_decref(rx);
    CHECK_INT(store_count(ROOM_FLOOD), 3);
    release(flood);
}

static void test_lists(void)
{
    /* Over the Janus API (chat_run) and over the channel (chat_submit). */
    json_t *r = api(a1, "{\"request\":\"list\"}", NULL, PLUGIN_RESULT_EVENT);
    json_t *list = json_object_get(r, "list");
    CHECK_STR(str(r, "textroom"), "success");
    CHECK_INT(json_array_size(list), 1);
    CHECK_INT(num(json_array_get(list, 0), "room"), ROOM);
    CHECK_INT(num(json_array_get(list, 0), "num_participants"), 2);
    json_decref(r);
    r = api(b1, "{\"request\":\"listparticipants\",\"room\":10}", NULL, PLUGIN_RESULT_EVENT);
    CHECK_INT(json_array_size(json_object_get(r, "participants")), 2);
    json_decref(r);
    r = api(b1, "{\"request\":\"listparticipants\",\"room\":11}", NULL, PLUGIN_RESULT_EVENT);
    CHECK_INT(num(r, "error_code"), 422);
    json_decref(r);
    json_t *rx = chan(b1, DC, "{\"textroom\":\"list\",\"transaction\":\"l\"}");
    list = json_object_get(nth(rx, "success", 0), "list");
    CHECK_INT(json_array_size(list), 2); /* Bob has two conversations */
    json_decref(rx);
    rx = chan(a2, "side", "{\"textroom\":\"listparticipants\",\"transaction\":\"p\",\"room\":\"10\"}");
    CHECK_INT(json_array_size(json_object_get(nth(rx, "success", 0), "participants")), 2);
    json_decref(rx);
}

static void test_notify(void)
{
    /* A message sent over REST: stored by the store, then every joined device is told. */
    size_t ma1 = rx_mark(a1), ma2 = rx_mark(a2), mb1 = rx_mark(b1), mb2 = rx_mark(b2);
    char *sent = store_exec("{\"op\":\"send\",\"room\":10,\"sender_id\":2,\"client_id\":"
                            "\"22222222-0000-4000-8000-000000000001\",\"text\":\"over REST\"}");
    char ev[2048];
    snprintf(ev, sizeof ev, "{\"event\":\"message\",\"room\":10,\"message\":%s}", sent);
    free(sent);
    P->notify(ev);
    settle();
    plugin_handle *all[] = {a1, a2, b1, b2};
    size_t marks[] = {ma1, ma2, mb1, mb2};
    for (int i = 0; i < 4; i++) {
        json_t *got = rx_since(all[i], marks[i]);
        CHECK_SEQS(got, 15);
        CHECK_STR(str(nth(got, "message", 0), "text"), "over REST");
        CHECK_STR(str(nth(got, "message", 0), "from"), "2");
        json_decref(got);
    }
    /* A read over REST: the writer's devices get the receipt, the reader's the position. */
    for (int i = 0; i < 4; i++)
        marks[i] = rx_mark(all[i]);
    P->notify("{\"event\":\"read\",\"room\":10,\"user_id\":1,\"up_to_seq\":15}");
    settle();
    for (int i = 0; i < 4; i++) {
        json_t *got = rx_since(all[i], marks[i]);
        json_t *o = nth(got, i < 2 ? "read" : "receipt", 0);
        CHECK_INT(json_array_size(got), 1);
        CHECK_INT(num(o, "up_to_seq"), 15);
        json_decref(got);
    }
    /* A room nobody joined, and garbage: nothing happens. */
    P->notify("{\"event\":\"message\",\"room\":77,\"message\":{\"seq\":1,\"from\":1,\"text\":\"x\"}}");
    P->notify("not json");
    settle();
}

static void test_hangup_and_busy(void)
{
    /* Alice's second device loses its PeerConnection: it leaves, Bob is not told (a1 stays). */
    size_t mb1 = rx_mark(b1);
    hangup(a2);
    CHECK_INT(rx_mark(b1), mb1);
    size_t ma2 = rx_mark(a2), ma1 = rx_mark(a1);
    char cid[37];
    json_decref(say(b1, ROOM, "after a2 left", cid));
    CHECK_INT(rx_mark(a2), ma2);
    CHECK_INT(rx_mark(a1), ma1 + 1);
    /* It may set up again (the setup flag went with the PeerConnection). */
    CHECK(api(a2, "{\"request\":\"setup\"}", NULL, PLUGIN_RESULT_NONE) == NULL);

    /* Her last device goes: Bob's devices get leave. */
    size_t mb2 = rx_mark(b2);
    mb1 = rx_mark(b1);
    hangup(a1);
    json_t *got = rx_since(b1, mb1);
    json_t *l = nth(got, "leave", 0);
    CHECK_INT(json_array_size(got), 1);
    CHECK_STR(str(l, "username"), "1");
    CHECK_INT(num(l, "room"), ROOM);
    json_decref(got);
    got = rx_since(b2, mb2);
    CHECK_INT(count_kind(got, "leave"), 1);
    json_decref(got);

    /* A full dispatch queue: the device hears 503 at once, from its loop; a hangup still
     * reaches the dispatch thread (through a timer). */
    atomic_store(&dispatch_cap, 0);
    int timers = atomic_load(&timers_started);
    json_t *rx = say(b1, ROOM, "busy", cid);
    CHECK_INT(num(nth(rx, "error", 0), "error_code"), 503);
    json_decref(rx);
    mb1 = rx_mark(b1);
    hangup(b2);
    CHECK(atomic_load(&timers_started) > timers);
    atomic_store(&dispatch_cap, QUEUE_MAX);
    /* b2 left too: Bob is listed once (b1), Alice no more. */
    rx = chan(b1, DC, "{\"textroom\":\"listparticipants\",\"transaction\":\"p\",\"room\":%d}", ROOM);
    CHECK_INT(json_array_size(json_object_get(nth(rx, "success", 0), "participants")), 1);
    json_decref(rx);

    char *admin = P->admin("");
    CHECK(admin && strstr(admin, "\"dropped_busy\":1") && strstr(admin, "\"post_fallbacks\":1"));
    free(admin);
    release(a1), release(a2), release(b1), release(b2);
}

/* ------------------------------------------------------------------------------------------ */
/* The race: channel input and hangups from many threads while handles detach                  */
/* ------------------------------------------------------------------------------------------ */

#define RACE_DEVICES 6
#define RACE_SENDERS 3
#define RACE_REQUESTS 40
#ifndef RACE_ROUNDS
#define RACE_ROUNDS 100
#endif

typedef struct race {
    plugin_handle *h[RACE_DEVICES];
    int64_t room;
    int round;
    atomic_int started;
} race;

static atomic_uint race_ids;

static void race_input(plugin_handle *h, const char *text)
{
    psref *ps = ps_get(h);
    if (!ps)
        return;
    P->incoming_data(ps->session, DC, 0, (const uint8_t *)text, strlen(text));
    ps_put(ps);
}

static void *race_sender(void *arg)
{
    race *r = arg;
    atomic_fetch_add(&r->started, 1);
    char text[512], cid[37];
    for (int i = 0; i < RACE_REQUESTS; i++)
        for (int d = 0; d < RACE_DEVICES; d++) {
            plugin_handle *h = r->h[d];
            unsigned n = atomic_fetch_add(&race_ids, 1);
            switch ((i + d) % 8) {
            case 0:
                snprintf(text, sizeof text,
                         "{\"textroom\":\"join\",\"transaction\":\"j%u\",\"room\":%lld,\"username\":\"%llu\"%s}", n,
                         (long long)r->room, (unsigned long long)h->user_id, n % 2 ? "" : ",\"since_seq\":0");
                break;
            case 1:
            case 2:
            case 3:
            case 4:
                uuid_n(cid, 0x80000000u + n);
                snprintf(text, sizeof text,
                         "{\"textroom\":\"message\",\"transaction\":\"m%u\",\"room\":%lld,\"text\":\"race %u\","
                         "\"client_id\":\"%s\"}",
                         n, (long long)r->room, n, cid);
                break;
            case 5:
                snprintf(text, sizeof text, "{\"textroom\":\"read\",\"room\":%lld,\"up_to_seq\":%u}", (long long)r->room,
                         n % 50);
                break;
            case 6:
                snprintf(text, sizeof text, "{\"textroom\":\"%s\",\"transaction\":\"p\",\"room\":%lld}",
                         i % 5 == 0 ? "leave" : "listparticipants", (long long)r->room);
                break;
            default:
                snprintf(text, sizeof text, "{\"textroom\":\"delivered\",\"room\":%lld,\"msg_id\":"
                         "\"%08x-0000-4000-a000-%012x\"}", (long long)r->room, n % 4000, n % 4000);
                break;
            }
            race_input(h, text);
        }
    return NULL;
}

static void *race_hangups(void *arg)
{
    race *r = arg;
    atomic_fetch_add(&r->started, 1);
    for (int i = 0; i < 2; i++)
        for (int d = (r->round + i) % 4; d < RACE_DEVICES; d += 4) {
            psref *ps = ps_get(r->h[d]);
            if (ps) {
                P->hangup_media(ps->session);
                ps_put(ps);
            }
            sched_yield();
        }
    return NULL;
}

static void *race_detacher(void *arg)
{
    race *r = arg;
    atomic_fetch_add(&r->started, 1);
    /* Let some work get going first, a little more each round. */
    for (int i = 0; i < r->round % 7 * 400; i++)
        sched_yield();
    for (int d = 0; d < RACE_DEVICES; d++)
        detach(r->h[(d * 5 + r->round) % RACE_DEVICES]);
    return NULL;
}

static void test_race(void)
{
    int destroyed0 = atomic_load(&sessions_destroyed);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        race r = {.room = 1000 + round, .round = round};
        store_add_conv(r.room, 1, 2);
        for (int d = 0; d < RACE_DEVICES; d++) {
            r.h[d] = handle_new(d % 2 ? 2 : 1);
            atomic_store(&r.h[d]->loop, d % NLOOPS); /* as if set up: it has a PeerConnection */
        }
        /* Most of them are in the room before the storm (the rest join during it). */
        for (int d = 0; d < RACE_DEVICES - 1; d++) {
            char text[160];
            snprintf(text, sizeof text, "{\"textroom\":\"join\",\"transaction\":\"j\",\"room\":%lld,\"username\":\"%llu\"}",
                     (long long)r.room, (unsigned long long)r.h[d]->user_id);
            send_raw(r.h[d], DC, text, strlen(text));
        }
        settle();
        pthread_t t[RACE_SENDERS + 2];
        for (int i = 0; i < RACE_SENDERS; i++)
            pthread_create(&t[i], NULL, race_sender, &r);
        pthread_create(&t[RACE_SENDERS], NULL, race_hangups, &r);
        pthread_create(&t[RACE_SENDERS + 1], NULL, race_detacher, &r);
        for (int i = 0; i < RACE_SENDERS + 2; i++)
            pthread_join(t[i], NULL);
        settle();
        for (int d = 0; d < RACE_DEVICES; d++) {
            CHECK_INT(atomic_load(&r.h[d]->refs), 1); /* the plugin let go of it */
            h_unref(r.h[d]);
        }
    }
    CHECK_INT(atomic_load(&sessions_destroyed) - destroyed0, RACE_ROUNDS * RACE_DEVICES);
    CHECK_INT(atomic_load(&live_handles), 0);

    /* No stale member was left behind in the last room: two new devices see only each other. */
    int64_t room = 1000 + RACE_ROUNDS - 1;
    plugin_handle *x = device(1), *y = device(2);
    json_t *rx = join(x, DC, room, ",\"since_seq\":1000000");
    CHECK_INT(json_array_size(json_object_get(nth(rx, "success", 0), "participants")), 0);
    json_decref(rx);
    rx = join(y, DC, room, ",\"since_seq\":1000000");
    CHECK_INT(json_array_size(json_object_get(nth(rx, "success", 0), "participants")), 1);
    json_decref(rx);
    size_t my = rx_mark(y);
    char cid[37];
    json_decref(say(x, room, "after the storm", cid));
    rx = rx_since(y, my);
    CHECK_INT(json_array_size(rx), 1);
    CHECK_STR(str(nth(rx, "message", 0), "text"), "after the storm");
    json_decref(rx);
    release(x), release(y);
}

static json_int_t admin_figure(const char *key)
{
    char *text = P->admin("");
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    json_int_t v = num(o, key);
    json_decref(o);
    free(text);
    return v;
}

int main(void)
{
    worker_start(&dispatch);
    worker_start(&storage);
    for (int i = 0; i < NLOOPS; i++)
        worker_start(&loops[i]);
    store_add_conv(ROOM, 1, 2);
    store_add_conv(ROOM_BROKE, 3, 2);
    store_add_conv(ROOM_FLOOD, 5, 4);
    store_add_conv(ROOM_OTHER, 6, 7);

    P = chat_plugin_descriptor();
    CHECK_STR(P->package, "janus.plugin.textroom");
    plugin_init_info info = {.self = (plugin_ctx *)&dispatch, .config_dir = ".", .config_json = "{}"};
    core_callbacks old = fake_core;
    old.abi_version = 1;
    CHECK_INT(P->init(&old, &info), -1);
    CHECK_INT(P->init(&fake_core, &info), 0);

    test_janus_api();
    test_join_and_fan_out();
    test_backlog();
    test_receipts();
    test_errors();
    test_lists();
    test_notify();
    test_hangup_and_busy();
    /* The race must have raced: requests handled and messages fanned out meanwhile. */
    json_int_t req0 = admin_figure("requests"), msg0 = admin_figure("messages");
    test_race();
    json_int_t reqs = admin_figure("requests") - req0, msgs = admin_figure("messages") - msg0;
    fprintf(stderr, "race: %lld requests handled, %lld messages stored and fanned out\n", (long long)reqs,
            (long long)msgs);
    CHECK(reqs > RACE_ROUNDS * 100 && msgs > RACE_ROUNDS);

    CHECK_INT(atomic_load(&wrong_relay_thread), 0);
    CHECK_INT(atomic_load(&store_on_loop), 0);
    CHECK_INT(atomic_load(&blocking_on_loop), 0);
    CHECK_INT(atomic_load(&done_off_dispatch), 0);
    CHECK_INT(atomic_load(&live_handles), 0);
    /* The plugin sends receipts as delivered_many and messages as send_many only (the lone
     * send is the REST path's, run here directly). */
    for (int i = 0; i < NOPS; i++)
        CHECK(i == 3 || atomic_load(&ops_seen[i]) > 0);
    CHECK(atomic_load(&ops_seen[7]) > 0);

    /* No stop hook: the core runs what is queued on the dispatch thread (settle here) first. */
    CHECK(P->stop == NULL);
    settle();
    P->destroy();
    for (int i = 0; i < NLOOPS; i++)
        worker_stop(&loops[i]);
    worker_stop(&storage);
    worker_stop(&dispatch);
    for (size_t i = 0; i < nconvs; i++) {
        for (size_t k = 0; k < convs[i].n; k++)
            free(convs[i].msgs[k].text);
        free(convs[i].msgs);
    }
    free(convs);
    return check_summary("test_chat_flow");
}
