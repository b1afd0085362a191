/*
 * store.c: the SQLite backend of store.h — the storage thread with group commit, the
 * read-only connection pool and the migration runner.
 *
 * Queue: a fixed ring of pointers to store_job, each living on its caller's stack for the
 * duration of store_write. One mutex guards the ring, the "done" flags and the stats; the
 * storage thread never holds it while running SQL. Callers wait on done_cond, which the
 * thread broadcasts once per group (one wake-up per group, not per unit).
 */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_fault.h"
#include "util/log.h"

#define STORE_BUSY_TIMEOUT_MS 5000

typedef enum store_job_kind {
    STORE_JOB_UNIT,      /* runs inside the group transaction, in a savepoint */
    STORE_JOB_PARTS,     /* runs inside the group transaction, making its own savepoints */
    STORE_JOB_EXCLUSIVE, /* runs alone, no transaction opened for it (migrations) */
} store_job_kind;

typedef struct store_job {
    store_job_kind kind;
    store_write_fn fn;
    void *arg;
    int result;
    bool done;
    /* store_write_async: the job is malloc'd and told through done_fn, never waited on. */
    store_done_fn done_fn;
    void *done_arg;
    struct store_job *next;   /* in the overflow list */
} store_job;

struct store {
    char *path;
    sqlite3 *wdb; /* owned by the storage thread after start */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    pthread_cond_t done_cond;
    /* The gathering wait (store_gather): signalled when a full group is queued or on close. */
    pthread_cond_t group_full;
    int64_t group_window_us;   /* under mu */
    size_t sync_queued;        /* under mu: queued units whose caller blocks (store_write) */
    /* The checkpointer (store_checkpointer_main): its own connection, woken by the writer's
     * WAL hook; ckpt_wanted / ckpt_stop under mu. No thread when cdb is NULL (the writer then
     * checkpoints itself, SQLite's autocheckpoint). */
    sqlite3 *cdb;
    pthread_t ckpt_thread;
    pthread_cond_t ckpt_cond;
    bool ckpt_wanted, ckpt_stop;
    int ckpt_asked_at;         /* WAL frames when the hook last woke it (storage thread) */
    uint64_t checkpoints;      /* under mu */
    store_job *ring[STORE_QUEUE_CAP];
    size_t head, count;
    /* Asynchronous units that found the ring full (or others waiting here): they never make
     * their caller wait, and keep their order (FIFO before any later asynchronous unit). */
    store_job *overflow_head, *overflow_tail;
    size_t overflow;
    bool stopping;
    store_stats_t stats;   /* published copy, under mu */
    store_stats_t tstats;  /* the storage thread's own counters, copied into stats under mu */
    uint64_t queue_full_waits; /* under mu */
    int fail_commit_in; /* commit hook: fail when it counts down to 0; <=0 means disarmed */

    /* read pool */
    pthread_mutex_t rmu;
    pthread_cond_t rcond;
    sqlite3 *readers[STORE_READERS_MAX];
    size_t nfree;      /* readers[0..nfree) are idle connections */
    size_t nopen;      /* total opened (idle + lent out) */
};

static void store_set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void store_set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

int store_exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* The connection's own list of statements is the cache: no side table that could outlive
 * the connection, and store_close finalizes whatever is left. Walking it compares the SQL of
 * every statement prepared so far (over a hundred once billing, calls and chat have run),
 * some twenty times per unit: a per-thread direct-mapped index by (connection, SQL pointer)
 * finds the usual one with a single strcmp. A connection is used by one thread at a time;
 * closing any connection bumps close_epoch, and a thread whose index is older drops it all,
 * so no entry survives its statement. */
#define STMT_INDEX_SLOTS 512
typedef struct stmt_slot {
    sqlite3 *db;
    const char *sql;
    sqlite3_stmt *st;
} stmt_slot;
static _Thread_local stmt_slot stmt_index[STMT_INDEX_SLOTS];
static _Thread_local unsigned stmt_index_epoch;
static atomic_uint close_epoch = 1;

static sqlite3_stmt *stmt_scan(sqlite3 *db, const char *sql)
{
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
        const char *have = sqlite3_sql(st);
        if (!sqlite3_stmt_busy(st) && have && strcmp(have, sql) == 0)
            return st;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

sqlite3_stmt *store_stmt(sqlite3 *db, const char *sql)
{
    unsigned epoch = atomic_load_explicit(&close_epoch, memory_order_acquire);
    if (stmt_index_epoch != epoch) {
        memset(stmt_index, 0, sizeof stmt_index);
        stmt_index_epoch = epoch;
    }
    stmt_slot *slot = &stmt_index[(((uintptr_t)sql >> 3) ^ ((uintptr_t)db >> 6)) % STMT_INDEX_SLOTS];
    /* The strcmp keeps it right for SQL built in a reused buffer. */
    if (slot->db == db && slot->sql == sql && !sqlite3_stmt_busy(slot->st) && strcmp(sqlite3_sql(slot->st), sql) == 0)
        return slot->st;
    sqlite3_stmt *st = stmt_scan(db, sql);
    if (st)
        *slot = (stmt_slot){.db = db, .sql = sql, .st = st};
    return st;
}

void store_stmt_release(sqlite3_stmt *st)
{
    if (!st)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void store_close_db(sqlite3 *db)
{
    atomic_fetch_add_explicit(&close_epoch, 1, memory_order_release);
    sqlite3_stmt *st;
    while ((st = sqlite3_next_stmt(db, NULL)))
        sqlite3_finalize(st);
    if (sqlite3_close(db) != SQLITE_OK)
        LOG_ERROR("store", "closing a connection: %s", sqlite3_errmsg(db));
}

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *store_path(const store_t *s)
{
    return s->path;
}

/* SQLite's commit hook: a non-zero return turns the COMMIT into a ROLLBACK. That is the
 * seam the fault injection uses, so a "failed commit" is a real rolled-back transaction. */
static int store_commit_hook(void *p)
{
    store_t *s = p;
    int n = __atomic_load_n(&s->fail_commit_in, __ATOMIC_ACQUIRE);
    if (n <= 0)
        return 0;
    n = __atomic_sub_fetch(&s->fail_commit_in, 1, __ATOMIC_ACQ_REL);
    return n == 0;
}

void store_debug_fail_commit_after(store_t *s, int n)
{
    __atomic_store_n(&s->fail_commit_in, n > 0 ? n : 0, __ATOMIC_RELEASE);
}

#define STORE_SYNC_FULL 2   /* PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA */

/* The connection's synchronous level, -1 when it cannot be read. */
static int store_synchronous(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int level = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        level = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return level;
}

static int store_configure(sqlite3 *db, bool writer)
{
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(db, 1);
    if (store_exec(db, "PRAGMA foreign_keys=ON") != SQLITE_OK)
        return -1;
    if (writer) {
        /* journal_mode returns a row; sqlite3_exec ignores it. */
        if (store_exec(db, "PRAGMA journal_mode=WAL") != SQLITE_OK)
            return -1;
        /* Also what the VFS's WAL write-behind rests on (store_walbuf.h): every commit synced,
         * so no published frame is only in its buffer. Read back: lowering it here must fail. */
        if (store_exec(db, "PRAGMA synchronous=FULL") != SQLITE_OK)
            return -1;
        if (store_synchronous(db) < STORE_SYNC_FULL) {
            LOG_ERROR("store", "synchronous is below FULL: the WAL write-behind needs every commit synced");
            return -1;
        }
        /* Each unit runs in a SAVEPOINT, whose sub-journal would otherwise be a temp file
         * written for every unit: about a third of a ledger charge's cost. */
        if (store_exec(db, "PRAGMA temp_store=MEMORY") != SQLITE_OK)
            return -1;
        /* Unique indexes on random keys (message ids, client ids, idempotency keys) put every
         * insert on another leaf page: with the default 2 MB cache the writer re-read pages
         * at each unit (chat_bench at 2000 msg/s: 5200 preads/s, 2100 with 64 MB). */
        if (store_exec(db, "PRAGMA cache_size=-65536") != SQLITE_OK)
            return -1;
        /* A checkpoint copies every page the WAL holds into the database file (and syncs it).
         * At the default 1000 frames a busy writer (chat: about five pages per message) ran one
         * every ~200 messages and wrote hot pages (conversation rows, wallets, index tails)
         * once per checkpoint; 8192 frames (32 MiB of WAL) write them far fewer times.
         * Durability is the WAL's fsync at each commit, not the checkpoint's. */
        if (store_exec(db, "PRAGMA wal_autocheckpoint=8192") != SQLITE_OK)
            return -1;
    } else if (store_exec(db, "PRAGMA query_only=ON") != SQLITE_OK) {
        return -1;
    }
    return 0;
}

static bool store_is_wal(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    bool wal = false;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        wal = m && strcmp(m, "wal") == 0;
    }
    sqlite3_finalize(st);
    return wal;
}

/* ---- the checkpointer ---- */
/*
 * A checkpoint copies the pages the WAL holds into the database file and syncs it. Run by the
 * writer inside a COMMIT (SQLite's autocheckpoint) it stalled every unit queued behind that
 * commit: at 5 000 chat messages/s, one every second or so, tens of milliseconds each, the
 * whole p99. The writer's WAL hook wakes this thread instead, which checkpoints PASSIVE on its
 * own connection (never waiting for the writer or readers; the writer keeps appending and
 * restarts the WAL from its start once a checkpoint has caught up). Durability is still each
 * COMMIT's fsync of the WAL. If the WAL grows past STORE_WAL_MAX_FRAMES anyway (the
 * checkpointer cannot keep up), the writer checkpoints too, as before.
 */
#define STORE_CHECKPOINT_FRAMES 4096  /* 16 MiB of WAL: wake the checkpointer */
#define STORE_WAL_MAX_FRAMES 65536    /* 256 MiB: the writer checkpoints itself as well */

/* After each commit, on the storage thread. Once woken, the checkpointer is asked again only
 * when the WAL grew by another quarter of the threshold (a checkpoint that could not finish,
 * readers holding old frames) or started over and filled up again: not at every commit. */
static int store_wal_hook(void *p, sqlite3 *db, const char *name, int frames)
{
    store_t *s = p;
    if (frames < s->ckpt_asked_at)
        s->ckpt_asked_at = 0;   /* the WAL started over */
    if (frames >= STORE_WAL_MAX_FRAMES)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    else if (frames >= STORE_CHECKPOINT_FRAMES &&
             (s->ckpt_asked_at == 0 || frames - s->ckpt_asked_at >= STORE_CHECKPOINT_FRAMES / 4)) {
        s->ckpt_asked_at = frames;
        pthread_mutex_lock(&s->mu);
        s->ckpt_wanted = true;
        pthread_cond_signal(&s->ckpt_cond);
        pthread_mutex_unlock(&s->mu);
    }
    return SQLITE_OK;
}

static void *store_checkpointer_main(void *p)
{
    store_t *s = p;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->ckpt_wanted && !s->ckpt_stop)
            pthread_cond_wait(&s->ckpt_cond, &s->mu);
        if (s->ckpt_stop)
            break;
        s->ckpt_wanted = false;
        pthread_mutex_unlock(&s->mu);
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(s->cdb, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            LOG_WARN("store", "checkpoint: %s", sqlite3_errmsg(s->cdb));
        pthread_mutex_lock(&s->mu);
        s->checkpoints++;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Opens the checkpointer's connection and thread, and points the writer's WAL hook at it.
 * On failure the writer keeps checkpointing itself (a warning, not an error). */
static void store_start_checkpointer(store_t *s, int flags)
{
    if (strcmp(s->path, ":memory:") == 0)
        return;
    pthread_cond_init(&s->ckpt_cond, NULL);
    if (sqlite3_open_v2(s->path, &s->cdb, flags, store_fault_vfs()) != SQLITE_OK ||
        store_configure(s->cdb, true) != 0 ||
        pthread_create(&s->ckpt_thread, NULL, store_checkpointer_main, s) != 0) {
        LOG_WARN("store", "no checkpointer thread (%s): the writer checkpoints",
                 s->cdb ? sqlite3_errmsg(s->cdb) : "out of memory");
        if (s->cdb)
            store_close_db(s->cdb);
        s->cdb = NULL;
        return;
    }
    pthread_setname_np(s->ckpt_thread, "store-ckpt");
    sqlite3_wal_hook(s->wdb, store_wal_hook, s);
}

static void store_stop_checkpointer(store_t *s)
{
    if (!s->cdb)
        return;
    pthread_mutex_lock(&s->mu);
    s->ckpt_stop = true;
    pthread_cond_signal(&s->ckpt_cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->ckpt_thread, NULL);
    store_close_db(s->cdb);
    s->cdb = NULL;
}

/* ---- the storage thread ---- */

/* The group's own statements (BEGIN, SAVEPOINT, RELEASE, ...), run two or three times per
 * unit: prepared once and kept in the connection's cache (store_stmt) instead of parsed by
 * sqlite3_exec at every unit. Returns an SQLite result code, SQLITE_OK when it ran. */
static const char sql_begin[] = "BEGIN IMMEDIATE";
static const char sql_begin_read[] = "BEGIN";
static const char sql_commit[] = "COMMIT";
static const char sql_rollback[] = "ROLLBACK";
static const char sql_savepoint[] = "SAVEPOINT unit";
static const char sql_rollback_to[] = "ROLLBACK TO unit";
static const char sql_release[] = "RELEASE unit";

static int store_exec_cached(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = store_stmt(db, sql);
    if (!st)
        return store_exec(db, sql);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Marks jobs [from, to) of batch as failed with STORE_EIO. */
static void store_fail_range(store_job **batch, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        batch[i]->result = STORE_EIO;
}

/* Runs one unit inside the open transaction. Returns false when the transaction itself
 * is gone (SQLite rolled it back, or the savepoint machinery failed). */
static bool store_run_unit(store_t *s, store_job *job)
{
    if (job->kind == STORE_JOB_PARTS) {
        /* Non-zero: a part may be half-done; only the whole transaction can undo it. */
        job->result = job->fn(s->wdb, job->arg);
        return job->result == 0 && !sqlite3_get_autocommit(s->wdb);
    }
    if (store_exec_cached(s->wdb, sql_savepoint) != SQLITE_OK) {
        job->result = STORE_EIO;
        return !sqlite3_get_autocommit(s->wdb);
    }
    job->result = job->fn(s->wdb, job->arg);
    if (sqlite3_get_autocommit(s->wdb))
        return false; /* an error inside fn aborted the whole transaction */
    if (job->result != 0) {
        s->tstats.units_rolled_back++;
        if (store_exec_cached(s->wdb, sql_rollback_to) != SQLITE_OK)
            return false;
    }
    if (store_exec_cached(s->wdb, sql_release) != SQLITE_OK)
        return false;
    return true;
}

/* Runs batch[0..n) of units as one or more transactions (more only if SQLite aborted one). */
static void store_run_group(store_t *s, store_job **batch, size_t n)
{
    size_t start = 0;
    while (start < n) {
        if (store_exec_cached(s->wdb, sql_begin) != SQLITE_OK) {
            LOG_ERROR("store", "BEGIN failed: %s", sqlite3_errmsg(s->wdb));
            store_fail_range(batch, start, n);
            s->tstats.commit_failures++;
            return;
        }
        size_t i = start;
        bool alive = true;
        for (; i < n && alive; i++)
            alive = store_run_unit(s, batch[i]);
        s->tstats.units += i - start;
        s->tstats.groups++;
        if (!alive) {
            /* batch[start..i) lost their writes with the transaction. */
            LOG_WARN("store", "transaction aborted inside a unit: %s", sqlite3_errmsg(s->wdb));
            store_fail_range(batch, start, i);
            if (!sqlite3_get_autocommit(s->wdb))
                store_exec_cached(s->wdb, sql_rollback);
            s->tstats.commit_failures++;
            start = i;
            continue;
        }
        if (store_exec_cached(s->wdb, sql_commit) != SQLITE_OK) {
            LOG_ERROR("store", "COMMIT failed: %s", sqlite3_errmsg(s->wdb));
            if (!sqlite3_get_autocommit(s->wdb))
                store_exec_cached(s->wdb, sql_rollback);
            store_fail_range(batch, start, n);
            s->tstats.commit_failures++;
        }
        start = n;
    }
}

/* With mu held: moves overflowed asynchronous units into the ring as room allows. */
static void store_refill(store_t *s)
{
    while (s->overflow_head && s->count < STORE_QUEUE_CAP) {
        store_job *j = s->overflow_head;
        s->overflow_head = j->next;
        if (!s->overflow_head)
            s->overflow_tail = NULL;
        s->overflow--;
        s->ring[(s->head + s->count) % STORE_QUEUE_CAP] = j;
        s->count++;
    }
}

/* Takes queued jobs: a run of units (up to STORE_GROUP_MAX), or one exclusive job. */
static size_t store_take_batch(store_t *s, store_job **batch)
{
    size_t n = 0;
    while (s->count > 0 && n < STORE_GROUP_MAX) {
        store_job *j = s->ring[s->head];
        if (j->kind == STORE_JOB_EXCLUSIVE && n > 0)
            break;
        batch[n++] = j;
        s->head = (s->head + 1) % STORE_QUEUE_CAP;
        s->count--;
        if (!j->done_fn)
            s->sync_queued--;
        if (j->kind == STORE_JOB_EXCLUSIVE)
            break;
    }
    return n;
}

static int64_t store_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* With mu held, work queued while the previous group ran (the store is under load): lets more
 * gather first. The group starts no sooner than group_window_us after the previous one
 * began, unless a full group is already queued, a caller blocks on a queued unit (request
 * threads: with 8 of them writing one after another, waiting halved their throughput), or the
 * store is closing. Each COMMIT writes every page the group dirtied and fsyncs; when units
 * come one by one (each chat flush, each charge) from many callers faster than a commit
 * takes, committing what came during the last one made the commits themselves the storage
 * thread's main cost (about 200 us of CPU each here, for one or two messages). A store that
 * was idle when its last group ended (a lone caller writing one unit after another, light
 * load) never waits. */
static void store_gather(store_t *s, int64_t last_start_us)
{
    int64_t due = last_start_us + s->group_window_us;
    while (!s->stopping && s->count + s->overflow < STORE_GROUP_MAX && s->sync_queued == 0) {
        int64_t now = store_mono_us();
        if (now >= due)
            return;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (due - now) * 1000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&s->group_full, &s->mu, &ts);
    }
}

static void *store_thread_main(void *p)
{
    store_t *s = p;
    store_job *batch[STORE_GROUP_MAX];
    int64_t last_start_us = 0;
    bool busy = false;   /* units were queued when the last group ended */
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->count == 0 && !s->stopping)
            pthread_cond_wait(&s->not_empty, &s->mu);
        if (s->count == 0 && s->stopping)
            break;
        if (busy && s->group_window_us > 0)
            store_gather(s, last_start_us);
        last_start_us = store_mono_us();
        size_t n = store_take_batch(s, batch);
        store_refill(s);
        pthread_cond_broadcast(&s->not_full);
        pthread_mutex_unlock(&s->mu);

        if (batch[0]->kind == STORE_JOB_EXCLUSIVE)
            batch[0]->result = batch[0]->fn(s->wdb, batch[0]->arg);
        else
            store_run_group(s, batch, n);

        if (batch[0]->kind != STORE_JOB_EXCLUSIVE && n > s->tstats.max_group)
            s->tstats.max_group = (uint32_t)n;
        /* Asynchronous callers first, outside the lock (a synchronous caller's job may be
         * gone as soon as it is marked done). */
        for (size_t i = 0; i < n; i++) {
            if (batch[i]->done_fn) {
                batch[i]->done_fn(batch[i]->result, batch[i]->done_arg);
                free(batch[i]);
                batch[i] = NULL;
            }
        }
        pthread_mutex_lock(&s->mu);
        busy = s->count + s->overflow > 0;
        s->tstats.writer_checkpoints = store_fault_db_syncs_here();
        s->stats = s->tstats;
        for (size_t i = 0; i < n; i++)
            if (batch[i])
                batch[i]->done = true;
        pthread_cond_broadcast(&s->done_cond);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int store_submit(store_t *s, store_job *job)
{
    if (!s || !job->fn)
        return STORE_EINVAL;
    if (pthread_equal(pthread_self(), s->thread))
        return STORE_EINVAL;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return STORE_ECLOSED;
    }
    if (job->done_fn && (s->count == STORE_QUEUE_CAP || s->overflow_head)) {
        job->next = NULL;
        if (s->overflow_tail)
            s->overflow_tail->next = job;
        else
            s->overflow_head = job;
        s->overflow_tail = job;
        s->overflow++;
        pthread_cond_signal(&s->not_empty);
        if (s->count + s->overflow == STORE_GROUP_MAX)
            pthread_cond_signal(&s->group_full);
        pthread_mutex_unlock(&s->mu);
        return STORE_OK;
    }
    if (s->count == STORE_QUEUE_CAP)
        s->queue_full_waits++;
    while (s->count == STORE_QUEUE_CAP && !s->stopping)
        pthread_cond_wait(&s->not_full, &s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return STORE_ECLOSED;
    }
    s->ring[(s->head + s->count) % STORE_QUEUE_CAP] = job;
    s->count++;
    pthread_cond_signal(&s->not_empty);
    if (!job->done_fn)
        s->sync_queued++;
    if (!job->done_fn || s->count + s->overflow == STORE_GROUP_MAX)
        pthread_cond_signal(&s->group_full);
    if (job->done_fn) {
        pthread_mutex_unlock(&s->mu);
        return STORE_OK;
    }
    while (!job->done)
        pthread_cond_wait(&s->done_cond, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return job->result;
}

int store_write(store_t *s, store_write_fn fn, void *arg)
{
    store_job job = {.kind = STORE_JOB_UNIT, .fn = fn, .arg = arg};
    return store_submit(s, &job);
}

static int store_write_async_kind(store_t *s, store_job_kind kind, store_write_fn fn, void *arg, store_done_fn done,
                                  void *done_arg)
{
    if (!done)
        return STORE_EINVAL;
    store_job *job = malloc(sizeof *job);
    if (!job)
        return STORE_EIO;
    *job = (store_job){.kind = kind, .fn = fn, .arg = arg, .done_fn = done, .done_arg = done_arg};
    int rc = store_submit(s, job);
    if (rc != STORE_OK)
        free(job);
    return rc;
}

int store_write_async(store_t *s, store_write_fn fn, void *arg, store_done_fn done, void *done_arg)
{
    return store_write_async_kind(s, STORE_JOB_UNIT, fn, arg, done, done_arg);
}

int store_write_parts(store_t *s, store_write_fn fn, void *arg)
{
    store_job job = {.kind = STORE_JOB_PARTS, .fn = fn, .arg = arg};
    return store_submit(s, &job);
}

int store_write_parts_async(store_t *s, store_write_fn fn, void *arg, store_done_fn done, void *done_arg)
{
    return store_write_async_kind(s, STORE_JOB_PARTS, fn, arg, done, done_arg);
}

/* ---- readers ---- */

static sqlite3 *store_reader_take(store_t *s)
{
    pthread_mutex_lock(&s->rmu);
    while (s->nfree == 0 && s->nopen == STORE_READERS_MAX)
        pthread_cond_wait(&s->rcond, &s->rmu);
    if (s->nfree > 0) {
        sqlite3 *db = s->readers[--s->nfree];
        pthread_mutex_unlock(&s->rmu);
        return db;
    }
    s->nopen++; /* reserve the slot, open outside the lock */
    pthread_mutex_unlock(&s->rmu);

    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(s->path, &db, flags, NULL) != SQLITE_OK || store_configure(db, false)) {
        LOG_ERROR("store", "cannot open a reader on %s: %s", s->path,
                  db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        pthread_mutex_lock(&s->rmu);
        s->nopen--;
        pthread_cond_signal(&s->rcond);
        pthread_mutex_unlock(&s->rmu);
        return NULL;
    }
    return db;
}

static void store_reader_give(store_t *s, sqlite3 *db)
{
    pthread_mutex_lock(&s->rmu);
    s->readers[s->nfree++] = db;
    pthread_cond_signal(&s->rcond);
    pthread_mutex_unlock(&s->rmu);
}

static void store_reader_drop(store_t *s, sqlite3 *db)
{
    store_close_db(db);
    pthread_mutex_lock(&s->rmu);
    s->nopen--;
    pthread_cond_signal(&s->rcond);
    pthread_mutex_unlock(&s->rmu);
}

int store_read(store_t *s, store_read_fn fn, void *arg)
{
    if (!s || !fn)
        return STORE_EINVAL;
    sqlite3 *db = store_reader_take(s);
    if (!db)
        return STORE_EIO;
    int rc;
    if (store_exec_cached(db, sql_begin_read) != SQLITE_OK) {
        rc = STORE_EIO;
    } else {
        rc = fn(db, arg);
        if (!sqlite3_get_autocommit(db) && store_exec_cached(db, sql_commit) != SQLITE_OK)
            store_exec_cached(db, sql_rollback);
    }
    if (!sqlite3_get_autocommit(db)) {
        /* fn left the connection unusable (a statement still running): never pool it */
        LOG_WARN("store", "dropping a reader stuck in a transaction: %s", sqlite3_errmsg(db));
        store_reader_drop(s, db);
        return rc;
    }
    store_reader_give(s, db);
    return rc;
}

/* ---- migrations ---- */

typedef struct store_migrate_job {
    const store_migration *list;
    size_t n;
    char *err;
    size_t errcap;
} store_migrate_job;

static const char STORE_MIGRATIONS_DDL[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " module TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,"
    " PRIMARY KEY (module, version)) WITHOUT ROWID";

/* Highest recorded version of module, 0 if none, -1 on error. */
static int store_recorded_max(sqlite3 *db, const char *module)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version),0) FROM schema_migrations"
                               " WHERE module=?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static int store_is_recorded(sqlite3 *db, const store_migration *m)
{
    sqlite3_stmt *st = NULL;
    int found = -1;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM schema_migrations WHERE module=?1 AND version=?2",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, m->module, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, m->version);
        int rc = sqlite3_step(st);
        found = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    return found;
}

static int store_record(sqlite3 *db, const store_migration *m)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO schema_migrations(module, version, applied_at)"
                                    " VALUES (?1, ?2, ?3)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, m->module, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, m->version);
        sqlite3_bind_int64(st, 3, store_now_ms());
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Checks the list's order and refuses a database newer than the code. */
static int store_migrate_validate(sqlite3 *db, store_migrate_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        const store_migration *m = &j->list[i];
        if (!m->module || !m->sql || m->version <= 0) {
            store_set_err(j->err, j->errcap, "migration %zu: bad entry", i);
            return STORE_EINVAL;
        }
        int known_max = m->version;
        for (size_t k = 0; k < j->n; k++) {
            const store_migration *o = &j->list[k];
            if (o->module && strcmp(o->module, m->module) == 0) {
                if (k < i && o->version >= m->version) {
                    store_set_err(j->err, j->errcap, "migrations of %s out of order at %d",
                                  m->module, m->version);
                    return STORE_EINVAL;
                }
                if (o->version > known_max)
                    known_max = o->version;
            }
        }
        int have = store_recorded_max(db, m->module);
        if (have < 0) {
            store_set_err(j->err, j->errcap, "reading schema_migrations: %s", sqlite3_errmsg(db));
            return STORE_EIO;
        }
        if (have > known_max) {
            store_set_err(j->err, j->errcap, "database has %s version %d, code knows up to %d",
                          m->module, have, known_max);
            return STORE_EINVAL;
        }
    }
    return 0;
}

static int store_apply_one(sqlite3 *db, const store_migration *m, char *err, size_t errcap)
{
    if (store_exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        store_set_err(err, errcap, "BEGIN: %s", sqlite3_errmsg(db));
        return STORE_EIO;
    }
    int found = store_is_recorded(db, m);
    int rc = SQLITE_OK;
    if (found == 0) {
        rc = store_exec(db, m->sql);
        if (rc != SQLITE_OK)
            store_set_err(err, errcap, "migration %s/%d: %s", m->module, m->version,
                          sqlite3_errmsg(db));
        else if ((rc = store_record(db, m)) != SQLITE_OK)
            store_set_err(err, errcap, "recording %s/%d: %s", m->module, m->version,
                          sqlite3_errmsg(db));
    } else if (found < 0) {
        rc = SQLITE_ERROR;
        store_set_err(err, errcap, "reading schema_migrations: %s", sqlite3_errmsg(db));
    }
    if (rc == SQLITE_OK && store_exec(db, "COMMIT") == SQLITE_OK) {
        if (found == 0)
            LOG_INFO("store", "applied migration %s/%d", m->module, m->version);
        return 0;
    }
    if (rc == SQLITE_OK)
        store_set_err(err, errcap, "COMMIT of %s/%d: %s", m->module, m->version,
                      sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        store_exec(db, "ROLLBACK");
    return rc == SQLITE_ERROR ? STORE_EINVAL : STORE_EIO;
}

static int store_migrate_run(sqlite3 *db, void *arg)
{
    store_migrate_job *j = arg;
    if (store_exec(db, STORE_MIGRATIONS_DDL) != SQLITE_OK) {
        store_set_err(j->err, j->errcap, "creating schema_migrations: %s", sqlite3_errmsg(db));
        return STORE_EIO;
    }
    int rc = store_migrate_validate(db, j);
    for (size_t i = 0; rc == 0 && i < j->n; i++)
        rc = store_apply_one(db, &j->list[i], j->err, j->errcap);
    return rc;
}

int store_migrate(store_t *s, const store_migration *list, size_t n, char *err, size_t errcap)
{
    store_migrate_job mj = {.list = list, .n = n, .err = err, .errcap = errcap};
    store_job job = {.kind = STORE_JOB_EXCLUSIVE, .fn = store_migrate_run, .arg = &mj};
    if (n > 0 && !list) {
        store_set_err(err, errcap, "no migration list");
        return STORE_EINVAL;
    }
    store_set_err(err, errcap, "%s", "");
    int rc = store_submit(s, &job);
    if ((rc == STORE_EINVAL || rc == STORE_ECLOSED) && err && errcap && !err[0])
        store_set_err(err, errcap, "store not usable from this thread or closing");
    return rc;
}

/* ---- open / close / stats ---- */

/* The database holds password hashes and the JWT key: only the server's user may read it,
 * whatever the umask and the directory's mode. The file is created 0600 here, before SQLite
 * opens it; SQLite's unix VFS then creates -wal and -shm with the main file's mode. A file
 * left looser by an older version (or by hand), and its -wal/-shm, are tightened, with one
 * warning. 0 on success, -1 with errno set. */
static int store_private_file(const char *path, bool must_exist)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | (must_exist ? 0 : O_CREAT), 0600);
    if (fd < 0)
        return (must_exist && errno == ENOENT) ? 0 : -1;
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && (st.st_mode & 077) != 0) {
        LOG_WARN("store", "%s was readable by others (mode %04o): set to 0600", path,
                 (unsigned)(st.st_mode & 07777));
        rc = fchmod(fd, 0600);
    }
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int store_private_files(const char *path, char *err, size_t errcap)
{
    if (store_private_file(path, false) != 0) {
        store_set_err(err, errcap, "%s: %s", path, strerror(errno));
        return -1;
    }
    static const char *const side[] = {"-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(side) / sizeof(*side); i++) {
        char p[4096];
        if (snprintf(p, sizeof(p), "%s%s", path, side[i]) >= (int)sizeof(p))
            continue;
        if (store_private_file(p, true) != 0) {
            store_set_err(err, errcap, "%s: %s", p, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* SQLite's memory statistics take a process-wide mutex around every allocation and free it
 * makes (tens per statement); nothing here reads them. Settable only before SQLite
 * initializes: when something else initialized it first, the statistics stay on. */
static void store_sqlite_global_config(void)
{
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK)
        LOG_DEBUG("store", "SQLite initialized before the store: memory statistics stay on");
}

store_t *store_open(const char *path, char *err, size_t errcap)
{
    static pthread_once_t global_config = PTHREAD_ONCE_INIT;
    pthread_once(&global_config, store_sqlite_global_config);
    if (!path || !*path) {
        store_set_err(err, errcap, "no database path");
        return NULL;
    }
    store_t *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        store_set_err(err, errcap, "out of memory");
        return NULL;
    }
    if (strcmp(path, ":memory:") != 0 && store_private_files(path, err, errcap) != 0) {
        free(s->path);
        free(s);
        return NULL;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &s->wdb, flags, store_fault_vfs()) != SQLITE_OK ||
        store_configure(s->wdb, true) != 0 || !store_is_wal(s->wdb)) {
        store_set_err(err, errcap, "%s: %s", path,
                      s->wdb ? sqlite3_errmsg(s->wdb) : "out of memory");
        goto fail;
    }
    sqlite3_commit_hook(s->wdb, store_commit_hook, s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->not_empty, NULL);
    pthread_cond_init(&s->not_full, NULL);
    pthread_cond_init(&s->done_cond, NULL);
    pthread_condattr_t mono;
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&s->group_full, &mono);
    pthread_condattr_destroy(&mono);
    s->group_window_us = STORE_GROUP_WINDOW_US;
    store_start_checkpointer(s, flags);
    pthread_mutex_init(&s->rmu, NULL);
    pthread_cond_init(&s->rcond, NULL);
    int e = pthread_create(&s->thread, NULL, store_thread_main, s);
    if (e == 0)
        pthread_setname_np(s->thread, "store");   /* top, perf, the benchmarks' per-thread CPU */
    if (e != 0) {
        store_set_err(err, errcap, "cannot start the storage thread: %s", strerror(e));
        goto fail;
    }
    return s;
fail:
    store_stop_checkpointer(s);
    sqlite3_close(s->wdb);
    free(s->path);
    free(s);
    return NULL;
}

void store_close(store_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->not_empty);
    pthread_cond_broadcast(&s->group_full);
    pthread_cond_broadcast(&s->not_full);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    store_stop_checkpointer(s);   /* before the writer's close, which checkpoints last */
    for (size_t i = 0; i < s->nfree; i++)
        store_close_db(s->readers[i]);
    if (s->nfree != s->nopen)
        LOG_ERROR("store", "closing with %zu readers still in use", s->nopen - s->nfree);
    store_close_db(s->wdb);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->not_empty);
    pthread_cond_destroy(&s->not_full);
    pthread_cond_destroy(&s->done_cond);
    pthread_cond_destroy(&s->group_full);
    if (strcmp(s->path, ":memory:") != 0)
        pthread_cond_destroy(&s->ckpt_cond);
    pthread_mutex_destroy(&s->rmu);
    pthread_cond_destroy(&s->rcond);
    free(s->path);
    free(s);
}

void store_set_group_window(store_t *s, unsigned window_us)
{
    pthread_mutex_lock(&s->mu);
    s->group_window_us = window_us;
    pthread_mutex_unlock(&s->mu);
}

void store_stats(store_t *s, store_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    out->queue_depth = (uint32_t)(s->count + s->overflow);
    out->checkpoints = s->checkpoints;
    out->queue_full_waits = s->queue_full_waits;
    out->group_window_us = (uint32_t)s->group_window_us;
    pthread_mutex_unlock(&s->mu);
}
