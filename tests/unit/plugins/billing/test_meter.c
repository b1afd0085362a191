/*
 * The meter on a fake clock: a harness plays the billing plugin (a wallet that refuses what it
 * cannot pay, charges keyed by minute) and checks after every step that each minute is charged
 * once, in order, at the rate of its kind, never past the billable time, never after a stop,
 * and that the wallet never goes negative; then the scenarios of SPEC 5 one by one, and random
 * ones against the same invariants.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "meter.h"

#define MINUTE 1000
#define MAX_MINUTES 4096

typedef struct harness {
    meter m;
    int64_t now;
    int64_t wallet;                 /* the caller's available credits */
    int64_t charged_total;
    int64_t charges[MAX_MINUTES];   /* amount per minute index (0 = not charged) */
    int64_t last_minute;            /* highest minute charged */
    int64_t low_balance_at, low_balance_ends_in, low_balance_needed;
    int low_balances, ticks;
    int64_t last_tick, max_tick_gap;
    meter_end ended;
    int64_t ended_at;
    bool refuse_next;               /* the store refuses the next charge (funds spent elsewhere) */
    int violations;
} harness;

static void violation(harness *h, const char *what)
{
    h->violations++;
    fprintf(stderr, "t=%lld: %s\n", (long long)h->now, what);
}

static void apply(harness *h, const meter_actions *a);

/* The plugin's side of a charge: the ledger moves money only if the wallet covers it. */
static void do_charge(harness *h, const meter_actions *a)
{
    int64_t k = a->charge_minute;
    if (k < 1 || k >= MAX_MINUTES || h->charges[k] != 0 || k != h->last_minute + 1)
        violation(h, "minute charged twice or out of order");
    int64_t billable = meter_billable_at(&h->m, h->now);
    if ((k - 1) * (int64_t)MINUTE > billable)
        violation(h, "minute charged before the billable time reached it");
    bool ok = !h->refuse_next && h->wallet >= a->charge_amount;
    h->refuse_next = false;
    if (ok) {
        h->wallet -= a->charge_amount;
        h->charges[k] = a->charge_amount;
        h->charged_total += a->charge_amount;
        h->last_minute = k;
    }
    meter_actions next;
    meter_charged(&h->m, h->now, k, ok, h->wallet, &next);
    apply(h, &next);
}

static void apply(harness *h, const meter_actions *a)
{
    if (a->tick) {
        h->ticks++;
        if (h->ticks > 1 && h->now - h->last_tick > h->max_tick_gap)
            h->max_tick_gap = h->now - h->last_tick;
        h->last_tick = h->now;
    }
    if (a->low_balance) {
        h->low_balances++;
        h->low_balance_at = h->now;
        h->low_balance_ends_in = a->ends_in_ms;
        h->low_balance_needed = a->needed;
    }
    if (a->end != METER_END_NONE) {
        if (h->ended != METER_END_NONE)
            violation(h, "ended twice");
        h->ended = a->end;
        h->ended_at = h->now;
    }
    if (a->charge) {
        if (h->ended != METER_END_NONE && h->m.stopped)
            violation(h, "charge asked after the stop");
        do_charge(h, a);
    }
    if (h->wallet < 0)
        violation(h, "negative wallet");
}

static void start(harness *h, meter_kind kind, int64_t wallet, int64_t audio_rate, int64_t video_rate)
{
    memset(h, 0, sizeof *h);
    meter_config cfg = {.minute_ms = MINUTE, .low_balance_ms = 300, .outage_ms = 500, .ticker_ms = 200,
                        .rate = {audio_rate, video_rate}};
    meter_init(&h->m, &cfg);
    h->wallet = wallet;
    meter_actions a;
    meter_start(&h->m, 0, kind, wallet, &a);
    apply(h, &a);
}

/* Time passes in 10 ms steps to `until`, with media on at least one leg when `media`. */
static void run(harness *h, int64_t until, bool media)
{
    while (h->now < until && h->ended == METER_END_NONE) {
        h->now += 10;
        if (media)
            meter_media(&h->m, h->now);
        meter_actions a;
        meter_advance(&h->m, h->now, &a);
        if (a.wake_at_ms <= h->now)
            violation(h, "wake-up time not in the future");
        apply(h, &a);
    }
}

static void test_plain_call(void)
{
    harness h;
    start(&h, METER_AUDIO, 1000, 10, 25);
    CHECK_INT(h.last_minute, 1);          /* minute 1 at connect */
    CHECK_INT(h.charged_total, 10);
    run(&h, 3500, true);
    CHECK_INT(h.last_minute, 4);          /* ceil(3500 / 1000) */
    CHECK_INT(h.charged_total, 40);
    CHECK_INT(h.wallet, 960);
    CHECK_INT(h.m.charged, 40);
    CHECK_INT(meter_billable_at(&h.m, h.now), 3500);
    CHECK(h.max_tick_gap <= 200);
    CHECK_INT(h.low_balances, 0);
    meter_stop(&h.m, h.now);
    run(&h, 9000, true);                  /* nothing after the stop */
    CHECK_INT(h.last_minute, 4);
    CHECK_INT(h.violations, 0);
}

static void test_upgrade_applies_from_next_minute(void)
{
    harness h;
    start(&h, METER_AUDIO, 1000, 10, 25);
    run(&h, 1500, true);                  /* minutes 1, 2 audio */
    meter_set_kind(&h.m, h.now, METER_VIDEO);
    run(&h, 2500, true);                  /* minute 3 video */
    CHECK_INT(h.charges[1], 10);
    CHECK_INT(h.charges[2], 10);
    CHECK_INT(h.charges[3], 25);
    CHECK_INT(h.charged_total, 45);
    CHECK_INT(h.violations, 0);
}

static void test_low_balance_then_insufficient(void)
{
    harness h;
    start(&h, METER_AUDIO, 20, 10, 25);   /* two minutes of credit */
    run(&h, 5000, true);
    CHECK_INT(h.last_minute, 2);          /* exactly two minutes charged */
    CHECK_INT(h.charged_total, 20);
    CHECK_INT(h.wallet, 0);
    CHECK_INT(h.low_balances, 1);
    CHECK_INT(h.low_balance_at, 1700);    /* 300 ms before the boundary of minute 3 */
    CHECK_INT(h.low_balance_ends_in, 300);
    CHECK_INT(h.low_balance_needed, 10);
    CHECK_INT(h.ended, METER_END_INSUFFICIENT);
    CHECK_INT(h.ended_at, 2000);          /* at the boundary: never a free minute */
    CHECK_INT(h.violations, 0);
}

static void test_top_up_extends(void)
{
    harness h;
    start(&h, METER_AUDIO, 20, 10, 25);
    run(&h, 1800, true);
    CHECK_INT(h.low_balances, 1);
    h.wallet += 100;                      /* a purchase during the call */
    meter_actions a;
    meter_balance(&h.m, h.now, h.wallet, &a);
    apply(&h, &a);
    CHECK_INT(meter_affordable_ms(&h.m, h.now), 200 + 10 * MINUTE);
    run(&h, 3500, true);
    CHECK_INT(h.last_minute, 4);
    CHECK_INT(h.ended, METER_END_NONE);
    CHECK_INT(h.low_balances, 1);
    CHECK_INT(h.violations, 0);
}

static void test_outage_pauses_the_clock(void)
{
    harness h;
    start(&h, METER_AUDIO, 1000, 10, 25);
    run(&h, 1200, true);                  /* minutes 1, 2 */
    run(&h, 5000, false);                 /* no media: billable stops at 1200 + 500 */
    CHECK_INT(meter_billable_at(&h.m, h.now), 1700);
    CHECK_INT(h.last_minute, 2);          /* no new minute during the outage */
    run(&h, 5310, true);                  /* back (first media at 5010): 300 ms more reach minute 3 */
    CHECK_INT(h.last_minute, 3);
    CHECK_INT(meter_billable_at(&h.m, h.now), 2000);
    CHECK_INT(h.violations, 0);
}

static void test_refused_charge_ends_and_duplicates_are_ignored(void)
{
    harness h;
    start(&h, METER_VIDEO, 1000, 10, 25);
    /* A duplicate report of minute 1 changes nothing. */
    meter_actions a;
    meter_charged(&h.m, h.now, 1, true, h.wallet, &a);
    CHECK(!a.charge && a.end == METER_END_NONE);
    CHECK_INT(h.m.charged, 25);
    run(&h, 900, true);
    h.refuse_next = true;                 /* the wallet was spent elsewhere meanwhile */
    run(&h, 3000, true);
    CHECK_INT(h.last_minute, 1);
    CHECK_INT(h.ended, METER_END_INSUFFICIENT);
    CHECK_INT(h.ended_at, 1000);
    CHECK_INT(h.violations, 0);
}

static void test_free_host(void)
{
    harness h;
    start(&h, METER_AUDIO, 0, 0, 0);
    run(&h, 2500, true);
    CHECK_INT(h.last_minute, 3);          /* minutes still counted, at 0 credits */
    CHECK_INT(h.charged_total, 0);
    CHECK_INT(meter_affordable_ms(&h.m, h.now), -1);
    CHECK_INT(h.ended, METER_END_NONE);
    CHECK_INT(h.violations, 0);
}

/* Random calls: media gaps, kind changes, top-ups, refusals, a stop. After each: the
 * charges are exactly minutes 1..n, n = ceil(billable / minute) unless the call ended for
 * lack of funds, their sum is the meter's, and nothing broke the invariants on the way. */
static void test_random(void)
{
    srand(7);
    for (int round = 0; round < 300; round++) {
        harness h;
        int64_t rates[2] = {rand() % 20, rand() % 50};
        start(&h, rand() % 2 ? METER_VIDEO : METER_AUDIO, rand() % 400, rates[0], rates[1]);
        int64_t end = 2000 + rand() % 20000;
        while (h.now < end && h.ended == METER_END_NONE) {
            int what = rand() % 10;
            int64_t until = h.now + 50 + rand() % 1500;
            if (what == 0) {
                meter_set_kind(&h.m, h.now, rand() % 2 ? METER_VIDEO : METER_AUDIO);
            } else if (what == 1) {
                h.wallet += rand() % 60;
                meter_actions a;
                meter_balance(&h.m, h.now, h.wallet, &a);
                apply(&h, &a);
            } else if (what == 2 && rand() % 4 == 0) {
                h.refuse_next = true;
            }
            run(&h, until, what != 3);
        }
        int64_t billable = meter_billable_at(&h.m, h.now);
        int64_t sum = 0;
        for (int64_t k = 1; k <= h.last_minute; k++)
            sum += h.charges[k];
        CHECK_INT(sum, h.charged_total);
        CHECK_INT(h.m.charged, h.charged_total);
        CHECK_INT(h.m.minutes_charged, h.last_minute);
        if (h.ended == METER_END_NONE)
            CHECK_INT(h.last_minute, billable / MINUTE + 1);
        else
            CHECK(h.last_minute <= billable / MINUTE + 1);
        CHECK(h.wallet >= 0);
        CHECK_INT(h.violations, 0);
    }
}

int main(void)
{
    test_plain_call();
    test_upgrade_applies_from_next_minute();
    test_low_balance_then_insufficient();
    test_top_up_extends();
    test_outage_pauses_the_clock();
    test_refused_charge_ends_and_duplicates_are_ignored();
    test_free_host();
    test_random();
    return check_summary("test_meter");
}
