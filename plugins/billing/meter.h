/*
 * meter.h: the per-minute billing rules of one call (SPEC 5), as a pure state machine. The
 * billing plugin (plugins/billing, being built: issue 8) feeds it what happened, with the
 * time, and carries out what it asks for; nothing here reads a clock, the database or the
 * network, so every rule is tested on a fake clock (tests/unit/plugins/billing).
 *
 * Rules:
 *  - Billable time is connected time: it starts at meter_start (both legs' media up) and runs
 *    while media flows. When neither leg has received media for longer than outage_ms, the
 *    time after the last media + outage_ms is not billable, and no new minute starts during
 *    it (a minute already charged is never refunded).
 *  - Minute k (1-based) is charged once, when the billable time reaches (k-1) x minute_ms, at
 *    the rate of the call's kind at that moment; minute 1 at meter_start. The plugin charges it
 *    with the idempotency key (call, k) and reports the outcome with meter_charged; until then
 *    no further minute is asked for.
 *  - Low balance: low_balance_ms before a boundary whose minute the balance cannot pay, one
 *    low_balance action per boundary. A top-up (meter_balance) before the boundary lets the
 *    call go on.
 *  - A charge refused for insufficient funds ends the call (METER_END_INSUFFICIENT): never a
 *    free minute. After meter_stop nothing is charged.
 *  - A ticker action at least every ticker_ms and at every charged minute.
 *
 * Times are milliseconds on one monotonic clock chosen by the caller. Money is int64 credits.
 * Threads: none; one meter is used by one thread at a time. Ownership: plain struct, no heap.
 */
#ifndef PARLEY_BILLING_METER_H
#define PARLEY_BILLING_METER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum meter_kind { METER_AUDIO = 0, METER_VIDEO = 1 } meter_kind;

typedef enum meter_end {
    METER_END_NONE = 0,
    METER_END_INSUFFICIENT,   /* a minute could not be paid */
    METER_END_STOPPED,        /* meter_stop: the call ended for another reason */
} meter_end;

typedef struct meter_config {
    int64_t minute_ms;        /* billing.minute_ms: 60000 (tests shorten it; >= 1000) */
    int64_t low_balance_ms;   /* warning lead before an unaffordable boundary: 30000 */
    int64_t outage_ms;        /* no media on either leg for longer: the clock pauses: 5000 */
    int64_t ticker_ms;        /* cost ticker period: 10000 */
    int64_t rate[2];          /* credits per minute per kind, locked when the call was accepted */
} meter_config;

/* What the plugin must do after a step (several may be set at once). */
typedef struct meter_actions {
    bool charge;              /* charge minute charge_minute of charge_amount credits */
    int64_t charge_minute;
    int64_t charge_amount;
    meter_kind charge_kind;
    bool tick;                /* send the cost ticker (meter_view has the figures) */
    bool low_balance;         /* warn the caller: the next minute cannot be paid */
    int64_t ends_in_ms;       /* with low_balance: billable time left until the boundary */
    int64_t needed;           /* with low_balance: credits missing for the next minute */
    meter_end end;            /* the call must end (once) */
    int64_t wake_at_ms;       /* call meter_advance again at this time at the latest
                               * (INT64_MAX: nothing will become due: stopped or ended) */
} meter_actions;

typedef struct meter {
    meter_config cfg;
    bool started, stopped;
    meter_end ended;
    meter_kind kind;
    int64_t billable_ms;        /* connected time counted up to clock_ms */
    int64_t clock_ms;           /* time of the last step */
    int64_t last_media_ms;      /* newest media on either leg */
    int64_t minutes_charged;
    int64_t charged;            /* credits charged so far */
    int64_t balance;            /* the caller's available credits, as last known */
    int64_t pending_minute;     /* a charge asked for and not yet reported (0 = none) */
    int64_t pending_amount;
    int64_t next_tick_ms;
    int64_t warned_minute;      /* the minute a low_balance was sent for */
} meter;

void meter_init(meter *m, const meter_config *cfg);
/* Both legs' media are up: minute 1 is charged now at kind's rate. balance = the caller's
 * available credits (the hold for minute 1 included: the charge is taken from it). */
void meter_start(meter *m, int64_t now, meter_kind kind, int64_t balance, meter_actions *out);
/* As meter_start, for a call that was metered before (a resume after a crash): the minutes
 * already charged and the billable time counted stay; the next minute starts at its
 * boundary, not now. */
void meter_resume(meter *m, int64_t now, meter_kind kind, int64_t balance, int64_t minutes_charged, int64_t charged,
                  int64_t billable_ms, meter_actions *out);
/* Media was received on a leg at now (any leg: only "neither leg" pauses the clock). */
void meter_media(meter *m, int64_t now);
/* The call's kind changed (upgrade or downgrade): it applies from the next minute. */
void meter_set_kind(meter *m, int64_t now, meter_kind kind);
/* The caller's available balance changed (a top-up, or another spend). */
void meter_balance(meter *m, int64_t now, int64_t balance, meter_actions *out);
/* The outcome of the charge asked for: ok (balance_after = available after it) or refused
 * for insufficient funds (the call ends). */
void meter_charged(meter *m, int64_t now, int64_t minute, bool ok, int64_t balance_after, meter_actions *out);
/* Time passes: boundaries, low balance, ticker. */
void meter_advance(meter *m, int64_t now, meter_actions *out);
/* The call ended for another reason: nothing is charged afterwards. */
void meter_stop(meter *m, int64_t now);

/* Billable time up to now without changing the meter (for the ticker's elapsed_ms). */
int64_t meter_billable_at(const meter *m, int64_t now);
/* Billable time that the balance still pays for: up to the end of the last minute that is or
 * can be charged (the ticker's affordable_ms, counted from now); -1 when the rate is 0. */
int64_t meter_affordable_ms(const meter *m, int64_t now);

#endif
