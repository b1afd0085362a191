/*
 * call.c: the call state machine of call.h — pure transitions over a struct call (plus the
 * call id generator, the only function here that touches the system).
 *
 * Threads: none; the plugin runs every step on its dispatch thread. Ownership: see call.h.
 */
#include "call.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

int vc_call_init(call *c, const char *id, void *caller, const char *caller_name, uint64_t caller_id,
              const char *host_name, uint64_t host_id, call_kind kind, void *const *devices,
              size_t n_devices)
{
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    c->state = CALL_RINGING;
    c->kind = kind;
    c->caller_id = caller_id;
    c->host_id = host_id;
    c->caller_name = copy_string(caller_name);
    c->host_name = copy_string(host_name);
    c->ringing = n_devices ? malloc(n_devices * sizeof *c->ringing) : NULL;
    if (!c->caller_name || !c->host_name || (n_devices && !c->ringing)) {
        vc_call_free(c);
        return -1;
    }
    if (n_devices)
        memcpy(c->ringing, devices, n_devices * sizeof *c->ringing);
    c->n_ringing = n_devices;
    c->legs[CALL_LEG_CALLER].session = caller;
    for (int i = 0; i < 2; i++)
        c->legs[i].owner = c;
    return 0;
}

int vc_call_init_resumed(call *c, const char *id, void *caller, const char *caller_name, uint64_t caller_id,
                         void *host, const char *host_name, uint64_t host_id, call_kind kind)
{
    if (vc_call_init(c, id, caller, caller_name, caller_id, host_name, host_id, kind, NULL, 0) != 0)
        return -1;
    c->state = CALL_ACTIVE;
    c->legs[CALL_LEG_HOST].session = host;
    return 0;
}

int vc_call_ring_more(call *c, void *device)
{
    if (c->state != CALL_RINGING || vc_call_is_ringing(c, device))
        return 1;
    void **r = realloc(c->ringing, (c->n_ringing + 1) * sizeof *r);
    if (!r)
        return -1;
    c->ringing = r;
    c->ringing[c->n_ringing++] = device;
    return 0;
}

void vc_call_free(call *c)
{
    free(c->caller_name);
    free(c->host_name);
    free(c->ringing);
    free(c->relay_offer);
    free(c->caller_display);
    c->relay_offer = c->caller_display = NULL;
    c->caller_name = c->host_name = NULL;
    c->ringing = NULL;
    c->n_ringing = 0;
}

void vc_call_outcome_clear(call_outcome *out)
{
    free(out->released);
    out->released = NULL;
    out->n_released = 0;
}

static void outcome_reset(call_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->start_grace = -1;
    out->cancel_grace = -1;
}

bool vc_call_is_ringing(const call *c, const void *device)
{
    if (c->state != CALL_RINGING || !device)
        return false;
    for (size_t i = 0; i < c->n_ringing; i++)
        if (c->ringing[i] == device)
            return true;
    return false;
}

int vc_call_party_index(const call *c, const void *leg)
{
    if (!leg)
        return -1;
    for (int i = 0; i < 2; i++)
        if (c->legs[i].session == leg)
            return i;
    return -1;
}

void *vc_call_other_party(const call *c, const void *leg)
{
    if (c->state != CALL_ACTIVE)
        return NULL;
    int i = vc_call_party_index(c, leg);
    return i < 0 ? NULL : c->legs[1 - i].session;
}

static void stop_ringing_one(call *c, const void *device)
{
    for (size_t i = 0; i < c->n_ringing; i++) {
        if (c->ringing[i] == device) {
            memmove(&c->ringing[i], &c->ringing[i + 1], (c->n_ringing - i - 1) * sizeof *c->ringing);
            c->n_ringing--;
            return;
        }
    }
}

/* Hands every device still ringing (except keep) to the outcome, to be told why it stops. */
static void release_ringing(call *c, const void *keep, call_reason why, call_outcome *out)
{
    if (keep)
        stop_ringing_one(c, keep);
    out->released = c->ringing;
    out->n_released = c->n_ringing;
    out->release_reason = why;
    c->ringing = NULL;
    c->n_ringing = 0;
}

static void end_call(call *c, call_reason why, void *by, call_outcome *out)
{
    if (c->state == CALL_RINGING)
        release_ringing(c, NULL, why, out);
    c->state = CALL_ENDED;
    c->reason = why;
    c->reneg_from = NULL;
    out->ended = true;
    out->ended_by = by;
    /* Grace timers die with the call: the plugin cancels every timer of an ended call. */
}

static void step_ringing(call *c, call_input in, void *leg, call_outcome *out)
{
    bool is_caller = leg && leg == c->legs[CALL_LEG_CALLER].session;
    bool is_device = vc_call_is_ringing(c, leg);
    switch (in) {
    case CALL_IN_ACCEPT:
        if (!is_device) {
            out->refusal = CALL_REFUSED_NOT_RINGING;
            return;
        }
        release_ringing(c, leg, CALL_REASON_ANSWERED_ELSEWHERE, out);
        c->legs[CALL_LEG_HOST].session = leg;
        c->state = CALL_ACTIVE;
        out->answered = true;
        return;
    case CALL_IN_HANGUP:
        if (is_caller) {
            end_call(c, CALL_REASON_CANCELLED, leg, out);
        } else if (is_device) {
            stop_ringing_one(c, leg); /* it asked: it gets the reply, not a release */
            end_call(c, CALL_REASON_DECLINED, leg, out);
        } else {
            out->refusal = CALL_REFUSED_NOT_A_PARTY;
        }
        return;
    case CALL_IN_RING_TIMEOUT:
        end_call(c, CALL_REASON_NO_ANSWER, NULL, out);
        return;
    case CALL_IN_HOST_BUSY:
        end_call(c, CALL_REASON_BUSY, NULL, out);
        return;
    case CALL_IN_MEDIA_LOST:
        /* The caller's PeerConnection carries the offer every device is answering: without
         * it no answer can be used. A device's loss while ringing is its old connection. */
        if (is_caller)
            end_call(c, CALL_REASON_CANCELLED, leg, out);
        else
            out->refusal = CALL_IGNORED;
        return;
    case CALL_IN_DETACHED:
        if (is_caller) {
            end_call(c, CALL_REASON_PEER_GONE, leg, out);
        } else if (is_device) {
            stop_ringing_one(c, leg);
            if (c->n_ringing == 0)
                end_call(c, CALL_REASON_PEER_GONE, leg, out);
        } else {
            out->refusal = CALL_REFUSED_NOT_A_PARTY;
        }
        return;
    case CALL_IN_MEDIA_UP:
    case CALL_IN_GRACE_EXPIRED:
        out->refusal = CALL_IGNORED;
        return;
    }
    out->refusal = CALL_IGNORED;
}

static void step_active(call *c, call_input in, void *leg, call_outcome *out)
{
    int i = vc_call_party_index(c, leg);
    switch (in) {
    case CALL_IN_ACCEPT:
        out->refusal = CALL_REFUSED_NOT_RINGING;
        return;
    case CALL_IN_RING_TIMEOUT:
    case CALL_IN_HOST_BUSY:
        out->refusal = CALL_IGNORED;
        return;
    default:
        break;
    }
    if (i < 0) {
        out->refusal = CALL_REFUSED_NOT_A_PARTY;
        return;
    }
    call_leg *l = &c->legs[i];
    switch (in) {
    case CALL_IN_HANGUP:
        end_call(c, CALL_REASON_HANGUP, leg, out);
        return;
    case CALL_IN_DETACHED:
        end_call(c, CALL_REASON_PEER_GONE, leg, out);
        return;
    case CALL_IN_MEDIA_LOST:
        l->media_up = false;
        c->reneg_from = NULL;
        if (l->lost) {
            out->refusal = CALL_IGNORED;
            return;
        }
        l->lost = true;
        out->start_grace = i;
        return;
    case CALL_IN_MEDIA_UP:
        l->media_up = true;
        if (l->lost) {
            l->lost = false;
            out->cancel_grace = i;
        }
        if (!c->metered && c->legs[0].media_up && c->legs[1].media_up) {
            c->metered = true;
            out->meter_start = true;
        }
        return;
    case CALL_IN_GRACE_EXPIRED:
        if (!l->lost) {
            out->refusal = CALL_IGNORED;
            return;
        }
        end_call(c, CALL_REASON_PEER_GONE, leg, out);
        return;
    default:
        out->refusal = CALL_IGNORED;
        return;
    }
}

void vc_call_step(call *c, call_input in, void *leg, call_outcome *out)
{
    outcome_reset(out);
    switch (c->state) {
    case CALL_RINGING: step_ringing(c, in, leg, out); return;
    case CALL_ACTIVE: step_active(c, in, leg, out); return;
    case CALL_ENDED: out->refusal = CALL_REFUSED_ENDED; return;
    }
}

call_reason vc_call_admit(bool host_in_call, bool host_do_not_disturb, size_t registered, size_t free)
{
    if (host_in_call)
        return CALL_REASON_BUSY;
    if (host_do_not_disturb || registered == 0)
        return CALL_REASON_UNAVAILABLE;
    if (free == 0)
        return CALL_REASON_BUSY;
    return CALL_REASON_NONE;
}

int vc_call_reneg_offer(call *c, void *leg)
{
    if (c->state != CALL_ACTIVE)
        return CALL_REFUSED_NOT_ACTIVE;
    if (vc_call_party_index(c, leg) < 0)
        return CALL_REFUSED_NOT_A_PARTY;
    if (c->reneg_from && c->reneg_from != leg)
        return CALL_REFUSED_GLARE;
    c->reneg_from = leg;
    return CALL_OK;
}

int vc_call_reneg_answer(call *c, void *leg, void **initiator)
{
    if (c->state != CALL_ACTIVE)
        return CALL_REFUSED_NOT_ACTIVE;
    if (vc_call_party_index(c, leg) < 0)
        return CALL_REFUSED_NOT_A_PARTY;
    if (!c->reneg_from || c->reneg_from == leg)
        return CALL_REFUSED_NO_RENEGOTIATION;
    *initiator = c->reneg_from;
    c->reneg_from = NULL;
    return CALL_OK;
}

bool vc_call_set_kind(call *c, call_kind kind)
{
    if (c->kind == kind)
        return false;
    c->kind = kind;
    return true;
}

const char *vc_call_state_name(call_state s)
{
    switch (s) {
    case CALL_RINGING: return "ringing";
    case CALL_ACTIVE: return "active";
    case CALL_ENDED: return "ended";
    }
    return "?";
}

const char *vc_call_kind_name(call_kind k) { return k == CALL_KIND_VIDEO ? "video" : "audio"; }

const char *vc_call_reason_name(call_reason r)
{
    switch (r) {
    case CALL_REASON_NONE: return "none";
    case CALL_REASON_HANGUP: return "hangup";
    case CALL_REASON_DECLINED: return "declined";
    case CALL_REASON_NO_ANSWER: return "no_answer";
    case CALL_REASON_CANCELLED: return "cancelled";
    case CALL_REASON_BUSY: return "busy";
    case CALL_REASON_UNAVAILABLE: return "unavailable";
    case CALL_REASON_PEER_GONE: return "peer_gone";
    case CALL_REASON_ANSWERED_ELSEWHERE: return "answered_elsewhere";
    case CALL_REASON_INSUFFICIENT_BALANCE: return "insufficient_balance";
    case CALL_REASON_BILLING_UNAVAILABLE: return "billing_unavailable";
    }
    return "?";
}

static int fill_random(uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == len)
        return 0;
    /* getrandom missing (old kernel, seccomp): the device file gives the same bytes. */
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    return got == len ? 0 : -1;
}

int vc_call_new_id(char out[CALL_ID_LEN + 1])
{
    uint8_t b[16];
    if (fill_random(b, sizeof b) != 0)
        return -1;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, CALL_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

int vc_call_new_token(char out[CALL_TOKEN_LEN + 1])
{
    uint8_t b[CALL_TOKEN_LEN / 2];
    if (fill_random(b, sizeof b) != 0)
        return -1;
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}
