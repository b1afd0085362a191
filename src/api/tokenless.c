/*
 * tokenless: the "no push token" notes (tokenless.h). A GHashTable of user id -> epoch under
 * a pthread mutex (ThreadSanitizer sees it; GLib's GMutex it does not); the epoch itself is
 * an atomic so a writer's bump never waits for the lock.
 */
#include "api/tokenless.h"

#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct api_tokenless {
    _Atomic uint64_t epoch;
    pthread_mutex_t mu;
    GHashTable *notes;   /* uint64 user id -> uint64 epoch, both boxed in one allocation */
};

typedef struct note {
    uint64_t user_id;
    uint64_t epoch;
} note;

static guint note_hash(gconstpointer k) { return g_int64_hash(k); }
static gboolean note_equal(gconstpointer a, gconstpointer b) { return g_int64_equal(a, b); }

api_tokenless *api_tokenless_create(void)
{
    api_tokenless *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    pthread_mutex_init(&t->mu, NULL);
    /* the key is the note's first field: one allocation per note, freed as the key */
    t->notes = g_hash_table_new_full(note_hash, note_equal, g_free, NULL);
    return t;
}

void api_tokenless_destroy(api_tokenless *t)
{
    if (!t)
        return;
    g_hash_table_destroy(t->notes);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

uint64_t api_tokenless_epoch(api_tokenless *t)
{
    return atomic_load_explicit(&t->epoch, memory_order_acquire);
}

void api_tokenless_note(api_tokenless *t, uint64_t user_id, uint64_t epoch)
{
    note *n = g_new(note, 1);
    *n = (note){.user_id = user_id, .epoch = epoch};
    pthread_mutex_lock(&t->mu);
    if (g_hash_table_size(t->notes) >= API_TOKENLESS_MAX)
        g_hash_table_remove_all(t->notes);
    g_hash_table_replace(t->notes, n, n);
    pthread_mutex_unlock(&t->mu);
}

bool api_tokenless_known(api_tokenless *t, uint64_t user_id)
{
    uint64_t now = api_tokenless_epoch(t);
    pthread_mutex_lock(&t->mu);
    const note *n = g_hash_table_lookup(t->notes, &user_id);
    bool known = n && n->epoch == now;
    pthread_mutex_unlock(&t->mu);
    return known;
}

void api_tokenless_changed(api_tokenless *t)
{
    atomic_fetch_add_explicit(&t->epoch, 1, memory_order_acq_rel);
}
