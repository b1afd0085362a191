/*
 * http_file: opening static files for the HTTP server (internal to src/transport).
 *
 * http_file_open() checks a filesystem path the caller built from a request (refusing any
 * ".." segment), serves index.html for a directory, and returns an open read-only fd of a
 * regular file with its size and a content type picked from the extension. The caller owns
 * the fd. No I/O beyond open/fstat; any thread.
 */
#ifndef PARLEY_TRANSPORT_HTTP_FILE_H
#define PARLEY_TRANSPORT_HTTP_FILE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct http_file {
    int fd;
    size_t size;
    const char *content_type;   /* static string */
} http_file;

typedef enum http_file_status {
    HTTP_FILE_OK = 0,
    HTTP_FILE_FORBIDDEN,        /* the path has a ".." segment */
    HTTP_FILE_NOT_FOUND,        /* missing, unreadable, or not a regular file */
} http_file_status;

http_file_status http_file_open(const char *path, http_file *out);
/* True when some '/'-separated segment of path is exactly "..". */
bool http_file_has_dot_dot(const char *path);
/* Content type for a file name by its extension; "application/octet-stream" if unknown. */
const char *http_file_content_type(const char *path);

#endif
