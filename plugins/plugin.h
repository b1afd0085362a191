/*
 * plugin.h: the versioned ABI between the core and a plugin (echotest, calls, chat, billing).
 * Version 2. A plugin is built with only plugins/ on its include path: this header is the whole
 * truth of what it may use.
 *
 * Shape (after Janus's plugin.h, minus GLib/jansson in the ABI): the core calls a plugin
 * through its plugin_descriptor; the plugin calls back through core_callbacks. Only opaque
 * handles, stdint types and JSON as UTF-8 text cross the boundary, so a plugin does not depend
 * on the core's libraries. Both structs start with abi_version and struct_size: the core
 * refuses a descriptor with another ABI version, and fields appended later are detected by
 * struct_size (a NULL function pointer means "not provided").
 *
 * Lifetime of a plugin session (the plugin's state for one attached handle):
 *   create_session() -> handle_message()* / setup_media / incoming_* / data_open / data_close
 *   / hangup_media ... -> destroy_session().
 *   The core holds a reference on the session across every call into the plugin and marks it
 *   stopped when the handle detaches. No call for a session starts after it is stopped, and
 *   destroy_session runs exactly once, after every other call for that session has returned
 *   (on whichever thread let go last: the dispatch thread, a loop or a request thread). So a
 *   plugin may free its session in destroy_session without further checks.
 *   The plugin_handle stays valid during destroy_session. A plugin that keeps a plugin_handle
 *   beyond it (in a call, a timer, another thread) takes its own reference with handle_ref()
 *   and drops it with handle_unref(); calls on a detached handle are harmless no-ops that
 *   return -1 where they return a status.
 *
 * Threads:
 *   - handle_message: the plugin's dispatch thread (one per plugin, owned by the core). The
 *     request has already been acked to the client. Must not block for long. Timers and
 *     post() also run on this thread, one thing at a time: plugin state touched only there
 *     needs no lock.
 *   - create_session / destroy_session / query_session: any thread (see above).
 *   - setup_media, incoming_rtp, incoming_rtcp, incoming_data, data_open, data_close,
 *     hangup_media: the media loop thread that owns the handle's PeerConnection. They must not
 *     block and must not allocate per packet.
 *   - relay_*, send_pli, send_remb: only from the loop thread that owns the *target* handle's
 *     PeerConnection; from any other thread the packet is dropped (and counted). A plugin that
 *     relays between two handles places them on one loop with handle_colocate (below): then
 *     the incoming_* of one leg may relay to the other with a plain function call.
 *   - everything else in core_callbacks: any thread. The core never calls into a plugin while
 *     holding one of its own locks, and no core function waits on a loop thread.
 *
 * Ownership:
 *   - Strings passed to the plugin are owned by the core and valid only during the call.
 *   - Strings the core returns to the plugin (char * results below) are malloc'd: the plugin
 *     frees them with free().
 *   - Strings a plugin returns (plugin_result.json, query_session, admin) are malloc'd by the
 *     plugin and freed by the core with free().
 *   - Packet buffers passed to incoming_* belong to the core, are writable in place, valid
 *     during the call only, and have at least PLUGIN_PACKET_HEADROOM spare bytes after len
 *     (so relay_* can SRTP-protect in place without a copy).
 *   - Identifiers in packets are in a canonical space shared by all handles, so a packet can
 *     go to another leg as is: RTP payload types (by codec name: opus 111, VP8 96, VP9 98-99,
 *     H264 102-107, AV1 45-46, PCMU 0, PCMA 8, G722 9, telephone-event 126; other codecs keep
 *     their number), RTP header-extension ids, and RTCP SSRCs (the client's streams and ours
 *     it reports on become per-kind tokens); relay_* maps them to the target's.
 */
#ifndef PARLEY_PLUGIN_H
#define PARLEY_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLUGIN_ABI_VERSION 2u
#define PLUGIN_PACKET_HEADROOM 64u

typedef struct plugin_handle plugin_handle; /* opaque: the core's handle */
typedef struct plugin_ctx plugin_ctx;       /* opaque: the core's record of one plugin */

typedef enum plugin_result_kind {
    PLUGIN_RESULT_NONE = 0,  /* nothing now; the plugin will push_event later (or never) */
    PLUGIN_RESULT_EVENT = 1, /* json is the plugindata "data" of an event for this transaction */
    PLUGIN_RESULT_ERROR = 2, /* json is ignored; code/reason form the plugin error event */
} plugin_result_kind;

typedef struct plugin_result {
    plugin_result_kind kind;
    char *json;         /* malloc'd by the plugin, freed by the core */
    int error_code;     /* plugin-specific error code for PLUGIN_RESULT_ERROR */
    char *error_reason; /* malloc'd, optional */
} plugin_result;

typedef enum plugin_media_kind {
    PLUGIN_MEDIA_AUDIO = 0,
    PLUGIN_MEDIA_VIDEO = 1,
} plugin_media_kind;

/* Direction of one kind, from the point of view of the side that wrote the description. */
typedef enum plugin_media_dir {
    PLUGIN_DIR_NONE = 0,     /* absent or rejected (port 0) */
    PLUGIN_DIR_SENDRECV = 1,
    PLUGIN_DIR_SENDONLY = 2,
    PLUGIN_DIR_RECVONLY = 3,
    PLUGIN_DIR_INACTIVE = 4,
} plugin_media_dir;

/* What a session description carries (or what the plugin wants in one it asks for). */
typedef struct plugin_media_desc {
    plugin_media_dir audio, video;
    bool data;                          /* an SCTP data-channel m-line */
    /* Preferred codec names in order (case-insensitive), "" = the default
     * (audio: opus; video: VP8, VP9, H264). Only used when the core writes SDP. */
    char audio_codec[16], video_codec[16];
    uint32_t video_bitrate;             /* b=AS-style cap in bit/s we ask for; 0 = none */
} plugin_media_desc;

/* What flows on a handle's PeerConnection as negotiated so far, from the server's side:
 * `send` = the core may send that kind to the client, `recv` = the client sends it to us. */
typedef struct plugin_media_state {
    bool has_peer;        /* a PeerConnection exists (negotiating or up) */
    bool up;              /* DTLS done: media can flow ("webrtcup") */
    bool audio_send, audio_recv, video_send, video_recv, data;
    int loop;             /* index of the loop owning the PeerConnection, -1 without one */
} plugin_media_state;

typedef void (*plugin_fn)(void *arg);
/* A result handed back as JSON text (owned by the core, valid during the call). */
typedef void (*plugin_json_fn)(void *arg, const char *result_json);

typedef struct core_callbacks {
    uint32_t abi_version;
    uint32_t struct_size;

    /* ---- events to the client ---- */

    /* Queues an event for the handle's session: {"janus":"event","sender":..,"transaction":..,
     * "plugindata":{"plugin":<package>,"data":<event_json>},"jsep":..}. transaction may be
     * NULL. jsep_json ({"type":"offer"|"answer","sdp":...}) may be NULL; the core adds its own
     * ICE/DTLS attributes and SSRCs to the SDP before sending (an offer creates the handle's
     * PeerConnection as the offering side when it has none; an offer with "restart":true on
     * a PeerConnection that is up restarts ICE from our side: new local credentials in the
     * offer, the client's answer brings its new ones). Returns 0, or -1 if the handle is gone
     * or the jsep is unusable. Any thread. */
    int (*push_event)(plugin_handle *h, const char *transaction, const char *event_json,
                      const char *jsep_json);

    /* ---- media relay (loop thread of the target only, see Threads) ---- */

    /* buf holds plain RTP/RTCP with PLUGIN_PACKET_HEADROOM spare bytes after len; the core
     * rewrites SSRCs and header extension ids for h's negotiated streams, protects and sends it
     * in place. */
    void (*relay_rtp)(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len);
    void (*relay_rtcp)(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len);
    void (*relay_data)(plugin_handle *h, const char *label, int binary, const uint8_t *buf,
                       size_t len);
    /* Asks h's remote sender for a keyframe (PLI). */
    void (*send_pli)(plugin_handle *h);
    /* Caps what h's remote sender sends (REMB, bits per second). */
    void (*send_remb)(plugin_handle *h, uint32_t bitrate);

    /* ---- handle control (any thread; none of them waits) ---- */

    /* Tears down h's PeerConnection; the client gets "hangup" and the plugin hangup_media
     * (on the loop, soon after). The handle stays attached and can negotiate again. */
    void (*close_pc)(plugin_handle *h);
    /* Detaches h from its session (the client gets "detached"). */
    void (*end_handle)(plugin_handle *h);
    void (*handle_ref)(plugin_handle *h);
    void (*handle_unref)(plugin_handle *h);
    /* The Janus handle id (for logs), its session id, and the authenticated user id (0 when
     * auth is off). */
    uint64_t (*handle_id)(plugin_handle *h);
    uint64_t (*handle_session_id)(plugin_handle *h);
    uint64_t (*handle_user_id)(plugin_handle *h);
    /* True once the handle detached (or its session went away). */
    bool (*handle_detached)(plugin_handle *h);

    /* ---- loops ---- */

    /* Places h's next PeerConnection on the loop of with's PeerConnection, so the two may
     * relay to each other. Returns 0 when h's current PeerConnection (if any) is already
     * there, 1 when h has a PeerConnection elsewhere (close it with close_pc and negotiate
     * again to move it), -1 when with has no PeerConnection. */
    int (*handle_colocate)(plugin_handle *h, plugin_handle *with);
    /* Runs fn(arg) on the loop thread owning h's PeerConnection, soon (FIFO per caller); when
     * that PeerConnection was closed, on the loop it lived on, after its last callback
     * returned. So it is a barrier: once fn runs, no incoming_* of h started before this call
     * is still running. Returns -1 (fn not called) when h never had a PeerConnection (then no
     * callback of h can be running). The core does not own arg. */
    int (*loop_post)(plugin_handle *h, plugin_fn fn, void *arg);
    /* What h's PeerConnection negotiated; 0, or -1 when the handle is gone. */
    int (*handle_media_state)(plugin_handle *h, plugin_media_state *out);

    /* ---- the plugin's own thread ---- */

    /* Runs fn(arg) on the plugin's dispatch thread, after what is queued there. 0 or -1 when
     * the queue is full (PLUGIN_QUEUE_MAX; fn is not called). */
    int (*post)(plugin_ctx *self, plugin_fn fn, void *arg);
    /* One-shot timer: fn(arg) on the dispatch thread after ms. Returns an id > 0. */
    uint64_t (*timer_start)(plugin_ctx *self, uint32_t ms, plugin_fn fn, void *arg);
    /* Cancels a timer that has not fired; dispatch thread only. Exact: after it returns 1, fn
     * will not run (the plugin still owns arg); 0 when it already ran or is unknown. */
    int (*timer_cancel)(plugin_ctx *self, uint64_t id);

    /* ---- session descriptions (pure functions, any thread) ---- */

    /* Reads what a JSEP's SDP carries. 0, or -1 when jsep_json is not a usable description. */
    int (*jsep_describe)(const char *jsep_json, plugin_media_desc *out);
    /* An answer to offer_jsep accepting what want allows (a kind whose want is NONE is
     * rejected; directions are intersected with the offer's mirror). Returns the answer's JSON
     * jsep (malloc'd) or NULL when the offer is unusable. */
    char *(*jsep_answer)(const char *offer_jsep, const plugin_media_desc *want);
    /* A new offer of our own: the kinds and directions of want, our codecs. */
    char *(*jsep_offer)(const plugin_media_desc *want);
    /* An offer received from one leg, made fit to be offered to another: kept as the sender
     * wrote it (payload types, codecs, extension ids, mids, so the other leg's answer fits the
     * first leg too) minus what a relay cannot forward (its SSRCs and msid, RTX, RED, FEC,
     * simulcast). want may be NULL (keep all kinds) or restricts kinds and directions. */
    char *(*jsep_relay_offer)(const char *offer_jsep, const plugin_media_desc *want);

    /* ---- platform (any thread; may block on the database for a few ms: not on a loop) ---- */

    /* A user's public record: {"id","role":"caller"|"host","display_name","avatar_url",
     * "do_not_disturb","audio_rate","video_rate","message_rate","online","busy"} (malloc'd), or
     * NULL when there is no such user. */
    char *(*user_info)(plugin_ctx *self, uint64_t user_id);
    /* Marks the user in a call (discovery shows "busy") or out of one. */
    void (*user_set_busy)(plugin_ctx *self, uint64_t user_id, bool busy);
    /* Records a call's life in the database (calls table, REST /api/v1/calls). record_json is
     * one of:
     *   {"op":"create","call_id","caller_id","host_id","kind":"audio"|"video"}
     *   {"op":"ring","call_id","devices":N}
     *   {"op":"accept","call_id","session_id","handle_id"}      (the answering device)
     *   {"op":"kind","call_id","kind"}                          (an upgrade or downgrade)
     *   {"op":"end","call_id","reason"}
     * Times are the server's. Durable when it returns 0; -1 with the reason logged. */
    int (*call_record)(plugin_ctx *self, const char *record_json);

    /* ---- money: the platform's billing store (the billing plugin) ---- */

    /* Runs one billing operation as a unit of the storage thread's group commit, without
     * waiting: done(arg, result_json) runs later on the calling plugin's dispatch thread once
     * the unit is durable (or failed). 0 when queued (done runs exactly once, also when the
     * server shuts down: the core waits for outstanding operations before stopping the
     * plugin), -1 when refused (no billing store; done never runs). Any thread but a loop.
     * Operations (op_json), each idempotent (a replay returns the first outcome and moves
     * nothing); amounts are int64 credits, times Unix ms:
     *   {"op":"authorise","call_id","caller_id","host_id","kind"}  hold the first minute of
     *       the host's current rate for kind on the caller's wallet (hold "call:<id>")
     *       -> {"ok":true,"rate","held","balance"} |
     *          {"ok":false,"reason":"insufficient_balance","needed","balance"}
     *   {"op":"open","call_id","caller_id","host_id","kind","resume_tokens":[caller,host]}
     *       lock the host's rates now (the call was accepted); the meter row. Again for the
     *       same call (a resume after a crash): the locked rates and the persisted progress
     *       -> {"ok":true,"audio_rate","video_rate","fee_bps","minutes_charged","charged",
     *           "host_earned","billable_ms"} | {"ok":false,"reason":"ended"} (settled)
     *   {"op":"charge","call_id","minute","kind","billable_ms","last_media_ms"}
     *       minute N of the call (N = minutes charged + 1; a charged N returns its first
     *       outcome), at the locked rate of kind, from its hold then the wallet
     *       -> {"ok":true,"amount","balance","held","host_amount","fee_amount","replayed"} |
     *          {"ok":false,"reason":"insufficient_balance"|"ended","needed","balance"}
     *   {"op":"progress","call_id","billable_ms","last_media_ms"}   persist the meter
     *   {"op":"settle","call_id","reason","billable_ms","last_media_ms"}  release the hold;
     *       the meter gets its totals -> {"ok":true,"released","minutes_charged","charged",
     *       "host_earned","platform_fee"}
     *   {"op":"recover","started_ms"}  once at start: holds of calls authorised before
     *       started_ms whose meter is not live are released and their call rows ended
     *       (server_restart); returns the meters not settled -> {"ok":true,"calls":[
     *       {"call_id","caller_id","host_id","kind","audio_rate","video_rate",
     *        "minutes_charged","charged","billable_ms","last_media_ms","resume_tokens"}],
     *       "holds_released","calls_ended"}
     * Any other outcome: {"ok":false,"reason":"error"|"not_found"|"invalid","message"}. */
    int (*billing_submit)(plugin_ctx *self, const char *op_json, plugin_json_fn done, void *arg);
    /* The same, waiting for the outcome (malloc'd JSON; NULL without a billing store), plus
     *   {"op":"balance","user_id"} -> {"ok":true,"available","held"}   (a read, no write).
     * Blocks for a commit: not on a loop. */
    char *(*billing_run)(plugin_ctx *self, const char *op_json);

    /* ---- chat: the platform's message store (the chat plugin) ---- */

    /* As billing_submit / billing_run, for the conversation store (src/api/chat.c). The
     * operations and their outcomes are listed in docs/chat.md ("The chat store"): join, send
     * (store + charge a message exactly once per client_id, in one unit), history, delivered,
     * read, unread. A send over the per-user rate limit is refused before anything is queued
     * ({"ok":false,"reason":"rate_limited","retry_after_ms"}), with done still called. */
    int (*chat_submit)(plugin_ctx *self, const char *op_json, plugin_json_fn done, void *arg);
    char *(*chat_run)(plugin_ctx *self, const char *op_json);
    /* True when `blocker` has blocked `blocked` (a read; not on a loop). */
    bool (*user_blocks)(plugin_ctx *self, uint64_t blocker, uint64_t blocked);

    /* ---- push notifications (appended in ABI 2: check struct_size before use) ---- */

    /* Notifies a user's devices that are not live: every device of notice.user_id with a push
     * token (FCM or Web Push) except the devices holding one of the `live` handles (their
     * sessions' logins). Returns the number of devices notified (0 when nobody has a token or
     * all are live), -1 when there is no push service; a chat_message is resolved on the
     * core's own thread later (returns 0 when queued), so that a chat plugin's thread never
     * waits for a token read. Sending, retries and dead tokens are the core's. Any thread but
     * a loop (an incoming_call reads the user's tokens on the caller's thread). notice_json
     * is one of
     *   {"type":"incoming_call","user_id","call_id","caller_name","caller_avatar","kind","ttl_s"}
     *   {"type":"call_ended","user_id","call_id","reason"}   (to the devices that incoming_call
     *       of that call_id reached; live is ignored)
     *   {"type":"chat_message","user_id","room","msg_id","sender_id","text"}  (the core adds
     *       the sender's display name when anyone is to be notified)
     * Plugins call it only for what they actually delivered (never for a refused call or a
     * blocked message). The calls plugin lets a call to a host with no device live in the app
     * ring when this returned > 0. */
    int (*push_notify)(plugin_ctx *self, const char *notice_json, plugin_handle *const *live, size_t n_live);
    /* false when push_notify for user_id could reach nobody: no push service, or the user is
     * known to hold no push token (the core learns it from its own token reads and forgets it
     * when a token is stored). true when it may. A plugin that would build a notice for every
     * message asks first. No read, any thread. (Appended after push_notify in ABI 2: check
     * struct_size before use.) */
    bool (*push_wanted)(plugin_ctx *self, uint64_t user_id);
} core_callbacks;

typedef struct plugin_init_info {
    plugin_ctx *self;            /* pass to post/timer_* */
    const char *config_dir;
    /* The plugin's settings, {"key":value,...} of its config section (config_section below),
     * never NULL ("{}" when it has none). */
    const char *config_json;
} plugin_init_info;

typedef struct plugin_descriptor {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *package;      /* "janus.plugin.echotest" */
    const char *name;         /* "Echo test" */
    const char *description;
    const char *author;
    int version;              /* e.g. 7 */
    const char *version_string;
    const char *config_section;  /* e.g. "calls"; NULL = none */

    int (*init)(const core_callbacks *core, const plugin_init_info *info);
    /* After every session was destroyed and the dispatch thread stopped. */
    void (*destroy)(void);

    /* Returns the plugin's session state for handle h (owned by the plugin), or NULL and
     * *error set. */
    void *(*create_session)(plugin_handle *h, int *error);
    plugin_result (*handle_message)(void *session, const char *transaction,
                                    const char *body_json, const char *jsep_json);
    /* The PeerConnection is up (DTLS done). */
    void (*setup_media)(void *session);
    void (*incoming_rtp)(void *session, plugin_media_kind kind, uint8_t *buf, size_t len);
    void (*incoming_rtcp)(void *session, plugin_media_kind kind, uint8_t *buf, size_t len);
    void (*incoming_data)(void *session, const char *label, int binary, const uint8_t *buf,
                          size_t len);
    /* A data channel opened (either side created it) / closed. May be NULL. */
    void (*data_open)(void *session, const char *label);
    void (*data_close)(void *session, const char *label);
    /* The PeerConnection went away (closed by either side, failed, or the handle detaches
     * while it was up). */
    void (*hangup_media)(void *session);
    void (*destroy_session)(void *session, int *error);
    /* JSON text describing the session (admin API), malloc'd; may be NULL. */
    char *(*query_session)(void *session);
    /* Admin hook: GET /admin/plugins/<config_section or package>; returns JSON (malloc'd) or
     * NULL. Any thread. May be NULL. */
    char *(*admin)(const char *query);
    /* Lossy link on the handle's PeerConnection (loop thread; at most once per kind every
     * few seconds, when `lost` packets in the last second reached media.slowlink_threshold):
     * uplink = packets from the client to us were lost (gaps in what we received), else the
     * client reported losses of what we sent it (its NACKs). The client also gets Janus's
     * {"janus":"slowlink"} event. May be NULL. */
    void (*slow_link)(void *session, bool uplink, plugin_media_kind kind, uint32_t lost);
    /* The server is stopping: every session of this plugin is gone, what was queued on its
     * dispatch thread until then has run, and every plugin started after it was destroyed;
     * its dispatch thread still runs. Finish what is yours to finish (the
     * billing plugin settles the meters the last calls left) before returning; may wait for
     * the plugin's own thread. Then the core waits for outstanding billing_submit outcomes,
     * stops the dispatch thread and calls destroy. May be NULL. */
    void (*stop)(void);
    /* Something the platform did that the plugin's live clients must learn (the chat plugin:
     * a message sent or a read position set over REST), as JSON text owned by the core. Any
     * thread (a request thread), after the change is durable; must not block: hand it to the
     * dispatch thread with post(). May be NULL. */
    void (*notify)(const char *event_json);
} plugin_descriptor;

#endif
