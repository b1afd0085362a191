/*
 * FCM HTTP v1 building blocks (src/push/fcm.c): the service account with every way it can be
 * wrong, the RS256 assertion verified with the public half of a key generated here, the token
 * request body and response, the token cache boundary, the three messages field by field, and
 * every outcome of the send classifier on bodies shaped as FCM v1 errors.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/b64.h"
#include "check.h"
#include "push/fcm.h"

#define NOW 1700000000           /* 2023-11-14 22:13:20 UTC, a Tuesday */
#define NOW_MS (NOW * 1000LL)
#define TOKEN_URI "https://oauth2.googleapis.com/token"
#define EMAIL "parley-push@demo-project.iam.gserviceaccount.com"

static EVP_PKEY *test_key;        /* RSA 2048, generated once */
static char *test_pem;

/* ---- helpers ---------------------------------------------------------------------------- */

static char *pem_private(EVP_PKEY *k, const char *passphrase)
{
    BIO *b = BIO_new(BIO_s_mem());
    const EVP_CIPHER *c = passphrase ? EVP_aes_128_cbc() : NULL;
    CHECK(PEM_write_bio_PrivateKey(b, k, c, (unsigned char *)passphrase,
                                   passphrase ? (int)strlen(passphrase) : 0, NULL, NULL) == 1);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

/* The public key alone, round-tripped through PEM, so verification cannot use the private
 * half by accident. */
static EVP_PKEY *public_only(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    CHECK(PEM_write_bio_PUBKEY(b, k) == 1);
    EVP_PKEY *pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    return pub;
}

static json_t *account_object(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "service_account",
                     "project_id", "demo-project", "private_key_id", "0123abcd", "private_key",
                     test_pem, "client_email", EMAIL, "client_id", "1234567890", "token_uri",
                     TOKEN_URI);
}

/* Writes the account to a file and reads it back, as the push service will. */
static char *account_file_bytes(json_t *sa, size_t *len)
{
    char path[] = "/tmp/parley-fcm-sa-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(json_dump_file(sa, path, JSON_INDENT(2)) == 0);
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 16384);
    *len = fread(buf, 1, 16383, f);
    fclose(f);
    unlink(path);
    return buf;
}

static fcm_account *parse_obj(json_t *sa, fcm_status *st, char *err, size_t errcap)
{
    char *txt = json_dumps(sa, 0);
    fcm_account *a = fcm_account_parse(txt, strlen(txt), st, err, errcap);
    free(txt);
    return a;
}

/* Parses the account with field set to value (NULL = removed) and checks the status and that
 * the message names the field. */
static void expect_field_error(const char *field, json_t *value, fcm_status want)
{
    json_t *sa = account_object();
    if (value)
        json_object_set_new(sa, field, value);
    else
        json_object_del(sa, field);
    char err[256] = "";
    fcm_status st = FCM_OK;
    fcm_account *a = parse_obj(sa, &st, err, sizeof(err));
    CHECK(a == NULL);
    CHECK_INT(st, want);
    char quoted[64];
    snprintf(quoted, sizeof(quoted), "\"%s\"", field);
    if (!strstr(err, quoted))
        fprintf(stderr, "error for %s does not name it: %s\n", field, err);
    CHECK(strstr(err, quoted) != NULL);
    fcm_account_free(a);
    json_decref(sa);
}

/* Decodes one base64url segment into a NUL-terminated malloc'd buffer; *n = its length. */
static char *b64_segment(const char *s, size_t len, size_t *n)
{
    char *out = calloc(1, b64url_decoded_max(len) + 1);
    ssize_t r = b64url_decode(s, len, (uint8_t *)out, b64url_decoded_max(len));
    CHECK(r >= 0);
    *n = r < 0 ? 0 : (size_t)r;
    return out;
}

/* obj["a"]["b"]... following a '/'-separated path. */
static json_t *jget(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = root;
    for (char *save = NULL, *k = strtok_r(buf, "/", &save); k && v; k = strtok_r(NULL, "/", &save))
        v = json_object_get(v, k);
    return v;
}

static const char *jstr(json_t *root, const char *path)
{
    return json_string_value(jget(root, path));
}

/* FCM refuses a non-string data value, so every test message checks them all. */
static void check_data_all_strings(json_t *msg, size_t want_keys)
{
    json_t *data = jget(msg, "message/data");
    CHECK(json_is_object(data));
    CHECK_INT(json_object_size(data), want_keys);
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v) {
        if (!json_is_string(v))
            fprintf(stderr, "data.%s is not a string\n", k);
        CHECK(json_is_string(v));
    }
}

static json_t *load(char *txt)
{
    CHECK(txt != NULL);
    json_t *j = txt ? json_loads(txt, JSON_REJECT_DUPLICATES, NULL) : NULL;
    CHECK(j != NULL);
    free(txt);
    return j;
}

/* ---- 1. service account ------------------------------------------------------------------- */

static void test_account_ok(void)
{
    json_t *sa = account_object();
    size_t len;
    char *bytes = account_file_bytes(sa, &len);
    char err[256] = "";
    fcm_status st = FCM_EJSON;
    fcm_account *a = fcm_account_parse(bytes, len, &st, err, sizeof(err));
    CHECK(a != NULL);
    CHECK_INT(st, FCM_OK);
    if (a) {
        CHECK_STR(fcm_account_project_id(a), "demo-project");
        CHECK_STR(fcm_account_client_email(a), EMAIL);
        CHECK_STR(fcm_account_token_uri(a), TOKEN_URI);
    }
    fcm_account_free(a);
    free(bytes);
    json_decref(sa);
}

static void test_account_not_json(void)
{
    char err[256];
    fcm_status st;
    const char *bad[] = {"", "{", "[]", "\"service_account\"",
                         "{\"type\":\"service_account\",\"type\":\"service_account\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        st = FCM_OK;
        CHECK(fcm_account_parse(bad[i], strlen(bad[i]), &st, err, sizeof(err)) == NULL);
        CHECK_INT(st, FCM_EJSON);
    }
    CHECK(fcm_account_parse(NULL, 0, &st, err, sizeof(err)) == NULL);
    CHECK_INT(st, FCM_EJSON);
    CHECK(fcm_account_parse("{", 1, NULL, NULL, 0) == NULL);   /* no err buffer: no crash */
}

static void test_account_fields(void)
{
    expect_field_error("type", NULL, FCM_ETYPE);
    expect_field_error("type", json_string("authorized_user"), FCM_ETYPE);
    expect_field_error("type", json_integer(1), FCM_ETYPE);
    expect_field_error("project_id", NULL, FCM_EPROJECT);
    expect_field_error("project_id", json_integer(42), FCM_EPROJECT);
    expect_field_error("project_id", json_string(""), FCM_EPROJECT);
    expect_field_error("project_id", json_string("Demo Project"), FCM_EPROJECT);
    expect_field_error("project_id", json_string("demo/../other"), FCM_EPROJECT);
    expect_field_error("project_id", json_string("1demo"), FCM_EPROJECT);
    expect_field_error("client_email", NULL, FCM_EEMAIL);
    expect_field_error("client_email", json_null(), FCM_EEMAIL);
    expect_field_error("client_email", json_string("no-at-sign"), FCM_EEMAIL);
    expect_field_error("client_email", json_string("a b@example.com"), FCM_EEMAIL);
    expect_field_error("token_uri", NULL, FCM_ETOKENURI);
    expect_field_error("token_uri", json_string("http://oauth2.googleapis.com/token"),
                       FCM_ETOKENURI);
    expect_field_error("token_uri", json_string("https://"), FCM_ETOKENURI);
    expect_field_error("token_uri", json_string("https://x/\r\nInjected: 1"), FCM_ETOKENURI);
    expect_field_error("private_key", NULL, FCM_EKEY);
    expect_field_error("private_key", json_true(), FCM_EKEY);
    expect_field_error("private_key", json_string("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                                  "-----END PRIVATE KEY-----\n"), FCM_EKEY);
}

static void test_account_wrong_keys(void)
{
    /* an EC key: RS256 needs RSA */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *pem = pem_private(ec, NULL);
    expect_field_error("private_key", json_string(pem), FCM_EKEY);
    free(pem);
    EVP_PKEY_free(ec);
    /* too short an RSA key */
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    pem = pem_private(small, NULL);
    expect_field_error("private_key", json_string(pem), FCM_EKEY);
    free(pem);
    EVP_PKEY_free(small);
    /* an encrypted key is refused without prompting on the terminal */
    pem = pem_private(test_key, "secret");
    CHECK(strstr(pem, "ENCRYPTED") != NULL);
    expect_field_error("private_key", json_string(pem), FCM_EKEY);
    free(pem);
}

/* ---- 2. assertion ------------------------------------------------------------------------- */

static void check_assertion_claims(const char *seg, size_t len)
{
    size_t n;
    char *txt = b64_segment(seg, len, &n);
    json_t *c = json_loadb(txt, n, JSON_REJECT_DUPLICATES, NULL);
    CHECK(json_is_object(c));
    CHECK_INT(json_object_size(c), 5);
    CHECK_STR(jstr(c, "iss"), EMAIL);
    CHECK_STR(jstr(c, "scope"), "https://www.googleapis.com/auth/firebase.messaging");
    CHECK_STR(jstr(c, "aud"), TOKEN_URI);
    CHECK(json_is_integer(jget(c, "iat")) && json_is_integer(jget(c, "exp")));
    CHECK_INT(json_integer_value(jget(c, "iat")), NOW);
    CHECK_INT(json_integer_value(jget(c, "exp")), NOW + 3600);
    json_decref(c);
    free(txt);
}

static int verify_rs256(EVP_PKEY *pub, const char *input, size_t n, const uint8_t *sig,
                        size_t siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
             EVP_DigestVerify(md, sig, siglen, (const unsigned char *)input, n) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void test_assertion(void)
{
    json_t *sa = account_object();
    char err[256] = "";
    fcm_account *a = parse_obj(sa, NULL, err, sizeof(err));
    json_decref(sa);
    CHECK(a != NULL);
    if (!a)
        return;
    char *jwt = fcm_assertion(a, NOW, err, sizeof(err));
    CHECK(jwt != NULL);
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    CHECK(d1 && d2 && !strchr(d2 + 1, '.'));
    size_t hn, sn;
    char *header = b64_segment(jwt, (size_t)(d1 - jwt), &hn);
    CHECK_STR(header, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
    check_assertion_claims(d1 + 1, (size_t)(d2 - d1 - 1));
    uint8_t *sig = (uint8_t *)b64_segment(d2 + 1, strlen(d2 + 1), &sn);
    CHECK_INT(sn, 256);   /* RSA 2048 */
    EVP_PKEY *pub = public_only(test_key);
    CHECK(verify_rs256(pub, jwt, (size_t)(d2 - jwt), sig, sn));
    /* the same signature over a changed claims segment must not verify */
    char *forged = strdup(jwt);
    forged[(d1 - jwt) + 5] ^= 1;
    CHECK(!verify_rs256(pub, forged, (size_t)(d2 - jwt), sig, sn));
    /* the token request body */
    char *body = fcm_token_request_body(jwt);
    char want[4096];
    snprintf(want, sizeof(want),
             "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer&assertion=%s",
             jwt);
    CHECK_STR(body, want);
    free(body);
    CHECK(fcm_token_request_body("abc def") == NULL);
    CHECK(fcm_token_request_body("abc+def") == NULL);
    CHECK(fcm_token_request_body("abc&x=y") == NULL);
    CHECK(fcm_token_request_body("") == NULL);
    CHECK(fcm_token_request_body(NULL) == NULL);
    free(forged);
    EVP_PKEY_free(pub);
    free(sig);
    free(header);
    free(jwt);
    fcm_account_free(a);
}

/* ---- 3. access token ---------------------------------------------------------------------- */

static void test_token(void)
{
    const char ok[] = "{\"access_token\":\"ya29.c.b0AXv0zTP-_~+/x==\",\"expires_in\":3599,"
                      "\"token_type\":\"Bearer\"}";
    fcm_token t;
    memset(&t, 0, sizeof(t));
    CHECK(!fcm_token_fresh(&t, 0));   /* nothing cached yet */
    char err[256];
    CHECK_INT(fcm_token_parse(ok, strlen(ok), 1000, &t, err, sizeof(err)), FCM_OK);
    CHECK_STR(t.access_token, "ya29.c.b0AXv0zTP-_~+/x==");
    CHECK_INT(t.expires_at, 4599);
    /* reused until 60 s before it expires, not at that second */
    CHECK(fcm_token_fresh(&t, 1000));
    CHECK(fcm_token_fresh(&t, 4599 - 61));
    CHECK(!fcm_token_fresh(&t, 4599 - 60));
    CHECK(!fcm_token_fresh(&t, 4599));
    CHECK(!fcm_token_fresh(&t, 9999));

    const char lower[] = "{\"access_token\":\"abc\",\"expires_in\":60,\"token_type\":\"bearer\"}";
    CHECK_INT(fcm_token_parse(lower, strlen(lower), 0, &t, err, sizeof(err)), FCM_OK);
    CHECK(!fcm_token_fresh(&t, 0));   /* a 60 s token is never worth caching */

    const char *bad[] = {
        "", "not json", "[]",
        "{\"expires_in\":3599,\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"\",\"expires_in\":3599,\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"ya29 x\",\"expires_in\":3599,\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"ya29\\r\\nX-Evil: 1\",\"expires_in\":3599,\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"a=b\",\"expires_in\":3599,\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"ya29\",\"expires_in\":3599,\"token_type\":\"MAC\"}",
        "{\"access_token\":\"ya29\",\"expires_in\":3599}",
        "{\"access_token\":\"ya29\",\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"ya29\",\"expires_in\":\"3599\",\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"ya29\",\"expires_in\":0,\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"ya29\",\"expires_in\":-5,\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"ya29\",\"expires_in\":3599.5,\"token_type\":\"Bearer\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fcm_token keep = {.access_token = "kept", .expires_at = 77};
        err[0] = '\0';
        CHECK_INT(fcm_token_parse(bad[i], strlen(bad[i]), 1000, &keep, err, sizeof(err)),
                  FCM_ETOKEN);
        CHECK_STR(keep.access_token, "kept");   /* untouched on failure */
        CHECK_INT(keep.expires_at, 77);
        CHECK(strncmp(err, "token response:", 15) == 0);
    }
}

/* ---- 4. URL and messages ------------------------------------------------------------------- */

static void test_url(void)
{
    char *u = fcm_send_url(NULL, "demo-project");
    CHECK_STR(u, "https://fcm.googleapis.com/v1/projects/demo-project/messages:send");
    free(u);
    u = fcm_send_url("", "demo-project");
    CHECK_STR(u, "https://fcm.googleapis.com/v1/projects/demo-project/messages:send");
    free(u);
    u = fcm_send_url("https://127.0.0.1:8443/", "p1");
    CHECK_STR(u, "https://127.0.0.1:8443/v1/projects/p1/messages:send");
    free(u);
    CHECK(fcm_send_url("https://x", "") == NULL);
}

static fcm_call_push call_push(void)
{
    return (fcm_call_push){.token = "dev-token-1", .call_id = "c42",
                           .caller_name = "Alice \xF0\x9F\x8E\x89", .caller_avatar =
                           "https://cdn.example/a.png", .kind = "video", .ttl_s = 30, .now = NOW};
}

static void check_call_headers(json_t *m)
{
    CHECK_STR(jstr(m, "message/token"), "dev-token-1");
    CHECK(jget(m, "message/notification") == NULL);   /* data only: the app rings itself */
    CHECK_INT(json_object_size(jget(m, "message/android")), 3);
    CHECK_STR(jstr(m, "message/android/priority"), "high");
    CHECK_STR(jstr(m, "message/android/ttl"), "30s");
    CHECK_STR(jstr(m, "message/android/collapse_key"), "call-c42");
    CHECK_INT(json_object_size(jget(m, "message/apns/headers")), 4);
    CHECK_STR(jstr(m, "message/apns/headers/apns-priority"), "10");
    CHECK_STR(jstr(m, "message/apns/headers/apns-push-type"), "alert");
    CHECK_STR(jstr(m, "message/apns/headers/apns-collapse-id"), "call-c42");
    CHECK_STR(jstr(m, "message/apns/headers/apns-expiration"), "1700000030");
    CHECK_STR(jstr(m, "message/apns/payload/aps/alert/title"), "Alice \xF0\x9F\x8E\x89");
}

static void test_incoming_call(void)
{
    fcm_call_push p = call_push();
    char err[256];
    json_t *m = load(fcm_message_incoming_call(&p, err, sizeof(err)));
    check_call_headers(m);
    check_data_all_strings(m, 5);
    CHECK_STR(jstr(m, "message/data/type"), "incoming_call");
    CHECK_STR(jstr(m, "message/data/call_id"), "c42");
    CHECK_STR(jstr(m, "message/data/caller_name"), "Alice \xF0\x9F\x8E\x89");
    CHECK_STR(jstr(m, "message/data/caller_avatar"), "https://cdn.example/a.png");
    CHECK_STR(jstr(m, "message/data/kind"), "video");
    CHECK_STR(jstr(m, "message/apns/payload/aps/alert/body"), "Incoming video call");
    CHECK_STR(jstr(m, "message/apns/payload/aps/interruption-level"), "time-sensitive");
    json_decref(m);

    p.kind = "audio";
    p.caller_avatar = NULL;   /* no avatar: still a string */
    m = load(fcm_message_incoming_call(&p, err, sizeof(err)));
    check_data_all_strings(m, 5);
    CHECK_STR(jstr(m, "message/data/caller_avatar"), "");
    CHECK_STR(jstr(m, "message/apns/payload/aps/alert/body"), "Incoming audio call");
    json_decref(m);
}

static void test_call_ended(void)
{
    fcm_call_push p = call_push();
    p.reason = "answered_elsewhere";
    char err[256];
    json_t *m = load(fcm_message_call_ended(&p, err, sizeof(err)));
    check_call_headers(m);   /* same collapse key, priority and life as the ring it stops */
    check_data_all_strings(m, 3);
    CHECK_STR(jstr(m, "message/data/type"), "call_ended");
    CHECK_STR(jstr(m, "message/data/call_id"), "c42");
    CHECK_STR(jstr(m, "message/data/reason"), "answered_elsewhere");
    CHECK_STR(jstr(m, "message/apns/payload/aps/alert/body"), "Call ended");
    CHECK_STR(jstr(m, "message/apns/payload/aps/interruption-level"), "passive");
    json_decref(m);
}

static void test_call_refused(void)
{
    char err[256], longid[80];
    memset(longid, 'x', 60);
    longid[60] = '\0';   /* "call-" + 60 = 65 bytes: over APNs' 64 */
    fcm_call_push p = call_push();
    p.call_id = longid;
    err[0] = '\0';
    CHECK(fcm_message_incoming_call(&p, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "collapse key") != NULL);
    CHECK(fcm_message_call_ended(&p, err, sizeof(err)) == NULL);
    longid[59] = '\0';   /* exactly 64 is fine */
    char *ok = fcm_message_incoming_call(&p, err, sizeof(err));
    CHECK(ok != NULL);
    free(ok);
    p = call_push();
    p.token = "";
    CHECK(fcm_message_incoming_call(&p, err, sizeof(err)) == NULL);
    p = call_push();
    p.ttl_s = 0;
    CHECK(fcm_message_incoming_call(&p, err, sizeof(err)) == NULL);
    p = call_push();
    p.caller_name = "bad \xC3 utf8";   /* refused, and nothing leaks (ASan run) */
    CHECK(fcm_message_incoming_call(&p, err, sizeof(err)) == NULL);
    CHECK(fcm_message_call_ended(&p, err, sizeof(err)) == NULL);
    CHECK(fcm_message_incoming_call(NULL, err, sizeof(err)) == NULL);
}

static fcm_chat_push chat_push(const char *text, size_t body_max)
{
    return (fcm_chat_push){.token = "dev-token-2", .room = "r17", .msg_id = "9001",
                           .sender_name = "Bob", .text = text, .body_max = body_max,
                           .ttl_s = 86400, .now = NOW};
}

static const char *chat_body(const char *text, size_t body_max, char *buf, size_t cap)
{
    fcm_chat_push p = chat_push(text, body_max);
    json_t *m = load(fcm_message_chat(&p, NULL, 0));
    const char *b = jstr(m, "message/notification/body");
    snprintf(buf, cap, "%s", b ? b : "(none)");
    json_decref(m);
    return buf;
}

static void test_chat_fields(void)
{
    fcm_chat_push p = chat_push("hello", 0);
    char err[256];
    json_t *m = load(fcm_message_chat(&p, err, sizeof(err)));
    CHECK_STR(jstr(m, "message/token"), "dev-token-2");
    CHECK_INT(json_object_size(jget(m, "message/notification")), 2);
    CHECK_STR(jstr(m, "message/notification/title"), "Bob");
    CHECK_STR(jstr(m, "message/notification/body"), "hello");
    check_data_all_strings(m, 3);
    CHECK_STR(jstr(m, "message/data/type"), "chat_message");
    CHECK_STR(jstr(m, "message/data/room"), "r17");
    CHECK_STR(jstr(m, "message/data/msg_id"), "9001");
    CHECK_STR(jstr(m, "message/android/priority"), "high");
    CHECK_STR(jstr(m, "message/android/ttl"), "86400s");
    CHECK_STR(jstr(m, "message/android/collapse_key"), "chat-r17");
    CHECK_STR(jstr(m, "message/android/notification/tag"), "chat-r17");
    CHECK_STR(jstr(m, "message/apns/headers/apns-collapse-id"), "chat-r17");
    CHECK_STR(jstr(m, "message/apns/headers/apns-priority"), "10");
    CHECK_STR(jstr(m, "message/apns/headers/apns-push-type"), "alert");
    CHECK_STR(jstr(m, "message/apns/headers/apns-expiration"), "1700086400");
    CHECK_STR(jstr(m, "message/apns/payload/aps/thread-id"), "chat-r17");
    json_decref(m);

    p.private_bodies = true;   /* title only: the text never leaves the server */
    m = load(fcm_message_chat(&p, err, sizeof(err)));
    CHECK_STR(jstr(m, "message/notification/title"), "Bob");
    CHECK(jget(m, "message/notification/body") == NULL);
    char *all = json_dumps(m, 0);
    CHECK(strstr(all, "hello") == NULL);
    free(all);
    json_decref(m);

    p = chat_push("", 0);   /* an empty text: no body either */
    m = load(fcm_message_chat(&p, err, sizeof(err)));
    CHECK(jget(m, "message/notification/body") == NULL);
    json_decref(m);

    char longroom[70];
    memset(longroom, 'r', 65);
    longroom[65] = '\0';
    p = chat_push("hi", 0);
    p.room = longroom;
    CHECK(fcm_message_chat(&p, err, sizeof(err)) == NULL);
    p = chat_push("hi", 0);
    p.msg_id = NULL;
    CHECK(fcm_message_chat(&p, err, sizeof(err)) == NULL);
    p = chat_push("bad \xE2\x82", 0);   /* a truncated sequence in the input itself */
    CHECK(fcm_message_chat(&p, err, sizeof(err)) == NULL);
}

static void test_chat_truncation(void)
{
    char buf[512];
    /* "abcdefgh" + U+1F600 (F0 9F 98 80) + "xyz": 15 bytes */
    const char *t = "abcdefgh\xF0\x9F\x98\x80xyz";
    CHECK_STR(chat_body(t, 15, buf, sizeof(buf)), t);                      /* fits: no ellipsis */
    CHECK_STR(chat_body(t, 14, buf, sizeof(buf)), "abcdefgh\xF0\x9F\x98\x80xy\xE2\x80\xA6");
    CHECK_STR(chat_body(t, 12, buf, sizeof(buf)), "abcdefgh\xF0\x9F\x98\x80\xE2\x80\xA6");
    /* a cut after 1, 2 or 3 of the emoji's 4 bytes drops the whole character */
    CHECK_STR(chat_body(t, 11, buf, sizeof(buf)), "abcdefgh\xE2\x80\xA6");
    CHECK_STR(chat_body(t, 10, buf, sizeof(buf)), "abcdefgh\xE2\x80\xA6");
    CHECK_STR(chat_body(t, 9, buf, sizeof(buf)), "abcdefgh\xE2\x80\xA6");
    CHECK_STR(chat_body(t, 8, buf, sizeof(buf)), "abcdefgh\xE2\x80\xA6");
    /* the default limit */
    char longtext[301];
    memset(longtext, 'a', 300);
    longtext[300] = '\0';
    chat_body(longtext, 0, buf, sizeof(buf));
    CHECK_INT(strlen(buf), FCM_CHAT_BODY_DEFAULT + 3);
    CHECK(strcmp(buf + FCM_CHAT_BODY_DEFAULT, "\xE2\x80\xA6") == 0);

    /* fcm_utf8_prefix on 2- and 3-byte characters: "a" "é" (C3 A9) "€" (E2 82 AC) "b" */
    const char *s = "a\xC3\xA9\xE2\x82\xAC" "b";
    size_t n = strlen(s);   /* 7 */
    CHECK_INT(fcm_utf8_prefix(s, n, 7), 7);
    CHECK_INT(fcm_utf8_prefix(s, n, 6), 6);
    CHECK_INT(fcm_utf8_prefix(s, n, 5), 3);
    CHECK_INT(fcm_utf8_prefix(s, n, 4), 3);
    CHECK_INT(fcm_utf8_prefix(s, n, 3), 3);
    CHECK_INT(fcm_utf8_prefix(s, n, 2), 1);
    CHECK_INT(fcm_utf8_prefix(s, n, 1), 1);
    CHECK_INT(fcm_utf8_prefix(s, n, 0), 0);
}

/* ---- 5. classifier ---------------------------------------------------------------------- */

static fcm_retry_ctx ctx_at(int attempt, uint32_t jitter, int64_t life_ms)
{
    return (fcm_retry_ctx){.now_ms = NOW_MS, .deadline_ms = life_ms < 0 ? INT64_MAX
                                                                        : NOW_MS + life_ms,
                           .attempt = attempt, .jitter = jitter};
}

static fcm_verdict classify(int http, const char *body, const char *retry_after,
                            fcm_retry_ctx c)
{
    fcm_verdict v;
    fcm_classify(http, body, body ? strlen(body) : 0, retry_after, &c, &v);
    return v;
}

/* An FCM v1 error body: google.rpc.Status with an FcmError detail (code may be NULL) and an
 * optional BadRequest detail blaming field. */
static const char *fcm_body(char *buf, size_t cap, int http, const char *status,
                            const char *code, const char *field)
{
    char fcm[256] = "", bad[256] = "";
    if (code)
        snprintf(fcm, sizeof(fcm), "{\"@type\":\"type.googleapis.com/google.firebase.fcm.v1."
                 "FcmError\",\"errorCode\":\"%s\"}", code);
    if (field)
        snprintf(bad, sizeof(bad), "%s{\"@type\":\"type.googleapis.com/google.rpc.BadRequest\","
                 "\"fieldViolations\":[{\"field\":\"%s\",\"description\":\"Invalid\"}]}",
                 code ? "," : "", field);
    snprintf(buf, cap, "{\"error\":{\"code\":%d,\"message\":\"Requested entity was not found.\","
             "\"status\":\"%s\",\"details\":[%s%s]}}", http, status, fcm, bad);
    return buf;
}

static void test_classify_sent(void)
{
    fcm_verdict v = classify(200, "{\"name\":\"projects/demo-project/messages/0:1700%2\"}",
                             NULL, ctx_at(0, 0, 30000));
    CHECK_INT(v.outcome, FCM_SENT);
    CHECK_STR(v.name, "projects/demo-project/messages/0:1700%2");
    v = classify(200, "", NULL, ctx_at(0, 0, 30000));   /* sent is sent: never resend */
    CHECK_INT(v.outcome, FCM_SENT);
    CHECK_STR(v.name, "");
}

static void test_classify_drop(void)
{
    char b[1024];
    fcm_retry_ctx c = ctx_at(0, 0, 30000);
    fcm_verdict v = classify(404, fcm_body(b, sizeof(b), 404, "NOT_FOUND", "UNREGISTERED", NULL),
                             NULL, c);
    CHECK_INT(v.outcome, FCM_DROP_TOKEN);
    CHECK_STR(v.reason, "UNREGISTERED");
    v = classify(400, fcm_body(b, sizeof(b), 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", NULL),
                 NULL, c);
    CHECK_INT(v.outcome, FCM_DROP_TOKEN);
    CHECK_STR(v.reason, "INVALID_ARGUMENT");
    v = classify(400, fcm_body(b, sizeof(b), 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                               "message.token"), NULL, c);
    CHECK_INT(v.outcome, FCM_DROP_TOKEN);
    v = classify(403, fcm_body(b, sizeof(b), 403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH",
                               NULL), NULL, c);
    CHECK_INT(v.outcome, FCM_DROP_TOKEN);
    CHECK_STR(v.reason, "SENDER_ID_MISMATCH");
}

/* Errors that must not cost a user their token. */
static void test_classify_keep_token(void)
{
    char b[1024];
    fcm_retry_ctx c = ctx_at(0, 0, 30000);
    /* our payload is wrong (the FCM docs' own example), not the token */
    fcm_verdict v = classify(400, fcm_body(b, sizeof(b), 400, "INVALID_ARGUMENT", NULL,
                                           "message.data[0].value"), NULL, c);
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK_STR(v.reason, "INVALID_ARGUMENT");
    v = classify(400, fcm_body(b, sizeof(b), 400, "INVALID_ARGUMENT", "INVALID_ARGUMENT",
                               "message.android.ttl"), NULL, c);
    CHECK_INT(v.outcome, FCM_FAIL);
    /* a 404 without UNREGISTERED: a wrong project or endpoint */
    v = classify(404, fcm_body(b, sizeof(b), 404, "NOT_FOUND", NULL, NULL), NULL, c);
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK_STR(v.reason, "NOT_FOUND");
    v = classify(404, "<html>Not Found</html>", NULL, c);
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK_STR(v.reason, "http_404");
    /* codes only count with the status FCM pairs them with */
    v = classify(400, fcm_body(b, sizeof(b), 400, "INVALID_ARGUMENT", "UNREGISTERED", NULL),
                 NULL, c);
    CHECK_INT(v.outcome, FCM_FAIL);
    v = classify(403, fcm_body(b, sizeof(b), 403, "PERMISSION_DENIED", NULL, NULL), NULL, c);
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK_STR(v.reason, "PERMISSION_DENIED");
    v = classify(418, NULL, NULL, c);
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK_STR(v.reason, "http_418");
}

static void test_classify_auth(void)
{
    char b[1024];
    fcm_retry_ctx c = ctx_at(0, 0, 30000);
    fcm_verdict v = classify(401, fcm_body(b, sizeof(b), 401, "UNAUTHENTICATED", NULL, NULL),
                             NULL, c);
    CHECK_INT(v.outcome, FCM_AUTH_REFRESH);
    CHECK_STR(v.reason, "UNAUTHENTICATED");
    v = classify(401, NULL, NULL, c);
    CHECK_INT(v.outcome, FCM_AUTH_REFRESH);
    v = classify(401, fcm_body(b, sizeof(b), 401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR",
                               NULL), NULL, c);
    CHECK_INT(v.outcome, FCM_FAIL);   /* the APNs credentials, not our token */
    CHECK_STR(v.reason, "THIRD_PARTY_AUTH_ERROR");
}

static void test_classify_retry_after(void)
{
    char b[1024];
    const char *quota = fcm_body(b, sizeof(b), 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", NULL);
    fcm_verdict v = classify(429, quota, "7", ctx_at(0, 0, 30000));
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_STR(v.reason, "QUOTA_EXCEEDED");
    CHECK_INT(v.retry_at_ms, NOW_MS + 7000);
    v = classify(429, quota, " 3 ", ctx_at(0, 0, 30000));
    CHECK_INT(v.retry_at_ms, NOW_MS + 3000);
    /* the boundary: a retry at the deadline itself is too late */
    v = classify(429, quota, "30", ctx_at(0, 0, 30000));
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK(v.past_deadline);
    CHECK_STR(v.reason, "QUOTA_EXCEEDED");
    v = classify(429, quota, "30", ctx_at(0, 0, 30001));
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK(!v.past_deadline);
    v = classify(429, quota, "60", ctx_at(0, 0, 30000));
    CHECK_INT(v.outcome, FCM_FAIL);
    /* an HTTP-date 10 s ahead, one in the past */
    const char *unavailable = "{\"error\":{\"code\":503,\"message\":\"The service is currently "
                              "unavailable.\",\"status\":\"UNAVAILABLE\"}}";
    v = classify(503, unavailable, "Tue, 14 Nov 2023 22:13:30 GMT", ctx_at(0, 0, 30000));
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_STR(v.reason, "UNAVAILABLE");
    CHECK_INT(v.retry_at_ms, NOW_MS + 10000);
    v = classify(503, unavailable, "Tue, 14 Nov 2023 22:13:10 GMT", ctx_at(0, 0, 30000));
    CHECK_INT(v.retry_at_ms, NOW_MS);
    /* direct: the RFC 9110 example date, huge and unreadable values */
    CHECK_INT(fcm_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 0), 784111777000LL);
    CHECK_INT(fcm_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", 0), -1);
    CHECK_INT(fcm_retry_after_ms("Sun, 06 Nov 1994 08:49:37 UTC", 0), -1);
    CHECK_INT(fcm_retry_after_ms("Sun, 06 Foo 1994 08:49:37 GMT", 0), -1);
    CHECK_INT(fcm_retry_after_ms("99999999999999999999", 0), 86400000LL);
    CHECK_INT(fcm_retry_after_ms("0", 0), 0);
    CHECK_INT(fcm_retry_after_ms("-5", 0), -1);
    CHECK_INT(fcm_retry_after_ms("soon", 0), -1);
    CHECK_INT(fcm_retry_after_ms("", 0), -1);
    CHECK_INT(fcm_retry_after_ms(NULL, 0), -1);
}

static void test_classify_backoff(void)
{
    const char *internal = "{\"error\":{\"code\":500,\"status\":\"INTERNAL\"}}";
    /* attempt 0: step 500 ms, delay in [250, 500] */
    fcm_verdict v = classify(500, internal, NULL, ctx_at(0, 0, 30000));
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_STR(v.reason, "INTERNAL");
    CHECK_INT(v.retry_at_ms, NOW_MS + 250);
    v = classify(500, internal, NULL, ctx_at(0, 250, 30000));
    CHECK_INT(v.retry_at_ms, NOW_MS + 500);
    v = classify(500, internal, NULL, ctx_at(0, 251, 30000));   /* wraps within the range */
    CHECK_INT(v.retry_at_ms, NOW_MS + 250);
    /* attempt 3: step 4 s */
    v = classify(502, "<html>Bad Gateway</html>", NULL, ctx_at(3, 0, 30000));
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_STR(v.reason, "http_502");
    CHECK_INT(v.retry_at_ms, NOW_MS + 2000);
    v = classify(503, NULL, "soon", ctx_at(3, UINT32_MAX, 30000));   /* unreadable header */
    CHECK(v.retry_at_ms >= NOW_MS + 2000 && v.retry_at_ms <= NOW_MS + 4000);
    /* capped at 60 s however many attempts, and then past a 30 s ring */
    v = classify(500, internal, NULL, ctx_at(40, 0, -1));
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_INT(v.retry_at_ms, NOW_MS + 30000);
    v = classify(500, internal, NULL, ctx_at(40, UINT32_MAX, -1));
    CHECK(v.retry_at_ms >= NOW_MS + 30000 && v.retry_at_ms <= NOW_MS + 60000);
    v = classify(500, internal, NULL, ctx_at(40, 0, 30000));
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK(v.past_deadline);
    /* a custom base and cap */
    fcm_retry_ctx c = ctx_at(2, 0, -1);
    c.base_ms = 100;
    c.cap_ms = 300;
    fcm_classify(500, NULL, 0, NULL, &c, &v);
    CHECK_INT(v.retry_at_ms, NOW_MS + 150);
    CHECK_STR(fcm_outcome_name(FCM_SENT), "sent");
    CHECK_STR(fcm_outcome_name(FCM_DROP_TOKEN), "drop_token");
    CHECK_STR(fcm_outcome_name(FCM_RETRY), "retry");
    CHECK_STR(fcm_outcome_name(FCM_AUTH_REFRESH), "auth_refresh");
    CHECK_STR(fcm_outcome_name(FCM_FAIL), "fail");
}

int main(void)
{
    test_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    CHECK(test_key != NULL);
    if (!test_key)
        return check_summary("push-fcm");
    test_pem = pem_private(test_key, NULL);
    test_account_ok();
    test_account_not_json();
    test_account_fields();
    test_account_wrong_keys();
    test_assertion();
    test_token();
    test_url();
    test_incoming_call();
    test_call_ended();
    test_call_refused();
    test_chat_fields();
    test_chat_truncation();
    test_classify_sent();
    test_classify_drop();
    test_classify_keep_token();
    test_classify_auth();
    test_classify_retry_after();
    test_classify_backoff();
    free(test_pem);
    EVP_PKEY_free(test_key);
    return check_summary("push-fcm");
}
