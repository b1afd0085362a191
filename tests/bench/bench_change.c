/* bench_change: see bench_change.h. */
#include "bench_change.h"

#include <glib.h>

static GMutex mu;
static GCond cond;
static uint64_t generation;

void bench_change_notify(void)
{
    g_mutex_lock(&mu);
    generation++;
    g_cond_broadcast(&cond);
    g_mutex_unlock(&mu);
}

uint64_t bench_change_generation(void)
{
    g_mutex_lock(&mu);
    uint64_t g = generation;
    g_mutex_unlock(&mu);
    return g;
}

bool bench_change_wait(uint64_t gen, int64_t deadline_us)
{
    bool changed = true;
    g_mutex_lock(&mu);
    while (generation == gen) {
        if (!g_cond_wait_until(&cond, &mu, deadline_us)) {
            changed = generation != gen;
            break;
        }
    }
    g_mutex_unlock(&mu);
    return changed;
}
