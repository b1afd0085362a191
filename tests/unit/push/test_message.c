/*
 * What one push says on the wire (src/push/message.c): a plugin's notice JSON read back
 * (numbers as room ids, unknown or incomplete notices refused), the FCM bodies of the three
 * kinds, and a Web Push request opened again as the browser would (webpush_decrypt with the
 * subscription's private key): payload fields per kind, private bodies, Urgency, TTL, Topic
 * (<= 32 base64url characters; the same for a ring and its stop), the VAPID header's key.
 */
#include <jansson.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "push/message.h"
#include "util/b64.h"

#define NOW 1700000000

static void test_notice_parse(void)
{
    push_notice n;
    uint64_t uid = 0;
    void *holder = NULL;
    CHECK_INT(push_notice_parse("{\"type\":\"chat_message\",\"user_id\":7,\"room\":42,\"msg_id\":\"m1\","
                                "\"sender_id\":3,\"text\":\"hi\"}", &n, &uid, &holder), 0);
    CHECK_INT(uid, 7);
    CHECK_INT(n.type, PUSH_CHAT_MESSAGE);
    CHECK_STR(n.room, "42");
    CHECK_STR(n.text, "hi");
    CHECK(n.sender_name == NULL);
    push_notice_release(holder);
    CHECK_INT(push_notice_parse("{\"type\":\"incoming_call\",\"user_id\":9,\"call_id\":\"c\",\"ttl_s\":45}", &n, &uid,
                                &holder), 0);
    CHECK_INT(n.type, PUSH_INCOMING_CALL);
    CHECK_INT(n.ttl_s, 45);
    push_notice_release(holder);
    const char *bad[] = {"", "[]", "{\"type\":\"incoming_call\",\"user_id\":9}", "{\"type\":\"x\",\"user_id\":1}",
                         "{\"type\":\"call_ended\",\"call_id\":\"c\"}", "{\"type\":\"chat_message\",\"user_id\":1,"
                         "\"room\":1}", "{\"type\":\"call_ended\",\"user_id\":-1,\"call_id\":\"c\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_INT(push_notice_parse(bad[i], &n, &uid, &holder), -1);
        CHECK(holder == NULL);
    }
    CHECK_INT(push_notice_parse(NULL, &n, &uid, &holder), -1);
}

static json_t *fcm(const push_notice *n, bool private_bodies)
{
    push_content c;
    CHECK_INT(push_content_copy(&c, n), 0);
    char err[128];
    char *body = push_message_fcm(&c, "tok", private_bodies, 30, NOW, err, sizeof err);
    CHECK(body != NULL);
    json_t *o = body ? json_loads(body, 0, NULL) : NULL;
    free(body);
    push_content_clear(&c);
    json_t *m = json_incref(json_object_get(o, "message"));
    json_decref(o);
    return m;
}

static void test_fcm(void)
{
    push_notice ring = {.type = PUSH_INCOMING_CALL, .call_id = "c-1", .caller_name = "Ann", .call_kind = "video"};
    json_t *m = fcm(&ring, false);
    CHECK_STR(json_string_value(json_object_get(m, "token")), "tok");
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "data"), "type")), "incoming_call");
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "data"), "kind")), "video");
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "android"), "ttl")), "30s");
    json_decref(m);
    push_notice end = {.type = PUSH_CALL_ENDED, .call_id = "c-1", .reason = "cancelled"};
    m = fcm(&end, false);
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "data"), "reason")), "cancelled");
    json_decref(m);
    push_notice chat = {.type = PUSH_CHAT_MESSAGE, .room = "5", .msg_id = "m", .sender_name = "Bob", .text = "secret"};
    m = fcm(&chat, false);
    CHECK_STR(json_string_value(json_object_get(json_object_get(m, "notification"), "body")), "secret");
    json_decref(m);
    m = fcm(&chat, true);
    CHECK(json_object_get(json_object_get(m, "notification"), "body") == NULL);
    json_decref(m);
}

/* A subscription of a user agent made here: its scalar, and the JSON api/push.c stores. */
typedef struct ua {
    uint8_t priv[32], auth[16];
    char json[512];
} ua;

static void ua_make(ua *u, const char *endpoint)
{
    webpush_vapid *k = NULL;
    char priv[64], auth[32];
    CHECK_INT(webpush_vapid_generate(&k), WEBPUSH_OK);
    CHECK_INT(webpush_vapid_private_b64(k, priv, sizeof priv), WEBPUSH_OK);
    CHECK_INT(b64url_decode(priv, strlen(priv), u->priv, sizeof u->priv), 32);
    CHECK(RAND_bytes(u->auth, sizeof u->auth) == 1);
    b64url_encode(u->auth, sizeof u->auth, auth, sizeof auth);
    snprintf(u->json, sizeof u->json, "{\"endpoint\":\"%s\",\"keys\":{\"p256dh\":\"%s\",\"auth\":\"%s\"}}", endpoint,
             webpush_vapid_public_b64(k), auth);
    webpush_vapid_free(k);
}

static json_t *webpush(const ua *u, const webpush_vapid *server, const push_notice *n, bool private_bodies,
                       push_webpush_request *r)
{
    push_content c;
    CHECK_INT(push_content_copy(&c, n), 0);
    char err[128] = "";
    int rc = push_message_webpush(&c, u->json, server, "mailto:ops@example.org", private_bodies, 20, NOW, r, err,
                                  sizeof err);
    push_content_clear(&c);
    CHECK_INT(rc, 0);
    if (rc != 0)
        return NULL;
    uint8_t plain[4096];
    size_t len = 0;
    CHECK_INT(webpush_decrypt(u->priv, u->auth, r->body, r->len, plain, sizeof plain, &len), WEBPUSH_OK);
    return json_loadb((const char *)plain, len, 0, NULL);
}

static void test_webpush(void)
{
    webpush_vapid *server = NULL;
    CHECK_INT(webpush_vapid_generate(&server), WEBPUSH_OK);
    ua u;
    ua_make(&u, "https://push.example.net/wp/abc");
    push_webpush_request r;
    push_notice ring = {.type = PUSH_INCOMING_CALL, .call_id = "0f8fad5b-d9cb-469f-a165-70867728950e",
                        .caller_name = "Ann", .call_kind = "audio"};
    json_t *p = webpush(&u, server, &ring, false, &r);
    CHECK_STR(json_string_value(json_object_get(p, "type")), "incoming_call");
    CHECK_STR(json_string_value(json_object_get(p, "caller_name")), "Ann");
    CHECK_STR(r.urgency, "high");
    CHECK_INT(r.ttl_s, 20);
    CHECK_STR(r.topic, "0f8fad5bd9cb469fa16570867728950e");
    CHECK_STR(r.url, "https://push.example.net/wp/abc");
    char want_k[128];
    snprintf(want_k, sizeof want_k, ", k=%s", webpush_vapid_public_b64(server));
    CHECK(strncmp(r.authorization, "vapid t=", 8) == 0 && strstr(r.authorization, want_k) != NULL);
    json_decref(p);
    push_webpush_request_clear(&r);
    push_notice end = {.type = PUSH_CALL_ENDED, .call_id = ring.call_id, .reason = "answered_elsewhere"};
    p = webpush(&u, server, &end, false, &r);
    CHECK_STR(json_string_value(json_object_get(p, "reason")), "answered_elsewhere");
    CHECK_STR(r.topic, "0f8fad5bd9cb469fa16570867728950e");   /* replaces the ring */
    json_decref(p);
    push_webpush_request_clear(&r);
    push_notice chat = {.type = PUSH_CHAT_MESSAGE, .room = "77", .msg_id = "m9", .sender_name = "Bob",
                        .text = "hello"};
    p = webpush(&u, server, &chat, false, &r);
    CHECK_STR(json_string_value(json_object_get(p, "body")), "hello");
    CHECK_STR(r.urgency, "normal");
    CHECK_STR(r.topic, "chat77");
    json_decref(p);
    push_webpush_request_clear(&r);
    p = webpush(&u, server, &chat, true, &r);
    CHECK(json_object_get(p, "body") == NULL);
    CHECK_STR(json_string_value(json_object_get(p, "sender_name")), "Bob");
    json_decref(p);
    push_webpush_request_clear(&r);
    /* a broken subscription is refused, nothing left allocated */
    push_content c;
    CHECK_INT(push_content_copy(&c, &chat), 0);
    char err[128];
    CHECK_INT(push_message_webpush(&c, "{\"endpoint\":\"https://x\"}", server, "mailto:a@b", false, 20, NOW, &r, err,
                                   sizeof err), -1);
    CHECK(r.url == NULL && r.body == NULL);
    push_content_clear(&c);
    webpush_vapid_free(server);
}

int main(void)
{
    test_notice_parse();
    test_fcm();
    test_webpush();
    return check_summary("push-message");
}
