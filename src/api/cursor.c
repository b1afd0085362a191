/*
 * cursor: GET /hosts pagination cursors. See cursor.h.
 */
#include "api/cursor.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/b64.h"

int cursor_encode(bool by_rate, int64_t rate, int64_t id, char *out, size_t cap)
{
    char raw[48];
    int n = by_rate ? snprintf(raw, sizeof(raw), "r.%" PRId64 ".%" PRId64, rate, id)
                    : snprintf(raw, sizeof(raw), "n.%" PRId64, id);
    if (n < 0 || (size_t)n >= sizeof(raw))
        return -1;
    return b64url_encode((const uint8_t *)raw, (size_t)n, out, cap) < 0 ? -1 : 0;
}

/* Canonical non-negative decimal in [s, end); advances *s to the first byte after it. */
static int cursor_number(const char **s, const char *end, int64_t *out)
{
    const char *p = *s;
    int64_t v = 0;
    if (p >= end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end && p[1] >= '0' &&
                                            p[1] <= '9'))
        return -1;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    *s = p;
    return 0;
}

int cursor_decode(const char *cursor, bool by_rate, int64_t *rate, int64_t *id)
{
    char raw[CURSOR_MAX];
    size_t n = cursor ? strlen(cursor) : 0;
    if (n == 0 || b64url_decoded_max(n) >= sizeof(raw))
        return -1;
    ssize_t len = b64url_decode(cursor, n, (uint8_t *)raw, sizeof(raw));
    if (len < 3)
        return -1;
    const char *p = raw + 2, *end = raw + len;
    if (raw[0] != (by_rate ? 'r' : 'n') || raw[1] != '.')
        return -1;
    int64_t r = 0, i;
    if (by_rate) {
        if (cursor_number(&p, end, &r) != 0 || p >= end || *p != '.')
            return -1;
        p++;
    }
    if (cursor_number(&p, end, &i) != 0 || p != end || i <= 0)
        return -1;
    *rate = r;
    *id = i;
    return 0;
}
