/*
 * libFuzzer target for the media benchmark's HTTP response parser (the bytes a server under
 * test sends back). Built only with -Dfuzz=true; seeds in corpus_media_bench_http/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "media_bench_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *body = NULL, err[128];
    int st = mb_http_parse_response(copy, size, &body, err, sizeof err);
    if (st >= 0 && body)
        (void)strlen(body);
    free(body);
    free(copy);
    return 0;
}
