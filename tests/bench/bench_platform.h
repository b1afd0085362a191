/*
 * bench_platform: what the in-process platform benchmarks (billing_bench, chat_store_bench)
 * share: a REST handler called as the router would call it.
 */
#ifndef PARLEY_BENCH_BENCH_PLATFORM_H
#define PARLEY_BENCH_BENCH_PLATFORM_H

#include <jansson.h>
#include <stdint.h>

#include "api/internal.h"

/* POSTs body (JSON) to fn as user uid with role (uid 0: no auth), the auth already checked.
 * Returns the HTTP status; the response body into *out when out is not NULL (the caller's to
 * json_decref; NULL without one). */
int bench_handler(platform_t *p, api_handler fn, const char *body, uint64_t uid, const char *role, json_t **out);

#endif
