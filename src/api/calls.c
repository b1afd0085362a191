/*
 * calls: where the 1:1 calls the calls plugin makes are kept (module "calls" in
 * schema_migrations) and how their two parties read them back.
 *
 *   platform_call_record(p, json)   the plugin's events, one store_write unit each
 *   platform_user_info(p, id)       a user's public record for the plugin (reader + presence)
 *   GET /api/v1/calls               the user's calls as caller or host, newest first, paged
 *   GET /api/v1/calls/{call_id}     one call, for its two parties only (404 for anyone else)
 *
 * A call's life: create (ringing) -> ring (how many devices rang) -> accept (active, the
 * answering device) -> kind* (audio <-> video) -> end (ended, reason, duration). Every record
 * is idempotent so a retried or duplicated event converges: a second create of the same call
 * (same parties), accept by the same device, a kind equal to the current one and any end of an
 * ended call change nothing and return 0. What does not fit the life is refused with -1 and
 * nothing written: unknown call, accept or kind or ring after end, an accept by a second
 * device. An ended call is final (a trigger refuses any later update).
 *
 * Times are the server's wall clock in Unix milliseconds (store_now_ms, as every table). A
 * clock stepping back never makes a call end before it began: each time is raised to the
 * call's previous one. call_kind_changes holds the whole history of kinds, the first one
 * (from create, at created_at) included: it is what per-minute billing reads.
 *
 * Call ids are the plugin's UUIDs (8-4-4-4-12 hex), stored and compared in lower case; the
 * REST cursor is the opaque "newest first" cursor of cursor.h over the internal row number.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/cursor.h"
#include "api/internal.h"
#include "api/validate.h"
#include "util/log.h"

#define CALLS_LIMIT_DEFAULT 20
#define CALLS_LIMIT_MAX 100
#define CALLS_ID_LEN 36
#define CALLS_REASON_MAX 32
#define CALLS_DEVICES_MAX 1000

/* ---- schema ---- */

static const char calls_schema_v1[] =
    "CREATE TABLE calls("
    " seq INTEGER PRIMARY KEY,"
    " call_id TEXT NOT NULL UNIQUE CHECK (length(call_id) = 36"
    "  AND call_id NOT GLOB '*[^0-9a-f-]*' AND length(replace(call_id, '-', '')) = 32"
    "  AND substr(call_id, 9, 1) = '-' AND substr(call_id, 14, 1) = '-'"
    "  AND substr(call_id, 19, 1) = '-' AND substr(call_id, 24, 1) = '-'),"
    " caller_id INTEGER NOT NULL REFERENCES users(id),"
    " host_id INTEGER NOT NULL REFERENCES users(id),"
    " kind TEXT NOT NULL CHECK (kind IN ('audio','video')),"
    " state TEXT NOT NULL CHECK (state IN ('ringing','active','ended')),"
    " devices_rung INTEGER CHECK (devices_rung IS NULL OR devices_rung >= 0),"
    " created_at INTEGER NOT NULL,"
    " accepted_at INTEGER,"
    " ended_at INTEGER,"
    " end_reason TEXT CHECK (end_reason IS NULL OR (length(end_reason) BETWEEN 1 AND 32"
    "  AND end_reason NOT GLOB '*[^a-z_]*')),"
    " duration_ms INTEGER NOT NULL DEFAULT 0 CHECK (duration_ms >= 0),"
    " answer_session_id INTEGER CHECK (answer_session_id IS NULL OR answer_session_id > 0),"
    " answer_handle_id INTEGER CHECK (answer_handle_id IS NULL OR answer_handle_id > 0),"
    " answer_device_id TEXT,"
    " CHECK (caller_id <> host_id),"
    " CHECK (accepted_at IS NULL OR accepted_at >= created_at),"
    " CHECK (ended_at IS NULL OR ended_at >= created_at),"
    " CHECK (ended_at IS NULL OR accepted_at IS NULL OR ended_at >= accepted_at),"
    " CHECK (state <> 'ringing' OR (accepted_at IS NULL AND ended_at IS NULL)),"
    " CHECK (state <> 'active' OR (accepted_at IS NOT NULL AND ended_at IS NULL)),"
    " CHECK ((state = 'ended') = (ended_at IS NOT NULL)),"
    " CHECK ((ended_at IS NULL) = (end_reason IS NULL)),"
    " CHECK ((accepted_at IS NULL) = (answer_session_id IS NULL)),"
    " CHECK ((accepted_at IS NULL) = (answer_handle_id IS NULL)),"
    " CHECK (answer_device_id IS NULL OR accepted_at IS NOT NULL),"
    " CHECK (duration_ms = CASE WHEN ended_at IS NOT NULL AND accepted_at IS NOT NULL"
    "  THEN ended_at - accepted_at ELSE 0 END)"
    ") STRICT;"
    "CREATE INDEX calls_by_caller ON calls(caller_id, seq);"
    "CREATE INDEX calls_by_host ON calls(host_id, seq);"

    "CREATE TABLE call_kind_changes("
    " id INTEGER PRIMARY KEY,"
    " call_id TEXT NOT NULL REFERENCES calls(call_id),"
    " kind TEXT NOT NULL CHECK (kind IN ('audio','video')),"
    " at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX call_kind_changes_call ON call_kind_changes(call_id, id);"

    "CREATE TRIGGER calls_ended_final BEFORE UPDATE ON calls WHEN OLD.state = 'ended'"
    " BEGIN SELECT RAISE(ABORT, 'an ended call is final'); END;"
    "CREATE TRIGGER calls_identity BEFORE UPDATE OF seq, call_id, caller_id, host_id,"
    " created_at ON calls BEGIN SELECT RAISE(ABORT, 'a call keeps its id, parties and start');"
    " END;"
    "CREATE TRIGGER calls_no_delete BEFORE DELETE ON calls"
    " BEGIN SELECT RAISE(ABORT, 'calls are kept'); END;"
    "CREATE TRIGGER call_kind_changes_no_update BEFORE UPDATE ON call_kind_changes"
    " BEGIN SELECT RAISE(ABORT, 'call_kind_changes is append-only'); END;"
    "CREATE TRIGGER call_kind_changes_no_delete BEFORE DELETE ON call_kind_changes"
    " BEGIN SELECT RAISE(ABORT, 'call_kind_changes is append-only'); END;";

static const store_migration calls_migrations[] = {
    {"calls", 1, calls_schema_v1},
};

int calls_schema_migrate(store_t *s, char *err, size_t errcap)
{
    return store_migrate(s, calls_migrations,
                         sizeof(calls_migrations) / sizeof(*calls_migrations), err, errcap);
}

/* ---- small rules ---- */

static int calls_id_normalize(const char *in, char out[CALLS_ID_LEN + 1])
{
    return validate_uuid(in, out);
}

static bool calls_reason_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CALLS_REASON_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return false;
    return true;
}

static bool calls_kind_valid(const char *s)
{
    return strcmp(s, "audio") == 0 || strcmp(s, "video") == 0;
}

/* ---- platform_call_record ---- */

typedef enum { OP_CREATE, OP_RING, OP_ACCEPT, OP_KIND, OP_END } calls_op;

typedef struct calls_unit {
    calls_op op;
    char call_id[CALLS_ID_LEN + 1];
    int64_t caller, host, devices, session, handle;
    char kind[8];
    char reason[CALLS_REASON_MAX + 1];
    char device_id[129];          /* "" = not given */
    int64_t now;
    char why[160];                /* reason of a refusal (unit result -1) */
} calls_unit;

/* The current row of a call, as the unit needs it. */
typedef struct calls_row {
    int64_t caller, host, created_at, accepted_at, session, handle;
    bool accepted;
    char state[8], kind[8];
} calls_row;

static int unit_refuse(calls_unit *u, const char *what)
{
    snprintf(u->why, sizeof(u->why), "call %s: %s", u->call_id, what);
    return -1;
}

static int unit_sql_error(calls_unit *u, sqlite3 *db)
{
    snprintf(u->why, sizeof(u->why), "storage: %s", sqlite3_errmsg(db));
    return -2;
}

/* 1 found, 0 no such call, -1 SQL error. */
static int calls_load_row(sqlite3 *db, const char *call_id, calls_row *r)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT caller_id, host_id, created_at, accepted_at, "
                                      "answer_session_id, answer_handle_id, state, kind "
                                      "FROM calls WHERE call_id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, call_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int out = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    if (out == 1) {
        r->caller = sqlite3_column_int64(st, 0);
        r->host = sqlite3_column_int64(st, 1);
        r->created_at = sqlite3_column_int64(st, 2);
        r->accepted = sqlite3_column_type(st, 3) != SQLITE_NULL;
        r->accepted_at = sqlite3_column_int64(st, 3);
        r->session = sqlite3_column_int64(st, 4);
        r->handle = sqlite3_column_int64(st, 5);
        api_sql_text(st, 6, r->state, sizeof(r->state));
        api_sql_text(st, 7, r->kind, sizeof(r->kind));
    }
    store_stmt_release(st);
    return out;
}

/* Runs a prepared write (bindings done by the caller) to completion. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    store_stmt_release(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int unit_create(sqlite3 *db, calls_unit *u, const calls_row *row, int found)
{
    if (found)   /* a replay of the same create changes nothing */
        return (row->caller == u->caller && row->host == u->host)
                   ? 0 : unit_refuse(u, "exists with other parties");
    sqlite3_stmt *st = store_stmt(db, "SELECT count(*) FROM users WHERE id IN (?1, ?2)");
    if (!st)
        return unit_sql_error(u, db);
    sqlite3_bind_int64(st, 1, u->caller);
    sqlite3_bind_int64(st, 2, u->host);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    store_stmt_release(st);
    if (n < 0)
        return unit_sql_error(u, db);
    if (n != 2)
        return unit_refuse(u, "unknown caller or host");
    if (!(st = store_stmt(db, "INSERT INTO calls(call_id, caller_id, host_id, kind, state, "
                              "created_at) VALUES (?1, ?2, ?3, ?4, 'ringing', ?5)")))
        return unit_sql_error(u, db);
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->caller);
    sqlite3_bind_int64(st, 3, u->host);
    sqlite3_bind_text(st, 4, u->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, u->now);
    if (step_done(st) != 0)
        return unit_sql_error(u, db);
    if (!(st = store_stmt(db, "INSERT INTO call_kind_changes(call_id, kind, at) "
                              "VALUES (?1, ?2, ?3)")))
        return unit_sql_error(u, db);
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, u->now);
    return step_done(st) == 0 ? 0 : unit_sql_error(u, db);
}

static int unit_ring(sqlite3 *db, calls_unit *u)
{
    sqlite3_stmt *st = store_stmt(db, "UPDATE calls SET devices_rung = ?2 WHERE call_id = ?1");
    if (!st)
        return unit_sql_error(u, db);
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->devices);
    return step_done(st) == 0 ? 0 : unit_sql_error(u, db);
}

static int unit_accept(sqlite3 *db, calls_unit *u, const calls_row *row)
{
    if (strcmp(row->state, "active") == 0)   /* the same device again: a duplicate */
        return (row->session == u->session && row->handle == u->handle)
                   ? 0 : unit_refuse(u, "answered by another device");
    int64_t at = u->now > row->created_at ? u->now : row->created_at;
    sqlite3_stmt *st = store_stmt(db, "UPDATE calls SET state = 'active', accepted_at = ?2, "
                                      "answer_session_id = ?3, answer_handle_id = ?4, "
                                      "answer_device_id = ?5 WHERE call_id = ?1");
    if (!st)
        return unit_sql_error(u, db);
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_int64(st, 3, u->session);
    sqlite3_bind_int64(st, 4, u->handle);
    if (u->device_id[0])
        sqlite3_bind_text(st, 5, u->device_id, -1, SQLITE_STATIC);
    return step_done(st) == 0 ? 0 : unit_sql_error(u, db);
}

static int unit_kind(sqlite3 *db, calls_unit *u, const calls_row *row)
{
    if (strcmp(row->kind, u->kind) == 0)
        return 0;   /* no change: nothing to append */
    sqlite3_stmt *st = store_stmt(db, "SELECT max(at) FROM call_kind_changes WHERE call_id = ?1");
    if (!st)
        return unit_sql_error(u, db);
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    int64_t last = sqlite3_column_int64(st, 0);
    store_stmt_release(st);
    if (step != SQLITE_ROW)
        return unit_sql_error(u, db);
    int64_t at = u->now > last ? u->now : last;
    if (!(st = store_stmt(db, "INSERT INTO call_kind_changes(call_id, kind, at) "
                              "VALUES (?1, ?2, ?3)")))
        return unit_sql_error(u, db);
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, at);
    if (step_done(st) != 0)
        return unit_sql_error(u, db);
    if (!(st = store_stmt(db, "UPDATE calls SET kind = ?2 WHERE call_id = ?1")))
        return unit_sql_error(u, db);
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->kind, -1, SQLITE_STATIC);
    return step_done(st) == 0 ? 0 : unit_sql_error(u, db);
}

static int unit_end(sqlite3 *db, calls_unit *u, const calls_row *row)
{
    int64_t start = row->accepted ? row->accepted_at : row->created_at;
    int64_t at = u->now > start ? u->now : start;
    sqlite3_stmt *st = store_stmt(db, "UPDATE calls SET state = 'ended', ended_at = ?2, "
                                      "end_reason = ?3, duration_ms = ?4 WHERE call_id = ?1");
    if (!st)
        return unit_sql_error(u, db);
    sqlite3_bind_text(st, 1, u->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_text(st, 3, u->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, row->accepted ? at - row->accepted_at : 0);
    return step_done(st) == 0 ? 0 : unit_sql_error(u, db);
}

int calls_end_stale_db(sqlite3 *db, int64_t started_ms, int64_t now, int64_t *ended)
{
    /* ended_at is raised to the start (accepted or created) so the row's CHECKs hold. */
    sqlite3_stmt *st = store_stmt(db, "UPDATE calls SET state = 'ended', end_reason = 'server_restart', "
                                      "ended_at = max(?2, coalesce(accepted_at, created_at)), "
                                      "duration_ms = CASE WHEN accepted_at IS NULL THEN 0 "
                                      "ELSE max(?2, accepted_at) - accepted_at END "
                                      "WHERE state <> 'ended' AND created_at < ?1 AND call_id NOT IN "
                                      "(SELECT call_id FROM billing_meters WHERE settled_at IS NULL)");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, started_ms);
    sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st);
    store_stmt_release(st);
    *ended = sqlite3_changes(db);
    return rc == SQLITE_DONE ? 0 : -1;
}

static const char *const op_names[] = {"create", "ring", "accept", "kind", "end"};

/* One store_write unit: 0 written (or a harmless duplicate), -1 refused, -2 SQL error. */
static int calls_record_unit(sqlite3 *db, void *arg)
{
    calls_unit *u = arg;
    calls_row row = {0};
    int found = calls_load_row(db, u->call_id, &row);
    if (found < 0)
        return unit_sql_error(u, db);
    if (u->op == OP_CREATE)
        return unit_create(db, u, &row, found);
    if (!found)
        return unit_refuse(u, "unknown call");
    bool ended = strcmp(row.state, "ended") == 0;
    if (u->op == OP_END)
        return ended ? 0 : unit_end(db, u, &row);   /* the first end stays */
    if (ended)
        return unit_refuse(u, "the call has ended");
    switch (u->op) {
    case OP_RING: return unit_ring(db, u);
    case OP_ACCEPT: return unit_accept(db, u, &row);
    case OP_KIND: return unit_kind(db, u, &row);
    default: return unit_refuse(u, "unknown op");
    }
}

static int calls_parse_kind(json_t *b, calls_unit *u, api_error *err)
{
    const char *s;
    if (apijson_string(b, "kind", true, &s, err))
        return -1;
    if (!calls_kind_valid(s))
        return api_fail(err, 422, "invalid_value", "kind must be \"audio\" or \"video\"");
    snprintf(u->kind, sizeof(u->kind), "%s", s);
    return 0;
}

/* Fills u from the record; -1 with err describing the problem. */
static int calls_parse_record(json_t *b, calls_unit *u, api_error *err)
{
    static const char *const f_create[] = {"op", "call_id", "caller_id", "host_id", "kind", NULL};
    static const char *const f_ring[] = {"op", "call_id", "devices", NULL};
    static const char *const f_accept[] = {"op", "call_id", "session_id", "handle_id",
                                           "device_id", NULL};
    static const char *const f_kind[] = {"op", "call_id", "kind", NULL};
    static const char *const f_end[] = {"op", "call_id", "reason", NULL};
    static const char *const *const fields[] = {f_create, f_ring, f_accept, f_kind, f_end};
    const char *op, *call_id, *s;
    if (apijson_string(b, "op", true, &op, err))
        return -1;
    size_t i = 0;
    while (i < 5 && strcmp(op, op_names[i]) != 0)
        i++;
    if (i == 5)
        return api_fail(err, 422, "invalid_value", "unknown op \"%.32s\"", op);
    u->op = (calls_op)i;
    if (apijson_only_fields(b, fields[i], err) ||
        apijson_string(b, "call_id", true, &call_id, err))
        return -1;
    if (calls_id_normalize(call_id, u->call_id) != 0)
        return api_fail(err, 422, "invalid_value", "call_id must be a UUID");
    switch (u->op) {
    case OP_CREATE:
        if (apijson_int(b, "caller_id", true, 1, INT64_MAX, &u->caller, NULL, err) ||
            apijson_int(b, "host_id", true, 1, INT64_MAX, &u->host, NULL, err))
            return -1;
        if (u->caller == u->host)
            return api_fail(err, 422, "invalid_value", "caller_id and host_id are the same");
        return calls_parse_kind(b, u, err);   /* create carries the first kind */
    case OP_KIND:
        return calls_parse_kind(b, u, err);
    case OP_RING:
        return apijson_int(b, "devices", true, 0, CALLS_DEVICES_MAX, &u->devices, NULL, err);
    case OP_ACCEPT:
        if (apijson_int(b, "session_id", true, 1, INT64_MAX, &u->session, NULL, err) ||
            apijson_int(b, "handle_id", true, 1, INT64_MAX, &u->handle, NULL, err) ||
            apijson_string(b, "device_id", false, &s, err))
            return -1;
        if (s && validate_device_id(s) != 0)
            return api_fail(err, 422, "invalid_value", "device_id is not valid");
        snprintf(u->device_id, sizeof(u->device_id), "%s", s ? s : "");
        return 0;
    case OP_END:
        if (apijson_string(b, "reason", true, &s, err))
            return -1;
        if (!calls_reason_valid(s))
            return api_fail(err, 422, "invalid_value", "reason must be 1..32 of [a-z_]");
        if (strcmp(s, "answered_elsewhere") == 0)   /* ends a device's ringing, not a call */
            return api_fail(err, 422, "invalid_value", "answered_elsewhere does not end a call");
        snprintf(u->reason, sizeof(u->reason), "%s", s);
        return 0;
    }
    return -1;
}

int platform_call_record(platform_t *p, const char *record_json)
{
    if (!p || !record_json) {
        LOG_WARN("calls", "call record refused: no record");
        return -1;
    }
    api_error err = {0};
    json_t *b = apijson_parse_object(record_json, strlen(record_json), &err);
    calls_unit *u = calloc(1, sizeof(*u));
    int rc = -1;
    if (!u) {
        LOG_ERROR("calls", "call record: out of memory");
    } else if (!b || calls_parse_record(b, u, &err) != 0) {
        LOG_WARN("calls", "call record refused: %s: %.200s", err.message, record_json);
    } else {
        u->now = store_now_ms();
        int src = store_write(p->store, calls_record_unit, u);
        if (src == 0)
            rc = 0;
        else if (src == -1)
            LOG_WARN("calls", "call record refused (%s): %s", op_names[u->op], u->why);
        else if (src == -2)
            LOG_ERROR("calls", "call record %s %s failed: %s", op_names[u->op], u->call_id,
                      u->why);
        else
            LOG_ERROR("calls", "call record %s %s not stored (%d)", op_names[u->op],
                      u->call_id, src);
    }
    free(u);
    json_decref(b);
    return rc;
}

/* ---- platform_user_info ---- */

typedef struct user_info_read {
    uint64_t id;
    json_t *o;
} user_info_read;

static int user_info_run(sqlite3 *db, void *arg)
{
    user_info_read *r = arg;
    sqlite3_stmt *st = store_stmt(db, "SELECT u.role, u.display_name, hp.avatar_url, "
                                      "hp.do_not_disturb, hp.audio_rate, hp.video_rate, "
                                      "hp.message_rate FROM users u LEFT JOIN host_profiles hp "
                                      "ON hp.user_id = u.id WHERE u.id = ?1");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *role = (const char *)sqlite3_column_text(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *avatar = (const char *)sqlite3_column_text(st, 2);
        bool host = role && strcmp(role, "host") == 0;
        r->o = json_pack("{s:I, s:s, s:s, s:o, s:b, s:I, s:I, s:I}",
            "id", (json_int_t)r->id, "role", host ? "host" : "caller",
            "display_name", name ? name : "",
            "avatar_url", host && avatar ? json_string(avatar) : json_null(),
            "do_not_disturb", host && sqlite3_column_int(st, 3) != 0,
            "audio_rate", (json_int_t)(host ? sqlite3_column_int64(st, 4) : 0),
            "video_rate", (json_int_t)(host ? sqlite3_column_int64(st, 5) : 0),
            "message_rate", (json_int_t)(host ? sqlite3_column_int64(st, 6) : 0));
    }
    store_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

char *platform_user_info(platform_t *p, uint64_t user_id)
{
    if (!p || user_id == 0 || user_id > INT64_MAX)
        return NULL;
    user_info_read r = {.id = user_id};
    int rc = store_read(p->store, user_info_run, &r);
    if (rc != 0) {
        LOG_ERROR("calls", "user_info %" PRIu64 ": read failed (%d)", user_id, rc);
        json_decref(r.o);
        return NULL;
    }
    if (!r.o)
        return NULL;
    api_availability a = api_presence_get(p->presence, user_id);
    json_object_set_new(r.o, "online", json_boolean(a != API_OFFLINE));
    json_object_set_new(r.o, "busy", json_boolean(a == API_BUSY));
    char *txt = json_dumps(r.o, JSON_COMPACT);
    json_decref(r.o);
    return txt;
}

/* ---- REST ---- */

/* Columns of a call row with its parties' names; the WHERE (and ORDER) is appended. */
#define CALLS_COLS                                                                         \
    "SELECT c.seq, c.call_id, c.caller_id, uc.display_name, c.host_id, uh.display_name, "  \
    "c.state, c.kind, c.created_at, c.accepted_at, c.ended_at, c.end_reason, c.duration_ms, " \
    "b.billable_ms, b.minutes_charged, b.charged, b.host_earned, b.platform_fee, b.settled_at, " \
    "b.audio_rate, b.video_rate " \
    "FROM calls c JOIN users uc ON uc.id = c.caller_id JOIN users uh ON uh.id = c.host_id " \
    "LEFT JOIN billing_meters b ON b.call_id = c.call_id "

typedef struct calls_read {
    uint64_t user;
    const char *call_id;          /* one call (GET /calls/{id}); NULL: a page */
    int64_t before;               /* rows with seq below this (INT64_MAX: first page) */
    int limit;
    json_t *items;                /* the page, or the one call (NULL: not found) */
    json_t *call;
    char next[CURSOR_MAX];
} calls_read;

static json_t *opt_time(sqlite3_stmt *st, int col)
{
    char t[32];
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return json_null();
    return json_string(api_iso8601(sqlite3_column_int64(st, col), t));
}

static json_t *calls_kinds(sqlite3_stmt *kst, const char *call_id)
{
    json_t *a = json_array();
    sqlite3_reset(kst);
    sqlite3_bind_text(kst, 1, call_id, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(kst) == SQLITE_ROW) {
        char t[32];
        json_array_append_new(a, json_pack("{s:s, s:s}",
            "kind", (const char *)sqlite3_column_text(kst, 0),
            "at", api_iso8601(sqlite3_column_int64(kst, 1), t)));
    }
    sqlite3_reset(kst);
    return a;
}

/* The meter's figures (billing.c's billing_meters) into item: zeros and rates null for a
 * call never accepted; final once billing_settled. */
static void calls_billing(json_t *item, sqlite3_stmt *st)
{
    bool metered = sqlite3_column_type(st, 13) != SQLITE_NULL;
    json_t *b = json_pack("{s:I,s:I,s:I,s:I,s:I,s:b,s:o,s:o}", "connected_ms", (json_int_t)sqlite3_column_int64(st, 13),
                     "minutes_charged", (json_int_t)sqlite3_column_int64(st, 14), "charged",
                     (json_int_t)sqlite3_column_int64(st, 15), "host_earned", (json_int_t)sqlite3_column_int64(st, 16),
                     "platform_fee", (json_int_t)sqlite3_column_int64(st, 17), "billing_settled",
                     !metered || sqlite3_column_type(st, 18) != SQLITE_NULL, "audio_rate",
                     metered ? json_integer(sqlite3_column_int64(st, 19)) : json_null(), "video_rate",
                     metered ? json_integer(sqlite3_column_int64(st, 20)) : json_null());
    json_object_update(item, b);
    json_decref(b);
}

static json_t *calls_item(sqlite3_stmt *st, sqlite3_stmt *kst, uint64_t user)
{
    char t[32];
    const char *call_id = (const char *)sqlite3_column_text(st, 1);
    int64_t caller = sqlite3_column_int64(st, 2), host = sqlite3_column_int64(st, 4);
    const char *reason = (const char *)sqlite3_column_text(st, 11);
    json_t *item = json_pack("{s:s, s:{s:I, s:s}, s:{s:I, s:s}, s:s, s:s, s:s, s:s, s:o, s:o, s:o, "
                     "s:I, s:o}",
        "id", call_id,
        "caller", "id", (json_int_t)caller, "display_name",
        (const char *)sqlite3_column_text(st, 3),
        "host", "id", (json_int_t)host, "display_name", (const char *)sqlite3_column_text(st, 5),
        "role", (uint64_t)caller == user ? "caller" : "host",
        "state", (const char *)sqlite3_column_text(st, 6),
        "kind", (const char *)sqlite3_column_text(st, 7),
        "created_at", api_iso8601(sqlite3_column_int64(st, 8), t),
        "accepted_at", opt_time(st, 9),
        "ended_at", opt_time(st, 10),
        "end_reason", reason ? json_string(reason) : json_null(),
        "duration_ms", (json_int_t)sqlite3_column_int64(st, 12),
        "kinds", calls_kinds(kst, call_id));
    if (item)
        calls_billing(item, st);
    return item;
}

static int calls_read_run(sqlite3 *db, void *arg)
{
    calls_read *q = arg;
    /* Each party's newest calls come from its own index (bounded by the page size); the
     * union is merged and cut to the page. */
    static const char page_sql[] = CALLS_COLS
        "JOIN (SELECT seq FROM (SELECT seq FROM calls WHERE caller_id = ?1 AND seq < ?2 "
        "ORDER BY seq DESC LIMIT ?3) UNION SELECT seq FROM (SELECT seq FROM calls "
        "WHERE host_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3) ORDER BY seq DESC "
        "LIMIT ?3) s ON s.seq = c.seq ORDER BY c.seq DESC";
    static const char one_sql[] = CALLS_COLS
        "WHERE c.call_id = ?1 AND (c.caller_id = ?2 OR c.host_id = ?2)";
    sqlite3_stmt *st = NULL, *kst = NULL;
    int rc = -1;
    if (!(kst = store_stmt(db, "SELECT kind, at FROM call_kind_changes WHERE call_id = ?1 "
                               "ORDER BY id")))
        return -1;
    if (q->call_id) {
        if (!(st = store_stmt(db, one_sql)))
            goto out;
        sqlite3_bind_text(st, 1, q->call_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)q->user);
    } else {
        if (!(st = store_stmt(db, page_sql)))
            goto out;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)q->user);
        sqlite3_bind_int64(st, 2, q->before);
        sqlite3_bind_int(st, 3, q->limit + 1);   /* one more tells whether a next page exists */
    }
    int n = 0, step;
    int64_t last = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (q->call_id) {   /* call_id is UNIQUE: one row at most */
            q->call = calls_item(st, kst, q->user);
            step = SQLITE_DONE;
            break;
        }
        if (n == q->limit) {
            cursor_encode(false, 0, last, q->next, sizeof(q->next));
            step = SQLITE_DONE;
            break;
        }
        json_array_append_new(q->items, calls_item(st, kst, q->user));
        last = sqlite3_column_int64(st, 0);
        n++;
    }
    rc = step == SQLITE_DONE ? 0 : -1;
out:
    store_stmt_release(st);
    store_stmt_release(kst);
    return rc;
}

int calls_list(api_req *rq, api_resp *rs)
{
    calls_read q = {.user = rq->auth.user_id, .before = INT64_MAX, .limit = CALLS_LIMIT_DEFAULT};
    const char *limit = http_request_query(rq->http, "limit");
    const char *cursor = http_request_query(rq->http, "cursor");
    if (limit) {
        uint64_t v;
        if (!api_parse_u64(limit, &v) || v > CALLS_LIMIT_MAX)
            return api_fail(&rs->err, 400, "invalid_query", "limit must be 1..%d",
                            CALLS_LIMIT_MAX);
        q.limit = (int)v;
    }
    if (cursor) {
        int64_t unused;
        if (cursor_decode(cursor, false, &unused, &q.before) != 0)
            return api_fail(&rs->err, 400, "invalid_cursor", "cursor is not valid");
    }
    q.items = json_array();
    int src = store_read(rq->p->store, calls_read_run, &q);
    if (src != 0) {
        json_decref(q.items);
        return api_store_error(&rs->err, src);
    }
    return api_ok(rs, 200, json_pack("{s:o, s:o}", "calls", q.items, "next_cursor",
                                     q.next[0] ? json_string(q.next) : json_null()));
}

int calls_get(api_req *rq, api_resp *rs)
{
    char id[CALLS_ID_LEN + 1];
    if (calls_id_normalize(rq->params[0], id) != 0)
        return api_fail(&rs->err, 404, "not_found", "no such call");
    calls_read q = {.user = rq->auth.user_id, .call_id = id};
    int src = store_read(rq->p->store, calls_read_run, &q);
    if (src != 0) {
        json_decref(q.call);
        return api_store_error(&rs->err, src);
    }
    if (!q.call)   /* unknown, or not one of its parties: the same answer */
        return api_fail(&rs->err, 404, "not_found", "no such call");
    return api_ok(rs, 200, json_pack("{s:o}", "call", q.call));
}
