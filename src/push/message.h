/*
 * message: what one push notification says and how it goes on the wire, sans-IO. The push
 * service (service.h) copies a notice into a push_content per target, and at send time turns
 * it into the FCM v1 request body (fcm.h) or the Web Push request (webpush.h: the RFC 8291
 * body, the VAPID Authorization, TTL / Urgency / Topic). Also the plugins' notice JSON
 * (plugin.h, push_notice) read into a push_notice.
 *
 * Ownership: push_content owns its strings (push_content_clear); a push_webpush_request owns
 * its url and body (push_webpush_request_clear); char * results are malloc'd for the caller.
 * Threads: none of its own; stateless but for the objects passed in.
 * Errors: NULL / -1 with a message in err.
 */
#ifndef PARLEY_PUSH_MESSAGE_H
#define PARLEY_PUSH_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "push/webpush.h"

typedef enum push_kind { PUSH_KIND_FCM = 0, PUSH_KIND_WEBPUSH = 1, PUSH_KIND_COUNT = 2 } push_kind;

typedef enum push_type {
    PUSH_INCOMING_CALL = 0,
    PUSH_CALL_ENDED = 1,
    PUSH_CHAT_MESSAGE = 2,
} push_type;

/* One device to notify: its login family (who owns the row) and its token or subscription
 * JSON ({"endpoint","keys":{"p256dh","auth"}}, as api/push.c stores it). */
typedef struct push_target {
    push_kind kind;
    const char *family;
    const char *value;
} push_target;

/* What to say. Strings may be NULL (read as ""). */
typedef struct push_notice {
    push_type type;
    const char *call_id;        /* calls */
    const char *caller_name, *caller_avatar, *call_kind;   /* incoming call */
    const char *reason;         /* call ended: answered_elsewhere, cancelled, no_answer, ... */
    const char *room, *msg_id, *sender_name, *text;        /* chat */
    int ttl_s;                  /* useful life; <= 0 for chat = the service's chat TTL */
} push_notice;

/* A notice's owned copy: every string non-NULL ("" when absent; call_kind "audio"). */
typedef struct push_content {
    push_type type;
    char *call_id, *caller_name, *caller_avatar, *call_kind, *reason, *room, *msg_id, *sender_name, *text;
} push_content;

int push_content_copy(push_content *dst, const push_notice *n);
void push_content_clear(push_content *c);

/* The FCM v1 messages:send body for one device token, ttl_s the life left. */
char *push_message_fcm(const push_content *c, const char *token, bool private_bodies, int ttl_s, int64_t now_s,
                       char *err, size_t errcap);

/* One Web Push POST. */
typedef struct push_webpush_request {
    char *url;                  /* the subscription's endpoint */
    uint8_t *body;              /* aes128gcm */
    size_t len;
    char authorization[WEBPUSH_AUTHORIZATION_MAX];
    char topic[40];             /* RFC 8030 5.4: <= 32 base64url characters; "" = none */
    const char *urgency;        /* "high" for calls, "normal" for chat (static) */
    int ttl_s;
} push_webpush_request;

/* The JSON the service worker gets (the FCM data fields; chat adds sender_name and body) is
 * encrypted to the subscription ({"endpoint","keys":{"p256dh","auth"}}) and the VAPID JWT
 * signed for the endpoint's origin, valid 12 h. */
int push_message_webpush(const push_content *c, const char *subscription_json, const webpush_vapid *key,
                         const char *subject, bool private_bodies, int ttl_s, int64_t now_s,
                         push_webpush_request *out, char *err, size_t errcap);
void push_webpush_request_clear(push_webpush_request *r);

/* A plugin's notice (plugin.h, push_notify) -> *out and the user to notify. out's strings
 * point into *holder, released with push_notice_release. 0, or -1 when malformed. */
int push_notice_parse(const char *notice_json, push_notice *out, uint64_t *user_id, void **holder);
void push_notice_release(void *holder);

#endif
