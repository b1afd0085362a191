/*
 * push: a device's push token (SPEC 3.2): an FCM registration token or a Web Push
 * subscription, stored on the device's login (family), so it disappears with the device's
 * session (logout, revocation, reuse detection, re-login) and notifications only ever go to
 * live devices. Sending notifications is the notifier's job; this file only keeps the rows.
 *
 *   PUT    /api/v1/me/push-token  {"kind":"fcm","token":"..."}
 *                                 {"kind":"webpush","subscription":{"endpoint":"https://...",
 *                                  "keys":{"p256dh":"...","auth":"..."}}}
 *   DELETE /api/v1/me/push-token
 */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/validate.h"

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
