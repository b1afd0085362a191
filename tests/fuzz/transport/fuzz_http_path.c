/*
 * fuzz_http_path: the static-file path guard (http_file_has_dot_dot) and the content-type
 * lookup, fed with decoded request paths. The guard is checked against a second, plainly
 * written implementation: any disagreement traps.
 */
#include "transport/http_file.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool reference_has_dot_dot(char *copy)
{
    for (char *save = NULL, *seg = strtok_r(copy, "/", &save); seg;
         seg = strtok_r(NULL, "/", &save))
        if (strcmp(seg, "..") == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *path = malloc(size + 1);
    char *copy = malloc(size + 1);
    if (!path || !copy) {
        free(path);
        free(copy);
        return 0;
    }
    memcpy(path, data, size);
    path[size] = '\0';   /* a path stops at its first NUL, as libmicrohttpd hands it over */
    memcpy(copy, path, size + 1);
    if (http_file_has_dot_dot(path) != reference_has_dot_dot(copy))
        __builtin_trap();
    if (!http_file_content_type(path))
        __builtin_trap();
    free(path);
    free(copy);
    return 0;
}
