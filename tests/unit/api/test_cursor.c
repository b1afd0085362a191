/*
 * GET /hosts cursors: round trips at the edges, and strict refusal of everything else
 * (wrong sort, signs, leading zeros, spaces, overflow, trailing bytes, bad base64url).
 */
#include <string.h>

#include "util/b64.h"
#include "api/cursor.h"
#include "check.h"

static void enc_raw(const char *raw, char *out)
{
    b64url_encode((const uint8_t *)raw, strlen(raw), out, CURSOR_MAX);
}

int main(void)
{
    char c[CURSOR_MAX];
    int64_t rate, id;
    const int64_t ids[] = {1, 2, 99, INT64_MAX};
    const int64_t rates[] = {0, 1, 1000000000, INT64_MAX};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            CHECK_INT(cursor_encode(true, rates[j], ids[i], c, sizeof(c)), 0);
            CHECK_INT(cursor_decode(c, true, &rate, &id), 0);
            CHECK(rate == rates[j] && id == ids[i]);
            CHECK_INT(cursor_decode(c, false, &rate, &id), -1);   /* other sort */
            CHECK_INT(cursor_encode(false, 0, ids[i], c, sizeof(c)), 0);
            CHECK_INT(cursor_decode(c, false, &rate, &id), 0);
            CHECK(id == ids[i]);
            CHECK_INT(cursor_decode(c, true, &rate, &id), -1);
        }
    const char *bad_n[] = {"n.", "n.0", "n.-1", "n.+1", "n.01", "n. 1", "n.1 ", "n.1x",
                           "n.9223372036854775808", "n.1.2", "x.1", "n1", ""};
    for (size_t i = 0; i < sizeof(bad_n) / sizeof(*bad_n); i++) {
        enc_raw(bad_n[i], c);
        CHECK_INT(cursor_decode(c, false, &rate, &id), -1);
    }
    const char *bad_r[] = {"r.1", "r.1.", "r..1", "r.-1.1", "r.1.0", "r.01.1", "r.1.1.1",
                           "r.9223372036854775808.1", "r.1.1\n"};
    for (size_t i = 0; i < sizeof(bad_r) / sizeof(*bad_r); i++) {
        enc_raw(bad_r[i], c);
        CHECK_INT(cursor_decode(c, true, &rate, &id), -1);
    }
    enc_raw("r.0.1", c);
    CHECK_INT(cursor_decode(c, true, &rate, &id), 0);
    CHECK(rate == 0 && id == 1);
    CHECK_INT(cursor_decode("%%%%", false, &rate, &id), -1);
    CHECK_INT(cursor_decode("bi4x=", false, &rate, &id), -1);      /* padding */
    CHECK_INT(cursor_decode(NULL, false, &rate, &id), -1);
    char huge[200];
    memset(huge, 'A', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    CHECK_INT(cursor_decode(huge, false, &rate, &id), -1);
    CHECK_INT(cursor_encode(true, 1, 1, c, 4), -1);                 /* short buffer */
    return check_summary("api-cursor");
}
