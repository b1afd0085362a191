/*
 * server: the one server context (no other global state in the core). main.c builds it,
 * every core module receives it. Fields are set at start and read-only afterwards unless a
 * comment says otherwise.
 */
#ifndef PARLEY_CORE_SERVER_H
#define PARLEY_CORE_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/loop.h"
#include "media/peer.h"
#include "transport/http.h"
#include "util/config.h"

typedef struct platform platform_t;
typedef struct janus_core janus_core;
typedef struct limits limits;   /* core/limits.h */

/* The media path's counters, one shard per loop thread (core/media_counters.h): written on
 * every packet, so each loop adds to its own cache line; [MEDIA_DIR_IN/OUT][plugin_media_kind]. */
typedef struct media_counter_shard {
    _Alignas(64) atomic_uint_fast64_t rtp_packets[2][2], rtp_bytes[2][2];
    atomic_uint_fast64_t rtcp_packets[2], rtcp_bytes[2];
    atomic_uint_fast64_t data_messages[2], data_bytes[2];
    atomic_uint_fast64_t nacks[2], plis[2], firs[2];   /* RTCP feedback blocks */
} media_counter_shard;
/* [0]: any thread (atomic adds); [1 + i]: loop i's thread only, i < MEDIA_COUNTER_SHARDS - 1. */
#define MEDIA_COUNTER_SHARDS 33

/* Counters for /metrics and the admin API; relaxed atomics, written from any thread. */
typedef struct server_counters {
    atomic_uint_fast64_t sessions_created, sessions_timed_out;
    atomic_uint_fast64_t handles_created;
    atomic_uint_fast64_t janus_requests, janus_errors;
    atomic_uint_fast64_t events_dropped;
    atomic_uint_fast64_t peers_created, peers_failed, webrtcup;
    atomic_uint_fast64_t peers_closed;
    atomic_uint_fast64_t dtls_failed;          /* failed after ICE connected, before SECURE */
    media_counter_shard media[MEDIA_COUNTER_SHARDS];   /* read with media_counters_total */
} server_counters;

/* /metrics' cache of the ledger invariant check, a full scan run at most every
 * METRICS_LEDGER_CHECK_INTERVAL_S (core/metrics.c). Zero-initialised = never run. */
typedef struct metrics_cache {
    atomic_llong ledger_checked_us;   /* monotonic time of the last check */
    atomic_llong ledger_checked_unix; /* wall clock of the last check, seconds */
    atomic_int ledger_state;          /* 0 never ran, 1 broken, 2 ok */
    atomic_bool ledger_running;       /* one scan at a time; other scrapes use the old value */
    atomic_uint_fast64_t ledger_errors;  /* checks that could not run */
} metrics_cache;

/* Everything the core asks of the platform (src/api), filled in by main.c, so that src/core
 * never calls up into src/api: token checks on the Janus API, presence, the admin routes and
 * /metrics figures of the platform, and what plugins ask through core_callbacks (user_info,
 * user_set_busy, call_record, billing_*, chat_*, user_blocks). `user` is the platform; NULL members (unit tests, or no
 * platform) mean the service is absent: tokens are refused, plugins get NULL / -1. */
typedef struct platform_hooks {
    void *user;
    int (*verify_access_token)(void *user, const char *token, uint64_t *user_id);
    int (*verify_session_token)(void *user, const char *token, uint64_t *user_id);
    void (*session_opened)(void *user, uint64_t user_id);
    void (*session_closed)(void *user, uint64_t user_id);
    void (*handle_admin)(void *user, const http_request *req, http_reply *reply);
    int (*metrics_text)(void *user, char *out, size_t cap);
    int (*ledger_check_ok)(void *user);
    char *(*user_info)(void *user, uint64_t user_id);
    void (*user_set_busy)(void *user, uint64_t user_id, bool busy);
    int (*call_record)(void *user, const char *record_json);
    /* core_callbacks.billing_submit/run; submit's done runs on the storage thread (or before
     * submit returns) and must only hand the outcome on: render(state), called exactly once
     * later on any thread, makes its JSON text (malloc'd) and frees state. */
    int (*billing_submit)(void *user, const char *op_json,
                          void (*done)(void *arg, char *(*render)(void *state), void *state), void *arg);
    char *(*billing_run)(void *user, const char *op_json);
    /* core_callbacks.chat_submit/run/user_blocks, the same way. */
    int (*chat_submit)(void *user, const char *op_json,
                       void (*done)(void *arg, char *(*render)(void *state), void *state), void *arg);
    char *(*chat_run)(void *user, const char *op_json);
    bool (*user_blocks)(void *user, uint64_t blocker, uint64_t blocked);
    /* The login family (device) of a Janus token, kept on the session for push_notify. */
    int (*token_family)(void *user, const char *token, char *out, size_t cap);
    /* Push notifications (push/service.h via main.c): core_callbacks.push_notify with the
     * live handles turned into their sessions' families; /metrics lines. push_user is main's. */
    void *push_user;
    int (*push_notify)(void *push_user, const char *notice_json, const char *const *live_families, size_t n);
    int (*push_metrics)(void *push_user, char *out, size_t cap);
    bool (*push_wanted)(void *push_user, uint64_t user_id);
} platform_hooks;

typedef struct server {
    const server_config *config;
    loop_pool_t *loops;
    peer_config peer_cfg;       /* media settings handed to every peer */
    char stun_host[256], turn_host[256];
    platform_t *platform;       /* main.c's; the core reaches it only through hooks */
    janus_core *janus;
    limits *limits;             /* per-user and server-wide caps; NULL (unit tests) = none */
    platform_hooks hooks;
    server_counters counters;
    metrics_cache metrics;
} server_t;

#endif
