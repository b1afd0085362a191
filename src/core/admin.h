/*
 * admin: the admin port's routes that belong to the core — /admin/sessions (live Janus
 * sessions and handles), /admin/log_level (GET/POST, changes the level at run time) and
 * /metrics (Prometheus text format), /admin/log/recent (the logger's recent warnings and
 * errors), the read-only operator console (/admin/ and /admin/console/<file>, static files
 * from <general.web_root>/admin) — and the dispatch of the rest of /admin/ to the platform
 * (ledger check, revenue). Every route, the console included, passes the Host and Origin
 * checks first. Runs on the admin HTTP server's threads.
 */
#ifndef PARLEY_CORE_ADMIN_H
#define PARLEY_CORE_ADMIN_H

#include "core/server.h"
#include "transport/http.h"

void admin_handle_http(void *srv, const http_request *req, http_reply *reply);

#endif
