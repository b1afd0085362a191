/*
 * ws_bucket: sans-IO pieces of the WebSocket transport's fairness rules (no sockets, no
 * clock: the caller passes the time in milliseconds), so they can be tested alone.
 *
 * - ws_bucket: a token bucket on messages per second. It starts full (burst tokens) and
 *   refills at rate tokens per second up to burst. Tokens are kept in thousandths so a refill
 *   of a few milliseconds is not lost to rounding.
 * - ws_flood: the "far beyond the rate for several seconds" rule. Once per tick the caller
 *   reports whether the connection ran out of tokens since the previous tick and how many
 *   bytes were still waiting in its socket; a connection that was throttled with at least
 *   backlog bytes waiting on every tick for strikes ticks in a row is a flooder.
 *
 * Threads: a value is used by one thread at a time (the ws thread).
 */
#ifndef PARLEY_TRANSPORT_WS_BUCKET_H
#define PARLEY_TRANSPORT_WS_BUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ws_bucket {
    int64_t milli;      /* tokens * 1000 */
    uint64_t at_ms;     /* time of the last refill */
    uint32_t rate;      /* tokens per second (>= 1) */
    uint32_t burst;     /* bucket size (>= 1) */
} ws_bucket;

void ws_bucket_init(ws_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms);
/* Refills to now; true when at least one whole token is there (nothing is taken). */
bool ws_bucket_ready(ws_bucket *b, uint64_t now_ms);
/* Takes one token (may go below zero by at most one token: callers check ready first). */
void ws_bucket_take(ws_bucket *b);
/* Milliseconds from the last refill until `tokens` whole tokens are there (capped to burst);
 * 0 when they already are. */
uint64_t ws_bucket_wait_ms(const ws_bucket *b, uint32_t tokens);

typedef struct ws_flood {
    unsigned strikes;   /* consecutive ticks throttled with a full backlog */
} ws_flood;

/* One tick; returns true when the connection has been flooding for `limit` ticks in a row. */
bool ws_flood_tick(ws_flood *f, bool throttled, size_t waiting_bytes, size_t backlog, unsigned limit);

#endif
