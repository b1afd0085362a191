/*
 * Token buckets with a fake clock: burst, refill rate, Retry-After values, independent keys,
 * bounded memory, clock going backwards, disabled limiter.
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

int main(void)
{
    test_burst_and_refill();
    test_rate_over_a_minute();
    test_bounded_keys();
    test_disabled();
    return check_summary("api-ratelimit");
}
