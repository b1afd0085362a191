/*
 * users: the user's own profile (GET /me, PATCH /me) and the JSON form of a user shared by
 * auth (login/register answers) and hosts (public profiles).
 *
 * Host profile fields (bio, avatar_url, languages, tags, the three rates, do_not_disturb)
 * live in host_profiles; a caller sending them gets 403. Rates are credits (int64 >= 0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/validate.h"

#define USERS_RATE_MAX 1000000000LL

static json_t *users_json_array_column(sqlite3_stmt *st, int col)
{
    const char *txt = (const char *)sqlite3_column_text(st, col);
    json_t *a = txt ? json_loads(txt, 0, NULL) : NULL;
    if (!json_is_array(a)) {
        json_decref(a);
        a = json_array();
    }
    return a;
}

json_t *users_load_json(sqlite3 *db, uint64_t user_id, bool private_view)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT u.id, u.email, u.role, u.display_name, u.created_at, "
                           "hp.bio, hp.avatar_url, hp.languages, hp.tags, hp.audio_rate, "
                           "hp.video_rate, hp.message_rate, hp.do_not_disturb FROM users u "
                           "LEFT JOIN host_profiles hp ON hp.user_id = u.id WHERE u.id = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)user_id);
    json_t *o = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        char t[32];
        const char *role = (const char *)sqlite3_column_text(st, 2);
        o = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                      "role", role, "display_name", (const char *)sqlite3_column_text(st, 3),
                      "created_at", api_iso8601(sqlite3_column_int64(st, 4), t));
        if (o && private_view)
            json_object_set_new(o, "email", json_string((const char *)sqlite3_column_text(st, 1)));
        if (o && sqlite3_column_type(st, 5) != SQLITE_NULL) {
            const char *avatar = (const char *)sqlite3_column_text(st, 6);
            json_object_set_new(o, "bio", json_string((const char *)sqlite3_column_text(st, 5)));
            json_object_set_new(o, "avatar_url", avatar ? json_string(avatar) : json_null());
            json_object_set_new(o, "languages", users_json_array_column(st, 7));
            json_object_set_new(o, "tags", users_json_array_column(st, 8));
            json_object_set_new(o, "audio_rate", json_integer(sqlite3_column_int64(st, 9)));
            json_object_set_new(o, "video_rate", json_integer(sqlite3_column_int64(st, 10)));
            json_object_set_new(o, "message_rate", json_integer(sqlite3_column_int64(st, 11)));
            json_object_set_new(o, "do_not_disturb", json_boolean(sqlite3_column_int(st, 12)));
        }
    }
    sqlite3_finalize(st);
    return o;
}

typedef struct me_read {
    uint64_t uid;
    json_t *user;
} me_read;

static int me_read_run(sqlite3 *db, void *arg)
{
    me_read *m = arg;
    m->user = users_load_json(db, m->uid, true);
    return 0;
}

int users_get_me(api_req *rq, api_resp *rs)
{
    me_read m = {.uid = rq->auth.user_id};
    int src = store_read(rq->p->store, me_read_run, &m);
    if (src != 0)
        return api_store_error(&rs->err, src);
    if (!m.user)
        return api_fail(&rs->err, 404, "not_found", "this user no longer exists");
    json_t *o = json_pack("{s:o}", "user", m.user);
    json_object_set_new(json_object_get(o, "user"), "availability",
        json_string(api_availability_name(api_presence_get(rq->p->presence, rq->auth.user_id))));
    return api_ok(rs, 200, o);
}

/* The validated patch; NULL / !has_* = leave unchanged. */
typedef struct me_patch {
    uint64_t uid;
    const char *display_name, *bio, *avatar_url;
    char *languages, *tags;       /* JSON text */
    int64_t rates[3];
    bool has_rate[3];
    bool dnd, has_dnd;
    bool host_fields;
    int64_t now;
    json_t *user;
} me_patch;

static const char *const rate_names[3] = {"audio_rate", "video_rate", "message_rate"};

static int tag_check(const char *s)
{
    return validate_text(s, 1, 32, 0);
}

static int me_patch_parse(json_t *b, me_patch *m, api_error *err)
{
    static const char *const fields[] = {"display_name", "bio", "avatar_url", "languages",
        "tags", "audio_rate", "video_rate", "message_rate", "do_not_disturb", NULL};
    json_t *langs, *tags;
    if (apijson_only_fields(b, fields, err) ||
        apijson_string(b, "display_name", false, &m->display_name, err) ||
        apijson_string(b, "bio", false, &m->bio, err) ||
        apijson_string(b, "avatar_url", false, &m->avatar_url, err) ||
        apijson_string_array(b, "languages", 10, validate_language, &langs, err) ||
        apijson_string_array(b, "tags", 20, tag_check, &tags, err) ||
        apijson_bool(b, "do_not_disturb", &m->dnd, &m->has_dnd, err))
        return -1;
    for (int i = 0; i < 3; i++)
        if (apijson_int(b, rate_names[i], false, 0, USERS_RATE_MAX, &m->rates[i],
                        &m->has_rate[i], err))
            return -1;
    if (m->display_name && validate_text(m->display_name, 1, 64, 0) != 0)
        return api_fail(err, 422, "invalid_value", "display_name must be 1..64 printable "
                        "characters");
    if (m->bio && validate_text(m->bio, 0, 1000, 1) != 0)
        return api_fail(err, 422, "invalid_value", "bio must be at most 1000 characters");
    if (m->avatar_url && validate_url(m->avatar_url) != 0)
        return api_fail(err, 422, "invalid_value", "avatar_url must be an http(s) URL");
    m->languages = langs ? json_dumps(langs, JSON_COMPACT) : NULL;
    m->tags = tags ? json_dumps(tags, JSON_COMPACT) : NULL;
    m->host_fields = m->bio || m->avatar_url || langs || tags || m->has_dnd ||
                     m->has_rate[0] || m->has_rate[1] || m->has_rate[2];
    return 0;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int me_patch_run(sqlite3 *db, void *arg)
{
    me_patch *m = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE users SET display_name = COALESCE(?, display_name), "
                           "updated_at = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    bind_opt_text(st, 1, m->display_name);
    sqlite3_bind_int64(st, 2, m->now);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)m->uid);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    if (m->host_fields) {
        if (sqlite3_prepare_v2(db, "UPDATE host_profiles SET bio = COALESCE(?, bio), "
                               "avatar_url = COALESCE(?, avatar_url), "
                               "languages = COALESCE(?, languages), tags = COALESCE(?, tags), "
                               "audio_rate = COALESCE(?, audio_rate), "
                               "video_rate = COALESCE(?, video_rate), "
                               "message_rate = COALESCE(?, message_rate), "
                               "do_not_disturb = COALESCE(?, do_not_disturb) WHERE user_id = ?",
                               -1, &st, NULL) != SQLITE_OK)
            return -1;
        bind_opt_text(st, 1, m->bio);
        bind_opt_text(st, 2, m->avatar_url);
        bind_opt_text(st, 3, m->languages);
        bind_opt_text(st, 4, m->tags);
        for (int i = 0; i < 3; i++) {
            if (m->has_rate[i])
                sqlite3_bind_int64(st, 5 + i, m->rates[i]);
            else
                sqlite3_bind_null(st, 5 + i);
        }
        if (m->has_dnd)
            sqlite3_bind_int(st, 8, m->dnd);
        else
            sqlite3_bind_null(st, 8);
        sqlite3_bind_int64(st, 9, (sqlite3_int64)m->uid);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return -1;
    }
    m->user = users_load_json(db, m->uid, true);
    return m->user ? 0 : -1;
}

int users_patch_me(api_req *rq, api_resp *rs)
{
    json_t *b = api_body(rq, &rs->err);
    if (!b)
        return -1;
    me_patch m = {.uid = rq->auth.user_id, .now = store_now_ms()};
    int rc = -1;
    if (me_patch_parse(b, &m, &rs->err) != 0)
        goto out;
    if (m.host_fields && strcmp(rq->auth.role, "host") != 0) {
        api_fail(&rs->err, 403, "host_only", "only hosts have a bio, rates, languages and tags");
        goto out;
    }
    int src = store_write(rq->p->store, me_patch_run, &m);
    if (src != 0) {
        json_decref(m.user);
        api_store_error(&rs->err, src);
        goto out;
    }
    rc = api_ok(rs, 200, json_pack("{s:o}", "user", m.user));
out:
    free(m.languages);
    free(m.tags);
    json_decref(b);
    return rc;
}
