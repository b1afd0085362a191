/*
 * ice: the libnice glue of one peer: one NiceAgent (full ICE, RFC 5245 compatibility, trickle,
 * consent freshness, UDP only) with one stream of one component (BUNDLE + rtcp-mux).
 *
 * The agent runs on the peer's loop GMainContext: its sockets, timers and signals fire on that
 * loop's thread, and every media_ice_* call must be made on that thread too (libnice emits
 * signals on the calling thread). Host candidates: the configured bind_ips; with none, the
 * machine's interfaces (libnice's list) plus 127.0.0.1 / ::1 when allow_loopback, because
 * inside a network namespace with only lo libnice finds nothing by itself. With nat_1_1_ip the
 * host candidates we signal carry that address instead of the local one.
 *
 * Sending (media_ice_send): on a selected pair whose local candidate is not relayed, while
 * the component is CONNECTED or READY, datagrams go straight to the pair's socket through
 * the loop's send queue (txq.h): queued while the loop dispatches received packets (a recv
 * callback opens the batch), flushed with sendmmsg before the loop polls again; sent at once
 * otherwise. Relayed pairs and any other state go through nice_agent_send. STUN stays
 * libnice's: it reads every packet (its recv callback drains the socket until it would block)
 * and sends its own checks and responses.
 *
 * With cfg->ice_lite the agent is our own ICE-lite one on the loop's shared sockets instead
 * (ice_lite.h): no libnice agent, remote candidates ignored, never controlling.
 *
 * Ownership: the creator owns the media_ice; media_ice_free destroys the agent. After
 * media_ice_stop no callback runs (the agent stays allocated until media_ice_free, so it is
 * safe to stop from inside a callback). Errors: negative MEDIA_ICE_E* values.
 */
#ifndef PARLEY_MEDIA_ICE_H
#define PARLEY_MEDIA_ICE_H

#include <glib.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/peer.h"

enum {
    MEDIA_ICE_OK = 0,
    MEDIA_ICE_EINVAL = -1,   /* unparsable candidate or credentials */
    MEDIA_ICE_EIO = -2,      /* libnice refused (no selected pair yet when sending...) */
};

typedef enum media_ice_state {
    MEDIA_ICE_CHECKING,
    MEDIA_ICE_CONNECTED,     /* a pair is usable (CONNECTED or READY) */
    MEDIA_ICE_FAILED,
} media_ice_state;

#define MEDIA_ICE_UFRAG_LEN 8
#define MEDIA_ICE_PWD_LEN 24

typedef struct media_ice media_ice;

typedef struct media_ice_callbacks {
    void *user;
    void (*candidate)(void *user, const char *candidate);   /* "candidate:..." */
    void (*gathering_done)(void *user);
    void (*state)(void *user, media_ice_state state);
    /* A datagram from the selected pair (libnice's buffer, valid during the call). */
    void (*recv)(void *user, const uint8_t *buf, size_t len);
    /* Counts datagrams media_ice_send accepted that the kernel then refused (full socket
     * buffer); may be NULL. Must outlive the media_ice. */
    _Atomic uint64_t *dropped_out;
} media_ice_callbacks;

/* Fresh random credentials (ufrag MEDIA_ICE_UFRAG_LEN chars, pwd MEDIA_ICE_PWD_LEN chars,
 * NUL-terminated; buffers of at least those lengths + 1). Any thread. */
void media_ice_make_credentials(char *ufrag, char *pwd);

/* How many local addresses an agent made with cfg gathers on (one UDP socket and one port
 * of the range each, for its single component). Any thread. */
int media_ice_local_address_count(const peer_config *cfg);

media_ice *media_ice_create(GMainContext *ctx, const peer_config *cfg, bool controlling,
                            const char *ufrag, const char *pwd, const media_ice_callbacks *cb);
void media_ice_stop(media_ice *ice);
void media_ice_free(media_ice *ice);

int media_ice_set_remote_credentials(media_ice *ice, const char *ufrag, const char *pwd);
void media_ice_set_controlling(media_ice *ice, bool controlling);
/* Starts gathering (once; later calls do nothing). */
int media_ice_gather(media_ice *ice);
/* "candidate:..." or "a=candidate:...". mDNS (.local) and TCP candidates are refused. */
int media_ice_add_remote_candidate(media_ice *ice, const char *candidate);
void media_ice_remote_candidates_done(media_ice *ice);
/* Restarts with new local credentials (remote candidates are cleared); the caller signals
 * the credentials and the local candidates again and sets the remote's new credentials. */
int media_ice_restart(media_ice *ice, const char *ufrag, const char *pwd);
/* 0 when sent or queued; MEDIA_ICE_EIO when refused at once (stopped, no pair, the kernel
 * said no). */
int media_ice_send(media_ice *ice, const uint8_t *buf, size_t len);

/* The local addresses an agent made with cfg offers host candidates on, as strings (bind_ips,
 * or the interfaces plus loopback when allowed, or the interfaces libnice finds). Any thread;
 * the caller frees the array. */
GPtrArray *media_ice_local_ips(const peer_config *cfg);

/* STUN/TURN servers must be IP addresses for libnice. Returns host itself when it is an IP
 * literal, else a cached address from getaddrinfo (the cache lives 5 minutes; a lookup
 * blocks the calling thread, so it is done in peer_create, never on a loop). Writes into out;
 * false when unresolvable. Any thread. */
bool media_ice_resolve(const char *host, char *out, size_t cap);

/* Rewrites the address of a host candidate line for NAT 1:1 (sans-IO helper, exposed for
 * tests). Returns false when the line is not a host candidate or does not fit in out. */
bool media_ice_rewrite_host(const char *candidate, const char *public_ip, char *out, size_t cap);

#endif
