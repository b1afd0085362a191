/*
 * feedback.h: what a plain RTCP compound packet carries that matters to a bitrate cap —
 * a REMB (the receiver's estimate) or transport-wide congestion control feedback (from which
 * the sender computes its own rate). Either may raise a sender's rate above a cap the user
 * set, so the calls plugin follows it with its own REMB carrying the cap.
 *
 * Pure functions (no allocation, no state): safe on a media loop, per packet.
 */
#ifndef PARLEY_CALLS_FEEDBACK_H
#define PARLEY_CALLS_FEEDBACK_H

#include <stddef.h>
#include <stdint.h>

enum {
    FEEDBACK_REMB = 1 << 0, /* PSFB (206) FMT 15 with the "REMB" identifier */
    FEEDBACK_TWCC = 1 << 1, /* RTPFB (205) FMT 15 */
};

/* The FEEDBACK_* bits found in buf (stops at the first malformed packet of the compound). */
unsigned vc_rtcp_feedback_scan(const uint8_t *buf, size_t len);

#endif
