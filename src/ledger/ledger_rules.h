/*
 * ledger_rules: the money arithmetic of the ledger as pure functions — no I/O, no clock, no
 * floats, no allocation. Everything the ledger moves is decided here first, so the rules can
 * be tested exhaustively without a database.
 *
 * Contract:
 *  - All amounts are int64 credits. An amount to move must be > 0 (LEDGER_EINVAL otherwise).
 *  - Every addition/subtraction is overflow-checked (LEDGER_EOVERFLOW); outputs are written
 *    only on success.
 *  - Fees are basis points in [0, 10000]. The split gives the host "amount minus the fee,
 *    rounded down" and the platform the rest, so host + fee == amount exactly and the
 *    platform receives the rounding remainder.
 *  - Thread-safe (no state). The error codes below are shared by the whole ledger module and
 *    stay in -1..-99 so they never collide with STORE_E* codes.
 */
#ifndef PARLEY_LEDGER_RULES_H
#define PARLEY_LEDGER_RULES_H

#include <stdbool.h>
#include <stdint.h>

enum {
    LEDGER_OK = 0,
    LEDGER_EINVAL = -1,    /* bad argument: amount <= 0, fee out of range, empty key, ... */
    LEDGER_EFUNDS = -2,    /* not enough available (wallet) or held (hold) credits */
    LEDGER_ECONFLICT = -3, /* idempotency key reused with other parameters, hold_ref taken */
    LEDGER_ENOTFOUND = -4, /* no such hold / account */
    LEDGER_EOVERFLOW = -5, /* a balance or sum would leave int64 */
    LEDGER_ESTATE = -6,    /* the hold is already closed (released) */
    LEDGER_EDB = -7,       /* SQL error inside the unit (details logged) */
};

#define LEDGER_BPS_MAX 10000

/* Short name of an error code ("insufficient_funds", ...), for logs and API errors. */
const char *ledger_strerror(int code);

bool ledger_amount_valid(int64_t amount);
int ledger_add(int64_t a, int64_t b, int64_t *out);
int ledger_sub(int64_t a, int64_t b, int64_t *out);

/* Splits amount (> 0) at fee_bps into *host (rounded down) and *fee (the rest). */
int ledger_split(int64_t amount, int fee_bps, int64_t *host, int64_t *fee);

/* A hold: credits moved from a wallet and set aside; later partly captured (paid to a host
 * and the platform) and the rest released back to the wallet. */
typedef struct ledger_hold_state {
    int64_t held;     /* everything ever placed on it */
    int64_t captured; /* paid out of it */
    int64_t released; /* returned to the wallet */
    bool closed;      /* released: nothing more can be captured or added */
} ledger_hold_state;

/* held - captured - released; LEDGER_EINVAL when the state is inconsistent (negative parts,
 * or captured + released > held). */
int ledger_hold_state_remaining(const ledger_hold_state *h, int64_t *remaining);
/* Adds amount (> 0) to an open hold. */
int ledger_hold_state_add(ledger_hold_state *h, int64_t amount);
/* Captures amount (> 0, <= remaining: LEDGER_EFUNDS otherwise) from an open hold. */
int ledger_hold_state_capture(ledger_hold_state *h, int64_t amount);
/* Releases whatever remains (possibly 0) into *released_now and closes the hold. */
int ledger_hold_state_release(ledger_hold_state *h, int64_t *released_now);

/* How a charge of amount is paid: from the hold's remaining credits first, then from the
 * wallet. LEDGER_EFUNDS when hold_remaining + wallet_available < amount. */
int ledger_charge_plan(int64_t amount, int64_t hold_remaining, int64_t wallet_available,
                       int64_t *from_hold, int64_t *from_wallet);

#endif
