/* libFuzzer target: the Janus API request parser (WebSocket and HTTP path forms), the path
 * parser, and the trickle candidate reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/janus_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    janus_request req;
    janus_error err;
    janus_path ws = {.from_path = false};
    if (janus_request_parse((const char *)data, size, &ws, &req, &err) == 0)
        janus_request_check(&req, &err);
    if (req.candidate) {
        const char *c, *m;
        int idx;
        janus_candidate_parse(req.candidate, &c, &m, &idx);
    }
    janus_request_clear(&req);
    char path[256];
    size_t n = size < sizeof path - 8 ? size : sizeof path - 8;
    memcpy(path, "/janus/", 7);
    memcpy(path + 7, data, n);
    path[7 + n] = '\0';
    janus_path p;
    if (janus_path_parse(path, &p, &err) == 0)
        janus_request_parse((const char *)data, size, &p, &req, &err), janus_request_clear(&req);
    return 0;
}
