/*
 * The push service's decisions (src/push/sched.c) on a fake clock: the queue bound (full ->
 * refused, never waits), retry timers in due order (ties in submission order), Web Push
 * answers (2xx sent, 404/410 drop, 429/5xx retry honouring Retry-After as seconds or a date,
 * else exponential backoff with equal jitter), transport failures retried, and no retry at or
 * past a notification's deadline. Then the service's call-ended routing: the stop push goes
 * to the targets the ring went to, once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "push/sched.h"
#include "push/service.h"

#define NOW_MS 1700000000000LL    /* 2023-11-14 22:13:20 UTC */

static fcm_retry_ctx ctx_at(int attempt, uint32_t jitter, int64_t deadline)
{
    return (fcm_retry_ctx){.now_ms = NOW_MS, .deadline_ms = deadline, .attempt = attempt, .jitter = jitter};
}

static void test_budget(void)
{
    push_budget b;
    push_budget_init(&b, 3);
    CHECK(push_budget_take(&b));
    CHECK(push_budget_take(&b));
    CHECK(push_budget_take(&b));
    CHECK(!push_budget_take(&b));           /* full: refused at once */
    CHECK_INT(push_budget_held(&b), 3);     /* a refusal takes nothing */
    push_budget_give(&b);
    CHECK(push_budget_take(&b));
    CHECK_INT(push_budget_held(&b), 3);
}

static void test_heap(void)
{
    push_heap h;
    push_heap_init(&h);
    int jobs[200];
    CHECK_INT(push_heap_next_due(&h), INT64_MAX);
    CHECK(push_heap_pop_due(&h, INT64_MAX) == NULL);
    /* Due times 0..99 twice in a scrambled order; equal due times keep submission order. */
    for (int i = 0; i < 200; i++) {
        jobs[i] = i;
        CHECK_INT(push_heap_add(&h, (i * 37) % 100, &jobs[i]), 0);
    }
    CHECK_INT(push_heap_next_due(&h), 0);
    CHECK(push_heap_pop_due(&h, -1) == NULL);   /* nothing due before 0 */
    int64_t last_due = -1;
    int last_index = -1, popped = 0;
    int *j;
    while ((j = push_heap_pop_due(&h, 49))) {
        int64_t due = (*j * 37) % 100;
        CHECK(due <= 49);
        CHECK(due > last_due || (due == last_due && *j > last_index));
        last_due = due;
        last_index = *j;
        popped++;
    }
    CHECK_INT(popped, 100);
    CHECK_INT(push_heap_next_due(&h), 50);
    while (push_heap_pop_due(&h, INT64_MAX))
        popped++;
    CHECK_INT(popped, 200);
    push_heap_free(&h);
}

static void test_backoff(void)
{
    /* d = 500 * 2^attempt capped at 60 s; the delay lies in [d/2, d]. */
    for (int attempt = 0; attempt < 12; attempt++) {
        int64_t d = 500;
        for (int i = 0; i < attempt && d < 60000; i++)
            d *= 2;
        if (d > 60000)
            d = 60000;
        fcm_retry_ctx lo = ctx_at(attempt, 0, INT64_MAX), hi = ctx_at(attempt, (uint32_t)(d - d / 2), INT64_MAX);
        CHECK_INT(push_backoff_ms(&lo), d / 2);
        CHECK_INT(push_backoff_ms(&hi), d);
        for (uint32_t jit = 0; jit < 5000; jit += 97) {
            fcm_retry_ctx c = ctx_at(attempt, jit * 2654435761u, INT64_MAX);
            int64_t v = push_backoff_ms(&c);
            CHECK(v >= d / 2 && v <= d);
        }
    }
    fcm_retry_ctx c = ctx_at(0, 0, INT64_MAX);
    c.base_ms = 100;
    CHECK_INT(push_backoff_ms(&c), 50);
}

static void test_webpush_answers(void)
{
    fcm_verdict v;
    fcm_retry_ctx c = ctx_at(0, 0, NOW_MS + 45000);
    push_webpush_classify(201, NULL, &c, &v);
    CHECK_INT(v.outcome, FCM_SENT);
    push_webpush_classify(410, NULL, &c, &v);
    CHECK_INT(v.outcome, FCM_DROP_TOKEN);
    CHECK_STR(v.reason, "http_410");
    push_webpush_classify(404, NULL, &c, &v);
    CHECK_INT(v.outcome, FCM_DROP_TOKEN);
    push_webpush_classify(400, NULL, &c, &v);
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK(!v.past_deadline);
    push_webpush_classify(413, NULL, &c, &v);
    CHECK_INT(v.outcome, FCM_FAIL);
    /* 429 with Retry-After in seconds: exactly that. */
    push_webpush_classify(429, "7", &c, &v);
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_INT(v.retry_at_ms, NOW_MS + 7000);
    /* as an HTTP date 10 s ahead */
    push_webpush_classify(503, "Tue, 14 Nov 2023 22:13:30 GMT", &c, &v);
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_INT(v.retry_at_ms, NOW_MS + 10000);
    /* unreadable Retry-After: backoff (attempt 2: [1000, 2000]) */
    c = ctx_at(2, 0, NOW_MS + 45000);
    push_webpush_classify(500, "soon", &c, &v);
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_INT(v.retry_at_ms, NOW_MS + 1000);
    /* a Retry-After beyond the ring's deadline: give up, not retry late */
    c = ctx_at(0, 0, NOW_MS + 45000);
    push_webpush_classify(429, "60", &c, &v);
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK(v.past_deadline);
    push_webpush_classify(503, "45", &c, &v);   /* exactly at the deadline: too late */
    CHECK_INT(v.outcome, FCM_FAIL);
    push_webpush_classify(503, "44", &c, &v);
    CHECK_INT(v.outcome, FCM_RETRY);
}

static void test_transport(void)
{
    fcm_verdict v;
    fcm_retry_ctx c = ctx_at(0, 0, NOW_MS + 45000);
    push_transport_retry("Timeout was reached", &c, &v);
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_INT(v.retry_at_ms, NOW_MS + 250);
    CHECK_STR(v.reason, "Timeout was reached");
    /* attempt 10: d = 60 s (the cap), at least 30 s > the 20 s left: give up */
    c = ctx_at(10, 0, NOW_MS + 20000);
    push_transport_retry(NULL, &c, &v);
    CHECK_INT(v.outcome, FCM_FAIL);
    CHECK(v.past_deadline);
    /* The FCM classifier shares the deadline rule. */
    c = ctx_at(0, 0, NOW_MS + 3000);
    fcm_classify(429, "{}", 2, "5", &c, &v);
    CHECK_INT(v.outcome, FCM_FAIL);
    fcm_classify(429, "{}", 2, "2", &c, &v);
    CHECK_INT(v.outcome, FCM_RETRY);
    CHECK_INT(v.retry_at_ms, NOW_MS + 2000);
}

static size_t metric(push_service *svc, const char *line)
{
    static char buf[8192];
    CHECK(push_service_metrics(svc, buf, sizeof buf) > 0);
    char want[160];
    snprintf(want, sizeof want, "\n%s", line);   /* a sample line, not its HELP */
    const char *p = strstr(buf, want);
    return p ? strtoull(p + strlen(want), NULL, 10) : (size_t)-1;
}

/* The service without FCM or VAPID: every job fails at once, which is enough to see routing. */
static void test_call_ended_routing(void)
{
    char err[256] = "";
    push_service_config cfg = {.queue_size = 100, .max_in_flight = 4, .request_timeout_ms = 1000};
    push_service *svc = push_service_start(&cfg, NULL, err, sizeof err);
    CHECK(svc != NULL);
    if (!svc)
        return;
    push_target t[2] = {{PUSH_KIND_FCM, "famA", "tokA"}, {PUSH_KIND_WEBPUSH, "famB", "{}"}};
    push_notice ring = {.type = PUSH_INCOMING_CALL, .call_id = "c1", .caller_name = "C", .ttl_s = 30};
    CHECK_INT(push_service_notify(svc, &ring, t, 2), 2);
    push_notice end = {.type = PUSH_CALL_ENDED, .call_id = "c1", .reason = "cancelled", .ttl_s = 30};
    CHECK_INT(push_service_notify(svc, &end, NULL, 0), 2);      /* where the ring went */
    CHECK_INT(push_service_notify(svc, &end, t, 2), 0);         /* once */
    end.call_id = "other";
    CHECK_INT(push_service_notify(svc, &end, t, 2), 0);         /* never rang: nothing */
    push_notice chat = {.type = PUSH_CHAT_MESSAGE, .room = "1", .msg_id = "m", .text = "hi"};
    CHECK_INT(push_service_notify(svc, &chat, t, 1), 1);
    for (int i = 0; i < 200 && metric(svc, "parley_push_queue_depth ") != 0; i++)
        usleep(10000);
    CHECK_INT(metric(svc, "parley_push_queue_depth "), 0);
    CHECK_INT(metric(svc, "parley_push_failed_total{kind=\"fcm\"} "), 3);
    CHECK_INT(metric(svc, "parley_push_failed_total{kind=\"webpush\"} "), 2);
    CHECK_INT(metric(svc, "parley_push_sent_total{kind=\"fcm\"} "), 0);
    push_service_stop(svc);
}

int main(void)
{
    test_budget();
    test_heap();
    test_backoff();
    test_webpush_answers();
    test_transport();
    test_call_ended_routing();
    return check_summary("push-sched");
}
