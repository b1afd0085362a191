/*
 * platform: the business half of the server (SPEC 3.2 and 5) — users, devices and tokens,
 * host profiles and discovery, credit packages and purchases, the wallet and the double-entry
 * ledger — behind one object the core wires in at start.
 *
 * The core uses it for three things only:
 *   1. HTTP: requests whose path starts with /api/v1/ (public port) or /admin/ (admin port)
 *      are handed to platform_handle_http / platform_handle_admin.
 *   2. Auth on the Janus API: platform_verify_access_token checks a request's "token".
 *   3. Presence: the core reports when an authenticated user's Janus sessions come and go,
 *      and (later) when a user enters/leaves a call.
 *
 * Threads: every function may be called from any thread. HTTP handlers run on libmicrohttpd's
 * threads and wait for the storage thread's group commit; presence calls never block on
 * storage (they update memory only).
 *
 * Ownership: platform_create copies what it needs from the config; the caller keeps it.
 */
#ifndef PARLEY_API_PLATFORM_H
#define PARLEY_API_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "transport/http.h"

typedef struct platform platform_t;
struct server_config;

/* Checks the settings whose rules are the platform's (billing.credit_packages, the ICE
 * server URI lists, auth.jwt_secret's size) with config_check_setting, so the message names
 * the setting and its source. main.c runs it after config_load for --check-config and for
 * a start alike; platform_create then applies the same functions. false with err set. */
bool platform_config_check(const struct server_config *cfg, char *err, size_t errcap);

typedef struct platform_config {
    const char *data_dir;            /* SQLite database lives at <data_dir>/parley.db */
    const char *jwt_secret;          /* HS256 key; NULL/"" = generate and persist one */
    int access_ttl_s;                /* default 900 */
    int refresh_ttl_s;               /* default 30 days */
    int password_kdf_cost;           /* scrypt N as log2 (default 15) */
    const char *payment_provider;    /* "none" (NULL/""; purchases answer 503), "dev" (completes
                                        at once, no payment: never in production) or "webhook" */
    const char *webhook_secret;      /* HMAC-SHA256 key for POST /api/v1/payments/webhook */
    int webhook_window_s;            /* replay window, default 300 */
    int platform_fee_bps;            /* platform share of each charge, basis points (2000 = 20%) */
    const char *credit_packages;     /* JSON array text: [{"id":"p100","credits":100,"price_cents":99,"currency":"USD"},...] */
    int rate_limit_per_min;          /* register/login/refresh per IP, register/refresh per account */
    int login_pair_per_min;          /* wrong passwords per (account, address) per minute; 0 = off */
    int login_account_per_hour;      /* wrong passwords per account per hour from addresses that
                                        never signed in to it; 0 = off */
    bool auth_required;              /* Janus token check on (default true) */
    const char *stun_uris;           /* ICE servers for clients (GET /ice-servers), see api/turn.h */
    const char *turn_uris;
    const char *turn_secret;         /* coturn static-auth-secret; "" = no TURN entry */
    int turn_ttl_s;                  /* TURN credential lifetime, default 86400 */
    int chat_rate_per_s;             /* messages per second per sender, sustained; 0 = no limit */
    int chat_burst;                  /* ... in a burst (<= 0: chat_rate_per_s) */
    const char *vapid_public_key;    /* Web Push key served at GET /push/vapid-public-key; NULL = 503 */
    int store_group_window_us;       /* the store's group window (store_set_group_window); 0 = the
                                        store's default (STORE_GROUP_WINDOW_US), < 0 = none */
} platform_config;

/* Opens/creates the database, applies migrations, starts the storage thread. NULL on error
 * (logged with the reason). */
platform_t *platform_create(const platform_config *cfg);
void platform_destroy(platform_t *p);

void platform_handle_http(platform_t *p, const http_request *req, http_reply *reply);
void platform_handle_admin(platform_t *p, const http_request *req, http_reply *reply);

/* 0 and *user_id set when token is a valid, unexpired access JWT of a live device;
 * -1 otherwise. */
int platform_verify_access_token(platform_t *p, const char *token, uint64_t *user_id);

/* /metrics (admin port): writes Prometheus text lines (HELP, TYPE, sample) for the ledger's
 * transfer and operation totals and the storage thread's figures into out (NUL-terminated).
 * Cheap (no table scan). Returns the length, or -1 when cap is too short (4096 is plenty). */
int platform_metrics(platform_t *p, char *out, size_t cap);
/* Runs the full ledger invariant check (a scan of every table: callers rate-limit it).
 * 1 ok, 0 an invariant is broken, -1 the check could not run. */
int platform_ledger_check_ok(platform_t *p);

/* For requests on an existing Janus session: like platform_verify_access_token, but a token
 * that is authentic and only expired still counts while its device's login is live. A call
 * outlives the 15-minute access token; revoking the device (or logging out) still ends it.
 * 0 and *user_id set, or -1. */
int platform_verify_session_token(platform_t *p, const char *token, uint64_t *user_id);

/* The payment provider in force: "none", "dev" or "webhook" (static string). */
const char *platform_payment_provider(const platform_t *p);

/* Presence (memory only): counts live Janus sessions per user. */
void platform_presence_session_opened(platform_t *p, uint64_t user_id);
void platform_presence_session_closed(platform_t *p, uint64_t user_id);
void platform_presence_set_busy(platform_t *p, uint64_t user_id, bool busy);

/* Calls (calls.c): what the calls plugin records through the core, read back by its two
 * parties with GET /api/v1/calls[/{id}]. Any thread except a media loop (both may wait on
 * the database for a few ms).
 *
 * Records a call's life; record_json is one of
 *   {"op":"create","call_id":"<uuid>","caller_id":N,"host_id":N,"kind":"audio"|"video"}
 *   {"op":"ring","call_id":"<uuid>","devices":N}                    (0..1000 devices rang)
 *   {"op":"accept","call_id":"<uuid>","session_id":N,"handle_id":N[,"device_id":"..."]}
 *   {"op":"kind","call_id":"<uuid>","kind":"audio"|"video"}
 *   {"op":"end","call_id":"<uuid>","reason":"[a-z_]{1,32}"}    ("answered_elsewhere" refused)
 * Times are the server's. One store_write unit each (group commit): durable when it returns 0.
 * Duplicates are harmless and return 0: the same create (same parties), an accept by the
 * device that already answered, a kind equal to the current one, any end of an ended call
 * (the first end stays). -1, with the reason logged and nothing written: not JSON, unknown
 * op or field, bad UUID or value, unknown user, unknown call, ring/accept/kind after the end,
 * an accept by another device, a storage error. */
int platform_call_record(platform_t *p, const char *record_json);
/* A user's public record as malloc'd JSON text (free it), or NULL when no such user:
 * {"id","role":"caller"|"host","display_name","avatar_url"(string or null),"do_not_disturb",
 *  "audio_rate","video_rate","message_rate" (0 for callers),"online","busy"}; online/busy
 * from the in-memory presence (busy implies online). */
char *platform_user_info(platform_t *p, uint64_t user_id);

/* An outcome handed over before its JSON text is made (the _deferred submits): done gets it
 * on the storage thread, or before submit returns when refused up front, and only hands it
 * on; whoever ends up with it calls render(state) exactly once, on any thread: it returns the
 * outcome's JSON text (malloc'd, NULL only out of memory) and frees state. Why: making the text
 * of a batch of chat outcomes was a tenth of the storage thread's work, which every message
 * waits for; the plugin's own thread makes it instead. */
typedef char *(*platform_render_fn)(void *state);
typedef void (*platform_deferred_fn)(void *arg, platform_render_fn render, void *state);

/* The billing plugin's operations (plugin.h, billing_submit / billing_run; src/api/billing.c).
 * submit: 0 when the operation was queued or answered at once (done runs exactly once, on
 * the storage thread or, for a malformed operation, before submit returns), -1 when it could
 * not be queued (done never runs). run: the outcome as malloc'd JSON, blocking. */
int platform_billing_submit(platform_t *p, const char *op_json, void (*done)(void *arg, const char *result_json),
                            void *arg);
int platform_billing_submit_deferred(platform_t *p, const char *op_json, platform_deferred_fn done, void *arg);
char *platform_billing_run(platform_t *p, const char *op_json);

/* The chat plugin's operations (plugin.h, chat_submit / chat_run; src/api/chat*.c), op_json
 * one of (ids are integers > 0, client_id and msg_id UUIDs):
 *   {"op":"join","room","user_id"}
 *     -> {"ok":true,"room","peer_id","caller_id","host_id","last_seq","delivered_seq","read_seq",
 *         "peer_read_seq","peer_delivered_seq"}
 *   {"op":"send","room","sender_id","client_id","text","client_date"?}
 *     -> {"ok":true,"room","msg_id","seq","from","to","date","date_ms","text","client_id",
 *         "client_date"?,"charged","replayed"}      (the same client_id again: the first one,
 *         "replayed":true, nothing charged)
 *   {"op":"history","room","user_id","after_seq"?,"limit"?}   (limit <= 500, the default)
 *     -> {"ok":true,"room","messages":[{msg_id,seq,from,date,date_ms,text,client_id,
 *         client_date?,charged,state}]}   ascending seq > after_seq
 *   {"op":"delivered","room","user_id","msg_id"} -> {"ok":true,"room","msg_id","seq","sender_id","changed"}
 *   {"op":"read","room","user_id","up_to_seq"}  -> {"ok":true,"room","read_seq","peer_id","changed"}
 *   {"op":"unread","user_id"}                   -> {"ok":true,"rooms":[{"room","unread","last_seq"}]}
 * Refusals: {"ok":false,"reason","message"} with reason not_member, not_found, invalid (+
 * "field": text, client_id, client_date, ...), blocked, insufficient_balance (+ needed,
 * balance), rate_limited (+ retry_after_ms; sends only, before anything is queued), error.
 * submit: 0 when queued or answered at once (done runs exactly once: on the storage thread,
 * or before submit returns for a refused field or the rate limit), -1 when it could not be
 * queued (done never runs). run: the outcome as malloc'd JSON, blocking (never on a loop). */
int platform_chat_submit(platform_t *p, const char *op_json, void (*done)(void *arg, const char *result_json),
                         void *arg);
int platform_chat_submit_deferred(platform_t *p, const char *op_json, platform_deferred_fn done, void *arg);
char *platform_chat_run(platform_t *p, const char *op_json);
/* Changes made over REST, for the live devices: called on an HTTP thread once durable, never
 * under a lock, with {"event":"message","room",<the send result's fields>,"message":{...}}
 * (a new message, not a replay) or {"event":"read","room","user_id","up_to_seq"} (a read that
 * moved the position). Set it before traffic; NULL fn stops it. */
void platform_set_chat_listener(platform_t *p, void (*fn)(void *user, const char *event_json), void *user);
/* true when blocker blocked blocked (a read, a few ms at most: any thread but a media loop). */
bool platform_user_blocks(platform_t *p, uint64_t blocker, uint64_t blocked);

/* Push (push.c). A user's push targets: the tokens of its live devices whose login family is
 * not in exclude (the devices live in the app right now). A read (never on a loop); malloc'd
 * array freed with platform_push_targets_free, *n its length (NULL and 0 when none or on a
 * read error). */
typedef struct platform_push_target {
    char kind[8];                    /* "fcm" | "webpush" */
    char family[64];
    char *value;                     /* the token, or the subscription JSON */
} platform_push_target;
platform_push_target *platform_push_targets(platform_t *p, uint64_t user_id, const char *const *exclude,
                                            size_t n_exclude, size_t *n);
void platform_push_targets_free(platform_push_target *t, size_t n);
/* false when the user is known to hold no push token at all (a read of platform_push_targets
 * found none and no token was stored since): nothing to notify, skip building the notice.
 * true when the user may have one (unknown yet, or has). Any thread; no read. */
bool platform_push_may_target(platform_t *p, uint64_t user_id);
/* Removes the token if the device still holds this value; asynchronous (storage thread queue),
 * never blocks: the push thread calls it. */
void platform_push_target_dead(platform_t *p, const char *family, const char *kind, const char *value);
/* The login family of an authentic access token (also an expired one): which device a Janus
 * session belongs to. 0, or -1. */
int platform_token_family(platform_t *p, const char *token, char *out, size_t cap);

#endif
