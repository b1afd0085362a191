/*
 * txq: see txq.h.
 */
#include "media/txq.h"

#include <errno.h>
#include <netinet/udp.h>
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
    uint64_t flush_calls, flushed, gso_segments;
    txq_slot slot[MEDIA_TXQ_MAX];
};

static void count_drop(_Atomic uint64_t *dropped)
{
    if (dropped)
        atomic_fetch_add_explicit(dropped, 1, memory_order_relaxed);
}

/* UDP GSO (UDP_SEGMENT): a run of equal-size datagrams to one address goes down the stack as
 * one buffer (one route lookup, one skb) and is cut into datagrams at the device, or in
 * software where the device cannot. The kernel says EIO when it cannot do it for the route's
 * device; then we stop asking, process-wide. */
#define GSO_MAX_SEGMENTS 64        /* the kernel's UDP_MAX_SEGMENTS */
#define GSO_MAX_SEGMENT 1400       /* leaves room for IPv6 + UDP headers under a 1500 MTU */
#define GSO_MAX_BYTES 60000
static atomic_bool gso_off;

typedef struct txq_msg {
    struct mmsghdr hdr;
    unsigned first, count;         /* group slots first..first+count */
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } cmsg;
} txq_msg;

static bool same_dest(const txq_slot *a, const txq_slot *b)
{
    return a->tolen == b->tolen && memcmp(&a->to, &b->to, a->tolen) == 0;
}

/* How many of g[i..k) can go as one GSO message (1: send it alone). */
static unsigned gso_run(txq_slot **g, unsigned i, unsigned k, bool gso)
{
    uint32_t seg = g[i]->len;
    unsigned j = i + 1;
    if (!gso || seg > GSO_MAX_SEGMENT)
        return 1;
    size_t bytes = seg;
    /* Every datagram but the last must be exactly seg bytes; the last may be shorter. */
    while (j < k && j - i < GSO_MAX_SEGMENTS && g[j - 1]->len == seg && g[j]->len <= seg &&
           bytes + g[j]->len <= GSO_MAX_BYTES && same_dest(g[i], g[j])) {
        bytes += g[j]->len;
        j++;
    }
    return j - i;
}

static unsigned build_msgs(txq_msg *m, struct iovec *iov, txq_slot **g, unsigned from,
                           unsigned k, bool gso)
{
    unsigned n = 0;
    for (unsigned i = from; i < k;) {
        unsigned run = gso_run(g, i, k, gso);
        txq_msg *msg = &m[n++];
        *msg = (txq_msg){.first = i, .count = run};
        msg->hdr.msg_hdr = (struct msghdr){.msg_name = &g[i]->to, .msg_namelen = g[i]->tolen,
                                           .msg_iov = &iov[i], .msg_iovlen = run};
        if (run > 1) {
            msg->hdr.msg_hdr.msg_control = msg->cmsg.buf;
            msg->hdr.msg_hdr.msg_controllen = sizeof msg->cmsg.buf;
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg->hdr.msg_hdr);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t seg = (uint16_t)g[i]->len;
            memcpy(CMSG_DATA(c), &seg, sizeof seg);
        }
        i += run;
    }
    return n;
}

static void drop_slots(txq_slot **g, unsigned first, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        count_drop(g[first + i]->dropped);
}

/* Sends the group g[0..k) (one socket, queue order), dropping what the kernel refuses and
 * never waiting. */
static void send_group(media_txq *q, int fd, txq_slot **g, unsigned k)
{
    txq_msg m[MEDIA_TXQ_MAX];
    struct iovec iov[MEDIA_TXQ_MAX];
    for (unsigned i = 0; i < k; i++)
        iov[i] = (struct iovec){.iov_base = g[i]->data, .iov_len = g[i]->len};
    bool gso = !atomic_load_explicit(&gso_off, memory_order_relaxed);
    unsigned n = build_msgs(m, iov, g, 0, k, gso);
    struct mmsghdr hdrs[MEDIA_TXQ_MAX];
    unsigned i = 0;
    while (i < n) {
        for (unsigned x = i; x < n; x++)
            hdrs[x] = m[x].hdr;
        int r = sendmmsg(fd, hdrs + i, n - i, MSG_DONTWAIT);
        q->flush_calls++;
        if (r > 0) {
            for (unsigned x = i; x < i + (unsigned)r; x++) {
                q->flushed += m[x].count;
                if (m[x].count > 1)
                    q->gso_segments += m[x].count;
            }
            i += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* The buffer is full: the rest would fail the same way. */
            for (; i < n; i++)
                drop_slots(g, m[i].first, m[i].count);
            return;
        }
        if (m[i].count > 1) {
            /* The segmentation was refused: send the rest one datagram per message. */
            if (errno == EIO)
                atomic_store(&gso_off, true);
            n = build_msgs(m, iov, g, m[i].first, k, false);
            i = 0;
            continue;
        }
        drop_slots(g, m[i].first, m[i].count);   /* refused (route, firewall...) */
        i++;
    }
}

void media_txq_flush(media_txq *q)
{
    txq_slot *group[MEDIA_TXQ_MAX];
    bool done[MEDIA_TXQ_MAX] = {false};
    /* One sendmmsg per socket, in queue order within each socket. */
    for (unsigned i = 0; i < q->n; i++) {
        if (done[i])
            continue;
        int fd = q->slot[i].fd;
        unsigned k = 0;
        for (unsigned j = i; j < q->n; j++) {
            if (done[j] || q->slot[j].fd != fd)
                continue;
            done[j] = true;
            group[k++] = &q->slot[j];
        }
        send_group(q, fd, group, k);
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

void media_txq_stats(const media_txq *q, media_txq_counters *out)
{
    *out = (media_txq_counters){.flush_calls = q->flush_calls, .flushed = q->flushed,
                                .gso_segments = q->gso_segments};
}
