/*
 * poller: see poller.h.
 */
#include "core/poller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* GLib's and epoll's event bits are poll(2)'s on Linux, so they pass through unchanged. */
_Static_assert((int)G_IO_IN == (int)EPOLLIN && (int)G_IO_OUT == (int)EPOLLOUT &&
               (int)G_IO_PRI == (int)EPOLLPRI && (int)G_IO_ERR == (int)EPOLLERR &&
               (int)G_IO_HUP == (int)EPOLLHUP, "GLib and epoll event bits");

#define MAX_EVENTS 256
#define WATCHED (EPOLLIN | EPOLLOUT | EPOLLPRI)

typedef struct fd_slot {
    uint32_t seen;        /* the reconcile generation it was last in the array at */
    uint32_t want;        /* events it is registered with (when in_set) */
    int index;            /* its place in that array */
    bool in_set;
    bool unwatchable;     /* epoll refused it: iterations with it use poll(2) */
} fd_slot;

typedef struct poller {
    int epfd;
    fd_slot *slots;       /* by fd number */
    size_t n_slots;
    GPollFD *last;        /* the array as last reconciled (revents 0, as GLib hands it) */
    guint n_last, cap_last;
    bool stale;           /* reconcile even if the array looks the same */
    uint32_t gen;
    int unwatchable;      /* entries of the current array epoll refused */
    bool closed_noted;
    int64_t rebuilt_at;
    int batch_us;
    int64_t woke_at;      /* when the last wait returned */
    bool dense;           /* and it had waited less than batch_us for its events */
    poller_stats stats;
    struct epoll_event events[MAX_EVENTS];
} poller;

static _Thread_local poller *tls_poller;

static fd_slot *slot_of(poller *p, int fd)
{
    if ((size_t)fd >= p->n_slots) {
        size_t n = p->n_slots ? p->n_slots : 256;
        while (n <= (size_t)fd)
            n *= 2;
        p->slots = realloc(p->slots, n * sizeof *p->slots);
        memset(p->slots + p->n_slots, 0, (n - p->n_slots) * sizeof *p->slots);
        p->n_slots = n;
    }
    return &p->slots[fd];
}

static void rebuild(poller *p)
{
    int fresh = epoll_create1(EPOLL_CLOEXEC);
    if (fresh >= 0) {
        close(p->epfd);
        p->epfd = fresh;
    } else {
        /* Keep the old set but forget it: every fd is re-added (EEXIST is handled). */
    }
    memset(p->slots, 0, p->n_slots * sizeof *p->slots);
    p->n_last = 0;        /* nothing of the old array is in the new set */
    p->stale = true;
    p->closed_noted = false;
    p->rebuilt_at = g_get_monotonic_time();
    p->stats.rebuilds++;
}

/* Registers one entry with what it wants now; false if epoll cannot watch it. */
static bool watch(poller *p, fd_slot *s, int fd, uint32_t want)
{
    struct epoll_event ev = {.events = want, .data.fd = fd};
    int op = s->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(p->epfd, op, fd, &ev) != 0) {
        /* Our idea of the set was wrong (a rebuild without a fresh epoll fd, a close). */
        int retry = errno == EEXIST ? EPOLL_CTL_MOD : errno == ENOENT ? EPOLL_CTL_ADD : -1;
        if (retry < 0 || epoll_ctl(p->epfd, retry, fd, &ev) != 0)
            return false;
    }
    s->in_set = true;
    s->want = want;
    return true;
}

/* Fds of the previous array that are not in this one leave the set now: their number may
 * come back as another socket (after a close we were not told about), and a stale entry
 * would then hide it. */
static void forget_departed(poller *p)
{
    for (guint i = 0; i < p->n_last; i++) {
        int fd = p->last[i].fd;
        if (fd < 0 || (size_t)fd >= p->n_slots || p->slots[fd].seen == p->gen)
            continue;
        if (p->slots[fd].in_set)
            epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
        p->slots[fd] = (fd_slot){0};
    }
}

/* Brings the set in step with GLib's array; false when the array has a duplicate fd
 * (older GLib), which this iteration then leaves to poll(2). */
static bool reconcile(poller *p, const GPollFD *fds, guint n)
{
    p->stats.reconciles++;
    p->gen++;
    p->unwatchable = 0;
    for (guint i = 0; i < n; i++) {
        int fd = fds[i].fd;
        if (fd < 0)
            continue;
        fd_slot *s = slot_of(p, fd);
        if (s->seen == p->gen)
            return false;
        s->seen = p->gen;
        s->index = (int)i;
        uint32_t want = fds[i].events & WATCHED;
        if (!s->unwatchable && !(s->in_set && s->want == want) && !watch(p, s, fd, want)) {
            s->unwatchable = true;
            s->in_set = false;
        }
        p->unwatchable += s->unwatchable;
    }
    forget_departed(p);
    if (n > p->cap_last) {
        p->cap_last = n * 2;
        p->last = realloc(p->last, p->cap_last * sizeof *p->last);
    }
    memcpy(p->last, fds, n * sizeof *fds);
    p->n_last = n;
    p->stale = false;
    return true;
}

/* Sleeps out the rest of the batch interval begun at the last wake-up (see poller.h);
 * returns GLib's timeout less the time slept. */
static gint gather_batch(poller *p, gint timeout)
{
    if (p->batch_us <= 0 || timeout == 0 || !p->dense)
        return timeout;
    int64_t now = g_get_monotonic_time(), until = p->woke_at + p->batch_us;
    if (now >= until)
        return timeout;
    if (timeout > 0 && now + (int64_t)timeout * 1000 < until)
        until = now + (int64_t)timeout * 1000;
    struct timespec ts = {.tv_sec = until / G_USEC_PER_SEC,
                          .tv_nsec = (long)(until % G_USEC_PER_SEC) * 1000};
    p->stats.batch_waits++;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
    if (timeout < 0)
        return timeout;
    int64_t left = (int64_t)timeout * 1000 - (g_get_monotonic_time() - now);
    return left > 0 ? (gint)((left + 999) / 1000) : 0;
}

static int wait_ready(poller *p, GPollFD *fds, gint timeout)
{
    timeout = gather_batch(p, timeout);
    p->stats.waits++;
    int64_t waited_from = g_get_monotonic_time();
    /* Wake up for the periodic rebuild even when GLib has nothing timed. */
    int64_t left_ms = (p->rebuilt_at + POLLER_REBUILD_S * G_TIME_SPAN_SECOND -
                       g_get_monotonic_time()) / 1000 + 1;
    if (timeout < 0 || timeout > left_ms)
        timeout = (gint)(left_ms > 0 ? left_ms : 0);
    int r = epoll_wait(p->epfd, p->events, MAX_EVENTS, timeout);
    if (r < 0)
        return -1;
    p->woke_at = g_get_monotonic_time();
    p->dense = r > 0 && p->woke_at - waited_from < p->batch_us;
    int ready = 0;
    for (int k = 0; k < r; k++) {
        int fd = p->events[k].data.fd;
        fd_slot *s = &p->slots[fd];
        if (s->seen != p->gen) {
            /* No longer in GLib's array: stop watching it (see poller.h). */
            epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
            s->in_set = false;
            continue;
        }
        GPollFD *pf = &fds[s->index];
        pf->revents = (gushort)(p->events[k].events & (pf->events | G_IO_ERR | G_IO_HUP));
        ready += pf->revents != 0;
    }
    return ready;
}

static gint poller_poll(GPollFD *fds, guint n, gint timeout)
{
    poller *p = tls_poller;
    if (!p)
        return g_poll(fds, n, timeout);
    if (p->closed_noted ||
        g_get_monotonic_time() - p->rebuilt_at > POLLER_REBUILD_S * G_TIME_SPAN_SECOND)
        rebuild(p);
    bool same = !p->stale && n == p->n_last && memcmp(fds, p->last, n * sizeof *fds) == 0;
    if ((!same && !reconcile(p, fds, n)) || p->unwatchable) {
        p->stale = true;   /* a duplicate fd, or one epoll refused: look again next time */
        p->stats.fallbacks++;
        return g_poll(fds, n, timeout);
    }
    return wait_ready(p, fds, timeout);
}

bool poller_install(GMainContext *ctx, int batch_us)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return false;
    poller *p = calloc(1, sizeof *p);
    p->epfd = epfd;
    p->rebuilt_at = g_get_monotonic_time();
    p->batch_us = batch_us;
    tls_poller = p;
    g_main_context_set_poll_func(ctx, poller_poll);
    return true;
}

void poller_uninstall(void)
{
    poller *p = tls_poller;
    if (!p)
        return;
    tls_poller = NULL;
    close(p->epfd);
    free(p->slots);
    free(p->last);
    free(p);
}

void poller_note_fds_closed(void)
{
    if (tls_poller)
        tls_poller->closed_noted = true;
}

poller_stats poller_get_stats(void)
{
    return tls_poller ? tls_poller->stats : (poller_stats){0};
}
