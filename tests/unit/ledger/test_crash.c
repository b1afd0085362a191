/*
 * test_crash: durability of acknowledged ledger writes across a kill -9.
 *
 * A child process runs bursts of ledger operations from several threads (so group commit is
 * in play) and prints the idempotency key of every operation whose call returned success to
 * a pipe — only after the call returned, i.e. after the group's COMMIT was fsync'd. The
 * parent kills it with SIGKILL at a random moment, drains the pipe (lines written before the
 * kill are acknowledged too), reopens the database and asserts: the ledger invariants hold
 * and EVERY acknowledged key is present. Repeated for several rounds on the same file, so
 * later rounds also start from a database recovered after a crash.
 *
 * With the argument "powerloss" the child also keeps the store's power-loss log, and the
 * parent, after the kill, puts back every write made after its file's last fsync (what a
 * power cut loses; a kill -9 alone keeps the page cache). This is the test that fails if
 * the store acknowledged before fsync, e.g. with synchronous=NORMAL in WAL mode.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "balanced.h"
#include "ledger/ledger.h"
#include "util/log.h"

#define ROUNDS 6
#define CHILD_THREADS 4
#define MAX_ACKED 200000

static char dir[] = "/tmp/parley-crash-XXXXXX";
static char dbpath[300], undopath[300];
static bool powerloss;

/* ---- the child ---- */

typedef struct child_worker {
    store_t *s;
    int round, id, fd;
} child_worker;

static void ack(int fd, const char *key)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%s\n", key);
    /* one short write per line: atomic on a pipe, so lines never interleave */
    if (write(fd, line, (size_t)n) != n)
        _exit(3);
}

static void *child_main(void *p)
{
    child_worker *w = p;
    uint64_t caller = 1000 + (uint64_t)w->id, host = 2000 + (uint64_t)w->id % 2;
    char key[96], hold[48];
    for (int i = 0;; i++) {
        snprintf(key, sizeof key, "r%d:t%d:buy%d", w->round, w->id, i);
        if (ledger_credit_purchase(w->s, caller, 100, key, "crash", NULL) == 0)
            ack(w->fd, key);
        snprintf(hold, sizeof hold, "r%d:t%d:call%d", w->round, w->id, i);
        snprintf(key, sizeof key, "%s:hold", hold);
        if (ledger_hold_place(w->s, caller, 30, hold, key, NULL) == 0)
            ack(w->fd, key);
        for (int m = 0; m < 3; m++) {
            snprintf(key, sizeof key, "%s:minute:%d", hold, m);
            if (ledger_charge_unit(w->s, caller, host, 15, 2000, hold, key, hold, NULL) == 0)
                ack(w->fd, key);
        }
        snprintf(key, sizeof key, "%s:release", hold);
        if (ledger_hold_release(w->s, hold, key, NULL) == 0)
            ack(w->fd, key);
    }
    return NULL;
}

static void run_child(int round, int fd)
{
    char err[256];
    if (powerloss && store_debug_power_log(undopath) != 0)
        _exit(2);
    store_t *s = store_open(dbpath, err, sizeof err);
    if (!s || ledger_migrate(s, err, sizeof err) != 0)
        _exit(2);
    child_worker w[CHILD_THREADS];
    pthread_t th[CHILD_THREADS];
    for (int i = 0; i < CHILD_THREADS; i++) {
        w[i] = (child_worker){.s = s, .round = round, .id = i, .fd = fd};
        pthread_create(&th[i], NULL, child_main, &w[i]);
    }
    for (;;)
        pause(); /* until killed */
}

/* ---- the parent ---- */

static char *acked[MAX_ACKED];
static size_t nacked;

/* Reads lines from fd until EOF into acked[]. */
static void drain(int fd, char *buf, size_t *len)
{
    for (;;) {
        ssize_t n = read(fd, buf + *len, 4096 - *len - 1);
        if (n <= 0)
            return;
        *len += (size_t)n;
        buf[*len] = '\0';
        char *start = buf, *nl;
        while ((nl = strchr(start, '\n'))) {
            *nl = '\0';
            if (nacked < MAX_ACKED)
                acked[nacked++] = strdup(start);
            start = nl + 1;
        }
        *len = strlen(start);
        memmove(buf, start, *len + 1);
    }
}

typedef struct key_check {
    size_t from, missing;
} key_check;

static int check_keys(sqlite3 *db, void *p)
{
    key_check *k = p;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM ledger_ops WHERE idempotency_key=?1", -1, &st, NULL))
        return -1;
    for (size_t i = k->from; i < nacked; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, acked[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW) {
            if (k->missing++ < 5)
                fprintf(stderr, "acknowledged but missing after kill -9: %s\n", acked[i]);
        }
    }
    sqlite3_finalize(st);
    return 0;
}

static void verify(size_t from, int round)
{
    char err[256];
    store_t *s = store_open(dbpath, err, sizeof err);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK_INT(ledger_migrate(s, err, sizeof err), 0);
    ledger_check_result c = ASSERT_BALANCED(s);
    key_check k = {.from = from};
    CHECK_INT(store_read(s, check_keys, &k), 0);
    CHECK_INT(k.missing, 0);
    fprintf(stderr, "round %d: %zu acknowledged this round, %zu missing, %lld ops in the ledger\n",
            round, nacked - from, k.missing, (long long)c.ops_count);
    store_close(s);
}

int main(int argc, char **argv)
{
    powerloss = argc > 1 && strcmp(argv[1], "powerloss") == 0;
    if (!mkdtemp(dir))
        return 2;
    snprintf(dbpath, sizeof dbpath, "%s/crash.db", dir);
    snprintf(undopath, sizeof undopath, "%s/undo.log", dir);
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "seed %u, mode %s\n", seed, powerloss ? "power loss" : "kill -9");
    srand(seed);
    log_set_level(LOG_LEVEL_WARN);
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        if (pipe(fds) != 0)
            return 2;
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            run_child(round, fds[1]);
        }
        close(fds[1]);
        size_t from = nacked, len = 0;
        char buf[4096];
        /* let it run 30..400 ms while reading, then kill it mid-flight */
        int flags = fcntl(fds[0], F_GETFL);
        fcntl(fds[0], F_SETFL, flags | O_NONBLOCK);
        struct timespec start, now;
        /* the clock starts at the first acknowledgement (a loaded machine may take a while
         * to start the child), so every round kills a child that is really writing */
        for (int waited = 0; nacked == from && waited < 20000; waited += 2) {
            drain(fds[0], buf, &len);
            usleep(2000);
        }
        clock_gettime(CLOCK_MONOTONIC, &start);
        long budget_ms = 10 + rand() % 390;
        for (;;) {
            drain(fds[0], buf, &len);
            clock_gettime(CLOCK_MONOTONIC, &now);
            long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
            if (ms >= budget_ms)
                break;
            usleep(2000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fcntl(fds[0], F_SETFL, flags);
        drain(fds[0], buf, &len); /* everything written before the kill */
        close(fds[0]);
        if (powerloss) {
            CHECK_INT(store_debug_power_loss_replay(undopath), 0);
            unlink(undopath);
        }
        CHECK(nacked > from); /* the child really made progress */
        verify(from, round);
    }
    verify(0, ROUNDS); /* and all rounds' keys together */
    for (size_t i = 0; i < nacked; i++)
        free(acked[i]);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary(powerloss ? "ledger-powerloss" : "ledger-crash");
}
