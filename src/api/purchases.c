/*
 * purchases: credit packages, POST /purchases (idempotent by Idempotency-Key) and the payment
 * provider's signed webhook.
 *
 * Exactly-once: a purchase request's whole effect — the purchase row, the ledger credit (for
 * the "dev" provider) and the stored response under its idempotency key — is one store_write
 * unit. Units run one after another on the storage thread, so of N concurrent identical
 * requests the first creates everything and the others find the key and replay the stored
 * response; the (user_id, key) primary key is the last line of defence. The ledger credit's
 * own key "purchase:<id>" makes a webhook delivered any number of times credit once.
 *
 * Webhook authentication: HMAC-SHA256(webhook_secret, "<timestamp>.<raw body>") in hex in
 * X-Parley-Signature, the Unix time in X-Parley-Timestamp; outside +-window seconds the
 * delivery is refused as stale (replay protection), and event ids are remembered.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/internal.h"
#include "ledger/ledger.h"
#include "util/log.h"

#define IDEMPOTENCY_KEEP_MS (48LL * 3600 * 1000)   /* promised: at least 24 h */

/* Used when billing.credit_packages is empty (the config's default is the same list). */
static const char purchases_default_packages[] =
    "[{\"id\":\"starter\",\"credits\":100,\"price_cents\":99,\"currency\":\"USD\"},"
    "{\"id\":\"standard\",\"credits\":550,\"price_cents\":499,\"currency\":\"USD\"},"
    "{\"id\":\"plus\",\"credits\":1200,\"price_cents\":999,\"currency\":\"USD\"}]";

/* Why package i of a is unusable, in why; false when it is fine. */
static bool purchases_package_bad(json_t *a, size_t i, char *why, size_t whycap)
{
    json_t *pk = json_array_get(a, i);
    json_t *id = json_object_get(pk, "id"), *cr = json_object_get(pk, "credits");
    json_t *pc = json_object_get(pk, "price_cents"), *cur = json_object_get(pk, "currency");
    if (!json_is_string(id) || !json_string_length(id) || json_string_length(id) > 64 ||
        !json_is_integer(cr) || json_integer_value(cr) <= 0 ||
        json_integer_value(cr) > 1000000000000LL || !json_is_integer(pc) ||
        json_integer_value(pc) < 0 || !json_is_string(cur) || json_string_length(cur) != 3) {
        snprintf(why, whycap, "item %zu needs id (string), credits (> 0), price_cents (>= 0), "
                 "currency (3 letters)", i);
        return true;
    }
    for (size_t j = 0; j < i; j++)
        if (json_equal(json_object_get(json_array_get(a, j), "id"), id)) {
            snprintf(why, whycap, "duplicate id %.64s", json_string_value(id));
            return true;
        }
    return false;
}

json_t *purchases_parse_packages(const char *json_text, char *why, size_t whycap)
{
    const char *txt = (json_text && *json_text) ? json_text : purchases_default_packages;
    json_error_t je;
    json_t *a = json_loads(txt, JSON_REJECT_DUPLICATES, &je);
    if (!a) {
        snprintf(why, whycap, "not JSON (%s at character %d): a non-empty JSON array of "
                 "{id, credits, price_cents, currency} is expected", je.text, je.position);
        return NULL;
    }
    if (!json_is_array(a) || json_array_size(a) == 0) {
        snprintf(why, whycap, "must be a non-empty JSON array");
        json_decref(a);
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(a); i++)
        if (purchases_package_bad(a, i, why, whycap)) {
            json_decref(a);
            return NULL;
        }
    return a;
}

bool purchases_packages_check(const char *json_text, char *why, size_t whycap)
{
    json_t *a = purchases_parse_packages(json_text, why, whycap);
    json_decref(a);
    return a != NULL;
}

int purchases_load_packages(platform_t *p, const char *json_text)
{
    char why[256];
    json_t *a = purchases_parse_packages(json_text, why, sizeof why);
    if (!a) {
        LOG_ERROR("api", "billing.credit_packages: %s", why);
        return -1;
    }
    p->packages = a;
    return 0;
}

int purchases_packages(api_req *rq, api_resp *rs)
{
    return api_ok(rs, 200, json_pack("{s:O}", "packages", rq->p->packages));
}

static json_t *purchases_find_package(platform_t *p, const char *id)
{
    size_t i;
    json_t *pk;
    json_array_foreach(p->packages, i, pk)
        if (strcmp(json_string_value(json_object_get(pk, "id")), id) == 0)
            return pk;
    return NULL;
}

/* ---- the purchase unit ---- */

typedef struct purchase_unit {
    uint64_t uid;
    const char *key;
    uint8_t req_hash[SHA256_DIGEST_LENGTH];
    json_t *pkg;
    const char *provider;
    bool complete_now;
    int64_t now;
    int outcome;              /* 0 created, 1 replay, 2 key conflict */
    int status;
    char *response;           /* malloc'd JSON */
} purchase_unit;

static json_t *purchase_row_json(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT id, package_id, credits, price_cents, currency, provider, "
                           "status, created_at, completed_at FROM purchases WHERE id = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    json_t *o = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        char t1[32], t2[32];
        o = json_pack("{s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:o}",
            "id", (json_int_t)sqlite3_column_int64(st, 0),
            "package_id", (const char *)sqlite3_column_text(st, 1),
            "credits", (json_int_t)sqlite3_column_int64(st, 2),
            "price_cents", (json_int_t)sqlite3_column_int64(st, 3),
            "currency", (const char *)sqlite3_column_text(st, 4),
            "provider", (const char *)sqlite3_column_text(st, 5),
            "status", (const char *)sqlite3_column_text(st, 6),
            "created_at", api_iso8601(sqlite3_column_int64(st, 7), t1),
            "completed_at", sqlite3_column_type(st, 8) == SQLITE_NULL ? json_null()
                : json_string(api_iso8601(sqlite3_column_int64(st, 8), t2)));
    }
    sqlite3_finalize(st);
    return o;
}

/* external -> wallet for a pending purchase, then mark it completed. */
static int purchase_complete_db(sqlite3 *db, int64_t id, uint64_t uid, int64_t credits,
                                int64_t now)
{
    char key[48];
    snprintf(key, sizeof(key), "purchase:%lld", (long long)id);
    ledger_result res;
    int lrc = ledger_credit_purchase_db(db, uid, credits, key, key, &res);
    if (lrc != 0) {
        LOG_WARN("api", "ledger credit for %s failed: %s", key, ledger_strerror(lrc));
        return -1;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE purchases SET status = 'completed', completed_at = ? "
                           "WHERE id = ? AND status = 'pending'", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int purchase_lookup_key(sqlite3 *db, purchase_unit *u)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT request_hash, status, response FROM idempotency_keys "
                           "WHERE user_id = ? AND key = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)u->uid);
    sqlite3_bind_text(st, 2, u->key, -1, SQLITE_STATIC);
    int found = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        const void *h = sqlite3_column_blob(st, 0);
        if (sqlite3_column_bytes(st, 0) != SHA256_DIGEST_LENGTH ||
            memcmp(h, u->req_hash, SHA256_DIGEST_LENGTH) != 0) {
            u->outcome = 2;
        } else {
            u->outcome = 1;
            u->status = sqlite3_column_int(st, 1);
            u->response = strdup((const char *)sqlite3_column_text(st, 2));
        }
    }
    sqlite3_finalize(st);
    return found;
}

static int purchase_insert(sqlite3 *db, purchase_unit *u, int64_t *id)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO purchases(user_id, package_id, credits, price_cents, "
                           "currency, provider, status, created_at) VALUES(?,?,?,?,?,?,'pending',?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)u->uid);
    sqlite3_bind_text(st, 2, json_string_value(json_object_get(u->pkg, "id")), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, json_integer_value(json_object_get(u->pkg, "credits")));
    sqlite3_bind_int64(st, 4, json_integer_value(json_object_get(u->pkg, "price_cents")));
    sqlite3_bind_text(st, 5, json_string_value(json_object_get(u->pkg, "currency")), -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 6, u->provider, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, u->now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    *id = sqlite3_last_insert_rowid(db);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int purchase_store_key(sqlite3 *db, purchase_unit *u)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO idempotency_keys(user_id, key, request_hash, status, "
                           "response, created_at) VALUES(?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)u->uid);
    sqlite3_bind_text(st, 2, u->key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, u->req_hash, SHA256_DIGEST_LENGTH, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, u->status);
    sqlite3_bind_text(st, 5, u->response, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, u->now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int purchase_run(sqlite3 *db, void *arg)
{
    purchase_unit *u = arg;
    int found = purchase_lookup_key(db, u);
    if (found < 0)
        return -1;
    if (found)
        return u->outcome == 2 ? 1 : 0;
    int64_t id;
    if (purchase_insert(db, u, &id) != 0)
        return -1;
    if (u->complete_now &&
        purchase_complete_db(db, id, u->uid,
                             json_integer_value(json_object_get(u->pkg, "credits")), u->now) != 0)
        return -1;
    ledger_balance_t bal;
    if (ledger_balance_db(db, u->uid, &bal) != 0)
        return -1;
    json_t *resp = json_pack("{s:o, s:{s:I, s:I}}", "purchase", purchase_row_json(db, id),
                             "wallet", "available", (json_int_t)bal.available, "held",
                             (json_int_t)bal.held);
    u->response = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
    json_decref(resp);
    if (!u->response)
        return -1;
    u->status = 201;
    u->outcome = 0;
    /* Old keys go in small batches so no unit ever does a big delete. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM "
                           "idempotency_keys WHERE created_at < ? LIMIT 16)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, u->now - IDEMPOTENCY_KEEP_MS);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    return purchase_store_key(db, u);
}

static int purchases_valid_key(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n < 1 || n > 255)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7e)
            return -1;
    return 0;
}

/* What makes two requests "the same": the endpoint and the canonical (sorted) body. */
static void purchases_request_hash(json_t *body, uint8_t out[SHA256_DIGEST_LENGTH])
{
    char *canon = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, "POST /purchases\n", 16);
    if (canon)
        EVP_DigestUpdate(ctx, canon, strlen(canon));
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    free(canon);
}

int purchases_create(api_req *rq, api_resp *rs)
{
    api_error *err = &rs->err;
    if (rq->p->provider == API_PROVIDER_NONE)
        return api_fail(err, 503, "payment_provider_not_configured",
                        "purchases are off: no payment provider is configured "
                        "(billing.payment_provider)");
    const char *key = http_request_header(rq->http, "Idempotency-Key");
    if (!key)
        return api_fail(err, 400, "idempotency_key_required",
                        "POST /purchases needs an Idempotency-Key header");
    if (purchases_valid_key(key) != 0)
        return api_fail(err, 400, "invalid_idempotency_key",
                        "Idempotency-Key must be 1..255 printable ASCII characters");
    json_t *b = api_body(rq, err);
    if (!b)
        return -1;
    static const char *const fields[] = {"package_id", NULL};
    const char *pkg_id;
    int rc = -1;
    if (apijson_only_fields(b, fields, err) ||
        apijson_string(b, "package_id", true, &pkg_id, err))
        goto out;
    json_t *pkg = purchases_find_package(rq->p, pkg_id);
    if (!pkg) {
        api_fail(err, 422, "unknown_package", "no credit package with this id");
        goto out;
    }
    purchase_unit u = {.uid = rq->auth.user_id, .key = key, .pkg = pkg,
                       .provider = platform_payment_provider(rq->p),
                       .complete_now = rq->p->provider == API_PROVIDER_DEV,
                       .now = store_now_ms()};
    purchases_request_hash(b, u.req_hash);
    int src = store_write(rq->p->store, purchase_run, &u);
    if (src == 1 && u.outcome == 2) {
        api_fail(err, 409, "idempotency_conflict",
                 "this Idempotency-Key was used with a different request");
    } else if (src != 0) {
        api_store_error(err, src);
    } else {
        rs->status = u.status;
        rs->raw = u.response;
        rs->replayed = u.outcome == 1;
        u.response = NULL;
        rc = 0;
    }
    free(u.response);
out:
    json_decref(b);
    return rc;
}

/* ---- webhook ---- */

static int purchases_hex_decode(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != n * 2)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + (size_t)j];
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int webhook_check_signature(platform_t *p, const http_request *req, api_error *err)
{
    const char *ts = http_request_header(req, "X-Parley-Timestamp");
    const char *sig = http_request_header(req, "X-Parley-Signature");
    if (!ts || !sig)
        return api_fail(err, 401, "invalid_signature", "X-Parley-Timestamp and "
                        "X-Parley-Signature are required");
    if (strncmp(sig, "sha256=", 7) == 0)
        sig += 7;
    uint64_t t;
    if (!api_parse_u64(ts, &t))
        return api_fail(err, 400, "invalid_timestamp", "X-Parley-Timestamp must be Unix seconds");
    uint8_t want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
    if (purchases_hex_decode(sig, got, sizeof(got)) != 0)
        return api_fail(err, 401, "invalid_signature", "signature is not valid");
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outl = 0;
    int ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)p->webhook_secret,
                                 strlen(p->webhook_secret), params) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)".", 1) == 1 &&
             EVP_MAC_update(ctx, (const unsigned char *)req->body, req->body_len) == 1 &&
             EVP_MAC_final(ctx, want, &outl, sizeof(want)) == 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok || outl != sizeof(want))
        return api_fail(err, 500, "internal", "HMAC failed");
    if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
        return api_fail(err, 401, "invalid_signature", "signature is not valid");
    int64_t now = (int64_t)time(NULL), skew = now - (int64_t)t;
    if (skew > p->webhook_window_s || skew < -p->webhook_window_s)
        return api_fail(err, 400, "stale_webhook", "timestamp is outside the %d s window",
                        p->webhook_window_s);
    return 0;
}

enum { WH_APPLIED = 0, WH_DUPLICATE, WH_UNKNOWN_PURCHASE, WH_IGNORED };

typedef struct webhook_unit {
    const char *event_id, *type;
    int64_t purchase_id;
    int64_t now;
    int outcome;
    json_t *purchase;
} webhook_unit;

static int webhook_run(sqlite3 *db, void *arg)
{
    webhook_unit *u = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO webhook_events(event_id, purchase_id, type, "
                           "received_at) VALUES(?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, u->event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, u->purchase_id);
    sqlite3_bind_text(st, 3, u->type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, u->now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    bool dup = sqlite3_changes(db) == 0;
    if (sqlite3_prepare_v2(db, "SELECT user_id, credits, status FROM purchases WHERE id = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, u->purchase_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        u->outcome = WH_UNKNOWN_PURCHASE;
        return 1;
    }
    uint64_t uid = (uint64_t)sqlite3_column_int64(st, 0);
    int64_t credits = sqlite3_column_int64(st, 1);
    bool pending = strcmp((const char *)sqlite3_column_text(st, 2), "pending") == 0;
    sqlite3_finalize(st);
    u->outcome = dup ? WH_DUPLICATE : WH_IGNORED;
    if (!dup && pending && strcmp(u->type, "payment.succeeded") == 0) {
        if (purchase_complete_db(db, u->purchase_id, uid, credits, u->now) != 0)
            return -1;
        u->outcome = WH_APPLIED;
    } else if (!dup && pending && strcmp(u->type, "payment.failed") == 0) {
        if (sqlite3_prepare_v2(db, "UPDATE purchases SET status = 'failed', completed_at = ? "
                               "WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
            return -1;
        sqlite3_bind_int64(st, 1, u->now);
        sqlite3_bind_int64(st, 2, u->purchase_id);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return -1;
        u->outcome = WH_APPLIED;
    }
    u->purchase = purchase_row_json(db, u->purchase_id);
    return 0;
}

int purchases_webhook(api_req *rq, api_resp *rs)
{
    api_error *err = &rs->err;
    platform_t *p = rq->p;
    if (!p->webhook_secret[0])
        return api_fail(err, 404, "not_found", "webhooks are not configured "
                        "(billing.webhook_secret)");
    if (webhook_check_signature(p, rq->http, err) != 0)
        return -1;
    json_t *b = api_body(rq, err);
    if (!b)
        return -1;
    int rc = -1;
    const char *type;
    webhook_unit u = {.now = store_now_ms()};
    if (apijson_string(b, "id", true, &u.event_id, err) ||
        apijson_string(b, "type", true, &type, err) ||
        apijson_int(b, "purchase_id", true, 1, INT64_MAX, &u.purchase_id, NULL, err))
        goto out;
    u.type = type;
    if (strlen(u.event_id) == 0 || strlen(u.event_id) > 255) {
        api_fail(err, 422, "invalid_value", "id must be 1..255 characters");
        goto out;
    }
    if (strcmp(type, "payment.succeeded") != 0 && strcmp(type, "payment.failed") != 0) {
        api_fail(err, 422, "invalid_value", "type must be payment.succeeded or payment.failed");
        goto out;
    }
    int src = store_write(p->store, webhook_run, &u);
    if (src == 1 && u.outcome == WH_UNKNOWN_PURCHASE) {
        api_fail(err, 404, "not_found", "no such purchase");
    } else if (src != 0) {
        json_decref(u.purchase);
        api_store_error(err, src);
    } else {
        static const char *const names[] = {"applied", "duplicate", "unknown", "ignored"};
        rc = api_ok(rs, 200, json_pack("{s:b, s:s, s:o}", "received", 1, "outcome",
                                       names[u.outcome], "purchase",
                                       u.purchase ? u.purchase : json_null()));
    }
out:
    json_decref(b);
    return rc;
}
