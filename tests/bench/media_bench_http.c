/*
 * media_bench_http: see media_bench_http.h. Deliberately simple: a request per connection,
 * the whole response read until the server closes, then parsed. Signalling is not what the
 * benchmark measures, so simplicity beats speed here.
 */
#include "media_bench_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MB_HTTP_MAX_RESPONSE (4u * 1024u * 1024u)

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mb_url_parse(const char *text, mb_url *out)
{
    memset(out, 0, sizeof *out);
    if (strncmp(text, "http://", 7) != 0)
        return -1;
    const char *h = text + 7;
    size_t hl = strcspn(h, ":/");
    if (hl == 0 || hl >= sizeof out->host)
        return -1;
    memcpy(out->host, h, hl);
    if (strcmp(out->host, "localhost") == 0)
        strcpy(out->host, "127.0.0.1");
    const char *p = h + hl;
    out->port = 80;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535)
            return -1;
        out->port = (uint16_t)port;
        p = end;
    }
    if (*p && *p != '/')
        return -1;
    size_t pl = strlen(p);
    while (pl > 0 && p[pl - 1] == '/')
        pl--;
    if (pl >= sizeof out->path)
        return -1;
    memcpy(out->path, p, pl);
    struct in_addr a;
    return inet_pton(AF_INET, out->host, &a) == 1 ? 0 : -1;
}

/* Waits for fd to be ready for ev, in 100 ms slices so *stop is honoured. */
static int wait_fd(int fd, short ev, int64_t deadline, const atomic_bool *stop)
{
    for (;;) {
        if (stop && atomic_load(stop))
            return -1;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = ev};
        int r = poll(&pfd, 1, left < 100 ? (int)left : 100);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static int connect_to(const mb_url *url, int64_t deadline, const atomic_bool *stop)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(url->port)};
    inet_pton(AF_INET, url->host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    if (wait_fd(fd, POLLOUT, deadline, stop) < 0) {
        close(fd);
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline,
                    const atomic_bool *stop)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (wait_fd(fd, POLLOUT, deadline, stop) < 0)
            return -1;
    }
    return 0;
}

/* Reads until EOF into a growing buffer. */
static char *recv_all(int fd, int64_t deadline, const atomic_bool *stop, size_t *len_out)
{
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= MB_HTTP_MAX_RESPONSE)
                break;
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0) {
            buf[len] = '\0';
            *len_out = len;
            return buf;
        }
        if (errno != EAGAIN && errno != EINTR)
            break;
        if (wait_fd(fd, POLLIN, deadline, stop) < 0)
            break;
    }
    free(buf);
    return NULL;
}

/* Decodes a chunked body in place; returns the decoded length or -1. */
static long dechunk(char *body, size_t len)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        if (in >= len)
            return -1;
        unsigned long n = strtoul(body + in, &end, 16);
        char *eol = strstr(end, "\r\n");
        if (end == body + in || !eol)
            return -1;
        in = (size_t)(eol - body) + 2;
        if (n == 0)
            break;
        if (n > len - in)
            return -1;
        memmove(body + out, body + in, n);
        out += n;
        in += n + 2;
    }
    body[out] = '\0';
    return (long)out;
}

static bool header_has(const char *headers, size_t hlen, const char *name, const char *value)
{
    size_t nl = strlen(name);
    const char *p = headers;
    while (p < headers + hlen) {
        const char *eol = memchr(p, '\n', (size_t)(headers + hlen - p));
        if (!eol)
            eol = headers + hlen;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && *v == ' ')
                v++;
            if ((size_t)(eol - v) >= strlen(value) && strncasecmp(v, value, strlen(value)) == 0)
                return true;
        }
        p = eol + 1;
    }
    return false;
}

int mb_http_parse_response(char *resp, size_t len, char **body_out, char *err, size_t errcap)
{
    int status = 0;
    *body_out = NULL;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 999) {
        set_err(err, errcap, "malformed status line");
        return -1;
    }
    char *sep = strstr(resp, "\r\n\r\n");
    if (!sep) {
        set_err(err, errcap, "no end of headers");
        return -1;
    }
    size_t hlen = (size_t)(sep - resp);
    char *body = sep + 4;
    size_t blen = len - hlen - 4;
    if (header_has(resp, hlen, "Transfer-Encoding", "chunked")) {
        long n = dechunk(body, blen);
        if (n < 0) {
            set_err(err, errcap, "bad chunked body");
            return -1;
        }
        blen = (size_t)n;
    }
    char *copy = malloc(blen + 1);
    if (!copy)
        return -1;
    memcpy(copy, body, blen);
    copy[blen] = '\0';
    *body_out = copy;
    return status;
}

int mb_http_request(const mb_url *url, const char *method, const char *path, const char *body,
                    int timeout_ms, const atomic_bool *stop, char **body_out, char *err,
                    size_t errcap)
{
    *body_out = NULL;
    int64_t deadline = now_ms() + timeout_ms;
    int fd = connect_to(url, deadline, stop);
    if (fd < 0) {
        set_err(err, errcap, "cannot connect to %s:%u", url->host, url->port);
        return -1;
    }
    size_t blen = body ? strlen(body) : 0;
    size_t cap = 512 + strlen(path) + blen;
    char *req = malloc(cap);
    if (!req) {
        close(fd);
        return -1;
    }
    int hl = snprintf(req, cap,
                      "%s %s HTTP/1.1\r\nHost: %s:%u\r\nConnection: close\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                      method, path, url->host, url->port, blen);
    if (blen)
        memcpy(req + hl, body, blen);
    int rc = send_all(fd, req, (size_t)hl + blen, deadline, stop);
    free(req);
    if (rc < 0) {
        set_err(err, errcap, "send failed");
        close(fd);
        return -1;
    }
    size_t rlen = 0;
    char *resp = recv_all(fd, deadline, stop, &rlen);
    close(fd);
    if (!resp) {
        set_err(err, errcap, "%s %s: no complete response (timeout or stop)", method, path);
        return -1;
    }
    int status = mb_http_parse_response(resp, rlen, body_out, err, errcap);
    free(resp);
    return status;
}
