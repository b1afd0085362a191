/*
 * ledger: the double-entry ledger (SPEC 5) on top of the store — accounts, transfers, holds,
 * purchases, per-unit charges, balances, history and the invariant check.
 *
 * Model:
 *  - Accounts: one 'external' (id 1, the negative mirror of money that entered the system)
 *    and one 'revenue' (id 2, the platform) created by the migration; per user a 'wallet'
 *    and a 'hold' (callers) and an 'earnings' (hosts), created on demand. Balances are int64;
 *    SQL CHECKs keep every non-external balance >= 0, tables are STRICT (no REAL sneaks in).
 *  - An operation (purchase, hold place/extend/capture/release, charge, payout) is the unit
 *    of idempotency: a row in ledger_ops with a UNIQUE idempotency key, made of one or more
 *    transfers (each > 0, from one account to another, both balances updated in the same
 *    transaction). A replay with the same key and the same parameters returns the original
 *    result with replayed = true and moves nothing; the same key with other parameters
 *    returns LEDGER_ECONFLICT. Keys are global: namespace them ("purchase:<id>",
 *    "call:<id>:minute:<n>", "msg:<id>", "hold:<call id>:release").
 *  - A hold (hold_ref UNIQUE) tracks credits set aside from a caller's wallet: held,
 *    captured, released, state open/closed. The user's hold account balance equals the sum
 *    of the remaining credits of their open holds.
 *
 * Two flavours of every operation:
 *  - ledger_xxx(store_t *s, ...): runs as its own store_write unit (group commit; returns
 *    once durable). Any thread except the storage thread; blocks.
 *  - ledger_xxx_db(sqlite3 *db, ...): runs in the caller's transaction, i.e. inside another
 *    store_write unit, so a caller can combine e.g. "insert purchase row + credit wallet"
 *    atomically. On a non-zero return the caller's unit must return non-zero too (so the
 *    store rolls the unit back) — partial writes of a failed _db call are not undone here.
 *    Read functions' _db flavour works inside store_read or store_write units.
 *
 * Errors: LEDGER_* codes from ledger_rules.h (0 = success) or, for the store flavour, STORE_*
 * codes (STORE_EIO: the commit failed, nothing moved; safe to retry with the same key).
 * Outputs are valid only on 0. User ids are > 0 and <= INT64_MAX, keys and hold refs are 1..256
 * bytes, a host is never paid from its own hold or wallet (LEDGER_EINVAL otherwise).
 * Ownership: results are copied into caller-provided structs; nothing returned needs freeing.
 */
#ifndef PARLEY_LEDGER_H
#define PARLEY_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ledger/ledger_rules.h"
#include "store/store.h"

#define LEDGER_ACCOUNT_EXTERNAL 1
#define LEDGER_ACCOUNT_REVENUE 2

typedef enum ledger_role {
    LEDGER_ROLE_CALLER = 1, /* wallet + hold */
    LEDGER_ROLE_HOST = 2,   /* earnings (and wallet + hold, so a host can also pay) */
} ledger_role;

/* The ledger's schema, module "ledger" (for store_migrate). */
extern const store_migration ledger_migrations[];
extern const size_t ledger_migrations_count;
int ledger_migrate(store_t *s, char *err, size_t errcap);

/* Outcome of a money-moving operation. */
typedef struct ledger_result {
    int64_t op_id;       /* the operation row */
    int64_t transfer_id; /* its first transfer; 0 if it moved nothing (release of 0) */
    int64_t amount;      /* total moved out of the source (charge/capture: host + fee) */
    int64_t host_amount; /* capture/charge: credited to the host's earnings */
    int64_t fee_amount;  /* capture/charge: credited to platform revenue */
    int64_t from_hold;   /* charge: paid from the hold */
    int64_t from_wallet; /* charge: paid from the wallet (moved through the hold if any) */
    bool replayed;       /* same key seen before: this is the original outcome */
} ledger_result;

int ledger_ensure_user_accounts(store_t *s, uint64_t user_id, ledger_role role);
int ledger_ensure_user_accounts_db(sqlite3 *db, uint64_t user_id, ledger_role role);

/* external -> wallet. ref: free text, e.g. the purchase id (may be NULL). */
int ledger_credit_purchase(store_t *s, uint64_t user_id, int64_t amount, const char *key,
                           const char *ref, ledger_result *res);
int ledger_credit_purchase_db(sqlite3 *db, uint64_t user_id, int64_t amount, const char *key,
                              const char *ref, ledger_result *res);

/* wallet -> hold, opening hold hold_ref. LEDGER_EFUNDS if the wallet has less than amount;
 * LEDGER_ECONFLICT if hold_ref exists (under another key). */
int ledger_hold_place(store_t *s, uint64_t user_id, int64_t amount, const char *hold_ref,
                      const char *key, ledger_result *res);
int ledger_hold_place_db(sqlite3 *db, uint64_t user_id, int64_t amount, const char *hold_ref,
                         const char *key, ledger_result *res);

/* wallet -> hold, adding to an open hold (LEDGER_ESTATE if closed, LEDGER_ENOTFOUND). */
int ledger_hold_extend(store_t *s, const char *hold_ref, int64_t amount, const char *key,
                       ledger_result *res);
int ledger_hold_extend_db(sqlite3 *db, const char *hold_ref, int64_t amount, const char *key,
                          ledger_result *res);

/* hold -> host earnings + platform revenue (split at fee_bps). amount <= remaining, else
 * LEDGER_EFUNDS. ref: e.g. "call:123" (earnings are grouped by it). */
int ledger_hold_capture(store_t *s, const char *hold_ref, int64_t amount, uint64_t host_id,
                        int fee_bps, const char *key, const char *ref, ledger_result *res);
int ledger_hold_capture_db(sqlite3 *db, const char *hold_ref, int64_t amount, uint64_t host_id,
                           int fee_bps, const char *key, const char *ref, ledger_result *res);

/* What remains of the hold -> wallet; closes it (res->amount may be 0). LEDGER_ESTATE if
 * already closed under another key. */
int ledger_hold_release(store_t *s, const char *hold_ref, const char *key, ledger_result *res);
int ledger_hold_release_db(sqlite3 *db, const char *hold_ref, const char *key,
                           ledger_result *res);

/* One billable unit (a started minute, a message): amount from the caller to the host's
 * earnings and the platform's revenue, split at fee_bps, exactly once per charge_key.
 * With hold_ref (may be NULL): paid from that open hold first, the shortfall from the
 * wallet (moved wallet -> hold -> ...); LEDGER_ESTATE if the hold is closed (no charge after
 * hangup). Without: from the wallet. LEDGER_EFUNDS when hold + wallet cannot pay it.
 * ref groups earnings (e.g. "call:123", "chat:<conversation>"). */
int ledger_charge_unit(store_t *s, uint64_t caller_id, uint64_t host_id, int64_t amount,
                       int fee_bps, const char *hold_ref, const char *charge_key,
                       const char *ref, ledger_result *res);
int ledger_charge_unit_db(sqlite3 *db, uint64_t caller_id, uint64_t host_id, int64_t amount,
                          int fee_bps, const char *hold_ref, const char *charge_key,
                          const char *ref, ledger_result *res);

/* earnings -> external (a host cashes out). LEDGER_EFUNDS beyond the earnings balance. */
int ledger_payout(store_t *s, uint64_t host_id, int64_t amount, const char *key,
                  const char *ref, ledger_result *res);
int ledger_payout_db(sqlite3 *db, uint64_t host_id, int64_t amount, const char *key,
                     const char *ref, ledger_result *res);

/* ---- reads ---- */

typedef struct ledger_balance_t {
    int64_t available; /* wallet */
    int64_t held;      /* hold account (all open holds) */
    int64_t earnings;  /* earnings account (hosts) */
} ledger_balance_t;
/* Missing accounts read as 0 (a user who never bought anything). */
int ledger_balance(store_t *s, uint64_t user_id, ledger_balance_t *out);
int ledger_balance_db(sqlite3 *db, uint64_t user_id, ledger_balance_t *out);

typedef struct ledger_hold_info {
    uint64_t user_id;
    int64_t held, captured, released, remaining;
    bool closed;
} ledger_hold_info;
int ledger_hold_get(store_t *s, const char *hold_ref, ledger_hold_info *out);
int ledger_hold_get_db(sqlite3 *db, const char *hold_ref, ledger_hold_info *out);

/* One transfer touching the user's accounts, newest first. */
typedef struct ledger_txn {
    int64_t id;            /* transfer id, also the paging cursor */
    int64_t created_at_ms;
    int64_t amount;        /* > 0 */
    int64_t delta;         /* effect on the user's wallet + hold + earnings: +amount, -amount,
                            * or 0 for moves between the user's own accounts */
    char op_kind[16];      /* purchase, hold_place, hold_extend, hold_capture, hold_release,
                            * charge, payout */
    char kind[16];         /* the transfer's role: purchase, hold, release, earning, fee,
                            * topup, payout */
    char from_kind[12];    /* account kinds: external, wallet, hold, earnings, revenue */
    char to_kind[12];
    char ref[96];          /* truncated if longer */
} ledger_txn;
/* Up to limit rows with id < before (before = 0: from the newest) into rows; *count set;
 * *next_before = the cursor for the next page, 0 when there is no more. */
int ledger_transactions(store_t *s, uint64_t user_id, int64_t before, size_t limit,
                        ledger_txn *rows, size_t *count, int64_t *next_before);
int ledger_transactions_db(sqlite3 *db, uint64_t user_id, int64_t before, size_t limit,
                           ledger_txn *rows, size_t *count, int64_t *next_before);

typedef struct ledger_earnings_total {
    int64_t balance;    /* earnings account now (after payouts) */
    int64_t total;      /* everything ever earned */
    int64_t charges;    /* number of earning transfers */
} ledger_earnings_total;
int ledger_earnings(store_t *s, uint64_t host_id, ledger_earnings_total *out);
int ledger_earnings_db(sqlite3 *db, uint64_t host_id, ledger_earnings_total *out);

/* One group of earnings: per UTC day ("2026-11-25") or per ref ("call:123"). */
typedef struct ledger_earnings_row {
    char key[96];
    int64_t amount;
    int64_t charges;
    int64_t last_at_ms;
} ledger_earnings_row;
typedef enum ledger_group_by { LEDGER_BY_DAY, LEDGER_BY_REF } ledger_group_by;
/* Newest groups first, up to limit, only earnings at or after since_ms (0 = all). */
int ledger_earnings_grouped_db(sqlite3 *db, uint64_t host_id, ledger_group_by by,
                               int64_t since_ms, size_t limit, ledger_earnings_row *rows,
                               size_t *count);
int ledger_earnings_grouped(store_t *s, uint64_t host_id, ledger_group_by by, int64_t since_ms,
                            size_t limit, ledger_earnings_row *rows, size_t *count);

/* Platform revenue balance (admin). */
int ledger_revenue(store_t *s, int64_t *balance);
int ledger_revenue_db(sqlite3 *db, int64_t *balance);

/* The invariants. ok is true when all of: sum_of_balances == 0, no negative non-external
 * balance, every hold account equals its open holds' remaining, no hold inconsistent, every
 * account balance equals the net of its transfers, and every operation's transfers add up to
 * what the operation recorded. Full scans: for the admin API and tests, not per request. */
typedef struct ledger_check_result {
    bool ok;
    int64_t sum_of_balances;
    int64_t accounts;
    int64_t transfers_count;
    int64_t ops_count;
    int64_t negative_wallets;   /* non-external accounts with balance < 0 */
    int64_t holds_exceeding;    /* holds with captured + released > held, or closed with
                                 * credits remaining, or hold accounts != open remaining */
    int64_t mismatched_balances;/* balance != sum(in) - sum(out) */
    int64_t ops_mismatched;     /* operations whose transfers do not add up to the recorded
                                 * amount / host part / fee part */
    int64_t external_balance;   /* minus all credits that entered (and did not leave) */
} ledger_check_result;
int ledger_check(store_t *s, ledger_check_result *out);
int ledger_check_db(sqlite3 *db, ledger_check_result *out);

#endif
