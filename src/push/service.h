/*
 * service: the outbound push service. One thread of its own runs one libcurl multi handle
 * (HTTP/2 where the far end offers it, connections reused across requests) that sends FCM
 * HTTP v1 messages and Web Push requests (RFC 8030/8291/8292) for incoming calls, the end of
 * a ringing call and chat messages. Nothing here runs on a media loop, a plugin's dispatch
 * thread or the storage thread; callers only queue.
 *
 * Behaviour:
 *  - push_service_notify copies the notice and targets and returns at once. The service
 *    holds at most cfg.queue_size notifications (one per target: queued, waiting for a retry
 *    or in flight); beyond that a target's notification is dropped and counted, the caller
 *    never waits.
 *  - At most cfg.max_in_flight requests at once; each has cfg.request_timeout_ms.
 *  - Per target: 429 and 5xx (and no answer at all) are retried with exponential backoff and
 *    jitter, honouring Retry-After; never at or past the notification's deadline (now + its
 *    TTL: for a call, the ring timeout). FCM 401 gets a new access token and one more try.
 *  - A dead target (FCM UNREGISTERED / INVALID_ARGUMENT for the token / SENDER_ID_MISMATCH,
 *    Web Push 404 / 410) is handed to hooks.target_dead, which removes it (asynchronously,
 *    through the storage thread's queue).
 *  - FCM needs an OAuth access token: the service signs an RS256 assertion with the service
 *    account's key, exchanges it at the token endpoint and reuses it until shortly before it
 *    expires (fcm.h); one token request at a time, messages wait for it.
 *  - Incoming-call notices are remembered per call_id (which targets rang) until their
 *    deadline: a call-ended notice goes to exactly those targets, whatever targets it carries.
 *
 * Threads: push_service_notify, push_service_metrics: any thread, never block (a short lock).
 * hooks.target_dead runs on the push thread and must not block (no store_write; queue it).
 * start/stop: the owner's thread; stop joins the push thread and drops what is still queued.
 * Ownership: the service copies the config strings it keeps; cfg.vapid is borrowed and must
 * outlive the service. Notices and targets are copied.
 */
#ifndef PARLEY_PUSH_SERVICE_H
#define PARLEY_PUSH_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "push/message.h"
#include "push/webpush.h"

typedef struct push_service_config {
    const char *fcm_service_account;   /* path of the JSON file; NULL/"" = FCM targets fail */
    const char *fcm_endpoint;          /* NULL/"" = https://fcm.googleapis.com */
    const char *fcm_token_endpoint;    /* NULL/"" = the account's token_uri */
    const char *ca_file;               /* extra CA certificates (PEM) trusted besides the system's */
    bool private_bodies;               /* chat pushes carry no message text */
    int queue_size;                    /* notifications held at most (> 0) */
    int max_in_flight;                 /* concurrent requests (> 0) */
    int request_timeout_ms;            /* whole request, connection included */
    int chat_ttl_s;                    /* a chat notice's TTL when it brings none */
    int backoff_base_ms;               /* first retry step (<= 0: 500 ms) */
    const webpush_vapid *vapid;        /* NULL = Web Push targets fail */
    const char *vapid_subject;         /* "mailto:..." or "https://..." */
} push_service_config;

typedef struct push_service_hooks {
    void *user;
    /* A target the push provider says is gone (kind "fcm" | "webpush"). Push thread. */
    void (*target_dead)(void *user, const char *family, const char *kind, const char *value);
} push_service_hooks;



typedef struct push_service push_service;

/* NULL with a message in err: unreadable service account or CA file, libcurl failure. */
push_service *push_service_start(const push_service_config *cfg, const push_service_hooks *hooks,
                                 char *err, size_t errcap);
void push_service_stop(push_service *svc);

/* Queues the notice for each target (call ended: for the targets its call rang). Returns
 * how many were queued; the others were dropped (full) and counted. */
size_t push_service_notify(push_service *svc, const push_notice *n, const push_target *targets,
                           size_t n_targets);

/* Prometheus text lines (HELP, TYPE, samples) into out; the length or -1 if cap is short. */
int push_service_metrics(push_service *svc, char *out, size_t cap);

const char *push_kind_name(push_kind k);


#endif
