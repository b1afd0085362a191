/*
 * metrics: renders GET /metrics (admin port) in the Prometheus text exposition format 0.0.4:
 * build info; live sessions, handles and peers; Janus API, session, handle and peer
 * counters; RTP/RTCP/data traffic per direction and kind; RTCP feedback (NACK, PLI, FIR)
 * received and sent; ICE/DTLS failures; the ICE-lite shared sockets (datagrams, reads,
 * checks answered, refused; summed over the loops); HTTP responses per server and status;
 * the ledger (transfers, operations, invariant check) and the storage thread; the process
 * (memory, CPU, file descriptors, threads, start time).
 *
 * Contract: metrics_render may be called from any thread (the admin HTTP thread); it returns
 * a g_malloc'd NUL-terminated text the caller g_free()s, and its length in *len. Every family
 * has HELP and TYPE lines, names match [a-zA-Z_:][a-zA-Z0-9_:]*, label values are escaped.
 * It reads counters without locks; live counts take the registry's lock briefly, and the
 * ICE-lite counters each loop context's lock for a lookup (never a loop's queue: no loop
 * waits for a scrape, no loop waits on another). srv->loops must outlive the call. The ledger
 * check (a full table scan) runs at most every METRICS_LEDGER_CHECK_INTERVAL_S; scrapes in
 * between report the cached result and its time.
 */
#ifndef PARLEY_CORE_METRICS_H
#define PARLEY_CORE_METRICS_H

#include <stddef.h>

#include "core/server.h"

#define METRICS_LEDGER_CHECK_INTERVAL_S 30

char *metrics_render(server_t *srv, size_t *len);

#endif
