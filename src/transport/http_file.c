/*
 * http_file: static files for the HTTP server. See http_file.h.
 *
 * The ".." check runs on the path after percent-decoding (libmicrohttpd decodes the URL
 * before we see it), so "%2e%2e" is caught too. Symlinks inside the web root are followed:
 * the root is the operator's, not the client's.
 */
#include "transport/http_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

bool http_file_has_dot_dot(const char *path)
{
    const char *p = path;
    while (*p) {
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        if (p - seg == 2 && seg[0] == '.' && seg[1] == '.')
            return true;
        while (*p == '/')
            p++;
    }
    return false;
}

const char *http_file_content_type(const char *path)
{
    static const struct { const char *ext, *type; } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".png", "image/png"},
        {".svg", "image/svg+xml"},
        {".ico", "image/x-icon"},
        {".wasm", "application/wasm"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* Opens a regular file; -1 for anything else. */
static int open_regular(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

http_file_status http_file_open(const char *path, http_file *out)
{
    if (http_file_has_dot_dot(path))
        return HTTP_FILE_FORBIDDEN;
    struct stat st;
    if (stat(path, &st) != 0)
        return HTTP_FILE_NOT_FOUND;
    const char *name = path;
    char index[4096];
    if (S_ISDIR(st.st_mode)) {
        size_t n = strlen(path);
        int w = snprintf(index, sizeof index, "%s%sindex.html", path,
                         n && path[n - 1] == '/' ? "" : "/");
        if (w < 0 || (size_t)w >= sizeof index)
            return HTTP_FILE_NOT_FOUND;
        name = index;
    }
    int fd = open_regular(name, &st);
    if (fd < 0)
        return HTTP_FILE_NOT_FOUND;
    out->fd = fd;
    out->size = (size_t)st.st_size;
    out->content_type = http_file_content_type(name);
    return HTTP_FILE_OK;
}
