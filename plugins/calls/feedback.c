/*
 * feedback.c: RTCP compound walk for REMB / TWCC (see feedback.h). Threads: any (pure).
 */
#include "feedback.h"

#include <string.h>

#define RTCP_HEADER_LEN 4
#define RTCP_RTPFB 205
#define RTCP_PSFB 206
#define RTCP_FMT_TWCC 15
#define RTCP_FMT_AFB 15          /* application layer feedback: REMB is one of them */
#define REMB_MIN_LEN 20          /* header, sender SSRC, media SSRC 0, "REMB", num/exp/mantissa */

unsigned vc_rtcp_feedback_scan(const uint8_t *buf, size_t len)
{
    unsigned found = 0;
    size_t off = 0;
    while (off + RTCP_HEADER_LEN <= len) {
        const uint8_t *p = buf + off;
        if ((p[0] >> 6) != 2)
            break;
        unsigned fmt = p[0] & 0x1f, pt = p[1];
        size_t plen = ((size_t)((p[2] << 8) | p[3]) + 1) * 4;
        if (plen > len - off)
            break;
        if (pt == RTCP_RTPFB && fmt == RTCP_FMT_TWCC)
            found |= FEEDBACK_TWCC;
        else if (pt == RTCP_PSFB && fmt == RTCP_FMT_AFB && plen >= REMB_MIN_LEN &&
                 memcmp(p + 12, "REMB", 4) == 0)
            found |= FEEDBACK_REMB;
        off += plen;
    }
    return found;
}
