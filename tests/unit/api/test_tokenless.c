/*
 * The "no push token" notes (api/tokenless.h): a note counts at its epoch only, a token stored
 * while a read was under way voids that read's note, the table is bounded, and notes, lookups
 * and bumps from several threads at once (also run under ThreadSanitizer).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "api/tokenless.h"
#include "check.h"

static void test_epochs(void)
{
    api_tokenless *t = api_tokenless_create();
    CHECK(!api_tokenless_known(t, 7));   /* never read: may have a token */
    api_tokenless_note(t, 7, api_tokenless_epoch(t));
    CHECK(api_tokenless_known(t, 7));
    CHECK(!api_tokenless_known(t, 8));
    api_tokenless_changed(t);            /* a token stored (for anyone) */
    CHECK(!api_tokenless_known(t, 7));
    /* a read that began before a token was stored concludes nothing */
    uint64_t began = api_tokenless_epoch(t);
    api_tokenless_changed(t);
    api_tokenless_note(t, 7, began);
    CHECK(!api_tokenless_known(t, 7));
    api_tokenless_note(t, 7, api_tokenless_epoch(t));
    CHECK(api_tokenless_known(t, 7));
    api_tokenless_destroy(t);
}

static void test_bounded(void)
{
    api_tokenless *t = api_tokenless_create();
    uint64_t e = api_tokenless_epoch(t);
    for (uint64_t u = 1; u <= API_TOKENLESS_MAX; u++)
        api_tokenless_note(t, u, e);
    CHECK(api_tokenless_known(t, 1) && api_tokenless_known(t, API_TOKENLESS_MAX));
    api_tokenless_note(t, API_TOKENLESS_MAX + 1, e);   /* full: starts over with this one */
    CHECK(!api_tokenless_known(t, 1));
    CHECK(api_tokenless_known(t, API_TOKENLESS_MAX + 1));
    api_tokenless_destroy(t);
}

#define RACE_THREADS 3
#define RACE_ROUNDS 20000
typedef struct race {
    api_tokenless *t;
    atomic_int next_base;
    atomic_int stale;   /* a note that counted although a bump had come before the lookup */
} race;

static void *noter(void *arg)
{
    race *r = arg;
    uint64_t base = 1000 * (uint64_t)atomic_fetch_add(&r->next_base, 1);   /* users of its own */
    for (uint64_t i = 0; i < RACE_ROUNDS; i++) {
        uint64_t u = base + i % 512, e = api_tokenless_epoch(r->t);
        api_tokenless_note(r->t, u, e);
        uint64_t before_lookup = api_tokenless_epoch(r->t);
        if (api_tokenless_known(r->t, u) && before_lookup != e)
            atomic_fetch_add(&r->stale, 1);
    }
    return NULL;
}

static void *bumper(void *arg)
{
    race *r = arg;
    for (int i = 0; i < RACE_ROUNDS; i++)
        api_tokenless_changed(r->t);
    return NULL;
}

static void test_threads(void)
{
    race r = {.t = api_tokenless_create()};
    pthread_t th[RACE_THREADS + 1];
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_create(&th[i], NULL, noter, &r);
    pthread_create(&th[RACE_THREADS], NULL, bumper, &r);
    for (int i = 0; i <= RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_INT(atomic_load(&r.stale), 0);
    /* after one more bump, nothing noted before it counts */
    api_tokenless_changed(r.t);
    for (uint64_t u = 0; u < 3000; u++)
        CHECK(!api_tokenless_known(r.t, u));
    api_tokenless_destroy(r.t);
}

int main(void)
{
    test_epochs();
    test_bounded();
    test_threads();
    return check_summary("api-tokenless");
}
