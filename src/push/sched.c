/*
 * sched: see sched.h.
 */
#include "push/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void push_budget_init(push_budget *b, int max)
{
    atomic_init(&b->held, 0);
    b->max = max > 0 ? max : 1;
}

bool push_budget_take(push_budget *b)
{
    if (atomic_fetch_add(&b->held, 1) >= b->max) {
        atomic_fetch_sub(&b->held, 1);
        return false;
    }
    return true;
}

void push_budget_give(push_budget *b) { atomic_fetch_sub(&b->held, 1); }
int push_budget_held(push_budget *b) { return atomic_load(&b->held); }

/* ---- heap ---- */

void push_heap_init(push_heap *h) { memset(h, 0, sizeof *h); }

void push_heap_free(push_heap *h)
{
    free(h->items);
    memset(h, 0, sizeof *h);
}

static bool item_before(const push_heap_item *a, const push_heap_item *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_swap(push_heap *h, size_t i, size_t j)
{
    push_heap_item t = h->items[i];
    h->items[i] = h->items[j];
    h->items[j] = t;
}

int push_heap_add(push_heap *h, int64_t due_ms, void *job)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        push_heap_item *items = realloc(h->items, cap * sizeof *items);
        if (!items)
            return -1;
        h->items = items;
        h->cap = cap;
    }
    size_t i = h->n++;
    h->items[i] = (push_heap_item){.due_ms = due_ms, .seq = h->next_seq++, .job = job};
    while (i > 0 && item_before(&h->items[i], &h->items[(i - 1) / 2])) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}

int64_t push_heap_next_due(const push_heap *h) { return h->n ? h->items[0].due_ms : INT64_MAX; }

void *push_heap_pop_due(push_heap *h, int64_t now_ms)
{
    if (h->n == 0 || h->items[0].due_ms > now_ms)
        return NULL;
    void *job = h->items[0].job;
    h->items[0] = h->items[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && item_before(&h->items[l], &h->items[m]))
            m = l;
        if (r < h->n && item_before(&h->items[r], &h->items[m]))
            m = r;
        if (m == i)
            break;
        heap_swap(h, i, m);
        i = m;
    }
    return job;
}

/* ---- answers ---- */

int64_t push_backoff_ms(const fcm_retry_ctx *c)
{
    /* One backoff rule for every push target: FCM's (Web Push has no rule of its own). */
    return fcm_backoff_ms(c);
}

static void schedule(int64_t delay, const fcm_retry_ctx *c, fcm_verdict *v)
{
    v->retry_at_ms = c->now_ms + delay;
    v->past_deadline = v->retry_at_ms >= c->deadline_ms;
    v->outcome = v->past_deadline ? FCM_FAIL : FCM_RETRY;
}

void push_webpush_classify(int http, const char *retry_after, const fcm_retry_ctx *c, fcm_verdict *v)
{
    memset(v, 0, sizeof *v);
    snprintf(v->reason, sizeof v->reason, "http_%d", http);
    if (http >= 200 && http <= 299) {
        v->outcome = FCM_SENT;
        v->reason[0] = '\0';
    } else if (http == 404 || http == 410) {
        /* RFC 8030 8.4 / 7.3: the subscription expired or was removed by the browser. */
        v->outcome = FCM_DROP_TOKEN;
    } else if (http == 429 || (http >= 500 && http <= 599)) {
        int64_t delay = fcm_retry_after_ms(retry_after, c->now_ms);
        schedule(delay >= 0 ? delay : push_backoff_ms(c), c, v);
    } else {
        v->outcome = FCM_FAIL;   /* 400 bad VAPID, 413 too large, 403 wrong key: ours to fix */
    }
}

void push_transport_retry(const char *reason, const fcm_retry_ctx *c, fcm_verdict *v)
{
    memset(v, 0, sizeof *v);
    snprintf(v->reason, sizeof v->reason, "%s", reason ? reason : "transport");
    schedule(push_backoff_ms(c), c, v);
}
