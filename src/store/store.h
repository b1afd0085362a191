/*
 * store: the durable storage layer — one SQLite database, one storage thread that owns the
 * only writing connection and commits in groups, and a pool of read-only connections.
 *
 * A checkpointer thread with its own connection copies the WAL into the database file in the
 * background (PASSIVE), woken by the writer once the WAL holds 16 MiB, so no commit waits for
 * a checkpoint.
 *
 * Why a storage thread: SPEC 5 wants synchronous=FULL (every commit fsync'd) and no writes on
 * media threads. An fsync costs milliseconds, so the thread batches: it takes every queued
 * write unit (up to STORE_GROUP_MAX), runs BEGIN IMMEDIATE, runs each unit inside its own
 * SAVEPOINT (a unit returning non-zero is rolled back to its savepoint alone), COMMITs once,
 * then wakes every waiting caller. Throughput grows with the number of concurrent callers
 * while each caller still gets "acknowledged = durable".
 *
 * Contract:
 *  - store_open/store_close: one owner (the platform); close drains queued work first. No
 *    store_* call may be in progress or start once store_close has begun.
 *  - store_write: any thread EXCEPT the storage thread (calling it from inside a unit would
 *    deadlock; it returns STORE_EINVAL instead). Blocks the caller until its group has been
 *    committed durably or has failed; callers are HTTP/API threads, never media loops. The
 *    queue is bounded (STORE_QUEUE_CAP): when full, callers wait for room.
 *  - A store_write_fn runs on the storage thread with the group transaction open. It must
 *    only run SQL on the given db (no BEGIN/COMMIT/ROLLBACK of its own, no blocking, no
 *    calls back into store_*). Its result: 0 keeps its writes; any other value rolls back
 *    this unit only and is handed back to the caller. Unit results must not collide with the
 *    STORE_E* codes below (keep them in -1..-99 or positive).
 *  - If the group's COMMIT fails (I/O error, disk full, injected fault), EVERY unit of the
 *    group gets STORE_EIO, whatever fn returned, and output written by fn into its arg must
 *    be ignored. STORE_EIO means "not acknowledged": when the commit was refused before
 *    anything reached the log (constraint, commit hook, a failed write) nothing persisted;
 *    when the final fsync itself failed, the log may still hold the group and a crash before
 *    the next commit could bring it back (the classic fsync-failure ambiguity). Callers
 *    therefore retry with the same idempotency key (every ledger operation is idempotent), so
 *    both outcomes converge. If a unit's SQL error made SQLite abort the whole transaction
 *    (e.g. INSERT OR ROLLBACK, SQLITE_FULL), the units already run in it get STORE_EIO too;
 *    later units of the same batch run in a fresh transaction.
 *  - store_read: any thread. fn runs on the caller's thread on a read-only connection taken
 *    from a pool, inside a read transaction (one consistent snapshot for all of fn's
 *    queries; WAL readers never block the writer nor wait for it). Returns fn's result.
 *    A read sees every write whose store_write has returned.
 *  - store_migrate: any thread except the storage thread; typically at start. Each migration
 *    runs in its own transaction on the storage thread and is recorded in
 *    schema_migrations(module, version); already-recorded ones are skipped (idempotent).
 *    Within one module, versions must be listed in increasing order. A database that
 *    records a version of a listed module higher than the code knows is refused (downgrade).
 *  - Ownership: the store owns every sqlite3 handle; fn must not keep db, statements or
 *    pointers into SQLite results after it returns.
 *
 * A second backend (PostgreSQL, SPEC 7) would have to provide: the same queue/group-commit
 * semantics (one transaction per group, a SAVEPOINT per unit, one durable COMMIT, every
 * unit told the outcome), snapshot reads, and versioned migrations. What leaks SQLite today
 * is the sqlite3 *db handed to units (and store_stmt/store_exec); the ledger keeps all its
 * SQL inside src/ledger behind ledger.h, so swapping means rewriting those statements
 * against another handle type, not changing the ledger's callers. The debug hooks (commit
 * hook, fault VFS, power-loss log) are SQLite seams; a second backend would need its own
 * equivalents to run the same durability tests. The rest of this header is backend-neutral.
 */
#ifndef PARLEY_STORE_STORE_H
#define PARLEY_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

typedef struct store store_t;

enum {
    STORE_OK = 0,
    STORE_EIO = -100,     /* the commit (or the transaction) failed: not acknowledged */
    STORE_EINVAL = -101,  /* bad call: NULL fn, called from the storage thread, ... */
    STORE_ECLOSED = -102, /* the store is shutting down */
};

#define STORE_QUEUE_CAP 1024 /* queued write units before callers wait */
#define STORE_GROUP_MAX 256  /* most units committed in one transaction */
#define STORE_READERS_MAX 32 /* read-only connections in the pool; more readers wait */
#define STORE_GROUP_WINDOW_US 2000 /* store_set_group_window's default (setting store.group_window_us) */

/* Opens <path> (creating it), sets WAL, synchronous=FULL, foreign_keys=ON, busy_timeout,
 * starts the storage thread. NULL on error (message in err, which may be NULL).
 * The database file is created with mode 0600 whatever the umask, so SQLite creates its
 * -wal and -shm 0600 too (it copies the main file's mode); an existing file, -wal or -shm
 * readable by group or others is set to 0600, with a warning logged. */
store_t *store_open(const char *path, char *err, size_t errcap);
/* Drains queued work, stops the thread, closes every connection. NULL is a no-op. */
void store_close(store_t *s);

typedef int (*store_write_fn)(sqlite3 *db, void *arg);
int store_write(store_t *s, store_write_fn fn, void *arg);

/* The same unit without waiting: 0 when queued (done will be called exactly once), else a
 * STORE_E* code and done is never called. done(result, done_arg) runs on the storage thread
 * once the unit's group committed (result as store_write would have returned it); it must
 * not block nor call store_*: hand the result to another thread. It never waits for room:
 * beyond STORE_QUEUE_CAP asynchronous units queue in an overflow list, still in the order
 * they were submitted (so one thread's units run in its order: a charge before the settle
 * that follows it). Their number is the caller's to bound. Queued units are drained by
 * store_close, so every done runs before store_close returns. */
typedef void (*store_done_fn)(int result, void *done_arg);
int store_write_async(store_t *s, store_write_fn fn, void *arg, store_done_fn done, void *done_arg);

/* A unit made of parts (many messages queued together): the same as store_write /
 * store_write_async, but fn runs in the group transaction without a savepoint of the store's
 * around it and makes its own, one per part, as the outermost savepoint (SQLite's in-memory
 * sub-journal is then truncated at every part's end instead of growing over all the parts,
 * which made every statement's own savepoint walk it: quadratic in the parts). fn returns 0
 * when every part is whole (done, or rolled back to its own savepoint); anything else means a
 * part may be half-done, and the store then rolls back the whole group transaction and fails
 * every unit in it (parts already released cannot be undone one by one). If SQLite aborts the
 * transaction meanwhile, the whole group fails as with any unit. */
int store_write_parts(store_t *s, store_write_fn fn, void *arg);
int store_write_parts_async(store_t *s, store_write_fn fn, void *arg, store_done_fn done, void *done_arg);

typedef int (*store_read_fn)(sqlite3 *db, void *arg);
int store_read(store_t *s, store_read_fn fn, void *arg);

typedef struct store_migration {
    const char *module;
    int version;
    const char *sql; /* one or more statements */
} store_migration;
/* 0 on success (all applied or already present); STORE_EINVAL/STORE_EIO with a message in
 * err otherwise. Migrations applied before the failing one stay applied. */
int store_migrate(store_t *s, const store_migration *list, size_t n, char *err, size_t errcap);

/* Group commit under load: when units were queued as the previous group ended, the next
 * group starts no sooner than window_us after the previous one began (unless STORE_GROUP_MAX
 * units are queued, or a blocking store_write caller waits on a queued unit), so asynchronous
 * units arriving one by one from many callers (plugins) faster than commits complete share a
 * COMMIT (its page writes and fsync) instead of a few paying each. A store idle at the end of
 * its last group (a lone caller's unit after unit, light load) commits at once: the window
 * adds latency only under load, at most window_us, and never to a blocking caller. 0 commits
 * every group as soon as it can. Any thread; takes effect from the next group. */
void store_set_group_window(store_t *s, unsigned window_us);

typedef struct store_stats_t {
    uint64_t groups;          /* committed (or failed) group transactions */
    uint64_t units;           /* write units run */
    uint64_t units_rolled_back; /* units whose fn returned non-zero */
    uint64_t commit_failures; /* groups whose COMMIT failed */
    uint64_t queue_full_waits; /* times a caller waited for room in the queue */
    uint32_t max_group;       /* largest group so far */
    uint32_t queue_depth;     /* units queued right now */
    uint64_t checkpoints;     /* WAL checkpoints run by the checkpointer thread */
    uint64_t writer_checkpoints; /* checkpoints the storage thread ran itself, inside its commits
                                    (past 256 MiB of WAL, or with no checkpointer thread); those
                                    that copied pages, seen as syncs of the database file through
                                    the store's VFS (0 without it) */
    uint32_t group_window_us; /* the window in force (store_set_group_window) */
} store_stats_t;
void store_stats(store_t *s, store_stats_t *out);

/* The database file path given to store_open (owned by the store). */
const char *store_path(const store_t *s);

/* Fault injection (tests): make the n-th COMMIT from now fail (n = 1: the next one), through
 * SQLite's commit hook, so the transaction is really rolled back by SQLite. n = 0 disarms. */
void store_debug_fail_commit_after(store_t *s, int n);

/* Fault injection (tests), process-wide: the n-th write and/or sync (kinds) from now on any
 * file of a store's writing connection (database, WAL) fails once with SQLITE_IOERR, through
 * a pass-through VFS, so SQLite takes its real I/O-error path. n = 0 disarms. */
enum { STORE_FAULT_WRITE = 1, STORE_FAULT_SYNC = 2 };
void store_debug_fail_io(int kinds, int n);

/* Power-loss simulation (tests), process-wide. store_debug_power_log(path) starts logging,
 * for every write/truncate of a store's writing connection, the bytes it replaces, and each
 * successful fsync (NULL stops). After the process is killed, store_debug_power_loss_replay
 * (path) — from another process, with no store open on those files — puts back everything
 * written after each file's last fsync: the files are left as a power cut would leave them.
 * Both return 0, or -1 on an I/O error. */
int store_debug_power_log(const char *undo_path);
int store_debug_power_loss_replay(const char *undo_path);

/* Helpers for units and readers (any connection). */
/* Runs sql (no parameters, no result rows); SQLITE_OK or the SQLite error code. */
int store_exec(sqlite3 *db, const char *sql);
/* A prepared statement for sql on db, reused across calls: an idle statement the connection
 * already holds with the same text is handed out again instead of re-preparing (preparing
 * costs more than running most of our statements). NULL on error (see sqlite3_errmsg(db)).
 * Release it with store_stmt_release (reset + clear bindings), never sqlite3_finalize; the
 * store finalizes them when it closes the connection. Same thread rules as db. */
sqlite3_stmt *store_stmt(sqlite3 *db, const char *sql);
void store_stmt_release(sqlite3_stmt *st); /* NULL is a no-op */
/* Unix time in milliseconds from the wall clock: the one place the storage layer reads it,
 * so rows get a server-assigned time. */
int64_t store_now_ms(void);

#endif
