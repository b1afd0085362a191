/*
 * ratelimit: token buckets in a chained hash table, and the login guard built on two of
 * them. See ratelimit.h.
 *
 * Tokens are kept in millitokens (integers, no floats): refill adds
 * burst * 1000 * elapsed_ms / window_ms millitokens, i.e. burst tokens per window.
 */
#include "api/ratelimit.h"

#include <pthread.h>
#include <stdio.h>
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
    int per_min;          /* the burst: tokens per window */
    int64_t window_ms;
    size_t max_keys;
    size_t count;
    size_t nslots;
    rl_bucket **slots;
};

ratelimit_t *ratelimit_create(int per_min, size_t max_keys)
{
    return ratelimit_create_window(per_min, 60000, max_keys);
}

ratelimit_t *ratelimit_create_window(int burst, int64_t window_ms, size_t max_keys)
{
    ratelimit_t *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->per_min = burst;
    rl->window_ms = window_ms > 0 ? window_ms : 60000;
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
    /* burst tokens per window_ms = burst * 1000 millitokens per window_ms */
    if (elapsed > rl->window_ms) {
        b->tokens_m = cap;
        b->updated_ms = now_ms;
        return;
    }
    /* Advance the bucket's clock only by the time actually converted into millitokens, so
     * frequent calls do not lose the fractions that integer division drops. */
    int64_t add = cap * elapsed / rl->window_ms;
    b->tokens_m += add;
    b->updated_ms += add * rl->window_ms / cap;
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

int64_t ratelimit_take_ms(ratelimit_t *rl, const char *key, int64_t now_ms)
{
    if (!rl || rl->per_min <= 0)
        return 0;
    pthread_mutex_lock(&rl->mu);
    rl_bucket *b = rl_lookup(rl, key, now_ms);
    int64_t wait_ms = 0;
    if (b) {
        rl_refill(rl, b, now_ms);
        if (b->tokens_m >= RL_MILLI) {
            b->tokens_m -= RL_MILLI;
        } else {
            int64_t missing_m = RL_MILLI - b->tokens_m;
            int64_t cap = rl_capacity_m(rl);
            /* ms until refilled: missing_m * window / cap, rounded up */
            wait_ms = (missing_m * rl->window_ms + cap - 1) / cap;
            if (wait_ms < 1)
                wait_ms = 1;
        }
    }
    pthread_mutex_unlock(&rl->mu);
    return wait_ms;
}

int ratelimit_take(ratelimit_t *rl, const char *key, int64_t now_ms)
{
    int64_t ms = ratelimit_take_ms(rl, key, now_ms);
    if (ms <= 0)
        return 0;
    int wait_s = (int)((ms + 999) / 1000);
    return wait_s < 1 ? 1 : wait_s;
}

void ratelimit_give(ratelimit_t *rl, const char *key, int64_t now_ms)
{
    if (!rl || rl->per_min <= 0)
        return;
    pthread_mutex_lock(&rl->mu);
    size_t slot = rl_hash(key) % rl->nslots;
    for (rl_bucket *b = rl->slots[slot]; b; b = b->next) {
        if (strcmp(b->key, key) != 0)
            continue;
        rl_refill(rl, b, now_ms);
        b->tokens_m += RL_MILLI;
        if (b->tokens_m >= rl_capacity_m(rl)) {
            b->tokens_m = rl_capacity_m(rl);
            if (now_ms > b->updated_ms)
                b->updated_ms = now_ms;
        }
        break;
    }
    pthread_mutex_unlock(&rl->mu);
}

size_t ratelimit_size(ratelimit_t *rl)
{
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->count;
    pthread_mutex_unlock(&rl->mu);
    return n;
}

/* ---- login guard ---- */

struct login_guard {
    ratelimit_t *pair;      /* "<account>\n<address>" */
    ratelimit_t *account;   /* "<account>", failures from addresses not known to it */
};

login_guard_t *login_guard_create(const login_guard_config *cfg)
{
    login_guard_t *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    size_t keys = cfg->max_keys ? cfg->max_keys : 100000;
    g->pair = ratelimit_create_window(cfg->pair_burst, cfg->pair_window_ms, keys);
    g->account = ratelimit_create_window(cfg->account_burst, cfg->account_window_ms, keys);
    if (!g->pair || !g->account) {
        login_guard_destroy(g);
        return NULL;
    }
    return g;
}

void login_guard_destroy(login_guard_t *g)
{
    if (!g)
        return;
    ratelimit_destroy(g->pair);
    ratelimit_destroy(g->account);
    free(g);
}

static void login_pair_key(char *out, size_t cap, const char *account, const char *addr)
{
    snprintf(out, cap, "%.300s\n%.64s", account ? account : "", addr ? addr : "");
}

int login_guard_begin(login_guard_t *g, const char *account, const char *addr, bool known,
                      int64_t now_ms)
{
    char pk[400];
    login_pair_key(pk, sizeof(pk), account, addr);
    int wait = ratelimit_take(g->pair, pk, now_ms);
    if (wait > 0 || known)
        return wait;
    wait = ratelimit_take(g->account, account ? account : "", now_ms);
    if (wait > 0)
        ratelimit_give(g->pair, pk, now_ms);   /* refused attempts do not count */
    return wait;
}

void login_guard_end(login_guard_t *g, const char *account, const char *addr, bool known,
                     bool success, int64_t now_ms)
{
    if (!success)
        return;
    char pk[400];
    login_pair_key(pk, sizeof(pk), account, addr);
    ratelimit_give(g->pair, pk, now_ms);
    if (!known)
        ratelimit_give(g->account, account ? account : "", now_ms);
}
