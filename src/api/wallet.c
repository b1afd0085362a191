/*
 * wallet: the user's balances (GET /wallet), history (GET /wallet/transactions, cursor
 * paged, newest first) and a host's earnings (GET /earnings: totals, per day, per call).
 * Read-only views of the ledger; each runs on one snapshot (store_read).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "ledger/ledger.h"

#define TXN_LIMIT_DEFAULT 20
#define TXN_LIMIT_MAX 100
#define EARNINGS_ROWS 31

int wallet_get(api_req *rq, api_resp *rs)
{
    ledger_balance_t b;
    int rc = ledger_balance(rq->p->store, rq->auth.user_id, &b);
    if (rc != 0)
        return api_store_error(&rs->err, rc);
    json_t *o = json_pack("{s:I, s:I}", "available", (json_int_t)b.available, "held",
                          (json_int_t)b.held);
    if (strcmp(rq->auth.role, "host") == 0)
        json_object_set_new(o, "earnings", json_integer(b.earnings));
    return api_ok(rs, 200, o);
}

static int wallet_parse_limit(const http_request *req, size_t def, size_t max, size_t *out,
                              api_error *err)
{
    const char *limit = http_request_query(req, "limit");
    *out = def;
    if (!limit)
        return 0;
    uint64_t v;
    if (!api_parse_u64(limit, &v) || v > max)
        return api_fail(err, 400, "invalid_query", "limit must be 1..%zu", max);
    *out = (size_t)v;
    return 0;
}

int wallet_transactions(api_req *rq, api_resp *rs)
{
    size_t limit;
    uint64_t before = 0;
    const char *cursor = http_request_query(rq->http, "cursor");
    if (wallet_parse_limit(rq->http, TXN_LIMIT_DEFAULT, TXN_LIMIT_MAX, &limit, &rs->err))
        return -1;
    if (cursor && !api_parse_u64(cursor, &before))
        return api_fail(&rs->err, 400, "invalid_cursor", "cursor is not valid");
    ledger_txn rows[TXN_LIMIT_MAX];
    size_t count = 0;
    int64_t next = 0;
    int rc = ledger_transactions(rq->p->store, rq->auth.user_id, (int64_t)before, limit, rows,
                                 &count, &next);
    if (rc != 0)
        return api_store_error(&rs->err, rc);
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++) {
        char t[32];
        json_array_append_new(list, json_pack("{s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s}",
            "id", (json_int_t)rows[i].id, "created_at", api_iso8601(rows[i].created_at_ms, t),
            "amount", (json_int_t)rows[i].amount, "delta", (json_int_t)rows[i].delta,
            "operation", rows[i].op_kind, "kind", rows[i].kind, "from", rows[i].from_kind,
            "to", rows[i].to_kind, "ref", rows[i].ref));
    }
    char nc[24];
    snprintf(nc, sizeof(nc), "%" PRId64, next);
    return api_ok(rs, 200, json_pack("{s:o, s:o}", "transactions", list, "next_cursor",
                                     next ? json_string(nc) : json_null()));
}

typedef struct earnings_read {
    uint64_t host;
    ledger_earnings_total total;
    ledger_earnings_row days[EARNINGS_ROWS], calls[EARNINGS_ROWS];
    size_t ndays, ncalls;
} earnings_read;

static int earnings_run(sqlite3 *db, void *arg)
{
    earnings_read *e = arg;
    int rc = ledger_earnings_db(db, e->host, &e->total);
    if (rc == 0)
        rc = ledger_earnings_grouped_db(db, e->host, LEDGER_BY_DAY, 0, EARNINGS_ROWS, e->days,
                                        &e->ndays);
    if (rc == 0)
        rc = ledger_earnings_grouped_db(db, e->host, LEDGER_BY_REF, 0, EARNINGS_ROWS, e->calls,
                                        &e->ncalls);
    return rc;
}

static json_t *earnings_rows_json(const ledger_earnings_row *rows, size_t n, const char *name)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char t[32];
        json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:s}", name, rows[i].key, "amount",
                                           (json_int_t)rows[i].amount, "charges",
                                           (json_int_t)rows[i].charges, "last_at",
                                           api_iso8601(rows[i].last_at_ms, t)));
    }
    return a;
}

int wallet_earnings(api_req *rq, api_resp *rs)
{
    earnings_read *e = calloc(1, sizeof(*e));
    if (!e)
        return api_fail(&rs->err, 500, "internal", "out of memory");
    e->host = rq->auth.user_id;
    int rc = store_read(rq->p->store, earnings_run, e);
    if (rc != 0) {
        free(e);
        return api_store_error(&rs->err, rc);
    }
    json_t *o = json_pack("{s:{s:I, s:I, s:I}, s:o, s:o}", "totals",
        "earned", (json_int_t)e->total.total, "balance", (json_int_t)e->total.balance,
        "charges", (json_int_t)e->total.charges,
        "per_day", earnings_rows_json(e->days, e->ndays, "day"),
        "per_call", earnings_rows_json(e->calls, e->ncalls, "ref"));
    free(e);
    return api_ok(rs, 200, o);
}
