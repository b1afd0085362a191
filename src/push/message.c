/*
 * message: see message.h.
 */
#include "push/message.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "push/fcm.h"

static char *dup_or(const char *s, const char *dflt) { return strdup(s ? s : dflt); }

int push_content_copy(push_content *d, const push_notice *n)
{
    *d = (push_content){.type = n->type};
    d->call_id = dup_or(n->call_id, "");
    d->caller_name = dup_or(n->caller_name, "");
    d->caller_avatar = dup_or(n->caller_avatar, "");
    d->call_kind = dup_or(n->call_kind, "audio");
    d->reason = dup_or(n->reason, "");
    d->room = dup_or(n->room, "");
    d->msg_id = dup_or(n->msg_id, "");
    d->sender_name = dup_or(n->sender_name, "");
    d->text = dup_or(n->text, "");
    if (d->call_id && d->caller_name && d->caller_avatar && d->call_kind && d->reason && d->room && d->msg_id &&
        d->sender_name && d->text)
        return 0;
    push_content_clear(d);
    return -1;
}

void push_content_clear(push_content *c)
{
    char *strings[] = {c->call_id, c->caller_name, c->caller_avatar, c->call_kind, c->reason,
                       c->room, c->msg_id, c->sender_name, c->text};
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++)
        free(strings[i]);
    *c = (push_content){0};
}

/* ---- FCM ---- */

char *push_message_fcm(const push_content *c, const char *token, bool private_bodies, int ttl_s, int64_t now_s,
                       char *err, size_t errcap)
{
    if (c->type == PUSH_CHAT_MESSAGE) {
        fcm_chat_push p = {.token = token, .room = c->room, .msg_id = c->msg_id, .sender_name = c->sender_name,
                           .text = c->text, .private_bodies = private_bodies, .ttl_s = ttl_s, .now = now_s};
        return fcm_message_chat(&p, err, errcap);
    }
    fcm_call_push p = {.token = token, .call_id = c->call_id, .caller_name = c->caller_name,
                       .caller_avatar = c->caller_avatar, .kind = c->call_kind, .reason = c->reason,
                       .ttl_s = ttl_s, .now = now_s};
    return c->type == PUSH_INCOMING_CALL ? fcm_message_incoming_call(&p, err, errcap)
                                         : fcm_message_call_ended(&p, err, errcap);
}

/* ---- Web Push ---- */

/* The JSON the service worker gets: the fields of the FCM data message. */
static char *webpush_plaintext(const push_content *c, bool private_bodies)
{
    json_t *o;
    if (c->type == PUSH_INCOMING_CALL) {
        o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "incoming_call", "call_id", c->call_id, "caller_name",
                      c->caller_name, "caller_avatar", c->caller_avatar, "kind", c->call_kind);
    } else if (c->type == PUSH_CALL_ENDED) {
        o = json_pack("{s:s,s:s,s:s}", "type", "call_ended", "call_id", c->call_id, "reason", c->reason);
    } else {
        size_t keep = fcm_utf8_prefix(c->text, strlen(c->text), FCM_CHAT_BODY_DEFAULT);
        o = json_pack("{s:s,s:s,s:s,s:s}", "type", "chat_message", "room", c->room, "msg_id", c->msg_id,
                      "sender_name", c->sender_name);
        if (o && !private_bodies && keep)
            json_object_set_new(o, "body", json_stringn(c->text, keep));
    }
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* RFC 8030 5.4: a Topic is at most 32 characters of the base64url alphabet. A call's is its
 * id without dashes (so the stop push replaces an undelivered ring), a chat's "chat<room>". */
static void webpush_topic(const push_content *c, char *out, size_t cap)
{
    const char *src = c->type == PUSH_CHAT_MESSAGE ? c->room : c->call_id;
    size_t k = 0;
    if (c->type == PUSH_CHAT_MESSAGE && cap > 5) {
        memcpy(out, "chat", 4);
        k = 4;
    }
    for (const char *p = src; *p && k + 1 < cap && k < 32; p++)
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_')
            out[k++] = *p;
    out[k] = '\0';
}

int push_message_webpush(const push_content *c, const char *subscription_json, const webpush_vapid *key,
                         const char *subject, bool private_bodies, int ttl_s, int64_t now_s,
                         push_webpush_request *out, char *err, size_t errcap)
{
    *out = (push_webpush_request){.urgency = c->type == PUSH_CHAT_MESSAGE ? "normal" : "high", .ttl_s = ttl_s};
    json_t *sub = json_loads(subscription_json, 0, NULL);
    json_t *keys = json_object_get(sub, "keys");
    const char *endpoint = json_string_value(json_object_get(sub, "endpoint"));
    const char *p256dh = json_string_value(json_object_get(keys, "p256dh"));
    const char *auth = json_string_value(json_object_get(keys, "auth"));
    char *plain = webpush_plaintext(c, private_bodies);
    int rc = -1;
    if (!endpoint || !p256dh || !auth || !plain) {
        snprintf(err, errcap, "subscription unusable");
        goto out;
    }
    size_t plen = strlen(plain), cap = WEBPUSH_BODY_LEN(plen);
    out->body = malloc(cap);
    out->url = strdup(endpoint);
    int wrc = out->body && out->url ? webpush_encrypt(p256dh, auth, (const uint8_t *)plain, plen, NULL, out->body,
                                                      cap, &out->len)
                                    : WEBPUSH_ECRYPTO;
    if (wrc == WEBPUSH_OK)
        wrc = webpush_vapid_authorization(key, endpoint, subject, now_s, 12 * 3600, out->authorization,
                                          sizeof out->authorization);
    if (wrc != WEBPUSH_OK) {
        snprintf(err, errcap, "%s", webpush_status_name(wrc));
        goto out;
    }
    webpush_topic(c, out->topic, sizeof out->topic);
    rc = 0;
out:
    if (rc != 0)
        push_webpush_request_clear(out);
    free(plain);
    json_decref(sub);
    return rc;
}

void push_webpush_request_clear(push_webpush_request *r)
{
    free(r->url);
    free(r->body);
    r->url = NULL;
    r->body = NULL;
    r->len = 0;
}

/* ---- the plugins' notice JSON ---- */

static const char *field(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

int push_notice_parse(const char *notice_json, push_notice *out, uint64_t *user_id, void **holder)
{
    *holder = NULL;
    json_t *o = notice_json ? json_loads(notice_json, 0, NULL) : NULL;
    const char *type = field(o, "type");
    json_int_t uid = json_integer_value(json_object_get(o, "user_id"));
    if (!type || uid <= 0) {
        json_decref(o);
        return -1;
    }
    push_notice n = {.call_id = field(o, "call_id"), .caller_name = field(o, "caller_name"),
                     .caller_avatar = field(o, "caller_avatar"), .call_kind = field(o, "kind"),
                     .reason = field(o, "reason"), .room = field(o, "room"), .msg_id = field(o, "msg_id"),
                     .sender_name = field(o, "sender_name"), .text = field(o, "text"),
                     .ttl_s = (int)json_integer_value(json_object_get(o, "ttl_s"))};
    json_t *room = json_object_get(o, "room");
    if (json_is_integer(room)) {   /* chat rooms are numbers: keep their text in the holder */
        char buf[24];
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(room));
        json_object_set_new(o, "room_text", json_string(buf));
        n.room = field(o, "room_text");
    }
    if (strcmp(type, "incoming_call") == 0 && n.call_id)
        n.type = PUSH_INCOMING_CALL;
    else if (strcmp(type, "call_ended") == 0 && n.call_id)
        n.type = PUSH_CALL_ENDED;
    else if (strcmp(type, "chat_message") == 0 && n.room && n.msg_id)
        n.type = PUSH_CHAT_MESSAGE;
    else {
        json_decref(o);
        return -1;
    }
    *out = n;
    *user_id = (uint64_t)uid;
    *holder = o;
    return 0;
}

void push_notice_release(void *holder) { json_decref(holder); }
