/*
 * libFuzzer target for the textroom request parser (plugins/chat/proto.h): any bytes as they
 * arrive on the data channel. tr_parse must never crash, leak or read past len, and what it
 * returns must keep its promises: a known verb with the fields that verb needs (room > 0 but
 * for list, text 1..TR_TEXT_MAX bytes without NUL, client_id / msg_id lower-case UUIDs,
 * history capped), or one of the codes 411-415 with a terminated message.
 * Built with only plugins/ on the include path, as the plugin is.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_uuid_lower(const char *id)
{
    if (!tr_is_uuid(id))
        abort();
    for (const char *p = id; *p; p++)
        if (isupper((unsigned char)*p))
            abort();
}

static void check_request(const tr_request *r)
{
    if (r->transaction && (r->transaction[0] == '\0' || strlen(r->transaction) > TR_TRANSACTION_MAX))
        abort();
    if (r->verb == TR_LIST ? r->room != 0 : r->room <= 0)
        abort();
    switch (r->verb) {
    case TR_JOIN:
        if (!r->transaction || !r->username || !r->username[0] || strlen(r->username) > 64)
            abort();
        if (r->history < 0 || r->history > TR_HISTORY_MAX || (r->has_since && r->since_seq < 0))
            abort();
        break;
    case TR_MESSAGE:
        if (!r->transaction || !r->text || r->text_len == 0 || r->text_len > TR_TEXT_MAX)
            abort();
        if (memchr(r->text, '\0', r->text_len) || r->text[r->text_len] != '\0')
            abort();
        check_uuid_lower(r->client_id);
        break;
    case TR_DELIVERED:
        check_uuid_lower(r->msg_id);
        break;
    case TR_READ:
        if (r->up_to_seq < 0)
            abort();
        break;
    case TR_LIST:
    case TR_LISTPARTICIPANTS:
        if (!r->transaction)
            abort();
        break;
    case TR_LEAVE:
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tr_request r;
    tr_error e;
    /* A private copy, so reading one byte past size is caught by ASan. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    if (tr_parse(copy, size, &r, &e) == 0) {
        if (e.code != 0)
            abort();
        check_request(&r);
    } else {
        if (e.code < TR_ERR_NO_MESSAGE || e.code > TR_ERR_INVALID_REQUEST)
            abort();
        if (!memchr(e.message, '\0', sizeof e.message) || e.message[0] == '\0')
            abort();
        if (e.transaction && strlen(e.transaction) > TR_TRANSACTION_MAX)
            abort();
    }
    tr_request_clear(&r);
    tr_error_clear(&e);
    free(copy);
    return 0;
}
