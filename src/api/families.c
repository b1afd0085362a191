/*
 * families: the in-memory set of live login families (family id -> user id). Checked on every
 * authenticated request and every Janus token check, so it must be cheap: a hash table under a
 * read-write lock. The database (devices.revoked_at) is the truth; this set is rebuilt from it
 * at start and updated after each commit that creates or revokes a family.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

#define FAM_SLOTS 4096

typedef struct fam_entry {
    struct fam_entry *next;
    uint64_t user_id;
    char family[];
} fam_entry;

struct api_families {
    pthread_rwlock_t lock;
    fam_entry *slots[FAM_SLOTS];
};

static size_t fam_slot(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return (size_t)(h % FAM_SLOTS);
}

api_families *api_families_create(void)
{
    api_families *f = calloc(1, sizeof(*f));
    if (f)
        pthread_rwlock_init(&f->lock, NULL);
    return f;
}

void api_families_destroy(api_families *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < FAM_SLOTS; i++) {
        fam_entry *e = f->slots[i];
        while (e) {
            fam_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    pthread_rwlock_destroy(&f->lock);
    free(f);
}

void api_families_add(api_families *f, const char *family, uint64_t user_id)
{
    size_t len = strlen(family);
    fam_entry *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return;
    e->user_id = user_id;
    memcpy(e->family, family, len + 1);
    size_t slot = fam_slot(family);
    pthread_rwlock_wrlock(&f->lock);
    e->next = f->slots[slot];
    f->slots[slot] = e;
    pthread_rwlock_unlock(&f->lock);
}

void api_families_remove(api_families *f, const char *family)
{
    size_t slot = fam_slot(family);
    pthread_rwlock_wrlock(&f->lock);
    for (fam_entry **pp = &f->slots[slot]; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->family, family) == 0) {
            fam_entry *e = *pp;
            *pp = e->next;
            free(e);
            break;
        }
    }
    pthread_rwlock_unlock(&f->lock);
}

bool api_families_live(api_families *f, const char *family, uint64_t user_id)
{
    bool live = false;
    size_t slot = fam_slot(family);
    pthread_rwlock_rdlock(&f->lock);
    for (fam_entry *e = f->slots[slot]; e; e = e->next)
        if (strcmp(e->family, family) == 0) {
            live = e->user_id == user_id;
            break;
        }
    pthread_rwlock_unlock(&f->lock);
    return live;
}
