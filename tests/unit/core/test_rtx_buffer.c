/* Unit tests of rtx_buffer: hits, misses after wrap-around, oversize packets, seq wrap. */
#include <stdlib.h>

#include "check.h"
#include "core/rtx_buffer.h"

int main(void)
{
    rtx_buffer *b = rtx_buffer_new();
    uint8_t pkt[1600];
    for (size_t i = 0; i < sizeof pkt; i++)
        pkt[i] = (uint8_t)i;
    size_t len = 0;
    CHECK(rtx_buffer_find(b, 5, &len) == NULL);
    for (uint32_t seq = 65500; seq < 65500 + 300; seq++) {
        pkt[0] = (uint8_t)seq;
        rtx_buffer_store(b, (uint16_t)seq, pkt, 100 + seq % 50);
    }
    /* The newest 256 are there (across the 16-bit wrap), the older 44 were overwritten. */
    for (uint32_t seq = 65500; seq < 65500 + 300; seq++) {
        const uint8_t *p = rtx_buffer_find(b, (uint16_t)seq, &len);
        if (seq < 65500 + 300 - RTX_BUFFER_SLOTS) {
            CHECK(p == NULL);
        } else {
            CHECK(p != NULL);
            if (p) {
                CHECK_INT(len, 100 + seq % 50);
                CHECK_INT(p[0], (uint8_t)seq);
                CHECK_INT(p[1], 1);
            }
        }
    }
    /* Slot 7 holds seq 263 (65799 after the 16-bit wrap); an oversize packet for seq 7 is
     * skipped and leaves that slot untouched. */
    rtx_buffer_store(b, 7, pkt, RTX_BUFFER_MAX_PACKET + 1);
    CHECK(rtx_buffer_find(b, 7, &len) == NULL);
    CHECK(rtx_buffer_find(b, 263, &len) != NULL);
    CHECK_INT(len, 100 + 65799 % 50);
    rtx_buffer_store(b, 7, pkt, RTX_BUFFER_MAX_PACKET);
    CHECK(rtx_buffer_find(b, 7, &len) != NULL);
    CHECK_INT(len, RTX_BUFFER_MAX_PACKET);
    CHECK(rtx_buffer_find(NULL, 7, &len) == NULL);
    rtx_buffer_free(b);
    return check_summary("rtx_buffer");
}
