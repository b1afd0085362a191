/* Unit tests of a loop's epoll poll function (core/poller) and its shared ticks (loop.h), on
 * a real one-loop pool: readiness reaches sources; a socket closed and replaced by another with
 * the same fd number in one dispatch is still watched (closes noted; and without a note, the
 * periodic rebuild); a source removed while its fd stays readable does not make the loop spin;
 * a descriptor epoll refuses (a regular file) falls back to poll(2); ticks run at their period,
 * and removing them from inside a tick (itself or another) is safe; batching gathers packets
 * that come close together. */
#include <fcntl.h>
#include <glib-unix.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "core/loop.h"
#include "core/poller.h"

static loop_pool_t *pool;
static loop_t *loop;

typedef struct watch {
    int fd;
    GSource *src;
    atomic_int fired;
    bool drain;          /* read what is there, so that the fd is readable once per write */
} watch;

static gboolean on_ready(gint fd, GIOCondition cond, gpointer data)
{
    (void)cond;
    watch *w = data;
    if (w->drain) {
        char buf[64];
        while (read(fd, buf, sizeof buf) > 0) {
        }
    }
    atomic_fetch_add(&w->fired, 1);
    return G_SOURCE_CONTINUE;
}

static void attach(watch *w)
{
    w->src = g_unix_fd_source_new(w->fd, G_IO_IN);
    g_source_set_callback(w->src, (GSourceFunc)(void (*)(void))on_ready, w, NULL);
    g_source_attach(w->src, loop_context(loop));
}

static void detach(watch *w)
{
    g_source_destroy(w->src);
    g_source_unref(w->src);
    w->src = NULL;
}

static void attach_cb(void *arg) { attach(arg); }
static void detach_cb(void *arg) { detach(arg); }

/* Descriptors a loop watched are closed on that loop (as libnice does): the poller may still
 * take them out of its set there. */
static void close_cb(void *arg) { close(*(int *)arg); }
static void close_on_loop(int fd) { loop_invoke_sync(loop, close_cb, &fd); }

static bool wait_fired(watch *w, int at_least, int ms)
{
    for (int i = 0; i < ms && atomic_load(&w->fired) < at_least; i++)
        g_usleep(1000);
    return atomic_load(&w->fired) >= at_least;
}

static poller_stats stats;
static void read_stats(void *arg) { (void)arg; stats = poller_get_stats(); }
static poller_stats loop_stats(void)
{
    loop_invoke_sync(loop, read_stats, NULL);
    return stats;
}

/* Two socket pairs: [0] is watched on the loop, [1] is where the test writes. */
static void test_readiness(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) == 0);
    watch w = {.fd = sv[0], .drain = true};
    loop_invoke_sync(loop, attach_cb, &w);
    for (int i = 1; i <= 5; i++) {
        CHECK(write(sv[1], "x", 1) == 1);
        CHECK(wait_fired(&w, i, 2000));
    }
    CHECK(loop_stats().waits > 0);
    loop_invoke_sync(loop, detach_cb, &w);
    close_on_loop(sv[0]);
    close(sv[1]);
}

typedef struct swap {
    watch *old, *fresh;
    int pair[2];
    bool note;
} swap;

/* In one dispatch: the old socket's source goes, the socket is closed, a new socket gets the
 * same number and a source with the same events in the same place of GLib's array. */
static void swap_on_loop(void *arg)
{
    swap *s = arg;
    detach(s->old);
    close(s->old->fd);
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, s->pair) == 0);
    if (s->pair[0] != s->old->fd) {          /* make the number come back */
        CHECK(dup2(s->pair[0], s->old->fd) == s->old->fd);
        close(s->pair[0]);
        s->pair[0] = s->old->fd;
    }
    s->fresh->fd = s->pair[0];
    attach(s->fresh);
    if (s->note)
        poller_note_fds_closed();
}

static void test_fd_reuse(bool note)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) == 0);
    watch a = {.fd = sv[0], .drain = true}, b = {.drain = true};
    loop_invoke_sync(loop, attach_cb, &a);
    CHECK(write(sv[1], "x", 1) == 1);
    CHECK(wait_fired(&a, 1, 2000));
    uint64_t rebuilds = loop_stats().rebuilds;
    swap s = {.old = &a, .fresh = &b, .note = note};
    loop_invoke_sync(loop, swap_on_loop, &s);
    CHECK(write(s.pair[1], "y", 1) == 1);
    /* Noted: at once. Not noted: by the periodic rebuild at the latest. */
    CHECK(wait_fired(&b, 1, note ? 1000 : (POLLER_REBUILD_S + 2) * 1000));
    CHECK(loop_stats().rebuilds > rebuilds);
    loop_invoke_sync(loop, detach_cb, &b);
    close_on_loop(s.pair[0]);
    close(s.pair[1]);
    close(sv[1]);
}

/* A readable fd whose source is gone must not wake the loop again and again. */
static void test_removed_source_quiet(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) == 0);
    watch w = {.fd = sv[0], .drain = false};
    loop_invoke_sync(loop, attach_cb, &w);
    CHECK(write(sv[1], "x", 1) == 1);
    CHECK(wait_fired(&w, 1, 2000));
    loop_invoke_sync(loop, detach_cb, &w);   /* the datagram stays unread */
    uint64_t before = loop_stats().waits;
    g_usleep(300 * 1000);
    uint64_t waits = loop_stats().waits - before;
    CHECK(waits < 20);
    close_on_loop(sv[0]);
    close(sv[1]);
}

static void test_regular_file(void)
{
    char path[] = "/tmp/parley-loop-poll-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    watch w = {.fd = fd, .drain = false};
    uint64_t fallbacks = loop_stats().fallbacks;
    loop_invoke_sync(loop, attach_cb, &w);
    CHECK(wait_fired(&w, 3, 2000));          /* a regular file is always readable */
    loop_invoke_sync(loop, detach_cb, &w);
    CHECK(loop_stats().fallbacks > fallbacks);
    close_on_loop(fd);
    /* And back on epoll afterwards. */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) == 0);
    watch s = {.fd = sv[0], .drain = true};
    loop_invoke_sync(loop, attach_cb, &s);
    uint64_t f2 = loop_stats().fallbacks;
    CHECK(write(sv[1], "x", 1) == 1);
    CHECK(wait_fired(&s, 1, 2000));
    poller_stats after = loop_stats();
    CHECK(after.fallbacks == f2);
    if (after.fallbacks != f2)
        fprintf(stderr, "fallbacks %llu -> %llu, reconciles %llu\n", (unsigned long long)f2,
                (unsigned long long)after.fallbacks, (unsigned long long)after.reconciles);
    loop_invoke_sync(loop, detach_cb, &s);
    close_on_loop(sv[0]);
    close(sv[1]);
}

/* ---- ticks ---- */

typedef struct ticker {
    loop_tick *tick;
    atomic_int calls;
    int stop_after;              /* removes itself at this call */
    struct ticker *victim;       /* removes this one at its first call */
} ticker;

static void on_tick(void *arg)
{
    ticker *t = arg;
    int n = atomic_fetch_add(&t->calls, 1) + 1;
    if (t->victim && t->victim->tick) {
        loop_tick_remove(t->victim->tick);
        t->victim->tick = NULL;
    }
    if (t->stop_after && n == t->stop_after) {
        loop_tick_remove(t->tick);
        t->tick = NULL;
    }
}

static ticker ta, tb, tc, td;
static void add_ticks(void *arg)
{
    (void)arg;
    ta.tick = loop_tick_add(loop, 100, on_tick, &ta);
    tb.tick = loop_tick_add(loop, 250, on_tick, &tb);     /* rounds up to 300 ms */
    tc.stop_after = 2;
    tc.tick = loop_tick_add(loop, 100, on_tick, &tc);
    td.tick = loop_tick_add(loop, 400, on_tick, &td);     /* removed by ta, never runs */
    ta.victim = &td;
}
static void remove_ticks(void *arg)
{
    (void)arg;
    loop_tick_remove(ta.tick);
    loop_tick_remove(tb.tick);
    ta.tick = tb.tick = NULL;
}

static void test_ticks(void)
{
    loop_invoke_sync(loop, add_ticks, NULL);
    g_usleep(1050 * 1000);
    loop_invoke_sync(loop, remove_ticks, NULL);
    int a = atomic_load(&ta.calls), b = atomic_load(&tb.calls);
    CHECK(a >= 8 && a <= 11);
    CHECK(b >= 2 && b <= 4);
    CHECK_INT(atomic_load(&tc.calls), 2);
    CHECK_INT(atomic_load(&td.calls), 0);
    g_usleep(250 * 1000);
    CHECK_INT(atomic_load(&ta.calls), a);    /* removed: no more calls */
}

/* With batching, packets 200 us apart are handled several per wake-up, none lost. */
static void test_batching(void)
{
    loop_pool_t *bpool = loop_pool_create_polled(1, true, 2000);
    loop_t *saved = loop;
    loop = loop_pool_get(bpool, 0);
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) == 0);
    watch w = {.fd = sv[0], .drain = true};
    loop_invoke_sync(loop, attach_cb, &w);
    poller_stats before = loop_stats();
    for (int i = 0; i < 50; i++) {
        CHECK(write(sv[1], "x", 1) == 1);
        g_usleep(200);
    }
    g_usleep(10 * 1000);
    poller_stats after = loop_stats();
    CHECK(atomic_load(&w.fired) >= 5 && atomic_load(&w.fired) < 50);
    CHECK(after.batch_waits > before.batch_waits);
    loop_invoke_sync(loop, detach_cb, &w);
    close_on_loop(sv[0]);
    close(sv[1]);
    loop_pool_destroy(bpool);
    loop = saved;
}

int main(void)
{
    pool = loop_pool_create(1);
    loop = loop_pool_get(pool, 0);
    test_readiness();
    test_fd_reuse(true);
    test_fd_reuse(false);
    test_removed_source_quiet();
    test_regular_file();
    test_ticks();
    test_batching();
    loop_pool_destroy(pool);
    return check_summary("loop_poll");
}
