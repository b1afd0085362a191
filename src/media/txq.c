/*
 * txq: see txq.h.
 */
#include "media/txq.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

typedef struct txq_slot {
    int fd;
    socklen_t tolen;
    uint32_t len;
    _Atomic uint64_t *dropped;
    struct sockaddr_storage to;
    uint8_t data[MEDIA_TXQ_SLOT];
} txq_slot;

struct media_txq {
    GSource source;           /* first: the queue is a GSource */
    bool open;
    unsigned n;
    uint64_t flush_calls, flushed;
    txq_slot slot[MEDIA_TXQ_MAX];
};

static void count_drop(_Atomic uint64_t *dropped)
{
    if (dropped)
        atomic_fetch_add_explicit(dropped, 1, memory_order_relaxed);
}

/* Sends msgs[0..n) on fd, dropping what the kernel refuses (never waiting). */
static void send_run(media_txq *q, int fd, struct mmsghdr *msgs, txq_slot **slots, unsigned n)
{
    unsigned i = 0;
    while (i < n) {
        int r = sendmmsg(fd, msgs + i, n - i, MSG_DONTWAIT);
        q->flush_calls++;
        if (r > 0) {
            q->flushed += (unsigned)r;
            i += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* The buffer is full: the rest would fail the same way. */
            for (; i < n; i++)
                count_drop(slots[i]->dropped);
            return;
        }
        count_drop(slots[i]->dropped);   /* this one is refused (route, firewall...) */
        i++;
    }
}

void media_txq_flush(media_txq *q)
{
    struct mmsghdr msgs[MEDIA_TXQ_MAX];
    struct iovec iov[MEDIA_TXQ_MAX];
    txq_slot *slots[MEDIA_TXQ_MAX];
    bool done[MEDIA_TXQ_MAX] = {false};
    /* One sendmmsg per socket, in queue order within each socket. */
    for (unsigned i = 0; i < q->n; i++) {
        if (done[i])
            continue;
        int fd = q->slot[i].fd;
        unsigned k = 0;
        for (unsigned j = i; j < q->n; j++) {
            txq_slot *s = &q->slot[j];
            if (done[j] || s->fd != fd)
                continue;
            done[j] = true;
            iov[k] = (struct iovec){.iov_base = s->data, .iov_len = s->len};
            msgs[k] = (struct mmsghdr){.msg_hdr = {.msg_name = &s->to, .msg_namelen = s->tolen,
                                                   .msg_iov = &iov[k], .msg_iovlen = 1}};
            slots[k++] = s;
        }
        send_run(q, fd, msgs, slots, k);
    }
    q->n = 0;
}

static int send_now(int fd, const struct sockaddr *to, socklen_t tolen, const uint8_t *buf,
                    size_t len, _Atomic uint64_t *dropped)
{
    ssize_t r;
    do {
        r = sendto(fd, buf, len, MSG_DONTWAIT, to, tolen);
    } while (r < 0 && errno == EINTR);
    if (r == (ssize_t)len)
        return 0;
    count_drop(dropped);
    return -1;
}

int media_txq_send(media_txq *q, int fd, const struct sockaddr *to, socklen_t tolen,
                   const uint8_t *buf, size_t len, _Atomic uint64_t *dropped)
{
    if (!q->open || len > MEDIA_TXQ_SLOT || tolen > sizeof(struct sockaddr_storage)) {
        if (q->n)
            media_txq_flush(q);   /* keep the order of what is queued before it */
        return send_now(fd, to, tolen, buf, len, dropped);
    }
    if (q->n == MEDIA_TXQ_MAX)
        media_txq_flush(q);
    txq_slot *s = &q->slot[q->n++];
    s->fd = fd;
    s->tolen = tolen;
    s->len = (uint32_t)len;
    s->dropped = dropped;
    memcpy(&s->to, to, tolen);
    memcpy(s->data, buf, len);
    return 0;
}

void media_txq_open(media_txq *q)
{
    q->open = true;
}

/* Runs before every poll of the loop, after everything the previous iteration dispatched:
 * the natural end of a receive batch. */
static gboolean txq_prepare(GSource *source, gint *timeout)
{
    media_txq *q = (media_txq *)source;
    if (q->n)
        media_txq_flush(q);
    q->open = false;
    *timeout = -1;
    return FALSE;
}

static gboolean txq_check(GSource *source)
{
    (void)source;
    return FALSE;
}

static gboolean txq_dispatch(GSource *source, GSourceFunc cb, gpointer data)
{
    (void)source, (void)cb, (void)data;
    return G_SOURCE_CONTINUE;
}

static gboolean txq_never_called(gpointer data)
{
    (void)data;
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs txq_funcs = {.prepare = txq_prepare, .check = txq_check,
                                 .dispatch = txq_dispatch};

media_txq *media_txq_get(GMainContext *ctx)
{
    /* The callback's data marks our source so that the context can find it again. */
    GSource *found = g_main_context_find_source_by_funcs_user_data(ctx, &txq_funcs, &txq_funcs);
    if (found)
        return (media_txq *)g_source_ref(found);
    GSource *s = g_source_new(&txq_funcs, sizeof(media_txq));
    g_source_set_name(s, "media-txq");
    g_source_set_callback(s, txq_never_called, &txq_funcs, NULL);
    /* Before every other source, so that its prepare() always runs. */
    g_source_set_priority(s, G_PRIORITY_HIGH - 1000);
    g_source_attach(s, ctx);
    return (media_txq *)s;   /* our reference; the context holds its own */
}

void media_txq_unref(media_txq *q)
{
    if (q)
        g_source_unref(&q->source);
}

void media_txq_stats(const media_txq *q, uint64_t *flush_calls, uint64_t *flushed)
{
    *flush_calls = q->flush_calls;
    *flushed = q->flushed;
}
