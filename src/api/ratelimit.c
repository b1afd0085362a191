/*
 * ratelimit: token buckets in a chained hash table. See ratelimit.h.
 *
 * Tokens are kept in millitokens (integers, no floats): refill adds per_min * elapsed_ms / 60
 * millitokens, i.e. per_min tokens per 60000 ms.
 */
#include "api/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RL_MILLI 1000

typedef struct rl_bucket {
    struct rl_bucket *next;
    int64_t tokens_m;     /* millitokens */
    int64_t updated_ms;
    char key[];
} rl_bucket;

struct ratelimit {
    pthread_mutex_t mu;
    int per_min;
    size_t max_keys;
    size_t count;
    size_t nslots;
    rl_bucket **slots;
};

ratelimit_t *ratelimit_create(int per_min, size_t max_keys)
{
    ratelimit_t *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->per_min = per_min;
    rl->max_keys = max_keys ? max_keys : 1;
    rl->nslots = 1024;
    rl->slots = calloc(rl->nslots, sizeof(*rl->slots));
    if (!rl->slots) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->mu, NULL);
    return rl;
}

void ratelimit_destroy(ratelimit_t *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < rl->nslots; i++) {
        rl_bucket *b = rl->slots[i];
        while (b) {
            rl_bucket *n = b->next;
            free(b);
            b = n;
        }
    }
    free(rl->slots);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static uint64_t rl_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int64_t rl_capacity_m(const ratelimit_t *rl)
{
    return (int64_t)rl->per_min * RL_MILLI;
}

static void rl_refill(const ratelimit_t *rl, rl_bucket *b, int64_t now_ms)
{
    if (now_ms <= b->updated_ms)
        return;   /* time never runs backwards for a bucket */
    int64_t elapsed = now_ms - b->updated_ms;
    int64_t cap = rl_capacity_m(rl);
    /* per_min tokens / 60000 ms = per_min millitokens / 60 ms */
    if (elapsed > 60000) {
        b->tokens_m = cap;
        b->updated_ms = now_ms;
        return;
    }
    /* Advance the bucket's clock only by the time actually converted into millitokens, so
     * frequent calls do not lose the fractions that integer division drops. */
    int64_t add = (int64_t)rl->per_min * elapsed / 60;
    b->tokens_m += add;
    b->updated_ms += add * 60 / rl->per_min;
    if (b->tokens_m >= cap) {
        b->tokens_m = cap;
        b->updated_ms = now_ms;
    }
}

/* Drops full buckets; if none, the least recently updated one. Called with mu held. */
static void rl_evict(ratelimit_t *rl, int64_t now_ms)
{
    rl_bucket **oldest = NULL;
    for (size_t i = 0; i < rl->nslots; i++) {
        rl_bucket **pp = &rl->slots[i];
        while (*pp) {
            rl_bucket *b = *pp;
            rl_refill(rl, b, now_ms);
            if (b->tokens_m >= rl_capacity_m(rl)) {
                *pp = b->next;
                free(b);
                rl->count--;
                continue;
            }
            if (!oldest || b->updated_ms < (*oldest)->updated_ms)
                oldest = pp;
            pp = &b->next;
        }
    }
    if (rl->count >= rl->max_keys && oldest) {
        rl_bucket *b = *oldest;
        *oldest = b->next;
        free(b);
        rl->count--;
    }
}

static rl_bucket *rl_lookup(ratelimit_t *rl, const char *key, int64_t now_ms)
{
    size_t slot = rl_hash(key) % rl->nslots;
    for (rl_bucket *b = rl->slots[slot]; b; b = b->next)
        if (strcmp(b->key, key) == 0)
            return b;
    if (rl->count >= rl->max_keys)
        rl_evict(rl, now_ms);
    size_t kl = strlen(key);
    rl_bucket *b = malloc(sizeof(*b) + kl + 1);
    if (!b)
        return NULL;
    memcpy(b->key, key, kl + 1);
    b->tokens_m = rl_capacity_m(rl);
    b->updated_ms = now_ms;
    b->next = rl->slots[slot];
    rl->slots[slot] = b;
    rl->count++;
    return b;
}

int ratelimit_take(ratelimit_t *rl, const char *key, int64_t now_ms)
{
    if (!rl || rl->per_min <= 0)
        return 0;
    pthread_mutex_lock(&rl->mu);
    rl_bucket *b = rl_lookup(rl, key, now_ms);
    int wait_s = 0;
    if (b) {
        rl_refill(rl, b, now_ms);
        if (b->tokens_m >= RL_MILLI) {
            b->tokens_m -= RL_MILLI;
        } else {
            int64_t missing_m = RL_MILLI - b->tokens_m;
            /* ms until refilled: missing_m * 60 / per_min, rounded up to whole seconds */
            int64_t ms = (missing_m * 60 + rl->per_min - 1) / rl->per_min;
            wait_s = (int)((ms + 999) / 1000);
            if (wait_s < 1)
                wait_s = 1;
        }
    }
    pthread_mutex_unlock(&rl->mu);
    return wait_s;
}

size_t ratelimit_size(ratelimit_t *rl)
{
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->count;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
