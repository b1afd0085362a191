/*
 * Data channels over a lossy in-memory wire: two media_sctp associations on two loop threads,
 * packets carried by loop_invoke with every 6th one dropped once the association is up. The
 * losses are repaired by SCTP retransmissions, which come from usrsctp's timer thread and
 * reach the owning loop through our queue: all messages must arrive, in order, intact.
 */
#include <glib.h>
#include <stdlib.h>

#include "check.h"
#include "core/loop.h"
#include "media/sctp.h"

#define MESSAGES 60

static GMutex m;
static GCond c;

typedef struct end {
    loop_t *loop;
    media_sctp *s;
    struct end *other;
    bool client;
    int sent_packets, dropped;
    int opens;
    int received;
    int out_of_order;
    int bad;
    int closes;
} end;

typedef struct packet {
    end *to;
    size_t len;
    uint8_t data[];
} packet;

static void deliver(void *arg)
{
    packet *pk = arg;
    if (pk->to->s)
        media_sctp_input(pk->to->s, pk->data, pk->len);
    g_free(pk);
}

static void on_send(void *user, const uint8_t *buf, size_t len)
{
    end *e = user;
    e->sent_packets++;
    /* Lose every 6th packet once both sides exist and the association is up. */
    if (e->s && media_sctp_is_up(e->s) && e->sent_packets % 6 == 0) {
        e->dropped++;
        return;
    }
    packet *pk = g_malloc(sizeof *pk + len);
    pk->to = e->other;
    pk->len = len;
    memcpy(pk->data, buf, len);
    loop_invoke(e->other->loop, deliver, pk);
}

static void on_open(void *user, uint16_t sid, const char *label, const char *protocol)
{
    end *e = user;
    g_mutex_lock(&m);
    e->opens++;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

static void on_message(void *user, uint16_t sid, const char *label, bool binary,
                       const uint8_t *buf, size_t len)
{
    end *e = user;
    g_mutex_lock(&m);
    char expect[64];
    int n = g_snprintf(expect, sizeof expect, "message %d", e->received);
    if (!binary && len == (size_t)n && memcmp(buf, expect, len) == 0)
        e->received++;
    else if (!binary && len > 8 && memcmp(buf, "message ", 8) == 0)
        e->out_of_order++;
    else
        e->bad++;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

static void on_closed(void *user, uint16_t sid, const char *label)
{
    end *e = user;
    g_mutex_lock(&m);
    e->closes++;
    g_cond_broadcast(&c);
    g_mutex_unlock(&m);
}

static void create_job(void *arg)
{
    end *e = arg;
    media_sctp_callbacks cb = {.user = e, .send = on_send, .open = on_open, .message = on_message,
                               .closed = on_closed};
    e->s = media_sctp_create(e->loop, e->client, 5000, 5000, &cb);
}

static void open_job(void *arg)
{
    end *e = arg;
    CHECK_INT(media_sctp_open_channel(e->s, "lossy", ""), 0);   /* the client's first id */
}

static void send_job(void *arg)
{
    end *e = arg;
    for (int i = 0; i < MESSAGES; i++) {
        char msg[64];
        int n = g_snprintf(msg, sizeof msg, "message %d", i);
        CHECK_INT(media_sctp_send(e->s, "lossy", 0, false, (const uint8_t *)msg, (size_t)n), MEDIA_SCTP_OK);
    }
}

static void close_channel_job(void *arg)
{
    end *e = arg;
    CHECK_INT(media_sctp_close_channel(e->s, NULL, 0), MEDIA_SCTP_OK);
}

static void destroy_job(void *arg)
{
    end *e = arg;
    media_sctp_close(e->s);
    media_sctp_unref(e->s);
    e->s = NULL;
}

static bool wait_until(bool (*pred)(end *, end *), end *a, end *b, int seconds)
{
    gint64 until = g_get_monotonic_time() + seconds * G_TIME_SPAN_SECOND;
    g_mutex_lock(&m);
    bool ok;
    while (!(ok = pred(a, b)) && g_cond_wait_until(&c, &m, until)) {
    }
    ok = pred(a, b);
    g_mutex_unlock(&m);
    return ok;
}

static bool opened(end *a, end *b) { return a->opens == 1 && b->opens == 1; }
static bool all_in(end *a, end *b) { return b->received == MESSAGES; }
static bool closed_both(end *a, end *b) { return a->closes == 1 && b->closes == 1; }

int main(void)
{
    loop_pool_t *pool = loop_pool_create(2);
    end a = {.loop = loop_pool_get(pool, 0), .client = true};
    end b = {.loop = loop_pool_get(pool, 1), .client = false};
    a.other = &b;
    b.other = &a;
    loop_invoke_sync(b.loop, create_job, &b);
    loop_invoke_sync(a.loop, create_job, &a);
    CHECK(a.s && b.s);
    loop_invoke_sync(a.loop, open_job, &a);   /* queued until the association is up */
    CHECK(wait_until(opened, &a, &b, 20));
    loop_invoke_sync(a.loop, send_job, &a);
    CHECK(wait_until(all_in, &a, &b, 30));
    g_mutex_lock(&m);
    CHECK_INT(b.received, MESSAGES);
    CHECK_INT(b.out_of_order + b.bad, 0);
    g_mutex_unlock(&m);
    CHECK(a.dropped + b.dropped > 0);   /* the wire did lose packets */
    fprintf(stderr, "test_sctp: %d packets lost and repaired\n", a.dropped + b.dropped);

    loop_invoke_sync(b.loop, close_channel_job, &b);
    CHECK(wait_until(closed_both, &a, &b, 20));

    loop_invoke_sync(a.loop, destroy_job, &a);
    loop_invoke_sync(b.loop, destroy_job, &b);
    loop_pool_destroy(pool);
    media_sctp_global_shutdown();
    return check_summary("media-sctp");
}
