/*
 * chat_rest: the REST side of chat, for clients without a live data channel — the same
 * units as the channel's operations (chat.c), so both paths keep the same rules:
 *
 *   POST /conversations {"with"}            201 created, 200 the existing one (once per pair)
 *   GET  /conversations                     the user's, newest activity first, + last_message
 *   GET  /conversations/{id}/messages       ?before_seq=&limit=1..200 (50): ascending seqs
 *   POST /conversations/{id}/messages       {"client_id","text","client_date"?}: 201, 200 replay
 *   POST /conversations/{id}/read           {"up_to_seq"} -> {"read_seq"}
 *
 * Outcomes map to errors as the rest of /api/v1: not_found 404, not_member 403, blocked 403,
 * insufficient_balance 402 (+ needed, balance in "error"), rate_limited 429 + Retry-After,
 * field rules 400 invalid_text / invalid_client_id / clock_skew. A message or a read that
 * changed something is told to the listener (the plugin's live devices) once it is durable,
 * after the unit returned, outside any lock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "util/log.h"

#define MESSAGES_LIMIT_DEFAULT 50
#define MESSAGES_LIMIT_MAX 200

static int room_param(api_req *rq, int64_t *room, api_error *err)
{
    uint64_t v;
    if (!api_parse_u64(rq->params[0], &v))
        return api_fail(err, 404, "not_found", "no such conversation");
    *room = (int64_t)v;
    return 0;
}

/* A refused or failed unit as the API's error. */
static int outcome_error(const api_op *op, int store_rc, api_error *err)
{
    if (store_rc <= STORE_EIO || !op->result)
        return api_store_error(err, store_rc <= STORE_EIO ? store_rc : STORE_EIO);
    const char *reason = json_string_value(json_object_get(op->result, "reason"));
    reason = reason ? reason : "error";
    if (strcmp(reason, "not_found") == 0)
        return api_fail(err, 404, "not_found", "no such conversation");
    if (strcmp(reason, "not_member") == 0)
        return api_fail(err, 403, "not_member", "this conversation is not yours");
    if (strcmp(reason, "blocked") == 0)
        return api_fail(err, 403, "blocked", "the recipient does not take your messages");
    if (strcmp(reason, "insufficient_balance") == 0) {
        api_fail(err, 402, "insufficient_balance", "your balance does not cover this message");
        err->has_funds = true;
        err->needed = json_integer_value(json_object_get(op->result, "needed"));
        err->balance = json_integer_value(json_object_get(op->result, "balance"));
        return -1;
    }
    return api_store_error(err, STORE_EIO);
}

/* Runs the unit; 0 with its ok outcome in u->base.result, or -1 with the error. u is kept. */
static int run_unit(api_req *rq, chat_unit *u, api_error *err)
{
    int src = api_op_exec(rq->p->store, &u->base);
    if (src == API_OP_OK && json_is_true(json_object_get(u->base.result, "ok")))
        return 0;
    return outcome_error(&u->base, src, err);
}

static chat_unit *unit_for(api_req *rq, chat_opcode op, int64_t room, api_error *err)
{
    chat_unit *u = chat_unit_new(rq->p, op);
    if (!u) {
        api_fail(err, 500, "internal", "out of memory");
        return NULL;
    }
    u->room = room;
    u->user = (int64_t)rq->auth.user_id;
    return u;
}

/* ---- messages ---- */

static int send_field_error(chat_bad bad, api_error *err)
{
    switch (bad) {
    case CHAT_BAD_CLIENT_ID: return api_fail(err, 400, "invalid_client_id", "client_id must be a UUID");
    case CHAT_BAD_CLIENT_DATE:
        return api_fail(err, 400, "clock_skew", "client_date is more than 5 minutes from the server's clock");
    default: return api_fail(err, 400, "invalid_text", "text must be 1..4096 bytes of UTF-8 without NUL");
    }
}

/* The body, and the send's fields into u. A body that is not UTF-8 can only be bad text. */
static int send_parse(api_req *rq, chat_unit *u, api_error *err)
{
    static const char *const fields[] = {"client_id", "text", "client_date", NULL};
    const http_request *h = rq->http;
    if (h->body && h->body_len && !chat_utf8_valid(h->body, h->body_len))
        return api_fail(err, 400, "invalid_text", "the body is not valid UTF-8");
    json_t *b = apijson_parse_object_flags(h->body, h->body_len, JSON_ALLOW_NUL, err);
    const char *client_id;
    int64_t client_date = 0;
    bool has_date = false;
    int rc = !b || apijson_only_fields(b, fields, err) || apijson_string(b, "client_id", true, &client_id, err) ||
             apijson_int(b, "client_date", false, INT64_MIN, INT64_MAX, &client_date, &has_date, err) ? -1 : 0;
    json_t *text = b ? json_object_get(b, "text") : NULL;
    if (rc == 0 && (!text || json_is_null(text)))
        rc = api_fail(err, 422, "missing_field", "field 'text' is required");
    else if (rc == 0 && !json_is_string(text))
        rc = api_fail(err, 400, "invalid_type", "field 'text' must be a string");
    chat_bad bad = rc == 0 ? chat_send_fields(u, client_id, json_string_value(text), json_string_length(text),
                                               has_date, client_date, store_now_ms())
                           : CHAT_FIELDS_OK;
    json_decref(b);
    return rc != 0 ? -1 : bad != CHAT_FIELDS_OK ? send_field_error(bad, err) : 0;
}

static int rate_check(api_req *rq, api_error *err)
{
    int64_t wait = api_chat_rate_take(rq->p->chat, (int64_t)rq->auth.user_id);
    if (wait <= 0)
        return 0;
    api_fail(err, 429, "rate_limited", "too many messages; retry in %" PRId64 " ms", wait);
    err->retry_after_s = (int)((wait + 999) / 1000);
    return -1;
}

static void notify_message(api_req *rq, json_t *msg)
{
    /* the message's own fields at the top (room, msg_id, ...), and again as "message" */
    json_t *ev = json_deep_copy(msg);
    json_object_set_new(ev, "event", json_string("message"));
    json_object_set(ev, "message", msg);
    api_chat_notify(rq->p->chat, ev);
}

int chat_messages_send(api_req *rq, api_resp *rs)
{
    int64_t room = 0;
    if (room_param(rq, &room, &rs->err) != 0)
        return -1;
    chat_unit *u = unit_for(rq, CHAT_SEND, room, &rs->err);
    if (!u)
        return -1;
    int rc = send_parse(rq, u, &rs->err);
    if (rc == 0)
        rc = rate_check(rq, &rs->err);
    if (rc == 0)
        rc = run_unit(rq, u, &rs->err);
    json_t *msg = rc == 0 ? json_incref(u->base.result) : NULL;
    api_op_free(&u->base);
    if (rc != 0)
        return -1;
    json_object_del(msg, "ok");
    bool replayed = json_is_true(json_object_get(msg, "replayed"));
    if (!replayed)
        notify_message(rq, msg);
    json_object_set_new(msg, "state", json_string("sent"));
    return api_ok(rs, replayed ? 200 : 201, msg);
}

static int messages_query(api_req *rq, chat_unit *u, api_error *err)
{
    const char *before = http_request_query(rq->http, "before_seq");
    const char *limit = http_request_query(rq->http, "limit");
    uint64_t v;
    u->before_seq = INT64_MAX;
    u->limit = MESSAGES_LIMIT_DEFAULT;
    if (before) {
        if (!api_parse_u64(before, &v))
            return api_fail(err, 400, "invalid_query", "before_seq must be a positive integer");
        u->before_seq = (int64_t)v;
    }
    if (limit) {
        if (!api_parse_u64(limit, &v) || v > MESSAGES_LIMIT_MAX)
            return api_fail(err, 400, "invalid_query", "limit must be 1..%d", MESSAGES_LIMIT_MAX);
        u->limit = (int64_t)v;
    }
    return 0;
}

int chat_messages_list(api_req *rq, api_resp *rs)
{
    int64_t room = 0;
    if (room_param(rq, &room, &rs->err) != 0)
        return -1;
    chat_unit *u = unit_for(rq, CHAT_HISTORY, room, &rs->err);
    if (!u)
        return -1;
    int rc = messages_query(rq, u, &rs->err);
    if (rc == 0)
        rc = run_unit(rq, u, &rs->err);
    json_t *r = u->base.result;
    json_t *body = rc == 0 ? json_pack("{s:O,s:O}", "messages", json_object_get(r, "messages"), "next_before_seq",
                                       json_object_get(r, "next_before_seq"))
                           : NULL;
    api_op_free(&u->base);
    return rc == 0 ? api_ok(rs, 200, body) : -1;
}

int chat_read(api_req *rq, api_resp *rs)
{
    static const char *const fields[] = {"up_to_seq", NULL};
    int64_t room = 0;
    if (room_param(rq, &room, &rs->err) != 0)
        return -1;
    chat_unit *u = unit_for(rq, CHAT_READ, room, &rs->err);
    if (!u)
        return -1;
    json_t *b = api_body(rq, &rs->err);
    int rc = !b || apijson_only_fields(b, fields, &rs->err) ||
             apijson_int(b, "up_to_seq", true, 0, INT64_MAX, &u->up_to_seq, NULL, &rs->err) ? -1 : 0;
    json_decref(b);
    if (rc == 0)
        rc = run_unit(rq, u, &rs->err);
    json_t *r = u->base.result;
    int64_t read_seq = json_integer_value(json_object_get(r, "read_seq"));
    bool changed = rc == 0 && json_is_true(json_object_get(r, "changed"));
    api_op_free(&u->base);
    if (rc != 0)
        return -1;
    if (changed)
        api_chat_notify(rq->p->chat, json_pack("{s:s,s:I,s:I,s:I}", "event", "read", "room", (json_int_t)room,
                                               "user_id", (json_int_t)rq->auth.user_id, "up_to_seq",
                                               (json_int_t)read_seq));
    return api_ok(rs, 200, json_pack("{s:I}", "read_seq", (json_int_t)read_seq));
}

/* ---- conversations ---- */

typedef struct conv_read {
    int64_t viewer, with, id;
    const char *viewer_role;
    bool created, peer_exists, peer_fits;
    json_t *out;                  /* open: the conversation; list: the array */
} conv_read;

/* The conversation's columns, in this order, for conv_json. */
#define CONV_COLS "SELECT id, caller_id, host_id, created_at, last_seq FROM conversations "

static json_t *peer_json(sqlite3 *db, int64_t peer)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT u.role, u.display_name, hp.avatar_url FROM users u "
                                      "LEFT JOIN host_profiles hp ON hp.user_id = u.id WHERE u.id = ?1");
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, peer);
    json_t *o = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *avatar = (const char *)sqlite3_column_text(st, 2);
        o = json_pack("{s:I,s:s,s:s,s:o}", "id", (json_int_t)peer, "role", (const char *)sqlite3_column_text(st, 0),
                      "display_name", (const char *)sqlite3_column_text(st, 1), "avatar_url",
                      avatar ? json_string(avatar) : json_null());
    }
    store_stmt_release(st);
    return o;
}

/* One conversation (a CONV_COLS row) as viewer sees it; NULL on error. */
static json_t *conv_json(sqlite3 *db, sqlite3_stmt *row, int64_t viewer, bool with_last)
{
    char t[32];
    int64_t id = sqlite3_column_int64(row, 0), caller = sqlite3_column_int64(row, 1);
    int64_t host = sqlite3_column_int64(row, 2), last_seq = sqlite3_column_int64(row, 4);
    int64_t delivered, read_seq, unread;
    json_t *peer = peer_json(db, viewer == caller ? host : caller);
    if (!peer || chat_positions_db(db, id, viewer, &delivered, &read_seq) != 0 ||
        chat_unread_db(db, id, viewer, read_seq, &unread) != 0) {
        json_decref(peer);
        return NULL;
    }
    json_t *o = json_pack("{s:I,s:I,s:I,s:o,s:s,s:I,s:I,s:I}", "id", (json_int_t)id, "caller_id", (json_int_t)caller,
                          "host_id", (json_int_t)host, "peer", peer, "created_at",
                          api_iso8601(sqlite3_column_int64(row, 3), t), "last_seq", (json_int_t)last_seq, "read_seq",
                          (json_int_t)read_seq, "unread", (json_int_t)unread);
    if (o && with_last) {
        json_t *last = last_seq > 0 ? chat_message_db(db, id, caller, host, last_seq) : json_null();
        json_object_set_new(o, "last_message", last ? last : json_null());
    }
    return o;
}

static int peer_role(sqlite3 *db, conv_read *q, char role[8])
{
    sqlite3_stmt *st = store_stmt(db, "SELECT role FROM users WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, q->with);
    int rc = sqlite3_step(st);
    q->peer_exists = rc == SQLITE_ROW;
    if (q->peer_exists)
        api_sql_text(st, 0, role, 8);
    store_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int conv_open_unit(sqlite3 *db, void *arg)
{
    conv_read *q = arg;
    char role[8] = "";
    if (peer_role(db, q, role) != 0)
        return -1;
    q->peer_fits = q->peer_exists && strcmp(role, q->viewer_role) != 0;
    if (!q->peer_fits)
        return 0;
    bool caller = strcmp(q->viewer_role, "caller") == 0;
    int64_t now = store_now_ms();
    sqlite3_stmt *st = store_stmt(db, "INSERT OR IGNORE INTO conversations(caller_id, host_id, created_at, last_at) "
                                      "VALUES (?1, ?2, ?3, ?3)");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, caller ? q->viewer : q->with);
    sqlite3_bind_int64(st, 2, caller ? q->with : q->viewer);
    sqlite3_bind_int64(st, 3, now);
    if (api_sql_done(st) != 0)
        return -1;
    q->created = sqlite3_changes(db) > 0;
    if (!(st = store_stmt(db, CONV_COLS "WHERE caller_id = ?1 AND host_id = ?2")))
        return -1;
    sqlite3_bind_int64(st, 1, caller ? q->viewer : q->with);
    sqlite3_bind_int64(st, 2, caller ? q->with : q->viewer);
    if (sqlite3_step(st) == SQLITE_ROW)
        q->out = conv_json(db, st, q->viewer, false);
    store_stmt_release(st);
    return q->out ? 0 : -1;
}

int chat_conversation_open(api_req *rq, api_resp *rs)
{
    static const char *const fields[] = {"with", NULL};
    conv_read q = {.viewer = (int64_t)rq->auth.user_id, .viewer_role = rq->auth.role};
    json_t *b = api_body(rq, &rs->err);
    int rc = !b || apijson_only_fields(b, fields, &rs->err) ||
             apijson_int(b, "with", true, 1, INT64_MAX, &q.with, NULL, &rs->err) ? -1 : 0;
    json_decref(b);
    if (rc != 0)
        return -1;
    if (q.with == q.viewer)
        return api_fail(&rs->err, 422, "invalid_peer", "a conversation is with another user");
    int src = store_write(rq->p->store, conv_open_unit, &q);
    if (src != 0) {
        json_decref(q.out);
        return api_store_error(&rs->err, src);
    }
    if (!q.peer_exists)
        return api_fail(&rs->err, 404, "not_found", "no such user");
    if (!q.peer_fits)
        return api_fail(&rs->err, 422, "invalid_peer", "a conversation is between a caller and a host");
    return api_ok(rs, q.created ? 201 : 200, q.out);
}

static int conv_list_run(sqlite3 *db, void *arg)
{
    conv_read *q = arg;
    sqlite3_stmt *st = store_stmt(db, CONV_COLS "WHERE caller_id = ?1 OR host_id = ?1 ORDER BY last_at DESC, id DESC");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, q->viewer);
    int rc;
    json_t *c = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && (c = conv_json(db, st, q->viewer, true)))
        json_array_append_new(q->out, c);
    store_stmt_release(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int chat_conversations_list(api_req *rq, api_resp *rs)
{
    conv_read q = {.viewer = (int64_t)rq->auth.user_id, .out = json_array()};
    int src = store_read(rq->p->store, conv_list_run, &q);
    if (src != 0) {
        json_decref(q.out);
        return api_store_error(&rs->err, src);
    }
    return api_ok(rs, 200, json_pack("{s:o}", "conversations", q.out));
}
