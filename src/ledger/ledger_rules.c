/*
 * ledger_rules.c: pure int64 money arithmetic (see ledger_rules.h).
 */
#include "ledger/ledger_rules.h"

const char *ledger_strerror(int code)
{
    switch (code) {
    case LEDGER_OK: return "ok";
    case LEDGER_EINVAL: return "invalid_argument";
    case LEDGER_EFUNDS: return "insufficient_balance";
    case LEDGER_ECONFLICT: return "conflict";
    case LEDGER_ENOTFOUND: return "not_found";
    case LEDGER_EOVERFLOW: return "overflow";
    case LEDGER_ESTATE: return "invalid_state";
    case LEDGER_EDB: return "storage_error";
    default: return "unknown_error";
    }
}

bool ledger_amount_valid(int64_t amount)
{
    return amount > 0;
}

int ledger_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return LEDGER_EOVERFLOW;
    *out = r;
    return LEDGER_OK;
}

int ledger_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return LEDGER_EOVERFLOW;
    *out = r;
    return LEDGER_OK;
}

/* host = floor(amount * (10000 - bps) / 10000), computed as q*(10000-bps) + floor(r*(..)/10000)
 * with amount = q*10000 + r, so no intermediate product can overflow even at INT64_MAX. */
int ledger_split(int64_t amount, int fee_bps, int64_t *host, int64_t *fee)
{
    if (!ledger_amount_valid(amount) || fee_bps < 0 || fee_bps > LEDGER_BPS_MAX)
        return LEDGER_EINVAL;
    int64_t keep = LEDGER_BPS_MAX - fee_bps;
    int64_t q = amount / LEDGER_BPS_MAX, r = amount % LEDGER_BPS_MAX;
    int64_t h = q * keep + (r * keep) / LEDGER_BPS_MAX;
    *host = h;
    *fee = amount - h;
    return LEDGER_OK;
}

int ledger_hold_state_remaining(const ledger_hold_state *h, int64_t *remaining)
{
    int64_t used, rest;
    if (h->held < 0 || h->captured < 0 || h->released < 0)
        return LEDGER_EINVAL;
    if (ledger_add(h->captured, h->released, &used) || ledger_sub(h->held, used, &rest))
        return LEDGER_EINVAL;
    if (rest < 0)
        return LEDGER_EINVAL;
    *remaining = rest;
    return LEDGER_OK;
}

int ledger_hold_state_add(ledger_hold_state *h, int64_t amount)
{
    int64_t rest, held;
    if (!ledger_amount_valid(amount) || ledger_hold_state_remaining(h, &rest))
        return LEDGER_EINVAL;
    if (h->closed)
        return LEDGER_ESTATE;
    if (ledger_add(h->held, amount, &held))
        return LEDGER_EOVERFLOW;
    h->held = held;
    return LEDGER_OK;
}

int ledger_hold_state_capture(ledger_hold_state *h, int64_t amount)
{
    int64_t rest;
    if (!ledger_amount_valid(amount) || ledger_hold_state_remaining(h, &rest))
        return LEDGER_EINVAL;
    if (h->closed)
        return LEDGER_ESTATE;
    if (amount > rest)
        return LEDGER_EFUNDS;
    h->captured += amount; /* cannot overflow: captured + amount <= held */
    return LEDGER_OK;
}

int ledger_hold_state_release(ledger_hold_state *h, int64_t *released_now)
{
    int64_t rest;
    if (ledger_hold_state_remaining(h, &rest))
        return LEDGER_EINVAL;
    if (h->closed)
        return LEDGER_ESTATE;
    h->released += rest;
    h->closed = true;
    *released_now = rest;
    return LEDGER_OK;
}

int ledger_charge_plan(int64_t amount, int64_t hold_remaining, int64_t wallet_available,
                       int64_t *from_hold, int64_t *from_wallet)
{
    if (!ledger_amount_valid(amount) || hold_remaining < 0 || wallet_available < 0)
        return LEDGER_EINVAL;
    int64_t h = amount < hold_remaining ? amount : hold_remaining;
    int64_t w = amount - h;
    if (w > wallet_available)
        return LEDGER_EFUNDS;
    *from_hold = h;
    *from_wallet = w;
    return LEDGER_OK;
}
