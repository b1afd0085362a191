/*
 * sched: the decisions of the push service, sans-IO (no socket, no clock, no thread), so
 * they run in unit tests on a fake clock and under a fuzzer:
 *
 *  - push_budget: the bound on notifications the service holds (queued, waiting for a retry
 *    or in flight). Taking a slot never blocks: a full budget refuses, and the caller drops
 *    the notification and counts it.
 *  - push_heap: the retry timers, a binary min-heap of (due time, sequence, job); the
 *    sequence keeps jobs due at the same millisecond in submission order.
 *  - push_webpush_classify: what a push service's answer to a Web Push POST means (RFC 8030
 *    section 5 / 8.4): sent, drop the subscription (404, 410), retry later (429, 5xx:
 *    Retry-After or exponential backoff with jitter), or give up; FCM answers go through
 *    fcm_classify (fcm.h), whose verdict type this shares.
 *  - push_transport_retry: a request that got no HTTP answer (timeout, refused, TLS error) is
 *    retried like a 503 without Retry-After.
 *
 * Every retry decision honours the notification's deadline: a retry that would land at or
 * after it is a failure (a ring is useless after the ring timeout).
 *
 * Ownership: a push_heap owns its array, not the jobs (void *). Threads: push_budget is
 * atomic (any thread); a push_heap belongs to one thread (the service's); the classifiers
 * are stateless.
 */
#ifndef PARLEY_PUSH_SCHED_H
#define PARLEY_PUSH_SCHED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "push/fcm.h"

/* ---- the bound on held notifications ---- */

typedef struct push_budget {
    atomic_int held;
    int max;
} push_budget;

void push_budget_init(push_budget *b, int max);
/* true and one slot taken, or false (full: the caller drops and counts). */
bool push_budget_take(push_budget *b);
void push_budget_give(push_budget *b);
int push_budget_held(push_budget *b);

/* ---- retry timers ---- */

typedef struct push_heap_item {
    int64_t due_ms;
    uint64_t seq;
    void *job;
} push_heap_item;

typedef struct push_heap {
    push_heap_item *items;
    size_t n, cap;
    uint64_t next_seq;
} push_heap;

void push_heap_init(push_heap *h);
void push_heap_free(push_heap *h);
/* 0, or -1 when out of memory (the job is not added). */
int push_heap_add(push_heap *h, int64_t due_ms, void *job);
/* The earliest due time, or INT64_MAX when empty. */
int64_t push_heap_next_due(const push_heap *h);
/* The earliest job if due at now_ms (removed), else NULL. */
void *push_heap_pop_due(push_heap *h, int64_t now_ms);

/* ---- answers ---- */

/* A Web Push answer: http_status, the Retry-After header (or NULL) and the retry context
 * (fcm.h: now, deadline, attempts so far, jitter, base and cap of the backoff). The verdict's
 * outcome is FCM_SENT (2xx), FCM_DROP_TOKEN (404, 410), FCM_RETRY (429, 5xx before the
 * deadline) or FCM_FAIL (anything else); reason is "http_<n>". */
void push_webpush_classify(int http_status, const char *retry_after, const fcm_retry_ctx *ctx,
                           fcm_verdict *out);

/* No HTTP answer at all (reason: a short text, e.g. curl's error name): FCM_RETRY with
 * backoff before the deadline, else FCM_FAIL. */
void push_transport_retry(const char *reason, const fcm_retry_ctx *ctx, fcm_verdict *out);

/* Exponential backoff with equal jitter (the rule of fcm.h): d = min(cap, base * 2^attempt),
 * the delay in [d/2, d]. */
int64_t push_backoff_ms(const fcm_retry_ctx *ctx);

#endif
