/*
 * fcm: the building blocks of Firebase Cloud Messaging HTTP v1, sans-IO. The push service
 * (libcurl, its own thread) wraps them; nothing here opens a socket, reads a file or the clock,
 * draws a random number or logs.
 *
 *  1. fcm_account_parse: a Google service-account JSON (bytes the caller read) -> the project,
 *     the client e-mail, the token endpoint and the RSA private key.
 *  2. fcm_assertion + fcm_token_request_body: the RS256-signed JWT (RFC 7523) and the form body
 *     POSTed to the token endpoint to get an OAuth access token.
 *  3. fcm_token_parse + fcm_token_fresh: the token endpoint's answer and the cache rule (reuse
 *     until FCM_TOKEN_MARGIN_S before it expires).
 *  4. fcm_send_url + fcm_message_*: the URL and JSON body of one messages:send request (one
 *     device token per request, as FCM v1 wants).
 *  5. fcm_classify: what to do with the answer: sent, drop the token, retry later, refresh the
 *     access token, or give up.
 *
 * Time comes in as arguments (unix seconds, or milliseconds where it says _ms); randomness for
 * the retry jitter comes in as a number the caller drew.
 *
 * Ownership: fcm_account_parse returns an account the caller frees with fcm_account_free; its
 * getters return strings owned by the account. Every other function returning char * returns a
 * malloc'd NUL-terminated string the caller frees with free(). Input strings are only read.
 * Threads: an fcm_account is immutable after parsing, so any number of threads may use it at
 * once; everything else is stateless.
 * Errors: NULL (or a negative fcm_status) with a human-readable message naming the offending
 * field in err (when err is not NULL); out of memory is reported the same way.
 */
#ifndef PARLEY_PUSH_FCM_H
#define PARLEY_PUSH_FCM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define FCM_DEFAULT_ENDPOINT "https://fcm.googleapis.com"   /* push.fcm_endpoint default */
#define FCM_ASSERTION_LIFETIME_S 3600   /* Google's maximum for a JWT-bearer assertion */
#define FCM_TOKEN_MARGIN_S 60           /* refresh this long before the access token expires */
#define FCM_ACCESS_TOKEN_MAX 4096       /* longest access token accepted from the endpoint */
#define FCM_COLLAPSE_MAX 64             /* APNs refuses an apns-collapse-id above 64 bytes */
#define FCM_CHAT_BODY_DEFAULT 200       /* bytes of message text shown when body_max is 0 */
#define FCM_NAME_MAX 256                /* longest message name / error code kept */

typedef enum fcm_status {
    FCM_OK = 0,
    FCM_EJSON = -1,      /* not a JSON object */
    FCM_ETYPE = -2,      /* "type" missing or not "service_account" */
    FCM_EPROJECT = -3,   /* "project_id" missing, not a string, or not a GCP project id */
    FCM_EKEY = -4,       /* "private_key" missing, not PEM, encrypted, not RSA, or < 2048 bits */
    FCM_EEMAIL = -5,     /* "client_email" missing or not an address */
    FCM_ETOKENURI = -6,  /* "token_uri" missing or not https:// */
    FCM_ETOKEN = -7,     /* token endpoint answer unusable (see fcm_token_parse) */
} fcm_status;

/* --- 1. service account ---------------------------------------------------------------- */

typedef struct fcm_account fcm_account;

/* Parses the service-account JSON file's bytes. On failure returns NULL, sets *status (if not
 * NULL) to the fcm_status of the first bad field and writes a message into err. */
fcm_account *fcm_account_parse(const char *json, size_t len, fcm_status *status, char *err,
                               size_t errcap);
void fcm_account_free(fcm_account *a);
const char *fcm_account_project_id(const fcm_account *a);
const char *fcm_account_client_email(const fcm_account *a);
const char *fcm_account_token_uri(const fcm_account *a);

/* --- 2. OAuth assertion ------------------------------------------------------------------ */

/* The JWT header.claims.signature, RS256 over the account's key: iss = client_email,
 * scope = FCM_SCOPE, aud = token_uri, iat = now, exp = now + FCM_ASSERTION_LIFETIME_S. */
char *fcm_assertion(const fcm_account *a, int64_t now, char *err, size_t errcap);

/* "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=<assertion>",
 * the application/x-www-form-urlencoded body for the token endpoint. NULL if the assertion
 * holds a character that is not base64url or '.'. */
char *fcm_token_request_body(const char *assertion);

/* --- 3. access token --------------------------------------------------------------------- */

typedef struct fcm_token {
    char access_token[FCM_ACCESS_TOKEN_MAX + 1];
    int64_t expires_at;   /* unix s: now + expires_in at the time of parsing */
} fcm_token;

/* Parses {"access_token":..,"expires_in":N,"token_type":"Bearer"} received at unix time now.
 * The token must be a non-empty RFC 6750 b64token (it goes into an Authorization header, so a
 * space or CR/LF from a broken endpoint must never get there) and expires_in a positive
 * integer. FCM_OK or FCM_ETOKEN with err set; *out is untouched on failure. */
int fcm_token_parse(const char *body, size_t len, int64_t now, fcm_token *out, char *err,
                    size_t errcap);

/* True while the token may be used: now < expires_at - FCM_TOKEN_MARGIN_S. An empty token
 * (a zeroed struct) is never fresh. */
bool fcm_token_fresh(const fcm_token *t, int64_t now);

/* --- 4. messages ------------------------------------------------------------------------- */

/* "<base>/v1/projects/<project_id>/messages:send"; base NULL or "" = FCM_DEFAULT_ENDPOINT, a
 * trailing '/' on base is ignored (tests point base at a local fake). */
char *fcm_send_url(const char *base, const char *project_id);

/* A call ringing a device, or that ringing ended. Strings are UTF-8; "" is allowed for
 * caller_avatar. The collapse key is "call-<call_id>" on both platforms. */
typedef struct fcm_call_push {
    const char *token;          /* the device's FCM registration token */
    const char *call_id;
    const char *caller_name;    /* display name: the notification title on iOS */
    const char *caller_avatar;  /* URL or "" */
    const char *kind;           /* "audio" | "video" */
    const char *reason;         /* call_ended only: why it ended ("answered_elsewhere", ...) */
    int ttl_s;                  /* the useful life: the ring timeout (> 0) */
    int64_t now;                /* unix s; apns-expiration = now + ttl_s */
} fcm_call_push;

/* data {"type":"incoming_call", call_id, caller_name, caller_avatar, kind}, Android priority
 * high with ttl "<ttl_s>s", APNs priority 10 time-sensitive alert that expires with the ring. */
char *fcm_message_incoming_call(const fcm_call_push *p, char *err, size_t errcap);

/* data {"type":"call_ended", call_id, reason}, same collapse key and priority, so it replaces
 * the ringing notification (APNs: a passive "Call ended" alert under the same collapse id). */
char *fcm_message_call_ended(const fcm_call_push *p, char *err, size_t errcap);

typedef struct fcm_chat_push {
    const char *token;
    const char *room;           /* conversation id: collapse key "chat-<room>" */
    const char *msg_id;
    const char *sender_name;    /* notification title */
    const char *text;           /* UTF-8 message text */
    size_t body_max;            /* bytes of text kept at most; 0 = FCM_CHAT_BODY_DEFAULT */
    bool private_bodies;        /* push.private_bodies: send no body at all */
    int ttl_s;                  /* how long FCM keeps it for an offline device (> 0) */
    int64_t now;                /* unix s; apns-expiration = now + ttl_s */
} fcm_chat_push;

/* A notification {title: sender_name, body: text}, Android tag and collapse key "chat-<room>",
 * APNs collapse id and thread id the same, data {type:"chat_message", room, msg_id}. A text
 * longer than body_max is cut at a UTF-8 boundary (fcm_utf8_prefix) and "…" (U+2026) appended;
 * no body with private_bodies or an empty text. */
char *fcm_message_chat(const fcm_chat_push *p, char *err, size_t errcap);

/* The length of the longest prefix of s[0..len) that is at most max bytes and does not end
 * inside a UTF-8 sequence (a lead byte whose continuation bytes would be cut is left out). */
size_t fcm_utf8_prefix(const char *s, size_t len, size_t max);

/* --- 5. the answer to messages:send -------------------------------------------------------- */

typedef enum fcm_outcome {
    FCM_SENT,          /* 200: name holds "projects/<p>/messages/<id>" */
    FCM_DROP_TOKEN,    /* the token is dead (UNREGISTERED, invalid, SENDER_ID_MISMATCH): delete */
    FCM_RETRY,         /* 429 / 5xx: send again at retry_at_ms */
    FCM_AUTH_REFRESH,  /* 401: get a new access token, then send again */
    FCM_FAIL,          /* anything else, or a retry that would land past the deadline */
} fcm_outcome;

typedef struct fcm_retry_ctx {
    int64_t now_ms;         /* unix ms when the answer arrived */
    int64_t deadline_ms;    /* the notification is useless from then on (INT64_MAX: never) */
    int attempt;            /* retries already made (0 after the first send failed) */
    uint32_t jitter;        /* a random number drawn by the caller */
    int64_t base_ms;        /* backoff for attempt 0 (<= 0: 500 ms) */
    int64_t cap_ms;         /* backoff ceiling (<= 0: 60 s) */
} fcm_retry_ctx;

typedef struct fcm_verdict {
    fcm_outcome outcome;
    int64_t retry_at_ms;         /* FCM_RETRY: when to send again (also set when past_deadline) */
    bool past_deadline;          /* FCM_FAIL because the retry would land at or after deadline */
    char name[FCM_NAME_MAX];     /* FCM_SENT: the message name ("" if the body had none) */
    char reason[FCM_NAME_MAX];   /* otherwise: errorCode, else error.status, else "http_<n>" */
} fcm_verdict;

/* Classifies one messages:send answer. retry_after is the Retry-After header's value or NULL:
 * delta-seconds or an IMF-fixdate HTTP-date (RFC 9110 10.2.3); when absent or unreadable the
 * delay is exponential backoff with equal jitter: d = min(cap, base * 2^attempt), delay in
 * [d/2, d]. */
void fcm_classify(int http_status, const char *body, size_t len, const char *retry_after,
                  const fcm_retry_ctx *ctx, fcm_verdict *out);

/* The backoff fcm_classify uses without Retry-After (see above), for every push target. */
int64_t fcm_backoff_ms(const fcm_retry_ctx *ctx);

/* Retry-After -> delay in ms from now_ms (>= 0), or -1 when missing or unreadable. */
int64_t fcm_retry_after_ms(const char *value, int64_t now_ms);

const char *fcm_outcome_name(fcm_outcome o);

#endif
