/*
 * test_ws_bucket: the sans-IO fairness rules of the WebSocket transport (transport/ws_bucket.h):
 * the message token bucket (burst, refill, wait time, no overflow after a long pause) and the
 * flood rule (consecutive throttled ticks with a full backlog).
 */
#include "check.h"
#include "transport/ws_bucket.h"

static void test_burst_and_refill(void)
{
    ws_bucket b;
    ws_bucket_init(&b, 200, 400, 1000);
    int taken = 0;
    while (ws_bucket_ready(&b, 1000)) {
        ws_bucket_take(&b);
        taken++;
    }
    CHECK_INT(taken, 400);                       /* the burst, at one instant */
    CHECK(!ws_bucket_ready(&b, 1004));           /* 4 ms = 0.8 token */
    CHECK(ws_bucket_ready(&b, 1005));            /* 5 ms = 1 token at 200/s */
    ws_bucket_take(&b);
    CHECK(!ws_bucket_ready(&b, 1005));
    /* 10 tokens take 50 ms from empty. */
    CHECK_INT((int)ws_bucket_wait_ms(&b, 10), 50);
    /* One second refills 200, never more than the burst. */
    taken = 0;
    while (ws_bucket_ready(&b, 2005)) {
        ws_bucket_take(&b);
        taken++;
    }
    CHECK_INT(taken, 200);
    CHECK(ws_bucket_ready(&b, 1000000000));      /* a long pause: full, no overflow */
    taken = 0;
    while (ws_bucket_ready(&b, 1000000000)) {
        ws_bucket_take(&b);
        taken++;
    }
    CHECK_INT(taken, 400);
    CHECK_INT((int)ws_bucket_wait_ms(&b, 1000), 2000);   /* capped to the burst */
}

static void test_steady_rate(void)
{
    /* A client at exactly the rate is never refused; one at twice the rate gets about the
     * rate once its burst is spent. */
    ws_bucket b;
    ws_bucket_init(&b, 100, 200, 0);
    int refused = 0;
    for (uint64_t t = 0; t < 10000; t += 10) {   /* one message every 10 ms = 100/s */
        if (ws_bucket_ready(&b, t))
            ws_bucket_take(&b);
        else
            refused++;
    }
    CHECK_INT(refused, 0);
    ws_bucket_init(&b, 100, 200, 0);
    int got = 0;
    for (uint64_t t = 0; t < 10000; t += 5) {    /* 200/s offered for 10 s */
        if (ws_bucket_ready(&b, t)) {
            ws_bucket_take(&b);
            got++;
        }
    }
    CHECK(got >= 1000 + 200 - 2 && got <= 1000 + 200 + 1);
}

static void test_flood_rule(void)
{
    ws_flood f = {0};
    for (int i = 0; i < 19; i++)
        CHECK(!ws_flood_tick(&f, true, 65536, 32768, 20));
    CHECK(ws_flood_tick(&f, true, 65536, 32768, 20));   /* the 20th tick in a row */
    f = (ws_flood){0};
    for (int i = 0; i < 19; i++)
        ws_flood_tick(&f, true, 65536, 32768, 20);
    CHECK(!ws_flood_tick(&f, true, 100, 32768, 20));     /* backlog drained: starts over */
    CHECK_INT((int)f.strikes, 0);
    for (int i = 0; i < 19; i++)
        ws_flood_tick(&f, true, 65536, 32768, 20);
    CHECK(!ws_flood_tick(&f, false, 65536, 32768, 20));  /* not throttled this tick */
    CHECK(!ws_flood_tick(&f, true, 65536, 32768, 0));    /* limit 0: never */
}

int main(void)
{
    test_burst_and_refill();
    test_steady_rate();
    test_flood_rule();
    return check_summary("test_ws_bucket");
}
