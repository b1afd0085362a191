/*
 * The platform's memory-only state: live login families (the cheap revocation check behind
 * every authenticated request) and presence (session counts and busy flag per user),
 * including concurrent updates from several threads.
 */
#include <pthread.h>
#include <stdio.h>

#include "api/internal.h"
#include "check.h"

static void test_families(void)
{
    api_families *f = api_families_create();
    CHECK(!api_families_live(f, "fam-a", 1));
    api_families_add(f, "fam-a", 1);
    api_families_add(f, "fam-b", 2);
    CHECK(api_families_live(f, "fam-a", 1));
    CHECK(!api_families_live(f, "fam-a", 2));      /* a family belongs to one user */
    CHECK(api_families_live(f, "fam-b", 2));
    api_families_remove(f, "fam-a");
    CHECK(!api_families_live(f, "fam-a", 1));
    CHECK(api_families_live(f, "fam-b", 2));
    api_families_remove(f, "fam-a");               /* twice is harmless */
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        api_families_add(f, name, (uint64_t)i + 1);
    }
    int live = 0;
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        if (i % 2)
            api_families_remove(f, name);
    }
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        live += api_families_live(f, name, (uint64_t)i + 1);
    }
    CHECK_INT(live, 5000);
    api_families_destroy(f);
}

static bool ids_contain(json_t *a, uint64_t id)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
        if ((uint64_t)json_integer_value(v) == id)
            return true;
    return false;
}

static void test_presence(void)
{
    api_presence *pr = api_presence_create();
    CHECK_INT(api_presence_get(pr, 7), API_OFFLINE);
    api_presence_open(pr, 7);
    CHECK_INT(api_presence_get(pr, 7), API_ONLINE);
    api_presence_open(pr, 7);                       /* second device */
    api_presence_close(pr, 7);
    CHECK_INT(api_presence_get(pr, 7), API_ONLINE);
    api_presence_busy(pr, 7, true);
    CHECK_INT(api_presence_get(pr, 7), API_BUSY);
    CHECK_STR(api_availability_name(api_presence_get(pr, 7)), "busy");
    api_presence_busy(pr, 7, false);
    CHECK_INT(api_presence_get(pr, 7), API_ONLINE);
    api_presence_open(pr, 7 + 1024);                /* same hash slot */
    json_t *ids = api_presence_online_ids(pr);   /* hash order: compare as a set */
    CHECK_INT(json_array_size(ids), 2);
    CHECK(ids_contain(ids, 7) && ids_contain(ids, 7 + 1024));
    json_decref(ids);
    api_presence_close(pr, 7);
    CHECK_INT(api_presence_get(pr, 7), API_OFFLINE);
    CHECK_STR(api_availability_name(API_OFFLINE), "offline");
    api_presence_close(pr, 7);                      /* extra close never goes negative */
    api_presence_open(pr, 7);
    CHECK_INT(api_presence_get(pr, 7), API_ONLINE);
    api_presence_close(pr, 7);
    /* busy without a session is offline (not reachable) */
    api_presence_busy(pr, 9, true);
    CHECK_INT(api_presence_get(pr, 9), API_OFFLINE);
    api_presence_busy(pr, 9, false);
    ids = api_presence_online_ids(pr);
    CHECK_INT(json_array_size(ids), 1);
    json_decref(ids);
    api_presence_destroy(pr);
}

static api_presence *shared;

static void *presence_worker(void *arg)
{
    uint64_t base = (uint64_t)(uintptr_t)arg;
    for (int round = 0; round < 2000; round++) {
        for (uint64_t u = base; u < base + 8; u++)
            api_presence_open(shared, u);
        for (uint64_t u = base; u < base + 8; u++)
            api_presence_close(shared, u);
    }
    api_presence_open(shared, base);
    return NULL;
}

static void test_presence_threads(void)
{
    shared = api_presence_create();
    pthread_t th[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, presence_worker, (void *)(i * 4 + 1));  /* overlapping */
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (uint64_t u = 1; u < 13 + 8; u++) {
        bool base = u == 1 || u == 5 || u == 9 || u == 13;
        CHECK_INT(api_presence_get(shared, u), base ? API_ONLINE : API_OFFLINE);
    }
    api_presence_destroy(shared);
}

int main(void)
{
    test_families();
    test_presence();
    test_presence_threads();
    return check_summary("api-memstate");
}
