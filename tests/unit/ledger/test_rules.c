/*
 * test_rules: the pure money rules, exhaustively where the domain is small (every bps for a
 * range of amounts) and at the edges elsewhere (0, 1, -1, INT64_MAX, INT64_MIN).
 */
#include <stdint.h>

#include "check.h"
#include "ledger/ledger_rules.h"

/* Reference split with 128-bit arithmetic: host = floor(amount * (10000 - bps) / 10000). */
static int64_t ref_host(int64_t amount, int bps)
{
    __int128 p = (__int128)amount * (LEDGER_BPS_MAX - bps);
    return (int64_t)(p / LEDGER_BPS_MAX);
}

static void test_split_exhaustive(void)
{
    int bad = 0;
    for (int bps = 0; bps <= LEDGER_BPS_MAX; bps++) {
        for (int64_t a = 1; a <= 300; a++) {
            int64_t h = -1, f = -1;
            if (ledger_split(a, bps, &h, &f) != LEDGER_OK || h != ref_host(a, bps) ||
                h + f != a || h < 0 || f < 0)
                bad++;
        }
    }
    CHECK_INT(bad, 0);
}

static void test_split_edges(void)
{
    int64_t h = 7, f = 7;
    CHECK_INT(ledger_split(0, 2000, &h, &f), LEDGER_EINVAL);
    CHECK_INT(ledger_split(-1, 2000, &h, &f), LEDGER_EINVAL);
    CHECK_INT(ledger_split(INT64_MIN, 2000, &h, &f), LEDGER_EINVAL);
    CHECK_INT(ledger_split(100, -1, &h, &f), LEDGER_EINVAL);
    CHECK_INT(ledger_split(100, 10001, &h, &f), LEDGER_EINVAL);
    CHECK_INT(h, 7); /* untouched on error */
    CHECK_INT(f, 7);

    CHECK_INT(ledger_split(100, 2000, &h, &f), 0);
    CHECK_INT(h, 80);
    CHECK_INT(f, 20);
    CHECK_INT(ledger_split(1, 2000, &h, &f), 0); /* 0.8 rounds down: host 0, platform 1 */
    CHECK_INT(h, 0);
    CHECK_INT(f, 1);
    CHECK_INT(ledger_split(7, 2500, &h, &f), 0); /* 5.25 -> 5 */
    CHECK_INT(h, 5);
    CHECK_INT(f, 2);
    CHECK_INT(ledger_split(99, 0, &h, &f), 0);
    CHECK_INT(h, 99);
    CHECK_INT(f, 0);
    CHECK_INT(ledger_split(99, 10000, &h, &f), 0);
    CHECK_INT(h, 0);
    CHECK_INT(f, 99);

    /* no intermediate overflow at the top of the range */
    int bpss[] = {0, 1, 1999, 2000, 3333, 5000, 9999, 10000};
    int64_t amounts[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2, INT64_MAX / 10000 * 10000,
                         (int64_t)1 << 62, 9999, 10000, 10001};
    for (size_t i = 0; i < sizeof bpss / sizeof bpss[0]; i++) {
        for (size_t j = 0; j < sizeof amounts / sizeof amounts[0]; j++) {
            CHECK_INT(ledger_split(amounts[j], bpss[i], &h, &f), 0);
            CHECK(h == ref_host(amounts[j], bpss[i]));
            CHECK(h + f == amounts[j]);
            CHECK(f >= 0 && h >= 0);
        }
    }
}

/* Pseudo-random amounts over the whole int64 range, checked against the 128-bit reference. */
static void test_split_random(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t a = (int64_t)(x >> (1 + (x & 63) % 63)); /* spread over magnitudes, >= 0 */
        int bps = (int)((x >> 3) % (LEDGER_BPS_MAX + 1));
        int64_t h, f;
        int rc = ledger_split(a, bps, &h, &f);
        if (a <= 0) {
            bad += rc != LEDGER_EINVAL;
            continue;
        }
        bad += rc != 0 || h != ref_host(a, bps) || h + f != a;
    }
    CHECK_INT(bad, 0);
}

static void test_add_sub(void)
{
    int64_t r = 5;
    CHECK(ledger_amount_valid(1));
    CHECK(ledger_amount_valid(INT64_MAX));
    CHECK(!ledger_amount_valid(0));
    CHECK(!ledger_amount_valid(-1));
    CHECK(!ledger_amount_valid(INT64_MIN));
    CHECK_INT(ledger_add(INT64_MAX, 1, &r), LEDGER_EOVERFLOW);
    CHECK_INT(r, 5);
    CHECK_INT(ledger_add(INT64_MIN, -1, &r), LEDGER_EOVERFLOW);
    CHECK_INT(ledger_add(INT64_MAX - 1, 1, &r), 0);
    CHECK(r == INT64_MAX);
    CHECK_INT(ledger_add(-3, 3, &r), 0);
    CHECK_INT(r, 0);
    CHECK_INT(ledger_sub(INT64_MIN, 1, &r), LEDGER_EOVERFLOW);
    CHECK_INT(ledger_sub(0, INT64_MIN, &r), LEDGER_EOVERFLOW);
    CHECK_INT(ledger_sub(INT64_MAX, INT64_MAX, &r), 0);
    CHECK_INT(r, 0);
    CHECK_INT(ledger_sub(-1, INT64_MAX, &r), 0);
    CHECK(r == INT64_MIN);
}

static void test_holds(void)
{
    ledger_hold_state h = {.held = 100};
    int64_t rest = -1, rel = -1;
    CHECK_INT(ledger_hold_state_remaining(&h, &rest), 0);
    CHECK_INT(rest, 100);
    CHECK_INT(ledger_hold_state_capture(&h, 0), LEDGER_EINVAL);
    CHECK_INT(ledger_hold_state_capture(&h, -5), LEDGER_EINVAL);
    CHECK_INT(ledger_hold_state_capture(&h, 101), LEDGER_EFUNDS);
    CHECK_INT(h.captured, 0);
    CHECK_INT(ledger_hold_state_capture(&h, 60), 0);
    CHECK_INT(ledger_hold_state_capture(&h, 40), 0);
    CHECK_INT(ledger_hold_state_capture(&h, 1), LEDGER_EFUNDS);
    CHECK_INT(ledger_hold_state_add(&h, 30), 0);
    CHECK_INT(h.held, 130);
    CHECK_INT(ledger_hold_state_capture(&h, 10), 0);
    CHECK_INT(ledger_hold_state_release(&h, &rel), 0);
    CHECK_INT(rel, 20);
    CHECK(h.closed);
    CHECK_INT(h.captured + h.released, h.held);
    CHECK_INT(ledger_hold_state_release(&h, &rel), LEDGER_ESTATE);
    CHECK_INT(ledger_hold_state_capture(&h, 1), LEDGER_ESTATE);
    CHECK_INT(ledger_hold_state_add(&h, 1), LEDGER_ESTATE);

    /* release of a fully captured hold moves 0 and closes it */
    ledger_hold_state g = {.held = 5, .captured = 5};
    CHECK_INT(ledger_hold_state_release(&g, &rel), 0);
    CHECK_INT(rel, 0);
    CHECK(g.closed);

    /* inconsistent states are refused, never "fixed" */
    ledger_hold_state bad1 = {.held = 10, .captured = 8, .released = 3};
    CHECK_INT(ledger_hold_state_remaining(&bad1, &rest), LEDGER_EINVAL);
    CHECK_INT(ledger_hold_state_capture(&bad1, 1), LEDGER_EINVAL);
    CHECK_INT(ledger_hold_state_release(&bad1, &rel), LEDGER_EINVAL);
    ledger_hold_state bad2 = {.held = -1};
    CHECK_INT(ledger_hold_state_remaining(&bad2, &rest), LEDGER_EINVAL);
    ledger_hold_state bad3 = {.held = INT64_MAX, .captured = INT64_MAX, .released = 1};
    CHECK_INT(ledger_hold_state_remaining(&bad3, &rest), LEDGER_EINVAL);

    /* adding past INT64_MAX overflows instead of wrapping */
    ledger_hold_state big = {.held = INT64_MAX - 1};
    CHECK_INT(ledger_hold_state_add(&big, 2), LEDGER_EOVERFLOW);
    CHECK(big.held == INT64_MAX - 1);
    CHECK_INT(ledger_hold_state_add(&big, 1), 0);
    CHECK(big.held == INT64_MAX);
    CHECK_INT(ledger_hold_state_capture(&big, INT64_MAX), 0);
    CHECK_INT(ledger_hold_state_release(&big, &rel), 0);
    CHECK_INT(rel, 0);
}

static void test_charge_plan(void)
{
    int64_t h = -1, w = -1;
    CHECK_INT(ledger_charge_plan(10, 100, 0, &h, &w), 0);
    CHECK_INT(h, 10);
    CHECK_INT(w, 0);
    CHECK_INT(ledger_charge_plan(10, 4, 6, &h, &w), 0);
    CHECK_INT(h, 4);
    CHECK_INT(w, 6);
    CHECK_INT(ledger_charge_plan(10, 0, 10, &h, &w), 0);
    CHECK_INT(h, 0);
    CHECK_INT(w, 10);
    h = w = -1;
    CHECK_INT(ledger_charge_plan(10, 4, 5, &h, &w), LEDGER_EFUNDS);
    CHECK_INT(h, -1);
    CHECK_INT(ledger_charge_plan(0, 4, 5, &h, &w), LEDGER_EINVAL);
    CHECK_INT(ledger_charge_plan(-1, 4, 5, &h, &w), LEDGER_EINVAL);
    CHECK_INT(ledger_charge_plan(1, -4, 5, &h, &w), LEDGER_EINVAL);
    CHECK_INT(ledger_charge_plan(1, 4, -5, &h, &w), LEDGER_EINVAL);
    CHECK_INT(ledger_charge_plan(INT64_MAX, INT64_MAX, INT64_MAX, &h, &w), 0);
    CHECK(h == INT64_MAX);
    CHECK_INT(w, 0);
    CHECK_INT(ledger_charge_plan(INT64_MAX, 1, INT64_MAX - 1, &h, &w), 0);
    CHECK(w == INT64_MAX - 1);
    CHECK_INT(ledger_charge_plan(INT64_MAX, 1, INT64_MAX - 2, &h, &w), LEDGER_EFUNDS);
    /* exhaustive small domain: either exact cover or EFUNDS */
    int bad = 0;
    for (int64_t a = 1; a <= 40; a++)
        for (int64_t hr = 0; hr <= 40; hr++)
            for (int64_t wa = 0; wa <= 40; wa++) {
                int rc = ledger_charge_plan(a, hr, wa, &h, &w);
                if (hr + wa < a)
                    bad += rc != LEDGER_EFUNDS;
                else
                    bad += rc != 0 || h + w != a || h > hr || w > wa || (w > 0 && h != hr);
            }
    CHECK_INT(bad, 0);
}

static void test_strerror(void)
{
    CHECK_STR(ledger_strerror(LEDGER_EFUNDS), "insufficient_balance");
    CHECK_STR(ledger_strerror(LEDGER_ECONFLICT), "conflict");
    CHECK_STR(ledger_strerror(12345), "unknown_error");
}

int main(void)
{
    test_split_exhaustive();
    test_split_edges();
    test_split_random();
    test_add_sub();
    test_holds();
    test_charge_plan();
    test_strerror();
    return check_summary("ledger-rules");
}
