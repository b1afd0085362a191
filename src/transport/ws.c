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
 * Lifetime: a ws_conn is refcounted. The server's reference lives from the upgrade until the
 * socket is released (teardown); a place on the dirty list holds one more; users hold theirs.
 * Teardown (ws thread) marks the connection closed under its lock, releases the socket to
 * MHD (MHD_upgrade_action CLOSE), calls on_close once, and drops the server's reference.
 */
#include "transport/ws.h"

#include "proto/ws_frame.h"
#include "transport/addr.h"
#include "util/log.h"

#include <errno.h>
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WS_MAX_QUEUE (8u * 1024 * 1024)   /* outgoing bytes per connection before we drop it */
#define WS_CLOSE_WAIT_MS 2000             /* how long we wait for the peer's close reply */
#define WS_TICK_MS 250
/* Upgraded sockets stay counted by libmicrohttpd; its default limit (FD_SETSIZE - 4) would
 * cap us at about a thousand clients. */
#define WS_MAX_CONNECTIONS 16384

struct ws_conn {
    atomic_int refs;
    ws_server *srv;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    char remote_ip[INET6_ADDRSTRLEN];
    _Atomic(void *) user_data;
    /* ws thread only */
    ws_decoder dec;
    uint8_t *extra;              /* bytes MHD read past the request, decoded first */
    size_t extra_len;
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
    atomic_ulong overflows;
};

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
        LOG_WARN("ws", "%s: outgoing queue over %u bytes, closing", c->remote_ip, WS_MAX_QUEUE);
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
    pthread_mutex_lock(&c->lock);
    queue_close(c, code);
    pthread_mutex_unlock(&c->lock);
    flush(c);
}

static void on_close_frame(ws_conn *c, uint16_t code)
{
    c->close_received = true;
    c->read_stopped = true;
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

/* Runs decoded events; returns false once the connection stopped reading. */
static bool handle_event(ws_conn *c, const ws_event *ev)
{
    ws_server *srv = c->srv;
    switch (ev->type) {
    case WS_EV_TEXT:
        if (srv->cb.on_text)
            srv->cb.on_text(srv->cb.user, c, (const char *)ev->payload, ev->len);
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
        close_with(c, ev->close_code);
        return false;
    case WS_EV_NONE:
        break;
    }
    return true;
}

static void process_bytes(ws_conn *c, const uint8_t *data, size_t len)
{
    while (len > 0 && !c->read_stopped) {
        ws_event ev;
        size_t used = ws_decoder_feed(&c->dec, data, len, &ev);
        data += used;
        len -= used;
        if (ev.type == WS_EV_NONE)
            break;
        if (!handle_event(c, &ev))
            break;
    }
}

static void read_socket(ws_conn *c)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            if (!c->read_stopped)
                process_bytes(c, buf, (size_t)n);
            if (c->closed)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        teardown(c, n == 0 ? "peer closed the socket" : "read failed");
        return;
    }
}

/* ---- ws thread: main loop ---- */

static void adopt(ws_server *srv, ws_conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    c->next = srv->open;
    if (c->next)
        c->next->prev = c;
    srv->open = c;
    if (epoll_ctl(srv->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        teardown(c, "epoll_ctl failed");
        return;
    }
    c->opened = true;
    if (srv->cb.on_open)
        srv->cb.on_open(srv->cb.user, c);
    if (c->extra_len && !c->closed) {
        process_bytes(c, c->extra, c->extra_len);
        free(c->extra);
        c->extra = NULL;
        c->extra_len = 0;
    }
    if (!c->closed)
        read_socket(c);   /* bytes may have arrived before the socket joined the epoll set */
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

static void check_deadlines(ws_server *srv)
{
    uint64_t now = now_ms();
    for (ws_conn *c = srv->open, *n; c; c = n) {
        n = c->next;
        if (c->close_deadline && now >= c->close_deadline)
            teardown(c, "no close reply");
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
    for (;;) {
        int n = epoll_wait(srv->ep, evs, 64, WS_TICK_MS);
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
            if (!c->closed && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                read_socket(c);
        }
        pthread_mutex_lock(&srv->lock);
        bool stopping = srv->stopping;
        pthread_mutex_unlock(&srv->lock);
        run_queues(srv);
        if (stopping) {
            shut_all(srv);
            run_queues(srv);   /* drop the dirty references the closes made */
            bury_dead(srv);
            return NULL;
        }
        if (now_ms() >= next_tick) {
            check_deadlines(srv);
            next_tick = now_ms() + WS_TICK_MS;
        }
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
    pthread_mutex_init(&srv->lock, NULL);
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
        MHD_OPTION_END);
    if (!srv->daemon) {
        LOG_ERROR("ws", "cannot listen on %s:%u", cfg->bind_ip, cfg->port);
        stop_thread(srv);
        free_server(srv);
        return NULL;
    }
    LOG_INFO("ws", "listening on %s:%u (subprotocol %s)", cfg->bind_ip, cfg->port,
             srv->subprotocol[0] ? srv->subprotocol : "none");
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
