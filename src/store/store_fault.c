/*
 * store_fault.c: a pass-through SQLite VFS that can fail the N-th write or sync — fault
 * injection through the seam SQLite itself uses for its I/O-error tests.
 *
 * The store opens its writing connection through this VFS ("parley-fault"), which forwards
 * every call to the default VFS. When armed (store_debug_fail_io), the N-th xWrite or xSync
 * on any file opened through it (the database, its WAL, its journal) returns SQLITE_IOERR,
 * once; SQLite then handles a real I/O error on its real code path. Disarmed, the cost is
 * one extra indirect call and an atomic load per I/O call.
 *
 * The same seam records, when asked, what a power cut would lose (store_powerloss.c), counts
 * per thread the syncs of database files, which tell who ran the checkpoints, and holds each
 * WAL file's writes until something needs them in the file (store_walbuf.h says why that is
 * safe: it relies on synchronous=FULL, which store_configure sets).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "store/store.h"
#include "store/store_fault.h"
#include "store/store_walbuf.h"

typedef struct fault_file {
    sqlite3_file base;
    sqlite3_file *real; /* lives right after this struct, in the same allocation */
    const char *name;   /* SQLite keeps it valid until xClose; NULL for temp files */
    bool main_db;       /* a main database file (not a WAL, journal or temp file) */
    store_walbuf *wal;  /* a WAL file's pending writes; NULL for other files */
} fault_file;

static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_methods;
static atomic_int fault_countdown; /* <= 0: disarmed */
static atomic_int fault_kinds;
/* Per thread: the storage thread reads its own, no other thread touches it. */
static _Thread_local uint64_t db_syncs_here;

uint64_t store_fault_db_syncs_here(void)
{
    return db_syncs_here;
}

void store_debug_fail_io(int kinds, int n)
{
    store_fault_arm(kinds, n);
}

void store_fault_arm(int kinds, int n)
{
    atomic_store(&fault_kinds, kinds);
    atomic_store(&fault_countdown, n > 0 ? n : 0);
}

/* true when this call must fail: counts down only calls of an armed kind. */
static bool fault_hit(int kind)
{
    if (!(atomic_load(&fault_kinds) & kind))
        return false;
    int n = atomic_load(&fault_countdown);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&fault_countdown, &n, n - 1))
            return n == 1;
    }
    return false;
}

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((fault_file *)f)->real;
}

/* The write as it reaches the file (every write, buffered or not, ends here). */
static int real_write(sqlite3_file *real, const char *name, const void *buf, int amt, sqlite3_int64 off)
{
    store_powerloss_before_write(name, real, off, amt);
    return real->pMethods->xWrite(real, buf, amt, off);
}

/* Puts a WAL file's pending writes into the file before anything that must see them. */
static int flush_wal(sqlite3_file *f)
{
    fault_file *ff = (fault_file *)f;
    return ff->wal ? store_walbuf_flush(ff->wal, real_write, ff->real, ff->name) : SQLITE_OK;
}

static int f_close(sqlite3_file *f)
{
    fault_file *ff = (fault_file *)f;
    int frc = flush_wal(f);
    int rc = real_of(f)->pMethods ? real_of(f)->pMethods->xClose(real_of(f)) : SQLITE_OK;
    store_walbuf_free(ff->wal);
    ff->wal = NULL;
    f->pMethods = NULL;
    return frc != SQLITE_OK ? frc : rc;
}

static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    fault_file *ff = (fault_file *)f;
    if (ff->wal && store_walbuf_overlaps(ff->wal, off, amt)) {
        int rc = flush_wal(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    return real_of(f)->pMethods->xRead(real_of(f), buf, amt, off);
}

static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    fault_file *ff = (fault_file *)f;
    if (fault_hit(STORE_FAULT_WRITE))
        return SQLITE_IOERR_WRITE;
    if (ff->wal) {
        if (store_walbuf_take(ff->wal, buf, amt, off))
            return SQLITE_OK;
        int rc = flush_wal(f);   /* not the buffered run's continuation: that goes first */
        if (rc != SQLITE_OK)
            return rc;
        if (store_walbuf_take(ff->wal, buf, amt, off))
            return SQLITE_OK;
    }
    return real_write(ff->real, ff->name, buf, amt, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush_wal(f);
    if (rc != SQLITE_OK)
        return rc;
    store_powerloss_before_truncate(((fault_file *)f)->name, real_of(f), size);
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    if (fault_hit(STORE_FAULT_SYNC))
        return SQLITE_IOERR_FSYNC;
    int rc = flush_wal(f);
    if (rc != SQLITE_OK)
        return rc;
    rc = real_of(f)->pMethods->xSync(real_of(f), flags);
    if (rc == SQLITE_OK)
        store_powerloss_synced(((fault_file *)f)->name);
    if (((fault_file *)f)->main_db)
        db_syncs_here++;
    return rc;
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush_wal(f);
    if (rc != SQLITE_OK)
        return rc;
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int f_lock(sqlite3_file *f, int lock)
{
    return real_of(f)->pMethods->xLock(real_of(f), lock);
}

static int f_unlock(sqlite3_file *f, int lock)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), lock);
}

static int f_check_lock(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int f_control(sqlite3_file *f, int op, void *arg)
{
    int rc = flush_wal(f);
    if (rc != SQLITE_OK)
        return rc;
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int f_caps(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), pg, pgsz, extend, pp);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    return real_of(f)->pMethods->xFetch(real_of(f), off, amt, pp);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    sqlite3_vfs *parent = vfs->pAppData;
    fault_file *ff = (fault_file *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    ff->name = name;
    ff->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    ff->wal = (flags & SQLITE_OPEN_WAL) ? store_walbuf_new() : NULL;   /* NULL: writes go straight */
    int rc = parent->xOpen(parent, name, ff->real, flags, out);
    /* SQLite calls xClose only if pMethods is set: set it iff the real file is open. Our
     * methods are version 3 (shared memory, mmap), so the real ones must be too. */
    const sqlite3_io_methods *m = ff->real->pMethods;
    if (m && m->iVersion < 3) {
        m->xClose(ff->real);
        ff->real->pMethods = NULL;
        m = NULL;
        rc = SQLITE_CANTOPEN;
    }
    if (!m) {   /* SQLite will not call xClose */
        store_walbuf_free(ff->wal);
        ff->wal = NULL;
    }
    f->pMethods = m ? &fault_methods : NULL;
    return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xDelete(parent, name, sync);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xAccess(parent, name, flags, out);
}

static int v_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xFullPathname(parent, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xDlOpen(parent, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    sqlite3_vfs *parent = vfs->pAppData;
    parent->xDlError(parent, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xDlSym(parent, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
    sqlite3_vfs *parent = vfs->pAppData;
    parent->xDlClose(parent, h);
}

static int v_random(sqlite3_vfs *vfs, int n, char *out)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xRandomness(parent, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xSleep(parent, us);
}

static int v_time(sqlite3_vfs *vfs, double *out)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xCurrentTime(parent, out);
}

static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xCurrentTimeInt64(parent, out);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    sqlite3_vfs *parent = vfs->pAppData;
    return parent->xGetLastError ? parent->xGetLastError(parent, n, out) : 0;
}

static void fault_register(void)
{
    sqlite3_vfs *parent = sqlite3_vfs_find(NULL);
    if (!parent || parent->iVersion < 2)
        return;
    fault_methods = (sqlite3_io_methods){
        .iVersion = 3, .xClose = f_close, .xRead = f_read, .xWrite = f_write,
        .xTruncate = f_truncate, .xSync = f_sync, .xFileSize = f_size, .xLock = f_lock,
        .xUnlock = f_unlock, .xCheckReservedLock = f_check_lock, .xFileControl = f_control,
        .xSectorSize = f_sector, .xDeviceCharacteristics = f_caps, .xShmMap = f_shm_map,
        .xShmLock = f_shm_lock, .xShmBarrier = f_shm_barrier, .xShmUnmap = f_shm_unmap,
        .xFetch = f_fetch, .xUnfetch = f_unfetch,
    };
    fault_vfs = (sqlite3_vfs){
        .iVersion = 2, .szOsFile = (int)sizeof(fault_file) + parent->szOsFile,
        .mxPathname = parent->mxPathname, .zName = STORE_FAULT_VFS, .pAppData = parent,
        .xOpen = v_open, .xDelete = v_delete, .xAccess = v_access,
        .xFullPathname = v_fullpath, .xDlOpen = v_dlopen, .xDlError = v_dlerror,
        .xDlSym = v_dlsym, .xDlClose = v_dlclose, .xRandomness = v_random, .xSleep = v_sleep,
        .xCurrentTime = v_time, .xGetLastError = v_last_error, .xCurrentTimeInt64 = v_time64,
    };
    sqlite3_vfs_register(&fault_vfs, 0);
}

const char *store_fault_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fault_register);
    return sqlite3_vfs_find(STORE_FAULT_VFS) ? STORE_FAULT_VFS : NULL;
}
