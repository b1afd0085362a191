/*
 * test_chat_proto.c: the chat plugin's pure parts — tr_parse (plugins/chat/proto.c: every
 * verb, every error path 411-415, Janus's leniencies, the text limits and the UTF-8 rules) and
 * the rooms table (plugins/chat/rooms.c: join/leave, the deferred live messages of a device
 * catching up, growth past many rooms). No core, no threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#include "chat/proto.h"
#include "chat/rooms.h"

/* ---- tr_parse ---- */

static tr_request req;
static tr_error err;

/* Parses text (len bytes); returns 0 or the error code. req/err keep the outcome until the
 * next call. */
static int parse_n(const char *text, size_t len)
{
    tr_request_clear(&req);
    tr_error_clear(&err);
    int rc = tr_parse((const uint8_t *)text, len, &req, &err);
    CHECK(rc == 0 ? err.code == 0 : err.code != 0);
    return rc == 0 ? 0 : err.code;
}

static int parse(const char *text) { return parse_n(text, strlen(text)); }

static void test_verbs(void)
{
    CHECK_INT(parse("{\"textroom\":\"join\",\"transaction\":\"t1\",\"room\":42,\"username\":\"7\"}"), 0);
    CHECK_INT(req.verb, TR_JOIN);
    CHECK_STR(req.transaction, "t1");
    CHECK_INT(req.room, 42);
    CHECK_STR(req.username, "7");
    CHECK(!req.has_since);
    CHECK_INT(req.history, 0);

    CHECK_INT(parse("{\"textroom\":\"join\",\"transaction\":\"t\",\"room\":1,\"username\":\"7\",\"since_seq\":9,"
                    "\"history\":3}"), 0);
    CHECK(req.has_since);
    CHECK_INT(req.since_seq, 9);
    CHECK_INT(req.history, 3);

    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t2\",\"room\":5,\"text\":\"hello\","
                    "\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 0);
    CHECK_INT(req.verb, TR_MESSAGE);
    CHECK_INT(req.room, 5);
    CHECK_STR(req.text, "hello");
    CHECK_INT(req.text_len, 5);
    CHECK_STR(req.client_id, "0c7a4a2e-1b2c-4d3e-8f40-123456789abc");
    CHECK(req.ack); /* default */
    CHECK(!req.has_client_date);

    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":\"x\",\"ack\":false,"
                    "\"client_date\":1796440000123,\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 0);
    CHECK(!req.ack);
    CHECK(req.has_client_date);
    CHECK_INT(req.client_date, 1796440000123);

    CHECK_INT(parse("{\"textroom\":\"delivered\",\"transaction\":\"t\",\"room\":5,"
                    "\"msg_id\":\"0C7A4A2E-1B2C-4D3E-8F40-123456789ABC\"}"), 0);
    CHECK_INT(req.verb, TR_DELIVERED);
    CHECK_STR(req.msg_id, "0c7a4a2e-1b2c-4d3e-8f40-123456789abc");

    CHECK_INT(parse("{\"textroom\":\"read\",\"transaction\":\"t\",\"room\":5,\"up_to_seq\":17}"), 0);
    CHECK_INT(req.verb, TR_READ);
    CHECK_INT(req.up_to_seq, 17);
    CHECK_INT(parse("{\"textroom\":\"read\",\"transaction\":\"t\",\"room\":5,\"up_to_seq\":0}"), 0);

    CHECK_INT(parse("{\"textroom\":\"leave\",\"transaction\":\"t\",\"room\":5}"), 0);
    CHECK_INT(req.verb, TR_LEAVE);
    CHECK_STR(req.transaction, "t");

    CHECK_INT(parse("{\"textroom\":\"list\",\"transaction\":\"t\"}"), 0);
    CHECK_INT(req.verb, TR_LIST);
    CHECK_INT(req.room, 0);

    CHECK_INT(parse("{\"textroom\":\"listparticipants\",\"transaction\":\"t\",\"room\":5}"), 0);
    CHECK_INT(req.verb, TR_LISTPARTICIPANTS);
    CHECK_INT(req.room, 5);
}

static void test_leniency(void)
{
    /* janus_client's leave has no transaction; receipts are fire-and-forget. */
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":5}"), 0);
    CHECK_INT(req.verb, TR_LEAVE);
    CHECK(req.transaction == NULL);
    CHECK_INT(parse("{\"textroom\":\"delivered\",\"room\":5,\"msg_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 0);
    CHECK(req.transaction == NULL);
    CHECK_INT(parse("{\"textroom\":\"read\",\"room\":5,\"up_to_seq\":1}"), 0);
    /* ...but the others need one. */
    CHECK_INT(parse("{\"textroom\":\"join\",\"room\":5,\"username\":\"7\"}"), 413);
    CHECK_INT(parse("{\"textroom\":\"message\",\"room\":5,\"text\":\"x\","
                    "\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 413);
    CHECK_INT(parse("{\"textroom\":\"list\"}"), 413);
    CHECK_INT(parse("{\"textroom\":\"listparticipants\",\"room\":5}"), 413);

    /* Rooms as strings of digits (janus_client), nothing else. */
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":\"1234\"}"), 0);
    CHECK_INT(req.room, 1234);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":\"12a\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":\"\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":\"-3\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":\" 3\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":\"0\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":0}"), 414);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":-5}"), 414);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":1.5}"), 414);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":true}"), 414);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":\"12\\u0000\"}"), 414);

    /* Janus's history is a boolean; ours may be a count (capped). */
#define JOIN_WITH_HISTORY(h) "{\"textroom\":\"join\",\"transaction\":\"t\",\"room\":1,\"username\":\"7\",\"history\":" h "}"
    CHECK_INT(parse(JOIN_WITH_HISTORY("true")), 0);
    CHECK_INT(req.history, TR_HISTORY_MAX);
    CHECK_INT(parse(JOIN_WITH_HISTORY("false")), 0);
    CHECK_INT(req.history, 0);
    CHECK_INT(parse(JOIN_WITH_HISTORY("12")), 0);
    CHECK_INT(req.history, 12);
    CHECK_INT(parse(JOIN_WITH_HISTORY("100000")), 0);
    CHECK_INT(req.history, TR_HISTORY_MAX);
    CHECK_INT(parse(JOIN_WITH_HISTORY("-1")), 414);
    CHECK_INT(parse(JOIN_WITH_HISTORY("\"5\"")), 414);
    CHECK_INT(parse("{\"textroom\":\"join\",\"transaction\":\"t\",\"room\":1,\"username\":\"7\",\"since_seq\":-1}"), 414);
    CHECK_INT(parse("{\"textroom\":\"join\",\"transaction\":\"t\",\"room\":1,\"username\":\"7\",\"since_seq\":\"1\"}"),
              414);

    /* client_id: any case in, lower case out. */
    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":\"x\","
                    "\"client_id\":\"ABCDEF01-ABCD-4BCD-ABCD-ABCDEF012345\"}"), 0);
    CHECK_STR(req.client_id, "abcdef01-abcd-4bcd-abcd-abcdef012345");
}

/* A message request with text as given (already JSON-escaped) and a good client_id. */
static int parse_text(const char *escaped)
{
    size_t n = strlen(escaped) + 200;
    char *buf = malloc(n);
    snprintf(buf, n, "{\"textroom\":\"message\",\"transaction\":\"tx\",\"room\":5,\"text\":\"%s\","
                     "\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}", escaped);
    int rc = parse(buf);
    free(buf);
    return rc;
}

static void test_text(void)
{
    char *s = malloc(4 * TR_TEXT_MAX + 16);
    /* 4096 bytes: the most; 4097: one too many. */
    memset(s, 'x', TR_TEXT_MAX);
    s[TR_TEXT_MAX] = '\0';
    CHECK_INT(parse_text(s), 0);
    CHECK_INT(req.text_len, TR_TEXT_MAX);
    strcat(s, "x");
    CHECK_INT(parse_text(s), 414);
    CHECK_STR(err.transaction, "tx");
    /* Counted in bytes of UTF-8: 2048 two-byte characters fit, 2049 do not. */
    s[0] = '\0';
    for (int i = 0; i < TR_TEXT_MAX / 2; i++)
        strcat(s, "\xc3\xa9");
    CHECK_INT(parse_text(s), 0);
    CHECK_INT(req.text_len, TR_TEXT_MAX);
    strcat(s, "\xc3\xa9");
    CHECK_INT(parse_text(s), 414);
    /* The same as escapes: \u00e9 is two bytes too. */
    s[0] = '\0';
    for (int i = 0; i < TR_TEXT_MAX / 2; i++)
        strcat(s, "\\u00e9");
    CHECK_INT(parse_text(s), 0);
    CHECK_INT(req.text_len, TR_TEXT_MAX);
    free(s);
    /* Empty, not a string. */
    CHECK_INT(parse_text(""), 414);
    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":7,"
                    "\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 414);
    /* A 4-byte character and a good surrogate pair are fine. */
    CHECK_INT(parse_text("\xf0\x9f\x98\x80 \\ud83d\\ude00"), 0);
    CHECK_INT(req.text_len, 9);
    CHECK(memcmp(req.text, "\xf0\x9f\x98\x80 \xf0\x9f\x98\x80", 9) == 0);

    /* A NUL in the text: an invalid element (414), not invalid JSON. */
    CHECK_INT(parse_text("a\\u0000b"), 414);
    CHECK_STR(err.transaction, "tx");
    /* Invalid UTF-8 (a stray byte, an overlong form, an encoded surrogate) and a lone
     * surrogate escape: not JSON to us (412), whatever element they are in. */
    CHECK_INT(parse_text("a\xff" "b"), 412);
    CHECK_INT(parse_text("a\xc0\xaf" "b"), 412);
    CHECK_INT(parse_text("a\xed\xa0\x80" "b"), 412);
    CHECK_INT(parse_text("a\xe2\x82"), 412); /* truncated */
    CHECK_INT(parse_text("a\\ud800b"), 412);
    CHECK_INT(parse_text("a\\udc00"), 412);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":5,\"transaction\":\"\xff\"}"), 412);
}

static void test_errors(void)
{
    /* 411: nothing. */
    CHECK_INT(parse_n("", 0), 411);
    tr_request_clear(&req);
    tr_error_clear(&err);
    CHECK_INT(tr_parse(NULL, 5, &req, &err), -1);
    CHECK_INT(err.code, 411);

    /* 412: not JSON, not an object, duplicate keys, trailing garbage. */
    CHECK_INT(parse("{\"textroom\":\"message\", this is not json"), 412);
    CHECK(err.transaction == NULL);
    CHECK(err.message[0] != '\0');
    CHECK_INT(parse("[1,2,3]"), 412);
    CHECK_INT(parse("\"join\""), 412);
    CHECK_INT(parse("null"), 412);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":1,\"room\":2}"), 412);
    CHECK_INT(parse("{\"textroom\":\"leave\",\"room\":1} {}"), 412);
    /* Not NUL-terminated: only len bytes are read. */
    CHECK_INT(parse_n("{\"textroom\":\"leave\",\"room\":1}GARBAGE", 29), 0);
    CHECK_INT(parse_n("{\"textroom\":\"leave\",\"room\":1}", 20), 412);

    /* 413: a mandatory element missing (and the transaction still reported). */
    CHECK_INT(parse("{\"transaction\":\"t9\",\"room\":5}"), 413);
    CHECK_STR(err.transaction, "t9");
    CHECK_INT(parse("{\"textroom\":\"leave\"}"), 413);
    CHECK_INT(parse("{\"textroom\":\"join\",\"transaction\":\"t\",\"room\":5}"), 413);
    CHECK_STR(err.transaction, "t");
    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":\"x\"}"), 413);
    CHECK(strstr(err.message, "client_id") != NULL);
    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,"
                    "\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 413);
    CHECK(strstr(err.message, "text") != NULL);
    CHECK_INT(parse("{\"textroom\":\"delivered\",\"room\":5}"), 413);
    CHECK_INT(parse("{\"textroom\":\"read\",\"room\":5}"), 413);

    /* 414: an element of the wrong type or shape. */
    CHECK_INT(parse("{\"textroom\":7,\"transaction\":\"t\"}"), 414);
    CHECK_STR(err.transaction, "t");
    CHECK_INT(parse("{\"textroom\":\"list\",\"transaction\":7}"), 414);
    CHECK(err.transaction == NULL);
    CHECK_INT(parse("{\"textroom\":\"list\",\"transaction\":\"\"}"), 414);
    char tx[TR_TRANSACTION_MAX + 2];
    memset(tx, 't', sizeof tx - 1);
    tx[sizeof tx - 1] = '\0';
    char buf[512];
    snprintf(buf, sizeof buf, "{\"textroom\":\"list\",\"transaction\":\"%s\"}", tx);
    CHECK_INT(parse(buf), 414);
    CHECK(err.transaction == NULL);
    tx[sizeof tx - 2] = '\0'; /* exactly TR_TRANSACTION_MAX */
    snprintf(buf, sizeof buf, "{\"textroom\":\"list\",\"transaction\":\"%s\"}", tx);
    CHECK_INT(parse(buf), 0);
    CHECK_INT(parse("{\"textroom\":\"list\",\"transaction\":\"a\\u0000b\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"join\",\"transaction\":\"t\",\"room\":5,\"username\":7}"), 414);
    CHECK_INT(parse("{\"textroom\":\"join\",\"transaction\":\"t\",\"room\":5,\"username\":\"\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"join\",\"transaction\":\"t\",\"room\":5,\"username\":\"7\\u0000x\"}"), 414);
    snprintf(buf, sizeof buf, "{\"textroom\":\"join\",\"transaction\":\"t\",\"room\":5,\"username\":\"%065d\"}", 7);
    CHECK_INT(parse(buf), 414);
    const char *bad_ids[] = {"not-a-uuid", "0c7a4a2e-1b2c-4d3e-8f40-123456789ab", "0c7a4a2e-1b2c-4d3e-8f40-123456789abcd",
                             "0c7a4a2e_1b2c-4d3e-8f40-123456789abc", "0c7a4a2g-1b2c-4d3e-8f40-123456789abc",
                             "0c7a4a2e-1b2c-4d3e-8f40-123456789abc\\u0000"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof *bad_ids; i++) {
        snprintf(buf, sizeof buf, "{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":\"x\","
                                  "\"client_id\":\"%s\"}", bad_ids[i]);
        CHECK_INT(parse(buf), 414);
        snprintf(buf, sizeof buf, "{\"textroom\":\"delivered\",\"room\":5,\"msg_id\":\"%s\"}", bad_ids[i]);
        CHECK_INT(parse(buf), 414);
    }
    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":\"x\",\"client_id\":5}"), 414);
    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":\"x\",\"ack\":1,"
                    "\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":\"x\",\"client_date\":\"now\","
                    "\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":\"x\",\"to\":\"9\","
                    "\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"message\",\"transaction\":\"t\",\"room\":5,\"text\":\"x\",\"tos\":[\"9\"],"
                    "\"client_id\":\"0c7a4a2e-1b2c-4d3e-8f40-123456789abc\"}"), 414);
    CHECK_INT(parse("{\"textroom\":\"read\",\"room\":5,\"up_to_seq\":-1}"), 414);
    CHECK_INT(parse("{\"textroom\":\"read\",\"room\":5,\"up_to_seq\":\"3\"}"), 414);
    /* A request over TR_REQUEST_MAX bytes, valid or not. */
    size_t big = TR_REQUEST_MAX + 1;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    memcpy(huge, "{\"textroom\":\"leave\",\"room\":5}", 29);
    huge[big] = '\0';
    CHECK_INT(parse_n(huge, big), 414);
    CHECK_INT(parse_n(huge, big - 1), 0); /* trailing white space is fine */
    free(huge);

    /* 415: a request we do not know, with its transaction. */
    CHECK_INT(parse("{\"textroom\":\"dance\",\"transaction\":\"t5\",\"room\":5}"), 415);
    CHECK_STR(err.transaction, "t5");
    CHECK_INT(parse("{\"textroom\":\"create\",\"transaction\":\"t\"}"), 415);
    CHECK_INT(parse("{\"textroom\":\"JOIN\",\"transaction\":\"t\",\"room\":5,\"username\":\"7\"}"), 415);
    CHECK_INT(parse("{\"textroom\":\"join\\u0000\",\"transaction\":\"t\",\"room\":5,\"username\":\"7\"}"), 414);

    CHECK(tr_is_uuid("0c7a4a2e-1b2c-4d3e-8f40-123456789abc"));
    CHECK(!tr_is_uuid(NULL));
    CHECK(!tr_is_uuid(""));
    tr_request_clear(&req);
    tr_error_clear(&err);
}

/* ---- rooms ---- */

static int devices[8]; /* opaque device pointers */

static void test_rooms_members(void)
{
    chat_rooms *t = chat_rooms_new();
    CHECK(t != NULL);
    CHECK(chat_rooms_find(t, 10) == NULL);
    chat_room *r = chat_rooms_open(t, 10, 1, 2);
    CHECK(r != NULL);
    CHECK(chat_rooms_open(t, 10, 1, 2) == r); /* once */
    CHECK(chat_rooms_find(t, 10) == r);
    CHECK_INT(chat_rooms_count(t), 1);
    CHECK_INT(chat_room_peer_of(r, 1), 2);
    CHECK_INT(chat_room_peer_of(r, 2), 1);

    chat_member *a1 = chat_room_join(r, &devices[0], 1, "JanusDataChannel");
    chat_member *a2 = chat_room_join(r, &devices[1], 1, "side");
    chat_member *b1 = chat_room_join(r, &devices[2], 2, NULL);
    CHECK(a1 && a2 && b1);
    CHECK(a1->catching_up && b1->catching_up);
    CHECK_STR(a2->label, "side");
    CHECK_STR(b1->label, "");
    CHECK_INT(chat_room_user_devices(r, 1), 2);
    CHECK_INT(chat_room_user_devices(r, 2), 1);
    CHECK_INT(chat_room_user_devices(r, 3), 0);
    CHECK(chat_room_member(r, &devices[1]) == a2);
    CHECK(chat_room_member(r, &devices[5]) == NULL);
    CHECK_INT(chat_rooms_members(t), 3);
    /* A label longer than the field is cut, still terminated. */
    char long_label[CHAT_LABEL_MAX * 2];
    memset(long_label, 'L', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = '\0';
    chat_member *c = chat_room_join(r, &devices[3], 2, long_label);
    CHECK_INT(strlen(c->label), CHAT_LABEL_MAX - 1);
    /* More members than the first allocation. */
    for (int i = 4; i < 8; i++)
        CHECK(chat_room_join(r, &devices[i], 2, "x") != NULL);
    CHECK_INT(r->nmembers, 8);

    chat_room_leave(r, a1);
    CHECK(chat_room_member(r, &devices[0]) == NULL);
    CHECK(chat_room_member(r, &devices[1]) == a2);
    CHECK_INT(chat_room_user_devices(r, 1), 1);
    chat_rooms_close_if_empty(t, r); /* not empty: stays */
    CHECK(chat_rooms_find(t, 10) == r);
    for (int i = 1; i < 8; i++)
        chat_room_leave(r, chat_room_member(r, &devices[i]));
    CHECK_INT(r->nmembers, 0);
    chat_rooms_close_if_empty(t, r);
    CHECK(chat_rooms_find(t, 10) == NULL);
    CHECK_INT(chat_rooms_count(t), 0);
    chat_rooms_close_if_empty(t, NULL);
    chat_rooms_free(t);
    chat_rooms_free(NULL);
}

static void test_deferred(void)
{
    chat_rooms *t = chat_rooms_new();
    chat_room *r = chat_rooms_open(t, 3, 1, 2);
    chat_member *m = chat_room_join(r, &devices[0], 2, "dc");
    chat_member_settle_deferred(m, 5); /* nothing deferred yet (no array at all) */
    CHECK_INT(m->ndeferred, 0);
    /* Live messages arrive out of order and twice while the backlog is sent. */
    const int64_t seqs[] = {9, 7, 12, 8, 7, 10, 11, 12, 6, 5};
    char json[32];
    for (size_t i = 0; i < sizeof seqs / sizeof *seqs; i++) {
        snprintf(json, sizeof json, "{\"seq\":%lld}", (long long)seqs[i]);
        CHECK_INT(chat_member_defer(m, seqs[i], json), 0);
    }
    CHECK_INT(m->ndeferred, 10);
    /* The backlog carried up to 7: what is left is 8..12, once each, in order. */
    chat_member_settle_deferred(m, 7);
    CHECK_INT(m->ndeferred, 5);
    for (size_t i = 0; i < m->ndeferred; i++) {
        CHECK_INT(m->deferred[i].seq, 8 + (int64_t)i);
        snprintf(json, sizeof json, "{\"seq\":%lld}", (long long)(8 + i));
        CHECK_STR(m->deferred[i].json, json);
    }
    chat_member_clear_deferred(m);
    CHECK_INT(m->ndeferred, 0);
    /* Settling nothing, and a backlog past everything deferred. */
    chat_member_settle_deferred(m, 0);
    CHECK_INT(m->ndeferred, 0);
    for (int i = 1; i <= 40; i++) /* past the first allocation */
        chat_member_defer(m, i, "{}");
    chat_member_settle_deferred(m, 100);
    CHECK_INT(m->ndeferred, 0);
    /* A member leaving with deferred messages frees them (LSan). */
    chat_member_defer(m, 3, "{\"seq\":3}");
    chat_room_leave(r, m);
    /* And a table freed with rooms and members in it. */
    chat_room_join(r, &devices[1], 1, "dc");
    chat_member_defer(chat_room_member(r, &devices[1]), 1, "{}");
    chat_rooms_free(t);
}

static void test_rooms_growth(void)
{
    chat_rooms *t = chat_rooms_new();
    enum { N = 5000 };
    for (int64_t id = 1; id <= N; id++) {
        chat_room *r = chat_rooms_open(t, id * 7919, (uint64_t)id, (uint64_t)id + 1);
        CHECK(r != NULL);
        chat_room_join(r, &devices[id % 8], (uint64_t)id, "dc");
        if (id % 1000 == 0) { /* every room stays findable while the table grows */
            int missing = 0;
            for (int64_t k = 1; k <= id; k++) {
                chat_room *f = chat_rooms_find(t, k * 7919);
                missing += !f || f->id != k * 7919 || f->caller_id != (uint64_t)k;
            }
            CHECK_INT(missing, 0);
        }
    }
    CHECK_INT(chat_rooms_count(t), N);
    CHECK_INT(chat_rooms_members(t), N);
    CHECK(chat_rooms_find(t, 7918) == NULL);
    /* Close every other room: the rest stay. */
    for (int64_t id = 2; id <= N; id += 2) {
        chat_room *r = chat_rooms_find(t, id * 7919);
        chat_room_leave(r, r->members[0]);
        chat_rooms_close_if_empty(t, r);
    }
    CHECK_INT(chat_rooms_count(t), N / 2);
    int wrong = 0;
    for (int64_t id = 1; id <= N; id++)
        wrong += (chat_rooms_find(t, id * 7919) != NULL) != (id % 2 == 1);
    CHECK_INT(wrong, 0);
    /* Negative and huge ids hash too. */
    CHECK(chat_rooms_open(t, INT64_MAX, 1, 2) != NULL);
    CHECK(chat_rooms_find(t, INT64_MAX) != NULL);
    chat_rooms_free(t);
}

int main(void)
{
    test_verbs();
    test_leniency();
    test_text();
    test_errors();
    test_rooms_members();
    test_deferred();
    test_rooms_growth();
    tr_request_clear(&req);
    tr_error_clear(&err);
    return check_summary("test_chat_proto");
}
