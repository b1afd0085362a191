/*
 * log: see log.h. One fprintf per line under a mutex-free stdio lock (stderr is unbuffered and
 * flockfile'd by glibc per call), so lines from different threads never interleave.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int g_log_level = LOG_LEVEL_INFO;
static atomic_bool g_log_json = false;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void log_set_level(log_level level) { atomic_store(&g_log_level, (int)level); }
log_level log_get_level(void) { return (log_level)atomic_load(&g_log_level); }
void log_set_json(bool json) { atomic_store(&g_log_json, json); }
bool log_enabled(log_level level) { return (int)level <= atomic_load_explicit(&g_log_level, memory_order_relaxed); }

const char *log_level_name(log_level level)
{
    if (level == LOG_LEVEL_NOTICE)
        return "notice";
    if ((int)level < 0 || (int)level > LOG_LEVEL_TRACE)
        return "unknown";
    return level_names[level];
}

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_LEVEL_TRACE; i++)
        if (name && strcmp(name, level_names[i]) == 0)
            return i;
    if (name && strcmp(name, "warning") == 0)
        return LOG_LEVEL_WARN;
    return -1;
}

/* Escapes a message for a JSON string value; truncates rather than allocating. */
static void json_escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 7 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
}

void log_msg(log_level level, const char *module, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);

    if (atomic_load(&g_log_json)) {
        char esc[4096];
        json_escape(msg, esc, sizeof esc);
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"%s\",\"msg\":\"%s\"}\n", when,
                log_level_name(level), module, esc);
    } else {
        fprintf(stderr, "%s %-5s [%s] %s\n", when, log_level_name(level), module, msg);
    }
}
