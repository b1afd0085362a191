/*
 * billing.h: what the billing plugin offers other plugins (the calls plugin today, chat
 * later). A narrow interface: calls says what happened to a call, billing decides what it
 * costs and when (meter.h's rules), moves the money through the platform's billing store
 * (plugin.h, billing_submit) and tells calls what the parties should see or that the call
 * must end. No billing rule lives in calls; no media code lives here.
 *
 * Calls are named by their id (the calls plugin's UUID), never by pointer, so neither plugin
 * holds the other's memory.
 *
 * Threads: billing_authorise blocks for one commit (the caller's dispatch thread, never a
 * loop). Every billing_call_* function returns at once from any thread: it queues the fact
 * for the billing plugin's dispatch thread, in order per caller thread. The listener runs on
 * the billing plugin's dispatch thread and must only hand its arguments over (copy them).
 */
#ifndef PARLEY_BILLING_BILLING_H
#define PARLEY_BILLING_BILLING_H

#include <stdbool.h>
#include <stdint.h>

/* What billing tells the calls plugin. */
typedef struct billing_listener {
    /* An event for one party (0 = caller, 1 = host): result_json is the "result" object of a
     * videocall event ({"event":"billing",...} or {"event":"low_balance",...}). */
    void (*event)(void *arg, const char *call_id, int party, const char *result_json);
    /* The call must end now, for both parties, with this reason (insufficient_balance). */
    void (*end)(void *arg, const char *call_id, const char *reason);
    /* A call that was live when the server stopped without settling it (a crash): it may be
     * resumed until billing settles it after billing.recovery_grace_s. tokens: the caller's
     * and the host's resume tokens. Called once per such call, soon after start. */
    void (*recovering)(void *arg, const char *call_id, uint64_t caller_id, uint64_t host_id, bool video,
                       const char *caller_token, const char *host_token, uint32_t grace_ms);
    void *arg;
} billing_listener;

/* Registers the listener (once, at the calls plugin's init). */
void billing_set_listener(const billing_listener *l);
/* Whether the billing plugin runs (it refuses to start without a billing store). */
bool billing_available(void);

enum { BILLING_OK = 0, BILLING_INSUFFICIENT = 1, BILLING_ERROR = -1 };
typedef struct billing_refusal {
    int64_t needed, balance;  /* the first minute's price; the caller's available credits */
} billing_refusal;

/* Before a call rings: holds the first minute at the host's rate for the kind offered.
 * BILLING_OK (held, or free), BILLING_INSUFFICIENT (*why filled; nothing held) or
 * BILLING_ERROR. Every authorised call must later get billing_call_ended. */
int billing_authorise(const char *call_id, uint64_t caller_id, uint64_t host_id, bool video,
                      billing_refusal *why);

/* The host accepted: the rates are locked now. tokens: the parties' resume tokens (kept for
 * crash recovery). */
void billing_call_accepted(const char *call_id, uint64_t caller_id, uint64_t host_id, bool video,
                           const char *caller_token, const char *host_token);
/* Both legs' media are up (first time, or again after a resume): the meter runs. */
void billing_call_connected(const char *call_id);
/* Media was received on a leg at mono_ms (CLOCK_MONOTONIC, ms). Reported about once a
 * second while it flows; silence longer than the outage threshold pauses the meter. */
void billing_call_media(const char *call_id, int64_t mono_ms);
/* The call's kind changed (an upgrade or downgrade): its rate applies from the next minute. */
void billing_call_kind(const char *call_id, bool video);
/* The call ended (any reason, also before it was accepted): nothing more is charged, the
 * hold is released, the totals are written. */
void billing_call_ended(const char *call_id, const char *reason);

/* CLOCK_MONOTONIC in ms: the clock of billing_call_media. */
int64_t billing_now_ms(void);
/* How often billing_call_media should be reported while media flows (well under the outage
 * threshold, which scales with billing.minute_ms). */
uint32_t billing_media_report_ms(void);

#endif
