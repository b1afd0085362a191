/*
 * openapi: GET /api/v1/openapi.yaml (public) answers the embedded document. See openapi.h.
 */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/openapi.h"

int openapi_get(api_req *rq, api_resp *rs)
{
    (void)rq;
    char *txt = malloc(api_openapi_yaml_len + 1);
    if (!txt)
        return api_fail(&rs->err, 500, "internal", "out of memory");
    memcpy(txt, api_openapi_yaml, api_openapi_yaml_len + 1);
    rs->status = 200;
    rs->raw = txt;
    rs->content_type = "application/yaml";   /* RFC 9512 */
    return 0;
}
