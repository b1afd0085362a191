/*
 * ice_lite: see ice_lite.h.
 */
#include "media/ice_lite.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include "media/txq.h"
#include "util/log.h"

#define MUX_MAX_SOCKETS 16
#define MUX_BATCH 32               /* datagrams per recvmmsg */
#define MUX_READS_PER_DISPATCH 8   /* then the loop's other sources get their turn */
#define MUX_SLOT 2048
#define MUX_SOCKET_BUFFER (4 << 20)
#define CONSENT_TIMEOUT_US (30 * G_TIME_SPAN_SECOND)   /* when the config says 0 */
#define SWEEP_INTERVAL_MS 500
#define KNOWN_ADDRESSES 4          /* per peer: addresses checks came from */
#define CRED_CAP 257

/* A remote transport address as heard on one of the mux's sockets. */
typedef struct lite_addr {
    uint32_t sock;
    uint16_t family, port;
    uint8_t ip[16];
} lite_addr;

typedef struct mux_socket {
    int fd;
    gpointer tag;
    char ip[INET6_ADDRSTRLEN];
    uint16_t port;
} mux_socket;

/* ice_lite_counters as the loop keeps them: the loop thread is the only writer, the metrics
 * thread reads them (ice_lite_mux_stats). */
typedef struct mux_counters {
    _Atomic uint64_t datagrams, reads, checks, refused;
} mux_counters;

typedef struct lite_mux {
    GSource source;               /* first: the mux is a GSource */
    mux_socket sock[MUX_MAX_SOCKETS];
    int nsock;
    GHashTable *by_ufrag;         /* local ufrag (the ice's string) -> ice_lite */
    GHashTable *by_addr;          /* lite_addr (the ice's copy) -> ice_lite */
    GHashTable *members;          /* ice_lite set, for the consent sweep */
    GSource *sweep;
    StunAgent stun;               /* libnice's STUN agent: checks validated, replies made */
    uint64_t tie;                 /* our ICE tie-breaker (we never claim the controlling role) */
    media_txq *txq;
    mux_counters counters;
    struct mmsghdr msg[MUX_BATCH];
    struct iovec iov[MUX_BATCH];
    struct sockaddr_storage from[MUX_BATCH];
    uint8_t buf[MUX_BATCH][MUX_SLOT];
} lite_mux;

typedef struct lite_creds {
    char ufrag[CRED_CAP], pwd[CRED_CAP];
    bool valid;
} lite_creds;

struct ice_lite {
    lite_mux *mux;
    media_ice_callbacks cb;
    bool stopped;
    lite_creds cur, prev;         /* prev: before the last restart, until a check uses cur */
    lite_addr known[KNOWN_ADDRESSES];
    int nknown;
    int next_known;               /* the slot the next new address replaces */
    bool selected, nominated, failed;
    int sel;                      /* index in known[] */
    struct sockaddr_storage to;
    socklen_t tolen;
    gint64 timeout_us;            /* consent / first check */
    gint64 waiting_since;         /* remote credentials set, no check yet (0 = not waiting) */
    gint64 last_check;
};

/* One writer per counter: a relaxed load and store, with no locked instruction on the packet
 * path; a reader on another thread still sees each value whole and never going back. */
static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

/* ---- addresses ---- */

static guint addr_hash(gconstpointer p)
{
    const lite_addr *a = p;
    guint h = a->sock * 31u + a->port;
    for (int i = 0; i < 16; i++)
        h = h * 33u + a->ip[i];
    return h;
}

static gboolean addr_equal(gconstpointer x, gconstpointer y) { return memcmp(x, y, sizeof(lite_addr)) == 0; }

static bool addr_from_sockaddr(lite_addr *a, uint32_t sock, const struct sockaddr_storage *ss)
{
    memset(a, 0, sizeof *a);
    a->sock = sock;
    a->family = ss->ss_family;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        a->port = ntohs(in->sin_port);
        memcpy(a->ip, &in->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        a->port = ntohs(in6->sin6_port);
        memcpy(a->ip, &in6->sin6_addr, 16);
        return true;
    }
    return false;
}

static socklen_t addr_to_sockaddr(const lite_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        return sizeof *in;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    memcpy(&in6->sin6_addr, a->ip, 16);
    return sizeof *in6;
}

/* ---- state ---- */

static void emit_state(ice_lite *ice, media_ice_state st)
{
    if (!ice->stopped && ice->cb.state)
        ice->cb.state(ice->cb.user, st);
}

static void forget_addresses(ice_lite *ice)
{
    for (int i = 0; i < ice->nknown; i++)
        if (g_hash_table_lookup(ice->mux->by_addr, &ice->known[i]) == ice)
            g_hash_table_remove(ice->mux->by_addr, &ice->known[i]);
    ice->nknown = 0;
    ice->next_known = 0;
    ice->selected = false;
    ice->nominated = false;
}

static void fail(ice_lite *ice, const char *why)
{
    LOG_INFO("ice", "%p ICE-lite failed: %s", (void *)ice, why);
    ice->failed = true;
    ice->waiting_since = 0;
    forget_addresses(ice);
    emit_state(ice, MEDIA_ICE_FAILED);
}

/* The index of a in ice->known, adding it (and claiming it in the mux) when new. */
static int know_address(ice_lite *ice, const lite_addr *a)
{
    for (int i = 0; i < ice->nknown; i++)
        if (addr_equal(&ice->known[i], a))
            return i;
    int slot;
    if (ice->nknown < KNOWN_ADDRESSES) {
        slot = ice->nknown++;
    } else {
        /* Full: replace the oldest that is not the selected one. */
        slot = ice->next_known;
        if (ice->selected && slot == ice->sel)
            slot = (slot + 1) % KNOWN_ADDRESSES;
        ice->next_known = (slot + 1) % KNOWN_ADDRESSES;
        if (g_hash_table_lookup(ice->mux->by_addr, &ice->known[slot]) == ice)
            g_hash_table_remove(ice->mux->by_addr, &ice->known[slot]);
    }
    ice->known[slot] = *a;
    /* The address may have been another peer's (a client reusing a port): it is ours now. */
    g_hash_table_replace(ice->mux->by_addr, &ice->known[slot], ice);
    return slot;
}

static void select_address(ice_lite *ice, int idx, bool nominated)
{
    bool was = ice->selected;
    ice->selected = true;
    ice->nominated = nominated;
    ice->sel = idx;
    ice->tolen = addr_to_sockaddr(&ice->known[idx], &ice->to);
    if (!was)
        emit_state(ice, MEDIA_ICE_CONNECTED);
}

/* ---- STUN (libnice's STUN agent and ICE usage) ---- */

#define STUN_BINDING_INDICATION_TYPE 0x0011

static const uint16_t known_attributes[] = {
    STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY, STUN_ATTRIBUTE_FINGERPRINT,
    STUN_ATTRIBUTE_PRIORITY, STUN_ATTRIBUTE_USE_CANDIDATE, STUN_ATTRIBUTE_ICE_CONTROLLED,
    STUN_ATTRIBUTE_ICE_CONTROLLING, 0,
};

/* What the validater found for the check being validated. */
typedef struct check_owner {
    lite_mux *mux;
    ice_lite *ice;
    const lite_creds *creds;
} check_owner;

/* USERNAME is "<our ufrag>:<theirs>": our ufrag names the peer and which of its credentials
 * (current, or the previous ones during a restart) the check must verify under. */
static bool find_password(StunAgent *agent, StunMessage *msg, uint8_t *username, uint16_t username_len,
                          uint8_t **password, size_t *password_len, void *data)
{
    (void)agent, (void)msg;
    check_owner *o = data;
    const uint8_t *colon = memchr(username, ':', username_len);
    size_t n = colon ? (size_t)(colon - username) : 0;
    char key[CRED_CAP];
    if (n == 0 || n >= sizeof key)
        return false;
    memcpy(key, username, n);
    key[n] = '\0';
    ice_lite *ice = g_hash_table_lookup(o->mux->by_ufrag, key);
    if (!ice || ice->stopped)
        return false;
    const lite_creds *c = ice->cur.valid && strcmp(ice->cur.ufrag, key) == 0 ? &ice->cur : &ice->prev;
    if (!c->valid || strcmp(c->ufrag, key) != 0)
        return false;
    o->ice = ice;
    o->creds = c;
    *password = (uint8_t *)c->pwd;
    *password_len = strlen(c->pwd);
    return true;
}

static void on_check(lite_mux *mux, int sock, const uint8_t *buf, size_t len, const struct sockaddr_storage *from)
{
    StunMessage req, resp;
    check_owner o = {.mux = mux};
    lite_addr a;
    if (stun_agent_validate(&mux->stun, &req, buf, len, find_password, &o) != STUN_VALIDATION_SUCCESS ||
        !o.ice || stun_message_get_class(&req) != STUN_REQUEST || stun_message_get_method(&req) != STUN_BINDING ||
        !addr_from_sockaddr(&a, (uint32_t)sock, from)) {
        LOG_DEBUG("ice", "ICE-lite: check refused (%s)", o.ice ? "not a binding request" : "unknown ufrag or integrity");
        count(&mux->counters.refused, 1);
        return;
    }
    ice_lite *ice = o.ice;
    uint8_t out[STUN_MAX_MESSAGE_SIZE_IPV6];
    size_t out_len = sizeof out;
    bool controlling = false;
    socklen_t from_len = from->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    StunUsageIceReturn r = stun_usage_ice_conncheck_create_reply(&mux->stun, &req, &resp, out, &out_len, from, from_len,
                                                                 &controlling, mux->tie,
                                                                 STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
    if (r != STUN_USAGE_ICE_RETURN_SUCCESS && r != STUN_USAGE_ICE_RETURN_ROLE_CONFLICT) {
        count(&mux->counters.refused, 1);
        return;
    }
    media_txq_send(mux->txq, mux->sock[sock].fd, (const struct sockaddr *)from, from_len, out, out_len, NULL);
    if (r == STUN_USAGE_ICE_RETURN_ROLE_CONFLICT)
        return;   /* answered with 487: the remote must take the controlling role first */
    count(&mux->counters.checks, 1);
    if (ice->failed)
        return;   /* answered (the remote may be finishing), but a failed peer stays failed */
    ice->last_check = g_get_monotonic_time();
    ice->waiting_since = 0;
    bool current = o.creds == &ice->cur;
    if (current && ice->prev.valid) {
        g_hash_table_remove(mux->by_ufrag, ice->prev.ufrag);
        ice->prev.valid = false;
    }
    int idx = know_address(ice, &a);
    if (!current)
        return;
    bool nominated = stun_usage_ice_conncheck_use_candidate(&req);
    if (!ice->selected || (nominated && (!ice->nominated || idx != ice->sel)))
        select_address(ice, idx, nominated);
}

/* A Binding indication from a peer's selected address keeps its consent (libnice-style
 * agents send these instead of consent checks). */
static void on_indication(lite_mux *mux, int sock, const struct sockaddr_storage *from)
{
    lite_addr a;
    ice_lite *ice = addr_from_sockaddr(&a, (uint32_t)sock, from) ? g_hash_table_lookup(mux->by_addr, &a) : NULL;
    if (ice && ice->selected && addr_equal(&ice->known[ice->sel], &a))
        ice->last_check = g_get_monotonic_time();
}

/* ---- the mux source ---- */

static void on_datagram(lite_mux *mux, int sock, const uint8_t *buf, size_t len, const struct sockaddr_storage *from)
{
    if (len == 0)
        return;
    /* RFC 7983: 0..3 is STUN. */
    if (buf[0] < 4) {
        if (stun_message_validate_buffer_length(buf, len, true) != (int)len)
            count(&mux->counters.refused, 1);
        else if ((buf[0] << 8 | buf[1]) == STUN_BINDING_INDICATION_TYPE)
            on_indication(mux, sock, from);
        else
            on_check(mux, sock, buf, len, from);
        return;
    }
    lite_addr a;
    ice_lite *ice = addr_from_sockaddr(&a, (uint32_t)sock, from) ? g_hash_table_lookup(mux->by_addr, &a) : NULL;
    if (!ice || ice->stopped || !ice->cb.recv) {
        count(&mux->counters.refused, 1);
        return;
    }
    ice->cb.recv(ice->cb.user, buf, len);
}

static void drain_socket(lite_mux *mux, int sock)
{
    for (int round = 0; round < MUX_READS_PER_DISPATCH; round++) {
        for (int i = 0; i < MUX_BATCH; i++) {
            mux->iov[i] = (struct iovec){.iov_base = mux->buf[i], .iov_len = MUX_SLOT};
            mux->msg[i].msg_hdr = (struct msghdr){.msg_name = &mux->from[i], .msg_namelen = sizeof mux->from[i],
                                                  .msg_iov = &mux->iov[i], .msg_iovlen = 1};
        }
        int n = recvmmsg(mux->sock[sock].fd, mux->msg, MUX_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        count(&mux->counters.reads, 1);
        count(&mux->counters.datagrams, (uint64_t)n);
        for (int i = 0; i < n; i++)
            if (!(mux->msg[i].msg_hdr.msg_flags & MSG_TRUNC))
                on_datagram(mux, sock, mux->buf[i], mux->msg[i].msg_len, &mux->from[i]);
        if (n < MUX_BATCH)
            return;
    }
}

static gboolean mux_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    (void)cb, (void)data;
    lite_mux *mux = (lite_mux *)source;
    /* What the datagrams make us send waits for the end of this loop iteration. */
    media_txq_open(mux->txq);
    for (int i = 0; i < mux->nsock; i++)
        if (g_source_query_unix_fd(source, mux->sock[i].tag) & (G_IO_IN | G_IO_ERR))
            drain_socket(mux, i);
    return G_SOURCE_CONTINUE;
}

static void mux_finalize(GSource *source)
{
    lite_mux *mux = (lite_mux *)source;
    media_txq_flush(mux->txq);
    for (int i = 0; i < mux->nsock; i++)
        close(mux->sock[i].fd);
    if (mux->sweep) {
        g_source_destroy(mux->sweep);
        g_source_unref(mux->sweep);
    }
    g_hash_table_destroy(mux->by_ufrag);
    g_hash_table_destroy(mux->by_addr);
    g_hash_table_destroy(mux->members);
    media_txq_unref(mux->txq);
}

static gboolean mux_never_called(gpointer data)
{
    (void)data;
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs mux_funcs = {.dispatch = mux_dispatch, .finalize = mux_finalize};

/* Consent and check timeouts, every SWEEP_INTERVAL_MS for the whole loop. */
static gboolean sweep(gpointer data)
{
    lite_mux *mux = data;
    gint64 now = g_get_monotonic_time();
    GPtrArray *late = NULL;
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, mux->members);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        ice_lite *ice = key;
        bool lost = ice->selected && now - ice->last_check > ice->timeout_us;
        bool never = ice->waiting_since && now - ice->waiting_since > ice->timeout_us;
        if (!ice->stopped && !ice->failed && (lost || never)) {
            if (!late)
                late = g_ptr_array_new();
            g_ptr_array_add(late, ice);
        }
    }
    /* Failing calls out, and the callee may free peers: not while iterating. */
    for (guint i = 0; late && i < late->len; i++) {
        ice_lite *ice = late->pdata[i];
        if (g_hash_table_contains(mux->members, ice))
            fail(ice, ice->selected ? "no consent check in time" : "no connectivity check in time");
    }
    if (late)
        g_ptr_array_free(late, TRUE);
    return G_SOURCE_CONTINUE;
}

static int bind_socket(const char *ip, uint16_t port_min, uint16_t port_max, uint16_t *port_out)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        len = sizeof *in;
    } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        len = sizeof *in6;
    } else {
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1, size = MUX_SOCKET_BUFFER;
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    /* Every peer of the loop shares these buffers: above the default where the kernel lets us. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    uint32_t span = port_min || port_max ? (uint32_t)(port_max ? port_max : 65535) - port_min + 1 : 1;
    uint32_t start = g_random_int_range(0, (gint32)span);
    for (uint32_t i = 0; i < span; i++) {
        uint16_t port = port_min || port_max ? (uint16_t)(port_min + (start + i) % span) : 0;
        if (ss.ss_family == AF_INET)
            in->sin_port = htons(port);
        else
            in6->sin6_port = htons(port);
        if (bind(fd, (struct sockaddr *)&ss, len) == 0) {
            struct sockaddr_storage got;
            socklen_t glen = sizeof got;
            getsockname(fd, (struct sockaddr *)&got, &glen);
            *port_out = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                                       : ((struct sockaddr_in6 *)&got)->sin6_port);
            return fd;
        }
        if (errno != EADDRINUSE)
            break;
    }
    close(fd);
    return -1;
}

static void open_sockets(lite_mux *mux, const peer_config *cfg)
{
    GPtrArray *ips = media_ice_local_ips(cfg);
    for (guint i = 0; i < ips->len && mux->nsock < MUX_MAX_SOCKETS; i++) {
        mux_socket *s = &mux->sock[mux->nsock];
        s->fd = bind_socket(ips->pdata[i], cfg->port_min, cfg->port_max, &s->port);
        if (s->fd < 0) {
            LOG_WARN("ice", "ICE-lite: cannot bind a UDP socket on %s: %s", (char *)ips->pdata[i], g_strerror(errno));
            continue;
        }
        g_strlcpy(s->ip, ips->pdata[i], sizeof s->ip);
        s->tag = g_source_add_unix_fd(&mux->source, s->fd, G_IO_IN);
        mux->nsock++;
    }
    g_ptr_array_free(ips, TRUE);
}

static GMutex mux_create_lock;

/* The loop's mux, made on first use; a reference for the caller. Any thread: making one only
 * opens sockets and attaches sources (both thread-safe); its tables are the loop's alone. */
static lite_mux *mux_get(GMainContext *ctx, const peer_config *cfg)
{
    g_mutex_lock(&mux_create_lock);
    GSource *found = g_main_context_find_source_by_funcs_user_data(ctx, &mux_funcs, &mux_funcs);
    if (found) {
        g_source_ref(found);
        g_mutex_unlock(&mux_create_lock);
        return (lite_mux *)found;
    }
    GSource *s = g_source_new(&mux_funcs, sizeof(lite_mux));
    lite_mux *mux = (lite_mux *)s;
    g_source_set_name(s, "media-ice-lite");
    g_source_set_callback(s, mux_never_called, &mux_funcs, NULL);
    /* Nothing iterates a loop's context recursively, and a source that may not recurse has its
     * fds taken out of the poll set and put back around every dispatch. */
    g_source_set_can_recurse(s, TRUE);
    mux->by_ufrag = g_hash_table_new(g_str_hash, g_str_equal);
    mux->by_addr = g_hash_table_new(addr_hash, addr_equal);
    mux->members = g_hash_table_new(g_direct_hash, g_direct_equal);
    mux->txq = media_txq_get(ctx);
    stun_agent_init(&mux->stun, known_attributes, STUN_COMPATIBILITY_RFC5389,
                    STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
    mux->tie = (uint64_t)g_random_int() << 32 | g_random_int();
    open_sockets(mux, cfg);
    mux->sweep = g_timeout_source_new(SWEEP_INTERVAL_MS);
    g_source_set_callback(mux->sweep, sweep, mux, NULL);
    g_source_attach(mux->sweep, ctx);
    g_source_attach(s, ctx);
    g_mutex_unlock(&mux_create_lock);
    LOG_INFO("ice", "ICE-lite: %d shared socket(s) on this loop", mux->nsock);
    return mux;   /* our reference; the context holds its own */
}

static uint64_t read_counter(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

/* Safe without a reference of our own: nothing destroys the mux source while its context
 * lives (mux_get attaches it, the context's finalization alone detaches it), so the context's
 * reference keeps what the lookup found alive as long as the caller keeps ctx alive. */
void ice_lite_mux_stats(GMainContext *ctx, ice_lite_counters *out)
{
    *out = (ice_lite_counters){0};
    GSource *found = g_main_context_find_source_by_funcs_user_data(ctx, &mux_funcs, &mux_funcs);
    if (!found)
        return;
    mux_counters *c = &((lite_mux *)found)->counters;
    out->datagrams = read_counter(&c->datagrams);
    out->reads = read_counter(&c->reads);
    out->checks = read_counter(&c->checks);
    out->refused = read_counter(&c->refused);
}

/* ---- the agent ---- */

static void set_creds(lite_creds *c, const char *ufrag, const char *pwd)
{
    g_strlcpy(c->ufrag, ufrag, sizeof c->ufrag);
    g_strlcpy(c->pwd, pwd, sizeof c->pwd);
    c->valid = true;
}

ice_lite *ice_lite_create(GMainContext *ctx, const peer_config *cfg, const char *ufrag, const char *pwd,
                          const media_ice_callbacks *cb)
{
    if (!ufrag || !pwd || !*ufrag || strlen(ufrag) >= CRED_CAP || strlen(pwd) >= CRED_CAP)
        return NULL;
    ice_lite *ice = calloc(1, sizeof *ice);
    if (!ice)
        return NULL;
    ice->mux = mux_get(ctx, cfg);
    ice->cb = *cb;
    ice->timeout_us = cfg->ice_lite_timeout_ms ? (gint64)cfg->ice_lite_timeout_ms * 1000 : CONSENT_TIMEOUT_US;
    set_creds(&ice->cur, ufrag, pwd);
    g_hash_table_replace(ice->mux->by_ufrag, ice->cur.ufrag, ice);
    g_hash_table_add(ice->mux->members, ice);
    return ice;
}

void ice_lite_stop(ice_lite *ice)
{
    if (!ice || ice->stopped)
        return;
    ice->stopped = true;
    lite_mux *mux = ice->mux;
    /* Queued datagrams may count into the owner's drop counter: out they go now. */
    media_txq_flush(mux->txq);
    forget_addresses(ice);
    lite_creds *c[2] = {&ice->cur, &ice->prev};
    for (int i = 0; i < 2; i++)
        if (c[i]->valid && g_hash_table_lookup(mux->by_ufrag, c[i]->ufrag) == ice)
            g_hash_table_remove(mux->by_ufrag, c[i]->ufrag);
    g_hash_table_remove(mux->members, ice);
}

void ice_lite_free(ice_lite *ice)
{
    if (!ice)
        return;
    ice_lite_stop(ice);
    g_source_unref(&ice->mux->source);
    free(ice);
}

void ice_lite_set_remote_credentials(ice_lite *ice)
{
    if (!ice->selected && !ice->failed && !ice->waiting_since)
        ice->waiting_since = g_get_monotonic_time();
}

int ice_lite_host_candidates(GMainContext *ctx, const peer_config *cfg, GString *out)
{
    lite_mux *mux = mux_get(ctx, cfg);
    int n = mux->nsock;
    for (int i = 0; i < n; i++) {
        char line[256], rewritten[256];
        /* Host candidates (RFC 8445 5.1.2.1): type preference 126, the first address first. */
        uint32_t priority = (126u << 24) | ((uint32_t)(65535 - i) << 8) | 255u;
        snprintf(line, sizeof line, "candidate:%d 1 udp %u %s %u typ host", i + 1, priority, mux->sock[i].ip,
                 mux->sock[i].port);
        const char *use = line;
        if (cfg->nat_1_1_ip && *cfg->nat_1_1_ip &&
            media_ice_rewrite_host(line, cfg->nat_1_1_ip, rewritten, sizeof rewritten))
            use = rewritten;
        g_string_append(out, use);
        g_string_append_c(out, '\n');
    }
    g_source_unref(&mux->source);
    if (n == 0)
        LOG_WARN("ice", "ICE-lite: no local address to offer");
    return n;
}

int ice_lite_gather(ice_lite *ice)
{
    if (ice->mux->nsock == 0)
        return MEDIA_ICE_EIO;
    if (!ice->stopped && ice->cb.gathering_done)
        ice->cb.gathering_done(ice->cb.user);
    return MEDIA_ICE_OK;
}

void ice_lite_restart(ice_lite *ice, const char *ufrag, const char *pwd)
{
    lite_mux *mux = ice->mux;
    if (ice->prev.valid && g_hash_table_lookup(mux->by_ufrag, ice->prev.ufrag) == ice)
        g_hash_table_remove(mux->by_ufrag, ice->prev.ufrag);
    /* The table's key is the string inside cur: move the entry along with it. */
    if (g_hash_table_lookup(mux->by_ufrag, ice->cur.ufrag) == ice)
        g_hash_table_remove(mux->by_ufrag, ice->cur.ufrag);
    ice->prev = ice->cur;
    g_hash_table_replace(mux->by_ufrag, ice->prev.ufrag, ice);
    set_creds(&ice->cur, ufrag, pwd);
    g_hash_table_replace(mux->by_ufrag, ice->cur.ufrag, ice);
    /* The new generation may nominate another address; the old one serves until then. */
    ice->nominated = false;
    if (ice->failed) {
        ice->failed = false;
        ice->waiting_since = g_get_monotonic_time();
    }
}

int ice_lite_send(ice_lite *ice, const uint8_t *buf, size_t len)
{
    if (ice->stopped || !ice->selected)
        return MEDIA_ICE_EIO;
    const lite_addr *a = &ice->known[ice->sel];
    return media_txq_send(ice->mux->txq, ice->mux->sock[a->sock].fd, (const struct sockaddr *)&ice->to,
                          ice->tolen, buf, len, ice->cb.dropped_out) == 0 ? MEDIA_ICE_OK : MEDIA_ICE_EIO;
}
