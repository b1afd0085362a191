/*
 * meter.c: see meter.h. Every step first brings the billable clock up to `now` (accrue), then
 * looks at what is due: a minute boundary (one charge in flight at a time), a low-balance
 * warning, the ticker. The caller's wake-up time is the earliest of what could become due
 * while media keeps flowing.
 */
#include "meter.h"

#include <string.h>

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static bool running(const meter *m) { return m->started && !m->stopped && m->ended == METER_END_NONE; }

/* The moment the clock stops when no more media comes. */
static int64_t pause_at(const meter *m) { return m->last_media_ms + m->cfg.outage_ms; }

int64_t meter_billable_at(const meter *m, int64_t now)
{
    if (!running(m) || now <= m->clock_ms)
        return m->billable_ms;
    return m->billable_ms + max64(0, min64(now, pause_at(m)) - m->clock_ms);
}

static void accrue(meter *m, int64_t now)
{
    if (now <= m->clock_ms)
        return;
    m->billable_ms = meter_billable_at(m, now);
    m->clock_ms = now;
}

/* Billable time at which the next minute starts. */
static int64_t next_boundary(const meter *m) { return m->minutes_charged * m->cfg.minute_ms; }

static int64_t next_rate(const meter *m) { return m->cfg.rate[m->kind]; }

static void actions_reset(meter_actions *out) { memset(out, 0, sizeof *out); }

static void ask_charge(meter *m, meter_actions *out)
{
    m->pending_minute = m->minutes_charged + 1;
    out->charge = true;
    out->charge_minute = m->pending_minute;
    m->pending_amount = next_rate(m);
    out->charge_amount = m->pending_amount;
    out->charge_kind = m->kind;
}

static void check_low_balance(meter *m, meter_actions *out)
{
    int64_t minute = m->minutes_charged + 1, rate = next_rate(m);
    int64_t left = next_boundary(m) - m->billable_ms;
    if (m->balance >= rate || m->warned_minute == minute || left > m->cfg.low_balance_ms)
        return;
    m->warned_minute = minute;
    out->low_balance = true;
    out->ends_in_ms = max64(0, left);
    out->needed = rate - m->balance;
}

/* Earliest time something may become due if media keeps flowing. */
static int64_t wake_time(const meter *m, int64_t now)
{
    if (!running(m))
        return INT64_MAX; /* nothing will become due */
    int64_t wake = m->next_tick_ms;
    int64_t left = next_boundary(m) - m->billable_ms;
    if (m->pending_minute == 0 && left > 0)
        wake = min64(wake, now + left);
    if (left > m->cfg.low_balance_ms)
        wake = min64(wake, now + left - m->cfg.low_balance_ms);
    return max64(wake, now + 1);
}

static void step(meter *m, int64_t now, meter_actions *out)
{
    if (running(m)) {
        if (m->pending_minute == 0 && m->billable_ms >= next_boundary(m))
            ask_charge(m, out);
        else if (m->pending_minute == 0)
            check_low_balance(m, out);
        if (now >= m->next_tick_ms) {
            out->tick = true;
            m->next_tick_ms = now + m->cfg.ticker_ms;
        }
    }
    out->wake_at_ms = wake_time(m, now);
}

void meter_init(meter *m, const meter_config *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (m->cfg.minute_ms < 1000)
        m->cfg.minute_ms = 1000;
    if (m->cfg.ticker_ms <= 0)
        m->cfg.ticker_ms = 10000;
    if (m->cfg.outage_ms < 0)
        m->cfg.outage_ms = 0;
}

void meter_start(meter *m, int64_t now, meter_kind kind, int64_t balance, meter_actions *out)
{
    actions_reset(out);
    if (m->started) {
        out->wake_at_ms = wake_time(m, now);
        return;
    }
    m->started = true;
    m->kind = kind;
    m->clock_ms = now;
    m->last_media_ms = now;
    m->balance = balance;
    /* The first ticker comes with minute 1's charge (meter_charged), never before it. */
    m->next_tick_ms = now + m->cfg.ticker_ms;
    step(m, now, out); /* billable 0 reaches boundary 0: minute 1 */
}

void meter_resume(meter *m, int64_t now, meter_kind kind, int64_t balance, int64_t minutes_charged, int64_t charged,
                  int64_t billable_ms, meter_actions *out)
{
    actions_reset(out);
    if (m->started) {
        out->wake_at_ms = wake_time(m, now);
        return;
    }
    m->minutes_charged = max64(0, minutes_charged);
    m->charged = max64(0, charged);
    /* A minute charged is a minute started: the billable time is at least its start. */
    m->billable_ms = max64(billable_ms, m->minutes_charged > 0 ? (m->minutes_charged - 1) * m->cfg.minute_ms : 0);
    m->started = true;
    m->kind = kind;
    m->clock_ms = now;
    m->last_media_ms = now;
    m->balance = balance;
    m->next_tick_ms = now;
    step(m, now, out);
}

void meter_media(meter *m, int64_t now)
{
    accrue(m, now);
    m->last_media_ms = max64(m->last_media_ms, now);
}

void meter_set_kind(meter *m, int64_t now, meter_kind kind)
{
    accrue(m, now);
    m->kind = kind;
}

void meter_balance(meter *m, int64_t now, int64_t balance, meter_actions *out)
{
    actions_reset(out);
    accrue(m, now);
    m->balance = balance;
    step(m, now, out);
}

void meter_charged(meter *m, int64_t now, int64_t minute, bool ok, int64_t balance_after, meter_actions *out)
{
    actions_reset(out);
    accrue(m, now);
    if (minute != m->pending_minute || minute == 0) {
        out->wake_at_ms = wake_time(m, now);
        return; /* a duplicate or stale report */
    }
    m->pending_minute = 0;
    if (!ok) {
        m->balance = balance_after;
        if (m->ended == METER_END_NONE && !m->stopped) {
            m->ended = METER_END_INSUFFICIENT;
            out->end = METER_END_INSUFFICIENT;
        }
        out->wake_at_ms = wake_time(m, now);
        return;
    }
    m->minutes_charged = minute;
    m->charged += m->pending_amount;
    m->balance = balance_after;
    m->next_tick_ms = now; /* every charged minute shows in the ticker */
    step(m, now, out);
}

void meter_advance(meter *m, int64_t now, meter_actions *out)
{
    actions_reset(out);
    accrue(m, now);
    step(m, now, out);
}

void meter_stop(meter *m, int64_t now)
{
    accrue(m, now);
    m->stopped = true;
    if (m->ended == METER_END_NONE)
        m->ended = METER_END_STOPPED;
}

int64_t meter_affordable_ms(const meter *m, int64_t now)
{
    int64_t rate = next_rate(m);
    if (rate <= 0)
        return -1; /* free: unlimited */
    int64_t paid_until = next_boundary(m) + (m->balance / rate) * m->cfg.minute_ms;
    return max64(0, paid_until - meter_billable_at(m, now));
}
