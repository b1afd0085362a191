/*
 * http: libmicrohttpd glue. See http.h for the contract.
 *
 * A request's life: MHD calls on_access() several times per request (headers, body chunks,
 * end). We collect the body into the http_reply (bounded), then call the handler once. If the
 * handler answered before returning, the response is queued at once; otherwise the
 * connection is suspended, and whichever thread answers queues the response and resumes it.
 *
 * Suspended connections are invisible to MHD's poller, so MHD cannot see a long-poll client
 * leave. A small watch thread polls the sockets of suspended connections for hang-up
 * (EPOLLRDHUP) and resumes such a connection without a response; on_access then refuses it
 * and MHD closes it, reporting through on_completed(), which fires the user's on_close.
 *
 * Abuse limits. Connections are counted per client address (IPv6: per /64) in a table of the
 * server's: on_accept (MHD's accept policy) refuses an address at its limit, on_connection
 * (MHD's connection notifications) counts a connection in when it starts and out when it
 * closes. The check and the count are not one atomic step, so up to (threads - 1)
 * connections may slip past the limit at once; that bounds the overshoot without a count
 * that could leak (a connection MHD drops between the two is never counted). The http_reply
 * is created when the request line arrives (MHD's URI log callback), which makes MHD report
 * a request that times out before its headers are complete through on_completed with
 * MHD_REQUEST_TERMINATED_TIMEOUT_REACHED, so such timeouts can be counted and logged.
 *
 * Lifetime of an http_reply: one reference belongs to MHD (dropped in on_completed), one to
 * the user from the handler call until the first answer. Every thread that touches a reply
 * found through the suspended list takes a reference under the server lock first. Lock
 * order: reply lock, then server lock. MHD is never called with the server lock held.
 */
#include "transport/http.h"

#include "transport/addr.h"
#include "transport/http_file.h"
#include "transport/http_stats.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define HTTP_CONN_MEMORY (64 * 1024)
/* Each waiting long-poll holds a connection; the default (FD_SETSIZE - 4) is too low. */
#define HTTP_MAX_CONNECTIONS 16384
#define HTTP_CORS_HEADERS "Content-Type, Authorization, Idempotency-Key, X-Requested-With, " \
                          "Accept, Cache-Control"
#define HTTP_CORS_METHODS "GET, POST, PUT, PATCH, DELETE, OPTIONS"

typedef struct reply_header {
    struct reply_header *next;
    char *name;
    char *value;
} reply_header;

struct http_server {
    struct MHD_Daemon *daemon;
    http_handler_fn handler;
    void *user;
    size_t max_body;
    bool cors;
    char name[16];
    http_stats_slot *stats;      /* responses by status, for /metrics */
    unsigned per_ip_max;         /* open connections allowed per address key */
    unsigned timeout_s;          /* MHD_OPTION_CONNECTION_TIMEOUT */
    pthread_mutex_t ip_lock;     /* guards per_ip */
    GHashTable *per_ip;          /* address key (char *) -> open connections (GUINT_TO_POINTER) */
    pthread_mutex_t lock;        /* guards the fields below */
    http_reply *suspended;       /* doubly linked list of suspended replies */
    bool stopping;
    int draining;                /* 503s sent by stop that MHD has not completed yet */
    pthread_cond_t drained;
    uint64_t next_id;
    int watch_ep;                /* epoll over suspended sockets, data.u64 = reply id */
    int watch_wake;              /* eventfd that stops the watch thread */
    pthread_t watch_thread;
};

/* Longest address key: an IPv6 /64 prefix in text plus "/64". */
#define ADDR_KEY_LEN (INET6_ADDRSTRLEN + 4)

/* One per TCP connection (MHD's socket context), from on_connection STARTED to CLOSED. */
typedef struct conn_ctx {
    char key[ADDR_KEY_LEN];
    long long opened_ms;
    unsigned requests;           /* request lines received on this connection */
} conn_ctx;

struct http_reply {
    atomic_int refs;
    pthread_mutex_t lock;        /* guards the reply state below */
    http_server *srv;
    struct MHD_Connection *conn; /* NULL once MHD completed the request */
    uint64_t id;
    int fd;
    char remote_ip[INET6_ADDRSTRLEN];
    bool cors;
    /* request body collection (MHD thread only) */
    char *body;
    size_t body_len;
    size_t body_cap;
    bool too_large;
    bool early;                  /* answered before the body (413, preflight) */
    bool handled;                /* the handler has been called */
    bool seen;                   /* on_access has had its first (headers) call */
    /* reply state */
    bool in_handler;
    bool answered;               /* a response exists (user's, or the server's 503) */
    bool suspended;
    bool closed;
    bool client_gone;
    bool close_notified;
    bool user_done;              /* the user's answer came (its reference is gone) */
    bool stop_answer;            /* answered by http_server_stop; counted in draining */
    struct MHD_Response *pending;   /* built inside the handler, queued after it returns */
    unsigned pending_status;
    reply_header *headers;
    void (*on_close)(void *arg);
    void *on_close_arg;
    void (*on_release)(void *arg);
    void *on_release_arg;
    http_reply *prev, *next;     /* suspended list (server lock) */
};

/* ---- refusals ---- */

static atomic_uint_fast64_t refusals[HTTP_REFUSAL_COUNT];
static const char *const refusal_names[HTTP_REFUSAL_COUNT] = {
    "per_ip", "timeout", "duplicate_content_length", "connection_limit", "admin_host", "admin_origin",
};
/* One log limiter per reason: at most one line a second, then the number suppressed. */
static log_ratelimit refusal_log[HTTP_REFUSAL_COUNT];

const char *http_refusal_name(http_refusal reason)
{
    return (unsigned)reason < HTTP_REFUSAL_COUNT ? refusal_names[reason] : "unknown";
}

void http_refusal_count(http_refusal reason)
{
    if ((unsigned)reason < HTTP_REFUSAL_COUNT)
        atomic_fetch_add_explicit(&refusals[reason], 1, memory_order_relaxed);
}

uint64_t http_refusals(http_refusal reason)
{
    return (unsigned)reason < HTTP_REFUSAL_COUNT
               ? atomic_load_explicit(&refusals[reason], memory_order_relaxed) : 0;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The key connections are counted under: the IPv4 address (also for IPv4-mapped IPv6), the
 * /64 of an IPv6 address (one subscriber usually holds a whole /64). */
static void addr_key(const struct sockaddr *sa, char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    if (!sa)
        return;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_INET6) {
        struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            inet_ntop(AF_INET, &a.s6_addr[12], out, (socklen_t)cap);
            return;
        }
        memset(&a.s6_addr[8], 0, 8);
        char text[INET6_ADDRSTRLEN];
        if (inet_ntop(AF_INET6, &a, text, sizeof text))
            snprintf(out, cap, "%s/64", text);
    }
}

/* ---- replies ---- */

static void reply_unref(http_reply *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    if (r->on_release)
        r->on_release(r->on_release_arg);
    for (reply_header *h = r->headers, *n; h; h = n) {
        n = h->next;
        free(h->name);
        free(h->value);
        free(h);
    }
    if (r->pending)
        MHD_destroy_response(r->pending);
    pthread_mutex_destroy(&r->lock);
    free(r->body);
    free(r);
}

static http_reply *reply_new(http_server *srv, struct MHD_Connection *conn)
{
    http_reply *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->lock, NULL);
    r->srv = srv;
    r->cors = srv->cors;   /* copied: answers may come after the server is gone */
    r->conn = conn;
    r->fd = -1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        r->fd = ci->connect_fd;
    transport_client_address(conn, r->remote_ip, sizeof r->remote_ip);
    return r;
}

/* ---- responses ---- */

static void add_common_headers(struct MHD_Response *resp, const char *content_type, bool cors)
{
    if (content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (cors)
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
}

static struct MHD_Response *buffer_response(const char *content_type, const char *body,
                                            size_t len, const reply_header *headers, bool cors)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return NULL;
    add_common_headers(resp, content_type ? content_type : "application/json", cors);
    for (const reply_header *h = headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    return resp;
}

static struct MHD_Response *json_error(const char *code, const char *message, bool cors)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                     code, message);
    return buffer_response("application/json", body, (size_t)n, NULL, cors);
}

/* Every response of ours goes out here, so this is where they are counted. */
static enum MHD_Result queue_and_drop(const http_server *srv, struct MHD_Connection *conn,
                                      unsigned status, struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    if (rc == MHD_YES)
        http_stats_count(srv->stats, status);
    return rc;
}

/* ---- the watch thread: hang-ups of suspended connections ---- */

/* Removes r from the suspended list and the watch set. Caller holds r->lock. */
static void unlist_suspended(http_reply *r)
{
    http_server *srv = r->srv;
    pthread_mutex_lock(&srv->lock);
    if (r->prev)
        r->prev->next = r->next;
    else if (srv->suspended == r)
        srv->suspended = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    pthread_mutex_unlock(&srv->lock);
    if (r->fd >= 0)
        epoll_ctl(srv->watch_ep, EPOLL_CTL_DEL, r->fd, NULL);
}

/* Finds a suspended reply by id and takes a reference, or NULL. */
static http_reply *find_suspended(http_server *srv, uint64_t id)
{
    http_reply *found = NULL;
    pthread_mutex_lock(&srv->lock);
    for (http_reply *r = srv->suspended; r; r = r->next) {
        if (r->id == id) {
            atomic_fetch_add(&r->refs, 1);
            found = r;
            break;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    return found;
}

static void fire_on_close(http_reply *r, void (*fn)(void *), void *arg)
{
    LOG_DEBUG("http", "%s: client %s left before the reply", r->srv->name, r->remote_ip);
    if (fn)
        fn(arg);
}

/* The client of a suspended request hung up: resume without a response so MHD closes it. */
static void client_hung_up(http_server *srv, uint64_t id)
{
    http_reply *r = find_suspended(srv, id);
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    bool resume = r->suspended && !r->answered;
    void (*fn)(void *) = NULL;
    void *arg = NULL;
    struct MHD_Connection *conn = r->conn;
    if (resume) {
        r->suspended = false;
        r->client_gone = true;
        r->closed = true;
        r->close_notified = true;
        fn = r->on_close;
        arg = r->on_close_arg;
        unlist_suspended(r);
    }
    pthread_mutex_unlock(&r->lock);
    if (resume) {
        MHD_resume_connection(conn);
        fire_on_close(r, fn, arg);
    }
    reply_unref(r);
}

static void *watch_main(void *arg)
{
    http_server *srv = arg;
    struct epoll_event evs[32];
    for (;;) {
        int n = epoll_wait(srv->watch_ep, evs, 32, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == 0)
                return NULL;     /* the wake eventfd: stopping */
            client_hung_up(srv, evs[i].data.u64);
        }
    }
    return NULL;
}

/* ---- the MHD callbacks ---- */

/* Called after the handler returned: queue its answer, or suspend until someone answers. */
static enum MHD_Result after_handler(http_reply *r, struct MHD_Connection *conn)
{
    http_server *srv = r->srv;
    pthread_mutex_lock(&r->lock);
    r->in_handler = false;
    if (r->pending) {
        struct MHD_Response *resp = r->pending;
        unsigned status = r->pending_status;
        r->pending = NULL;
        pthread_mutex_unlock(&r->lock);
        return queue_and_drop(srv, conn, status, resp);
    }
    pthread_mutex_lock(&srv->lock);
    bool stopping = srv->stopping;
    if (!stopping) {
        r->id = ++srv->next_id;
        r->next = srv->suspended;
        if (r->next)
            r->next->prev = r;
        srv->suspended = r;
    }
    pthread_mutex_unlock(&srv->lock);
    if (stopping) {
        /* Too late to wait: the server answers, and the user learns through on_close. */
        r->answered = true;
        r->closed = true;
        r->close_notified = true;
        void (*fn)(void *) = r->on_close;
        void *arg = r->on_close_arg;
        pthread_mutex_unlock(&r->lock);
        fire_on_close(r, fn, arg);
        return queue_and_drop(srv, conn, 503, json_error("unavailable", "server is stopping", r->cors));
    }
    r->suspended = true;
    MHD_suspend_connection(conn);
    if (r->fd >= 0) {
        struct epoll_event ev = {.events = EPOLLRDHUP, .data.u64 = r->id};
        epoll_ctl(srv->watch_ep, EPOLL_CTL_ADD, r->fd, &ev);
    }
    pthread_mutex_unlock(&r->lock);
    return MHD_YES;
}

static enum MHD_Result run_handler(http_reply *r, struct MHD_Connection *conn,
                                   const char *url, const char *method)
{
    http_server *srv = r->srv;
    if (!r->body)
        r->body = calloc(1, 1);
    if (!r->body)
        return MHD_NO;
    http_request req = {
        .method = method,
        .path = url,
        .body = r->body,
        .body_len = r->body_len,
        .remote_ip = r->remote_ip,
        .internal = conn,
    };
    r->handled = true;
    r->in_handler = true;
    atomic_fetch_add(&r->refs, 1);   /* the user's reference, dropped by the first answer */
    srv->handler(srv->user, &req, r);
    return after_handler(r, conn);
}

static enum MHD_Result early_answer(http_reply *r, struct MHD_Connection *conn, unsigned status,
                                    struct MHD_Response *resp)
{
    r->early = true;
    r->answered = true;
    return queue_and_drop(r->srv, conn, status, resp);
}

static enum MHD_Result preflight(http_reply *r, struct MHD_Connection *conn)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
                                                                MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    add_common_headers(resp, NULL, true);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", HTTP_CORS_METHODS);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", HTTP_CORS_HEADERS);
    MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    return early_answer(r, conn, 204, resp);
}

static struct MHD_Response *too_large(const http_server *srv)
{
    char msg[96];
    snprintf(msg, sizeof msg, "request body exceeds %zu bytes", srv->max_body);
    return json_error("payload_too_large", msg, srv->cors);
}

/* Two Content-Length values are the same length when both are the same decimal number (or,
 * failing that, the same text). */
static bool same_length(const char *a, const char *b)
{
    char *ea, *eb;
    errno = 0;
    unsigned long long na = strtoull(a, &ea, 10);
    unsigned long long nb = strtoull(b, &eb, 10);
    if (errno == 0 && ea != a && *ea == '\0' && eb != b && *eb == '\0')
        return na == nb;
    return strcmp(a, b) == 0;
}

typedef struct length_scan {
    const char *first;
    bool conflict;
} length_scan;

static enum MHD_Result scan_content_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    length_scan *ls = cls;
    if (!key || strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
        return MHD_YES;
    if (!value)
        value = "";
    if (!ls->first)
        ls->first = value;
    else if (!same_length(ls->first, value))
        ls->conflict = true;
    return MHD_YES;
}

/* RFC 9112 6.3: a message with differing Content-Length values is unrecoverable (a proxy in
 * front may have framed it by the other one: request smuggling). libmicrohttpd 0.9.75
 * takes the first; we answer 400 and close the connection. */
static enum MHD_Result refuse_conflicting_length(http_reply *r, struct MHD_Connection *conn)
{
    http_server *srv = r->srv;
    http_refusal_count(HTTP_REFUSAL_DUPLICATE_CONTENT_LENGTH);
    log_msg_ratelimited(&refusal_log[HTTP_REFUSAL_DUPLICATE_CONTENT_LENGTH], LOG_LEVEL_WARN, "http",
                        "%s: refused a request from %s with differing Content-Length headers (400)",
                        srv->name, r->remote_ip);
    struct MHD_Response *resp = json_error("bad_request", "conflicting Content-Length headers", srv->cors);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    return early_answer(r, conn, 400, resp);
}

/* First call for a request: headers are in. Refuses differing Content-Lengths, answers
 * preflights and oversize declared bodies at once. */
static enum MHD_Result on_headers(http_server *srv, struct MHD_Connection *conn,
                                  const char *method, void **con_cls)
{
    http_reply *r = *con_cls;
    if (!r) {
        r = reply_new(srv, conn);   /* on_uri could not make one */
        if (!r)
            return MHD_NO;
        *con_cls = r;
    }
    r->seen = true;
    length_scan ls = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_content_length, &ls);
    if (ls.conflict)
        return refuse_conflicting_length(r, conn);
    if (srv->cors && strcmp(method, "OPTIONS") == 0)
        return preflight(r, conn);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && n > srv->max_body)
            return early_answer(r, conn, 413, too_large(srv));
    }
    return MHD_YES;
}

static void collect_body(http_reply *r, const char *data, size_t len, size_t max)
{
    if (r->too_large)
        return;
    if (len > max - r->body_len) {
        r->too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
        return;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *p = realloc(r->body, cap);
        if (!p) {
            r->too_large = true;   /* no memory: refuse like an oversize body */
            return;
        }
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    http_server *srv = cls;
    http_reply *r = *con_cls;
    if (!r || !r->seen)
        return on_headers(srv, conn, method, con_cls);
    if (r->early) {
        *upload_data_size = 0;   /* the answer is out; the body is discarded */
        return MHD_YES;
    }
    if (*upload_data_size) {
        collect_body(r, upload_data, *upload_data_size, srv->max_body);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_large)
        return early_answer(r, conn, 413, too_large(srv));
    if (!r->handled)
        return run_handler(r, conn, url, method);
    /* Resumed. A response queued while suspended is sent by MHD without asking us again;
     * a resume without one means the client hung up: refuse, and MHD closes it. */
    pthread_mutex_lock(&r->lock);
    bool gone = r->client_gone;
    pthread_mutex_unlock(&r->lock);
    return gone ? MHD_NO : MHD_YES;
}

/* A connection closed by request_timeout_s: counted and logged (rate-limited). */
static void timed_out(const http_server *srv, const char *who)
{
    http_refusal_count(HTTP_REFUSAL_TIMEOUT);
    log_msg_ratelimited(&refusal_log[HTTP_REFUSAL_TIMEOUT], LOG_LEVEL_WARN, "http",
                        "%s: closed a connection from %s after %u s without progress (request_timeout_s)",
                        srv->name, who, srv->timeout_s);
}

/* MHD's accept policy: refuses an address that already holds per_ip_max connections. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    http_server *srv = cls;
    (void)addrlen;
    char key[ADDR_KEY_LEN];
    addr_key(addr, key, sizeof key);
    pthread_mutex_lock(&srv->ip_lock);
    unsigned open = GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_ip, key));
    pthread_mutex_unlock(&srv->ip_lock);
    if (open < srv->per_ip_max)
        return MHD_YES;
    http_refusal_count(HTTP_REFUSAL_PER_IP);
    log_msg_ratelimited(&refusal_log[HTTP_REFUSAL_PER_IP], LOG_LEVEL_WARN, "http",
                        "%s: refused a connection from %s: %u already open from that address "
                        "(max_connections_per_ip)", srv->name, key, open);
    return MHD_NO;
}

/* MHD's connection notifications: counts connections per address in and out. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_ctx *c = calloc(1, sizeof *c);
        if (!c)
            return;   /* not counted: it cannot be counted out either */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        addr_key(ci ? ci->client_addr : NULL, c->key, sizeof c->key);
        c->opened_ms = mono_ms();
        pthread_mutex_lock(&srv->ip_lock);
        unsigned open = GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_ip, c->key));
        g_hash_table_insert(srv->per_ip, g_strdup(c->key), GUINT_TO_POINTER(open + 1));
        pthread_mutex_unlock(&srv->ip_lock);
        *socket_context = c;
        return;
    }
    conn_ctx *c = *socket_context;
    if (!c)
        return;
    *socket_context = NULL;
    pthread_mutex_lock(&srv->ip_lock);
    unsigned open = GPOINTER_TO_UINT(g_hash_table_lookup(srv->per_ip, c->key));
    if (open <= 1)
        g_hash_table_remove(srv->per_ip, c->key);
    else
        g_hash_table_insert(srv->per_ip, g_strdup(c->key), GUINT_TO_POINTER(open - 1));
    pthread_mutex_unlock(&srv->ip_lock);
    /* Never a whole request line in as long as the timeout: MHD closed it for silence (a
     * request that had started is counted by on_completed instead). */
    if (c->requests == 0 && mono_ms() - c->opened_ms >= (long long)srv->timeout_s * 1000 - 250)
        timed_out(srv, c->key);
    free(c);
}

/* MHD's URI log callback: the request line is in. The reply made here becomes the request's
 * con_cls, and MHD now reports the request's end (a timeout included) to on_completed. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)uri;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context)
        ((conn_ctx *)ci->socket_context)->requests++;
    return reply_new(cls, conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_reply *r = *con_cls;
    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        timed_out(cls, r ? r->remote_ip : "unknown");
    if (!r)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&r->lock);
    bool fire = r->handled && !r->answered && !r->close_notified;
    r->closed = true;
    r->conn = NULL;
    if (fire)
        r->close_notified = true;
    void (*fn)(void *) = r->on_close;
    void *arg = r->on_close_arg;
    pthread_mutex_unlock(&r->lock);
    if (fire)
        fire_on_close(r, fn, arg);
    if (r->stop_answer) {
        http_server *srv = r->srv;
        pthread_mutex_lock(&srv->lock);
        if (--srv->draining == 0)
            pthread_cond_broadcast(&srv->drained);
        pthread_mutex_unlock(&srv->lock);
    }
    reply_unref(r);
}

/* libmicrohttpd's warnings, rate-limited per message format (a client can trigger most of
 * them at will: aborted requests, malformed ones, the connection limit). Formats that share
 * a slot share its limit: "similar messages". */
#define MHD_LOG_SLOTS 32
static log_ratelimit mhd_log_limit[MHD_LOG_SLOTS];

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    transport_mhd_log_format(line, sizeof line, fmt, ap);
    /* Our refusal of a resumed request whose client left is routine, not a warning. */
    if (strstr(line, "Application reported internal error")) {
        LOG_DEBUG("http", "%s: libmicrohttpd: %s", (const char *)cls, line);
        return;
    }
    /* With our own per-address limit in on_accept, this is MHD's total connection limit. */
    if (strstr(line, "Server reached connection limit"))
        http_refusal_count(HTTP_REFUSAL_CONNECTION_LIMIT);
    size_t slot = (size_t)(((uintptr_t)fmt >> 4) % MHD_LOG_SLOTS);
    log_msg_ratelimited(&mhd_log_limit[slot], LOG_LEVEL_WARN, "http", "%s: libmicrohttpd: %s",
                        (const char *)cls, line);
}

/* ---- public API: requests ---- */

const char *http_request_header(const http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->internal, MHD_HEADER_KIND, name);
}

const char *http_request_query(const http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->internal, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- public API: answering ---- */

void http_reply_add_header(http_reply *r, const char *name, const char *value)
{
    reply_header *h = calloc(1, sizeof *h);
    if (!h)
        return;
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        free(h);
        return;
    }
    pthread_mutex_lock(&r->lock);
    h->next = r->headers;
    r->headers = h;
    pthread_mutex_unlock(&r->lock);
}

/* Hands a built response to the connection; consumes resp and the user's reference. */
static void deliver(http_reply *r, unsigned status, struct MHD_Response *resp)
{
    pthread_mutex_lock(&r->lock);
    if (r->user_done) {
        /* A second answer while the reply still lives: ignored. */
        pthread_mutex_unlock(&r->lock);
        if (resp)
            MHD_destroy_response(resp);
        return;
    }
    r->user_done = true;
    if (r->answered || r->closed || (!r->in_handler && !r->suspended)) {
        r->answered = true;
        pthread_mutex_unlock(&r->lock);
        if (resp)
            MHD_destroy_response(resp);
        reply_unref(r);
        return;
    }
    r->answered = true;
    if (!resp)
        resp = json_error("internal", "could not build the response", r->cors);
    if (r->in_handler) {
        r->pending = resp;
        r->pending_status = status;
        pthread_mutex_unlock(&r->lock);
        reply_unref(r);
        return;
    }
    /* Suspended: only this thread may resume it now, so the connection stays valid. */
    struct MHD_Connection *conn = r->conn;
    r->suspended = false;
    unlist_suspended(r);
    pthread_mutex_unlock(&r->lock);
    queue_and_drop(r->srv, conn, status, resp);
    MHD_resume_connection(conn);
    reply_unref(r);
}

void http_reply_send(http_reply *r, int status, const char *content_type, const char *body,
                     size_t len)
{
    pthread_mutex_lock(&r->lock);
    bool dead = r->answered || r->closed;
    reply_header *headers = r->headers;
    r->headers = NULL;
    pthread_mutex_unlock(&r->lock);
    struct MHD_Response *resp = dead ? NULL : buffer_response(content_type, body, len, headers, r->cors);
    for (reply_header *h = headers, *n; h; h = n) {
        n = h->next;
        free(h->name);
        free(h->value);
        free(h);
    }
    deliver(r, (unsigned)status, resp);
}

void http_reply_send_file(http_reply *r, const char *path)
{
    http_file f;
    http_file_status st = path ? http_file_open(path, &f) : HTTP_FILE_NOT_FOUND;
    if (st == HTTP_FILE_FORBIDDEN) {
        deliver(r, 403, json_error("forbidden", "path not allowed", r->cors));
        return;
    }
    if (st != HTTP_FILE_OK) {
        deliver(r, 404, json_error("not_found", "no such file", r->cors));
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd(f.size, f.fd);
    if (!resp) {
        close(f.fd);
        deliver(r, 500, json_error("internal", "cannot serve the file", r->cors));
        return;
    }
    add_common_headers(resp, f.content_type, r->cors);
    pthread_mutex_lock(&r->lock);
    for (const reply_header *h = r->headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    pthread_mutex_unlock(&r->lock);
    deliver(r, 200, resp);
}

bool http_reply_is_closed(const http_reply *r)
{
    http_reply *m = (http_reply *)r;
    pthread_mutex_lock(&m->lock);
    bool closed = m->closed;
    pthread_mutex_unlock(&m->lock);
    return closed;
}

void http_reply_on_close(http_reply *r, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&r->lock);
    r->on_close = fn;
    r->on_close_arg = arg;
    pthread_mutex_unlock(&r->lock);
}

void http_reply_on_release(http_reply *r, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&r->lock);
    r->on_release = fn;
    r->on_release_arg = arg;
    pthread_mutex_unlock(&r->lock);
}

/* ---- public API: the server ---- */

static int start_watch(http_server *srv)
{
    srv->watch_ep = epoll_create1(EPOLL_CLOEXEC);
    srv->watch_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->watch_ep < 0 || srv->watch_wake < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    if (epoll_ctl(srv->watch_ep, EPOLL_CTL_ADD, srv->watch_wake, &ev) != 0)
        return -1;
    return pthread_create(&srv->watch_thread, NULL, watch_main, srv) == 0 ? 0 : -1;
}

static void free_server(http_server *srv)
{
    pthread_cond_destroy(&srv->drained);
    pthread_mutex_destroy(&srv->lock);
    pthread_mutex_destroy(&srv->ip_lock);
    g_hash_table_destroy(srv->per_ip);
    free(srv);
}

static void close_fds(http_server *srv)
{
    if (srv->watch_ep >= 0)
        close(srv->watch_ep);
    if (srv->watch_wake >= 0)
        close(srv->watch_wake);
}

http_server *http_server_start(const http_server_config *cfg, http_handler_fn handler, void *user)
{
    struct sockaddr_storage ss;
    int family = transport_parse_bind(cfg->bind_ip, cfg->port, &ss);
    const char *name = cfg->name ? cfg->name : "http";
    if (family < 0) {
        LOG_ERROR("http", "%s: invalid bind address \"%s\"", name, cfg->bind_ip);
        return NULL;
    }
    http_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return NULL;
    srv->handler = handler;
    srv->user = user;
    srv->max_body = cfg->max_body;
    srv->cors = !cfg->no_cors;
    snprintf(srv->name, sizeof srv->name, "%s", name);
    srv->stats = http_stats_slot_for(srv->name);
    srv->per_ip_max = cfg->max_connections_per_ip ? cfg->max_connections_per_ip
                                                  : HTTP_DEFAULT_MAX_CONNECTIONS_PER_IP;
    srv->timeout_s = cfg->request_timeout_s ? cfg->request_timeout_s : HTTP_DEFAULT_REQUEST_TIMEOUT_S;
    srv->per_ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    pthread_mutex_init(&srv->ip_lock, NULL);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->drained, NULL);
    srv->watch_ep = srv->watch_wake = -1;
    if (start_watch(srv) != 0) {
        LOG_ERROR("http", "%s: cannot start the watch thread", name);
        close_fds(srv);
        free_server(srv);
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | (unsigned)family;
    unsigned pool = cfg->threads > 1 ? cfg->threads : 1;
    /* MHD warns about a pool of one: pass the option only for a real pool. */
    struct MHD_OptionItem pool_opt[] = {
        {pool > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(flags, cfg->port, on_accept, srv, on_access, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv->name,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, srv->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
        MHD_OPTION_ARRAY, pool_opt,
        MHD_OPTION_END);
    if (!srv->daemon) {
        LOG_ERROR("http", "%s: cannot listen on %s:%u", name, cfg->bind_ip, cfg->port);
        uint64_t one = 1;
        if (write(srv->watch_wake, &one, sizeof one) < 0)
            LOG_WARN("http", "%s: wake failed", name);
        pthread_join(srv->watch_thread, NULL);
        close_fds(srv);
        free_server(srv);
        return NULL;
    }
    LOG_INFO("http", "%s: listening on %s:%u (%u threads, %u connections per address, %u s timeout)",
             name, cfg->bind_ip, cfg->port, pool, srv->per_ip_max, srv->timeout_s);
    return srv;
}

/* Answers one suspended reply with 503 on behalf of a stopping server. */
static void answer_for_stop(http_reply *r)
{
    pthread_mutex_lock(&r->lock);
    bool mine = r->suspended && !r->answered;
    struct MHD_Connection *conn = r->conn;
    void (*fn)(void *) = r->on_close;
    void *arg = r->on_close_arg;
    if (mine) {
        r->suspended = false;
        r->answered = true;
        r->closed = true;
        r->close_notified = true;
        r->stop_answer = true;
        unlist_suspended(r);
        pthread_mutex_lock(&r->srv->lock);
        r->srv->draining++;
        pthread_mutex_unlock(&r->srv->lock);
    }
    pthread_mutex_unlock(&r->lock);
    if (!mine)
        return;
    queue_and_drop(r->srv, conn, 503, json_error("unavailable", "server is stopping", r->cors));
    MHD_resume_connection(conn);
    fire_on_close(r, fn, arg);
}

void http_server_stop(http_server *srv)
{
    if (!srv)
        return;
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_mutex_unlock(&srv->lock);
    for (;;) {
        pthread_mutex_lock(&srv->lock);
        http_reply *r = srv->suspended;
        if (r)
            atomic_fetch_add(&r->refs, 1);
        pthread_mutex_unlock(&srv->lock);
        if (!r)
            break;
        answer_for_stop(r);
        reply_unref(r);
    }
    /* Give the 503s a moment to go out: MHD_stop_daemon drops unsent responses. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    pthread_mutex_lock(&srv->lock);
    while (srv->draining > 0)
        if (pthread_cond_timedwait(&srv->drained, &srv->lock, &until) != 0)
            break;
    pthread_mutex_unlock(&srv->lock);
    MHD_stop_daemon(srv->daemon);
    uint64_t one = 1;
    if (write(srv->watch_wake, &one, sizeof one) < 0)
        LOG_WARN("http", "%s: wake failed", srv->name);
    pthread_join(srv->watch_thread, NULL);
    close_fds(srv);
    LOG_INFO("http", "%s: stopped", srv->name);
    free_server(srv);
}

/* ---- public API: Host and Origin checks ---- */

/* Copies a host (name or IP literal, without brackets or port) in canonical form: lower
 * case, one trailing dot dropped, IP literals as inet_ntop writes them. */
static bool canonical_host(const char *in, size_t len, char *out, size_t cap)
{
    if (len && in[len - 1] == '.')
        len--;
    if (len == 0 || len >= cap)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == '@' || ch == '[' || ch == ']')
            return false;
        out[i] = (char)g_ascii_tolower((char)ch);
    }
    out[len] = '\0';
    unsigned char bin[sizeof(struct in6_addr)];
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, out, bin) == 1 && inet_ntop(AF_INET6, bin, text, sizeof text))
        snprintf(out, cap, "%s", text);
    else if (inet_pton(AF_INET, out, bin) == 1 && inet_ntop(AF_INET, bin, text, sizeof text))
        snprintf(out, cap, "%s", text);
    return true;
}

static bool all_digits(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* Splits an authority "host", "host:port", "[v6]", "[v6]:port" and canonicalises its host.
 * bare_v6: also take an unbracketed IPv6 literal (list entries, bind addresses). */
static bool authority_host(const char *in, size_t len, bool bare_v6, char *out, size_t cap)
{
    const char *end = in + len;
    if (len && in[0] == '[') {
        const char *rb = memchr(in, ']', len);
        if (!rb || (rb + 1 < end && (rb[1] != ':' || !all_digits(rb + 2, end))))
            return false;
        unsigned char bin[sizeof(struct in6_addr)];
        char v6[INET6_ADDRSTRLEN];
        size_t hl = (size_t)(rb - in - 1);
        if (hl == 0 || hl >= sizeof v6)
            return false;
        memcpy(v6, in + 1, hl);
        v6[hl] = '\0';
        if (inet_pton(AF_INET6, v6, bin) != 1)
            return false;
        return canonical_host(v6, hl, out, cap);
    }
    const char *colon = memchr(in, ':', len);
    if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
        return bare_v6 && canonical_host(in, len, out, cap);   /* "::1" */
    if (colon && !all_digits(colon + 1, end))
        return false;
    return canonical_host(in, colon ? (size_t)(colon - in) : len, out, cap);
}

static bool is_ip_literal(const char *canonical)
{
    unsigned char bin[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, canonical, bin) == 1 || inet_pton(AF_INET6, canonical, bin) == 1;
}

/* Is the canonical host one of the allowed list, the bind address, or (wildcard bind) an IP
 * literal? */
static bool name_allowed(const char *host, const char *allowed, const char *bind_ip)
{
    char entry[256];
    for (const char *p = allowed ? allowed : ""; *p;) {
        const char *comma = strchr(p, ',');
        const char *e = comma ? comma : p + strlen(p);
        const char *a = p, *b = e;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a && authority_host(a, (size_t)(b - a), true, entry, sizeof entry) &&
            strcmp(entry, host) == 0)
            return true;
        p = comma ? comma + 1 : e;
    }
    const char *bind = bind_ip ? bind_ip : "";
    bool wildcard = bind[0] == '\0';
    if (!wildcard && authority_host(bind, strlen(bind), true, entry, sizeof entry)) {
        wildcard = strcmp(entry, "0.0.0.0") == 0 || strcmp(entry, "::") == 0;
        if (!wildcard && strcmp(entry, host) == 0)
            return true;
    }
    return wildcard && is_ip_literal(host);
}

bool http_host_allowed(const char *host_header, const char *allowed, const char *bind_ip)
{
    if (!host_header)
        return true;
    char host[256];
    return authority_host(host_header, strlen(host_header), false, host, sizeof host) &&
           name_allowed(host, allowed, bind_ip);
}

bool http_origin_allowed(const char *origin, const char *allowed, const char *bind_ip)
{
    if (!origin)
        return false;
    const char *sep = strstr(origin, "://");
    if (!sep || sep == origin)
        return false;
    for (const char *p = origin; p < sep; p++)
        if (!g_ascii_isalnum(*p) && *p != '+' && *p != '-' && *p != '.')
            return false;
    const char *auth = sep + 3;
    size_t len = strlen(auth);
    if (len && auth[len - 1] == '/')
        len--;   /* not in an Origin, but harmless */
    char host[256];
    return len && !memchr(auth, '/', len) &&
           authority_host(auth, len, false, host, sizeof host) && name_allowed(host, allowed, bind_ip);
}
