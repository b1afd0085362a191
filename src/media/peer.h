/*
 * peer: one WebRTC transport with a remote endpoint — ICE (libnice), DTLS 1.2 (OpenSSL) with
 * DTLS-SRTP key export, SRTP/SRTCP (libsrtp2), and SCTP data channels (usrsctp + DCEP), all
 * BUNDLEd with rtcp-mux on a single ICE component (SPEC 6).
 *
 * The peer knows nothing of SDP text or Janus: the core extracts what it needs from the remote
 * description (ICE credentials, DTLS fingerprint and role, candidates, whether there is an
 * SCTP m-line) and writes the local description from peer_local_* getters.
 *
 * Threads and ownership:
 *  - A peer lives on exactly one loop (core/loop.h) for its whole life. Its libnice agent,
 *    timers, DTLS/SRTP/SCTP state are only touched on that thread.
 *  - Control functions (create, set_remote, add_remote_candidate, ice_restart, close, the
 *    getters) are thread-safe: they may be called from any thread (they run or post the work
 *    on the loop).
 *  - Data-path functions (peer_send_*) must be called on the peer's loop thread.
 *  - Every callback runs on the loop thread. After peer_close() returns, no callback runs.
 *  - Refcounted: peer_create returns one reference; peer_unref frees on the last one (on any
 *    thread; the final free happens on the loop).
 *
 * Errors: functions return 0 on success, a negative PEER_E* value otherwise. Bad packets from
 * the network are dropped and counted in peer_stats, never fatal.
 */
#ifndef PARLEY_MEDIA_PEER_H
#define PARLEY_MEDIA_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

typedef struct peer peer_t;

enum {
    PEER_OK = 0,
    PEER_EINVAL = -1,    /* bad argument (malformed candidate, fingerprint...) */
    PEER_ESTATE = -2,    /* not possible in the current state (e.g. send before DTLS up) */
    PEER_ENOSPACE = -3,  /* buffer too small for the SRTP trailer */
    PEER_EIO = -4,       /* the lower layer refused (socket, libsrtp, usrsctp) */
};

typedef enum peer_state {
    PEER_STATE_NEW = 0,
    PEER_STATE_CHECKING,     /* ICE checks running */
    PEER_STATE_CONNECTED,    /* ICE selected a pair; DTLS handshake running */
    PEER_STATE_SECURE,       /* DTLS done, SRTP keys installed: "webrtcup" */
    PEER_STATE_FAILED,       /* ICE or DTLS failed (fingerprint mismatch included) */
    PEER_STATE_CLOSED,
} peer_state;

typedef enum peer_dtls_setup {
    PEER_SETUP_ACTPASS = 0,
    PEER_SETUP_ACTIVE,       /* DTLS client */
    PEER_SETUP_PASSIVE,      /* DTLS server */
} peer_dtls_setup;

/* Server-wide media settings (from config), shared by all peers; copied at peer_create. */
typedef struct peer_config {
    const char *bind_ips;    /* comma-separated local IPs for host candidates; NULL/"" = all
                                interfaces, plus 127.0.0.1 and ::1 when allow_loopback */
    bool allow_loopback;
    bool ipv6;
    uint16_t port_min, port_max;     /* 0,0 = any */
    const char *stun_host;   /* NULL = none */
    uint16_t stun_port;
    const char *turn_host;   /* NULL = none */
    uint16_t turn_port;
    const char *turn_user, *turn_pwd;
    const char *nat_1_1_ip;  /* public IP to advertise instead of the host address; NULL */
    bool ice_lite;           /* our ICE-lite agent on the loop's shared sockets (ice_lite.h) */
    uint32_t ice_lite_timeout_ms;   /* ICE-lite: no valid check for this long fails the peer
                                       (0 = 30 s, RFC 7675's consent timeout) */
    bool consent_freshness;  /* RFC 7675 consent checks; a lost consent fails the peer */
    /* DTLS-SRTP profiles we offer/accept, OpenSSL syntax; NULL = "SRTP_AEAD_AES_128_GCM:
     * SRTP_AES128_CM_SHA1_80" (GCM preferred). Tests restrict it to one profile. */
    const char *srtp_profiles;
} peer_config;

typedef struct peer_callbacks {
    void *user;
    /* A local candidate ("candidate:..." without "a=" and without CRLF). */
    void (*local_candidate)(void *user, const char *candidate);
    void (*gathering_done)(void *user);
    void (*state_changed)(void *user, peer_state state);
    /* Decrypted RTP / compound RTCP. buf is the peer's receive buffer: writable in place,
     * valid during the call only, with at least 64 spare bytes after len. */
    void (*rtp)(void *user, uint8_t *buf, size_t len);
    void (*rtcp)(void *user, uint8_t *buf, size_t len);
    void (*data_open)(void *user, uint16_t stream_id, const char *label, const char *protocol);
    void (*data)(void *user, uint16_t stream_id, const char *label, bool binary,
                 const uint8_t *buf, size_t len);
    /* The remote closed a data channel (reset its stream). May be NULL. */
    void (*data_close)(void *user, uint16_t stream_id, const char *label);
} peer_callbacks;

typedef struct peer_stats {
    uint64_t rtp_packets_in, rtp_bytes_in, rtp_packets_out, rtp_bytes_out;
    uint64_t rtcp_packets_in, rtcp_packets_out;
    uint64_t data_messages_in, data_messages_out;
    uint64_t dropped_in;        /* undecryptable, malformed, unknown first byte */
    uint64_t dropped_out;       /* accepted by peer_send_* but refused by the kernel when the
                                   batch was flushed (socket buffer full): never blocks */
    uint64_t last_rtp_in_us;    /* g_get_monotonic_time() of the last RTP received, 0 never */
} peer_stats;

/* Process-wide DTLS identity (one self-signed ECDSA P-256 certificate per process, like
 * browsers do per PeerConnection). Call once at start before any peer; main thread. */
int peer_global_init(void);
void peer_global_deinit(void);
/* "sha-256 AB:CD:..." for a=fingerprint. Valid after peer_global_init. */
const char *peer_local_fingerprint(void);

/* Descriptors one peer holds once it gathered, for capacity planning (core/limits.c): a UDP
 * socket per local address of its single ICE component (media_ice_local_address_count; each
 * also takes one port of port_min..port_max) plus the eventfd of the GLib wakeup libnice
 * makes for the component. DTLS, SRTP and SCTP add none. Measured with /proc/self/fd: 3 per
 * peer with only 127.0.0.1 and ::1, 5 with one more IPv4 and one more IPv6 address. None
 * with ice_lite: the loop's shared sockets serve every peer. */
int peer_descriptors_per_peer(const peer_config *cfg);

peer_t *peer_create(loop_t *loop, const peer_config *cfg, const peer_callbacks *cb);
void peer_ref(peer_t *p);
void peer_unref(peer_t *p);

/* Local ICE credentials (fresh ones after peer_ice_restart). Copies into the caller's
 * buffers (at least 64 bytes each). */
void peer_local_credentials(peer_t *p, char *ufrag, size_t ufrag_cap, char *pwd, size_t pwd_cap);
/* Our DTLS role for the answer given the remote one (actpass -> active). */
peer_dtls_setup peer_local_setup(peer_t *p);
/* True when our side is an ICE-lite agent (the local description says a=ice-lite). */
bool peer_ice_lite(const peer_t *p);

/* Only when WE make the offer (e.g. calling out to a callee): starts gathering before any
 * remote description, as ICE controlling agent with DTLS setup actpass. The later
 * peer_set_remote (the answer: setup active or passive) fixes our DTLS role. */
int peer_gather_as_offerer(peer_t *p);

/* The remote description's transport parameters. fingerprint is "sha-256 AB:CD:.." (the
 * value of a=fingerprint). has_sctp: the remote offered an SCTP m-line on sctp_port.
 * Starts gathering on the first call. Call it again on every renegotiation: later calls only
 * start the data channel association if has_sctp turned true (an m=application added later);
 * changed ICE credentials go through peer_ice_restart, and the DTLS fingerprint/role of the
 * first call stay. Validates its arguments at once (PEER_EINVAL); the rest runs on the loop. */
int peer_set_remote(peer_t *p, const char *ufrag, const char *pwd, const char *fingerprint,
                    peer_dtls_setup remote_setup, bool has_sctp, uint16_t remote_sctp_port);
/* The remote description says a=ice-lite: our full agent takes the controlling role whichever
 * side offered (RFC 8445 6.1.1; a lite agent is always controlled and answers a controlled
 * peer's checks with 487 Role Conflict, which libnice does not resolve by switching). Call
 * before the first peer_set_remote or peer_add_remote_candidate; no effect on a lite agent. */
void peer_set_remote_ice_lite(peer_t *p);
/* A remote candidate line ("candidate:..." with or without "a="). */
int peer_add_remote_candidate(peer_t *p, const char *candidate);
void peer_remote_candidates_done(peer_t *p);
/* ICE restart: new remote credentials; new local ones are generated (readable at once with
 * peer_local_credentials). DTLS/SRTP/SCTP state is kept (same fingerprints), media continues
 * once the new pair is selected. The local candidates stay the same (peer_local_candidates);
 * gathering_done fires again once the restart is applied if gathering had completed. */
int peer_ice_restart(peer_t *p, const char *remote_ufrag, const char *remote_pwd);
/* When we initiate the restart (our new offer): peer_ice_restart(p, NULL, NULL) makes the new
 * local credentials, then the answer's credentials are given with this. */
int peer_set_remote_credentials(peer_t *p, const char *ufrag, const char *pwd);

/* Local candidates gathered so far, each "candidate:...", written one per line into out
 * (NUL-terminated). Returns the count, or -1 if out is too small. */
int peer_local_candidates(peer_t *p, char *out, size_t cap);

/* Data path (loop thread only). buf holds plain RTP/RTCP and has cap >= len + 64 bytes; it is
 * protected in place and sent: at once, or, when called while the loop dispatches received
 * packets (e.g. from an rtp/rtcp callback), copied into the loop's send queue and sent with
 * sendmmsg before the loop polls again. Either way buf is free again on return. */
int peer_send_rtp(peer_t *p, uint8_t *buf, size_t len, size_t cap);
int peer_send_rtcp(peer_t *p, uint8_t *buf, size_t len, size_t cap);
/* Opens an ordered reliable data channel (DCEP) with that label; the remote must have an
 * SCTP m-line. Before the association is up the open is queued. Any thread: on the loop it
 * returns the stream id (>= 0; 0 also when queued before DTLS is up); from another thread
 * the open is posted and 0 is returned.
 * data_open fires when the remote acknowledges it. */
int peer_open_data_channel(peer_t *p, const char *label);
/* Closes a data channel (label, or stream_id when label is NULL); data_close fires on both
 * sides once the remote has reset its stream too. Loop thread only. */
int peer_close_data_channel(peer_t *p, const char *label, uint16_t stream_id);
/* Sends on an open data channel with that label (or stream_id when label is NULL). */
int peer_send_data(peer_t *p, const char *label, uint16_t stream_id, bool binary,
                   const uint8_t *buf, size_t len);

peer_state peer_get_state(peer_t *p);
void peer_get_stats(peer_t *p, peer_stats *out);

/* Stops ICE/DTLS/SCTP, sends DTLS close_notify and SCTP ABORT where possible; no callback
 * runs after it returns. Idempotent. Any thread; on the loop thread (even from inside one of
 * this peer's callbacks) it takes effect at once and suppresses further callbacks; from
 * another thread it waits for the loop to do it (so never call it from ANOTHER loop's thread:
 * keep both legs of a call on one loop, as SPEC 6 says). */
void peer_close(peer_t *p);

/* The DTLS-SRTP profile in use once SECURE: 1 = AES128_CM_SHA1_80, 7 = AEAD_AES_128_GCM, 0
 * before. */
int peer_srtp_profile(peer_t *p);

#endif
