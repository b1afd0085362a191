/*
 * ledger_internal: helpers shared by the ledger's .c files (not for other modules).
 *
 * Everything here runs inside the caller's transaction on the given connection and returns
 * LEDGER_* codes. SQL errors are logged once here with the statement's context and reported
 * as LEDGER_EDB.
 */
#ifndef PARLEY_LEDGER_INTERNAL_H
#define PARLEY_LEDGER_INTERNAL_H

#include "ledger/ledger.h"

/* A cached statement for sql (store_stmt); LEDGER_EDB (logged) on failure. Every statement
 * is handed back with store_stmt_release, never finalized. */
int ledger_prep(sqlite3 *db, const char *sql, sqlite3_stmt **st);
/* Logs the connection's last error with what, releases st (may be NULL), returns LEDGER_EDB. */
int ledger_db_fail(sqlite3 *db, sqlite3_stmt *st, const char *what);
/* Binds text or NULL. */
void ledger_bind_text(sqlite3_stmt *st, int idx, const char *text);

bool ledger_user_valid(uint64_t user_id);
bool ledger_key_valid(const char *key);

/* Account id of (user, kind); created with balance 0 if missing and create is true, else
 * LEDGER_ENOTFOUND. */
int ledger_account_id(sqlite3 *db, uint64_t user_id, const char *kind, bool create, int64_t *id);
/* Balance of account id (0 when it does not exist and missing_ok). */
int ledger_account_balance(sqlite3 *db, int64_t id, int64_t *balance);
/* Balance of (user, kind), 0 when the account does not exist. */
int ledger_user_balance(sqlite3 *db, uint64_t user_id, const char *kind, int64_t *balance);

/* One operation's identity: what must be equal for a replay. */
typedef struct ledger_op_desc {
    const char *kind;
    const char *key;
    uint64_t user_id;
    uint64_t host_id;
    const char *hold_ref;
    const char *ref;
    int64_t amount;
    int fee_bps;
} ledger_op_desc;

/* 0: no op with that key; 1: a replay (res filled from the original, replayed = true);
 * LEDGER_ECONFLICT: same key, other parameters; LEDGER_EDB. */
int ledger_op_find(sqlite3 *db, const ledger_op_desc *d, ledger_result *res);
/* Records the op with its outcome (res, without transfer_id); sets res->op_id. */
int ledger_op_insert(sqlite3 *db, const ledger_op_desc *d, ledger_result *res, int64_t now_ms);

/* Moves amount (> 0) from one account to another: checks the source can pay (external can
 * always pay), checked int64 arithmetic on both balances, one transfer row. */
int ledger_transfer(sqlite3 *db, int64_t op_id, int64_t from, int64_t to, int64_t amount,
                    const char *kind, const char *ref, int64_t now_ms, int64_t *transfer_id);

/* A hold row. */
typedef struct ledger_hold_row {
    int64_t id;
    uint64_t user_id;
    ledger_hold_state st;
} ledger_hold_row;
/* LEDGER_ENOTFOUND when no hold has that ref. */
int ledger_hold_load(sqlite3 *db, const char *hold_ref, ledger_hold_row *row);
int ledger_hold_save(sqlite3 *db, const ledger_hold_row *row, int64_t now_ms);
int ledger_hold_insert(sqlite3 *db, const char *hold_ref, uint64_t user_id, int64_t held,
                       int64_t now_ms);

#endif
