/*
 * proto.c: parsing one textroom request (see proto.h).
 */
#include "proto.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    tr_verb verb;
} verbs[] = {
    {"join", TR_JOIN},         {"leave", TR_LEAVE}, {"message", TR_MESSAGE},
    {"delivered", TR_DELIVERED}, {"read", TR_READ},   {"list", TR_LIST},
    {"listparticipants", TR_LISTPARTICIPANTS},
};

__attribute__((format(printf, 3, 4)))
static int fail(tr_error *err, int code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

bool tr_is_uuid(const char *s)
{
    if (!s || strlen(s) != TR_UUID_LEN)
        return false;
    for (size_t i = 0; i < TR_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* A string member's text, or NULL when v is no string or holds a NUL (\u0000 is let through
 * json_loadb for `text`, where it is a 414 of its own; elsewhere it would cut the C string). */
static const char *plain_string(json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

static void copy_uuid_lower(char *dst, const char *src)
{
    for (size_t i = 0; i <= TR_UUID_LEN; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
}

/* Rooms are integers; janus_client may send them as strings of digits. */
static int read_room(json_t *root, int64_t *room, tr_error *err)
{
    json_t *v = json_object_get(root, "room");
    if (!v)
        return fail(err, TR_ERR_MISSING_ELEMENT, "Missing mandatory element (room)");
    long long n = 0;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (plain_string(v)) {
        const char *t = plain_string(v);
        char *end = NULL;
        n = *t && isdigit((unsigned char)*t) ? strtoll(t, &end, 10) : 0;
        if (!end || *end)
            n = 0;
    }
    if (n <= 0)
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (room should be a positive integer)");
    *room = n;
    return 0;
}

/* An optional non-negative integer member; -1 when present with another type. */
static int read_count(json_t *root, const char *key, bool *has, int64_t *out, tr_error *err)
{
    json_t *v = json_object_get(root, key);
    if (has)
        *has = v != NULL;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (%s should be a non-negative integer)", key);
    *out = json_integer_value(v);
    return 0;
}

static int parse_join(json_t *root, tr_request *r, tr_error *err)
{
    json_t *u = json_object_get(root, "username");
    if (!u)
        return fail(err, TR_ERR_MISSING_ELEMENT, "Missing mandatory element (username)");
    if (!plain_string(u) || json_string_length(u) == 0 || json_string_length(u) > 64)
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (username should be your user id)");
    r->username = strdup(json_string_value(u));
    int64_t history = 0;
    if (read_count(root, "since_seq", &r->has_since, &r->since_seq, err) != 0)
        return -1;
    /* Janus's join has "history" as a boolean (send the room's history or not). */
    json_t *h = json_object_get(root, "history");
    if (json_is_boolean(h))
        history = json_is_true(h) ? TR_HISTORY_MAX : 0;
    else if (read_count(root, "history", NULL, &history, err) != 0)
        return -1;
    r->history = history > TR_HISTORY_MAX ? TR_HISTORY_MAX : (int)history;
    return 0;
}

static int parse_message(json_t *root, tr_request *r, tr_error *err)
{
    json_t *t = json_object_get(root, "text");
    json_t *c = json_object_get(root, "client_id");
    if (!t || !c)
        return fail(err, TR_ERR_MISSING_ELEMENT, "Missing mandatory element (%s)", !t ? "text" : "client_id");
    if (!tr_is_uuid(plain_string(c)))
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (client_id should be a UUID)");
    if (!json_is_string(t))
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (text should be a string)");
    size_t n = json_string_length(t);
    if (n == 0 || n > TR_TEXT_MAX)
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (text must be 1..%d bytes, got %zu)", TR_TEXT_MAX, n);
    if (memchr(json_string_value(t), '\0', n))
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (text contains NUL)");
    copy_uuid_lower(r->client_id, json_string_value(c));
    r->text = malloc(n + 1);
    memcpy(r->text, json_string_value(t), n + 1);
    r->text_len = n;
    json_t *d = json_object_get(root, "client_date");
    if (d) {
        if (!json_is_integer(d))
            return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (client_date should be Unix milliseconds)");
        r->has_client_date = true;
        r->client_date = json_integer_value(d);
    }
    json_t *ack = json_object_get(root, "ack");
    if (ack && !json_is_boolean(ack))
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (ack should be a boolean)");
    r->ack = !ack || json_is_true(ack);
    /* Janus's private messages: a conversation has two people, so there is nobody to whisper to. */
    if (json_object_get(root, "to") || json_object_get(root, "tos"))
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (to/tos: a conversation has no private messages)");
    return 0;
}

static int parse_delivered(json_t *root, tr_request *r, tr_error *err)
{
    json_t *m = json_object_get(root, "msg_id");
    if (!m)
        return fail(err, TR_ERR_MISSING_ELEMENT, "Missing mandatory element (msg_id)");
    if (!tr_is_uuid(plain_string(m)))
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (msg_id should be a UUID)");
    copy_uuid_lower(r->msg_id, json_string_value(m));
    return 0;
}

static int parse_read(json_t *root, tr_request *r, tr_error *err)
{
    bool has = false;
    if (read_count(root, "up_to_seq", &has, &r->up_to_seq, err) != 0)
        return -1;
    return has ? 0 : fail(err, TR_ERR_MISSING_ELEMENT, "Missing mandatory element (up_to_seq)");
}

static int parse_verb(json_t *root, tr_request *r, tr_error *err)
{
    json_t *v = json_object_get(root, "textroom");
    if (!v)
        return fail(err, TR_ERR_MISSING_ELEMENT, "Missing mandatory element (textroom)");
    if (!plain_string(v))
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (textroom should be a string)");
    for (size_t i = 0; i < sizeof verbs / sizeof *verbs; i++)
        if (strcmp(json_string_value(v), verbs[i].name) == 0) {
            r->verb = verbs[i].verb;
            return 0;
        }
    return fail(err, TR_ERR_INVALID_REQUEST, "Unsupported request '%.40s'", json_string_value(v));
}

static int parse_transaction(json_t *root, tr_request *r, tr_error *err)
{
    json_t *t = json_object_get(root, "transaction");
    if (!t) {
        /* janus_client sends leave without one; receipts are fire-and-forget. */
        bool optional = r->verb == TR_LEAVE || r->verb == TR_DELIVERED || r->verb == TR_READ;
        return optional ? 0 : fail(err, TR_ERR_MISSING_ELEMENT, "Missing mandatory element (transaction)");
    }
    if (!plain_string(t) || json_string_length(t) == 0 || json_string_length(t) > TR_TRANSACTION_MAX)
        return fail(err, TR_ERR_INVALID_ELEMENT, "Invalid element (transaction should be a string of 1..%d bytes)",
                    TR_TRANSACTION_MAX);
    r->transaction = strdup(json_string_value(t));
    return 0;
}

/* The transaction for the error reply, read before anything else is checked, so that every
 * error after a good parse can be matched to its request (as Janus's textroom does). */
static void note_transaction(json_t *root, tr_error *err)
{
    json_t *t = json_object_get(root, "transaction");
    if (plain_string(t) && json_string_length(t) > 0 && json_string_length(t) <= TR_TRANSACTION_MAX)
        err->transaction = strdup(json_string_value(t));
}

static int parse_object(json_t *root, tr_request *r, tr_error *err)
{
    note_transaction(root, err);
    if (parse_verb(root, r, err) != 0 || parse_transaction(root, r, err) != 0)
        return -1;
    if (r->verb != TR_LIST && read_room(root, &r->room, err) != 0)
        return -1;
    switch (r->verb) {
    case TR_JOIN:
        return parse_join(root, r, err);
    case TR_MESSAGE:
        return parse_message(root, r, err);
    case TR_DELIVERED:
        return parse_delivered(root, r, err);
    case TR_READ:
        return parse_read(root, r, err);
    case TR_LEAVE:
    case TR_LIST:
    case TR_LISTPARTICIPANTS:
        return 0;
    }
    return fail(err, TR_ERR_INVALID_REQUEST, "Unsupported request");
}

int tr_parse(const uint8_t *buf, size_t len, tr_request *out, tr_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (!buf || len == 0)
        return fail(err, TR_ERR_NO_MESSAGE, "No message");
    if (len > TR_REQUEST_MAX)
        return fail(err, TR_ERR_INVALID_ELEMENT, "Request too large (%zu bytes, at most %d)", len, TR_REQUEST_MAX);
    json_error_t jerr;
    /* jansson refuses invalid UTF-8 and lone surrogates; \u0000 is allowed here so that a NUL in
     * the text is a 414 (invalid element), and refused in every other string (plain_string). */
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root)
        return fail(err, TR_ERR_INVALID_JSON, "JSON error: %.100s", jerr.text);
    int rc = json_is_object(root) ? parse_object(root, out, err) : fail(err, TR_ERR_INVALID_JSON, "JSON error: not an object");
    json_decref(root);
    return rc;
}

void tr_request_clear(tr_request *r)
{
    free(r->transaction);
    free(r->username);
    free(r->text);
    memset(r, 0, sizeof *r);
}

void tr_error_clear(tr_error *e)
{
    free(e->transaction);
    e->transaction = NULL;
}
