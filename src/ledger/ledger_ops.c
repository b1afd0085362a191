/*
 * ledger_ops.c: the money-moving operations, each run inside the caller's transaction
 * (the _db flavour of ledger.h). Shape of every operation:
 *   1. validate the arguments (pure),
 *   2. look the idempotency key up: a replay returns the original outcome, a reuse with other
 *      parameters is a conflict — before any state check, so a replay of an operation whose
 *      preconditions no longer hold (a hold since closed) still answers like the original,
 *   3. decide the amounts with ledger_rules (pure, checked),
 *   4. write the op row, then its transfers, then the hold row.
 * Nothing is written before the last check that can fail on user input, except accounts
 * created on demand (harmless, and rolled back with the unit anyway).
 */
#include <string.h>

#include "ledger/ledger_internal.h"

/* Step 2: 1 = replayed (res filled), 0 = new, < 0 = error. */
static int ledger_replay(sqlite3 *db, const ledger_op_desc *d, ledger_result *res)
{
    ledger_result orig;
    int rc = ledger_op_find(db, d, &orig);
    if (rc == 1 && res)
        *res = orig;
    return rc;
}

static void ledger_out(ledger_result *res, const ledger_result *r)
{
    if (res)
        *res = *r;
}

int ledger_ensure_user_accounts_db(sqlite3 *db, uint64_t user_id, ledger_role role)
{
    int64_t id;
    int rc;
    if (!ledger_user_valid(user_id) || (role != LEDGER_ROLE_CALLER && role != LEDGER_ROLE_HOST))
        return LEDGER_EINVAL;
    if ((rc = ledger_account_id(db, user_id, "wallet", true, &id)) ||
        (rc = ledger_account_id(db, user_id, "hold", true, &id)))
        return rc;
    if (role == LEDGER_ROLE_HOST)
        rc = ledger_account_id(db, user_id, "earnings", true, &id);
    return rc;
}

int ledger_credit_purchase_db(sqlite3 *db, uint64_t user_id, int64_t amount, const char *key,
                              const char *ref, ledger_result *res)
{
    if (!ledger_user_valid(user_id) || !ledger_amount_valid(amount) || !ledger_key_valid(key))
        return LEDGER_EINVAL;
    ledger_op_desc d = {.kind = "purchase", .key = key, .user_id = user_id, .ref = ref,
                        .amount = amount};
    int rc = ledger_replay(db, &d, res);
    if (rc)
        return rc > 0 ? LEDGER_OK : rc;
    int64_t wallet, now = store_now_ms();
    if ((rc = ledger_ensure_user_accounts_db(db, user_id, LEDGER_ROLE_CALLER)) ||
        (rc = ledger_account_id(db, user_id, "wallet", false, &wallet)))
        return rc;
    ledger_result r = {.amount = amount};
    if ((rc = ledger_op_insert(db, &d, &r, now)) ||
        (rc = ledger_transfer(db, r.op_id, LEDGER_ACCOUNT_EXTERNAL, wallet, amount, "purchase",
                              ref, now, &r.transfer_id)))
        return rc;
    ledger_out(res, &r);
    return LEDGER_OK;
}

int ledger_hold_place_db(sqlite3 *db, uint64_t user_id, int64_t amount, const char *hold_ref,
                         const char *key, ledger_result *res)
{
    if (!ledger_user_valid(user_id) || !ledger_amount_valid(amount) || !ledger_key_valid(key) ||
        !ledger_key_valid(hold_ref))
        return LEDGER_EINVAL;
    ledger_op_desc d = {.kind = "hold_place", .key = key, .user_id = user_id,
                        .hold_ref = hold_ref, .amount = amount};
    int rc = ledger_replay(db, &d, res);
    if (rc)
        return rc > 0 ? LEDGER_OK : rc;
    ledger_hold_row existing;
    rc = ledger_hold_load(db, hold_ref, &existing);
    if (rc != LEDGER_ENOTFOUND)
        return rc ? rc : LEDGER_ECONFLICT;
    int64_t wallet, hold, avail, now = store_now_ms();
    if ((rc = ledger_ensure_user_accounts_db(db, user_id, LEDGER_ROLE_CALLER)) ||
        (rc = ledger_account_id(db, user_id, "wallet", false, &wallet)) ||
        (rc = ledger_account_id(db, user_id, "hold", false, &hold)) ||
        (rc = ledger_account_balance(db, wallet, &avail)))
        return rc;
    if (avail < amount)
        return LEDGER_EFUNDS;
    ledger_result r = {.amount = amount, .from_wallet = amount};
    if ((rc = ledger_op_insert(db, &d, &r, now)) ||
        (rc = ledger_hold_insert(db, hold_ref, user_id, amount, now)) ||
        (rc = ledger_transfer(db, r.op_id, wallet, hold, amount, "hold", hold_ref, now,
                              &r.transfer_id)))
        return rc;
    ledger_out(res, &r);
    return LEDGER_OK;
}

int ledger_hold_extend_db(sqlite3 *db, const char *hold_ref, int64_t amount, const char *key,
                          ledger_result *res)
{
    if (!ledger_amount_valid(amount) || !ledger_key_valid(key) || !ledger_key_valid(hold_ref))
        return LEDGER_EINVAL;
    ledger_op_desc d = {.kind = "hold_extend", .key = key, .hold_ref = hold_ref,
                        .amount = amount};
    int rc = ledger_replay(db, &d, res);
    if (rc)
        return rc > 0 ? LEDGER_OK : rc;
    ledger_hold_row h;
    if ((rc = ledger_hold_load(db, hold_ref, &h)) || (rc = ledger_hold_state_add(&h.st, amount)))
        return rc;
    int64_t wallet, hold, avail, now = store_now_ms();
    if ((rc = ledger_account_id(db, h.user_id, "wallet", true, &wallet)) ||
        (rc = ledger_account_id(db, h.user_id, "hold", true, &hold)) ||
        (rc = ledger_account_balance(db, wallet, &avail)))
        return rc;
    if (avail < amount)
        return LEDGER_EFUNDS;
    ledger_result r = {.amount = amount, .from_wallet = amount};
    if ((rc = ledger_op_insert(db, &d, &r, now)) ||
        (rc = ledger_transfer(db, r.op_id, wallet, hold, amount, "hold", hold_ref, now,
                              &r.transfer_id)) ||
        (rc = ledger_hold_save(db, &h, now)))
        return rc;
    ledger_out(res, &r);
    return LEDGER_OK;
}

/* Pays host and fee out of the user's hold account: the two legs of a capture/charge. */
static int ledger_pay_out_of(sqlite3 *db, ledger_result *r, int64_t from, uint64_t host_id,
                             const char *ref, int64_t now)
{
    int64_t earnings, id;
    int rc = ledger_account_id(db, host_id, "earnings", true, &earnings);
    if (rc)
        return rc;
    if (r->host_amount > 0) {
        rc = ledger_transfer(db, r->op_id, from, earnings, r->host_amount, "earning", ref, now, &id);
        if (rc)
            return rc;
        if (!r->transfer_id)
            r->transfer_id = id;
    }
    if (r->fee_amount > 0) {
        rc = ledger_transfer(db, r->op_id, from, LEDGER_ACCOUNT_REVENUE, r->fee_amount, "fee",
                             ref, now, &id);
        if (rc)
            return rc;
        if (!r->transfer_id)
            r->transfer_id = id;
    }
    return LEDGER_OK;
}

int ledger_hold_capture_db(sqlite3 *db, const char *hold_ref, int64_t amount, uint64_t host_id,
                           int fee_bps, const char *key, const char *ref, ledger_result *res)
{
    if (!ledger_user_valid(host_id) || !ledger_key_valid(key) || !ledger_key_valid(hold_ref))
        return LEDGER_EINVAL;
    ledger_result r = {.amount = amount};
    int rc = ledger_split(amount, fee_bps, &r.host_amount, &r.fee_amount);
    if (rc)
        return rc;
    ledger_op_desc d = {.kind = "hold_capture", .key = key, .host_id = host_id,
                        .hold_ref = hold_ref, .ref = ref, .amount = amount, .fee_bps = fee_bps};
    if ((rc = ledger_replay(db, &d, res)))
        return rc > 0 ? LEDGER_OK : rc;
    ledger_hold_row h;
    if ((rc = ledger_hold_load(db, hold_ref, &h)))
        return rc;
    if (h.user_id == host_id)
        return LEDGER_EINVAL;
    if ((rc = ledger_hold_state_capture(&h.st, amount)))
        return rc;
    r.from_hold = amount;
    int64_t hold, now = store_now_ms();
    if ((rc = ledger_account_id(db, h.user_id, "hold", true, &hold)) ||
        (rc = ledger_op_insert(db, &d, &r, now)) ||
        (rc = ledger_pay_out_of(db, &r, hold, host_id, ref, now)) ||
        (rc = ledger_hold_save(db, &h, now)))
        return rc;
    ledger_out(res, &r);
    return LEDGER_OK;
}

int ledger_hold_release_db(sqlite3 *db, const char *hold_ref, const char *key,
                           ledger_result *res)
{
    if (!ledger_key_valid(key) || !ledger_key_valid(hold_ref))
        return LEDGER_EINVAL;
    ledger_op_desc d = {.kind = "hold_release", .key = key, .hold_ref = hold_ref};
    int rc = ledger_replay(db, &d, res);
    if (rc)
        return rc > 0 ? LEDGER_OK : rc;
    ledger_hold_row h;
    ledger_result r = {0};
    if ((rc = ledger_hold_load(db, hold_ref, &h)) ||
        (rc = ledger_hold_state_release(&h.st, &r.amount)))
        return rc;
    int64_t wallet, hold, now = store_now_ms();
    if ((rc = ledger_account_id(db, h.user_id, "wallet", true, &wallet)) ||
        (rc = ledger_account_id(db, h.user_id, "hold", true, &hold)) ||
        (rc = ledger_op_insert(db, &d, &r, now)))
        return rc;
    if (r.amount > 0 && (rc = ledger_transfer(db, r.op_id, hold, wallet, r.amount, "release",
                                              hold_ref, now, &r.transfer_id)))
        return rc;
    if ((rc = ledger_hold_save(db, &h, now)))
        return rc;
    ledger_out(res, &r);
    return LEDGER_OK;
}

/* The state a charge needs: the caller's wallet and, with a hold, the hold. */
typedef struct ledger_charge_ctx {
    int64_t wallet, hold_acct, avail;
    ledger_hold_row h;
    bool with_hold;
} ledger_charge_ctx;

static int ledger_charge_load(sqlite3 *db, uint64_t caller_id, const char *hold_ref,
                              ledger_charge_ctx *c)
{
    int rc;
    if ((rc = ledger_ensure_user_accounts_db(db, caller_id, LEDGER_ROLE_CALLER)) ||
        (rc = ledger_account_id(db, caller_id, "wallet", false, &c->wallet)) ||
        (rc = ledger_account_id(db, caller_id, "hold", false, &c->hold_acct)) ||
        (rc = ledger_account_balance(db, c->wallet, &c->avail)))
        return rc;
    c->with_hold = hold_ref != NULL;
    if (!c->with_hold)
        return LEDGER_OK;
    if ((rc = ledger_hold_load(db, hold_ref, &c->h)))
        return rc;
    if (c->h.user_id != caller_id)
        return LEDGER_EINVAL;
    return c->h.st.closed ? LEDGER_ESTATE : LEDGER_OK;
}

int ledger_charge_unit_db(sqlite3 *db, uint64_t caller_id, uint64_t host_id, int64_t amount,
                          int fee_bps, const char *hold_ref, const char *charge_key,
                          const char *ref, ledger_result *res)
{
    if (!ledger_user_valid(caller_id) || !ledger_user_valid(host_id) || caller_id == host_id ||
        !ledger_key_valid(charge_key) || (hold_ref && !ledger_key_valid(hold_ref)))
        return LEDGER_EINVAL;
    ledger_result r = {.amount = amount};
    int rc = ledger_split(amount, fee_bps, &r.host_amount, &r.fee_amount);
    if (rc)
        return rc;
    ledger_op_desc d = {.kind = "charge", .key = charge_key, .user_id = caller_id,
                        .host_id = host_id, .hold_ref = hold_ref, .ref = ref, .amount = amount,
                        .fee_bps = fee_bps};
    if ((rc = ledger_replay(db, &d, res)))
        return rc > 0 ? LEDGER_OK : rc;
    ledger_charge_ctx c;
    int64_t remaining = 0, now = store_now_ms();
    if ((rc = ledger_charge_load(db, caller_id, hold_ref, &c)) ||
        (c.with_hold && (rc = ledger_hold_state_remaining(&c.h.st, &remaining))) ||
        (rc = ledger_charge_plan(amount, remaining, c.avail, &r.from_hold, &r.from_wallet)))
        return rc;
    if ((rc = ledger_op_insert(db, &d, &r, now)))
        return rc;
    if (!c.with_hold) {
        if ((rc = ledger_pay_out_of(db, &r, c.wallet, host_id, ref, now)))
            return rc;
        ledger_out(res, &r);
        return LEDGER_OK;
    }
    /* With a hold, the shortfall goes wallet -> hold first so the hold row and the hold
     * account keep telling the same story; then the whole amount is captured from it. */
    if (r.from_wallet > 0 &&
        ((rc = ledger_hold_state_add(&c.h.st, r.from_wallet)) ||
         (rc = ledger_transfer(db, r.op_id, c.wallet, c.hold_acct, r.from_wallet, "topup",
                               hold_ref, now, &r.transfer_id))))
        return rc;
    if ((rc = ledger_hold_state_capture(&c.h.st, amount)) ||
        (rc = ledger_pay_out_of(db, &r, c.hold_acct, host_id, ref, now)) ||
        (rc = ledger_hold_save(db, &c.h, now)))
        return rc;
    ledger_out(res, &r);
    return LEDGER_OK;
}

int ledger_payout_db(sqlite3 *db, uint64_t host_id, int64_t amount, const char *key,
                     const char *ref, ledger_result *res)
{
    if (!ledger_user_valid(host_id) || !ledger_amount_valid(amount) || !ledger_key_valid(key))
        return LEDGER_EINVAL;
    ledger_op_desc d = {.kind = "payout", .key = key, .host_id = host_id, .ref = ref,
                        .amount = amount};
    int rc = ledger_replay(db, &d, res);
    if (rc)
        return rc > 0 ? LEDGER_OK : rc;
    int64_t earnings, bal, now = store_now_ms();
    if ((rc = ledger_account_id(db, host_id, "earnings", true, &earnings)) ||
        (rc = ledger_account_balance(db, earnings, &bal)))
        return rc;
    if (bal < amount)
        return LEDGER_EFUNDS;
    ledger_result r = {.amount = amount};
    if ((rc = ledger_op_insert(db, &d, &r, now)) ||
        (rc = ledger_transfer(db, r.op_id, earnings, LEDGER_ACCOUNT_EXTERNAL, amount, "payout",
                              ref, now, &r.transfer_id)))
        return rc;
    ledger_out(res, &r);
    return LEDGER_OK;
}
