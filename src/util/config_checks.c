/*
 * config_checks: see config_checks.h. Each check is the one place its rule is written: the
 * settings table in config.c points at it, so --check-config and a start judge a value the
 * same way and say so in the same words.
 */
#include "util/config_checks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/config.h"
#include "util/log.h"

bool config_parse_port_range(const char *value, int *min, int *max)
{
    int lo = 0, hi = 0;
    char tail = 0;
    if (sscanf(value, "%d-%d%c", &lo, &hi, &tail) != 2 || lo < 1 || hi > 65535 || lo > hi)
        return false;
    *min = lo;
    *max = hi;
    return true;
}

bool check_port_range(const char *value, char *why, size_t whycap)
{
    int lo, hi;
    if (config_parse_port_range(value, &lo, &hi))
        return true;
    snprintf(why, whycap, "\"%s\" is not MIN-MAX with 1 <= MIN <= MAX <= 65535", value);
    return false;
}

bool check_log_level(const char *value, char *why, size_t whycap)
{
    if (log_level_parse(value) >= 0)
        return true;
    snprintf(why, whycap, "\"%s\" is not error, warn, info, debug or trace", value);
    return false;
}

static bool is_ip_address(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

bool check_ip_or_empty(const char *value, char *why, size_t whycap)
{
    if (!value[0] || is_ip_address(value))
        return true;
    snprintf(why, whycap, "\"%s\" is not an IP address (IPv4 like 203.0.113.10 or IPv6 like 2001:db8::1)",
             value);
    return false;
}

/* The item [start, end) with blanks trimmed, copied into out; false when it does not fit. */
static bool trimmed_item(const char *start, const char *end, char *out, size_t cap)
{
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if ((size_t)(end - start) >= cap)
        return false;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return true;
}

bool check_ip_list(const char *value, char *why, size_t whycap)
{
    for (const char *p = value; *p;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        char item[INET6_ADDRSTRLEN + 8];
        bool fits = trimmed_item(p, end, item, sizeof item);
        if (!fits || (item[0] && !is_ip_address(item))) {
            snprintf(why, whycap, "\"%.*s\" is not an IP address (a comma-separated list of local IPs is "
                     "expected)", (int)(end - p > 64 ? 64 : end - p), p);
            return false;
        }
        p = comma ? comma + 1 : end;
    }
    return true;
}

/* config.h; here beside the checks that use it. */
bool config_split_host_port(const char *in, char *host, size_t hostcap, uint16_t *port, uint16_t default_port)
{
    if (!in || !in[0])
        return false;
    const char *colon = strrchr(in, ':');
    const char *host_start = in, *host_end;
    if (in[0] == '[') {
        const char *rb = strchr(in, ']');
        if (!rb)
            return false;
        host_start = in + 1;
        host_end = rb;
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (rb[1] && rb[1] != ':')
            return false;
    } else {
        if (colon && strchr(in, ':') != colon)
            colon = NULL; /* bare IPv6 without brackets: no port */
        host_end = colon ? colon : in + strlen(in);
    }
    size_t hlen = (size_t)(host_end - host_start);
    if (hlen == 0 || hlen >= hostcap)
        return false;
    memcpy(host, host_start, hlen);
    host[hlen] = '\0';
    *port = default_port;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || p < 1 || p > 65535)
            return false;
        *port = (uint16_t)p;
    }
    return true;
}

bool check_host_port_or_empty(const char *value, char *why, size_t whycap)
{
    char host[256];
    uint16_t port;
    if (!value[0] || config_split_host_port(value, host, sizeof host, &port, 3478))
        return true;
    snprintf(why, whycap, "\"%s\" is not host:port", value);
    return false;
}

bool check_payment_provider(const char *value, char *why, size_t whycap)
{
    if (strcmp(value, "none") == 0 || strcmp(value, "dev") == 0 || strcmp(value, "webhook") == 0)
        return true;
    snprintf(why, whycap, "\"%s\" is not none, dev or webhook", value);
    return false;
}

/* The directory part of path ("." when there is none), in out. */
static void parent_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    while (slash && slash > out && slash[1] == '\0') {   /* "a/b/" names a/b */
        *slash = '\0';
        slash = strrchr(out, '/');
    }
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == out)
        out[1] = '\0';
    else
        *slash = '\0';
}

/* The server creates the directory (and its parents) at start, then the database in it: so
 * either it is a directory we may write in, or its nearest existing ancestor is. */
bool check_data_dir(const char *value, char *why, size_t whycap)
{
    char path[4096];
    if (!value[0] || snprintf(path, sizeof path, "%s", value) >= (int)sizeof path) {
        snprintf(why, whycap, "\"%.64s\" is not a usable directory path", value);
        return false;
    }
    struct stat st;
    while (stat(path, &st) != 0) {
        if (errno != ENOENT || strcmp(path, ".") == 0 || strcmp(path, "/") == 0) {
            snprintf(why, whycap, "%s: %s", path, strerror(errno));
            return false;
        }
        char up[4096];
        parent_of(path, up, sizeof up);
        memcpy(path, up, strlen(up) + 1);
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, whycap, "%s is not a directory", path);
        return false;
    }
    if (access(path, W_OK | X_OK) != 0) {
        if (strcmp(path, value) == 0)
            snprintf(why, whycap, "%s is not writable by this user: %s", path, strerror(errno));
        else
            snprintf(why, whycap, "cannot create %s: %s is not writable by this user: %s", value, path,
                     strerror(errno));
        return false;
    }
    return true;
}

size_t config_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 127 || lb > 127)
        return SIZE_MAX;
    size_t row[128];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];   /* distance(a[0..i-1), b[0..j-1)) before the row is overwritten */
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}
