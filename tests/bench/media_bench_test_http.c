/*
 * Unit test of the media benchmark's HTTP client (media_bench_http.c): URL parsing,
 * response parsing (Content-Length and chunked bodies, malformed responses), and whole
 * requests against a one-shot TCP server on a thread (reply, timeout, stop flag).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "media_bench_http.h"

static int parse(const char *text, char **body)
{
    char *copy = strdup(text);
    char err[128];
    int st = mb_http_parse_response(copy, strlen(copy), body, err, sizeof err);
    free(copy);
    return st;
}

static void test_url(void)
{
    mb_url u;
    CHECK_INT(mb_url_parse("http://127.0.0.1:8088/janus", &u), 0);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_INT(u.port, 8088);
    CHECK_STR(u.path, "/janus");
    CHECK_INT(mb_url_parse("http://localhost/janus/", &u), 0);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_INT(u.port, 80);
    CHECK_STR(u.path, "/janus");
    CHECK_INT(mb_url_parse("http://127.0.0.1:99999/", &u), -1);
    CHECK_INT(mb_url_parse("https://127.0.0.1/", &u), -1);
    CHECK_INT(mb_url_parse("http://example.org/", &u), -1);
    CHECK_INT(mb_url_parse("http://127.0.0.1:80x/", &u), -1);
}

static void test_parse(void)
{
    char *body = NULL;
    CHECK_INT(parse("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{\"a\"", &body), 200);
    CHECK_STR(body, "{\"a\"");
    free(body);
    CHECK_INT(parse("HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n"
                    "4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n", &body), 200);
    CHECK_STR(body, "Wikipedia");
    free(body);
    CHECK_INT(parse("HTTP/1.0 404 Not Found\r\n\r\n", &body), 404);
    CHECK_STR(body, "");
    free(body);
    /* Malformed: no status line, no end of headers, chunk longer than the data. */
    CHECK_INT(parse("HTTX/1.1 200 OK\r\n\r\n", &body), -1);
    CHECK(body == NULL);
    CHECK_INT(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", &body), -1);
    CHECK_INT(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab", &body), -1);
    CHECK_INT(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nab", &body), -1);
    CHECK_INT(parse("HTTP/1.1 2000 OK\r\n\r\n", &body), -1);
}

typedef struct one_shot {
    int listen_fd;
    const char *reply;   /* NULL: accept, read, and never answer */
    char request[2048];
} one_shot;

static void *serve_once(void *arg)
{
    one_shot *o = arg;
    int fd = accept(o->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    ssize_t n = recv(fd, o->request, sizeof o->request - 1, 0);
    o->request[n > 0 ? n : 0] = '\0';
    if (o->reply) {
        send(fd, o->reply, strlen(o->reply), MSG_NOSIGNAL);
        close(fd);
    } else {
        usleep(800 * 1000);
        close(fd);
    }
    return NULL;
}

static uint16_t listen_any(int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    listen(fd, 4);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *fd_out = fd;
    return ntohs(sa.sin_port);
}

static void test_requests(void)
{
    one_shot o = {.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
    mb_url u = {.host = "127.0.0.1"};
    u.port = listen_any(&o.listen_fd);
    pthread_t t;
    pthread_create(&t, NULL, serve_once, &o);
    char *body = NULL, err[128] = "";
    int st = mb_http_request(&u, "POST", "/janus", "{\"janus\":\"create\"}", 2000, NULL, &body,
                             err, sizeof err);
    pthread_join(t, NULL);
    CHECK_INT(st, 200);
    CHECK_STR(body, "ok");
    free(body);
    CHECK(strstr(o.request, "POST /janus HTTP/1.1\r\n") == o.request);
    CHECK(strstr(o.request, "Content-Length: 18\r\n") != NULL);
    CHECK(strstr(o.request, "\r\n\r\n{\"janus\":\"create\"}") != NULL);

    /* A server that never answers: the timeout ends the request. */
    o.reply = NULL;
    pthread_create(&t, NULL, serve_once, &o);
    st = mb_http_request(&u, "GET", "/janus/1", NULL, 200, NULL, &body, err, sizeof err);
    CHECK_INT(st, -1);
    CHECK(body == NULL);
    pthread_join(t, NULL);

    /* The stop flag ends a pending long-poll too. */
    atomic_bool stop = true;
    pthread_create(&t, NULL, serve_once, &o);
    st = mb_http_request(&u, "GET", "/janus/1", NULL, 5000, &stop, &body, err, sizeof err);
    CHECK_INT(st, -1);
    pthread_join(t, NULL);
    close(o.listen_fd);

    /* Nobody listening. */
    st = mb_http_request(&u, "GET", "/", NULL, 500, NULL, &body, err, sizeof err);
    CHECK_INT(st, -1);
}

int main(void)
{
    test_url();
    test_parse();
    test_requests();
    return check_summary("bench-media-http");
}
