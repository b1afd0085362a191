/*
 * http_stats: responses sent by the HTTP servers, counted per server name and exact status
 * code, for /metrics. Process-wide (the counts outlive a server's stop, so a restarted server
 * of the same name keeps counting, as a Prometheus counter should).
 *
 * Contract:
 *  - http_stats_slot_for: any thread; returns the slot of that server name (claimed on first
 *    use; at most HTTP_STATS_SERVERS names, NULL beyond). Slots live until the process ends.
 *  - http_stats_count: any thread, lock-free (one relaxed atomic add). slot may be NULL.
 *  - http_stats_snapshot: any thread; copies up to cap (server, status, count) entries: every
 *    code in HTTP_STATS_ALWAYS for each slot (zero included, so a series exists before its
 *    first increment), plus any other code with a non-zero count. Returns the number of
 *    entries there are (may exceed cap: only cap are stored).
 * Responses that libmicrohttpd sends on its own (malformed request lines, headers over its
 * memory limit) never reach us and are not counted; nor are WebSocket upgrades (ws.c).
 */
#ifndef PARLEY_TRANSPORT_HTTP_STATS_H
#define PARLEY_TRANSPORT_HTTP_STATS_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_STATS_SERVERS 8
#define HTTP_STATS_ALWAYS {200, 201, 204, 400, 401, 403, 404, 409, 413, 422, 429, 500, 503}

typedef struct http_stats_slot http_stats_slot;

typedef struct http_status_count {
    const char *server;   /* the server's name ("http", "admin"); static storage */
    unsigned status;      /* 100..599 */
    uint64_t count;
} http_status_count;

http_stats_slot *http_stats_slot_for(const char *server_name);
void http_stats_count(http_stats_slot *slot, unsigned status);
size_t http_stats_snapshot(http_status_count *out, size_t cap);

#endif
