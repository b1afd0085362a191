/*
 * chat_bench_report: one row's figures from the lanes' records (chat_bench.h), printed as
 * one JSON line with the fields chat_bench_page.js's run() returns (so chat_bench.mjs shows
 * both clients alike) plus what only this client knows (its CPU, its lateness, the
 * server's CPU over the same span). Percentiles as the page takes them: the value at
 * floor(p/100 * n) of the sorted list (capped at the last).
 * Main thread, with every lane's row stopped (chb_lane_row_stop was run on each loop).
 */
#include "chat_bench.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_stats.h"

typedef struct latencies {
    int64_t *v;                /* us */
    size_t n;
} latencies;

static json_t *summary(latencies *l)
{
    if (l->n == 0)
        return json_pack("{s:i,s:n,s:n,s:n}", "n", 0, "p50", "p99", "max");
    qsort(l->v, l->n, sizeof *l->v, bench_cmp_i64);
    size_t i50 = (size_t)(0.50 * (double)l->n), i99 = (size_t)(0.99 * (double)l->n);
    if (i50 >= l->n)
        i50 = l->n - 1;
    if (i99 >= l->n)
        i99 = l->n - 1;
    return json_pack("{s:I,s:f,s:f,s:f}", "n", (json_int_t)l->n, "p50", (double)l->v[i50] / 1e3,
                     "p99", (double)l->v[i99] / 1e3, "max", (double)l->v[l->n - 1] / 1e3);
}

/* Everything the rows' records say, over all lanes. */
typedef struct row_totals {
    uint64_t sent, replies, at_host, receipts;
    uint64_t send_errors, late_sends, unmatched, bad_json;
    int64_t max_late_us, last_host;
    latencies sent_ms, host_ms, receipt_ms;
    json_t *errors;            /* {"<code>": count} */
} row_totals;

static void add_lane(row_totals *t, const chb_lane *L)
{
    for (size_t i = 0; i < L->n_rec; i++) {
        const chb_record *r = &L->rec[i];
        t->sent++;
        if (r->t_sent) {
            t->replies++;
            t->sent_ms.v[t->sent_ms.n++] = r->t_sent - r->t0;
        }
        if (r->t_host) {
            t->at_host++;
            t->host_ms.v[t->host_ms.n++] = r->t_host - r->t0;
            if (r->t_host > t->last_host)
                t->last_host = r->t_host;
        }
        if (r->t_receipt) {
            t->receipts++;
            t->receipt_ms.v[t->receipt_ms.n++] = r->t_receipt - r->t0;
        }
    }
    for (int i = 0; i < L->n_errors; i++) {
        char code[16];
        snprintf(code, sizeof code, "%d", L->errors[i].code);
        json_int_t before = json_integer_value(json_object_get(t->errors, code));
        json_object_set_new(t->errors, code, json_integer(before + L->errors[i].count));
    }
    t->send_errors += L->send_errors;
    t->late_sends += L->late_sends;
    t->unmatched += L->unmatched;
    t->bad_json += L->bad_json;
    if (L->max_late_us > t->max_late_us)
        t->max_late_us = L->max_late_us;
}

/* The at-host p99 of the messages sent in each second of the row: whether a row's tail is
 * spread over it or comes from a few moments (a start-up transient, a stall). */
#define BY_SECOND_MAX 120
/* The second of the row a record was sent in, or -1 when it never reached the host or falls
 * outside the first BY_SECOND_MAX seconds. */
static int record_second(const chb_record *r, int64_t start_us)
{
    int64_t k = (r->t0 - start_us) / 1000000;
    return r->t_host && k >= 0 && k < BY_SECOND_MAX ? (int)k : -1;
}

static json_t *host_p99_by_second(chb_lane *lanes, int n_lanes, int64_t start_us)
{
    latencies sec[BY_SECOND_MAX] = {0};
    size_t count[BY_SECOND_MAX] = {0};
    int last = -1;
    for (int i = 0; i < n_lanes; i++)   /* sized by a counting pass: each second its own */
        for (size_t j = 0; j < lanes[i].n_rec; j++) {
            int k = record_second(&lanes[i].rec[j], start_us);
            if (k >= 0)
                count[k]++;
            if (k > last)
                last = k;
        }
    for (int k = 0; k <= last; k++)
        sec[k].v = g_new(int64_t, count[k] + 1);
    for (int i = 0; i < n_lanes; i++)
        for (size_t j = 0; j < lanes[i].n_rec; j++) {
            const chb_record *r = &lanes[i].rec[j];
            int k = record_second(r, start_us);
            if (k >= 0)
                sec[k].v[sec[k].n++] = r->t_host - r->t0;
        }
    json_t *out = json_array();
    for (int k = 0; k <= last; k++) {
        json_t *s = summary(&sec[k]);
        json_array_append(out, json_object_get(s, "p99"));
        json_decref(s);
        g_free(sec[k].v);
    }
    return out;
}

void chb_report_row(chb_lane *lanes, int n_lanes, bool receipts, const chb_row_meta *meta)
{
    int64_t start_us = meta->start_us;
    size_t cap = 0;
    for (int i = 0; i < n_lanes; i++)
        cap += lanes[i].n_rec;
    row_totals t = {.last_host = start_us, .errors = json_object()};
    t.sent_ms.v = g_new(int64_t, cap + 1);
    t.host_ms.v = g_new(int64_t, cap + 1);
    t.receipt_ms.v = g_new(int64_t, cap + 1);
    for (int i = 0; i < n_lanes; i++)
        add_lane(&t, &lanes[i]);
    json_t *o = json_pack(
        "{s:s,s:i,s:I,s:I,s:I,s:I,s:o,s:f,s:o,s:o,s:o}", "event", "row", "rate", meta->rate,
        "sent", (json_int_t)t.sent, "replies", (json_int_t)t.replies,
        "atHost", (json_int_t)t.at_host, "receipts", (json_int_t)t.receipts, "errors", t.errors,
        "seconds", (double)(t.last_host - start_us) / 1e6, "sentMs", summary(&t.sent_ms),
        "hostMs", summary(&t.host_ms), "receiptMs", summary(&t.receipt_ms));
    json_object_set_new(o, "hostP99BySecond", host_p99_by_second(lanes, n_lanes, start_us));
    json_object_set_new(o, "receiptsExpected", json_boolean(receipts));
    json_object_set_new(o, "clientCpuS", json_real(meta->client_cpu_s));
    json_object_set_new(o, "serverCpuS",
                        meta->server_cpu_s >= 0 ? json_real(meta->server_cpu_s) : json_null());
    json_object_set_new(o, "wallS", json_real(meta->wall_s));
    json_object_set_new(o, "clientsFailed", json_integer(meta->clients_failed));
    json_object_set_new(o, "serverThreadsS", meta->server_threads ? meta->server_threads : json_null());
    json_object_set_new(o, "sendErrors", json_integer((json_int_t)t.send_errors));
    json_object_set_new(o, "lateSends", json_integer((json_int_t)t.late_sends));
    json_object_set_new(o, "maxLateMs", json_real((double)t.max_late_us / 1e3));
    json_object_set_new(o, "unmatched", json_integer((json_int_t)t.unmatched));
    json_object_set_new(o, "badJson", json_integer((json_int_t)t.bad_json));
    char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", line ? line : "{}");
    fflush(stdout);
    free(line);
    json_decref(o);
    g_free(t.sent_ms.v);
    g_free(t.host_ms.v);
    g_free(t.receipt_ms.v);
}
