/*
 * transport_bench: figures for the HTTP and WebSocket servers and the frame decoder, all
 * in-process over 127.0.0.1 with clients written here.
 *
 *   ws_frame decode      MB/s of masked 200-byte text frames (sans-IO, UTF-8 validated)
 *   http request rate    requests/s, one connection per request (janus.js does keep-alive,
 *                        so this is the pessimistic case), handler answering at once
 *   http keep-alive rate requests/s over one persistent connection
 *   long-poll wake-up    p50/p99 us from http_reply_send on another thread to the client
 *                        having the response
 *   ws echo round trip   p50/p99 us for a 200-byte text message echoed by on_text
 *   ws push rate         messages/s of 200-byte texts sent from another thread
 *
 * Run: meson test -C BUILD --benchmark transport-bench --verbose (use a build without
 * sanitizers for meaningful figures).
 */
#include "proto/ws_frame.h"
#include "transport/http.h"
#include "transport/ws.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void percentiles(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    printf("%-22s p50 %8.1f us   p99 %8.1f us   (n=%d)\n", what, v[n / 2], v[n * 99 / 100], n);
}

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
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

/* Reads one HTTP response with a Content-Length body; returns 0 when complete. */
static int read_http(int fd)
{
    char buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "Content-Length:");
        if (end && cl && len >= (size_t)(end + 4 - buf) + (size_t)atoi(cl + 15))
            return 0;
    }
}

/* ---- ws_frame ---- */

static void bench_decoder(void)
{
    enum { FRAMES = 20000, SIZE = 200 };
    static uint8_t stream[FRAMES * (SIZE + 8)];
    size_t len = 0;
    const uint8_t mask[4] = {1, 2, 3, 4};
    for (int i = 0; i < FRAMES; i++) {
        stream[len++] = 0x81;
        stream[len++] = 0x80 | 126;
        stream[len++] = 0;
        stream[len++] = SIZE;
        memcpy(stream + len, mask, 4);
        len += 4;
        for (int k = 0; k < SIZE; k++)
            stream[len++] = (uint8_t)('a' + k % 26) ^ mask[k & 3];
    }
    ws_decoder d;
    ws_decoder_init(&d, 1 << 20);
    double t0 = now_us();
    int rounds = 20, messages = 0;
    for (int r = 0; r < rounds; r++) {
        size_t pos = 0;
        while (pos < len) {
            ws_event ev;
            pos += ws_decoder_feed(&d, stream + pos, len - pos, &ev);
            messages += ev.type == WS_EV_TEXT;
        }
    }
    double us = now_us() - t0;
    ws_decoder_free(&d);
    printf("%-22s %8.0f MB/s  (%d messages of %d bytes)\n", "ws_frame decode",
           (double)len * rounds / us, messages, SIZE);
}

/* ---- HTTP ---- */

static _Atomic(http_reply *) parked;

static void http_handler(void *user, const http_request *req, http_reply *reply)
{
    if (strcmp(req->path, "/wait") == 0) {
        atomic_store(&parked, reply);
        return;
    }
    http_reply_send(reply, 200, NULL, "{\"janus\":\"ack\"}", 15);
}

static void bench_http(uint16_t port)
{
    const char *req_close = "GET /x HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
    int n = 2000;
    double t0 = now_us();
    for (int i = 0; i < n; i++) {
        int fd = dial(port);
        send_all(fd, req_close, strlen(req_close));
        read_http(fd);
        close(fd);
    }
    printf("%-22s %8.0f req/s\n", "http request rate", n / ((now_us() - t0) / 1e6));

    const char *req_ka = "GET /x HTTP/1.1\r\nHost: b\r\n\r\n";
    int fd = dial(port);
    n = 10000;
    t0 = now_us();
    for (int i = 0; i < n; i++) {
        send_all(fd, req_ka, strlen(req_ka));
        read_http(fd);
    }
    printf("%-22s %8.0f req/s\n", "http keep-alive rate", n / ((now_us() - t0) / 1e6));

    /* Long-poll wake-up: park a request, answer it from this thread, time the arrival. */
    const char *req_wait = "GET /wait HTTP/1.1\r\nHost: b\r\n\r\n";
    static double lat[1000];
    for (int i = 0; i < 1000; i++) {
        atomic_store(&parked, NULL);
        send_all(fd, req_wait, strlen(req_wait));
        http_reply *r;
        while (!(r = atomic_load(&parked)))
            sched_yield();
        usleep(200);   /* let the connection reach the suspended state */
        double s = now_us();
        http_reply_send(r, 200, NULL, "[]", 2);
        read_http(fd);
        lat[i] = now_us() - s;
    }
    close(fd);
    percentiles("long-poll wake-up", lat, 1000);
}

/* ---- WebSocket ---- */

enum { PUSH_COUNT = 30000 };   /* 6 MB: inside the 8 MiB per-connection queue */

static void *push_thread(void *arg)
{
    ws_conn *c = arg;
    char msg[200];
    memset(msg, 'p', sizeof msg);
    for (int i = 0; i < PUSH_COUNT; i++)
        if (ws_conn_send_text(c, msg, sizeof msg) != 0)
            break;
    ws_conn_unref(c);
    return NULL;
}

static void ws_on_text(void *user, ws_conn *c, const char *text, size_t len)
{
    if (len == 4 && memcmp(text, "push", 4) == 0) {
        /* Like plugin events: sent from another thread while the ws thread writes. */
        ws_conn_ref(c);
        pthread_t t;
        pthread_create(&t, NULL, push_thread, c);
        pthread_detach(t);
        return;
    }
    ws_conn_send_text(c, text, len);
}

static int ws_dial(uint16_t port)
{
    int fd = dial(port);
    const char *hs = "GET / HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: janus-protocol\r\n\r\n";
    send_all(fd, hs, strlen(hs));
    char c;
    int state = 0;
    while (state < 4 && recv(fd, &c, 1, 0) == 1)
        state = (c == (state % 2 ? '\n' : '\r')) ? state + 1 : (c == '\r' ? 1 : 0);
    return fd;
}

static size_t recv_frame(int fd, uint8_t *buf)
{
    uint8_t h[4];
    if (recv(fd, h, 2, MSG_WAITALL) != 2)
        return 0;
    size_t len = h[1] & 0x7F;
    if (len == 126) {
        if (recv(fd, h + 2, 2, MSG_WAITALL) != 2)
            return 0;
        len = ((size_t)h[2] << 8) | h[3];
    }
    if (recv(fd, buf, len, MSG_WAITALL) != (ssize_t)len)
        return 0;
    return len;
}

static void bench_ws(uint16_t port)
{
    int fd = ws_dial(port);
    uint8_t frame[256], buf[70000];
    char msg[200];
    memset(msg, 'e', sizeof msg);
    const uint8_t mask[4] = {9, 8, 7, 6};
    size_t n = 0;
    frame[n++] = 0x81;
    frame[n++] = 0x80 | 126;
    frame[n++] = 0;
    frame[n++] = sizeof msg;
    memcpy(frame + n, mask, 4);
    n += 4;
    for (size_t k = 0; k < sizeof msg; k++)
        frame[n++] = (uint8_t)msg[k] ^ mask[k & 3];
    static double lat[5000];
    for (int i = 0; i < 5000; i++) {
        double s = now_us();
        send_all(fd, frame, n);
        recv_frame(fd, buf);
        lat[i] = now_us() - s;
    }
    percentiles("ws echo round trip", lat, 5000);

    const uint8_t push[] = {0x81, 0x84, 0, 0, 0, 0, 'p', 'u', 's', 'h'};
    double t0 = now_us();
    send_all(fd, push, sizeof push);
    int got = 0;
    while (got < PUSH_COUNT && recv_frame(fd, buf) == 200)
        got++;
    printf("%-22s %8.0f msg/s  (%d messages of 200 bytes)\n", "ws push rate",
           got / ((now_us() - t0) / 1e6), got);
    close(fd);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    log_set_level(LOG_LEVEL_ERROR);   /* port retries below log bind failures */
    bench_decoder();
    /* Ports from the pid, retried: loopback clients take ephemeral ports in this range too. */
    http_server *http = NULL;
    ws_server *ws = NULL;
    uint16_t base = 0;
    ws_callbacks cb = {.on_text = ws_on_text};
    for (int i = 0; i < 50 && !ws; i++) {
        base = (uint16_t)(20000 + (getpid() * 2 + i * 263) % 12000);
        http_server_config hc = {.bind_ip = "127.0.0.1", .port = base, .max_body = 1 << 20,
                                 .threads = 2, .name = "bench"};
        ws_server_config wc = {.bind_ip = "127.0.0.1", .port = (uint16_t)(base + 1),
                               .subprotocol = "janus-protocol", .max_message = 1 << 20};
        http = http_server_start(&hc, http_handler, NULL);
        ws = http ? ws_server_start(&wc, &cb) : NULL;
        if (http && !ws) {
            http_server_stop(http);
            http = NULL;
        }
    }
    if (!http || !ws) {
        fprintf(stderr, "cannot start the servers\n");
        return 1;
    }
    log_set_level(LOG_LEVEL_WARN);
    bench_http(base);
    bench_ws((uint16_t)(base + 1));
    ws_server_stop(ws);
    http_server_stop(http);
    return 0;
}
