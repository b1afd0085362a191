/*
 * log: structured, levelled logging for the whole server.
 *
 * Contract:
 *  - log_msg() may be called from any thread; each call writes one line atomically to stderr.
 *  - Format is either text ("2026-11-25T14:00:00.123Z WARN [module] message") or one JSON
 *    object per line ({"ts":..,"level":..,"module":..,"msg":..}) when log_set_json(true).
 *  - The level can change at run time (admin API); the check is one relaxed atomic load, so
 *    LOG_DEBUG in a warm path costs a branch. Never log per packet on the media path anyway.
 *  - Never pass secrets (passwords, tokens, keys) to the logger.
 */
#ifndef PARLEY_UTIL_LOG_H
#define PARLEY_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum log_level {
    LOG_LEVEL_NOTICE = -1, /* always written, whatever the level: start-up and shutdown lines */
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
    LOG_LEVEL_TRACE = 4,
} log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
void log_set_json(bool json);
/* Parses "error", "warn", "info", "debug", "trace"; returns -1 when unknown. */
int log_level_parse(const char *name);
const char *log_level_name(log_level level);
bool log_enabled(log_level level);

void log_msg(log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- recent warnings and errors (the admin console's GET /admin/log/recent) ----
 *
 * log_msg also keeps the last LOG_RECENT_CAP lines it writes at error or warn level (not
 * notice, not what the level filtered out, not rate-limited lines that were dropped) in a
 * fixed ring, overwriting the oldest: an operator sees what went wrong without shell access,
 * and the memory is bounded whatever the rate. Messages longer than LOG_RECENT_MSG_MAX - 1
 * bytes are cut (between bytes: a cut UTF-8 sequence is the reader's to replace).
 *
 * Threads: any. A mutex guards the ring and is held only to copy an entry in or the entries
 * out; nothing else runs under it (no allocation, no I/O, no logging). */
#define LOG_RECENT_CAP 200
#define LOG_RECENT_MSG_MAX 512

typedef struct log_recent_entry {
    char ts[32];                   /* "2026-11-25T14:00:00.123Z", as in the line written */
    log_level level;               /* LOG_LEVEL_ERROR or LOG_LEVEL_WARN */
    char module[32];
    char msg[LOG_RECENT_MSG_MAX];
} log_recent_entry;

/* Copies up to cap of the kept entries into out (caller-owned), oldest first (when there are
 * more than cap, the newest cap of them); returns how many were copied. */
size_t log_recent_copy(log_recent_entry *out, size_t cap);
/* Empties the ring (tests). */
void log_recent_clear(void);

/* Sends GLib's log messages (GLib itself, libnice) through log_msg, so they follow the level
 * and the format (one JSON object per line included) instead of GLib's own text on stderr.
 * The GLib domain becomes the module; GLib debug maps to trace. Main thread, once at start
 * (later calls do nothing). */
void log_route_glib(void);

/* ---- rate-limited lines ----
 *
 * A warning an outsider can trigger at will (refused connections, aborted requests) must not
 * flood the log. A log_ratelimit is the state of one "key" (one call site, or one reason):
 * at most one line per interval_ms is written; the lines that were not are counted, and the
 * next line written carries "(N similar messages suppressed)". The count is reported with the
 * next line, not on a timer (a burst that ends is summed up by the next occurrence).
 * Lock-free (atomics), any thread; a message suppressed while the level disables it is not
 * counted. Declare it static (LOG_RATELIMIT_INIT) or let LOG_WARN_RATELIMITED make one per
 * call site. */
typedef struct log_ratelimit {
    _Atomic long long next_ms;     /* earliest time (log_now_ms) the next line may go out */
    _Atomic unsigned suppressed;   /* lines dropped since the last one written */
    unsigned interval_ms;          /* 0 = LOG_RATELIMIT_INTERVAL_MS (a zeroed one is ready) */
} log_ratelimit;

#define LOG_RATELIMIT_INIT(interval_ms) {0, 0, (interval_ms)}
#define LOG_RATELIMIT_INTERVAL_MS 1000

/* The clock the limiter reads: CLOCK_MONOTONIC in milliseconds, unless a test installed its
 * own with log_set_clock (NULL restores the real one). */
long long log_now_ms(void);
void log_set_clock(long long (*now_ms)(void));

/* True when a line may be written now (then *suppressed, if not NULL, gets the number of lines
 * dropped since the previous one and the count restarts); false when it is to be dropped
 * (and is counted). */
bool log_ratelimit_allow(log_ratelimit *rl, unsigned *suppressed);

/* log_msg through the limiter rl. */
void log_msg_ratelimited(log_ratelimit *rl, log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* One limiter per call site, one line per second at most. */
#define LOG_WARN_RATELIMITED(mod, ...) do { \
        static log_ratelimit log_rl_ = LOG_RATELIMIT_INIT(LOG_RATELIMIT_INTERVAL_MS); \
        log_msg_ratelimited(&log_rl_, LOG_LEVEL_WARN, mod, __VA_ARGS__); \
    } while (0)

#define LOG_NOTICE(mod, ...) log_msg(LOG_LEVEL_NOTICE, mod, __VA_ARGS__)
#define LOG_ERROR(mod, ...) log_msg(LOG_LEVEL_ERROR, mod, __VA_ARGS__)
#define LOG_WARN(mod, ...)  log_msg(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define LOG_INFO(mod, ...)  do { if (log_enabled(LOG_LEVEL_INFO)) log_msg(LOG_LEVEL_INFO, mod, __VA_ARGS__); } while (0)
#define LOG_DEBUG(mod, ...) do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, mod, __VA_ARGS__); } while (0)
#define LOG_TRACE(mod, ...) do { if (log_enabled(LOG_LEVEL_TRACE)) log_msg(LOG_LEVEL_TRACE, mod, __VA_ARGS__); } while (0)

#endif
