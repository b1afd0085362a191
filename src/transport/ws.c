/*
 * ws: the WebSocket server. See ws.h for the contract.
 *
 * libmicrohttpd does the HTTP part: a GET with a valid handshake (checked by proto/ws_frame)
 * gets 101 and MHD hands us the socket in on_upgrade(), on one of its threads. From there
 * one ws thread owns every upgraded socket: an edge-triggered epoll over all of them plus an
 * eventfd that other threads use to wake it (a new socket, a frame queued, stop).
 *
 * Sending from any thread appends an encoded frame to the connection's bounded outgoing
 * buffer under its lock and puts the connection on the server's dirty list; the ws thread
 * writes what the socket takes and finishes on EPOLLOUT. Reading, decoding, pings, the
 * close handshake and every callback happen on the ws thread only.
 *
 * Fairness: the epoll set is edge-triggered, so a socket must normally be read until it runs
 * dry; instead each connection gets a *turn* of at most WS_TURN_MESSAGES decoded messages or
 * WS_TURN_BYTES read bytes. Input left over (bytes read but not decoded go to the connection's
 * stash) puts it on the server's `later` list, served round-robin with the next epoll events,
 * so one busy client delays the others by one turn, not by everything it sends. Each
 * connection also has a token bucket on messages (ws_bucket.h): when it is empty the socket is
 * left unread until the bucket has refilled a little (TCP flow control then slows the sender),
 * and a connection throttled with a full socket buffer for WS_FLOOD_TICKS ticks in a row is
 * closed with 1008. Timeouts (handshake: no message since the upgrade; idle: none for a while),
 * the per-address connection count and the server-wide cap on reassembly bytes are checked
 * here too; every refusal is counted (ws_stats) and logged at most once per WS_WARN_EVERY_MS
 * per reason.
 *
 * Lifetime: a ws_conn is refcounted. The server's reference lives from the upgrade until the
 * socket is released (teardown); a place on the dirty list holds one more; users hold theirs.
 * Teardown (ws thread) marks the connection closed under its lock, releases the socket to
 * MHD (MHD_upgrade_action CLOSE), calls on_close once, and drops the server's reference.
 */
#include "transport/ws.h"

#include "proto/ws_frame.h"
#include "transport/addr.h"
#include "transport/ws_bucket.h"
#include "util/log.h"

#include <glib.h>

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WS_MAX_QUEUE (8u * 1024 * 1024)   /* outgoing bytes per connection before we drop it */
#define WS_CLOSE_WAIT_MS 2000             /* how long we wait for the peer's close reply */
#define WS_TICK_MS 250
/* Upgraded sockets stay counted by libmicrohttpd; its default limit (FD_SETSIZE - 4) would
 * cap us at about a thousand clients. */
#define WS_MAX_CONNECTIONS 16384
#define WS_FLOOD_TICKS 20                 /* 5 s of ticks throttled with a full backlog ... */
#define WS_FLOOD_BACKLOG (8u * 1024)      /* ... of at least this many unread bytes: 1008 */
#define WS_RESUME_DIVISOR 20              /* a throttled socket is read again after 1/20 s of tokens */
#define WS_KEEP_BUFFER (8u * 1024)        /* reassembly buffer kept between messages */
#define WS_WARN_EVERY_MS 10000

#define DEFAULT_PER_IP 64
#define DEFAULT_RATE 200
#define DEFAULT_IDLE_S 120
#define DEFAULT_HANDSHAKE_S 10
#define DEFAULT_BUFFERED_TOTAL (64u * 1024 * 1024)

struct ws_conn {
    atomic_int refs;
    ws_server *srv;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    char remote_ip[INET6_ADDRSTRLEN];
    _Atomic(void *) user_data;
    /* ws thread only */
    ws_decoder dec;
    uint8_t *extra;              /* input not decoded yet: what MHD read past the request,
                                  * then what a turn read but had no budget for */
    size_t extra_off, extra_len;
    bool in_turn;                /* read_turn is running (extra is in use) */
    ws_bucket bucket;
    ws_flood flood;
    bool throttled_tick;         /* ran out of tokens since the last tick */
    bool queued;                 /* on the server's later list (holds a reference) */
    uint64_t wake_at;            /* when its next turn is due (0 = next iteration) */
    ws_conn *next_later;
    size_t held;                 /* bytes counted in the server's buffered total */
    uint64_t opened_ms, last_msg_ms;
    bool got_message;            /* a complete message arrived since the upgrade */
    bool ip_counted;             /* counted in the server's per-address table */
    bool opened;                 /* on_open ran, so on_close is owed */
    bool close_received;
    bool close_sent;             /* our close frame is completely written */
    bool read_stopped;           /* after a protocol error or a close: ignore input */
    uint64_t close_deadline;     /* ms, 0 = none */
    ws_conn *prev, *next;        /* the server's list of open connections */
    ws_conn *next_new;           /* the server's list of sockets not yet adopted */
    ws_conn *next_dead;          /* torn down, server reference dropped after the iteration */
    /* guarded by lock */
    pthread_mutex_t lock;
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    bool closing;                /* a close frame is queued: no more data frames */
    bool close_queued_end;       /* the close frame is the last byte of out */
    bool overflow;
    bool closed;
    bool dirty;
    ws_conn *next_dirty;         /* guarded by the server lock */
};

struct ws_server {
    struct MHD_Daemon *daemon;
    ws_callbacks cb;
    char subprotocol[64];
    size_t max_message;
    int ep;
    int wake;
    pthread_t thread;
    pthread_mutex_t lock;        /* guards fresh, dirty, stopping */
    ws_conn *fresh;
    ws_conn *dirty;
    bool stopping;
    ws_conn *open;               /* ws thread only */
    ws_conn *dead;               /* ws thread only: torn down this iteration */
    ws_conn *later_head, *later_tail;   /* ws thread only: connections with input left */
    size_t buffered;             /* ws thread only: sum of held */
    atomic_ulong overflows;
    /* limits (read-only after start) */
    unsigned per_ip;
    uint32_t rate, burst;
    uint64_t idle_ms, handshake_ms;
    size_t max_buffered;
    pthread_mutex_t ip_lock;     /* guards per_ip_count */
    GHashTable *per_ip_count;    /* address text -> open connections (GUINT_TO_POINTER) */
};

/* ---- process-wide figures (ws_stats) ---- */

static atomic_uint_fast64_t st_connections, st_buffered, st_throttled, st_handler_max_us;
static atomic_uint_fast64_t st_refusals[WS_REFUSE_COUNT];
static atomic_uint_fast64_t warn_last_ms[WS_REFUSE_COUNT], warn_suppressed[WS_REFUSE_COUNT];

static const char *const refusal_names[WS_REFUSE_COUNT] = {
    "per_ip", "flood", "idle_timeout", "handshake_timeout", "buffered_total", "too_big", "queue_overflow",
};

const char *ws_refusal_name(ws_refusal r)
{
    return (unsigned)r < WS_REFUSE_COUNT ? refusal_names[r] : "unknown";
}

void ws_stats_get(ws_stats *out)
{
    out->connections = atomic_load_explicit(&st_connections, memory_order_relaxed);
    out->buffered_bytes = atomic_load_explicit(&st_buffered, memory_order_relaxed);
    out->throttled = atomic_load_explicit(&st_throttled, memory_order_relaxed);
    out->handler_max_us = atomic_load_explicit(&st_handler_max_us, memory_order_relaxed);
    for (int i = 0; i < WS_REFUSE_COUNT; i++)
        out->refusals[i] = atomic_load_explicit(&st_refusals[i], memory_order_relaxed);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wake_thread(ws_server *srv)
{
    uint64_t one = 1;
    if (write(srv->wake, &one, sizeof one) < 0 && errno != EAGAIN)
        LOG_WARN("ws", "cannot wake the ws thread: %s", strerror(errno));
}

/* Counts a refusal and logs it, at most one line per reason every WS_WARN_EVERY_MS with the
 * number of those not logged since the previous line. Any thread. */
static void count_refusal(ws_refusal r, const char *ip, const char *what)
{
    atomic_fetch_add_explicit(&st_refusals[r], 1, memory_order_relaxed);
    uint64_t now = now_ms();
    uint64_t last = atomic_load(&warn_last_ms[r]);
    if ((last && now - last < WS_WARN_EVERY_MS) || !atomic_compare_exchange_strong(&warn_last_ms[r], &last, now)) {
        atomic_fetch_add(&warn_suppressed[r], 1);
        return;
    }
    uint64_t more = atomic_exchange(&warn_suppressed[r], 0);
    LOG_WARN("ws", "%s: %s [%s; %" PRIu64 " more like it not logged in the last %u s]", ip, what,
             refusal_names[r], more, WS_WARN_EVERY_MS / 1000);
}

/* ---- connections per client address (MHD thread and ws thread) ---- */

static unsigned ip_count(ws_server *srv, const char *ip)
{
    pthread_mutex_lock(&srv->ip_lock);
    unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_ip_count, ip));
    pthread_mutex_unlock(&srv->ip_lock);
    return n;
}

static bool ip_acquire(ws_server *srv, const char *ip)
{
    pthread_mutex_lock(&srv->ip_lock);
    unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_ip_count, ip));
    bool ok = n < srv->per_ip;
    if (ok)
        g_hash_table_insert(srv->per_ip_count, g_strdup(ip), GUINT_TO_POINTER(n + 1));
    pthread_mutex_unlock(&srv->ip_lock);
    return ok;
}

static void ip_release(ws_server *srv, const char *ip)
{
    pthread_mutex_lock(&srv->ip_lock);
    unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_ip_count, ip));
    if (n <= 1)
        g_hash_table_remove(srv->per_ip_count, ip);
    else
        g_hash_table_insert(srv->per_ip_count, g_strdup(ip), GUINT_TO_POINTER(n - 1));
    pthread_mutex_unlock(&srv->ip_lock);
}

/* ---- refcount and public accessors ---- */

void ws_conn_ref(ws_conn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void ws_conn_unref(ws_conn *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    ws_decoder_free(&c->dec);
    free(c->extra);
    free(c->out);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void ws_conn_set_user(ws_conn *c, void *data)
{
    atomic_store(&c->user_data, data);
}

void *ws_conn_get_user(ws_conn *c)
{
    return atomic_load(&c->user_data);
}

const char *ws_conn_remote_ip(const ws_conn *c)
{
    return c->remote_ip;
}

/* ---- the outgoing queue (any thread) ---- */

/* Puts c on the dirty list so the ws thread writes it. Caller holds c->lock. */
static void mark_dirty(ws_conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    ws_conn_ref(c);
    ws_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    c->next_dirty = srv->dirty;
    srv->dirty = c;
    pthread_mutex_unlock(&srv->lock);
    wake_thread(srv);
}

/* Appends one encoded frame. Caller holds c->lock. Returns 0, or -1 past the bound. */
static int append_frame(ws_conn *c, uint8_t opcode, const void *payload, size_t len)
{
    size_t need = ws_frame_size(len);
    size_t queued = c->out_len - c->out_off;
    if (need > WS_MAX_QUEUE || queued > WS_MAX_QUEUE - need)
        return -1;
    if (c->out_off && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + need > c->out_cap && c->out_off) {
        memmove(c->out, c->out + c->out_off, queued);   /* reuse the written prefix */
        c->out_len = queued;
        c->out_off = 0;
    }
    if (c->out_len + need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + need)
            cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (!p)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    c->out_len += ws_frame_encode(c->out + c->out_len, c->out_cap - c->out_len, opcode,
                                  payload, len);
    return 0;
}

int ws_conn_send_text(ws_conn *c, const char *text, size_t len)
{
    pthread_mutex_lock(&c->lock);
    if (c->closed || c->closing || c->overflow) {
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    if (append_frame(c, WS_OP_TEXT, text, len) != 0) {
        c->overflow = true;   /* a reader this slow is gone; the ws thread drops it */
        mark_dirty(c);
        pthread_mutex_unlock(&c->lock);
        atomic_fetch_add(&c->srv->overflows, 1);
        count_refusal(WS_REFUSE_OVERFLOW, c->remote_ip, "outgoing queue over 8 MiB (the client does not read), closing");
        return -1;
    }
    mark_dirty(c);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* Queues a close frame (once). Caller holds c->lock. */
static void queue_close(ws_conn *c, uint16_t code)
{
    if (c->closing || c->closed)
        return;
    uint8_t frame[127];
    size_t n = ws_frame_encode_close(frame, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL);
    c->closing = true;
    /* The frame is already encoded: append its bytes as they are. */
    if (c->out_len + n > c->out_cap || !c->out) {
        size_t cap = c->out_len + n + 256;
        uint8_t *p = realloc(c->out, cap);
        if (!p)
            return;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, frame, n);
    c->out_len += n;
    c->close_queued_end = true;
    mark_dirty(c);
}

void ws_conn_close(ws_conn *c, uint16_t code)
{
    pthread_mutex_lock(&c->lock);
    queue_close(c, code);
    pthread_mutex_unlock(&c->lock);
}

/* ---- ws thread: teardown, writing, reading ---- */

/* Recounts the bytes c holds (reassembly buffer and undecoded input) in the server total.
 * Between messages a large reassembly buffer is given back. */
static void update_held(ws_conn *c)
{
    ws_server *srv = c->srv;
    if (!c->dec.in_message && c->dec.msg_cap > WS_KEEP_BUFFER)
        ws_decoder_free(&c->dec);
    size_t now_held = c->dec.msg_cap + (c->extra ? c->extra_len : 0);
    srv->buffered = srv->buffered - c->held + now_held;
    c->held = now_held;
    atomic_store_explicit(&st_buffered, srv->buffered, memory_order_relaxed);
}

static void drop_extra(ws_conn *c)
{
    free(c->extra);
    c->extra = NULL;
    c->extra_off = c->extra_len = 0;
}

/* A connection that will not decode anything more gives its input buffers back at once (its
 * close handshake may take WS_CLOSE_WAIT_MS more). */
static void release_input(ws_conn *c)
{
    ws_decoder_free(&c->dec);
    if (!c->in_turn)
        drop_extra(c);
    update_held(c);
}

static void teardown(ws_conn *c, const char *why)
{
    ws_server *srv = c->srv;
    pthread_mutex_lock(&c->lock);
    if (c->closed) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    c->closed = true;
    pthread_mutex_unlock(&c->lock);
    c->read_stopped = true;
    release_input(c);
    if (c->ip_counted) {
        ip_release(srv, c->remote_ip);
        c->ip_counted = false;
    }
    atomic_fetch_sub_explicit(&st_connections, 1, memory_order_relaxed);
    epoll_ctl(srv->ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->prev)
        c->prev->next = c->next;
    else if (srv->open == c)
        srv->open = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
    LOG_DEBUG("ws", "%s: connection closed (%s)", c->remote_ip, why);
    if (c->opened && srv->cb.on_close)
        srv->cb.on_close(srv->cb.user, c);
    /* Callers up the stack and later events of this epoll batch may still hold c: the
     * server's reference goes at the end of the loop iteration. */
    c->next_dead = srv->dead;
    srv->dead = c;
}

static void bury_dead(ws_server *srv)
{
    while (srv->dead) {
        ws_conn *c = srv->dead;
        srv->dead = c->next_dead;
        ws_conn_unref(c);
    }
}

/* Writes what the socket takes. Finishes the close handshake once our close frame is out. */
static void flush(ws_conn *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->closed) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (c->overflow) {
        pthread_mutex_unlock(&c->lock);
        teardown(c, "outgoing queue overflow");
        return;
    }
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;   /* EPOLLOUT (edge-triggered) brings us back */
        pthread_mutex_unlock(&c->lock);
        teardown(c, "write failed");
        return;
    }
    bool closing = c->closing;
    bool close_out = closing && c->close_queued_end && c->out_off == c->out_len;
    pthread_mutex_unlock(&c->lock);
    /* From the moment a close is queued the connection has a bounded time to finish,
     * even if the peer stops reading and our close frame never gets out. */
    if (closing && !c->close_deadline)
        c->close_deadline = now_ms() + WS_CLOSE_WAIT_MS;
    if (!close_out)
        return;
    c->close_sent = true;
    if (c->close_received)
        teardown(c, "close handshake done");
}

static void close_with(ws_conn *c, uint16_t code)
{
    c->read_stopped = true;
    release_input(c);
    pthread_mutex_lock(&c->lock);
    queue_close(c, code);
    pthread_mutex_unlock(&c->lock);
    flush(c);
}

/* Closes c for a limit: counted, logged (rate-limited), close frame with code. */
static void refuse_conn(ws_conn *c, ws_refusal r, uint16_t code, const char *what)
{
    count_refusal(r, c->remote_ip, what);
    close_with(c, code);
}

/* Over max_buffered: the connection holding the largest unfinished message goes. */
static void enforce_buffered(ws_server *srv)
{
    while (srv->buffered > srv->max_buffered) {
        ws_conn *worst = NULL;
        for (ws_conn *c = srv->open; c; c = c->next)
            if (!c->read_stopped && c->dec.in_message && (!worst || c->held > worst->held))
                worst = c;
        if (!worst)
            return;   /* only small kept buffers and stashes: nothing unfinished to drop */
        char what[160];
        snprintf(what, sizeof what, "unfinished message of %zu bytes while all connections hold %zu (limit %zu), closing",
                 worst->held, srv->buffered, srv->max_buffered);
        refuse_conn(worst, WS_REFUSE_BUFFERED, WS_CLOSE_POLICY, what);
    }
}

static void on_close_frame(ws_conn *c, uint16_t code)
{
    c->close_received = true;
    c->read_stopped = true;
    release_input(c);
    pthread_mutex_lock(&c->lock);
    bool we_started = c->closing;
    /* Echo the peer's code, as RFC 6455 5.5.1 suggests. */
    queue_close(c, code);
    pthread_mutex_unlock(&c->lock);
    if (we_started && c->close_sent)
        teardown(c, "close handshake done");
    else
        flush(c);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void note_handler_time(uint64_t us)
{
    uint64_t max = atomic_load_explicit(&st_handler_max_us, memory_order_relaxed);
    while (us > max && !atomic_compare_exchange_weak(&st_handler_max_us, &max, us)) {
    }
}

/* Runs decoded events; returns false once the connection stopped reading. */
static bool handle_event(ws_conn *c, const ws_event *ev, uint64_t now)
{
    ws_server *srv = c->srv;
    switch (ev->type) {
    case WS_EV_TEXT:
        if (srv->cb.on_text) {
            uint64_t t0 = now_us();
            srv->cb.on_text(srv->cb.user, c, (const char *)ev->payload, ev->len);
            note_handler_time(now_us() - t0);
        }
        return !c->read_stopped;
    case WS_EV_BINARY:
        LOG_DEBUG("ws", "%s: binary message refused", c->remote_ip);
        close_with(c, WS_CLOSE_UNSUPPORTED);
        return false;
    case WS_EV_PING:
        pthread_mutex_lock(&c->lock);
        /* Bounded too: a client that pings without reading must not grow our memory. */
        if (!c->closing && !c->closed &&
            append_frame(c, WS_OP_PONG, ev->payload, ev->len) != 0)
            c->overflow = true;
        pthread_mutex_unlock(&c->lock);
        flush(c);
        return !c->closed;
    case WS_EV_PONG:
        return true;
    case WS_EV_CLOSE:
        on_close_frame(c, ev->close_code);
        return false;
    case WS_EV_ERROR:
        LOG_DEBUG("ws", "%s: protocol error, closing with %u", c->remote_ip, ev->close_code);
        if (ev->close_code == WS_CLOSE_TOO_BIG)
            count_refusal(WS_REFUSE_TOO_BIG, c->remote_ip, "message over ws.max_message, closing with 1009");
        close_with(c, ev->close_code);
        return false;
    case WS_EV_NONE:
        break;
    }
    return true;
}

/* What one turn of a connection has used so far. */
typedef struct turn {
    uint64_t now;
    unsigned messages;
    size_t bytes;
    bool throttled;          /* stopped because the bucket is empty */
} turn;

/* Decodes bytes until they run out, the turn's message budget is spent or the connection's
 * bucket is empty; returns the bytes consumed (the caller keeps the rest for a later turn).
 * Every decoded message (text, ping, pong, close) takes a token. */
static size_t feed(ws_conn *c, const uint8_t *data, size_t len, turn *t)
{
    size_t done = 0;
    while (done < len && !c->read_stopped) {
        if (t->messages >= WS_TURN_MESSAGES)
            break;
        if (!ws_bucket_ready(&c->bucket, t->now)) {
            t->throttled = true;
            break;
        }
        ws_event ev;
        size_t used = ws_decoder_feed(&c->dec, data + done, len - done, &ev);
        done += used;
        if (ev.type == WS_EV_NONE)
            break;
        t->messages++;
        ws_bucket_take(&c->bucket);
        /* Activity for the timeouts: a complete message (text, ping, pong), but none while an
         * unfinished data message is pending, so pings cannot keep a half-sent one alive. */
        if (ev.type != WS_EV_ERROR && ev.type != WS_EV_CLOSE && !c->dec.in_message) {
            c->got_message = true;
            c->last_msg_ms = t->now;
        }
        if (!handle_event(c, &ev, t->now))
            break;
    }
    if (!c->closed) {
        update_held(c);
        enforce_buffered(c->srv);
    }
    return done;
}

/* Puts c on the later list: due at once, or when its bucket has refilled a little. */
static void later(ws_conn *c, const turn *t)
{
    ws_server *srv = c->srv;
    if (c->queued || c->closed)
        return;
    c->wake_at = 0;
    if (t->throttled) {
        uint64_t wait = ws_bucket_wait_ms(&c->bucket, srv->rate / WS_RESUME_DIVISOR + 1);
        c->wake_at = t->now + (wait ? wait : 1);
        c->throttled_tick = true;
        atomic_fetch_add_explicit(&st_throttled, 1, memory_order_relaxed);
    }
    c->queued = true;
    ws_conn_ref(c);
    c->next_later = NULL;
    if (srv->later_tail)
        srv->later_tail->next_later = c;
    else
        srv->later_head = c;
    srv->later_tail = c;
}

/* Keeps input a turn had no budget for (decoded first at the next turn). */
static void stash(ws_conn *c, const uint8_t *data, size_t len)
{
    drop_extra(c);
    c->extra = malloc(len);
    if (!c->extra) {
        close_with(c, WS_CLOSE_INTERNAL);
        return;
    }
    memcpy(c->extra, data, len);
    c->extra_len = len;
    update_held(c);
}

/* One turn: the stash first, then the socket, within the budget. */
static void run_turn(ws_conn *c, turn *t)
{
    if (c->extra) {
        if (!c->read_stopped)
            c->extra_off += feed(c, c->extra + c->extra_off, c->extra_len - c->extra_off, t);
        if (c->closed)
            return;
        if (c->read_stopped || c->extra_off >= c->extra_len) {
            drop_extra(c);
            update_held(c);
        } else {
            later(c, t);
            return;
        }
    }
    uint8_t buf[16384];
    while (t->bytes < WS_TURN_BYTES) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            t->bytes += (size_t)n;
            if (c->read_stopped)
                continue;   /* after a close: read only to see the peer's reply or EOF */
            size_t used = feed(c, buf, (size_t)n, t);
            if (c->closed)
                return;
            if (!c->read_stopped && used < (size_t)n) {
                stash(c, buf + used, (size_t)n - used);
                if (!c->closed && !c->read_stopped)
                    later(c, t);
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;   /* drained: the next epoll edge brings us back */
        teardown(c, n == 0 ? "peer closed the socket" : "read failed");
        return;
    }
    later(c, t);   /* the byte budget ran out before the socket did */
}

static void read_turn(ws_conn *c)
{
    turn t = {.now = now_ms()};
    c->in_turn = true;
    run_turn(c, &t);
    c->in_turn = false;
    if (c->read_stopped && c->extra) {
        drop_extra(c);
        update_held(c);
    }
}

/* Serves the later list once (one turn each for those due); returns ms until the earliest
 * entry is due (0: one is due now), or -1 when the list is empty. */
static int64_t run_later(ws_server *srv)
{
    ws_conn *list = srv->later_head;
    srv->later_head = srv->later_tail = NULL;
    uint64_t now = now_ms();
    while (list) {
        ws_conn *c = list;
        list = c->next_later;
        c->next_later = NULL;
        if (!c->closed && c->wake_at > now) {
            if (srv->later_tail)   /* not due: back on the new list, keeping its reference */
                srv->later_tail->next_later = c;
            else
                srv->later_head = c;
            srv->later_tail = c;
            continue;
        }
        c->queued = false;
        if (!c->closed)
            read_turn(c);
        ws_conn_unref(c);
    }
    int64_t next = -1;
    now = now_ms();
    for (ws_conn *c = srv->later_head; c; c = c->next_later) {
        int64_t due = c->wake_at > now ? (int64_t)(c->wake_at - now) : 0;
        if (next < 0 || due < next)
            next = due;
    }
    return next;
}

static void drop_later(ws_server *srv)
{
    while (srv->later_head) {
        ws_conn *c = srv->later_head;
        srv->later_head = c->next_later;
        c->queued = false;
        ws_conn_unref(c);
    }
    srv->later_tail = NULL;
}

/* ---- ws thread: main loop ---- */

static void adopt(ws_server *srv, ws_conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    c->next = srv->open;
    if (c->next)
        c->next->prev = c;
    srv->open = c;
    c->opened_ms = c->last_msg_ms = now_ms();
    ws_bucket_init(&c->bucket, srv->rate, srv->burst, c->opened_ms);
    atomic_fetch_add_explicit(&st_connections, 1, memory_order_relaxed);
    update_held(c);
    if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        teardown(c, "epoll_ctl failed");
        return;
    }
    c->opened = true;
    if (srv->cb.on_open)
        srv->cb.on_open(srv->cb.user, c);
    if (!c->closed)
        read_turn(c);   /* MHD's extra bytes, and what arrived before the socket joined epoll */
}

static void take_fresh_and_dirty(ws_server *srv, ws_conn **fresh, ws_conn **dirty)
{
    pthread_mutex_lock(&srv->lock);
    *fresh = srv->fresh;
    *dirty = srv->dirty;
    srv->fresh = srv->dirty = NULL;
    pthread_mutex_unlock(&srv->lock);
}

static void run_queues(ws_server *srv)
{
    ws_conn *fresh, *dirty;
    take_fresh_and_dirty(srv, &fresh, &dirty);
    while (fresh) {
        ws_conn *c = fresh;
        fresh = c->next_new;
        adopt(srv, c);
    }
    while (dirty) {
        ws_conn *c = dirty;
        dirty = c->next_dirty;
        pthread_mutex_lock(&c->lock);
        c->dirty = false;
        pthread_mutex_unlock(&c->lock);
        flush(c);
        ws_conn_unref(c);
    }
}

/* Every tick: close handshakes that took too long, flooders, and the two timeouts. */
static void check_deadlines(ws_server *srv)
{
    uint64_t now = now_ms();
    for (ws_conn *c = srv->open, *n; c; c = n) {
        n = c->next;
        if (c->close_deadline && now >= c->close_deadline) {
            teardown(c, "no close reply");
            continue;
        }
        if (c->read_stopped)
            continue;
        bool throttled = c->throttled_tick;
        c->throttled_tick = false;
        int waiting = 0;
        if (throttled && ioctl(c->fd, FIONREAD, &waiting) != 0)
            waiting = 0;
        size_t backlog = (size_t)(waiting > 0 ? waiting : 0) + (c->extra ? c->extra_len - c->extra_off : 0);
        if (ws_flood_tick(&c->flood, throttled, backlog, WS_FLOOD_BACKLOG, WS_FLOOD_TICKS)) {
            char what[128];
            snprintf(what, sizeof what, "over %u messages/s with a full receive buffer for %u s, closing with 1008",
                     srv->rate, WS_FLOOD_TICKS * WS_TICK_MS / 1000);
            refuse_conn(c, WS_REFUSE_FLOOD, WS_CLOSE_POLICY, what);
        } else if (!c->got_message && now - c->opened_ms >= srv->handshake_ms) {
            refuse_conn(c, WS_REFUSE_HANDSHAKE, WS_CLOSE_GOING_AWAY,
                        "no complete message since the upgrade (ws.handshake_timeout_s), closing");
        } else if (c->got_message && now - c->last_msg_ms >= srv->idle_ms) {
            refuse_conn(c, WS_REFUSE_IDLE, WS_CLOSE_GOING_AWAY, "no complete message for ws.idle_timeout_s, closing");
        }
    }
}

static void shut_all(ws_server *srv)
{
    while (srv->open) {
        ws_conn *c = srv->open;
        pthread_mutex_lock(&c->lock);
        queue_close(c, WS_CLOSE_GOING_AWAY);
        pthread_mutex_unlock(&c->lock);
        c->close_received = true;   /* we will not wait for the reply */
        flush(c);
        teardown(c, "server stopping");
    }
}

static void *ws_main(void *arg)
{
    ws_server *srv = arg;
    struct epoll_event evs[64];
    uint64_t next_tick = now_ms() + WS_TICK_MS;
    int timeout = WS_TICK_MS;
    for (;;) {
        int n = epoll_wait(srv->ep, evs, 64, timeout);
        for (int i = 0; i < n; i++) {
            ws_conn *c = evs[i].data.ptr;
            if (!c) {
                uint64_t v;
                if (read(srv->wake, &v, sizeof v) < 0 && errno != EAGAIN)
                    LOG_WARN("ws", "eventfd read: %s", strerror(errno));
                continue;
            }
            if (evs[i].events & EPOLLOUT)
                flush(c);
            /* A connection on the later list gets its turn from there (a throttled one only
             * once its bucket allows). */
            if (!c->closed && !c->queued && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                read_turn(c);
        }
        pthread_mutex_lock(&srv->lock);
        bool stopping = srv->stopping;
        pthread_mutex_unlock(&srv->lock);
        run_queues(srv);
        if (stopping) {
            shut_all(srv);
            run_queues(srv);   /* drop the dirty references the closes made */
            drop_later(srv);
            bury_dead(srv);
            return NULL;
        }
        int64_t due = run_later(srv);
        uint64_t now = now_ms();
        if (now >= next_tick) {
            check_deadlines(srv);
            next_tick = now + WS_TICK_MS;
        }
        timeout = (int)(next_tick > now ? next_tick - now : 0);
        if (due >= 0 && due < timeout)
            timeout = (int)due;
        bury_dead(srv);
    }
}

/* ---- MHD side: handshake and upgrade ---- */

/* A peer that vanished without a FIN (a phone losing its network) is found by TCP
 * keepalive within about a minute, instead of lingering until the next write fails. */
static void set_keepalive(int fd)
{
    int on = 1, idle = 30, intvl = 10, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

static void on_upgrade(void *cls, struct MHD_Connection *connection, void *con_cls,
                       const char *extra_in, size_t extra_in_size, MHD_socket sock,
                       struct MHD_UpgradeResponseHandle *urh)
{
    ws_server *srv = cls;
    ws_conn *c = calloc(1, sizeof *c);
    if (c && extra_in_size) {
        c->extra = malloc(extra_in_size);
        if (c->extra) {
            memcpy(c->extra, extra_in, extra_in_size);
            c->extra_len = extra_in_size;
        }
    }
    if (!c || (extra_in_size && !c->extra)) {
        free(c);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    c->srv = srv;
    c->fd = sock;
    c->urh = urh;
    transport_client_address(connection, c->remote_ip, sizeof c->remote_ip);
    /* on_access checked the count; connections upgrading at the same moment may still pass
     * it together, so the count is taken here, and one over it is closed at once. */
    if (!ip_acquire(srv, c->remote_ip)) {
        count_refusal(WS_REFUSE_PER_IP, c->remote_ip, "over ws.max_connections_per_ip, closed after the upgrade");
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        ws_conn_unref(c);
        return;
    }
    c->ip_counted = true;
    ws_decoder_init(&c->dec, srv->max_message);
    int fl = fcntl(sock, F_GETFL);
    if (fl >= 0)
        fcntl(sock, F_SETFL, fl | O_NONBLOCK);
    set_keepalive(sock);
    pthread_mutex_lock(&srv->lock);
    bool stopping = srv->stopping;
    if (!stopping) {
        c->next_new = srv->fresh;
        srv->fresh = c;
    }
    pthread_mutex_unlock(&srv->lock);
    if (stopping) {
        ip_release(srv, c->remote_ip);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        ws_conn_unref(c);
        return;
    }
    wake_thread(srv);
}

static enum MHD_Result refuse(struct MHD_Connection *conn, unsigned status, const char *why)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(why), (void *)why,
                                                                MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    if (status == 426)
        MHD_add_response_header(resp, "Sec-WebSocket-Version", "13");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* A refusal with the REST API's error body: {"error":{"code":...,"message":...}}. */
static enum MHD_Result refuse_json(struct MHD_Connection *conn, unsigned status, const char *code,
                                   const char *message)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
    struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "Retry-After", "10");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    ws_server *srv = cls;
    static int marker;
    if (!*con_cls) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;   /* a handshake has no body; ignore one */
        return MHD_YES;
    }
    ws_handshake_request rq = {
        .method = method,
        .upgrade = header(conn, "Upgrade"),
        .connection = header(conn, "Connection"),
        .version = header(conn, "Sec-WebSocket-Version"),
        .key = header(conn, "Sec-WebSocket-Key"),
        .protocols = header(conn, "Sec-WebSocket-Protocol"),
    };
    bool echo = false;
    ws_handshake_status st =
        ws_handshake_check(&rq, srv->subprotocol[0] ? srv->subprotocol : NULL, &echo);
    if (st != WS_HS_OK)
        return refuse(conn, st == WS_HS_BAD_VERSION ? 426 : 400, ws_handshake_status_text(st));
    char accept[29];
    if (ws_handshake_accept(rq.key, accept) != 0)
        return refuse(conn, 400, "invalid Sec-WebSocket-Key");
    char ip[INET6_ADDRSTRLEN];
    transport_client_address(conn, ip, sizeof ip);
    if (ip_count(srv, ip) >= srv->per_ip) {
        count_refusal(WS_REFUSE_PER_IP, ip, "over ws.max_connections_per_ip, upgrade refused with 429");
        return refuse_json(conn, 429, "too_many_connections",
                           "Too many WebSocket connections from this address");
    }
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, srv);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    if (echo)
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", srv->subprotocol);
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    return rc;
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    transport_mhd_log_format(line, sizeof line, fmt, ap);
    LOG_WARN("ws", "libmicrohttpd: %s", line);
}

/* ---- start / stop ---- */

static void free_server(ws_server *srv)
{
    if (srv->ep >= 0)
        close(srv->ep);
    if (srv->wake >= 0)
        close(srv->wake);
    pthread_mutex_destroy(&srv->lock);
    pthread_mutex_destroy(&srv->ip_lock);
    if (srv->per_ip_count)
        g_hash_table_destroy(srv->per_ip_count);
    free(srv);
}

static int start_thread(ws_server *srv)
{
    srv->ep = epoll_create1(EPOLL_CLOEXEC);
    srv->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->ep < 0 || srv->wake < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->wake, &ev) != 0)
        return -1;
    return pthread_create(&srv->thread, NULL, ws_main, srv) == 0 ? 0 : -1;
}

static void stop_thread(ws_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_mutex_unlock(&srv->lock);
    wake_thread(srv);
    pthread_join(srv->thread, NULL);
}

ws_server *ws_server_start(const ws_server_config *cfg, const ws_callbacks *cb)
{
    struct sockaddr_storage ss;
    int family = transport_parse_bind(cfg->bind_ip, cfg->port, &ss);
    if (family < 0) {
        LOG_ERROR("ws", "invalid bind address \"%s\"", cfg->bind_ip);
        return NULL;
    }
    ws_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->cb = *cb;
    snprintf(srv->subprotocol, sizeof srv->subprotocol, "%s",
             cfg->subprotocol ? cfg->subprotocol : "");
    srv->max_message = cfg->max_message ? cfg->max_message : 1024 * 1024;
    srv->per_ip = cfg->max_connections_per_ip ? cfg->max_connections_per_ip : DEFAULT_PER_IP;
    srv->rate = cfg->max_messages_per_s ? cfg->max_messages_per_s : DEFAULT_RATE;
    srv->burst = srv->rate * 2;
    srv->idle_ms = (uint64_t)(cfg->idle_timeout_s ? cfg->idle_timeout_s : DEFAULT_IDLE_S) * 1000;
    srv->handshake_ms = (uint64_t)(cfg->handshake_timeout_s ? cfg->handshake_timeout_s : DEFAULT_HANDSHAKE_S) * 1000;
    srv->max_buffered = cfg->max_buffered_total ? cfg->max_buffered_total : DEFAULT_BUFFERED_TOTAL;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_mutex_init(&srv->ip_lock, NULL);
    srv->per_ip_count = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    srv->ep = srv->wake = -1;
    if (start_thread(srv) != 0) {
        LOG_ERROR("ws", "cannot start the ws thread");
        free_server(srv);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_UPGRADE | MHD_ALLOW_SUSPEND_RESUME | (unsigned)family;
    srv->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_access, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)WS_MAX_CONNECTIONS,
        /* Upgraded connections are refused with 429 past srv->per_ip (on_access); this bounds
         * what one address can hold before that answer: handshakes it never finishes. */
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(2 * srv->per_ip),
        MHD_OPTION_END);
    if (!srv->daemon) {
        LOG_ERROR("ws", "cannot listen on %s:%u", cfg->bind_ip, cfg->port);
        stop_thread(srv);
        free_server(srv);
        return NULL;
    }
    LOG_INFO("ws", "listening on %s:%u (subprotocol %s; %u connections per address, %u messages/s per "
             "connection, idle %us, handshake %us, %zu bytes buffered in all)", cfg->bind_ip, cfg->port,
             srv->subprotocol[0] ? srv->subprotocol : "none", srv->per_ip, srv->rate,
             (unsigned)(srv->idle_ms / 1000), (unsigned)(srv->handshake_ms / 1000), srv->max_buffered);
    return srv;
}

void ws_server_stop(ws_server *srv)
{
    if (!srv)
        return;
    stop_thread(srv);
    MHD_stop_daemon(srv->daemon);
    unsigned long overflows = atomic_load(&srv->overflows);
    LOG_INFO("ws", "stopped (%lu connections dropped for queue overflow)", overflows);
    free_server(srv);
}
