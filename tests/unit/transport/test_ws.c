/*
 * test_ws: the real WebSocket server on 127.0.0.1 with a WebSocket client written here
 * (handshake, masked frames, a frame reader). The server runs an echo handler plus a few
 * commands that exercise sends from other threads, server-initiated close and overflow.
 */
#include "check.h"
#include "transport/ws.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint16_t port;
static atomic_int opens, closes;
static ws_conn *held;                /* a connection the test keeps a reference to */
static atomic_int flood_failed;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- server side ---- */

typedef struct sender {
    ws_conn *conn;
    int count;
    size_t size;
} sender;

static void *send_many(void *arg)
{
    sender *s = arg;
    char *msg = malloc(s->size + 32);
    for (int i = 0; i < s->count; i++) {
        memset(msg, 'x', s->size);
        int n = snprintf(msg, 32, "%d", i);
        msg[n] = s->size > (size_t)n ? 'x' : '\0';
        size_t len = s->size > (size_t)n ? s->size : (size_t)n;
        if (ws_conn_send_text(s->conn, msg, len) != 0)
            atomic_fetch_add(&flood_failed, 1);
    }
    free(msg);
    ws_conn_unref(s->conn);
    free(s);
    return NULL;
}

static void spawn_sender(ws_conn *c, int count, size_t size)
{
    sender *s = malloc(sizeof *s);
    ws_conn_ref(c);
    s->conn = c;
    s->count = count;
    s->size = size;
    pthread_t t;
    pthread_create(&t, NULL, send_many, s);
    pthread_detach(t);
}

static void on_open(void *user, ws_conn *c)
{
    atomic_fetch_add(&opens, 1);
    ws_conn_set_user(c, (void *)0x1234);
}

static void on_text(void *user, ws_conn *c, const char *text, size_t len)
{
    if (ws_conn_get_user(c) != (void *)0x1234)
        return;
    if (len == 9 && memcmp(text, "subscribe", 9) == 0) {
        spawn_sender(c, 100, 0);
    } else if (len == 5 && memcmp(text, "flood", 5) == 0) {
        spawn_sender(c, 300, 64 * 1024);
    } else if (len == 3 && memcmp(text, "bye", 3) == 0) {
        ws_conn_close(c, 4001);
    } else if (len == 4 && memcmp(text, "hold", 4) == 0) {
        ws_conn_ref(c);
        held = c;
        ws_conn_send_text(c, "held", 4);
    } else {
        ws_conn_send_text(c, text, len);
    }
}

static void on_close(void *user, ws_conn *c)
{
    atomic_fetch_add(&closes, 1);
}

/* ---- client side ---- */

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Reads the HTTP response head byte by byte (so no frame bytes are swallowed). */
static int read_head(int fd, char *out, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        if (recv(fd, out + n, 1, 0) != 1)
            return -1;
        n++;
        out[n] = '\0';
        if (n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0)
            return 0;
    }
    return -1;
}

static const char *key = "dGhlIHNhbXBsZSBub25jZQ==";

static int handshake_raw(const char *extra_headers, char *head, size_t cap, int *fd_out,
                         const void *trailing, size_t trailing_len)
{
    int fd = dial();
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET /janus HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n%s\r\n",
                     key, extra_headers);
    char buf[4096];
    memcpy(buf, req, (size_t)n);
    if (trailing_len)
        memcpy(buf + n, trailing, trailing_len);
    send_all(fd, buf, (size_t)n + trailing_len);
    int status = 0;
    if (read_head(fd, head, cap) == 0)
        sscanf(head, "HTTP/1.1 %d", &status);
    *fd_out = fd;
    return status;
}

static int ws_connect(void)
{
    char head[2048];
    int fd;
    int st = handshake_raw("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: janus-protocol\r\n",
                           head, sizeof head, &fd, NULL, 0);
    if (st != 101) {
        close(fd);
        return -1;
    }
    return fd;
}

static size_t masked_frame(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    static const uint8_t mask[4] = {0xa1, 0x0b, 0x5c, 0x3e};
    size_t off = 0;
    out[off++] = b0;
    if (len < 126) {
        out[off++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        out[off++] = 0x80 | 126;
        out[off++] = (uint8_t)(len >> 8);
        out[off++] = (uint8_t)len;
    } else {
        out[off++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[off++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(out + off, mask, 4);
    off += 4;
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        out[off + i] = p[i] ^ mask[i & 3];
    return off + len;
}

static void send_frame(int fd, uint8_t b0, const void *payload, size_t len)
{
    uint8_t *buf = malloc(len + 14);
    size_t n = masked_frame(buf, b0, payload, len);
    send_all(fd, buf, n);
    free(buf);
}

static int recv_exact(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

typedef struct frame {
    int opcode;          /* -1: socket closed or timed out */
    bool fin;
    bool masked;
    uint8_t data[70000];
    size_t len;
} frame;

static frame fr;

static frame *read_frame(int fd)
{
    uint8_t h[2];
    fr.opcode = -1;
    if (recv_exact(fd, h, 2) != 0)
        return &fr;
    fr.fin = h[0] & 0x80;
    fr.masked = h[1] & 0x80;
    uint64_t len = h[1] & 0x7F;
    uint8_t ext[8];
    if (len == 126) {
        if (recv_exact(fd, ext, 2) != 0)
            return &fr;
        len = ((uint64_t)ext[0] << 8) | ext[1];
    } else if (len == 127) {
        if (recv_exact(fd, ext, 8) != 0)
            return &fr;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | ext[i];
    }
    if (len > sizeof fr.data || recv_exact(fd, fr.data, (size_t)len) != 0)
        return &fr;
    fr.len = (size_t)len;
    fr.opcode = h[0] & 0x0F;
    return &fr;
}

static bool socket_closed(int fd)
{
    uint8_t b;
    return recv(fd, &b, 1, 0) == 0;
}

static uint16_t close_code(const frame *f)
{
    return f->len >= 2 ? (uint16_t)((f->data[0] << 8) | f->data[1]) : 0;
}

static void wait_for(atomic_int *v, int target)
{
    for (int i = 0; i < 300 && atomic_load(v) < target; i++)
        sleep_ms(10);
}

/* Waits until every connection opened so far has been reported closed. */
static void settle(void)
{
    for (int i = 0; i < 300 && atomic_load(&closes) < atomic_load(&opens); i++)
        sleep_ms(10);
}

/* ---- cases ---- */

static void test_handshakes(void)
{
    char head[2048];
    int fd;
    CHECK_INT(handshake_raw("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: janus-protocol\r\n",
                            head, sizeof head, &fd, NULL, 0), 101);
    CHECK(strcasestr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != NULL);
    CHECK(strcasestr(head, "Sec-WebSocket-Protocol: janus-protocol") != NULL);
    CHECK(strcasestr(head, "Upgrade: websocket") != NULL);
    CHECK(strcasestr(head, "Connection: Upgrade") != NULL);
    close(fd);
    CHECK_INT(handshake_raw("Sec-WebSocket-Version: 13\r\n", head, sizeof head, &fd, NULL, 0), 101);
    CHECK(strcasestr(head, "Sec-WebSocket-Protocol") == NULL);
    close(fd);
    CHECK_INT(handshake_raw("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n",
                            head, sizeof head, &fd, NULL, 0), 400);
    close(fd);
    CHECK_INT(handshake_raw("Sec-WebSocket-Version: 8\r\n", head, sizeof head, &fd, NULL, 0), 426);
    CHECK(strcasestr(head, "Sec-WebSocket-Version: 13") != NULL);
    close(fd);
    fd = dial();
    const char *plain = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, plain, strlen(plain));
    int status = 0;
    if (read_head(fd, head, sizeof head) == 0)
        sscanf(head, "HTTP/1.1 %d", &status);
    CHECK_INT(status, 400);
    close(fd);
    /* The two accepted sockets were closed without a close frame: both reported. */
    wait_for(&closes, 2);
    CHECK_INT(atomic_load(&opens), 2);
    CHECK_INT(atomic_load(&closes), 2);
}

static void test_echo_and_control(void)
{
    settle();
    int o = atomic_load(&opens), c = atomic_load(&closes);
    int fd = ws_connect();
    CHECK(fd >= 0);
    send_frame(fd, 0x81, "hello", 5);
    frame *f = read_frame(fd);
    CHECK_INT(f->opcode, 1);
    CHECK(f->fin && !f->masked);
    CHECK_INT(f->len, 5);
    CHECK(memcmp(f->data, "hello", 5) == 0);
    /* Ping gets a pong with the same payload. */
    send_frame(fd, 0x89, "p1", 2);
    f = read_frame(fd);
    CHECK_INT(f->opcode, 0xA);
    CHECK(f->len == 2 && memcmp(f->data, "p1", 2) == 0);
    /* Fragmented message with a ping in the middle: pong first, then the whole echo. */
    send_frame(fd, 0x01, "{\"ja", 4);
    send_frame(fd, 0x89, "", 0);
    send_frame(fd, 0x00, "nus\":", 5);
    send_frame(fd, 0x80, "\"x\"}", 4);
    f = read_frame(fd);
    CHECK_INT(f->opcode, 0xA);
    f = read_frame(fd);
    CHECK_INT(f->opcode, 1);
    CHECK(f->len == 13 && memcmp(f->data, "{\"janus\":\"x\"}", 13) == 0);
    /* A 16-bit length message. */
    char mid[1000];
    memset(mid, 'm', sizeof mid);
    send_frame(fd, 0x81, mid, sizeof mid);
    f = read_frame(fd);
    CHECK_INT(f->len, 1000);
    /* Close handshake started by the client: echoed code, then the server closes TCP. */
    send_frame(fd, 0x88, "\x03\xe8", 2);
    f = read_frame(fd);
    CHECK_INT(f->opcode, 8);
    CHECK_INT(close_code(f), 1000);
    CHECK(socket_closed(fd));
    close(fd);
    wait_for(&closes, c + 1);
    CHECK_INT(atomic_load(&opens), o + 1);
    CHECK_INT(atomic_load(&closes), c + 1);
}

static void test_extra_in(void)
{
    /* The first frame travels in the same packet as the handshake. */
    uint8_t first[64];
    size_t n = masked_frame(first, 0x81, "early", 5);
    char head[2048];
    int fd;
    CHECK_INT(handshake_raw("Sec-WebSocket-Version: 13\r\n", head, sizeof head, &fd, first, n), 101);
    frame *f = read_frame(fd);
    CHECK_INT(f->opcode, 1);
    CHECK(f->len == 5 && memcmp(f->data, "early", 5) == 0);
    int c = atomic_load(&closes);
    close(fd);
    wait_for(&closes, c + 1);
}

static void test_errors(void)
{
    settle();
    int c = atomic_load(&closes);
    /* Oversize message: 1009. */
    int fd = ws_connect();
    static char big[2000];
    memset(big, 'b', sizeof big);
    send_frame(fd, 0x81, big, sizeof big);
    frame *f = read_frame(fd);
    CHECK_INT(f->opcode, 8);
    CHECK_INT(close_code(f), 1009);
    send_frame(fd, 0x88, "\x03\xf1", 2);   /* our close reply: 1009 */
    CHECK(socket_closed(fd));
    close(fd);
    /* Unmasked frame: 1002. */
    fd = ws_connect();
    send_all(fd, "\x81\x02hi", 4);
    f = read_frame(fd);
    CHECK_INT(f->opcode, 8);
    CHECK_INT(close_code(f), 1002);
    close(fd);
    /* Invalid UTF-8: 1007. */
    fd = ws_connect();
    send_frame(fd, 0x81, "\xc0\xaf", 2);
    f = read_frame(fd);
    CHECK_INT(close_code(f), 1007);
    close(fd);
    /* Binary: 1003. */
    fd = ws_connect();
    send_frame(fd, 0x82, "\x01", 1);
    f = read_frame(fd);
    CHECK_INT(close_code(f), 1003);
    close(fd);
    wait_for(&closes, c + 4);
    CHECK_INT(atomic_load(&closes), c + 4);
}

static void test_other_thread_sends(void)
{
    int fd = ws_connect();
    send_frame(fd, 0x81, "subscribe", 9);
    int in_order = 0;
    for (int i = 0; i < 100; i++) {
        frame *f = read_frame(fd);
        char want[16];
        int n = snprintf(want, sizeof want, "%d", i);
        if (f->opcode == 1 && f->len == (size_t)n && memcmp(f->data, want, (size_t)n) == 0)
            in_order++;
    }
    CHECK_INT(in_order, 100);
    close(fd);
}

static void test_server_close(void)
{
    settle();
    int c = atomic_load(&closes);
    int fd = ws_connect();
    send_frame(fd, 0x81, "bye", 3);
    frame *f = read_frame(fd);
    CHECK_INT(f->opcode, 8);
    CHECK_INT(close_code(f), 4001);
    send_frame(fd, 0x88, "\x0f\xa1", 2);
    CHECK(socket_closed(fd));
    close(fd);
    wait_for(&closes, c + 1);
    CHECK_INT(atomic_load(&closes), c + 1);
}

/* The server closes and the client never answers: the socket goes after the close wait. */
static void test_close_timeout(void)
{
    settle();
    int c = atomic_load(&closes);
    int fd = ws_connect();
    send_frame(fd, 0x81, "bye", 3);
    frame *f = read_frame(fd);
    CHECK_INT(close_code(f), 4001);
    CHECK(socket_closed(fd));   /* within the 5 s receive timeout */
    close(fd);
    wait_for(&closes, c + 1);
    CHECK_INT(atomic_load(&closes), c + 1);
}

/* More clients than libmicrohttpd's default connection limit (FD_SETSIZE - 4). */
static void test_many_connections(void)
{
    settle();
    enum { N = 1100 };
    /* Client and server ends both live in this process: 2 fds per connection. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2 * N + 200) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < 2 * N + 200) {
            fprintf(stderr, "test_many_connections skipped: RLIMIT_NOFILE %llu\n",
                    (unsigned long long)rl.rlim_cur);
            return;
        }
    }
    static int fds[N];
    int ok = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = ws_connect();
        if (fds[i] >= 0)
            ok++;
    }
    CHECK_INT(ok, N);
    /* The last one still works end to end. */
    if (fds[N - 1] >= 0) {
        send_frame(fds[N - 1], 0x81, "last", 4);
        frame *f = read_frame(fds[N - 1]);
        CHECK(f->opcode == 1 && f->len == 4);
    }
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    settle();
}

static void test_abrupt_disconnect(void)
{
    settle();
    int c = atomic_load(&closes);
    held = NULL;
    int fd = ws_connect();
    send_frame(fd, 0x81, "hold", 4);
    frame *f = read_frame(fd);
    CHECK(f->opcode == 1 && f->len == 4);
    close(fd);
    wait_for(&closes, c + 1);
    CHECK_INT(atomic_load(&closes), c + 1);
    CHECK(held != NULL);
    if (held) {
        CHECK_INT(ws_conn_send_text(held, "late", 4), -1);
        ws_conn_close(held, 1000);
        CHECK_STR(ws_conn_remote_ip(held), "127.0.0.1");
        ws_conn_unref(held);
        held = NULL;
    }
}

static void test_overflow(void)
{
    settle();
    int c = atomic_load(&closes);
    atomic_store(&flood_failed, 0);
    int fd = ws_connect();
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    send_frame(fd, 0x81, "flood", 5);
    /* Do not read: the server's queue must overflow and the connection be dropped. */
    wait_for(&closes, c + 1);
    CHECK_INT(atomic_load(&closes), c + 1);
    for (int i = 0; i < 300 && atomic_load(&flood_failed) == 0; i++)
        sleep_ms(10);
    CHECK(atomic_load(&flood_failed) > 0);
    close(fd);
    sleep_ms(100);
}

/* Pings from a client that never reads its pongs: dropped, not kept. At 200 messages/s the
 * pongs owed grow slowly, so it is the flood rule (5 s throttled with a full backlog, 1008)
 * that drops it, before the outgoing queue bound would. */
static void test_ping_flood(void)
{
    settle();
    int c = atomic_load(&closes);
    int fd = ws_connect();
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    static uint8_t burst[1000 * 131];
    uint8_t payload[125];
    memset(payload, 'q', sizeof payload);
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        n += masked_frame(burst + n, 0x89, payload, sizeof payload);
    for (int i = 0; i < 100 && atomic_load(&closes) == c; i++)
        send_all(fd, burst, n);   /* 13 MB of pongs owed at most */
    for (int i = 0; i < 1000 && atomic_load(&closes) < c + 1; i++)
        sleep_ms(10);
    CHECK_INT(atomic_load(&closes), c + 1);
    close(fd);
}

static void test_stop(ws_server *srv)
{
    settle();
    int c = atomic_load(&closes);
    int fd = ws_connect();
    send_frame(fd, 0x81, "ping?", 5);
    frame *f = read_frame(fd);
    CHECK_INT(f->opcode, 1);
    ws_server_stop(srv);
    f = read_frame(fd);
    CHECK_INT(f->opcode, 8);
    CHECK_INT(close_code(f), 1001);
    CHECK(socket_closed(fd));
    close(fd);
    CHECK_INT(atomic_load(&closes), c + 1);
}

/* A second server with small limits: 3 connections per address, 50 messages/s, 1 s to send
 * a first message. `port` is switched to it for the duration. */
static void test_limits(void)
{
    ws_callbacks cb = {.on_open = on_open, .on_text = on_text, .on_close = on_close};
    ws_server_config cfg = {.bind_ip = "127.0.0.1", .subprotocol = "janus-protocol", .max_message = 1024,
                            .max_connections_per_ip = 3, .max_messages_per_s = 50, .handshake_timeout_s = 1};
    uint16_t main_port = port;
    ws_server *srv = NULL;
    for (int i = 0; i < 50 && !srv; i++) {
        port = (uint16_t)(30000 + (getpid() * 17 + i * 151 + 3) % 20000);
        if (port == main_port)
            continue;
        cfg.port = port;
        srv = ws_server_start(&cfg, &cb);
    }
    CHECK(srv != NULL);
    if (!srv) {
        port = main_port;
        return;
    }
    /* Per address: the 4th upgrade answers 429 with a JSON body. */
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = ws_connect();
    char head[2048];
    int extra = -1;
    int st = handshake_raw("Sec-WebSocket-Version: 13\r\n", head, sizeof head, &extra, NULL, 0);
    CHECK_INT(st, 429);
    close(extra);
    /* The handshake timeout: fds[0] and fds[1] send nothing and are closed with 1001. */
    send_frame(fds[2], 0x81, "hi", 2);
    frame *f = read_frame(fds[2]);
    CHECK(f->opcode == 1 && f->len == 2);
    f = read_frame(fds[0]);
    CHECK_INT(f->opcode, 8);
    CHECK_INT(close_code(f), 1001);
    /* Fairness: fds[2] floods 2000 messages at once (40 s of its rate); fds[1]'s replacement
     * still gets its echo at once, while the flooder is served at about 50 messages/s. */
    close(fds[0]);
    close(fds[1]);
    sleep_ms(100);
    int other = ws_connect();
    static uint8_t burst[2000 * 12];
    size_t n = 0;
    for (int i = 0; i < 2000; i++)
        n += masked_frame(burst + n, 0x81, "flood!", 6);
    send_all(fds[2], burst, n);
    sleep_ms(200);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    send_frame(other, 0x81, "quick", 5);
    f = read_frame(other);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(f->opcode == 1 && f->len == 5);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(ms < 100);
    /* In the first ~0.3 s the flooder got its burst (100) and the refill, not 2000 echoes. */
    int echoes = 0;
    struct timeval tv = {0, 300000};
    setsockopt(fds[2], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6 > 800)
            break;   /* about 1 s after the burst was sent */
        f = read_frame(fds[2]);
        if (f->opcode != 1)
            break;
        echoes++;
    }
    CHECK(echoes >= 100 && echoes <= 100 + 50 + 25);
    close(other);
    close(fds[2]);
    ws_server_stop(srv);
    port = main_port;
}

int main(void)
{
    ws_callbacks cb = {.on_open = on_open, .on_text = on_text, .on_close = on_close};
    ws_server_config cfg = {.bind_ip = "127.0.0.1", .subprotocol = "janus-protocol",
                            .max_message = 1024, .max_connections_per_ip = 2000};
    ws_server *srv = NULL;
    for (int i = 0; i < 50 && !srv; i++) {
        port = (uint16_t)(30000 + (getpid() * 13 + i * 137 + 7) % 20000);
        cfg.port = port;
        srv = ws_server_start(&cfg, &cb);
    }
    CHECK(srv != NULL);
    if (!srv)
        return check_summary("test_ws");
    test_handshakes();
    test_echo_and_control();
    test_extra_in();
    test_errors();
    test_other_thread_sends();
    test_server_close();
    test_close_timeout();
    test_many_connections();
    test_abrupt_disconnect();
    test_overflow();
    test_ping_flood();
    test_limits();
    test_stop(srv);
    sleep_ms(50);
    return check_summary("test_ws");
}
