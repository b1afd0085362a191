/*
 * ledger_bench: ledger throughput and latency on a real SQLite file (WAL, synchronous=FULL).
 *
 *   1. one thread, one charge at a time: every charge waits for its own fsync'd COMMIT,
 *   2. 16 threads charging concurrently: group commit shares each fsync among the group,
 *   3. raw store_write of an empty unit from 1 and 16 threads: the storage layer's own
 *      ceiling (fsync rate, queue hand-off), without ledger SQL.
 * A charge is one ledger operation of 2 transfers (host earnings + platform fee).
 *
 * Reproduce: meson test -C build --benchmark ledger-bench --verbose
 *        or: build/tests/bench/ledger_bench [dir] [ops_single] [ops_per_thread]
 * The database goes to a fresh directory under dir (default: the current directory, i.e. a
 * real disk, not /dev/shm) and is removed afterwards.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ledger/ledger.h"
#include "util/log.h"

#define THREADS 16

static store_t *g_store;
static int g_per_thread;
static int g_phase; /* keeps keys of separate runs distinct (no accidental replays) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct run {
    int id;
    double *lat; /* per-op latency, seconds */
    int failures;
} run;

/* Each thread charges its own caller (funded beforehand) to one of 4 hosts. */
static void *charge_thread(void *p)
{
    run *r = p;
    char key[64];
    uint64_t caller = 1000 + (uint64_t)r->id;
    for (int i = 0; i < g_per_thread; i++) {
        snprintf(key, sizeof key, "bench:%d:%d:%d", g_phase, r->id, i);
        double t0 = now_s();
        if (ledger_charge_unit(g_store, caller, 5000 + (uint64_t)(i % 4), 10, 2000, NULL, key,
                               "bench", NULL) != 0)
            r->failures++;
        r->lat[i] = now_s() - t0;
    }
    return NULL;
}

static int empty_unit(sqlite3 *db, void *arg)
{
    return store_exec(db, "UPDATE bench_counter SET n = n + 1") == SQLITE_OK ? 0 : -1;
}

static void *empty_thread(void *p)
{
    run *r = p;
    for (int i = 0; i < g_per_thread; i++) {
        double t0 = now_s();
        if (store_write(g_store, empty_unit, NULL) != 0)
            r->failures++;
        r->lat[i] = now_s() - t0;
    }
    return NULL;
}

/* Runs fn on n threads, g_per_thread ops each, prints rate and latency percentiles. */
static void measure(const char *name, void *(*fn)(void *), int n, int transfers_per_op)
{
    run runs[THREADS];
    pthread_t th[THREADS];
    store_stats_t before, after;
    store_stats(g_store, &before);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        runs[i] = (run){.id = i, .lat = calloc((size_t)g_per_thread, sizeof(double))};
        pthread_create(&th[i], NULL, fn, &runs[i]);
    }
    int failures = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        failures += runs[i].failures;
    }
    double el = now_s() - t0;
    store_stats(g_store, &after);
    size_t total = (size_t)n * (size_t)g_per_thread;
    double *all = malloc(total * sizeof(double));
    for (int i = 0; i < n; i++) {
        memcpy(all + (size_t)i * (size_t)g_per_thread, runs[i].lat,
               (size_t)g_per_thread * sizeof(double));
        free(runs[i].lat);
    }
    qsort(all, total, sizeof(double), cmp_double);
    uint64_t groups = after.groups - before.groups;
    printf("%-34s threads=%2d ops=%6zu  %8.0f ops/s  %8.0f transfers/s  "
           "latency p50=%6.2f ms p99=%6.2f ms  groups=%llu (avg %.1f units)  failures=%d\n",
           name, n, total, total / el, transfers_per_op * total / el, all[total / 2] * 1e3,
           all[total * 99 / 100] * 1e3, (unsigned long long)groups,
           groups ? (double)total / groups : 0.0, failures);
    free(all);
}

static int setup_bench_table(sqlite3 *db, void *arg)
{
    return store_exec(db, "CREATE TABLE IF NOT EXISTS bench_counter(n INTEGER);"
                          "INSERT INTO bench_counter VALUES (0)") == SQLITE_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : ".";
    int single = argc > 2 ? atoi(argv[2]) : 400;
    int per_thread = argc > 3 ? atoi(argv[3]) : 200;
    if (single <= 0 || per_thread <= 0)
        return 2;
    char dir[512], path[600], err[256];
    snprintf(dir, sizeof dir, "%s/ledger-bench-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(path, sizeof path, "%s/bench.db", dir);
    log_set_level(LOG_LEVEL_WARN);
    g_store = store_open(path, err, sizeof err);
    if (!g_store || ledger_migrate(g_store, err, sizeof err) != 0 ||
        store_write(g_store, setup_bench_table, NULL) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return 1;
    }
    int most = single > per_thread ? single : per_thread;
    for (int i = 0; i < THREADS; i++) {
        char key[32];
        snprintf(key, sizeof key, "fund:%d", i);
        if (ledger_credit_purchase(g_store, 1000 + (uint64_t)i, (int64_t)most * 10 * 2, key,
                                   NULL, NULL) != 0)
            return 1;
    }
    printf("ledger_bench: SQLite %s, WAL, synchronous=FULL, db %s\n", sqlite3_libversion(), path);
    g_per_thread = single;
    measure("store_write empty unit, 1 thread", empty_thread, 1, 0);
    measure("ledger charge, 1 thread", charge_thread, 1, 2);
    g_per_thread = per_thread;
    measure("store_write empty unit, 16 threads", empty_thread, THREADS, 0);
    g_phase = 1;
    measure("ledger charge, 16 threads", charge_thread, THREADS, 2);

    ledger_check_result c;
    int rc = ledger_check(g_store, &c);
    printf("ledger_check after the run: rc=%d ok=%d transfers=%lld\n", rc, c.ok,
           (long long)c.transfers_count);
    store_close(g_store);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return rc == 0 && c.ok ? 0 : 1;
}
