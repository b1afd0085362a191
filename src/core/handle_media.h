/*
 * handle_media: the media side of a Janus handle — turns the client's JSEP into a peer
 * (media/peer.h) on one loop, writes our SDP's transport attributes, and routes packets
 * between the peer and the handle's plugin:
 *
 *   network -> peer (SRTP unprotect) -> demux by payload type -> plugin incoming_rtp(kind)
 *   plugin relay_rtp(target, kind) -> SSRC + header-extension rewrite for target -> peer
 *
 * Header extensions cross the plugin boundary in a canonical id space (HMEDIA_EXT_*), so a
 * plugin can relay a packet from one leg to another whose negotiated ids differ: ids are
 * mapped to canonical on receive and to the target's negotiated ids on send; extensions the
 * target did not negotiate are removed.
 *
 * Each PeerConnection is a "leg": its peer plus the loop-side state (routing tables, NACK
 * buffer, receive timers), created on the control path on one loop (the least loaded, or the
 * one handle_media_colocate chose) and closed and freed by a job posted to that loop. So
 * hangup never waits on a loop, and a handle may get its next PeerConnection on another loop.
 *
 * Threads: remote_jsep/trickle/local_jsep/hangup/colocate/loop_post/state from any thread
 * (they take h->lock, one handle's lock at a time, and never wait); relay_* / send_* on the
 * loop of h's leg (lock-free; from any other thread the packet is dropped). Peer callbacks
 * run on the loop and call the plugin's incoming_* there, holding a plugin-session reference.
 * Ownership: handle_media belongs to its handle (freed by handle_unref via
 * handle_media_free); a leg holds references on the handle, its plugin session and its peer.
 */
#ifndef PARLEY_CORE_HANDLE_MEDIA_H
#define PARLEY_CORE_HANDLE_MEDIA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"
#include "proto/janus_api.h"

typedef struct handle_media handle_media;

/* Canonical header-extension ids seen by plugins. */
enum {
    HMEDIA_EXT_NONE = 0,
    HMEDIA_EXT_AUDIO_LEVEL = 1,
    HMEDIA_EXT_ABS_SEND_TIME = 2,
    HMEDIA_EXT_VIDEO_ORIENTATION = 3,
    HMEDIA_EXT_TOFFSET = 4,
    HMEDIA_EXT_MID = 5,
    HMEDIA_EXT_TRANSPORT_CC = 6,
    HMEDIA_EXT_PLAYOUT_DELAY = 7,
    HMEDIA_EXT_COUNT = 8,
};

/* A client's offer or answer: validates it (465 on bad SDP, 469 on an answer without our
 * offer), creates or updates the peer (ICE restart when the credentials changed), and
 * returns in *plugin_jsep the JSON jsep for the plugin with transport attributes stripped
 * (malloc'd). 0 or -1 with err set. */
int handle_media_remote_jsep(plugin_handle *h, const char *type, const char *sdp, bool restart_hint,
                             char **plugin_jsep, janus_error *err);
/* Trickled candidates (one object, or an array); buffered until the peer exists. */
int handle_media_trickle(plugin_handle *h, json_t *candidate, json_t *candidates, janus_error *err);
/* A plugin's jsep (JSON text) on its way to the client: adds ICE credentials, fingerprint,
 * setup, candidates, our SSRCs; records what we negotiated. New reference, or NULL. */
json_t *handle_media_local_jsep(plugin_handle *h, const char *jsep_json);
/* Closes the PeerConnection (idempotent): detaches the leg now and closes it on its loop
 * (at once when called there). notify: push "hangup" with reason to the client and call the
 * plugin's hangup_media (when the leg was up). */
void handle_media_hangup(plugin_handle *h, const char *reason, bool notify);
void handle_media_free(handle_media *m);

/* core_callbacks (see plugin.h for the thread rules). */
void handle_media_relay_rtp(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len);
void handle_media_relay_rtcp(plugin_handle *h, plugin_media_kind kind, uint8_t *buf, size_t len);
void handle_media_relay_data(plugin_handle *h, const char *label, int binary, const uint8_t *buf, size_t len);
void handle_media_send_pli(plugin_handle *h);
void handle_media_send_remb(plugin_handle *h, uint32_t bitrate);
int handle_media_colocate(plugin_handle *h, plugin_handle *with);
int handle_media_loop_post(plugin_handle *h, plugin_fn fn, void *arg);
int handle_media_state(plugin_handle *h, plugin_media_state *out);

#endif
