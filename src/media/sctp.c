/*
 * sctp: see sctp.h for the threading design (one global lock around usrsctp, a queue per
 * association drained on its loop, a tiny timer thread).
 */
#include "media/sctp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <usrsctp.h>

#include "media/dcep.h"
#include "util/log.h"

#define TIMER_TICK_US 10000

typedef enum ch_state {
    CH_PENDING,   /* ours, waiting for the association to send the OPEN */
    CH_OPENING,   /* ours, OPEN sent, no ACK yet */
    CH_OPEN,
} ch_state;

typedef struct channel {
    uint16_t sid;
    ch_state state;
    bool ours;
    bool closing;    /* we reset our outgoing stream; waiting for the remote's reset */
    uint8_t type;
    uint32_t reliability;
    char *label;
    char *protocol;
} channel;

typedef enum ev_kind { EV_OUT, EV_DATA, EV_NOTIFY } ev_kind;

/* Something usrsctp produced inside a callback, waiting for the owner thread. */
typedef struct queued_event {
    struct queued_event *next;
    ev_kind kind;
    uint8_t *data;     /* EV_OUT: our copy; EV_DATA/EV_NOTIFY: usrsctp's malloc, ours now */
    size_t len;
    uint16_t sid;
    uint32_t ppid;
    int flags;
} queued_event;

struct media_sctp {
    atomic_int refs;
    loop_t *loop;
    media_sctp_callbacks cb;
    struct socket *sock;
    bool dtls_client;
    bool up;
    bool closed;
    bool draining;
    uint16_t local_port, remote_port, max_out_streams;
    GMutex qlock;                 /* guards the queue and drain_posted */
    queued_event *qhead, *qtail;
    bool drain_posted;
    channel **ch;
    size_t nch, capch;
    uint8_t *partial;             /* reassembly of a message delivered in pieces */
    size_t partial_len, partial_cap;
    bool partial_drop;
};

/* The global stack state. stack_lock guards every usrsctp call and the fields below. */
static GMutex stack_lock;
static GCond timer_cond;
static bool stack_ready;
static int assoc_count;
static bool timer_stop;
static GThread *timer_thread;

static void drain(media_sctp *s);

/* ---- queueing from usrsctp callbacks (stack_lock held) ---- */

static void ref(media_sctp *s) { atomic_fetch_add(&s->refs, 1); }

static void drain_posted(void *arg)
{
    media_sctp *s = arg;
    g_mutex_lock(&s->qlock);
    s->drain_posted = false;
    g_mutex_unlock(&s->qlock);
    drain(s);
    media_sctp_unref(s);
}

static void enqueue(media_sctp *s, queued_event *ev)
{
    g_mutex_lock(&s->qlock);
    if (s->qtail)
        s->qtail->next = ev;
    else
        s->qhead = ev;
    s->qtail = ev;
    bool post = !s->drain_posted && !loop_is_current(s->loop);
    if (post)
        s->drain_posted = true;
    g_mutex_unlock(&s->qlock);
    if (post) {
        ref(s);
        loop_invoke(s->loop, drain_posted, s);
    }
}

static int conn_output(void *addr, void *buffer, size_t length, uint8_t tos, uint8_t set_df)
{
    media_sctp *s = addr;
    queued_event *ev = calloc(1, sizeof *ev);
    if (!ev)
        return -1;
    ev->data = malloc(length);
    if (!ev->data) {
        free(ev);
        return -1;
    }
    memcpy(ev->data, buffer, length);
    ev->kind = EV_OUT;
    ev->len = length;
    enqueue(s, ev);
    return 0;
}

static int receive_cb(struct socket *sock, union sctp_sockstore addr, void *data, size_t datalen,
                      struct sctp_rcvinfo rcv, int flags, void *ulp_info)
{
    media_sctp *s = ulp_info;
    if (!data)
        return 1;
    queued_event *ev = calloc(1, sizeof *ev);
    if (!ev) {
        free(data);
        return 1;
    }
    ev->kind = (flags & MSG_NOTIFICATION) ? EV_NOTIFY : EV_DATA;
    ev->data = data;
    ev->len = datalen;
    ev->sid = rcv.rcv_sid;
    ev->ppid = ntohl(rcv.rcv_ppid);
    ev->flags = flags;
    enqueue(s, ev);
    return 1;
}

/* ---- the global stack and its timer thread ---- */

static gpointer timer_main(gpointer arg)
{
    gint64 last = g_get_monotonic_time();
    g_mutex_lock(&stack_lock);
    while (!timer_stop) {
        if (assoc_count == 0) {
            g_cond_wait(&timer_cond, &stack_lock);
            last = g_get_monotonic_time();
            continue;
        }
        g_cond_wait_until(&timer_cond, &stack_lock, g_get_monotonic_time() + TIMER_TICK_US);
        gint64 now = g_get_monotonic_time();
        uint32_t ms = (uint32_t)((now - last) / 1000);
        if (ms > 0 && !timer_stop) {
            usrsctp_handle_timers(ms);
            last += (gint64)ms * 1000;
        }
    }
    g_mutex_unlock(&stack_lock);
    return NULL;
}

/* stack_lock held. */
static void stack_init_locked(void)
{
    if (stack_ready)
        return;
    usrsctp_init_nothreads(0, conn_output, NULL);
    /* As browsers configure it: no ECN, no ASCONF/AUTH chunks (not used by WebRTC and some
     * stacks choke on them), partial reliability and stream reconfiguration on. */
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    usrsctp_sysctl_set_sctp_asconf_enable(0);
    usrsctp_sysctl_set_sctp_auth_enable(0);
    usrsctp_sysctl_set_sctp_pr_enable(1);
    usrsctp_sysctl_set_sctp_reconfig_enable(1);
    timer_stop = false;
    timer_thread = g_thread_new("sctp-timers", timer_main, NULL);
    stack_ready = true;
}

void media_sctp_global_shutdown(void)
{
    g_mutex_lock(&stack_lock);
    if (!stack_ready) {
        g_mutex_unlock(&stack_lock);
        return;
    }
    timer_stop = true;
    g_cond_broadcast(&timer_cond);
    g_mutex_unlock(&stack_lock);
    g_thread_join(timer_thread);
    g_mutex_lock(&stack_lock);
    timer_thread = NULL;
    /* usrsctp_finish refuses while sockets linger; give aborted ones a few ticks. */
    for (int i = 0; i < 50 && usrsctp_finish() != 0; i++)
        usrsctp_handle_timers(100);
    stack_ready = false;
    g_mutex_unlock(&stack_lock);
}

/* ---- channels ---- */

static channel *find_sid(media_sctp *s, uint16_t sid)
{
    for (size_t i = 0; i < s->nch; i++)
        if (s->ch[i]->sid == sid)
            return s->ch[i];
    return NULL;
}

static channel *find_label(media_sctp *s, const char *label)
{
    for (size_t i = 0; i < s->nch; i++)
        if (strcmp(s->ch[i]->label, label) == 0)
            return s->ch[i];
    return NULL;
}

static channel *add_channel(media_sctp *s, uint16_t sid, const char *label, size_t label_len,
                            const char *protocol, size_t protocol_len)
{
    if (s->nch == s->capch) {
        size_t cap = s->capch ? s->capch * 2 : 4;
        channel **n = realloc(s->ch, cap * sizeof *n);
        if (!n)
            return NULL;
        s->ch = n;
        s->capch = cap;
    }
    channel *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->sid = sid;
    c->label = strndup(label, label_len);
    c->protocol = strndup(protocol, protocol_len);
    if (!c->label || !c->protocol) {
        free(c->label);
        free(c->protocol);
        free(c);
        return NULL;
    }
    s->ch[s->nch++] = c;
    return c;
}

static void remove_channel(media_sctp *s, channel *c)
{
    for (size_t i = 0; i < s->nch; i++) {
        if (s->ch[i] == c) {
            s->ch[i] = s->ch[--s->nch];
            break;
        }
    }
    free(c->label);
    free(c->protocol);
    free(c);
}

/* ---- sending ---- */

static int send_raw(media_sctp *s, const channel *c, uint16_t sid, uint32_t ppid,
                    const uint8_t *buf, size_t len)
{
    struct sctp_sendv_spa spa;
    memset(&spa, 0, sizeof spa);
    spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
    spa.sendv_sndinfo.snd_sid = sid;
    spa.sendv_sndinfo.snd_ppid = htonl(ppid);
    uint8_t type = c && ppid != DCEP_PPID_CONTROL ? c->type : DCEP_CHANNEL_RELIABLE;
    if (type & DCEP_CHANNEL_UNORDERED_FLAG)
        spa.sendv_sndinfo.snd_flags |= SCTP_UNORDERED;
    uint8_t base = type & (uint8_t)~DCEP_CHANNEL_UNORDERED_FLAG;
    if (base == DCEP_CHANNEL_PARTIAL_RELIABLE_REXMIT || base == DCEP_CHANNEL_PARTIAL_RELIABLE_TIMED) {
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = base == DCEP_CHANNEL_PARTIAL_RELIABLE_REXMIT
                                         ? SCTP_PR_SCTP_RTX : SCTP_PR_SCTP_TTL;
        spa.sendv_prinfo.pr_value = c->reliability;
    }
    g_mutex_lock(&stack_lock);
    ssize_t n = s->sock ? usrsctp_sendv(s->sock, buf, len, NULL, 0, &spa, sizeof spa,
                                        SCTP_SENDV_SPA, 0) : -1;
    int err = errno;
    g_mutex_unlock(&stack_lock);
    drain(s);
    if (n < 0) {
        LOG_DEBUG("sctp", "send on stream %u failed: %s", sid, g_strerror(err));
        return MEDIA_SCTP_EIO;
    }
    return MEDIA_SCTP_OK;
}

static int send_open(media_sctp *s, channel *c)
{
    dcep_open msg = {
        .channel_type = c->type, .priority = 0, .reliability = c->reliability,
        .label = c->label, .label_len = (uint16_t)strlen(c->label),
        .protocol = c->protocol, .protocol_len = (uint16_t)strlen(c->protocol),
    };
    size_t need = dcep_open_size(msg.label_len, msg.protocol_len);
    uint8_t *buf = malloc(need);
    if (!buf)
        return MEDIA_SCTP_EIO;
    int n = dcep_write_open(buf, need, &msg);
    int r = n < 0 ? MEDIA_SCTP_EINVAL : send_raw(s, NULL, c->sid, DCEP_PPID_CONTROL, buf, (size_t)n);
    free(buf);
    if (r == MEDIA_SCTP_OK)
        c->state = CH_OPENING;
    return r;
}

/* Resetting our outgoing stream is how a channel is closed (RFC 8831 6.7). */
static void reset_outgoing(media_sctp *s, uint16_t sid)
{
    size_t sz = sizeof(struct sctp_reset_streams) + sizeof(uint16_t);
    struct sctp_reset_streams *srs = calloc(1, sz);
    if (!srs)
        return;
    srs->srs_flags = SCTP_STREAM_RESET_OUTGOING;
    srs->srs_number_streams = 1;
    srs->srs_stream_list[0] = sid;
    g_mutex_lock(&stack_lock);
    if (s->sock)
        usrsctp_setsockopt(s->sock, IPPROTO_SCTP, SCTP_RESET_STREAMS, srs, (socklen_t)sz);
    g_mutex_unlock(&stack_lock);
    free(srs);
    drain(s);
}

/* ---- receiving ---- */

static void channel_opened(media_sctp *s, channel *c)
{
    c->state = CH_OPEN;
    if (s->cb.open)
        s->cb.open(s->cb.user, c->sid, c->label, c->protocol);
}

static void handle_open(media_sctp *s, uint16_t sid, const uint8_t *buf, size_t len)
{
    dcep_open msg;
    if (dcep_parse_open(buf, len, &msg) != DCEP_OK) {
        LOG_DEBUG("sctp", "malformed DCEP OPEN on stream %u", sid);
        return;
    }
    if (find_sid(s, sid)) {
        LOG_DEBUG("sctp", "DCEP OPEN on stream %u already in use", sid);
        return;
    }
    channel *c = add_channel(s, sid, msg.label, msg.label_len, msg.protocol, msg.protocol_len);
    if (!c)
        return;
    c->type = msg.channel_type;
    c->reliability = msg.reliability;
    uint8_t ack[1];
    dcep_write_ack(ack, sizeof ack);
    send_raw(s, NULL, sid, DCEP_PPID_CONTROL, ack, sizeof ack);
    if (!s->closed)
        channel_opened(s, c);
}

static void handle_control(media_sctp *s, uint16_t sid, const uint8_t *buf, size_t len)
{
    int type = dcep_message_type(buf, len);
    if (type == DCEP_MSG_OPEN) {
        handle_open(s, sid, buf, len);
    } else if (type == DCEP_MSG_ACK) {
        channel *c = find_sid(s, sid);
        if (c && c->ours && c->state == CH_OPENING)
            channel_opened(s, c);
    }
}

static void dispatch(media_sctp *s, uint16_t sid, uint32_t ppid, const uint8_t *buf, size_t len)
{
    if (ppid == DCEP_PPID_CONTROL) {
        handle_control(s, sid, buf, len);
        return;
    }
    bool binary = ppid == DCEP_PPID_BINARY || ppid == DCEP_PPID_BINARY_EMPTY;
    bool empty = ppid == DCEP_PPID_STRING_EMPTY || ppid == DCEP_PPID_BINARY_EMPTY;
    if (!binary && !empty && ppid != DCEP_PPID_STRING)
        return;
    channel *c = find_sid(s, sid);
    if (!c || c->state == CH_PENDING)
        return;
    /* A user message before the ACK implies the ACK (RFC 8832 6). */
    if (c->state == CH_OPENING) {
        channel_opened(s, c);
        if (s->closed)
            return;
    }
    if (s->cb.message)
        s->cb.message(s->cb.user, sid, c->label, binary, empty ? (const uint8_t *)"" : buf,
                      empty ? 0 : len);
}

static void handle_data(media_sctp *s, queued_event *ev)
{
    bool eor = (ev->flags & MSG_EOR) != 0;
    if (!eor || s->partial_len || s->partial_drop) {
        if (!s->partial_drop) {
            size_t need = s->partial_len + ev->len;
            if (need > MEDIA_SCTP_MAX_MESSAGE) {
                s->partial_drop = true;
            } else if (need > s->partial_cap) {
                size_t cap = s->partial_cap ? s->partial_cap : 4096;
                while (cap < need)
                    cap *= 2;
                uint8_t *n = realloc(s->partial, cap);
                if (!n)
                    s->partial_drop = true;
                else {
                    s->partial = n;
                    s->partial_cap = cap;
                }
            }
            if (!s->partial_drop && ev->len) {
                memcpy(s->partial + s->partial_len, ev->data, ev->len);
                s->partial_len += ev->len;
            }
        }
        if (!eor)
            return;
        bool drop = s->partial_drop;
        size_t len = s->partial_len;
        s->partial_len = 0;
        s->partial_drop = false;
        if (drop)
            LOG_DEBUG("sctp", "dropped an oversized message on stream %u", ev->sid);
        else
            dispatch(s, ev->sid, ev->ppid, s->partial, len);
        return;
    }
    dispatch(s, ev->sid, ev->ppid, ev->data, ev->len);
}

static void assoc_change(media_sctp *s, const struct sctp_assoc_change *sac)
{
    if (sac->sac_state == SCTP_COMM_UP || sac->sac_state == SCTP_RESTART) {
        s->up = true;
        s->max_out_streams = sac->sac_outbound_streams;
        LOG_DEBUG("sctp", "association up (%u/%u streams)", sac->sac_outbound_streams,
                  sac->sac_inbound_streams);
        for (size_t i = 0; i < s->nch && !s->closed; i++)
            if (s->ch[i]->state == CH_PENDING)
                send_open(s, s->ch[i]);
    } else if (sac->sac_state == SCTP_COMM_LOST || sac->sac_state == SCTP_SHUTDOWN_COMP ||
               sac->sac_state == SCTP_CANT_STR_ASSOC) {
        s->up = false;
        LOG_DEBUG("sctp", "association down (state %u)", sac->sac_state);
    }
}

static void stream_reset(media_sctp *s, const struct sctp_stream_reset_event *ev, size_t len)
{
    if (!(ev->strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN) ||
        (ev->strreset_flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)))
        return;
    size_t n = (len - sizeof *ev) / sizeof(uint16_t);
    for (size_t i = 0; i < n && !s->closed; i++) {
        channel *c = find_sid(s, ev->strreset_stream_list[i]);
        if (!c)
            continue;
        uint16_t sid = c->sid;
        if (!c->closing)
            reset_outgoing(s, sid);
        if (s->cb.closed && !s->closed)
            s->cb.closed(s->cb.user, sid, c->label);
        if ((c = find_sid(s, sid)))
            remove_channel(s, c);
    }
}

/* Notifications come from usrsctp, but their sizes and stream lists echo what the network
 * said: trust only the declared length that fits the buffer, and nothing shorter than the
 * fixed part. */
static void handle_notification(media_sctp *s, const uint8_t *buf, size_t len)
{
    const union sctp_notification *n = (const void *)buf;
    if (len < sizeof n->sn_header || n->sn_header.sn_length > len)
        return;
    size_t declared = n->sn_header.sn_length;
    switch (n->sn_header.sn_type) {
    case SCTP_ASSOC_CHANGE:
        if (declared >= sizeof n->sn_assoc_change)
            assoc_change(s, &n->sn_assoc_change);
        break;
    case SCTP_STREAM_RESET_EVENT:
        if (declared >= sizeof n->sn_strreset_event)
            stream_reset(s, &n->sn_strreset_event, declared);
        break;
    default:
        break;
    }
}

static void free_event(queued_event *ev)
{
    free(ev->data);
    free(ev);
}

static queued_event *take_queue(media_sctp *s)
{
    g_mutex_lock(&s->qlock);
    queued_event *ev = s->qhead;
    s->qhead = s->qtail = NULL;
    g_mutex_unlock(&s->qlock);
    return ev;
}

/* Runs queued work on the owner thread. Not reentrant: a nested call (a user callback that
 * sends) leaves the new work to the outer loop, which keeps order. */
static void drain(media_sctp *s)
{
    if (s->draining)
        return;
    s->draining = true;
    queued_event *ev;
    while ((ev = take_queue(s))) {
        while (ev) {
            queued_event *next = ev->next;
            if (!s->closed) {
                if (ev->kind == EV_OUT)
                    s->cb.send(s->cb.user, ev->data, ev->len);
                else if (ev->kind == EV_NOTIFY)
                    handle_notification(s, ev->data, ev->len);
                else
                    handle_data(s, ev);
            }
            free_event(ev);
            ev = next;
        }
    }
    s->draining = false;
}

/* ---- life cycle ---- */

static void set_opt(struct socket *so, int level, int name, const void *v, socklen_t len)
{
    if (usrsctp_setsockopt(so, level, name, v, len) < 0)
        LOG_WARN("sctp", "setsockopt %d failed: %s", name, g_strerror(errno));
}

/* stack_lock held. */
static void configure_socket(struct socket *so)
{
    usrsctp_set_non_blocking(so, 1);
    struct linger lin = {.l_onoff = 1, .l_linger = 0};   /* close = ABORT */
    set_opt(so, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
    struct sctp_assoc_value av = {.assoc_id = SCTP_ALL_ASSOC,
                                  .assoc_value = SCTP_ENABLE_RESET_STREAM_REQ};
    set_opt(so, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &av, sizeof av);
    int one = 1;
    set_opt(so, IPPROTO_SCTP, SCTP_NODELAY, &one, sizeof one);
    set_opt(so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &one, sizeof one);
    struct sctp_initmsg init = {.sinit_num_ostreams = MEDIA_SCTP_STREAMS,
                                .sinit_max_instreams = MEDIA_SCTP_STREAMS};
    set_opt(so, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init);
    static const uint16_t events[] = {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT,
                                      SCTP_SEND_FAILED_EVENT};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        struct sctp_event ev = {.se_assoc_id = SCTP_ALL_ASSOC, .se_type = events[i], .se_on = 1};
        set_opt(so, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof ev);
    }
}

static struct sockaddr_conn conn_addr(media_sctp *s, uint16_t port)
{
    struct sockaddr_conn a;
    memset(&a, 0, sizeof a);
    a.sconn_family = AF_CONN;
    a.sconn_port = htons(port);
    a.sconn_addr = s;
    return a;
}

media_sctp *media_sctp_create(loop_t *loop, bool dtls_client, uint16_t local_port,
                              uint16_t remote_port, const media_sctp_callbacks *cb)
{
    if (!loop || !cb || !cb->send)
        return NULL;
    media_sctp *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->loop = loop;
    s->cb = *cb;
    s->dtls_client = dtls_client;
    s->local_port = local_port ? local_port : MEDIA_SCTP_PORT;
    s->remote_port = remote_port ? remote_port : MEDIA_SCTP_PORT;
    g_mutex_init(&s->qlock);

    g_mutex_lock(&stack_lock);
    stack_init_locked();
    usrsctp_register_address(s);
    s->sock = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, receive_cb, NULL, 0, s);
    bool ok = s->sock != NULL;
    if (ok) {
        configure_socket(s->sock);
        struct sockaddr_conn local = conn_addr(s, s->local_port);
        struct sockaddr_conn remote = conn_addr(s, s->remote_port);
        ok = usrsctp_bind(s->sock, (struct sockaddr *)&local, sizeof local) == 0;
        /* Non-blocking connect: EINPROGRESS is the normal answer. */
        if (ok && usrsctp_connect(s->sock, (struct sockaddr *)&remote, sizeof remote) < 0 &&
            errno != EINPROGRESS)
            ok = false;
    }
    if (ok && ++assoc_count == 1)
        g_cond_broadcast(&timer_cond);
    if (!ok) {
        LOG_WARN("sctp", "cannot create the association: %s", g_strerror(errno));
        if (s->sock)
            usrsctp_close(s->sock);
        s->sock = NULL;
        usrsctp_deregister_address(s);
    }
    g_mutex_unlock(&stack_lock);
    if (!ok) {
        s->closed = true;
        media_sctp_unref(s);
        return NULL;
    }
    drain(s);
    return s;
}

void media_sctp_close(media_sctp *s)
{
    if (!s || s->closed)
        return;
    g_mutex_lock(&stack_lock);
    if (s->sock) {
        usrsctp_close(s->sock);
        s->sock = NULL;
        assoc_count--;
    }
    usrsctp_deregister_address(s);
    g_mutex_unlock(&stack_lock);
    /* Send what closing produced (the ABORT); drop everything else. */
    for (queued_event *ev = take_queue(s), *next; ev; ev = next) {
        next = ev->next;
        if (ev->kind == EV_OUT)
            s->cb.send(s->cb.user, ev->data, ev->len);
        free_event(ev);
    }
    s->closed = true;
    s->up = false;
}

void media_sctp_unref(media_sctp *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (queued_event *ev = s->qhead, *next; ev; ev = next) {
        next = ev->next;
        free_event(ev);
    }
    while (s->nch)
        remove_channel(s, s->ch[s->nch - 1]);
    free(s->ch);
    free(s->partial);
    g_mutex_clear(&s->qlock);
    free(s);
}

void media_sctp_input(media_sctp *s, const uint8_t *buf, size_t len)
{
    if (s->closed || len == 0)
        return;
    g_mutex_lock(&stack_lock);
    usrsctp_conninput(s, buf, len, 0);
    g_mutex_unlock(&stack_lock);
    drain(s);
}

void media_sctp_inject(media_sctp *s, uint16_t sid, uint32_t ppid, int flags,
                       const uint8_t *buf, size_t len)
{
    queued_event *ev = calloc(1, sizeof *ev);
    if (!ev)
        return;
    ev->data = malloc(len ? len : 1);
    if (!ev->data) {
        free(ev);
        return;
    }
    if (len)
        memcpy(ev->data, buf, len);
    ev->len = len;
    ev->kind = (flags & MSG_NOTIFICATION) ? EV_NOTIFY : EV_DATA;
    ev->sid = sid;
    ev->ppid = ppid;
    ev->flags = flags;
    enqueue(s, ev);
    drain(s);
}

bool media_sctp_is_up(const media_sctp *s) { return s && s->up && !s->closed; }

int media_sctp_open_channel(media_sctp *s, const char *label, const char *protocol)
{
    if (s->closed)
        return MEDIA_SCTP_ESTATE;
    if (!label || strlen(label) > UINT16_MAX || (protocol && strlen(protocol) > UINT16_MAX))
        return MEDIA_SCTP_EINVAL;
    unsigned limit = s->up && s->max_out_streams ? s->max_out_streams : MEDIA_SCTP_STREAMS;
    unsigned sid = s->dtls_client ? 0 : 1;
    while (sid < limit && find_sid(s, (uint16_t)sid))
        sid += 2;
    if (sid >= limit)
        return MEDIA_SCTP_EIO;
    channel *c = add_channel(s, (uint16_t)sid, label, strlen(label), protocol ? protocol : "",
                             protocol ? strlen(protocol) : 0);
    if (!c)
        return MEDIA_SCTP_EIO;
    c->ours = true;
    c->state = CH_PENDING;
    c->type = DCEP_CHANNEL_RELIABLE;
    if (s->up && send_open(s, c) != MEDIA_SCTP_OK) {
        remove_channel(s, c);
        return MEDIA_SCTP_EIO;
    }
    return (int)sid;
}

int media_sctp_close_channel(media_sctp *s, const char *label, uint16_t sid)
{
    if (s->closed)
        return MEDIA_SCTP_ESTATE;
    channel *c = label ? find_label(s, label) : find_sid(s, sid);
    if (!c || c->closing)
        return MEDIA_SCTP_EINVAL;
    if (c->state == CH_PENDING || !s->up) {
        remove_channel(s, c);   /* never announced to the remote */
        return MEDIA_SCTP_OK;
    }
    c->closing = true;
    reset_outgoing(s, c->sid);
    return MEDIA_SCTP_OK;
}

int media_sctp_send(media_sctp *s, const char *label, uint16_t sid, bool binary,
                    const uint8_t *buf, size_t len)
{
    if (s->closed)
        return MEDIA_SCTP_ESTATE;
    channel *c = label ? find_label(s, label) : find_sid(s, sid);
    if (!c || c->closing)
        return MEDIA_SCTP_EINVAL;
    if (c->state == CH_PENDING || !s->up)
        return MEDIA_SCTP_ESTATE;
    if (len > MEDIA_SCTP_MAX_MESSAGE)
        return MEDIA_SCTP_EINVAL;
    uint32_t ppid = binary ? (len ? DCEP_PPID_BINARY : DCEP_PPID_BINARY_EMPTY)
                           : (len ? DCEP_PPID_STRING : DCEP_PPID_STRING_EMPTY);
    static const uint8_t zero[1] = {0};
    /* Empty messages travel as one zero byte with the "empty" PPIDs (RFC 8831 6.6). */
    return send_raw(s, c, c->sid, ppid, len ? buf : zero, len ? len : 1);
}
