/*
 * test_txq: the loop's send queue (media/txq.h) over real loopback UDP sockets: immediate
 * sends outside a batch, queued sends inside one (nothing on the wire before the loop's
 * prepare), one sendmmsg per socket in queue order, full queue and oversize datagrams, drops
 * counted, one queue per context.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "media/txq.h"

typedef struct udp {
    int fd;
    struct sockaddr_in addr;
} udp;

static udp udp_open(void)
{
    udp u = {.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)};
    u.addr.sin_family = AF_INET;
    u.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(u.fd, (struct sockaddr *)&u.addr, sizeof u.addr);
    socklen_t len = sizeof u.addr;
    getsockname(u.fd, (struct sockaddr *)&u.addr, &len);
    return u;
}

/* The next datagram's first byte and length, or -1 when nothing is waiting. */
static int next_byte(const udp *u, size_t *len)
{
    uint8_t buf[4096];
    ssize_t n = recv(u->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0)
        return -1;
    if (len)
        *len = (size_t)n;
    return buf[0];
}

static int send_byte(media_txq *q, const udp *from, const udp *to, uint8_t b, size_t len,
                     _Atomic uint64_t *dropped)
{
    uint8_t buf[4096];
    memset(buf, b, sizeof buf);
    return media_txq_send(q, from->fd, (const struct sockaddr *)&to->addr, sizeof to->addr, buf,
                          len, dropped);
}

static void test_immediate_and_batched(void)
{
    GMainContext *ctx = g_main_context_new();
    media_txq *q = media_txq_get(ctx);
    media_txq *again = media_txq_get(ctx);
    CHECK(q == again);   /* one queue per context */
    media_txq_unref(again);
    udp a = udp_open(), b = udp_open(), c = udp_open();
    _Atomic uint64_t dropped = 0;

    /* Outside a batch: on the wire at once. */
    CHECK_INT(send_byte(q, &a, &b, 1, 100, &dropped), 0);
    CHECK_INT(next_byte(&b, NULL), 1);

    /* Inside one: nothing until the loop prepares its next poll. */
    media_txq_open(q);
    CHECK_INT(send_byte(q, &a, &b, 2, 100, &dropped), 0);
    CHECK_INT(send_byte(q, &c, &b, 3, 100, &dropped), 0);
    CHECK_INT(send_byte(q, &a, &b, 4, 1200, &dropped), 0);
    CHECK_INT(send_byte(q, &a, &c, 5, 50, &dropped), 0);
    CHECK_INT(next_byte(&b, NULL), -1);
    CHECK_INT(next_byte(&c, NULL), -1);
    g_main_context_iteration(ctx, FALSE);
    /* Grouped per socket (a's first, in its order), then c's. */
    size_t len = 0;
    CHECK_INT(next_byte(&b, &len), 2);
    CHECK_INT(next_byte(&b, &len), 4);
    CHECK_INT(len, 1200);
    CHECK_INT(next_byte(&b, NULL), 3);
    CHECK_INT(next_byte(&c, NULL), 5);
    media_txq_counters st;
    media_txq_stats(q, &st);
    CHECK_INT(st.flush_calls, 2);       /* one sendmmsg per socket */
    CHECK_INT(st.flushed, 4);
    CHECK_INT(st.gso_segments, 0);      /* no two equal sizes in a row */

    /* The prepare closed the batch: immediate again. */
    CHECK_INT(send_byte(q, &a, &b, 6, 10, &dropped), 0);
    CHECK_INT(next_byte(&b, NULL), 6);

    /* A full queue goes out by itself (equal sizes: one GSO message, datagrams intact on the
     * other side); an oversize datagram flushes what is queued first. */
    media_txq_open(q);
    for (int i = 0; i < MEDIA_TXQ_MAX + 3; i++)
        CHECK_INT(send_byte(q, &a, &b, (uint8_t)(10 + i), 20, &dropped), 0);
    int seen = 0;
    while (next_byte(&b, &len) == 10 + seen && len == 20)
        seen++;
    CHECK_INT(seen, MEDIA_TXQ_MAX);
    media_txq_stats(q, &st);
    CHECK_INT(st.flush_calls, 3);
    CHECK_INT(st.gso_segments, MEDIA_TXQ_MAX);   /* loopback takes UDP GSO */
    CHECK_INT(send_byte(q, &a, &b, 99, MEDIA_TXQ_SLOT + 1, &dropped), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(next_byte(&b, NULL), 10 + MEDIA_TXQ_MAX + i);
    CHECK_INT(next_byte(&b, &len), 99);
    CHECK_INT(len, MEDIA_TXQ_SLOT + 1);

    /* Equal sizes then a shorter last one make one GSO message; another address or a longer
     * datagram starts a new one. */
    media_txq_open(q);
    size_t sizes[] = {300, 300, 300, 120, 300, 300, 500};
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++)
        CHECK_INT(send_byte(q, &a, i == 5 ? &c : &b, (uint8_t)(40 + i), sizes[i], &dropped), 0);
    media_txq_flush(q);
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        if (i == 5)
            continue;
        CHECK_INT(next_byte(&b, &len), 40 + (int)i);
        CHECK_INT(len, sizes[i]);
    }
    CHECK_INT(next_byte(&c, &len), 45);
    CHECK_INT(len, 300);
    media_txq_stats(q, &st);
    CHECK_INT(st.gso_segments, MEDIA_TXQ_MAX + 3 + 4);   /* the 3 left over, 300,300,300,120 */
    CHECK_INT(atomic_load(&dropped), 0);

    /* What the kernel refuses is dropped and counted, and does not stop the rest. */
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
    uint8_t buf[16] = {7};
    CHECK_INT(media_txq_send(q, a.fd, (const struct sockaddr *)&v6, sizeof v6, buf, sizeof buf,
                             &dropped), 0);
    CHECK_INT(send_byte(q, &a, &b, 8, 30, &dropped), 0);
    media_txq_flush(q);
    CHECK_INT(atomic_load(&dropped), 1);
    CHECK_INT(next_byte(&b, NULL), 8);
    media_txq_open(q);
    g_main_context_iteration(ctx, FALSE);
    CHECK_INT(media_txq_send(q, a.fd, (const struct sockaddr *)&v6, sizeof v6, buf, sizeof buf,
                             &dropped), -1);
    CHECK_INT(atomic_load(&dropped), 2);

    close(a.fd);
    close(b.fd);
    close(c.fd);
    media_txq_unref(q);
    g_main_context_unref(ctx);
}

int main(void)
{
    test_immediate_and_batched();
    return check_summary("media-txq");
}
