/*
 * http_stats: see http_stats.h. One array of 500 atomics per server name (4 KB each) indexed
 * by status - 100: exact codes without a lookup on the request path.
 */
#include "transport/http_stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#define STATUS_MIN 100u
#define STATUS_MAX 599u

struct http_stats_slot {
    char name[16];
    atomic_uint_fast64_t by_status[STATUS_MAX - STATUS_MIN + 1];
};

static http_stats_slot g_slots[HTTP_STATS_SERVERS];
static atomic_int g_used;   /* slots published (names written before the store) */
static pthread_mutex_t g_claim = PTHREAD_MUTEX_INITIALIZER;

static const unsigned always[] = HTTP_STATS_ALWAYS;

http_stats_slot *http_stats_slot_for(const char *server_name)
{
    const char *name = server_name ? server_name : "http";
    http_stats_slot *found = NULL;
    pthread_mutex_lock(&g_claim);
    int used = atomic_load(&g_used);
    for (int i = 0; i < used && !found; i++)
        if (strncmp(g_slots[i].name, name, sizeof g_slots[i].name - 1) == 0)
            found = &g_slots[i];
    if (!found && used < HTTP_STATS_SERVERS) {
        found = &g_slots[used];
        strncpy(found->name, name, sizeof found->name - 1);
        atomic_store(&g_used, used + 1);
    }
    pthread_mutex_unlock(&g_claim);
    return found;
}

void http_stats_count(http_stats_slot *slot, unsigned status)
{
    if (slot && status >= STATUS_MIN && status <= STATUS_MAX)
        atomic_fetch_add_explicit(&slot->by_status[status - STATUS_MIN], 1, memory_order_relaxed);
}

static bool is_always(unsigned status)
{
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        if (always[i] == status)
            return true;
    return false;
}

size_t http_stats_snapshot(http_status_count *out, size_t cap)
{
    size_t n = 0;
    int used = atomic_load(&g_used);
    for (int i = 0; i < used; i++) {
        for (unsigned st = STATUS_MIN; st <= STATUS_MAX; st++) {
            uint64_t v = atomic_load_explicit(&g_slots[i].by_status[st - STATUS_MIN], memory_order_relaxed);
            if (v == 0 && !is_always(st))
                continue;
            if (n < cap)
                out[n] = (http_status_count){.server = g_slots[i].name, .status = st, .count = v};
            n++;
        }
    }
    return n;
}
