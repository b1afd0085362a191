/*
 * log: see log.h. One fprintf per line under a mutex-free stdio lock (stderr is unbuffered and
 * flockfile'd by glibc per call), so lines from different threads never interleave. The ring of
 * recent warnings and errors has its own mutex, a leaf lock held only for a copy.
 */
#include "util/log.h"

#include <glib.h>
#include <pthread.h>
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

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
        if (p[0] == 0xE0)
            lo = 0xA0;
        else if (p[0] == 0xED)
            hi = 0x9F;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        if (p[0] == 0xF0)
            lo = 0x90;
        else if (p[0] == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;   /* also stops at the terminating NUL */
    return n;
}

/* Escapes text for a JSON string value: quote, backslash and control characters escaped,
 * each byte that is not part of valid UTF-8 (a peer's garbage, a cut sequence) replaced by
 * U+FFFD, so every line parses. Truncates (between characters) rather than allocating. */
static void json_escape(const char *in, char *out, size_t cap)
{
    static const char replacement[] = "\\ufffd";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p;) {
        size_t n = utf8_len(p);
        char esc[8];
        const char *piece = (const char *)p;
        size_t plen = n;
        if (n == 0) {
            piece = replacement;
            plen = sizeof replacement - 1;
            n = 1;
        } else if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            piece = esc;
            plen = 2;
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            piece = esc;
            plen = 6;
        }
        if (o + plen >= cap)
            break;
        memcpy(out + o, piece, plen);
        o += plen;
        p += n;
    }
    out[o] = '\0';
}

/* ---- the ring of recent warnings and errors ----
 * Entries are copied in whole under the lock; g_recent_next counts every entry ever kept, so
 * the oldest one is at g_recent_next % CAP once the ring has wrapped. */
static pthread_mutex_t g_recent_lock = PTHREAD_MUTEX_INITIALIZER;
static log_recent_entry g_recent[LOG_RECENT_CAP];
static unsigned long long g_recent_next;

/* strncpy without its padding and always terminated; a plain loop so nothing is called out
 * while the ring's lock is held. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < cap; i++)
        dst[i] = src[i];
    dst[i] = '\0';
}

static void recent_keep(log_level level, const char *when, const char *module, const char *msg)
{
    pthread_mutex_lock(&g_recent_lock);
    log_recent_entry *e = &g_recent[g_recent_next % LOG_RECENT_CAP];
    g_recent_next++;
    copy_text(e->ts, sizeof e->ts, when);
    e->level = level;
    copy_text(e->module, sizeof e->module, module ? module : "");
    copy_text(e->msg, sizeof e->msg, msg);
    pthread_mutex_unlock(&g_recent_lock);
}

size_t log_recent_copy(log_recent_entry *out, size_t cap)
{
    pthread_mutex_lock(&g_recent_lock);
    unsigned long long end = g_recent_next;
    unsigned long long kept = end < LOG_RECENT_CAP ? end : LOG_RECENT_CAP;
    size_t n = kept < cap ? (size_t)kept : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = g_recent[(end - n + i) % LOG_RECENT_CAP];
    pthread_mutex_unlock(&g_recent_lock);
    return n;
}

void log_recent_clear(void)
{
    pthread_mutex_lock(&g_recent_lock);
    g_recent_next = 0;
    pthread_mutex_unlock(&g_recent_lock);
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

    if (level == LOG_LEVEL_ERROR || level == LOG_LEVEL_WARN)
        recent_keep(level, when, module, msg);

    if (atomic_load(&g_log_json)) {
        char esc[sizeof msg * 6], mod[64];   /* the worst case: every byte as \u00XX */
        json_escape(msg, esc, sizeof esc);
        json_escape(module ? module : "", mod, sizeof mod);
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"%s\",\"msg\":\"%s\"}\n", when,
                log_level_name(level), mod, esc);
    } else {
        fprintf(stderr, "%s %-5s [%s] %s\n", when, log_level_name(level), module, msg);
    }
}

/* ---- rate-limited lines ---- */

static long long real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static _Atomic(long long (*)(void)) g_clock = real_now_ms;

long long log_now_ms(void) { return atomic_load(&g_clock)(); }
void log_set_clock(long long (*now_ms)(void)) { atomic_store(&g_clock, now_ms ? now_ms : real_now_ms); }

bool log_ratelimit_allow(log_ratelimit *rl, unsigned *suppressed)
{
    long long now = log_now_ms();
    long long next = atomic_load(&rl->next_ms);
    /* One winner per interval: whoever moves next_ms forward writes the line. */
    long long interval = rl->interval_ms ? rl->interval_ms : LOG_RATELIMIT_INTERVAL_MS;
    if (now < next || !atomic_compare_exchange_strong(&rl->next_ms, &next, now + interval)) {
        atomic_fetch_add(&rl->suppressed, 1);
        return false;
    }
    unsigned n = atomic_exchange(&rl->suppressed, 0);
    if (suppressed)
        *suppressed = n;
    return true;
}

void log_msg_ratelimited(log_ratelimit *rl, log_level level, const char *module, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    unsigned dropped = 0;
    if (!log_ratelimit_allow(rl, &dropped))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (dropped)
        log_msg(level, module, "%s (%u similar messages suppressed)", msg, dropped);
    else
        log_msg(level, module, "%s", msg);
}

static GLogWriterOutput glib_writer(GLogLevelFlags flags, const GLogField *fields, gsize n, gpointer user)
{
    (void)user;
    log_level level = LOG_LEVEL_TRACE;
    if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        level = LOG_LEVEL_ERROR;
    else if (flags & G_LOG_LEVEL_WARNING)
        level = LOG_LEVEL_WARN;
    else if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
        level = LOG_LEVEL_INFO;
    if (!log_enabled(level))
        return G_LOG_WRITER_HANDLED;
    const char *domain = "glib";
    char message[2048] = "";
    for (gsize i = 0; i < n; i++) {
        if (strcmp(fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].value)
            domain = fields[i].value;
        else if (strcmp(fields[i].key, "MESSAGE") == 0 && fields[i].value) {
            size_t len = fields[i].length < 0 ? strlen(fields[i].value) : (size_t)fields[i].length;
            len = len < sizeof message - 1 ? len : sizeof message - 1;
            memcpy(message, fields[i].value, len);
            message[len] = '\0';
        }
    }
    log_msg(level, domain, "%s", message);
    return G_LOG_WRITER_HANDLED;
}

void log_route_glib(void)
{
    static atomic_bool routed = false;
    if (!atomic_exchange(&routed, true))
        g_log_set_writer_func(glib_writer, NULL, NULL);
}
