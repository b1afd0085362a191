/*
 * store_powerloss.c: power-loss simulation for the store's files (tests only).
 *
 * Model: on a power cut, whatever was written to a file since its last successful fsync is
 * lost; what was synced stays. To reproduce that after a kill -9 (where the page cache would
 * otherwise keep every write), the fault VFS calls in here around each write, truncate and
 * sync of the writing connection's files while a log is open:
 *   - before a write/truncate: append to the undo log the bytes about to be overwritten (or
 *     cut) and the file's size, in ONE write() so a record is never half there;
 *   - after a successful sync: append a marker "this file is durable up to here".
 * store_debug_power_loss_replay then walks the log backwards and puts back, for each file,
 * every change made after that file's last sync marker: the files end up as a power cut
 * would have left them. The log lives in the page cache too, which survives kill -9.
 *
 * Record: type (1 byte: 'W' write, 'T' truncate, 'S' synced), name length (u32), offset
 * (i64), old size (i64), data length (u32), name, data (old bytes that existed).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_fault.h"
#include "util/log.h"

#define PL_HDR (1 + 4 + 8 + 8 + 4)
#define PL_MAX_SAVE (64 << 20)

static pthread_mutex_t pl_mu = PTHREAD_MUTEX_INITIALIZER;
static int pl_fd = -1;

int store_debug_power_log(const char *undo_path)
{
    pthread_mutex_lock(&pl_mu);
    if (pl_fd >= 0)
        close(pl_fd);
    pl_fd = undo_path ? open(undo_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600)
                      : -1;
    int rc = undo_path && pl_fd < 0 ? -1 : 0;
    pthread_mutex_unlock(&pl_mu);
    return rc;
}

bool store_powerloss_active(void)
{
    return __atomic_load_n(&pl_fd, __ATOMIC_RELAXED) >= 0;
}

static void pl_put(uint8_t *p, const void *v, size_t n)
{
    memcpy(p, v, n);
}

/* Appends one record (under pl_mu). */
static void pl_append(char type, const char *name, int64_t off, int64_t old_size,
                      const void *data, uint32_t len)
{
    uint32_t nlen = (uint32_t)strlen(name);
    size_t total = PL_HDR + nlen + len;
    uint8_t *rec = malloc(total);
    if (!rec)
        return;
    rec[0] = (uint8_t)type;
    pl_put(rec + 1, &nlen, 4);
    pl_put(rec + 5, &off, 8);
    pl_put(rec + 13, &old_size, 8);
    pl_put(rec + 21, &len, 4);
    memcpy(rec + PL_HDR, name, nlen);
    if (len)
        memcpy(rec + PL_HDR + nlen, data, len);
    pthread_mutex_lock(&pl_mu);
    if (pl_fd >= 0 && write(pl_fd, rec, total) != (ssize_t)total)
        LOG_ERROR("store", "power-loss log: short write");
    pthread_mutex_unlock(&pl_mu);
    free(rec);
}

/* Saves [off, off + amt) of the file as it is now (the part below its current size). */
static void pl_save(char type, const char *name, sqlite3_file *real, int64_t off, int64_t amt)
{
    sqlite3_int64 size = 0;
    if (real->pMethods->xFileSize(real, &size) != SQLITE_OK)
        return;
    int64_t keep = off >= size ? 0 : (off + amt > size ? size - off : amt);
    if (keep > PL_MAX_SAVE)
        keep = PL_MAX_SAVE;
    void *old = keep ? malloc((size_t)keep) : NULL;
    if (keep && (!old || real->pMethods->xRead(real, old, (int)keep, off) != SQLITE_OK))
        keep = 0;
    pl_append(type, name, off, size, old, (uint32_t)keep);
    free(old);
}

void store_powerloss_before_write(const char *name, sqlite3_file *real, int64_t off, int amt)
{
    if (name && store_powerloss_active())
        pl_save('W', name, real, off, amt);
}

void store_powerloss_before_truncate(const char *name, sqlite3_file *real, int64_t size)
{
    sqlite3_int64 cur = 0;
    if (!name || !store_powerloss_active() || real->pMethods->xFileSize(real, &cur) != SQLITE_OK)
        return;
    if (cur > size)
        pl_save('T', name, real, size, cur - size);
}

void store_powerloss_synced(const char *name)
{
    if (name && store_powerloss_active())
        pl_append('S', name, 0, 0, NULL, 0);
}

/* ---- replay ---- */

typedef struct pl_rec {
    char type;
    const char *name; /* points into the log buffer, not terminated: use nlen */
    uint32_t nlen, len;
    int64_t off, old_size;
    const uint8_t *data;
} pl_rec;

static size_t pl_parse(const uint8_t *buf, size_t n, pl_rec **out)
{
    size_t cap = 64, count = 0, pos = 0;
    pl_rec *recs = malloc(cap * sizeof *recs);
    while (recs && pos + PL_HDR <= n) {
        pl_rec r = {.type = (char)buf[pos]};
        memcpy(&r.nlen, buf + pos + 1, 4);
        memcpy(&r.off, buf + pos + 5, 8);
        memcpy(&r.old_size, buf + pos + 13, 8);
        memcpy(&r.len, buf + pos + 21, 4);
        if (pos + PL_HDR + (size_t)r.nlen + r.len > n)
            break; /* a record cut by the kill: it was never acted on */
        r.name = (const char *)buf + pos + PL_HDR;
        r.data = buf + pos + PL_HDR + r.nlen;
        pos += PL_HDR + r.nlen + r.len;
        if (count == cap) {
            pl_rec *more = realloc(recs, 2 * cap * sizeof *recs);
            if (!more)
                break;
            recs = more;
            cap *= 2;
        }
        recs[count++] = r;
    }
    *out = recs;
    return count;
}

static bool pl_same(const pl_rec *a, const pl_rec *b)
{
    return a->nlen == b->nlen && memcmp(a->name, b->name, a->nlen) == 0;
}

/* Undoes one write or truncate: old bytes back, then the old size. */
static int pl_undo(const pl_rec *r)
{
    char path[4096];
    if (r->nlen >= sizeof path)
        return -1;
    memcpy(path, r->name, r->nlen);
    path[r->nlen] = '\0';
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* the file is gone (deleted WAL): nothing to put back */
    int rc = 0;
    if (r->len && pwrite(fd, r->data, r->len, r->off) != (ssize_t)r->len)
        rc = -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > r->old_size && ftruncate(fd, r->old_size) != 0)
        rc = -1;
    close(fd);
    return rc;
}

int store_debug_power_loss_replay(const char *undo_path)
{
    int fd = open(undo_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    uint8_t *buf = NULL;
    int rc = -1;
    if (fstat(fd, &st) != 0 || !(buf = malloc((size_t)st.st_size + 1)) ||
        read(fd, buf, (size_t)st.st_size) != st.st_size)
        goto out;
    pl_rec *recs;
    size_t n = pl_parse(buf, (size_t)st.st_size, &recs);
    if (!recs)
        goto out;
    rc = 0;
    /* Backwards: once a file's 'S' marker is passed, its older records are durable; the
     * ones met before that (the newest) are undone in reverse order, so the file ends
     * exactly as it was at its last sync. */
    const pl_rec *synced[16];
    size_t nsynced = 0;
    for (size_t i = n; i-- > 0;) {
        bool durable = false;
        for (size_t k = 0; k < nsynced && !durable; k++)
            durable = pl_same(synced[k], &recs[i]);
        if (recs[i].type == 'S') {
            if (!durable && nsynced < sizeof synced / sizeof synced[0])
                synced[nsynced++] = &recs[i];
        } else if (!durable && pl_undo(&recs[i]) != 0) {
            rc = -1;
        }
    }
    free(recs);
out:
    free(buf);
    close(fd);
    return rc;
}
