/*
 * book.h: the billing plugin's live calls — found by call id (hash table) and ordered by when
 * each next needs the meter (a binary min-heap), so one timer serves every call and a wake-up
 * costs O(log n) whatever the number of calls.
 *
 * Threads: none of its own; the billing plugin uses it on its dispatch thread only.
 * Ownership: the book owns its entries (book_add allocates, book_remove frees).
 */
#ifndef PARLEY_BILLING_BOOK_H
#define PARLEY_BILLING_BOOK_H

#include <stddef.h>
#include <stdint.h>

#define BOOK_ID_LEN 36

typedef struct book_entry {
    char id[BOOK_ID_LEN + 1];
    int64_t wake_ms;          /* INT64_MAX: not in the heap */
    size_t heap_index;        /* the book's */
    struct book_entry *chain; /* the book's */
    void *data;               /* the plugin's */
} book_entry;

typedef struct book book;

book *book_create(void);
void book_destroy(book *b);           /* frees entries, not their data */
size_t book_count(const book *b);
book_entry *book_find(const book *b, const char *id);
/* A new entry for id (not present before), wake_ms INT64_MAX; NULL without memory. */
book_entry *book_add(book *b, const char *id);
void book_remove(book *b, book_entry *e);
/* Sets when e next needs the meter (INT64_MAX: never). */
void book_set_wake(book *b, book_entry *e, int64_t wake_ms);
/* The entry due first (NULL when none is scheduled). */
book_entry *book_earliest(const book *b);
/* Visits every entry (fn must not add or remove). */
void book_each(book *b, void (*fn)(book_entry *e, void *arg), void *arg);

#endif
