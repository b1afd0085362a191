/*
 * chat_ops: the chat plugin's operations (platform.h, platform_chat_submit / _run): op JSON
 * in, one store unit of chat.c, result JSON out — plus what runs before a unit is queued
 * (field rules, the per-sender rate limit) and the listener REST changes are told to.
 *
 * Field rules, the same for REST (chat_rest.c) and the channel: text is 1..4096 bytes of
 * valid UTF-8 without NUL; client_id is a UUID (any case, kept in lower case, so a retry in
 * another case is the same message); client_date, when given, is within 5 minutes of the
 * server's clock. A refusal is {"ok":false,"reason":"invalid","field":...,"message":...}.
 *
 * Rate limit: one token bucket per sender (ratelimit.c), chat.rate_per_s sustained and
 * chat.burst deep, taken by every send that passed the field rules — a replayed client_id
 * too, since a retry costs the server as much as a message.
 *
 * Threads: any but the storage thread for submit/run. The listener is read under a small
 * lock and called after it is released, so a listener may call back into the platform.
 */
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/validate.h"
#include "util/log.h"

const char *const chat_op_names[] = {"join",   "send",           "history",  "delivered",
                                     "read",   "unread",         "delivered_many", "send_many"};
#define CHAT_OPS (sizeof chat_op_names / sizeof *chat_op_names)
#define CHAT_RATE_KEYS 100000

struct api_chat {
    ratelimit_t *limiter;          /* NULL: no limit (chat.rate_per_s = 0) */
    pthread_mutex_t mu;            /* guards the listener pair */
    void (*listener)(void *user, const char *event_json);
    void *listener_user;
};

/* ---- field rules ---- */

bool chat_uuid_normalize(const char *in, char out[CHAT_UUID_LEN + 1])
{
    return validate_uuid(in, out) == 0;
}

/* Length of the UTF-8 sequence starting at s (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

bool chat_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* A version-7 UUID (RFC 9562): the server's time in ms, then 74 bits from the CSPRNG, so
 * msg_ids are not guessable from one another. Time-ordered on purpose: the unique index on
 * msg_id and the ledger's on its charge key msg:<msg_id> then take each new message on their
 * last leaf page, where random (version-4) ids put every message on another page of each,
 * two more pages written to the WAL per message. */
static void make_msg_id(char out[CHAT_UUID_LEN + 1], int64_t now_ms)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {   /* the platform's policy: no ids without entropy */
        LOG_ERROR("chat", "RAND_bytes failed");
        abort();
    }
    uint64_t ms = now_ms > 0 ? (uint64_t)now_ms : 0;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, CHAT_UUID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

chat_bad chat_send_fields(chat_unit *u, const char *client_id, const char *text, size_t len, bool has_client_date,
                          int64_t client_date, int64_t now_ms)
{
    if (!text || len == 0 || len > CHAT_TEXT_MAX || memchr(text, '\0', len) || !chat_utf8_valid(text, len))
        return CHAT_BAD_TEXT;
    if (!chat_uuid_normalize(client_id, u->client_id))
        return CHAT_BAD_CLIENT_ID;
    if (has_client_date && (client_date < now_ms - CHAT_SKEW_MAX_MS || client_date > now_ms + CHAT_SKEW_MAX_MS))
        return CHAT_BAD_CLIENT_DATE;
    free(u->text);
    if (!(u->text = malloc(len + 1)))
        return CHAT_BAD_TEXT;
    memcpy(u->text, text, len);
    u->text[len] = '\0';
    u->text_len = len;
    u->has_client_date = has_client_date;
    u->client_date = client_date;
    make_msg_id(u->msg_id, now_ms);
    return CHAT_FIELDS_OK;
}

/* ---- op JSON ---- */

typedef struct op_refusal {
    const char *field;     /* NULL: not about one field */
    char message[192];
} op_refusal;

static int refuse_field(op_refusal *why, const char *field, const char *message)
{
    why->field = field;
    snprintf(why->message, sizeof why->message, "%s", message);
    return -1;
}

static int get_int(json_t *b, const char *name, bool required, int64_t min, int64_t *out, op_refusal *why)
{
    api_error err = {0};
    if (apijson_int(b, name, required, min, INT64_MAX, out, NULL, &err) != 0)
        return refuse_field(why, name, err.message);
    return 0;
}

static int parse_send(json_t *b, chat_unit *u, op_refusal *why)
{
    json_t *text = json_object_get(b, "text");
    json_t *cd = json_object_get(b, "client_date");
    bool has_cd = cd && !json_is_null(cd);
    if (has_cd && !json_is_integer(cd))
        return refuse_field(why, "client_date", "client_date must be an integer (Unix ms)");
    if (!json_is_string(text))
        return refuse_field(why, "text", "text must be a string");
    switch (chat_send_fields(u, json_string_value(json_object_get(b, "client_id")), json_string_value(text),
                             json_string_length(text), has_cd, has_cd ? json_integer_value(cd) : 0,
                             store_now_ms())) {
    case CHAT_FIELDS_OK: return 0;
    case CHAT_BAD_TEXT: return refuse_field(why, "text", "text must be 1..4096 bytes of UTF-8 without NUL");
    case CHAT_BAD_CLIENT_ID: return refuse_field(why, "client_id", "client_id must be a UUID");
    case CHAT_BAD_CLIENT_DATE: return refuse_field(why, "client_date", "client_date is more than 5 min off");
    }
    return -1;
}

/* {"receipts":[{"room","user_id","msg_id"},...]}: 1..CHAT_RECEIPTS_MAX of them. */
static int parse_receipts(json_t *b, chat_unit *u, op_refusal *why)
{
    json_t *list = json_object_get(b, "receipts");
    size_t n = json_array_size(list);
    if (n == 0 || n > CHAT_RECEIPTS_MAX)
        return refuse_field(why, "receipts", "receipts must be an array of 1..512 receipts");
    if (!(u->receipts = calloc(n, sizeof *u->receipts)))
        return refuse_field(why, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(list, i);
        chat_receipt *c = &u->receipts[i];
        if (get_int(r, "room", true, 1, &c->room, why) || get_int(r, "user_id", true, 1, &c->user, why))
            return -1;
        if (!chat_uuid_normalize(json_string_value(json_object_get(r, "msg_id")), c->msg_id))
            return refuse_field(why, "msg_id", "msg_id must be a UUID");
    }
    u->nreceipts = n;
    return 0;
}

static int parse_fields(json_t *b, chat_unit *u, op_refusal *why);
static json_t *refusal_json(const op_refusal *why);

/* {"sends":[{"room","sender_id","client_id","text","client_date"?},...]}: 1..CHAT_SENDS_MAX
 * messages. Each is a send unit of its own; one whose fields are refused keeps its refusal
 * as its answer and the others go on, as each would alone. */
static int parse_sends(platform_t *p, json_t *b, chat_unit *u, op_refusal *why)
{
    json_t *list = json_object_get(b, "sends");
    size_t n = json_array_size(list);
    if (n == 0 || n > CHAT_SENDS_MAX)
        return refuse_field(why, "sends", "sends must be an array of 1..512 messages");
    if (!(u->sends = calloc(n, sizeof *u->sends)) || !(u->answers = calloc(n, sizeof *u->answers)))
        return refuse_field(why, NULL, "out of memory");
    u->nsends = n;
    for (size_t i = 0; i < n; i++) {
        json_t *one = json_array_get(list, i);
        chat_unit *m = chat_unit_new(p, CHAT_SEND);
        if (!m)
            return refuse_field(why, NULL, "out of memory");
        op_refusal w = {0};
        if (!json_is_object(one) ? refuse_field(&w, NULL, "not a JSON object") : parse_fields(one, m, &w)) {
            api_op_free(&m->base);
            if (!(u->answers[i] = refusal_json(&w)))
                return refuse_field(why, NULL, "out of memory");
        } else {
            u->sends[i] = m;
        }
    }
    return 0;
}

static int parse_fields(json_t *b, chat_unit *u, op_refusal *why)
{
    if (u->op == CHAT_DELIVERED_MANY)
        return parse_receipts(b, u, why);
    const char *user_field = u->op == CHAT_SEND ? "sender_id" : "user_id";
    if (get_int(b, user_field, true, 1, &u->user, why) || (u->op != CHAT_UNREAD && get_int(b, "room", true, 1, &u->room, why)))
        return -1;
    switch (u->op) {
    case CHAT_SEND: return parse_send(b, u, why);
    case CHAT_HISTORY:
        if (get_int(b, "after_seq", false, 0, &u->after_seq, why) || get_int(b, "limit", false, 0, &u->limit, why))
            return -1;
        if (u->limit > CHAT_HISTORY_MAX)   /* absent: chat_unit_new's maximum stays */
            u->limit = CHAT_HISTORY_MAX;
        return 0;
    case CHAT_DELIVERED:
        return chat_uuid_normalize(json_string_value(json_object_get(b, "msg_id")), u->msg_id)
                   ? 0 : refuse_field(why, "msg_id", "msg_id must be a UUID");
    case CHAT_READ: return get_int(b, "up_to_seq", true, 0, &u->up_to_seq, why);
    default: return 0;
    }
}

static chat_unit *op_parse(platform_t *p, const char *op_json, op_refusal *why)
{
    json_t *b = op_json ? json_loads(op_json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL) : NULL;
    const char *name = json_string_value(json_object_get(b, "op"));
    size_t i = 0;
    while (name && i < CHAT_OPS && strcmp(chat_op_names[i], name) != 0)
        i++;
    chat_unit *u = NULL;
    if (!json_is_object(b))
        refuse_field(why, NULL, "not a JSON object");
    else if (!name || i == CHAT_OPS)
        refuse_field(why, "op", "unknown op");
    else if (!(u = chat_unit_new(p, (chat_opcode)i)))
        refuse_field(why, NULL, "out of memory");
    else if ((u->op == CHAT_SEND_MANY ? parse_sends(p, b, u, why) : parse_fields(b, u, why)) != 0) {
        api_op_free(&u->base);
        u = NULL;
    }
    json_decref(b);
    return u;
}

static json_t *refusal_json(const op_refusal *why)
{
    json_t *o = json_pack("{s:b,s:s,s:s}", "ok", 0, "reason", "invalid", "message", why->message);
    if (o && why->field)
        json_object_set_new(o, "field", json_string(why->field));
    return o;
}

static char *refusal_text(const op_refusal *why)
{
    json_t *o = refusal_json(why);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text ? text : api_op_invalid(why->message);
}

static char *rate_limited_text(int64_t wait_ms)
{
    char text[160];
    snprintf(text, sizeof text, "{\"ok\":false,\"reason\":\"rate_limited\",\"message\":\"too many messages\","
             "\"retry_after_ms\":%" PRId64 "}", wait_ms);
    return strdup(text);
}

/* The unit to queue, or NULL with the answer (malloc'd) in *answer: refused fields or the
 * rate limit, both decided before any storage work. */
static chat_unit *op_admit(platform_t *p, const char *op_json, char **answer)
{
    op_refusal why = {0};
    chat_unit *u = op_parse(p, op_json, &why);
    if (!u) {
        LOG_DEBUG("chat", "operation refused: %s: %.200s", why.message, op_json ? op_json : "(null)");
        *answer = refusal_text(&why);
        return NULL;
    }
    /* send_many: each message takes its sender's token, as it would alone; one over the
     * limit is answered so and never reaches the store. */
    for (size_t i = 0; u->op == CHAT_SEND_MANY && i < u->nsends; i++) {
        int64_t w = u->sends[i] ? api_chat_rate_take(p->chat, u->sends[i]->user) : 0;
        if (w > 0) {
            api_op_free(&u->sends[i]->base);
            u->sends[i] = NULL;
            u->answers[i] = json_pack("{s:b,s:s,s:s,s:I}", "ok", 0, "reason", "rate_limited", "message",
                                      "too many messages", "retry_after_ms", (json_int_t)w);
        }
    }
    int64_t wait = u->op == CHAT_SEND ? api_chat_rate_take(p->chat, u->user) : 0;
    if (wait > 0) {
        api_op_free(&u->base);
        *answer = rate_limited_text(wait);
        return NULL;
    }
    return u;
}

char *platform_chat_run(platform_t *p, const char *op_json)
{
    if (!p)
        return NULL;
    char *answer = NULL;
    chat_unit *u = op_admit(p, op_json, &answer);
    return u ? api_op_run(p->store, &u->base) : answer;
}

int platform_chat_submit(platform_t *p, const char *op_json, void (*done)(void *arg, const char *result_json),
                         void *arg)
{
    return api_submit_text(platform_chat_submit_deferred, p, op_json, done, arg);
}

int platform_chat_submit_deferred(platform_t *p, const char *op_json, platform_deferred_fn done, void *arg)
{
    if (!p || !done)
        return -1;
    char *answer = NULL;
    chat_unit *u = op_admit(p, op_json, &answer);
    if (!u) {   /* answered on the caller's thread, on the same path as any outcome */
        api_op_answer_now(done, arg, answer);
        return 0;
    }
    return api_op_submit(p->store, &u->base, done, arg);
}

/* ---- limiter and listener ---- */

api_chat *api_chat_create(int rate_per_s, int burst)
{
    api_chat *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    if (rate_per_s > 0) {
        if (burst < 1)
            burst = rate_per_s;
        /* burst tokens refilled in burst / rate seconds = rate tokens per second */
        int64_t window_ms = (int64_t)burst * 1000 / rate_per_s;
        if (!(c->limiter = ratelimit_create_window(burst, window_ms > 0 ? window_ms : 1, CHAT_RATE_KEYS))) {
            api_chat_destroy(c);
            return NULL;
        }
    }
    return c;
}

void api_chat_destroy(api_chat *c)
{
    if (!c)
        return;
    ratelimit_destroy(c->limiter);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int64_t api_chat_rate_take(api_chat *c, int64_t sender)
{
    if (!c || !c->limiter)
        return 0;
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, sender);
    return ratelimit_take_ms(c->limiter, key, api_monotonic_ms());
}

void api_chat_notify(api_chat *c, json_t *event)
{
    pthread_mutex_lock(&c->mu);
    void (*fn)(void *, const char *) = c->listener;
    void *user = c->listener_user;
    pthread_mutex_unlock(&c->mu);
    char *text = fn && event ? json_dumps(event, JSON_COMPACT) : NULL;
    json_decref(event);
    if (text)
        fn(user, text);
    free(text);
}

void platform_set_chat_listener(platform_t *p, void (*fn)(void *user, const char *event_json), void *user)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->chat->mu);
    p->chat->listener = fn;
    p->chat->listener_user = user;
    pthread_mutex_unlock(&p->chat->mu);
}
