/*
 * test_calls_flow.c: the calls plugin driven through its descriptor against a fake core —
 * requests, events, records, timers, the relay and the reconnect grace — single-threaded:
 * post() queues work that pump() runs, timers fire when the test says so, loop_post runs at
 * once (nothing else runs on the "loop" meanwhile).
 * Build: gcc -std=c17 -D_GNU_SOURCE -I plugins plugins/calls/{test_calls_flow,calls,call,
 *        registry,session,media,feedback}.c -ljansson
 */
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plugin.h"
#include "session.h"

const plugin_descriptor *calls_plugin_descriptor(void);
const plugin_descriptor *billing_plugin_descriptor(void);
static const plugin_descriptor *P;

/* ---- the fake core ---- */

/* Fields the "loop" thread of test_relay_race touches are atomic; the rest is the main
 * thread's (it plays the dispatch thread and the core's request threads). */
struct plugin_handle {
    uint64_t id, session_id, user_id;
    atomic_int refs;
    bool detached, has_pc, up;
    int loop;
    void *session;        /* the plugin's */
    atomic_int plis, rembs;
    int closes;
    atomic_uint last_remb;
    atomic_int rtp_in[2]; /* relayed to this handle, per kind */
    atomic_int rtcp_in, data_in;
};

typedef struct event_rec {
    plugin_handle *h;
    json_t *data;         /* plugindata.data */
    char *jsep;
} event_rec;

#define MAX_EVENTS 16384
static event_rec events[MAX_EVENTS];
static int n_events;
static char *records[8192];
static int n_records;
static int busy_calls[2]; /* set true / false */
static int next_loop = 1;

typedef struct work { plugin_fn fn; void *arg; } work;
static work queue[256];
static int q_head, q_tail;

typedef struct timer { uint64_t id; uint32_t ms; plugin_fn fn; void *arg; bool live; } timer;
static timer timers[8192];
static int n_timers;

static int fake_push_event(plugin_handle *h, const char *tx, const char *event_json, const char *jsep)
{
    (void)tx;
    if (h->detached)
        return -1;
    if (jsep && strstr(jsep, "\"offer\"") && !h->has_pc) {
        h->has_pc = true; /* an offer creates the handle's PeerConnection as offerer */
        if (!h->loop)
            h->loop = next_loop++;
    }
    event_rec *e = &events[n_events++];
    e->h = h;
    e->data = json_loads(event_json, 0, NULL);
    e->jsep = jsep ? strdup(jsep) : NULL;
    return 0;
}

static void fake_relay_rtp(plugin_handle *h, plugin_media_kind k, uint8_t *b, size_t l)
{
    (void)b, (void)l;
    h->rtp_in[k]++;
}
static void fake_relay_rtcp(plugin_handle *h, plugin_media_kind k, uint8_t *b, size_t l)
{
    (void)k, (void)b, (void)l;
    h->rtcp_in++;
}
static void fake_relay_data(plugin_handle *h, const char *label, int bin, const uint8_t *b, size_t l)
{
    (void)label, (void)bin, (void)b, (void)l;
    h->data_in++;
}
static void fake_send_pli(plugin_handle *h) { h->plis++; }
static void fake_send_remb(plugin_handle *h, uint32_t bitrate)
{
    h->rembs++;
    h->last_remb = bitrate;
}
static void fake_close_pc(plugin_handle *h)
{
    h->closes++;
    h->has_pc = h->up = false;
    h->loop = 0;
}
static void fake_end_handle(plugin_handle *h) { h->detached = true; }
static void fake_ref(plugin_handle *h) { h->refs++; }
static void fake_unref(plugin_handle *h) { h->refs--; }
static uint64_t fake_handle_id(plugin_handle *h) { return h->id; }
static uint64_t fake_session_id(plugin_handle *h) { return h->session_id; }
static uint64_t fake_user_id(plugin_handle *h) { return h->user_id; }
static bool fake_detached(plugin_handle *h) { return h->detached; }
static int fake_colocate(plugin_handle *h, plugin_handle *with)
{
    if (!with->has_pc)
        return -1;
    if (h->has_pc && h->loop != with->loop)
        return 1;
    h->loop = with->loop;
    return 0;
}
/* Threaded mode (test_relay_race): loop_post queues for the loop thread. */
static bool threaded;
static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static work loop_queue[4096];
static int lq_head, lq_tail;

static int fake_loop_post(plugin_handle *h, plugin_fn fn, void *arg)
{
    if (!h->has_pc)
        return -1;
    if (!threaded) {
        fn(arg);
        return 0;
    }
    pthread_mutex_lock(&loop_lock);
    loop_queue[lq_tail++ % 4096] = (work){fn, arg};
    pthread_mutex_unlock(&loop_lock);
    return 0;
}

static void run_loop_posts(void)
{
    for (;;) {
        pthread_mutex_lock(&loop_lock);
        bool empty = lq_head == lq_tail;
        work w = empty ? (work){0} : loop_queue[lq_head++ % 4096];
        pthread_mutex_unlock(&loop_lock);
        if (empty)
            return;
        w.fn(w.arg);
    }
}
static int fake_media_state(plugin_handle *h, plugin_media_state *out)
{
    memset(out, 0, sizeof *out);
    out->has_peer = h->has_pc;
    out->up = h->up;
    out->loop = h->has_pc ? h->loop : -1;
    return 0;
}
static int fake_post(plugin_ctx *self, plugin_fn fn, void *arg)
{
    (void)self;
    queue[q_tail++ % 256] = (work){fn, arg};
    return 0;
}
static uint64_t fake_timer_start(plugin_ctx *self, uint32_t ms, plugin_fn fn, void *arg)
{
    (void)self;
    timers[n_timers] = (timer){(uint64_t)n_timers + 1, ms, fn, arg, true};
    return timers[n_timers++].id;
}
static int fake_timer_cancel(plugin_ctx *self, uint64_t id)
{
    (void)self;
    if (!id || id > (uint64_t)n_timers || !timers[id - 1].live)
        return 0;
    timers[id - 1].live = false;
    return 1;
}

/* Fake SDP: "audio:<dir> video:<dir>" with dir one of none/sendrecv/sendonly/recvonly/inactive. */
static plugin_media_dir parse_dir(const char *sdp, const char *kind)
{
    const char *p = strstr(sdp, kind);
    if (!p)
        return PLUGIN_DIR_NONE;
    p += strlen(kind) + 1;
    if (!strncmp(p, "sendrecv", 8)) return PLUGIN_DIR_SENDRECV;
    if (!strncmp(p, "sendonly", 8)) return PLUGIN_DIR_SENDONLY;
    if (!strncmp(p, "recvonly", 8)) return PLUGIN_DIR_RECVONLY;
    if (!strncmp(p, "inactive", 8)) return PLUGIN_DIR_INACTIVE;
    return PLUGIN_DIR_NONE;
}
static int fake_describe(const char *jsep, plugin_media_desc *out)
{
    json_t *j = json_loads(jsep, 0, NULL);
    const char *sdp = json_string_value(json_object_get(j, "sdp"));
    int rc = -1;
    if (sdp && strncmp(sdp, "bad", 3) != 0) {
        memset(out, 0, sizeof *out);
        out->audio = parse_dir(sdp, "audio");
        out->video = parse_dir(sdp, "video");
        rc = 0;
    }
    json_decref(j);
    return rc;
}
/* Kinds whose codecs are "unknown" (fake SDP containing "nocodec") are rejected. */
static char *fake_answer(const char *offer, const plugin_media_desc *want)
{
    (void)want;
    json_t *j = json_loads(offer, 0, NULL);
    const char *sdp = json_string_value(json_object_get(j, "sdp"));
    json_t *a = json_pack("{s:s,s:s}", "type", "answer", "sdp",
                          sdp && !strstr(sdp, "nocodec") ? sdp : "audio:none video:none");
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    json_decref(j);
    return text;
}
static char *fake_relay_offer(const char *offer, const plugin_media_desc *want)
{
    (void)want;
    return strdup(offer);
}
static char *fake_user_info(plugin_ctx *self, uint64_t id)
{
    (void)self;
    switch (id) {
    case 7: return strdup("{\"id\":7,\"role\":\"caller\",\"display_name\":\"Carol\",\"do_not_disturb\":false}");
    case 8: return strdup("{\"id\":8,\"role\":\"caller\",\"display_name\":\"Dan\",\"do_not_disturb\":false}");
    case 9: return strdup("{\"id\":9,\"role\":\"host\",\"display_name\":\"Hana\",\"do_not_disturb\":false}");
    case 10: return strdup("{\"id\":10,\"role\":\"host\",\"display_name\":\"Ivo\",\"do_not_disturb\":true}");
    case 11: return strdup("{\"id\":11,\"role\":\"host\",\"display_name\":\"Jo\",\"do_not_disturb\":false}");
    default: return NULL;
    }
}
static void fake_set_busy(plugin_ctx *self, uint64_t id, bool busy)
{
    (void)self, (void)id;
    busy_calls[busy ? 0 : 1]++;
}
static int fake_call_record(plugin_ctx *self, const char *rec)
{
    (void)self;
    records[n_records++] = strdup(rec);
    return 0;
}

/* The billing store: every call is free and authorised (billing's own rules are tested in
 * tests/unit/plugins/billing and end to end); outcomes come back through post(), as the core
 * delivers them on the plugin's thread. */
typedef struct billing_reply {
    plugin_json_fn done;
    void *arg;
    const char *json;
} billing_reply;

static void deliver_billing(void *p)
{
    billing_reply *r = p;
    r->done(r->arg, r->json);
    free(r);
}


static int fake_billing_submit(plugin_ctx *self, const char *op, plugin_json_fn done, void *arg)
{
    billing_reply *r = malloc(sizeof *r);
    *r = (billing_reply){done, arg,
                         strstr(op, "\"open\"") ? "{\"ok\":true,\"audio_rate\":0,\"video_rate\":0,\"fee_bps\":0}"
                         : strstr(op, "\"live\"") ? "{\"ok\":true,\"calls\":[]}"
                                                  : "{\"ok\":true,\"balance\":100,\"held\":0}"};
    return fake_post(self, deliver_billing, r);
}

static char *fake_billing_run(plugin_ctx *self, const char *op)
{
    (void)self;
    return strdup(strstr(op, "\"authorise\"") ? "{\"ok\":true,\"rate\":0,\"held\":0,\"balance\":100}"
                                               : "{\"ok\":true,\"available\":100,\"held\":0}");
}

static const core_callbacks fake_core = {
    .abi_version = PLUGIN_ABI_VERSION,
    .struct_size = sizeof(core_callbacks),
    .push_event = fake_push_event,
    .relay_rtp = fake_relay_rtp,
    .relay_rtcp = fake_relay_rtcp,
    .relay_data = fake_relay_data,
    .send_pli = fake_send_pli,
    .send_remb = fake_send_remb,
    .close_pc = fake_close_pc,
    .end_handle = fake_end_handle,
    .handle_ref = fake_ref,
    .handle_unref = fake_unref,
    .handle_id = fake_handle_id,
    .handle_session_id = fake_session_id,
    .handle_user_id = fake_user_id,
    .handle_detached = fake_detached,
    .handle_colocate = fake_colocate,
    .loop_post = fake_loop_post,
    .handle_media_state = fake_media_state,
    .post = fake_post,
    .timer_start = fake_timer_start,
    .timer_cancel = fake_timer_cancel,
    .jsep_describe = fake_describe,
    .jsep_answer = fake_answer,
    .jsep_relay_offer = fake_relay_offer,
    .user_info = fake_user_info,
    .user_set_busy = fake_set_busy,
    .call_record = fake_call_record,
    .billing_submit = fake_billing_submit,
    .billing_run = fake_billing_run,
};

/* ---- helpers ---- */

static void pump(void)
{
    while (q_head != q_tail) {
        work w = queue[q_head++ % 256];
        w.fn(w.arg);
    }
}

static plugin_handle *attach(uint64_t user_id)
{
    static uint64_t ids = 100;
    plugin_handle *h = calloc(1, sizeof *h);
    h->id = ++ids;
    h->session_id = 1000 + ids;
    h->user_id = user_id;
    h->refs = 1; /* the core's own */
    int err = 0;
    h->session = P->create_session(h, &err);
    CHECK(h->session != NULL);
    return h;
}

static void detach(plugin_handle *h)
{
    if (h->up)
        P->hangup_media(h->session);
    h->detached = true;
    h->has_pc = h->up = false;
    int err = 0;
    P->destroy_session(h->session, &err);
    pump();
}

static void fire(int i);

/* Runs the delayed peer releases (1 s timers) that are due by now. */
static void run_delayed_releases(void)
{
    for (int i = 0; i < n_timers; i++)
        if (timers[i].live && timers[i].ms == 1000)
            fire(i);
}

static void release(plugin_handle *h)
{
    run_delayed_releases();
    CHECK_INT(h->refs, 1); /* the plugin let go of every reference it took */
    free(h);
}

static char *jsep(const char *type, const char *sdp)
{
    static char buf[4][256];
    static int i;
    char *b = buf[i++ % 4];
    snprintf(b, 256, "{\"type\":\"%s\",\"sdp\":\"%s\"}", type, sdp);
    return b;
}

/* Sends a request; returns the reply's data (owned by the caller) and runs posted work. */
__attribute__((format(printf, 3, 4)))
static json_t *request(plugin_handle *h, const char *js, const char *body_fmt, ...)
{
    char body[512];
    va_list ap;
    va_start(ap, body_fmt);
    vsnprintf(body, sizeof body, body_fmt, ap);
    va_end(ap);
    if (js && !h->has_pc) { /* the core creates the PeerConnection of a message's JSEP */
        h->has_pc = true;
        if (!h->loop)
            h->loop = next_loop++;
    }
    plugin_result r = P->handle_message(h->session, "tx", body, js);
    CHECK_INT(r.kind, PLUGIN_RESULT_EVENT);
    json_t *data = r.json ? json_loads(r.json, 0, NULL) : NULL;
    free(r.json);
    free(r.error_reason);
    pump();
    return data;
}

static int error_code(json_t *reply)
{
    return (int)json_integer_value(json_object_get(reply, "error_code"));
}
static const char *result_str(json_t *reply, const char *key)
{
    return json_string_value(json_object_get(json_object_get(reply, "result"), key));
}

static int expect_error(plugin_handle *h, const char *js, const char *body)
{
    json_t *r = request(h, js, "%s", body);
    int code = error_code(r);
    json_decref(r);
    return code;
}

/* The newest event pushed to h whose result.event is name (NULL if none since `since`). */
static event_rec *last_event(plugin_handle *h, const char *name, int since)
{
    for (int i = n_events - 1; i >= since; i--)
        if (events[i].h == h && events[i].data && result_str(events[i].data, "event") &&
            strcmp(result_str(events[i].data, "event"), name) == 0)
            return &events[i];
    return NULL;
}
static int count_events(plugin_handle *h, int since)
{
    int n = 0;
    for (int i = since; i < n_events; i++)
        n += events[i].h == h;
    return n;
}
static bool recorded(const char *needle, int since)
{
    for (int i = since; i < n_records; i++)
        if (strstr(records[i], needle))
            return true;
    return false;
}

static void media_up(plugin_handle *h)
{
    h->up = true;
    P->setup_media(h->session);
    pump();
}
static void media_down(plugin_handle *h)
{
    h->up = h->has_pc = false;
    h->loop = 0;
    P->hangup_media(h->session);
    pump();
}

static uint8_t pkt[256];
static void rtp(plugin_handle *h, plugin_media_kind k) { P->incoming_rtp(h->session, k, pkt, 100); }

static int last_live_timer(uint32_t ms)
{
    for (int i = n_timers - 1; i >= 0; i--)
        if (timers[i].live && timers[i].ms == ms)
            return i;
    return -1;
}
static void fire(int i)
{
    CHECK(i >= 0);
    if (i < 0)
        return;
    timers[i].live = false;
    timers[i].fn(timers[i].arg);
    pump();
}

#define OFFER_AV jsep("offer", "audio:sendrecv video:sendrecv")
#define OFFER_A jsep("offer", "audio:sendrecv")
#define ANSWER_AV jsep("answer", "audio:sendrecv video:sendrecv")
#define ANSWER_A jsep("answer", "audio:sendrecv video:none")

/* ---- scenarios ---- */

static void registered(plugin_handle *h, const char *name)
{
    json_t *r = request(h, NULL, "{\"request\":\"register\",\"username\":\"%s\"}", name);
    CHECK_STR(result_str(r, "event"), "registered");
    json_decref(r);
}

static void test_errors(void)
{
    plugin_handle *caller = attach(7), *host = attach(9), *other = attach(8);
    CHECK_INT(expect_error(caller, NULL, "{}"), 475);
    CHECK_INT(expect_error(caller, NULL, "[1]"), 471);
    CHECK_INT(expect_error(caller, NULL, "{\"request\":5}"), 474);
    CHECK_INT(expect_error(caller, NULL, "{\"request\":\"dance\"}"), 472);
    CHECK_INT(expect_error(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}"), 473);
    CHECK_INT(expect_error(caller, NULL, "{\"request\":\"register\"}"), 475);
    CHECK_INT(expect_error(caller, NULL, "{\"request\":\"register\",\"username\":\"8\"}"), 490);
    registered(caller, "7");
    CHECK_INT(expect_error(caller, NULL, "{\"request\":\"register\",\"username\":\"7\"}"), 477);
    registered(host, "9");
    registered(other, "8");
    CHECK_INT(expect_error(caller, OFFER_AV, "{\"request\":\"call\",\"username\":7}"), 474);
    CHECK_INT(expect_error(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"7\"}"), 479);
    CHECK_INT(expect_error(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"8\"}"), 492);
    CHECK_INT(expect_error(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"12345\"}"), 478);
    CHECK_INT(expect_error(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"09\"}"), 478);
    CHECK_INT(expect_error(host, OFFER_AV, "{\"request\":\"call\",\"username\":\"7\"}"), 491);
    CHECK_INT(expect_error(caller, NULL, "{\"request\":\"call\",\"username\":\"9\"}"), 482);
    CHECK_INT(expect_error(caller, ANSWER_AV, "{\"request\":\"call\",\"username\":\"9\"}"), 494);
    CHECK_INT(expect_error(caller, jsep("offer", "bad"), "{\"request\":\"call\",\"username\":\"9\"}"), 483);
    CHECK_INT(expect_error(caller, jsep("offer", "audio:inactive"), "{\"request\":\"call\",\"username\":\"9\"}"), 495);
    CHECK_INT(expect_error(caller, jsep("offer", "audio:sendrecv nocodec"), "{\"request\":\"call\",\"username\":\"9\"}"), 495);
    CHECK_INT(expect_error(host, NULL, "{\"request\":\"accept\"}"), 481);
    CHECK_INT(expect_error(caller, OFFER_AV, "{\"request\":\"set\"}"), 497);
    CHECK_INT(expect_error(caller, NULL, "{\"request\":\"set\",\"bitrate\":-1}"), 474);
    CHECK_INT(expect_error(caller, NULL, "{\"request\":\"set\",\"audio\":\"no\"}"), 474);
    json_t *r = request(caller, NULL, "{\"request\":\"list\"}");
    CHECK_INT(json_array_size(json_object_get(json_object_get(r, "result"), "list")), 3);
    json_decref(r);
    CHECK_INT(n_records, 0); /* nothing refused was recorded */
    detach(caller), detach(host), detach(other);
    release(caller), release(host), release(other);
}

static void test_call_accept_relay_hangup(void)
{
    plugin_handle *caller = attach(7), *dev1 = attach(9), *dev2 = attach(9);
    registered(caller, "7");
    registered(dev1, "9");
    registered(dev2, "9"); /* a second device of the same user */
    int ev0 = n_events, rec0 = n_records;
    json_t *r = request(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}");
    CHECK_STR(result_str(r, "event"), "calling");
    char call_id[64];
    snprintf(call_id, sizeof call_id, "%s", result_str(r, "call_id"));
    CHECK_INT(strlen(call_id), 36);
    json_decref(r);
    event_rec *in1 = last_event(dev1, "incomingcall", ev0), *in2 = last_event(dev2, "incomingcall", ev0);
    CHECK(in1 && in2);
    if (!in1 || !in2)
        return;
    CHECK_STR(result_str(in1->data, "username"), "7");
    CHECK_STR(result_str(in1->data, "call_id"), call_id);
    CHECK(in1->jsep && strstr(in1->jsep, "offer"));
    json_t *who = json_object_get(json_object_get(in1->data, "result"), "caller");
    CHECK_STR(json_string_value(json_object_get(who, "display_name")), "Carol");
    CHECK_INT(dev1->loop, caller->loop); /* colocated with the caller */
    CHECK(recorded("\"op\":\"create\"", rec0) && recorded("\"kind\":\"video\"", rec0));
    CHECK(recorded("\"devices\":2", rec0));

    /* A second caller: every device is ringing, so the host has no free line. */
    plugin_handle *late = attach(8);
    registered(late, "8");
    late->has_pc = true; /* the core made the PeerConnection of the call's offer */
    late->loop = next_loop++;
    plugin_result pr = P->handle_message(late->session, "tx", "{\"request\":\"call\",\"username\":\"9\"}", OFFER_A);
    /* The answer goes out first (the core pushes it when handle_message returns), the
     * PeerConnection closes after it (posted): a "hangup" first failed the client's request. */
    CHECK_INT(late->closes, 0);
    r = pr.json ? json_loads(pr.json, 0, NULL) : NULL;
    free(pr.json);
    free(pr.error_reason);
    pump();
    CHECK_INT(late->closes, 1);
    CHECK_STR(result_str(r, "event"), "hangup");
    CHECK_STR(result_str(r, "reason"), "busy");
    json_decref(r);

    /* dev2 answers first. */
    ev0 = n_events, rec0 = n_records;
    r = request(dev2, ANSWER_AV, "{\"request\":\"accept\"}");
    CHECK_STR(result_str(r, "event"), "accepted");
    CHECK_STR(result_str(r, "username"), "7");
    json_decref(r);
    event_rec *acc = last_event(caller, "accepted", ev0);
    CHECK(acc && acc->jsep && strstr(acc->jsep, "answer"));
    CHECK(acc && !strcmp(result_str(acc->data, "username"), "9"));
    event_rec *lost = last_event(dev1, "hangup", ev0);
    CHECK(lost && !strcmp(result_str(lost->data, "reason"), "answered_elsewhere"));
    CHECK_INT(dev1->closes, 1);
    CHECK(recorded("\"op\":\"accept\"", rec0));
    CHECK_INT(busy_calls[0], 1);
    CHECK_INT(expect_error(dev1, ANSWER_AV, "{\"request\":\"accept\"}"), 481);
    /* Now the host is busy for real. */
    r = request(late, OFFER_A, "{\"request\":\"call\",\"username\":\"9\"}");
    CHECK_STR(result_str(r, "reason"), "busy");
    json_decref(r);
    CHECK_INT(expect_error(caller, OFFER_A, "{\"request\":\"call\",\"username\":\"11\"}"), 480);

    /* Media up on both legs: keyframes asked, the relay flows. */
    media_up(caller);
    media_up(dev2);
    rtp(caller, PLUGIN_MEDIA_VIDEO);
    rtp(caller, PLUGIN_MEDIA_AUDIO);
    rtp(dev2, PLUGIN_MEDIA_VIDEO);
    CHECK_INT(dev2->rtp_in[PLUGIN_MEDIA_VIDEO], 1);
    CHECK_INT(dev2->rtp_in[PLUGIN_MEDIA_AUDIO], 1);
    CHECK_INT(caller->rtp_in[PLUGIN_MEDIA_VIDEO], 1);
    CHECK(caller->plis >= 1 && dev2->plis >= 1);
    P->incoming_data(caller->session, "chat", 0, pkt, 5);
    CHECK_INT(dev2->data_in, 1);

    /* set video off on the caller: its video stops reaching dev2; on again: a PLI. */
    ev0 = n_events;
    r = request(caller, NULL, "{\"request\":\"set\",\"video\":false}");
    CHECK_STR(result_str(r, "event"), "set");
    json_decref(r);
    event_rec *ms = last_event(dev2, "media_state", ev0);
    CHECK(ms && json_is_false(json_object_get(json_object_get(ms->data, "result"), "video")));
    rtp(caller, PLUGIN_MEDIA_VIDEO);
    CHECK_INT(dev2->rtp_in[PLUGIN_MEDIA_VIDEO], 1);
    int plis = caller->plis;
    json_decref(request(caller, NULL, "{\"request\":\"set\",\"video\":true}"));
    rtp(caller, PLUGIN_MEDIA_VIDEO);
    CHECK_INT(dev2->rtp_in[PLUGIN_MEDIA_VIDEO], 2);
    CHECK_INT(caller->plis, plis + 1);

    /* A cap: announced at the next packet, and re-imposed after relayed REMBs. */
    json_decref(request(caller, NULL, "{\"request\":\"set\",\"bitrate\":300000}"));
    rtp(caller, PLUGIN_MEDIA_AUDIO);
    CHECK_INT(caller->last_remb, 300000);
    uint8_t remb[24] = {0x8f, 206, 0, 5};
    memcpy(remb + 12, "REMB", 4);
    int rembs = caller->rembs;
    P->incoming_rtcp(dev2->session, PLUGIN_MEDIA_VIDEO, remb, sizeof remb);
    CHECK_INT(caller->rtcp_in, 1);
    CHECK_INT(caller->rembs, rembs + 1);
    CHECK_INT(caller->last_remb, 300000);

    /* Renegotiation: the host downgrades to audio. */
    ev0 = n_events, rec0 = n_records;
    r = request(dev2, OFFER_A, "{\"request\":\"set\"}");
    CHECK_STR(result_str(r, "event"), "set");
    json_decref(r);
    event_rec *up = last_event(caller, "update", ev0);
    CHECK(up && up->jsep && strstr(up->jsep, "offer"));
    CHECK_INT(expect_error(caller, OFFER_AV, "{\"request\":\"set\"}"), 500);
    CHECK_INT(expect_error(dev2, ANSWER_A, "{\"request\":\"set\"}"), 498);
    json_decref(request(caller, ANSWER_A, "{\"request\":\"set\"}"));
    up = last_event(dev2, "update", ev0);
    CHECK(up && up->jsep && strstr(up->jsep, "answer"));
    CHECK(recorded("\"op\":\"kind\"", rec0) && recorded("\"kind\":\"audio\"", rec0));

    /* The caller hangs up. */
    ev0 = n_events, rec0 = n_records;
    r = request(caller, NULL, "{\"request\":\"hangup\"}");
    CHECK_STR(result_str(r, "event"), "hangup");
    CHECK_STR(result_str(r, "reason"), "Explicit hangup");
    CHECK_STR(result_str(r, "call_id"), call_id);
    json_decref(r);
    event_rec *hu = last_event(dev2, "hangup", ev0);
    CHECK(hu && !strcmp(result_str(hu->data, "reason"), "We did the hangup"));
    CHECK(hu && !strcmp(result_str(hu->data, "username"), "7"));
    CHECK(recorded("\"reason\":\"hangup\"", rec0));
    CHECK_INT(busy_calls[1], 1);
    CHECK(dev2->closes >= 1);
    /* The relay stopped. */
    dev2->has_pc = caller->has_pc = true;
    rtp(dev2, PLUGIN_MEDIA_AUDIO);
    CHECK_INT(caller->rtp_in[PLUGIN_MEDIA_AUDIO], 0);
    char *admin = P->admin("");
    CHECK(admin && strstr(admin, "\"calls\":[]"));
    free(admin);

    detach(caller), detach(dev1), detach(dev2), detach(late);
    release(caller), release(dev1), release(dev2), release(late);
}

static void test_ringing_ends(void)
{
    plugin_handle *caller = attach(7), *dev1 = attach(9), *dev2 = attach(9);
    registered(caller, "7");
    registered(dev1, "9");
    registered(dev2, "9");

    /* A decline on one device: the caller hears "declined", the other device stops. */
    int ev0 = n_events, rec0 = n_records;
    json_decref(request(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}"));
    json_t *r = request(dev1, NULL, "{\"request\":\"hangup\"}");
    CHECK_STR(result_str(r, "reason"), "Explicit hangup");
    json_decref(r);
    event_rec *e = last_event(caller, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "declined"));
    CHECK(e && !strcmp(result_str(e->data, "username"), "9"));
    e = last_event(dev2, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "declined"));
    CHECK(!last_event(dev1, "hangup", ev0)); /* it got the reply instead */
    CHECK(recorded("\"reason\":\"declined\"", rec0));
    CHECK_INT(expect_error(dev2, ANSWER_AV, "{\"request\":\"accept\"}"), 481);

    /* Ring timeout. */
    ev0 = n_events, rec0 = n_records;
    json_decref(request(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}"));
    fire(last_live_timer(45000));
    e = last_event(caller, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "no_answer"));
    e = last_event(dev1, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "no_answer"));
    CHECK(recorded("\"reason\":\"no_answer\"", rec0));

    /* The caller cancels. */
    ev0 = n_events, rec0 = n_records;
    json_decref(request(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}"));
    json_decref(request(caller, NULL, "{\"request\":\"hangup\"}"));
    e = last_event(dev2, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "cancelled"));
    CHECK(recorded("\"reason\":\"cancelled\"", rec0));
    CHECK_INT(last_live_timer(45000), -1); /* every ring timer was cancelled or fired */

    /* The caller detaches while it rings. */
    ev0 = n_events;
    json_decref(request(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}"));
    detach(caller);
    e = last_event(dev1, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "peer_gone"));

    /* Do-not-disturb, and a host with no device: unavailable, recorded as ended. */
    plugin_handle *c2 = attach(7);
    registered(c2, "7");
    rec0 = n_records;
    r = request(c2, OFFER_A, "{\"request\":\"call\",\"username\":\"10\"}");
    CHECK_STR(result_str(r, "reason"), "unavailable");
    json_decref(r);
    r = request(c2, OFFER_A, "{\"request\":\"call\",\"username\":\"11\"}");
    CHECK_STR(result_str(r, "reason"), "unavailable");
    json_decref(r);
    CHECK(recorded("\"op\":\"create\"", rec0) && recorded("\"reason\":\"unavailable\"", rec0));
    CHECK(recorded("\"kind\":\"audio\"", rec0));

    detach(c2), detach(dev1), detach(dev2);
    release(caller), release(c2), release(dev1), release(dev2);
}

static void test_reconnect_and_detach(void)
{
    plugin_handle *caller = attach(7), *host = attach(9);
    registered(caller, "7");
    registered(host, "9");
    json_decref(request(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}"));
    json_decref(request(host, ANSWER_AV, "{\"request\":\"accept\"}"));
    media_up(caller);
    media_up(host);

    /* The host's PeerConnection fails and comes back within the grace. */
    int ev0 = n_events;
    media_down(host);
    int grace = last_live_timer(20000);
    CHECK(grace >= 0);
    CHECK_INT(host->loop, caller->loop); /* its next PeerConnection goes to the caller's loop */
    json_decref(request(host, OFFER_AV, "{\"request\":\"set\",\"restart\":true}"));
    CHECK(last_event(caller, "update", ev0) != NULL);
    json_decref(request(caller, ANSWER_AV, "{\"request\":\"set\"}"));
    media_up(host);
    CHECK_INT(last_live_timer(20000), -1);
    CHECK(!last_event(caller, "hangup", ev0));
    rtp(host, PLUGIN_MEDIA_AUDIO);
    CHECK_INT(caller->rtp_in[PLUGIN_MEDIA_AUDIO], 1);

    /* It fails again and does not come back: peer_gone for both. */
    media_down(host);
    fire(last_live_timer(20000));
    event_rec *e = last_event(caller, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "peer_gone"));
    CHECK(e && !strcmp(result_str(e->data, "username"), "9"));

    /* A new call whose media never comes up after accept: peer_gone once the grace ran out. */
    ev0 = n_events;
    json_decref(request(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}"));
    json_decref(request(host, ANSWER_AV, "{\"request\":\"accept\"}"));
    CHECK(!last_event(caller, "hangup", ev0));
    fire(last_live_timer(20000));
    e = last_event(caller, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "peer_gone"));

    /* A new call; the caller detaches during it: the host hears peer_gone at once. */
    ev0 = n_events;
    json_decref(request(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}"));
    json_decref(request(host, ANSWER_AV, "{\"request\":\"accept\"}"));
    media_up(caller);
    media_up(host);
    char *q = P->query_session(host->session);
    CHECK(q && strstr(q, "\"state\":\"incall\"") && strstr(q, "\"peer\":\"7\""));
    free(q);
    detach(caller);
    e = last_event(host, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "peer_gone"));
    q = P->query_session(host->session);
    CHECK(q && strstr(q, "\"state\":\"idle\""));
    free(q);
    detach(host);
    release(caller), release(host);
}

static void test_auth_off(void)
{
    plugin_handle *a = attach(0), *b = attach(0), *c = attach(0);
    registered(a, "alice");
    CHECK_INT(expect_error(b, NULL, "{\"request\":\"register\",\"username\":\"alice\"}"), 476);
    registered(b, "bob");
    CHECK_INT(expect_error(a, OFFER_AV, "{\"request\":\"call\",\"username\":\"carol\"}"), 478);
    int ev0 = n_events, rec0 = n_records;
    json_decref(request(a, OFFER_AV, "{\"request\":\"call\",\"username\":\"bob\"}"));
    event_rec *in = last_event(b, "incomingcall", ev0);
    CHECK(in && !strcmp(result_str(in->data, "username"), "alice"));
    json_decref(request(b, ANSWER_AV, "{\"request\":\"accept\"}"));
    CHECK(last_event(a, "accepted", ev0) != NULL);
    registered(c, "carol");
    json_t *r = request(c, OFFER_AV, "{\"request\":\"call\",\"username\":\"alice\"}");
    CHECK_STR(result_str(r, "reason"), "busy");
    json_decref(r);
    json_decref(request(b, NULL, "{\"request\":\"hangup\",\"reason\":\"Bye\"}"));
    event_rec *e = last_event(a, "hangup", ev0);
    CHECK(e && !strcmp(result_str(e->data, "reason"), "Bye"));
    CHECK_INT(n_records, rec0); /* no platform users: nothing recorded */
    (void)count_events;
    detach(a), detach(b), detach(c);
    release(a), release(b), release(c);
}

/* ---- the relay against the release of the peer link, with a real second thread ---- */

static _Atomic(plugin_handle *) loop_legs[2]; /* the handles whose packets the loop drives */
static atomic_bool loop_running;
static atomic_ulong loop_rounds;

static void *loop_thread(void *arg)
{
    (void)arg;
    uint8_t buf[128 + PLUGIN_PACKET_HEADROOM] = {0x80};
    uint8_t remb[24 + PLUGIN_PACKET_HEADROOM] = {0x8f, 206, 0, 5};
    memcpy(remb + 12, "REMB", 4);
    while (atomic_load(&loop_running)) {
        for (int i = 0; i < 2; i++) {
            plugin_handle *h = atomic_load(&loop_legs[i]);
            if (!h)
                continue;
            P->incoming_rtp(h->session, PLUGIN_MEDIA_VIDEO, buf, 100);
            P->incoming_rtp(h->session, PLUGIN_MEDIA_AUDIO, buf, 100);
            P->incoming_rtcp(h->session, PLUGIN_MEDIA_VIDEO, remb, 24);
            P->incoming_data(h->session, "chat", 0, buf, 10);
        }
        run_loop_posts();
        atomic_fetch_add(&loop_rounds, 1);
    }
    run_loop_posts();
    return NULL;
}

static void wait_loop_rounds(unsigned long n)
{
    unsigned long r = atomic_load(&loop_rounds);
    while (atomic_load(&loop_rounds) < r + n)
        sched_yield();
}

/* What the core guarantees before destroy_session: no packet callback of that leg runs. */
static void stop_packets(int i)
{
    atomic_store(&loop_legs[i], NULL);
    wait_loop_rounds(2);
}

#define RACE_ROUNDS 300

static void test_relay_race(void)
{
    static plugin_handle *hosts[RACE_ROUNDS];
    threaded = true;
    plugin_handle *caller = attach(7);
    registered(caller, "7");
    atomic_store(&loop_running, true);
    pthread_t loop;
    CHECK_INT(pthread_create(&loop, NULL, loop_thread, NULL), 0);
    atomic_store(&loop_legs[0], caller);
    for (int round = 0; round < RACE_ROUNDS; round++) {
        plugin_handle *host = hosts[round] = attach(9);
        registered(host, "9");
        json_decref(request(caller, OFFER_AV, "{\"request\":\"call\",\"username\":\"9\"}"));
        json_decref(request(host, ANSWER_AV, "{\"request\":\"accept\"}"));
        atomic_store(&loop_legs[1], host);
        /* low-balance tones handed to the loop while it relays (and left to the teardown) */
        vc_session_play_tone(caller->session, 1500, 40);
        vc_session_play_tone(host->session, 1500, 40);
        wait_loop_rounds(1 + (unsigned long)(round % 3));
        vc_session_play_tone(caller->session, 1500, 40);
        if (round % 2 == 0) {
            /* The host's handle goes away mid-call: its session is freed once the loop let
             * go of the caller's link to it. */
            stop_packets(1);
            detach(host);
        } else {
            json_decref(request(round % 4 == 1 ? caller : host, NULL, "{\"request\":\"hangup\"}"));
            wait_loop_rounds(1);
            stop_packets(1);
            detach(host);
        }
    }
    stop_packets(0);
    atomic_store(&loop_running, false);
    pthread_join(loop, NULL);
    threaded = false;
    CHECK(atomic_load(&caller->rtp_in[PLUGIN_MEDIA_VIDEO]) > 0);
    CHECK(atomic_load(&hosts[0]->rtp_in[PLUGIN_MEDIA_VIDEO]) > 0);
    detach(caller);
    for (int i = 0; i < RACE_ROUNDS; i++)
        release(hosts[i]);
    release(caller);
}

int main(void)
{
    plugin_init_info billing_info = {.self = NULL, .config_dir = ".", .config_json = "{}"};
    CHECK_INT(billing_plugin_descriptor()->init(&fake_core, &billing_info), 0);
    P = calls_plugin_descriptor();
    plugin_init_info info = {.self = NULL, .config_dir = ".", .config_json = "{\"ring_timeout_s\":45}"};
    CHECK_INT(P->init(&fake_core, &info), 0);
    test_errors();
    test_call_accept_relay_hangup();
    test_ringing_ends();
    test_reconnect_and_detach();
    test_auth_off();
    test_relay_race();
    P->destroy();
    for (int i = 0; i < n_events; i++) {
        json_decref(events[i].data);
        free(events[i].jsep);
    }
    for (int i = 0; i < n_records; i++)
        free(records[i]);
    return check_summary("test_calls_flow");
}
