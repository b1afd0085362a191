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

/* Sends GLib's log messages (GLib itself, libnice) through log_msg, so they follow the level
 * and the format (one JSON object per line included) instead of GLib's own text on stderr.
 * The GLib domain becomes the module; GLib debug maps to trace. Main thread, once at start
 * (later calls do nothing). */
void log_route_glib(void);

#define LOG_NOTICE(mod, ...) log_msg(LOG_LEVEL_NOTICE, mod, __VA_ARGS__)
#define LOG_ERROR(mod, ...) log_msg(LOG_LEVEL_ERROR, mod, __VA_ARGS__)
#define LOG_WARN(mod, ...)  log_msg(LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define LOG_INFO(mod, ...)  do { if (log_enabled(LOG_LEVEL_INFO)) log_msg(LOG_LEVEL_INFO, mod, __VA_ARGS__); } while (0)
#define LOG_DEBUG(mod, ...) do { if (log_enabled(LOG_LEVEL_DEBUG)) log_msg(LOG_LEVEL_DEBUG, mod, __VA_ARGS__); } while (0)
#define LOG_TRACE(mod, ...) do { if (log_enabled(LOG_LEVEL_TRACE)) log_msg(LOG_LEVEL_TRACE, mod, __VA_ARGS__); } while (0)

#endif
