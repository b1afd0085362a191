/*
 * cursor: the opaque pagination cursors of GET /hosts (sans-IO).
 *
 * A cursor is base64url of "n.<id>" (sort=newest: ids below it come next) or
 * "r.<rate>.<id>" (sort=rate: (rate, id) pairs above it come next). Decoding is strict:
 * canonical decimal only (no sign, no leading zeros, no spaces), id > 0, rate >= 0, both
 * within int64, and the cursor must belong to the requested sort.
 *
 * Threads: any; no state. Errors: -1 (malformed or of the other sort), 0 on success.
 */
#ifndef PARLEY_API_CURSOR_H
#define PARLEY_API_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CURSOR_MAX 64

int cursor_encode(bool by_rate, int64_t rate, int64_t id, char *out, size_t cap);
int cursor_decode(const char *cursor, bool by_rate, int64_t *rate, int64_t *id);

#endif
