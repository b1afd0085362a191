/*
 * ratelimit: token buckets keyed by a string (e.g. "ip:127.0.0.1", "acct:a@b.c"), sans-IO:
 * the caller passes the current time in milliseconds (monotonic).
 *
 * Each key has a bucket of `per_min` tokens that refills continuously at per_min per 60 s;
 * a request takes one token. When empty, the request is refused and the caller is told how
 * many whole seconds until a token is back (the HTTP Retry-After value, >= 1).
 *
 * Memory is bounded by max_keys: when the table is full, buckets that have refilled
 * completely (indistinguishable from a new key) are dropped; if none has, the least recently
 * used bucket is dropped.
 *
 * Threads: any; one internal mutex. Ownership: the limiter copies keys.
 * per_min <= 0 disables limiting (every take succeeds).
 */
#ifndef PARLEY_API_RATELIMIT_H
#define PARLEY_API_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

ratelimit_t *ratelimit_create(int per_min, size_t max_keys);
void ratelimit_destroy(ratelimit_t *rl);

/* 0 = allowed (a token was taken); > 0 = refused, seconds to wait. */
int ratelimit_take(ratelimit_t *rl, const char *key, int64_t now_ms);
/* Number of keys currently tracked (tests, metrics). */
size_t ratelimit_size(ratelimit_t *rl);

#endif
