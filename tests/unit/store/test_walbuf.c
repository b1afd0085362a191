/*
 * test_walbuf: the WAL write-behind buffer (src/store/store_walbuf.c) against a recording
 * sink: contiguous writes become one run, anything else is refused for the caller to flush
 * first, reads that meet the run are told so, a flush hands the run over in pieces the
 * default VFS takes whole (<= 64 KiB) at the right offsets and in order, and a failed flush
 * drops the run.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "store/store_walbuf.h"

#define FILE_MAX (8 << 20)

static unsigned char file[FILE_MAX];   /* what the sink wrote */
static int sink_calls, sink_max, fail_next;
static sqlite3_int64 sink_last_end;
static bool sink_in_order;

static int sink(sqlite3_file *real, const char *name, const void *data, int amt, sqlite3_int64 off)
{
    (void)real;
    (void)name;
    if (fail_next) {
        fail_next = 0;
        return SQLITE_IOERR_WRITE;
    }
    sink_calls++;
    if (amt > sink_max)
        sink_max = amt;
    if (sink_calls > 1 && off != sink_last_end)
        sink_in_order = false;
    sink_last_end = off + amt;
    memcpy(file + off, data, (size_t)amt);
    return SQLITE_OK;
}

static void sink_reset(void)
{
    sink_calls = sink_max = 0;
    sink_in_order = true;
    memset(file, 0, sizeof file);
}

/* Frames as SQLite writes them: a 24-byte header, then a 4096-byte page. */
static void test_frames_one_run(void)
{
    store_walbuf *b = store_walbuf_new();
    sink_reset();
    unsigned char hdr[24], page[4096];
    sqlite3_int64 off = 32;
    CHECK(store_walbuf_take(b, "WALHEADER-32-BYTES-LONG.........", 32, 0));
    for (int i = 0; i < 100; i++) {   /* 100 frames: 412 000 bytes, more than one piece */
        memset(hdr, 'h' + i % 3, sizeof hdr);
        memset(page, i, sizeof page);
        CHECK(store_walbuf_take(b, hdr, sizeof hdr, off));
        CHECK(store_walbuf_take(b, page, sizeof page, off + 24));
        off += 24 + 4096;
    }
    CHECK_INT(sink_calls, 0);
    CHECK(store_walbuf_overlaps(b, 100, 10));
    CHECK(!store_walbuf_overlaps(b, off, 4096));
    CHECK_INT(store_walbuf_flush(b, sink, NULL, "x-wal"), SQLITE_OK);
    CHECK_INT(sink_calls, (int)((off + 65535) / 65536));
    CHECK(sink_max <= 65536);
    CHECK(sink_in_order);
    CHECK_INT(sink_last_end, off);
    CHECK(memcmp(file, "WALHEADER", 9) == 0);
    CHECK_INT(file[32 + 99 * 4120 + 24], 99);   /* the last page's first byte */
    CHECK_INT(file[32 + 99 * 4120], 'h' + 0);
    CHECK(!store_walbuf_overlaps(b, 100, 10));   /* nothing pending after a flush */
    CHECK_INT(store_walbuf_flush(b, sink, NULL, "x-wal"), SQLITE_OK);   /* empty: no write */
    CHECK_INT(sink_calls, (int)((off + 65535) / 65536));
    store_walbuf_free(b);
}

/* A write that does not continue the run (a rewritten frame, a WAL restarting at 0) is
 * refused while the run is pending, and taken once it was flushed. */
static void test_not_contiguous(void)
{
    store_walbuf *b = store_walbuf_new();
    sink_reset();
    CHECK(store_walbuf_take(b, "abcd", 4, 1000));
    CHECK(!store_walbuf_take(b, "WXYZ", 4, 1000));   /* same place: a rewrite */
    CHECK(!store_walbuf_take(b, "0123", 4, 0));      /* earlier */
    CHECK(!store_walbuf_take(b, "gap!", 4, 1005));   /* a gap */
    CHECK(store_walbuf_take(b, "efgh", 4, 1004));
    CHECK_INT(store_walbuf_flush(b, sink, NULL, "x-wal"), SQLITE_OK);
    CHECK(memcmp(file + 1000, "abcdefgh", 8) == 0);
    CHECK(store_walbuf_take(b, "WXYZ", 4, 1000));    /* after the flush: a new run */
    CHECK_INT(store_walbuf_flush(b, sink, NULL, "x-wal"), SQLITE_OK);
    CHECK(memcmp(file + 1000, "WXYZefgh", 8) == 0);
    CHECK(!store_walbuf_take(b, "x", 0, 0));         /* nothing to take */
    CHECK(!store_walbuf_take(b, "x", 1, -1));
    store_walbuf_free(b);
}

/* Up to the cap (4 MiB) in one run; past it the caller flushes and goes on. */
static void test_cap(void)
{
    store_walbuf *b = store_walbuf_new();
    sink_reset();
    static unsigned char chunk[1 << 20];
    memset(chunk, 7, sizeof chunk);
    for (int i = 0; i < 4; i++)
        CHECK(store_walbuf_take(b, chunk, sizeof chunk, (sqlite3_int64)i << 20));
    CHECK(!store_walbuf_take(b, chunk, 1, 4 << 20));
    CHECK_INT(store_walbuf_flush(b, sink, NULL, "x-wal"), SQLITE_OK);
    CHECK(store_walbuf_take(b, chunk, 1, 4 << 20));
    CHECK(!store_walbuf_take(b, chunk, 5 << 20, (4 << 20) + 1));   /* never fits: written directly */
    CHECK_INT(store_walbuf_flush(b, sink, NULL, "x-wal"), SQLITE_OK);
    CHECK_INT(sink_last_end, (4 << 20) + 1);
    store_walbuf_free(b);
}

/* A failed write returns its error once; the run is gone (SQLite rolls the commit back and
 * rewrites its frames), and the next run starts clean. */
static void test_failure(void)
{
    store_walbuf *b = store_walbuf_new();
    sink_reset();
    CHECK(store_walbuf_take(b, "abcd", 4, 0));
    fail_next = 1;
    CHECK_INT(store_walbuf_flush(b, sink, NULL, "x-wal"), SQLITE_IOERR_WRITE);
    CHECK(!store_walbuf_overlaps(b, 0, 4));
    CHECK(store_walbuf_take(b, "efgh", 4, 4096));
    CHECK_INT(store_walbuf_flush(b, sink, NULL, "x-wal"), SQLITE_OK);
    CHECK(memcmp(file + 4096, "efgh", 4) == 0);
    CHECK_INT(file[0], 0);
    store_walbuf_free(b);
    store_walbuf_free(NULL);
}

int main(void)
{
    test_frames_one_run();
    test_not_contiguous();
    test_cap();
    test_failure();
    return check_summary("walbuf");
}
