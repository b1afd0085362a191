/*
 * blocks: who refuses whom (table user_blocks, created by chat.c's module "chat").
 *
 *   POST   /api/v1/blocks {"user_id"}   201 a new block, 200 when it already was
 *   DELETE /api/v1/blocks/{user_id}     204; 404 when not blocked
 *   GET    /api/v1/blocks               {"blocks":[{user_id, display_name, created_at}]}
 *   platform_user_blocks(p, a, b)       for the calls plugin (through the core)
 *
 * A block is one-way: the blocked user's messages to the blocker are refused (reason
 * "blocked") and its calls to the blocker are refused as if the host were unavailable; the
 * blocker can still write to the blocked user. Any user can block any other (not itself).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "util/log.h"

int chat_blocks_db(sqlite3 *db, int64_t blocker, int64_t blocked)
{
    sqlite3_stmt *st = store_stmt(db, "SELECT 1 FROM user_blocks WHERE blocker = ?1 AND blocked = ?2");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, blocker);
    sqlite3_bind_int64(st, 2, blocked);
    int rc = sqlite3_step(st);
    store_stmt_release(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

typedef struct block_pair {
    int64_t blocker, blocked;
    int found;
} block_pair;

static int blocks_read(sqlite3 *db, void *arg)
{
    block_pair *b = arg;
    b->found = chat_blocks_db(db, b->blocker, b->blocked);
    return b->found < 0 ? -1 : 0;
}

bool platform_user_blocks(platform_t *p, uint64_t blocker, uint64_t blocked)
{
    if (!p || blocker == 0 || blocked == 0 || blocker > INT64_MAX || blocked > INT64_MAX)
        return false;
    block_pair b = {.blocker = (int64_t)blocker, .blocked = (int64_t)blocked};
    int rc = store_read(p->store, blocks_read, &b);
    if (rc != 0)   /* a failed read blocks nobody: a call is never refused by a storage fault */
        LOG_ERROR("chat", "blocks of %" PRIu64 ": read failed (%d)", blocker, rc);
    return rc == 0 && b.found == 1;
}

/* ---- REST ---- */

typedef struct block_unit {
    int64_t blocker, blocked, now;
    bool exists;              /* the blocked user exists */
    bool changed;             /* inserted / deleted */
    json_t *item;             /* add: the block */
} block_unit;

static json_t *block_json(sqlite3_stmt *st)
{
    char t[32];
    return json_pack("{s:I,s:s,s:s}", "user_id", (json_int_t)sqlite3_column_int64(st, 0), "display_name",
                     (const char *)sqlite3_column_text(st, 1), "created_at",
                     api_iso8601(sqlite3_column_int64(st, 2), t));
}

#define BLOCK_COLS "SELECT b.blocked, u.display_name, b.created_at FROM user_blocks b JOIN users u ON u.id = b.blocked "

static int block_add_unit(sqlite3 *db, void *arg)
{
    block_unit *u = arg;
    sqlite3_stmt *st = store_stmt(db, "INSERT OR IGNORE INTO user_blocks(blocker, blocked, created_at) "
                                      "SELECT ?1, id, ?3 FROM users WHERE id = ?2");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, u->blocker);
    sqlite3_bind_int64(st, 2, u->blocked);
    sqlite3_bind_int64(st, 3, u->now);
    if (api_sql_done(st) != 0)
        return -1;
    u->changed = sqlite3_changes(db) > 0;
    if (!(st = store_stmt(db, BLOCK_COLS "WHERE b.blocker = ?1 AND b.blocked = ?2")))
        return -1;
    sqlite3_bind_int64(st, 1, u->blocker);
    sqlite3_bind_int64(st, 2, u->blocked);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        u->item = block_json(st);
    u->exists = rc == SQLITE_ROW;
    store_stmt_release(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int blocks_add(api_req *rq, api_resp *rs)
{
    static const char *const fields[] = {"user_id", NULL};
    json_t *b = api_body(rq, &rs->err);
    block_unit u = {.blocker = (int64_t)rq->auth.user_id, .now = store_now_ms()};
    int rc = !b || apijson_only_fields(b, fields, &rs->err) ||
             apijson_int(b, "user_id", true, 1, INT64_MAX, &u.blocked, NULL, &rs->err) ? -1 : 0;
    json_decref(b);
    if (rc != 0)
        return -1;
    if (u.blocked == u.blocker)
        return api_fail(&rs->err, 422, "invalid_value", "you cannot block yourself");
    int src = store_write(rq->p->store, block_add_unit, &u);
    if (src != 0) {
        json_decref(u.item);
        return api_store_error(&rs->err, src);
    }
    if (!u.exists)
        return api_fail(&rs->err, 404, "not_found", "no such user");
    return api_ok(rs, u.changed ? 201 : 200, u.item);
}

static int block_remove_unit(sqlite3 *db, void *arg)
{
    block_unit *u = arg;
    sqlite3_stmt *st = store_stmt(db, "DELETE FROM user_blocks WHERE blocker = ?1 AND blocked = ?2");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, u->blocker);
    sqlite3_bind_int64(st, 2, u->blocked);
    if (api_sql_done(st) != 0)
        return -1;
    u->changed = sqlite3_changes(db) > 0;
    return 0;
}

int blocks_remove(api_req *rq, api_resp *rs)
{
    uint64_t id;
    if (!api_parse_u64(rq->params[0], &id))
        return api_fail(&rs->err, 404, "not_found", "this user is not blocked");
    block_unit u = {.blocker = (int64_t)rq->auth.user_id, .blocked = (int64_t)id};
    int src = store_write(rq->p->store, block_remove_unit, &u);
    if (src != 0)
        return api_store_error(&rs->err, src);
    if (!u.changed)
        return api_fail(&rs->err, 404, "not_found", "this user is not blocked");
    rs->status = 204;
    rs->raw = strdup("");
    return rs->raw ? 0 : api_fail(&rs->err, 500, "internal", "out of memory");
}

static int blocks_list_run(sqlite3 *db, void *arg)
{
    block_unit *u = arg;
    sqlite3_stmt *st = store_stmt(db, BLOCK_COLS "WHERE b.blocker = ?1 ORDER BY b.created_at DESC, b.blocked");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, u->blocker);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(u->item, block_json(st));
    store_stmt_release(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int blocks_list(api_req *rq, api_resp *rs)
{
    block_unit u = {.blocker = (int64_t)rq->auth.user_id, .item = json_array()};
    int src = store_read(rq->p->store, blocks_list_run, &u);
    if (src != 0) {
        json_decref(u.item);
        return api_store_error(&rs->err, src);
    }
    return api_ok(rs, 200, json_pack("{s:o}", "blocks", u.item));
}
