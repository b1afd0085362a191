/*
 * admin: the platform's part of the admin API (admin port, loopback by default):
 * GET /admin/ledger/check recomputes the ledger invariants; GET /admin/revenue reports the
 * platform's revenue and what came in through purchases.
 */
#include <string.h>

#include "api/internal.h"
#include "ledger/ledger.h"

int admin_ledger_check(api_req *rq, api_resp *rs)
{
    ledger_check_result c;
    int rc = ledger_check(rq->p->store, &c);
    if (rc != 0)
        return api_store_error(&rs->err, rc);
    return api_ok(rs, 200, json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "ok", c.ok, "sum_of_balances", (json_int_t)c.sum_of_balances,
        "accounts", (json_int_t)c.accounts, "transfers_count", (json_int_t)c.transfers_count,
        "ops_count", (json_int_t)c.ops_count, "negative_wallets", (json_int_t)c.negative_wallets,
        "holds_exceeding", (json_int_t)c.holds_exceeding,
        "mismatched_balances", (json_int_t)c.mismatched_balances,
        "external_balance", (json_int_t)c.external_balance));
}

typedef struct revenue_read {
    int64_t revenue;
    json_t *purchases;
} revenue_read;

static int revenue_run(sqlite3 *db, void *arg)
{
    revenue_read *r = arg;
    int rc = ledger_revenue_db(db, &r->revenue);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT currency, status, COUNT(*), SUM(credits), "
                           "SUM(price_cents) FROM purchases GROUP BY currency, status "
                           "ORDER BY currency, status", -1, &st, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(r->purchases, json_pack("{s:s, s:s, s:I, s:I, s:I}",
            "currency", (const char *)sqlite3_column_text(st, 0),
            "status", (const char *)sqlite3_column_text(st, 1),
            "count", (json_int_t)sqlite3_column_int64(st, 2),
            "credits", (json_int_t)sqlite3_column_int64(st, 3),
            "price_cents", (json_int_t)sqlite3_column_int64(st, 4)));
    sqlite3_finalize(st);
    return 0;
}

int admin_revenue(api_req *rq, api_resp *rs)
{
    revenue_read r = {.purchases = json_array()};
    int rc = store_read(rq->p->store, revenue_run, &r);
    if (rc != 0) {
        json_decref(r.purchases);
        return api_store_error(&rs->err, rc);
    }
    return api_ok(rs, 200, json_pack("{s:I, s:i, s:o}", "platform_revenue",
                                     (json_int_t)r.revenue, "platform_fee_bps", rq->p->fee_bps,
                                     "purchases", r.purchases));
}
