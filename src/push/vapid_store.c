/*
 * vapid_store: see vapid_store.h.
 */
#include "push/vapid_store.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static webpush_vapid *vapid_read(const char *path, char *err, size_t errcap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        (void)fchmod(fd, 0600);
    char buf[WEBPUSH_PRIVATE_B64_LEN + 4];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    webpush_vapid *key = NULL;
    int rc = webpush_vapid_load(buf, &key);
    if (rc != WEBPUSH_OK)
        snprintf(err, errcap, "%s holds no VAPID key (%s); move it away only if no browser has "
                 "subscribed with it", path, webpush_status_name(rc));
    return key;
}

static webpush_vapid *vapid_create(const char *path, char *err, size_t errcap)
{
    webpush_vapid *key = NULL;
    char b64[WEBPUSH_PRIVATE_B64_LEN + 2];
    if (webpush_vapid_generate(&key) != WEBPUSH_OK || webpush_vapid_private_b64(key, b64, sizeof b64) != 0) {
        webpush_vapid_free(key);
        snprintf(err, errcap, "cannot generate a VAPID key");
        return NULL;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        webpush_vapid_free(key);
        if (errno == EEXIST)   /* another start won the race: use its key */
            return vapid_read(path, err, errcap);
        snprintf(err, errcap, "cannot create %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = strlen(b64);
    b64[len++] = '\n';
    bool ok = write(fd, b64, len) == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        webpush_vapid_free(key);
        snprintf(err, errcap, "cannot write %s", path);
        return NULL;
    }
    return key;
}

webpush_vapid *vapid_store_load_or_create(const char *dir, char *err, size_t errcap)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, VAPID_STORE_FILE);
    if (access(path, F_OK) == 0)
        return vapid_read(path, err, errcap);
    return vapid_create(path, err, errcap);
}
