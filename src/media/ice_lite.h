/*
 * ice_lite: an ICE-lite agent (RFC 8445 section 2.5) whose sockets are shared by every peer of
 * a loop: the "mux", one UDP socket per local address per loop, read with recvmmsg by one GLib
 * source. It is what media_ice does when peer_config.ice_lite is set (ice.c dispatches here).
 *
 * Why: with full ICE every peer owns a libnice agent, i.e. sockets, a GLib source per socket
 * and timers, and a loop's cost per wake-up grows with the peers it holds. A lite agent sends
 * no checks and gathers nothing but its host addresses, so a loop needs one socket per local
 * address and one source whatever its peer count, and several datagrams come per system call.
 *
 * Behaviour (we are always the controlled agent; the SDP carries a=ice-lite):
 *  - Candidates: one host candidate per mux socket of the peer's loop (nat_1_1_ip rewrites
 *    the address we signal), known before the agent exists (ice_lite_host_candidates, any
 *    thread), so that a description we make carries them all: a client that starts its
 *    checks with the candidates it has (aiortc) needs them there, and none is trickled.
 *    ice_lite_gather only says gathering is done.
 *  - A Binding request whose USERNAME starts with a peer's local ufrag and whose
 *    MESSAGE-INTEGRITY verifies with its password is answered (XOR-MAPPED-ADDRESS, integrity,
 *    fingerprint) and makes its source address the peer's: datagrams from it reach the peer's
 *    recv callback. The first such request selects the address (CONNECTED); one with
 *    USE-CANDIDATE selects its address for good (until an ICE restart). Remote candidates are
 *    not needed: the remote's address is learnt from its checks.
 *  - Consent: a connected peer that hears no valid check (or binding indication from its
 *    address) for 30 s (peer_config.ice_lite_timeout_ms) goes FAILED, as does a peer whose
 *    remote credentials were set that long ago and that never heard one. Checked twice a
 *    second for the whole loop.
 *  - Restart: new local credentials; checks under the previous ones are still answered until
 *    the first check under the new ones, which may then select a new address.
 *
 * Threads and ownership: everything runs on the peer's loop thread, but for
 * ice_lite_host_candidates. The mux is per GMainContext, made by the first peer there (from
 * any thread, under a mutex; its addresses and ports come from that peer's peer_config and
 * never change) and kept by the context until it is destroyed; each ice_lite holds a
 * reference. Its tables are touched by the loop thread only; its counters are written by the
 * loop thread only and may be read from any thread (ice_lite_mux_stats). The creator owns the
 * ice_lite; ice_lite_free releases it. After ice_lite_stop no callback runs.
 */
#ifndef PARLEY_MEDIA_ICE_LITE_H
#define PARLEY_MEDIA_ICE_LITE_H

#include <glib.h>

#include "media/ice.h"

typedef struct ice_lite ice_lite;

ice_lite *ice_lite_create(GMainContext *ctx, const peer_config *cfg, const char *ufrag, const char *pwd,
                          const media_ice_callbacks *cb);
void ice_lite_stop(ice_lite *ice);
void ice_lite_free(ice_lite *ice);
void ice_lite_set_remote_credentials(ice_lite *ice);
int ice_lite_gather(ice_lite *ice);
/* Appends the host candidate lines ("candidate:...\n") of ctx's loop, making its mux if
 * needed; returns how many. Any thread. */
int ice_lite_host_candidates(GMainContext *ctx, const peer_config *cfg, GString *out);
void ice_lite_restart(ice_lite *ice, const char *ufrag, const char *pwd);
int ice_lite_send(ice_lite *ice, const uint8_t *buf, size_t len);

/* Counters of ctx's mux (tests, figures, /metrics); zeros when the loop has none (full ICE).
 * Any thread, as long as ctx stays alive during the call: the mux is attached to its context
 * from creation until the context is finalized, so the context's reference keeps it alive
 * (core/metrics reads the loop pool's contexts, which main destroys only after the admin
 * listener stopped). The loop thread, their only writer, updates them with relaxed atomic
 * stores (no locked instruction per datagram); they are read with relaxed loads: each value
 * monotonic, not consistent with the others. The lookup takes ctx's lock for one walk of its
 * sources (GLib's), as making a mux does: fine for a scrape, not for a packet path. */
typedef struct ice_lite_counters {
    uint64_t datagrams;      /* read from the mux sockets */
    uint64_t reads;          /* recvmmsg calls that returned datagrams */
    uint64_t checks;         /* valid Binding requests answered */
    uint64_t refused;        /* STUN we could not match or verify, datagrams from unknown addresses */
} ice_lite_counters;
void ice_lite_mux_stats(GMainContext *ctx, ice_lite_counters *out);

#endif
