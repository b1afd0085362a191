/*
 * limits: what one client may hold, so that a signed-in user can neither exhaust the
 * server's descriptors (GLib aborts the whole process when libnice cannot create a wakeup
 * descriptor) nor its media ports (every other user's offer would be answered without
 * candidates). Counted here:
 *  - live Janus sessions per user (limits.sessions_per_user);
 *  - live handles per Janus session (limits.handles_per_session);
 *  - live PeerConnections per user (limits.peers_per_user) and in the whole server
 *    (limits.max_peers, derived at start from RLIMIT_NOFILE and media.rtp_port_range when 0);
 *  - descriptor headroom: a PeerConnection is refused when creating it would leave fewer
 *    than limits.fd_reserve descriptors free (for HTTP, WebSocket, SQLite), whatever
 *    max_peers says.
 *
 * Who is a "user": the authenticated user id of the Janus session. With auth off every
 * session has user 0: sessions_per_user is then not enforced (there is nobody to count per;
 * the per-address limits of the transports are the defence there), and peers_per_user counts
 * per Janus session instead; handles_per_session, max_peers and the descriptor reserve apply
 * as always.
 *
 * Contract: an *_acquire that returns LIMIT_NONE took one unit, which exactly one matching
 * *_release gives back (janus_core: create/attach; session.c: session_destroy/handle_detach;
 * handle_media: create_leg/close_leg_on_loop). Any other return is a refusal: nothing was
 * taken, the refusal is counted (limits_refusals, /metrics) and logged (throttled: at most
 * one line per limit every 10 s, with the number suppressed). A release without an acquire
 * is ignored. A NULL limits (unit tests that build a bare server) allows everything.
 *
 * Threads: every function may be called from any thread. One mutex guards the tables; it
 * is a leaf lock (nothing is called out while it is held), so callers may hold their own
 * locks (handle_media holds h->lock). This is the control path only: never per packet.
 */
#ifndef PARLEY_CORE_LIMITS_H
#define PARLEY_CORE_LIMITS_H

#include <stddef.h>
#include <stdint.h>

typedef struct limits limits;

typedef enum limit_kind {
    LIMIT_NONE = 0,              /* acquired */
    LIMIT_SESSIONS_PER_USER,
    LIMIT_HANDLES_PER_SESSION,
    LIMIT_PEERS_PER_USER,
    LIMIT_MAX_PEERS,
    LIMIT_FD_RESERVE,
    LIMIT_KIND_COUNT,
} limit_kind;

typedef struct limits_config {
    int sessions_per_user;       /* 0 = no limit */
    int handles_per_session;     /* 0 = no limit */
    int peers_per_user;          /* 0 = no limit */
    int max_peers;               /* >= 1: the resolved cap (limits_derive_max_peers when configured 0) */
    int fd_reserve;              /* descriptors kept free; 0 = no headroom check */
    int fds_per_peer;            /* descriptors one PeerConnection opens (peer_descriptors_per_peer) */
} limits_config;

limits *limits_create(const limits_config *cfg);
/* Replaces the server-wide cap (main.c derives it again once the listeners hold their
 * descriptors). Live PeerConnections above a lowered cap stay; new ones are refused. */
void limits_set_max_peers(limits *l, int max_peers);
void limits_destroy(limits *l);

limit_kind limits_session_acquire(limits *l, uint64_t user_id);
void limits_session_release(limits *l, uint64_t user_id);
limit_kind limits_handle_acquire(limits *l, uint64_t session_id);
void limits_handle_release(limits *l, uint64_t session_id);
/* Checks peers_per_user (per user, or per session when user_id is 0), then max_peers, then
 * the descriptor headroom. */
limit_kind limits_peer_acquire(limits *l, uint64_t user_id, uint64_t session_id);
void limits_peer_release(limits *l, uint64_t user_id, uint64_t session_id);

/* The label /metrics uses: "sessions_per_user", ..., "fd_reserve" ("" for LIMIT_NONE). */
const char *limit_kind_name(limit_kind k);
/* The reason text of a refusal for the client, e.g. "Too many PeerConnections for this user
 * (limit 12)". user_id only picks the wording of peers_per_user (user or session). */
void limits_reason(limits *l, limit_kind k, uint64_t user_id, char *out, size_t cap);

/* For /metrics and tests. */
uint64_t limits_refusals(limits *l, limit_kind k);
int limits_peers_live(limits *l);
int limits_max_peers(limits *l);
/* Live units held by one key (tests and the admin view): sessions or peers of a user, handles
 * or peers of a session (auth off). */
int limits_user_sessions(limits *l, uint64_t user_id);
int limits_user_peers(limits *l, uint64_t user_id);
int limits_session_handles(limits *l, uint64_t session_id);
int limits_session_peers(limits *l, uint64_t session_id);
/* Recounts the process's open descriptors now (the headroom check otherwise recounts at most
 * once a second, or every 50 ms when close to the limit). */
void limits_fd_refresh(limits *l);

/* Open descriptors of this process (/proc/self/fd), or -1. Costs about 0.6 us per
 * descriptor: start-up and the throttled headroom check only. */
int limits_count_open_fds(void);

/* The default PeerConnection cap (pure, for start-up and tests): descriptors — what is left
 * of fd_limit (RLIMIT_NOFILE soft, after main raised it; <= 0 = unlimited) after those open
 * now and the reserve, divided by what one PeerConnection opens — and ports — each
 * PeerConnection binds one port of the range per local address, so the range's size is the
 * most that can have candidates at once. The smaller, at least 1. *by_fds and *by_ports
 * (may be NULL) get the two bounds (INT32_MAX when unbounded). */
int limits_derive_max_peers(long long fd_limit, int fds_open, int fd_reserve, int fds_per_peer, int port_range,
                            int *by_fds, int *by_ports);

#endif
