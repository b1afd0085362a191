/*
 * billing: the billing plugin (SPEC 4 and 5). It has no Janus clients of its own (attaching
 * to janus.plugin.billing is refused); the calls plugin uses it through billing.h and the
 * parties see it as videocall events. Per call it runs a meter (meter.h) on this plugin's
 * dispatch thread and carries out what the meter asks: a charge (billing_submit "charge",
 * asynchronous, group-committed with every other call's), a ticker or low-balance event
 * (through the listener), the end of a call that cannot pay.
 *
 * Facts from billing.h arrive from other threads through the inbox (a locked list drained on
 * the dispatch thread), so they are applied in order and every meter is touched by one
 * thread. One core timer serves every call: the book orders calls by their next wake-up.
 *
 * Times: the meters run on CLOCK_MONOTONIC ms; what is persisted (last media) is Unix ms.
 * Every billing time but minute_ms is given at a 60 s minute and scaled with minute_ms, so a
 * test with 3 s minutes sees the same rules 20 times faster.
 *
 * A charge outcome "error" (the commit failed) is retried with the same key (idempotent) a
 * few times, then the call ends with billing_unavailable: no free minutes.
 *
 * Names: plugins are linked whole into the server: every symbol starts with billing_ or
 * meter_ / book_ (this plugin's modules).
 */
#include "billing.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "book.h"
#include "meter.h"
#include "plugin.h"

#define REFERENCE_MINUTE_MS 60000
#define TICKER_MS 10000           /* at a 60 s minute */
#define OUTAGE_MS 5000            /* at a 60 s minute */
#define CHARGE_RETRIES 5
#define CHARGE_RETRY_MS 1000
#define RESUME_TOKEN_LEN 32
#define DRAIN_RETRY_MS 20
#define RECOVERY_BACKSTOP_MS 5000

static const core_callbacks *core;
static plugin_ctx *self;
static atomic_bool running;

static struct {
    int64_t minute_ms, low_balance_ms, ticker_ms, outage_ms;
    uint32_t recovery_grace_ms;
} cfg;

static billing_listener listener;   /* set once before calls exist */

/* For the admin hook (any thread). */
static struct {
    atomic_ulong charges, charge_refusals, charge_retries, settled, settle_failures, recovering;
} stats;

/* ------------------------------------------------------------------------------------------ */
/* Per call (dispatch thread)                                                                  */

typedef enum call_phase {
    PHASE_AUTHORISED = 0,  /* accepted not yet known */
    PHASE_OPENING,         /* "open" submitted: rates not known yet */
    PHASE_OPEN,            /* rates locked; waiting for media */
    PHASE_METERED,         /* the meter runs */
    PHASE_ENDED,           /* settle submitted; the entry goes when it is done */
} call_phase;

typedef struct bcall {
    book_entry *entry;
    call_phase phase;
    uint64_t caller, host;
    bool video;
    bool connected;              /* both legs up was reported (maybe before the rates came) */
    meter m;
    int64_t earned;              /* host's share of what was charged */
    int64_t last_media_mono;     /* newest media reported (monotonic ms; 0 = none) */
    int charge_failures;
    int64_t resume_minutes, resume_charged, resume_billable;   /* persisted progress (a resume) */
    uint64_t retry_timer;
} bcall;

static book *calls;              /* dispatch thread only */
static uint64_t wake_timer;      /* the core timer for book_earliest, 0 = none */
static int64_t wake_timer_at;

uint32_t billing_media_report_ms(void)
{
    int64_t ms = cfg.outage_ms / 4;
    return (uint32_t)(ms < 50 ? 50 : ms > 1000 ? 1000 : ms);
}

int64_t billing_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t scaled(int64_t at_reference_minute)
{
    return at_reference_minute * cfg.minute_ms / REFERENCE_MINUTE_MS;
}

/* ---- the one timer ---- */

static void on_wake(void *arg);

static void rearm_timer(void)
{
    book_entry *first = book_earliest(calls);
    int64_t at = first ? first->wake_ms : INT64_MAX;
    if (wake_timer && at == wake_timer_at)
        return;
    if (wake_timer)
        core->timer_cancel(self, wake_timer);
    wake_timer = 0;
    if (at == INT64_MAX)
        return;
    int64_t delay = at - billing_now_ms();
    wake_timer = core->timer_start(self, (uint32_t)(delay < 0 ? 0 : delay > 3600000 ? 3600000 : delay), on_wake, NULL);
    wake_timer_at = at;
}

/* ---- events for the parties ---- */

static void tell(const bcall *c, int party, json_t *result)
{
    char *text = json_dumps(result, JSON_COMPACT);
    json_decref(result);
    if (text && listener.event)
        listener.event(listener.arg, c->entry->id, party, text);
    free(text);
}

static const char *kind_name(meter_kind k) { return k == METER_VIDEO ? "video" : "audio"; }

static void send_ticker(const bcall *c, int64_t now)
{
    const meter *m = &c->m;
    int64_t elapsed = meter_billable_at(m, now), rate = m->cfg.rate[m->kind];
    tell(c, 0, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "event", "billing", "call_id", c->entry->id, "kind",
                         kind_name(m->kind), "rate", (json_int_t)rate, "elapsed_ms", (json_int_t)elapsed,
                         "minutes_charged", (json_int_t)m->minutes_charged, "charged", (json_int_t)m->charged,
                         "balance", (json_int_t)m->balance, "affordable_ms",
                         (json_int_t)meter_affordable_ms(m, now)));
    tell(c, 1, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "event", "billing", "call_id", c->entry->id, "kind",
                         kind_name(m->kind), "rate", (json_int_t)rate, "elapsed_ms", (json_int_t)elapsed,
                         "minutes_charged", (json_int_t)m->minutes_charged, "charged", (json_int_t)m->charged,
                         "earned", (json_int_t)c->earned));
}

static void send_low_balance(const bcall *c, const meter_actions *a)
{
    tell(c, 0, json_pack("{s:s,s:s,s:I,s:I}", "event", "low_balance", "call_id", c->entry->id, "ends_in_ms",
                         (json_int_t)a->ends_in_ms, "needed", (json_int_t)a->needed));
}

/* ---- operations ---- */

static char *op_text(json_t *op)
{
    char *text = json_dumps(op, JSON_COMPACT);
    json_decref(op);
    return text;
}

/* The Unix time of the newest media (for crash recovery), or null. */
static json_t *last_media_wall(const bcall *c, int64_t now)
{
    if (!c->last_media_mono)
        return json_null();
    return json_integer(wall_ms() - (now - c->last_media_mono));
}

static void submit(json_t *op, plugin_json_fn done, void *arg)
{
    char *text = op_text(op);
    if (!text || core->billing_submit(self, text, done, arg) != 0)
        done(arg, "{\"ok\":false,\"reason\":\"error\",\"message\":\"not queued\"}");
    free(text);
}

/* Outcomes carry the call id: the entry may be gone when one arrives. */
static char *id_arg(const bcall *c) { return strdup(c->entry->id); }

static bcall *call_of(const char *id)
{
    book_entry *e = book_find(calls, id);
    return e ? e->data : NULL;
}

static json_t *parse_result(const char *text)
{
    json_t *r = json_loads(text, 0, NULL);
    if (!json_is_object(r)) {
        json_decref(r);
        r = json_pack("{s:b,s:s}", "ok", 0, "reason", "error");
    }
    return r;
}

static int64_t get_int(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static void apply(bcall *c, const meter_actions *a, int64_t now);
static void end_call(bcall *c, const char *reason, int64_t at);

static void on_charged(void *arg, const char *result_json);

static void submit_charge(bcall *c, int64_t minute, meter_kind kind)
{
    int64_t now = billing_now_ms();
    submit(json_pack("{s:s,s:s,s:I,s:s,s:I,s:o}", "op", "charge", "call_id", c->entry->id, "minute", (json_int_t)minute,
                     "kind", kind_name(kind), "billable_ms", (json_int_t)meter_billable_at(&c->m, now),
                     "last_media_ms", last_media_wall(c, now)),
           on_charged, id_arg(c));
}

static void on_charge_retry(void *arg)
{
    bcall *c = arg;
    c->retry_timer = 0;
    if (c->phase == PHASE_METERED && c->m.pending_minute)
        submit_charge(c, c->m.pending_minute, c->m.kind);
}

static void on_charged(void *arg, const char *result_json)
{
    char *id = arg;
    bcall *c = call_of(id);
    free(id);
    if (!c || c->phase != PHASE_METERED)
        return;   /* ended meanwhile: settle ran after it, in order */
    json_t *r = parse_result(result_json);
    int64_t now = billing_now_ms();
    bool ok = json_is_true(json_object_get(r, "ok"));
    const char *reason = json_string_value(json_object_get(r, "reason"));
    int64_t balance = get_int(r, "balance") + get_int(r, "held");
    meter_actions a;
    if (ok) {
        atomic_fetch_add(&stats.charges, 1);
        c->charge_failures = 0;
        c->earned += get_int(r, "host_amount");
        meter_charged(&c->m, now, c->m.pending_minute, true, balance, &a);
        apply(c, &a, now);
    } else if (reason && strcmp(reason, "insufficient_balance") == 0) {
        atomic_fetch_add(&stats.charge_refusals, 1);
        meter_charged(&c->m, now, c->m.pending_minute, false, balance, &a);
        apply(c, &a, now);
    } else if (reason && strcmp(reason, "ended") == 0) {
        /* the hold was released: the call is over for the ledger */
    } else if (++c->charge_failures <= CHARGE_RETRIES) {
        atomic_fetch_add(&stats.charge_retries, 1);
        c->retry_timer = core->timer_start(self, CHARGE_RETRY_MS, on_charge_retry, c);
    } else {
        end_call(c, "billing_unavailable", billing_now_ms());
    }
    json_decref(r);
}

static void on_progress_saved(void *arg, const char *result_json)
{
    (void)result_json;
    free(arg);
}

static void save_progress(bcall *c, int64_t now)
{
    submit(json_pack("{s:s,s:s,s:I,s:o}", "op", "progress", "call_id", c->entry->id, "billable_ms",
                     (json_int_t)meter_billable_at(&c->m, now), "last_media_ms", last_media_wall(c, now)),
           on_progress_saved, NULL);
}

/* The caller's credits as the meter counts them (available + held), or -1. */
static int64_t read_balance(uint64_t user)
{
    char op[64];
    snprintf(op, sizeof op, "{\"op\":\"balance\",\"user_id\":%" PRIu64 "}", user);
    char *text = core->billing_run(self, op);
    json_t *r = text ? parse_result(text) : NULL;
    free(text);
    int64_t b = json_is_true(json_object_get(r, "ok")) ? get_int(r, "available") + get_int(r, "held") : -1;
    json_decref(r);
    return b;
}

/* Carries out what the meter asked; reschedules the call. */
static void apply(bcall *c, const meter_actions *a, int64_t now)
{
    if (a->charge)
        submit_charge(c, a->charge_minute, a->charge_kind);
    if (a->low_balance)
        send_low_balance(c, a);
    if (a->tick) {   /* the meter's progress is persisted with every ticker */
        send_ticker(c, now);
        save_progress(c, now);
    }
    if (a->end == METER_END_INSUFFICIENT) {
        send_ticker(c, now);
        if (listener.end)
            listener.end(listener.arg, c->entry->id, "insufficient_balance");
    }
    book_set_wake(calls, c->entry, a->wake_at_ms);
}

/* A tick is due: refresh the balance first (a purchase during the call shows, and may avert
 * the end), then advance. Not while a charge is in flight: the ledger may already have taken
 * it while the meter has not counted it yet (its outcome brings the new balance anyway). */
static void advance(bcall *c, int64_t now)
{
    meter_actions a;
    if (now >= c->m.next_tick_ms && !c->m.pending_minute) {
        int64_t b = read_balance(c->caller);
        if (b >= 0) {
            meter_balance(&c->m, now, b, &a);
            apply(c, &a, now);
            return;
        }
    }
    meter_advance(&c->m, now, &a);
    apply(c, &a, now);
}

static void drain_inbox(void *arg);

static void on_wake(void *arg)
{
    (void)arg;
    wake_timer = 0;
    /* Facts already told (a hangup just before a boundary) come first: no charge after an end. */
    drain_inbox(NULL);
    int64_t now = billing_now_ms();
    book_entry *e;
    while ((e = book_earliest(calls)) && e->wake_ms <= now)
        advance(e->data, now);
    rearm_timer();
}

/* ---- the life of a call ---- */

static void start_meter(bcall *c)
{
    int64_t now = billing_now_ms();
    int64_t balance = read_balance(c->caller);
    meter_actions a;
    c->phase = PHASE_METERED;
    if (!c->last_media_mono)
        c->last_media_mono = now;
    meter_kind kind = c->video ? METER_VIDEO : METER_AUDIO;
    if (c->resume_minutes > 0)
        meter_resume(&c->m, now, kind, balance < 0 ? 0 : balance, c->resume_minutes, c->resume_charged,
                     c->resume_billable, &a);
    else
        meter_start(&c->m, now, kind, balance < 0 ? 0 : balance, &a);
    apply(c, &a, now);
}

static void on_opened(void *arg, const char *result_json)
{
    char *id = arg;
    bcall *c = call_of(id);
    free(id);
    if (!c || c->phase != PHASE_OPENING)
        return;
    json_t *r = parse_result(result_json);
    if (!json_is_true(json_object_get(r, "ok"))) {
        const char *why = json_string_value(json_object_get(r, "reason"));
        bool settled = why && strcmp(why, "ended") == 0;
        json_decref(r);
        end_call(c, settled ? "ended" : "billing_unavailable", billing_now_ms());
        if (settled && listener.end)   /* a resume of a call settled meanwhile */
            listener.end(listener.arg, c->entry->id, "ended");
        return;
    }
    meter_config mc = {.minute_ms = cfg.minute_ms, .low_balance_ms = cfg.low_balance_ms, .outage_ms = cfg.outage_ms,
                       .ticker_ms = cfg.ticker_ms,
                       .rate = {get_int(r, "audio_rate"), get_int(r, "video_rate")}};
    c->resume_minutes = get_int(r, "minutes_charged");
    c->resume_charged = get_int(r, "charged");
    c->resume_billable = get_int(r, "billable_ms");
    c->earned = get_int(r, "host_earned");
    json_decref(r);
    meter_init(&c->m, &mc);
    c->phase = PHASE_OPEN;
    if (c->connected)
        start_meter(c);
}

static void on_settled(void *arg, const char *result_json)
{
    char *id = arg;
    json_t *r = parse_result(result_json);
    if (!json_is_true(json_object_get(r, "ok")))
        atomic_fetch_add(&stats.settle_failures, 1);
    else
        atomic_fetch_add(&stats.settled, 1);
    json_decref(r);
    bcall *c = call_of(id);
    free(id);
    if (c && c->phase == PHASE_ENDED) {
        book_remove(calls, c->entry);
        free(c);
    }
}

static void settle(const char *id, const char *reason, bcall *c)
{
    int64_t now = billing_now_ms();
    json_t *op = json_pack("{s:s,s:s,s:s}", "op", "settle", "call_id", id, "reason", reason);
    if (c) {
        json_object_set_new(op, "billable_ms", json_integer(c->phase == PHASE_METERED || c->m.started
                                                                ? meter_billable_at(&c->m, now) : 0));
        json_object_set_new(op, "last_media_ms", last_media_wall(c, now));
    }
    submit(op, on_settled, strdup(id));
}

/* The call is over for billing: stop the meter, settle; the entry stays until settled so a
 * late fact about it is recognised and dropped. */
static void end_call(bcall *c, const char *reason, int64_t at)
{
    if (c->phase == PHASE_ENDED)
        return;
    if (c->m.started)
        meter_stop(&c->m, at);
    if (c->retry_timer)
        core->timer_cancel(self, c->retry_timer);
    c->retry_timer = 0;
    book_set_wake(calls, c->entry, INT64_MAX);
    c->phase = PHASE_ENDED;
    settle(c->entry->id, reason, c);
    if (listener.end && strcmp(reason, "billing_unavailable") == 0)
        listener.end(listener.arg, c->entry->id, reason);
}

static bcall *new_call(const char *id)
{
    bcall *c = calloc(1, sizeof *c);
    book_entry *e = c ? book_add(calls, id) : NULL;
    if (!e) {
        free(c);
        return NULL;
    }
    e->data = c;
    c->entry = e;
    return c;
}

/* ------------------------------------------------------------------------------------------ */
/* The inbox: facts from billing.h, applied in order on the dispatch thread                    */

typedef enum fact_kind { FACT_ACCEPTED, FACT_CONNECTED, FACT_MEDIA, FACT_KIND, FACT_ENDED } fact_kind;

typedef struct fact {
    fact_kind kind;
    char id[BOOK_ID_LEN + 1];
    uint64_t caller, host;
    bool video;
    int64_t at;
    char text[2][RESUME_TOKEN_LEN + 1];   /* resume tokens, or [0] = the end reason */
    struct fact *next;
} fact;

static pthread_mutex_t inbox_lock = PTHREAD_MUTEX_INITIALIZER;
static fact *inbox_head, *inbox_tail;
static bool drain_posted;                /* under inbox_lock */

static void apply_accepted(const fact *f)
{
    bcall *c = call_of(f->id);
    if (c)
        return;   /* a duplicate */
    if (!(c = new_call(f->id)))
        return;
    c->caller = f->caller;
    c->host = f->host;
    c->video = f->video;
    c->phase = PHASE_OPENING;
    submit(json_pack("{s:s,s:s,s:I,s:I,s:s,s:[s,s]}", "op", "open", "call_id", f->id, "caller_id",
                     (json_int_t)f->caller, "host_id", (json_int_t)f->host, "kind", f->video ? "video" : "audio",
                     "resume_tokens", f->text[0], f->text[1]),
           on_opened, id_arg(c));
}

static void apply_fact(const fact *f)
{
    bcall *c = f->kind == FACT_ACCEPTED ? NULL : call_of(f->id);
    meter_actions a;
    switch (f->kind) {
    case FACT_ACCEPTED:
        apply_accepted(f);
        break;
    case FACT_CONNECTED:
        if (!c || c->connected)
            break;
        c->connected = true;
        if (c->phase == PHASE_OPEN)
            start_meter(c);
        break;
    case FACT_MEDIA:
        if (!c || f->at <= c->last_media_mono)
            break;
        c->last_media_mono = f->at;
        if (c->phase == PHASE_METERED) {
            meter_media(&c->m, f->at);
            /* a resumed flow after an outage: the clock runs again, maybe due now */
            meter_advance(&c->m, billing_now_ms(), &a);
            apply(c, &a, billing_now_ms());
        }
        break;
    case FACT_KIND:
        if (!c)
            break;
        c->video = f->video;
        if (c->phase == PHASE_METERED)
            meter_set_kind(&c->m, billing_now_ms(), f->video ? METER_VIDEO : METER_AUDIO);
        break;
    case FACT_ENDED:
        if (c)
            end_call(c, f->text[0], f->at);
        else   /* never accepted: only the hold of the authorisation to release */
            settle(f->id, f->text[0], NULL);
        break;
    }
}

static void drain_inbox(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&inbox_lock);
    fact *list = inbox_head;
    inbox_head = inbox_tail = NULL;
    drain_posted = false;
    pthread_mutex_unlock(&inbox_lock);
    while (list) {
        fact *next = list->next;
        apply_fact(list);
        free(list);
        list = next;
    }
    rearm_timer();
}

static void post_fact(fact *f)
{
    if (!atomic_load(&running)) {
        free(f);
        return;
    }
    f->next = NULL;
    pthread_mutex_lock(&inbox_lock);
    if (inbox_tail)
        inbox_tail->next = f;
    else
        inbox_head = f;
    inbox_tail = f;
    bool post = !drain_posted;
    drain_posted = true;
    pthread_mutex_unlock(&inbox_lock);
    /* One drain in flight at a time; if the plugin's queue is full, a timer drains. */
    if (post && core->post(self, drain_inbox, NULL) != 0)
        core->timer_start(self, DRAIN_RETRY_MS, drain_inbox, NULL);
}

static fact *new_fact(fact_kind kind, const char *id)
{
    fact *f = calloc(1, sizeof *f);
    if (f) {
        f->kind = kind;
        snprintf(f->id, sizeof f->id, "%s", id ? id : "");
    }
    return f;
}

/* ------------------------------------------------------------------------------------------ */
/* billing.h                                                                                   */

static void find_recovering(void *arg);

/* The calls of a previous run are looked for once the listener can hear of them. */
void billing_set_listener(const billing_listener *l)
{
    if (!l)
        return;
    listener = *l;
    if (atomic_load(&running))
        core->post(self, find_recovering, NULL);
}

bool billing_available(void) { return atomic_load(&running); }

int billing_authorise(const char *call_id, uint64_t caller_id, uint64_t host_id, bool video, billing_refusal *why)
{
    if (!atomic_load(&running) || !call_id)
        return BILLING_ERROR;
    json_t *op = json_pack("{s:s,s:s,s:I,s:I,s:s}", "op", "authorise", "call_id", call_id, "caller_id",
                           (json_int_t)caller_id, "host_id", (json_int_t)host_id, "kind", video ? "video" : "audio");
    char *text = op_text(op);
    char *out = text ? core->billing_run(self, text) : NULL;
    free(text);
    json_t *r = out ? parse_result(out) : NULL;
    free(out);
    int rc = BILLING_ERROR;
    const char *reason = json_string_value(json_object_get(r, "reason"));
    if (json_is_true(json_object_get(r, "ok"))) {
        rc = BILLING_OK;
    } else if (reason && strcmp(reason, "insufficient_balance") == 0) {
        rc = BILLING_INSUFFICIENT;
        if (why)
            *why = (billing_refusal){.needed = get_int(r, "needed"), .balance = get_int(r, "balance")};
    }
    json_decref(r);
    return rc;
}

void billing_call_accepted(const char *call_id, uint64_t caller_id, uint64_t host_id, bool video,
                           const char *caller_token, const char *host_token)
{
    fact *f = new_fact(FACT_ACCEPTED, call_id);
    if (!f)
        return;
    f->caller = caller_id;
    f->host = host_id;
    f->video = video;
    snprintf(f->text[0], sizeof f->text[0], "%s", caller_token ? caller_token : "");
    snprintf(f->text[1], sizeof f->text[1], "%s", host_token ? host_token : "");
    post_fact(f);
}

void billing_call_connected(const char *call_id)
{
    fact *f = new_fact(FACT_CONNECTED, call_id);
    if (f)
        post_fact(f);
}

void billing_call_media(const char *call_id, int64_t mono_ms)
{
    fact *f = new_fact(FACT_MEDIA, call_id);
    if (!f)
        return;
    f->at = mono_ms;
    post_fact(f);
}

void billing_call_kind(const char *call_id, bool video)
{
    fact *f = new_fact(FACT_KIND, call_id);
    if (!f)
        return;
    f->video = video;
    post_fact(f);
}

void billing_call_ended(const char *call_id, const char *reason)
{
    fact *f = new_fact(FACT_ENDED, call_id);
    if (!f)
        return;
    snprintf(f->text[0], sizeof f->text[0], "%s", reason && reason[0] ? reason : "ended");
    f->at = billing_now_ms();   /* the meter stops at the end itself, not when billing hears of it */
    post_fact(f);
}

/* ------------------------------------------------------------------------------------------ */
/* Crash recovery: meters a previous run left open                                             */

static json_t *recovered_ids;   /* dispatch thread: the calls found at start (one timer) */

/* The backstop: a recovered call nobody resumed and calls did not end (no calls plugin
 * listening) is settled; settling one already settled changes nothing. */
static void on_recovery_expired(void *arg)
{
    (void)arg;
    size_t i;
    json_t *it;
    json_array_foreach(recovered_ids, i, it) {
        const char *id = json_string_value(it);
        if (id && !call_of(id))
            settle(id, "server_restart", NULL);
    }
    json_decref(recovered_ids);
    recovered_ids = NULL;
}

static bool kind_is_video(json_t *kind)
{
    const char *k = json_string_value(kind);
    return k && strcmp(k, "video") == 0;
}

static void on_live(void *arg, const char *result_json)
{
    (void)arg;
    json_t *r = parse_result(result_json);
    json_t *list = json_object_get(r, "calls");
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) {
        const char *id = json_string_value(json_object_get(it, "call_id"));
        json_t *tokens = json_object_get(it, "resume_tokens");
        if (!id)
            continue;
        if (listener.recovering)
            listener.recovering(listener.arg, id, (uint64_t)get_int(it, "caller_id"), (uint64_t)get_int(it, "host_id"),
                                kind_is_video(json_object_get(it, "kind")),
                                json_string_value(json_array_get(tokens, 0)),
                                json_string_value(json_array_get(tokens, 1)), cfg.recovery_grace_ms);
        if (!recovered_ids)
            recovered_ids = json_array();
        json_array_append_new(recovered_ids, json_string(id));
    }
    /* calls ends them at the grace (billing_call_ended, with its reason); this is the backstop */
    if (recovered_ids)
        core->timer_start(self, cfg.recovery_grace_ms + RECOVERY_BACKSTOP_MS, on_recovery_expired, NULL);
    atomic_fetch_add(&stats.recovering, json_array_size(list));
    json_decref(r);
}

static int64_t started_wall_ms;   /* set at init: what existed before is a previous run's */

static void find_recovering(void *arg)
{
    (void)arg;
    submit(json_pack("{s:s,s:I}", "op", "recover", "started_ms", (json_int_t)started_wall_ms), on_live, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* The plugin                                                                                  */

static int64_t config_int(json_t *o, const char *key, int64_t def, int64_t lo, int64_t hi)
{
    json_t *v = json_object_get(o, key);
    int64_t x = json_is_integer(v) ? json_integer_value(v) : def;
    return x < lo || x > hi ? def : x;
}

static int billing_init(const core_callbacks *callbacks, const plugin_init_info *info)
{
    if (!callbacks || callbacks->abi_version != PLUGIN_ABI_VERSION || callbacks->struct_size < sizeof *callbacks ||
        !callbacks->billing_submit || !callbacks->billing_run || !callbacks->post || !callbacks->timer_start)
        return -1;
    json_t *c = json_loads(info->config_json ? info->config_json : "{}", 0, NULL);
    cfg.minute_ms = config_int(c, "minute_ms", REFERENCE_MINUTE_MS, 1000, 3600000);
    cfg.low_balance_ms = scaled(config_int(c, "low_balance_ms", 30000, 0, 3600000));
    cfg.ticker_ms = scaled(TICKER_MS);
    cfg.outage_ms = scaled(OUTAGE_MS);
    cfg.recovery_grace_ms = (uint32_t)config_int(c, "recovery_grace_s", 60, 1, 3600) * 1000u;
    json_decref(c);
    core = callbacks;
    self = info->self;
    /* Without a platform (auth off) nothing is billed; the plugin says so by not running. */
    if (!(calls = book_create()))
        return -1;
    char *probe = core->billing_run(self, "{\"op\":\"balance\",\"user_id\":1}");
    if (!probe)   /* calls between users are then refused (503) */
        return 0;
    free(probe);
    atomic_store(&running, true);
    started_wall_ms = wall_ms();
    return 0;
}

/* Sessions are gone: the calls plugin ended its calls, whose facts may still be queued. */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static bool stop_done;

static void stop_on_thread(void *arg)
{
    (void)arg;
    drain_inbox(NULL);
    pthread_mutex_lock(&stop_lock);
    stop_done = true;
    pthread_cond_signal(&stop_cond);
    pthread_mutex_unlock(&stop_lock);
}

static void billing_stop(void)
{
    if (core->post(self, stop_on_thread, NULL) != 0)
        return;
    pthread_mutex_lock(&stop_lock);
    while (!stop_done)
        pthread_cond_wait(&stop_cond, &stop_lock);
    pthread_mutex_unlock(&stop_lock);
    atomic_store(&running, false);
}

static void free_call(book_entry *e, void *arg)
{
    (void)arg;
    free(e->data);
}

static void billing_destroy(void)
{
    atomic_store(&running, false);
    if (calls) {
        book_each(calls, free_call, NULL);
        book_destroy(calls);
    }
    calls = NULL;
    for (fact *f = inbox_head, *next; f; f = next) {
        next = f->next;
        free(f);
    }
    inbox_head = inbox_tail = NULL;
    json_decref(recovered_ids);
    recovered_ids = NULL;
}

static void *billing_create_session(plugin_handle *h, int *error)
{
    (void)h;
    if (error)
        *error = -1;   /* no Janus clients: billing is seen through the calls plugin */
    return NULL;
}

static plugin_result billing_handle_message(void *session, const char *transaction, const char *body_json,
                                            const char *jsep_json)
{
    (void)session, (void)transaction, (void)body_json, (void)jsep_json;
    return (plugin_result){.kind = PLUGIN_RESULT_ERROR, .error_code = 499};
}

static void billing_destroy_session(void *session, int *error)
{
    (void)session;
    if (error)
        *error = 0;
}

static char *billing_admin(const char *query)
{
    (void)query;
    json_t *o = json_pack("{s:b,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I}}", "running", atomic_load(&running),
                          "minute_ms", (json_int_t)cfg.minute_ms, "low_balance_ms", (json_int_t)cfg.low_balance_ms,
                          "ticker_ms", (json_int_t)cfg.ticker_ms, "outage_ms", (json_int_t)cfg.outage_ms, "counters",
                          "charges", (json_int_t)atomic_load(&stats.charges), "charge_refusals",
                          (json_int_t)atomic_load(&stats.charge_refusals), "charge_retries",
                          (json_int_t)atomic_load(&stats.charge_retries), "settled",
                          (json_int_t)atomic_load(&stats.settled), "settle_failures",
                          (json_int_t)atomic_load(&stats.settle_failures), "recovering",
                          (json_int_t)atomic_load(&stats.recovering));
    return op_text(o);
}

static const plugin_descriptor billing_descriptor = {
    .abi_version = PLUGIN_ABI_VERSION,
    .struct_size = sizeof(plugin_descriptor),
    .package = "janus.plugin.billing",
    .name = "Billing",
    .description = "Per-minute metering of calls against the ledger (used by the calls plugin)",
    .author = "parley",
    .version = 1,
    .version_string = "0.1",
    .config_section = "billing",
    .init = billing_init,
    .destroy = billing_destroy,
    .create_session = billing_create_session,
    .handle_message = billing_handle_message,
    .destroy_session = billing_destroy_session,
    .admin = billing_admin,
    .stop = billing_stop,
};

const plugin_descriptor *billing_plugin_descriptor(void);
const plugin_descriptor *billing_plugin_descriptor(void) { return &billing_descriptor; }
