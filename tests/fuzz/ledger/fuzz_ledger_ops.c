/*
 * fuzz_ledger_ops: the ledger as a state machine under arbitrary operation sequences.
 *
 * The ledger parses no network bytes, but its operations are driven by network requests
 * (amounts, keys, refs, fees, hold refs chosen by clients), so the fuzzer decodes its input
 * into a sequence of ledger operations with hostile arguments — huge and negative amounts,
 * fees out of range, reused keys and hold refs — and runs them on an in-memory database the
 * way the store runs units: each in a SAVEPOINT, rolled back when it returns non-zero.
 * It traps when:
 *   - an operation returns LEDGER_EDB (a database constraint caught what the C checks
 *     missed, or an SQL error),
 *   - a successful replay reports a different outcome than the original,
 *   - ledger_check_db finds the ledger unbalanced after any operation,
 *   - the external account is not minus (purchases - payouts) the model counted.
 * Each input runs inside one transaction rolled back at the end, so inputs are independent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"
#include "util/log.h"

static sqlite3 *db;

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static uint8_t take8(input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* Amounts: mostly small, sometimes at the int64 edges or non-positive. */
static int64_t take_amount(input *in)
{
    uint8_t sel = take8(in);
    switch (sel % 8) {
    case 0: return INT64_MAX - take8(in);
    case 1: return -(int64_t)take8(in);
    case 2: {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | take8(in);
        return (int64_t)v;
    }
    default: return 1 + (int64_t)take8(in) * (1 + sel / 8);
    }
}

static int take_bps(input *in)
{
    uint8_t a = take8(in), b = take8(in);
    if (a == 0xff)
        return (int)b - 128; /* out of range both ways */
    return (int)(((unsigned)a << 8 | b) % (LEDGER_BPS_MAX + 1));
}

static void key_of(char *buf, size_t cap, const char *what, uint8_t v)
{
    snprintf(buf, cap, "%s%u", what, v % 12);
}

/* One operation decoded from the input. */
typedef struct op_args {
    uint8_t op;
    uint64_t user, host;
    int64_t amount;
    int bps;
    char key[16], hold[16], ref[16];
} op_args;

static void decode_op(input *in, op_args *a)
{
    a->op = take8(in);
    a->user = 1 + take8(in) % 5;
    a->host = 1 + take8(in) % 5;
    a->amount = take_amount(in);
    a->bps = take_bps(in);
    key_of(a->key, sizeof a->key, "k", take8(in));
    key_of(a->hold, sizeof a->hold, "h", take8(in) % 4);
    key_of(a->ref, sizeof a->ref, "r", take8(in) % 3);
}

/* Runs one operation; the model counts money in and out of the system (128-bit: amounts
 * near INT64_MAX are part of the game). */
static int run_op(const op_args *a, ledger_result *res, __int128 *bought, __int128 *paid)
{
    const char *hold = (a->op & 0x80) ? a->hold : NULL;
    int rc;
    switch (a->op % 8) {
    case 0:
        rc = ledger_credit_purchase_db(db, a->user, a->amount, a->key, a->ref, res);
        if (rc == 0 && !res->replayed)
            *bought += a->amount;
        return rc;
    case 1: return ledger_hold_place_db(db, a->user, a->amount, a->hold, a->key, res);
    case 2: return ledger_hold_extend_db(db, a->hold, a->amount, a->key, res);
    case 3:
        return ledger_hold_capture_db(db, a->hold, a->amount, a->host, a->bps, a->key, a->ref,
                                      res);
    case 4: return ledger_hold_release_db(db, a->hold, a->key, res);
    case 5:
    case 6:
        return ledger_charge_unit_db(db, a->user, a->host, a->amount, a->bps, hold, a->key,
                                     a->ref, res);
    default:
        rc = ledger_payout_db(db, a->host, a->amount, a->key, NULL, res);
        if (rc == 0 && !res->replayed)
            *paid += a->amount;
        return rc;
    }
}

static void check_or_trap(__int128 bought, __int128 paid)
{
    ledger_check_result c;
    if (ledger_check_db(db, &c) != 0 || !c.ok) {
        fprintf(stderr, "ledger unbalanced: sum=%lld neg=%lld holds=%lld mismatched=%lld\n",
                (long long)c.sum_of_balances, (long long)c.negative_wallets,
                (long long)c.holds_exceeding, (long long)c.mismatched_balances);
        __builtin_trap();
    }
    if (-(__int128)c.external_balance != bought - paid) {
        fprintf(stderr, "external %lld differs from the model\n", (long long)c.external_balance);
        __builtin_trap();
    }
}

/* Originals by key, to compare replays with. */
typedef struct seen {
    char key[16];
    ledger_result res;
} seen;

static void compare_replay(seen *tab, size_t *n, const char *key, const ledger_result *r)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(tab[i].key, key) != 0)
            continue;
        ledger_result a = tab[i].res, b = *r;
        if (!b.replayed || a.op_id != b.op_id || a.amount != b.amount ||
            a.host_amount != b.host_amount || a.fee_amount != b.fee_amount ||
            a.from_hold != b.from_hold || a.from_wallet != b.from_wallet ||
            a.transfer_id != b.transfer_id)
            __builtin_trap();
        return;
    }
    if (r->replayed || *n >= 64)
        __builtin_trap(); /* a replay of nothing, or more keys than the pool has */
    snprintf(tab[*n].key, sizeof tab[*n].key, "%s", key);
    tab[(*n)++].res = *r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_set_level(LOG_LEVEL_ERROR);
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        abort();
    for (size_t i = 0; i < ledger_migrations_count; i++)
        if (store_exec(db, ledger_migrations[i].sql) != SQLITE_OK)
            abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    __int128 bought = 0, paid = 0;
    seen tab[64];
    size_t nseen = 0;
    if (store_exec(db, "BEGIN"))
        abort();
    for (int step = 0; in.n > 0 && step < 64; step++) {
        op_args a;
        decode_op(&in, &a);
        ledger_result res = {0};
        __int128 b0 = bought, p0 = paid;
        store_exec(db, "SAVEPOINT unit");
        int rc = run_op(&a, &res, &bought, &paid);
        if (rc == LEDGER_EDB)
            __builtin_trap();
        if (rc != 0) {
            store_exec(db, "ROLLBACK TO unit");
            bought = b0;
            paid = p0;
        } else {
            compare_replay(tab, &nseen, a.key, &res);
        }
        store_exec(db, "RELEASE unit");
        check_or_trap(bought, paid);
    }
    store_exec(db, "ROLLBACK");
    return 0;
}
