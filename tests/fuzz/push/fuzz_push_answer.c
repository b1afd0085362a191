/*
 * libFuzzer target: what push providers send back, as the push service reads it. The input is
 * split as: 2 bytes of HTTP status, 1 byte n, n bytes of Retry-After header value, the rest the
 * body. It goes through the FCM send classifier, the Web Push classifier, the Retry-After
 * reader and the OAuth token parser. Checks no crash and the deadline property: no verdict
 * ever schedules a retry at or past the notification's deadline.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "push/fcm.h"
#include "push/sched.h"

#define NOW_MS 1700000000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_verdict(const fcm_verdict *v, const fcm_retry_ctx *c)
{
    if (v->outcome == FCM_RETRY && (v->retry_at_ms >= c->deadline_ms || v->retry_at_ms < c->now_ms))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > 70000)
        return 0;
    int status = (data[0] << 8 | data[1]) % 1000;
    size_t n = data[2];
    if (3 + n > size)
        return 0;
    char *retry_after = malloc(n + 1);
    memcpy(retry_after, data + 3, n);
    retry_after[n] = '\0';
    const char *body = (const char *)data + 3 + n;
    size_t len = size - 3 - n;
    fcm_retry_ctx c = {.now_ms = NOW_MS, .deadline_ms = NOW_MS + 45000, .attempt = data[2] % 12,
                       .jitter = (uint32_t)size * 2654435761u};
    fcm_verdict v;
    fcm_classify(status, body, len, n ? retry_after : NULL, &c, &v);
    check_verdict(&v, &c);
    push_webpush_classify(status, n ? retry_after : NULL, &c, &v);
    check_verdict(&v, &c);
    (void)fcm_retry_after_ms(retry_after, NOW_MS);
    fcm_token t;
    char err[128];
    (void)fcm_token_parse(body, len, NOW_MS / 1000, &t, err, sizeof err);
    free(retry_after);
    return 0;
}
