/*
 * push: a device's push token (SPEC 3.2): an FCM registration token or a Web Push
 * subscription, stored on the device's login (family), so it disappears with the device's
 * session (logout, revocation, reuse detection, re-login) and notifications only ever go to
 * live devices. Sending notifications is the notifier's job; this file only keeps the rows.
 *
 *   PUT    /api/v1/me/push-token  {"kind":"fcm","token":"..."}
 *                                 {"kind":"webpush","subscription":{"endpoint":"https://...",
 *                                  "keys":{"p256dh":"...","auth":"..."}}}
 *   GET    /api/v1/me/push-token   this device's, or 404
 *   DELETE /api/v1/me/push-token
 *   GET    /api/v1/push/vapid-public-key  (public) the applicationServerKey for pushManager.subscribe
 *
 * For the push service (wired in main.c): platform_push_targets reads a user's tokens, and
 * platform_push_target_dead removes one the provider declared gone, through the storage
 * thread's asynchronous queue (the push thread never waits for a commit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/validate.h"
#include "util/log.h"

#define PUSH_TOKEN_MAX 4096

static int push_printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return -1;
    return 0;
}

/* Returns the canonical text to store (malloc'd) or NULL with err set. */
static char *push_parse(json_t *b, const char **kind, api_error *err)
{
    static const char *const fields[] = {"kind", "token", "subscription", NULL};
    const char *token;
    if (apijson_only_fields(b, fields, err) || apijson_string(b, "kind", true, kind, err))
        return NULL;
    if (strcmp(*kind, "fcm") == 0) {
        if (apijson_string(b, "token", true, &token, err))
            return NULL;
        if (push_printable(token, PUSH_TOKEN_MAX) != 0) {
            api_fail(err, 422, "invalid_value", "token must be 1..4096 printable characters");
            return NULL;
        }
        return strdup(token);
    }
    if (strcmp(*kind, "webpush") != 0) {
        api_fail(err, 422, "invalid_value", "kind must be \"fcm\" or \"webpush\"");
        return NULL;
    }
    json_t *sub = json_object_get(b, "subscription");
    if (!sub) {
        api_fail(err, 422, "missing_field", "field 'subscription' is required");
        return NULL;
    }
    if (!json_is_object(sub) || !json_is_object(json_object_get(sub, "keys"))) {
        api_fail(err, 400, "invalid_type", "subscription must be {endpoint, keys:{p256dh, auth}}");
        return NULL;
    }
    json_t *keys = json_object_get(sub, "keys");
    const char *endpoint, *p256dh, *auth;
    if (apijson_string(sub, "endpoint", true, &endpoint, err) ||
        apijson_string(keys, "p256dh", true, &p256dh, err) ||
        apijson_string(keys, "auth", true, &auth, err))
        return NULL;
    if (strncmp(endpoint, "https://", 8) != 0 || validate_url(endpoint) != 0 ||
        push_printable(p256dh, 256) != 0 || push_printable(auth, 256) != 0) {
        api_fail(err, 422, "invalid_value", "subscription endpoint must be https and keys "
                 "printable");
        return NULL;
    }
    json_t *canon = json_pack("{s:s, s:{s:s, s:s}}", "endpoint", endpoint, "keys", "p256dh",
                              p256dh, "auth", auth);
    char *txt = canon ? json_dumps(canon, JSON_COMPACT) : NULL;
    json_decref(canon);
    if (!txt)
        api_fail(err, 500, "internal", "out of memory");
    return txt;
}

typedef struct push_unit {
    uint64_t uid;
    const char *family, *kind, *value;   /* value NULL: delete */
    int64_t now;
} push_unit;

static int push_run(sqlite3 *db, void *arg)
{
    push_unit *u = arg;
    sqlite3_stmt *st;
    const char *sql = u->value
        ? "INSERT INTO push_tokens(family, user_id, kind, value, updated_at) "
          "SELECT family, user_id, ?3, ?4, ?5 FROM devices WHERE family = ?1 AND user_id = ?2 "
          "AND revoked_at IS NULL ON CONFLICT(family) DO UPDATE SET kind = excluded.kind, "
          "value = excluded.value, updated_at = excluded.updated_at"
        : "DELETE FROM push_tokens WHERE family = ?1 AND user_id = ?2";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, u->family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)u->uid);
    if (u->value) {
        sqlite3_bind_text(st, 3, u->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, u->value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, u->now);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    return (u->value && sqlite3_changes(db) == 0) ? 1 : 0;   /* 1: the device is gone */
}

int push_put(api_req *rq, api_resp *rs)
{
    json_t *b = api_body(rq, &rs->err);
    if (!b)
        return -1;
    const char *kind = NULL;
    char *value = push_parse(b, &kind, &rs->err);
    int rc = -1;
    if (value) {
        push_unit u = {.uid = rq->auth.user_id, .family = rq->auth.family, .kind = kind,
                       .value = value, .now = store_now_ms()};
        int src = store_write(rq->p->store, push_run, &u);
        api_tokenless_changed(rq->p->tokenless);   /* after the commit (tokenless.h), whatever it said */
        if (src == 1)
            api_fail(&rs->err, 401, "token_revoked", "this device has been signed out");
        else if (src != 0)
            api_store_error(&rs->err, src);
        else
            rc = api_ok(rs, 200, json_pack("{s:s, s:s}", "kind", kind, "device_id",
                                           rq->auth.device_id));
    }
    free(value);
    json_decref(b);
    return rc;
}

int push_delete(api_req *rq, api_resp *rs)
{
    push_unit u = {.uid = rq->auth.user_id, .family = rq->auth.family, .now = store_now_ms()};
    int src = store_write(rq->p->store, push_run, &u);
    if (src != 0)
        return api_store_error(&rs->err, src);
    return api_ok(rs, 200, json_pack("{s:b}", "deleted", 1));
}

/* ---- GET /me/push-token ---- */

typedef struct push_row {
    const char *family;
    uint64_t uid;
    char kind[16];
    char *value;
} push_row;

static int push_row_read(sqlite3 *db, void *arg)
{
    push_row *r = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT kind, value FROM push_tokens WHERE family = ?1 AND user_id = ?2", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, r->family, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)r->uid);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        api_sql_text(st, 0, r->kind, sizeof r->kind);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        r->value = v ? strdup(v) : NULL;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? (r->value ? 0 : -1) : rc == SQLITE_DONE ? 1 : -1;
}

int push_get(api_req *rq, api_resp *rs)
{
    push_row r = {.family = rq->auth.family, .uid = rq->auth.user_id};
    int rc = store_read(rq->p->store, push_row_read, &r);
    if (rc == 1)
        return api_fail(&rs->err, 404, "not_found", "this device has no push token");
    if (rc != 0) {
        free(r.value);
        return api_store_error(&rs->err, rc);
    }
    json_t *o = json_pack("{s:s, s:s}", "kind", r.kind, "device_id", rq->auth.device_id);
    if (strcmp(r.kind, "fcm") == 0)
        json_object_set_new(o, "token", json_string(r.value));
    else
        json_object_set_new(o, "subscription", json_loads(r.value, 0, NULL));
    free(r.value);
    return api_ok(rs, 200, o);
}

/* ---- GET /push/vapid-public-key ---- */

int push_vapid_public_key(api_req *rq, api_resp *rs)
{
    if (!rq->p->vapid_public[0])
        return api_fail(&rs->err, 503, "push_unavailable", "Web Push is not available on this server");
    return api_ok(rs, 200, json_pack("{s:s}", "public_key", rq->p->vapid_public));
}

/* ---- the push service's side ---- */

typedef struct push_targets_read {
    uint64_t uid;
    const char *const *exclude;
    size_t n_exclude;
    platform_push_target *out;
    size_t n, cap;
    size_t all;   /* the user's tokens, excluded ones too */
} push_targets_read;

static bool push_excluded(const push_targets_read *r, const char *family)
{
    for (size_t i = 0; i < r->n_exclude; i++)
        if (r->exclude[i] && strcmp(r->exclude[i], family) == 0)
            return true;
    return false;
}

static int push_targets_append(push_targets_read *r, const char *kind, const char *family, const char *value)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        platform_push_target *t = realloc(r->out, cap * sizeof *t);
        if (!t)
            return -1;
        r->out = t;
        r->cap = cap;
    }
    platform_push_target *t = &r->out[r->n];
    memset(t, 0, sizeof *t);
    snprintf(t->kind, sizeof t->kind, "%s", kind);
    snprintf(t->family, sizeof t->family, "%s", family);
    if (!(t->value = strdup(value)))
        return -1;
    r->n++;
    return 0;
}

static int push_targets_run(sqlite3 *db, void *arg)
{
    push_targets_read *r = arg;
    /* Read for every chat message: prepared once per connection (store_stmt), not per read. */
    sqlite3_stmt *st = store_stmt(db, "SELECT t.kind, t.family, t.value FROM push_tokens t JOIN devices d "
                                      "ON d.family = t.family WHERE t.user_id = ?1 AND d.revoked_at IS NULL "
                                      "ORDER BY t.family");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->uid);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 0);
        const char *family = (const char *)sqlite3_column_text(st, 1);
        const char *value = (const char *)sqlite3_column_text(st, 2);
        r->all++;
        if (!kind || !family || !value || push_excluded(r, family))
            continue;
        if (push_targets_append(r, kind, family, value) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    store_stmt_release(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

platform_push_target *platform_push_targets(platform_t *p, uint64_t user_id, const char *const *exclude,
                                            size_t n_exclude, size_t *n)
{
    *n = 0;
    if (!p || !user_id)
        return NULL;
    push_targets_read r = {.uid = user_id, .exclude = exclude, .n_exclude = n_exclude};
    uint64_t epoch = api_tokenless_epoch(p->tokenless);   /* before the read: tokenless.h */
    if (store_read(p->store, push_targets_run, &r) != 0) {
        platform_push_targets_free(r.out, r.n);
        return NULL;
    }
    if (r.all == 0)
        api_tokenless_note(p->tokenless, user_id, epoch);
    *n = r.n;
    return r.out;
}

bool platform_push_may_target(platform_t *p, uint64_t user_id)
{
    return p && user_id && !api_tokenless_known(p->tokenless, user_id);
}

void platform_push_targets_free(platform_push_target *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++)
        free(t[i].value);
    free(t);
}

typedef struct push_dead {
    char family[API_FAMILY_LEN + 8];
    char kind[16];
    char *value;
} push_dead;

/* Only the row that still holds the dead value: the device may have registered a new token
 * while the push was in flight. */
static int push_dead_run(sqlite3 *db, void *arg)
{
    push_dead *d = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM push_tokens WHERE family = ?1 AND kind = ?2 AND value = ?3", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, d->family, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, d->value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void push_dead_done(int result, void *arg)
{
    push_dead *d = arg;
    if (result != 0)
        LOG_WARN("push", "could not remove a dead push token (%d)", result);
    free(d->value);
    free(d);
}

void platform_push_target_dead(platform_t *p, const char *family, const char *kind, const char *value)
{
    push_dead *d = p && family && kind && value ? calloc(1, sizeof *d) : NULL;
    if (!d)
        return;
    snprintf(d->family, sizeof d->family, "%s", family);
    snprintf(d->kind, sizeof d->kind, "%s", kind);
    if (!(d->value = strdup(value)) || store_write_async(p->store, push_dead_run, d, push_dead_done, d) != 0) {
        free(d->value);
        free(d);
    }
}
