/*
 * internal: what the platform's files share (not for use outside src/api).
 *
 * A request flows: platform.c routes it (method + path pattern), authenticates it when the
 * route needs a user (Bearer access JWT + live login family), then calls one handler. A
 * handler fills an api_resp: a status and a JSON body, or returns -1 with an api_error.
 * Each handler's writes happen inside one store_write unit (never a partial write); money
 * moves only through the ledger module, inside that same unit.
 *
 * Threads: handlers run on libmicrohttpd's threads. Shared state in platform_t is either
 * immutable after platform_create (config, secret, packages) or guarded by its own lock
 * (families, presence, rate limiter).
 */
#ifndef PARLEY_API_INTERNAL_H
#define PARLEY_API_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/apijson.h"
#include "api/platform.h"
#include "api/ratelimit.h"
#include "api/turn.h"
#include "store/store.h"

#define API_SECRET_MAX 128
#define API_FAMILY_LEN 22       /* 16 random bytes in base64url */

/* In-memory set of live login families (family id -> user id): the cheap check that makes a
 * revoked device's access tokens die before they expire. Loaded from devices at start. */
typedef struct api_families api_families;
api_families *api_families_create(void);
void api_families_destroy(api_families *f);
void api_families_add(api_families *f, const char *family, uint64_t user_id);
void api_families_remove(api_families *f, const char *family);
bool api_families_live(api_families *f, const char *family, uint64_t user_id);

/* Presence: live Janus sessions and busy flag per user (memory only). */
typedef struct api_presence api_presence;
typedef enum api_availability { API_OFFLINE = 0, API_ONLINE, API_BUSY } api_availability;
api_presence *api_presence_create(void);
void api_presence_destroy(api_presence *pr);
void api_presence_open(api_presence *pr, uint64_t user_id);
void api_presence_close(api_presence *pr, uint64_t user_id);
void api_presence_busy(api_presence *pr, uint64_t user_id, bool busy);
api_availability api_presence_get(api_presence *pr, uint64_t user_id);
const char *api_availability_name(api_availability a);
/* JSON array of the ids of users with at least one live session (new reference). */
json_t *api_presence_online_ids(api_presence *pr);

/* billing.payment_provider: none refuses purchases (503), dev completes them at once without
 * payment, webhook leaves them pending until the provider's signed callback. */
typedef enum api_provider { API_PROVIDER_NONE = 0, API_PROVIDER_DEV, API_PROVIDER_WEBHOOK } api_provider;

struct platform {
    store_t *store;
    uint8_t secret[API_SECRET_MAX];
    size_t secret_len;
    int access_ttl_s;
    int refresh_ttl_s;
    int kdf_cost;
    api_provider provider;
    char *webhook_secret;
    int webhook_window_s;
    int fee_bps;
    json_t *packages;             /* validated array of package objects */
    bool auth_required;
    ratelimit_t *limiter;
    login_guard_t *login_guard;   /* wrong passwords per (account, address) and per account */
    api_families *families;
    api_presence *presence;
    turn_t *turn;                 /* ICE servers for clients (turn.c) */
    char dummy_hash[128];         /* verified against for unknown emails (equal timing) */
};

typedef struct api_auth {
    uint64_t user_id;
    char role[129];
    char device_id[129];
    char family[129];
} api_auth;

typedef struct api_req {
    platform_t *p;
    const http_request *http;
    const char *params[2];        /* {placeholders} of the route, in order */
    char param_buf[2][160];
    api_auth auth;                /* set when the route requires a user */
} api_req;

typedef struct api_resp {
    int status;
    json_t *body;                 /* owned; sent as JSON */
    char *raw;                    /* owned; pre-rendered body (idempotent replays, openapi) */
    const char *content_type;     /* static; type of raw (NULL = application/json) */
    bool replayed;
    api_error err;                /* used when the handler returns -1 */
} api_resp;

typedef int (*api_handler)(api_req *rq, api_resp *rs);

/* Helpers (platform.c). */
int api_ok(api_resp *rs, int status, json_t *body);   /* steals body; returns 0 */
int api_store_error(api_error *err, int rc);          /* maps STORE_E* to 500/503 */
json_t *api_body(api_req *rq, api_error *err);        /* parsed object or NULL */
void api_random_b64(char *out, size_t cap, size_t nbytes);
const char *api_iso8601(int64_t ms, char buf[32]);
bool api_parse_u64(const char *s, uint64_t *out);
/* Rate limit by "<what>:<key>"; -1 with a 429 error when refused. */
int api_rate_check(platform_t *p, const char *what, const char *key, api_error *err);
int64_t api_monotonic_ms(void);

/* SQLite convenience for units and readers. */
int api_sql_text(sqlite3_stmt *st, int col, char *out, size_t cap);

/* Handlers, one file per concern. */
int auth_register(api_req *rq, api_resp *rs);
int auth_login(api_req *rq, api_resp *rs);
int auth_refresh(api_req *rq, api_resp *rs);
int auth_logout(api_req *rq, api_resp *rs);
int auth_devices_list(api_req *rq, api_resp *rs);
int auth_devices_revoke(api_req *rq, api_resp *rs);
int auth_load_families(platform_t *p);

int push_put(api_req *rq, api_resp *rs);
int push_delete(api_req *rq, api_resp *rs);

int users_get_me(api_req *rq, api_resp *rs);
int users_patch_me(api_req *rq, api_resp *rs);
/* {id, email, role, display_name, created_at, [host profile fields]} of a user (reader). */
json_t *users_load_json(sqlite3 *db, uint64_t user_id, bool private_view);

int hosts_list(api_req *rq, api_resp *rs);
int hosts_get(api_req *rq, api_resp *rs);

int purchases_packages(api_req *rq, api_resp *rs);
int purchases_create(api_req *rq, api_resp *rs);
int purchases_webhook(api_req *rq, api_resp *rs);
int purchases_load_packages(platform_t *p, const char *json_text);

int wallet_get(api_req *rq, api_resp *rs);
int wallet_transactions(api_req *rq, api_resp *rs);
int wallet_earnings(api_req *rq, api_resp *rs);

int admin_ledger_check(api_req *rq, api_resp *rs);
int admin_revenue(api_req *rq, api_resp *rs);

int calls_list(api_req *rq, api_resp *rs);
int calls_get(api_req *rq, api_resp *rs);
/* The calls module's tables (calls.c, module "calls"; after the "api" ones: it refers to users). */
int calls_schema_migrate(store_t *s, char *err, size_t errcap);
int billing_schema_migrate(store_t *s, char *err, size_t errcap);
/* Inside a unit: calls created before started_ms and not ended whose meter is not live (the
 * server stopped while they rang, or before they were billed) end with server_restart. */
int calls_end_stale_db(sqlite3 *db, int64_t started_ms, int64_t now, int64_t *ended);

int turn_ice_servers(api_req *rq, api_resp *rs);
int openapi_get(api_req *rq, api_resp *rs);   /* openapi.c */

/* The module's tables (schema.c). */
int api_schema_migrate(store_t *s, char *err, size_t errcap);

#endif
