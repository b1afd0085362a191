/*
 * rings: see rings.h. A list, newest first: calls ring for seconds, so it stays short.
 */
#include "push/rings.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct push_rings {
    pthread_mutex_t lock;
    push_ring *list;
    size_t n;
};

push_rings *push_rings_new(void)
{
    push_rings *t = calloc(1, sizeof *t);
    if (t)
        pthread_mutex_init(&t->lock, NULL);
    return t;
}

void push_ring_free(push_ring *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->targets[i].family);
        free((char *)r->targets[i].value);
    }
    free(r->targets);
    free(r->call_id);
    free(r->caller_name);
    free(r);
}

void push_rings_free(push_rings *t)
{
    if (!t)
        return;
    while (t->list) {
        push_ring *r = t->list;
        t->list = r->next;
        push_ring_free(r);
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Drops expired records, and the oldest (the tail) beyond the bound. Locked. */
static void prune(push_rings *t, int64_t now)
{
    for (push_ring **p = &t->list; *p;) {
        push_ring *r = *p;
        if (r->expires_ms <= now || (t->n > PUSH_RINGS_MAX && !r->next)) {
            *p = r->next;
            push_ring_free(r);
            t->n--;
        } else {
            p = &r->next;
        }
    }
}

static push_ring *ring_copy(const char *call_id, const char *caller_name, const push_target *targets, size_t n)
{
    push_ring *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->call_id = strdup(call_id);
    r->caller_name = strdup(caller_name ? caller_name : "");
    r->targets = calloc(n ? n : 1, sizeof *r->targets);
    bool ok = r->call_id && r->caller_name && r->targets;
    for (size_t i = 0; ok && i < n; i++) {
        push_target c = {.kind = targets[i].kind, .family = strdup(targets[i].family ? targets[i].family : ""),
                         .value = strdup(targets[i].value ? targets[i].value : "")};
        if (!c.family || !c.value) {
            free((char *)c.family);
            free((char *)c.value);
            ok = false;
            break;
        }
        r->targets[r->n++] = c;
    }
    if (!ok) {
        push_ring_free(r);
        return NULL;
    }
    return r;
}

void push_rings_remember(push_rings *t, const char *call_id, const char *caller_name, const push_target *targets,
                         size_t n, int64_t expires_ms, int64_t now_ms)
{
    push_ring *r = call_id ? ring_copy(call_id, caller_name, targets, n) : NULL;
    if (!r)
        return;   /* out of memory: that call's ring gets no stop push */
    r->expires_ms = expires_ms;
    pthread_mutex_lock(&t->lock);
    r->next = t->list;
    t->list = r;
    t->n++;
    prune(t, now_ms);
    pthread_mutex_unlock(&t->lock);
}

push_ring *push_rings_take(push_rings *t, const char *call_id, int64_t now_ms)
{
    push_ring *found = NULL;
    pthread_mutex_lock(&t->lock);
    prune(t, now_ms);
    for (push_ring **p = &t->list; *p; p = &(*p)->next) {
        if (strcmp((*p)->call_id, call_id) == 0) {
            found = *p;
            *p = found->next;
            t->n--;
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

void push_rings_forget(push_rings *t, const char *family, const char *value)
{
    pthread_mutex_lock(&t->lock);
    for (push_ring *r = t->list; r; r = r->next) {
        for (size_t i = 0; i < r->n;) {
            if (strcmp(r->targets[i].family, family) == 0 && strcmp(r->targets[i].value, value) == 0) {
                free((char *)r->targets[i].family);
                free((char *)r->targets[i].value);
                r->targets[i] = r->targets[--r->n];
            } else {
                i++;
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
}
