/* Unit tests of core/limits: each cap refuses exactly at its limit and counts the refusal,
 * releases give units back (and unknown releases are ignored), auth-off sessions count
 * PeerConnections per session, max_peers is server-wide, the descriptor reserve refuses
 * under a lowered RLIMIT_NOFILE, the max_peers derivation, and concurrent acquire/release
 * never exceeds a cap nor leaks a count. */
#include <glib.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "core/limits.h"

static limits *make(int sessions, int handles, int peers, int max_peers, int reserve, int per_peer)
{
    limits_config c = {.sessions_per_user = sessions, .handles_per_session = handles, .peers_per_user = peers,
                       .max_peers = max_peers, .fd_reserve = reserve, .fds_per_peer = per_peer};
    return limits_create(&c);
}

static void test_null(void)
{
    CHECK_INT(limits_session_acquire(NULL, 7), LIMIT_NONE);
    CHECK_INT(limits_handle_acquire(NULL, 7), LIMIT_NONE);
    CHECK_INT(limits_peer_acquire(NULL, 7, 8), LIMIT_NONE);
    limits_session_release(NULL, 7);
    limits_handle_release(NULL, 7);
    limits_peer_release(NULL, 7, 8);
    CHECK_INT(limits_refusals(NULL, LIMIT_MAX_PEERS), 0);
    CHECK_INT(limits_peers_live(NULL), 0);
    limits_destroy(NULL);
}

static void test_sessions(void)
{
    limits *l = make(3, 0, 0, 100, 0, 3);
    for (int i = 0; i < 3; i++)
        CHECK_INT(limits_session_acquire(l, 42), LIMIT_NONE);
    CHECK_INT(limits_session_acquire(l, 42), LIMIT_SESSIONS_PER_USER);
    CHECK_INT(limits_session_acquire(l, 42), LIMIT_SESSIONS_PER_USER);
    CHECK_INT(limits_refusals(l, LIMIT_SESSIONS_PER_USER), 2);
    CHECK_INT(limits_user_sessions(l, 42), 3);
    /* Another user has its own count; user 0 (auth off) is never counted. */
    CHECK_INT(limits_session_acquire(l, 43), LIMIT_NONE);
    for (int i = 0; i < 10; i++)
        CHECK_INT(limits_session_acquire(l, 0), LIMIT_NONE);
    CHECK_INT(limits_user_sessions(l, 0), 0);
    limits_session_release(l, 42);
    CHECK_INT(limits_session_acquire(l, 42), LIMIT_NONE);
    for (int i = 0; i < 5; i++)   /* two more than held: the extra ones are ignored */
        limits_session_release(l, 42);
    CHECK_INT(limits_user_sessions(l, 42), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(limits_session_acquire(l, 42), LIMIT_NONE);
    CHECK_INT(limits_session_acquire(l, 42), LIMIT_SESSIONS_PER_USER);
    CHECK_INT(limits_refusals(l, LIMIT_SESSIONS_PER_USER), 3);
    CHECK_INT(limits_refusals(l, LIMIT_PEERS_PER_USER), 0);
    char reason[128];
    limits_reason(l, LIMIT_SESSIONS_PER_USER, 42, reason, sizeof reason);
    CHECK_STR(reason, "Too many sessions for this user (limit 3)");
    limits_destroy(l);

    /* 0 = no limit. */
    l = make(0, 0, 0, 100, 0, 3);
    for (int i = 0; i < 1000; i++)
        CHECK_INT(limits_session_acquire(l, 1), LIMIT_NONE);
    CHECK_INT(limits_user_sessions(l, 1), 1000);
    limits_destroy(l);
}

static void test_handles(void)
{
    limits *l = make(0, 2, 0, 100, 0, 3);
    CHECK_INT(limits_handle_acquire(l, 1000), LIMIT_NONE);
    CHECK_INT(limits_handle_acquire(l, 1000), LIMIT_NONE);
    CHECK_INT(limits_handle_acquire(l, 1000), LIMIT_HANDLES_PER_SESSION);
    CHECK_INT(limits_handle_acquire(l, 1001), LIMIT_NONE);
    CHECK_INT(limits_session_handles(l, 1000), 2);
    limits_handle_release(l, 1000);
    CHECK_INT(limits_handle_acquire(l, 1000), LIMIT_NONE);
    limits_handle_release(l, 999);   /* never acquired: ignored */
    CHECK_INT(limits_refusals(l, LIMIT_HANDLES_PER_SESSION), 1);
    char reason[128];
    limits_reason(l, LIMIT_HANDLES_PER_SESSION, 0, reason, sizeof reason);
    CHECK_STR(reason, "Too many handles in this session (limit 2)");
    limits_destroy(l);
}

static void test_peers(void)
{
    limits *l = make(0, 0, 2, 5, 0, 3);
    /* Per user, across its sessions. */
    CHECK_INT(limits_peer_acquire(l, 7, 100), LIMIT_NONE);
    CHECK_INT(limits_peer_acquire(l, 7, 101), LIMIT_NONE);
    CHECK_INT(limits_peer_acquire(l, 7, 102), LIMIT_PEERS_PER_USER);
    CHECK_INT(limits_user_peers(l, 7), 2);
    /* Auth off: per session. */
    CHECK_INT(limits_peer_acquire(l, 0, 200), LIMIT_NONE);
    CHECK_INT(limits_peer_acquire(l, 0, 200), LIMIT_NONE);
    CHECK_INT(limits_peer_acquire(l, 0, 200), LIMIT_PEERS_PER_USER);
    CHECK_INT(limits_session_peers(l, 200), 2);
    /* Server-wide: 4 live, one more fits, then max_peers refuses a fresh user. */
    CHECK_INT(limits_peer_acquire(l, 0, 201), LIMIT_NONE);
    CHECK_INT(limits_peers_live(l), 5);
    CHECK_INT(limits_peer_acquire(l, 8, 300), LIMIT_MAX_PEERS);
    /* The per-user check comes first. */
    CHECK_INT(limits_peer_acquire(l, 7, 100), LIMIT_PEERS_PER_USER);
    CHECK_INT(limits_refusals(l, LIMIT_MAX_PEERS), 1);
    CHECK_INT(limits_refusals(l, LIMIT_PEERS_PER_USER), 3);
    CHECK_INT(limits_user_peers(l, 8), 0);   /* a refusal leaves no entry behind */
    /* A release frees both the user's and the server's count. */
    limits_peer_release(l, 7, 100);
    CHECK_INT(limits_peers_live(l), 4);
    CHECK_INT(limits_peer_acquire(l, 8, 300), LIMIT_NONE);
    /* Unknown releases change nothing. */
    limits_peer_release(l, 9, 1);
    limits_peer_release(l, 0, 999);
    CHECK_INT(limits_peers_live(l), 5);
    limits_peer_release(l, 7, 101);
    limits_peer_release(l, 8, 300);
    limits_peer_release(l, 0, 200);
    limits_peer_release(l, 0, 200);
    limits_peer_release(l, 0, 201);
    CHECK_INT(limits_peers_live(l), 0);
    CHECK_INT(limits_user_peers(l, 7), 0);
    CHECK_INT(limits_session_peers(l, 200), 0);
    char reason[128];
    limits_reason(l, LIMIT_PEERS_PER_USER, 7, reason, sizeof reason);
    CHECK_STR(reason, "Too many PeerConnections for this user (limit 2)");
    limits_reason(l, LIMIT_PEERS_PER_USER, 0, reason, sizeof reason);
    CHECK_STR(reason, "Too many PeerConnections for this session (limit 2)");
    limits_reason(l, LIMIT_MAX_PEERS, 7, reason, sizeof reason);
    CHECK_STR(reason, "Server at its PeerConnection limit (5), try again later");
    limits_destroy(l);
    CHECK_STR(limit_kind_name(LIMIT_FD_RESERVE), "fd_reserve");
    CHECK_STR(limit_kind_name(LIMIT_SESSIONS_PER_USER), "sessions_per_user");
}

/* Lowers the soft RLIMIT_NOFILE so that exactly two peers fit above the reserve. */
static void test_fd_reserve(void)
{
    struct rlimit saved;
    CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    const int reserve = 64, per_peer = 3;
    int open_now = limits_count_open_fds();
    CHECK(open_now > 0);
    int fd0 = dup(0);
    CHECK_INT(limits_count_open_fds(), open_now + 1);
    close(fd0);
    struct rlimit low = saved;
    low.rlim_cur = (rlim_t)(open_now + reserve + 2 * per_peer);
    if (saved.rlim_cur != RLIM_INFINITY && low.rlim_cur > saved.rlim_cur) {
        fprintf(stderr, "test_fd_reserve: soft limit %ld too low to test\n", (long)saved.rlim_cur);
        return;
    }
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    limits *l = make(0, 0, 0, 1000, reserve, per_peer);
    /* Room for two: an acquire after a recount fits. (Between recounts the estimate also
     * adds each admitted peer's descriptors; not checked here, it depends on timing.) */
    limits_fd_refresh(l);
    CHECK_INT(limits_peer_acquire(l, 1, 1), LIMIT_NONE);
    limits_peer_release(l, 1, 1);
    /* Descriptors opened by someone else are seen after a recount: with 3 more, one peer
     * still fits exactly; with 4, it would eat into the reserve. */
    int fds[4];
    for (int i = 0; i < 3; i++)
        fds[i] = dup(0);
    limits_fd_refresh(l);
    CHECK_INT(limits_peer_acquire(l, 2, 2), LIMIT_NONE);
    limits_peer_release(l, 2, 2);
    fds[3] = dup(0);
    limits_fd_refresh(l);
    CHECK_INT(limits_peer_acquire(l, 2, 2), LIMIT_FD_RESERVE);
    CHECK_INT(limits_refusals(l, LIMIT_FD_RESERVE), 1);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    limits_fd_refresh(l);
    CHECK_INT(limits_peer_acquire(l, 2, 2), LIMIT_NONE);
    limits_peer_release(l, 2, 2);
    CHECK_INT(limits_peers_live(l), 0);
    limits_destroy(l);
    /* fd_reserve 0: no check at all. */
    l = make(0, 0, 0, 1000, 0, per_peer);
    for (int i = 0; i < 50; i++)
        CHECK_INT(limits_peer_acquire(l, 3, 3), LIMIT_NONE);
    limits_destroy(l);
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
}

static void test_derive(void)
{
    int f = 0, p = 0;
    /* The test servers: 20000 descriptors, 100 ports -> the ports decide. */
    CHECK_INT(limits_derive_max_peers(20000, 36, 256, 3, 100, &f, &p), 100);
    CHECK_INT(f, (20000 - 36 - 256) / 3);
    CHECK_INT(p, 100);
    /* ulimit -n 512: the descriptors decide. */
    CHECK_INT(limits_derive_max_peers(512, 12, 256, 3, 1000, &f, &p), 81);
    CHECK_INT(f, 81);
    /* The defaults on a host with two more addresses: 1048576 descriptors, 20001 ports. */
    CHECK_INT(limits_derive_max_peers(1048576, 40, 256, 5, 20001, NULL, NULL), 20001);
    CHECK_INT(limits_derive_max_peers(65536, 40, 256, 5, 20001, NULL, NULL), (65536 - 40 - 256) / 5);
    /* No descriptor limit: the ports. Nothing left: still 1 (the reserve check refuses). */
    CHECK_INT(limits_derive_max_peers(-1, 40, 256, 5, 300, &f, NULL), 300);
    CHECK_INT(f, INT32_MAX);
    CHECK_INT(limits_derive_max_peers(200, 40, 256, 5, 300, &f, NULL), 1);
    CHECK_INT(f, 0);
    CHECK_INT(limits_derive_max_peers(1000, 0, 0, 0, 0, &f, &p), 1000);
    CHECK_INT(p, INT32_MAX);
}

#define THREADS 8
#define ROUNDS 5000

typedef struct race {
    limits *l;
    atomic_int held, max_held, global_held, max_global;
} race;

static void note_max(atomic_int *max, int v)
{
    int m = atomic_load(max);
    while (v > m && !atomic_compare_exchange_weak(max, &m, v)) {
    }
}

/* Each round a thread takes up to 3 PeerConnections of user 5 (capped at 4) and 2 of its own
 * user (only max_peers, 6, caps those), holds them, then gives back what it got. */
static gpointer racer(gpointer data)
{
    race *r = data;
    uint64_t own = (uint64_t)g_random_int_range(1000, 1000000);
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t users[5] = {5, own, 5, own, 5};
        bool got[5];
        for (int k = 0; k < 5; k++) {
            got[k] = limits_peer_acquire(r->l, users[k], 1) == LIMIT_NONE;
            if (!got[k])
                continue;
            if (users[k] == 5)
                note_max(&r->max_held, atomic_fetch_add(&r->held, 1) + 1);
            note_max(&r->max_global, atomic_fetch_add(&r->global_held, 1) + 1);
        }
        bool handle = limits_handle_acquire(r->l, 77) == LIMIT_NONE;
        for (int k = 0; k < 5; k++) {
            if (!got[k])
                continue;
            if (users[k] == 5)
                atomic_fetch_sub(&r->held, 1);
            atomic_fetch_sub(&r->global_held, 1);
            limits_peer_release(r->l, users[k], 1);
        }
        if (handle)
            limits_handle_release(r->l, 77);
    }
    return NULL;
}

static void test_concurrent(void)
{
    race r = {.l = make(0, 3, 4, 6, 0, 3)};
    GThread *t[THREADS];
    for (int i = 0; i < THREADS; i++)
        t[i] = g_thread_new("racer", racer, &r);
    for (int i = 0; i < THREADS; i++)
        g_thread_join(t[i]);
    CHECK(atomic_load(&r.max_held) <= 4);
    CHECK(atomic_load(&r.max_global) <= 6);
    CHECK_INT(limits_peers_live(r.l), 0);
    CHECK_INT(limits_user_peers(r.l, 5), 0);
    CHECK_INT(limits_session_handles(r.l, 77), 0);
    fprintf(stderr, "concurrent: at most %d of user 5 and %d in all at once; %llu + %llu + %llu refusals\n",
            atomic_load(&r.max_held), atomic_load(&r.max_global),
            (unsigned long long)limits_refusals(r.l, LIMIT_PEERS_PER_USER),
            (unsigned long long)limits_refusals(r.l, LIMIT_MAX_PEERS),
            (unsigned long long)limits_refusals(r.l, LIMIT_HANDLES_PER_SESSION));
    limits_destroy(r.l);
}

int main(void)
{
    test_null();
    test_sessions();
    test_handles();
    test_peers();
    test_fd_reserve();
    test_derive();
    test_concurrent();
    return check_summary("core-limits");
}
