/*
 * chat: janus.plugin.textroom-compatible text chat between a Caller and a Host over data
 * channels (docs/chat.md). A room is a conversation of the platform (its id); only its two
 * users may join it, from any number of devices. Messages are stored, charged (Caller ->
 * Host, at the Host's message_rate) and numbered by the store in one unit (chat_submit
 * "send"), then fanned out to every other joined device; receipts (delivered, read) travel
 * back to the sender's devices; a device that joins gets what it missed, in order, before
 * anything live.
 *
 * Janus API (handle_message): setup -> our offer with one data-channel m-line; ack + the
 * client's answer; restart -> an offer restarting ICE; list / listparticipants also answered
 * there. Everything else arrives over the data channel (proto.h).
 *
 * Threads: incoming_data runs on the handle's loop and only copies the request to the
 * dispatch thread; every decision, the rooms table (rooms.h) and every store outcome live on
 * the dispatch thread, so nothing here takes a lock. Replies and fan-out go back to each
 * device's own loop with loop_post (relay_data may only run there).
 *
 * Lifetime: chat_session is reference-counted. The core's reference (create_session) is
 * handed to the work destroy_session posts; each room membership, each store operation in
 * flight and each outgoing message hold one. The session holds a handle reference, so its
 * handle stays valid (a detached handle makes relay_data a no-op).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin.h"
#include "proto.h"
#include "rooms.h"

static const core_callbacks *core;
static plugin_ctx *self;
static chat_rooms *rooms;

static struct {
    atomic_ulong requests, messages, replays, refused, delivered, reads, dropped_busy, post_fallbacks, throttled;
} stats;

/* Every request on a device's channel takes a token of that device's bucket (config
 * chat.device_requests_per_s / chat.device_burst): the per-user message limit is the store's,
 * but joins, receipts and lists cost the store too, and a channel has no other bound. */
static struct {
    double per_ms, burst;
} device_limit = {.per_ms = 0.1, .burst = 200};

typedef struct chat_session {
    atomic_int refs;
    plugin_handle *handle;
    uint64_t user_id;
    atomic_bool setup;          /* an offer was made (setup); reset when the PeerConnection goes */
    /* dispatch thread only */
    bool gone;
    uint32_t epoch;             /* PeerConnections lost so far: a join answered after one is void */
    double tokens;              /* the device's request bucket */
    int64_t tokens_at_ms;
    int64_t *rooms;             /* rooms this device joined */
    size_t nrooms, rooms_cap;
} chat_session;

static chat_session *session_new(plugin_handle *h)
{
    chat_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->handle = h;
    core->handle_ref(h);
    s->user_id = core->handle_user_id(h);
    return s;
}

static void session_ref(chat_session *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

static void session_unref(chat_session *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    core->handle_unref(s->handle);
    free(s->rooms);
    free(s);
}

/* Runs fn on the dispatch thread; a full post queue falls back to a 0 ms timer (unbounded),
 * so work that must happen (a session's teardown, a REST message's fan-out) is never lost. */
static void run_on_dispatch(plugin_fn fn, void *arg)
{
    if (core->post(self, fn, arg) == 0)
        return;
    atomic_fetch_add(&stats.post_fallbacks, 1);
    core->timer_start(self, 0, fn, arg);
}

/* ------------------------------------------------------------------------------------------ */
/* Output: one JSON text to one device, on that device's loop                                  */
/* ------------------------------------------------------------------------------------------ */

typedef struct chat_out {
    chat_session *s;
    char label[CHAT_LABEL_MAX];
    size_t len;
    char text[];
} chat_out;

static void out_on_loop(void *arg)
{
    chat_out *o = arg;
    core->relay_data(o->s->handle, o->label, 0, (const uint8_t *)o->text, o->len);
    session_unref(o->s);
    free(o);
}

static void send_text(chat_session *s, const char *label, const char *text)
{
    size_t n = strlen(text);
    chat_out *o = malloc(sizeof *o + n + 1);
    if (!o)
        return;
    o->s = s;
    snprintf(o->label, sizeof o->label, "%s", label);
    o->len = n;
    memcpy(o->text, text, n + 1);
    session_ref(s);
    /* No PeerConnection ever: nobody to send to. */
    if (core->loop_post(s->handle, out_on_loop, o) != 0) {
        session_unref(s);
        free(o);
    }
}

/* Sends o (consumed) to one device. */
static void send_json(chat_session *s, const char *label, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text)
        send_text(s, label, text);
    free(text);
}

static void reply_error(chat_session *s, const char *label, const char *transaction, int code, const char *why,
                        json_t *extra)
{
    json_t *o = json_pack("{s:s,s:i,s:s}", "textroom", "error", "error_code", code, "error", why);
    if (transaction)
        json_object_set_new(o, "transaction", json_string(transaction));
    if (extra)
        json_object_update(o, extra);
    json_decref(extra);
    atomic_fetch_add(&stats.refused, 1);
    send_json(s, label, o);
}

/* A success reply (fields consumed, may be NULL); nothing when the request had no transaction
 * and asked for no reply. */
static void reply_success(chat_session *s, const char *label, const char *transaction, json_t *fields)
{
    json_t *o = json_pack("{s:s}", "textroom", "success");
    if (transaction)
        json_object_set_new(o, "transaction", json_string(transaction));
    if (fields)
        json_object_update(o, fields);
    json_decref(fields);
    send_json(s, label, o);
}

static json_t *json_user(uint64_t user_id)
{
    char name[24];
    snprintf(name, sizeof name, "%" PRIu64, user_id);
    return json_string(name);
}

/* The user's display name from the platform (a read: dispatch thread). */
static json_t *display_of(uint64_t user_id)
{
    char *info = core->user_info(self, user_id);
    json_t *o = info ? json_loads(info, 0, NULL) : NULL;
    free(info);
    json_t *name = json_object_get(o, "display_name");
    json_t *out = json_is_string(name) ? json_incref(name) : json_string("");
    json_decref(o);
    return out;
}

/* Sends text to every member of room for whom want(member) holds, except `except`; members
 * catching up keep it for after their backlog when it carries a seq (> 0). */
typedef bool (*member_filter)(const chat_member *m, uint64_t user_id);

static bool is_user(const chat_member *m, uint64_t user_id) { return m->user_id == user_id; }
static bool anyone(const chat_member *m, uint64_t user_id) { (void)m, (void)user_id; return true; }

static void fan_out(chat_room *room, member_filter want, uint64_t user_id, const chat_session *except,
                    int64_t seq, const char *text)
{
    for (size_t i = 0; i < room->nmembers; i++) {
        chat_member *m = room->members[i];
        if (m->device == except || !want(m, user_id))
            continue;
        if (m->catching_up && seq > 0)
            chat_member_defer(m, seq, text);
        else
            send_text(m->device, m->label, text);
    }
}

static void fan_out_json(chat_room *room, member_filter want, uint64_t user_id, const chat_session *except,
                         int64_t seq, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text)
        fan_out(room, want, user_id, except, seq, text);
    free(text);
}

/* ------------------------------------------------------------------------------------------ */
/* Store operations                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* One request waiting for its store outcome. */
typedef struct op_ctx {
    chat_session *s;
    char label[CHAT_LABEL_MAX];
    tr_request req;
    uint32_t epoch;             /* the session's epoch when the request came */
    uint64_t join_id;           /* history: the membership the backlog is for */
    int64_t after_seq;          /* join/history: where the backlog continues */
} op_ctx;

static op_ctx *op_ctx_new(chat_session *s, const char *label, tr_request *req)
{
    op_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    session_ref(s);
    c->s = s;
    c->epoch = s->epoch;
    snprintf(c->label, sizeof c->label, "%s", label);
    c->req = *req;              /* moved */
    memset(req, 0, sizeof *req);
    return c;
}

static void op_ctx_free(op_ctx *c)
{
    tr_request_clear(&c->req);
    session_unref(c->s);
    free(c);
}

static const char store_unavailable[] = "{\"ok\":false,\"reason\":\"error\",\"message\":\"no chat store\"}";

/* Queues op (consumed) for the store; done(arg, result) runs on the dispatch thread. */
static void submit(json_t *op, plugin_json_fn done, void *arg)
{
    char *text = json_dumps(op, JSON_COMPACT);
    json_decref(op);
    if (!text || core->chat_submit(self, text, done, arg) != 0)
        done(arg, store_unavailable);
    free(text);
}

static const char *reason_of(json_t *res)
{
    const char *r = json_string_value(json_object_get(res, "reason"));
    return r ? r : "error";
}

/* The store said no: the textroom error that says why. */
static void reply_refusal(op_ctx *c, json_t *res)
{
    const char *reason = reason_of(res);
    const char *msg = json_string_value(json_object_get(res, "message"));
    char why[200];
    int code = TR_ERR_UNAVAILABLE;
    json_t *extra = json_pack("{s:s}", "reason", reason);
    if (strcmp(reason, "insufficient_balance") == 0) {
        code = TR_ERR_INSUFFICIENT_BALANCE;
        json_object_set(extra, "needed", json_object_get(res, "needed"));
        json_object_set(extra, "balance", json_object_get(res, "balance"));
        snprintf(why, sizeof why, "Insufficient balance");
    } else if (strcmp(reason, "rate_limited") == 0) {
        code = TR_ERR_RATE_LIMITED;
        json_object_set(extra, "retry_after_ms", json_object_get(res, "retry_after_ms"));
        snprintf(why, sizeof why, "Too many messages, slow down");
    } else if (strcmp(reason, "not_member") == 0 || strcmp(reason, "blocked") == 0) {
        code = TR_ERR_UNAUTHORIZED;
        snprintf(why, sizeof why, "Unauthorized (%s)", strcmp(reason, "blocked") == 0 ? "blocked" : "not your conversation");
    } else if (strcmp(reason, "not_found") == 0) {
        code = c->req.verb == TR_DELIVERED ? TR_ERR_INVALID_ELEMENT : TR_ERR_NO_SUCH_ROOM;
        snprintf(why, sizeof why, c->req.verb == TR_DELIVERED ? "No such message" : "No such room");
    } else if (strcmp(reason, "invalid") == 0) {
        code = TR_ERR_INVALID_ELEMENT;
        snprintf(why, sizeof why, "Invalid element (%s)", msg ? msg : "refused by the store");
    } else {
        snprintf(why, sizeof why, "Chat store unavailable%s%s", msg ? ": " : "", msg ? msg : "");
    }
    reply_error(c->s, c->label, c->req.transaction, code, why, extra);
}

/* A store outcome (res consumed); NULL (and the refusal sent) when it is not {"ok":true,...}
 * or the device went away meanwhile. */
static json_t *outcome_of(op_ctx *c, json_t *res)
{
    if (c->s->gone) {
        json_decref(res);
        return NULL;
    }
    if (!json_is_true(json_object_get(res, "ok"))) {
        reply_refusal(c, res);
        json_decref(res);
        return NULL;
    }
    return res;
}

static json_t *outcome(op_ctx *c, const char *result_json)
{
    return outcome_of(c, json_loads(result_json, 0, NULL));
}

/* ------------------------------------------------------------------------------------------ */
/* Membership                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static bool session_in_room(const chat_session *s, int64_t room)
{
    for (size_t i = 0; i < s->nrooms; i++)
        if (s->rooms[i] == room)
            return true;
    return false;
}

static int session_add_room(chat_session *s, int64_t room)
{
    if (s->nrooms == s->rooms_cap) {
        size_t cap = s->rooms_cap ? s->rooms_cap * 2 : 4;
        int64_t *r = realloc(s->rooms, cap * sizeof *r);
        if (!r)
            return -1;
        s->rooms = r;
        s->rooms_cap = cap;
    }
    s->rooms[s->nrooms++] = room;
    return 0;
}

static void session_drop_room(chat_session *s, int64_t room)
{
    for (size_t i = 0; i < s->nrooms; i++)
        if (s->rooms[i] == room) {
            s->rooms[i] = s->rooms[--s->nrooms];
            return;
        }
}

/* Removes device s from room; the others learn it when it was the user's last device. */
static void leave_room(chat_session *s, int64_t room_id)
{
    session_drop_room(s, room_id);
    chat_room *room = chat_rooms_find(rooms, room_id);
    chat_member *m = room ? chat_room_member(room, s) : NULL;
    if (!m)
        return;
    chat_room_leave(room, m);
    if (chat_room_user_devices(room, s->user_id) == 0)
        fan_out_json(room, anyone, 0, NULL, 0,
                     json_pack("{s:s,s:I,s:o}", "textroom", "leave", "room", (json_int_t)room_id, "username",
                               json_user(s->user_id)));
    chat_rooms_close_if_empty(rooms, room);
    session_unref(s); /* the membership's reference */
}

static void leave_all_rooms(chat_session *s)
{
    while (s->nrooms > 0)
        leave_room(s, s->rooms[s->nrooms - 1]);
}

/* ------------------------------------------------------------------------------------------ */
/* join and the backlog                                                                        */
/* ------------------------------------------------------------------------------------------ */

static json_t *message_event(int64_t room, json_t *m)
{
    json_t *o = json_pack("{s:s,s:I}", "textroom", "message", "room", (json_int_t)room);
    json_t *from = json_object_get(m, "from");
    json_object_set_new(o, "from", json_is_integer(from) ? json_user((uint64_t)json_integer_value(from))
                                                         : json_incref(from));
    static const char *const keys[] = {"date", "text", "msg_id", "seq", "client_id", "client_date", "state"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(m, keys[i]);
        if (v)
            json_object_set(o, keys[i], v);
    }
    return o;
}

static void on_history(void *arg, const char *result_json);

static void request_backlog(op_ctx *c)
{
    json_t *op = json_pack("{s:s,s:I,s:I,s:I,s:i}", "op", "history", "room", (json_int_t)c->req.room, "user_id",
                           (json_int_t)c->s->user_id, "after_seq", (json_int_t)c->after_seq, "limit", TR_HISTORY_MAX);
    submit(op, on_history, c);
}

/* The backlog is out: what arrived live meanwhile follows, then the device is live. */
static void finish_catch_up(chat_member *m, int64_t sent_up_to)
{
    chat_member_settle_deferred(m, sent_up_to);
    for (size_t i = 0; i < m->ndeferred; i++)
        send_text(m->device, m->label, m->deferred[i].json);
    chat_member_clear_deferred(m);
    m->catching_up = false;
}

static void on_history(void *arg, const char *result_json)
{
    op_ctx *c = arg;
    chat_room *room = chat_rooms_find(rooms, c->req.room);
    chat_member *m = room ? chat_room_member(room, c->s) : NULL;
    if (m && m->join_id != c->join_id)
        m = NULL; /* the device left and joined again: that join has its own backlog */
    json_t *res = m ? json_loads(result_json, 0, NULL) : NULL;
    json_t *list = json_object_get(res, "messages");
    if (!m || c->s->gone || !json_is_true(json_object_get(res, "ok"))) {
        if (m) /* the store failed: go live rather than stay deferred forever */
            finish_catch_up(m, c->after_seq);
        json_decref(res);
        op_ctx_free(c);
        return;
    }
    size_t i;
    json_t *msg;
    json_array_foreach(list, i, msg)
    {
        send_json(c->s, m->label, message_event(c->req.room, msg));
        json_int_t seq = json_integer_value(json_object_get(msg, "seq"));
        if (seq > c->after_seq)
            c->after_seq = seq;
    }
    bool more = json_array_size(list) >= TR_HISTORY_MAX;
    json_decref(res);
    if (more) {
        request_backlog(c);
        return;
    }
    finish_catch_up(m, c->after_seq);
    op_ctx_free(c);
}

static json_t *participants_of(chat_room *room, uint64_t except_user)
{
    json_t *list = json_array();
    uint64_t users[2] = {room->caller_id, room->host_id};
    for (int i = 0; i < 2; i++)
        if (users[i] != except_user && chat_room_user_devices(room, users[i]) > 0)
            json_array_append_new(list, json_pack("{s:o,s:o}", "username", json_user(users[i]), "display",
                                                  display_of(users[i])));
    return list;
}

static void on_join(void *arg, const char *result_json)
{
    op_ctx *c = arg;
    chat_session *s = c->s;
    json_t *res = outcome(c, result_json);
    if (res && c->epoch != s->epoch) { /* its PeerConnection went away meanwhile */
        json_decref(res);
        res = NULL;
    }
    if (!res) {
        op_ctx_free(c);
        return;
    }
    if (session_in_room(s, c->req.room)) { /* two joins raced */
        reply_error(s, c->label, c->req.transaction, TR_ERR_ALREADY_IN_ROOM, "Already in room", NULL);
        json_decref(res);
        op_ctx_free(c);
        return;
    }
    uint64_t caller = (uint64_t)json_integer_value(json_object_get(res, "caller_id"));
    uint64_t host = (uint64_t)json_integer_value(json_object_get(res, "host_id"));
    chat_room *room = chat_rooms_open(rooms, c->req.room, caller, host);
    bool first_device = room && chat_room_user_devices(room, s->user_id) == 0;
    chat_member *m = room ? chat_room_join(room, s, s->user_id, c->label) : NULL;
    if (!m || session_add_room(s, c->req.room) != 0) {
        if (m)
            chat_room_leave(room, m);
        chat_rooms_close_if_empty(rooms, room);
        reply_error(s, c->label, c->req.transaction, TR_ERR_UNKNOWN, "Out of memory", NULL);
        json_decref(res);
        op_ctx_free(c);
        return;
    }
    session_ref(s); /* the membership's */
    static uint64_t joins;
    m->join_id = c->join_id = ++joins;
    json_t *fields = json_pack("{s:o}", "participants", participants_of(room, s->user_id));
    static const char *const keys[] = {"last_seq", "read_seq", "delivered_seq", "peer_read_seq", "peer_delivered_seq"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (json_object_get(res, keys[i]))
            json_object_set(fields, keys[i], json_object_get(res, keys[i]));
    reply_success(s, c->label, c->req.transaction, fields);
    if (first_device)
        fan_out_json(room, anyone, 0, s, 0,
                     json_pack("{s:s,s:I,s:o,s:o}", "textroom", "join", "room", (json_int_t)c->req.room, "username",
                               json_user(s->user_id), "display", display_of(s->user_id)));
    int64_t after = c->req.has_since ? c->req.since_seq
                                     : (int64_t)json_integer_value(json_object_get(res, "delivered_seq"));
    after -= c->req.history;
    c->after_seq = after > 0 ? after : 0;
    json_decref(res);
    request_backlog(c);
}

static void handle_join(chat_session *s, const char *label, tr_request *req)
{
    char own[24];
    snprintf(own, sizeof own, "%" PRIu64, s->user_id);
    const char *refusal = NULL;
    int code = TR_ERR_UNAUTHORIZED;
    if (s->user_id == 0)
        refusal = "Unauthorized (sign in: chat needs auth)";
    else if (strcmp(req->username, own) != 0)
        refusal = "Unauthorized (username must be your user id)";
    else if (session_in_room(s, req->room))
        refusal = "Already in room", code = TR_ERR_ALREADY_IN_ROOM;
    if (refusal) {
        reply_error(s, label, req->transaction, code, refusal, NULL);
        return;
    }
    op_ctx *c = op_ctx_new(s, label, req);
    if (c)
        submit(json_pack("{s:s,s:I,s:I}", "op", "join", "room", (json_int_t)c->req.room, "user_id",
                         (json_int_t)s->user_id),
               on_join, c);
}

/* ------------------------------------------------------------------------------------------ */
/* messages and receipts                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* A stored message (the store's send result, or the REST notification) to every joined device
 * but the one that sent it. */
static bool push_available(void)
{
    return core->struct_size >= offsetof(core_callbacks, push_notify) + sizeof core->push_notify && core->push_notify;
}

/* A core without push_wanted (older ABI 2) is asked nothing: every message goes to push_notify. */
static bool push_wanted(uint64_t user_id)
{
    if (core->struct_size < offsetof(core_callbacks, push_wanted) + sizeof core->push_wanted || !core->push_wanted)
        return true;
    return core->push_wanted(self, user_id);
}

/* The recipient's devices that have not joined this conversation learn of the message by push
 * (those joined got it on their channel). Only stored messages come here: a refused one (a
 * block, no credit) never does. */
static void push_message(int64_t room_id, chat_room *room, json_t *msg)
{
    json_int_t to = json_integer_value(json_object_get(msg, "to"));
    json_int_t from = json_integer_value(json_object_get(msg, "from"));
    const char *msg_id = json_string_value(json_object_get(msg, "msg_id"));
    if (to <= 0 || from <= 0 || !msg_id || !push_available() || !push_wanted((uint64_t)to))
        return;
    size_t n = room ? room->nmembers : 0, k = 0;
    plugin_handle **live = calloc(n ? n : 1, sizeof *live);
    if (!live)
        return;
    for (size_t i = 0; i < n; i++)
        if (room->members[i]->user_id == (uint64_t)to)
            live[k++] = ((chat_session *)room->members[i]->device)->handle;
    /* sender_id: the core reads the sender's name only when someone is to be notified */
    json_t *text_v = json_object_get(msg, "text");
    json_t *notice = json_pack("{s:s,s:I,s:I,s:s,s:I,s:O}", "type", "chat_message", "user_id", to, "room",
                               (json_int_t)room_id, "msg_id", msg_id, "sender_id", from, "text",
                               text_v ? text_v : json_null());
    char *text = notice ? json_dumps(notice, JSON_COMPACT) : NULL;
    json_decref(notice);
    if (text)
        core->push_notify(self, text, live, k);
    free(text);
    free(live);
}

static void deliver_message(int64_t room_id, json_t *msg, const chat_session *except)
{
    chat_room *room = chat_rooms_find(rooms, room_id);
    if (room) {
        int64_t seq = json_integer_value(json_object_get(msg, "seq"));
        fan_out_json(room, anyone, 0, except, seq, message_event(room_id, msg));
    }
    push_message(room_id, room, msg);
}

/* One message's store outcome (res consumed). */
static void send_done(op_ctx *c, json_t *res)
{
    res = outcome_of(c, res);
    if (!res) {
        op_ctx_free(c);
        return;
    }
    bool replayed = json_is_true(json_object_get(res, "replayed"));
    atomic_fetch_add(replayed ? &stats.replays : &stats.messages, 1);
    if (c->req.ack) {
        json_t *fields = json_pack("{s:s}", "state", "sent");
        static const char *const keys[] = {"msg_id", "seq", "date", "charged", "client_id", "replayed"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            json_object_set(fields, keys[i], json_object_get(res, keys[i]));
        reply_success(c->s, c->label, c->req.transaction, fields);
    }
    /* A replay was fanned out the first time (or is in the recipients' backlog). */
    if (!replayed)
        deliver_message(c->req.room, res, c->s);
    json_decref(res);
    op_ctx_free(c);
}

/* Requests of one kind that queue up together on the dispatch thread go to the store as one
 * unit: messages come as fast as the callers type, receipts one per message shown, from many
 * devices at once. Each is still checked, stored and answered on its own (a message in its own
 * savepoint), but a burst costs one store job, one wake-up of the storage thread and one
 * hand-back here instead of one each. While a batch of a kind is with the store, the next one
 * gathers (group commit): under load the store gets a few large units instead of a stream of
 * small ones, each of which would pay a COMMIT of its own; an idle kind sends at once. */
typedef struct op_batch op_batch;
typedef struct batch_kind {
    const char *op, *list_key;            /* the store's unit and its list */
    size_t max;
    json_t *(*item)(const op_ctx *c);     /* one entry of the list (NULL: the store refuses it) */
    void (*done)(op_ctx *c, json_t *res); /* one request's outcome (res consumed) */
    /* dispatch thread: */
    op_batch *pending;                    /* gathering */
    int in_store;                         /* batches submitted and not answered yet */
    bool flush_posted;                    /* a flush_posted() runs after what is queued now */
} batch_kind;

struct op_batch {
    batch_kind *kind;
    size_t n;
    op_ctx *ctx[];
};

static void send_pending(batch_kind *k);

static void on_batch(void *arg, const char *result_json)
{
    op_batch *b = arg;
    batch_kind *k = b->kind;
    json_t *res = json_loads(result_json, 0, NULL);
    json_t *results = json_object_get(res, "results");
    for (size_t i = 0; i < b->n; i++) {
        json_t *one = json_array_get(results, i);
        /* No outcome of its own: the unit failed as a whole (nothing of it is stored), and
         * each says so. */
        k->done(b->ctx[i], json_incref(one ? one : res));
    }
    json_decref(res);
    free(b);
    if (--k->in_store == 0)
        send_pending(k);
}

static void send_pending(batch_kind *k)
{
    op_batch *b = k->pending;
    k->pending = NULL;
    if (!b)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < b->n; i++) {
        json_t *one = k->item(b->ctx[i]);
        json_array_append_new(list, one ? one : json_object());
    }
    k->in_store++;
    submit(json_pack("{s:s,s:o}", "op", k->op, k->list_key, list), on_batch, b);
}

/* Behind the requests that were queued with the first of the batch: unless a batch of the
 * kind is with the store (its answer sends this one). */
static void flush_posted(void *arg)
{
    batch_kind *k = arg;
    k->flush_posted = false;
    if (k->in_store == 0)
        send_pending(k);
}

static void queue_in_batch(batch_kind *k, op_ctx *c)
{
    if (!k->pending) {
        if (!(k->pending = calloc(1, sizeof *k->pending + k->max * sizeof(op_ctx *)))) {
            reply_error(c->s, c->label, c->req.transaction, TR_ERR_UNKNOWN, "Out of memory", NULL);
            op_ctx_free(c);
            return;
        }
        k->pending->kind = k;
    }
    k->pending->ctx[k->pending->n++] = c;
    if (k->pending->n == k->max)
        send_pending(k);
    else if (k->in_store == 0 && !k->flush_posted) {
        k->flush_posted = true;
        run_on_dispatch(flush_posted, k);
    }
}

static json_t *send_item(const op_ctx *c)
{
    json_t *one = json_pack("{s:I,s:I,s:s,s:s%}", "room", (json_int_t)c->req.room, "sender_id",
                            (json_int_t)c->s->user_id, "client_id", c->req.client_id, "text", c->req.text,
                            c->req.text_len);
    if (one && c->req.has_client_date)
        json_object_set_new(one, "client_date", json_integer(c->req.client_date));
    return one;   /* NULL for a text json_pack refuses (not UTF-8): the store refuses it */
}

static batch_kind sends = {.op = "send_many", .list_key = "sends", .max = 256, .item = send_item, .done = send_done};

static void handle_message(chat_session *s, const char *label, tr_request *req)
{
    op_ctx *c = op_ctx_new(s, label, req);
    if (c)
        queue_in_batch(&sends, c);
}

/* One delivered receipt's store outcome (res consumed). */
static void delivered_done(op_ctx *c, json_t *res)
{
    res = outcome_of(c, res);
    if (!res) {
        op_ctx_free(c);
        return;
    }
    if (c->req.transaction)
        reply_success(c->s, c->label, c->req.transaction, NULL);
    chat_room *room = chat_rooms_find(rooms, c->req.room);
    if (room && json_is_true(json_object_get(res, "changed"))) {
        atomic_fetch_add(&stats.delivered, 1);
        json_t *o = json_pack("{s:s,s:I,s:O,s:O,s:s}", "textroom", "receipt", "room", (json_int_t)c->req.room, "msg_id",
                              json_object_get(res, "msg_id"), "seq", json_object_get(res, "seq"), "state", "delivered");
        fan_out_json(room, is_user, (uint64_t)json_integer_value(json_object_get(res, "sender_id")), NULL, 0, o);
    }
    json_decref(res);
    op_ctx_free(c);
}

/* A read position moved: the writer's devices get a receipt, the reader's other devices the
 * position (read state syncs across devices). */
static void announce_read(int64_t room_id, uint64_t reader, uint64_t peer, json_int_t read_seq,
                          const chat_session *except)
{
    chat_room *room = chat_rooms_find(rooms, room_id);
    if (!room)
        return;
    atomic_fetch_add(&stats.reads, 1);
    fan_out_json(room, is_user, peer, NULL, 0,
                 json_pack("{s:s,s:I,s:I,s:s}", "textroom", "receipt", "room", (json_int_t)room_id, "up_to_seq",
                           read_seq, "state", "read"));
    fan_out_json(room, is_user, reader, except, 0,
                 json_pack("{s:s,s:I,s:I}", "textroom", "read", "room", (json_int_t)room_id, "up_to_seq", read_seq));
}

static void on_read(void *arg, const char *result_json)
{
    op_ctx *c = arg;
    json_t *res = outcome(c, result_json);
    if (!res) {
        op_ctx_free(c);
        return;
    }
    json_int_t read_seq = json_integer_value(json_object_get(res, "read_seq"));
    if (c->req.transaction)
        reply_success(c->s, c->label, c->req.transaction, json_pack("{s:I}", "read_seq", read_seq));
    if (json_is_true(json_object_get(res, "changed")))
        announce_read(c->req.room, c->s->user_id, (uint64_t)json_integer_value(json_object_get(res, "peer_id")),
                      read_seq, c->s);
    json_decref(res);
    op_ctx_free(c);
}

static json_t *receipt_item(const op_ctx *c)
{
    return json_pack("{s:I,s:I,s:s}", "room", (json_int_t)c->req.room, "user_id", (json_int_t)c->s->user_id,
                     "msg_id", c->req.msg_id);
}

static batch_kind receipts = {.op = "delivered_many", .list_key = "receipts", .max = 512, .item = receipt_item,
                              .done = delivered_done};

static void handle_receipt(chat_session *s, const char *label, tr_request *req)
{
    op_ctx *c = op_ctx_new(s, label, req);
    if (!c)
        return;
    if (c->req.verb == TR_DELIVERED)
        queue_in_batch(&receipts, c);
    else
        submit(json_pack("{s:s,s:I,s:I,s:I}", "op", "read", "room", (json_int_t)c->req.room, "user_id",
                         (json_int_t)s->user_id, "up_to_seq", (json_int_t)c->req.up_to_seq),
               on_read, c);
}

/* ------------------------------------------------------------------------------------------ */
/* leave, list, listparticipants                                                               */
/* ------------------------------------------------------------------------------------------ */

/* The user's conversations as textroom's list; NULL when the store cannot say. */
static json_t *room_list(json_t *res)
{
    json_t *in = json_object_get(res, "rooms");
    if (!json_is_array(in))
        return NULL;
    json_t *list = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(in, i, r)
    {
        json_int_t id = json_integer_value(json_object_get(r, "room"));
        chat_room *room = chat_rooms_find(rooms, id);
        size_t joined = 0;
        if (room)
            joined = (chat_room_user_devices(room, room->caller_id) > 0) + (chat_room_user_devices(room, room->host_id) > 0);
        json_array_append_new(list, json_pack("{s:I,s:s,s:b,s:I,s:O,s:O}", "room", id, "description", "",
                                              "pin_required", 0, "num_participants", (json_int_t)joined, "unread",
                                              json_object_get(r, "unread"), "last_seq", json_object_get(r, "last_seq")));
    }
    return list;
}

static void on_list(void *arg, const char *result_json)
{
    op_ctx *c = arg;
    json_t *res = outcome(c, result_json);
    json_t *list = res ? room_list(res) : NULL;
    if (list)
        reply_success(c->s, c->label, c->req.transaction, json_pack("{s:o}", "list", list));
    else if (res)
        reply_error(c->s, c->label, c->req.transaction, TR_ERR_UNAVAILABLE, "Chat store unavailable", NULL);
    json_decref(res);
    op_ctx_free(c);
}

static void handle_leave(chat_session *s, const char *label, tr_request *req)
{
    leave_room(s, req->room);
    /* Always answered, with the transaction if given (docs/chat.md): janus_client's leave
     * comes without one. */
    reply_success(s, label, req->transaction, NULL);
}

static void handle_list(chat_session *s, const char *label, tr_request *req)
{
    op_ctx *c = op_ctx_new(s, label, req);
    if (c)
        submit(json_pack("{s:s,s:I}", "op", "unread", "user_id", (json_int_t)s->user_id), on_list, c);
}

static void handle_listparticipants(chat_session *s, const char *label, tr_request *req)
{
    reply_success(s, label, req->transaction,
                  json_pack("{s:I,s:o}", "room", (json_int_t)req->room, "participants",
                            participants_of(chat_rooms_find(rooms, req->room), 0)));
}

static void handle_request(chat_session *s, const char *label, tr_request *req)
{
    bool needs_membership = req->verb == TR_MESSAGE || req->verb == TR_DELIVERED || req->verb == TR_READ ||
                            req->verb == TR_LEAVE || req->verb == TR_LISTPARTICIPANTS;
    if (needs_membership && !session_in_room(s, req->room)) {
        reply_error(s, label, req->transaction, TR_ERR_NOT_IN_ROOM, "Not in room (join it first)", NULL);
        return;
    }
    switch (req->verb) {
    case TR_JOIN:
        handle_join(s, label, req);
        break;
    case TR_MESSAGE:
        handle_message(s, label, req);
        break;
    case TR_DELIVERED:
    case TR_READ:
        handle_receipt(s, label, req);
        break;
    case TR_LEAVE:
        handle_leave(s, label, req);
        break;
    case TR_LIST:
        handle_list(s, label, req);
        break;
    case TR_LISTPARTICIPANTS:
        handle_listparticipants(s, label, req);
        break;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* From the loops: a request off the channel                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct chat_in {
    chat_session *s;
    char label[CHAT_LABEL_MAX];
    size_t len;
    uint8_t buf[];
} chat_in;

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Takes one token of s's bucket: 0, or the ms until one is there. */
static int64_t device_take(chat_session *s)
{
    int64_t now = monotonic_ms();
    if (s->tokens_at_ms == 0)
        s->tokens = device_limit.burst;
    else
        s->tokens += (double)(now - s->tokens_at_ms) * device_limit.per_ms;
    if (s->tokens > device_limit.burst)
        s->tokens = device_limit.burst;
    s->tokens_at_ms = now;
    if (s->tokens >= 1) {
        s->tokens -= 1;
        return 0;
    }
    return (int64_t)((1 - s->tokens) / device_limit.per_ms) + 1;
}

static void request_on_dispatch(void *arg)
{
    chat_in *in = arg;
    chat_session *s = in->s;
    if (!s->gone) {
        tr_request req;
        tr_error err;
        int64_t wait_ms = 0;
        atomic_fetch_add(&stats.requests, 1);
        if (tr_parse(in->buf, in->len, &req, &err) != 0) {
            reply_error(s, in->label, err.transaction, err.code, err.message, NULL);
        } else if ((wait_ms = device_take(s)) > 0) {
            atomic_fetch_add(&stats.throttled, 1);
            reply_error(s, in->label, req.transaction, TR_ERR_RATE_LIMITED, "Too many requests on this channel, slow down",
                        json_pack("{s:s,s:I}", "reason", "rate_limited", "retry_after_ms", (json_int_t)wait_ms));
        } else {
            handle_request(s, in->label, &req);
        }
        tr_request_clear(&req);
        tr_error_clear(&err);
    }
    session_unref(s);
    free(in);
}

static void chat_incoming_data(void *session, const char *label, int binary, const uint8_t *buf, size_t len)
{
    (void)binary; /* textroom clients send text; a binary frame is parsed as the same JSON */
    chat_session *s = session;
    chat_in *in = malloc(sizeof *in + len);
    if (!in)
        return;
    in->s = s;
    snprintf(in->label, sizeof in->label, "%s", label ? label : "");
    in->len = len;
    memcpy(in->buf, buf, len);
    session_ref(s);
    if (core->post(self, request_on_dispatch, in) == 0)
        return;
    /* The dispatch queue is full: say so at once (we are on this handle's loop). */
    session_unref(s);
    free(in);
    atomic_fetch_add(&stats.dropped_busy, 1);
    static const char busy[] = "{\"textroom\":\"error\",\"error_code\":503,\"error\":\"Server busy, retry\"}";
    core->relay_data(s->handle, label, 0, (const uint8_t *)busy, sizeof busy - 1);
}

/* ------------------------------------------------------------------------------------------ */
/* REST changes (platform notify)                                                              */
/* ------------------------------------------------------------------------------------------ */

static void notify_on_dispatch(void *arg)
{
    json_t *ev = arg;
    const char *kind = json_string_value(json_object_get(ev, "event"));
    json_int_t room = json_integer_value(json_object_get(ev, "room"));
    if (kind && strcmp(kind, "message") == 0) {
        json_t *msg = json_object_get(ev, "message");
        deliver_message(room, json_is_object(msg) ? msg : ev, NULL);
    } else if (kind && strcmp(kind, "read") == 0) {
        uint64_t reader = (uint64_t)json_integer_value(json_object_get(ev, "user_id"));
        chat_room *r = chat_rooms_find(rooms, room);
        if (r)
            announce_read(room, reader, chat_room_peer_of(r, reader),
                          json_integer_value(json_object_get(ev, "up_to_seq")), NULL);
    }
    json_decref(ev);
}

static void chat_notify(const char *event_json)
{
    json_t *ev = core ? json_loads(event_json, 0, NULL) : NULL;
    if (ev)
        run_on_dispatch(notify_on_dispatch, ev);
}

/* ------------------------------------------------------------------------------------------ */
/* Janus API: setup / ack / restart (+ list, listparticipants)                                 */
/* ------------------------------------------------------------------------------------------ */

static plugin_result api_error(const char *kind, int code, const char *why)
{
    json_t *o = json_pack("{s:s,s:i,s:s}", "textroom", kind, "error_code", code, "error", why);
    plugin_result r = {.kind = PLUGIN_RESULT_EVENT, .json = json_dumps(o, JSON_COMPACT)};
    json_decref(o);
    return r;
}

static plugin_result api_event(json_t *o)
{
    plugin_result r = {.kind = PLUGIN_RESULT_EVENT, .json = json_dumps(o, JSON_COMPACT)};
    json_decref(o);
    return r;
}

/* Our offer: one data-channel m-line; on restart flagged so the core restarts ICE. */
static plugin_result api_offer(chat_session *s, const char *transaction, bool restart)
{
    plugin_media_desc want = {.data = true};
    char *offer = core->jsep_offer(&want);
    json_t *jsep = offer ? json_loads(offer, 0, NULL) : NULL;
    free(offer);
    if (!jsep)
        return api_error("error", TR_ERR_UNKNOWN, "Error generating the offer");
    if (restart)
        json_object_set_new(jsep, "restart", json_true());
    char *jsep_text = json_dumps(jsep, JSON_COMPACT);
    json_decref(jsep);
    int rc = core->push_event(s->handle, transaction, "{\"textroom\":\"event\",\"result\":\"ok\"}", jsep_text);
    free(jsep_text);
    if (rc != 0)
        return api_error("error", TR_ERR_UNKNOWN, "Error setting up the PeerConnection");
    atomic_store(&s->setup, true);
    return (plugin_result){.kind = PLUGIN_RESULT_NONE};
}

static plugin_result api_list(chat_session *s)
{
    json_t *op = json_pack("{s:s,s:I}", "op", "unread", "user_id", (json_int_t)s->user_id);
    char *text = json_dumps(op, JSON_COMPACT);
    json_decref(op);
    char *out = text ? core->chat_run(self, text) : NULL;
    free(text);
    json_t *res = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    json_t *list = json_is_true(json_object_get(res, "ok")) ? room_list(res) : NULL;
    json_decref(res);
    if (!list)
        return api_error("event", TR_ERR_UNAVAILABLE, "Chat store unavailable");
    return api_event(json_pack("{s:s,s:o}", "textroom", "success", "list", list));
}

static plugin_result api_listparticipants(chat_session *s, json_t *body)
{
    json_int_t room = json_integer_value(json_object_get(body, "room"));
    if (room <= 0)
        return api_error("event", TR_ERR_MISSING_ELEMENT, "Missing mandatory element (room)");
    if (!session_in_room(s, room))
        return api_error("event", TR_ERR_NOT_IN_ROOM, "Not in room (join it first)");
    return api_event(json_pack("{s:s,s:I,s:o}", "textroom", "success", "room", room, "participants",
                               participants_of(chat_rooms_find(rooms, room), 0)));
}

static plugin_result api_request(chat_session *s, const char *transaction, json_t *body, const char *jsep_json)
{
    json_t *r = json_object_get(body, "request");
    if (!r)
        r = json_object_get(body, "textroom"); /* janus_client sends "textroom" here */
    if (!r)
        return api_error("event", TR_ERR_MISSING_ELEMENT, "Missing mandatory element (request)");
    const char *req = json_string_value(r);
    if (!req)
        return api_error("event", TR_ERR_INVALID_ELEMENT, "Invalid element (request should be a string)");
    if (strcmp(req, "setup") == 0)
        return atomic_load(&s->setup) ? api_error("error", TR_ERR_ALREADY_SETUP, "PeerConnection already setup")
                                      : api_offer(s, transaction, false);
    if (strcmp(req, "restart") == 0)
        return atomic_load(&s->setup) ? api_offer(s, transaction, true)
                                      : api_error("error", TR_ERR_ALREADY_SETUP, "PeerConnection not setup");
    if (strcmp(req, "ack") == 0) {
        (void)jsep_json; /* the core applied the answer before this message reached us */
        core->push_event(s->handle, transaction, "{\"textroom\":\"event\",\"result\":\"ok\"}", NULL);
        return (plugin_result){.kind = PLUGIN_RESULT_NONE};
    }
    if (strcmp(req, "list") == 0)
        return api_list(s);
    if (strcmp(req, "listparticipants") == 0)
        return api_listparticipants(s, body);
    char why[96];
    snprintf(why, sizeof why, "Unknown request '%.40s'", req);
    return api_error("event", TR_ERR_INVALID_REQUEST, why);
}

static plugin_result chat_handle_message(void *session, const char *transaction, const char *body_json,
                                         const char *jsep_json)
{
    chat_session *s = session;
    if (!body_json)
        return api_error("event", TR_ERR_NO_MESSAGE, "No message??");
    json_t *body = json_loads(body_json, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return api_error("event", TR_ERR_INVALID_JSON, "JSON error: not an object");
    }
    plugin_result r = api_request(s, transaction, body, jsep_json);
    json_decref(body);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Sessions and the plugin                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void *chat_create_session(plugin_handle *h, int *error)
{
    chat_session *s = session_new(h);
    if (!s && error)
        *error = -1;
    return s;
}

/* The PeerConnection went away: its device cannot receive any more (as Janus's textroom, it
 * leaves its rooms) and may set up again. */
static void hangup_on_dispatch(void *arg)
{
    chat_session *s = arg;
    s->epoch++;
    leave_all_rooms(s);
    atomic_store(&s->setup, false);
    session_unref(s);
}

static void chat_hangup_media(void *session)
{
    chat_session *s = session;
    session_ref(s);
    run_on_dispatch(hangup_on_dispatch, s);
}

static void destroy_on_dispatch(void *arg)
{
    chat_session *s = arg;
    s->gone = true;
    leave_all_rooms(s);
    session_unref(s); /* the core's reference */
}

static void chat_destroy_session(void *session, int *error)
{
    (void)error;
    run_on_dispatch(destroy_on_dispatch, session);
}

static char *chat_query_session(void *session)
{
    chat_session *s = session;
    json_t *o = json_pack("{s:I,s:b}", "user_id", (json_int_t)s->user_id, "setup", atomic_load(&s->setup));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* Counters only: the rooms table belongs to the dispatch thread and this runs on any. */
static char *chat_admin(const char *query)
{
    (void)query;
    json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "throttled", (json_int_t)atomic_load(&stats.throttled),
                          "requests", (json_int_t)atomic_load(&stats.requests),
                          "messages", (json_int_t)atomic_load(&stats.messages), "replays",
                          (json_int_t)atomic_load(&stats.replays), "refused", (json_int_t)atomic_load(&stats.refused),
                          "delivered_receipts", (json_int_t)atomic_load(&stats.delivered), "read_receipts",
                          (json_int_t)atomic_load(&stats.reads), "dropped_busy",
                          (json_int_t)atomic_load(&stats.dropped_busy), "post_fallbacks",
                          (json_int_t)atomic_load(&stats.post_fallbacks));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static int chat_init(const core_callbacks *callbacks, const plugin_init_info *info)
{
    if (!callbacks || callbacks->abi_version != PLUGIN_ABI_VERSION || callbacks->struct_size < sizeof *callbacks)
        return -1;
    core = callbacks;
    self = info->self;
    json_t *cfg = json_loads(info->config_json ? info->config_json : "{}", 0, NULL);
    json_int_t per_s = json_integer_value(json_object_get(cfg, "device_requests_per_s"));
    json_int_t burst = json_integer_value(json_object_get(cfg, "device_burst"));
    device_limit.per_ms = (per_s > 0 ? (double)per_s : 100) / 1000;
    device_limit.burst = burst > 0 ? (double)burst : 200;
    json_decref(cfg);
    rooms = chat_rooms_new();
    return rooms ? 0 : -1;
}

static void chat_destroy(void)
{
    chat_rooms_free(rooms);
    rooms = NULL;
    core = NULL;
}

static const plugin_descriptor chat_descriptor = {
    .abi_version = PLUGIN_ABI_VERSION,
    .struct_size = sizeof(plugin_descriptor),
    .package = "janus.plugin.textroom",
    .name = "Chat (textroom-compatible)",
    .description = "Text chat between a Caller and a Host over data channels: stored, billed per message, "
                   "with receipts and offline delivery.",
    .author = "parley contributors",
    .version = 1,
    .version_string = "0.0.1",
    .config_section = "chat",
    .init = chat_init,
    .destroy = chat_destroy,
    .create_session = chat_create_session,
    .handle_message = chat_handle_message,
    .incoming_data = chat_incoming_data,
    .hangup_media = chat_hangup_media,
    .destroy_session = chat_destroy_session,
    .query_session = chat_query_session,
    .admin = chat_admin,
    .notify = chat_notify,
};

const plugin_descriptor *chat_plugin_descriptor(void);
const plugin_descriptor *chat_plugin_descriptor(void) { return &chat_descriptor; }
