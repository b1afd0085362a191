/*
 * service: see service.h. The push thread owns everything below `--- push thread ---`: the
 * retry heap, the jobs, the curl handles, the FCM access token. Other threads touch only the
 * inbox and the ring records (under `lock`) and the atomic counters.
 */
#include "push/service.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "push/fcm.h"
#include "push/rings.h"
#include "push/sched.h"
#include "util/log.h"

#define PUSH_RESPONSE_MAX 65536      /* bytes of an answer kept (errors are small) */
#define PUSH_MAX_ATTEMPTS 10         /* sends of one notification at most */
#define PUSH_RING_RECORD_SLACK_MS 30000

typedef struct push_job push_job;

/* A response body and the header we care about. */
typedef struct push_answer {
    char *body;
    size_t len;
    char retry_after[64];
} push_answer;

struct push_job {
    push_kind kind;
    char *family, *value;        /* the target: its login family and token / subscription JSON */
    push_content content;
    int64_t deadline_ms;         /* unix ms */
    int attempt;                 /* sends made */
    bool refreshed;              /* got a new access token after a 401 once */
    /* in flight */
    CURL *easy;
    struct curl_slist *headers;
    uint8_t *body;
    push_answer answer;
    push_job *next;              /* inbox, or the list waiting for an access token */
    push_job *fprev, *fnext;     /* the in-flight list (to abandon them at stop) */
};

typedef struct push_counters {
    atomic_uint_fast64_t sent[PUSH_KIND_COUNT], failed[PUSH_KIND_COUNT], retried[PUSH_KIND_COUNT];
    atomic_uint_fast64_t removed[PUSH_KIND_COUNT], dropped[PUSH_KIND_COUNT], expired[PUSH_KIND_COUNT];
    atomic_uint_fast64_t token_requests, token_failures;
    atomic_int in_flight;
} push_counters;

struct push_service {
    push_service_config cfg;          /* strings below are owned copies */
    push_service_hooks hooks;
    fcm_account *account;             /* NULL without FCM */
    char *fcm_send_url;
    STACK_OF(X509) *extra_ca;         /* push.ca_file's certificates */
    push_budget budget;
    push_counters stats;
    pthread_t thread;
    atomic_bool stopping;
    pthread_mutex_t lock;             /* the inbox */
    push_job *inbox, **inbox_tail;
    push_rings *rings;                /* where each call's ring went (its own lock) */
    CURLM *multi;
    /* --- push thread --- */
    push_heap retries;
    fcm_token token;
    CURL *token_easy;                 /* the token request in flight, or NULL */
    push_answer token_answer;
    char *token_body;
    push_job *token_waiters;
    push_job *flight;                 /* requests in flight */
    int64_t token_retry_at_ms;        /* after a failed token request */
    int token_attempt;
};

const char *push_kind_name(push_kind k) { return k == PUSH_KIND_FCM ? "fcm" : "webpush"; }

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t random_u32(void)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint32_t)unix_ms();
    return r;
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

/* ------------------------------------------------------------------------------------------ */
/* jobs                                                                                        */

static void job_free(push_job *j)
{
    if (!j)
        return;
    free(j->family);
    free(j->value);
    push_content_clear(&j->content);
    free(j->body);
    free(j->answer.body);
    curl_slist_free_all(j->headers);
    free(j);
}

static push_job *job_new(const push_service *svc, const push_notice *n, const push_target *t, int64_t now)
{
    push_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    int ttl = n->ttl_s > 0 ? n->ttl_s : svc->cfg.chat_ttl_s;
    j->kind = t->kind;
    j->deadline_ms = now + (int64_t)ttl * 1000;
    j->family = dup_or_empty(t->family);
    j->value = dup_or_empty(t->value);
    if (!j->family || !j->value || push_content_copy(&j->content, n) != 0) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* ------------------------------------------------------------------------------------------ */
/* notify (any thread)                                                                         */

static size_t enqueue(push_service *svc, const push_notice *n, const push_target *t, size_t nt, int64_t now)
{
    size_t queued = 0;
    for (size_t i = 0; i < nt; i++) {
        push_kind k = t[i].kind == PUSH_KIND_WEBPUSH ? PUSH_KIND_WEBPUSH : PUSH_KIND_FCM;
        bool slot = push_budget_take(&svc->budget);
        push_job *j = slot ? job_new(svc, n, &t[i], now) : NULL;
        if (!j) {
            if (slot)
                push_budget_give(&svc->budget);
            atomic_fetch_add(&svc->stats.dropped[k], 1);
            LOG_WARN_RATELIMITED("push", "push queue full (%d) or out of memory: a %s notification dropped",
                                 svc->budget.max, push_kind_name(k));
            continue;
        }
        pthread_mutex_lock(&svc->lock);
        *svc->inbox_tail = j;
        svc->inbox_tail = &j->next;
        pthread_mutex_unlock(&svc->lock);
        queued++;
    }
    if (queued)
        curl_multi_wakeup(svc->multi);
    return queued;
}

size_t push_service_notify(push_service *svc, const push_notice *n, const push_target *t, size_t nt)
{
    if (!svc || !n || atomic_load(&svc->stopping))
        return 0;
    int64_t now = unix_ms();
    if (n->type == PUSH_CALL_ENDED) {
        push_ring *r = n->call_id ? push_rings_take(svc->rings, n->call_id, now) : NULL;
        if (!r)
            return 0;
        push_notice ended = *n;
        if (!ended.caller_name || !ended.caller_name[0])
            ended.caller_name = r->caller_name;
        size_t q = enqueue(svc, &ended, r->targets, r->n, now);
        push_ring_free(r);
        return q;
    }
    /* Remembered a little past the ring's end: the stop push may follow the timeout. */
    if (n->type == PUSH_INCOMING_CALL && n->call_id && nt)
        push_rings_remember(svc->rings, n->call_id, n->caller_name, t, nt,
                            now + (int64_t)n->ttl_s * 1000 + PUSH_RING_RECORD_SLACK_MS, now);
    return enqueue(svc, n, t, nt, now);
}

/* ------------------------------------------------------------------------------------------ */
/* push thread: curl plumbing                                                                  */

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    push_answer *a = user;
    size_t n = size * nmemb;
    size_t keep = a->len >= PUSH_RESPONSE_MAX ? 0 : (n < PUSH_RESPONSE_MAX - a->len ? n : PUSH_RESPONSE_MAX - a->len);
    if (keep) {
        char *b = realloc(a->body, a->len + keep + 1);
        if (!b)
            return 0;
        memcpy(b + a->len, data, keep);
        a->len += keep;
        b[a->len] = '\0';
        a->body = b;
    }
    return n;   /* the rest is read and ignored: the answer is still complete */
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    push_answer *a = user;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        size_t i = sizeof name - 1;
        while (i < n && (data[i] == ' ' || data[i] == '\t'))
            i++;
        size_t len = n - i;
        while (len && (data[i + len - 1] == '\r' || data[i + len - 1] == '\n' || data[i + len - 1] == ' '))
            len--;
        if (len < sizeof a->retry_after) {
            memcpy(a->retry_after, data + i, len);
            a->retry_after[len] = '\0';
        }
    }
    return n;
}

/* Adds push.ca_file's certificates to each TLS context libcurl makes, so a test CA is trusted
 * on top of the system store (CURLOPT_CAINFO would replace it). */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *user)
{
    STACK_OF(X509) *extra = user;
    X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)ssl_ctx);
    for (int i = 0; extra && i < sk_X509_num(extra); i++)
        X509_STORE_add_cert(store, sk_X509_value(extra, i));
    return CURLE_OK;
}

static CURL *easy_new(push_service *svc, const char *url, const char *body, size_t body_len,
                      struct curl_slist *headers, push_answer *answer, void *priv)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);   /* multiplex on an h2 connection being set up */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)svc->cfg.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)svc->cfg.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, answer);
    curl_easy_setopt(e, CURLOPT_PRIVATE, priv);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "parley-push/1");
    if (svc->extra_ca) {
        curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, svc->extra_ca);
    }
    if (curl_multi_add_handle(svc->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return NULL;
    }
    return e;
}

/* ------------------------------------------------------------------------------------------ */
/* push thread: finishing a job                                                                */

static void job_release(push_service *svc, push_job *j)
{
    job_free(j);
    push_budget_give(&svc->budget);
}

static void job_reset_request(push_job *j)
{
    curl_slist_free_all(j->headers);
    j->headers = NULL;
    free(j->body);
    j->body = NULL;
    free(j->answer.body);
    j->answer = (push_answer){0};
    j->easy = NULL;
}

static void job_fail(push_service *svc, push_job *j, const char *why, bool expired)
{
    atomic_fetch_add(expired ? &svc->stats.expired[j->kind] : &svc->stats.failed[j->kind], 1);
    if (expired)
        atomic_fetch_add(&svc->stats.failed[j->kind], 1);
    LOG_WARN_RATELIMITED("push", "%s push to family %.8s... failed: %s", push_kind_name(j->kind), j->family, why);
    job_release(svc, j);
}

static void job_retry_at(push_service *svc, push_job *j, int64_t at)
{
    job_reset_request(j);
    atomic_fetch_add(&svc->stats.retried[j->kind], 1);
    if (push_heap_add(&svc->retries, at, j) != 0)
        job_fail(svc, j, "out of memory", false);
}

/* Applies a verdict of fcm_classify / push_webpush_classify / push_transport_retry. */
static void job_apply(push_service *svc, push_job *j, const fcm_verdict *v)
{
    switch (v->outcome) {
    case FCM_SENT:
        atomic_fetch_add(&svc->stats.sent[j->kind], 1);
        LOG_DEBUG("push", "%s push sent (attempt %d)", push_kind_name(j->kind), j->attempt);
        job_release(svc, j);
        return;
    case FCM_DROP_TOKEN:
        atomic_fetch_add(&svc->stats.failed[j->kind], 1);
        atomic_fetch_add(&svc->stats.removed[j->kind], 1);
        LOG_INFO("push", "%s target of family %.8s... is gone (%s): removing it", push_kind_name(j->kind), j->family,
                 v->reason);
        push_rings_forget(svc->rings, j->family, j->value);
        if (svc->hooks.target_dead)
            svc->hooks.target_dead(svc->hooks.user, j->family, push_kind_name(j->kind), j->value);
        job_release(svc, j);
        return;
    case FCM_RETRY:
        if (j->attempt < PUSH_MAX_ATTEMPTS) {
            job_retry_at(svc, j, v->retry_at_ms);
            return;
        }
        job_fail(svc, j, "too many attempts", false);
        return;
    case FCM_AUTH_REFRESH:
        if (!j->refreshed) {
            j->refreshed = true;
            svc->token = (fcm_token){0};   /* the next send fetches a new one */
            job_retry_at(svc, j, unix_ms());
            return;
        }
        job_fail(svc, j, "refused after a new access token", false);
        return;
    case FCM_FAIL:
        job_fail(svc, j, v->reason, v->past_deadline);
        return;
    }
}

static fcm_retry_ctx retry_ctx(const push_service *svc, const push_job *j, int64_t now)
{
    return (fcm_retry_ctx){.now_ms = now, .deadline_ms = j->deadline_ms, .attempt = j->attempt - 1,
                           .jitter = random_u32(), .base_ms = svc->cfg.backoff_base_ms};
}

static void flight_add(push_service *svc, push_job *j)
{
    j->fprev = NULL;
    j->fnext = svc->flight;
    if (svc->flight)
        svc->flight->fprev = j;
    svc->flight = j;
    atomic_fetch_add(&svc->stats.in_flight, 1);
}

static void flight_remove(push_service *svc, push_job *j)
{
    if (j->fprev)
        j->fprev->fnext = j->fnext;
    else
        svc->flight = j->fnext;
    if (j->fnext)
        j->fnext->fprev = j->fprev;
    j->fprev = j->fnext = NULL;
    atomic_fetch_sub(&svc->stats.in_flight, 1);
}

static void job_done(push_service *svc, push_job *j, CURLcode rc)
{
    flight_remove(svc, j);
    int64_t now = unix_ms();
    fcm_retry_ctx ctx = retry_ctx(svc, j, now);
    fcm_verdict v;
    long http = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &http);
    if (rc != CURLE_OK || http == 0)
        push_transport_retry(curl_easy_strerror(rc), &ctx, &v);
    else if (j->kind == PUSH_KIND_FCM)
        fcm_classify((int)http, j->answer.body, j->answer.len, j->answer.retry_after[0] ? j->answer.retry_after : NULL,
                     &ctx, &v);
    else
        push_webpush_classify((int)http, j->answer.retry_after[0] ? j->answer.retry_after : NULL, &ctx, &v);
    if (v.outcome != FCM_SENT)
        LOG_DEBUG("push", "%s push answer %ld (%s): %s", push_kind_name(j->kind), http, v.reason,
                  fcm_outcome_name(v.outcome));
    curl_multi_remove_handle(svc->multi, j->easy);
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    job_apply(svc, j, &v);
}

/* ------------------------------------------------------------------------------------------ */
/* push thread: building requests                                                              */

static int remaining_s(const push_job *j, int64_t now)
{
    int64_t left = (j->deadline_ms - now + 999) / 1000;
    return left < 1 ? 1 : left > INT32_MAX ? INT32_MAX : (int)left;
}

static struct curl_slist *add_header(struct curl_slist *h, bool *ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct curl_slist *add_header(struct curl_slist *h, bool *ok, const char *fmt, ...)
{
    char line[FCM_ACCESS_TOKEN_MAX + 128];   /* the longest: a Bearer token or a VAPID header */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    struct curl_slist *n = curl_slist_append(h, line);
    if (!n) {
        *ok = false;
        return h;
    }
    return n;
}

/* j->body and j->headers for FCM. 0 or -1 with err. */
static int fcm_request(const push_service *svc, push_job *j, int64_t now, size_t *len, char *err, size_t errcap)
{
    char *body = push_message_fcm(&j->content, j->value, svc->cfg.private_bodies, remaining_s(j, now), now / 1000,
                                  err, errcap);
    if (!body)
        return -1;
    j->body = (uint8_t *)body;
    *len = strlen(body);
    bool ok = true;
    j->headers = add_header(j->headers, &ok, "Authorization: Bearer %s", svc->token.access_token);
    j->headers = add_header(j->headers, &ok, "Content-Type: application/json; charset=UTF-8");
    if (!ok)
        snprintf(err, errcap, "out of memory");
    return ok ? 0 : -1;
}

/* j->body, j->headers and the URL (malloc'd) for Web Push. 0 or -1 with err. */
static int webpush_request(const push_service *svc, push_job *j, int64_t now, char **url, size_t *len, char *err,
                           size_t errcap)
{
    push_webpush_request r;
    if (push_message_webpush(&j->content, j->value, svc->cfg.vapid, svc->cfg.vapid_subject, svc->cfg.private_bodies,
                             remaining_s(j, now), now / 1000, &r, err, errcap) != 0)
        return -1;
    bool ok = true;
    j->headers = add_header(j->headers, &ok, "Authorization: %s", r.authorization);
    j->headers = add_header(j->headers, &ok, "Content-Encoding: aes128gcm");
    j->headers = add_header(j->headers, &ok, "Content-Type: application/octet-stream");
    j->headers = add_header(j->headers, &ok, "TTL: %d", r.ttl_s);
    j->headers = add_header(j->headers, &ok, "Urgency: %s", r.urgency);
    if (r.topic[0])
        j->headers = add_header(j->headers, &ok, "Topic: %s", r.topic);
    if (!ok) {
        push_webpush_request_clear(&r);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    j->body = r.body;
    *len = r.len;
    *url = r.url;   /* libcurl copies CURLOPT_URL: the caller frees it after easy_new */
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* push thread: the FCM access token                                                           */

static void token_request_start(push_service *svc, int64_t now)
{
    if (svc->token_easy || now < svc->token_retry_at_ms)
        return;
    char err[256] = "";
    char *assertion = fcm_assertion(svc->account, now / 1000, err, sizeof err);
    svc->token_body = assertion ? fcm_token_request_body(assertion) : NULL;
    free(assertion);
    const char *url = svc->cfg.fcm_token_endpoint && svc->cfg.fcm_token_endpoint[0] ? svc->cfg.fcm_token_endpoint
                                                                                     : fcm_account_token_uri(svc->account);
    svc->token_answer = (push_answer){0};
    if (svc->token_body)
        svc->token_easy = easy_new(svc, url, svc->token_body, strlen(svc->token_body), NULL, &svc->token_answer, NULL);
    if (!svc->token_easy) {
        LOG_WARN("push", "cannot make the FCM token request: %s", err[0] ? err : "out of memory");
        free(svc->token_body);
        svc->token_body = NULL;
        svc->token_retry_at_ms = now + 5000;
        return;
    }
    atomic_fetch_add(&svc->stats.token_requests, 1);
}

static void token_done(push_service *svc, CURLcode rc)
{
    long http = 0;
    curl_easy_getinfo(svc->token_easy, CURLINFO_RESPONSE_CODE, &http);
    int64_t now = unix_ms();
    char err[256] = "";
    fcm_token t;
    bool ok = rc == CURLE_OK && http == 200 &&
              fcm_token_parse(svc->token_answer.body, svc->token_answer.len, now / 1000, &t, err, sizeof err) == FCM_OK;
    if (ok) {
        svc->token = t;
        svc->token_attempt = 0;
        svc->token_retry_at_ms = 0;
    } else {
        atomic_fetch_add(&svc->stats.token_failures, 1);
        fcm_retry_ctx ctx = {.attempt = svc->token_attempt++, .jitter = random_u32(), .base_ms = svc->cfg.backoff_base_ms};
        svc->token_retry_at_ms = now + push_backoff_ms(&ctx);
        LOG_WARN_RATELIMITED("push", "FCM token endpoint: %s (HTTP %ld%s%s)", rc != CURLE_OK ? curl_easy_strerror(rc) :
                             "refused", http, err[0] ? ", " : "", err);
    }
    curl_multi_remove_handle(svc->multi, svc->token_easy);
    curl_easy_cleanup(svc->token_easy);
    svc->token_easy = NULL;
    free(svc->token_body);
    svc->token_body = NULL;
    free(svc->token_answer.body);
    svc->token_answer = (push_answer){0};
    /* On failure the waiters retry at the token's retry time (their deadline decides). */
    int64_t at = ok ? now : svc->token_retry_at_ms;
    while (svc->token_waiters) {
        push_job *j = svc->token_waiters;
        svc->token_waiters = j->next;
        j->next = NULL;
        if (!ok && at >= j->deadline_ms)
            job_fail(svc, j, "no FCM access token before the deadline", true);
        else if (push_heap_add(&svc->retries, at, j) != 0)
            job_fail(svc, j, "out of memory", false);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* push thread: sending                                                                        */

static void job_send(push_service *svc, push_job *j, int64_t now)
{
    char err[256] = "";
    char *url = NULL;
    size_t body_len = 0;
    int rc = j->kind == PUSH_KIND_FCM ? fcm_request(svc, j, now, &body_len, err, sizeof err)
                                      : webpush_request(svc, j, now, &url, &body_len, err, sizeof err);
    if (rc != 0) {
        job_fail(svc, j, err, false);
        return;
    }
    j->attempt++;
    j->easy = easy_new(svc, url ? url : svc->fcm_send_url, (const char *)j->body, body_len, j->headers, &j->answer, j);
    free(url);
    if (!j->easy) {
        job_fail(svc, j, "cannot start a request", false);
        return;
    }
    flight_add(svc, j);
}

static void job_start(push_service *svc, push_job *j, int64_t now)
{
    if (now >= j->deadline_ms) {
        job_fail(svc, j, "expired before it could be sent", true);
        return;
    }
    if (j->kind == PUSH_KIND_FCM && !svc->account) {
        job_fail(svc, j, "FCM is not configured (push.fcm_service_account)", false);
        return;
    }
    if (j->kind == PUSH_KIND_WEBPUSH && !svc->cfg.vapid) {
        job_fail(svc, j, "no VAPID key", false);
        return;
    }
    if (j->kind == PUSH_KIND_FCM && !fcm_token_fresh(&svc->token, now / 1000)) {
        j->next = svc->token_waiters;
        svc->token_waiters = j;
        token_request_start(svc, now);
        return;
    }
    job_send(svc, j, now);
}

static void take_inbox(push_service *svc, int64_t now)
{
    pthread_mutex_lock(&svc->lock);
    push_job *list = svc->inbox;
    svc->inbox = NULL;
    svc->inbox_tail = &svc->inbox;
    pthread_mutex_unlock(&svc->lock);
    while (list) {
        push_job *j = list;
        list = j->next;
        j->next = NULL;
        if (push_heap_add(&svc->retries, now, j) != 0)
            job_fail(svc, j, "out of memory", false);
    }
}

static void start_due(push_service *svc, int64_t now)
{
    push_job *j;
    while (atomic_load(&svc->stats.in_flight) < svc->cfg.max_in_flight &&
           (j = push_heap_pop_due(&svc->retries, now)))
        job_start(svc, j, now);
}

static void collect_done(push_service *svc)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(svc->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        if (m->easy_handle == svc->token_easy) {
            token_done(svc, m->data.result);
            continue;
        }
        push_job *j = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        if (j)
            job_done(svc, j, m->data.result);
    }
}

static int poll_timeout_ms(push_service *svc, int64_t now)
{
    long curl_ms = -1;
    curl_multi_timeout(svc->multi, &curl_ms);
    int64_t t = 1000;
    if (curl_ms >= 0 && curl_ms < t)
        t = curl_ms;
    if (atomic_load(&svc->stats.in_flight) < svc->cfg.max_in_flight) {
        int64_t due = push_heap_next_due(&svc->retries) - now;
        if (due < t)
            t = due < 0 ? 0 : due;
    }
    if (svc->token_waiters && !svc->token_easy && svc->token_retry_at_ms - now < t)
        t = svc->token_retry_at_ms > now ? svc->token_retry_at_ms - now : 0;
    return (int)t;
}

static void *push_thread(void *arg)
{
    push_service *svc = arg;
    while (!atomic_load(&svc->stopping)) {
        int64_t now = unix_ms();
        take_inbox(svc, now);
        if (svc->token_waiters && !svc->token_easy)
            token_request_start(svc, now);
        start_due(svc, now);
        int running = 0;
        curl_multi_perform(svc->multi, &running);
        collect_done(svc);
        curl_multi_poll(svc->multi, NULL, 0, poll_timeout_ms(svc, unix_ms()), NULL);
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* start and stop                                                                              */

static char *read_file(const char *path, size_t max, size_t *len, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "cannot open %s", path);
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (!buf || n > max) {
        free(buf);
        snprintf(err, errcap, "%s is too large", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static STACK_OF(X509) *load_ca_file(const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errcap, "push.ca_file: cannot open %s", path);
        return NULL;
    }
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while (sk && (x = PEM_read_X509(f, NULL, NULL, NULL)))
        sk_X509_push(sk, x);
    fclose(f);
    if (!sk || sk_X509_num(sk) == 0) {
        sk_X509_pop_free(sk, X509_free);
        snprintf(err, errcap, "push.ca_file: no PEM certificate in %s", path);
        return NULL;
    }
    return sk;
}

static int load_account(push_service *svc, const char *path, char *err, size_t errcap)
{
    size_t len = 0;
    char *json = read_file(path, 1 << 20, &len, err, errcap);
    if (!json)
        return -1;
    char why[256] = "";
    svc->account = fcm_account_parse(json, len, NULL, why, sizeof why);
    free(json);
    if (!svc->account) {
        snprintf(err, errcap, "push.fcm_service_account %s: %s", path, why);
        return -1;
    }
    svc->fcm_send_url = fcm_send_url(svc->cfg.fcm_endpoint, fcm_account_project_id(svc->account));
    return svc->fcm_send_url ? 0 : -1;
}

static void copy_config(push_service *svc, const push_service_config *cfg)
{
    svc->cfg = *cfg;
    svc->cfg.fcm_service_account = NULL;
    svc->cfg.ca_file = NULL;
    svc->cfg.fcm_endpoint = cfg->fcm_endpoint ? strdup(cfg->fcm_endpoint) : NULL;
    svc->cfg.fcm_token_endpoint = cfg->fcm_token_endpoint ? strdup(cfg->fcm_token_endpoint) : NULL;
    svc->cfg.vapid_subject = strdup(cfg->vapid_subject && cfg->vapid_subject[0] ? cfg->vapid_subject
                                                                                : "mailto:push@localhost");
    if (svc->cfg.queue_size <= 0)
        svc->cfg.queue_size = 10000;
    if (svc->cfg.max_in_flight <= 0)
        svc->cfg.max_in_flight = 100;
    if (svc->cfg.request_timeout_ms <= 0)
        svc->cfg.request_timeout_ms = 10000;
    if (svc->cfg.chat_ttl_s <= 0)
        svc->cfg.chat_ttl_s = 86400;
}

static void service_free(push_service *svc)
{
    if (svc->multi)
        curl_multi_cleanup(svc->multi);
    fcm_account_free(svc->account);
    free(svc->fcm_send_url);
    sk_X509_pop_free(svc->extra_ca, X509_free);
    free((char *)svc->cfg.fcm_endpoint);
    free((char *)svc->cfg.fcm_token_endpoint);
    free((char *)svc->cfg.vapid_subject);
    push_heap_free(&svc->retries);
    push_rings_free(svc->rings);
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

push_service *push_service_start(const push_service_config *cfg, const push_service_hooks *hooks, char *err,
                                 size_t errcap)
{
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    pthread_once(&curl_once, curl_init_once);
    push_service *svc = calloc(1, sizeof *svc);
    if (!svc)
        return NULL;
    pthread_mutex_init(&svc->lock, NULL);
    copy_config(svc, cfg);
    if (hooks)
        svc->hooks = *hooks;
    svc->inbox_tail = &svc->inbox;
    push_heap_init(&svc->retries);
    push_budget_init(&svc->budget, svc->cfg.queue_size);
    atomic_init(&svc->stopping, false);
    if ((cfg->ca_file && cfg->ca_file[0] && !(svc->extra_ca = load_ca_file(cfg->ca_file, err, errcap))) ||
        (cfg->fcm_service_account && cfg->fcm_service_account[0] &&
         load_account(svc, cfg->fcm_service_account, err, errcap) != 0) ||
        !(svc->rings = push_rings_new()) || !(svc->multi = curl_multi_init())) {
        service_free(svc);
        return NULL;
    }
    /* One connection per origin carries every request over HTTP/2; over HTTP/1.1 a few
     * connections are kept alive and reused. */
    curl_multi_setopt(svc->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(svc->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    curl_multi_setopt(svc->multi, CURLMOPT_MAXCONNECTS, 64L);
    if (pthread_create(&svc->thread, NULL, push_thread, svc) != 0) {
        snprintf(err, errcap, "cannot start the push thread");
        service_free(svc);
        return NULL;
    }
    pthread_setname_np(svc->thread, "push");
    return svc;
}

static void abandon_easy(push_service *svc, CURL *e)
{
    curl_multi_remove_handle(svc->multi, e);
    curl_easy_cleanup(e);
}

void push_service_stop(push_service *svc)
{
    if (!svc)
        return;
    atomic_store(&svc->stopping, true);
    curl_multi_wakeup(svc->multi);
    pthread_join(svc->thread, NULL);
    /* What is left is dropped: a push sent after shutdown began would be late anyway. */
    take_inbox(svc, 0);
    push_job *j;
    while ((j = push_heap_pop_due(&svc->retries, INT64_MAX)))
        job_release(svc, j);
    while ((j = svc->token_waiters)) {
        svc->token_waiters = j->next;
        job_release(svc, j);
    }
    while ((j = svc->flight)) {
        flight_remove(svc, j);
        abandon_easy(svc, j->easy);
        j->easy = NULL;
        job_release(svc, j);
    }
    if (svc->token_easy)
        abandon_easy(svc, svc->token_easy);
    free(svc->token_body);
    free(svc->token_answer.body);
    service_free(svc);
}

/* ------------------------------------------------------------------------------------------ */
/* metrics                                                                                     */

static int metric_family(char *out, size_t cap, size_t *pos, const char *name, const char *type, const char *help,
                         atomic_uint_fast64_t *per_kind)
{
    int n = snprintf(out + *pos, cap - *pos, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (n < 0 || (size_t)n >= cap - *pos)
        return -1;
    *pos += (size_t)n;
    for (int k = 0; k < PUSH_KIND_COUNT; k++) {
        n = snprintf(out + *pos, cap - *pos, "%s{kind=\"%s\"} %llu\n", name, push_kind_name((push_kind)k),
                     (unsigned long long)atomic_load(&per_kind[k]));
        if (n < 0 || (size_t)n >= cap - *pos)
            return -1;
        *pos += (size_t)n;
    }
    return 0;
}

int push_service_metrics(push_service *svc, char *out, size_t cap)
{
    if (!svc || cap == 0)
        return -1;
    size_t pos = 0;
    push_counters *c = &svc->stats;
    if (metric_family(out, cap, &pos, "parley_push_sent_total", "counter",
                      "Push notifications the provider accepted, by kind (fcm, webpush).", c->sent) ||
        metric_family(out, cap, &pos, "parley_push_failed_total", "counter",
                      "Push notifications given up (refused, dead target, expired, too many attempts).", c->failed) ||
        metric_family(out, cap, &pos, "parley_push_retried_total", "counter",
                      "Push requests scheduled again after 429, 5xx, 401 or no answer.", c->retried) ||
        metric_family(out, cap, &pos, "parley_push_tokens_removed_total", "counter",
                      "Push tokens and subscriptions removed because the provider said they are gone.",
                      c->removed) ||
        metric_family(out, cap, &pos, "parley_push_dropped_total", "counter",
                      "Push notifications dropped because the push queue was full.", c->dropped) ||
        metric_family(out, cap, &pos, "parley_push_expired_total", "counter",
                      "Push notifications given up because their useful life ended first.", c->expired))
        return -1;
    int n = snprintf(out + pos, cap - pos,
                     "# HELP parley_push_queue_depth Push notifications held (queued, waiting to retry, in flight).\n"
                     "# TYPE parley_push_queue_depth gauge\nparley_push_queue_depth %d\n"
                     "# HELP parley_push_in_flight Push requests in flight.\n"
                     "# TYPE parley_push_in_flight gauge\nparley_push_in_flight %d\n"
                     "# HELP parley_push_token_requests_total FCM OAuth token requests made, and failed.\n"
                     "# TYPE parley_push_token_requests_total counter\n"
                     "parley_push_token_requests_total{result=\"made\"} %llu\n"
                     "parley_push_token_requests_total{result=\"failed\"} %llu\n",
                     push_budget_held(&svc->budget), atomic_load(&c->in_flight),
                     (unsigned long long)atomic_load(&c->token_requests),
                     (unsigned long long)atomic_load(&c->token_failures));
    if (n < 0 || (size_t)n >= cap - pos)
        return -1;
    return (int)(pos + (size_t)n);
}
