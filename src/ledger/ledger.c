/*
 * ledger.c: the store flavour of every ledger operation — packs the arguments, runs the _db
 * flavour as one store_write unit (group commit) or store_read, and copies the outcome out
 * only when the unit really committed (after STORE_EIO the unit's output is void).
 */
#include "ledger/ledger_internal.h"

typedef enum ledger_call_kind {
    LC_ENSURE, LC_PURCHASE, LC_HOLD_PLACE, LC_HOLD_EXTEND, LC_HOLD_CAPTURE, LC_HOLD_RELEASE,
    LC_CHARGE, LC_PAYOUT,
} ledger_call_kind;

typedef struct ledger_call {
    ledger_call_kind kind;
    uint64_t user_id, host_id;
    int64_t amount;
    int fee_bps;
    ledger_role role;
    const char *hold_ref, *key, *ref;
    ledger_result res;
} ledger_call;

static int ledger_call_unit(sqlite3 *db, void *p)
{
    ledger_call *c = p;
    switch (c->kind) {
    case LC_ENSURE:
        return ledger_ensure_user_accounts_db(db, c->user_id, c->role);
    case LC_PURCHASE:
        return ledger_credit_purchase_db(db, c->user_id, c->amount, c->key, c->ref, &c->res);
    case LC_HOLD_PLACE:
        return ledger_hold_place_db(db, c->user_id, c->amount, c->hold_ref, c->key, &c->res);
    case LC_HOLD_EXTEND:
        return ledger_hold_extend_db(db, c->hold_ref, c->amount, c->key, &c->res);
    case LC_HOLD_CAPTURE:
        return ledger_hold_capture_db(db, c->hold_ref, c->amount, c->host_id, c->fee_bps, c->key,
                                      c->ref, &c->res);
    case LC_HOLD_RELEASE:
        return ledger_hold_release_db(db, c->hold_ref, c->key, &c->res);
    case LC_CHARGE:
        return ledger_charge_unit_db(db, c->user_id, c->host_id, c->amount, c->fee_bps,
                                     c->hold_ref, c->key, c->ref, &c->res);
    case LC_PAYOUT:
        return ledger_payout_db(db, c->host_id, c->amount, c->key, c->ref, &c->res);
    }
    return LEDGER_EINVAL;
}

static int ledger_run(store_t *s, ledger_call *c, ledger_result *res)
{
    int rc = store_write(s, ledger_call_unit, c);
    if (rc == 0 && res)
        *res = c->res;
    return rc;
}

int ledger_ensure_user_accounts(store_t *s, uint64_t user_id, ledger_role role)
{
    ledger_call c = {.kind = LC_ENSURE, .user_id = user_id, .role = role};
    return ledger_run(s, &c, NULL);
}

int ledger_credit_purchase(store_t *s, uint64_t user_id, int64_t amount, const char *key,
                           const char *ref, ledger_result *res)
{
    ledger_call c = {.kind = LC_PURCHASE, .user_id = user_id, .amount = amount, .key = key,
                     .ref = ref};
    return ledger_run(s, &c, res);
}

int ledger_hold_place(store_t *s, uint64_t user_id, int64_t amount, const char *hold_ref,
                      const char *key, ledger_result *res)
{
    ledger_call c = {.kind = LC_HOLD_PLACE, .user_id = user_id, .amount = amount,
                     .hold_ref = hold_ref, .key = key};
    return ledger_run(s, &c, res);
}

int ledger_hold_extend(store_t *s, const char *hold_ref, int64_t amount, const char *key,
                       ledger_result *res)
{
    ledger_call c = {.kind = LC_HOLD_EXTEND, .amount = amount, .hold_ref = hold_ref, .key = key};
    return ledger_run(s, &c, res);
}

int ledger_hold_capture(store_t *s, const char *hold_ref, int64_t amount, uint64_t host_id,
                        int fee_bps, const char *key, const char *ref, ledger_result *res)
{
    ledger_call c = {.kind = LC_HOLD_CAPTURE, .host_id = host_id, .amount = amount,
                     .fee_bps = fee_bps, .hold_ref = hold_ref, .key = key, .ref = ref};
    return ledger_run(s, &c, res);
}

int ledger_hold_release(store_t *s, const char *hold_ref, const char *key, ledger_result *res)
{
    ledger_call c = {.kind = LC_HOLD_RELEASE, .hold_ref = hold_ref, .key = key};
    return ledger_run(s, &c, res);
}

int ledger_charge_unit(store_t *s, uint64_t caller_id, uint64_t host_id, int64_t amount,
                       int fee_bps, const char *hold_ref, const char *charge_key,
                       const char *ref, ledger_result *res)
{
    ledger_call c = {.kind = LC_CHARGE, .user_id = caller_id, .host_id = host_id,
                     .amount = amount, .fee_bps = fee_bps, .hold_ref = hold_ref,
                     .key = charge_key, .ref = ref};
    return ledger_run(s, &c, res);
}

int ledger_payout(store_t *s, uint64_t host_id, int64_t amount, const char *key,
                  const char *ref, ledger_result *res)
{
    ledger_call c = {.kind = LC_PAYOUT, .host_id = host_id, .amount = amount, .key = key,
                     .ref = ref};
    return ledger_run(s, &c, res);
}

/* ---- reads ---- */

typedef struct ledger_read {
    uint64_t id;
    const char *hold_ref;
    int64_t before, since_ms;
    size_t limit;
    ledger_group_by by;
    void *out;
    size_t *count;
    int64_t *next_before;
} ledger_read;

static int ledger_read_balance(sqlite3 *db, void *p)
{
    ledger_read *r = p;
    return ledger_balance_db(db, r->id, r->out);
}

int ledger_balance(store_t *s, uint64_t user_id, ledger_balance_t *out)
{
    ledger_read r = {.id = user_id, .out = out};
    return store_read(s, ledger_read_balance, &r);
}

static int ledger_read_hold(sqlite3 *db, void *p)
{
    ledger_read *r = p;
    return ledger_hold_get_db(db, r->hold_ref, r->out);
}

int ledger_hold_get(store_t *s, const char *hold_ref, ledger_hold_info *out)
{
    ledger_read r = {.hold_ref = hold_ref, .out = out};
    return store_read(s, ledger_read_hold, &r);
}

static int ledger_read_txns(sqlite3 *db, void *p)
{
    ledger_read *r = p;
    return ledger_transactions_db(db, r->id, r->before, r->limit, r->out, r->count,
                                  r->next_before);
}

int ledger_transactions(store_t *s, uint64_t user_id, int64_t before, size_t limit,
                        ledger_txn *rows, size_t *count, int64_t *next_before)
{
    ledger_read r = {.id = user_id, .before = before, .limit = limit, .out = rows,
                     .count = count, .next_before = next_before};
    return store_read(s, ledger_read_txns, &r);
}

static int ledger_read_earnings(sqlite3 *db, void *p)
{
    ledger_read *r = p;
    return ledger_earnings_db(db, r->id, r->out);
}

int ledger_earnings(store_t *s, uint64_t host_id, ledger_earnings_total *out)
{
    ledger_read r = {.id = host_id, .out = out};
    return store_read(s, ledger_read_earnings, &r);
}

static int ledger_read_grouped(sqlite3 *db, void *p)
{
    ledger_read *r = p;
    return ledger_earnings_grouped_db(db, r->id, r->by, r->since_ms, r->limit, r->out, r->count);
}

int ledger_earnings_grouped(store_t *s, uint64_t host_id, ledger_group_by by, int64_t since_ms,
                            size_t limit, ledger_earnings_row *rows, size_t *count)
{
    ledger_read r = {.id = host_id, .by = by, .since_ms = since_ms, .limit = limit, .out = rows,
                     .count = count};
    return store_read(s, ledger_read_grouped, &r);
}

static int ledger_read_revenue(sqlite3 *db, void *p)
{
    ledger_read *r = p;
    return ledger_revenue_db(db, r->out);
}

int ledger_revenue(store_t *s, int64_t *balance)
{
    ledger_read r = {.out = balance};
    return store_read(s, ledger_read_revenue, &r);
}

static int ledger_read_check(sqlite3 *db, void *p)
{
    ledger_read *r = p;
    return ledger_check_db(db, r->out);
}

int ledger_check(store_t *s, ledger_check_result *out)
{
    ledger_read r = {.out = out};
    return store_read(s, ledger_read_check, &r);
}
