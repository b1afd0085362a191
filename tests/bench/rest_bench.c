/*
 * rest_bench: throughput of the platform REST API over real HTTP on loopback, and the cost of
 * the password KDF.
 *
 * It runs the real thing in one process: platform_create (SQLite file in a temp dir, storage
 * thread) behind http_server_start (libmicrohttpd, 4 threads, as in the server), then C
 * client threads with keep-alive connections hammer one endpoint for a few seconds each:
 *   GET  /api/v1/hosts           (20 host profiles, default page of 20 cards, presence merged)
 *   POST /api/v1/auth/login      (scrypt at the configured cost, a device row and a refresh
 *                                  token committed through group commit)
 * and prints requests/s and latency percentiles, then the time of one scrypt hash at cost
 * 10..16. Client and server share the machine's cores, so figures are a floor.
 *
 * Usage: rest_bench [seconds_per_endpoint=3] [connections=8] [kdf_cost=15]
 * Run:   meson test -C build --benchmark rest-bench --verbose   (or build/tests/bench/rest_bench)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/password.h"
#include "api/platform.h"
#include "transport/http.h"
#include "util/log.h"

typedef struct bench_run {
    uint16_t port;
    const char *request;      /* full HTTP request text */
    int expect_status;
    double seconds;
    /* results */
    long ok, bad;
    double *lat_us;
    size_t nlat, caplat;
} bench_run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads one response (headers + Content-Length body); returns the status or -1. */
static int bench_read_response(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        ssize_t n = read(fd, buf + have, cap - have - 1);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "Content-Length:");
    size_t body = cl ? (size_t)atol(cl + 15) : 0;
    size_t total = (size_t)(end + 4 - buf) + body;
    if (total >= cap)
        return -1;
    while (have < total) {
        ssize_t n = read(fd, buf + have, total - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    return status;
}

static void *bench_client(void *arg)
{
    bench_run *r = arg;
    char *buf = malloc(1 << 20);
    int fd = bench_connect(r->port);
    double end = now_s() + r->seconds;
    size_t len = strlen(r->request);
    while (fd >= 0 && now_s() < end) {
        double t0 = now_s();
        if (write(fd, r->request, len) != (ssize_t)len)
            break;
        int st = bench_read_response(fd, buf, 1 << 20);
        if (st < 0)
            break;
        double us = (now_s() - t0) * 1e6;
        __atomic_fetch_add(st == r->expect_status ? &r->ok : &r->bad, 1, __ATOMIC_RELAXED);
        /* per-thread arrays would avoid the lock; latencies are few enough for this */
        static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&mu);
        if (r->nlat == r->caplat) {
            r->caplat = r->caplat ? r->caplat * 2 : 4096;
            r->lat_us = realloc(r->lat_us, r->caplat * sizeof(double));
        }
        r->lat_us[r->nlat++] = us;
        pthread_mutex_unlock(&mu);
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench_endpoint(const char *name, bench_run *r, int conns)
{
    pthread_t th[64];
    double t0 = now_s();
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, bench_client, r);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double el = now_s() - t0;
    qsort(r->lat_us, r->nlat, sizeof(double), cmp_double);
    double p50 = r->nlat ? r->lat_us[r->nlat / 2] : 0;
    double p99 = r->nlat ? r->lat_us[(r->nlat * 99) / 100] : 0;
    printf("%-28s %9.0f req/s  (%ld ok, %ld unexpected, %d connections, %.1f s)  "
           "p50 %.0f us  p99 %.0f us\n", name, (double)r->ok / el, r->ok, r->bad, conns, el, p50,
           p99);
    free(r->lat_us);
}

/* One request through the same client code, to set up users and profiles. */
static int bench_once(uint16_t port, const char *req, char *out, size_t cap)
{
    int fd = bench_connect(port);
    if (fd < 0)
        return -1;
    int st = -1;
    if (write(fd, req, strlen(req)) == (ssize_t)strlen(req))
        st = bench_read_response(fd, out, cap);
    close(fd);
    return st;
}

static void bench_post(char *out, size_t cap, const char *path, const char *body,
                       const char *token)
{
    char auth[2200] = "";
    if (token)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
    snprintf(out, cap, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: application/json"
             "\r\nContent-Length: %zu\r\n\r\n%s", path, auth, strlen(body), body);
}

static void bench_patch_me(char *out, size_t cap, const char *body, const char *token)
{
    snprintf(out, cap, "PATCH /api/v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
             "%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", token,
             strlen(body), body);
}

static int bench_seed(uint16_t port)
{
    char req[8192], resp[65536], body[512];
    for (int i = 0; i < 20; i++) {
        snprintf(body, sizeof(body), "{\"email\":\"host%d@bench.example\",\"password\":"
                 "\"bench pass 1\",\"role\":\"host\",\"display_name\":\"Host %d\"}", i, i);
        bench_post(req, sizeof(req), "/api/v1/auth/register", body, NULL);
        if (bench_once(port, req, resp, sizeof(resp)) != 201)
            return -1;
        snprintf(body, sizeof(body), "{\"email\":\"host%d@bench.example\",\"password\":"
                 "\"bench pass 1\",\"device_id\":\"d\"}", i);
        bench_post(req, sizeof(req), "/api/v1/auth/login", body, NULL);
        if (bench_once(port, req, resp, sizeof(resp)) != 200)
            return -1;
        const char *t = strstr(resp, "\"access_token\":\"");
        if (!t)
            return -1;
        char token[2048];
        t += 16;
        size_t n = strcspn(t, "\"");
        snprintf(token, sizeof(token), "%.*s", (int)n, t);
        snprintf(body, sizeof(body), "{\"audio_rate\":%d,\"video_rate\":%d,\"message_rate\":1,"
                 "\"languages\":[\"en\",\"fr\"],\"tags\":[\"tarot\",\"astro\"],\"bio\":\"bench\"}",
                 10 + i, 20 + i);
        bench_patch_me(req, sizeof(req), body, token);
        if (bench_once(port, req, resp, sizeof(resp)) != 200)
            return -1;
    }
    return 0;
}

static void bench_kdf(void)
{
    char out[PASSWORD_STORED_MAX];
    for (int ln = 10; ln <= 16; ln++) {
        int n = ln <= 12 ? 20 : 5;
        double t0 = now_s();
        for (int i = 0; i < n; i++)
            password_hash("bench pass 1", ln, out, sizeof(out));
        printf("scrypt N=2^%d r=8 p=1 (%3d MiB)  %8.1f ms per hash\n", ln, (128 * 8 << ln) >> 20,
               (now_s() - t0) * 1000 / n);
    }
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3;
    int conns = argc > 2 ? atoi(argv[2]) : 8;
    int cost = argc > 3 ? atoi(argv[3]) : 15;
    if (conns < 1 || conns > 64)
        conns = 8;
    log_set_level(LOG_LEVEL_WARN);
    char dir[] = "/tmp/rest_bench_XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    platform_config pc = {.data_dir = dir, .access_ttl_s = 900, .refresh_ttl_s = 86400,
                          .password_kdf_cost = cost, .payment_provider = "dev",
                          .platform_fee_bps = 2000, .rate_limit_per_min = 0};
    platform_t *p = platform_create(&pc);
    if (!p)
        return 1;
    http_server *srv = NULL;
    uint16_t port = 0;
    for (uint16_t cand = 28900; cand < 28999 && !srv; cand++) {
        http_server_config hc = {.bind_ip = "127.0.0.1", .port = cand, .max_body = 1 << 20,
                                 .threads = 4, .name = "bench"};
        srv = http_server_start(&hc, (http_handler_fn)platform_handle_http, p);
        port = cand;
    }
    if (!srv || bench_seed(port) != 0) {
        fprintf(stderr, "rest_bench: setup failed\n");
        return 1;
    }
    printf("rest_bench: platform REST API over loopback HTTP, %d connections, %.0f s each, "
           "kdf_cost %d\n", conns, secs, cost);
    bench_run hosts = {.port = port, .expect_status = 200, .seconds = secs,
                       .request = "GET /api/v1/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"};
    bench_endpoint("GET /api/v1/hosts", &hosts, conns);
    char login_req[1024];
    bench_post(login_req, sizeof(login_req), "/api/v1/auth/login",
               "{\"email\":\"host1@bench.example\",\"password\":\"bench pass 1\","
               "\"device_id\":\"bench\"}", NULL);
    bench_run login = {.port = port, .expect_status = 200, .seconds = secs,
                       .request = login_req};
    bench_endpoint("POST /api/v1/auth/login", &login, conns);
    bench_kdf();
    http_server_stop(srv);
    platform_destroy(p);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
