/*
 * peer: see peer.h. Ties ice (libnice), dtls (OpenSSL), srtp (libsrtp) and sctp (usrsctp)
 * together on the peer's loop thread.
 *
 * Control calls from other threads are turned into "ops" posted to the loop (each holding a
 * reference); on the loop thread they run at once. What other threads read (state, local
 * credentials, candidates, stats) is kept in atomics or under the peer's small mutex; the
 * media path itself takes no lock.
 *
 * Packet path (RFC 7983 demux on the first byte): 20..63 DTLS -> dtls (handshake, then SCTP
 * over application data); 128..191 RTP/RTCP -> copied into the per-peer receive buffer,
 * unprotected in place, handed to the rtp/rtcp callback. STUN never reaches us (libnice eats
 * it). The final free is always posted to the loop, so a callback may drop the last
 * reference of its own peer without pulling the floor from under the code that called it.
 */
#include "media/peer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "media/dtls.h"
#include "media/ice.h"
#include "media/ice_lite.h"
#include "media/sctp.h"
#include "media/srtp.h"
#include "util/log.h"

#define RX_SPARE 64
#define RX_CAP (8192 + RX_SPARE)
#define CRED_CAP 64

typedef _Atomic uint64_t counter;

struct peer {
    atomic_int refs;
    loop_t *loop;
    peer_config cfg;              /* strings below are our copies */
    char *cfg_strings[8];
    peer_callbacks cb;

    /* loop thread only */
    media_ice *ice;
    media_dtls *dtls;
    media_srtp *srtp;
    media_sctp *sctp;
    GSource *dtls_timer;
    bool remote_set;
    bool has_sctp;
    bool dtls_started;
    bool gathered;                /* local gathering completed once */
    bool loop_closed;
    uint16_t remote_sctp_port;
    GPtrArray *pending_channels;  /* labels opened before the association exists */

    /* shared with other threads */
    GMutex lock;                  /* credentials and candidates */
    char ufrag[CRED_CAP], pwd[CRED_CAP];
    GString *candidates;
    int ncandidates;
    bool candidates_known;        /* ICE-lite: set at creation, never gathered */
    atomic_int state;
    atomic_int local_setup;
    atomic_int srtp_profile;
    atomic_bool closed;
    atomic_bool remote_ice_lite;  /* peer_set_remote_ice_lite: our full agent must control */

    counter rtp_packets_in, rtp_bytes_in, rtp_packets_out, rtp_bytes_out;
    counter rtcp_packets_in, rtcp_packets_out, data_messages_in, data_messages_out;
    counter dropped_in, dropped_out, last_rtp_in_us;

    uint8_t rx[RX_CAP];           /* the receive buffer, reused for every packet */
};

/* Single writer (the loop), so a relaxed load+store is enough and costs no bus lock. */
static inline void count(counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static bool is_closed(peer_t *p) { return atomic_load(&p->closed); }

/* ---- process-wide ---- */

int peer_global_init(void)
{
    return media_dtls_global_init() == MEDIA_DTLS_OK ? PEER_OK : PEER_EIO;
}

void peer_global_deinit(void)
{
    media_sctp_global_shutdown();
    media_dtls_global_deinit();
}

const char *peer_local_fingerprint(void) { return media_dtls_local_fingerprint(); }

int peer_descriptors_per_peer(const peer_config *cfg)
{
    return cfg->ice_lite ? 0 : media_ice_local_address_count(cfg) + 1;
}

/* ---- state ---- */

/* States only move forward; FAILED and CLOSED are final. */
static void set_state(peer_t *p, peer_state st)
{
    int old = atomic_load(&p->state);
    if (old >= PEER_STATE_FAILED || (int)st <= old || is_closed(p))
        return;
    atomic_store(&p->state, st);
    LOG_DEBUG("peer", "%p state %d -> %d", (void *)p, old, (int)st);
    if (p->cb.state_changed)
        p->cb.state_changed(p->cb.user, st);
}

/* ---- DTLS glue ---- */

static gboolean dtls_timer_fired(gpointer data);

static void dtls_timer_update(peer_t *p)
{
    if (p->dtls_timer) {
        g_source_destroy(p->dtls_timer);
        g_source_unref(p->dtls_timer);
        p->dtls_timer = NULL;
    }
    int ms = p->dtls && !p->loop_closed ? media_dtls_timeout_ms(p->dtls) : -1;
    if (ms < 0)
        return;
    p->dtls_timer = g_timeout_source_new((guint)ms);
    g_source_set_callback(p->dtls_timer, dtls_timer_fired, p, NULL);
    g_source_attach(p->dtls_timer, loop_context(p->loop));
}

static void dtls_failed(peer_t *p)
{
    set_state(p, PEER_STATE_FAILED);
}

static gboolean dtls_timer_fired(gpointer data)
{
    peer_t *p = data;
    if (media_dtls_handle_timeout(p->dtls) != MEDIA_DTLS_OK)
        dtls_failed(p);
    dtls_timer_update(p);
    return G_SOURCE_REMOVE;
}

static void dtls_send(void *user, const uint8_t *buf, size_t len)
{
    peer_t *p = user;
    if (p->ice)
        media_ice_send(p->ice, buf, len);
}

static void sctp_send(void *user, const uint8_t *buf, size_t len)
{
    peer_t *p = user;
    if (p->dtls)
        media_dtls_write(p->dtls, buf, len);
}

static void sctp_open(void *user, uint16_t sid, const char *label, const char *protocol)
{
    peer_t *p = user;
    if (!is_closed(p) && p->cb.data_open)
        p->cb.data_open(p->cb.user, sid, label, protocol);
}

static void sctp_message(void *user, uint16_t sid, const char *label, bool binary,
                         const uint8_t *buf, size_t len)
{
    peer_t *p = user;
    count(&p->data_messages_in, 1);
    if (!is_closed(p) && p->cb.data)
        p->cb.data(p->cb.user, sid, label, binary, buf, len);
}

static void sctp_closed(void *user, uint16_t sid, const char *label)
{
    peer_t *p = user;
    if (!is_closed(p) && p->cb.data_close)
        p->cb.data_close(p->cb.user, sid, label);
}

static void start_sctp(peer_t *p)
{
    if (p->sctp || !p->has_sctp || !p->dtls || !media_dtls_done(p->dtls) || p->loop_closed)
        return;
    media_sctp_callbacks cb = {.user = p, .send = sctp_send, .open = sctp_open,
                               .message = sctp_message, .closed = sctp_closed};
    p->sctp = media_sctp_create(p->loop, media_dtls_is_client(p->dtls), MEDIA_SCTP_PORT,
                                p->remote_sctp_port, &cb);
    if (!p->sctp)
        return;
    for (guint i = 0; i < p->pending_channels->len && !p->loop_closed; i++)
        media_sctp_open_channel(p->sctp, g_ptr_array_index(p->pending_channels, i), "");
    g_ptr_array_set_size(p->pending_channels, 0);
}

static void dtls_app_data(void *user, const uint8_t *buf, size_t len)
{
    peer_t *p = user;
    if (!p->sctp)
        start_sctp(p);
    if (p->sctp)
        media_sctp_input(p->sctp, buf, len);
}

static void dtls_up(peer_t *p)
{
    media_srtp_profile profile;
    uint8_t material[64];
    size_t len = 0;
    if (media_dtls_srtp_keys(p->dtls, &profile, material, sizeof material, &len) != MEDIA_DTLS_OK) {
        dtls_failed(p);
        return;
    }
    p->srtp = media_srtp_create(profile, material, len, media_dtls_is_client(p->dtls));
    memset(material, 0, sizeof material);
    if (!p->srtp) {
        dtls_failed(p);
        return;
    }
    atomic_store(&p->srtp_profile, (int)profile);
    set_state(p, PEER_STATE_SECURE);
    start_sctp(p);
}

static void dtls_input(peer_t *p, const uint8_t *buf, size_t len)
{
    if (!p->dtls) {
        count(&p->dropped_in, 1);
        return;
    }
    bool was_done = media_dtls_done(p->dtls);
    int r = media_dtls_input(p->dtls, buf, len);
    if (p->loop_closed)
        return;
    if (r == MEDIA_DTLS_EFAIL) {
        dtls_failed(p);
    } else {
        if (r == MEDIA_DTLS_HANDSHAKE_DONE || (!was_done && media_dtls_done(p->dtls)))
            dtls_up(p);
        if (r == MEDIA_DTLS_CLOSED) {
            LOG_DEBUG("peer", "%p remote sent DTLS close_notify", (void *)p);
            set_state(p, PEER_STATE_CLOSED);
        }
    }
    if (!was_done || p->dtls_timer)
        dtls_timer_update(p);
}

/* ---- the receive path ---- */

static void srtp_input(peer_t *p, const uint8_t *buf, size_t len)
{
    if (!p->srtp || len > RX_CAP - RX_SPARE || len < 8) {
        count(&p->dropped_in, 1);
        return;
    }
    memcpy(p->rx, buf, len);
    /* RTCP packet types 192..223 sit where the RTP marker+payload type byte is. */
    bool rtcp = p->rx[1] >= 192 && p->rx[1] <= 223;
    if (rtcp) {
        if (media_srtp_unprotect_rtcp(p->srtp, p->rx, &len) != MEDIA_SRTP_OK) {
            count(&p->dropped_in, 1);
            return;
        }
        count(&p->rtcp_packets_in, 1);
        if (p->cb.rtcp)
            p->cb.rtcp(p->cb.user, p->rx, len);
        return;
    }
    if (media_srtp_unprotect_rtp(p->srtp, p->rx, &len) != MEDIA_SRTP_OK) {
        count(&p->dropped_in, 1);
        return;
    }
    count(&p->rtp_packets_in, 1);
    count(&p->rtp_bytes_in, len);
    atomic_store_explicit(&p->last_rtp_in_us, (uint64_t)g_get_monotonic_time(),
                          memory_order_relaxed);
    if (p->cb.rtp)
        p->cb.rtp(p->cb.user, p->rx, len);
}

static void ice_recv(void *user, const uint8_t *buf, size_t len)
{
    peer_t *p = user;
    if (p->loop_closed || len == 0)
        return;
    uint8_t b = buf[0];
    if (b >= 128 && b <= 191)
        srtp_input(p, buf, len);
    else if (b >= 20 && b <= 63)
        dtls_input(p, buf, len);
    else
        count(&p->dropped_in, 1);
}

/* ---- ICE glue ---- */

static void ice_candidate(void *user, const char *candidate)
{
    peer_t *p = user;
    if (p->candidates_known)
        return;
    g_mutex_lock(&p->lock);
    g_string_append(p->candidates, candidate);
    g_string_append_c(p->candidates, '\n');
    p->ncandidates++;
    g_mutex_unlock(&p->lock);
    if (!is_closed(p) && p->cb.local_candidate)
        p->cb.local_candidate(p->cb.user, candidate);
}

static void ice_gathering_done(void *user)
{
    peer_t *p = user;
    p->gathered = true;
    if (!is_closed(p) && p->cb.gathering_done)
        p->cb.gathering_done(p->cb.user);
}

static void ice_state(void *user, media_ice_state st)
{
    peer_t *p = user;
    switch (st) {
    case MEDIA_ICE_CHECKING:
        set_state(p, PEER_STATE_CHECKING);
        break;
    case MEDIA_ICE_CONNECTED:
        set_state(p, PEER_STATE_CONNECTED);
        if (p->dtls && !p->dtls_started && media_dtls_is_client(p->dtls)) {
            p->dtls_started = true;
            if (media_dtls_start(p->dtls) == MEDIA_DTLS_EFAIL)
                dtls_failed(p);
            dtls_timer_update(p);
        }
        break;
    case MEDIA_ICE_FAILED:
        set_state(p, PEER_STATE_FAILED);
        break;
    }
}

static void ensure_ice(peer_t *p, bool controlling)
{
    if (p->ice)
        return;
    media_ice_callbacks cb = {.user = p, .candidate = ice_candidate,
                              .gathering_done = ice_gathering_done, .state = ice_state,
                              .recv = ice_recv, .dropped_out = &p->dropped_out};
    char ufrag[CRED_CAP], pwd[CRED_CAP];
    g_mutex_lock(&p->lock);
    g_strlcpy(ufrag, p->ufrag, sizeof ufrag);
    g_strlcpy(pwd, p->pwd, sizeof pwd);
    g_mutex_unlock(&p->lock);
    controlling = controlling || atomic_load(&p->remote_ice_lite);
    p->ice = media_ice_create(loop_context(p->loop), &p->cfg, controlling, ufrag, pwd, &cb);
}

/* ---- control ops: run on the loop, posted from other threads ---- */

typedef enum op_kind {
    OP_GATHER_OFFERER,
    OP_SET_REMOTE,
    OP_ADD_CANDIDATE,
    OP_CANDIDATES_DONE,
    OP_RESTART,
    OP_REMOTE_CREDENTIALS,
    OP_OPEN_CHANNEL,
} op_kind;

typedef struct peer_op {
    peer_t *p;
    op_kind kind;
    char *s1, *s2, *s3;
    peer_dtls_setup setup;
    bool flag;
    uint16_t port;
    int result;
} peer_op;

static bool dtls_client_for(peer_dtls_setup remote)
{
    /* The answerer to actpass is active (RFC 8842 5.3: we answer "active"); otherwise the
     * complement of what the remote chose. */
    return remote != PEER_SETUP_ACTIVE;
}

static int op_set_remote(peer_t *p, peer_op *op)
{
    ensure_ice(p, false);
    if (!p->ice)
        return PEER_EIO;
    if (op->flag && !p->has_sctp) {
        p->has_sctp = true;
        p->remote_sctp_port = op->port;
        start_sctp(p);   /* a renegotiation may add the data channel m-line later */
    }
    if (p->remote_set)
        return PEER_OK;   /* renegotiation: transport parameters stay (restart is explicit) */
    p->remote_set = true;
    bool client = dtls_client_for(op->setup);
    p->dtls = media_dtls_create(client, op->s3, p->cfg.srtp_profiles,
                                &(media_dtls_callbacks){.user = p, .send = dtls_send,
                                                        .app_data = dtls_app_data});
    if (!p->dtls) {
        set_state(p, PEER_STATE_FAILED);
        return PEER_EINVAL;
    }
    if (media_ice_set_remote_credentials(p->ice, op->s1, op->s2) != MEDIA_ICE_OK)
        return PEER_EINVAL;
    return media_ice_gather(p->ice) == MEDIA_ICE_OK ? PEER_OK : PEER_EIO;
}

static int op_restart(peer_t *p, peer_op *op)
{
    if (!p->ice)
        return PEER_ESTATE;
    char ufrag[CRED_CAP], pwd[CRED_CAP];
    g_mutex_lock(&p->lock);
    g_strlcpy(ufrag, p->ufrag, sizeof ufrag);
    g_strlcpy(pwd, p->pwd, sizeof pwd);
    g_mutex_unlock(&p->lock);
    if (media_ice_restart(p->ice, ufrag, pwd) != MEDIA_ICE_OK)
        return PEER_EIO;
    if (op->s1 && op->s2 && media_ice_set_remote_credentials(p->ice, op->s1, op->s2) != MEDIA_ICE_OK)
        return PEER_EINVAL;
    /* libnice keeps the local candidates across a restart and gathers nothing new: tell the
     * owner the new generation's candidates are complete, as it will wait for that. */
    if (p->gathered && !is_closed(p) && p->cb.gathering_done)
        p->cb.gathering_done(p->cb.user);
    return PEER_OK;
}

static int op_open_channel(peer_t *p, const char *label)
{
    if (p->sctp) {
        int sid = media_sctp_open_channel(p->sctp, label, "");
        return sid >= 0 ? sid : PEER_EIO;
    }
    if (p->remote_set && !p->has_sctp)
        return PEER_ESTATE;
    g_ptr_array_add(p->pending_channels, g_strdup(label));
    return PEER_OK;
}

static int op_run(peer_op *op)
{
    peer_t *p = op->p;
    if (p->loop_closed)
        return PEER_ESTATE;
    switch (op->kind) {
    case OP_GATHER_OFFERER:
        ensure_ice(p, true);
        return p->ice && media_ice_gather(p->ice) == MEDIA_ICE_OK ? PEER_OK : PEER_EIO;
    case OP_SET_REMOTE:
        return op_set_remote(p, op);
    case OP_ADD_CANDIDATE:
        ensure_ice(p, false);   /* trickled candidates may overtake the description */
        if (!p->ice)
            return PEER_EIO;
        return media_ice_add_remote_candidate(p->ice, op->s1) == MEDIA_ICE_OK ? PEER_OK : PEER_EINVAL;
    case OP_CANDIDATES_DONE:
        if (p->ice)
            media_ice_remote_candidates_done(p->ice);
        return PEER_OK;
    case OP_RESTART:
        return op_restart(p, op);
    case OP_REMOTE_CREDENTIALS:
        if (!p->ice)
            return PEER_ESTATE;
        return media_ice_set_remote_credentials(p->ice, op->s1, op->s2) == MEDIA_ICE_OK
                   ? PEER_OK : PEER_EINVAL;
    case OP_OPEN_CHANNEL:
        return op_open_channel(p, op->s1);
    }
    return PEER_EINVAL;
}

static void op_free(peer_op *op)
{
    g_free(op->s1);
    g_free(op->s2);
    g_free(op->s3);
    g_free(op);
}

static void op_posted(void *arg)
{
    peer_op *op = arg;
    int r = op_run(op);
    if (r < 0)
        LOG_DEBUG("peer", "%p op %d failed: %d", (void *)op->p, (int)op->kind, r);
    peer_unref(op->p);
    op_free(op);
}

/* On the loop: runs now and returns the result. Elsewhere: posts and returns PEER_OK. */
static int op_submit(peer_t *p, peer_op *op)
{
    op->p = p;
    if (loop_is_current(p->loop)) {
        int r = op_run(op);
        op_free(op);
        return r;
    }
    peer_ref(p);
    loop_invoke(p->loop, op_posted, op);
    return PEER_OK;
}

static peer_op *op_new(op_kind kind, const char *s1, const char *s2, const char *s3)
{
    peer_op *op = g_new0(peer_op, 1);
    op->kind = kind;
    op->s1 = g_strdup(s1);
    op->s2 = g_strdup(s2);
    op->s3 = g_strdup(s3);
    return op;
}

/* ---- life cycle ---- */

static const char *keep(peer_t *p, int slot, const char *s)
{
    if (!s)
        return NULL;
    p->cfg_strings[slot] = g_strdup(s);
    return p->cfg_strings[slot];
}

peer_t *peer_create(loop_t *loop, const peer_config *cfg, const peer_callbacks *cb)
{
    if (!loop || !cfg)
        return NULL;
    peer_t *p = g_malloc0(sizeof *p);
    atomic_init(&p->refs, 1);
    p->loop = loop;
    p->cfg = *cfg;
    p->cfg.bind_ips = keep(p, 0, cfg->bind_ips);
    char ip[64];
    p->cfg.stun_host = cfg->stun_host && media_ice_resolve(cfg->stun_host, ip, sizeof ip)
                           ? keep(p, 1, ip) : NULL;
    p->cfg.turn_host = cfg->turn_host && media_ice_resolve(cfg->turn_host, ip, sizeof ip)
                           ? keep(p, 2, ip) : NULL;
    p->cfg.turn_user = keep(p, 3, cfg->turn_user);
    p->cfg.turn_pwd = keep(p, 4, cfg->turn_pwd);
    p->cfg.nat_1_1_ip = keep(p, 5, cfg->nat_1_1_ip);
    p->cfg.srtp_profiles = keep(p, 6, cfg->srtp_profiles);
    if (cb)
        p->cb = *cb;
    g_mutex_init(&p->lock);
    p->candidates = g_string_new(NULL);
    /* An ICE-lite agent's candidates are the loop's shared sockets: known now, whoever asks. */
    if (p->cfg.ice_lite) {
        p->ncandidates = ice_lite_host_candidates(loop_context(loop), &p->cfg, p->candidates);
        p->candidates_known = true;
    }
    p->pending_channels = g_ptr_array_new_with_free_func(g_free);
    p->remote_sctp_port = MEDIA_SCTP_PORT;
    atomic_init(&p->state, PEER_STATE_NEW);
    atomic_init(&p->local_setup, PEER_SETUP_ACTIVE);
    media_ice_make_credentials(p->ufrag, p->pwd);
    return p;
}

void peer_ref(peer_t *p)
{
    atomic_fetch_add(&p->refs, 1);
}

static void close_on_loop(void *arg)
{
    peer_t *p = arg;
    if (p->loop_closed)
        return;
    atomic_store(&p->closed, true);
    p->loop_closed = true;
    /* ABORT first (it travels over DTLS), then close_notify, then ICE goes quiet. */
    if (p->sctp)
        media_sctp_close(p->sctp);
    if (p->dtls)
        media_dtls_shutdown(p->dtls);
    dtls_timer_update(p);
    if (p->ice)
        media_ice_stop(p->ice);
    atomic_store(&p->state, PEER_STATE_CLOSED);
}

void peer_close(peer_t *p)
{
    if (!p)
        return;
    if (loop_is_current(p->loop))
        close_on_loop(p);
    else if (!is_closed(p))
        loop_invoke_sync(p->loop, close_on_loop, p);
}

static void free_on_loop(void *arg)
{
    peer_t *p = arg;
    close_on_loop(p);
    media_sctp_unref(p->sctp);
    media_dtls_free(p->dtls);
    media_srtp_free(p->srtp);
    media_ice_free(p->ice);
    g_ptr_array_free(p->pending_channels, TRUE);
    g_string_free(p->candidates, TRUE);
    g_mutex_clear(&p->lock);
    for (size_t i = 0; i < G_N_ELEMENTS(p->cfg_strings); i++)
        g_free(p->cfg_strings[i]);
    g_free(p);
}

void peer_unref(peer_t *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1)
        loop_invoke(p->loop, free_on_loop, p);
}

/* ---- control API ---- */

void peer_local_credentials(peer_t *p, char *ufrag, size_t ufrag_cap, char *pwd, size_t pwd_cap)
{
    g_mutex_lock(&p->lock);
    g_strlcpy(ufrag, p->ufrag, ufrag_cap);
    g_strlcpy(pwd, p->pwd, pwd_cap);
    g_mutex_unlock(&p->lock);
}

bool peer_ice_lite(const peer_t *p) { return p->cfg.ice_lite; }

peer_dtls_setup peer_local_setup(peer_t *p)
{
    return (peer_dtls_setup)atomic_load(&p->local_setup);
}

int peer_gather_as_offerer(peer_t *p)
{
    atomic_store(&p->local_setup, PEER_SETUP_ACTPASS);
    return op_submit(p, op_new(OP_GATHER_OFFERER, NULL, NULL, NULL));
}

void peer_set_remote_ice_lite(peer_t *p)
{
    atomic_store(&p->remote_ice_lite, true);
}

int peer_set_remote(peer_t *p, const char *ufrag, const char *pwd, const char *fingerprint,
                    peer_dtls_setup remote_setup, bool has_sctp, uint16_t remote_sctp_port)
{
    if (!ufrag || !*ufrag || !pwd || !*pwd || !media_dtls_fingerprint_valid(fingerprint) ||
        remote_setup > PEER_SETUP_PASSIVE)
        return PEER_EINVAL;
    atomic_store(&p->local_setup,
                 dtls_client_for(remote_setup) ? PEER_SETUP_ACTIVE : PEER_SETUP_PASSIVE);
    peer_op *op = op_new(OP_SET_REMOTE, ufrag, pwd, fingerprint);
    op->setup = remote_setup;
    op->flag = has_sctp;
    op->port = remote_sctp_port ? remote_sctp_port : MEDIA_SCTP_PORT;
    return op_submit(p, op);
}

int peer_add_remote_candidate(peer_t *p, const char *candidate)
{
    if (!candidate || !strstr(candidate, "candidate:"))
        return PEER_EINVAL;
    return op_submit(p, op_new(OP_ADD_CANDIDATE, candidate, NULL, NULL));
}

void peer_remote_candidates_done(peer_t *p)
{
    op_submit(p, op_new(OP_CANDIDATES_DONE, NULL, NULL, NULL));
}

int peer_ice_restart(peer_t *p, const char *remote_ufrag, const char *remote_pwd)
{
    if ((remote_ufrag == NULL) != (remote_pwd == NULL))
        return PEER_EINVAL;
    /* New local credentials now, so that the caller can write its description at once. */
    g_mutex_lock(&p->lock);
    media_ice_make_credentials(p->ufrag, p->pwd);
    g_mutex_unlock(&p->lock);
    return op_submit(p, op_new(OP_RESTART, remote_ufrag, remote_pwd, NULL));
}

int peer_set_remote_credentials(peer_t *p, const char *ufrag, const char *pwd)
{
    if (!ufrag || !*ufrag || !pwd || !*pwd)
        return PEER_EINVAL;
    return op_submit(p, op_new(OP_REMOTE_CREDENTIALS, ufrag, pwd, NULL));
}

int peer_local_candidates(peer_t *p, char *out, size_t cap)
{
    g_mutex_lock(&p->lock);
    int n = p->ncandidates;
    if (p->candidates->len + 1 > cap)
        n = -1;
    else
        memcpy(out, p->candidates->str, p->candidates->len + 1);
    g_mutex_unlock(&p->lock);
    return n;
}

int peer_open_data_channel(peer_t *p, const char *label)
{
    if (!label || strlen(label) > UINT16_MAX)
        return PEER_EINVAL;
    return op_submit(p, op_new(OP_OPEN_CHANNEL, label, NULL, NULL));
}

/* ---- data path (loop thread) ---- */

int peer_send_rtp(peer_t *p, uint8_t *buf, size_t len, size_t cap)
{
    if (!p->srtp || p->loop_closed)
        return PEER_ESTATE;
    int r = media_srtp_protect_rtp(p->srtp, buf, &len, cap);
    if (r != MEDIA_SRTP_OK)
        return r == MEDIA_SRTP_ENOSPACE ? PEER_ENOSPACE : PEER_EIO;
    if (media_ice_send(p->ice, buf, len) != MEDIA_ICE_OK)
        return PEER_EIO;
    count(&p->rtp_packets_out, 1);
    count(&p->rtp_bytes_out, len);
    return PEER_OK;
}

int peer_send_rtcp(peer_t *p, uint8_t *buf, size_t len, size_t cap)
{
    if (!p->srtp || p->loop_closed)
        return PEER_ESTATE;
    int r = media_srtp_protect_rtcp(p->srtp, buf, &len, cap);
    if (r != MEDIA_SRTP_OK)
        return r == MEDIA_SRTP_ENOSPACE ? PEER_ENOSPACE : PEER_EIO;
    if (media_ice_send(p->ice, buf, len) != MEDIA_ICE_OK)
        return PEER_EIO;
    count(&p->rtcp_packets_out, 1);
    return PEER_OK;
}

int peer_send_data(peer_t *p, const char *label, uint16_t stream_id, bool binary,
                   const uint8_t *buf, size_t len)
{
    if (!p->sctp || p->loop_closed)
        return PEER_ESTATE;
    int r = media_sctp_send(p->sctp, label, stream_id, binary, buf, len);
    if (r == MEDIA_SCTP_OK) {
        count(&p->data_messages_out, 1);
        return PEER_OK;
    }
    return r == MEDIA_SCTP_EINVAL ? PEER_EINVAL : r == MEDIA_SCTP_ESTATE ? PEER_ESTATE : PEER_EIO;
}

int peer_close_data_channel(peer_t *p, const char *label, uint16_t stream_id)
{
    if (!p->sctp || p->loop_closed)
        return PEER_ESTATE;
    int r = media_sctp_close_channel(p->sctp, label, stream_id);
    return r == MEDIA_SCTP_OK ? PEER_OK : r == MEDIA_SCTP_EINVAL ? PEER_EINVAL : PEER_ESTATE;
}

peer_state peer_get_state(peer_t *p)
{
    return (peer_state)atomic_load(&p->state);
}

int peer_srtp_profile(peer_t *p)
{
    return atomic_load(&p->srtp_profile);
}

void peer_get_stats(peer_t *p, peer_stats *out)
{
#define LD(f) atomic_load_explicit(&p->f, memory_order_relaxed)
    out->rtp_packets_in = LD(rtp_packets_in);
    out->rtp_bytes_in = LD(rtp_bytes_in);
    out->rtp_packets_out = LD(rtp_packets_out);
    out->rtp_bytes_out = LD(rtp_bytes_out);
    out->rtcp_packets_in = LD(rtcp_packets_in);
    out->rtcp_packets_out = LD(rtcp_packets_out);
    out->data_messages_in = LD(data_messages_in);
    out->data_messages_out = LD(data_messages_out);
    out->dropped_in = LD(dropped_in);
    out->dropped_out = LD(dropped_out);
    out->last_rtp_in_us = LD(last_rtp_in_us);
#undef LD
}
