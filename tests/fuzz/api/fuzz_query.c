/*
 * libFuzzer target: values that arrive in query strings and path segments of the platform
 * API — the /hosts pagination cursor (both sorts) and numeric ids/limits. A cursor that
 * decodes must re-encode to exactly the same text (one spelling per position).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/cursor.h"
#include "api/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 512)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    for (int by_rate = 0; by_rate <= 1; by_rate++) {
        int64_t rate, id;
        if (cursor_decode(s, by_rate, &rate, &id) == 0) {
            char again[CURSOR_MAX];
            if (cursor_encode(by_rate, rate, id, again, sizeof(again)) != 0 ||
                strcmp(again, s) != 0)
                abort();
        }
    }
    uint64_t v;
    if (api_parse_u64(s, &v) && (v == 0 || v > INT64_MAX))
        abort();
    free(s);
    return 0;
}
