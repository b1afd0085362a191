/*
 * chat: where the conversations of the chat plugin (plugins/chat, janus.plugin.textroom) and
 * of the REST messages routes are kept, and the store units that change or read them
 * (module "chat" in schema_migrations). The operations' JSON, the rate limiter and the
 * listener are chat_ops.c; REST is chat_rest.c; blocks are blocks.c.
 *
 * A conversation (a textroom "room") is between one Caller and one Host. Its units:
 *   join       a member's view: positions of both, last_seq                     (read)
 *   send       the next seq, charged in the same unit                           (write)
 *   history    messages after a seq, or the newest ones below a seq (REST)      (read)
 *   send_many  sends queued together, each in its own savepoint                 (write)
 *   delivered  the first delivery receipt of the other party's message          (write)
 *   read       the reader's position, clamped to last_seq                       (write)
 *   unread     per room of the user, the other party's messages after read_seq  (read)
 *
 * What the schema itself keeps true (a constraint, not a hope):
 *   - seq is gap-free per conversation: a trigger refuses any seq but last_seq + 1, another
 *     advances last_seq; only the two parties write in it;
 *   - one message per (sender, client_id): a retried send finds the first and returns it
 *     with "replayed":true, moving nothing (and its ledger key msg:<msg_id> is unique too);
 *   - a message is charged in the unit that inserts it (charged = host_amount + fee_amount),
 *     so a refused charge stores nothing and a stored message was paid exactly once;
 *   - a message is final but for its first delivered_at; positions only grow, never past
 *     last_seq, and read_seq <= delivered_seq.
 *
 * A message's state, as its sender sees it: "read" if seq <= the recipient's read_seq, else
 * "delivered" if it has a delivered_at or seq <= the recipient's delivered_seq, else "sent".
 * Times are the server's (store_now_ms); client_date is only kept apart.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "ledger/ledger.h"
#include "util/log.h"

#define UUID_CHECK(c)                                                                               \
    "length(" c ") = 36 AND " c " NOT GLOB '*[^0-9a-f-]*' AND length(replace(" c ", '-', '')) = 32" \
    " AND substr(" c ", 9, 1) = '-' AND substr(" c ", 14, 1) = '-' AND substr(" c ", 19, 1) = '-'" \
    " AND substr(" c ", 24, 1) = '-'"

static const char chat_schema_v1[] =
    "CREATE TABLE conversations("
    " id INTEGER PRIMARY KEY,"
    " caller_id INTEGER NOT NULL REFERENCES users(id),"
    " host_id INTEGER NOT NULL REFERENCES users(id),"
    " created_at INTEGER NOT NULL,"
    " last_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0),"
    " last_at INTEGER NOT NULL,"
    " UNIQUE (caller_id, host_id),"
    " CHECK (caller_id <> host_id),"
    " CHECK (last_at >= created_at)"
    ") STRICT;"
    "CREATE INDEX conversations_by_host ON conversations(host_id);"
    "CREATE TABLE chat_positions("
    " conversation INTEGER NOT NULL REFERENCES conversations(id),"
    " user_id INTEGER NOT NULL REFERENCES users(id),"
    " delivered_seq INTEGER NOT NULL DEFAULT 0 CHECK (delivered_seq >= 0),"
    " read_seq INTEGER NOT NULL DEFAULT 0 CHECK (read_seq >= 0),"
    " CHECK (read_seq <= delivered_seq),"
    " PRIMARY KEY (conversation, user_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE chat_messages("
    " conversation INTEGER NOT NULL REFERENCES conversations(id),"
    " seq INTEGER NOT NULL CHECK (seq >= 1),"
    " msg_id TEXT NOT NULL UNIQUE CHECK (" UUID_CHECK("msg_id") "),"
    " sender INTEGER NOT NULL REFERENCES users(id),"
    " client_id TEXT NOT NULL CHECK (" UUID_CHECK("client_id") "),"
    " text TEXT NOT NULL CHECK (length(CAST(text AS BLOB)) BETWEEN 1 AND 4096),"
    " created_at INTEGER NOT NULL,"
    " client_date INTEGER,"
    " charged INTEGER NOT NULL CHECK (charged >= 0),"
    " host_amount INTEGER NOT NULL CHECK (host_amount >= 0),"
    " fee_amount INTEGER NOT NULL CHECK (fee_amount >= 0),"
    " delivered_at INTEGER,"
    " PRIMARY KEY (conversation, seq),"
    " UNIQUE (sender, client_id),"
    " CHECK (charged = host_amount + fee_amount)"
    ") STRICT;"
    "CREATE TABLE user_blocks("
    " blocker INTEGER NOT NULL REFERENCES users(id),"
    " blocked INTEGER NOT NULL REFERENCES users(id),"
    " created_at INTEGER NOT NULL,"
    " PRIMARY KEY (blocker, blocked),"
    " CHECK (blocker <> blocked)"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TRIGGER conversations_roles BEFORE INSERT ON conversations"
    " WHEN (SELECT role FROM users WHERE id = NEW.caller_id) IS NOT 'caller'"
    "  OR (SELECT role FROM users WHERE id = NEW.host_id) IS NOT 'host'"
    " BEGIN SELECT RAISE(ABORT, 'a conversation is between a caller and a host'); END;"
    "CREATE TRIGGER conversations_positions AFTER INSERT ON conversations BEGIN"
    " INSERT INTO chat_positions(conversation, user_id) VALUES (NEW.id, NEW.caller_id), (NEW.id, NEW.host_id);"
    " END;"
    "CREATE TRIGGER conversations_identity BEFORE UPDATE OF id, caller_id, host_id, created_at ON conversations"
    " BEGIN SELECT RAISE(ABORT, 'a conversation keeps its parties'); END;"
    "CREATE TRIGGER conversations_no_delete BEFORE DELETE ON conversations"
    " BEGIN SELECT RAISE(ABORT, 'conversations are kept'); END;"
    "CREATE TRIGGER chat_messages_gap_free BEFORE INSERT ON chat_messages"
    " WHEN NEW.seq IS NOT (SELECT last_seq + 1 FROM conversations WHERE id = NEW.conversation)"
    " BEGIN SELECT RAISE(ABORT, 'seq must be the conversation''s last_seq + 1'); END;"
    "CREATE TRIGGER chat_messages_member BEFORE INSERT ON chat_messages"
    " WHEN NOT EXISTS (SELECT 1 FROM conversations WHERE id = NEW.conversation"
    "  AND NEW.sender IN (caller_id, host_id))"
    " BEGIN SELECT RAISE(ABORT, 'only its two parties write in a conversation'); END;"
    "CREATE TRIGGER chat_messages_advance AFTER INSERT ON chat_messages BEGIN"
    " UPDATE conversations SET last_seq = NEW.seq, last_at = max(last_at, NEW.created_at)"
    "  WHERE id = NEW.conversation;"
    " END;"
    "CREATE TRIGGER chat_messages_final BEFORE UPDATE OF conversation, seq, msg_id, sender, client_id, text,"
    " created_at, client_date, charged, host_amount, fee_amount ON chat_messages"
    " BEGIN SELECT RAISE(ABORT, 'a message is final'); END;"
    "CREATE TRIGGER chat_messages_delivered_once BEFORE UPDATE OF delivered_at ON chat_messages"
    " WHEN OLD.delivered_at IS NOT NULL"
    " BEGIN SELECT RAISE(ABORT, 'delivered_at is set once'); END;"
    "CREATE TRIGGER chat_messages_no_delete BEFORE DELETE ON chat_messages"
    " BEGIN SELECT RAISE(ABORT, 'messages are kept'); END;"
    "CREATE TRIGGER chat_positions_grow BEFORE UPDATE ON chat_positions"
    " WHEN NEW.delivered_seq < OLD.delivered_seq OR NEW.read_seq < OLD.read_seq"
    "  OR NEW.conversation IS NOT OLD.conversation OR NEW.user_id IS NOT OLD.user_id"
    "  OR NEW.delivered_seq > (SELECT last_seq FROM conversations WHERE id = NEW.conversation)"
    " BEGIN SELECT RAISE(ABORT, 'positions only grow, up to last_seq'); END;";

static const store_migration chat_migrations[] = {
    {"chat", 1, chat_schema_v1},
};

int chat_schema_migrate(store_t *s, char *err, size_t errcap)
{
    return store_migrate(s, chat_migrations, sizeof chat_migrations / sizeof *chat_migrations, err, errcap);
}

/* ---- reads every unit needs ---- */

typedef struct conv_row {
    int64_t id, caller, host, last_seq;
} conv_row;

typedef struct positions {
    int64_t delivered, read;
} positions;

static int64_t peer_of(const conv_row *c, int64_t user) { return user == c->caller ? c->host : c->caller; }

/* 1 found, 0 none, -1 SQL error. */
static int load_conv(sqlite3 *db, int64_t room, conv_row *c)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT caller_id, host_id, last_seq FROM conversations WHERE id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, room);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *c = (conv_row){.id = room, .caller = sqlite3_column_int64(st, 0), .host = sqlite3_column_int64(st, 1),
                        .last_seq = sqlite3_column_int64(st, 2)};
    store_stmt_release(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static int load_positions(sqlite3 *db, int64_t room, int64_t user, positions *p)
{
    return chat_positions_db(db, room, user, &p->delivered, &p->read);
}

int chat_positions_db(sqlite3 *db, int64_t room, int64_t user, int64_t *delivered, int64_t *read)
{
    *delivered = *read = 0;
    sqlite3_stmt *st = store_stmt(db, "SELECT delivered_seq, read_seq FROM chat_positions "
                                      "WHERE conversation = ?1 AND user_id = ?2");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, room);
    sqlite3_bind_int64(st, 2, user);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *delivered = sqlite3_column_int64(st, 0);
        *read = sqlite3_column_int64(st, 1);
    }
    store_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int chat_unread_db(sqlite3 *db, int64_t room, int64_t user, int64_t read_seq, int64_t *n)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT count(*) FROM chat_messages WHERE conversation = ?1 AND seq > ?2 "
                                      "AND sender <> ?3");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, room);
    sqlite3_bind_int64(st, 2, read_seq);
    sqlite3_bind_int64(st, 3, user);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    store_stmt_release(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int db_failed(chat_unit *u, sqlite3 *db, const char *what)
{
    LOG_ERROR("chat", "%s room %" PRId64 ": %s: %s", chat_op_names[u->op], u->room, what, sqlite3_errmsg(db));
    return api_op_outcome(&u->base, API_OP_FAILED,
                          json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "error", "message", what));
}

static int ledger_failed(chat_unit *u, int rc, const char *what)
{
    LOG_ERROR("chat", "%s room %" PRId64 ": %s failed (%d)", chat_op_names[u->op], u->room, what, rc);
    return api_op_outcome(&u->base, API_OP_FAILED,
                          json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "error", "message", what));
}

/* The unit's room, when its user is one of the two: true, or false with the outcome in *rc. */
static bool need_member(sqlite3 *db, chat_unit *u, conv_row *c, int *rc)
{
    int found = load_conv(db, u->room, c);
    if (found < 0)
        *rc = db_failed(u, db, "conversation");
    else if (!found)
        *rc = api_op_refused(&u->base, "not_found", "no such room");
    else if (u->user != c->caller && u->user != c->host)
        *rc = api_op_refused(&u->base, "not_member", "not one of this room's two users");
    return found > 0 && (u->user == c->caller || u->user == c->host);
}

/* ---- messages as JSON ---- */

#define MSG_COLS                                                                                  \
    "m.msg_id, m.seq, m.sender, m.created_at, m.text, m.client_id, m.client_date, m.charged, " \
    "m.delivered_at IS NOT NULL, m.conversation "

static const char *msg_state(int64_t seq, bool delivered_at, const positions *recipient)
{
    if (seq <= recipient->read)
        return "read";
    return delivered_at || seq <= recipient->delivered ? "delivered" : "sent";
}

/* The fields every view of a message has (columns MSG_COLS). */
static json_t *msg_json(sqlite3_stmt *st)
{
    char date[32];
    int64_t at = sqlite3_column_int64(st, 3);
    json_t *o = json_pack("{s:s,s:I,s:I,s:s,s:I,s:s%,s:s,s:I}", "msg_id", (const char *)sqlite3_column_text(st, 0),
                          "seq", (json_int_t)sqlite3_column_int64(st, 1), "from",
                          (json_int_t)sqlite3_column_int64(st, 2), "date", api_iso8601(at, date), "date_ms",
                          (json_int_t)at, "text", (const char *)sqlite3_column_text(st, 4),
                          (size_t)sqlite3_column_bytes(st, 4), "client_id", (const char *)sqlite3_column_text(st, 5),
                          "charged", (json_int_t)sqlite3_column_int64(st, 7));
    if (o && sqlite3_column_type(st, 6) != SQLITE_NULL)
        json_object_set_new(o, "client_date", json_integer(sqlite3_column_int64(st, 6)));
    return o;
}

/* The send outcome of the message (sender, client_id), if there is one: 1 (outcome set),
 * 0 none, -1 SQL error. */
static int send_outcome(sqlite3 *db, chat_unit *u, bool replayed)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT " MSG_COLS ", c.caller_id, c.host_id FROM chat_messages m "
                                      "JOIN conversations c ON c.id = m.conversation "
                                      "WHERE m.sender = ?1 AND m.client_id = ?2");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, u->user);
    sqlite3_bind_text(st, 2, u->client_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        json_t *o = msg_json(st);
        conv_row c = {.caller = sqlite3_column_int64(st, 10), .host = sqlite3_column_int64(st, 11)};
        json_object_set_new(o, "ok", json_true());
        json_object_set_new(o, "room", json_integer(sqlite3_column_int64(st, 9)));
        json_object_set_new(o, "to", json_integer(peer_of(&c, u->user)));
        json_object_set_new(o, "replayed", json_boolean(replayed));
        api_op_outcome(&u->base, API_OP_OK, o);
    }
    store_stmt_release(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

json_t *chat_message_db(sqlite3 *db, int64_t room, int64_t caller, int64_t host, int64_t seq)
{
    positions pos[2];   /* the caller's, the host's */
    if (load_positions(db, room, caller, &pos[0]) != 0 || load_positions(db, room, host, &pos[1]) != 0)
        return NULL;
    sqlite3_stmt *st = store_stmt(db, "SELECT " MSG_COLS " FROM chat_messages m WHERE m.conversation = ?1 "
                                      "AND m.seq = ?2");
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, room);
    sqlite3_bind_int64(st, 2, seq);
    json_t *m = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && (m = msg_json(st)))
        json_object_set_new(m, "state", json_string(msg_state(seq, sqlite3_column_int(st, 8) != 0,
                                                              &pos[sqlite3_column_int64(st, 2) == caller])));
    store_stmt_release(st);
    return m;
}

/* ---- send ---- */

static int host_message_rate(sqlite3 *db, int64_t host, int64_t *rate)
{
    *rate = 0;
    sqlite3_stmt *st = store_stmt(db, "SELECT message_rate FROM host_profiles WHERE user_id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, host);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *rate = sqlite3_column_int64(st, 0);
    store_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int funds_refused(sqlite3 *db, chat_unit *u, int64_t needed)
{
    ledger_balance_t bal;
    int rc = ledger_balance_db(db, (uint64_t)u->user, &bal);
    if (rc != 0)
        return ledger_failed(u, rc, "balance");
    return api_op_outcome(&u->base, API_OP_REFUSED,
                          json_pack("{s:b,s:s,s:s,s:I,s:I}", "ok", 0, "reason", "insufficient_balance", "message",
                                    "the balance does not cover this message", "needed", (json_int_t)needed,
                                    "balance", (json_int_t)bal.available));
}

/* A caller's message costs the host's message_rate, split as call minutes; a host's is free. */
static int charge_message(sqlite3 *db, chat_unit *u, const conv_row *c, ledger_result *res)
{
    int64_t price = 0;
    if (u->user == c->caller && host_message_rate(db, c->host, &price) != 0)
        return db_failed(u, db, "message rate");
    if (price == 0)
        return API_OP_OK;
    char key[48], ref[32];
    snprintf(key, sizeof key, "msg:%s", u->msg_id);
    snprintf(ref, sizeof ref, "chat:%" PRId64, c->id);
    /* ledger_charge_unit_db makes the caller's accounts when they are missing */
    int rc = ledger_charge_unit_db(db, (uint64_t)c->caller, (uint64_t)c->host, price, u->fee_bps, NULL, key, ref, res);
    if (rc == LEDGER_EFUNDS)
        return funds_refused(db, u, price);
    return rc == 0 ? API_OP_OK : ledger_failed(u, rc, "charge");
}

static int insert_message(sqlite3 *db, const chat_unit *u, const ledger_result *res)
{
    sqlite3_stmt *st = store_stmt(db, "INSERT INTO chat_messages(conversation, seq, msg_id, sender, client_id, "
                                      "text, created_at, client_date, charged, host_amount, fee_amount) VALUES "
                                      "(?1, (SELECT last_seq + 1 FROM conversations WHERE id = ?1), ?2, ?3, ?4, "
                                      "?5, ?6, ?7, ?8, ?9, ?10)");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, u->room);
    sqlite3_bind_text(st, 2, u->msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, u->user);
    sqlite3_bind_text(st, 4, u->client_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, u->text, (int)u->text_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, u->now);
    if (u->has_client_date)
        sqlite3_bind_int64(st, 7, u->client_date);
    sqlite3_bind_int64(st, 8, res->amount);
    sqlite3_bind_int64(st, 9, res->host_amount);
    sqlite3_bind_int64(st, 10, res->fee_amount);
    return api_sql_done(st);
}

/* The outcome of the message this unit just inserted, from what the unit knows: the same
 * fields send_outcome reads back (seq is last_seq + 1 of the conversation as loaded in this
 * transaction: the gap-free trigger would have refused anything else). */
static int sent_outcome(chat_unit *u, const conv_row *c, int64_t seq, const ledger_result *res)
{
    char date[32];
    json_t *o = json_pack("{s:b,s:s,s:I,s:I,s:s,s:I,s:s%,s:s,s:I,s:I,s:I,s:b}", "ok", 1, "msg_id", u->msg_id, "seq",
                          (json_int_t)seq, "from", (json_int_t)u->user, "date", api_iso8601(u->now, date), "date_ms",
                          (json_int_t)u->now, "text", u->text, u->text_len, "client_id", u->client_id, "charged",
                          (json_int_t)res->amount, "room", (json_int_t)c->id, "to", (json_int_t)peer_of(c, u->user),
                          "replayed", 0);
    if (o && u->has_client_date)
        json_object_set_new(o, "client_date", json_integer(u->client_date));
    if (!o)
        return api_op_outcome(&u->base, API_OP_FAILED,
                              json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "error", "message", "out of memory"));
    return api_op_outcome(&u->base, API_OP_OK, o);
}

static int unit_send(sqlite3 *db, chat_unit *u)
{
    int found = send_outcome(db, u, true);   /* a retry: the first outcome, nothing moves */
    if (found != 0)
        return found > 0 ? API_OP_OK : db_failed(u, db, "replay");
    conv_row c;
    int rc;
    if (!need_member(db, u, &c, &rc))
        return rc;
    int blocked = chat_blocks_db(db, peer_of(&c, u->user), u->user);
    if (blocked != 0)
        return blocked < 0 ? db_failed(u, db, "blocks")
                           : api_op_refused(&u->base, "blocked", "the recipient does not take your messages");
    ledger_result res = {0};
    if ((rc = charge_message(db, u, &c, &res)) != API_OP_OK)
        return rc;
    if (insert_message(db, u, &res) != 0)
        return db_failed(u, db, "insert");
    return sent_outcome(u, &c, c.last_seq + 1, &res);
}

/* A statement of the unit's own (a nested savepoint): SQLITE_OK when it ran. */
static int run_sql(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = store_stmt(db, sql);
    if (!st)
        return SQLITE_ERROR;
    int rc = sqlite3_step(st);
    store_stmt_release(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static const char sql_msg_savepoint[] = "SAVEPOINT msg";
static const char sql_msg_rollback[] = "ROLLBACK TO msg";
static const char sql_msg_release[] = "RELEASE msg";

/* Messages queued together, one unit of parts (store_write_parts): each message in its own
 * outermost savepoint, so each is stored and charged, or refused or failed with nothing
 * moved, exactly as a lone send, and its outcome is the one a lone send would give. If a
 * savepoint itself fails, a message may be half-done: the unit fails, and the store rolls the
 * whole group back (none is "sent"), as when SQLite aborts the transaction. */
static int unit_send_many(sqlite3 *db, chat_unit *u)
{
    json_t *results = json_array();
    for (size_t i = 0; i < u->nsends; i++) {
        chat_unit *m = u->sends[i];
        if (!m) {   /* answered before the store (fields, rate limit) */
            json_array_append(results, u->answers[i]);
            continue;
        }
        m->now = u->now;
        if (run_sql(db, sql_msg_savepoint) != SQLITE_OK ||
            (unit_send(db, m) != API_OP_OK && run_sql(db, sql_msg_rollback) != SQLITE_OK) ||
            run_sql(db, sql_msg_release) != SQLITE_OK) {
            LOG_ERROR("chat", "send_many: savepoint: %s", sqlite3_errmsg(db));
            json_decref(results);
            return api_op_outcome(&u->base, API_OP_FAILED, json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "error",
                                                                     "message", "storage failed"));
        }
        json_array_append(results, m->base.result);
    }
    return api_op_outcome(&u->base, API_OP_OK, json_pack("{s:b,s:o}", "ok", 1, "results", results));
}

/* ---- join, history ---- */

static int unit_join(sqlite3 *db, chat_unit *u)
{
    conv_row c;
    positions own, peer;
    int rc;
    if (!need_member(db, u, &c, &rc))
        return rc;
    int64_t peer_id = peer_of(&c, u->user);
    if (load_positions(db, c.id, u->user, &own) != 0 || load_positions(db, c.id, peer_id, &peer) != 0)
        return db_failed(u, db, "positions");
    return api_op_outcome(&u->base, API_OP_OK,
                          json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ok", 1, "room", (json_int_t)c.id,
                                    "peer_id", (json_int_t)peer_id, "caller_id", (json_int_t)c.caller, "host_id",
                                    (json_int_t)c.host, "last_seq", (json_int_t)c.last_seq, "delivered_seq",
                                    (json_int_t)own.delivered, "read_seq", (json_int_t)own.read, "peer_read_seq",
                                    (json_int_t)peer.read, "peer_delivered_seq", (json_int_t)peer.delivered));
}

static sqlite3_stmt *history_stmt(sqlite3 *db, const chat_unit *u)
{
    sqlite3_stmt *st;
    if (u->before_seq > 0)   /* the newest limit below before_seq, newest first */
        st = store_stmt(db, "SELECT " MSG_COLS " FROM chat_messages m WHERE m.conversation = ?1 AND m.seq < ?2 "
                            "ORDER BY m.seq DESC LIMIT ?3");
    else
        st = store_stmt(db, "SELECT " MSG_COLS " FROM chat_messages m WHERE m.conversation = ?1 AND m.seq > ?2 "
                            "ORDER BY m.seq LIMIT ?3");
    if (st) {
        sqlite3_bind_int64(st, 1, u->room);
        sqlite3_bind_int64(st, 2, u->before_seq > 0 ? u->before_seq : u->after_seq);
        sqlite3_bind_int64(st, 3, u->limit);
    }
    return st;
}

/* next_before_seq: seqs start at 1 without gaps, so older ones exist iff the oldest shown is > 1. */
static json_t *history_result(json_t *msgs, const chat_unit *u)
{
    json_t *o = json_pack("{s:b,s:I,s:o}", "ok", 1, "room", (json_int_t)u->room, "messages", msgs);
    if (u->before_seq > 0) {
        int64_t oldest = json_integer_value(json_object_get(json_array_get(msgs, 0), "seq"));
        json_object_set_new(o, "next_before_seq", oldest > 1 ? json_integer(oldest) : json_null());
    }
    return o;
}

static int unit_history(sqlite3 *db, chat_unit *u)
{
    conv_row c;
    positions pos[2];   /* the caller's, the host's */
    int rc;
    if (!need_member(db, u, &c, &rc))
        return rc;
    if (load_positions(db, c.id, c.caller, &pos[0]) != 0 || load_positions(db, c.id, c.host, &pos[1]) != 0)
        return db_failed(u, db, "positions");
    sqlite3_stmt *st = history_stmt(db, u);
    if (!st)
        return db_failed(u, db, "history");
    json_t *msgs = json_array();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *m = msg_json(st);
        const positions *recipient = &pos[sqlite3_column_int64(st, 2) == c.caller];
        json_object_set_new(m, "state", json_string(msg_state(sqlite3_column_int64(st, 1),
                                                              sqlite3_column_int(st, 8) != 0, recipient)));
        if (u->before_seq > 0)
            json_array_insert_new(msgs, 0, m);
        else
            json_array_append_new(msgs, m);
    }
    store_stmt_release(st);
    if (rc != SQLITE_DONE) {
        json_decref(msgs);
        return db_failed(u, db, "history");
    }
    return api_op_outcome(&u->base, API_OP_OK, history_result(msgs, u));
}

/* ---- receipts ---- */

/* rowid: the message's row as the receipt's lookup found it (no second msg_id index walk). */
static int set_delivered(sqlite3 *db, const chat_unit *u, int64_t rowid, int64_t seq, bool first)
{
    sqlite3_stmt *st;
    if (first) {
        if (!(st = store_stmt(db, "UPDATE chat_messages SET delivered_at = ?2 WHERE rowid = ?1")))
            return -1;
        sqlite3_bind_int64(st, 1, rowid);
        sqlite3_bind_int64(st, 2, u->now);
        if (api_sql_done(st) != 0)
            return -1;
    }
    if (!(st = store_stmt(db, "UPDATE chat_positions SET delivered_seq = ?3 WHERE conversation = ?1 "
                              "AND user_id = ?2 AND delivered_seq < ?3")))
        return -1;
    sqlite3_bind_int64(st, 1, u->room);
    sqlite3_bind_int64(st, 2, u->user);
    sqlite3_bind_int64(st, 3, seq);
    return api_sql_done(st);
}

static int unit_delivered(sqlite3 *db, chat_unit *u)
{
    conv_row c;
    int rc;
    if (!need_member(db, u, &c, &rc))
        return rc;
    sqlite3_stmt *st = store_stmt(db, "SELECT seq, sender, delivered_at IS NULL, rowid FROM chat_messages "
                                      "WHERE msg_id = ?1 AND conversation = ?2");
    if (!st)
        return db_failed(u, db, "message");
    sqlite3_bind_text(st, 1, u->msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->room);
    int step = sqlite3_step(st);
    int64_t seq = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int64_t sender = step == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    bool first = step == SQLITE_ROW && sqlite3_column_int(st, 2) != 0;
    int64_t rowid = step == SQLITE_ROW ? sqlite3_column_int64(st, 3) : 0;
    store_stmt_release(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        return db_failed(u, db, "message");
    if (step == SQLITE_DONE || sender == u->user)   /* only the other party's messages */
        return api_op_refused(&u->base, "not_found", "no such message from the other party in this room");
    if (set_delivered(db, u, rowid, seq, first) != 0)
        return db_failed(u, db, "delivered");
    return api_op_outcome(&u->base, API_OP_OK,
                          json_pack("{s:b,s:I,s:s,s:I,s:I,s:b}", "ok", 1, "room", (json_int_t)u->room, "msg_id",
                                    u->msg_id, "seq", (json_int_t)seq, "sender_id", (json_int_t)sender, "changed",
                                    first));
}

/* Receipts that arrived together, one unit: each outcome as a lone `delivered` would give it
 * (a refused one writes nothing, so it needs no rollback); an SQL error fails them all. */
static int unit_delivered_many(sqlite3 *db, chat_unit *u)
{
    json_t *results = json_array();
    for (size_t i = 0; i < u->nreceipts; i++) {
        u->room = u->receipts[i].room;
        u->user = u->receipts[i].user;
        memcpy(u->msg_id, u->receipts[i].msg_id, sizeof u->msg_id);
        if (unit_delivered(db, u) == API_OP_FAILED) {
            json_decref(results);
            return API_OP_FAILED;
        }
        json_array_append(results, u->base.result);
    }
    return api_op_outcome(&u->base, API_OP_OK, json_pack("{s:b,s:o}", "ok", 1, "results", results));
}

static int unit_read(sqlite3 *db, chat_unit *u)
{
    conv_row c;
    positions own;
    int rc;
    if (!need_member(db, u, &c, &rc))
        return rc;
    if (load_positions(db, c.id, u->user, &own) != 0)
        return db_failed(u, db, "positions");
    int64_t up_to = u->up_to_seq < c.last_seq ? u->up_to_seq : c.last_seq;
    bool changed = up_to > own.read;
    if (changed) {
        sqlite3_stmt *st = store_stmt(db, "UPDATE chat_positions SET read_seq = ?3, "
                                          "delivered_seq = max(delivered_seq, ?3) "
                                          "WHERE conversation = ?1 AND user_id = ?2");
        if (!st)
            return db_failed(u, db, "read");
        sqlite3_bind_int64(st, 1, c.id);
        sqlite3_bind_int64(st, 2, u->user);
        sqlite3_bind_int64(st, 3, up_to);
        if (api_sql_done(st) != 0)
            return db_failed(u, db, "read");
    }
    return api_op_outcome(&u->base, API_OP_OK,
                          json_pack("{s:b,s:I,s:I,s:I,s:b}", "ok", 1, "room", (json_int_t)c.id, "read_seq",
                                    (json_int_t)(changed ? up_to : own.read), "peer_id",
                                    (json_int_t)peer_of(&c, u->user), "changed", changed));
}

static int unit_unread(sqlite3 *db, chat_unit *u)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT c.id, c.last_seq, (SELECT count(*) FROM chat_messages m "
                                      "WHERE m.conversation = c.id AND m.seq > p.read_seq AND m.sender <> ?1) "
                                      "FROM conversations c JOIN chat_positions p ON p.conversation = c.id "
                                      "AND p.user_id = ?1 WHERE c.caller_id = ?1 OR c.host_id = ?1 ORDER BY c.id");
    if (!st)
        return db_failed(u, db, "unread");
    sqlite3_bind_int64(st, 1, u->user);
    json_t *rooms = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(rooms, json_pack("{s:I,s:I,s:I}", "room", (json_int_t)sqlite3_column_int64(st, 0),
                                               "unread", (json_int_t)sqlite3_column_int64(st, 2), "last_seq",
                                               (json_int_t)sqlite3_column_int64(st, 1)));
    store_stmt_release(st);
    if (rc != SQLITE_DONE) {
        json_decref(rooms);
        return db_failed(u, db, "unread");
    }
    return api_op_outcome(&u->base, API_OP_OK, json_pack("{s:b,s:o}", "ok", 1, "rooms", rooms));
}

/* ---- the unit ---- */

static int chat_unit_run(sqlite3 *db, void *arg)
{
    chat_unit *u = arg;
    u->now = store_now_ms();
    switch (u->op) {
    case CHAT_JOIN: return unit_join(db, u);
    case CHAT_SEND: return unit_send(db, u);
    case CHAT_HISTORY: return unit_history(db, u);
    case CHAT_DELIVERED: return unit_delivered(db, u);
    case CHAT_READ: return unit_read(db, u);
    case CHAT_UNREAD: return unit_unread(db, u);
    case CHAT_DELIVERED_MANY: return unit_delivered_many(db, u);
    case CHAT_SEND_MANY: return unit_send_many(db, u);
    }
    return api_op_refused(&u->base, "invalid", "unknown op");
}

static void chat_unit_release(api_op *op)
{
    chat_unit *u = (chat_unit *)op;
    free(u->text);
    free(u->receipts);
    for (size_t i = 0; i < u->nsends; i++) {
        if (u->sends && u->sends[i])
            api_op_free(&u->sends[i]->base);
        if (u->answers)
            json_decref(u->answers[i]);
    }
    free(u->sends);
    free(u->answers);
    free(u);
}

chat_unit *chat_unit_new(platform_t *p, chat_opcode op)
{
    chat_unit *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->op = op;
    u->base.run = chat_unit_run;
    u->base.read_only = op == CHAT_JOIN || op == CHAT_HISTORY || op == CHAT_UNREAD;
    u->base.parts = op == CHAT_SEND_MANY;
    u->base.release = chat_unit_release;
    u->fee_bps = p->fee_bps;
    u->limit = CHAT_HISTORY_MAX;
    return u;
}
