/*
 * registry.c: username -> registered sessions (see registry.h).
 *
 * A flat array of names, each with its array of sessions: registrations and lookups happen
 * once per register/call/list request, and a self-hosted server has at most a few thousand
 * registered users, so a linear scan costs microseconds; a hash index can come with the bus.
 * Threads: dispatch thread only. Ownership: the registry owns the name copies and arrays.
 */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

typedef struct registry_name {
    char *username;
    void **sessions;
    size_t n, cap;
} registry_name;

struct registry {
    registry_name *names;
    size_t n, cap;
};

registry *vc_registry_create(void) { return calloc(1, sizeof(registry)); }

void vc_registry_destroy(registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->names[i].username);
        free(r->names[i].sessions);
    }
    free(r->names);
    free(r);
}

static registry_name *find_name(const registry *r, const char *username)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->names[i].username, username) == 0)
            return &r->names[i];
    return NULL;
}

/* The capacity after growing one that is full. */
static size_t next_cap(size_t cap) { return cap ? cap * 2 : 4; }

static registry_name *add_name(registry *r, const char *username)
{
    if (r->n == r->cap) {
        registry_name *names = realloc(r->names, next_cap(r->cap) * sizeof *names);
        if (!names)
            return NULL;
        r->names = names;
        r->cap = next_cap(r->cap);
    }
    size_t len = strlen(username) + 1;
    char *copy = malloc(len);
    if (!copy)
        return NULL;
    memcpy(copy, username, len);
    registry_name *e = &r->names[r->n++];
    *e = (registry_name){.username = copy};
    return e;
}

int vc_registry_add(registry *r, const char *username, void *session)
{
    registry_name *e = find_name(r, username);
    if (!e && !(e = add_name(r, username)))
        return -1;
    if (e->n == e->cap) {
        void **sessions = realloc(e->sessions, next_cap(e->cap) * sizeof *sessions);
        if (!sessions) {
            if (e->n == 0) /* a name with no session must not linger */
                vc_registry_remove(r, username, NULL);
            return -1;
        }
        e->sessions = sessions;
        e->cap = next_cap(e->cap);
    }
    e->sessions[e->n++] = session;
    return 0;
}

void vc_registry_remove(registry *r, const char *username, void *session)
{
    registry_name *e = find_name(r, username);
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++) {
        if (e->sessions[i] == session) {
            memmove(&e->sessions[i], &e->sessions[i + 1], (e->n - i - 1) * sizeof *e->sessions);
            e->n--;
            break;
        }
    }
    if (e->n > 0)
        return;
    /* Last device gone: the name is free again (and leaves "list"). */
    free(e->username);
    free(e->sessions);
    size_t at = (size_t)(e - r->names);
    memmove(&r->names[at], &r->names[at + 1], (r->n - at - 1) * sizeof *r->names);
    r->n--;
}

size_t vc_registry_devices(const registry *r, const char *username, void *const **devices)
{
    registry_name *e = find_name(r, username);
    *devices = e ? e->sessions : NULL;
    return e ? e->n : 0;
}

size_t vc_registry_name_count(const registry *r) { return r->n; }

const char *vc_registry_name_at(const registry *r, size_t i)
{
    return i < r->n ? r->names[i].username : NULL;
}

void *vc_registry_other_leg(const call *c, const void *leg) { return vc_call_other_party(c, leg); }
