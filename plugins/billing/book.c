/*
 * book.c: see book.h. Chained hash table (FNV-1a of the id, doubled at load 1) plus an array
 * heap of entry pointers; each entry knows its heap slot so a reschedule is a sift.
 */
#include "book.h"

#include <stdlib.h>
#include <string.h>

#define NOT_IN_HEAP ((size_t)-1)

struct book {
    book_entry **buckets;
    size_t nbuckets, count;
    book_entry **heap;
    size_t heap_len, heap_cap;
};

static size_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)h;
}

book *book_create(void)
{
    book *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->nbuckets = 256;
    b->buckets = calloc(b->nbuckets, sizeof *b->buckets);
    if (!b->buckets) {
        free(b);
        return NULL;
    }
    return b;
}

void book_destroy(book *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nbuckets; i++)
        for (book_entry *e = b->buckets[i], *next; e; e = next) {
            next = e->chain;
            free(e);
        }
    free(b->buckets);
    free(b->heap);
    free(b);
}

size_t book_count(const book *b) { return b->count; }

book_entry *book_find(const book *b, const char *id)
{
    for (book_entry *e = b->buckets[hash_id(id) & (b->nbuckets - 1)]; e; e = e->chain)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

static void grow_buckets(book *b)
{
    size_t n = b->nbuckets * 2;
    book_entry **nb = calloc(n, sizeof *nb);
    if (!nb)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < b->nbuckets; i++)
        for (book_entry *e = b->buckets[i], *next; e; e = next) {
            next = e->chain;
            size_t k = hash_id(e->id) & (n - 1);
            e->chain = nb[k];
            nb[k] = e;
        }
    free(b->buckets);
    b->buckets = nb;
    b->nbuckets = n;
}

book_entry *book_add(book *b, const char *id)
{
    if (strlen(id) > BOOK_ID_LEN)
        return NULL;
    book_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    strcpy(e->id, id);
    e->wake_ms = INT64_MAX;
    e->heap_index = NOT_IN_HEAP;
    if (b->count >= b->nbuckets)
        grow_buckets(b);
    size_t k = hash_id(id) & (b->nbuckets - 1);
    e->chain = b->buckets[k];
    b->buckets[k] = e;
    b->count++;
    return e;
}

/* ---- heap ---- */

static void heap_place(book *b, size_t i, book_entry *e)
{
    b->heap[i] = e;
    e->heap_index = i;
}

static void sift_up(book *b, size_t i)
{
    book_entry *e = b->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (b->heap[parent]->wake_ms <= e->wake_ms)
            break;
        heap_place(b, i, b->heap[parent]);
        i = parent;
    }
    heap_place(b, i, e);
}

static void sift_down(book *b, size_t i)
{
    book_entry *e = b->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= b->heap_len)
            break;
        if (child + 1 < b->heap_len && b->heap[child + 1]->wake_ms < b->heap[child]->wake_ms)
            child++;
        if (b->heap[child]->wake_ms >= e->wake_ms)
            break;
        heap_place(b, i, b->heap[child]);
        i = child;
    }
    heap_place(b, i, e);
}

static void heap_remove(book *b, book_entry *e)
{
    size_t i = e->heap_index;
    if (i == NOT_IN_HEAP)
        return;
    e->heap_index = NOT_IN_HEAP;
    book_entry *last = b->heap[--b->heap_len];
    if (last == e)
        return;
    heap_place(b, i, last);
    sift_up(b, i);
    sift_down(b, last->heap_index);
}

static int heap_insert(book *b, book_entry *e)
{
    if (b->heap_len == b->heap_cap) {
        size_t cap = b->heap_cap ? b->heap_cap * 2 : 64;
        book_entry **h = realloc(b->heap, cap * sizeof *h);
        if (!h)
            return -1;
        b->heap = h;
        b->heap_cap = cap;
    }
    heap_place(b, b->heap_len++, e);
    sift_up(b, e->heap_index);
    return 0;
}

void book_set_wake(book *b, book_entry *e, int64_t wake_ms)
{
    heap_remove(b, e);
    e->wake_ms = wake_ms;
    if (wake_ms != INT64_MAX && heap_insert(b, e) != 0)
        e->wake_ms = INT64_MAX;
}

book_entry *book_earliest(const book *b) { return b->heap_len ? b->heap[0] : NULL; }

void book_remove(book *b, book_entry *e)
{
    heap_remove(b, e);
    for (book_entry **p = &b->buckets[hash_id(e->id) & (b->nbuckets - 1)]; *p; p = &(*p)->chain)
        if (*p == e) {
            *p = e->chain;
            break;
        }
    b->count--;
    free(e);
}

void book_each(book *b, void (*fn)(book_entry *e, void *arg), void *arg)
{
    for (size_t i = 0; i < b->nbuckets; i++)
        for (book_entry *e = b->buckets[i]; e; e = e->chain)
            fn(e, arg);
}
