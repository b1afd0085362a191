/*
 * proto.h: the textroom data-channel protocol, sans I/O — one request as the client sent it
 * (JSON text of any shape, bytes straight off the channel) turned into a checked
 * tr_request, or a Janus textroom error code with a message.
 *
 * Janus's textroom requests are {"textroom":<verb>,"transaction":..,...}; ours add
 * client_id / client_date to `message`, `since_seq` to `join`, and the receipts `delivered`
 * and `read` (docs/chat.md). Only the shape is checked here: who may do what (membership,
 * money, rate) is the plugin's and the store's business.
 *
 * Ownership: tr_parse fills *out and *err with malloc'd strings; call tr_request_clear and
 * tr_error_clear after every tr_parse, whatever it returned. Pure: no globals, any thread.
 */
#ifndef PARLEY_CHAT_PROTO_H
#define PARLEY_CHAT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Janus textroom's error codes (janus_textroom.c), plus ours for money, rate and the store. */
enum {
    TR_ERR_NO_MESSAGE = 411,
    TR_ERR_INVALID_JSON = 412,
    TR_ERR_MISSING_ELEMENT = 413,
    TR_ERR_INVALID_ELEMENT = 414,
    TR_ERR_INVALID_REQUEST = 415,
    TR_ERR_ALREADY_SETUP = 416,
    TR_ERR_NO_SUCH_ROOM = 417,
    TR_ERR_UNAUTHORIZED = 419,
    TR_ERR_ALREADY_IN_ROOM = 421,
    TR_ERR_NOT_IN_ROOM = 422,
    TR_ERR_NO_SUCH_USER = 423,
    TR_ERR_INSUFFICIENT_BALANCE = 402,
    TR_ERR_RATE_LIMITED = 429,
    TR_ERR_UNAVAILABLE = 503,
    TR_ERR_UNKNOWN = 499,
};

#define TR_TEXT_MAX 4096          /* bytes of UTF-8 in one message */
#define TR_REQUEST_MAX 16384      /* bytes of one request on the channel */
#define TR_TRANSACTION_MAX 128
#define TR_UUID_LEN 36
#define TR_HISTORY_MAX 500

typedef enum tr_verb {
    TR_JOIN,
    TR_LEAVE,
    TR_MESSAGE,
    TR_DELIVERED,
    TR_READ,
    TR_LIST,
    TR_LISTPARTICIPANTS,
} tr_verb;

typedef struct tr_request {
    tr_verb verb;
    char *transaction;          /* NULL when absent (allowed for leave and the receipts) */
    int64_t room;               /* > 0; 0 for list */
    char *username;             /* join */
    char *text;                 /* message */
    size_t text_len;
    char client_id[TR_UUID_LEN + 1];  /* message: a UUID, lower-cased */
    bool has_client_date;
    int64_t client_date;        /* Unix ms as the client says */
    bool ack;                   /* message: reply with success (default true) */
    char msg_id[TR_UUID_LEN + 1];     /* delivered */
    int64_t up_to_seq;          /* read */
    bool has_since;
    int64_t since_seq;          /* join */
    int history;                /* join: earlier messages to send first (0..TR_HISTORY_MAX) */
} tr_request;

typedef struct tr_error {
    int code;                   /* 0 = none */
    char message[160];
    char *transaction;          /* the request's transaction when it could be read (malloc'd) */
} tr_error;

/* 0 and *out filled, or -1 and *err (code, message, and the transaction when readable). */
int tr_parse(const uint8_t *buf, size_t len, tr_request *out, tr_error *err);
void tr_request_clear(tr_request *r);
void tr_error_clear(tr_error *e);

/* True for 8-4-4-4-12 hex digits (any case). */
bool tr_is_uuid(const char *s);

#endif
