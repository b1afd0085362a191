/*
 * store_walbuf.c: write-behind for WAL files (store_walbuf.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_walbuf.h"

/* A commit of a few hundred pages fits; larger ones go out in runs of this size. */
#define WALBUF_CAP (4u << 20)
#define WALBUF_FIRST (256u << 10)
/* SQLite's unix VFS keeps only the low 17 bits of a write's length (it never writes more
 * than a 64 KiB page itself): longer runs go to it in pieces of this size. */
#define WALBUF_WRITE_MAX ((size_t)64 << 10)

struct store_walbuf {
    unsigned char *data;
    size_t len, cap;
    sqlite3_int64 off; /* file offset of data[0]; meaningful while len > 0 */
};

store_walbuf *store_walbuf_new(void)
{
    return calloc(1, sizeof(store_walbuf));
}

void store_walbuf_free(store_walbuf *b)
{
    if (b)
        free(b->data);
    free(b);
}

static bool walbuf_room(store_walbuf *b, size_t need)
{
    if (need <= b->cap)
        return true;
    if (need > WALBUF_CAP)
        return false;
    size_t cap = b->cap ? b->cap : WALBUF_FIRST;
    while (cap < need)
        cap *= 2;
    if (cap > WALBUF_CAP)
        cap = WALBUF_CAP;
    unsigned char *p = realloc(b->data, cap);
    if (!p)
        return false;
    b->data = p;
    b->cap = cap;
    return true;
}

bool store_walbuf_take(store_walbuf *b, const void *data, int amt, sqlite3_int64 off)
{
    if (amt <= 0 || off < 0)
        return false;
    if (b->len > 0 && off != b->off + (sqlite3_int64)b->len)
        return false;
    if (!walbuf_room(b, b->len + (size_t)amt))
        return false;
    if (b->len == 0)
        b->off = off;
    memcpy(b->data + b->len, data, (size_t)amt);
    b->len += (size_t)amt;
    return true;
}

bool store_walbuf_overlaps(const store_walbuf *b, sqlite3_int64 off, int amt)
{
    return b->len > 0 && off < b->off + (sqlite3_int64)b->len && off + amt > b->off;
}

int store_walbuf_flush(store_walbuf *b, store_walbuf_sink sink, sqlite3_file *real, const char *name)
{
    if (b->len == 0)
        return SQLITE_OK;
    int rc = SQLITE_OK;
    for (size_t done = 0; done < b->len && rc == SQLITE_OK; done += WALBUF_WRITE_MAX) {
        size_t n = b->len - done < WALBUF_WRITE_MAX ? b->len - done : WALBUF_WRITE_MAX;
        rc = sink(real, name, b->data + done, (int)n, b->off + (sqlite3_int64)done);
    }
    b->len = 0;
    return rc;
}
