/*
 * media_bench_http: a tiny blocking HTTP/1.1 client for the media benchmark's signalling
 * (the Janus HTTP API: POST JSON, long-poll GET). One TCP connection per request with
 * "Connection: close", so a response ends at EOF; chunked bodies are decoded.
 *
 * Contract:
 *  - mb_url_parse accepts "http://HOST[:PORT][/PATH]" with a numeric IPv4 host or
 *    "localhost"; the path has no trailing slash ("" when none).
 *  - mb_http_request blocks for at most timeout_ms in total; it also returns early (-1)
 *    when *stop becomes true (checked every 100 ms), so a long-poll can be abandoned.
 *    On success it returns the HTTP status and *body (malloc'd, NUL-terminated, caller
 *    frees). -1 on connection, timeout or protocol errors (reason in err when errcap > 0).
 *  - Any thread; no shared state.
 */
#ifndef PARLEY_BENCH_MEDIA_BENCH_HTTP_H
#define PARLEY_BENCH_MEDIA_BENCH_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mb_url {
    char host[64];
    uint16_t port;
    char path[192];
} mb_url;

int mb_url_parse(const char *text, mb_url *out);

/* Parses a complete HTTP/1.x response (resp NUL-terminated at resp[len], modified in
 * place): returns the status and *body_out (malloc'd, NUL-terminated; chunked bodies are
 * decoded), or -1 with a reason in err. Exposed for the unit test and the fuzz target. */
int mb_http_parse_response(char *resp, size_t len, char **body_out, char *err, size_t errcap);

int mb_http_request(const mb_url *url, const char *method, const char *path, const char *body,
                    int timeout_ms, const atomic_bool *stop, char **body_out, char *err,
                    size_t errcap);

#endif
