/*
 * calls: janus.plugin.videocall-compatible 1:1 paid calls. Callers call hosts; every device a
 * host registered rings; the first to accept wins; media is relayed between the two legs on
 * one loop (media.c). Requests, events and error codes are those of Janus 1.1.2's videocall
 * (list, register, call, accept, set, hangup; registered, calling, incomingcall, accepted,
 * update, set, hangup), plus our rules and a call_id on every call event.
 *
 * Error codes ({"videocall":"event","error_code":N,"error":"..."}, pushed with the request's
 * transaction as Janus does):
 *   Janus videocall (same codes, same texts):
 *     470 No message??
 *     471 JSON error: not an object
 *     472 Unknown request (<request>)
 *     473 Register a username first
 *     474 Invalid element type (<name> should be <a string|a boolean|a positive integer>)
 *     475 Missing mandatory element (<name>)
 *     476 Username '<username>' already taken              (auth off only)
 *     477 Already registered (<username>)
 *     478 Username '<username>' doesn't exist              (with auth: no user with that id)
 *     479 You can't call yourself... use the EchoTest for that
 *     480 Already in a call
 *     481 No incoming call to accept
 *     482 Missing SDP
 *     483 Error parsing offer: <why> / Error parsing answer: <why>
 *     499 <internal failure> (Janus's "unknown error")
 *   Ours:
 *     490 With authentication the username must be your user id (<id>)
 *     491 Only callers can place calls
 *     492 User <id> is not a host
 *     494 A call needs an offer (got <type>)
 *     495 The offer has neither audio nor video (or none with a codec the server knows)
 *     496 Accept needs an answer (got <type>)
 *     497 No active call to renegotiate
 *     498 Unexpected answer: no renegotiation in progress
 *     500 A renegotiation is already in progress
 *     501 Could not record the call
 *     502 Insufficient balance: the first minute costs <needed>, the wallet has <balance>
 *         (the error event also carries "reason":"insufficient_balance", needed, balance)
 *     503 Billing unavailable
 *     504 No call to resume (<call_id>)      (unknown, ended, or not interrupted by a crash)
 *     505 Wrong resume token                 (or the token of another user's call)
 *     506 Resume again with a new offer      (the new PeerConnection landed away from the
 *                                             other party's: it was closed; the next one will not)
 *
 * Hangup reasons (result.reason of a "hangup" event): Janus's texts for a plain hangup of an
 * active call ("Explicit hangup" to whoever asked, the request's "reason" or "We did the
 * hangup" to the other party); otherwise one of call.h's reasons: declined, no_answer,
 * cancelled, busy, unavailable, answered_elsewhere, peer_gone, insufficient_balance (the
 * billing plugin ended it at a minute the caller could not pay), billing_unavailable.
 *
 * Decline policy: a ringing device's hangup declines the call for the host: the caller hears
 * "declined" and every other ringing device gets hangup "declined" (a device that merely
 * detaches stops ringing alone; the call ends with peer_gone when it was the last one).
 *
 * Busy policy: a host is busy while it is a party of an active call (ringing is not busy),
 * but a handle rings for one call at a time (it carries one PeerConnection, so one offer):
 * a caller finding every handle of the host ringing for someone else also gets "busy".
 * Accepting a call ends the host's other ringing calls with "busy".
 *
 * Billing (plugins/billing, billing.h) is told of a call's life at the "Billing seam" below and
 * only there; its ticker and low-balance events reach the parties through billing_event_in,
 * its "end this call" through billing_end_in. Each party gets a resume token (calling /
 * accepted for the caller, incomingcall for the devices) kept by billing for crash recovery.
 *
 * Threads (plugin.h): handle_message, timers and posted work run on the plugin's dispatch
 * thread, one at a time: the registry, the calls and the sessions' dispatch fields live there
 * without locks. Loop callbacks (media.c) and destroy_session hand their work over with
 * vc_run_on_dispatch. query_session and admin run on any thread: they read under
 * view_lock, which the dispatch thread takes only around the writes they read (a call step,
 * linking a call, a session's username/call) and never while calling the core.
 * Ownership: see session.h for sessions; calls are malloc'd here, live in live_calls until
 * they end, and are freed by finish_call.
 *
 * Names: plugins are linked whole into the server, whose core exports session_*, rtcp_* and
 * calls_*: every symbol this plugin exports starts with vc_ (videocall), except its
 * descriptor getter calls_plugin_descriptor.
 */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "billing/billing.h"
#include "call.h"
#include "media.h"
#include "plugin.h"
#include "registry.h"
#include "session.h"

#define ERR_NO_MESSAGE 470
#define ERR_INVALID_JSON 471
#define ERR_INVALID_REQUEST 472
#define ERR_REGISTER_FIRST 473
#define ERR_INVALID_ELEMENT 474
#define ERR_MISSING_ELEMENT 475
#define ERR_USERNAME_TAKEN 476
#define ERR_ALREADY_REGISTERED 477
#define ERR_NO_SUCH_USERNAME 478
#define ERR_USE_ECHO_TEST 479
#define ERR_ALREADY_IN_CALL 480
#define ERR_NO_CALL 481
#define ERR_MISSING_SDP 482
#define ERR_INVALID_SDP 483
#define ERR_UNKNOWN 499
#define ERR_NOT_YOUR_ID 490
#define ERR_NOT_A_CALLER 491
#define ERR_NOT_A_HOST 492
#define ERR_NOT_AN_OFFER 494
#define ERR_NO_MEDIA 495
#define ERR_NOT_AN_ANSWER 496
#define ERR_NO_ACTIVE_CALL 497
#define ERR_NO_RENEGOTIATION 498
#define ERR_GLARE 500
#define ERR_NOT_RECORDED 501
#define ERR_INSUFFICIENT_BALANCE 502
#define ERR_BILLING_UNAVAILABLE 503
#define ERR_NO_CALL_TO_RESUME 504
#define ERR_WRONG_RESUME_TOKEN 505
#define ERR_RESUME_AGAIN 506

/* What the caller hears with a low_balance event (mixed into the host's audio). */
#define LOW_BALANCE_TONE_HZ 1500
#define LOW_BALANCE_TONE_MS 1000

#define JANUS_OWN_HANGUP "Explicit hangup"
#define JANUS_PEER_HANGUP "We did the hangup"

const core_callbacks *vc_core;
plugin_ctx *vc_self;
calls_counters vc_stats;

static struct {
    uint32_t ring_timeout_ms;
    uint32_t reconnect_grace_ms;
} config;

static atomic_bool running;
static registry *directory;     /* dispatch thread only */
static call *live_calls;        /* oldest first; linked/unlinked under view_lock */
static pthread_mutex_t view_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool auth_on(const calls_session *s) { return s->user_id != 0; }

/* Calls between platform users are recorded and billed; with auth off there are no users. */
static bool call_is_recorded(const call *c) { return c->caller_id != 0 && c->host_id != 0; }

static char *dump_and_free(json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* {"videocall":"event","result":result} (steals result). */
static char *event_text(json_t *result)
{
    return dump_and_free(json_pack("{s:s,s:o}", "videocall", "event", "result", result));
}

static plugin_result reply(json_t *result)
{
    return (plugin_result){.kind = PLUGIN_RESULT_EVENT, .json = event_text(result)};
}

__attribute__((format(printf, 2, 3)))
static plugin_result refuse(int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:s,s:i,s:s}", "videocall", "event", "error_code", code, "error", text);
    return (plugin_result){.kind = PLUGIN_RESULT_EVENT, .json = dump_and_free(o)};
}

/* Pushes a transaction-less event (steals result). */
static void notify(calls_session *to, json_t *result, const char *jsep)
{
    char *text = event_text(result);
    if (text)
        vc_core->push_event(to->handle, NULL, text, jsep);
    free(text);
}

static json_t *hangup_result(const char *username, const char *reason, const char *call_id)
{
    json_t *r = json_pack("{s:s,s:s?,s:s}", "event", "hangup", "username", username, "reason", reason);
    if (call_id)
        json_object_set_new(r, "call_id", json_string(call_id));
    return r;
}

static void record(json_t *rec)
{
    char *text = dump_and_free(rec);
    if (!text || vc_core->call_record(vc_self, text) != 0)
        atomic_fetch_add(&vc_stats.record_failures, 1);
    free(text);
}

static int record_checked(json_t *rec)
{
    char *text = dump_and_free(rec);
    int rc = text ? vc_core->call_record(vc_self, text) : -1;
    if (rc != 0)
        atomic_fetch_add(&vc_stats.record_failures, 1);
    free(text);
    return rc;
}

static void record_end(const call *c)
{
    if (call_is_recorded(c))
        record(json_pack("{s:s,s:s,s:s}", "op", "end", "call_id", c->id, "reason",
                         vc_call_reason_name(c->reason)));
}

static void record_kind(const call *c)
{
    if (call_is_recorded(c))
        record(json_pack("{s:s,s:s,s:s}", "op", "kind", "call_id", c->id, "kind", vc_call_kind_name(c->kind)));
}

/* ---- JSEP ---- */

/* The "type" of a JSEP ("offer", "answer", ...) into out ("" when unreadable). */
static void jsep_type(const char *jsep_json, char *out, size_t n)
{
    out[0] = '\0';
    json_t *j = jsep_json ? json_loads(jsep_json, 0, NULL) : NULL;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (type)
        snprintf(out, n, "%s", type);
    json_decref(j);
}

static bool dir_flows(plugin_media_dir d)
{
    return d == PLUGIN_DIR_SENDRECV || d == PLUGIN_DIR_SENDONLY || d == PLUGIN_DIR_RECVONLY;
}

/* A call is a video call when the caller's offer sends video. */
static call_kind kind_of_offer(const plugin_media_desc *offer)
{
    bool sends = offer->video == PLUGIN_DIR_SENDRECV || offer->video == PLUGIN_DIR_SENDONLY;
    return sends ? CALL_KIND_VIDEO : CALL_KIND_AUDIO;
}

/* After a negotiation completed: video flows when the answer kept it in some direction. */
static call_kind kind_of_answer(const plugin_media_desc *answer)
{
    return dir_flows(answer->video) ? CALL_KIND_VIDEO : CALL_KIND_AUDIO;
}

/* ---- request parameters, validated as Janus's JANUS_VALIDATE_JSON_OBJECT does ---- */

typedef enum { PARAM_STRING, PARAM_BOOL, PARAM_POSITIVE_INT } param_type;
typedef struct {
    const char *name;
    param_type type;
    bool required;
} param_spec;

static bool param_valid(json_t *v, param_type type)
{
    switch (type) {
    case PARAM_STRING: return json_is_string(v);
    case PARAM_BOOL: return json_is_boolean(v);
    case PARAM_POSITIVE_INT: return json_is_integer(v) && json_integer_value(v) >= 0;
    }
    return false;
}

static const char *param_type_name(param_type type)
{
    switch (type) {
    case PARAM_STRING: return "a string";
    case PARAM_BOOL: return "a boolean";
    case PARAM_POSITIVE_INT: return "a positive integer";
    }
    return "?";
}

/* true when body satisfies specs; otherwise *err is the Janus error. */
static bool params_ok(json_t *body, const param_spec *specs, size_t n, plugin_result *err)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(body, specs[i].name);
        if (!v) {
            if (!specs[i].required)
                continue;
            *err = refuse(ERR_MISSING_ELEMENT, "Missing mandatory element (%s)", specs[i].name);
            return false;
        }
        if (!param_valid(v, specs[i].type)) {
            *err = refuse(ERR_INVALID_ELEMENT, "Invalid element type (%s should be %s)", specs[i].name,
                          param_type_name(specs[i].type));
            return false;
        }
    }
    return true;
}

#define PARAMS_OK(body, specs, err) params_ok(body, specs, sizeof(specs) / sizeof((specs)[0]), err)

static const param_spec request_params[] = {{"request", PARAM_STRING, true}};
static const param_spec username_params[] = {{"username", PARAM_STRING, true}};
static const param_spec call_id_params[] = {{"call_id", PARAM_STRING, false}};
static const param_spec set_params[] = {
    {"audio", PARAM_BOOL, false},   {"video", PARAM_BOOL, false},     {"bitrate", PARAM_POSITIVE_INT, false},
    {"record", PARAM_BOOL, false},  {"filename", PARAM_STRING, false}, {"restart", PARAM_BOOL, false},
};

/* ---- users (auth on) ---- */

/* A user id written the one canonical way (decimal, no sign, no leading zero), or 0. */
static uint64_t parse_user_id(const char *text)
{
    if (!text[0] || text[0] == '0' || strlen(text) > 20)
        return 0;
    uint64_t id = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        uint64_t next = id * 10 + (uint64_t)(*p - '0');
        if (next / 10 != id)
            return 0;
        id = next;
    }
    return id;
}

static void format_user_id(uint64_t id, char out[24]) { snprintf(out, 24, "%" PRIu64, id); }

/* The platform's record of a user (parsed), or NULL. */
static json_t *user_profile(uint64_t id)
{
    char *text = vc_core->user_info(vc_self, id);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static bool profile_role_is(json_t *profile, const char *role)
{
    const char *r = json_string_value(json_object_get(profile, "role"));
    return r && strcmp(r, role) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Billing seam: what billing.h hears of a call, and nothing anywhere else                     */
/*   - authorise: before a call rings (billing holds the first minute); refusal ends the call */
/*     request with 502 and the figures;                                                       */
/*   - accepted: the host answered (billing locks the rates);                                  */
/*   - connected: both legs' media up for the first time (call_outcome's meter_start), not at  */
/*     accept: nobody pays for a call that never connected;                                    */
/*   - kind: an upgrade or downgrade; media: the sweep's newest media time;                    */
/*   - ended: whatever the reason, once per authorised call.                                   */

static bool billing_applies(const call *c) { return call_is_recorded(c); }

static void billing_ended(call *c)
{
    if (c->billed)
        billing_call_ended(c->id, vc_call_reason_name(c->reason));
    c->billed = false;
}

/* 0 (authorised or not billed), or -1 with the refusal in *err. */
static int billing_preauthorise(call *c, plugin_result *err)
{
    if (!billing_applies(c))
        return 0;
    billing_refusal why;
    int rc = billing_authorise(c->id, c->caller_id, c->host_id, c->kind == CALL_KIND_VIDEO, &why);
    if (rc == BILLING_OK) {
        c->billed = true;
        return 0;
    }
    if (rc == BILLING_INSUFFICIENT) {
        json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:I,s:I}", "videocall", "event", "error_code", ERR_INSUFFICIENT_BALANCE,
                              "error", "Insufficient balance", "reason", "insufficient_balance", "needed",
                              (json_int_t)why.needed, "balance", (json_int_t)why.balance);
        char text[160];
        snprintf(text, sizeof text, "Insufficient balance: the first minute costs %" PRId64 ", the wallet has %" PRId64,
                 why.needed, why.balance);
        json_object_set_new(o, "error", json_string(text));
        *err = (plugin_result){.kind = PLUGIN_RESULT_EVENT, .json = dump_and_free(o)};
        return -1;
    }
    *err = refuse(ERR_BILLING_UNAVAILABLE, "Billing unavailable");
    return -1;
}

static void billing_accepted(const call *c)
{
    if (c->billed)
        billing_call_accepted(c->id, c->caller_id, c->host_id, c->kind == CALL_KIND_VIDEO,
                              c->resume_token[CALL_LEG_CALLER], c->resume_token[CALL_LEG_HOST]);
}

static void media_sweep(void *arg);
static uint64_t sweep_timer;   /* dispatch thread */

static void billing_meter_start(const call *c)
{
    if (!c->billed)
        return;
    billing_call_connected(c->id);
    if (!sweep_timer)
        sweep_timer = vc_core->timer_start(vc_self, billing_media_report_ms(), media_sweep, NULL);
}

static void billing_kind(const call *c)
{
    if (c->billed && c->state == CALL_ACTIVE)
        billing_call_kind(c->id, c->kind == CALL_KIND_VIDEO);
}

/* ------------------------------------------------------------------------------------------ */
/* Live calls (dispatch thread; the list and the fields readers see change under view_lock)   */

static void link_call(call *c)
{
    pthread_mutex_lock(&view_lock);
    call **p = &live_calls;
    while (*p)
        p = &(*p)->next;
    *p = c;
    c->next = NULL;
    pthread_mutex_unlock(&view_lock);
}

static void unlink_call(call *c)
{
    pthread_mutex_lock(&view_lock);
    for (call **p = &live_calls; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&view_lock);
}

static void set_session_call(calls_session *s, call *c)
{
    pthread_mutex_lock(&view_lock);
    s->call = c;
    pthread_mutex_unlock(&view_lock);
}

static void step(call *c, call_input in, calls_session *leg, call_outcome *out)
{
    pthread_mutex_lock(&view_lock);
    vc_call_step(c, in, leg, out);
    pthread_mutex_unlock(&view_lock);
}

static void change_kind(call *c, call_kind kind)
{
    pthread_mutex_lock(&view_lock);
    bool changed = vc_call_set_kind(c, kind);
    if (changed)
        c->kind_since_ms = wall_ms();
    pthread_mutex_unlock(&view_lock);
    if (changed) {
        record_kind(c);
        billing_kind(c);
    }
}

static calls_session *caller_of(const call *c) { return c->legs[CALL_LEG_CALLER].session; }
static calls_session *answerer_of(const call *c) { return c->legs[CALL_LEG_HOST].session; }

/* The username of whoever's act or loss it was: the caller's, or the host's for a device. */
static const char *name_of(const call *c, const void *leg)
{
    return leg && leg == caller_of(c) ? c->caller_name : c->host_name;
}

/* Calls ringing device s (collected first: carrying out a step may free calls). */
static size_t calls_ringing(const calls_session *s, const char *call_id, call **out, size_t max)
{
    size_t n = 0;
    for (call *c = live_calls; c && n < max; c = c->next)
        if (vc_call_is_ringing(c, s) && (!call_id || strcmp(call_id, c->id) == 0))
            out[n++] = c;
    return n;
}

/* A device rings for one call at a time (free_devices); scans allow more, as a bound. */
#define MAX_RINGING_PER_DEVICE 64

/* A user is in a call when it is a party of an active call or places one that rings. A host
 * whose devices merely ring is not (a free device of it may ring for another caller). */
static bool user_in_call(const char *username)
{
    for (call *c = live_calls; c; c = c->next) {
        if (strcmp(c->caller_name, username) == 0)
            return true;
        if (c->state == CALL_ACTIVE && strcmp(c->host_name, username) == 0)
            return true;
    }
    return false;
}

static bool session_involved(const calls_session *s)
{
    call *ringing[1];
    return s->call || calls_ringing(s, NULL, ringing, 1) > 0;
}

/* ---- timers ---- */

static void carry_out(call *c, call_outcome *out, calls_session *replied, const char *hangup_text);

static void on_ring_timeout(void *arg)
{
    call *c = arg;
    c->ring_timer = 0;
    call_outcome out;
    step(c, CALL_IN_RING_TIMEOUT, NULL, &out);
    carry_out(c, &out, NULL, NULL);
}

static void on_grace_expired(void *arg)
{
    call_leg *leg = arg;
    leg->grace_timer = 0;
    call_outcome out;
    step(leg->owner, CALL_IN_GRACE_EXPIRED, leg->session, &out);
    carry_out(leg->owner, &out, NULL, NULL);
}

static void cancel_timer(uint64_t *id)
{
    if (*id)
        vc_core->timer_cancel(vc_self, *id);
    *id = 0;
}

/* A leg lost its PeerConnection: its next one must land on the other leg's loop, and it has
 * reconnect_grace_s to come back. */
static void start_grace(call *c, int i)
{
    call_leg *leg = &c->legs[i];
    calls_session *lost = leg->session, *other = c->legs[1 - i].session;
    if (lost && other)
        vc_core->handle_colocate(lost->handle, other->handle);
    cancel_timer(&leg->grace_timer);
    leg->grace_timer = vc_core->timer_start(vc_self, config.reconnect_grace_ms, on_grace_expired, leg);
}

/* ---- push: the host's devices that are not live in the app ---- */

static bool push_available(void)
{
    return vc_core->struct_size >= offsetof(core_callbacks, push_notify) + sizeof vc_core->push_notify &&
           vc_core->push_notify;
}

/* The ring stopped (answered on a device, cancelled, declined, timed out): the devices the
 * push reached stop ringing. */
static void push_ring_ended(call *c, const char *reason)
{
    if (!c->pushed || !push_available())
        return;
    c->pushed = false;
    char *notice = dump_and_free(json_pack("{s:s,s:I,s:s,s:s}", "type", "call_ended", "user_id",
                                           (json_int_t)c->host_id, "call_id", c->id, "reason", reason));
    if (notice)
        vc_core->push_notify(vc_self, notice, NULL, 0);
    free(notice);
}

/* ---- the end of a call ---- */

static void tell_parties_it_ended(call *c, calls_session *by, calls_session *replied, const char *hangup_text)
{
    calls_session *parties[2] = {caller_of(c), answerer_of(c)};
    for (int i = 0; i < 2; i++) {
        calls_session *p = parties[i];
        if (!p || p == replied)
            continue;
        const char *reason = vc_call_reason_name(c->reason);
        if (c->reason == CALL_REASON_HANGUP)
            reason = hangup_text ? hangup_text : JANUS_PEER_HANGUP;
        notify(p, hangup_result(name_of(c, by), reason, c->id), NULL);
    }
}

static void finish_call(call *c, calls_session *by, calls_session *replied, const char *hangup_text)
{
    calls_session *caller = caller_of(c), *answerer = answerer_of(c);
    push_ring_ended(c, vc_call_reason_name(c->reason));   /* a no-op once answered */
    tell_parties_it_ended(c, by, replied, hangup_text);
    cancel_timer(&c->ring_timer);
    for (int i = 0; i < 2; i++)
        cancel_timer(&c->legs[i].grace_timer);
    if (answerer) {
        /* Unlink while the PeerConnections still exist: the release then runs on their loop. */
        vc_session_unlink_peer(caller);
        vc_session_unlink_peer(answerer);
        vc_session_reset_switches(caller);
        vc_session_reset_switches(answerer);
        vc_core->close_pc(answerer->handle);
        if (call_is_recorded(c))
            vc_core->user_set_busy(vc_self, c->host_id, false);
    }
    /* As Janus: both PeerConnections close with the call (a new call negotiates anew). */
    vc_core->close_pc(caller->handle);
    billing_ended(c);
    record_end(c);
    unlink_call(c);
    pthread_mutex_lock(&view_lock);
    if (caller->call == c)
        caller->call = NULL;
    if (answerer && answerer->call == c)
        answerer->call = NULL;
    pthread_mutex_unlock(&view_lock);
    atomic_fetch_add(&vc_stats.calls_ended, 1);
    vc_call_free(c);
    free(c);
}

/* Carries out what a step reported. replied: the session whose request gets its own reply
 * (not an extra hangup event); hangup_text: the reason its peer hears for a plain hangup. */
static void carry_out(call *c, call_outcome *out, calls_session *replied, const char *hangup_text)
{
    for (size_t i = 0; i < out->n_released; i++) {
        calls_session *device = out->released[i];
        notify(device, hangup_result(c->caller_name, vc_call_reason_name(out->release_reason), c->id), NULL);
        /* Its PeerConnection carried this call's offer, unless it is in another call now. */
        if (!device->call)
            vc_core->close_pc(device->handle);
    }
    if (out->start_grace >= 0)
        start_grace(c, out->start_grace);
    if (out->cancel_grace >= 0)
        cancel_timer(&c->legs[out->cancel_grace].grace_timer);
    if (out->meter_start)
        billing_meter_start(c);
    if (out->ended)
        finish_call(c, out->ended_by, replied, hangup_text);
    vc_call_outcome_clear(out);
}

/* The host took call `taken`: its other calls still ringing end with busy. */
static void end_calls_ringing_host(const call *taken)
{
    call *others[MAX_RINGING_PER_DEVICE];
    size_t n = 0;
    for (call *c = live_calls; c && n < MAX_RINGING_PER_DEVICE; c = c->next)
        if (c != taken && c->state == CALL_RINGING && strcmp(c->host_name, taken->host_name) == 0)
            others[n++] = c;
    for (size_t i = 0; i < n; i++) {
        call_outcome out;
        step(others[i], CALL_IN_HOST_BUSY, NULL, &out);
        carry_out(others[i], &out, NULL, NULL);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                    */

static plugin_result handle_list(void)
{
    json_t *list = json_array();
    for (size_t i = 0; i < vc_registry_name_count(directory); i++)
        json_array_append_new(list, json_string(vc_registry_name_at(directory, i)));
    return reply(json_pack("{s:o}", "list", list));
}

static void colocate_for_resume(calls_session *s);
static void ring_late_on_dispatch(void *arg);

static plugin_result handle_register(calls_session *s, json_t *body)
{
    if (s->username)
        return refuse(ERR_ALREADY_REGISTERED, "Already registered (%s)", s->username);
    plugin_result err;
    if (!PARAMS_OK(body, username_params, &err))
        return err;
    const char *username = json_string_value(json_object_get(body, "username"));
    if (auth_on(s)) {
        /* A user's devices all register under its id: that is how callers reach it. */
        char own[24];
        format_user_id(s->user_id, own);
        if (strcmp(username, own) != 0)
            return refuse(ERR_NOT_YOUR_ID, "With authentication the username must be your user id (%s)", own);
    } else {
        void *const *devices;
        if (vc_registry_devices(directory, username, &devices) > 0)
            return refuse(ERR_USERNAME_TAKEN, "Username '%s' already taken", username);
    }
    char *copy = strdup(username);
    if (!copy || vc_registry_add(directory, username, s) != 0) {
        free(copy);
        return refuse(ERR_UNKNOWN, "Out of memory");
    }
    pthread_mutex_lock(&view_lock);
    s->username = copy;
    pthread_mutex_unlock(&view_lock);
    colocate_for_resume(s);
    /* Posted: the client gets "registered" before an "incomingcall" for a call ringing now. */
    vc_session_ref(s);
    vc_run_on_dispatch(ring_late_on_dispatch, s);
    return reply(json_pack("{s:s,s:s}", "event", "registered", "username", username));
}

/* Who is being called, as far as the call request needs to know. */
typedef struct call_target {
    const char *name;           /* registry username */
    uint64_t host_id;           /* 0 with auth off */
    bool do_not_disturb;
    char caller_display[128];
    char caller_avatar[512];
} call_target;

/* Auth on: a caller calls a host by id. 0, or an error in *err. */
static int check_paid_call(calls_session *s, const char *username, call_target *t, plugin_result *err)
{
    json_t *me = user_profile(s->user_id);
    if (!me) {
        *err = refuse(ERR_UNKNOWN, "Could not read your profile");
        return -1;
    }
    bool is_caller = profile_role_is(me, "caller");
    const char *display = json_string_value(json_object_get(me, "display_name"));
    const char *avatar = json_string_value(json_object_get(me, "avatar_url"));
    snprintf(t->caller_display, sizeof t->caller_display, "%s", display ? display : "");
    snprintf(t->caller_avatar, sizeof t->caller_avatar, "%s", avatar ? avatar : "");
    json_decref(me);
    if (!is_caller) {
        *err = refuse(ERR_NOT_A_CALLER, "Only callers can place calls");
        return -1;
    }
    uint64_t host_id = parse_user_id(username);
    json_t *host = host_id ? user_profile(host_id) : NULL;
    if (!host) {
        *err = refuse(ERR_NO_SUCH_USERNAME, "Username '%s' doesn't exist", username);
        return -1;
    }
    bool is_host = profile_role_is(host, "host");
    /* A host who blocked this caller looks exactly like one on do-not-disturb: the caller
     * learns "unavailable", never that it was blocked. */
    t->do_not_disturb = json_is_true(json_object_get(host, "do_not_disturb")) ||
                        (vc_core->user_blocks && vc_core->user_blocks(vc_self, host_id, s->user_id));
    json_decref(host);
    if (!is_host) {
        *err = refuse(ERR_NOT_A_HOST, "User %s is not a host", username);
        return -1;
    }
    t->name = username;
    t->host_id = host_id;
    return 0;
}

/* Whether the server knows a codec of the offer's audio or video: jsep_describe does not look
 * at codecs, but the core's own answer rejects a kind none of whose codecs it knows (an offer
 * of only unknown codecs would ring devices that can never get media). */
static bool offer_has_known_codec(const char *offer)
{
    plugin_media_desc want = {.audio = PLUGIN_DIR_SENDRECV, .video = PLUGIN_DIR_SENDRECV, .data = true};
    char *answer = vc_core->jsep_answer(offer, &want);
    plugin_media_desc got;
    bool known = answer && vc_core->jsep_describe(answer, &got) == 0 && (dir_flows(got.audio) || dir_flows(got.video));
    free(answer);
    return known;
}

/* The caller's offer: present, an offer, readable, with audio or video. Sets *relay (the offer
 * as the devices get it) and *kind. 0, or an error in *err. */
static int check_offer(const char *jsep, char **relay, call_kind *kind, plugin_result *err)
{
    if (!jsep) {
        *err = refuse(ERR_MISSING_SDP, "Missing SDP");
        return -1;
    }
    char type[16];
    jsep_type(jsep, type, sizeof type);
    if (strcasecmp(type, "offer") != 0) {
        *err = refuse(ERR_NOT_AN_OFFER, "A call needs an offer (got %s)", type[0] ? type : "none");
        return -1;
    }
    plugin_media_desc desc;
    if (vc_core->jsep_describe(jsep, &desc) != 0) {
        *err = refuse(ERR_INVALID_SDP, "Error parsing offer: %s", "unusable session description");
        return -1;
    }
    if ((!dir_flows(desc.audio) && !dir_flows(desc.video)) || !offer_has_known_codec(jsep)) {
        *err = refuse(ERR_NO_MEDIA, "The offer has neither audio nor video");
        return -1;
    }
    if (!(*relay = vc_core->jsep_relay_offer(jsep, NULL))) {
        *err = refuse(ERR_INVALID_SDP, "Error parsing offer: %s", "cannot be relayed");
        return -1;
    }
    /* What survives the relay (kinds with no codec we can forward are rejected there). */
    plugin_media_desc relayed;
    if (vc_core->jsep_describe(*relay, &relayed) != 0 || (!dir_flows(relayed.audio) && !dir_flows(relayed.video))) {
        free(*relay);
        *relay = NULL;
        *err = refuse(ERR_NO_MEDIA, "The offer has neither audio nor video");
        return -1;
    }
    *kind = kind_of_offer(&relayed);
    return 0;
}

/* A refused call: as Janus, the caller's half-made PeerConnection for it is closed (but never
 * one a live call of this session uses). */
/* Closes the device's PeerConnection once the answer to its request is out: the core pushes
 * a request's result when handle_message returns, and posted work runs after that. Closed at
 * once, the "hangup" could reach the client first, and a janus.js-style client fails the
 * pending request with it ("peer connection closed") instead of showing why the call was
 * refused (seen in web_app under load: no "balance does not cover"). */
static void close_pc_on_dispatch(void *arg)
{
    calls_session *s = arg;
    if (!s->gone && !vc_core->handle_detached(s->handle))
        vc_core->close_pc(s->handle);
    vc_session_unref(s);
}

static void close_pc_after_reply(calls_session *s)
{
    vc_session_ref(s);
    vc_run_on_dispatch(close_pc_on_dispatch, s);
}

static plugin_result refuse_call(calls_session *s, const char *jsep, plugin_result err)
{
    if (jsep && !session_involved(s))
        close_pc_after_reply(s);
    return err;
}

/* The call ends before ringing (busy, unavailable): recorded, and the caller hears why. */
static plugin_result end_before_ringing(calls_session *s, call *c, call_reason why)
{
    c->reason = why;
    c->state = CALL_ENDED;
    record_end(c);
    billing_ended(c);
    close_pc_after_reply(s);
    plugin_result r = reply(hangup_result(c->host_name, vc_call_reason_name(why), c->id));
    vc_call_free(c);
    free(c);
    return r;
}

/* Places the device's next PeerConnection on the caller's loop, so the relay is a plain call. */
static void colocate_with_caller(calls_session *device, calls_session *caller)
{
    if (vc_core->handle_colocate(device->handle, caller->handle) == 1) {
        /* The device still has a PeerConnection (an earlier call) on another loop. */
        vc_core->close_pc(device->handle);
        vc_core->handle_colocate(device->handle, caller->handle);
    }
}

/* Rings the host's devices that have no handle registered for calls: every registered handle
 * (ringing here, or busy in another call) is a live device and rings, or not, in the app.
 * Returns how many devices the push went to. */
static int push_ring(call *c, const call_target *t)
{
    if (!call_is_recorded(c) || !push_available())
        return 0;
    void *const *devices;
    size_t n = vc_registry_devices(directory, c->host_name, &devices), k = 0;
    plugin_handle **live = calloc(n ? n : 1, sizeof *live);
    if (!live)
        return 0;
    for (size_t i = 0; i < n; i++) {
        calls_session *d = devices[i];
        if (!d->gone && !vc_core->handle_detached(d->handle))
            live[k++] = d->handle;
    }
    char *notice = dump_and_free(json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:i}", "type", "incoming_call", "user_id",
                                           (json_int_t)c->host_id, "call_id", c->id, "caller_name",
                                           t->caller_display, "caller_avatar", t->caller_avatar, "kind",
                                           vc_call_kind_name(c->kind), "ttl_s",
                                           (int)(config.ring_timeout_ms / 1000)));
    int pushed = notice ? vc_core->push_notify(vc_self, notice, live, k) : -1;
    if (pushed > 0)
        c->pushed = true;
    free(notice);
    free(live);
    return pushed > 0 ? pushed : 0;
}

static void ring_device(calls_session *device, const call *c, const char *caller_display, const char *relay_offer)
{
    colocate_with_caller(device, caller_of(c));
    json_t *result = json_pack("{s:s,s:s,s:s}", "event", "incomingcall", "username", c->caller_name,
                               "call_id", c->id);
    if (c->billed)
        json_object_set_new(result, "resume_token", json_string(c->resume_token[CALL_LEG_HOST]));
    if (c->caller_id)
        json_object_set_new(result, "caller", json_pack("{s:I,s:s}", "id", (json_int_t)c->caller_id,
                                                        "display_name", caller_display));
    notify(device, result, relay_offer);
}

/* A host device registering while a call to the host rings (the app woken by the push, or
 * opened by hand) rings too, with the caller's offer. */
static void ring_late_device(calls_session *s)
{
    call *c = NULL;
    for (call *x = live_calls; x && !c; x = x->next)
        if (x->state == CALL_RINGING && x->relay_offer && x->caller_display && strcmp(x->host_name, s->username) == 0)
            c = x;
    if (!c || session_involved(s))
        return;
    pthread_mutex_lock(&view_lock);
    int rc = vc_call_ring_more(c, s);
    pthread_mutex_unlock(&view_lock);
    if (rc == 0)
        ring_device(s, c, c->caller_display, c->relay_offer);
}

static void ring_late_on_dispatch(void *arg)
{
    calls_session *s = arg;
    if (!s->gone && s->username && !vc_core->handle_detached(s->handle))
        ring_late_device(s);
    vc_session_unref(s);
}

/* The host's devices: *registered counts those still attached; out gets the free ones (not
 * ringing for another call, not in a call): a handle carries one offer at a time. */
static size_t free_devices(const char *host_name, size_t *registered, void **out, size_t max)
{
    void *const *devices;
    size_t n = vc_registry_devices(directory, host_name, &devices), k = 0;
    *registered = 0;
    for (size_t i = 0; i < n; i++) {
        calls_session *d = devices[i];
        if (d->gone || vc_core->handle_detached(d->handle))
            continue;
        (*registered)++;
        if (k < max && !session_involved(d))
            out[k++] = d;
    }
    return k;
}

#define MAX_DEVICES 64

static call *new_call(calls_session *s, const call_target *t, call_kind kind, void *const *devices, size_t n)
{
    char id[CALL_ID_LEN + 1];
    call *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    if (vc_call_new_id(id) != 0 ||
        vc_call_init(c, id, s, s->username, s->user_id, t->name, t->host_id, kind, devices, n) != 0) {
        free(c);
        return NULL;
    }
    if (vc_call_new_token(c->resume_token[CALL_LEG_CALLER]) != 0 ||
        vc_call_new_token(c->resume_token[CALL_LEG_HOST]) != 0) {
        vc_call_free(c);
        free(c);
        return NULL;
    }
    c->created_ms = c->kind_since_ms = wall_ms();
    return c;
}

static plugin_result handle_call(calls_session *s, json_t *body, const char *jsep)
{
    if (!s->username)
        return refuse_call(s, jsep, refuse(ERR_REGISTER_FIRST, "Register a username first"));
    /* One live call per caller: per user, so a caller's two devices cannot call twice. */
    if (session_involved(s) || user_in_call(s->username))
        return refuse_call(s, jsep, refuse(ERR_ALREADY_IN_CALL, "Already in a call"));
    plugin_result err;
    if (!PARAMS_OK(body, username_params, &err))
        return refuse_call(s, jsep, err);
    const char *username = json_string_value(json_object_get(body, "username"));
    if (strcmp(username, s->username) == 0)
        return refuse_call(s, jsep, refuse(ERR_USE_ECHO_TEST, "You can't call yourself... use the EchoTest for that"));

    call_target t = {.name = username};
    if (auth_on(s)) {
        if (check_paid_call(s, username, &t, &err) != 0)
            return refuse_call(s, jsep, err);
    } else {
        void *const *devices;
        if (vc_registry_devices(directory, username, &devices) == 0)
            return refuse_call(s, jsep, refuse(ERR_NO_SUCH_USERNAME, "Username '%s' doesn't exist", username));
    }
    char *relay_offer = NULL;
    call_kind kind;
    if (check_offer(jsep, &relay_offer, &kind, &err) != 0)
        return refuse_call(s, jsep, err);
    plugin_result result = {0};
    void *devices[MAX_DEVICES];
    size_t registered;
    size_t n = free_devices(t.name, &registered, devices, MAX_DEVICES);
    call *c = NULL;
    if (!(c = new_call(s, &t, kind, devices, n))) {
        result = refuse_call(s, jsep, refuse(ERR_UNKNOWN, "Out of memory"));
        goto out;
    }
    /* Pre-authorisation, before anything is recorded or rings. */
    if (billing_preauthorise(c, &err) != 0) {
        vc_call_free(c);
        free(c);
        result = refuse_call(s, jsep, err);
        goto out;
    }
    atomic_fetch_add(&vc_stats.calls_created, 1);
    if (call_is_recorded(c) &&
        record_checked(json_pack("{s:s,s:s,s:I,s:I,s:s}", "op", "create", "call_id", c->id, "caller_id",
                                 (json_int_t)c->caller_id, "host_id", (json_int_t)c->host_id, "kind",
                                 vc_call_kind_name(kind))) != 0) {
        c->reason = CALL_REASON_UNAVAILABLE;
        billing_ended(c);
        vc_call_free(c);
        free(c);
        result = refuse_call(s, jsep, refuse(ERR_NOT_RECORDED, "Could not record the call"));
        goto out;
    }
    /* The late-registering device (woken by the push) gets these. */
    c->relay_offer = strdup(relay_offer);
    c->caller_display = strdup(t.caller_display);
    call_reason admission = vc_call_admit(user_in_call(t.name), t.do_not_disturb, registered, n);
    /* No device live in the app: the call rings by push alone when a push went out, and a
     * device that registers while it rings gets the call (ring_late_device). */
    if (admission == CALL_REASON_UNAVAILABLE && registered == 0 && !t.do_not_disturb && push_ring(c, &t) > 0)
        admission = CALL_REASON_NONE;
    if (admission != CALL_REASON_NONE || !c->relay_offer || !c->caller_display) {
        push_ring_ended(c, vc_call_reason_name(admission != CALL_REASON_NONE ? admission : CALL_REASON_UNAVAILABLE));
        result = end_before_ringing(s, c, admission != CALL_REASON_NONE ? admission : CALL_REASON_UNAVAILABLE);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ring_device(devices[i], c, t.caller_display, relay_offer);
    if (!c->pushed)
        push_ring(c, &t);
    link_call(c);
    set_session_call(s, c);
    if (call_is_recorded(c))
        record(json_pack("{s:s,s:s,s:I}", "op", "ring", "call_id", c->id, "devices", (json_int_t)n));
    c->ring_timer = vc_core->timer_start(vc_self, config.ring_timeout_ms, on_ring_timeout, c);
    json_t *calling = json_pack("{s:s,s:s,s:s}", "event", "calling", "username", t.name, "call_id", c->id);
    if (c->billed)
        json_object_set_new(calling, "resume_token", json_string(c->resume_token[CALL_LEG_CALLER]));
    result = reply(calling);
out:
    free(relay_offer);
    return result;
}

/* The call ringing s that an accept/hangup means: the named one, else the newest. */
static call *ringing_call_for(const calls_session *s, const char *call_id)
{
    call *found[MAX_RINGING_PER_DEVICE];
    size_t n = calls_ringing(s, call_id, found, MAX_RINGING_PER_DEVICE);
    return n ? found[n - 1] : NULL;
}

/* Both legs' PeerConnections may already be up when the call is answered. */
/* At accept: a leg whose PeerConnection is already up counts as up; one that is not yet up
 * gets the reconnect grace to come up (as a lost leg would), so a call whose media never
 * connects ends with peer_gone instead of staying active forever. */
static void start_connect_watch(call *c)
{
    for (int i = 0; i < 2 && c->state == CALL_ACTIVE; i++) {
        plugin_media_state ms;
        calls_session *leg = c->legs[i].session;
        bool up = vc_core->handle_media_state(leg->handle, &ms) == 0 && ms.up;
        call_outcome out;
        step(c, up ? CALL_IN_MEDIA_UP : CALL_IN_MEDIA_LOST, leg, &out);
        carry_out(c, &out, NULL, NULL);
    }
}

static plugin_result handle_accept(calls_session *s, json_t *body, const char *jsep)
{
    plugin_result err;
    if (!PARAMS_OK(body, call_id_params, &err))
        return err;
    call *c = ringing_call_for(s, json_string_value(json_object_get(body, "call_id")));
    if (!c)
        return refuse(ERR_NO_CALL, "No incoming call to accept");
    if (!jsep)
        return refuse(ERR_MISSING_SDP, "Missing SDP");
    char type[16];
    jsep_type(jsep, type, sizeof type);
    if (strcasecmp(type, "answer") != 0)
        return refuse(ERR_NOT_AN_ANSWER, "Accept needs an answer (got %s)", type[0] ? type : "none");
    plugin_media_desc answer;
    if (vc_core->jsep_describe(jsep, &answer) != 0)
        return refuse(ERR_INVALID_SDP, "Error parsing answer: %s", "unusable session description");

    call_outcome out;
    step(c, CALL_IN_ACCEPT, s, &out);
    if (out.refusal != CALL_OK)
        return refuse(ERR_NO_CALL, "No incoming call to accept");
    calls_session *caller = caller_of(c);
    pthread_mutex_lock(&view_lock);
    s->call = c;
    c->answered_ms = wall_ms();
    pthread_mutex_unlock(&view_lock);
    atomic_fetch_add(&vc_stats.calls_answered, 1);
    cancel_timer(&c->ring_timer);
    vc_session_link_peer(caller, s);
    vc_session_link_peer(s, caller);
    atomic_store(&caller->keyframe_wanted, true);
    atomic_store(&s->keyframe_wanted, true);
    /* The core turns the device's answer into ours to the caller's offer. */
    json_t *accepted = json_pack("{s:s,s:s,s:s}", "event", "accepted", "username", c->host_name, "call_id", c->id);
    if (c->billed)
        json_object_set_new(accepted, "resume_token", json_string(c->resume_token[CALL_LEG_CALLER]));
    notify(caller, accepted, jsep);
    if (call_is_recorded(c)) {
        record(json_pack("{s:s,s:s,s:I,s:I}", "op", "accept", "call_id", c->id, "session_id",
                         (json_int_t)vc_core->handle_session_id(s->handle), "handle_id",
                         (json_int_t)vc_core->handle_id(s->handle)));
        vc_core->user_set_busy(vc_self, c->host_id, true);
    }
    billing_accepted(c);
    change_kind(c, kind_of_answer(&answer));
    json_t *result = json_pack("{s:s,s:s,s:s}", "event", "accepted", "username", c->caller_name, "call_id", c->id);
    carry_out(c, &out, NULL, NULL); /* the other devices: answered_elsewhere */
    push_ring_ended(c, "answered_elsewhere");
    end_calls_ringing_host(c);
    start_connect_watch(c);
    return reply(result);
}

/* set + JSEP during an active call: an offer goes to the other party as "update" (an upgrade,
 * an ICE restart), its answer comes back the same way. */
static int renegotiate(calls_session *s, const char *jsep, plugin_result *err)
{
    call *c = s->call;
    if (!c || c->state != CALL_ACTIVE) {
        *err = refuse(ERR_NO_ACTIVE_CALL, "No active call to renegotiate");
        return -1;
    }
    calls_session *peer = vc_registry_other_leg(c, s);
    char type[16];
    jsep_type(jsep, type, sizeof type);
    if (strcasecmp(type, "offer") == 0) {
        if (c->reneg_from && c->reneg_from != s) {
            *err = refuse(ERR_GLARE, "A renegotiation is already in progress");
            return -1;
        }
        char *relay = vc_core->jsep_relay_offer(jsep, NULL);
        if (!relay) {
            *err = refuse(ERR_INVALID_SDP, "Error parsing offer: %s", "cannot be relayed");
            return -1;
        }
        vc_call_reneg_offer(c, s);
        /* A lost leg offering again is reconnecting: a fresh grace for this negotiation to
         * complete (setup_media ends it); cancelling outright could leave a dead leg forever. */
        int i = vc_call_party_index(c, s);
        if (c->legs[i].lost)
            start_grace(c, i);
        notify(peer, json_pack("{s:s,s:s}", "event", "update", "call_id", c->id), relay);
        free(relay);
        return 0;
    }
    if (strcasecmp(type, "answer") == 0) {
        plugin_media_desc answer;
        if (vc_core->jsep_describe(jsep, &answer) != 0) {
            *err = refuse(ERR_INVALID_SDP, "Error parsing answer: %s", "unusable session description");
            return -1;
        }
        void *initiator;
        if (vc_call_reneg_answer(c, s, &initiator) != CALL_OK) {
            *err = refuse(ERR_NO_RENEGOTIATION, "Unexpected answer: no renegotiation in progress");
            return -1;
        }
        notify(initiator, json_pack("{s:s,s:s}", "event", "update", "call_id", c->id), jsep);
        change_kind(c, kind_of_answer(&answer));
        return 0;
    }
    *err = refuse(ERR_INVALID_SDP, "Error parsing %s: %s", type[0] ? type : "SDP", "not an offer or an answer");
    return -1;
}

static plugin_result handle_set(calls_session *s, json_t *body, const char *jsep)
{
    plugin_result err;
    if (!PARAMS_OK(body, set_params, &err))
        return err;
    if (jsep && renegotiate(s, jsep, &err) != 0)
        return err;
    json_t *audio = json_object_get(body, "audio"), *video = json_object_get(body, "video");
    json_t *bitrate = json_object_get(body, "bitrate");
    if (audio)
        atomic_store(&s->audio_on, json_is_true(audio));
    if (video) {
        bool was_on = atomic_exchange(&s->video_on, json_is_true(video));
        if (!was_on && json_is_true(video))
            atomic_store(&s->keyframe_wanted, true); /* the peer's decoder restarts from a keyframe */
    }
    if (bitrate) {
        atomic_store(&s->bitrate, (unsigned)json_integer_value(bitrate));
        atomic_store(&s->remb_due, true);
    }
    call *c = s->call;
    calls_session *peer = c ? vc_registry_other_leg(c, s) : NULL;
    if (peer && (audio || video))
        notify(peer, json_pack("{s:s,s:s,s:b,s:b,s:s}", "event", "media_state", "username", s->username, "audio",
                               atomic_load(&s->audio_on), "video", atomic_load(&s->video_on), "call_id", c->id),
               NULL);
    return reply(json_pack("{s:s}", "event", "set"));
}

static plugin_result handle_hangup(calls_session *s, json_t *body)
{
    json_t *why = json_object_get(body, "reason");
    const char *hangup_text = json_is_string(why) ? json_string_value(why) : JANUS_PEER_HANGUP;
    json_t *id = json_object_get(body, "call_id");
    const char *call_id = json_is_string(id) ? json_string_value(id) : NULL;
    const char *reply_call_id = NULL;
    char reply_id[CALL_ID_LEN + 1];
    call *c = s->call;
    if (c && (!call_id || strcmp(call_id, c->id) == 0)) {
        snprintf(reply_id, sizeof reply_id, "%s", c->id);
        reply_call_id = reply_id;
        call_outcome out;
        step(c, CALL_IN_HANGUP, s, &out);
        carry_out(c, &out, s, hangup_text);
    } else {
        /* A ringing device declines (the call ringing it, or the one named). */
        call *ringing[MAX_RINGING_PER_DEVICE];
        size_t n = calls_ringing(s, call_id, ringing, MAX_RINGING_PER_DEVICE);
        if (n == 1) {
            snprintf(reply_id, sizeof reply_id, "%s", ringing[0]->id);
            reply_call_id = reply_id;
        }
        for (size_t i = 0; i < n; i++) {
            call_outcome out;
            step(ringing[i], CALL_IN_HANGUP, s, &out);
            carry_out(ringing[i], &out, s, hangup_text);
        }
    }
    /* Janus closes the PeerConnection of whoever hangs up, in a call or not. */
    vc_core->close_pc(s->handle);
    return reply(hangup_result(s->username, JANUS_OWN_HANGUP, reply_call_id));
}

static plugin_result handle_resume(calls_session *s, json_t *body, const char *transaction, const char *jsep);

static plugin_result calls_handle_message(void *session, const char *transaction, const char *body_json,
                                          const char *jsep_json)
{
    /* replies go back as PLUGIN_RESULT_EVENT for this transaction (resume pushes its own) */
    calls_session *s = session;
    if (!body_json)
        return refuse(ERR_NO_MESSAGE, "No message??");
    json_t *body = json_loads(body_json, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return refuse(ERR_INVALID_JSON, "JSON error: not an object");
    }
    plugin_result r;
    if (!PARAMS_OK(body, request_params, &r)) {
        json_decref(body);
        return r;
    }
    const char *request = json_string_value(json_object_get(body, "request"));
    if (strcasecmp(request, "list") == 0)
        r = handle_list();
    else if (strcasecmp(request, "register") == 0)
        r = handle_register(s, body);
    else if (strcasecmp(request, "call") == 0)
        r = handle_call(s, body, jsep_json);
    else if (strcasecmp(request, "accept") == 0)
        r = handle_accept(s, body, jsep_json);
    else if (strcasecmp(request, "set") == 0)
        r = handle_set(s, body, jsep_json);
    else if (strcasecmp(request, "hangup") == 0)
        r = handle_hangup(s, body);
    else if (strcasecmp(request, "resume") == 0)
        r = handle_resume(s, body, transaction, jsep_json);
    else
        r = refuse(ERR_INVALID_REQUEST, "Unknown request (%s)", request);
    json_decref(body);
    return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Work handed over from loops and from destroy_session (dispatch thread)                     */

void vc_leg_media_up(void *arg)
{
    calls_session *s = arg;
    call *c = s->call;
    plugin_media_state ms;
    /* A late event of an earlier PeerConnection is not news: trust the current state. */
    if (!s->gone && c && c->state == CALL_ACTIVE && vc_core->handle_media_state(s->handle, &ms) == 0 && ms.up) {
        call_outcome out;
        step(c, CALL_IN_MEDIA_UP, s, &out);
        carry_out(c, &out, NULL, NULL);
    }
    vc_session_unref(s);
}

/* Whether a hangup_media still describes the session's PeerConnection: not when a newer one
 * already came up (or, for a ringing caller, any newer one exists). */
static bool media_really_lost(calls_session *s, const call *c)
{
    plugin_media_state ms;
    if (vc_core->handle_media_state(s->handle, &ms) != 0)
        return true;
    return !(ms.has_peer && (ms.up || c->state == CALL_RINGING));
}

void vc_leg_media_down(void *arg)
{
    calls_session *s = arg;
    call *c = s->call;
    if (!s->gone && c && media_really_lost(s, c)) {
        call_outcome out;
        step(c, CALL_IN_MEDIA_LOST, s, &out);
        carry_out(c, &out, NULL, NULL);
    }
    vc_session_unref(s);
}

/* ---- billing's side (posted from the billing plugin's thread) ---- */

typedef struct billing_note {
    char call_id[CALL_ID_LEN + 1];
    int party;                      /* event: 0 caller, 1 host */
    char *result;                   /* event: the result object; NULL: end the call */
    call_reason reason;             /* end */
} billing_note;

static call *live_call(const char *id)
{
    for (call *c = live_calls; c; c = c->next)
        if (strcmp(c->id, id) == 0)
            return c;
    return NULL;
}

static void billing_note_in(void *arg)
{
    billing_note *n = arg;
    call *c = live_call(n->call_id);
    if (c && c->state == CALL_ACTIVE && n->result) {
        calls_session *to = n->party == 0 ? caller_of(c) : answerer_of(c);
        json_t *result = json_loads(n->result, 0, NULL);
        const char *what = json_string_value(json_object_get(result, "event"));
        if (to && what && strcmp(what, "low_balance") == 0)
            vc_session_play_tone(to, LOW_BALANCE_TONE_HZ, LOW_BALANCE_TONE_MS);
        if (to && result)
            notify(to, result, NULL);
        else
            json_decref(result);
    } else if (c && c->state != CALL_ENDED && !n->result) {
        pthread_mutex_lock(&view_lock);
        c->reason = n->reason;
        c->state = CALL_ENDED;
        pthread_mutex_unlock(&view_lock);
        finish_call(c, NULL, NULL, NULL);
    }
    free(n->result);
    free(n);
}

static void billing_event_out(void *arg, const char *call_id, int party, const char *result_json)
{
    (void)arg;
    billing_note *n = calloc(1, sizeof *n);
    if (!n)
        return;
    snprintf(n->call_id, sizeof n->call_id, "%s", call_id);
    n->party = party;
    if (!(n->result = strdup(result_json))) {
        free(n);
        return;
    }
    vc_run_on_dispatch(billing_note_in, n);
}

static void billing_end_out(void *arg, const char *call_id, const char *reason)
{
    (void)arg;
    billing_note *n = calloc(1, sizeof *n);
    if (!n)
        return;
    snprintf(n->call_id, sizeof n->call_id, "%s", call_id);
    n->reason = strcmp(reason, "insufficient_balance") == 0 ? CALL_REASON_INSUFFICIENT_BALANCE
                                                           : CALL_REASON_BILLING_UNAVAILABLE;
    vc_run_on_dispatch(billing_note_in, n);
}

/* Tells billing the newest media of each metered call (media.c notes it per leg); armed
 * while there is one. */
static void media_sweep(void *arg)
{
    (void)arg;
    sweep_timer = 0;
    bool any = false;
    for (call *c = live_calls; c; c = c->next) {
        if (!c->billed || !c->metered || c->state != CALL_ACTIVE)
            continue;
        any = true;
        int64_t newest = 0;
        for (int i = 0; i < 2; i++) {
            calls_session *leg = c->legs[i].session;
            int64_t t = leg ? atomic_load_explicit(&leg->media_seen_ms, memory_order_relaxed) : 0;
            newest = t > newest ? t : newest;
        }
        if (newest > c->media_reported_ms) {
            c->media_reported_ms = newest;
            billing_call_media(c->id, newest);
        }
    }
    if (any && atomic_load(&running))
        sweep_timer = vc_core->timer_start(vc_self, billing_media_report_ms(), media_sweep, NULL);
}

/* ---- crash recovery: calls a previous run left live (billing.h, recovering) ----
 *
 * After a crash billing finds the calls it was metering and tells us; each may be resumed
 * until billing.recovery_grace_s: a party's new session registers and sends
 * {"request":"resume","call_id","resume_token"} with a fresh offer. The server answers that
 * offer itself (the reply event "resumed" carries the answer), so each party gets a new
 * PeerConnection at once; the second party's lands on the first one's loop. When both are
 * back the call is live again (same id, both get "resumed" with "active":true), relayed as
 * any call, and billing continues its meter from the persisted minute. A party alone when the
 * grace ends gets hangup peer_gone; the call row ends (billing settles it at the last media
 * time it persisted). */

typedef struct recovering_call {
    char id[CALL_ID_LEN + 1];
    uint64_t user[2];                         /* caller, host */
    call_kind kind;
    char token[2][CALL_TOKEN_LEN + 1];
    calls_session *back[2];                   /* parties that resumed (referenced) */
    uint32_t grace_ms;
    uint64_t timer;
    struct recovering_call *next;
} recovering_call;

static recovering_call *recovering;           /* dispatch thread */

static recovering_call *recovering_find(const char *id)
{
    for (recovering_call *r = recovering; r; r = r->next)
        if (strcmp(r->id, id) == 0)
            return r;
    return NULL;
}

static void recovering_drop(recovering_call *r)
{
    for (recovering_call **p = &recovering; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    cancel_timer(&r->timer);
    for (int i = 0; i < 2; i++)
        if (r->back[i])
            vc_session_unref(r->back[i]);
    free(r);
}

static void on_recovery_expired(void *arg)
{
    recovering_call *r = arg;
    r->timer = 0;
    bool someone = false;
    for (int i = 0; i < 2; i++) {
        calls_session *s = r->back[i];
        if (!s)
            continue;
        someone = true;
        char other[24];
        format_user_id(r->user[1 - i], other);
        notify(s, hangup_result(other, vc_call_reason_name(CALL_REASON_PEER_GONE), r->id), NULL);
        vc_core->close_pc(s->handle);
    }
    const char *reason = someone ? "peer_gone" : "server_restart";
    record(json_pack("{s:s,s:s,s:s}", "op", "end", "call_id", r->id, "reason", reason));
    billing_call_ended(r->id, reason);
    recovering_drop(r);
}

/* On the dispatch thread, which owns r from here (and its timer: a duplicate is freed before
 * any timer refers to it). */
static void recovering_in(void *arg)
{
    recovering_call *r = arg;
    if (recovering_find(r->id) || live_call(r->id)) {
        free(r);
        return;
    }
    r->timer = vc_core->timer_start(vc_self, r->grace_ms, on_recovery_expired, r);
    r->next = recovering;
    recovering = r;
}

static void billing_recovering_out(void *arg, const char *call_id, uint64_t caller_id, uint64_t host_id, bool video,
                                   const char *caller_token, const char *host_token, uint32_t grace_ms)
{
    (void)arg;
    recovering_call *r = calloc(1, sizeof *r);
    if (!r || !caller_token || !host_token)
        return free(r);
    snprintf(r->id, sizeof r->id, "%s", call_id);
    r->user[CALL_LEG_CALLER] = caller_id;
    r->user[CALL_LEG_HOST] = host_id;
    r->kind = video ? CALL_KIND_VIDEO : CALL_KIND_AUDIO;
    snprintf(r->token[0], sizeof r->token[0], "%s", caller_token);
    snprintf(r->token[1], sizeof r->token[1], "%s", host_token);
    r->grace_ms = grace_ms;
    vc_run_on_dispatch(recovering_in, r);
}

/* Both parties are back: the call is live again. */
static void resume_call(recovering_call *r)
{
    calls_session *caller = r->back[CALL_LEG_CALLER], *host = r->back[CALL_LEG_HOST];
    call *c = malloc(sizeof *c);
    if (!c || vc_call_init_resumed(c, r->id, caller, caller->username, r->user[0], host, host->username, r->user[1],
                                   r->kind) != 0) {
        free(c);
        return;
    }
    memcpy(c->resume_token, r->token, sizeof c->resume_token);
    c->billed = true;
    c->created_ms = c->answered_ms = c->kind_since_ms = wall_ms();
    link_call(c);
    set_session_call(caller, c);
    set_session_call(host, c);
    vc_session_link_peer(caller, host);
    vc_session_link_peer(host, caller);
    atomic_store(&caller->keyframe_wanted, true);
    atomic_store(&host->keyframe_wanted, true);
    vc_core->user_set_busy(vc_self, c->host_id, true);
    billing_accepted(c);
    for (int i = 0; i < 2; i++)
        notify(r->back[i], json_pack("{s:s,s:s,s:s,s:b}", "event", "resumed", "call_id", c->id, "username",
                                     i == 0 ? c->host_name : c->caller_name, "active", 1),
               NULL);
    recovering_drop(r);
    start_connect_watch(c);
}

/* The two parties of a resumed call must share a loop, and the core creates a party's new
 * PeerConnection when its `resume` offer arrives, before we see the request: so each of the
 * other party's registered handles without a PeerConnection is placed on the loop of a party
 * that is back, both when that party resumes and when the other registers. */
static void colocate_registered(const char *username, calls_session *with)
{
    void *const *devices;
    size_t n = vc_registry_devices(directory, username, &devices);
    for (size_t i = 0; i < n; i++) {
        calls_session *d = devices[i];
        plugin_media_state ms;
        if (d != with && !d->gone && vc_core->handle_media_state(d->handle, &ms) == 0 && !ms.has_peer)
            vc_core->handle_colocate(d->handle, with->handle);
    }
}

static void colocate_for_resume(calls_session *s)
{
    if (!auth_on(s))
        return;
    for (recovering_call *r = recovering; r; r = r->next)
        for (int i = 0; i < 2; i++)
            if (r->user[1 - i] == s->user_id && r->back[i])
                vc_core->handle_colocate(s->handle, r->back[i]->handle);
}

static const param_spec resume_params[] = {{"call_id", PARAM_STRING, true}, {"resume_token", PARAM_STRING, true}};

static plugin_result handle_resume(calls_session *s, json_t *body, const char *transaction, const char *jsep)
{
    if (!s->username)
        return refuse(ERR_REGISTER_FIRST, "Register a username first");
    plugin_result err;
    if (!PARAMS_OK(body, resume_params, &err))
        return err;
    const char *id = json_string_value(json_object_get(body, "call_id"));
    const char *token = json_string_value(json_object_get(body, "resume_token"));
    recovering_call *r = recovering_find(id);
    if (!r)
        return refuse(ERR_NO_CALL_TO_RESUME, "No call to resume (%s)", id);
    int party = strcmp(token, r->token[0]) == 0 ? 0 : strcmp(token, r->token[1]) == 0 ? 1 : -1;
    if (party < 0 || !auth_on(s) || s->user_id != r->user[party])
        return refuse(ERR_WRONG_RESUME_TOKEN, "Wrong resume token");
    if (session_involved(s))
        return refuse(ERR_ALREADY_IN_CALL, "Already in a call");
    if (!jsep)
        return refuse(ERR_MISSING_SDP, "Missing SDP");
    char type[16];
    jsep_type(jsep, type, sizeof type);
    plugin_media_desc offer;
    if (strcasecmp(type, "offer") != 0)
        return refuse(ERR_NOT_AN_OFFER, "A call needs an offer (got %s)", type[0] ? type : "none");
    if (vc_core->jsep_describe(jsep, &offer) != 0)
        return refuse(ERR_INVALID_SDP, "Error parsing offer: %s", "unusable session description");
    calls_session *other = r->back[1 - party];
    if (other && vc_core->handle_colocate(s->handle, other->handle) == 1) {
        /* Its PeerConnection (made from this offer) is on another loop: the next one will not be. */
        vc_core->close_pc(s->handle);
        vc_core->handle_colocate(s->handle, other->handle);
        return refuse(ERR_RESUME_AGAIN, "Resume again with a new offer");
    }
    plugin_media_desc want = {.audio = dir_flows(offer.audio) ? PLUGIN_DIR_SENDRECV : PLUGIN_DIR_NONE,
                              .video = dir_flows(offer.video) ? PLUGIN_DIR_SENDRECV : PLUGIN_DIR_NONE,
                              .data = offer.data};
    char *answer = vc_core->jsep_answer(jsep, &want);
    if (!answer)
        return refuse(ERR_INVALID_SDP, "Error parsing offer: %s", "cannot be answered");
    char other_name[24];
    format_user_id(r->user[1 - party], other_name);
    char *text = event_text(json_pack("{s:s,s:s,s:s,s:b}", "event", "resumed", "call_id", r->id, "username",
                                      other_name, "active", 0));
    int pushed = text ? vc_core->push_event(s->handle, transaction, text, answer) : -1;
    free(text);
    free(answer);
    if (pushed != 0)
        return refuse(ERR_UNKNOWN, "Could not answer the offer");
    if (r->back[party] && r->back[party] != s)
        vc_session_unref(r->back[party]);   /* a retry from a newer session replaces it */
    if (r->back[party] != s) {
        vc_session_ref(s);
        r->back[party] = s;
    }
    if (!r->back[1 - party])
        colocate_registered(other_name, s);
    if (r->back[0] && r->back[1])
        resume_call(r);
    return (plugin_result){.kind = PLUGIN_RESULT_NONE};
}

/* The handle detached (or its Janus session went away): no grace, the call ends now. */
static void on_session_gone(void *arg)
{
    calls_session *s = arg;
    s->gone = true;
    call *c = s->call;
    if (c) {
        call_outcome out;
        step(c, CALL_IN_DETACHED, s, &out);
        carry_out(c, &out, NULL, NULL);
    }
    call *ringing[MAX_RINGING_PER_DEVICE];
    size_t n = calls_ringing(s, NULL, ringing, MAX_RINGING_PER_DEVICE);
    for (size_t i = 0; i < n; i++) {
        call_outcome out;
        step(ringing[i], CALL_IN_DETACHED, s, &out);
        carry_out(ringing[i], &out, NULL, NULL);
    }
    for (recovering_call *r = recovering; r; r = r->next)
        for (int i = 0; i < 2; i++)
            if (r->back[i] == s) {   /* it may come back again from another session */
                r->back[i] = NULL;
                vc_session_unref(s);
            }
    if (s->username)
        vc_registry_remove(directory, s->username, s);
    vc_session_unlink_peer(s);
    vc_session_unref(s); /* the core's reference, handed over by destroy_session */
}

/* ------------------------------------------------------------------------------------------ */
/* Descriptor                                                                                  */

/* A config value as an integer in [lo, hi], else def (the core's config table validates it
 * already; this only guards against a missing or odd value). */
static uint32_t config_seconds(json_t *cfg, const char *key, long long def, long long lo, long long hi)
{
    json_t *v = json_object_get(cfg, key);
    long long x = def;
    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (json_is_string(v))
        x = strtoll(json_string_value(v), NULL, 10);
    if (x < lo || x > hi)
        x = def;
    return (uint32_t)x * 1000u;
}

static bool core_is_complete(const core_callbacks *c)
{
    return c->abi_version == PLUGIN_ABI_VERSION && c->struct_size >= sizeof(core_callbacks) && c->push_event &&
           c->relay_rtp && c->relay_rtcp && c->relay_data && c->send_pli && c->send_remb && c->close_pc &&
           c->handle_ref && c->handle_unref && c->handle_id && c->handle_session_id && c->handle_user_id &&
           c->handle_detached && c->handle_colocate && c->loop_post && c->handle_media_state && c->post &&
           c->timer_start && c->timer_cancel && c->jsep_describe && c->jsep_answer && c->jsep_relay_offer && c->user_info &&
           c->user_set_busy && c->call_record;
}

static int calls_init(const core_callbacks *callbacks, const plugin_init_info *info)
{
    if (!callbacks || !info || !core_is_complete(callbacks))
        return -1;
    json_t *cfg = json_loads(info->config_json ? info->config_json : "{}", 0, NULL);
    config.ring_timeout_ms = config_seconds(cfg, "ring_timeout_s", 45, 1, 3600);
    config.reconnect_grace_ms = config_seconds(cfg, "reconnect_grace_s", 20, 0, 3600);
    json_decref(cfg);
    if (!(directory = vc_registry_create()))
        return -1;
    vc_core = callbacks;
    vc_self = info->self;
    live_calls = NULL;
    atomic_store(&running, true);
    billing_set_listener(
        &(billing_listener){.event = billing_event_out, .end = billing_end_out, .recovering = billing_recovering_out});
    return 0;
}

/* Runs after every session was destroyed and the dispatch thread stopped: whatever is left
 * was never going to be carried out; free it without calling the core. */
static void calls_destroy(void)
{
    atomic_store(&running, false);
    while (live_calls) {
        call *c = live_calls;
        live_calls = c->next;
        vc_call_free(c);
        free(c);
    }
    while (recovering) {   /* no party is back (their sessions are gone): nothing to release */
        recovering_call *r = recovering;
        recovering = r->next;
        free(r);
    }
    vc_registry_destroy(directory);
    directory = NULL;
}

static void *calls_create_session(plugin_handle *h, int *error)
{
    calls_session *s = atomic_load(&running) ? vc_session_new(h) : NULL;
    if (!s && error)
        *error = -1;
    return s;
}

static void calls_destroy_session(void *session, int *error)
{
    if (error)
        *error = 0;
    /* The call state is the dispatch thread's: hand it the core's reference. */
    vc_run_on_dispatch(on_session_gone, session);
}

static const char *session_state_name(const calls_session *s, const call *c, bool ringing)
{
    if (!c)
        return ringing ? "ringing" : "idle";
    if (c->state == CALL_RINGING)
        return "calling";
    int i = vc_call_party_index(c, s);
    return i >= 0 && c->legs[i].lost ? "reconnecting" : "incall";
}

static char *calls_query_session(void *session)
{
    calls_session *s = session;
    json_t *o = json_object();
    pthread_mutex_lock(&view_lock);
    call *c = s->call, *ringing = NULL;
    if (!c)
        for (call *r = live_calls; r; r = r->next)
            if (vc_call_is_ringing(r, s))
                ringing = r;
    const call *shown = c ? c : ringing;
    json_object_set_new(o, "username", s->username ? json_string(s->username) : json_null());
    json_object_set_new(o, "state", json_string(session_state_name(s, c, ringing != NULL)));
    if (shown) {
        json_object_set_new(o, "call_id", json_string(shown->id));
        json_object_set_new(o, "peer", json_string(s == caller_of(shown) ? shown->host_name : shown->caller_name));
        json_object_set_new(o, "kind", json_string(vc_call_kind_name(shown->kind)));
        json_object_set_new(o, "kind_since", json_integer(shown->kind_since_ms / 1000));
        json_object_set_new(o, "call_state", json_string(vc_call_state_name(shown->state)));
    }
    pthread_mutex_unlock(&view_lock);
    json_object_set_new(o, "audio_active", json_boolean(atomic_load(&s->audio_on)));
    json_object_set_new(o, "video_active", json_boolean(atomic_load(&s->video_on)));
    json_object_set_new(o, "bitrate", json_integer(atomic_load(&s->bitrate)));
    json_object_set_new(o, "relaying", json_boolean(atomic_load(&s->peer) != NULL));
    int channels = atomic_load(&s->data_channels);
    json_object_set_new(o, "data_channels", json_integer(channels > 0 ? channels : 0));
    return dump_and_free(o);
}

static char *calls_admin(const char *query)
{
    (void)query;
    json_t *list = json_array();
    pthread_mutex_lock(&view_lock);
    for (call *c = live_calls; c; c = c->next)
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "call_id", c->id,
                                              "caller", c->caller_name, "host", c->host_name, "state",
                                              vc_call_state_name(c->state), "kind", vc_call_kind_name(c->kind),
                                              "kind_since", (json_int_t)(c->kind_since_ms / 1000), "started",
                                              (json_int_t)(c->created_ms / 1000), "answered",
                                              (json_int_t)(c->answered_ms / 1000), "ringing",
                                              (json_int_t)c->n_ringing));
    pthread_mutex_unlock(&view_lock);
    json_t *counters = json_pack("{s:I,s:I,s:I,s:I,s:I}", "created", (json_int_t)atomic_load(&vc_stats.calls_created),
                                 "answered", (json_int_t)atomic_load(&vc_stats.calls_answered), "ended",
                                 (json_int_t)atomic_load(&vc_stats.calls_ended), "record_failures",
                                 (json_int_t)atomic_load(&vc_stats.record_failures), "post_fallbacks",
                                 (json_int_t)atomic_load(&vc_stats.post_fallbacks));
    return dump_and_free(json_pack("{s:o,s:o}", "calls", list, "counters", counters));
}

static const plugin_descriptor calls_descriptor = {
    .abi_version = PLUGIN_ABI_VERSION,
    .struct_size = sizeof(plugin_descriptor),
    .package = "janus.plugin.videocall",
    .name = "Calls (VideoCall-compatible)",
    .description = "1:1 calls from callers to hosts, every device of the host rings; "
                   "Janus VideoCall API.",
    .author = "parley contributors",
    .version = 1,
    .version_string = "0.1.0",
    .config_section = "calls",
    .init = calls_init,
    .destroy = calls_destroy,
    .create_session = calls_create_session,
    .handle_message = calls_handle_message,
    .setup_media = vc_media_setup,
    .incoming_rtp = vc_media_rtp,
    .incoming_rtcp = vc_media_rtcp,
    .incoming_data = vc_media_data,
    .data_open = vc_media_data_open,
    .data_close = vc_media_data_close,
    .hangup_media = vc_media_hangup,
    .destroy_session = calls_destroy_session,
    .query_session = calls_query_session,
    .admin = calls_admin,
    .slow_link = vc_media_slow_link,
};

const plugin_descriptor *calls_plugin_descriptor(void);
const plugin_descriptor *calls_plugin_descriptor(void) { return &calls_descriptor; }
