/*
 * test_ledger_migration: ledger schema v2 (the kind CHECKs rebuilt as chains of equalities)
 * applied to a database that holds money under v1. Every op and transfer comes through with
 * the same content and ids, the ledger still balances, an old key still replays its original
 * outcome, new operations go on, and what the database enforced under v1 it still enforces:
 * append-only ops and transfers (triggers), the kind CHECKs, foreign keys, integrity.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "balanced.h"
#include "ledger/ledger.h"

static char dir[] = "/tmp/parley-ledger-mig-XXXXXX";

enum { CALLER = 11, HOST = 22 };

typedef struct sql_arg {
    const char *sql;
    char text[1 << 16]; /* first column of every row, joined by '\n' */
    int rc;             /* the last sqlite3_step result */
} sql_arg;

static int run_sql(sqlite3 *db, void *p)
{
    sql_arg *a = p;
    sqlite3_stmt *st = NULL;
    a->text[0] = '\0';
    if ((a->rc = sqlite3_prepare_v2(db, a->sql, -1, &st, NULL)) != SQLITE_OK)
        return 0;
    size_t used = 0;
    while ((a->rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        used += (size_t)snprintf(a->text + used, sizeof a->text - used, "%s\n", t ? t : "NULL");
        if (used >= sizeof a->text)
            used = sizeof a->text - 1;
    }
    sqlite3_finalize(st);
    return 0; /* reads and refused writes alike: the unit itself commits nothing else */
}

static sql_arg *sql(store_t *s, const char *q)
{
    static sql_arg a;
    a.sql = q;
    CHECK_INT(store_write(s, run_sql, &a), 0);
    return &a;
}

/* Every op and transfer, all columns, in id order: equal before and after the rebuild. */
static const char dump_ops[] =
    "SELECT group_concat(id || '|' || idempotency_key || '|' || kind || '|' || params || '|' ||"
    " coalesce(user_id, '-') || '|' || coalesce(host_id, '-') || '|' || coalesce(hold_ref, '-') || '|' ||"
    " coalesce(ref, '-') || '|' || amount || '|' || host_amount || '|' || fee_amount || '|' || from_hold ||"
    " '|' || from_wallet || '|' || created_at, ';') FROM (SELECT * FROM ledger_ops ORDER BY id)";
static const char dump_transfers[] =
    "SELECT group_concat(id || '|' || op_id || '|' || from_account || '|' || to_account || '|' || amount ||"
    " '|' || kind || '|' || coalesce(ref, '-') || '|' || created_at, ';')"
    " FROM (SELECT * FROM ledger_transfers ORDER BY id)";

/* Money under v1: a purchase, a call's hold with a capture and a release, message charges
 * from the wallet, a payout. */
static void money_under_v1(store_t *s)
{
    ledger_result r;
    CHECK_INT(ledger_ensure_user_accounts(s, CALLER, LEDGER_ROLE_CALLER), 0);
    CHECK_INT(ledger_ensure_user_accounts(s, HOST, LEDGER_ROLE_HOST), 0);
    CHECK_INT(ledger_credit_purchase(s, CALLER, 10000, "buy-1", "purchase:1", &r), 0);
    CHECK_INT(ledger_hold_place(s, CALLER, 600, "call-1", "hold-1", &r), 0);
    CHECK_INT(ledger_hold_capture(s, "call-1", 300, HOST, 2000, "cap-1", "call:1", &r), 0);
    CHECK_INT(ledger_hold_release(s, "call-1", "rel-1", &r), 0);
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "msg:%d", i);
        CHECK_INT(ledger_charge_unit(s, CALLER, HOST, 7, 2000, NULL, key, "chat:1", &r), 0);
    }
    CHECK_INT(ledger_payout(s, HOST, 100, "payout-1", "bank:1", &r), 0);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    char path[300], err[256] = "";
    snprintf(path, sizeof path, "%s/m.db", dir);
    store_t *s = store_open(path, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return check_summary("ledger-migration");
    CHECK_INT(store_migrate(s, ledger_migrations, 1, err, sizeof err), 0);   /* v1 only */
    CHECK(strstr(sql(s, "SELECT sql FROM sqlite_schema WHERE name = 'ledger_transfers'")->text, "kind IN ("));
    money_under_v1(s);
    ASSERT_BALANCED(s);
    char *ops = strdup(sql(s, dump_ops)->text), *transfers = strdup(sql(s, dump_transfers)->text);
    ledger_result first;
    CHECK_INT(ledger_charge_unit(s, CALLER, HOST, 7, 2000, NULL, "msg:3", "chat:1", &first), 0);
    CHECK(first.replayed);
    ledger_balance_t before, after;
    CHECK_INT(ledger_balance(s, CALLER, &before), 0);

    CHECK_INT(ledger_migrate(s, err, sizeof err), 0);   /* v2 over the data */
    if (err[0])
        fprintf(stderr, "migrate: %s\n", err);
    CHECK(strstr(sql(s, "SELECT sql FROM sqlite_schema WHERE name = 'ledger_transfers'")->text, "kind = 'fee'"));
    CHECK(strstr(sql(s, "SELECT sql FROM sqlite_schema WHERE name = 'ledger_ops'")->text, "kind = 'charge'"));
    CHECK_STR(sql(s, dump_ops)->text, ops);
    CHECK_STR(sql(s, dump_transfers)->text, transfers);
    CHECK_STR(sql(s, "SELECT count(*) FROM sqlite_temp_schema")->text, "0\n");
    CHECK_STR(sql(s, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema WHERE"
                     " tbl_name IN ('ledger_ops', 'ledger_transfers') AND type IN ('index', 'trigger')"
                     " AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name)")->text,
              "ledger_ops_no_delete,ledger_ops_no_update,ledger_ops_ref,ledger_transfers_from,"
              "ledger_transfers_no_delete,ledger_transfers_no_update,ledger_transfers_op,ledger_transfers_to\n");
    ASSERT_BALANCED(s);
    CHECK_INT(ledger_balance(s, CALLER, &after), 0);
    CHECK_INT(after.available, before.available);

    /* an old key replays its original outcome; new money moves */
    ledger_result again;
    CHECK_INT(ledger_charge_unit(s, CALLER, HOST, 7, 2000, NULL, "msg:3", "chat:1", &again), 0);
    CHECK(again.replayed);
    CHECK_INT(again.op_id, first.op_id);
    CHECK_INT(again.transfer_id, first.transfer_id);
    ledger_result r;
    CHECK_INT(ledger_charge_unit(s, CALLER, HOST, 7, 2000, NULL, "msg:after", "chat:1", &r), 0);
    CHECK(!r.replayed && r.op_id > first.op_id);
    CHECK_INT(ledger_credit_purchase(s, CALLER, 500, "buy-2", NULL, &r), 0);
    ASSERT_BALANCED(s);

    /* still enforced */
    CHECK_INT(sql(s, "UPDATE ledger_transfers SET amount = amount + 1 WHERE id = 1")->rc, SQLITE_CONSTRAINT_TRIGGER);
    CHECK_INT(sql(s, "DELETE FROM ledger_transfers WHERE id = 1")->rc, SQLITE_CONSTRAINT_TRIGGER);
    CHECK_INT(sql(s, "UPDATE ledger_ops SET amount = 0 WHERE id = 1")->rc, SQLITE_CONSTRAINT_TRIGGER);
    CHECK_INT(sql(s, "DELETE FROM ledger_ops WHERE id = 1")->rc, SQLITE_CONSTRAINT_TRIGGER);
    CHECK_INT(sql(s, "INSERT INTO ledger_transfers(op_id, from_account, to_account, amount, kind, created_at)"
                     " VALUES (1, 1, 2, 5, 'gift', 0)")->rc, SQLITE_CONSTRAINT_CHECK);
    CHECK_INT(sql(s, "INSERT INTO ledger_transfers(op_id, from_account, to_account, amount, kind, created_at)"
                     " VALUES (999999, 1, 2, 5, 'fee', 0)")->rc, SQLITE_CONSTRAINT_FOREIGNKEY);
    CHECK_INT(sql(s, "INSERT INTO ledger_ops(idempotency_key, kind, params, amount, host_amount, fee_amount,"
                     " from_hold, from_wallet, created_at) VALUES ('x', 'refund', '', 0, 0, 0, 0, 0, 0)")->rc,
              SQLITE_CONSTRAINT_CHECK);
    CHECK_STR(sql(s, "PRAGMA integrity_check")->text, "ok\n");
    CHECK_STR(sql(s, "PRAGMA foreign_key_check")->text, "");
    ASSERT_BALANCED(s);
    store_close(s);

    /* reopened: v2 is recorded, nothing is applied again */
    s = store_open(path, err, sizeof err);
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(ledger_migrate(s, err, sizeof err), 0);
        CHECK_STR(sql(s, "SELECT group_concat(version) FROM schema_migrations WHERE module = 'ledger'")->text,
                  "1,2\n");
        ASSERT_BALANCED(s);
        store_close(s);
    }
    free(ops);
    free(transfers);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("ledger-migration");
}
