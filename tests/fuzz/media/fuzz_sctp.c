/*
 * libFuzzer target for our SCTP glue (media/sctp.c) above usrsctp: sequences of delivered
 * messages and notifications -> reassembly, DCEP OPEN/ACK handling, channel table, PPID
 * dispatch, stream-reset and association-change notifications. Each input is a list of
 * records: flags(1: bit0 EOR, bit1 notification) sid(2) ppid-selector(1) len(2) bytes(len).
 * A fresh association (never connected) per input; runs on a real loop thread.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <usrsctp.h>

#include "core/loop.h"
#include "media/sctp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static loop_pool_t *pool;

static void drop_packet(void *u, const uint8_t *b, size_t n) {}
static void on_open(void *u, uint16_t sid, const char *label, const char *protocol)
{
    /* Labels handed out are NUL-terminated strings. */
    if (strlen(label) > 65535 || strlen(protocol) > 65535)
        abort();
}
static void on_message(void *u, uint16_t sid, const char *label, bool binary, const uint8_t *b,
                       size_t n)
{
    if (n > MEDIA_SCTP_MAX_MESSAGE || (n && !b))
        abort();
}

typedef struct run { const uint8_t *data; size_t size; } run;

static void run_input(void *arg)
{
    run *r = arg;
    media_sctp_callbacks cb = {.send = drop_packet, .open = on_open, .message = on_message};
    media_sctp *s = media_sctp_create(loop_pool_get(pool, 0), r->size & 1, 5000, 5000, &cb);
    if (!s)
        return;
    static const uint32_t ppids[] = {50, 51, 53, 56, 57, 52, 0};
    const uint8_t *p = r->data, *end = r->data + r->size;
    while (end - p >= 6) {
        int flags = ((p[0] & 1) ? MSG_EOR : 0) | ((p[0] & 2) ? MSG_NOTIFICATION : 0);
        uint16_t sid = (uint16_t)(p[1] << 8 | p[2]);
        uint32_t ppid = ppids[p[3] % (sizeof ppids / sizeof ppids[0])];
        size_t len = (size_t)(p[4] << 8 | p[5]);
        p += 6;
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        media_sctp_inject(s, sid, ppid, flags, p, len);
        if (sid % 7 == 3)
            media_sctp_open_channel(s, "fuzz", "");
        p += len;
    }
    media_sctp_send(s, "fuzz", 0, false, (const uint8_t *)"x", 1);
    media_sctp_close(s);
    media_sctp_unref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pool)
        pool = loop_pool_create(1);
    run r = {data, size};
    loop_invoke_sync(loop_pool_get(pool, 0), run_input, &r);
    return 0;
}
