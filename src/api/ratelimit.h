/*
 * ratelimit: token buckets keyed by a string (e.g. "ip:127.0.0.1", "acct:a@b.c"), sans-IO:
 * the caller passes the current time in milliseconds (monotonic).
 *
 * Each key has a bucket of `burst` tokens that refills continuously at burst per window
 * (ratelimit_create: per_min per 60 s); a request takes one token. When empty, the request is
 * refused and the caller is told how many whole seconds until a token is back (the HTTP
 * Retry-After value, >= 1).
 *
 * Memory is bounded by max_keys: when the table is full, buckets that have refilled
 * completely (indistinguishable from a new key) are dropped; if none has, the least recently
 * used bucket is dropped.
 *
 * Threads: any; one internal mutex. Ownership: the limiter copies keys.
 * per_min (burst) <= 0 disables limiting (every take succeeds).
 */
#ifndef PARLEY_API_RATELIMIT_H
#define PARLEY_API_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

ratelimit_t *ratelimit_create(int per_min, size_t max_keys);
/* burst tokens per window_ms (> 0), e.g. 20 per hour: ratelimit_create_window(20, 3600000, n). */
ratelimit_t *ratelimit_create_window(int burst, int64_t window_ms, size_t max_keys);
void ratelimit_destroy(ratelimit_t *rl);

/* 0 = allowed (a token was taken); > 0 = refused, seconds to wait. */
int ratelimit_take(ratelimit_t *rl, const char *key, int64_t now_ms);
/* The same with the wait in milliseconds (>= 1 when refused), for limits of a few per second. */
int64_t ratelimit_take_ms(ratelimit_t *rl, const char *key, int64_t now_ms);
/* Gives one token back to key's bucket (never above the burst; no-op for an unknown key):
 * for attempts that turn out not to count, e.g. a right password. */
void ratelimit_give(ratelimit_t *rl, const char *key, int64_t now_ms);
/* Number of keys currently tracked (tests, metrics). */
size_t ratelimit_size(ratelimit_t *rl);

/*
 * login_guard: password-guessing limits that an attacker cannot turn against the account's
 * owner. Only wrong passwords count (a right one gives its tokens back), in two buckets:
 *  - per (account, address) pair: a strict limit (pair_burst per pair_window_ms). One
 *    address guessing one account is stopped quickly; other addresses are not affected.
 *  - per account, a slower global limit (account_burst per account_window_ms) that counts and
 *    applies only to addresses that never signed in to this account (`known` false). Many
 *    addresses guessing one account are stopped together, while the owner, coming from an
 *    address that signed in before, is never refused by it.
 * The per-address limit across accounts is the caller's plain ratelimit (every attempt).
 * A burst <= 0 disables that bucket. Threads: any. Sans-IO: the caller passes the time.
 */
typedef struct login_guard login_guard_t;

typedef struct login_guard_config {
    int pair_burst;
    int64_t pair_window_ms;
    int account_burst;
    int64_t account_window_ms;
    size_t max_keys;            /* per bucket table */
} login_guard_config;

login_guard_t *login_guard_create(const login_guard_config *cfg);
void login_guard_destroy(login_guard_t *g);
/* Before the password is checked: 0 = go ahead (a token was taken from each bucket that
 * applies); > 0 = refused (nothing taken), seconds to wait (Retry-After). */
int login_guard_begin(login_guard_t *g, const char *account, const char *addr, bool known,
                      int64_t now_ms);
/* After a begin that returned 0, with the outcome: a success gives the tokens back. */
void login_guard_end(login_guard_t *g, const char *account, const char *addr, bool known,
                     bool success, int64_t now_ms);

#endif
