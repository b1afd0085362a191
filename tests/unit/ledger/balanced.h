/*
 * balanced.h: the ledger's invariants as checks, for the ledger's unit tests (include after
 * check.h). ASSERT_BALANCED(s): ledger_check runs and reports a balanced ledger — balances sum
 * to zero, no negative wallet, no hold over its amount, every balance equal to its transfers,
 * every op equal to its transfers; prints the figures with the caller's line when not, and
 * returns what ledger_check reported.
 */
#ifndef PARLEY_TESTS_LEDGER_BALANCED_H
#define PARLEY_TESTS_LEDGER_BALANCED_H

#include "ledger/ledger.h"

#define ASSERT_BALANCED(s) assert_balanced((s), __LINE__)

static inline ledger_check_result assert_balanced(store_t *s, int line)
{
    ledger_check_result c = {0};
    int rc = ledger_check(s, &c);
    CHECK_INT(rc, 0);
    if (rc || !c.ok)
        fprintf(stderr, "line %d: check rc=%d sum=%lld neg=%lld holds=%lld mismatched=%lld ops=%lld\n", line, rc,
                (long long)c.sum_of_balances, (long long)c.negative_wallets, (long long)c.holds_exceeding,
                (long long)c.mismatched_balances, (long long)c.ops_mismatched);
    CHECK(c.ok);
    CHECK_INT(c.sum_of_balances, 0);
    CHECK_INT(c.negative_wallets, 0);
    CHECK_INT(c.holds_exceeding, 0);
    CHECK_INT(c.mismatched_balances, 0);
    CHECK_INT(c.ops_mismatched, 0);
    return c;
}

#endif
