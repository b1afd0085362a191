/* bench_platform: see bench_platform.h. */
#include "bench_platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_handler(platform_t *p, api_handler fn, const char *body, uint64_t uid, const char *role, json_t **out)
{
    http_request http = {.method = "POST", .path = "/", .body = body, .body_len = strlen(body),
                         .remote_ip = "127.0.0.1"};
    api_req rq = {.p = p, .http = &http};
    if (uid) {
        rq.auth.user_id = uid;
        snprintf(rq.auth.role, sizeof rq.auth.role, "%s", role);
    }
    api_resp rs = {0};
    int status = fn(&rq, &rs) == 0 ? rs.status : rs.err.status;
    if (out)
        *out = rs.body;
    else
        json_decref(rs.body);
    free(rs.raw);
    return status;
}
