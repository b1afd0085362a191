/*
 * libFuzzer target for the DTLS side of a peer (media/dtls.c over OpenSSL): a fresh server
 * (setup passive, as when a browser answers "active") fed a sequence of datagrams, each
 * prefixed by a 2-byte length, then timers and a write attempt. Nothing may crash or leak;
 * the handshake cannot complete without the signalled certificate's key.
 */
#include <stdint.h>
#include <stdlib.h>

#include "media/dtls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t out_bytes;

static void on_send(void *u, const uint8_t *b, size_t n) { out_bytes += n; }
static void on_app(void *u, const uint8_t *b, size_t n) { abort(); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (media_dtls_global_init() != MEDIA_DTLS_OK)
            abort();
        ready = 1;
    }
    media_dtls_callbacks cb = {.send = on_send, .app_data = on_app};
    media_dtls *d = media_dtls_create(size & 1, media_dtls_local_fingerprint(), NULL, &cb);
    if (!d)
        abort();
    media_dtls_start(d);
    const uint8_t *p = data, *end = data + size;
    while (end - p >= 2) {
        size_t len = (size_t)(p[0] << 8 | p[1]);
        p += 2;
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        if (media_dtls_input(d, p, len) == MEDIA_DTLS_HANDSHAKE_DONE)
            abort();   /* impossible without our private key on the other end */
        p += len;
    }
    if (media_dtls_timeout_ms(d) == 0)
        media_dtls_handle_timeout(d);
    if (media_dtls_write(d, (const uint8_t *)"x", 1) == MEDIA_DTLS_OK)
        abort();
    media_dtls_free(d);
    return 0;
}
