/*
 * test_store: the storage layer on a real SQLite file in a temporary directory — migrations,
 * write units with per-unit rollback, group commit under concurrency, reads, the injected
 * commit failure (nothing persists, every unit of the group is told), and reopening; file
 * modes (0600 database, -wal and -shm under umask 022 in a 0755 directory; looser ones fixed);
 * the group window (a lone caller never waits for it, units under load share a group); the
 * checkpointer thread (20 MiB of WAL checkpointed in the background, none by the writer, every
 * row there).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store/store.h"

static char dir[] = "/tmp/parley-store-XXXXXX";
static char dbpath[256];

static const store_migration migs[] = {
    {"t", 1, "CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER NOT NULL CHECK (v >= 0))"},
    {"t", 2, "CREATE TABLE log(id INTEGER PRIMARY KEY, msg TEXT)"},
    {"u", 1, "CREATE TABLE other(x INTEGER)"},
};

typedef struct kv_arg {
    const char *k;
    long long v;
    int fail_after; /* return this after writing (non-zero = roll back) */
} kv_arg;

static int put_kv(sqlite3 *db, void *p)
{
    kv_arg *a = p;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO kv(k, v) VALUES (?1, ?2)", -1, &st, NULL))
        return -1;
    sqlite3_bind_text(st, 1, a->k, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, a->v);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -2;
    return a->fail_after;
}

typedef struct get_arg {
    const char *k;
    long long v;
    int found;
} get_arg;

static int get_kv(sqlite3 *db, void *p)
{
    get_arg *a = p;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT v FROM kv WHERE k=?1", -1, &st, NULL))
        return -1;
    sqlite3_bind_text(st, 1, a->k, -1, SQLITE_TRANSIENT);
    a->found = sqlite3_step(st) == SQLITE_ROW;
    a->v = a->found ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return 0;
}

static int count_kv(sqlite3 *db, void *p)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM kv", -1, &st, NULL))
        return -1;
    sqlite3_step(st);
    *(long long *)p = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static long long lookup(store_t *s, const char *k)
{
    get_arg g = {.k = k};
    CHECK_INT(store_read(s, get_kv, &g), 0);
    return g.found ? g.v : -1;
}

static void test_migrations(store_t *s)
{
    char err[256] = "";
    CHECK_INT(store_migrate(s, migs, 3, err, sizeof err), 0);
    CHECK_INT(store_migrate(s, migs, 3, err, sizeof err), 0); /* idempotent */
    /* out of order within a module */
    store_migration bad[] = {{"v", 2, "SELECT 1"}, {"v", 1, "SELECT 1"}};
    CHECK_INT(store_migrate(s, bad, 2, err, sizeof err), STORE_EINVAL);
    CHECK(strstr(err, "out of order") != NULL);
    /* the database knows t/2, code that only knows t/1 is refused */
    CHECK_INT(store_migrate(s, migs, 1, err, sizeof err), STORE_EINVAL);
    CHECK(strstr(err, "version 2") != NULL);
    /* a broken migration fails and is not recorded */
    store_migration broken[] = {{"w", 1, "CREATE TABLE w(a); CREATE TABLE w(a)"}};
    CHECK_INT(store_migrate(s, broken, 1, err, sizeof err), STORE_EINVAL);
    store_migration fixed[] = {{"w", 1, "CREATE TABLE w(a)"}};
    CHECK_INT(store_migrate(s, fixed, 1, err, sizeof err), 0);
}

static void test_units(store_t *s)
{
    kv_arg a = {"a", 1, 0};
    CHECK_INT(store_write(s, put_kv, &a), 0);
    CHECK_INT(lookup(s, "a"), 1);
    kv_arg b = {"b", 2, 7}; /* writes, then asks for rollback */
    CHECK_INT(store_write(s, put_kv, &b), 7);
    CHECK_INT(lookup(s, "b"), -1);
    kv_arg neg = {"c", -5, 0}; /* CHECK constraint: the unit's own error */
    CHECK_INT(store_write(s, put_kv, &neg), -2);
    CHECK_INT(lookup(s, "c"), -1);
    CHECK_INT(store_write(s, NULL, NULL), STORE_EINVAL);
    CHECK_INT(store_read(s, NULL, NULL), STORE_EINVAL);
}

/* A unit that tries to call back into the store must be refused, not deadlock. */
static store_t *g_store;
static int reenter(sqlite3 *db, void *p)
{
    kv_arg a = {"r", 1, 0};
    return store_write(g_store, put_kv, &a);
}

static void test_reentry(store_t *s)
{
    g_store = s;
    CHECK_INT(store_write(s, reenter, NULL), STORE_EINVAL);
}

/* Several threads writing at once: every write lands, and groups hold more than one unit. */
#define WRITERS 16
#define PER_WRITER 40
static void *writer_main(void *p)
{
    store_t *s = g_store;
    int id = (int)(intptr_t)p;
    for (int i = 0; i < PER_WRITER; i++) {
        char k[32];
        snprintf(k, sizeof k, "w%d-%d", id, i);
        kv_arg a = {k, i, (i % 5 == 4) ? 3 : 0}; /* every fifth rolls back */
        int rc = store_write(s, put_kv, &a);
        if (rc != a.fail_after)
            return (void *)1;
    }
    return NULL;
}

static void test_group_commit(store_t *s)
{
    store_stats_t before, after;
    store_stats(s, &before);
    long long n0 = 0, n1 = 0;
    store_read(s, count_kv, &n0);
    g_store = s;
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        pthread_create(&th[i], NULL, writer_main, (void *)(intptr_t)i);
    int bad = 0;
    for (int i = 0; i < WRITERS; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += r != NULL;
    }
    CHECK_INT(bad, 0);
    store_read(s, count_kv, &n1);
    CHECK_INT(n1 - n0, WRITERS * PER_WRITER * 4 / 5);
    store_stats(s, &after);
    CHECK_INT(after.units - before.units, WRITERS * PER_WRITER);
    CHECK_INT(after.units_rolled_back - before.units_rolled_back, WRITERS * PER_WRITER / 5);
    CHECK(after.groups - before.groups < (uint64_t)(WRITERS * PER_WRITER));
    CHECK(after.max_group > 1);
    fprintf(stderr, "group commit: %llu units in %llu groups, largest %u\n",
            (unsigned long long)(after.units - before.units),
            (unsigned long long)(after.groups - before.groups), after.max_group);
}

/* Injected commit failure while many writers are queued: no write of the failed group
 * persists, each of its units reports STORE_EIO, the others succeed. */
static int eio_seen, ok_seen;
static pthread_mutex_t res_mu = PTHREAD_MUTEX_INITIALIZER;
static void *fail_writer(void *p)
{
    char *k = p;
    kv_arg a = {k, 42, 0};
    int rc = store_write(g_store, put_kv, &a);
    pthread_mutex_lock(&res_mu);
    if (rc == STORE_EIO)
        eio_seen++;
    else if (rc == 0)
        ok_seen++;
    pthread_mutex_unlock(&res_mu);
    return (void *)(intptr_t)rc;
}

static _Atomic int gate_entered;
static int gate_want;
static int gate_unit(sqlite3 *db, void *p)
{
    store_stats_t st;
    gate_entered = 1;
    for (int i = 0; i < 10000; i++) { /* at most 10 s */
        store_stats(g_store, &st);
        if (st.queue_depth >= (uint32_t)gate_want)
            break;
        usleep(1000);
    }
    return put_kv(db, p);
}

static void *gate_writer(void *p)
{
    kv_arg a = {"gate", 1, 0};
    return (void *)(intptr_t)store_write(g_store, gate_unit, &a);
}

static void test_commit_failure(store_t *s)
{
    store_stats_t before, after;
    store_stats(s, &before);
    store_debug_fail_commit_after(s, 1);
    kv_arg a = {"failed", 9, 0};
    CHECK_INT(store_write(s, put_kv, &a), STORE_EIO);
    CHECK_INT(lookup(s, "failed"), -1);
    CHECK_INT(store_write(s, put_kv, &a), 0); /* the next commit works again */
    CHECK_INT(lookup(s, "failed"), 9);

    /* A gate unit holds the storage thread until N writers are queued, so they all land in
     * the next group; that group's commit (the 2nd from now) fails. */
    enum { N = 24 };
    char keys[N][16];
    pthread_t th[N], gate_th;
    g_store = s;
    eio_seen = ok_seen = 0;
    gate_want = N;
    store_debug_fail_commit_after(s, 2);
    pthread_create(&gate_th, NULL, gate_writer, NULL);
    while (!gate_entered)
        usleep(1000);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "f%d", i);
        pthread_create(&th[i], NULL, fail_writer, keys[i]);
    }
    void *r[N], *gr;
    pthread_join(gate_th, &gr);
    CHECK_INT((intptr_t)gr, 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], &r[i]);
    for (int i = 0; i < N; i++) {
        CHECK_INT((intptr_t)r[i], STORE_EIO);
        CHECK_INT(lookup(s, keys[i]), -1);
    }
    CHECK_INT(eio_seen, N);
    CHECK_INT(lookup(s, "gate"), 1);
    store_stats(s, &after);
    CHECK_INT(after.commit_failures - before.commit_failures, 2);
    store_debug_fail_commit_after(s, 0);
}

/* A unit whose statement makes SQLite abort the whole transaction (INSERT OR ROLLBACK on a
 * conflict): the units already run in that transaction are lost and told STORE_EIO, the
 * units after it run in a fresh transaction and commit. Order is forced: the gate holds the
 * storage thread while A, then BAD, then C are queued one after the other. */
static int abort_txn_unit(sqlite3 *db, void *p)
{
    (void)p;
    /* "a" exists since test_units: the conflict rolls the whole transaction back */
    if (store_exec(db, "INSERT OR ROLLBACK INTO kv(k, v) VALUES ('a', 5)") == SQLITE_OK)
        return 0;
    return -3;
}

typedef struct queued {
    store_write_fn fn;
    void *arg;
    int rc;
} queued;
static void *queued_writer(void *p)
{
    queued *q = p;
    q->rc = store_write(g_store, q->fn, q->arg);
    return NULL;
}

static void wait_depth(store_t *s, uint32_t depth)
{
    store_stats_t st;
    for (int i = 0; i < 10000; i++) {
        store_stats(s, &st);
        if (st.queue_depth >= depth)
            return;
        usleep(1000);
    }
}

static void test_aborted_transaction(store_t *s)
{
    g_store = s;
    gate_entered = 0;
    gate_want = 3;
    kv_arg ka = {"abort-a", 1, 0}, kc = {"abort-c", 3, 0};
    queued qa = {put_kv, &ka, 99}, qb = {abort_txn_unit, NULL, 99}, qc = {put_kv, &kc, 99};
    pthread_t gate_th, ta, tb, tc;
    pthread_create(&gate_th, NULL, gate_writer, NULL);
    while (!gate_entered)
        usleep(1000);
    pthread_create(&ta, NULL, queued_writer, &qa);
    wait_depth(s, 1);
    pthread_create(&tb, NULL, queued_writer, &qb);
    wait_depth(s, 2);
    pthread_create(&tc, NULL, queued_writer, &qc);
    pthread_join(gate_th, NULL);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_join(tc, NULL);
    CHECK_INT(qa.rc, STORE_EIO);
    CHECK_INT(qb.rc, STORE_EIO);
    CHECK_INT(qc.rc, 0);
    CHECK_INT(lookup(s, "abort-a"), -1);
    CHECK_INT(lookup(s, "abort-c"), 3);
    CHECK_INT(lookup(s, "a"), 1);
}

/* A read transaction is one snapshot even while writes commit. */
typedef struct snap_arg {
    store_t *s;
    long long first, second;
} snap_arg;
static int snapshot_reader(sqlite3 *db, void *p)
{
    snap_arg *a = p;
    get_arg g = {.k = "snap"};
    get_kv(db, &g);
    a->first = g.v;
    kv_arg w = {"snap", 2, 0};
    if (store_write(a->s, put_kv, &w) != 0) /* committed by the storage thread meanwhile */
        return -1;
    get_kv(db, &g);
    a->second = g.v;
    return 0;
}

static void test_snapshot(store_t *s)
{
    kv_arg w = {"snap", 1, 0};
    CHECK_INT(store_write(s, put_kv, &w), 0);
    snap_arg a = {.s = s};
    CHECK_INT(store_read(s, snapshot_reader, &a), 0);
    CHECK_INT(a.first, 1);
    CHECK_INT(a.second, 1);
    CHECK_INT(lookup(s, "snap"), 2);
}

/* Statement reuse: an idle statement comes back, a busy one is never handed out twice, and
 * bindings do not leak from one use to the next. */
static int stmt_unit(sqlite3 *db, void *p)
{
    const char *sql = "SELECT ?1 UNION ALL SELECT 2";
    sqlite3_stmt *a = store_stmt(db, sql);
    if (!a)
        return -1;
    sqlite3_bind_int(a, 1, 7);
    CHECK_INT(sqlite3_step(a), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(a, 0), 7);
    sqlite3_stmt *b = store_stmt(db, sql); /* a is busy: a second statement */
    CHECK(b != NULL && b != a);
    store_stmt_release(b);
    store_stmt_release(a);
    sqlite3_stmt *c = store_stmt(db, sql); /* idle again: one of the two, not a third */
    CHECK(c == a || c == b);
    CHECK_INT(sqlite3_step(c), SQLITE_ROW);
    CHECK_INT(sqlite3_column_type(c, 0), SQLITE_NULL); /* bindings were cleared */
    store_stmt_release(c);
    CHECK(store_stmt(db, "SELEKT nonsense") == NULL);
    store_stmt_release(NULL);
    return 0;
}

static void test_stmt_cache(store_t *s)
{
    CHECK_INT(store_write(s, stmt_unit, NULL), 0);
    CHECK_INT(store_read(s, stmt_unit, NULL), 0);
}

static void test_open_errors(void)
{
    char err[256] = "";
    CHECK(store_open("/nonexistent-dir/x/y.db", err, sizeof err) == NULL);
    CHECK(err[0] != '\0');
    CHECK(store_open("", err, sizeof err) == NULL);
    store_close(NULL);
}

static int file_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* The database and its -wal/-shm are 0600 under umask 022 in a 0755 directory; a looser
 * database (and -wal/-shm) left by an older version is tightened on open. */
static void test_file_modes(void)
{
    char sub[300], db[320], wal[330], shm[330];
    snprintf(sub, sizeof sub, "%s/modes", dir);
    snprintf(db, sizeof db, "%s/p.db", sub);
    snprintf(wal, sizeof wal, "%s-wal", db);
    snprintf(shm, sizeof shm, "%s-shm", db);
    mode_t old = umask(022);
    CHECK_INT(mkdir(sub, 0755), 0);
    CHECK_INT(file_mode(sub), 0755);
    char err[256] = "";
    store_t *s = store_open(db, err, sizeof err);
    CHECK(s != NULL);
    if (!s) {
        umask(old);
        return;
    }
    CHECK_INT(store_migrate(s, migs, 1, err, sizeof err), 0);
    kv_arg a = {.k = "m", .v = 7};
    CHECK_INT(store_write(s, put_kv, &a), 0);
    CHECK_INT(lookup(s, "m"), 7);                 /* a reader maps the -shm too */
    CHECK_INT(file_mode(db), 0600);
    CHECK_INT(file_mode(wal), 0600);
    CHECK_INT(file_mode(shm), 0600);
    store_close(s);

    /* a database made 0644 (an older version, a copy), with 0644 -wal/-shm beside it */
    CHECK_INT(chmod(db, 0644), 0);
    int fd = open(wal, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);
    fd = open(shm, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);
    CHECK_INT(chmod(wal, 0644), 0);
    CHECK_INT(chmod(shm, 0644), 0);
    s = store_open(db, err, sizeof err);
    CHECK(s != NULL);
    CHECK_INT(file_mode(db), 0600);
    CHECK_INT(file_mode(wal), 0600);
    CHECK_INT(file_mode(shm), 0600);
    if (s) {
        CHECK_INT(lookup(s, "m"), 7);
        store_close(s);
    }
    umask(old);
}

/* ---- store_write_async: never waits, runs in submission order, every done once ---- */

#define ASYNC_UNITS (3 * STORE_QUEUE_CAP)   /* well past the ring: the overflow is used */

typedef struct async_log {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int done, order_errors, failures;
    long long last;
} async_log;

typedef struct async_unit {
    kv_arg kv;
    char key[32];
    long long seq;
    async_log *log;
} async_unit;

static int async_put(sqlite3 *db, void *p)
{
    async_unit *u = p;
    return put_kv(db, &u->kv);
}

static void async_done(int result, void *p)
{
    async_unit *u = p;
    async_log *l = u->log;
    pthread_mutex_lock(&l->mu);
    if (u->seq != l->last + 1)
        l->order_errors++;
    l->last = u->seq;
    if (result != u->kv.fail_after)
        l->failures++;
    l->done++;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->mu);
}

static void test_async(store_t *s)
{
    static async_unit units[ASYNC_UNITS];
    async_log log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .last = -1};
    store_stats_t before, after;
    store_stats(s, &before);
    for (int i = 0; i < ASYNC_UNITS; i++) {
        async_unit *u = &units[i];
        snprintf(u->key, sizeof u->key, "async-%d", i);
        /* every 7th unit rolls back alone (its own savepoint) */
        u->kv = (kv_arg){u->key, i, i % 7 == 0 ? 5 : 0};
        u->seq = i;
        u->log = &log;
        CHECK_INT(store_write_async(s, async_put, u, async_done, u), 0);
    }
    pthread_mutex_lock(&log.mu);
    while (log.done < ASYNC_UNITS)
        pthread_cond_wait(&log.cond, &log.mu);
    pthread_mutex_unlock(&log.mu);
    CHECK_INT(log.order_errors, 0);
    CHECK_INT(log.failures, 0);
    CHECK_INT(lookup(s, "async-1"), 1);
    CHECK_INT(lookup(s, "async-7"), -1);
    CHECK_INT(lookup(s, "async-3071"), 3071);
    /* the submitter never waited for room, though 3 x the queue's capacity was in flight */
    store_stats(s, &after);
    CHECK_INT(after.queue_full_waits, before.queue_full_waits);
    CHECK_INT(store_write_async(s, async_put, &units[0], NULL, NULL), STORE_EINVAL);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int window_gate(sqlite3 *db, void *p)
{
    gate_entered = 1;
    store_stats_t st;
    for (int i = 0; i < 10000; i++) { /* until the first async unit is queued, at most 10 s */
        store_stats(g_store, &st);
        if (st.queue_depth >= 1)
            break;
        usleep(1000);
    }
    return put_kv(db, p);
}

static void *window_gate_writer(void *p)
{
    return (void *)(intptr_t)store_write(g_store, window_gate, p);
}

static void window_done(int result, void *arg)
{
    (void)result;
    atomic_fetch_add((_Atomic int *)arg, 1);
}

/* The group window: a lone caller's writes never wait for it; units that were queued as a
 * group ended, and those that come during the window, share the next group. */
static void test_group_window(store_t *s)
{
    g_store = s;
    store_set_group_window(s, 400000);
    double t0 = mono_s();
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "lone-%d", i);
        kv_arg a = {k, i, 0};
        CHECK_INT(store_write(s, put_kv, &a), 0);
    }
    double lone_s = mono_s() - t0;
    CHECK(lone_s < 2.0); /* 10 x 0.4 s if each had waited */

    store_stats_t before, after;
    store_stats(s, &before);
    gate_entered = 0;
    kv_arg gate = {"window-gate", 1, 0};
    pthread_t th;
    pthread_create(&th, NULL, window_gate_writer, &gate);
    while (!gate_entered)
        usleep(1000);
    static kv_arg units[5];
    static char keys[5][16];
    _Atomic int done = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(keys[i], sizeof keys[i], "window-%d", i);
        units[i] = (kv_arg){keys[i], i, 0};
        CHECK_INT(store_write_async(s, put_kv, &units[i], window_done, &done), 0);
        usleep(20000); /* the first is queued behind the gate; the others come in the window */
    }
    void *r;
    pthread_join(th, &r);
    CHECK_INT((int)(intptr_t)r, 0);
    while (atomic_load(&done) < 5)
        usleep(1000);
    store_stats(s, &after);
    CHECK_INT(after.groups - before.groups, 2);
    CHECK_INT(lookup(s, "window-4"), 4);
    fprintf(stderr, "group window: 10 lone writes in %.3f s; 5 units under load in one group\n", lone_s);
    store_set_group_window(s, STORE_GROUP_WINDOW_US);
}

static int put_blob(sqlite3 *db, void *p)
{
    int *i = p;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO log(msg) VALUES (?1)", -1, &st, NULL))
        return -1;
    static char blob[256 * 1024];
    memset(blob, 'a' + *i % 26, sizeof blob - 1);
    sqlite3_bind_text(st, 1, blob, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -2;
}

static int count_log(sqlite3 *db, void *p)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM log WHERE length(msg) = 262143", -1, &st, NULL))
        return -1;
    sqlite3_step(st);
    *(long long *)p = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* More than 16 MiB of WAL: the checkpointer thread copies it into the database in the
 * background, the writer never checkpoints inside its commits (below 256 MiB of WAL), and
 * every row stays readable. */
static void test_checkpointer(store_t *s)
{
    store_stats_t before, after;
    store_stats(s, &before);
    for (int i = 0; i < 80; i++) /* 80 x 256 KiB: 20 MiB, over 4096 frames */
        CHECK_INT(store_write(s, put_blob, &i), 0);
    for (int k = 0; k < 1000; k++) { /* at most 10 s */
        store_stats(s, &after);
        if (after.checkpoints > before.checkpoints)
            break;
        usleep(10000);
    }
    CHECK(after.checkpoints > before.checkpoints);
    CHECK_INT(after.writer_checkpoints, 0);   /* in this test nor any before it */
    long long n = 0;
    CHECK_INT(store_read(s, count_log, &n), 0);
    CHECK_INT(n, 80);
    fprintf(stderr, "checkpointer: %llu background checkpoint(s), %llu by the writer, after 20 MiB of WAL\n",
            (unsigned long long)(after.checkpoints - before.checkpoints),
            (unsigned long long)after.writer_checkpoints);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    snprintf(dbpath, sizeof dbpath, "%s/t.db", dir);
    char err[256] = "";
    store_t *s = store_open(dbpath, err, sizeof err);
    CHECK(s != NULL);
    if (!s) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    CHECK_STR(store_path(s), dbpath);
    test_migrations(s);
    test_units(s);
    test_reentry(s);
    test_group_commit(s);
    test_commit_failure(s);
    test_aborted_transaction(s);
    test_snapshot(s);
    test_stmt_cache(s);
    test_async(s);
    test_group_window(s);
    test_checkpointer(s);
    store_close(s);

    /* reopen: everything acknowledged is there, migrations are not re-applied */
    s = store_open(dbpath, err, sizeof err);
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(store_migrate(s, migs, 3, err, sizeof err), 0);
        CHECK_INT(lookup(s, "a"), 1);
        CHECK_INT(lookup(s, "w3-3"), 3);
        CHECK_INT(lookup(s, "w3-4"), -1);
        long long blobs = 0;
        CHECK_INT(store_read(s, count_log, &blobs), 0);
        CHECK_INT(blobs, 80);
        store_close(s);
    }
    test_open_errors();
    test_file_modes();

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("store");
}
