/*
 * platform: creation, routing and authentication of the /api/v1 and /admin requests, and the
 * small helpers every handler uses. The handlers themselves live one concern per file
 * (auth.c, users.c, hosts.c, purchases.c, wallet.c, calls.c, chat_rest.c, blocks.c, admin.c).
 * See platform.h /
 * internal.h.
 */
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "util/b64.h"
#include "api/internal.h"
#include "api/jwt.h"
#include "api/password.h"
#include "ledger/ledger.h"
#include "util/log.h"

#define API_PREFIX "/api/v1"
#define ADMIN_PREFIX "/admin"
#define API_JWT_LEEWAY_S 60

enum { ROUTE_PUBLIC = 0, ROUTE_USER, ROUTE_HOST, ROUTE_CALLER };

typedef struct api_route {
    const char *method;
    const char *pattern;    /* "{}" matches one non-empty path segment */
    int access;
    api_handler fn;
} api_route;

static const api_route api_routes[] = {
    {"POST", "/auth/register", ROUTE_PUBLIC, auth_register},
    {"POST", "/auth/login", ROUTE_PUBLIC, auth_login},
    {"POST", "/auth/refresh", ROUTE_PUBLIC, auth_refresh},
    {"POST", "/auth/logout", ROUTE_USER, auth_logout},
    {"GET", "/auth/devices", ROUTE_USER, auth_devices_list},
    {"DELETE", "/auth/devices/{}", ROUTE_USER, auth_devices_revoke},
    {"GET", "/me", ROUTE_USER, users_get_me},
    {"PATCH", "/me", ROUTE_USER, users_patch_me},
    {"PUT", "/me/push-token", ROUTE_USER, push_put},
    {"DELETE", "/me/push-token", ROUTE_USER, push_delete},
    {"GET", "/me/push-token", ROUTE_USER, push_get},
    {"GET", "/push/vapid-public-key", ROUTE_PUBLIC, push_vapid_public_key},
    {"GET", "/hosts", ROUTE_PUBLIC, hosts_list},
    {"GET", "/hosts/{}", ROUTE_PUBLIC, hosts_get},
    {"GET", "/credit-packages", ROUTE_PUBLIC, purchases_packages},
    {"POST", "/purchases", ROUTE_USER, purchases_create},
    {"POST", "/payments/webhook", ROUTE_PUBLIC, purchases_webhook},
    {"GET", "/wallet", ROUTE_USER, wallet_get},
    {"GET", "/wallet/transactions", ROUTE_USER, wallet_transactions},
    {"GET", "/earnings", ROUTE_HOST, wallet_earnings},
    {"GET", "/calls", ROUTE_USER, calls_list},
    {"GET", "/calls/{}", ROUTE_USER, calls_get},
    {"GET", "/ice-servers", ROUTE_USER, turn_ice_servers},
    {"POST", "/conversations", ROUTE_USER, chat_conversation_open},
    {"GET", "/conversations", ROUTE_USER, chat_conversations_list},
    {"GET", "/conversations/{}/messages", ROUTE_USER, chat_messages_list},
    {"POST", "/conversations/{}/messages", ROUTE_USER, chat_messages_send},
    {"POST", "/conversations/{}/read", ROUTE_USER, chat_read},
    {"POST", "/blocks", ROUTE_USER, blocks_add},
    {"GET", "/blocks", ROUTE_USER, blocks_list},
    {"DELETE", "/blocks/{}", ROUTE_USER, blocks_remove},
    {"GET", "/openapi.yaml", ROUTE_PUBLIC, openapi_get},
};

/* The admin port is bound to loopback by default and carries no user auth (SPEC 7). */
static const api_route admin_routes[] = {
    {"GET", "/ledger/check", ROUTE_PUBLIC, admin_ledger_check},
    {"GET", "/revenue", ROUTE_PUBLIC, admin_revenue},
};

/* ---- helpers shared by the handlers ---- */

int api_ok(api_resp *rs, int status, json_t *body)
{
    rs->status = status;
    json_decref(rs->body);
    rs->body = body;
    return 0;
}

int api_store_error(api_error *err, int rc)
{
    if (rc == STORE_ECLOSED)
        return api_fail(err, 503, "unavailable", "the server is shutting down");
    return api_fail(err, 500, "storage_error", "the request could not be stored; retry");
}

json_t *api_body(api_req *rq, api_error *err)
{
    return apijson_parse_object(rq->http->body, rq->http->body_len, err);
}

void api_random_b64(char *out, size_t cap, size_t nbytes)
{
    uint8_t buf[64];
    if (nbytes > sizeof(buf))
        nbytes = sizeof(buf);
    if (RAND_bytes(buf, (int)nbytes) != 1) {
        /* The CSPRNG failing is not recoverable for token issuance. */
        LOG_ERROR("api", "RAND_bytes failed");
        abort();
    }
    b64url_encode(buf, nbytes, out, cap);
}

const char *api_iso8601(int64_t ms, char buf[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(((ms % 1000) + 1000) % 1000));
    return buf;
}

bool api_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || (*s == '0' && s[1]) || strlen(s) > 19)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return v > 0 && v <= INT64_MAX;
}

int64_t api_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int api_rate_check(platform_t *p, const char *what, const char *key, api_error *err)
{
    char k[400];
    snprintf(k, sizeof(k), "%.64s:%.300s", what, key ? key : "");
    int wait = ratelimit_take(p->limiter, k, api_monotonic_ms());
    if (wait <= 0)
        return 0;
    api_fail(err, 429, "rate_limited", "too many attempts; retry in %d s", wait);
    err->retry_after_s = wait;
    return -1;
}

int api_sql_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t) {
        out[0] = '\0';
        return -1;
    }
    snprintf(out, cap, "%s", (const char *)t);
    return 0;
}

int api_sql_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    store_stmt_release(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- secret ---- */

typedef struct secret_unit {
    uint8_t fresh[32];
    uint8_t out[API_SECRET_MAX];
    size_t len;
} secret_unit;

/* Generated once, then persisted: tokens survive restarts without any configuration. */
static int secret_load_unit(sqlite3 *db, void *arg)
{
    secret_unit *u = arg;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO api_secrets(name, value) VALUES('jwt', ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_blob(st, 1, u->fresh, sizeof(u->fresh), SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "SELECT value FROM api_secrets WHERE name = 'jwt'", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        int n = sqlite3_column_bytes(st, 0);
        if (n > 0 && (size_t)n <= sizeof(u->out)) {
            memcpy(u->out, sqlite3_column_blob(st, 0), (size_t)n);
            u->len = (size_t)n;
            rc = 0;
        }
    }
out:
    sqlite3_finalize(st);
    return rc;
}

bool platform_jwt_secret_check(const char *secret, char *why, size_t whycap)
{
    if (!secret || strlen(secret) <= API_SECRET_MAX)
        return true;
    snprintf(why, whycap, "longer than %d bytes", API_SECRET_MAX);
    return false;
}

static int platform_load_secret(platform_t *p, const char *configured)
{
    if (configured && *configured) {
        size_t n = strlen(configured);
        char why[64];
        if (!platform_jwt_secret_check(configured, why, sizeof why)) {
            LOG_ERROR("api", "auth.jwt_secret: %s", why);
            return -1;
        }
        if (n < 32)
            LOG_WARN("api", "auth.jwt_secret is shorter than 32 bytes; use a longer one");
        memcpy(p->secret, configured, n);
        p->secret_len = n;
        return 0;
    }
    secret_unit u = {0};
    if (RAND_bytes(u.fresh, sizeof(u.fresh)) != 1)
        return -1;
    int rc = store_write(p->store, secret_load_unit, &u);
    if (rc != 0) {
        LOG_ERROR("api", "cannot load or create the JWT secret (%d)", rc);
        return -1;
    }
    memcpy(p->secret, u.out, u.len);
    p->secret_len = u.len;
    return 0;
}

/* ---- lifecycle ---- */

/* mkdir -p: the data dir may be several levels deep (e.g. a fresh Docker volume path). */
static int platform_mkdir(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return -1;
    for (char *q = path + 1; ; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char saved = *q;
        *q = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            LOG_ERROR("api", "cannot create data dir %s: %s", path, strerror(errno));
            return -1;
        }
        *q = saved;
        if (!saved)
            return 0;
    }
}

platform_t *platform_create(const platform_config *cfg)
{
    const char *dir = (cfg->data_dir && *cfg->data_dir) ? cfg->data_dir : "./data";
    if (platform_mkdir(dir) != 0)
        return NULL;
    platform_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->access_ttl_s = cfg->access_ttl_s > 0 ? cfg->access_ttl_s : 900;
    p->refresh_ttl_s = cfg->refresh_ttl_s > 0 ? cfg->refresh_ttl_s : 30 * 86400;
    p->kdf_cost = cfg->password_kdf_cost;
    if (p->kdf_cost < PASSWORD_LN_MIN || p->kdf_cost > PASSWORD_LN_MAX)
        p->kdf_cost = 15;
    const char *prov = (cfg->payment_provider && *cfg->payment_provider) ? cfg->payment_provider
                                                                          : "none";
    if (strcmp(prov, "none") == 0) {
        p->provider = API_PROVIDER_NONE;
    } else if (strcmp(prov, "dev") == 0) {
        p->provider = API_PROVIDER_DEV;
    } else if (strcmp(prov, "webhook") == 0) {
        p->provider = API_PROVIDER_WEBHOOK;
    } else {
        LOG_ERROR("api", "billing.payment_provider must be \"none\", \"dev\" or \"webhook\", "
                  "not \"%s\"", prov);
        free(p);
        return NULL;
    }
    p->webhook_secret = strdup(cfg->webhook_secret ? cfg->webhook_secret : "");
    p->webhook_window_s = cfg->webhook_window_s > 0 ? cfg->webhook_window_s : 300;
    p->fee_bps = cfg->platform_fee_bps;
    if (p->fee_bps < 0 || p->fee_bps > 10000) {
        LOG_ERROR("api", "billing.platform_fee_bps must be within 0..10000");
        goto fail;
    }
    p->auth_required = cfg->auth_required;
    p->limiter = ratelimit_create(cfg->rate_limit_per_min, 100000);
    login_guard_config lg = {.pair_burst = cfg->login_pair_per_min, .pair_window_ms = 60000,
                             .account_burst = cfg->login_account_per_hour,
                             .account_window_ms = 3600000, .max_keys = 100000};
    p->login_guard = login_guard_create(&lg);
    p->families = api_families_create();
    p->presence = api_presence_create();
    p->chat = api_chat_create(cfg->chat_rate_per_s, cfg->chat_burst);
    p->tokenless = api_tokenless_create();
    if (cfg->vapid_public_key)
        snprintf(p->vapid_public, sizeof p->vapid_public, "%s", cfg->vapid_public_key);
    if (!p->limiter || !p->login_guard || !p->families || !p->presence || !p->chat || !p->tokenless)
        goto fail;
    if (purchases_load_packages(p, cfg->credit_packages) != 0)
        goto fail;
    turn_config tc = {.stun_uris = cfg->stun_uris, .turn_uris = cfg->turn_uris,
                      .secret = cfg->turn_secret, .ttl_s = cfg->turn_ttl_s};
    char terr[256];
    if (!(p->turn = turn_create(&tc, terr, sizeof(terr)))) {
        LOG_ERROR("api", "%s", terr);
        goto fail;
    }
    if (password_hash("dummy password for timing", p->kdf_cost, p->dummy_hash,
                      sizeof(p->dummy_hash)) != 0)
        goto fail;

    char path[4096], err[256] = "";
    snprintf(path, sizeof(path), "%s/parley.db", dir);
    p->store = store_open(path, err, sizeof(err));
    if (!p->store) {
        LOG_ERROR("api", "cannot open %s: %s", path, err);
        goto fail;
    }
    if (cfg->store_group_window_us > 0)
        store_set_group_window(p->store, (unsigned)cfg->store_group_window_us);
    else if (cfg->store_group_window_us < 0)
        store_set_group_window(p->store, 0);
    if (ledger_migrate(p->store, err, sizeof(err)) != 0 ||
        api_schema_migrate(p->store, err, sizeof(err)) != 0 ||
        calls_schema_migrate(p->store, err, sizeof(err)) != 0 ||
        billing_schema_migrate(p->store, err, sizeof(err)) != 0 ||
        chat_schema_migrate(p->store, err, sizeof(err)) != 0) {
        LOG_ERROR("api", "migrations failed: %s", err);
        goto fail;
    }
    if (platform_load_secret(p, cfg->jwt_secret) != 0 || auth_load_families(p) != 0)
        goto fail;
    LOG_INFO("api", "platform ready (db %s, provider %s, fee %d bps)", path,
             platform_payment_provider(p), p->fee_bps);
    if (p->provider == API_PROVIDER_DEV)
        LOG_WARN("api", "payment provider dev: purchases complete without payment; never in "
                 "production");
    else if (p->provider == API_PROVIDER_NONE)
        LOG_INFO("api", "no payment provider (billing.payment_provider = none): POST "
                 "/api/v1/purchases answers 503 payment_provider_not_configured");
    return p;
fail:
    platform_destroy(p);
    return NULL;
}

void platform_destroy(platform_t *p)
{
    if (!p)
        return;
    store_close(p->store);
    ratelimit_destroy(p->limiter);
    login_guard_destroy(p->login_guard);
    api_families_destroy(p->families);
    api_presence_destroy(p->presence);
    api_chat_destroy(p->chat);
    api_tokenless_destroy(p->tokenless);
    turn_destroy(p->turn);
    json_decref(p->packages);
    free(p->webhook_secret);
    memset(p->secret, 0, sizeof(p->secret));
    free(p);
}

const char *platform_payment_provider(const platform_t *p)
{
    if (!p)
        return "none";
    return p->provider == API_PROVIDER_DEV ? "dev"
         : p->provider == API_PROVIDER_WEBHOOK ? "webhook" : "none";
}

/* ---- routing ---- */

/* Matches path against pattern; fills rq->params for "{}" segments. */
static bool route_match(const char *pattern, const char *path, api_req *rq)
{
    int np = 0;
    while (*pattern && *path) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            const char *end = strchr(path, '/');
            size_t len = end ? (size_t)(end - path) : strlen(path);
            if (len == 0 || len >= sizeof(rq->param_buf[0]) || np >= 2)
                return false;
            memcpy(rq->param_buf[np], path, len);
            rq->param_buf[np][len] = '\0';
            rq->params[np] = rq->param_buf[np];
            np++;
            path += len;
            pattern += 2;
        } else if (*pattern == *path) {
            pattern++;
            path++;
        } else {
            return false;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

static int platform_authenticate(platform_t *p, const http_request *req, api_auth *auth,
                                 api_error *err)
{
    const char *h = http_request_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7])
        return api_fail(err, 401, "auth_required", "an access token is required "
                        "(Authorization: Bearer <token>)");
    jwt_claims c;
    int rc = jwt_decode_claims(p->secret, p->secret_len, h + 7, (int64_t)time(NULL),
                               API_JWT_LEEWAY_S, &c);
    if (rc == JWT_EEXPIRED)
        return api_fail(err, 401, "token_expired", "the access token has expired; refresh it");
    if (rc != JWT_OK)
        return api_fail(err, 401, "invalid_token", "the access token is not valid");
    if (!api_families_live(p->families, c.fam, c.sub))
        return api_fail(err, 401, "token_revoked", "this device has been signed out");
    auth->user_id = c.sub;
    snprintf(auth->role, sizeof(auth->role), "%s", c.role);
    snprintf(auth->device_id, sizeof(auth->device_id), "%s", c.did);
    snprintf(auth->family, sizeof(auth->family), "%s", c.fam);
    return 0;
}

static int route_check_access(const api_route *r, const api_auth *auth, api_error *err)
{
    if (r->access == ROUTE_HOST && strcmp(auth->role, "host") != 0)
        return api_fail(err, 403, "forbidden", "only hosts can use this endpoint");
    if (r->access == ROUTE_CALLER && strcmp(auth->role, "caller") != 0)
        return api_fail(err, 403, "forbidden", "only callers can use this endpoint");
    return 0;
}

static void platform_send(http_reply *reply, api_resp *rs, int rc)
{
    char *txt = NULL;
    const char *body;
    const char *ctype = "application/json";
    int status;
    char ra[16];
    if (rc != 0) {
        status = rs->err.status ? rs->err.status : 500;
        txt = api_error_json(&rs->err);
        body = txt ? txt : "{\"error\":{\"code\":\"internal\",\"message\":\"\"}}";
        if (rs->err.retry_after_s > 0) {
            snprintf(ra, sizeof(ra), "%d", rs->err.retry_after_s);
            http_reply_add_header(reply, "Retry-After", ra);
        }
    } else if (rs->raw) {
        status = rs->status;
        body = rs->raw;
        if (rs->content_type)
            ctype = rs->content_type;
    } else {
        status = rs->status ? rs->status : 200;
        txt = rs->body ? json_dumps(rs->body, JSON_COMPACT) : NULL;
        body = txt ? txt : "{}";
    }
    if (rs->replayed)
        http_reply_add_header(reply, "Idempotent-Replayed", "true");
    http_reply_add_header(reply, "Cache-Control", "no-store");
    http_reply_send(reply, status, ctype, body, strlen(body));
    free(txt);
}

static void platform_dispatch(platform_t *p, const api_route *routes, size_t n,
                              const char *path, const http_request *req, http_reply *reply)
{
    api_req rq = {.p = p, .http = req};
    api_resp rs = {0};
    int rc = -1;
    const api_route *found = NULL;
    bool path_known = false;
    for (size_t i = 0; i < n && !found; i++) {
        memset(rq.params, 0, sizeof(rq.params));
        if (!route_match(routes[i].pattern, path, &rq))
            continue;
        path_known = true;
        if (strcmp(routes[i].method, req->method) == 0)
            found = &routes[i];
    }
    if (!found) {
        if (path_known) {
            api_fail(&rs.err, 405, "method_not_allowed", "%s is not allowed here", req->method);
        } else {
            api_fail(&rs.err, 404, "not_found", "no such endpoint");
        }
    } else if (found->access != ROUTE_PUBLIC &&
               (platform_authenticate(p, req, &rq.auth, &rs.err) != 0 ||
                route_check_access(found, &rq.auth, &rs.err) != 0)) {
        rc = -1;
    } else {
        rc = found->fn(&rq, &rs);
    }
    /* Server faults are logged; purchases refused for want of a provider are the operator's
     * choice (logged once at start), not a fault. */
    if (rc != 0 && rs.err.status >= 500 &&
        !(rs.err.code && strcmp(rs.err.code, "payment_provider_not_configured") == 0))
        LOG_WARN("api", "%s %s -> %d %s", req->method, req->path, rs.err.status,
                 rs.err.code ? rs.err.code : "");
    platform_send(reply, &rs, rc);
    json_decref(rs.body);
    free(rs.raw);
}

void platform_handle_http(platform_t *p, const http_request *req, http_reply *reply)
{
    const char *path = req->path;
    if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) == 0)
        path += strlen(API_PREFIX);
    platform_dispatch(p, api_routes, sizeof(api_routes) / sizeof(*api_routes), path, req, reply);
}

void platform_handle_admin(platform_t *p, const http_request *req, http_reply *reply)
{
    const char *path = req->path;
    if (strncmp(path, ADMIN_PREFIX, strlen(ADMIN_PREFIX)) == 0)
        path += strlen(ADMIN_PREFIX);
    platform_dispatch(p, admin_routes, sizeof(admin_routes) / sizeof(*admin_routes), path, req,
                      reply);
}

/* ---- the core's entry points ---- */

static int verify_token(platform_t *p, const char *token, uint64_t *user_id, bool allow_expired)
{
    jwt_claims c;
    if (!p || !token)
        return -1;
    int rc = jwt_decode_claims(p->secret, p->secret_len, token, (int64_t)time(NULL), API_JWT_LEEWAY_S, &c);
    if (rc != JWT_OK && !(allow_expired && rc == JWT_EEXPIRED))
        return -1;
    if (!api_families_live(p->families, c.fam, c.sub))
        return -1;
    if (user_id)
        *user_id = c.sub;
    return 0;
}

int platform_verify_access_token(platform_t *p, const char *token, uint64_t *user_id)
{
    return verify_token(p, token, user_id, false);
}

int platform_verify_session_token(platform_t *p, const char *token, uint64_t *user_id)
{
    return verify_token(p, token, user_id, true);
}

int platform_token_family(platform_t *p, const char *token, char *out, size_t cap)
{
    jwt_claims c;
    if (!p || !token || cap == 0)
        return -1;
    int rc = jwt_decode_claims(p->secret, p->secret_len, token, (int64_t)time(NULL), API_JWT_LEEWAY_S, &c);
    if (rc != JWT_OK && rc != JWT_EEXPIRED)
        return -1;
    snprintf(out, cap, "%s", c.fam);
    return 0;
}

void platform_presence_session_opened(platform_t *p, uint64_t user_id)
{
    if (p && user_id)
        api_presence_open(p->presence, user_id);
}

void platform_presence_session_closed(platform_t *p, uint64_t user_id)
{
    if (p && user_id)
        api_presence_close(p->presence, user_id);
}

void platform_presence_set_busy(platform_t *p, uint64_t user_id, bool busy)
{
    if (p && user_id)
        api_presence_busy(p->presence, user_id, busy);
}
