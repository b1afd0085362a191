/*
 * lite_probe: what the ICE-lite tests (test_ice_lite, test_metrics_render) share to reach a
 * loop's mux from a plain socket: the port of a peer's host candidate on 127.0.0.1.
 */
#ifndef PARLEY_TEST_LITE_PROBE_H
#define PARLEY_TEST_LITE_PROBE_H
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "media/peer.h"

static inline uint16_t lite_probe_port(peer_t *p)
{
    char buf[1024];
    unsigned port = 0;
    CHECK(peer_local_candidates(p, buf, sizeof buf) > 0);
    CHECK(sscanf(buf, "candidate:%*s 1 udp %*u 127.0.0.1 %u typ host", &port) == 1);
    return (uint16_t)port;
}
#endif
