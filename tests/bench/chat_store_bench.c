/*
 * chat_store_bench: what one billed chat message costs the storage thread, without the
 * network. The chat plugin hands the messages that queue up on its dispatch thread to the
 * platform as one send_many unit (plugins/chat: up to 256); this bench submits such units
 * directly (platform_chat_submit, as the plugin does) and times them, so the store's share of
 * issue 9's chat benchmark can be worked on alone.
 *
 * Setup (not timed): a fresh platform under a mkdtemp directory (SQLite WAL,
 * synchronous=FULL, the storage thread, every migration, as the server runs), P callers and
 * P hosts registered through the handlers, each host's message_rate 2, each caller credited,
 * one conversation per pair (chat_conversation_open).
 * Rows, one per batch size B: M messages, round robin over the pairs, each with its own
 * client_id, in send_many units of B, at most DEPTH units in flight (the plugin keeps sending
 * while the store works). Printed: messages/s, the process's CPU per message minus what the
 * submitting thread spent (that is the storage thread's), store groups and units.
 * Paced rows (--rates): single-message units submitted one by one at R per second, evenly
 * spread (as the plugin's flushes come when the callers are many and the dispatch thread is
 * quick), each timed from submit to its done callback: what the store's grouping does for
 * cost and latency under an open-loop load.
 * Checked after all rows: every message "ok" and charged 2, the ledger's invariants
 * (ledger_check), chat_messages holds every message once, callers paid 2 each. Exit 1 if not.
 *
 * Usage: chat_store_bench [--pairs 50] [--messages 20000] [--batches 1,16,64,256]
 *                         [--rates 1000,3000,5000] [--windows 0,2000] [--seconds 5] [--dir PATH]
 *   --windows: the store's group window (store_set_group_window) of the paced rows; the
 *   batch rows run at the default.
 */
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "bench_platform.h"
#include "ledger/ledger.h"
#include "util/log.h"

#define DEPTH 4
#define RATE 2
#define CREDITS 100000000

typedef struct pair {
    uint64_t caller, host;
    int64_t room;
} pair;

/* Units in flight: the submitting thread waits for room, done callbacks (storage thread)
 * make it. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int in_flight;
static atomic_long msgs_ok, msgs_bad;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A handler as the router calls it: the status, and the number at key (or at "user"."id"
 * when key is "user") into *out. */
static int call_handler(platform_t *p, api_handler fn, const char *body, uint64_t uid, const char *role,
                        const char *key, int64_t *out)
{
    json_t *o = NULL;
    int status = bench_handler(p, fn, body, uid, role, &o);
    if (out && key) {
        bool user = strcmp(key, "user") == 0;
        *out = json_integer_value(json_object_get(user ? json_object_get(o, "user") : o, user ? "id" : key));
    }
    json_decref(o);
    return status;
}

static int make_pair(platform_t *p, int i, pair *pr)
{
    char body[256];
    int64_t id = 0;
    const char *roles[2] = {"caller", "host"};
    uint64_t *ids[2] = {&pr->caller, &pr->host};
    for (int k = 0; k < 2; k++) {
        snprintf(body, sizeof body, "{\"email\":\"%s%d@chat.bench\",\"password\":\"bench pass 1\",\"role\":\"%s\","
                 "\"display_name\":\"%s %d\"}", roles[k], i, roles[k], roles[k], i);
        if (call_handler(p, auth_register, body, 0, NULL, "user", &id) != 201 || id <= 0)
            return -1;
        *ids[k] = (uint64_t)id;
    }
    snprintf(body, sizeof body, "{\"message_rate\":%d}", RATE);
    if (call_handler(p, users_patch_me, body, pr->host, "host", NULL, NULL) != 200)
        return -1;
    char key[64];
    snprintf(key, sizeof key, "bench:purchase:%d", i);
    ledger_result res;
    if (ledger_credit_purchase(p->store, pr->caller, CREDITS, key, key, &res) != 0)
        return -1;
    snprintf(body, sizeof body, "{\"with\":%" PRIu64 "}", pr->host);
    return call_handler(p, chat_conversation_open, body, pr->caller, "caller", "id", &pr->room) == 201 ? 0 : -1;
}

/* Paced rows: submit times, and done times written by the storage thread (one slot each). */
static double *submit_at, *done_at;

static void on_done(void *arg, const char *result_json)
{
    int n = 1;
    if (done_at) {
        done_at[(intptr_t)arg] = now_s();
    } else {
        n = (int)(intptr_t)arg;
    }
    json_t *res = json_loads(result_json, 0, NULL);
    json_t *list = json_object_get(res, "results");
    long good = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *one = json_array_get(list, i);
        good += json_is_true(json_object_get(one, "ok")) &&
                json_integer_value(json_object_get(one, "charged")) == RATE;
    }
    atomic_fetch_add(&msgs_ok, good);
    atomic_fetch_add(&msgs_bad, n - good);
    json_decref(res);
    pthread_mutex_lock(&mu);
    in_flight--;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

/* One send_many of n messages, the k-th message overall first. */
static char *send_many_text(const pair *pairs, int npairs, long k, int n)
{
    json_t *list = json_array();
    for (int i = 0; i < n; i++, k++) {
        const pair *pr = &pairs[k % npairs];
        char cid[40], text[64];
        snprintf(cid, sizeof cid, "%08lx-c0de-4000-8000-%012lx", (unsigned long)(k >> 16), (unsigned long)k);
        snprintf(text, sizeof text, "bench message %ld", k);
        json_array_append_new(list, json_pack("{s:I,s:I,s:s,s:s}", "room", (json_int_t)pr->room, "sender_id",
                                              (json_int_t)pr->caller, "client_id", cid, "text", text));
    }
    json_t *op = json_pack("{s:s,s:o}", "op", "send_many", "sends", list);
    char *s = json_dumps(op, JSON_COMPACT);
    json_decref(op);
    return s;
}

static long sent_total;

static int run_row(platform_t *p, const pair *pairs, int npairs, long messages, int batch)
{
    store_stats_t s0, s1;
    store_stats(p->store, &s0);
    double t0 = now_s(), c0 = cpu_s(RUSAGE_SELF), m0 = cpu_s(RUSAGE_THREAD);
    for (long done = 0; done < messages; done += batch) {
        int n = (int)(messages - done < batch ? messages - done : batch);
        char *text = send_many_text(pairs, npairs, sent_total + done, n);
        pthread_mutex_lock(&mu);
        while (in_flight >= DEPTH)
            pthread_cond_wait(&cv, &mu);
        in_flight++;
        pthread_mutex_unlock(&mu);
        if (platform_chat_submit(p, text, on_done, (void *)(intptr_t)n) != 0) {
            fprintf(stderr, "chat_store_bench: submit failed\n");
            free(text);
            return -1;
        }
        free(text);
    }
    pthread_mutex_lock(&mu);
    while (in_flight > 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    double wall = now_s() - t0, store_cpu = (cpu_s(RUSAGE_SELF) - c0) - (cpu_s(RUSAGE_THREAD) - m0);
    sent_total += messages;
    store_stats(p->store, &s1);
    printf("| %d | %ld | %.0f | %.1f | %" PRIu64 " | %.1f | - |\n", batch, messages, (double)messages / wall,
           store_cpu * 1e6 / (double)messages, s1.groups - s0.groups,
           (double)messages / (double)(s1.groups - s0.groups ? s1.groups - s0.groups : 1));
    fflush(stdout);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* rate single-message units per second for seconds, open loop: the submitting thread never
 * waits for an answer (only for room in the store's queue, as the plugin would). */
static int run_paced(platform_t *p, const pair *pairs, int npairs, int rate, double seconds, int window_us)
{
    store_set_group_window(p->store, (unsigned)window_us);
    long n = (long)(rate * seconds);
    submit_at = calloc((size_t)n, sizeof *submit_at);
    done_at = calloc((size_t)n, sizeof *done_at);
    if (!submit_at || !done_at)
        return -1;
    store_stats_t s0, s1;
    store_stats(p->store, &s0);
    double t0 = now_s(), c0 = cpu_s(RUSAGE_SELF), m0 = cpu_s(RUSAGE_THREAD);
    for (long i = 0; i < n; i++) {
        double due = t0 + (double)i / rate;
        for (double t = now_s(); t < due; t = now_s()) {
            struct timespec ts = {0, (long)((due - t) * 1e9)};
            nanosleep(&ts, NULL);
        }
        char *text = send_many_text(pairs, npairs, sent_total + i, 1);
        pthread_mutex_lock(&mu);
        in_flight++;
        pthread_mutex_unlock(&mu);
        submit_at[i] = now_s();
        int rc = platform_chat_submit(p, text, on_done, (void *)(intptr_t)i);
        free(text);
        if (rc != 0)
            return fprintf(stderr, "chat_store_bench: submit failed\n"), -1;
    }
    pthread_mutex_lock(&mu);
    while (in_flight > 0)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    double wall = now_s() - t0, store_cpu = (cpu_s(RUSAGE_SELF) - c0) - (cpu_s(RUSAGE_THREAD) - m0);
    store_stats(p->store, &s1);
    for (long i = 0; i < n; i++)
        done_at[i] = (done_at[i] - submit_at[i]) * 1e3;
    qsort(done_at, (size_t)n, sizeof *done_at, cmp_double);
    uint64_t groups = s1.groups - s0.groups ? s1.groups - s0.groups : 1;
    printf("| %d/s paced, window %d us | %ld | %.0f | %.1f | %" PRIu64 " | %.1f | %.2f / %.2f / %.2f |\n", rate, window_us, n, (double)n / wall,
           store_cpu * 1e6 / (double)n, groups, (double)n / (double)groups, done_at[n / 2], done_at[n * 99 / 100],
           done_at[n - 1]);
    fflush(stdout);
    sent_total += n;
    free(submit_at);
    free(done_at);
    submit_at = done_at = NULL;
    return 0;
}

static int count_run(sqlite3 *db, void *arg)
{
    int64_t *v = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT count(*), count(DISTINCT client_id), coalesce(sum(charged), 0) FROM chat_messages",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        for (int i = 0; i < 3; i++)
            v[i] = sqlite3_column_int64(st, i);
    sqlite3_finalize(st);
    return 0;
}

static int check_all(platform_t *p)
{
    int64_t v[3] = {-1, -1, -1};
    ledger_check_result lc = {0};
    int bad = 0;
    if (store_read(p->store, count_run, v) != 0 || v[0] != sent_total || v[1] != sent_total || v[2] != sent_total * RATE)
        bad = fprintf(stderr, "chat_store_bench: messages %" PRId64 " (distinct %" PRId64 ", charged %" PRId64
                      "), expected %ld\n", v[0], v[1], v[2], sent_total);
    if (ledger_check(p->store, &lc) != 0 || !lc.ok || lc.negative_wallets)
        bad = fprintf(stderr, "chat_store_bench: ledger check failed (sum %" PRId64 ")\n", lc.sum_of_balances);
    if (atomic_load(&msgs_bad) || atomic_load(&msgs_ok) != sent_total)
        bad = fprintf(stderr, "chat_store_bench: %ld outcomes not ok\n", atomic_load(&msgs_bad));
    printf("checked: %ld messages stored once and charged %d each, ledger %s\n", sent_total, RATE,
           bad ? "WRONG" : "ok");
    return bad ? -1 : 0;
}

/* The item after this one in a comma-separated list ("" at the end). */
static const char *next_item(const char *list)
{
    const char *comma = strchr(list, ',');
    return comma ? comma + 1 : list + strlen(list);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    int npairs = 50;
    long messages = 20000;
    const char *batches = "1,16,64,256", *rates = "1000,3000,5000", *windows = "0,2000", *dir_arg = NULL;
    double seconds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pairs"))
            npairs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--messages"))
            messages = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--batches"))
            batches = argv[i + 1];
        else if (!strcmp(argv[i], "--rates"))
            rates = argv[i + 1];
        else if (!strcmp(argv[i], "--windows"))
            windows = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            dir_arg = argv[i + 1];
    }
    if (npairs < 1 || messages < 1) {
        fprintf(stderr, "usage: chat_store_bench [--pairs N] [--messages M] [--batches 1,16,64,256] [--dir PATH]\n");
        return 2;
    }
    log_set_level(LOG_LEVEL_WARN);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", dir_arg ? dir_arg : "/tmp/chat-store-bench-XXXXXX");
    if (!dir_arg && !mkdtemp(dir))
        return perror("mkdtemp"), 1;
    platform_config pc = {.data_dir = dir, .jwt_secret = "chat-store-bench-secret-0123456789abcdef",
                          .password_kdf_cost = 1, .payment_provider = "none", .platform_fee_bps = 2000,
                          .rate_limit_per_min = 0};
    platform_t *p = platform_create(&pc);
    pair *pairs = calloc((size_t)npairs, sizeof *pairs);
    int rc = p && pairs ? 0 : 1;
    for (int i = 0; rc == 0 && i < npairs; i++)
        if (make_pair(p, i, &pairs[i]) != 0)
            rc = fprintf(stderr, "chat_store_bench: setup of pair %d failed\n", i) > 0;
    if (rc == 0) {
        printf("chat_store_bench: %d pairs, %ld messages per row, %d units in flight, dir %s\n", npairs, messages,
               DEPTH, dir);
        printf("| batch | messages | msg/s | storage CPU us/msg | groups | msg/group | latency p50 / p99 / max ms |\n"
               "|---|---|---|---|---|---|---|\n");
        for (const char *b = batches; rc == 0 && *b; b = next_item(b))
            if (atoi(b) > 0 && run_row(p, pairs, npairs, messages, atoi(b)) != 0)
                rc = 1;
        for (const char *w = windows; rc == 0 && *w; w = next_item(w))
            for (const char *r = rates; rc == 0 && *r; r = next_item(r))
                if (atoi(r) > 0 && run_paced(p, pairs, npairs, atoi(r), seconds, atoi(w)) != 0)
                    rc = 1;
        if (rc == 0 && check_all(p) != 0)
            rc = 1;
    }
    if (p)
        platform_destroy(p);
    free(pairs);
    if (!dir_arg)
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}
