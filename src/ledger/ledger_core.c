/*
 * ledger_core.c: the building blocks every ledger operation uses — accounts, the operation
 * (idempotency) rows, transfers with checked balances, and hold rows.
 *
 * Balances are read, recomputed in C with overflow checks, and written back as values rather
 * than "balance = balance + ?": SQLite silently turns an overflowing integer expression into
 * a REAL, which must never happen to money (the STRICT tables would reject it anyway).
 */
#include <string.h>

#include "ledger/ledger_internal.h"
#include "util/log.h"

int ledger_prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (!(*st = store_stmt(db, sql)))
        return ledger_db_fail(db, NULL, sql);
    return LEDGER_OK;
}

int ledger_db_fail(sqlite3 *db, sqlite3_stmt *st, const char *what)
{
    LOG_WARN("ledger", "SQL error (%s): %s", what, sqlite3_errmsg(db));
    store_stmt_release(st);
    return LEDGER_EDB;
}

void ledger_bind_text(sqlite3_stmt *st, int idx, const char *text)
{
    if (text)
        sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, idx);
}

bool ledger_user_valid(uint64_t user_id)
{
    return user_id > 0 && user_id <= (uint64_t)INT64_MAX;
}

bool ledger_key_valid(const char *key)
{
    return key && key[0] && strlen(key) <= 256;
}

/* ---- accounts ---- */

static int ledger_account_lookup(sqlite3 *db, uint64_t user_id, const char *kind, int64_t *id)
{
    sqlite3_stmt *st;
    if (ledger_prep(db, "SELECT id FROM ledger_accounts WHERE owner=?1 AND kind=?2", &st))
        return LEDGER_EDB;
    sqlite3_bind_int64(st, 1, (int64_t)user_id);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        return ledger_db_fail(db, st, "account lookup");
    store_stmt_release(st);
    return rc == SQLITE_ROW ? LEDGER_OK : LEDGER_ENOTFOUND;
}

int ledger_account_id(sqlite3 *db, uint64_t user_id, const char *kind, bool create, int64_t *id)
{
    if (!ledger_user_valid(user_id))
        return LEDGER_EINVAL;
    int rc = ledger_account_lookup(db, user_id, kind, id);
    if (rc != LEDGER_ENOTFOUND || !create)
        return rc;
    sqlite3_stmt *st;
    if (ledger_prep(db, "INSERT INTO ledger_accounts(kind, owner, balance, created_at)"
                        " VALUES (?1, ?2, 0, ?3)", &st))
        return LEDGER_EDB;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)user_id);
    sqlite3_bind_int64(st, 3, store_now_ms());
    if (sqlite3_step(st) != SQLITE_DONE)
        return ledger_db_fail(db, st, "account insert");
    store_stmt_release(st);
    *id = sqlite3_last_insert_rowid(db);
    return LEDGER_OK;
}

int ledger_account_balance(sqlite3 *db, int64_t id, int64_t *balance)
{
    sqlite3_stmt *st;
    if (ledger_prep(db, "SELECT balance FROM ledger_accounts WHERE id=?1", &st))
        return LEDGER_EDB;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *balance = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        return ledger_db_fail(db, st, "balance");
    store_stmt_release(st);
    return rc == SQLITE_ROW ? LEDGER_OK : LEDGER_ENOTFOUND;
}

int ledger_user_balance(sqlite3 *db, uint64_t user_id, const char *kind, int64_t *balance)
{
    int64_t id = 0;
    int rc = ledger_account_lookup(db, user_id, kind, &id);
    if (rc == LEDGER_ENOTFOUND) {
        *balance = 0;
        return LEDGER_OK;
    }
    return rc ? rc : ledger_account_balance(db, id, balance);
}

/* ---- operations (idempotency) ---- */

/* Canonical text of an op's parameters; strings carry their length so no separator inside
 * a ref can make two different parameter sets look equal. sqlite3_free it. */
static char *ledger_op_params(const ledger_op_desc *d)
{
    const char *h = d->hold_ref ? d->hold_ref : "", *r = d->ref ? d->ref : "";
    return sqlite3_mprintf("%s|u=%llu|h=%llu|a=%lld|bps=%d|hold=%d:%s|%s|ref=%d:%s|%s", d->kind,
                           (unsigned long long)d->user_id, (unsigned long long)d->host_id,
                           (long long)d->amount, d->fee_bps, (int)strlen(h), h,
                           d->hold_ref ? "y" : "n", (int)strlen(r), r, d->ref ? "y" : "n");
}

int ledger_op_find(sqlite3 *db, const ledger_op_desc *d, ledger_result *res)
{
    sqlite3_stmt *st;
    if (ledger_prep(db, "SELECT o.id, o.params, o.amount, o.host_amount, o.fee_amount,"
                        " o.from_hold, o.from_wallet,"
                        " (SELECT min(t.id) FROM ledger_transfers t WHERE t.op_id = o.id)"
                        " FROM ledger_ops o WHERE o.idempotency_key=?1", &st))
        return LEDGER_EDB;
    sqlite3_bind_text(st, 1, d->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        store_stmt_release(st);
        return 0;
    }
    if (rc != SQLITE_ROW)
        return ledger_db_fail(db, st, "op lookup");
    char *want = ledger_op_params(d);
    const char *have = (const char *)sqlite3_column_text(st, 1);
    int out;
    if (!want) {
        out = LEDGER_EDB;
    } else if (!have || strcmp(want, have) != 0) {
        out = LEDGER_ECONFLICT;
    } else {
        *res = (ledger_result){
            .op_id = sqlite3_column_int64(st, 0),
            .amount = sqlite3_column_int64(st, 2),
            .host_amount = sqlite3_column_int64(st, 3),
            .fee_amount = sqlite3_column_int64(st, 4),
            .from_hold = sqlite3_column_int64(st, 5),
            .from_wallet = sqlite3_column_int64(st, 6),
            .transfer_id = sqlite3_column_int64(st, 7),
            .replayed = true,
        };
        out = 1;
    }
    sqlite3_free(want);
    store_stmt_release(st);
    return out;
}

int ledger_op_insert(sqlite3 *db, const ledger_op_desc *d, ledger_result *res, int64_t now_ms)
{
    char *params = ledger_op_params(d);
    if (!params)
        return LEDGER_EDB;
    sqlite3_stmt *st;
    if (ledger_prep(db, "INSERT INTO ledger_ops(idempotency_key, kind, params, user_id, host_id,"
                        " hold_ref, ref, amount, host_amount, fee_amount, from_hold, from_wallet,"
                        " created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)", &st)) {
        sqlite3_free(params);
        return LEDGER_EDB;
    }
    sqlite3_bind_text(st, 1, d->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, params, -1, SQLITE_STATIC);
    if (d->user_id)
        sqlite3_bind_int64(st, 4, (int64_t)d->user_id);
    if (d->host_id)
        sqlite3_bind_int64(st, 5, (int64_t)d->host_id);
    ledger_bind_text(st, 6, d->hold_ref);
    ledger_bind_text(st, 7, d->ref);
    sqlite3_bind_int64(st, 8, res->amount);
    sqlite3_bind_int64(st, 9, res->host_amount);
    sqlite3_bind_int64(st, 10, res->fee_amount);
    sqlite3_bind_int64(st, 11, res->from_hold);
    sqlite3_bind_int64(st, 12, res->from_wallet);
    sqlite3_bind_int64(st, 13, now_ms);
    int rc = sqlite3_step(st);
    sqlite3_free(params);
    if (rc != SQLITE_DONE)
        return ledger_db_fail(db, st, "op insert");
    store_stmt_release(st);
    res->op_id = sqlite3_last_insert_rowid(db);
    return LEDGER_OK;
}

/* ---- transfers ---- */

static int ledger_set_balance(sqlite3 *db, int64_t id, int64_t old, int64_t now)
{
    sqlite3_stmt *st;
    if (ledger_prep(db, "UPDATE ledger_accounts SET balance=?2 WHERE id=?1 AND balance=?3", &st))
        return LEDGER_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, old);
    if (sqlite3_step(st) != SQLITE_DONE)
        return ledger_db_fail(db, st, "balance update");
    store_stmt_release(st);
    return sqlite3_changes(db) == 1 ? LEDGER_OK : LEDGER_EDB;
}

int ledger_transfer(sqlite3 *db, int64_t op_id, int64_t from, int64_t to, int64_t amount,
                    const char *kind, const char *ref, int64_t now_ms, int64_t *transfer_id)
{
    if (!ledger_amount_valid(amount) || from == to)
        return LEDGER_EINVAL;
    int64_t fb, tb, fnew, tnew;
    int rc = ledger_account_balance(db, from, &fb);
    if (!rc)
        rc = ledger_account_balance(db, to, &tb);
    if (rc)
        return rc == LEDGER_ENOTFOUND ? LEDGER_EDB : rc;
    if (ledger_sub(fb, amount, &fnew) || ledger_add(tb, amount, &tnew))
        return LEDGER_EOVERFLOW;
    if (from != LEDGER_ACCOUNT_EXTERNAL && fnew < 0)
        return LEDGER_EFUNDS;
    if ((rc = ledger_set_balance(db, from, fb, fnew)) || (rc = ledger_set_balance(db, to, tb, tnew)))
        return rc;
    sqlite3_stmt *st;
    if (ledger_prep(db, "INSERT INTO ledger_transfers(op_id, from_account, to_account, amount,"
                        " kind, ref, created_at) VALUES (?1,?2,?3,?4,?5,?6,?7)", &st))
        return LEDGER_EDB;
    sqlite3_bind_int64(st, 1, op_id);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    sqlite3_bind_int64(st, 4, amount);
    sqlite3_bind_text(st, 5, kind, -1, SQLITE_STATIC);
    ledger_bind_text(st, 6, ref);
    sqlite3_bind_int64(st, 7, now_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        return ledger_db_fail(db, st, "transfer insert");
    store_stmt_release(st);
    if (transfer_id)
        *transfer_id = sqlite3_last_insert_rowid(db);
    return LEDGER_OK;
}

/* ---- holds ---- */

int ledger_hold_load(sqlite3 *db, const char *hold_ref, ledger_hold_row *row)
{
    sqlite3_stmt *st;
    if (ledger_prep(db, "SELECT id, user_id, held, captured, released, state FROM ledger_holds"
                        " WHERE hold_ref=?1", &st))
        return LEDGER_EDB;
    sqlite3_bind_text(st, 1, hold_ref, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        store_stmt_release(st);
        return LEDGER_ENOTFOUND;
    }
    if (rc != SQLITE_ROW)
        return ledger_db_fail(db, st, "hold lookup");
    const char *state = (const char *)sqlite3_column_text(st, 5);
    *row = (ledger_hold_row){
        .id = sqlite3_column_int64(st, 0),
        .user_id = (uint64_t)sqlite3_column_int64(st, 1),
        .st = {.held = sqlite3_column_int64(st, 2),
               .captured = sqlite3_column_int64(st, 3),
               .released = sqlite3_column_int64(st, 4),
               .closed = state && strcmp(state, "closed") == 0},
    };
    store_stmt_release(st);
    return LEDGER_OK;
}

int ledger_hold_save(sqlite3 *db, const ledger_hold_row *row, int64_t now_ms)
{
    sqlite3_stmt *st;
    if (ledger_prep(db, "UPDATE ledger_holds SET held=?2, captured=?3, released=?4, state=?5,"
                        " updated_at=?6 WHERE id=?1", &st))
        return LEDGER_EDB;
    sqlite3_bind_int64(st, 1, row->id);
    sqlite3_bind_int64(st, 2, row->st.held);
    sqlite3_bind_int64(st, 3, row->st.captured);
    sqlite3_bind_int64(st, 4, row->st.released);
    sqlite3_bind_text(st, 5, row->st.closed ? "closed" : "open", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        return ledger_db_fail(db, st, "hold update");
    store_stmt_release(st);
    return LEDGER_OK;
}

int ledger_hold_insert(sqlite3 *db, const char *hold_ref, uint64_t user_id, int64_t held,
                       int64_t now_ms)
{
    sqlite3_stmt *st;
    if (ledger_prep(db, "INSERT INTO ledger_holds(hold_ref, user_id, held, captured, released,"
                        " state, created_at, updated_at) VALUES (?1,?2,?3,0,0,'open',?4,?4)", &st))
        return LEDGER_EDB;
    sqlite3_bind_text(st, 1, hold_ref, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)user_id);
    sqlite3_bind_int64(st, 3, held);
    sqlite3_bind_int64(st, 4, now_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        return ledger_db_fail(db, st, "hold insert");
    store_stmt_release(st);
    return LEDGER_OK;
}
