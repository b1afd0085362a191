/*
 * hosts: discovery (GET /hosts) and public profiles (GET /hosts/{id}).
 *
 * Filters: online=true|false (live presence, memory), tag=, language=; sort=newest (default)
 * or rate (audio_rate ascending); keyset pagination with an opaque cursor (cursor.h) so pages
 * stay stable while hosts register; limit 1..100.
 * Presence is not in the database: the ids of online users are passed into the query as a
 * JSON array (json_each), so filtering and paging happen in one SQL statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/cursor.h"
#include "api/internal.h"
#include "api/validate.h"

#define HOSTS_LIMIT_DEFAULT 20
#define HOSTS_LIMIT_MAX 100

typedef struct hosts_query {
    const char *tag, *language;
    int online;                 /* -1 any, 0 offline only, 1 online only */
    bool by_rate;
    bool has_cursor;
    int64_t cur_rate, cur_id;
    int limit;
    char *online_ids;           /* JSON array text */
    api_presence *presence;
    json_t *items;
    char next[CURSOR_MAX];
} hosts_query;

static const char hosts_where[] =
    "FROM users u JOIN host_profiles hp ON hp.user_id = u.id WHERE u.role = 'host' "
    "AND (?1 IS NULL OR EXISTS (SELECT 1 FROM json_each(hp.tags) WHERE value = ?1)) "
    "AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(hp.languages) WHERE value = ?2)) "
    "AND (?3 = -1 OR (?3 = 1) = (u.id IN (SELECT value FROM json_each(?4)))) ";
static const char hosts_cols[] =
    "SELECT u.id, u.display_name, hp.avatar_url, hp.audio_rate, hp.video_rate, "
    "hp.message_rate, hp.languages, hp.tags, hp.do_not_disturb ";

static json_t *hosts_card(hosts_query *q, sqlite3_stmt *st)
{
    uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
    const char *avatar = (const char *)sqlite3_column_text(st, 2);
    json_t *langs = json_loads((const char *)sqlite3_column_text(st, 6), 0, NULL);
    json_t *tags = json_loads((const char *)sqlite3_column_text(st, 7), 0, NULL);
    return json_pack("{s:I, s:s, s:o, s:I, s:I, s:I, s:o, s:o, s:b, s:s}",
        "id", (json_int_t)id, "display_name", (const char *)sqlite3_column_text(st, 1),
        "avatar_url", avatar ? json_string(avatar) : json_null(),
        "audio_rate", (json_int_t)sqlite3_column_int64(st, 3),
        "video_rate", (json_int_t)sqlite3_column_int64(st, 4),
        "message_rate", (json_int_t)sqlite3_column_int64(st, 5),
        "languages", langs ? langs : json_array(), "tags", tags ? tags : json_array(),
        "do_not_disturb", sqlite3_column_int(st, 8),
        "availability", api_availability_name(api_presence_get(q->presence, id)));
}

static int hosts_list_run(sqlite3 *db, void *arg)
{
    hosts_query *q = arg;
    char sql[1200];
    if (q->by_rate)
        snprintf(sql, sizeof(sql), "%s%s AND (?5 IS NULL OR hp.audio_rate > ?5 OR "
                 "(hp.audio_rate = ?5 AND u.id > ?6)) ORDER BY hp.audio_rate, u.id LIMIT ?7",
                 hosts_cols, hosts_where);
    else
        snprintf(sql, sizeof(sql), "%s%s AND (?6 IS NULL OR u.id < ?6) ORDER BY u.id DESC "
                 "LIMIT ?7", hosts_cols, hosts_where);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (q->tag)
        sqlite3_bind_text(st, 1, q->tag, -1, SQLITE_STATIC);
    if (q->language)
        sqlite3_bind_text(st, 2, q->language, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, q->online);
    sqlite3_bind_text(st, 4, q->online_ids, -1, SQLITE_STATIC);
    if (q->has_cursor) {
        if (q->by_rate)
            sqlite3_bind_int64(st, 5, q->cur_rate);
        sqlite3_bind_int64(st, 6, q->cur_id);
    }
    sqlite3_bind_int(st, 7, q->limit + 1);   /* one more tells whether a next page exists */
    int n = 0;
    int64_t last_rate = 0, last_id = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == q->limit) {
            cursor_encode(q->by_rate, last_rate, last_id, q->next, sizeof(q->next));
            break;
        }
        json_array_append_new(q->items, hosts_card(q, st));
        last_id = sqlite3_column_int64(st, 0);
        last_rate = sqlite3_column_int64(st, 3);
        n++;
    }
    sqlite3_finalize(st);
    return 0;
}

static int hosts_parse_query(const http_request *req, hosts_query *q, api_error *err)
{
    const char *online = http_request_query(req, "online");
    const char *sort = http_request_query(req, "sort");
    const char *limit = http_request_query(req, "limit");
    const char *cursor = http_request_query(req, "cursor");
    q->tag = http_request_query(req, "tag");
    q->language = http_request_query(req, "language");
    q->online = -1;
    q->limit = HOSTS_LIMIT_DEFAULT;
    if (online) {
        if (strcmp(online, "true") == 0 || strcmp(online, "1") == 0)
            q->online = 1;
        else if (strcmp(online, "false") == 0 || strcmp(online, "0") == 0)
            q->online = 0;
        else
            return api_fail(err, 400, "invalid_query", "online must be true or false");
    }
    if (sort && strcmp(sort, "rate") == 0)
        q->by_rate = true;
    else if (sort && strcmp(sort, "newest") != 0)
        return api_fail(err, 400, "invalid_query", "sort must be \"newest\" or \"rate\"");
    if (limit) {
        uint64_t v;
        if (!api_parse_u64(limit, &v) || v > HOSTS_LIMIT_MAX)
            return api_fail(err, 400, "invalid_query", "limit must be 1..%d", HOSTS_LIMIT_MAX);
        q->limit = (int)v;
    }
    if (q->tag && validate_text(q->tag, 1, 32, 0) != 0)
        return api_fail(err, 400, "invalid_query", "tag is not valid");
    if (q->language && validate_language(q->language) != 0)
        return api_fail(err, 400, "invalid_query", "language is not valid");
    if (cursor) {
        if (cursor_decode(cursor, q->by_rate, &q->cur_rate, &q->cur_id) != 0)
            return api_fail(err, 400, "invalid_cursor", "cursor is not valid for this sort");
        q->has_cursor = true;
    }
    return 0;
}

int hosts_list(api_req *rq, api_resp *rs)
{
    hosts_query q = {.presence = rq->p->presence};
    if (hosts_parse_query(rq->http, &q, &rs->err) != 0)
        return -1;
    json_t *ids = api_presence_online_ids(rq->p->presence);
    q.online_ids = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    q.items = json_array();
    int src = store_read(rq->p->store, hosts_list_run, &q);
    free(q.online_ids);
    if (src != 0) {
        json_decref(q.items);
        return api_store_error(&rs->err, src);
    }
    return api_ok(rs, 200, json_pack("{s:o, s:o}", "hosts", q.items, "next_cursor",
                                     q.next[0] ? json_string(q.next) : json_null()));
}

typedef struct host_read {
    uint64_t id;
    json_t *user;
} host_read;

static int host_read_run(sqlite3 *db, void *arg)
{
    host_read *h = arg;
    h->user = users_load_json(db, h->id, false);
    return 0;
}

int hosts_get(api_req *rq, api_resp *rs)
{
    host_read h = {0};
    if (!api_parse_u64(rq->params[0], &h.id))
        return api_fail(&rs->err, 404, "not_found", "no such host");
    int src = store_read(rq->p->store, host_read_run, &h);
    if (src != 0)
        return api_store_error(&rs->err, src);
    const char *role = json_string_value(json_object_get(h.user, "role"));
    if (!h.user || !role || strcmp(role, "host") != 0) {
        json_decref(h.user);
        return api_fail(&rs->err, 404, "not_found", "no such host");
    }
    json_object_set_new(h.user, "availability",
                        json_string(api_availability_name(api_presence_get(rq->p->presence, h.id))));
    return api_ok(rs, 200, json_pack("{s:o}", "host", h.user));
}
