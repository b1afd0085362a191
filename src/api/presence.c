/*
 * presence: who is online (has live Janus sessions) and who is busy (in a call), memory only.
 * The core reports session open/close; a user is online while the count is above zero, so a
 * host with two devices stays online until both are gone.
 */
#include <pthread.h>
#include <stdlib.h>

#include "api/internal.h"

#define PRESENCE_SLOTS 1024

typedef struct presence_entry {
    struct presence_entry *next;
    uint64_t user_id;
    int sessions;
    bool busy;
} presence_entry;

struct api_presence {
    pthread_mutex_t mu;
    presence_entry *slots[PRESENCE_SLOTS];
};

api_presence *api_presence_create(void)
{
    api_presence *pr = calloc(1, sizeof(*pr));
    if (pr)
        pthread_mutex_init(&pr->mu, NULL);
    return pr;
}

void api_presence_destroy(api_presence *pr)
{
    if (!pr)
        return;
    for (size_t i = 0; i < PRESENCE_SLOTS; i++) {
        presence_entry *e = pr->slots[i];
        while (e) {
            presence_entry *n = e->next;
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&pr->mu);
    free(pr);
}

/* Finds (create = true: or makes) the entry. Called with mu held. */
static presence_entry *presence_find(api_presence *pr, uint64_t user_id, bool create)
{
    size_t slot = (size_t)(user_id % PRESENCE_SLOTS);
    for (presence_entry *e = pr->slots[slot]; e; e = e->next)
        if (e->user_id == user_id)
            return e;
    if (!create)
        return NULL;
    presence_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->user_id = user_id;
    e->next = pr->slots[slot];
    pr->slots[slot] = e;
    return e;
}

/* Entries with nothing to say are dropped so memory follows the number of online users. */
static void presence_gc(api_presence *pr, uint64_t user_id)
{
    size_t slot = (size_t)(user_id % PRESENCE_SLOTS);
    for (presence_entry **pp = &pr->slots[slot]; *pp; pp = &(*pp)->next) {
        presence_entry *e = *pp;
        if (e->user_id == user_id) {
            if (e->sessions <= 0 && !e->busy) {
                *pp = e->next;
                free(e);
            }
            return;
        }
    }
}

void api_presence_open(api_presence *pr, uint64_t user_id)
{
    pthread_mutex_lock(&pr->mu);
    presence_entry *e = presence_find(pr, user_id, true);
    if (e)
        e->sessions++;
    pthread_mutex_unlock(&pr->mu);
}

void api_presence_close(api_presence *pr, uint64_t user_id)
{
    pthread_mutex_lock(&pr->mu);
    presence_entry *e = presence_find(pr, user_id, false);
    if (e && e->sessions > 0)
        e->sessions--;
    presence_gc(pr, user_id);
    pthread_mutex_unlock(&pr->mu);
}

void api_presence_busy(api_presence *pr, uint64_t user_id, bool busy)
{
    pthread_mutex_lock(&pr->mu);
    presence_entry *e = presence_find(pr, user_id, busy);
    if (e)
        e->busy = busy;
    presence_gc(pr, user_id);
    pthread_mutex_unlock(&pr->mu);
}

api_availability api_presence_get(api_presence *pr, uint64_t user_id)
{
    api_availability a = API_OFFLINE;
    pthread_mutex_lock(&pr->mu);
    presence_entry *e = presence_find(pr, user_id, false);
    if (e && e->sessions > 0)
        a = e->busy ? API_BUSY : API_ONLINE;
    pthread_mutex_unlock(&pr->mu);
    return a;
}

const char *api_availability_name(api_availability a)
{
    return a == API_BUSY ? "busy" : a == API_ONLINE ? "online" : "offline";
}

json_t *api_presence_online_ids(api_presence *pr)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&pr->mu);
    for (size_t i = 0; i < PRESENCE_SLOTS; i++)
        for (presence_entry *e = pr->slots[i]; e; e = e->next)
            if (e->sessions > 0)
                json_array_append_new(arr, json_integer((json_int_t)e->user_id));
    pthread_mutex_unlock(&pr->mu);
    return arr;
}
