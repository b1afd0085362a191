/*
 * Token buckets with a fake clock: burst, refill rate, Retry-After values, independent keys,
 * bounded memory, clock going backwards, disabled limiter, windows other than a minute,
 * tokens given back; the login guard: 25 wrong passwords from 25 addresses do not lock the
 * owner out while the attacker is refused, the per-pair limit, right passwords cost nothing.
 */
#include <stdio.h>

#include "api/ratelimit.h"
#include "check.h"

static void test_burst_and_refill(void)
{
    ratelimit_t *rl = ratelimit_create(6, 100);   /* 6 per minute = one per 10 s */
    int64_t t = 1000000;
    for (int i = 0; i < 6; i++)
        CHECK_INT(ratelimit_take(rl, "ip:1", t), 0);
    CHECK_INT(ratelimit_take(rl, "ip:1", t), 10);
    CHECK_INT(ratelimit_take(rl, "ip:1", t + 1), 10);      /* 9.999 s rounds up */
    CHECK_INT(ratelimit_take(rl, "ip:1", t + 9000), 1);
    CHECK_INT(ratelimit_take(rl, "ip:1", t + 10000), 0);   /* exactly one token back */
    CHECK_INT(ratelimit_take(rl, "ip:1", t + 10000), 10);
    /* another key is independent */
    CHECK_INT(ratelimit_take(rl, "ip:2", t), 0);
    /* a long pause refills to the cap only */
    t += 3600 * 1000;
    for (int i = 0; i < 6; i++)
        CHECK_INT(ratelimit_take(rl, "ip:1", t), 0);
    CHECK(ratelimit_take(rl, "ip:1", t) > 0);
    /* time going backwards neither refills nor crashes */
    CHECK(ratelimit_take(rl, "ip:1", t - 50000) > 0);
    ratelimit_destroy(rl);
}

static void test_rate_over_a_minute(void)
{
    ratelimit_t *rl = ratelimit_create(20, 100);
    int allowed = 0;
    /* one attempt every 100 ms for 5 minutes: 20 burst + 20/min * 5 min */
    for (int64_t ms = 0; ms < 5 * 60000; ms += 100)
        if (ratelimit_take(rl, "acct:a", ms) == 0)
            allowed++;
    CHECK(allowed >= 119 && allowed <= 120);
    ratelimit_destroy(rl);
}

static void test_bounded_keys(void)
{
    ratelimit_t *rl = ratelimit_create(2, 64);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "ip:%d", i);
        CHECK_INT(ratelimit_take(rl, key, i), 0);
        CHECK(ratelimit_size(rl) <= 64);
    }
    /* the most recent keys are still tracked: their buckets are not full */
    CHECK_INT(ratelimit_take(rl, "ip:999", 1000), 0);
    CHECK(ratelimit_take(rl, "ip:999", 1000) > 0);
    ratelimit_destroy(rl);
}

static void test_disabled(void)
{
    ratelimit_t *rl = ratelimit_create(0, 10);
    for (int i = 0; i < 1000; i++)
        CHECK_INT(ratelimit_take(rl, "k", 0), 0);
    ratelimit_destroy(rl);
}

static void test_window_and_give(void)
{
    ratelimit_t *rl = ratelimit_create_window(3, 3600000, 100);   /* 3 per hour: one per 20 min */
    int64_t t = 5000;
    for (int i = 0; i < 3; i++)
        CHECK_INT(ratelimit_take(rl, "a", t), 0);
    CHECK_INT(ratelimit_take(rl, "a", t), 1200);             /* Retry-After: 20 min */
    CHECK_INT(ratelimit_take(rl, "a", t + 600000), 600);      /* half-way */
    CHECK_INT(ratelimit_take(rl, "a", t + 1200000), 0);
    /* a token given back is usable at once, never above the burst */
    ratelimit_give(rl, "a", t + 1200000);
    CHECK_INT(ratelimit_take(rl, "a", t + 1200000), 0);
    CHECK(ratelimit_take(rl, "a", t + 1200000) > 0);
    ratelimit_give(rl, "b", t);                                /* unknown key: no-op */
    CHECK_INT(ratelimit_size(rl), 1);
    for (int i = 0; i < 10; i++)
        ratelimit_give(rl, "a", t + 1200000);
    for (int i = 0; i < 3; i++)
        CHECK_INT(ratelimit_take(rl, "a", t + 1200000), 0);
    CHECK(ratelimit_take(rl, "a", t + 1200000) > 0);
    ratelimit_destroy(rl);
}

/* One login attempt through the guard, the password right or wrong: 0 (checked; ok says
 * whether it signed in) or the Retry-After of a refusal. */
static int attempt(login_guard_t *g, const char *acct, const char *addr, bool known, bool right,
                   int64_t now)
{
    int wait = login_guard_begin(g, acct, addr, known, now);
    if (wait > 0)
        return wait;
    login_guard_end(g, acct, addr, known, right, now);
    return 0;
}

/* The attack: 25 wrong passwords from 25 addresses must not lock the owner out. */
static void test_guard_owner_not_locked_out(void)
{
    login_guard_config c = {.pair_burst = 5, .pair_window_ms = 60000, .account_burst = 20,
                            .account_window_ms = 3600000, .max_keys = 1000};
    login_guard_t *g = login_guard_create(&c);
    int64_t t = 1000;
    const char *acct = "owner@example.com", *home = "198.51.100.7";
    CHECK_INT(attempt(g, acct, home, false, true, t), 0);     /* the owner signs in: home known */
    char addr[32];
    int refused = 0, last_wait = 0;
    for (int i = 1; i <= 25; i++) {
        snprintf(addr, sizeof addr, "203.0.113.%d", i);
        int w = attempt(g, acct, addr, false, false, t + i);
        if (i <= 20) {
            CHECK_INT(w, 0);                                   /* checked, wrong: counted */
        } else {
            CHECK(w > 0);
            refused++;
            last_wait = w;
        }
    }
    CHECK_INT(refused, 5);
    CHECK(last_wait >= 170 && last_wait <= 180);               /* one token per 3 minutes */
    /* a 26th address is refused too, with a Retry-After */
    CHECK(attempt(g, acct, "192.0.2.200", false, false, t + 30) > 0);
    /* the owner, from the address that signed in before, is not refused: right password ... */
    CHECK_INT(attempt(g, acct, home, true, true, t + 40), 0);
    /* ... nor after a typo or two (the pair's own bucket, 5 per minute) */
    CHECK_INT(attempt(g, acct, home, true, false, t + 41), 0);
    CHECK_INT(attempt(g, acct, home, true, true, t + 42), 0);
    /* another account is not affected by the attack */
    CHECK_INT(attempt(g, "other@example.com", "203.0.113.1", false, true, t + 50), 0);
    /* after the window the attacker's addresses may try again */
    CHECK_INT(attempt(g, acct, "203.0.113.1", false, false, t + 3600000 + 100), 0);
    login_guard_destroy(g);
}

static void test_guard_pair_limit(void)
{
    login_guard_config c = {.pair_burst = 5, .pair_window_ms = 60000, .account_burst = 20,
                            .account_window_ms = 3600000, .max_keys = 1000};
    login_guard_t *g = login_guard_create(&c);
    int64_t t = 0;
    /* one address guessing one known account: 5 wrong, then refused for 12 s (5 per minute) */
    for (int i = 0; i < 5; i++)
        CHECK_INT(attempt(g, "a@x.io", "10.0.0.1", true, false, t), 0);
    CHECK_INT(attempt(g, "a@x.io", "10.0.0.1", true, true, t), 12);   /* even the right one */
    /* the same address on another account, another address on this one: independent */
    CHECK_INT(attempt(g, "b@x.io", "10.0.0.1", true, false, t), 0);
    CHECK_INT(attempt(g, "a@x.io", "10.0.0.2", true, false, t), 0);
    CHECK_INT(attempt(g, "a@x.io", "10.0.0.1", true, true, t + 12000), 0);
    /* right passwords cost nothing: any number of sign-ins in a row */
    for (int i = 0; i < 50; i++)
        CHECK_INT(attempt(g, "c@x.io", "10.0.0.3", i > 0, true, t + 13000), 0);
    /* a refusal by the account bucket does not use up the pair's tokens */
    login_guard_config c2 = {.pair_burst = 2, .pair_window_ms = 60000, .account_burst = 1,
                             .account_window_ms = 3600000, .max_keys = 1000};
    login_guard_t *g2 = login_guard_create(&c2);
    CHECK_INT(attempt(g2, "d@x.io", "10.0.0.9", false, false, t), 0);
    for (int i = 0; i < 5; i++)
        CHECK(attempt(g2, "d@x.io", "10.0.0.9", false, false, t) > 0);
    CHECK_INT(attempt(g2, "d@x.io", "10.0.0.9", true, false, t), 0);   /* one pair token left */
    CHECK(attempt(g2, "d@x.io", "10.0.0.9", true, false, t) > 0);
    login_guard_destroy(g2);
    /* disabled buckets */
    login_guard_config off = {0};
    login_guard_t *g3 = login_guard_create(&off);
    for (int i = 0; i < 100; i++)
        CHECK_INT(attempt(g3, "e@x.io", "10.0.0.1", false, false, t), 0);
    login_guard_destroy(g3);
    login_guard_destroy(g);
}

int main(void)
{
    test_burst_and_refill();
    test_rate_over_a_minute();
    test_bounded_keys();
    test_disabled();
    test_window_and_give();
    test_guard_owner_not_locked_out();
    test_guard_pair_limit();
    return check_summary("api-ratelimit");
}
