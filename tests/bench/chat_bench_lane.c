/*
 * chat_bench_lane: the chat benchmark's data path on a client loop thread (chat_bench.h):
 * the callers' paced messages, the replies, the hosts' arrivals and `delivered` answers, the
 * receipts, each stamped into the row's preallocated records. Everything here runs on the
 * lane's loop (peer callbacks, the timer, loop_invoke targets), so nothing takes a lock and
 * nothing allocates per message except jansson's parse of what arrives.
 */
#include "chat_bench.h"

#include <glib.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message sent later than this after its due time counts as late (the client fell behind). */
#define CHB_LATE_US 2000

uint32_t chb_run_tag;

/* ---- keys ---- */

static uint64_t lane_random(chb_lane *L)
{
    /* xorshift64: a few random digits per key, no shared state. */
    uint64_t x = L->rng ? L->rng : 0x9e3779b97f4a7c15u;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    L->rng = x;
    return x;
}

/* A UUID v4 in form (version 4, variant 8) whose digits say where its record is:
 * tag(8)-row(4)-4 lane(3)-8 random(3)-index(12). */
static void key_make(chb_lane *L, size_t index, char out[CHB_UUID_LEN + 1])
{
    snprintf(out, CHB_UUID_LEN + 1, "%08" PRIx32 "-%04" PRIx32 "-4%03x-8%03x-%012" PRIx64,
             chb_run_tag, L->row & 0xffffu, (unsigned)L->index & 0xfffu,
             (unsigned)(lane_random(L) & 0xfffu), (uint64_t)index & 0xffffffffffffu);
}

static bool hex_field(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        int d = g_ascii_xdigit_value(s[i]);
        if (d < 0)
            return false;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return true;
}

/* The record a key names in this lane's current row, or NULL (another run, row or lane). */
static chb_record *key_record(chb_lane *L, const char *key)
{
    uint64_t tag, row, lane, index;
    if (!key || strlen(key) != CHB_UUID_LEN || key[8] != '-' || key[13] != '-' ||
        key[18] != '-' || key[23] != '-' || !hex_field(key, 8, &tag) ||
        !hex_field(key + 9, 4, &row) || !hex_field(key + 15, 3, &lane) ||
        !hex_field(key + 24, 12, &index))
        return NULL;
    if (tag != chb_run_tag || row != (L->row & 0xffffu) || lane != ((unsigned)L->index & 0xfffu) ||
        index >= L->n_rec)
        return NULL;
    return &L->rec[index];
}

/* ---- msg_id -> record (open addressing, linear probing; reset per row) ---- */

static size_t slot_hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211u;
    return (size_t)h;
}

static void table_put(chb_lane *L, size_t index)
{
    for (size_t i = slot_hash(L->rec[index].msg_id) & L->slot_mask;; i = (i + 1) & L->slot_mask) {
        if (L->slots[i] == 0) {
            L->slots[i] = (uint32_t)index + 1;
            return;
        }
    }
}

static chb_record *table_get(chb_lane *L, const char *msg_id)
{
    for (size_t i = slot_hash(msg_id) & L->slot_mask; L->slots[i]; i = (i + 1) & L->slot_mask) {
        chb_record *r = &L->rec[L->slots[i] - 1];
        if (strcmp(r->msg_id, msg_id) == 0)
            return r;
    }
    return NULL;
}

/* ---- what arrives ---- */

static void count_error(chb_lane *L, int code)
{
    for (int i = 0; i < L->n_errors; i++) {
        if (L->errors[i].code == code) {
            L->errors[i].count++;
            return;
        }
    }
    if (L->n_errors < CHB_MAX_ERROR_CODES)
        L->errors[L->n_errors++] = (chb_error_count){.code = code, .count = 1};
}

/* The join's answer (setup thread waits for it). */
static void on_join_reply(chb_client *c, json_t *m, bool ok)
{
    if (!ok) {
        const char *why = json_string_value(json_object_get(m, "error"));
        chb_fail(c, "join refused: %" JSON_INTEGER_FORMAT " %s",
                 json_integer_value(json_object_get(m, "error_code")), why ? why : "?");
    }
    atomic_store(&c->join_state, ok ? 1 : -1);
    bench_change_notify();
}

/* "c<row>.<index>": the reply to a message of this row. */
static void on_message_reply(chb_lane *L, const char *tx, json_t *m, bool ok, int64_t now)
{
    char *end;
    unsigned long row = strtoul(tx + 1, &end, 10);
    if (*end != '.' || row != L->row) {
        L->unmatched++;
        return;
    }
    unsigned long long index = strtoull(end + 1, &end, 10);
    if (*end || index >= L->n_rec || L->rec[index].t_sent) {
        L->unmatched++;
        return;
    }
    chb_record *r = &L->rec[index];
    r->t_sent = now;
    if (!ok) {
        r->refused = true;
        count_error(L, (int)json_integer_value(json_object_get(m, "error_code")));
        return;
    }
    const char *msg_id = json_string_value(json_object_get(m, "msg_id"));
    if (msg_id && strlen(msg_id) <= CHB_UUID_LEN) {   /* Janus's replies have none */
        memcpy(r->msg_id, msg_id, strlen(msg_id) + 1);
        table_put(L, (size_t)index);
    }
}

static void on_reply(chb_client *c, chb_lane *L, json_t *m, bool ok, int64_t now)
{
    const char *tx = json_string_value(json_object_get(m, "transaction"));
    if (!tx)
        return;
    if (c->join_tx[0] && strcmp(tx, c->join_tx) == 0)
        on_join_reply(c, m, ok);
    else if (tx[0] == 'c' && c->role == CHB_CALLER && L->active)
        on_message_reply(L, tx, m, ok, now);
}

/* The host got a message: stamp it, then confirm it as a browser would (ours only). */
static void on_host_message(chb_client *c, chb_lane *L, json_t *m, int64_t now)
{
    const char *key = json_string_value(json_object_get(m, "client_id"));
    if (!key) {
        /* Janus: the text ends with the key. */
        const char *text = json_string_value(json_object_get(m, "text"));
        size_t n = text ? strlen(text) : 0;
        key = n >= CHB_UUID_LEN ? text + n - CHB_UUID_LEN : NULL;
    }
    if (L->active) {
        chb_record *r = key_record(L, key);
        if (!r)
            L->unmatched++;
        else if (!r->t_host)
            r->t_host = now;
    }
    const char *msg_id = json_string_value(json_object_get(m, "msg_id"));
    if (L->cfg->janus || !msg_id)
        return;
    int len = snprintf(L->out, sizeof L->out,
                       "{\"textroom\":\"delivered\",\"room\":%" PRId64 ",\"msg_id\":\"%s\"}",
                       c->pair->room, msg_id);
    if ((len <= 0 || (size_t)len >= sizeof L->out ||
         peer_send_data(c->peer, CHB_LABEL, 0, false, (const uint8_t *)L->out, (size_t)len) != 0) &&
        L->active)
        L->send_errors++;
}

static void on_receipt(chb_lane *L, json_t *m, int64_t now)
{
    const char *state = json_string_value(json_object_get(m, "state"));
    const char *msg_id = json_string_value(json_object_get(m, "msg_id"));
    if (!state || strcmp(state, "delivered") != 0)
        return;
    chb_record *r = msg_id ? table_get(L, msg_id) : NULL;
    if (!r)
        L->unmatched++;
    else if (!r->t_receipt)
        r->t_receipt = now;
}

static void on_data(void *user, uint16_t stream_id, const char *label, bool binary,
                    const uint8_t *buf, size_t len)
{
    (void)stream_id;
    (void)label;
    (void)binary;
    int64_t now = g_get_monotonic_time();  /* arrival, before the parse */
    chb_client *c = user;
    chb_lane *L = c->pair->lane;
    json_t *m = json_loadb((const char *)buf, len, 0, NULL);
    const char *kind = json_string_value(json_object_get(m, "textroom"));
    /* Outside a row only the join's answer and the hosts' `delivered` matter; the lane's
     * counters are the main thread's then. */
    if (!kind) {
        if (L->active)
            L->bad_json++;
    } else if (strcmp(kind, "success") == 0 || strcmp(kind, "error") == 0) {
        on_reply(c, L, m, kind[0] == 's', now);
    } else if (strcmp(kind, "message") == 0) {
        if (c->role == CHB_HOST)
            on_host_message(c, L, m, now);
    } else if (strcmp(kind, "receipt") == 0) {
        if (c->role == CHB_CALLER && L->active)
            on_receipt(L, m, now);
    }
    json_decref(m);
}

/* ---- peer state ---- */

static void on_gathering_done(void *user)
{
    chb_client *c = user;
    atomic_store(&c->gathered, true);
    bench_change_notify();
}

static void on_state(void *user, peer_state st)
{
    chb_client *c = user;
    if (st == PEER_STATE_FAILED)
        chb_fail(c, "peer went to FAILED (ICE or DTLS)");
}

static void on_data_open(void *user, uint16_t stream_id, const char *label, const char *protocol)
{
    (void)stream_id;
    (void)protocol;
    chb_client *c = user;
    if (!label || strcmp(label, CHB_LABEL) != 0)
        return;  /* a channel the server opened: it answers on ours */
    atomic_store(&c->open, true);
    atomic_store(&c->poll_stop, true);
    bench_change_notify();
}

peer_callbacks chb_peer_callbacks(chb_client *c)
{
    return (peer_callbacks){.user = c, .gathering_done = on_gathering_done,
                            .state_changed = on_state, .data_open = on_data_open,
                            .data = on_data};
}

void chb_send_join(void *arg)
{
    chb_client *c = arg;
    char buf[512];
    int len = snprintf(buf, sizeof buf,
                       "{\"textroom\":\"join\",\"room\":%" PRId64 ",\"username\":\"%s\","
                       "\"display\":\"%s\",\"transaction\":\"%s\"}",
                       c->pair->room, c->username, c->username, c->join_tx);
    if (len <= 0 || (size_t)len >= sizeof buf ||
        peer_send_data(c->peer, CHB_LABEL, 0, false, (const uint8_t *)buf, (size_t)len) != 0) {
        chb_fail(c, "could not send the join");
        atomic_store(&c->join_state, -1);
        bench_change_notify();
    }
}

/* ---- the pacer: pairs in a min-heap on their next due time, one timerfd per lane ---- */

static bool heap_less(const chb_lane *L, size_t a, size_t b)
{
    return L->heap[a]->next_due < L->heap[b]->next_due;
}

static void heap_down(chb_lane *L, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < L->n_heap && heap_less(L, l, m))
            m = l;
        if (r < L->n_heap && heap_less(L, r, m))
            m = r;
        if (m == i)
            return;
        chb_pair *t = L->heap[i];
        L->heap[i] = L->heap[m];
        L->heap[m] = t;
        i = m;
    }
}

static void heap_pop(chb_lane *L)
{
    L->heap[0] = L->heap[--L->n_heap];
    heap_down(L, 0);
}

/* One message of pair p, due at p->next_due, now. */
static void send_message(chb_lane *L, chb_pair *p, int64_t now)
{
    int64_t late = now - p->next_due;
    if (late > CHB_LATE_US)
        L->late_sends++;
    if (late > L->max_late_us)
        L->max_late_us = late;
    if (L->n_rec >= L->cap_rec) {   /* cannot happen with the planned capacity */
        L->send_errors++;
        return;
    }
    size_t index = L->n_rec++;
    chb_record *r = &L->rec[index];
    char key[CHB_UUID_LEN + 1];
    key_make(L, index, key);
    int len;
    if (L->cfg->janus)
        len = snprintf(L->out, sizeof L->out,
                       "{\"textroom\":\"message\",\"room\":%" PRId64 ",\"text\":\"bench %zu %s\","
                       "\"transaction\":\"c%" PRIu32 ".%zu\"}",
                       p->room, index, key, L->row, index);
    else
        len = snprintf(L->out, sizeof L->out,
                       "{\"textroom\":\"message\",\"room\":%" PRId64 ",\"text\":\"bench %zu %s\","
                       "\"client_id\":\"%s\",\"transaction\":\"c%" PRIu32 ".%zu\"}",
                       p->room, index, key, key, L->row, index);
    r->t0 = g_get_monotonic_time();
    if (len <= 0 || (size_t)len >= sizeof L->out ||
        peer_send_data(p->c[CHB_CALLER].peer, CHB_LABEL, 0, false, (const uint8_t *)L->out,
                       (size_t)len) != 0)
        L->send_errors++;
}

static void pacer_fire(void *arg)
{
    chb_lane *L = arg;
    if (!L->sending)
        return;
    int64_t now = g_get_monotonic_time();
    while (L->n_heap > 0 && L->heap[0]->next_due <= now) {
        chb_pair *p = L->heap[0];
        if (p->next_due >= L->end_us) {
            heap_pop(L);
            continue;
        }
        /* A late loop sends what is due (the offered load stays), counted as late. */
        send_message(L, p, now);
        p->next_due += L->interval_us;
        heap_down(L, 0);
    }
    if (L->n_heap > 0)
        bench_hrtimer_arm(L->timer, L->heap[0]->next_due);
    else
        L->sending = false;
}

void chb_lane_row_start(void *arg)
{
    const chb_row_plan *plan = arg;
    chb_lane *L = plan->lane;
    L->row = plan->row;
    L->interval_us = plan->interval_us;
    L->end_us = plan->end_us;
    L->n_rec = 0;
    memset(L->rec, 0, L->cap_rec * sizeof *L->rec);
    memset(L->slots, 0, (L->slot_mask + 1) * sizeof *L->slots);
    L->n_errors = 0;
    L->send_errors = L->late_sends = L->unmatched = L->bad_json = 0;
    L->max_late_us = 0;
    L->n_heap = 0;
    /* Each pair its own phase: the ready pairs spread evenly over one interval. */
    for (size_t i = 0; i < L->n_pairs; i++) {
        chb_pair *p = L->pairs[i];
        p->next_due = plan->start_us + (plan->interval_us * p->order) / plan->n_ready;
        L->heap[L->n_heap++] = p;
    }
    for (size_t i = L->n_heap / 2 + 1; i-- > 0;)
        heap_down(L, i);
    if (!L->timer)
        L->timer = bench_hrtimer_attach(L->loop, pacer_fire, L);
    L->active = true;
    L->sending = L->timer && L->n_heap > 0;
    if (L->sending)
        bench_hrtimer_arm(L->timer, L->heap[0]->next_due);
}

void chb_lane_row_stop(void *arg)
{
    chb_lane *L = arg;
    L->sending = false;
    L->active = false;
}

void chb_lane_count_missing(void *arg)
{
    chb_missing *q = arg;
    const chb_lane *L = q->lane;
    bool receipts = !L->cfg->janus;
    q->n = 0;
    for (size_t i = 0; i < L->n_rec; i++) {
        const chb_record *r = &L->rec[i];
        if (r->refused)
            continue;   /* an error reply: nothing else will come */
        if (!r->t_sent || !r->t_host || (receipts && !r->t_receipt))
            q->n++;
    }
}

void chb_lane_detach(void *arg)
{
    chb_lane *L = arg;
    L->sending = L->active = false;
    bench_hrtimer_detach(&L->timer);
}
