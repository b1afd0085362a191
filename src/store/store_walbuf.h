/*
 * store_walbuf: write-behind for a WAL file opened through the store's VFS (store_fault.c).
 *
 * SQLite appends a commit to the WAL as two writes per page (a 24-byte frame header, then the
 * page), each its own pwrite crossing into the next page of the kernel's cache: at ~30 pages
 * per commit, 60 system calls and ~90 page-cache touches where one write of the whole commit
 * would do. The VFS keeps contiguous writes here and hands them to the file as one write when
 * anything needs the file to hold them: a sync, a read that overlaps them, a size query, a
 * truncate, a write elsewhere, close, or the buffer's cap.
 *
 * Why it is safe: readers (other connections, other processes) read only frames the
 * wal-index publishes, and SQLite publishes a commit after syncing the WAL when the
 * connection runs with synchronous=FULL, which store_configure sets on every connection opened
 * through this VFS: a sync flushes first, so no published frame is ever only here. Frames
 * written before a commit (a cache spill) stay private to the writer until then; its own
 * reads of them flush first. A crash loses what is buffered, as it would lose unsynced page
 * cache: an uncommitted tail SQLite ignores on recovery.
 *
 * Ownership: one per open WAL file, owned by the VFS file object; used only by the thread
 * that holds the connection (SQLite serializes calls on one file).
 */
#ifndef PARLEY_STORE_WALBUF_H
#define PARLEY_STORE_WALBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

typedef struct store_walbuf store_walbuf;

/* Writes the buffered bytes to the file; name is the file's path for the power-loss log.
 * Returns SQLITE_OK, or the write's error (the buffered bytes are dropped then, as a failed
 * write leaves them unwritten). */
typedef int (*store_walbuf_sink)(sqlite3_file *real, const char *name, const void *data, int amt,
                                 sqlite3_int64 off);

store_walbuf *store_walbuf_new(void);
void store_walbuf_free(store_walbuf *b);

/* Takes the write if it continues the buffered run (or starts one when the buffer is empty)
 * and fits the cap: returns true. False: the caller flushes and writes it itself, or
 * retries after the flush. */
bool store_walbuf_take(store_walbuf *b, const void *data, int amt, sqlite3_int64 off);

/* Whether [off, off + amt) meets the buffered run (a read there must flush first). */
bool store_walbuf_overlaps(const store_walbuf *b, sqlite3_int64 off, int amt);

/* Hands the buffered run to sink as one write; SQLITE_OK when there was nothing to write. */
int store_walbuf_flush(store_walbuf *b, store_walbuf_sink sink, sqlite3_file *real, const char *name);

#endif
