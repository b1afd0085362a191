/*
 * bench_janus: the Janus HTTP API and WebRTC signalling pieces both benchmark clients use
 * (media_bench's echotest sessions, calls_bench's call legs), on top of media_bench_http:
 *  - bench_janus: one server session and plugin handle: JSON POSTs, create + attach,
 *    plugin messages, one long-poll round, destroy;
 *  - bench_janus_event: the events every session handles alike (trickle, webrtcup, hangup,
 *    media, slowlink, error), counted into a bench_janus_events; the rest is the caller's;
 *  - bench_remote_cands: the server's candidates (in the description or trickled), held
 *    back until the remote description is on our peer, then handed to it;
 *  - bench_janus_offer: the offer our peer makes (Opus 111 + VP8 96, BUNDLE, rtcp-mux, our
 *    candidates inline, end-of-candidates).
 *
 * Threads: a bench_janus and a bench_remote_cands belong to one signalling thread; the
 * bench_janus_events counters are atomic (read by the main thread for the report).
 * Ownership: the caller owns the structs; JSON responses returned to it are its to
 * json_decref; bench_janus_offer's string is g_free'd by the caller; bench_remote_cands
 * owns its buffered copies until applied or bench_remote_cands_clear.
 */
#ifndef PARLEY_BENCH_BENCH_JANUS_H
#define PARLEY_BENCH_BENCH_JANUS_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "media/peer.h"
#include "media_bench_http.h"
#include "proto/sdp.h"

/* Media kinds, the index of per-kind arrays. */
enum { BENCH_AUDIO = 0, BENCH_VIDEO = 1 };

typedef struct bench_janus {
    const mb_url *url;
    const atomic_bool *stop;       /* abandons a long-poll once true (may be NULL) */
    /* Told why a request failed (the session is then unusable); on the calling thread. */
    void (*fail)(void *user, const char *reason);
    /* Each event a long-poll or a synchronous plugin response brings. */
    void (*on_event)(void *user, json_t *ev);
    void *user;
    /* The user's access token (a server with auth on): sent as the "token" member of every
     * request and as ?token= on long-polls; NULL sends none. Borrowed: outlives the session. */
    const char *token;
    uint64_t session_id, handle_id; /* 0 until created / attached */
} bench_janus;

/* POSTs a JSON object (stolen; the token added when set) to path; returns the parsed
 * response, or NULL after fail. */
json_t *bench_janus_post(bench_janus *j, const char *path, json_t *req);

/* Creates a session and attaches plugin; 0, or -1 after fail. */
int bench_janus_create_attach(bench_janus *j, const char *plugin);

/* Sends a plugin message (body stolen) with an optional JSEP; the response (an ack, or a
 * synchronous event) goes to on_event. 0, or -1 after fail. */
int bench_janus_message(bench_janus *j, json_t *body, const char *jsep_type, const char *sdp);

/* One long-poll round (events to on_event); -1 when the session is unusable. */
int bench_janus_poll_once(bench_janus *j);

/* "<url path>/<session>[/<handle>]" into buf. */
void bench_janus_path(const bench_janus *j, bool handle, char *buf, size_t cap);

/* Destroys the server session, if any (best effort). */
void bench_janus_destroy(bench_janus *j);

/* ---- events ---- */

typedef struct bench_janus_events {
    int64_t t_webrtcup;            /* g_get_monotonic_time() us; 0 = not yet */
    atomic_bool webrtcup;
    atomic_int hangups, media_events, slowlinks;
} bench_janus_events;

typedef enum bench_janus_event_kind {
    BENCH_JANUS_EV_OTHER,          /* handled (trickle, media, slowlink) or unknown */
    BENCH_JANUS_EV_PLUGIN,         /* "event": the plugin's, the caller's to handle */
    BENCH_JANUS_EV_WEBRTCUP,       /* the first webrtcup */
    BENCH_JANUS_EV_HANGUP,         /* the PeerConnection was hung up */
    BENCH_JANUS_EV_ERROR,          /* an error, *reason says why */
} bench_janus_event_kind;

typedef struct bench_remote_cands bench_remote_cands;

/* Counts a session event into e, hands trickled candidates to cands/peer, and says what
 * the caller still has to react to. */
bench_janus_event_kind bench_janus_event(json_t *ev, bench_janus_events *e,
                                         bench_remote_cands *cands, peer_t *peer,
                                         const char **reason);

/* ---- remote candidates ---- */

#define BENCH_MAX_PENDING_CANDIDATES 64

struct bench_remote_cands {
    bool applied;                  /* the remote description is on the peer */
    bool done_early;               /* end-of-candidates came before it */
    char *pending[BENCH_MAX_PENDING_CANDIDATES];
    int n_pending;
    char label[48];                /* "session 3", "call 3 caller": verbose lines */
    bool verbose;
};

void bench_remote_cands_add(bench_remote_cands *c, peer_t *peer, const char *cand);
void bench_remote_cands_done(bench_remote_cands *c, peer_t *peer);
/* A "candidate" member of a trickle event: one, an array, or {"completed": true}. */
void bench_remote_cands_trickle(bench_remote_cands *c, peer_t *peer, json_t *cand);
void bench_remote_cands_clear(bench_remote_cands *c);

/* Hands a parsed remote description (what: "answer", "offer") to peer: the first payload
 * type per kind into has/pt, the transport of the first usable m-line (BUNDLE), then its
 * candidates and the buffered ones. 0, or -1 with the reason in err. */
int bench_apply_remote(bench_remote_cands *c, peer_t *peer, const sdp_session *d,
                       const char *what, bool has[2], uint8_t pt[2], char *err, size_t errcap);

/* ---- SDP ---- */

/* Our offer: msid stream and cname `stream`, tracks "audio<suffix>" / "video<suffix>",
 * SSRCs ssrc[kind] (with an a=ssrc msid line too when ssrc_msid); NULL when the peer has
 * no local candidates. */
char *bench_janus_offer(peer_t *peer, uint64_t origin, const char *stream,
                        const char *track_suffix, const uint32_t ssrc[2], bool ssrc_msid);

/* Our peer's transport on an answer made from a server's offer: its credentials and
 * candidates (end-of-candidates), our fingerprint, setup active or passive as
 * peer_local_setup says. 0, or -1 when the peer has no candidate yet or the SDP refused. */
int bench_answer_transport(peer_t *peer, sdp_session *answer);

/* Name of an SRTP profile as peer_srtp_profile reports it. */
const char *bench_srtp_profile_name(int profile);

#endif
