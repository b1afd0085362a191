/*
 * ice: see ice.h.
 */
#include "media/ice.h"

#include <gio/gio.h>
#include <netdb.h>
#include <nice/agent.h>
#include <sys/socket.h>
#include <nice/interfaces.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/poller.h"
#include "media/ice_lite.h"
#include "media/txq.h"
#include "util/log.h"

#define COMPONENT 1

struct media_ice {
    ice_lite *lite;           /* set: the ICE-lite agent does everything (ice_lite.h) */
    NiceAgent *agent;
    guint stream;
    GMainContext *ctx;
    media_ice_callbacks cb;
    bool stopped;
    bool gathering;
    char *nat_ip;
    gulong sig_state, sig_cand, sig_done, sig_pair;

    /* The direct send path: the selected pair's socket and remote address, read again from
     * libnice after any selected-pair or state change (dirty). Unusable (fd < 0) for relayed
     * pairs and whenever the component is not CONNECTED/READY (consent lost, failed,
     * checking), when nice_agent_send does the job and its checks. */
    media_txq *txq;
    bool usable;              /* component CONNECTED or READY */
    bool dirty;
    int fd;
    GSocket *sock;            /* holds the fd open */
    struct sockaddr_storage to;
    socklen_t tolen;
};

/* ICE chars (RFC 5245 15.1): ALPHA / DIGIT / "+" / "/". */
static void random_ice_string(char *out, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t rnd[64];
    if (RAND_bytes(rnd, (int)len) != 1)
        for (size_t i = 0; i < len; i++)
            rnd[i] = (uint8_t)g_random_int();
    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[rnd[i] & 63];
    out[len] = '\0';
}

void media_ice_make_credentials(char *ufrag, char *pwd)
{
    random_ice_string(ufrag, MEDIA_ICE_UFRAG_LEN);
    random_ice_string(pwd, MEDIA_ICE_PWD_LEN);
}

/* ---- signals (on the loop thread) ---- */

static void on_state(NiceAgent *agent, guint stream, guint component, guint state, gpointer data)
{
    media_ice *ice = data;
    LOG_DEBUG("ice", "%p component state %s", (void *)ice, nice_component_state_to_string(state));
    ice->usable = state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY;
    ice->dirty = true;
    if (ice->stopped || !ice->cb.state)
        return;
    switch (state) {
    case NICE_COMPONENT_STATE_CONNECTING:
        ice->cb.state(ice->cb.user, MEDIA_ICE_CHECKING);
        break;
    case NICE_COMPONENT_STATE_CONNECTED:
    case NICE_COMPONENT_STATE_READY:
        ice->cb.state(ice->cb.user, MEDIA_ICE_CONNECTED);
        break;
    case NICE_COMPONENT_STATE_FAILED:
        ice->cb.state(ice->cb.user, MEDIA_ICE_FAILED);
        break;
    default:
        break;
    }
}

bool media_ice_rewrite_host(const char *candidate, const char *public_ip, char *out, size_t cap)
{
    /* candidate:<foundation> <component> <transport> <priority> <address> <port> typ host ... */
    if (!strstr(candidate, " typ host"))
        return false;
    const char *p = candidate;
    for (int field = 0; field < 4; field++) {
        p = strchr(p, ' ');
        if (!p)
            return false;
        p++;
    }
    const char *end = strchr(p, ' ');
    if (!end)
        return false;
    bool v6_cand = memchr(p, ':', (size_t)(end - p)) != NULL;
    bool v6_pub = strchr(public_ip, ':') != NULL;
    if (v6_cand != v6_pub)
        return false;
    int n = snprintf(out, cap, "%.*s%s%s", (int)(p - candidate), candidate, public_ip, end);
    return n > 0 && (size_t)n < cap;
}

static void emit_candidate(media_ice *ice, NiceCandidate *cand)
{
    gchar *sdp = nice_agent_generate_local_candidate_sdp(ice->agent, cand);
    if (!sdp)
        return;
    const char *line = g_str_has_prefix(sdp, "a=") ? sdp + 2 : sdp;
    char rewritten[512];
    if (ice->nat_ip && media_ice_rewrite_host(line, ice->nat_ip, rewritten, sizeof rewritten))
        line = rewritten;
    ice->cb.candidate(ice->cb.user, line);
    g_free(sdp);
}

static void on_candidate(NiceAgent *agent, NiceCandidate *cand, gpointer data)
{
    media_ice *ice = data;
    if (!ice->stopped && ice->cb.candidate)
        emit_candidate(ice, cand);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
    media_ice *ice = data;
    if (!ice->stopped && ice->cb.gathering_done)
        ice->cb.gathering_done(ice->cb.user);
}

static void on_selected_pair(NiceAgent *agent, guint stream, guint component,
                             NiceCandidate *local, NiceCandidate *remote, gpointer data)
{
    media_ice *ice = data;
    ice->dirty = true;
}

/* GLib blocks a source that is not allowed to recurse for the time of its dispatch: it
 * removes its fds from the poll set and adds them back, and each of the two writes to the
 * context's wakeup fd, so the next poll returns at once for nothing. That is two syscalls
 * and a spurious loop iteration per dispatch of libnice's socket source, i.e. per packet
 * under light load. Nothing on a loop ever iterates the context recursively (loop.h: no
 * loop_invoke_sync from a loop thread, and we never call libnice's blocking receive), so
 * letting the source recurse changes nothing else. */
static void let_source_recurse(void)
{
    GSource *cur = g_main_current_source();
    if (cur && !g_source_get_can_recurse(cur))
        g_source_set_can_recurse(cur, TRUE);
}

static void on_recv(NiceAgent *agent, guint stream, guint component, guint len, gchar *buf,
                    gpointer data)
{
    media_ice *ice = data;
    let_source_recurse();
    /* What the packet makes us send waits for the end of this loop iteration. */
    media_txq_open(ice->txq);
    if (!ice->stopped && ice->cb.recv)
        ice->cb.recv(ice->cb.user, (const uint8_t *)buf, len);
}

static void drop_direct(media_ice *ice)
{
    if (ice->sock)
        g_object_unref(ice->sock);
    ice->sock = NULL;
    ice->fd = -1;
}

/* ---- server addresses ---- */

#define RESOLVE_TTL_US (300 * G_TIME_SPAN_SECOND)

typedef struct resolved {
    char ip[64];
    gint64 at;
} resolved;

static GMutex resolve_lock;
static GHashTable *resolve_cache;   /* host -> resolved */

static bool lookup(const char *host, char *out, size_t cap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return false;
    /* Prefer IPv4: TURN/STUN servers are reached from any host candidate family libnice
     * pairs with, and IPv4 is the one every deployment has. */
    struct addrinfo *pick = res;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    bool ok = getnameinfo(pick->ai_addr, pick->ai_addrlen, out, (socklen_t)cap, NULL, 0,
                          NI_NUMERICHOST) == 0;
    freeaddrinfo(res);
    return ok;
}

bool media_ice_resolve(const char *host, char *out, size_t cap)
{
    NiceAddress addr;
    if (!host || !*host)
        return false;
    if (nice_address_set_from_string(&addr, host)) {
        g_strlcpy(out, host, cap);
        return true;
    }
    gint64 now = g_get_monotonic_time();
    g_mutex_lock(&resolve_lock);
    if (!resolve_cache)
        resolve_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    resolved *r = g_hash_table_lookup(resolve_cache, host);
    bool fresh = r && now - r->at < RESOLVE_TTL_US;
    if (fresh)
        g_strlcpy(out, r->ip, cap);
    g_mutex_unlock(&resolve_lock);
    if (fresh)
        return true;
    char ip[64];
    if (!lookup(host, ip, sizeof ip)) {
        LOG_WARN("ice", "cannot resolve '%s'", host);
        return false;
    }
    g_mutex_lock(&resolve_lock);
    r = g_new0(resolved, 1);
    g_strlcpy(r->ip, ip, sizeof r->ip);
    r->at = now;
    g_hash_table_replace(resolve_cache, g_strdup(host), r);
    g_mutex_unlock(&resolve_lock);
    g_strlcpy(out, ip, cap);
    return true;
}

/* ---- set up ---- */

typedef void (*address_fn)(void *user, NiceAddress *addr);

/* Calls fn for ip unless it was seen already or does not parse. */
static void visit_address(GHashTable *seen, const char *ip, address_fn fn, void *user)
{
    if (g_hash_table_contains(seen, ip))
        return;
    NiceAddress addr;
    nice_address_init(&addr);
    if (!nice_address_set_from_string(&addr, ip)) {
        LOG_WARN("ice", "ignoring bad local address '%s'", ip);
        return;
    }
    g_hash_table_add(seen, g_strdup(ip));
    fn(user, &addr);
}

static bool usable_interface_ip(const char *ip, bool ipv6)
{
    bool v6 = strchr(ip, ':') != NULL;
    if (v6 && (!ipv6 || g_ascii_strncasecmp(ip, "fe80", 4) == 0))
        return false;
    return true;
}

/* Each distinct local address an agent gathers on, once: bind_ips exactly, or else the
 * machine's interfaces plus loopback when allowed. Adding any address turns libnice's own
 * discovery off, so with loopback wanted we list the interfaces ourselves. */
static void each_local_address(const peer_config *cfg, address_fn fn, void *user)
{
    GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (cfg->bind_ips && *cfg->bind_ips) {
        gchar **ips = g_strsplit(cfg->bind_ips, ",", -1);
        for (gchar **ip = ips; *ip; ip++) {
            g_strstrip(*ip);
            if (**ip && usable_interface_ip(*ip, cfg->ipv6))
                visit_address(seen, *ip, fn, user);
        }
        g_strfreev(ips);
    } else if (cfg->allow_loopback) {
        GList *ips = nice_interfaces_get_local_ips(FALSE);
        for (GList *l = ips; l; l = l->next)
            if (usable_interface_ip(l->data, cfg->ipv6))
                visit_address(seen, l->data, fn, user);
        g_list_free_full(ips, g_free);
    }
    /* A list the operator wrote is taken as it is: loopback sockets would cost every peer two
     * more descriptors and sources for candidates no remote client can reach. */
    if (cfg->allow_loopback && !(cfg->bind_ips && *cfg->bind_ips)) {
        visit_address(seen, "127.0.0.1", fn, user);
        if (cfg->ipv6)
            visit_address(seen, "::1", fn, user);
    }
    g_hash_table_destroy(seen);
}

static void add_to_agent(void *user, NiceAddress *addr)
{
    media_ice *ice = user;
    nice_agent_add_local_address(ice->agent, addr);
}

static void add_local_addresses(media_ice *ice, const peer_config *cfg) { each_local_address(cfg, add_to_agent, ice); }

static void collect_ip(void *user, NiceAddress *addr)
{
    char ip[NICE_ADDRESS_STRING_LEN];
    nice_address_to_string(addr, ip);
    g_ptr_array_add(user, g_strdup(ip));
}

GPtrArray *media_ice_local_ips(const peer_config *cfg)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    each_local_address(cfg, collect_ip, out);
    if (out->len == 0) {
        GList *ips = nice_interfaces_get_local_ips(FALSE);
        for (GList *l = ips; l; l = l->next)
            if (usable_interface_ip(l->data, cfg->ipv6))
                g_ptr_array_add(out, g_strdup(l->data));
        g_list_free_full(ips, g_free);
    }
    return out;
}

int media_ice_local_address_count(const peer_config *cfg)
{
    GPtrArray *ips = media_ice_local_ips(cfg);
    int n = (int)ips->len;
    g_ptr_array_free(ips, TRUE);
    return n;
}

static void set_servers(media_ice *ice, const peer_config *cfg)
{
    if (cfg->stun_host && *cfg->stun_host)
        g_object_set(ice->agent, "stun-server", cfg->stun_host, "stun-server-port",
                     (guint)(cfg->stun_port ? cfg->stun_port : 3478), NULL);
    if (cfg->turn_host && *cfg->turn_host &&
        !nice_agent_set_relay_info(ice->agent, ice->stream, COMPONENT, cfg->turn_host,
                                   cfg->turn_port ? cfg->turn_port : 3478,
                                   cfg->turn_user ? cfg->turn_user : "",
                                   cfg->turn_pwd ? cfg->turn_pwd : "", NICE_RELAY_TYPE_TURN_UDP))
        LOG_WARN("ice", "bad TURN server '%s' (an IP address is needed)", cfg->turn_host);
}

media_ice *media_ice_create(GMainContext *ctx, const peer_config *cfg, bool controlling,
                            const char *ufrag, const char *pwd, const media_ice_callbacks *cb)
{
    media_ice *ice = calloc(1, sizeof *ice);
    if (!ice)
        return NULL;
    ice->ctx = ctx;
    ice->cb = *cb;
    ice->fd = -1;
    ice->dirty = true;
    if (cfg->ice_lite) {
        ice->lite = ice_lite_create(ctx, cfg, ufrag, pwd, cb);
        if (!ice->lite) {
            free(ice);
            return NULL;
        }
        return ice;
    }
    /* Without consent freshness libnice keeps the pair alive with binding indications; with
     * it, libnice 0.1.21 can fail a live pair under a few percent of packet loss. */
    NiceAgentOption opts = NICE_AGENT_OPTION_ICE_TRICKLE;
    if (cfg->consent_freshness)
        opts |= NICE_AGENT_OPTION_CONSENT_FRESHNESS;
    ice->agent = nice_agent_new_full(ctx, NICE_COMPATIBILITY_RFC5245, opts);
    if (!ice->agent) {
        free(ice);
        return NULL;
    }
    ice->txq = media_txq_get(ctx);
    g_object_set(ice->agent, "controlling-mode", controlling, "ice-tcp", FALSE, "ice-udp", TRUE,
                 "upnp", FALSE, NULL);
    if (cfg->nat_1_1_ip && *cfg->nat_1_1_ip)
        ice->nat_ip = strdup(cfg->nat_1_1_ip);
    add_local_addresses(ice, cfg);
    ice->stream = nice_agent_add_stream(ice->agent, 1);
    nice_agent_set_stream_name(ice->agent, ice->stream, "application");
    if (cfg->port_min || cfg->port_max)
        nice_agent_set_port_range(ice->agent, ice->stream, COMPONENT, cfg->port_min,
                                  cfg->port_max ? cfg->port_max : 65535);
    set_servers(ice, cfg);
    nice_agent_set_local_credentials(ice->agent, ice->stream, ufrag, pwd);
    ice->sig_state = g_signal_connect(ice->agent, "component-state-changed", G_CALLBACK(on_state), ice);
    ice->sig_cand = g_signal_connect(ice->agent, "new-candidate-full", G_CALLBACK(on_candidate), ice);
    ice->sig_done = g_signal_connect(ice->agent, "candidate-gathering-done",
                                     G_CALLBACK(on_gathering_done), ice);
    ice->sig_pair = g_signal_connect(ice->agent, "new-selected-pair-full",
                                     G_CALLBACK(on_selected_pair), ice);
    nice_agent_attach_recv(ice->agent, ice->stream, COMPONENT, ctx, on_recv, ice);
    return ice;
}

void media_ice_stop(media_ice *ice)
{
    if (!ice || ice->stopped)
        return;
    ice->stopped = true;
    if (ice->lite) {
        ice_lite_stop(ice->lite);
        return;
    }
    g_signal_handler_disconnect(ice->agent, ice->sig_state);
    g_signal_handler_disconnect(ice->agent, ice->sig_cand);
    g_signal_handler_disconnect(ice->agent, ice->sig_done);
    g_signal_handler_disconnect(ice->agent, ice->sig_pair);
    nice_agent_attach_recv(ice->agent, ice->stream, COMPONENT, ice->ctx, NULL, NULL);
    /* Queued datagrams name our socket and drop counter: out they go before either is gone. */
    media_txq_flush(ice->txq);
    drop_direct(ice);
    ice->usable = false;
}

void media_ice_free(media_ice *ice)
{
    if (!ice)
        return;
    media_ice_stop(ice);
    if (ice->lite) {
        ice_lite_free(ice->lite);
    } else {
        nice_agent_remove_stream(ice->agent, ice->stream);
        g_object_unref(ice->agent);
        /* Its sockets are closed: their numbers may come back as other sockets. */
        poller_note_fds_closed();
        media_txq_unref(ice->txq);
    }
    free(ice->nat_ip);
    free(ice);
}

int media_ice_set_remote_credentials(media_ice *ice, const char *ufrag, const char *pwd)
{
    if (!ufrag || !pwd || !*ufrag || !*pwd)
        return MEDIA_ICE_EINVAL;
    if (ice->lite) {
        /* Checks carry our credentials only; theirs mark when checks should start coming. */
        ice_lite_set_remote_credentials(ice->lite);
        return MEDIA_ICE_OK;
    }
    return nice_agent_set_remote_credentials(ice->agent, ice->stream, ufrag, pwd)
               ? MEDIA_ICE_OK : MEDIA_ICE_EINVAL;
}

void media_ice_set_controlling(media_ice *ice, bool controlling)
{
    if (ice->lite)
        return;   /* a lite agent is always the controlled one */
    g_object_set(ice->agent, "controlling-mode", controlling, NULL);
}

int media_ice_gather(media_ice *ice)
{
    if (ice->gathering)
        return MEDIA_ICE_OK;
    ice->gathering = true;
    if (ice->lite)
        return ice_lite_gather(ice->lite);
    if (!nice_agent_gather_candidates(ice->agent, ice->stream)) {
        LOG_WARN("ice", "gathering failed (no usable local address or port)");
        return MEDIA_ICE_EIO;
    }
    return MEDIA_ICE_OK;
}

int media_ice_add_remote_candidate(media_ice *ice, const char *candidate)
{
    if (!candidate)
        return MEDIA_ICE_EINVAL;
    while (*candidate == ' ')
        candidate++;
    if (g_str_has_prefix(candidate, "a="))
        candidate += 2;
    if (!g_str_has_prefix(candidate, "candidate:"))
        return MEDIA_ICE_EINVAL;
    if (ice->lite)
        return MEDIA_ICE_OK;   /* the remote's addresses are learnt from its checks */
    gchar *line = g_strconcat("a=", candidate, NULL);
    g_strchomp(line);
    NiceCandidate *cand = nice_agent_parse_remote_candidate_sdp(ice->agent, ice->stream, line);
    g_free(line);
    if (!cand)
        return MEDIA_ICE_EINVAL;
    int r = MEDIA_ICE_OK;
    if (cand->transport != NICE_CANDIDATE_TRANSPORT_UDP) {
        r = MEDIA_ICE_EINVAL;
    } else {
        GSList *list = g_slist_append(NULL, cand);
        if (nice_agent_set_remote_candidates(ice->agent, ice->stream, COMPONENT, list) < 1)
            r = MEDIA_ICE_EINVAL;
        g_slist_free(list);
    }
    nice_candidate_free(cand);
    return r;
}

void media_ice_remote_candidates_done(media_ice *ice)
{
    if (ice->lite)
        return;
    nice_agent_peer_candidate_gathering_done(ice->agent, ice->stream);
}

int media_ice_restart(media_ice *ice, const char *ufrag, const char *pwd)
{
    if (ice->lite) {
        ice_lite_restart(ice->lite, ufrag, pwd);
        return MEDIA_ICE_OK;
    }
    if (!nice_agent_restart_stream(ice->agent, ice->stream))
        return MEDIA_ICE_EIO;
    nice_agent_set_local_credentials(ice->agent, ice->stream, ufrag, pwd);
    ice->dirty = true;
    return MEDIA_ICE_OK;
}

/* Reads the selected pair again: its local socket (none for a relayed candidate: TURN wraps
 * what we send) and the remote address. */
static void refresh_direct(media_ice *ice)
{
    ice->dirty = false;
    drop_direct(ice);
    NiceCandidate *local = NULL, *remote = NULL;
    if (!ice->usable ||
        !nice_agent_get_selected_pair(ice->agent, ice->stream, COMPONENT, &local, &remote) ||
        !local || !remote || local->type == NICE_CANDIDATE_TYPE_RELAYED ||
        local->transport != NICE_CANDIDATE_TRANSPORT_UDP)
        return;
    GSocket *sock = nice_agent_get_selected_socket(ice->agent, ice->stream, COMPONENT);
    if (!sock || g_socket_is_closed(sock) || g_socket_get_fd(sock) < 0) {
        if (sock)
            g_object_unref(sock);
        return;
    }
    memset(&ice->to, 0, sizeof ice->to);
    nice_address_copy_to_sockaddr(&remote->addr, (struct sockaddr *)&ice->to);
    ice->tolen = ice->to.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in);
    ice->sock = sock;
    ice->fd = g_socket_get_fd(sock);
}

int media_ice_send(media_ice *ice, const uint8_t *buf, size_t len)
{
    if (ice->stopped)
        return MEDIA_ICE_EIO;
    if (ice->lite)
        return ice_lite_send(ice->lite, buf, len);
    /* libnice closes sockets only with their stream, but an fd number is reused at once:
     * never write to one it has closed. */
    if (ice->dirty || (ice->sock && g_socket_is_closed(ice->sock)))
        refresh_direct(ice);
    if (ice->fd >= 0)
        return media_txq_send(ice->txq, ice->fd, (const struct sockaddr *)&ice->to, ice->tolen,
                              buf, len, ice->cb.dropped_out) == 0 ? MEDIA_ICE_OK : MEDIA_ICE_EIO;
    gint n = nice_agent_send(ice->agent, ice->stream, COMPONENT, (guint)len, (const gchar *)buf);
    return n == (gint)len ? MEDIA_ICE_OK : MEDIA_ICE_EIO;
}
