/*
 * server: the one server context (no other global state in the core). main.c builds it,
 * every core module receives it. Fields are set at start and read-only afterwards unless a
 * comment says otherwise.
 */
#ifndef PARLEY_CORE_SERVER_H
#define PARLEY_CORE_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/loop.h"
#include "media/peer.h"
#include "util/config.h"

typedef struct platform platform_t;
typedef struct janus_core janus_core;

/* Counters for /metrics and the admin API; relaxed atomics, written from any thread. */
typedef struct server_counters {
    atomic_uint_fast64_t sessions_created, sessions_timed_out;
    atomic_uint_fast64_t handles_created;
    atomic_uint_fast64_t janus_requests, janus_errors;
    atomic_uint_fast64_t events_dropped;
    atomic_uint_fast64_t peers_created, peers_failed, webrtcup;
} server_counters;

typedef struct server {
    const server_config *config;
    loop_pool_t *loops;
    peer_config peer_cfg;       /* media settings handed to every peer */
    char stun_host[256], turn_host[256];
    platform_t *platform;       /* NULL only in unit tests */
    janus_core *janus;
    server_counters counters;
} server_t;

#endif
