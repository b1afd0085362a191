/*
 * test_http: the real HTTP server on 127.0.0.1, driven by a tiny blocking HTTP/1.1 client
 * written here (one request per connection). Covers routing data (method, decoded path,
 * query, headers, body), body limits (413 without calling the handler), CORS, long-poll
 * replies from another thread, clients leaving while suspended, static files, and stop.
 */
#include "check.h"
#include "transport/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint16_t port;
static char static_root[256];
static atomic_int handler_calls;
static atomic_int closes;
static atomic_int releases;

/* ---- a minimal client ---- */

typedef struct response {
    int status;
    char headers[4096];
    char body[65536];
    size_t body_len;
} response;

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
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

/* Reads until the server closes (we always send Connection: close) and parses. */
static int read_response(int fd, response *r)
{
    static char raw[80000];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof raw - 1 && (n = recv(fd, raw + len, sizeof raw - 1 - len, 0)) > 0)
        len += (size_t)n;
    raw[len] = '\0';
    memset(r, 0, sizeof *r);
    char *hdr_end = strstr(raw, "\r\n\r\n");
    if (!hdr_end || sscanf(raw, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    size_t hl = (size_t)(hdr_end - raw);
    memcpy(r->headers, raw, hl < sizeof r->headers - 1 ? hl : sizeof r->headers - 1);
    r->body_len = len - hl - 4;
    memcpy(r->body, hdr_end + 4, r->body_len < sizeof r->body - 1 ? r->body_len : 0);
    return 0;
}

static int request(const char *method, const char *target, const char *extra_headers,
                   const char *body, response *r)
{
    int fd = connect_server();
    if (fd < 0)
        return -1;
    char head[2048];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, target, extra_headers ? extra_headers : "",
                     body ? strlen(body) : (size_t)0);
    send_all(fd, head, (size_t)n);
    if (body)
        send_all(fd, body, strlen(body));
    int rc = read_response(fd, r);
    close(fd);
    return rc;
}

static bool has_header(const response *r, const char *line)
{
    return strcasestr(r->headers, line) != NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* ---- the handler under test ---- */

typedef struct deferred {
    http_reply *reply;
    int delay_ms;
} deferred;

static void *answer_later(void *arg)
{
    deferred *d = arg;
    sleep_ms(d->delay_ms);
    http_reply_send(d->reply, 200, "text/plain", "later", 5);
    free(d);
    return NULL;
}

static void defer(http_reply *reply, int delay_ms)
{
    deferred *d = malloc(sizeof *d);
    d->reply = reply;
    d->delay_ms = delay_ms;
    pthread_t t;
    pthread_create(&t, NULL, answer_later, d);
    pthread_detach(t);
}

static _Atomic(http_reply *) parked; /* /hang: answered by the test itself */

static void count_close(void *arg)
{
    (void)arg;
    atomic_fetch_add(&closes, 1);
}

static void count_release(void *arg)
{
    (void)arg;
    atomic_fetch_add(&releases, 1);
}

static void wait_count(atomic_int *v, int target)
{
    for (int i = 0; i < 300 && atomic_load(v) < target; i++)
        sleep_ms(10);
}

static void handler(void *user, const http_request *req, http_reply *reply)
{
    atomic_fetch_add(&handler_calls, 1);
    if (strcmp(req->path, "/later") == 0) {
        http_reply_on_close(reply, count_close, NULL);
        http_reply_on_release(reply, count_release, NULL);
        defer(reply, 200);
        return;
    }
    if (strcmp(req->path, "/race") == 0) {
        http_reply_on_close(reply, count_close, NULL);
        defer(reply, rand() % 6);
        return;
    }
    if (strcmp(req->path, "/hang") == 0) {
        http_reply_on_close(reply, count_close, NULL);
        http_reply_on_release(reply, count_release, NULL);
        parked = reply;
        return;
    }
    if (strncmp(req->path, "/static/", 8) == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", static_root, req->path + 8);
        http_reply_send_file(reply, path);
        return;
    }
    char out[2048];
    const char *q = http_request_query(req, "x");
    const char *h = http_request_header(req, "x-test");
    int n = snprintf(out, sizeof out, "%s|%s|%s|%s|%zu|%s|%s", req->method, req->path,
                     q ? q : "-", h ? h : "-", req->body_len, req->body, req->remote_ip);
    http_reply_add_header(reply, "X-Extra", "yes");
    http_reply_send(reply, 200, "text/plain", out, (size_t)n);
    http_reply_send(reply, 500, NULL, "second", 6);   /* ignored */
}

static http_server *start_server(size_t max_body)
{
    http_server_config cfg = {.bind_ip = "127.0.0.1", .max_body = max_body, .threads = 2,
                              .name = "test"};
    for (int i = 0; i < 50; i++) {
        port = (uint16_t)(30000 + (getpid() * 7 + i * 131) % 20000);
        cfg.port = port;
        http_server *srv = http_server_start(&cfg, handler, NULL);
        if (srv)
            return srv;
    }
    return NULL;
}

/* ---- cases ---- */

static void test_basic(void)
{
    response r;
    CHECK_INT(request("GET", "/hello%20world?x=a%26b&y=2", "X-Test: t1\r\n", NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "GET|/hello world|a&b|t1|0||127.0.0.1");
    CHECK(has_header(&r, "Access-Control-Allow-Origin: *"));
    CHECK(has_header(&r, "X-Extra: yes"));
    CHECK(has_header(&r, "Content-Type: text/plain"));
    CHECK_INT(request("POST", "/janus", NULL, "{\"janus\":\"create\"}", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "POST|/janus|-|-|18|{\"janus\":\"create\"}|127.0.0.1");
}

static void test_body_limit(void)
{
    int before = atomic_load(&handler_calls);
    char *big = malloc(3000);
    memset(big, 'a', 2999);
    big[2999] = '\0';
    response r;
    CHECK_INT(request("POST", "/janus", NULL, big, &r), 0);
    CHECK_INT(r.status, 413);
    CHECK(strstr(r.body, "\"payload_too_large\"") != NULL);
    CHECK(has_header(&r, "Access-Control-Allow-Origin: *"));
    /* Exactly at the limit passes. */
    big[1024] = '\0';
    CHECK_INT(request("POST", "/x", NULL, big, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(atomic_load(&handler_calls), before + 1);

    /* A chunked body has no Content-Length: refused once it grows past the limit. */
    int fd = connect_server();
    const char *head = "POST /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    send_all(fd, head, strlen(head));
    for (int i = 0; i < 3; i++) {
        send_all(fd, "258\r\n", 5);   /* 600 bytes per chunk */
        send_all(fd, big, 600);
        send_all(fd, "\r\n", 2);
    }
    send_all(fd, "0\r\n\r\n", 5);
    CHECK_INT(read_response(fd, &r), 0);
    close(fd);
    CHECK_INT(r.status, 413);
    CHECK_INT(atomic_load(&handler_calls), before + 1);
    free(big);
}

static void test_preflight(void)
{
    int before = atomic_load(&handler_calls);
    response r;
    CHECK_INT(request("OPTIONS", "/api/v1/wallet",
                      "Origin: http://example.test\r\nAccess-Control-Request-Method: POST\r\n"
                      "Access-Control-Request-Headers: content-type, authorization\r\n",
                      NULL, &r), 0);
    CHECK_INT(r.status, 204);
    CHECK(has_header(&r, "Access-Control-Allow-Origin: *"));
    CHECK(has_header(&r, "Access-Control-Allow-Methods: "));
    CHECK(has_header(&r, "Idempotency-Key"));
    CHECK(has_header(&r, "Authorization"));
    CHECK_INT(atomic_load(&handler_calls), before);
}

static void test_long_poll(void)
{
    int rel = atomic_load(&releases);
    double t0 = now_ms();
    response r;
    CHECK_INT(request("GET", "/later", NULL, NULL, &r), 0);
    double took = now_ms() - t0;
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "later");
    CHECK(took >= 180);
    CHECK(took < 3000);
    wait_count(&releases, rel + 1);
    CHECK_INT(atomic_load(&releases), rel + 1);
}

static void test_client_leaves(void)
{
    int before = atomic_load(&closes);
    parked = NULL;
    int fd = connect_server();
    const char *req = "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, strlen(req));
    for (int i = 0; i < 100 && !parked; i++)
        sleep_ms(10);
    CHECK(parked != NULL);
    CHECK(!http_reply_is_closed(parked));
    close(fd);
    for (int i = 0; i < 300 && atomic_load(&closes) == before; i++)
        sleep_ms(10);
    CHECK_INT(atomic_load(&closes), before + 1);
    CHECK(parked && http_reply_is_closed(parked));
    /* Closed but not yet released: the owner has not answered. */
    int rel = atomic_load(&releases);
    sleep_ms(50);
    CHECK_INT(atomic_load(&releases), rel);
    /* Answering a closed reply is a harmless no-op that releases it. */
    if (parked)
        http_reply_send(parked, 200, NULL, "{}", 2);
    parked = NULL;
    wait_count(&releases, rel + 1);
    CHECK_INT(atomic_load(&releases), rel + 1);
}

/* Replies from other threads racing clients that hang up: no crash, no leak (ASan). */
static void test_race(void)
{
    int before_calls = atomic_load(&handler_calls);
    int completed = 0;
    for (int i = 0; i < 60; i++) {
        int fd = connect_server();
        const char *req = "GET /race HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        send_all(fd, req, strlen(req));
        if (i % 2) {
            sleep_ms(rand() % 6);
            close(fd);
        } else {
            response r;
            if (read_response(fd, &r) == 0 && r.status == 200)
                completed++;
            close(fd);
        }
    }
    CHECK_INT(completed, 30);
    sleep_ms(100);
    CHECK(atomic_load(&handler_calls) >= before_calls + 30);
}

static atomic_int parallel_ok;

static void *race_client(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 50; i++) {
        int fd = connect_server();
        if (fd < 0)
            continue;
        const char *req = "GET /race HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        send_all(fd, req, strlen(req));
        if (rand_r(&seed) % 2) {
            sleep_ms((int)(rand_r(&seed) % 6));
        } else {
            char buf[512];
            ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
            if (n > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0)
                atomic_fetch_add(&parallel_ok, 1);
        }
        close(fd);
    }
    return NULL;
}

/* Four clients at once against the thread pool, half of them hanging up mid-wait. */
static void test_race_parallel(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, race_client, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&parallel_ok) >= 50);
    sleep_ms(100);
}

static void write_file(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", static_root, rel);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_static(void)
{
    snprintf(static_root, sizeof static_root, "/tmp/parley-http-test-%d", (int)getpid());
    char sub[300];
    snprintf(sub, sizeof sub, "%s/www", static_root);
    mkdir(static_root, 0700);
    mkdir(sub, 0700);
    write_file("www/index.html", "<h1>hi</h1>");
    write_file("www/app.mjs", "export default 1;");
    write_file("www/style.css", "body{}");
    write_file("secret.txt", "secret");
    response r;
    CHECK_INT(request("GET", "/static/www/app.mjs", NULL, NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "export default 1;");
    CHECK(has_header(&r, "Content-Type: text/javascript"));
    CHECK_INT(request("GET", "/static/www/style.css", NULL, NULL, &r), 0);
    CHECK(has_header(&r, "Content-Type: text/css"));
    CHECK_INT(request("GET", "/static/www/", NULL, NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "<h1>hi</h1>");
    CHECK(has_header(&r, "Content-Type: text/html"));
    CHECK_INT(request("GET", "/static/www", NULL, NULL, &r), 0);
    CHECK_STR(r.body, "<h1>hi</h1>");
    CHECK_INT(request("GET", "/static/www/../secret.txt", NULL, NULL, &r), 0);
    CHECK_INT(r.status, 403);
    CHECK(strstr(r.body, "secret") == NULL || strstr(r.body, "\"forbidden\"") != NULL);
    CHECK_INT(request("GET", "/static/www/%2e%2e/secret.txt", NULL, NULL, &r), 0);
    CHECK_INT(r.status, 403);
    CHECK_INT(request("GET", "/static/www/missing.js", NULL, NULL, &r), 0);
    CHECK_INT(r.status, 404);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", static_root);
    CHECK_INT(system(cmd), 0);
}

/* A long-poll still waiting when the server stops gets 503, and its owner hears on_close. */
static void test_stop_pending(http_server *srv)
{
    int before = atomic_load(&closes);
    parked = NULL;
    int fd = connect_server();
    const char *req = "GET /hang HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, req, strlen(req));
    for (int i = 0; i < 100 && !parked; i++)
        sleep_ms(10);
    CHECK(parked != NULL);
    http_server_stop(srv);
    response r;
    CHECK_INT(read_response(fd, &r), 0);
    close(fd);
    CHECK_INT(r.status, 503);
    CHECK_INT(atomic_load(&closes), before + 1);
    if (parked)
        http_reply_send(parked, 200, NULL, "{}", 2);   /* no-op, releases it */
    parked = NULL;
}

/* An admin-style server: no CORS headers, OPTIONS is the handler's. */
static void test_no_cors(void)
{
    uint16_t saved = port;
    http_server_config cfg = {.bind_ip = "127.0.0.1", .max_body = 1024, .threads = 1,
                              .name = "nocors", .no_cors = true};
    http_server *srv = NULL;
    for (int i = 0; i < 50 && !srv; i++) {
        port = (uint16_t)(30000 + (getpid() * 11 + i * 177 + 3) % 20000);
        cfg.port = port;
        srv = http_server_start(&cfg, handler, NULL);
    }
    CHECK(srv != NULL);
    if (!srv) {
        port = saved;
        return;
    }
    response r;
    CHECK_INT(request("GET", "/plain", NULL, NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(!has_header(&r, "Access-Control-Allow-Origin"));
    int before = atomic_load(&handler_calls);
    CHECK_INT(request("OPTIONS", "/admin", NULL, NULL, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(strncmp(r.body, "OPTIONS|/admin|", 15) == 0);
    CHECK(!has_header(&r, "Access-Control-Allow-Methods"));
    CHECK_INT(atomic_load(&handler_calls), before + 1);
    http_server_stop(srv);
    port = saved;
}

/* "::" takes IPv4 and IPv6 clients (dual stack); the remote address comes out plain. */
static void test_dual_stack(void)
{
    http_server_config cfg = {.bind_ip = "::", .max_body = 1024, .threads = 1, .name = "v6"};
    http_server *srv = NULL;
    uint16_t p6 = 0;
    for (int i = 0; i < 50 && !srv; i++) {
        p6 = (uint16_t)(30000 + (getpid() * 17 + i * 191 + 5) % 20000);
        cfg.port = p6;
        srv = http_server_start(&cfg, handler, NULL);
    }
    CHECK(srv != NULL);
    if (!srv)
        return;
    uint16_t saved = port;
    port = p6;
    response r;
    CHECK_INT(request("GET", "/v4", NULL, NULL, &r), 0);
    CHECK(strstr(r.body, "|127.0.0.1") != NULL);
    port = saved;
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(p6)};
    inet_pton(AF_INET6, "::1", &sa.sin6_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        const char *req = "GET /v6 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        send_all(fd, req, strlen(req));
        CHECK_INT(read_response(fd, &r), 0);
        CHECK(strstr(r.body, "|::1") != NULL);
    } else {
        fprintf(stderr, "test_dual_stack: no IPv6 loopback, IPv6 half skipped\n");
    }
    if (fd >= 0)
        close(fd);
    http_server_stop(srv);
}

/* ---- abuse limits ---- */

static http_server *start_limited(unsigned per_ip, unsigned timeout_s, uint16_t *out_port)
{
    http_server_config cfg = {.bind_ip = "127.0.0.1", .max_body = 1024, .threads = 2, .name = "limits",
                              .max_connections_per_ip = per_ip, .request_timeout_s = timeout_s};
    http_server *srv = NULL;
    for (int i = 0; i < 50 && !srv; i++) {
        *out_port = (uint16_t)(30000 + (getpid() * 13 + i * 157 + 7) % 20000);
        cfg.port = *out_port;
        srv = http_server_start(&cfg, handler, NULL);
    }
    return srv;
}

/* A connection to port from the local address src ("127.0.0.2": any 127/8 address is
 * local on Linux). */
static int connect_from(const char *src, uint16_t to)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &me.sin_addr);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(to)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Milliseconds until the server closes fd (EOF or reset), or -1 if it stays open that long. */
static int wait_closed(int fd, int limit_ms)
{
    double t0 = now_ms();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (now_ms() - t0 < limit_ms) {
        if (poll(&p, 1, 50) > 0) {
            char buf[4096];
            ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                return (int)(now_ms() - t0);
        }
    }
    return -1;
}

static int plain_get(uint16_t to, const char *src, response *r)
{
    int fd = connect_from(src, to);
    if (fd < 0)
        return -1;
    const char *req = "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, req, strlen(req));
    int rc = read_response(fd, r);
    close(fd);
    return rc;
}

/* An address at its limit is closed at once and counted; another address is served; a slot
 * freed is usable again. */
static void test_per_ip_limit(void)
{
    uint16_t p = 0;
    http_server *srv = start_limited(3, 30, &p);
    CHECK(srv != NULL);
    if (!srv)
        return;
    uint64_t before = http_refusals(HTTP_REFUSAL_PER_IP);
    int held[3];
    const char *partial = "GET /plain HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 3; i++) {
        held[i] = connect_from("127.0.0.1", p);
        send_all(held[i], partial, strlen(partial));
    }
    sleep_ms(100);   /* accepted and counted by now */
    int extra = connect_from("127.0.0.1", p);
    CHECK(extra >= 0);
    int t = wait_closed(extra, 2000);
    CHECK(t >= 0 && t < 1000);
    close(extra);
    CHECK_INT(http_refusals(HTTP_REFUSAL_PER_IP), before + 1);
    response r;
    CHECK_INT(plain_get(p, "127.0.0.2", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK(strstr(r.body, "|127.0.0.2") != NULL);
    close(held[0]);
    sleep_ms(100);   /* counted out */
    CHECK_INT(plain_get(p, "127.0.0.1", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_INT(http_refusals(HTTP_REFUSAL_PER_IP), before + 1);
    close(held[1]);
    close(held[2]);
    http_server_stop(srv);
}

/* request_timeout_s closes unfinished requests and silent connections (counted), but not a
 * suspended long-poll, whose answer after longer than the timeout still arrives. */
static void test_request_timeout(void)
{
    uint16_t p = 0;
    http_server *srv = start_limited(0, 1, &p);
    CHECK(srv != NULL);
    if (!srv)
        return;
    uint64_t before = http_refusals(HTTP_REFUSAL_TIMEOUT);
    int partial = connect_from("127.0.0.1", p);
    const char *head = "GET /plain HTTP/1.1\r\nHost: x\r\n";
    send_all(partial, head, strlen(head));
    int silent = connect_from("127.0.0.1", p);
    /* the long-poll: answered by the test after 2.5 s, 2.5 times the timeout */
    parked = NULL;
    int lp = connect_from("127.0.0.1", p);
    const char *hang = "GET /hang HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(lp, hang, strlen(hang));
    double t0 = now_ms();
    int t1 = wait_closed(partial, 4000);
    CHECK(t1 >= 700 && t1 < 3000);
    int t2 = wait_closed(silent, 4000);
    CHECK(t2 >= 0 && now_ms() - t0 < 3500);
    while (now_ms() - t0 < 2500)
        sleep_ms(20);
    CHECK(parked != NULL);
    if (parked)
        http_reply_send(parked, 200, "text/plain", "kept", 4);
    parked = NULL;
    response r;
    CHECK_INT(read_response(lp, &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "kept");
    close(lp);
    close(partial);
    close(silent);
    CHECK_INT(http_refusals(HTTP_REFUSAL_TIMEOUT), before + 2);
    /* A normal request on a fresh connection is unaffected. */
    CHECK_INT(plain_get(p, "127.0.0.1", &r), 0);
    CHECK_INT(r.status, 200);
    http_server_stop(srv);
}

/* Differing Content-Length headers: 400 JSON, the handler is not called, the connection is
 * closed (what follows could be a smuggled request). Equal duplicates are accepted. */
static void test_duplicate_content_length(void)
{
    int before = atomic_load(&handler_calls);
    uint64_t refused = http_refusals(HTTP_REFUSAL_DUPLICATE_CONTENT_LENGTH);
    int fd = connect_server();
    const char *req = "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ncontent-length: 40\r\n\r\n{}"
                      "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, req, strlen(req));
    response r;
    CHECK_INT(read_response(fd, &r), 0);   /* reads to EOF: the server closed */
    close(fd);
    CHECK_INT(r.status, 400);
    CHECK(strstr(r.body, "\"bad_request\"") != NULL);
    CHECK(strstr(r.body, "Content-Length") != NULL);
    CHECK(strstr(r.body, "HTTP/1.1") == NULL);   /* no second response */
    CHECK(has_header(&r, "Connection: close"));
    CHECK_INT(atomic_load(&handler_calls), before);
    CHECK_INT(http_refusals(HTTP_REFUSAL_DUPLICATE_CONTENT_LENGTH), refused + 1);
    CHECK_INT(request("POST", "/x", "Content-Length: 2\r\n", "{}", &r), 0);   /* the same twice */
    CHECK_INT(r.status, 200);
    CHECK(strncmp(r.body, "POST|/x|-|-|2|{}|", 17) == 0);
    CHECK_INT(http_refusals(HTTP_REFUSAL_DUPLICATE_CONTENT_LENGTH), refused + 1);
    CHECK_STR(http_refusal_name(HTTP_REFUSAL_DUPLICATE_CONTENT_LENGTH), "duplicate_content_length");
    CHECK_STR(http_refusal_name(HTTP_REFUSAL_PER_IP), "per_ip");
}

static void test_host_checks(void)
{
    const char *allowed = "localhost, 127.0.0.1,[::1], Admin.Example";
    /* Host */
    CHECK(http_host_allowed("localhost", allowed, "127.0.0.1"));
    CHECK(http_host_allowed("localhost:7088", allowed, "127.0.0.1"));
    CHECK(http_host_allowed("LOCALHOST.:7088", allowed, "127.0.0.1"));
    CHECK(http_host_allowed("127.0.0.1:7088", allowed, "127.0.0.1"));
    CHECK(http_host_allowed("[::1]:7088", allowed, "127.0.0.1"));
    CHECK(http_host_allowed("[0:0::1]", allowed, "127.0.0.1"));
    CHECK(http_host_allowed("admin.example:9", allowed, "127.0.0.1"));
    CHECK(http_host_allowed(NULL, allowed, "127.0.0.1"));
    CHECK(!http_host_allowed("attacker.example:7088", allowed, "127.0.0.1"));
    CHECK(!http_host_allowed("localhost.attacker.example", allowed, "127.0.0.1"));
    CHECK(!http_host_allowed("", allowed, "127.0.0.1"));
    CHECK(!http_host_allowed("localhost:x", allowed, "127.0.0.1"));
    CHECK(!http_host_allowed("::1", allowed, "127.0.0.1"));            /* needs brackets */
    CHECK(!http_host_allowed("[::1", allowed, "127.0.0.1"));
    CHECK(!http_host_allowed("user@localhost", allowed, "127.0.0.1"));
    CHECK(!http_host_allowed("10.0.0.5:7088", allowed, "127.0.0.1"));
    /* the bind address, and any IP literal with a wildcard bind */
    CHECK(http_host_allowed("10.0.0.5:7088", allowed, "10.0.0.5"));
    CHECK(http_host_allowed("[fd00::5]:7088", "", "fd00::5"));
    CHECK(http_host_allowed("10.0.0.5:7088", allowed, "0.0.0.0"));
    CHECK(http_host_allowed("[2001:db8::1]", "", "::"));
    CHECK(!http_host_allowed("attacker.example", allowed, "0.0.0.0"));
    CHECK(!http_host_allowed("localhost", "", "127.0.0.1"));
    /* Origin */
    CHECK(http_origin_allowed("http://localhost:7088", allowed, "127.0.0.1"));
    CHECK(http_origin_allowed("https://[::1]", allowed, "127.0.0.1"));
    CHECK(http_origin_allowed("http://127.0.0.1", allowed, "127.0.0.1"));
    CHECK(!http_origin_allowed("http://attacker.example", allowed, "127.0.0.1"));
    CHECK(!http_origin_allowed("null", allowed, "127.0.0.1"));
    CHECK(!http_origin_allowed("localhost", allowed, "127.0.0.1"));
    CHECK(!http_origin_allowed("http://localhost/path", allowed, "127.0.0.1"));
    CHECK(!http_origin_allowed("http://localhost@attacker.example", allowed, "127.0.0.1"));
    CHECK(!http_origin_allowed(NULL, allowed, "127.0.0.1"));
}

static void test_bad_bind(void)
{
    http_server_config cfg = {.bind_ip = "not-an-ip", .port = 1, .max_body = 10, .threads = 1};
    CHECK(http_server_start(&cfg, handler, NULL) == NULL);
}

int main(void)
{
    srand(7);
    http_server *srv = start_server(1024);
    CHECK(srv != NULL);
    if (!srv)
        return check_summary("test_http");
    test_basic();
    test_body_limit();
    test_preflight();
    test_long_poll();
    test_client_leaves();
    test_race();
    test_race_parallel();
    test_static();
    test_no_cors();
    test_dual_stack();
    test_duplicate_content_length();
    test_host_checks();
    test_per_ip_limit();
    test_request_timeout();
    test_stop_pending(srv);
    test_bad_bind();
    sleep_ms(50);   /* let detached answer threads finish before the leak check */
    return check_summary("test_http");
}
