/*
 * ws_bucket: see ws_bucket.h.
 */
#include "transport/ws_bucket.h"

void ws_bucket_init(ws_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    b->rate = rate ? rate : 1;
    b->burst = burst ? burst : 1;
    b->milli = (int64_t)b->burst * 1000;
    b->at_ms = now_ms;
}

bool ws_bucket_ready(ws_bucket *b, uint64_t now_ms)
{
    if (now_ms > b->at_ms) {
        int64_t cap = (int64_t)b->burst * 1000;
        uint64_t elapsed = now_ms - b->at_ms;
        /* Beyond a full refill the exact figure does not matter (and cannot overflow). */
        if (elapsed > (uint64_t)b->burst * 1000)
            b->milli = cap;
        else
            b->milli += (int64_t)elapsed * b->rate;
        if (b->milli > cap)
            b->milli = cap;
        b->at_ms = now_ms;
    }
    return b->milli >= 1000;
}

void ws_bucket_take(ws_bucket *b)
{
    b->milli -= 1000;
}

uint64_t ws_bucket_wait_ms(const ws_bucket *b, uint32_t tokens)
{
    if (tokens > b->burst)
        tokens = b->burst;
    int64_t need = (int64_t)tokens * 1000 - b->milli;
    if (need <= 0)
        return 0;
    return ((uint64_t)need + b->rate - 1) / b->rate;
}

bool ws_flood_tick(ws_flood *f, bool throttled, size_t waiting_bytes, size_t backlog, unsigned limit)
{
    if (throttled && waiting_bytes >= backlog)
        f->strikes++;
    else
        f->strikes = 0;
    return limit && f->strikes >= limit;
}
