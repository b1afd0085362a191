/*
 * ledger_query.c: reads over the ledger — balances, a hold, a user's history, a host's
 * earnings, platform revenue, and ledger_check, the invariant audit the tests run after every
 * scenario and the admin API exposes.
 */
#include <stdio.h>
#include <string.h>

#include "ledger/ledger_internal.h"

static void ledger_copy_text(char *dst, size_t cap, const unsigned char *src)
{
    snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int ledger_balance_db(sqlite3 *db, uint64_t user_id, ledger_balance_t *out)
{
    if (!ledger_user_valid(user_id))
        return LEDGER_EINVAL;
    ledger_balance_t b;
    int rc;
    if ((rc = ledger_user_balance(db, user_id, "wallet", &b.available)) ||
        (rc = ledger_user_balance(db, user_id, "hold", &b.held)) ||
        (rc = ledger_user_balance(db, user_id, "earnings", &b.earnings)))
        return rc;
    *out = b;
    return LEDGER_OK;
}

int ledger_hold_get_db(sqlite3 *db, const char *hold_ref, ledger_hold_info *out)
{
    if (!ledger_key_valid(hold_ref))
        return LEDGER_EINVAL;
    ledger_hold_row h;
    int64_t rest;
    int rc = ledger_hold_load(db, hold_ref, &h);
    if (!rc)
        rc = ledger_hold_state_remaining(&h.st, &rest);
    if (rc)
        return rc;
    *out = (ledger_hold_info){.user_id = h.user_id, .held = h.st.held, .captured = h.st.captured,
                              .released = h.st.released, .remaining = rest,
                              .closed = h.st.closed};
    return LEDGER_OK;
}

static void ledger_txn_from_row(sqlite3_stmt *st, uint64_t user_id, ledger_txn *t)
{
    t->id = sqlite3_column_int64(st, 0);
    t->created_at_ms = sqlite3_column_int64(st, 1);
    t->amount = sqlite3_column_int64(st, 2);
    ledger_copy_text(t->op_kind, sizeof t->op_kind, sqlite3_column_text(st, 3));
    ledger_copy_text(t->kind, sizeof t->kind, sqlite3_column_text(st, 4));
    ledger_copy_text(t->from_kind, sizeof t->from_kind, sqlite3_column_text(st, 5));
    ledger_copy_text(t->to_kind, sizeof t->to_kind, sqlite3_column_text(st, 6));
    bool from_me = sqlite3_column_int64(st, 7) == (int64_t)user_id;
    bool to_me = sqlite3_column_int64(st, 8) == (int64_t)user_id;
    t->delta = from_me == to_me ? 0 : to_me ? t->amount : -t->amount;
    ledger_copy_text(t->ref, sizeof t->ref, sqlite3_column_text(st, 9));
}

int ledger_transactions_db(sqlite3 *db, uint64_t user_id, int64_t before, size_t limit,
                           ledger_txn *rows, size_t *count, int64_t *next_before)
{
    if (!ledger_user_valid(user_id) || before < 0 || limit == 0 || limit > 10000 || !rows)
        return LEDGER_EINVAL;
    sqlite3_stmt *st;
    if (ledger_prep(db, "SELECT t.id, t.created_at, t.amount, o.kind, t.kind, fa.kind, ta.kind,"
                        " coalesce(fa.owner, 0), coalesce(ta.owner, 0), t.ref"
                        " FROM ledger_transfers t JOIN ledger_ops o ON o.id = t.op_id"
                        " JOIN ledger_accounts fa ON fa.id = t.from_account"
                        " JOIN ledger_accounts ta ON ta.id = t.to_account"
                        " WHERE (t.from_account IN (SELECT id FROM ledger_accounts WHERE owner=?1)"
                        "  OR t.to_account IN (SELECT id FROM ledger_accounts WHERE owner=?1))"
                        " AND t.id < ?2 ORDER BY t.id DESC LIMIT ?3", &st))
        return LEDGER_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)user_id);
    /* a plain range (not "?2 = 0 OR ...") lets both indexes (account, id) bound the scan */
    sqlite3_bind_int64(st, 2, before ? before : INT64_MAX);
    sqlite3_bind_int64(st, 3, (int64_t)limit + 1); /* one more tells whether a page follows */
    size_t n = 0;
    bool more = false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        ledger_txn_from_row(st, user_id, &rows[n++]);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ledger_db_fail(db, st, "transactions");
    store_stmt_release(st);
    *count = n;
    *next_before = more ? rows[n - 1].id : 0;
    return LEDGER_OK;
}

int ledger_earnings_db(sqlite3 *db, uint64_t host_id, ledger_earnings_total *out)
{
    if (!ledger_user_valid(host_id))
        return LEDGER_EINVAL;
    ledger_earnings_total e = {0};
    int rc = ledger_user_balance(db, host_id, "earnings", &e.balance);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    if (ledger_prep(db, "SELECT coalesce(sum(t.amount), 0), count(*) FROM ledger_transfers t"
                        " JOIN ledger_accounts a ON a.id = t.to_account"
                        " WHERE a.owner = ?1 AND a.kind = 'earnings' AND t.kind = 'earning'", &st))
        return LEDGER_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)host_id);
    if (sqlite3_step(st) != SQLITE_ROW)
        return ledger_db_fail(db, st, "earnings");
    e.total = sqlite3_column_int64(st, 0);
    e.charges = sqlite3_column_int64(st, 1);
    store_stmt_release(st);
    *out = e;
    return LEDGER_OK;
}

int ledger_earnings_grouped_db(sqlite3 *db, uint64_t host_id, ledger_group_by by,
                               int64_t since_ms, size_t limit, ledger_earnings_row *rows,
                               size_t *count)
{
    if (!ledger_user_valid(host_id) || limit == 0 || limit > 10000 || !rows || since_ms < 0)
        return LEDGER_EINVAL;
    const char *sql = by == LEDGER_BY_DAY
        ? "SELECT strftime('%Y-%m-%d', t.created_at / 1000, 'unixepoch') AS g,"
          " sum(t.amount), count(*), max(t.created_at) FROM ledger_transfers t"
          " JOIN ledger_accounts a ON a.id = t.to_account"
          " WHERE a.owner = ?1 AND a.kind = 'earnings' AND t.kind = 'earning'"
          " AND t.created_at >= ?2 GROUP BY g ORDER BY max(t.created_at) DESC LIMIT ?3"
        : "SELECT coalesce(t.ref, '') AS g, sum(t.amount), count(*), max(t.created_at)"
          " FROM ledger_transfers t JOIN ledger_accounts a ON a.id = t.to_account"
          " WHERE a.owner = ?1 AND a.kind = 'earnings' AND t.kind = 'earning'"
          " AND t.created_at >= ?2 GROUP BY g ORDER BY max(t.created_at) DESC LIMIT ?3";
    sqlite3_stmt *st;
    if (ledger_prep(db, sql, &st))
        return LEDGER_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)host_id);
    sqlite3_bind_int64(st, 2, since_ms);
    sqlite3_bind_int64(st, 3, (int64_t)limit);
    size_t n = 0;
    int rc = SQLITE_DONE;
    while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ledger_earnings_row *r = &rows[n++];
        ledger_copy_text(r->key, sizeof r->key, sqlite3_column_text(st, 0));
        r->amount = sqlite3_column_int64(st, 1);
        r->charges = sqlite3_column_int64(st, 2);
        r->last_at_ms = sqlite3_column_int64(st, 3);
    }
    if (n < limit && rc != SQLITE_DONE)
        return ledger_db_fail(db, st, "earnings grouped");
    store_stmt_release(st);
    *count = n;
    return LEDGER_OK;
}

int ledger_revenue_db(sqlite3 *db, int64_t *balance)
{
    int rc = ledger_account_balance(db, LEDGER_ACCOUNT_REVENUE, balance);
    return rc == LEDGER_ENOTFOUND ? LEDGER_EDB : rc;
}

/* ---- the invariant audit ---- */

/* First column of a one-row query into *out. */
static int ledger_scalar(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    if (ledger_prep(db, sql, &st))
        return LEDGER_EDB;
    if (sqlite3_step(st) != SQLITE_ROW)
        return ledger_db_fail(db, st, sql);
    *out = sqlite3_column_int64(st, 0);
    store_stmt_release(st);
    return LEDGER_OK;
}

/* Sums balances in C with overflow checks (SQL sum() would only say "integer overflow"). */
static int ledger_check_balances(sqlite3 *db, ledger_check_result *c)
{
    sqlite3_stmt *st;
    if (ledger_prep(db, "SELECT kind, balance FROM ledger_accounts", &st))
        return LEDGER_EDB;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 0);
        int64_t bal = sqlite3_column_int64(st, 1);
        bool external = kind && strcmp(kind, "external") == 0;
        c->accounts++;
        if (external)
            c->external_balance = bal;
        else if (bal < 0)
            c->negative_wallets++;
        if (ledger_add(c->sum_of_balances, bal, &c->sum_of_balances)) {
            store_stmt_release(st);
            return LEDGER_EOVERFLOW;
        }
    }
    if (rc != SQLITE_DONE)
        return ledger_db_fail(db, st, "check balances");
    store_stmt_release(st);
    return LEDGER_OK;
}

/* A cursor over transfers ordered by one account column, summed per account. */
typedef struct ledger_net_cursor {
    sqlite3_stmt *st;
    int rc;
} ledger_net_cursor;

/* Adds the amounts of every row whose account is id to *sum, leaving the cursor on the
 * first row of a later account. Rows of accounts below id (which cannot exist: foreign
 * keys) would be skipped. */
static void ledger_net_take(ledger_net_cursor *c, int64_t id, __int128 *sum)
{
    while (c->rc == SQLITE_ROW) {
        int64_t acct = sqlite3_column_int64(c->st, 0);
        if (acct > id)
            return;
        if (acct == id)
            *sum += sqlite3_column_int64(c->st, 1);
        c->rc = sqlite3_step(c->st);
    }
}

/* Counts accounts whose balance differs from the net of their transfers. A merge over three
 * ordered scans (accounts, transfers by destination, by source) with 128-bit sums: SQL sum()
 * would fail with "integer overflow" on the external account of a large ledger. */
static int ledger_check_nets(sqlite3 *db, int64_t *mismatched)
{
    sqlite3_stmt *acc = NULL;
    ledger_net_cursor in = {0}, out = {0};
    int rc = LEDGER_EDB;
    if (ledger_prep(db, "SELECT id, balance FROM ledger_accounts ORDER BY id", &acc) ||
        ledger_prep(db, "SELECT to_account, amount FROM ledger_transfers ORDER BY to_account",
                    &in.st) ||
        ledger_prep(db, "SELECT from_account, amount FROM ledger_transfers"
                        " ORDER BY from_account", &out.st))
        goto done;
    in.rc = sqlite3_step(in.st);
    out.rc = sqlite3_step(out.st);
    int64_t bad = 0;
    int arc;
    while ((arc = sqlite3_step(acc)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(acc, 0);
        __int128 got = 0, gave = 0;
        ledger_net_take(&in, id, &got);
        ledger_net_take(&out, id, &gave);
        bad += (__int128)sqlite3_column_int64(acc, 1) != got - gave;
    }
    if (arc != SQLITE_DONE || (in.rc != SQLITE_DONE && in.rc != SQLITE_ROW) ||
        (out.rc != SQLITE_DONE && out.rc != SQLITE_ROW)) {
        ledger_db_fail(db, NULL, "check nets");
        goto done;
    }
    /* transfers left over point at accounts that do not exist */
    bad += (in.rc == SQLITE_ROW) + (out.rc == SQLITE_ROW);
    *mismatched = bad;
    rc = LEDGER_OK;
done:
    store_stmt_release(acc);
    store_stmt_release(in.st);
    store_stmt_release(out.st);
    return rc;
}

int ledger_check_db(sqlite3 *db, ledger_check_result *out)
{
    ledger_check_result c = {0};
    int64_t bad_holds = 0, bad_hold_accounts = 0;
    int rc;
    if ((rc = ledger_check_balances(db, &c)) ||
        (rc = ledger_scalar(db, "SELECT count(*) FROM ledger_transfers", &c.transfers_count)) ||
        (rc = ledger_scalar(db, "SELECT count(*) FROM ledger_ops", &c.ops_count)) ||
        (rc = ledger_check_nets(db, &c.mismatched_balances)) ||
        (rc = ledger_scalar(db,
              "SELECT count(*) FROM ledger_ops o WHERE"
              " o.amount <> (SELECT coalesce(sum(amount), 0) FROM ledger_transfers t"
              "  WHERE t.op_id = o.id AND t.kind <> 'topup')"
              " OR o.host_amount <> (SELECT coalesce(sum(amount), 0) FROM ledger_transfers t"
              "  WHERE t.op_id = o.id AND t.kind = 'earning')"
              " OR o.fee_amount <> (SELECT coalesce(sum(amount), 0) FROM ledger_transfers t"
              "  WHERE t.op_id = o.id AND t.kind = 'fee')"
              " OR (o.kind = 'charge' AND o.hold_ref IS NOT NULL AND o.from_wallet <>"
              "  (SELECT coalesce(sum(amount), 0) FROM ledger_transfers t"
              "   WHERE t.op_id = o.id AND t.kind = 'topup'))",
              &c.ops_mismatched)) ||
        (rc = ledger_scalar(db,
              "SELECT count(*) FROM ledger_holds WHERE captured + released > held"
              " OR (state = 'closed' AND captured + released <> held)", &bad_holds)) ||
        (rc = ledger_scalar(db,
              "SELECT count(*) FROM ledger_accounts a WHERE a.kind = 'hold' AND a.balance <>"
              " coalesce((SELECT sum(held - captured - released) FROM ledger_holds h"
              "  WHERE h.user_id = a.owner AND h.state = 'open'), 0)", &bad_hold_accounts)))
        return rc;
    c.holds_exceeding = bad_holds + bad_hold_accounts;
    c.ok = c.sum_of_balances == 0 && c.negative_wallets == 0 && c.holds_exceeding == 0 &&
           c.mismatched_balances == 0 && c.ops_mismatched == 0;
    *out = c;
    return LEDGER_OK;
}
