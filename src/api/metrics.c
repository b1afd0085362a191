/*
 * metrics: the platform's lines of /metrics (admin port) — ledger operations and transfers
 * recorded, the ledger invariant check, and the storage thread's group-commit figures.
 *
 * Transfers and operations are append-only tables (triggers refuse UPDATE and DELETE) whose
 * INTEGER PRIMARY KEY is never reused, so MAX(id) is the number of rows ever written: an
 * O(log n) read that can run on every scrape, unlike COUNT(*). The invariant check is a
 * full scan and stays with the caller, who decides how often to afford it.
 */
#include <stdarg.h>
#include <stdio.h>

#include "api/internal.h"
#include "ledger/ledger.h"

typedef struct ledger_sizes {
    int64_t transfers, ops;
} ledger_sizes;

static int max_id(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = store_stmt(db, sql);
    if (!st)
        return -1;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    if (rc == 0)
        *out = sqlite3_column_int64(st, 0);
    store_stmt_release(st);
    return rc;
}

static int read_sizes(sqlite3 *db, void *arg)
{
    ledger_sizes *z = arg;
    if (max_id(db, "SELECT COALESCE(MAX(id), 0) FROM ledger_transfers", &z->transfers) != 0 ||
        max_id(db, "SELECT COALESCE(MAX(id), 0) FROM ledger_ops", &z->ops) != 0)
        return -1;
    return 0;
}

typedef struct text_out {
    char *buf;
    size_t cap, len;
    bool short_buf;
} text_out;

static void emit(text_out *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(text_out *t, const char *fmt, ...)
{
    if (t->short_buf)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->len)
        t->short_buf = true;
    else
        t->len += (size_t)n;
}

static void metric(text_out *t, const char *name, const char *type, const char *help, uint64_t v)
{
    emit(t, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, (unsigned long long)v);
}

int platform_metrics(platform_t *p, char *out, size_t cap)
{
    text_out t = {.buf = out, .cap = cap};
    if (cap == 0)
        return -1;
    out[0] = '\0';
    ledger_sizes z = {0};
    if (store_read(p->store, read_sizes, &z) == 0) {
        metric(&t, "parley_ledger_transfers_total", "counter", "Ledger transfers recorded (append-only).",
               (uint64_t)z.transfers);
        metric(&t, "parley_ledger_operations_total", "counter",
               "Ledger operations recorded (purchases, holds, charges, payouts).", (uint64_t)z.ops);
    }
    store_stats_t s;
    store_stats(p->store, &s);
    metric(&t, "parley_store_groups_total", "counter", "Group transactions run by the storage thread.", s.groups);
    metric(&t, "parley_store_units_total", "counter", "Write units run by the storage thread.", s.units);
    metric(&t, "parley_store_units_rolled_back_total", "counter", "Write units rolled back by their own result.",
           s.units_rolled_back);
    metric(&t, "parley_store_commit_failures_total", "counter", "Group commits that failed.", s.commit_failures);
    metric(&t, "parley_store_queue_full_waits_total", "counter", "Times a writer waited for room in the queue.",
           s.queue_full_waits);
    metric(&t, "parley_store_max_group_units", "gauge", "Largest group commit so far, in units.", s.max_group);
    metric(&t, "parley_store_queue_depth", "gauge", "Write units queued right now.", s.queue_depth);
    metric(&t, "parley_store_checkpoints_total", "counter", "WAL checkpoints run by the checkpointer thread.",
           s.checkpoints);
    metric(&t, "parley_store_writer_checkpoints_total", "counter",
           "WAL checkpoints the storage thread ran inside its own commits (the WAL past 256 MiB).",
           s.writer_checkpoints);
    return t.short_buf ? -1 : (int)t.len;
}

int platform_ledger_check_ok(platform_t *p)
{
    ledger_check_result c;
    if (ledger_check(p->store, &c) != 0)
        return -1;
    return c.ok ? 1 : 0;
}
