/*
 * plugin.h: the versioned ABI between the core and a plugin (echotest, calls, chat, billing).
 *
 * Shape (after Janus's plugin.h, minus GLib/jansson in the ABI): the core calls a plugin
 * through its plugin_descriptor; the plugin calls back through core_callbacks. Only opaque
 * handles, stdint types and JSON as UTF-8 text cross the boundary, so a plugin does not depend
 * on the core's libraries. Both structs start with abi_version and struct_size: the core
 * refuses a descriptor with another major ABI version, and fields appended later are detected
 * by struct_size (a NULL function pointer means "not provided").
 *
 * Lifetime:
 *   init() once at start (main thread) -> create_session() per attached handle ->
 *   handle_message()* / setup_media / incoming_* / hangup_media ... -> destroy_session() ->
 *   destroy() once at shutdown.
 *   The core holds a reference on the plugin_handle for as long as the plugin session exists;
 *   a plugin that keeps a plugin_handle beyond destroy_session (e.g. in another thread) must
 *   take its own reference with core->handle_ref() and drop it with core->handle_unref().
 *
 * Threads:
 *   - handle_message: the plugin's dispatch thread (one per plugin, owned by the core).
 *     The request has already been acked to the client. Must not block for long.
 *   - create_session / destroy_session / query_session: a core request thread.
 *   - setup_media, incoming_rtp, incoming_rtcp, incoming_data, hangup_media: the media loop
 *     thread that owns the handle's peer. They must not block and must not allocate per
 *     packet. relay_rtp/relay_rtcp/relay_data may only be called from the loop thread of the
 *     *target* handle (both legs of a call live on one loop, see core->handle_loop_index).
 *   - push_event, close_pc, end_handle, handle_ref/unref: any thread.
 *
 * Ownership:
 *   - Strings passed to the plugin are owned by the core and valid only during the call.
 *   - Strings a plugin returns (plugin_result.json, query_session) are malloc'd by the plugin
 *     and freed by the core with free().
 *   - Packet buffers passed to incoming_* belong to the core, are writable in place, valid
 *     during the call only, and have at least PLUGIN_PACKET_HEADROOM spare bytes after len
 *     (so relay_* can SRTP-protect in place without a copy).
 */
#ifndef PARLEY_PLUGIN_H
#define PARLEY_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define PLUGIN_ABI_VERSION 1u
#define PLUGIN_PACKET_HEADROOM 64u

typedef struct plugin_handle plugin_handle; /* opaque: the core's handle */

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

typedef struct core_callbacks {
    uint32_t abi_version;
    uint32_t struct_size;

    /* Queues an event for the handle's session: {"janus":"event","sender":..,"transaction":..,
     * "plugindata":{"plugin":<package>,"data":<event_json>},"jsep":..}. transaction may be
     * NULL. jsep_json ({"type":"offer"|"answer","sdp":...}) may be NULL; the core adds its
     * own ICE/DTLS attributes to the SDP before sending. Returns 0, or -1 if the handle is gone
     * or the jsep is unusable. */
    int (*push_event)(plugin_handle *h, const char *transaction, const char *event_json,
                      const char *jsep_json);

    /* Media relay (loop thread of h only). buf holds plain RTP/RTCP with
     * PLUGIN_PACKET_HEADROOM spare bytes after len; the core rewrites SSRCs and header
     * extension ids for h's negotiated streams, protects and sends it in place. */
    void (*relay_rtp)(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len);
    void (*relay_rtcp)(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len);
    void (*relay_data)(plugin_handle *h, const char *label, int binary, const uint8_t *buf,
                       size_t len);
    /* Asks h's remote sender for a keyframe (PLI). Loop thread of h. */
    void (*send_pli)(plugin_handle *h);
    /* Caps what h's remote sender sends (REMB, bits per second). Loop thread of h. */
    void (*send_remb)(plugin_handle *h, uint32_t bitrate);

    /* Tears down h's PeerConnection (the client gets "hangup"). Any thread. */
    void (*close_pc)(plugin_handle *h);
    /* Detaches h from its session (the client gets "detached"). Any thread. */
    void (*end_handle)(plugin_handle *h);

    void (*handle_ref)(plugin_handle *h);
    void (*handle_unref)(plugin_handle *h);
    /* The Janus handle id (for logs) and the authenticated user id (0 when auth is off). */
    uint64_t (*handle_id)(plugin_handle *h);
    uint64_t (*handle_user_id)(plugin_handle *h);
    /* Index of the media loop that owns h's peer (-1 before any). */
    int (*handle_loop_index)(plugin_handle *h);
} core_callbacks;

typedef struct plugin_descriptor {
    uint32_t abi_version;
    uint32_t struct_size;
    const char *package;      /* "janus.plugin.echotest" */
    const char *name;         /* "Echo test" */
    const char *description;
    const char *author;
    int version;              /* e.g. 7 */
    const char *version_string;

    int (*init)(const core_callbacks *core, const char *config_dir);
    void (*destroy)(void);

    /* Returns the plugin's session state for handle h (owned by the plugin), or NULL and
     * *error set. */
    void *(*create_session)(plugin_handle *h, int *error);
    plugin_result (*handle_message)(void *session, const char *transaction,
                                    const char *body_json, const char *jsep_json);
    void (*setup_media)(void *session);
    void (*incoming_rtp)(void *session, plugin_media_kind kind, uint8_t *buf, size_t len);
    void (*incoming_rtcp)(void *session, plugin_media_kind kind, uint8_t *buf, size_t len);
    void (*incoming_data)(void *session, const char *label, int binary, const uint8_t *buf,
                          size_t len);
    void (*hangup_media)(void *session);
    void (*destroy_session)(void *session, int *error);
    /* JSON text describing the session (admin API), malloc'd; may be NULL. */
    char *(*query_session)(void *session);
} plugin_descriptor;

#endif
