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
#include "api/tokenless.h"
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

typedef struct api_chat api_chat;   /* chat_ops.c */

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
    api_chat *chat;               /* chat's sender limiter and REST listener (chat_ops.c) */
    api_tokenless *tokenless;     /* users known to hold no push token (push.c) */
    char dummy_hash[128];         /* verified against for unknown emails (equal timing) */
    char vapid_public[128];       /* Web Push applicationServerKey (base64url), "" = none */
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
/* Steps a prepared write (from store_stmt, bindings done) to its end and releases it: 0 or -1. */
int api_sql_done(sqlite3_stmt *st);

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
int push_get(api_req *rq, api_resp *rs);
int push_vapid_public_key(api_req *rq, api_resp *rs);

int users_get_me(api_req *rq, api_resp *rs);
int users_patch_me(api_req *rq, api_resp *rs);
/* {id, email, role, display_name, created_at, [host profile fields]} of a user (reader). */
json_t *users_load_json(sqlite3 *db, uint64_t user_id, bool private_view);

int hosts_list(api_req *rq, api_resp *rs);
int hosts_get(api_req *rq, api_resp *rs);

int purchases_packages(api_req *rq, api_resp *rs);
int purchases_create(api_req *rq, api_resp *rs);
int purchases_webhook(api_req *rq, api_resp *rs);
/* billing.credit_packages: the array, or NULL with the reason in why ("" or NULL text means
 * the built-in list). The one parse both the start-up check and the loader use. */
/* auth.jwt_secret fits the key buffer (a secret is never echoed in why). */
bool platform_jwt_secret_check(const char *secret, char *why, size_t whycap);
json_t *purchases_parse_packages(const char *json_text, char *why, size_t whycap);
bool purchases_packages_check(const char *json_text, char *why, size_t whycap);
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

/* Plugin operations as store units (opunit.c; billing.c and chat.c). A module's unit struct
 * starts with an api_op (so the unit's arg is the api_op too); run sets the outcome (a JSON
 * object with "ok") through api_op_outcome and returns API_OP_OK, API_OP_REFUSED (the unit's
 * writes are rolled back) or API_OP_FAILED. release frees the whole unit. */
typedef struct api_op api_op;
struct api_op {
    store_write_fn run;
    bool read_only;               /* api_op_exec may use store_read */
    bool parts;                   /* run makes its own savepoints (store_write_parts) */
    void (*release)(api_op *op);
    json_t *result;               /* the outcome (owned) */
    platform_deferred_fn done;
    void *done_arg;
    int store_rc;                 /* the store's result for the unit, once it ran */
};
enum { API_OP_OK = 0, API_OP_REFUSED = 1, API_OP_FAILED = 2 };
int api_op_outcome(api_op *op, int rc, json_t *result);   /* steals result; returns rc */
int api_op_refused(api_op *op, const char *reason, const char *message);
char *api_op_invalid(const char *why);                    /* {"ok":false,"reason":"invalid",...} */
/* The outcome as malloc'd text; a store_rc of STORE_EIO or worse voids it ("storage failed"). */
char *api_op_text(const api_op *op, int store_rc);
void api_op_free(api_op *op);
/* Runs op now (store_write, or store_read when read_only); the store's result. op is kept. */
int api_op_exec(store_t *s, api_op *op);
/* Runs op now and frees it: the outcome text (malloc'd). */
char *api_op_run(store_t *s, api_op *op);
/* Queues op: done runs once on the storage thread with op as the state of its render (which
 * frees op); 0, or -1 when it could not be queued (op freed, done never runs). */
int api_op_submit(store_t *s, api_op *op, platform_deferred_fn done, void *arg);
/* An operation answered before queueing: done on the caller's thread, with text (malloc'd, or
 * NULL for "storage failed") as what its render returns. */
void api_op_answer_now(platform_deferred_fn done, void *arg, char *text);
/* A submit's text form (platform_*_submit) over its deferred one: the text is made on the
 * storage thread and handed to done there. */
int api_submit_text(int (*submit)(platform_t *, const char *, platform_deferred_fn, void *), platform_t *p,
                    const char *op_json, void (*done)(void *arg, const char *result_json), void *arg);

/* Chat (chat.c: tables and units; chat_ops.c: operations, limiter, listener; chat_rest.c:
 * REST; blocks.c: blocks). */
#define CHAT_UUID_LEN 36
#define CHAT_TEXT_MAX 4096                 /* bytes of UTF-8 */
#define CHAT_SKEW_MAX_MS (5 * 60 * 1000)   /* client_date this far from the server's clock */
#define CHAT_HISTORY_MAX 500

typedef enum chat_opcode {
    CHAT_JOIN, CHAT_SEND, CHAT_HISTORY, CHAT_DELIVERED, CHAT_READ, CHAT_UNREAD, CHAT_DELIVERED_MANY,
    CHAT_SEND_MANY,
} chat_opcode;
#define CHAT_RECEIPTS_MAX 512              /* delivered receipts in one delivered_many */
#define CHAT_SENDS_MAX 512                 /* messages in one send_many */
typedef struct chat_receipt {
    int64_t room, user;
    char msg_id[36 + 1];
} chat_receipt;
extern const char *const chat_op_names[];   /* by chat_opcode */

/* One chat operation as a store unit. user is the acting user (sender_id for send). */
typedef struct chat_unit {
    api_op base;                   /* first: the unit's arg is the api_op too */
    chat_opcode op;
    int64_t room, user;
    int64_t after_seq, before_seq; /* history: after_seq ascending; before_seq > 0 = the newest
                                      limit ones below it (REST) */
    int64_t limit;
    int64_t up_to_seq;             /* read */
    int64_t client_date;
    bool has_client_date;
    char client_id[CHAT_UUID_LEN + 1];
    char msg_id[CHAT_UUID_LEN + 1];   /* send: made here; delivered: given */
    char *text;                    /* owned */
    size_t text_len;
    chat_receipt *receipts;        /* delivered_many (owned) */
    size_t nreceipts;
    /* send_many: nsends messages, each a send unit of its own (owned), or, where that is
     * NULL, the answer decided before the store (refused fields, the rate limit; owned) */
    struct chat_unit **sends;
    json_t **answers;
    size_t nsends;
    int fee_bps;
    int64_t now;
} chat_unit;

/* A unit with its run/release set (NULL when out of memory). */
chat_unit *chat_unit_new(platform_t *p, chat_opcode op);

/* Why a send's fields are refused. */
typedef enum chat_bad { CHAT_FIELDS_OK = 0, CHAT_BAD_TEXT, CHAT_BAD_CLIENT_ID, CHAT_BAD_CLIENT_DATE } chat_bad;
/* Checks and copies a send's fields into u (text: len bytes, may hold a NUL, which is
 * refused), against the server's clock now_ms. */
chat_bad chat_send_fields(chat_unit *u, const char *client_id, const char *text, size_t len,
                          bool has_client_date, int64_t client_date, int64_t now_ms);
bool chat_uuid_normalize(const char *in, char out[CHAT_UUID_LEN + 1]);
bool chat_utf8_valid(const char *s, size_t len);

/* Inside a unit or a read: 1 when blocker blocked blocked, 0 not, -1 SQL error. */
int chat_blocks_db(sqlite3 *db, int64_t blocker, int64_t blocked);
/* Messages of the other party after read_seq in room for user: 0 and *n, or -1. */
int chat_unread_db(sqlite3 *db, int64_t room, int64_t user, int64_t read_seq, int64_t *n);
/* user's positions in room (0 when it has none): 0, or -1. */
int chat_positions_db(sqlite3 *db, int64_t room, int64_t user, int64_t *delivered, int64_t *read);
/* Message seq of room as history shows it (with its state); NULL when none or on error. */
json_t *chat_message_db(sqlite3 *db, int64_t room, int64_t caller, int64_t host, int64_t seq);
int chat_schema_migrate(store_t *s, char *err, size_t errcap);

/* The per-sender limiter (shared by REST and the operations) and the listener. */
api_chat *api_chat_create(int rate_per_s, int burst);
void api_chat_destroy(api_chat *c);
/* Takes one send from sender's bucket: 0 allowed, else the ms to wait. */
int64_t api_chat_rate_take(api_chat *c, int64_t sender);
/* Hands event (stolen) to the listener as text, outside any lock; no listener: dropped. */
void api_chat_notify(api_chat *c, json_t *event);

int chat_conversation_open(api_req *rq, api_resp *rs);
int chat_conversations_list(api_req *rq, api_resp *rs);
int chat_messages_list(api_req *rq, api_resp *rs);
int chat_messages_send(api_req *rq, api_resp *rs);
int chat_read(api_req *rq, api_resp *rs);
int blocks_add(api_req *rq, api_resp *rs);
int blocks_remove(api_req *rq, api_resp *rs);
int blocks_list(api_req *rq, api_resp *rs);

/* The module's tables (schema.c). */
int api_schema_migrate(store_t *s, char *err, size_t errcap);

#endif
