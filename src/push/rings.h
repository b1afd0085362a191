/*
 * rings: which devices the push of an incoming call reached, per call id, so that the
 * call-ended push goes to exactly those (and only once). A record lives until its ring's
 * deadline plus a slack; at most PUSH_RINGS_MAX records are kept (the oldest go first).
 * A target the provider declared dead is forgotten in every record.
 *
 * Threads: any; one small lock, never held while calling out.
 * Ownership: the table copies what it is given; push_rings_take hands the record to the
 * caller, who frees it with push_ring_free.
 */
#ifndef PARLEY_PUSH_RINGS_H
#define PARLEY_PUSH_RINGS_H

#include <stddef.h>
#include <stdint.h>

#include "push/message.h"

#define PUSH_RINGS_MAX 4096

typedef struct push_ring {
    char *call_id;
    char *caller_name;           /* the stop push's title on iOS */
    push_target *targets;        /* owned copies */
    size_t n;
    int64_t expires_ms;
    struct push_ring *next;
} push_ring;

typedef struct push_rings push_rings;

push_rings *push_rings_new(void);
void push_rings_free(push_rings *t);
/* Remembers the targets of call_id's ring until expires_ms (unix ms); now_ms prunes. */
void push_rings_remember(push_rings *t, const char *call_id, const char *caller_name, const push_target *targets,
                         size_t n, int64_t expires_ms, int64_t now_ms);
/* The record of call_id, removed from the table (NULL when none or expired). */
push_ring *push_rings_take(push_rings *t, const char *call_id, int64_t now_ms);
void push_rings_forget(push_rings *t, const char *family, const char *value);
void push_ring_free(push_ring *r);

#endif
