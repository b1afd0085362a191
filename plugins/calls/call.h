/*
 * call.h: the life of one 1:1 call, as a pure state machine (no core calls, no I/O, no
 * clock): the calls plugin feeds it inputs and carries out what each step reports.
 *
 * States and transitions (who may trigger each input is checked here, not by the caller):
 *
 *   RINGING --ACCEPT(ringing device)-------------------------------> ACTIVE
 *           (the other ringing devices are released: answered_elsewhere)
 *   RINGING --HANGUP(caller)  | MEDIA_LOST(caller, no PC left)------> ENDED cancelled
 *   RINGING --HANGUP(ringing device)-------------------------------> ENDED declined
 *           (one decline ends the call everywhere: the other devices are released with
 *            declined, as a phone declined on one device stops ringing on the others)
 *   RINGING --RING_TIMEOUT------------------------------------------> ENDED no_answer
 *   RINGING --HOST_BUSY (the host answered another call)------------> ENDED busy
 *   RINGING --DETACHED(caller | the last ringing device)------------> ENDED peer_gone
 *   ACTIVE  --HANGUP(caller | answering device)---------------------> ENDED hangup
 *   ACTIVE  --DETACHED(caller | answering device)-------------------> ENDED peer_gone
 *   ACTIVE  --MEDIA_LOST(leg): leg.lost, start that leg's grace timer (stays ACTIVE)
 *   ACTIVE  --MEDIA_UP(leg): leg.media_up; a lost leg is back: cancel its grace timer;
 *                            both legs up for the first time: start the meter
 *   ACTIVE  --GRACE_EXPIRED(lost leg)--------------------------------> ENDED peer_gone
 *   ENDED is final: every input is refused, the plugin frees the call after carrying out
 *   the step that ended it.
 *
 * Admission (before a call exists) is vc_call_admit(): a host in an active call -> busy; a host
 * with no registered device or with do-not-disturb -> unavailable; a host whose devices are
 * all ringing for other callers -> busy (a handle carries one PeerConnection, so one offer:
 * a device rings for one call at a time; a host app wanting two lines registers two handles).
 * Both end the call before it rings. A ringing host is not busy otherwise.
 *
 * Renegotiation (ACTIVE only): vc_call_reneg_offer() by one party marks its offer pending (the
 * same party may offer again; the other party offering meanwhile is glare and refused);
 * vc_call_reneg_answer() by the other party completes it. A leg's MEDIA_LOST drops a pending
 * offer (the leg that lost its PeerConnection must be free to offer a new one).
 *
 * Legs are opaque pointers (the plugin's sessions); this file never dereferences them.
 * Threads: none of its own; the plugin uses a call only on its dispatch thread (and its
 * readers take the plugin's view lock around a step). Ownership: a call owns its strings
 * and its ringing array; vc_call_free releases them (not the legs).
 */
#ifndef PARLEY_CALLS_CALL_H
#define PARLEY_CALLS_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CALL_ID_LEN 36 /* a UUID in its 8-4-4-4-12 text form */
#define CALL_TOKEN_LEN 32 /* 16 random bytes in hex */

typedef enum call_state { CALL_RINGING = 0, CALL_ACTIVE, CALL_ENDED } call_state;
typedef enum call_kind { CALL_KIND_AUDIO = 0, CALL_KIND_VIDEO } call_kind;

/* Why a call ended (recorded and sent as "reason"), or why a ringing device was released. */
typedef enum call_reason {
    CALL_REASON_NONE = 0,
    CALL_REASON_HANGUP,             /* an active call hung up by either party */
    CALL_REASON_DECLINED,           /* every ringing device declined */
    CALL_REASON_NO_ANSWER,          /* the ring timer fired */
    CALL_REASON_CANCELLED,          /* the caller gave up while it rang */
    CALL_REASON_BUSY,               /* the host is in (or just took) another call */
    CALL_REASON_UNAVAILABLE,        /* no device registered, or do-not-disturb */
    CALL_REASON_PEER_GONE,          /* a party detached, or its media did not come back */
    CALL_REASON_ANSWERED_ELSEWHERE, /* releases a ringing device only: never a call's end */
    CALL_REASON_INSUFFICIENT_BALANCE, /* billing: a minute the caller could not pay */
    CALL_REASON_BILLING_UNAVAILABLE,  /* billing: the ledger could not be written */
} call_reason;

enum { CALL_LEG_CALLER = 0, CALL_LEG_HOST = 1 };

typedef struct call call;

typedef struct call_leg {
    void *session;          /* caller: the calling session; host: the answering device */
    bool media_up;          /* its PeerConnection is up (as last reported) */
    bool lost;              /* its PeerConnection went away during the call: grace running */
    uint64_t grace_timer;   /* owned by the plugin (timer id, 0 = none) */
    call *owner;            /* back pointer, so a timer armed with a leg finds its call */
} call_leg;

struct call {
    char id[CALL_ID_LEN + 1];
    call_state state;
    call_kind kind;
    call_reason reason;     /* set when the call ended */
    char *caller_name, *host_name;   /* registry usernames */
    uint64_t caller_id, host_id;     /* platform user ids, 0 with auth off */
    int64_t created_ms, answered_ms, kind_since_ms; /* wall clock, set by the plugin */
    call_leg legs[2];       /* [CALL_LEG_CALLER], [CALL_LEG_HOST] */
    void **ringing;         /* devices still ringing (RINGING only) */
    size_t n_ringing;
    void *reneg_from;       /* the party whose renegotiation offer awaits an answer */
    bool metered;           /* both legs' media were up once: the billing meter runs */
    bool billed;            /* the billing plugin authorised it: it must hear of its end */
    char resume_token[2][CALL_TOKEN_LEN + 1]; /* per party: resumes the call after a crash */
    int64_t media_reported_ms; /* newest media time told to billing (monotonic ms) */
    uint64_t ring_timer;    /* owned by the plugin */
    bool pushed;            /* the plugin pushed the ring to offline devices: they get the end */
    char *relay_offer;      /* the plugin's: the offer a device registering while it rings gets */
    char *caller_display;   /* the plugin's: the caller's display name for that device */
    call *next;             /* the plugin's list of live calls */
};

typedef enum call_input {
    CALL_IN_ACCEPT = 0,     /* leg = the answering device */
    CALL_IN_HANGUP,         /* leg = whoever sent hangup */
    CALL_IN_RING_TIMEOUT,   /* leg unused */
    CALL_IN_HOST_BUSY,      /* leg unused */
    CALL_IN_MEDIA_UP,       /* leg's PeerConnection is up */
    CALL_IN_MEDIA_LOST,     /* leg's PeerConnection went away */
    CALL_IN_GRACE_EXPIRED,  /* leg = the lost leg */
    CALL_IN_DETACHED,       /* leg's handle is gone for good */
} call_input;

typedef enum call_refusal {
    CALL_OK = 0,
    CALL_REFUSED_ENDED,         /* the call is over */
    CALL_REFUSED_NOT_RINGING,   /* ACCEPT by a device this call is not ringing (or not RINGING) */
    CALL_REFUSED_NOT_A_PARTY,   /* the leg has nothing to do with this call */
    CALL_REFUSED_NOT_ACTIVE,    /* a renegotiation outside ACTIVE */
    CALL_REFUSED_GLARE,         /* the other party's offer is pending */
    CALL_REFUSED_NO_RENEGOTIATION, /* an answer with no pending offer from the other party */
    CALL_IGNORED,               /* the input does not apply now (a stale timer, media event) */
} call_refusal;

/* What one step did, for the plugin to carry out. */
typedef struct call_outcome {
    call_refusal refusal;   /* not CALL_OK: nothing changed */
    bool answered;          /* RINGING -> ACTIVE */
    bool ended;             /* -> ENDED; the call's reason says why */
    void *ended_by;         /* the leg whose act or loss ended it; NULL for timers/host busy */
    void **released;        /* devices that must stop ringing (malloc'd; vc_call_outcome_clear) */
    size_t n_released;
    call_reason release_reason;
    int start_grace;        /* leg index whose grace timer to start, or -1 */
    int cancel_grace;       /* leg index whose grace timer to cancel, or -1 */
    bool meter_start;       /* BILLING: both legs' media up for the first time */
} call_outcome;

/* Sets up c as RINGING the given devices (copied). Returns 0, or -1 without memory. */
int vc_call_init(call *c, const char *id, void *caller, const char *caller_name, uint64_t caller_id,
              const char *host_name, uint64_t host_id, call_kind kind, void *const *devices,
              size_t n_devices);
/* A call a crash interrupted, resumed by both parties: ACTIVE with both legs, neither up yet
 * (their MEDIA_UP starts the meter again). 0, or -1 without memory. */
int vc_call_init_resumed(call *c, const char *id, void *caller, const char *caller_name, uint64_t caller_id,
                         void *host, const char *host_name, uint64_t host_id, call_kind kind);
void vc_call_free(call *c);

/* Applies one input; *out says what happened (always initialised). */
void vc_call_step(call *c, call_input in, void *leg, call_outcome *out);
void vc_call_outcome_clear(call_outcome *out);

/* A device of the host that registered while the call rings (woken by a push) rings too.
 * 0, 1 when the call is not RINGING or the device rings already, -1 without memory. */
int vc_call_ring_more(call *c, void *device);

/* Before a call exists: CALL_REASON_NONE (ring it), BUSY or UNAVAILABLE. registered: the
 * host's attached devices; free: those of them neither ringing nor in a call. */
call_reason vc_call_admit(bool host_in_call, bool host_do_not_disturb, size_t registered, size_t free);

int vc_call_reneg_offer(call *c, void *leg);                   /* a call_refusal */
int vc_call_reneg_answer(call *c, void *leg, void **initiator); /* a call_refusal */
/* Returns true when the kind changed. */
bool vc_call_set_kind(call *c, call_kind kind);

bool vc_call_is_ringing(const call *c, const void *device);
/* CALL_LEG_CALLER / CALL_LEG_HOST when leg is that party (the host only once answered), or -1. */
int vc_call_party_index(const call *c, const void *leg);
/* The other party of an active call (NULL while ringing or when leg is not a party). */
void *vc_call_other_party(const call *c, const void *leg);

const char *vc_call_state_name(call_state s);
const char *vc_call_kind_name(call_kind k);
const char *vc_call_reason_name(call_reason r);

/* A fresh UUID v4 (getrandom, /dev/urandom as a fallback) into out. 0 or -1. */
int vc_call_new_id(char out[CALL_ID_LEN + 1]);
/* A fresh secret token (CALL_TOKEN_LEN hex digits) into out. 0 or -1. */
int vc_call_new_token(char out[CALL_TOKEN_LEN + 1]);

#endif
