/*
 * billing_bench: the worst case of issue 8 — N metered calls whose minute boundaries
 * coincide, each boundary one "charge" operation for the storage thread (group commit).
 * How long until every charge of the burst is settled (durable, its done callback run), the
 * ledger's charges/s, and what group commit buys over blocking calls.
 *
 * Per row, a fresh platform in its own directory (platform_create: SQLite WAL,
 * synchronous=FULL, the storage thread, every migration, as the server runs):
 *   setup (not timed, SETUP_THREADS blocking threads): N callers and N hosts registered
 *     through the handlers (auth_register, kdf cost 1), each host's audio/video rates set
 *     with users_patch_me, each caller credited CREDITS through ledger_credit_purchase; N
 *     calls recorded (platform_call_record create + accept, half audio, half video),
 *     authorised (the hold of minute 1), opened (rates locked) and minute 1 charged (as at
 *     connect) with platform_billing_run. Then the platform is closed and opened again, so
 *     store_stats counts the burst alone (SQLite's page cache starts cold, the OS's is warm).
 *   "boundary burst": one thread (as the billing plugin's dispatch thread) submits the
 *     charge of minute 2 of all N calls at once with platform_billing_submit; the time runs
 *     from the first submit to the last done callback (they run on the storage thread).
 *     A submit blocks while the store's queue is full (STORE_QUEUE_CAP): how long the
 *     submitting thread was held is printed too.
 *   "naive burst" (N <= 10000): the same charges, each a blocking platform_billing_run,
 *     from NAIVE_THREADS threads.
 * Verified after each burst: every charge ok and not a replay, ledger_check ok,
 * billing_minutes holds 2N rows adding up to the rates charged, every meter at minute 2, no
 * negative wallet or hold. Exit status 1 if anything fails.
 *
 * Usage: billing_bench [--calls N] [--dir PATH]
 *   default: N = 1000, 10000, 50000 (naive rows for 1000 and 10000); --calls: that size
 *   only (with a naive row when N <= 10000). Databases go to a mkdtemp directory under
 *   /tmp, removed after each row; with --dir they go to PATH/<row>-<N> (which must not
 *   exist yet) and are kept.
 * Run:   build/tests/bench/billing_bench       (or meson test -C build --benchmark billing-bench)
 * Smoke: meson test -C build bench-billing-smoke   (--calls 200, suite unit)
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "bench_platform.h"
#include "ledger/ledger.h"
#include "util/log.h"

#define SETUP_THREADS 32
#define NAIVE_THREADS 8
#define NAIVE_MAX_CALLS 10000
#define CREDITS 1000
#define FEE_BPS 2000
#define GOAL_CALLS 10000
#define GOAL_S 2.0
#define OP_MAX 320

enum outcome { OUT_PENDING = 0, OUT_OK, OUT_REPLAYED, OUT_REFUSED, OUT_NOT_QUEUED };

struct burst;

typedef struct bench_call {
    char id[40];
    uint64_t caller, host;
    bool video;
    int64_t rate;              /* of its kind, per minute */
    struct burst *burst;
    double settled_s;          /* since the burst began */
    int outcome;
} bench_call;

typedef struct bench_run {
    platform_t *p;
    char dir[PATH_MAX];
    int n;
    bench_call *calls;
} bench_run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool result_ok(const char *text)
{
    return text && strstr(text, "\"ok\":true") != NULL;
}

/* ---- setup ---- */

static atomic_int setup_errors;

static int setup_fail(int i, const char *what, const char *detail)
{
    if (atomic_fetch_add(&setup_errors, 1) < 5)
        fprintf(stderr, "billing_bench: setup of call %d: %s failed%s%s\n", i, what,
                detail ? ": " : "", detail ? detail : "");
    return -1;
}

/* A handler as the router calls it: the HTTP status; the body's "user"."id" into *id when id
 * is not NULL. */
static int call_handler(platform_t *p, api_handler fn, const char *body, uint64_t uid, const char *role,
                        uint64_t *id)
{
    json_t *o = NULL;
    int status = bench_handler(p, fn, body, uid, role, id ? &o : NULL);
    if (id)
        *id = (uint64_t)json_integer_value(json_object_get(json_object_get(o, "user"), "id"));
    json_decref(o);
    return status;
}

static int register_user(platform_t *p, int i, const char *role, uint64_t *id)
{
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s%d@bench.example\",\"password\":\"bench pass 1\","
             "\"role\":\"%s\",\"display_name\":\"%s %d\"}", role, i, role, role, i);
    return call_handler(p, auth_register, body, 0, NULL, id) == 201 && *id ? 0 : -1;
}

static int billing_run_ok(platform_t *p, const char *op)
{
    char *text = platform_billing_run(p, op);
    int rc = result_ok(text) ? 0 : -1;
    free(text);
    return rc;
}

static void charge_text(char *out, size_t cap, const bench_call *c, int minute)
{
    snprintf(out, cap, "{\"op\":\"charge\",\"call_id\":\"%s\",\"minute\":%d,\"kind\":\"%s\","
             "\"billable_ms\":%d,\"last_media_ms\":%" PRId64 "}", c->id, minute,
             c->video ? "video" : "audio", (minute - 1) * 60000, store_now_ms());
}

/* Everything up to minute 1 of call i, each step a blocking write as its caller makes it. */
static int setup_call(bench_run *r, int i)
{
    platform_t *p = r->p;
    bench_call *c = &r->calls[i];
    char op[OP_MAX];
    c->video = i % 2 == 1;
    int64_t audio = 2 + i % 5, video = 6 + i % 7;
    c->rate = c->video ? video : audio;
    snprintf(c->id, sizeof c->id, "%08x-b111-4000-8000-%012x", (unsigned)i, (unsigned)i);
    if (register_user(p, i, "caller", &c->caller) != 0)
        return setup_fail(i, "register caller", NULL);
    if (register_user(p, i, "host", &c->host) != 0)
        return setup_fail(i, "register host", NULL);
    snprintf(op, sizeof op, "{\"audio_rate\":%" PRId64 ",\"video_rate\":%" PRId64 "}", audio, video);
    if (call_handler(p, users_patch_me, op, c->host, "host", NULL) != 200)
        return setup_fail(i, "host rates", NULL);
    char key[64];
    snprintf(key, sizeof key, "bench:purchase:%d", i);
    ledger_result res;
    if (ledger_credit_purchase(p->store, c->caller, CREDITS, key, "bench", &res) != 0)
        return setup_fail(i, "credit", NULL);
    const char *kind = c->video ? "video" : "audio";
    snprintf(op, sizeof op, "{\"op\":\"create\",\"call_id\":\"%s\",\"caller_id\":%" PRIu64 ",\"host_id\":%" PRIu64
             ",\"kind\":\"%s\"}", c->id, c->caller, c->host, kind);
    if (platform_call_record(p, op) != 0)
        return setup_fail(i, "call create", op);
    snprintf(op, sizeof op, "{\"op\":\"accept\",\"call_id\":\"%s\",\"session_id\":%d,\"handle_id\":%d}", c->id,
             i + 1, i + 1);
    if (platform_call_record(p, op) != 0)
        return setup_fail(i, "call accept", op);
    snprintf(op, sizeof op, "{\"op\":\"authorise\",\"call_id\":\"%s\",\"caller_id\":%" PRIu64 ",\"host_id\":%" PRIu64
             ",\"kind\":\"%s\"}", c->id, c->caller, c->host, kind);
    if (billing_run_ok(p, op) != 0)
        return setup_fail(i, "authorise", op);
    snprintf(op, sizeof op, "{\"op\":\"open\",\"call_id\":\"%s\",\"caller_id\":%" PRIu64 ",\"host_id\":%" PRIu64
             ",\"kind\":\"%s\",\"resume_tokens\":[\"rc%d\",\"rh%d\"]}", c->id, c->caller, c->host, kind, i, i);
    if (billing_run_ok(p, op) != 0)
        return setup_fail(i, "open", op);
    charge_text(op, sizeof op, c, 1);
    if (billing_run_ok(p, op) != 0)
        return setup_fail(i, "charge minute 1", op);
    return 0;
}

/* fn(r, i) for i in 0..n-1 from `threads` threads; the number of failures. */
typedef int (*call_fn)(bench_run *r, int i);
typedef struct pool {
    bench_run *r;
    call_fn fn;
    atomic_int next, failures;
} pool;

static void *pool_main(void *arg)
{
    pool *pl = arg;
    int i;
    while ((i = atomic_fetch_add(&pl->next, 1)) < pl->r->n)
        if (pl->fn(pl->r, i) != 0)
            atomic_fetch_add(&pl->failures, 1);
    return NULL;
}

static int parallel(bench_run *r, call_fn fn, int threads)
{
    pool pl = {.r = r, .fn = fn};
    pthread_t th[SETUP_THREADS];
    if (threads > SETUP_THREADS)
        threads = SETUP_THREADS;
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&th[started], NULL, pool_main, &pl) != 0)
            break;
    if (started == 0)
        return r->n;
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    return atomic_load(&pl.failures);
}

static platform_t *open_platform(const char *dir)
{
    platform_config pc = {.data_dir = dir, .jwt_secret = "billing-bench-secret-0123456789abcdef",
                          .password_kdf_cost = 1, .payment_provider = "none",
                          .platform_fee_bps = FEE_BPS, .rate_limit_per_min = 0};
    return platform_create(&pc);
}

static int run_setup(bench_run *r)
{
    double t0 = now_s();
    if (!(r->p = open_platform(r->dir)))
        return -1;
    atomic_store(&setup_errors, 0);
    int failed = parallel(r, setup_call, SETUP_THREADS);
    platform_destroy(r->p);
    r->p = NULL;
    if (failed) {
        fprintf(stderr, "billing_bench: setup: %d of %d calls failed\n", failed, r->n);
        return -1;
    }
    if (!(r->p = open_platform(r->dir)))
        return -1;
    printf("  setup: %d callers + %d hosts registered, calls created, accepted, authorised, opened, "
           "minute 1 charged: %.1f s; platform reopened\n", r->n, r->n, now_s() - t0);
    fflush(stdout);
    return 0;
}

/* ---- the bursts ---- */

typedef struct burst {
    int n;
    double t0;
    atomic_int done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} burst;

static void classify(bench_call *c, const char *text)
{
    c->settled_s = now_s() - c->burst->t0;
    c->outcome = !text ? OUT_NOT_QUEUED
               : !result_ok(text) ? OUT_REFUSED
               : strstr(text, "\"replayed\":true") ? OUT_REPLAYED : OUT_OK;
}

/* The done callback, on the storage thread: record, count, wake the waiter at the last. */
static void on_charged(void *arg, const char *result_json)
{
    bench_call *c = arg;
    burst *b = c->burst;
    classify(c, result_json);
    if (atomic_fetch_add(&b->done, 1) + 1 == b->n) {
        pthread_mutex_lock(&b->mu);
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
    }
}

typedef struct burst_result {
    double wall_s, submit_s, median_s;
    store_stats_t before, after;
} burst_result;

static void stats_settled(bench_run *r, const store_stats_t *before, store_stats_t *after)
{
    /* the storage thread publishes its stats just after the done callbacks of a group */
    double until = now_s() + 5;
    do {
        store_stats(r->p->store, after);
        if (after->units - before->units >= (uint64_t)r->n)
            return;
        usleep(200);
    } while (now_s() < until);
}

static void group_burst(bench_run *r, burst_result *out)
{
    burst b = {.n = r->n};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    for (int i = 0; i < r->n; i++)
        r->calls[i].burst = &b;
    store_stats(r->p->store, &out->before);
    char op[OP_MAX];
    b.t0 = now_s();
    for (int i = 0; i < r->n; i++) {
        charge_text(op, sizeof op, &r->calls[i], 2);
        if (platform_billing_submit(r->p, op, on_charged, &r->calls[i]) != 0)
            on_charged(&r->calls[i], NULL);
    }
    out->submit_s = now_s() - b.t0;
    pthread_mutex_lock(&b.mu);
    while (atomic_load(&b.done) < b.n)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    out->wall_s = now_s() - b.t0;
    stats_settled(r, &out->before, &out->after);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
}

typedef struct naive_ctx {
    bench_run *r;
    atomic_int next;
} naive_ctx;

static void *naive_main(void *arg)
{
    naive_ctx *nc = arg;
    char op[OP_MAX];
    int i;
    while ((i = atomic_fetch_add(&nc->next, 1)) < nc->r->n) {
        bench_call *c = &nc->r->calls[i];
        charge_text(op, sizeof op, c, 2);
        char *text = platform_billing_run(nc->r->p, op);
        classify(c, text ? text : "{\"ok\":false}");
        free(text);
    }
    return NULL;
}

static void naive_burst(bench_run *r, burst_result *out)
{
    burst b = {.n = r->n};
    for (int i = 0; i < r->n; i++)
        r->calls[i].burst = &b;
    naive_ctx nc = {.r = r};
    pthread_t th[NAIVE_THREADS];
    store_stats(r->p->store, &out->before);
    b.t0 = now_s();
    int started = 0;
    for (; started < NAIVE_THREADS; started++)
        if (pthread_create(&th[started], NULL, naive_main, &nc) != 0)
            break;
    if (started == 0)
        naive_main(&nc);
    for (int t = 0; t < started; t++)
        pthread_join(th[t], NULL);
    out->wall_s = out->submit_s = now_s() - b.t0;
    stats_settled(r, &out->before, &out->after);
}

/* ---- verification ---- */

typedef struct db_facts {
    int64_t minute_rows, minute_amount, meters_at_2, negative;
} db_facts;

static int64_t one_int(sqlite3 *db, const char *sql, int col, bool *ok)
{
    sqlite3_stmt *st = store_stmt(db, sql);
    int64_t v = 0;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, col);
    else
        *ok = false;
    store_stmt_release(st);
    return v;
}

static int read_facts(sqlite3 *db, void *arg)
{
    db_facts *f = arg;
    bool ok = true;
    static const char minutes[] = "SELECT count(*), coalesce(sum(amount), 0) FROM billing_minutes";
    f->minute_rows = one_int(db, minutes, 0, &ok);
    f->minute_amount = one_int(db, minutes, 1, &ok);
    f->meters_at_2 = one_int(db, "SELECT count(*) FROM billing_meters WHERE minutes_charged = 2 "
                                 "AND settled_at IS NULL", 0, &ok);
    f->negative = one_int(db, "SELECT count(*) FROM ledger_accounts WHERE kind IN ('wallet','hold') "
                              "AND balance < 0", 0, &ok);
    return ok ? 0 : -1;
}

/* Prints the row's lines; 0 when every check passed. */
static int report(bench_run *r, const char *label, const burst_result *br)
{
    int count[OUT_NOT_QUEUED + 1] = {0};
    double *t = malloc((size_t)r->n * sizeof *t);
    int64_t expect_amount = 0;
    for (int i = 0; i < r->n; i++) {
        count[r->calls[i].outcome]++;
        if (t)
            t[i] = r->calls[i].settled_s;
        expect_amount += 2 * r->calls[i].rate;
    }
    double median = 0;
    if (t) {
        qsort(t, (size_t)r->n, sizeof *t, cmp_double);
        median = t[r->n / 2];
        free(t);
    }
    uint64_t groups = br->after.groups - br->before.groups;
    printf("%s %d calls: %.2f s settled, %.0f charges/s, %" PRIu64 " groups (max %u)\n", label, r->n,
           br->wall_s, (double)r->n / br->wall_s, groups, br->after.max_group);
    printf("  half settled by %.2f s; %s %.2f s (queue full %" PRIu64 " times); %.1f units/group\n", median,
           strncmp(label, "naive", 5) == 0 ? "threads done after" : "submitting thread held",
           br->submit_s, br->after.queue_full_waits - br->before.queue_full_waits,
           groups ? (double)(br->after.units - br->before.units) / (double)groups : 0.0);

    ledger_check_result lc = {0};
    int lrc = ledger_check(r->p->store, &lc);
    db_facts f = {0};
    int frc = store_read(r->p->store, read_facts, &f);
    bool ok = count[OUT_OK] == r->n && lrc == 0 && lc.ok && frc == 0 && f.minute_rows == 2 * (int64_t)r->n &&
              f.minute_amount == expect_amount && f.meters_at_2 == r->n && f.negative == 0 &&
              lc.negative_wallets == 0;
    printf("  verified: %d/%d charges ok (%d replayed, %d refused, %d not queued), ledger_check %s "
           "(%" PRId64 " transfers), billing_minutes %" PRId64 " rows (2N = %" PRId64 "), amount %" PRId64
           " (expected %" PRId64 "), %" PRId64 " meters at minute 2, %" PRId64 " negative wallets/holds: %s\n",
           count[OUT_OK], r->n, count[OUT_REPLAYED], count[OUT_REFUSED], count[OUT_NOT_QUEUED],
           lrc == 0 && lc.ok ? "ok" : "FAILED", lc.transfers_count, f.minute_rows, 2 * (int64_t)r->n,
           f.minute_amount, expect_amount, f.meters_at_2, f.negative + lc.negative_wallets,
           ok ? "ok" : "FAILED");
    fflush(stdout);
    return ok ? 0 : -1;
}

/* ---- rows ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "billing_bench: could not remove %s: %s\n", dir, strerror(errno));
}

/* One row: a fresh database, setup, the burst, the checks. 0 ok, -1 failed; *wall set. */
static int row(const char *base, bool keep, bool naive, int n, double *wall)
{
    bench_run r = {.n = n, .calls = calloc((size_t)n, sizeof(bench_call))};
    if (!r.calls)
        return -1;
    const char *kind = naive ? "naive" : "group";
    int w = keep ? snprintf(r.dir, sizeof r.dir, "%s/%s-%d", base, kind, n)
                 : snprintf(r.dir, sizeof r.dir, "%s/%s-%d-XXXXXX", base, kind, n);
    if (w < 0 || (size_t)w >= sizeof r.dir || (keep ? mkdir(r.dir, 0700) != 0 : !mkdtemp(r.dir))) {
        fprintf(stderr, "billing_bench: cannot create %s: %s\n", r.dir, strerror(errno));
        free(r.calls);
        return -1;
    }
    printf("%s burst, %d calls, database %s/parley.db\n", kind, n, r.dir);
    fflush(stdout);
    int rc = run_setup(&r);
    if (rc == 0) {
        burst_result br = {0};
        if (naive) {
            naive_burst(&r, &br);
            char label[64];
            snprintf(label, sizeof label, "naive burst (platform_billing_run, %d threads)", NAIVE_THREADS);
            rc = report(&r, label, &br);
        } else {
            group_burst(&r, &br);
            rc = report(&r, "boundary burst", &br);
        }
        *wall = br.wall_s;
    }
    platform_destroy(r.p);
    if (!keep)
        rm_tree(r.dir);
    free(r.calls);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: billing_bench [--calls N] [--dir PATH]\n"
                    "  --calls N   one size (1..1000000); default 1000, 10000 and 50000\n"
                    "  --dir PATH  where the databases go (kept); default a temp dir under /tmp, removed\n");
}

int main(int argc, char **argv)
{
    int one = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000000) {
                usage();
                return 2;
            }
            one = (int)v;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    log_set_level(LOG_LEVEL_WARN);
    char base[PATH_MAX];
    bool keep = dir != NULL;
    if (keep) {
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "billing_bench: cannot create %s: %s\n", dir, strerror(errno));
            return 2;
        }
        snprintf(base, sizeof base, "%s", dir);
    } else {
        snprintf(base, sizeof base, "/tmp/billing-bench-XXXXXX");
        if (!mkdtemp(base)) {
            perror("billing_bench: mkdtemp");
            return 2;
        }
    }
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nbilling_bench: SQLite %s, WAL, synchronous=FULL, %ld CPUs, group max %d, queue %d, "
           "databases under %s%s\n", sqlite3_libversion(), sysconf(_SC_NPROCESSORS_ONLN), STORE_GROUP_MAX,
           STORE_QUEUE_CAP, base, keep ? " (kept)" : " (removed)");
    fflush(stdout);

    static const int sizes[] = {1000, 10000, 50000};
    int nsizes = one ? 1 : (int)(sizeof sizes / sizeof *sizes);
    int failures = 0;
    double goal_wall = -1;
    for (int k = 0; k < nsizes; k++) {
        int n = one ? one : sizes[k];
        double wall = 0;
        if (row(base, keep, false, n, &wall) != 0)
            failures++;
        else if (n == GOAL_CALLS)
            goal_wall = wall;
        if (n <= NAIVE_MAX_CALLS && row(base, keep, true, n, &wall) != 0)
            failures++;
    }
    if (goal_wall >= 0)
        printf("goal: %d calls' boundary settled within %.0f s: %s (%.2f s)\n", GOAL_CALLS, GOAL_S,
               goal_wall <= GOAL_S ? "met" : "MISSED", goal_wall);
    if (!keep)
        rm_tree(base);
    if (failures)
        printf("billing_bench: %d row(s) FAILED\n", failures);
    return failures ? 1 : 0;
}
