/*
 * limits: see limits.h. Two tables under one mutex: users (sessions and PeerConnections of
 * an authenticated user) and sessions (handles of a Janus session, and its PeerConnections
 * when auth is off). An entry goes when all its counts are back to zero.
 *
 * Descriptor headroom: counting /proc/self/fd costs about 11 ms at 19 000 descriptors, too
 * much for every offer, so the count is cached: each PeerConnection admitted adds its
 * descriptors to the estimate, and the estimate is replaced by a real count once a second,
 * or at most every 50 ms while it says the server is close to the limit (closes are only
 * seen by a recount, so the estimate errs on the safe side).
 */
#include "core/limits.h"

#include <dirent.h>
#include <glib.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "util/log.h"

#define FD_RECOUNT_US (1 * G_USEC_PER_SEC)
#define FD_RECOUNT_NEAR_US (50 * 1000)
#define LOG_INTERVAL_US (10 * G_USEC_PER_SEC)

typedef struct user_entry {
    int sessions, peers;
} user_entry;

typedef struct session_entry {
    int handles, peers;
} session_entry;

typedef struct refusal_log {
    int64_t last_us;
    unsigned suppressed;
} refusal_log;

struct limits {
    limits_config cfg;
    GMutex lock;                 /* guards everything below */
    GHashTable *users;           /* uint64_t* user id -> user_entry* (both owned) */
    GHashTable *sessions;        /* uint64_t* session id -> session_entry* */
    int peers_live;
    int fds_estimate;            /* open descriptors: last count + peers admitted since */
    int64_t fds_counted_us;      /* monotonic time of the last count; 0 = never */
    refusal_log log[LIMIT_KIND_COUNT];
    atomic_uint_fast64_t refusals[LIMIT_KIND_COUNT];
};

static const char *const kind_names[LIMIT_KIND_COUNT] = {
    [LIMIT_NONE] = "",
    [LIMIT_SESSIONS_PER_USER] = "sessions_per_user",
    [LIMIT_HANDLES_PER_SESSION] = "handles_per_session",
    [LIMIT_PEERS_PER_USER] = "peers_per_user",
    [LIMIT_MAX_PEERS] = "max_peers",
    [LIMIT_FD_RESERVE] = "fd_reserve",
};

const char *limit_kind_name(limit_kind k)
{
    return k >= 0 && k < LIMIT_KIND_COUNT ? kind_names[k] : "";
}

limits *limits_create(const limits_config *cfg)
{
    limits *l = g_new0(limits, 1);
    l->cfg = *cfg;
    if (l->cfg.max_peers < 1)
        l->cfg.max_peers = 1;
    if (l->cfg.fds_per_peer < 1)
        l->cfg.fds_per_peer = 1;
    g_mutex_init(&l->lock);
    l->users = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    l->sessions = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    for (int k = 0; k < LIMIT_KIND_COUNT; k++)
        atomic_init(&l->refusals[k], 0);
    return l;
}

void limits_set_max_peers(limits *l, int max_peers)
{
    if (!l)
        return;
    g_mutex_lock(&l->lock);
    l->cfg.max_peers = max_peers < 1 ? 1 : max_peers;
    g_mutex_unlock(&l->lock);
}

void limits_destroy(limits *l)
{
    if (!l)
        return;
    g_hash_table_destroy(l->users);
    g_hash_table_destroy(l->sessions);
    g_mutex_clear(&l->lock);
    g_free(l);
}

/* ---- tables (l->lock held) ---- */

static void *entry_get(GHashTable *t, uint64_t id, size_t size, bool create)
{
    void *e = g_hash_table_lookup(t, &id);
    if (!e && create) {
        uint64_t *key = g_new(uint64_t, 1);
        *key = id;
        e = g_malloc0(size);
        g_hash_table_insert(t, key, e);
    }
    return e;
}

static void user_drop_if_empty(limits *l, uint64_t id, user_entry *u)
{
    if (u->sessions <= 0 && u->peers <= 0)
        g_hash_table_remove(l->users, &id);
}

static void session_drop_if_empty(limits *l, uint64_t id, session_entry *s)
{
    if (s->handles <= 0 && s->peers <= 0)
        g_hash_table_remove(l->sessions, &id);
}

/* ---- refusals ---- */

/* With l->lock held: counts the refusal and logs it (one line per kind per interval). */
static limit_kind refuse(limits *l, limit_kind k, const char *who, uint64_t id)
{
    atomic_fetch_add_explicit(&l->refusals[k], 1, memory_order_relaxed);
    refusal_log *rl = &l->log[k];
    int64_t now = g_get_monotonic_time();
    if (rl->last_us && now - rl->last_us < LOG_INTERVAL_US) {
        rl->suppressed++;
        return k;
    }
    unsigned suppressed = rl->suppressed;
    rl->last_us = now;
    rl->suppressed = 0;
    int limit = k == LIMIT_SESSIONS_PER_USER     ? l->cfg.sessions_per_user
                : k == LIMIT_HANDLES_PER_SESSION ? l->cfg.handles_per_session
                : k == LIMIT_PEERS_PER_USER      ? l->cfg.peers_per_user
                : k == LIMIT_MAX_PEERS           ? l->cfg.max_peers
                                                 : l->cfg.fd_reserve;
    LOG_WARN("limits", "refused for %s %" G_GUINT64_FORMAT ": limits.%s (%d) reached; %d live PeerConnections, "
             "about %d descriptors open (%u refusals of this kind not logged since the previous line)",
             who, id, kind_names[k], limit, l->peers_live, l->fds_estimate, suppressed);
    return k;
}

/* ---- sessions and handles ---- */

limit_kind limits_session_acquire(limits *l, uint64_t user_id)
{
    if (!l || !user_id)
        return LIMIT_NONE;
    g_mutex_lock(&l->lock);
    user_entry *u = entry_get(l->users, user_id, sizeof *u, true);
    limit_kind k = LIMIT_NONE;
    if (l->cfg.sessions_per_user > 0 && u->sessions >= l->cfg.sessions_per_user) {
        user_drop_if_empty(l, user_id, u);
        k = refuse(l, LIMIT_SESSIONS_PER_USER, "user", user_id);
    } else {
        u->sessions++;
    }
    g_mutex_unlock(&l->lock);
    return k;
}

void limits_session_release(limits *l, uint64_t user_id)
{
    if (!l || !user_id)
        return;
    g_mutex_lock(&l->lock);
    user_entry *u = entry_get(l->users, user_id, sizeof *u, false);
    if (u && u->sessions > 0) {
        u->sessions--;
        user_drop_if_empty(l, user_id, u);
    }
    g_mutex_unlock(&l->lock);
}

limit_kind limits_handle_acquire(limits *l, uint64_t session_id)
{
    if (!l)
        return LIMIT_NONE;
    g_mutex_lock(&l->lock);
    session_entry *s = entry_get(l->sessions, session_id, sizeof *s, true);
    limit_kind k = LIMIT_NONE;
    if (l->cfg.handles_per_session > 0 && s->handles >= l->cfg.handles_per_session) {
        session_drop_if_empty(l, session_id, s);
        k = refuse(l, LIMIT_HANDLES_PER_SESSION, "session", session_id);
    } else {
        s->handles++;
    }
    g_mutex_unlock(&l->lock);
    return k;
}

void limits_handle_release(limits *l, uint64_t session_id)
{
    if (!l)
        return;
    g_mutex_lock(&l->lock);
    session_entry *s = entry_get(l->sessions, session_id, sizeof *s, false);
    if (s && s->handles > 0) {
        s->handles--;
        session_drop_if_empty(l, session_id, s);
    }
    g_mutex_unlock(&l->lock);
}

/* ---- PeerConnections ---- */

int limits_count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* minus the directory's own descriptor */
}

static long long fd_soft_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return -1;
    return (long long)rl.rlim_cur;
}

/* With l->lock held. */
static void fd_recount(limits *l, int64_t now)
{
    int n = limits_count_open_fds();
    if (n >= 0)
        l->fds_estimate = n;
    l->fds_counted_us = now;
}

/* With l->lock held: whether one more PeerConnection leaves the reserve free. The soft limit
 * is read each time (an operator may lower it with prlimit on a running server). */
static bool fd_headroom(limits *l)
{
    if (l->cfg.fd_reserve <= 0)
        return true;
    long long limit = fd_soft_limit();
    if (limit < 0)
        return true;
    long long need = l->cfg.fds_per_peer + l->cfg.fd_reserve;
    int64_t now = g_get_monotonic_time();
    bool near = l->fds_estimate + need > limit;
    if (!l->fds_counted_us || now - l->fds_counted_us >= FD_RECOUNT_US ||
        (near && now - l->fds_counted_us >= FD_RECOUNT_NEAR_US))
        fd_recount(l, now);
    return l->fds_estimate + need <= limit;
}

limit_kind limits_peer_acquire(limits *l, uint64_t user_id, uint64_t session_id)
{
    if (!l)
        return LIMIT_NONE;
    g_mutex_lock(&l->lock);
    int *mine;
    void *entry;
    if (user_id) {
        user_entry *u = entry_get(l->users, user_id, sizeof *u, true);
        mine = &u->peers;
        entry = u;
    } else {
        session_entry *s = entry_get(l->sessions, session_id, sizeof *s, true);
        mine = &s->peers;
        entry = s;
    }
    limit_kind k = LIMIT_NONE;
    if (l->cfg.peers_per_user > 0 && *mine >= l->cfg.peers_per_user)
        k = LIMIT_PEERS_PER_USER;
    else if (l->peers_live >= l->cfg.max_peers)
        k = LIMIT_MAX_PEERS;
    else if (!fd_headroom(l))
        k = LIMIT_FD_RESERVE;
    if (k == LIMIT_NONE) {
        (*mine)++;
        l->peers_live++;
        if (l->cfg.fd_reserve > 0)
            l->fds_estimate += l->cfg.fds_per_peer;
    } else {
        if (user_id)
            user_drop_if_empty(l, user_id, entry);
        else
            session_drop_if_empty(l, session_id, entry);
        refuse(l, k, user_id ? "user" : "session", user_id ? user_id : session_id);
    }
    g_mutex_unlock(&l->lock);
    return k;
}

void limits_peer_release(limits *l, uint64_t user_id, uint64_t session_id)
{
    if (!l)
        return;
    g_mutex_lock(&l->lock);
    bool found = false;
    if (user_id) {
        user_entry *u = entry_get(l->users, user_id, sizeof *u, false);
        if (u && u->peers > 0) {
            u->peers--;
            user_drop_if_empty(l, user_id, u);
            found = true;
        }
    } else {
        session_entry *s = entry_get(l->sessions, session_id, sizeof *s, false);
        if (s && s->peers > 0) {
            s->peers--;
            session_drop_if_empty(l, session_id, s);
            found = true;
        }
    }
    if (found && l->peers_live > 0)
        l->peers_live--;
    g_mutex_unlock(&l->lock);
}

void limits_fd_refresh(limits *l)
{
    if (!l)
        return;
    g_mutex_lock(&l->lock);
    fd_recount(l, g_get_monotonic_time());
    g_mutex_unlock(&l->lock);
}

/* ---- reporting ---- */

void limits_reason(limits *l, limit_kind k, uint64_t user_id, char *out, size_t cap)
{
    limits_config c = {0};
    if (l) {
        g_mutex_lock(&l->lock);
        c = l->cfg;
        g_mutex_unlock(&l->lock);
    }
    switch (k) {
    case LIMIT_SESSIONS_PER_USER:
        snprintf(out, cap, "Too many sessions for this user (limit %d)", c.sessions_per_user);
        break;
    case LIMIT_HANDLES_PER_SESSION:
        snprintf(out, cap, "Too many handles in this session (limit %d)", c.handles_per_session);
        break;
    case LIMIT_PEERS_PER_USER:
        snprintf(out, cap, "Too many PeerConnections for this %s (limit %d)", user_id ? "user" : "session",
                 c.peers_per_user);
        break;
    case LIMIT_MAX_PEERS:
        snprintf(out, cap, "Server at its PeerConnection limit (%d), try again later", c.max_peers);
        break;
    case LIMIT_FD_RESERVE:
        snprintf(out, cap, "Server out of file descriptors for new PeerConnections, try again later");
        break;
    default:
        snprintf(out, cap, "%s", "");
        break;
    }
}

uint64_t limits_refusals(limits *l, limit_kind k)
{
    if (!l || k <= LIMIT_NONE || k >= LIMIT_KIND_COUNT)
        return 0;
    return atomic_load_explicit(&l->refusals[k], memory_order_relaxed);
}

int limits_peers_live(limits *l)
{
    if (!l)
        return 0;
    g_mutex_lock(&l->lock);
    int n = l->peers_live;
    g_mutex_unlock(&l->lock);
    return n;
}

int limits_max_peers(limits *l)
{
    if (!l)
        return 0;
    g_mutex_lock(&l->lock);
    int n = l->cfg.max_peers;
    g_mutex_unlock(&l->lock);
    return n;
}

static int user_count(limits *l, uint64_t id, bool peers)
{
    if (!l)
        return 0;
    g_mutex_lock(&l->lock);
    user_entry *u = entry_get(l->users, id, sizeof *u, false);
    int n = u ? (peers ? u->peers : u->sessions) : 0;
    g_mutex_unlock(&l->lock);
    return n;
}

static int session_count(limits *l, uint64_t id, bool peers)
{
    if (!l)
        return 0;
    g_mutex_lock(&l->lock);
    session_entry *s = entry_get(l->sessions, id, sizeof *s, false);
    int n = s ? (peers ? s->peers : s->handles) : 0;
    g_mutex_unlock(&l->lock);
    return n;
}

int limits_user_sessions(limits *l, uint64_t user_id) { return user_count(l, user_id, false); }
int limits_user_peers(limits *l, uint64_t user_id) { return user_count(l, user_id, true); }
int limits_session_handles(limits *l, uint64_t session_id) { return session_count(l, session_id, false); }
int limits_session_peers(limits *l, uint64_t session_id) { return session_count(l, session_id, true); }

int limits_derive_max_peers(long long fd_limit, int fds_open, int fd_reserve, int fds_per_peer, int port_range,
                            int *by_fds, int *by_ports)
{
    long long f = INT32_MAX, p = INT32_MAX;
    if (fd_limit > 0) {
        long long left = fd_limit - (fds_open > 0 ? fds_open : 0) - (fd_reserve > 0 ? fd_reserve : 0);
        f = left > 0 ? left / (fds_per_peer > 0 ? fds_per_peer : 1) : 0;
        if (f > INT32_MAX)
            f = INT32_MAX;
    }
    if (port_range > 0)
        p = port_range;
    if (by_fds)
        *by_fds = (int)f;
    if (by_ports)
        *by_ports = (int)p;
    long long m = f < p ? f : p;
    return m < 1 ? 1 : (int)m;
}
