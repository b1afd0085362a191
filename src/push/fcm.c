/*
 * fcm: FCM HTTP v1 building blocks, sans-IO. See fcm.h for the contract.
 */
#include "push/fcm.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/b64.h"

#define FCM_RSA_MIN_BITS 2048
#define FCM_FIELD_MAX 2048          /* longest e-mail / URI / project id we accept */
#define FCM_BACKOFF_BASE_MS 500
#define FCM_BACKOFF_CAP_MS 60000
#define FCM_RETRY_AFTER_MAX_S 86400 /* a larger Retry-After is as good as "never" */

struct fcm_account {
    char *project_id;
    char *client_email;
    char *token_uri;
    EVP_PKEY *key;       /* owned; RSA, >= 2048 bits */
};

__attribute__((format(printf, 3, 4)))
static void fcm_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* Printable ASCII without spaces: these strings end up in URLs, JWT claims and headers. */
static bool fcm_is_token_text(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FCM_FIELD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* 1. service account                                                                          */

/* Never prompt: with a NULL callback OpenSSL would ask for a passphrase on the terminal. */
static int fcm_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static EVP_PKEY *fcm_load_key(const char *pem, char *err, size_t errcap)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, fcm_no_passphrase, NULL) : NULL;
    BIO_free(bio);
    /* The failed decoders leave entries on this thread's error queue; the caller gets our
     * message instead, and a later unrelated ERR_get_error must not see them. */
    ERR_clear_error();
    if (!k) {
        fcm_err(err, errcap, "service account: \"private_key\" is not an unencrypted PEM key");
        return NULL;
    }
    if (!EVP_PKEY_is_a(k, "RSA")) {
        fcm_err(err, errcap, "service account: \"private_key\" is not an RSA key (RS256)");
        EVP_PKEY_free(k);
        return NULL;
    }
    if (EVP_PKEY_get_bits(k) < FCM_RSA_MIN_BITS) {
        fcm_err(err, errcap, "service account: \"private_key\" has %d bits, fewer than %d",
                EVP_PKEY_get_bits(k), FCM_RSA_MIN_BITS);
        EVP_PKEY_free(k);
        return NULL;
    }
    return k;
}

/* A string field or NULL with the error written ("missing" and "not a string" told apart,
 * which is what someone staring at a hand-edited file needs). */
static const char *fcm_string_field(json_t *root, const char *name, char *err, size_t errcap)
{
    json_t *v = json_object_get(root, name);
    if (!v)
        fcm_err(err, errcap, "service account: \"%s\" is missing", name);
    else if (!json_is_string(v) || json_string_length(v) == 0)
        fcm_err(err, errcap, "service account: \"%s\" must be a non-empty string", name);
    else
        return json_string_value(v);
    return NULL;
}

/* The project id goes into the messages:send URL path unescaped: lowercase letters, digits,
 * '-' (plus '.' and ':' of the old domain-scoped ids), starting with a letter. */
static bool fcm_project_id_ok(const char *s)
{
    if (!islower((unsigned char)s[0]) || strlen(s) > 100)
        return false;
    for (const char *c = s; *c; c++)
        if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && !strchr("-.:", *c))
            return false;
    return true;
}

static int fcm_check_type(json_t *root, char *err, size_t errcap)
{
    const char *type = fcm_string_field(root, "type", err, errcap);
    if (type && strcmp(type, "service_account") != 0) {
        fcm_err(err, errcap, "service account: \"type\" is \"%.64s\", expected \"service_account\"",
                type);
        return -1;
    }
    return type ? 0 : -1;
}

static int fcm_check_strings(json_t *root, fcm_status *st, char *err, size_t errcap)
{
    const char *p = fcm_string_field(root, "project_id", err, errcap);
    *st = FCM_EPROJECT;
    if (!p)
        return -1;
    if (!fcm_project_id_ok(p)) {
        fcm_err(err, errcap, "service account: \"project_id\" \"%.64s\" is not a project id", p);
        return -1;
    }
    const char *e = fcm_string_field(root, "client_email", err, errcap);
    *st = FCM_EEMAIL;
    if (!e)
        return -1;
    if (!fcm_is_token_text(e) || !strchr(e, '@')) {
        fcm_err(err, errcap, "service account: \"client_email\" is not an e-mail address");
        return -1;
    }
    const char *t = fcm_string_field(root, "token_uri", err, errcap);
    *st = FCM_ETOKENURI;
    if (!t)
        return -1;
    if (!fcm_is_token_text(t) || strncmp(t, "https://", 8) != 0 || !t[8]) {
        fcm_err(err, errcap, "service account: \"token_uri\" must be an https:// URL");
        return -1;
    }
    *st = FCM_OK;
    return 0;
}

static fcm_account *fcm_account_build(json_t *root, char *err, size_t errcap)
{
    const char *pem = fcm_string_field(root, "private_key", err, errcap);
    EVP_PKEY *k = pem ? fcm_load_key(pem, err, errcap) : NULL;
    if (!k)
        return NULL;
    fcm_account *a = calloc(1, sizeof(*a));
    if (a) {
        a->key = k;
        a->project_id = strdup(json_string_value(json_object_get(root, "project_id")));
        a->client_email = strdup(json_string_value(json_object_get(root, "client_email")));
        a->token_uri = strdup(json_string_value(json_object_get(root, "token_uri")));
    }
    if (!a || !a->project_id || !a->client_email || !a->token_uri) {
        fcm_err(err, errcap, "service account: out of memory");
        if (a)
            fcm_account_free(a);
        else
            EVP_PKEY_free(k);
        return NULL;
    }
    return a;
}

fcm_account *fcm_account_parse(const char *json, size_t len, fcm_status *status, char *err,
                               size_t errcap)
{
    fcm_status st = FCM_EJSON;
    fcm_account *a = NULL;
    json_error_t jerr;
    json_t *root = json ? json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!root || !json_is_object(root)) {
        fcm_err(err, errcap, "service account: not a JSON object (%s)",
                root ? "top level is not an object" : json ? jerr.text : "no input");
    } else if (fcm_check_type(root, err, errcap) != 0) {
        st = FCM_ETYPE;
    } else if (fcm_check_strings(root, &st, err, errcap) == 0) {
        a = fcm_account_build(root, err, errcap);
        st = a ? FCM_OK : FCM_EKEY;
    }
    json_decref(root);
    if (status)
        *status = st;
    return a;
}

void fcm_account_free(fcm_account *a)
{
    if (!a)
        return;
    EVP_PKEY_free(a->key);
    free(a->project_id);
    free(a->client_email);
    free(a->token_uri);
    free(a);
}

const char *fcm_account_project_id(const fcm_account *a) { return a->project_id; }
const char *fcm_account_client_email(const fcm_account *a) { return a->client_email; }
const char *fcm_account_token_uri(const fcm_account *a) { return a->token_uri; }

/* ------------------------------------------------------------------------------------------ */
/* 2. OAuth assertion (RFC 7523: a JWT used as an authorization grant)                         */

static const char fcm_jwt_header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";

/* RS256 = RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 3.3), which is EVP's RSA default padding.
 * *sig is malloc'd. */
static int fcm_rs256(EVP_PKEY *k, const char *in, size_t n, uint8_t **sig, size_t *siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    *siglen = (size_t)EVP_PKEY_get_size(k);
    *sig = malloc(*siglen);
    int ok = md && *sig && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
             EVP_DigestSign(md, *sig, siglen, (const unsigned char *)in, n) == 1;
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    if (!ok) {
        free(*sig);
        *sig = NULL;
    }
    return ok ? 0 : -1;
}

/* Appends base64url(data) at out + *pos; the caller sized out for it. */
static void fcm_b64_append(char *out, size_t cap, size_t *pos, const void *data, size_t n)
{
    ssize_t w = b64url_encode(data, n, out + *pos, cap - *pos);
    *pos += (size_t)w;
}

static char *fcm_claims_json(const fcm_account *a, int64_t now)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", a->client_email, "scope", FCM_SCOPE,
                          "aud", a->token_uri, "iat", (json_int_t)now, "exp",
                          (json_int_t)(now + FCM_ASSERTION_LIFETIME_S));
    char *txt = c ? json_dumps(c, JSON_COMPACT) : NULL;
    json_decref(c);
    return txt;
}

char *fcm_assertion(const fcm_account *a, int64_t now, char *err, size_t errcap)
{
    char *claims = fcm_claims_json(a, now);
    if (!claims) {
        fcm_err(err, errcap, "assertion: out of memory");
        return NULL;
    }
    size_t hl = sizeof(fcm_jwt_header) - 1, cl = strlen(claims);
    size_t sigmax = (size_t)EVP_PKEY_get_size(a->key);
    size_t cap = b64url_encoded_len(hl) + b64url_encoded_len(cl) +
                 b64url_encoded_len(sigmax) + 3;
    char *out = malloc(cap);
    size_t pos = 0, siglen = 0;
    uint8_t *sig = NULL;
    if (out) {
        fcm_b64_append(out, cap, &pos, fcm_jwt_header, hl);
        out[pos++] = '.';
        fcm_b64_append(out, cap, &pos, claims, cl);
    }
    if (!out || fcm_rs256(a->key, out, pos, &sig, &siglen) != 0) {
        fcm_err(err, errcap, "assertion: RS256 signing failed");
        free(out);
        free(claims);
        return NULL;
    }
    out[pos++] = '.';
    fcm_b64_append(out, cap, &pos, sig, siglen);
    free(sig);
    free(claims);
    return out;
}

char *fcm_token_request_body(const char *assertion)
{
    static const char prefix[] =
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
    /* A JWS compact string is base64url and dots, all unreserved in a form body, so it needs
     * no escaping; anything else is a caller bug, refused rather than sent half-encoded. */
    if (!assertion || !*assertion ||
        strspn(assertion, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") !=
            strlen(assertion))
        return NULL;
    size_t n = sizeof(prefix) - 1 + strlen(assertion) + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s", prefix, assertion);
    return out;
}

/* ------------------------------------------------------------------------------------------ */
/* 3. access token                                                                              */

/* RFC 6750 2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool fcm_is_b64token(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/");
    if (n == 0)
        return false;
    return strspn(s + n, "=") == strlen(s + n);
}

int fcm_token_parse(const char *body, size_t len, int64_t now, fcm_token *out, char *err,
                    size_t errcap)
{
    json_t *root = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(root, "access_token"));
    const char *type = json_string_value(json_object_get(root, "token_type"));
    json_t *exp = json_object_get(root, "expires_in");
    int rc = FCM_ETOKEN;
    if (!json_is_object(root))
        fcm_err(err, errcap, "token response: not a JSON object");
    else if (!tok || !fcm_is_b64token(tok) || strlen(tok) > FCM_ACCESS_TOKEN_MAX)
        fcm_err(err, errcap, "token response: \"access_token\" missing or not a bearer token");
    else if (!type || strcasecmp(type, "Bearer") != 0)
        fcm_err(err, errcap, "token response: \"token_type\" is not \"Bearer\"");
    else if (!json_is_integer(exp) || json_integer_value(exp) <= 0 ||
             json_integer_value(exp) > INT32_MAX)
        fcm_err(err, errcap, "token response: \"expires_in\" is not a positive integer");
    else
        rc = FCM_OK;
    if (rc == FCM_OK) {
        strcpy(out->access_token, tok);
        out->expires_at = now + (int64_t)json_integer_value(exp);
    }
    json_decref(root);
    return rc;
}

bool fcm_token_fresh(const fcm_token *t, int64_t now)
{
    return t->access_token[0] != '\0' && now < t->expires_at - FCM_TOKEN_MARGIN_S;
}

/* ------------------------------------------------------------------------------------------ */
/* 4. messages                                                                                 */

char *fcm_send_url(const char *base, const char *project_id)
{
    if (!project_id || !*project_id)
        return NULL;
    if (!base || !*base)
        base = FCM_DEFAULT_ENDPOINT;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    size_t n = bl + strlen("/v1/projects/") + strlen(project_id) + strlen("/messages:send") + 1;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%.*s/v1/projects/%s/messages:send", (int)bl, base, project_id);
    return out;
}

size_t fcm_utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* s[n] is the first byte left out; if it continues a sequence, that sequence's lead byte
     * and the continuation bytes kept before the cut go too. Valid UTF-8 has at most 3. */
    for (int back = 0; back < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; back++)
        n--;
    return n;   /* more continuation bytes than that is invalid input, which jansson refuses */
}

/* "<prefix>-<id>" in buf, or -1 when it is longer than APNs allows. */
static int fcm_collapse_key(char *buf, const char *prefix, const char *id, char *err,
                            size_t errcap)
{
    int n = snprintf(buf, FCM_COLLAPSE_MAX + 1, "%s-%s", prefix, id);
    if (n < 0 || n > FCM_COLLAPSE_MAX) {
        fcm_err(err, errcap, "message: collapse key \"%s-<id>\" is longer than %d bytes", prefix,
                FCM_COLLAPSE_MAX);
        return -1;
    }
    return 0;
}

/* Sets obj[key] = v, stealing v even on failure (json_object_set_new's rule), so callers can
 * chain parts without tracking which of them exist. -1 if obj or v is NULL. */
static int fcm_set(json_t *obj, const char *key, json_t *v)
{
    if (!obj || !v) {
        json_decref(v);
        return -1;
    }
    return json_object_set_new(obj, key, v);
}

/* {"token", "data", "android", "apns"}; steals every part, NULL if one is NULL (a failed
 * json_pack: invalid UTF-8 in an input, or out of memory). */
static json_t *fcm_message_new(const char *token, json_t *data, json_t *android, json_t *apns)
{
    json_t *m = json_object();
    int bad = fcm_set(m, "token", json_string(token));
    bad |= fcm_set(m, "data", data);
    bad |= fcm_set(m, "android", android);
    bad |= fcm_set(m, "apns", apns);
    if (bad) {
        json_decref(m);
        return NULL;
    }
    return m;
}

/* Wraps m into {"message": m} and serialises it; steals m. */
static char *fcm_message_finish(json_t *m, char *err, size_t errcap)
{
    json_t *root = json_object();
    char *txt = fcm_set(root, "message", m) == 0 ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!txt)
        fcm_err(err, errcap, "message: a field is not valid UTF-8, or out of memory");
    return txt;
}

/* Steals notification (NULL: none). */
static json_t *fcm_android(const char *collapse, int ttl_s, json_t *notification)
{
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ds", ttl_s);   /* a protobuf Duration in JSON: "<s>s" */
    json_t *a = json_pack("{s:s, s:s, s:s}", "priority", "high", "ttl", ttl, "collapse_key",
                          collapse);
    if (notification && fcm_set(a, "notification", notification) != 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

/* APNs headers are strings; apns-expiration is the unix time after which APNs stops trying
 * (the counterpart of Android's ttl). Steals aps. */
static json_t *fcm_apns(const char *collapse, int64_t expires, json_t *aps)
{
    char exp[24];
    snprintf(exp, sizeof(exp), "%" PRId64, expires);
    json_t *apns = json_object(), *payload = json_object();
    int bad = fcm_set(payload, "aps", aps);
    bad |= fcm_set(apns, "headers",
                   json_pack("{s:s, s:s, s:s, s:s}", "apns-priority", "10", "apns-push-type",
                             "alert", "apns-collapse-id", collapse, "apns-expiration", exp));
    bad |= fcm_set(apns, "payload", payload);
    if (bad) {
        json_decref(apns);
        return NULL;
    }
    return apns;
}

static bool fcm_call_ok(const fcm_call_push *p, char *err, size_t errcap)
{
    if (!p || !p->token || !*p->token || !p->call_id || !*p->call_id || !p->caller_name ||
        !p->kind || !*p->kind || p->ttl_s <= 0) {
        fcm_err(err, errcap, "message: token, call_id, caller_name, kind and ttl_s are required");
        return false;
    }
    return true;
}

/* Both call messages share the Android and APNs framing; steals data and aps. */
static char *fcm_call_message(const fcm_call_push *p, const char *collapse, json_t *data,
                              json_t *aps, char *err, size_t errcap)
{
    json_t *android = fcm_android(collapse, p->ttl_s, NULL);
    json_t *apns = fcm_apns(collapse, p->now + p->ttl_s, aps);
    return fcm_message_finish(fcm_message_new(p->token, data, android, apns), err, errcap);
}

char *fcm_message_incoming_call(const fcm_call_push *p, char *err, size_t errcap)
{
    char collapse[FCM_COLLAPSE_MAX + 1];
    if (!fcm_call_ok(p, err, errcap) || fcm_collapse_key(collapse, "call", p->call_id, err,
                                                          errcap) != 0)
        return NULL;
    bool video = strcmp(p->kind, "video") == 0;
    /* Data values must all be strings in FCM v1 (a number is a 400 INVALID_ARGUMENT). */
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "incoming_call", "call_id",
                             p->call_id, "caller_name", p->caller_name, "caller_avatar",
                             p->caller_avatar ? p->caller_avatar : "", "kind", p->kind);
    json_t *aps = json_pack("{s:{s:s, s:s}, s:s, s:s}", "alert", "title", p->caller_name,
                            "body", video ? "Incoming video call" : "Incoming audio call",
                            "sound", "default", "interruption-level", "time-sensitive");
    return fcm_call_message(p, collapse, data, aps, err, errcap);
}

char *fcm_message_call_ended(const fcm_call_push *p, char *err, size_t errcap)
{
    char collapse[FCM_COLLAPSE_MAX + 1];
    if (!fcm_call_ok(p, err, errcap) || fcm_collapse_key(collapse, "call", p->call_id, err,
                                                          errcap) != 0)
        return NULL;
    json_t *data = json_pack("{s:s, s:s, s:s}", "type", "call_ended", "call_id", p->call_id,
                             "reason", p->reason ? p->reason : "");
    /* iOS shows what the app cannot cancel from the background, so the same collapse id
     * replaces the ringing alert with a quiet one; priority 10 because a background-only push
     * may not use it and would arrive late. */
    json_t *aps = json_pack("{s:{s:s, s:s}, s:s}", "alert", "title", p->caller_name, "body",
                            "Call ended", "interruption-level", "passive");
    return fcm_call_message(p, collapse, data, aps, err, errcap);
}

/* The body: NULL for none, else a malloc'd copy of text, cut with "…" past body_max. */
static char *fcm_chat_body(const fcm_chat_push *p, bool *oom)
{
    *oom = false;
    if (p->private_bodies || !p->text || !*p->text)
        return NULL;
    size_t max = p->body_max ? p->body_max : FCM_CHAT_BODY_DEFAULT;
    size_t len = strlen(p->text), keep = fcm_utf8_prefix(p->text, len, max);
    char *b = malloc(keep + sizeof("\u2026"));
    if (!b) {
        *oom = true;
        return NULL;
    }
    memcpy(b, p->text, keep);
    strcpy(b + keep, keep < len ? "\u2026" : "");
    return b;
}

static json_t *fcm_chat_notification(const fcm_chat_push *p, const char *body)
{
    json_t *n = json_pack("{s:s}", "title", p->sender_name);
    if (body && fcm_set(n, "body", json_string(body)) != 0) {
        json_decref(n);
        return NULL;
    }
    return n;
}

char *fcm_message_chat(const fcm_chat_push *p, char *err, size_t errcap)
{
    char collapse[FCM_COLLAPSE_MAX + 1];
    if (!p || !p->token || !*p->token || !p->room || !*p->room || !p->msg_id || !p->sender_name ||
        p->ttl_s <= 0) {
        fcm_err(err, errcap, "message: token, room, msg_id, sender_name and ttl_s are required");
        return NULL;
    }
    if (fcm_collapse_key(collapse, "chat", p->room, err, errcap) != 0)
        return NULL;
    bool oom;
    char *body = fcm_chat_body(p, &oom);
    if (oom) {
        fcm_err(err, errcap, "message: out of memory");
        return NULL;
    }
    json_t *data = json_pack("{s:s, s:s, s:s}", "type", "chat_message", "room", p->room,
                             "msg_id", p->msg_id);
    /* notification.tag replaces the conversation's previous notification in the Android
     * drawer; collapse_key only merges messages still waiting for an offline device. */
    json_t *tag = json_pack("{s:s}", "tag", collapse);
    json_t *aps = json_pack("{s:s, s:s}", "thread-id", collapse, "sound", "default");
    json_t *m = fcm_message_new(p->token, data, fcm_android(collapse, p->ttl_s, tag),
                                fcm_apns(collapse, p->now + p->ttl_s, aps));
    if (fcm_set(m, "notification", fcm_chat_notification(p, body)) != 0) {
        json_decref(m);
        m = NULL;
    }
    free(body);
    return fcm_message_finish(m, err, errcap);
}

/* ------------------------------------------------------------------------------------------ */
/* 5. classifying the answer                                                                   */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil):
 * pure arithmetic, so no timegm() and no dependence on the process's TZ. */
static int64_t fcm_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int fcm_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* IMF-fixdate, the only HTTP-date form a sender may generate: "Sun, 06 Nov 1994 08:49:37 GMT".
 * Returns unix seconds or -1. */
static int64_t fcm_http_date(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const char days[] = "MonTueWedThuFriSatSun";
    if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' || strcmp(s + 26, "GMT"))
        return -1;
    const char *dn = strstr(days, (char[4]){s[0], s[1], s[2], 0});
    const char *mn = strstr(months, (char[4]){s[8], s[9], s[10], 0});
    int day = fcm_digits(s + 5, 2), year = fcm_digits(s + 12, 4);
    int hh = fcm_digits(s + 17, 2), mm = fcm_digits(s + 20, 2), ss = fcm_digits(s + 23, 2);
    if (!dn || (dn - days) % 3 || !mn || (mn - months) % 3 || day < 1 || day > 31 ||
        year < 1970 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
        return -1;
    int64_t days_since = fcm_days_from_civil(year, (int)(mn - months) / 3 + 1, day);
    return days_since * 86400 + hh * 3600 + mm * 60 + ss;
}

int64_t fcm_retry_after_ms(const char *value, int64_t now_ms)
{
    if (!value)
        return -1;
    char v[64];
    while (*value == ' ' || *value == '\t')
        value++;
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(v))
        return -1;
    memcpy(v, value, n);
    v[n] = '\0';
    if (strspn(v, "0123456789") == n) {
        /* delta-seconds; a long run of digits is clamped rather than overflowed */
        int64_t s = n > 9 ? FCM_RETRY_AFTER_MAX_S : strtoll(v, NULL, 10);
        return (s > FCM_RETRY_AFTER_MAX_S ? FCM_RETRY_AFTER_MAX_S : s) * 1000;
    }
    int64_t at = fcm_http_date(v);
    if (at < 0)
        return -1;
    int64_t d = at * 1000 - now_ms;
    return d < 0 ? 0 : d;
}

int64_t fcm_backoff_ms(const fcm_retry_ctx *c)
{
    int64_t base = c->base_ms > 0 ? c->base_ms : FCM_BACKOFF_BASE_MS;
    int64_t cap = c->cap_ms > 0 ? c->cap_ms : FCM_BACKOFF_CAP_MS;
    int64_t d = base;
    for (int i = 0; i < c->attempt && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    /* Equal jitter: never less than half the step (so retries keep backing off) and spread
     * over the other half (so devices that failed together do not retry together). */
    int64_t half = d / 2;
    return half + (int64_t)(c->jitter % (uint64_t)(d - half + 1));
}

/* What an FCM v1 error body says: google.rpc.Status with typed details. Pointers point into
 * the parsed JSON. */
typedef struct fcm_error_info {
    const char *status;       /* error.status, e.g. "NOT_FOUND" */
    const char *code;         /* the FcmError detail's errorCode, e.g. "UNREGISTERED" */
    bool other_field;         /* a BadRequest detail blames a field other than message.token */
} fcm_error_info;

static bool fcm_type_is(json_t *detail, const char *suffix)
{
    const char *t = json_string_value(json_object_get(detail, "@type"));
    size_t tl = t ? strlen(t) : 0, sl = strlen(suffix);
    return tl >= sl && strcmp(t + tl - sl, suffix) == 0 && (tl == sl || t[tl - sl - 1] == '/');
}

static void fcm_read_bad_request(json_t *detail, fcm_error_info *e)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(detail, "fieldViolations"), i, v) {
        const char *field = json_string_value(json_object_get(v, "field"));
        if (!field || strcmp(field, "message.token") != 0)
            e->other_field = true;
    }
}

static void fcm_read_error(json_t *root, fcm_error_info *e)
{
    memset(e, 0, sizeof(*e));
    json_t *err = json_object_get(root, "error");
    e->status = json_string_value(json_object_get(err, "status"));
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(err, "details"), i, d) {
        if (fcm_type_is(d, "google.firebase.fcm.v1.FcmError") && !e->code)
            e->code = json_string_value(json_object_get(d, "errorCode"));
        else if (fcm_type_is(d, "google.rpc.BadRequest"))
            fcm_read_bad_request(d, e);
    }
}

/* Deleting a token is irreversible, so each code counts only with the HTTP status FCM pairs
 * it with: a 404 from a mistyped endpoint or a 400 about our own payload must not wipe tokens. */
static bool fcm_token_is_dead(int http, const fcm_error_info *e)
{
    if (!e->code)
        return false;
    if (http == 404 && strcmp(e->code, "UNREGISTERED") == 0)
        return true;
    if (http == 403 && strcmp(e->code, "SENDER_ID_MISMATCH") == 0)
        return true;
    return http == 400 && strcmp(e->code, "INVALID_ARGUMENT") == 0 && e->status &&
           strcmp(e->status, "INVALID_ARGUMENT") == 0 && !e->other_field;
}

static void fcm_schedule_retry(const char *retry_after, const fcm_retry_ctx *c, fcm_verdict *v)
{
    int64_t delay = fcm_retry_after_ms(retry_after, c->now_ms);
    if (delay < 0)
        delay = fcm_backoff_ms(c);
    v->retry_at_ms = c->now_ms + delay;
    /* A ring delivered after the ring timeout is noise: give up instead of retrying late,
     * even if that means ignoring a Retry-After we would otherwise honour. */
    v->past_deadline = v->retry_at_ms >= c->deadline_ms;
    v->outcome = v->past_deadline ? FCM_FAIL : FCM_RETRY;
}

static void fcm_classify_error(int http, json_t *root, const char *retry_after,
                               const fcm_retry_ctx *c, fcm_verdict *v)
{
    fcm_error_info e;
    fcm_read_error(root, &e);
    if (e.code || e.status)
        snprintf(v->reason, sizeof(v->reason), "%s", e.code ? e.code : e.status);
    else
        snprintf(v->reason, sizeof(v->reason), "http_%d", http);
    if (fcm_token_is_dead(http, &e))
        v->outcome = FCM_DROP_TOKEN;
    else if (http == 401)
        /* THIRD_PARTY_AUTH_ERROR is a 401 about the APNs / Web Push credentials configured in
         * Firebase: a new access token would fail the same way. */
        v->outcome = e.code && strcmp(e.code, "THIRD_PARTY_AUTH_ERROR") == 0 ? FCM_FAIL
                                                                             : FCM_AUTH_REFRESH;
    else if (http == 429 || (http >= 500 && http <= 599))
        fcm_schedule_retry(retry_after, c, v);
    else
        v->outcome = FCM_FAIL;
}

void fcm_classify(int http_status, const char *body, size_t len, const char *retry_after,
                  const fcm_retry_ctx *ctx, fcm_verdict *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (http_status >= 200 && http_status <= 299) {
        /* Delivered to FCM whatever the body says: retrying would ring twice. */
        out->outcome = FCM_SENT;
        const char *name = json_string_value(json_object_get(root, "name"));
        snprintf(out->name, sizeof(out->name), "%s", name ? name : "");
    } else {
        fcm_classify_error(http_status, root, retry_after, ctx, out);
    }
    json_decref(root);
}

const char *fcm_outcome_name(fcm_outcome o)
{
    switch (o) {
    case FCM_SENT: return "sent";
    case FCM_DROP_TOKEN: return "drop_token";
    case FCM_RETRY: return "retry";
    case FCM_AUTH_REFRESH: return "auth_refresh";
    case FCM_FAIL: return "fail";
    }
    return "unknown";
}
