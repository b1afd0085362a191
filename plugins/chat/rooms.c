/*
 * rooms.c: a chained hash of rooms by id (grown at load 1) and a small array of members per
 * room (a conversation has two users, each with a few devices: linear scans are the fast
 * path). See rooms.h.
 */
#include "rooms.h"

#include <stdlib.h>
#include <string.h>

struct chat_rooms {
    chat_room **buckets;
    size_t nbuckets;            /* a power of two */
    size_t count;
};

static size_t bucket_of(const chat_rooms *t, int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (t->nbuckets - 1);
}

chat_rooms *chat_rooms_new(void)
{
    chat_rooms *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->nbuckets = 64;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    return t;
}

static void member_free(chat_member *m)
{
    chat_member_clear_deferred(m);
    free(m->deferred);
    free(m);
}

static void room_free(chat_room *r)
{
    for (size_t i = 0; i < r->nmembers; i++)
        member_free(r->members[i]);
    free(r->members);
    free(r);
}

void chat_rooms_free(chat_rooms *t)
{
    if (!t)
        return;
    for (size_t b = 0; b < t->nbuckets; b++)
        for (chat_room *r = t->buckets[b], *next; r; r = next) {
            next = r->next;
            room_free(r);
        }
    free(t->buckets);
    free(t);
}

size_t chat_rooms_count(const chat_rooms *t) { return t->count; }
size_t chat_rooms_members(const chat_rooms *t)
{
    size_t n = 0;
    for (size_t b = 0; b < t->nbuckets; b++)
        for (const chat_room *r = t->buckets[b]; r; r = r->next)
            n += r->nmembers;
    return n;
}

chat_room *chat_rooms_find(chat_rooms *t, int64_t id)
{
    for (chat_room *r = t->buckets[bucket_of(t, id)]; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void grow(chat_rooms *t)
{
    size_t n = t->nbuckets * 2;
    chat_room **b = calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    chat_room **old = t->buckets;
    size_t old_n = t->nbuckets;
    t->buckets = b;
    t->nbuckets = n;
    for (size_t i = 0; i < old_n; i++)
        for (chat_room *r = old[i], *next; r; r = next) {
            next = r->next;
            size_t k = bucket_of(t, r->id);
            r->next = b[k];
            b[k] = r;
        }
    free(old);
}

chat_room *chat_rooms_open(chat_rooms *t, int64_t id, uint64_t caller_id, uint64_t host_id)
{
    chat_room *r = chat_rooms_find(t, id);
    if (r)
        return r;
    if (t->count + 1 > t->nbuckets)
        grow(t);
    r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->id = id;
    r->caller_id = caller_id;
    r->host_id = host_id;
    size_t k = bucket_of(t, id);
    r->next = t->buckets[k];
    t->buckets[k] = r;
    t->count++;
    return r;
}

void chat_rooms_close_if_empty(chat_rooms *t, chat_room *room)
{
    if (!room || room->nmembers)
        return;
    for (chat_room **p = &t->buckets[bucket_of(t, room->id)]; *p; p = &(*p)->next)
        if (*p == room) {
            *p = room->next;
            t->count--;
            room_free(room);
            return;
        }
}

chat_member *chat_room_member(chat_room *room, const void *device)
{
    for (size_t i = 0; i < room->nmembers; i++)
        if (room->members[i]->device == device)
            return room->members[i];
    return NULL;
}

chat_member *chat_room_join(chat_room *room, void *device, uint64_t user_id, const char *label)
{
    if (room->nmembers == room->members_cap) {
        size_t cap = room->members_cap ? room->members_cap * 2 : 4;
        chat_member **m = realloc(room->members, cap * sizeof *m);
        if (!m)
            return NULL;
        room->members = m;
        room->members_cap = cap;
    }
    chat_member *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->device = device;
    m->user_id = user_id;
    m->catching_up = true;
    strncpy(m->label, label ? label : "", CHAT_LABEL_MAX - 1);
    room->members[room->nmembers++] = m;
    return m;
}

void chat_room_leave(chat_room *room, chat_member *m)
{
    for (size_t i = 0; i < room->nmembers; i++)
        if (room->members[i] == m) {
            room->members[i] = room->members[--room->nmembers];
            member_free(m);
            return;
        }
}

size_t chat_room_user_devices(const chat_room *room, uint64_t user_id)
{
    size_t n = 0;
    for (size_t i = 0; i < room->nmembers; i++)
        n += room->members[i]->user_id == user_id;
    return n;
}

uint64_t chat_room_peer_of(const chat_room *room, uint64_t user_id)
{
    return user_id == room->caller_id ? room->host_id : room->caller_id;
}

int chat_member_defer(chat_member *m, int64_t seq, const char *json)
{
    if (m->ndeferred == m->deferred_cap) {
        size_t cap = m->deferred_cap ? m->deferred_cap * 2 : 8;
        chat_deferred *d = realloc(m->deferred, cap * sizeof *d);
        if (!d)
            return -1;
        m->deferred = d;
        m->deferred_cap = cap;
    }
    char *copy = strdup(json);
    if (!copy)
        return -1;
    m->deferred[m->ndeferred++] = (chat_deferred){.seq = seq, .json = copy};
    return 0;
}

static int by_seq(const void *a, const void *b)
{
    int64_t x = ((const chat_deferred *)a)->seq, y = ((const chat_deferred *)b)->seq;
    return (x > y) - (x < y);
}

void chat_member_settle_deferred(chat_member *m, int64_t sent_up_to)
{
    if (m->ndeferred == 0)
        return; /* deferred may be NULL: qsort(NULL, 0, ...) is undefined (UBSan halts on it) */
    qsort(m->deferred, m->ndeferred, sizeof *m->deferred, by_seq);
    size_t kept = 0;
    int64_t last = sent_up_to;
    for (size_t i = 0; i < m->ndeferred; i++) {
        chat_deferred d = m->deferred[i];
        if (d.seq <= last) {
            free(d.json);
            continue;
        }
        last = d.seq;
        m->deferred[kept++] = d;
    }
    m->ndeferred = kept;
}

void chat_member_clear_deferred(chat_member *m)
{
    for (size_t i = 0; i < m->ndeferred; i++)
        free(m->deferred[i].json);
    m->ndeferred = 0;
}
