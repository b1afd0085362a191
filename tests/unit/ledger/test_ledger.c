/*
 * test_ledger: the ledger on a real SQLite file in a temporary directory, through the store
 * (group commit) — purchases, holds, captures, releases, unit charges, payouts, idempotent
 * replays and conflicts, insufficient funds, overflow, history paging, earnings, atomic
 * combination with a caller's own writes, injected commit failures, and 8 threads of random
 * operations. ledger_check runs after every scenario and must report a balanced ledger.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "balanced.h"
#include "ledger/ledger.h"

static char dir[] = "/tmp/parley-ledger-XXXXXX";

static store_t *open_db(const char *name)
{
    char path[300], err[256] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    store_t *s = store_open(path, err, sizeof err);
    if (!s) {
        fprintf(stderr, "store_open: %s\n", err);
        exit(1);
    }
    if (ledger_migrate(s, err, sizeof err) != 0) {
        fprintf(stderr, "ledger_migrate: %s\n", err);
        exit(1);
    }
    return s;
}

static ledger_balance_t bal(store_t *s, uint64_t user)
{
    ledger_balance_t b = {-1, -1, -1};
    CHECK_INT(ledger_balance(s, user, &b), 0);
    return b;
}

static void test_purchases(store_t *s)
{
    ledger_result r;
    CHECK_INT(ledger_credit_purchase(s, 10, 1000, "purchase:1", "p1", &r), 0);
    CHECK(!r.replayed);
    CHECK(r.op_id > 0 && r.transfer_id > 0);
    CHECK_INT(r.amount, 1000);
    CHECK_INT(bal(s, 10).available, 1000);
    ledger_result again;
    CHECK_INT(ledger_credit_purchase(s, 10, 1000, "purchase:1", "p1", &again), 0);
    CHECK(again.replayed);
    CHECK_INT(again.op_id, r.op_id);
    CHECK_INT(again.transfer_id, r.transfer_id);
    CHECK_INT(bal(s, 10).available, 1000);
    CHECK_INT(ledger_credit_purchase(s, 10, 999, "purchase:1", "p1", NULL), LEDGER_ECONFLICT);
    CHECK_INT(ledger_credit_purchase(s, 11, 1000, "purchase:1", "p1", NULL), LEDGER_ECONFLICT);
    CHECK_INT(ledger_credit_purchase(s, 10, 1000, "purchase:1", "other", NULL), LEDGER_ECONFLICT);
    CHECK_INT(ledger_credit_purchase(s, 10, 1000, "purchase:1", NULL, NULL), LEDGER_ECONFLICT);
    CHECK_INT(ledger_credit_purchase(s, 10, 0, "purchase:2", NULL, NULL), LEDGER_EINVAL);
    CHECK_INT(ledger_credit_purchase(s, 10, -5, "purchase:2", NULL, NULL), LEDGER_EINVAL);
    CHECK_INT(ledger_credit_purchase(s, 0, 5, "purchase:2", NULL, NULL), LEDGER_EINVAL);
    CHECK_INT(ledger_credit_purchase(s, UINT64_MAX, 5, "purchase:2", NULL, NULL), LEDGER_EINVAL);
    CHECK_INT(ledger_credit_purchase(s, 10, 5, "", NULL, NULL), LEDGER_EINVAL);
    CHECK_INT(ledger_credit_purchase(s, 10, 5, NULL, NULL, NULL), LEDGER_EINVAL);
    CHECK_INT(bal(s, 10).available, 1000);
    ledger_balance_t none = bal(s, 99); /* never seen: zeros, not an error */
    CHECK_INT(none.available + none.held + none.earnings, 0);
    ASSERT_BALANCED(s);
}

static void test_holds_and_captures(store_t *s)
{
    ledger_result r;
    ledger_hold_info hi;
    CHECK_INT(ledger_hold_place(s, 10, 300, "call:1", "call:1:hold", &r), 0);
    CHECK_INT(bal(s, 10).available, 700);
    CHECK_INT(bal(s, 10).held, 300);
    CHECK_INT(ledger_hold_place(s, 10, 300, "call:1", "call:1:hold", &r), 0);
    CHECK(r.replayed);
    CHECK_INT(bal(s, 10).held, 300);
    CHECK_INT(ledger_hold_place(s, 10, 300, "call:1", "call:1:hold-b", NULL), LEDGER_ECONFLICT);
    CHECK_INT(ledger_hold_place(s, 10, 800, "call:2", "call:2:hold", NULL), LEDGER_EFUNDS);
    CHECK_INT(ledger_hold_place(s, 12, 1, "call:3", "call:3:hold", NULL), LEDGER_EFUNDS);
    CHECK_INT(ledger_hold_get(s, "call:2", &hi), LEDGER_ENOTFOUND);

    /* capture 100 at 20 %: host 80, platform 20 */
    CHECK_INT(ledger_hold_capture(s, "call:1", 100, 20, 2000, "call:1:cap:0", "call:1", &r), 0);
    CHECK_INT(r.host_amount, 80);
    CHECK_INT(r.fee_amount, 20);
    CHECK_INT(bal(s, 20).earnings, 80);
    CHECK_INT(bal(s, 10).held, 200);
    CHECK_INT(ledger_hold_capture(s, "call:1", 201, 20, 2000, "call:1:cap:1", "call:1", NULL),
              LEDGER_EFUNDS);
    CHECK_INT(ledger_hold_capture(s, "call:1", 10, 10, 2000, "call:1:cap:1", "call:1", NULL),
              LEDGER_EINVAL); /* paying oneself */
    CHECK_INT(ledger_hold_capture(s, "call:1", 10, 20, 10001, "call:1:cap:1", "call:1", NULL),
              LEDGER_EINVAL);
    CHECK_INT(ledger_hold_capture(s, "nope", 10, 20, 2000, "call:1:cap:1", "call:1", NULL),
              LEDGER_ENOTFOUND);
    CHECK_INT(ledger_hold_get(s, "call:1", &hi), 0);
    CHECK_INT(hi.user_id, 10);
    CHECK_INT(hi.held, 300);
    CHECK_INT(hi.captured, 100);
    CHECK_INT(hi.remaining, 200);
    CHECK(!hi.closed);

    /* extend, then a charge bigger than the hold: hold first, the rest from the wallet */
    CHECK_INT(ledger_hold_extend(s, "call:1", 50, "call:1:ext:1", &r), 0);
    CHECK_INT(bal(s, 10).available, 650);
    CHECK_INT(ledger_charge_unit(s, 10, 20, 300, 2000, "call:1", "call:1:minute:1", "call:1", &r),
              0);
    CHECK_INT(r.from_hold, 250);
    CHECK_INT(r.from_wallet, 50);
    CHECK_INT(r.host_amount, 240);
    CHECK_INT(r.fee_amount, 60);
    CHECK_INT(bal(s, 10).available, 600);
    CHECK_INT(bal(s, 10).held, 0);
    CHECK_INT(bal(s, 20).earnings, 320);
    /* the same minute again (retry, restart, duplicate event): charged once */
    CHECK_INT(ledger_charge_unit(s, 10, 20, 300, 2000, "call:1", "call:1:minute:1", "call:1", &r),
              0);
    CHECK(r.replayed);
    CHECK_INT(bal(s, 10).available, 600);
    CHECK_INT(ledger_charge_unit(s, 10, 20, 301, 2000, "call:1", "call:1:minute:1", "call:1", &r),
              LEDGER_ECONFLICT);
    /* a minute the wallet cannot pay */
    CHECK_INT(ledger_charge_unit(s, 10, 20, 601, 2000, "call:1", "call:1:minute:2", "call:1", &r),
              LEDGER_EFUNDS);
    CHECK_INT(ledger_hold_get(s, "call:1", &hi), 0);
    CHECK_INT(hi.held, 400);
    CHECK_INT(hi.captured, 400);
    ASSERT_BALANCED(s);

    /* release: closes; charges and captures after hangup are refused */
    CHECK_INT(ledger_hold_release(s, "call:1", "call:1:release", &r), 0);
    CHECK_INT(r.amount, 0);
    CHECK_INT(r.transfer_id, 0);
    CHECK_INT(ledger_hold_release(s, "call:1", "call:1:release", &r), 0);
    CHECK(r.replayed);
    CHECK_INT(ledger_hold_release(s, "call:1", "call:1:release-2", NULL), LEDGER_ESTATE);
    CHECK_INT(ledger_charge_unit(s, 10, 20, 10, 2000, "call:1", "call:1:minute:2", "call:1", NULL),
              LEDGER_ESTATE);
    CHECK_INT(ledger_hold_capture(s, "call:1", 1, 20, 2000, "call:1:cap:9", "call:1", NULL),
              LEDGER_ESTATE);
    CHECK_INT(ledger_hold_extend(s, "call:1", 1, "call:1:ext:2", NULL), LEDGER_ESTATE);
    /* a replay of the minute charged before the release still answers like the original */
    CHECK_INT(ledger_charge_unit(s, 10, 20, 300, 2000, "call:1", "call:1:minute:1", "call:1", &r),
              0);
    CHECK(r.replayed);

    /* a hold released with credits left returns them */
    CHECK_INT(ledger_hold_place(s, 10, 120, "call:4", "call:4:hold", NULL), 0);
    CHECK_INT(ledger_hold_capture(s, "call:4", 50, 21, 2000, "call:4:minute:0", "call:4", NULL), 0);
    CHECK_INT(ledger_hold_release(s, "call:4", "call:4:release", &r), 0);
    CHECK_INT(r.amount, 70);
    CHECK_INT(bal(s, 10).available, 600 - 50);
    CHECK_INT(bal(s, 10).held, 0);
    ASSERT_BALANCED(s);
}

static void test_messages_and_payouts(store_t *s)
{
    ledger_result r;
    /* per-message charges from the wallet, no hold */
    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof key, "msg:m%d", i);
        CHECK_INT(ledger_charge_unit(s, 10, 21, 3, 2000, NULL, key, "chat:10-21", &r), 0);
        CHECK_INT(r.from_wallet, 3);
        CHECK_INT(r.host_amount, 2); /* 2.4 rounds down */
        CHECK_INT(r.fee_amount, 1);
    }
    CHECK_INT(bal(s, 10).available, 550 - 15);
    CHECK_INT(ledger_charge_unit(s, 10, 21, 3, 2000, NULL, "msg:m0", "chat:10-21", &r), 0);
    CHECK(r.replayed);
    CHECK_INT(ledger_charge_unit(s, 13, 21, 3, 2000, NULL, "msg:x", "chat:13-21", &r),
              LEDGER_EFUNDS);
    CHECK_INT(ledger_charge_unit(s, 10, 10, 3, 2000, NULL, "msg:y", NULL, &r), LEDGER_EINVAL);
    CHECK_INT(ledger_charge_unit(s, 10, 21, 0, 2000, NULL, "msg:y", NULL, &r), LEDGER_EINVAL);
    CHECK_INT(ledger_charge_unit(s, 10, 21, 1, -1, NULL, "msg:y", NULL, &r), LEDGER_EINVAL);
    CHECK_INT(ledger_charge_unit(s, 10, 21, 1, 2000, "call:none", "msg:y", NULL, &r),
              LEDGER_ENOTFOUND);
    /* someone else's hold cannot pay */
    CHECK_INT(ledger_credit_purchase(s, 14, 100, "purchase:14", NULL, NULL), 0);
    CHECK_INT(ledger_hold_place(s, 14, 100, "call:14", "call:14:hold", NULL), 0);
    CHECK_INT(ledger_charge_unit(s, 10, 21, 1, 2000, "call:14", "msg:z", NULL, &r), LEDGER_EINVAL);

    ledger_earnings_total e;
    CHECK_INT(ledger_earnings(s, 21, &e), 0);
    CHECK_INT(e.total, 40 + 10);
    CHECK_INT(e.charges, 6);
    CHECK_INT(e.balance, 50);
    CHECK_INT(ledger_payout(s, 21, 51, "payout:21:1", NULL, NULL), LEDGER_EFUNDS);
    CHECK_INT(ledger_payout(s, 21, 30, "payout:21:1", "bank", &r), 0);
    CHECK_INT(ledger_earnings(s, 21, &e), 0);
    CHECK_INT(e.balance, 20);
    CHECK_INT(e.total, 50);

    ledger_earnings_row rows[8];
    size_t n = 0;
    CHECK_INT(ledger_earnings_grouped(s, 21, LEDGER_BY_REF, 0, 8, rows, &n), 0);
    CHECK_INT(n, 2);
    CHECK_STR(rows[0].key, "chat:10-21"); /* newest first */
    CHECK_INT(rows[0].amount, 10);
    CHECK_INT(rows[0].charges, 5);
    CHECK_STR(rows[1].key, "call:4");
    CHECK_INT(rows[1].amount, 40);
    CHECK_INT(ledger_earnings_grouped(s, 21, LEDGER_BY_DAY, 0, 8, rows, &n), 0);
    CHECK_INT(n, 1);
    CHECK_INT(strlen(rows[0].key), 10);
    CHECK_INT(rows[0].amount, 50);
    CHECK_INT(ledger_earnings_grouped(s, 21, LEDGER_BY_DAY, store_now_ms() + 86400000, 8, rows, &n),
              0);
    CHECK_INT(n, 0);

    int64_t rev = -1;
    CHECK_INT(ledger_revenue(s, &rev), 0);
    CHECK_INT(rev, 20 + 60 + 10 + 5);
    ASSERT_BALANCED(s);
}

/* History: pages of 3 cover everything once, newest first, deltas add up to the user's total. */
static void test_transactions(store_t *s)
{
    ledger_txn rows[3];
    size_t n = 0, total = 0;
    int64_t before = 0, next = 0, last = INT64_MAX, delta_sum = 0;
    int pages = 0;
    do {
        CHECK_INT(ledger_transactions(s, 10, before, 3, rows, &n, &next), 0);
        for (size_t i = 0; i < n; i++) {
            CHECK(rows[i].id < last);
            last = rows[i].id;
            CHECK(rows[i].amount > 0);
            delta_sum += rows[i].delta;
        }
        total += n;
        before = next;
        pages++;
    } while (next != 0 && pages < 100);
    ledger_balance_t b = bal(s, 10);
    CHECK_INT(delta_sum, b.available + b.held + b.earnings);
    /* purchase, hold, capture(2), extend, topup + 2, hold, capture 2, release, 5 msgs x 2 */
    CHECK_INT(total, 1 + 1 + 2 + 1 + 3 + 1 + 2 + 1 + 10);
    CHECK_INT(ledger_transactions(s, 10, 0, 1, rows, &n, &next), 0);
    CHECK_STR(rows[0].op_kind, "charge");
    CHECK_STR(rows[0].from_kind, "wallet");
    CHECK_STR(rows[0].ref, "chat:10-21");
    CHECK_INT(ledger_transactions(s, 10, 0, 0, rows, &n, &next), LEDGER_EINVAL);
    CHECK_INT(ledger_transactions(s, 98, 0, 3, rows, &n, &next), 0);
    CHECK_INT(n, 0);
    CHECK_INT(next, 0);
}

/* A caller's own write and a ledger operation in one unit: both or neither. */
typedef struct combo {
    int fail;
    ledger_result res;
} combo;
static int combo_unit(sqlite3 *db, void *p)
{
    combo *c = p;
    if (store_exec(db, "CREATE TABLE IF NOT EXISTS purchases(id INTEGER PRIMARY KEY, note TEXT)"))
        return -50;
    if (store_exec(db, "INSERT INTO purchases(note) VALUES ('combo')"))
        return -51;
    int rc = ledger_credit_purchase_db(db, 15, 40, "purchase:combo", "combo", &c->res);
    if (rc)
        return rc;
    return c->fail;
}
static int count_purchases(sqlite3 *db, void *p)
{
    sqlite3_stmt *st;
    *(int *)p = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM purchases", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        *(int *)p = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static void test_combined_units(store_t *s)
{
    combo c = {.fail = 0};
    CHECK_INT(store_write(s, combo_unit, &c), 0);
    int n = 0;
    store_read(s, count_purchases, &n);
    CHECK_INT(n, 1);
    CHECK_INT(bal(s, 15).available, 40);
    combo c2 = {.fail = -9}; /* the caller's later step fails: the credit must vanish too */
    CHECK_INT(store_write(s, combo_unit, &c2), -9);
    store_read(s, count_purchases, &n);
    CHECK_INT(n, 1);
    CHECK_INT(bal(s, 15).available, 40);
    ASSERT_BALANCED(s);
}

/* Fault injection: a failed commit moves nothing; a retry with the same key then succeeds
 * as a first execution (not a replay), i.e. the failed attempt left no trace. */
static void test_commit_failure(store_t *s)
{
    ledger_check_result before, after;
    CHECK_INT(ledger_check(s, &before), 0);
    ledger_result r = {.op_id = 12345};
    store_debug_fail_commit_after(s, 1);
    CHECK_INT(ledger_credit_purchase(s, 16, 500, "purchase:16", NULL, &r), STORE_EIO);
    CHECK_INT(r.op_id, 12345); /* output untouched */
    CHECK_INT(bal(s, 16).available, 0);
    CHECK_INT(ledger_check(s, &after), 0);
    CHECK_INT(after.transfers_count, before.transfers_count);
    CHECK_INT(after.ops_count, before.ops_count);
    CHECK_INT(ledger_credit_purchase(s, 16, 500, "purchase:16", NULL, &r), 0);
    CHECK(!r.replayed);
    CHECK_INT(bal(s, 16).available, 500);
    store_debug_fail_commit_after(s, 1);
    CHECK_INT(ledger_charge_unit(s, 16, 20, 100, 2000, NULL, "msg:fail", NULL, &r), STORE_EIO);
    CHECK_INT(bal(s, 16).available, 500);
    CHECK_INT(bal(s, 20).earnings, 320);
    ASSERT_BALANCED(s);
}

/* Real I/O errors through the fault VFS. A failed WAL write: nothing persisted, the retry is
 * a first execution. A failed fsync: not acknowledged, outcome unknown; the retry with the
 * same key converges on exactly one credit, also after reopening. */
static void test_io_faults(void)
{
    store_t *s = open_db("iofault.db");
    ledger_result r;
    CHECK_INT(ledger_credit_purchase(s, 1, 10, "io:0", NULL, NULL), 0);
    store_debug_fail_io(STORE_FAULT_WRITE, 1);
    CHECK_INT(ledger_credit_purchase(s, 1, 100, "io:1", NULL, &r), STORE_EIO);
    store_debug_fail_io(0, 0);
    CHECK_INT(bal(s, 1).available, 10);
    ASSERT_BALANCED(s);
    CHECK_INT(ledger_credit_purchase(s, 1, 100, "io:1", NULL, &r), 0);
    CHECK(!r.replayed);
    CHECK_INT(bal(s, 1).available, 110);

    store_debug_fail_io(STORE_FAULT_SYNC, 1);
    CHECK_INT(ledger_charge_unit(s, 1, 2, 40, 2000, NULL, "io:2", "x", &r), STORE_EIO);
    store_debug_fail_io(0, 0);
    CHECK_INT(ledger_charge_unit(s, 1, 2, 40, 2000, NULL, "io:2", "x", &r), 0);
    CHECK_INT(bal(s, 1).available, 70);
    CHECK_INT(bal(s, 2).earnings, 32);
    ASSERT_BALANCED(s);
    /* the store keeps working after the errors */
    CHECK_INT(ledger_credit_purchase(s, 1, 5, "io:3", NULL, NULL), 0);
    store_close(s);
    s = open_db("iofault.db");
    CHECK_INT(bal(s, 1).available, 75);
    CHECK_INT(bal(s, 2).earnings, 32);
    ASSERT_BALANCED(s);
    store_close(s);
}

/* The check is not a rubber stamp: tampering with a balance behind the ledger's back is seen,
 * and the append-only triggers refuse edits of history. */
static int tamper(sqlite3 *db, void *p)
{
    return store_exec(db, (const char *)p) == SQLITE_OK ? 0 : -60;
}
static void test_check_detects(void)
{
    store_t *s = open_db("tamper.db");
    CHECK_INT(ledger_credit_purchase(s, 1, 100, "k1", NULL, NULL), 0);
    CHECK_INT(store_write(s, tamper, "UPDATE ledger_transfers SET amount = 1"), -60);
    CHECK_INT(store_write(s, tamper, "DELETE FROM ledger_ops"), -60);
    CHECK_INT(store_write(s, tamper, "UPDATE ledger_accounts SET balance = -1 WHERE kind='wallet'"),
              -60);
    CHECK_INT(store_write(s, tamper, "UPDATE ledger_accounts SET balance = 1.5 WHERE kind='wallet'"),
              -60);
    ASSERT_BALANCED(s);
    CHECK_INT(store_write(s, tamper, "UPDATE ledger_accounts SET balance = 101 WHERE kind='wallet'"),
              0);
    ledger_check_result c;
    CHECK_INT(ledger_check(s, &c), 0);
    CHECK(!c.ok);
    CHECK_INT(c.sum_of_balances, 1);
    CHECK_INT(c.mismatched_balances, 1);
    CHECK_INT(store_write(s, tamper, "UPDATE ledger_accounts SET balance = 7 WHERE kind='hold'"), 0);
    CHECK_INT(ledger_check(s, &c), 0);
    CHECK_INT(c.holds_exceeding, 1);
    store_close(s);

    /* an extra, balanced transfer slipped under an existing operation: balances and nets
     * agree, only the per-operation audit sees it */
    s = open_db("tamper2.db");
    CHECK_INT(ledger_credit_purchase(s, 1, 100, "k1", NULL, NULL), 0);
    ASSERT_BALANCED(s);
    CHECK_INT(store_write(s, tamper,
                          "INSERT INTO ledger_transfers(op_id, from_account, to_account, amount,"
                          " kind, created_at) SELECT id, 1, 3, 5, 'purchase', 0 FROM ledger_ops;"
                          "UPDATE ledger_accounts SET balance = balance - 5 WHERE id = 1;"
                          "UPDATE ledger_accounts SET balance = balance + 5 WHERE id = 3"), 0);
    CHECK_INT(ledger_check(s, &c), 0);
    CHECK(!c.ok);
    CHECK_INT(c.sum_of_balances, 0);
    CHECK_INT(c.mismatched_balances, 0);
    CHECK_INT(c.ops_mismatched, 1);
    store_close(s);
}

/* int64 limits: a wallet cannot pass INT64_MAX, the external mirror cannot pass INT64_MIN. */
static void test_overflow(void)
{
    store_t *s = open_db("overflow.db");
    CHECK_INT(ledger_credit_purchase(s, 1, INT64_MAX, "a", NULL, NULL), 0);
    CHECK_INT(ledger_credit_purchase(s, 1, 1, "b", NULL, NULL), LEDGER_EOVERFLOW);
    CHECK_INT(ledger_credit_purchase(s, 2, 1, "c", NULL, NULL), 0); /* external = INT64_MIN */
    CHECK_INT(ledger_credit_purchase(s, 3, 1, "d", NULL, NULL), LEDGER_EOVERFLOW);
    CHECK(bal(s, 1).available == INT64_MAX);
    CHECK_INT(ledger_charge_unit(s, 1, 4, INT64_MAX, 2000, NULL, "big", "x", NULL), 0);
    int64_t host_part, fee_part;
    CHECK_INT(ledger_split(INT64_MAX, 2000, &host_part, &fee_part), 0);
    CHECK(bal(s, 4).earnings == host_part);
    int64_t rev = 0;
    CHECK_INT(ledger_revenue(s, &rev), 0);
    CHECK(rev == fee_part);
    ledger_check_result c = {0};
    CHECK_INT(ledger_check(s, &c), 0);
    CHECK(c.ok);
    CHECK(c.external_balance == INT64_MIN);
    CHECK_INT(c.mismatched_balances, 0);
    store_close(s);
}

/* A charge whose platform leg would overflow the revenue account is refused whole: the
 * legs are computed before any balance is written, the op row goes with the rolled-back
 * unit, and a retry with the same key is refused again rather than replayed. */
static void test_overflow_in_a_leg(void)
{
    store_t *s = open_db("overflow-leg.db");
    CHECK_INT(ledger_credit_purchase(s, 1, INT64_MAX, "a", NULL, NULL), 0);
    CHECK_INT(ledger_charge_unit(s, 1, 4, INT64_MAX, LEDGER_BPS_MAX, NULL, "all-fee", "x", NULL), 0);
    int64_t rev = 0;
    CHECK_INT(ledger_revenue(s, &rev), 0);
    CHECK(rev == INT64_MAX);
    CHECK_INT(ledger_credit_purchase(s, 2, 1, "b", NULL, NULL), 0);
    ledger_result r = {0};
    CHECK_INT(ledger_charge_unit(s, 2, 4, 1, 2000, NULL, "one", "x", &r), LEDGER_EOVERFLOW);
    CHECK_INT(ledger_charge_unit(s, 2, 4, 1, 2000, NULL, "one", "x", &r), LEDGER_EOVERFLOW);
    CHECK(bal(s, 2).available == 1);
    CHECK(bal(s, 4).earnings == 0);
    CHECK_INT(ledger_revenue(s, &rev), 0);
    CHECK(rev == INT64_MAX);
    ASSERT_BALANCED(s);
    store_close(s);
}

/* ---- concurrency: 8 threads of random operations ---- */

#define THREADS 8
#define OPS_PER_THREAD 150
typedef struct worker {
    store_t *s;
    int id;
    uint64_t rng;
    int64_t bought, paid_out;
    int ok, replays, efunds, unexpected;
} worker;

static uint64_t rnd(worker *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static void tally(worker *w, int rc, const ledger_result *r, int op)
{
    if (rc == 0 && r->replayed)
        w->replays++;
    else if (rc == 0)
        w->ok++;
    else if (rc == LEDGER_EFUNDS || rc == LEDGER_ESTATE)
        w->efunds++;
    else {
        w->unexpected++;
        fprintf(stderr, "worker %d op %d: unexpected %d\n", w->id, op, rc);
    }
}

static void *worker_main(void *p)
{
    worker *w = p;
    uint64_t caller = 100 + (uint64_t)w->id % 4; /* two threads share each caller */
    char key[64], hold[64];
    int holds = 0;
    ledger_result r;
    for (int i = 0; i < OPS_PER_THREAD; i++) {
        uint64_t host = 200 + rnd(w) % 3;
        int op = (int)(rnd(w) % 7);
        int64_t amount = 1 + (int64_t)(rnd(w) % 60);
        int rc;
        snprintf(key, sizeof key, "w%d:op%d", w->id, i);
        snprintf(hold, sizeof hold, "w%d:hold%d", w->id, holds);
        switch (op) {
        case 0:
            rc = ledger_credit_purchase(w->s, caller, amount * 3, key, NULL, &r);
            if (rc == 0 && !r.replayed)
                w->bought += amount * 3;
            break;
        case 1:
            rc = ledger_hold_place(w->s, caller, amount, hold, key, &r);
            if (rc == 0)
                holds++;
            break;
        case 2:
        case 3:
            snprintf(hold, sizeof hold, "w%d:hold%d", w->id, holds ? holds - 1 : 0);
            rc = ledger_charge_unit(w->s, caller, host, amount, 2000, holds ? hold : NULL, key,
                                    "call", &r);
            if (rc == LEDGER_ENOTFOUND)
                rc = LEDGER_ESTATE;
            break;
        case 4:
            snprintf(hold, sizeof hold, "w%d:hold%d", w->id, holds ? holds - 1 : 0);
            rc = ledger_hold_release(w->s, hold, key, &r);
            if (rc == LEDGER_ENOTFOUND)
                rc = LEDGER_ESTATE;
            break;
        case 5: /* replay an earlier operation of this thread: never moves anything twice */
            snprintf(key, sizeof key, "w%d:op%d", w->id, i / 2);
            rc = ledger_charge_unit(w->s, caller, host, amount, 2000, NULL, key, "call", &r);
            if (rc == LEDGER_ECONFLICT)
                rc = LEDGER_ESTATE; /* the key was another kind or parameters: refused */
            break;
        default:
            rc = ledger_payout(w->s, host, amount, key, NULL, &r);
            if (rc == 0 && !r.replayed)
                w->paid_out += amount;
            break;
        }
        tally(w, rc, &r, op);
    }
    return NULL;
}

static void test_concurrency(void)
{
    store_t *s = open_db("concurrent.db");
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.s = s, .id = i, .rng = 0x243F6A8885A308D3ull * (uint64_t)(i + 1)};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    int64_t bought = 0, paid = 0;
    int ok = 0, unexpected = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        bought += w[i].bought;
        paid += w[i].paid_out;
        ok += w[i].ok;
        unexpected += w[i].unexpected;
    }
    CHECK_INT(unexpected, 0);
    ASSERT_BALANCED(s);
    ledger_check_result c;
    CHECK_INT(ledger_check(s, &c), 0);
    CHECK_INT(c.ops_count, ok);
    CHECK_INT(-c.external_balance, bought - paid);
    store_stats_t st;
    store_stats(s, &st);
    fprintf(stderr, "concurrency: %d ops committed, %llu groups, largest %u\n", ok,
            (unsigned long long)st.groups, st.max_group);
    store_close(s);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    store_t *s = open_db("ledger.db");
    char err[256];
    CHECK_INT(ledger_migrate(s, err, sizeof err), 0); /* idempotent */
    test_purchases(s);
    test_holds_and_captures(s);
    test_messages_and_payouts(s);
    test_transactions(s);
    test_combined_units(s);
    test_commit_failure(s);
    store_close(s);
    s = open_db("ledger.db"); /* everything survives a reopen */
    CHECK_INT(bal(s, 10).available, 535);
    ASSERT_BALANCED(s);
    store_close(s);
    test_check_detects();
    test_io_faults();
    test_overflow();
    test_overflow_in_a_leg();
    test_concurrency();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("ledger");
}
